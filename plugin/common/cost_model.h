/* cost_model.h - an online cost and acceptance model for cost-aware tree strategies.
 *
 * Time: t_draft per draft_forward call (EMA of observed t_draft_ns / n_draft_calls) and
 * t_verify(N) = a + b*N for N verified tokens, fitted by least squares over the last
 * DSCM_RING cycles plus two light prior pseudo-observations (weight DSCM_PRIOR_W each, at N = 1 and
 * N = 64) that keep the fit sane before data and when N never varies. Before any timing (or
 * without DSTRAT_CAP_TIMING) everything is in "1-token verify" units: a = 1, b = 0.06,
 * t_draft = 0.3. The first measured cycle rescales the priors to nanoseconds.
 *
 * Acceptance: the expected number of accepted drafts of a tree is estimated as
 * sum over nodes of c[depth] * exp(cumulative draft log-prob); c[d] is a per-depth calibration
 * = (decayed sum of observed 1[accepted >= d] + 1) / (decayed sum of predicted mass at depth d + 1),
 * clamped to [0.1, 10], learned online from accept. A child-rank profile r[k] (mean draft
 * probability of the k-th best child) predicts what one more expansion would add.
 */
#ifndef DSCM_COST_MODEL_H
#define DSCM_COST_MODEL_H

#include <stdint.h>

#define DSCM_RING 64
#define DSCM_MAX_DEPTH 64
#define DSCM_MAX_K 16
#define DSCM_PRIOR_W 0.05
#define DSCM_DECAY 0.98

typedef struct dscm {
    double ring_n[DSCM_RING], ring_t[DSCM_RING];
    uint32_t n_obs, head;
    int timed;                 /* 1 once a cycle with measured times was seen (units: ns) */
    double a0, b0;             /* priors in the current units */
    double a, b;               /* the fit */
    double t_call;             /* per draft call */
    double num[DSCM_MAX_DEPTH + 1], den[DSCM_MAX_DEPTH + 1];
    double child_p[DSCM_MAX_K];/* r[k] */
    uint32_t n_child_obs;
} dscm_t;

void dscm_init(dscm_t *m);
/* One observed cycle (host-measured; zero times are ignored). */
void dscm_observe_cycle(dscm_t *m, uint32_t n_verified, uint64_t t_verify_ns, uint32_t n_draft_calls,
                        uint64_t t_draft_ns);
/* pred[d] = predicted acceptance mass at depth d (d = 1..max_d) of the tree that was verified;
 * accepted = drafts accepted on the path. */
void dscm_observe_accept(dscm_t *m, const double *pred, uint32_t max_d, uint32_t accepted);
/* One distribution's children probabilities, best first (k < DSCM_MAX_K used). */
void dscm_observe_children(dscm_t *m, const float *logp, uint32_t n);

double dscm_t_verify(const dscm_t *m, double n_tokens);
double dscm_t_call(const dscm_t *m);
double dscm_calib(const dscm_t *m, uint32_t depth);
double dscm_child_p(const dscm_t *m, uint32_t k);

#endif /* DSCM_COST_MODEL_H */
