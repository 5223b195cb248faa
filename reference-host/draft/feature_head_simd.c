/* feature_head_simd.c - the head's vector loops (see feature_head_internal.h): attention for one
 * row and one KV head (each key and value read once for the group of query heads sharing it),
 * SwiGLU, and the log-softmax / top-k over the draft vocabulary. Each has a portable C version; on
 * x86 CPUs with AVX2 and FMA a vectorised one runs instead (picked once at run time). */
#include "feature_head_internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FH_X86 1
#endif

#define FH_MAX_GRP FH_MAX_GROUP

int fh_simd_portable;

/* exp(x) for x <= 0 to about 2e-7 relative: 2^n * p(r) with a degree-6 polynomial; plain float
 * code without calls or branches, so loops over it vectorise */
static inline float exp_le0(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float t = x * 1.44269504f;
    const float nf = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    const float r = (x - nf * 0.693359375f) + nf * 2.12194440e-4f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t) nf + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}


#ifdef FH_X86
/* exp_le0 on 8 lanes, the same operations (so the same results) as the scalar version */
__attribute__((target("avx2,fma"))) static inline __m256 exp8_le0(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504f));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 nf = _mm256_sub_ps(_mm256_add_ps(t, magic), magic);
    const __m256 r = _mm256_add_ps(_mm256_sub_ps(x, _mm256_mul_ps(nf, _mm256_set1_ps(0.693359375f))),
                                   _mm256_mul_ps(nf, _mm256_set1_ps(2.12194440e-4f)));
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(0.5f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(nf), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}
#endif

static inline uint32_t key_slot(const fh_attn_t *a, uint32_t j) {
    return j < a->pre ? j : (uint32_t) a->extra[j - a->pre];
}

/* softmax of the scores rows in place (unnormalised weights; returns nothing, writes 1/z) */
static inline void softmax_rows(float *scores, uint32_t grp, uint32_t nk, float *inv_z) {
    for (uint32_t h = 0; h < grp; h++) {
        float *s = scores + (size_t) h * nk, mx = s[0];
        for (uint32_t j = 1; j < nk; j++) mx = s[j] > mx ? s[j] : mx;
        for (uint32_t j = 0; j < nk; j++) s[j] = exp_le0(s[j] - mx);
        float z = 0.0f;
        for (uint32_t j = 0; j < nk; j++) z += s[j];
        inv_z[h] = 1.0f / z;
    }
}

static void attend_portable(const fh_attn_t *a, float *scores, float *out) {
    const uint32_t hd = a->hd, grp = a->grp, nk = a->nk;
    float inv_z[FH_MAX_GRP];
    for (uint32_t j = 0; j < nk; j++) {
        const float *k = a->kc + (size_t) key_slot(a, j) * a->stride + a->off;
        for (uint32_t h = 0; h < grp; h++) {
            const float *q = a->q + (size_t) h * hd;
            float acc[8] = {0};
            uint32_t c = 0;
            for (; c + 8 <= hd; c += 8)
                for (uint32_t l = 0; l < 8; l++) acc[l] += q[c + l] * k[c + l];
            float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; c < hd; c++) s += q[c] * k[c];
            scores[(size_t) h * nk + j] = s * a->scale;
        }
    }
    softmax_rows(scores, grp, nk, inv_z);
    memset(out, 0, (size_t) grp * hd * sizeof *out);
    for (uint32_t j = 0; j < nk; j++) {
        const float *v = a->vc + (size_t) key_slot(a, j) * a->stride + a->off;
        for (uint32_t h = 0; h < grp; h++) {
            const float w = scores[(size_t) h * nk + j] * inv_z[h];
            float *o = out + (size_t) h * hd;
            for (uint32_t c = 0; c < hd; c++) o[c] += w * v[c];
        }
    }
}

