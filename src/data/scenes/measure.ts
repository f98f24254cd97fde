/**
 * Text statistics for the describer rules: distinct texts, how often the most common opening three words
 * start a text, the paper's length rules, and the share of words on the Dale-Chall list of familiar words
 * (with regular inflections of a listed word counted as familiar, as the Dale-Chall instructions do).
 */
import { daleChall } from 'dale-chall';

/** Length rules: ShortDesc and LongDesc as in the paper; captions are ours (COCO asked for 8+ words). */
export const LENGTH_RULES = {
  short: { words: [20, 25], sentences: [2, 3] },
  long: { words: [60, 70], sentences: [5, 6] },
  caption: { words: [8, 20], sentences: [1, 1] },
} as const;
export type TextKind = keyof typeof LENGTH_RULES;

export function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/\s+/)
    .map((w) => w.replace(/^[^a-z']+|[^a-z']+$/g, ''))
    .filter((w) => w.length > 0);
}

export function sentences(text: string): string[] {
  return text
    .trim()
    .split(/(?<=[.!?])\s+/)
    .filter((s) => s.length > 0);
}

export function meetsLengthRule(text: string, kind: TextKind): boolean {
  const rule = LENGTH_RULES[kind];
  const w = words(text).length;
  const s = sentences(text).length;
  return w >= rule.words[0] && w <= rule.words[1] && s >= rule.sentences[0] && s <= rule.sentences[1];
}

const FAMILIAR = new Set<string>(daleChall);
const IRREGULAR: Record<string, string> = {
  mice: 'mouse',
  cacti: 'cactus',
  snowmen: 'snowman',
  men: 'man',
  women: 'woman',
  children: 'child',
  feet: 'foot',
  teeth: 'tooth',
  geese: 'goose',
  loaves: 'loaf',
  leaves: 'leaf',
  "don't": 'do',
  "can't": 'can',
  "won't": 'will',
  "isn't": 'is',
  "aren't": 'are',
  "doesn't": 'does',
};

/** Candidate base forms of a word: itself, and the word with a regular ending (-s, -ed, -ing, -er, -est, 's) removed. */
export function baseForms(word: string): string[] {
  const w = word.toLowerCase();
  const out = [w];
  if (IRREGULAR[w]) out.push(IRREGULAR[w]!);
  const stem = w.endsWith("'s") || w.endsWith("s'") ? w.slice(0, -2) : w;
  if (stem !== w) out.push(stem);
  const add = (s: string) => {
    if (s.length >= 2) out.push(s);
  };
  const undouble = (s: string) => (s.length > 2 && s[s.length - 1] === s[s.length - 2] ? s.slice(0, -1) : s);
  if (stem.endsWith('ies')) add(stem.slice(0, -3) + 'y');
  if (stem.endsWith('es')) add(stem.slice(0, -2));
  if (stem.endsWith('s') && !stem.endsWith('ss')) add(stem.slice(0, -1));
  if (stem.endsWith('ied')) add(stem.slice(0, -3) + 'y');
  if (stem.endsWith('ed')) {
    add(stem.slice(0, -2));
    add(stem.slice(0, -1));
    add(undouble(stem.slice(0, -2)));
  }
  if (stem.endsWith('ing')) {
    add(stem.slice(0, -3));
    add(stem.slice(0, -3) + 'e');
    add(undouble(stem.slice(0, -3)));
  }
  for (const suffix of ['er', 'est']) {
    if (!stem.endsWith(suffix)) continue;
    const root = stem.slice(0, -suffix.length);
    add(root);
    add(root + 'e');
    add(undouble(root));
    if (root.endsWith('i')) add(root.slice(0, -1) + 'y');
  }
  return out;
}

const familiarCache = new Map<string, boolean>();

export function isFamiliarWord(word: string): boolean {
  let known = familiarCache.get(word);
  if (known === undefined) {
    known = baseForms(word).some((b) => FAMILIAR.has(b));
    familiarCache.set(word, known);
  }
  return known;
}

