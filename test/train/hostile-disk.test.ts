/**
 * A full disk, a read-only output folder, and a folder where the manifest should be (issue 18 item 6):
 * one line naming the file and the reason, exit 1, and the checkpoints and data already on disk stay as
 * they were. The small file systems are tmpfs mounts (this needs root, as CI and the dev machines have).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertOneLineError, assertUnchanged, hashTree, runCli } from '../helpers/hostile.ts';
import { makeDataset, tinyTrainArgs } from './fixture.ts';

const root = mkdtempSync(path.join(tmpdir(), 'nanovlm-disk-'));
const data = path.join(root, 'data');
const disk = path.join(root, 'disk');
let mounted = false;

before(async () => {
  await makeDataset(data, { count: 30 });
  mkdirSync(disk);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', disk], { stdio: 'ignore' });
    mounted = true;
  } catch {
    mounted = false;
  }
});
after(() => {
  if (mounted) execFileSync('umount', [disk]);
  rmSync(root, { recursive: true, force: true });
});

const trainArgs = (out: string) => tinyTrainArgs(data, out, '--json');

test('disk full during a checkpoint: one line, exit 1, the earlier checkpoint intact', async (t) => {
  if (!mounted) return t.skip('mounting a tmpfs needs root');
  const run = path.join(disk, 'run');
  const first = await runCli(trainArgs(run), { timeoutMs: 120_000 });
  assert.equal(first.code, 0, first.stderr);
  const checkpoints = path.join(run, 'checkpoints');
  const beforeCk = hashTree(checkpoints);
  const beforeData = hashTree(data);
  // Leave about 100 kB free: less than one checkpoint.
  const { bavail, bsize } = statfsSync(disk);
  writeFileSync(path.join(disk, 'filler'), Buffer.alloc(Math.max(0, bavail * bsize - 100 * 1024)));
  const r = await runCli(['train', '--resume', run, '--steps', '8', '--json'], { timeoutMs: 120_000 });
  assertOneLineError(
    r,
    /^nanovlm train: \S+\.safetensors: (only \d+ of \d+ bytes could be written \(no space left on the device\?\)|no space left on the device)$/,
  );
  assertUnchanged(checkpoints, beforeCk); // and no temp folder left beside them
  assertUnchanged(data, beforeData);
  unlinkSync(path.join(disk, 'filler'));
});

test('a read-only output folder: one line saying so (not ENOENT mkdir)', async (t) => {
  if (!mounted) return t.skip('mounting a tmpfs needs root');
  const ro = path.join(disk, 'ro');
  mkdirSync(ro, { recursive: true });
  execFileSync('mount', ['-o', 'remount,ro', disk]);
  try {
    const before = hashTree(disk);
    const r = await runCli(trainArgs(path.join(ro, 'new-run')), { timeoutMs: 60_000 });
    assertOneLineError(
      r,
      /^nanovlm train: \S+\/ro\/new-run: cannot create the folder \(\S+: read-only file system\)$/,
    );
    assertUnchanged(disk, before);
  } finally {
    execFileSync('mount', ['-o', 'remount,rw', disk]);
  }
});

test('a folder where manifest.jsonl should be: one line, exit 1', async () => {
  const bad = path.join(root, 'bad-data');
  cpSync(data, bad, { recursive: true });
  unlinkSync(path.join(bad, 'manifest.jsonl'));
  mkdirSync(path.join(bad, 'manifest.jsonl'));
  const before = hashTree(bad);
  const r2 = await runCli(
    ['train', '--model', 'tiny', '--data', bad, '--out', path.join(root, 'never'), '--steps', '1'],
    { timeoutMs: 60_000 },
  );
  assertOneLineError(r2, /^nanovlm train: \S+\/bad-data\/manifest\.jsonl: is a folder, expected a file$/);
  assertUnchanged(bad, before);
});
