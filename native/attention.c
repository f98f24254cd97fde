/* Multi-head scaled dot-product attention. Each (batch, head) is an independent task run by one thread;
 * inside a task the products go through the GEMM micro-kernels with K, V (and Q, dO in the backward)
 * packed once, a block of query rows at a time, so a causal mask skips the keys no query of the block
 * can see. The backward finds, per block, the last key with a non-zero probability, which covers causal
 * and padding masks without being told about them. */
#include "common.h"
#include "binding.h"

typedef struct {
  long batch, heads, tq, tk, hd, q_stride, kv_stride, kv_batch_stride, out_stride;
} nv_attn_dims;

#define QBLOCK 24 /* query rows per block: two AVX-512 tiles */

typedef struct {
  const float *q, *k, *v, *dout, *probs_in;
  float *out, *probs, *dq, *dk, *dv;
  nv_attn_dims d;
  int causal;
  const uint8_t *mask;
  float scale;
  int per_head; /* backward with batches sharing k/v rows: one task per head, batches in order */
} attn_ctx;

/* p[0:vis) = softmax over the keys the mask lets through, 0 elsewhere up to tk; all zeros when no key
 * is visible. Hidden keys become -inf, whose exp is 0, so the loops stay branch-free. */
NV_CLONES static void softmax_row(float *p, long vis, long tk, const uint8_t *mask) {
  long seen = vis;
  if (mask) {
    seen = 0;
    for (long j = 0; j < vis; j++) {
      seen += mask[j] != 0;
      p[j] = mask[j] ? p[j] : -INFINITY;
    }
  }
  if (seen == 0) vis = 0;
  float inv = 1.0f / nv_exp_shifted(p, p, vis);
  for (long j = 0; j < vis; j++) p[j] *= inv;
  for (long j = vis; j < tk; j++) p[j] = 0.0f;
}

/* g = p (g - <g, p>) on [0, lim), zero on [lim, tk): the softmax backward of one row. */
NV_CLONES static void softmax_grad_row(float *g, const float *p, long lim, long tk) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (long j = 0; j < lim; j++) dot += g[j] * p[j];
  for (long j = 0; j < lim; j++) g[j] = p[j] * (g[j] - dot);
  for (long j = lim; j < tk; j++) g[j] = 0.0f;
}

static void forward_task(const attn_ctx *c, long b, long h) {
  const nv_attn_dims *d = &c->d;
  const long tq = d->tq, tk = d->tk, hd = d->hd, qs = d->q_stride, kvs = d->kv_stride, os = d->out_stride;
  const float *q = c->q + b * tq * qs + h * hd;
  const float *k = c->k + b * d->kv_batch_stride + h * hd;
  const float *v = c->v + b * d->kv_batch_stride + h * hd;
  float *out = c->out + b * tq * os + h * hd;
  float *P = c->probs + (b * d->heads + h) * tq * tk;
  const uint8_t *mask = c->mask ? c->mask + b * tk : NULL;
  const long offset = tk - tq; /* causal: query t sees keys j <= t + offset */
  /* Kᵀ and V are packed once and reused by every block of queries. */
  long nkt = nv_packb_floats(hd, tk), nv = nv_packb_floats(tk, hd);
  float *kt = nv_scratch(NV_SCRATCH_WORK, (size_t)(nkt + nv) * sizeof(float)), *vp = kt + nkt;
  nv_packb(1, hd, tk, k, kvs, kt);
  nv_packb(0, tk, hd, v, kvs, vp);
  for (long t0 = 0; t0 < tq; t0 += QBLOCK) {
    long t1 = NV_MIN(tq, t0 + QBLOCK), rows = t1 - t0;
    long lim = c->causal ? NV_MAX(0L, NV_MIN(tk, t1 + offset)) : tk;
    nv_sgemm_packb(0, rows, lim, 0, hd, c->scale, q + t0 * qs, qs, kt, hd, tk, 0.0f, P + t0 * tk, tk);
    for (long t = t0; t < t1; t++)
      softmax_row(P + t * tk, c->causal ? NV_MAX(0L, NV_MIN(tk, t + offset + 1)) : tk, tk, mask);
    /* out rows = P[t0:t1, 0:lim] · V[0:lim]; lim = 0 writes zeros */
    nv_sgemm_packb(0, rows, hd, 0, lim, 1.0f, P + t0 * tk, tk, vp, tk, hd, 0.0f, out + t0 * os, os);
  }
}

/* Per (b, h): one pass over blocks of queries computes dS = P (dP - <dP, P>) with dP = dO Vᵀ, and
 * dQ += s dS K; a second pass over blocks of keys computes dK += s dSᵀ Q and dV += Pᵀ dO, starting at
 * the first query block that sees the keys. */
