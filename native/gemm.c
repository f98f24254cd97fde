/* Single-precision matrix product, packed and blocked in the usual way (Goto / BLIS):
 *
 *   for each unit of C (ru row tiles × cu column panels), taken by a thread (its own range first):
 *     for pc (KC of k):  pack A[unit rows, pc..] into MR-tall panels             (A block stays in L2)
 *       for jr (NR):     the first time a thread meets this B panel, pack it      (see "driver")
 *         for ir (MR):   micro-kernel                                             (B micro-panel in L1)
 *
 * The micro-kernel keeps an MR×NR tile of C in registers: AVX-512 12×32 (24 zmm accumulators), AVX2+FMA
 * 6×16, or portable C 4×16, picked at run time from the CPU's features. Units are claimed from counters,
 * not assigned by thread id, so a thread slowed down by other processes just takes fewer; every element
 * is computed by the same tiles in the same k order whatever the split, so results do not depend on the
 * thread count. A product of a few rows by a transposed B (a decode step's x·Wᵀ) takes a separate
 * dot-product path with no packing at all ("few rows" below). */
#include <stdatomic.h>
#include <stdlib.h>

#include "common.h"
#include "binding.h"
#if NV_X86
#include <immintrin.h>
#include "transpose.h"
#endif

typedef void (*ukernel_fn)(long kc, const float *a, const float *b, float *c, long ldc, float alpha,
                           float beta);

typedef struct {
  int mr, nr;
  long kc, mc, nc;
  ukernel_fn kernel;
  const char *name;
} arch_t;

/* ---------------------------------------------------------------- micro-kernels */

/* Portable: GCC/clang vector extensions (SSE2 on x86-64, NEON on arm64), 4×16 tile in 16 vectors. */
#define G_MR 4
#define G_NR 16
typedef float v4f __attribute__((vector_size(16)));
static inline v4f v4_load(const float *p) {
  v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void v4_store(float *p, v4f v) { memcpy(p, &v, sizeof v); }

static void uk_generic(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
  v4f acc[G_MR][4];
  for (int r = 0; r < G_MR; r++)
    for (int q = 0; q < 4; q++) acc[r][q] = (v4f){0, 0, 0, 0};
  for (long p = 0; p < kc; p++) {
    v4f b0 = v4_load(b), b1 = v4_load(b + 4), b2 = v4_load(b + 8), b3 = v4_load(b + 12);
    for (int r = 0; r < G_MR; r++) {
      v4f ar = {a[r], a[r], a[r], a[r]};
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
      acc[r][2] += ar * b2;
      acc[r][3] += ar * b3;
    }
    a += G_MR;
    b += G_NR;
  }
  v4f va = {alpha, alpha, alpha, alpha}, vb = {beta, beta, beta, beta};
  for (int r = 0; r < G_MR; r++)
    for (int q = 0; q < 4; q++) {
      float *cr = c + r * ldc + 4 * q;
      v4_store(cr, beta == 0.0f ? va * acc[r][q] : va * acc[r][q] + vb * v4_load(cr));
    }
}

#if NV_X86
/* AVX2 + FMA: 6×16 tile in 12 ymm accumulators. */
__attribute__((target("avx2,fma"))) static inline void store8(float *c, __m256 acc, __m256 va, float beta) {
  if (beta == 0.0f) _mm256_storeu_ps(c, _mm256_mul_ps(va, acc));
  else if (beta == 1.0f) _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc, _mm256_loadu_ps(c)));
  else _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc, _mm256_mul_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c))));
}

#define AVX2_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
__attribute__((target("avx2,fma"))) static void uk_avx2(long kc, const float *a, const float *b, float *c,
                                                         long ldc, float alpha, float beta) {
#define D2(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
  AVX2_ROWS(D2)
#define F2(r)                                                                                                  \
  {                                                                                                            \
    __m256 ar = _mm256_broadcast_ss(a + r);                                                                    \
    c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);                                                                \
    c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);                                                                \
  }
#pragma GCC unroll 4
  for (long p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    AVX2_ROWS(F2)
    a += 6;
    b += 16;
  }
  __m256 va = _mm256_set1_ps(alpha);
#define S2(r)                                                                                                  \
  store8(c + r * ldc, c##r##0, va, beta);                                                                      \
  store8(c + r * ldc + 8, c##r##1, va, beta);
  AVX2_ROWS(S2)
}

/* AVX-512: 12×32 tile in 24 zmm accumulators; 2 loads of B and 12 broadcasts of A per 24 FMAs. */
__attribute__((target("avx512f,avx2,fma"))) static inline void store16(float *c, __m512 acc, __m512 va,
                                                                        float beta) {
  if (beta == 0.0f) _mm512_storeu_ps(c, _mm512_mul_ps(va, acc));
  else if (beta == 1.0f) _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc, _mm512_loadu_ps(c)));
  else _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(c))));
}

#define AVX512_MR 12
#define AVX512_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
__attribute__((target("avx512f,avx2,fma"))) static void uk_avx512(long kc, const float *a, const float *b,
                                                                   float *c, long ldc, float alpha,
                                                                   float beta) {
#define D5(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
  AVX512_ROWS(D5)
#define P5(r)                                                                                                  \
  _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);                                                      \
  _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T0);
  AVX512_ROWS(P5)
