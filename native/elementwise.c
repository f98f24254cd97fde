/* Elementwise kernels, broadcasting adds, reductions, embedding lookup and dropout. Memory-bound: they
 * are split across threads only when there is enough data to pay for waking them. Reductions use a
 * fixed chunking, so their results do not depend on the thread count. */
#include <stdio.h>

#include "common.h"
#include "binding.h"

#define ELEM_GRAIN 32768L

/* ---- y[r, c] += bias[c] ---- */
typedef struct {
  float *y;
  const float *bias;
  long cols;
} bias_ctx;

NV_CLONES static void add_bias_rows(void *vctx, long r0, long r1) {
  const bias_ctx *c = vctx;
  for (long r = r0; r < r1; r++) {
    float *y = c->y + r * c->cols;
    const float *b = c->bias;
    for (long j = 0; j < c->cols; j++) y[j] += b[j];
  }
}

static void nv_add_bias(float *y, const float *bias, long rows, long cols) {
  bias_ctx c = {y, bias, cols};
  nv_parallel_for(rows, NV_MAX(1L, ELEM_GRAIN / NV_MAX(cols, 1L)), 1, add_bias_rows, &c);
}

/* ---- out[c] (+)= sum_r x[r, c], in double, split over columns ---- */
typedef struct {
  const float *x;
  float *out;
  long rows, cols;
  int accumulate;
} sum_rows_ctx;

NV_CLONES static void sum_rows_cols(void *vctx, long c0, long c1) {
  const sum_rows_ctx *c = vctx;
  long w = c1 - c0;
  double *acc = nv_scratch(NV_SCRATCH_WORK, (size_t)w * sizeof(double));
  for (long j = 0; j < w; j++) acc[j] = 0.0;
  for (long r = 0; r < c->rows; r++) {
    const float *x = c->x + r * c->cols + c0;
    for (long j = 0; j < w; j++) acc[j] += (double)x[j];
  }
  float *out = c->out + c0;
  if (c->accumulate)
    for (long j = 0; j < w; j++) out[j] = (float)((double)out[j] + acc[j]);
  else
    for (long j = 0; j < w; j++) out[j] = (float)acc[j];
}

static void nv_sum_rows(const float *x, float *out, long rows, long cols, int accumulate) {
  sum_rows_ctx c = {x, out, rows, cols, accumulate};
  long grain = NV_MAX(16L, ELEM_GRAIN / NV_MAX(rows, 1L));
  nv_parallel_for(cols, grain, 16, sum_rows_cols, &c);
}

/* ---- out[i] = a[i] (+|*) b[i % bn] ---- */
typedef struct {
  const float *a, *b;
  float *out;
  long bn;
  float s;
} binary_ctx;

/* out[i] = a[i] OP b[i % bn] over [i0, i1), one contiguous run of b at a time. */
#define BINARY_RANGE(name, OP)                                                                                 \
  NV_CLONES static void name(void *vctx, long i0, long i1) {                                                   \
    const binary_ctx *c = vctx;                                                                                \
    long bn = c->bn;                                                                                           \
    long i = i0;                                                                                               \
    while (i < i1) {                                                                                           \
      long off = i % bn, len = NV_MIN(bn - off, i1 - i);                                                       \
      const float *a = c->a + i, *b = c->b + off;                                                              \
      float *o = c->out + i;                                                                                   \
      for (long j = 0; j < len; j++) o[j] = a[j] OP b[j];                                                      \
      i += len;                                                                                                \
    }                                                                                                          \
  }
BINARY_RANGE(add_range, +)
BINARY_RANGE(mul_range, *)

static void binary_op(nv_range_fn range, const float *a, const float *b, float *out, long n, long bn) {
  binary_ctx c = {a, b, out, bn, 0};
  nv_parallel_for(n, ELEM_GRAIN, 16, range, &c);
}
static void nv_add(const float *a, const float *b, float *out, long n, long bn) { binary_op(add_range, a, b, out, n, bn); }
static void nv_mul(const float *a, const float *b, float *out, long n, long bn) { binary_op(mul_range, a, b, out, n, bn); }

NV_CLONES static void scale_range(void *vctx, long i0, long i1) {
  const binary_ctx *c = vctx;
  const float *a = c->a;
  float *o = c->out;
  float s = c->s;
  for (long i = i0; i < i1; i++) o[i] = a[i] * s;
}

static void nv_scale(const float *a, float s, float *out, long n) {
  binary_ctx c = {a, NULL, out, 1, s};
  nv_parallel_for(n, ELEM_GRAIN, 16, scale_range, &c);
}

NV_CLONES static void axpy_range(void *vctx, long i0, long i1) {
  const binary_ctx *c = vctx;
  const float *x = c->a;
  float *y = c->out;
  float s = c->s;
  for (long i = i0; i < i1; i++) y[i] += s * x[i];
}

