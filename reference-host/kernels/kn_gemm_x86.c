/* kn_gemm_x86.c - register-blocked Q4_1 / Q8_0 matrix product for AVX-512 VNNI (layout and
 * numerics in kn_gemm.h).
 *
 * Why a packed layout: with 16 blocks per register and one block per dword lane, vpdpbusd leaves
 * a whole block's integer dot product in a lane, so the float work (convert, scale, accumulate)
 * is done once per 16 blocks instead of once per 4 lanes of every block. A tile of up to 4 rows x
 * 4 tokens keeps 16 integer accumulators in registers: each unpacked weight register feeds 4
 * tokens and each activation load feeds 4 rows. */
#include <string.h>

#include "kn_gemm.h"

#ifdef KN_X86
#include <immintrin.h>

#define T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INL      static inline __attribute__((always_inline))

#define TILE_R 4
#define TILE_T 4

int kn_g_supported(uint32_t type)
{
    return (type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q8_0) &&
           kn_isa_current() >= KN_ISA_AVX512VNNI;
}

size_t kn_g_group_bytes(uint32_t type)
{
    return type == GGML_TYPE_Q4_1 ? 320 : type == GGML_TYPE_Q8_0 ? 576 : 0;
}

/* bytes [off, off + 16) of 16 blocks at p + j * stride -> 4 registers, dword lane j of register
 * k = bytes off + 4k .. off + 4k + 3 of block j (a 4x4 dword transpose in every 128-bit lane) */
INL T_AVX512 void transpose16(const uint8_t *p, size_t stride, size_t off, __m512i out[4])
{
    __m512i z[4];
    for (int b = 0; b < 4; b++) {   /* z[b], 128-bit lane a: block 4a + b */
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + (size_t)b * stride + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + (size_t)(4 + b) * stride + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + (size_t)(8 + b) * stride + off)), 2);
        z[b] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + (size_t)(12 + b) * stride + off)), 3);
    }
    __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* 16 Q4_1 blocks -> the packed group in registers: c[0..3] packed-byte chunks, c[4] headers.
 * 16 blocks are 80 dwords (5 registers) and dword c of block j is dword 5j + c, so each output
 * is three two-source permutes, blended (no gathers or inserts) */
INL T_AVX512 void q4_1_group_regs(const uint8_t *src, __m512i out[5])
{
    __m512i s[5];
    for (int i = 0; i < 5; i++)
        s[i] = _mm512_loadu_si512(src + 64 * i);
    const __m512i five_j = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(5));
    for (int c = 0; c < 5; c++) {   /* c = 0: header; 1..4: packed bytes 4(c-1)..4(c-1)+3 */
        __m512i idx = _mm512_add_epi32(five_j, _mm512_set1_epi32(c));
        __m512i lo = _mm512_permutex2var_epi32(s[0], idx, s[1]);
        __m512i mid = _mm512_permutex2var_epi32(s[2], idx, s[3]);
        __m512i hi = _mm512_permutexvar_epi32(idx, s[4]);
        __mmask16 in_mid = _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(32));
        __mmask16 in_hi = _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(64));
        out[c ? c - 1 : 4] = _mm512_mask_blend_epi32(in_hi, _mm512_mask_blend_epi32(in_mid, lo, mid), hi);
    }
}

/* one group of 16 blocks (all present) at src, block size bsz */
INL T_AVX512 void pack_group(int q41, const uint8_t *src, size_t bsz, uint8_t *dst)
{
    if (q41) {
        __m512i c[5];
        q4_1_group_regs(src, c);
        for (int k = 0; k < 4; k++)
            _mm512_store_si512(dst + 64 * k, c[k]);
        _mm512_store_si512(dst + 256, c[4]);
    } else {
        __m512i c[4];
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        for (int h = 0; h < 2; h++) {
            transpose16(src, bsz, 2 + 16 * (size_t)h, c);
            for (int k = 0; k < 4; k++)
                _mm512_store_si512(dst + 64 * (4 * h + k), _mm512_xor_si512(c[k], flip));
        }
        for (int j = 0; j < KN_G_BLOCKS; j++) {     /* scalar: cheaper than a gather here */
            uint16_t h;
            uint32_t h32;
            memcpy(&h, src + (size_t)j * bsz, 2);
            h32 = h;
            memcpy(dst + 512 + 4 * j, &h32, 4);
        }
    }
}

