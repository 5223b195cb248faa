/* conf_host.c - see conf_host.h. */
#include "conf_host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topk.h"
#include "tree.h"

#define MAXN 64       /* tree nodes */
#define MAXD 16       /* tree depth */
#define MAXV 4096
#define MAXK 16       /* draft top-k */
#define MAX_IDS 1024
#define MIN_SIZE(T, field) (offsetof(T, field) + sizeof(((T *) 0)->field))

struct conf_host {
    int layout;
    mock_cfg_t cfg;
    mock_target_t *mt;
    mock_draft_t *md;
    sess_target_t ti;
    sess_draft_t di;
    sampler_params_t sp;
    uint64_t seed;
    struct { dstrat_host_t h; uint64_t extra[4]; } host;
    struct { dstrat_host_limits_t l; uint64_t extra[4]; } limits;
    struct { dstrat_session_params_t p; uint64_t extra[4]; } sparams;
    struct { dstrat_tree_t t; uint64_t extra[4]; } tree;
    struct { dstrat_verify_t v; uint64_t extra[4]; } verify;
    struct { dstrat_accept_t a; uint64_t extra[4]; } acc;
    struct { dstrat_cycle_stats_t c; uint64_t extra[4]; } cstats;
    int32_t committed[8192];
    uint32_t n_committed;
    /* tree */
    int32_t tok[MAXN], par[MAXN], path[MAXD + 1];
    float dlogp[MAXN];
    /* verify */
    float logits[MAXN * MAXV], logp[MAXN * MAXV];
    int32_t argmax[MAXN];
    dstrat_dist_t tdist[MAXN];
    char scratch[MAXV * 8];
    /* draft */
    int in_propose, draft_begun;
    uint32_t n_ids;
    float dlogits[64 * MAXV];
    int32_t dk_ids[64 * MAXK], dnode[64];
    float dk_lp[64 * MAXK];
    dstrat_dist_t ddist[64];
};

/* dstrat_dist_t arrays keep the 1.0 element size in every layout (frozen for major 1) */
static size_t dist_stride(const conf_host_t *h) {
    (void) h;
    return sizeof(dstrat_dist_t);
}

static dstrat_dist_t *dist_slot(void *base, size_t stride, uint32_t i) {
    return (dstrat_dist_t *) (void *) ((char *) base + stride * i);
}

static uint32_t sz(const conf_host_t *h, size_t full, size_t older) {
    if (h->layout == CONF_LAYOUT_NEWER) return (uint32_t) (full + 4 * sizeof(uint64_t));
    if (h->layout == CONF_LAYOUT_CURRENT) return (uint32_t) full;
    return (uint32_t) older;
}

static uint64_t DSTRAT_CALL host_now(const dstrat_host_t *hh) {
    (void) hh;
    return 0; /* no CAP_TIMING */
}

