/* im2col / col2im for a batch of n images, so a convolution becomes one GEMM. cols has C*kh*kw rows
 * (ordered c, ki, kj) of n*oh*ow columns, the images side by side: column img*oh*ow + pixel. im2col
 * threads split (image block, row) pieces; col2im threads split the (image, channel) planes, so no two
 * threads add into the same input element. */
#include "common.h"

typedef struct {
  const float *src;
  float *dst;
  long n, c, h, w, kh, kw, stride, pad, oh, ow;
} conv_ctx;

/* The output columns ox whose input column ox*stride - pad + kj lies inside [0, w): [*lo, *hi). */
static inline void inside_range(const conv_ctx *c, long kj, long *lo, long *hi) {
  long off = kj - c->pad; /* ix = ox * stride + off */
  long a = off >= 0 ? 0 : (-off + c->stride - 1) / c->stride;
  long b = c->w - off <= 0 ? 0 : (c->w - off + c->stride - 1) / c->stride;
  *lo = NV_MIN(a, c->ow);
  *hi = NV_MAX(*lo, NV_MIN(b, c->ow));
}

/* Piece t = blk * rows + row writes one row's columns for a block of IMG_BLOCK images: one contiguous run
 * of up to IMG_BLOCK*oh*ow floats, read from those images only, which a thread then finds in its cache
 * for the block's other rows (image-major order would write scattered runs; row-major would stream the
 * whole input once per kernel offset). */
#define IMG_BLOCK 16L

static void im2col_pieces(void *vctx, long t0, long t1) {
  const conv_ctx *c = vctx;
  const long pixels = c->oh * c->ow, s = c->stride, rows = c->c * c->kh * c->kw;
  for (long t = t0; t < t1; t++) {
    long blk = t / rows, row = t % rows;
    long ch = row / (c->kh * c->kw), ki = (row / c->kw) % c->kh, kj = row % c->kw;
    long lo, hi;
    inside_range(c, kj, &lo, &hi);
    const long off = kj - c->pad; /* input column of output column ox: ox * s + off */
    const long img1 = NV_MIN(c->n, (blk + 1) * IMG_BLOCK);
    for (long img = blk * IMG_BLOCK; img < img1; img++) {
      const float *x = c->src + (img * c->c + ch) * c->h * c->w;
      float *out = c->dst + (row * c->n + img) * pixels;
      for (long oy = 0; oy < c->oh; oy++) {
        long iy = oy * s - c->pad + ki;
        float *o = out + oy * c->ow;
        if (iy < 0 || iy >= c->h) {
          for (long ox = 0; ox < c->ow; ox++) o[ox] = 0.0f;
          continue;
        }
        const float *xr = x + iy * c->w;
        for (long ox = 0; ox < lo; ox++) o[ox] = 0.0f;
        if (s == 1)
          for (long ox = lo; ox < hi; ox++) o[ox] = xr[ox + off];
        else
          for (long ox = lo; ox < hi; ox++) o[ox] = xr[ox * s + off];
        for (long ox = hi; ox < c->ow; ox++) o[ox] = 0.0f;
      }
    }
  }
}

/* Plane q = ch * n + img of dx: consecutive planes read consecutive runs of the channel's kh*kw rows. */
static void col2im_planes(void *vctx, long q0, long q1) {
  const conv_ctx *c = vctx;
  const long pixels = c->oh * c->ow, width = c->n * pixels, s = c->stride;
  for (long q = q0; q < q1; q++) {
    long ch = q / c->n, img = q % c->n;
    float *dx = c->dst + (img * c->c + ch) * c->h * c->w;
    for (long ki = 0; ki < c->kh; ki++)
      for (long kj = 0; kj < c->kw; kj++) {
        long lo, hi;
        inside_range(c, kj, &lo, &hi);
        const long off = kj - c->pad;
        const float *col = c->src + ((ch * c->kh + ki) * c->kw + kj) * width + img * pixels;
        for (long oy = 0; oy < c->oh; oy++) {
          long iy = oy * s - c->pad + ki;
          if (iy < 0 || iy >= c->h) continue;
          float *dr = dx + iy * c->w;
          const float *cr = col + oy * c->ow;
          if (s == 1)
            for (long ox = lo; ox < hi; ox++) dr[ox + off] += cr[ox];
          else
            for (long ox = lo; ox < hi; ox++) dr[ox * s + off] += cr[ox];
        }
      }
  }
}

static conv_ctx make_ctx(const float *src, float *dst, long n, long c, long h, long w, long kh, long kw,
                         long stride, long pad) {
  conv_ctx ctx = {src, dst, n, c, h, w, kh, kw, stride, pad, (h + 2 * pad - kh) / stride + 1,
                  (w + 2 * pad - kw) / stride + 1};
  return ctx;
}

void nv_im2col(const float *x, float *cols, long n, long c, long h, long w, long kh, long kw, long stride,
               long pad) {
  conv_ctx ctx = make_ctx(x, cols, n, c, h, w, kh, kw, stride, pad);
  if (n <= 0 || ctx.oh <= 0 || ctx.ow <= 0) return;
  long blocks = (n + IMG_BLOCK - 1) / IMG_BLOCK;
  nv_parallel_for(blocks * c * kh * kw, NV_MAX(1L, 16384L / (IMG_BLOCK * ctx.oh * ctx.ow)), 1, im2col_pieces,
                  &ctx);
}

void nv_col2im(const float *dcols, float *dx, long n, long c, long h, long w, long kh, long kw, long stride,
               long pad) {
  conv_ctx ctx = make_ctx(dcols, dx, n, c, h, w, kh, kw, stride, pad);
  if (n <= 0 || ctx.oh <= 0 || ctx.ow <= 0) return;
  nv_parallel_for(n * c, NV_MAX(1L, 16384L / (kh * kw * ctx.oh * ctx.ow)), 1, col2im_planes, &ctx);
}