static void nv_axpy(float alpha, const float *x, float *y, long n) {
  binary_ctx c = {x, NULL, y, 1, alpha};
  nv_parallel_for(n, ELEM_GRAIN, 16, axpy_range, &c);
}

/* ---- embedding ---- */
typedef struct {
  const float *src;
  const int32_t *ids;
  float *dst;
  long n, dim;
} embed_ctx;

static void embed_rows(void *vctx, long i0, long i1) {
  const embed_ctx *c = vctx;
  for (long i = i0; i < i1; i++)
    memcpy(c->dst + i * c->dim, c->src + (long)c->ids[i] * c->dim, (size_t)c->dim * sizeof(float));
}

static void nv_embedding(const float *weight, const int32_t *ids, float *out, long n, long dim) {
  embed_ctx c = {weight, ids, out, n, dim};
  nv_parallel_for(n, NV_MAX(1L, ELEM_GRAIN / NV_MAX(dim, 1L)), 1, embed_rows, &c);
}

/* Repeated ids add up; threads split the columns so no two write the same element. */
NV_CLONES static void embed_back_cols(void *vctx, long d0, long d1) {
  const embed_ctx *c = vctx;
  for (long i = 0; i < c->n; i++) {
    const float *g = c->src + i * c->dim;
    float *w = c->dst + (long)c->ids[i] * c->dim;
    for (long d = d0; d < d1; d++) w[d] += g[d];
  }
}

static void nv_embedding_backward(const float *dout, const int32_t *ids, float *dweight, long n, long dim) {
  embed_ctx c = {dout, ids, dweight, n, dim};
  nv_parallel_for(dim, NV_MAX(32L, ELEM_GRAIN / NV_MAX(n, 1L)), 16, embed_back_cols, &c);
}

/* ---- dropout: keep element i when hash32(seed, offset + i) / 2^32 >= p ---- */
typedef struct {
  const float *x;
  float *y, *mask;
  uint32_t threshold; /* keep when the hash >= ceil(p * 2^32), compared as integers (vectorises) */
  float keep_scale;
  uint32_t seed, offset;
} dropout_ctx;

NV_CLONES static void dropout_range(void *vctx, long i0, long i1) {
  const dropout_ctx *c = vctx;
  const uint32_t t = c->threshold, seed = c->seed, offset = c->offset;
  const float keep = c->keep_scale;
  const float *x = c->x;
  float *y = c->y, *mask = c->mask;
  for (long i = i0; i < i1; i++) {
    uint32_t h = nv_hash32(seed, offset + (uint32_t)i);
    float m = h >= t ? keep : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

static void nv_dropout(const float *x, float *y, float *mask, long n, double p, uint32_t seed, uint32_t offset) {
  double t = NV_MAX(0.0, ceil(p * 4294967296.0));
  if (t > 4294967295.0) { /* p = 1: the hash never reaches 2^32, every element is dropped */
    for (long i = 0; i < n; i++) {
      mask[i] = 0.0f;
      y[i] = x[i] * 0.0f;
    }
    return;
  }
  dropout_ctx c = {x, y, mask, (uint32_t)t, (float)(1.0 / (1.0 - p)), seed, offset};
  nv_parallel_for(n, ELEM_GRAIN, 16, dropout_range, &c);
}

/* ---- sums in double over fixed 16K chunks ---- */
#define SUM_CHUNK 16384L
typedef struct {
  const float *x;
  long n;
  double *partial;
  int squares;
} sum_ctx;

NV_CLONES static void sum_chunks(void *vctx, long k0, long k1) {
  const sum_ctx *c = vctx;
  for (long k = k0; k < k1; k++) {
    long i0 = k * SUM_CHUNK, i1 = NV_MIN(c->n, i0 + SUM_CHUNK);
    const float *x = c->x;
    double s = 0.0;
    if (c->squares) {
#pragma omp simd reduction(+ : s)
      for (long i = i0; i < i1; i++) s += (double)x[i] * (double)x[i];
    } else {
#pragma omp simd reduction(+ : s)
      for (long i = i0; i < i1; i++) s += (double)x[i];
    }
    c->partial[k] = s;
  }
}

static double sum_impl(const float *x, long n, int squares) {
  if (n <= 0) return 0.0;
  long chunks = (n + SUM_CHUNK - 1) / SUM_CHUNK;
  double *partial = nv_scratch(NV_SCRATCH_REDUCE, (size_t)chunks * sizeof(double));
  sum_ctx c = {x, n, partial, squares};
  nv_parallel_for(chunks, 2, 1, sum_chunks, &c);
  double s = 0.0;
  for (long k = 0; k < chunks; k++) s += partial[k];
  return s;
}

static double nv_sum(const float *x, long n) { return sum_impl(x, n, 0); }
static double nv_sum_squares(const float *x, long n) { return sum_impl(x, n, 1); }

/* ---- JavaScript entry points (native/binding.h) ---- */
NV_KERNEL(addBias, 4) {
  int64_t rows = arg_int(C, 2, "rows", 0), cols = arg_int(C, 3, "cols", 0);
  float *y = arg_f32(C, 0, "y", rows * cols), *bias = arg_f32(C, 1, "bias", cols);
  ARGS_OK
  nv_add_bias(y, bias, rows, cols);
  return NULL;
}

NV_KERNEL(sumRows, 5) {
  int64_t rows = arg_int(C, 2, "rows", 0), cols = arg_int(C, 3, "cols", 0);
  int acc = arg_bool(C, 4, "accumulate");
  float *x = arg_f32(C, 0, "x", rows * cols), *out = arg_f32(C, 1, "out", cols);
  ARGS_OK
  nv_sum_rows(x, out, rows, cols, acc);
  return NULL;
}

static napi_value binary(nv_call *C, void (*fn)(const float *, const float *, float *, long, long)) {
  int64_t n = arg_int(C, 3, "n", 0), bn = arg_int(C, 4, "bn", 1);
  if (!C->failed && n % bn != 0) arg_fail(C, "R", "bn must divide n%s%s", "", "");
  float *a = arg_f32(C, 0, "a", n), *b = arg_f32(C, 1, "b", bn), *out = arg_f32(C, 2, "out", n);
  ARGS_OK
  fn(a, b, out, n, bn);
  return NULL;
}
NV_KERNEL(add, 5) { return binary(C, nv_add); }
NV_KERNEL(mul, 5) { return binary(C, nv_mul); }

NV_KERNEL(scale, 4) {
  float s = (float)arg_num(C, 1, "s");
  int64_t n = arg_int(C, 3, "n", 0);
  float *a = arg_f32(C, 0, "a", n), *out = arg_f32(C, 2, "out", n);
  ARGS_OK
  nv_scale(a, s, out, n);
  return NULL;
}

NV_KERNEL(axpy, 4) {
  float alpha = (float)arg_num(C, 0, "alpha");
  int64_t n = arg_int(C, 3, "n", 0);
  float *x = arg_f32(C, 1, "x", n), *y = arg_f32(C, 2, "y", n);
  ARGS_OK
  nv_axpy(alpha, x, y, n);
  return NULL;
}

static int check_ids(nv_call *c, const int32_t *ids, int64_t n, int64_t rows) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= rows) {
      char detail[96];
      snprintf(detail, sizeof detail, "ids[%lld] = %d is outside [0, %lld)", (long long)i, ids[i], (long long)rows);
      arg_fail(c, "R", "%s%s", "", detail);
      return 0;
    }
  return 1;
}

