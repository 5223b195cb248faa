/* gguf.h - read-only, validating GGUF (v2/v3) reader over mmap.
 *
 * Every structural fact of the file is checked on open (magic, version, counts, string and array
 * lengths, value types, tensor dims/types, offsets, alignment, tensor extents inside the file), so
 * that later accessors never read outside the mapping. A bad file yields NULL and a message that
 * names the problem and the byte offset where it was found.
 *
 * Thread safety: a gguf_file_t is immutable after open; any thread may read it concurrently.
 */
#ifndef GGUF_H
#define GGUF_H

#include <stddef.h>
#include <stdint.h>

/* metadata value types (GGUF spec) */
enum gguf_value_type {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
};

/* tensor element types (ggml ids); only these are accepted by the reader */
enum ggml_type_id {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13, GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15,
    GGML_TYPE_BF16 = 30,
};

typedef struct gguf_file gguf_file_t;

/* A string inside the mapping: NOT NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t    len;
} gguf_str_t;

typedef struct gguf_tensor {
    gguf_str_t  name;
    uint32_t    type;       /* enum ggml_type_id */
    uint32_t    n_dims;     /* 1..4 */
    int64_t     ne[4];      /* ne[0] fastest-varying; unused dims are 1 */
    uint64_t    offset;     /* relative to the data section */
    const void *data;       /* inside the mapping; valid until gguf_close */
    uint64_t    nbytes;
} gguf_tensor_t;

/* Block geometry of a ggml type: elements per block and bytes per block; 0 for unknown types. */
uint32_t gguf_type_block_elems(uint32_t type);
uint32_t gguf_type_block_bytes(uint32_t type);
const char *gguf_type_name(uint32_t type);     /* "Q4_1", ... or "unknown" */

/* Opens and validates. On failure returns NULL and writes a NUL-terminated message naming the
 * file, the problem and the byte offset into err (if err_cap > 0). */
gguf_file_t *gguf_open(const char *path, char *err, size_t err_cap);
/* Same, over a caller-owned buffer that must outlive the file object (used by fuzzers/tests). */
gguf_file_t *gguf_open_memory(const void *buf, size_t size, char *err, size_t err_cap);
void         gguf_close(gguf_file_t *g);

uint32_t gguf_version(const gguf_file_t *g);
uint32_t gguf_alignment(const gguf_file_t *g);

/* ---- metadata ---- */
int64_t     gguf_n_kv(const gguf_file_t *g);
int64_t     gguf_find_key(const gguf_file_t *g, const char *key);   /* index or -1 */
gguf_str_t  gguf_key(const gguf_file_t *g, int64_t idx);
uint32_t    gguf_kv_type(const gguf_file_t *g, int64_t idx);          /* enum gguf_value_type */

/* Typed getters by key. Return 0 on success, -1 if the key is missing, -2 if it has another
 * type (integer getters accept any integer type whose value fits; float getter accepts F32/F64). */
int gguf_get_u32(const gguf_file_t *g, const char *key, uint32_t *out);
int gguf_get_i64(const gguf_file_t *g, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file_t *g, const char *key, float *out);
int gguf_get_bool(const gguf_file_t *g, const char *key, int *out);
int gguf_get_str(const gguf_file_t *g, const char *key, gguf_str_t *out);

/* Arrays: element type and count; elements by index. Return codes as above, -3 for a bad index. */
int gguf_get_arr_info(const gguf_file_t *g, const char *key, uint32_t *elem_type, uint64_t *n);
int gguf_get_arr_str(const gguf_file_t *g, const char *key, uint64_t i, gguf_str_t *out);
/* numeric arrays: pointer to the packed little-endian elements inside the mapping */
int gguf_get_arr_data(const gguf_file_t *g, const char *key, const void **data);

/* ---- tensors ---- */
int64_t              gguf_n_tensors(const gguf_file_t *g);
const gguf_tensor_t *gguf_tensor_at(const gguf_file_t *g, int64_t i);
const gguf_tensor_t *gguf_find_tensor(const gguf_file_t *g, const char *name);  /* NULL if absent */

/* helper: compare a gguf_str_t with a C string */
int gguf_str_eq(gguf_str_t s, const char *c);

#endif /* GGUF_H */
