// `npm run build` (also run by `npm pack` through prepack): compiles src/ to JavaScript with declarations
// in dist/, for plain Node and TypeScript users of the installed package. The CLI and the tests in a
// checkout keep running the sources (bin/nanovlm.js); dist/ is only what the package ships.
import { cpSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

rmSync(dist, { recursive: true, force: true }); // only ever this script's output
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (r.status !== 0) {
  console.error('build: tsc failed');
  process.exit(1);
}
// Files the code reads at run time (page.html, objects.json) go beside the compiled modules.
for (const file of walk(src).filter((f) => !f.endsWith('.ts'))) {
  cpSync(file, path.join(dist, path.relative(src, file)));
}
// tsc rewrites `./x.ts` imports in the JavaScript but not in the declarations: point those at `./x.js`.
for (const file of walk(dist).filter((f) => f.endsWith('.d.ts'))) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/((?:from|import)\s*\(?\s*['"])(\.\.?\/[^'"]*)\.ts(['"])/g, '$1$2.js$3');
  if (fixed !== text) writeFileSync(file, fixed);
}
console.error(`build: ${path.relative(root, dist)}/ from ${path.relative(root, src)}/`);
