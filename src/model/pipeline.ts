/**
 * The one-call API: `const vlm = await loadModel(dir); const d = await vlm.describe('cat.png')`.
 * Wraps image loading, tokenisation, generation and decoding.
 */
import path from 'node:path';
import { loadImage, type ImageInput } from '../data/image.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { UserError } from '../util/errors.ts';
import type { ModelConfig } from './config.ts';
import {
  readModelFolder,
  saveModel,
  WEIGHTS_FILE,
  type GenerationConfig,
  type SaveOptions,
} from './folder.ts';
import { generate, type FinishReason, type GenerateRequest } from './generate.ts';
import type { NanoVLM } from './nanovlm.ts';
import { NonFiniteLogitsError, type SamplingOptions } from './sampling.ts';

export interface DescribeOptions extends SamplingOptions {
  /** The start of the description; the model writes the rest (prefix completion). */
  prompt?: string;
  maxNewTokens?: number;
  seed?: number;
  /** Called for every generated token with the text it completes ('' while a UTF-8 character is unfinished). */
  onToken?: (text: string, id: number) => void;
  signal?: AbortSignal;
}

/** A path, an encoded image (PNG/JPEG/WebP Buffer), raw pixels, or CHW float32 [3, S, S] already prepared. */
export type VlmImage = ImageInput | Float32Array;

export interface DescribeItem extends DescribeOptions {
  image: VlmImage;
}

export interface Description {
  /** The generated text (after the prompt). */
  text: string;
  /** The prompt (trailing spaces removed) followed by the generated text. */
  fullText: string;
  prompt: string;
  ids: number[];
  /** Generated tokens (EOS not counted). */
  tokens: number;
  finishReason: FinishReason;
  msFirstToken: number;
  ms: number;
}

export class VisionLanguageModel {
  constructor(
    readonly model: NanoVLM,
    readonly tokenizer: Tokenizer,
    readonly generation: GenerationConfig,
    /** Folder it was loaded from, if any. */
    readonly dir?: string,
  ) {}

  get config(): ModelConfig {
    return this.model.config;
  }

  /** Pixels for the model: CHW float32 [3, S, S] in [-1, 1]. */
  async prepareImage(image: VlmImage): Promise<Float32Array> {
    const S = this.config.image_size;
    if (image instanceof Float32Array) {
      if (image.length !== 3 * S * S)
        throw new UserError(`image: expected float32 [3, ${S}, ${S}], got ${image.length} values`);
      return image;
    }
    return loadImage(image, S);
  }

  async describe(image: VlmImage, opts: DescribeOptions = {}): Promise<Description> {
    const [d] = await this.describeBatch([{ ...opts, image }]);
    return d!;
  }

  /**
   * Describes several images in one batch (each item may have its own prompt and options; `defaults`
   * fill what an item leaves out). One image failing to load rejects the whole call, naming it.
   */
  async describeBatch(
    items: readonly (VlmImage | DescribeItem)[],
    defaults: DescribeOptions = {},
  ): Promise<Description[]> {
    const full = items.map((it) => (isItem(it) ? { ...defaults, ...it } : { ...defaults, image: it }));
    const pixels = await Promise.all(full.map((it) => this.prepareImage(it.image)));
    const g = this.generation;
    const prompts = full.map((it) => (it.prompt ?? '').trimEnd());
    const requests: GenerateRequest[] = full.map((it, i) => {
      const decoder = this.tokenizer.streamDecoder();
      const onToken = it.onToken;
      return {
        image: pixels[i]!,
        prefix: prompts[i] ? this.tokenizer.encode(prompts[i]!) : [],
        temperature: it.temperature ?? (g.do_sample ? g.temperature : 0),
        topK: it.topK ?? g.top_k,
        topP: it.topP ?? g.top_p,
        repetitionPenalty: it.repetitionPenalty ?? g.repetition_penalty,
        maxNewTokens: it.maxNewTokens ?? g.max_new_tokens,
        seed: it.seed,
        signal: it.signal,
        onToken: onToken ? (id) => onToken(decoder.push(id), id) : undefined,
      };
    });
    const suppress = [this.tokenizer.bosId, this.tokenizer.padId, this.tokenizer.imageId];
    let results;
    try {
      results = await generate(this.model, requests, { suppressTokens: suppress });
    } catch (e) {
      // Name the weights that overflowed, when we know where they came from.
      if (e instanceof NonFiniteLogitsError && this.dir)
        throw new NonFiniteLogitsError(`${path.join(this.dir, WEIGHTS_FILE)}: ${e.message}`);
      throw e;
    }
    return results.map((r, i) => {
      const text = this.tokenizer.decode(r.ids);
      return {
        text,
        fullText: prompts[i] + text,
        prompt: prompts[i]!,
        ids: r.ids,
        tokens: r.ids.length,
        finishReason: r.finishReason,
        msFirstToken: r.msFirstToken,
        ms: r.ms,
      };
    });
  }

  async save(dir: string, opts: SaveOptions = {}): Promise<void> {
    await saveModel(this.model, this.tokenizer, dir, { generation: this.generation, ...opts });
  }
}

function isItem(x: VlmImage | DescribeItem): x is DescribeItem {
  return (
    typeof x === 'object' && x !== null && !Buffer.isBuffer(x) && !(x instanceof Float32Array) && 'image' in x
  );
}

/** Loads a model folder (config.json, model.safetensors, tokenizer.json, generation_config.json). */
export async function loadModel(dir: string): Promise<VisionLanguageModel> {
  const { model, tokenizer, generation } = readModelFolder(dir);
  return new VisionLanguageModel(model, tokenizer, generation, dir);
}
