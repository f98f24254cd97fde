/**
 * A small multipart/form-data parser (RFC 7578) for a body already in memory (its size is bounded by
 * the server's body limit). Strict: a malformed body is a 400 naming what is wrong, never a guess.
 */
import { badRequest } from './http-error.ts';

export interface FormPart {
  name: string;
  /** Set for file fields. */
  filename?: string;
  contentType?: string;
  data: Buffer;
}

const MAX_PARTS = 32;
const MAX_HEADER_BYTES = 8 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary parameter of a multipart Content-Type, or a 400. */
export function boundaryOf(contentType: string): string {
  const params = parseParams(contentType.slice(contentType.indexOf(';') + 1));
  const b = params.get('boundary');
  if (!b) throw badRequest('multipart body: the Content-Type has no boundary parameter');
  if (b.length > 70) throw badRequest('multipart body: the boundary is longer than 70 characters');
  return b;
}

/** `a=1; b="x; y"` → Map (names lower-cased; quoted values unescaped). */
export function parseParams(s: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))\s*(?:;|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < s.length && (m = re.exec(s))) {
    out.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!.trim());
  }
  return out;
}

export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const between = Buffer.from(`\r\n--${boundary}`);
  // The first delimiter may follow a preamble; it starts the body or a line.
  let pos = body.indexOf(delimiter);
  if (pos < 0 || (pos > 0 && body.indexOf(between) + 2 !== pos)) {
    throw badRequest('multipart body: the boundary from the Content-Type never appears in the body');
  }
  pos += delimiter.length;
  const parts: FormPart[] = [];
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // "--": the closing delimiter
    // Transport padding (spaces/tabs) may follow a delimiter before its CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (!body.subarray(pos, pos + 2).equals(CRLF))
      throw badRequest('multipart body: a boundary line is malformed');
    pos += 2;
    const headEnd = body.indexOf(HEADER_END, pos);
    if (headEnd < 0 || headEnd - pos > MAX_HEADER_BYTES)
      throw badRequest('multipart body: a part has no end of headers');
    const headers = parseHeaders(body.subarray(pos, headEnd).toString('latin1'));
    const start = headEnd + 4;
    const end = body.indexOf(between, start);
    if (end < 0) throw badRequest('multipart body: it ends before the closing boundary (truncated upload?)');
    if (parts.length === MAX_PARTS) throw badRequest(`multipart body: more than ${MAX_PARTS} parts`);
    parts.push({ ...describePart(headers), data: body.subarray(start, end) });
    pos = end + between.length;
  }
}

function parseHeaders(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw badRequest(`multipart body: bad part header line "${line.slice(0, 80)}"`);
    out.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return out;
}

function describePart(headers: Map<string, string>): Omit<FormPart, 'data'> {
  const disposition = headers.get('content-disposition');
  if (!disposition || !/^form-data\s*(;|$)/i.test(disposition)) {
    throw badRequest('multipart body: a part lacks "Content-Disposition: form-data"');
  }
  const params = parseParams(disposition.slice(disposition.indexOf(';') + 1));
  const name = params.get('name');
  if (name === undefined) throw badRequest('multipart body: a part has no field name');
  const filename = params.get('filename');
  const contentType = headers.get('content-type');
  return { name, ...(filename !== undefined && { filename }), ...(contentType && { contentType }) };
}
