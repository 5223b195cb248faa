/* test_mix_draft.c - the mix of a model draft and the n-gram lookup (mix_draft.h): its sparse
 * top-k equals log_softmax + top-k over its dense row; with no n-gram match it is the model's
 * distribution; with a match, a follower's log-prob is log((1-w) p_model + w p_lookup); weights 0
 * and 1 reduce it to each component; component errors and bad arguments are reported by name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mix_draft.h"
#include "ngram_draft.h"
#include "session.h"

#define NV 1000u
#define MAX_N 32u
#define MAX_K 40u

/* ---- a mock model draft: dense logits that depend on the node's token and its parent's ---- */
typedef struct mock_model {
    int32_t tok[1024], par[1024];
    uint32_t n_ids;
    int fail_forward;
    float sharp; /* larger = more peaked */
} mock_model_t;

static float mock_logit(const mock_model_t *m, uint32_t id, uint32_t v) {
    const uint32_t ptok = m->par[id] >= 0 ? (uint32_t) m->tok[m->par[id]] : 7u;
    uint64_t h = ((uint64_t) m->tok[id] * 0x9E3779B97F4A7C15ull) ^ ((uint64_t) ptok << 20) ^ (v * 0xBF58476D1CE4E5B9ull);
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    return m->sharp * (float) ((double) (h >> 11) / 9007199254740992.0);
}

static int mm_begin(void *ctx, const int32_t *c, uint32_t n) {
    (void) c;
    (void) n;
    ((mock_model_t *) ctx)->n_ids = 0;
    return 0;
}

static int mm_forward(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                      float *logits, uint32_t *n_evaluated) {
    mock_model_t *m = (mock_model_t *) ctx;
    if (m->fail_forward || first_id != m->n_ids) return -5;
    for (uint32_t i = 0; i < n; i++) {
        m->tok[first_id + i] = tokens[i];
        m->par[first_id + i] = parent[i];
    }
    m->n_ids += n;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t v = 0; v < NV; v++) logits[(size_t) i * NV + v] = mock_logit(m, first_id + i, v);
    if (n_evaluated) *n_evaluated = n;
    return 0;
}

static void mm_end(void *ctx) { ((mock_model_t *) ctx)->n_ids = 0; }
static const char *mm_error(void *ctx) { return ((mock_model_t *) ctx)->fail_forward ? "mock head broke" : ""; }

static void mock_backend(mock_model_t *m, sess_draft_t *d) {
    memset(d, 0, sizeof *d);
    d->ctx = m;
    d->begin_cycle = mm_begin;
    d->forward = mm_forward;
    d->end_cycle = mm_end;
    d->error = mm_error;
}

/* ---- a rig: mock model + real n-gram draft + the mix over them ---- */
typedef struct rig {
    mock_model_t model;
    ngram_draft_t *ng;
    sess_draft_t md, nd, mix;
    mix_draft_t *m;
} rig_t;

static void rig_open(rig_t *r, float w) {
    memset(r, 0, sizeof *r);
    r->model.sharp = 12.0f;
    mock_backend(&r->model, &r->md);
    r->ng = ngram_draft_new(NV, NULL);
    cr_assert_not_null(r->ng);
    ngram_draft_backend(r->ng, &r->nd);
    char err[256];
    r->m = mix_draft_new(&r->md, &r->nd, NV, w, err, sizeof err);
    cr_assert_not_null(r->m, "%s", err);
    mix_draft_backend(r->m, &r->mix);
}

static void rig_close(rig_t *r) {
    mix_draft_free(r->m);
    ngram_draft_free(r->ng);
}

/* committed text with repeats: after "9 4" came 11 twice and 21 once; 40 never occurs */
static const int32_t g_c[] = {1, 9, 4, 11, 2, 9, 4, 11, 3, 9, 4, 21, 6, 7, 8, 9};
#define N_C ((uint32_t) (sizeof g_c / sizeof g_c[0]))

/* a component's (or the mix's) top-k for a child `tok` of the root (the last committed 9),
 * through the session's helper */
static void component_topk(const sess_draft_t *d, int32_t tok, uint32_t k, int32_t *ids, float *lp) {
    static float dense[2 * NV];
    const int32_t toks[2] = {9, tok}, par[2] = {-1, 0};
    const uint8_t want[2] = {0, 1};
    int32_t all_ids[2 * MAX_K];
    float all_lp[2 * MAX_K];
    cr_assert_eq(d->begin_cycle(d->ctx, g_c, N_C), 0);
    cr_assert_eq(sess_draft_topk(d, NV, 0, toks, par, 2, want, k, dense, all_ids, all_lp, NULL), 0);
    d->end_cycle(d->ctx);
    memcpy(ids, all_ids + k, k * sizeof *ids);
    memcpy(lp, all_lp + k, k * sizeof *lp);
}

