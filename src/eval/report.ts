/**
 * `nanovlm eval report`: one table row per system from graded (or plain completion) files: mean ± std of
 * each grade, count, age-group distribution, and the measures that need no LLM. Output as Markdown, JSON
 * and a grouped bar chart PNG.
 *
 * Statistics: the standard deviation is the sample one (n − 1); "average" is the mean of the five
 * dimension means. Lines whose judging failed count as `failed` and are left out of the means.
 * A completion graded twice (the same system, id and sample in two files) counts once: the later graded
 * line wins.
 */
import path from 'node:path';
import { barChartPng } from '../util/plot.ts';
import { writeFileAtomic } from '../util/fs.ts';
import {
  AGE_GROUPS,
  AGE_GROUP_LABELS,
  DIMENSIONS,
  completionKey,
  readGraded,
  type AgeGroup,
  type CompletionLine,
  type Dimension,
  type GradedLine,
} from './format.ts';
import { measureTexts, type MeasureOptions, type TextMeasures } from './measures.ts';
import { joinPrefix } from './text.ts';
import { linkParserStatus } from './grammar.ts';

export interface Stat {
  mean: number;
  std: number;
  n: number;
}

export interface SystemReport {
  system: string;
  /** Judge protocol / model / prompt version (null for ungraded files). */
  protocol: string | null;
  judgeModels: string[];
  promptVersions: string[];
  lines: number;
  graded: number;
  failed: number;
  grades: Record<Dimension, Stat> | null;
  /** Mean of the five dimension means. */
  average: number | null;
  ageGroups: Record<AgeGroup, number> & { unknown: number };
  measures?: TextMeasures;
}

export interface Report {
  files: string[];
  duplicates: number;
  systems: SystemReport[];
  grammarParser: { available: boolean; version?: string; reason?: string };
}

export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (!n) return { mean: NaN, std: NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, n };
}

/** The reference text that follows the prefix (what a completion should be compared with). */
export function referenceAfterPrefix(prefix: string, reference: string): string {
  const p = prefix.trim();
  const r = reference.trim();
  return p && r.startsWith(p) ? r.slice(p.length).trim() : r;
}

export interface ReportOptions extends MeasureOptions {
  /** Compute the no-LLM measures too (default true). */
  measures?: boolean;
}

export async function buildReport(files: readonly string[], opts: ReportOptions = {}): Promise<Report> {
  // Group by system and protocol; dedupe by completion.
  const groups = new Map<string, Map<string, GradedLine | CompletionLine>>();
  let duplicates = 0;
  for (const file of files) {
    for (const { value } of readGraded(file)) {
      const g = value as GradedLine;
      const gk = JSON.stringify([g.system, g.judge_protocol ?? null]);
      let m = groups.get(gk);
      if (!m) groups.set(gk, (m = new Map()));
      const k = completionKey(g);
      const prev = m.get(k) as GradedLine | undefined;
      if (prev) {
        duplicates++;
        if (prev.grades && !g.grades) continue;
      }
      m.set(k, g);
    }
  }
  const systemsWithProtocols = new Map<string, number>();
  for (const gk of groups.keys()) {
    const [system] = JSON.parse(gk) as [string];
    systemsWithProtocols.set(system, (systemsWithProtocols.get(system) ?? 0) + 1);
  }
  const systems: SystemReport[] = [];
  for (const [gk, m] of groups) {
    const [system, protocol] = JSON.parse(gk) as [string, string | null];
    const lines = [...m.values()] as GradedLine[];
    const graded = lines.filter((l) => l.grades);
    const isJudged = lines.some((l) => l.judge_model);
    const ageGroups = Object.fromEntries([
      ...AGE_GROUPS.map((a) => [a, 0]),
      ['unknown', 0],
    ]) as SystemReport['ageGroups'];
    for (const l of graded) {
      if (l.age_group) ageGroups[l.age_group]++;
      else ageGroups.unknown++;
    }
    let grades: SystemReport['grades'] = null;
    let average: number | null = null;
    if (graded.length) {
      grades = Object.fromEntries(
        DIMENSIONS.map((d) => [d, stat(graded.map((l) => l.grades![d]))]),
      ) as Record<Dimension, Stat>;
      average = DIMENSIONS.reduce((a, d) => a + grades![d].mean, 0) / DIMENSIONS.length;
    }
    const label =
      (systemsWithProtocols.get(system) ?? 0) > 1 && protocol ? `${system} (${protocol})` : system;
    const report: SystemReport = {
      system: label,
      protocol: protocol ?? null,
      judgeModels: [...new Set(lines.map((l) => l.judge_model).filter((x): x is string => !!x))],
      promptVersions: [...new Set(lines.map((l) => l.prompt_version).filter((x): x is string => !!x))],
      lines: lines.length,
      graded: graded.length,
      failed: isJudged ? lines.length - graded.length : 0,
      grades,
      average,
      ageGroups,
    };
    if (opts.measures ?? true) {
      report.measures = await measureTexts(
        lines.map((l) => ({
          generated: l.completion,
          full: joinPrefix(l.prefix, l.completion),
          reference: referenceAfterPrefix(l.prefix, l.reference),
          objects: l.objects ?? undefined,
        })),
        opts,
      );
    }
    systems.push(report);
  }
  systems.sort((a, b) => a.system.localeCompare(b.system));
  const grammarParser =
    (opts.measures ?? true) && (opts.grammar ?? true)
      ? linkParserStatus(opts.grammarOptions)
      : { available: false, reason: 'not run' };
  return { files: [...files], duplicates, systems, grammarParser };
}

