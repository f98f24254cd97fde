// One style across every command: how --help shows defaults, and how a usage error is reported (exit 2,
// one line that starts with the command's name, the option's kebab-case name, no stack trace).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { main } from '../../src/cli/main.ts';
import { saveTinyModel, type TinyModel } from '../serve/fixture.ts';

/** Runs the CLI in this process; what it printed on stdout and stderr, and its exit code. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** The names listed under "commands:" or "subcommands:" in an overview. */
const listed = (overview: string) =>
  [...overview.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!).filter((n) => n !== 'help');

let model: TinyModel;
let root: string;
before(async () => {
  model = await saveTinyModel();
  root = path.join(model.root, 'cwd');
  mkdirSync(root);
});
after(() => model?.cleanup());

test('every --help ends each option line the same way: (required), (default: VALUE) or nothing', async () => {
  const commands = listed((await cli(['--help'])).out);
  assert.ok(commands.length >= 9, commands.join(' '));
  const all: string[][] = [];
  for (const c of commands) {
    const help = await cli([c, '--help']);
    assert.equal(help.code, 0, c);
    const subs = help.out.includes('\nsubcommands:\n') ? listed(help.out.split('subcommands:')[1]!) : [];
    if (subs.length) all.push(...subs.map((s) => [c, s]));
    else all.push([c]);
  }
  assert.ok(all.length >= 18, `${all.length} commands`);
  for (const argv of all) {
    const { code, out } = await cli([...argv, '--help']);
    assert.equal(code, 0, argv.join(' '));
    const lines = out.split('\n').filter((l) => /^ {2}--[a-z][a-z0-9-]*( <| {2,})/.test(l));
    assert.ok(lines.length >= 1, argv.join(' '));
    for (const line of lines) {
      const where = `nanovlm ${argv.join(' ')}: ${line.trim()}`;
      const m = /^ {2}--[a-z0-9-]+( <[^>]+>)? +(.*)$/.exec(line);
      assert.ok(m, where);
      const [, value, text] = m;
      // "default" only in the closing note; a flag never says it is off (it is off unless given), and
      // one that is on by default says how to turn it off there.
      const note = /\((required|default: .*)\)$/.exec(text!);
      const body = note ? text!.slice(0, note.index) : text!;
      assert.doesNotMatch(body, /\bdefault\b|--no-[a-z]/i, where);
      if (!value && note) assert.match(note[1]!, /^default: on; --no-[a-z0-9-]+ turns it off$/, where);
      if (value && note) assert.doesNotMatch(note[1]!, /^default: (on|off|true|false)?$/, where);
    }
  }
});

