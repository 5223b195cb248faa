/* model_forward.c - the batched llama forward over a draft tree.
 *
 * Batch invariance: every per-token step (embedding, RMSNorm, RoPE, SwiGLU, residual adds) is a
 * function of that token's row alone; matrix products go through kn_matmul in exact mode; and a
 * row's attention visits its keys in position order (committed rows, then its ancestors in this
 * batch, which have increasing positions) and never touches masked keys. So a token's result does
 * not depend on what else is in the batch, and a tree forward + commit equals sequential feeding.
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

/* ---- per-row primitives ------------------------------------------------------------------ */

/* ggml rms_norm then mul: sum of squares in double, scale = 1/sqrtf(mean + eps) */
static void rms_norm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (uint32_t i = 0; i < n; i++)
        out[i] = (x[i] * scale) * w[i];
}

/* ---- pool tasks ---------------------------------------------------------------------------- */

/* SwiGLU of one row: g = silu(g) * u */
static void swiglu_task(void *arg, int64_t i)
{
    llm_ctx_t *c = arg;
    const uint32_t n_ff = c->m->hp.n_ff;
    c->swiglu_row(c->ff_g + (size_t)i * n_ff, c->ff_u + (size_t)i * n_ff, n_ff);
}

/* part i of prep_parts of the cache slots in use */
static void prep_task(void *arg, int64_t i)
{
    llm_ctx_t *c = arg;
    const uint64_t n = c->prep_slots, parts = c->prep_parts;
    c->attention_prep(c, (uint32_t)(n * (uint64_t)i / parts), (uint32_t)(n * (uint64_t)(i + 1) / parts));
}

/* the attention's per-layer preparation over slots [0, n_slots), on the pool unless too short to
 * be worth a hand-off (~64 slots are about a microsecond of work) */
static void attention_prep(llm_ctx_t *c, uint32_t n_slots)
{
    const int threads = kn_pool_size(c->pool);
    if (threads < 2 || n_slots < 64) {
        c->attention_prep(c, 0, n_slots);
        return;
    }
    c->prep_slots = n_slots;
    c->prep_parts = (uint32_t)(2 * threads);
    kn_pool_run(c->pool, prep_task, c, c->prep_parts);
}

/* ---- the forward --------------------------------------------------------------------------- */

static int matmul(llm_ctx_t *c, const kn_matrix_t *W, const float *X, uint32_t n, float *Y, const char *what,
                  uint32_t layer)
{
    /* the prepacked copy of W, if the model made one (W is a layer field or the LM head) */
    const kn_packed_t *P = NULL;
    if (layer < c->m->hp.n_layer) {
        const llm_layer_t *L = &c->m->layers[layer];
        if (W >= &L->wq && W <= &L->down)
            P = L->packed[W - &L->wq];
    } else if (W == &c->m->output) {
        P = c->m->output_packed;
    }
    if ((P ? kn_matmul_packed(P, X, n, Y, c->pool, c->mode) : kn_matmul(W, X, n, Y, c->pool, c->mode)) != 0)
        return llm_set_err(c, LLM_E_BADFILE, "kn_matmul failed for %s of layer %u (type %s)", what, layer,
                           gguf_type_name(W->type));
    return 0;
}

static int check_batch(llm_ctx_t *c, const int32_t *tokens, const int32_t *parent, uint32_t n, uint32_t base)
{
    const llm_hparams_t *hp = &c->m->hp;
    if (!tokens && n)
        return llm_set_err(c, LLM_E_ARG, "llm_forward: tokens is NULL");
    if ((uint64_t)c->n_past + base + n > c->n_ctx) {
        if (base)
            return llm_set_err(c, LLM_E_CTX_FULL, "llm_forward: context full: %u committed + %u pending + %u new "
                               "tokens > n_ctx %u", c->n_past, base, n, c->n_ctx);
        return llm_set_err(c, LLM_E_CTX_FULL, "llm_forward: context full: %u committed + %u new tokens > n_ctx %u",
                           c->n_past, n, c->n_ctx);
    }
    if (base + n > c->max_batch)
        return llm_set_err(c, LLM_E_ARG, "llm_forward: %u pending + %u new tokens exceed max_batch %u", base, n,
                           c->max_batch);
    for (uint32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return llm_set_err(c, LLM_E_ARG, "llm_forward: token[%u] = %d is out of range (n_vocab %u)", i,
                               tokens[i], hp->n_vocab);
        int32_t p = parent ? parent[i] : (int32_t)(base + i) - 1;
        if (p < -1 || p >= (int32_t)(base + i))
            return llm_set_err(c, LLM_E_ARG, "llm_forward: parent[%u] = %d must be -1 or an earlier row (< %u)", i,
                               p, base + i);
    }
    return 0;
}