static float lp_of(const int32_t *ids, const float *lp, uint32_t k, int32_t t) {
    for (uint32_t j = 0; j < k; j++)
        if (ids[j] == t) return lp[j];
    return -INFINITY;
}

Test(mix_draft, sparse_topk_equals_dense_row) {
    /* a peaked model, and a flat one whose scaled-down candidates fall below the floor share */
    for (uint32_t wi = 0; wi < 6; wi++) {
        const float w = (float) (wi % 3) * 0.5f;
        rig_t a, b;
        rig_open(&a, w);
        rig_open(&b, w);
        a.model.sharp = b.model.sharp = wi < 3 ? 12.0f : 0.3f;
        sess_draft_t dense = b.mix;
        dense.forward_topk = NULL; /* the session's dense path: log_softmax + top-k */
        static float logits[MAX_N * NV];
        /* a tree below the last committed token: chains that follow the repeats and others */
        int32_t tok[12] = {9, 4, 21, 11, 17, 9, 40, 4, 11, 30, 31, 50};
        int32_t par[12] = {-1, 0, 0, 1, 1, 3, 2, 5, 7, 2, 9, 6};
        const uint32_t ks[] = {1, 3, 16, 33};
        for (uint32_t kk = 0; kk < 4; kk++) {
            const uint32_t k = ks[kk];
            int32_t ids_s[MAX_N * MAX_K], ids_d[MAX_N * MAX_K];
            float lp_s[MAX_N * MAX_K], lp_d[MAX_N * MAX_K];
            uint32_t ne_s = 0, ne_d = 0;
            cr_assert_eq(a.mix.begin_cycle(a.mix.ctx, g_c, N_C), 0);
            cr_assert_eq(dense.begin_cycle(dense.ctx, g_c, N_C), 0);
            /* two calls per cycle (levels), as strategies make them */
            cr_assert_eq(sess_draft_topk(&a.mix, NV, 0, tok, par, 5, NULL, k, NULL, ids_s, lp_s, &ne_s), 0, "%s",
                         a.mix.error(a.mix.ctx));
            cr_assert_eq(sess_draft_topk(&dense, NV, 0, tok, par, 5, NULL, k, logits, ids_d, lp_d, &ne_d), 0);
            cr_assert_eq(sess_draft_topk(&a.mix, NV, 5, tok + 5, par + 5, 7, NULL, k, NULL, ids_s + 5 * k,
                                         lp_s + 5 * k, &ne_s), 0);
            cr_assert_eq(sess_draft_topk(&dense, NV, 5, tok + 5, par + 5, 7, NULL, k, logits, ids_d + 5 * k,
                                         lp_d + 5 * k, &ne_d), 0);
            cr_assert_eq(ne_s, 7u, "n_evaluated = the model's nodes (the lookup evaluates none)");
            for (uint32_t i = 0; i < 12; i++) {
                double mass = 0.0;
                for (uint32_t j = 0; j < k; j++) {
                    cr_assert_eq(ids_s[i * k + j], ids_d[i * k + j], "w %.1f k %u node %u rank %u: %d vs dense %d",
                                 (double) w, k, i, j, ids_s[i * k + j], ids_d[i * k + j]);
                    cr_assert_float_eq(lp_s[i * k + j], lp_d[i * k + j], 2e-5f, "w %.1f k %u node %u rank %u",
                                       (double) w, k, i, j);
                    if (j) cr_assert_geq(lp_s[i * k + j - 1], lp_s[i * k + j]);
                    mass += exp((double) lp_s[i * k + j]);
                }
                cr_assert_leq(mass, 1.0 + 1e-5, "a distribution: top-k mass %f", mass);
            }
            a.mix.end_cycle(a.mix.ctx);
            dense.end_cycle(dense.ctx);
        }
        rig_close(&a);
        rig_close(&b);
    }
}

