/* sampler.c - temperature, top-k and top-p over raw logits, in that order (llama.cpp's default
 * chain order for these three), producing dense log-probabilities. */
#define _GNU_SOURCE /* qsort_r */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sampler_params_check(const sampler_params_t *p, const char **why) {
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature)) {
        *why = "temperature must be a finite number >= 0";
        return -1;
    }
    if (p->top_k < 0) {
        *why = "top_k must be >= 0 (0 = off)";
        return -1;
    }
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) {
        *why = "top_p must be in (0, 1]";
        return -1;
    }
    return 0;
}

int32_t sampler_argmax_ref(const float *logits, uint32_t n) {
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = (int32_t) i;
    return best;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The same result as sampler_argmax_ref, in two vector passes: the largest non-NaN value (vmaxps
 * returns its second operand when the first is NaN, so NaNs are skipped as `>` skips them), then
 * the first index holding a value equal to it. The host takes the argmax of every verified node
 * over the whole vocabulary, so this loop matters (49k logits per node). */
__attribute__((target("avx2"))) static int32_t argmax_avx2(const float *x, uint32_t n) {
    if (x[0] != x[0]) return 0; /* NaN first: nothing compares greater */
    __m256 acc = _mm256_set1_ps(x[0]);
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_max_ps(_mm256_loadu_ps(x + i), acc);
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    float m = lanes[0];
    for (int l = 1; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m256 vm = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vm, _CMP_EQ_OQ));
        if (mask) return (int32_t) (i + (uint32_t) __builtin_ctz((unsigned) mask));
    }
    for (; i < n; i++)
        if (x[i] == m) return (int32_t) i;
    return 0;
}
#endif

int32_t sampler_argmax(const float *logits, uint32_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (n >= 8 && __builtin_cpu_supports("avx2")) return argmax_avx2(logits, n);
#endif
    return sampler_argmax_ref(logits, n);
}

size_t sampler_scratch_bytes(uint32_t n) {
    return (size_t) n * (sizeof(float) + sizeof(int32_t));
}

/* order: larger value first, lower id first on ties (makes the kept set unique) */
static int cmp_desc(const void *a, const void *b, void *vals_) {
    const float *vals = (const float *) vals_;
    int32_t ia = *(const int32_t *) a, ib = *(const int32_t *) b;
    float va = vals[ia], vb = vals[ib];
    if (va > vb) return -1;
    if (va < vb) return 1;
    return (ia > ib) - (ia < ib);
}

/* Keeps the k best of idx[0..m) at the front, sorted; returns k. */
static uint32_t select_top(const float *vals, int32_t *idx, uint32_t m, uint32_t k) {
    /* qsort is O(m log m); fine for one call per verified node (see bench time split) */
    qsort_r(idx, m, sizeof *idx, cmp_desc, (void *) vals);  /* re-entrant: no global state */
    return k < m ? k : m;
}

void sampler_logp(const sampler_params_t *p, const float *logits, uint32_t n, float *logp,
                  void *scratch) {
    float *scaled = (float *) scratch;
    int32_t *idx = (int32_t *) (scaled + n);
    const float inv_t = 1.0f / p->temperature;
    for (uint32_t i = 0; i < n; i++) scaled[i] = logits[i] * inv_t;

    uint32_t keep = n;
    int sorted = 0;
    if ((p->top_k > 0 && (uint32_t) p->top_k < n) || p->top_p < 1.0f) {
        for (uint32_t i = 0; i < n; i++) idx[i] = (int32_t) i;
        uint32_t k = (p->top_k > 0 && (uint32_t) p->top_k < n) ? (uint32_t) p->top_k : n;
        keep = select_top(scaled, idx, n, k);
        sorted = 1;
    }
    if (sorted && p->top_p < 1.0f) {
        /* softmax over the kept set, then the smallest prefix with mass >= top_p */
        double mx = scaled[idx[0]], z = 0.0;
        for (uint32_t j = 0; j < keep; j++) z += exp((double) scaled[idx[j]] - mx);
        double cum = 0.0;
        uint32_t j = 0;
        for (; j < keep; j++) {
            cum += exp((double) scaled[idx[j]] - mx) / z;
            if (cum >= (double) p->top_p) { j++; break; }
        }
        keep = j < 1 ? 1 : j;
    }

    double mx = -INFINITY;
    if (sorted) {
        mx = scaled[idx[0]];
    } else {
        for (uint32_t i = 0; i < n; i++)
            if (scaled[i] > mx) mx = scaled[i];
    }
    double z = 0.0;
    if (sorted) {
        for (uint32_t j = 0; j < keep; j++) z += exp((double) scaled[idx[j]] - mx);
        double lz = mx + log(z);
        for (uint32_t i = 0; i < n; i++) logp[i] = -INFINITY;
        for (uint32_t j = 0; j < keep; j++) logp[idx[j]] = (float) ((double) scaled[idx[j]] - lz);
    } else {
        for (uint32_t i = 0; i < n; i++) z += exp((double) scaled[i] - mx);
        double lz = mx + log(z);
        for (uint32_t i = 0; i < n; i++) logp[i] = (float) ((double) scaled[i] - lz);
    }
}
