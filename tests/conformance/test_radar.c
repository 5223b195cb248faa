/* test_radar.c - the tree strategies (static_tree, radar) beyond the generic conformance suite:
 *   - the proposed tree equals an independent re-implementation of EAGLE beam expansion + global
 *     top-N rerank over the same mock draft (bit-identical tokens and draft log-probs);
 *   - one draft_forward call per level with at most top_k nodes;
 *   - radar's decisions: always-continue == static_tree, stop-at-once == one call, a policy file
 *     with threshold 0/1, sampled decisions reproducible per seed and really stochastic;
 *   - the radar stats extension; the cost model's fit; cost_aware reacting to verify and draft
 *     costs in the intended direction;
 *   - lossless sampling (chi-square) and mock tau numbers for chain vs static_tree vs radar.
 * A minimal host over the pure mock functions drives single proposals. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_util.h"
#include "cost_model.h"
#include "policy_file.h"
#include "policy_net.h"
#include "radar_ext.h"
#include "sampler.h"
#include "topk.h"
#include "tree.h"

#define MAXN 256
#define MAXK 16
#define MAXC 8192

/* ------------------------------------------------------------------------------ mini host */
typedef struct mini {
    dstrat_host_t host;
    dstrat_host_limits_t limits;
    mock_cfg_t cfg;
    float agreement;
    int32_t committed[MAXC];
    uint32_t n_committed;
    /* this cycle's draft nodes */
    int32_t dtok[1024], dpar[1024];
    uint32_t n_ids, n_calls, max_call_nodes;
    int32_t out_node[64], out_ids[64 * MAXK];
    float out_lp[64 * MAXK];
    dstrat_dist_t out_dist[64];
    /* tree, verify */
    int32_t tok[MAXN], par[MAXN], path[MAXN], argmax[MAXN];
    float dlogp[MAXN];
    dstrat_tree_t tree;
    dstrat_accept_t acc;
} mini_t;

/* context of draft node id: committed + the path below the root */
static uint32_t node_ctx(const mini_t *m, int32_t id, int32_t *ctx) {
    int32_t rev[64];
    uint32_t d = 0;
    for (int32_t i = id; i > 0; i = m->dpar[i]) rev[d++] = m->dtok[i];
    memcpy(ctx, m->committed, m->n_committed * sizeof *ctx);
    for (uint32_t j = 0; j < d; j++) ctx[m->n_committed + j] = rev[d - 1 - j];
    return m->n_committed + d;
}

/* the same top-k log-softmax as conf_host.c */
static uint32_t topk_logsoftmax(const float *lg, uint32_t n_vocab, uint32_t k, int32_t *ids, float *lp) {
    double mx = lg[0], z = 0.0;
    for (uint32_t t = 1; t < n_vocab; t++) mx = lg[t] > mx ? lg[t] : mx;
    for (uint32_t t = 0; t < n_vocab; t++) z += exp(lg[t] - mx);
    uint32_t got = dst_topk_dense(lg, n_vocab, k, ids, lp);
    for (uint32_t j = 0; j < got; j++) lp[j] = (float) (lp[j] - mx - log(z));
    return got;
}

static dstrat_status_t DSTRAT_CALL mini_draft(const dstrat_host_t *h, uint32_t n, const dstrat_draft_req_t *r,
                                              dstrat_draft_out_t *out) {
    mini_t *m = h->host_data;
    if (n != 1 || r->n_nodes == 0 || r->n_nodes > 64 || r->top_k < 1 || r->top_k > MAXK || m->n_ids + r->n_nodes > 1024)
        return DSTRAT_E_INVALID_ARG;
    static int32_t ctx[MAXC + 64];
    static float lg[4096];
    uint32_t n_out = 0;
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        const uint32_t id = m->n_ids + i;
        if (id == 0 ? (r->parent[i] != -1 || r->token[i] != m->committed[m->n_committed - 1])
                    : (r->parent[i] < 0 || (uint32_t) r->parent[i] >= id))
            return DSTRAT_E_INVALID_ARG;
        m->dtok[id] = r->token[i];
        m->dpar[id] = r->parent[i];
        if (r->want && !r->want[i]) continue;
        const uint32_t n_ctx = node_ctx(m, (int32_t) id, ctx);
        mock_draft_logits(&m->cfg, m->agreement, ctx, n_ctx, lg);
        const uint32_t got = topk_logsoftmax(lg, m->cfg.n_vocab, r->top_k, m->out_ids + n_out * MAXK, m->out_lp + n_out * MAXK);
        m->out_dist[n_out] = (dstrat_dist_t) {sizeof(dstrat_dist_t), got, m->out_ids + n_out * MAXK, m->out_lp + n_out * MAXK};
        m->out_node[n_out] = (int32_t) id;
        n_out++;
    }
    m->n_ids += r->n_nodes;
    m->n_calls++;
    if (r->n_nodes > m->max_call_nodes) m->max_call_nodes = r->n_nodes;
    *out = (dstrat_draft_out_t) {sizeof *out, n_out, m->out_node, m->out_dist, 0, r->n_nodes, 0};
    return DSTRAT_OK;
}

