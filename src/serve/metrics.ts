/** Counters and gauges of the server, rendered in Prometheus' text exposition format (version 0.0.4). */

const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64];
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Generation speed is measured over the batches that ended in this window. */
const SPEED_WINDOW_MS = 30_000;

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]!++;
    });
    this.sum += v;
    this.count++;
  }
  render(name: string): string[] {
    return [
      ...this.buckets.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${round(this.sum)}`,
      `${name}_count ${this.count}`,
    ];
  }
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;
const escapeLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export interface Gauges {
  queueLength: () => number;
  queueCapacity: number;
  generating: () => number;
}

export class Metrics {
  /** `route status` → count. */
  private readonly requests = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private readonly batchSizes = new Histogram(BATCH_BUCKETS);
  private readonly durations = new Histogram(DURATION_BUCKETS);
  private tokens = 0;
  private recentBatches: { at: number; tokens: number; ms: number }[] = [];
  private readonly started = Date.now();

  constructor(private readonly gauges: Gauges) {}

  /** One answered request; `status` 499 means the client left before an answer. */
  request(route: string, status: number, seconds: number): void {
    const key = `${route} ${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    if (status >= 400) this.errors.set(String(status), (this.errors.get(String(status)) ?? 0) + 1);
    this.durations.observe(seconds);
  }

  batch(size: number, tokens: number, ms: number): void {
    this.batchSizes.observe(size);
    this.tokens += tokens;
    const now = Date.now();
    this.recentBatches.push({ at: now, tokens, ms });
    this.recentBatches = this.recentBatches.filter((b) => now - b.at <= SPEED_WINDOW_MS);
  }

  /** Tokens per second of generation over the recent batches (time spent generating, not idle time). */
  tokensPerSecond(): number {
    const now = Date.now();
    const recent = this.recentBatches.filter((b) => now - b.at <= SPEED_WINDOW_MS);
    const ms = recent.reduce((s, b) => s + b.ms, 0);
    return ms > 0 ? (recent.reduce((s, b) => s + b.tokens, 0) * 1000) / ms : 0;
  }

  render(): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: string[]) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
    metric(
      'nanovlm_http_requests_total',
      'counter',
      'HTTP requests answered, by route and status (499: the client left first).',
      [...this.requests].map(([k, n]) => {
        const [route, status] = k.split(' ');
        return `nanovlm_http_requests_total{route="${escapeLabel(route!)}",status="${status}"} ${n}`;
      }),
    );
    metric(
      'nanovlm_http_errors_total',
      'counter',
      'HTTP requests answered with an error, by status.',
      [...this.errors].map(([s, n]) => `nanovlm_http_errors_total{status="${s}"} ${n}`),
    );
    metric(
      'nanovlm_http_request_duration_seconds',
      'histogram',
      'Time from request to answer.',
      this.durations.render('nanovlm_http_request_duration_seconds'),
    );
    metric('nanovlm_generated_tokens_total', 'counter', 'Tokens generated.', [
      `nanovlm_generated_tokens_total ${this.tokens}`,
    ]);
    metric('nanovlm_tokens_per_second', 'gauge', 'Generation speed over the batches of the last 30 s.', [
      `nanovlm_tokens_per_second ${round(this.tokensPerSecond())}`,
    ]);
    metric('nanovlm_queue_length', 'gauge', 'Requests waiting for the model.', [
      `nanovlm_queue_length ${this.gauges.queueLength()}`,
    ]);
    metric('nanovlm_queue_capacity', 'gauge', 'Most requests that may wait (then 503).', [
      `nanovlm_queue_capacity ${this.gauges.queueCapacity}`,
    ]);
    metric('nanovlm_generating_requests', 'gauge', 'Requests in the batch being generated.', [
      `nanovlm_generating_requests ${this.gauges.generating()}`,
    ]);
    metric(
      'nanovlm_batch_size',
      'histogram',
      'Requests per generation batch.',
      this.batchSizes.render('nanovlm_batch_size'),
    );
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the server process.', [
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    ]);
    const mem = process.memoryUsage();
    metric('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use.', [
      `nodejs_heap_size_used_bytes ${mem.heapUsed}`,
    ]);
    metric('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved.', [
      `nodejs_heap_size_total_bytes ${mem.heapTotal}`,
    ]);
    metric('nodejs_external_memory_bytes', 'gauge', 'Memory held outside the V8 heap (buffers).', [
      `nodejs_external_memory_bytes ${mem.external}`,
    ]);
    metric('process_uptime_seconds', 'gauge', 'Seconds since the server started.', [
      `process_uptime_seconds ${round((Date.now() - this.started) / 1000)}`,
    ]);
    return lines.join('\n') + '\n';
  }
}
