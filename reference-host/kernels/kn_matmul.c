/* kn_matmul.c - run-time ISA dispatch and the matrix product driver.
 *
 * Y[t][r] = dot(W row r, X token t). Each token is quantized once to the activation type ggml
 * pairs with W; then rows are split into tasks for the pool. Inside a task, rows are walked in
 * small groups that stay in L1 while every group of up to KN_NT_MAX tokens passes over them, so a
 * batch of n tokens loads each weight once per group of tokens rather than once per token. The
 * kernels compute each token's value with the same instruction sequence whatever nt is, so the
 * result for (t, r) does not depend on n_tok, the task split or the thread.
 *
 * Q4_1 and Q8_0 on AVX-512 VNNI take the packed path instead (kn_gemm.h): weights repacked per
 * call (or once, by kn_matrix_pack) into 16-blocks-per-register groups and multiplied in tiles of
 * 4 rows x 4 tokens; small batches may read the unpacked rows directly with identical numerics. */
#include <stdlib.h>
#include <string.h>

#include "kn_gemm.h"
#include "kn_internal.h"

#define ROW_GROUP 256   /* rows kept hot in L2 while the token groups pass over them */
#define ROW_ALIGN 16    /* task boundaries: multiples of this many rows */
/* packed path, types with a direct kernel (kn_g_direct): batches up to this size read unpacked
 * weights rather than packing them (measured break-even points); more when the matrix streams
 * from DRAM, where packing costs an extra pass and prepacked rows are longer (padded tail
 * groups) than the original ones. Q4_1 packs cheaply, Q8_0 (34-byte blocks) does not. */
#define DIRECT_MAX_TOK_Q4_1 1
#define DIRECT_MAX_TOK_Q8_0 3
#define DIRECT_MAX_TOK_Q8_0_BIG 4
#define DIRECT_MAX_TOK_Q8_0_BIG_PREPACKED 2
#define DIRECT_BIG_BYTES ((size_t)4 << 20)
#define G_ROWS 16       /* packed path: rows packed at a time (their copy stays in L1) */

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

/* ---- quantized activations ---- */

struct kn_xq {
    uint32_t wtype;         /* weight type the tokens were quantized for */
    int kind, bias;         /* kn_act_t kind and c4 bias of that type */
    int packed;             /* xpack holds the packed form (kn_gemm.h) too */
    int64_t cols, n_tok;
    size_t act_bytes, xpack_bytes;
    kn_act_t *acts;
    uint8_t *act_buf, *xpack;
    void *mem;              /* grows on demand, kept between calls */
    size_t mem_bytes;
    const float *X;         /* input, during quantization */
};

static int shape_ok(uint32_t type, int64_t cols)
{
    int kind = kn_act_kind_of(type);
    if (cols <= 0 || kn_row_bytes(type, cols) == 0 || kind < 0)
        return 0;
    if (kind == KN_ACT_Q8_K)
        return cols % QK_K == 0;
    if (kind == KN_ACT_Q8_0 || kind == KN_ACT_Q8_1)
        return cols % QK == 0;
    return 1;
}

static void xq_task(void *ctx, int64_t t)
{
    kn_xq_t *q = ctx;
    kn_act_quantize(q->kind, q->bias, q->X + t * q->cols, q->cols,
                    q->act_buf + (size_t)t * q->act_bytes, &q->acts[t]);
    if (q->packed)
        kn_g_pack_act(q->wtype, &q->acts[t], q->cols, q->xpack + (size_t)t * q->xpack_bytes);
}

static int xq_fill(kn_xq_t *q, uint32_t wtype, const float *X, int64_t n_tok, int64_t cols,
                   kn_pool_t *pool)
{
    q->n_tok = 0;
    if (!shape_ok(wtype, cols) || n_tok < 0 || (n_tok > 0 && !X))
        return -1;
    q->wtype = wtype;
    q->kind = kn_act_kind_of(wtype);
    q->bias = act_bias(wtype);
    q->packed = kn_g_supported(wtype);
    q->cols = cols;
    q->act_bytes = (kn_act_bytes(q->kind, cols) + 63) & ~(size_t)63;
    q->xpack_bytes = q->packed ? kn_g_act_bytes(cols) : 0;
    size_t acts_off = (size_t)n_tok * q->act_bytes;
    size_t xpack_off = acts_off + (((size_t)n_tok * sizeof(kn_act_t) + 63) & ~(size_t)63);
    size_t need = xpack_off + (size_t)n_tok * q->xpack_bytes + 64;
    if (need > q->mem_bytes) {
        void *m = aligned_alloc(64, (need + 63) & ~(size_t)63);
        if (!m)
            return -1;
        free(q->mem);
        q->mem = m;
        q->mem_bytes = (need + 63) & ~(size_t)63;
    }
    q->act_buf = q->mem;
    q->acts = (kn_act_t *)(q->act_buf + acts_off);
    q->xpack = q->act_buf + xpack_off;
    q->X = X;
    kn_pool_run(pool, xq_task, q, n_tok);
    q->X = NULL;
    q->n_tok = n_tok;
    return 0;
}

