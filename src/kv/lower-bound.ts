/** The first position in sorted[lo..hi) whose element is >= value (hi if there is none). */
export function lowerBound<T extends string | number>(sorted: readonly T[], value: T, lo = 0, hi = sorted.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