size_t kn_g_tile_bytes(uint32_t type, int64_t cols)
{
    return (size_t)(4 * kn_g_full(cols) + kn_g_tail_groups(cols)) * kn_g_group_bytes(type);
}

T_AVX512 void kn_g_pack_weights(uint32_t type, const void *w, size_t row_bytes, int64_t cols,
                                int64_t nrows, void *dst)
{
    const int q41 = type == GGML_TYPE_Q4_1;
    const size_t bsz = q41 ? 20 : 34, gb = kn_g_group_bytes(type);
    const int64_t nf = kn_g_full(cols), ntb = kn_g_tail_blocks(cols), ntg = kn_g_tail_groups(cols);
    uint8_t *d = dst;
    for (int64_t r0 = 0; r0 < nrows; r0 += 4) {
        const int64_t nr = nrows - r0 < 4 ? nrows - r0 : 4;
        for (int64_t r = 0; r < 4; r++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)(r0 + r) * row_bytes;
            for (int64_t g = 0; g < nf; g++, d += gb) {
                if (r < nr)
                    pack_group(q41, row + (size_t)g * KN_G_BLOCKS * bsz, bsz, d);
                else
                    memset(d, 0, gb);
            }
        }
        /* tail groups: lane l = r * ntb + b (counted, not divided: this runs per call) */
        uint8_t tmp[4][KN_G_BLOCKS * 34];
        memset(tmp, 0, (size_t)ntg * sizeof(tmp[0]));
        for (int64_t r = 0, l = 0; r < nr; r++)
            for (int64_t b = 0; b < ntb; b++, l++) {
                uint8_t *to = tmp[l / KN_G_BLOCKS] + (l % KN_G_BLOCKS) * bsz;
                const uint8_t *from = (const uint8_t *)w + (size_t)(r0 + r) * row_bytes +
                                      (nf * KN_G_BLOCKS + b) * bsz;
                if (q41)    /* constant sizes: inlined copies, not library calls */
                    memcpy(to, from, 20);
                else
                    memcpy(to, from, 34);
            }
        for (int64_t tg = 0; tg < ntg; tg++, d += gb)
            pack_group(q41, tmp[tg], bsz, d);
    }
}

/* 16 blocks of a token (block j at qs + 32 * j, scales d[j], s[j]) -> one packed group */
INL T_AVX512 void pack_act_group(int q41, const int8_t *qs, const float *dv, const float *sv,
                                 uint8_t *d)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i c[4], sum = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        transpose16((const uint8_t *)qs, QK, 16 * (size_t)h, c);
        for (int k = 0; k < 4; k++) {
            _mm512_store_si512(d + 64 * (4 * h + k), c[k]);
            sum = _mm512_dpbusd_epi32(sum, ones, c[k]);
        }
    }
    _mm512_store_ps(d + 512, _mm512_loadu_ps(dv));
    if (q41)
        _mm512_store_ps(d + 576, _mm512_loadu_ps(sv));
    else    /* Q8_0 weights are fed as w + 128: subtract 128 * block sums */
        _mm512_store_si512(d + 576, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
}

T_AVX512 void kn_g_pack_act(uint32_t type, const kn_act_t *a, int64_t cols, void *dst)
{
    const int q41 = type == GGML_TYPE_Q4_1;
    const int64_t nf = kn_g_full(cols), ntb = kn_g_tail_blocks(cols), ntg = kn_g_tail_groups(cols);
    uint8_t *d = dst;
    for (int64_t g = 0; g < nf; g++, d += KN_G_ACT_GROUP) {
        const int64_t b0 = g * KN_G_BLOCKS;
        pack_act_group(q41, a->qs + b0 * QK, a->d + b0, q41 ? a->s + b0 : NULL, d);
    }
    for (int64_t tg = 0; tg < ntg; tg++, d += KN_G_ACT_GROUP) {
        _Alignas(64) int8_t qs[KN_G_BLOCKS * QK];
        float dv[KN_G_BLOCKS], sv[KN_G_BLOCKS];
        memset(qs, 0, sizeof(qs));
        for (int64_t i = 0; i < KN_G_BLOCKS; i++) {
            const int64_t l = tg * KN_G_BLOCKS + i, b = nf * KN_G_BLOCKS + l % ntb;
            dv[i] = sv[i] = 0.0f;
            if (l < 4 * ntb) {
                memcpy(qs + i * QK, a->qs + b * QK, QK);
                dv[i] = a->d[b];
                sv[i] = q41 ? a->s[b] : 0.0f;
            }
        }
        pack_act_group(q41, qs, dv, sv, d);
    }
}

