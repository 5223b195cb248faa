/* radar.c - the "radar" strategy: RADAR (Ma & Li, arXiv 2512.14069), a learned stop/continue
 * controller on top of the EAGLE-2/3 beam-expanded draft tree, plus a cost-aware mode.
 *
 * propose (mode = paper): draft call 1 always (top_k children of the root). Then, before each
 * of up to max_depth-1 expansion calls, a decision from the state: at step 0 the top_k
 * log-probs of the root's draft distribution, later the sorted cumulative path log-probs of the
 * top_k kept beams (plugin/common/expand.h dsx_state). On STOP (or at max_depth) the global
 * top-(total_tokens - 1) rerank gives the tree. The decision comes from
 *   - the policy network (policy = a file, plugin/common/policy_net.h; LSTM state reset each
 *     cycle), by sampling as in the paper (STOP iff u < p(stop), u = a keyed uniform of
 *     (rng_seed salted, committed length, step), so runs are reproducible) or, with
 *     decision = threshold, CONTINUE iff p(continue) >= threshold; or
 *   - policy = builtin (the default, usable before any training): CONTINUE while the best beam's
 *     cumulative draft probability is >= min_beam_prob.
 *
 * propose (mode = cost_aware, beyond the paper; the policy is not used): an online cost model
 * (plugin/common/cost_model.h) fitted from observe() - time per draft call and
 * t_verify(N) = a + b*N - and the expected accepted length of a candidate tree (sum of
 * calibrated path probabilities). Before each expansion it compares the best expected
 * throughput (accepted + 1) / (draft time + verify time) over N for the current candidates with
 * the same quantity after one more (predicted) level, continues only if that is higher, and at
 * the stop verifies the N that maximises it (N <= total_tokens - 1).
 *
 * accept: the shared reference walks (lossless, seed-identical to `ar`); cost_aware also feeds
 * the observed accepted length to the per-depth calibration.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cost_model.h"
#include "expand.h"
#include "plugin_base.h"
#include "policy_file.h"
#include "policy_net.h"
#include "radar_ext.h"
#include "walk.h"

#define RADAR_FEATURES "radar-beam-cumlogp" /* the state layout a policy file must declare */
#define RADAR_SALT UINT64_C(0x7261646172737470)
#define RADAR_MAX_K 16

typedef struct radar_cfg {
    uint32_t top_k, max_depth, total_tokens;
    int cost_aware, sample, has_policy;
    double threshold, min_beam_prob;
    dspn_net_t net;
    dstrat_radar_stats_t stats;
} radar_cfg_t;

typedef struct radar_sess {
    dsx_t x;
    dspn_state_t pst;
    dscm_t cm;
    double pred[DSCM_MAX_DEPTH + 1]; /* predicted acceptance mass by depth of the last tree */
    uint32_t pred_depth;
    double *pv;                      /* [top_k * top_k] predicted next-level probabilities */
    float feat[RADAR_MAX_K];
} radar_sess_t;

/* ------------------------------------------------------------------------------ create */
static int load_policy(dsb_instance_t *in, radar_cfg_t *c, const char *path) {
    dspf_file_t f;
    char msg[400];
    int rc = dspf_read(path, &f, msg, sizeof msg);
    if (rc) return dsb_fail(in, rc, "%s", msg);
    const char *feat = dspf_get(&f, "features");
    if (!feat || strcmp(feat, RADAR_FEATURES) != 0) {
        rc = dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: features '%s', radar computes '%s'", path,
                      feat ? feat : "(missing)", RADAR_FEATURES);
    } else if ((rc = dspn_load(&c->net, &f, msg, sizeof msg)) != 0) {
        dsb_fail(in, rc, "%s", msg);
    } else if (c->net.n_in != c->top_k) {
        rc = dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: the network reads %u features, top_k is %u (they must agree)",
                      path, c->net.n_in, c->top_k);
    } else if ((rc = dsb_check_trained_for(in, &f, "target")) == 0) {
        rc = dsb_check_trained_for(in, &f, "draft");
    }
    if (rc) dspn_free(&c->net);
    dspf_free(&f);
    return rc;
}

static int radar_create(dsb_instance_t *in) {
    radar_cfg_t *c = calloc(1, sizeof *c);
    if (!c) return dsb_fail(in, DSTRAT_E_NOMEM, "out of memory");
    c->top_k = (uint32_t) dsb_param_int(in, "top_k");
    c->max_depth = (uint32_t) dsb_param_int(in, "max_depth");
    c->total_tokens = (uint32_t) dsb_param_int(in, "total_tokens");
    c->cost_aware = !strcmp(dsb_param_str(in, "mode"), "cost_aware");
    c->sample = !strcmp(dsb_param_str(in, "decision"), "sample");
    c->threshold = dsb_param_float(in, "threshold");
    c->min_beam_prob = dsb_param_float(in, "min_beam_prob");
    c->stats.struct_size = sizeof c->stats;
    const char *policy = dsb_param_str(in, "policy");
    if (!c->cost_aware && strcmp(policy, "builtin") != 0) {
        int rc = load_policy(in, c, policy);
        if (rc) {
            free(c);
            return rc;
        }
        c->has_policy = 1;
    }
    in->priv = c;
    return DSTRAT_OK;
}

