/**
 * Packed datasets (docs/packed-format.md): pictures already decoded and resized (uint8 RGB, NHWC) in
 * shards, the token ids of the chosen texts (BOS text EOS, the tokenizer's own ids), the split, and
 * an index of plain little-endian arrays. Training reads them without decoding a PNG or running the
 * tokenizer; Python reads them with numpy alone (python/nanovlm_torch/packed.py).
 *
 * Every file's size and CRC-32 is in index.json: the small arrays are checked on open, a shard the
 * first time a picture is read from it, so a damaged file is refused with its name.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync, copyFileSync, fstatSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { UserError } from '../util/errors.ts';
import { readJson } from '../util/fs.ts';
import { decodeImage } from './image.ts';
import { MANIFEST, SPLITS, manifestText, openDataset, imagePath, validateRecord, type Dataset, type DatasetRecord, type Split } from './dataset.ts';

export const PACKED_INDEX = 'index.json';
export const PACKED_FORMAT = 'nanovlm-packed';
export const PACKED_VERSION = 1;
const FIELD_CODES = { short: 0, long: 1 } as const;
const FIELDS = ['short', 'long'] as const;

export interface PackedFileEntry {
  bytes: number;
  crc32: number;
}

export interface PackedShard {
  file: string;
  /** Index (within the split) of the shard's first record, and how many records it holds. */
  first: number;
  records: number;
}

export interface PackedSplitIndex {
  records: number;
  samples: number;
  /** int32 [samples, 2]: record index within the split, field (0 short, 1 long). */
  samples_file: string;
  /** uint32 [samples + 1]: start of each sample's ids in tokens_file. */
  offsets_file: string;
  /** int32 [offsets[samples]]: BOS text EOS of every sample, back to back. */
  tokens_file: string;
  shards: PackedShard[];
}

export interface PackedIndex {
  format: typeof PACKED_FORMAT;
  version: number;
  image_size: number;
  layout: 'NHWC';
  dtype: 'uint8';
  channels: 3;
  text: 'short' | 'long' | 'both';
  tokenizer: { file: string; vocab_size: number; bos_id: number; eos_id: number; pad_id: number };
  manifest: string;
  splits: Partial<Record<Split, PackedSplitIndex>>;
  files: Record<string, PackedFileEntry>;
}

export interface PackTokenizer {
  encode(text: string): number[];
  vocabSize: number;
  bosId: number;
  eosId: number;
  padId: number;
}

export interface PackOptions {
  inDir: string;
  outDir: string;
  imageSize: number;
  text: 'short' | 'long' | 'both';
  tokenizer: PackTokenizer;
  tokenizerFile: string;
  /** Shard size limit in MB (default 256). */
  shardMB?: number;
  onProgress?: (done: number, total: number) => void;
}

export const isPackedFolder = (dir: string): boolean => existsSync(path.join(dir, PACKED_INDEX));

/** A file written in pieces, its CRC-32 and size kept on the way. */
class CheckedWriter {
  private fd: number;
  bytes = 0;
  crc = 0;
  constructor(readonly file: string) {
    this.fd = openSync(file, 'wx');
  }
  write(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
    this.crc = crc32(data, this.crc);
    this.bytes += data.length;
  }
  close(): PackedFileEntry {
    closeSync(this.fd);
    return { bytes: this.bytes, crc32: this.crc };
  }
}