#define F5(r)                                                                                                  \
  {                                                                                                            \
    __m512 ar = _mm512_set1_ps(a[r]);                                                                          \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                                                \
    c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                                                \
  }
#pragma GCC unroll 4
  for (long p = 0; p < kc; p++) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    AVX512_ROWS(F5)
    a += AVX512_MR;
    b += 32;
  }
  __m512 va = _mm512_set1_ps(alpha);
#define S5(r)                                                                                                  \
  store16(c + r * ldc, c##r##0, va, beta);                                                                     \
  store16(c + r * ldc + 16, c##r##1, va, beta);
  AVX512_ROWS(S5)
}

/* Edge tiles (the last rows and columns of C) without the detour through a local tile: the same k loop on
 * 4, 8 or 12 rows of the packed A panel (so a 4-row remainder costs a third of a full tile), masked stores
 * for the columns, and only the `mr` rows that exist are written. Every element gets the same fma chain
 * as in the full kernel, so results do not depend on which kernel computed them. */
__attribute__((target("avx512f,avx2,fma"))) static inline void store16m(float *c, __m512 acc, __m512 va,
                                                                         float beta, __mmask16 k) {
  if (beta == 0.0f) _mm512_mask_storeu_ps(c, k, _mm512_mul_ps(va, acc));
  else
    _mm512_mask_storeu_ps(c, k,
                          _mm512_fmadd_ps(va, acc, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(k, c))));
}
#define AVX512_ROWS4(X) X(0) X(1) X(2) X(3)
#define AVX512_ROWS8(X) AVX512_ROWS4(X) X(4) X(5) X(6) X(7)
#define E5(r)                                                                                                  \
  if (r < mr) {                                                                                                \
    store16m(c + r * ldc, c##r##0, va, beta, k0);                                                              \
    store16m(c + r * ldc + 16, c##r##1, va, beta, k1);                                                         \
  }
#define UK512_EDGE(NAME, ROWS)                                                                                 \
  __attribute__((target("avx512f,avx2,fma"))) static void NAME(long kc, const float *a, const float *b,        \
                                                               float *c, long ldc, float alpha, float beta,    \
                                                               int mr, int nr) {                               \
    ROWS(D5)                                                                                                   \
    _Pragma("GCC unroll 4") for (long p = 0; p < kc; p++) {                                                    \
      __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                                            \
      ROWS(F5)                                                                                                 \
      a += AVX512_MR;                                                                                          \
      b += 32;                                                                                                 \
    }                                                                                                          \
    __m512 va = _mm512_set1_ps(alpha);                                                                         \
    __mmask16 k0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);                                            \
    __mmask16 k1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);                      \
    ROWS(E5)                                                                                                   \
  }
UK512_EDGE(uk_avx512_edge4, AVX512_ROWS4)
UK512_EDGE(uk_avx512_edge8, AVX512_ROWS8)
UK512_EDGE(uk_avx512_edge12, AVX512_ROWS)

/* A full-height tile that also packs its B micro-panel: row p of op(B) is read in place (bsrc + p*ldb, nr
 * valid columns, zeros beyond) and stored to the packed panel as it is used, so packing B costs little
 * more than the loads the multiply-adds needed anyway. Only the first `mr` rows of C are written. */
#define B_PREFETCH 4
__attribute__((target("avx512f,avx2,fma"))) static void uk_avx512_packb(long kc, const float *a,
                                                                         const float *bsrc, long ldb,
                                                                         float *bdst, float *c, long ldc,
                                                                         float alpha, float beta, int mr,
                                                                         int nr) {
  AVX512_ROWS(D5)
  __mmask16 k0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
  __mmask16 k1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
#pragma GCC unroll 4
  for (long p = 0; p < kc; p++) {
    if (p + B_PREFETCH < kc) {
      _mm_prefetch((const char *)(bsrc + B_PREFETCH * ldb), _MM_HINT_T0);
      _mm_prefetch((const char *)(bsrc + B_PREFETCH * ldb + 16), _MM_HINT_T0);
      _mm_prefetch((const char *)(bsrc + B_PREFETCH * ldb + 31), _MM_HINT_T0);
    }
    __m512 b0 = _mm512_maskz_loadu_ps(k0, bsrc), b1 = _mm512_maskz_loadu_ps(k1, bsrc + 16);
    _mm512_store_ps(bdst, b0);
    _mm512_store_ps(bdst + 16, b1);
    AVX512_ROWS(F5)
    a += AVX512_MR;
    bsrc += ldb;
    bdst += 32;
  }
  __m512 va = _mm512_set1_ps(alpha);
  if (mr == AVX512_MR && nr == 32) {
    AVX512_ROWS(S5)
  } else {
    AVX512_ROWS(E5)
  }
}
#endif

/* ---------------------------------------------------------------- dispatch */

static long env_long(const char *name, long fallback) {
  const char *s = getenv(name);
  return (s && *s) ? atol(s) : fallback;
}

