/* N-API binding: one function per Backend kernel (the list is native/kernels.h), typed arrays used in place
 * (no copies). Arguments are positional: a descriptor object of src/tensor/backend.ts (GemmDesc, ...) is
 * spread into its fields by src/tensor/backends/native.ts, in the order each wrapper below reads them. Every argument is checked (type,
 * integer sizes, buffer lengths) so a caller bug gives a JS exception instead of memory corruption. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common.h"
#include "kernels.h"

typedef struct {
  napi_env env;
  napi_value argv[20];
  size_t argc;
  const char *fn;
  int failed;
} call_t;

static void fail(call_t *c, const char *kind, const char *fmt, const char *what, const char *detail) {
  if (c->failed) return;
  c->failed = 1;
  char msg[512];
  char body[384];
  snprintf(body, sizeof body, fmt, what, detail);
  snprintf(msg, sizeof msg, "nanovlm native %s: %s", c->fn, body);
  if (kind[0] == 'T') napi_throw_type_error(c->env, NULL, msg);
  else napi_throw_range_error(c->env, NULL, msg);
}

static int begin(call_t *c, napi_env env, napi_callback_info info, const char *fn, size_t want) {
  c->env = env;
  c->fn = fn;
  c->failed = 0;
  c->argc = 20;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "nanovlm native: could not read the arguments");
    return 0;
  }
  if (c->argc < want) {
    char n[32];
    snprintf(n, sizeof n, "%zu", want);
    fail(c, "T", "expects %s arguments%s", n, "");
    return 0;
  }
  return 1;
}

static int64_t get_int(call_t *c, int i, const char *what, int64_t min) {
  if (c->failed) return 0;
  double d;
  if (napi_get_value_double(c->env, c->argv[i], &d) != napi_ok) {
    fail(c, "T", "%s must be a number%s", what, "");
    return 0;
  }
  if (!(d == floor(d)) || d < (double)min || d > 9007199254740991.0) {
    char detail[64];
    snprintf(detail, sizeof detail, " >= %lld, got %g", (long long)min, d);
    fail(c, "R", "%s must be an integer%s", what, detail);
    return 0;
  }
  return (int64_t)d;
}

static double get_num(call_t *c, int i, const char *what) {
  if (c->failed) return 0;
  double d;
  if (napi_get_value_double(c->env, c->argv[i], &d) != napi_ok) {
    fail(c, "T", "%s must be a number%s", what, "");
    return 0;
  }
  return d;
}

static int get_bool(call_t *c, int i, const char *what) {
  if (c->failed) return 0;
  bool b;
  if (napi_get_value_bool(c->env, c->argv[i], &b) != napi_ok) {
    fail(c, "T", "%s must be a boolean%s", what, "");
    return 0;
  }
  return b;
}

static void *get_array(call_t *c, int i, const char *what, napi_typedarray_type want, const char *type_name,
                       int64_t need) {
  if (c->failed) return NULL;
  bool is_ta = false;
  napi_is_typedarray(c->env, c->argv[i], &is_ta);
  if (!is_ta) {
    fail(c, "T", "%s must be a %s", what, type_name);
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_get_typedarray_info(c->env, c->argv[i], &type, &length, &data, NULL, NULL);
  if (type != want) {
    if (type == napi_float64_array && want == napi_float32_array)
      fail(c, "T",
           "%s is a Float64Array; the native backend computes in %s only (use the ts backend, "
           "NANOVLM_BACKEND=ts, for float64)",
           what, "float32");
    else fail(c, "T", "%s must be a %s", what, type_name);
    return NULL;
  }
  if ((int64_t)length < need) {
    char detail[96];
    snprintf(detail, sizeof detail, "%lld elements but the sizes need %lld", (long long)length, (long long)need);
    fail(c, "R", "%s has %s", what, detail);
    return NULL;
  }
  /* an empty typed array may have a NULL data pointer; kernels never read it then */
  return data ? data : (void *)c->argv;
}

