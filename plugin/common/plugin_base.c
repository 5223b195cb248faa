/* plugin_base.c - see plugin_base.h. */
#include "plugin_base.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_file.h"
#include "topk.h"
#include "walk.h"

#define DSB_SESSION_MAGIC 0x64737373u /* "dsss": catches a session of another instance */

/* the smallest struct a 1.0 caller may pass: up to and including the named field */
#define MIN_SIZE(T, field) (offsetof(T, field) + sizeof(((T *) 0)->field))
#define TOO_SMALL(p, T, field) ((p)->struct_size < MIN_SIZE(T, field))

static atomic_uint g_refcount;

/* ------------------------------------------------------------------------------ errors */
static void vwrite_err(char *buf, size_t cap, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vwrite_err(char *buf, size_t cap, const char *fmt, va_list ap) {
    if (buf && cap) vsnprintf(buf, cap, fmt, ap);
}

uint64_t dsb_now_ns(const dsb_instance_t *in) {
    const dstrat_host_t *h = in->host;
    return DSTRAT_HAS(h, dstrat_host_t, now_ns) && h->now_ns ? h->now_ns(h) : 0;
}

int dsb_check_trained_for(dsb_instance_t *in, const struct dspf_file *f, const char *key) {
    const char *want = dsb_param_str(in, key), *got = dspf_get(f, key);
    if (!want[0]) return 0;
    if (!got || strcmp(want, got) != 0)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "policy file %s was trained for %s '%s', this configuration says '%s'",
                        f->path, key, got ? got : "(not recorded)", want);
    return 0;
}

int dsb_fail(dsb_instance_t *in, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwrite_err(in->err, sizeof in->err, fmt, ap);
    va_end(ap);
    return code;
}