/* R rows x T tokens; Q41 selects the weight format */
/* sum of the 16 lanes; the tree (lanes i + i+8, then i + i+4, i + i+2, i + i+1) is the one
 * hsum16x16 applies to each of its outputs, so both give identical bits */
INL T_AVX512 float hsum16(__m512 v)
{
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* lane sums of 16 vectors at once: dword 4i + j of the result is the sum of v[4j + i] */
INL T_AVX512 __m512 hsum16x16(const __m512 v[16])
{
    __m512 z[8], w[4], p[2];
    for (int k = 0; k < 8; k++)
        z[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
    for (int k = 0; k < 4; k++)
        w[k] = _mm512_add_ps(_mm512_shuffle_f32x4(z[2 * k], z[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(z[2 * k], z[2 * k + 1], 0xDD));
    for (int k = 0; k < 2; k++) {
        __m512d a = _mm512_castps_pd(w[2 * k]), b = _mm512_castps_pd(w[2 * k + 1]);
        p[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    return _mm512_add_ps(_mm512_shuffle_ps(p[0], p[1], 0x88), _mm512_shuffle_ps(p[0], p[1], 0xDD));
}

/* the 8 u8 weight registers of one packed group (Q4_1: low and high nibbles of each chunk) */
INL T_AVX512 void group_weights(const int Q41, const uint8_t *wg, __m512i wv[8])
{
    const __m512i m4 = _mm512_set1_epi8(0xF);
    for (int k = 0; k < 4; k++) {
        if (Q41) {
            __m512i raw = _mm512_load_si512(wg + 64 * k);
            wv[k] = _mm512_and_si512(raw, m4);
            wv[k + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
        } else {
            wv[k] = _mm512_load_si512(wg + 64 * k);
            wv[k + 4] = _mm512_load_si512(wg + 64 * (k + 4));
        }
    }
}

/* integer dot products of one packed weight group with one packed token group */
INL T_AVX512 __m512i group_isum(const int Q41, const __m512i wv[8], const uint8_t *xg)
{
    __m512i acc = Q41 ? _mm512_setzero_si512() : _mm512_load_si512(xg + 576);
    for (int q = 0; q < 8; q++)
        acc = _mm512_dpbusd_epi32(acc, wv[q], _mm512_load_si512(xg + 64 * q));
    return acc;
}

INL T_AVX512 void tile_body(const int Q41, int64_t ng, int64_t ntb, int64_t ntg,
                            const uint8_t *w, size_t wstride, const uint8_t *x, size_t xstride,
                            const int R, const int T, float *out, int64_t ldo)
{
    const size_t gb = Q41 ? 320 : 576;
    const __m512i m4 = _mm512_set1_epi8(0xF);
    (void)m4;
    __m512 facc[TILE_R][TILE_T];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            facc[r][t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *wg[TILE_R], *xg[TILE_T];
        for (int r = 0; r < R; r++)
            wg[r] = w + (size_t)r * wstride + (size_t)g * gb;
        for (int t = 0; t < T; t++)
            xg[t] = x + (size_t)t * xstride + (size_t)g * KN_G_ACT_GROUP;
        __m512i acc[TILE_R][TILE_T];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                acc[r][t] = Q41 ? _mm512_setzero_si512() : _mm512_load_si512(xg[t] + 576);
        if (Q41) {
            for (int k = 0; k < 4; k++) {
                __m512i lo[TILE_R], hi[TILE_R];
                for (int r = 0; r < R; r++) {
                    __m512i raw = _mm512_load_si512(wg[r] + 64 * k);
                    lo[r] = _mm512_and_si512(raw, m4);
                    hi[r] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
                }
                for (int t = 0; t < T; t++) {
                    __m512i alo = _mm512_load_si512(xg[t] + 64 * k);
                    __m512i ahi = _mm512_load_si512(xg[t] + 64 * (k + 4));
                    for (int r = 0; r < R; r++) {
                        acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], lo[r], alo);
                        acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], hi[r], ahi);
                    }
                }
            }
        } else {
            for (int q = 0; q < 8; q++) {
                __m512i wv[TILE_R];
                for (int r = 0; r < R; r++)
                    wv[r] = _mm512_load_si512(wg[r] + 64 * q);
                for (int t = 0; t < T; t++) {
                    __m512i av = _mm512_load_si512(xg[t] + 64 * q);
                    for (int r = 0; r < R; r++)
                        acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], wv[r], av);
                }
            }
        }
        __m512 dw[TILE_R], mw[TILE_R];
        for (int r = 0; r < R; r++) {
            __m512i hdr = _mm512_load_si512(wg[r] + (Q41 ? 256 : 512));
            dw[r] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr));
            mw[r] = Q41 ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hdr, 16)))
                        : _mm512_setzero_ps();
        }
        for (int t = 0; t < T; t++) {
            __m512 dx = _mm512_load_ps(xg[t] + 512);
            for (int r = 0; r < R; r++) {
                facc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][t]), _mm512_mul_ps(dw[r], dx),
                                             facc[r][t]);
                if (Q41)
                    facc[r][t] = _mm512_fmadd_ps(mw[r], _mm512_load_ps(xg[t] + 576), facc[r][t]);
            }
        }
    }
    /* tail groups: all 4 rows of the tile share each register */
    _Alignas(64) float v[TILE_T][4 * KN_G_BLOCKS];
    __m512 val[TILE_T];     /* the first tail group's values, kept for the permutes below */
    for (int t = 0; t < TILE_T; t++)
        val[t] = _mm512_setzero_ps();
    for (int64_t tg = 0; tg < ntg; tg++) {
        const uint8_t *wg = w + 4 * wstride + (size_t)tg * gb;
        __m512i hdr = _mm512_load_si512(wg + (Q41 ? 256 : 512));
        __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr));
        __m512 mw = Q41 ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hdr, 16)))
                        : _mm512_setzero_ps();
        __m512i wv[8];
        group_weights(Q41, wg, wv);
        for (int t = 0; t < T; t++) {
            const uint8_t *xg = x + (size_t)t * xstride + (size_t)(ng + tg) * KN_G_ACT_GROUP;
            __m512 vt = _mm512_mul_ps(_mm512_cvtepi32_ps(group_isum(Q41, wv, xg)),
                                      _mm512_mul_ps(dw, _mm512_load_ps(xg + 512)));
            if (Q41)
                vt = _mm512_fmadd_ps(mw, _mm512_load_ps(xg + 576), vt);
            if (ntg == 1)
                val[t] = vt;
            else
                _mm512_store_ps(v[t] + 16 * tg, vt);
        }
    }
    if (T == 1) {
        if (ntg == 1)
            _mm512_store_ps(v[0], val[0]);
        for (int r = 0; r < R; r++) {
            float y = hsum16(facc[r][0]);
            for (int64_t b = 0; b < ntb; b++)
                y += v[0][r * ntb + b];
            out[r] = y;
        }
        return;
    }
    __m512 all[16];     /* all[4r + t]: the result comes out token-major (dword 4t + r) */
    for (int k = 0; k < 16; k++)
        all[k] = k / 4 < R && k % 4 < T ? facc[k / 4][k % 4] : _mm512_setzero_ps();
    __m512 y = hsum16x16(all);
    /* + v_0 + v_1 + ...: tail block b of row r, token t is lane r * ntb + b of token t's values */
    const __m512i rb = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3),
                                          _mm512_set1_epi32((int)ntb));
    if (ntg == 1) {     /* up to 4 tail blocks: two-source permutes, no memory round trip */
        const __m512i odd_t = _mm512_setr_epi32(0, 0, 0, 0, 16, 16, 16, 16, 0, 0, 0, 0, 16, 16, 16, 16);
        for (int64_t b = 0; b < ntb; b++) {
            __m512i idx = _mm512_add_epi32(_mm512_add_epi32(rb, odd_t), _mm512_set1_epi32((int)b));
            __m512 lo = _mm512_permutex2var_ps(val[0], idx, val[1]);
            __m512 hi = _mm512_permutex2var_ps(val[2], idx, val[3]);
            y = _mm512_add_ps(y, _mm512_mask_blend_ps(0xFF00, lo, hi));
        }
    } else {
        const __mmask16 valid = (__mmask16)(((1u << (4 * T)) - 1) & (0x1111u * ((1u << R) - 1)));
        const __m512i lane = _mm512_add_epi32(rb, _mm512_setr_epi32(0, 0, 0, 0, 64, 64, 64, 64, 128, 128,
                                                                    128, 128, 192, 192, 192, 192));
        for (int64_t b = 0; b < ntb; b++)
            y = _mm512_add_ps(y, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid,
                _mm512_add_epi32(lane, _mm512_set1_epi32((int)b)), &v[0][0], 4));
    }
    _Alignas(64) float res[16];
    _mm512_store_ps(res, y);
    for (int t = 0; t < T; t++)
        _mm_mask_storeu_ps(out + t * ldo, (__mmask8)((1u << R) - 1), _mm_load_ps(res + 4 * t));
}

