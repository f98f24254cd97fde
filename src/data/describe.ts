/**
 * The describer: writes ShortDesc / LongDesc for a dataset's records by sending the paper's prompt and each
 * record's captions (optionally the picture) to an OpenAI-compatible chat endpoint.
 *
 * Resumable: every answer is appended to `<dir>/describe-<kind>.jsonl` the moment it arrives, and a rerun
 * skips ids already answered there, so a kill loses at most the requests in flight. When everything is
 * answered, the texts are merged into manifest.jsonl (rewritten atomically, other fields untouched).
 */
import { isUtf8 } from 'node:buffer';
import { appendFileSync, existsSync, readFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { byteLines, readRegularFile, writeFileAtomic } from '../util/fs.ts';
import { LlmError, type LlmClient } from '../llm/client.ts';
import { imageDataUrl, userMessage, type ChatMessage } from '../llm/content.ts';
import { imagePath, MANIFEST, openDataset, type DatasetRecord, type Split } from './dataset.ts';
import { checkLength, cleanAnswer, describePrompt, reaskPrompt, type DescKind } from './prompts.ts';

export interface DescribeOptions {
  dir: string;
  kind: DescKind;
  client: LlmClient;
  model?: string;
  /** Records described at once (default 4). */
  concurrency?: number;
  /** Send the picture too, as a data URL. */
  withImage?: boolean;
  imageDetail?: 'low' | 'high' | 'auto';
  /** Describe at most this many records in this run. */
  limit?: number;
  /** Only this split. */
  split?: Split;
  /** Asks per record, re-asks included, before giving up on the length rule (default 3). */
  maxAttempts?: number;
  temperature?: number;
  maxTokens?: number;
  /** Also describe records whose manifest already has this text. */
  overwrite?: boolean;
  /** Merge the answers into manifest.jsonl at the end (default true). */
  merge?: boolean;
  skipBad?: boolean;
  /** Results file (default `<dir>/describe-<kind>.jsonl`). */
  results?: string;
  /** Stop after this many requests in a row failed (default 10): the endpoint is likely down. */
  maxConsecutiveFailures?: number;
  signal?: AbortSignal;
  onProgress?: (p: DescribeProgress) => void;
  /** Called after each result line is written. */
  onResult?: (line: ResultLine) => void;
}

export interface DescribeProgress {
  done: number;
  total: number;
  failed: number;
  reasks: number;
  costUsd: number;
}

/** One line of the results file. */
export interface ResultLine {
  id: string;
  kind: DescKind;
  text: string;
  /** False when every attempt broke the length rule (kept for the record; a rerun asks again). */
  ok: boolean;
  words: number;
  sentences: number;
  attempts: number;
  model: string;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

export interface DescribeSummary {
  /** Records that needed a text at the start of this run. */
  todo: number;
  /** Of those, already answered in the results file (skipped). */
  alreadyDone: number;
  described: number;
  /** Gave up: every attempt broke the length rule. */
  lengthFailures: number;
  /** Gave up: the request failed after its retries. */
  requestFailures: number;
  reasks: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** Records whose text was written into the manifest. */
  merged: number;
  aborted: boolean;
  resultsFile: string;
  /** Records left out for having neither captions nor (with --with-image) a picture. */
  noInput: number;
}

export function resultsFile(dir: string, kind: DescKind): string {
  return path.join(dir, `describe-${kind}.jsonl`);
}

/**
 * Reads a results file: the last ok answer per id. A torn last line (a kill during a write) is cut off
 * so new lines start cleanly; a bad line elsewhere is an error naming it.
 */
export function readResults(file: string, kind: DescKind): Map<string, ResultLine> {
  const done = new Map<string, ResultLine>();
  if (!existsSync(file)) return done;
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let r: ResultLine;
    try {
      r = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) {
        // The final line has no newline: an interrupted append. Drop it.
        truncateSync(file, Buffer.byteLength(lines.slice(0, i).join('\n') + (i ? '\n' : '')));
        break;
      }
      throw new UserError(`${file} line ${i + 1}: invalid JSON (delete the line to ask for that record again)`);
    }
    if (typeof r?.id !== 'string' || typeof r.text !== 'string') {
      throw new UserError(`${file} line ${i + 1}: not a describer result`);
    }
    if (r.kind === kind && r.ok) done.set(r.id, r);
    // A complete last line without its newline: add it, so the next append starts a new line.
    if (i === lines.length - 1) appendFileSync(file, '\n');
  }
  return done;
}

/**
 * Writes answers into the manifest's `kind` field. Every other line is kept byte for byte (invalid
 * UTF-8 included: decoding it would turn its bytes into U+FFFD), and so is every other field.
 */
export async function mergeIntoManifest(dir: string, kind: DescKind, answers: Map<string, string>): Promise<number> {
  const file = path.join(dir, MANIFEST);
  const lines = byteLines(readRegularFile(file));
  let merged = 0;
  const out = lines.map((bytes) => {
    if (!isUtf8(bytes)) return bytes;
    const line = bytes.toString('utf8');
    if (!line.trim()) return bytes;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line);
    } catch {
      return bytes; // bad lines stay as they are (openDataset reports them)
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return bytes;
    const text = answers.get(String(obj.id));
    if (text === undefined || obj[kind] === text) return bytes;
    obj[kind] = text;
    merged++;
    return Buffer.from(JSON.stringify(obj));
  });
  if (merged) await writeFileAtomic(file, Buffer.concat(out.flatMap((b, i) => (i ? [NEWLINE, b] : [b]))));
  return merged;
}