static dstrat_status_t DSTRAT_CALL host_draft(const dstrat_host_t *hh, uint32_t n, const dstrat_draft_req_t *reqs,
                                              dstrat_draft_out_t *outs) {
    conf_host_t *h = hh->host_data;
    if (!h->md || !h->in_propose || n != 1 || !reqs || !outs) return DSTRAT_E_INVALID_ARG;
    const dstrat_draft_req_t *r = reqs;
    if (r->struct_size < MIN_SIZE(dstrat_draft_req_t, top_k) || r->n_nodes == 0 || r->n_nodes > 64 ||
        h->n_ids + r->n_nodes > MAX_IDS || r->top_k < 1 || r->top_k > MAXK)
        return DSTRAT_E_INVALID_ARG;
    if (!h->draft_begun) {
        if (h->di.begin_cycle(h->di.ctx, h->committed, h->n_committed)) return DSTRAT_E_HOST;
        h->draft_begun = 1;
    }
    uint32_t n_eval = 0;
    if (h->di.forward(h->di.ctx, h->n_ids, r->token, r->parent, r->n_nodes, h->dlogits, &n_eval)) return DSTRAT_E_HOST;
    const size_t stride = dist_stride(h);
    uint32_t n_out = 0;
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        if (r->want && !r->want[i]) continue;
        float *lg = h->dlogits + (size_t) i * h->cfg.n_vocab;
        double mx = lg[0], z = 0.0;
        for (uint32_t t = 1; t < h->cfg.n_vocab; t++) mx = lg[t] > mx ? lg[t] : mx;
        for (uint32_t t = 0; t < h->cfg.n_vocab; t++) z += exp(lg[t] - mx);
        int32_t *ids = h->dk_ids + n_out * MAXK;
        float *lp = h->dk_lp + n_out * MAXK;
        uint32_t m = dst_topk_dense(lg, h->cfg.n_vocab, r->top_k, ids, lp);
        for (uint32_t j = 0; j < m; j++) lp[j] = (float) (lp[j] - mx - log(z));
        dstrat_dist_t *d = dist_slot(h->ddist, stride, n_out);
        memset(d, 0xab, stride); /* newer fields: garbage the plugin must not read */
        *d = (dstrat_dist_t) {(uint32_t) stride, m, ids, lp};
        h->dnode[n_out] = (int32_t) (h->n_ids + i);
        n_out++;
    }
    h->n_ids += r->n_nodes;
    /* write only what both sides know: the caller's struct_size and this host's layout */
    dstrat_draft_out_t full = {.struct_size = sizeof full, .n_out = n_out, .node = h->dnode, .dist = h->ddist,
                               .t_ns = 0, .n_evaluated = n_eval};
    size_t mine = h->layout == CONF_LAYOUT_CURRENT || h->layout == CONF_LAYOUT_NEWER ? sizeof full
                                                                                   : MIN_SIZE(dstrat_draft_out_t, dist);
    size_t n_copy = outs->struct_size < mine ? outs->struct_size : mine;
    if (n_copy > sizeof outs->struct_size)
        memcpy((char *) outs + sizeof outs->struct_size, (char *) &full + sizeof full.struct_size,
               n_copy - sizeof outs->struct_size);
    return DSTRAT_OK;
}

static int g_poison_called;
int conf_host_poison_called(void) { return g_poison_called; }

/* stands in a field the host's struct_size says is absent */
static dstrat_status_t DSTRAT_CALL poison_draft(const dstrat_host_t *hh, uint32_t n, const dstrat_draft_req_t *reqs,
                                                dstrat_draft_out_t *outs) {
    (void) hh, (void) n, (void) reqs, (void) outs;
    g_poison_called = 1;
    return DSTRAT_E_HOST;
}

conf_host_t *conf_host_new(const mock_cfg_t *m, float agreement, int layout, sampler_params_t sp, uint64_t seed) {
    if (m->n_vocab > MAXV) return NULL;
    conf_host_t *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->layout = layout;
    h->cfg = *m;
    h->sp = sp;
    h->seed = seed;
    h->mt = mock_target_new(m);
    h->md = agreement >= 0 ? mock_draft_new(m, agreement) : NULL;
    if (!h->mt || (agreement >= 0 && !h->md)) {
        conf_host_free(h);
        return NULL;
    }
    h->ti = mock_target_iface(h->mt);
    if (h->md) h->di = mock_draft_iface(h->md);
    memset(&h->limits, 0xab, sizeof h->limits);
    h->limits.l = (dstrat_host_limits_t) {sz(h, sizeof(dstrat_host_limits_t), MIN_SIZE(dstrat_host_limits_t, max_tree_depth)),
                                          m->n_vocab, 1, MAXN, MAXD, 64, MAXK};
    if (layout == CONF_LAYOUT_OLDER || layout == CONF_LAYOUT_NO_DRAFT_FIELD)
        h->limits.l.max_draft_nodes = h->limits.l.max_draft_top_k = 0xdeadbeef; /* absent: must not be read */
    memset(&h->host, 0xab, sizeof h->host);
    h->host.h = (dstrat_host_t) {
        .struct_size = layout == CONF_LAYOUT_NO_DRAFT_FIELD ? (uint32_t) offsetof(dstrat_host_t, draft_forward)
                                                           : sz(h, sizeof(dstrat_host_t), sizeof(dstrat_host_t)),
        .abi_version = {1, layout == CONF_LAYOUT_NEWER ? 9 : 0, 0},
        .host_data = h,
        .name = "conformance-host",
        .version = "1",
        .caps = DSTRAT_CAP_VERIFY_TREE | DSTRAT_CAP_TARGET_DENSE | (h->md ? DSTRAT_CAP_DRAFT | DSTRAT_CAP_DRAFT_TREE : 0) |
                (layout == CONF_LAYOUT_NEWER ? (UINT64_C(1) << 40) : 0), /* a capability from the future */
        .limits = &h->limits.l,
        .get_extension = NULL,
        .log = NULL,
        .now_ns = host_now,
        .draft_forward = h->md ? host_draft : NULL,
    };
    if (layout == CONF_LAYOUT_NO_DRAFT_FIELD) h->host.h.draft_forward = poison_draft; /* absent: never called */
    memset(&h->sparams, 0xab, sizeof h->sparams);
    h->sparams.p = (dstrat_session_params_t) {sz(h, sizeof(dstrat_session_params_t), MIN_SIZE(dstrat_session_params_t, max_tree_nodes)),
                                              MAXN, 0, h->host.h.caps, MAXD, 0, seed};
    if (layout == CONF_LAYOUT_OLDER || layout == CONF_LAYOUT_NO_DRAFT_FIELD) {
        h->sparams.p.max_tree_depth = 0xdeadbeef;
        h->sparams.p.caps = 0;
    }
    return h;
}