#define TILE_FN(NAME, Q41)                                                                   \
    static T_AVX512 void NAME(int64_t ng, int64_t ntb, int64_t ntg, const uint8_t *w,        \
                              size_t ws, const uint8_t *x, size_t xs, int R, int T,          \
                              float *out, int64_t ldo)                                       \
    {                                                                                        \
        switch (R * 8 + T) {                                                                 \
        case 8 + 1: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 1, 1, out, ldo); break;                 \
        case 8 + 2: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 1, 2, out, ldo); break;                 \
        case 8 + 3: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 1, 3, out, ldo); break;                 \
        case 8 + 4: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 1, 4, out, ldo); break;                 \
        case 16 + 1: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 2, 1, out, ldo); break;                \
        case 16 + 2: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 2, 2, out, ldo); break;                \
        case 16 + 3: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 2, 3, out, ldo); break;                \
        case 16 + 4: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 2, 4, out, ldo); break;                \
        case 24 + 1: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 3, 1, out, ldo); break;                \
        case 24 + 2: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 3, 2, out, ldo); break;                \
        case 24 + 3: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 3, 3, out, ldo); break;                \
        case 24 + 4: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 3, 4, out, ldo); break;                \
        case 32 + 1: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 4, 1, out, ldo); break;                \
        case 32 + 2: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 4, 2, out, ldo); break;                \
        case 32 + 3: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 4, 3, out, ldo); break;                \
        default: tile_body(Q41, ng, ntb, ntg, w, ws, x, xs, 4, 4, out, ldo); break;                    \
        }                                                                                    \
    }
