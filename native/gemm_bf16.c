/* bf16 matrix products: C = alpha op(A)·op(B) + beta C, where A and B are rounded to bf16 while they are
 * packed (nv_bf16_round: round to nearest even, subnormals to zero, as VCVTNEPS2BF16 does) and the products
 * are summed in fp32. Two engines, picked at run time from cpuid:
 *
 *   AVX512-BF16 (Zen 4/5, Cooper Lake and later Xeons): a 12×32 tile of C in 24 zmm accumulators, one
 *     `vdpbf16ps` per 16 columns and pair of k (two products per fp32 lane: twice the fp32 FMA rate).
 *     Both operands are packed as bf16 pairs (k, k+1) in one 32-bit word: A [pair][row], B [pair][column].
 *   AMX (Sapphire Rapids and later): a 32×32 block of C in four 16×16 tiles, `tdpbf16ps` on 16×32 tiles
 *     of A (rows packed row-major in bf16) and 16-pair tiles of B (the same pair layout as above). Linux
 *     lends the tile registers only after arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
 *
 * Both are compiled with per-function target attributes, so the addon still loads on CPUs with neither.
 * B is packed whole first (panel ranges in parallel), then units of C (row blocks × column groups) are
 * claimed by the pool; each element of C is summed by one tile in the same k order whatever the thread
 * count, so results are bit-identical on 1, 2 or 3 threads. */
#include <stdlib.h>

#include "common.h"
#include "binding.h"
/* The bf16 and AMX intrinsics need GCC 11 or clang 12; an older compiler builds the addon without them. */
#if defined(NV_X86) && ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11))
#define NV_BF16_KERNELS 1
#endif
#if NV_BF16_KERNELS
#include <cpuid.h>
#include <immintrin.h>
#include "transpose.h"
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

#define BF_NR 32     /* columns of a tile and of a packed B panel */
#define BF_KC 256    /* k per block: even, and a multiple of 32 (one AMX tile step) */
#define BF_KP (BF_KC / 2)
#define AVX_MR 12    /* rows of an AVX512-BF16 tile */
#define AMX_MR 32    /* rows of an AMX block (two 16-row tiles) */
#define UNIT_TILES 4 /* row tiles per unit of work */
#define UNIT_PANELS 8

/* ---------------------------------------------------------------- dispatch */

static int g_bf16 = -1, g_bf16_supported = -1;

#if NV_BF16_KERNELS
static int cpu_has_avx512_bf16(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
  return (a >> 5) & 1;
}
static int cpu_has_amx_bf16(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return ((d >> 22) & 1) && ((d >> 24) & 1); /* AMX-BF16 and AMX-TILE */
}
/* Asks Linux for the AMX tile data state (once per process; every thread may then use the tiles). */
static int amx_permitted(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
  return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
  return 0;
#endif
}
#endif

static int bf16_from_env(void) {
  const char *s = getenv("NANOVLM_BF16");
  if (!s || !*s) return NV_BF16_AMX;
  if (strcmp(s, "off") == 0 || strcmp(s, "0") == 0) return NV_BF16_OFF;
  if (strcmp(s, "avx512bf16") == 0) return NV_BF16_AVX512;
  return NV_BF16_AMX;
}

int nv_bf16_supported(void) {
  if (g_bf16_supported < 0) {
    g_bf16_supported = NV_BF16_OFF;
#if NV_BF16_KERNELS
    __builtin_cpu_init();
    if (nv_isa_supported() == NV_ISA_AVX512 && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && cpu_has_avx512_bf16()) {
      g_bf16_supported = NV_BF16_AVX512;
      if (cpu_has_amx_bf16() && amx_permitted()) g_bf16_supported = NV_BF16_AMX;
    }
#endif
  }
  return g_bf16_supported;
}

/* The engine in use: the one asked for (NANOVLM_BF16, nv_set_bf16), clamped to the CPU, and off
 * whenever the fp32 kernels are forced below AVX-512 (NANOVLM_ISA=avx2 or generic). */
