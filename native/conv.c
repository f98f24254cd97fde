/* Convolution kernels. conv_ctx holds one convolution's dimensions. */
#include "common.h"
#include "binding.h"

typedef struct {
  long n, c, h, w, kh, kw, stride, pad, oh, ow;
} conv_ctx;

static conv_ctx make_ctx(long n, long c, long h, long w, long kh, long kw, long stride, long pad) {
  conv_ctx ctx = {n, c, h, w, kh, kw, stride, pad, (h + 2 * pad - kh) / stride + 1, (w + 2 * pad - kw) / stride + 1};
  return ctx;
}

/* ---------------------------------------------------------------- fused convolution
 * conv2d and its backward without a batch-wide column buffer. The images go in tiles (a few whole images,
 * or a band of output rows of one large image) whose columns fit in L2: each image is first split into
 * zero-padded phase planes (below), from which every kernel offset's columns are plain runs of ow floats;
 * a serial GEMM per tile then writes straight into y's NCHW blocks (or through a small transpose when the
 * GEMM runs the other way round, which saves repacking the weights for every image when C*kh*kw is larger
 * than the tile's pixels). The bias rides along as a row of ones under the columns and a column of b beside
 * the weights, so the same GEMM adds it in the forward and sums its gradient in the backward. Threads split
 * the images; the weight gradient is summed per fixed group of images into a partial, and the partials are
 * added in group order, so no result depends on the thread count. */

#define CONV_TILE_FLOATS 65536L /* one tile's columns: 256 KB, with its other buffers well inside L2 */
#define CONV_MAX_GROUPS 64L
#define CONV_GROUP_IMAGES 16L
#define CONV_PARTIAL_FLOATS (1L << 22)

typedef struct {
  const float *x, *w, *dy;
  float *y, *dx, *partials;
  const float *wb;            /* [W | b], O × ckk1 */
  const float *wt_packed;     /* [W | b]ᵀ packed as a GEMM's B (the transposed forward) */
  const long *row_off;        /* planes offset of column row (ch, ki, kj) at output row 0 */
  const long *ph_j0, *ph_ix0; /* per phase: first slot holding an image column, and that column (< s) */
  conv_ctx g;
  long o, ckk, ckk1, pixels, image;
  long hp, wp, ws, fast, pitch, plane_floats; /* phase planes; pitch: floats per output row */
  long tile_images, tile_rows, tile_width;    /* tile_width: the widest tile's pixels */
  int transposed, dots; /* dots: weight gradient by nt_dots instead of a GEMM */
  int bf16;             /* products in bf16 (no bias row: the bias is added, and summed, in fp32) */
  int accumulate_dx;
  long group, groups;
} fused_ctx;

/* Runs of ow floats, the inner loop of every unfold and fold: widths 8 and 16 (small images) get fixed-size
 * loops the compiler turns into one or two vector moves. */
static inline void copy_run(float *restrict o, const float *restrict s, long n) {
  if (n == 8)
    for (int j = 0; j < 8; j++) o[j] = s[j];
  else if (n == 16)
    for (int j = 0; j < 16; j++) o[j] = s[j];
  else
    for (long j = 0; j < n; j++) o[j] = s[j];
}
static inline void add_run(float *restrict o, const float *restrict s, long n) {
  if (n == 8)
    for (int j = 0; j < 8; j++) o[j] += s[j];
  else if (n == 16)
    for (int j = 0; j < 16; j++) o[j] += s[j];
  else
    for (long j = 0; j < n; j++) o[j] += s[j];
}

/* Deinterleaves one channel: t[ph * n + i] = x[i * s + ph] for i < n = h*w/s (w % s == 0, so a flat
 * index's column phase is the index mod s), and back. Long loops the compiler vectorises. */
