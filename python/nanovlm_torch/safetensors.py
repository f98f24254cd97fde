"""safetensors by hand (struct + json): the `safetensors` package is not installed here."""
import json
import os
import struct

import torch

DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I32': torch.int32, 'I64': torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = {}
    if base > len(raw):
        raise ValueError(f'{path}: header length {n} is larger than the file')
    for name, e in header.items():
        if name == '__metadata__':
            continue
        begin, end = e['data_offsets']
        dtype = DTYPES[e['dtype']]
        buf = bytearray(raw[base + begin:base + end])  # a writable copy, owned by the tensor
        t = torch.frombuffer(buf, dtype=dtype) if len(buf) else torch.zeros(0, dtype=dtype)
        out[name] = t.reshape(e['shape']).clone()
    return out


def read_metadata(path):
    """The __metadata__ strings of a safetensors file."""
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        return json.loads(f.read(n).decode('utf-8')).get('__metadata__', {})


def write_safetensors(path, tensors, metadata=None):
    """Tensors sorted by name, data back to back (what src/nn/safetensors.ts reads); written to a temp
    name, synced, then renamed."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    js = json.dumps(header).encode('utf-8')
    js += b' ' * ((8 - len(js) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(js)))
        f.write(js)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
