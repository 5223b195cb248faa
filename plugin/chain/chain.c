/* chain.c - the "chain" strategy: classic speculative decoding with a linear draft.
 *
 * propose: ask the host's draft model for the root's distribution, append its top-1 token, ask
 * again for that node, ... up to k tokens, stopping early when the draft's top-1 probability
 * falls below min_confidence. One draft_forward call per drafted token.
 *
 * accept (acceptance = match, the default): the shared walks of plugin/common/walk.h. The
 * drafted tokens are deterministic top-1 picks, so "sample the target with the position's keyed
 * uniform and follow the matching child" is exactly lossless and makes the output bit-identical
 * to the `ar` strategy for every seed.
 *
 * acceptance = rejection: the classic rule of Leviathan et al. / Chen et al. Here each drafted
 * token x is *sampled* from q, the draft's top-`draft_top_k` renormalised (with a keyed uniform
 * on a separate stream), accepted with probability min(1, p(x)/q(x)), and on rejection the next
 * token is sampled from the residual max(0, p - q) normalised. Sampling x from the same q the
 * rule uses is what makes it lossless in distribution; it is NOT seed-identical to `ar` (it
 * consumes the uniforms differently). Under greedy verification it uses the greedy walk, with
 * sampled drafts (lower acceptance than match).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_base.h"
#include "topk.h"
#include "walk.h"

#define CHAIN_SALT_DRAFT UINT64_C(0x6472616674717171)  /* stream for sampling drafts from q */
#define CHAIN_SALT_ACCEPT UINT64_C(0x616363657074726a) /* stream for the accept test */

typedef struct chain_cfg {
    uint32_t k;
    double min_confidence;
    int rejection;
    uint32_t draft_top_k;
} chain_cfg_t;

typedef struct chain_sess {
    uint32_t k_max;       /* draft length bound of this session */
    uint32_t q_k;         /* entries per stored q */
    dstrat_token_t *q_ids;/* [(k_max + 1) * q_k] q at depth d (rejection mode) */
    double *q_p;          /* [(k_max + 1) * q_k] renormalised probabilities */
    uint32_t *q_n;        /* [k_max + 1] entries used */
    double *resid;        /* [n_vocab] residual scratch */
} chain_sess_t;

static int chain_create(dsb_instance_t *in) {
    chain_cfg_t *c = calloc(1, sizeof *c);
    if (!c) return dsb_fail(in, DSTRAT_E_NOMEM, "out of memory");
    c->k = (uint32_t) dsb_param_int(in, "k");
    c->min_confidence = dsb_param_float(in, "min_confidence");
    c->rejection = !strcmp(dsb_param_str(in, "acceptance"), "rejection");
    c->draft_top_k = (uint32_t) dsb_param_int(in, "draft_top_k");
    if (c->draft_top_k > in->limits.max_draft_top_k) c->draft_top_k = in->limits.max_draft_top_k;
    if (c->rejection && in->limits.n_vocab == 0) {
        free(c);
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "acceptance=rejection needs host limits n_vocab > 0");
    }
    in->priv = c;
    return DSTRAT_OK;
}

static void chain_destroy(dsb_instance_t *in) {
    free(in->priv);
}

static void chain_session_fini(dsb_instance_t *in, dsb_session_t *ss) {
    (void) in;
    chain_sess_t *cs = ss->priv;
    if (!cs) return;
    free(cs->q_ids);
    free(cs->q_p);
    free(cs->q_n);
    free(cs->resid);
    free(cs);
    ss->priv = NULL;
}

static int chain_session_init(dsb_instance_t *in, dsb_session_t *ss) {
    const chain_cfg_t *c = in->priv;
    chain_sess_t *cs = calloc(1, sizeof *cs);
    if (!cs) return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory");
    ss->priv = cs;
    cs->k_max = c->k < ss->max_tree_depth ? c->k : ss->max_tree_depth;
    if (c->rejection) {
        const size_t rows = (size_t) cs->k_max + 1;
        cs->q_k = c->draft_top_k;
        cs->q_ids = calloc(rows * cs->q_k, sizeof *cs->q_ids);
        cs->q_p = calloc(rows * cs->q_k, sizeof *cs->q_p);
        cs->q_n = calloc(rows, sizeof *cs->q_n);
        cs->resid = calloc(in->limits.n_vocab, sizeof *cs->resid);
        if (!cs->q_ids || !cs->q_p || !cs->q_n || !cs->resid) {
            chain_session_fini(in, ss);
            return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory for q tables");
        }
    }
    return DSTRAT_OK;
}

