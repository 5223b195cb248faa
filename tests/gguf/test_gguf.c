/* test_gguf.c - the GGUF reader and writer (suite "unit"): round trips of every metadata and tensor
 * type, typed getter rules, and bad files. Bad files are made by the writer (which does not
 * validate) or by patching bytes at offsets that follow from the GGUF layout (notes §1). Every
 * error is checked for a message that names the problem; buffers are exact-size heap copies so
 * that ASan catches any read past the end. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"

/* ------------------------------------------------------------------ helpers */

static void *serialize(const gguf_writer_t *w, size_t *size)
{
    void *buf;
    char err[256];
    cr_assert_eq(gguf_writer_write_memory(w, &buf, size, err, sizeof err), 0, "%s", err);
    return buf;
}

/* opens an exact-size copy of buf[0..len); the copy is leaked into *copy for the caller to free */
static gguf_file_t *open_copy(const void *buf, size_t len, char *err, size_t cap, void **copy)
{
    *copy = malloc(len ? len : 1);
    if (len) memcpy(*copy, buf, len);
    return gguf_open_memory(*copy, len, err, cap);
}

/* expects buf[0..len) to be rejected with a message containing `want` */
static void expect_error(const void *buf, size_t len, const char *want)
{
    char err[512] = "";
    void *copy;
    gguf_file_t *g = open_copy(buf, len, err, sizeof err, &copy);
    cr_assert_null(g, "expected failure containing '%s', but the file opened", want);
    cr_assert(strstr(err, want) != NULL, "error '%s' does not contain '%s'", err, want);
    cr_assert(strstr(err, "byte offset") != NULL, "error '%s' names no byte offset", err);
    free(copy);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* a writer holding one tensor named "t" of the given shape/type and nothing else:
 * layout 24 header, 8+1 name, 4 n_dims, 8*n_dims ne, 4 type, 8 offset */
static uint8_t *one_tensor_file(uint32_t type, uint32_t n_dims, const int64_t *ne, uint64_t nbytes, size_t *size)
{
    gguf_writer_t *w = gguf_writer_new();
    cr_assert_eq(gguf_writer_add_tensor(w, "t", type, n_dims, ne, NULL, nbytes), 0);
    uint8_t *buf = serialize(w, size);
    gguf_writer_free(w);
    return buf;
}
#define ONE_T_TYPE_AT(n_dims)   (24 + 9 + 4 + 8 * (n_dims))
#define ONE_T_OFFSET_AT(n_dims) (ONE_T_TYPE_AT(n_dims) + 4)

/* a small valid file with a kv of every kind and three tensors (used by truncation/corruption) */
static uint8_t *small_valid_file(size_t *size)
{
    gguf_writer_t *w = gguf_writer_new();
    const char *strs[] = {"a", "", "bc"};
    int32_t ints[] = {-1, 2, 3};
    cr_assert_eq(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    cr_assert_eq(gguf_writer_add_u32(w, "llama.block_count", 2), 0);
    cr_assert_eq(gguf_writer_add_f32(w, "eps", 1e-5f), 0);
    cr_assert_eq(gguf_writer_add_bool(w, "flag", 1), 0);
    cr_assert_eq(gguf_writer_add_u64(w, "big", 1ull << 40), 0);
    cr_assert_eq(gguf_writer_add_arr_str(w, "tokens", strs, 3), 0);
    cr_assert_eq(gguf_writer_add_arr(w, "types", GGUF_TYPE_INT32, ints, 3), 0);
    int64_t ne1[1] = {8}, ne2[2] = {32, 2};
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t q[40];
    for (int i = 0; i < 40; i++) q[i] = (uint8_t)(i * 7);
    cr_assert_eq(gguf_writer_add_tensor(w, "norm", GGML_TYPE_F32, 1, ne1, f, sizeof f), 0);
    cr_assert_eq(gguf_writer_add_tensor(w, "w", GGML_TYPE_Q4_1, 2, ne2, q, sizeof q), 0);
    cr_assert_eq(gguf_writer_add_tensor(w, "empty", GGML_TYPE_F32, 1, (int64_t[1]){0}, NULL, 0), 0);
    uint8_t *buf = serialize(w, size);
    gguf_writer_free(w);
    return buf;
}

/* touches every key, array element and tensor byte through the public API */
static void walk(const gguf_file_t *g)
{
    volatile unsigned sink = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        gguf_str_t k = gguf_key(g, i);
        char key[256];
        if (k.len >= sizeof key) continue;
        memcpy(key, k.ptr, (size_t)k.len);
        key[k.len] = 0;
        uint32_t et;
        uint64_t n;
        gguf_str_t s;
        if (gguf_get_arr_info(g, key, &et, &n) == 0) {
            for (uint64_t j = 0; j < n && et == GGUF_TYPE_STRING; j++) {
                cr_assert_eq(gguf_get_arr_str(g, key, j, &s), 0);
                for (uint64_t c = 0; c < s.len; c++) sink += (unsigned char)s.ptr[c];
            }
        } else if (gguf_get_str(g, key, &s) == 0) {
            for (uint64_t c = 0; c < s.len; c++) sink += (unsigned char)s.ptr[c];
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor_t *t = gguf_tensor_at(g, i);
        for (uint64_t b = 0; b < t->nbytes; b++) sink += ((const uint8_t *)t->data)[b];
    }
    (void)sink;
}

/* ------------------------------------------------------------------ type tables */

Test(gguf_types, block_geometry_matches_the_notes)
{
    struct { uint32_t id, elems, bytes; const char *name; } want[] = {
        {GGML_TYPE_F32, 1, 4, "F32"},       {GGML_TYPE_F16, 1, 2, "F16"},     {GGML_TYPE_BF16, 1, 2, "BF16"},
        {GGML_TYPE_Q4_0, 32, 18, "Q4_0"},   {GGML_TYPE_Q4_1, 32, 20, "Q4_1"}, {GGML_TYPE_Q5_0, 32, 22, "Q5_0"},
        {GGML_TYPE_Q5_1, 32, 24, "Q5_1"},   {GGML_TYPE_Q8_0, 32, 34, "Q8_0"}, {GGML_TYPE_Q8_1, 32, 36, "Q8_1"},
        {GGML_TYPE_Q4_K, 256, 144, "Q4_K"}, {GGML_TYPE_Q5_K, 256, 176, "Q5_K"},
        {GGML_TYPE_Q6_K, 256, 210, "Q6_K"}, {GGML_TYPE_Q8_K, 256, 292, "Q8_K"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_expect_eq(gguf_type_block_elems(want[i].id), want[i].elems, "%s elems", want[i].name);
        cr_expect_eq(gguf_type_block_bytes(want[i].id), want[i].bytes, "%s bytes", want[i].name);
        cr_expect_str_eq(gguf_type_name(want[i].id), want[i].name);
    }
    /* known but unsupported ids have a name and no geometry; unknown ids neither */
    cr_expect_str_eq(gguf_type_name(10), "Q2_K");
    cr_expect_eq(gguf_type_block_elems(10), 0);
    cr_expect_eq(gguf_type_block_bytes(11), 0);
    cr_expect_str_eq(gguf_type_name(31), "unknown");
    cr_expect_str_eq(gguf_type_name(UINT32_MAX), "unknown");
    cr_expect_eq(gguf_type_block_elems(UINT32_MAX), 0);
}

/* ------------------------------------------------------------------ round trip */

Test(gguf_roundtrip, every_metadata_type)
{
    gguf_writer_t *w = gguf_writer_new();
    cr_assert_not_null(w);
    cr_assert_eq(gguf_writer_add_u8(w, "u8", 200), 0);
    cr_assert_eq(gguf_writer_add_i8(w, "i8", -100), 0);
    cr_assert_eq(gguf_writer_add_u16(w, "u16", 60000), 0);
    cr_assert_eq(gguf_writer_add_i16(w, "i16", -30000), 0);
    cr_assert_eq(gguf_writer_add_u32(w, "u32", 4000000000u), 0);
    cr_assert_eq(gguf_writer_add_i32(w, "i32", -2000000000), 0);
    cr_assert_eq(gguf_writer_add_f32(w, "f32", 1e-5f), 0);
    cr_assert_eq(gguf_writer_add_bool(w, "bool_t", 1), 0);
    cr_assert_eq(gguf_writer_add_bool(w, "bool_f", 0), 0);
    cr_assert_eq(gguf_writer_add_u64(w, "u64", 0xFEDCBA9876543210ull), 0);
    cr_assert_eq(gguf_writer_add_i64(w, "i64", -5000000000ll), 0);
    cr_assert_eq(gguf_writer_add_f64(w, "f64", 0.1), 0);
    cr_assert_eq(gguf_writer_add_str(w, "str", "llama"), 0);
    cr_assert_eq(gguf_writer_add_str(w, "str_empty", ""), 0);
    cr_assert_eq(gguf_writer_add_str_n(w, "str_nul", "a\0b", 3), 0);
    const char *strs[] = {"<|endoftext|>", "", "\xc4\xa0the", "x"};
    cr_assert_eq(gguf_writer_add_arr_str(w, "arr_str", strs, 4), 0);
    int32_t i32s[] = {1, -2, 3, INT32_MIN};
    cr_assert_eq(gguf_writer_add_arr(w, "arr_i32", GGUF_TYPE_INT32, i32s, 4), 0);
    uint8_t u8s[] = {1, 2, 255};
    cr_assert_eq(gguf_writer_add_arr(w, "arr_u8", GGUF_TYPE_UINT8, u8s, 3), 0);
    uint16_t u16s[] = {1, 65535};
    cr_assert_eq(gguf_writer_add_arr(w, "arr_u16", GGUF_TYPE_UINT16, u16s, 2), 0);
    float f32s[] = {0.5f, -1.25f};
    cr_assert_eq(gguf_writer_add_arr(w, "arr_f32", GGUF_TYPE_FLOAT32, f32s, 2), 0);
    double f64s[] = {1e300, -0.0};
    cr_assert_eq(gguf_writer_add_arr(w, "arr_f64", GGUF_TYPE_FLOAT64, f64s, 2), 0);
    uint64_t u64s[] = {UINT64_MAX};
    cr_assert_eq(gguf_writer_add_arr(w, "arr_u64", GGUF_TYPE_UINT64, u64s, 1), 0);
    cr_assert_eq(gguf_writer_add_arr(w, "arr_empty", GGUF_TYPE_INT32, NULL, 0), 0);
    cr_assert_eq(gguf_writer_add_arr(w, "bad_elem", GGUF_TYPE_STRING, NULL, 0), -1, "STRING is not numeric");

    char path[] = "/tmp/test_gguf_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char err[512];
    cr_assert_eq(gguf_writer_write(w, path, err, sizeof err), 0, "%s", err);
    gguf_writer_free(w);
    gguf_file_t *g = gguf_open(path, err, sizeof err);
    unlink(path);
    cr_assert_not_null(g, "%s", err);

    cr_expect_eq(gguf_version(g), 3);
    cr_expect_eq(gguf_alignment(g), 32);
    cr_assert_eq(gguf_n_kv(g), 23);
    cr_expect_eq(gguf_n_tensors(g), 0);
    /* keys keep file order and their types */
    cr_expect(gguf_str_eq(gguf_key(g, 0), "u8"));
    cr_expect(gguf_str_eq(gguf_key(g, 22), "arr_empty"));
    cr_expect_eq(gguf_kv_type(g, gguf_find_key(g, "i16")), GGUF_TYPE_INT16);
    cr_expect_eq(gguf_kv_type(g, gguf_find_key(g, "arr_str")), GGUF_TYPE_ARRAY);
    cr_expect_eq(gguf_find_key(g, "f64"), 11);
    cr_expect_eq(gguf_find_key(g, "nope"), -1);
    cr_expect_eq(gguf_find_key(g, ""), -1);
    cr_expect_eq(gguf_find_key(g, "u"), -1, "prefix of a key is not the key");
    cr_expect(gguf_str_eq(gguf_key(g, 99), ""), "bad index gives an empty key");

    uint32_t u32;
    int64_t i64;
    float f;
    int b;
    gguf_str_t s;
    cr_expect_eq(gguf_get_u32(g, "u8", &u32), 0);
    cr_expect_eq(u32, 200);
    cr_expect_eq(gguf_get_u32(g, "u16", &u32), 0);
    cr_expect_eq(u32, 60000);
    cr_expect_eq(gguf_get_u32(g, "u32", &u32), 0);
    cr_expect_eq(u32, 4000000000u);
    cr_expect_eq(gguf_get_i64(g, "i8", &i64), 0);
    cr_expect_eq(i64, -100);
    cr_expect_eq(gguf_get_i64(g, "i16", &i64), 0);
    cr_expect_eq(i64, -30000);
    cr_expect_eq(gguf_get_i64(g, "i32", &i64), 0);
    cr_expect_eq(i64, -2000000000);
    cr_expect_eq(gguf_get_i64(g, "i64", &i64), 0);
    cr_expect_eq(i64, -5000000000ll);
    cr_expect_eq(gguf_get_i64(g, "u32", &i64), 0);
    cr_expect_eq(i64, 4000000000ll);
    cr_expect_eq(gguf_get_f32(g, "f32", &f), 0);
    cr_expect_eq(f, 1e-5f);
    cr_expect_eq(gguf_get_f32(g, "f64", &f), 0);
    cr_expect_eq(f, 0.1f);
    cr_expect_eq(gguf_get_bool(g, "bool_t", &b), 0);
    cr_expect_eq(b, 1);
    cr_expect_eq(gguf_get_bool(g, "bool_f", &b), 0);
    cr_expect_eq(b, 0);
    cr_expect_eq(gguf_get_str(g, "str", &s), 0);
    cr_expect(gguf_str_eq(s, "llama"));
    cr_expect_eq(gguf_get_str(g, "str_empty", &s), 0);
    cr_expect_eq(s.len, 0);
    cr_expect_eq(gguf_get_str(g, "str_nul", &s), 0);
    cr_expect(s.len == 3 && memcmp(s.ptr, "a\0b", 3) == 0);

    /* integer getters: values that do not fit, and non-integer types, are -2 */
    cr_expect_eq(gguf_get_u32(g, "i8", &u32), -2, "negative into u32");
    cr_expect_eq(gguf_get_u32(g, "u64", &u32), -2, "2^63+ into u32");
    cr_expect_eq(gguf_get_i64(g, "u64", &i64), -2, "2^63+ into i64");
    cr_expect_eq(gguf_get_u32(g, "f32", &u32), -2);
    cr_expect_eq(gguf_get_u32(g, "bool_t", &u32), -2);
    cr_expect_eq(gguf_get_u32(g, "str", &u32), -2);
    cr_expect_eq(gguf_get_f32(g, "u32", &f), -2);
    cr_expect_eq(gguf_get_bool(g, "u8", &b), -2);
    cr_expect_eq(gguf_get_str(g, "arr_str", &s), -2);
    cr_expect_eq(gguf_get_i64(g, "arr_i32", &i64), -2);
    /* missing keys are -1 for every getter */
    cr_expect_eq(gguf_get_u32(g, "missing", &u32), -1);
    cr_expect_eq(gguf_get_i64(g, "missing", &i64), -1);
    cr_expect_eq(gguf_get_f32(g, "missing", &f), -1);
    cr_expect_eq(gguf_get_bool(g, "missing", &b), -1);
    cr_expect_eq(gguf_get_str(g, "missing", &s), -1);
    cr_expect_eq(gguf_get_arr_info(g, "missing", NULL, NULL), -1);
    cr_expect_eq(gguf_get_arr_str(g, "missing", 0, &s), -1);

    /* arrays */
    uint32_t et;
    uint64_t n;
    const void *data;
    cr_expect_eq(gguf_get_arr_info(g, "arr_str", &et, &n), 0);
    cr_expect(et == GGUF_TYPE_STRING && n == 4);
    for (uint64_t i = 0; i < 4; i++) {
        cr_expect_eq(gguf_get_arr_str(g, "arr_str", i, &s), 0);
        cr_expect(gguf_str_eq(s, strs[i]), "element %llu", (unsigned long long)i);
    }
    cr_expect_eq(gguf_get_arr_str(g, "arr_str", 4, &s), -3);
    cr_expect_eq(gguf_get_arr_str(g, "arr_str", UINT64_MAX, &s), -3);
    cr_expect_eq(gguf_get_arr_str(g, "arr_i32", 0, &s), -2);
    cr_expect_eq(gguf_get_arr_str(g, "str", 0, &s), -2);
    cr_expect_eq(gguf_get_arr_data(g, "arr_str", &data), -2, "string arrays have no packed data");
    cr_expect_eq(gguf_get_arr_info(g, "u32", &et, &n), -2);

    cr_expect_eq(gguf_get_arr_info(g, "arr_i32", &et, &n), 0);
    cr_expect(et == GGUF_TYPE_INT32 && n == 4);
    cr_assert_eq(gguf_get_arr_data(g, "arr_i32", &data), 0);
    int32_t i32back[4];
    memcpy(i32back, data, sizeof i32back);   /* elements may be unaligned: copy */
    cr_expect_arr_eq(i32back, i32s, sizeof i32s);
    cr_assert_eq(gguf_get_arr_data(g, "arr_u8", &data), 0);
    cr_expect_arr_eq(data, u8s, sizeof u8s);
    cr_assert_eq(gguf_get_arr_data(g, "arr_u16", &data), 0);
    cr_expect_arr_eq(data, u16s, sizeof u16s);
    cr_assert_eq(gguf_get_arr_data(g, "arr_f32", &data), 0);
    cr_expect_arr_eq(data, f32s, sizeof f32s);
    cr_assert_eq(gguf_get_arr_data(g, "arr_f64", &data), 0);
    cr_expect_arr_eq(data, f64s, sizeof f64s);
    cr_assert_eq(gguf_get_arr_data(g, "arr_u64", &data), 0);
    cr_expect_arr_eq(data, u64s, sizeof u64s);
    cr_expect_eq(gguf_get_arr_info(g, "arr_empty", &et, &n), 0);
    cr_expect(et == GGUF_TYPE_INT32 && n == 0);
    gguf_close(g);
}

static void roundtrip_tensors(uint32_t alignment)
{
    gguf_writer_t *w = gguf_writer_new();
    if (alignment) cr_assert_eq(gguf_writer_add_u32(w, "general.alignment", alignment), 0);
    cr_assert_eq(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    struct { const char *name; uint32_t type, n_dims; int64_t ne[4]; } spec[] = {
        {"output_norm.weight", GGML_TYPE_F32, 1, {7, 1, 1, 1}},
        {"blk.0.attn_q.weight", GGML_TYPE_Q4_1, 2, {64, 3, 1, 1}},
        {"f16", GGML_TYPE_F16, 4, {3, 2, 2, 2}},
        {"bf16", GGML_TYPE_BF16, 2, {5, 1, 1, 1}},
        {"q4_0", GGML_TYPE_Q4_0, 1, {32, 1, 1, 1}},
        {"q5_0", GGML_TYPE_Q5_0, 1, {32, 1, 1, 1}},
        {"q5_1", GGML_TYPE_Q5_1, 1, {32, 1, 1, 1}},
        {"q8_0", GGML_TYPE_Q8_0, 2, {96, 2, 1, 1}},
        {"q4_k", GGML_TYPE_Q4_K, 3, {256, 1, 2, 1}},
        {"q5_k", GGML_TYPE_Q5_K, 1, {512, 1, 1, 1}},
        {"q6_k", GGML_TYPE_Q6_K, 1, {256, 1, 1, 1}},
        {"q8_k", GGML_TYPE_Q8_K, 1, {256, 1, 1, 1}},
        {"zero_rows", GGML_TYPE_F32, 2, {4, 0, 1, 1}},
    };
    size_t nt = sizeof spec / sizeof spec[0];
    uint64_t want_bytes[16];
    uint8_t *payload[16];
    for (size_t i = 0; i < nt; i++) {
        /* expected size from the notes' table, computed here independently of the reader */
        uint64_t elems = (uint64_t)(spec[i].ne[0] * spec[i].ne[1] * spec[i].ne[2] * spec[i].ne[3]);
        uint64_t per_block_bytes = 0, per_block_elems = 0;
        switch (spec[i].type) {
        case GGML_TYPE_F32: per_block_elems = 1; per_block_bytes = 4; break;
        case GGML_TYPE_F16: case GGML_TYPE_BF16: per_block_elems = 1; per_block_bytes = 2; break;
        case GGML_TYPE_Q4_0: per_block_elems = 32; per_block_bytes = 18; break;
        case GGML_TYPE_Q4_1: per_block_elems = 32; per_block_bytes = 20; break;
        case GGML_TYPE_Q5_0: per_block_elems = 32; per_block_bytes = 22; break;
        case GGML_TYPE_Q5_1: per_block_elems = 32; per_block_bytes = 24; break;
        case GGML_TYPE_Q8_0: per_block_elems = 32; per_block_bytes = 34; break;
        case GGML_TYPE_Q4_K: per_block_elems = 256; per_block_bytes = 144; break;
        case GGML_TYPE_Q5_K: per_block_elems = 256; per_block_bytes = 176; break;
        case GGML_TYPE_Q6_K: per_block_elems = 256; per_block_bytes = 210; break;
        case GGML_TYPE_Q8_K: per_block_elems = 256; per_block_bytes = 292; break;
        }
        want_bytes[i] = elems / per_block_elems * per_block_bytes;
        payload[i] = malloc(want_bytes[i] + 1);
        for (uint64_t b = 0; b < want_bytes[i]; b++) payload[i][b] = (uint8_t)(b * 31 + i);
        cr_assert_eq(gguf_writer_add_tensor(w, spec[i].name, spec[i].type, spec[i].n_dims, spec[i].ne, payload[i],
                                            want_bytes[i]),
                     0);
    }
    size_t size;
    uint8_t *buf = serialize(w, &size);
    gguf_writer_free(w);
    char err[512];
    void *copy;
    gguf_file_t *g = open_copy(buf, size, err, sizeof err, &copy);
    cr_assert_not_null(g, "%s", err);
    uint32_t a = alignment ? alignment : 32;
    cr_expect_eq(gguf_alignment(g), a);
    cr_assert_eq(gguf_n_tensors(g), (int64_t)nt);
    for (size_t i = 0; i < nt; i++) {
        const gguf_tensor_t *t = gguf_tensor_at(g, (int64_t)i);
        cr_assert_not_null(t);
        cr_expect(gguf_str_eq(t->name, spec[i].name), "tensor %zu name", i);
        cr_expect_eq(gguf_find_tensor(g, spec[i].name), t, "find %s", spec[i].name);
        cr_expect_eq(t->type, spec[i].type);
        cr_expect_eq(t->n_dims, spec[i].n_dims);
        for (int d = 0; d < 4; d++) cr_expect_eq(t->ne[d], spec[i].ne[d], "%s ne[%d]", spec[i].name, d);
        cr_expect_eq(t->nbytes, want_bytes[i], "%s nbytes", spec[i].name);
        cr_expect_eq(t->offset % a, 0);
        cr_expect_eq(((const uint8_t *)t->data - (const uint8_t *)copy) % a, 0, "%s data aligned in file",
                     spec[i].name);
        if (want_bytes[i]) cr_expect_arr_eq(t->data, payload[i], want_bytes[i], "%s data", spec[i].name);
        free(payload[i]);
    }
    cr_expect_null(gguf_tensor_at(g, (int64_t)nt));
    cr_expect_null(gguf_tensor_at(g, -1));
    cr_expect_null(gguf_find_tensor(g, "blk.0.attn_q"));
    cr_expect_null(gguf_find_tensor(g, "blk.0.attn_q.weightx"));
    gguf_close(g);
    free(copy);
    free(buf);
}

Test(gguf_roundtrip, tensors_default_alignment) { roundtrip_tensors(0); }
Test(gguf_roundtrip, tensors_alignment_64) { roundtrip_tensors(64); }
Test(gguf_roundtrip, tensors_alignment_1) { roundtrip_tensors(1); }

Test(gguf_roundtrip, version_2_reads_the_same)
{
    size_t size;
    uint8_t *buf = small_valid_file(&size);
    put_u32(buf + 4, 2);
    char err[512];
    void *copy;
    gguf_file_t *g = open_copy(buf, size, err, sizeof err, &copy);
    cr_assert_not_null(g, "%s", err);
    cr_expect_eq(gguf_version(g), 2);
    cr_expect_eq(gguf_n_tensors(g), 3);
    gguf_close(g);
    free(copy);
    free(buf);
}

Test(gguf_roundtrip, many_keys_and_tensors_are_all_found)
{
    gguf_writer_t *w = gguf_writer_new();
    char name[64];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "key.%d", (i * 7919) % 500);   /* insertion order != sorted order */
        cr_assert_eq(gguf_writer_add_u32(w, name, (uint32_t)((i * 7919) % 500)), 0);
        snprintf(name, sizeof name, "blk.%d.w", (i * 7919) % 500);
        cr_assert_eq(gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 1, (int64_t[1]){1}, &(float){(float)i}, 4), 0);
    }
    size_t size;
    uint8_t *buf = serialize(w, &size);
    gguf_writer_free(w);
    char err[512];
    void *copy;
    gguf_file_t *g = open_copy(buf, size, err, sizeof err, &copy);
    cr_assert_not_null(g, "%s", err);
    for (uint32_t k = 0; k < 500; k++) {
        uint32_t v;
        snprintf(name, sizeof name, "key.%u", k);
        cr_assert_eq(gguf_get_u32(g, name, &v), 0, "%s", name);
        cr_assert_eq(v, k);
        snprintf(name, sizeof name, "blk.%u.w", k);
        cr_assert_not_null(gguf_find_tensor(g, name), "%s", name);
    }
    gguf_close(g);
    free(copy);
    free(buf);
}

/* ------------------------------------------------------------------ bad files */

Test(gguf_bad, every_truncation_fails_cleanly)
{
    size_t size;
    uint8_t *buf = small_valid_file(&size);
    char err[512];
    void *copy;
    gguf_file_t *g = open_copy(buf, size, err, sizeof err, &copy);
    cr_assert_not_null(g, "the full file must open: %s", err);
    gguf_close(g);
    free(copy);
    for (size_t len = 0; len < size; len++) {
        err[0] = 0;
        g = open_copy(buf, len, err, sizeof err, &copy);
        cr_assert_null(g, "truncated to %zu of %zu bytes, yet it opened", len, size);
        cr_assert(strstr(err, "<memory>: ") == err, "len %zu: message '%s' does not name the file", len, err);
        cr_assert(strstr(err, "truncated") || strstr(err, "beyond end of file") || strstr(err, "impossible"),
                  "len %zu: message '%s' does not say the file is short", len, err);
        free(copy);
    }
    free(buf);
}

Test(gguf_bad, every_single_byte_corruption_is_safe)
{
    size_t size;
    uint8_t *buf = small_valid_file(&size);
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    for (size_t pos = 0; pos < size; pos++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            uint8_t old = buf[pos];
            buf[pos] = vals[v];
            char err[512] = "";
            void *copy;
            gguf_file_t *g = open_copy(buf, size, err, sizeof err, &copy);
            if (g)
                walk(g);
            else
                cr_assert(err[0] != 0, "byte %zu = %02x: rejected without a message", pos, vals[v]);
            gguf_close(g);
            free(copy);
            buf[pos] = old;
        }
    }
    free(buf);
}

