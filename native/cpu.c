/* Which GEMM micro-kernel runs: the best this CPU supports (cpuid), capped by NANOVLM_ISA or setIsa. The
 * fp32 kernels (gemm.c, conv.c) and the bf16 engines (gemm_bf16.c) all ask here. */
#include <stdlib.h>

#include "common.h"

static int g_isa = -1, g_isa_supported = -1;

int nv_isa_supported(void) {
  if (g_isa_supported < 0) {
    int isa = NV_ISA_GENERIC;
#if NV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = NV_ISA_AVX2;
    if (isa == NV_ISA_AVX2 && __builtin_cpu_supports("avx512f")) isa = NV_ISA_AVX512;
#endif
    g_isa_supported = isa;
  }
  return g_isa_supported;
}

/* NANOVLM_ISA=generic|avx2|avx512 caps the micro-kernel (tests of the fallbacks on a capable CPU). */
int nv_isa(void) {
  if (g_isa < 0) {
    const char *s = getenv("NANOVLM_ISA");
    int want = NV_ISA_AVX512;
    if (s && strcmp(s, "avx2") == 0) want = NV_ISA_AVX2;
    else if (s && strcmp(s, "generic") == 0) want = NV_ISA_GENERIC;
    nv_set_isa(want);
  }
  return g_isa;
}

void nv_set_isa(int isa) {
  int sup = nv_isa_supported();
  g_isa = isa < 0 ? 0 : (isa > sup ? sup : isa);
}
