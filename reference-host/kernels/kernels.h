/* kernels.h - CPU compute kernels for the reference host: ggml block formats, quantized matrix
 * products with run-time ISA dispatch (AVX-512 VNNI, AVX2, portable C), and a small thread pool.
 *
 * Batch invariance: in KN_MODE_EXACT every output element y[t][r] is computed by the same code
 * with the same reduction order whatever n_tok is and whichever thread runs it, so a token's
 * result from a batched forward is bit-identical to its result from a one-token forward.
 * KN_MODE_FAST may switch to other paths (e.g. OpenBLAS on dequantized weights) for big batches.
 *
 * Types are the ggml ids of gguf.h (enum ggml_type_id).
 */
#ifndef KERNELS_H
#define KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- fp16 / bf16 ---- */
float    kn_fp16_to_f32(uint16_t h);
uint16_t kn_f32_to_fp16(float f);      /* round to nearest even */
float    kn_bf16_to_f32(uint16_t h);
uint16_t kn_f32_to_bf16(float f);      /* round to nearest even, NaN quieted */

/* ---- block formats ---- */
int    kn_type_supported(uint32_t type);            /* 1 if matmul/dequant support it */
size_t kn_row_bytes(uint32_t type, int64_t cols);   /* 0 if cols is not a block multiple */
/* dequantize one row of `cols` elements */
void   kn_dequant_row(uint32_t type, const void *row, float *out, int64_t cols);
/* quantize one row (types F32, F16, BF16, Q8_0, Q4_0, Q4_1; others return -1); used to write
 * test models. Returns 0 on success. */
int    kn_quant_row(uint32_t type, const float *in, void *row, int64_t cols);

/* ---- thread pool ---- */
typedef struct kn_pool kn_pool_t;
/* n_threads <= 0: number of online CPUs. Returns NULL on failure. */
kn_pool_t *kn_pool_create(int n_threads);
void       kn_pool_free(kn_pool_t *p);
int        kn_pool_size(const kn_pool_t *p);
/* Runs fn(ctx, i) for i in [0, n_tasks) across the pool (caller thread included) and waits.
 * The assignment of tasks to threads must not affect results: each task writes its own outputs. */
void       kn_pool_run(kn_pool_t *p, void (*fn)(void *ctx, int64_t i), void *ctx, int64_t n_tasks);

/* ---- matrix products ---- */
typedef struct kn_matrix {
    uint32_t    type;       /* ggml type of the weights */
    int64_t     rows;       /* output features (ne[1]) */
    int64_t     cols;       /* input features (ne[0]), a block multiple */
    const void *data;       /* rows * kn_row_bytes(type, cols) bytes, row-major; borrowed */
} kn_matrix_t;

#define KN_MODE_EXACT 0     /* batch-invariant (default) */
#define KN_MODE_FAST  1     /* may use batch-size dependent paths */
#define KN_MODE_LLAMA 2     /* llama.cpp's per-row summation order for Q4_1/Q8_0 weights: results
                               bit-identical to llama.cpp's CPU backend on x86 (still per-row, so
                               batch-invariant too), but without the packed multi-token tiles:
                               slower for batches. For the oracle and differential tests. */

/* Y[t][r] = sum_c W[r][c] * X[t][c] for t < n_tok, r < rows.
 * X: n_tok x cols floats (row stride cols); Y: n_tok x rows floats (row stride rows).
 * Activations are quantized per token to the type ggml pairs with W (Q8_0/Q8_1/Q8_K), so results
 * match llama.cpp's CPU numerics up to summation order. Returns 0, or -1 for an unsupported type. */
int kn_matmul(const kn_matrix_t *W, const float *X, int64_t n_tok, float *Y,
              kn_pool_t *pool, int mode);

/* ---- prepacked weights (optional, for speed) ----
 * kn_matrix_pack copies W's weights once into the layout the fastest kernel of this CPU reads
 * (AVX-512 VNNI: Q4_1 and Q8_0, same size as the original), so kn_matmul_packed skips the
 * per-call repacking that kn_matmul does. W->data stays borrowed and must outlive the pack (other
 * ISAs and types read it). Results are bit-identical to kn_matmul on the same matrix.
 * kn_matrix_pack returns NULL on a bad shape or out of memory. */
typedef struct kn_packed kn_packed_t;
kn_packed_t *kn_matrix_pack(const kn_matrix_t *W);
void         kn_packed_free(kn_packed_t *p);
size_t       kn_packed_bytes(const kn_packed_t *p);  /* extra memory held (0: no packed copy) */
int          kn_matmul_packed(const kn_packed_t *P, const float *X, int64_t n_tok, float *Y,
                              kn_pool_t *pool, int mode);

/* ---- activations quantized once for several products ----
 * Q, K and V read the same input, and so do gate and up: kn_xq_quantize quantizes a batch once
 * for weights of type wtype and width cols, then kn_matmul_xq / kn_matmul_packed_xq reuse it for
 * every such matrix. Results are bit-identical to kn_matmul. A kn_xq_t keeps its buffers between
 * calls (no allocation once warm); use one per thread of control. kn_matmul_xq returns -1 if W's
 * type or cols differ from what q was quantized for (a type with the same activation format is
 * accepted on the portable paths). kn_xq_create returns NULL when out of memory. */
typedef struct kn_xq kn_xq_t;
kn_xq_t *kn_xq_create(void);
void     kn_xq_free(kn_xq_t *q);
int      kn_xq_quantize(kn_xq_t *q, uint32_t wtype, const float *X, int64_t n_tok, int64_t cols,
                        kn_pool_t *pool);
int      kn_matmul_xq(const kn_matrix_t *W, const kn_xq_t *q, float *Y, kn_pool_t *pool, int mode);
int      kn_matmul_packed_xq(const kn_packed_t *P, const kn_xq_t *q, float *Y, kn_pool_t *pool,
                             int mode);

/* ---- dispatch info ---- */
/* "avx512vnni", "avx2", "scalar": the path kn_matmul uses on this CPU */
const char *kn_isa_name(void);
/* Force a path for tests ("scalar", "avx2", "avx512vnni", or NULL = best available).
 * Returns 0, or -1 if the CPU cannot run it. Not thread-safe; call before any matmul. */
int kn_force_isa(const char *name);

#endif /* KERNELS_H */
