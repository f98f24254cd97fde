"""python3 -m nanovlm_torch: one rank of a torch-engine run (see README "Scaling out").

  single process:  python3 -m nanovlm_torch --run runs/x                 (runs/x/train_config.json)
  several:         torchrun --nproc-per-node 4 -m nanovlm_torch --run runs/x --device cuda
  resume:          python3 -m nanovlm_torch --resume runs/x [--set steps=2000]
"""
import argparse
import json
import sys

from .train import Engine, UserError


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m nanovlm_torch', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', help='run folder (metrics, checkpoints); a new run reads RUN/train_config.json')
    ap.add_argument('--config', help='the resolved config JSON ({"train": ..., "model": ...}) of a new run')
    ap.add_argument('--resume', help='continue exactly: a run folder or a checkpoint folder (of either engine)')
    ap.add_argument('--init', help="a new run's starting weights (safetensors; default: torch's own draw of our scheme)")
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                    help='on resume: change a key that does not change the run (steps, minutes, evalEvery, ...)')
    ap.add_argument('--stop-at', type=int, default=0, help='stop (with a checkpoint) after this step, as Ctrl-C would')
    a = ap.parse_args(argv)
    overrides = {}
    for kv in a.set:
        k, sep, v = kv.partition('=')
        if not sep:
            ap.error(f'--set {kv}: expected KEY=VALUE')
        try:
            overrides[k] = json.loads(v)
        except ValueError:
            overrides[k] = v
    a.overrides = overrides
    try:
        return Engine(a).run()
    except UserError as e:
        print(f'nanovlm_torch: {e}', file=sys.stderr)
        return e.code


if __name__ == '__main__':
    sys.exit(main())