int nv_bf16(void) {
  if (g_bf16 < 0) g_bf16 = bf16_from_env();
  int sup = nv_bf16_supported();
  if (nv_isa() != NV_ISA_AVX512) return NV_BF16_OFF;
  return g_bf16 < sup ? g_bf16 : sup;
}

void nv_set_bf16(int engine) { g_bf16 = engine < 0 ? 0 : engine; }

/* ---------------------------------------------------------------- conversion */

/* y[i] = x[i] rounded to bf16 (and back to float) */
static void nv_round_bf16(const float *x, float *y, long n) {
  for (long i = 0; i < n; i++) y[i] = nv_bits_to_float((uint32_t)nv_bf16_round(x[i]) << 16);
}

#if NV_BF16_KERNELS
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))
#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

static inline __mmask16 first_bits(long n) { return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1); }

/* 32 floats (masked to n valid ones, zeros beyond) -> 16 words, word w = bf16 pair (x[2w], x[2w+1]). */
BF16_TARGET static inline __m512i pairs_of_row(const float *x, long n) {
  __m512 lo = _mm512_maskz_loadu_ps(first_bits(n), x), hi = _mm512_maskz_loadu_ps(first_bits(n - 16), x + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* Two rows of 16 floats (n valid, zeros beyond; x1 NULL = zeros) -> word j = pair (x0[j], x1[j]). */
BF16_TARGET static inline __m512i pairs_of_two_rows(const float *x0, const float *x1, long n) {
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                              22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  __mmask16 m = first_bits(n);
  __m512 lo = _mm512_maskz_loadu_ps(m, x0), hi = x1 ? _mm512_maskz_loadu_ps(m, x1) : _mm512_setzero_ps();
  return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* Pair layout from rows that run along k (A untransposed, B transposed):
 *   dst[p*R + r] = pair(src[r*ld + 2p], src[r*ld + 2p + 1]) for r < rr, p < kp; zero for r >= rr or k >= kc. */
BF16_TARGET static void pack_pairs_rows(uint32_t *restrict dst, const float *restrict src, long ld, int R, int rr,
                                        long kc, long kp) {
  for (long p0 = 0; p0 < kp; p0 += 16) {
    long k0 = 2 * p0, np = NV_MIN(16L, kp - p0);
    for (int r0 = 0; r0 < R; r0 += 16) {
      int rows = NV_MIN(16, R - r0);
      __m512 v[16];
      for (int i = 0; i < 16; i++)
        v[i] = r0 + i < rr ? (__m512)pairs_of_row(src + (r0 + i) * ld + k0, kc - k0) : _mm512_setzero_ps();
      transpose16(v); /* v[c]: pair p0 + c of rows r0.. */
      __mmask16 keep = first_bits(rows);
      for (long c = 0; c < np; c++) _mm512_mask_storeu_ps((float *)(dst + (p0 + c) * R + r0), keep, v[c]);
    }
  }
}

/* Pair layout from rows that run along the other index (A transposed, B untransposed):
 *   dst[p*R + r] = pair(src[2p*ld + r], src[(2p+1)*ld + r]) for r < rr, p < kp; zero for r >= rr or k >= kc. */
BF16_TARGET static void pack_pairs_cols(uint32_t *restrict dst, const float *restrict src, long ld, int R, int rr,
                                        long kc, long kp) {
  for (long p = 0; p < kp; p++) {
    const float *x0 = 2 * p < kc ? src + 2 * p * ld : NULL, *x1 = 2 * p + 1 < kc ? src + (2 * p + 1) * ld : NULL;
    for (int r0 = 0; r0 < R; r0 += 16) {
      __m512i w = x0 ? pairs_of_two_rows(x0 + r0, x1 ? x1 + r0 : NULL, rr - r0) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(dst + p * R + r0, first_bits(R - r0), w);
    }
  }
}

/* AMX's A layout: R rows of 2*kp bf16 each (row r at dst + r*2*kp), zero past kc and past rr. */
BF16_TARGET static void pack_rows_bf16(uint16_t *restrict dst, const float *restrict src, long ld, long lstep,
                                       int R, int rr, long kc, long kp) {
  /* lstep: distance between consecutive k of one row (1 untransposed; ld = row distance then) */
  for (int r = 0; r < R; r++) {
    uint16_t *d = dst + r * 2 * kp;
    if (r >= rr) {
      memset(d, 0, (size_t)(2 * kp) * sizeof(uint16_t));
      continue;
    }
    if (lstep == 1) {
      for (long k0 = 0; k0 < 2 * kp; k0 += 32) _mm512_storeu_si512(d + k0, pairs_of_row(src + r * ld + k0, kc - k0));
    } else {
      for (long k = 0; k < 2 * kp; k++) d[k] = k < kc ? nv_bf16_round(src[k * lstep + r * ld]) : 0;
    }
  }
}

/* C (mr×nr of a tile, alpha, beta; beta = 0 overwrites) from 16 accumulated lanes. */
BF16_TARGET static inline void store_lanes(float *c, __m512 acc, float alpha, float beta, __mmask16 m) {
  __m512 v = _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
  if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c), v);
  _mm512_mask_storeu_ps(c, m, v);
}

#define BF_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define BF_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define BF_STEP(r)                                                                                             \
  {                                                                                                            \
    __m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[r]);                                                      \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, ar, b0);                                                               \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, ar, b1);                                                               \
  }
