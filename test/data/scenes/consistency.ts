/**
 * An independent reader of the generated texts: finds where each thing is named and checks the words
 * against the scene graph (number words, singular/plural, absent things, left/right/near/far).
 */
import assert from 'node:assert/strict';
import { THINGS, thing } from '../../../src/data/scenes/catalog.ts';
import type { Scene } from '../../../src/data/scenes/types.ts';
import { meetsLengthRule } from '../../../src/data/scenes/measure.ts';
import type { SceneRecord } from '../../../src/data/scenes/record.ts';

const NUMBERS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, both: 2, pair: 2 };
const COLOURS = new Set(['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'white', 'black', 'gray', 'brown', 'gold']);
const SKIP = new Set([
  ...COLOURS,
  'and', 'big', 'large', 'little', 'small', 'tiny', 'of', 'bunch', 'bunches', 'piece', 'pieces', 'loaf', 'loaves', 'cob', 'cobs', 'group', 'pairs', 'all',
]);

interface NameForm {
  thing: string;
  tokens: string[];
  plural: boolean;
}
const FORMS: NameForm[] = THINGS.flatMap((t) => [
  { thing: t.name, tokens: t.name.split(' '), plural: false },
  ...(t.plural !== t.name ? [{ thing: t.name, tokens: t.plural.split(' '), plural: true }] : []),
]);
const NAME_WORDS = new Set(FORMS.flatMap((f) => f.tokens));

export function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[.!?,]/g, ' $& ')
    .split(/\s+/)
    .filter(Boolean);
}

export interface Mention {
  thing: string;
  start: number;
  end: number;
  plural: boolean;
}

/** Every naming of a catalog thing, longest match first ("teddy bear" is not also a "bear"). */
export function mentions(tokens: string[]): Mention[] {
  const found: Mention[] = [];
  for (const f of FORMS) {
    for (let i = 0; i + f.tokens.length <= tokens.length; i++) {
      if (f.tokens.every((t, k) => tokens[i + k] === t)) found.push({ thing: f.thing, start: i, end: i + f.tokens.length, plural: f.plural });
    }
  }
  const kept = found.filter((m) => !found.some((o) => o !== m && o.end - o.start > m.end - m.start && o.start <= m.start && o.end >= m.end));
  // "orange" is a colour unless it is used as a noun: after an article or number, and not before a noun.
  return kept.filter((m) => {
    if (m.thing !== 'orange' || m.plural) return true;
    let j = m.start - 1;
    while (j >= 0 && SKIP.has(tokens[j]!) && !COLOURS.has(tokens[j]!)) j--;
    const det = tokens[j];
    const next = tokens[m.end];
    return (det === 'the' || (det !== undefined && det in NUMBERS)) && !(next && NAME_WORDS.has(next));
  });
}

const FRUIT = new Set(['apple', 'banana', 'orange', 'grapes', 'strawberry', 'watermelon', 'cherries', 'pear', 'lemon', 'pineapple']);
const PLANTS = new Set(['flower', 'tulip', 'sunflower', 'rose', 'cactus']);
const KIND_WORDS: Record<string, (name: string, kind: string) => boolean> = {
  animal: (_n, k) => k === 'animal',
  toy: (_n, k) => k === 'toy',
  fruit: (n) => FRUIT.has(n),
  plant: (n) => PLANTS.has(n),
};

/** Groups named by a kind word ("the animals") that only one group in the scene fits. */
function kindWords(tokens: string[], scene: Scene): string[] {
  const out: string[] = [];
  for (const [word, fits] of Object.entries(KIND_WORDS)) {
    if (!tokens.includes(word) && !tokens.includes(`${word}s`)) continue;
    const groups = scene.groups.filter((g) => fits(g.name, g.kind));
    if (groups.length === 1) out.push(groups[0]!.name);
  }
  return out;
}

/** The number said right before a mention ("two big dogs" → 2), or null. */
function numberBefore(tokens: string[], m: Mention): number | null {
  const unit = thing(m.thing).unit;
  for (let j = m.start - 1; j >= 0 && j >= m.start - 6; j--) {
    const t = tokens[j]!;
    if (t === 'pair' && unit?.one.includes('pair')) continue;
    if (t in NUMBERS) return NUMBERS[t]!;
    if (!SKIP.has(t)) return null;
  }
  return null;
}