kn_xq_t *kn_xq_create(void) { return calloc(1, sizeof(kn_xq_t)); }

void kn_xq_free(kn_xq_t *q)
{
    if (!q)
        return;
    free(q->mem);
    free(q);
}

int kn_xq_quantize(kn_xq_t *q, uint32_t wtype, const float *X, int64_t n_tok, int64_t cols,
                   kn_pool_t *pool)
{
    return q ? xq_fill(q, wtype, X, n_tok, cols, pool) : -1;
}

/* ---- the row phase ---- */

typedef struct {
    const kn_matrix_t *W;
    const kn_xq_t *q;
    kn_dot_fn fn;
    int64_t rows_per_task;
    size_t row_bytes;
    float *Y;
    /* packed path: prepacked weights, or per-task packing buffers */
    const uint8_t *wpacked;
    uint8_t *wbuf;
    size_t tile_bytes;      /* packed bytes of 4 rows */
    int64_t direct_max_tok;
} mm_job_t;

/* packed path: every G_ROWS rows are packed once (unless prepacked), then all tokens pass */
static void g_rows_task(void *ctx, int64_t i)
{
    const mm_job_t *j = ctx;
    const int64_t rows = j->W->rows, cols = j->W->cols, n_tok = j->q->n_tok;
    int64_t r0 = i * j->rows_per_task, r1 = r0 + j->rows_per_task;
    if (r1 > rows)
        r1 = rows;
    uint8_t *buf = j->wbuf ? j->wbuf + (size_t)i * (G_ROWS / 4) * j->tile_bytes : NULL;
    for (int64_t g0 = r0; g0 < r1; g0 += G_ROWS) {
        int64_t n = r1 - g0 < G_ROWS ? r1 - g0 : G_ROWS;
        const uint8_t *src = (const uint8_t *)j->W->data + (size_t)g0 * j->row_bytes, *wp;
        const int direct = n_tok <= j->direct_max_tok && kn_g_has_direct(j->W->type);
        /* big matrices stream from DRAM: ask for the next rows while these are computed (the
         * direct kernel does better with the hardware prefetcher alone) */
        if (g0 + G_ROWS < r1 && !direct) {
            const uint8_t *next = j->wpacked ? j->wpacked + (size_t)(g0 / 4 + G_ROWS / 4) * j->tile_bytes
                                             : src + G_ROWS * j->row_bytes;
            size_t len = j->wpacked ? (G_ROWS / 4) * j->tile_bytes : G_ROWS * j->row_bytes;
            for (size_t off = 0; off < len; off += 64)
                __builtin_prefetch(next + off, 0, 1);
        }
        if (direct) {
            kn_g_direct(j->W->type, cols, src, j->row_bytes, n, j->q->acts, j->q->xpack, n_tok,
                        j->Y + g0, rows);
            continue;
        }
        if (j->wpacked) {
            wp = j->wpacked + (size_t)(g0 / 4) * j->tile_bytes;
        } else {
            kn_g_pack_weights(j->W->type, src, j->row_bytes, cols, n, buf);
            wp = buf;
        }
        kn_g_compute(j->W->type, cols, wp, n, j->q->xpack, n_tok, j->Y + g0, rows);
    }
}

