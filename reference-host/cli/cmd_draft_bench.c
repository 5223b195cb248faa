/* cmd_draft_bench.c - refhost draft-bench: a strategy drafting with the feature head against
 * plain autoregressive decoding, prompt by prompt (chat template, greedy). Checks the outputs are
 * identical and reports tau (tokens per target forward), draft time and tokens/s of both.
 *
 * --calls: the cost of single draft calls instead, side by side in one run and interleaved (so a
 * busy machine slows all of them alike): a target one-token forward, the first draft call of a
 * cycle (begin_cycle + the root) and a call for a level of --level sibling nodes, for the head
 * and the n-gram draft, each through the sparse top-k path and through the dense path
 * (n_vocab logits + log_softmax + top-k in the session), with their ratios to the target. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngram_draft.h"

#include "cli_commands.h"
#include "cli_common.h"
#include "feature_head.h"
#include "loader.h"
#include "model_backends.h"
#include "session.h"

static void usage(FILE *f) {
    fputs("usage: refhost draft-bench --head FILE --prompts FILE [options]\n"
          "  --model PATH       target GGUF (default: the standard model)\n"
          "  --head FILE        draft head GGUF\n"
          "  --prompts FILE     NUL- or newline-separated user messages\n"
          "  --strategy NAME    strategy plugin (default chain); --param KEY=VALUE may repeat\n"
          "  --max-new N        tokens per prompt (default 128)\n"
          "  --threads N        target threads (default 2); --draft-threads N (default: as --threads,\n"
          "                     like generate)\n"
          "  --no-q8            keep the head's matrices as stored (default: re-encode as Q8_0)\n"
          "  --lm-head TYPE     re-encode the head's LM head as TYPE (q8_0, q4_1, q4_0, f16; default:\n"
          "                     as the other matrices)\n"
          "  --vocab N          keep the head's N most frequent draft tokens (default: all)\n"
          "  --calls            time single draft calls (head and n-gram, sparse and dense paths)\n"
          "                     against a target one-token forward, on the first prompt's context\n"
          "  --reps N           --calls repetitions (default 40); --level N nodes per level call\n"
          "                     (default 10); --top-k K per node (default 10)\n",
          f);
}

typedef struct run_out {
    int64_t n;
    sess_stats_t st;
} run_out_t;

static int eog(void *user, int32_t t) { return tok_is_eog((const tokenizer_t *) user, t); }

static int run_one(llm_ctx_t *ctx, const sess_draft_t *dr, loader_lib_t *lib, const dstrat_param_t *params,
                   uint32_t n_params, const tokenizer_t *tok, const int32_t *prompt, uint32_t n_prompt,
                   uint32_t max_new, int32_t *out, run_out_t *ro, char *err, size_t cap) {
    sess_target_t target;
    mb_target_init(&target, ctx);
    sess_params_t sp = {.sampling = {0.0f, 0, 1.0f}, .max_tree_nodes = 64, .max_tree_depth = 16};
    session_t *s = session_create(&target, dr, &sp, err, cap);
    if (!s) return -1;
    dstrat_strategy_t *strat = NULL;
    int rc = -1;
    if (loader_create(lib, NULL, session_host(s), params, n_params, &strat, err, cap) != 0) goto out;
    if (session_bind(s, strat) != 0) {
        snprintf(err, cap, "%s", session_error(s));
        goto out;
    }
    sess_run_t run = {.prompt = prompt, .n_prompt = n_prompt, .max_new = max_new, .is_eog = eog,
                      .user = (void *) tok, .out = out};
    ro->n = session_generate(s, &run);
    if (ro->n < 0) {
        snprintf(err, cap, "%s", session_error(s));
        goto out;
    }
    ro->st = *session_stats(s);
    rc = 0;
out:
    session_free(s);
    if (strat) strat->destroy(strat);
    return rc;
}


/* ------------------------------------------------------------------------------ --calls */
#define DB_KINDS 4
#define DB_MAX_LEVEL 64

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* median and minimum in ms (the minimum is the better estimate of the cost on a busy machine) */
static double median_ms(uint64_t *t, uint32_t n, double *min_ms) {
    qsort(t, n, sizeof *t, cmp_u64);
    *min_ms = n ? t[0] / 1e6 : 0.0;
    return n ? (n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2) / 1e6 : 0.0;
}

