/* radar_train.h - training RADAR's stop/continue policy (plugin/common/policy_net.h) offline on
 * logs from `refhost collect` (radar_log.h).
 *
 * Episodes. One logged cycle with L levels is one episode of T = L - 1 decisions; the state of
 * step t is the logged state of level t + 1, and stopping at step a (or never, a = T) yields the
 * logged outcome of the tree with a + 1 levels: acc[a] accepted drafts, tok[a] = acc[a] + 1
 * committed tokens, and time t(a) from the cost model below. States do not depend on earlier
 * actions (stopping only truncates), so any policy can be evaluated exactly on the logs.
 *
 * Cost model (fitted from the MEASURED times in the logs, not the paper's GPU constants):
 *   t(a) = t_first + a * t_call + t_verify(n_nodes[a] + 1) + t_policy * min(a + 1, T)
 * t_first / t_call: medians of the first / later draft-call times; t_verify(N) = va + vb * N by
 * weighted least squares over the per-size medians of the timed target forwards (collect's
 * calibration forwards and every cycle's union verify); t_policy: the policy step time collect
 * measured (header t_policy_ns).
 *
 * Algorithms:
 *   reinforce  the paper's: per mini-batch sample every step's action from the policy, a = first
 *              STOP, rewards -alpha per CONTINUE and beta * acc / t(a) at the stop, discount gamma,
 *              loss = -mean_{b,t} log pi(a_t | s_<=t) G_t; Adam (L2 weight decay), cosine LR per
 *              epoch, gradient-norm clipping.
 *   expected   ours: uses every stop depth's known outcome. With P(a) the stop distribution the
 *              policy induces, it maximises the long-run rate sum_b E[tok] / sum_b E[t] by
 *              Dinkelbach's method: per epoch lambda = the current rate on the training split,
 *              then gradient ascent on sum_b sum_a P_b(a) (tok_a - lambda t(a)), computed exactly
 *              (no sampling) by a backward recursion over the stop steps.
 * Both keep the epoch whose policy has the best exact simulated rate (sampled decisions, as radar
 * runs by default) on a held-out 20% split. Deterministic: same logs + settings + seed give the same
 * bytes (single thread, fixed order).
 */
#ifndef RADAR_TRAIN_H
#define RADAR_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "policy_net.h"
#include "radar_log.h"

typedef struct rt_cost {
    double t_first_ns, t_call_ns;   /* draft call 1; each later call */
    double va_ns, vb_ns;            /* t_verify(N) = va + vb * N */
    double t_policy_ns;
} rt_cost_t;

typedef struct rt_episode {
    uint32_t T;                     /* decisions (levels - 1), >= 1 */
    const float *x;                 /* [T * n_in] states of steps 0..T-1 */
    float acc[RL_MAX_LEVELS];       /* [T + 1] accepted drafts when stopping at a */
    double t[RL_MAX_LEVELS];        /* [T + 1] modelled time in seconds */
} rt_episode_t;

typedef struct rt_data {
    uint32_t n_in, max_depth, total_tokens;
    char target[256], draft[256], temperature[32];
    rt_cost_t cost;
    rt_episode_t *ep;
    size_t n_ep;
    float *xbuf;
    size_t n_cycles_read, n_skipped;   /* cycles in the logs; skipped (fewer than 2 levels) */
} rt_data_t;

/* Loads logs[0..n) (all with the same top_k / max_depth / total_tokens / target / draft), fits the
 * cost model and builds the episodes. 0 or -1 with a message (naming the file) in err. */
int rt_data_load(rt_data_t *d, const char *const *logs, uint32_t n, char *err, size_t cap);
void rt_data_free(rt_data_t *d);
/* Fits the cost model from parsed logs (used by rt_data_load; exposed for tests). */
void rt_fit_cost(const rl_log_t *logs, uint32_t n, rt_cost_t *c);
/* Fills e->t from e->acc's tree sizes n_nodes[0..T] (root excluded) with c. */
void rt_episode_times(rt_episode_t *e, const uint32_t *n_nodes, const rt_cost_t *c);

/* ---- the losses of one episode (exposed for the gradient tests) ---- */
/* REINFORCE surrogate with fixed actions act[0..T) (DSPN_STOP / DSPN_CONTINUE) and returns
 * G[0..T): loss = -(1/norm) sum_t log softmax(logits_t)[act_t] * G_t; dlogits[T * 2] is written. */
double rt_reinforce_loss(const float *logits, uint32_t T, const uint8_t *act, const double *G, double norm,
                         float *dlogits);
/* Discounted returns of an episode that stops at a (a == T: never): r_t = -alpha for t < a,
 * r_a = beta * reward_at_stop (virtual step T folded into T - 1), G_t for t < T (0 after a). */
void rt_returns(uint32_t T, uint32_t a, double reward_at_stop, double alpha, double gamma, double *G);
/* Expected objective: V = sum_a P(a) v[a] with P the stop distribution of logits (T steps), v[0..T];
 * returns -V / norm and writes dlogits = d(-V/norm)/dlogits. */
double rt_expected_loss(const float *logits, uint32_t T, const double *v, double norm, float *dlogits);

/* ---- evaluation on the logs ---- */
typedef struct rt_eval {
    double tokens, seconds;         /* summed expected tokens and time */
    double rate;                    /* tokens / seconds */
    double tau;                     /* tokens per cycle */
    double calls;                   /* draft calls per cycle */
} rt_eval_t;
/* decision: 0 = sampled (expected over the policy's randomness), 1 = threshold 0.5 (argmax).
 * net NULL: fixed stop index `fixed` (clamped to T) for every episode; fixed < 0: the per-episode
 * oracle (best tok/t). */
void rt_evaluate(const dspn_net_t *net, int decision, int fixed, const rt_data_t *d, const size_t *idx, size_t n,
                 rt_eval_t *out);

/* ---- training ---- */
#define RT_ALGO_REINFORCE 0
#define RT_ALGO_EXPECTED 1

typedef struct rt_opts {
    int algo;
    uint64_t seed;
    uint32_t epochs, batch, n_hidden, n_mlp;
    double lr, lr_min, weight_decay, clip;
    double alpha, beta, gamma;      /* reinforce; beta <= 0: auto (1 / mean always-continue acc/t) */
    double holdout;                 /* fraction held out for checkpoint selection */
    int progress;                   /* progress bar on stderr */
} rt_opts_t;

rt_opts_t rt_default_opts(int algo);

typedef struct rt_result {
    uint32_t best_epoch;
    double beta_used;
    rt_eval_t train_eval, held_eval, held_eval_thr;
    rt_eval_t held_full, held_oracle, held_best_fixed;
    uint32_t best_fixed;
    size_t n_train, n_held;
} rt_result_t;

/* Trains into net (initialised here with opts->n_hidden / n_mlp). 0 or -1 with a message. */
int rt_train(const rt_data_t *d, const rt_opts_t *o, dspn_net_t *net, rt_result_t *res, char *err, size_t cap);

/* Writes net with the metadata (features, target, draft, cost.*, train.*). 0 or a negative code. */
int rt_save(const dspn_net_t *net, const char *path, const rt_data_t *d, const rt_opts_t *o, const rt_result_t *r,
            const char *const *logs, uint32_t n_logs, char *err, size_t cap);

#endif /* RADAR_TRAIN_H */