static void backward_task(const attn_ctx *c, long b, long h) {
  const nv_attn_dims *d = &c->d;
  const long tq = d->tq, tk = d->tk, hd = d->hd, qs = d->q_stride, kvs = d->kv_stride, os = d->out_stride;
  const float *q = c->q + b * tq * qs + h * hd;
  const float *k = c->k + b * d->kv_batch_stride + h * hd;
  const float *v = c->v + b * d->kv_batch_stride + h * hd;
  const float *dout = c->dout + b * tq * os + h * hd;
  const float *P = c->probs_in + (b * d->heads + h) * tq * tk;
  float *dq = c->dq + b * tq * qs + h * hd;
  float *dk = c->dk + b * d->kv_batch_stride + h * hd;
  float *dv = c->dv + b * d->kv_batch_stride + h * hd;
  const long nblocks = (tq + QBLOCK - 1) / QBLOCK;
  long n_vt = nv_packb_floats(hd, tk), n_k = nv_packb_floats(tk, hd), n_q = nv_packb_floats(tq, hd);
  float *vt = nv_scratch(NV_SCRATCH_WORK, (size_t)(n_vt + n_k + 2 * n_q + tq * tk + nblocks) * sizeof(float));
  float *kp = vt + n_vt, *qp = kp + n_k, *dop = qp + n_q, *dS = dop + n_q;
  long *lims = nv_scratch(NV_SCRATCH_WORK2, (size_t)nblocks * sizeof(long));
  nv_packb(1, hd, tk, v, kvs, vt);
  nv_packb(0, tk, hd, k, kvs, kp);
  nv_packb(0, tq, hd, q, qs, qp);
  nv_packb(0, tq, hd, dout, os, dop);
  for (long blk = 0; blk < nblocks; blk++) {
    long t0 = blk * QBLOCK, t1 = NV_MIN(tq, t0 + QBLOCK), rows = t1 - t0;
    long lim = 0; /* keys past the last non-zero probability of the block get no gradient */
    for (long t = t0; t < t1; t++)
      for (long j = tk - 1; j >= lim; j--)
        if (P[t * tk + j] != 0.0f) {
          lim = j + 1;
          break;
        }
    lims[blk] = lim;
    float *g = dS + t0 * tk;
    nv_sgemm_packb(0, rows, lim, 0, hd, 1.0f, dout + t0 * os, os, vt, hd, tk, 0.0f, g, tk); /* dP = dO Vᵀ */
    for (long r = 0; r < rows; r++) softmax_grad_row(g + r * tk, P + (t0 + r) * tk, lim, tk);
    nv_sgemm_packb(0, rows, hd, 0, lim, c->scale, g, tk, kp, tk, hd, 1.0f, dq + t0 * qs, qs); /* dQ += s dS K */
  }
  for (long j0 = 0; j0 < tk; j0 += QBLOCK) {
    long j1 = NV_MIN(tk, j0 + QBLOCK), blk = 0;
    while (blk < nblocks && lims[blk] <= j0) blk++;
    if (blk == nblocks) continue;
    long tmin = blk * QBLOCK;
    /* dK += s dSᵀ Q and dV += Pᵀ dO over queries tmin..tq */
    nv_sgemm_packb(1, j1 - j0, hd, tmin, tq, c->scale, dS + tmin * tk + j0, tk, qp, tq, hd, 1.0f, dk + j0 * kvs, kvs);
    nv_sgemm_packb(1, j1 - j0, hd, tmin, tq, 1.0f, P + tmin * tk + j0, tk, dop, tq, hd, 1.0f, dv + j0 * kvs, kvs);
  }
}

static void forward_range(void *vctx, long i0, long i1) {
  const attn_ctx *c = vctx;
  for (long i = i0; i < i1; i++) forward_task(c, i / c->d.heads, i % c->d.heads);
}

static void backward_range(void *vctx, long i0, long i1) {
  const attn_ctx *c = vctx;
  if (c->per_head) {
    for (long h = i0; h < i1; h++)
      for (long b = 0; b < c->d.batch; b++) backward_task(c, b, h);
    return;
  }
  for (long i = i0; i < i1; i++) backward_task(c, i / c->d.heads, i % c->d.heads);
}

static void nv_attention(const float *q, const float *k, const float *v, float *out, float *probs,
                  const nv_attn_dims *d, int causal, const uint8_t *key_mask) {
  attn_ctx c = {.q = q, .k = k, .v = v, .out = out, .probs = probs, .d = *d, .causal = causal,
                .mask = key_mask, .scale = (float)(1.0 / sqrt((double)d->hd))};
  nv_parallel_for(d->batch * d->heads, 1, 1, forward_range, &c);
}

