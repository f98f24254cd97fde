import type { Tensor } from '../tensor.ts';

export const shapeStr = (t: Tensor): string => `[${t.shape.join(', ')}]`;

/** Every given tensor is a float tensor of one dtype. */
export function expectFloat(op: string, ...ts: (Tensor | null | undefined)[]): void {
  let dtype: string | null = null;
  for (const t of ts) {
    if (!t) continue;
    if (t.dtype === 'int32') throw new Error(`${op}: expected a float tensor, got int32 ${shapeStr(t)}`);
    if (dtype && t.dtype !== dtype) throw new Error(`${op}: mixed dtypes ${dtype} and ${t.dtype}`);
    dtype = t.dtype;
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
