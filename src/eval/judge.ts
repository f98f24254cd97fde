/**
 * `nanovlm eval judge`: grades every line of a completions file with an LLM judge.
 *
 * - Resumable: each graded line is appended to the output as soon as it arrives; a rerun keeps the
 *   lines that have grades, drops failed ones (they are tried again) and a torn last line, and asks only
 *   for what is missing.
 * - Cached: raw answers are stored by request hash (`<out>.cache.jsonl` by default), so rerunning the
 *   same requests, even into a new output file, makes no request at all.
 * - Robust: the LLM client retries 429/5xx/time-outs; an answer that cannot be read is asked for again
 *   (showing the judge its answer and what was wrong), and after `reasks` tries the line is written with
 *   an `error`. Bad credentials or an unknown model stop the run instead of failing every line.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LlmClient, LlmError, type ChatRequest } from '../llm/client.ts';
import type { ChatMessage } from '../llm/content.ts';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { AnswerCache, needsNewline, requestKey } from './cache.ts';
import { completionKey, readCompletions, type CompletionLine, type GradedLine } from './format.ts';
import { parseJudgeAnswer, AnswerError } from './judge-parse.ts';
import { judgeMessages, PROMPT_VERSION, reaskMessage, type Protocol } from './judge-prompts.ts';

export type JsonMode = 'auto' | 'on' | 'off';

export interface JudgeOptions {
  input: string;
  out: string;
  /** Answer cache file; null disables it. Default `<out>.cache.jsonl`. */
  cacheFile?: string | null;
  protocol: Protocol;
  /** Judge model name sent to the endpoint (e.g. gpt-4o). */
  model: string;
  /** An LLM client, or the options to make one. */
  client: LlmClient;
  concurrency?: number;
  temperature?: number;
  maxTokens?: number;
  /** Extra tries when an answer cannot be read. Default 2. */
  reasks?: number;
  /** Stop the run after this many requests in a row failed (default 10). */
  maxConsecutiveFailures?: number;
  /** Ask for `response_format: json_object`: on, off, or auto (on, and off for the run once the server refuses it). */
  jsonMode?: JsonMode;
  /** Called after each line is written. */
  onLine?: (done: number, total: number, line: GradedLine) => void;
}

export interface JudgeSummary {
  input: string;
  out: string;
  total: number;
  /** Lines already graded before this run. */
  alreadyDone: number;
  graded: number;
  failed: number;
  /** Answers served from the cache (no request made). */
  cached: number;
  requests: number;
  retries: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  judgeModel: string;
  protocol: Protocol;
  promptVersion: string;
}

const REQUEST_FAILED = 'judge request failed: ';

/** Statuses that mean every request will fail the same way: stop rather than record a failure per line. */
const FATAL_STATUS = new Set([401, 403, 404]);

interface ExistingOutput {
  done: Map<string, GradedLine>;
  dropped: number;
}

/** Reads an earlier run's output, keeping graded lines; throws when it was made with another judge. */
function readExisting(
  file: string,
  judge: { model: string; protocol: string; version: string },
): ExistingOutput {
  const done = new Map<string, GradedLine>();
  if (!existsSync(file)) return { done, dropped: 0 };
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  let dropped = 0;
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i]!.trim();
    if (!s) continue;
    let g: GradedLine;
    try {
      g = JSON.parse(s) as GradedLine;
    } catch (e) {
      // Only the last line can be torn by a kill; anything else is a real problem with the file.
      const isLast = lines.slice(i + 1).every((l) => !l.trim());
      if (isLast && !text.endsWith('\n')) {
        dropped++;
        continue;
      }
      throw new UserError(
        `${file} line ${i + 1}: invalid JSON (${(e as Error).message}); move the file away to start over`,
      );
    }
    if (
      g.judge_model !== judge.model ||
      g.judge_protocol !== judge.protocol ||
      g.prompt_version !== judge.version
    ) {
      throw new UserError(
        `${file} line ${i + 1}: graded by ${g.judge_model} with ${g.prompt_version}, but this run uses ${judge.model} with ${judge.version}; use another --out`,
      );
    }
    if (g.grades && !g.error) done.set(completionKey(g), g);
    else dropped++;
  }
  return { done, dropped };
}

