export {
  presetConfig,
  configFor,
  validateConfig,
  countParams,
  countFlops,
  isPresetName,
  PRESET_NAMES,
  imageTokenCount,
  decoderPositions,
  visionTokens,
  numPatches,
  type ModelConfig,
  type PresetName,
  type ImageTokens,
  type ParamCounts,
  type FlopCounts,
} from './config.ts';
export {
  NanoVLM,
  createModel,
  textTargets,
  IGNORE_INDEX,
  type ForwardOptions,
  type ForwardResult,
} from './nanovlm.ts';
export { VisionEncoder, PatchEmbedding } from './vision.ts';
export { Connector } from './connector.ts';
export { Decoder } from './decoder.ts';
export { KVCache, DecoderScratch } from '../nn/index.ts';
export {
  generate,
  DEFAULT_MAX_NEW_TOKENS,
  type GenerateOptions,
  type GenerateRequest,
  type GenerateResult,
  type BatchOptions,
  type FinishReason,
} from './generate.ts';
export {
  sampleToken,
  samplingDistribution,
  applyRepetitionPenalty,
  argmax,
  drawFrom,
  NonFiniteLogitsError,
  type SamplingOptions,
} from './sampling.ts';
export {
  saveModel,
  writeModelFiles,
  readModelFolder,
  defaultGenerationConfig,
  CONFIG_FILE,
  WEIGHTS_FILE,
  TOKENIZER_FILE,
  GENERATION_FILE,
  type GenerationConfig,
  type SaveOptions,
  type LoadedFiles,
} from './folder.ts';
export {
  loadModel,
  VisionLanguageModel,
  type DescribeOptions,
  type DescribeItem,
  type Description,
  type VlmImage,
} from './pipeline.ts';
