/* test_head_real.c - the committed feature head (policies/draft_head/smollm2-135m-eagle3.gguf) on
 * the real target: its Q8_0 re-encoding (what generate uses) against the file's F16 weights, and
 * the sparse top-k path against the dense one. Skipped when the model or the head is absent. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feature_head.h"
#include "gguf.h"
#include "model.h"

static const char *source_file(const char *env, const char *rel, char *buf, size_t cap) {
    const char *e = env ? getenv(env) : NULL;
    if (e && *e) return access(e, R_OK) == 0 ? e : NULL;
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    snprintf(buf, cap, "%s/%s", root ? root : ".", rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

typedef struct side {
    llm_ctx_t *c;
    feature_head_backend_t b;
    sess_draft_t d;
} side_t;

static void take(side_t *s, const int32_t *c, uint32_t n) {
    int32_t par[64];
    for (uint32_t i = 0; i < n; i++) par[i] = (int32_t) i - 1;
    cr_assert_eq(llm_truncate(s->c, 0), 0);
    cr_assert_eq(llm_forward(s->c, c, par, n, NULL, NULL), 0, "%s", llm_last_error(s->c));
    for (uint32_t i = 0; i < n; i++) par[i] = (int32_t) i;
    cr_assert_eq(llm_commit(s->c, par, n), 0);
    cr_assert_eq(s->d.target_committed(s->d.ctx, par, n), 0, "%s", s->d.error(s->d.ctx));
}

/* Asserted bounds, over 40 random contexts x (root + 7 tree nodes): the Q8_0 head's top-1 equals
 * the F16 head's in >= 90% of nodes, and the sparse path's top-10 equals the dense path's with
 * log-probs within 1e-5. */
Test(head_real, q8_agrees_with_f16_and_sparse_equals_dense, .timeout = 600) {
    char mb[1024], hb[1024], err[1024];
    const char *model = source_file("DSTRAT_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf", mb, sizeof mb);
    const char *head = source_file(NULL, "policies/draft_head/smollm2-135m-eagle3.gguf", hb, sizeof hb);
    if (!model || !head) cr_skip_test("real model or committed head not found");
    gguf_file_t *g = gguf_open(model, err, sizeof err);
    cr_assert_not_null(g, "%s", err);
    llm_model_t *m = llm_model_load(g, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    const uint32_t nv = llm_model_hparams(m)->n_vocab;
    side_t s[2];
    const uint32_t types[2] = {GGML_TYPE_F32 /* as stored: F16 */, GGML_TYPE_Q8_0};
    for (int i = 0; i < 2; i++) {
        llm_ctx_params_t cp = {.n_ctx = 256, .max_batch = 64, .n_threads = 1};
        s[i].c = llm_ctx_create(m, &cp, err, sizeof err);
        cr_assert_not_null(s[i].c, "%s", err);
        cr_assert_eq(feature_head_backend_open_as(&s[i].b, head, g, m, s[i].c, 1, types[i], &s[i].d, err, sizeof err), 0,
                     "%s", err);
    }
    enum { NODES = 8, K = 10 };
    float *dense = malloc((size_t) NODES * nv * sizeof *dense);
    int32_t ids[2][NODES * K], dids[NODES * K];
    float lp[2][NODES * K], dlp[NODES * K];
    uint32_t agree = 0, total = 0;
    uint64_t rng = 2024;
    for (int trial = 0; trial < 40; trial++) {
        int32_t c[32];
        const uint32_t n = 8 + (uint32_t) trial % 24;
        for (uint32_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            c[i] = (int32_t) ((rng >> 33) % nv);
        }
        for (int w = 0; w < 2; w++) take(&s[w], c, n - 1);
        /* the tree: root, 3 children, then 4 deeper nodes; children use the F16 head's top tokens */
        int32_t tok[NODES] = {c[n - 1]}, par[NODES] = {-1, 0, 0, 0, 1, 1, 4, 2};
        uint32_t ne;
        for (int w = 0; w < 2; w++) {
            cr_assert_eq(s[w].d.begin_cycle(s[w].d.ctx, c, n), 0);
            cr_assert_eq(sess_draft_topk(&s[w].d, nv, 0, tok, par, 1, NULL, K, NULL, ids[w], lp[w], &ne), 0);
            if (w == 0)
                for (int i = 1; i < NODES; i++) tok[i] = ids[0][i % K];
            cr_assert_eq(sess_draft_topk(&s[w].d, nv, 1, tok + 1, par + 1, NODES - 1, NULL, K, NULL, ids[w] + K,
                                         lp[w] + K, &ne), 0, "%s", s[w].d.error(s[w].d.ctx));
            s[w].d.end_cycle(s[w].d.ctx);
        }
        for (int i = 0; i < NODES; i++) agree += ids[0][i * K] == ids[1][i * K];
        total += NODES;
        /* the dense path of the Q8_0 head over the same tree */
        sess_draft_t dd = s[1].d;
        dd.forward_topk = NULL;
        cr_assert_eq(dd.begin_cycle(dd.ctx, c, n), 0);
        cr_assert_eq(sess_draft_topk(&dd, nv, 0, tok, par, 1, NULL, K, dense, dids, dlp, &ne), 0);
        cr_assert_eq(sess_draft_topk(&dd, nv, 1, tok + 1, par + 1, NODES - 1, NULL, K, dense, dids + K, dlp + K, &ne), 0);
        dd.end_cycle(dd.ctx);
        for (int j = 0; j < NODES * K; j++) {
            cr_assert_eq(dids[j], ids[1][j], "trial %d node %d rank %d", trial, j / K, j % K);
            cr_assert_float_eq(dlp[j], lp[1][j], 1e-5f, "trial %d node %d rank %d", trial, j / K, j % K);
        }
    }
    cr_log_info("Q8_0 vs F16 head: top-1 agrees in %u of %u nodes", agree, total);
    cr_assert_geq(agree * 10, total * 9, "Q8_0 head agrees with the F16 head on top-1 in only %u of %u nodes", agree, total);
    free(dense);
    for (int i = 0; i < 2; i++) {
        feature_head_backend_close(&s[i].b);
        llm_ctx_free(s[i].c);
    }
    llm_model_free(m);
    gguf_close(g);
}
