/**
 * safetensors (Hugging Face's tensor file format), read and write.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of JSON header
 *   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 * (padded with spaces to a multiple of 8 bytes), then the raw little-endian data; offsets are relative to
 * the start of the data. Every byte of the data belongs to exactly one tensor: reading rejects holes,
 * overlaps and trailing bytes, like the reference implementation does.
 */
import { closeSync, fstatSync, readSync, promises as fsp } from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';
import { Tensor, type DType, type TensorData } from '../tensor/tensor.ts';
import { UserError } from '../util/errors.ts';
import { openRegularFile, tempSibling } from '../util/fs.ts';

/** Headers larger than this are refused before anything is allocated (real ones are kilobytes). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Bytes per element of every dtype the format defines. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};
/** The dtypes read here, and the tensor dtype each becomes (half floats widen to float32, integers to int32). */
const READ_AS: Record<string, DType> = {
  F32: 'float32',
  F16: 'float32',
  BF16: 'float32',
  F64: 'float64',
  I32: 'int32',
  I64: 'int32',
  I16: 'int32',
  U16: 'int32',
  I8: 'int32',
  U8: 'int32',
  BOOL: 'int32',
};
const WRITE_AS: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** One tensor as the header describes it (before any data is read). */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
}

interface Entry extends SafetensorsEntry {
  begin: number;
  end: number;
}

// ---------------------------------------------------------------- writing

function entriesOf(tensors: Map<string, Tensor> | Record<string, Tensor>): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors] : Object.entries(tensors);
}

/** The little-endian bytes of a tensor's data: a view when the host is little-endian, else a swapped copy. */
function littleEndianBytes(data: TensorData): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(i * 4, data[i]!, true);
    else if (data instanceof Float64Array) view.setFloat64(i * 8, data[i]!, true);
    else view.setInt32(i * 4, data[i]!, true);
  }
  return out;
}

/**
 * The header bytes and the data chunks, in file order. Tensors are laid out by element size (largest
 * first), then name, so each tensor's data is aligned to its element size, as the reference writer does.
 */
