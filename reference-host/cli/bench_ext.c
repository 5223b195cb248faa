/* bench_ext.c - see bench_ext.h */
#include "bench_ext.h"

#include <string.h>

#include "ltd_ext.h"
#include "radar_ext.h"

_Static_assert(DSTRAT_RADAR_HIST == BENCH_EXT_CALLS && DSTRAT_LTD_HIST == BENCH_EXT_CALLS, "calls histograms");
_Static_assert(DSTRAT_LTD_MAX_SIZES == BENCH_EXT_MAX_SIZES, "size histograms");

void bench_ext_read(const dstrat_strategy_t *s, bench_ext_t *out) {
    memset(out, 0, sizeof *out);
    if (!s || !s->get_extension) return;
    const dstrat_radar_stats_ext_t *rx = s->get_extension(s, DSTRAT_RADAR_STATS_ID);
    if (rx && rx->get) {
        dstrat_radar_stats_t st = {.struct_size = sizeof st};
        if (rx->get(s, &st) == DSTRAT_OK) {
            out->has = 1;
            out->decision_ns = st.decision_ns;
            memcpy(out->calls_hist, st.calls_hist, sizeof out->calls_hist);
        }
        return;
    }
    const dstrat_ltd_stats_ext_t *lx = s->get_extension(s, DSTRAT_LTD_STATS_ID);
    if (lx && lx->get) {
        dstrat_ltd_stats_t st = {.struct_size = sizeof st};
        if (lx->get(s, &st) == DSTRAT_OK) {
            out->has = 1;
            out->decision_ns = st.decision_ns;
            memcpy(out->calls_hist, st.calls_hist, sizeof out->calls_hist);
            out->n_sizes = st.n_sizes < BENCH_EXT_MAX_SIZES ? st.n_sizes : BENCH_EXT_MAX_SIZES;
            memcpy(out->sizes, st.sizes, out->n_sizes * sizeof *out->sizes);
            memcpy(out->size_hist, st.size_hist, out->n_sizes * sizeof *out->size_hist);
        }
    }
}

void bench_ext_diff(const bench_ext_t *before, const bench_ext_t *after, bench_ext_t *out) {
    *out = *after;
    out->decision_ns -= before->decision_ns;
    for (uint32_t i = 0; i < BENCH_EXT_CALLS; i++) out->calls_hist[i] -= before->calls_hist[i];
    for (uint32_t i = 0; i < BENCH_EXT_MAX_SIZES; i++) out->size_hist[i] -= before->size_hist[i];
}

void bench_ext_add(bench_ext_t *acc, const bench_ext_t *x) {
    if (!x->has) return;
    acc->has = 1;
    acc->decision_ns += x->decision_ns;
    for (uint32_t i = 0; i < BENCH_EXT_CALLS; i++) acc->calls_hist[i] += x->calls_hist[i];
    if (!acc->n_sizes) {
        acc->n_sizes = x->n_sizes;
        memcpy(acc->sizes, x->sizes, sizeof acc->sizes);
    }
    for (uint32_t i = 0; i < BENCH_EXT_MAX_SIZES; i++) acc->size_hist[i] += x->size_hist[i];
}
