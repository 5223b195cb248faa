/* ltd.c - the "ltd" strategy: LTD, "Learning to Draft" (ICLR 2026), two learned policies on top of
 * the EAGLE-2/3 beam-expanded draft tree (plugin/common/expand.h, shared with radar):
 *
 *   depth policy: after a draft call (every call, or with depth_every = 3 only after calls 3, 6,
 *                 9, ... as the released code does; in between the plugin continues): STOP or
 *                 CONTINUE;
 *   size policy:  once per cycle after drafting: the action a picks V = sizes[a] draft nodes (root
 *                 excluded) from the global rerank of all candidates (capped by the candidates
 *                 that exist and the host's limits).
 *
 * Each decision comes from, in this order: the trainer's decide hook (extension
 * "dstrat.plugin.ltd.train/1", ltd_ext.h) if one is installed and returns an action; else the
 * policy file's network (deterministic argmax, as LTD at inference); else the built-in rule:
 * depth - CONTINUE while the best beam's cumulative draft probability is >= min_beam_prob;
 * size - V = the `size` parameter. Observations: ltd_ext.h ("ltd-v1"). Acceptance: the shared
 * lossless walks (dsw_accept), so output is seed-identical to `ar`.
 *
 * Policy file (policies/FORMAT.md container, read with dspf_read), header keys:
 *   network   = ltd-mlp                (required)
 *   features  = ltd-v1                 (required; the observation layout of ltd_ext.h)
 *   n_level   = N                      (required with a depth net; must equal the n_level param)
 *   n_pool    = N                      (required with a size net; must equal the n_pool param)
 *   sizes     = 2,4,6,...              (required with a size net: the V of each size action. If
 *                                       the `sizes` param is left at its default the file's list
 *                                       is used; if it is set it must equal the file's list)
 *   target, draft                      (optional; checked against the params of the same name
 *                                       when those are set)
 *   depth.layers = n_level+2,...,2     tensors depth.l<i>.weight|bias (plugin/common/mlp.h)
 *   size.layers  = n_pool+2,...,n_sizes tensors size.l<i>.weight|bias
 * Either network may be absent (that decision then uses its built-in rule), not both.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expand.h"
#include "ltd_ext.h"
#include "mlp.h"
#include "plugin_base.h"
#include "policy_file.h"
#include "walk.h"

#define LTD_NETWORK "ltd-mlp"
#define LTD_FEATURES "ltd-v1"
#define LTD_MAX_K 16
#define LTD_MAX_DEPTH (DSTRAT_LTD_HIST - 1)
#define LTD_MAX_V 4095          /* one less than the largest host tree */
#define LTD_MAX_OBS 1024        /* n_level, n_pool */
#define LTD_SCALE 10.0f         /* log-prob features are divided by this */

typedef struct ltd_cfg {
    uint32_t top_k, max_depth, depth_every, n_level, n_pool, size;
    uint32_t n_sizes, sizes[DSTRAT_LTD_MAX_SIZES];
    int32_t size_bucket;        /* size_hist bucket of the built-in size (sizes[i] == size), or -1 */
    uint32_t max_rank;          /* ranked candidates kept: covers every V and the pool features */
    double min_beam_prob;
    int has_depth, has_size;
    dsmlp_t depth, sizer;
    dstrat_ltd_hooks_t hooks;   /* struct_size 0: none */
    dstrat_ltd_stats_t stats;
} ltd_cfg_t;

typedef struct ltd_sess {
    dsx_t x;
    float *obs;                 /* [max(n_level, n_pool) + 2] */
    float *logits;              /* [max(2, n_sizes)] */
    float *scratch;             /* [dsmlp_scratch_floats of either net] */
} ltd_sess_t;

/* ------------------------------------------------------------------------------ create */
/* "2,4,8" -> out[0..*n); 0 or a message in err */
static int parse_sizes(const char *s, uint32_t *out, uint32_t *n, char *err, size_t cap) {
    *n = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ') p++;
        if (*p < '0' || *p > '9') break;
        unsigned long v = 0;
        while (*p >= '0' && *p <= '9' && v <= LTD_MAX_V) v = v * 10 + (unsigned long) (*p++ - '0');
        while (*p == ' ') p++;
        if (v < 1 || v > LTD_MAX_V) {
            snprintf(err, cap, "sizes '%s': every V must be in 1..%d", s, LTD_MAX_V);
            return DSTRAT_E_INVALID_ARG;
        }
        if (*n == DSTRAT_LTD_MAX_SIZES) {
            snprintf(err, cap, "sizes '%s': more than %d entries", s, DSTRAT_LTD_MAX_SIZES);
            return DSTRAT_E_INVALID_ARG;
        }
        out[(*n)++] = (uint32_t) v;
        if (*p != ',' || p[1] == '\0') break; /* a trailing comma is left to the check below */
        p++;
    }
    if (*p != '\0' || *n == 0) {
        snprintf(err, cap, "sizes '%s': expected comma-separated integers such as 2,4,8", s);
        return DSTRAT_E_INVALID_ARG;
    }
    return 0;
}

