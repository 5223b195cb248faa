/* test_host_e2e.c - the whole host on real (tiny, random-weight) GGUF models: the session drives
 * the real plugins over the real forward pass, KV commit and draft providers, and every strategy's
 * output must equal plain autoregressive output exactly (greedy, and sampling with the same seed). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "kernels.h"
#include "loader.h"
#include "model.h"
#include "model_backends.h"
#include "ngram_draft.h"
#include "session.h"
#include "tiny_model.h"

static char g_dir[256], g_target[300], g_draft[300];

static void write_models(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/dstrat_e2e_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_target, sizeof g_target, "%s/target.gguf", g_dir);
    snprintf(g_draft, sizeof g_draft, "%s/draft.gguf", g_dir);
    char err[512];
    tiny_model_opts t = tiny_model_default_target(), d = tiny_model_default_draft();
    cr_assert_eq(tiny_model_write(g_target, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tiny_model_write(g_draft, &d, err, sizeof err), 0, "%s", err);
}

static void remove_models(void) {
    unlink(g_target);
    unlink(g_draft);
    rmdir(g_dir);
}

typedef struct loaded {
    gguf_file_t *g;
    llm_model_t *m;
    llm_ctx_t *c;
} loaded_t;

static void load(loaded_t *l, const char *path, int threads) {
    char err[512];
    l->g = gguf_open(path, err, sizeof err);
    cr_assert_not_null(l->g, "%s", err);
    l->m = llm_model_load(l->g, err, sizeof err);
    cr_assert_not_null(l->m, "%s", err);
    llm_ctx_params_t p = {.n_ctx = 512, .max_batch = 64, .n_threads = threads, .mode = KN_MODE_EXACT};
    l->c = llm_ctx_create(l->m, &p, err, sizeof err);
    cr_assert_not_null(l->c, "%s", err);
}

static void unload(loaded_t *l) {
    llm_ctx_free(l->c);
    llm_model_free(l->m);
    gguf_close(l->g);
}

enum { DRAFT_NONE, DRAFT_MODEL, DRAFT_NGRAM };

/* One generation with strategy `name` (plugin dstrat_<name>.so) and params; returns n generated. */
static int64_t run(const char *name, const char *k, int draft_kind, float temperature, uint64_t seed,
                   const int32_t *prompt, uint32_t n_prompt, uint32_t max_new, int32_t *out) {
    loaded_t t, d = {0};
    load(&t, g_target, 2);
    sess_target_t target;
    mb_target_init(&target, t.c);
    sess_draft_t draft, *dp = NULL;
    mb_draft_model_t dstate = {0};
    ngram_draft_t *ng = NULL;
    if (draft_kind == DRAFT_MODEL) {
        load(&d, g_draft, 1);
        mb_draft_model_init(&draft, &dstate, d.c);
        dp = &draft;
    } else if (draft_kind == DRAFT_NGRAM) {
        ng = ngram_draft_new(target.n_vocab, NULL);
        ngram_draft_backend(ng, &draft);
        dp = &draft;
    }
    char err[1024];
    sess_params_t sp = {.sampling = {temperature, 0, 1.0f}, .seed = seed, .max_tree_nodes = 32,
                        .max_tree_depth = 12};
    session_t *s = session_create(&target, dp, &sp, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    loader_lib_t *lib = loader_open(name, NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    dstrat_param_t params[1] = {{"k", k}};
    dstrat_strategy_t *strat = NULL;
    cr_assert_eq(loader_create(lib, NULL, session_host(s), params, k ? 1 : 0, &strat, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(session_bind(s, strat), 0, "%s", session_error(s));
    sess_run_t r = {.prompt = prompt, .n_prompt = n_prompt, .max_new = max_new, .out = out};
    int64_t n = session_generate(s, &r);
    cr_assert_geq(n, 0, "%s: %s", name, session_error(s));
    session_free(s);
    strat->destroy(strat);
    loader_close(lib);
    ngram_draft_free(ng);
    mb_draft_model_free(&dstate);
    if (d.c) unload(&d);
    unload(&t);
    return n;
}

static uint32_t make_prompt(uint32_t i, int32_t *p) {
    /* repeated fragments give the n-gram draft something to find */
    uint32_t n = 3 + (i * 7) % 40;
    for (uint32_t j = 0; j < n; j++) p[j] = (int32_t) (3 + ((j % (2 + i % 5)) * 37 + i * 11) % 500);
    return n;
}

TestSuite(e2e, .init = write_models, .fini = remove_models, .timeout = 600);

Test(e2e, strategies_equal_ar_greedy) {
    int32_t prompt[64], ref[96], got[96];
    uint64_t compared = 0;
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t n = make_prompt(i, prompt);
        int64_t nr = run("ar", NULL, DRAFT_NONE, 0.0f, 1, prompt, n, 96, ref);
        static const char *ks[] = {"1", "3", "6"};
        for (int kk = 0; kk < 3; kk++) {
            for (int dk = DRAFT_MODEL; dk <= DRAFT_NGRAM; dk++) {
                int64_t ng = run("chain", ks[kk], dk, 0.0f, 1, prompt, n, 96, got);
                cr_assert_eq(ng, nr);
                cr_assert_arr_eq(got, ref, (size_t) nr * sizeof *ref, "prompt %u k %s draft %d differs from AR", i,
                                 ks[kk], dk);
                compared += (uint64_t) nr;
            }
        }
    }
    cr_log_info("greedy: %llu tokens compared with AR", (unsigned long long) compared);
}

Test(e2e, strategies_equal_ar_sampling_same_seed) {
    int32_t prompt[64], ref[64], got[64];
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t n = make_prompt(i + 10, prompt);
        uint64_t seed = 100 + i;
        int64_t nr = run("ar", NULL, DRAFT_NONE, 0.8f, seed, prompt, n, 64, ref);
        int64_t ng = run("chain", "4", DRAFT_MODEL, 0.8f, seed, prompt, n, 64, got);
        cr_assert_eq(ng, nr);
        cr_assert_arr_eq(got, ref, (size_t) nr * sizeof *ref, "sampling, prompt %u differs from AR", i);
        /* a different seed must give a different text somewhere (the seed is really used) */
        int64_t no = run("ar", NULL, DRAFT_NONE, 0.8f, seed + 1000, prompt, n, 64, got);
        cr_assert(no != nr || memcmp(got, ref, (size_t) nr * sizeof *ref) != 0, "seed has no effect");
    }
}
