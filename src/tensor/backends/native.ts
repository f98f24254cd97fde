/**
 * The native backend: the C kernels in native/ (built by node-gyp into build/Release/nanovlm.node at
 * `npm install`). Each C kernel file registers its kernels (NV_KERNEL, native/binding.h); the addon exports
 * them with their names in `kernels`, and this file builds the Backend from that list. The addon's
 * functions use the typed arrays in place, so a kernel call is one N-API call (behind, for the descriptor
 * kernels, a JS function that spreads the descriptor). Float32 only: a Float64Array argument throws
 * (gradient checks in float64 use the ts backend).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttentionLayout, Backend, ConvDesc, KernelName, Kernels } from '../backend.ts';
import { tsKernels } from './ts.ts';
/** The addon's own form of each kernel: the Backend's, or its descriptor spread into positional numbers. */
type AddonKernel = (...args: never[]) => unknown;

/** What the addon exports: the kernels plus controls for the thread pool and the GEMM micro-kernel. */
export interface NativeAddon {
  /** The names of the kernels the C files register (NV_KERNEL), in link order. */
  readonly kernels: readonly string[];
  /**
   * Threads of the pool: NANOVLM_THREADS, else the CPUs this process may use. That variable is the one way
   * a run sets them (the CLI's --threads sets it before the addon loads).
   */
  threads(): number;
  /** Resizes the pool in a running process (tests and benchmarks compare thread counts); returns the count. */
  setThreads(n: number): number;
  /** GEMM micro-kernel in use: 'avx512' | 'avx2' | 'generic'. */
  isa(): string;
  /** The best micro-kernel this CPU supports. */
  supportedIsa(): string;
  /** Forces a micro-kernel (clamped to what the CPU supports); returns the one in use. */
  setIsa(name: string): string;
  /** The bf16 product engine in use: 'amx' | 'avx512bf16' | 'off' (then bf16 products run in fp32). */
  bf16(): string;
  /** The best bf16 engine this CPU has. */
  supportedBf16(): string;
  /** Forces a bf16 engine (clamped to the CPU when used; 'off' always wins); returns the one in use. */
  setBf16(name: string): string;
  [kernel: string]: unknown;
}

/** AttentionLayout and ConvDesc fields in the order the C wrappers read them. */
const attentionLayout = (d: AttentionLayout) =>
  [d.batch, d.heads, d.tq, d.tk, d.headDim, d.qStride, d.kvStride, d.kvBatchStride, d.outStride] as const;
const convSizes = (d: ConvDesc) => [d.n, d.c, d.h, d.w, d.o, d.kh, d.kw, d.stride, d.pad] as const;

/**
 * The kernels that take a descriptor in TypeScript and positional sizes in C: the descriptor's fields
 * in the order its wrapper (NV_KERNEL in native/*.c) reads them. Every other kernel is the addon's function itself.
 */
const descriptorKernels: Partial<{ [K in KernelName]: (raw: any) => Kernels[K] }> = {
  gemm: (raw) => (d, a, b, c) =>
    raw(
      d.transA ?? false,
      d.transB ?? false,
      d.m,
      d.n,
      d.k,
      d.alpha ?? 1,
      a,
      b,
      d.beta ?? 0,
      c,
      d.batch ?? 1,
      d.strideA ?? 0,
      d.strideB ?? 0,
      d.strideC ?? 0,
      d.bf16 ?? false,
    ),
  attention: (raw) => (d, q, k, v, out, probs) =>
    raw(q, k, v, out, probs, ...attentionLayout(d), d.causal, d.keyMask),
  attentionBackward: (raw) => (d, dout, q, k, v, probs, dq, dk, dv) =>
    raw(dout, q, k, v, probs, dq, dk, dv, ...attentionLayout(d)),
  conv2d: (raw) => (d, x, weight, bias, y) => raw(x, weight, bias, y, ...convSizes(d), d.bf16 ?? false),
  conv2dBackward: (raw) => (d, x, weight, dy, dx, dweight, dbias, accumulateDx) =>
    raw(x, weight, dy, dx, dweight, dbias, ...convSizes(d), accumulateDx, d.bf16 ?? false),
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const NATIVE_ADDON_PATH = path.join(root, 'build', 'Release', 'nanovlm.node');

let addon: NativeAddon | null = null;
let backend: Backend | null = null;

/** Loads the addon (once). Throws a clear Error when it is not built. */
export function loadNativeAddon(): NativeAddon {
  if (addon) return addon;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    throw new Error(
      `the native addon is not built (${path.relative(process.cwd(), NATIVE_ADDON_PATH) || NATIVE_ADDON_PATH} ` +
        'is missing); build it with `npm install` or `node tools/build-native.mjs` (needs a C compiler)',
    );
  }
  const require = createRequire(import.meta.url);
  addon = require(NATIVE_ADDON_PATH) as NativeAddon;
  return addon;
}

/** The Backend kernel names: the ts reference's (which implements every one). */
export function backendKernelNames(): KernelName[] {
  return Object.keys(tsKernels) as KernelName[];
}

/**
 * The native Backend, built from the addon's kernel registry. A Backend kernel the addon lacks means a
 * stale build, said as such.
 */
export function loadNativeBackend(): Backend {
  if (backend) return backend;
  const a = loadNativeAddon();
  const exported = new Set(a.kernels);
  const missing = backendKernelNames().filter((k) => !exported.has(k));
  if (missing.length > 0) {
    throw new Error(
      `the native addon lacks kernels ${missing.join(', ')} (a stale build: run \`node tools/build-native.mjs\`)`,
    );
  }
  const kernels: Record<string, unknown> = {};
  for (const name of a.kernels as KernelName[]) {
    const raw = a[name] as AddonKernel;
    kernels[name] = descriptorKernels[name]?.(raw) ?? raw;
  }
  backend = {
    name: 'native',
    get threads() {
      return a.threads();
    },
    ...(kernels as unknown as Kernels),
  };
  return backend;
}
