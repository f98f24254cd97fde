// Text generators for the tokenizer tests and benchmark: simple scene descriptions (like the dataset's) and
// deliberately awkward strings (punctuation, numbers, odd whitespace, contractions, many scripts, emoji).
import { daleChall } from 'dale-chall';
import { Rng } from '../../src/util/rng.ts';

// prettier-ignore
const things = [
  'dog', 'cat', 'ball', 'tree', 'house', 'car', 'bird', 'fish', 'apple', 'banana', 'duck', 'frog', 'kite',
  'boat', 'cake', 'flower', 'horse', 'cow', 'bear', 'rabbit', 'train', 'bus', 'umbrella', 'star', 'moon',
  'sun', 'cloud', 'hat', 'shoe', 'chair', 'table', 'cup', 'balloon', 'pig', 'sheep', 'lion', 'owl', 'snail',
];
// prettier-ignore
const colours = ['red', 'blue', 'green', 'yellow', 'brown', 'pink', 'white', 'black', 'orange', 'purple', 'gray'];
// prettier-ignore
const sizes = ['big', 'little', 'tiny', 'huge', 'small', 'tall', 'round', 'soft', 'happy', 'sleepy', 'funny'];
// prettier-ignore
const places = [
  'on the grass', 'in the sky', 'near the water', 'on the sand', 'in the snow', 'by the window',
  'under the tree', 'on the left', 'on the right', 'in the middle', 'at the top', 'at the bottom',
];
// prettier-ignore
const verbs = [
  'wants to play with', 'is looking at', 'sits next to', 'runs to', 'hides behind', 'jumps over',
  'waves at', 'dreams about', 'sings to', 'rests near', 'smiles at', 'waits for',
];
// prettier-ignore
const endings = [
  'It feels like a fun day.', 'Everyone is having a good time.', 'Maybe they are best friends.',
  'The day is warm and bright.', 'I think they will play all day.', 'It is very quiet here.',
  "They don't want to go home.", "It's time for a nap soon.", "We'll see what happens next!",
  'What a nice place to be?',
];
const numberWords = ['one', 'two', 'three'];

function thing(rng: Rng): string {
  const n = rng.int(3);
  const noun = rng.pick(things);
  const adj = rng.next() < 0.5 ? rng.pick(colours) : rng.pick(sizes);
  return n === 0 ? `the ${adj} ${noun}` : `${numberWords[n]} ${adj} ${noun}s`;
}
const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);

/** An easy word, Zipf-like: the list's early words come up far more often than its late ones. */
function easyWord(rng: Rng): string {
  return daleChall[Math.floor(daleChall.length * rng.next() ** 3)]!;
}

/** One simple-English scene sentence. */
function sentence(rng: Rng): string {
  switch (rng.int(5)) {
    case 4: {
      // Free word order over ~3,000 easy words: the lexical spread of real descriptions.
      const n = 3 + rng.int(6);
      return cap(Array.from({ length: n }, () => easyWord(rng)).join(' ')) + rng.pick(['.', '.', '!', '?']);
    }
    case 0:
      return `${cap(thing(rng))} ${rng.pick(verbs)} ${thing(rng)}.`;
    case 1:
      return `${cap(thing(rng))} is ${rng.pick(places)}.`;
    case 2:
      return `I see ${thing(rng)} ${rng.pick(places)}.`;
    default:
      return rng.pick(endings);
  }
}

/** A description of `sentences` sentences. */
export function description(rng: Rng, sentences: number): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) out.push(sentence(rng));
  return out.join(' ');
}

/** Per scene: a short (2-3 sentences) and a long (5-6 sentences) description and five captions. */
export function sceneTexts(count: number, seed = 1): { short: string[]; long: string[]; captions: string[] } {
  const rng = new Rng(seed);
  const short: string[] = [];
  const long: string[] = [];
  const captions: string[] = [];
  for (let i = 0; i < count; i++) {
    short.push(description(rng, 2 + rng.int(2)));
    long.push(description(rng, 5 + rng.int(2)));
    for (let c = 0; c < 5; c++) captions.push(`A photo of ${thing(rng)} ${rng.pick(places)}.`);
  }
  return { short, long, captions };
}

// prettier-ignore
const oddPieces = [
  "don't", "it's", "we'll", "I'm", "they've", "you'd", "she's", "DON'T", "IT'S", "'quoted'", "rock'n'roll",
  '42', '3.14', '1,000,000', '2024-01-31', '007', '½', '٣٤', '１２３', '12:30pm', '$9.99', '100%', '#1',
  '...', '?!', '--', '(parens)', '[brackets]', '{braces}', '"double"', '«guillemets»', '@user', 'a+b=c',
  'café', 'naïve', 'Ünïcödé', 'straße', 'Ελληνικά', 'русский', 'עברית', 'العربية', 'हिन्दी', '中文字', '日本語の',
  '한국어', 'ไทย', 'e\u0301', '🐶', '🐱🐭', '👨‍👩‍👧', '🇫🇷', '👍🏽', '❤️', '𝕏𝕐', '\u{10FFFF}', '\u0000', '\u0007',
  '\t', '\r\n', '\n\n', '   ', '\u00a0', '\u3000', '\u2028', '\ufeff', '\u200b', 'x\u0085y', '\ud800', '\udfff',
  'CamelCaseWord', 'ALLCAPS', 'snake_case_name', 'https://example.com/a?b=c', 'e-mail@example.org',
];

/** Awkward varied strings: scene sentences mixed with punctuation, numbers, odd spaces, scripts and emoji. */
export function variedTexts(count: number, seed = 7): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    const n = 1 + rng.int(12);
    for (let j = 0; j < n; j++) {
      const r = rng.next();
      if (r < 0.35) parts.push(sentence(rng));
      else if (r < 0.75) parts.push(rng.pick(oddPieces));
      else if (r < 0.85) parts.push(String(rng.int(1_000_000)));
      else if (r < 0.93)
        parts.push(rng.pick(things).repeat(1 + rng.int(30))); // long pieces (heap path)
      else parts.push(String.fromCodePoint(rng.int(0x3000)));
    }
    // Joined by varied whitespace, sometimes none, with leading/trailing spaces now and then.
    const seps = [' ', ' ', ' ', '', '  ', '\n', ' \n ', '\t', '   '];
    let text = parts.map((p, j) => (j ? rng.pick(seps) : '') + p).join('');
    if (rng.next() < 0.1) text = ' ' + text;
    if (rng.next() < 0.1) text += rng.pick([' ', '\n', '  ']);
    out.push(text);
  }
  return out;
}
