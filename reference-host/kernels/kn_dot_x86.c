/* kn_dot_x86.c - AVX2 and AVX-512 VNNI dot kernels, compiled per function with target
 * attributes so the library still runs on any x86-64 (kn_matmul picks them at run time).
 *
 * Every kernel handles nt <= KN_NT_MAX tokens per pass over a weight row: the weights are loaded
 * and unpacked once, then each token runs its own accumulators through the same instruction
 * sequence it would run alone (the NT-specialised bodies differ only in how many tokens they
 * carry), so results are bit-identical whatever nt is. */
#include <string.h>

#include "kn_internal.h"

#ifdef KN_X86
#include <immintrin.h>

#define T_AVX2   __attribute__((target("avx2,fma,f16c")))
#define T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INL      static inline __attribute__((always_inline))

/* expands a body taking a constant NT into a kernel with a runtime nt */
#define KN_DISPATCH_NT(T, name, body)                                                        \
    static T void name(int64_t cols, const void *w, const kn_act_t *a, int nt, float *out)  \
    {                                                                                        \
        switch (nt) {                                                                        \
        case 1: body(cols, w, a, 1, out); break;                                             \
        case 2: body(cols, w, a, 2, out); break;                                             \
        case 3: body(cols, w, a, 3, out); break;                                             \
        default: body(cols, w, a, 4, out); break;                                            \
        }                                                                                    \
    }

/* =============================== AVX2 =============================== */

INL T_AVX2 float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* u8 x s8 dot of 32 bytes into 8 int32 lanes (lane k: bytes 4k..4k+3); no saturation as long
 * as u8 * s8 pair sums fit int16, which holds for 4- and 6-bit weights */
