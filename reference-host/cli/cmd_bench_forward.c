/* cmd_bench_forward.c - refhost bench-forward: the cost of one target forward over n tokens
 * (a verification of an n-node tree) as a multiple of a one-token forward, at a fixed context.
 * Sizes are interleaved round by round so machine drift hits all alike; medians are reported. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "kernels.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

int cmd_bench_forward(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
        {"context", required_argument, 0, 'c'}, {"rounds", required_argument, 0, 'r'},
        {"fast", no_argument, 0, 'F'}, {"tree", no_argument, 0, 'T'},
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model_path = cli_default_model();
    int threads = 2, context = 128, rounds = 7, fast = 0, tree = 0, json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'c': context = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'F': fast = 1; break;
        case 'T': tree = 1; break;
        case 'j': json = 1; break;
        case 'h':
            puts("usage: refhost bench-forward [--model PATH] [--threads N] [--context N] [--rounds N]\n"
                 "                             [--fast] [--tree] [--json]\n"
                 "--tree: verify a branching tree (4 children per node) instead of a chain");
            return 0;
        default: return EXIT_USAGE;
        }
    }
    if (context < 1 || rounds < 1 || rounds > 1000) {
        fputs("refhost bench-forward: --context and --rounds must be positive\n", stderr);
        return EXIT_USAGE;
    }
    static const uint32_t sizes[] = {1, 4, 16, 32, 64};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    char err[1024];
    cli_model_t m;
    if (cli_model_open(&m, model_path, err, sizeof err) != 0) {
        fprintf(stderr, "refhost bench-forward: %s\n", err);
        return EXIT_INPUT;
    }
    llm_ctx_params_t cp = {.n_ctx = (uint32_t) context + 128, .max_batch = 64, .n_threads = threads,
                           .mode = fast ? KN_MODE_FAST : KN_MODE_EXACT};
    llm_ctx_t *ctx = llm_ctx_create(m.model, &cp, err, sizeof err);
    const uint32_t nv = llm_model_hparams(m.model)->n_vocab;
    float *logits = malloc((size_t) 64 * nv * sizeof(float));
    uint64_t *t = calloc((size_t) NS * rounds, sizeof *t);
    int rc = 0;
    if (!ctx || !logits || !t) {
        fprintf(stderr, "refhost bench-forward: %s\n", ctx ? "out of memory" : err);
        rc = EXIT_RUNTIME;
        goto out;
    }
    int32_t tokens[128], parent[128];
    for (uint32_t i = 0; i < 128; i++) tokens[i] = (int32_t) ((i * 7919u + 17u) % nv);
    for (int done = 0; done < context;) { /* fill the context with a fixed pseudo-text */
        uint32_t k = (uint32_t) (context - done) < 64 ? (uint32_t) (context - done) : 64;
        for (uint32_t i = 0; i < k; i++) parent[i] = (int32_t) i - 1;
        uint8_t none[64] = {0};
        if (llm_forward(ctx, tokens, parent, k, none, NULL) != 0) goto fwd_fail;
        for (uint32_t i = 0; i < k; i++) parent[i] = (int32_t) i;
        if (llm_commit(ctx, parent, k) != 0) goto fwd_fail;
        done += (int) k;
    }
    for (int r = -1; r < rounds; r++) { /* round -1 warms up */
        for (int si = 0; si < NS; si++) {
            uint32_t n = sizes[si];
            for (uint32_t i = 0; i < n; i++) parent[i] = tree ? (i == 0 ? -1 : (int32_t) ((i - 1) / 4)) : (int32_t) i - 1;
            uint64_t t0 = now_ns();
            if (llm_forward(ctx, tokens, parent, n, NULL, logits) != 0) goto fwd_fail;
            uint64_t dt = now_ns() - t0;
            llm_commit(ctx, NULL, 0);
            if (r >= 0) t[si * rounds + r] = dt;
        }
    }
    double med[NS];
    for (int si = 0; si < NS; si++) {
        qsort(t + si * rounds, (size_t) rounds, sizeof *t, cmp_u64);
        med[si] = (double) t[si * rounds + rounds / 2] / 1e6;
    }
    if (json) {
        printf("{\"context\": %d, \"threads\": %d, \"isa\": \"%s\", \"shape\": \"%s\", \"rows\": [", context,
               threads, kn_isa_name(), tree ? "tree" : "chain");
        for (int si = 0; si < NS; si++)
            printf("%s{\"tokens\": %u, \"ms\": %.3f, \"x_one_token\": %.3f}", si ? ", " : "", sizes[si], med[si],
                   med[si] / med[0]);
        puts("]}");
    } else {
        printf("verify-forward cost at context %d, %d threads, %s kernels, %s (median of %d)\n", context, threads,
               kn_isa_name(), tree ? "tree" : "chain", rounds);
        printf("%8s %10s %14s %14s\n", "tokens", "ms", "x 1-token", "ms per token");
        for (int si = 0; si < NS; si++)
            printf("%8u %10.3f %14.2f %14.3f\n", sizes[si], med[si], med[si] / med[0], med[si] / sizes[si]);
    }
    goto out;
fwd_fail:
    fprintf(stderr, "refhost bench-forward: %s\n", llm_last_error(ctx));
    rc = EXIT_RUNTIME;
out:
    free(t);
    free(logits);
    llm_ctx_free(ctx);
    cli_model_close(&m);
    return rc;
}
