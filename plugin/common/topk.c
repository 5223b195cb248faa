/* topk.c - see topk.h. */
#include "topk.h"

#include <math.h>

/* a ranks before b */
static int better(float va, int32_t ia, float vb, int32_t ib) {
    if (isnan(vb)) return !isnan(va) || ia < ib;
    if (isnan(va)) return 0;
    if (va != vb) return va > vb;
    return ia < ib;
}

/* insertion into a sorted list of at most k entries: k is small (a few dozen) */
static uint32_t insert(dstrat_token_t *ids, float *vals, uint32_t m, uint32_t k, dstrat_token_t id,
                       float v) {
    if (m == k && !better(v, id, vals[m - 1], ids[m - 1])) return m;
    uint32_t j = m < k ? m++ : k - 1;
    while (j > 0 && better(v, id, vals[j - 1], ids[j - 1])) {
        ids[j] = ids[j - 1];
        vals[j] = vals[j - 1];
        j--;
    }
    ids[j] = id;
    vals[j] = v;
    return m;
}

#define DST_TOPK_STACK 256

uint32_t dst_topk_dense(const float *vals, uint32_t n, uint32_t k, dstrat_token_t *ids,
                        float *out_vals) {
    float tmp[DST_TOPK_STACK];
    if (k > n) k = n;
    if (k == 0) return 0;
    float *v = out_vals ? out_vals : (k <= DST_TOPK_STACK ? tmp : NULL);
    uint32_t m = 0;
    if (!v) { /* large k without a value buffer: selection by repeated scans, rare */
        for (uint32_t j = 0; j < k; j++) {
            int32_t best = -1;
            for (uint32_t i = 0; i < n; i++) {
                int taken = 0;
                for (uint32_t q = 0; q < j && !taken; q++) taken = ids[q] == (int32_t) i;
                if (taken) continue;
                if (best < 0 || better(vals[i], (int32_t) i, vals[best], best)) best = (int32_t) i;
            }
            ids[j] = best;
        }
        return k;
    }
    for (uint32_t i = 0; i < n; i++) m = insert(ids, v, m, k, (dstrat_token_t) i, vals[i]);
    return m;
}

uint32_t dst_topk_dist(const dstrat_dist_t *d, uint32_t k, dstrat_token_t *ids, float *logp) {
    if (!d->ids) return dst_topk_dense(d->logp, d->n, k, ids, logp);
    float tmp[DST_TOPK_STACK];
    if (k > d->n) k = d->n;
    if (k == 0) return 0;
    float *v = logp ? logp : tmp;
    if (!logp && k > DST_TOPK_STACK) k = DST_TOPK_STACK;
    uint32_t m = 0;
    for (uint32_t i = 0; i < d->n; i++) m = insert(ids, v, m, k, d->ids[i], d->logp[i]);
    return m;
}

const dstrat_dist_t *dst_dist_at(const dstrat_dist_t *arr, uint32_t i) {
    return &arr[i]; /* the element type is frozen for major 1 (dstrat.h RULES) */
}

int dst_dist_ok(const dstrat_dist_t *d) {
    return d && DSTRAT_HAS(d, dstrat_dist_t, logp) && d->logp && d->n > 0;
}