static arch_t ARCHS[3] = {
    {G_MR, G_NR, 256, 128, 4096, uk_generic, "generic"},
#if NV_X86
    {6, 16, 256, 144, 4096, uk_avx2, "avx2"},
    {AVX512_MR, 32, 256, 144, 4096, uk_avx512, "avx512"},
#else
    {G_MR, G_NR, 256, 128, 4096, uk_generic, "generic"},
    {G_MR, G_NR, 256, 128, 4096, uk_generic, "generic"},
#endif
};
/* Block sizes can be tuned from the environment (benchmarks only), read once as the addon loads. */
__attribute__((constructor)) static void tune_blocks(void) {
  for (int i = 0; i < 3; i++) {
    ARCHS[i].kc = env_long("NANOVLM_GEMM_KC", ARCHS[i].kc);
    ARCHS[i].mc = env_long("NANOVLM_GEMM_MC", ARCHS[i].mc) / ARCHS[i].mr * ARCHS[i].mr;
    ARCHS[i].nc = env_long("NANOVLM_GEMM_NC", ARCHS[i].nc) / ARCHS[i].nr * ARCHS[i].nr;
    if (ARCHS[i].kc < 1) ARCHS[i].kc = 256;
    if (ARCHS[i].mc < ARCHS[i].mr) ARCHS[i].mc = ARCHS[i].mr;
    if (ARCHS[i].nc < ARCHS[i].nr) ARCHS[i].nc = ARCHS[i].nr;
  }
}

/* ---------------------------------------------------------------- packing */

/* dst[p*R + r] = src[p*ld + r] for r < rr, zero for rr <= r < R (p < kc). Full panels of the usual
 * widths get constant-size copies (plain vector moves instead of a memcpy call per row). */
static inline void copy_rows(float *restrict dst, const float *restrict src, long ld, const int R, long kc) {
  for (long p = 0; p < kc; p++) memcpy(dst + p * R, src + p * ld, (size_t)R * sizeof(float));
}

NV_CLONES static void pack_n(float *restrict dst, const float *restrict src, long ld, int R, int rr, long kc) {
  if (rr == R) {
    switch (R) {
      case 4: copy_rows(dst, src, ld, 4, kc); return;
      case 6: copy_rows(dst, src, ld, 6, kc); return;
      case 12: copy_rows(dst, src, ld, 12, kc); return;
      case 16: copy_rows(dst, src, ld, 16, kc); return;
      case 32: copy_rows(dst, src, ld, 32, kc); return;
      default: break;
    }
  }
  for (long p = 0; p < kc; p++) {
    const float *s = src + p * ld;
    float *d = dst + p * R;
    for (int r = 0; r < rr; r++) d[r] = s[r];
    for (int r = rr; r < R; r++) d[r] = 0.0f;
  }
}

#if NV_X86
/* pack_t for full panels of 12 or 32 rows with AVX-512, 16 columns of the source at a time.
 * Returns how many columns (a multiple of 16) it packed; the caller finishes the rest. */
__attribute__((target("avx512f"))) static long pack_t_avx512(float *restrict dst, const float *restrict src,
                                                              long ld, int R, long kc) {
  long p = 0;
  const __mmask16 keep = (__mmask16)((1u << (R < 16 ? R : 16)) - 1);
  for (; p + 16 <= kc; p += 16) {
    for (int r0 = 0; r0 < R; r0 += 16) {
      int rows = R - r0 < 16 ? R - r0 : 16;
      __m512 v[16];
      for (int i = 0; i < 16; i++) v[i] = i < rows ? _mm512_loadu_ps(src + (r0 + i) * ld + p) : _mm512_setzero_ps();
      transpose16(v);
      float *d = dst + p * R + r0;
      if (rows == 16)
        for (int c = 0; c < 16; c++) _mm512_storeu_ps(d + c * R, v[c]);
      else
        for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(d + c * R, keep, v[c]);
    }
  }
  return p;
}
#endif

/* dst[p*R + r] = src[r*ld + p] for r < rr, zero for rr <= r < R: a transpose, done in 4×4 blocks. */
static void pack_t(float *restrict dst, const float *restrict src, long ld, int R, int rr, long kc) {
  long p = 0;
#if NV_X86
  if (rr == R && (R == 12 || R == 32) && nv_isa() == NV_ISA_AVX512) p = pack_t_avx512(dst, src, ld, R, kc);
#endif
#if NV_X86
  if (rr == R && (R & 3) == 0) {
    for (; p + 4 <= kc; p += 4) {
      float *d = dst + p * R;
      for (int r = 0; r < R; r += 4) {
        const float *s = src + r * ld + p;
        __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + ld), r2 = _mm_loadu_ps(s + 2 * ld),
               r3 = _mm_loadu_ps(s + 3 * ld);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(d + r, r0);
        _mm_storeu_ps(d + R + r, r1);
        _mm_storeu_ps(d + 2 * R + r, r2);
        _mm_storeu_ps(d + 3 * R + r, r3);
      }
    }
  }
#endif
  for (; p < kc; p++) {
    float *d = dst + p * R;
    for (int r = 0; r < rr; r++) d[r] = src[r * ld + p];
    for (int r = rr; r < R; r++) d[r] = 0.0f;
  }
}

/* ---------------------------------------------------------------- driver */

/* One MR×NR tile of C (alpha, beta) from a packed A tile and a packed B micro-panel. Edge tiles (mr < MR
 * or nr < NR) use the masked AVX-512 kernels, or else go through a local tile so the micro-kernel never
 * reads or writes outside C. */
