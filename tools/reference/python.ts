// Finds a Python interpreter that can import torch. Debian's python3-torch installs into /usr/bin/python3,
// which a pyenv `python3` on PATH hides, so that one is tried first.
import { spawnSync } from 'node:child_process';

let cached: string | null | undefined;

export function pythonWithTorch(): string | null {
  if (cached !== undefined) return cached;
  for (const exe of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(exe, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return (cached = exe);
  }
  return (cached = null);
}

/** The environment for the PyTorch peer in benchmarks: OpenBLAS left to detect the CPU (never in tests/CI). */
export function peerEnv(threads?: number): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (threads) env.OMP_NUM_THREADS = String(threads);
  return env;
}

export const INSTALL_TORCH_HINT = 'install PyTorch with: apt-get install -y python3-torch (Debian)';