TILE_FN(tile_q4_1, 1)
TILE_FN(tile_q8_0, 0)

void kn_g_compute(uint32_t type, int64_t cols, const void *w, int64_t nr, const void *x,
                  int64_t nt, float *out, int64_t ldo)
{
    const int64_t nf = kn_g_full(cols), ntb = kn_g_tail_blocks(cols), ntg = kn_g_tail_groups(cols);
    const size_t ws = (size_t)nf * kn_g_group_bytes(type), xs = kn_g_act_bytes(cols);
    const size_t tb = kn_g_tile_bytes(type, cols);
    void (*tile)(int64_t, int64_t, int64_t, const uint8_t *, size_t, const uint8_t *, size_t, int,
                 int, float *, int64_t) = type == GGML_TYPE_Q4_1 ? tile_q4_1 : tile_q8_0;
    for (int64_t r0 = 0; r0 < nr; r0 += TILE_R) {
        int R = nr - r0 < TILE_R ? (int)(nr - r0) : TILE_R;
        for (int64_t t0 = 0; t0 < nt; t0 += TILE_T) {
            int T = nt - t0 < TILE_T ? (int)(nt - t0) : TILE_T;
            tile(nf, ntb, ntg, (const uint8_t *)w + (size_t)(r0 / TILE_R) * tb, ws,
                 (const uint8_t *)x + (size_t)t0 * xs, xs, R, T, out + t0 * ldo + r0, ldo);
        }
    }
}

/* ---- direct Q8_0 kernel for a few tokens on unpacked weights ----
 * Packing costs about as much as a one-token product, so for small batches this reads the ggml
 * rows as they are: two blocks per register against the activations in element order, then the
 * 8 partial lanes of each block are summed (integer adds: exact, so the lane sums equal the packed
 * kernel's) into lane j = block j, and the float steps are those of tile_body. */

/* P[i]: lanes 0-7 partials of block 2i, 8-15 of block 2i+1 -> lane j: sum for block j */
INL T_AVX512 __m512i reduce_pairs(const __m512i P[8])
{
    __m512i q[4], r[2];
    for (int k = 0; k < 4; k++)     /* 128-bit lane c: block 4k + c (4 partials) */
        q[k] = _mm512_add_epi32(_mm512_shuffle_i32x4(P[2 * k], P[2 * k + 1], 0x88),
                                _mm512_shuffle_i32x4(P[2 * k], P[2 * k + 1], 0xDD));
    for (int m = 0; m < 2; m++)     /* lane c: blocks 8m + c, 8m + 4 + c (2 partials each) */
        r[m] = _mm512_add_epi32(_mm512_unpacklo_epi64(q[2 * m], q[2 * m + 1]),
                                _mm512_unpackhi_epi64(q[2 * m], q[2 * m + 1]));
    __m512 r0 = _mm512_castsi512_ps(r[0]), r1 = _mm512_castsi512_ps(r[1]);
    __m512i s = _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(r0, r1, 0x88)),
                                 _mm512_castps_si512(_mm512_shuffle_ps(r0, r1, 0xDD)));
    /* dword 4c + e holds block 4e + c */
    return _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), s);
}