static void rows_task(void *ctx, int64_t i)
{
    const mm_job_t *j = ctx;
    const int64_t rows = j->W->rows, cols = j->W->cols, n_tok = j->q->n_tok;
    const uint8_t *w = j->W->data;
    int64_t r0 = i * j->rows_per_task, r1 = r0 + j->rows_per_task;
    if (r1 > rows)
        r1 = rows;
    float out[KN_NT_MAX], tile[KN_NT_MAX][ROW_GROUP];
    for (int64_t g0 = r0; g0 < r1; g0 += ROW_GROUP) {
        int64_t g1 = g0 + ROW_GROUP < r1 ? g0 + ROW_GROUP : r1;
        for (int64_t t0 = 0; t0 < n_tok; t0 += KN_NT_MAX) {
            int nt = n_tok - t0 < KN_NT_MAX ? (int)(n_tok - t0) : KN_NT_MAX;
            const int last_pass = t0 + KN_NT_MAX >= n_tok;
            for (int64_t r = g0; r < g1; r++) {
                j->fn(cols, w + (size_t)r * j->row_bytes, j->q->acts + t0, nt, out);
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

/* Y = W q; wpacked: W's prepacked copy for the current ISA, or NULL */
static int run_rows(const kn_matrix_t *W, const uint8_t *wpacked, const kn_xq_t *q, float *Y,
                    kn_pool_t *pool, int mode)
{
    if (!W || !q || W->rows <= 0 || !shape_ok(W->type, W->cols) || W->cols != q->cols ||
        kn_act_kind_of(W->type) != q->kind || act_bias(W->type) != q->bias)
        return -1;
    /* KN_MODE_LLAMA: llama.cpp's order, one row at a time for every batch size */
    const kn_dot_fn llama_fn = mode == KN_MODE_LLAMA ? kn_dot_llama(W->type, kn_isa_current()) : NULL;
    const int packed = kn_g_supported(W->type) && !llama_fn;
    if (kn_g_supported(W->type) && (!q->packed || q->wtype != W->type))
        return -1;  /* packed activations are specific to the weight type */
    if (q->n_tok == 0)
        return 0;
    mm_job_t j = {.W = W, .q = q, .fn = llama_fn ? llama_fn : pick_kernel(W->type), .Y = Y,
                  .row_bytes = kn_row_bytes(W->type, W->cols)};
    const int big = j.row_bytes * (size_t)W->rows > DIRECT_BIG_BYTES;
    if (W->type == GGML_TYPE_Q8_0)
        j.direct_max_tok = wpacked ? (big ? DIRECT_MAX_TOK_Q8_0_BIG_PREPACKED : 0)
                                   : (big ? DIRECT_MAX_TOK_Q8_0_BIG : DIRECT_MAX_TOK_Q8_0);
    else if (W->type == GGML_TYPE_Q4_1 && !wpacked)
        j.direct_max_tok = DIRECT_MAX_TOK_Q4_1;
    int nth = kn_pool_size(pool);
    /* several tasks per thread balance uneven progress (the machine is shared) */
    int64_t rpt = W->rows / ((int64_t)nth * 4);
    rpt = (rpt + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
    if (rpt < ROW_ALIGN)
        rpt = ROW_ALIGN;
    j.rows_per_task = rpt;
    const int64_t n_tasks = (W->rows + rpt - 1) / rpt;
    void *wbuf = NULL;
    if (packed) {
        j.tile_bytes = kn_g_tile_bytes(W->type, W->cols);
        j.wpacked = wpacked;
        if (!wpacked) {
            wbuf = aligned_alloc(64, (size_t)n_tasks * (G_ROWS / 4) * j.tile_bytes);
            if (!wbuf)
                return -1;
            j.wbuf = wbuf;
        }
    }
    kn_pool_run(pool, packed ? g_rows_task : rows_task, &j, n_tasks);
    free(wbuf);
    return 0;
}

static int matmul_impl(const kn_matrix_t *W, const uint8_t *wpacked, const float *X,
                       int64_t n_tok, float *Y, kn_pool_t *pool, int mode)
{
    if (!W || W->rows <= 0 || n_tok < 0)
        return -1;
    kn_xq_t q = {0};
    int rc = xq_fill(&q, W->type, X, n_tok, W->cols, pool);
    if (rc == 0)
        rc = run_rows(W, wpacked, &q, Y, pool, mode);
    free(q.mem);
    return rc;
}

int kn_matmul(const kn_matrix_t *W, const float *X, int64_t n_tok, float *Y, kn_pool_t *pool,
              int mode)
{
    /* FAST: the exact path is also the fastest one measured so far */
    return matmul_impl(W, NULL, X, n_tok, Y, pool, mode);
}

int kn_matmul_xq(const kn_matrix_t *W, const kn_xq_t *q, float *Y, kn_pool_t *pool, int mode)
{
    return run_rows(W, NULL, q, Y, pool, mode);
}

/* ---- prepacked weights ---- */

struct kn_packed {
    kn_matrix_t W;          /* the original (borrowed) matrix: other ISAs read it */
    int isa;                /* ISA the copy was packed for */
    uint8_t *data;          /* rows * packed row bytes, or NULL when no packed path applies */
};

kn_packed_t *kn_matrix_pack(const kn_matrix_t *W)
{
    if (!W || W->rows <= 0 || kn_row_bytes(W->type, W->cols) == 0)
        return NULL;
    kn_packed_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->W = *W;
    p->isa = kn_isa_current();
    if (kn_g_supported(W->type)) {
        size_t n = (size_t)((W->rows + 3) / 4) * kn_g_tile_bytes(W->type, W->cols);
        p->data = aligned_alloc(64, n);
        if (!p->data) {
            free(p);
            return NULL;
        }
        size_t rb = kn_row_bytes(W->type, W->cols);
        kn_g_pack_weights(W->type, W->data, rb, W->cols, W->rows, p->data);
    }
    return p;
}

void kn_packed_free(kn_packed_t *p)
{
    if (!p)
        return;
    free(p->data);
    free(p);
}

size_t kn_packed_bytes(const kn_packed_t *p)
{
    if (!p || !p->data)
        return 0;
    return (size_t)((p->W.rows + 3) / 4) * kn_g_tile_bytes(p->W.type, p->W.cols);
}

/* the copy is only valid for the ISA it was made for (tests may force another one) */
static const uint8_t *packed_data(const kn_packed_t *P)
{
    return P->data && P->isa == kn_isa_current() ? P->data : NULL;
}

int kn_matmul_packed(const kn_packed_t *P, const float *X, int64_t n_tok, float *Y,
                     kn_pool_t *pool, int mode)
{
    if (!P)
        return -1;
    return matmul_impl(&P->W, packed_data(P), X, n_tok, Y, pool, mode);
}

int kn_matmul_packed_xq(const kn_packed_t *P, const kn_xq_t *q, float *Y, kn_pool_t *pool,
                        int mode)
{
    return P ? run_rows(&P->W, packed_data(P), q, Y, pool, mode) : -1;
}