static uint64_t DSTRAT_CALL mini_now(const dstrat_host_t *h) {
    (void) h;
    return 0;
}

static void mini_init(mini_t *m, float agreement, const int32_t *prompt, uint32_t n) {
    memset(m, 0, sizeof *m);
    m->cfg = mock_default_cfg();
    m->agreement = agreement;
    m->limits = (dstrat_host_limits_t) {sizeof m->limits, m->cfg.n_vocab, 1, MAXN, 16, 64, MAXK};
    m->host = (dstrat_host_t) {.struct_size = sizeof m->host, .abi_version = DSTRAT_VERSION_INIT, .host_data = m,
                               .name = "mini", .version = "1",
                               .caps = DSTRAT_CAP_DRAFT | DSTRAT_CAP_DRAFT_TREE | DSTRAT_CAP_VERIFY_TREE,
                               .limits = &m->limits, .now_ns = mini_now, .draft_forward = mini_draft};
    memcpy(m->committed, prompt, n * sizeof *prompt);
    m->n_committed = n;
    m->tree = (dstrat_tree_t) {sizeof m->tree, MAXN, 0, 0, m->tok, m->par, m->dlogp};
    m->acc = (dstrat_accept_t) {sizeof m->acc, MAXN, 0, m->path, 0, 0};
}

typedef struct run {
    mini_t *m;
    dstrat_strategy_t *s;
    dstrat_session_t *ss;
} run_t;