#ifdef FH_X86
__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* hd a multiple of 8 */
__attribute__((target("avx2,fma"))) static void attend_avx2(const fh_attn_t *a, float *scores, float *out) {
    const uint32_t hd = a->hd, grp = a->grp, nk = a->nk;
    float inv_z[FH_MAX_GRP];
    for (uint32_t j = 0; j < nk; j++) {
        const float *k = a->kc + (size_t) key_slot(a, j) * a->stride + a->off;
        if (j + 1 < nk) _mm_prefetch((const char *) (a->kc + (size_t) key_slot(a, j + 1) * a->stride + a->off), _MM_HINT_T0);
        for (uint32_t h = 0; h < grp; h++) {
            const float *q = a->q + (size_t) h * hd;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            uint32_t c = 0;
            for (; c + 16 <= hd; c += 16) {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), _mm256_loadu_ps(k + c), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c + 8), _mm256_loadu_ps(k + c + 8), acc1);
            }
            for (; c < hd; c += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), _mm256_loadu_ps(k + c), acc0);
            scores[(size_t) h * nk + j] = hsum8(_mm256_add_ps(acc0, acc1)) * a->scale;
        }
    }
    for (uint32_t h = 0; h < grp; h++) {
        float *sc = scores + (size_t) h * nk, mx = sc[0], z = 0.0f;
        for (uint32_t j = 1; j < nk; j++) mx = sc[j] > mx ? sc[j] : mx;
        uint32_t j = 0;
        for (; j + 8 <= nk; j += 8)
            _mm256_storeu_ps(sc + j, exp8_le0(_mm256_sub_ps(_mm256_loadu_ps(sc + j), _mm256_set1_ps(mx))));
        for (; j < nk; j++) sc[j] = exp_le0(sc[j] - mx);
        for (j = 0; j < nk; j++) z += sc[j];
        inv_z[h] = 1.0f / z;
    }
    memset(out, 0, (size_t) grp * hd * sizeof *out);
    for (uint32_t j = 0; j < nk; j++) {
        const float *v = a->vc + (size_t) key_slot(a, j) * a->stride + a->off;
        for (uint32_t h = 0; h < grp; h++) {
            const __m256 w = _mm256_set1_ps(scores[(size_t) h * nk + j] * inv_z[h]);
            float *o = out + (size_t) h * hd;
            for (uint32_t c = 0; c < hd; c += 8)
                _mm256_storeu_ps(o + c, _mm256_fmadd_ps(w, _mm256_loadu_ps(v + c), _mm256_loadu_ps(o + c)));
        }
    }
}

static int have_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

/* sum of exp(x[j] - mx) (x[j] <= mx); 8 partial sums in double, so the order is fixed */
static inline double sum_exp(const float *x, uint32_t n, float mx, float *tmp) {
    for (uint32_t j = 0; j < n; j++) tmp[j] = exp_le0(x[j] - mx);
    double acc[8] = {0};
    uint32_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (uint32_t l = 0; l < 8; l++) acc[l] += tmp[j + l];
    double z = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) z += tmp[j];
    return z;
}

static double sum_exp_portable(const float *x, uint32_t n, float mx, float *tmp) { return sum_exp(x, n, mx, tmp); }
#ifdef FH_X86
__attribute__((target("avx2,fma"))) static double sum_exp_avx2(const float *x, uint32_t n, float mx, float *tmp) {
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    uint32_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp8_le0(_mm256_sub_ps(_mm256_loadu_ps(x + j), vmx));
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double acc[8];
    _mm256_storeu_pd(acc, a0);
    _mm256_storeu_pd(acc + 4, a1);
    double z = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) z += (tmp[j] = exp_le0(x[j] - mx));
    return z;
}
#endif

double fh_sum_exp(const float *x, uint32_t n, float mx, float *tmp) {
#ifdef FH_X86
    if (have_avx2() && !fh_simd_portable) return sum_exp_avx2(x, n, mx, tmp);
#endif
    return sum_exp_portable(x, n, mx, tmp);
}