INL T_AVX2 __m256i dot_u8s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* 16 packed nibbles -> 32 bytes in element order (low nibbles, then high nibbles) */
INL T_AVX2 __m256i unpack_nibbles(const uint8_t *qs)
{
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

INL T_AVX2 void q4_1_avx2_body(int64_t cols, const void *w, const kn_act_t *a, const int NT,
                               float *out)
{
    const blk_q4_1 *x = w;
    const int64_t nb = cols / QK;
    __m256 acc[KN_NT_MAX][2];
    float macc[KN_NT_MAX][2];
    for (int t = 0; t < NT; t++) {
        acc[t][0] = acc[t][1] = _mm256_setzero_ps();
        macc[t][0] = macc[t][1] = 0.0f;
    }
    for (int64_t b = 0; b < nb; b++) {
        const int k = (int)(b & 1);     /* two chains hide the FMA latency */
        __m256i wq = unpack_nibbles(x[b].qs);
        float dx = _cvtsh_ss(x[b].d), mx = _cvtsh_ss(x[b].m);
        for (int t = 0; t < NT; t++) {
            __m256i p = dot_u8s8(wq, _mm256_load_si256((const __m256i *)(a[t].qs + b * QK)));
            acc[t][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dx * a[t].d[b]),
                                        acc[t][k]);
            macc[t][k] += mx * a[t].s[b];
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(_mm256_add_ps(acc[t][0], acc[t][1])) + (macc[t][0] + macc[t][1]);
}
KN_DISPATCH_NT(T_AVX2, dot_q4_1_avx2, q4_1_avx2_body)

INL T_AVX2 void q4_0_avx2_body(int64_t cols, const void *w, const kn_act_t *a, const int NT,
                               float *out)
{
    const blk_q4_0 *x = w;
    const int64_t nb = cols / QK;
    __m256 acc[KN_NT_MAX][2];
    for (int t = 0; t < NT; t++)
        acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int k = (int)(b & 1);
        __m256i wq = unpack_nibbles(x[b].qs);
        float dx = _cvtsh_ss(x[b].d);
        for (int t = 0; t < NT; t++) {
            /* c4 = -8 * sums of 4 activations: turns the nibble dot into (nibble - 8) dot */
            __m256i p = _mm256_add_epi32(
                dot_u8s8(wq, _mm256_load_si256((const __m256i *)(a[t].qs + b * QK))),
                _mm256_load_si256((const __m256i *)(a[t].c4 + b * 8)));
            acc[t][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dx * a[t].d[b]),
                                        acc[t][k]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(_mm256_add_ps(acc[t][0], acc[t][1]));
}
KN_DISPATCH_NT(T_AVX2, dot_q4_0_avx2, q4_0_avx2_body)

INL T_AVX2 void q8_0_avx2_body(int64_t cols, const void *w, const kn_act_t *a, const int NT,
                               float *out)
{
    const blk_q8_0 *x = w;
    const int64_t nb = cols / QK;
    __m256 acc[KN_NT_MAX][2];
    for (int t = 0; t < NT; t++)
        acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int k = (int)(b & 1);
        __m256i wq = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i wabs = _mm256_sign_epi8(wq, wq);    /* |w| as u8, sign moved to y */
        float dx = _cvtsh_ss(x[b].d);
        for (int t = 0; t < NT; t++) {
            __m256i y = _mm256_load_si256((const __m256i *)(a[t].qs + b * QK));
            __m256i p = dot_u8s8(wabs, _mm256_sign_epi8(y, wq));
            acc[t][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dx * a[t].d[b]),
                                        acc[t][k]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(_mm256_add_ps(acc[t][0], acc[t][1]));
}
KN_DISPATCH_NT(T_AVX2, dot_q8_0_avx2, q8_0_avx2_body)

INL T_AVX2 void q4_k_avx2_body(int64_t cols, const void *w, const kn_act_t *a, const int NT,
                               float *out)
{
    const blk_q4_k *x = w;
    const int64_t nb = cols / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[KN_NT_MAX];
    float macc[KN_NT_MAX];
    for (int t = 0; t < NT; t++) {
        acc[t] = _mm256_setzero_ps();
        macc[t] = 0.0f;
    }
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++)
            kn_get_scale_min_k4(j, x[b].scales, &sc[j], &mn[j]);
        float d = _cvtsh_ss(x[b].d), dmin = _cvtsh_ss(x[b].dmin);
        __m256i isum[KN_NT_MAX];
        for (int t = 0; t < NT; t++)
            isum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * c));
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            __m256i s1 = _mm256_set1_epi16(sc[2 * c]), s2 = _mm256_set1_epi16(sc[2 * c + 1]);
            for (int t = 0; t < NT; t++) {
                const int8_t *q8 = a[t].qs + b * QK_K + 64 * c;
                __m256i p1 = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(lo, _mm256_load_si256((const __m256i *)q8)), s1);
                __m256i p2 = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(hi, _mm256_load_si256((const __m256i *)(q8 + 32))), s2);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p1, p2));
            }
        }
        for (int t = 0; t < NT; t++) {
            const int16_t *bs = a[t].bsums + b * 16;
            int msum = 0;
            for (int j = 0; j < 8; j++)
                msum += mn[j] * (bs[2 * j] + bs[2 * j + 1]);
            float dy = a[t].d[b];
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * dy), acc[t]);
            macc[t] += dmin * dy * (float)msum;
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(acc[t]) - macc[t];
}
KN_DISPATCH_NT(T_AVX2, dot_q4_k_avx2, q4_k_avx2_body)