static run_t run_open(mini_t *m, const char *file, const char *id, const char *params, uint32_t max_nodes,
                      uint64_t seed) {
    char err[512], store[512];
    const dstrat_entry_t *e = conf_entry(file, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    dstrat_param_t p[16];
    uint32_t np = conf_parse_params(params, store, sizeof store, p, 16);
    run_t r = {m, NULL, NULL};
    cr_assert_eq(e->strategy_create(id, &m->host, p, np, &r.s, err, sizeof err), DSTRAT_OK, "%s '%s': %s", id, params, err);
    dstrat_session_params_t sp = {sizeof sp, max_nodes, 0, m->host.caps, 16, 1, seed};
    cr_assert_eq(r.s->session_create(r.s, &sp, &r.ss), DSTRAT_OK, "%s", r.s->last_error(r.s));
    cr_assert_eq(r.s->session_reset(r.s, r.ss, m->committed, m->n_committed), DSTRAT_OK);
    return r;
}

static void run_close(run_t *r) {
    r->s->session_destroy(r->s, r->ss);
    r->s->destroy(r->s);
}

static void propose(run_t *r) {
    r->m->n_ids = r->m->n_calls = r->m->max_call_nodes = 0;
    dstrat_tree_t *t = &r->m->tree;
    dstrat_status_t rc = r->s->propose(r->s, 1, &r->ss, &t);
    cr_assert(rc == DSTRAT_OK || rc == DSTRAT_EMPTY, "propose %d: %s", rc, r->s->last_error(r->s));
    char err[256];
    cr_assert_eq(dst_tree_validate(t, r->m->committed[r->m->n_committed - 1], r->m->cfg.n_vocab, 16, err, sizeof err), 0, "%s", err);
}

/* greedy verify with the mock target, accept, commit */
static uint32_t verify_accept(run_t *r) {
    mini_t *m = r->m;
    static int32_t ctx[MAXC + 64];
    static float lg[4096];
    for (uint32_t i = 0; i < m->tree.n_nodes; i++) {
        int32_t rev[64];
        uint32_t d = 0;
        for (int32_t j = (int32_t) i; j > 0; j = m->par[j]) rev[d++] = m->tok[j];
        memcpy(ctx, m->committed, m->n_committed * sizeof *ctx);
        for (uint32_t j = 0; j < d; j++) ctx[m->n_committed + j] = rev[d - 1 - j];
        mock_logits(&m->cfg, MOCK_SALT_TARGET, ctx, m->n_committed + d, lg);
        m->argmax[i] = sampler_argmax(lg, m->cfg.n_vocab);
    }
    dstrat_verify_t v = {sizeof v, m->tree.n_nodes, NULL, m->argmax, 1, 0, 1, m->n_committed - 1};
    const dstrat_verify_t *vp = &v;
    const dstrat_tree_t *tp = &m->tree;
    dstrat_accept_t *ap = &m->acc;
    cr_assert_eq(r->s->accept(r->s, 1, &r->ss, &tp, &vp, &ap), DSTRAT_OK, "%s", r->s->last_error(r->s));
    for (uint32_t j = 1; j < m->acc.n_path; j++) m->committed[m->n_committed++] = m->tok[m->path[j]];
    m->committed[m->n_committed++] = m->acc.next_token;
    return m->acc.n_path;
}

/* ------------------------------------------------------------------------------ reference expansion */
typedef struct rcand {
    int32_t tok, parent;
    float lp, cum;
} rcand_t;

static const rcand_t *g_rc;
static int rank_cmp(const void *pa, const void *pb) {
    const uint32_t a = *(const uint32_t *) pa, b = *(const uint32_t *) pb;
    if (g_rc[a].cum != g_rc[b].cum) return g_rc[a].cum > g_rc[b].cum ? -1 : 1;
    return (a > b) - (a < b);
}

static uint32_t rpath(const rcand_t *c, uint32_t i, int32_t *out) {
    int32_t rev[64];
    uint32_t d = 0;
    for (int32_t j = (int32_t) i; j >= 0; j = c[j].parent) rev[d++] = c[j].tok;
    for (uint32_t j = 0; j < d; j++) out[j] = rev[d - 1 - j];
    return d;
}

/* EAGLE: K beams x K children per level for `depth` levels, global top-n; writes "path:logp"
 * strings of the chosen nodes into keys (sorted) and returns their count */
static uint32_t reference_tree(const mini_t *m, uint32_t K, uint32_t depth, uint32_t n, char keys[][256]) {
    static rcand_t c[8192];
    static uint32_t order[8192], frontier[64];
    static int32_t ctx[MAXC + 64];
    static float lg[4096];
    int32_t ids[MAXK], path[64];
    float lp[MAXK];
    uint32_t nc = 0, nf = 0, level_first = 0;
    for (uint32_t level = 1; level <= depth; level++) {
        const uint32_t n_parents = level == 1 ? 1 : nf;
        level_first = nc;
        for (uint32_t b = 0; b < n_parents; b++) {
            const int32_t parent = level == 1 ? -1 : (int32_t) frontier[b];
            uint32_t d = parent < 0 ? 0 : rpath(c, (uint32_t) parent, path);
            memcpy(ctx, m->committed, m->n_committed * sizeof *ctx);
            memcpy(ctx + m->n_committed, path, d * sizeof *ctx);
            mock_draft_logits(&m->cfg, m->agreement, ctx, m->n_committed + d, lg);
            const uint32_t got = topk_logsoftmax(lg, m->cfg.n_vocab, K, ids, lp);
            for (uint32_t j = 0; j < got; j++) {
                const float l = lp[j] > 0.0f ? 0.0f : lp[j];
                c[nc] = (rcand_t) {ids[j], parent, l, (parent < 0 ? 0.0f : c[parent].cum) + l};
                nc++;
            }
        }
        for (uint32_t j = level_first; j < nc; j++) order[j - level_first] = j;
        g_rc = c;
        qsort(order, nc - level_first, sizeof *order, rank_cmp);
        nf = nc - level_first < K ? nc - level_first : K;
        memcpy(frontier, order, nf * sizeof *frontier);
    }
    for (uint32_t j = 0; j < nc; j++) order[j] = j;
    qsort(order, nc, sizeof *order, rank_cmp);
    if (n > nc) n = nc;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t d = rpath(c, order[j], path);
        int off = 0;
        for (uint32_t k = 0; k < d; k++) off += snprintf(keys[j] + off, 256 - (size_t) off, "%d,", path[k]);
        snprintf(keys[j] + off, 256 - (size_t) off, ":%.9g", (double) c[order[j]].lp);
    }
    qsort(keys, n, 256, (int (*)(const void *, const void *)) strcmp);
    return n;
}