static float *get_f32(call_t *c, int i, const char *what, int64_t need) {
  return get_array(c, i, what, napi_float32_array, "Float32Array", need);
}
static int32_t *get_i32(call_t *c, int i, const char *what, int64_t need) {
  return get_array(c, i, what, napi_int32_array, "Int32Array", need);
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

/* Elements a strided batch spans: the last item's start plus one item. */
static int64_t span(int64_t batch, int64_t stride, int64_t item) {
  if (batch <= 0 || item <= 0) return 0;
  return (batch - 1) * stride + item;
}

#define BEGIN(name, n)                                                                                         \
  call_t C;                                                                                                    \
  if (!begin(&C, env, info, name, n)) return NULL;
#define END                                                                                                    \
  if (C.failed) return NULL;

static napi_value js_gemm(napi_env env, napi_callback_info info) {
  BEGIN("gemm", 14)
  int ta = get_bool(&C, 0, "transA"), tb = get_bool(&C, 1, "transB");
  int64_t m = get_int(&C, 2, "m", 0), n = get_int(&C, 3, "n", 0), k = get_int(&C, 4, "k", 0);
  float alpha = (float)get_num(&C, 5, "alpha"), beta = (float)get_num(&C, 8, "beta");
  int64_t batch = get_int(&C, 10, "batch", 0), sA = get_int(&C, 11, "strideA", 0);
  int64_t sB = get_int(&C, 12, "strideB", 0), sC = get_int(&C, 13, "strideC", 0);
  float *a = get_f32(&C, 6, "a", span(batch, sA, m * k));
  float *b = get_f32(&C, 7, "b", span(batch, sB, k * n));
  float *c = get_f32(&C, 9, "c", span(batch, sC, m * n));
  int bf16 = C.argc > 14 ? get_bool(&C, 14, "bf16") : 0;
  END
  nv_sgemm_batched(ta, tb, m, n, k, alpha, a, b, beta, c, batch, sA, sB, sC, bf16);
  return NULL;
}

static napi_value js_round_bf16(napi_env env, napi_callback_info info) {
  BEGIN("roundBf16", 3)
  int64_t n = get_int(&C, 2, "n", 0);
  float *x = get_f32(&C, 0, "x", n), *y = get_f32(&C, 1, "y", n);
  END
  nv_round_bf16(x, y, n);
  return NULL;
}

static napi_value js_add_bias(napi_env env, napi_callback_info info) {
  BEGIN("addBias", 4)
  int64_t rows = get_int(&C, 2, "rows", 0), cols = get_int(&C, 3, "cols", 0);
  float *y = get_f32(&C, 0, "y", rows * cols), *bias = get_f32(&C, 1, "bias", cols);
  END
  nv_add_bias(y, bias, rows, cols);
  return NULL;
}

static napi_value js_sum_rows(napi_env env, napi_callback_info info) {
  BEGIN("sumRows", 5)
  int64_t rows = get_int(&C, 2, "rows", 0), cols = get_int(&C, 3, "cols", 0);
  int acc = get_bool(&C, 4, "accumulate");
  float *x = get_f32(&C, 0, "x", rows * cols), *out = get_f32(&C, 1, "out", cols);
  END
  nv_sum_rows(x, out, rows, cols, acc);
  return NULL;
}

static napi_value binary(napi_env env, napi_callback_info info, const char *name, int is_mul) {
  BEGIN(name, 5)
  int64_t n = get_int(&C, 3, "n", 0), bn = get_int(&C, 4, "bn", 1);
  if (!C.failed && n % bn != 0) fail(&C, "R", "bn must divide n%s%s", "", "");
  float *a = get_f32(&C, 0, "a", n), *b = get_f32(&C, 1, "b", bn), *out = get_f32(&C, 2, "out", n);
  END
  if (is_mul) nv_mul(a, b, out, n, bn);
  else nv_add(a, b, out, n, bn);
  return NULL;
}
static napi_value js_add(napi_env env, napi_callback_info info) { return binary(env, info, "add", 0); }
static napi_value js_mul(napi_env env, napi_callback_info info) { return binary(env, info, "mul", 1); }

static napi_value js_scale(napi_env env, napi_callback_info info) {
  BEGIN("scale", 4)
  float s = (float)get_num(&C, 1, "s");
  int64_t n = get_int(&C, 3, "n", 0);
  float *a = get_f32(&C, 0, "a", n), *out = get_f32(&C, 2, "out", n);
  END
  nv_scale(a, s, out, n);
  return NULL;
}

static napi_value js_axpy(napi_env env, napi_callback_info info) {
  BEGIN("axpy", 4)
  float alpha = (float)get_num(&C, 0, "alpha");
  int64_t n = get_int(&C, 3, "n", 0);
  float *x = get_f32(&C, 1, "x", n), *y = get_f32(&C, 2, "y", n);
  END
  nv_axpy(alpha, x, y, n);
  return NULL;
}

static napi_value js_layer_norm(napi_env env, napi_callback_info info) {
  BEGIN("layerNorm", 9)
  int64_t rows = get_int(&C, 6, "rows", 0), cols = get_int(&C, 7, "cols", 0);
  float eps = (float)get_num(&C, 8, "eps");
  float *x = get_f32(&C, 0, "x", rows * cols), *gamma = get_f32(&C, 1, "gamma", cols);
  float *beta = get_f32(&C, 2, "beta", cols), *y = get_f32(&C, 3, "y", rows * cols);
  float *mean = get_f32(&C, 4, "mean", rows), *rstd = get_f32(&C, 5, "rstd", rows);
  END
  if (cols > 0) nv_layer_norm(x, gamma, beta, y, mean, rstd, rows, cols, eps);
  return NULL;
}

static napi_value js_layer_norm_backward(napi_env env, napi_callback_info info) {
  BEGIN("layerNormBackward", 10)
  int64_t rows = get_int(&C, 8, "rows", 0), cols = get_int(&C, 9, "cols", 0);
  float *dy = get_f32(&C, 0, "dy", rows * cols), *x = get_f32(&C, 1, "x", rows * cols);
  float *gamma = get_f32(&C, 2, "gamma", cols), *mean = get_f32(&C, 3, "mean", rows);
  float *rstd = get_f32(&C, 4, "rstd", rows), *dx = get_f32(&C, 5, "dx", rows * cols);
  float *dgamma = get_f32(&C, 6, "dgamma", cols), *dbeta = get_f32(&C, 7, "dbeta", cols);
  END
  nv_layer_norm_backward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
  return NULL;
}

static napi_value unary(napi_env env, napi_callback_info info, const char *name,
                        void (*fn)(const float *, float *, long)) {
  BEGIN(name, 3)
  int64_t n = get_int(&C, 2, "n", 0);
  float *x = get_f32(&C, 0, "x", n), *y = get_f32(&C, 1, "y", n);
  END
  fn(x, y, n);
  return NULL;
}

static napi_value unary_backward(napi_env env, napi_callback_info info, const char *name,
                                 void (*fn)(const float *, const float *, float *, long)) {
  BEGIN(name, 4)
  int64_t n = get_int(&C, 3, "n", 0);
  float *x = get_f32(&C, 0, "x", n), *dy = get_f32(&C, 1, "dy", n), *dx = get_f32(&C, 2, "dx", n);
  END
  fn(x, dy, dx, n);
  return NULL;
}

static napi_value js_gelu(napi_env env, napi_callback_info info) { return unary(env, info, "gelu", nv_gelu); }
static napi_value js_relu(napi_env env, napi_callback_info info) { return unary(env, info, "relu", nv_relu); }
static napi_value js_gelu_backward(napi_env env, napi_callback_info info) {
  return unary_backward(env, info, "geluBackward", nv_gelu_backward);
}
static napi_value js_relu_backward(napi_env env, napi_callback_info info) {
  return unary_backward(env, info, "reluBackward", nv_relu_backward);
}

static napi_value js_softmax(napi_env env, napi_callback_info info) {
  BEGIN("softmax", 4)
  int64_t rows = get_int(&C, 2, "rows", 0), cols = get_int(&C, 3, "cols", 0);
  float *x = get_f32(&C, 0, "x", rows * cols), *y = get_f32(&C, 1, "y", rows * cols);
  END
  nv_softmax(x, y, rows, cols);
  return NULL;
}

static napi_value js_softmax_backward(napi_env env, napi_callback_info info) {
  BEGIN("softmaxBackward", 5)
  int64_t rows = get_int(&C, 3, "rows", 0), cols = get_int(&C, 4, "cols", 0);
  float *y = get_f32(&C, 0, "y", rows * cols), *dy = get_f32(&C, 1, "dy", rows * cols);
  float *dx = get_f32(&C, 2, "dx", rows * cols);
  END
  nv_softmax_backward(y, dy, dx, rows, cols);
  return NULL;
}

static int check_targets(call_t *c, const int32_t *t, int64_t rows, int64_t vocab, int32_t ignore) {
  for (int64_t r = 0; r < rows; r++)
    if (t[r] != ignore && (t[r] < 0 || t[r] >= vocab)) {
      char detail[96];
      snprintf(detail, sizeof detail, "targets[%lld] = %d is outside [0, %lld)", (long long)r, t[r],
               (long long)vocab);
      fail(c, "R", "%s%s", "", detail);
      return 0;
    }
  return 1;
}

static napi_value js_cross_entropy(napi_env env, napi_callback_info info) {
  BEGIN("crossEntropy", 6)
  int64_t rows = get_int(&C, 3, "rows", 0), vocab = get_int(&C, 4, "vocab", 1);
  int32_t ignore = (int32_t)get_int(&C, 5, "ignoreIndex", INT32_MIN);
  float *logits = get_f32(&C, 0, "logits", rows * vocab);
  int32_t *targets = get_i32(&C, 1, "targets", rows);
  float *losses = get_f32(&C, 2, "losses", rows);
  END
  if (!check_targets(&C, targets, rows, vocab, ignore)) return NULL;
  return num(env, (double)nv_cross_entropy(logits, targets, losses, rows, vocab, ignore));
}

static napi_value js_cross_entropy_backward(napi_env env, napi_callback_info info) {
  BEGIN("crossEntropyBackward", 7)
  int64_t rows = get_int(&C, 3, "rows", 0), vocab = get_int(&C, 4, "vocab", 1);
  int32_t ignore = (int32_t)get_int(&C, 5, "ignoreIndex", INT32_MIN);
  float scale = (float)get_num(&C, 6, "scale");
  float *logits = get_f32(&C, 0, "logits", rows * vocab);
  int32_t *targets = get_i32(&C, 1, "targets", rows);
  float *dlogits = get_f32(&C, 2, "dlogits", rows * vocab);
  END
  if (!check_targets(&C, targets, rows, vocab, ignore)) return NULL;
  nv_cross_entropy_backward(logits, targets, dlogits, rows, vocab, ignore, scale);
  return NULL;
}

/* Reads batch, heads, tq, tk, headDim, qStride, kvStride, kvBatchStride, outStride from argv[at..]. */
static nv_attn_dims attn_dims(call_t *c, int at) {
  nv_attn_dims d;
  d.batch = get_int(c, at, "batch", 0);
  d.heads = get_int(c, at + 1, "heads", 1);
  d.tq = get_int(c, at + 2, "tq", 0);
  d.tk = get_int(c, at + 3, "tk", 0);
  d.hd = get_int(c, at + 4, "headDim", 1);
  d.q_stride = get_int(c, at + 5, "qStride", 0);
  d.kv_stride = get_int(c, at + 6, "kvStride", 0);
  d.kv_batch_stride = get_int(c, at + 7, "kvBatchStride", 0);
  d.out_stride = get_int(c, at + 8, "outStride", 0);
  if (!c->failed && (d.q_stride < d.heads * d.hd || d.kv_stride < d.heads * d.hd || d.out_stride < d.heads * d.hd))
    fail(c, "R", "qStride, kvStride and outStride must be at least heads * headDim%s%s", "", "");
  return d;
}

static int64_t rows_span(int64_t items, int64_t item_stride, int64_t rows, int64_t row_stride, int64_t width) {
  if (items <= 0 || rows <= 0) return 0;
  return (items - 1) * item_stride + (rows - 1) * row_stride + width;
}

static napi_value js_attention(napi_env env, napi_callback_info info) {
  BEGIN("attention", 16)
  nv_attn_dims d = attn_dims(&C, 5);
  int causal = get_bool(&C, 14, "causal");
  int64_t w = d.heads * d.hd;
  float *q = get_f32(&C, 0, "q", rows_span(d.batch, d.tq * d.q_stride, d.tq, d.q_stride, w));
  float *k = get_f32(&C, 1, "k", rows_span(d.batch, d.kv_batch_stride, d.tk, d.kv_stride, w));
  float *v = get_f32(&C, 2, "v", rows_span(d.batch, d.kv_batch_stride, d.tk, d.kv_stride, w));
  float *out = get_f32(&C, 3, "out", rows_span(d.batch, d.tq * d.out_stride, d.tq, d.out_stride, w));
  float *probs = get_f32(&C, 4, "probs", d.batch * d.heads * d.tq * d.tk);
  uint8_t *mask = NULL;
  if (!C.failed) {
    napi_valuetype t;
    napi_typeof(env, C.argv[15], &t);
    if (t != napi_null && t != napi_undefined)
      mask = get_array(&C, 15, "keyMask", napi_uint8_array, "Uint8Array or null", d.batch * d.tk);
  }
  END
  nv_attention(q, k, v, out, probs, &d, causal, mask);
  return NULL;
}

static napi_value js_attention_backward(napi_env env, napi_callback_info info) {
  BEGIN("attentionBackward", 17)
  nv_attn_dims d = attn_dims(&C, 8);
  int64_t w = d.heads * d.hd;
  int64_t qn = rows_span(d.batch, d.tq * d.q_stride, d.tq, d.q_stride, w);
  int64_t kvn = rows_span(d.batch, d.kv_batch_stride, d.tk, d.kv_stride, w);
  float *dout = get_f32(&C, 0, "dout", rows_span(d.batch, d.tq * d.out_stride, d.tq, d.out_stride, w));
  float *q = get_f32(&C, 1, "q", qn), *k = get_f32(&C, 2, "k", kvn), *v = get_f32(&C, 3, "v", kvn);
  float *probs = get_f32(&C, 4, "probs", d.batch * d.heads * d.tq * d.tk);
  float *dq = get_f32(&C, 5, "dq", qn), *dk = get_f32(&C, 6, "dk", kvn), *dv = get_f32(&C, 7, "dv", kvn);
  END
  nv_attention_backward(dout, q, k, v, probs, dq, dk, dv, &d);
  return NULL;
}

static int check_ids(call_t *c, const int32_t *ids, int64_t n, int64_t rows) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= rows) {
      char detail[96];
      snprintf(detail, sizeof detail, "ids[%lld] = %d is outside [0, %lld)", (long long)i, ids[i], (long long)rows);
      fail(c, "R", "%s%s", "", detail);
      return 0;
    }
  return 1;
}

