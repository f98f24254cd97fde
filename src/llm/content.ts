/** Chat message shapes (OpenAI chat-completions) and helpers to put images into them. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { assertRegularFile, fileError } from '../util/fs.ts';

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'low' | 'high' | 'auto' } };

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | ContentPart[];
}

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
};

/** `data:image/png;base64,...` for an image file (type from the extension). */
export function imageDataUrl(file: string): string {
  const mime = MIME[path.extname(file).toLowerCase()];
  if (!mime)
    throw new UserError(`${file}: cannot send this file type as an image (use PNG, JPEG, WebP or GIF)`);
  assertRegularFile(file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw fileError(file, e);
  }
  return `data:${mime};base64,${bytes.toString('base64')}`;
}

/** A user message with text and, optionally, images (as data URLs or http URLs). */
export function userMessage(
  text: string,
  imageUrls: string[] = [],
  detail?: 'low' | 'high' | 'auto',
): ChatMessage {
  if (!imageUrls.length) return { role: 'user', content: text };
  return {
    role: 'user',
    content: [
      { type: 'text', text },
      ...imageUrls.map((url): ContentPart => ({
        type: 'image_url',
        image_url: detail ? { url, detail } : { url },
      })),
    ],
  };
}