static uint32_t tree_keys(const mini_t *m, char keys[][256]) {
    const dstrat_tree_t *t = &m->tree;
    for (uint32_t i = 1; i < t->n_nodes; i++) {
        int32_t rev[64];
        uint32_t d = 0;
        for (int32_t j = (int32_t) i; j > 0; j = t->parent[j]) rev[d++] = t->token[j];
        int off = 0;
        for (uint32_t k = d; k-- > 0;) off += snprintf(keys[i - 1] + off, 256 - (size_t) off, "%d,", rev[k]);
        snprintf(keys[i - 1] + off, 256 - (size_t) off, ":%.9g", (double) t->draft_logp[i]);
    }
    qsort(keys, t->n_nodes - 1, 256, (int (*)(const void *, const void *)) strcmp);
    return t->n_nodes - 1;
}

static const int32_t prompt0[] = {3, 14, 15, 92, 65};

Test(tree, matches_independent_eagle_expansion) {
    static char want[MAXN][256], got[MAXN][256];
    static const struct { const char *file, *id, *params; uint32_t K, depth, n; } cases[] = {
        {"static_tree/dstrat_static_tree.so", "static_tree", "depth=3 top_k=4 total_tokens=16", 4, 3, 15},
        {"static_tree/dstrat_static_tree.so", "static_tree", "", 8, 5, 31},
        {"static_tree/dstrat_static_tree.so", "static_tree", "depth=6 top_k=3 total_tokens=200", 3, 6, 199},
        {"static_tree/dstrat_static_tree.so", "static_tree", "depth=1 top_k=16 total_tokens=9", 16, 1, 8},
        {"radar/dstrat_radar.so", "radar", "min_beam_prob=0", 10, 8, 59},
        {"radar/dstrat_radar.so", "radar", "min_beam_prob=1 top_k=6", 6, 1, 59},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int pi = 0; pi < 3; pi++) {
            mini_t *m = calloc(1, sizeof *m);
            int32_t pr[8];
            for (int j = 0; j < 5; j++) pr[j] = (prompt0[j] * (pi + 1) + j) % 128;
            mini_init(m, pi == 2 ? 0.3f : 0.8f, pr, 5);
            run_t r = run_open(m, cases[ci].file, cases[ci].id, cases[ci].params, MAXN, 1);
            propose(&r);
            const uint32_t nw = reference_tree(m, cases[ci].K, cases[ci].depth, cases[ci].n, want);
            const uint32_t ng = tree_keys(m, got);
            cr_assert_eq(ng, nw, "%s '%s' prompt %d: %u nodes, reference %u", cases[ci].id, cases[ci].params, pi, ng, nw);
            for (uint32_t j = 0; j < nw; j++)
                cr_assert_str_eq(got[j], want[j], "%s '%s' prompt %d node %u", cases[ci].id, cases[ci].params, pi, j);
            cr_assert_eq(m->n_calls, cases[ci].depth, "%s '%s': one draft call per level", cases[ci].id, cases[ci].params);
            cr_assert_leq(m->max_call_nodes, cases[ci].K);
            run_close(&r);
            free(m);
        }
}

/* the session's max_tree_nodes and max_tree_depth bound the tree */
Test(tree, respects_session_limits) {
    mini_t *m = calloc(1, sizeof *m);
    mini_init(m, 0.9f, prompt0, 5);
    run_t r = run_open(m, "static_tree/dstrat_static_tree.so", "static_tree", "depth=8 top_k=8 total_tokens=100", 20, 1);
    propose(&r);
    cr_assert_eq(m->tree.n_nodes, 20u);
    run_close(&r);
    dstrat_session_params_t sp = {sizeof sp, 64, 0, m->host.caps, 3, 1, 1};
    r = run_open(m, "radar/dstrat_radar.so", "radar", "min_beam_prob=0", 64, 1);
    r.s->session_destroy(r.s, r.ss);
    cr_assert_eq(r.s->session_create(r.s, &sp, &r.ss), DSTRAT_OK);
    cr_assert_eq(r.s->session_reset(r.s, r.ss, m->committed, m->n_committed), DSTRAT_OK);
    propose(&r);
    for (uint32_t i = 1; i < m->tree.n_nodes; i++) cr_assert_leq(dst_tree_depth(&m->tree, (int32_t) i), 3u);
    cr_assert_eq(m->n_calls, 3u);
    run_close(&r);
    free(m);
}

