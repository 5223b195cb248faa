/* kn_convert.c - fp16/bf16 conversions, row sizes, dequantization of every supported ggml type,
 * and the reference quantizers (as ggml's *_ref functions do them) for writing test models. */
#include <math.h>
#include <string.h>

#include "kn_internal.h"

/* ---- fp16 / bf16 ---- */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float kn_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        float v = (float)mant * 5.9604644775390625e-8f;   /* mant * 2^-24, exact */
        return bits_f32(f32_bits(v) | sign);
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t kn_f32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x47800000u)                      /* >= 65536, inf or nan */
        return sign | (ax > 0x7f800000u ? 0x7e00 : 0x7c00);
    if (ax < 0x38800000u) {                     /* result is subnormal or zero */
        /* adding 0.5 puts the half's subnormal unit (2^-24) at the float's last bit: the FPU
         * rounds to nearest even for us */
        float a = bits_f32(ax) + 0.5f;
        return sign | (uint16_t)(f32_bits(a) - 0x3f000000u);
    }
    uint32_t odd = (ax >> 13) & 1;
    ax += 0xc8000fffu + odd;                    /* rebias exponent by -112, round half to even */
    return sign | (uint16_t)(ax >> 13);         /* overflow into the exponent gives inf */
}

float kn_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t kn_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 64);      /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* ---- block geometry ---- */

static int block_geom(uint32_t type, int64_t *elems, int64_t *bytes)
{
    switch (type) {
    case GGML_TYPE_F32:  *elems = 1;    *bytes = 4;   return 0;
    case GGML_TYPE_F16:  *elems = 1;    *bytes = 2;   return 0;
    case GGML_TYPE_BF16: *elems = 1;    *bytes = 2;   return 0;
    case GGML_TYPE_Q4_0: *elems = QK;   *bytes = 18;  return 0;
    case GGML_TYPE_Q4_1: *elems = QK;   *bytes = 20;  return 0;
    case GGML_TYPE_Q5_0: *elems = QK;   *bytes = 22;  return 0;
    case GGML_TYPE_Q5_1: *elems = QK;   *bytes = 24;  return 0;
    case GGML_TYPE_Q8_0: *elems = QK;   *bytes = 34;  return 0;
    case GGML_TYPE_Q4_K: *elems = QK_K; *bytes = 144; return 0;
    case GGML_TYPE_Q5_K: *elems = QK_K; *bytes = 176; return 0;
    case GGML_TYPE_Q6_K: *elems = QK_K; *bytes = 210; return 0;
    default: return -1;
    }
}

int kn_type_supported(uint32_t type)
{
    int64_t e, b;
    return block_geom(type, &e, &b) == 0;
}

size_t kn_row_bytes(uint32_t type, int64_t cols)
{
    int64_t e, b;
    if (block_geom(type, &e, &b) != 0 || cols <= 0 || cols % e != 0)
        return 0;
    return (size_t)(cols / e * b);
}

/* ---- dequantization ---- */

static void dq_q4_0(const blk_q4_0 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = kn_fp16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dq_q4_1(const blk_q4_1 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = kn_fp16_to_f32(x[i].d), m = kn_fp16_to_f32(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void dq_q5_0(const blk_q5_0 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = kn_fp16_to_f32(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int lo = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)(lo - 16) * d;
            y[j + 16] = (float)(hi - 16) * d;
        }
    }
}

static void dq_q5_1(const blk_q5_1 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = kn_fp16_to_f32(x[i].d), m = kn_fp16_to_f32(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int lo = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)lo * d + m;
            y[j + 16] = (float)hi * d + m;
        }
    }
}

static void dq_q8_0(const blk_q8_0 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = kn_fp16_to_f32(x[i].d);
        for (int j = 0; j < QK; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

static void dq_q4_k(const blk_q4_k *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = kn_fp16_to_f32(x[i].d), dmin = kn_fp16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            kn_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kn_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dq_q5_k(const blk_q5_k *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = kn_fp16_to_f32(x[i].d), dmin = kn_fp16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs, *qh = x[i].qh;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            kn_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kn_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 0xF) + ((qh[l] >> (2 * c)) & 1) * 16) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + ((qh[l] >> (2 * c + 1)) & 1) * 16) - m2;
        }
    }
}

static void dq_q6_k(const blk_q6_k *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = kn_fp16_to_f32(x[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

void kn_dequant_row(uint32_t type, const void *row, float *out, int64_t cols)
{
    if (kn_row_bytes(type, cols) == 0)
        return;
    switch (type) {
    case GGML_TYPE_F32: memcpy(out, row, (size_t)cols * 4); break;
    case GGML_TYPE_F16: {
        const uint16_t *h = row;
        for (int64_t i = 0; i < cols; i++) out[i] = kn_fp16_to_f32(h[i]);
        break;
    }
    case GGML_TYPE_BF16: {
        const uint16_t *h = row;
        for (int64_t i = 0; i < cols; i++) out[i] = kn_bf16_to_f32(h[i]);
        break;
    }
    case GGML_TYPE_Q4_0: dq_q4_0(row, out, cols / QK); break;
    case GGML_TYPE_Q4_1: dq_q4_1(row, out, cols / QK); break;
    case GGML_TYPE_Q5_0: dq_q5_0(row, out, cols / QK); break;
    case GGML_TYPE_Q5_1: dq_q5_1(row, out, cols / QK); break;
    case GGML_TYPE_Q8_0: dq_q8_0(row, out, cols / QK); break;
    case GGML_TYPE_Q4_K: dq_q4_k(row, out, cols / QK_K); break;
    case GGML_TYPE_Q5_K: dq_q5_k(row, out, cols / QK_K); break;
    case GGML_TYPE_Q6_K: dq_q6_k(row, out, cols / QK_K); break;
    default: break;
    }
}

/* ---- reference quantizers ---- */

static void q_q8_0(const float *x, blk_q8_0 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kn_f32_to_fp16(d);
        for (int j = 0; j < QK; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

static void q_q4_0(const float *x, blk_q4_0 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kn_f32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            int a = (int8_t)(x[j] * id + 8.5f), b = (int8_t)(x[j + 16] * id + 8.5f);
            a = a < 15 ? a : 15;
            b = b < 15 ? b : 15;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

static void q_q4_1(const float *x, blk_q4_1 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kn_f32_to_fp16(d);
        y[i].m = kn_f32_to_fp16(min);
        for (int j = 0; j < 16; j++) {
            int a = (int8_t)((x[j] - min) * id + 0.5f), b = (int8_t)((x[j + 16] - min) * id + 0.5f);
            a = a < 15 ? a : 15;
            b = b < 15 ? b : 15;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

int kn_quant_row(uint32_t type, const float *in, void *row, int64_t cols)
{
    if (kn_row_bytes(type, cols) == 0)
        return -1;
    switch (type) {
    case GGML_TYPE_F32: memcpy(row, in, (size_t)cols * 4); return 0;
    case GGML_TYPE_F16: {
        uint16_t *h = row;
        for (int64_t i = 0; i < cols; i++) h[i] = kn_f32_to_fp16(in[i]);
        return 0;
    }
    case GGML_TYPE_BF16: {
        uint16_t *h = row;
        for (int64_t i = 0; i < cols; i++) h[i] = kn_f32_to_bf16(in[i]);
        return 0;
    }
    case GGML_TYPE_Q8_0: q_q8_0(in, row, cols / QK); return 0;
    case GGML_TYPE_Q4_0: q_q4_0(in, row, cols / QK); return 0;
    case GGML_TYPE_Q4_1: q_q4_1(in, row, cols / QK); return 0;
    default: return -1;
    }
}
