/* bench_stats.h - the statistics of refhost bench: means, sample deviations, Student-t quantiles
 * and the confidence interval of a speedup measured as per-prompt ratios within one run. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>

double bs_mean(const double *x, size_t n);          /* 0 for n = 0 */
double bs_sd(const double *x, size_t n);            /* sample deviation (n - 1); 0 for n < 2 */

/* The 97.5% quantile of Student's t with df degrees of freedom (two-sided 95%); df >= 1. Exact
 * table values to df 30, a Cornish-Fisher expansion beyond (error < 1e-4). */
double bs_t975(unsigned df);

typedef struct bs_interval {
    double mean;   /* point estimate */
    double lo, hi; /* 95% interval; lo = hi = mean when n < 2 */
    size_t n;
} bs_interval_t;

/* The speedup of num over den (e.g. per-prompt tokens/s of a strategy and of AR on the same
 * prompt): the geometric mean of the ratios num[i]/den[i] with a t-interval on the log ratios, so
 * that a 2x and a 0.5x cancel and the interval stays positive. Returns 0, or -1 when n is 0 or a
 * value is not positive and finite. */
int bs_ratio_ci(const double *num, const double *den, size_t n, bs_interval_t *out);

/* Mean with a t-interval (for tau and the like). Returns -1 when n is 0. */
int bs_mean_ci(const double *x, size_t n, bs_interval_t *out);

#endif