/* target: c[from..to) as chains, committed, rows handed to the draft when it wants them */
static int db_advance(llm_ctx_t *ctx, const sess_draft_t *dr, const int32_t *c, uint32_t from, uint32_t to) {
    int32_t par[64];
    while (from < to) {
        uint32_t m = to - from < 64 ? to - from : 64;
        for (uint32_t i = 0; i < m; i++) par[i] = (int32_t) i - 1;
        if (llm_forward(ctx, c + from, par, m, NULL, NULL) != 0) return -1;
        for (uint32_t i = 0; i < m; i++) par[i] = (int32_t) i;
        if (llm_commit(ctx, par, m) != 0) return -1;
        if (dr && dr->target_committed && dr->target_committed(dr->ctx, par, m) != 0) return -1;
        from += m;
    }
    return 0;
}

typedef struct db_kind {
    const char *name;
    sess_draft_t d;
    uint64_t *t_first, *t_level;
} db_kind_t;

/* One cycle of a draft: begin + root call (timed together, as the session's first call), then a
 * level of `level` children of the root (its top tokens). */
static int db_cycle(db_kind_t *k, uint32_t nv, const int32_t *c, uint32_t n, uint32_t level, uint32_t top_k,
                    float *dense, int32_t *ids, float *lp, uint32_t rep, char *err, size_t cap) {
    int32_t tok[DB_MAX_LEVEL], par[DB_MAX_LEVEL];
    uint32_t ne;
    uint64_t t0 = now_ns();
    tok[0] = c[n - 1];
    par[0] = -1;
    const uint32_t kr = top_k > level ? top_k : level;
    if (k->d.begin_cycle(k->d.ctx, c, n) != 0 ||
        sess_draft_topk(&k->d, nv, 0, tok, par, 1, NULL, kr, dense, ids, lp, &ne) != 0)
        goto fail;
    k->t_first[rep] = now_ns() - t0;
    for (uint32_t i = 0; i < level; i++) {
        tok[i] = ids[i];
        par[i] = 0;
    }
    t0 = now_ns();
    if (sess_draft_topk(&k->d, nv, 1, tok, par, level, NULL, top_k, dense, ids, lp, &ne) != 0) goto fail;
    k->t_level[rep] = now_ns() - t0;
    if (k->d.end_cycle) k->d.end_cycle(k->d.ctx);
    return 0;
fail:
    snprintf(err, cap, "%s draft: %s", k->name, k->d.error ? k->d.error(k->d.ctx) : "failed");
    return -1;
}

