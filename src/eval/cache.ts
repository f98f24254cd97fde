/**
 * A cache of judge answers by request hash, kept as an append-only JSONL file (one answer per line), so
 * a rerun of the same requests costs nothing and a kill loses at most the answer being written.
 * The key covers everything that changes the answer: endpoint-independent request body fields (model,
 * messages, temperature, max tokens) and the prompt version.
 */
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
} from 'node:fs';
import path from 'node:path';

export interface CachedAnswer {
  key: string;
  text: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
}

export function requestKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class AnswerCache {
  private readonly map = new Map<string, CachedAnswer>();
  /** Cache lines that could not be read (a torn last line after a kill); they are ignored. */
  readonly unreadable: number = 0;
  private tornTail = false;

  constructor(readonly file: string | null) {
    if (!file || !existsSync(file)) return;
    let bad = 0;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const a = JSON.parse(line) as CachedAnswer;
        if (typeof a.key === 'string' && typeof a.text === 'string') this.map.set(a.key, a);
        else bad++;
      } catch {
        bad++;
      }
    }
    this.unreadable = bad;
    this.tornTail = needsNewline(file);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): CachedAnswer | undefined {
    return this.map.get(key);
  }

  set(answer: CachedAnswer): void {
    this.map.set(answer.key, answer);
    if (!this.file) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    // A torn line from an earlier kill must not swallow this one: start on a fresh line.
    appendFileSync(this.file, (this.tornTail ? '\n' : '') + JSON.stringify(answer) + '\n');
    this.tornTail = false;
  }
}

/** True when a file exists, is not empty, and does not end with a newline. */
export function needsNewline(file: string): boolean {
  if (!existsSync(file)) return false;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    closeSync(fd);
  }
}
