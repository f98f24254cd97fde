/* The one thread pool every kernel uses. Workers are persistent: after a job they spin briefly (so the
 * next kernel, a few microseconds later, starts without a wake-up) and then block on a condition
 * variable. The calling thread always works as thread 0. Spinning waits yield the CPU after a while,
 * because the machine may be shared with other processes. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define NV_MAX_THREADS 256

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* A job announcement packs the generation (high bits) and the thread count (low 16 bits) in one word
 * so a worker reads both atomically. */
static struct {
  int threads;   /* configured thread count, including the caller */
  int started;   /* worker threads created (tids 1..started) */
  long spin_ns;  /* how long an idle worker spins before blocking */
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  _Atomic unsigned long long announce;
  atomic_int sleepers;
  atomic_int remaining; /* workers of the current job not yet finished */
  nv_job_fn fn;
  void *ctx;
  atomic_int bar_count;
  atomic_uint bar_gen;
  atomic_flag busy;
  int initialised;
} P = {.mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .busy = ATOMIC_FLAG_INIT};

static _Thread_local int tl_job_threads = 0; /* threads of the job this thread is running, 0 = none */

static int default_threads(void) {
  const char *env = getenv("NANOVLM_THREADS");
  if (env && *env) {
    char *end;
    long n = strtol(env, &end, 10);
    if (*end == 0 && n >= 1) return (int)NV_MIN(n, NV_MAX_THREADS);
  }
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return NV_MIN(n, NV_MAX_THREADS);
  }
#endif
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 ? (int)NV_MIN(n, NV_MAX_THREADS) : 1;
}

static void init_once(void) {
  if (P.initialised) return;
  P.threads = default_threads();
  const char *spin = getenv("NANOVLM_SPIN_US");
  P.spin_ns = (spin && *spin) ? atol(spin) * 1000L : 100000L;
  P.initialised = 1;
}

int nv_threads(void) {
  init_once();
  return P.threads;
}

void nv_set_threads(int n) {
  init_once();
  P.threads = NV_MAX(1, NV_MIN(n, NV_MAX_THREADS));
}

typedef struct {
  int tid;
  unsigned long long seen;
} worker_arg;

static void *worker_main(void *varg) {
  worker_arg arg = *(worker_arg *)varg;
  free(varg);
  unsigned long long seen = arg.seen >> 16;
  for (;;) {
    unsigned long long word = atomic_load_explicit(&P.announce, memory_order_acquire);
    if ((word >> 16) == seen) {
      long deadline = now_ns() + P.spin_ns;
      int spins = 0;
      while ((word = atomic_load_explicit(&P.announce, memory_order_acquire)) >> 16 == seen) {
        cpu_relax();
        if (++spins % 256 == 0 && now_ns() > deadline) {
          pthread_mutex_lock(&P.mutex);
          atomic_fetch_add(&P.sleepers, 1);
          while ((word = atomic_load(&P.announce)) >> 16 == seen) pthread_cond_wait(&P.wake, &P.mutex);
          atomic_fetch_sub(&P.sleepers, 1);
          pthread_mutex_unlock(&P.mutex);
          break;
        }
      }
    }
    seen = word >> 16;
    int T = (int)(word & 0xffff);
    if (arg.tid < T) {
      tl_job_threads = T;
      P.fn(P.ctx, arg.tid, T);
      tl_job_threads = 0;
      atomic_fetch_sub_explicit(&P.remaining, 1, memory_order_release);
    }
  }
  return NULL;
}

/* Creates workers up to tid T-1. Returns how many threads can actually run (creation may fail). */
static int ensure_workers(int T) {
  while (P.started + 1 < T) {
    worker_arg *arg = malloc(sizeof *arg);
    if (!arg) break;
    arg->tid = P.started + 1;
    arg->seen = atomic_load(&P.announce);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, worker_main, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      free(arg);
      break;
    }
    P.started++;
  }
  return NV_MIN(T, P.started + 1);
}

static void spin_wait_zero(atomic_int *counter) {
  int spins = 0;
  while (atomic_load_explicit(counter, memory_order_acquire) != 0) {
    if (++spins < 4096) cpu_relax();
    else sched_yield();
  }
}

