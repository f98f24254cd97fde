// Every command the README (and docs/eval.md) shows, and every example in every --help, is run here as
// written, in a fixture folder laid out the way the docs say (data/scenes, runs/main/checkpoints/best,
// picture.png, COCO files), so a documented command that fails cannot come back. Placeholders (DIR, FILE,
// URL, N, TEXT) become fixture paths; --endpoint points at a local fake LLM. Sizes are cut where a command
// as written would take minutes (--count of scenes, --steps of training): the cut flags are appended, so
// the written ones are still parsed. `main`, `eval scaling` and `serve` (minutes of training, a server
// that runs until stopped) run with --help appended: their option names and values are parsed, their work has own tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { main } from '../../src/cli/main.ts';
import { configFor, createModel, loadModel, saveModel } from '../../src/model/index.ts';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { MIN_VOCAB_SIZE, trainTokenizer } from '../../src/tokenizer/index.ts';
import { startFakeOpenAI, reply } from '../helpers/fake-openai.ts';

const repo = path.resolve('.');
const README = readFileSync('README.md', 'utf8');
const EVAL_DOC = readFileSync('docs/eval.md', 'utf8');
const SCRIPTS: Record<string, string> = JSON.parse(readFileSync('package.json', 'utf8')).scripts;

/** Command lines in ```sh blocks (with `\` continuations), in table cells and in inline code. */
export function documentedCommands(markdown: string): string[] {
  const found: string[] = [];
  for (const block of markdown.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)) {
    const text = block[1]!.replace(/\\\n\s*/g, ' ');
    for (const line of text.split('\n')) {
      const cmd = line.replace(/\s+#.*$/, '').trim();
      if (cmd && !cmd.startsWith('#')) found.push(cmd);
    }
  }
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  for (const span of prose.matchAll(/`([^`\n]+)`/g)) {
    const s = span[1]!.trim();
    if (/ \.\.\.( |$)/.test(s)) continue; // an elided command ("--in blip.jsonl ...") is not one to run
    if (/^(nanovlm|npm) /.test(s) || /^[A-Z_]+=\S+ nanovlm /.test(s)) found.push(s);
  }
  return [...new Set(found)];
}

/** The examples section of a help text (and the epilog's example lines of a subcommand overview). */
function helpExamples(help: string): string[] {
  return help
    .split('\n')
    .filter((l) => /^ {2}([A-Z_]+=\S+ )?nanovlm /.test(l))
    .map((l) => l.trim());
}

/** A shell-like split: double quotes group words. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn };
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = console.warn = (...a: unknown[]) => err.push(a.join(' '));
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } catch (e) {
    return { code: -1, out: out.join('\n'), err: `${err.join('\n')}\nthrew: ${(e as Error).stack}` };
  } finally {
    Object.assign(console, saved);
  }
}

const root = mkdtempSync(path.join(tmpdir(), 'nanovlm-documented-'));
process.chdir(root);
const llm = await startFakeOpenAI((req) => {
  if (/grammar/i.test(req.text)) {
    const g = 6;
    return reply.grades(g, 'fine');
  }
  return reply.text(
    'A big brown dog plays with a red ball on the green grass. The sun is warm and the dog is very happy today.',
  );
});
test.after(() => llm.close());

let outCount = 0;
/** Placeholders to fixture paths, `[optional parts]` kept, env assignments taken out. */
function concrete(line: string): { argv: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const raw = words(line.replace(/[[\]]/g, ''));
  while (raw[0] && /^[A-Z_]+=/.test(raw[0])) {
    const [k, v] = raw.shift()!.split(/=(.*)/);
    env[k!] = v!;
  }
  assert.equal(raw.shift(), 'nanovlm', line);
  const argv = raw.map((w, i) => {
    const flag = raw[i - 1];
    if (flag === '--endpoint') return llm.url;
    if (w === 'DIR') {
      if (flag === '--out') return `out-${++outCount}`;
      if (flag === '--model') return 'runs/main/checkpoints/best';
      if (flag === '--images') return 'train2017';
      return 'data/scenes';
    }
    const packed = 'data/scenes-packed'; // made by the README's data pack command, at 112 px
    return { FILE: 'picture.png', URL: llm.url, N: '2', M: '1', TEXT: 'The dog', PACKED: packed }[w] ?? w;
  });
  return { argv, env };
}

/** Flags appended so the command takes seconds; later values override the written ones. */
function cuts(argv: string[]): string[] {
  const cmd = argv
    .filter((a) => !a.startsWith('-'))
    .slice(0, 2)
    .join(' ');
  if (argv[0] === 'main' || argv[0] === 'serve' || cmd === 'eval scaling') return ['--help'];
  if (cmd === 'data scenes') return ['--count', argv.includes('data/scenes') ? '100' : '3', '--workers', '1'];
  if (argv[0] === 'train' && argv.includes('--resume')) return ['--steps', '2']; // one step more
  if (argv[0] === 'train') {
    if (argv.some((a) => a.startsWith('--model.image_size='))) return ['--steps', '1', '--batch-size', '2'];
    const size = argv.includes('data/scenes-packed') ? '112' : '64'; // packed data has its size
    return ['--steps', '1', '--batch-size', '2', `--model.image_size=${size}`];
  }
  if (cmd === 'eval complete') return ['--count', '2', '--samples', '1'];
  return [];
}

/** Runs a program without blocking this process (which serves the requests it may send). */
function exec(file: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 60_000 }, (e, stdout, stderr) =>
      resolve({ status: e ? Number((e as NodeJS.ErrnoException).code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

const ran: string[] = [];
/** The server the README's curl and client examples talk to (localhost:8080 in the docs). */
let served: RunningServer | undefined;
const atServer = (text: string) => text.replaceAll('localhost:8080', `127.0.0.1:${served!.port}`);

async function runDocumented(line: string, where: string) {
  if (!/^(nanovlm|npm) /.test(line) && !/^[A-Z_]+=\S+ nanovlm /.test(line)) {
    // Any other shell line (curl, echo): through bash, against the running server.
    const r = await exec('bash', ['-c', atServer(line)]);
    ran.push(line);
    assert.equal(r.status, 0, `${where}: \`${line}\` failed (${r.status}): ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /"error"/, `${where}: \`${line}\`: ${r.stdout}`);
    return;
  }
  if (/^npm /.test(line)) {
    // `npm install && npm run main`, `npm test`, `npm run bench -- NAME`: the scripts exist; what they
    // run is tested by its own tests (the main job's in test/train/cli.test.ts).
    for (const part of line.split('&&').map((p) => p.trim())) {
      const [, verb, script] = part.match(/^npm (install|pack|test|run ([\w:-]+))/) ?? [];
      assert.ok(verb, `${where}: ${part}`);
      if (verb === 'test') assert.ok(SCRIPTS.test, 'npm test');
      if (script) assert.ok(SCRIPTS[script], `${where}: npm run ${script}: no such script`);
      const rest = part.match(/^npm run main -- (.+)$/);
      if (rest) await runDocumented(`nanovlm main ${rest[1]}`, where);
    }
    return;
  }
  // A list of subcommands in one cell ("nanovlm eval complete / judge / report / auto"): each one's help.
  const list = line.match(/^nanovlm (\w+) ([\w /]+ \/ [\w /]+)$/);
  if (list) {
    for (const sub of list[2]!.split('/').map((s) => s.trim()))
      await runDocumented(`nanovlm ${list[1]} ${sub}`, where);
    return;
  }
  const { argv, env } = concrete(line);
  // A bare command name in prose ("`nanovlm data coco` groups ...") stands for the command: its help.
  const bare = argv.every((a) => /^[a-z]+$/.test(a));
  const full = bare ? [...argv, '--help'] : [...argv, ...cuts(argv)];
  Object.assign(process.env, env);
  // Each training command as on a machine that has no run of that name yet (a rerun is refused, by design).
  if ((argv[0] === 'export' || (argv[0] === 'data' && argv[1] === 'pack')) && argv.includes('--out')) {
    // These refuse an existing --out (by design): the same command shown twice writes afresh.
    rmSync(argv[argv.indexOf('--out') + 1]!, { recursive: true, force: true });
  }
  if (argv[0] === 'train' && !bare && !argv.includes('--resume')) {
    for (const name of readdirSync('runs'))
      if (name !== 'main') rmSync(path.join('runs', name), { recursive: true });
  }
  const r = await capture(full);
  ran.push(full.join(' '));
  assert.equal(
    r.code,
    0,
    `${where}: \`${line}\` ran as \`nanovlm ${full.join(' ')}\` and failed (${r.code}):\n${r.err}`,
  );
  return r;
}

