/* Single-precision matrix product, packed and blocked in the usual way (Goto / BLIS):
 *
 *   pack all of op(B) into NR-wide panels, one KC block of k after the other     (threads share it out)
 *   for each unit of C (ru row tiles × cu column panels), claimed by whichever thread is free:
 *     for pc (KC of k):  pack A[unit rows, pc..] into MR-tall panels             (A block stays in L2)
 *       for jr (NR), for ir (MR): micro-kernel                                   (B micro-panel in L1)
 *
 * The micro-kernel keeps an MR×NR tile of C in registers: AVX-512 12×32 (24 zmm accumulators), AVX2+FMA
 * 6×16, or portable C 4×16, picked at run time from the CPU's features. Units are handed out from a
 * counter, not by thread id, so a thread slowed down by other processes just takes fewer; every element
 * is computed by the same tiles in the same k order whatever the split, so results do not depend on the
 * thread count. */
#include <stdatomic.h>
#include <stdlib.h>

#include "common.h"
#if NV_X86
#include <immintrin.h>
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
static int g_isa = -1, g_isa_supported = -1;

int nv_isa_supported(void) {
  if (g_isa_supported < 0) {
    g_isa_supported = NV_ISA_GENERIC;
#if NV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) g_isa_supported = NV_ISA_AVX2;
    if (g_isa_supported == NV_ISA_AVX2 && __builtin_cpu_supports("avx512f")) g_isa_supported = NV_ISA_AVX512;
#endif
    /* Block sizes can be tuned from the environment (benchmarks only). */
    for (int i = 0; i < 3; i++) {
      ARCHS[i].kc = env_long("NANOVLM_GEMM_KC", ARCHS[i].kc);
      ARCHS[i].mc = env_long("NANOVLM_GEMM_MC", ARCHS[i].mc) / ARCHS[i].mr * ARCHS[i].mr;
      ARCHS[i].nc = env_long("NANOVLM_GEMM_NC", ARCHS[i].nc) / ARCHS[i].nr * ARCHS[i].nr;
      if (ARCHS[i].kc < 1) ARCHS[i].kc = 256;
      if (ARCHS[i].mc < ARCHS[i].mr) ARCHS[i].mc = ARCHS[i].mr;
      if (ARCHS[i].nc < ARCHS[i].nr) ARCHS[i].nc = ARCHS[i].nr;
    }
  }
  return g_isa_supported;
}

int nv_isa(void) {
  if (g_isa < 0) g_isa = nv_isa_supported();
  return g_isa;
}

void nv_set_isa(int isa) {
  int sup = nv_isa_supported();
  g_isa = isa < 0 ? 0 : (isa > sup ? sup : isa);
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
/* In-register transpose of 16 rows of 16 floats: on return r[c] holds column c. */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) { /* r[4i+j], lane L: rows 4i..4i+3 of column 4L+j */
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; j++) {
    t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
  }
  for (int j = 0; j < 4; j++) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
  }
}

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
  if (rr == R && (R == 12 || R == 32) && g_isa == NV_ISA_AVX512) p = pack_t_avx512(dst, src, ld, R, kc);
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

/* C[mc×nc] (alpha, beta) = packed A block · packed B panels, one MR×NR tile at a time; edge tiles go
 * through a local tile so the micro-kernel never reads or writes outside C. */
static void macro_kernel(const arch_t *ar, long mc, long nc, long kc, const float *ap, const float *bp,
                         long bstride, float *c, long ldc, float alpha, float beta) {
  const int MR = ar->mr, NR = ar->nr;
  float tile[16 * 64] __attribute__((aligned(64)));
  for (long jr = 0; jr < nc; jr += NR) {
    long nr = NV_MIN((long)NR, nc - jr);
    const float *b = bp + jr / NR * bstride;
    for (long ir = 0; ir < mc; ir += MR) {
      long mr = NV_MIN((long)MR, mc - ir);
      float *cc = c + ir * ldc + jr;
      if (mr == MR && nr == NR) {
        ar->kernel(kc, ap + ir * kc, b, cc, ldc, alpha, beta);
        continue;
      }
      ar->kernel(kc, ap + ir * kc, b, tile, NR, 1.0f, 0.0f);
      for (long i = 0; i < mr; i++)
        for (long jj = 0; jj < nr; jj++) {
          float v = alpha * tile[i * NR + jj];
          cc[i * ldc + jj] = beta == 0.0f ? v : v + beta * cc[i * ldc + jj];
        }
    }
  }
}


/* One multiplication. All of op(B) is packed first (panels of NR columns, one KC block of k after the
 * other), then C is cut into units of ru row tiles × cu column panels. Threads claim pack units and then
 * compute units from one counter, so a thread slowed by other processes simply does fewer. */
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
  float *bpack;
  long mt, nt, npad, kblocks;
  long pack_group, pack_groups, pack_units; /* pack unit = one KC block × pack_group panels */
  long ru, cu, col_units, units;            /* compute unit = ru row tiles × cu column panels */
  atomic_long next;
  atomic_long packed;
} gemm_job;

static float *b_block(const gemm_job *j, long q) { return j->bpack + q * j->ar->kc * j->npad; }

static void pack_b_unit(const gemm_job *j, long u) {
  const long NR = j->ar->nr, KC = j->ar->kc;
  long q = u / j->pack_groups, g = u % j->pack_groups;
  long pc = q * KC, kc = NV_MIN(KC, j->k - pc);
  float *base = b_block(j, q);
  for (long p = g * j->pack_group; p < NV_MIN(j->nt, (g + 1) * j->pack_group); p++) {
    long col = p * NR, nr = NV_MIN(NR, j->n - col);
    float *dst = base + p * NR * kc;
    if (!j->tb) pack_n(dst, j->B + pc * j->ldb + col, j->ldb, (int)NR, (int)nr, kc);
    else pack_t(dst, j->B + col * j->ldb + pc, j->ldb, (int)NR, (int)nr, kc);
  }
}