static inline void deinterleave(float *restrict t, const float *restrict x, long n, long s) {
  if (s == 2)
    for (long i = 0; i < n; i++) {
      t[i] = x[2 * i];
      t[n + i] = x[2 * i + 1];
    }
  else
    for (long ph = 0; ph < s; ph++)
      for (long i = 0; i < n; i++) t[ph * n + i] = x[i * s + ph];
}
static inline void interleave(float *restrict x, const float *restrict t, long n, long s, int accumulate) {
  if (s == 2 && accumulate)
    for (long i = 0; i < n; i++) {
      x[2 * i] += t[i];
      x[2 * i + 1] += t[n + i];
    }
  else if (s == 2)
    for (long i = 0; i < n; i++) {
      x[2 * i] = t[i];
      x[2 * i + 1] = t[n + i];
    }
  else
    for (long ph = 0; ph < s; ph++)
      for (long i = 0; i < n; i++) x[i * s + ph] = accumulate ? x[i * s + ph] + t[ph * n + i] : t[ph * n + i];
}

/* The phase planes of one image: its zero-padded rows, each split by column phase (padded column mod s),
 *   planes[((ch * hp + iy) * s + phase) * wp + j] = x[ch, iy - pad, j * s + phase - pad]   (0 outside),
 * hp = h + 2 pad, wp = ceil((w + 2 pad) / s), so every kernel offset reads a plain run of ow floats per
 * output row. Only the image's slots are written: the padding slots are zeroed once per buffer (tmp: h*w
 * floats). */
NV_CLONES static void split_phases(const fused_ctx *f, const float *x, float *planes, float *tmp) {
  const conv_ctx *c = &f->g;
  const long s = c->stride, pad = c->pad, wp = f->wp, ws = f->ws, plane = c->h * c->w;
  for (long ch = 0; ch < c->c; ch++) {
    const float *xc = x + ch * plane, *t = xc;
    /* x streams in from memory between GEMMs: ask for the lines two channels ahead (a prefetch past the
     * end of x is harmless) */
    for (long i = 0; i < plane; i += 16) __builtin_prefetch(xc + 2 * plane + i, 0, 3);
    if (f->fast && s > 1) {
      deinterleave(tmp, xc, plane / s, s);
      t = tmp;
    }
    for (long y = 0; y < c->h; y++) {
      float *row = planes + (ch * f->hp + y + pad) * s * wp;
      for (long ph = 0; ph < s; ph++) {
        long j0 = f->ph_j0[ph], ix0 = f->ph_ix0[ph];
        float *r = row + ph * wp + j0;
        if (f->fast) copy_run(r, t + (ix0 * c->h + y) * ws, ws);
        else
          for (long ix = ix0; ix < c->w; ix += s) *r++ = xc[y * c->w + ix];
      }
    }
  }
}

/* dx (one image) += the image slots of the phase planes: the adjoint of split_phases; with
 * !f->accumulate_dx the slots are stored instead (every element of dx is one slot). */
NV_CLONES static void merge_phases(const fused_ctx *f, const float *planes, float *dx, float *tmp) {
  const conv_ctx *c = &f->g;
  const long s = c->stride, pad = c->pad, wp = f->wp, ws = f->ws, plane = c->h * c->w;
  const int acc = f->accumulate_dx;
  for (long ch = 0; ch < c->c; ch++) {
    float *dxc = dx + ch * plane;
    for (long y = 0; y < c->h; y++) {
      const float *row = planes + (ch * f->hp + y + pad) * s * wp;
      for (long ph = 0; ph < s; ph++) {
        long j0 = f->ph_j0[ph], ix0 = f->ph_ix0[ph];
        const float *r = row + ph * wp + j0;
        if (f->fast && s == 1) {
          if (acc) add_run(dxc + y * c->w, r, ws);
          else copy_run(dxc + y * c->w, r, ws);
        } else if (f->fast) {
          copy_run(tmp + (ix0 * c->h + y) * ws, r, ws);
        } else {
          for (long ix = ix0; ix < c->w; ix += s, r++) dxc[y * c->w + ix] = acc ? dxc[y * c->w + ix] + *r : *r;
        }
      }
    }
    if (f->fast && s > 1) interleave(dxc, tmp, plane / s, s, acc);
  }
}