static int bench_calls(llm_ctx_t *ctx, const sess_draft_t *head, loader_lib_t *ar, const tokenizer_t *tok,
                       const char *text, uint32_t max_new, uint32_t reps, uint32_t level, uint32_t top_k,
                       char *err, size_t cap) {
    const uint32_t nv = llm_model_hparams(llm_ctx_model(ctx))->n_vocab;
    uint32_t n_prompt = 0;
    int32_t *prompt = cli_tokenize(tok, text, 1, &n_prompt, err, cap);
    if (!prompt) return -1;
    int rc = -1;
    ngram_draft_t *ng = ngram_draft_new(nv, NULL);
    int32_t *c = malloc(((size_t) n_prompt + max_new) * sizeof *c);
    float *dense = malloc((size_t) DB_MAX_LEVEL * nv * sizeof *dense), *logits = malloc((size_t) nv * sizeof *logits);
    int32_t *ids = malloc((size_t) DB_MAX_LEVEL * DB_MAX_LEVEL * sizeof *ids);
    float *lp = malloc((size_t) DB_MAX_LEVEL * DB_MAX_LEVEL * sizeof *lp);
    uint64_t *times = calloc((size_t) (2 * DB_KINDS + 1) * reps, sizeof *times);
    db_kind_t kinds[DB_KINDS];
    if (!ng || !c || !dense || !logits || !ids || !lp || !times) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    /* the context: the prompt and the target's own greedy reply */
    run_out_t ro;
    if (run_one(ctx, NULL, ar, NULL, 0, tok, prompt, n_prompt, max_new, c + n_prompt, &ro, err, cap) != 0) goto out;
    memcpy(c, prompt, n_prompt * sizeof *c);
    const uint32_t n = n_prompt + (uint32_t) ro.n;
    ngram_draft_backend(ng, &kinds[2].d);
    kinds[0] = (db_kind_t) {.name = "head", .d = *head};
    kinds[1] = (db_kind_t) {.name = "head, dense path", .d = *head};
    kinds[1].d.forward_topk = NULL;
    kinds[2].name = "n-gram";
    kinds[3] = (db_kind_t) {.name = "n-gram, dense path", .d = kinds[2].d};
    kinds[3].d.forward_topk = NULL;
    for (uint32_t i = 0; i < DB_KINDS; i++) {
        kinds[i].t_first = times + (size_t) (1 + 2 * i) * reps;
        kinds[i].t_level = times + (size_t) (2 + 2 * i) * reps;
    }
    if (llm_truncate(ctx, 0) != 0 || db_advance(ctx, head, c, 0, n - 1) != 0) {
        snprintf(err, cap, "target: %s", llm_last_error(ctx));
        goto out;
    }
    for (uint32_t r = 0; r < reps + 2; r++) { /* two warm-up rounds, not counted */
        const uint32_t rep = r < 2 ? 0 : r - 2;
        int32_t root = c[n - 1], par = -1;
        uint64_t t0 = now_ns();
        if (llm_forward(ctx, &root, &par, 1, NULL, logits) != 0 || llm_commit(ctx, NULL, 0) != 0) {
            snprintf(err, cap, "target: %s", llm_last_error(ctx));
            goto out;
        }
        times[rep] = now_ns() - t0;
        for (uint32_t i = 0; i < DB_KINDS; i++)
            if (db_cycle(&kinds[i], nv, c, n, level, top_k, dense, ids, lp, rep, err, cap) != 0) goto out;
    }
    double tt_min, tf_min, tl_min;
    const double tt = median_ms(times, reps, &tt_min);
    printf("context %u tokens, %u reps, top-k %u; median (min) ms; ratio = draft call / target one-token forward, "
           "of medians (of minima)\n", n, reps, top_k);
    printf("  target one-token forward %.3f (%.3f) ms\n", tt, tt_min);
    for (uint32_t i = 0; i < DB_KINDS; i++) {
        const double tf = median_ms(kinds[i].t_first, reps, &tf_min), tl = median_ms(kinds[i].t_level, reps, &tl_min);
        printf("  %-18s first call (begin + root) %.3f (%.3f) ms, ratio %.3f (%.3f); level of %u nodes %.3f (%.3f) ms, "
               "ratio %.3f (%.3f)\n", kinds[i].name, tf, tf_min, tt > 0 ? tf / tt : 0, tt_min > 0 ? tf_min / tt_min : 0,
               level, tl, tl_min, tt > 0 ? tl / tt : 0, tt_min > 0 ? tl_min / tt_min : 0);
    }
    rc = 0;
out:
    ngram_draft_free(ng);
    free(prompt);
    free(c);
    free(dense);
    free(logits);
    free(ids);
    free(lp);
    free(times);
    return rc;
}

