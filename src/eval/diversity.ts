/**
 * Diversity and vocabulary measures over a set of generated texts:
 * - distinct-n (Li et al., 2016): distinct n-grams / all n-grams, pooled over the texts;
 * - simple-word share: share of word tokens on the New Dale-Chall list of familiar words (npm
 *   `dale-chall`). As the Dale-Chall formula does, regular inflections of a listed word count as
 *   familiar: -s, -es, -ies, -ed, -d, -ied, -ing (also with a doubled consonant or a dropped e), -er,
 *   -est, -ly, -'s. Numbers written in digits count as familiar.
 */
import { daleChall } from 'dale-chall';
import { words } from './text.ts';

export interface Distinct {
  ngrams: number;
  distinct: number;
  /** distinct / ngrams (0 when there are none). */
  ratio: number;
}

/** distinct-n pooled over texts (n-grams never cross from one text into the next). */
export function distinctN(texts: readonly string[], n: number): Distinct {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const w = words(t);
    for (let i = 0; i + n <= w.length; i++) {
      seen.add(w.slice(i, i + n).join(' '));
      total++;
    }
  }
  return { ngrams: total, distinct: seen.size, ratio: total ? seen.size / total : 0 };
}

let familiar: Set<string> | null = null;
function familiarWords(): Set<string> {
  familiar ??= new Set(daleChall.map((w) => w.toLowerCase()));
  return familiar;
}

/** Base forms a word may be an inflection of (the word itself first). */
function baseForms(w: string): string[] {
  const out = [w];
  const strip = (suffix: string, ...adds: string[]) => {
    if (w.length > suffix.length + 1 && w.endsWith(suffix)) {
      const stem = w.slice(0, -suffix.length);
      for (const a of adds) out.push(stem + a);
      // doubled final consonant: running → run, bigger → big
      if (/([b-df-hj-np-tv-z])\1$/.test(stem)) out.push(stem.slice(0, -1));
    }
  };
  strip("'s", '');
  strip('ies', 'y');
  strip('ied', 'y');
  strip('es', '');
  strip('s', '');
  strip('ed', '', 'e');
  strip('d', '');
  strip('ing', '', 'e');
  strip('er', '', 'e');
  strip('est', '', 'e');
  strip('ier', 'y');
  strip('iest', 'y');
  strip('ly', '');
  strip('ily', 'y');
  return out;
}

export function isSimpleWord(word: string): boolean {
  const w = word.toLowerCase();
  if (/^\d+$/.test(w)) return true;
  const list = familiarWords();
  return baseForms(w).some((b) => list.has(b));
}

export interface SimpleWordShare {
  words: number;
  simple: number;
  share: number;
}

export function simpleWordShare(texts: readonly string[]): SimpleWordShare {
  let total = 0;
  let simple = 0;
  for (const t of texts) {
    for (const w of words(t)) {
      total++;
      if (isSimpleWord(w)) simple++;
    }
  }
  return { words: total, simple, share: total ? simple / total : 0 };
}