static inline void tile(const arch_t *ar, long kc, const float *a, const float *b, float *c, long ldc,
                        float alpha, float beta, long mr, long nr) {
  const int MR = ar->mr, NR = ar->nr;
  if (mr == MR && nr == NR) {
    ar->kernel(kc, a, b, c, ldc, alpha, beta);
    return;
  }
#if NV_X86
  if (ar->kernel == uk_avx512) {
    if (mr <= 4) uk_avx512_edge4(kc, a, b, c, ldc, alpha, beta, (int)mr, (int)nr);
    else if (mr <= 8) uk_avx512_edge8(kc, a, b, c, ldc, alpha, beta, (int)mr, (int)nr);
    else uk_avx512_edge12(kc, a, b, c, ldc, alpha, beta, (int)mr, (int)nr);
    return;
  }
#endif
  float t[16 * 64] __attribute__((aligned(64)));
  ar->kernel(kc, a, b, t, NR, 1.0f, 0.0f);
  for (long i = 0; i < mr; i++)
    for (long jj = 0; jj < nr; jj++) {
      float v = alpha * t[i * NR + jj];
      c[i * ldc + jj] = beta == 0.0f ? v : v + beta * c[i * ldc + jj];
    }
}

/* C[mc×nc] (alpha, beta) = packed A block · packed B panels (bstride floats apart), tile by tile. */
static void macro_kernel(const arch_t *ar, long mc, long nc, long kc, const float *ap, const float *bp,
                         long bstride, float *c, long ldc, float alpha, float beta) {
  const int MR = ar->mr, NR = ar->nr;
  for (long jr = 0; jr < nc; jr += NR) {
    const float *b = bp + jr / NR * bstride;
    for (long ir = 0; ir < mc; ir += MR)
      tile(ar, kc, ap + ir * kc, b, c + ir * ldc + jr, ldc, alpha, beta, NV_MIN((long)MR, mc - ir),
           NV_MIN((long)NR, nc - jr));
  }
}

/* One multiplication. C is cut into units of ru row tiles × cu column panels, and the units into one
 * contiguous range per thread. A thread takes units from its own range first (so in a loop of calls each
 * thread keeps meeting the same rows of A and C in its own caches) and then helps with the others' ranges,
 * so a thread slowed down or never scheduled (busy machine) just does fewer.
 *
 * B is packed on the way, never in a phase of its own: the first tile that needs a panel packs it (with
 * AVX-512 and an untransposed B inside the micro-kernel, where the copy hides behind the multiply-adds).
 * - private (one thread, or a packed B of up to PRIVATE_B_BYTES): every thread packs the panels it uses
 *   into its own buffer. Nothing one core writes is read by the other: the two cores of this machine are
 *   at times on different L3 caches, where sharing a packed B costs up to 30% at 512³.
 * - shared (larger B, where packing it once per thread would cost more than sharing): one buffer, each
 *   panel packed by whichever thread claims it first (a state per panel: 0 free, 1 packing, 2 ready). The
 *   threads walk the panels of a unit from different starting points, so at first each packs its own
 *   part and then finds the rest ready. */
#define GEMM_RANGES 16
#define PRIVATE_B_BYTES (2L << 20)
typedef struct {
  const arch_t *ar;
  int ta, tb;
  long m, n, k;
  float alpha, beta;
  const float *A;
  long lda;
  const float *B;
  long ldb;
  float *C;
  long ldc;
  long mt, nt, npad, kblocks;
  long ru, cu, col_units, units; /* unit = ru row tiles × cu column panels */
  float *bshared;                /* the shared packed B, or NULL when each thread packs its own */
  _Atomic unsigned char *state;  /* shared B: per panel (q * nt + p), 0 free, 1 packing, 2 ready */
  int threads, ranges;
  struct {
    _Alignas(64) atomic_long next;
    long end;
  } range[GEMM_RANGES];
} gemm_job;

static size_t packed_b_floats(const gemm_job *j) { return (size_t)(j->kblocks * j->ar->kc * j->npad + 64); }

/* Packed B: panel p of KC block q at bp + q*KC*npad + p*NR*kc. Private: `done` flags the panels packed. */
typedef struct {
  float *bp;
  unsigned char *done;
  int tid;
} bpack_t;

static bpack_t thread_bpack(const gemm_job *j, int tid) {
  bpack_t t = {j->bshared, NULL, tid};
  if (j->bshared) return t;
  const size_t floats = packed_b_floats(j), flags = (size_t)(j->kblocks * j->nt);
  t.bp = nv_scratch(NV_SCRATCH_PACK_B, floats * sizeof(float) + flags);
  t.done = (unsigned char *)(t.bp + floats);
  memset(t.done, 0, flags);
  return t;
}

static void pack_b_panel(const gemm_job *j, long pc, long kc, long p, float *dst) {
  const long NR = j->ar->nr, col = p * NR, nr = NV_MIN(NR, j->n - col);
  if (!j->tb) pack_n(dst, j->B + pc * j->ldb + col, j->ldb, (int)NR, (int)nr, kc);
  else pack_t(dst, j->B + col * j->ldb + pc, j->ldb, (int)NR, (int)nr, kc);
}

