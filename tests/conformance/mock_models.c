/* mock_models.c - see mock_models.h. */
#include "mock_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_SALT_OTHER UINT64_C(0x6f74686572000002)
#define MOCK_MAX_WINDOW 8
#define MOCK_MAX_DRAFT_IDS 1024

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

mock_cfg_t mock_default_cfg(void) {
    return (mock_cfg_t) {.n_vocab = 128, .window = 3, .sharpness = 4.0f, .seed = 1,
                         .n_ctx = 2048, .max_batch = 64};
}

/* tail[0..m) = the last m tokens of the context (oldest first), pos = position of the last */
static void logits_from_tail(const mock_cfg_t *c, uint64_t salt, const int32_t *tail, uint32_t m,
                             uint64_t pos, float *out) {
    uint64_t h = mix(c->seed ^ salt);
    h = mix(h ^ (pos * UINT64_C(0x9e3779b97f4a7c15)));
    for (uint32_t j = 0; j < m; j++) h = mix(h ^ ((uint64_t) (tail[j] + 1) * UINT64_C(0xd1b54a32d192ed03) + j));
    for (uint32_t t = 0; t < c->n_vocab; t++) {
        uint64_t z = mix(h ^ ((uint64_t) (t + 1) * UINT64_C(0x8cb92ba72f3d8dd7)));
        /* sum of four 16-bit uniforms: mean 2, variance 1/3 -> scaled to unit variance */
        double s = 0.0;
        for (int k = 0; k < 4; k++) s += (double) ((z >> (16 * k)) & 0xffff) / 65536.0;
        out[t] = (float) ((s - 2.0) * 1.7320508075688772) * c->sharpness;
    }
}

void mock_logits(const mock_cfg_t *c, uint64_t salt, const int32_t *ctx, uint32_t n, float *out) {
    uint32_t m = n < c->window ? n : c->window;
    logits_from_tail(c, salt, ctx + n - m, m, n - 1, out);
}

static void blend(const mock_cfg_t *c, float a, const int32_t *tail, uint32_t m, uint64_t pos, float *out) {
    logits_from_tail(c, MOCK_SALT_TARGET, tail, m, pos, out);
    if (a >= 1.0f) return;
    float other[4096];
    logits_from_tail(c, MOCK_SALT_OTHER, tail, m, pos, other);
    for (uint32_t t = 0; t < c->n_vocab; t++) out[t] = a * out[t] + (1.0f - a) * other[t];
}

void mock_draft_logits(const mock_cfg_t *c, float agreement, const int32_t *ctx, uint32_t n, float *out) {
    uint32_t m = n < c->window ? n : c->window;
    blend(c, agreement, ctx + n - m, m, n - 1, out);
}

/* The last tokens of a node's context: walk the node's ancestors in (tok, par), then the base
 * sequence. Returns the number written into tail (oldest first) and the node's depth. */
static uint32_t node_tail(uint32_t window, const int32_t *base, uint32_t n_base, const int32_t *tok,
                          const int32_t *par, int32_t node, int32_t *tail, uint32_t *depth) {
    int32_t rev[MOCK_MAX_WINDOW];
    uint32_t m = 0, d = 0;
    for (int32_t i = node; i >= 0; i = par[i], d++)
        if (m < window) rev[m++] = tok[i];
    for (uint32_t j = n_base; j > 0 && m < window; j--) rev[m++] = base[j - 1];
    for (uint32_t j = 0; j < m; j++) tail[j] = rev[m - 1 - j];
    *depth = d - 1;
    return m;
}

/* ------------------------------------------------------------------------------ target */
struct mock_target {
    mock_cfg_t cfg;
    int32_t *committed;           /* [n_ctx] */
    uint32_t n_past;
    int32_t *btok, *bpar;         /* [max_batch] the pending batch */
    uint32_t n_batch;
    int pending;
    uint64_t n_evaluated;
    char err[256];
};

