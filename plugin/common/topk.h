/* topk.h - top-k selection over next-token distributions.
 * Order everywhere: larger value first, lower token id first on ties (the ABI's sparse order). */
#ifndef DST_TOPK_H
#define DST_TOPK_H

#include <stdint.h>

#include "dstrat.h"

/* Top-k of a dense array vals[0..n) (logits or logp; -INFINITY allowed, NaN ranks last). Writes
 * ids[0..m) and, if out_vals is not NULL, their values; returns m = min(k, n). O(n k). */
uint32_t dst_topk_dense(const float *vals, uint32_t n, uint32_t k, dstrat_token_t *ids,
                        float *out_vals);

/* Top-k of a distribution, dense (ids == NULL) or sparse. Sparse input need not be sorted. */
uint32_t dst_topk_dist(const dstrat_dist_t *d, uint32_t k, dstrat_token_t *ids, float *logp);

/* Element i of an array of dstrat_dist_t filled by the other side. dstrat.h freezes this element
 * type for major 1 (it grows only through new parallel fields), so the stride is sizeof; the
 * one place to change if a major ever strides by struct_size. */
const dstrat_dist_t *dst_dist_at(const dstrat_dist_t *arr, uint32_t i);

/* 1 if d looks usable: struct_size covers logp, logp != NULL, n > 0. */
int dst_dist_ok(const dstrat_dist_t *d);

#endif /* DST_TOPK_H */