/* cols[row * ld + p], p < (oy1-oy0)*ow: the columns of output rows oy0..oy1 from an image's planes. */
NV_CLONES static void unfold(const fused_ctx *f, const float *planes, float *cols, long ld, long oy0, long oy1) {
  const long ow = f->g.ow;
  for (long row = 0; row < f->ckk; row++) {
    const float *src = planes + f->row_off[row] + oy0 * f->pitch;
    float *out = cols + row * ld;
    for (long oy = oy0; oy < oy1; oy++, src += f->pitch, out += ow) copy_run(out, src, ow);
  }
}

/* The planes += the adjoint of unfold for dcols[row * ld + p]. */
NV_CLONES static void fold(const fused_ctx *f, const float *dcols, long ld, float *planes, long oy0, long oy1) {
  const long ow = f->g.ow;
  for (long row = 0; row < f->ckk; row++) {
    float *dst = planes + f->row_off[row] + oy0 * f->pitch;
    const float *in = dcols + row * ld;
    for (long oy = oy0; oy < oy1; oy++, dst += f->pitch, in += ow) add_run(dst, in, ow);
  }
}

/* y[o * ldy + p] = t[p * ldt + o] for p < rows, o < cols, in 16×16 blocks. */
NV_CLONES static void transpose_block(const float *t, long ldt, float *y, long ldy, long rows, long cols) {
  for (long p0 = 0; p0 < rows; p0 += 16)
    for (long o0 = 0; o0 < cols; o0 += 16) {
      long p1 = NV_MIN(rows, p0 + 16), o1 = NV_MIN(cols, o0 + 16);
      for (long o = o0; o < o1; o++)
        for (long p = p0; p < p1; p++) y[o * ldy + p] = t[p * ldt + o];
    }
}

/* ---- weight gradients with a long reduction: dot products, no packing
 * C[i, j] (+)= Σ_img Σ_{p<k} A[img*sa + i*lda + p] · B[img*sb + j*ldb + p] for i < m, j < n: both operands
 * run along p, so instead of transposing them into GEMM panels each 4×4 block of C keeps 16 vector sums
 * over all the images and reduces them once. Edge blocks repeat the last row (results dropped). Pays off
 * when the reduction is long and C small (e.g. k = 2048 per tile, C 32 × 28: a first conv over many small
 * images). */
#define DOTS_BODY(V, L)                                                                                        \
  for (long i0 = 0; i0 < m; i0 += 4)                                                                           \
    for (long j0 = 0; j0 < n; j0 += 4) {                                                                      \
      V acc[4][4];                                                                                             \
      float tail[4][4] = {{0}};                                                                                \
      memset(acc, 0, sizeof acc);                                                                              \
      long ia[4], jb[4];                                                                                       \
      for (int r = 0; r < 4; r++) {                                                                            \
        ia[r] = NV_MIN(i0 + r, m - 1) * lda;                                                                   \
        jb[r] = NV_MIN(j0 + r, n - 1) * ldb;                                                                   \
      }                                                                                                        \
      for (long img = 0; img < nimg; img++) {                                                                  \
        const float *a = A + img * sa, *b = B + img * sb;                                                      \
        long p = 0;                                                                                            \
        for (; p + L <= k; p += L) {                                                                           \
          V av[4], bv[4];                                                                                      \
          for (int r = 0; r < 4; r++) {                                                                        \
            memcpy(&av[r], a + ia[r] + p, sizeof(V));                                                          \
            memcpy(&bv[r], b + jb[r] + p, sizeof(V));                                                          \
          }                                                                                                    \
          for (int r = 0; r < 4; r++)                                                                          \
            for (int q = 0; q < 4; q++) acc[r][q] += av[r] * bv[q];                                            \
        }                                                                                                      \
        for (; p < k; p++)                                                                                     \
          for (int r = 0; r < 4; r++)                                                                          \
            for (int q = 0; q < 4; q++) tail[r][q] += a[ia[r] + p] * b[jb[q] + p];                             \
      }                                                                                                        \
      for (int r = 0; r < 4 && i0 + r < m; r++)                                                                \
        for (int q = 0; q < 4 && j0 + q < n; q++) {                                                            \
          float sum = tail[r][q];                                                                              \
          for (int l = 0; l < L; l++) sum += acc[r][q][l];                                                     \
          float *c = C + (i0 + r) * ldc + j0 + q;                                                              \
          *c = accumulate ? *c + sum : sum;                                                                    \
        }                                                                                                      \
    }