static int create_fail(char *err, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int create_fail(char *err, size_t cap, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwrite_err(err, cap, fmt, ap);
    va_end(ap);
    return code;
}

static dsb_instance_t *inst(const dstrat_strategy_t *s) {
    return (dsb_instance_t *) (uintptr_t) s; /* pub is the first member */
}

/* ------------------------------------------------------------------------------ params */
int64_t dsb_param_int(const dsb_instance_t *in, const char *key) {
    const dstrat_strategy_desc_t *d = in->impl->desc;
    return dsp_get_int(d->params, d->n_params, in->params, key);
}
double dsb_param_float(const dsb_instance_t *in, const char *key) {
    const dstrat_strategy_desc_t *d = in->impl->desc;
    return dsp_get_float(d->params, d->n_params, in->params, key);
}
int32_t dsb_param_bool(const dsb_instance_t *in, const char *key) {
    const dstrat_strategy_desc_t *d = in->impl->desc;
    return dsp_get_bool(d->params, d->n_params, in->params, key);
}
const char *dsb_param_str(const dsb_instance_t *in, const char *key) {
    const dstrat_strategy_desc_t *d = in->impl->desc;
    return dsp_get_str(d->params, d->n_params, in->params, key);
}

/* ------------------------------------------------------------------------------ draft */
int dsb_draft(dsb_instance_t *in, dsb_session_t *ss, uint32_t n, const dstrat_token_t *tokens,
              const int32_t *parents, const uint8_t *want, uint32_t top_k,
              dstrat_draft_out_t *out, uint32_t *first_id) {
    if (!(in->caps & DSTRAT_CAP_DRAFT) || !in->host->draft_forward)
        return dsb_fail(in, DSTRAT_E_UNSUPPORTED, "%s: the host has no draft model (CAP_DRAFT)",
                        in->impl->desc->id);
    if (top_k < 1) top_k = 1;
    if (top_k > in->limits.max_draft_top_k) top_k = in->limits.max_draft_top_k;
    dstrat_draft_req_t req = {
        .struct_size = sizeof req,
        .n_nodes = n,
        .host_seq = ss->host_seq,
        .token = tokens,
        .parent = parents,
        .want = want,
        .top_k = top_k,
    };
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    dstrat_status_t rc = in->host->draft_forward(in->host, 1, &req, out);
    if (rc < 0)
        return dsb_fail(in, rc, "%s: host draft_forward failed (%d) for %u nodes from id %u",
                        in->impl->desc->id, rc, n, ss->draft_ids);
    if (first_id) *first_id = ss->draft_ids;
    ss->draft_ids += n;
    uint32_t n_want = n;
    if (want) {
        n_want = 0;
        for (uint32_t i = 0; i < n; i++) n_want += want[i] != 0;
    }
    if (out->n_out != n_want || (n_want && (!out->dist || !out->node)))
        return dsb_fail(in, DSTRAT_E_HOST, "%s: host draft_forward returned %u distributions, expected %u",
                        in->impl->desc->id, out->n_out, n_want);
    for (uint32_t j = 0; j < out->n_out; j++)
        if (!dsb_draft_dist(out, j))
            return dsb_fail(in, DSTRAT_E_HOST, "%s: host draft distribution %u is malformed",
                            in->impl->desc->id, j);
    return DSTRAT_OK;
}

const dstrat_dist_t *dsb_draft_dist(const dstrat_draft_out_t *out, uint32_t j) {
    if (!out || !out->dist || j >= out->n_out) return NULL;
    const dstrat_dist_t *d = dst_dist_at(out->dist, j);
    return dst_dist_ok(d) ? d : NULL;
}

/* ------------------------------------------------------------------------------ stats ext */
static dstrat_status_t DSTRAT_CALL stats_get(const dstrat_strategy_t *s, dstrat_plugin_stats_t *out) {
    if (!s || !out || out->struct_size < MIN_SIZE(dstrat_plugin_stats_t, n_cycles))
        return DSTRAT_E_INVALID_ARG;
    const dsb_instance_t *in = inst(s);
    uint32_t sz = out->struct_size < sizeof in->stats ? out->struct_size : (uint32_t) sizeof in->stats;
    memcpy((char *) out + sizeof out->struct_size, (const char *) &in->stats + sizeof out->struct_size,
           sz - sizeof out->struct_size);
    return DSTRAT_OK;
}

static const dstrat_plugin_stats_ext_t g_stats_ext = {sizeof g_stats_ext, stats_get};

static void stats_update(dstrat_plugin_stats_t *p, const dstrat_cycle_stats_t *st) {
    const double a = DSTRAT_PLUGIN_STATS_EMA;
    /* absent fields (older host) count as 0 */
    uint32_t calls = DSTRAT_HAS(st, dstrat_cycle_stats_t, n_draft_calls) ? st->n_draft_calls : 0;
    uint64_t t_draft = DSTRAT_HAS(st, dstrat_cycle_stats_t, t_draft_ns) ? st->t_draft_ns : 0;
    uint32_t n_eval = DSTRAT_HAS(st, dstrat_cycle_stats_t, n_draft_evaluated) ? st->n_draft_evaluated : 0;
    uint32_t n_ver = DSTRAT_HAS(st, dstrat_cycle_stats_t, n_verified) ? st->n_verified : 0;
    uint64_t t_ver = DSTRAT_HAS(st, dstrat_cycle_stats_t, t_verify_ns) ? st->t_verify_ns : 0;
    uint32_t n_acc = DSTRAT_HAS(st, dstrat_cycle_stats_t, n_accepted) ? st->n_accepted : 0;
    const double t_draft_total = p->mean_draft_ns_per_call * (double) p->n_draft_calls + (double) t_draft;
    const double t_ver_total = p->mean_verify_ns * (double) p->n_cycles + (double) t_ver;
    const int first = p->n_cycles == 0;
    p->n_cycles++;
    p->n_accepted += n_acc;
    p->n_verified += n_ver;
    p->n_draft_calls += calls;
    p->n_draft_evaluated += n_eval;
    p->mean_accepted = (double) p->n_accepted / (double) p->n_cycles;
    p->mean_tree_nodes = (double) p->n_verified / (double) p->n_cycles;
    p->mean_draft_ns_per_call = p->n_draft_calls ? t_draft_total / (double) p->n_draft_calls : 0.0;
    p->mean_draft_ns_per_token = p->n_draft_evaluated ? t_draft_total / (double) p->n_draft_evaluated : 0.0;
    p->mean_verify_ns = t_ver_total / (double) p->n_cycles;
    p->mean_verify_ns_per_node = p->n_verified ? t_ver_total / (double) p->n_verified : 0.0;
    const double d_tok = n_eval ? (double) t_draft / n_eval : p->ema_draft_ns_per_token;
    p->ema_accepted = first ? n_acc : (1 - a) * p->ema_accepted + a * n_acc;
    p->ema_draft_ns_per_token = first ? d_tok : (1 - a) * p->ema_draft_ns_per_token + a * d_tok;
    p->ema_verify_ns = first ? (double) t_ver : (1 - a) * p->ema_verify_ns + a * (double) t_ver;
}

/* ------------------------------------------------------------------------------ strategy vtable */
static void DSTRAT_CALL s_destroy(dstrat_strategy_t *s) {
    if (!s) return;
    dsb_instance_t *in = inst(s);
    if (in->impl->destroy) in->impl->destroy(in);
    free(in->params);
    free(in);
}

static const char *DSTRAT_CALL s_last_error(const dstrat_strategy_t *s) {
    return s ? inst(s)->err : "strategy is NULL";
}

static const void *DSTRAT_CALL s_get_extension(const dstrat_strategy_t *s, const char *id) {
    if (!s || !id) return NULL;
    const dsb_instance_t *in = inst(s);
    if (!strcmp(id, DSTRAT_PLUGIN_STATS_ID)) return &g_stats_ext;
    return in->impl->get_extension ? in->impl->get_extension(in, id) : NULL;
}

/* checks a session handle; message into in->err */
static int check_session(dsb_instance_t *in, const dsb_session_t *ss, const char *fn) {
    if (!ss) return dsb_fail(in, DSTRAT_E_INVALID_ARG, "%s: session is NULL", fn);
    if (ss->magic != DSB_SESSION_MAGIC || ss->in != in)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "%s: session does not belong to this strategy", fn);
    return 0;
}

