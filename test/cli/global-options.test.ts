// Options of the nanovlm command itself: --version and --threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const run = (args: string[]) =>
  spawnSync(process.execPath, ['bin/nanovlm.js', ...args], { encoding: 'utf8' });

test('--version prints the package version', () => {
  const r = run(['--version']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `nanovlm ${JSON.parse(readFileSync('package.json', 'utf8')).version}`);
  assert.match(run(['--help']).stdout, /--threads N .*\n.*--version/);
});

test('--threads N, before or after the command, sets the kernel threads; a bad value is a usage error', () => {
  const threadsAfter = (args: string[]) => {
    const code = [
      "import { main } from './src/cli/main.ts';",
      `const code = await main(${JSON.stringify(args)});`,
      "const { backend } = await import('./src/tensor/backends/index.ts');",
      'console.log(JSON.stringify({ code, threads: backend().threads }));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8',
      env: { ...process.env, NANOVLM_THREADS: '' },
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  assert.deepEqual(threadsAfter(['--threads', '1', 'info', '--model', 'tiny']), { code: 0, threads: 1 });
  assert.deepEqual(threadsAfter(['info', '--model', 'tiny', '--threads=3']), { code: 0, threads: 3 });
  for (const bad of [
    ['--threads', '0', 'info'],
    ['info', '--threads', 'many'],
    ['info', '--threads'],
  ]) {
    const r = run(bad);
    assert.equal(r.status, 2, bad.join(' '));
    assert.match(r.stderr, /^nanovlm: --threads: expected a whole number from 1 to 256/);
  }
});
