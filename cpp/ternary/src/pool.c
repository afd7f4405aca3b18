/*
 * pool.c: the library's thread pool. Persistent workers wait for a job generation (spinning for
 * spin_ns, then sleeping on a condition variable) and claim task indices from one atomic word tagged
 * with the generation; the caller's thread works as thread 0 and waits for the tasks, not for the
 * workers (a descheduled worker never holds a job up unless it holds one of its tasks). Also owns the
 * per-thread scratch the kernels use.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs tasks of job `gen` until none is left or another job has been published.
 * Returns 1 if this thread finished the job's last task. */
static int run_tasks(tern_pool *pool, uint32_t gen, int32_t thread) {
    const struct tern_job_slot *slot = &pool->slots[gen & 1];
    int finished_last = 0;
    for (;;) {
        uint64_t w = atomic_load_explicit(&pool->work, memory_order_acquire);
        if ((uint32_t)(w >> 32) != gen) break;
        const int32_t n = atomic_load_explicit(&slot->n_tasks, memory_order_relaxed);
        const uint32_t idx = (uint32_t)w;
        if (idx >= (uint32_t)n) break;
        if (!atomic_compare_exchange_weak_explicit(&pool->work, &w, w + 1, memory_order_acq_rel, memory_order_relaxed)) {
            continue;
        }
        /* the job cannot change while one of its tasks is claimed and unfinished */
        const tern_task_fn fn = atomic_load_explicit(&slot->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&slot->ctx, memory_order_relaxed);
        fn(ctx, (int32_t)idx, thread);
        if (atomic_fetch_add_explicit(&pool->tasks_done, 1, memory_order_acq_rel) + 1 == n) finished_last = 1;
    }
    return finished_last;
}

/* Spins until `cond` or `ns` pass; evaluates to 1 if `cond` became true while spinning. */
#define SPIN_UNTIL(ns, cond)                                                    \
    ({                                                                          \
        int ok_ = 0;                                                            \
        int64_t deadline_ = 0;                                                  \
        for (uint32_t i_ = 0;; i_++) {                                          \
            if (cond) { ok_ = 1; break; }                                       \
            if ((i_ & 63) == 63) {                                              \
                int64_t t_ = now_ns();                                          \
                if (!deadline_) deadline_ = t_ + (ns);                          \
                else if (t_ >= deadline_) break;                                \
            }                                                                   \
            _mm_pause();                                                        \
        }                                                                       \
        ok_;                                                                    \
    })

static uint32_t current_gen(tern_pool *pool) {
    return (uint32_t)(atomic_load_explicit(&pool->work, memory_order_acquire) >> 32);
}

typedef struct worker_arg {
    tern_pool *pool;
    int32_t id;
} worker_arg;

