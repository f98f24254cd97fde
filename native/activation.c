/* GELU (tanh form) and ReLU with their backward passes; elementwise, threads split the range. */
#include "common.h"

#define ACT_GRAIN 16384L
#define GELU_S 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_C 0.044715f

typedef struct {
  const float *x, *dy;
  float *out;
} act_ctx;

NV_CLONES static void gelu_range(void *vctx, long i0, long i1) {
  const act_ctx *c = vctx;
  const float *x = c->x;
  float *y = c->out;
  for (long i = i0; i < i1; i++) {
    float v = x[i];
    float t = nv_tanhf(GELU_S * (v + GELU_C * v * v * v));
    y[i] = 0.5f * v * (1.0f + t);
  }
}

NV_CLONES static void gelu_back_range(void *vctx, long i0, long i1) {
  const act_ctx *c = vctx;
  const float *x = c->x, *dy = c->dy;
  float *dx = c->out;
  for (long i = i0; i < i1; i++) {
    float v = x[i];
    float t = nv_tanhf(GELU_S * (v + GELU_C * v * v * v));
    float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_S * (1.0f + 3.0f * GELU_C * v * v);
    dx[i] += dy[i] * d;
  }
}

NV_CLONES static void relu_range(void *vctx, long i0, long i1) {
  const act_ctx *c = vctx;
  const float *x = c->x;
  float *y = c->out;
  for (long i = i0; i < i1; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

NV_CLONES static void relu_back_range(void *vctx, long i0, long i1) {
  const act_ctx *c = vctx;
  const float *x = c->x, *dy = c->dy;
  float *dx = c->out;
  for (long i = i0; i < i1; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

void nv_gelu(const float *x, float *y, long n) {
  act_ctx c = {x, NULL, y};
  nv_parallel_for(n, ACT_GRAIN, 16, gelu_range, &c);
}
void nv_gelu_backward(const float *x, const float *dy, float *dx, long n) {
  act_ctx c = {x, dy, dx};
  nv_parallel_for(n, ACT_GRAIN, 16, gelu_back_range, &c);
}
void nv_relu(const float *x, float *y, long n) {
  act_ctx c = {x, NULL, y};
  nv_parallel_for(n, 4 * ACT_GRAIN, 16, relu_range, &c);
}
void nv_relu_backward(const float *x, const float *dy, float *dx, long n) {
  act_ctx c = {x, dy, dx};
  nv_parallel_for(n, 4 * ACT_GRAIN, 16, relu_back_range, &c);
}