static int64_t array_length(call_t *c, int i) {
  napi_typedarray_type type;
  size_t length = 0;
  napi_get_typedarray_info(c->env, c->argv[i], &type, &length, NULL, NULL, NULL);
  return (int64_t)length;
}

static napi_value js_embedding(napi_env env, napi_callback_info info) {
  BEGIN("embedding", 5)
  int64_t n = get_int(&C, 3, "n", 0), dim = get_int(&C, 4, "dim", 1);
  float *weight = get_f32(&C, 0, "weight", 0);
  int32_t *ids = get_i32(&C, 1, "ids", n);
  float *out = get_f32(&C, 2, "out", n * dim);
  END
  if (!check_ids(&C, ids, n, array_length(&C, 0) / dim)) return NULL;
  nv_embedding(weight, ids, out, n, dim);
  return NULL;
}

static napi_value js_embedding_backward(napi_env env, napi_callback_info info) {
  BEGIN("embeddingBackward", 5)
  int64_t n = get_int(&C, 3, "n", 0), dim = get_int(&C, 4, "dim", 1);
  float *dout = get_f32(&C, 0, "dout", n * dim);
  int32_t *ids = get_i32(&C, 1, "ids", n);
  float *dweight = get_f32(&C, 2, "dweight", 0);
  END
  if (!check_ids(&C, ids, n, array_length(&C, 2) / dim)) return NULL;
  nv_embedding_backward(dout, ids, dweight, n, dim);
  return NULL;
}

