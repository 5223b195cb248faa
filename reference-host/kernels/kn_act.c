/* kn_act.c - per-token activation quantization into the split layout of kn_act_t. The values
 * are those of llama.cpp's CPU backend on x86 (AVX/AVX2 quantize_row_q8_0/q8_1: multiplier
 * id = 127/amax and round half to even, which differ from ggml's reference C path by one step
 * at ties; Q8_K as quantize_row_q8_K_ref; fp16/bf16 rounding), so our dot products see the same
 * operands as llama.cpp. */
#include <math.h>
#include <string.h>

#include "kn_internal.h"

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

int kn_act_kind_of(uint32_t wtype)
{
    switch (wtype) {
    case GGML_TYPE_F32:  return KN_ACT_F32;
    case GGML_TYPE_F16:  return KN_ACT_F16;
    case GGML_TYPE_BF16: return KN_ACT_BF16;
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0: return KN_ACT_Q8_0;
    case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: return KN_ACT_Q8_1;
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: return KN_ACT_Q8_K;
    default: return -1;
    }
}

size_t kn_act_bytes(int kind, int64_t cols)
{
    size_t n = (size_t)cols;
    switch (kind) {
    case KN_ACT_Q8_0: case KN_ACT_Q8_1:
        return ALIGN64(n) + 2 * ALIGN64(n / QK * 4) + ALIGN64(n / 4 * 4) + 2 * ALIGN64(n / QK * 32) +
               (n / QK + 3) / 4 * 128;
    case KN_ACT_Q8_K:
        return ALIGN64(n) + ALIGN64(n / QK_K * 4) + ALIGN64(n / 16 * 2);
    default:
        return ALIGN64(n * 4);
    }
}

/* ggml's nearest_int: round half to even through the float mantissa */
static inline int nearest_int(float fval)
{
    float val = fval + 12582912.0f;
    int32_t i;
    memcpy(&i, &val, 4);
    return (i & 0x007fffff) - 0x00400000;
}


#ifdef KN_X86
#include <immintrin.h>
#define HAVE_AVX512_QUANT 1
/* the same arithmetic as quant_q8, 32 elements at a time (AVX-512 VNNI machines only) */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
static void quant_q8_avx512(int with_sum, int bias, const float *x, int64_t cols, int8_t *qs,
                            float *d, float *s, int32_t *c4)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < cols / QK; b++, x += QK, qs += QK) {
        __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, absmask),
                                                        _mm512_and_ps(x1, absmask)));
        float dd = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i q[2];
        for (int h = 0; h < 2; h++) {
            __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(h ? x1 : x0, vid),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q[h] = _mm512_cvttps_epi32(v);
        }
        __m256i q8 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(q[0])),
                                             _mm512_cvtepi32_epi8(q[1]), 1);
        _mm256_storeu_si256((__m256i *)qs, q8);
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
        /* fp16 rounding by F16C: kn_f32_to_fp16's bits for every non-NaN (NaN: the portable way) */
        const float sd = (float)sum * dd;
        d[b] = dd == dd ? _cvtsh_ss(_cvtss_sh(dd, _MM_FROUND_TO_NEAREST_INT)) : kn_fp16_to_f32(kn_f32_to_fp16(dd));
        s[b] = !with_sum ? 0.0f
               : sd == sd ? _cvtsh_ss(_cvtss_sh(sd, _MM_FROUND_TO_NEAREST_INT))
                          : kn_fp16_to_f32(kn_f32_to_fp16(sd));
        __m256i sum4 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), q8);
        _mm256_storeu_si256((__m256i *)(c4 + b * 8), _mm256_mullo_epi32(sum4, _mm256_set1_epi32(-bias)));
    }
}
#endif

