/* kn_gemm.h - private to the kernels module: the AVX-512 VNNI register-blocked product for
 * Q4_1 and Q8_0 weights (kn_gemm_x86.c).
 *
 * Layout ("packed"): a row's nb blocks are cut into nf = nb / 16 full groups of 16 blocks and
 * ntb = nb % 16 tail blocks. In a group, dword lane j of every 64-byte chunk belongs to block j,
 * so one vpdpbusd adds 4 products to each of 16 blocks and a lane ends up holding a whole
 * block's integer dot product:
 *   weights Q4_1: chunk k (0..3) lane j = packed bytes 4k..4k+3 of block j (low nibbles pair
 *                 with activation chunk k, high nibbles with chunk k+4), then 16 header dwords
 *                 (fp16 d | fp16 m << 16): 320 bytes per group
 *   weights Q8_0: chunk q (0..7) lane j = bytes 4q..4q+3 of block j, xor 0x80 (u8 operand),
 *                 then 16 header dwords (fp16 d in the low half): 576 bytes per group
 *   activations:  chunk q (0..7) lane j = elements 4q..4q+3 of block j, then 16 floats d, then
 *                 16 floats s (Q8_1) or 16 int32 -128 * block sums (Q8_0): 640 bytes per group
 * Weights are stored per tile of 4 rows: the 4 rows' full groups, then ntg = ceil(4 ntb / 16)
 * tail groups whose lane l holds tail block l % ntb of row l / ntb (so short tails, e.g. 2 blocks
 * for 576 columns, do not waste 14 of 16 lanes). A token is its nf full groups, then ntg tail
 * groups with its tail blocks repeated 4 times in the same lane order.
 * Numerics, for each (token, row): over the full groups in order, for each lane j
 *   acc_j = fma(float(isum_j), d_w * d_x, acc_j);  Q4_1 also: acc_j = fma(m_w, s_x, acc_j)
 * then y = (fixed-order sum of the 16 lanes) + v_0 + v_1 + ... over the tail blocks in order,
 * with v = float(isum) * (d_w * d_x) (Q4_1: fma(m_w, s_x, that)). Every (token, row) runs exactly
 * these operations whatever tile it is computed in, so results are batch invariant. */
#ifndef KN_GEMM_H
#define KN_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kn_internal.h"

#define KN_G_BLOCKS 16      /* blocks per group */
#define KN_G_ACT_GROUP 640  /* packed activation bytes per group */

/* 1 if the packed path handles this weight type on the current ISA */
int    kn_g_supported(uint32_t type);
size_t kn_g_group_bytes(uint32_t type);     /* packed weight bytes per group (0: unsupported) */
/* full groups, tail blocks and tail groups of a row of cols elements */
static inline int64_t kn_g_full(int64_t cols) { return cols / QK / KN_G_BLOCKS; }
static inline int64_t kn_g_tail_blocks(int64_t cols) { return cols / QK % KN_G_BLOCKS; }
static inline int64_t kn_g_tail_groups(int64_t cols) { return (4 * kn_g_tail_blocks(cols) + 15) / 16; }
/* packed bytes of one token, and of one tile of 4 weight rows */
static inline size_t kn_g_act_bytes(int64_t cols)
{
    return (size_t)(kn_g_full(cols) + kn_g_tail_groups(cols)) * KN_G_ACT_GROUP;
}
size_t kn_g_tile_bytes(uint32_t type, int64_t cols);

/* packs rows [0, nrows) of row-major ggml data (row stride row_bytes) into ceil(nrows / 4) tiles
 * at dst (64-aligned); the missing rows of a last partial tile are zero */
void kn_g_pack_weights(uint32_t type, const void *w, size_t row_bytes, int64_t cols,
                       int64_t nrows, void *dst);
/* packs one quantized token (kn_act_t of the kind the type pairs with) into dst (64-aligned) */
void kn_g_pack_act(uint32_t type, const kn_act_t *a, int64_t cols, void *dst);
/* out[t * ldo + r] = row r . token t for r < nr, t < nt; w: ceil(nr / 4) packed tiles, x: nt
 * packed tokens (stride kn_g_act_bytes) */
void kn_g_compute(uint32_t type, int64_t cols, const void *w, int64_t nr, const void *x,
                  int64_t nt, float *out, int64_t ldo);

static inline int kn_g_has_direct(uint32_t type)
{
    return type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_1;
}
/* the same products (identical bits) straight from nr unpacked ggml rows, for a few tokens
 * (acts: their kn_act_t, x: their packed form); returns -1 if the type has no such kernel */
int kn_g_direct(uint32_t type, int64_t cols, const void *w, size_t row_bytes, int64_t nr,
                const kn_act_t *acts, const void *x, int64_t nt, float *out, int64_t ldo);

#endif /* KN_GEMM_H */