Test(gguf_bad, wrong_magic)
{
    size_t size;
    uint8_t *buf = small_valid_file(&size);
    memcpy(buf, "GGML", 4);
    expect_error(buf, size, "bad magic");
    expect_error("GG", 2, "too short");
    free(buf);
}

Test(gguf_bad, unsupported_versions)
{
    size_t size;
    uint8_t *buf = small_valid_file(&size);
    put_u32(buf + 4, 1);
    expect_error(buf, size, "version 1 is not supported");
    put_u32(buf + 4, 4);
    expect_error(buf, size, "unsupported GGUF version 4");
    put_u32(buf + 4, 0);
    expect_error(buf, size, "unsupported GGUF version 0");
    /* a big-endian v3 file stores the version as 00 00 00 03 */
    buf[4] = 0, buf[5] = 0, buf[6] = 0, buf[7] = 3;
    expect_error(buf, size, "big-endian");
    free(buf);
}

Test(gguf_bad, absurd_counts)
{
    size_t size;
    uint8_t *buf = small_valid_file(&size);
    uint8_t saved[16];
    memcpy(saved, buf + 8, 16);
    put_u64(buf + 8, UINT64_MAX);   /* -1 as int64 */
    expect_error(buf, size, "tensor count -1 is impossible");
    put_u64(buf + 8, 1ull << 40);
    expect_error(buf, size, "tensor count 1099511627776 is impossible");
    memcpy(buf + 8, saved, 16);
    put_u64(buf + 16, 1ull << 62);
    expect_error(buf, size, "metadata count 4611686018427387904 is impossible");
    put_u64(buf + 16, 1ull << 63);
    expect_error(buf, size, "metadata count -9223372036854775808 is impossible");
    free(buf);
}