void nv_run(nv_job_fn fn, void *ctx, int nthreads) {
  init_once();
  int T = NV_MAX(1, NV_MIN(nthreads, P.threads));
  if (T == 1 || tl_job_threads != 0 || atomic_flag_test_and_set(&P.busy)) {
    int saved = tl_job_threads;
    tl_job_threads = 1;
    fn(ctx, 0, 1);
    tl_job_threads = saved;
    return;
  }
  T = ensure_workers(T);
  if (T == 1) {
    tl_job_threads = 1;
    fn(ctx, 0, 1);
    tl_job_threads = 0;
    atomic_flag_clear(&P.busy);
    return;
  }
  P.fn = fn;
  P.ctx = ctx;
  atomic_store(&P.bar_count, 0);
  atomic_store(&P.remaining, T - 1);
  unsigned long long next = ((atomic_load(&P.announce) >> 16) + 1) << 16 | (unsigned long long)T;
  atomic_store(&P.announce, next); /* seq_cst: pairs with the sleepers check below */
  if (atomic_load(&P.sleepers) > 0) {
    pthread_mutex_lock(&P.mutex);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mutex);
  }
  tl_job_threads = T;
  fn(ctx, 0, T);
  tl_job_threads = 0;
  spin_wait_zero(&P.remaining);
  atomic_flag_clear(&P.busy);
}

void nv_barrier(void) {
  int T = tl_job_threads;
  if (T <= 1) return;
  unsigned gen = atomic_load_explicit(&P.bar_gen, memory_order_acquire);
  if (atomic_fetch_add_explicit(&P.bar_count, 1, memory_order_acq_rel) == T - 1) {
    atomic_store_explicit(&P.bar_count, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&P.bar_gen, 1, memory_order_release);
    return;
  }
  int spins = 0;
  while (atomic_load_explicit(&P.bar_gen, memory_order_acquire) == gen) {
    if (++spins < 4096) cpu_relax();
    else sched_yield();
  }
}

typedef struct {
  long n, align;
  nv_range_fn fn;
  void *ctx;
} range_job;

static long chunk_start(long n, long align, int t, int T) {
  if (t >= T) return n;
  long units = (n + align - 1) / align;
  long s = (long)((double)units * t / T) * align;
  return NV_MIN(s, n);
}

static void range_worker(void *vctx, int tid, int T) {
  range_job *job = vctx;
  long b = chunk_start(job->n, job->align, tid, T), e = chunk_start(job->n, job->align, tid + 1, T);
  if (e > b) job->fn(job->ctx, b, e);
}

void nv_parallel_for(long n, long grain, long align, nv_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (align < 1) align = 1;
  if (grain < 1) grain = 1;
  long by_grain = n / grain;
  int T = (int)NV_MIN((long)nv_threads(), NV_MAX(1L, by_grain));
  if (T <= 1 || tl_job_threads != 0) {
    fn(ctx, 0, n);
    return;
  }
  range_job job = {n, align, fn, ctx};
  nv_run(range_worker, &job, T);
}

/* ---- scratch ---- */
static _Thread_local void *tl_scratch[NV_SCRATCH_SLOTS];
static _Thread_local size_t tl_scratch_size[NV_SCRATCH_SLOTS];
static void *g_scratch[NV_SCRATCH_SLOTS];
static size_t g_scratch_size[NV_SCRATCH_SLOTS];

static void *grow(void **ptr, size_t *size, size_t bytes) {
  if (bytes <= *size) return *ptr;
  size_t want = bytes + bytes / 4 + 4096;
  void *p = NULL;
  if (posix_memalign(&p, 64, want) != 0) {
    fprintf(stderr, "nanovlm: out of memory growing a %zu-byte kernel scratch buffer\n", want);
    abort();
  }
  free(*ptr);
  *ptr = p;
  *size = want;
  return p;
}

void *nv_scratch(int slot, size_t bytes) { return grow(&tl_scratch[slot], &tl_scratch_size[slot], bytes); }

void *nv_shared_scratch(int slot, size_t bytes) { return grow(&g_scratch[slot], &g_scratch_size[slot], bytes); }
