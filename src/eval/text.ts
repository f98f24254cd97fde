/**
 * Text helpers shared by the measures: word tokens, sentences, and joining a prefix with its completion.
 *
 * Words are lower-cased runs of letters and digits, with inner apostrophes kept ("don't", "dog's").
 * Punctuation is dropped. The same tokens feed ROUGE, distinct-n, the memorisation check and the
 * simple-word share, so those numbers are comparable with each other.
 */

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

/** Lower-cased word tokens of a text. */
export function words(text: string): string[] {
  return (text.toLowerCase().match(WORD) ?? []).map((w) => w.replace(/’/g, "'"));
}

/**
 * The full text a judge and the measures see: the prefix, then the completion. A completion that starts
 * with a letter or digit is taken to begin a new word (a space is put between); one that starts with
 * white space or punctuation is appended as it is (our own model's completions keep their leading space).
 */
export function joinPrefix(prefix: string, completion: string): string {
  if (!prefix) return completion.trim();
  if (!completion) return prefix.trim();
  if (/^[\s.,;:!?'’")\]}-]/u.test(completion) || /\s$/u.test(prefix)) return (prefix + completion).trim();
  return `${prefix} ${completion}`.trim();
}

/**
 * Splits a text into sentences at `.`, `!` or `?` (runs of them, plus closing quotes) followed by white
 * space or the end. White space inside a sentence is collapsed to single spaces.
 */
export function sentences(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/[^.!?]*(?:[.!?]+["'’”)]*|$)/gu)) {
    const s = m[0].replace(/\s+/g, ' ').trim();
    if (s && /[\p{L}\p{N}]/u.test(s)) out.push(s);
  }
  return out;
}

/** The first `n` words of a text, cut at a word boundary (punctuation attached to a word is kept). */
export function firstWords(text: string, n: number): string {
  const parts = text.trim().split(/\s+/);
  return parts.slice(0, n).join(' ');
}

/** Number of white-space separated words. */
export function wordCount(text: string): number {
  const t = text.trim();
  return t ? t.split(/\s+/).length : 0;
}
