/* radar_ext.h - the "dstrat.plugin.radar/1" strategy extension of the radar strategy: counters
 * about its stop decisions, next to the generic "dstrat.plugin.stats/1" (cycles, draft calls,
 * verified sizes, times) that every plugin_base strategy offers.
 *
 *   const dstrat_radar_stats_ext_t *x = s->get_extension(s, DSTRAT_RADAR_STATS_ID);
 *   dstrat_radar_stats_t st = { .struct_size = sizeof st };
 *   if (x && x->get(s, &st) == DSTRAT_OK) ...
 *
 * Counters are over all proposals of all sessions of the instance since it was created.
 */
#ifndef DSTRAT_RADAR_EXT_H
#define DSTRAT_RADAR_EXT_H

#include "dstrat.h"

#define DSTRAT_RADAR_STATS_ID "dstrat.plugin.radar/1"
#define DSTRAT_RADAR_HIST 17 /* calls_hist buckets: 1..16 draft calls (index = calls), 0 unused */

typedef struct dstrat_radar_stats {
    uint32_t struct_size;          /* set by the caller; the plugin writes only what fits */
    uint32_t reserved0;
    uint64_t n_proposals;          /* propose calls that drafted (per session) */
    uint64_t n_draft_calls;        /* draft_forward calls made by the strategy */
    uint64_t n_decisions;          /* stop/continue decisions taken */
    uint64_t n_stops;              /* proposals ended by a STOP decision (not by the depth limit) */
    uint64_t n_tree_nodes;         /* draft nodes proposed (roots excluded) */
    uint64_t decision_ns;          /* host-clock time spent deciding (policy or cost model) */
    uint64_t calls_hist[DSTRAT_RADAR_HIST]; /* proposals by number of draft calls */
    double fit_verify_a;           /* cost_aware: t_verify(N) = a + b*N (ns, or 1-token-verify units) */
    double fit_verify_b;
    double fit_draft_call;         /* cost_aware: time per draft call, same units */
} dstrat_radar_stats_t;

typedef struct dstrat_radar_stats_ext {
    uint32_t struct_size;
    dstrat_status_t (DSTRAT_CALL *get)(const dstrat_strategy_t *s, dstrat_radar_stats_t *out);
} dstrat_radar_stats_ext_t;

#endif /* DSTRAT_RADAR_EXT_H */
