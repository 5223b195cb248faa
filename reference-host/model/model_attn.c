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
 * the same in both, so the choice never changes a result.
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
#else
#define ATTN_FN   llm_attention_task
#define SWIGLU_FN llm_swiglu_row
#define ROPE_FN   llm_rope_row
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

/* SwiGLU of one row as ggml_vec_swiglu_f32: g = g / (1 + ggml_expf(-g)) * u in 16-wide chunks,
 * a tail (n % 16) with the C library's expf */
void SWIGLU_FN(float *g, const float *u, uint32_t n)
{
    const uint32_t n16 = n / 16 * 16;
    uint32_t k = 0;
    for (; k < n16; k++)
        g[k] = g[k] / (1.0f + ggml_expf(0.0f - g[k])) * u[k];
    for (; k < n; k++)
        g[k] = g[k] / (1.0f + expf(-g[k])) * u[k];
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
