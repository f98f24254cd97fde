"""Checkpoint folders of a run, the layout of src/train/checkpoint.ts: `<run>/checkpoints/step-NNNNNNNN/`
(a model folder plus optimizer.safetensors and trainer_state.json) and the links `last` and `best`.
A step folder is filled under a temp name and renamed when complete; links are replaced by rename(2)."""
import os
import re
import shutil

TRAINER_STATE = 'trainer_state.json'
OPTIMIZER_FILE = 'optimizer.safetensors'
STEP_RE = re.compile(r'^step-(\d+)$')


def step_folder_name(step):
    return f'step-{step:08d}'


def is_complete(d):
    return os.path.exists(os.path.join(d, TRAINER_STATE))


def _fsync(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories
    finally:
        os.close(fd)


def _fsync_tree(d):
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isdir(p):
            _fsync_tree(p)
        else:
            _fsync(p)
    _fsync(d)


def _point_link(ck, link, target):
    tmp = os.path.join(ck, f'.{link}.tmp-{os.getpid()}')
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, os.path.join(ck, link))
    _fsync(ck)


def _link_target(ck, link):
    try:
        target = os.readlink(os.path.join(ck, link))
    except OSError:
        return None
    return target if is_complete(os.path.join(ck, target)) else None


def write_checkpoint(run_dir, step, fill, best=False):
    """fill(tmp_dir) writes every file; the folder is synced, renamed into place, `last` (and `best`) point at it."""
    ck = os.path.join(run_dir, 'checkpoints')
    os.makedirs(ck, exist_ok=True)
    name = step_folder_name(step)
    final = os.path.join(ck, name)
    if not is_complete(final):
        tmp = os.path.join(ck, f'.tmp-{name}-{os.getpid()}')
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp)
        try:
            fill(tmp)
            _fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if os.path.exists(final):
            os.rename(final, os.path.join(ck, f'.trash-{name}-{os.getpid()}'))
        os.rename(tmp, final)
        _fsync(ck)
    _point_link(ck, 'last', name)
    if best:
        _point_link(ck, 'best', name)
    prune(run_dir)
    return final


def prune(run_dir):
    """Removes step folders neither `last` nor `best` names, and leftovers of killed writers."""
    ck = os.path.join(run_dir, 'checkpoints')
    last = _link_target(ck, 'last')
    if not last:
        return
    keep = {last, _link_target(ck, 'best')}
    pid = os.getpid()
    for name in os.listdir(ck):
        p = os.path.join(ck, name)
        if name.startswith('.trash-') or (name.startswith('.tmp-') and not name.endswith(f'-{pid}')):
            shutil.rmtree(p, ignore_errors=True)
        elif STEP_RE.match(name) and name not in keep:
            trash = os.path.join(ck, f'.trash-{name}-{pid}')
            os.rename(p, trash)
            shutil.rmtree(trash, ignore_errors=True)
        elif re.match(r'^\.(last|best)\.tmp-', name):
            os.unlink(p)


def resolve_checkpoint(p):
    """A checkpoint folder, a checkpoints folder or a run folder -> the complete checkpoint folder."""
    if not os.path.exists(p):
        raise FileNotFoundError(f'{p}: no such file or folder')
    if is_complete(p):
        return os.path.realpath(p)
    for ck in (os.path.join(p, 'checkpoints'), p):
        if not os.path.isdir(ck):
            continue
        last = _link_target(ck, 'last')
        if last:
            return os.path.realpath(os.path.join(ck, last))
        steps = sorted((int(m.group(1)), n) for n in os.listdir(ck) if (m := STEP_RE.match(n)) and is_complete(os.path.join(ck, n)))
        if steps:
            return os.path.realpath(os.path.join(ck, steps[-1][1]))
    raise FileNotFoundError(f'{p}: no checkpoint found (expected {TRAINER_STATE} or a checkpoints/ folder)')


def best_checkpoint(run_dir):
    ck = os.path.join(run_dir, 'checkpoints')
    b = _link_target(ck, 'best')
    return os.path.join(ck, b) if b else None


def run_dir_of(ck_dir):
    parent = os.path.dirname(os.path.realpath(ck_dir))
    return os.path.dirname(parent) if os.path.basename(parent) == 'checkpoints' else None
