/**
 * Values by two keys, each made once: a hot path looks its metric series up by the
 * strings it already holds (label values), without building a key string per call
 * (a new string is hashed anew on every lookup).
 */
export class Table<A, B, V> {
  private readonly rows = new Map<A, Map<B, V>>();

  constructor(private readonly make: (a: A, b: B) => V) {}

  get(a: A, b: B): V {
    let row = this.rows.get(a);
    if (row === undefined) {
      row = new Map();
      this.rows.set(a, row);
    }
    let v = row.get(b);
    if (v === undefined) {
      v = this.make(a, b);
      row.set(b, v);
    }
    return v;
  }
}
