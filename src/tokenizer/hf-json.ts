import { UserError } from '../util/errors.ts';
import { BYTE_TO_CHAR, fromByteLevel } from './bytes.ts';

/** What a tokenizer is made of, with ids resolved. */
export interface TokenizerSpec {
  /** id → token string (byte-level form; added tokens hold their content); undefined for unused ids. */
  tokens: (string | undefined)[];
  /** id → the bytes an ordinary token stands for; undefined for added tokens and unused ids. */
  tokenBytes: (Uint8Array | undefined)[];
  /** Merge list in rank order, as pairs of token ids. */
  merges: [number, number][];
  added: { id: number; content: string; special: boolean }[];
}

/** The parts of Hugging Face's tokenizer.json we write. */
export interface HfTokenizerJSON {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: {
    id: number;
    content: string;
    single_word: boolean;
    lstrip: boolean;
    rstrip: boolean;
    normalized: boolean;
    special: boolean;
  }[];
  normalizer: null;
  pre_tokenizer: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  decoder: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

export function buildTokenizerJSON(spec: TokenizerSpec): HfTokenizerJSON {
  const vocab: Record<string, number> = {};
  spec.tokens.forEach((t, id) => {
    if (t !== undefined) vocab[t] = id;
  });
  // "left right" strings: byte-level tokens never contain a plain space, and every reader accepts this form.
  const merges = spec.merges.map(([l, r]) => `${spec.tokens[l]} ${spec.tokens[r]}`);
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) =>
    ({
      type: 'ByteLevel',
      add_prefix_space: addPrefixSpace,
      trim_offsets: trimOffsets,
      use_regex: true,
    }) as const;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: spec.added.map((a) => ({
      id: a.id,
      content: a.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: a.special,
    })),
    normalizer: null,
    // The same settings GPT-2's tokenizer.json uses.
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isEmpty = (v: unknown) => v === undefined || v === null;

/**
 * Reads a tokenizer.json object, accepting what our encoder reproduces exactly: a byte-level BPE model with
 * GPT-2 pre-tokenization and no normalizer or templates. Anything else is refused with a reason naming
 * `source`, rather than loaded and silently tokenized differently from other tools.
 */
export function parseTokenizerJSON(
  json: unknown,
  source: string,
  requiredSpecial: readonly string[],
): TokenizerSpec {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  if (!isObject(json)) return fail('not a tokenizer.json object');
  const model = json.model;
  if (!isObject(model)) return fail('"model" is missing');
  if (model.type !== undefined && model.type !== 'BPE') {
    fail(`model type "${String(model.type)}" is not supported (only byte-level "BPE")`);
  }
  if (!isObject(model.vocab)) fail('"model.vocab" is missing or not an object');
  if (!Array.isArray(model.merges)) fail('"model.merges" is missing or not an array');
  for (const field of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (!isEmpty(model[field]) && model[field] !== '') fail(`model.${field} is not supported`);
  }
  if (!isEmpty(model.dropout) && model.dropout !== 0) fail('model.dropout is not supported');
  if (model.ignore_merges === true) fail('model.ignore_merges is not supported');
  if (!isEmpty(json.normalizer)) fail('a normalizer is not supported (expected "normalizer": null)');
  const pre = json.pre_tokenizer;
  if (!isObject(pre) || pre.type !== 'ByteLevel') {
    fail(`pre_tokenizer must be ByteLevel, got ${isObject(pre) ? `"${String(pre.type)}"` : String(pre)}`);
  }
  const preBL = pre as Record<string, unknown>;
  if (preBL.add_prefix_space === true) fail('pre_tokenizer.add_prefix_space = true is not supported');
  if (preBL.use_regex === false) fail('pre_tokenizer.use_regex = false is not supported');
  const dec = json.decoder;
  if (!isEmpty(dec) && (!isObject(dec) || dec.type !== 'ByteLevel'))
    fail('decoder must be ByteLevel or null');
  const post = json.post_processor;
  if (!isEmpty(post) && (!isObject(post) || post.type !== 'ByteLevel')) {
    fail('post_processor must be ByteLevel or null (templates that add tokens are not supported)');
  }

  const tokens: (string | undefined)[] = [];
  const place = (token: string, id: unknown, where: string) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= 1 << 24) {
      fail(`${where}: id ${JSON.stringify(id)} is not a valid token id`);
    }
    const i = id as number;
    if (tokens[i] !== undefined && tokens[i] !== token) {
      fail(`${where}: id ${i} is used by both ${JSON.stringify(tokens[i])} and ${JSON.stringify(token)}`);
    }
    tokens[i] = token;
  };
  for (const [token, id] of Object.entries(model.vocab as Record<string, unknown>)) {
    place(token, id, `model.vocab[${JSON.stringify(token)}]`);
  }
  const addedRaw = json.added_tokens ?? [];
  if (!Array.isArray(addedRaw)) fail('"added_tokens" is not an array');
  const added: TokenizerSpec['added'] = [];
  (addedRaw as unknown[]).forEach((a, i) => {
    if (!isObject(a) || typeof a.content !== 'string' || a.content === '') {
      fail(`added_tokens[${i}]: "content" is missing or empty`);
    }
    const t = a as Record<string, unknown>;
    place(t.content as string, t.id, `added_tokens[${i}]`);
    added.push({ id: t.id as number, content: t.content as string, special: t.special === true });
  });
  const addedIds = new Set(added.map((a) => a.id));
  for (const name of requiredSpecial) {
    if (!added.some((a) => a.content === name))
      fail(`added_tokens lacks the special token ${JSON.stringify(name)}`);
  }

  const ids = new Map<string, number>();
  const tokenBytes: (Uint8Array | undefined)[] = new Array(tokens.length);
  for (let id = 0; id < tokens.length; id++) {
    const t = tokens[id];
    if (t === undefined) continue;
    ids.set(t, id);
    if (addedIds.has(id)) continue;
    const bytes = fromByteLevel(t);
    if (!bytes || bytes.length === 0)
      fail(`model.vocab: token ${JSON.stringify(t)} (id ${id}) is not byte-level`);
    tokenBytes[id] = bytes!;
  }
  for (let b = 0; b < 256; b++) {
    const id = ids.get(BYTE_TO_CHAR[b]!);
    if (id === undefined || addedIds.has(id)) {
      fail(`model.vocab lacks the byte-level token for byte 0x${b.toString(16).padStart(2, '0')}`);
    }
  }

  const merges: [number, number][] = (model.merges as unknown[]).map((m, i) => {
    let pair: unknown[] | null = null;
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length === 2) pair = parts;
    } else if (Array.isArray(m) && m.length === 2) pair = m;
    if (!pair || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      return fail(`model.merges[${i}]: expected "left right" or ["left", "right"], got ${JSON.stringify(m)}`);
    }
    const [left, right] = pair as [string, string];
    const l = ids.get(left);
    const r = ids.get(right);
    if (l === undefined || r === undefined || addedIds.has(l) || addedIds.has(r)) {
      fail(`model.merges[${i}]: ${JSON.stringify(l === undefined ? left : right)} is not in the vocabulary`);
    }
    if (!ids.has(left + right))
      fail(`model.merges[${i}]: the merged token ${JSON.stringify(left + right)} is not in the vocabulary`);
    return [l!, r!];
  });
  return { tokens, tokenBytes, merges, added };
}
