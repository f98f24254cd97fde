/* im2col / col2im for one image, so a convolution becomes one GEMM. cols has C*kh*kw rows (ordered c, ki,
 * kj) of oh*ow columns. im2col threads split the rows; col2im threads split the channels, so no two
 * threads add into the same input element. */
#include "common.h"

typedef struct {
  const float *src;
  float *dst;
  long c, h, w, kh, kw, stride, pad, oh, ow;
} conv_ctx;

static void im2col_rows(void *vctx, long r0, long r1) {
  const conv_ctx *c = vctx;
  for (long row = r0; row < r1; row++) {
    long ch = row / (c->kh * c->kw), ki = (row / c->kw) % c->kh, kj = row % c->kw;
    const float *x = c->src + ch * c->h * c->w;
    float *out = c->dst + row * c->oh * c->ow;
    for (long oy = 0; oy < c->oh; oy++) {
      long iy = oy * c->stride - c->pad + ki;
      float *o = out + oy * c->ow;
      if (iy < 0 || iy >= c->h) {
        for (long ox = 0; ox < c->ow; ox++) o[ox] = 0.0f;
        continue;
      }
      const float *xr = x + iy * c->w;
      for (long ox = 0; ox < c->ow; ox++) {
        long ix = ox * c->stride - c->pad + kj;
        o[ox] = (ix >= 0 && ix < c->w) ? xr[ix] : 0.0f;
      }
    }
  }
}

static void col2im_channels(void *vctx, long c0, long c1) {
  const conv_ctx *c = vctx;
  for (long ch = c0; ch < c1; ch++) {
    float *dx = c->dst + ch * c->h * c->w;
    for (long ki = 0; ki < c->kh; ki++)
      for (long kj = 0; kj < c->kw; kj++) {
        const float *col = c->src + ((ch * c->kh + ki) * c->kw + kj) * c->oh * c->ow;
        for (long oy = 0; oy < c->oh; oy++) {
          long iy = oy * c->stride - c->pad + ki;
          if (iy < 0 || iy >= c->h) continue;
          float *dr = dx + iy * c->w;
          const float *cr = col + oy * c->ow;
          for (long ox = 0; ox < c->ow; ox++) {
            long ix = ox * c->stride - c->pad + kj;
            if (ix >= 0 && ix < c->w) dr[ix] += cr[ox];
          }
        }
      }
  }
}

static conv_ctx make_ctx(const float *src, float *dst, long c, long h, long w, long kh, long kw, long stride,
                         long pad) {
  conv_ctx ctx = {src, dst, c, h, w, kh, kw, stride, pad, (h + 2 * pad - kh) / stride + 1,
                  (w + 2 * pad - kw) / stride + 1};
  return ctx;
}

void nv_im2col(const float *x, float *cols, long c, long h, long w, long kh, long kw, long stride, long pad) {
  conv_ctx ctx = make_ctx(x, cols, c, h, w, kh, kw, stride, pad);
  if (ctx.oh <= 0 || ctx.ow <= 0) return;
  nv_parallel_for(c * kh * kw, NV_MAX(1L, 16384L / (ctx.oh * ctx.ow)), 1, im2col_rows, &ctx);
}

void nv_col2im(const float *dcols, float *dx, long c, long h, long w, long kh, long kw, long stride, long pad) {
  conv_ctx ctx = make_ctx(dcols, dx, c, h, w, kh, kw, stride, pad);
  if (ctx.oh <= 0 || ctx.ow <= 0) return;
  nv_parallel_for(c, NV_MAX(1L, 16384L / (kh * kw * ctx.oh * ctx.ow)), 1, col2im_channels, &ctx);
}
