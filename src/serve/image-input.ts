/**
 * Turning what a client sent into pixels for the model. The server fetches nothing and reads no files:
 * images arrive as bytes (upload, raw body), base64, or data: URLs; anything that looks like a URL or
 * a path is refused with a message saying so.
 */
import { loadImage } from '../data/image.ts';
import { UserError } from '../util/errors.ts';
import { badRequest, HttpError } from './http-error.ts';

/** Largest picture (width × height) the server decodes; bigger ones are refused before decoding. */
export const DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function refuseReference(s: string, param: string): never {
  if (/^https?:\/\//i.test(s)) {
    throw badRequest(
      `${param}: remote URLs are not fetched (the server downloads nothing); send the image as a data: URL or base64`,
      param,
    );
  }
  if (/^file:/i.test(s) || /^(\/|\.{1,2}\/|~\/|[A-Za-z]:[\\/])/.test(s)) {
    throw badRequest(
      `${param}: file paths are not read (the server opens no files); send the image itself as a data: URL or base64`,
      param,
    );
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(s)) {
    throw badRequest(
      `${param}: only data: URLs are accepted (got a "${s.slice(0, s.indexOf(':'))}:" URL)`,
      param,
    );
  }
  throw badRequest(`${param}: not valid base64 or a data: URL`, param);
}

/** Decodes a data: URL (`data:image/png;base64,...`) or bare base64 into bytes. */
export function decodeImageString(s: string, param: string): Buffer {
  if (/^data:/i.test(s)) {
    const comma = s.indexOf(',');
    if (comma < 0) throw badRequest(`${param}: malformed data: URL (no comma)`, param);
    const meta = s
      .slice(5, comma)
      .split(';')
      .map((x) => x.trim().toLowerCase());
    const mime = meta[0] || 'text/plain';
    if (!mime.startsWith('image/') && mime !== 'application/octet-stream') {
      throw badRequest(`${param}: the data: URL holds "${mime}", not an image`, param);
    }
    if (!meta.includes('base64'))
      throw badRequest(`${param}: the data: URL must be base64-encoded (";base64,")`, param);
    return strictBase64(s.slice(comma + 1), param) ?? refuseBase64(param);
  }
  return strictBase64(s, param) ?? refuseReference(s.trim(), param);
}

function refuseBase64(param: string): never {
  throw badRequest(`${param}: the data: URL's base64 payload is malformed`, param);
}

/** Bytes of a well-formed base64 (or base64url) string, or null: Buffer.from alone skips bad characters. */
function strictBase64(s: string, param: string): Buffer | null {
  const compact = s.replace(/\s+/g, '');
  if (compact.length === 0) throw badRequest(`${param}: the image is empty`, param);
  if (BASE64.test(compact) && compact.length % 4 === 0) return Buffer.from(compact, 'base64');
  if (BASE64URL.test(compact) && compact.length % 4 !== 1) return Buffer.from(compact, 'base64url');
  return null;
}

/** Decodes an encoded image into the model's input; a broken or oversized picture is a 400 naming the field. */
export async function imageToPixels(
  bytes: Buffer,
  size: number,
  param: string,
  maxPixels: number,
): Promise<Float32Array> {
  if (bytes.length === 0) throw badRequest(`${param}: the image is empty`, param);
  try {
    return await loadImage(bytes, size, { maxPixels, name: param });
  } catch (e) {
    if (e instanceof UserError) throw new HttpError(400, e.message, { param });
    throw e;
  }
}
