"""Packed datasets (docs/packed-format.md) with numpy alone, and the loader's sample order and batches
(src/data/loader.ts): the same samples in the same epoch permutation, so a run can move between the
TypeScript and the torch engine at any step."""
import json
import os
import zlib

import numpy as np

from .rng import permutation

FIELDS = ('short', 'long')


class PackedError(Exception):
    """A damaged or unusable packed folder: the message names the file."""


def _crc32_file(path, chunk=8 << 20):
    crc = 0
    with open(path, 'rb') as f:
        while True:
            b = f.read(chunk)
            if not b:
                return crc
            crc = zlib.crc32(b, crc)


class Packed:
    """A packed folder: index, small arrays and every shard checked on open (sizes and CRC-32)."""

    def __init__(self, folder, verify_shards=True):
        self.dir = folder
        index_file = os.path.join(folder, 'index.json')
        try:
            with open(index_file, 'rb') as f:
                self.index = json.loads(f.read().decode('utf-8'))
        except FileNotFoundError:
            raise PackedError(f'{index_file}: file not found (is {folder} a packed folder? make one with "nanovlm data pack")')
        except (ValueError, UnicodeDecodeError) as e:
            raise PackedError(f'{index_file}: invalid JSON ({e})')
        ix = self.index
        if not isinstance(ix, dict) or ix.get('format') != 'nanovlm-packed':
            raise PackedError(f'{index_file}: not a packed dataset index')
        if ix.get('version') != 1 or ix.get('layout') != 'NHWC' or ix.get('dtype') != 'uint8':
            raise PackedError(f'{index_file}: unsupported version or layout')
        self.size = int(ix['image_size'])
        self.splits = {}
        for split, s in ix['splits'].items():
            samples = self._array(s['samples_file'], '<i4').reshape(-1, 2)
            offsets = self._array(s['offsets_file'], '<u4').astype(np.int64)
            tokens = self._array(s['tokens_file'], '<i4')
            if len(samples) != s['samples'] or len(offsets) != s['samples'] + 1 or offsets[-1] != len(tokens):
                raise PackedError(f"{os.path.join(folder, s['offsets_file'])}: does not match the index (damaged; pack again)")
            shards, first = [], 0
            for sh in s['shards']:
                path = os.path.join(folder, sh['file'])
                self._entry(sh['file'], check_crc=verify_shards)
                if sh['first'] != first:
                    raise PackedError(f'{index_file}: shard {sh["file"]} does not follow the one before')
                shards.append((first, np.memmap(path, np.uint8, 'r', shape=(sh['records'], self.size, self.size, 3))))
                first += sh['records']
            if first != s['records']:
                raise PackedError(f'{index_file}: the {split} shards hold {first} records, the index says {s["records"]}')
            self.splits[split] = {'records': s['records'], 'samples': samples, 'offsets': offsets, 'tokens': tokens, 'shards': shards}

    def _entry(self, name, check_crc):
        e = self.index['files'].get(name)
        path = os.path.join(self.dir, name)
        if e is None:
            raise PackedError(f'{os.path.join(self.dir, "index.json")}: no entry for {name} (damaged; pack again)')
        if not os.path.exists(path):
            raise PackedError(f'{path}: file not found (the packed folder is incomplete)')
        size = os.path.getsize(path)
        if size != e['bytes']:
            raise PackedError(f'{path}: {size} bytes, the index says {e["bytes"]} (damaged or incomplete; pack again)')
        if check_crc and _crc32_file(path) != e['crc32']:
            raise PackedError(f'{path}: checksum mismatch (damaged; pack again)')
        return path

    def _array(self, name, dtype):
        return np.fromfile(self._entry(name, check_crc=True), dtype=dtype)

    def samples(self, split, text):
        """(record, field code) of the loader's samples for a split and text choice, in its order."""
        if split not in self.splits:
            return []
        s = self.splits[split]
        fields = FIELDS if text == 'both' else (text,)
        have = {(int(r), int(f)): i for i, (r, f) in enumerate(s['samples'])}
        out = []
        for r in range(s['records']):
            for f in fields:
                i = have.get((r, FIELDS.index(f)))
                if i is None:
                    raise PackedError(f'{self.dir}: packed with --text {self.index["text"]}, which has no "{f}" texts')
                out.append(i)
        return out

    def pixels(self, split, record):
        for first, mm in reversed(self.splits[split]['shards']):
            if record >= first:
                return mm[record - first]
        raise IndexError(record)

    def ids(self, split, sample):
        s = self.splits[split]
        return s['tokens'][s['offsets'][sample]:s['offsets'][sample + 1]]


class Loader:
    """The trainer's batches of one split: global batches of `batch_size` samples in the epoch's
    permutation (shuffle) or in order; state() / restore() as src/data/loader.ts."""

    def __init__(self, packed, split, text, batch_size, max_len, seed, shuffle=True, drop_last=True):
        self.packed, self.split = packed, split
        self.sample_ids = packed.samples(split, text)
        self.batch_size, self.max_len, self.seed = batch_size, max_len, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        n = len(self.sample_ids)
        self.limit = n - n % batch_size if drop_last else n
        self.epoch, self.position = 0, 0
        self._order = (None, None)

    @property
    def n(self):
        return len(self.sample_ids)

    @property
    def batches_per_epoch(self):
        return -(-self.limit // self.batch_size)

    def order(self, epoch):
        if self._order[0] != epoch:
            o = permutation(self.n, self.seed, epoch) if self.shuffle else list(range(self.n))
            self._order = (epoch, o)
        return self._order[1]

    def state(self):
        return {'epoch': self.epoch, 'position': self.position, 'seed': self.seed, 'samples': self.n}

    def restore(self, st):
        if st['samples'] != self.n:
            raise PackedError(f'cannot resume the data order: the {self.split} split now has {self.n} samples, '
                              f'the checkpoint was made with {st["samples"]}')
        self.seed = st['seed']
        self._order = (None, None)
        if st['position'] >= self.limit:
            self.epoch, self.position = st['epoch'] + 1, 0
        else:
            self.epoch, self.position = st['epoch'], st['position']

    def next(self):
        """The next batch's packed sample numbers (a list), its epoch and position; advances."""
        epoch, pos = self.epoch, self.position
        end = min(pos + self.batch_size, self.limit)
        picked = [self.sample_ids[i] for i in self.order(epoch)[pos:end]]
        if end >= self.limit:
            self.epoch, self.position = epoch + 1, 0
        else:
            self.position = end
        return picked, epoch, pos

    def lengths(self, picked):
        off = self.packed.splits[self.split]['offsets']
        return [min(int(off[i + 1] - off[i]), self.max_len) for i in picked]

    def arrays(self, picked, pad_id, L):
        """uint8 pixels [B, S, S, 3], int64 ids [B, L] (BOS text EOS then PAD) and lengths of samples."""
        recs = self.packed.splits[self.split]['samples']
        pixels = np.stack([self.packed.pixels(self.split, int(recs[i][0])) for i in picked])
        ids = np.full((len(picked), L), pad_id, dtype=np.int64)
        lengths = []
        for k, i in enumerate(picked):
            t = self.packed.ids(self.split, i)[: self.max_len]
            ids[k, : len(t)] = t
            lengths.append(len(t))
        return pixels, ids, lengths
