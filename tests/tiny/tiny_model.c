/* tiny_model.c - writes random-weight llama GGUFs (see tiny_model.h). */
#include "tiny_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"
#include "kernels.h"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

tiny_model_opts tiny_model_default_target(void)
{
    tiny_model_opts o = { 0 };
    o.n_layer = 2;
    o.n_embd = 64;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_ff = 128;
    o.n_vocab = 512;
    o.n_ctx_train = 512;
    o.wtype = GGML_TYPE_Q8_0;
    o.tied = 1;
    o.seed = 1;
    return o;
}

tiny_model_opts tiny_model_default_draft(void)
{
    tiny_model_opts o = tiny_model_default_target();
    o.n_layer = 1;
    o.n_embd = 32;
    o.n_head = 2;
    o.n_head_kv = 1;
    o.n_ff = 64;
    o.seed = 2;
    return o;
}

/* ---- deterministic random numbers (splitmix64 + Box-Muller) ---- */
typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(rng_t *r)   /* (0, 1) */
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static float rng_normal(rng_t *r)
{
    double u = rng_unit(r), v = rng_unit(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* ---- tokenizer vocabulary ---- */

/* GPT-2 byte -> unicode code point */
static uint32_t byte_cp(uint32_t b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return b;
    uint32_t n = 0;
    for (uint32_t k = 0; k < b; k++)
        if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF)))
            n++;
    return 0x100 + n;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;   /* all code points here are < 0x800 */
}

/* merges in rank order, in byte-level spelling ("Ġ" = space) */
static const char *const k_merges[] = {
    "Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "a n", "Ġ o", "Ġ w", "Ġt o", "Ġ c", "i s",
};
#define N_MERGES (sizeof k_merges / sizeof k_merges[0])

static const char *const k_special[TINY_N_SPECIAL] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };

/* ---- tensors ---- */

/* ne1 == 0: a 1-D tensor */
static int add_tensor(gguf_writer_t *w, const char *name, uint32_t type, int64_t ne0, int64_t ne1, const void *data,
                      size_t nbytes)
{
    const int64_t ne[2] = { ne0, ne1 };
    return gguf_writer_add_tensor(w, name, type, ne1 ? 2 : 1, ne, data, nbytes);
}

static int add_matrix(gguf_writer_t *w, rng_t *r, const tiny_model_opts *o, const char *name, uint32_t cols,
                      uint32_t rows, float std, char *err, size_t cap)
{
    uint32_t type = o->wtype;
    if (o->misshape_tensor && strcmp(o->misshape_tensor, name) == 0)
        rows += 1;
    int zero = 0;
    if (o->retype_tensor && strcmp(o->retype_tensor, name) == 0) {
        type = o->retype;
        zero = 1;
    }
    uint32_t be = gguf_type_block_elems(type), bb = gguf_type_block_bytes(type);
    if (!be || cols % be)
        return fail(err, cap, "tiny_model: %s: type %u cannot hold %u columns", name, type, cols);
    size_t row_bytes = (size_t)cols / be * bb;
    uint8_t *data = calloc((size_t)rows, row_bytes);
    float *row = malloc(cols * sizeof *row);
    if (!data || !row) {
        free(data);
        free(row);
        return fail(err, cap, "tiny_model: out of memory");
    }
    for (uint32_t i = 0; i < rows && !zero; i++) {
        for (uint32_t k = 0; k < cols; k++)
            row[k] = std * rng_normal(r);
        if (kn_quant_row(type, row, data + (size_t)i * row_bytes, cols) != 0) {
            free(data);
            free(row);
            return fail(err, cap, "tiny_model: %s: cannot quantize to %s", name, gguf_type_name(type));
        }
    }
    free(row);
    int rc = add_tensor(w, name, type, cols, rows, data, (size_t)rows * row_bytes);
    free(data);
    return rc ? fail(err, cap, "tiny_model: %s: out of memory", name) : 0;
}

static int add_norm(gguf_writer_t *w, rng_t *r, const tiny_model_opts *o, const char *name, uint32_t n,
                    char *err, size_t cap)
{
    if (o->misshape_tensor && strcmp(o->misshape_tensor, name) == 0)
        n += 32;
    float *v = malloc(n * sizeof *v);
    if (!v)
        return fail(err, cap, "tiny_model: out of memory");
    for (uint32_t k = 0; k < n; k++)
        v[k] = 1.0f + 0.1f * rng_normal(r);
    int rc = add_tensor(w, name, GGML_TYPE_F32, n, 0, v, n * sizeof *v);
    free(v);
    return rc ? fail(err, cap, "tiny_model: %s: out of memory", name) : 0;
}

static int skip(const tiny_model_opts *o, const char *name)
{
    return o->omit_tensor && strcmp(o->omit_tensor, name) == 0;
}