static void nv_attention_backward(const float *dout, const float *q, const float *k, const float *v,
                           const float *probs, float *dq, float *dk, float *dv, const nv_attn_dims *d) {
  attn_ctx c = {.q = q, .k = k, .v = v, .dout = dout, .probs_in = probs, .dq = dq, .dk = dk, .dv = dv,
                .d = *d, .scale = (float)(1.0 / sqrt((double)d->hd))};
  /* Batches whose k/v rows overlap (a shared cache) must not be accumulated by two threads at once. */
  c.per_head = d->batch > 1 && d->kv_batch_stride < (d->tk - 1) * d->kv_stride + d->heads * d->hd;
  nv_parallel_for(c.per_head ? d->heads : d->batch * d->heads, 1, 1, backward_range, &c);
}

/* ---- JavaScript entry points (native/binding.h) ---- */
/* Reads batch, heads, tq, tk, headDim, qStride, kvStride, kvBatchStride, outStride from argv[at..]. */
static nv_attn_dims attn_dims(nv_call *c, int at) {
  nv_attn_dims d;
  d.batch = arg_int(c, at, "batch", 0);
  d.heads = arg_int(c, at + 1, "heads", 1);
  d.tq = arg_int(c, at + 2, "tq", 0);
  d.tk = arg_int(c, at + 3, "tk", 0);
  d.hd = arg_int(c, at + 4, "headDim", 1);
  d.q_stride = arg_int(c, at + 5, "qStride", 0);
  d.kv_stride = arg_int(c, at + 6, "kvStride", 0);
  d.kv_batch_stride = arg_int(c, at + 7, "kvBatchStride", 0);
  d.out_stride = arg_int(c, at + 8, "outStride", 0);
  if (!c->failed && (d.q_stride < d.heads * d.hd || d.kv_stride < d.heads * d.hd || d.out_stride < d.heads * d.hd))
    arg_fail(c, "R", "qStride, kvStride and outStride must be at least heads * headDim%s%s", "", "");
  return d;
}

static int64_t rows_span(int64_t items, int64_t item_stride, int64_t rows, int64_t row_stride, int64_t width) {
  if (items <= 0 || rows <= 0) return 0;
  return (items - 1) * item_stride + (rows - 1) * row_stride + width;
}

NV_KERNEL(attention, 16) {
  nv_attn_dims d = attn_dims(C, 5);
  int causal = arg_bool(C, 14, "causal");
  int64_t w = d.heads * d.hd;
  float *q = arg_f32(C, 0, "q", rows_span(d.batch, d.tq * d.q_stride, d.tq, d.q_stride, w));
  float *k = arg_f32(C, 1, "k", rows_span(d.batch, d.kv_batch_stride, d.tk, d.kv_stride, w));
  float *v = arg_f32(C, 2, "v", rows_span(d.batch, d.kv_batch_stride, d.tk, d.kv_stride, w));
  float *out = arg_f32(C, 3, "out", rows_span(d.batch, d.tq * d.out_stride, d.tq, d.out_stride, w));
  float *probs = arg_f32(C, 4, "probs", d.batch * d.heads * d.tq * d.tk);
  uint8_t *mask = arg_is_nullish(C, 15)
                      ? NULL
                      : arg_array(C, 15, "keyMask", napi_uint8_array, "Uint8Array or null", d.batch * d.tk);
  ARGS_OK
  nv_attention(q, k, v, out, probs, &d, causal, mask);
  return NULL;
}

NV_KERNEL(attentionBackward, 17) {
  nv_attn_dims d = attn_dims(C, 8);
  int64_t w = d.heads * d.hd;
  int64_t qn = rows_span(d.batch, d.tq * d.q_stride, d.tq, d.q_stride, w);
  int64_t kvn = rows_span(d.batch, d.kv_batch_stride, d.tk, d.kv_stride, w);
  float *dout = arg_f32(C, 0, "dout", rows_span(d.batch, d.tq * d.out_stride, d.tq, d.out_stride, w));
  float *q = arg_f32(C, 1, "q", qn), *k = arg_f32(C, 2, "k", kvn), *v = arg_f32(C, 3, "v", kvn);
  float *probs = arg_f32(C, 4, "probs", d.batch * d.heads * d.tq * d.tk);
  float *dq = arg_f32(C, 5, "dq", qn), *dk = arg_f32(C, 6, "dk", kvn), *dv = arg_f32(C, 7, "dv", kvn);
  ARGS_OK
  nv_attention_backward(dout, q, k, v, probs, dq, dk, dv, &d);
  return NULL;
}