/* ------------------------------------------------------------------------------ radar decisions */
static void policy_path(char *buf, size_t cap, uint32_t k) {
    snprintf(buf, cap, "/tmp/dstrat_test_radar_%ld_k%u.dspol", (long) getpid(), k);
    dspn_net_t net;
    cr_assert_eq(dspn_init(&net, k, 16, 16), 0);
    dspn_init_random(&net, 42);
    const dspf_kv_t kv[] = {{"features", "radar-beam-cumlogp"}, {"target", "mock"}, {"draft", "mock"}};
    char err[512];
    cr_assert_eq(dspn_save(&net, buf, kv, 3, err, sizeof err), 0, "%s", err);
    dspn_free(&net);
}

static dstrat_radar_stats_t radar_stats(const run_t *r) {
    const dstrat_radar_stats_ext_t *x = r->s->get_extension(r->s, DSTRAT_RADAR_STATS_ID);
    cr_assert_not_null(x);
    dstrat_radar_stats_t st = {.struct_size = sizeof st};
    cr_assert_eq(x->get(r->s, &st), DSTRAT_OK);
    return st;
}

/* runs `cycles` greedy cycles; returns the radar stats and the committed length */
static dstrat_radar_stats_t run_cycles(const char *params, uint32_t cycles, uint64_t seed, uint32_t *n_out) {
    mini_t *m = calloc(1, sizeof *m);
    mini_init(m, 0.8f, prompt0, 5);
    run_t r = run_open(m, "radar/dstrat_radar.so", "radar", params, 64, seed);
    for (uint32_t c = 0; c < cycles; c++) {
        propose(&r);
        verify_accept(&r);
    }
    dstrat_radar_stats_t st = radar_stats(&r);
    if (n_out) *n_out = m->n_committed;
    run_close(&r);
    free(m);
    return st;
}

Test(radar, decisions_and_stats) {
    char pk[256], params[512];
    policy_path(pk, sizeof pk, 10);
    const uint32_t C = 40;
    /* always continue: 8 calls every cycle; stop at once: 1 call */
    dstrat_radar_stats_t all = run_cycles("min_beam_prob=0", C, 1, NULL);
    cr_assert_eq(all.n_proposals, C);
    cr_assert_eq(all.calls_hist[8], C);
    cr_assert_eq(all.n_draft_calls, 8u * C);
    cr_assert_eq(all.n_stops, 0u);
    cr_assert_eq(all.n_decisions, 7u * C);
    dstrat_radar_stats_t none = run_cycles("min_beam_prob=1", C, 1, NULL);
    cr_assert_eq(none.calls_hist[1], C);
    cr_assert_eq(none.n_stops, C);
    cr_assert_eq(none.n_tree_nodes, 10u * C);
    /* a policy file with thresholds 0 and 1 behaves the same */
    snprintf(params, sizeof params, "policy=%s decision=threshold threshold=0", pk);
    cr_assert_eq(run_cycles(params, C, 1, NULL).calls_hist[8], C);
    snprintf(params, sizeof params, "policy=%s decision=threshold threshold=1", pk);
    cr_assert_eq(run_cycles(params, C, 1, NULL).calls_hist[1], C);
    /* sampled decisions: reproducible for a seed, stochastic across cycles */
    snprintf(params, sizeof params, "policy=%s", pk);
    uint32_t na, nb;
    dstrat_radar_stats_t a = run_cycles(params, C, 7, &na), b = run_cycles(params, C, 7, &nb);
    cr_assert_eq(memcmp(a.calls_hist, b.calls_hist, sizeof a.calls_hist), 0);
    cr_assert_eq(na, nb);
    uint32_t distinct = 0;
    uint64_t total = 0;
    for (int i = 0; i < DSTRAT_RADAR_HIST; i++) {
        distinct += a.calls_hist[i] > 0;
        total += a.calls_hist[i];
    }
    cr_assert_eq(total, C);
    cr_assert_geq(distinct, 2u, "a random policy's sampled stops should vary between cycles");
    dstrat_radar_stats_t c = run_cycles(params, C, 8, NULL);
    cr_assert(memcmp(a.calls_hist, c.calls_hist, sizeof a.calls_hist) != 0 || a.n_tree_nodes != c.n_tree_nodes,
              "another seed should give other decisions");
    /* the builtin rule stops somewhere in between at agreement 0.8 */
    dstrat_radar_stats_t mid = run_cycles("min_beam_prob=0.3", C, 1, NULL);
    cr_assert(mid.calls_hist[8] < C && mid.calls_hist[1] < C);
    fprintf(stderr, "radar builtin min_beam_prob=0.3: %.2f draft calls per cycle, %.1f nodes\n",
            (double) mid.n_draft_calls / C, (double) mid.n_tree_nodes / C);
    remove(pk);
}

