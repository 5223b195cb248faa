/* model_attn.c - attention of one (batch row, query head) pair over the committed rows and the
 * row's ancestors in the batch, with llama.cpp's CPU numerics (flash attention off, F16 cache),
 * plus the other per-row steps that need FMA (RoPE, SwiGLU):
 *   scores  s_j = dot(fp16(q), K_j) * scale;
 *   softmax e_j = ggml_expf(s_j - max), sum = double sum of 16-key float partial sums
 *           (ggml_vec_soft_max_f32), p_j = fp16(e_j * (float)(1/sum));
 *   output  out[d] = dot over keys j of p_j and V_j[d] (llama.cpp's V cache is transposed).
 * Both dots follow one of ggml's two F16 dot orders (c->attn_arr): with 16 lanes and `arr`
 * accumulators, element i goes to accumulator (i / 16) % arr, lane i % 16, by FMA; then the
 * accumulators are added ((a0 + a2) + (a1 + a3) for 4) and the lanes reduced.
 *   arr 4: ggml_vec_dot_f16 (AVX-512), what llama.cpp uses for a one-token batch (decode);
 *   arr 1: tinyBLAS (llamafile sgemm, AVX-512), what llama.cpp uses for 2 or more tokens.
 * Key index j is the key's position (committed rows 0..n_past-1, then the row's ancestors, whose
 * positions continue from n_past), so with a fixed order the result does not depend on the batch.
 *
 * Compiled twice on x86-64: as is, and with -mavx2 -mfma -mf16c -DMODEL_ATTN_AVX2 (symbol suffix
 * _avx2); the context picks one at creation. Every FMA is an fmaf and every other operation is
 * the same in both, so the choice never changes a result. The AVX2 build also has a fast path
 * (llm_attention_fast_avx2, see there) that the context uses for an F16 cache: the per-result
 * operations of llm_attention_task_avx2 in a cheaper loop order, checked bit for bit against it
 * by tests/model/test_attn_fast.c.
 */
#include <math.h>
#include <string.h>

#ifdef MODEL_ATTN_AVX2
#include <immintrin.h>
#endif

#include "model_internal.h"

#ifdef MODEL_ATTN_AVX2
#define ATTN_FN   llm_attention_task_avx2
#define SWIGLU_FN llm_swiglu_row_avx2
#define ROPE_FN   llm_rope_row_avx2
#define F16_STORE_FN llm_f16_store_avx2
#define F16_ROUND_FN llm_f16_round_avx2
#else
#define ATTN_FN   llm_attention_task
#define SWIGLU_FN llm_swiglu_row
#define ROPE_FN   llm_rope_row
#define F16_STORE_FN llm_f16_store
#define F16_ROUND_FN llm_f16_round
#endif

/* normal (adjacent-pair) RoPE on n_heads heads of one row at table row cs/sn, as llama.cpp's
 * compiled rotate_pairs evaluates it (GCC contracts x0*cos - x1*sin into one FMA) */
void ROPE_FN(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t rope_dim, const float *cs, const float *sn)
{
    for (uint32_t h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (uint32_t i = 0; i < rope_dim / 2; i++) {
            const float x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = fmaf(x0, cs[i], -(x1 * sn[i]));
            x[2 * i + 1] = fmaf(x0, sn[i], x1 * cs[i]);
        }
    }
}

/* ggml_v_expf (ggml-cpu vec.h, AVX-512 build), one lane at a time: llama.cpp's softmax and SiLU
 * use it instead of the C library's expf, and the two differ in the last bit now and then */
static inline float ggml_expf(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192.0f)
        return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    const int e = (int)n;   /* scalef(j, n): j * 2^n, rounded once */
    if (e >= -126 && e <= 127) {
        const uint32_t bits = (uint32_t)(e + 127) << 23;
        float p2;
        memcpy(&p2, &bits, sizeof p2);
        return j * p2;
    }
    return ldexpf(j, e);
}

#ifdef MODEL_ATTN_AVX2
static inline __m256 expf_avx2(__m256 x);
#endif

/* SwiGLU of one row as ggml_vec_swiglu_f32: g = g / (1 + ggml_expf(-g)) * u in 16-wide chunks,
 * a tail (n % 16) with the C library's expf */
