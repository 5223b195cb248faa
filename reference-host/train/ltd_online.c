/* ltd_online.c - see ltd_online.h. */
#include "ltd_online.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(uint32_t k) {
    return k == DSTRAT_LTD_DEPTH ? "depth" : "size";
}

lo_settings_t lo_default_settings(void) {
    lo_settings_t s = {
        .ppo = ppo_default_config(),
        .lr = 1e-3,
        .steps = 2000,
        .n_stages = 3,
        .stages = {DSTRAT_LTD_SIZE, DSTRAT_LTD_DEPTH, DSTRAT_LTD_SIZE},
        .seed = 1,
        .reward = LO_REWARD_MODEL,
        .cost = {0.1, 10.0, 0.5},
    };
    return s;
}

int lo_parse_stages(const char *s, lo_settings_t *out) {
    uint32_t n = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t) (e - p) : strlen(p);
        uint32_t k;
        if (len == 4 && !strncmp(p, "size", 4)) k = DSTRAT_LTD_SIZE;
        else if (len == 5 && !strncmp(p, "depth", 5)) k = DSTRAT_LTD_DEPTH;
        else return -1;
        if (n == LO_MAX_STAGES) return -1;
        out->stages[n++] = k;
        if (!e) break;
        p = e + 1;
        if (!*p) return -1;
    }
    if (n == 0) return -1;
    out->n_stages = n;
    return 0;
}

double lo_cycle_ms(const lo_settings_t *s, const dstrat_cycle_stats_t *st) {
    if (s->reward == LO_REWARD_MEASURED)
        return (double) (st->t_propose_ns + st->t_verify_ns + st->t_accept_ns) / 1e6;
    return s->cost.draft_call_ms * st->n_draft_calls + s->cost.verify_a_ms + s->cost.verify_b_ms * st->n_verified;
}

static void set_error(lo_trainer_t *t, const char *msg) {
    if (!t->failed) snprintf(t->error, sizeof t->error, "%s", msg);
    t->failed = 1;
}

/* Prepares stage t->stage: the agent of its kind (new or continued), a fresh optimiser. */
static int start_stage(lo_trainer_t *t) {
    if (t->stage >= t->s.n_stages) return 0;
    const uint32_t k = t->s.stages[t->stage];
    ppo_agent_t *a = &t->agent[k];
    if (!t->have[k]) {
        ppo_config_t c = t->s.ppo;
        if (k == DSTRAT_LTD_SIZE) c.gamma = 0.0; /* one-step episodes: gamma is irrelevant */
        /* a rollout is `rollout` cycles: up to max_depth depth decisions each, plus a cycle in flight */
        const uint32_t md = t->layout.max_depth ? t->layout.max_depth : 16;
        const uint32_t slack = k == DSTRAT_LTD_DEPTH ? c.rollout * (md - 1) + md + 2 : md + 2;
        const int rc = ppo_agent_init(a, t->n_obs[k], t->n_act[k], &c, t->s.seed * 1000003ull + k, slack);
        if (rc != 0) return rc;
        t->have[k] = 1;
    } else {
        dsmlp_adam_free(&a->adam_a);
        dsmlp_adam_free(&a->adam_c);
        if (dsmlp_adam_init(&a->adam_a, a->actor.n_params) || dsmlp_adam_init(&a->adam_c, a->critic.n_params))
            return DSTRAT_E_NOMEM;
        a->n = a->n_done = 0;
    }
    free(t->best);
    t->best = malloc(a->actor.n_params * sizeof(float));
    if (!t->best) return DSTRAT_E_NOMEM;
    memcpy(t->best, a->actor.params, a->actor.n_params * sizeof(float));
    t->best_rate = -1.0;
    t->stage_cycles = 0;
    t->stage_reward = 0.0;
    t->roll_tok = t->roll_ms = 0.0;
    t->roll_cycles = t->rollouts = 0;
    t->n_pending = 0;
    t->cycle_broken = 0;
    t->awaiting = 0;
    t->updates_since_val = 0;
    lo_stage_result_t *r = &t->res[t->stage];
    memset(r, 0, sizeof *r);
    r->kind = k;
    return 0;
}

