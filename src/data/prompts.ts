/**
 * The paper's describer prompts (NanoVLMs, arXiv 2502.07838): Prompt 1 writes ShortDesc, Prompt 2 (the
 * same text with "60-70 word (5-6 sentences)") writes LongDesc. Plus the length rules they state, and how
 * an answer is checked against them.
 */

export type DescKind = 'short' | 'long';

export const PROMPT_SHORT =
  'You are a 4-5 year old kid who has to write a short description using very simple english words. ' +
  'Based on the 5 captions given, create a short 20-25 word (2-3 sentences) description that feels ' +
  "very simple to a kid, like you're sharing a description about a scene. Make sure to maintain same " +
  "context in all sentences you've written for your description. Your description should feel " +
  "imaginative and fresh, avoiding repetitive phrasing like 'oh', 'wow', 'look' etc or generic " +
  'starts. Keep your tone fresh and let your curiosity shine.';

export const PROMPT_LONG = PROMPT_SHORT.replace('20-25 word (2-3 sentences)', '60-70 word (5-6 sentences)');

export const PROMPTS: Record<DescKind, string> = { short: PROMPT_SHORT, long: PROMPT_LONG };

export interface LengthRule {
  minWords: number;
  maxWords: number;
  minSentences: number;
  maxSentences: number;
}

export const LENGTH_RULES: Record<DescKind, LengthRule> = {
  short: { minWords: 20, maxWords: 25, minSentences: 2, maxSentences: 3 },
  long: { minWords: 60, maxWords: 70, minSentences: 5, maxSentences: 6 },
};

/** Words = whitespace-separated pieces with a letter or digit ("kid's" and "ice-cream" are one word). */
export function countWords(text: string): number {
  return text.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
}

/** Sentences = pieces ended by . ! ? (or the end of the text) that contain a word. */
export function countSentences(text: string): number {
  return text.split(/[.!?]+(?=["'”’)\]]*(?:\s|$))/u).filter((s) => /[\p{L}\p{N}]/u.test(s)).length;
}

export interface LengthCheck {
  ok: boolean;
  words: number;
  sentences: number;
}

export function checkLength(text: string, kind: DescKind): LengthCheck {
  const r = LENGTH_RULES[kind];
  const words = countWords(text);
  const sentences = countSentences(text);
  const ok = words >= r.minWords && words <= r.maxWords && sentences >= r.minSentences && sentences <= r.maxSentences;
  return { ok, words, sentences };
}

/** The user message: the paper's prompt followed by the record's captions. */
export function describePrompt(kind: DescKind, captions: readonly string[]): string {
  const list = captions.map((c, i) => `${i + 1}. ${c}`).join('\n');
  return `${PROMPTS[kind]}\n\nCaptions:\n${list}\n\nWrite only the description.`;
}

/** The follow-up sent when an answer breaks the length rule. */
export function reaskPrompt(kind: DescKind, check: LengthCheck): string {
  const r = LENGTH_RULES[kind];
  return (
    `Your description has ${check.words} words in ${check.sentences} sentences, but it must have ` +
    `${r.minWords}-${r.maxWords} words in ${r.minSentences}-${r.maxSentences} sentences. ` +
    'Rewrite it to fit, keeping the same scene. Write only the description.'
  );
}

/** Removes wrapping quotes, a leading "Description:" label and extra whitespace from an answer. */
export function cleanAnswer(text: string): string {
  let t = text.replace(/\s+/g, ' ').trim();
  t = t.replace(/^(\*\*)?(short |long )?description(\*\*)?\s*:\s*/i, '');
  const quotes: [string, string][] = [
    ['"', '"'],
    ['“', '”'],
    ["'", "'"],
  ];
  for (const [open, close] of quotes) {
    if (t.length > 1 && t.startsWith(open) && t.endsWith(close)) t = t.slice(open.length, -close.length).trim();
  }
  return t;
}
