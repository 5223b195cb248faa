/* bench_stats.c - see bench_stats.h */
#include "bench_stats.h"

#include <math.h>
#include <stdlib.h>

double bs_mean(const double *x, size_t n) {
    if (n == 0) return 0;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s / (double) n;
}

double bs_sd(const double *x, size_t n) {
    if (n < 2) return 0;
    const double m = bs_mean(x, n);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (double) (n - 1));
}

double bs_t975(unsigned df) {
    static const double table[31] = {
        0,      12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788,  2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796,
        2.0739, 2.0687,  2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    };
    if (df == 0) return NAN;
    if (df <= 30) return table[df];
    const double z = 1.959963985, z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, v = (double) df;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v);
}

int bs_mean_ci(const double *x, size_t n, bs_interval_t *out) {
    if (n == 0) return -1;
    out->n = n;
    out->mean = bs_mean(x, n);
    if (n < 2) {
        out->lo = out->hi = out->mean;
        return 0;
    }
    const double half = bs_t975((unsigned) (n - 1)) * bs_sd(x, n) / sqrt((double) n);
    out->lo = out->mean - half;
    out->hi = out->mean + half;
    return 0;
}

int bs_ratio_ci(const double *num, const double *den, size_t n, bs_interval_t *out) {
    if (n == 0) return -1;
    double *lr = malloc(n * sizeof *lr);
    if (!lr) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(num[i] > 0 && den[i] > 0 && isfinite(num[i]) && isfinite(den[i]))) {
            free(lr);
            return -1;
        }
        lr[i] = log(num[i] / den[i]);
    }
    bs_interval_t l;
    bs_mean_ci(lr, n, &l);
    free(lr);
    out->n = n;
    out->mean = exp(l.mean);
    out->lo = exp(l.lo);
    out->hi = exp(l.hi);
    return 0;
}
