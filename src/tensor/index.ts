/** The public surface of the tensor engine: `import { Tensor, ops, noGrad } from '../tensor/index.ts'`. */
export {
  Tensor,
  noGrad,
  isGradEnabled,
  backward,
  gradOf,
  record,
  sizeOf,
  withStepScope,
  keep,
  retainGrad,
} from './tensor.ts';
export { bufferPool, type PoolStats } from './pool.ts';
export type { DType, TensorData, GradNode } from './tensor.ts';
export type { Backend, F } from './backend.ts';
export { backend, setBackend, withBackend, nativeBackend } from './backends/index.ts';
export { tsBackend } from './backends/ts.ts';
export * as ops from './ops/index.ts';
export * from './ops/index.ts';
