/**
 * `metrics.jsonl`: one JSON line per logged step (train rows carry loss, lr, grad_norm, samples_per_s;
 * validation rows carry val_loss, val_ppl and val_image_gain). Lines are appended as they happen; a kill can leave a
 * torn last line, which the reader skips. On resume the file is cut back to the checkpoint's step so
 * the curve shows one history.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../util/fs.ts';

export interface MetricsRow {
  step: number;
  epoch?: number;
  loss?: number;
  lr?: number;
  grad_norm?: number;
  samples_per_s?: number;
  val_loss?: number;
  val_ppl?: number;
  /** Validation loss with mismatched pictures minus the real one: how much the image helps. */
  val_image_gain?: number;
  time?: number;
  /** Gradient norm per model part (stem, vision, connector, decoder, word_head) at the logged step. */
  grad_parts?: Record<string, number>;
  /** The logged step's update per part, relative to the part's weight norm. */
  update_parts?: Record<string, number>;
}

/** Reads the rows of a metrics file, skipping a torn or unparsable line instead of failing. */
export function readMetrics(file: string): MetricsRow[] {
  if (!existsSync(file)) return [];
  const rows: MetricsRow[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const row = JSON.parse(line) as MetricsRow;
      if (typeof row.step === 'number') rows.push(row);
    } catch {
      // a line cut by a kill: skip it
    }
  }
  return rows;
}

/** Six significant digits: enough for a loss, short in the log. */
export const round = (x: number): number => Number(x.toPrecision(6));

export function validationRow(
  step: number,
  v: { loss: number; ppl: number; imageGain: number | null },
): MetricsRow {
  const row: MetricsRow = { step, val_loss: round(v.loss), val_ppl: round(v.ppl) };
  if (v.imageGain !== null) row.val_image_gain = round(v.imageGain);
  return row;
}

export class MetricsLog {
  readonly rows: MetricsRow[];
  constructor(
    readonly file: string,
    opts: { keepUpToStep?: number } = {},
  ) {
    const old = readMetrics(file);
    const keep = opts.keepUpToStep;
    this.rows = keep === undefined ? [] : old.filter((r) => r.step <= keep);
    writeFileAtomicSync(file, this.rows.map((r) => JSON.stringify(r) + '\n').join(''));
  }
  append(row: MetricsRow): void {
    this.rows.push(row);
    appendFileSync(this.file, JSON.stringify(row) + '\n');
  }
}