/* integer sums of blocks b0 .. b0 + n - 1 (n <= 16; lanes >= n are 0) for NT tokens, plus corr */
INL T_AVX512 void direct_isums(const uint8_t *row, int64_t b0, int n, const kn_act_t *a,
                               const uint8_t *const xg[4], const int NT, __m512i isum[4])
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i P[4][8];
    for (int i = 0; i < 8; i++) {
        const int64_t b = b0 + 2 * i;
        const uint8_t *p = row + (size_t)b * 34 + 2;
        __m256i lo = 2 * i < n ? _mm256_loadu_si256((const __m256i *)p) : _mm256_setzero_si256();
        __m256i hi = 2 * i + 1 < n ? _mm256_loadu_si256((const __m256i *)(p + 34)) : _mm256_setzero_si256();
        __m512i w = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), flip);
        const __mmask64 km = 2 * i + 1 < n ? ~(__mmask64)0 : 2 * i < n ? 0xFFFFFFFFull : 0;
        for (int t = 0; t < NT; t++)    /* absent blocks: zero activations, so 0 products */
            P[t][i] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w,
                                          _mm512_maskz_loadu_epi8(km, a[t].qs + b * QK));
    }
    for (int t = 0; t < NT; t++)
        isum[t] = _mm512_add_epi32(reduce_pairs(P[t]), _mm512_load_si512(xg[t] + 576));
}

/* fp16 scales of blocks b0 .. b0 + n - 1 (0 beyond); a gather, not 16 scalar stores that a wide
 * load would then wait on */
INL T_AVX512 __m512 direct_dw(const uint8_t *row, int64_t b0, int n)
{
    const __m512i idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(34));
    const __mmask16 km = (__mmask16)((1u << n) - 1);
    __m512i h = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, idx, row + (size_t)b0 * 34, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h));
}

INL T_AVX512 void direct_q8_0_body(int64_t cols, const uint8_t *row, const kn_act_t *a,
                                   const uint8_t *x, size_t xs, const int NT, float *out,
                                   int64_t ldo)
{
    const int64_t nf = kn_g_full(cols), ntb = kn_g_tail_blocks(cols);
    __m512 facc[4];
    __m512i isum[4];
    const uint8_t *xg[4];
    for (int t = 0; t < NT; t++)
        facc[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nf; g++) {
        for (int t = 0; t < NT; t++)
            xg[t] = x + (size_t)t * xs + (size_t)g * KN_G_ACT_GROUP;
        direct_isums(row, g * KN_G_BLOCKS, KN_G_BLOCKS, a, xg, NT, isum);
        __m512 dw = direct_dw(row, g * KN_G_BLOCKS, KN_G_BLOCKS);
        for (int t = 0; t < NT; t++)
            facc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]),
                                      _mm512_mul_ps(dw, _mm512_load_ps(xg[t] + 512)), facc[t]);
    }
    float y[4];
    for (int t = 0; t < NT; t++)
        y[t] = hsum16(facc[t]);
    /* tail blocks, in order, two per register; integer sums are exact in any order and the float
     * steps are tile_body's lane steps done in scalar (IEEE: the same results) */
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < ntb; b += 2) {
        const int64_t blk = nf * KN_G_BLOCKS + b;
        const int two = b + 1 < ntb;
        const uint8_t *p = row + (size_t)blk * 34;
        __m256i lo = _mm256_loadu_si256((const __m256i *)(p + 2));
        __m256i hi = two ? _mm256_loadu_si256((const __m256i *)(p + 36)) : _mm256_setzero_si256();
        __m512i w = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), flip);
        const __mmask64 km = two ? ~(__mmask64)0 : 0xFFFFFFFFull;
        uint16_t h0, h1 = 0;
        memcpy(&h0, p, 2);
        if (two)
            memcpy(&h1, p + 34, 2);
        const float dw0 = _cvtsh_ss(h0), dw1 = _cvtsh_ss(h1);
        for (int t = 0; t < NT; t++) {
            const uint8_t *xt = x + (size_t)t * xs + (size_t)nf * KN_G_ACT_GROUP;
            __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w,
                                            _mm512_maskz_loadu_epi8(km, a[t].qs + blk * QK));
            int32_t c0, c1;
            float dx0, dx1;
            memcpy(&c0, xt + 576 + 4 * b, 4);
            memcpy(&dx0, xt + 512 + 4 * b, 4);
            int32_t i0 = _mm512_mask_reduce_add_epi32(0x00FF, d) + c0;
            y[t] += (float)i0 * (dw0 * dx0);
            if (two) {
                memcpy(&c1, xt + 576 + 4 * (b + 1), 4);
                memcpy(&dx1, xt + 512 + 4 * (b + 1), 4);
                int32_t i1 = _mm512_mask_reduce_add_epi32(0xFF00, d) + c1;
                y[t] += (float)i1 * (dw1 * dx1);
            }
        }
    }
    for (int t = 0; t < NT; t++)
        out[t * ldo] = y[t];
}