/* ------------------------------------------------------------------------------ cost model */
Test(cost_model, fits_linear_verify_time) {
    dscm_t m;
    dscm_init(&m);
    cr_assert_float_eq(dscm_t_verify(&m, 1.0), 1.06, 1e-9); /* unit priors before data */
    for (uint32_t i = 0; i < 64; i++) {
        const uint32_t n = 1 + (i * 7) % 60;
        dscm_observe_cycle(&m, n, (uint64_t) (2e6 + 5e4 * n), 3, 3 * 400000);
    }
    cr_assert_float_eq(m.a, 2e6, 2e6 * 0.05, "a %g", m.a);
    cr_assert_float_eq(m.b, 5e4, 5e4 * 0.05, "b %g", m.b);
    cr_assert_float_eq(dscm_t_call(&m), 4e5, 1.0);
    /* constant N: the prior keeps the slope sane (positive, finite) */
    dscm_t k;
    dscm_init(&k);
    for (int i = 0; i < 30; i++) dscm_observe_cycle(&k, 32, 3000000, 1, 100000);
    cr_assert(k.b > 0 && isfinite(k.b) && k.a > 0, "a %g b %g", k.a, k.b);
    cr_assert_float_eq(dscm_t_verify(&k, 32), 3e6, 3e6 * 0.05);
    /* calibration: observed acceptance above prediction raises c[d] */
    double pred[4] = {0, 0.5, 0.2, 0.1};
    for (int i = 0; i < 100; i++) dscm_observe_accept(&k, pred, 3, 2);
    cr_assert_gt(dscm_calib(&k, 1), 1.5);
    cr_assert_gt(dscm_calib(&k, 2), 3.0);
    cr_assert_lt(dscm_calib(&k, 3), 1.0);
}

/* cost_aware with synthetic host times: cheap drafts + flat verify -> big deep trees; expensive
 * drafts + steep verify -> small shallow ones */
static void cost_run(double t_call, double a, double b, double *calls, double *nodes) {
    mini_t *m = calloc(1, sizeof *m);
    mini_init(m, 0.8f, prompt0, 5);
    run_t r = run_open(m, "radar/dstrat_radar.so", "radar", "mode=cost_aware total_tokens=64", 64, 1);
    const uint32_t C = 60;
    uint64_t sum_calls = 0, sum_nodes = 0;
    for (uint32_t c = 0; c < C; c++) {
        propose(&r);
        const uint32_t n = m->tree.n_nodes, k = m->n_calls;
        const uint32_t acc = verify_accept(&r);
        if (c >= C / 2) {
            sum_calls += k;
            sum_nodes += n;
        }
        dstrat_cycle_stats_t st = {sizeof st, k, (uint64_t) (t_call * k), k, n, (uint64_t) (a + b * n), 0, 0, acc,
                                   m->n_committed};
        cr_assert_eq(r.s->observe(r.s, r.ss, &st), DSTRAT_OK);
    }
    *calls = (double) sum_calls / (C / 2);
    *nodes = (double) sum_nodes / (C / 2);
    dstrat_radar_stats_t rs = radar_stats(&r);
    fprintf(stderr, "cost_aware fit: a %.4g (true %.4g) b %.4g (true %.4g) t_call %.4g (true %.4g)\n", rs.fit_verify_a, a,
            rs.fit_verify_b, b, rs.fit_draft_call, t_call);
    cr_expect_float_eq(rs.fit_draft_call, t_call, t_call * 0.01);
    run_close(&r);
    free(m);
}