Test(gguf_bad, tensor_beyond_end_of_file)
{
    size_t size;
    int64_t ne[2] = {64, 4};
    uint8_t *buf = one_tensor_file(GGML_TYPE_F32, 2, ne, 64 * 4 * 4, &size);
    cr_assert_eq(size, 96 + 1024);   /* infos end at 65, data starts at 96 */
    put_u64(buf + 24 + 9 + 4 + 8, 5);   /* ne[1] 4 -> 5: 1280 bytes */
    expect_error(buf, size, "tensor 't' data [96..1376) extends beyond end of file (size 1120)");
    free(buf);
}

Test(gguf_bad, unsupported_tensor_type)
{
    size_t size;
    int64_t ne[1] = {256};
    uint8_t *buf = one_tensor_file(10, 1, ne, 84, &size);
    expect_error(buf, size, "tensor 't': unsupported tensor type 10 (Q2_K)");
    put_u32(buf + ONE_T_TYPE_AT(1), 4);
    expect_error(buf, size, "unsupported tensor type 4");
    put_u32(buf + ONE_T_TYPE_AT(1), 1000);
    expect_error(buf, size, "unsupported tensor type 1000 (unknown)");
    free(buf);
}

Test(gguf_bad, n_dims_out_of_range)
{
    size_t size;
    int64_t ne[5] = {1, 1, 1, 1, 1};
    uint8_t *buf = one_tensor_file(GGML_TYPE_F32, 5, ne, 4, &size);
    expect_error(buf, size, "tensor 't': n_dims 5 is outside 1..4");
    free(buf);
    buf = one_tensor_file(GGML_TYPE_F32, 0, ne, 0, &size);
    expect_error(buf, size, "n_dims 0 is outside 1..4");
    free(buf);
}

