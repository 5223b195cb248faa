/* model_load.c - llama hyperparameters and weights from a GGUF, validated before any use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define ARCH "llama"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *type_words(int rc)
{
    return rc == -1 ? "is missing" : "has the wrong type";
}

/* u32 key; required: error if absent; else *out keeps its default */
static int get_u32(const gguf_file_t *g, const char *key, int required, uint32_t *out,
                   char *err, size_t cap)
{
    uint32_t v;
    int rc = gguf_get_u32(g, key, &v);
    if (rc == 0) {
        *out = v;
        return 0;
    }
    if (rc == -1 && !required)
        return 0;
    if (rc == -2) {
        /* llama.cpp allows per-layer arrays; we accept them only when all layers agree */
        uint32_t et;
        uint64_t n;
        const void *data;
        if (gguf_get_arr_info(g, key, &et, &n) == 0 && n > 0 &&
            (et == GGUF_TYPE_UINT32 || et == GGUF_TYPE_INT32) && gguf_get_arr_data(g, key, &data) == 0) {
            uint32_t first, e;
            memcpy(&first, data, 4);
            for (uint64_t i = 1; i < n; i++) {
                memcpy(&e, (const char *)data + 4 * i, 4);
                if (e != first)
                    return fail(err, cap, "metadata key %s: per-layer values differ (layer %llu: %u, "
                                "layer 0: %u); only uniform layers are supported",
                                key, (unsigned long long)i, e, first);
            }
            *out = first;
            return 0;
        }
    }
    return fail(err, cap, "metadata key %s %s (expected an unsigned 32-bit integer)", key, type_words(rc));
}

static int get_f32(const gguf_file_t *g, const char *key, int required, float *out,
                   char *err, size_t cap)
{
    float v;
    int rc = gguf_get_f32(g, key, &v);
    if (rc == 0) {
        *out = v;
        return 0;
    }
    if (rc == -1 && !required)
        return 0;
    return fail(err, cap, "metadata key %s %s (expected float32)", key, type_words(rc));
}

/* Finds a tensor and checks its shape (ne0 x ne1; ne1 == 0 means a 1-D tensor) and type. */
static const gguf_tensor_t *want_tensor(const gguf_file_t *g, const char *name, int64_t ne0, int64_t ne1,
                                        int optional, char *err, size_t cap)
{
    const gguf_tensor_t *t = gguf_find_tensor(g, name);
    if (!t) {
        if (!optional)
            fail(err, cap, "tensor %s is missing", name);
        return NULL;
    }
    uint32_t want_dims = ne1 ? 2 : 1;
    int64_t got1 = t->n_dims >= 2 ? t->ne[1] : 0;
    int extra = 0;
    for (uint32_t d = want_dims; d < 4; d++)
        if (t->ne[d] != 1)
            extra = 1;
    if (t->ne[0] != ne0 || (ne1 && got1 != ne1) || extra) {
        char want[48];
        if (ne1)
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)ne0, (long long)ne1);
        else
            snprintf(want, sizeof want, "[%lld]", (long long)ne0);
        fail(err, cap, "tensor %s has shape [%lld, %lld, %lld, %lld], expected %s", name,
             (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], want);
        return NULL;
    }
    if (!kn_type_supported(t->type) || kn_row_bytes(t->type, t->ne[0]) == 0) {
        fail(err, cap, "tensor %s has unsupported type %s (%u)", name, gguf_type_name(t->type), t->type);
        return NULL;
    }
    uint64_t rows = ne1 ? (uint64_t)ne1 : 1;
    if (t->nbytes < rows * kn_row_bytes(t->type, t->ne[0])) {
        fail(err, cap, "tensor %s: %llu bytes, too small for its shape", name, (unsigned long long)t->nbytes);
        return NULL;
    }
    return t;
}

static int want_matrix(const gguf_file_t *g, const char *name, int64_t cols, int64_t rows,
                       kn_matrix_t *out, char *err, size_t cap)
{
    const gguf_tensor_t *t = want_tensor(g, name, cols, rows, 0, err, cap);
    if (!t)
        return -1;
    out->type = t->type;
    out->rows = rows;
    out->cols = cols;
    out->data = t->data;
    return 0;
}

static int want_norm(const gguf_file_t *g, const char *name, uint32_t n, float *out, char *err, size_t cap)
{
    const gguf_tensor_t *t = want_tensor(g, name, n, 0, 0, err, cap);
    if (!t)
        return -1;
    kn_dequant_row(t->type, t->data, out, n);
    return 0;
}