Test(radar, cost_aware_follows_costs) {
    double c1, n1, c2, n2;
    cost_run(1e4, 1e6, 1e3, &c1, &n1);
    cost_run(1e6, 1e6, 2e5, &c2, &n2);
    fprintf(stderr, "cost_aware: cheap draft/flat verify %.2f calls %.1f nodes; dear draft/steep verify %.2f calls %.1f nodes\n",
            c1, n1, c2, n2);
    cr_assert_gt(c1, c2);
    cr_assert_gt(n1, n2);
    cr_assert_gt(n1, 30.0);
    cr_assert_lt(n2, 12.0);
}

/* ------------------------------------------------------------------------------ distribution */
#define V 64
#define N_SAMPLES 20000
static const int32_t dprompt[] = {5, 17, 42, 8, 33, 1};

static mock_cfg_t dmodel(void) {
    mock_cfg_t m = mock_default_cfg();
    m.n_vocab = V;
    m.sharpness = 2.0f;
    m.seed = 99;
    return m;
}

static void exact_joint(const mock_cfg_t *m, sampler_params_t sp, double *joint) {
    int32_t ctx[8];
    float logits[V], logp[V], logp2[V];
    static char scratch[V * 8];
    memcpy(ctx, dprompt, sizeof dprompt);
    mock_logits(m, MOCK_SALT_TARGET, ctx, 6, logits);
    sampler_logp(&sp, logits, V, logp, scratch);
    for (int x = 0; x < V; x++) {
        const double p1 = isfinite(logp[x]) ? exp((double) logp[x]) : 0.0;
        ctx[6] = x;
        mock_logits(m, MOCK_SALT_TARGET, ctx, 7, logits);
        sampler_logp(&sp, logits, V, logp2, scratch);
        for (int y = 0; y < V; y++) joint[x * V + y] = p1 * (isfinite(logp2[y]) ? exp((double) logp2[y]) : 0.0);
    }
}

Test(tree, sampling_is_lossless, .timeout = 600) {
    static double joint[V * V];
    static uint64_t counts[V * V];
    const sampler_params_t sp = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    const mock_cfg_t m = dmodel();
    exact_joint(&m, sp, joint);
    char pk[256], pol[512];
    policy_path(pk, sizeof pk, 4);
    snprintf(pol, sizeof pol, "policy=%s top_k=4 total_tokens=20", pk);
    const struct { const char *file, *id, *params; float agr; } cases[] = {
        {"static_tree/dstrat_static_tree.so", "static_tree", "", 0.8f},
        {"static_tree/dstrat_static_tree.so", "static_tree", "depth=2 top_k=3 total_tokens=6", 0.4f},
        {"radar/dstrat_radar.so", "radar", "", 0.8f},
        {"radar/dstrat_radar.so", "radar", pol, 0.6f},
        {"radar/dstrat_radar.so", "radar", "mode=cost_aware", 0.9f},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        memset(counts, 0, sizeof counts);
        uint64_t cycles = 0, gen = 0;
        for (uint32_t s = 0; s < N_SAMPLES; s++) {
            int32_t out[2];
            conf_run_t r = {.file = cases[ci].file, .id = cases[ci].id, .params = cases[ci].params, .model = m,
                            .agreement = cases[ci].agr, .sampling = sp, .seed = UINT64_C(1000003) * s + 7,
                            .prompt = dprompt, .n_prompt = 6, .max_new = 2, .out = out};
            cr_assert_eq(conf_generate(&r), 2, "%s", r.err);
            counts[out[0] * V + out[1]]++;
            cycles += r.stats.n_cycles;
            gen += r.stats.n_generated;
        }
        double stat;
        uint32_t df;
        const double p = conf_chisq(counts, joint, V * V, N_SAMPLES, &stat, &df);
        fprintf(stderr, "%-12s %-36s agr %.1f: chi2 %8.2f df %3u p %.4f (tokens/cycle %.2f)\n", cases[ci].id,
                cases[ci].params[0] == 'p' ? "policy=<k4 test policy> ..." : cases[ci].params, (double) cases[ci].agr,
                stat, df, p, (double) gen / (double) cycles);
        cr_expect_gt(p, 0.001, "%s '%s' does not follow the target distribution", cases[ci].id, cases[ci].params);
    }
    remove(pk);
}