static int param_is_default(const dsb_instance_t *in, const char *key) {
    const int32_t i = dsp_find(in->impl->desc->params, in->impl->desc->n_params, key);
    return i < 0 || in->params[i].is_default;
}

/* header key `key` must be the decimal `want` (required: it must be present) */
static int check_count(dsb_instance_t *in, const dspf_file_t *f, const char *key, uint32_t want, int required) {
    const char *got = dspf_get(f, key);
    if (!got && !required) return 0;
    char *end = NULL;
    const unsigned long v = got ? strtoul(got, &end, 10) : 0;
    if (!got || end == got || *end != '\0' || v != want)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: %s is '%s', this configuration has %s=%u (they must agree)",
                        f->path, key, got ? got : "(missing)", key, want);
    return 0;
}

/* the file's sizes list against the param (see the rule at the top) */
static int take_sizes(dsb_instance_t *in, ltd_cfg_t *c, const dspf_file_t *f) {
    const char *got = dspf_get(f, "sizes");
    if (!got) {
        if (c->has_size)
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s has a size network but no 'sizes' header key", f->path);
        return 0;
    }
    uint32_t fs[DSTRAT_LTD_MAX_SIZES], fn = 0;
    char msg[200];
    if (parse_sizes(got, fs, &fn, msg, sizeof msg))
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: header %s", f->path, msg);
    const int same = fn == c->n_sizes && !memcmp(fs, c->sizes, fn * sizeof *fs);
    if (!same && !param_is_default(in, "sizes"))
        return dsb_fail(in, DSTRAT_E_INVALID_ARG,
                        "policy file %s: its sizes are '%s', the sizes param is '%s' (leave sizes unset to use the file's)",
                        f->path, got, dsb_param_str(in, "sizes"));
    memcpy(c->sizes, fs, fn * sizeof *fs);
    c->n_sizes = fn;
    return 0;
}

/* one network "depth" / "size": loaded and its input and output sizes checked */
static int load_net(dsb_instance_t *in, const dspf_file_t *f, const char *prefix, dsmlp_t *m, uint32_t n_in,
                    uint32_t n_out, const char *in_what, const char *out_what) {
    char msg[400];
    int rc = dsmlp_load(m, f, prefix, msg, sizeof msg);
    if (rc) return dsb_fail(in, rc, "%s", msg);
    const uint32_t got_in = m->size[0], got_out = m->size[m->n_layers];
    if (got_in != n_in)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: the %s network reads %u inputs, %s is %u", f->path,
                        prefix, got_in, in_what, n_in);
    if (got_out != n_out)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: the %s network has %u outputs, %s is %u", f->path,
                        prefix, got_out, out_what, n_out);
    return 0;
}

static int load_policy(dsb_instance_t *in, ltd_cfg_t *c, const char *path) {
    dspf_file_t f;
    char msg[400];
    int rc = dspf_read(path, &f, msg, sizeof msg);
    if (rc) return dsb_fail(in, rc, "%s", msg);
    const char *net = dspf_get(&f, "network"), *feat = dspf_get(&f, "features");
    c->has_depth = dspf_get(&f, "depth.layers") != NULL;
    c->has_size = dspf_get(&f, "size.layers") != NULL;
    if (!net || strcmp(net, LTD_NETWORK) != 0) {
        rc = dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: network '%s', ltd reads '%s'", path,
                      net ? net : "(missing)", LTD_NETWORK);
    } else if (!feat || strcmp(feat, LTD_FEATURES) != 0) {
        rc = dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s: features '%s', ltd computes '%s'", path,
                      feat ? feat : "(missing)", LTD_FEATURES);
    } else if (!c->has_depth && !c->has_size) {
        rc = dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s has neither a depth nor a size network (no depth.layers or size.layers)",
                      path);
    } else if ((rc = check_count(in, &f, "n_level", c->n_level, c->has_depth)) == 0 &&
               (rc = check_count(in, &f, "n_pool", c->n_pool, c->has_size)) == 0 && (rc = take_sizes(in, c, &f)) == 0 &&
               (!c->has_depth ||
                (rc = load_net(in, &f, "depth", &c->depth, c->n_level + 2, 2, "n_level + 2", "STOP/CONTINUE")) == 0) &&
               (!c->has_size ||
                (rc = load_net(in, &f, "size", &c->sizer, c->n_pool + 2, c->n_sizes, "n_pool + 2", "the number of sizes")) ==
                    0) &&
               (rc = dsb_check_trained_for(in, &f, "target")) == 0) {
        rc = dsb_check_trained_for(in, &f, "draft");
    }
    if (rc) {
        dsmlp_free(&c->depth);
        dsmlp_free(&c->sizer);
        c->has_depth = c->has_size = 0;
    }
    dspf_free(&f);
    return rc;
}

