/**
 * A progress bar with rate and ETA on a terminal; plain lines (at most one every `plainEvery` seconds)
 * when the stream is not a TTY, so logs stay readable.
 */
export interface ProgressOptions {
  total: number;
  label?: string;
  unit?: string;
  stream?: NodeJS.WriteStream;
  plainEvery?: number;
  /** Suppress all output (e.g. --json mode). */
  quiet?: boolean;
  /** Milliseconds now (default performance.now; tests pass their own). */
  clock?: () => number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * A rate (and an ETA from it) is shown only after this long: over a shorter interval a few items that
 * happened to be quick (or were done before the bar started) give figures like "84202 texts/s".
 */
export const MIN_RATE_SECONDS = 1;

export class Progress {
  private readonly clock: () => number;
  private readonly start: number;
  private lastPlain = 0;
  private done = 0;
  private fields: Record<string, string | number> = {};
  /** The state of the last plain line written (so finish() does not repeat it). */
  private lastPlainText = '';
  private readonly stream: NodeJS.WriteStream;
  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.clock = opts.clock ?? (() => performance.now());
    this.start = this.clock();
  }
  get isTTY(): boolean {
    return Boolean(this.stream.isTTY);
  }
  /** `fields` are shown after the bar, e.g. {loss: '2.31', lr: '1e-3'}. */
  update(done: number, fields: Record<string, string | number> = {}, force = false): void {
    if (this.opts.quiet) return;
    this.done = done;
    this.fields = fields;
    const elapsed = (this.clock() - this.start) / 1000;
    const text = this.text(done, fields, elapsed);
    if (this.isTTY) {
      const width = 24;
      const frac = Math.min(1, done / Math.max(1, this.opts.total));
      const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
      const label = this.opts.label ? `${this.opts.label} ` : '';
      const line = `${label}${bar} ${text.slice(label.length)}`;
      this.stream.write(`\r\x1b[2K${line.slice(0, (this.stream.columns ?? 200) - 1)}`);
    } else if (
      force ||
      elapsed - this.lastPlain >= (this.opts.plainEvery ?? 10) ||
      done === this.opts.total
    ) {
      this.lastPlain = elapsed;
      if (force && this.lastPlainText === this.text(done, fields, NaN)) return;
      this.lastPlainText = this.text(done, fields, NaN);
      this.stream.write(`${text}\n`);
    }
  }

  /** The line without the bar; `elapsed` NaN leaves the rate out (to compare states). */
  private text(done: number, fields: Record<string, string | number>, elapsed: number): string {
    const unit = this.opts.unit ?? 'it';
    let stats = `${done}/${this.opts.total}`;
    if (elapsed >= MIN_RATE_SECONDS && done > 0) {
      const rate = done / elapsed;
      const eta = done < this.opts.total ? ` ETA ${formatDuration((this.opts.total - done) / rate)}` : '';
      stats += ` ${rate.toFixed(rate < 10 ? 2 : 0)} ${unit}/s${eta}`;
    }
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join(' | ');
    return `${this.opts.label ? `${this.opts.label} ` : ''}${stats}${extra ? ' | ' + extra : ''}`;
  }

  /**
   * The last state again, with the rate over the whole time since the bar started (the last fields are
   * kept, `fields` are added); nothing when there was nothing to do.
   */
  finish(fields: Record<string, string | number> = {}): void {
    if (this.opts.quiet || (this.opts.total === 0 && this.done === 0)) return;
    this.update(this.done, { ...this.fields, ...fields }, true);
    if (this.isTTY) this.stream.write('\n');
  }
}
