/* The addon's N-API face: the argument readers of native/binding.h, the registry the kernel files' NV_KERNEL
 * wrappers fill as the addon loads, the pool and CPU controls, and the export table made from both. */
#include <stdio.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common.h"
#include "binding.h"

/* ---- argument readers ---- */
void arg_fail(nv_call *c, const char *kind, const char *fmt, const char *what, const char *detail) {
  if (c->failed) return;
  c->failed = 1;
  char msg[512];
  char body[384];
  snprintf(body, sizeof body, fmt, what, detail);
  snprintf(msg, sizeof msg, "nanovlm native %s: %s", c->fn, body);
  if (kind[0] == 'T') napi_throw_type_error(c->env, NULL, msg);
  else napi_throw_range_error(c->env, NULL, msg);
}

double arg_num(nv_call *c, int i, const char *what) {
  if (c->failed) return 0;
  double d;
  if (napi_get_value_double(c->env, c->argv[i], &d) != napi_ok) {
    arg_fail(c, "T", "%s must be a number%s", what, "");
    return 0;
  }
  return d;
}

int64_t arg_int(nv_call *c, int i, const char *what, int64_t min) {
  double d = arg_num(c, i, what);
  if (c->failed) return 0;
  if (!(d == floor(d)) || d < (double)min || d > 9007199254740991.0) {
    char detail[64];
    snprintf(detail, sizeof detail, " >= %lld, got %g", (long long)min, d);
    arg_fail(c, "R", "%s must be an integer%s", what, detail);
    return 0;
  }
  return (int64_t)d;
}

int arg_bool(nv_call *c, int i, const char *what) {
  if (c->failed) return 0;
  bool b;
  if (napi_get_value_bool(c->env, c->argv[i], &b) != napi_ok) {
    arg_fail(c, "T", "%s must be a boolean%s", what, "");
    return 0;
  }
  return b;
}

int arg_is_nullish(nv_call *c, int i) {
  if (c->failed) return 0;
  napi_valuetype t;
  napi_typeof(c->env, c->argv[i], &t);
  return t == napi_null || t == napi_undefined;
}