/* Returns 1 when this thread must pack panel i (q * nt + p) now; otherwise the panel is ready to use. */
static int claim_panel(const gemm_job *j, const bpack_t *bt, long i) {
  if (bt->done) {
    if (bt->done[i]) return 0;
    bt->done[i] = 1;
    return 1;
  }
  unsigned char s = atomic_load_explicit(&j->state[i], memory_order_acquire);
  if (s == 2) return 0;
  if (s == 0 && atomic_compare_exchange_strong(&j->state[i], &s, 1)) return 1;
  int spins = 0; /* another thread is packing it: a few microseconds at most */
  while (atomic_load_explicit(&j->state[i], memory_order_acquire) != 2) nv_spin_pause(&spins);
  return 0;
}

static void compute_unit(const gemm_job *j, long u, const bpack_t *bt) {
  const arch_t *ar = j->ar;
  const long MR = ar->mr, NR = ar->nr, KC = ar->kc;
  long ri = u / j->col_units, ci = u % j->col_units;
  long i0 = ri * j->ru * MR, i1 = NV_MIN(j->m, i0 + j->ru * MR);
  long p0 = ci * j->cu, p1 = NV_MIN(j->nt, p0 + j->cu), np = p1 - p0;
  long mc = i1 - i0, rot = np * (bt->tid % j->threads) / j->threads;
  float *ap = nv_scratch(NV_SCRATCH_PACK_A, (size_t)(j->ru * MR * NV_MIN(KC, j->k) + 64) * sizeof(float));
#if NV_X86
  const int fuse = ar->kernel == uk_avx512 && !j->tb;
#endif
  for (long q = 0; q < j->kblocks; q++) {
    long pc = q * KC, kc = NV_MIN(KC, j->k - pc);
    float beta = q == 0 ? j->beta : 1.0f;
    for (long ir = 0; ir < mc; ir += MR) {
      int rr = (int)NV_MIN(MR, mc - ir);
      if (!j->ta) pack_t(ap + ir * kc, j->A + (i0 + ir) * j->lda + pc, j->lda, (int)MR, rr, kc);
      else pack_n(ap + ir * kc, j->A + pc * j->lda + i0 + ir, j->lda, (int)MR, rr, kc);
    }
    for (long pi = 0; pi < np; pi++) {
      long p = p0 + (pi + rot) % np, col = p * NR, nr = NV_MIN(NR, j->n - col);
      float *b = bt->bp + q * KC * j->npad + p * NR * kc, *c = j->C + i0 * j->ldc + col;
      long ir = 0;
      if (claim_panel(j, bt, q * j->nt + p)) {
#if NV_X86
        if (fuse) {
          uk_avx512_packb(kc, ap, j->B + pc * j->ldb + col, j->ldb, b, c, j->ldc, j->alpha, beta,
                          (int)NV_MIN(MR, mc), (int)nr);
          ir = MR;
        } else
#endif
          pack_b_panel(j, pc, kc, p, b);
        if (j->state) atomic_store_explicit(&j->state[q * j->nt + p], 2, memory_order_release);
      }
      for (; ir < mc; ir += MR)
        tile(ar, kc, ap + ir * kc, b, c + ir * j->ldc, j->ldc, j->alpha, beta, NV_MIN(MR, mc - ir), nr);
    }
  }
}

static void gemm_worker(void *vjob, int tid, int T) {
  gemm_job *j = vjob;
  (void)T;
  bpack_t bt = thread_bpack(j, tid);
  for (int r = 0; r < j->ranges; r++) {
    int own = (tid + r) % j->ranges;
    for (;;) {
      long u = atomic_fetch_add_explicit(&j->range[own].next, 1, memory_order_relaxed);
      if (u >= j->range[own].end) break;
      compute_unit(j, u, &bt);
    }
  }
}

/* C = beta*C when there is nothing to multiply (k = 0 or alpha = 0); beta = 0 overwrites NaN too. */
static void scale_c(long m, long n, float beta, float *C, long ldc) {
  for (long i = 0; i < m; i++)
    for (long jj = 0; jj < n; jj++) C[i * ldc + jj] = beta == 0.0f ? 0.0f : beta * C[i * ldc + jj];
}

/* Picks the unit shape for T threads with a small cost model, in cycles per step of k: a unit of
 * ru row tiles × cu column panels costs its multiply-adds, plus streaming its cu panels of packed B from
 * L2/L3 (again for every unit: tall units stream B fewer times), plus packing its ru tiles of A (again
 * for every column split). The slowest thread's time is estimated by handing the units in order to
 * whichever simulated thread is free first (own ranges plus stealing end up close to that). Ties go to
 * taller units. */
typedef struct {
  double fma, b, a;
} unit_costs;

static double makespan(const gemm_job *j, int T, long ru, long cu, const unit_costs *c) {
  double load[16] = {0};
  const int TT = NV_MIN(T, 16);
  for (long r0 = 0; r0 < j->mt; r0 += ru) {
    long rows = NV_MIN(ru, j->mt - r0);
    for (long c0 = 0; c0 < j->nt; c0 += cu) {
      long cols = NV_MIN(cu, j->nt - c0);
      int t = 0;
      for (int i = 1; i < TT; i++)
        if (load[i] < load[t]) t = i;
      load[t] += rows * cols * c->fma + cols * c->b + rows * c->a;
    }
  }
  double worst = 0;
  for (int i = 0; i < TT; i++) worst = NV_MAX(worst, load[i]);
  return worst;
}

/* The search below costs about as much as a 256³ product's packing, so its answers are remembered per
 * thread (the same few shapes come back every training step). */
