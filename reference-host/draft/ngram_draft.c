/* ngram_draft.c - see ngram_draft.h.
 * Logits it returns: when the longest matching n-gram has followers, each follower gets
 * log(count) and every other token NGRAM_FLOOR, so the draft's probabilities are the follower
 * frequencies; with no match all logits are 0 (uniform), which confidence-based strategies read
 * as "stop drafting". With a static table and a match shorter than table_below, the table's row
 * (if any) is used instead: log(count) for its followers and log((total - their counts +
 * table_discount) / (n_vocab - followers)) for every other token. */
#include "ngram_draft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define NGRAM_FLOOR (-30.0f)
#define NGRAM_MAX_IDS 1024u
#define NGRAM_MAX_N 16u
#define NGRAM_MAX_FOLLOWERS 256u /* max_matches is capped to this */

struct ngram_draft {
    uint32_t n_vocab;
    ngram_draft_params_t p;
    const int32_t *committed; /* borrowed from the session for the cycle */
    uint32_t n_committed;
    int32_t tokens[NGRAM_MAX_IDS], parent[NGRAM_MAX_IDS];
    uint32_t n_ids;
    uint32_t suffix_n;        /* context tokens a node looks at: max(max_n, the table's order) */
    char err[128];
};

ngram_draft_t *ngram_draft_new(uint32_t n_vocab, const ngram_draft_params_t *params) {
    ngram_draft_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->n_vocab = n_vocab;
    d->p = params ? *params : (ngram_draft_params_t) {0};
    if (!d->p.min_n) d->p.min_n = 1;
    if (!d->p.max_n) d->p.max_n = 4;
    if (d->p.max_n > NGRAM_MAX_N) d->p.max_n = NGRAM_MAX_N;
    if (d->p.min_n > d->p.max_n) d->p.min_n = d->p.max_n;
    if (!d->p.max_matches) d->p.max_matches = 64;
    if (!d->p.table_below) d->p.table_below = 2;
    if (!d->p.table_min_total) d->p.table_min_total = 2;
    d->suffix_n = d->p.max_n;
    if (d->p.table && ngram_table_max_order(d->p.table) > d->suffix_n) d->suffix_n = ngram_table_max_order(d->p.table);
    if (d->p.max_matches > NGRAM_MAX_FOLLOWERS) d->p.max_matches = NGRAM_MAX_FOLLOWERS;
    return d;
}

void ngram_draft_free(ngram_draft_t *d) { free(d); }

static int nd_begin(void *ctx, const int32_t *committed, uint32_t n) {
    ngram_draft_t *d = (ngram_draft_t *) ctx;
    d->committed = committed;
    d->n_committed = n;
    d->n_ids = 0;
    return 0;
}

/* The last up-to-max_n tokens of node id's context, oldest first; returns how many. The node's
 * own token is last; the root's token is the last committed token, so committed text is used
 * only before it. */
static uint32_t node_suffix(const ngram_draft_t *d, uint32_t id, int32_t *out, uint32_t max_n) {
    int32_t rev[NGRAM_MAX_N];
    uint32_t k = 0;
    int32_t cur = (int32_t) id;
    while (k < max_n && cur > 0) { /* path nodes below the root */
        rev[k++] = d->tokens[cur];
        cur = d->parent[cur];
    }
    /* cur == 0 (root) or k == max_n: continue with committed tokens, root = c[n-1] */
    for (uint32_t j = 0; k < max_n && j < d->n_committed; j++) rev[k++] = d->committed[d->n_committed - 1 - j];
    for (uint32_t j = 0; j < k; j++) out[j] = rev[k - 1 - j];
    return k;
}

