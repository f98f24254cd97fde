/**
 * Model configuration: presets from the paper (NanoVLMs, arXiv 2502.07838, Table 1), validation of
 * config.json, and the parameter / FLOP accounting behind `nanovlm info`.
 *
 * Readings of the paper we had to choose (checked against its Table 2 shares and ~5M/16M/25M totals):
 * - Patch embedding: per 16×16 patch, conv 3→32 3×3 pad 1, conv 32→64 3×3 stride 2 pad 1 (→ 64×8×8),
 *   LayerNorm over the 4096 flattened features, ReLU, Linear(4096 → img_embd_dim).
 * - Connector: the paper calls it "a projection followed by GELU". A single Linear(img → n_embd) would be
 *   0.04M-0.1M parameters, under 1% of each model, far from Table 2's 14% / 8% / 6%. A two-layer
 *   projection Linear(img → 4·img), GELU, Linear(4·img → n_embd) lands on the table:
 *     mini   5.32M: vision 69.0%, connector 14.9%, decoder 16.0%   (paper ~5M:  69 / 14 / 17)
 *     base  15.12M: vision 77.3%, connector  8.7%, decoder 14.1%   (paper ~16M: 78 /  8 / 16)
 *     large 24.69M: vision 72.9%, connector  5.8%, decoder 21.3%   (paper ~25M: 73 /  6 / 21)
 *   so that is the default (`connector_hidden = 4 * img_embd_dim`; set it to 0 for the single linear).
 * - Decoder head tied to the token embedding (an untied head would add 0.4M-0.8M and push the decoder
 *   share to 23-27%, off the table).
 * - Vision heads = decoder heads (Table 1 gives one head count): head size 50 / 64 / 32.
 * - max_text_len 128 tokens including BOS and EOS: LongDesc runs to ~110 tokens; batches are padded to
 *   their longest text, so ShortDesc (~20-40 tokens) pays nothing for the headroom.
 */
import { UserError } from '../util/errors.ts';

export type ImageTokens = 'cls' | 'all';
export type PatchStem = 'patch' | 'cnn';

export interface ModelConfig {
  model_type: 'nanovlm';
  /** Preset this config started from (informational). */
  preset: string;
  image_size: number;
  patch_size: number;
  /** Output channels of the two patch convolutions. */
  patch_conv_channels: [number, number];
  /**
   * How the two convolutions see the picture. `patch`: each 16×16 patch alone, the two convolutions
   * back to back (a linear map of the patch's pixels before the LayerNorm and ReLU). `cnn`: over the whole
   * picture with a ReLU between, then cut into patches; the same parameters. See docs/grounding.md.
   */
  patch_stem: PatchStem;
  img_embd_dim: number;
  vision_blocks: number;
  vision_heads: number;
  /** Hidden width of the connector's projection; 0 = a single Linear(img_embd_dim → n_embd) + GELU. */
  connector_hidden: number;
  /** Image tokens passed to the decoder: the [CLS] output only, or all patch outputs plus [CLS]. */
  image_tokens: ImageTokens;
  n_layer: number;
  n_head: number;
  n_embd: number;
  vocab_size: number;
  /** Longest token sequence of the text part, BOS and EOS included. */
  max_text_len: number;
  mlp_ratio: number;
  dropout: number;
  tie_word_embeddings: boolean;
  /**
   * Adds the word head (word-head.ts): a training-only objective that predicts the description's words
   * from the pooled vision features. Not part of the paper's model; generation never uses it.
   */
  word_head: boolean;
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
}

export type PresetName = 'tiny' | 'mini' | 'base' | 'large';
export const PRESET_NAMES: readonly PresetName[] = ['tiny', 'mini', 'base', 'large'];

const COMMON = {
  model_type: 'nanovlm' as const,
  image_size: 224,
  patch_size: 16,
  patch_conv_channels: [32, 64] as [number, number],
  patch_stem: 'patch' as PatchStem,
  image_tokens: 'cls' as ImageTokens,
  vocab_size: 4096,
  max_text_len: 128,
  mlp_ratio: 4,
  dropout: 0.1,
  tie_word_embeddings: true,
  word_head: false,
  // The tokenizer's special ids (src/tokenizer: bos 0, eos 1, pad 2); configFor() copies a tokenizer's.
  bos_token_id: 0,
  eos_token_id: 1,
  pad_token_id: 2,
};

function preset(
  name: string,
  v: { blocks: number; layers: number; heads: number; embd: number; img: number },
): ModelConfig {
  return {
    ...COMMON,
    patch_conv_channels: [...COMMON.patch_conv_channels],
    preset: name,
    img_embd_dim: v.img,
    vision_blocks: v.blocks,
    vision_heads: v.heads,
    connector_hidden: 4 * v.img,
    n_layer: v.layers,
    n_head: v.heads,
    n_embd: v.embd,
  };
}

