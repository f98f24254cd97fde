// Builds the C addon with node-gyp at `npm install`. A failed build is not fatal: the `ts` backend
// takes over at run time with a one-line warning (see src/tensor/backends/index.ts).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
if (!existsSync(path.join(root, 'binding.gyp'))) process.exit(0);
const require = createRequire(import.meta.url);
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js', {
    paths: [path.dirname(process.execPath) + '/../lib/node_modules/npm'],
  });
} catch {
  gyp = null;
}
// Use the headers installed beside node when they exist, so the build needs no download.
const args = ['rebuild'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (
  existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) &&
  existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))
) {
  args.push(`--nodedir=${prefix}`);
}
const cmd = gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args];
const r = spawnSync(cmd[0], cmd[1], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.warn('nanovlm: the native addon did not build; the slower TypeScript backend will be used.');
}