function layout(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata: Record<string, string> | undefined,
  where: string,
): { header: Buffer; chunks: Uint8Array[] } {
  const entries = entriesOf(tensors);
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new UserError(`${where}: "__metadata__" cannot be a tensor name`);
    if (seen.has(name)) throw new UserError(`${where}: duplicate tensor name "${name}"`);
    seen.add(name);
    if (!(t instanceof Tensor)) throw new UserError(`${where}: "${name}" is not a Tensor`);
  }
  entries.sort(
    ([na, a], [nb, b]) =>
      b.data.BYTES_PER_ELEMENT - a.data.BYTES_PER_ELEMENT || (na < nb ? -1 : na > nb ? 1 : 0),
  );
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new UserError(`${where}: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = littleEndianBytes(t.data);
    header[name] = {
      dtype: WRITE_AS[t.dtype],
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes.length],
    };
    offset += bytes.length;
    chunks.push(bytes);
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + padded, 0x20); // spaces pad the JSON, as the reference writer does
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  return { header: head, chunks };
}

/** The whole file in one buffer (for tests, HTTP responses, small files). */
export function encodeSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Buffer {
  const { header, chunks } = layout(tensors, metadata, '<buffer>');
  return Buffer.concat([header, ...chunks]);
}

/**
 * Writes a safetensors file atomically (temp sibling, fsync, rename): a kill never leaves half a file.
 * Tensor data is written straight from the tensors' buffers, without an intermediate copy.
 */
export async function writeSafetensors(
  file: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const { header, chunks } = layout(tensors, metadata, file);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempSibling(file);
  const fh = await fsp.open(tmp, 'w');
  try {
    // Gathered writes in groups (the OS caps buffers per call), each checked for completeness.
    const all = [header, ...chunks];
    for (let i = 0; i < all.length; i += 256) {
      const group = all.slice(i, i + 256);
      const expected = group.reduce((n, c) => n + c.length, 0);
      const { bytesWritten } = await fh.writev(group);
      if (bytesWritten !== expected)
        throw new UserError(
          `${file}: only ${bytesWritten} of ${expected} bytes could be written (no space left on the device?)`,
        );
    }
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

// ---------------------------------------------------------------- reading

/** Where bytes come from: an open file (read with positioned fd reads) or a buffer in memory. */
interface Source {
  size: number;
  /** Fills `into` with the bytes at `position` (the caller checked the range). */
  read(into: Uint8Array, position: number): void;
}

function fileSource(fd: number, file: string): Source {
  return {
    size: fstatSync(fd).size,
    read(into, position) {
      let done = 0;
      while (done < into.length) {
        const n = readSync(fd, into, done, into.length - done, position + done);
        if (n === 0) throw new UserError(`${file}: unexpected end of file (was it truncated while reading?)`);
        done += n;
      }
    },
  };
}

function bufferSource(buf: Uint8Array): Source {
  return {
    size: buf.length,
    read: (into, position) => into.set(buf.subarray(position, position + into.length)),
  };
}

/** The keys of the top-level JSON object in source order, duplicates included (JSON.parse drops them). */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      const start = i;
      for (i++; json[i] !== '"'; i++) if (json[i] === '\\') i++;
      if (depth === 1) {
        let j = i + 1;
        while (j < json.length && ' \t\r\n'.includes(json[j]!)) j++;
        if (json[j] === ':') keys.push(JSON.parse(json.slice(start, i + 1)) as string);
      }
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function parseHeader(
  text: string,
  dataSize: number,
  where: string,
): { entries: Entry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${where}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new UserError(`${where}: header must be a JSON object`);
  }
  const seen = new Set<string>();
  for (const key of topLevelKeys(text)) {
    if (seen.has(key)) throw new UserError(`${where}: header names "${key}" twice`);
    seen.add(key);
  }
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new UserError(`${where}: "__metadata__" must be an object of strings`);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new UserError(`${where}: "__metadata__"."${k}" must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const at = `${where}: tensor "${name}"`;
    if (typeof value !== 'object' || value === null) throw new UserError(`${at}: entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string') throw new UserError(`${at}: "dtype" is missing`);
    const itemBytes = DTYPE_BYTES[dtype];
    if (itemBytes === undefined) throw new UserError(`${at}: unknown dtype "${dtype}"`);
    if (!READ_AS[dtype])
      throw new UserError(`${at}: dtype ${dtype} is not supported (F32, F64, F16, BF16 and integers are)`);
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new UserError(`${at}: "shape" must be an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw new UserError(`${at}: "data_offsets" must be [begin, end] non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw new UserError(`${at}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) {
      throw new UserError(
        `${at}: data_offsets [${begin}, ${end}] run past the data section (${dataSize} bytes)`,
      );
    }
    // Multiply step by step so a huge shape cannot overflow into a false match.
    let bytes = itemBytes;
    for (const d of shape as number[]) bytes = Math.min(bytes * d, Number.MAX_SAFE_INTEGER);
    if (bytes !== end - begin) {
      throw new UserError(
        `${at}: shape [${shape.join(', ')}] of ${dtype} needs ${bytes} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The data must be tiled exactly: sorted by offset, each tensor starts where the previous one ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = '';
  for (const e of sorted) {
    if (e.begin < cursor) throw new UserError(`${where}: tensor "${e.name}" overlaps tensor "${prev}"`);
    if (e.begin > cursor) {
      throw new UserError(
        `${where}: ${e.begin - cursor} unused bytes before tensor "${e.name}" (offset ${cursor})`,
      );
    }
    cursor = e.end;
    prev = e.name;
  }
  if (cursor !== dataSize) {
    throw new UserError(`${where}: data section has ${dataSize} bytes but the tensors cover ${cursor}`);
  }
  return { entries, metadata };
}

/** Decodes `raw` (little-endian bytes of `dtype`) into the tensor's typed array. */
function convert(raw: Uint8Array, dtype: string, out: TensorData): void {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = out.length;
  switch (dtype) {
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return;
    case 'BF16': {
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = view.getUint16(i * 2, true) << 16;
        out[i] = f[0]!;
      }
      return;
    }
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      return;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
      return;
    case 'U16':
      for (let i = 0; i < n; i++) out[i] = view.getUint16(i * 2, true);
      return;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      return;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = view.getUint8(i);
      return;
    case 'I64':
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n)
          throw new RangeError(`value ${v} at index ${i} does not fit in int32`);
        out[i] = Number(v);
      }
      return;
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export interface ReadOptions {
  /** Name used in errors (default: the path, or "<buffer>"). */
  name?: string;
  /** Called with the parsed header before any tensor is allocated; throw to refuse the file. */
  onHeader?: (entries: readonly SafetensorsEntry[], metadata: Record<string, string>) => void;
}

function decode(src: Source, where: string, onHeader: ReadOptions['onHeader']): SafetensorsFile {
  if (src.size < 8)
    throw new UserError(
      `${where}: not a safetensors file (${src.size} bytes, shorter than its 8-byte header length)`,
    );
  const lenBytes = new Uint8Array(8);
  src.read(lenBytes, 0);
  const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw new UserError(`${where}: header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (headerLen > BigInt(src.size - 8)) {
    throw new UserError(`${where}: header length ${headerLen} is larger than the file (${src.size} bytes)`);
  }
  const n = Number(headerLen);
  const headerBytes = new Uint8Array(n);
  src.read(headerBytes, 8);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new UserError(`${where}: header is not valid UTF-8`);
  }
  const dataStart = 8 + n;
  const { entries, metadata } = parseHeader(text, src.size - dataStart, where);
  onHeader?.(entries, metadata);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const t = Tensor.zeros(e.shape, READ_AS[e.dtype]!);
    t.name = e.name;
    const nbytes = e.end - e.begin;
    if (LITTLE_ENDIAN_HOST && WRITE_AS[t.dtype] === e.dtype) {
      // Same element type: read straight into the tensor's buffer.
      src.read(new Uint8Array(t.data.buffer, t.data.byteOffset, nbytes), dataStart + e.begin);
    } else {
      const raw = new Uint8Array(nbytes);
      src.read(raw, dataStart + e.begin);
      try {
        convert(raw, e.dtype, t.data);
      } catch (err) {
        throw new UserError(`${where}: tensor "${e.name}": ${(err as Error).message}`);
      }
    }
    tensors.set(e.name, t);
  }
  return { tensors, metadata };
}

/**
 * Reads a safetensors file (or an in-memory copy of one). Errors name the file and, where it applies,
 * the tensor. Every size is checked against the file before anything is allocated.
 */
export function readSafetensors(input: string | Uint8Array, opts: ReadOptions = {}): SafetensorsFile {
  if (typeof input !== 'string') return decode(bufferSource(input), opts.name ?? '<buffer>', opts.onHeader);
  const where = opts.name ?? input;
  const fd = openRegularFile(input, where);
  try {
    return decode(fileSource(fd, where), where, opts.onHeader);
  } finally {
    closeSync(fd);
  }
}
