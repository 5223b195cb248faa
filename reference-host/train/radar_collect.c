/* radar_collect.c - see radar_collect.h. The expansion, state, rerank and acceptance walk are
 * plugin/common's (expand.c, walk.c), the very code the radar plugin runs; this file only keeps a
 * copy of the ranked list after every level and combines the per-level trees. */
#include "radar_collect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expand.h"
#include "plugin_base.h"
#include "tree.h"
#include "walk.h"

typedef struct rc_cfg {
    rc_params_t p;
    rc_sink_fn sink;
    void *user;
    uint64_t logged, skipped;
} rc_cfg_t;

typedef struct rc_sess {
    dsx_t x;
    uint32_t n_rank;          /* N = total_tokens - 1 */
    uint32_t levels_cap;      /* max_depth */
    dsx_key_t *snap;          /* [levels][N] ranked list after each level */
    uint32_t snap_n[RL_MAX_LEVELS];
    /* the per-level trees (node 0 = root) */
    dstrat_token_t *tok;      /* [levels][N + 1] */
    int32_t *par;             /* [levels][N + 1] */
    float *lp;                /* [levels][N + 1] */
    int32_t *cand_of;         /* [levels][N + 1] candidate of each node (-1 for the root) */
    uint32_t n_tree[RL_MAX_LEVELS];
    uint32_t *depth;          /* [N + 1] builder scratch */
    int32_t *unode;           /* [cap_cand] union node of a candidate, -1 if absent */
    /* accept scratch */
    dstrat_dist_t *vdist;     /* [N + 1] */
    dstrat_token_t *vargmax;  /* [N + 1] */
    int32_t *vpath;           /* [N + 1] */
    rl_cycle_t rec;
    int loggable;             /* the union fit: the record is complete after accept */
    int pending;              /* accepted, waiting for observe */
} rc_sess_t;

/* ------------------------------------------------------------------------------ lifecycle */
static int rc_create_impl(dsb_instance_t *in) {
    rc_cfg_t *c = calloc(1, sizeof *c);
    if (!c) return dsb_fail(in, DSTRAT_E_NOMEM, "out of memory");
    c->p.top_k = (uint32_t) dsb_param_int(in, "top_k");
    c->p.max_depth = (uint32_t) dsb_param_int(in, "max_depth");
    c->p.total_tokens = (uint32_t) dsb_param_int(in, "total_tokens");
    in->priv = c;
    return DSTRAT_OK;
}

static void rc_destroy_impl(dsb_instance_t *in) { free(in->priv); }

static void rc_session_fini(dsb_instance_t *in, dsb_session_t *ss) {
    (void) in;
    rc_sess_t *r = ss->priv;
    if (!r) return;
    dsx_free(&r->x);
    free(r->snap);
    free(r->tok);
    free(r->par);
    free(r->lp);
    free(r->cand_of);
    free(r->depth);
    free(r->unode);
    free(r->vdist);
    free(r->vargmax);
    free(r->vpath);
    free(r);
    ss->priv = NULL;
}

static int rc_session_init(dsb_instance_t *in, dsb_session_t *ss) {
    const rc_cfg_t *c = in->priv;
    rc_sess_t *r = calloc(1, sizeof *r);
    if (!r) return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory");
    ss->priv = r;
    r->n_rank = c->p.total_tokens > 1 ? c->p.total_tokens - 1 : 1;
    r->levels_cap = c->p.max_depth;
    const size_t n1 = r->n_rank + 1, lv = r->levels_cap;
    int rc = dsx_init(&r->x, c->p.top_k, c->p.top_k, c->p.max_depth, r->n_rank);
    if (rc == 0) {
        r->snap = calloc(lv * r->n_rank, sizeof *r->snap);
        r->tok = calloc(lv * n1, sizeof *r->tok);
        r->par = calloc(lv * n1, sizeof *r->par);
        r->lp = calloc(lv * n1, sizeof *r->lp);
        r->cand_of = calloc(lv * n1, sizeof *r->cand_of);
        r->depth = calloc(n1, sizeof *r->depth);
        r->unode = calloc(r->x.cap_cand, sizeof *r->unode);
        r->vdist = calloc(n1, sizeof *r->vdist);
        r->vargmax = calloc(n1, sizeof *r->vargmax);
        r->vpath = calloc(n1, sizeof *r->vpath);
    }
    if (rc != 0 || !r->snap || !r->tok || !r->par || !r->lp || !r->cand_of || !r->depth || !r->unode || !r->vdist ||
        !r->vargmax || !r->vpath) {
        rc_session_fini(in, ss);
        return dsb_fail(in, rc == DSTRAT_E_INVALID_ARG ? rc : DSTRAT_E_NOMEM, "collect session: cannot allocate (%d)", rc);
    }
    return DSTRAT_OK;
}

