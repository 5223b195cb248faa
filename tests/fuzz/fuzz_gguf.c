/* fuzz_gguf.c - libFuzzer target for the GGUF reader. Each input is opened from an exact-size
 * heap copy (so ASan sees any read past the end); if it opens, every key, typed getter, array
 * element and tensor byte is touched through the public API, and the invariants the reader
 * promises are checked (abort on violation, which libFuzzer reports as a crash). A rejected input
 * must come with a message. Seed corpus: corpus/gguf (tests/gguf/make_corpus.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_gguf: invariant violated: %s\n", what);
        abort();
    }
}

static volatile unsigned g_sink;

static void touch(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++) g_sink += b[i];
}

static void walk_kv(const gguf_file_t *g, int64_t i)
{
    gguf_str_t k = gguf_key(g, i);
    check(k.len > 0, "keys are not empty");
    char key[512];
    if (k.len >= sizeof key || memchr(k.ptr, 0, (size_t)k.len)) return;   /* not reachable by C-string lookup */
    memcpy(key, k.ptr, (size_t)k.len);
    key[k.len] = 0;
    check(gguf_find_key(g, key) == i, "find_key returns the key's own index");

    uint32_t type = gguf_kv_type(g, i), u32, et;
    int64_t i64;
    float f;
    int b;
    uint64_t n;
    gguf_str_t s;
    const void *data;
    int r_u32 = gguf_get_u32(g, key, &u32), r_i64 = gguf_get_i64(g, key, &i64);
    int r_f = gguf_get_f32(g, key, &f), r_b = gguf_get_bool(g, key, &b), r_s = gguf_get_str(g, key, &s);
    int r_a = gguf_get_arr_info(g, key, &et, &n);
    check(r_u32 == 0 || r_u32 == -2, "u32 getter code");
    check(r_i64 == 0 || r_i64 == -2, "i64 getter code");
    check((r_f == 0) == (type == GGUF_TYPE_FLOAT32 || type == GGUF_TYPE_FLOAT64), "f32 getter accepts floats only");
    check((r_b == 0) == (type == GGUF_TYPE_BOOL), "bool getter accepts bools only");
    check((r_s == 0) == (type == GGUF_TYPE_STRING), "str getter accepts strings only");
    check((r_a == 0) == (type == GGUF_TYPE_ARRAY), "arr_info accepts arrays only");
    if (r_u32 == 0 && r_i64 == 0) check((uint64_t)i64 == u32, "u32 and i64 agree");
    if (r_s == 0) touch(s.ptr, s.len);
    if (r_a != 0) return;
    check(et != GGUF_TYPE_ARRAY && et <= GGUF_TYPE_FLOAT64, "array element type is valid");
    if (et == GGUF_TYPE_STRING) {
        for (uint64_t j = 0; j < n; j++) {
            check(gguf_get_arr_str(g, key, j, &s) == 0, "every string element is readable");
            touch(s.ptr, s.len);
        }
        check(gguf_get_arr_str(g, key, n, &s) == -3, "index n is out of range");
        check(gguf_get_arr_data(g, key, &data) == -2, "string arrays have no packed data");
    } else {
        static const uint8_t size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        check(gguf_get_arr_data(g, key, &data) == 0, "numeric arrays have data");
        touch(data, n * size[et]);
        check(gguf_get_arr_str(g, key, 0, &s) == -2, "numeric arrays have no strings");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    char err[256];
    err[0] = 0;
    gguf_file_t *g = gguf_open_memory(copy, size, err, sizeof err);
    if (!g) {
        check(err[0] != 0, "a rejected file has a message");
        free(copy);
        return 0;
    }
    check(gguf_version(g) == 2 || gguf_version(g) == 3, "version 2 or 3");
    uint32_t a = gguf_alignment(g);
    check(a != 0 && (a & (a - 1)) == 0, "alignment is a power of two");
    for (int64_t i = 0; i < gguf_n_kv(g); i++) walk_kv(g, i);
    check(gguf_find_key(g, "") == -1, "the empty key is never found");

    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor_t *t = gguf_tensor_at(g, i);
        check(t != NULL, "tensor_at in range");
        check(t->n_dims >= 1 && t->n_dims <= 4, "n_dims 1..4");
        check(gguf_type_block_elems(t->type) != 0, "tensor type is supported");
        check(t->offset % a == 0, "offset aligned");
        int64_t elems = 1;
        for (int d = 0; d < 4; d++) {
            check(t->ne[d] >= 0 && (d < (int)t->n_dims || t->ne[d] == 1), "dims are >= 0, unused dims 1");
            if (t->ne[d]) check(!__builtin_mul_overflow(elems, t->ne[d], &elems), "element count fits int64");
        }
        const uint8_t *p = t->data;
        check(p >= copy && t->nbytes <= size && (size_t)(p - copy) <= size - t->nbytes, "tensor inside the file");
        touch(p, t->nbytes);
        char name[64];
        if (t->name.len < sizeof name && !memchr(t->name.ptr, 0, (size_t)t->name.len)) {
            memcpy(name, t->name.ptr, (size_t)t->name.len);
            name[t->name.len] = 0;
            check(gguf_find_tensor(g, name) == t, "find_tensor returns the tensor itself");
        }
    }
    check(gguf_tensor_at(g, gguf_n_tensors(g)) == NULL, "tensor_at past the end is NULL");
    gguf_close(g);
    free(copy);
    return 0;
}