static void quant_q8(int with_sum, int bias, const float *x, int64_t cols, int8_t *qs, float *d,
                     float *s, int32_t *c4)
{
    for (int64_t b = 0; b < cols / QK; b++, x += QK, qs += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float dd = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            qs[j] = (int8_t)nearest_int(x[j] * id);
            sum += qs[j];
        }
        d[b] = kn_fp16_to_f32(kn_f32_to_fp16(dd));
        s[b] = with_sum ? kn_fp16_to_f32(kn_f32_to_fp16((float)sum * dd)) : 0.0f;
        for (int j = 0; j < QK / 4; j++)
            c4[b * 8 + j] = -bias * (qs[4 * j] + qs[4 * j + 1] + qs[4 * j + 2] + qs[4 * j + 3]);
    }
}

static void quant_q8_k(const float *x, int64_t cols, int8_t *qs, float *d, int16_t *bsums)
{
    for (int64_t b = 0; b < cols / QK_K; b++, x += QK_K, qs += QK_K, bsums += 16) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        if (amax == 0.0f) {
            d[b] = 0.0f;
            memset(qs, 0, QK_K);
            memset(bsums, 0, 16 * sizeof(int16_t));
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int k = 0; k < 16; k++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += qs[16 * k + j];
            bsums[k] = (int16_t)sum;
        }
        d[b] = 1.0f / iscale;
    }
}

void kn_act_quantize(int kind, int bias, const float *x, int64_t cols, void *buf, kn_act_t *a)
{
    uint8_t *p = buf;
    size_t n = (size_t)cols;
    memset(a, 0, sizeof(*a));
    switch (kind) {
    case KN_ACT_Q8_0: case KN_ACT_Q8_1: {
        int8_t *qs = (int8_t *)p;
        float *d = (float *)(p + ALIGN64(n));
        float *s = (float *)(p + ALIGN64(n) + ALIGN64(n / QK * 4));
        int32_t *c4 = (int32_t *)(p + ALIGN64(n) + 2 * ALIGN64(n / QK * 4));
        float *d8 = (float *)((uint8_t *)c4 + ALIGN64(n / 4 * 4));
        float *s8 = (float *)((uint8_t *)d8 + ALIGN64(n / QK * 32));
#ifdef HAVE_AVX512_QUANT
        if (kn_isa_current() >= KN_ISA_AVX512VNNI)
            quant_q8_avx512(kind == KN_ACT_Q8_1, bias, x, cols, qs, d, s, c4);
        else
#endif
            quant_q8(kind == KN_ACT_Q8_1, bias, x, cols, qs, d, s, c4);
        for (size_t b = 0; b < n / QK; b++)
            for (int k = 0; k < 8; k++) {
                d8[8 * b + k] = d[b];
                s8[8 * b + k] = s[b] * 0.125f;
            }
        a->qs = qs; a->d = d; a->s = s; a->c4 = c4; a->d8 = d8; a->s8 = s8;
        if (kind == KN_ACT_Q8_1) {
            int8_t *q4 = (int8_t *)((uint8_t *)s8 + ALIGN64(n / QK * 32));
            size_t nq = (n / QK + 3) / 4;
            memset(q4, 0, nq * 128);
            for (size_t b = 0; b < n / QK; b++) {
                int8_t *dst = q4 + (b / 4) * 128 + (b % 4) * 16;
                memcpy(dst, qs + b * QK, 16);
                memcpy(dst + 64, qs + b * QK + 16, 16);
            }
            a->qs4 = q4;
        }
        break;
    }
    case KN_ACT_Q8_K: {
        int8_t *qs = (int8_t *)p;
        float *d = (float *)(p + ALIGN64(n));
        int16_t *bs = (int16_t *)(p + ALIGN64(n) + ALIGN64(n / QK_K * 4));
        quant_q8_k(x, cols, qs, d, bs);
        a->qs = qs; a->d = d; a->bsums = bs;
        break;
    }
    default: {
        float *f = (float *)p;
        if (kind == KN_ACT_F16)
            for (size_t i = 0; i < n; i++) f[i] = kn_fp16_to_f32(kn_f32_to_fp16(x[i]));
        else if (kind == KN_ACT_BF16)
            for (size_t i = 0; i < n; i++) f[i] = kn_bf16_to_f32(kn_f32_to_bf16(x[i]));
        else
            memcpy(f, x, n * 4);
        a->f = f;
        break;
    }
    }
}
