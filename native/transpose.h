/* 16×16 in-register transpose of 32-bit lanes, the 16-vector lane sum and the store of a few-row tile
 * (AVX-512), shared by the fp32 and bf16 kernels. Include after <immintrin.h>, inside #if NV_X86. */
#ifndef NV_TRANSPOSE_H
#define NV_TRANSPOSE_H

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

/* v0..v15 → one vector whose lane i is the sum of vi's lanes (transpose-and-add: 15 adds, 30 shuffles). */
#define PAIR(x, y) _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y))
#define QUAD(x, y) _mm512_add_ps(_mm512_shuffle_ps(x, y, 0x44), _mm512_shuffle_ps(x, y, 0xee))
__attribute__((target("avx512f"), always_inline)) static inline __m512 sum16(
    __m512 v0, __m512 v1, __m512 v2, __m512 v3, __m512 v4, __m512 v5, __m512 v6, __m512 v7, __m512 v8,
    __m512 v9, __m512 v10, __m512 v11, __m512 v12, __m512 v13, __m512 v14, __m512 v15) {
  /* u_i's 128-bit lane L holds lane L's sums of v[4i..4i+3] */
  __m512 u0 = QUAD(PAIR(v0, v1), PAIR(v2, v3)), u1 = QUAD(PAIR(v4, v5), PAIR(v6, v7));
  __m512 u2 = QUAD(PAIR(v8, v9), PAIR(v10, v11)), u3 = QUAD(PAIR(v12, v13), PAIR(v14, v15));
  __m512 y01 = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, 0x44), _mm512_shuffle_f32x4(u0, u1, 0xee));
  __m512 y23 = _mm512_add_ps(_mm512_shuffle_f32x4(u2, u3, 0x44), _mm512_shuffle_f32x4(u2, u3, 0xee));
  return _mm512_add_ps(_mm512_shuffle_f32x4(y01, y23, 0x88), _mm512_shuffle_f32x4(y01, y23, 0xdd));
}

/* The 16 accumulators acc0..acc15 of a few-row tile (gemm.c small_tile, gemm_bf16.c bf_small_tile). */
#define LANES16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define ACC_DECL(l) __m512 acc##l = _mm512_setzero_ps();
#define ACC_SUMS sum16(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11, acc12, acc13, acc14, acc15)

/* Stores a few-row tile's 16 dot products s (alpha applied): lanes ii*R .. ii*R + rw - 1 go to row ii < mv of
 * C, added to beta C unless beta is 0. */
__attribute__((target("avx512f"), always_inline)) static inline void store_tile_rows(__m512 s, float *c, long ldc,
                                                                                      int mv, int R, int rw,
                                                                                      float beta) {
  for (int ii = 0; ii < mv; ii++) {
    __mmask16 km = (__mmask16)(((1u << rw) - 1) << (ii * R));
    float *cr = c + ii * ldc - ii * R; /* lane l of a row's vector lands on column l - ii*R */
    if (beta == 0.0f) _mm512_mask_storeu_ps(cr, km, s);
    else _mm512_mask_storeu_ps(cr, km, _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(km, cr), s));
  }
}

#endif