/** Problems with one text, as readable strings (empty when the text agrees with the scene). */
export function checkText(scene: Scene, text: string, requireAll: boolean): string[] {
  const problems: string[] = [];
  const tokens = tokenize(text);
  const ms = mentions(tokens);
  const byName = new Map(scene.groups.map((g) => [g.name, g]));
  for (const m of ms) {
    const g = byName.get(m.thing);
    if (!g) {
      problems.push(`names "${m.thing}", which is not in the picture`);
      continue;
    }
    const t = thing(g.name);
    if (m.plural && g.count === 1 && !t.unit) problems.push(`"${m.thing}" is plural but there is one`);
    if (!m.plural && g.count > 1 && !t.unit && t.plural !== t.name) problems.push(`"${m.thing}" is singular but there are ${g.count}`);
    const n = numberBefore(tokens, m);
    if (n !== null && n !== g.count) problems.push(`says ${n} ${m.thing} but there are ${g.count}`);
  }
  if (requireAll) {
    for (const g of scene.groups) if (!ms.some((m) => m.thing === g.name)) problems.push(`never names the ${g.name}`);
  }
  // Position words in clauses about exactly one thing. Clauses joined by "and" are read apart; a
  // kind word ("the animals") names the one group of that kind; clauses that only say "it" are skipped.
  const clauses = text.split(/(?<=[.!?])\s+|,? and (?=(?:the|it|they|i|we|a|an|there|maybe|one|two|three|everything|this|soon)\b)/i);
  for (const s of clauses) {
    const named = new Set(mentions(tokenize(s)).map((m) => m.thing));
    for (const k of kindWords(tokenize(s), scene)) named.add(k);
    if (named.size !== 1) continue;
    const g = byName.get([...named][0]!);
    if (!g) continue;
    const low = s.toLowerCase();
    const claim = (cond: boolean, phrase: string) => {
      if (!cond) problems.push(`"${s}" says ${phrase} but the ${g.name} is h=${g.h} v=${g.v} depth=${g.depth}`);
    };
    if (/\bon the left\b/.test(low)) claim(g.h === 'left', 'left');
    if (/\bon the right\b/.test(low)) claim(g.h === 'right', 'right');
    if (/\bin the (middle|center)\b/.test(low)) claim(g.h === 'middle', 'middle');
    if (/\bone on each side\b/.test(low)) claim(g.h === 'across' && g.count === 2, 'one on each side');
    if (/\b(far away|far back|in the back|in the background)\b/.test(low)) claim(g.depth === 'far', 'far');
    if (/\b(close to us|up close|near us|in the foreground)\b/.test(low)) claim(g.depth === 'near', 'near');
    if (/\b(at|near) the top\b/.test(low)) claim(g.v === 'top', 'top');
    if (/\b(at|near) the bottom\b/.test(low)) claim(g.v === 'bottom', 'bottom');
  }
  return problems;
}

/**
 * Scene i's record: five distinct captions, and its ShortDesc, LongDesc and captions each within its length
 * rule (asserted) and true to the scene (what checkText finds is added to `problems`).
 */
export function checkRecordTexts(i: number, scene: Scene, record: SceneRecord, problems: string[]): void {
  assert.equal(record.captions.length, 5);
  assert.equal(new Set(record.captions).size, 5);
  const texts: [string, string, Parameters<typeof meetsLengthRule>[1]][] = [
    ['short', record.short, 'short'],
    ['long', record.long, 'long'],
    ...record.captions.map((c, k) => [`caption ${k}`, c, 'caption'] as [string, string, 'caption']),
  ];
  for (const [label, text, kind] of texts) {
    assert.ok(meetsLengthRule(text, kind), `scene ${i} ${label} breaks the length rule: ${text}`);
    for (const p of checkText(scene, text, true)) problems.push(`scene ${i} ${label}: ${p}\n  ${text}`);
  }
}

/** Each group of scene i holds 1-3 things, every one inside the 224×224 picture (a pixel of slack). */
export function assertGroupsFit(i: number, s: Scene): void {
  for (const g of s.groups) {
    assert.ok(g.count >= 1 && g.count <= 3 && g.items.length === g.count);
    for (const it of g.items) {
      assert.ok(it.x - it.size / 2 >= -1 && it.x + it.size / 2 <= 225, `scene ${i}: ${g.name} leaves the picture`);
      assert.ok(it.y - it.size / 2 >= -1 && it.y + it.size / 2 <= 225, `scene ${i}: ${g.name} leaves the picture`);
    }
  }
}
