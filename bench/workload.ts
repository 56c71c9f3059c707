// What the bench sends: 32-byte keys over a key space, 256-byte values, and an
// operation mix, drawn from a seeded generator so that two runs (ours and etcd's)
// send the same sequence.

export type Op = 'put' | 'get' | 'delete';
export const OPS: readonly Op[] = ['put', 'get', 'delete'];

export const keyBytes = 32;
export const valueBytes = 256;

/** Percentages of PUT, GET and DELETE; they add up to 100. */
export interface OpMix {
  readonly put: number;
  readonly get: number;
  readonly delete: number;
}

export const defaultMix: OpMix = { put: 50, get: 45, delete: 5 };

/** Parses "50/45/5" (PUT/GET/DELETE percentages), or says why it is not one. */
export function parseMix(text: string): OpMix | string {
  const parts = text.split('/');
  if (parts.length !== 3 || !parts.every((p) => /^\d{1,3}$/.test(p))) return `--mix is PUT/GET/DELETE percentages, like 50/45/5; got ${JSON.stringify(text)}`;
  const [put, get, del] = parts.map(Number) as [number, number, number];
  if (put + get + del !== 100) return `--mix percentages must add up to 100; ${text} adds up to ${put + get + del}`;
  return { put, get, delete: del };
}

/** xorshift32: cheap, seeded, good enough to pick keys and operations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.next() % n;
  }
}

/**
 * Key `i` of the key space: "bench-" + the index in zero-padded hex, padded to 32
 * bytes. Printable, so the same key is the same path on REST and the same bytes on gRPC.
 */
export function keyOf(i: number): string {
  return `bench-${i.toString(16).padStart(8, '0')}`.padEnd(keyBytes, 'k');
}

/** The keys and the one value every PUT sends, prepared once (nothing is built per request). */
export class Workload {
  readonly keys: readonly string[];
  readonly keyBuffers: readonly Buffer[];
  readonly value: Buffer;
  private readonly rng: Rng;

  constructor(
    readonly keySpace: number,
    readonly mix: OpMix,
    seed: number,
  ) {
    this.keys = Array.from({ length: keySpace }, (_, i) => keyOf(i));
    this.keyBuffers = this.keys.map((k) => Buffer.from(k, 'latin1'));
    this.value = Buffer.alloc(valueBytes, 'v');
    this.rng = new Rng(seed);
  }

  /** The next operation and the index of its key. */
  next(): { op: Op; key: number } {
    const r = this.rng.below(100);
    const op: Op = r < this.mix.put ? 'put' : r < this.mix.put + this.mix.get ? 'get' : 'delete';
    return { op, key: this.rng.below(this.keySpace) };
  }
}