#define BF_STORE(r)                                                                                            \
  if (r < mr) {                                                                                                \
    store_lanes(c + r * ldc, c##r##0, alpha, beta, m0);                                                        \
    store_lanes(c + r * ldc + 16, c##r##1, alpha, beta, m1);                                                   \
  }

/* One 12×32 tile: kp pairs of k from packed A (kp × 12 words) and a packed B panel (kp × 32 words). */
BF16_TARGET static void uk_avx512_bf16(long kp, const void *av, const uint32_t *b, float *c, long ldc, float alpha,
                                       float beta, int mr, int nr) {
  const uint32_t *a = av;
  BF_ROWS(BF_DECL)
#pragma GCC unroll 2
  for (long p = 0; p < kp; p++) {
    __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
    BF_ROWS(BF_STEP)
    a += AVX_MR;
    b += BF_NR;
  }
  __mmask16 m0 = first_bits(nr), m1 = first_bits(nr - 16);
  BF_ROWS(BF_STORE)
}

/* One 32×32 block with AMX: C tiles 0-3, A tiles 4-5 (rows 0-15, 16-31), B tiles 6-7 (columns 0-15, 16-31).
 * Not measured on the machine this was written on (it has no AMX). */
typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_config;

AMX_TARGET static void amx_configure(void) {
  amx_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _tile_loadconfig(&cfg);
}

AMX_TARGET static void uk_amx_bf16(long kp, const void *av, const uint32_t *b, float *c, long ldc, float alpha,
                                   float beta, int mr, int nr) {
  const uint16_t *a = av; /* 32 rows of 2*kp bf16; kp is a multiple of 16 */
  float t[AMX_MR * BF_NR] __attribute__((aligned(64)));
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const long arow = 4 * kp; /* bytes between rows of packed A */
  for (long p = 0; p < kp; p += 16) {
    _tile_loadd(4, a + 2 * p, arow);
    _tile_loadd(5, a + 16 * 2 * kp + 2 * p, arow);
    _tile_loadd(6, b + p * BF_NR, BF_NR * 4);
    _tile_loadd(7, b + p * BF_NR + 16, BF_NR * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, t, BF_NR * 4);
  _tile_stored(1, t + 16, BF_NR * 4);
  _tile_stored(2, t + 16 * BF_NR, BF_NR * 4);
  _tile_stored(3, t + 16 * BF_NR + 16, BF_NR * 4);
  __mmask16 m0 = first_bits(nr), m1 = first_bits(nr - 16);
  for (int r = 0; r < mr; r++) {
    store_lanes(c + r * ldc, _mm512_load_ps(t + r * BF_NR), alpha, beta, m0);
    store_lanes(c + r * ldc + 16, _mm512_load_ps(t + r * BF_NR + 16), alpha, beta, m1);
  }
}
AMX_TARGET static void amx_release(void) { _tile_release(); }

/* ---------------------------------------------------------------- few rows times a transposed B
 * C = alpha A·Bᵀ + beta C with m <= 8 and B stored n×k (a decode step's x·Wᵀ): packing all of W for a row
 * or two would cost more than the products, so each output is a dot product of A's row (converted to bf16
 * pairs once per call) and B's row, converted as it is read. As the fp32 path in gemm.c: a tile is 16 dot
 * products (MI rows of A × 16/MI rows of B) in 16 accumulators, summed across lanes all at once. */
#define BF_SMALL_M 8
#define BL_DOT(l) acc##l = _mm512_dpbf16_ps(acc##l, xa[(l) / R], bw[(l) % R]);
#define BF_SMALL_TILE(MI)                                                                                      \
  BF16_TARGET static void bf_small_tile##MI(long k, const uint32_t *ap, long kw, int mv, const float *b,      \
                                            long ldb, int rw, float *c, long ldc, float alpha, float beta) {  \
    enum { R = 16 / MI };                                                                                      \
    const float *br[R];                                                                                        \
    const uint32_t *ar[MI]; /* rows past the valid mv / rw repeat row 0 and are not stored */                 \
    for (int jj = 0; jj < R; jj++) br[jj] = b + (jj < rw ? jj : 0) * ldb;                                      \
    for (int ii = 0; ii < MI; ii++) ar[ii] = ap + (ii < mv ? ii : 0) * kw;                                     \
    LANES16(ACC_DECL)                                                                                          \
    for (long p = 0; p < k; p += 32) {                                                                         \
      __m512bh xa[MI], bw[R];                                                                                  \
      for (int ii = 0; ii < MI; ii++) xa[ii] = (__m512bh)_mm512_loadu_si512(ar[ii] + p / 2);                  \
      for (int jj = 0; jj < R; jj++) bw[jj] = (__m512bh)pairs_of_row(br[jj] + p, k - p);                      \
      LANES16(BL_DOT)                                                                                          \
    }                                                                                                          \
    store_tile_rows(_mm512_mul_ps(_mm512_set1_ps(alpha), ACC_SUMS), c, ldc, mv, R, rw, beta);                  \
  }
BF_SMALL_TILE(1)
BF_SMALL_TILE(2)
BF_SMALL_TILE(4)

typedef struct {
  long m, n, k, kw, ldb, ldc;
  float alpha, beta;
  const uint32_t *ap;
  const float *B;
  float *C;
} bf_small_job;

static void bf_small_blocks(void *vctx, long b0, long b1) {
  const bf_small_job *j = vctx;
  for (long blk = b0; blk < b1; blk++) {
    long j0 = blk * 16, rows = NV_MIN(16L, j->n - j0);
    for (long i = 0; i < j->m; i += 4) {
      int mv = (int)NV_MIN(4L, j->m - i), mi = mv == 3 ? 4 : mv, R = 16 / mi;
      for (long jj = 0; jj < rows; jj += R) {
        int rw = (int)NV_MIN((long)R, rows - jj);
        const uint32_t *a = j->ap + i * j->kw;
        const float *b = j->B + (j0 + jj) * j->ldb;
        float *c = j->C + i * j->ldc + j0 + jj;
        if (mi == 4) bf_small_tile4(j->k, a, j->kw, mv, b, j->ldb, rw, c, j->ldc, j->alpha, j->beta);
        else if (mi == 2) bf_small_tile2(j->k, a, j->kw, mv, b, j->ldb, rw, c, j->ldc, j->alpha, j->beta);
        else bf_small_tile1(j->k, a, j->kw, mv, b, j->ldb, rw, c, j->ldc, j->alpha, j->beta);
      }
    }
  }
}

/* A's rows as bf16 pairs (kw words a row, zero past k), then the dot products. */
BF16_TARGET static void bf_small_m(long m, long n, long k, float alpha, const float *A, long lda, const float *B,
                                   long ldb, float beta, float *C, long ldc, int parallel) {
  const long kw = (k + 31) / 32 * 16;
  uint32_t *ap = nv_scratch(NV_SCRATCH_PACK_A, (size_t)(m * kw) * 4 + 64);
  for (long i = 0; i < m; i++)
    for (long p = 0; p < kw; p += 16) _mm512_storeu_si512(ap + i * kw + p, pairs_of_row(A + i * lda + 2 * p, k - 2 * p));
  bf_small_job j = {m, n, k, kw, ldb, ldc, alpha, beta, ap, B, C};
  long blocks = (n + 15) / 16;
  if (parallel && (double)m * n * k >= 1e5)
    nv_parallel_for(blocks, NV_MAX(1L, (long)(16384 / (16.0 * m * k))), 1, bf_small_blocks, &j);
  else bf_small_blocks(&j, 0, blocks);
}
#endif

/* ---------------------------------------------------------------- driver */

typedef struct {
  int engine, ta, tb, mr;
  long m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *A, *B;
  float *C;
  long mt, nt, kblocks, col_groups;
  uint32_t *bp; /* packed B: block q, panel p at bp + (q*nt + p) * BF_KP*BF_NR */
} bf_job;

/* Pairs of k a block holds (rounded up to a whole AMX tile step for AMX). */
static long block_pairs(const bf_job *j, long kc) {
  long kp = (kc + 1) / 2;
  return j->engine == NV_BF16_AMX ? (kp + 15) / 16 * 16 : kp;
}

#if NV_BF16_KERNELS
static void bf_pack_b(void *vctx, long p0, long p1) {
  const bf_job *j = vctx;
  for (long p = p0; p < p1; p++) {
    long col = p * BF_NR;
    int nr = (int)NV_MIN((long)BF_NR, j->n - col);
    for (long q = 0; q < j->kblocks; q++) {
      long pc = q * BF_KC, kc = NV_MIN((long)BF_KC, j->k - pc), kp = block_pairs(j, kc);
      uint32_t *dst = j->bp + (q * j->nt + p) * BF_KP * BF_NR;
      if (!j->tb) pack_pairs_cols(dst, j->B + pc * j->ldb + col, j->ldb, BF_NR, nr, kc, kp);
      else pack_pairs_rows(dst, j->B + col * j->ldb + pc, j->ldb, BF_NR, nr, kc, kp);
    }
  }
}

/* Units u0..u1: unit = UNIT_TILES row tiles × UNIT_PANELS column panels. */
static void bf_units(void *vctx, long u0, long u1) {
  const bf_job *j = vctx;
  const int MR = j->mr, amx = j->engine == NV_BF16_AMX;
  size_t abytes = (size_t)UNIT_TILES * MR * BF_KP * 4 + 64;
  void *ap = nv_scratch(NV_SCRATCH_PACK_A, abytes);
  if (amx) amx_configure();
  for (long u = u0; u < u1; u++) {
    long rg = u / j->col_groups, cg = u % j->col_groups;
    long t0 = rg * UNIT_TILES, t1 = NV_MIN(j->mt, t0 + UNIT_TILES);
    long p0 = cg * UNIT_PANELS, p1 = NV_MIN(j->nt, p0 + UNIT_PANELS);
    for (long q = 0; q < j->kblocks; q++) {
      long pc = q * BF_KC, kc = NV_MIN((long)BF_KC, j->k - pc), kp = block_pairs(j, kc);
      float beta = q == 0 ? j->beta : 1.0f;
      for (long t = t0; t < t1; t++) {
        long i0 = t * MR;
        int rr = (int)NV_MIN((long)MR, j->m - i0);
        if (amx) {
          uint16_t *d = (uint16_t *)ap + (t - t0) * MR * 2 * kp;
          if (!j->ta) pack_rows_bf16(d, j->A + i0 * j->lda + pc, j->lda, 1, MR, rr, kc, kp);
          else pack_rows_bf16(d, j->A + pc * j->lda + i0, 1, j->lda, MR, rr, kc, kp);
        } else {
          uint32_t *d = (uint32_t *)ap + (t - t0) * MR * kp;
          if (!j->ta) pack_pairs_rows(d, j->A + i0 * j->lda + pc, j->lda, MR, rr, kc, kp);
          else pack_pairs_cols(d, j->A + pc * j->lda + i0, j->lda, MR, rr, kc, kp);
        }
      }
      for (long p = p0; p < p1; p++) {
        const uint32_t *b = j->bp + (q * j->nt + p) * BF_KP * BF_NR;
        int nr = (int)NV_MIN((long)BF_NR, j->n - p * BF_NR);
        for (long t = t0; t < t1; t++) {
          long i0 = t * MR;
          int mr = (int)NV_MIN((long)MR, j->m - i0);
          float *c = j->C + i0 * j->ldc + p * BF_NR;
          if (amx)
            uk_amx_bf16(kp, (uint16_t *)ap + (t - t0) * MR * 2 * kp, b, c, j->ldc, j->alpha, beta, mr, nr);
          else uk_avx512_bf16(kp, (uint32_t *)ap + (t - t0) * MR * kp, b, c, j->ldc, j->alpha, beta, mr, nr);
        }
      }
    }
  }
  if (amx) amx_release();
}
#endif

int nv_gemm_bf16(int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda, const float *B,
                 long ldb, float beta, float *C, long ldc, int parallel) {
  int engine = nv_bf16();
  if (engine == NV_BF16_OFF) return 0;
#if NV_BF16_KERNELS
  if (m <= 0 || n <= 0) return 1;
  if (k <= 0 || alpha == 0.0f) {
    for (long i = 0; i < m; i++)
      for (long jj = 0; jj < n; jj++) C[i * ldc + jj] = beta == 0.0f ? 0.0f : beta * C[i * ldc + jj];
    return 1;
  }
  if (!ta && tb && m <= BF_SMALL_M) {
    bf_small_m(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, parallel);
    return 1;
  }
  bf_job j = {.engine = engine, .ta = ta, .tb = tb, .mr = engine == NV_BF16_AMX ? AMX_MR : AVX_MR, .m = m, .n = n,
              .k = k, .lda = lda, .ldb = ldb, .ldc = ldc, .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C};
  j.mt = (m + j.mr - 1) / j.mr;
  j.nt = (n + BF_NR - 1) / BF_NR;
  j.kblocks = (k + BF_KC - 1) / BF_KC;
  j.col_groups = (j.nt + UNIT_PANELS - 1) / UNIT_PANELS;
  /* B's scratch belongs to the calling thread; the pool's threads fill and read it inside this call */
  j.bp = nv_scratch(NV_SCRATCH_PACK_B, (size_t)(j.kblocks * j.nt) * BF_KP * BF_NR * 4 + 64);
  long units = ((j.mt + UNIT_TILES - 1) / UNIT_TILES) * j.col_groups;
  int threaded = parallel && 2.0 * m * n * k >= 1.5e6;
  if (threaded) {
    nv_parallel_for(j.nt, NV_MAX(1L, 16384 / NV_MAX(1L, k)), 1, bf_pack_b, &j);
    nv_parallel_for(units, 1, 1, bf_units, &j);
  } else {
    bf_pack_b(&j, 0, j.nt);
    bf_units(&j, 0, units);
  }
  return 1;
#else
  (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
  (void)beta, (void)C, (void)ldc, (void)parallel;
  return 0;
#endif
}

/* ---- JavaScript entry points (native/binding.h) ---- */
NV_KERNEL(roundBf16, 3) {
  int64_t n = arg_int(C, 2, "n", 0);
  float *x = arg_f32(C, 0, "x", n), *y = arg_f32(C, 1, "y", n);
  ARGS_OK
  nv_round_bf16(x, y, n);
  return NULL;
}
