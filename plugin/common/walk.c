/* walk.c - see walk.h. */
#include "walk.h"

#include <math.h>

#include "topk.h"
#include "tree.h"

static double prob(float lp) {
    return isfinite(lp) ? exp((double) lp) : 0.0;
}

#define DSW_MARKS 256 /* prefix sums kept at block ends: the second pass scans one block */

int32_t dsw_sample(const float *logp, uint32_t n, double u) {
    /* pass 1: the total, in ascending t exactly as defined, remembering the running sum at each
     * block end; pass 2 then resumes the same running sum from the block the target falls in, so
     * every partial sum it compares is the defined one (bit for bit) at a fraction of the exps */
    const uint32_t block = n / DSW_MARKS + 1;
    double mark[DSW_MARKS + 1];
    double total = 0.0;
    uint32_t n_marks = 0;
    for (uint32_t t = 0; t < n; t++) {
        total += prob(logp[t]);
        if ((t + 1) % block == 0) mark[n_marks++] = total; /* running sum over [0, t] */
    }
    if (!(total > 0.0)) return -1;
    const double target = u * total;
    uint32_t b = 0; /* first block whose end sum exceeds the target; the scan starts there */
    while (b < n_marks && !(target < mark[b])) b++;
    double acc = b ? mark[b - 1] : 0.0;
    int32_t last = -1;
    for (uint32_t t = b * block; t < n; t++) {
        const double p = prob(logp[t]);
        if (!(p > 0.0)) continue;
        acc += p;
        last = (int32_t) t;
        if (target < acc) return last;
    }
    /* rounding left no partial sum above the target: the largest t with p > 0, which is `last`
     * unless the scanned block had none */
    for (int64_t t = (int64_t) b * block - 1; last < 0 && t >= 0; t--)
        if (prob(logp[t]) > 0.0) last = (int32_t) t;
    return last;
}

int32_t dsw_sample_dist(const dstrat_dist_t *d, double u) {
    if (!d->ids) return dsw_sample(d->logp, d->n, u);
    /* sparse: visit entries in ascending id order without allocating (n is small) */
    double total = 0.0;
    for (uint32_t i = 0; i < d->n; i++) total += prob(d->logp[i]);
    if (!(total > 0.0)) return -1;
    const double target = u * total;
    double acc = 0.0;
    int32_t prev = -1, last = -1;
    for (;;) {
        int32_t best = -1; /* next id above prev, with its entry */
        uint32_t bi = 0;
        for (uint32_t i = 0; i < d->n; i++)
            if (d->ids[i] > prev && (best < 0 || d->ids[i] < best) && prob(d->logp[i]) > 0.0) {
                best = d->ids[i];
                bi = i;
            }
        if (best < 0) return last;
        acc += prob(d->logp[bi]);
        last = best;
        if (target < acc) return last;
        prev = best;
    }
}

double dsw_u(const dstrat_verify_t *v, uint32_t depth) {
    return dstrat_keyed_u01(v->rng_seed, v->root_pos + depth + 1);
}

static int check(const dstrat_tree_t *t, const dstrat_verify_t *v, const dstrat_accept_t *a) {
    if (!t || !v || !a || !a->path || a->capacity < 1) return DSTRAT_E_INVALID_ARG;
    if (v->n_nodes != t->n_nodes || t->n_nodes < 1) return DSTRAT_E_INVALID_ARG;
    return 0;
}

int dsw_greedy(const dstrat_tree_t *t, const dstrat_verify_t *v, dstrat_accept_t *a) {
    int rc = check(t, v, a);
    if (rc) return rc;
    if (!v->argmax) return DSTRAT_E_INVALID_ARG;
    int32_t node = 0;
    a->path[0] = 0;
    a->n_path = 1;
    for (;;) {
        const int32_t child = dst_tree_find_child(t, node, v->argmax[node]);
        if (child < 0) break;
        if (a->n_path >= a->capacity) return DSTRAT_E_CAPACITY;
        a->path[a->n_path++] = child;
        node = child;
    }
    a->next_token = v->argmax[node];
    return 0;
}

int dsw_sampling(const dstrat_tree_t *t, const dstrat_verify_t *v, dstrat_accept_t *a) {
    int rc = check(t, v, a);
    if (rc) return rc;
    if (!v->target) return DSTRAT_E_INVALID_ARG;
    int32_t node = 0;
    a->path[0] = 0;
    a->n_path = 1;
    for (uint32_t depth = 0;; depth++) {
        const dstrat_dist_t *d = dst_dist_at(v->target, (uint32_t) node);
        if (!dst_dist_ok(d)) return DSTRAT_E_INVALID_ARG;
        const int32_t y = dsw_sample_dist(d, dsw_u(v, depth));
        if (y < 0) return DSTRAT_E_INVALID_ARG;
        const int32_t child = dst_tree_find_child(t, node, y);
        if (child < 0) {
            a->next_token = y;
            return 0;
        }
        if (a->n_path >= a->capacity) return DSTRAT_E_CAPACITY;
        a->path[a->n_path++] = child;
        node = child;
    }
}

int dsw_accept(const dstrat_tree_t *t, const dstrat_verify_t *v, dstrat_accept_t *a) {
    if (!v) return DSTRAT_E_INVALID_ARG;
    return v->greedy ? dsw_greedy(t, v, a) : dsw_sampling(t, v, a);
}
