/* kn_dot_scalar.c - portable dot products of one weight row with nt tokens, following ggml's
 * generic vec_dot formulas (integer sums per block, then float scaling). */
#include <string.h>

#include "kn_internal.h"

#define FOR_TOKENS for (int t = 0; t < nt; t++)

static void dot_q4_0(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q4_0 *x = wrow;
    FOR_TOKENS {
        const int8_t *q = a[t].qs;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK; b++, q += QK) {
            int isum = 0;
            for (int j = 0; j < 16; j++)
                isum += ((x[b].qs[j] & 0xF) - 8) * q[j] + ((x[b].qs[j] >> 4) - 8) * q[j + 16];
            sum += (float)isum * (kn_fp16_to_f32(x[b].d) * a[t].d[b]);
        }
        out[t] = sum;
    }
}

static void dot_q4_1(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q4_1 *x = wrow;
    FOR_TOKENS {
        const int8_t *q = a[t].qs;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK; b++, q += QK) {
            int isum = 0;
            for (int j = 0; j < 16; j++)
                isum += (x[b].qs[j] & 0xF) * q[j] + (x[b].qs[j] >> 4) * q[j + 16];
            sum += (float)isum * (kn_fp16_to_f32(x[b].d) * a[t].d[b]) +
                   kn_fp16_to_f32(x[b].m) * a[t].s[b];
        }
        out[t] = sum;
    }
}

static void dot_q5_0(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q5_0 *x = wrow;
    FOR_TOKENS {
        const int8_t *q = a[t].qs;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK; b++, q += QK) {
            uint32_t qh;
            memcpy(&qh, x[b].qh, 4);
            int isum = 0;
            for (int j = 0; j < 16; j++) {
                int lo = (x[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
                int hi = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                isum += (lo - 16) * q[j] + (hi - 16) * q[j + 16];
            }
            sum += (float)isum * (kn_fp16_to_f32(x[b].d) * a[t].d[b]);
        }
        out[t] = sum;
    }
}

static void dot_q5_1(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q5_1 *x = wrow;
    FOR_TOKENS {
        const int8_t *q = a[t].qs;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK; b++, q += QK) {
            uint32_t qh;
            memcpy(&qh, x[b].qh, 4);
            int isum = 0;
            for (int j = 0; j < 16; j++) {
                int lo = (x[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
                int hi = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                isum += lo * q[j] + hi * q[j + 16];
            }
            sum += (float)isum * (kn_fp16_to_f32(x[b].d) * a[t].d[b]) +
                   kn_fp16_to_f32(x[b].m) * a[t].s[b];
        }
        out[t] = sum;
    }
}

static void dot_q8_0(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q8_0 *x = wrow;
    FOR_TOKENS {
        const int8_t *q = a[t].qs;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK; b++, q += QK) {
            int isum = 0;
            for (int j = 0; j < QK; j++) isum += x[b].qs[j] * q[j];
            sum += (float)isum * (kn_fp16_to_f32(x[b].d) * a[t].d[b]);
        }
        out[t] = sum;
    }
}

static void dot_q4_k(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q4_k *x = wrow;
    FOR_TOKENS {
        const int8_t *q8 = a[t].qs;
        const int16_t *bs = a[t].bsums;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK_K; b++, bs += 16) {
            int isum = 0, msum = 0;
            const uint8_t *q4 = x[b].qs;
            for (int c = 0; c < 4; c++, q4 += 32, q8 += 64) {
                uint8_t sc1, m1, sc2, m2;
                kn_get_scale_min_k4(2 * c, x[b].scales, &sc1, &m1);
                kn_get_scale_min_k4(2 * c + 1, x[b].scales, &sc2, &m2);
                int s1 = 0, s2 = 0;
                for (int l = 0; l < 32; l++) {
                    s1 += (q4[l] & 0xF) * q8[l];
                    s2 += (q4[l] >> 4) * q8[l + 32];
                }
                isum += sc1 * s1 + sc2 * s2;
                msum += m1 * (bs[4 * c] + bs[4 * c + 1]) + m2 * (bs[4 * c + 2] + bs[4 * c + 3]);
            }
            float dy = a[t].d[b];
            sum += kn_fp16_to_f32(x[b].d) * dy * (float)isum -
                   kn_fp16_to_f32(x[b].dmin) * dy * (float)msum;
        }
        out[t] = sum;
    }
}

