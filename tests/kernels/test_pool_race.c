/* test_pool_race.c - kn_pool built with its test hooks (KN_POOL_TEST_HOOKS), which stretch the
 * windows a race needs: a worker that is late to a job, and a job that is half published. Jobs
 * alternate between few and more tasks, with contexts on the caller's stack as kn_matmul's are.
 * Before the claim word was closed ahead of publishing, a late worker paired the new job's fields
 * with the old, exhausted claim word and ran a task nobody waited for: here ~10% of jobs went
 * wrong; on real models, one crash per several thousand generations. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kernels.h"

extern void (*kn_pool_test_hook)(void);

static _Thread_local uint64_t rng = 0x9e3779b97f4a7c15ull;
static void random_delay(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    for (volatile uint64_t s = 0, n = rng % 400; s < n; s++) {}
}

#define SEAL UINT64_C(0x5ea1ed0fca11ab1e)
typedef struct {
    uint64_t seal;
    int64_t n;
    int32_t *slot;
} job_t;
static atomic_long stale;

static void task(void *ctx, int64_t i)
{
    job_t *j = ctx;
    if (j->seal != SEAL || i < 0 || i >= j->n || j->slot[i] != 0)
        atomic_fetch_add(&stale, 1);
    else
        j->slot[i] = 1;
}

static void other_task(void *ctx, int64_t i)
{
    double *d = ctx; /* another layout: read as a job_t it breaks the seal */
    d[i % 4] += 1.0;
}

static long one_job(kn_pool_t *p, int64_t n)
{
    int32_t slot[16] = {0};
    job_t j = {SEAL, n, slot};
    kn_pool_run(p, task, &j, n);
    long missed = 0;
    for (int64_t i = 0; i < n; i++)
        missed += slot[i] != 1;
    j.seal = 0;
    return missed;
}

/* many back-to-back jobs; every third is of another kind with another context layout */
static void run_jobs(int threads, long n_jobs, const char *what)
{
    kn_pool_t *p = kn_pool_create(threads);
    cr_assert_not_null(p);
    long missed = 0;
    for (long it = 0; it < n_jobs; it++) {
        missed += one_job(p, it & 1 ? 2 : 12);
        if (it % 3 == 0) {
            double d[4] = {0};
            kn_pool_run(p, other_task, d, 3);
        }
    }
    kn_pool_free(p);
    cr_assert_eq(missed, 0, "%s, %d threads: %ld tasks had not run when kn_pool_run returned", what, threads, missed);
    cr_assert_eq(atomic_load(&stale), 0, "%s, %d threads: %ld tasks ran with a finished job's context", what, threads,
                 (long) atomic_load(&stale));
}

Test(pool_race, stack_contexts_are_done_with_on_return)
{
    for (int threads = 2; threads <= 3; threads++)
        run_jobs(threads, 50000, "no delays");
}

Test(pool_race, late_workers_never_run_a_task_nobody_waits_for)
{
    kn_pool_test_hook = random_delay;
    for (int threads = 2; threads <= 3; threads++)
        run_jobs(threads, 150000, "stretched windows");
    kn_pool_test_hook = NULL;
}
