/* model.h - Llama-family transformer on the CPU: weights from GGUF, a KV cache, and one batched
 * forward that evaluates a draft tree (tokens + parents) against the committed cache.
 *
 * KV cache contract (see abi/dstrat.h "cycle contract"):
 *   - the cache holds n_past committed rows (positions 0..n_past-1);
 *   - llm_forward(tokens, parent, n) evaluates n new tokens; token i sits at position
 *     n_past + depth(i), where depth(i) = 0 if parent[i] < 0, else depth(parent[i]) + 1, and it
 *     attends to the committed rows plus its ancestors in this batch (and itself). Its K/V rows go
 *     to scratch slots n_past + i; they are not committed.
 *   - llm_commit(path, n_path) keeps the batch rows path[0..n_path) (each the child of the
 *     previous one, path[0] a root of the batch) by moving them to slots n_past.. and advancing
 *     n_past; every other scratch row is dropped. llm_commit(NULL, 0) drops the batch.
 *   - a plain sequential prompt is parent[i] = i - 1 (parent[0] = -1), then commit all.
 * In exact mode (default) a token's logits and K/V are bit-identical whatever else is in the
 * batch, so tree verification + commit equals feeding the accepted tokens one by one.
 *
 * Errors: functions return 0 or a negative code and write a message readable by llm_last_error.
 * Thread safety: a model is immutable after load and may be shared; a context is single-threaded
 * (it uses its own kn_pool for parallelism).
 */
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct llm_hparams {
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_ff;
    uint32_t head_dim;
    uint32_t rope_dim;
    float    rope_freq_base;
    float    rms_eps;
    int      tied_output;    /* 1 if output.weight is absent and token_embd is the LM head */
} llm_hparams_t;

typedef struct llm_model llm_model_t;
typedef struct llm_ctx   llm_ctx_t;

#define LLM_E_BADFILE   -1   /* missing/misshapen tensor, wrong architecture, bad metadata */
#define LLM_E_NOMEM     -2
#define LLM_E_ARG       -3   /* bad argument: token out of range, bad parent, batch too big */
#define LLM_E_CTX_FULL  -4   /* n_past + n would exceed n_ctx */

/* Loads weights from an open GGUF (borrowed: g must outlive the model). Checks architecture
 * "llama", every hyperparameter against the tensor shapes, and the tensor types. */
llm_model_t *llm_model_load(const gguf_file_t *g, char *err, size_t err_cap);
void         llm_model_free(llm_model_t *m);
const llm_hparams_t *llm_model_hparams(const llm_model_t *m);

typedef struct llm_ctx_params {
    uint32_t n_ctx;        /* KV capacity in tokens (committed + one batch); 0 = min(2048, train) */
    uint32_t max_batch;    /* most tokens per forward; 0 = 64 */
    int      n_threads;    /* <= 0: all online CPUs */
    int      mode;         /* KN_MODE_EXACT (default) or KN_MODE_FAST */
    int      kv_type;      /* LLM_KV_F16 (default, as llama.cpp) or LLM_KV_F32 */
    int      attn_order;   /* LLM_ATTN_*: summation order of the attention dot products */
} llm_ctx_params_t;

/* KV cache element types. F16 follows llama.cpp's default cache: K and V rows are rounded to fp16
 * when stored, queries are rounded to fp16 for K.q and softmax weights for the V product. */
#define LLM_KV_F16 0
#define LLM_KV_F32 1

/* Attention summation orders. llama.cpp itself is not batch-invariant here: a one-token batch
 * takes ggml_vec_dot_f16 (4 accumulators of 16 lanes), two or more tokens take tinyBLAS (1
 * accumulator of 16 lanes); the last bits differ and grow through the next quantization.
 *   AUTO  (0): VEC in KN_MODE_EXACT, LLAMA in KN_MODE_FAST
 *   VEC   : llama.cpp's decode order for every token (batch-invariant)
 *   GEMM  : llama.cpp's prompt order for every token (batch-invariant)
 *   LLAMA : GEMM for forwards of 2+ tokens, VEC for one token: bit-identical to llama.cpp's
 *           prefill + decode, but a token's result depends on its batch */
#define LLM_ATTN_AUTO  0
#define LLM_ATTN_VEC   1
#define LLM_ATTN_GEMM  2
#define LLM_ATTN_LLAMA 3

llm_ctx_t *llm_ctx_create(const llm_model_t *m, const llm_ctx_params_t *p, char *err, size_t err_cap);
void       llm_ctx_free(llm_ctx_t *c);
const char *llm_last_error(const llm_ctx_t *c);

uint32_t llm_n_past(const llm_ctx_t *c);
uint32_t llm_n_ctx(const llm_ctx_t *c);
/* The context's thread pool (borrowed; NULL if single-threaded). A draft that runs between this
 * context's forwards on the same thread may use it: its workers are warm right after a forward,
 * and one pool avoids two sets of threads fighting for the same cores. */
struct kn_pool *llm_ctx_pool(llm_ctx_t *c);
/* Forget everything after the first n committed rows (n <= n_past). */
int      llm_truncate(llm_ctx_t *c, uint32_t n);

/* Evaluates a batch (see the contract above). logits: n x n_vocab floats written for every
 * token, or NULL to skip the LM head (e.g. prompt prefill except the last row: pass want_logits).
 * want_logits: NULL = all rows, else per-row flag; rows without the flag are left untouched. */
int llm_forward(llm_ctx_t *c, const int32_t *tokens, const int32_t *parent, uint32_t n,
                const uint8_t *want_logits, float *logits);

/* Hidden state of the last forward: the input of layer `layer` (0..n_layer; n_layer = after the
 * final RMSNorm, what the LM head reads) for batch row i, n_embd floats. Valid until the next
 * forward. Only layers registered with llm_ctx_keep_hidden are kept (others return NULL). */
int          llm_ctx_keep_hidden(llm_ctx_t *c, const uint32_t *layers, uint32_t n_layers);
const float *llm_hidden(const llm_ctx_t *c, uint32_t layer, uint32_t i);

int llm_commit(llm_ctx_t *c, const int32_t *path, uint32_t n_path);

/* Like llm_forward, but keeps the rows still pending from earlier forwards since the last commit:
 * the new rows get scratch ids llm_n_scratch().. and parent[i] may name any earlier scratch id (or
 * -1). This is how a draft model grows its draft tree level by level within one cycle; commit and
 * drop then work on all pending rows. Row i of logits / llm_hidden is row i of this call. */
int llm_forward_append(llm_ctx_t *c, const int32_t *tokens, const int32_t *parent, uint32_t n,
                       const uint8_t *want_logits, float *logits);
uint32_t llm_n_scratch(const llm_ctx_t *c);        /* pending (uncommitted) rows */
uint32_t llm_max_batch(const llm_ctx_t *c);        /* most pending rows */
const llm_model_t *llm_ctx_model(const llm_ctx_t *c);

/* Read access to committed K/V rows for tests: layer, position -> n_head_kv*head_dim floats
 * (converted from the cache type into a buffer of the context, valid until the next call of the
 * same function on the same context). */
const float *llm_kv_k(const llm_ctx_t *c, uint32_t layer, uint32_t pos);
const float *llm_kv_v(const llm_ctx_t *c, uint32_t layer, uint32_t pos);

#endif /* MODEL_H */