void conf_host_free(conf_host_t *h) {
    if (!h) return;
    mock_target_free(h->mt);
    mock_draft_free(h->md);
    free(h);
}

const dstrat_host_t *conf_host_abi(conf_host_t *h) { return &h->host.h; }
const dstrat_session_params_t *conf_host_session_params(conf_host_t *h) { return &h->sparams.p; }

dstrat_tree_t *conf_host_tree(conf_host_t *h) {
    memset(&h->tree, 0xab, sizeof h->tree);
    h->tree.t = (dstrat_tree_t) {sz(h, sizeof(dstrat_tree_t), MIN_SIZE(dstrat_tree_t, parent)), MAXN, 0, 0,
                                 h->tok, h->par, h->dlogp};
    if (h->layout == CONF_LAYOUT_OLDER || h->layout == CONF_LAYOUT_NO_DRAFT_FIELD)
        h->tree.t.draft_logp = (float *) (uintptr_t) 0x1; /* absent: must not be written */
    return &h->tree.t;
}

dstrat_accept_t *conf_host_accept(conf_host_t *h) {
    memset(&h->acc, 0xab, sizeof h->acc);
    h->acc.a = (dstrat_accept_t) {.struct_size = sz(h, sizeof(dstrat_accept_t), sizeof(dstrat_accept_t)),
                                  .capacity = MAXD + 1, .path = h->path, .next_token = -1};
    return &h->acc.a;
}

const dstrat_verify_t *conf_host_verify(conf_host_t *h, char *err, size_t cap) {
    const dstrat_tree_t *t = &h->tree.t;
    const uint32_t nv = h->cfg.n_vocab;
    const int greedy = !(h->sp.temperature > 0.0f);
    if (h->ti.forward(h->ti.ctx, t->token, t->parent, t->n_nodes, NULL, h->logits)) {
        snprintf(err, cap, "verify: %s", h->ti.error(h->ti.ctx));
        return NULL;
    }
    const size_t stride = dist_stride(h);
    for (uint32_t i = 0; i < t->n_nodes; i++) {
        h->argmax[i] = sampler_argmax(h->logits + (size_t) i * nv, nv);
        if (!greedy) {
            sampler_logp(&h->sp, h->logits + (size_t) i * nv, nv, h->logp + (size_t) i * nv, h->scratch);
            dstrat_dist_t *d = dist_slot(h->tdist, stride, i);
            memset(d, 0xab, stride);
            *d = (dstrat_dist_t) {(uint32_t) stride, nv, NULL, h->logp + (size_t) i * nv};
        }
    }
    memset(&h->verify, 0xab, sizeof h->verify);
    /* an older host omits rng_seed/root_pos when greedy (it never samples) */
    const size_t older = greedy ? MIN_SIZE(dstrat_verify_t, greedy) : sizeof(dstrat_verify_t);
    h->verify.v = (dstrat_verify_t) {sz(h, sizeof(dstrat_verify_t), older), t->n_nodes,
                                     greedy ? NULL : h->tdist, h->argmax,
                                     (uint32_t) greedy, 0, h->seed, h->n_committed - 1};
    return &h->verify.v;
}

