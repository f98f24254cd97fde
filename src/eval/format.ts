/**
 * The evaluation file formats (JSONL, one line per completion), shared by our model and by baselines
 * whose outputs are made elsewhere (BLIP, GIT, Kosmos-2, ...). See docs/eval.md.
 *
 * A completion line:
 *   {"id", "image", "prefix", "completion", "reference", "system", ...optional fields}
 * A graded line is a completion line plus the judge's answer (`grades`, `age_group`, ...), or `error`
 * when no usable answer came back.
 */
import { UserError } from '../util/errors.ts';
import { existsSync, readFileSync } from 'node:fs';

export const DIMENSIONS = ['grammar', 'creativity', 'consistency', 'meaningfulness', 'plot'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export type Grades = Record<Dimension, number>;

export const AGE_GROUPS = ['A', 'B', 'C', 'D', 'E', 'F'] as const;
export type AgeGroup = (typeof AGE_GROUPS)[number];
export const AGE_GROUP_LABELS: Record<AgeGroup, string> = {
  A: '3 or under',
  B: '4-5',
  C: '6-7',
  D: '8-9',
  E: '10-12',
  F: '13-16',
};

export interface CompletionLine {
  /** The picture's id in its dataset. Several lines share it when there are several samples. */
  id: string;
  /** Path or URL of the picture (informational; the judge sees only text). */
  image: string;
  /** The given beginning of the description. */
  prefix: string;
  /** What the system wrote after the prefix (see joinPrefix in text.ts for how they are joined). */
  completion: string;
  /** The full reference description (its first words are the prefix). */
  reference: string;
  /** Name of the system, e.g. "nanovlm-mini" or "blip-base"; one table row each. */
  system: string;
  /** Sample number for this prefix (0-based); default 0. */
  sample?: number;
  /** "short" or "long" description (ShortDesc / LongDesc). */
  kind?: string;
  /** Things in the picture, name → count, when known (built-in scenes): enables object scores. */
  objects?: Record<string, number>;
  /** Sampling settings and anything else: kept as is. */
  [extra: string]: unknown;
}

export interface GradedLine extends CompletionLine {
  judge_model: string;
  /** The model name the server answered with (may carry a date suffix). */
  judge_answered_model?: string;
  judge_protocol: string;
  prompt_version: string;
  grades?: Grades;
  age_group?: AgeGroup | null;
  assessment?: string;
  /** How the answer was read: "json", or "text" (the fallback parser). */
  parsed_from?: 'json' | 'text';
  /** Why no grades could be had (after all retries); such lines are retried on the next run. */
  error?: string;
}

/** A stable key of one completion: system, picture, sample. */
export function completionKey(c: Pick<CompletionLine, 'system' | 'id' | 'sample'>): string {
  return JSON.stringify([c.system, c.id, c.sample ?? 0]);
}

const REQUIRED_STRINGS = ['id', 'image', 'prefix', 'completion', 'reference', 'system'] as const;

/** Checks one parsed line; throws an Error with the reason (the caller adds file and line). */
export function validateCompletion(raw: unknown): CompletionLine {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error('a line must be a JSON object');
  const r = raw as Record<string, unknown>;
  if (typeof r.id === 'number' && Number.isInteger(r.id)) r.id = String(r.id);
  for (const k of REQUIRED_STRINGS) {
    if (r[k] === undefined || r[k] === null) throw new Error(`"${k}" is missing`);
    if (typeof r[k] !== 'string') throw new Error(`"${k}" must be a string, got ${JSON.stringify(r[k])}`);
  }
  if (!(r.system as string).trim()) throw new Error('"system" is empty');
  if (r.sample !== undefined && !(Number.isInteger(r.sample) && (r.sample as number) >= 0)) {
    throw new Error(`"sample" must be a non-negative integer, got ${JSON.stringify(r.sample)}`);
  }
  if (r.objects !== undefined && r.objects !== null) {
    const o = r.objects;
    if (
      typeof o !== 'object' ||
      Array.isArray(o) ||
      !Object.values(o).every((v) => Number.isInteger(v) && (v as number) > 0)
    ) {
      throw new Error('"objects" must map names to positive counts, e.g. {"dog": 2}');
    }
  }
  return r as CompletionLine;
}

function parseLines<T>(file: string, check: (raw: unknown) => T): { line: number; value: T }[] {
  if (!existsSync(file)) throw new UserError(`${file}: file not found`);
  const text = readFileSync(file, 'utf8');
  const out: { line: number; value: T }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i]!.trim();
    if (!s) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(s);
    } catch (e) {
      throw new UserError(`${file} line ${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    try {
      out.push({ line: i + 1, value: check(raw) });
    } catch (e) {
      throw new UserError(`${file} line ${i + 1}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Reads a completions file; errors name the file and line. Duplicate (system, id, sample) is an error. */
export function readCompletions(file: string): CompletionLine[] {
  const rows = parseLines(file, validateCompletion);
  const seen = new Map<string, number>();
  for (const { line, value } of rows) {
    const key = completionKey(value);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new UserError(
        `${file} line ${line}: duplicate completion (system "${value.system}", id "${value.id}", sample ${value.sample ?? 0}; first on line ${first}); give each sample its own "sample" number`,
      );
    }
    seen.set(key, line);
  }
  if (!rows.length) throw new UserError(`${file}: no completions in the file`);
  return rows.map((r) => r.value);
}

/** Checks a graded (or plain completion) line for the report. */
export function validateGraded(raw: unknown): GradedLine | CompletionLine {
  const c = validateCompletion(raw) as GradedLine;
  if (c.grades !== undefined) {
    if (typeof c.grades !== 'object' || c.grades === null) throw new Error('"grades" must be an object');
    for (const d of DIMENSIONS) {
      const v = (c.grades as Record<string, unknown>)[d];
      if (typeof v !== 'number' || !(v >= 1 && v <= 10))
        throw new Error(`grades.${d} must be a number from 1 to 10, got ${JSON.stringify(v)}`);
    }
  }
  if (
    c.age_group !== undefined &&
    c.age_group !== null &&
    !(AGE_GROUPS as readonly string[]).includes(c.age_group)
  ) {
    throw new Error(
      `"age_group" must be one of ${AGE_GROUPS.join(', ')} or null, got ${JSON.stringify(c.age_group)}`,
    );
  }
  return c;
}

/** Reads graded or completion lines with their line numbers (for the report). */
export function readGraded(file: string): { line: number; value: GradedLine | CompletionLine }[] {
  const rows = parseLines(file, validateGraded);
  if (!rows.length) throw new UserError(`${file}: no lines in the file`);
  return rows;
}
