/* test_sampler.c - the vectorised argmax equals the plain loop on every kind of input: random
 * logits of every length around the vector width, ties (first index wins), NaNs anywhere, signed
 * zeros, infinities, and the maximum in the scalar tail. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "sampler.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t) (rng >> 16);
}

Test(sampler, vector_argmax_equals_the_plain_loop) {
    static float x[4099];
    const float special[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, 3.0f, 3.0f};
    uint32_t checked = 0;
    for (uint32_t n = 1; n <= 70; n++)
        for (int rep = 0; rep < 200; rep++) {
            const uint32_t len = rep < 100 ? n : n + 4029 * (rep % 2);
            for (uint32_t i = 0; i < len; i++) x[i] = (float) (next_u32() % 7) - 3.0f; /* many ties */
            const uint32_t n_special = next_u32() % 4;
            for (uint32_t k = 0; k < n_special; k++)
                x[next_u32() % len] = special[next_u32() % (sizeof special / sizeof *special)];
            const int32_t want = sampler_argmax_ref(x, len), got = sampler_argmax(x, len);
            cr_assert_eq(got, want, "len %u rep %d: %d vs %d", len, rep, got, want);
            checked++;
        }
    /* the maximum only in the scalar tail, and a leading NaN */
    for (uint32_t i = 0; i < 19; i++) x[i] = (float) i * 0.5f;
    cr_assert_eq(sampler_argmax(x, 19), 18);
    x[0] = NAN;
    cr_assert_eq(sampler_argmax(x, 19), 0);
    cr_assert_gt(checked, 10000);
}

/* ---- sampler_logp against a plain double-precision reference (full sort, libm exp) ---- */

static const float *ref_vals;
static int ref_cmp(const void *a, const void *b) {
    const int32_t ia = *(const int32_t *) a, ib = *(const int32_t *) b;
    if (ref_vals[ia] > ref_vals[ib]) return -1;
    if (ref_vals[ia] < ref_vals[ib]) return 1;
    return (ia > ib) - (ia < ib);
}

/* reference: kept[t] = 1 for kept tokens, prob[t] their renormalised probability; returns the
 * cumulative mass (before renormalising) at the top-p cut, for boundary tolerance */
static double ref_chain(const sampler_params_t *p, const float *logits, uint32_t n, uint8_t *kept, double *prob) {
    static float s[70000];
    static int32_t idx[70000];
    for (uint32_t i = 0; i < n; i++) {
        s[i] = logits[i] / p->temperature;
        idx[i] = (int32_t) i;
    }
    ref_vals = s;
    qsort(idx, n, sizeof *idx, ref_cmp);
    uint32_t keep = p->top_k > 0 && (uint32_t) p->top_k < n ? (uint32_t) p->top_k : n;
    double z = 0.0, cut = 1.0;
    for (uint32_t j = 0; j < keep; j++) z += exp((double) s[idx[j]] - s[idx[0]]);
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        uint32_t j = 0;
        for (; j < keep; j++) {
            cum += exp((double) s[idx[j]] - s[idx[0]]) / z;
            if (cum >= (double) p->top_p) { j++; break; }
        }
        cut = cum;
        keep = j;
        z = 0.0;
        for (uint32_t i = 0; i < keep; i++) z += exp((double) s[idx[i]] - s[idx[0]]);
    }
    for (uint32_t i = 0; i < n; i++) kept[i] = 0, prob[i] = 0.0;
    for (uint32_t j = 0; j < keep; j++) {
        kept[idx[j]] = 1;
        prob[idx[j]] = exp((double) s[idx[j]] - s[idx[0]]) / z;
    }
    return cut;
}

static void check_logp(const sampler_params_t *p, const float *logits, uint32_t n, const char *what) {
    static float logp[70000], again[70000];
    static char scratch[70000 * 8];
    static uint8_t kept[70000];
    static double prob[70000];
    sampler_logp(p, logits, n, logp, scratch);
    sampler_logp(p, logits, n, again, scratch);
    cr_assert_eq(memcmp(logp, again, n * sizeof *logp), 0, "%s: not deterministic", what);
    const double cut = ref_chain(p, logits, n, kept, prob);
    double total = 0.0;
    uint32_t n_diff_set = 0;
    for (uint32_t t = 0; t < n; t++) {
        const int ours = isfinite(logp[t]);
        if (ours != kept[t]) {
            n_diff_set++;
            continue;
        }
        if (!ours) continue;
        total += exp((double) logp[t]);
        cr_assert(fabs(exp((double) logp[t]) - prob[t]) < 2e-6 + 2e-5 * prob[t], "%s: token %u p %.9g vs %.9g", what, t,
                  exp((double) logp[t]), prob[t]);
    }
    /* the kept set may differ only where the top-p cut falls within rounding of the boundary */
    if (n_diff_set) cr_assert(fabs(cut - (double) p->top_p) < 1e-5, "%s: %u tokens kept differently", what, n_diff_set);
    else cr_assert(fabs(total - 1.0) < 1e-5, "%s: mass %.9g", what, total);
}

Test(sampler, logp_matches_a_double_reference) {
    static float x[70000];
    const uint32_t lens[] = {1, 2, 15, 16, 17, 33, 1000, 49152, 65537};
    const sampler_params_t chains[] = {
        {1.0f, 0, 1.0f}, {0.7f, 0, 1.0f}, {1.3f, 40, 1.0f}, {1.0f, 0, 0.9f},
        {0.8f, 50, 0.95f}, {1.0f, 1, 1.0f}, {1.0f, 0, 0.2f}, {2.0f, 0, 0.999f},
    };
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (size_t ci = 0; ci < sizeof chains / sizeof *chains; ci++)
            for (int flat = 0; flat < 2; flat++) {
                const uint32_t n = lens[li];
                /* peaked logits (a few tokens hold the mass) and flat ones (the top-p set is wide,
                 * which takes the slow path); ties included */
                for (uint32_t i = 0; i < n; i++)
                    x[i] = flat ? (float) (next_u32() % 1000) / 400.0f : (float) (next_u32() % 4000) / 100.0f - 30.0f;
                if (n > 1) x[next_u32() % n] = -INFINITY; /* one impossible token */
                char what[96];
                snprintf(what, sizeof what, "n %u chain %zu %s", n, ci, flat ? "flat" : "peaked");
                check_logp(&chains[ci], x, n, what);
            }
}

Test(sampler, logp_of_extreme_logits) {
    static float x[4096];
    static float logp[4096];
    static char scratch[4096 * 8];
    const sampler_params_t p = {1.0f, 0, 1.0f};
    for (uint32_t i = 0; i < 4096; i++) x[i] = -1e30f;
    x[7] = 80.0f; /* one token far above the rest: all mass, no overflow */
    sampler_logp(&p, x, 4096, logp, scratch);
    cr_assert_float_eq(logp[7], 0.0f, 1e-6);
    cr_assert_lt(logp[8], -1e29f);
    for (uint32_t i = 0; i < 4096; i++) x[i] = 0.0f; /* uniform */
    sampler_logp(&p, x, 4096, logp, scratch);
    for (uint32_t i = 0; i < 4096; i++) cr_assert_float_eq(logp[i], -logf(4096.0f), 1e-5);
}
