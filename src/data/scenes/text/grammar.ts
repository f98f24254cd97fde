/**
 * Small grammar helpers shared by the caption and description generators: choosing among alternatives,
 * verb agreement in templates, articles, number words and lists.
 */
import type { Rng } from '../../../util/rng.ts';

export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five'] as const;

/** One alternative: a string, or a function that builds one (returning null when it does not apply). */
export type Alt = string | null | (() => string | null);

/** Picks one applicable alternative at random (inapplicable ones, null, are skipped). */
export function choose(rng: Rng, alts: readonly Alt[]): string {
  const order = rng.shuffle(alts.map((_, i) => i));
  for (const i of order) {
    const a = alts[i]!;
    const v = typeof a === 'function' ? a() : a;
    if (v !== null) return v;
  }
  throw new Error('no applicable alternative');
}

/** Like choose, with a weight per alternative. */
export function chooseWeighted(rng: Rng, alts: readonly [number, Alt][]): string {
  const live = alts.slice();
  while (live.length) {
    let total = 0;
    for (const [w] of live) total += w;
    let r = rng.next() * total;
    let k = 0;
    for (; k < live.length - 1; k++) {
      r -= live[k]![0];
      if (r < 0) break;
    }
    const a = live[k]![1];
    const v = typeof a === 'function' ? a() : a;
    if (v !== null) return v;
    live.splice(k, 1);
  }
  throw new Error('no applicable alternative');
}

/** Each marker's singular and plural form. */
const AGREEMENT: Record<string, [string, string]> = {
  s: ['s', ''],
  es: ['es', ''],
  ies: ['ies', 'y'],
  is: ['is', 'are'],
  has: ['has', 'have'],
  does: ['does', 'do'],
  was: ['was', 'were'],
  its: ['its', 'their'],
  it: ['it', 'they'],
  them: ['it', 'them'],
};

/**
 * Fills agreement marks for a singular or plural subject: {s} (wants/want), {es} (watches/watch),
 * {ies} (flies/fly), {is}, {has}, {does}, {was}, {its}, {it} (subject), {them} (object).
 */
export function agree(template: string, plural: boolean): string {
  return template.replace(/\{(s|es|ies|is|has|does|was|its|it|them)\}/g, (_, m: string) => AGREEMENT[m]![plural ? 1 : 0]);
}

/** "a" or "an" for the word that follows. */
export function article(next: string): string {
  const w = next.toLowerCase();
  if (/^(uni|use|one|eu)/.test(w)) return 'a';
  if (/^(hour|honest)/.test(w)) return 'an';
  return /^[aeiou]/.test(w) ? 'an' : 'a';
}

export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Joins phrases as a child would: "a, b and c", or sometimes "a and b and c". */
export function joinList(rng: Rng | null, items: string[], conj = 'and'): string {
  if (items.length <= 1) return items[0] ?? '';
  if (items.length === 2) return `${items[0]} ${conj} ${items[1]}`;
  if (rng && rng.next() < 0.25) return items.join(` ${conj} `);
  return `${items.slice(0, -1).join(', ')} ${conj} ${items[items.length - 1]}`;
}

/** Makes a finished sentence: capital first letter, one final mark, single spaces. */
export function sentence(text: string, mark = '.'): string {
  const t = text.replace(/\s+/g, ' ').replace(/\s+,/g, ',').trim();
  return capitalise(t) + mark;
}

export function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => /[a-z]/i.test(w)).length;
}