static void session_free(dsb_instance_t *in, dsb_session_t *ss) {
    if (!ss) return;
    if (in->impl->session_fini) in->impl->session_fini(in, ss);
    ss->magic = 0;
    free(ss->committed);
    free(ss->depth);
    free(ss);
}

static dstrat_status_t DSTRAT_CALL s_session_create(dstrat_strategy_t *s, const dstrat_session_params_t *sp,
                                                    dstrat_session_t **out) {
    if (!s) return DSTRAT_E_INVALID_ARG;
    dsb_instance_t *in = inst(s);
    in->err[0] = '\0';
    if (!out) return dsb_fail(in, DSTRAT_E_INVALID_ARG, "session_create: out is NULL");
    *out = NULL;
    if (!sp || TOO_SMALL(sp, dstrat_session_params_t, max_tree_nodes))
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "session_create: session params %s",
                        sp ? "struct_size too small" : "are NULL");
    uint32_t max_nodes = sp->max_tree_nodes;
    if (max_nodes > in->limits.max_tree_nodes) max_nodes = in->limits.max_tree_nodes;
    if (max_nodes < 1) return dsb_fail(in, DSTRAT_E_INVALID_ARG, "session_create: max_tree_nodes is 0");
    dsb_session_t *ss = calloc(1, sizeof *ss);
    if (!ss) return dsb_fail(in, DSTRAT_E_NOMEM, "session_create: out of memory");
    ss->magic = DSB_SESSION_MAGIC;
    ss->in = in;
    ss->state = DSB_ST_NEW;
    ss->max_tree_nodes = max_nodes;
    ss->max_tree_depth = DSTRAT_HAS(sp, dstrat_session_params_t, max_tree_depth) && sp->max_tree_depth
                             ? sp->max_tree_depth : in->limits.max_tree_depth;
    if (ss->max_tree_depth > in->limits.max_tree_depth) ss->max_tree_depth = in->limits.max_tree_depth;
    if (ss->max_tree_depth > max_nodes - 1) ss->max_tree_depth = max_nodes - 1;
    ss->host_seq = DSTRAT_HAS(sp, dstrat_session_params_t, host_seq) ? sp->host_seq : 0;
    ss->caps = DSTRAT_HAS(sp, dstrat_session_params_t, caps) ? (sp->caps & in->caps) : in->caps;
    ss->rng_seed = DSTRAT_HAS(sp, dstrat_session_params_t, rng_seed) ? sp->rng_seed : 0;
    ss->depth = calloc(max_nodes, sizeof *ss->depth);
    if (!ss->depth) {
        session_free(in, ss);
        return dsb_fail(in, DSTRAT_E_NOMEM, "session_create: out of memory");
    }
    if (in->impl->session_init) {
        int rc = in->impl->session_init(in, ss);
        if (rc < 0) {
            session_free(in, ss);
            return rc;
        }
    }
    *out = (dstrat_session_t *) ss;
    return DSTRAT_OK;
}

