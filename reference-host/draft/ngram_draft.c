/* ngram_draft.c - see ngram_draft.h.
 * Logits it returns: when the longest matching n-gram has followers, each follower gets
 * log(count) and every other token NGRAM_FLOOR, so the draft's probabilities are the follower
 * frequencies; with no match all logits are 0 (uniform), which confidence-based strategies read
 * as "stop drafting". */
#include "ngram_draft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define NGRAM_FLOOR (-30.0f)
#define NGRAM_MAX_IDS 1024u
#define NGRAM_MAX_N 16u

struct ngram_draft {
    uint32_t n_vocab;
    ngram_draft_params_t p;
    const int32_t *committed; /* borrowed from the session for the cycle */
    uint32_t n_committed;
    int32_t tokens[NGRAM_MAX_IDS], parent[NGRAM_MAX_IDS];
    uint32_t n_ids;
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

static void predict(const ngram_draft_t *d, const int32_t *suffix, uint32_t k, float *logits) {
    const int32_t *c = d->committed;
    const uint32_t n = d->n_committed;
    for (uint32_t v = 0; v < d->n_vocab; v++) logits[v] = 0.0f;
    for (uint32_t len = k < d->p.max_n ? k : d->p.max_n; len >= d->p.min_n && len > 0; len--) {
        const int32_t *key = suffix + (k - len);
        uint32_t found = 0;
        /* occurrences c[s..s+len) == key followed by c[s+len], most recent first; the final
           occurrence (the suffix itself, when it is committed text) has no follower */
        for (int64_t s = (int64_t) n - (int64_t) len - 1; s >= 0 && found < d->p.max_matches; s--) {
            if (memcmp(c + s, key, len * sizeof *key) != 0) continue;
            int32_t next = c[s + len];
            if (!found)
                for (uint32_t v = 0; v < d->n_vocab; v++) logits[v] = NGRAM_FLOOR;
            /* counts kept in logit space: floor means 0, else log(count) */
            float cnt = logits[next] == NGRAM_FLOOR ? 0.0f : expf(logits[next]);
            logits[next] = logf(cnt + 1.0f);
            found++;
        }
        if (found) return;
    }
}

static int nd_forward(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent,
                      uint32_t n, float *logits, uint32_t *n_evaluated) {
    ngram_draft_t *d = (ngram_draft_t *) ctx;
    if (first_id != d->n_ids || first_id + n > NGRAM_MAX_IDS) {
        snprintf(d->err, sizeof d->err, "ngram draft: node ids out of step or more than %u per cycle", NGRAM_MAX_IDS);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        d->tokens[first_id + i] = tokens[i];
        d->parent[first_id + i] = parent[i];
    }
    d->n_ids += n;
    int32_t suffix[NGRAM_MAX_N];
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = node_suffix(d, first_id + i, suffix, d->p.max_n);
        predict(d, suffix, k, logits + (size_t) i * d->n_vocab);
    }
    if (n_evaluated) *n_evaluated = 0; /* no model evaluated */
    return 0;
}

static void nd_end(void *ctx) { ((ngram_draft_t *) ctx)->n_ids = 0; }
static const char *nd_error(void *ctx) { return ((ngram_draft_t *) ctx)->err; }

void ngram_draft_backend(ngram_draft_t *d, sess_draft_t *out) {
    memset(out, 0, sizeof *out);
    out->ctx = d;
    out->begin_cycle = nd_begin;
    out->forward = nd_forward;
    out->end_cycle = nd_end;
    out->error = nd_error;
}
