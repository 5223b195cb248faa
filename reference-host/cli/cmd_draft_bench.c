/* cmd_draft_bench.c - refhost draft-bench: a strategy drafting with the feature head against
 * plain autoregressive decoding, prompt by prompt (chat template, greedy). Checks the outputs are
 * identical and reports tau (tokens per target forward), draft time and tokens/s of both.
 * Until the generate pipeline wires draft kind "head", this is how the head runs end to end. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
          "  --threads N        target threads (default 2); --draft-threads N (default 1)\n"
          "  --no-q8            keep the head's matrices as stored (default: re-encode as Q8_0)\n",
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

int cmd_draft_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"head", required_argument, 0, 'H'},
        {"prompts", required_argument, 0, 'p'}, {"strategy", required_argument, 0, 's'},
        {"param", required_argument, 0, 'P'}, {"max-new", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 't'}, {"draft-threads", required_argument, 0, 'T'},
        {"no-q8", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model = cli_default_model(), *head = NULL, *prompts = NULL, *strategy = "chain";
    dstrat_param_t params[16];
    char *pbuf[16];
    uint32_t n_params = 0;
    unsigned long max_new = 128, threads = 2, dthreads = 1;
    int c, q8 = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'H': head = optarg; break;
        case 'p': prompts = optarg; break;
        case 's': strategy = optarg; break;
        case 'P': {
            char *eq = strchr(optarg, '=');
            if (!eq || n_params == 16) {
                fputs("refhost draft-bench: --param wants KEY=VALUE (16 at most)\n", stderr);
                return EXIT_USAGE;
            }
            pbuf[n_params] = optarg;
            *eq = '\0';
            params[n_params] = (dstrat_param_t) {optarg, eq + 1};
            n_params++;
            break;
        }
        case 'n': max_new = strtoul(optarg, NULL, 10); break;
        case 't': threads = strtoul(optarg, NULL, 10); break;
        case 'T': dthreads = strtoul(optarg, NULL, 10); break;
        case 'q': q8 = 0; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    (void) pbuf;
    if (optind < argc || !head || !prompts || !max_new) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[1024];
    size_t in_len = 0;
    char *in = cli_read_file(prompts, &in_len, err, sizeof err);
    if (!in) {
        fprintf(stderr, "refhost draft-bench: %s\n", err);
        return EXIT_INPUT;
    }
    for (size_t i = 0; i < in_len; i++) /* one prompt per line unless the file is NUL-separated */
        if (in[i] == '\n' && !memchr(in, '\0', in_len)) in[i] = '\0';
    cli_model_t m;
    if (cli_model_open(&m, model, err, sizeof err) != 0) {
        fprintf(stderr, "refhost draft-bench: %s\n", err);
        free(in);
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
    if (feature_head_backend_open_as(&fb, head, m.gguf, m.model, ctx, (int) dthreads,
                                     q8 ? GGML_TYPE_Q8_0 : GGML_TYPE_F32, &dr, err, sizeof err) != 0 ||
        !(ar = loader_open("ar", NULL, 0, err, sizeof err)) || !(lib = loader_open(strategy, NULL, 0, err, sizeof err))) {
        fprintf(stderr, "refhost draft-bench: %s\n", err);
        rc = EXIT_INPUT;
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
            run_one(ctx, &dr, lib, params, n_params, m.tok, ids, n, (uint32_t) max_new, got, &b, err, sizeof err) != 0) {
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
    return rc;
}
