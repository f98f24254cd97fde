import {
  promises as fsp,
  writeFileSync,
  renameSync,
  readFileSync,
  existsSync,
  rmSync,
  openSync,
  fsyncSync,
  closeSync,
  fstatSync,
  accessSync,
  statSync,
  constants,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.ts';

let tmpCounter = 0;
/** A sibling temp name, unique within this process and across processes. */
export function tempSibling(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${tmpCounter++}`);
}

/** Writes a file by writing a temp sibling, fsyncing it and renaming it over the target. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempSibling(file);
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const tmp = tempSibling(file);
  writeFileSync(tmp, data);
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** What a path is when it is not a regular file, for error messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Opens a file for reading, refusing anything that is not a regular file (a folder, a FIFO that would
 * block forever, a device). O_NONBLOCK keeps the open itself from waiting on a FIFO's writer.
 * Errors name `where` (default: the path).
 */
export function openRegularFile(file: string, where = file): number {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw fileError(where, e);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new UserError(`${where}: is ${kindOf(st)}, expected a file`);
  }
  return fd;
}

/** Throws a one-line UserError unless `file` is a regular file (follows links; never opens it). */
export function assertRegularFile(file: string): void {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    throw fileError(file, e);
  }
  if (!st.isFile()) throw new UserError(`${file}: is ${kindOf(st)}, expected a file`);
}

/** Reads a whole regular file; errors name the file. */
export function readRegularFile(file: string): Buffer {
  const fd = openRegularFile(file);
  try {
    return readFileSync(fd);
  } catch (e) {
    throw fileError(file, e);
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole regular file as UTF-8 text; errors name the file. */
export function readTextFile(file: string): string {
  return readRegularFile(file).toString('utf8');
}

/** The lines of a file's bytes (split at \n, which never occurs inside a UTF-8 character). */
export function byteLines(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let nl = bytes.indexOf(10); nl >= 0; nl = bytes.indexOf(10, start)) {
    out.push(bytes.subarray(start, nl));
    start = nl + 1;
  }
  out.push(bytes.subarray(start));
  return out;
}

const FS_CODES = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EISDIR',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'ENOTDIR',
  'EEXIST',
]);

/**
 * The one-line UserError for an error thrown by node:fs (it has a code and a path), or null for any
 * other error. The CLI prints these instead of a stack trace.
 */
export function fileSystemError(e: unknown): UserError | null {
  const err = e as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof err.path !== 'string' || !FS_CODES.has(err.code ?? '')) return null;
  // A recursive mkdir under a read-only or unwritable folder fails with ENOENT: say what is wrong.
  if (err.code === 'ENOENT' && err.syscall === 'mkdir') {
    let parent = path.dirname(err.path);
    while (!existsSync(parent) && path.dirname(parent) !== parent) parent = path.dirname(parent);
    try {
      accessSync(parent, constants.W_OK);
    } catch (inner) {
      return new UserError(`${err.path}: cannot create the folder (${fileError(parent, inner).message})`);
    }
  }
  return fileError(err.path, err);
}

/** A one-line UserError for a failed file operation, in words rather than errno codes. */
export function fileError(file: string, e: unknown): UserError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const reason =
    code === 'ENOENT'
      ? 'file not found'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a folder, expected a file'
          : code === 'ENOSPC' || code === 'EDQUOT'
            ? 'no space left on the device'
            : code === 'EROFS'
              ? 'read-only file system'
              : code === 'ENOTDIR'
                ? 'a part of the path is not a folder'
                : code === 'EEXIST'
                  ? 'already exists'
                  : ((e as Error)?.message ?? String(e));
  return new UserError(`${file}: ${reason}`);
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Reads and parses a JSON file; errors name the file. */
export function readJson<T = unknown>(file: string): T {
  const text = readTextFile(file);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new UserError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

/** Replaces a directory atomically: `build(tmpDir)` fills a temp sibling, which is then renamed into place. */
export async function writeDirAtomic(dir: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
  const tmp = tempSibling(dir);
  await fsp.mkdir(tmp, { recursive: true });
  try {
    await build(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // rename(2) cannot replace a non-empty directory: move the old one aside first, then drop it.
  const old = existsSync(dir) ? tempSibling(dir) + '.old' : null;
  if (old) await fsp.rename(dir, old);
  await fsp.rename(tmp, dir);
  if (old) await fsp.rm(old, { recursive: true, force: true });
}