void SWIGLU_FN(float *g, const float *u, uint32_t n)
{
    const uint32_t n16 = n / 16 * 16;
    uint32_t k = 0;
#ifdef MODEL_ATTN_AVX2
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; k < n16; k += 8) {   /* the same operations, 8 lanes at a time */
        const __m256 x = _mm256_loadu_ps(g + k);
        const __m256 den = _mm256_add_ps(one, expf_avx2(_mm256_sub_ps(zero, x)));
        _mm256_storeu_ps(g + k, _mm256_mul_ps(_mm256_div_ps(x, den), _mm256_loadu_ps(u + k)));
    }
#endif
    for (; k < n16; k++)
        g[k] = g[k] / (1.0f + ggml_expf(0.0f - g[k])) * u[k];
    for (; k < n; k++)
        g[k] = g[k] / (1.0f + expf(-g[k])) * u[k];
}

/* dst = fp16(src), as kn_f32_to_fp16 (round to nearest even; NaN -> 0x7e00 with the sign) */
void F16_STORE_FN(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
#ifdef MODEL_ATTN_AVX2
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(src + i);
        __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT);
        const int nan = _mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
        if (nan) {   /* F16C keeps NaN payload bits; the portable conversion does not */
            uint16_t t[8];
            _mm_storeu_si128((__m128i *)t, h);
            for (int l = 0; l < 8; l++)
                if (nan >> l & 1)
                    t[l] = kn_f32_to_fp16(src[i + (size_t)l]);
            h = _mm_loadu_si128((const __m128i *)t);
        }
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
#endif
    for (; i < n; i++)
        dst[i] = kn_f32_to_fp16(src[i]);
}

/* x = fp32(fp16(x)) */
void F16_ROUND_FN(float *x, size_t n)
{
    size_t i = 0;
#ifdef MODEL_ATTN_AVX2
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)))
            break;   /* NaN: the portable loop below gives the portable bits */
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)));
    }
#endif
    for (; i < n; i++)
        x[i] = kn_fp16_to_f32(kn_f32_to_fp16(x[i]));
}

#define LANES LLM_ATTN_LANES
#define MAXARR 4

/* the order of GCC's _mm512_reduce_add_ps: halves, quarters, then pairs */
static inline float reduce16(const float *a)
{
    float t3[8], t6[4];
    for (int i = 0; i < 8; i++)
        t3[i] = a[i + 8] + a[i];
    for (int i = 0; i < 4; i++)
        t6[i] = t3[i + 4] + t3[i];
    return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}

/* cache row `row` (kv_dim elements) of head offset `off` as n floats */
static inline const float *load_row(const llm_ctx_t *c, const void *cache, size_t elem, float *tmp, uint32_t n)
{
    if (!c->kv_f16)
        return (const float *)cache + elem;
    const uint16_t *h = (const uint16_t *)cache + elem;
    uint32_t i = 0;
#ifdef MODEL_ATTN_AVX2
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(tmp + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
#endif
    for (; i < n; i++)
        tmp[i] = kn_fp16_to_f32(h[i]);
    return tmp;
}

/* adds the arr accumulators of one lane the way GGML_F32x16_REDUCE does (arr 1 or 4) */
static inline float combine(const float *a, size_t stride, uint32_t arr)
{
    if (arr == 1)
        return a[0];
    return (a[0] + a[2 * stride]) + (a[stride] + a[3 * stride]);
}

/* FMA dot product of n floats in the order of `arr` accumulators of 16 lanes */
static inline float dot_lanes(const float *a, const float *b, uint32_t n, uint32_t arr)
{
    float acc[MAXARR * LANES] = { 0 }, lane[LANES];
    const uint32_t span = arr * LANES;
    for (uint32_t i = 0; i < n; i++)
        acc[i % span] = fmaf(a[i], b[i], acc[i % span]);
    for (int l = 0; l < LANES; l++)
        lane[l] = combine(acc + l, LANES, arr);
    return reduce16(lane);
}

/* acc[d] = fma(p, v[d], acc[d]) */
static inline void fma_row(float *acc, float p, const float *v, uint32_t n)
{
    for (uint32_t d = 0; d < n; d++)
        acc[d] = fmaf(p, v[d], acc[d]);
}

#ifdef MODEL_ATTN_AVX2
/* The same operations as dot_lanes / fma_row / the final reduction, 8 lanes at a time, reading
 * the fp16 cache directly (head_dim a multiple of 16). */
static inline float hsum8_avx2(__m256 v)   /* lanes (i, i+4), then (0, 2) + (1, 3): reduce16's tail */
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float dot_f16_avx2(const float *q, const uint16_t *k, uint32_t n, uint32_t arr)
{
    __m256 lo[MAXARR], hi[MAXARR];
    for (int a = 0; a < MAXARR; a++)
        lo[a] = hi[a] = _mm256_setzero_ps();
    for (uint32_t i = 0, ch = 0; i < n; i += LANES, ch++) {
        const uint32_t a = arr == 1 ? 0 : ch % MAXARR;
        lo[a] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), lo[a]);
        hi[a] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8),
                                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8))), hi[a]);
    }
    if (arr != 1) {
        lo[0] = _mm256_add_ps(_mm256_add_ps(lo[0], lo[2]), _mm256_add_ps(lo[1], lo[3]));
        hi[0] = _mm256_add_ps(_mm256_add_ps(hi[0], hi[2]), _mm256_add_ps(hi[1], hi[3]));
    }
    return hsum8_avx2(_mm256_add_ps(hi[0], lo[0]));   /* t3 = a[i + 8] + a[i], then reduce16's tail */
}

