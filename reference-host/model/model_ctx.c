/* model_ctx.c - inference context: KV cache, scratch buffers (all allocated once), commit/truncate,
 * kept hidden states. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

int llm_set_err(llm_ctx_t *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

/* 64-byte aligned, zeroed float buffer */
static float *alloc_f32(size_t n)
{
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0)
        return NULL;
    memset(p, 0, bytes);
    return p;
}

/* cos/sin of every (position, pair) once, with ggml's numerics: theta starts at (float)pos and is
 * multiplied by powf(base, -2/rope_dim) after each pair. */
static void fill_rope_table(llm_ctx_t *c)
{
    const llm_hparams_t *hp = &c->m->hp;
    const uint32_t half = hp->rope_dim / 2;
    const float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->rope_dim);
    for (uint32_t p = 0; p < c->n_ctx; p++) {
        float theta = (float)p;
        for (uint32_t i = 0; i < half; i++) {
            c->rope_cos[(size_t)p * half + i] = cosf(theta);
            c->rope_sin[(size_t)p * half + i] = sinf(theta);
            theta *= theta_scale;
        }
    }
}

llm_ctx_t *llm_ctx_create(const llm_model_t *m, const llm_ctx_params_t *p, char *err, size_t err_cap)
{
    if (err && err_cap)
        err[0] = '\0';
    if (!m) {
        if (err && err_cap)
            snprintf(err, err_cap, "llm_ctx_create: no model");
        return NULL;
    }
    const llm_hparams_t *hp = &m->hp;
    llm_ctx_params_t def = { 0, 0, 0, KN_MODE_EXACT, LLM_KV_F16, LLM_ATTN_AUTO };
    if (!p)
        p = &def;
    uint32_t n_ctx = p->n_ctx ? p->n_ctx : (hp->n_ctx_train < 2048 ? hp->n_ctx_train : 2048);
    uint32_t max_batch = p->max_batch ? p->max_batch : 64;
    if (max_batch > n_ctx)
        max_batch = n_ctx;
    if (p->mode != KN_MODE_EXACT && p->mode != KN_MODE_FAST && p->mode != KN_MODE_LLAMA) {
        if (err && err_cap)
            snprintf(err, err_cap, "llm_ctx_create: unknown mode %d", p->mode);
        return NULL;
    }
    if (p->kv_type != LLM_KV_F16 && p->kv_type != LLM_KV_F32) {
        if (err && err_cap)
            snprintf(err, err_cap, "llm_ctx_create: unknown kv_type %d", p->kv_type);
        return NULL;
    }
    if (p->attn_order < LLM_ATTN_AUTO || p->attn_order > LLM_ATTN_LLAMA) {
        if (err && err_cap)
            snprintf(err, err_cap, "llm_ctx_create: unknown attn_order %d", p->attn_order);
        return NULL;
    }
    if (n_ctx > (1u << 24) || max_batch > 4096) {
        if (err && err_cap)
            snprintf(err, err_cap, "llm_ctx_create: n_ctx %u or max_batch %u too large", n_ctx, max_batch);
        return NULL;
    }

    llm_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->m = m;
    c->n_ctx = n_ctx;
    c->max_batch = max_batch;
    c->mode = p->mode;
    c->attn_order = p->attn_order != LLM_ATTN_AUTO ? p->attn_order
                    : p->mode != KN_MODE_EXACT ? LLM_ATTN_LLAMA : LLM_ATTN_VEC;
    c->q_dim = hp->n_head * hp->head_dim;
    c->kv_dim = hp->n_head_kv * hp->head_dim;

    const size_t kv = (size_t)hp->n_layer * n_ctx * c->kv_dim;
    const size_t B = max_batch;
    c->kv_f16 = p->kv_type == LLM_KV_F16;
    c->kv_esize = c->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    /* alloc_f32 of half the floats gives the fp16 cache (n_layer * n_ctx * kv_dim is even or +1) */
    c->k_cache = alloc_f32(c->kv_f16 ? (kv + 1) / 2 : kv);
    c->v_cache = alloc_f32(c->kv_f16 ? (kv + 1) / 2 : kv);
    c->kv_new = alloc_f32(2 * B * c->kv_dim);
    c->kv_read = alloc_f32(2 * (size_t)c->kv_dim);
    c->rope_cos = alloc_f32((size_t)n_ctx * hp->rope_dim / 2);
    c->rope_sin = alloc_f32((size_t)n_ctx * hp->rope_dim / 2);
    c->x = alloc_f32(B * hp->n_embd);
    c->h = alloc_f32(B * hp->n_embd);
    c->q = alloc_f32(B * c->q_dim);
    c->att = alloc_f32(B * c->q_dim);
    c->tmp = alloc_f32(B * hp->n_embd);
    c->ff_g = alloc_f32(B * hp->n_ff);
    c->ff_u = alloc_f32(B * hp->n_ff);
    c->scores = alloc_f32(B * hp->n_head * n_ctx);
    c->attn_acc = alloc_f32(B * hp->n_head * (4 * LLM_ATTN_LANES + 1) * hp->head_dim);
    c->parent = calloc(B, sizeof *c->parent);
    c->pos = calloc(B, sizeof *c->pos);
    c->anc = calloc(B * B, sizeof *c->anc);
    c->anc_len = calloc(B, sizeof *c->anc_len);
    c->hidden = calloc((size_t)hp->n_layer + 1, sizeof *c->hidden);
    if (!c->k_cache || !c->v_cache || !c->kv_new || !c->kv_read || !c->rope_cos || !c->rope_sin || !c->x || !c->h || !c->q || !c->att ||
        !c->tmp || !c->ff_g || !c->ff_u || !c->scores || !c->attn_acc || !c->parent || !c->pos || !c->anc || !c->anc_len ||
        !c->hidden)
        goto oom;
    c->pool = kn_pool_create(p->n_threads);
    if (!c->pool) {
        if (err && err_cap)
            snprintf(err, err_cap, "llm_ctx_create: cannot start %d threads", p->n_threads);
        llm_ctx_free(c);
        return NULL;
    }
    fill_rope_table(c);
    c->attention_task = llm_attention_task;
    c->swiglu_row = llm_swiglu_row;
    c->rope_row = llm_rope_row;
    c->f16_store = llm_f16_store;
    c->f16_round = llm_f16_round;
#ifdef MODEL_HAVE_AVX2
    /* F16C predates AVX2 on every x86 CPU (and some compilers cannot test it here) */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        c->attention_task = llm_attention_task_avx2;   /* same results, hardware FMA */
        if (c->kv_f16 && hp->head_dim % LLM_ATTN_LANES == 0) {   /* same results, fewer conversions */
            c->kv_f32 = alloc_f32(2 * (size_t)n_ctx * c->kv_dim);
            if (!c->kv_f32)
                goto oom;
            c->attention_task = llm_attention_fast_avx2;
            c->attention_prep = llm_attention_prep_avx2;
        }
        c->swiglu_row = llm_swiglu_row_avx2;
        c->rope_row = llm_rope_row_avx2;
        c->f16_store = llm_f16_store_avx2;
        c->f16_round = llm_f16_round_avx2;
    }
