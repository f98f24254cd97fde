/* Fused AdamW step (decoupled weight decay, bias correction), threads split the parameter range. */
#include "common.h"

typedef struct {
  float *p, *m, *v;
  const float *g;
  float lr, b1, b2, eps, wd, inv_bc1, inv_bc2;
} adamw_ctx;

NV_CLONES static void adamw_range(void *vctx, long i0, long i1) {
  const adamw_ctx *c = vctx;
  float *p = c->p, *m = c->m, *v = c->v;
  const float *g = c->g;
  const float b1 = c->b1, b2 = c->b2, a1 = 1.0f - c->b1, a2 = 1.0f - c->b2;
  for (long i = i0; i < i1; i++) {
    float gi = g[i];
    float mi = b1 * m[i] + a1 * gi;
    float vi = b2 * v[i] + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float update = (mi * c->inv_bc1) / (sqrtf(vi * c->inv_bc2) + c->eps) + c->wd * p[i];
    p[i] -= c->lr * update;
  }
}

void nv_adamw(float *param, const float *grad, float *m, float *v, long n, float lr, float beta1, float beta2,
              float eps, float weight_decay, long step) {
  double bc1 = 1.0 - pow((double)beta1, (double)step), bc2 = 1.0 - pow((double)beta2, (double)step);
  adamw_ctx c = {param, m, v, grad, lr, beta1, beta2, eps, weight_decay, (float)(1.0 / bc1), (float)(1.0 / bc2)};
  nv_parallel_for(n, 32768, 16, adamw_range, &c);
}
