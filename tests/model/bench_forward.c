/* bench_forward - cost of the llama forward on a real GGUF: ms per one-token decode step at a
 * context of ~100 tokens, and the cost of verifying n tokens in one batch (all rows' logits) as a
 * multiple of a one-token forward.
 * usage: bench_forward [MODEL.gguf] [threads=2] [reps=20] [context=100]   (MODEL defaults to $DSTRAT_MODEL;
 * $BENCH_CPU: time in process CPU time) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"

/* wall time, or with $BENCH_CPU set the process's CPU time (steadier on a busy machine with
 * threads=1, where time slices lost to other processes would otherwise count) */
static double now_ms(void)
{
    static int cpu = -1;
    if (cpu < 0)
        cpu = getenv("BENCH_CPU") != NULL;
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* min and median ms of reps forwards of an n-token chain on top of the committed context (each then
 * dropped); on a shared machine the minimum is the steadier number */
static void time_forward(llm_ctx_t *c, const int32_t *tok, const int32_t *par, uint32_t n, float *logits,
                         int reps, double *min_ms, double *med_ms)
{
    double t[64];
    if (reps > 64)
        reps = 64;
    for (int r = -1; r < reps; r++) {   /* r = -1: warm-up */
        double t0 = now_ms();
        if (llm_forward(c, tok, par, n, NULL, logits) != 0) {
            fprintf(stderr, "forward: %s\n", llm_last_error(c));
            exit(1);
        }
        double dt = now_ms() - t0;
        llm_commit(c, NULL, 0);
        if (r >= 0)
            t[r] = dt;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_d);
    *min_ms = t[0];
    *med_ms = t[reps / 2];
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("DSTRAT_MODEL");
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    int reps = argc > 3 ? atoi(argv[3]) : 20;
    const int ctx = argc > 4 ? atoi(argv[4]) : 100;
    if (!path || reps < 1 || ctx < 50 || ctx > 4000 || ctx % 50) {
        fprintf(stderr, "usage: %s MODEL.gguf [threads] [reps] [context: a multiple of 50, default 100]\n", argv[0]);
        return 2;
    }
    char err[512];
    gguf_file_t *g = gguf_open(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    llm_model_t *m = llm_model_load(g, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const llm_hparams_t *hp = llm_model_hparams(m);
    llm_ctx_params_t p = { .n_ctx = (uint32_t)ctx + 128, .max_batch = 64, .n_threads = threads, .mode = KN_MODE_EXACT };
    llm_ctx_t *c = llm_ctx_create(m, &p, err, sizeof err);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    enum { MAXN = 64 };
    int32_t tok[MAXN], par[MAXN], path_ids[MAXN];
    for (int i = 0; i < MAXN; i++) {
        tok[i] = (int32_t)((i * 7919u + 13u) % hp->n_vocab);
        par[i] = i - 1;
        path_ids[i] = i;
    }
    float *logits = malloc((size_t)MAXN * hp->n_vocab * sizeof(float));
    if (!logits)
        return 1;
    /* the context: prefill in batches of 50 */
    for (int b = 0; b < ctx / 50; b++) {
        if (llm_forward(c, tok + b % 2 * 10, par, 50, NULL, NULL) || llm_commit(c, path_ids, 50)) {
            fprintf(stderr, "prefill: %s\n", llm_last_error(c));
            return 1;
        }
    }
    printf("model: %u layers, d %u, vocab %u; isa %s; threads %d; context %u\n", hp->n_layer, hp->n_embd,
           hp->n_vocab, kn_isa_name(), threads, llm_n_past(c));
    double one, one_med;
    time_forward(c, tok, par, 1, logits, reps, &one, &one_med);
    printf("decode step (1 token + LM head): min %.2f ms (%.1f tok/s), median %.2f ms\n", one, 1000.0 / one,
           one_med);
    const uint32_t ns[] = { 1, 4, 16, 32, 64 };
    printf("verify forward (chain of n tokens, logits for all rows), min / median:\n");
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        double t, med;
        time_forward(c, tok, par, ns[i], logits, reps, &t, &med);
        printf("  n=%2u: %7.2f ms = %5.2fx one-token forward (%.2f ms/token) / median %7.2f ms\n", ns[i], t,
               t / one, t / ns[i], med);
    }
    free(logits);
    llm_ctx_free(c);
    llm_model_free(m);
    gguf_close(g);
    return 0;
}
