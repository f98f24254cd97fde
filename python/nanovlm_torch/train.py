"""The torch engine's training loop: the TypeScript trainer's (src/train/trainer.ts) on PyTorch, with
DistributedDataParallel over ranks.

The same run either way: the same data order (the loader's permutation), the same loss weighting
(each row piece by its share of the global batch's target tokens), AdamW with the same parameter
groups and rate scales, the same schedule, clipping, validation (loss, perplexity, image gain over the
same pieces), metrics and checkpoint files. A checkpoint of either engine resumes in the other.

Ranks: `batchSize` is the global batch; rank r takes rows [r·b, (r+1)·b) of each batch, b =
batchSize / world. Each rank weights its loss by its rows' tokens over the whole batch's, times the
world size, so DDP's gradient average is the one-rank gradient. Dropout draws come from torch, seeded
per (seed, step, rank): resuming a torch run repeats it, but its masks are not the TypeScript engine's
(runs move between engines exactly with dropout 0).

Launch: one process per rank with RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT in the
environment (torchrun sets them; `nanovlm train --engine torch` does it itself). gloo on CPU, nccl on
CUDA. Rank 0 writes metrics and checkpoints and prints one JSON event per line on stdout.
"""
import json
import math
import os
import resource
import signal
import time

import numpy as np
import torch
import torch.distributed as dist

from .checkpoint import OPTIMIZER_FILE, TRAINER_STATE, best_checkpoint, resolve_checkpoint, run_dir_of, write_checkpoint
from .model import NanoVLM, decayed_names, init_like_ours, is_vision_side
from .packed import Loader, Packed, PackedError
from .rng import Rng, hash32
from .safetensors import read_metadata, read_safetensors, write_safetensors

# src/train/state.ts: 2 always has lastImageGain and config.train.visionLrScale; 1 may lack them.
STATE_VERSION = 2
DEFAULT_EPOCHS = 5
UNFITTED = 2**53 - 1
RESUMABLE = ('steps', 'minutes', 'evalEvery', 'evalSamples', 'saveEvery', 'logEvery', 'samples', 'prefetch', 'cacheMb')
# (x / 255 - 0.5) / 0.5 in double, then float32: src/data/image.ts's table.
NORMALISED = torch.tensor([(x / 255 - 0.5) / 0.5 for x in range(256)], dtype=torch.float64).float()


class UserError(Exception):
    def __init__(self, msg, code=1):
        super().__init__(msg)
        self.code = code


def learning_rate(step, lr, min_lr, warmup, total):
    """src/train/schedule.ts: linear warm-up from 0, then cosine decay to the floor."""
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def fit_steps_to_budget(done, step_ms, remaining_ms, tc):
    """src/train/trainer.ts fitStepsToBudget."""
    eval_batches = math.ceil(tc['evalSamples'] / tc['batchSize'])
    eval_ms = eval_batches * step_ms / (3 * tc['gradAccum'])
    per_step = step_ms + (eval_ms / tc['evalEvery'] if tc['evalEvery'] > 0 else 0)
    reserve = 0.03 * remaining_ms + eval_ms
    return done + max(1, math.floor((remaining_ms - reserve) / per_step))


def round6(x):
    return float(f'{x:.6g}')


def read_json(path):
    try:
        with open(path, 'rb') as f:
            return json.loads(f.read().decode('utf-8'))
    except FileNotFoundError:
        raise UserError(f'{path}: file not found')
    except ValueError as e:
        raise UserError(f'{path}: invalid JSON ({e})')


