/** Helpers for the bad-input tests: run the CLI as a user would, and prove nothing on disk changed. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

const BIN = path.resolve(import.meta.dirname, '../../bin/nanovlm.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `nanovlm ...args` in a child process; kills it after `timeoutMs` (a hang fails the test). */
export function runCli(
  args: string[],
  {
    timeoutMs = 30_000,
    env = {},
    cwd,
  }: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** The CLI failed with exit `code` and printed exactly one line on stderr matching `pattern`: no trace. */
export function assertOneLineError(r: CliResult, pattern: RegExp, code = 1): void {
  assert.equal(r.signal, null, `killed by ${r.signal} after ${r.ms} ms (hung?); stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:|RangeError|TypeError/);
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
}

/** Every path under `root` with a hash of its content (files), target (links) or kind (others). */
export function hashTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const rel = path.relative(root, p);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.set(rel + '/', 'dir');
        walk(p);
      } else if (st.isFile()) out.set(rel, createHash('sha256').update(readFileSync(p)).digest('hex'));
      else if (st.isSymbolicLink()) out.set(rel, `link:${readlinkSync(p)}`);
      else out.set(rel, `special:${st.mode}`);
    }
  };
  walk(root);
  return out;
}

/** Asserts that `root` holds exactly what `before` recorded. */
export function assertUnchanged(root: string, before: Map<string, string>): void {
  assert.deepEqual(Object.fromEntries(hashTree(root)), Object.fromEntries(before));
}
