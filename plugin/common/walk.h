/* walk.h - the reference acceptance walks and the one definition of "sample a token".
 *
 * Every strategy that accepts with these walks, the `ar` strategy included, turns the same
 * (target distribution, keyed uniform) into the same token, so speculative output is
 * bit-identical to autoregressive output for a seed (given batch-invariant host numerics).
 *
 *   greedy:   from the root, follow the child whose token == argmax[node]; stop when none;
 *             next_token = argmax[last].
 *   sampling: at node i choose y = dsw_sample(target[i], dstrat_keyed_u01(rng_seed,
 *             root_pos + depth(i) + 1)); follow the child carrying y; stop when none;
 *             next_token = y of the last node. The output token at each position is a sample of
 *             the target distribution at that position, so the walk is lossless.
 */
#ifndef DSW_WALK_H
#define DSW_WALK_H

#include <stdint.h>

#include "dstrat.h"

/* Inverse-CDF sample of a dense log-distribution logp[0..n) with u in [0, 1):
 *   p[t] = exp((double) logp[t]) for finite logp[t] (-INFINITY and NaN count as 0);
 *   total = sum of p[t] in ascending t, in double;
 *   returns the smallest t with p[t] > 0 and u * total < p[0] + ... + p[t] (partial sums in
 *   ascending t, in double), or the largest t with p[t] > 0 if rounding leaves none.
 * Returns -1 if no token has p > 0. Deterministic and pure. */
int32_t dsw_sample(const float *logp, uint32_t n, double u);

/* Same over a distribution (dense or sparse; a sparse one is walked in ascending token id order,
 * so a dense and a sparse view of the same mass give the same token). */
int32_t dsw_sample_dist(const dstrat_dist_t *d, double u);

/* The walks. t: the proposal, v: the host's verification (full-size copy: the caller fills
 * fields an older host lacks with 0), a: written (n_path, path, next_token).
 * 0, DSTRAT_E_INVALID_ARG (missing argmax/target, n_nodes mismatch, empty distribution) or
 * DSTRAT_E_CAPACITY (path longer than a->capacity). */
int dsw_greedy(const dstrat_tree_t *t, const dstrat_verify_t *v, dstrat_accept_t *a);
int dsw_sampling(const dstrat_tree_t *t, const dstrat_verify_t *v, dstrat_accept_t *a);

/* dsw_greedy if v->greedy, else dsw_sampling. */
int dsw_accept(const dstrat_tree_t *t, const dstrat_verify_t *v, dstrat_accept_t *a);

/* The uniform for the token after node depth d: dstrat_keyed_u01(seed, root_pos + d + 1). */
double dsw_u(const dstrat_verify_t *v, uint32_t depth);

#endif /* DSW_WALK_H */
