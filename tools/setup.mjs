// The one setup step before `npm test`, `npm run test:reference`, `npm run main` and .ci/run: makes sure
// the Debian packages of tools/debian-packages.txt are installed. As root it installs the missing ones
// (apt-get update once, then install, noninteractive); otherwise it prints the exact command and fails.
// When everything is present it only reads two files (a few ms).
//   node tools/setup.mjs            every package (tests, CI)
//   node tools/setup.mjs --for main only those marked `main`
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PACKAGE_LIST = path.join(root, 'tools', 'debian-packages.txt');
export const DPKG_STATUS = '/var/lib/dpkg/status';

/** The list file's packages: `{ name, main }` per line; `#` starts a comment. */
export function readPackageList(file = PACKAGE_LIST) {
  const packages = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const words = line.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
      if (!words.length) return;
      const [name, ...marks] = words;
      const bad = marks.find((m) => m !== 'main');
      if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name) || bad !== undefined || marks.length > 1) {
        throw new Error(`${file}:${i + 1}: expected "NAME [main]  # why", got ${JSON.stringify(line)}`);
      }
      packages.push({ name, main: marks.length === 1 });
    });
  return packages;
}

/** Names of `wanted` that dpkg's status database does not hold as installed. */
export function missingPackages(wanted, statusText) {
  return wanted.filter((name) => {
    // A package can have one stanza per architecture; any installed one will do.
    for (let at = statusText.indexOf(`Package: ${name}\n`); at >= 0;) {
      if (at === 0 || statusText[at - 1] === '\n') {
        const end = statusText.indexOf('\n\n', at);
        const stanza = statusText.slice(at, end < 0 ? undefined : end);
        if (/^Status: install ok installed$/m.test(stanza)) return false;
      }
      at = statusText.indexOf(`Package: ${name}\n`, at + 1);
    }
    return true;
  });
}

/** The commands that install `missing`, as a person would type them. */
export function installCommand(missing, { sudo = false } = {}) {
  const s = sudo ? 'sudo ' : '';
  return `${s}apt-get update && ${s}apt-get install -y --no-install-recommends ${missing.join(' ')}`;
}

/**
 * Checks and, as root, installs. Returns the exit code; says what it does on `log` (stderr).
 * Every input has a default from the real machine; tests pass their own.
 */
export function setup({
  forMain = false,
  listFile = PACKAGE_LIST,
  statusFile = DPKG_STATUS,
  uid = process.getuid?.() ?? -1,
  env = process.env,
  log = (msg) => console.error(msg),
} = {}) {
  let wanted;
  try {
    wanted = readPackageList(listFile)
      .filter((p) => p.main || !forMain)
      .map((p) => p.name);
  } catch (e) {
    log(`setup: ${e.message}`);
    return 1;
  }
  if (!wanted.length) return 0;
  if (!existsSync(statusFile)) {
    log(
      `setup: ${statusFile} not found (not a Debian system?): install these yourself, or what your system ` +
        `calls them: ${wanted.join(' ')} (listed in ${path.relative(process.cwd(), listFile)})`,
    );
    return 0;
  }
  const missing = missingPackages(wanted, readFileSync(statusFile, 'utf8'));
  if (!missing.length) return 0;
  if (uid !== 0) {
    log(
      `setup: missing Debian packages: ${missing.join(' ')}. Install them as root, then run this again:\n` +
        `  ${installCommand(missing, { sudo: true })}`,
    );
    return 1;
  }
  log(`setup: installing Debian packages: ${missing.join(' ')}`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', '--no-install-recommends', ...missing],
  ]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: aptEnv });
    if (r.status !== 0) {
      const why = r.error ? r.error.message : `exit code ${r.status ?? r.signal}`;
      log(`setup: apt-get ${args[0]} failed (${why}); the command was:\n  ${installCommand(missing)}`);
      return 1;
    }
  }
  const still = missingPackages(missing, readFileSync(statusFile, 'utf8'));
  if (still.length) {
    log(`setup: apt-get finished but these are still not installed: ${still.join(' ')}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a, i) => !(a === '--for' || (args[i - 1] === '--for' && a === 'main')));
  if (unknown.length || (args.includes('--for') && !args.includes('main'))) {
    console.error(`setup: usage: node tools/setup.mjs [--for main]`);
    process.exit(2);
  }
  process.exit(setup({ forMain: args.includes('main') }));
}
