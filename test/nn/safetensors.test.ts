import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';
import { UserError } from '../../src/util/errors.ts';
import {
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
  MAX_HEADER_BYTES,
} from '../../src/nn/safetensors.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'nanovlm-st-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** A file built by hand: 8-byte length (or `headerLen`), the header text, then `data`. */
function rawFile(header: string | Uint8Array | object, data = new Uint8Array(0), headerLen?: bigint): Buffer {
  const json =
    header instanceof Uint8Array
      ? header
      : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLen ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

/** Asserts reading `buf` (written to a file) fails with a UserError whose message has every fragment. */
function rejects(buf: Buffer, ...fragments: string[]): void {
  const file = path.join(tmp, `bad-${Math.random().toString(36).slice(2)}.safetensors`);
  writeFileSync(file, buf);
  assert.throws(
    () => readSafetensors(file),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected UserError, got ${String(e)}`);
      assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
      for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
      return true;
    },
  );
  // The in-memory path reports the same problem under the given name.
  assert.throws(() => readSafetensors(buf, { name: 'mem.safetensors' }), /mem\.safetensors/);
}

const f32 = (n: number) => new Uint8Array(n * 4);

test('round trip keeps names, dtypes, shapes, values and metadata (incl. empty and scalar tensors)', async () => {
  const rng = new Rng(1);
  const tensors = new Map<string, Tensor>([
    ['blocks.0.attn.qkv.weight', Tensor.randn([6, 2], rng)],
    ['blocks.0.attn.qkv.bias', Tensor.randn([6], rng)],
    ['wide', Tensor.randn([3, 1, 2], rng, 1, 'float64')],
    ['ids', Tensor.ids([1, -2, 2147483647, -2147483648], [2, 2])],
    ['empty', Tensor.zeros([0, 3])],
    ['scalar', Tensor.from([Math.PI], [])],
    ['special', Tensor.from([NaN, Infinity, -Infinity, -0, 1e-45])],
  ]);
  const metadata = { format: 'pt', note: 'ünïcode ✓ "quoted"' };
  const file = path.join(tmp, 'sub', 'dir', 'model.safetensors');
  await writeSafetensors(file, tensors, metadata);
  assert.deepEqual(readdirSync(path.dirname(file)), ['model.safetensors'], 'no temp file left behind');

  for (const input of [file, readFileSync(file), encodeSafetensors(tensors, metadata)]) {
    const back = readSafetensors(input);
    assert.deepEqual(back.metadata, metadata);
    assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const r = back.tensors.get(name)!;
      assert.equal(r.dtype, t.dtype, name);
      assert.deepEqual(r.shape, t.shape, name);
      assert.deepEqual(Array.from(r.data), Array.from(t.data), name);
      assert.equal(r.name, name);
      assert.equal(r.requiresGrad, false);
    }
  }
  // Object input and no metadata.
  const again = readSafetensors(encodeSafetensors({ a: Tensor.from([1, 2]) }));
  assert.deepEqual(again.metadata, {});
  assert.deepEqual(again.tensors.get('a')!.toArray(), [1, 2]);
});

test('layout follows the reference writer: u64 length, space-padded JSON, aligned data', () => {
  const buf = encodeSafetensors(
    { b: Tensor.from([1, 2, 3]), a: Tensor.from([4], [1], 'float64') },
    { k: 'v' },
  );
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const text = buf.subarray(8, 8 + n).toString('utf8');
  assert.match(text, /^\{.*\} *$/);
  const header = JSON.parse(text);
  assert.deepEqual(header.__metadata__, { k: 'v' });
  // Wider elements first so every tensor is aligned to its element size.
  assert.deepEqual(header.a, { dtype: 'F64', shape: [1], data_offsets: [0, 8] });
  assert.deepEqual(header.b, { dtype: 'F32', shape: [3], data_offsets: [8, 20] });
  assert.equal(buf.length, 8 + n + 20);
  assert.equal(buf.readDoubleLE(8 + n), 4);
  assert.equal(buf.readFloatLE(8 + n + 8 + 4), 2);
});

test('overwriting an existing file replaces it whole', async () => {
  const file = path.join(tmp, 'over.safetensors');
  await writeSafetensors(file, { x: Tensor.zeros([1000]) });
  await writeSafetensors(file, { y: Tensor.from([7]) });
  const back = readSafetensors(file);
  assert.deepEqual([...back.tensors.keys()], ['y']);
});

test('reads half floats, bfloat16 and 64-bit integers written by other tools', () => {
  const data = Buffer.alloc(4 * 2 + 2 * 2 + 2 * 8);
  [0x3c00, 0xc000, 0x7bff, 0x0001].forEach((h, i) => data.writeUInt16LE(h, i * 2));
  [0x3f80, 0x4049].forEach((h, i) => data.writeUInt16LE(h, 8 + i * 2));
  data.writeBigInt64LE(-5n, 12);
  data.writeBigInt64LE(123456n, 20);
  const buf = rawFile(
    {
      h: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8] },
      bf: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
      pos: { dtype: 'I64', shape: [2], data_offsets: [12, 28] },
    },
    data,
  );
  const { tensors } = readSafetensors(buf);
  assert.equal(tensors.get('h')!.dtype, 'float32');
  assert.deepEqual(tensors.get('h')!.toArray(), [1, -2, 65504, 2 ** -24]);
  assert.deepEqual(tensors.get('bf')!.toArray(), [1, 3.140625]);
  assert.equal(tensors.get('pos')!.dtype, 'int32');
  assert.deepEqual(tensors.get('pos')!.toArray(), [-5, 123456]);

  const big = Buffer.alloc(8);
  big.writeBigInt64LE(1n << 40n);
  rejects(rawFile({ p: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, big), '"p"', 'int32');
});

test('malformed files are rejected with an error naming the file and the problem', () => {
  const t = (dtype: string, shape: number[], offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
  rejects(Buffer.from([1, 2, 3]), 'shorter than');
  rejects(rawFile('{}', new Uint8Array(0), 1000n), 'larger than the file');
  rejects(rawFile('{}', new Uint8Array(0), 1n << 62n), 'exceeds', String(MAX_HEADER_BYTES));
  rejects(rawFile('{"a": '), 'not valid JSON');
  rejects(rawFile('[1, 2]'), 'JSON object');
  rejects(rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 'UTF-8');
  rejects(rawFile({ x: t('F32', [2], [0, 8]) }, f32(1)), '"x"', 'run past the data section');
  rejects(rawFile({ x: t('F32', [0], [4, 0]) }, f32(1)), '"x"', 'end before');
  rejects(rawFile({ x: t('F32', [2], [0, 8]), y: t('F32', [2], [4, 12]) }, f32(3)), 'overlaps');
  rejects(rawFile({ x: t('F32', [1], [0, 4]), y: t('F32', [1], [8, 12]) }, f32(3)), 'unused bytes', '"y"');
  rejects(rawFile({ x: t('F32', [1], [4, 8]) }, f32(2)), 'unused bytes');
  rejects(rawFile({ x: t('F32', [1], [0, 4]) }, f32(2)), 'cover 4');
  rejects(rawFile({ x: t('Q4', [1], [0, 4]) }, f32(1)), '"x"', 'unknown dtype "Q4"');
  rejects(rawFile({ x: t('F8_E4M3', [4], [0, 4]) }, f32(1)), '"x"', 'not supported');
  rejects(rawFile({ x: t('F32', [3], [0, 8]) }, f32(2)), '"x"', 'needs 12 bytes', 'hold 8');
  rejects(rawFile({ x: t('F32', [2 ** 40, 2 ** 40], [0, 8]) }, f32(2)), '"x"', 'bytes');
  rejects(rawFile({ x: t('F32', [-1], [0, 4]) }, f32(1)), '"x"', 'shape');
  rejects(rawFile({ x: t('F32', [1], [0]) }, f32(1)), '"x"', 'data_offsets');
  rejects(rawFile({ x: { shape: [1], data_offsets: [0, 4] } }, f32(1)), '"x"', 'dtype');
  rejects(rawFile({ x: 3 }, f32(1)), '"x"', 'object');
  rejects(rawFile({ __metadata__: { a: 1 } }), '__metadata__', 'string');
  const dup =
    '{"x": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "x" : {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  rejects(rawFile(dup, f32(1)), '"x" twice');
});

test('a duplicate-looking key inside a nested object or string is not a duplicate', () => {
  const header =
    '{"__metadata__": {"x": "\\"x\\": {"}, "x": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  const { tensors, metadata } = readSafetensors(rawFile(header, f32(1)));
  assert.deepEqual([...tensors.keys()], ['x']);
  assert.equal(metadata.x, '"x": {');
});

test('missing file and bad tensors given to the writer are clear errors', async () => {
  assert.throws(
    () => readSafetensors(path.join(tmp, 'nope.safetensors')),
    /nope\.safetensors: file not found/,
  );
  await assert.rejects(
    writeSafetensors(path.join(tmp, 'w.safetensors'), { __metadata__: Tensor.zeros([1]) }),
    /cannot be a tensor name/,
  );
  await assert.rejects(
    writeSafetensors(
      path.join(tmp, 'w.safetensors'),
      { a: Tensor.zeros([1]) },
      { n: 3 as unknown as string },
    ),
    /metadata "n" must be a string/,
  );
});

test('a file with many tensors (more than one gathered write) round-trips', async () => {
  const many = new Map<string, Tensor>();
  for (let i = 0; i < 1100; i++) many.set(`t${i}`, Tensor.from([i, -i], [2]));
  const file = path.join(tmp, 'many.safetensors');
  await writeSafetensors(file, many);
  const back = readSafetensors(file).tensors;
  assert.equal(back.size, 1100);
  for (const [name, t] of many) assert.deepEqual(back.get(name)!.toArray(), t.toArray(), name);
});
