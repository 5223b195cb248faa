/* mix_draft.c - see mix_draft.h */
#include "mix_draft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIX_MAX_UNION (2u * MIX_DRAFT_K)

struct mix_draft {
    sess_draft_t model, lookup;
    uint32_t n_vocab, k;       /* k = min(MIX_DRAFT_K, n_vocab) */
    float w;
    uint32_t cap_nodes;        /* scratch capacity in nodes */
    int32_t *m_ids, *l_ids;    /* [cap_nodes * k] component top-k */
    float *m_lp, *l_lp;
    float *dense;              /* [cap_nodes * n_vocab], only for a component without forward_topk */
    char err[512];
};

/* One node's mixed distribution: the union of candidates sorted by (log q desc, id asc), and the
 * log-prob every other token shares. */
typedef struct mix_node {
    int32_t id[MIX_MAX_UNION];
    float lp[MIX_MAX_UNION];
    uint32_t n;
    float floor_lp;
} mix_node_t;

mix_draft_t *mix_draft_new(const sess_draft_t *model, const sess_draft_t *lookup, uint32_t n_vocab,
                           float lookup_weight, char *err, size_t cap) {
    if (!model || !lookup || !model->begin_cycle || !lookup->begin_cycle || !(model->forward || model->forward_topk) ||
        !(lookup->forward || lookup->forward_topk) || n_vocab == 0) {
        snprintf(err, cap, "mix draft: needs a model draft, a lookup draft and a vocabulary");
        return NULL;
    }
    if (!(lookup_weight >= 0.0f && lookup_weight <= 1.0f)) {
        snprintf(err, cap, "mix draft: lookup_weight must be in 0..1, got %g", (double) lookup_weight);
        return NULL;
    }
    mix_draft_t *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    m->model = *model;
    m->lookup = *lookup;
    m->n_vocab = n_vocab;
    m->k = n_vocab < MIX_DRAFT_K ? n_vocab : MIX_DRAFT_K;
    m->w = lookup_weight;
    return m;
}

void mix_draft_free(mix_draft_t *m) {
    if (!m) return;
    free(m->m_ids);
    free(m->l_ids);
    free(m->m_lp);
    free(m->l_lp);
    free(m->dense);
    free(m);
}

static int fail(mix_draft_t *m, const char *who, const sess_draft_t *d, int rc) {
    const char *why = d && d->error ? d->error(d->ctx) : NULL;
    snprintf(m->err, sizeof m->err, "mix draft: %s: %s", who, why && *why ? why : "failed");
    return rc < 0 ? rc : -1;
}

static int reserve(mix_draft_t *m, uint32_t n) {
    if (n <= m->cap_nodes) return 0;
    const size_t nk = (size_t) n * m->k;
    int32_t *a = realloc(m->m_ids, nk * sizeof *a);
    if (a) m->m_ids = a;
    int32_t *b = realloc(m->l_ids, nk * sizeof *b);
    if (b) m->l_ids = b;
    float *c = realloc(m->m_lp, nk * sizeof *c);
    if (c) m->m_lp = c;
    float *d = realloc(m->l_lp, nk * sizeof *d);
    if (d) m->l_lp = d;
    int ok = a && b && c && d;
    if (ok && (!m->model.forward_topk || !m->lookup.forward_topk)) {
        float *e = realloc(m->dense, (size_t) n * m->n_vocab * sizeof *e);
        if (e) m->dense = e;
        ok = e != NULL;
    }
    if (!ok) {
        snprintf(m->err, sizeof m->err, "mix draft: out of memory for %u nodes", n);
        return -1;
    }
    m->cap_nodes = n;
    return 0;
}

static int before(float lpa, int32_t ida, float lpb, int32_t idb) { return lpa > lpb || (lpa == lpb && ida < idb); }

/* A lookup entry counts if it is above MIX_DRAFT_MIN_P and more than twice uniform. */
static int has_opinion(const mix_draft_t *m, float lp) {
    const double p = exp((double) lp);
    return p > (double) MIX_DRAFT_MIN_P && p * m->n_vocab > 2.0;
}

static void mix_node(const mix_draft_t *m, const int32_t *mid, const float *mlp, const int32_t *lid,
                     const float *llp, mix_node_t *o) {
    double lmass = 0.0;
    for (uint32_t j = 0; j < m->k; j++)
        if (has_opinion(m, llp[j])) lmass += exp((double) llp[j]);
    const double w = lmass > 0.0 ? (double) m->w : 0.0;
    double q[MIX_MAX_UNION], total = 0.0;
    o->n = 0;
    for (uint32_t j = 0; j < m->k; j++) {
        o->id[o->n] = mid[j];
        q[o->n++] = (1.0 - w) * exp((double) mlp[j]);
    }
    for (uint32_t j = 0; j < m->k && w > 0.0; j++) {
        if (!has_opinion(m, llp[j])) continue;
        uint32_t u = 0;
        while (u < o->n && o->id[u] != lid[j]) u++;
        if (u == o->n) {
            o->id[o->n] = lid[j];
            q[o->n++] = 0.0;
        }
        q[u] += w * exp((double) llp[j]) / lmass;
    }
    for (uint32_t u = 0; u < o->n; u++) total += q[u];
    double rest = 1.0 - total;
    if (rest < 1e-20) rest = 1e-20; /* a finite floor keeps path log-probs finite */
    const uint32_t n_rest = m->n_vocab - o->n;
    o->floor_lp = n_rest ? (float) log(rest / n_rest) : -INFINITY;
    for (uint32_t u = 0; u < o->n; u++) o->lp[u] = q[u] > 0.0 ? (float) log(q[u]) : -INFINITY;
    for (uint32_t u = 1; u < o->n; u++) { /* insertion sort: at most 2K entries */
        const int32_t id = o->id[u];
        const float lp = o->lp[u];
        uint32_t v = u;
        while (v > 0 && before(lp, id, o->lp[v - 1], o->id[v - 1])) {
            o->id[v] = o->id[v - 1];
            o->lp[v] = o->lp[v - 1];
            v--;
        }
        o->id[v] = id;
        o->lp[v] = lp;
    }
}

