/* stats_ext.h - the "dstrat.plugin.stats/1" strategy extension: running cost and acceptance
 * averages a strategy keeps from observe(), for hosts, benchmarks and (later) cost-aware
 * strategies. Every strategy built on plugin_base offers it.
 *
 *   const dstrat_plugin_stats_ext_t *x = s->get_extension(s, DSTRAT_PLUGIN_STATS_ID);
 *   dstrat_plugin_stats_t st = { .struct_size = sizeof st };
 *   if (x && x->get(s, &st) == DSTRAT_OK) ...
 *
 * Averages are over all observed cycles of all sessions of the instance since it was created
 * (cumulative means) plus exponential moving averages (weight DSTRAT_PLUGIN_STATS_EMA) that
 * follow drift. Times come from the host (0 without DSTRAT_CAP_TIMING).
 */
#ifndef DSTRAT_PLUGIN_STATS_EXT_H
#define DSTRAT_PLUGIN_STATS_EXT_H

#include "dstrat.h"

#define DSTRAT_PLUGIN_STATS_ID "dstrat.plugin.stats/1"
#define DSTRAT_PLUGIN_STATS_EMA 0.1

typedef struct dstrat_plugin_stats {
    uint32_t struct_size;          /* set by the caller; the plugin writes only what fits */
    uint32_t reserved0;
    uint64_t n_cycles;             /* observed cycles */
    uint64_t n_accepted;           /* committed tokens over those cycles */
    uint64_t n_verified;           /* tree nodes verified (roots included) */
    uint64_t n_draft_calls;
    uint64_t n_draft_evaluated;
    double mean_accepted;          /* tokens per cycle (tau) */
    double mean_tree_nodes;        /* nodes per verified tree */
    double mean_draft_ns_per_call; /* draft_forward wall time per call */
    double mean_draft_ns_per_token;/* per draft token evaluated */
    double mean_verify_ns;         /* target verify forward per cycle */
    double mean_verify_ns_per_node;
    double ema_accepted;
    double ema_draft_ns_per_token;
    double ema_verify_ns;
} dstrat_plugin_stats_t;

/* Plugin-owned, static; valid until deinit. get is [instance]: returns DSTRAT_OK, or
 * DSTRAT_E_INVALID_ARG for NULL arguments or a struct_size below the 1.0 size of
 * dstrat_plugin_stats_t's first field group (struct_size < 16). */
typedef struct dstrat_plugin_stats_ext {
    uint32_t struct_size;
    dstrat_status_t (DSTRAT_CALL *get)(const dstrat_strategy_t *s, dstrat_plugin_stats_t *out);
} dstrat_plugin_stats_ext_t;

#endif /* DSTRAT_PLUGIN_STATS_EXT_H */
