/* How a kernel file exports its kernels to JavaScript. A kernel's wrapper stands in the kernel's own file:
 *
 *   NV_KERNEL(softmax, 4) {                    the Backend method's name, the arguments it needs
 *     int64_t rows = arg_int(C, 2, "rows", 0), cols = arg_int(C, 3, "cols", 0);
 *     float *x = arg_f32(C, 0, "x", rows * cols), *y = arg_f32(C, 1, "y", rows * cols);
 *     ARGS_OK                                  returns (throwing) if any argument was wrong
 *     softmax(x, y, rows, cols);
 *     return NULL;                             or a value (nv_number)
 *   }
 *
 * NV_KERNEL registers the wrapper when the addon loads (a constructor), so binding.c's export table and the
 * `kernels` name list that src/tensor/backends/native.ts builds the Backend from need no list of their own.
 * Arguments are positional: a descriptor object (GemmDesc, ...) is spread into its fields by native.ts, in
 * the order the wrapper reads them. Every argument is checked (type, integer sizes, buffer lengths), so a
 * caller's bug is a JS exception naming the kernel and the argument, never memory corruption. Typed arrays
 * are used in place (no copies). */
#ifndef NV_BINDING_H
#define NV_BINDING_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>

#define NV_MAX_ARGS 20

/* One call from JavaScript: its arguments, and whether one was found wrong (then an exception is pending). */
typedef struct {
  napi_env env;
  napi_value argv[NV_MAX_ARGS];
  size_t argc;
  const char *fn;
  int failed;
} nv_call;

typedef napi_value (*nv_wrapper)(nv_call *C);

/* Adds a kernel to the addon's exports and to its `kernels` list (NV_KERNEL calls it). */
void nv_register_kernel(const char *name, size_t argc, nv_wrapper fn);

#define NV_KERNEL(name, argc)                                                                                  \
  static napi_value name##_wrapper(nv_call *C);                                                                \
  __attribute__((constructor)) static void name##_register(void) {                                             \
    nv_register_kernel(#name, argc, name##_wrapper);                                                           \
  }                                                                                                            \
  static napi_value name##_wrapper(nv_call *C)

#define ARGS_OK                                                                                                \
  if (C->failed) return NULL;

/* Fails the call once (later failures keep the first message): kind "T" throws a TypeError, else a
 * RangeError; fmt takes two strings, what and detail. */
void arg_fail(nv_call *c, const char *kind, const char *fmt, const char *what, const char *detail);
/* An integer >= min (a double with no fraction, below 2^53). */
int64_t arg_int(nv_call *c, int i, const char *what, int64_t min);
double arg_num(nv_call *c, int i, const char *what);
int arg_bool(nv_call *c, int i, const char *what);
/* Whether argument i is null or undefined. */
int arg_is_nullish(nv_call *c, int i);
/* A typed array of type `want` with at least `need` elements. */
void *arg_array(nv_call *c, int i, const char *what, napi_typedarray_type want, const char *type_name, int64_t need);
float *arg_f32(nv_call *c, int i, const char *what, int64_t need);
/* A Float32Array, or NULL for null / undefined. */
float *arg_f32_opt(nv_call *c, int i, const char *what, int64_t need);
int32_t *arg_i32(nv_call *c, int i, const char *what, int64_t need);
/* The element count of typed array argument i. */
int64_t arg_length(nv_call *c, int i);

napi_value nv_number(napi_env env, double d);

#endif