static void DSTRAT_CALL s_session_destroy(dstrat_strategy_t *s, dstrat_session_t *ss_) {
    if (!s || !ss_) return;
    dsb_instance_t *in = inst(s);
    dsb_session_t *ss = (dsb_session_t *) ss_;
    if (check_session(in, ss, "session_destroy") == 0) session_free(in, ss);
}

static int push_tokens(dsb_instance_t *in, dsb_session_t *ss, const dstrat_token_t *t, uint32_t n) {
    if ((uint64_t) ss->n_committed + n > UINT32_MAX)
        return dsb_fail(in, DSTRAT_E_CAPACITY, "committed sequence too long");
    if (ss->n_committed + n > ss->cap_committed) {
        uint32_t cap = ss->cap_committed ? ss->cap_committed : 256;
        while (cap < ss->n_committed + n) cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
        dstrat_token_t *c = realloc(ss->committed, (size_t) cap * sizeof *c);
        if (!c) return dsb_fail(in, DSTRAT_E_NOMEM, "out of memory for %u committed tokens", cap);
        ss->committed = c;
        ss->cap_committed = cap;
    }
    memcpy(ss->committed + ss->n_committed, t, (size_t) n * sizeof *t);
    ss->n_committed += n;
    return 0;
}

static dstrat_status_t DSTRAT_CALL s_session_reset(dstrat_strategy_t *s, dstrat_session_t *ss_,
                                                   const dstrat_token_t *tokens, uint32_t n) {
    if (!s) return DSTRAT_E_INVALID_ARG;
    dsb_instance_t *in = inst(s);
    dsb_session_t *ss = (dsb_session_t *) ss_;
    in->err[0] = '\0';
    int rc = check_session(in, ss, "session_reset");
    if (rc) return rc;
    if (!tokens || n < 1)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "session_reset: %s", tokens ? "n is 0 (need >= 1 token)" : "tokens is NULL");
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (in->limits.n_vocab && (uint32_t) tokens[i] >= in->limits.n_vocab))
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "session_reset: token %d at %u outside the vocabulary", tokens[i], i);
    ss->state = DSB_ST_NEW;
    ss->n_committed = 0;
    if ((rc = push_tokens(in, ss, tokens, n)) != 0) return rc;
    if (in->impl->reset && (rc = in->impl->reset(in, ss)) < 0) return rc;
    ss->state = DSB_ST_READY;
    return DSTRAT_OK;
}

static dstrat_status_t DSTRAT_CALL s_propose(dstrat_strategy_t *s, uint32_t n, dstrat_session_t *const *ss_,
                                             dstrat_tree_t *const *trees) {
    if (!s) return DSTRAT_E_INVALID_ARG;
    dsb_instance_t *in = inst(s);
    in->err[0] = '\0';
    if (n == 0) return DSTRAT_OK;
    if (!ss_ || !trees) return dsb_fail(in, DSTRAT_E_INVALID_ARG, "propose: %s is NULL", ss_ ? "trees" : "sessions");
    if (n > in->limits.max_seqs_per_step)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "propose: %u sequences, host limit %u", n, in->limits.max_seqs_per_step);
    /* check everything before touching any state: an error leaves all sessions as they were */
    for (uint32_t i = 0; i < n; i++) {
        dsb_session_t *ss = (dsb_session_t *) ss_[i];
        dstrat_tree_t *t = trees[i];
        int rc = check_session(in, ss, "propose");
        if (rc) return rc;
        if (ss->state == DSB_ST_NEW)
            return dsb_fail(in, DSTRAT_E_STATE, "propose: session %u was not reset (call session_reset first)", i);
        if (ss->state == DSB_ST_PROPOSED)
            return dsb_fail(in, DSTRAT_E_STATE, "propose: session %u has a pending proposal (call accept first)", i);
        if (!t || TOO_SMALL(t, dstrat_tree_t, parent) || !t->token || !t->parent || t->capacity < 1)
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "propose: tree %u is NULL, too small (struct_size) or has no arrays", i);
    }
    uint32_t n_empty = 0;
    for (uint32_t i = 0; i < n; i++) {
        dsb_session_t *ss = (dsb_session_t *) ss_[i];
        dst_tree_build_t b;
        int rc = dst_tree_start(&b, trees[i], ss->depth, ss->max_tree_nodes, ss->max_tree_depth,
                                ss->committed[ss->n_committed - 1]);
        if (rc) return dsb_fail(in, rc, "propose: tree %u cannot hold the root", i);
        ss->draft_ids = 0;
        rc = in->impl->propose(in, ss, &b);
        if (rc < 0) {
            if (!in->err[0]) dsb_fail(in, rc, "propose: %s failed (%d)", in->impl->desc->id, rc);
            return rc;
        }
        n_empty += trees[i]->n_nodes == 1;
    }
    for (uint32_t i = 0; i < n; i++) ((dsb_session_t *) ss_[i])->state = DSB_ST_PROPOSED;
    return n_empty == n ? DSTRAT_EMPTY : DSTRAT_OK;
}