INL T_AVX2 void q6_k_avx2_body(int64_t cols, const void *w, const kn_act_t *a, const int NT,
                               float *out)
{
    const blk_q6_k *x = w;
    const int64_t nb = cols / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    const __m256i m0c = _mm256_set1_epi8(0x0C), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[KN_NT_MAX];
    for (int t = 0; t < NT; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum[KN_NT_MAX];
        for (int t = 0; t < NT; t++)
            isum[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[b].ql + 64 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(x[b].qh + 32 * h));
            __m256i v[4], s[4];
            /* unsigned 6-bit values; the -32 offset is applied once per block via bsums */
            v[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            v[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(qh, m0c), 2));
            v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_and_si256(qh, m30));
            v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            for (int i = 0; i < 4; i++)
                s[i] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * i + 1]), _mm_set1_epi16(sc[2 * i]));
            for (int t = 0; t < NT; t++) {
                const int8_t *q8 = a[t].qs + b * QK_K + 128 * h;
                for (int i = 0; i < 4; i++) {
                    __m256i y = _mm256_load_si256((const __m256i *)(q8 + 32 * i));
                    isum[t] = _mm256_add_epi32(
                        isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(v[i], y), s[i]));
                }
            }
        }
        __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales));
        float d = _cvtsh_ss(x[b].d);
        for (int t = 0; t < NT; t++) {
            __m256i bs = _mm256_loadu_si256((const __m256i *)(a[t].bsums + b * 16));
            __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(scv, bs), 5);
            __m256i tot = _mm256_sub_epi32(isum[t], corr);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot), _mm256_set1_ps(d * a[t].d[b]),
                                     acc[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(acc[t]);
}
KN_DISPATCH_NT(T_AVX2, dot_q6_k_avx2, q6_k_avx2_body)

/* float weights: w8(i) loads 8 weights at index i as floats */
#define FLOAT_BODY_AVX2(NAME, WTYPE, W8, W1)                                                 \
    INL T_AVX2 void NAME(int64_t cols, const void *w, const kn_act_t *a, const int NT,      \
                         float *out)                                                         \
    {                                                                                        \
        const WTYPE *x = w;                                                                  \
        __m256 acc[KN_NT_MAX][2];                                                            \
        for (int t = 0; t < NT; t++)                                                         \
            acc[t][0] = acc[t][1] = _mm256_setzero_ps();                                     \
        int64_t i = 0;                                                                       \
        for (; i + 16 <= cols; i += 16) {                                                    \
            __m256 w0 = W8(x + i), w1 = W8(x + i + 8);                                       \
            for (int t = 0; t < NT; t++) {                                                   \
                acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(a[t].f + i), acc[t][0]);     \
                acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(a[t].f + i + 8), acc[t][1]); \
            }                                                                                \
        }                                                                                    \
        for (int t = 0; t < NT; t++) {                                                       \
            float s = hsum8(_mm256_add_ps(acc[t][0], acc[t][1]));                            \
            for (int64_t k = i; k < cols; k++)                                               \
                s += W1(x[k]) * a[t].f[k];                                                   \
            out[t] = s;                                                                      \
        }                                                                                    \
    }

#define F32_W8(p)  _mm256_loadu_ps(p)
#define F32_W1(v)  (v)
#define F16_W8(p)  _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define F16_W1(v)  _cvtsh_ss(v)
#define BF16_W8(p) _mm256_castsi256_ps(_mm256_slli_epi32(                                   \
                       _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define BF16_W1(v) kn_bf16_to_f32(v)

FLOAT_BODY_AVX2(f32_avx2_body, float, F32_W8, F32_W1)
FLOAT_BODY_AVX2(f16_avx2_body, uint16_t, F16_W8, F16_W1)
FLOAT_BODY_AVX2(bf16_avx2_body, uint16_t, BF16_W8, BF16_W1)
KN_DISPATCH_NT(T_AVX2, dot_f32_avx2, f32_avx2_body)
KN_DISPATCH_NT(T_AVX2, dot_f16_avx2, f16_avx2_body)
KN_DISPATCH_NT(T_AVX2, dot_bf16_avx2, bf16_avx2_body)