static void compute_unit(gemm_job *j, long u) {
  const arch_t *ar = j->ar;
  const long MR = ar->mr, NR = ar->nr, KC = ar->kc;
  long ri = u / j->col_units, ci = u % j->col_units;
  long i0 = ri * j->ru * MR, i1 = NV_MIN(j->m, i0 + j->ru * MR);
  long p0 = ci * j->cu, j0 = p0 * NR, j1 = NV_MIN(j->n, (p0 + j->cu) * NR);
  long mc = i1 - i0;
  float *ap = nv_scratch(NV_SCRATCH_PACK_A, (size_t)(j->ru * MR * NV_MIN(KC, j->k) + 64) * sizeof(float));
  for (long q = 0; q < j->kblocks; q++) {
    long pc = q * KC, kc = NV_MIN(KC, j->k - pc);
    for (long ir = 0; ir < mc; ir += MR) {
      int rr = (int)NV_MIN(MR, mc - ir);
      if (!j->ta) pack_t(ap + ir * kc, j->A + (i0 + ir) * j->lda + pc, j->lda, (int)MR, rr, kc);
      else pack_n(ap + ir * kc, j->A + pc * j->lda + i0 + ir, j->lda, (int)MR, rr, kc);
    }
    if (q == 0) { /* B is packed by all threads first; this unit's A packing overlapped the last of it */
      int spins = 0;
      while (atomic_load_explicit(&j->packed, memory_order_acquire) < j->pack_units)
        nv_spin_pause(&spins);
    }
    macro_kernel(ar, mc, j1 - j0, kc, ap, b_block(j, q) + p0 * NR * kc, NR * kc, j->C + i0 * j->ldc + j0,
                 j->ldc, j->alpha, q == 0 ? j->beta : 1.0f);
  }
}

static void gemm_worker(void *vjob, int tid, int T) {
  (void)tid;
  (void)T;
  gemm_job *j = vjob;
  const long total = j->pack_units + j->units;
  for (;;) {
    long u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (u >= total) return;
    if (u < j->pack_units) {
      pack_b_unit(j, u);
      atomic_fetch_add_explicit(&j->packed, 1, memory_order_release);
      continue;
    }
    compute_unit(j, u - j->pack_units);
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
 * for every column split). Units are claimed in order by whichever thread is free, which is simulated to
 * find the slowest thread's time. Ties go to taller units. */
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

static void choose_units(gemm_job *j, int T) {
  const arch_t *ar = j->ar;
  const long max_ru = NV_MAX(1L, ar->mc / ar->mr);
  j->ru = max_ru;
  j->cu = j->nt;
  if (T > 1) {
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
  }
  j->col_units = (j->nt + j->cu - 1) / j->cu;
  j->units = ((j->mt + j->ru - 1) / j->ru) * j->col_units;
}

void nv_sgemm(int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda, const float *B,
              long ldb, float beta, float *C, long ldc, int parallel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, C, ldc);
    return;
  }
  const arch_t *ar = &ARCHS[nv_isa()];
  gemm_job j = {.ar = ar, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .A = A,
                .lda = lda, .B = B, .ldb = ldb, .C = C, .ldc = ldc};
  j.mt = (m + ar->mr - 1) / ar->mr;
  j.nt = (n + ar->nr - 1) / ar->nr;
  j.npad = j.nt * ar->nr;
  j.kblocks = (k + ar->kc - 1) / ar->kc;
  int T = parallel ? nv_threads() : 1;
  if (2.0 * m * n * k < 1.5e6) T = 1;
  j.pack_group = T == 1 ? j.nt : NV_MAX(1L, j.nt / (4L * T)); /* several pack units per thread */
  j.pack_groups = (j.nt + j.pack_group - 1) / j.pack_group;
  j.pack_units = j.kblocks * j.pack_groups;
  choose_units(&j, T);
  j.bpack = nv_scratch(NV_SCRATCH_PACK_B, (size_t)(j.kblocks * ar->kc * j.npad + 64) * sizeof(float));
  atomic_init(&j.next, 0);
  atomic_init(&j.packed, 0);
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
} batch_job;

static void batch_range(void *vctx, long b0, long b1) {
  const batch_job *j = vctx;
  long lda = j->ta ? j->m : j->k, ldb = j->tb ? j->k : j->n;
  for (long i = b0; i < b1; i++)
    nv_sgemm(j->ta, j->tb, j->m, j->n, j->k, j->alpha, j->A + i * j->sA, lda, j->B + i * j->sB, ldb, j->beta,
             j->C + i * j->sC, j->n, 0);
}

void nv_sgemm_batched(int ta, int tb, long m, long n, long k, float alpha, const float *A, const float *B,
                      float beta, float *C, long batch, long sA, long sB, long sC) {
  if (batch <= 0) return;
  long lda = ta ? m : k, ldb = tb ? k : n;
  /* Small independent items run one per thread; overlapping outputs (sC < m*n) stay in order. */
  int independent = sC >= m * n;
  double flops = 2.0 * m * n * k;
  if (batch > 1 && independent && flops < 4e6 && nv_threads() > 1) {
    batch_job j = {ta, tb, m, n, k, alpha, beta, A, B, C, sA, sB, sC};
    nv_parallel_for(batch, 1, 1, batch_range, &j);
    return;
  }
  for (long i = 0; i < batch; i++)
    nv_sgemm(ta, tb, m, n, k, alpha, A + i * sA, lda, B + i * sB, ldb, beta, C + i * sC, n, 1);
}
