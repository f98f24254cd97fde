/* Fused AdamW step (decoupled weight decay, bias correction), threads split the parameter range. */
#include "common.h"
#include "binding.h"

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

static void nv_adamw(float *param, const float *grad, float *m, float *v, long n, float lr, float beta1, float beta2,
              float eps, float weight_decay, long step) {
  double bc1 = 1.0 - pow((double)beta1, (double)step), bc2 = 1.0 - pow((double)beta2, (double)step);
  adamw_ctx c = {param, m, v, grad, lr, beta1, beta2, eps, weight_decay, (float)(1.0 / bc1), (float)(1.0 / bc2)};
  nv_parallel_for(n, 32768, 16, adamw_range, &c);
}

/* ---- JavaScript entry points (native/binding.h) ---- */
NV_KERNEL(adamw, 11) {
  int64_t n = arg_int(C, 4, "n", 0);
  double lr = arg_num(C, 5, "lr"), b1 = arg_num(C, 6, "beta1"), b2 = arg_num(C, 7, "beta2");
  double eps = arg_num(C, 8, "eps"), wd = arg_num(C, 9, "weightDecay");
  int64_t step = arg_int(C, 10, "step", 1);
  float *p = arg_f32(C, 0, "param", n), *g = arg_f32(C, 1, "grad", n);
  float *m = arg_f32(C, 2, "m", n), *v = arg_f32(C, 3, "v", n);
  ARGS_OK
  nv_adamw(p, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, step);
  return NULL;
}