static T_AVX512 void direct_q8_0(int64_t cols, const uint8_t *row, const kn_act_t *a,
                                 const uint8_t *x, size_t xs, int nt, float *out, int64_t ldo)
{
    switch (nt) {
    case 1: direct_q8_0_body(cols, row, a, x, xs, 1, out, ldo); break;
    case 2: direct_q8_0_body(cols, row, a, x, xs, 2, out, ldo); break;
    case 3: direct_q8_0_body(cols, row, a, x, xs, 3, out, ldo); break;
    default: direct_q8_0_body(cols, row, a, x, xs, 4, out, ldo); break;
    }
}

/* ---- direct Q4_1: the packed group is built in registers (as kn_g_pack_weights does) and used
 * at once; tail blocks go four to a register against the activations in element order ---- */
INL T_AVX512 void direct_q4_1_body(int64_t cols, const uint8_t *row, const kn_act_t *a,
                                   const uint8_t *x, size_t xs, const int NT, float *out,
                                   int64_t ldo)
{
    const int64_t nf = kn_g_full(cols), ntb = kn_g_tail_blocks(cols);
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 facc[4];
    for (int t = 0; t < NT; t++)
        facc[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nf; g++) {
        __m512i c[5], wv[8];
        q4_1_group_regs(row + (size_t)g * KN_G_BLOCKS * 20, c);
        for (int k = 0; k < 4; k++) {
            wv[k] = _mm512_and_si512(c[k], m4);
            wv[k + 4] = _mm512_and_si512(_mm512_srli_epi16(c[k], 4), m4);
        }
        __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(c[4]));
        __m512 mw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(c[4], 16)));
        for (int t = 0; t < NT; t++) {
            const uint8_t *xg = x + (size_t)t * xs + (size_t)g * KN_G_ACT_GROUP;
            facc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(group_isum(1, wv, xg)),
                                      _mm512_mul_ps(dw, _mm512_load_ps(xg + 512)), facc[t]);
            facc[t] = _mm512_fmadd_ps(mw, _mm512_load_ps(xg + 576), facc[t]);
        }
    }
    float y[4];
    for (int t = 0; t < NT; t++)
        y[t] = hsum16(facc[t]);
    /* tail: 128-bit lane i = block b + i; low nibbles pair with elements 0..15, high with 16..31;
     * the 4 dwords of a block are summed as integers (exact) into dword 4i, then tile_body's lane
     * steps run on those lanes and the values are added in block order */
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int64_t b = 0; b < ntb; b += 4) {
        const int64_t blk = nf * KN_G_BLOCKS + b;
        const int nin = ntb - b < 4 ? (int)(ntb - b) : 4;
        const uint8_t *p = row + (size_t)blk * 20;
        __m512i raw = _mm512_setzero_si512(), hdr = _mm512_setzero_si512();
        for (int i = 0; i < nin; i++) {
            raw = _mm512_mask_loadu_epi32(raw, (__mmask16)(0xFu << (4 * i)), p + 20 * i + 4 - 16 * i);
            hdr = _mm512_mask_loadu_epi32(hdr, (__mmask16)(1u << (4 * i)), p + 20 * i - 16 * i);
        }
        __m512i lo = _mm512_and_si512(raw, m4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
        __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr));
        __m512 mw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hdr, 16)));
        for (int t = 0; t < NT; t++) {
            const int8_t *q = a[t].qs + blk * QK;
            __m512i alo = _mm512_setzero_si512(), ahi = _mm512_setzero_si512();
            for (int i = 0; i < nin; i++) {
                alo = _mm512_mask_loadu_epi32(alo, (__mmask16)(0xFu << (4 * i)), q + QK * i - 16 * i);
                ahi = _mm512_mask_loadu_epi32(ahi, (__mmask16)(0xFu << (4 * i)), q + QK * i + 16 - 16 * i);
            }
            __m512i d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, alo), hi, ahi);
            d = _mm512_add_epi32(d, _mm512_shuffle_epi32(d, _MM_PERM_BADC));
            d = _mm512_add_epi32(d, _mm512_shuffle_epi32(d, _MM_PERM_CDAB));
            const float *xt = (const float *)(x + (size_t)t * xs + (size_t)nf * KN_G_ACT_GROUP);
            __m512 dx = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_maskz_loadu_ps((__mmask8)((1u << nin) - 1), xt + 128 + b)));
            __m512 sx = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_maskz_loadu_ps((__mmask8)((1u << nin) - 1), xt + 144 + b)));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(dw, dx));
            v = _mm512_fmadd_ps(mw, sx, v);
            _Alignas(64) float vs[16];
            _mm512_store_ps(vs, v);
            for (int i = 0; i < nin; i++)
                y[t] += vs[4 * i];
        }
    }
    for (int t = 0; t < NT; t++)
        out[t * ldo] = y[t];
}

