/**
 * Reading a judge's answer: first as JSON (the whole answer, a ```json fence, or the first {...} in it),
 * then, failing that, as text ("Grammar: 7/10", "creativity - 6 out of 10", "Age group: B").
 * Grades must be numbers from 1 to 10 for all five dimensions; the age group is A-F (or missing).
 */
import { AGE_GROUPS, DIMENSIONS, type AgeGroup, type Dimension, type Grades } from './format.ts';

export interface ParsedAnswer {
  grades: Grades;
  ageGroup: AgeGroup | null;
  assessment: string;
  from: 'json' | 'text';
}

export class AnswerError extends Error {}

/** A grade from a number or a string like "7", "7/10", "7 out of 10", "7.5". */
function gradeValue(v: unknown, dim: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*10|out of 10)?\s*$/i.exec(v);
    if (!m) throw new AnswerError(`${dim} is not a number (${JSON.stringify(v)})`);
    n = Number(m[1]);
  } else if (v === undefined || v === null) {
    throw new AnswerError(`no grade for ${dim}`);
  } else {
    throw new AnswerError(`${dim} is not a number (${JSON.stringify(v)})`);
  }
  if (!Number.isFinite(n) || n < 1 || n > 10) throw new AnswerError(`${dim} = ${n} is outside 1-10`);
  return n;
}

function ageValue(v: unknown): AgeGroup | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new AnswerError(`age group is not a letter (${JSON.stringify(v)})`);
  const m = /^\s*\(?([A-F])\b/i.exec(v);
  if (!m) throw new AnswerError(`age group "${v}" is not one of ${AGE_GROUPS.join(', ')}`);
  return m[1]!.toUpperCase() as AgeGroup;
}

const norm = (k: string) => k.toLowerCase().replace(/[^a-z]/g, '');

/** The JSON object inside an answer, or null. */
function findJson(text: string): Record<string, unknown> | null {
  const tries = [text.trim()];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  if (fence) tries.push(fence[1]!.trim());
  const a = text.indexOf('{');
  const b = text.lastIndexOf('}');
  if (a >= 0 && b > a) tries.push(text.slice(a, b + 1));
  for (const t of tries) {
    try {
      const v = JSON.parse(t);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Keys normalised ("Age group" → agegroup) with nesting like {"grades": {...}} flattened. */
function flatten(obj: Record<string, unknown>): Map<string, unknown> {
  const flat = new Map<string, unknown>();
  const walk = (o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>);
      else if (!flat.has(norm(k))) flat.set(norm(k), v);
    }
  };
  walk(obj);
  return flat;
}

function fromJson(obj: Record<string, unknown>): ParsedAnswer {
  const flat = flatten(obj);
  const grades = {} as Grades;
  for (const d of DIMENSIONS) grades[d] = gradeValue(flat.get(d), d);
  const ageGroup = ageValue(flat.get('agegroup') ?? flat.get('age') ?? flat.get('agegroupguess'));
  const assessment = flat.get('assessment') ?? flat.get('generalassessment') ?? '';
  return {
    grades,
    ageGroup,
    assessment: typeof assessment === 'string' ? assessment : JSON.stringify(assessment),
    from: 'json',
  };
}

function fromText(text: string): ParsedAnswer {
  const grades = {} as Grades;
  const missing: Dimension[] = [];
  for (const d of DIMENSIONS) {
    // the last mention wins: an assessment may talk about "grammar" before the grade lines
    const re = new RegExp(`\\b${d}\\b[^0-9\\n]{0,30}?(\\d+(?:\\.\\d+)?)\\s*(?:/\\s*10|out of 10)?`, 'gi');
    const all = [...text.matchAll(re)];
    if (!all.length) {
      missing.push(d);
      continue;
    }
    grades[d] = gradeValue(all[all.length - 1]![1], d);
  }
  if (missing.length) throw new AnswerError(`no grade for ${missing.join(', ')}`);
  const age = /age(?:\s*group)?[^A-Za-z\n]{0,10}\(?([A-F])\b/i.exec(text.replace(/\*\*/g, ''));
  const assessment = text
    .split(/\n\s*\n/)[0]!
    .trim()
    .slice(0, 2000);
  return { grades, ageGroup: age ? (age[1]!.toUpperCase() as AgeGroup) : null, assessment, from: 'text' };
}

/** Reads grades from an answer; throws AnswerError saying what is wrong. */
export function parseJudgeAnswer(text: string): ParsedAnswer {
  const obj = findJson(text);
  // A JSON object with any grade in it is judged as JSON; one without (e.g. {"note": ...} before the
  // grades in prose) leaves the text to the fallback parser.
  if (obj && DIMENSIONS.some((d) => flatten(obj).has(d))) return fromJson(obj);
  return fromText(text);
}
