/**
 * Where generateScenes puts its files. A new set is built in a temp sibling folder, then moved into the
 * output folder. A folder that is not empty is written into only when asked (`overwrite`), and then only
 * the scenes' own files are replaced: those an earlier build recorded in its info.json (`manifest.jsonl`,
 * `info.json`, `images/000001.png` up to its count). Anything else there (a tokenizer.json, a user's
 * notes) is kept; a file of someone else's in the way of a new one stops the build before it starts.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { writeFileAtomicSync } from '../../util/fs.ts';
import { imageName } from './record.ts';

export const SCENES_SOURCE = 'nanovlm built-in scenes';
const MANIFEST = 'manifest.jsonl';
const INFO = 'info.json';

/** How many scenes an earlier build left in `dir` (by its info.json), or -1 when it holds none of ours. */
function earlierCount(dir: string): number {
  try {
    const info = JSON.parse(readFileSync(path.join(dir, INFO), 'utf8'));
    if (info.source !== SCENES_SOURCE) return -1;
    return Number.isInteger(info.count) && info.count >= 0 ? info.count : 0;
  } catch {
    return -1;
  }
}

/** The files a build of `count` scenes writes, relative to its folder. */
function sceneFiles(count: number): string[] {
  return [MANIFEST, INFO, ...Array.from({ length: count }, (_, i) => imageName(i))];
}

function isEmptyFolder(dir: string): boolean {
  return readdirSync(dir).length === 0;
}

/**
 * Checks that `count` scenes may be written into `out`; throws a UserError saying why not. Without
 * `overwrite` the folder must not exist or be empty.
 */
export function checkOutFolder(out: string, count: number, overwrite: boolean): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError(`${out}: exists and is not a folder`);
  if (isEmptyFolder(out)) return;
  if (!overwrite) {
    const what = earlierCount(out) >= 0 ? 'holds scenes from an earlier build' : 'exists and is not empty';
    throw new UserError(
      `${out}: folder ${what}; choose a new folder, or pass --overwrite to replace the scenes' own files ` +
        `(manifest.jsonl, info.json, images/) and keep everything else`,
    );
  }
  const imagesDir = path.join(out, 'images');
  if (existsSync(imagesDir) && !statSync(imagesDir).isDirectory()) {
    throw new UserError(`${imagesDir}: exists and is not a folder; not replacing it`);
  }
  const before = earlierCount(out);
  const ours = new Set(before >= 0 ? sceneFiles(before) : []);
  const images = existsSync(imagesDir) ? new Set(readdirSync(imagesDir).map((f) => `images/${f}`)) : new Set();
  for (const name of sceneFiles(count)) {
    const there = name.startsWith('images/') ? images.has(name) : existsSync(path.join(out, name));
    if (there && !ours.has(name)) {
      throw new UserError(
        `${path.join(out, name)}: not written by nanovlm data scenes, and a new scene file has its name; ` +
          `move it away or choose another folder`,
      );
    }
  }
}

/**
 * Moves a complete build of `count` scenes from `built` (a temp sibling of `out`) into `out`, replacing only
 * the scenes' own files. The order keeps a crash from leaving a manifest that names the wrong pictures:
 * the old manifest goes first, info.json covers every image name in between, the new manifest comes last.
 */
export function installScenes(built: string, out: string, count: number, overwrite: boolean): void {
  checkOutFolder(out, count, overwrite);
  if (!existsSync(out) || isEmptyFolder(out)) {
    if (existsSync(out)) rmdirSync(out); // empty: rename(2) cannot always replace a folder
    renameSync(built, out);
    return;
  }
  const before = Math.max(0, earlierCount(out));
  if (existsSync(path.join(out, MANIFEST))) unlinkSync(path.join(out, MANIFEST)); // ours: checked above
  writeFileAtomicSync(
    path.join(out, INFO),
    JSON.stringify({ source: SCENES_SOURCE, count: Math.max(before, count), partial: true }) + '\n',
  );
  mkdirSync(path.join(out, 'images'), { recursive: true });
  for (let i = 0; i < count; i++) renameSync(path.join(built, imageName(i)), path.join(out, imageName(i)));
  for (let i = count; i < before; i++) {
    const old = path.join(out, imageName(i));
    if (existsSync(old)) unlinkSync(old);
  }
  renameSync(path.join(built, MANIFEST), path.join(out, MANIFEST));
  renameSync(path.join(built, INFO), path.join(out, INFO));
  rmdirSync(path.join(built, 'images'));
  rmdirSync(built);
}