static dstrat_status_t DSTRAT_CALL s_accept(dstrat_strategy_t *s, uint32_t n, dstrat_session_t *const *ss_,
                                            const dstrat_tree_t *const *trees, const dstrat_verify_t *const *v,
                                            dstrat_accept_t *const *acc) {
    if (!s) return DSTRAT_E_INVALID_ARG;
    dsb_instance_t *in = inst(s);
    in->err[0] = '\0';
    if (n == 0) return DSTRAT_OK;
    if (!ss_ || !trees || !v || !acc) return dsb_fail(in, DSTRAT_E_INVALID_ARG, "accept: NULL array argument");
    if (n > in->limits.max_seqs_per_step)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "accept: %u sequences, host limit %u", n, in->limits.max_seqs_per_step);
    for (uint32_t i = 0; i < n; i++) {
        dsb_session_t *ss = (dsb_session_t *) ss_[i];
        int rc = check_session(in, ss, "accept");
        if (rc) return rc;
        if (ss->state != DSB_ST_PROPOSED)
            return dsb_fail(in, DSTRAT_E_STATE, "accept: session %u has no pending proposal (call propose first)", i);
        const dstrat_tree_t *t = trees[i];
        const dstrat_verify_t *vi = v[i];
        dstrat_accept_t *a = acc[i];
        if (!t || TOO_SMALL(t, dstrat_tree_t, parent) || !t->token || !t->parent || t->n_nodes < 1 ||
            t->n_nodes > t->capacity)
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "accept: tree %u is NULL or malformed", i);
        if (!vi || TOO_SMALL(vi, dstrat_verify_t, greedy))
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "accept: verify %u is NULL or too small (struct_size %u)", i,
                            vi ? vi->struct_size : 0);
        if (vi->n_nodes != t->n_nodes)
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "accept: verify %u has %u nodes, the tree %u", i, vi->n_nodes, t->n_nodes);
        if (vi->greedy ? !vi->argmax : (!vi->target || TOO_SMALL(vi, dstrat_verify_t, root_pos)))
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "accept: verify %u lacks %s", i,
                            vi->greedy ? "argmax (greedy)" : "target distributions, rng_seed or root_pos (sampling)");
        if (!a || TOO_SMALL(a, dstrat_accept_t, next_token) || !a->path || a->capacity < 1)
            return dsb_fail(in, DSTRAT_E_INVALID_ARG, "accept: accept struct %u is NULL, too small or has no path", i);
    }
    for (uint32_t i = 0; i < n; i++) {
        dsb_session_t *ss = (dsb_session_t *) ss_[i];
        dstrat_verify_t vf; /* full-size copy: absent fields read as 0 */
        memset(&vf, 0, sizeof vf);
        memcpy(&vf, v[i], v[i]->struct_size < sizeof vf ? v[i]->struct_size : sizeof vf);
        vf.struct_size = sizeof vf;
        dstrat_accept_t *a = acc[i];
        int rc = in->impl->accept ? in->impl->accept(in, ss, trees[i], &vf, a) : dsw_accept(trees[i], &vf, a);
        if (rc < 0) {
            if (!in->err[0])
                dsb_fail(in, rc, "accept: the %s walk failed (%d): %s", vf.greedy ? "greedy" : "sampling", rc,
                         rc == DSTRAT_E_CAPACITY ? "path longer than the accept capacity"
                                                 : "missing or empty target distribution");
            return rc;
        }
        /* the committed sequence gains the path's tokens and next_token */
        for (uint32_t j = 1; j < a->n_path; j++)
            if ((rc = push_tokens(in, ss, &trees[i]->token[a->path[j]], 1)) != 0) return rc;
        if ((rc = push_tokens(in, ss, &a->next_token, 1)) != 0) return rc;
        ss->state = DSB_ST_READY;
    }
    return DSTRAT_OK;
}

