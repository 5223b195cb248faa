/* test_gguf_model.c - the reader on the real SmolLM2-135M-Instruct GGUF (suite "model"): counts,
 * llama hyperparameters from the notes, the expected tensor names and shapes, tensor extents, and
 * O(1) access to the 49152-entry token array. Prints the tensor type histogram. Skipped when the
 * model file is absent. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"

static gguf_file_t *g_file;

static void setup(void)
{
    char path[4096];
    const char *m = getenv("DSTRAT_MODEL");
    if (m && *m) {
        snprintf(path, sizeof path, "%s", m);
    } else {
        const char *root = getenv("DSTRAT_SOURCE_ROOT");
        snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", root ? root : ".");
    }
    if (access(path, R_OK) != 0) cr_skip_test("model not found at %s", path);
    char err[512];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g_file = gguf_open(path, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_not_null(g_file, "gguf_open: %s", err);
    cr_log_info("gguf_open(%s): %.2f ms", path, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
}

static void teardown(void)
{
    gguf_close(g_file);
    g_file = NULL;
}

TestSuite(gguf_model, .init = setup, .fini = teardown);

static uint32_t u32(const char *key)
{
    uint32_t v = 0;
    cr_assert_eq(gguf_get_u32(g_file, key, &v), 0, "%s", key);
    return v;
}

Test(gguf_model, metadata)
{
    gguf_str_t s;
    cr_assert_eq(gguf_get_str(g_file, "general.architecture", &s), 0);
    cr_expect(gguf_str_eq(s, "llama"), "architecture '%.*s'", (int)s.len, s.ptr);
    cr_expect_eq(u32("llama.block_count"), 30);
    cr_expect_eq(u32("llama.embedding_length"), 576);
    cr_expect_eq(u32("llama.feed_forward_length"), 1536);
    cr_expect_eq(u32("llama.attention.head_count"), 9);
    cr_expect_eq(u32("llama.attention.head_count_kv"), 3);
    cr_expect_eq(u32("llama.context_length"), 8192);
    cr_expect_eq(u32("tokenizer.ggml.bos_token_id"), 1);
    cr_expect_eq(u32("tokenizer.ggml.eos_token_id"), 2);
    float f;
    cr_assert_eq(gguf_get_f32(g_file, "llama.rope.freq_base", &f), 0);
    cr_expect_eq(f, 100000.0f);
    cr_assert_eq(gguf_get_f32(g_file, "llama.attention.layer_norm_rms_epsilon", &f), 0);
    cr_expect_float_eq(f, 1e-5f, 1e-9f);
    cr_assert_eq(gguf_get_str(g_file, "tokenizer.ggml.model", &s), 0);
    cr_expect(gguf_str_eq(s, "gpt2"));
    cr_expect_eq(gguf_get_u32(g_file, "llama.rope.freq_base", &(uint32_t){0}), -2, "float is not an integer");
}

Test(gguf_model, token_arrays_are_constant_time)
{
    uint32_t et;
    uint64_t n;
    cr_assert_eq(gguf_get_arr_info(g_file, "tokenizer.ggml.tokens", &et, &n), 0);
    cr_expect_eq(et, GGUF_TYPE_STRING);
    cr_assert_eq(n, 49152);
    gguf_str_t s;
    cr_assert_eq(gguf_get_arr_str(g_file, "tokenizer.ggml.tokens", 2, &s), 0);
    cr_expect(gguf_str_eq(s, "<|im_end|>"), "token 2 '%.*s'", (int)s.len, s.ptr);
    cr_assert_eq(gguf_get_arr_str(g_file, "tokenizer.ggml.tokens", 216, &s), 0);
    cr_expect(gguf_str_eq(s, "\xc4\xa0"), "token 216 is 'Ġ' (space)");
    cr_expect_eq(gguf_get_arr_str(g_file, "tokenizer.ggml.tokens", 49152, &s), -3);
    /* 10 passes over all tokens, backwards (a linear scan per lookup would take seconds) */
    struct timespec t0, t1;
    uint64_t total = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int pass = 0; pass < 10; pass++)
        for (uint64_t i = n; i-- > 0;) {
            cr_assert_eq(gguf_get_arr_str(g_file, "tokenizer.ggml.tokens", i, &s), 0);
            total += s.len;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_log_info("491520 gguf_get_arr_str calls: %.1f ms (%llu bytes)", ms, (unsigned long long)total);
    cr_expect_lt(ms, 2000.0);
    cr_assert_eq(gguf_get_arr_info(g_file, "tokenizer.ggml.merges", &et, &n), 0);
    cr_expect_eq(et, GGUF_TYPE_STRING);
    cr_expect_eq(n, 48900);
    cr_assert_eq(gguf_get_arr_info(g_file, "tokenizer.ggml.token_type", &et, &n), 0);
    cr_expect_eq(et, GGUF_TYPE_INT32);
    cr_expect_eq(n, 49152);
}