#define DOTS_ARGS                                                                                              \
  long m, long n, long k, long nimg, const float *A, long lda, long sa, const float *B, long ldb, long sb,    \
      float *C, long ldc, int accumulate

typedef float v8f __attribute__((vector_size(32)));
static void dots_v8(DOTS_ARGS) { DOTS_BODY(v8f, 8) }
#if NV_X86
typedef float v16f __attribute__((vector_size(64)));
__attribute__((target("avx512f,avx2,fma"))) static void dots_v16(DOTS_ARGS) { DOTS_BODY(v16f, 16) }
#endif

static void nt_dots(DOTS_ARGS) {
#if NV_X86
  if (nv_isa() == NV_ISA_AVX512) {
    dots_v16(m, n, k, nimg, A, lda, sa, B, ldb, sb, C, ldc, accumulate);
    return;
  }
#endif
  dots_v8(m, n, k, nimg, A, lda, sa, B, ldb, sb, C, ldc, accumulate);
}

/* A thread's buffers, all within its WORK scratch. */
typedef struct {
  float *cols, *dcols, *dyt, *planes, *dplanes, *tmp;
} tile_buffers;

static tile_buffers tile_scratch(const fused_ctx *f) {
  const long W = f->tile_width, np = f->plane_floats;
  long total = f->ckk1 * W + f->ckk * W + f->o * W + 2 * np + f->g.h * f->g.w;
  tile_buffers t;
  t.cols = nv_scratch(NV_SCRATCH_WORK, (size_t)total * sizeof(float));
  t.dcols = t.cols + f->ckk1 * W;
  t.dyt = t.dcols + f->ckk * W;
  t.planes = t.dyt + f->o * W;
  t.dplanes = t.planes + np;
  t.tmp = t.dplanes + np;
  memset(t.planes, 0, (size_t)np * sizeof(float)); /* the padding slots, never written again */
  return t;
}

/* Tiles of images [i0, i1): images [a, b) together when whole images fit, else bands of one image. */
#define FOR_TILES(f, i0, i1)                                                                                   \
  for (long a = (i0); a < (i1); a += (f)->tile_images)                                                         \
    for (long b = NV_MIN((i1), a + (f)->tile_images), oy0 = 0; oy0 < (f)->g.oh; oy0 += (f)->tile_rows)         \
      for (long oy1 = NV_MIN((f)->g.oh, oy0 + (f)->tile_rows), tp = (oy1 - oy0) * (f)->g.ow,                   \
                width = (b - a) * tp, once = 1;                                                                \
           once; once = 0)

/* The columns of a tile, images side by side, with the ones row under them when there is a bias. */
static void tile_columns(const fused_ctx *f, const tile_buffers *t, long a, long b, long oy0, long oy1,
                         long width) {
  const long tp = (oy1 - oy0) * f->g.ow;
  for (long img = a; img < b; img++) {
    if (oy0 == 0) split_phases(f, f->x + img * f->image, t->planes, t->tmp); /* bands reuse the planes */
    unfold(f, t->planes, t->cols + (img - a) * tp, width, oy0, oy1);
  }
  for (long p = 0; p < width * (f->ckk1 - f->ckk); p++) t->cols[f->ckk * width + p] = 1.0f;
}