static int is_nullish(call_t *c, int i) {
  if (c->failed) return 0;
  napi_valuetype t;
  napi_typeof(c->env, c->argv[i], &t);
  return t == napi_null || t == napi_undefined;
}

/* Optional buffer: NULL for null / undefined. */
static float *get_f32_opt(call_t *c, int i, const char *what, int64_t need) {
  return is_nullish(c, i) ? NULL : get_f32(c, i, what, need);
}

typedef struct {
  int64_t n, c, h, w, o, kh, kw, stride, pad, oh, ow;
} conv_dims;

static conv_dims get_conv_dims(call_t *c, int at) {
  conv_dims d;
  d.n = get_int(c, at, "n", 0), d.c = get_int(c, at + 1, "c", 0), d.h = get_int(c, at + 2, "h", 0);
  d.w = get_int(c, at + 3, "width", 0), d.o = get_int(c, at + 4, "o", 0), d.kh = get_int(c, at + 5, "kh", 1);
  d.kw = get_int(c, at + 6, "kw", 1), d.stride = get_int(c, at + 7, "stride", 1), d.pad = get_int(c, at + 8, "pad", 0);
  d.oh = d.ow = 0;
  if (!c->failed && d.h + 2 * d.pad >= d.kh && d.w + 2 * d.pad >= d.kw) {
    d.oh = (d.h + 2 * d.pad - d.kh) / d.stride + 1;
    d.ow = (d.w + 2 * d.pad - d.kw) / d.stride + 1;
  }
  return d;
}