mock_target_t *mock_target_new(const mock_cfg_t *c) {
    if (c->n_vocab < 2 || c->n_vocab > 4096 || c->window < 1 || c->window > MOCK_MAX_WINDOW ||
        c->n_ctx < 2 || c->max_batch < 1)
        return NULL;
    mock_target_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = *c;
    t->committed = calloc(c->n_ctx, sizeof(int32_t));
    t->btok = calloc(c->max_batch, sizeof(int32_t));
    t->bpar = calloc(c->max_batch, sizeof(int32_t));
    if (!t->committed || !t->btok || !t->bpar) {
        mock_target_free(t);
        return NULL;
    }
    return t;
}

void mock_target_free(mock_target_t *t) {
    if (!t) return;
    free(t->committed);
    free(t->btok);
    free(t->bpar);
    free(t);
}

static int t_fail(mock_target_t *t, const char *msg, long a, long b) {
    snprintf(t->err, sizeof t->err, "mock target: %s (%ld, %ld)", msg, a, b);
    return -1;
}

static int t_forward(void *ctx, const int32_t *tokens, const int32_t *parent, uint32_t n,
                     const uint8_t *want, float *logits) {
    mock_target_t *t = ctx;
    if (t->pending) return t_fail(t, "forward while the previous batch is not committed", t->n_batch, n);
    if (n == 0 || n > t->cfg.max_batch) return t_fail(t, "batch size outside 1..max_batch", n, t->cfg.max_batch);
    for (uint32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint32_t) tokens[i] >= t->cfg.n_vocab) return t_fail(t, "token out of range", i, tokens[i]);
        if (parent[i] >= (int32_t) i) return t_fail(t, "parent not earlier in the batch", i, parent[i]);
        t->btok[i] = tokens[i];
        t->bpar[i] = parent[i] < 0 ? -1 : parent[i];
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t tail[MOCK_MAX_WINDOW];
        uint32_t depth;
        uint32_t m = node_tail(t->cfg.window, t->committed, t->n_past, t->btok, t->bpar, (int32_t) i, tail, &depth);
        if (t->n_past + depth >= t->cfg.n_ctx) return t_fail(t, "context overflow", t->n_past + depth, t->cfg.n_ctx);
        if (logits && (!want || want[i]))
            logits_from_tail(&t->cfg, MOCK_SALT_TARGET, tail, m, t->n_past + depth,
                             logits + (size_t) i * t->cfg.n_vocab);
    }
    t->n_batch = n;
    t->pending = 1;
    t->n_evaluated += n;
    return 0;
}

static int t_commit(void *ctx, const int32_t *path, uint32_t n_path) {
    mock_target_t *t = ctx;
    if (!t->pending) return n_path ? t_fail(t, "commit without a batch", n_path, 0) : 0;
    t->pending = 0;
    if (!path || n_path == 0) return 0;
    for (uint32_t j = 0; j < n_path; j++) {
        int32_t i = path[j];
        if (i < 0 || (uint32_t) i >= t->n_batch) return t_fail(t, "path node out of the batch", j, i);
        if (t->bpar[i] != (j ? path[j - 1] : -1)) return t_fail(t, "path is not a parent chain", j, i);
        if (t->n_past >= t->cfg.n_ctx) return t_fail(t, "context overflow on commit", t->n_past, t->cfg.n_ctx);
        t->committed[t->n_past++] = t->btok[i];
    }
    return 0;
}

static int t_truncate(void *ctx, uint32_t n_past) {
    mock_target_t *t = ctx;
    if (n_past > t->n_past) return t_fail(t, "truncate beyond n_past", n_past, t->n_past);
    t->n_past = n_past;
    t->pending = 0;
    return 0;
}

static const char *t_error(void *ctx) {
    return ((mock_target_t *) ctx)->err;
}

sess_target_t mock_target_iface(mock_target_t *t) {
    return (sess_target_t) {.ctx = t, .n_vocab = t->cfg.n_vocab, .n_ctx = t->cfg.n_ctx,
                            .max_batch = t->cfg.max_batch, .forward = t_forward, .commit = t_commit,
                            .truncate = t_truncate, .error = t_error};
}

uint32_t mock_target_n_past(const mock_target_t *t) { return t->n_past; }
const int32_t *mock_target_committed(const mock_target_t *t) { return t->committed; }
uint64_t mock_target_tokens_evaluated(const mock_target_t *t) { return t->n_evaluated; }