static void forward_images(void *vctx, long i0, long i1) {
  const fused_ctx *f = vctx;
  const long P = f->pixels, ow = f->g.ow;
  tile_buffers t = tile_scratch(f);
  FOR_TILES(f, i0, i1) {
    tile_columns(f, &t, a, b, oy0, oy1, width);
    if (f->transposed) { /* yᵀ[tile] = [cols; 1]ᵀ · [W | b]ᵀ, then into each image's [O, P] block */
      nv_sgemm_packb(1, width, f->o, 0, f->ckk1, 1.0f, t.cols, width, f->wt_packed, f->ckk1, f->o, 0.0f, t.dyt,
                     f->o);
      for (long img = a; img < b; img++)
        transpose_block(t.dyt + (img - a) * tp * f->o, f->o, f->y + img * f->o * P + oy0 * ow, P, tp, f->o);
    } else { /* y[img][:, band] = [W | b] · [cols; 1] */
      for (long img = a; img < b; img++)
        nv_gemm(f->bf16, 0, 0, f->o, tp, f->ckk1, 1.0f, f->wb, f->ckk1, t.cols + (img - a) * tp, width, 0.0f,
                f->y + img * f->o * P + oy0 * ow, P, 0);
    }
  }
}

/* Group q: its images' [dW | db] summed into partial q (when wanted), and their dx (when wanted). */
static void backward_groups(void *vctx, long q0, long q1) {
  const fused_ctx *f = vctx;
  const long P = f->pixels, ow = f->g.ow;
  tile_buffers t = tile_scratch(f);
  for (long q = q0; q < q1; q++) {
    float *part = f->partials ? f->partials + q * f->o * f->ckk1 : NULL;
    int first = 1;
    FOR_TILES(f, q * f->group, NV_MIN(f->g.n, (q + 1) * f->group)) {
      if (part && f->dots) { /* [dW | db]ᵀ += Σ_img [cols_img; 1] · dY_imgᵀ as dot products */
        tile_columns(f, &t, a, b, oy0, oy1, width);
        nt_dots(f->ckk1, f->o, tp, b - a, t.cols, width, tp, f->dy + a * f->o * P + oy0 * ow, P, f->o * P, part,
                f->o, !first);
        first = 0;
        if (!f->dx) continue;
      }
      /* dY of the tile as one [O, width] matrix: in place for one image, else gathered */
      const float *dy = f->dy + a * f->o * P + oy0 * ow;
      long ld = P;
      if (b - a > 1) {
        for (long img = a; img < b; img++)
          for (long oc = 0; oc < f->o; oc++)
            copy_run(t.dyt + oc * width + (img - a) * tp, f->dy + (img * f->o + oc) * P + oy0 * ow, tp);
        dy = t.dyt;
        ld = width;
      }
      if (part && !f->dots) { /* [dW | db]ᵀ += [cols; 1] · dYᵀ (C*kh*kw + 1 rows tile better than O) */
        tile_columns(f, &t, a, b, oy0, oy1, width);
        nv_gemm(f->bf16, 0, 1, f->ckk1, f->o, width, 1.0f, t.cols, width, dy, ld, first ? 0.0f : 1.0f, part, f->o,
                0);
        first = 0;
      }
      if (f->dx) { /* dcols = Wᵀ · dY, folded back onto each image */
        nv_gemm(f->bf16, 1, 0, f->ckk, width, f->o, 1.0f, f->w, f->ckk, dy, ld, 0.0f, t.dcols, width, 0);
        for (long img = a; img < b; img++) {
          if (oy0 == 0) memset(t.dplanes, 0, (size_t)f->plane_floats * sizeof(float));
          fold(f, t.dcols + (img - a) * tp, width, t.dplanes, oy0, oy1);
          if (oy1 == f->g.oh) merge_phases(f, t.dplanes, f->dx + img * f->image, t.tmp);
        }
      }
    }
    if (part && first) memset(part, 0, (size_t)(f->o * f->ckk1) * sizeof(float)); /* no images */
  }
}

typedef struct {
  const fused_ctx *f;
  float *dw, *db;
} reduce_ctx;

/* Rows [r0, r1) of [dW | db]ᵀ (the partials' layout, C*kh*kw + 1 rows of O) += the partials, added in
 * group order. */
static void reduce_partials(void *vctx, long r0, long r1) {
  const reduce_ctx *r = vctx;
  const fused_ctx *f = r->f;
  const long o = f->o, ckk = f->ckk, stride = o * f->ckk1;
  for (long row = r0; row < r1; row++) {
    float *dst = row < ckk ? r->dw : r->db;
    if (!dst) continue;
    const long step = row < ckk ? ckk : 1, at = row < ckk ? row : 0;
    for (long q = 0; q < f->groups; q++) {
      const float *p = f->partials + q * stride + row * o;
      for (long oc = 0; oc < o; oc++) dst[oc * step + at] += p[oc];
    }
  }
}