int lo_init(lo_trainer_t *t, const dstrat_ltd_layout_t *layout, const lo_settings_t *s, char *err, size_t cap) {
    memset(t, 0, sizeof *t);
    if (layout->n_level < 1 || layout->n_pool < 1 || layout->n_sizes < 2 || layout->n_sizes > DSTRAT_LTD_MAX_SIZES ||
        layout->n_level + 2 > DSMLP_MAX_WIDTH || layout->n_pool + 2 > DSMLP_MAX_WIDTH) {
        snprintf(err, cap, "ltd layout n_level %u, n_pool %u, n_sizes %u is outside what the trainer supports",
                 layout->n_level, layout->n_pool, layout->n_sizes);
        return DSTRAT_E_INVALID_ARG;
    }
    if (s->n_stages < 1 || s->n_stages > LO_MAX_STAGES || s->steps < 1) {
        snprintf(err, cap, "ltd trainer: need 1..%d stages and at least one step", LO_MAX_STAGES);
        return DSTRAT_E_INVALID_ARG;
    }
    if (s->reward == LO_REWARD_MODEL && !(s->cost.verify_a_ms + s->cost.verify_b_ms > 0.0)) {
        snprintf(err, cap, "ltd trainer: the cost model needs verify_a_ms + verify_b_ms > 0");
        return DSTRAT_E_INVALID_ARG;
    }
    t->s = *s;
    t->layout = *layout;
    t->n_obs[DSTRAT_LTD_DEPTH] = layout->n_level + 2;
    t->n_obs[DSTRAT_LTD_SIZE] = layout->n_pool + 2;
    t->n_act[DSTRAT_LTD_DEPTH] = 2;
    t->n_act[DSTRAT_LTD_SIZE] = layout->n_sizes;
    const uint32_t w = s->ppo.hidden[0] > s->ppo.hidden[1] ? s->ppo.hidden[0] : s->ppo.hidden[1];
    t->scratch = calloc(2 * (size_t) (w > 1 ? w : 1), sizeof(float));
    t->logits = calloc(DSTRAT_LTD_MAX_SIZES, sizeof(float));
    int rc = t->scratch && t->logits ? start_stage(t) : DSTRAT_E_NOMEM;
    if (rc != 0) {
        snprintf(err, cap, "ltd trainer: %s", rc == DSTRAT_E_NOMEM ? "out of memory" : "invalid PPO settings");
        lo_free(t);
        return rc;
    }
    return 0;
}

void lo_free(lo_trainer_t *t) {
    if (!t) return;
    for (int k = 0; k < 2; k++)
        if (t->have[k]) ppo_agent_free(&t->agent[k]);
    free(t->best);
    free(t->scratch);
    free(t->logits);
    memset(t, 0, sizeof *t);
}

dstrat_ltd_hooks_t lo_hooks(lo_trainer_t *t) {
    dstrat_ltd_hooks_t h = {sizeof h, t, lo_decide, lo_cycle};
    return h;
}

int lo_finished(const lo_trainer_t *t) {
    return t->stage >= t->s.n_stages;
}