export interface KindStats {
  count: number;
  /** Share of texts that occur once or more, counted once: distinct / total. */
  distinctShare: number;
  /** The most common first three words and the share of texts starting with them. */
  topOpening: { words: string; share: number };
  /** Share of texts meeting the length rule (words and sentences). */
  lengthPass: number;
  meanWords: number;
  /** Share of word tokens on the Dale-Chall list (with regular inflections). */
  simpleWordShare: number;
}

export interface TextStats {
  short: KindStats;
  long: KindStats;
  captions: KindStats;
  /** Simple-word share over all ShortDesc and LongDesc words together (the figure the issue asks for). */
  simpleWordShare: number;
  /** The same without the object names from objects.json (to show what the names cost). */
  simpleWordShareWithoutNames: number;
  /** Most frequent unfamiliar words in the descriptions, with counts. */
  unfamiliarWords: [string, number][];
}

function kindStats(texts: string[], kind: TextKind, unfamiliar: Map<string, number> | null): KindStats & { familiar: number; total: number } {
  const distinct = new Set(texts).size;
  const openings = new Map<string, number>();
  let pass = 0;
  let totalWords = 0;
  let familiar = 0;
  for (const t of texts) {
    const ws = words(t);
    const opening = ws.slice(0, 3).join(' ');
    openings.set(opening, (openings.get(opening) ?? 0) + 1);
    if (meetsLengthRule(t, kind)) pass++;
    totalWords += ws.length;
    for (const w of ws) {
      if (isFamiliarWord(w)) familiar++;
      else if (unfamiliar) unfamiliar.set(w, (unfamiliar.get(w) ?? 0) + 1);
    }
  }
  let top: [string, number] = ['', 0];
  for (const e of openings) if (e[1] > top[1]) top = e;
  const n = texts.length || 1;
  return {
    count: texts.length,
    distinctShare: distinct / n,
    topOpening: { words: top[0], share: top[1] / n },
    lengthPass: pass / n,
    meanWords: totalWords / n,
    simpleWordShare: familiar / (totalWords || 1),
    familiar,
    total: totalWords,
  };
}

export interface TextRecord {
  captions: string[];
  short?: string;
  long?: string;
}

/**
 * Statistics over a set of records. `objectNames` (single and plural forms) are only used for the
 * share without names; pass the catalog's names.
 */
export function measureTexts(records: readonly TextRecord[], objectNames: Iterable<string> = []): TextStats {
  const unfamiliar = new Map<string, number>();
  const short = kindStats(records.map((r) => r.short ?? ''), 'short', unfamiliar);
  const long = kindStats(records.map((r) => r.long ?? ''), 'long', unfamiliar);
  const captions = kindStats(records.flatMap((r) => r.captions), 'caption', null);
  const nameWords = new Set<string>();
  for (const n of objectNames) for (const w of words(n)) nameWords.add(w);
  let namesTotal = 0;
  let namesFamiliar = 0;
  for (const r of records) {
    for (const w of words(`${r.short ?? ''} ${r.long ?? ''}`)) {
      if (!nameWords.has(w)) continue;
      namesTotal++;
      if (isFamiliarWord(w)) namesFamiliar++;
    }
  }
  const total = short.total + long.total;
  const familiar = short.familiar + long.familiar;
  const strip = ({ familiar: _f, total: _t, ...rest }: KindStats & { familiar: number; total: number }) => rest;
  return {
    short: strip(short),
    long: strip(long),
    captions: strip(captions),
    simpleWordShare: familiar / (total || 1),
    simpleWordShareWithoutNames: (familiar - namesFamiliar) / (total - namesTotal || 1),
    unfamiliarWords: [...unfamiliar].sort((a, b) => b[1] - a[1]).slice(0, 30),
  };
}
