/* bench_ext.h - strategy-specific counters refhost bench reads through strategy extensions:
 * the time spent in stop/size decisions (radar "dstrat.plugin.radar/1", ltd "dstrat.plugin.ltd/1"),
 * the number of draft calls per cycle and, for ltd, the verified size V chosen per cycle.
 * Extension counters are cumulative per instance, so a run's share is the difference of two
 * snapshots taken around it. */
#ifndef BENCH_EXT_H
#define BENCH_EXT_H

#include <stdint.h>

#include "dstrat.h"

#define BENCH_EXT_MAX_SIZES 32
#define BENCH_EXT_CALLS 17           /* calls_hist buckets: index = draft calls per cycle */

typedef struct bench_ext {
    int has;                         /* the strategy offers one of the extensions */
    uint64_t decision_ns;
    uint64_t calls_hist[BENCH_EXT_CALLS];
    uint32_t n_sizes;                /* ltd: its size action set */
    uint32_t sizes[BENCH_EXT_MAX_SIZES];
    uint64_t size_hist[BENCH_EXT_MAX_SIZES];
} bench_ext_t;

/* Snapshot of s's extension counters (out->has = 0 when it offers none). */
void bench_ext_read(const dstrat_strategy_t *s, bench_ext_t *out);
/* after - before, counter by counter (the size set is after's). */
void bench_ext_diff(const bench_ext_t *before, const bench_ext_t *after, bench_ext_t *out);
/* acc += x (the size set is taken from x when acc has none). */
void bench_ext_add(bench_ext_t *acc, const bench_ext_t *x);

#endif