static void dot_q5_k(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q5_k *x = wrow;
    FOR_TOKENS {
        const int8_t *q8 = a[t].qs;
        const int16_t *bs = a[t].bsums;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK_K; b++, bs += 16) {
            int isum = 0, msum = 0;
            const uint8_t *q4 = x[b].qs, *qh = x[b].qh;
            for (int c = 0; c < 4; c++, q4 += 32, q8 += 64) {
                uint8_t sc1, m1, sc2, m2;
                kn_get_scale_min_k4(2 * c, x[b].scales, &sc1, &m1);
                kn_get_scale_min_k4(2 * c + 1, x[b].scales, &sc2, &m2);
                int s1 = 0, s2 = 0;
                for (int l = 0; l < 32; l++) {
                    s1 += ((q4[l] & 0xF) + ((qh[l] >> (2 * c)) & 1) * 16) * q8[l];
                    s2 += ((q4[l] >> 4) + ((qh[l] >> (2 * c + 1)) & 1) * 16) * q8[l + 32];
                }
                isum += sc1 * s1 + sc2 * s2;
                msum += m1 * (bs[4 * c] + bs[4 * c + 1]) + m2 * (bs[4 * c + 2] + bs[4 * c + 3]);
            }
            float dy = a[t].d[b];
            sum += kn_fp16_to_f32(x[b].d) * dy * (float)isum -
                   kn_fp16_to_f32(x[b].dmin) * dy * (float)msum;
        }
        out[t] = sum;
    }
}

static void dot_q6_k(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const blk_q6_k *x = wrow;
    FOR_TOKENS {
        const int8_t *q8 = a[t].qs;
        float sum = 0.0f;
        for (int64_t b = 0; b < cols / QK_K; b++) {
            int isum = 0;
            for (int h = 0; h < 2; h++, q8 += 128) {
                const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
                const int8_t *sc = x[b].scales + 8 * h;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    isum += sc[is] * q1 * q8[l] + sc[is + 2] * q2 * q8[l + 32] +
                            sc[is + 4] * q3 * q8[l + 64] + sc[is + 6] * q4 * q8[l + 96];
                }
            }
            sum += kn_fp16_to_f32(x[b].d) * a[t].d[b] * (float)isum;
        }
        out[t] = sum;
    }
}

static void dot_f32(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const float *w = wrow;
    FOR_TOKENS {
        double sum = 0.0;   /* ggml's generic f32 dot also accumulates in double */
        for (int64_t i = 0; i < cols; i++) sum += (double)(w[i] * a[t].f[i]);
        out[t] = (float)sum;
    }
}

static void dot_f16(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const uint16_t *w = wrow;
    FOR_TOKENS {
        double sum = 0.0;
        for (int64_t i = 0; i < cols; i++) sum += (double)(kn_fp16_to_f32(w[i]) * a[t].f[i]);
        out[t] = (float)sum;
    }
}

static void dot_bf16(int64_t cols, const void *wrow, const kn_act_t *a, int nt, float *out)
{
    const uint16_t *w = wrow;
    FOR_TOKENS {
        double sum = 0.0;
        for (int64_t i = 0; i < cols; i++) sum += (double)(kn_bf16_to_f32(w[i]) * a[t].f[i]);
        out[t] = (float)sum;
    }
}

kn_dot_fn kn_dot_scalar(uint32_t wtype)
{
    switch (wtype) {
    case GGML_TYPE_F32:  return dot_f32;
    case GGML_TYPE_F16:  return dot_f16;
    case GGML_TYPE_BF16: return dot_bf16;
    case GGML_TYPE_Q4_0: return dot_q4_0;
    case GGML_TYPE_Q4_1: return dot_q4_1;
    case GGML_TYPE_Q5_0: return dot_q5_0;
    case GGML_TYPE_Q5_1: return dot_q5_1;
    case GGML_TYPE_Q8_0: return dot_q8_0;
    case GGML_TYPE_Q4_K: return dot_q4_k;
    case GGML_TYPE_Q5_K: return dot_q5_k;
    case GGML_TYPE_Q6_K: return dot_q6_k;
    default: return NULL;
    }
}
