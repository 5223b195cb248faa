/* test_ngram_sparse.c - the n-gram draft's sparse top-k path (forward_topk) gives strategies the
 * same distribution as its dense logits through the session's log_softmax + top-k: same tokens in
 * the same order, log-probs within 1e-5, for matches with ties, no match (uniform), k beyond the
 * number of followers (the floor tokens fill up, lowest ids first), tree nodes and want masks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram_draft.h"
#include "session.h"

#define NV 1000u
#define MAX_N 32u
#define MAX_K 40u

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t) (g_rng % n);
}

/* one draft call through both paths, compared node by node */
static void compare_call(const sess_draft_t *sparse, const sess_draft_t *dense, const int32_t *tok, const int32_t *par, uint32_t n, const uint8_t *want, uint32_t k) {
    static float logits[MAX_N * NV];
    int32_t ids_s[MAX_N * MAX_K], ids_d[MAX_N * MAX_K];
    float lp_s[MAX_N * MAX_K], lp_d[MAX_N * MAX_K];
    uint32_t ne;
    cr_assert_eq(sess_draft_topk(sparse, NV, 0, tok, par, n, want, k, NULL, ids_s, lp_s, &ne), 0);
    cr_assert_eq(sess_draft_topk(dense, NV, 0, tok, par, n, want, k, logits, ids_d, lp_d, &ne), 0);
    for (uint32_t i = 0; i < n; i++) {
        if (want && !want[i]) continue;
        for (uint32_t j = 0; j < k; j++) {
            cr_assert_eq(ids_s[i * k + j], ids_d[i * k + j], "node %u rank %u (k %u): token %d vs dense %d", i, j, k,
                         ids_s[i * k + j], ids_d[i * k + j]);
            cr_assert_float_eq(lp_s[i * k + j], lp_d[i * k + j], 1e-5f, "node %u rank %u (k %u)", i, j, k);
            if (j) cr_assert_geq(lp_s[i * k + j - 1], lp_s[i * k + j]);
        }
    }
}

static void run_cycle(ngram_draft_t *a, ngram_draft_t *b, const int32_t *c, uint32_t n_c, const int32_t *tok,
                      const int32_t *par, uint32_t n, const uint8_t *want, uint32_t k) {
    sess_draft_t sp, dn;
    ngram_draft_backend(a, &sp);
    ngram_draft_backend(b, &dn);
    cr_assert_not_null(sp.forward_topk, "the n-gram draft offers the sparse path");
    dn.forward_topk = NULL; /* the dense path of the session */
    cr_assert_eq(sp.begin_cycle(sp.ctx, c, n_c), 0);
    cr_assert_eq(dn.begin_cycle(dn.ctx, c, n_c), 0);
    compare_call(&sp, &dn, tok, par, n, want, k);
    sp.end_cycle(sp.ctx);
    dn.end_cycle(dn.ctx);
}

Test(ngram_sparse, equals_dense_on_random_trees) {
    ngram_draft_t *a = ngram_draft_new(NV, NULL), *b = ngram_draft_new(NV, NULL);
    cr_assert(a && b);
    int32_t c[400], tok[MAX_N], par[MAX_N];
    uint8_t want[MAX_N];
    const uint32_t ks[] = {1, 3, 8, 16, MAX_K};
    uint32_t n_matched = 0, n_multi = 0;
    for (uint32_t trial = 0; trial < 60; trial++) {
        /* small alphabets repeat n-grams often (ties between followers included); large ones rarely */
        const uint32_t alpha = trial % 3 == 0 ? 4 : trial % 3 == 1 ? 20 : NV;
        const uint32_t n_c = 2 + rnd(398);
        for (uint32_t i = 0; i < n_c; i++) c[i] = (int32_t) rnd(alpha);
        const uint32_t n = 1 + rnd(MAX_N);
        for (uint32_t i = 0; i < n; i++) {
            tok[i] = i == 0 ? c[n_c - 1] : (int32_t) rnd(alpha);
            par[i] = i == 0 ? -1 : (int32_t) rnd(i);
            want[i] = (uint8_t) (rnd(4) != 0);
        }
        run_cycle(a, b, c, n_c, tok, par, n, trial % 2 ? want : NULL, ks[trial % 5]);
        /* count how often the root really matched, with several followers (not vacuous) */
        static float lg[NV];
        sess_draft_t dn;
        ngram_draft_backend(b, &dn);
        uint32_t ne;
        cr_assert_eq(dn.begin_cycle(dn.ctx, c, n_c), 0);
        cr_assert_eq(dn.forward(dn.ctx, 0, tok, par, 1, lg, &ne), 0);
        dn.end_cycle(dn.ctx);
        uint32_t matched = 0, fol = 0; /* a match puts the floor (-30) on every non-follower */
        for (uint32_t v = 0; v < NV; v++) matched |= lg[v] < -1.0f;
        for (uint32_t v = 0; matched && v < NV; v++) fol += lg[v] >= 0.0f;
        n_matched += matched;
        n_multi += fol > 1;
    }
    cr_assert_gt(n_matched, 20u, "too few trials with an n-gram match (%u)", n_matched);
    cr_assert_gt(n_multi, 10u, "too few trials with several followers (%u)", n_multi);
    ngram_draft_free(a);
    ngram_draft_free(b);
}

Test(ngram_sparse, no_match_is_uniform_and_floor_fills_lowest_ids) {
    ngram_draft_t *a = ngram_draft_new(NV, NULL), *b = ngram_draft_new(NV, NULL);
    /* no repetition at all: the root's context never occurred before -> uniform, ids 0.. */
    int32_t c[5] = {900, 901, 902, 903, 904}, tok[1] = {904}, par[1] = {-1};
    int32_t ids[MAX_K];
    float lp[MAX_K];
    uint32_t ne;
    sess_draft_t sp;
    ngram_draft_backend(a, &sp);
    cr_assert_eq(sp.begin_cycle(sp.ctx, c, 5), 0);
    cr_assert_eq(sess_draft_topk(&sp, NV, 0, tok, par, 1, NULL, 4, NULL, ids, lp, &ne), 0);
    sp.end_cycle(sp.ctx);
    for (int j = 0; j < 4; j++) {
        cr_assert_eq(ids[j], j);
        cr_assert_float_eq(lp[j], -logf((float) NV), 1e-5f);
    }
    /* "7 5" occurred followed by 9 and by 3: two followers of equal count (ties: lower id first),
       then the floor tokens from id 0 (skipping the followers) */
    int32_t c2[6] = {7, 9, 7, 3, 8, 7};
    int32_t t2[1] = {7};
    cr_assert_eq(sp.begin_cycle(sp.ctx, c2, 6), 0);
    cr_assert_eq(sess_draft_topk(&sp, NV, 0, t2, par, 1, NULL, 6, NULL, ids, lp, &ne), 0);
    sp.end_cycle(sp.ctx);
    const int32_t want_ids[6] = {3, 9, 0, 1, 2, 4};
    for (int j = 0; j < 6; j++) cr_assert_eq(ids[j], want_ids[j], "rank %d: %d", j, ids[j]);
    cr_assert_float_eq(lp[0], lp[1], 1e-7f);
    cr_assert_float_eq(lp[0], logf(0.5f), 1e-5f); /* the floor tokens hold ~1e-10 of the mass */
    run_cycle(a, b, c2, 6, t2, par, 1, NULL, 6);
    ngram_draft_free(a);
    ngram_draft_free(b);
}
