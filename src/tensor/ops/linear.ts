import { backend } from '../backends/index.ts';
import { productsInBf16 } from '../precision.ts';
import { Tensor, gradOf, gradOverwritable, record } from '../tensor.ts';
import { expectFloat, shapeStr } from './check.ts';

/**
 * y = x · wᵀ + b over the last dimension: x [..., in], w [out, in], b [out] -> y [..., out].
 * The standard layer of every model here, so it is one fused op (one GEMM plus a bias pass).
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  expectFloat('linear', x, w, b);
  const inF = x.shape[x.ndim - 1]!;
  if (w.ndim !== 2 || w.shape[1] !== inF) {
    throw new Error(
      `linear: weight ${shapeStr(w)} does not match input ${shapeStr(x)} (expected [out, ${inF}])`,
    );
  }
  const outF = w.shape[0]!;
  if (b && (b.ndim !== 1 || b.shape[0] !== outF))
    throw new Error(`linear: bias ${shapeStr(b)} should be [${outF}]`);
  const rows = x.size / inF;
  const y = Tensor.empty([...x.shape.slice(0, -1), outF], x.dtype); // beta 0 writes every element
  const be = backend();
  const bf16 = productsInBf16(); // read once: the backward uses the forward's precision
  be.gemm({ bf16, m: rows, n: outF, k: inF, transB: true }, x.f, w.f, y.f);
  if (b) be.addBias(y.f, b.f, rows, outF);
  return record(y, 'linear', b ? [x, w, b] : [x, w], (out) => {
    const dy = out.grad!;
    const be = backend();
    if (x.requiresGrad) {
      const [dx, beta] = gradOverwritable(x);
      be.gemm({ bf16, m: rows, n: inF, k: outF, beta }, dy, w.f, dx);
    }
    if (w.requiresGrad) {
      const [dw, beta] = gradOverwritable(w);
      be.gemm({ bf16, m: outF, n: inF, k: rows, transA: true, beta }, dy, x.f, dw);
    }
    if (b?.requiresGrad) be.sumRows(dy, gradOf(b), rows, outF, true);
  });
}