dstrat_status_t conf_host_propose(conf_host_t *h, dstrat_strategy_t *s, dstrat_session_t *ss, dstrat_tree_t *t) {
    h->in_propose = 1;
    h->draft_begun = 0;
    h->n_ids = 0;
    dstrat_status_t rc = s->propose(s, 1, &ss, &t);
    h->in_propose = 0;
    if (h->draft_begun) h->di.end_cycle(h->di.ctx);
    return rc;
}

int64_t conf_host_generate(conf_host_t *h, dstrat_strategy_t *s, const int32_t *prompt, uint32_t n,
                           uint32_t max_new, int32_t *out, char *err, size_t cap) {
    dstrat_session_t *ss = NULL;
    int64_t n_gen = -1;
    if (s->session_create(s, conf_host_session_params(h), &ss) != DSTRAT_OK) {
        snprintf(err, cap, "session_create: %s", s->last_error(s));
        return -1;
    }
    memcpy(h->committed, prompt, n * sizeof *prompt);
    h->n_committed = n;
    h->ti.truncate(h->ti.ctx, 0);
    for (uint32_t i = 0; i + 1 < n; i++) { /* prefill one token at a time: another batching than session.c */
        int32_t p0 = -1, z = 0;
        if (h->ti.forward(h->ti.ctx, &prompt[i], &p0, 1, NULL, NULL) || h->ti.commit(h->ti.ctx, &z, 1)) {
            snprintf(err, cap, "prefill: %s", h->ti.error(h->ti.ctx));
            goto done;
        }
    }
    if (s->session_reset(s, ss, h->committed, h->n_committed) != DSTRAT_OK) {
        snprintf(err, cap, "reset: %s", s->last_error(s));
        goto done;
    }
    n_gen = 0;
    while ((uint64_t) n_gen < max_new) {
        dstrat_tree_t *t = conf_host_tree(h);
        dstrat_status_t rc = conf_host_propose(h, s, ss, t);
        char terr[256];
        if (rc < 0 || dst_tree_validate(t, h->committed[h->n_committed - 1], h->cfg.n_vocab, MAXD, terr, sizeof terr)) {
            snprintf(err, cap, "propose %d: %s", rc, rc < 0 ? s->last_error(s) : terr);
            n_gen = -1;
            goto done;
        }
        const dstrat_verify_t *v = conf_host_verify(h, err, cap);
        if (!v) { n_gen = -1; goto done; }
        dstrat_accept_t *a = conf_host_accept(h);
        const dstrat_tree_t *ct = t;
        if ((rc = s->accept(s, 1, &ss, &ct, &v, &a)) != DSTRAT_OK || a->n_path < 1 || a->path[0] != 0) {
            snprintf(err, cap, "accept %d: %s", rc, s->last_error(s));
            n_gen = -1;
            goto done;
        }
        for (uint32_t j = 1; j < a->n_path; j++)
            if (a->path[j] <= 0 || (uint32_t) a->path[j] >= t->n_nodes || t->parent[a->path[j]] != a->path[j - 1]) {
                snprintf(err, cap, "accept: bad path at %u", j);
                n_gen = -1;
                goto done;
            }
        if (h->ti.commit(h->ti.ctx, a->path, a->n_path)) {
            snprintf(err, cap, "commit: %s", h->ti.error(h->ti.ctx));
            n_gen = -1;
            goto done;
        }
        for (uint32_t j = 0; j < a->n_path && (uint64_t) n_gen < max_new; j++) {
            int32_t tk = j + 1 < a->n_path ? t->token[a->path[j + 1]] : a->next_token;
            h->committed[h->n_committed++] = tk;
            out[n_gen++] = tk;
        }
        if ((uint64_t) n_gen >= max_new) break;
        memset(&h->cstats, 0xab, sizeof h->cstats);
        h->cstats.c = (dstrat_cycle_stats_t) {sz(h, sizeof(dstrat_cycle_stats_t), MIN_SIZE(dstrat_cycle_stats_t, n_verified)),
                                              0, 0, 0, t->n_nodes, 0, 0, 0, a->n_path, h->n_committed};
        if (s->observe && s->observe(s, ss, &h->cstats.c) < 0) {
            snprintf(err, cap, "observe: %s", s->last_error(s));
            n_gen = -1;
            goto done;
        }
    }
done:
    s->session_destroy(s, ss);
    return n_gen;
}