static int rc_reset(dsb_instance_t *in, dsb_session_t *ss) {
    (void) in;
    rc_sess_t *r = ss->priv;
    r->pending = 0;
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ propose */
static uint64_t now(const dsb_instance_t *in) {
    const dstrat_host_t *h = in->host;
    return DSTRAT_HAS(h, dstrat_host_t, now_ns) && h->now_ns ? h->now_ns(h) : 0;
}

/* after level l was generated: the state and the ranked list */
static void snapshot(rc_sess_t *r, uint32_t l, uint32_t k) {
    dsx_state(&r->x, k, r->rec.state[l]);
    memcpy(r->snap + (size_t) l * r->n_rank, r->x.rank, r->x.n_rank * sizeof *r->x.rank);
    r->snap_n[l] = r->x.n_rank;
}

/* The tree radar builds when it stops after level l: dsx_build over that level's ranked list. */
static int level_tree(rc_sess_t *r, uint32_t l, dstrat_token_t root, uint32_t max_depth) {
    dsx_t *x = &r->x;
    const size_t n1 = r->n_rank + 1, o = (size_t) l * n1;
    dstrat_tree_t t = {.struct_size = sizeof t, .capacity = (uint32_t) n1, .token = r->tok + o, .parent = r->par + o,
                       .draft_logp = r->lp + o};
    dst_tree_build_t b;
    int rc = dst_tree_start(&b, &t, r->depth, (uint32_t) n1, max_depth, root);
    if (rc) return rc;
    memcpy(x->rank, r->snap + (size_t) l * r->n_rank, r->snap_n[l] * sizeof *x->rank);
    x->n_rank = r->snap_n[l];
    rc = dsx_build(x, r->n_rank, &b);
    if (rc < 0) return rc;
    r->n_tree[l] = t.n_nodes;
    r->cand_of[o] = -1;
    for (uint32_t j = 0; j < x->n_cand; j++)
        if (x->node_of[j] > 0) r->cand_of[o + (uint32_t) x->node_of[j]] = (int32_t) j;
    return 0;
}

static int rc_propose(dsb_instance_t *in, dsb_session_t *ss, dst_tree_build_t *b) {
    rc_cfg_t *c = in->priv;
    rc_sess_t *r = ss->priv;
    dsx_t *x = &r->x;
    const uint32_t k = c->p.top_k;
    r->pending = r->loggable = 0;
    memset(&r->rec, 0, sizeof r->rec);
    if (b->max_nodes < 2 || b->max_depth == 0) return DSTRAT_EMPTY;
    const dstrat_token_t root = b->tree->token[0];
    uint64_t t0 = now(in);
    int rc = dsx_begin(x, in, ss, root, k, k, c->p.max_depth, r->n_rank);
    if (rc < 0) return rc;
    if (x->n_calls == 0 || x->n_rank == 0) return DSTRAT_EMPTY;
    uint32_t L = 0;
    r->rec.t_level_ns[L] = now(in) - t0;
    snapshot(r, L++, k);
    while (dsx_can_expand(x) && L < r->levels_cap && L < RL_MAX_LEVELS) {
        t0 = now(in);
        if ((rc = dsx_expand(x, in, ss)) < 0) return rc;
        r->rec.t_level_ns[L] = now(in) - t0;
        snapshot(r, L++, k);
    }
    for (uint32_t l = 0; l < L; l++)
        if ((rc = level_tree(r, l, root, b->max_depth)) != 0)
            return dsb_fail(in, rc < 0 ? rc : DSTRAT_E_GENERIC, "collect: building the level-%u tree failed (%d)", l + 1, rc);
    /* the union, in candidate order (topological: a parent is created before its children) */
    const size_t n1 = r->n_rank + 1;
    for (uint32_t j = 0; j < x->n_cand; j++) r->unode[j] = -1;
    uint32_t n_union = 1;
    for (uint32_t l = 0; l < L; l++)
        for (uint32_t i = 1; i < r->n_tree[l]; i++) {
            const int32_t j = r->cand_of[l * n1 + i];
            if (r->unode[j] < 0) {
                r->unode[j] = 0;
                n_union++;
            }
        }
    r->loggable = n_union <= b->max_nodes;
    if (!r->loggable) { /* too big for the host: verify the deepest tree only, log nothing */
        for (uint32_t j = 0; j < x->n_cand; j++) r->unode[j] = -1;
        for (uint32_t i = 1; i < r->n_tree[L - 1]; i++) r->unode[r->cand_of[(L - 1) * n1 + i]] = 0;
        c->skipped++;
    }
    for (uint32_t j = 0; j < x->n_cand; j++) {
        if (r->unode[j] < 0) continue;
        const dsx_cand_t *cd = &x->cand[j];
        const int32_t parent = cd->parent < 0 ? 0 : r->unode[cd->parent];
        if (parent < 0 || !dst_tree_can_add(b, parent))
            return dsb_fail(in, DSTRAT_E_GENERIC, "collect: the union tree is not closed at candidate %u", j);
        const int32_t node = dst_tree_add(b, parent, cd->token, cd->logp);
        if (node < 0) return dsb_fail(in, node, "collect: adding candidate %u to the union failed (%d)", j, node);
        r->unode[j] = node;
    }
    r->rec.n_levels = L;
    r->rec.top_k = k;
    r->rec.n_union = b->tree->n_nodes;
    r->rec.n_context = ss->n_committed;
    for (uint32_t l = 0; l < L; l++) r->rec.n_nodes[l] = r->n_tree[l] - 1;
    return b->tree->n_nodes > 1 ? DSTRAT_OK : DSTRAT_EMPTY;
}

/* ------------------------------------------------------------------------------ accept */
/* The reference walk on the level-l tree, reading the verification of its nodes from the union.
 * path (if not NULL) receives the walk in union node numbers. Returns drafts accepted or < 0. */
static int walk_level(rc_sess_t *r, uint32_t l, const dstrat_verify_t *v, int32_t *path, uint32_t path_cap,
                      uint32_t *n_path, dstrat_token_t *next) {
    const size_t n1 = r->n_rank + 1, o = (size_t) l * n1;
    const uint32_t n = r->n_tree[l];
    dstrat_tree_t t = {.struct_size = sizeof t, .capacity = (uint32_t) n1, .n_nodes = n, .token = r->tok + o,
                       .parent = r->par + o, .draft_logp = r->lp + o};
    for (uint32_t i = 0; i < n; i++) {
        const int32_t u = i == 0 ? 0 : r->unode[r->cand_of[o + i]];
        if (u < 0 || (uint32_t) u >= v->n_nodes) return DSTRAT_E_STATE;
        if (v->argmax) r->vargmax[i] = v->argmax[u];
        if (v->target) r->vdist[i] = v->target[u];
    }
    dstrat_verify_t vl = *v;
    vl.n_nodes = n;
    vl.argmax = v->argmax ? r->vargmax : NULL;
    vl.target = v->target ? r->vdist : NULL;
    dstrat_accept_t a = {.struct_size = sizeof a, .capacity = (uint32_t) n1, .path = r->vpath};
    int rc = dsw_accept(&t, &vl, &a);
    if (rc < 0) return rc;
    if (path) {
        if (a.n_path > path_cap) return DSTRAT_E_CAPACITY;
        for (uint32_t i = 0; i < a.n_path; i++) path[i] = i == 0 ? 0 : r->unode[r->cand_of[o + (uint32_t) a.path[i]]];
        *n_path = a.n_path;
        *next = a.next_token;
    }
    return (int) a.n_path - 1;
}

static int rc_accept(dsb_instance_t *in, dsb_session_t *ss, const dstrat_tree_t *t, const dstrat_verify_t *v,
                     dstrat_accept_t *a) {
    rc_sess_t *r = ss->priv;
    const uint32_t L = r->rec.n_levels;
    if (L == 0 || t->n_nodes < 2) return dsw_accept(t, v, a);
    int rc = walk_level(r, L - 1, v, a->path, a->capacity, &a->n_path, &a->next_token);
    if (rc < 0) return dsb_fail(in, rc, "collect: the walk on the deepest tree failed (%d)", rc);
    if (!r->loggable) return DSTRAT_OK;
    r->rec.acc[L - 1] = (uint32_t) rc;
    for (uint32_t l = 0; l + 1 < L; l++) {
        rc = walk_level(r, l, v, NULL, 0, NULL, NULL);
        if (rc < 0) return dsb_fail(in, rc, "collect: the walk on the level-%u tree failed (%d)", l + 1, rc);
        r->rec.acc[l] = (uint32_t) rc;
    }
    r->pending = 1;
    return DSTRAT_OK;
}

static int rc_observe(dsb_instance_t *in, dsb_session_t *ss, const dstrat_cycle_stats_t *st) {
    rc_cfg_t *c = in->priv;
    rc_sess_t *r = ss->priv;
    if (!r->pending) return DSTRAT_OK;
    r->pending = 0;
    r->rec.t_verify_union_ns = DSTRAT_HAS(st, dstrat_cycle_stats_t, t_verify_ns) ? st->t_verify_ns : 0;
    if (c->sink && c->sink(c->user, &r->rec) != 0) return dsb_fail(in, DSTRAT_E_IO, "collect: writing the record failed");
    c->logged++;
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ descriptor */
static const dstrat_param_desc_t rc_param_descs[] = {
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "top_k", "10", 1, RL_MAX_K, NULL, "radar's top_k"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "max_depth", "8", 1, RL_MAX_LEVELS, NULL, "radar's max_depth"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "total_tokens", "60", 2, 256, NULL, "radar's total_tokens"},
};

static const dstrat_strategy_desc_t rc_desc = {
    .struct_size = sizeof(dstrat_strategy_desc_t),
    .abi_version = DSTRAT_VERSION_INIT,
    .id = "radar-collect",
    .name = "RADAR data collector (in-host)",
    .version = "1.0.0",
    .description = "radar's expansion to full depth; verifies the union of the trees of every stop depth",
    .required_caps = DSTRAT_CAP_DRAFT | DSTRAT_CAP_VERIFY_TREE,
    .optional_caps = DSTRAT_CAP_DRAFT_TREE | DSTRAT_CAP_TIMING,
    .n_params = sizeof rc_param_descs / sizeof rc_param_descs[0],
    .params = rc_param_descs,
};

static const dsb_impl_t rc_impl = {
    .desc = &rc_desc,
    .create = rc_create_impl,
    .destroy = rc_destroy_impl,
    .session_init = rc_session_init,
    .session_fini = rc_session_fini,
    .reset = rc_reset,
    .propose = rc_propose,
    .accept = rc_accept,
    .observe = rc_observe,
};

/* plugin_base's strategy table for this executable: the collector is its only in-process strategy */
const dsb_impl_t *const dsb_table[] = {&rc_impl};
const uint32_t dsb_table_len = 1;

/* ------------------------------------------------------------------------------ API */
uint32_t rc_union_capacity(const rc_params_t *p) {
    const uint32_t n = p->total_tokens > 1 ? p->total_tokens - 1 : 1;
    return 1 + n * (p->max_depth ? p->max_depth : 1);
}

int rc_create(const dstrat_host_t *host, const rc_params_t *p, rc_sink_fn sink, void *user, dstrat_strategy_t **out,
              char *err, size_t cap) {
    const dstrat_version_t v = DSTRAT_VERSION_INIT;
    const dstrat_entry_t *e = dsb_entry(&v);
    if (!e) return DSTRAT_E_VERSION;
    char b[3][24];
    snprintf(b[0], sizeof b[0], "%u", p->top_k);
    snprintf(b[1], sizeof b[1], "%u", p->max_depth);
    snprintf(b[2], sizeof b[2], "%u", p->total_tokens);
    const dstrat_param_t params[3] = {{"top_k", b[0]}, {"max_depth", b[1]}, {"total_tokens", b[2]}};
    if (e->init(NULL) != DSTRAT_OK) return DSTRAT_E_GENERIC;
    int rc = e->strategy_create("radar-collect", host, params, 3, out, err, cap);
    if (rc != DSTRAT_OK) {
        e->deinit();
        return rc;
    }
    rc_cfg_t *c = ((dsb_instance_t *) (void *) *out)->priv;
    c->sink = sink;
    c->user = user;
    return DSTRAT_OK;
}

void rc_counts(const dstrat_strategy_t *s, uint64_t *logged, uint64_t *skipped) {
    const rc_cfg_t *c = ((const dsb_instance_t *) (const void *) s)->priv;
    if (logged) *logged = c->logged;
    if (skipped) *skipped = c->skipped;
}