static T_AVX512 void direct_q4_1(int64_t cols, const uint8_t *row, const kn_act_t *a,
                                 const uint8_t *x, size_t xs, int nt, float *out, int64_t ldo)
{
    switch (nt) {
    case 1: direct_q4_1_body(cols, row, a, x, xs, 1, out, ldo); break;
    case 2: direct_q4_1_body(cols, row, a, x, xs, 2, out, ldo); break;
    case 3: direct_q4_1_body(cols, row, a, x, xs, 3, out, ldo); break;
    default: direct_q4_1_body(cols, row, a, x, xs, 4, out, ldo); break;
    }
}

int kn_g_direct(uint32_t type, int64_t cols, const void *w, size_t row_bytes, int64_t nr,
                const kn_act_t *acts, const void *x, int64_t nt, float *out, int64_t ldo)
{
    if (!kn_g_has_direct(type))
        return -1;
    const size_t xs = kn_g_act_bytes(cols);
    void (*fn)(int64_t, const uint8_t *, const kn_act_t *, const uint8_t *, size_t, int, float *,
               int64_t) = type == GGML_TYPE_Q4_1 ? direct_q4_1 : direct_q8_0;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t t0 = 0; t0 < nt; t0 += 4)
            fn(cols, (const uint8_t *)w + (size_t)r * row_bytes, acts + t0,
                        (const uint8_t *)x + (size_t)t0 * xs, xs, nt - t0 < 4 ? (int)(nt - t0) : 4,
                        out + t0 * ldo + r, ldo);
    return 0;
}

#else /* not x86-64: the packed path is never chosen */

int kn_g_supported(uint32_t type) { (void)type; return 0; }
size_t kn_g_group_bytes(uint32_t type) { (void)type; return 0; }
size_t kn_g_tile_bytes(uint32_t type, int64_t cols) { (void)type; (void)cols; return 0; }
void kn_g_pack_weights(uint32_t type, const void *w, size_t row_bytes, int64_t cols,
                       int64_t nrows, void *dst)
{
    (void)type; (void)w; (void)row_bytes; (void)cols; (void)nrows; (void)dst;
}
void kn_g_pack_act(uint32_t type, const kn_act_t *a, int64_t cols, void *dst)
{
    (void)type; (void)a; (void)cols; (void)dst;
}
int kn_g_direct(uint32_t type, int64_t cols, const void *w, size_t row_bytes, int64_t nr,
                const kn_act_t *acts, const void *x, int64_t nt, float *out, int64_t ldo)
{
    (void)type; (void)cols; (void)w; (void)row_bytes; (void)nr; (void)acts; (void)x; (void)nt;
    (void)out; (void)ldo;
    return -1;
}
void kn_g_compute(uint32_t type, int64_t cols, const void *w, int64_t nr, const void *x,
                  int64_t nt, float *out, int64_t ldo)
{
    (void)type; (void)cols; (void)w; (void)nr; (void)x; (void)nt; (void)out; (void)ldo;
}

#endif