int llm_forward_impl(llm_ctx_t *c, const int32_t *tokens, const int32_t *parent, uint32_t n,
                     const uint8_t *want_logits, float *logits, int append)
{
    if (!c)
        return LLM_E_ARG;
    const uint32_t base = append ? c->n_batch : 0;
    /* LLM_ATTN_LLAMA: the host prefills all prompt tokens but the last, then evaluates the last one
     * alone; llama.cpp has it in the prompt batch, so it takes the batch order */
    const int prompt_tail = c->prompt_tail && base == 0;
    c->prompt_tail = 0;
    int rc = check_batch(c, tokens, parent, n, base);
    if (rc)
        return rc;
    if (n == 0) {   /* an empty batch: nothing to evaluate */
        c->n_batch = base;
        c->n_hidden_rows = 0;
        return 0;
    }
    const llm_model_t *m = c->m;
    const llm_hparams_t *hp = &m->hp;
    const uint32_t d = hp->n_embd, half = hp->rope_dim / 2, kvd = c->kv_dim;
    const size_t layer_stride = (size_t)c->n_ctx * kvd;

    /* tree bookkeeping over scratch ids r = base + i: positions and ancestor lists
       (anc(r) = anc(parent) + r) */
    c->n_batch = base;
    c->base = base;
    c->n_hidden_rows = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t r = base + i;
        const int32_t p = parent ? parent[i] : (int32_t)r - 1;
        int32_t *a = c->anc + (size_t)r * c->max_batch;
        uint32_t len = 0;
        if (p >= 0) {
            len = c->anc_len[p];
            memcpy(a, c->anc + (size_t)p * c->max_batch, len * sizeof *a);
        }
        a[len] = (int32_t)r;
        c->anc_len[r] = len + 1;
        c->parent[r] = p;
        c->pos[r] = c->n_past + len;
    }

    /* embeddings */
    const size_t emb_row = kn_row_bytes(m->tok_embd.type, d);
    for (uint32_t i = 0; i < n; i++)
        kn_dequant_row(m->tok_embd.type, (const char *)m->tok_embd.data + (size_t)tokens[i] * emb_row,
                       c->x + (size_t)i * d, d);
    LLM_DEBUG(c, "embd", 0, c->x, (size_t)n * d);

    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const llm_layer_t *L = &m->layers[l];
        if (c->hidden[l])
            memcpy(c->hidden[l], c->x, (size_t)n * d * sizeof(float));

        /* attention block */
        for (uint32_t i = 0; i < n; i++)
            rms_norm(c->h + (size_t)i * d, c->x + (size_t)i * d, L->attn_norm, d, hp->rms_eps);
        LLM_DEBUG(c, "attn_norm", l, c->h, (size_t)n * d);
        float *Kb = c->kv_new, *Vb = c->kv_new + (size_t)n * kvd;   /* stored below at slots n_past + base + i */
        if ((rc = matmul(c, &L->wq, c->h, n, c->q, "attn_q", l)) || (rc = matmul(c, &L->wk, c->h, n, Kb, "attn_k", l)) ||
            (rc = matmul(c, &L->wv, c->h, n, Vb, "attn_v", l)))
            return rc;
        LLM_DEBUG(c, "Qcur", l, c->q, (size_t)n * c->q_dim);
        LLM_DEBUG(c, "Kcur", l, Kb, (size_t)n * kvd);
        LLM_DEBUG(c, "Vcur", l, Vb, (size_t)n * kvd);
        for (uint32_t i = 0; i < n; i++) {
            const float *cs = c->rope_cos + (size_t)c->pos[base + i] * half, *sn = c->rope_sin + (size_t)c->pos[base + i] * half;
            c->rope_row(c->q + (size_t)i * c->q_dim, hp->n_head, hp->head_dim, hp->rope_dim, cs, sn);
            c->rope_row(Kb + (size_t)i * kvd, hp->n_head_kv, hp->head_dim, hp->rope_dim, cs, sn);
        }
        LLM_DEBUG(c, "Qrope", l, c->q, (size_t)n * c->q_dim);
        LLM_DEBUG(c, "Krope", l, Kb, (size_t)n * kvd);
        const size_t slot0 = l * layer_stride + ((size_t)c->n_past + base) * kvd;
        if (c->kv_f16) {
            /* llama.cpp: K, V stored as fp16; q converted to fp16 (the vec_dot type of F16 K) */
            c->f16_store((uint16_t *)c->k_cache + slot0, Kb, (size_t)n * kvd);
            c->f16_store((uint16_t *)c->v_cache + slot0, Vb, (size_t)n * kvd);
            c->f16_round(c->q, (size_t)n * c->q_dim);
        } else {
            memcpy((float *)c->k_cache + slot0, Kb, (size_t)n * kvd * sizeof(float));
            memcpy((float *)c->v_cache + slot0, Vb, (size_t)n * kvd * sizeof(float));
        }
        c->cur_layer = l;
        c->attn_arr = c->attn_order == LLM_ATTN_GEMM || (c->attn_order == LLM_ATTN_LLAMA && (n > 1 || prompt_tail)) ? 1 : 4;
        if (c->attention_prep)
            attention_prep(c, c->n_past + base + n);
        kn_pool_run(c->pool, c->attention_task, c, (int64_t)n * hp->n_head);
        LLM_DEBUG(c, "kqv", l, c->att, (size_t)n * c->q_dim);
        if ((rc = matmul(c, &L->wo, c->att, n, c->tmp, "attn_output", l)))
            return rc;
        LLM_DEBUG(c, "attn_out", l, c->tmp, (size_t)n * d);
        for (size_t k = 0; k < (size_t)n * d; k++)
            c->x[k] += c->tmp[k];
        LLM_DEBUG(c, "ffn_inp", l, c->x, (size_t)n * d);

        /* feed-forward block */
        for (uint32_t i = 0; i < n; i++)
            rms_norm(c->h + (size_t)i * d, c->x + (size_t)i * d, L->ffn_norm, d, hp->rms_eps);
        LLM_DEBUG(c, "ffn_norm", l, c->h, (size_t)n * d);
        if ((rc = matmul(c, &L->gate, c->h, n, c->ff_g, "ffn_gate", l)) ||
            (rc = matmul(c, &L->up, c->h, n, c->ff_u, "ffn_up", l)))
            return rc;
        LLM_DEBUG(c, "ffn_gate", l, c->ff_g, (size_t)n * hp->n_ff);
        LLM_DEBUG(c, "ffn_up", l, c->ff_u, (size_t)n * hp->n_ff);
        if (n == 1)
            swiglu_task(c, 0);
        else
            kn_pool_run(c->pool, swiglu_task, c, n);
        LLM_DEBUG(c, "ffn_swiglu", l, c->ff_g, (size_t)n * hp->n_ff);
        if ((rc = matmul(c, &L->down, c->ff_g, n, c->tmp, "ffn_down", l)))
            return rc;
        LLM_DEBUG(c, "ffn_out", l, c->tmp, (size_t)n * d);
        for (size_t k = 0; k < (size_t)n * d; k++)
            c->x[k] += c->tmp[k];
        LLM_DEBUG(c, "l_out", l, c->x, (size_t)n * d);
    }

    /* final norm (h) and the kept final state */
    for (uint32_t i = 0; i < n; i++)
        rms_norm(c->h + (size_t)i * d, c->x + (size_t)i * d, m->out_norm, d, hp->rms_eps);
    LLM_DEBUG(c, "result_norm", hp->n_layer, c->h, (size_t)n * d);
    if (c->hidden[hp->n_layer])
        memcpy(c->hidden[hp->n_layer], c->h, (size_t)n * d * sizeof(float));
    c->n_batch = base + n;
    c->n_hidden_rows = n;

    if (!logits)
        return 0;
    /* LM head only for the wanted rows: one matmul per run of consecutive wanted rows, straight into
     * place (typically one run: all rows for verification, the last row for a prefill) */
    const size_t V = hp->n_vocab;
    for (uint32_t a = 0; a < n;) {
        if (want_logits && !want_logits[a]) {
            a++;
            continue;
        }
        uint32_t b = a + 1;
        while (b < n && (!want_logits || want_logits[b]))
            b++;
        if ((rc = matmul(c, &m->output, c->h + (size_t)a * d, b - a, logits + (size_t)a * V, "output",
                         hp->n_layer)))
            return rc;
        a = b;
    }
    return 0;
}