int32_t DSTRAT_CALL lo_decide(void *user, uint32_t kind, const float *obs, uint32_t n_obs, uint32_t n_actions) {
    lo_trainer_t *t = user;
    if (kind > DSTRAT_LTD_SIZE || n_obs != t->n_obs[kind] || n_actions != t->n_act[kind]) {
        char m[160];
        snprintf(m, sizeof m, "ltd decide: kind %u with %u observations and %u actions does not match the layout", kind,
                 n_obs, n_actions);
        set_error(t, m);
        return -1;
    }
    for (uint32_t i = 0; i < n_obs; i++)
        if (!isfinite(obs[i])) {
            set_error(t, "ltd decide: a non-finite observation");
            return -1;
        }
    if (!lo_finished(t) && t->s.stages[t->stage] == kind && !t->eval_mode && !t->awaiting) {
        ppo_agent_t *a = &t->agent[kind];
        /* a cycle whose observe never came (the host skips it on a sequence's last cycle): a second
         * size decision, or a depth decision that is not after more draft calls than the last one */
        const float calls = obs[n_obs - 1];
        if (t->n_pending && (kind == DSTRAT_LTD_SIZE || !(calls > t->last_calls))) {
            ppo_drop_unfinished(a);
            t->n_pending = 0;
            t->cycle_broken = 0;
        }
        t->last_calls = calls;
        uint32_t act = 0;
        const int32_t i = t->n_pending < 64 ? ppo_act(a, obs, &act) : -1;
        if (i < 0) {
            t->cycle_broken = 1;
            return -1;
        }
        t->pending[t->n_pending++] = i;
        t->res[t->stage].decisions++;
        t->res[t->stage].action_hist[act]++;
        return (int32_t) act;
    }
    if (t->have[kind]) return (int32_t) ppo_greedy(&t->agent[kind].actor, obs, t->logits, t->scratch);
    return -1;
}

/* Judges the actor that collected the rollout just ended; keeps it if it is the best so far. */
static void judge_rollout(lo_trainer_t *t) {
    lo_stage_result_t *r = &t->res[t->stage];
    const double rate = t->roll_ms > 0 ? t->roll_tok / t->roll_ms : 0.0;
    t->rollouts++;
    if (t->rollouts == 1) r->first_rate = rate;
    r->last_rate = rate;
    if (rate > r->best_rate) { /* statistics either way; the checkpoint only without validation */
        r->best_rate = rate;
        r->best_rollout = (uint32_t) t->rollouts;
    }
    if (rate > t->best_rate && t->s.val_every == 0) {
        const ppo_agent_t *a = &t->agent[r->kind];
        t->best_rate = rate;
        memcpy(t->best, a->actor.params, a->actor.n_params * sizeof(float));
    }
    t->roll_tok = t->roll_ms = 0.0;
    t->roll_cycles = 0;
}

static void end_stage(lo_trainer_t *t) {
    lo_stage_result_t *r = &t->res[t->stage];
    ppo_agent_t *a = &t->agent[r->kind];
    if (t->roll_cycles * 2 >= t->s.ppo.rollout || t->rollouts == 0) judge_rollout(t);
    t->awaiting = 0;
    memcpy(a->actor.params, t->best, a->actor.n_params * sizeof(float));
    a->n = a->n_done = 0;
    r->cycles = t->stage_cycles;
    r->mean_reward = t->stage_cycles ? t->stage_reward / (double) t->stage_cycles : 0.0;
    r->entropy = t->last.entropy;
    t->stage++;
    const int rc = start_stage(t);
    if (rc != 0) set_error(t, "ltd trainer: out of memory starting a stage");
}

void DSTRAT_CALL lo_cycle(void *user, const dstrat_cycle_stats_t *st) {
    lo_trainer_t *t = user;
    const double ms = lo_cycle_ms(&t->s, st);
    const double tok = st->n_accepted;
    if (t->eval_mode) {
        t->eval_tok += tok;
        t->eval_ms += ms;
        t->eval_cycles++;
        return;
    }
    if (lo_finished(t) || t->failed || t->awaiting) return;
    const double R = ms > 0 ? tok / ms : 0.0;
    const uint32_t k = t->s.stages[t->stage];
    ppo_agent_t *a = &t->agent[k];
    if (t->cycle_broken) {
        ppo_drop_unfinished(a);
    } else {
        for (uint32_t i = 0; i < t->n_pending; i++) {
            const int last = i + 1 == t->n_pending;
            ppo_set_reward(a, (uint32_t) t->pending[i], last ? (float) R : 0.0f, last);
        }
    }
    t->n_pending = 0;
    t->cycle_broken = 0;
    t->roll_tok += tok;
    t->roll_ms += ms;
    t->roll_cycles++;
    t->stage_reward += R;
    t->stage_cycles++;
    if (t->roll_cycles >= t->s.ppo.rollout) {
        judge_rollout(t);
        double frac = 1.0 - (double) t->stage_cycles / (double) t->s.steps;
        if (frac < 0.0) frac = 0.0;
        if (ppo_update(a, t->s.lr * frac, &t->last) == 0) {
            t->res[t->stage].updates++;
            t->updates_since_val++;
        }
    }
    if (t->stage_cycles >= t->s.steps) {
        if (t->s.val_every == 0) end_stage(t);
        else t->awaiting = 1;
    }
}