void *arg_array(nv_call *c, int i, const char *what, napi_typedarray_type want, const char *type_name, int64_t need) {
  if (c->failed) return NULL;
  bool is_ta = false;
  napi_is_typedarray(c->env, c->argv[i], &is_ta);
  if (!is_ta) {
    arg_fail(c, "T", "%s must be a %s", what, type_name);
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_get_typedarray_info(c->env, c->argv[i], &type, &length, &data, NULL, NULL);
  if (type != want) {
    if (type == napi_float64_array && want == napi_float32_array)
      arg_fail(c, "T",
               "%s is a Float64Array; the native backend computes in %s only (use the ts backend, "
               "NANOVLM_BACKEND=ts, for float64)",
               what, "float32");
    else arg_fail(c, "T", "%s must be a %s", what, type_name);
    return NULL;
  }
  if ((int64_t)length < need) {
    char detail[96];
    snprintf(detail, sizeof detail, "%lld elements but the sizes need %lld", (long long)length, (long long)need);
    arg_fail(c, "R", "%s has %s", what, detail);
    return NULL;
  }
  /* an empty typed array may have a NULL data pointer; kernels never read it then */
  return data ? data : (void *)c->argv;
}

float *arg_f32(nv_call *c, int i, const char *what, int64_t need) {
  return arg_array(c, i, what, napi_float32_array, "Float32Array", need);
}
float *arg_f32_opt(nv_call *c, int i, const char *what, int64_t need) {
  return arg_is_nullish(c, i) ? NULL : arg_f32(c, i, what, need);
}
int32_t *arg_i32(nv_call *c, int i, const char *what, int64_t need) {
  return arg_array(c, i, what, napi_int32_array, "Int32Array", need);
}

int64_t arg_length(nv_call *c, int i) {
  napi_typedarray_type type;
  size_t length = 0;
  napi_get_typedarray_info(c->env, c->argv[i], &type, &length, NULL, NULL, NULL);
  return (int64_t)length;
}

napi_value nv_number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static napi_value string(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* ---- the registry: every exported function is a wrapper called through `call` ---- */
typedef struct {
  const char *name;
  size_t argc;
  nv_wrapper fn;
} entry;

#define MAX_KERNELS 64
static entry kernels[MAX_KERNELS];
static size_t kernel_count;

void nv_register_kernel(const char *name, size_t argc, nv_wrapper fn) {
  if (kernel_count == MAX_KERNELS) {
    fprintf(stderr, "nanovlm native: more than %d kernels (raise MAX_KERNELS in native/binding.c)\n", MAX_KERNELS);
    abort();
  }
  kernels[kernel_count++] = (entry){name, argc, fn};
}

/* Reads the arguments, checks their count and runs the wrapper the function was created with. */
static napi_value call(napi_env env, napi_callback_info info) {
  nv_call c = {.env = env, .argc = NV_MAX_ARGS};
  void *data = NULL;
  if (napi_get_cb_info(env, info, &c.argc, c.argv, NULL, &data) != napi_ok) {
    napi_throw_error(env, NULL, "nanovlm native: could not read the arguments");
    return NULL;
  }
  const entry *e = data;
  c.fn = e->name;
  if (c.argc < e->argc) {
    char n[32];
    snprintf(n, sizeof n, "%zu", e->argc);
    arg_fail(&c, "T", "expects %s arguments%s", n, "");
    return NULL;
  }
  napi_value result = e->fn(&c);
  return c.failed ? NULL : result;
}

/* ---- pool and CPU controls ---- */
static const char *ISA_NAMES[] = {"generic", "avx2", "avx512"};
static const char *BF16_NAMES[] = {"off", "avx512bf16", "amx"};

/* The index of argument 0 in names[3], or -1 (failing the call) for another string. */
static int choice(nv_call *C, const char *what, const char *const names[3]) {
  char name[16] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(C->env, C->argv[0], name, sizeof name, &len) != napi_ok) {
    arg_fail(C, "T", "%s must be a string%s", what, "");
    return -1;
  }
  for (int i = 0; i < 3; i++)
    if (strcmp(name, names[i]) == 0) return i;
  char detail[96];
  snprintf(detail, sizeof detail, "\"%s\" (%s, %s, %s)", name, names[0], names[1], names[2]);
  arg_fail(C, "R", "unknown %s %s", what, detail);
  return -1;
}

static napi_value threads(nv_call *C) { return nv_number(C->env, nv_threads()); }

static napi_value set_threads(nv_call *C) {
  int64_t n = arg_int(C, 0, "threads", 1);
  ARGS_OK
  nv_set_threads((int)NV_MIN(n, 256));
  return threads(C);
}

/* Sets a choice by name (argument 0, one of names[3]); returns the name of the one in use. */
static napi_value set_choice(nv_call *C, const char *what, const char *const names[3], void (*set)(int),
                         int (*get)(void)) {
  int i = choice(C, what, names);
  ARGS_OK
  set(i);
  return string(C->env, names[get()]);
}

static napi_value isa(nv_call *C) { return string(C->env, ISA_NAMES[nv_isa()]); }
static napi_value supported_isa(nv_call *C) { return string(C->env, ISA_NAMES[nv_isa_supported()]); }
/* Selects the GEMM micro-kernel ("generic", "avx2", "avx512"); clamped to what the CPU has. */
static napi_value set_isa(nv_call *C) { return set_choice(C, "isa", ISA_NAMES, nv_set_isa, nv_isa); }

static napi_value bf16(nv_call *C) { return string(C->env, BF16_NAMES[nv_bf16()]); }
static napi_value supported_bf16(nv_call *C) { return string(C->env, BF16_NAMES[nv_bf16_supported()]); }
/* Selects the bf16 engine ("off", "avx512bf16", "amx"); the one in use is clamped to the CPU. */
static napi_value set_bf16(nv_call *C) { return set_choice(C, "bf16 engine", BF16_NAMES, nv_set_bf16, nv_bf16); }

static const entry controls[] = {
    {"threads", 0, threads},   {"setThreads", 1, set_threads}, {"isa", 0, isa},
    {"supportedIsa", 0, supported_isa}, {"setIsa", 1, set_isa}, {"bf16", 0, bf16},
    {"supportedBf16", 0, supported_bf16}, {"setBf16", 1, set_bf16},
};

/* A training step allocates ~100 MB of fresh tensors (V8 backs them with calloc). By default glibc hands
 * every buffer above 128 KB-32 MB its own mmap and unmaps it on free, so each step pays ~30K page faults
 * (the kernel zeroing pages one at a time). Keeping such buffers in the heap and not trimming it lets
 * them be reused: measured 12% less CPU per GPT training step on 2 threads (page faults serialise
 * on the address-space lock). NANOVLM_MALLOC_TUNE=0 leaves glibc alone. */
static void tune_malloc(void) {
#if defined(__GLIBC__)
  const char *env = getenv("NANOVLM_MALLOC_TUNE");
  if (env && strcmp(env, "0") == 0) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024); /* glibc's upper limit on 64-bit */
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
}

static void export_entry(napi_env env, napi_value exports, const entry *e) {
  napi_value f;
  napi_create_function(env, e->name, NAPI_AUTO_LENGTH, call, (void *)e, &f);
  napi_set_named_property(env, exports, e->name, f);
}

static napi_value init(napi_env env, napi_value exports) {
  tune_malloc();
  for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) export_entry(env, exports, &controls[i]);
  /* the kernels, and their names (the TypeScript backend is built from them) */
  napi_value names;
  napi_create_array_with_length(env, kernel_count, &names);
  for (size_t i = 0; i < kernel_count; i++) {
    export_entry(env, exports, &kernels[i]);
    napi_set_element(env, names, (uint32_t)i, string(env, kernels[i].name));
  }
  napi_set_named_property(env, exports, "kernels", names);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