/* llama.cpp's order (ggml_vec_dot_q4_1_q8_1 / q8_0_q8_0, AVX2 path), see the AVX-512 twins below */
INL T_AVX2 void q4_1_ll2_body(int64_t cols, const void *w, const kn_act_t *a, const int NT, float *out)
{
    const blk_q4_1 *x = w;
    const int64_t nb = cols / QK;
    __m256 acc[KN_NT_MAX];
    float summs[KN_NT_MAX];
    for (int t = 0; t < NT; t++) {
        acc[t] = _mm256_setzero_ps();
        summs[t] = 0.0f;
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq = unpack_nibbles(x[b].qs);
        float dx = _cvtsh_ss(x[b].d), mx = _cvtsh_ss(x[b].m);
        for (int t = 0; t < NT; t++) {
            summs[t] = __builtin_fmaf(mx, a[t].s[b], summs[t]);
            __m256i p = dot_u8s8(wq, _mm256_load_si256((const __m256i *)(a[t].qs + b * QK)));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * a[t].d[b]), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(acc[t]) + summs[t];
}

INL T_AVX2 void q8_0_ll2_body(int64_t cols, const void *w, const kn_act_t *a, const int NT, float *out)
{
    const blk_q8_0 *x = w;
    const int64_t nb = cols / QK;
    __m256 acc[KN_NT_MAX];
    for (int t = 0; t < NT; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i ax = _mm256_sign_epi8(wq, wq);
        float dx = _cvtsh_ss(x[b].d);
        for (int t = 0; t < NT; t++) {
            __m256i sy = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)(a[t].qs + b * QK)), wq);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * a[t].d[b]), _mm256_cvtepi32_ps(dot_u8s8(ax, sy)), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(acc[t]);
}
KN_DISPATCH_NT(T_AVX2, dot_q4_1_ll2, q4_1_ll2_body)
KN_DISPATCH_NT(T_AVX2, dot_q8_0_ll2, q8_0_ll2_body)

kn_dot_fn kn_dot_avx2(uint32_t wtype)
{
    switch (wtype) {
    case GGML_TYPE_F32:  return dot_f32_avx2;
    case GGML_TYPE_F16:  return dot_f16_avx2;
    case GGML_TYPE_BF16: return dot_bf16_avx2;
    case GGML_TYPE_Q4_0: return dot_q4_0_avx2;
    case GGML_TYPE_Q4_1: return dot_q4_1_avx2;
    case GGML_TYPE_Q8_0: return dot_q8_0_avx2;
    case GGML_TYPE_Q4_K: return dot_q4_k_avx2;
    case GGML_TYPE_Q6_K: return dot_q6_k_avx2;
    default: return NULL;
    }
}

/* ============================ AVX-512 VNNI ============================ */

/* Two 32-element blocks per 512-bit register; lanes 0-7 belong to the even block, 8-15 to the
 * odd one, so per-block scales are applied lane-wise and the horizontal sum happens once per
 * row. The fp16 headers of 16 blocks are fetched with one gather and expanded per pair with a
 * lane permute; Q4_1's min term is one FMA per 16 blocks. An odd last block is done in scalar
 * integer code (its min term is already in the gathered group). */

enum { QV_Q4_1, QV_Q4_0, QV_Q8_0 };

/* nibbles of two blocks -> [lo0 hi0 lo1 hi1] (element order of both blocks) */
INL T_AVX512 __m512i unpack_nibbles2(const uint8_t *qs0, const uint8_t *qs1)
{
    __m256i a0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
    __m256i a1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(a0), a1, 1);
    z = _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(z, _mm512_set1_epi8(0xF));
}