static void expect_tensor(const char *name, int64_t ne0, int64_t ne1)
{
    const gguf_tensor_t *t = gguf_find_tensor(g_file, name);
    cr_assert_not_null(t, "tensor %s missing", name);
    cr_expect_eq(t->ne[0], ne0, "%s ne[0]", name);
    cr_expect_eq(t->ne[1], ne1, "%s ne[1]", name);
    cr_expect_eq(t->n_dims, ne1 == 1 ? 1u : 2u, "%s n_dims", name);
}

Test(gguf_model, tensors)
{
    cr_assert_eq(gguf_n_tensors(g_file), 272);   /* 2 + 30 layers * 9, tied embeddings */
    int hist[64] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(g_file); i++) {
        const gguf_tensor_t *t = gguf_tensor_at(g_file, i);
        cr_assert_lt(t->type, 64);
        hist[t->type]++;
        /* sequential layout, as ggml writes it */
        if (i > 0) {
            const gguf_tensor_t *p = gguf_tensor_at(g_file, i - 1);
            uint64_t a = gguf_alignment(g_file);
            cr_expect_eq(t->offset, p->offset + (p->nbytes + a - 1) / a * a, "tensor %lld offset", (long long)i);
        }
    }
    char line[512];
    int n = snprintf(line, sizeof line, "tensor types:");
    for (int ty = 0; ty < 64; ty++)
        if (hist[ty]) n += snprintf(line + n, sizeof line - (size_t)n, " %s=%d", gguf_type_name((uint32_t)ty), hist[ty]);
    cr_log_info("%s", line);
    fprintf(stderr, "gguf_model: %s\n", line);

    expect_tensor("token_embd.weight", 576, 49152);
    expect_tensor("output_norm.weight", 576, 1);
    cr_expect_null(gguf_find_tensor(g_file, "output.weight"), "embeddings are tied");
    char name[64];
    for (int l = 0; l < 30; l++) {
        static const struct { const char *n; int64_t ne0, ne1; } per_layer[] = {
            {"attn_norm", 576, 1}, {"attn_q", 576, 576}, {"attn_k", 576, 192}, {"attn_v", 576, 192},
            {"attn_output", 576, 576}, {"ffn_norm", 576, 1}, {"ffn_gate", 576, 1536}, {"ffn_up", 576, 1536},
            {"ffn_down", 1536, 576},
        };
        for (size_t k = 0; k < sizeof per_layer / sizeof per_layer[0]; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, per_layer[k].n);
            expect_tensor(name, per_layer[k].ne0, per_layer[k].ne1);
            const gguf_tensor_t *t = gguf_find_tensor(g_file, name);
            if (per_layer[k].ne1 == 1)
                cr_expect_eq(t->type, GGML_TYPE_F32, "%s is %s", name, gguf_type_name(t->type));
            else
                cr_expect_eq(t->type, GGML_TYPE_Q4_1, "%s is %s", name, gguf_type_name(t->type));
        }
    }
    /* this file stores the embedding (the LM head too, tied) as Q8_0, not Q4_1 */
    const gguf_tensor_t *emb = gguf_find_tensor(g_file, "token_embd.weight");
    cr_expect_eq(emb->type, GGML_TYPE_Q8_0, "token_embd.weight is %s", gguf_type_name(emb->type));
    cr_expect_eq(emb->nbytes, 49152ull * 576 / 32 * 34);
}
