/* Layer normalisation and softmax over the last dimension, threads splitting the rows. */
#include "common.h"
#include "binding.h"

#define ROW_GRAIN_ELEMS 16384L

static long row_grain(long cols) { return NV_MAX(1L, ROW_GRAIN_ELEMS / NV_MAX(cols, 1L)); }

/* ---- layer norm ---- */
typedef struct {
  const float *x, *gamma, *beta, *dy, *mean, *rstd;
  float *y, *mean_out, *rstd_out, *dx, *dgamma, *dbeta;
  float *partial; /* layerNormBackward: per block of rows, dgamma then dbeta partial sums */
  long rows, cols, block;
  float eps;
} ln_ctx;

NV_CLONES static void ln_rows(void *vctx, long r0, long r1) {
  const ln_ctx *c = vctx;
  const long n = c->cols;
  for (long r = r0; r < r1; r++) {
    const float *x = c->x + r * n;
    float *y = c->y + r * n;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < n; j++) s += x[j];
    float mean = s / (float)n;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (long j = 0; j < n; j++) v += (x[j] - mean) * (x[j] - mean);
    float rstd = (float)(1.0 / sqrt((double)(v / (float)n) + (double)c->eps));
    const float *g = c->gamma, *b = c->beta;
    for (long j = 0; j < n; j++) y[j] = (x[j] - mean) * rstd * g[j] + b[j];
    c->mean_out[r] = mean;
    c->rstd_out[r] = rstd;
  }
}

static void nv_layer_norm(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *rstd,
                   long rows, long cols, float eps) {
  ln_ctx c = {.x = x, .gamma = gamma, .beta = beta, .y = y, .mean_out = mean, .rstd_out = rstd,
              .rows = rows, .cols = cols, .eps = eps};
  nv_parallel_for(rows, row_grain(cols), 1, ln_rows, &c);
}

/* dx += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma. dgamma and dbeta: the rows are cut
 * into a fixed number of contiguous chunks (a function of rows and cols only, never of the thread count);
 * each chunk sums its rows into its own cols-sized pair of partials, then the partials are added chunk by
 * chunk in order. So results are identical for any thread count, and the scratch stays small (at most
 * LN_MAX_CHUNKS x 2 x cols floats) even for thousands of wide rows. */
#define LN_MAX_CHUNKS 64L

NV_CLONES static void ln_back_chunks(void *vctx, long k0, long k1) {
  const ln_ctx *c = vctx;
  const long n = c->cols;
  for (long k = k0; k < k1; k++) {
    float *pg = c->partial + k * 2 * n, *pb = pg + n;
    for (long j = 0; j < n; j++) pg[j] = pb[j] = 0.0f;
    const long r1 = NV_MIN(c->rows, (k + 1) * c->block);
    for (long r = k * c->block; r < r1; r++) {
      const float *x = c->x + r * n, *dy = c->dy + r * n, *g = c->gamma;
      float *dx = c->dx + r * n;
      const float mean = c->mean[r], rstd = c->rstd[r];
      float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
      for (long j = 0; j < n; j++) {
        float xhat = (x[j] - mean) * rstd;
        float gj = dy[j] * g[j];
        sg += gj;
        sgx += gj * xhat;
      }
      const float mg = sg / (float)n, mgx = sgx / (float)n;
#pragma omp simd
      for (long j = 0; j < n; j++) {
        float xhat = (x[j] - mean) * rstd;
        dx[j] += rstd * (dy[j] * g[j] - mg - xhat * mgx);
        pg[j] += dy[j] * xhat;
        pb[j] += dy[j];
      }
    }
  }
}

NV_CLONES static void ln_back_reduce(void *vctx, long j0, long j1) {
  const ln_ctx *c = vctx;
  const long n = c->cols, chunks = (c->rows + c->block - 1) / c->block;
  for (long j = j0; j < j1; j++) {
    double sg = 0.0, sb = 0.0;
    for (long k = 0; k < chunks; k++) {
      sg += c->partial[k * 2 * n + j];
      sb += c->partial[k * 2 * n + n + j];
    }
    c->dgamma[j] = (float)((double)c->dgamma[j] + sg);
    c->dbeta[j] = (float)((double)c->dbeta[j] + sb);
  }
}