/* ------------------------------------------------------------------------------ tau table */
Test(tree, tau_chain_vs_static_tree_vs_radar, .timeout = 600) {
    char pk[256], pol[512], polt[512];
    policy_path(pk, sizeof pk, 10);
    snprintf(pol, sizeof pol, "policy=%s", pk);
    snprintf(polt, sizeof polt, "policy=%s decision=threshold threshold=0.5", pk);
    const struct { const char *file, *id, *params, *label; } cases[] = {
        {"chain/dstrat_chain.so", "chain", "", "chain k=4"},
        {"chain/dstrat_chain.so", "chain", "k=8", "chain k=8"},
        {"static_tree/dstrat_static_tree.so", "static_tree", "", "static_tree d5 k8 n32"},
        {"static_tree/dstrat_static_tree.so", "static_tree", "depth=8 top_k=10 total_tokens=60", "static_tree d8 k10 n60"},
        {"radar/dstrat_radar.so", "radar", "min_beam_prob=0", "radar always-continue"},
        {"radar/dstrat_radar.so", "radar", "", "radar builtin 0.1"},
        {"radar/dstrat_radar.so", "radar", pol, "radar random policy, sample"},
        {"radar/dstrat_radar.so", "radar", polt, "radar random policy, thr 0.5"},
        {"radar/dstrat_radar.so", "radar", "mode=cost_aware", "radar cost_aware"},
    };
    const float agr[] = {0.5f, 0.8f, 0.95f};
    const sampler_params_t sps[] = {{.temperature = 0.0f, .top_k = 0, .top_p = 1.0f},
                                    {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f}};
    const mock_cfg_t m = mock_default_cfg();
    static int32_t prompt[8][40], out[256];
    uint32_t np[8];
    for (uint32_t p = 0; p < 8; p++) np[p] = conf_prompt(p + 500, m.n_vocab, 40, prompt[p]);
    double tau[9][2][3], calls[9][2][3], nodes[9][2][3];
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int si = 0; si < 2; si++)
            for (int ai = 0; ai < 3; ai++) {
                uint64_t cyc = 0, gen = 0, dc = 0, nv = 0;
                for (uint32_t p = 0; p < 8; p++) {
                    conf_run_t r = {.file = cases[ci].file, .id = cases[ci].id, .params = cases[ci].params, .model = m,
                                    .agreement = agr[ai], .sampling = sps[si], .seed = 100 + p, .prompt = prompt[p],
                                    .n_prompt = np[p], .max_new = 256, .out = out};
                    cr_assert_eq(conf_generate(&r), 256, "%s: %s", cases[ci].label, r.err);
                    cyc += r.stats.n_cycles;
                    gen += r.stats.n_generated;
                    dc += r.pstats.n_draft_calls;
                    nv += r.pstats.n_verified;
                }
                tau[ci][si][ai] = (double) gen / (double) cyc;
                calls[ci][si][ai] = (double) dc / (double) cyc;
                nodes[ci][si][ai] = (double) nv / (double) cyc;
            }
    fprintf(stderr, "mock tau (tokens per cycle) [draft calls/cycle, verified nodes/cycle]; vocab %u\n", m.n_vocab);
    for (int si = 0; si < 2; si++) {
        fprintf(stderr, "%s:\n", si ? "sampling T=1" : "greedy");
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            fprintf(stderr, "  %-30s", cases[ci].label);
            for (int ai = 0; ai < 3; ai++)
                fprintf(stderr, "  agr %.2f: %5.2f [%4.1f, %5.1f]", (double) agr[ai], tau[ci][si][ai], calls[ci][si][ai],
                        nodes[ci][si][ai]);
            fprintf(stderr, "\n");
        }
    }
    /* always-continue radar builds exactly static_tree d8 k10 n60's trees */
    for (int si = 0; si < 2; si++)
        for (int ai = 0; ai < 3; ai++) cr_assert_float_eq(tau[4][si][ai], tau[3][si][ai], 1e-12);
    /* trees beat a 4-token chain when the draft agrees well */
    cr_assert_gt(tau[2][0][2], tau[0][0][2]);
    remove(pk);
}