/* Geometry, tiling and the tables every tile reads, in the calling thread's WORK2 scratch. */
static fused_ctx fused_setup(const float *x, const float *w, const float *b, long n, long c, long h, long wd,
                             long o, long kh, long kw, long stride, long pad, int with_bias, int forward,
                             int bf16) {
  fused_ctx f = {.x = x, .w = w, .o = o, .bf16 = bf16};
  f.g = make_ctx(n, c, h, wd, kh, kw, stride, pad);
  const long s = stride, oh = f.g.oh, ow = f.g.ow;
  f.ckk = c * kh * kw;
  f.ckk1 = f.ckk + (with_bias ? 1 : 0);
  f.pixels = oh * ow;
  f.image = c * h * wd;
  f.hp = h + 2 * pad;
  f.wp = (wd + 2 * pad + s - 1) / s;
  f.fast = wd % s == 0;
  f.ws = wd / s;
  f.pitch = s * s * f.wp;
  f.plane_floats = c * f.hp * s * f.wp;
  /* Tiles: as many whole images as fit the budget, else bands of output rows. */
  const long per_pixel = NV_MAX(f.ckk1, o);
  if (per_pixel * f.pixels <= CONV_TILE_FLOATS) {
    f.tile_images = NV_MAX(1L, NV_MIN(n, CONV_TILE_FLOATS / (per_pixel * f.pixels)));
    f.tile_rows = oh;
  } else {
    f.tile_images = 1;
    f.tile_rows = NV_MAX(1L, NV_MIN(oh, CONV_TILE_FLOATS / (per_pixel * ow)));
  }
  f.tile_width = f.tile_images * f.tile_rows * ow;
  /* The transposed forward packs [W | b]ᵀ once instead of W for every image: worth it when the weights
   * are larger than a tile's image outputs. */
  f.transposed = forward && f.ckk1 > f.tile_rows * ow && !bf16;
  /* Dot products beat packing both operands of the weight gradient when the tile's reduction is long and
   * the gradient small. */
  f.dots = f.tile_width >= 1024 && o * f.ckk1 <= 4096 && !bf16;

  size_t floats = (size_t)(o * f.ckk1 + (f.transposed ? nv_packb_floats(f.ckk1, o) : 0) + 16);
  size_t longs = (size_t)(f.ckk + 2 * s);
  char *mem = nv_scratch(NV_SCRATCH_WORK2, floats * sizeof(float) + longs * sizeof(long) + 64);
  float *wb = (float *)mem;
  long *tab = (long *)(mem + floats * sizeof(float));
  f.wb = w;
  if (with_bias && forward) { /* [W | b] (the backward reads only W) */
    for (long r = 0; r < o; r++) {
      memcpy(wb + r * f.ckk1, w + r * f.ckk, (size_t)f.ckk * sizeof(float));
      wb[r * f.ckk1 + f.ckk] = b[r];
    }
    f.wb = wb;
  }
  if (f.transposed) {
    float *wt = wb + o * f.ckk1;
    nv_packb(1, f.ckk1, o, f.wb, f.ckk1, wt);
    f.wt_packed = wt;
  }
  long *row_off = tab, *j0 = tab + f.ckk, *ix0 = j0 + s;
  for (long row = 0; row < f.ckk; row++) {
    long ch = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw;
    row_off[row] = ((ch * f.hp + ki) * s + kj % s) * f.wp + kj / s;
  }
  for (long ph = 0; ph < s; ph++) {
    j0[ph] = ph >= pad ? 0 : (pad - ph + s - 1) / s;
    ix0[ph] = j0[ph] * s + ph - pad;
  }
  f.row_off = row_off;
  f.ph_j0 = j0;
  f.ph_ix0 = ix0;
  return f;
}

typedef struct {
  float *y;
  const float *b;
  long o, pixels;
} bias_ctx;

