/* Multi-head scaled dot-product attention. Each (batch, head) is an independent task run by one thread;
 * inside a task the products go through the GEMM micro-kernels, a block of query rows at a time so a
 * causal mask skips the keys no query of the block can see. The backward finds, per block, the last key
 * with a non-zero probability, which covers causal and padding masks without being told about them. */
#include "common.h"

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
  for (long t0 = 0; t0 < tq; t0 += QBLOCK) {
    long t1 = NV_MIN(tq, t0 + QBLOCK), rows = t1 - t0;
    long lim = c->causal ? NV_MAX(0L, NV_MIN(tk, t1 + offset)) : tk;
    if (lim > 0) nv_sgemm(0, 1, rows, lim, hd, c->scale, q + t0 * qs, qs, k, kvs, 0.0f, P + t0 * tk, tk, 0);
    for (long t = t0; t < t1; t++) {
      float *p = P + t * tk;
      long vis = c->causal ? NV_MAX(0L, NV_MIN(tk, t + offset + 1)) : tk;
      float mx = -INFINITY;
      long seen = 0;
      for (long j = 0; j < vis; j++)
        if (!mask || mask[j]) {
          mx = p[j] > mx ? p[j] : mx;
          seen++;
        }
      float s = 0.0f;
      if (seen) {
        for (long j = 0; j < vis; j++) {
          float e = (!mask || mask[j]) ? nv_expf(p[j] - mx) : 0.0f;
          p[j] = e;
          s += e;
        }
        float inv = 1.0f / s;
        for (long j = 0; j < vis; j++) p[j] *= inv;
      } else {
        vis = 0;
      }
      for (long j = vis; j < tk; j++) p[j] = 0.0f;
    }
    /* out rows = P[t0:t1, 0:lim] · V[0:lim]; lim = 0 writes zeros */
    nv_sgemm(0, 0, rows, hd, lim, 1.0f, P + t0 * tk, tk, v, kvs, 0.0f, out + t0 * os, os, 0);
  }
}

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
  float *dp = nv_scratch(NV_SCRATCH_WORK, (size_t)QBLOCK * tk * sizeof(float));
  for (long t0 = 0; t0 < tq; t0 += QBLOCK) {
    long t1 = NV_MIN(tq, t0 + QBLOCK), rows = t1 - t0;
    long lim = 0;
    for (long t = t0; t < t1; t++)
      for (long j = tk - 1; j >= lim; j--)
        if (P[t * tk + j] != 0.0f) {
          lim = j + 1;
          break;
        }
    if (lim == 0) continue;
    const float *Pb = P + t0 * tk, *dO = dout + t0 * os;
    nv_sgemm(1, 0, lim, hd, rows, 1.0f, Pb, tk, dO, os, 1.0f, dv, kvs, 0);         /* dV += Pᵀ dO */
    nv_sgemm(0, 1, rows, lim, hd, 1.0f, dO, os, v, kvs, 0.0f, dp, lim, 0);        /* dP = dO Vᵀ */
    for (long r = 0; r < rows; r++) {                                              /* dS = P (dP - <dP,P>) */
      const float *p = Pb + r * tk;
      float *g = dp + r * lim;
      float dot = 0.0f;
      for (long j = 0; j < lim; j++) dot += g[j] * p[j];
      for (long j = 0; j < lim; j++) g[j] = p[j] * (g[j] - dot);
    }
    nv_sgemm(0, 0, rows, hd, lim, c->scale, dp, lim, k, kvs, 1.0f, dq + t0 * qs, qs, 0);  /* dQ += s dS K */
    nv_sgemm(1, 0, lim, hd, rows, c->scale, dp, lim, q + t0 * qs, qs, 1.0f, dk, kvs, 0);  /* dK += s dSᵀ Q */
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

void nv_attention(const float *q, const float *k, const float *v, float *out, float *probs,
                  const nv_attn_dims *d, int causal, const uint8_t *key_mask) {
  attn_ctx c = {.q = q, .k = k, .v = v, .out = out, .probs = probs, .d = *d, .causal = causal,
                .mask = key_mask, .scale = (float)(1.0 / sqrt((double)d->hd))};
  nv_parallel_for(d->batch * d->heads, 1, 1, forward_range, &c);
}

void nv_attention_backward(const float *dout, const float *q, const float *k, const float *v,
                           const float *probs, float *dq, float *dk, float *dv, const nv_attn_dims *d) {
  attn_ctx c = {.q = q, .k = k, .v = v, .dout = dout, .probs_in = probs, .dq = dq, .dk = dk, .dv = dv,
                .d = *d, .scale = (float)(1.0 / sqrt((double)d->hd))};
  /* Batches whose k/v rows overlap (a shared cache) must not be accumulated by two threads at once. */
  c.per_head = d->batch > 1 && d->kv_batch_stride < (d->tk - 1) * d->kv_stride + d->heads * d->hd;
  nv_parallel_for(c.per_head ? d->heads : d->batch * d->heads, 1, 1, backward_range, &c);
}