int lo_awaiting(const lo_trainer_t *t) {
    return t->awaiting;
}

int lo_needs_validation(const lo_trainer_t *t) {
    if (t->s.val_every == 0 || lo_finished(t)) return 0;
    return t->res[t->stage].n_val == 0 || t->awaiting || t->updates_since_val >= t->s.val_every;
}

void lo_eval_begin(lo_trainer_t *t) {
    lo_end_sequence(t);
    t->eval_mode = 1;
    t->eval_tok = t->eval_ms = 0.0;
    t->eval_cycles = 0;
}

double lo_eval_end(lo_trainer_t *t, uint64_t *cycles) {
    t->eval_mode = 0;
    if (cycles) *cycles = t->eval_cycles;
    return t->eval_ms > 0 ? t->eval_tok / t->eval_ms : 0.0;
}

void lo_checkpoint(lo_trainer_t *t, double rate) {
    if (lo_finished(t)) return;
    lo_stage_result_t *r = &t->res[t->stage];
    const ppo_agent_t *a = &t->agent[r->kind];
    if (r->n_val++ == 0) r->val_first = rate;
    t->updates_since_val = 0;
    if (rate > r->val_best || r->n_val == 1) {
        r->val_best = rate;
        r->val_best_update = r->updates;
        memcpy(t->best, a->actor.params, a->actor.n_params * sizeof(float));
    }
}

void lo_next_stage(lo_trainer_t *t) {
    if (!lo_finished(t)) end_stage(t);
}

void lo_end_sequence(lo_trainer_t *t) {
    if (lo_finished(t) || t->eval_mode) return;
    ppo_drop_unfinished(&t->agent[t->s.stages[t->stage]]);
    t->n_pending = 0;
    t->cycle_broken = 0;
}

