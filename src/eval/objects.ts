/**
 * Object naming scores for pictures whose contents are known (the built-in scenes keep them in `meta`):
 * - recall: share of the kinds of things in the picture that the description names (name or plural);
 * - precision: share of the known things the description names that are really in the picture;
 * - count accuracy: among named things that are there and whose number the text states or implies
 *   ("two dogs", "a dog", "the dog"), the share where that number is right.
 * Totals are pooled over all pictures (micro averages), so a picture with four kinds of things weighs
 * more than one with a single thing.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.ts';

export interface KnownObject {
  name: string;
  plural: string;
  kind?: string;
}

/** One thing named in a text. `count` is the number the text gives or implies; null when unknown. */
export interface Mention {
  name: string;
  count: number | null;
  /** Word index of the mention in the text (for tests and debugging). */
  at: number;
}

export interface ObjectScore {
  /** Things in the picture: name → how many. */
  present: Map<string, number>;
  /** Known things the text names (once each, first mention with a stated number wins). */
  named: Mention[];
  truePositives: number;
  countJudged: number;
  countCorrect: number;
}

export interface ObjectTotals {
  images: number;
  present: number;
  named: number;
  truePositives: number;
  recall: number;
  precision: number;
  countJudged: number;
  countAccuracy: number;
}

const DEFAULT_OBJECTS = fileURLToPath(new URL('../data/scenes/objects.json', import.meta.url));