/* acc = p * v (first touch, what an FMA into zero gives) or fma(p, v, acc) */
static inline void fma_row_f16_avx2(float *acc, float p, const uint16_t *v, uint32_t n, int first)
{
    const __m256 pv = _mm256_set1_ps(p);
    for (uint32_t d = 0; d < n; d += 8) {
        const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d)));
        _mm256_storeu_ps(acc + d, first ? _mm256_mul_ps(pv, x) : _mm256_fmadd_ps(pv, x, _mm256_loadu_ps(acc + d)));
    }
}

/* out[d] = reduce16 over lanes of combine(accumulators), 8 values of d at a time */
static inline void reduce_rows_avx2(const float *acc, uint32_t hd, uint32_t arr, float *out)
{
    const size_t L = (size_t)LANES * hd;
    for (uint32_t d = 0; d < hd; d += 8) {
        __m256 a[LANES];
        for (int l = 0; l < LANES; l++) {
            const float *p = acc + (size_t)l * hd + d;
            a[l] = arr == 1 ? _mm256_loadu_ps(p)
                            : _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 2 * L)),
                                            _mm256_add_ps(_mm256_loadu_ps(p + L), _mm256_loadu_ps(p + 3 * L)));
        }
        __m256 t3[8], t6[4];
        for (int k = 0; k < 8; k++)
            t3[k] = _mm256_add_ps(a[k + 8], a[k]);
        for (int k = 0; k < 4; k++)
            t6[k] = _mm256_add_ps(t3[k + 4], t3[k]);
        _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(t6[0], t6[2]), _mm256_add_ps(t6[1], t6[3])));
    }
}

/* ---- the fast path (F16 cache, head_dim a multiple of 16) -------------------------------------
 * The same operations per result as the task below, in a cheaper loop structure:
 *  - llm_attention_prep_avx2 converts the layer's F16 K and V rows once per layer into f32
 *    scratch (exact; on the pool for long contexts), so no task converts a row per query head;
 *  - scores: one dot per key in dot_f16_avx2's order, f32 operands;
 *  - exp, the 1/sum scale and the fp16 rounding of p run 8 keys at a time (expf_avx2 below is
 *    ggml_expf lane by lane; lanes outside its fast range are redone by ggml_expf itself);
 *  - the output: for each accumulator slot s (key j goes to slot j % span) the FMA chain over
 *    keys s, s + span, ... runs in registers and is stored once (the old loop loaded, converted
 *    and stored an accumulator row per key), into a stack buffer that stays in L1 from task to
 *    task; then reduce_rows_avx2 as before. */

