/* ltd_ppo.c - see ltd_ppo.h. */
#include "ltd_ppo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dstrat.h"

/* ------------------------------------------------------------------------------ RNG */
uint64_t ppo_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double ppo_rng_u01(uint64_t *state) {
    return (double) (ppo_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t ppo_sample(const float *logits, uint32_t n, double u, float *logp) {
    float lp[DSMLP_MAX_WIDTH];
    dsmlp_log_softmax(logits, n, lp);
    double c = 0.0;
    uint32_t k = n - 1;
    for (uint32_t i = 0; i < n; i++) {
        c += exp((double) lp[i]);
        if (u < c) {
            k = i;
            break;
        }
    }
    if (logp) *logp = lp[k];
    return k;
}

/* ------------------------------------------------------------------------------ pure parts */
void ppo_gae(const float *reward, const float *value, const uint8_t *done, uint32_t n, float last_value,
             double gamma, double lambda, float *adv, float *ret) {
    double next_adv = 0.0, next_value = last_value;
    for (uint32_t t = n; t-- > 0;) {
        const double nonterminal = done[t] ? 0.0 : 1.0;
        const double delta = reward[t] + gamma * next_value * nonterminal - value[t];
        const double a = delta + gamma * lambda * nonterminal * next_adv;
        adv[t] = (float) a;
        ret[t] = (float) (a + value[t]);
        next_adv = a;
        next_value = value[t];
    }
}

double ppo_loss(const float *logits, uint32_t n_actions, uint32_t action, float logp_old, float adv, double clip,
                double ent_coef, float *dlogits, double *ratio, double *entropy) {
    float lp[DSMLP_MAX_WIDTH];
    dsmlp_log_softmax(logits, n_actions, lp);
    double H = 0.0;
    for (uint32_t j = 0; j < n_actions; j++) H -= exp((double) lp[j]) * lp[j];
    const double r = exp((double) lp[action] - logp_old), A = adv;
    const double unclipped = r * A, rc = r < 1.0 - clip ? 1.0 - clip : (r > 1.0 + clip ? 1.0 + clip : r);
    const double clipped = rc * A;
    /* the min picks the unclipped term (gradient flows) unless the clipped one is smaller, which
     * happens only when r is outside the band on the side that the advantage rewards */
    const int use_unclipped = unclipped <= clipped;
    const double surr = use_unclipped ? unclipped : clipped;
    const double g = use_unclipped ? -r * A : 0.0; /* d(-surr)/d(logp_new[action]) */
    for (uint32_t j = 0; j < n_actions; j++) {
        const double p = exp((double) lp[j]);
        const double dlogp = (j == action ? 1.0 : 0.0) - p; /* d logp[action] / d logit_j */
        /* d(-ent_coef H)/d logit_j = ent_coef p_j (log p_j + H) */
        dlogits[j] = (float) (g * dlogp + ent_coef * p * ((double) lp[j] + H));
    }
    if (ratio) *ratio = r;
    if (entropy) *entropy = H;
    return -surr - ent_coef * H;
}

double ppo_value_loss(float v, float ret, double vf_coef, float *dv) {
    const double d = (double) v - ret;
    if (dv) *dv = (float) (2.0 * vf_coef * d);
    return vf_coef * d * d;
}

void ppo_normalize(float *x, uint32_t n) {
    if (n == 0) return;
    double s = 0.0, q = 0.0;
    for (uint32_t i = 0; i < n; i++) s += x[i];
    const double mean = s / n;
    for (uint32_t i = 0; i < n; i++) q += ((double) x[i] - mean) * ((double) x[i] - mean);
    const double sd = sqrt(q / n);
    for (uint32_t i = 0; i < n; i++) x[i] = (float) (((double) x[i] - mean) / (sd + 1e-8));
}

/* ------------------------------------------------------------------------------ agent */
ppo_config_t ppo_default_config(void) {
    ppo_config_t c = {
        .n_hidden = 2,
        .hidden = {64, 64},
        .rollout = 256,
        .minibatch = 64,
        .epochs = 4,
        .gamma = 0.999,
        .lambda = 0.95,
        .clip = 0.2,
        .ent_coef = 0.01,
        .vf_coef = 0.5,
        .max_grad_norm = 0.5,
        .actor_out_gain = 0.01f,
    };
    return c;
}

int ppo_agent_init(ppo_agent_t *a, uint32_t n_obs, uint32_t n_actions, const ppo_config_t *cfg, uint64_t seed,
                   uint32_t slack) {
    memset(a, 0, sizeof *a);
    if (n_obs < 1 || n_actions < 2 || n_actions > DSMLP_MAX_WIDTH || cfg->n_hidden > 2 || cfg->rollout < 2 ||
        cfg->minibatch < 1 || cfg->epochs < 1)
        return DSTRAT_E_INVALID_ARG;
    a->cfg = *cfg;
    a->n_obs = n_obs;
    a->n_actions = n_actions;
    uint32_t sa[4], sc[4];
    sa[0] = sc[0] = n_obs;
    for (uint32_t l = 0; l < cfg->n_hidden; l++) sa[l + 1] = sc[l + 1] = cfg->hidden[l];
    sa[cfg->n_hidden + 1] = n_actions;
    sc[cfg->n_hidden + 1] = 1;
    int rc;
    if ((rc = dsmlp_init(&a->actor, cfg->n_hidden + 1, sa)) != 0 || (rc = dsmlp_init(&a->critic, cfg->n_hidden + 1, sc)) != 0)
        goto fail;
    /* distinct streams for the two networks and the sampler */
    dsmlp_init_random(&a->actor, seed ^ 0x61637472ull, cfg->actor_out_gain);
    dsmlp_init_random(&a->critic, seed ^ 0x63726974ull, 1.0f);
    a->rng = seed;
    const uint32_t mb = cfg->minibatch;
    a->cap = cfg->rollout + slack;
    rc = DSTRAT_E_NOMEM;
    if (dsmlp_adam_init(&a->adam_a, a->actor.n_params) || dsmlp_adam_init(&a->adam_c, a->critic.n_params) ||
        dsmlp_cache_init(&a->cache_a, &a->actor, mb) || dsmlp_cache_init(&a->cache_c, &a->critic, mb))
        goto fail;
    a->grad_a = calloc(a->actor.n_params, sizeof(float));
    a->grad_c = calloc(a->critic.n_params, sizeof(float));
    a->scratch_a = calloc(dsmlp_backward_scratch_floats(&a->actor, mb), sizeof(float));
    a->scratch_c = calloc(dsmlp_backward_scratch_floats(&a->critic, mb), sizeof(float));
    const size_t fs = dsmlp_scratch_floats(&a->actor) > dsmlp_scratch_floats(&a->critic)
                          ? dsmlp_scratch_floats(&a->actor)
                          : dsmlp_scratch_floats(&a->critic);
    a->fwd_scratch = calloc(fs, sizeof(float));
    a->mb_obs = calloc((size_t) mb * n_obs, sizeof(float));
    a->dlogits = calloc((size_t) mb * n_actions, sizeof(float));
    a->dvalue = calloc(mb, sizeof(float));
    a->tmp_logits = calloc(n_actions, sizeof(float));
    a->perm = calloc(a->cap, sizeof(uint32_t));
    a->obs = calloc((size_t) a->cap * n_obs, sizeof(float));
    a->act = calloc(a->cap, sizeof(uint32_t));
    a->logp = calloc(a->cap, sizeof(float));
    a->value = calloc(a->cap, sizeof(float));
    a->reward = calloc(a->cap, sizeof(float));
    a->adv = calloc(a->cap, sizeof(float));
    a->ret = calloc(a->cap, sizeof(float));
    a->done = calloc(a->cap, 1);
    if (!a->grad_a || !a->grad_c || !a->scratch_a || !a->scratch_c || !a->fwd_scratch || !a->mb_obs || !a->dlogits ||
        !a->dvalue || !a->tmp_logits || !a->perm || !a->obs || !a->act || !a->logp || !a->value || !a->reward ||
        !a->adv || !a->ret || !a->done)
        goto fail;
    return 0;
fail:
    ppo_agent_free(a);
    return rc;
}

void ppo_agent_free(ppo_agent_t *a) {
    if (!a) return;
    dsmlp_free(&a->actor);
    dsmlp_free(&a->critic);
    dsmlp_adam_free(&a->adam_a);
    dsmlp_adam_free(&a->adam_c);
    dsmlp_cache_free(&a->cache_a);
    dsmlp_cache_free(&a->cache_c);
    void *bufs[] = {a->grad_a, a->grad_c, a->scratch_a, a->scratch_c, a->fwd_scratch, a->mb_obs, a->dlogits,
                    a->dvalue, a->tmp_logits, a->perm, a->obs, a->act, a->logp, a->value, a->reward, a->adv,
                    a->ret, a->done};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    memset(a, 0, sizeof *a);
}

int32_t ppo_act(ppo_agent_t *a, const float *obs, uint32_t *action) {
    if (a->n >= a->cap) return -1;
    const uint32_t i = a->n++;
    memcpy(a->obs + (size_t) i * a->n_obs, obs, a->n_obs * sizeof *obs);
    dsmlp_forward(&a->actor, obs, a->tmp_logits, a->fwd_scratch);
    float v;
    dsmlp_forward(&a->critic, obs, &v, a->fwd_scratch);
    float lp;
    const uint32_t k = ppo_sample(a->tmp_logits, a->n_actions, ppo_rng_u01(&a->rng), &lp);
    a->act[i] = k;
    a->logp[i] = lp;
    a->value[i] = v;
    a->reward[i] = 0.0f;
    a->done[i] = 0;
    if (action) *action = k;
    return (int32_t) i;
}

uint32_t ppo_greedy(const dsmlp_t *actor, const float *obs, float *logits, float *scratch) {
    dsmlp_forward(actor, obs, logits, scratch);
    return dsmlp_argmax(logits, actor->size[actor->n_layers]);
}

void ppo_set_reward(ppo_agent_t *a, uint32_t i, float reward, int done) {
    if (i >= a->n) return;
    a->reward[i] = reward;
    a->done[i] = (uint8_t) (done != 0);
    if (i + 1 > a->n_done) a->n_done = i + 1;
}

void ppo_drop_unfinished(ppo_agent_t *a) {
    a->n = a->n_done;
}

/* Moves the unfinished steps [n_done, n) to the front. */
static void compact(ppo_agent_t *a) {
    const uint32_t k = a->n - a->n_done, d = a->n_done;
    if (k) {
        memmove(a->obs, a->obs + (size_t) d * a->n_obs, (size_t) k * a->n_obs * sizeof(float));
        memmove(a->act, a->act + d, k * sizeof *a->act);
        memmove(a->logp, a->logp + d, k * sizeof *a->logp);
        memmove(a->value, a->value + d, k * sizeof *a->value);
        memmove(a->reward, a->reward + d, k * sizeof *a->reward);
        memmove(a->done, a->done + d, k * sizeof *a->done);
    }
    a->n = k;
    a->n_done = 0;
}

int ppo_update(ppo_agent_t *a, double lr, ppo_stats_t *st) {
    const uint32_t N = a->n_done, A = a->n_actions, D = a->n_obs;
    if (N < 2) return -1;
    const ppo_config_t *c = &a->cfg;
    ppo_gae(a->reward, a->value, a->done, N, 0.0f, c->gamma, c->lambda, a->adv, a->ret);
    ppo_normalize(a->adv, N);
    ppo_stats_t s = {0};
    uint64_t n_terms = 0;
    for (uint32_t ep = 0; ep < c->epochs; ep++) {
        for (uint32_t i = 0; i < N; i++) a->perm[i] = i;
        for (uint32_t i = N - 1; i > 0; i--) { /* Fisher-Yates with our RNG */
            const uint32_t j = (uint32_t) (ppo_rng_next(&a->rng) % (i + 1));
            const uint32_t t = a->perm[i];
            a->perm[i] = a->perm[j];
            a->perm[j] = t;
        }
        for (uint32_t off = 0; off < N; off += c->minibatch) {
            const uint32_t B = N - off < c->minibatch ? N - off : c->minibatch;
            for (uint32_t b = 0; b < B; b++)
                memcpy(a->mb_obs + (size_t) b * D, a->obs + (size_t) a->perm[off + b] * D, D * sizeof(float));
            dsmlp_forward_batch(&a->actor, &a->cache_a, a->mb_obs, B);
            dsmlp_forward_batch(&a->critic, &a->cache_c, a->mb_obs, B);
            const float *logits = a->cache_a.act[a->actor.n_layers], *vals = a->cache_c.act[a->critic.n_layers];
            for (uint32_t b = 0; b < B; b++) {
                const uint32_t k = a->perm[off + b];
                double r, H;
                const double pl = ppo_loss(logits + (size_t) b * A, A, a->act[k], a->logp[k], a->adv[k], c->clip,
                                           c->ent_coef, a->dlogits + (size_t) b * A, &r, &H);
                for (uint32_t j = 0; j < A; j++) a->dlogits[(size_t) b * A + j] /= (float) B;
                const double vl = ppo_value_loss(vals[b], a->ret[k], c->vf_coef, &a->dvalue[b]);
                a->dvalue[b] /= (float) B;
                s.policy_loss += pl;
                s.value_loss += vl;
                s.entropy += H;
                s.approx_kl += (r - 1.0) - log(r); /* k3 estimator of KL(old || new) */
                s.clip_frac += fabs(r - 1.0) > c->clip ? 1.0 : 0.0;
                n_terms++;
            }
            memset(a->grad_a, 0, a->actor.n_params * sizeof(float));
            memset(a->grad_c, 0, a->critic.n_params * sizeof(float));
            dsmlp_backward_batch(&a->actor, &a->cache_a, B, a->dlogits, a->grad_a, a->scratch_a);
            dsmlp_backward_batch(&a->critic, &a->cache_c, B, a->dvalue, a->grad_c, a->scratch_c);
            s.grad_norm += dsmlp_adam_step(&a->adam_a, a->actor.params, a->grad_a, lr, c->max_grad_norm);
            dsmlp_adam_step(&a->adam_c, a->critic.params, a->grad_c, lr, c->max_grad_norm);
        }
    }
    if (st) {
        const double n = n_terms ? (double) n_terms : 1.0;
        const uint32_t n_mb = c->epochs * ((N + c->minibatch - 1) / c->minibatch);
        st->n = N;
        st->policy_loss = s.policy_loss / n;
        st->value_loss = s.value_loss / n;
        st->entropy = s.entropy / n;
        st->approx_kl = s.approx_kl / n;
        st->clip_frac = s.clip_frac / n;
        st->grad_norm = s.grad_norm / (n_mb ? n_mb : 1);
    }
    compact(a);
    return 0;
}
