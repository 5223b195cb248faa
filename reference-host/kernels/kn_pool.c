/* kn_pool.c - persistent thread pool with low dispatch latency.
 *
 * A job is published by storing (generation, next task = 0) into one 64-bit atomic; every thread,
 * the caller included, claims tasks from it with a compare-and-swap that also checks the
 * generation, so a worker that wakes late can never run a task of a finished job. Before the new
 * job's fields are written, the old claim word is closed (new generation, no task left): a late
 * worker may read the new fn/ctx/n_tasks next to the old, exhausted claim word, and without the
 * close its compare-and-swap on that word would succeed whenever the new job has more tasks,
 * running a task nobody waits for (its extra completion then lets a later caller return while a
 * task still uses that caller's stack). The caller
 * waits only for tasks that were actually claimed: if the workers are descheduled (the machine is
 * shared), it simply runs every task itself instead of waiting for them to be scheduled.
 * Workers spin for a while between jobs (decode issues microsecond-sized jobs back to back),
 * then sleep on a condition variable. Any thread may run any task: callers must make task
 * results independent of the thread (kn_matmul does). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#include "kernels.h"

#define SPIN_ITERS 20000    /* ~0.5 ms of spinning before a worker sleeps */
#define CLAIM_CLOSED 0xffffffffu /* task index of a closed claim word: above any job's n_tasks */

/* Tests build this file with KN_POOL_TEST_HOOKS to stretch the two windows a race lives in (a
 * worker late to a job, a job half published); production builds compile the calls away. */
#ifdef KN_POOL_TEST_HOOKS
void (*kn_pool_test_hook)(void);
#define TEST_HOOK() do { if (kn_pool_test_hook) kn_pool_test_hook(); } while (0)
#else
#define TEST_HOOK() ((void)0)
#endif

typedef void (*task_fn)(void *ctx, int64_t i);

struct kn_pool {
    int n_threads;                  /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint_fast64_t claim;     /* generation << 32 | next unclaimed task */
    atomic_uint gen;                /* generation of the latest job (what sleepers wait on) */
    atomic_int n_sleeping;
    atomic_int quit;
    _Atomic(task_fn) fn;            /* current job, valid while claim's generation matches */
    _Atomic(void *) ctx;
    atomic_llong n_tasks;
    atomic_llong n_done;
};

/* claims and runs tasks of generation g until none are left; returns how many it ran */
static void run_tasks(kn_pool_t *p, uint32_t g)
{
    TEST_HOOK();
    /* acquire: the claim word is read after these (see the close in kn_pool_run) */
    task_fn fn = atomic_load_explicit(&p->fn, memory_order_acquire);
    void *ctx = atomic_load_explicit(&p->ctx, memory_order_acquire);
    int64_t n = atomic_load_explicit(&p->n_tasks, memory_order_acquire);
    uint64_t v = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(v >> 32) != g || (int64_t)(v & 0xffffffffu) >= n)
            return;
        if (atomic_compare_exchange_weak_explicit(&p->claim, &v, v + 1, memory_order_acquire,
                                                  memory_order_acquire)) {
            fn(ctx, (int64_t)(v & 0xffffffffu));
            atomic_fetch_add_explicit(&p->n_done, 1, memory_order_release);
            v = atomic_load_explicit(&p->claim, memory_order_acquire);
        }
    }
}

static void *worker_main(void *arg)
{
    kn_pool_t *p = arg;
    unsigned seen = 0;  /* gen's value at creation: a job published before we start still runs */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               spins < SPIN_ITERS) {
            CPU_RELAX();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            return NULL;
        seen = g;
        run_tasks(p, g);
    }
}

kn_pool_t *kn_pool_create(int n_threads)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    kn_pool_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->n_threads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->claim, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->n_tasks, 0);
    atomic_init(&p->n_done, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!p->threads) {
            kn_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
                kn_pool_free(p);    /* joins the threads started so far */
                return NULL;
            }
            p->n_threads = i + 2;
        }
    }
    return p;
}

void kn_pool_free(kn_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int kn_pool_size(const kn_pool_t *p) { return p ? p->n_threads : 1; }

void kn_pool_run(kn_pool_t *p, void (*fn)(void *ctx, int64_t i), void *ctx, int64_t n_tasks)
{
    if (n_tasks <= 0)
        return;
    if (!p || p->n_threads == 1 || n_tasks == 1 || n_tasks > 0x7fffffff) {
        for (int64_t i = 0; i < n_tasks; i++)
            fn(ctx, i);
        return;
    }
    /* the previous job is complete (all its tasks done), so nobody reads these fields now
     * except late workers, which the close below and the generation check turn away */
    uint32_t g = (uint32_t)atomic_load(&p->gen) + 1;
    /* close the old claim word first (see the top): a worker that sees any field written below
     * also sees the close, and a compare-and-swap against the old word fails from now on */
    atomic_store_explicit(&p->claim, (uint64_t)g << 32 | CLAIM_CLOSED, memory_order_relaxed);
    atomic_store_explicit(&p->fn, fn, memory_order_release);
    atomic_store_explicit(&p->ctx, ctx, memory_order_release);
    atomic_store_explicit(&p->n_tasks, n_tasks, memory_order_release);
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    TEST_HOOK();
    atomic_store_explicit(&p->claim, (uint64_t)g << 32, memory_order_release);
    /* seq_cst bump, then the sleeper check: pairs with the worker's increment-then-recheck */
    atomic_store(&p->gen, g);
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_tasks(p, g);
    /* only tasks a worker has claimed can still be running */
    for (long spins = 0; atomic_load_explicit(&p->n_done, memory_order_acquire) < n_tasks; spins++) {
        CPU_RELAX();
        if (spins > SPIN_ITERS)
            sched_yield();  /* the worker holding a task was descheduled: let it run */
    }
}
