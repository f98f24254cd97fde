import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { errorText, withCommand } from './args.ts';

/** The package's version (src/cli and dist/cli are both two folders below package.json). */
export function version(): string {
  return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
}

/** Each command lives in its own file and exports `run(argv): Promise<number>`; loaded on demand. */
const commands: Record<
  string,
  { summary: string; load: () => Promise<{ run: (argv: string[]) => Promise<number> }> }
> = {
  main: {
    summary: 'set up and run the whole pipeline on the built-in data',
    load: () => import('./main-job.ts'),
  },
  data: {
    summary: 'build, import and describe datasets (scenes, coco, describe)',
    load: () => import('./data.ts'),
  },
  tokenizer: { summary: 'train a byte-level BPE tokenizer', load: () => import('./tokenizer.ts') },
  info: { summary: 'parameter counts and FLOPs of a model preset', load: () => import('./info.ts') },
  train: { summary: 'train a model', load: () => import('./train.ts') },
  generate: { summary: 'describe images with a trained model', load: () => import('./generate.ts') },
  eval: { summary: 'complete, judge, report and auto-evaluate', load: () => import('./eval.ts') },
  serve: { summary: 'HTTP API and web page for a trained model', load: () => import('./serve.ts') },
  export: {
    summary: 'an inference model folder from a checkpoint (no optimizer state)',
    load: () => import('./export.ts'),
  },
};

function usage(): string {
  const rows = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return [
    'usage: nanovlm <command> [options]   (nanovlm <command> --help for details)',
    '',
    'commands:',
    ...rows,
    '',
    'options (before or after the command):',
    '  --threads N   kernel threads (default: the CPUs this process may use; also NANOVLM_THREADS)',
    '  --version     print the version',
    '',
    'examples:',
    '  nanovlm main',
    '  nanovlm generate --model runs/main/checkpoints/best --image picture.png',
  ].join('\n');
}

/**
 * Takes `--threads N` (or `--threads=N`) out of argv, anywhere before a `--`, and hands it to the kernels'
 * thread pool through NANOVLM_THREADS (read when the native backend loads, after this).
 */
function takeThreads(argv: string[]): string[] {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const i = argv.findIndex((a, k) => k < end && (a === '--threads' || a.startsWith('--threads=')));
  if (i < 0) return argv;
  const inline = argv[i]!.startsWith('--threads=');
  const raw = inline ? argv[i]!.slice('--threads='.length) : argv[i + 1];
  const n = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || n < 1 || n > 256) {
    throw new UserError(
      `--threads: expected a whole number from 1 to 256, got ${JSON.stringify(raw ?? '')}`,
      2,
    );
  }
  process.env.NANOVLM_THREADS = String(n);
  return [...argv.slice(0, i), ...argv.slice(i + (inline ? 1 : 2))];
}

export async function main(argv: string[]): Promise<number> {
  try {
    argv = takeThreads(argv);
  } catch (e) {
    console.error(`nanovlm: ${(e as Error).message}`);
    return 2;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    console.log(`nanovlm ${version()}`);
    return 0;
  }
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`nanovlm: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.run(rest);
  } catch (caught) {
    // A failed file operation (disk full, read-only folder, ...) is a one-line error too.
    const e = withCommand(caught, `nanovlm ${name}`);
    if (e instanceof UserError) {
      console.error(errorText(e, `nanovlm ${name}`));
      return e.exitCode;
    }
    if ((e as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' && String(e).includes(`cli/`)) {
      console.error(`nanovlm: the "${name}" command is not available in this build`);
      return 2;
    }
    throw e;
  }
}