Test(gguf_bad, bad_dimensions)
{
    size_t size;
    int64_t ne[2] = {33, 2};
    uint8_t *buf = one_tensor_file(GGML_TYPE_Q4_1, 2, ne, 40, &size);
    expect_error(buf, size, "ne[0] = 33 is not a multiple of the Q4_1 block size 32");
    free(buf);
    int64_t neg[2] = {4, -1};
    buf = one_tensor_file(GGML_TYPE_F32, 2, neg, 16, &size);
    expect_error(buf, size, "ne[1] = -1 is negative");
    free(buf);
    int64_t huge[4] = {INT64_MAX, INT64_MAX, 2, 2};
    buf = one_tensor_file(GGML_TYPE_F32, 4, huge, 0, &size);
    expect_error(buf, size, "element count overflows");
    free(buf);
    int64_t empty_but_huge[4] = {0, INT64_MAX / 2, 4, 1};   /* 0 bytes, but rows overflow int64 */
    buf = one_tensor_file(GGML_TYPE_F32, 4, empty_but_huge, 0, &size);
    expect_error(buf, size, "element count overflows");
    free(buf);
    int64_t fits[4] = {32, 1ll << 40, 1ll << 20, 1};   /* 2^65 elements */
    buf = one_tensor_file(GGML_TYPE_Q8_0, 3, fits, 0, &size);
    expect_error(buf, size, "element count overflows");
    free(buf);
    int64_t bytes_overflow[2] = {1ll << 31, 1ll << 31};   /* 2^62 elements fit, 2^64 F32 bytes do not */
    buf = one_tensor_file(GGML_TYPE_F32, 2, bytes_overflow, 0, &size);
    expect_error(buf, size, "size overflows 64 bits");
    free(buf);
    int64_t big[2] = {1ll << 40, 1ll << 20};   /* 2^60 F32 elements: count fits, 2^62 bytes do not exist */
    buf = one_tensor_file(GGML_TYPE_F32, 2, big, 0, &size);
    expect_error(buf, size, "extends beyond end of file");
    free(buf);
}

