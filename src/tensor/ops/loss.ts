import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { copyIds, emptyLike, releaseScratch, scalarLike } from './buffers.ts';
import { expectFloat, shapeStr } from './check.ts';

export interface CrossEntropyOptions {
  /** Targets equal to this contribute nothing (padding, prompt tokens). */
  ignoreIndex?: number;
}

/**
 * Softmax cross-entropy: logits [..., V], int32 targets with one entry per row of logits. Returns the
 * mean over the rows that are not ignored, as a scalar; 0 (with a zero gradient) when every row is ignored.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  expectFloat('crossEntropy', logits);
  if (logits.ndim === 0) throw new Error('crossEntropy: logits need a vocabulary dimension');
  const vocab = logits.shape[logits.ndim - 1]!;
  const rows = logits.size / vocab;
  if (targets.dtype !== 'int32') throw new Error(`crossEntropy: targets must be int32, got ${targets.dtype}`);
  if (targets.size !== rows) {
    throw new Error(
      `crossEntropy: targets ${shapeStr(targets)} should have one entry per row of logits ${shapeStr(logits)}`,
    );
  }
  const ids = copyIds(targets);
  for (let i = 0; i < rows; i++) {
    const t = ids[i]!;
    if (t !== ignoreIndex && (t < 0 || t >= vocab)) {
      throw new Error(
        `crossEntropy: target ${t} at position ${i} is outside [0, ${vocab}) and is not the ignore index ${ignoreIndex}`,
      );
    }
  }
  const be = backend();
  const losses = emptyLike(logits, rows); // every row written (0 for ignored ones)
  const count = be.crossEntropy(logits.f, ids, losses, rows, vocab, ignoreIndex);
  const loss = scalarLike(logits, count > 0 ? be.sum(losses, rows) / count : 0);
  releaseScratch(losses);
  return record(loss, 'crossEntropy', [logits], (out) => {
    if (!logits.requiresGrad || count === 0) return;
    const scale = out.grad![0]! / count;
    backend().crossEntropyBackward(logits.f, ids, gradOf(logits), rows, vocab, ignoreIndex, scale);
  });
}