/* ------------------------------------------------------------------------------ file */
int lo_save(const lo_trainer_t *t, const char *path, const dspf_kv_t *extra, uint32_t n_extra, char *err, size_t cap) {
    enum { MAX_KV = 128 };
    char vals[MAX_KV][160];
    char keys[MAX_KV][64];
    dspf_kv_t kv[MAX_KV];
    uint32_t n = 0;
#define PUT(K, ...)                                                          \
    do {                                                                     \
        if (n < MAX_KV - 2) {                                                \
            snprintf(keys[n], sizeof keys[n], "%s", K);                      \
            snprintf(vals[n], sizeof vals[n], __VA_ARGS__);                  \
            kv[n] = (dspf_kv_t) {keys[n], vals[n]};                          \
            n++;                                                             \
        }                                                                    \
    } while (0)
    const dstrat_ltd_layout_t *L = &t->layout;
    PUT("network", "ltd-mlp");
    PUT("features", "ltd-v1");
    PUT("n_level", "%u", L->n_level);
    PUT("n_pool", "%u", L->n_pool);
    {
        char b[160] = "";
        size_t u = 0;
        for (uint32_t i = 0; i < L->n_sizes && u < sizeof b; i++)
            u += (size_t) snprintf(b + u, sizeof b - u, i ? ",%u" : "%u", L->sizes[i]);
        PUT("sizes", "%s", b);
    }
    PUT("max_depth", "%u", L->max_depth);
    const int hd = t->have[DSTRAT_LTD_DEPTH], hs = t->have[DSTRAT_LTD_SIZE];
    PUT("policies", "%s%s%s", hd ? "depth" : "", hd && hs ? "," : "", hs ? "size" : "");
    for (uint32_t i = 0; i < n_extra && n < MAX_KV - 40; i++) kv[n++] = extra[i];
    const lo_settings_t *s = &t->s;
    PUT("cost.reward", "%s", s->reward == LO_REWARD_MODEL ? "model" : "measured");
    if (s->reward == LO_REWARD_MODEL) {
        PUT("cost.draft_call_ms", "%.15g", s->cost.draft_call_ms);
        PUT("cost.verify_a_ms", "%.15g", s->cost.verify_a_ms);
        PUT("cost.verify_b_ms", "%.15g", s->cost.verify_b_ms);
    }
    {
        char b[160] = "";
        size_t u = 0;
        for (uint32_t i = 0; i < s->n_stages && u < sizeof b; i++)
            u += (size_t) snprintf(b + u, sizeof b - u, i ? ",%s" : "%s", kind_name(s->stages[i]));
        PUT("train.stages", "%s", b);
    }
    PUT("train.algo", "ppo");
    PUT("train.steps", "%llu", (unsigned long long) s->steps);
    PUT("train.seed", "%llu", (unsigned long long) s->seed);
    PUT("train.lr", "%.15g", s->lr);
    PUT("train.lr_schedule", "linear-to-0-per-stage");
    if (s->ppo.n_hidden == 0) PUT("train.hidden", "none");
    else if (s->ppo.n_hidden == 1) PUT("train.hidden", "%u", s->ppo.hidden[0]);
    else PUT("train.hidden", "%u,%u", s->ppo.hidden[0], s->ppo.hidden[1]);
    PUT("train.rollout", "%u", s->ppo.rollout);
    PUT("train.minibatch", "%u", s->ppo.minibatch);
    PUT("train.epochs", "%u", s->ppo.epochs);
    PUT("train.gamma_depth", "%.15g", s->ppo.gamma);
    PUT("train.gae_lambda", "%.15g", s->ppo.lambda);
    PUT("train.clip", "%.15g", s->ppo.clip);
    PUT("train.ent_coef", "%.15g", s->ppo.ent_coef);
    PUT("train.vf_coef", "%.15g", s->ppo.vf_coef);
    PUT("train.max_grad_norm", "%.15g", s->ppo.max_grad_norm);
    if (s->val_every) {
        PUT("train.checkpoint", "best-validation-throughput");
        PUT("train.val_every", "%u", s->val_every);
    } else {
        PUT("train.checkpoint", "best-rollout-throughput");
    }
    for (uint32_t i = 0; i < s->n_stages && i < t->stage; i++) {
        const lo_stage_result_t *r = &t->res[i];
        char key[64], hist[160] = "";
        size_t u = 0;
        for (uint32_t j = 0; j < t->n_act[r->kind] && u < sizeof hist; j++)
            u += (size_t) snprintf(hist + u, sizeof hist - u, j ? ",%llu" : "%llu", (unsigned long long) r->action_hist[j]);
        snprintf(key, sizeof key, "train.stage%u", i + 1);
        PUT(key, "%s cycles=%llu updates=%llu first_rate=%.6g best_rate=%.6g best_rollout=%u last_rate=%.6g "
                 "mean_reward=%.6g", kind_name(r->kind), (unsigned long long) r->cycles,
            (unsigned long long) r->updates, r->first_rate, r->best_rate, r->best_rollout, r->last_rate,
            r->mean_reward);
        if (s->val_every) {
            snprintf(key, sizeof key, "train.stage%u.validation", i + 1);
            PUT(key, "passes=%u first_rate=%.6g best_rate=%.6g best_after_updates=%llu", r->n_val, r->val_first,
                r->val_best, (unsigned long long) r->val_best_update);
        }
        snprintf(key, sizeof key, "train.stage%u.actions", i + 1);
        PUT(key, "%s", hist);
    }
    dspf_tensor_t tens[4 * DSMLP_MAX_LAYERS];
    uint32_t nt = 0;
    char lkey[2][64], lval[2][64];
    for (uint32_t k = 0; k < 2; k++) {
        if (!t->have[k]) continue;
        nt += dsmlp_describe(&t->agent[k].actor, kind_name(k), tens + nt, lkey[k], sizeof lkey[k], lval[k],
                             sizeof lval[k], &kv[n]);
        n++;
    }
#undef PUT
    return dspf_write(path, kv, n, tens, nt, err, cap);
}
