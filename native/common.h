/* Shared declarations of the nanovlm C kernels: thread pool, per-thread scratch, CPU dispatch, and the
 * small vectorisable math helpers (exp, tanh, hash32) the kernel families share. */
#ifndef NV_COMMON_H
#define NV_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The GEMM micro-kernels use x86 intrinsics behind function-level target attributes (GCC and clang).
 * Loops in the other kernels are compiled three times (AVX-512, AVX2+FMA, baseline) and the loader picks
 * one for the CPU it runs on (GCC function multi-versioning), so no -march=native is needed. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(NV_NO_X86)
#define NV_X86 1
#endif
#if defined(NV_X86) && !defined(__clang__) && defined(__linux__)
#define NV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NV_CLONES
#endif

#define NV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NV_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- thread pool (pool.c) ---- */
typedef void (*nv_job_fn)(void *ctx, int tid, int nthreads);
typedef void (*nv_range_fn)(void *ctx, long begin, long end);

int nv_threads(void);
void nv_set_threads(int n);
/* Runs fn(ctx, tid, T) on up to T = min(nthreads, nv_threads()) threads; the caller is tid 0 and always
 * runs. Other threads join only if they arrive before the caller has finished, so fn must share out its
 * work dynamically (a claim counter), never by tid. A call made from inside a running job (or while
 * another JS thread uses the pool) runs serially with T = 1. */
void nv_run(nv_job_fn fn, void *ctx, int nthreads);
/* Runs fn over [0, n) in contiguous chunks (boundaries are multiples of `align`) claimed by the pool's
 * threads, with no chunk smaller than about `grain` items. Kernels write each output from one chunk
 * only, so results never depend on the thread count or on timing. */
void nv_parallel_for(long n, long grain, long align, nv_range_fn fn, void *ctx);
/* One step of a spin-wait: pause, and yield the CPU after a while (the machine may be shared). */
void nv_spin_pause(int *spins);

/* ---- per-thread scratch, 64-byte aligned, grown (never shrunk) on demand ----
 * PACK_A: GEMM's A panels (any thread). PACK_B: a GEMM's packed B, each thread's own (or, for a large B,
 * the calling thread's, shared with the others). WORK, WORK2: a kernel's per-task buffers. REDUCE:
 * partial sums a calling thread collects from the others (sums, layerNormBackward). Never used by JS-visible state, so two JS threads
 * calling kernels at once each use their own. */
enum { NV_SCRATCH_PACK_A, NV_SCRATCH_PACK_B, NV_SCRATCH_WORK, NV_SCRATCH_WORK2, NV_SCRATCH_REDUCE, NV_SCRATCH_SLOTS };
void *nv_scratch(int slot, size_t bytes);

/* ---- CPU features (cpu.c) ---- */
enum { NV_ISA_GENERIC = 0, NV_ISA_AVX2 = 1, NV_ISA_AVX512 = 2 };
int nv_isa(void);
int nv_isa_supported(void);
void nv_set_isa(int isa); /* clamped to what the CPU supports */

/* ---- GEMM (gemm.c) ---- row-major, op(A) m×k, op(B) k×n, C m×n with leading dimensions. */
void nv_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
              const float *B, long ldb, float beta, float *C, long ldc, int parallel);
/* A whole op(B) (k×n) packed once and multiplied many times (attention reuses K and V per query block):
 * nv_packb_floats gives the buffer size, nv_packb fills it, nv_sgemm_packb computes (serially)
 *   C[m×n] = alpha op(A)[m×(k1-k0)] · Bpacked[k0:k1, 0:n] + beta C,   n <= N, 0 <= k0 <= k1 <= K,
 * where (K, N) are the sizes the buffer was packed with. */
long nv_packb_floats(long K, long N);
void nv_packb(int transB, long K, long N, const float *B, long ldb, float *dst);
void nv_sgemm_packb(int transA, long m, long n, long k0, long k1, float alpha, const float *A, long lda,
                    const float *bp, long K, long N, float beta, float *C, long ldc);
/* One product in bf16 (inputs rounded, when a bf16 engine is in use: nv_bf16) or else fp32. */
void nv_gemm(int bf16, int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
             const float *B, long ldb, float beta, float *C, long ldc, int parallel);

/* ---- bf16 products (gemm_bf16.c) ---- A and B rounded to bf16 (nv_bf16_round), sums in fp32.
 * nv_gemm_bf16 returns 0 (and computes nothing) when no bf16 engine is in use: the caller runs fp32. */
enum { NV_BF16_OFF = 0, NV_BF16_AVX512 = 1, NV_BF16_AMX = 2 };
int nv_bf16(void);
int nv_bf16_supported(void);
void nv_set_bf16(int engine); /* clamped to what the CPU supports when used */
int nv_gemm_bf16(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
                 const float *B, long ldb, float beta, float *C, long ldc, int parallel);

/* ---- math helpers ---- */
static inline float nv_bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t nv_float_to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* exp(x) in float to about 2 ulp, branch-free so loops calling it vectorise. NaN propagates,
 * exp(-inf) = 0, exp(+large) = inf. */
static inline float nv_expf(float x) {
  const float hi = 88.7228f, lo = -87.3365f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  /* n = round(x / ln2) via the 1.5*2^23 trick (exact under round-to-nearest, no fast-math needed) */
  const float shifter = 12582912.0f;
  float t = xc * 1.44269504f + shifter;
  int32_t n = (int32_t)nv_float_to_bits(t) - (int32_t)nv_float_to_bits(shifter);
  float nf = t - shifter;
  float r = xc - nf * 0.693145752f;
  r = r - nf * 1.42860677e-6f;
  /* Taylor to degree 7 on |r| <= ln2/2: truncation < 3e-9 relative */
  float p = 1.98412698e-4f;
  p = p * r + 1.38888889e-3f;
  p = p * r + 8.33333333e-3f;
  p = p * r + 4.16666667e-2f;
  p = p * r + 1.66666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  /* 2^n split in two factors so n = 128 (x near the overflow bound) stays finite until the product */
  int32_t n1 = n >> 1, n2 = n - n1;
  float s1 = nv_bits_to_float((uint32_t)(n1 + 127) << 23);
  float s2 = nv_bits_to_float((uint32_t)(n2 + 127) << 23);
  float y = p * s1 * s2;
  y = x > hi ? INFINITY : y;
  y = x < lo ? 0.0f : y;
  return x != x ? x : y;
}

/* fp32 -> bf16 bits as VCVTNEPS2BF16 rounds: to nearest even; zero and subnormals to a signed zero; NaN
 * quieted. Mirrored by roundBf16 in src/tensor/backends/ts.ts. */
static inline uint16_t nv_bf16_round(float f) {
  uint32_t u = nv_float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* y[j] = exp(x[j] - max x) for j < n (y may be x); returns their sum. Inlined into each caller's clone, so
 * it is vectorised for the caller's ISA. */
__attribute__((always_inline)) static inline float nv_exp_shifted(const float *x, float *y, long n) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (long j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (long j = 0; j < n; j++) {
    float e = nv_expf(x[j] - mx);
    y[j] = e;
    s += e;
  }
  return s;
}

/* Mirrors hash32 in src/util/rng.ts (murmur3's finaliser over a golden-ratio stride). */
static inline uint32_t nv_hash32(uint32_t seed, uint32_t index) {
  uint32_t h = index * 0x9e3779b9u + seed;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

#endif