#endif
    return c;

oom:
    if (err && err_cap)
        snprintf(err, err_cap, "llm_ctx_create: out of memory (n_ctx %u, max_batch %u)", n_ctx, max_batch);
    llm_ctx_free(c);
    return NULL;
}

void llm_ctx_free(llm_ctx_t *c)
{
    if (!c)
        return;
    if (c->pool)
        kn_pool_free(c->pool);
    if (c->hidden)
        for (uint32_t l = 0; l <= c->m->hp.n_layer; l++)
            free(c->hidden[l]);
    free(c->hidden);
    free(c->k_cache);
    free(c->v_cache);
    free(c->kv_new);
    free(c->kv_read);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->x);
    free(c->h);
    free(c->q);
    free(c->att);
    free(c->tmp);
    free(c->ff_g);
    free(c->ff_u);
    free(c->scores);
    free(c->attn_acc);
    free(c->kv_f32);
    free(c->parent);
    free(c->pos);
    free(c->anc);
    free(c->anc_len);
    free(c);
}

const char *llm_last_error(const llm_ctx_t *c)
{
    return c ? c->err : "no context";
}

uint32_t llm_n_past(const llm_ctx_t *c)
{
    return c->n_past;
}

struct kn_pool *llm_ctx_pool(llm_ctx_t *c)
{
    return c ? c->pool : NULL;
}

uint32_t llm_n_ctx(const llm_ctx_t *c)
{
    return c->n_ctx;
}

int llm_truncate(llm_ctx_t *c, uint32_t n)
{
    if (n > c->n_past)
        return llm_set_err(c, LLM_E_ARG, "llm_truncate: %u is beyond the %u committed rows", n, c->n_past);
    c->n_past = n;
    c->n_batch = 0;
    c->prompt_tail = 0;
    return 0;
}

int llm_ctx_keep_hidden(llm_ctx_t *c, const uint32_t *layers, uint32_t n_layers)
{
    const uint32_t L = c->m->hp.n_layer;
    for (uint32_t i = 0; i < n_layers; i++)
        if (layers[i] > L)
            return llm_set_err(c, LLM_E_ARG, "llm_ctx_keep_hidden: layer %u is beyond n_layer %u", layers[i], L);
    for (uint32_t i = 0; i < n_layers; i++) {
        uint32_t l = layers[i];
        if (!c->hidden[l]) {
            c->hidden[l] = alloc_f32((size_t)c->max_batch * c->m->hp.n_embd);
            if (!c->hidden[l])
                return llm_set_err(c, LLM_E_NOMEM, "llm_ctx_keep_hidden: out of memory");
        }
    }
    c->n_hidden_rows = 0;   /* nothing valid until the next forward */
    return 0;
}

