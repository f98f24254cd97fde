// `npm run bench -- NAME [args]`: runs bench/NAME.ts (or bench/NAME/index.ts). Its last line is one JSON object.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const [name, ...rest] = process.argv.slice(2);
const candidates = [`bench/${name}.ts`, `bench/${name}/index.ts`];
const file = name && candidates.find((f) => existsSync(f));
if (!file) {
  const all = readdirSync('bench')
    .map((f) => f.replace(/\.ts$/, ''))
    .filter((f) => !f.startsWith('_'));
  console.error(`usage: npm run bench -- NAME   (one of: ${all.join(', ')})`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