static void radar_destroy(dsb_instance_t *in) {
    radar_cfg_t *c = in->priv;
    if (!c) return;
    dspn_free(&c->net);
    free(c);
}

static void radar_session_fini(dsb_instance_t *in, dsb_session_t *ss) {
    (void) in;
    radar_sess_t *rs = ss->priv;
    if (!rs) return;
    dsx_free(&rs->x);
    dspn_state_free(&rs->pst);
    free(rs->pv);
    free(rs);
    ss->priv = NULL;
}

static int radar_session_init(dsb_instance_t *in, dsb_session_t *ss) {
    const radar_cfg_t *c = in->priv;
    radar_sess_t *rs = calloc(1, sizeof *rs);
    if (!rs) return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory");
    ss->priv = rs;
    const uint32_t n_rank = c->total_tokens > 1 ? c->total_tokens - 1 : 1;
    rs->pv = calloc((size_t) c->top_k * c->top_k, sizeof *rs->pv);
    if (!rs->pv || dsx_init(&rs->x, c->top_k, c->top_k, c->max_depth, n_rank) != 0 ||
        (c->has_policy && dspn_state_init(&rs->pst, &c->net) != 0)) {
        radar_session_fini(in, ss);
        return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory");
    }
    dscm_init(&rs->cm);
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ decisions */
/* paper mode: 1 = CONTINUE */
static int decide_paper(const radar_cfg_t *c, radar_sess_t *rs, const dsb_session_t *ss, uint32_t step) {
    dsx_state(&rs->x, c->top_k, rs->feat);
    if (!c->has_policy) return exp((double) rs->feat[0]) >= c->min_beam_prob;
    float logits[2];
    dspn_step(&c->net, &rs->pst, rs->feat, logits);
    const double p_cont = dspn_p_continue(logits);
    if (!c->sample) return p_cont >= c->threshold;
    const double u = dstrat_keyed_u01(dstrat_mix64(ss->rng_seed ^ RADAR_SALT), (uint64_t) ss->n_committed * 32 + step);
    return !(u < 1.0 - p_cont); /* STOP iff u < p(stop), as in the paper */
}

/* Best expected throughput over N for the ranked candidates merged with m predicted values
 * pv[0..m) (descending probabilities at depth pdepth); *best_n gets the N. t_draft: draft time
 * of the cycle so far (including the predicted call). */
static double best_value(const radar_sess_t *rs, uint32_t n_cap, const double *pv, uint32_t m, uint32_t pdepth,
                         double t_draft, uint32_t *best_n) {
    const dsx_t *x = &rs->x;
    const double pc = dscm_calib(&rs->cm, pdepth);
    double e = 0.0, best = 1.0 / (t_draft + dscm_t_verify(&rs->cm, 1.0));
    uint32_t a = 0, b = 0, bn = 0;
    for (uint32_t n = 1; n <= n_cap && (a < x->n_rank || b < m); n++) {
        const double pa = a < x->n_rank ? exp((double) x->rank[a].cum) : -1.0;
        if (b < m && pv[b] > pa) {
            e += pc * pv[b++];
        } else {
            e += dscm_calib(&rs->cm, x->cand[x->rank[a].idx].depth) * pa;
            a++;
        }
        const double v = (1.0 + e) / (t_draft + dscm_t_verify(&rs->cm, (double) n + 1.0));
        if (v > best) {
            best = v;
            bn = n;
        }
    }
    *best_n = bn;
    return best;
}

static int dbl_desc(const void *pa, const void *pb) {
    const double a = *(const double *) pa, b = *(const double *) pb;
    return (a < b) - (a > b);
}

/* cost_aware: 1 = CONTINUE; *n_now = the best N if stopping now */
static int decide_cost(radar_sess_t *rs, uint32_t n_cap, uint32_t *n_now) {
    const dsx_t *x = &rs->x;
    const double tc = dscm_t_call(&rs->cm), t_so_far = tc * x->n_calls;
    const double v_now = best_value(rs, n_cap, NULL, 0, 0, t_so_far, n_now);
    if (!dsx_can_expand(x)) return 0;
    uint32_t m = 0, n_next;
    for (uint32_t i = 0; i < x->n_frontier; i++) {
        const double pb = exp((double) x->cand[x->frontier[i]].cum);
        for (uint32_t k = 0; k < x->top_k; k++) rs->pv[m++] = pb * dscm_child_p(&rs->cm, k);
    }
    qsort(rs->pv, m, sizeof *rs->pv, dbl_desc);
    const double v_next = best_value(rs, n_cap, rs->pv, m, x->level + 1, t_so_far + tc, &n_next);
    return v_next > v_now;
}

/* feeds the children-rank profile: candidates of one parent are created together, best first */
static void observe_children(radar_sess_t *rs) {
    const dsx_t *x = &rs->x;
    float lp[DSCM_MAX_K];
    uint32_t n = 0;
    for (uint32_t j = 0; j < x->n_cand; j++) {
        if (n > 0 && (x->cand[j].parent != x->cand[j - 1].parent || x->cand[j].depth != x->cand[j - 1].depth)) {
            dscm_observe_children(&rs->cm, lp, n);
            n = 0;
        }
        if (n < DSCM_MAX_K) lp[n++] = x->cand[j].logp;
    }
    if (n) dscm_observe_children(&rs->cm, lp, n);
}

/* ------------------------------------------------------------------------------ propose */
static int radar_propose(dsb_instance_t *in, dsb_session_t *ss, dst_tree_build_t *b) {
    radar_cfg_t *c = in->priv;
    radar_sess_t *rs = ss->priv;
    dsx_t *x = &rs->x;
    uint32_t n_cap = c->total_tokens - 1;
    if (n_cap > b->max_nodes - 1) n_cap = b->max_nodes - 1;
    if (n_cap == 0 || b->max_depth == 0) return DSTRAT_EMPTY;
    int rc = dsx_begin(x, in, ss, b->tree->token[0], c->top_k, c->top_k, c->max_depth, n_cap);
    if (rc < 0) return rc;
    if (c->has_policy) dspn_state_reset(&rs->pst, &c->net);
    uint32_t n = n_cap, stopped = 0;
    uint64_t t_dec = 0;
    for (uint32_t step = 0;; step++) {
        if (!c->cost_aware && !dsx_can_expand(x)) break;
        const uint64_t t0 = dsb_now_ns(in);
        const int cont = c->cost_aware ? decide_cost(rs, n_cap, &n) : decide_paper(c, rs, ss, step);
        t_dec += dsb_now_ns(in) - t0;
        c->stats.n_decisions++;
        if (!cont) {
            stopped = dsx_can_expand(x);
            break;
        }
        if ((rc = dsx_expand(x, in, ss)) < 0) return rc;
    }
    rc = dsx_build(x, n, b);
    if (rc < 0) return dsb_fail(in, rc, "radar: building the tree failed (%d)", rc);
    /* bookkeeping: stats, and what the cost model needs after accept */
    c->stats.n_proposals++;
    c->stats.n_draft_calls += x->n_calls;
    c->stats.n_stops += stopped;
    c->stats.n_tree_nodes += b->tree->n_nodes - 1;
    c->stats.decision_ns += t_dec;
    c->stats.calls_hist[x->n_calls < DSTRAT_RADAR_HIST ? x->n_calls : DSTRAT_RADAR_HIST - 1]++;
    if (c->cost_aware) {
        memset(rs->pred, 0, sizeof rs->pred);
        rs->pred_depth = 0;
        const uint32_t used = n < x->n_rank ? n : x->n_rank;
        for (uint32_t j = 0; j < used; j++) {
            const dsx_cand_t *cd = &x->cand[x->rank[j].idx];
            if (cd->depth > DSCM_MAX_DEPTH) continue;
            rs->pred[cd->depth] += exp((double) cd->cum);
            if (cd->depth > rs->pred_depth) rs->pred_depth = cd->depth;
        }
        observe_children(rs);
    }
    return b->tree->n_nodes > 1 ? DSTRAT_OK : DSTRAT_EMPTY;
}

static int radar_accept(dsb_instance_t *in, dsb_session_t *ss, const dstrat_tree_t *t, const dstrat_verify_t *v,
                        dstrat_accept_t *a) {
    const radar_cfg_t *c = in->priv;
    radar_sess_t *rs = ss->priv;
    int rc = dsw_accept(t, v, a);
    if (rc == 0 && c->cost_aware) dscm_observe_accept(&rs->cm, rs->pred, rs->pred_depth, a->n_path - 1);
    return rc;
}

static int radar_observe(dsb_instance_t *in, dsb_session_t *ss, const dstrat_cycle_stats_t *st) {
    radar_cfg_t *c = in->priv;
    radar_sess_t *rs = ss->priv;
    if (!c->cost_aware) return DSTRAT_OK;
    const uint32_t calls = DSTRAT_HAS(st, dstrat_cycle_stats_t, n_draft_calls) ? st->n_draft_calls : 0;
    const uint64_t t_draft = DSTRAT_HAS(st, dstrat_cycle_stats_t, t_draft_ns) ? st->t_draft_ns : 0;
    const uint32_t n_ver = DSTRAT_HAS(st, dstrat_cycle_stats_t, n_verified) ? st->n_verified : 0;
    const uint64_t t_ver = DSTRAT_HAS(st, dstrat_cycle_stats_t, t_verify_ns) ? st->t_verify_ns : 0;
    dscm_observe_cycle(&rs->cm, n_ver, t_ver, calls, t_draft);
    c->stats.fit_verify_a = rs->cm.a;
    c->stats.fit_verify_b = rs->cm.b;
    c->stats.fit_draft_call = rs->cm.t_call;
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ extension */
static dstrat_status_t DSTRAT_CALL radar_stats_get(const dstrat_strategy_t *s, dstrat_radar_stats_t *out) {
    if (!s || !out || out->struct_size < offsetof(dstrat_radar_stats_t, n_proposals) + sizeof out->n_proposals)
        return DSTRAT_E_INVALID_ARG;
    const dsb_instance_t *in = (const dsb_instance_t *) (const void *) s; /* pub is the first member */
    const radar_cfg_t *c = in->priv;
    const uint32_t sz = out->struct_size < sizeof c->stats ? out->struct_size : (uint32_t) sizeof c->stats;
    memcpy((char *) out + sizeof out->struct_size, (const char *) &c->stats + sizeof out->struct_size,
           sz - sizeof out->struct_size);
    return DSTRAT_OK;
}

static const dstrat_radar_stats_ext_t radar_stats_ext = {sizeof radar_stats_ext, radar_stats_get};

static const void *radar_get_extension(const dsb_instance_t *in, const char *id) {
    (void) in;
    return !strcmp(id, DSTRAT_RADAR_STATS_ID) ? &radar_stats_ext : NULL;
}

/* ------------------------------------------------------------------------------ descriptor */
static const dstrat_param_desc_t radar_params[] = {
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_PATH, "policy", "builtin", 0, 0, NULL,
     "policy file (policies/FORMAT.md, network radar-lstm); omit (= builtin) for the built-in min_beam_prob rule"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "decision", "sample", 0, 0, "sample|threshold",
     "sample: STOP with probability p(stop) (paper, keyed RNG); threshold: CONTINUE iff p(continue) >= threshold"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "threshold", "0.5", 0, 1, NULL,
     "decision=threshold: p(continue) needed to continue"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "min_beam_prob", "0.1", 0, 1, NULL,
     "built-in rule: continue while the best beam's cumulative draft probability is >= this"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "top_k", "10", 1, RADAR_MAX_K, NULL,
     "K: beams kept per level, children per beam, and state features (must equal the policy's n_in)"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "max_depth", "8", 1, 16, NULL,
     "most draft calls per cycle = deepest tree level (paper: 8 = 1 + 7 expansions)"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "total_tokens", "60", 1, 256, NULL,
     "verified tokens INCLUDING the root (paper 60); cost_aware: the upper bound of its choice"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "mode", "paper", 0, 0, "paper|cost_aware",
     "paper: the policy (or built-in rule) decides, fixed total_tokens; cost_aware: online cost model picks depth and N"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "target", "", 0, 0, NULL,
     "if set: the target model the policy must have been trained for (its header key target)"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "draft", "", 0, 0, NULL,
     "if set: the draft model the policy must have been trained for (its header key draft)"},
};

static const dstrat_strategy_desc_t radar_desc = {
    .struct_size = sizeof(dstrat_strategy_desc_t),
    .abi_version = DSTRAT_VERSION_INIT,
    .id = "radar",
    .name = "RADAR: learned stop/continue for EAGLE dynamic draft trees",
    .version = "1.0.0",
    .description = "EAGLE-2/3 beam-expanded draft tree whose depth is chosen per cycle by an LSTM policy "
                   "(RADAR), a built-in rule, or an online cost model (mode=cost_aware).",
    .required_caps = DSTRAT_CAP_DRAFT,
    .optional_caps = DSTRAT_CAP_DRAFT_TREE | DSTRAT_CAP_VERIFY_TREE | DSTRAT_CAP_TIMING,
    .n_params = sizeof radar_params / sizeof radar_params[0],
    .params = radar_params,
};

static const dsb_impl_t radar_impl = {
    .desc = &radar_desc,
    .create = radar_create,
    .destroy = radar_destroy,
    .session_init = radar_session_init,
    .session_fini = radar_session_fini,
    .propose = radar_propose,
    .accept = radar_accept,
    .observe = radar_observe,
    .get_extension = radar_get_extension,
};

DSB_PLUGIN(&radar_impl)