const float *llm_hidden(const llm_ctx_t *c, uint32_t layer, uint32_t i)
{
    if (layer > c->m->hp.n_layer || !c->hidden[layer] || i >= c->n_hidden_rows)
        return NULL;
    return c->hidden[layer] + (size_t)i * c->m->hp.n_embd;
}

int llm_forward(llm_ctx_t *c, const int32_t *tokens, const int32_t *parent, uint32_t n,
                const uint8_t *want_logits, float *logits)
{
    return llm_forward_impl(c, tokens, parent, n, want_logits, logits, 0);
}

int llm_forward_append(llm_ctx_t *c, const int32_t *tokens, const int32_t *parent, uint32_t n,
                       const uint8_t *want_logits, float *logits)
{
    return llm_forward_impl(c, tokens, parent, n, want_logits, logits, 1);
}

const llm_model_t *llm_ctx_model(const llm_ctx_t *c)
{
    return c->m;
}

uint32_t llm_max_batch(const llm_ctx_t *c)
{
    return c->max_batch;
}

uint32_t llm_n_scratch(const llm_ctx_t *c)
{
    return c->n_batch;
}

int llm_commit(llm_ctx_t *c, const int32_t *path, uint32_t n_path)
{
    if (n_path == 0) {
        c->n_batch = 0;
        return 0;
    }
    if (!path)
        return llm_set_err(c, LLM_E_ARG, "llm_commit: path is NULL with n_path %u", n_path);
    if (n_path > c->n_batch)
        return llm_set_err(c, LLM_E_ARG, "llm_commit: path of %u rows but the pending batch has %u", n_path,
                           c->n_batch);
    for (uint32_t k = 0; k < n_path; k++) {
        int32_t r = path[k];
        if (r < 0 || (uint32_t)r >= c->n_batch)
            return llm_set_err(c, LLM_E_ARG, "llm_commit: path[%u] = %d is not a row of the batch (n %u)", k, r,
                               c->n_batch);
        int32_t want = k == 0 ? -1 : path[k - 1];
        if (c->parent[r] != want) {
            if (k == 0)
                return llm_set_err(c, LLM_E_ARG, "llm_commit: path[0] = %d is not a root of the batch "
                                   "(its parent is %d)", r, c->parent[r]);
            return llm_set_err(c, LLM_E_ARG, "llm_commit: path[%u] = %d is not a child of path[%u] = %d "
                               "(its parent is %d)", k, r, k - 1, want, c->parent[r]);
        }
    }
    /* path is strictly increasing, so path[k] >= k and moving in increasing k never overwrites a
     * source row still to be moved */
    const size_t row = c->kv_dim * c->kv_esize, layer_stride = (size_t)c->n_ctx * row;
    for (uint32_t l = 0; l < c->m->hp.n_layer; l++) {
        char *K = (char *)c->k_cache + l * layer_stride, *V = (char *)c->v_cache + l * layer_stride;
        for (uint32_t k = 0; k < n_path; k++) {
            size_t src = (size_t)c->n_past + (size_t)path[k], dst = (size_t)c->n_past + k;
            if (src != dst) {
                memcpy(K + dst * row, K + src * row, row);
                memcpy(V + dst * row, V + src * row, row);
            }
        }
    }
    c->prompt_tail = n_path > 1 && n_path == c->n_batch;
    c->n_past += n_path;
    c->n_batch = 0;
    return 0;
}

/* cache row (layer, pos) as floats in out */
static const float *kv_row(const llm_ctx_t *c, const void *cache, uint32_t layer, uint32_t pos, float *out)
{
    if (layer >= c->m->hp.n_layer || pos >= c->n_past)
        return NULL;
    const size_t off = ((size_t)layer * c->n_ctx + pos) * c->kv_dim;
    if (!c->kv_f16)
        return (const float *)cache + off;
    const uint16_t *h = (const uint16_t *)cache + off;
    for (uint32_t i = 0; i < c->kv_dim; i++)
        out[i] = kn_fp16_to_f32(h[i]);
    return out;
}

const float *llm_kv_k(const llm_ctx_t *c, uint32_t layer, uint32_t pos)
{
    return kv_row(c, c->k_cache, layer, pos, c->kv_read);
}

const float *llm_kv_v(const llm_ctx_t *c, uint32_t layer, uint32_t pos)
{
    return kv_row(c, c->v_cache, layer, pos, c->kv_read + c->kv_dim);
}