/* ------------------------------------------------------------------------------ draft */
struct mock_draft {
    mock_cfg_t cfg;
    float agreement;
    int32_t *committed;     /* the committed sequence of this cycle */
    uint32_t n_committed, cap;
    uint32_t n_cached;      /* tokens the simulated draft KV holds (for n_evaluated) */
    int in_cycle, caught_up;
    int32_t tok[MOCK_MAX_DRAFT_IDS], par[MOCK_MAX_DRAFT_IDS];
    uint32_t n_ids;
    uint64_t n_evaluated;
    char err[256];
};

mock_draft_t *mock_draft_new(const mock_cfg_t *c, float agreement) {
    mock_draft_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->cfg = *c;
    d->agreement = agreement;
    return d;
}

void mock_draft_free(mock_draft_t *d) {
    if (!d) return;
    free(d->committed);
    free(d);
}

static int d_fail(mock_draft_t *d, const char *msg, long a, long b) {
    snprintf(d->err, sizeof d->err, "mock draft: %s (%ld, %ld)", msg, a, b);
    return -1;
}

static int d_begin(void *ctx, const int32_t *committed, uint32_t n) {
    mock_draft_t *d = ctx;
    if (n == 0) return d_fail(d, "empty committed sequence", 0, 0);
    if (n > d->cap) {
        uint32_t cap = n * 2;
        int32_t *c = realloc(d->committed, cap * sizeof *c);
        if (!c) return d_fail(d, "out of memory", n, 0);
        d->committed = c;
        d->cap = cap;
    }
    /* the simulated draft cache keeps the common prefix with the last cycle's sequence */
    uint32_t keep = 0;
    while (keep < d->n_cached && keep < n - 1 && d->committed[keep] == committed[keep]) keep++;
    memcpy(d->committed, committed, n * sizeof *committed);
    d->n_committed = n;
    d->n_cached = keep;
    d->n_ids = 0;
    d->in_cycle = 1;
    d->caught_up = 0;
    return 0;
}

static int d_forward(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent,
                     uint32_t n, float *logits, uint32_t *n_evaluated) {
    mock_draft_t *d = ctx;
    if (!d->in_cycle) return d_fail(d, "forward outside a cycle", first_id, n);
    if (first_id != d->n_ids || first_id + n > MOCK_MAX_DRAFT_IDS) return d_fail(d, "unexpected first id", first_id, d->n_ids);
    uint32_t catch_up = 0;
    if (!d->caught_up) {
        catch_up = d->n_committed - 1 - d->n_cached;
        d->n_cached = d->n_committed - 1;
        d->caught_up = 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = first_id + i;
        if (tokens[i] < 0 || (uint32_t) tokens[i] >= d->cfg.n_vocab) return d_fail(d, "token out of range", id, tokens[i]);
        if (id == 0 ? (parent[i] != -1 || tokens[i] != d->committed[d->n_committed - 1])
                    : (parent[i] < 0 || (uint32_t) parent[i] >= id))
            return d_fail(d, "bad parent or root", id, parent[i]);
        d->tok[id] = tokens[i];
        d->par[id] = parent[i];
        int32_t tail[MOCK_MAX_WINDOW];
        uint32_t depth;
        uint32_t m = node_tail(d->cfg.window, d->committed, d->n_committed - 1, d->tok, d->par, (int32_t) id, tail, &depth);
        blend(&d->cfg, d->agreement, tail, m, (uint64_t) d->n_committed - 1 + depth, logits + (size_t) i * d->cfg.n_vocab);
    }
    d->n_ids += n;
    d->n_evaluated += catch_up + n;
    if (n_evaluated) *n_evaluated = catch_up + n;
    return 0;
}

static void d_end(void *ctx) {
    mock_draft_t *d = ctx;
    d->in_cycle = 0;
    d->n_ids = 0;
}

static const char *d_error(void *ctx) {
    return ((mock_draft_t *) ctx)->err;
}

sess_draft_t mock_draft_iface(mock_draft_t *d) {
    return (sess_draft_t) {.ctx = d, .begin_cycle = d_begin, .forward = d_forward, .end_cycle = d_end,
                           .error = d_error};
}

uint64_t mock_draft_tokens_evaluated(const mock_draft_t *d) { return d->n_evaluated; }
