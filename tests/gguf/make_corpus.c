/* make_corpus.c - writes the GGUF fuzz seed corpus: a few tiny valid files covering every value
 * type, string arrays, tensors of several types and a non-default alignment.
 * Usage: make_gguf_corpus <dir>   (the checked-in corpus is tests/fuzz/corpus/gguf) */
#include <stdio.h>

#include "gguf_write.h"

static int save(gguf_writer_t *w, const char *dir, const char *name)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = w ? gguf_writer_write(w, path, err, sizeof err) : -1;
    if (rc != 0) fprintf(stderr, "make_gguf_corpus: %s\n", w ? err : "out of memory");
    gguf_writer_free(w);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;

    gguf_writer_t *w = gguf_writer_new();   /* header only */
    rc |= save(w, dir, "empty.gguf");

    w = gguf_writer_new();   /* one of each metadata type */
    gguf_writer_add_u8(w, "u8", 7);
    gguf_writer_add_i8(w, "i8", -7);
    gguf_writer_add_u16(w, "u16", 700);
    gguf_writer_add_i16(w, "i16", -700);
    gguf_writer_add_u32(w, "u32", 70000);
    gguf_writer_add_i32(w, "i32", -70000);
    gguf_writer_add_f32(w, "f32", 0.5f);
    gguf_writer_add_bool(w, "bool", 1);
    gguf_writer_add_u64(w, "u64", 1ull << 40);
    gguf_writer_add_i64(w, "i64", -(1ll << 40));
    gguf_writer_add_f64(w, "f64", 0.25);
    gguf_writer_add_str(w, "str", "hello");
    const char *strs[] = {"<s>", "\xc4\xa0the", "", "x y"};
    gguf_writer_add_arr_str(w, "arr.str", strs, 4);
    int32_t i32s[] = {1, 2, 3, 6};
    gguf_writer_add_arr(w, "arr.i32", GGUF_TYPE_INT32, i32s, 4);
    float fs[] = {1.0f, -2.0f};
    gguf_writer_add_arr(w, "arr.f32", GGUF_TYPE_FLOAT32, fs, 2);
    rc |= save(w, dir, "metadata.gguf");

    w = gguf_writer_new();   /* a tiny llama-like file with tensors */
    gguf_writer_add_str(w, "general.architecture", "llama");
    gguf_writer_add_u32(w, "llama.block_count", 1);
    gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    int64_t ne1[1] = {32}, ne2[2] = {32, 2};
    float norm[32];
    for (int i = 0; i < 32; i++) norm[i] = 1.0f + (float)i / 32;
    gguf_writer_add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, ne1, norm, sizeof norm);
    gguf_writer_add_tensor(w, "blk.0.attn_q.weight", GGML_TYPE_Q4_1, 2, ne2, NULL, 2 * 20);
    gguf_writer_add_tensor(w, "token_embd.weight", GGML_TYPE_Q8_0, 2, ne2, NULL, 2 * 34);
    rc |= save(w, dir, "tensors.gguf");

    w = gguf_writer_new();   /* non-default alignment, K-quant, 4-D */
    gguf_writer_add_u32(w, "general.alignment", 64);
    int64_t k[1] = {256}, four[4] = {2, 2, 2, 2};
    gguf_writer_add_tensor(w, "q4k", GGML_TYPE_Q4_K, 1, k, NULL, 144);
    gguf_writer_add_tensor(w, "f16", GGML_TYPE_F16, 4, four, NULL, 32);
    rc |= save(w, dir, "aligned64.gguf");
    return rc ? 1 : 0;
}