static dstrat_status_t DSTRAT_CALL s_observe(dstrat_strategy_t *s, dstrat_session_t *ss_, const dstrat_cycle_stats_t *st) {
    if (!s) return DSTRAT_E_INVALID_ARG;
    dsb_instance_t *in = inst(s);
    dsb_session_t *ss = (dsb_session_t *) ss_;
    in->err[0] = '\0';
    int rc = check_session(in, ss, "observe");
    if (rc) return rc;
    if (!st || st->struct_size < sizeof st->struct_size + 1)
        return dsb_fail(in, DSTRAT_E_INVALID_ARG, "observe: cycle stats %s", st ? "struct_size too small" : "are NULL");
    stats_update(&in->stats, st);
    return in->impl->observe ? in->impl->observe(in, ss, st) : DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ entry */
static dstrat_status_t DSTRAT_CALL e_init(const char *so_path) {
    (void) so_path;
    atomic_fetch_add(&g_refcount, 1u);
    return DSTRAT_OK;
}

static void DSTRAT_CALL e_deinit(void) {
    unsigned int c = atomic_load(&g_refcount);
    while (c > 0 && !atomic_compare_exchange_weak(&g_refcount, &c, c - 1)) {
    }
}

static uint32_t DSTRAT_CALL e_strategy_count(void) {
    return dsb_table_len;
}

static const dstrat_strategy_desc_t *DSTRAT_CALL e_strategy_desc(uint32_t index) {
    return index < dsb_table_len ? dsb_table[index]->desc : NULL;
}

static void copy_limits(dstrat_host_limits_t *dst, const dstrat_host_limits_t *src) {
    memset(dst, 0, sizeof *dst);
    memcpy(dst, src, src->struct_size < sizeof *dst ? src->struct_size : sizeof *dst);
    dst->struct_size = sizeof *dst;
    if (!DSTRAT_HAS(src, dstrat_host_limits_t, max_draft_nodes) || dst->max_draft_nodes == 0)
        dst->max_draft_nodes = 1;
    if (!DSTRAT_HAS(src, dstrat_host_limits_t, max_draft_top_k) || dst->max_draft_top_k == 0)
        dst->max_draft_top_k = 1;
}

static const char *cap_name(uint64_t bit) {
    switch (bit) {
    case DSTRAT_CAP_DRAFT: return "DRAFT";
    case DSTRAT_CAP_DRAFT_TREE: return "DRAFT_TREE";
    case DSTRAT_CAP_VERIFY_TREE: return "VERIFY_TREE";
    case DSTRAT_CAP_TARGET_DENSE: return "TARGET_DENSE";
    case DSTRAT_CAP_TIMING: return "TIMING";
    default: return "unknown";
    }
}

static dstrat_status_t DSTRAT_CALL e_strategy_create(const char *id, const dstrat_host_t *host,
                                                     const dstrat_param_t *params, uint32_t n_params,
                                                     dstrat_strategy_t **out, char *err, size_t err_cap) {
    if (err && err_cap) err[0] = '\0';
    if (!out) return create_fail(err, err_cap, DSTRAT_E_INVALID_ARG, "strategy_create: out is NULL");
    *out = NULL;
    if (atomic_load(&g_refcount) == 0)
        return create_fail(err, err_cap, DSTRAT_E_STATE, "strategy_create: init() was not called");
    if (!id) return create_fail(err, err_cap, DSTRAT_E_INVALID_ARG, "strategy_create: id is NULL");
    const dsb_impl_t *impl = NULL;
    for (uint32_t i = 0; i < dsb_table_len; i++)
        if (!strcmp(dsb_table[i]->desc->id, id)) impl = dsb_table[i];
    if (!impl) return create_fail(err, err_cap, DSTRAT_E_NOT_FOUND, "no strategy '%s' in this plugin", id);
    const dstrat_strategy_desc_t *desc = impl->desc;
    if (!host || TOO_SMALL(host, dstrat_host_t, limits))
        return create_fail(err, err_cap, DSTRAT_E_INVALID_ARG, "%s: host is %s", id,
                           host ? "too small (struct_size)" : "NULL");
    if (!DSTRAT_VERSION_COMPATIBLE(host->abi_version))
        return create_fail(err, err_cap, DSTRAT_E_VERSION, "%s: host ABI %u.%u, plugin built for %u.%u", id,
                           host->abi_version.major, host->abi_version.minor, DSTRAT_ABI_MAJOR, DSTRAT_ABI_MINOR);
    if (!host->limits || TOO_SMALL(host->limits, dstrat_host_limits_t, max_tree_depth))
        return create_fail(err, err_cap, DSTRAT_E_INVALID_ARG, "%s: host limits are %s", id,
                           host->limits ? "too small (struct_size)" : "NULL");
    uint64_t caps = host->caps;
    if (!DSTRAT_HAS(host, dstrat_host_t, draft_forward) || !host->draft_forward) caps &= ~DSTRAT_CAP_DRAFT;
    const uint64_t missing = desc->required_caps & ~caps;
    if (missing) {
        uint64_t bit = missing & (~missing + 1);
        return create_fail(err, err_cap, DSTRAT_E_UNSUPPORTED, "%s: the host lacks required capability %s%s", id,
                           cap_name(bit), bit == DSTRAT_CAP_DRAFT ? " (a draft model / draft_forward)" : "");
    }
    dsb_instance_t *in = calloc(1, sizeof *in);
    if (!in) return create_fail(err, err_cap, DSTRAT_E_NOMEM, "%s: out of memory", id);
    if (desc->n_params) {
        in->params = calloc(desc->n_params, sizeof *in->params);
        if (!in->params) {
            free(in);
            return create_fail(err, err_cap, DSTRAT_E_NOMEM, "%s: out of memory", id);
        }
    }
    char msg[400];
    int rc = dsp_parse(desc->params, desc->n_params, params, n_params, in->params, msg, sizeof msg);
    if (rc) {
        free(in->params);
        free(in);
        return create_fail(err, err_cap, DSTRAT_E_INVALID_ARG, "%s: %s", id, msg);
    }
    in->impl = impl;
    in->host = host;
    in->caps = caps;
    copy_limits(&in->limits, host->limits);
    if (in->limits.max_seqs_per_step == 0) in->limits.max_seqs_per_step = 1;
    in->stats.struct_size = sizeof in->stats;
    in->pub = (dstrat_strategy_t) {
        .struct_size = sizeof(dstrat_strategy_t),
        .desc = desc,
        .plugin_data = in,
        .destroy = s_destroy,
        .last_error = s_last_error,
        .get_extension = s_get_extension,
        .session_create = s_session_create,
        .session_destroy = s_session_destroy,
        .session_reset = s_session_reset,
        .propose = s_propose,
        .accept = s_accept,
        .observe = s_observe,
    };
    if (impl->create && (rc = impl->create(in)) < 0) {
        create_fail(err, err_cap, rc, "%s: %s", id, in->err[0] ? in->err : "create failed");
        free(in->params);
        free(in);
        return rc;
    }
    *out = &in->pub;
    return DSTRAT_OK;
}

static const dstrat_entry_t g_entry = {
    .struct_size = sizeof(dstrat_entry_t),
    .abi_version = DSTRAT_VERSION_INIT,
    .init = e_init,
    .deinit = e_deinit,
    .strategy_count = e_strategy_count,
    .strategy_desc = e_strategy_desc,
    .strategy_create = e_strategy_create,
};

const dstrat_entry_t *dsb_entry(const dstrat_version_t *host_abi) {
    if (!host_abi || !DSTRAT_VERSION_COMPATIBLE(*host_abi)) return NULL;
    return &g_entry;
}