/* bf16 forward: y[img, oc, :] += b[oc] for images [i0, i1). */
static void add_bias_images(void *vctx, long i0, long i1) {
  const bias_ctx *c = vctx;
  for (long img = i0; img < i1; img++)
    for (long oc = 0; oc < c->o; oc++) {
      float *row = c->y + (img * c->o + oc) * c->pixels, bv = c->b[oc];
      for (long p = 0; p < c->pixels; p++) row[p] += bv;
    }
}

/* y [n, O, oh, ow] = conv(x [n, C, h, w], w [O, C, kh, kw]) + b (b may be NULL); overwrites y. bf16: the
 * products round x and w to bf16 (fp32 sums; the bias added in fp32) when a bf16 engine is in use. */
static void nv_conv2d(const float *x, const float *w, const float *b, float *y, long n, long c, long h, long wd, long o,
               long kh, long kw, long stride, long pad, int bf16) {
  if (n <= 0 || o <= 0 || (h + 2 * pad - kh) < 0 || (wd + 2 * pad - kw) < 0) return;
  bf16 = bf16 && nv_bf16() != NV_BF16_OFF;
  fused_ctx f = fused_setup(x, w, b, n, c, h, wd, o, kh, kw, stride, pad, b != NULL && !bf16, 1, bf16);
  f.y = y;
  double flops = 2.0 * o * f.ckk1 * f.pixels + 1.0;
  long grain = NV_MAX(f.tile_images, (long)(4e5 / flops) / f.tile_images * f.tile_images);
  nv_parallel_for(n, grain, f.tile_images, forward_images, &f);
  if (bf16 && b) {
    bias_ctx bc = {y, b, o, f.pixels};
    nv_parallel_for(n, NV_MAX(1L, 65536 / (o * f.pixels + 1)), 1, add_bias_images, &bc);
  }
}

typedef struct {
  const float *dy;
  float *db;
  long n, o, pixels;
} bias_grad_ctx;

/* bf16 backward: db[oc] += Σ_img Σ_p dy[img, oc, p] for channels [o0, o1), images in order (in double). */
static void bias_grad_channels(void *vctx, long o0, long o1) {
  const bias_grad_ctx *c = vctx;
  for (long oc = o0; oc < o1; oc++) {
    double s = 0;
    for (long img = 0; img < c->n; img++) {
      const float *row = c->dy + (img * c->o + oc) * c->pixels;
      for (long p = 0; p < c->pixels; p++) s += row[p];
    }
    c->db[oc] += (float)s;
  }
}

/* Accumulates dx, dw, db (each may be NULL: not wanted) from dy [n, O, oh, ow]; dx is overwritten instead
 * when !accumulate_dx. */
static void nv_conv2d_backward(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db, long n,
                        long c, long h, long wd, long o, long kh, long kw, long stride, long pad,
                        int accumulate_dx, int bf16) {
  if (n <= 0 || o <= 0 || (h + 2 * pad - kh) < 0 || (wd + 2 * pad - kw) < 0) return;
  if (c == 0) dx = dw = NULL;
  if (!dx && !dw && !db) return;
  bf16 = bf16 && nv_bf16() != NV_BF16_OFF;
  if (bf16 && db) { /* the bias gradient in fp32, from dy as it is (the GEMMs see no ones row) */
    long pixels = ((h + 2 * pad - kh) / stride + 1) * ((wd + 2 * pad - kw) / stride + 1);
    bias_grad_ctx bc = {dy, db, n, o, pixels};
    nv_parallel_for(o, 1, 1, bias_grad_channels, &bc);
    db = NULL;
    if (!dx && !dw) return;
  }
  fused_ctx f = fused_setup(x, w, NULL, n, c, h, wd, o, kh, kw, stride, pad, db != NULL, 0, bf16);
  f.dy = dy;
  f.dx = dx;
  f.accumulate_dx = accumulate_dx;
  /* Groups of whole tiles, fixed by the sizes only (never the thread count): that fixes the sums' order. */
  if (dw || db) {
    /* at least CONV_GROUP_IMAGES images a group, so a small batch does not pay a big reduction */
    long groups = (n + CONV_GROUP_IMAGES - 1) / CONV_GROUP_IMAGES;
    groups = NV_MAX(1L, NV_MIN(NV_MIN(groups, CONV_MAX_GROUPS), CONV_PARTIAL_FLOATS / (o * f.ckk1)));
    f.group = (n + groups - 1) / groups;
    f.group = (f.group + f.tile_images - 1) / f.tile_images * f.tile_images;
  } else {
    f.group = f.tile_images;
  }
  f.groups = (n + f.group - 1) / f.group;
  if (dw || db) f.partials = nv_scratch(NV_SCRATCH_REDUCE, (size_t)(f.groups * o * f.ckk1) * sizeof(float));
  nv_parallel_for(f.groups, 1, 1, backward_groups, &f);
  if (f.partials) {
    reduce_ctx r = {&f, dw, db};
    nv_parallel_for(f.ckk1, NV_MAX(1L, 16384L / (f.groups * o)), 1, reduce_partials, &r);
  }
}