INL T_AVX512 void qv_avx512_body(const int KIND, int64_t cols, const void *w, const kn_act_t *a,
                                 const int NT, float *out)
{
    const int bsz = KIND == QV_Q4_1 ? 20 : KIND == QV_Q4_0 ? 18 : 34;
    const int qoff = KIND == QV_Q4_1 ? 4 : 2;
    const uint8_t *x = w;
    const int64_t nb = cols / QK;
    const __m512i gidx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(bsz));
    const __m512i pidx0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[KN_NT_MAX][2], macc[KN_NT_MAX];
    for (int t = 0; t < NT; t++)
        acc[t][0] = acc[t][1] = macc[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nb; g += 16) {
        const int64_t gn = nb - g < 16 ? nb - g : 16;
        const __mmask16 km = (__mmask16)((1u << gn) - 1);
        __m512i hdr = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, gidx,
                                                  x + g * bsz, 1);
        __m512 d16 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr));
        __m512 dd16[KN_NT_MAX];     /* dx * dy of the group's 16 blocks, per token */
        for (int t = 0; t < NT; t++)
            dd16[t] = _mm512_mul_ps(d16, _mm512_maskz_loadu_ps(km, a[t].d + g));
        if (KIND == QV_Q4_1) {
            __m512 m16 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hdr, 16)));
            for (int t = 0; t < NT; t++)
                macc[t] = _mm512_fmadd_ps(m16, _mm512_maskz_loadu_ps(km, a[t].s + g), macc[t]);
        }
        for (int64_t j = 0; j + 1 < gn; j += 2) {
            const int64_t p = (g + j) / 2;
            const int k = (int)(p & 1);     /* two chains hide the FMA latency */
            const uint8_t *b0 = x + (g + j) * bsz, *b1 = b0 + bsz;
            __m512i wq;
            if (KIND == QV_Q8_0)            /* w + 128 as u8; c4 holds -128 * sums */
                wq = _mm512_xor_si512(_mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + qoff))),
                    _mm256_loadu_si256((const __m256i *)(b1 + qoff)), 1), flip);
            else
                wq = unpack_nibbles2(b0 + qoff, b1 + qoff);
            const __m512i pidx = _mm512_add_epi32(pidx0, _mm512_set1_epi32((int)j));
            for (int t = 0; t < NT; t++) {
                /* Q4_0/Q8_0 start from c4 = -bias * sums of 4 activations: exact signed dot */
                __m512i s0 = KIND == QV_Q4_1 ? _mm512_setzero_si512()
                                             : _mm512_load_si512(a[t].c4 + p * 16);
                __m512i s = _mm512_dpbusd_epi32(s0, wq, _mm512_load_si512(a[t].qs + p * 64));
                acc[t][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                            _mm512_permutexvar_ps(pidx, dd16[t]), acc[t][k]);
            }
        }
    }
    for (int t = 0; t < NT; t++) {
        __m512 s = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), macc[t]);
        float r = _mm512_reduce_add_ps(s);
        if (nb & 1) {
            const uint8_t *bl = x + (nb - 1) * bsz, *qs = bl + qoff;
            const int8_t *q = a[t].qs + (nb - 1) * QK;
            uint16_t dh;
            memcpy(&dh, bl, 2);
            int isum = 0;
            for (int j = 0; j < 16; j++) {
                if (KIND == QV_Q8_0)
                    isum += (int8_t)qs[j] * q[j] + (int8_t)qs[j + 16] * q[j + 16];
                else if (KIND == QV_Q4_0)
                    isum += ((qs[j] & 0xF) - 8) * q[j] + ((qs[j] >> 4) - 8) * q[j + 16];
                else
                    isum += (qs[j] & 0xF) * q[j] + (qs[j] >> 4) * q[j + 16];
            }
            r += (float)isum * (_cvtsh_ss(dh) * a[t].d[nb - 1]);
        }
        out[t] = r;
    }
}

/* Q4_1 reads 4 blocks per register: the packed bytes of block i fill 128-bit lane i, the low
 * nibbles pair with the first 16 activations of each block and the high nibbles with the last 16
 * (kn_act_t.qs4 is laid out that way), so no nibble reordering is needed. */