Test(gguf_bad, misaligned_offset)
{
    size_t size;
    int64_t ne[1] = {4};
    uint8_t *buf = one_tensor_file(GGML_TYPE_F32, 1, ne, 16, &size);
    put_u64(buf + ONE_T_OFFSET_AT(1), 4);
    expect_error(buf, size, "tensor 't': offset 4 is not a multiple of the alignment 32");
    free(buf);
}

Test(gguf_bad, duplicates_and_empty_names)
{
    gguf_writer_t *w = gguf_writer_new();
    gguf_writer_add_u32(w, "a", 1);
    gguf_writer_add_u32(w, "b", 2);
    gguf_writer_add_str(w, "a", "again");
    size_t size;
    uint8_t *buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "duplicate metadata key 'a'");
    free(buf);

    w = gguf_writer_new();
    gguf_writer_add_u32(w, "", 1);
    buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "metadata key 0 is empty");
    free(buf);

    w = gguf_writer_new();
    int64_t ne[1] = {1};
    gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, ne, NULL, 4);
    gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, ne, NULL, 4);
    buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "duplicate tensor name 'x'");
    free(buf);

    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "", GGML_TYPE_F32, 1, ne, NULL, 4);
    buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "name length 0 is outside");
    free(buf);

    w = gguf_writer_new();
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = 0;
    gguf_writer_add_tensor(w, longname, GGML_TYPE_F32, 1, ne, NULL, 4);
    buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "name length 64 is outside 1..63");
    free(buf);
}

