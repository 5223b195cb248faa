/* kn_matmul.c - run-time ISA dispatch and the matrix product driver.
 *
 * Y[t][r] = dot(W row r, X token t). Each token is quantized once to the activation type ggml
 * pairs with W; then rows are split into tasks for the pool. Inside a task, rows are walked in
 * small groups that stay in L1 while every group of up to KN_NT_MAX tokens passes over them, so a
 * batch of n tokens loads each weight once per group of tokens rather than once per token. The
 * kernels compute each token's value with the same instruction sequence whatever nt is, so the
 * result for (t, r) does not depend on n_tok, the task split or the thread. */
#include <stdlib.h>
#include <string.h>

#include "kn_internal.h"

#define ROW_GROUP 256   /* rows kept hot in L2 while the token groups pass over them */
#define ROW_ALIGN 16    /* task boundaries: multiples of this many rows */

static int g_isa = -1;

static int isa_detect(void)
{
#ifdef KN_X86
    __builtin_cpu_init();
    int fma_f16c = __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
    if (fma_f16c && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
        return KN_ISA_AVX512VNNI;
    if (fma_f16c)
        return KN_ISA_AVX2;
#endif
    return KN_ISA_SCALAR;
}

int kn_isa_current(void)
{
    if (g_isa < 0)
        g_isa = isa_detect();
    return g_isa;
}

const char *kn_isa_name(void)
{
    static const char *const names[] = {"scalar", "avx2", "avx512vnni"};
    return names[kn_isa_current()];
}

int kn_force_isa(const char *name)
{
    int best = isa_detect(), want;
    if (!name)
        want = best;
    else if (strcmp(name, "scalar") == 0)
        want = KN_ISA_SCALAR;
    else if (strcmp(name, "avx2") == 0)
        want = KN_ISA_AVX2;
    else if (strcmp(name, "avx512vnni") == 0)
        want = KN_ISA_AVX512VNNI;
    else
        return -1;
    if (want > best)
        return -1;
    g_isa = want;
    return 0;
}

/* best kernel of the current ISA for a type, falling back to narrower ISAs */
static kn_dot_fn pick_kernel(uint32_t type)
{
    kn_dot_fn fn = NULL;
    int isa = kn_isa_current();
    if (isa >= KN_ISA_AVX512VNNI)
        fn = kn_dot_avx512(type);
    if (!fn && isa >= KN_ISA_AVX2)
        fn = kn_dot_avx2(type);
    if (!fn)
        fn = kn_dot_scalar(type);
    return fn;
}

/* bias the SIMD kernels expect in kn_act_t.c4 (see kn_internal.h) */
static int act_bias(uint32_t type)
{
    if (type == GGML_TYPE_Q4_0) return 8;
    if (type == GGML_TYPE_Q8_0) return 128;
    return 0;
}

typedef struct {
    const kn_matrix_t *W;
    kn_dot_fn fn;
    const float *X;
    kn_act_t *acts;
    uint8_t *act_buf;
    size_t act_bytes;
    int kind, bias;
    int64_t n_tok, rows_per_task;
    size_t row_bytes;
    float *Y;
} mm_job_t;

static void quant_task(void *ctx, int64_t t)
{
    mm_job_t *j = ctx;
    kn_act_quantize(j->kind, j->bias, j->X + t * j->W->cols, j->W->cols,
                    j->act_buf + (size_t)t * j->act_bytes, &j->acts[t]);
}

static void rows_task(void *ctx, int64_t i)
{
    const mm_job_t *j = ctx;
    const int64_t rows = j->W->rows, cols = j->W->cols;
    const uint8_t *w = j->W->data;
    int64_t r0 = i * j->rows_per_task, r1 = r0 + j->rows_per_task;
    if (r1 > rows)
        r1 = rows;
    float out[KN_NT_MAX], tile[KN_NT_MAX][ROW_GROUP];
    for (int64_t g0 = r0; g0 < r1; g0 += ROW_GROUP) {
        int64_t g1 = g0 + ROW_GROUP < r1 ? g0 + ROW_GROUP : r1;
        for (int64_t t0 = 0; t0 < j->n_tok; t0 += KN_NT_MAX) {
            int nt = j->n_tok - t0 < KN_NT_MAX ? (int)(j->n_tok - t0) : KN_NT_MAX;
            const int last_pass = t0 + KN_NT_MAX >= j->n_tok;
            for (int64_t r = g0; r < g1; r++) {
                j->fn(cols, w + (size_t)r * j->row_bytes, j->acts + t0, nt, out);
                /* the group's last pass pulls the next group's weights in, spread over its
                 * compute: big matrices stream from DRAM, which the hardware prefetcher alone
                 * does not keep up with when the compute between rows is long */
                if (last_pass && r + ROW_GROUP < r1) {
                    const uint8_t *nx = w + (size_t)(r + ROW_GROUP) * j->row_bytes;
                    for (size_t off = 0; off < j->row_bytes; off += 64)
                        __builtin_prefetch(nx + off, 0, 1);
                }
                for (int k = 0; k < nt; k++)
                    tile[k][r - g0] = out[k];
            }
            /* contiguous stores: Y rows of big matrices are pages apart */
            for (int k = 0; k < nt; k++)
                memcpy(j->Y + (t0 + k) * rows + g0, tile[k], sizeof(float) * (size_t)(g1 - g0));
        }
    }
}

int kn_matmul(const kn_matrix_t *W, const float *X, int64_t n_tok, float *Y, kn_pool_t *pool,
              int mode)
{
    (void)mode;     /* the exact path is also the fastest one measured so far */
    if (!W || W->rows <= 0 || n_tok < 0)
        return -1;
    size_t rb = kn_row_bytes(W->type, W->cols);
    int kind = kn_act_kind_of(W->type);
    if (rb == 0 || kind < 0 || (kind == KN_ACT_Q8_K && W->cols % QK_K) ||
        ((kind == KN_ACT_Q8_0 || kind == KN_ACT_Q8_1) && W->cols % QK))
        return -1;
    if (n_tok == 0)
        return 0;

    mm_job_t j = {.W = W, .fn = pick_kernel(W->type), .X = X, .kind = kind,
                  .bias = act_bias(W->type), .n_tok = n_tok, .row_bytes = rb, .Y = Y};
    j.act_bytes = kn_act_bytes(kind, W->cols);
    size_t total = (size_t)n_tok * j.act_bytes + (size_t)n_tok * sizeof(kn_act_t);
    void *scratch = aligned_alloc(64, (total + 63) & ~(size_t)63);
    if (!scratch)
        return -1;
    j.act_buf = scratch;
    j.acts = (kn_act_t *)(j.act_buf + (size_t)n_tok * j.act_bytes);

    int nth = kn_pool_size(pool);
    kn_pool_run(pool, quant_task, &j, n_tok);

    /* several tasks per thread balance uneven progress (the machine is shared) */
    int64_t rpt = W->rows / ((int64_t)nth * 4);
    rpt = (rpt + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
    if (rpt < ROW_ALIGN)
        rpt = ROW_ALIGN;
    j.rows_per_task = rpt;
    kn_pool_run(pool, rows_task, &j, (W->rows + rpt - 1) / rpt);
    free(scratch);
    return 0;
}
