/**
 * Where the photographs come from: files of Debian packages, found under `NANOVLM_DEBIAN_ROOT` (default
 * `/`; tests point it at a fake root). A missing package is a clear error saying what to install.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { BACKDROPS, STAMPS, STAMP_PACKAGE, STAMP_ROOT, type Backdrop } from './catalog.ts';

export function debianRoot(): string {
  return process.env.NANOVLM_DEBIAN_ROOT || '/';
}

export function stampPath(file: string): string {
  return path.join(debianRoot(), STAMP_ROOT, file);
}

export function backdropPath(b: Backdrop): string {
  return path.join(debianRoot(), b.file);
}

/** Every file the catalog names, with its package. */
export function catalogFiles(): { package: string; path: string }[] {
  return [
    ...STAMPS.map((s) => ({ package: STAMP_PACKAGE, path: stampPath(s.file) })),
    ...BACKDROPS.map((b) => ({ package: b.package, path: backdropPath(b) })),
  ];
}

/** Throws a UserError naming the packages to install when any catalog file is missing. */
export function checkPhotoPackages(): void {
  const missing = new Map<string, string>();
  for (const f of catalogFiles()) if (!missing.has(f.package) && !existsSync(f.path)) missing.set(f.package, f.path);
  if (missing.size === 0) return;
  const names = [...missing.keys()];
  const first = [...missing.values()][0]!;
  throw new UserError(
    `photo scenes need the Debian package${names.length > 1 ? 's' : ''} ${names.join(', ')} (${first} is missing): ` +
      `apt-get install -y --no-install-recommends ${names.join(' ')}`,
  );
}