/* ggml_expf of 8 lanes; exact same operations as the scalar version */
static inline __m256 expf_avx2(__m256 x)
{
    const __m256 r = _mm256_set1_ps(0x1.8p23f), sign = _mm256_set1_ps(-0.0f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 nn = _mm256_xor_ps(n, sign);
    const __m256 b = _mm256_fmadd_ps(nn, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                     _mm256_fmadd_ps(nn, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_cvttps_epi32(n);
    const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(j, p2);
    /* lanes the scalar code treats otherwise: |n| > 192, or 2^e not a normal float (NaN too) */
    const __m256i lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(-126), e), hi = _mm256_cmpgt_epi32(e, _mm256_set1_epi32(127));
    const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(sign, n), _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const int odd = _mm256_movemask_ps(_mm256_or_ps(big, _mm256_castsi256_ps(_mm256_or_si256(lo, hi))));
    if (odd) {
        float xs[8], ys[8];
        _mm256_storeu_ps(xs, x);
        _mm256_storeu_ps(ys, y);
        for (int l = 0; l < 8; l++)
            if (odd >> l & 1)
                ys[l] = ggml_expf(xs[l]);
        y = _mm256_loadu_ps(ys);
    }
    return y;
}

/* dot_f16_avx2 with the keys already in f32 */
static inline __attribute__((always_inline)) float dot_f32_avx2(const float *q, const float *k, uint32_t n,
                                                                 uint32_t arr)
{
    __m256 lo[MAXARR], hi[MAXARR];
    for (int a = 0; a < MAXARR; a++)
        lo[a] = hi[a] = _mm256_setzero_ps();
    for (uint32_t i = 0, ch = 0; i < n; i += LANES, ch++) {
        const uint32_t a = arr == 1 ? 0 : ch % MAXARR;
        lo[a] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), lo[a]);
        hi[a] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), hi[a]);
    }
    if (arr != 1) {
        lo[0] = _mm256_add_ps(_mm256_add_ps(lo[0], lo[2]), _mm256_add_ps(lo[1], lo[3]));
        hi[0] = _mm256_add_ps(_mm256_add_ps(hi[0], hi[2]), _mm256_add_ps(hi[1], hi[3]));
    }
    return hsum8_avx2(_mm256_add_ps(hi[0], lo[0]));
}

/* Converts cache slots [s0, s1) of the current layer to f32 (K and V, kv_dim per slot). */
void llm_attention_prep_avx2(llm_ctx_t *c, uint32_t s0, uint32_t s1)
{
    const size_t kvd = c->kv_dim, n = (size_t)(s1 - s0) * kvd;
    const size_t off = (size_t)c->cur_layer * c->n_ctx * kvd + (size_t)s0 * kvd;
    for (int w = 0; w < 2; w++) {
        const uint16_t *src = (const uint16_t *)(w ? c->v_cache : c->k_cache) + off;
        float *dst = c->kv_f32 + (size_t)w * c->n_ctx * kvd + (size_t)s0 * kvd;
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
        for (; i < n; i++)
            dst[i] = _cvtsh_ss(src[i]);
    }
}

/* acc = the FMA chain of slot s over keys s, s + span, ... (< n_keys): p_s * V_s, then
 * fma(p_j, V_j, acc), all hd dims (8 at a time, up to 8 registers for hd 64) */
static inline __attribute__((always_inline)) void slot_chain(float *acc, const float *p, const float *vf,
                                                              const int32_t *anc, uint32_t n_past, uint32_t n_keys,
                                                              size_t kvd, uint32_t s, uint32_t span, uint32_t hd)
{
    for (uint32_t d0 = 0; d0 < hd; d0 += 64) {   /* blocks of 8 registers */
        const uint32_t nd = hd - d0 < 64 ? (hd - d0) / 8 : 8;
        __m256 a[8];
        const float *v = vf + (s < n_past ? (size_t)s : (size_t)n_past + (size_t)anc[s - n_past]) * kvd + d0;
        __m256 pj = _mm256_set1_ps(p[s]);
        for (uint32_t k = 0; k < nd; k++)
            a[k] = _mm256_mul_ps(pj, _mm256_loadu_ps(v + 8 * k));
        size_t j = (size_t)s + span;
        const size_t vstep = (size_t)span * kvd;
        v = vf + j * kvd + d0;
        for (; j < n_past; j += span, v += vstep) {   /* committed keys: a fixed stride */
            pj = _mm256_set1_ps(p[j]);
            for (uint32_t k = 0; k < nd; k++)
                a[k] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * k), a[k]);
        }
        for (; j < n_keys; j += span) {
            v = vf + ((size_t)n_past + (size_t)anc[j - n_past]) * kvd + d0;
            pj = _mm256_set1_ps(p[j]);
            for (uint32_t k = 0; k < nd; k++)
                a[k] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * k), a[k]);
        }
        for (uint32_t k = 0; k < nd; k++)
            _mm256_storeu_ps(acc + d0 + 8 * k, a[k]);
    }
}

