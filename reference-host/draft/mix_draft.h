/* mix_draft.h - one draft out of two: a model draft (the feature head) and a lookup draft (the
 * n-gram / prompt lookup). The head is good at fluent text, the lookup at copying (code, quotes,
 * summaries); a tree drafted from the mix carries both kinds of candidate.
 *
 * The mix's distribution for a node, with K = MIX_DRAFT_K:
 *   H = the model's top-K (token, p_model), L = the lookup's top-K tokens with p_lookup above
 *   MIX_DRAFT_MIN_P and above twice uniform (an n-gram draft with no match is uniform and
 *   contributes nothing), renormalised over L;
 *   w = lookup_weight if L is non-empty, else 0;
 *   q(t) = (1 - w) * p_model(t) [t in H] + w * p_lookup(t) / p_lookup(L) [t in L];
 *   every other token shares the remaining mass 1 - sum q equally (the floor).
 * forward writes log q as logits; forward_topk gives exactly the top-k of that row (log-prob
 * descending, ties by lower id) without an n_vocab array. The components' own top-K come from
 * their sparse path when they have one (sess_draft_topk), so a mix call costs one head call plus
 * one lookup call. Thread safety: like a session, single-threaded. */
#ifndef MIX_DRAFT_H
#define MIX_DRAFT_H

#include <stdint.h>

#include "session.h"

#define MIX_DRAFT_K 16u          /* candidates taken from each component per node */
#define MIX_DRAFT_MIN_P 1e-4f    /* lookup entries below this are "no opinion" */

typedef struct mix_draft mix_draft_t;

/* model and lookup are borrowed and must outlive the mix; lookup_weight in [0, 1]. NULL and a
 * message in err on a bad argument or allocation failure. */
mix_draft_t *mix_draft_new(const sess_draft_t *model, const sess_draft_t *lookup, uint32_t n_vocab,
                           float lookup_weight, char *err, size_t cap);
void mix_draft_free(mix_draft_t *m);
/* Fills the backend interface; m must outlive its use. */
void mix_draft_backend(mix_draft_t *m, sess_draft_t *out);

#endif
