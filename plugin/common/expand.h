/* expand.h - EAGLE-2/3-style beam expansion of a draft tree, shared by static_tree, radar (and
 * later ltd), so that the strategies differ only in when they stop and how many nodes they verify.
 *
 *   dsx_begin   draft call 1 on the root (top_k K): its top-K children become level-1 candidates.
 *   dsx_expand  one more level: the `beam` best nodes of the newest level (by cumulative draft
 *               log-prob) are forwarded in ONE draft_forward call (split only if the host's
 *               max_draft_nodes is smaller), and their top-K children become candidates.
 *   dsx_build   global top-N rerank over all candidates by cumulative log-prob -> the tree, in
 *               topological order (candidate creation order), with per-node draft log-probs.
 *
 * Ranking order is (cumulative log-prob descending, candidate index ascending). A child's
 * cumulative log-prob is its parent's plus a log-prob clamped to <= 0, and a parent is created
 * before its children, so a parent always ranks before its child: every top-N prefix is closed
 * under ancestors (the rerank keeps a node only if its parent is kept). Leaves need not have been
 * forwarded. Candidates with non-finite log-probs are dropped. A ranked list of the best `n_rank`
 * candidates is kept incrementally, so the rerank and cost estimates are cheap at every step.
 *
 * Without DSTRAT_CAP_DRAFT_TREE the beam is 1 (no branching draft requests); without
 * DSTRAT_CAP_VERIFY_TREE the beam and top_k are 1 (the tree is a chain).
 */
#ifndef DSX_EXPAND_H
#define DSX_EXPAND_H

#include <stdint.h>

#include "dstrat.h"
#include "plugin_base.h"
#include "tree.h"

#define DSX_FEATURE_FLOOR (-30.0f) /* state features: log-probs clamped here, missing beams padded */

typedef struct dsx_cand {
    dstrat_token_t token;
    int32_t parent;     /* candidate index, -1 = the root */
    float logp;         /* log q(token | parent path), <= 0 */
    float cum;          /* cumulative draft log-prob of the path root..this node */
    int32_t draft_id;   /* cycle-local draft id once forwarded, else -1 */
    uint32_t depth;     /* 1 = child of the root */
} dsx_cand_t;

typedef struct dsx_key {
    float cum;
    uint32_t idx;
} dsx_key_t;

typedef struct dsx {
    /* limits fixed at init */
    uint32_t max_top_k, max_beam, max_levels, max_rank;
    /* this cycle */
    uint32_t top_k, beam, max_depth, n_rank_cap;
    dstrat_token_t root;
    dsx_cand_t *cand;      /* [cap_cand] */
    uint32_t n_cand, cap_cand;
    uint32_t level;        /* deepest candidate level (1 after begin) */
    uint32_t n_calls;      /* draft_forward calls this cycle */
    uint32_t level_first;  /* first candidate index of the newest level */
    uint32_t *frontier;    /* [max_beam] candidate indices of the newest level, best first */
    uint32_t n_frontier;
    dsx_key_t *rank;       /* [max_rank] best candidates, rank order */
    uint32_t n_rank;
    /* scratch */
    dsx_key_t *lvl;        /* [max_beam * max_top_k] the newest level sorted */
    dsx_key_t *merge;      /* [max_rank] */
    dstrat_token_t *req_tok;
    int32_t *req_par;      /* [max_beam] */
    uint32_t *sel;         /* [max_rank] */
    int32_t *node_of;      /* [cap_cand] tree node of each candidate during build */
} dsx_t;

/* Allocates for top_k <= max_top_k, beam <= max_beam, levels <= max_levels, n <= max_rank.
 * 0 or DSTRAT_E_INVALID_ARG / DSTRAT_E_NOMEM. */
int dsx_init(dsx_t *x, uint32_t max_top_k, uint32_t max_beam, uint32_t max_levels, uint32_t max_rank);
void dsx_free(dsx_t *x);

/* Draft call 1. top_k and beam are capped by the init limits, the host's max_draft_top_k and the
 * session's caps; max_depth (levels) by max_levels; n_rank (ranked candidates kept) by max_rank.
 * Returns 0, a negative dsb_draft code (message in in->err). */
int dsx_begin(dsx_t *x, dsb_instance_t *in, dsb_session_t *ss, dstrat_token_t root, uint32_t top_k, uint32_t beam,
              uint32_t max_depth, uint32_t n_rank);
/* 1 if another level can be generated (depth limit, non-empty frontier). */
int dsx_can_expand(const dsx_t *x);
/* One level (one draft_forward call per max_draft_nodes frontier nodes). 0 or a negative code. */
int dsx_expand(dsx_t *x, dsb_instance_t *in, dsb_session_t *ss);

/* The cumulative log-probs of the newest level's `k` best nodes (the beams), descending, clamped
 * to >= DSX_FEATURE_FLOOR and padded with it: RADAR's state (after call 1 these are the top-k
 * log-probs of the root's distribution). Returns the number of real entries. */
uint32_t dsx_state(const dsx_t *x, uint32_t k, float *out);

/* Global top-n rerank into b (n capped by the builder's room and the ranked list). Returns the
 * number of draft nodes added, or a negative code from the builder. */
int dsx_build(dsx_t *x, uint32_t n, dst_tree_build_t *b);

#endif /* DSX_EXPAND_H */