const NEWLINE = Buffer.from('\n');

function isFatal(e: unknown): boolean {
  return e instanceof LlmError && (e.status === 401 || e.status === 403 || e.status === 404);
}

export async function describeDataset(opts: DescribeOptions): Promise<DescribeSummary> {
  const { dir, kind } = opts;
  const maxAttempts = opts.maxAttempts ?? 3;
  const file = opts.results ?? resultsFile(dir, kind);
  const ds = openDataset(dir, { skipBad: opts.skipBad });
  const done = readResults(file, kind);

  let noInput = 0;
  const wanted = ds.records.filter((r) => {
    if (opts.split && r.split !== opts.split) return false;
    if (!opts.overwrite && typeof r[kind] === 'string' && (r[kind] as string).trim()) return false;
    if (!r.captions.length && !opts.withImage) {
      noInput++;
      return false;
    }
    return true;
  });
  const alreadyDone = wanted.filter((r) => done.has(r.id)).length;
  let queue = wanted.filter((r) => !done.has(r.id));
  if (opts.limit !== undefined) queue = queue.slice(0, opts.limit);

  const summary: DescribeSummary = {
    todo: wanted.length,
    alreadyDone,
    described: 0,
    lengthFailures: 0,
    requestFailures: 0,
    reasks: 0,
    promptTokens: 0,
    completionTokens: 0,
    costUsd: 0,
    merged: 0,
    aborted: false,
    resultsFile: file,
    noInput,
  };
  const progress = () =>
    opts.onProgress?.({
      done: summary.described + summary.lengthFailures + summary.requestFailures,
      total: queue.length,
      failed: summary.lengthFailures + summary.requestFailures,
      reasks: summary.reasks,
      costUsd: summary.costUsd,
    });

  let consecutiveFailures = 0;
  let fatal: unknown = null;
  const stop = () => opts.signal?.aborted || fatal !== null;

  const describeOne = async (record: DatasetRecord): Promise<void> => {
    const images = opts.withImage ? [imageDataUrl(imagePath(ds, record))] : [];
    const messages: ChatMessage[] = [userMessage(describePrompt(kind, record.captions), images, opts.imageDetail)];
    const line: ResultLine = {
      id: record.id,
      kind,
      text: '',
      ok: false,
      words: 0,
      sentences: 0,
      attempts: 0,
      model: '',
      promptTokens: 0,
      completionTokens: 0,
      costUsd: 0,
    };
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const res = await opts.client.chat({
        messages,
        model: opts.model,
        temperature: opts.temperature,
        maxTokens: opts.maxTokens ?? (kind === 'short' ? 150 : 300),
        signal: opts.signal,
      });
      const text = cleanAnswer(res.text);
      const check = checkLength(text, kind);
      Object.assign(line, { text, ok: check.ok, words: check.words, sentences: check.sentences, attempts: attempt });
      line.model = res.model;
      line.promptTokens += res.promptTokens;
      line.completionTokens += res.completionTokens;
      line.costUsd += res.costUsd;
      summary.promptTokens += res.promptTokens;
      summary.completionTokens += res.completionTokens;
      summary.costUsd += res.costUsd;
      if (check.ok || attempt === maxAttempts) break;
      summary.reasks++;
      messages.push({ role: 'assistant', content: res.text }, { role: 'user', content: reaskPrompt(kind, check) });
    }
    // One complete line per write: a kill leaves at most a torn final line, which readResults drops.
    appendFileSync(file, JSON.stringify(line) + '\n');
    if (line.ok) summary.described++;
    else summary.lengthFailures++;
    opts.onResult?.(line);
  };

  let next = 0;
  const worker = async () => {
    while (!stop() && next < queue.length) {
      const record = queue[next++]!;
      try {
        await describeOne(record);
        consecutiveFailures = 0;
      } catch (e) {
        if (opts.signal?.aborted) return;
        if (isFatal(e)) {
          fatal ??= e;
          return;
        }
        if (!(e instanceof LlmError) && !(e instanceof UserError)) throw e;
        summary.requestFailures++;
        if (++consecutiveFailures >= (opts.maxConsecutiveFailures ?? 10)) {
          fatal ??= new UserError(`${consecutiveFailures} requests in a row failed; last: ${(e as Error).message}`);
        }
      }
      progress();
    }
  };
  progress();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, queue.length)) }, worker));
  if (fatal) throw fatal;
  summary.aborted = Boolean(opts.signal?.aborted);

  if (!summary.aborted && (opts.merge ?? true)) {
    const answers = new Map([...readResults(file, kind)].map(([id, r]) => [id, r.text]));
    summary.merged = await mergeIntoManifest(dir, kind, answers);
  }
  return summary;
}
