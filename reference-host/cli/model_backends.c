/* model_backends.c - see model_backends.h */
#include "model_backends.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- target */
static int t_forward(void *ctx, const int32_t *tokens, const int32_t *parent, uint32_t n,
                     const uint8_t *want, float *logits) {
    return llm_forward((llm_ctx_t *) ctx, tokens, parent, n, want, logits);
}
static int t_commit(void *ctx, const int32_t *path, uint32_t n_path) {
    return llm_commit((llm_ctx_t *) ctx, path, n_path);
}
static int t_truncate(void *ctx, uint32_t n_past) { return llm_truncate((llm_ctx_t *) ctx, n_past); }
static const char *t_error(void *ctx) { return llm_last_error((llm_ctx_t *) ctx); }

void mb_target_init(sess_target_t *t, llm_ctx_t *ctx) {
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->n_vocab = llm_model_hparams(llm_ctx_model(ctx))->n_vocab;
    t->n_ctx = llm_n_ctx(ctx);
    t->max_batch = llm_max_batch(ctx);
    t->forward = t_forward;
    t->commit = t_commit;
    t->truncate = t_truncate;
    t->error = t_error;
}

/* ---------------------------------------------------------------- draft model */
/* The draft's KV holds committed rows c[0..n-1) after catch-up, like the target's; the nodes of
 * one cycle accumulate as scratch rows (cycle-local id = scratch row) and are dropped at the end. */
static int d_begin(void *ctx, const int32_t *committed, uint32_t n) {
    mb_draft_model_t *d = (mb_draft_model_t *) ctx;
    /* keep the longest prefix the draft already holds (a new prompt may share a prefix) */
    uint32_t have = llm_n_past(d->ctx);
    if (have > n - 1) have = n - 1;
    uint32_t same = 0;
    while (same < have && d->seen[same] == committed[same]) same++;
    if (same < llm_n_past(d->ctx) && llm_truncate(d->ctx, same) != 0) goto fail;
    have = same;
    if (n - 1 > d->cap_seen) {
        uint32_t cap = (n - 1) * 2;
        int32_t *p = realloc(d->seen, cap * sizeof *p);
        if (!p) {
            snprintf(d->err, sizeof d->err, "draft: out of memory");
            return -1;
        }
        d->seen = p;
        d->cap_seen = cap;
    }
    memcpy(d->seen + have, committed + have, (n - 1 - have) * sizeof *committed);
    int32_t parent[64];
    while (have + 1 < n) {
        uint32_t m = n - 1 - have;
        uint32_t mb = llm_max_batch(d->ctx);
        if (m > mb) m = mb;
        if (m > 64) m = 64;
        for (uint32_t i = 0; i < m; i++) parent[i] = (int32_t) i - 1;
        uint8_t none[64] = {0};
        if (llm_forward(d->ctx, committed + have, parent, m, none, NULL) != 0) goto fail;
        for (uint32_t i = 0; i < m; i++) parent[i] = (int32_t) i;
        if (llm_commit(d->ctx, parent, m) != 0) goto fail;
        have += m;
    }
    return 0;
fail:
    snprintf(d->err, sizeof d->err, "%s", llm_last_error(d->ctx));
    return -1;
}

static int d_forward(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent,
                     uint32_t n, float *logits, uint32_t *n_evaluated) {
    mb_draft_model_t *d = (mb_draft_model_t *) ctx;
    if (llm_n_scratch(d->ctx) != first_id) {
        snprintf(d->err, sizeof d->err, "draft: node ids out of step (%u scratch rows, first id %u)",
                 llm_n_scratch(d->ctx), first_id);
        return -1;
    }
    if (llm_forward_append(d->ctx, tokens, parent, n, NULL, logits) != 0) {
        snprintf(d->err, sizeof d->err, "%s", llm_last_error(d->ctx));
        return -1;
    }
    if (n_evaluated) *n_evaluated = n;
    return 0;
}

static void d_end(void *ctx) { llm_commit(((mb_draft_model_t *) ctx)->ctx, NULL, 0); }
static const char *d_error(void *ctx) { return ((mb_draft_model_t *) ctx)->err; }

void mb_draft_model_free(mb_draft_model_t *state) {
    free(state->seen);
    state->seen = NULL;
}

void mb_draft_model_init(sess_draft_t *d, mb_draft_model_t *state, llm_ctx_t *ctx) {
    memset(state, 0, sizeof *state);
    state->ctx = ctx;
    state->n_vocab = llm_model_hparams(llm_ctx_model(ctx))->n_vocab;
    memset(d, 0, sizeof *d);
    d->ctx = state;
    d->begin_cycle = d_begin;
    d->forward = d_forward;
    d->end_cycle = d_end;
    d->error = d_error;
}