static int ltd_create(dsb_instance_t *in) {
    ltd_cfg_t *c = calloc(1, sizeof *c);
    if (!c) return dsb_fail(in, DSTRAT_E_NOMEM, "out of memory");
    c->top_k = (uint32_t) dsb_param_int(in, "top_k");
    c->max_depth = (uint32_t) dsb_param_int(in, "max_depth");
    c->depth_every = (uint32_t) dsb_param_int(in, "depth_every");
    c->n_level = (uint32_t) dsb_param_int(in, "n_level");
    c->n_pool = (uint32_t) dsb_param_int(in, "n_pool");
    c->size = (uint32_t) dsb_param_int(in, "size");
    c->min_beam_prob = dsb_param_float(in, "min_beam_prob");
    char msg[200];
    int rc = parse_sizes(dsb_param_str(in, "sizes"), c->sizes, &c->n_sizes, msg, sizeof msg);
    if (rc) {
        free(c);
        return dsb_fail(in, rc, "%s", msg);
    }
    const char *policy = dsb_param_str(in, "policy");
    if (strcmp(policy, "builtin") != 0 && (rc = load_policy(in, c, policy)) != 0) {
        free(c);
        return rc;
    }
    c->size_bucket = -1;
    c->max_rank = c->size > c->n_pool ? c->size : c->n_pool;
    for (uint32_t i = 0; i < c->n_sizes; i++) {
        if (c->sizes[i] > c->max_rank) c->max_rank = c->sizes[i];
        if (c->size_bucket < 0 && c->sizes[i] == c->size) c->size_bucket = (int32_t) i;
    }
    c->stats.struct_size = sizeof c->stats;
    c->stats.n_sizes = c->n_sizes;
    memcpy(c->stats.sizes, c->sizes, sizeof c->sizes);
    in->priv = c;
    return DSTRAT_OK;
}

static void ltd_destroy(dsb_instance_t *in) {
    ltd_cfg_t *c = in->priv;
    if (!c) return;
    dsmlp_free(&c->depth);
    dsmlp_free(&c->sizer);
    free(c);
}

static void ltd_session_fini(dsb_instance_t *in, dsb_session_t *ss) {
    (void) in;
    ltd_sess_t *ls = ss->priv;
    if (!ls) return;
    dsx_free(&ls->x);
    free(ls->obs);
    free(ls->logits);
    free(ls->scratch);
    free(ls);
    ss->priv = NULL;
}