/* ---- JavaScript entry points (native/binding.h) ---- */
typedef struct {
  int64_t n, c, h, w, o, kh, kw, stride, pad, oh, ow;
} conv_dims;

static conv_dims get_conv_dims(nv_call *c, int at) {
  conv_dims d;
  d.n = arg_int(c, at, "n", 0), d.c = arg_int(c, at + 1, "c", 0), d.h = arg_int(c, at + 2, "h", 0);
  d.w = arg_int(c, at + 3, "width", 0), d.o = arg_int(c, at + 4, "o", 0), d.kh = arg_int(c, at + 5, "kh", 1);
  d.kw = arg_int(c, at + 6, "kw", 1), d.stride = arg_int(c, at + 7, "stride", 1), d.pad = arg_int(c, at + 8, "pad", 0);
  d.oh = d.ow = 0;
  if (!c->failed && d.h + 2 * d.pad >= d.kh && d.w + 2 * d.pad >= d.kw) {
    d.oh = (d.h + 2 * d.pad - d.kh) / d.stride + 1;
    d.ow = (d.w + 2 * d.pad - d.kw) / d.stride + 1;
  }
  return d;
}

NV_KERNEL(conv2d, 13) {
  conv_dims d = get_conv_dims(C, 4);
  float *x = arg_f32(C, 0, "x", d.n * d.c * d.h * d.w);
  float *w = arg_f32(C, 1, "weight", d.o * d.c * d.kh * d.kw);
  float *b = arg_f32_opt(C, 2, "bias", d.o);
  float *y = arg_f32(C, 3, "y", d.n * d.o * d.oh * d.ow);
  int bf16 = C->argc > 13 ? arg_bool(C, 13, "bf16") : 0;
  ARGS_OK
  nv_conv2d(x, w, b, y, d.n, d.c, d.h, d.w, d.o, d.kh, d.kw, d.stride, d.pad, bf16);
  return NULL;
}

NV_KERNEL(conv2dBackward, 16) {
  conv_dims d = get_conv_dims(C, 6);
  float *x = arg_f32(C, 0, "x", d.n * d.c * d.h * d.w);
  float *w = arg_f32(C, 1, "weight", d.o * d.c * d.kh * d.kw);
  float *dy = arg_f32(C, 2, "dy", d.n * d.o * d.oh * d.ow);
  float *dx = arg_f32_opt(C, 3, "dx", d.n * d.c * d.h * d.w);
  float *dw = arg_f32_opt(C, 4, "dweight", d.o * d.c * d.kh * d.kw);
  float *db = arg_f32_opt(C, 5, "dbias", d.o);
  int accumulate_dx = arg_bool(C, 15, "accumulateDx");
  int bf16 = C->argc > 16 ? arg_bool(C, 16, "bf16") : 0;
  ARGS_OK
  nv_conv2d_backward(x, w, dy, dx, dw, db, d.n, d.c, d.h, d.w, d.o, d.kh, d.kw, d.stride, d.pad, accumulate_dx,
                     bf16);
  return NULL;
}
