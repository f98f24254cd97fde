/** A least-recently-used map bounded by total bytes (Map keeps insertion order; re-inserting marks use). */
export class ByteLru<V extends { byteLength: number }> {
  private map = new Map<string, V>();
  private bytes = 0;
  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.map.size;
  }
  get usedBytes(): number {
    return this.bytes;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: V): void {
    if (value.byteLength > this.maxBytes) return;
    const old = this.map.get(key);
    if (old !== undefined) {
      this.bytes -= old.byteLength;
      this.map.delete(key);
    }
    this.map.set(key, value);
    this.bytes += value.byteLength;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.byteLength;
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
