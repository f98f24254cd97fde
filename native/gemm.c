/* Single-precision matrix product, packed and blocked in the usual way (Goto / BLIS):
 *
 *   for jc (NC columns of C)            B block KC×NC lives in L3, packed once, shared by the threads
 *     for pc (KC of the shared k)
 *       pack B[pc.., jc..] into NR-wide panels        (each thread packs some panels, then a barrier)
 *       for ic (MC rows of this thread's range)       A block MC×KC lives in L2
 *         pack A[ic.., pc..] into MR-tall panels
 *         for jr (NR), for ir (MR): micro-kernel       B micro-panel KC×NR stays in L1
 *
 * The micro-kernel keeps an MR×NR tile of C in registers: AVX-512 12×32 (24 zmm accumulators), AVX2+FMA
 * 6×16, or portable C 4×16. The kernel is picked at run time from the CPU's features. Threads split the
 * rows of C (sharing packed B) or, when that balances badly, the columns (each packs its own B); both keep
 * the same tile grid and k order, so results do not depend on the thread count. */
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

/* Portable: plain loops the compiler can vectorise for the baseline ISA. */
#define G_MR 4
#define G_NR 16
static void uk_generic(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
  float acc[G_MR][G_NR];
  for (int r = 0; r < G_MR; r++)
    for (int j = 0; j < G_NR; j++) acc[r][j] = 0.0f;
  for (long p = 0; p < kc; p++) {
    for (int r = 0; r < G_MR; r++) {
      float ar = a[r];
      for (int j = 0; j < G_NR; j++) acc[r][j] += ar * b[j];
    }
    a += G_MR;
    b += G_NR;
  }
  for (int r = 0; r < G_MR; r++) {
    float *cr = c + r * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < G_NR; j++) cr[j] = alpha * acc[r][j];
    else
      for (int j = 0; j < G_NR; j++) cr[j] = alpha * acc[r][j] + beta * cr[j];
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

/* dst[p*R + r] = src[p*ld + r] for r < rr, zero for rr <= r < R (p < kc). */
NV_CLONES static void pack_n(float *restrict dst, const float *restrict src, long ld, int R, int rr, long kc) {
  for (long p = 0; p < kc; p++) {
    const float *s = src + p * ld;
    float *d = dst + p * R;
    for (int r = 0; r < rr; r++) d[r] = s[r];
    for (int r = rr; r < R; r++) d[r] = 0.0f;
  }
}

/* dst[p*R + r] = src[r*ld + p] for r < rr, zero for rr <= r < R: a transpose, done in 4×4 blocks. */
static void pack_t(float *restrict dst, const float *restrict src, long ld, int R, int rr, long kc) {
  long p = 0;
#if defined(__SSE2__)
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
  float *bshared[2];
  int split_n;
} gemm_job;

static void pack_a_block(const gemm_job *j, float *ap, long ic, long mc, long pc, long kc) {
  int MR = j->ar->mr;
  for (long ir = 0; ir < mc; ir += MR) {
    int rr = (int)NV_MIN((long)MR, mc - ir);
    if (!j->ta) pack_t(ap + ir * kc, j->A + (ic + ir) * j->lda + pc, j->lda, MR, rr, kc);
    else pack_n(ap + ir * kc, j->A + pc * j->lda + ic + ir, j->lda, MR, rr, kc);
  }
}

static void pack_b_panel(const gemm_job *j, float *bp, long col, long nr, long pc, long kc) {
  int NR = j->ar->nr;
  if (!j->tb) pack_n(bp, j->B + pc * j->ldb + col, j->ldb, NR, (int)nr, kc);
  else pack_t(bp, j->B + col * j->ldb + pc, j->ldb, NR, (int)nr, kc);
}

static void macro_kernel(const arch_t *ar, long mc, long nc, long kc, const float *ap, const float *bp,
                         float *c, long ldc, float alpha, float beta) {
  const int MR = ar->mr, NR = ar->nr;
  float tile[16 * 64] __attribute__((aligned(64)));
  for (long jr = 0; jr < nc; jr += NR) {
    long nr = NV_MIN((long)NR, nc - jr);
    const float *b = bp + jr * kc;
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

static void gemm_body(void *vjob, int tid, int T) {
  const gemm_job *j = vjob;
  const arch_t *ar = j->ar;
  const long MR = ar->mr, NR = ar->nr, KC = ar->kc, MC = ar->mc, NC = ar->nc;
  long i0 = 0, i1 = j->m, j0 = 0, j1 = j->n;
  if (j->split_n) {
    long np = (j->n + NR - 1) / NR;
    j0 = NV_MIN(j->n, np * tid / T * NR);
    j1 = NV_MIN(j->n, np * (tid + 1) / T * NR);
  } else {
    long mt = (j->m + MR - 1) / MR;
    i0 = NV_MIN(j->m, mt * tid / T * MR);
    i1 = NV_MIN(j->m, mt * (tid + 1) / T * MR);
  }
  const int shared = !j->split_n && T > 1;
  const long kcmax = NV_MIN(KC, j->k);
  float *ap = nv_scratch(NV_SCRATCH_PACK_A, (size_t)(MC * kcmax + 64) * sizeof(float));
  float *own_b = NULL;
  if (!shared && j1 > j0) {
    long ncmax = NV_MIN(NC, (j1 - j0 + NR - 1) / NR * NR);
    own_b = nv_scratch(NV_SCRATCH_PACK_B, (size_t)(ncmax * kcmax + 64) * sizeof(float));
  }
  int buf = 0;
  for (long jc = j0; jc < j1; jc += NC) {
    long nc = NV_MIN(NC, j1 - jc);
    long np = (nc + NR - 1) / NR;
    for (long pc = 0; pc < j->k; pc += KC) {
      long kc = NV_MIN(KC, j->k - pc);
      float beta = pc == 0 ? j->beta : 1.0f;
      float *bp;
      if (shared) {
        bp = j->bshared[buf];
        buf ^= 1;
        for (long q = np * tid / T; q < np * (tid + 1) / T; q++)
          pack_b_panel(j, bp + q * NR * kc, jc + q * NR, NV_MIN(NR, nc - q * NR), pc, kc);
        /* One barrier per step is enough: B is double-buffered, and a thread can only overwrite a
         * buffer after the next barrier, which every thread reaches after finishing with it. */
        nv_barrier();
      } else {
        bp = own_b;
        for (long q = 0; q < np; q++) pack_b_panel(j, bp + q * NR * kc, jc + q * NR, NV_MIN(NR, nc - q * NR), pc, kc);
      }
      for (long ic = i0; ic < i1; ic += MC) {
        long mc = NV_MIN(MC, i1 - ic);
        pack_a_block(j, ap, ic, mc, pc, kc);
        macro_kernel(ar, mc, nc, kc, ap, bp, j->C + ic * j->ldc + jc, j->ldc, j->alpha, beta);
      }
    }
  }
}

/* C = beta*C when there is nothing to multiply (k = 0 or alpha = 0); beta = 0 overwrites NaN too. */
static void scale_c(long m, long n, float beta, float *C, long ldc) {
  for (long i = 0; i < m; i++)
    for (long jj = 0; jj < n; jj++) C[i * ldc + jj] = beta == 0.0f ? 0.0f : beta * C[i * ldc + jj];
}

/* How much longer the slowest thread works than the mean when `tiles` tiles are split in T parts. */
static double imbalance(long tiles, int T) {
  long most = (tiles + T - 1) / T;
  return (double)most * T / (double)tiles;
}

void nv_sgemm(int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda, const float *B,
              long ldb, float beta, float *C, long ldc, int parallel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, C, ldc);
    return;
  }
  const arch_t *ar = &ARCHS[nv_isa()];
  gemm_job j = {ar, ta, tb, m, n, k, alpha, beta, A, lda, B, ldb, C, ldc, {NULL, NULL}, 0};
  int T = parallel ? nv_threads() : 1;
  double flops = 2.0 * m * n * k;
  if (flops < 1.5e6) T = 1;
  long mt = (m + ar->mr - 1) / ar->mr, nt = (n + ar->nr - 1) / ar->nr;
  if (T > mt && T > nt) T = (int)NV_MAX(mt, nt);
  if (T > 1) {
    double em = mt >= T ? imbalance(mt, T) : 1e9, en = nt >= T ? imbalance(nt, T) : 1e9;
    j.split_n = en + 0.05 < em;
    if (!j.split_n) {
      long kcmax = NV_MIN(ar->kc, k), ncmax = NV_MIN(ar->nc, nt * ar->nr);
      float *b = nv_shared_scratch(NV_SCRATCH_PACK_B, (size_t)(2 * ncmax * kcmax + 128) * sizeof(float));
      j.bshared[0] = b;
      j.bshared[1] = b + ((ncmax * kcmax + 15) / 16 * 16 + 16);
    }
    nv_run(gemm_body, &j, T);
  } else {
    gemm_body(&j, 0, 1);
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
