"""The NanoVLM architecture in plain PyTorch: the twin of src/model/ (checked against it by
test/reference/model.test.ts). Parameter names match the TypeScript model's
(`vision.blocks.0.attn.qkv.weight`, ...), so a model.safetensors loads on either side."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        self.stem = cfg.get('patch_stem', 'patch')
        side = (p - 1) // 2 + 1
        self.side = side
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
        if self.stem == 'cnn':
            # over the whole picture, a ReLU between the convolutions, then cut into patches
            maps = self.conv2(F.relu(self.conv1(images)))  # B, c2, S/2, S/2
            q = self.side
            cells = maps.unfold(2, q, q).unfold(3, q, q)  # B, c2, n, n, q, q
            maps = cells.permute(0, 2, 3, 1, 4, 5).reshape(B * n * n, -1, q, q)
        else:
            patches = images.unfold(2, p, p).unfold(3, p, p)  # B, C, n, n, p, p
            patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(B * n * n, C, p, p)
            maps = self.conv2(self.conv1(patches))
        x = self.norm(maps.flatten(1))
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

    def forward(self, images, ids, lengths=None):
        """Logits [B, L, vocab] (row j predicts ids[:, j+1]) and the mean loss over text targets.
        `lengths` (real tokens per row, BOS and EOS included) marks the padding; without it, padding is
        recognised by pad_token_id."""
        logits = self.decoder(self.connector(self.vision(images)), ids)
        targets = torch.full_like(ids, -100)
        targets[:, :-1] = ids[:, 1:]
        if lengths is None:
            targets[targets == self.cfg['pad_token_id']] = -100
        else:
            cols = torch.arange(ids.shape[1], device=ids.device)[None, :]
            targets[cols + 1 >= torch.as_tensor(lengths, device=ids.device)[:, None]] = -100
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), ignore_index=-100)
        return logits, loss


def init_weights(model, seed=0):
    """Plain normal(0, 0.02) weights, zero biases, unit norms (the benchmark's model)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('bias') or '.ln' in name or 'norm' in name:
                p.copy_(torch.ones_like(p) if name.endswith('weight') else torch.zeros_like(p))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def init_like_ours(model, seed=0):
    """The scheme of src/model/nanovlm.ts createModel (same distributions, torch's random numbers):
    zero biases, unit LayerNorms; vision and connector linear/conv weights normal(0, 1/fan-in), the
    decoder's normal(0, 0.02); residual projections scaled by 1/sqrt(2 * blocks) in each tower; [CLS],
    positions and embeddings 0.02."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tower, fan_in, blocks in ((model.vision, True, cfg['vision_blocks']), (model.connector, True, 0),
                                      (model.decoder, False, cfg['n_layer'])):
            for mname, m in tower.named_modules():
                for pname, p in m.named_parameters(recurse=False):
                    if isinstance(m, nn.LayerNorm):
                        p.fill_(1.0 if pname == 'weight' else 0.0)
                    elif pname == 'bias':
                        p.zero_()
                    else:
                        std = 0.02
                        if fan_in and isinstance(m, (nn.Linear, nn.Conv2d)):
                            std = 1 / math.sqrt(p[0].numel())
                        p.copy_(torch.randn(p.shape, generator=g) * std)
                        full = f'{mname}.{pname}'
                        if blocks and (full.endswith('attn.proj.weight') or full.endswith('mlp.proj.weight')):
                            p.mul_(1 / math.sqrt(2 * blocks))


def decayed_names(model):
    """Weight decay on linear and convolution weights only (not norms, biases, embeddings), as
    src/train/trainer.ts decayedParameterNames; a tied head is the embedding and keeps its no-decay."""
    out = set()
    for mname, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            for pname, p in m.named_parameters(recurse=False):
                if p.dim() >= 2:
                    out.add(f'{mname}.{pname}' if mname else pname)
    return out


def is_vision_side(name):
    """The vision encoder and the connector learn at lr * visionLrScale."""
    return name.startswith('vision.') or name.startswith('connector.')
