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
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class Progress {
  private start = performance.now();
  private lastPlain = 0;
  private done = 0;
  private readonly stream: NodeJS.WriteStream;
  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
  }
  get isTTY(): boolean {
    return Boolean(this.stream.isTTY);
  }
  /** `fields` are shown after the bar, e.g. {loss: '2.31', lr: '1e-3'}. */
  update(done: number, fields: Record<string, string | number> = {}, force = false): void {
    if (this.opts.quiet) return;
    this.done = done;
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = (this.opts.total - done) / rate;
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join(' | ');
    const unit = this.opts.unit ?? 'it';
    const stats = `${done}/${this.opts.total} ${rate.toFixed(rate < 10 ? 2 : 0)} ${unit}/s ETA ${formatDuration(eta)}`;
    const label = this.opts.label ? `${this.opts.label} ` : '';
    if (this.isTTY) {
      const width = 24;
      const frac = Math.min(1, done / Math.max(1, this.opts.total));
      const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
      const line = `${label}${bar} ${stats}${extra ? ' | ' + extra : ''}`;
      this.stream.write(`\r\x1b[2K${line.slice(0, (this.stream.columns ?? 200) - 1)}`);
    } else if (
      force ||
      elapsed - this.lastPlain >= (this.opts.plainEvery ?? 10) ||
      done === this.opts.total
    ) {
      this.lastPlain = elapsed;
      this.stream.write(`${label}${stats}${extra ? ' | ' + extra : ''}\n`);
    }
  }
  finish(fields: Record<string, string | number> = {}): void {
    if (this.opts.quiet) return;
    this.update(this.done, fields, true);
    if (this.isTTY) this.stream.write('\n');
  }
}