def write_json(path, value):
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(json.dumps(value, indent=2) + '\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Dist:
    """Rank, world and the collectives (no-ops for a single process without a process group)."""

    def __init__(self, device):
        self.rank = int(os.environ.get('RANK', '0'))
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        if device == 'cuda':
            if not torch.cuda.is_available():
                raise UserError('--device cuda: no CUDA device is available to torch', 2)
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device('cuda', self.local_rank)
        else:
            self.device = torch.device('cpu')
        self.on = self.world > 1
        if self.on:
            dist.init_process_group('nccl' if device == 'cuda' else 'gloo', init_method='env://')

    def sum(self, values):
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.on:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def max(self, values):
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.on:
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    def barrier(self):
        if self.on:
            dist.barrier()

    def close(self):
        if self.on:
            dist.destroy_process_group()


class Engine:
    def __init__(self, args):
        self.args = args
        self.t0 = time.perf_counter()
        self.d = Dist(args.device)
        torch.set_num_threads(max(1, int(os.environ.get('NANOVLM_THREADS') or os.environ.get('OMP_NUM_THREADS') or os.cpu_count() or 1)))
        self.stop_requested = False
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, self._on_signal)

    def _on_signal(self, *_):
        self.stop_requested = True

    # ------------------------------------------------------------ output (rank 0)
    def emit(self, event, **kw):
        if self.d.rank == 0:
            print(json.dumps({'event': event, **kw}), flush=True)

    def say(self, msg):
        self.emit('note', message=msg)

    # ------------------------------------------------------------ setup
    def setup(self):
        a = self.args
        self.state = None
        self.resumed_from = None
        if a.resume:
            try:
                self.resumed_from = resolve_checkpoint(a.resume)
            except FileNotFoundError as e:
                raise UserError(str(e))
            st = read_json(os.path.join(self.resumed_from, TRAINER_STATE))
            if st.get('version') not in (1, STATE_VERSION):
                raise UserError(f'{os.path.join(self.resumed_from, TRAINER_STATE)}: unsupported version {st.get("version")}')
            self.state = st
            cfg = st['config']
            cfg['train'].setdefault('visionLrScale', 1)
            st.setdefault('lastImageGain', None)
            for k, v in (a.overrides or {}).items():
                if k not in RESUMABLE:
                    raise UserError(f'--{k} cannot change when resuming (it would change the run; the checkpoint has '
                                    f'{json.dumps(cfg["train"].get(k))}). Start a new run instead.', 2)
                cfg['train'][k] = v
            self.run_dir = a.run or run_dir_of(self.resumed_from) or os.path.dirname(self.resumed_from)
            with open(os.path.join(self.resumed_from, 'tokenizer.json'), 'rb') as f:
                self.tokenizer_bytes = f.read()
        else:
            if not a.run:
                raise UserError('--run DIR is required for a new run', 2)
            self.run_dir = a.run
            cfg = read_json(a.config or os.path.join(a.run, 'train_config.json'))
            tok = cfg['train'].get('tokenizer') or os.path.join(cfg['train']['data'], 'tokenizer.json')
            try:
                with open(tok, 'rb') as f:
                    self.tokenizer_bytes = f.read()
            except FileNotFoundError:
                raise UserError(f'{tok}: tokenizer not found')
        self.cfg = cfg
        self.tc, self.mc = cfg['train'], cfg['model']
        tc, mc = self.tc, self.mc
        if mc.get('word_head'):
            raise UserError('the torch engine has no word head (model.word_head); train this model with the ts engine', 2)
        if tc['batchSize'] % self.d.world:
            raise UserError(f'the batch of {tc["batchSize"]} does not split over {self.d.world} ranks (make it a multiple)', 2)
        self.local_batch = tc['batchSize'] // self.d.world

        # data: a packed folder only (the PNG folder is the TypeScript engine's)
        try:
            # One rank per machine reads every shard for its checksum; the others check sizes only.
            self.packed = Packed(tc['data'], verify_shards=self.d.local_rank == 0)
        except PackedError as e:
            raise UserError(str(e))
        pi = self.packed.index
        if pi['image_size'] != mc['image_size']:
            raise UserError(f'{tc["data"]}: packed at {pi["image_size"]} px, the model wants {mc["image_size"]} '
                            f'(pack again with --image-size {mc["image_size"]})')
        t = pi['tokenizer']
        if (t['vocab_size'], t['bos_id'], t['eos_id'], t['pad_id']) != (mc['vocab_size'], mc['bos_token_id'], mc['eos_token_id'], mc['pad_token_id']):
            raise UserError(f'{tc["data"]}: packed with another tokenizer (vocabulary or special ids differ from the model\'s)')
        packed_tok = _tokenizer_model(os.path.join(tc['data'], t['file']))
        if packed_tok is not None and packed_tok != _tokenizer_model_bytes(self.tokenizer_bytes):
            raise UserError(f'{tc["data"]}: packed with another tokenizer than the run\'s; pack again with it')
        try:
            self.train_loader = Loader(self.packed, 'train', tc['text'], tc['batchSize'], mc['max_text_len'], tc['seed'])
            self.val_loader = Loader(self.packed, 'val', tc['text'], tc['batchSize'], mc['max_text_len'], tc['seed'], shuffle=False, drop_last=False) if 'val' in self.packed.splits else None
        except PackedError as e:
            raise UserError(str(e))
        if self.train_loader.limit == 0:
            raise UserError(f'{tc["data"]}: the train split has {self.train_loader.n} samples, fewer than one batch of {tc["batchSize"]}')
        if not self.val_loader:
            self.say(f'note: {tc["data"]} has no val split; validation is skipped')

        # model and optimizer
        self.model = NanoVLM(mc)
        if self.state:
            weights = os.path.join(self.resumed_from, 'model.safetensors')
            try:
                self.model.load_state_dict(read_safetensors(weights), strict=True)
            except (RuntimeError, ValueError, KeyError) as e:
                raise UserError(f'{weights}: does not match the config ({str(e).splitlines()[0]})')
        elif self.args.init:
            try:
                self.model.load_state_dict(read_safetensors(self.args.init), strict=True)
            except (OSError, RuntimeError, ValueError, KeyError) as e:
                raise UserError(f'{self.args.init}: cannot load the starting weights ({str(e).splitlines()[0]})')
        else:
            init_like_ours(self.model, tc['seed'])
        self.model.to(self.d.device).train()
        self.names = [n for n, _ in self.model.named_parameters()]
        decayed = decayed_names(self.model)
        groups = {}
        for n, p in self.model.named_parameters():
            wd = tc['weightDecay'] if n in decayed else 0.0
            scale = tc['visionLrScale'] if is_vision_side(n) else 1.0
            groups.setdefault((wd, scale), []).append(p)
        self.opt = torch.optim.AdamW(
            [{'params': ps, 'weight_decay': wd, 'lr_scale': scale} for (wd, scale), ps in groups.items()],
            lr=tc['lr'], betas=(tc['beta1'], tc['beta2']), eps=tc['eps'])
        self.opt_steps = 0
        if self.d.on:
            from torch.nn.parallel import DistributedDataParallel as DDP
            self.ddp = DDP(self.model, device_ids=[self.d.local_rank] if self.d.device.type == 'cuda' else None)
        else:
            self.ddp = self.model

        per_epoch = max(1, self.train_loader.batches_per_epoch // tc['gradAccum'])
        if tc['steps'] > 0:
            self.total = tc['steps']
        elif tc['epochs'] > 0:
            self.total = tc['epochs'] * per_epoch
        elif tc['minutes'] > 0:
            self.total = (self.state or {}).get('totalSteps') or UNFITTED
        else:
            self.total = DEFAULT_EPOCHS * per_epoch
        self.time_fitted = self.total == UNFITTED

        self.step = 0
        self.samples_seen = 0
        self.best_val = self.best_step = self.last_val = self.last_gain = None
        self.prior_seconds = 0.0
        self.window = {'loss': 0.0, 'gradNorm': 0.0, 'steps': 0, 'skipped': 0}
        self.dropout_rng = Rng(tc['seed'] ^ 0x5EED).s
        if self.state:
            st = self.state
            self.load_optimizer(os.path.join(self.resumed_from, OPTIMIZER_FILE))
            self.train_loader.restore(st['loader'])
            self.step, self.samples_seen = st['step'], st['samplesSeen']
            self.best_val, self.best_step, self.last_val = st['bestValLoss'], st['bestStep'], st['lastValLoss']
            self.last_gain = st.get('lastImageGain')
            self.window = dict(st['window'])
            self.prior_seconds = st['trainSeconds']
            self.dropout_rng = st['dropoutRng']
            b = st.get('backend', {})
            self.say(f'resuming from {self.resumed_from} at step {self.step}')
            if b.get('name') != 'torch':
                self.say(f'note: the checkpoint was made with the {b.get("name")} backend on {b.get("threads")} thread(s); '
                         f'now torch on {self.d.world} rank(s): losses will match closely but not bit for bit')
        if self.d.rank == 0:
            os.makedirs(self.run_dir, exist_ok=True)
            self.metrics_file = os.path.join(self.run_dir, 'metrics.jsonl')
            kept = []
            if self.state and os.path.exists(self.metrics_file):
                for line in open(self.metrics_file):
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a kill
                    if isinstance(row.get('step'), (int, float)) and row['step'] <= self.step:
                        kept.append(row)
            with open(self.metrics_file + '.tmp', 'w') as f:
                f.writelines(json.dumps(r) + '\n' for r in kept)
            os.replace(self.metrics_file + '.tmp', self.metrics_file)
            if not self.state and not os.path.exists(os.path.join(self.run_dir, 'train_config.json')):
                write_json(os.path.join(self.run_dir, 'train_config.json'), cfg)

    def load_optimizer(self, file):
        try:
            tensors = read_safetensors(file)
            meta = read_metadata(file)
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f'{file}: cannot read ({e})')
        try:
            step = int(meta.get('step', ''))
        except ValueError:
            raise UserError(f'{file}: metadata "step" must be a non-negative integer, got {json.dumps(meta.get("step"))}')
        params = dict(self.model.named_parameters())
        expected = set()
        for n, p in params.items():
            for key in (f'{n}.exp_avg', f'{n}.exp_avg_sq'):
                expected.add(key)
                if key not in tensors:
                    raise UserError(f'{file}: tensor "{key}" is missing (does the checkpoint match the model?)')
                if tuple(tensors[key].shape) != tuple(p.shape):
                    raise UserError(f'{file}: tensor "{key}" has shape {list(tensors[key].shape)}, expected {list(p.shape)}')
        extra = [k for k in tensors if k not in expected]
        if extra:
            raise UserError(f'{file}: unexpected tensor "{extra[0]}" ({len(extra)} not in the model)')
        if step > 0:
            for n, p in params.items():
                self.opt.state[p] = {
                    'step': torch.tensor(float(step)),
                    'exp_avg': tensors[f'{n}.exp_avg'].float().to(p.device).clone(),
                    'exp_avg_sq': tensors[f'{n}.exp_avg_sq'].float().to(p.device).clone(),
                }
        self.opt_steps = step

    # ------------------------------------------------------------ data to tensors
    def batch_tensors(self, loader, picked, L):
        pixels, ids, lengths = loader.arrays(picked, self.mc['pad_token_id'], L)
        images = NORMALISED[torch.from_numpy(np.ascontiguousarray(pixels)).long()].permute(0, 3, 1, 2).contiguous()
        return images.to(self.d.device), torch.from_numpy(ids).to(self.d.device), lengths

    @staticmethod
    def pieces(rows, size):
        if size <= 0 or size >= len(rows):
            return [rows]
        return [rows[i:i + size] for i in range(0, len(rows), size)]

    # ------------------------------------------------------------ one optimizer step
    def train_step(self, lr):
        tc = self.tc
        for g in self.opt.param_groups:
            g['lr'] = lr * g['lr_scale']
        self.opt.zero_grad(set_to_none=False)
        torch.manual_seed(hash32(hash32(tc['seed'], self.step), self.d.rank))
        local_loss = 0.0
        samples = 0
        work = []
        for _ in range(tc['gradAccum']):
            picked, _, _ = self.train_loader.next()
            lengths = self.train_loader.lengths(picked)
            tokens = max(1, sum(max(0, n - 1) for n in lengths))
            L = max(2, max(lengths))
            mine = picked[self.d.rank * self.local_batch:(self.d.rank + 1) * self.local_batch]
            for piece in self.pieces(mine, tc['microBatch']):
                work.append((piece, tokens, L))
            samples += len(picked)
        for k, (piece, tokens, L) in enumerate(work):
            images, ids, lengths = self.batch_tensors(self.train_loader, piece, L)
            n = sum(max(0, x - 1) for x in lengths)
            weight = n / tokens / tc['gradAccum']
            last = k == len(work) - 1
            ctx = self.ddp.no_sync() if self.d.on and not last else _Null()
            with ctx:
                _, loss = self.ddp(images, ids, lengths)
                (loss * (weight * self.d.world)).backward()
            local_loss += loss.item() * weight
        (step_loss,) = self.d.sum([local_loss])
        params = [p for p in self.model.parameters()]
        norm = torch.nn.utils.clip_grad_norm_(params, tc['gradClip'] if tc['gradClip'] > 0 else float('inf')).item()
        return step_loss, norm, samples

    # ------------------------------------------------------------ validation
    def validate(self):
        tc, vl = self.tc, self.val_loader
        if not vl or tc['evalSamples'] == 0:
            return None
        model = self.model
        model.eval()
        vl.restore({'epoch': 0, 'position': 0, 'seed': vl.seed, 'samples': vl.n})
        nll = tokens = gain = gain_tokens = 0.0
        seen = 0
        k = 0
        with torch.no_grad():
            while vl.epoch == 0:
                picked, _, _ = vl.next()
                L = max(2, max(vl.lengths(picked)))
                for piece in self.pieces(picked, tc['microBatch']):
                    if k % self.d.world == self.d.rank:
                        images, ids, lengths = self.batch_tensors(vl, piece, L)
                        n = sum(max(0, x - 1) for x in lengths)
                        real = model(images, ids, lengths)[1].item() * n
                        nll += real
                        tokens += n
                        if len(piece) > 1:
                            # each text with the next row's picture (the last with the first)
                            gain += model(torch.roll(images, -1, 0), ids, lengths)[1].item() * n - real
                            gain_tokens += n
                    k += 1
                seen += len(picked)
                if seen >= tc['evalSamples']:
                    break
        model.train()
        nll, tokens, gain, gain_tokens = self.d.sum([nll, tokens, gain, gain_tokens])
        loss = nll / max(1, tokens)
        return {'loss': loss, 'ppl': math.exp(loss), 'imageGain': gain / gain_tokens if gain_tokens else None}

    # ------------------------------------------------------------ checkpoints (rank 0 writes)
    def trainer_state(self, finished):
        return {
            'version': STATE_VERSION,
            'step': self.step,
            'totalSteps': None if self.total == UNFITTED else self.total,
            'epoch': self.train_loader.state()['epoch'],
            'samplesSeen': self.samples_seen,
            'loader': self.train_loader.state(),
            'dropoutRng': self.dropout_rng,
            'bestValLoss': self.best_val,
            'bestStep': self.best_step,
            'lastValLoss': self.last_val,
            'lastImageGain': self.last_gain,
            'window': dict(self.window),
            'trainSeconds': self.prior_seconds + (time.perf_counter() - self.t0),
            'finished': finished,
            'config': self.cfg,
            'backend': {'name': 'torch', 'threads': torch.get_num_threads(), 'ranks': self.d.world,
                        'device': self.d.device.type},
        }

    def checkpoint(self, best=False, finished=False):
        path = None
        if self.d.rank == 0:
            st = self.trainer_state(finished)
            mc = self.mc

            def fill(tmp):
                weights = {n: p.detach().float().cpu() for n, p in self.model.state_dict().items()}
                write_safetensors(os.path.join(tmp, 'model.safetensors'), weights, {'format': 'pt', 'step': str(self.step)})
                write_json(os.path.join(tmp, 'config.json'), {'architectures': ['NanoVLM'], **mc})
                with open(os.path.join(tmp, 'tokenizer.json'), 'wb') as f:
                    f.write(self.tokenizer_bytes)
                write_json(os.path.join(tmp, 'generation_config.json'), {
                    'max_new_tokens': 64, 'do_sample': False, 'temperature': 1, 'top_k': 0, 'top_p': 1,
                    'repetition_penalty': 1, 'bos_token_id': mc['bos_token_id'], 'eos_token_id': mc['eos_token_id'],
                    'pad_token_id': mc['pad_token_id']})
                opt = {}
                for n, p in self.model.named_parameters():
                    s = self.opt.state.get(p, {})
                    opt[f'{n}.exp_avg'] = s.get('exp_avg', torch.zeros_like(p)).detach().float().cpu()
                    opt[f'{n}.exp_avg_sq'] = s.get('exp_avg_sq', torch.zeros_like(p)).detach().float().cpu()
                write_safetensors(os.path.join(tmp, OPTIMIZER_FILE), opt, {
                    'optimizer': 'AdamW', 'step': str(self.opt_steps), 'lr': repr(self.last_lr),
                    'beta1': repr(self.tc['beta1']), 'beta2': repr(self.tc['beta2']), 'eps': repr(self.tc['eps'])})
                write_json(os.path.join(tmp, TRAINER_STATE), st)

            path = write_checkpoint(self.run_dir, self.step, fill, best=best)
        self.d.barrier()
        self.last_saved = self.step
        return path

    def metrics(self, row):
        if self.d.rank == 0:
            with open(self.metrics_file, 'a') as f:
                f.write(json.dumps(row) + '\n')
            self.emit('metrics', row=row)

    def val_row(self, v):
        row = {'step': self.step, 'val_loss': round6(v['loss']), 'val_ppl': round6(v['ppl'])}
        if v['imageGain'] is not None:
            row['val_image_gain'] = round6(v['imageGain'])
        return row

    def record_validation(self, v):
        """Keeps and logs a validation result; True when its loss is the best so far (then the best)."""
        self.last_val, self.last_gain = v['loss'], v['imageGain']
        self.metrics(self.val_row(v))
        if self.best_val is None or v['loss'] < self.best_val:
            self.best_val, self.best_step = v['loss'], self.step
            return True
        return False

    # ------------------------------------------------------------ the loop
    def run(self):
        self.setup()
        tc = self.tc
        self.last_lr = tc['lr']
        self.last_saved = self.step if self.state else -1
        budget_ms = tc['minutes'] * 60_000 if tc['minutes'] > 0 else math.inf
        start = self.step
        calibrate_at = max(5, min(tc['warmupSteps'], 30))
        self.emit('start', step=self.step, total=None if self.total == UNFITTED else self.total,
                  calibrate=start + calibrate_at if self.time_fitted else None, ranks=self.d.world,
                  device=self.d.device.type, threads=torch.get_num_threads())
        stopped_by = 'done'
        last_loss = None
        win_start, win_samples, rate = time.perf_counter(), 0, 0.0
        consecutive_bad = 0
        loop_start = time.perf_counter()
        step_ms = 0.0
        fit = None
        trained = 0
        while self.step < self.total:
            elapsed = (time.perf_counter() - self.t0) * 1000
            parent = os.environ.get('NANOVLM_LAUNCHER_PID')
            if parent and os.getppid() != int(parent):
                self.stop_requested = True  # the launcher is gone: stop with a checkpoint instead of training unseen
            # every rank stops at the same step: a signal on any of them, or rank 0's clock
            sig, out_of_time = self.d.max([1.0 if self.stop_requested else 0.0,
                                           1.0 if self.d.rank == 0 and elapsed + step_ms > budget_ms else 0.0])
            if sig:
                stopped_by = 'signal'
                break
            if out_of_time:
                stopped_by = 'time'
                break
            lr = learning_rate(self.step, tc['lr'], tc['minLr'], tc['warmupSteps'], self.total)
            self.last_lr = lr
            loss, norm, samples = self.train_step(lr)
            if math.isfinite(norm) and math.isfinite(loss):
                self.opt.step()
                self.opt_steps += 1
                consecutive_bad = 0
            else:
                self.window['skipped'] += 1
                consecutive_bad += 1
                if consecutive_bad >= 10:
                    raise UserError(f'training diverged: loss or gradient not finite for 10 steps in a row at step {self.step + 1} (try a lower --lr)')
                self.say(f'warning: step {self.step + 1}: non-finite loss or gradient, update skipped')
            self.step += 1
            self.samples_seen += samples
            win_samples += samples
            trained += samples
            last_loss = loss
            if math.isfinite(loss):
                self.window['loss'] += loss
                self.window['gradNorm'] += norm
                self.window['steps'] += 1

            since = self.step - start
            if since == 3:
                loop_start = time.perf_counter()
            if since > 3:
                step_ms = (time.perf_counter() - loop_start) * 1000 / (since - 3)
            if self.time_fitted and since == calibrate_at:
                remaining = budget_ms - (time.perf_counter() - self.t0) * 1000
                (total,) = self.d.max([fit_steps_to_budget(self.step, step_ms, remaining, tc) if self.d.rank == 0 else 0])
                self.total = int(total)
                fit = True
                self.say(f'time budget {tc["minutes"]} min: {step_ms:.0f} ms/step → schedule of {self.total} steps')

            if self.step % tc['logEvery'] == 0 or self.step == self.total:
                secs = time.perf_counter() - win_start
                rate = win_samples / max(secs, 1e-9)
                if self.window['steps'] > 0:
                    w = self.window
                    self.metrics({'step': self.step, 'epoch': self.train_loader.state()['epoch'],
                                  'loss': round6(w['loss'] / w['steps']), 'lr': lr,
                                  'grad_norm': round6(w['gradNorm'] / w['steps']),
                                  'samples_per_s': round(rate, 2),
                                  'time': round(time.perf_counter() - self.t0 + self.prior_seconds, 1)})
                self.window = {'loss': 0.0, 'gradNorm': 0.0, 'steps': 0, 'skipped': 0}
                win_start, win_samples = time.perf_counter(), 0
            saved_best = False
            if tc['evalEvery'] > 0 and self.step % tc['evalEvery'] == 0 and self.step < self.total:
                v = self.validate()
                if v and self.record_validation(v):
                    self.checkpoint(best=True)
                    saved_best = True
            if not saved_best and tc['saveEvery'] > 0 and self.step % tc['saveEvery'] == 0 and self.step < self.total:
                self.checkpoint()
            if self.step % tc['logEvery'] != 0:
                rate = win_samples / max(time.perf_counter() - win_start, 1e-9)
            self.emit('step', step=self.step, total=None if self.total == UNFITTED else self.total,
                      epoch=self.train_loader.state()['epoch'], loss=loss, lr=lr, grad_norm=norm, samples_per_s=rate)
            if self.args.stop_at and self.step >= self.args.stop_at:
                stopped_by = 'hook'
                break
        del fit

        finished = self.step >= self.total
        is_best = False
        if finished or stopped_by == 'time':
            v = self.validate()
            if v:
                is_best = self.record_validation(v)
        if self.last_saved == self.step and not finished and not is_best:
            last = resolve_checkpoint(self.run_dir) if self.d.rank == 0 else None
        else:
            last = self.checkpoint(best=is_best, finished=finished)
        seconds = time.perf_counter() - self.t0
        summary = {
            'runDir': self.run_dir, 'checkpoint': last, 'best': best_checkpoint(self.run_dir) if self.d.rank == 0 else None,
            'step': self.step, 'totalSteps': self.step if self.total == UNFITTED else self.total,
            'epoch': self.train_loader.state()['epoch'], 'samplesSeen': self.samples_seen, 'trainLoss': last_loss,
            'valLoss': self.last_val, 'valPerplexity': None if self.last_val is None else math.exp(self.last_val),
            'valImageGain': self.last_gain, 'bestValLoss': self.best_val, 'bestStep': self.best_step,
            'samplesPerSecond': trained / max(seconds, 1e-9), 'seconds': seconds,
            'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'stoppedBy': stopped_by,
            'resumedFrom': self.resumed_from, 'params': sum(p.numel() for p in self.model.parameters()),
            'backend': f'torch ({self.d.world} rank(s), {self.d.device.type})', 'threads': torch.get_num_threads(),
            'samples': [],
        }
        self.emit('done', summary=summary)
        self.d.close()
        return 130 if stopped_by == 'signal' else 0


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _tokenizer_model(path):
    try:
        with open(path, 'rb') as f:
            return _tokenizer_model_bytes(f.read())
    except FileNotFoundError:
        return None


def _tokenizer_model_bytes(raw):
    """The part of a tokenizer.json that decides the ids (vocabulary, merges, special tokens)."""
    try:
        t = json.loads(raw.decode('utf-8'))
    except ValueError:
        return None
    return json.dumps([t.get('model'), t.get('added_tokens')], sort_keys=True)