static napi_value js_conv2d(napi_env env, napi_callback_info info) {
  BEGIN("conv2d", 13)
  conv_dims d = get_conv_dims(&C, 4);
  float *x = get_f32(&C, 0, "x", d.n * d.c * d.h * d.w);
  float *w = get_f32(&C, 1, "weight", d.o * d.c * d.kh * d.kw);
  float *b = get_f32_opt(&C, 2, "bias", d.o);
  float *y = get_f32(&C, 3, "y", d.n * d.o * d.oh * d.ow);
  int bf16 = C.argc > 13 ? get_bool(&C, 13, "bf16") : 0;
  END
  nv_conv2d(x, w, b, y, d.n, d.c, d.h, d.w, d.o, d.kh, d.kw, d.stride, d.pad, bf16);
  return NULL;
}

static napi_value js_conv2d_backward(napi_env env, napi_callback_info info) {
  BEGIN("conv2dBackward", 16)
  conv_dims d = get_conv_dims(&C, 6);
  float *x = get_f32(&C, 0, "x", d.n * d.c * d.h * d.w);
  float *w = get_f32(&C, 1, "weight", d.o * d.c * d.kh * d.kw);
  float *dy = get_f32(&C, 2, "dy", d.n * d.o * d.oh * d.ow);
  float *dx = get_f32_opt(&C, 3, "dx", d.n * d.c * d.h * d.w);
  float *dw = get_f32_opt(&C, 4, "dweight", d.o * d.c * d.kh * d.kw);
  float *db = get_f32_opt(&C, 5, "dbias", d.o);
  int accumulate_dx = get_bool(&C, 15, "accumulateDx");
  int bf16 = C.argc > 16 ? get_bool(&C, 16, "bf16") : 0;
  END
  nv_conv2d_backward(x, w, dy, dx, dw, db, d.n, d.c, d.h, d.w, d.o, d.kh, d.kw, d.stride, d.pad, accumulate_dx,
                     bf16);
  return NULL;
}

