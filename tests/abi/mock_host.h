/* mock_host.h - a tiny deterministic host for the ABI tests: two "models" that are arithmetic
 * functions of the last two tokens (the draft is sometimes wrong), a dstrat_host_t whose
 * draft_forward serves them, and a greedy generation loop that drives a strategy through the
 * propose -> verify -> accept -> commit -> observe cycle with configurable struct sizes, checking
 * every output the plugin writes. Greedy output must equal plain autoregressive decoding of the
 * target function, which mock_reference computes without any plugin. */
#ifndef MOCK_HOST_H
#define MOCK_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"

#define MOCK_VOCAB 32
#define MOCK_MAX_NODES 64
#define MOCK_MAX_TOP_K 8

/* struct_size the host writes into each struct it fills; 0 = sizeof (a normal v1.0 host). A
 * smaller value makes it look like a host built against an older header; the bytes past it are
 * filled with poison so a plugin that reads them misbehaves visibly. */
typedef struct mock_sizes {
    uint32_t host;
    uint32_t limits;
    uint32_t session_params;
    uint32_t tree;
    uint32_t verify;
    uint32_t accept;
    uint32_t cycle_stats;
} mock_sizes_t;

typedef struct mock_host {
    dstrat_host_t host;          /* first, so extended hosts can wrap it */
    dstrat_host_limits_t limits;
    int draft_wrong_every;       /* the draft errs when the last token % this == 0 (0 = never) */
    /* cycle-local draft tree of the current propose */
    int32_t node_tok[MOCK_MAX_NODES];
    int32_t node_parent[MOCK_MAX_NODES];
    uint32_t n_nodes;
    const int32_t *committed;    /* the committed sequence during a propose */
    uint32_t n_committed;
    /* draft_forward outputs (host-owned) */
    int32_t out_node[MOCK_MAX_NODES];
    dstrat_dist_t out_dist[MOCK_MAX_NODES];
    int32_t out_ids[MOCK_MAX_NODES][MOCK_MAX_TOP_K];
    float out_logp[MOCK_MAX_NODES][MOCK_MAX_TOP_K];
    uint32_t n_draft_calls;
    uint32_t n_draft_nodes;
} mock_host_t;

/* The target's next token after (a, b) (b the last). */
int32_t mock_target_next(int32_t a, int32_t b);

/* Fills mh: caps DRAFT|DRAFT_TREE|VERIFY_TREE, the limits, draft_forward. Sizes from s (may be
 * NULL); a host size that excludes draft_forward also drops CAP_DRAFT. */
void mock_host_init(mock_host_t *mh, const mock_sizes_t *s);

/* Plain autoregressive target decoding of n_gen tokens after prompt[0..n_prompt) into out. */
void mock_reference(const int32_t *prompt, uint32_t n_prompt, uint32_t n_gen, int32_t *out);

/* Greedy generation of n_gen tokens with strategy st through the ABI. Writes the generated
 * tokens to out. Returns 0, or -1 with a message in err naming the first violation (a bad
 * tree, a bad path, a write past a struct_size, a failing call). */
int mock_generate(mock_host_t *mh, dstrat_strategy_t *st, const mock_sizes_t *s,
                  const int32_t *prompt, uint32_t n_prompt, uint32_t n_gen, int32_t *out,
                  uint32_t *n_cycles, char *err, size_t cap);

#endif /* MOCK_HOST_H */