/* Picks the token to extend with from the draft distribution d at depth `depth` (0 = root).
 * Returns the token (>= 0) with its draft log-probability, or -1 to stop (low confidence). */
static int32_t pick(const chain_cfg_t *c, chain_sess_t *cs, const dsb_session_t *ss,
                    const dstrat_dist_t *d, uint32_t depth, float *logp) {
    dstrat_token_t top;
    float top_lp;
    if (dst_topk_dist(d, 1, &top, &top_lp) < 1 || !isfinite(top_lp)) return -1;
    if (exp((double) top_lp) < c->min_confidence) return -1;
    if (!c->rejection) {
        *logp = top_lp;
        return top;
    }
    /* rejection mode: store q = top-q_k renormalised, sample the draft token from it */
    dstrat_token_t *ids = cs->q_ids + (size_t) depth * cs->q_k;
    double *qp = cs->q_p + (size_t) depth * cs->q_k;
    float lps[256];
    uint32_t m = dst_topk_dist(d, cs->q_k < 256 ? cs->q_k : 256, ids, lps);
    double z = 0.0;
    for (uint32_t j = 0; j < m; j++) z += qp[j] = isfinite(lps[j]) ? exp((double) lps[j]) : 0.0;
    if (!(z > 0.0)) return -1;
    for (uint32_t j = 0; j < m; j++) qp[j] /= z;
    cs->q_n[depth] = m;
    const uint64_t pos = (uint64_t) ss->n_committed + depth; /* position of the drafted token */
    const double u = dstrat_keyed_u01(dstrat_mix64(ss->rng_seed ^ CHAIN_SALT_DRAFT), pos);
    double acc = 0.0;
    uint32_t pickj = m - 1;
    for (uint32_t j = 0; j < m; j++) {
        acc += qp[j];
        if (u < acc) {
            pickj = j;
            break;
        }
    }
    *logp = (float) log(qp[pickj]);
    return ids[pickj];
}

static int chain_propose(dsb_instance_t *in, dsb_session_t *ss, dst_tree_build_t *b) {
    const chain_cfg_t *c = in->priv;
    chain_sess_t *cs = ss->priv;
    uint32_t k = cs->k_max;
    if (k > b->max_nodes - 1) k = b->max_nodes - 1;
    if (k > b->max_depth) k = b->max_depth;
    if (k == 0) return DSTRAT_EMPTY;
    const uint32_t top_k = c->rejection ? c->draft_top_k : 1;
    dstrat_token_t tok = b->tree->token[0];
    int32_t parent = DSTRAT_PARENT_NONE, node = 0;
    for (uint32_t depth = 0; depth < k; depth++) {
        dstrat_draft_out_t out;
        uint32_t id;
        int rc = dsb_draft(in, ss, 1, &tok, &parent, NULL, top_k, &out, &id);
        if (rc < 0) return rc;
        float lp = 0.0f;
        const int32_t next = pick(c, cs, ss, dsb_draft_dist(&out, 0), depth, &lp);
        if (next < 0) break;
        node = dst_tree_add(b, node, next, lp);
        if (node < 0) return dsb_fail(in, node, "chain: tree full at depth %u", depth + 1);
        tok = next;
        parent = (int32_t) id;
    }
    return b->tree->n_nodes > 1 ? DSTRAT_OK : DSTRAT_EMPTY;
}

/* q(x) at depth d, 0 if x is not among the stored entries */
static double q_of(const chain_sess_t *cs, uint32_t depth, dstrat_token_t x) {
    const dstrat_token_t *ids = cs->q_ids + (size_t) depth * cs->q_k;
    const double *qp = cs->q_p + (size_t) depth * cs->q_k;
    for (uint32_t j = 0; j < cs->q_n[depth]; j++)
        if (ids[j] == x) return qp[j];
    return 0.0;
}

