/* ltd_ppo.h - PPO (clipped surrogate, GAE) for a discrete-action MLP actor with an MLP critic,
 * as LTD trains its depth and size policies (shared/notes/landscape.md §1.5).
 *
 * An agent owns the two networks (plugin/common/mlp.h), an Adam optimiser for each and a rollout
 * buffer of (obs, action, logp_old, value, reward, done). A step's reward and done are filled in
 * when the environment knows them (ppo_set_reward); the trainer calls ppo_update when the buffer
 * holds a full rollout of finished steps:
 *
 *   GAE(gamma, lambda) over the buffer (done = the episode ended after this step; the step after
 *   the buffer's last is treated as terminal, as all LTD episodes end inside a rollout), advantages
 *   normalised over the buffer, then `epochs` passes over shuffled minibatches:
 *     actor  loss = mean_b [ -min(r A, clip(r, 1-eps, 1+eps) A) - ent_coef H(pi) ],
 *            r = exp(logp_new - logp_old)
 *     critic loss = vf_coef * mean_b (V - R)^2,  R = A_unnormalised + V_old
 *   each with Adam and global-norm gradient clipping; the learning rate is given per update (the
 *   caller decays it linearly).
 * Deterministic: its own splitmix64 RNG (seeded) draws the actions and the shuffles; single thread.
 */
#ifndef LTD_PPO_H
#define LTD_PPO_H

#include <stddef.h>
#include <stdint.h>

#include "mlp.h"

/* ---- RNG ---- */
uint64_t ppo_rng_next(uint64_t *state);          /* splitmix64 */
double ppo_rng_u01(uint64_t *state);             /* [0, 1) with 53 bits */

/* Index drawn from softmax(logits[0..n)) with uniform u in [0, 1); its log-prob in *logp. */
uint32_t ppo_sample(const float *logits, uint32_t n, double u, float *logp);

/* ---- the pure parts (exposed for tests) ---- */
/* Generalised advantage estimation over n steps: delta_t = r_t + gamma V_{t+1} (1 - done_t) - V_t,
 * A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}; V_n = last_value (used unless done[n-1]).
 * ret[t] = A_t + V_t. */
void ppo_gae(const float *reward, const float *value, const uint8_t *done, uint32_t n, float last_value,
             double gamma, double lambda, float *adv, float *ret);

/* Per-sample clipped-surrogate loss with entropy bonus for logits[0..n_actions):
 * -min(r adv, clip(r) adv) - ent_coef H; writes d(loss)/d(logits) into dlogits[n_actions].
 * *ratio (may be NULL) gets r, *entropy (may be NULL) H. */
double ppo_loss(const float *logits, uint32_t n_actions, uint32_t action, float logp_old, float adv, double clip,
                double ent_coef, float *dlogits, double *ratio, double *entropy);

/* vf_coef (v - ret)^2 and its derivative wrt v in *dv. */
double ppo_value_loss(float v, float ret, double vf_coef, float *dv);

/* Mean and (population) standard deviation normalisation in place: x = (x - mean) / (std + 1e-8). */
void ppo_normalize(float *x, uint32_t n);

/* ---- the agent ---- */
typedef struct ppo_config {
    uint32_t n_hidden;           /* hidden layers of actor and critic (0..2) */
    uint32_t hidden[2];
    uint32_t rollout;            /* steps (or, for ltd_online, cycles) per update */
    uint32_t minibatch;
    uint32_t epochs;
    double gamma, lambda;
    double clip, ent_coef, vf_coef, max_grad_norm;
    float actor_out_gain;        /* small: near-uniform initial policy */
} ppo_config_t;

ppo_config_t ppo_default_config(void);

typedef struct ppo_stats {
    uint32_t n;                  /* steps used */
    double policy_loss, value_loss, entropy, approx_kl, clip_frac, grad_norm;
} ppo_stats_t;

typedef struct ppo_agent {
    ppo_config_t cfg;
    uint32_t n_obs, n_actions;
    dsmlp_t actor, critic;
    dsmlp_adam_t adam_a, adam_c;
    dsmlp_cache_t cache_a, cache_c;
    float *grad_a, *grad_c, *scratch_a, *scratch_c, *fwd_scratch, *mb_obs, *dlogits, *dvalue, *tmp_logits;
    uint32_t *perm;
    /* rollout buffer: capacity cap = rollout + slack for steps of an unfinished episode */
    uint32_t cap, n, n_done;     /* n stored; steps [0, n_done) have their reward and done */
    float *obs;                  /* [cap * n_obs] */
    uint32_t *act;
    float *logp, *value, *reward, *adv, *ret;
    uint8_t *done;
    uint64_t rng;
} ppo_agent_t;

/* Actor n_obs -> hidden -> n_actions (output gain cfg->actor_out_gain), critic n_obs -> hidden -> 1;
 * both initialised from seed. slack: the most unfinished steps kept beyond a rollout. */
int ppo_agent_init(ppo_agent_t *a, uint32_t n_obs, uint32_t n_actions, const ppo_config_t *cfg, uint64_t seed,
                   uint32_t slack);
void ppo_agent_free(ppo_agent_t *a);

/* Samples an action for obs from the actor, stores the step (reward pending) and returns its
 * buffer index, or -1 when the buffer is full. *action gets the action. */
int32_t ppo_act(ppo_agent_t *a, const float *obs, uint32_t *action);
/* The greedy action of the actor (inference, as the plugin decides). scratch: dsmlp_scratch_floats. */
uint32_t ppo_greedy(const dsmlp_t *actor, const float *obs, float *logits, float *scratch);
/* Sets the reward of step i and whether the episode ended there; steps must finish in order. */
void ppo_set_reward(ppo_agent_t *a, uint32_t i, float reward, int done);
/* Drops the unfinished steps (an episode cut off, e.g. at the end of a prompt). */
void ppo_drop_unfinished(ppo_agent_t *a);

/* One PPO update on the finished steps (at least 2), then clears them (unfinished ones move to the
 * front). 0, or -1 when there are too few steps. */
int ppo_update(ppo_agent_t *a, double lr, ppo_stats_t *st);

#endif /* LTD_PPO_H */
