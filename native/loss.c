/* Softmax cross-entropy per row, with an ignore index; the backward recomputes the softmax instead of
 * keeping a rows×vocab probability buffer. Threads split the rows. */
#include <stdio.h>

#include "common.h"
#include "binding.h"

typedef struct {
  const float *logits;
  const int32_t *targets;
  float *out;
  long vocab;
  int32_t ignore;
  float scale;
} ce_ctx;

/* Returns logsumexp(x[0..n)) in double; *mx_out gets the row maximum. */
NV_CLONES static double log_sum_exp(const float *x, long n, float *mx_out) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (long j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (long j = 0; j < n; j++) s += nv_expf(x[j] - mx);
  *mx_out = mx;
  return (double)mx + log((double)s);
}

static void ce_rows(void *vctx, long r0, long r1) {
  const ce_ctx *c = vctx;
  for (long r = r0; r < r1; r++) {
    int32_t t = c->targets[r];
    if (t == c->ignore) {
      c->out[r] = 0.0f;
      continue;
    }
    const float *x = c->logits + r * c->vocab;
    float mx;
    double lse = log_sum_exp(x, c->vocab, &mx);
    c->out[r] = (float)(lse - (double)x[t]);
  }
}

static long nv_cross_entropy(const float *logits, const int32_t *targets, float *losses, long rows, long vocab,
                      int32_t ignore) {
  ce_ctx c = {logits, targets, losses, vocab, ignore, 0};
  nv_parallel_for(rows, NV_MAX(1L, 16384L / NV_MAX(vocab, 1L)), 1, ce_rows, &c);
  long count = 0;
  for (long r = 0; r < rows; r++) count += targets[r] != ignore;
  return count;
}

/* One row at a time: exp(x - max) goes to a per-thread row buffer on the way to the sum, so the
 * gradient pass needs no second exp. */
NV_CLONES static void ce_back_rows(void *vctx, long r0, long r1) {
  const ce_ctx *c = vctx;
  const long n = c->vocab;
  float *e = nv_scratch(NV_SCRATCH_WORK, (size_t)n * sizeof(float));
  for (long r = r0; r < r1; r++) {
    int32_t t = c->targets[r];
    if (t == c->ignore) continue;
    const float *x = c->logits + r * n;
    float *d = c->out + r * n;
    const float k = c->scale / nv_exp_shifted(x, e, n);
    for (long j = 0; j < n; j++) d[j] += k * e[j];
    d[t] -= c->scale;
  }
}

static void nv_cross_entropy_backward(const float *logits, const int32_t *targets, float *dlogits, long rows,
                               long vocab, int32_t ignore, float scale) {
  ce_ctx c = {logits, targets, dlogits, vocab, ignore, scale};
  nv_parallel_for(rows, NV_MAX(1L, 16384L / NV_MAX(vocab, 1L)), 1, ce_back_rows, &c);
}

/* ---- JavaScript entry points (native/binding.h) ---- */
static int check_targets(nv_call *c, const int32_t *t, int64_t rows, int64_t vocab, int32_t ignore) {
  for (int64_t r = 0; r < rows; r++)
    if (t[r] != ignore && (t[r] < 0 || t[r] >= vocab)) {
      char detail[96];
      snprintf(detail, sizeof detail, "targets[%lld] = %d is outside [0, %lld)", (long long)r, t[r],
               (long long)vocab);
      arg_fail(c, "R", "%s%s", "", detail);
      return 0;
    }
  return 1;
}

NV_KERNEL(crossEntropy, 6) {
  int64_t rows = arg_int(C, 3, "rows", 0), vocab = arg_int(C, 4, "vocab", 1);
  int32_t ignore = (int32_t)arg_int(C, 5, "ignoreIndex", INT32_MIN);
  float *logits = arg_f32(C, 0, "logits", rows * vocab);
  int32_t *targets = arg_i32(C, 1, "targets", rows);
  float *losses = arg_f32(C, 2, "losses", rows);
  ARGS_OK
  if (!check_targets(C, targets, rows, vocab, ignore)) return NULL;
  return nv_number(C->env, (double)nv_cross_entropy(logits, targets, losses, rows, vocab, ignore));
}

NV_KERNEL(crossEntropyBackward, 7) {
  int64_t rows = arg_int(C, 3, "rows", 0), vocab = arg_int(C, 4, "vocab", 1);
  int32_t ignore = (int32_t)arg_int(C, 5, "ignoreIndex", INT32_MIN);
  float scale = (float)arg_num(C, 6, "scale");
  float *logits = arg_f32(C, 0, "logits", rows * vocab);
  int32_t *targets = arg_i32(C, 1, "targets", rows);
  float *dlogits = arg_f32(C, 2, "dlogits", rows * vocab);
  ARGS_OK
  if (!check_targets(C, targets, rows, vocab, ignore)) return NULL;
  nv_cross_entropy_backward(logits, targets, dlogits, rows, vocab, ignore, scale);
  return NULL;
}
