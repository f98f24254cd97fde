/**
 * Checkpoint folders of a run, safe against a kill at any moment.
 *
 * Layout: `<run>/checkpoints/step-00000120/` (a model folder plus `optimizer.safetensors` and
 * `trainer_state.json`) and two symbolic links, `last` and `best`, naming step folders.
 *
 * Why it survives SIGKILL: a step folder is filled under a temp name and renamed into place only when
 * complete; the links are replaced by rename(2) of a fresh link, which is atomic. So `last` names either
 * the previous complete folder or the new one. Old folders are renamed to a trash name before they are
 * deleted, so a half-deleted folder never looks like a checkpoint. Readers that find no link (a kill
 * before the first link existed) fall back to the highest complete step folder.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  mkdirSync,
  unlinkSync,
} from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { readJson } from '../util/fs.ts';

export const TRAINER_STATE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const STEP_RE = /^step-(\d+)$/;

export const checkpointsDir = (runDir: string): string => path.join(runDir, 'checkpoints');
export const stepFolderName = (step: number): string => `step-${String(step).padStart(8, '0')}`;

function fsyncPath(p: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(p, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; durability then rests on the OS.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

function fsyncTree(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) fsyncTree(p);
    else fsyncPath(p);
  }
  fsyncPath(dir);
}

/** Points `link` (a symlink inside the checkpoints folder) at `target` (a sibling folder name), atomically. */
function pointLink(ckDir: string, link: string, target: string): void {
  const tmp = path.join(ckDir, `.${link}.tmp-${process.pid}`);
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, path.join(ckDir, link));
  fsyncPath(ckDir);
}

/** The step folder a link names, or null when the link is missing or dangling. */
function linkTarget(ckDir: string, link: string): string | null {
  try {
    const target = readlinkSync(path.join(ckDir, link));
    return isComplete(path.join(ckDir, target)) ? target : null;
  } catch {
    return null;
  }
}

const isComplete = (dir: string): boolean => existsSync(path.join(dir, TRAINER_STATE));

/** Complete step folders, oldest first. */
export function listCheckpoints(runDir: string): { step: number; dir: string }[] {
  const ckDir = checkpointsDir(runDir);
  if (!existsSync(ckDir)) return [];
  return readdirSync(ckDir)
    .map((name) => ({ m: STEP_RE.exec(name), name }))
    .filter((x) => x.m && isComplete(path.join(ckDir, x.name)))
    .map((x) => ({ step: Number(x.m![1]), dir: path.join(ckDir, x.name) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Writes the checkpoint for `step`: `fill(tmpDir)` writes every file; the folder is then synced,
 * renamed into place, and `last` (and `best` when asked) are pointed at it. Returns the folder.
 */
export async function writeCheckpoint(
  runDir: string,
  step: number,
  fill: (tmpDir: string) => Promise<void>,
  opts: { best?: boolean } = {},
): Promise<string> {
  const ckDir = checkpointsDir(runDir);
  mkdirSync(ckDir, { recursive: true });
  const name = stepFolderName(step);
  const final = path.join(ckDir, name);
  if (!isComplete(final)) {
    const tmp = path.join(ckDir, `.tmp-${name}-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    try {
      await fill(tmp);
      fsyncTree(tmp);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    // A stale incomplete folder of the same name (cannot normally exist) is moved out of the way.
    if (existsSync(final)) renameSync(final, path.join(ckDir, `.trash-${name}-${process.pid}`));
    renameSync(tmp, final);
    fsyncPath(ckDir);
  }
  pointLink(ckDir, 'last', name);
  if (opts.best) pointLink(ckDir, 'best', name);
  pruneCheckpoints(runDir);
  return final;
}

/**
 * Removes step folders that neither `last` nor `best` names, plus leftovers of killed writers
 * (temp and trash folders). Call only while no other process writes this run.
 */
export function pruneCheckpoints(runDir: string): void {
  const ckDir = checkpointsDir(runDir);
  if (!existsSync(ckDir)) return;
  const last = linkTarget(ckDir, 'last');
  if (!last) return; // never delete anything while no valid pointer exists
  const keep = new Set([last, linkTarget(ckDir, 'best')].filter(Boolean));
  for (const name of readdirSync(ckDir)) {
    const p = path.join(ckDir, name);
    if (name.startsWith('.trash-') || (name.startsWith('.tmp-') && !name.endsWith(`-${process.pid}`))) {
      rmSync(p, { recursive: true, force: true });
    } else if (STEP_RE.test(name) && !keep.has(name)) {
      const trash = path.join(ckDir, `.trash-${name}-${process.pid}`);
      renameSync(p, trash);
      rmSync(trash, { recursive: true, force: true });
    } else if (/^\.(last|best)\.tmp-/.test(name)) {
      unlinkSync(p);
    }
  }
}

/**
 * Finds a complete checkpoint folder from what a user passes to `--resume`: a checkpoint folder, a
 * checkpoints folder, or a run folder. Follows `last`, else takes the highest complete step folder.
 */
export function resolveCheckpoint(p: string): string {
  if (!existsSync(p)) throw new UserError(`${p}: no such file or folder`);
  if (isComplete(p)) return realpathSync(p);
  for (const ckDir of [path.join(p, 'checkpoints'), p]) {
    if (!existsSync(ckDir)) continue;
    const last = linkTarget(ckDir, 'last');
    if (last) return realpathSync(path.join(ckDir, last));
    const runDir = path.basename(ckDir) === 'checkpoints' ? path.dirname(ckDir) : null;
    const all = runDir ? listCheckpoints(runDir) : [];
    if (all.length) return all[all.length - 1]!.dir;
  }
  throw new UserError(`${p}: no checkpoint found (expected ${TRAINER_STATE} or a checkpoints/ folder)`);
}

/** The `best` checkpoint of a run, or null. */
export function bestCheckpoint(runDir: string): string | null {
  const ckDir = checkpointsDir(runDir);
  const best = linkTarget(ckDir, 'best');
  return best ? path.join(ckDir, best) : null;
}

export function readTrainerState<T>(ckDir: string): T {
  return readJson<T>(path.join(ckDir, TRAINER_STATE));
}

/** The run folder a checkpoint folder belongs to (`<run>/checkpoints/step-N`), or null. */
export function runDirOf(ckDir: string): string | null {
  const real = path.resolve(ckDir);
  const parent = path.dirname(real);
  return path.basename(parent) === 'checkpoints' ? path.dirname(parent) : null;
}
