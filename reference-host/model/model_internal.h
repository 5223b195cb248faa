/* model_internal.h - the bodies of llm_model and llm_ctx, shared by the model's source files. */
#ifndef MODEL_INTERNAL_H
#define MODEL_INTERNAL_H

#include <stdarg.h>

#include "kernels.h"
#include "model.h"

#define LLM_ATTN_LANES 16   /* lanes of llama.cpp's F16 GEMM accumulators (AVX-512) */

typedef struct llm_layer {
    kn_matrix_t wq;          /* (n_head*head_dim) x n_embd */
    kn_matrix_t wk;          /* (n_head_kv*head_dim) x n_embd */
    kn_matrix_t wv;          /* (n_head_kv*head_dim) x n_embd */
    kn_matrix_t wo;          /* n_embd x (n_head*head_dim) */
    kn_matrix_t gate;        /* n_ff x n_embd */
    kn_matrix_t up;          /* n_ff x n_embd */
    kn_matrix_t down;        /* n_embd x n_ff */
    const float *attn_norm;  /* n_embd, owned by llm_model.norms */
    const float *ffn_norm;   /* n_embd */
    /* prepacked copies of wq..down in field order (kn_matrix_pack), NULL where none applies:
       same results as the plain rows, faster; owned */
    kn_packed_t *packed[7];
} llm_layer_t;

struct llm_model {
    llm_hparams_t hp;
    kn_matrix_t   tok_embd;  /* n_vocab x n_embd; rows dequantized on lookup */
    kn_matrix_t   output;    /* n_vocab x n_embd; == tok_embd when tied */
    llm_layer_t  *layers;    /* n_layer */
    float        *norms;     /* all norm weights dequantized: (2*n_layer + 1) x n_embd */
    const float  *out_norm;  /* n_embd */
    kn_packed_t  *output_packed; /* prepacked LM head or NULL; owned */
};

struct llm_ctx {
    const llm_model_t *m;
    uint32_t   n_ctx;
    uint32_t   max_batch;
    uint32_t   n_past;       /* committed rows */
    int        mode;         /* KN_MODE_* */
    kn_pool_t *pool;

    uint32_t   q_dim;        /* n_head * head_dim */
    uint32_t   kv_dim;       /* n_head_kv * head_dim */
    int        kv_f16;       /* 1: the cache holds fp16 (LLM_KV_F16), 0: f32 */
    size_t     kv_esize;     /* bytes per cache element: 2 or 4 */
    void      *k_cache;      /* n_layer x n_ctx x kv_dim elements */
    void      *v_cache;      /* n_layer x n_ctx x kv_dim elements */
    float     *kv_new;       /* the batch's new K then V rows (f32, before storing): 2 x max_batch x kv_dim */
    float     *kv_read;      /* llm_kv_k / llm_kv_v results: 2 x kv_dim */
    float     *rope_cos;     /* n_ctx x rope_dim/2, by position */
    float     *rope_sin;

    /* scratch, sized for max_batch rows, allocated once */
    float     *x;            /* residual stream, max_batch x n_embd */
    float     *h;            /* normed input of a sub-block, max_batch x n_embd */
    float     *q;            /* max_batch x q_dim */
    float     *att;          /* attention output, max_batch x q_dim */
    float     *tmp;          /* projection output, max_batch x n_embd */
    float     *ff_g;         /* max_batch x n_ff */
    float     *ff_u;         /* max_batch x n_ff */
    float     *scores;       /* one n_ctx row per (batch row, head) task */
    float     *attn_acc;     /* per task: 4 x LLM_ATTN_LANES x head_dim accumulators + one head_dim row */
    int        attn_order;   /* LLM_ATTN_VEC / GEMM / LLAMA (resolved, never AUTO) */
    int        prompt_tail;  /* the last commit kept every row of a multi-row batch (a prefill chunk) */
    uint32_t   attn_arr;     /* accumulators of the forward being evaluated: 4 (vec order) or 1 (gemm) */