export async function runJudge(opts: JudgeOptions): Promise<JudgeSummary> {
  const version = PROMPT_VERSION[opts.protocol];
  const completions = readCompletions(opts.input);
  const existing = readExisting(opts.out, { model: opts.model, protocol: opts.protocol, version });
  if (existing.dropped || needsNewline(opts.out)) {
    // Rewrite without failed or torn lines, so each completion ends up with exactly one line.
    await writeFileAtomic(
      opts.out,
      [...existing.done.values()].map((g) => JSON.stringify(g) + '\n').join(''),
    );
  }
  const cache = new AnswerCache(opts.cacheFile === undefined ? `${opts.out}.cache.jsonl` : opts.cacheFile);
  const todo = completions.filter((c) => !existing.done.has(completionKey(c)));
  const client = opts.client;
  const usage0 = { ...client.usage };
  const summary: JudgeSummary = {
    input: opts.input,
    out: opts.out,
    total: completions.length,
    alreadyDone: completions.length - todo.length,
    graded: 0,
    failed: 0,
    cached: 0,
    requests: 0,
    retries: 0,
    promptTokens: 0,
    completionTokens: 0,
    costUsd: 0,
    judgeModel: opts.model,
    protocol: opts.protocol,
    promptVersion: version,
  };
  let jsonMode: JsonMode = opts.jsonMode ?? 'auto';
  const temperature = opts.temperature ?? 0;
  const maxTokens = opts.maxTokens ?? 500;
  const reasks = opts.reasks ?? 2;
  let fatal: Error | null = null;

  /** One answer for these messages: from the cache, or from the endpoint (then cached). */
  async function ask(messages: ChatMessage[]): Promise<{ text: string; model: string }> {
    const key = requestKey({ model: opts.model, version, temperature, maxTokens, messages });
    const hit = cache.get(key);
    if (hit) {
      summary.cached++;
      return hit;
    }
    const req: ChatRequest = { messages, model: opts.model, temperature, maxTokens };
    if (jsonMode !== 'off') req.responseFormat = 'json';
    let res;
    try {
      res = await client.chat(req);
    } catch (e) {
      const refusedJson =
        e instanceof LlmError && e.status === 400 && /response_format|json/i.test(e.message);
      if (!(refusedJson && jsonMode === 'auto')) throw e;
      jsonMode = 'off'; // this server does not do JSON mode: ask in plain text from now on
      delete req.responseFormat;
      res = await client.chat(req);
    }
    const answer = {
      key,
      text: res.text,
      model: res.model,
      prompt_tokens: res.promptTokens,
      completion_tokens: res.completionTokens,
    };
    cache.set(answer);
    return answer;
  }

  async function gradeOne(c: CompletionLine): Promise<GradedLine> {
    const base: GradedLine = {
      ...c,
      judge_model: opts.model,
      judge_protocol: opts.protocol,
      prompt_version: version,
    };
    // A graded file given as input is graded afresh: drop the earlier judge's fields.
    for (const k of ['grades', 'error', 'age_group', 'assessment', 'parsed_from', 'judge_answered_model'])
      delete base[k];
    let messages = judgeMessages(opts.protocol, c.prefix, c.completion);
    let lastProblem = '';
    for (let attempt = 0; attempt <= reasks; attempt++) {
      let answer: { text: string; model: string };
      try {
        answer = await ask(messages);
      } catch (e) {
        if (e instanceof LlmError && e.status !== undefined && FATAL_STATUS.has(e.status)) throw e;
        return { ...base, error: `${REQUEST_FAILED}${(e as Error).message}` };
      }
      try {
        const p = parseJudgeAnswer(answer.text);
        return {
          ...base,
          judge_answered_model: answer.model,
          grades: p.grades,
          age_group: p.ageGroup,
          assessment: p.assessment,
          parsed_from: p.from,
        };
      } catch (e) {
        if (!(e instanceof AnswerError)) throw e;
        lastProblem = e.message;
        messages = [...messages, { role: 'assistant', content: answer.text }, reaskMessage(e.message)];
      }
    }
    return { ...base, error: `unreadable answer after ${reasks + 1} tries: ${lastProblem}` };
  }

  let done = 0;
  let next = 0;
  // A dead or broken endpoint fails every request: stop after this many in a row, as `data describe` does.
  const maxFailuresInARow = opts.maxConsecutiveFailures ?? 10;
  let failuresInARow = 0;
  const workers = Math.max(1, Math.min(opts.concurrency ?? 4, todo.length));
  async function worker(): Promise<void> {
    while (next < todo.length && !fatal) {
      const c = todo[next++]!;
      let line: GradedLine;
      try {
        line = await gradeOne(c);
      } catch (e) {
        fatal ??= e as Error;
        return;
      }
      appendFileSync(opts.out, JSON.stringify(line) + '\n');
      if (line.error) summary.failed++;
      else summary.graded++;
      const requestFailed = line.error?.startsWith(REQUEST_FAILED) ?? false;
      failuresInARow = requestFailed ? failuresInARow + 1 : 0;
      if (requestFailed && failuresInARow >= maxFailuresInARow)
        fatal ??= new UserError(
          `${failuresInARow} requests in a row failed; last: ${line.error!.slice(REQUEST_FAILED.length)}`,
        );
      done++;
      opts.onLine?.(summary.alreadyDone + done, summary.total, line);
    }
  }
  mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
  await Promise.all(Array.from({ length: workers }, worker));
  const u = client.usage;
  summary.requests = u.requests - usage0.requests;
  summary.retries = u.retries - usage0.retries;
  summary.promptTokens = u.promptTokens - usage0.promptTokens;
  summary.completionTokens = u.completionTokens - usage0.completionTokens;
  summary.costUsd = u.costUsd - usage0.costUsd;
  if (fatal) {
    const f = fatal as Error;
    throw new UserError(
      `judge stopped: ${f.message} (${summary.graded + summary.alreadyDone} of ${summary.total} lines are graded in ${opts.out}; rerun to continue)`,
    );
  }
  return summary;
}
