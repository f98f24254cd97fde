/* GELU (tanh form) and ReLU with their backward passes; elementwise, threads split the range. */
#include "common.h"
#include "binding.h"

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
    /* 0.5 v (1 + tanh(u)) = v sigmoid(2u): one exp and one division */
    y[i] = v / (1.0f + nv_expf(-2.0f * GELU_S * (v + GELU_C * v * v * v)));
  }
}

NV_CLONES static void gelu_back_range(void *vctx, long i0, long i1) {
  const act_ctx *c = vctx;
  const float *x = c->x, *dy = c->dy;
  float *dx = c->out;
  for (long i = i0; i < i1; i++) {
    float v = x[i];
    /* with s = sigmoid(2u) = (1 + tanh u) / 2: d/dv = s + 2 v s (1 - s) u' */
    float s = 1.0f / (1.0f + nv_expf(-2.0f * GELU_S * (v + GELU_C * v * v * v)));
    float d = s + 2.0f * v * s * (1.0f - s) * GELU_S * (1.0f + 3.0f * GELU_C * v * v);
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

static void nv_gelu(const float *x, float *y, long n) {
  act_ctx c = {x, NULL, y};
  nv_parallel_for(n, ACT_GRAIN, 16, gelu_range, &c);
}
static void nv_gelu_backward(const float *x, const float *dy, float *dx, long n) {
  act_ctx c = {x, dy, dx};
  nv_parallel_for(n, ACT_GRAIN, 16, gelu_back_range, &c);
}
static void nv_relu(const float *x, float *y, long n) {
  act_ctx c = {x, NULL, y};
  nv_parallel_for(n, 4 * ACT_GRAIN, 16, relu_range, &c);
}
static void nv_relu_backward(const float *x, const float *dy, float *dx, long n) {
  act_ctx c = {x, dy, dx};
  nv_parallel_for(n, 4 * ACT_GRAIN, 16, relu_back_range, &c);
}

/* ---- JavaScript entry points (native/binding.h) ---- */
static napi_value unary(nv_call *C, void (*fn)(const float *, float *, long)) {
  int64_t n = arg_int(C, 2, "n", 0);
  float *x = arg_f32(C, 0, "x", n), *y = arg_f32(C, 1, "y", n);
  ARGS_OK
  fn(x, y, n);
  return NULL;
}

static napi_value unary_backward(nv_call *C, void (*fn)(const float *, const float *, float *, long)) {
  int64_t n = arg_int(C, 3, "n", 0);
  float *x = arg_f32(C, 0, "x", n), *dy = arg_f32(C, 1, "dy", n), *dx = arg_f32(C, 2, "dx", n);
  ARGS_OK
  fn(x, dy, dx, n);
  return NULL;
}

NV_KERNEL(gelu, 3) { return unary(C, nv_gelu); }
NV_KERNEL(geluBackward, 4) { return unary_backward(C, nv_gelu_backward); }
NV_KERNEL(relu, 3) { return unary(C, nv_relu); }
NV_KERNEL(reluBackward, 4) { return unary_backward(C, nv_relu_backward); }
