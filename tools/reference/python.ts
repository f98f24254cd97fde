// The Python that can import torch (the torch engine's finder) and the benchmark peer's environment.
export { pythonWithTorch } from '../../src/train/torch-engine.ts';

/** The environment for the PyTorch peer in benchmarks: OpenBLAS left to detect the CPU (never in tests/CI). */
export function peerEnv(threads?: number): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (threads) env.OMP_NUM_THREADS = String(threads);
  return env;
}

export const INSTALL_TORCH_HINT = 'install PyTorch with: apt-get install -y python3-torch (Debian)';
