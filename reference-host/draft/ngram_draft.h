/* ngram_draft.h - a weightless draft (prompt lookup): for a node, take the last n tokens of its
 * context (committed tokens + its path in the draft tree) and propose what followed earlier
 * occurrences of that n-gram in the committed text, longest n first. It implements the session's
 * sess_draft_t, so any strategy can use it, with the sparse forward_topk (no n_vocab array: a call
 * costs microseconds) as well as dense logits. */
#ifndef NGRAM_DRAFT_H
#define NGRAM_DRAFT_H

#include <stdint.h>

#include "ngram_table.h"
#include "session.h"

typedef struct ngram_draft_params {
    uint32_t min_n;       /* shortest n-gram to match (default 1) */
    uint32_t max_n;       /* longest n-gram to match (default 4) */
    uint32_t max_matches; /* occurrences examined per node, most recent first (default 64, at most 256) */
    /* Optional static table (borrowed, must outlive the draft): used when the text so far matches
     * fewer than table_below tokens (default 2); its followers come with their counts, and the
     * context's unseen continuations keep their share of the mass. */
    const ngram_table_t *table;
    uint32_t table_below;
    uint32_t table_min_total; /* ignore table contexts seen fewer times (default 2) */
    float table_discount;     /* pseudo-count added to a context's unseen continuations: a follower's
                                 probability is count / (total + discount) (default 0) */
} ngram_draft_params_t;

typedef struct ngram_draft ngram_draft_t;

/* NULL on allocation failure. params may be NULL (defaults). */
ngram_draft_t *ngram_draft_new(uint32_t n_vocab, const ngram_draft_params_t *params);
void ngram_draft_free(ngram_draft_t *d);
/* Fills the backend interface; d must outlive its use. */
void ngram_draft_backend(ngram_draft_t *d, sess_draft_t *out);

#endif