static int load_hparams(const gguf_file_t *g, llm_hparams_t *hp, char *err, size_t cap)
{
    gguf_str_t arch;
    int rc = gguf_get_str(g, "general.architecture", &arch);
    if (rc != 0)
        return fail(err, cap, "metadata key general.architecture %s (expected a string)", type_words(rc));
    if (!gguf_str_eq(arch, ARCH))
        return fail(err, cap, "unsupported architecture \"%.*s\" (general.architecture); only \"" ARCH
                    "\" is supported", (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);

    memset(hp, 0, sizeof *hp);
    hp->rope_freq_base = 10000.0f;
    if (get_u32(g, ARCH ".context_length", 1, &hp->n_ctx_train, err, cap) ||
        get_u32(g, ARCH ".embedding_length", 1, &hp->n_embd, err, cap) ||
        get_u32(g, ARCH ".block_count", 1, &hp->n_layer, err, cap) ||
        get_u32(g, ARCH ".feed_forward_length", 1, &hp->n_ff, err, cap) ||
        get_u32(g, ARCH ".attention.head_count", 1, &hp->n_head, err, cap) ||
        get_f32(g, ARCH ".attention.layer_norm_rms_epsilon", 1, &hp->rms_eps, err, cap) ||
        get_f32(g, ARCH ".rope.freq_base", 0, &hp->rope_freq_base, err, cap))
        return -1;
    hp->n_head_kv = hp->n_head;
    if (get_u32(g, ARCH ".attention.head_count_kv", 0, &hp->n_head_kv, err, cap))
        return -1;

    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ff == 0 || hp->n_head == 0 || hp->n_head_kv == 0 ||
        hp->n_ctx_train == 0)
        return fail(err, cap, "hyperparameters must be nonzero (embd %u, layers %u, ff %u, heads %u/%u, ctx %u)",
                    hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, hp->n_ctx_train);
    if (hp->n_embd % hp->n_head != 0)
        return fail(err, cap, "embedding_length %u is not a multiple of head_count %u", hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv != 0)
        return fail(err, cap, "head_count %u is not a multiple of head_count_kv %u", hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->rope_dim = hp->head_dim;
    if (get_u32(g, ARCH ".rope.dimension_count", 0, &hp->rope_dim, err, cap))
        return -1;
    if (hp->rope_dim == 0 || hp->rope_dim % 2 != 0 || hp->rope_dim > hp->head_dim)
        return fail(err, cap, "rope.dimension_count %u must be even and in 2..head_dim (%u)", hp->rope_dim,
                    hp->head_dim);
    if (!(hp->rms_eps > 0.0f) || !(hp->rope_freq_base > 0.0f))
        return fail(err, cap, "layer_norm_rms_epsilon (%g) and rope.freq_base (%g) must be positive",
                    (double)hp->rms_eps, (double)hp->rope_freq_base);

    gguf_str_t scaling;
    if (gguf_get_str(g, ARCH ".rope.scaling.type", &scaling) == 0 && !gguf_str_eq(scaling, "none")) {
        float factor = 1.0f;
        if (get_f32(g, ARCH ".rope.scaling.factor", 0, &factor, err, cap))
            return -1;
        if (!(gguf_str_eq(scaling, "linear") && factor == 1.0f))
            return fail(err, cap, "rope scaling \"%.*s\" (factor %g) is not supported",
                        (int)(scaling.len > 32 ? 32 : scaling.len), scaling.ptr, (double)factor);
    }

    /* vocabulary: llama.vocab_size, else the token list length; both must agree when present */
    uint32_t et;
    uint64_t n_tokens = 0;
    int have_tokens = gguf_get_arr_info(g, "tokenizer.ggml.tokens", &et, &n_tokens) == 0;
    if (have_tokens && et != GGUF_TYPE_STRING)
        return fail(err, cap, "metadata key tokenizer.ggml.tokens is not an array of strings");
    uint32_t vocab = 0;
    if (get_u32(g, ARCH ".vocab_size", 0, &vocab, err, cap))
        return -1;
    if (vocab && have_tokens && vocab != n_tokens)
        return fail(err, cap, ARCH ".vocab_size %u differs from the token list length %llu", vocab,
                    (unsigned long long)n_tokens);
    if (!vocab && have_tokens) {
        if (n_tokens > UINT32_MAX)
            return fail(err, cap, "token list too long (%llu)", (unsigned long long)n_tokens);
        vocab = (uint32_t)n_tokens;
    }
    if (!vocab) {
        /* neither key: the embedding matrix decides (checked for consistency below anyway) */
        const gguf_tensor_t *t = gguf_find_tensor(g, "token_embd.weight");
        if (t && t->n_dims >= 2 && t->ne[1] > 0 && t->ne[1] <= INT32_MAX)
            vocab = (uint32_t)t->ne[1];
    }
    if (!vocab)
        return fail(err, cap, "vocabulary size unknown: no " ARCH ".vocab_size, no tokenizer.ggml.tokens");
    hp->n_vocab = vocab;
    return 0;
}

llm_model_t *llm_model_load(const gguf_file_t *g, char *err, size_t err_cap)
{
    if (err && err_cap)
        err[0] = '\0';
    if (!g) {
        fail(err, err_cap, "llm_model_load: no GGUF file");
        return NULL;
    }
    llm_hparams_t hp;
    if (load_hparams(g, &hp, err, err_cap))
        return NULL;

    llm_model_t *m = calloc(1, sizeof *m);
    if (!m) {
        fail(err, err_cap, "out of memory");
        return NULL;
    }
    m->hp = hp;
    m->layers = calloc(hp.n_layer, sizeof *m->layers);
    m->norms = malloc(((size_t)2 * hp.n_layer + 1) * hp.n_embd * sizeof(float));
    if (!m->layers || !m->norms) {
        fail(err, err_cap, "out of memory");
        goto bad;
    }

    const int64_t d = hp.n_embd, qd = (int64_t)hp.n_head * hp.head_dim, kvd = (int64_t)hp.n_head_kv * hp.head_dim;
    if (want_matrix(g, "token_embd.weight", d, hp.n_vocab, &m->tok_embd, err, err_cap))
        goto bad;
    const gguf_tensor_t *out = want_tensor(g, "output.weight", d, hp.n_vocab, 1, err, err_cap);
    if (!out && gguf_find_tensor(g, "output.weight"))
        goto bad;   /* present but wrong */
    if (out) {
        m->output = (kn_matrix_t){ .type = out->type, .rows = hp.n_vocab, .cols = d, .data = out->data };
        m->hp.tied_output = 0;
    } else {
        m->output = m->tok_embd;
        m->hp.tied_output = 1;
    }
    float *normp = m->norms;
    for (uint32_t l = 0; l < hp.n_layer; l++) {
        llm_layer_t *L = &m->layers[l];
        char name[96];
#define MAT(field, suffix, cols, rows)                                                   \
        snprintf(name, sizeof name, "blk.%u." suffix ".weight", l);                   \
        if (want_matrix(g, name, cols, rows, &L->field, err, err_cap))               \
            goto bad;
        MAT(wq, "attn_q", d, qd)
        MAT(wk, "attn_k", d, kvd)
        MAT(wv, "attn_v", d, kvd)
        MAT(wo, "attn_output", qd, d)
        MAT(gate, "ffn_gate", d, hp.n_ff)
        MAT(up, "ffn_up", d, hp.n_ff)
        MAT(down, "ffn_down", hp.n_ff, d)
#undef MAT
        snprintf(name, sizeof name, "blk.%u.attn_norm.weight", l);
        if (want_norm(g, name, hp.n_embd, normp, err, err_cap))
            goto bad;
        L->attn_norm = normp;
        normp += hp.n_embd;
        snprintf(name, sizeof name, "blk.%u.ffn_norm.weight", l);
        if (want_norm(g, name, hp.n_embd, normp, err, err_cap))
            goto bad;
        L->ffn_norm = normp;
        normp += hp.n_embd;
    }
    if (want_norm(g, "output_norm.weight", hp.n_embd, normp, err, err_cap))
        goto bad;
    m->out_norm = normp;
    /* pack the weights once for the multi-token tiles (a failed pack only costs speed) */
    for (uint32_t l = 0; l < hp.n_layer; l++) {
        llm_layer_t *L = &m->layers[l];
        const kn_matrix_t *mats[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
        for (int k = 0; k < 7; k++) L->packed[k] = kn_matrix_pack(mats[k]);
    }
    m->output_packed = kn_matrix_pack(&m->output);
    return m;

bad:
    llm_model_free(m);
    return NULL;
}

void llm_model_free(llm_model_t *m)
{
    if (!m)
        return;
    if (m->layers)
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
            for (int k = 0; k < 7; k++) kn_packed_free(m->layers[l].packed[k]);
    kn_packed_free(m->output_packed);
    free(m->layers);
    free(m->norms);
    free(m);
}

const llm_hparams_t *llm_model_hparams(const llm_model_t *m)
{
    return m ? &m->hp : NULL;
}
