/**
 * Model folders, in Hugging Face's layout: config.json, model.safetensors (float32), tokenizer.json,
 * generation_config.json. Saving writes a temp folder and renames it into place; loading checks every
 * file against the others and names the file (and tensor) at fault.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { readSafetensors, writeSafetensors } from '../nn/index.ts';
import { Tokenizer } from '../tokenizer/index.ts';
import { UserError } from '../util/errors.ts';
import { readJson, writeDirAtomic, writeJsonAtomic } from '../util/fs.ts';
import { validateConfig, type ModelConfig } from './config.ts';
import { DEFAULT_MAX_NEW_TOKENS } from './generate.ts';
import { NanoVLM } from './nanovlm.ts';
import { checkWeightsAgainstConfig } from './weights-layout.ts';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const TOKENIZER_FILE = 'tokenizer.json';
export const GENERATION_FILE = 'generation_config.json';

/** Default decoding settings of a model (Hugging Face's generation_config.json keys). */
export interface GenerationConfig {
  max_new_tokens: number;
  /** false = greedy decoding unless a temperature is asked for. */
  do_sample: boolean;
  temperature: number;
  top_k: number;
  top_p: number;
  repetition_penalty: number;
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
}

export function defaultGenerationConfig(config: ModelConfig): GenerationConfig {
  return {
    max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
    do_sample: false,
    temperature: 1,
    top_k: 0,
    top_p: 1,
    repetition_penalty: 1,
    bos_token_id: config.bos_token_id,
    eos_token_id: config.eos_token_id,
    pad_token_id: config.pad_token_id,
  };
}

export interface SaveOptions {
  generation?: Partial<GenerationConfig>;
  /** Strings stored in the safetensors header (e.g. training step). */
  metadata?: Record<string, string>;
}

/**
 * Writes the four model files into an existing folder (no atomicity of its own: the trainer's checkpoint
 * writer calls it inside its own temp folder). Use saveModel for a standalone folder.
 */
export async function writeModelFiles(
  dir: string,
  model: NanoVLM,
  tokenizer: Tokenizer,
  opts: SaveOptions = {},
): Promise<void> {
  const config = model.config;
  checkTokenizer(config, tokenizer, dir);
  await writeJsonAtomic(path.join(dir, CONFIG_FILE), { architectures: ['NanoVLM'], ...config });
  await writeSafetensors(path.join(dir, WEIGHTS_FILE), model.stateDict(), { format: 'pt', ...opts.metadata });
  await tokenizer.save(path.join(dir, TOKENIZER_FILE));
  await writeJsonAtomic(path.join(dir, GENERATION_FILE), {
    ...defaultGenerationConfig(config),
    ...opts.generation,
  });
}

/** Saves a model folder atomically: written to a temp sibling, then renamed over `dir`. */
export async function saveModel(
  model: NanoVLM,
  tokenizer: Tokenizer,
  dir: string,
  opts: SaveOptions = {},
): Promise<void> {
  await writeDirAtomic(dir, (tmp) => writeModelFiles(tmp, model, tokenizer, opts));
}

function checkTokenizer(config: ModelConfig, tok: Tokenizer, where: string): void {
  if (tok.vocabSize !== config.vocab_size) {
    throw new UserError(
      `${where}: the tokenizer has ${tok.vocabSize} tokens but the model's vocab_size is ${config.vocab_size}`,
    );
  }
  const pairs: [string, number, number][] = [
    ['bos_token_id', config.bos_token_id, tok.bosId],
    ['eos_token_id', config.eos_token_id, tok.eosId],
    ['pad_token_id', config.pad_token_id, tok.padId],
  ];
  for (const [key, fromConfig, fromTok] of pairs) {
    if (fromConfig !== fromTok)
      throw new UserError(`${where}: ${key} is ${fromConfig} in the config but ${fromTok} in the tokenizer`);
  }
}

/** Checks of each numeric generation_config.json key: the same ranges `generate` accepts per request. */
const GEN_CHECKS: Record<string, [(v: number) => boolean, string]> = {
  max_new_tokens: [(v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer'],
  temperature: [(v) => v >= 0, 'a number >= 0 (0 = greedy)'],
  top_k: [(v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer (0 = all tokens)'],
  top_p: [(v) => v > 0 && v <= 1, 'a number in (0, 1]'],
  repetition_penalty: [(v) => v > 0, 'a number > 0 (1 = off)'],
};

function readGenerationConfig(file: string, config: ModelConfig): GenerationConfig {
  const raw = readJson<Record<string, unknown>>(file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UserError(`${file}: must be a JSON object`);
  const out = defaultGenerationConfig(config);
  for (const [k, [ok, what]] of Object.entries(GEN_CHECKS)) {
    if (!Object.hasOwn(raw, k) || raw[k] === null) continue;
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
      throw new UserError(`${file}: "${k}" must be ${what}, got ${JSON.stringify(v)}`);
    (out as unknown as Record<string, number>)[k] = v;
  }
  if (Object.hasOwn(raw, 'do_sample')) {
    if (typeof raw.do_sample !== 'boolean') throw new UserError(`${file}: "do_sample" must be true or false`);
    out.do_sample = raw.do_sample;
  }
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const) {
    if (Object.hasOwn(raw, k) && raw[k] !== null && raw[k] !== config[k])
      throw new UserError(`${file}: "${k}" is ${JSON.stringify(raw[k])} but ${config[k]} in the config`);
  }
  return out;
}

export interface LoadedFiles {
  model: NanoVLM;
  tokenizer: Tokenizer;
  config: ModelConfig;
  generation: GenerationConfig;
}

/** Reads and cross-checks a model folder (synchronous; loadModel wraps it in the pipeline). */
export function readModelFolder(dir: string): LoadedFiles {
  if (!existsSync(dir)) throw new UserError(`${dir}: model folder not found`);
  if (!statSync(dir).isDirectory())
    throw new UserError(
      `${dir}: not a folder (a model is a folder with ${CONFIG_FILE}, ${WEIGHTS_FILE}, ...)`,
    );
  for (const f of [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, GENERATION_FILE]) {
    if (!existsSync(path.join(dir, f)))
      throw new UserError(`${path.join(dir, f)}: file not found (a model folder needs ${f})`);
  }
  const configFile = path.join(dir, CONFIG_FILE);
  const config = validateConfig(readJson(configFile), configFile);
  const tokenizerFile = path.join(dir, TOKENIZER_FILE);
  const tokenizer = Tokenizer.load(tokenizerFile);
  checkTokenizer(config, tokenizer, tokenizerFile);
  const generation = readGenerationConfig(path.join(dir, GENERATION_FILE), config);
  const weightsFile = path.join(dir, WEIGHTS_FILE);
  // Names and shapes are checked against the config from the header alone, before any tensor (or the
  // model) is allocated: a config.json that asks for a huge model fails here, not out of memory.
  const { tensors } = readSafetensors(weightsFile, {
    onHeader: (entries) => {
      for (const e of entries) {
        if (!e.dtype.startsWith('F') && e.dtype !== 'BF16')
          throw new UserError(`${weightsFile}: tensor "${e.name}" is an integer tensor, expected float32`);
      }
      checkWeightsAgainstConfig(entries, config, weightsFile, configFile);
    },
  });
  for (const [name, t] of tensors) {
    const d = t.f;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!))
        throw new UserError(
          `${weightsFile}: tensor "${name}" holds a non-finite value (${d[i]}) at index ${i}`,
        );
    }
  }
  const model = new NanoVLM(config);
  model.loadStateDict(tensors, { strict: true, source: weightsFile });
  model.eval();
  return { model, tokenizer, config, generation };
}