/* SwiGLU: out = silu(gate) * up, silu(x) = x * sigmoid(x) from exp(-|x|) (no overflow, vectorises) */
static inline void swiglu(const float *gate, const float *up, float *out, uint32_t n) {
    for (uint32_t j = 0; j < n; j++) {
        const float x = gate[j], e = exp_le0(x < 0.0f ? x : -x);
        const float sig = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        out[j] = x * sig * up[j];
    }
}
static void swiglu_portable(const float *gate, const float *up, float *out, uint32_t n) { swiglu(gate, up, out, n); }
#ifdef FH_X86
__attribute__((target("avx2,fma"))) static void swiglu_avx2(const float *gate, const float *up, float *out, uint32_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    uint32_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_loadu_ps(gate + j);
        const __m256 e = exp8_le0(_mm256_or_ps(x, sign)); /* exp(-|x|) */
        const __m256 inv = _mm256_div_ps(one, _mm256_add_ps(one, e));
        const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
        const __m256 sig = _mm256_blendv_ps(_mm256_mul_ps(e, inv), inv, pos);
        _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(up + j)));
    }
    swiglu(gate + j, up + j, out + j, n - j);
}
#endif

void fh_swiglu(const float *gate, const float *up, float *out, uint32_t n) {
#ifdef FH_X86
    if (have_avx2() && !fh_simd_portable) {
        swiglu_avx2(gate, up, out, n);
        return;
    }
#endif
    swiglu_portable(gate, up, out, n);
}

/* the sorted top list: (value desc, id asc); inserts (v, id) if it belongs, m <= k entries */
static inline void topk_insert(float v, int32_t id, uint32_t k, uint32_t *m, int32_t *ids, float *vals) {
    if (*m == k && (v < vals[k - 1] || (v == vals[k - 1] && id > ids[k - 1]))) return;
    uint32_t pos = *m < k ? (*m)++ : k - 1;
    while (pos > 0 && (vals[pos - 1] < v || (vals[pos - 1] == v && ids[pos - 1] > id))) {
        ids[pos] = ids[pos - 1];
        vals[pos] = vals[pos - 1];
        pos--;
    }
    ids[pos] = id;
    vals[pos] = v;
}

static uint32_t topk_portable(const float *x, uint32_t n, const int32_t *map, uint32_t k, int32_t *ids, float *vals) {
    uint32_t m = 0;
    for (uint32_t j = 0; j < n; j++) topk_insert(x[j], map ? map[j] : (int32_t) j, k, &m, ids, vals);
    return m;
}

#ifdef FH_X86
/* 8 values at a time against the current k-th best: most chunks are skipped with one compare */
__attribute__((target("avx2,fma"))) static uint32_t topk_avx2(const float *x, uint32_t n, const int32_t *map, uint32_t k,
                                                              int32_t *ids, float *vals) {
    uint32_t m = 0, j = 0;
    for (; j < n && m < k; j++) topk_insert(x[j], map ? map[j] : (int32_t) j, k, &m, ids, vals);
    for (; j + 8 <= n; j += 8) {
        unsigned bits = (unsigned) _mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_loadu_ps(x + j), _mm256_set1_ps(vals[k - 1]), _CMP_GE_OQ));
        while (bits) {
            const uint32_t l = (uint32_t) __builtin_ctz(bits);
            bits &= bits - 1;
            topk_insert(x[j + l], map ? map[j + l] : (int32_t) (j + l), k, &m, ids, vals);
        }
    }
    for (; j < n; j++) topk_insert(x[j], map ? map[j] : (int32_t) j, k, &m, ids, vals);
    return m;
}
#endif

uint32_t fh_topk(const float *x, uint32_t n, const int32_t *map, uint32_t k, int32_t *ids, float *vals) {
    if (k == 0) return 0;
#ifdef FH_X86
    if (have_avx2() && !fh_simd_portable) return topk_avx2(x, n, map, k, ids, vals);
#endif
    return topk_portable(x, n, map, k, ids, vals);
}

void fh_attend(const fh_attn_t *a, float *scores, float *out) {
#ifdef FH_X86
    if (a->hd % 8 == 0 && a->grp <= FH_MAX_GRP && have_avx2() && !fh_simd_portable) {
        attend_avx2(a, scores, out);
        return;
    }
#endif
    attend_portable(a, scores, out);
}