#define UNIT_CACHE 16
static _Thread_local struct {
  long m, n, k, ru, cu;
  const arch_t *ar;
  int T;
} unit_cache[UNIT_CACHE];
static _Thread_local unsigned unit_cache_next;

static void choose_units(gemm_job *j, int T) {
  const arch_t *ar = j->ar;
  const long max_ru = NV_MAX(1L, ar->mc / ar->mr);
  j->ru = max_ru;
  j->cu = j->nt;
  int cached = 0;
  for (int i = 0; i < UNIT_CACHE && T > 1; i++)
    if (unit_cache[i].ar == ar && unit_cache[i].T == T && unit_cache[i].m == j->m && unit_cache[i].n == j->n &&
        unit_cache[i].k == j->k) {
      j->ru = unit_cache[i].ru;
      j->cu = unit_cache[i].cu;
      cached = 1;
      break;
    }
  if (T > 1 && !cached) {
    const double flops_per_cycle = ar->mr * ar->nr >= 384 ? 64.0 : ar->mr * ar->nr >= 96 ? 32.0 : 8.0;
    const double bytes_b = (double)j->k * j->npad * 4.0;
    unit_costs c = {2.0 * ar->mr * ar->nr / flops_per_cycle,             /* one tile × panel */
                    ar->nr * 4.0 / (bytes_b <= 512 * 1024 ? 64.0 : 32.0), /* one panel of B */
                    ar->mr * 0.5};                                        /* one tile of A */
    double best = 1e300;
    for (long cc = 1; cc <= NV_MIN(j->nt, 8L); cc++) {
      long cu = (j->nt + cc - 1) / cc;
      if (cc > 1 && cu == (j->nt + cc - 2) / (cc - 1)) continue; /* same split as cc - 1 */
      for (long ru = 1; ru <= max_ru; ru++) {
        double cost = makespan(j, T, ru, cu, &c);
        if (cost <= best * 1.0001) {
          best = NV_MIN(best, cost);
          j->ru = ru;
          j->cu = cu;
        }
      }
    }
    unsigned slot = unit_cache_next++ % UNIT_CACHE;
    unit_cache[slot].m = j->m, unit_cache[slot].n = j->n, unit_cache[slot].k = j->k;
    unit_cache[slot].ru = j->ru, unit_cache[slot].cu = j->cu, unit_cache[slot].ar = ar, unit_cache[slot].T = T;
  }
  j->col_units = (j->nt + j->cu - 1) / j->cu;
  j->units = ((j->mt + j->ru - 1) / j->ru) * j->col_units;
}

/* ---------------------------------------------------------------- few rows times a transposed B */

/* C = alpha A·Bᵀ + beta C with A of a few rows (m <= SMALL_M) and B stored n×k: a decode step's x·Wᵀ. The
 * packed path would transpose all of W into panels on every call and then use one row of a 12-row tile;
 * here each output is a dot product of two contiguous rows, streamed straight from W. A tile is 16
 * dot products (mi rows of A × 16/mi rows of B) accumulated over k in 16 lanes, then summed across lanes
 * all 16 at once by a transpose-and-add tree. */
#define SMALL_M 8
#if NV_X86
#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma")))
/* MI rows of A × rw (<= R = 16/MI) rows of B. Accumulator l holds A row l/R · B row l%R; named variables
 * (LANES16, transpose.h), not an array, so that they stay in registers through the final sum. */
#define ACC_FMA(l) acc##l = _mm512_fmadd_ps(xa[(l) / R], _mm512_maskz_loadu_ps(km, br[(l) % R] + p), acc##l);
#define SMALL_TILE(MI)                                                                                         \
  AVX512_TARGET static void small_tile##MI(long k, const float *a, long lda, int mv, const float *b, long ldb,  \
                                           int rw, float *c, long ldc, float alpha, float beta) {              \
    enum { R = 16 / MI };                                                                                      \
    const float *br[R], *ar[MI]; /* rows past the valid mv / rw repeat row 0 and are not stored */            \
    for (int jj = 0; jj < R; jj++) br[jj] = b + (jj < rw ? jj : 0) * ldb;                                      \
    for (int ii = 0; ii < MI; ii++) ar[ii] = a + (ii < mv ? ii : 0) * lda;                                     \
    LANES16(ACC_DECL)                                                                                          \
    for (long p = 0; p < k; p += 16) { /* the last step masks off columns past k */                           \
      __mmask16 km = (__mmask16)(k - p >= 16 ? 0xffff : (1u << (k - p)) - 1);                                 \
      __m512 xa[MI];                                                                                           \
      for (int ii = 0; ii < MI; ii++) xa[ii] = _mm512_maskz_loadu_ps(km, ar[ii] + p);                          \
      LANES16(ACC_FMA)                                                                                         \
    }                                                                                                          \
    store_tile_rows(_mm512_mul_ps(_mm512_set1_ps(alpha), ACC_SUMS), c, ldc, mv, R, rw, beta);                  \
  }
SMALL_TILE(1)
SMALL_TILE(2)
SMALL_TILE(4)

typedef struct {
  long m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *A, *B;
  float *C;
} small_job;

/* Blocks [b0, b1) of 16 rows of B: each block is read from memory once and reused from L1 by every
 * group of A's rows. */