/* a file whose only kv is `key` of `type` with raw value bytes */
static uint8_t *raw_kv_file(uint32_t type, const void *bytes, size_t n, size_t *size)
{
    gguf_writer_t *w = gguf_writer_new();
    cr_assert_eq(gguf_writer_add_raw(w, "k", type, bytes, n), 0);
    uint8_t *buf = serialize(w, size);
    gguf_writer_free(w);
    return buf;
}

Test(gguf_bad, string_length_beyond_eof)
{
    uint8_t v[8 + 3];
    put_u64(v, 1000);
    memcpy(v + 8, "abc", 3);
    size_t size;
    uint8_t *buf = raw_kv_file(GGUF_TYPE_STRING, v, sizeof v, &size);
    expect_error(buf, size, "string value length 1000 extends beyond end of file (3 bytes left)");
    free(buf);
    put_u64(v, 1ull << 31);
    buf = raw_kv_file(GGUF_TYPE_STRING, v, sizeof v, &size);
    expect_error(buf, size, "exceeds the 1 GiB limit");
    free(buf);
    /* the key's own length */
    buf = raw_kv_file(GGUF_TYPE_UINT8, "x", 1, &size);
    put_u64(buf + 24, 99);
    expect_error(buf, size, "metadata key length 99 extends beyond end of file");
    free(buf);
}