INL T_AVX512 void q4_1_avx512_body(int64_t cols, const void *w, const kn_act_t *a, const int NT,
                                   float *out)
{
    const uint8_t *x = w;
    const int64_t nb = cols / QK;
    const __m512i gidx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(20));
    const __m512i qidx0 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 acc[KN_NT_MAX][2], macc[KN_NT_MAX];
    for (int t = 0; t < NT; t++)
        acc[t][0] = acc[t][1] = macc[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nb; g += 16) {
        const int64_t gn = nb - g < 16 ? nb - g : 16;
        const __mmask16 km = (__mmask16)((1u << gn) - 1);
        __m512i hdr = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, gidx, x + g * 20, 1);
        __m512 d16 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr));
        __m512 m16 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hdr, 16)));
        __m512 dd16[KN_NT_MAX];     /* dx * dy of the group's 16 blocks, per token */
        for (int t = 0; t < NT; t++) {
            dd16[t] = _mm512_mul_ps(d16, _mm512_maskz_loadu_ps(km, a[t].d + g));
            macc[t] = _mm512_fmadd_ps(m16, _mm512_maskz_loadu_ps(km, a[t].s + g), macc[t]);
        }
        for (int64_t j = 0; j < gn; j += 4) {
            const int64_t q = (g + j) / 4;
            const int k = (int)(q & 1);     /* two chains hide the FMA latency */
            const uint8_t *b = x + (g + j) * 20 + 4;
            __m512i raw = _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)b));
            if (gn - j > 1) raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(b + 20)), 1);
            if (gn - j > 2) raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(b + 40)), 2);
            if (gn - j > 3) raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(b + 60)), 3);
            __m512i lo = _mm512_and_si512(raw, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
            const __m512i qidx = _mm512_add_epi32(qidx0, _mm512_set1_epi32((int)j));
            for (int t = 0; t < NT; t++) {
                const int8_t *y = a[t].qs4 + q * 128;
                __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_load_si512(y));
                s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(y + 64));
                acc[t][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                            _mm512_permutexvar_ps(qidx, dd16[t]), acc[t][k]);
            }
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), macc[t]));
}
INL T_AVX512 void q4_0_avx512_body(int64_t c, const void *w, const kn_act_t *a, const int NT, float *o)
{
    qv_avx512_body(QV_Q4_0, c, w, a, NT, o);
}
INL T_AVX512 void q8_0_avx512_body(int64_t c, const void *w, const kn_act_t *a, const int NT, float *o)
{
    qv_avx512_body(QV_Q8_0, c, w, a, NT, o);
}
KN_DISPATCH_NT(T_AVX512, dot_q4_1_avx512, q4_1_avx512_body)
KN_DISPATCH_NT(T_AVX512, dot_q4_0_avx512, q4_0_avx512_body)
KN_DISPATCH_NT(T_AVX512, dot_q8_0_avx512, q8_0_avx512_body)

#define FLOAT_BODY_AVX512(NAME, WTYPE, W16)                                                  \
    INL T_AVX512 void NAME(int64_t cols, const void *w, const kn_act_t *a, const int NT,    \
                           float *out)                                                       \
    {                                                                                        \
        const WTYPE *x = w;                                                                  \
        __m512 acc[KN_NT_MAX][2];                                                            \
        for (int t = 0; t < NT; t++)                                                         \
            acc[t][0] = acc[t][1] = _mm512_setzero_ps();                                     \
        int64_t i = 0;                                                                       \
        for (; i + 32 <= cols; i += 32) {                                                    \
            __m512 w0 = W16(x + i, 0xFFFF), w1 = W16(x + i + 16, 0xFFFF);                    \
            for (int t = 0; t < NT; t++) {                                                   \
                acc[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(a[t].f + i), acc[t][0]);     \
                acc[t][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(a[t].f + i + 16), acc[t][1]); \
            }                                                                                \
        }                                                                                    \
        for (; i < cols; i += 16) {                                                          \
            int64_t left = cols - i;                                                         \
            __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);    \
            __m512 w0 = W16(x + i, m);                                                       \
            for (int t = 0; t < NT; t++)                                                     \
                acc[t][0] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, a[t].f + i),        \
                                            acc[t][0]);                                      \
        }                                                                                    \
        for (int t = 0; t < NT; t++)                                                         \
            out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));              \
    }

#define F32_W16(p, m)  _mm512_maskz_loadu_ps((m), (p))
#define F16_W16(p, m)  _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (p)))
#define BF16_W16(p, m) _mm512_castsi512_ps(_mm512_slli_epi32(                               \
                           _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16((m), (p))), 16))

FLOAT_BODY_AVX512(f32_avx512_body, float, F32_W16)
FLOAT_BODY_AVX512(f16_avx512_body, uint16_t, F16_W16)
FLOAT_BODY_AVX512(bf16_avx512_body, uint16_t, BF16_W16)
KN_DISPATCH_NT(T_AVX512, dot_f32_avx512, f32_avx512_body)
KN_DISPATCH_NT(T_AVX512, dot_f16_avx512, f16_avx512_body)
KN_DISPATCH_NT(T_AVX512, dot_bf16_avx512, bf16_avx512_body)

