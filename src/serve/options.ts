/**
 * Validation of generation options from a request. Field values come either typed (JSON) or as text
 * (multipart fields, query strings); both end in the same checks so every endpoint refuses the same
 * things with the same words.
 */
import { badRequest } from './http-error.ts';

/** What a request may set; each endpoint maps its own field names onto these. */
export interface SamplingRequest {
  prompt: string;
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
}

export interface Limits {
  /** Largest max_new_tokens accepted: the model's text length. */
  maxNewTokens: number;
  vocabSize: number;
  /** Characters of prompt accepted before tokenising (the token limit is checked after). */
  maxPromptChars: number;
}

type Kind = 'string' | 'number' | 'integer' | 'boolean';

/** Reads a field that may be typed (JSON) or text (forms, query strings). Undefined when absent. */
export class FieldReader {
  constructor(
    private readonly src: Record<string, unknown>,
    /** Values are strings to convert (forms, query strings), not JSON values. */
    private readonly textual: boolean,
  ) {}

  get(name: string, kind: 'string'): string | undefined;
  get(name: string, kind: 'number' | 'integer'): number | undefined;
  get(name: string, kind: 'boolean'): boolean | undefined;
  get(name: string, kind: Kind): string | number | boolean | undefined {
    let v = this.src[name];
    if (v === undefined || (v === null && !this.textual)) return undefined;
    if (this.textual && typeof v === 'string' && kind !== 'string') {
      const t = v.trim();
      if (t === '') return undefined;
      if (kind === 'boolean') {
        if (['1', 'true', 'yes'].includes(t)) return true;
        if (['0', 'false', 'no'].includes(t)) return false;
        throw badRequest(`${name} must be true or false, got "${t.slice(0, 40)}"`, name);
      }
      v = Number(t);
      if (!Number.isFinite(v)) throw badRequest(`${name} must be a number, got "${t.slice(0, 40)}"`, name);
    }
    switch (kind) {
      case 'string':
        if (typeof v !== 'string') throw badRequest(`${name} must be a string, got ${typeName(v)}`, name);
        return v;
      case 'boolean':
        if (typeof v !== 'boolean')
          throw badRequest(`${name} must be true or false, got ${typeName(v)}`, name);
        return v;
      default:
        if (typeof v !== 'number' || !Number.isFinite(v))
          throw badRequest(`${name} must be a number, got ${typeName(v)}`, name);
        if (kind === 'integer' && !Number.isSafeInteger(v))
          throw badRequest(`${name} must be an integer, got ${v}`, name);
        return v;
    }
  }
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `a string ("${v.slice(0, 40)}")`;
  return `${typeof v} ${String(v)}`;
}

export function rejectUnknown(src: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(src)) {
    if (!known.includes(key)) {
      throw badRequest(`${where}: unknown field "${key.slice(0, 60)}" (known: ${known.join(', ')})`, key);
    }
  }
}

function inRange(
  name: string,
  v: number | undefined,
  lo: number,
  hi: number,
  loOpen = false,
): number | undefined {
  if (v === undefined) return v;
  if (v > hi || v < lo || (loOpen && v === lo)) {
    throw badRequest(`${name} must be in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${v}`, name);
  }
  return v;
}

/** Range checks shared by every endpoint; `names` gives each option's field name in that API. */
export function checkSampling(
  r: SamplingRequest,
  limits: Limits,
  names: { maxNewTokens: string; topP: string; topK: string; repetitionPenalty: string; prompt: string },
): SamplingRequest {
  if (r.prompt.length > limits.maxPromptChars) {
    throw badRequest(
      `${names.prompt} is ${r.prompt.length} characters; at most ${limits.maxPromptChars} are accepted`,
      names.prompt,
    );
  }
  if (r.maxNewTokens !== undefined && (r.maxNewTokens < 1 || r.maxNewTokens > limits.maxNewTokens)) {
    throw badRequest(
      `${names.maxNewTokens} must be an integer in [1, ${limits.maxNewTokens}] (this model writes at most ${limits.maxNewTokens} tokens), got ${r.maxNewTokens}`,
      names.maxNewTokens,
    );
  }
  inRange('temperature', r.temperature, 0, 2);
  inRange(names.topP, r.topP, 0, 1, true);
  inRange(names.topK, r.topK, 0, limits.vocabSize);
  inRange(names.repetitionPenalty, r.repetitionPenalty, 0, 10, true);
  return r;
}

/** The fields /v1/describe takes besides the image, in its snake_case names. */
export const DESCRIBE_FIELDS = [
  'prompt',
  'max_new_tokens',
  'temperature',
  'top_k',
  'top_p',
  'repetition_penalty',
  'seed',
] as const;

export function readDescribeOptions(
  src: Record<string, unknown>,
  textual: boolean,
  limits: Limits,
): SamplingRequest {
  const f = new FieldReader(src, textual);
  const r: SamplingRequest = {
    prompt: f.get('prompt', 'string') ?? '',
    maxNewTokens: f.get('max_new_tokens', 'integer'),
    temperature: f.get('temperature', 'number'),
    topK: f.get('top_k', 'integer'),
    topP: f.get('top_p', 'number'),
    repetitionPenalty: f.get('repetition_penalty', 'number'),
    seed: f.get('seed', 'integer'),
  };
  return checkSampling(r, limits, {
    maxNewTokens: 'max_new_tokens',
    topP: 'top_p',
    topK: 'top_k',
    repetitionPenalty: 'repetition_penalty',
    prompt: 'prompt',
  });
}