static int ltd_session_init(dsb_instance_t *in, dsb_session_t *ss) {
    const ltd_cfg_t *c = in->priv;
    ltd_sess_t *ls = calloc(1, sizeof *ls);
    if (!ls) return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory");
    ss->priv = ls;
    const size_t n_obs = (c->n_level > c->n_pool ? c->n_level : c->n_pool) + 2;
    size_t n_scr = 1;
    if (c->has_depth && dsmlp_scratch_floats(&c->depth) > n_scr) n_scr = dsmlp_scratch_floats(&c->depth);
    if (c->has_size && dsmlp_scratch_floats(&c->sizer) > n_scr) n_scr = dsmlp_scratch_floats(&c->sizer);
    ls->obs = calloc(n_obs, sizeof *ls->obs);
    ls->logits = calloc(c->n_sizes > 2 ? c->n_sizes : 2, sizeof *ls->logits);
    ls->scratch = calloc(n_scr, sizeof *ls->scratch);
    if (!ls->obs || !ls->logits || !ls->scratch || dsx_init(&ls->x, c->top_k, c->top_k, c->max_depth, c->max_rank) != 0) {
        ltd_session_fini(in, ss);
        return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory");
    }
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ decisions */
static float feature(float cum) {
    return (cum > DSX_FEATURE_FLOOR ? cum : DSX_FEATURE_FLOOR) / LTD_SCALE;
}

/* the two trailing features of both observations */
static void tail_features(float *o, const dsb_session_t *ss, const dsx_t *x) {
    o[0] = (float) ss->n_committed / 1000.0f;
    o[1] = (float) x->n_calls / 10.0f;
}

/* The hook's action for obs, or -1 (no hook, or it declined); E_INVALID_ARG for an action out of
 * range (a trainer bug that must not pass silently). */
static int32_t hook_action(dsb_instance_t *in, const ltd_cfg_t *c, uint32_t kind, const float *obs, uint32_t n_obs,
                           uint32_t n_act) {
    if (!c->hooks.decide) return -1;
    const int32_t a = c->hooks.decide(c->hooks.user, kind, obs, n_obs, n_act);
    if (a >= (int32_t) n_act)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "ltd: the decide hook returned action %d of %u (%s decision)", a, n_act,
                        kind == DSTRAT_LTD_DEPTH ? "depth" : "size");
    return a < 0 ? -1 : a;
}

/* 1 = CONTINUE, 0 = STOP, or a negative code */
static int decide_depth(dsb_instance_t *in, const ltd_cfg_t *c, ltd_sess_t *ls, const dsb_session_t *ss) {
    const dsx_t *x = &ls->x;
    /* the newest level sorted (expand.h: lvl holds its n_cand - level_first keys, rank order),
       unkept children included as in LTD */
    const uint32_t n_lvl = x->n_cand - x->level_first;
    const float best = n_lvl ? x->lvl[0].cum : DSX_FEATURE_FLOOR;
    if (!c->hooks.decide && !c->has_depth) return exp((double) best) >= c->min_beam_prob;
    float *o = ls->obs;
    for (uint32_t j = 0; j < c->n_level; j++) o[j] = feature(j < n_lvl ? x->lvl[j].cum : DSX_FEATURE_FLOOR);
    tail_features(o + c->n_level, ss, x);
    const int32_t a = hook_action(in, c, DSTRAT_LTD_DEPTH, o, c->n_level + 2, 2);
    if (a != -1) return a;
    if (c->has_depth) {
        dsmlp_forward(&c->depth, o, ls->logits, ls->scratch);
        return (int) dsmlp_argmax(ls->logits, 2);
    }
    return exp((double) best) >= c->min_beam_prob;
}

/* the size action (index into sizes), -1 for the built-in `size`, or a negative code below -1 */
static int32_t decide_size(dsb_instance_t *in, const ltd_cfg_t *c, ltd_sess_t *ls, const dsb_session_t *ss) {
    if (!c->hooks.decide && !c->has_size) return -1;
    const dsx_t *x = &ls->x;
    float *o = ls->obs;
    for (uint32_t j = 0; j < c->n_pool; j++) o[j] = feature(j < x->n_rank ? x->rank[j].cum : DSX_FEATURE_FLOOR);
    tail_features(o + c->n_pool, ss, x);
    const int32_t a = hook_action(in, c, DSTRAT_LTD_SIZE, o, c->n_pool + 2, c->n_sizes);
    if (a != -1) return a;
    if (!c->has_size) return -1;
    dsmlp_forward(&c->sizer, o, ls->logits, ls->scratch);
    return (int32_t) dsmlp_argmax(ls->logits, c->n_sizes);
}