test('fixture: a model where the docs say, a picture, COCO files', async () => {
  const tokenizer = trainTokenizer(
    ['A red ball lies on the green grass.', 'Two brown dogs play in the snow.', 'A cat sits near a tree.'],
    { vocabSize: MIN_VOCAB_SIZE + 40, minFrequency: 1 },
  );
  const model = createModel({ ...configFor('tiny', tokenizer), dropout: 0 }, { seed: 1 });
  await saveModel(model, tokenizer, 'runs/main/checkpoints/best');
  mkdirSync('train2017');
  mkdirSync('annotations');
  const images = [];
  const annotations = [];
  for (let i = 1; i <= 6; i++) {
    const file_name = `00000000000${i}.png`;
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 40 * i, g: 120, b: 30 } } })
      .png()
      .toFile(path.join('train2017', file_name));
    images.push({ id: i, file_name, width: 40, height: 30 });
    for (let k = 0; k < 5; k++)
      annotations.push({
        id: i * 10 + k,
        image_id: i,
        caption: `A green picture number ${i}, caption ${k}.`,
      });
  }
  await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 60, b: 40 } } })
    .png()
    .toFile('picture.png');
  const coco = JSON.stringify({ images, annotations });
  writeFileSync('captions_train2017.json', coco);
  writeFileSync(path.join('annotations', 'captions_train2017.json'), coco);
  const instances = {
    images,
    annotations: images.map((im) => ({
      id: im.id,
      image_id: im.id,
      category_id: 18,
      bbox: [4, 3, 20, 15],
      iscrowd: 0,
    })),
    categories: [{ id: 18, name: 'dog' }],
  };
  writeFileSync(path.join('annotations', 'instances_train2017.json'), JSON.stringify(instances));
});