static int rejection_walk(dsb_instance_t *in, chain_sess_t *cs, const dstrat_tree_t *t,
                          const dstrat_verify_t *v, dstrat_accept_t *a) {
    const uint32_t nv = in->limits.n_vocab;
    const uint64_t accept_seed = dstrat_mix64(v->rng_seed ^ CHAIN_SALT_ACCEPT);
    a->path[0] = 0;
    a->n_path = 1;
    for (uint32_t node = 0;; node++) {
        const dstrat_dist_t *p = dst_dist_at(v->target, node);
        if (!dst_dist_ok(p) || p->ids || p->n != nv)
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "chain: rejection needs dense target distributions of n_vocab %u", nv);
        const uint64_t pos = v->root_pos + node + 1;
        const double u = dstrat_keyed_u01(v->rng_seed, pos);
        const int has_child = node + 1 < t->n_nodes && t->parent[node + 1] == (int32_t) node;
        if (!has_child || node >= cs->k_max) { /* past the draft: plain target sample */
            const int32_t y = dsw_sample(p->logp, nv, u);
            if (y < 0) return dsb_fail(in, DSTRAT_E_INVALID_ARG, "chain: empty target distribution at node %u", node);
            a->next_token = y;
            return DSTRAT_OK;
        }
        const dstrat_token_t x = t->token[node + 1];
        const double px = isfinite(p->logp[x]) ? exp((double) p->logp[x]) : 0.0;
        const double qx = q_of(cs, node, x);
        const double r = dstrat_keyed_u01(accept_seed, pos);
        if (qx > 0.0 && r * qx < px) { /* accept with probability min(1, p/q) */
            if (a->n_path >= a->capacity) return dsb_fail(in, DSTRAT_E_CAPACITY, "chain: path exceeds accept capacity %u", a->capacity);
            a->path[a->n_path++] = (int32_t) node + 1;
            continue;
        }
        /* rejected: sample the residual max(0, p - q), normalised (p itself if it is empty) */
        double total = 0.0;
        for (uint32_t tkn = 0; tkn < nv; tkn++) {
            const double pt = isfinite(p->logp[tkn]) ? exp((double) p->logp[tkn]) : 0.0;
            const double rt = pt - q_of(cs, node, (dstrat_token_t) tkn);
            cs->resid[tkn] = rt > 0.0 ? rt : 0.0;
            total += cs->resid[tkn];
        }
        if (!(total > 0.0)) {
            a->next_token = dsw_sample(p->logp, nv, u);
            return a->next_token >= 0 ? DSTRAT_OK : DSTRAT_E_INVALID_ARG;
        }
        const double target = u * total;
        double acc = 0.0;
        int32_t y = -1;
        for (uint32_t tkn = 0; tkn < nv; tkn++) {
            if (!(cs->resid[tkn] > 0.0)) continue;
            acc += cs->resid[tkn];
            y = (int32_t) tkn;
            if (target < acc) break;
        }
        a->next_token = y;
        return DSTRAT_OK;
    }
}

static int chain_accept(dsb_instance_t *in, dsb_session_t *ss, const dstrat_tree_t *t,
                        const dstrat_verify_t *v, dstrat_accept_t *a) {
    const chain_cfg_t *c = in->priv;
    if (!c->rejection || v->greedy) return dsw_accept(t, v, a);
    if (t->n_nodes > 1 && !(t->flags & DSTRAT_TREE_CHAIN))
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "chain: the tree passed to accept is not the proposed chain");
    return rejection_walk(in, ss->priv, t, v, a);
}

static const dstrat_param_desc_t chain_params[] = {
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "k", "4", 1, 32, NULL,
     "most draft tokens per cycle"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "min_confidence", "0", 0, 1, NULL,
     "stop drafting when the draft's top-1 probability is below this (0 = never)"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "acceptance", "match", 0, 0, "match|rejection",
     "match: lossless and seed-identical to ar; rejection: classic min(1, p/q), lossless in distribution only"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "draft_top_k", "8", 1, 256, NULL,
     "rejection mode: draft entries kept for q (capped by the host's max_draft_top_k)"},
};

static const dstrat_strategy_desc_t chain_desc = {
    .struct_size = sizeof(dstrat_strategy_desc_t),
    .abi_version = DSTRAT_VERSION_INIT,
    .id = "chain",
    .name = "linear-chain speculative decoding",
    .version = "1.0.0",
    .description = "Drafts up to k top-1 tokens with the host's draft model and verifies them in one target forward.",
    .required_caps = DSTRAT_CAP_DRAFT,
    .optional_caps = DSTRAT_CAP_TIMING,
    .n_params = sizeof chain_params / sizeof chain_params[0],
    .params = chain_params,
};

static const dsb_impl_t chain_impl = {
    .desc = &chain_desc,
    .create = chain_create,
    .destroy = chain_destroy,
    .session_init = chain_session_init,
    .session_fini = chain_session_fini,
    .propose = chain_propose,
    .accept = chain_accept,
};

DSB_PLUGIN(&chain_impl)