static int add_tokenizer(gguf_writer_t *w, const tiny_model_opts *o, char *err, size_t cap)
{
    const uint32_t V = o->n_vocab;
    char **tok = calloc(V, sizeof *tok);
    int32_t *type = calloc(V, sizeof *type);
    int rc = -1;
    if (!tok || !type)
        goto out;
    uint32_t n = 0;
    for (; n < TINY_N_SPECIAL; n++) {
        tok[n] = strdup(k_special[n]);
        type[n] = 3;
    }
    for (uint32_t b = 0; b < 256; b++, n++) {
        char s[4] = { 0 };
        utf8_put(s, byte_cp(b));
        tok[n] = strdup(s);
        type[n] = 1;
    }
    for (size_t k = 0; k < N_MERGES; k++, n++) {
        /* merged token = the merge line without its space */
        const char *sp = strchr(k_merges[k], ' ');
        size_t a = (size_t)(sp - k_merges[k]);
        tok[n] = malloc(strlen(k_merges[k]));
        if (tok[n]) {
            memcpy(tok[n], k_merges[k], a);
            strcpy(tok[n] + a, sp + 1);
        }
        type[n] = 1;
    }
    for (uint32_t f = 0; n < V; n++, f++) {
        char s[32];
        snprintf(s, sizeof s, "<filler_%u>", f);
        tok[n] = strdup(s);
        type[n] = 1;
    }
    for (uint32_t k = 0; k < V; k++)
        if (!tok[k])
            goto out;
    if (gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2") || gguf_writer_add_str(w, "tokenizer.ggml.pre", "smollm") ||
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, V) ||
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, type, V) ||
        gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", k_merges, N_MERGES) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1) || gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 2) ||
        gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 0)) {
        fail(err, cap, "tiny_model: out of memory writing the tokenizer metadata");
        goto out;
    }
    rc = 0;
out:
    if (rc && err && cap && !err[0])
        fail(err, cap, "tiny_model: out of memory");
    if (tok)
        for (uint32_t k = 0; k < V; k++)
            free(tok[k]);
    free(tok);
    free(type);
    return rc;
}

int tiny_model_write(const char *path, const tiny_model_opts *o, char *err, size_t err_cap)
{
    if (err && err_cap)
        err[0] = '\0';
    if (!o->n_layer || !o->n_embd || !o->n_head || !o->n_head_kv || !o->n_ff || o->n_embd % o->n_head ||
        o->n_head % o->n_head_kv || o->n_embd % 32 || o->n_ff % 32)
        return fail(err, err_cap, "tiny_model: inconsistent shape (embd %u heads %u/%u ff %u; embd and ff must "
                    "be multiples of 32)", o->n_embd, o->n_head, o->n_head_kv, o->n_ff);
    if (o->n_vocab < TINY_MIN_VOCAB)
        return fail(err, err_cap, "tiny_model: vocab %u < %u", o->n_vocab, TINY_MIN_VOCAB);

    gguf_writer_t *w = gguf_writer_new();
    if (!w)
        return fail(err, err_cap, "tiny_model: out of memory");
    rng_t r = { o->seed * 0x2545F4914F6CDD1Dull + 7 };
    const float std = o->init_std > 0 ? o->init_std : 0.1f;
    const uint32_t d = o->n_embd, hd = d / o->n_head, kvd = hd * o->n_head_kv;
    int rc = -1;

    if (gguf_writer_add_str(w, "general.architecture", o->arch ? o->arch : "llama") ||
        gguf_writer_add_str(w, "general.name", "tiny-random-llama") ||
        gguf_writer_add_u32(w, "llama.context_length", o->n_ctx_train ? o->n_ctx_train : 512) ||
        gguf_writer_add_u32(w, "llama.embedding_length", d) || gguf_writer_add_u32(w, "llama.block_count", o->n_layer) ||
        gguf_writer_add_u32(w, "llama.feed_forward_length", o->n_ff) ||
        gguf_writer_add_u32(w, "llama.attention.head_count", o->n_head) ||
        gguf_writer_add_u32(w, "llama.attention.head_count_kv", o->n_head_kv) ||
        gguf_writer_add_f32(w, "llama.rope.freq_base", o->rope_base > 0 ? o->rope_base : 10000.0f) ||
        gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f) ||
        gguf_writer_add_u32(w, "llama.rope.dimension_count", hd) || gguf_writer_add_u32(w, "llama.vocab_size", o->n_vocab)) {
        fail(err, err_cap, "tiny_model: out of memory writing metadata");
        goto out;
    }
    if (add_tokenizer(w, o, err, err_cap))
        goto out;

    char name[64];
#define MAT(nm, cols, rows)                                                      \
    if (!skip(o, nm) && add_matrix(w, &r, o, nm, cols, rows, std, err, err_cap)) \
        goto out;
#define NORM(nm)                                                              \
    if (!skip(o, nm) && add_norm(w, &r, o, nm, d, err, err_cap))              \
        goto out;
    MAT("token_embd.weight", d, o->n_vocab)
    for (uint32_t l = 0; l < o->n_layer; l++) {
        snprintf(name, sizeof name, "blk.%u.attn_norm.weight", l);
        NORM(name)
        snprintf(name, sizeof name, "blk.%u.attn_q.weight", l);
        MAT(name, d, d)
        snprintf(name, sizeof name, "blk.%u.attn_k.weight", l);
        MAT(name, d, kvd)
        snprintf(name, sizeof name, "blk.%u.attn_v.weight", l);
        MAT(name, d, kvd)
        snprintf(name, sizeof name, "blk.%u.attn_output.weight", l);
        MAT(name, d, d)
        snprintf(name, sizeof name, "blk.%u.ffn_norm.weight", l);
        NORM(name)
        snprintf(name, sizeof name, "blk.%u.ffn_gate.weight", l);
        MAT(name, d, o->n_ff)
        snprintf(name, sizeof name, "blk.%u.ffn_up.weight", l);
        MAT(name, d, o->n_ff)
        snprintf(name, sizeof name, "blk.%u.ffn_down.weight", l);
        MAT(name, o->n_ff, d)
    }
    NORM("output_norm.weight")
    if (!o->tied)
        MAT("output.weight", d, o->n_vocab)
#undef MAT
#undef NORM

    if (gguf_writer_write(w, path, err, err_cap))
        goto out;
    rc = 0;
out:
    gguf_writer_free(w);
    return rc;
}
