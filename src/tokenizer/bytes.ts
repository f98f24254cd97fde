/**
 * GPT-2's byte-to-character table: every byte gets a printable Unicode character so that byte strings can
 * be stored as ordinary strings in tokenizer.json. Printable Latin-1 bytes map to themselves; the rest
 * (control characters, space, a few others) map to U+0100 onwards in byte order.
 */
function buildByteToChar(): string[] {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : next++);
  return out;
}

export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8 = new TextEncoder();

/** UTF-8 bytes of a string (lone surrogates become U+FFFD, as TextEncoder and Hugging Face's tokenizers do). */
export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

/** The byte-level form of a string: its UTF-8 bytes, each written as its table character. */
export function toByteLevel(text: string): string {
  let s = '';
  for (const b of utf8.encode(text)) s += BYTE_TO_CHAR[b];
  return s;
}

/** Bytes of a byte-level string, or null when it holds a character outside the table. */
export function fromByteLevel(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token[i]!);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}