const bytesOf = (a: Int32Array | Uint32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Packs a dataset folder: written under a temp name next to `outDir`, renamed into place when complete. */
export async function packDataset(o: PackOptions): Promise<PackedIndex> {
  const ds = openDataset(o.inDir);
  if (existsSync(o.outDir)) throw new UserError(`${o.outDir}: already exists (pack into a new folder)`, 2);
  const S = o.imageSize;
  const plane = S * S * 3;
  const perShard = Math.max(1, Math.floor(((o.shardMB ?? 256) * 1048576) / plane));
  const fields = o.text === 'both' ? FIELDS : [o.text];
  const tmp = `${o.outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const files: Record<string, PackedFileEntry> = {};
  const splits: PackedIndex['splits'] = {};
  try {
    const total = ds.records.length;
    let done = 0;
    for (const split of SPLITS) {
      const records = ds.records.filter((r) => r.split === split);
      if (!records.length) continue;
      const sampleRows: number[] = [];
      const offsets: number[] = [0];
      const tokens: number[] = [];
      records.forEach((r, k) => {
        for (const field of fields) {
          const t = r[field];
          if (typeof t !== 'string' || !t.trim())
            throw new UserError(`${path.join(o.inDir, MANIFEST)}: id "${r.id}" has no "${field}" text (choose another --text)`);
          sampleRows.push(k, FIELD_CODES[field]);
          tokens.push(o.tokenizer.bosId, ...o.tokenizer.encode(t), o.tokenizer.eosId);
          offsets.push(tokens.length);
        }
      });
      if (tokens.length >= 2 ** 32) throw new UserError(`${o.inDir}: the ${split} split has more than 2^32 tokens`);
      const arrays: [string, Uint8Array][] = [
        [`${split}.samples.bin`, bytesOf(Int32Array.from(sampleRows))],
        [`${split}.offsets.bin`, bytesOf(Uint32Array.from(offsets))],
        [`${split}.tokens.bin`, bytesOf(Int32Array.from(tokens))],
      ];
      for (const [name, data] of arrays) {
        const w = new CheckedWriter(path.join(tmp, name));
        w.write(data);
        files[name] = w.close();
      }
      const shards: PackedShard[] = [];
      for (let first = 0; first < records.length; first += perShard) {
        const name = `${split}-${String(shards.length).padStart(5, '0')}.pixels`;
        const w = new CheckedWriter(path.join(tmp, name));
        const end = Math.min(records.length, first + perShard);
        // Decoded 16 at a time (sharp works on libuv's threads), written in order.
        for (let i = first; i < end; i += 16) {
          const chunk = records.slice(i, Math.min(end, i + 16));
          const pixels = await Promise.all(chunk.map((r) => decodeImage(imagePath(ds, r), S)));
          for (const p of pixels) w.write(p);
          done += chunk.length;
          o.onProgress?.(done, total);
        }
        files[name] = w.close();
        shards.push({ file: name, first, records: end - first });
      }
      splits[split] = {
        records: records.length,
        samples: sampleRows.length / 2,
        samples_file: arrays[0]![0],
        offsets_file: arrays[1]![0],
        tokens_file: arrays[2]![0],
        shards,
      };
    }
    copyFileSync(o.tokenizerFile, path.join(tmp, 'tokenizer.json'));
    const manifest = Buffer.from(manifestText(ds.records));
    const mw = new CheckedWriter(path.join(tmp, MANIFEST));
    mw.write(manifest);
    files[MANIFEST] = mw.close();
    const index: PackedIndex = {
      format: PACKED_FORMAT,
      version: PACKED_VERSION,
      image_size: S,
      layout: 'NHWC',
      dtype: 'uint8',
      channels: 3,
      text: o.text,
      tokenizer: {
        file: 'tokenizer.json',
        vocab_size: o.tokenizer.vocabSize,
        bos_id: o.tokenizer.bosId,
        eos_id: o.tokenizer.eosId,
        pad_id: o.tokenizer.padId,
      },
      manifest: MANIFEST,
      splits,
      files,
    };
    const iw = new CheckedWriter(path.join(tmp, PACKED_INDEX));
    iw.write(Buffer.from(JSON.stringify(index, null, 1) + '\n'));
    iw.close();
    renameSync(tmp, o.outDir);
    return index;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------

export interface PackedSplit {
  index: PackedSplitIndex;
  /** [samples, 2] record index within the split, field code. */
  samples: Int32Array;
  offsets: Uint32Array;
  tokens: Int32Array;
}

/** A packed folder opened for reading; `dataset` is its manifest as a Dataset whose records say where they live. */
export class PackedData {
  readonly splits = new Map<Split, PackedSplit>();
  readonly dataset: PackedDataset;
  private readonly where = new Map<DatasetRecord, { split: Split; index: number }>();
  private readonly verified = new Set<string>();
  private readonly fds = new Map<string, number>();

  constructor(
    readonly dir: string,
    readonly index: PackedIndex,
    records: DatasetRecord[],
  ) {
    for (const split of SPLITS) {
      const s = index.splits[split];
      if (!s) continue;
      const samples = new Int32Array(this.readChecked(s.samples_file).buffer);
      const offsets = new Uint32Array(this.readChecked(s.offsets_file).buffer);
      const tokens = new Int32Array(this.readChecked(s.tokens_file).buffer);
      const bad = (file: string, what: string) => new UserError(`${path.join(dir, file)}: ${what} (damaged; pack again)`);
      if (samples.length !== 2 * s.samples) throw bad(s.samples_file, `${samples.length / 2} samples, the index says ${s.samples}`);
      if (offsets.length !== s.samples + 1 || offsets[s.samples] !== tokens.length)
        throw bad(s.offsets_file, 'offsets do not match the tokens file');
      for (let i = 0; i < s.samples; i++) {
        if (offsets[i + 1]! < offsets[i]! + 2) throw bad(s.offsets_file, `sample ${i} has fewer than 2 ids`);
        if (samples[2 * i]! < 0 || samples[2 * i]! >= s.records || (samples[2 * i + 1]! !== 0 && samples[2 * i + 1]! !== 1))
          throw bad(s.samples_file, `sample ${i} names record ${samples[2 * i]}, field ${samples[2 * i + 1]}`);
      }
      const vocab = index.tokenizer.vocab_size;
      for (let i = 0; i < tokens.length; i++)
        if (tokens[i]! < 0 || tokens[i]! >= vocab) throw bad(s.tokens_file, `id ${tokens[i]} at ${i} is outside the vocabulary of ${vocab}`);
      let next = 0;
      for (const sh of s.shards) {
        if (sh.first !== next || sh.records < 1) throw bad(PACKED_INDEX, `shard ${sh.file} does not follow the one before`);
        this.entry(sh.file);
        next += sh.records;
      }
      if (next !== s.records) throw bad(PACKED_INDEX, `the ${split} shards hold ${next} records, the index says ${s.records}`);
      this.splits.set(split, { index: s, samples, offsets, tokens });
      const inSplit = records.filter((r) => r.split === split);
      if (inSplit.length !== s.records)
        throw bad(index.manifest, `${inSplit.length} ${split} records, the index says ${s.records}`);
      inSplit.forEach((r, k) => this.where.set(r, { split, index: k }));
    }
    this.dataset = { dir, records, skipped: 0, problems: [], packed: this };
  }

  /** A file's entry in the index, checked against its size on disk. */
  private entry(name: string): PackedFileEntry {
    const e = this.index.files[name];
    const file = path.join(this.dir, name);
    if (!e) throw new UserError(`${path.join(this.dir, PACKED_INDEX)}: no entry for ${name} (damaged; pack again)`);
    if (!existsSync(file)) throw new UserError(`${file}: file not found (the packed folder is incomplete)`);
    const size = statSync(file).size;
    if (size !== e.bytes) throw new UserError(`${file}: ${size} bytes, the index says ${e.bytes} (damaged or incomplete; pack again)`);
    return e;
  }

  /** A whole small file, size and CRC-32 checked; aligned for typed-array views. */
  private readChecked(name: string): Uint8Array {
    const e = this.entry(name);
    const buf = readFileSync(path.join(this.dir, name));
    if (crc32(buf) !== e.crc32) throw new UserError(`${path.join(this.dir, name)}: checksum mismatch (damaged; pack again)`);
    if (buf.length % 4) throw new UserError(`${path.join(this.dir, name)}: size is not a multiple of 4 (damaged; pack again)`);
    return new Uint8Array(buf); // a copy with its own, aligned buffer
  }

  private fdOf(name: string): number {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      const file = path.join(this.dir, name);
      const e = this.entry(name);
      fd = openSync(file, 'r');
      if (!this.verified.has(name)) {
        // The whole shard once, in 8 MB reads, before the first picture is taken from it.
        const chunk = Buffer.allocUnsafe(8 << 20);
        let crc = 0;
        let pos = 0;
        const size = fstatSync(fd).size;
        while (pos < size) {
          const n = readSync(fd, chunk, 0, chunk.length, pos);
          if (n <= 0) break;
          crc = crc32(chunk.subarray(0, n), crc);
          pos += n;
        }
        if (crc !== e.crc32) {
          closeSync(fd);
          throw new UserError(`${file}: checksum mismatch (damaged; pack again)`);
        }
        this.verified.add(name);
      }
      this.fds.set(name, fd);
    }
    return fd;
  }

  /** Where a record of `dataset.records` lives in its split, or undefined for a foreign record. */
  locate(record: DatasetRecord): { split: Split; index: number } | undefined {
    return this.where.get(record);
  }

  /** RGB bytes (HWC, image_size²×3) of the `index`-th record of a split. */
  pixels(split: Split, index: number): Uint8Array {
    const s = this.splits.get(split);
    if (!s || index < 0 || index >= s.index.records) throw new Error(`packed: no record ${index} in ${split}`);
    const sh = s.index.shards.find((x) => index < x.first + x.records)!;
    const plane = this.index.image_size ** 2 * 3;
    const out = new Uint8Array(plane);
    const fd = this.fdOf(sh.file);
    const n = readSync(fd, out, 0, plane, (index - sh.first) * plane);
    if (n !== plane) throw new UserError(`${path.join(this.dir, sh.file)}: short read (damaged; pack again)`);
    return out;
  }

  /** The sample number of (record, field) in its split, or -1 when that text was not packed. */
  sampleOf(split: Split, recordIndex: number, field: 'short' | 'long'): number {
    const s = this.splits.get(split);
    if (!s) return -1;
    const code = FIELD_CODES[field];
    const perRecord = this.index.text === 'both' ? 2 : 1;
    const guess = recordIndex * perRecord + (perRecord === 2 ? code : 0);
    return s.samples[2 * guess] === recordIndex && s.samples[2 * guess + 1] === code ? guess : -1;
  }

  /** BOS text EOS of a sample (a view of the tokens array). */
  ids(split: Split, sample: number): Int32Array {
    const s = this.splits.get(split)!;
    return s.tokens.subarray(s.offsets[sample]!, s.offsets[sample + 1]!);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

export interface PackedDataset extends Dataset {
  packed: PackedData;
}

export const isPackedDataset = (ds: Dataset): ds is PackedDataset => 'packed' in ds && ds.packed instanceof PackedData;

/** Opens a packed folder: index, manifest and the small arrays checked now, shards on first use. */
export function openPacked(dir: string): PackedData {
  const indexFile = path.join(dir, PACKED_INDEX);
  const index = readJson<PackedIndex>(indexFile);
  if (typeof index !== 'object' || index === null || index.format !== PACKED_FORMAT)
    throw new UserError(`${indexFile}: not a packed dataset index (format is not "${PACKED_FORMAT}")`);
  if (index.version !== PACKED_VERSION) throw new UserError(`${indexFile}: unsupported version ${index.version}`);
  if (index.layout !== 'NHWC' || index.dtype !== 'uint8' || index.channels !== 3 || !Number.isInteger(index.image_size) || index.image_size < 1)
    throw new UserError(`${indexFile}: unsupported pixel layout (expected NHWC uint8, 3 channels)`);
  if (typeof index.files !== 'object' || !index.files || typeof index.splits !== 'object' || !index.splits)
    throw new UserError(`${indexFile}: "files" and "splits" are required`);
  const manifestFile = path.join(dir, index.manifest ?? MANIFEST);
  const e = index.files[index.manifest];
  const text = existsSync(manifestFile) ? readFileSync(manifestFile) : null;
  if (!text || !e || text.length !== e.bytes || crc32(text) !== e.crc32)
    throw new UserError(`${manifestFile}: missing or damaged (size or checksum differs from the index; pack again)`);
  const records = text
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return validateRecord(JSON.parse(l));
      } catch (err) {
        throw new UserError(`${manifestFile} line ${i + 1}: ${(err as Error).message}`);
      }
    });
  return new PackedData(dir, index, records);
}

/** A dataset folder or a packed folder, as the trainer's Dataset. */
export function openTrainingData(dir: string, opts: { skipBad?: boolean } = {}): Dataset {
  return isPackedFolder(dir) ? openPacked(dir).dataset : openDataset(dir, opts);
}