int cmd_draft_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"head", required_argument, 0, 'H'},
        {"prompts", required_argument, 0, 'p'}, {"strategy", required_argument, 0, 's'},
        {"param", required_argument, 0, 'P'}, {"max-new", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 't'}, {"draft-threads", required_argument, 0, 'T'},
        {"no-q8", no_argument, 0, 'q'}, {"calls", no_argument, 0, 'c'}, {"reps", required_argument, 0, 'r'},
        {"level", required_argument, 0, 'l'}, {"top-k", required_argument, 0, 'k'},
        {"lm-head", required_argument, 0, 'L'}, {"vocab", required_argument, 0, 'V'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model = cli_default_model(), *head = NULL, *prompts = NULL, *strategy = "chain";
    cli_params_t cli_params = {0};
    unsigned long max_new = 128, threads = 2, dthreads = 0, reps = 40, level = 10, top_k = 10;
    int c, q8 = 1, call_mode = 0;
    uint32_t lm_type = GGML_TYPE_F32;
    unsigned long vocab = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'H': head = optarg; break;
        case 'p': prompts = optarg; break;
        case 's': strategy = optarg; break;
        case 'P': {
            char why[512];
            const int prc = cli_params_add(&cli_params, optarg, why, sizeof why);
            if (prc != 0) {
                fprintf(stderr, "refhost draft-bench: %s\n", why);
                cli_params_free(&cli_params);
                return prc;
            }
            break;
        }
        case 'n': max_new = strtoul(optarg, NULL, 10); break;
        case 't': threads = strtoul(optarg, NULL, 10); break;
        case 'T': dthreads = strtoul(optarg, NULL, 10); break;
        case 'q': q8 = 0; break;
        case 'c': call_mode = 1; break;
        case 'V': vocab = strtoul(optarg, NULL, 10); break;
        case 'L':
            if (fh_type_by_name(optarg, &lm_type) != 0) {
                fprintf(stderr, "refhost draft-bench: --lm-head wants f32, f16, q8_0, q4_1 or q4_0, got '%s'\n", optarg);
                cli_params_free(&cli_params);
                return EXIT_USAGE;
            }
            break;
        case 'r': reps = strtoul(optarg, NULL, 10); break;
        case 'l': level = strtoul(optarg, NULL, 10); break;
        case 'k': top_k = strtoul(optarg, NULL, 10); break;
        case 'h': cli_params_free(&cli_params); usage(stdout); return 0;
        default: cli_params_free(&cli_params); usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc || !head || !prompts || !max_new || !reps || reps > 100000 || !level || level > DB_MAX_LEVEL ||
        !top_k || top_k > DB_MAX_LEVEL) {
        cli_params_free(&cli_params);
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[1024];
    size_t in_len = 0;
    char *in = cli_read_file(prompts, &in_len, err, sizeof err);
    if (!in) {
        fprintf(stderr, "refhost draft-bench: %s\n", err);
        cli_params_free(&cli_params);
        return EXIT_INPUT;
    }
    for (size_t i = 0; i < in_len; i++) /* one prompt per line unless the file is NUL-separated */
        if (in[i] == '\n' && !memchr(in, '\0', in_len)) in[i] = '\0';
    cli_model_t m;
    if (cli_model_open(&m, model, err, sizeof err) != 0) {
        fprintf(stderr, "refhost draft-bench: %s\n", err);
        free(in);
        cli_params_free(&cli_params);
        return EXIT_INPUT;
    }
    int rc = EXIT_RUNTIME;
    llm_ctx_params_t cp = {.n_ctx = 2048, .max_batch = 64, .n_threads = (int) threads};
    llm_ctx_t *ctx = llm_ctx_create(m.model, &cp, err, sizeof err);
    feature_head_backend_t fb = {0};
    sess_draft_t dr;
    loader_lib_t *ar = NULL, *lib = NULL;
    int32_t *ref = malloc(max_new * sizeof *ref), *got = malloc(max_new * sizeof *got);
    if (!ctx || !ref || !got) {
        fprintf(stderr, "refhost draft-bench: %s\n", ctx ? "out of memory" : err);
        goto done;
    }
    const feature_head_opts_t ho = {q8 ? GGML_TYPE_Q8_0 : GGML_TYPE_F32, lm_type, (uint32_t) vocab};
    if (feature_head_backend_open_opts(&fb, head, m.gguf, m.model, ctx, (int) (dthreads ? dthreads : threads), &ho, &dr,
                                       err, sizeof err) != 0 ||
        !(ar = loader_open("ar", NULL, 0, err, sizeof err)) || !(lib = loader_open(strategy, NULL, 0, err, sizeof err))) {
        fprintf(stderr, "refhost draft-bench: %s\n", err);
        rc = EXIT_INPUT;
        goto done;
    }
    if (call_mode) {
        const char *first = in;
        while (first < in + in_len && !*first) first++;
        if (first == in + in_len) {
            fprintf(stderr, "refhost draft-bench: %s holds no prompt\n", prompts);
            rc = EXIT_INPUT;
            goto done;
        }
        if (bench_calls(ctx, &dr, ar, m.tok, first, (uint32_t) max_new, (uint32_t) reps, (uint32_t) level,
                        (uint32_t) top_k, err, sizeof err) != 0)
            goto fail;
        rc = 0;
        goto done;
    }
    uint64_t gen = 0, cycles = 0, t_ar = 0, t_sp = 0, t_draft = 0, t_verify = 0, n_ar = 0, calls = 0;
    int mismatches = 0, np = 0;
    for (size_t pos = 0; pos < in_len;) {
        const char *text = in + pos;
        size_t len = strlen(text);
        pos += len + 1;
        if (!len) continue;
        uint32_t n = 0;
        int32_t *ids = cli_tokenize(m.tok, text, 1, &n, err, sizeof err);
        if (!ids) goto fail;
        run_out_t a, b;
        if (run_one(ctx, NULL, ar, NULL, 0, m.tok, ids, n, (uint32_t) max_new, ref, &a, err, sizeof err) != 0 ||
            run_one(ctx, &dr, lib, cli_params.p, cli_params.n, m.tok, ids, n, (uint32_t) max_new, got, &b, err, sizeof err) != 0) {
            free(ids);
            goto fail;
        }
        free(ids);
        const int same = a.n == b.n && !memcmp(ref, got, (size_t) a.n * sizeof *ref);
        mismatches += !same;
        const double tau = b.st.n_cycles ? (double) b.n / b.st.n_cycles : 0;
        printf("prompt %d: %" PRId64 " tokens, tau %.2f, AR %.1f tok/s, %s %.1f tok/s (draft %.0f%% of decode)%s\n", np,
               b.n, tau, a.n / (a.st.t_decode_ns * 1e-9), strategy, b.n / (b.st.t_decode_ns * 1e-9),
               b.st.t_decode_ns ? 100.0 * b.st.t_draft_ns / b.st.t_decode_ns : 0, same ? "" : "  OUTPUT DIFFERS");
        fflush(stdout);
        gen += (uint64_t) b.n;
        n_ar += (uint64_t) a.n;
        cycles += b.st.n_cycles;
        t_ar += a.st.t_decode_ns;
        t_sp += b.st.t_decode_ns;
        t_draft += b.st.t_draft_ns;
        t_verify += b.st.t_verify_ns;
        calls += b.st.n_draft_calls;
        np++;
    }
    printf("total: %d prompts, tau %.3f, AR %.1f tok/s, %s %.1f tok/s, speedup %.3f; draft %.2f ms/call, %.0f%% of "
           "decode; verify %.0f%%; outputs identical: %s\n",
           np, cycles ? (double) gen / cycles : 0, n_ar / (t_ar * 1e-9), strategy, gen / (t_sp * 1e-9),
           t_sp ? (gen / (t_sp * 1e-9)) / (n_ar / (t_ar * 1e-9)) : 0, calls ? t_draft / 1e6 / calls : 0,
           t_sp ? 100.0 * t_draft / t_sp : 0, t_sp ? 100.0 * t_verify / t_sp : 0, mismatches ? "NO" : "yes");
    rc = mismatches ? EXIT_RUNTIME : 0;
    goto done;
fail:
    fprintf(stderr, "refhost draft-bench: %s\n", err);
done:
    if (lib) loader_close(lib);
    if (ar) loader_close(ar);
    feature_head_backend_close(&fb);
    llm_ctx_free(ctx);
    cli_model_close(&m);
    free(ref);
    free(got);
    free(in);
    cli_params_free(&cli_params);
    return rc;
}
