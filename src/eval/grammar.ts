/**
 * Grammar check with Debian's link-grammar parser (`link-parser`, package `link-grammar`).
 *
 * All sentences go to one `link-parser en` process, one per line, with input echo on, null links off
 * (a sentence must parse completely) and a per-sentence time limit. Its output is read per echoed
 * sentence: a sentence is accepted when a line `Found N linkages (M had no P.P. violations)` (or `M of K
 * random linkages ...`) has M > 0 and no null count; `No complete linkages found` rejects it; a sentence
 * whose time ran out is counted as timed out (and not accepted). When the binary is missing, callers get
 * `{available: false}` and say so in the report instead of failing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { UserError } from '../util/errors.ts';

export type SentenceVerdict = 'accepted' | 'rejected' | 'timeout';

export interface GrammarResult {
  available: true;
  sentences: number;
  accepted: number;
  rejected: number;
  timedOut: number;
  /** accepted / sentences (0 when there are none). */
  acceptedShare: number;
  verdicts: SentenceVerdict[];
}
export interface GrammarUnavailable {
  available: false;
  reason: string;
}

export interface GrammarOptions {
  /** The parser binary (default `link-parser`, or the NANOVLM_LINK_PARSER environment variable). */
  bin?: string;
  /** Seconds one sentence may take (link-parser's own `-timeout`). Default 5. */
  sentenceTimeoutSec?: number;
  /** Whole-run limit in ms; default 30 s + 1 s per sentence. */
  totalTimeoutMs?: number;
  /** Longest sentence in words sent to the parser; longer ones are counted as rejected. Default 60. */
  maxWords?: number;
}

const parserBin = (o: GrammarOptions) => o.bin ?? process.env.NANOVLM_LINK_PARSER ?? 'link-parser';

/** Whether the parser can be run, and if not, why. */
export function linkParserStatus(opts: GrammarOptions = {}): {
  available: boolean;
  version?: string;
  reason?: string;
} {
  const bin = parserBin(opts);
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return {
      available: false,
      reason:
        code === 'ENOENT'
          ? `${bin} is not installed (Debian/Ubuntu: apt-get install link-grammar)`
          : `${bin} could not be run (${r.error.message})`,
    };
  }
  const version = /link-grammar-([\d.]+)/.exec(r.stdout + r.stderr)?.[1];
  if (r.status !== 0 && !version)
    return { available: false, reason: `${bin} --version failed (exit ${r.status})` };
  return { available: true, version };
}

/** One sentence as one safe input line: no line breaks, no leading "!" (that would be a parser command). */
export function parserLine(sentence: string): string {
  return sentence
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[!\s]+/, '');
}

/** Reads link-parser's echoed output into one verdict per sent line. Exported for tests. */
export function parseLinkParserOutput(output: string, sentLines: readonly string[]): SentenceVerdict[] {
  const verdicts: (SentenceVerdict | null)[] = sentLines.map(() => null);
  const lines = output.split('\n');
  let current = -1;
  let next = 0;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    // An echoed sentence starts the next block (only once the current block has a result line, so a
    // sentence that looks like a result line cannot be confused with one).
    if (next < sentLines.length && line === sentLines[next] && (current < 0 || verdicts[current] !== null)) {
      current = next++;
      continue;
    }
    if (current < 0) continue;
    if (/timer is expired|^#+ ?timeout|timeout during/i.test(line)) {
      if (verdicts[current] !== 'accepted') verdicts[current] = 'timeout';
      continue;
    }
    if (/^No complete linkages found/.test(line)) {
      verdicts[current] ??= 'rejected';
      continue;
    }
    const found =
      /^Found (\d+) linkages? \((\d+)(?: of \d+ random linkages?)? had no P\.P\. violations\)(?: at null count (\d+))?/.exec(
        line,
      );
    if (found) {
      const good = Number(found[2]) > 0 && Number(found[3] ?? 0) === 0;
      if (good) verdicts[current] = 'accepted';
      else if (verdicts[current] !== 'timeout') verdicts[current] ??= 'rejected';
    }
  }
  const missing = verdicts.findIndex((v) => v === null);
  if (missing >= 0) {
    throw new UserError(
      `link-parser: no result for sentence ${missing + 1} of ${sentLines.length} (${JSON.stringify(sentLines[missing])}); its output could not be read`,
    );
  }
  return verdicts as SentenceVerdict[];
}

/** Parses every sentence with link-parser. Resolves `{available: false}` when the parser is not installed. */
export async function checkGrammar(
  sentenceList: readonly string[],
  opts: GrammarOptions = {},
): Promise<GrammarResult | GrammarUnavailable> {
  const status = linkParserStatus(opts);
  if (!status.available) return { available: false, reason: status.reason! };
  const maxWords = opts.maxWords ?? 60;
  const lines = sentenceList.map(parserLine);
  const verdicts: (SentenceVerdict | null)[] = lines.map((l) =>
    !l || l.split(' ').length > maxWords ? 'rejected' : null,
  );
  const toParse = lines.filter((_, i) => verdicts[i] === null);
  if (toParse.length) {
    const parsed = await runParser(toParse, opts);
    let k = 0;
    verdicts.forEach((v, i) => {
      if (v === null) verdicts[i] = parsed[k++]!;
    });
  }
  const final = verdicts as SentenceVerdict[];
  const accepted = final.filter((v) => v === 'accepted').length;
  const timedOut = final.filter((v) => v === 'timeout').length;
  return {
    available: true,
    sentences: final.length,
    accepted,
    rejected: final.length - accepted - timedOut,
    timedOut,
    acceptedShare: final.length ? accepted / final.length : 0,
    verdicts: final,
  };
}

function runParser(lines: readonly string[], opts: GrammarOptions): Promise<SentenceVerdict[]> {
  const bin = parserBin(opts);
  const perSentence = opts.sentenceTimeoutSec ?? 5;
  const totalMs = opts.totalTimeoutMs ?? 30_000 + 1000 * lines.length;
  const args = [
    'en',
    '-echo',
    '-graphics=0',
    '-null=0',
    '-spell=0',
    '-panic=0',
    '-verbosity=1',
    `-timeout=${perSentence}`,
  ];
  return new Promise((resolve, reject) => {
    // C.UTF-8 exists everywhere; the parser otherwise warns about (and may mis-handle) unknown locales.
    const child = spawn(bin, args, {
      env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, totalMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new UserError(`link-parser could not be run: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (killed) {
        return reject(
          new UserError(
            `link-parser did not finish ${lines.length} sentences within ${Number((totalMs / 1000).toPrecision(3))} s (it was stopped)`,
          ),
        );
      }
      const stdout = Buffer.concat(out).toString('utf8');
      try {
        resolve(parseLinkParserOutput(stdout, lines));
      } catch (e) {
        const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-3).join(' | ');
        reject(new UserError(`${(e as Error).message}; exit code ${code}${tail ? `; stderr: ${tail}` : ''}`));
      }
    });
    child.stdin.on('error', () => {
      /* the close handler reports what went wrong */
    });
    child.stdin.end(lines.join('\n') + '\n');
  });
}
