/* kn_internal.h - private to the kernels module: block layouts, the per-token activation layout
 * the dot kernels read, and the kernel tables of each ISA. */
#ifndef KN_INTERNAL_H
#define KN_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "gguf.h"
#include "kernels.h"

/* x86-64 SIMD paths are compiled in (and chosen at run time); -DKN_PORTABLE_ONLY checks the
 * build that non-x86 targets get */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(KN_PORTABLE_ONLY)
#define KN_X86 1
#endif

#define QK    32    /* elements per block of the 32-element formats */
#define QK_K  256   /* elements per K-quant super-block */
#define KN_NT_MAX 4 /* tokens one kernel call handles (weight loads are shared across them) */

/* ggml block layouts (packed: every field is 1- or 2-byte aligned) */
typedef struct { uint16_t d; uint8_t qs[16]; } blk_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } blk_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } blk_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } blk_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } blk_q8_0;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } blk_q4_k;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } blk_q5_k;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } blk_q6_k;

_Static_assert(sizeof(blk_q4_0) == 18, "q4_0");
_Static_assert(sizeof(blk_q4_1) == 20, "q4_1");
_Static_assert(sizeof(blk_q5_0) == 22, "q5_0");
_Static_assert(sizeof(blk_q5_1) == 24, "q5_1");
_Static_assert(sizeof(blk_q8_0) == 34, "q8_0");
_Static_assert(sizeof(blk_q4_k) == 144, "q4_k");
_Static_assert(sizeof(blk_q5_k) == 176, "q5_k");
_Static_assert(sizeof(blk_q6_k) == 210, "q6_k");

/* One token's activations, quantized to the type ggml pairs with the weights, in a split layout
 * (values identical to ggml's Q8_0/Q8_1/Q8_K blocks, but contiguous so SIMD loads are aligned):
 *   Q8_0 / Q8_1: qs[cols], d[cols/32] (fp16-rounded), s[cols/32] (Q8_1: fp16(d*sum q)),
 *                c4[cols/4] = -bias * sum of 4 consecutive qs (bias 8 for Q4_0, 128 for Q8_0:
 *                the SIMD kernels feed unsigned weights to u8 x s8 dot instructions)
 *   Q8_K:        qs[cols], d[cols/256] (f32), bsums[cols/16]
 *   float:       f[cols], already rounded to F16/BF16 when the weights are F16/BF16 */
typedef struct kn_act {
    const int8_t  *qs;
    const float   *d;
    const float   *s;
    const int32_t *c4;
    const int16_t *bsums;
    const float   *f;
    const float   *d8;      /* Q8_0/Q8_1: d[b] repeated 8 times per block (AVX-512 lane scales) */
    const float   *s8;      /* Q8_1: s[b] / 8 (exact) repeated 8 times per block */
    const int8_t  *qs4;     /* Q8_1: qs regrouped per 4 blocks (128 bytes, zero-padded): the 16
                             * first elements of each block, then the 16 last of each; a 4-bit
                             * weight quad's packed bytes then pair with it lane by lane */
} kn_act_t;

/* out[j] = dot(weight row, token j) for j < nt (1 <= nt <= KN_NT_MAX). Each token's value must
 * not depend on nt: that is what makes batches bit-identical to single tokens. */
typedef void (*kn_dot_fn)(int64_t cols, const void *wrow, const kn_act_t *acts, int nt,
                          float *out);

/* activation kinds */
enum kn_act_kind { KN_ACT_Q8_0, KN_ACT_Q8_1, KN_ACT_Q8_K, KN_ACT_F32, KN_ACT_F16, KN_ACT_BF16 };

int    kn_act_kind_of(uint32_t wtype);                  /* -1 if unsupported */
size_t kn_act_bytes(int kind, int64_t cols);            /* scratch bytes for one token */
/* quantizes x[cols] into buf (kn_act_bytes) and fills a; bias as in kn_act_t (0, 8 or 128) */
void   kn_act_quantize(int kind, int bias, const float *x, int64_t cols, void *buf, kn_act_t *a);

/* kernel lookup for an ISA: 0 scalar, 1 avx2, 2 avx512vnni. NULL if that ISA lacks the type */
enum { KN_ISA_SCALAR = 0, KN_ISA_AVX2 = 1, KN_ISA_AVX512VNNI = 2 };
kn_dot_fn kn_dot_scalar(uint32_t wtype);
kn_dot_fn kn_dot_avx2(uint32_t wtype);
kn_dot_fn kn_dot_avx512(uint32_t wtype);
/* llama.cpp's per-row summation order for Q4_1/Q8_0 (KN_MODE_LLAMA); NULL for other types/ISAs */
kn_dot_fn kn_dot_llama(uint32_t wtype, int isa);
int       kn_isa_current(void);

/* Q4_K / Q5_K 6-bit scale and min of sub-block j */
static inline void kn_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif /* KN_INTERNAL_H */