/* ------------------------------------------------------------------------------ propose */
static int ltd_propose(dsb_instance_t *in, dsb_session_t *ss, dst_tree_build_t *b) {
    ltd_cfg_t *c = in->priv;
    ltd_sess_t *ls = ss->priv;
    dsx_t *x = &ls->x;
    if (b->max_nodes <= 1 || b->max_depth == 0) return DSTRAT_EMPTY;
    int rc = dsx_begin(x, in, ss, b->tree->token[0], c->top_k, c->top_k, c->max_depth, c->max_rank);
    if (rc < 0) return rc;
    uint64_t t_dec = 0, n_dec = 0;
    while (dsx_can_expand(x)) {
        if (x->level % c->depth_every == 0) { /* else: continue without asking (released code) */
            const uint64_t t0 = dsb_now_ns(in);
            const int cont = decide_depth(in, c, ls, ss);
            t_dec += dsb_now_ns(in) - t0;
            n_dec++;
            if (cont < 0) return cont;
            if (!cont) break;
        }
        if ((rc = dsx_expand(x, in, ss)) < 0) return rc;
    }
    const uint64_t t0 = dsb_now_ns(in);
    const int32_t a = decide_size(in, c, ls, ss);
    t_dec += dsb_now_ns(in) - t0;
    if (a < -1) return a;
    rc = dsx_build(x, a >= 0 ? c->sizes[a] : c->size, b);
    if (rc < 0) return dsb_fail(in, rc, "ltd: building the tree failed (%d)", rc);
    const int32_t bucket = a >= 0 ? a : c->size_bucket;
    c->stats.n_proposals++;
    c->stats.n_draft_calls += x->n_calls;
    c->stats.n_depth_decisions += n_dec;
    c->stats.n_size_decisions++;
    c->stats.decision_ns += t_dec;
    c->stats.n_tree_nodes += b->tree->n_nodes - 1;
    if (bucket >= 0) c->stats.size_hist[bucket]++;
    c->stats.calls_hist[x->n_calls < DSTRAT_LTD_HIST ? x->n_calls : DSTRAT_LTD_HIST - 1]++;
    return b->tree->n_nodes > 1 ? DSTRAT_OK : DSTRAT_EMPTY;
}

static int ltd_accept(dsb_instance_t *in, dsb_session_t *ss, const dstrat_tree_t *t, const dstrat_verify_t *v,
                      dstrat_accept_t *a) {
    (void) in;
    (void) ss;
    return dsw_accept(t, v, a);
}

