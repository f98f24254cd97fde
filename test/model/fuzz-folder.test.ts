/**
 * Fuzzing the model folder parsers (issue 18): random mutations of a valid folder's safetensors header
 * and config.json, with a fixed seed and a bounded count. Every load either succeeds or fails with a
 * UserError (one line, no trace); none hangs, and memory stays bounded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configFor } from '../../src/model/config.ts';
import { readModelFolder, saveModel } from '../../src/model/folder.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { tinyConfig } from './helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'nanovlm-fuzz-'));
const good = path.join(root, 'good');
const work = path.join(root, 'work');
let weights: Buffer;
let config: Record<string, unknown>;
before(async () => {
  const tok = Tokenizer.fromMerges([]);
  await saveModel(createModel(configFor(tinyConfig(), tok), { seed: 5 }), tok, good);
  weights = readFileSync(path.join(good, 'model.safetensors'));
  config = JSON.parse(readFileSync(path.join(good, 'config.json'), 'utf8'));
  cpSync(good, work, { recursive: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

const ODD_VALUES: unknown[] = [
  0,
  -1,
  1,
  2,
  3,
  7,
  1e6,
  1e9,
  2 ** 31,
  2 ** 32 + 1,
  2 ** 53,
  1e308,
  -1e308,
  0.5,
  2.5,
  NaN,
  null,
  true,
  false,
  '',
  '32',
  'cls',
  'all',
  'nanovlm',
  [],
  [1],
  [1e6, 1e6],
  [0, 0],
  [8, 16, 32],
  {},
  { __proto__: 1 },
];
const ODD_KEYS = ['__proto__', 'constructor', 'toString', 'valueOf', '__metadata__', '', 'n_embd '];

function pickValue(rng: Rng): unknown {
  const v = rng.pick(ODD_VALUES);
  return typeof v === 'number' && rng.next() < 0.3 ? Math.floor(v * rng.next() * 3) : v;
}

/** Replaces, adds or deletes one random key of a JSON object (its own keys, or odd ones). */
function mutateObject(obj: Record<string, unknown>, rng: Rng): void {
  const keys = Object.keys(obj);
  const r = rng.next();
  if (r < 0.1 && keys.length) delete obj[rng.pick(keys)];
  else if (r < 0.2)
    Object.defineProperty(obj, rng.pick(ODD_KEYS), {
      value: pickValue(rng),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else if (keys.length) obj[rng.pick(keys)] = pickValue(rng);
}

/** A mutated copy of a safetensors file: header JSON edits, raw byte flips, length and size changes. */
function mutateWeights(buf: Buffer, rng: Rng): Buffer {
  const n = Number(buf.readBigUInt64LE(0));
  const kind = rng.int(6);
  if (kind === 0) {
    // Flip a few bytes of the header (or its length).
    const out = Buffer.from(buf);
    for (let i = 0, k = 1 + rng.int(4); i < k; i++) out[rng.int(8 + n)] = rng.int(256);
    return out;
  }
  if (kind === 1) {
    const out = Buffer.from(buf);
    out.writeBigUInt64LE(rng.pick([0n, 1n, BigInt(n - 1), BigInt(n + 8), 2n ** 40n, 2n ** 64n - 1n]), 0);
    return out;
  }
  if (kind === 2) return buf.subarray(0, rng.int(buf.length));
  // Edit the header's JSON: a tensor's dtype, shape or offsets, or the set of tensors.
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const entry = header[rng.pick(names)]!;
  const field = rng.pick(['dtype', 'shape', 'data_offsets', 'entry', 'tensor']);
  if (field === 'dtype') entry.dtype = rng.pick(['F16', 'BF16', 'F64', 'I64', 'U8', 'F8_E4M3', 'Q4', 7]);
  else if (field === 'shape') {
    if (entry.shape.length && rng.next() < 0.7)
      entry.shape[rng.int(entry.shape.length)] = rng.pick([0, 1, 1e6, 2 ** 32, 2 ** 53, -1, 2.5]);
    else entry.shape = pickValue(rng);
  } else if (field === 'data_offsets') entry.data_offsets[rng.int(2)] = pickValue(rng);
  else if (field === 'entry') mutateObject(entry, rng);
  else mutateObject(header, rng);
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([head, json, buf.subarray(8 + n)]);
}

test(
  'fuzz: mutated safetensors headers and configs load or fail with a one-line UserError',
  { timeout: 60_000 },
  () => {
    const rng = new Rng(18);
    const COUNT = 160;
    const rss0 = process.memoryUsage().rss;
    let maxRss = rss0;
    let refused = 0;
    let slowest = 0;
    for (let i = 0; i < COUNT; i++) {
      rmSync(work, { recursive: true, force: true });
      cpSync(good, work, { recursive: true });
      const what = i % 2 === 0 ? 'weights' : 'config';
      if (what === 'weights') {
        writeFileSync(path.join(work, 'model.safetensors'), mutateWeights(weights, rng));
      } else {
        const c = structuredClone(config);
        for (let k = 0, n = 1 + rng.int(3); k < n; k++) mutateObject(c, rng);
        writeFileSync(path.join(work, 'config.json'), JSON.stringify(c));
      }
      const t0 = performance.now();
      try {
        readModelFolder(work);
      } catch (e) {
        const err = e as Error;
        assert.equal(err.name, 'UserError', `mutation ${i} (${what}) threw ${err.stack}`);
        assert.ok(!err.message.includes('\n'), `mutation ${i}: a multi-line message: ${err.message}`);
        assert.match(
          err.message,
          /(model\.safetensors|config\.json|tokenizer\.json)/,
          `mutation ${i}: ${err.message}`,
        );
        refused++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    assert.ok(
      refused > COUNT * 0.7,
      `only ${refused} of ${COUNT} mutations were refused: the fuzzer is too gentle`,
    );
    assert.ok(slowest < 2000, `slowest load took ${slowest.toFixed(0)} ms`);
    const grown = (maxRss - rss0) / 2 ** 20;
    assert.ok(grown < 300, `RSS grew ${grown.toFixed(0)} MB`);
  },
);