const f2 = (x: number | null | undefined) =>
  x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(2);
const pct = (x: number | null | undefined) =>
  x === null || x === undefined || Number.isNaN(x) ? '–' : `${(100 * x).toFixed(1)}%`;

export function reportMarkdown(r: Report): string {
  const out: string[] = ['# Evaluation report', ''];
  out.push(`Files: ${r.files.map((f) => `\`${f}\``).join(', ')}`);
  if (r.duplicates)
    out.push(
      `Duplicate lines ignored: ${r.duplicates} (the same system, id and sample seen again; the later graded line counts).`,
    );
  out.push('');
  const judged = r.systems.filter((s) => s.graded || s.failed);
  if (judged.length) {
    out.push('## LLM-judge grades (1-10, mean ± std)', '');
    out.push(`| system | n | ${DIMENSIONS.join(' | ')} | average | failed | judge |`);
    out.push(`|---|---:|${DIMENSIONS.map(() => '---:').join('|')}|---:|---:|---|`);
    for (const s of judged) {
      const cells = DIMENSIONS.map((d) =>
        s.grades ? `${f2(s.grades[d].mean)} ± ${f2(s.grades[d].std)}` : '–',
      );
      const judge = `${s.judgeModels.join(', ')} / ${s.promptVersions.join(', ')}`;
      out.push(
        `| ${s.system} | ${s.graded} | ${cells.join(' | ')} | ${f2(s.average)} | ${s.failed} | ${judge} |`,
      );
    }
    out.push('', '## Age group the judge assigns (share of graded completions)', '');
    out.push(`| system | ${AGE_GROUPS.map((a) => `${a} (${AGE_GROUP_LABELS[a]})`).join(' | ')} | none |`);
    out.push(`|---|${AGE_GROUPS.map(() => '---:').join('|')}|---:|`);
    for (const s of judged) {
      const n = s.graded || 1;
      out.push(
        `| ${s.system} | ${AGE_GROUPS.map((a) => pct(s.ageGroups[a] / n)).join(' | ')} | ${pct(s.ageGroups.unknown / n)} |`,
      );
    }
    out.push('');
  }
  const measured = r.systems.filter((s) => s.measures);
  if (measured.length) {
    out.push('## Measures without an LLM', '');
    const rows = measured.map((s): [string, TextMeasures] => [s.system, s.measures!]);
    out.push(...measuresTable(rows), '', ...measureNotes(r.grammarParser, rows));
  }
  return out.join('\n') + '\n';
}

/** The no-LLM measures as a Markdown table, one row per (label, measures). */
export function measuresTable(rows: [string, TextMeasures][]): string[] {
  const out = [
    '| system | texts | words | ROUGE-1 | ROUGE-2 | ROUGE-L | distinct-1 | distinct-2 | simple words | grammatical | object recall | object precision | count accuracy | consistent | max ROUGE-L vs train | copies |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [label, m] of rows) {
    const g = m.grammar;
    const gram = !g ? '–' : g.available ? `${pct(g.acceptedShare)} of ${g.sentences}` : 'not measured';
    const o = m.objects;
    const mem = m.memorization;
    out.push(
      `| ${label} | ${m.texts} | ${m.meanWords.toFixed(1)} | ${f2(m.rouge?.rouge1)} | ${f2(m.rouge?.rouge2)} | ${f2(m.rouge?.rougeL)} | ` +
        `${f2(m.distinct1)} | ${f2(m.distinct2)} | ${pct(m.simpleWordShare)} | ${gram} | ` +
        `${o ? f2(o.recall) : '–'} | ${o ? f2(o.precision) : '–'} | ${o && o.countJudged ? f2(o.countAccuracy) : '–'} | ` +
        `${m.consistency ? pct(m.consistency.share) : '–'} | ` +
        `${mem ? f2(mem.meanMaxRougeL) : '–'} | ${mem ? pct(mem.copyShare) : '–'} |`,
    );
  }
  return out;
}

export function measureNotes(parser: Report['grammarParser'], rows: [string, TextMeasures][]): string[] {
  const notes = [
    'ROUGE: F1 of the completion against the reference text after the prefix. distinct-n: distinct n-grams / all n-grams over the completions. ' +
      'Simple words: share of words on the Dale-Chall list of familiar words. Object scores use the whole description (prefix included).',
  ];
  notes.push(
    parser.available
      ? `Grammatical: share of sentences that link-grammar ${parser.version ?? ''} parses completely (no null links).`
      : `Grammatical: not measured, ${parser.reason}.`,
  );
  for (const [label, m] of rows) {
    if (parser.available && m.grammar && !m.grammar.available)
      notes.push(`Grammatical, ${label}: not measured, ${m.grammar.reason}.`);
  }
  if (rows.some(([, m]) => m.consistency))
    notes.push(
      'Consistent: share of texts free of self-contradiction (one thing named with two numbers, a thing related to itself ' +
        'as in "a moon watches over a moon") and, where the picture is known, of numbers the picture does not have.',
    );
  if (rows.some(([, m]) => m.memorization))
    notes.push(
      'max ROUGE-L vs train: mean over texts of the highest ROUGE-L F1 against any training text; copies: share with that ≥ 0.9.',
    );
  return notes.map((n) => `- ${n}`);
}

/** Grouped bar chart: one group per dimension (plus the average), one bar per system, std as error bars. */
export function reportChart(r: Report): Buffer | null {
  const judged = r.systems.filter((s) => s.grades);
  if (!judged.length) return null;
  return barChartPng({
    title: 'LLM-judge grades (mean ± std)',
    yLabel: 'grade (1-10)',
    yMax: 10,
    series: judged.map((s) => s.system),
    groups: [
      ...DIMENSIONS.map((d) => ({
        label: d,
        values: judged.map((s) => s.grades![d].mean),
        errors: judged.map((s) => s.grades![d].std),
      })),
      { label: 'average', values: judged.map((s) => s.average) },
    ],
  });
}

/** Writes report.md, report.json and grades.png (when anything was graded) into `dir`. */
export async function writeReport(r: Report, dir: string): Promise<string[]> {
  const written = [path.join(dir, 'report.md'), path.join(dir, 'report.json')];
  await writeFileAtomic(written[0]!, reportMarkdown(r));
  await writeFileAtomic(written[1]!, JSON.stringify(r, null, 2) + '\n');
  const png = reportChart(r);
  if (png) {
    written.push(path.join(dir, 'grades.png'));
    await writeFileAtomic(written[2]!, png);
  }
  return written;
}