/** A fresh copy of a preset (callers may change it). */
export function presetConfig(name: PresetName | string): ModelConfig {
  switch (name) {
    case 'mini':
      return preset('mini', { blocks: 1, layers: 4, heads: 8, embd: 96, img: 400 });
    case 'base':
      return preset('base', { blocks: 3, layers: 8, heads: 8, embd: 128, img: 512 });
    case 'large':
      return preset('large', { blocks: 5, layers: 10, heads: 16, embd: 192, img: 512 });
    case 'tiny':
      // For tests and smoke runs: 32×32 images in 8×8 patches (16 patches + [CLS]), two-block decoder.
      return {
        ...preset('tiny', { blocks: 1, layers: 2, heads: 2, embd: 32, img: 32 }),
        image_size: 32,
        patch_size: 8,
        patch_conv_channels: [8, 16],
        max_text_len: 64,
      };
    default:
      throw new UserError(`unknown model preset "${name}" (known: ${PRESET_NAMES.join(', ')})`, 2);
  }
}

export const isPresetName = (s: string): s is PresetName => (PRESET_NAMES as readonly string[]).includes(s);

/** The preset with the tokenizer's vocabulary size and special ids. */
export function configFor(
  base: PresetName | ModelConfig,
  tokenizer: { vocabSize: number; bosId: number; eosId: number; padId: number },
): ModelConfig {
  const cfg = typeof base === 'string' ? presetConfig(base) : structuredClone(base);
  cfg.vocab_size = tokenizer.vocabSize;
  cfg.bos_token_id = tokenizer.bosId;
  cfg.eos_token_id = tokenizer.eosId;
  cfg.pad_token_id = tokenizer.padId;
  return validateConfig(cfg);
}

// ---------------------------------------------------------------- derived sizes

export const patchesPerSide = (c: ModelConfig): number => c.image_size / c.patch_size;
/** Patches per image (196 at 224/16). */
export const numPatches = (c: ModelConfig): number => patchesPerSide(c) ** 2;
/** Tokens in the vision encoder: patches plus [CLS]. */
export const visionTokens = (c: ModelConfig): number => numPatches(c) + 1;
/** Image tokens the decoder sees in front of the text. */
export const imageTokenCount = (c: ModelConfig): number => (c.image_tokens === 'cls' ? 1 : visionTokens(c));
/** Decoder positions: image tokens plus the text. */
export const decoderPositions = (c: ModelConfig): number => imageTokenCount(c) + c.max_text_len;
/** Side of the feature map after the stride-2 patch convolution (pad 1, kernel 3). */
export const patchConvSide = (c: ModelConfig): number => Math.floor((c.patch_size - 1) / 2) + 1;
/** Flattened features of one patch after the convolutions (64·8·8 = 4096 at patch 16). */
export const patchFeatures = (c: ModelConfig): number => c.patch_conv_channels[1] * patchConvSide(c) ** 2;

// ---------------------------------------------------------------- validation

const KEYS: Record<keyof ModelConfig, 'int' | 'number' | 'string' | 'boolean' | 'pair'> = {
  model_type: 'string',
  preset: 'string',
  image_size: 'int',
  patch_size: 'int',
  patch_conv_channels: 'pair',
  patch_stem: 'string',
  img_embd_dim: 'int',
  vision_blocks: 'int',
  vision_heads: 'int',
  connector_hidden: 'int',
  image_tokens: 'string',
  n_layer: 'int',
  n_head: 'int',
  n_embd: 'int',
  vocab_size: 'int',
  max_text_len: 'int',
  mlp_ratio: 'int',
  dropout: 'number',
  tie_word_embeddings: 'boolean',
  word_head: 'boolean',
  bos_token_id: 'int',
  eos_token_id: 'int',
  pad_token_id: 'int',
};
/**
 * Largest value of each size, far above any model this toolkit can train on a CPU (the presets use
 * tenths of these at most), so that a damaged or hostile config.json is refused before a model of
 * its size is allocated.
 */
export const CONFIG_LIMITS: Partial<Record<keyof ModelConfig, number>> = {
  image_size: 2048,
  patch_size: 256,
  img_embd_dim: 8192,
  vision_blocks: 128,
  vision_heads: 256,
  connector_hidden: 65536,
  n_layer: 128,
  n_head: 256,
  n_embd: 8192,
  vocab_size: 1 << 20,
  max_text_len: 8192,
  mlp_ratio: 16,
};
const MAX_CONV_CHANNELS = 4096;
/** Vision tokens (patches + [CLS]): attention holds tokens² scores per head. */
const MAX_VISION_TOKENS = 16385;
/** Parameters of the whole model (4 GB of float32). */
export const MAX_PARAMS = 1e9;