Test(mix_draft, no_match_is_the_model_and_a_match_mixes) {
    rig_t r;
    rig_open(&r, 0.4f);
    int32_t mid[16], lid[16], xid[16];
    float mlp[16], llp[16], xlp[16];
    /* token 40 never occurs in the committed text: the lookup is uniform, the mix is the model */
    component_topk(&r.md, 40, 16, mid, mlp);
    component_topk(&r.mix, 40, 16, xid, xlp);
    for (uint32_t j = 0; j < 16; j++) {
        cr_assert_eq(xid[j], mid[j], "rank %u", j);
        cr_assert_float_eq(xlp[j], mlp[j], 1e-6f, "rank %u", j);
    }
    /* "9 4" was followed by 11 twice and 21 once: both appear with the mixed mass */
    component_topk(&r.md, 4, 16, mid, mlp);
    component_topk(&r.nd, 4, 16, lid, llp);
    component_topk(&r.mix, 4, 16, xid, xlp);
    cr_assert_eq(lid[0], 11);
    cr_assert_eq(lid[1], 21);
    const double pl11 = exp((double) llp[0]), pl21 = exp((double) llp[1]), pl = pl11 + pl21;
    const int32_t fol[2] = {11, 21};
    const double plf[2] = {pl11, pl21};
    for (uint32_t f = 0; f < 2; f++) {
        const float lm = lp_of(mid, mlp, 16, fol[f]);
        const double want = 0.6 * (lm > -INFINITY ? exp((double) lm) : 0.0) + 0.4 * plf[f] / pl;
        cr_assert_float_eq(lp_of(xid, xlp, 16, fol[f]), (float) log(want), 1e-5f, "follower %d", fol[f]);
    }
    cr_assert_eq(xid[0], 11, "the strong follower leads the mix (0.4 * 2/3 beats the model's top)");
    /* the model's top tokens keep (1 - w) of their mass */
    for (uint32_t j = 0; j < 3; j++)
        if (mid[j] != 11 && mid[j] != 21)
            cr_assert_float_eq(lp_of(xid, xlp, 16, mid[j]), (float) log(0.6 * exp((double) mlp[j])), 1e-5f);
    rig_close(&r);
}

Test(mix_draft, weights_zero_and_one_are_the_components) {
    rig_t r0, r1;
    rig_open(&r0, 0.0f);
    rig_open(&r1, 1.0f);
    int32_t mid[8], lid[8], xid[8];
    float mlp[8], llp[8], xlp[8];
    component_topk(&r0.md, 4, 8, mid, mlp);
    component_topk(&r0.mix, 4, 8, xid, xlp);
    cr_assert_arr_eq(xid, mid, sizeof xid, "w = 0: the model's ranking");
    component_topk(&r1.nd, 4, 8, lid, llp);
    component_topk(&r1.mix, 4, 8, xid, xlp);
    cr_assert_eq(xid[0], lid[0]);
    cr_assert_eq(xid[1], lid[1]);
    cr_assert_float_eq(xlp[0], (float) log(2.0 / 3.0), 1e-5f, "w = 1: the follower frequencies");
    cr_assert_float_eq(xlp[1], (float) log(1.0 / 3.0), 1e-5f);
    rig_close(&r0);
    rig_close(&r1);
}

Test(mix_draft, errors_name_the_component_and_bad_arguments) {
    rig_t r;
    rig_open(&r, 0.5f);
    r.model.fail_forward = 1;
    int32_t tok = 9, par = -1, ids[4];
    float lp[4];
    cr_assert_eq(r.mix.begin_cycle(r.mix.ctx, g_c, N_C), 0);
    cr_assert_lt(sess_draft_topk(&r.mix, NV, 0, &tok, &par, 1, NULL, 4, NULL, ids, lp, NULL), 0);
    const char *e = r.mix.error(r.mix.ctx);
    cr_assert(strstr(e, "model draft") && strstr(e, "mock head broke"), "%s", e);
    r.mix.end_cycle(r.mix.ctx);
    r.model.fail_forward = 0;
    cr_assert_eq(r.mix.begin_cycle(r.mix.ctx, g_c, N_C), 0);
    cr_assert_lt(r.mix.forward_topk(r.mix.ctx, 0, &tok, &par, 1, NULL, NV + 1, ids, lp, NULL), 0);
    cr_assert(strstr(r.mix.error(r.mix.ctx), "top-k"), "%s", r.mix.error(r.mix.ctx));
    r.mix.end_cycle(r.mix.ctx);
    rig_close(&r);

    char err[256];
    sess_draft_t md, nd;
    mock_model_t mm = {.sharp = 1.0f};
    mock_backend(&mm, &md);
    ngram_draft_t *ng = ngram_draft_new(NV, NULL);
    ngram_draft_backend(ng, &nd);
    cr_assert_null(mix_draft_new(&md, &nd, NV, 1.5f, err, sizeof err));
    cr_assert(strstr(err, "lookup_weight"), "%s", err);
    cr_assert_null(mix_draft_new(&md, NULL, NV, 0.5f, err, sizeof err));
    cr_assert(strstr(err, "lookup"), "%s", err);
    ngram_draft_free(ng);
}
