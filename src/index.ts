/**
 * nanovlm as a library. The one obvious call:
 *   import { loadModel } from 'nanovlm';
 *   const vlm = await loadModel('runs/main/checkpoints/best');
 *   const { text } = await vlm.describe('picture.png', { prompt: 'In the picture', temperature: 0.7 });
 */
export {
  loadModel,
  saveModel,
  writeModelFiles,
  readModelFolder,
  VisionLanguageModel,
  NanoVLM,
  createModel,
  generate,
  presetConfig,
  configFor,
  validateConfig,
  countParams,
  countFlops,
  PRESET_NAMES,
  type ModelConfig,
  type PresetName,
  type GenerationConfig,
  type DescribeOptions,
  type DescribeItem,
  type Description,
  type VlmImage,
  type GenerateRequest,
  type GenerateResult,
  type SamplingOptions,
} from './model/index.ts';
export { Tensor, noGrad, backward } from './tensor/tensor.ts';
export { backend, setBackend, withBackend } from './tensor/backends/index.ts';
export { setPrecision, precisionInfo, type PrecisionChoice, type PrecisionInfo } from './tensor/precision.ts';
export { Tokenizer, trainTokenizer } from './tokenizer/index.ts';
export { loadImage, type RawImage, type ImageInput } from './data/image.ts';
export { UserError } from './util/errors.ts';