static void nv_layer_norm_backward(const float *dy, const float *x, const float *gamma, const float *mean,
                            const float *rstd, float *dx, float *dgamma, float *dbeta, long rows, long cols) {
  if (rows <= 0 || cols <= 0) return;
  /* About ROW_GRAIN_ELEMS elements per chunk, at most LN_MAX_CHUNKS chunks. */
  long want = NV_MAX(1L, NV_MIN(LN_MAX_CHUNKS, rows * cols / ROW_GRAIN_ELEMS));
  long block = (rows + want - 1) / want;
  long chunks = (rows + block - 1) / block;
  float *partial = nv_scratch(NV_SCRATCH_REDUCE, (size_t)chunks * 2 * cols * sizeof(float));
  ln_ctx c = {.x = x, .gamma = gamma, .dy = dy, .mean = mean, .rstd = rstd, .dx = dx, .dgamma = dgamma,
              .dbeta = dbeta, .partial = partial, .rows = rows, .cols = cols, .block = block};
  nv_parallel_for(chunks, 1, 1, ln_back_chunks, &c);
  nv_parallel_for(cols, NV_MAX(16L, ROW_GRAIN_ELEMS / chunks), 16, ln_back_reduce, &c);
}

/* ---- softmax ---- */
typedef struct {
  const float *x, *y, *dy;
  float *out;
  long cols;
} sm_ctx;

NV_CLONES static void softmax_rows(void *vctx, long r0, long r1) {
  const sm_ctx *c = vctx;
  const long n = c->cols;
  for (long r = r0; r < r1; r++) {
    const float *x = c->x + r * n;
    float *y = c->out + r * n;
    float inv = 1.0f / nv_exp_shifted(x, y, n);
    for (long j = 0; j < n; j++) y[j] *= inv;
  }
}

static void nv_softmax(const float *x, float *y, long rows, long cols) {
  sm_ctx c = {x, NULL, NULL, y, cols};
  nv_parallel_for(rows, row_grain(cols), 1, softmax_rows, &c);
}

NV_CLONES static void softmax_back_rows(void *vctx, long r0, long r1) {
  const sm_ctx *c = vctx;
  const long n = c->cols;
  for (long r = r0; r < r1; r++) {
    const float *y = c->y + r * n, *dy = c->dy + r * n;
    float *dx = c->out + r * n;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (long j = 0; j < n; j++) dot += dy[j] * y[j];
    for (long j = 0; j < n; j++) dx[j] += y[j] * (dy[j] - dot);
  }
}

static void nv_softmax_backward(const float *y, const float *dy, float *dx, long rows, long cols) {
  sm_ctx c = {NULL, y, dy, dx, cols};
  nv_parallel_for(rows, row_grain(cols), 1, softmax_back_rows, &c);
}

/* ---- JavaScript entry points (native/binding.h) ---- */
NV_KERNEL(layerNorm, 9) {
  int64_t rows = arg_int(C, 6, "rows", 0), cols = arg_int(C, 7, "cols", 0);
  float eps = (float)arg_num(C, 8, "eps");
  float *x = arg_f32(C, 0, "x", rows * cols), *gamma = arg_f32(C, 1, "gamma", cols);
  float *beta = arg_f32(C, 2, "beta", cols), *y = arg_f32(C, 3, "y", rows * cols);
  float *mean = arg_f32(C, 4, "mean", rows), *rstd = arg_f32(C, 5, "rstd", rows);
  ARGS_OK
  if (cols > 0) nv_layer_norm(x, gamma, beta, y, mean, rstd, rows, cols, eps);
  return NULL;
}

NV_KERNEL(layerNormBackward, 10) {
  int64_t rows = arg_int(C, 8, "rows", 0), cols = arg_int(C, 9, "cols", 0);
  float *dy = arg_f32(C, 0, "dy", rows * cols), *x = arg_f32(C, 1, "x", rows * cols);
  float *gamma = arg_f32(C, 2, "gamma", cols), *mean = arg_f32(C, 3, "mean", rows);
  float *rstd = arg_f32(C, 4, "rstd", rows), *dx = arg_f32(C, 5, "dx", rows * cols);
  float *dgamma = arg_f32(C, 6, "dgamma", cols), *dbeta = arg_f32(C, 7, "dbeta", cols);
  ARGS_OK
  nv_layer_norm_backward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
  return NULL;
}

NV_KERNEL(softmax, 4) {
  int64_t rows = arg_int(C, 2, "rows", 0), cols = arg_int(C, 3, "cols", 0);
  float *x = arg_f32(C, 0, "x", rows * cols), *y = arg_f32(C, 1, "y", rows * cols);
  ARGS_OK
  nv_softmax(x, y, rows, cols);
  return NULL;
}

NV_KERNEL(softmaxBackward, 5) {
  int64_t rows = arg_int(C, 3, "rows", 0), cols = arg_int(C, 4, "cols", 0);
  float *y = arg_f32(C, 0, "y", rows * cols), *dy = arg_f32(C, 1, "dy", rows * cols);
  float *dx = arg_f32(C, 2, "dx", rows * cols);
  ARGS_OK
  nv_softmax_backward(y, dy, dx, rows, cols);
  return NULL;
}
