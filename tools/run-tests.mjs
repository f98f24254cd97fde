// `npm test`: every test/**/*.test.ts through node's own test runner (Node 20 takes no globs).
// `--reference` runs only the PyTorch cross-checks in test/reference/. Both first run the setup step
// (tools/setup.mjs: the Debian packages the tests need), as .ci/run does.
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { setup } from './setup.mjs';

const args = process.argv.slice(2);
const reference = args.includes('--reference');
const filters = args.filter((a) => !a.startsWith('--'));
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}
const setupCode = setup();
if (setupCode !== 0) process.exit(setupCode);
let files = walk('test').sort();
files = files.filter((f) => f.startsWith(path.join('test', 'reference')) === reference);
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (!files.length) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
