/** The public surface of the tensor engine: `import { Tensor, ops, noGrad } from '../tensor/index.ts'`. */
export { Tensor, noGrad, isGradEnabled, backward, gradOf, record, sizeOf } from './tensor.ts';
export type { DType, TensorData, GradNode } from './tensor.ts';
export type { Backend, F } from './backend.ts';
export { backend, setBackend, withBackend, nativeBackend } from './backends/index.ts';
export { tsBackend } from './backends/ts.ts';
export * as ops from './ops/index.ts';
export * from './ops/index.ts';