test('every example in every --help runs as written', async () => {
  const top = await capture(['--help']);
  assert.equal(top.code, 0);
  const commands = [...top.out.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 8, top.out);
  const helps: [string, string][] = [['nanovlm --help', top.out]];
  for (const c of commands) {
    const h = await capture([c, '--help']);
    assert.equal(h.code, 0, `nanovlm ${c} --help: ${h.err}`);
    helps.push([`nanovlm ${c} --help`, h.out]);
    const subs = h.out.includes('subcommands:')
      ? [...h.out.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]!)
      : [];
    for (const s of subs) {
      const sh = await capture([c, s, '--help']);
      assert.equal(sh.code, 0, `nanovlm ${c} ${s} --help: ${sh.err}`);
      helps.push([`nanovlm ${c} ${s} --help`, sh.out]);
    }
  }
  // In the order a user follows the README: scenes first, then a tokenizer for them, then the rest.
  const first = ['nanovlm data scenes --help', 'nanovlm tokenizer train --help'];
  const rank = (where: string) => (first.includes(where) ? first.indexOf(where) : first.length);
  helps.sort((a, b) => rank(a[0]) - rank(b[0]));
  for (const [where, help] of helps) {
    const isLeaf = !help.includes('subcommands:') && where !== 'nanovlm --help';
    const examples = helpExamples(help);
    if (isLeaf) assert.ok(examples.length > 0, `${where} shows no examples`);
    for (const line of examples) await runDocumented(line, where);
  }
});

test('every command in README.md and docs/eval.md runs as written', async () => {
  const readme = documentedCommands(README);
  for (const must of [
    'nanovlm data check DIR',
    'npm install && npm run main',
    'npm test',
    'nanovlm serve --model DIR',
  ]) {
    assert.ok(readme.includes(must), `found in README: ${must}\n${readme.join('\n')}`);
  }
  served = await startServer(await loadModel('runs/main/checkpoints/best'), { port: 0, log: () => {} });
  try {
    // The several-machines recipe (CUDA, torchrun on 4 nodes) cannot run here; its pieces that can (the
    // torch engine on CPU, --print-command) are in test/reference/torch-engine.test.ts.
    const cluster = (l: string) => /--device cuda|torchrun /.test(l);
    assert.equal(readme.filter(cluster).length, 2, readme.filter(cluster).join('\n'));
    for (const line of readme.filter((l) => !cluster(l))) await runDocumented(line, 'README.md');
    // The README's JavaScript examples (the openai client), as files a user would run.
    symlinkSync(path.join(repo, 'node_modules'), 'node_modules');
    for (const [i, block] of [...README.matchAll(/```js\n([\s\S]*?)```/g)].entries()) {
      writeFileSync(`readme-${i}.mjs`, atServer(block[1]!));
      const r = await exec(process.execPath, [`readme-${i}.mjs`]);
      assert.equal(r.status, 0, `README.md js block ${i}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith('The brown dog'), `README.md js block ${i}: ${r.stdout}`);
      ran.push(`readme-${i}.mjs`);
    }
  } finally {
    await served.close();
  }
  const evalDoc = documentedCommands(EVAL_DOC);
  assert.ok(evalDoc.length >= 3);
  for (const line of evalDoc) {
    // The report compares our graded file with another system's, which the docs assume exists.
    if (line.includes('eval report') && line.includes('graded-blip.jsonl')) {
      const ours = readFileSync('graded-mini.jsonl', 'utf8').split('\n').filter(Boolean);
      writeFileSync(
        'graded-blip.jsonl',
        ours.map((l) => JSON.stringify({ ...JSON.parse(l), system: 'blip-base' })).join('\n') + '\n',
      );
    }
    await runDocumented(line, 'docs/eval.md');
  }
});

test('the README library snippet is what the package exports', () => {
  const snippet = README.match(/```ts\n([\s\S]*?)```/)![1]!;
  assert.match(snippet, /import \{ loadModel \} from 'nanovlm';/);
  assert.doesNotMatch(snippet, /^const .* = await /m, 'no top-level await: it fails outside an ES module');
  assert.match(readFileSync(path.join(repo, 'src', 'index.ts'), 'utf8'), /^\s+loadModel,$/m);
});

test('the commands above really ran (not only their help)', () => {
  for (const must of [
    'data check data/scenes',
    'eval complete --model runs/main/checkpoints/best --data data/scenes',
    'generate --model runs/main/checkpoints/best --image picture.png --prompt The dog',
    'eval report --in graded-mini.jsonl graded-blip.jsonl --out report/',
    'curl -s localhost:8080/v1/chat/completions',
    'readme-0.mjs',
  ]) {
    assert.ok(
      ran.some((r) => r.startsWith(must)),
      `${must} ran:\n${ran.join('\n')}`,
    );
  }
  assert.ok(ran.length > 40, `${ran.length} commands`);
});
