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
 * so a worker reads both atomically. Joining is optional: the job's `state` word holds its generation
 * (high 32 bits), the number of workers inside it (bits 1..31) and a closed flag (bit 0). The caller
 * closes the job once it has run out of work, and then waits only for workers that actually joined, so a
 * worker the OS has not scheduled yet (busy machine) costs nothing: the others take its share. */
static struct {
  int threads;  /* configured thread count, including the caller */
  int started;  /* worker threads created (tids 1..started) */
  long spin_ns; /* how long an idle worker spins before blocking */
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  _Atomic unsigned long long announce;
  _Atomic unsigned long long state;
  atomic_int sleepers;
  nv_job_fn fn;
  void *ctx;
  atomic_flag busy;
  int initialised;
} P = {.mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .busy = ATOMIC_FLAG_INIT};

static _Thread_local int tl_in_job = 0;

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

/* Enters job `gen` unless it is closed or already replaced by a newer one. */
static int try_join(unsigned long long gen) {
  unsigned long long s = atomic_load(&P.state);
  for (;;) {
    if ((s >> 32) != (gen & 0xffffffffULL) || (s & 1)) return 0;
    if (atomic_compare_exchange_weak(&P.state, &s, s + 2)) return 1;
  }
}

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
    if (arg.tid < T && try_join(seen)) {
      tl_in_job = 1;
      P.fn(P.ctx, arg.tid, T);
      tl_in_job = 0;
      atomic_fetch_sub_explicit(&P.state, 2, memory_order_release);
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

void nv_spin_pause(int *spins) {
  if (++*spins < 2048) cpu_relax();
  else sched_yield();
}

void nv_run(nv_job_fn fn, void *ctx, int nthreads) {
  init_once();
  int T = NV_MAX(1, NV_MIN(nthreads, P.threads));
  if (T == 1 || tl_in_job || atomic_flag_test_and_set(&P.busy)) {
    int saved = tl_in_job;
    tl_in_job = 1;
    fn(ctx, 0, 1);
    tl_in_job = saved;
    return;
  }
  T = ensure_workers(T);
  tl_in_job = 1;
  if (T == 1) {
    fn(ctx, 0, 1);
  } else {
    P.fn = fn;
    P.ctx = ctx;
    unsigned long long gen = (atomic_load(&P.announce) >> 16) + 1;
    atomic_store(&P.state, (gen & 0xffffffffULL) << 32);
    atomic_store(&P.announce, gen << 16 | (unsigned long long)T); /* seq_cst: pairs with sleepers */
    if (atomic_load(&P.sleepers) > 0) {
      pthread_mutex_lock(&P.mutex);
      pthread_cond_broadcast(&P.wake);
      pthread_mutex_unlock(&P.mutex);
    }
    fn(ctx, 0, T);
    /* Out of work: close the job, then wait for the workers that joined it. */
    atomic_fetch_or(&P.state, 1ULL);
    int spins = 0;
    while ((atomic_load_explicit(&P.state, memory_order_acquire) & 0xfffffffeULL) != 0) nv_spin_pause(&spins);
  }
  tl_in_job = 0;
  atomic_flag_clear(&P.busy);
}

/* ---- parallel for: chunks claimed from per-thread groups ----
 * The chunks are dealt out in one contiguous group per thread; a thread claims from its own group first
 * and then from the others'. So successive kernels over the same buffers give each thread the same
 * slices (they stay in its own caches, which matters when the two cores do not share an L3), while a
 * thread that is slow or never joins just leaves its chunks to the others. */
#define RANGE_GROUPS 16
typedef struct {
  long n, align, chunks;
  int groups;
  struct {
    _Alignas(64) atomic_long next;
    long end;
  } group[RANGE_GROUPS];
  nv_range_fn fn;
  void *ctx;
} range_job;

static long chunk_start(const range_job *j, long c) {
  if (c >= j->chunks) return j->n;
  long units = (j->n + j->align - 1) / j->align;
  long s = (long)((double)units * c / j->chunks) * j->align;
  return NV_MIN(s, j->n);
}

static void range_worker(void *vctx, int tid, int T) {
  (void)T;
  range_job *j = vctx;
  for (int r = 0; r < j->groups; r++) {
    int g = (tid + r) % j->groups;
    for (;;) {
      long c = atomic_fetch_add_explicit(&j->group[g].next, 1, memory_order_relaxed);
      if (c >= j->group[g].end) break;
      long b = chunk_start(j, c), e = chunk_start(j, c + 1);
      if (e > b) j->fn(j->ctx, b, e);
    }
  }
}

void nv_parallel_for(long n, long grain, long align, nv_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (align < 1) align = 1;
  if (grain < 1) grain = 1;
  int T = nv_threads();
  long by_grain = n / grain;
  if (T <= 1 || by_grain < 2 || tl_in_job) {
    fn(ctx, 0, n);
    return;
  }
  T = (int)NV_MIN((long)T, by_grain);
  /* A few chunks per thread, so a thread slowed down by other processes hands work to the others. */
  range_job job = {.n = n, .align = align, .chunks = NV_MIN(by_grain, 4L * T), .fn = fn, .ctx = ctx};
  job.groups = NV_MIN(T, RANGE_GROUPS);
  for (int g = 0; g < job.groups; g++) {
    atomic_init(&job.group[g].next, job.chunks * g / job.groups);
    job.group[g].end = job.chunks * (g + 1) / job.groups;
  }
  nv_run(range_worker, &job, T);
}

/* ---- scratch ---- */
static _Thread_local void *tl_scratch[NV_SCRATCH_SLOTS];
static _Thread_local size_t tl_scratch_size[NV_SCRATCH_SLOTS];

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
