import sharp from 'sharp';
import { parseCommand, type CommandSpec, type Schema } from './args.ts';
import { loadModel } from '../model/index.ts';
import { isLoopbackHost, sceneExamples, startServer, SERVE_DEFAULTS } from '../serve/index.ts';
import { UserError } from '../util/errors.ts';
import { applyPrecision, precisionOption } from './precision.ts';

/** Environment variable holding the key, so it stays out of the process list and shell history. */
const API_KEY_ENV = 'NANOVLM_API_KEY';

const options = {
  model: {
    type: 'string',
    help: 'model folder (config.json, model.safetensors, tokenizer.json, ...)',
    required: true,
  },
  'model-name': {
    type: 'string',
    help: 'the name clients see and send (default: the run name for runs/<run>/checkpoints/best, else the folder name)',
  },
  host: { type: 'string', help: 'address to listen on', default: SERVE_DEFAULTS.host },
  port: {
    type: 'integer',
    help: 'port (0: any free port)',
    default: SERVE_DEFAULTS.port,
    min: 0,
    max: 65535,
  },
  'max-batch': {
    type: 'integer',
    help: 'most requests generated together in one batch',
    default: SERVE_DEFAULTS.maxBatch,
    min: 1,
  },
  queue: {
    type: 'integer',
    help: 'most requests waiting; beyond that: 503 with Retry-After',
    default: SERVE_DEFAULTS.maxQueue,
    min: 0,
  },
  'timeout-ms': {
    type: 'integer',
    help: 'per-request time limit',
    default: SERVE_DEFAULTS.timeoutMs,
    min: 1,
  },
  'max-body-mb': {
    type: 'number',
    help: 'largest request body (413 beyond)',
    default: SERVE_DEFAULTS.maxBodyBytes / 1024 / 1024,
  },
  'api-key': {
    type: 'string',
    help: `require "Authorization: Bearer KEY" (as OpenAI clients send it) on every route but GET / (with its icon and examples) and /health`,
    defaultHelp: `the ${API_KEY_ENV} environment variable`,
  },
  'allow-origin': {
    type: 'string',
    help: 'a web origin (https://app.example) whose pages may POST here besides the server\'s own page; repeat for several, "*" for any',
    multiple: true,
  },
  'max-connections': {
    type: 'integer',
    help: 'most connections open at once (more are closed at once)',
    default: SERVE_DEFAULTS.maxConnections,
    min: 1,
  },
  precision: precisionOption,
  quiet: { type: 'boolean', help: 'no line per request (method, path, status, ms) on stdout' },
} as const satisfies Schema;

const spec: CommandSpec<typeof options> = {
  name: 'nanovlm serve',
  summary:
    'HTTP API and web page for a model: POST /v1/describe, POST /v1/chat/completions (OpenAI-compatible), ' +
    'GET /v1/models, /health, /metrics, and the page at /. Stops cleanly on Ctrl-C or SIGTERM.',
  usage:
    'usage: nanovlm serve --model DIR [--host 127.0.0.1] [--port 8080] [--max-batch 8] [--queue 64] [--timeout-ms 60000] [--max-body-mb 10] [--api-key KEY] [--allow-origin URL ...] [--precision fp32|bf16|auto]',
  options,
  examples: [
    'nanovlm serve --model runs/main/checkpoints/best',
    'nanovlm serve --model runs/main/checkpoints/best --host 0.0.0.0 --port 8080 --model-name mini --quiet',
  ],
};

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(argv, spec);
  if (!args) return 0;
  const o = args.options;
  if (o.modelName !== undefined && !/^\S{1,200}$/.test(o.modelName))
    throw new UserError(
      `--model-name must be 1-200 characters without spaces, got "${o.modelName.slice(0, 50)}"`,
      2,
    );
  if (!(o.maxBodyMb > 0)) throw new UserError(`--max-body-mb must be positive, got ${o.maxBodyMb}`, 2);
  const apiKey = o.apiKey ?? (process.env[API_KEY_ENV] || undefined);
  if (apiKey !== undefined && apiKey.trim().length < 8)
    throw new UserError('--api-key must be at least 8 characters', 2);
  for (const origin of o.allowOrigin) {
    if (origin !== '*' && !/^https?:\/\/[^/]+$/.test(origin))
      throw new UserError(
        `--allow-origin takes an origin like https://app.example (no path), got "${origin}"`,
        2,
      );
  }

  applyPrecision(o.precision);
  // Uploads are never the same picture twice: libvips' operation cache would only hold memory.
  sharp.cache(false);
  const [vlm, examples] = await Promise.all([loadModel(o.model), sceneExamples()]);
  let running;
  try {
    running = await startServer(vlm, {
      host: o.host,
      port: o.port,
      maxBatch: o.maxBatch,
      maxQueue: o.queue,
      timeoutMs: o.timeoutMs,
      maxBodyBytes: Math.round(o.maxBodyMb * 1024 * 1024),
      apiKey: apiKey?.trim(),
      allowedOrigins: o.allowOrigin,
      maxConnections: o.maxConnections,
      examples,
      ...(o.modelName !== undefined && { modelId: o.modelName }),
      ...(!o.quiet && { requestLog: (line: string) => console.log(line) }),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new UserError(`${o.host}:${o.port} is already in use (pick another --port)`);
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL')
      throw new UserError(`cannot listen on ${o.host}:${o.port} (${code})`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EINVAL')
      throw new UserError(`--host: "${o.host}" is not an address or a name of this machine (${code})`, 2);
    throw e;
  }
  const server = running;
  // Handlers first, banner after: a client may send the signal as soon as it reads the banner.
  // Exit like a process ended by the signal: 128 + its number (SIGINT 130, SIGTERM 143).
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: 'SIGINT' | 'SIGTERM') => {
      const code = signal === 'SIGINT' ? 130 : 143;
      if (stopping) {
        console.error(`nanovlm serve: ${signal} again, exiting now`);
        process.exit(code);
      }
      stopping = true;
      console.log(`nanovlm serve: ${signal}: finishing running requests, then stopping`);
      server.close(10_000).then(
        () => resolve(code),
        () => resolve(code),
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  const params = vlm.model.parameterCount();
  console.log(
    `nanovlm serve: model "${running.ctx.modelId}" (${(params / 1e6).toFixed(2)}M parameters, ${vlm.config.image_size}px images) ` +
      `listening on ${running.url}  (batch ${o.maxBatch}, queue ${o.queue}, time-out ${o.timeoutMs} ms)`,
  );
  if (!apiKey && !isLoopbackHost(o.host))
    console.error(
      `nanovlm serve: warning: listening on ${o.host} without an API key: anyone who can reach this address can use the model (set --api-key or ${API_KEY_ENV})`,
    );
  const exitCode = await stopped;
  console.log('nanovlm serve: stopped');
  return exitCode;
}