/* The top-k of the node's full row: candidates and floor tokens (ascending ids not among the
 * candidates) merged by (log-prob desc, id asc). */
static void node_topk(const mix_draft_t *m, const mix_node_t *o, uint32_t k, int32_t *ids, float *lp) {
    uint32_t u = 0;
    int32_t f = 0; /* next floor candidate id */
    for (uint32_t j = 0; j < k; j++) {
        for (;;) { /* skip ids that are candidates */
            uint32_t c = 0;
            while (c < o->n && o->id[c] != f) c++;
            if (c == o->n) break;
            f++;
        }
        const int floor_left = (uint32_t) f < m->n_vocab;
        if (u < o->n && (!floor_left || before(o->lp[u], o->id[u], o->floor_lp, f))) {
            ids[j] = o->id[u];
            lp[j] = o->lp[u++];
        } else {
            ids[j] = f++;
            lp[j] = o->floor_lp;
        }
    }
}

/* Both components' top-k for the wanted nodes of one call. */
static int components(mix_draft_t *m, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                      const uint8_t *want, uint32_t *n_evaluated) {
    if (reserve(m, n) != 0) return -1;
    uint32_t ne_m = 0, ne_l = 0;
    int rc = sess_draft_topk(&m->model, m->n_vocab, first_id, tokens, parent, n, want, m->k, m->dense, m->m_ids,
                             m->m_lp, &ne_m);
    if (rc != 0) return fail(m, "model draft", &m->model, rc);
    rc = sess_draft_topk(&m->lookup, m->n_vocab, first_id, tokens, parent, n, want, m->k, m->dense, m->l_ids,
                         m->l_lp, &ne_l);
    if (rc != 0) return fail(m, "lookup draft", &m->lookup, rc);
    if (n_evaluated) *n_evaluated = ne_m + ne_l;
    return 0;
}

static int mx_forward(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                      float *logits, uint32_t *n_evaluated) {
    mix_draft_t *m = (mix_draft_t *) ctx;
    if (components(m, first_id, tokens, parent, n, NULL, n_evaluated) != 0) return -1;
    mix_node_t o;
    for (uint32_t i = 0; i < n; i++) {
        const size_t r = (size_t) i * m->k;
        mix_node(m, m->m_ids + r, m->m_lp + r, m->l_ids + r, m->l_lp + r, &o);
        float *row = logits + (size_t) i * m->n_vocab;
        for (uint32_t v = 0; v < m->n_vocab; v++) row[v] = o.floor_lp;
        for (uint32_t u = 0; u < o.n; u++) row[o.id[u]] = o.lp[u];
    }
    return 0;
}

static int mx_forward_topk(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                           const uint8_t *want, uint32_t k, int32_t *ids, float *logp, uint32_t *n_evaluated) {
    mix_draft_t *m = (mix_draft_t *) ctx;
    if (k == 0 || k > m->n_vocab) {
        snprintf(m->err, sizeof m->err, "mix draft: top-k %u outside 1..%u", k, m->n_vocab);
        return -1;
    }
    if (components(m, first_id, tokens, parent, n, want, n_evaluated) != 0) return -1;
    mix_node_t o;
    for (uint32_t i = 0; i < n; i++) {
        if (want && !want[i]) continue;
        const size_t r = (size_t) i * m->k;
        mix_node(m, m->m_ids + r, m->m_lp + r, m->l_ids + r, m->l_lp + r, &o);
        node_topk(m, &o, k, ids + (size_t) i * k, logp + (size_t) i * k);
    }
    return 0;
}

static int mx_begin(void *ctx, const int32_t *committed, uint32_t n) {
    mix_draft_t *m = (mix_draft_t *) ctx;
    int rc = m->model.begin_cycle(m->model.ctx, committed, n);
    if (rc != 0) return fail(m, "model draft", &m->model, rc);
    rc = m->lookup.begin_cycle(m->lookup.ctx, committed, n);
    if (rc != 0) return fail(m, "lookup draft", &m->lookup, rc);
    return 0;
}

static void mx_end(void *ctx) {
    mix_draft_t *m = (mix_draft_t *) ctx;
    if (m->model.end_cycle) m->model.end_cycle(m->model.ctx);
    if (m->lookup.end_cycle) m->lookup.end_cycle(m->lookup.ctx);
}

static int mx_committed(void *ctx, const int32_t *rows, uint32_t n_rows) {
    mix_draft_t *m = (mix_draft_t *) ctx;
    int rc = m->model.target_committed ? m->model.target_committed(m->model.ctx, rows, n_rows) : 0;
    if (rc != 0) return fail(m, "model draft", &m->model, rc);
    rc = m->lookup.target_committed ? m->lookup.target_committed(m->lookup.ctx, rows, n_rows) : 0;
    if (rc != 0) return fail(m, "lookup draft", &m->lookup, rc);
    return 0;
}

static const char *mx_error(void *ctx) { return ((mix_draft_t *) ctx)->err; }

void mix_draft_backend(mix_draft_t *m, sess_draft_t *out) {
    memset(out, 0, sizeof *out);
    out->ctx = m;
    out->begin_cycle = mx_begin;
    out->forward = mx_forward;
    out->forward_topk = mx_forward_topk;
    out->end_cycle = mx_end;
    out->error = mx_error;
    out->target_committed = mx_committed;
}
