/**
 * The precision of the matrix products (mixed precision as GPUs train): with 'bf16' the products of the
 * forward and backward passes through `linear`, `matmul` and `conv2d` round their inputs to bf16 and sum in fp32
 * (GemmDesc.bf16); weights, gradients, optimizer state, LayerNorm, softmax and the loss stay fp32.
 * The convolutions (ConvDesc.bf16) too; attention's own products stay fp32 in this version.
 *
 * 'auto' is bf16 where the native backend has a bf16 engine (AVX512-BF16 or AMX), fp32 elsewhere. 'bf16'
 * asked on a CPU without one runs fp32, and `precisionInfo().note` says so.
 */
import { backend } from './backends/index.ts';
import { loadNativeAddon } from './backends/native.ts';

export type PrecisionChoice = 'fp32' | 'bf16' | 'auto';
export const PRECISION_CHOICES: readonly PrecisionChoice[] = ['fp32', 'bf16', 'auto'];

export interface PrecisionInfo {
  /** What the products compute in. */
  precision: 'fp32' | 'bf16';
  /** What was asked. */
  asked: PrecisionChoice;
  /** The engine of bf16 products: 'amx' | 'avx512bf16' | 'reference' (ts backend) | 'none'. */
  engine: string;
  /** One line for a summary: "bf16 (avx512bf16)", "fp32", "fp32 (bf16 asked: ...)". */
  note: string;
}

let bf16Products = false;
let info: PrecisionInfo = { precision: 'fp32', asked: 'fp32', engine: 'none', note: 'fp32' };

/** The bf16 engine of the backend in use, or 'none'. */
function bf16Engine(): string {
  if (backend().name === 'ts') return 'reference';
  const engine = loadNativeAddon().bf16();
  return engine === 'off' ? 'none' : engine;
}

/** True when the products run in bf16 (read by the ops on every call). */
export const productsInBf16 = (): boolean => bf16Products;

export function precisionInfo(): PrecisionInfo {
  return info;
}

/** Sets the precision of the products for everything computed after it; returns what is in force. */
export function setPrecision(asked: PrecisionChoice): PrecisionInfo {
  if (!PRECISION_CHOICES.includes(asked)) {
    throw new Error(`precision must be one of ${PRECISION_CHOICES.join(', ')}, got "${asked}"`);
  }
  const engine = asked === 'fp32' ? 'none' : bf16Engine();
  // The ts backend's bf16 is its reference rounding (slow): used when asked, never chosen by 'auto'.
  const bf16 =
    asked === 'bf16' ? engine !== 'none' : asked === 'auto' && engine !== 'none' && engine !== 'reference';
  let note = bf16 ? `bf16 (${engine})` : 'fp32';
  if (asked === 'bf16' && !bf16) {
    note =
      'fp32 (bf16 asked, but this CPU has no bf16 engine or NANOVLM_BF16=off / NANOVLM_ISA is below avx512)';
  } else if (asked === 'auto' && !bf16) note = 'fp32 (auto: no bf16 engine here)';
  bf16Products = bf16;
  info = { precision: bf16 ? 'bf16' : 'fp32', asked, engine, note };
  return info;
}

/** Runs fn with a precision, restoring the previous one after. */
export function withPrecision<T>(asked: PrecisionChoice, fn: () => T): T {
  const before = info.asked;
  setPrecision(asked);
  try {
    return fn();
  } finally {
    setPrecision(before);
  }
}
