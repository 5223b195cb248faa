/* ltd_online.h - the online side of LTD training: the decision and cycle hooks that the ltd
 * strategy's train extension (plugin/ltd/ltd_ext.h) calls from inside the real decoding loop, the
 * stage schedule and the policy file. The command (refhost ltd-train) runs the host; this module
 * only sees hook calls, so tests can drive it with a synthetic environment.
 *
 * Stages (default size, depth, size: the paper's alternating co-training). A stage trains one
 * policy with PPO (ltd_ppo.h) for `steps` cycles; the other policy is frozen: its greedy actor
 * when one was trained in an earlier stage, else the plugin's builtin rule (decide returns -1).
 * A later stage of the same kind continues from that policy's actor and critic (fresh Adam, the
 * learning rate decays linearly from lr to 0 over each stage).
 *
 * Episodes and rewards. R = (accepted drafts + 1) / cycle time in tokens per ms.
 *   size:  one step per cycle, reward R, done.
 *   depth: the cycle's decisions; reward 0 for each but the last, which gets R and ends the
 *          episode; gamma (default 0.999) discounts across the decisions.
 * Cycle time: LO_REWARD_MODEL (default, reproducible) = draft_call_ms * draft calls + verify_a_ms
 * + verify_b_ms * verified tokens (root included), LO_REWARD_MEASURED = the host's measured
 * t_propose + t_verify + t_accept.
 *
 * A rollout is ppo.rollout cycles (for depth: all their decisions), then one PPO update.
 *
 * Checkpoint per stage, the actor with the best throughput (sum of committed tokens / sum of cycle
 * times) measured either
 *   val_every > 0 (refhost ltd-train's default): on a validation pass over held-out prompts with
 *     greedy decisions (as the plugin runs them), at the stage start (the initial or inherited
 *     actor), after every val_every updates and at the stage end. The caller runs the passes:
 *     lo_needs_validation says when, lo_eval_begin / lo_eval_end bracket the pass (hook calls
 *     then only measure), lo_checkpoint offers its rate; a finished stage waits (decisions greedy,
 *     cycles ignored) until lo_next_stage.
 *   val_every = 0: on the rollouts themselves (sampled decisions, as collected; the stage's last
 *     cycles judge the last update when they are at least half a rollout); stages advance alone.
 */
#ifndef LTD_ONLINE_H
#define LTD_ONLINE_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"
#include "ltd_ext.h"
#include "ltd_ppo.h"
#include "policy_file.h"

#define LO_MAX_STAGES 8
#define LO_REWARD_MODEL 0
#define LO_REWARD_MEASURED 1

typedef struct lo_cost {
    double draft_call_ms, verify_a_ms, verify_b_ms;
} lo_cost_t;

typedef struct lo_settings {
    ppo_config_t ppo;            /* gamma applies to the depth policy; size episodes are one step */
    double lr;
    uint64_t steps;              /* cycles per stage */
    uint32_t n_stages;
    uint32_t stages[LO_MAX_STAGES]; /* DSTRAT_LTD_DEPTH / DSTRAT_LTD_SIZE */
    uint64_t seed;
    int reward;                  /* LO_REWARD_* */
    lo_cost_t cost;              /* for LO_REWARD_MODEL */
    uint32_t val_every;          /* updates between validation passes; 0: select on rollouts */
} lo_settings_t;

lo_settings_t lo_default_settings(void);
/* "size,depth,size" -> stages. 0 or -1. */
int lo_parse_stages(const char *s, lo_settings_t *out);

typedef struct lo_stage_result {
    uint32_t kind;
    uint64_t cycles, updates, decisions;
    double first_rate, best_rate, last_rate; /* rollout throughputs, tokens per ms */
    uint32_t best_rollout;                   /* 1-based rollout of best_rate */
    double entropy;                          /* of the last update */
    uint32_t n_val;                          /* validation passes */
    double val_first, val_best;              /* validation throughputs: initial actor, best */
    uint64_t val_best_update;                /* updates done when the best was measured */
    double mean_reward;                      /* over the stage's cycles */
    uint64_t action_hist[DSTRAT_LTD_MAX_SIZES]; /* decisions of the trained policy by action */
} lo_stage_result_t;

typedef struct lo_trainer {
    lo_settings_t s;
    dstrat_ltd_layout_t layout;
    uint32_t n_obs[2], n_act[2];
    ppo_agent_t agent[2];
    int have[2];                 /* agent[kind] exists (trained in this or an earlier stage) */
    uint32_t stage;              /* index into s.stages; == n_stages when finished */
    uint64_t stage_cycles;
    int32_t pending[64];         /* buffer indices of this cycle's trained decisions */
    uint32_t n_pending;
    int cycle_broken;            /* a decision of this cycle could not be recorded */
    float last_calls;            /* draft-call feature of the last trained decision */
    double roll_tok, roll_ms, stage_reward;
    uint64_t roll_cycles, rollouts;
    float *best;                 /* best actor params of the stage */
    double best_rate;
    float *scratch, *logits;
    lo_stage_result_t res[LO_MAX_STAGES];
    ppo_stats_t last;
    int awaiting;                /* the stage's cycles are done; waiting for lo_next_stage */
    int eval_mode;
    double eval_tok, eval_ms;
    uint64_t eval_cycles, updates_since_val;
    int failed;
    char error[256];
} lo_trainer_t;

/* 0, or DSTRAT_E_INVALID_ARG / DSTRAT_E_NOMEM with a message. */
int lo_init(lo_trainer_t *t, const dstrat_ltd_layout_t *layout, const lo_settings_t *s, char *err, size_t cap);
void lo_free(lo_trainer_t *t);

/* Hooks with user = t, for dstrat_ltd_train_ext_t.set_hooks. */
dstrat_ltd_hooks_t lo_hooks(lo_trainer_t *t);
/* The hook functions themselves (tests call them directly). */
int32_t DSTRAT_CALL lo_decide(void *user, uint32_t kind, const float *obs, uint32_t n_obs, uint32_t n_actions);
void DSTRAT_CALL lo_cycle(void *user, const dstrat_cycle_stats_t *st);
/* A sequence (prompt) ended: drops decisions whose cycle was never observed. */
void lo_end_sequence(lo_trainer_t *t);

int lo_finished(const lo_trainer_t *t);

/* ---- validation (val_every > 0) ---- */
int lo_needs_validation(const lo_trainer_t *t);
void lo_eval_begin(lo_trainer_t *t);
/* Ends the pass; its throughput (tokens per ms), 0 if no cycle was observed. */
double lo_eval_end(lo_trainer_t *t, uint64_t *cycles);
/* Keeps the current actor of the stage's policy if rate beats the stage's best. */
void lo_checkpoint(lo_trainer_t *t, double rate);
/* Ends a finished stage (restores its best actor) and starts the next. */
void lo_next_stage(lo_trainer_t *t);
int lo_awaiting(const lo_trainer_t *t);
/* The cycle time lo uses for st, in ms. */
double lo_cycle_ms(const lo_settings_t *s, const dstrat_cycle_stats_t *st);

/* Writes the policy file: header network=ltd-mlp, features=ltd-v1, n_level, n_pool, sizes,
 * max_depth, policies, cost.*, train.* (settings and per-stage results) plus extra[0..n_extra)
 * (target, draft, prompts, ...), and the trained actors under "depth" / "size". */
int lo_save(const lo_trainer_t *t, const char *path, const dspf_kv_t *extra, uint32_t n_extra, char *err, size_t cap);

#endif /* LTD_ONLINE_H */
