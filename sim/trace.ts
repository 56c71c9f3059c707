/**
 * The run's trace: a running 64-bit hash (two FNV-1a lanes) of every event, and a
 * ring of the most recent event lines to print when an invariant fails. Only
 * simulated time and canonical renderings go in, so the same seed gives the same
 * hash, byte for byte.
 */
export class Trace {
  private h1 = 0x811c9dc5;
  private h2 = 0xcbf29ce4;
  private readonly ring: string[];
  private next = 0;
  events = 0;

  constructor(private readonly capacity: number) {
    this.ring = new Array<string>(capacity);
  }

  record(timeMs: number, line: string): void {
    this.events++;
    const s = `${timeMs} ${line}`;
    let a = this.h1;
    let b = this.h2;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x000001b3);
    }
    this.h1 = Math.imul(a ^ 10, 0x01000193) >>> 0;
    this.h2 = Math.imul(b ^ 10, 0x000001b3) >>> 0;
    this.ring[this.next % this.capacity] = s;
    this.next++;
  }

  hash(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }

  recent(): string[] {
    const out: string[] = [];
    const start = Math.max(0, this.next - this.capacity);
    for (let i = start; i < this.next; i++) out.push(this.ring[i % this.capacity]!);
    return out;
  }
}