static int ltd_observe(dsb_instance_t *in, dsb_session_t *ss, const dstrat_cycle_stats_t *st) {
    (void) ss;
    const ltd_cfg_t *c = in->priv;
    if (c->hooks.cycle) c->hooks.cycle(c->hooks.user, st);
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ extensions */
static const dsb_instance_t *instance_of(const dstrat_strategy_t *s) {
    return (const dsb_instance_t *) (const void *) s; /* pub is the first member */
}

static dstrat_status_t DSTRAT_CALL ltd_stats_get(const dstrat_strategy_t *s, dstrat_ltd_stats_t *out) {
    if (!s || !out || out->struct_size < offsetof(dstrat_ltd_stats_t, n_proposals) + sizeof out->n_proposals)
        return DSTRAT_E_INVALID_ARG;
    const ltd_cfg_t *c = instance_of(s)->priv;
    const uint32_t sz = out->struct_size < sizeof c->stats ? out->struct_size : (uint32_t) sizeof c->stats;
    memcpy((char *) out + sizeof out->struct_size, (const char *) &c->stats + sizeof out->struct_size,
           sz - sizeof out->struct_size);
    return DSTRAT_OK;
}

static dstrat_status_t DSTRAT_CALL ltd_get_layout(const dstrat_strategy_t *s, dstrat_ltd_layout_t *out) {
    if (!s || !out || out->struct_size < offsetof(dstrat_ltd_layout_t, n_pool) + sizeof out->n_pool)
        return DSTRAT_E_INVALID_ARG;
    const ltd_cfg_t *c = instance_of(s)->priv;
    dstrat_ltd_layout_t l = {sizeof l, c->n_level, c->n_pool, c->n_sizes, {0}, c->max_depth};
    memcpy(l.sizes, c->sizes, sizeof c->sizes);
    const uint32_t sz = out->struct_size < sizeof l ? out->struct_size : (uint32_t) sizeof l;
    memcpy((char *) out + sizeof out->struct_size, (const char *) &l + sizeof l.struct_size, sz - sizeof l.struct_size);
    return DSTRAT_OK;
}

static dstrat_status_t DSTRAT_CALL ltd_set_hooks(dstrat_strategy_t *s, const dstrat_ltd_hooks_t *hooks) {
    if (!s || (hooks && hooks->struct_size < offsetof(dstrat_ltd_hooks_t, user) + sizeof hooks->user))
        return DSTRAT_E_INVALID_ARG;
    ltd_cfg_t *c = ((dsb_instance_t *) (void *) s)->priv;
    memset(&c->hooks, 0, sizeof c->hooks);
    if (!hooks) return DSTRAT_OK;
    c->hooks.struct_size = sizeof c->hooks;
    c->hooks.user = hooks->user;
    if (DSTRAT_HAS(hooks, dstrat_ltd_hooks_t, decide)) c->hooks.decide = hooks->decide;
    if (DSTRAT_HAS(hooks, dstrat_ltd_hooks_t, cycle)) c->hooks.cycle = hooks->cycle;
    return DSTRAT_OK;
}

static const dstrat_ltd_stats_ext_t ltd_stats_ext = {sizeof ltd_stats_ext, ltd_stats_get};
static const dstrat_ltd_train_ext_t ltd_train_ext = {sizeof ltd_train_ext, ltd_get_layout, ltd_set_hooks};

static const void *ltd_get_extension(const dsb_instance_t *in, const char *id) {
    (void) in;
    if (!strcmp(id, DSTRAT_LTD_STATS_ID)) return &ltd_stats_ext;
    if (!strcmp(id, DSTRAT_LTD_TRAIN_ID)) return &ltd_train_ext;
    return NULL;
}

/* ------------------------------------------------------------------------------ descriptor */
#define P(type, key, def, lo, hi, choices, help) \
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_##type, key, def, lo, hi, choices, help}
static const dstrat_param_desc_t ltd_params[] = {
    P(PATH, "policy", "builtin", 0, 0, NULL,
      "policy file (network ltd-mlp, features ltd-v1; header keys at the top of plugin/ltd/ltd.c) with a depth "
      "and/or a size network; builtin (default): min_beam_prob for depth, `size` for V"),
    P(INT, "top_k", "10", 1, LTD_MAX_K, NULL, "W: beams kept per level and children per beam"),
    P(INT, "max_depth", "8", 1, LTD_MAX_DEPTH, NULL, "most draft calls per cycle = deepest tree level"),
    P(STRING, "sizes", "2,4,6,8,12,16,24,32,48", 0, 0, NULL,
      "the size actions: comma-separated V (draft nodes verified, root excluded); with a policy file: leave unset to "
      "use the file's list, or give exactly the file's list"),
    P(INT, "size", "16", 1, LTD_MAX_V, NULL, "V when no size policy decides"),
    P(FLOAT, "min_beam_prob", "0.1", 0, 1, NULL,
      "built-in depth rule: continue while the best beam's cumulative draft probability is >= this"),
    P(INT, "depth_every", "1", 1, LTD_MAX_DEPTH, NULL,
      "consult the depth policy after draft calls that are multiples of this (1 = paper: every call; 3 = the "
      "released LTD code: after calls 3, 6, 9, ...); in between the plugin continues"),
    P(INT, "n_level", "16", 1, LTD_MAX_OBS, NULL, "depth observation: newest-level features (must equal the policy's)"),
    P(INT, "n_pool", "64", 1, LTD_MAX_OBS, NULL, "size observation: candidate-pool features (must equal the policy's)"),
    P(STRING, "target", "", 0, 0, NULL, "if set: the target model the policy must have been trained for (header key target)"),
    P(STRING, "draft", "", 0, 0, NULL, "if set: the draft model the policy must have been trained for (header key draft)"),
};
#undef P

static const dstrat_strategy_desc_t ltd_desc = {
    .struct_size = sizeof(dstrat_strategy_desc_t),
    .abi_version = DSTRAT_VERSION_INIT,
    .id = "ltd",
    .name = "LTD: learned draft depth and verification size for EAGLE dynamic draft trees",
    .version = "1.0.0",
    .description = "EAGLE-2/3 beam-expanded draft tree; a depth policy decides STOP/CONTINUE after draft calls and a "
                   "size policy picks how many top-ranked draft nodes are verified (Learning to Draft, PPO-trained "
                   "MLPs, argmax at inference), or built-in rules.",
    .required_caps = DSTRAT_CAP_DRAFT,
    .optional_caps = DSTRAT_CAP_DRAFT_TREE | DSTRAT_CAP_VERIFY_TREE | DSTRAT_CAP_TIMING,
    .n_params = sizeof ltd_params / sizeof ltd_params[0],
    .params = ltd_params,
};

static const dsb_impl_t ltd_impl = {
    .desc = &ltd_desc,
    .create = ltd_create,
    .destroy = ltd_destroy,
    .session_init = ltd_session_init,
    .session_fini = ltd_session_fini,
    .propose = ltd_propose,
    .accept = ltd_accept,
    .observe = ltd_observe,
    .get_extension = ltd_get_extension,
};

DSB_PLUGIN(&ltd_impl)
