export { Module, ModuleList, Parameter } from './module.ts';
export { Linear, linearInto } from './linear.ts';
export { LayerNorm } from './layernorm.ts';
export { Embedding } from './embedding.ts';
export { Conv2d, type Conv2dOptions } from './conv2d.ts';
export { Dropout } from './dropout.ts';
export { MultiHeadAttention, type AttentionOptions } from './attention.ts';
export { MLP } from './mlp.ts';
export { Block, type BlockOptions } from './block.ts';
export { KVCache, DecoderScratch, type DecodeStep } from './kv-cache.ts';
export { initWeights, isResidualProjection, type InitOptions } from './init.ts';
export { seedDropout, nextDropoutSeed, getDropoutState, setDropoutState } from './random.ts';
export { AdamW, decayMatricesOnly, type AdamWOptions, type ParamGroup } from './optim.ts';
export { clipGradNorm } from './clip.ts';
export {
  readSafetensors,
  writeSafetensors,
  encodeSafetensors,
  MAX_HEADER_BYTES,
  type SafetensorsFile,
  type SafetensorsEntry,
} from './safetensors.ts';