static inline __attribute__((always_inline)) void attn_fast(llm_ctx_t *c, int64_t t, uint32_t hd, uint32_t arr)
{
    const llm_hparams_t *hp = &c->m->hp;
    const size_t kvd = c->kv_dim;
    const uint32_t i = (uint32_t)(t / hp->n_head), h = (uint32_t)(t % hp->n_head);
    const uint32_t kvh = h / (hp->n_head / hp->n_head_kv);
    const float *q = c->q + (size_t)i * c->q_dim + (size_t)h * hd;
    float *out = c->att + (size_t)i * c->q_dim + (size_t)h * hd;
    float *sc = c->scores + (size_t)t * c->n_ctx;
    const float *kf = c->kv_f32 + (size_t)kvh * hd, *vf = kf + (size_t)c->n_ctx * kvd;
    const uint32_t r = c->base + i, span = arr * LANES;
    const uint32_t n_past = c->n_past, n_anc = c->anc_len[r];
    const int32_t *anc = c->anc + (size_t)r * c->max_batch;
    const uint32_t n_keys = n_past + n_anc;
    const float scale = 1.0f / sqrtf((float)hd);

    float mx = -INFINITY;
    for (uint32_t j = 0; j < n_keys; j++) {
        const size_t slot = j < n_past ? j : (size_t)n_past + (size_t)anc[j - n_past];
        const float s = dot_f32_avx2(q, kf + slot * kvd, hd, arr) * scale;
        sc[j] = s;
        mx = s > mx ? s : mx;
    }
    /* exp; the sum of 16-key float partial sums (reduce16 = hsum8(hi + lo)) in double */
    const __m256 vmx = _mm256_set1_ps(mx);
    double sum = 0.0;
    uint32_t j0 = 0;
    for (; j0 + LANES <= n_keys; j0 += LANES) {
        const __m256 lo = expf_avx2(_mm256_sub_ps(_mm256_loadu_ps(sc + j0), vmx));
        const __m256 hi = expf_avx2(_mm256_sub_ps(_mm256_loadu_ps(sc + j0 + 8), vmx));
        _mm256_storeu_ps(sc + j0, lo);
        _mm256_storeu_ps(sc + j0 + 8, hi);
        sum += (double)hsum8_avx2(_mm256_add_ps(hi, lo));
    }
    if (j0 < n_keys) {   /* the last partial group: missing keys add 0 */
        float e16[LANES] = { 0 };
        for (uint32_t j = j0; j < n_keys; j++) {
            sc[j] = ggml_expf(sc[j] - mx);
            e16[j - j0] = sc[j];
        }
        sum += (double)reduce16(e16);
    }
    const float inv = (float)(1.0 / sum);
    const __m256 vinv = _mm256_set1_ps(inv);
    uint32_t j = 0;
    for (; j + 8 <= n_keys; j += 8)
        _mm256_storeu_ps(sc + j, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(sc + j), vinv),
                                                                 _MM_FROUND_TO_NEAREST_INT)));
    for (; j < n_keys; j++)
        sc[j] = _cvtsh_ss(_cvtss_sh(sc[j] * inv, _MM_FROUND_TO_NEAREST_INT));

    /* slot s's accumulator row (keys j with j % span == s), then reduce_rows_avx2's tree */
    /* on the stack where it fits: it stays in L1 from task to task (the per-task scratch does not) */
    float stack_acc[MAXARR * LANES * 128] __attribute__((aligned(32)));
    float *acc = hd <= 128 ? stack_acc : c->attn_acc + (size_t)t * (MAXARR * LANES + 1) * hd;
    const uint32_t n_slots = n_keys < span ? n_keys : span;
    for (uint32_t s = 0; s < n_slots; s++)
        slot_chain(acc + (size_t)s * hd, sc, vf, anc, n_past, n_keys, kvd, s, span, hd);
    if (n_slots < span)   /* accumulators no key reaches */
        memset(acc + (size_t)n_slots * hd, 0, (size_t)(span - n_slots) * hd * sizeof *acc);
    reduce_rows_avx2(acc, hd, arr, out);
}

/* Task t = (row t / n_head, head t % n_head), as llm_attention_task; needs llm_attention_prep
 * for the layer first. */
void llm_attention_fast_avx2(void *arg, int64_t t)
{
    llm_ctx_t *c = arg;
    const uint32_t hd = c->m->hp.head_dim;
    if (hd == 64 && c->attn_arr == 4)   /* SmolLM2's head size, unrolled */
        attn_fast(c, t, 64, 4);
    else if (hd == 64)
        attn_fast(c, t, 64, 1);
    else
        attn_fast(c, t, hd, c->attn_arr);
}
#endif

/* Task t = (row i, head h). Keys in position order: committed slots 0..n_past-1, then the slots
 * n_past + anc[a] of the row's ancestors (itself last); masked rows are never touched. */
