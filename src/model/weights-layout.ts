/**
 * The tensors a config implies, by name and shape, computed without building the model, so a
 * weights file can be checked against config.json before anything the size of the model is allocated.
 * test/model/weights-layout.test.ts keeps this in step with the modules' own parameters.
 */
import { UserError } from '../util/errors.ts';
import { decoderPositions, patchFeatures, visionTokens, type ModelConfig } from './config.ts';

export type Layout = Map<string, readonly number[]>;

function linear(out: Layout, name: string, inF: number, outF: number, bias = true): void {
  out.set(`${name}.weight`, [outF, inF]);
  if (bias) out.set(`${name}.bias`, [outF]);
}

function layerNorm(out: Layout, name: string, dim: number): void {
  out.set(`${name}.weight`, [dim]);
  out.set(`${name}.bias`, [dim]);
}

function block(out: Layout, name: string, dim: number, mlpRatio: number): void {
  const hidden = Math.round(dim * mlpRatio);
  layerNorm(out, `${name}.ln1`, dim);
  linear(out, `${name}.attn.qkv`, dim, 3 * dim);
  linear(out, `${name}.attn.proj`, dim, dim);
  layerNorm(out, `${name}.ln2`, dim);
  linear(out, `${name}.mlp.fc`, dim, hidden);
  linear(out, `${name}.mlp.proj`, hidden, dim);
}

/** Every parameter of NanoVLM(config), in the modules' order, with its shape. */
export function weightsLayout(c: ModelConfig): Layout {
  const out: Layout = new Map();
  const V = c.img_embd_dim;
  const [c1, c2] = c.patch_conv_channels;
  out.set('vision.cls', [1, 1, V]);
  out.set('vision.pos', [visionTokens(c), V]);
  out.set('vision.patch.conv1.weight', [c1, 3, 3, 3]);
  out.set('vision.patch.conv1.bias', [c1]);
  out.set('vision.patch.conv2.weight', [c2, c1, 3, 3]);
  out.set('vision.patch.conv2.bias', [c2]);
  layerNorm(out, 'vision.patch.norm', patchFeatures(c));
  linear(out, 'vision.patch.proj', patchFeatures(c), V);
  for (let i = 0; i < c.vision_blocks; i++) block(out, `vision.blocks.${i}`, V, c.mlp_ratio);
  layerNorm(out, 'vision.ln_f', V);
  const H = c.connector_hidden;
  if (H > 0) linear(out, 'connector.fc', V, H);
  linear(out, 'connector.proj', H > 0 ? H : V, c.n_embd);
  out.set('decoder.wte.weight', [c.vocab_size, c.n_embd]);
  out.set('decoder.wpe.weight', [decoderPositions(c), c.n_embd]);
  for (let i = 0; i < c.n_layer; i++) block(out, `decoder.blocks.${i}`, c.n_embd, c.mlp_ratio);
  layerNorm(out, 'decoder.ln_f', c.n_embd);
  if (!c.tie_word_embeddings) linear(out, 'decoder.lm_head', c.n_embd, c.vocab_size, false);
  if (c.word_head) linear(out, 'word_head.proj', V, c.vocab_size);
  return out;
}

const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;
const list = (names: string[]) =>
  names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');

/**
 * Checks a weights file's header (tensor names and shapes) against the layout of `config`. Errors name
 * the weights file, the tensor, and say the weights do not match `configFile`.
 */
export function checkWeightsAgainstConfig(
  header: readonly { name: string; shape: readonly number[] }[],
  config: ModelConfig,
  weightsFile: string,
  configFile: string,
): void {
  const expected = weightsLayout(config);
  const fail = (msg: string) =>
    new UserError(`${weightsFile}: ${msg} (the weights do not match ${configFile})`);
  const present = new Set(header.map((e) => e.name));
  const missing = [...expected.keys()].filter((k) => !present.has(k));
  if (missing.length) throw fail(`missing ${missing.length} tensor(s) the model needs: ${list(missing)}`);
  const unexpected = header.map((e) => e.name).filter((k) => !expected.has(k));
  if (unexpected.length)
    throw fail(`${unexpected.length} tensor(s) the model does not have: ${list(unexpected)}`);
  const shapes = new Map(header.map((e) => [e.name, e.shape]));
  for (const [name, want] of expected) {
    const shape = shapes.get(name)!;
    if (shape.length !== want.length || shape.some((d, i) => d !== want[i]))
      throw fail(`tensor "${name}" has shape ${shapeStr(shape)}, the model expects ${shapeStr(want)}`);
  }
}
