/** Helpers for the tests of the native kernels: the addon's settings for one call, and the error measure. */
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../../src/tensor/backends/native.ts';

const addon = loadNativeAddon();

function withSetting<V, T>(get: () => V, set: (v: V) => unknown, value: V, fn: () => T): T {
  const before = get();
  set(value);
  try {
    return fn();
  } finally {
    set(before);
  }
}

/** Runs fn on n threads of the native pool, then restores the count. */
export const withThreads = <T>(n: number, fn: () => T): T =>
  withSetting(addon.threads, addon.setThreads, n, fn);
/** Runs fn with a GEMM micro-kernel forced ('avx512' | 'avx2' | 'generic'). */
export const withIsa = <T>(isa: string, fn: () => T): T => withSetting(addon.isa, addon.setIsa, isa, fn);
/** Runs fn with a bf16 engine forced ('amx' | 'avx512bf16' | 'off'). */
export const withBf16Engine = <T>(engine: string, fn: () => T): T =>
  withSetting(addon.bf16, addon.setBf16, engine, fn);

/** The micro-kernels this CPU can run, best first. */
const ALL_ISAS = ['avx512', 'avx2', 'generic'];
export const ISAS = ALL_ISAS.slice(ALL_ISAS.indexOf(addon.supportedIsa()));

/** A buffer of NaN: an element a kernel forgot to write shows up. */
export const poison = (n: number): Float32Array => new Float32Array(n).fill(NaN);

/** max_i |a_i - b_i| / max(1, max_i |b_i|): absolute below 1, relative to the largest magnitude above. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let diff = 0;
  let mag = 1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : d;
    mag = Math.max(mag, Math.abs(b[i]!));
  }
  return diff / mag;
}

/** Fails on an unwritten (NaN) element of `actual`, or a relErr above tol. */
export function assertClose(
  label: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol = 1e-5,
): void {
  assert.equal(actual.length, expected.length, `${label}: lengths differ`);
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(actual[i]!)) assert.fail(`${label}: element ${i} was not written (NaN)`);
  }
  const e = relErr(actual, expected);
  assert.ok(e <= tol, `${label}: relative error ${e.toExponential(2)} > ${tol}`);
}