static napi_value js_dropout(napi_env env, napi_callback_info info) {
  BEGIN("dropout", 7)
  int64_t n = get_int(&C, 3, "n", 0);
  double p = get_num(&C, 4, "p");
  int64_t seed = get_int(&C, 5, "seed", INT64_MIN / 2), offset = get_int(&C, 6, "offset", 0);
  if (!C.failed && !(p >= 0.0 && p <= 1.0)) fail(&C, "R", "p must be in [0, 1]%s%s", "", "");
  float *x = get_f32(&C, 0, "x", n), *y = get_f32(&C, 1, "y", n), *mask = get_f32(&C, 2, "mask", n);
  END
  nv_dropout(x, y, mask, n, p, (uint32_t)seed, (uint32_t)offset);
  return NULL;
}

static napi_value reduction(napi_env env, napi_callback_info info, const char *name, double (*fn)(const float *, long)) {
  BEGIN(name, 2)
  int64_t n = get_int(&C, 1, "n", 0);
  float *x = get_f32(&C, 0, "x", n);
  END
  return num(env, fn(x, n));
}
static napi_value js_sum(napi_env env, napi_callback_info info) { return reduction(env, info, "sum", nv_sum); }
static napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  return reduction(env, info, "sumSquares", nv_sum_squares);
}