static void small_blocks(void *vctx, long b0, long b1) {
  const small_job *j = vctx;
  for (long blk = b0; blk < b1; blk++) {
    long j0 = blk * 16, rows = NV_MIN(16L, j->n - j0);
    for (long i = 0; i < j->m; i += 4) { /* A's rows 4 at a time; 2 or 1 at the end when that is all */
      int mv = (int)NV_MIN(4L, j->m - i), mi = mv == 3 ? 4 : mv, R = 16 / mi;
      for (long jj = 0; jj < rows; jj += R) {
        int rw = (int)NV_MIN((long)R, rows - jj);
        const float *a = j->A + i * j->lda, *b = j->B + (j0 + jj) * j->ldb;
        float *c = j->C + i * j->ldc + j0 + jj;
        if (mi == 4) small_tile4(j->k, a, j->lda, mv, b, j->ldb, rw, c, j->ldc, j->alpha, j->beta);
        else if (mi == 2) small_tile2(j->k, a, j->lda, mv, b, j->ldb, rw, c, j->ldc, j->alpha, j->beta);
        else small_tile1(j->k, a, j->lda, mv, b, j->ldb, rw, c, j->ldc, j->alpha, j->beta);
      }
    }
  }
}
#endif

/* Returns 1 when it computed the product (AVX-512, untransposed A, transposed B, m <= SMALL_M). */
static int small_m_gemm(int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda,
                        const float *B, long ldb, float beta, float *C, long ldc, int parallel) {
#if NV_X86
  static long small_m = -1; /* NANOVLM_SMALL_M moves the switch to the packed path (benchmarks only) */
  if (small_m < 0) small_m = env_long("NANOVLM_SMALL_M", SMALL_M);
  if (ta || !tb || m > small_m || nv_isa() != NV_ISA_AVX512) return 0;
  small_job j = {m, n, k, lda, ldb, ldc, alpha, beta, A, B, C};
  long blocks = (n + 15) / 16;
  /* Threads only pay off from about 100k multiply-adds (a few µs): a decode step's logits, or a batch of
   * sequences' per-layer products, but not one sequence's per-layer products in a small model. */
  if (parallel && (double)m * n * k >= 1e5)
    nv_parallel_for(blocks, NV_MAX(1L, (long)(16384 / (16.0 * m * k))), 1, small_blocks, &j);
  else small_blocks(&j, 0, blocks);
  return 1;
#else
  (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
  (void)beta, (void)C, (void)ldc, (void)parallel;
  return 0;
#endif
}

void nv_sgemm(int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda, const float *B,
              long ldb, float beta, float *C, long ldc, int parallel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, C, ldc);
    return;
  }
  if (small_m_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, parallel)) return;
  const arch_t *ar = &ARCHS[nv_isa()];
  gemm_job j = {.ar = ar, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .A = A,
                .lda = lda, .B = B, .ldb = ldb, .C = C, .ldc = ldc};
  j.mt = (m + ar->mr - 1) / ar->mr;
  j.nt = (n + ar->nr - 1) / ar->nr;
  j.npad = j.nt * ar->nr;
  j.kblocks = (k + ar->kc - 1) / ar->kc;
  int T = parallel ? nv_threads() : 1;
  if (2.0 * m * n * k < 1.5e6) T = 1;
  choose_units(&j, T);
  if (j.units < T) T = (int)j.units;
  if (T > 1 && packed_b_floats(&j) * sizeof(float) > PRIVATE_B_BYTES) {
    size_t floats = packed_b_floats(&j), panels = (size_t)(j.kblocks * j.nt);
    j.bshared = nv_scratch(NV_SCRATCH_PACK_B, floats * sizeof(float) + panels);
    j.state = (_Atomic unsigned char *)(j.bshared + floats);
    for (size_t i = 0; i < panels; i++) atomic_init(&j.state[i], 0);
  }
  j.threads = T;
  j.ranges = NV_MIN(T, GEMM_RANGES);
  for (int r = 0; r < j.ranges; r++) {
    atomic_init(&j.range[r].next, j.units * r / j.ranges);
    j.range[r].end = j.units * (r + 1) / j.ranges;
  }
  if (T > 1) nv_run(gemm_worker, &j, T);
  else gemm_worker(&j, 0, 1);
}

/* ---------------------------------------------------------------- pre-packed B */

long nv_packb_floats(long K, long N) {
  const arch_t *ar = &ARCHS[nv_isa()];
  long blocks = (K + ar->kc - 1) / ar->kc, npad = (N + ar->nr - 1) / ar->nr * ar->nr;
  return blocks * ar->kc * npad + 64;
}

void nv_packb(int tb, long K, long N, const float *B, long ldb, float *dst) {
  const arch_t *ar = &ARCHS[nv_isa()];
  const long NR = ar->nr, KC = ar->kc, npad = (N + NR - 1) / NR * NR;
  for (long pc = 0; pc < K; pc += KC) {
    long kc = NV_MIN(KC, K - pc);
    float *base = dst + pc / KC * KC * npad;
    for (long col = 0; col < N; col += NR) {
      long nr = NV_MIN(NR, N - col);
      if (!tb) pack_n(base + col * kc, B + pc * ldb + col, ldb, (int)NR, (int)nr, kc);
      else pack_t(base + col * kc, B + col * ldb + pc, ldb, (int)NR, (int)nr, kc);
    }
  }
}

