/* gguf_write.h - a small GGUF v3 writer for tests and tools.
 *
 * A builder: add metadata and tensors in the order they should appear in the file, then write to a
 * path or to a malloc'd buffer. Everything passed in is copied; the writer owns its copies.
 *
 * The writer deliberately does NOT validate what it is given (duplicate keys, unknown types, 5-D
 * tensors, unsupported tensor types are all written as asked) so that tests can produce bad files
 * for the reader. Tensor offsets are assigned sequentially, each rounded up to the alignment:
 * general.alignment if added with gguf_writer_add_u32 (and a power of two), else 32.
 * Little-endian output regardless of the host.
 */
#ifndef GGUF_WRITE_H
#define GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

#define GGUF_WRITER_MAX_DIMS 8   /* more than the reader's 4, so tests can write bad files */

typedef struct gguf_writer gguf_writer_t;

gguf_writer_t *gguf_writer_new(void);          /* NULL on OOM */
void           gguf_writer_free(gguf_writer_t *w);   /* NULL is a no-op */

/* Metadata. Each returns 0, or -1 on OOM (the writer stays usable, the kv is not added).
 * Numeric values are given as host values and written little-endian. */
int gguf_writer_add_u8(gguf_writer_t *w, const char *key, uint8_t v);
int gguf_writer_add_i8(gguf_writer_t *w, const char *key, int8_t v);
int gguf_writer_add_u16(gguf_writer_t *w, const char *key, uint16_t v);
int gguf_writer_add_i16(gguf_writer_t *w, const char *key, int16_t v);
int gguf_writer_add_u32(gguf_writer_t *w, const char *key, uint32_t v);
int gguf_writer_add_i32(gguf_writer_t *w, const char *key, int32_t v);
int gguf_writer_add_f32(gguf_writer_t *w, const char *key, float v);
int gguf_writer_add_bool(gguf_writer_t *w, const char *key, int v);
int gguf_writer_add_u64(gguf_writer_t *w, const char *key, uint64_t v);
int gguf_writer_add_i64(gguf_writer_t *w, const char *key, int64_t v);
int gguf_writer_add_f64(gguf_writer_t *w, const char *key, double v);
int gguf_writer_add_str(gguf_writer_t *w, const char *key, const char *s);
/* a string of len bytes that may contain NULs */
int gguf_writer_add_str_n(gguf_writer_t *w, const char *key, const char *s, uint64_t len);

/* string array of n NUL-terminated strings */
int gguf_writer_add_arr_str(gguf_writer_t *w, const char *key, const char *const *strs, uint64_t n);
/* numeric (or bool) array: n packed host-order elements of elem_type (UINT8..FLOAT64, not STRING/ARRAY) */
int gguf_writer_add_arr(gguf_writer_t *w, const char *key, uint32_t elem_type, const void *data, uint64_t n);
/* raw kv: type id and value bytes written verbatim (for tests that need malformed values) */
int gguf_writer_add_raw(gguf_writer_t *w, const char *key, uint32_t type, const void *bytes, size_t nbytes);

/* Tensor: ne[0..n_dims-1] (ne[0] fastest), n_dims <= GGUF_WRITER_MAX_DIMS; nbytes of data copied
 * (data NULL = zeros). nbytes is not checked against the shape. */
int gguf_writer_add_tensor(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                           const void *data, uint64_t nbytes);

/* Serializes into a malloc'd buffer (caller frees). 0 or -1 with a message in err. */
int gguf_writer_write_memory(const gguf_writer_t *w, void **buf, size_t *size, char *err, size_t err_cap);
/* Writes the file at path. 0 or -1 with a message naming the path in err. */
int gguf_writer_write(const gguf_writer_t *w, const char *path, char *err, size_t err_cap);

#endif /* GGUF_WRITE_H */