static napi_value js_adamw(napi_env env, napi_callback_info info) {
  BEGIN("adamw", 11)
  int64_t n = get_int(&C, 4, "n", 0);
  double lr = get_num(&C, 5, "lr"), b1 = get_num(&C, 6, "beta1"), b2 = get_num(&C, 7, "beta2");
  double eps = get_num(&C, 8, "eps"), wd = get_num(&C, 9, "weightDecay");
  int64_t step = get_int(&C, 10, "step", 1);
  float *p = get_f32(&C, 0, "param", n), *g = get_f32(&C, 1, "grad", n);
  float *m = get_f32(&C, 2, "m", n), *v = get_f32(&C, 3, "v", n);
  END
  nv_adamw(p, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, step);
  return NULL;
}

/* ---- pool and CPU controls ---- */
static const char *ISA_NAMES[] = {"generic", "avx2", "avx512"};

static napi_value js_threads(napi_env env, napi_callback_info info) {
  (void)info;
  return num(env, nv_threads());
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  BEGIN("setThreads", 1)
  int64_t n = get_int(&C, 0, "threads", 1);
  END
  nv_set_threads((int)NV_MIN(n, 256));
  return num(env, nv_threads());
}

static napi_value js_isa(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value s;
  napi_create_string_utf8(env, ISA_NAMES[nv_isa()], NAPI_AUTO_LENGTH, &s);
  return s;
}

static napi_value js_supported_isa(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value s;
  napi_create_string_utf8(env, ISA_NAMES[nv_isa_supported()], NAPI_AUTO_LENGTH, &s);
  return s;
}