void nv_sgemm_packb(int ta, long m, long n, long k0, long k1, float alpha, const float *A, long lda,
                    const float *bp, long K, long N, float beta, float *C, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (k1 <= k0 || alpha == 0.0f) {
    scale_c(m, n, beta, C, ldc);
    return;
  }
  const arch_t *ar = &ARCHS[nv_isa()];
  const long MR = ar->mr, NR = ar->nr, KC = ar->kc, MC = ar->mc, npad = (N + NR - 1) / NR * NR;
  float *ap = nv_scratch(NV_SCRATCH_PACK_A, (size_t)(NV_MIN(MC, (m + MR - 1) / MR * MR) * KC + 64) * sizeof(float));
  int first = 1;
  for (long q = k0 / KC; q * KC < k1; q++) {
    long blk = q * KC, kcq = NV_MIN(KC, K - blk);
    long s = NV_MAX(k0, blk), e = NV_MIN(k1, blk + kcq), kc = e - s;
    const float *b = bp + q * KC * npad + (s - blk) * NR;
    for (long ic = 0; ic < m; ic += MC) {
      long mc = NV_MIN(MC, m - ic);
      for (long ir = 0; ir < mc; ir += MR) {
        int rr = (int)NV_MIN(MR, mc - ir);
        if (!ta) pack_t(ap + ir * kc, A + (ic + ir) * lda + (s - k0), lda, (int)MR, rr, kc);
        else pack_n(ap + ir * kc, A + (s - k0) * lda + ic + ir, lda, (int)MR, rr, kc);
      }
      macro_kernel(ar, mc, n, kc, ap, b, NR * kcq, C + ic * ldc, ldc, alpha, first ? beta : 1.0f);
    }
    first = 0;
  }
}

typedef struct {
  int ta, tb;
  long m, n, k;
  float alpha, beta;
  const float *A, *B;
  float *C;
  long sA, sB, sC;
  int bf16;
} batch_job;

void nv_gemm(int bf16, int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda,
                     const float *B, long ldb, float beta, float *C, long ldc, int parallel) {
  if (bf16 && nv_gemm_bf16(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, parallel)) return;
  nv_sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, parallel);
}

static void batch_range(void *vctx, long b0, long b1) {
  const batch_job *j = vctx;
  long lda = j->ta ? j->m : j->k, ldb = j->tb ? j->k : j->n;
  for (long i = b0; i < b1; i++)
    nv_gemm(j->bf16, j->ta, j->tb, j->m, j->n, j->k, j->alpha, j->A + i * j->sA, lda, j->B + i * j->sB, ldb,
             j->beta, j->C + i * j->sC, j->n, 0);
}

/* C[i] = alpha op(A[i]) op(B[i]) + beta C[i] for i < batch; bf16: inputs rounded to bf16 when a bf16 engine
 * is in use (nv_bf16), else an fp32 product. */
static void nv_sgemm_batched(int ta, int tb, long m, long n, long k, float alpha, const float *A, const float *B,
                      float beta, float *C, long batch, long sA, long sB, long sC, int bf16) {
  if (batch <= 0) return;
  long lda = ta ? m : k, ldb = tb ? k : n;
  /* Small independent items run one per thread; overlapping outputs (sC < m*n) stay in order. */
  int independent = sC >= m * n;
  double flops = 2.0 * m * n * k;
  if (batch > 1 && independent && flops < 4e6 && nv_threads() > 1) {
    batch_job j = {ta, tb, m, n, k, alpha, beta, A, B, C, sA, sB, sC, bf16};
    nv_parallel_for(batch, 1, 1, batch_range, &j);
    return;
  }
  for (long i = 0; i < batch; i++)
    nv_gemm(bf16, ta, tb, m, n, k, alpha, A + i * sA, lda, B + i * sB, ldb, beta, C + i * sC, n, 1);
}

/* ---- JavaScript entry points (native/binding.h) ---- */
/* Elements a strided batch spans: the last item's start plus one item. */
static int64_t span(int64_t batch, int64_t stride, int64_t item) {
  if (batch <= 0 || item <= 0) return 0;
  return (batch - 1) * stride + item;
}

NV_KERNEL(gemm, 14) {
  int ta = arg_bool(C, 0, "transA"), tb = arg_bool(C, 1, "transB");
  int64_t m = arg_int(C, 2, "m", 0), n = arg_int(C, 3, "n", 0), k = arg_int(C, 4, "k", 0);
  float alpha = (float)arg_num(C, 5, "alpha"), beta = (float)arg_num(C, 8, "beta");
  int64_t batch = arg_int(C, 10, "batch", 0), sA = arg_int(C, 11, "strideA", 0);
  int64_t sB = arg_int(C, 12, "strideB", 0), sC = arg_int(C, 13, "strideC", 0);
  float *a = arg_f32(C, 6, "a", span(batch, sA, m * k));
  float *b = arg_f32(C, 7, "b", span(batch, sB, k * n));
  float *c = arg_f32(C, 9, "c", span(batch, sC, m * n));
  int bf16 = C->argc > 14 ? arg_bool(C, 14, "bf16") : 0;
  ARGS_OK
  nv_sgemm_batched(ta, tb, m, n, k, alpha, a, b, beta, c, batch, sA, sB, sC, bf16);
  return NULL;
}
