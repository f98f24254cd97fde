/**
 * The measures that need no LLM, for one system's texts: ROUGE against the reference, distinct-n,
 * simple-word share, grammar (link-grammar), object scores (when the things in the picture are known),
 * consistency (no self-contradiction; against the picture's numbers when known), and the memorisation
 * check (when training texts are given).
 */
import { consistencyOf, type ConsistencyTotals } from './consistency.ts';
import { checkGrammar, type GrammarOptions, type GrammarResult, type GrammarUnavailable } from './grammar.ts';
import { distinctN, simpleWordShare } from './diversity.ts';
import { memorization, type MemorizationSummary, type TrainingTextIndex } from './memorization.ts';
import {
  loadKnownObjects,
  ObjectMatcher,
  scoreDescription,
  totalScores,
  type ObjectTotals,
} from './objects.ts';
import { rouge } from './rouge.ts';
import { sentences } from './text.ts';

/** One text to measure: the generated part, the whole description, and what it is compared with. */
export interface MeasuredText {
  /** What the system wrote (a completion, or a whole description when there was no prefix). */
  generated: string;
  /** The whole description (prefix + completion). */
  full: string;
  /** The reference to compare `generated` with (for a completion: the reference after the prefix). */
  reference?: string;
  /** Things in the picture, name → count. */
  objects?: Record<string, number> | Map<string, number>;
}

export interface Mean {
  mean: number;
  n: number;
}

export interface TextMeasures {
  texts: number;
  rouge?: { rouge1: number; rouge2: number; rougeL: number; n: number };
  distinct1: number;
  distinct2: number;
  simpleWordShare: number;
  meanWords: number;
  grammar?: Omit<GrammarResult, 'verdicts'> | GrammarUnavailable;
  objects?: ObjectTotals;
  consistency?: ConsistencyTotals;
  memorization?: MemorizationSummary;
}

export interface MeasureOptions {
  /** Run link-grammar (default true). */
  grammar?: boolean;
  grammarOptions?: GrammarOptions;
  /** Training texts for the memorisation check. */
  trainIndex?: TrainingTextIndex;
  /** Objects list for object scores (default: the built-in scenes' list). */
  matcher?: ObjectMatcher;
}

let defaultMatcher: ObjectMatcher | null = null;

export async function measureTexts(
  texts: readonly MeasuredText[],
  opts: MeasureOptions = {},
): Promise<TextMeasures> {
  const generated = texts.map((t) => t.generated);
  const out: TextMeasures = {
    texts: texts.length,
    distinct1: distinctN(generated, 1).ratio,
    distinct2: distinctN(generated, 2).ratio,
    simpleWordShare: simpleWordShare(generated).share,
    meanWords: texts.length ? distinctN(generated, 1).ngrams / texts.length : 0,
  };
  const withRef = texts.filter((t) => typeof t.reference === 'string' && t.reference.trim());
  if (withRef.length) {
    let r1 = 0;
    let r2 = 0;
    let rl = 0;
    for (const t of withRef) {
      const r = rouge(t.generated, t.reference!);
      r1 += r.rouge1.f1;
      r2 += r.rouge2.f1;
      rl += r.rougeL.f1;
    }
    const n = withRef.length;
    out.rouge = { rouge1: r1 / n, rouge2: r2 / n, rougeL: rl / n, n };
  }
  const matcher = opts.matcher ?? (defaultMatcher ??= new ObjectMatcher(loadKnownObjects()));
  const presentOf = (t: MeasuredText) =>
    !t.objects ? undefined : t.objects instanceof Map ? t.objects : new Map(Object.entries(t.objects));
  const withObjects = texts.filter((t) => t.objects);
  if (withObjects.length) {
    out.objects = totalScores(withObjects.map((t) => scoreDescription(t.full, presentOf(t)!, matcher)));
  }
  if (texts.length) {
    out.consistency = consistencyOf(
      texts.map((t) => ({ text: t.full, present: presentOf(t) })),
      matcher,
    );
  }
  if (opts.trainIndex)
    out.memorization = memorization(
      texts.map((t) => t.full),
      opts.trainIndex,
    );
  if (opts.grammar ?? true) {
    // A parser that hangs or prints something unreadable costs this one measure, not the whole report.
    const g = await checkGrammar(
      texts.flatMap((t) => sentences(t.full)),
      opts.grammarOptions,
    ).catch((e: Error): GrammarUnavailable => ({ available: false, reason: e.message }));
    if (g.available) {
      const { verdicts: _verdicts, ...rest } = g;
      out.grammar = rest;
    } else out.grammar = g;
  }
  return out;
}