/* The table's row for a context, as followers and logits; *rest = the logit of every other token. */
static uint32_t from_table(const ngram_draft_t *d, const int32_t *suffix, uint32_t k, int32_t *fol, float *fol_logit,
                           float *rest) {
    ngt_row_t row;
    if (!ngram_table_lookup(d->p.table, suffix, k, d->p.table_min_total, &row) || row.n == 0) return 0;
    uint64_t seen = 0;
    for (uint32_t j = 0; j < row.n; j++) {
        fol[j] = (int32_t) row.tok[j];
        fol_logit[j] = logf((float) row.cnt[j]);
        seen += row.cnt[j];
    }
    const float unseen = (float) (row.total - seen) + d->p.table_discount;
    *rest = unseen > 0.0f && d->n_vocab > row.n ? logf(unseen / (float) (d->n_vocab - row.n)) : NGRAM_FLOOR;
    return row.n;
}

/* The followers of the longest matching n-gram of a node's context, with their logits (log of
 * the follower's count, accumulated in float exactly as the dense logits always were); every
 * other token has *rest (NGRAM_FLOOR; the table's unseen share, see above; 0 with no match).
 * Returns the number of followers (0: no match, uniform). */
static uint32_t predict(const ngram_draft_t *d, const int32_t *suffix, uint32_t k, int32_t *fol, float *fol_logit,
                        float *rest) {
    const int32_t *c = d->committed;
    const uint32_t n = d->n_committed;
    int table_tried = !d->p.table;
    *rest = 0.0f;
    for (uint32_t len = k < d->p.max_n ? k : d->p.max_n; len >= d->p.min_n && len > 0; len--) {
        if (!table_tried && len < d->p.table_below) { /* a short match: the table knows better, if it knows */
            table_tried = 1;
            const uint32_t nt = from_table(d, suffix, k, fol, fol_logit, rest);
            if (nt) return nt;
        }
        const int32_t *key = suffix + (k - len);
        uint32_t found = 0, nf = 0;
        /* occurrences c[s..s+len) == key followed by c[s+len], most recent first; the final
           occurrence (the suffix itself, when it is committed text) has no follower */
        for (int64_t s = (int64_t) n - (int64_t) len - 1; s >= 0 && found < d->p.max_matches; s--) {
            if (memcmp(c + s, key, len * sizeof *key) != 0) continue;
            const int32_t next = c[s + len];
            uint32_t j = 0;
            while (j < nf && fol[j] != next) j++;
            if (j == nf) {
                fol[nf++] = next;
                fol_logit[j] = NGRAM_FLOOR;
            }
            /* counts kept in logit space: floor means 0, else log(count) */
            float cnt = fol_logit[j] == NGRAM_FLOOR ? 0.0f : expf(fol_logit[j]);
            fol_logit[j] = logf(cnt + 1.0f);
            found++;
        }
        if (found) {
            *rest = NGRAM_FLOOR;
            return nf;
        }
    }
    return table_tried ? 0 : from_table(d, suffix, k, fol, fol_logit, rest);
}

static int record_nodes(ngram_draft_t *d, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n) {
    if (first_id != d->n_ids || first_id + n > NGRAM_MAX_IDS) {
        snprintf(d->err, sizeof d->err, "ngram draft: node ids out of step or more than %u per cycle", NGRAM_MAX_IDS);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        d->tokens[first_id + i] = tokens[i];
        d->parent[first_id + i] = parent[i];
    }
    d->n_ids += n;
    return 0;
}

static int nd_forward(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent,
                      uint32_t n, float *logits, uint32_t *n_evaluated) {
    ngram_draft_t *d = (ngram_draft_t *) ctx;
    if (record_nodes(d, first_id, tokens, parent, n) != 0) return -1;
    int32_t suffix[NGRAM_MAX_N], fol[NGRAM_MAX_FOLLOWERS];
    float fol_logit[NGRAM_MAX_FOLLOWERS], rest;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t k = node_suffix(d, first_id + i, suffix, d->suffix_n);
        const uint32_t nf = predict(d, suffix, k, fol, fol_logit, &rest);
        float *row = logits + (size_t) i * d->n_vocab;
        for (uint32_t v = 0; v < d->n_vocab; v++) row[v] = rest;
        for (uint32_t j = 0; j < nf; j++) row[fol[j]] = fol_logit[j];
    }
    if (n_evaluated) *n_evaluated = 0; /* no model evaluated */
    return 0;
}

