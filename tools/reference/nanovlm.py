#!/usr/bin/env python3
"""The NanoVLM architecture in plain PyTorch: the twin of src/model/, used to check our numerics
(llm.c's way) and as the peer in bench/model-step.ts.

  nanovlm.py check DIR    DIR holds config.json, model.safetensors, inputs.safetensors (images, ids);
                          writes DIR/outputs.safetensors: logits, loss and grad.<name> for every parameter.
  nanovlm.py bench ARGS   times a training step (fwd + bwd + AdamW) or greedy generation with a KV cache
                          for one config; prints one JSON line (see bench()).

The model and the safetensors reader live in the torch engine's package (python/nanovlm_torch/).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'python'))
from nanovlm_torch.model import NanoVLM, init_weights  # noqa: E402
from nanovlm_torch.safetensors import read_safetensors, write_safetensors  # noqa: E402


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
