/* radar_collect.h - the in-host data collector for RADAR's offline counterfactual simulator.
 *
 * A strategy (built on plugin/common's plugin_base, run in-process, bound to a session with
 * session_bind) that drafts exactly like the radar plugin - the same expansion code
 * (plugin/common/expand.c), the same state features (dsx_state) and the same top-N rerank
 * (dsx_build) - but never stops early: it expands to max_depth once, remembers the ranked
 * candidate list after every level, builds the tree radar would have verified had it stopped at
 * that level, and proposes the UNION of these trees (each is closed under ancestors, so the union
 * is a tree). The host verifies the union in one target forward; accept then runs the reference
 * walk (plugin/common/walk.c) on every per-level tree, reading its nodes' verification from the
 * union, which gives the exact accepted length for every stop depth. The sequence continues with
 * the deepest tree's path (the paper's behaviour policy: always continue).
 *
 * After each observed cycle the record (rl_cycle_t: states, accepted lengths, tree sizes, draft
 * call times, union verify time) goes to the caller's sink. The last cycle of a generation gets no
 * observe from the session and is not logged.
 */
#ifndef RADAR_COLLECT_H
#define RADAR_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"
#include "radar_log.h"

typedef int (*rc_sink_fn)(void *user, const rl_cycle_t *c);

typedef struct rc_params {
    uint32_t top_k;        /* radar's top_k (beams, children, features) */
    uint32_t max_depth;    /* radar's max_depth (draft calls = levels) */
    uint32_t total_tokens; /* radar's total_tokens (root included) */
} rc_params_t;

/* Largest union tree (root included) the collector can propose for p: the host's
 * max_tree_nodes must be at least this much for the union to always fit (otherwise the deepest
 * levels' trees are cut and the cycle is not logged). */
uint32_t rc_union_capacity(const rc_params_t *p);

/* Creates the collector on host (borrowed, e.g. session_host()). 0 or a negative DSTRAT code
 * with a message in err. Destroy with (*out)->destroy(*out) after the session is freed. */
int rc_create(const dstrat_host_t *host, const rc_params_t *p, rc_sink_fn sink, void *user,
              dstrat_strategy_t **out, char *err, size_t cap);

/* Cycles logged / skipped (a union that did not fit) so far. */
void rc_counts(const dstrat_strategy_t *s, uint64_t *logged, uint64_t *skipped);

#endif /* RADAR_COLLECT_H */
