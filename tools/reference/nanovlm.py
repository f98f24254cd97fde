#!/usr/bin/env python3
"""The NanoVLM architecture in plain PyTorch: the twin of src/model/, used to check our numerics
(llm.c's way) and as the peer in bench/model-step.ts. Nothing in the toolkit imports it.

  nanovlm.py check DIR    DIR holds config.json, model.safetensors, inputs.safetensors (images, ids);
                          writes DIR/outputs.safetensors: logits, loss and grad.<name> for every parameter.
  nanovlm.py bench ARGS   times a training step (fwd + bwd + AdamW) or greedy generation with a KV cache
                          for one config; prints one JSON line (see bench()).

safetensors is parsed here by hand (struct + json): the `safetensors` package is not installed.
Parameter names match the TypeScript model's (`vision.blocks.0.attn.qkv.weight`, ...).
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- safetensors

DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I32': torch.int32, 'I64': torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        begin, end = e['data_offsets']
        dtype = DTYPES[e['dtype']]
        buf = bytearray(raw[base + begin:base + end])  # a writable copy, owned by the tensor
        t = torch.frombuffer(buf, dtype=dtype) if len(buf) else torch.zeros(0, dtype=dtype)
        out[name] = t.reshape(e['shape']).clone()
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
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
    os.replace(tmp, path)


# ---------------------------------------------------------------- the model


class Attention(nn.Module):
    def __init__(self, dim, heads, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        H = self.heads
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        if self.causal:
            mask = torch.ones(T, T, dtype=torch.bool).tril()
            att = att.masked_fill(~mask, float('-inf'))
        y = F.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc = nn.Linear(dim, hidden)
        self.proj = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x), approximate='tanh'))


class Block(nn.Module):
    def __init__(self, dim, heads, causal, cfg):
        super().__init__()
        eps = 1e-5
        self.ln1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, causal)
        self.ln2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, cfg['mlp_ratio'] * dim)
        self.drop = nn.Dropout(cfg['dropout'])

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c1, c2 = cfg['patch_conv_channels']
        p = cfg['patch_size']
        self.p = p
        side = (p - 1) // 2 + 1
        feats = c2 * side * side
        self.conv1 = nn.Conv2d(3, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(feats, eps=1e-5)
        self.proj = nn.Linear(feats, cfg['img_embd_dim'])
        # The check can impose the ReLU's on/off pattern of the TypeScript forward: where an input sits
        # within rounding of 0 the two sides may take different branches of the kink, and one flipped
        # element out of millions moves a bias gradient by 1e-3. Same branch, same function.
        self.relu_mask = None
        self.preact = None

    def forward(self, images):
        B, C, S, _ = images.shape
        p, n = self.p, S // self.p
        patches = images.unfold(2, p, p).unfold(3, p, p)  # B, C, n, n, p, p
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(B * n * n, C, p, p)
        x = self.norm(self.conv2(self.conv1(patches)).flatten(1))
        self.preact = x.detach()
        x = F.relu(x) if self.relu_mask is None else x * self.relu_mask.reshape(x.shape)
        return self.proj(x).view(B, n * n, -1)


class Vision(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        V = cfg['img_embd_dim']
        tokens = (cfg['image_size'] // cfg['patch_size']) ** 2 + 1
        self.patch = PatchEmbed(cfg)
        self.cls = nn.Parameter(torch.zeros(1, 1, V))
        self.pos = nn.Parameter(torch.zeros(tokens, V))
        self.drop = nn.Dropout(cfg['dropout'])
        self.blocks = nn.ModuleList([Block(V, cfg['vision_heads'], False, cfg) for _ in range(cfg['vision_blocks'])])
        self.ln_f = nn.LayerNorm(V, eps=1e-5)

    def forward(self, images):
        x = self.patch(images)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1) + self.pos
        x = self.drop(x)
        for b in self.blocks:
            x = b(x)
        return self.ln_f(x)


class Connector(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        V, D, H = cfg['img_embd_dim'], cfg['n_embd'], cfg['connector_hidden']
        self.all = cfg['image_tokens'] == 'all'
        self.fc = nn.Linear(V, H) if H > 0 else None
        self.proj = nn.Linear(H if H > 0 else V, D)

    def forward(self, feats):
        x = feats if self.all else feats[:, :1, :]
        if self.fc is not None:
            return self.proj(F.gelu(self.fc(x), approximate='tanh'))
        return F.gelu(self.proj(x), approximate='tanh')


class Decoder(nn.Module):
    def __init__(self, cfg, n_img):
        super().__init__()
        D = cfg['n_embd']
        self.wte = nn.Embedding(cfg['vocab_size'], D)
        self.wpe = nn.Embedding(n_img + cfg['max_text_len'], D)
        self.drop = nn.Dropout(cfg['dropout'])
        self.blocks = nn.ModuleList([Block(D, cfg['n_head'], True, cfg) for _ in range(cfg['n_layer'])])
        self.ln_f = nn.LayerNorm(D, eps=1e-5)
        self.lm_head = None if cfg['tie_word_embeddings'] else nn.Linear(D, cfg['vocab_size'], bias=False)

    def head(self, x):
        x = self.ln_f(x)
        return x @ self.wte.weight.t() if self.lm_head is None else self.lm_head(x)

    def forward(self, img, ids):
        n_img = img.shape[1]
        x = torch.cat([img, self.wte(ids)], dim=1)
        x = self.drop(x + self.wpe.weight[: x.shape[1]])
        for b in self.blocks:
            x = b(x)
        return self.head(x[:, n_img:, :])


class NanoVLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        n_img = 1 if cfg['image_tokens'] == 'cls' else (cfg['image_size'] // cfg['patch_size']) ** 2 + 1
        self.vision = Vision(cfg)
        self.connector = Connector(cfg)
        self.decoder = Decoder(cfg, n_img)

    def forward(self, images, ids):
        """Logits [B, L, vocab] (row j predicts ids[:, j+1]) and the mean loss over text targets."""
        logits = self.decoder(self.connector(self.vision(images)), ids)
        targets = torch.full_like(ids, -100)
        targets[:, :-1] = ids[:, 1:]
        targets[targets == self.cfg['pad_token_id']] = -100
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), ignore_index=-100)
        return logits, loss


def init_weights(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('bias') or '.ln' in name or 'norm' in name:
                p.copy_(torch.ones_like(p) if name.endswith('weight') else torch.zeros_like(p))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)


# ---------------------------------------------------------------- check


def check(folder):
    cfg = json.load(open(os.path.join(folder, 'config.json')))
    torch.manual_seed(0)
    model = NanoVLM(cfg)
    weights = read_safetensors(os.path.join(folder, 'model.safetensors'))
    model.load_state_dict(weights, strict=True)
    model.eval()  # dropout off
    inputs = read_safetensors(os.path.join(folder, 'inputs.safetensors'))
    images, ids = inputs['images'], inputs['ids'].long()
    if images.dtype == torch.float64:
        model.double()
    model.vision.patch.relu_mask = inputs.get('patch_relu_mask')
    logits, loss = model(images, ids)
    loss.backward()
    out = {'logits': logits, 'loss': loss.reshape(()), 'patch_preact': model.vision.patch.preact}
    for name, p in model.named_parameters():
        out['grad.' + name] = p.grad if p.grad is not None else torch.zeros_like(p)
    write_safetensors(os.path.join(folder, 'outputs.safetensors'), out)


# ---------------------------------------------------------------- bench


class Cache:
    """Preallocated keys and values per layer: [B, heads, Tmax, hd]."""

    def __init__(self, n_layer, B, H, Tmax, hd, dtype=torch.float32):
        self.k = [torch.zeros(B, H, Tmax, hd, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.zeros(B, H, Tmax, hd, dtype=dtype) for _ in range(n_layer)]
        self.len = 0


def cached_block(block, x, k_cache, v_cache, start):
    B, T, C = x.shape
    H = block.attn.heads
    h = block.ln1(x)
    q, k, v = block.attn.qkv(h).split(C, dim=2)
    q = q.view(B, T, H, C // H).transpose(1, 2)
    k_cache[:, :, start:start + T] = k.view(B, T, H, C // H).transpose(1, 2)
    v_cache[:, :, start:start + T] = v.view(B, T, H, C // H).transpose(1, 2)
    K, Vv = k_cache[:, :, :start + T], v_cache[:, :, :start + T]
    att = (q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
    if T > 1:
        mask = torch.ones(T, start + T, dtype=torch.bool).tril(diagonal=start)
        att = att.masked_fill(~mask, float('-inf'))
    y = (F.softmax(att, dim=-1) @ Vv).transpose(1, 2).reshape(B, T, C)
    x = x + block.attn.proj(y)
    return x + block.mlp(block.ln2(x))


def decoder_step(dec, x, cache):
    start = cache.len
    x = x + dec.wpe.weight[start:start + x.shape[1]]
    for i, b in enumerate(dec.blocks):
        x = cached_block(b, x, cache.k[i], cache.v[i], start)
    cache.len += x.shape[1]
    return dec.head(x[:, -1, :])


@torch.no_grad()
def generate(model, images, prefix, new_tokens):
    """Greedy decoding with a KV cache: image encoded once, prefix prefilled, then one token per step.
    Returns (ms to first token, ms of the remaining new_tokens - 1 steps)."""
    cfg = model.cfg
    t0 = time.perf_counter()
    img = model.connector(model.vision(images))
    B = images.shape[0]
    H, D = cfg['n_head'], cfg['n_embd']
    cache = Cache(cfg['n_layer'], B, H, img.shape[1] + cfg['max_text_len'], D // H, img.dtype)
    x = torch.cat([img, model.decoder.wte(prefix)], dim=1)
    tok = decoder_step(model.decoder, x, cache).argmax(-1)
    t1 = time.perf_counter()
    for _ in range(new_tokens - 1):
        tok = decoder_step(model.decoder, model.decoder.wte(tok)[:, None, :], cache).argmax(-1)
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def bench(args):
    """One case per process, so its peak RSS is its own. Prints one JSON line."""
    torch.set_num_threads(args.threads)
    cfg = json.loads(args.config)
    torch.manual_seed(0)
    model = NanoVLM(cfg)
    init_weights(model)
    g = torch.Generator().manual_seed(1)
    S, B = cfg['image_size'], args.batch
    images = torch.rand(B, 3, S, S, generator=g) * 2 - 1
    if args.dtype == 'bfloat16':
        # The bf16-cast twin: weights, activations and optimizer state all bf16 (torch 1.13's CPU autocast
        # fails on LayerNorm), so its products run on the CPU's bf16 units.
        model = model.to(torch.bfloat16)
        images = images.to(torch.bfloat16)
    out = {'threads': args.threads, 'torch': torch.__version__, 'dtype': args.dtype}
    if args.mode == 'train':
        model.train()
        # Same groups as the trainer: no decay on norms, biases, embeddings.
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and 'wte' not in n and 'wpe' not in n and not n.startswith('vision.pos') and not n.startswith('vision.cls')]
        ids_decay = {id(p) for p in decay}
        rest = [p for p in model.parameters() if id(p) not in ids_decay]
        opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': rest, 'weight_decay': 0.0}], lr=1e-3, foreach=True)
        ids = torch.randint(4, cfg['vocab_size'], (B, args.text_len), generator=g)
        times = []
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            _, loss = model(images, ids)
            loss.backward()
            opt.step()
            if i >= args.warmup:
                times.append((time.perf_counter() - t0) * 1e3)
        out['ms'] = min(times)
        out['all_ms'] = times
    else:
        model.eval()
        prefix = torch.randint(4, cfg['vocab_size'], (B, args.prefix_len), generator=g)
        runs = [generate(model, images, prefix, args.new_tokens) for _ in range(args.warmup + args.steps)][args.warmup:]
        first = min(r[0] for r in runs)
        rest = min(r[1] for r in runs)
        out['ms_first_token'] = first
        out['tokens_per_s'] = B * (args.new_tokens - 1) / (rest / 1e3)
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('check')
    c.add_argument('dir')
    b = sub.add_parser('bench')
    b.add_argument('--config', required=True, help='the model config as JSON')
    b.add_argument('--mode', choices=['train', 'generate'], required=True)
    b.add_argument('--threads', type=int, default=2)
    b.add_argument('--batch', type=int, default=32)
    b.add_argument('--text-len', type=int, default=32)
    b.add_argument('--warmup', type=int, default=1)
    b.add_argument('--steps', type=int, default=3)
    b.add_argument('--prefix-len', type=int, default=4)
    b.add_argument('--new-tokens', type=int, default=32)
    b.add_argument('--dtype', choices=['float32', 'bfloat16'], default='float32')
    args = ap.parse_args()
    if args.cmd == 'check':
        check(args.dir)
    else:
        bench(args)


if __name__ == '__main__':
    sys.exit(main())