Test(gguf_bad, bad_arrays_and_value_types)
{
    uint8_t v[4 + 8 + 24];
    size_t size;
    uint8_t *buf;

    put_u32(v, GGUF_TYPE_ARRAY);
    put_u64(v + 4, 0);
    buf = raw_kv_file(GGUF_TYPE_ARRAY, v, 12, &size);
    expect_error(buf, size, "key 'k' is an array of arrays");
    free(buf);

    put_u32(v, 13);
    buf = raw_kv_file(GGUF_TYPE_ARRAY, v, 12, &size);
    expect_error(buf, size, "array of unknown value type 13");
    free(buf);

    put_u32(v, GGUF_TYPE_UINT32);
    put_u64(v + 4, 1000);   /* 4000 bytes needed, 16 present */
    buf = raw_kv_file(GGUF_TYPE_ARRAY, v, sizeof v, &size);
    expect_error(buf, size, "array of 1000 UINT32 elements extends beyond end of file (24 bytes left)");
    free(buf);

    put_u64(v + 4, 1ull << 40);
    buf = raw_kv_file(GGUF_TYPE_ARRAY, v, sizeof v, &size);
    expect_error(buf, size, "array length 1099511627776 exceeds the 2^30 element limit");
    free(buf);

    put_u32(v, GGUF_TYPE_STRING);
    put_u64(v + 4, 2);
    put_u64(v + 12, 3);   /* first element "abc"... */
    memcpy(v + 20, "abc", 3);
    put_u64(v + 23, 100);   /* ...then a second element of 100 bytes with 5 present */
    buf = raw_kv_file(GGUF_TYPE_ARRAY, v, 36, &size);
    expect_error(buf, size, "array string element length 100 extends beyond end of file (5 bytes left)");
    free(buf);

    buf = raw_kv_file(13, "x", 1, &size);
    expect_error(buf, size, "key 'k' has unknown value type 13");
    free(buf);
}