void ATTN_FN(void *arg, int64_t t)
{
    llm_ctx_t *c = arg;
    const llm_hparams_t *hp = &c->m->hp;
    const uint32_t hd = hp->head_dim, kvd = c->kv_dim;
    const uint32_t i = (uint32_t)(t / hp->n_head), h = (uint32_t)(t % hp->n_head);
    const uint32_t kvh = h / (hp->n_head / hp->n_head_kv);
    const size_t layer_off = (size_t)c->cur_layer * c->n_ctx * kvd + (size_t)kvh * hd;
    const float *q = c->q + (size_t)i * c->q_dim + (size_t)h * hd;
    float *out = c->att + (size_t)i * c->q_dim + (size_t)h * hd;
    float *sc = c->scores + (size_t)t * c->n_ctx;
    const uint32_t arr = c->attn_arr, span = arr * LANES;
    float *acc = c->attn_acc + (size_t)t * (MAXARR * LANES + 1) * hd;   /* span x hd accumulators */
    float *row = acc + (size_t)MAXARR * LANES * hd;                     /* one converted K or V row */
    const uint32_t r = c->base + i;   /* scratch id of this row */
    const uint32_t n_past = c->n_past, n_anc = c->anc_len[r];
    const int32_t *anc = c->anc + (size_t)r * c->max_batch;
    const uint32_t n_keys = n_past + n_anc;
    const float scale = 1.0f / sqrtf((float)hd);

#ifdef MODEL_ATTN_AVX2
    const int fast = c->kv_f16 && hd % LANES == 0;
#endif
    float mx = -INFINITY;
    for (uint32_t j = 0; j < n_keys; j++) {
        const size_t slot = j < n_past ? j : (size_t)n_past + (size_t)anc[j - n_past];
        float s;
#ifdef MODEL_ATTN_AVX2
        if (fast)
            s = dot_f16_avx2(q, (const uint16_t *)c->k_cache + layer_off + slot * kvd, hd, arr) * scale;
        else
#endif
            s = dot_lanes(q, load_row(c, c->k_cache, layer_off + slot * kvd, row, hd), hd, arr) * scale;
        sc[j] = s;
        mx = s > mx ? s : mx;
    }
    /* exp, and the sum as ggml_vec_soft_max_f32 forms it: float sums of 16 keys, added in double */
    double sum = 0.0;
    for (uint32_t j0 = 0; j0 < n_keys; j0 += LANES) {
        float e16[LANES] = { 0 };
        for (uint32_t j = j0; j < n_keys && j < j0 + LANES; j++) {
            sc[j] = ggml_expf(sc[j] - mx);
            e16[j - j0] = sc[j];
        }
        sum += (double)reduce16(e16);
    }
    const float inv = (float)(1.0 / sum);

#ifdef MODEL_ATTN_AVX2
    if (fast) {
        if (n_keys < span)   /* accumulators no key reaches */
            memset(acc + (size_t)n_keys * hd, 0, (size_t)(span - n_keys) * hd * sizeof *acc);
        for (uint32_t j = 0; j < n_keys; j++) {
            const size_t slot = j < n_past ? j : (size_t)n_past + (size_t)anc[j - n_past];
            const float p = _cvtsh_ss(_cvtss_sh(sc[j] * inv, _MM_FROUND_TO_NEAREST_INT));
            fma_row_f16_avx2(acc + (size_t)(j % span) * hd, p, (const uint16_t *)c->v_cache + layer_off + slot * kvd,
                             hd, j < span);
        }
        reduce_rows_avx2(acc, hd, arr, out);
        return;
    }
#endif
    memset(acc, 0, (size_t)span * hd * sizeof *acc);
    for (uint32_t j = 0; j < n_keys; j++) {
        const size_t slot = j < n_past ? j : (size_t)n_past + (size_t)anc[j - n_past];
        const float *v = load_row(c, c->v_cache, layer_off + slot * kvd, row, hd);
        float p = sc[j] * inv;
        if (c->kv_f16)
            p = kn_fp16_to_f32(kn_f32_to_fp16(p));
        fma_row(acc + (size_t)(j % span) * hd, p, v, hd);
    }
    for (uint32_t d = 0; d < hd; d++) {
        float a[LANES];
        for (int l = 0; l < LANES; l++)
            a[l] = combine(acc + (size_t)l * hd + d, (size_t)LANES * hd, arr);
        out[d] = reduce16(a);
    }
}
