// The setup step's decisions (tools/setup.mjs) against a fake dpkg status database and a fake apt-get on
// PATH: nothing is really installed or removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installCommand, missingPackages, readPackageList, setup, PACKAGE_LIST } from '../../tools/setup.mjs';

const stanza = (name: string, status: string, arch = 'amd64') =>
  `Package: ${name}\nStatus: ${status}\nPriority: optional\nArchitecture: ${arch}\nVersion: 1.0\n`;

const STATUS = [
  stanza('link-grammar', 'install ok installed'),
  stanza('chromium-common', 'install ok installed'),
  stanza('chromium', 'deinstall ok config-files'), // removed, its configuration kept
  stanza('python3-torch', 'install ok half-configured'),
  stanza('libfoo1', 'install ok installed', 'i386'),
].join('\n');

interface Sandbox {
  dir: string;
  list: string;
  status: string;
  aptLog: string;
  env: NodeJS.ProcessEnv;
  run(o: { uid: number; forMain?: boolean }): { code: number; said: string; aptCalls: string[] };
}

/** A package list, a dpkg status file and an apt-get that logs its arguments and "installs" by appending. */
function sandbox(listText: string, statusText: string, aptExit = 0): Sandbox {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-setup-'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const list = path.join(dir, 'debian-packages.txt');
  const status = path.join(dir, 'status');
  const aptLog = path.join(dir, 'apt.log');
  writeFileSync(list, listText);
  writeFileSync(status, statusText);
  writeFileSync(
    path.join(bin, 'apt-get'),
    [
      '#!/bin/sh',
      `echo "$DEBIAN_FRONTEND $*" >> '${aptLog}'`,
      `[ ${aptExit} -ne 0 ] && exit ${aptExit}`,
      'if [ "$1" = install ]; then',
      '  for a in "$@"; do case "$a" in -*|install) ;; *)',
      `    printf '\\nPackage: %s\\nStatus: install ok installed\\n' "$a" >> '${status}' ;;`,
      '  esac; done',
      'fi',
      'exit 0',
    ].join('\n'),
  );
  chmodSync(path.join(bin, 'apt-get'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  return {
    dir,
    list,
    status,
    aptLog,
    env,
    run({ uid, forMain = false }) {
      const lines: string[] = [];
      const code = setup({
        forMain,
        listFile: list,
        statusFile: status,
        uid,
        env,
        log: (m) => lines.push(m),
      });
      const aptCalls = existsSync(aptLog) ? readFileSync(aptLog, 'utf8').trim().split('\n') : [];
      return { code, said: lines.join('\n'), aptCalls };
    },
  };
}

const LIST = [
  '# comment line',
  '',
  'link-grammar     # the grammar measure',
  'chromium         # the page test',
  'python3-torch  main  # reference checks',
  'libfoo1          # another architecture',
].join('\n');

test('the real list parses: one package per line, a comment each', () => {
  const names = readPackageList(PACKAGE_LIST).map((p) => p.name);
  for (const n of ['python3-torch', 'libopenblas0-pthread', 'link-grammar', 'chromium']) {
    assert.ok(names.includes(n), n);
  }
  for (const line of readFileSync(PACKAGE_LIST, 'utf8').split('\n')) {
    if (line.trim() && !line.startsWith('#')) assert.match(line, /#\s*\S/, `a "# why" on: ${line}`);
  }
});

test('the list is read as NAME [main]; anything else is refused with its line number', () => {
  const s = sandbox(LIST, '');
  try {
    assert.deepEqual(readPackageList(s.list), [
      { name: 'link-grammar', main: false },
      { name: 'chromium', main: false },
      { name: 'python3-torch', main: true },
      { name: 'libfoo1', main: false },
    ]);
    writeFileSync(s.list, 'link-grammar\nchromium test  # why\n');
    assert.throws(() => readPackageList(s.list), /debian-packages\.txt:2: expected "NAME \[main\]/);
    writeFileSync(s.list, 'link-grammar\nchromium test  # why\n');
    const r = s.run({ uid: 0 });
    assert.equal(r.code, 1);
    assert.match(r.said, /^setup: .*:2: expected/);
    assert.deepEqual(r.aptCalls, []);
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('missing: absent, removed (config-files) and half-configured count; any installed architecture does not', () => {
  assert.deepEqual(
    missingPackages(['link-grammar', 'chromium', 'python3-torch', 'libfoo1', 'nothere'], STATUS),
    ['chromium', 'python3-torch', 'nothere'],
  );
  // a name that is only a prefix of an installed one is not installed
  assert.deepEqual(missingPackages(['chromium-c', 'link'], STATUS), ['chromium-c', 'link']);
});

test('not root: prints the exact command for what is missing, fails, runs no apt-get', () => {
  const s = sandbox(LIST, STATUS);
  try {
    const r = s.run({ uid: 1000 });
    assert.equal(r.code, 1);
    assert.deepEqual(r.aptCalls, []);
    assert.match(r.said, /missing Debian packages: chromium python3-torch\./);
    assert.ok(
      r.said.includes(
        '  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium python3-torch',
      ),
      r.said,
    );
    assert.equal(
      installCommand(['a', 'b']),
      'apt-get update && apt-get install -y --no-install-recommends a b',
    );
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('root: apt-get update once, then installs only what is missing, noninteractive; then nothing to do', () => {
  const s = sandbox(LIST, STATUS);
  try {
    const first = s.run({ uid: 0 });
    assert.equal(first.code, 0, first.said);
    assert.deepEqual(first.aptCalls, [
      'noninteractive update -q',
      'noninteractive install -y -q --no-install-recommends chromium python3-torch',
    ]);
    const again = s.run({ uid: 0 });
    assert.equal(again.code, 0);
    assert.equal(again.said, '');
    assert.equal(again.aptCalls.length, 2, 'no apt-get call when all is present');
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('--for main checks only the packages marked main', () => {
  const s = sandbox(LIST, STATUS);
  try {
    const r = s.run({ uid: 1000, forMain: true });
    assert.equal(r.code, 1);
    assert.match(r.said, /missing Debian packages: python3-torch\./);
    writeFileSync(s.list, 'chromium  # only tests\n');
    assert.deepEqual(s.run({ uid: 1000, forMain: true }), { code: 0, said: '', aptCalls: [] });
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('root: a failing apt-get fails the step with the command that was tried', () => {
  const s = sandbox(LIST, STATUS, 100);
  try {
    const r = s.run({ uid: 0 });
    assert.equal(r.code, 1);
    assert.deepEqual(r.aptCalls, ['noninteractive update -q']);
    assert.match(r.said, /apt-get update failed \(exit code 100\)/);
    assert.ok(r.said.includes('apt-get install -y --no-install-recommends chromium python3-torch'), r.said);
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('root: apt-get that succeeds without installing is caught', () => {
  const s = sandbox(LIST, STATUS);
  try {
    writeFileSync(path.join(s.dir, 'bin', 'apt-get'), '#!/bin/sh\nexit 0\n');
    const r = s.run({ uid: 0 });
    assert.equal(r.code, 1);
    assert.match(r.said, /still not installed: chromium python3-torch/);
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('no dpkg database (not Debian): names the packages to install by hand and lets the tests run', () => {
  const s = sandbox(LIST, STATUS);
  try {
    rmSync(s.status);
    const r = s.run({ uid: 1000 });
    assert.equal(r.code, 0);
    assert.match(r.said, /not found \(not a Debian system\?\).*link-grammar chromium python3-torch libfoo1/);
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('npm test, npm run main and .ci/run all go through this one step (none installs on its own)', () => {
  const ci = readFileSync('.ci/run', 'utf8');
  assert.match(ci, /^node tools\/setup\.mjs$/m);
  assert.doesNotMatch(ci, /apt-get|dpkg/);
  const scripts = JSON.parse(readFileSync('package.json', 'utf8')).scripts;
  assert.match(scripts.main, /^node tools\/setup\.mjs --for main && /);
  assert.match(scripts.test, /^node tools\/run-tests\.mjs/);
  assert.match(scripts['test:reference'], /^node tools\/run-tests\.mjs/);
  assert.match(readFileSync('tools/run-tests.mjs', 'utf8'), /^const setupCode = setup\(\);$/m);
});
