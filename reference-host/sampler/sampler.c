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

/* Keeps the k best of idx[0..m) at the front, sorted; returns min(k, m). A quickselect moves the
 * k best to the front, then only those are sorted (m log m on 49k logits per verified node was the
 * cost to avoid). */
static uint32_t select_top(const float *vals, int32_t *idx, uint32_t m, uint32_t k) {
    if (k > m) k = m;
    if (k < m) {
        /* quickselect on (value desc, id asc): afterwards idx[0..k) holds the k best */
        uint32_t lo = 0, hi = m - 1;
        while (lo < hi) {
            const int32_t pivot = idx[lo + (hi - lo) / 2];
            uint32_t i = lo, j = hi;
            for (;;) {
                while (cmp_desc(&idx[i], &pivot, (void *) vals) < 0) i++;
                while (cmp_desc(&idx[j], &pivot, (void *) vals) > 0) j--;
                if (i >= j) break;
                const int32_t t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                i++;
                j--;
            }
            if (k - 1 <= j) hi = j;
            else lo = j + 1;
        }
    }
    qsort_r(idx, k, sizeof *idx, cmp_desc, (void *) vals); /* re-entrant: no global state */
    return k;
}

/* exp(x) for x <= 0 on 16 lanes (GCC/clang vector extensions: SSE2 by default, AVX2 in the
 * clones picked at run time): Cephes' polynomial, relative error ~1e-7, branch-free. Below -87 it
 * returns exp(-87), a mass no sampler decision can see. */
#define LANES 16
typedef float vf_t __attribute__((vector_size(4 * LANES)));
typedef int32_t vi_t __attribute__((vector_size(4 * LANES)));
#pragma GCC diagnostic ignored "-Wpsabi" /* static helpers, always inlined: no ABI boundary */
#define VINL static inline __attribute__((always_inline))

VINL vf_t vselect(vi_t m, vf_t a, vf_t b) { return (vf_t) (((vi_t) a & m) | ((vi_t) b & ~m)); }

VINL vf_t vexp_nonpos(vf_t x) {
    const vf_t floor_ = (vf_t) {0} - 87.0f;
    x = vselect(x < floor_, floor_, x);
    const vf_t n = __builtin_convertvector(__builtin_convertvector(x * 1.44269504f - 0.5f, vi_t), vf_t);
    const vf_t r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    vf_t p = (vf_t) {0} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const vf_t y = p * r * r + r + 1.0f;
    const vi_t bits = (__builtin_convertvector(n, vi_t) + 127) << 23;
    return y * (vf_t) bits;
}

/* one value: lane 0 of the same code, so scalar and vector paths agree */
static float exp_nonpos(float x) { return vexp_nonpos((vf_t) {0} + x)[0]; }

#define VFN __attribute__((target_clones("avx2", "default")))

VFN static float max_of(const float *x, uint32_t n) {
    vf_t m = (vf_t) {0} - INFINITY;
    uint32_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        vf_t v;
        memcpy(&v, x + i, sizeof v);
        m = vselect(v > m, v, m); /* NaN never wins */
    }
    float r = -INFINITY;
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    for (int l = 0; l < LANES; l++) r = m[l] > r ? m[l] : r;
    return r;
}

/* sum of exp(x[i] - mx) over x[i] <= mx, accumulated per lane in float, lanes in double */
VFN static double sum_exp(const float *x, uint32_t n, float mx) {
    vf_t acc = {0};
    uint32_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        vf_t d;
        memcpy(&d, x + i, sizeof d);
        d = d - mx;
        acc += vselect(d == d, vexp_nonpos(d), (vf_t) {0}); /* NaN logits carry no mass */
    }
    double z = 0.0;
    for (; i < n; i++) {
        const float d = x[i] - mx;
        z += d == d ? (double) exp_nonpos(d) : 0.0;
    }
    for (int l = 0; l < LANES; l++) z += (double) acc[l];
    return z;
}

/* sum of exp(scaled[idx[j]] - mx) over the first keep entries of idx, in that order */
static double sum_kept(const float *scaled, const int32_t *idx, uint32_t keep, float mx) {
    double z = 0.0;
    for (uint32_t j = 0; j < keep; j++) z += exp_nonpos(scaled[idx[j]] - mx);
    return z;
}

void sampler_logp(const sampler_params_t *p, const float *logits, uint32_t n, float *logp,
                  void *scratch) {
    float *scaled = (float *) scratch;
    int32_t *idx = (int32_t *) (scaled + n);
    const float inv_t = 1.0f / p->temperature;
    for (uint32_t i = 0; i < n; i++) scaled[i] = logits[i] * inv_t;

    const int use_k = p->top_k > 0 && (uint32_t) p->top_k < n;
    if (!use_k && !(p->top_p < 1.0f)) { /* the common case (temperature alone): vector passes, no sort */
        const float mx = max_of(scaled, n);
        const float lz = mx + (float) log(sum_exp(scaled, n, mx));
        for (uint32_t i = 0; i < n; i++) logp[i] = scaled[i] - lz;
        return;
    }
    uint32_t m = n;
    double z_all = 0.0; /* top-p alone: the normaliser over every token */
    if (!use_k) {
        /* the top-p set lies among the tokens within e^-16 of the best whenever they hold
         * top_p of the mass (they sort before every other token): sort only those */
        const float mx = max_of(scaled, n);
        z_all = sum_exp(scaled, n, mx);
        uint32_t c = 0;
        double zc = 0.0;
        for (uint32_t i = 0; i < n; i++)
            if (scaled[i] >= mx - 16.0f) {
                idx[c++] = (int32_t) i;
                zc += exp_nonpos(scaled[i] - mx);
            }
        if (zc >= (double) p->top_p * z_all) m = c;
    }
    if (m == n)
        for (uint32_t i = 0; i < n; i++) idx[i] = (int32_t) i;
    uint32_t keep = select_top(scaled, idx, m, use_k ? (uint32_t) p->top_k : m);
    const float mx = scaled[idx[0]];
    if (p->top_p < 1.0f) {
        /* softmax over the kept set (every token without top-k; summed again over the kept ones
         * when nothing had mass), then the smallest prefix with mass >= top_p */
        const double z = use_k || !(z_all > 0.0) ? sum_kept(scaled, idx, keep, mx) : z_all;
        double cum = 0.0;
        uint32_t j = 0;
        for (; j < keep; j++) {
            cum += exp_nonpos(scaled[idx[j]] - mx) / z;
            if (cum >= (double) p->top_p) { j++; break; }
        }
        keep = j < 1 ? 1 : j;
    }
    const float lz = mx + (float) log(sum_kept(scaled, idx, keep, mx));
    for (uint32_t i = 0; i < n; i++) logp[i] = -INFINITY;
    for (uint32_t j = 0; j < keep; j++) logp[idx[j]] = scaled[idx[j]] - lz;
}
