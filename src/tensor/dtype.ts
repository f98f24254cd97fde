/** Element types of tensors and the flat buffers that hold them. */
export type DType = 'float32' | 'float64' | 'int32';
export type TensorData = Float32Array | Float64Array | Int32Array;
