// The package as a user gets it: `npm pack` (its prepack compiles dist/), the tarball installed into a
// fresh folder (which builds the native addon), then used from plain Node (`import('nanovlm')`, the
// `nanovlm` command) and type-checked from a TypeScript consumer with the library checks on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const repo = path.resolve('.');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000 });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`,
  );
  return r.stdout;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const CONSUMER = `import { loadModel, presetConfig, type ModelConfig, type Description } from 'nanovlm';
const config: ModelConfig = presetConfig('tiny');
export const width: number = config.n_embd;
export async function describe(file: string): Promise<string> {
  const vlm = await loadModel('model');
  const d: Description = await vlm.describe(file, { maxNewTokens: 5 });
  return d.text;
}
// @ts-expect-error a number is not a string: the declarations carry real types, not any
export const wrong: string = config.n_embd;
`;

// Plain Node, no loader: build a tiny model and tokenizer, save, load, describe a scene picture.
const PLAIN = `import assert from 'node:assert/strict';
const nv = await import('nanovlm');
assert.equal(nv.backend().name, 'native', 'the addon was built at install');
const texts = ['a red ball is on the grass', 'two brown dogs play in the snow', 'a cat sits near a tree'];
const tokenizer = nv.trainTokenizer(texts, { vocabSize: 300, minFrequency: 1 });
const config = { ...nv.presetConfig('tiny'), vocab_size: tokenizer.vocabSize };
await nv.saveModel(nv.createModel(config, { seed: 1 }), tokenizer, 'model');
const vlm = await nv.loadModel('model');
const d = await vlm.describe(process.argv[2], { maxNewTokens: 6, temperature: 0 });
assert.equal(typeof d.text, 'string');
console.log(JSON.stringify({ exports: Object.keys(nv).length, params: nv.countParams(config).total, text: d.text }));
`;

test('npm pack ships dist/ with declarations, no tests; an installed copy works from plain Node and tsc', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'nanovlm-pack-'));
  try {
    const packed = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', tmp], repo))[0];
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    for (const f of [
      'LICENSE',
      'README.md',
      'package.json',
      'bin/nanovlm.js',
      'dist/index.js',
      'dist/index.d.ts',
    ]) {
      assert.ok(files.includes(f), `${f} is shipped`);
    }
    for (const f of files) {
      assert.doesNotMatch(f, /^(test|bench|\.ci|src|docs|runs|data)\//, `${f} is not shipped`);
      assert.ok(!f.startsWith('tools/') || f === 'tools/build-native.mjs', `${f} is not shipped`);
    }
    // Every file the code reads beside itself (page.html, objects.json) is in dist/.
    for (const f of walk('src').filter((x) => !x.endsWith('.ts'))) {
      assert.ok(files.includes(path.join('dist', path.relative('src', f))), `${f} has its copy in dist/`);
    }

    const app = path.join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    run(
      npm,
      ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(tmp, packed.filename)],
      app,
    );

    const bin = path.join(app, 'node_modules', '.bin', 'nanovlm');
    const scenes = JSON.parse(
      run(bin, ['data', 'scenes', '--out', 'scenes', '--count', '2', '--workers', '1', '--json'], app),
    );
    assert.equal(scenes.count, 2);
    writeFileSync(path.join(app, 'plain.mjs'), PLAIN);
    const out = JSON.parse(run(process.execPath, ['plain.mjs', 'scenes/images/000001.png'], app).trim());
    assert.ok(out.exports > 10 && out.params > 0, JSON.stringify(out));

    writeFileSync(path.join(app, 'consumer.ts'), CONSUMER);
    // The README's library snippet, as a user would paste it.
    const snippet = readFileSync(path.join(repo, 'README.md'), 'utf8').match(/```ts\n([\s\S]*?)```/)![1]!;
    writeFileSync(path.join(app, 'readme.ts'), snippet);
    const tsconfig = {
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [path.join(repo, 'node_modules', '@types')],
      },
      files: ['consumer.ts', 'readme.ts'],
    };
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    run(process.execPath, [tsc, '-p', '.'], app);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