/* ---- llama.cpp's order (ggml_vec_dot_q4_1_q8_1 / q8_0_q8_0, AVX2 path): one 8-lane
 * accumulator per token, lane k = int dot of elements 4k..4k+3 of each block, acc = fma(dx*dy,
 * lane, acc) block after block; Q4_1's min term is a scalar fma chain; then hsum8 (+ mins). Bit-
 * identical to llama.cpp's CPU results, which differ from any other order in the last bits and
 * then grow through the next activation quantization. */
INL T_AVX512 void q4_1_ll_body(int64_t cols, const void *w, const kn_act_t *a, const int NT, float *out)
{
    const blk_q4_1 *x = w;
    const int64_t nb = cols / QK;
    __m256 acc[KN_NT_MAX];
    float summs[KN_NT_MAX];
    for (int t = 0; t < NT; t++) {
        acc[t] = _mm256_setzero_ps();
        summs[t] = 0.0f;
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq = unpack_nibbles(x[b].qs);
        float dx = _cvtsh_ss(x[b].d), mx = _cvtsh_ss(x[b].m);
        for (int t = 0; t < NT; t++) {
            summs[t] = __builtin_fmaf(mx, a[t].s[b], summs[t]);
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wq,
                                            _mm256_load_si256((const __m256i *)(a[t].qs + b * QK)));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * a[t].d[b]), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(acc[t]) + summs[t];
}

INL T_AVX512 void q8_0_ll_body(int64_t cols, const void *w, const kn_act_t *a, const int NT, float *out)
{
    const blk_q8_0 *x = w;
    const int64_t nb = cols / QK;
    __m256 acc[KN_NT_MAX];
    for (int t = 0; t < NT; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i ax = _mm256_sign_epi8(wq, wq);
        float dx = _cvtsh_ss(x[b].d);
        for (int t = 0; t < NT; t++) {
            __m256i sy = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)(a[t].qs + b * QK)), wq);
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * a[t].d[b]), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = hsum8(acc[t]);
}
KN_DISPATCH_NT(T_AVX512, dot_q4_1_ll, q4_1_ll_body)
KN_DISPATCH_NT(T_AVX512, dot_q8_0_ll, q8_0_ll_body)

/* llama.cpp-order kernels (KN_MODE_LLAMA): the AVX-512 VNNI twins when the ISA allows */
kn_dot_fn kn_dot_llama(uint32_t wtype, int isa)
{
    if (wtype == GGML_TYPE_Q4_1) return isa >= KN_ISA_AVX512VNNI ? dot_q4_1_ll : isa >= KN_ISA_AVX2 ? dot_q4_1_ll2 : NULL;
    if (wtype == GGML_TYPE_Q8_0) return isa >= KN_ISA_AVX512VNNI ? dot_q8_0_ll : isa >= KN_ISA_AVX2 ? dot_q8_0_ll2 : NULL;
    return NULL;
}

kn_dot_fn kn_dot_avx512(uint32_t wtype)
{
    switch (wtype) {
    case GGML_TYPE_F32:  return dot_f32_avx512;
    case GGML_TYPE_F16:  return dot_f16_avx512;
    case GGML_TYPE_BF16: return dot_bf16_avx512;
    case GGML_TYPE_Q4_0: return dot_q4_0_avx512;
    case GGML_TYPE_Q4_1: return dot_q4_1_avx512;
    case GGML_TYPE_Q8_0: return dot_q8_0_avx512;
    default: return NULL;   /* K-quants: the AVX2 kernels (maddubs applies the scales) */
    }
}

#else /* not x86-64 */

kn_dot_fn kn_dot_avx2(uint32_t wtype) { (void)wtype; return NULL; }
kn_dot_fn kn_dot_avx512(uint32_t wtype) { (void)wtype; return NULL; }
kn_dot_fn kn_dot_llama(uint32_t wtype, int isa) { (void)wtype; (void)isa; return NULL; }

#endif
