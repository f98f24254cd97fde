/**
 * The kernel interface both backends implement: `Backend` is the TypeScript reference's kernel object
 * (`tsKernels`, src/tensor/backends/ts.ts, where each kernel's contract is documented) plus the backend's
 * name and thread count. Adding a kernel touches two places: its reference in ts.ts and its C file in
 * native/ (with its NV_KERNEL wrapper); the native backend is built from the addon's registry
 * (docs/design.md, "Adding a kernel").
 *
 * Kernels work on flat row-major buffers with explicit sizes; they never allocate on the hot path
 * (callers pass every output buffer). Conventions:
 * - `F` is Float32Array (native) or Float32Array | Float64Array (ts reference, used in float64 for
 *   gradient checks). A kernel reads and writes buffers of one float type.
 * - Forward kernels OVERWRITE their outputs (every element is written, even where masked).
 * - Backward kernels accumulate into gradient buffers (`dx += ...`), like llm.c, so a tensor used
 *   twice just receives two contributions. The one exception is `conv2dBackward` with `accumulateDx`
 *   false, which overwrites dx. (Products that make a first gradient use `gemm` with beta = 0.)
 * - The kernels with many sizes (gemm, attention, conv2d) take them as one descriptor object
 *   (src/tensor/descriptors.ts), named fields instead of a dozen positional numbers.
 * - Subarrays are fine: a buffer may be a view at an offset into a larger one.
 */
import type { tsKernels } from './backends/ts.ts';

export type { AttentionDesc, AttentionLayout, ConvDesc, F, GemmDesc } from './descriptors.ts';

/** Every kernel, by name, with the reference's signature. */
export type Kernels = typeof tsKernels;
export type KernelName = keyof Kernels;

export interface Backend extends Kernels {
  readonly name: 'ts' | 'native';
  /** Threads the backend computes with (1 for ts). */
  readonly threads: number;
}
