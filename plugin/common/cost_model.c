/* cost_model.c - see cost_model.h. */
#include "cost_model.h"

#include <math.h>
#include <string.h>

#define UNIT_A 1.0
#define UNIT_B 0.06
#define UNIT_CALL 0.3

void dscm_init(dscm_t *m) {
    memset(m, 0, sizeof *m);
    m->a0 = m->a = UNIT_A;
    m->b0 = m->b = UNIT_B;
    m->t_call = UNIT_CALL;
    for (uint32_t k = 0; k < DSCM_MAX_K; k++) m->child_p[k] = 0.5 / (double) (k + 1) / (double) (k + 1);
}

/* weighted least squares over the ring plus the two prior points */
static void refit(dscm_t *m) {
    double sw = 0, sn = 0, st = 0, snn = 0, snt = 0;
    const double pn[2] = {1.0, 64.0};
    for (int i = 0; i < 2; i++) {
        const double t = m->a0 + m->b0 * pn[i];
        sw += DSCM_PRIOR_W;
        sn += DSCM_PRIOR_W * pn[i];
        st += DSCM_PRIOR_W * t;
        snn += DSCM_PRIOR_W * pn[i] * pn[i];
        snt += DSCM_PRIOR_W * pn[i] * t;
    }
    const uint32_t n = m->n_obs < DSCM_RING ? m->n_obs : DSCM_RING;
    for (uint32_t i = 0; i < n; i++) {
        sw += 1;
        sn += m->ring_n[i];
        st += m->ring_t[i];
        snn += m->ring_n[i] * m->ring_n[i];
        snt += m->ring_n[i] * m->ring_t[i];
    }
    const double det = sw * snn - sn * sn;
    double b = det > 1e-12 ? (sw * snt - sn * st) / det : m->b0;
    if (!(b > 0)) b = 1e-3 * m->a0; /* verify never gets cheaper with more tokens */
    double a = (st - b * sn) / sw;
    if (!(a > 0)) a = 1e-3 * m->a0;
    m->a = a;
    m->b = b;
}

void dscm_observe_cycle(dscm_t *m, uint32_t n_verified, uint64_t t_verify_ns, uint32_t n_draft_calls,
                        uint64_t t_draft_ns) {
    if (t_verify_ns == 0 || n_verified == 0) return;
    if (!m->timed) { /* rescale the unit priors to nanoseconds from this first measurement */
        const double scale = (double) t_verify_ns / (UNIT_A + UNIT_B * n_verified);
        m->a0 = UNIT_A * scale;
        m->b0 = UNIT_B * scale;
        m->t_call = UNIT_CALL * scale;
        m->timed = 1;
    }
    m->ring_n[m->head] = n_verified;
    m->ring_t[m->head] = (double) t_verify_ns;
    m->head = (m->head + 1) % DSCM_RING;
    m->n_obs++;
    refit(m);
    if (n_draft_calls && t_draft_ns) {
        const double per = (double) t_draft_ns / n_draft_calls;
        m->t_call = m->n_obs == 1 ? per : 0.9 * m->t_call + 0.1 * per;
    }
}

void dscm_observe_accept(dscm_t *m, const double *pred, uint32_t max_d, uint32_t accepted) {
    if (max_d > DSCM_MAX_DEPTH) max_d = DSCM_MAX_DEPTH;
    for (uint32_t d = 1; d <= max_d; d++) {
        m->num[d] = DSCM_DECAY * m->num[d] + (accepted >= d ? 1.0 : 0.0);
        m->den[d] = DSCM_DECAY * m->den[d] + pred[d];
    }
}

void dscm_observe_children(dscm_t *m, const float *logp, uint32_t n) {
    const double w = m->n_child_obs < 20 ? 1.0 / (m->n_child_obs + 1) : 0.05;
    for (uint32_t k = 0; k < DSCM_MAX_K; k++) {
        const double p = k < n && isfinite(logp[k]) ? exp((double) logp[k]) : 0.0;
        m->child_p[k] = (1 - w) * m->child_p[k] + w * p;
    }
    m->n_child_obs++;
}

double dscm_t_verify(const dscm_t *m, double n_tokens) {
    return m->a + m->b * n_tokens;
}

double dscm_t_call(const dscm_t *m) {
    return m->t_call;
}

double dscm_calib(const dscm_t *m, uint32_t depth) {
    if (depth < 1 || depth > DSCM_MAX_DEPTH) return 1.0;
    const double c = (m->num[depth] + 1.0) / (m->den[depth] + 1.0);
    return c < 0.1 ? 0.1 : c > 10.0 ? 10.0 : c;
}

double dscm_child_p(const dscm_t *m, uint32_t k) {
    return k < DSCM_MAX_K ? m->child_p[k] : 0.0;
}