/** The known-things list (`objects.json` of the scenes: `{objects: [{name, plural, kind}]}`). */
export function loadKnownObjects(file = DEFAULT_OBJECTS): KnownObject[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: cannot read the objects list (${(e as Error).message})`);
  }
  const list = Array.isArray(raw) ? raw : (raw as { objects?: unknown })?.objects;
  if (!Array.isArray(list)) throw new UserError(`${file}: expected {"objects": [...]}`);
  return list.map((o, i) => {
    const { name, plural, kind } = o as Partial<KnownObject>;
    if (typeof name !== 'string' || !name) throw new UserError(`${file}: objects[${i}] has no "name"`);
    return { name, plural: typeof plural === 'string' && plural ? plural : name, kind };
  });
}

const NUMBER_WORDS: Record<string, number> = {
  a: 1,
  an: 1,
  one: 1,
  single: 1,
  lone: 1,
  two: 2,
  pair: 2,
  both: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
};
/** Words after which "orange" is the fruit, not the colour ("an orange rolls", "the orange and..."). */
const FUNCTION_WORDS = new Set(
  (
    'and or but is are was were be on in at by near with under over beside behind next to of the a an ' +
    'that which who sits sit lies lie rests rest rolls roll stands stand waits wait too also here there ' +
    'looks look feels feel has have can will'
  ).split(' '),
);

/** Words before "orange" that make it a colour ("turns orange", "is orange", "red and orange"). */
const COLOUR_CONTEXT = new Set(
  'is are was were turns turn turned looks look glows glow bright very so all and or of'.split(' '),
);

type Token = { word: string | null; at: number };

/** Lower-case words; punctuation becomes a boundary token (word: null) so number look-back stops there. */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const re = /([a-z]+(?:'[a-z]+)?)|([.,;:!?()"])/g;
  let i = 0;
  for (const m of text.toLowerCase().matchAll(re)) {
    out.push(m[1] ? { word: m[1].replace(/'s$/, ''), at: i++ } : { word: null, at: i++ });
  }
  return out;
}

/** Phrase index: first word → phrases (as word arrays) starting with it, longest first. */
export class ObjectMatcher {
  private readonly byFirst = new Map<string, { words: string[]; name: string; plural: boolean }[]>();
  readonly names: Set<string>;
  constructor(readonly objects: KnownObject[]) {
    this.names = new Set(objects.map((o) => o.name));
    for (const o of objects) {
      const forms: [string, boolean][] = [[o.name, false]];
      if (o.plural !== o.name) forms.push([o.plural, true]);
      for (const [form, plural] of forms) {
        const words = form.toLowerCase().split(/\s+/);
        const list = this.byFirst.get(words[0]!) ?? [];
        list.push({ words, name: o.name, plural });
        this.byFirst.set(words[0]!, list);
      }
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.words.length - a.words.length);
  }

  private matchAt(tokens: Token[], i: number): { words: string[]; name: string; plural: boolean } | null {
    const first = tokens[i]!.word;
    if (!first) return null;
    for (const cand of this.byFirst.get(first) ?? []) {
      if (cand.words.every((w, j) => tokens[i + j]?.word === w)) return cand;
    }
    return null;
  }

  /** Every mention of a known thing, in text order. Longest names win ("teddy bear" is not a bear). */
  mentions(text: string): Mention[] {
    const tokens = tokenize(text);
    const out: Mention[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const hit = this.matchAt(tokens, i);
      if (!hit) continue;
      const next = tokens[i + hit.words.length];
      // Colour/verb readings of object words: "orange" before a noun is a colour, "the sun rose" a verb.
      const prev = i > 0 ? tokens[i - 1]!.word : null;
      if (hit.name === 'orange' && !hit.plural) {
        if (next?.word && !FUNCTION_WORDS.has(next.word)) continue; // "an orange cat"
        if (prev && COLOUR_CONTEXT.has(prev)) continue; // "the sky turns orange", "red and orange"
      }
      // "time for bed", "go to bed": the idiom, not a bed in the picture.
      if (hit.name === 'bed' && !hit.plural && (prev === 'for' || prev === 'to')) continue;
      if (
        hit.name === 'rose' &&
        !hit.plural &&
        ((i > 0 && this.matchAt(tokens, i - 1)) || next?.word === 'up')
      )
        continue;
      out.push({
        name: hit.name,
        count: this.statedCount(tokens, i, hit.plural, hit.name),
        at: tokens[i]!.at,
      });
      i += hit.words.length - 1;
    }
    return out;
  }

  /** The number before a mention (up to 3 words back, not across punctuation or another thing). */
  private statedCount(tokens: Token[], i: number, plural: boolean, name: string): number | null {
    const obj = this.objects.find((o) => o.name === name)!;
    // "scissors", "glasses": one form for one and many, and "a pair of" is one of them.
    const pairNoun = obj.plural === obj.name && obj.name.endsWith('s');
    for (let j = i - 1; j >= Math.max(0, i - 4); j--) {
      const w = tokens[j]!.word;
      if (!w || this.matchAt(tokens, j)) break;
      if (w === 'pairs') {
        const n = j > 0 ? NUMBER_WORDS[tokens[j - 1]!.word ?? ''] : undefined;
        return n === undefined || n === 1 ? null : pairNoun ? n : 2 * n;
      }
      const n = NUMBER_WORDS[w];
      if (n !== undefined) {
        if (w === 'pair' && pairNoun) return 1;
        // "a pair of", "a few", "a lot of": only trust "a"/"an" next to a singular noun
        if (n === 1 && plural) break;
        return n;
      }
      if (w === 'many' || w === 'some' || w === 'few' || w === 'several') return null;
    }
    if (obj.plural === obj.name) return null; // "sheep", "fish": number not implied by the form
    return plural ? null : 1;
  }
}

/**
 * Things in a scene picture from its `meta`: `meta.groups` (the scene graph: one group per kind of thing,
 * with its count) or `meta.objects` ([{name, count?}], one entry per kind or per copy).
 */
export function presentFromMeta(meta: unknown): Map<string, number> {
  const m = meta as { objects?: unknown; groups?: unknown } | null | undefined;
  const list = Array.isArray(m?.groups) ? m.groups : m?.objects;
  if (!Array.isArray(list)) throw new UserError('scene meta has no "groups" or "objects" list');
  const present = new Map<string, number>();
  for (const o of list) {
    const name = typeof o === 'string' ? o : (o as { name?: unknown })?.name;
    if (typeof name !== 'string') throw new UserError('scene meta: a thing has no "name"');
    const count = typeof (o as { count?: unknown }).count === 'number' ? (o as { count: number }).count : 1;
    present.set(name, (present.get(name) ?? 0) + count);
  }
  return present;
}

/** Scores one description against the things in its picture. */
export function scoreDescription(
  text: string,
  present: Map<string, number>,
  matcher: ObjectMatcher,
): ObjectScore {
  const firstByName = new Map<string, Mention>();
  for (const m of matcher.mentions(text)) {
    const prev = firstByName.get(m.name);
    if (!prev || (prev.count === null && m.count !== null))
      firstByName.set(m.name, prev ? { ...m, at: prev.at } : m);
  }
  const named = [...firstByName.values()].sort((a, b) => a.at - b.at);
  let truePositives = 0;
  let countJudged = 0;
  let countCorrect = 0;
  for (const m of named) {
    const truth = present.get(m.name);
    if (truth === undefined) continue;
    truePositives++;
    if (m.count !== null) {
      countJudged++;
      if (m.count === truth) countCorrect++;
    }
  }
  return { present, named, truePositives, countJudged, countCorrect };
}

/** Pools per-picture scores into recall, precision and count accuracy. */
export function totalScores(scores: ObjectScore[]): ObjectTotals {
  let present = 0;
  let named = 0;
  let tp = 0;
  let judged = 0;
  let correct = 0;
  for (const s of scores) {
    present += s.present.size;
    named += s.named.length;
    tp += s.truePositives;
    judged += s.countJudged;
    correct += s.countCorrect;
  }
  return {
    images: scores.length,
    present,
    named,
    truePositives: tp,
    recall: present ? tp / present : 0,
    precision: named ? tp / named : 0,
    countJudged: judged,
    countAccuracy: judged ? correct / judged : 0,
  };
}