/* The top-k of log_softmax of the dense row above, computed from the followers alone: the floor
 * tokens all share one logit, so they enter the normaliser as a count and the top-k (after the
 * followers, best first, ties by lower id) as the lowest ids that are not followers. */
static void sparse_topk(const ngram_draft_t *d, const int32_t *fol, const float *fol_logit, uint32_t nf, float rest,
                        uint32_t k, int32_t *ids, float *lp) {
    const uint32_t nv = d->n_vocab;
    float mx = rest;
    for (uint32_t j = 0; j < nf; j++)
        if (fol_logit[j] > mx) mx = fol_logit[j];
    double z = (double) (nv - nf) * exp((double) (rest - mx));
    for (uint32_t j = 0; j < nf; j++) z += exp((double) (fol_logit[j] - mx));
    const float lz = mx + (float) log(z);
    uint32_t m = 0; /* followers sorted by (logit desc, id asc): insertion, nf <= max_matches */
    for (uint32_t j = 0; j < nf; j++) {
        uint32_t pos = m < k ? m++ : k;
        if (pos == k && !(fol_logit[j] > lp[k - 1] || (fol_logit[j] == lp[k - 1] && fol[j] < ids[k - 1]))) continue;
        if (pos == k) pos = k - 1;
        while (pos > 0 && (lp[pos - 1] < fol_logit[j] || (lp[pos - 1] == fol_logit[j] && ids[pos - 1] > fol[j]))) {
            ids[pos] = ids[pos - 1];
            lp[pos] = lp[pos - 1];
            pos--;
        }
        ids[pos] = fol[j];
        lp[pos] = fol_logit[j];
    }
    for (uint32_t j = 0; j < m; j++) lp[j] -= lz;
    for (int32_t v = 0; m < k && (uint32_t) v < nv; v++) { /* then the lowest non-follower ids */
        uint32_t j = 0;
        while (j < nf && fol[j] != v) j++;
        if (j < nf) continue;
        ids[m] = v;
        lp[m++] = rest - lz;
    }
}

static int nd_forward_topk(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                           const uint8_t *want, uint32_t k, int32_t *ids, float *logp, uint32_t *n_evaluated) {
    ngram_draft_t *d = (ngram_draft_t *) ctx;
    if (k == 0 || k > d->n_vocab) {
        snprintf(d->err, sizeof d->err, "ngram draft: top-k %u outside 1..%u", k, d->n_vocab);
        return -1;
    }
    if (record_nodes(d, first_id, tokens, parent, n) != 0) return -1;
    int32_t suffix[NGRAM_MAX_N], fol[NGRAM_MAX_FOLLOWERS];
    float fol_logit[NGRAM_MAX_FOLLOWERS], rest;
    for (uint32_t i = 0; i < n; i++) {
        if (want && !want[i]) continue;
        const uint32_t sk = node_suffix(d, first_id + i, suffix, d->suffix_n);
        const uint32_t nf = predict(d, suffix, sk, fol, fol_logit, &rest);
        sparse_topk(d, fol, fol_logit, nf, rest, k, ids + (size_t) i * k, logp + (size_t) i * k);
    }
    if (n_evaluated) *n_evaluated = 0;
    return 0;
}

static void nd_end(void *ctx) { ((ngram_draft_t *) ctx)->n_ids = 0; }
static const char *nd_error(void *ctx) { return ((ngram_draft_t *) ctx)->err; }

void ngram_draft_backend(ngram_draft_t *d, sess_draft_t *out) {
    memset(out, 0, sizeof *out);
    out->ctx = d;
    out->begin_cycle = nd_begin;
    out->forward = nd_forward;
    out->forward_topk = nd_forward_topk;
    out->end_cycle = nd_end;
    out->error = nd_error;
}