NV_KERNEL(embedding, 5) {
  int64_t n = arg_int(C, 3, "n", 0), dim = arg_int(C, 4, "dim", 1);
  float *weight = arg_f32(C, 0, "weight", 0);
  int32_t *ids = arg_i32(C, 1, "ids", n);
  float *out = arg_f32(C, 2, "out", n * dim);
  ARGS_OK
  if (!check_ids(C, ids, n, arg_length(C, 0) / dim)) return NULL;
  nv_embedding(weight, ids, out, n, dim);
  return NULL;
}

NV_KERNEL(embeddingBackward, 5) {
  int64_t n = arg_int(C, 3, "n", 0), dim = arg_int(C, 4, "dim", 1);
  float *dout = arg_f32(C, 0, "dout", n * dim);
  int32_t *ids = arg_i32(C, 1, "ids", n);
  float *dweight = arg_f32(C, 2, "dweight", 0);
  ARGS_OK
  if (!check_ids(C, ids, n, arg_length(C, 2) / dim)) return NULL;
  nv_embedding_backward(dout, ids, dweight, n, dim);
  return NULL;
}

NV_KERNEL(dropout, 7) {
  int64_t n = arg_int(C, 3, "n", 0);
  double p = arg_num(C, 4, "p");
  int64_t seed = arg_int(C, 5, "seed", INT64_MIN / 2), offset = arg_int(C, 6, "offset", 0);
  if (!C->failed && !(p >= 0.0 && p <= 1.0)) arg_fail(C, "R", "p must be in [0, 1]%s%s", "", "");
  float *x = arg_f32(C, 0, "x", n), *y = arg_f32(C, 1, "y", n), *mask = arg_f32(C, 2, "mask", n);
  ARGS_OK
  nv_dropout(x, y, mask, n, p, (uint32_t)seed, (uint32_t)offset);
  return NULL;
}

static napi_value reduction(nv_call *C, double (*fn)(const float *, long)) {
  int64_t n = arg_int(C, 1, "n", 0);
  float *x = arg_f32(C, 0, "x", n);
  ARGS_OK
  return nv_number(C->env, fn(x, n));
}
NV_KERNEL(sum, 2) { return reduction(C, nv_sum); }
NV_KERNEL(sumSquares, 2) { return reduction(C, nv_sum_squares); }