static void signal_done(tern_pool *pool) {
    pthread_mutex_lock(&pool->mu);
    pthread_cond_signal(&pool->cv_done);
    pthread_mutex_unlock(&pool->mu);
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    tern_pool *pool = wa->pool;
    const int32_t id = wa->id;
    free(wa);
    uint32_t seen = 0, g;
    for (;;) {
        if (!SPIN_UNTIL(pool->spin_ns, (g = current_gen(pool)) != seen)) {
            pthread_mutex_lock(&pool->mu);
            while ((g = current_gen(pool)) == seen) pthread_cond_wait(&pool->cv_work, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        seen = g;
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) return NULL;
        if (run_tasks(pool, g, id)) signal_done(pool);
    }
}

void tern_pool_run(tern_pool *pool, tern_task_fn fn, void *ctx, int32_t n_tasks) {
    if (n_tasks <= 0) return;
    if (!pool || pool->n_threads == 1 || n_tasks == 1) {
        for (int32_t i = 0; i < n_tasks; i++) fn(ctx, i, 0);
        return;
    }
    /* the previous job is complete, so nobody can claim from either slot until `work` moves on */
    const uint32_t gen = current_gen(pool) + 1;
    struct tern_job_slot *slot = &pool->slots[gen & 1];
    atomic_store_explicit(&slot->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&slot->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&slot->n_tasks, n_tasks, memory_order_relaxed);
    atomic_store_explicit(&pool->tasks_done, 0, memory_order_relaxed);
    pthread_mutex_lock(&pool->mu);
    atomic_store_explicit(&pool->work, (uint64_t)gen << 32, memory_order_release);
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    run_tasks(pool, gen, 0);
    if (!SPIN_UNTIL(pool->done_spin_ns, atomic_load_explicit(&pool->tasks_done, memory_order_acquire) == n_tasks)) {
        pthread_mutex_lock(&pool->mu);
        while (atomic_load_explicit(&pool->tasks_done, memory_order_acquire) != n_tasks) {
            pthread_cond_wait(&pool->cv_done, &pool->mu);
        }
        pthread_mutex_unlock(&pool->mu);
    }
}

int32_t tern_pool_reserve(tern_pool *pool, size_t bytes) {
    if (!pool || bytes <= pool->scratch_bytes) return TERN_OK;
    bytes = (bytes + 4095) & ~(size_t)4095;
    for (int32_t i = 0; i < pool->n_threads; i++) {
        uint8_t *p = tern_alloc(bytes);
        if (!p) return tern_fail(TERN_E_NOMEM, "cannot allocate %zu bytes of thread scratch", bytes);
        tern_free_aligned(pool->scratch[i]);
        pool->scratch[i] = p;
    }
    pool->scratch_bytes = bytes;
    return TERN_OK;
}

void tern_pool_free(tern_pool *pool) {
    if (!pool) return;
    if (pool->n_started > 0) {
        atomic_store_explicit(&pool->stop, 1, memory_order_release);
        pthread_mutex_lock(&pool->mu);
        atomic_fetch_add_explicit(&pool->work, (uint64_t)1 << 32, memory_order_release);
        pthread_cond_broadcast(&pool->cv_work);
        pthread_mutex_unlock(&pool->mu);
        for (int32_t i = 0; i < pool->n_started; i++) pthread_join(pool->threads[i], NULL);
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv_work);
    pthread_cond_destroy(&pool->cv_done);
    if (pool->scratch) {
        for (int32_t i = 0; i < pool->n_threads; i++) tern_free_aligned(pool->scratch[i]);
    }
    free(pool->scratch);
    free(pool->threads);
    tern_acts_free(pool->acts);
    free(pool);
}

int32_t tern_pool_init(int32_t n_threads, int32_t kernels, tern_pool **out) {
    if (!out) return tern_fail(TERN_E_ARG, "tern_pool_init: out is NULL");
    *out = NULL;
    const tern_kernels *k = NULL;
    const int32_t st = tern_kernels_select(kernels, &k);
    if (st != TERN_OK) return st;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int32_t)n : 1;
    }
    if (n_threads > 1024) return tern_fail(TERN_E_ARG, "tern_pool_init: n_threads %d > 1024", n_threads);
    tern_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return tern_fail(TERN_E_NOMEM, "tern_pool_init: out of memory");
    pool->n_threads = n_threads;
    pool->kernels = k;
    /* Idle workers sleep at once by default: on a shared machine a spinning worker loses its time slice
     * mid-task and stalls the caller; on idle cores TERNARY_SPIN_US=200 saves a wake-up per job. */
    pool->spin_ns = 0;
    const char *spin = getenv("TERNARY_SPIN_US");
    if (spin && *spin) pool->spin_ns = strtoll(spin, NULL, 10) * 1000;
    if (pool->spin_ns < 0) pool->spin_ns = 0;
    pool->done_spin_ns = 2000 * 1000;
    const char *dspin = getenv("TERNARY_DONE_SPIN_US");
    if (dspin && *dspin) pool->done_spin_ns = strtoll(dspin, NULL, 10) * 1000;
    if (pool->done_spin_ns < 0) pool->done_spin_ns = 0;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv_work, NULL);
    pthread_cond_init(&pool->cv_done, NULL);
    pool->scratch = calloc((size_t)n_threads, sizeof *pool->scratch);
    pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
    if (!pool->scratch || !pool->threads) {
        tern_pool_free(pool);
        return tern_fail(TERN_E_NOMEM, "tern_pool_init: out of memory");
    }
    for (int32_t i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) {
            tern_pool_free(pool);
            return tern_fail(TERN_E_NOMEM, "tern_pool_init: out of memory");
        }
        wa->pool = pool;
        wa->id = i;
        if (pthread_create(&pool->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            tern_pool_free(pool);
            return tern_fail(TERN_E_THREAD, "tern_pool_init: cannot start worker thread %d", i);
        }
        pool->n_started++;
    }
    *out = pool;
    return TERN_OK;
}

int32_t tern_pool_threads(const tern_pool *pool) { return pool ? pool->n_threads : 0; }
int32_t tern_pool_kernels(const tern_pool *pool) { return pool ? pool->kernels->family : 0; }
