/* ltd_ext.h - the strategy extensions of the "ltd" strategy (plugin/ltd):
 *
 *   "dstrat.plugin.ltd/1"        counters: decisions, draft calls, the verified size V chosen
 *                                per cycle (histogram), time spent in the policies.
 *   "dstrat.plugin.ltd.train/1"  for trainers (refhost ltd-train): a decision hook that replaces
 *                                the plugin's own decisions (the trainer samples from its current
 *                                policy and records observation, action and log-prob), and a
 *                                cycle hook called from observe with the host's measured times
 *                                (the PPO reward is (accepted + 1) / cycle time).
 *
 *   const dstrat_ltd_train_ext_t *x = s->get_extension(s, DSTRAT_LTD_TRAIN_ID);
 *
 * Observations (features "ltd-v1"; layout fixed by the plugin, sizes reported by get_layout):
 *   depth (after every draft call while another level is possible):
 *     [0, n_level)   the newest level's best cumulative draft log-probs, descending, clamped to
 *                    >= -30 and padded with -30, divided by 10
 *     [n_level]      committed context length / 1000
 *     [n_level + 1]  draft calls made this cycle / 10
 *     actions: 0 = STOP, 1 = CONTINUE
 *   size (once per cycle, after drafting):
 *     [0, n_pool)    the best cumulative log-probs of all drafted candidates (the global rerank
 *                    order), same clamping, padding and scale
 *     [n_pool]       committed context length / 1000
 *     [n_pool + 1]   draft calls made this cycle / 10
 *     actions: index into sizes[] = the number of draft nodes verified (V, root excluded; capped
 *              by the candidates that exist and the host's limits)
 */
#ifndef DSTRAT_LTD_EXT_H
#define DSTRAT_LTD_EXT_H

#include "dstrat.h"

#define DSTRAT_LTD_STATS_ID "dstrat.plugin.ltd/1"
#define DSTRAT_LTD_TRAIN_ID "dstrat.plugin.ltd.train/1"
#define DSTRAT_LTD_MAX_SIZES 32
#define DSTRAT_LTD_HIST 17              /* calls_hist buckets: index = draft calls (1..16) */

#define DSTRAT_LTD_DEPTH 0u
#define DSTRAT_LTD_SIZE 1u

typedef struct dstrat_ltd_stats {
    uint32_t struct_size;               /* set by the caller; the plugin writes only what fits */
    uint32_t n_sizes;                   /* entries used in sizes[] / size_hist[] */
    uint64_t n_proposals;
    uint64_t n_draft_calls;
    uint64_t n_depth_decisions;
    uint64_t n_size_decisions;
    uint64_t decision_ns;               /* host-clock time in both policies */
    uint64_t n_tree_nodes;              /* draft nodes proposed (roots excluded) */
    uint32_t sizes[DSTRAT_LTD_MAX_SIZES];     /* the size action set (V values) */
    uint64_t size_hist[DSTRAT_LTD_MAX_SIZES]; /* cycles by chosen size action */
    uint64_t calls_hist[DSTRAT_LTD_HIST];     /* cycles by draft calls */
} dstrat_ltd_stats_t;

typedef struct dstrat_ltd_stats_ext {
    uint32_t struct_size;
    dstrat_status_t (DSTRAT_CALL *get)(const dstrat_strategy_t *s, dstrat_ltd_stats_t *out);
} dstrat_ltd_stats_ext_t;

typedef struct dstrat_ltd_layout {
    uint32_t struct_size;
    uint32_t n_level;                   /* depth observation: level features (total n_level + 2) */
    uint32_t n_pool;                    /* size observation: pool features (total n_pool + 2) */
    uint32_t n_sizes;
    uint32_t sizes[DSTRAT_LTD_MAX_SIZES];
    uint32_t max_depth;                 /* most draft calls per cycle */
} dstrat_ltd_layout_t;

typedef struct dstrat_ltd_hooks {
    uint32_t struct_size;
    void *user;
    /* A decision of `kind` (DSTRAT_LTD_DEPTH / _SIZE) for observation obs[0..n_obs); returns the
     * action in [0, n_actions), or -1 to let the plugin decide. NULL: the plugin decides. */
    int32_t (DSTRAT_CALL *decide)(void *user, uint32_t kind, const float *obs, uint32_t n_obs, uint32_t n_actions);
    /* After every observed cycle, with the host's stats as observe received them (the cycle's
     * time is t_propose_ns + t_verify_ns + t_accept_ns; accepted drafts = n_accepted - 1). */
    void (DSTRAT_CALL *cycle)(void *user, const dstrat_cycle_stats_t *st);
} dstrat_ltd_hooks_t;

typedef struct dstrat_ltd_train_ext {
    uint32_t struct_size;
    dstrat_status_t (DSTRAT_CALL *get_layout)(const dstrat_strategy_t *s, dstrat_ltd_layout_t *out);
    /* Installs (copies) hooks for all sessions of s; NULL removes them. */
    dstrat_status_t (DSTRAT_CALL *set_hooks)(dstrat_strategy_t *s, const dstrat_ltd_hooks_t *hooks);
} dstrat_ltd_train_ext_t;

#endif /* DSTRAT_LTD_EXT_H */
