import { writeFileAtomic, writeFileAtomicSync, readJson } from '../util/fs.ts';
import { BYTE_TO_CHAR, utf8Bytes } from './bytes.ts';
import { MergeRules } from './bpe.ts';
import {
  parseTokenizerJSON,
  buildTokenizerJSON,
  type TokenizerSpec,
  type HfTokenizerJSON,
} from './hf-json.ts';
import { GPT2_SPLIT_PATTERN } from './pretokenize.ts';

/** Special tokens take ids 0..3 in this order, then the 256 bytes (id 4 + byte value), then merges. */
export const SPECIAL_TOKENS = ['<|bos|>', '<|eos|>', '<|pad|>', '<|image|>'] as const;
export const BYTE_ID_OFFSET = SPECIAL_TOKENS.length;

export interface EncodeOptions {
  /**
   * Turn special-token strings written in the text (such as "<|image|>") into their ids, as Hugging Face's
   * tokenizers do. Off by default so that user text can never inject control tokens.
   */
  allowSpecial?: boolean;
}
export interface DecodeOptions {
  /** Leave out special tokens (default true); otherwise they appear as their text, e.g. "<|eos|>". */
  skipSpecial?: boolean;
}

// Bounds the per-piece cache so a server fed arbitrary text does not grow without limit.
const CACHE_LIMIT = 100_000;
const MAX_CACHED_PIECE = 64;

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly imageId: number;
  private readonly spec: TokenizerSpec;
  private readonly tokenIds = new Map<string, number>();
  /** Bytes of each ordinary token; undefined for added (special) tokens and unused ids. */
  private readonly bytesOf: (Uint8Array | undefined)[] = [];
  private readonly addedContent = new Map<number, { content: string; special: boolean }>();
  private readonly byteIds = new Int32Array(256);
  private readonly rules: MergeRules;
  private readonly addedPattern: RegExp | null;
  private readonly addedIds = new Map<string, number>();
  private readonly cache = new Map<string, readonly number[]>();

  private constructor(spec: TokenizerSpec) {
    this.spec = spec;
    this.vocabSize = spec.tokens.length;
    for (const a of spec.added) {
      this.addedContent.set(a.id, { content: a.content, special: a.special });
      this.addedIds.set(a.content, a.id);
    }
    spec.tokens.forEach((token, id) => {
      if (token === undefined) return;
      this.tokenIds.set(token, id);
      if (!this.addedContent.has(id)) this.bytesOf[id] = spec.tokenBytes[id];
    });
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.tokenIds.get(BYTE_TO_CHAR[b]!)!;
    const merges = spec.merges.map(([l, r]) => {
      const merged = this.tokenIds.get(spec.tokens[l]! + spec.tokens[r]!)!;
      return [l, r, merged] as const;
    });
    this.rules = new MergeRules(merges, Math.max(1, this.vocabSize));
    const [bos, eos, pad, image] = SPECIAL_TOKENS.map((s) => this.addedIds.get(s)!);
    this.bosId = bos!;
    this.eosId = eos!;
    this.padId = pad!;
    this.imageId = image!;
    // Leftmost, then longest added token: the same split Hugging Face's tokenizers make.
    const contents = [...this.addedIds.keys()].sort((x, y) => y.length - x.length);
    this.addedPattern = contents.length
      ? new RegExp(contents.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
      : null;
  }

  /** A tokenizer with our layout (special tokens, the 256 bytes, then one token per merge of two ids). */
  static fromMerges(merges: ReadonlyArray<readonly [number, number]>): Tokenizer {
    const tokens: string[] = [...SPECIAL_TOKENS, ...BYTE_TO_CHAR];
    const tokenBytes: (Uint8Array | undefined)[] = [...SPECIAL_TOKENS.map(() => undefined)];
    for (let b = 0; b < 256; b++) tokenBytes.push(Uint8Array.of(b));
    for (const [l, r] of merges) {
      tokens.push(tokens[l]! + tokens[r]!);
      const bl = tokenBytes[l]!;
      const br = tokenBytes[r]!;
      const both = new Uint8Array(bl.length + br.length);
      both.set(bl);
      both.set(br, bl.length);
      tokenBytes.push(both);
    }
    const added = SPECIAL_TOKENS.map((content, id) => ({ id, content, special: true }));
    return new Tokenizer({ tokens, tokenBytes, merges: merges.map(([l, r]) => [l, r]), added });
  }

  /** Builds a tokenizer from a parsed Hugging Face tokenizer.json; `source` names it in errors. */
  static fromJSON(json: unknown, source = 'tokenizer.json'): Tokenizer {
    return new Tokenizer(parseTokenizerJSON(json, source, SPECIAL_TOKENS));
  }

  static load(file: string): Tokenizer {
    return Tokenizer.fromJSON(readJson(file), file);
  }

  toJSON(): HfTokenizerJSON {
    return buildTokenizerJSON(this.spec);
  }

  /** Writes tokenizer.json atomically (temp file + rename). */
  async save(file: string): Promise<void> {
    await writeFileAtomic(file, JSON.stringify(this.toJSON()) + '\n');
  }

  saveSync(file: string): void {
    writeFileAtomicSync(file, JSON.stringify(this.toJSON()) + '\n');
  }

  get mergeCount(): number {
    return this.rules.size;
  }

  /** Token ids of a text; no BOS/EOS are added. Any string encodes (byte-level: nothing is unknown). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.allowSpecial && this.addedPattern) {
      let start = 0;
      for (const m of text.matchAll(this.addedPattern)) {
        this.encodeOrdinary(text.slice(start, m.index), out);
        out.push(this.addedIds.get(m[0])!);
        start = m.index! + m[0].length;
      }
      this.encodeOrdinary(text.slice(start), out);
    } else {
      this.encodeOrdinary(text, out);
    }
    return out;
  }

  private encodeOrdinary(text: string, out: number[]): void {
    if (!text) return;
    const pieces = text.match(GPT2_SPLIT_PATTERN);
    if (!pieces) return;
    for (const piece of pieces) {
      let ids = this.cache.get(piece);
      if (ids === undefined) {
        const bytes = utf8Bytes(piece);
        const syms = new Array<number>(bytes.length);
        for (let i = 0; i < bytes.length; i++) syms[i] = this.byteIds[bytes[i]!]!;
        ids = this.rules.apply(syms);
        if (piece.length <= MAX_CACHED_PIECE) {
          if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
          this.cache.set(piece, ids);
        }
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
  }

  /** Text of token ids. Bytes that do not end a whole UTF-8 character come out as U+FFFD. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const stream = this.streamDecoder(options);
    let text = '';
    for (let i = 0; i < ids.length; i++) text += stream.push(ids[i]!);
    return text + stream.flush();
  }

  /** An incremental decoder: push ids one at a time, get back only text made of complete characters. */
  streamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder(this, options.skipSpecial ?? true);
  }

  /** Decodes a sequence of ids lazily, yielding each non-empty piece of completed text. */
  *decodeStream(ids: Iterable<number>, options: DecodeOptions = {}): Generator<string> {
    const stream = this.streamDecoder(options);
    for (const id of ids) {
      const text = stream.push(id);
      if (text) yield text;
    }
    const rest = stream.flush();
    if (rest) yield rest;
  }

  /** Bytes a token stands for, or null for special tokens. Throws for ids outside the vocabulary. */
  tokenBytes(id: number): Uint8Array | null {
    const bytes = this.bytesOf[id];
    if (bytes) return bytes;
    if (this.addedContent.has(id)) return null;
    throw new RangeError(`token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
  }

  /** The token's string as stored in tokenizer.json (byte-level form, e.g. "Ġdog"). */
  idToToken(id: number): string | undefined {
    return this.spec.tokens[id];
  }

  tokenToId(token: string): number | undefined {
    return this.tokenIds.get(token);
  }

  /** Content of an added token ("<|eos|>") and whether it is special, or undefined for ordinary ids. */
  addedToken(id: number): { content: string; special: boolean } | undefined {
    return this.addedContent.get(id);
  }

  isSpecial(id: number): boolean {
    return this.addedContent.get(id)?.special ?? false;
  }
}

/** Turns a stream of token ids into text, holding back bytes until they complete a UTF-8 character. */
export class StreamDecoder {
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly skipSpecial: boolean,
  ) {}

  /** Text completed by this token ('' while a character is still incomplete). */
  push(id: number): string {
    if (!Number.isInteger(id)) throw new RangeError(`token id ${id} is not an integer`);
    const bytes = this.tokenizer.tokenBytes(id);
    if (bytes) return this.utf8.decode(bytes, { stream: true });
    const added = this.tokenizer.addedToken(id)!;
    if (added.special && this.skipSpecial) return '';
    return this.utf8.decode() + added.content;
  }

  /** Whatever is held back, as U+FFFD for an incomplete character; the decoder can then be reused. */
  flush(): string {
    return this.utf8.decode();
  }
}