/** Keys added after config.json files were first written, with the value those files meant. */
const ADDED_KEYS = { word_head: false, patch_stem: 'patch' } as const;

/** Keys other tools put in a Hugging Face config.json; accepted and dropped. */
const IGNORED_KEYS = new Set(['architectures', 'torch_dtype', 'transformers_version', '_name_or_path']);

/**
 * Checks a config object (from config.json, a preset with overrides, ...) and returns it typed.
 * Errors name `where` and the key.
 */
export function validateConfig(obj: unknown, where = 'config'): ModelConfig {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new UserError(`${where}: must be a JSON object`);
  const o = obj as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (IGNORED_KEYS.has(k)) continue;
    // Own keys only: "__proto__" or "constructor" must not find Object.prototype's members.
    const kind = Object.hasOwn(KEYS, k) ? KEYS[k as keyof ModelConfig] : undefined;
    if (!kind) throw new UserError(`${where}: unknown key "${k}"`);
    const bad = (what: string) => new UserError(`${where}: "${k}" must be ${what}, got ${JSON.stringify(v)}`);
    if (kind === 'int' && !(Number.isSafeInteger(v) && (v as number) >= 0))
      throw bad('a non-negative integer');
    if (kind === 'number' && !(typeof v === 'number' && Number.isFinite(v))) throw bad('a number');
    if (kind === 'string' && typeof v !== 'string') throw bad('a string');
    if (kind === 'boolean' && typeof v !== 'boolean') throw bad('true or false');
    if (
      kind === 'pair' &&
      !(Array.isArray(v) && v.length === 2 && v.every((x) => Number.isSafeInteger(x) && x > 0))
    )
      throw bad('two positive integers');
    const max = Object.hasOwn(CONFIG_LIMITS, k) ? CONFIG_LIMITS[k as keyof ModelConfig] : undefined;
    if (max !== undefined && (v as number) > max) throw bad(`at most ${max}`);
    if (kind === 'pair' && (v as number[]).some((x) => x > MAX_CONV_CHANNELS))
      throw bad(`two integers of at most ${MAX_CONV_CHANNELS}`);
    out[k] = kind === 'pair' ? [...(v as number[])] : v;
  }
  for (const k of Object.keys(KEYS)) {
    if (out[k] === undefined) {
      if (k === 'preset') out[k] = 'custom';
      else if (Object.hasOwn(ADDED_KEYS, k))
        out[k] = ADDED_KEYS[k as keyof typeof ADDED_KEYS]; // a config.json from before the key existed
      else throw new UserError(`${where}: "${k}" is missing`);
    }
  }
  const c = out as unknown as ModelConfig;
  const fail = (msg: string) => new UserError(`${where}: ${msg}`);
  if (c.model_type !== 'nanovlm') throw fail(`"model_type" must be "nanovlm", got "${c.model_type}"`);
  if (c.patch_stem !== 'patch' && c.patch_stem !== 'cnn')
    throw fail(`"patch_stem" must be "patch" or "cnn", got "${c.patch_stem}"`);
  if (c.image_tokens !== 'cls' && c.image_tokens !== 'all')
    throw fail(`"image_tokens" must be "cls" or "all", got "${c.image_tokens}"`);
  for (const k of [
    'image_size',
    'patch_size',
    'img_embd_dim',
    'vision_heads',
    'n_layer',
    'n_head',
    'n_embd',
  ] as const) {
    if (c[k] < 1) throw fail(`"${k}" must be at least 1`);
  }
  if (c.vocab_size < 4) throw fail(`"vocab_size" must be at least 4`);
  if (c.max_text_len < 2) throw fail(`"max_text_len" must be at least 2 (BOS and EOS)`);
  if (c.mlp_ratio < 1) throw fail(`"mlp_ratio" must be at least 1`);
  if (c.image_size % c.patch_size)
    throw fail(`"image_size" ${c.image_size} is not a multiple of "patch_size" ${c.patch_size}`);
  if (c.patch_size < 2) throw fail(`"patch_size" must be at least 2`);
  if (c.img_embd_dim % c.vision_heads)
    throw fail(`"img_embd_dim" ${c.img_embd_dim} is not divisible by "vision_heads" ${c.vision_heads}`);
  if (c.n_embd % c.n_head) throw fail(`"n_embd" ${c.n_embd} is not divisible by "n_head" ${c.n_head}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw fail(`"dropout" must be in [0, 1), got ${c.dropout}`);
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const) {
    if (c[k] >= c.vocab_size) throw fail(`"${k}" ${c[k]} is outside the vocabulary (${c.vocab_size})`);
  }
  if (visionTokens(c) > MAX_VISION_TOKENS)
    throw fail(
      `"image_size" ${c.image_size} in patches of ${c.patch_size} makes ${visionTokens(c)} vision tokens; at most ${MAX_VISION_TOKENS}`,
    );
  const params = countParams(c).total;
  if (params > MAX_PARAMS)
    throw fail(
      `these sizes make a model of ${(params / 1e6).toFixed(0)}M parameters; at most ${MAX_PARAMS / 1e6}M`,
    );
  return c;
}

// ---------------------------------------------------------------- accounting

export interface ParamCounts {
  vision: number;
  connector: number;
  decoder: number;
  /** The training-only word head (0 without it). */
  wordHead: number;
  total: number;
}

/** Parameters of one pre-LN transformer block of width d: qkv, proj, fc, proj, two LayerNorms. */
export function blockParams(d: number, mlpRatio: number): number {
  const h = mlpRatio * d;
  return 3 * d * d + 3 * d + d * d + d + d * h + h + h * d + d + 4 * d;
}

/** Parameter counts per part, computed from the config (the model's own count must agree: tested). */
export function countParams(c: ModelConfig): ParamCounts {
  const [c1, c2] = c.patch_conv_channels;
  const V = c.img_embd_dim;
  const feats = patchFeatures(c);
  const patch = 3 * c1 * 9 + c1 + c1 * c2 * 9 + c2 + 2 * feats + feats * V + V;
  const vision =
    patch +
    V /* cls */ +
    visionTokens(c) * V /* pos */ +
    c.vision_blocks * blockParams(V, c.mlp_ratio) +
    2 * V;
  const d = c.n_embd;
  const connector =
    c.connector_hidden > 0
      ? V * c.connector_hidden + c.connector_hidden + c.connector_hidden * d + d
      : V * d + d;
  const decoder =
    c.vocab_size * d +
    decoderPositions(c) * d +
    c.n_layer * blockParams(d, c.mlp_ratio) +
    2 * d +
    (c.tie_word_embeddings ? 0 : c.vocab_size * d);
  const wordHead = c.word_head ? V * c.vocab_size + c.vocab_size : 0;
  return { vision, connector, decoder, wordHead, total: vision + connector + decoder + wordHead };
}

export interface FlopCounts {
  /** Forward FLOPs (2 per multiply-add) of one sample, per part. */
  forward: { vision: number; connector: number; decoder: number; total: number };
  /** Forward + backward ≈ 3 × forward (the backward does two matrix products per forward one). */
  trainingPerSample: number;
  /** Text length the decoder figure assumes (BOS + text + EOS). */
  textLen: number;
}

/** Transformer block forward FLOPs over T tokens of width d (matmuls, attention scores and mixing). */
function blockFlops(T: number, d: number, mlpRatio: number, keys: number): number {
  const linears = 2 * T * d * (3 * d + d + 2 * mlpRatio * d);
  const attention = 2 * 2 * T * keys * d; // q·kᵀ and probs·v, over all heads
  return linears + attention;
}

/**
 * FLOPs of one training sample (matrix products, convolutions and attention; element-wise work left
 * out, as is usual). Causal attention is counted at full T×T, like the computation it stands for.
 */
export function countFlops(c: ModelConfig, textLen = c.max_text_len): FlopCounts {
  const [c1, c2] = c.patch_conv_channels;
  const P = numPatches(c);
  const p = c.patch_size;
  const side = patchConvSide(c);
  const V = c.img_embd_dim;
  const Tv = visionTokens(c);
  const conv = 2 * P * (p * p * c1 * 3 * 9 + side * side * c2 * c1 * 9);
  const vision = conv + 2 * P * patchFeatures(c) * V + c.vision_blocks * blockFlops(Tv, V, c.mlp_ratio, Tv);
  const nImg = imageTokenCount(c);
  const H = c.connector_hidden;
  const connector = 2 * nImg * (H > 0 ? V * H + H * c.n_embd : V * c.n_embd);
  const T = nImg + textLen;
  const decoder = c.n_layer * blockFlops(T, c.n_embd, c.mlp_ratio, T) + 2 * textLen * c.n_embd * c.vocab_size;
  const total = vision + connector + decoder;
  return { forward: { vision, connector, decoder, total }, trainingPerSample: 3 * total, textLen };
}