    /* the pending scratch rows (until commit): forwards since the last commit append to them */
    uint32_t   n_batch;      /* pending rows, all forwards since the last commit/drop */
    uint32_t   base;         /* scratch id of row 0 of the forward being evaluated */
    int32_t   *parent;       /* max_batch */
    uint32_t  *pos;          /* max_batch: absolute positions */
    int32_t   *anc;          /* max_batch x max_batch: ancestors of row i (itself last), by index */
    uint32_t  *anc_len;      /* max_batch */
    uint32_t   cur_layer;    /* layer being evaluated (read by attention tasks) */
    void     (*attention_task)(void *ctx, int64_t t);   /* llm_attention_task[_avx2] or llm_attention_fast_avx2 */
    /* run before attention_task for each layer, over all cache slots in use (in parts
       [s0, s1)), or NULL (llm_attention_prep_avx2: fills kv_f32 for llm_attention_fast_avx2) */
    void     (*attention_prep)(struct llm_ctx *c, uint32_t s0, uint32_t s1);
    uint32_t   prep_slots;   /* slots in use for the layer being prepared */
    uint32_t   prep_parts;   /* pool tasks they are split into */
    float     *kv_f32;       /* the current layer's K then V cache rows in f32: 2 x n_ctx x kv_dim, or NULL */
    void     (*swiglu_row)(float *g, const float *u, uint32_t n);   /* llm_swiglu_row[_avx2] */
    void     (*rope_row)(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t rope_dim, const float *cs,
                         const float *sn);                         /* llm_rope_row[_avx2] */

    void     (*f16_store)(uint16_t *dst, const float *src, size_t n);   /* llm_f16_store[_avx2] */
    void     (*f16_round)(float *x, size_t n);                           /* llm_f16_round[_avx2] */

    /* kept hidden states: hidden[l] is NULL unless layer l was registered; max_batch x n_embd */
    float    **hidden;       /* n_layer + 1 */
    uint32_t   n_hidden_rows;/* rows valid in hidden[] (the last forward's n) */

    /* debugging aid for numerics comparisons (tools only; NULL in normal use): called with each
     * intermediate of the forward, n floats for all rows of the batch */
    void     (*debug_cb)(void *user, const char *name, uint32_t layer, const float *data, size_t n);
    void      *debug_user;

    char       err[256];
};

#define LLM_DEBUG(c, name, layer, data, n)                                  \
    do {                                                                     \
        if ((c)->debug_cb)                                                   \
            (c)->debug_cb((c)->debug_user, (name), (layer), (data), (n));    \
    } while (0)

/* writes a message into c->err; returns code */
int llm_set_err(llm_ctx_t *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* attention of task t = (batch row t / n_head, head t % n_head); model_attn.c */
void llm_attention_task(void *ctx, int64_t t);
#ifdef MODEL_HAVE_AVX2
void llm_attention_task_avx2(void *ctx, int64_t t);
/* the same results as llm_attention_task_avx2 for an F16 cache and head_dim % 16 == 0, from the
 * f32 copy of the layer's cache that llm_attention_prep_avx2 makes */
void llm_attention_fast_avx2(void *ctx, int64_t t);
void llm_attention_prep_avx2(llm_ctx_t *c, uint32_t s0, uint32_t s1);
#endif
/* RoPE of one row (n_heads heads) at a position's cos/sin table row; model_attn.c */
void llm_rope_row(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t rope_dim, const float *cs, const float *sn);
#ifdef MODEL_HAVE_AVX2
void llm_rope_row_avx2(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t rope_dim, const float *cs,
                       const float *sn);
#endif
/* SwiGLU of one row, g = silu(g) * u, with llama.cpp's numerics; model_attn.c */
void llm_swiglu_row(float *g, const float *u, uint32_t n);
#ifdef MODEL_HAVE_AVX2
void llm_swiglu_row_avx2(float *g, const float *u, uint32_t n);
#endif

/* fp16 conversions of the cache stores (kn_f32_to_fp16's bits); model_attn.c */
void llm_f16_store(uint16_t *dst, const float *src, size_t n);
void llm_f16_round(float *x, size_t n);
#ifdef MODEL_HAVE_AVX2
void llm_f16_store_avx2(uint16_t *dst, const float *src, size_t n);
void llm_f16_round_avx2(float *x, size_t n);
#endif

int llm_forward_impl(llm_ctx_t *c, const int32_t *tokens, const int32_t *parent, uint32_t n,
                     const uint8_t *want_logits, float *logits, int append);

#endif /* MODEL_INTERNAL_H */
