import type { Backend } from '../backend.ts';
import { tsBackend } from './ts.ts';
import { loadNativeBackend } from './native.ts';

let current: Backend | null = null;
let nativeCache: Backend | null | undefined;

/** The native backend, or null (with the reason) when the addon is not built or fails to load. */
export function nativeBackend(): Backend | null {
  if (nativeCache === undefined) {
    try {
      nativeCache = loadNativeBackend();
    } catch (e) {
      nativeLoadError = (e as Error).message;
      nativeCache = null;
    }
  }
  return nativeCache ?? null;
}
export let nativeLoadError = '';

/**
 * The backend in use, chosen once: NANOVLM_BACKEND=ts|native (default native), falling back to ts
 * with a one-line warning when the native addon is missing.
 */
export function backend(): Backend {
  if (current) return current;
  const wanted = process.env.NANOVLM_BACKEND ?? 'native';
  if (wanted !== 'ts' && wanted !== 'native') {
    throw new Error(`NANOVLM_BACKEND must be "ts" or "native", got "${wanted}"`);
  }
  if (wanted === 'native') {
    const native = nativeBackend();
    if (native) return (current = native);
    console.warn(`nanovlm: native backend unavailable (${nativeLoadError}); using the TypeScript backend`);
  }
  return (current = tsBackend);
}

/** Switches the backend (tests run every op on both). */
export function setBackend(b: Backend | 'ts' | 'native'): Backend {
  if (b === 'ts') current = tsBackend;
  else if (b === 'native') {
    const native = nativeBackend();
    if (!native) throw new Error(`native backend unavailable: ${nativeLoadError}`);
    current = native;
  } else current = b;
  return current;
}

/** Runs `fn` with a backend, restoring the previous one after. */
export function withBackend<T>(b: Backend | 'ts' | 'native', fn: () => T): T {
  const prev = current;
  setBackend(b);
  try {
    return fn();
  } finally {
    current = prev;
  }
}
