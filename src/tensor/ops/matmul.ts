import { backend } from '../backends/index.ts';
import { productsInBf16 } from '../precision.ts';
import type { F } from '../backend.ts';
import { Tensor, gradOverwritable, record, sizeOf } from '../tensor.ts';
import { expectFloat, sameShape, shapeStr } from './check.ts';

export interface MatmulOptions {
  /** a is stored [..., k, m] and used transposed. */
  transA?: boolean;
  /** b is stored [..., n, k] and used transposed. */
  transB?: boolean;
}

/**
 * op(a) · op(b) over the last two dimensions: a [..., m, k], b [..., k, n] or a plain [k, n] shared by
 * every batch item -> [..., m, n].
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  expectFloat('matmul', a, b);
  if (a.ndim < 2 || b.ndim < 2)
    throw new Error(`matmul: needs at least 2-D tensors, got ${shapeStr(a)} and ${shapeStr(b)}`);
  const lead = a.shape.slice(0, -2);
  const shared = b.ndim === 2;
  if (!shared && !sameShape(lead, b.shape.slice(0, -2))) {
    throw new Error(`matmul: batch dimensions differ: ${shapeStr(a)} and ${shapeStr(b)}`);
  }
  const [a0, a1] = a.shape.slice(-2) as [number, number];
  const [b0, b1] = b.shape.slice(-2) as [number, number];
  const [m, k] = transA ? [a1, a0] : [a0, a1];
  const [kb, n] = transB ? [b1, b0] : [b0, b1];
  if (k !== kb) {
    throw new Error(
      `matmul: inner dimensions differ: ${shapeStr(a)}${transA ? 'ᵀ' : ''} · ${shapeStr(b)}${transB ? 'ᵀ' : ''} (${k} vs ${kb})`,
    );
  }
  const batch = sizeOf(lead);
  const sA = m * k;
  const sB = shared ? 0 : k * n;
  const sC = m * n;
  const y = Tensor.empty([...lead, m, n], a.dtype); // beta 0 writes every element
  const be = backend();
  const bf16 = productsInBf16(); // read once: the backward uses the forward's precision
  // A shared b with untransposed a is one big product: the batch folds into the rows.
  if (shared && !transA) be.gemm({ bf16, m: batch * m, n, k, transB }, a.f, b.f, y.f);
  else
    be.gemm({ bf16, m, n, k, transA, transB, batch, strideA: sA, strideB: sB, strideC: sC }, a.f, b.f, y.f);

  return record(y, 'matmul', [a, b], (out) => {
    const dC = out.grad!;
    const be = backend();
    if (a.requiresGrad) {
      const [dA, beta] = gradOverwritable(a);
      // d op(A) = dC · op(B)ᵀ; when A is stored transposed, dA = op(B) · dCᵀ.
      if (!transA)
        be.gemm(
          { bf16, m, n: k, k: n, transB: !transB, beta, batch, strideA: sC, strideB: sB, strideC: sA },
          dC,
          b.f,
          dA,
        );
      else
        be.gemm(
          {
            bf16,
            m: k,
            n: m,
            k: n,
            transA: transB,
            transB: true,
            beta,
            batch,
            strideA: sB,
            strideB: sC,
            strideC: sA,
          },
          b.f,
          dC,
          dA,
        );
    }
    if (b.requiresGrad) {
      const [dB, firstBeta] = gradOverwritable(b);
      let beta = firstBeta; // 1 after the first product: later ones add to it
      // d op(B) = op(A)ᵀ · dC; when B is stored transposed, dB = dCᵀ · op(A).
      const addToDB = (
        av: F,
        cv: F,
        rows: number,
        items: number,
        sa: number,
        sc: number,
        sb: number,
      ): void => {
        if (!transB)
          be.gemm(
            {
              bf16,
              m: k,
              n,
              k: rows,
              transA: !transA,
              beta,
              batch: items,
              strideA: sa,
              strideB: sc,
              strideC: sb,
            },
            av,
            cv,
            dB,
          );
        else
          be.gemm(
            {
              bf16,
              m: n,
              n: k,
              k: rows,
              transA: true,
              transB: transA,
              beta,
              batch: items,
              strideA: sc,
              strideB: sa,
              strideC: sb,
            },
            cv,
            av,
            dB,
          );
        beta = 1;
      };
      if (!shared) addToDB(a.f, dC, m, batch, sA, sC, sB);
      // A shared b gets the sum over batch items: fold them into the rows, or add one item at a time.
      else if (!transA) addToDB(a.f, dC, batch * m, 1, 0, 0, 0);
      else for (let i = 0; i < batch; i++) addToDB(a.f.subarray(i * sA), dC.subarray(i * sC), m, 1, 0, 0, 0);
    }
  });
}