test('a bad option or value is a usage error: exit 2, one line naming the command and the option', async () => {
  const M = model.dir;
  const d = root;
  const o = path.join(root, 'out');
  const local = 'http://127.0.0.1:9/v1';
  // [command line (split on spaces) or its arguments, the command its message starts with, what it says]
  const cases: [string | string[], string, RegExp][] = [
    ['bogus', 'nanovlm', /unknown command "bogus"/],
    ['main --count 0', 'nanovlm main', /--count must be from 1 to 999999, got 0/],
    ['main --show -1', 'nanovlm main', /--show must be at least 0, got -1/],
    ['main --eval-count many', 'nanovlm main', /--eval-count: expected a number, got "many"/],
    ['main --ood-count -1', 'nanovlm main', /--ood-count must be at least 0, got -1/],
    ['main --minutes 0', 'nanovlm main', /--minutes must be positive/],
    ['main --model huge', 'nanovlm main', /--model: expected one of tiny, mini, base, large, got "huge"/],
    ['data bogus', 'nanovlm data', /unknown subcommand "bogus"/],
    [`data scenes --out ${o} --count 0`, 'nanovlm data scenes', /--count must be at least 1, got 0/],
    [`data scenes --out ${o} --count 1000000`, 'nanovlm data scenes', /--count must be from 1 to 999999/],
    [`data scenes --out ${o} --workers 0`, 'nanovlm data scenes', /--workers must be at least 1, got 0/],
    [`data scenes --out ${o} --hold-out`, 'nanovlm data scenes', /--hold-out: a value is required/],
    [`data scenes --out ${o} extra`, 'nanovlm data scenes', /unexpected argument "extra"/],
    [
      `data coco --captions c.json --images i --out ${o} --val-fraction 2`,
      'nanovlm data coco',
      /--val-fraction must be in \[0, 1\), got 2/,
    ],
    [`data coco --images i --out ${o}`, 'nanovlm data coco', /--captions is required/],
    [
      `data describe --in ${d} --kind short --endpoint ${local} --concurrency 0`,
      'nanovlm data describe',
      /--concurrency must be at least 1, got 0/,
    ],
    [
      `data describe --in ${d} --kind short --endpoint ${local} --timeout 0`,
      'nanovlm data describe',
      /--timeout must be positive, got 0/,
    ],
    [
      `data pack --in ${d} --out ${o} --image-size 0`,
      'nanovlm data pack',
      /--image-size must be at least 1, got 0/,
    ],
    [`data check ${d} ${o}`, 'nanovlm data check', /give one dataset folder/],
    [`data check --size 0 ${d}`, 'nanovlm data check', /--size must be at least 1, got 0/],
    [
      `tokenizer train --data ${d} --vocab 10`,
      'nanovlm tokenizer train',
      /--vocab must be from 260 to 65536/,
    ],
    [
      `tokenizer train --data ${d} --min-frequency 0`,
      'nanovlm tokenizer train',
      /--min-frequency must be at least 1/,
    ],
    ['tokenizer encode hello', 'nanovlm tokenizer encode', /--tokenizer is required/],
    ['info --model tiny --text-len 1', 'nanovlm info', /--text-len must be between 2 and max_text_len/],
    ['info --model tiny --bogus', 'nanovlm info', /unknown option --bogus/],
    [`train --data ${d} --batch-size 0`, 'nanovlm train', /--batch-size .*must be at least 1, got 0/],
    [`train --data ${d} --lr fast`, 'nanovlm train', /--lr: expected a number, got "fast"/],
    [`train --resume ${d} --model mini`, 'nanovlm train', /--resume takes the model and config/],
    [`generate --model ${M}`, 'nanovlm generate', /give at least one --image FILE/],
    [
      `generate --model ${M} --image x.png --top-k -1`,
      'nanovlm generate',
      /--top-k must be at least 0, got -1/,
    ],
    [`generate --model ${M} --image x.png --top-p 2`, 'nanovlm generate', /--top-p must be in \(0, 1\]/],
    [`serve --model ${M} --port 70000`, 'nanovlm serve', /--port must be from 0 to 65535, got 70000/],
    [`serve --model ${M} --queue -1`, 'nanovlm serve', /--queue must be at least 0, got -1/],
    [
      ['serve', '--model', M, '--model-name', 'a b'],
      'nanovlm serve',
      /--model-name must be 1-200 characters/,
    ],
    [`serve --model ${M} --port 0 --host bad!host`, 'nanovlm serve', /--host: "bad!host" is not an address/],
    [`export --model ${M}`, 'nanovlm export', /--out is required/],
    ['eval bogus', 'nanovlm eval', /unknown subcommand "bogus"/],
    [
      `eval complete --model ${M} --data ${d} --samples 0`,
      'nanovlm eval complete',
      /--samples must be at least 1/,
    ],
    [
      `eval complete --model ${M} --data ${d} --temperature -1`,
      'nanovlm eval complete',
      /--temperature must be at least 0, got -1/,
    ],
    [
      `eval judge --in x.jsonl --endpoint ${local} --max-tokens 0`,
      'nanovlm eval judge',
      /--max-tokens must be at least 1, got 0/,
    ],
    ['eval report', 'nanovlm eval report', /give at least one --in FILE/],
    [
      `eval auto --model ${M} --data ${d} --count -1`,
      'nanovlm eval auto',
      /--count must be at least 0, got -1/,
    ],
    [
      `eval auto --model ${M} --data ${d} --batch-size 0`,
      'nanovlm eval auto',
      /--batch-size must be at least 1/,
    ],
    ['eval scaling --models huge', 'nanovlm eval scaling', /--models: unknown huge/],
    ['eval scaling --eval-count -1', 'nanovlm eval scaling', /--eval-count must be at least 0, got -1/],
  ];
  const cwd = process.cwd();
  process.chdir(root);
  try {
    for (const [given, command, message] of cases) {
      const argv = typeof given === 'string' ? given.split(' ') : given;
      const line = argv.join(' ');
      const r = await cli(argv);
      assert.equal(r.code, 2, `${line}: exit ${r.code}: ${r.err}`);
      const first = r.err.split('\n')[0]!;
      assert.ok(first.startsWith(`${command}: `), `${line}: "${first}" should start with "${command}: "`);
      assert.match(first, message, line);
      assert.doesNotMatch(r.err, /^\s+at /m, `${line}: a stack trace`);
      // Only an unknown command or subcommand adds the list of the known ones.
      if (!/unknown (sub)?command/.test(first))
        assert.equal(r.err.split('\n').length, 1, `${line}: ${r.err}`);
    }
  } finally {
    process.chdir(cwd);
  }
});