/* Selects the GEMM micro-kernel ("generic", "avx2", "avx512"); clamped to what the CPU has. */
static napi_value js_set_isa(napi_env env, napi_callback_info info) {
  BEGIN("setIsa", 1)
  char name[16] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, C.argv[0], name, sizeof name, &len) != napi_ok) {
    fail(&C, "T", "isa must be a string%s%s", "", "");
    return NULL;
  }
  int isa = -1;
  for (int i = 0; i < 3; i++)
    if (strcmp(name, ISA_NAMES[i]) == 0) isa = i;
  if (isa < 0) {
    fail(&C, "R", "unknown isa \"%s\" (generic, avx2, avx512)%s", name, "");
    return NULL;
  }
  nv_set_isa(isa);
  return js_isa(env, info);
}

static const char *BF16_NAMES[] = {"off", "avx512bf16", "amx"};

static napi_value str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}
static napi_value js_bf16(napi_env env, napi_callback_info info) {
  (void)info;
  return str(env, BF16_NAMES[nv_bf16()]);
}
static napi_value js_supported_bf16(napi_env env, napi_callback_info info) {
  (void)info;
  return str(env, BF16_NAMES[nv_bf16_supported()]);
}
/* Selects the bf16 engine ("off", "avx512bf16", "amx"); the one in use is clamped to the CPU. */
static napi_value js_set_bf16(napi_env env, napi_callback_info info) {
  BEGIN("setBf16", 1)
  char name[16] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, C.argv[0], name, sizeof name, &len) != napi_ok) {
    fail(&C, "T", "engine must be a string%s%s", "", "");
    return NULL;
  }
  int e = -1;
  for (int i = 0; i < 3; i++)
    if (strcmp(name, BF16_NAMES[i]) == 0) e = i;
  if (e < 0) {
    fail(&C, "R", "unknown bf16 engine \"%s\" (off, avx512bf16, amx)%s", name, "");
    return NULL;
  }
  nv_set_bf16(e);
  return js_bf16(env, info);
}

/* A training step allocates ~100 MB of fresh tensors (V8 backs them with calloc). By default glibc hands
 * every buffer above 128 KB-32 MB its own mmap and unmaps it on free, so each step pays ~30K page faults
 * (the kernel zeroing pages one at a time). Keeping such buffers in the heap and not trimming it lets
 * them be reused: measured 12% less CPU per GPT training step on 2 threads (page faults serialise
 * on the address-space lock). NANOVLM_MALLOC_TUNE=0 leaves glibc alone. */
static void tune_malloc(void) {
#if defined(__GLIBC__)
  const char *env = getenv("NANOVLM_MALLOC_TUNE");
  if (env && strcmp(env, "0") == 0) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024); /* glibc's upper limit on 64-bit */
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
}

static napi_value init(napi_env env, napi_value exports) {
  tune_malloc();
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
#define NV_EXPORT(name, fn) {#name, fn},
      NV_KERNELS(NV_EXPORT)
#undef NV_EXPORT
      {"threads", js_threads},
      {"setThreads", js_set_threads},
      {"isa", js_isa},
      {"supportedIsa", js_supported_isa},
      {"setIsa", js_set_isa},
      {"bf16", js_bf16},
      {"supportedBf16", js_supported_bf16},
      {"setBf16", js_set_bf16},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  /* kernels: the registry's names, in order (the TypeScript backend is built from them) */
  static const char *kernel_names[] = {
#define NV_NAME(name, fn) #name,
      NV_KERNELS(NV_NAME)
#undef NV_NAME
  };
  napi_value names;
  napi_create_array_with_length(env, sizeof kernel_names / sizeof kernel_names[0], &names);
  for (size_t i = 0; i < sizeof kernel_names / sizeof kernel_names[0]; i++) {
    napi_value s;
    napi_create_string_utf8(env, kernel_names[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, names, (uint32_t)i, s);
  }
  napi_set_named_property(env, exports, "kernels", names);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