Test(gguf_bad, alignment_key)
{
    size_t size;
    uint8_t *buf;
    gguf_writer_t *w = gguf_writer_new();
    gguf_writer_add_u64(w, "general.alignment", 32);
    buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "general.alignment has type UINT64, expected UINT32");
    free(buf);

    w = gguf_writer_new();
    gguf_writer_add_u32(w, "general.alignment", 48);
    buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "general.alignment 48 is not a power of two");
    free(buf);

    w = gguf_writer_new();
    gguf_writer_add_u32(w, "general.alignment", 0);
    buf = serialize(w, &size);
    gguf_writer_free(w);
    expect_error(buf, size, "general.alignment 0 is not a power of two");
    free(buf);
}

Test(gguf_bad, data_section_beyond_eof)
{
    size_t size;
    int64_t ne[1] = {0};
    uint8_t *buf = one_tensor_file(GGML_TYPE_F32, 1, ne, 0, &size);   /* infos end at 57, data at 64 */
    cr_assert_eq(size, 64);
    expect_error(buf, 60, "data section would start at 64, beyond end of file (size 60)");
    free(buf);
}

Test(gguf_bad, files_on_disk_name_the_path)
{
    char err[512];
    cr_assert_null(gguf_open("/nonexistent/dir/model.gguf", err, sizeof err));
    cr_expect(strstr(err, "/nonexistent/dir/model.gguf: cannot open") == err, "%s", err);

    char path[] = "/tmp/test_gguf_bad_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_null(gguf_open(path, err, sizeof err));
    cr_expect(strstr(err, "empty file") != NULL, "%s", err);
    size_t size;
    int64_t ne[1] = {8};
    uint8_t *buf = one_tensor_file(GGML_TYPE_F32, 1, ne, 32, &size);
    cr_assert_eq(write(fd, buf, size - 1), (ssize_t)(size - 1));
    close(fd);
    cr_assert_null(gguf_open(path, err, sizeof err));
    unlink(path);
    cr_expect(strncmp(err, path, strlen(path)) == 0, "'%s' does not start with the path", err);
    cr_expect(strstr(err, "tensor 't' data [64..96) extends beyond end of file (size 95)") != NULL, "%s", err);
    free(buf);
}

Test(gguf_bad, error_buffer_edge_cases)
{
    char small[8];
    memset(small, 'x', sizeof small);
    cr_assert_null(gguf_open_memory("nope", 4, small, sizeof small));
    cr_expect_eq(small[7], 0, "message truncated and terminated");
    cr_assert_null(gguf_open_memory("nope", 4, NULL, 0));
    cr_assert_null(gguf_open_memory(NULL, 0, small, sizeof small));
}
