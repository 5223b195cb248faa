/* policy_file.h - the versioned binary policy file (policies/FORMAT.md): magic, format version,
 * a key=value text header (network kind, feature layout, sizes, the cost constants and training
 * settings, the target and draft it was trained for), named f32 tensors, and an FNV-1a 64
 * checksum over everything before it. Reader and writer in one module, so the trainer and the
 * strategies agree byte for byte.
 *
 * The reader never trusts the bytes: every length is bounds-checked against what is left, so a
 * truncated or corrupt file gives DSTRAT_E_IO with a message naming the file, the byte offset and
 * what was being read; it never crashes (tests truncate a file at every length).
 */
#ifndef DSPF_POLICY_FILE_H
#define DSPF_POLICY_FILE_H

#include <stddef.h>
#include <stdint.h>

#define DSPF_MAGIC "DSPOLICY"        /* 8 bytes, no NUL */
#define DSPF_VERSION 1u
#define DSPF_NAME_MAX 64             /* tensor name bytes, NUL included */
#define DSPF_MAX_DIMS 4
#define DSPF_MAX_TENSORS 256
#define DSPF_MAX_HEADER (64u * 1024u)
#define DSPF_MAX_FILE (256u * 1024u * 1024u)

typedef struct dspf_kv {
    const char *key;      /* [a-z0-9_.-]+ */
    const char *value;    /* printable text, no newline */
} dspf_kv_t;

typedef struct dspf_tensor {
    char name[DSPF_NAME_MAX];
    uint32_t ndim;                   /* 1..DSPF_MAX_DIMS */
    uint32_t dims[DSPF_MAX_DIMS];    /* each >= 1; unused entries 1 */
    size_t n;                        /* product of dims */
    float *data;                     /* reader: owned by the dspf_file_t; writer: borrowed */
} dspf_tensor_t;

typedef struct dspf_file {
    char path[256];                  /* for messages */
    uint32_t version;
    uint32_t n_kv;
    dspf_kv_t *kv;                   /* [n_kv] pointing into text */
    char *text;                      /* owned copy of the header, lines split in place */
    uint32_t n_tensors;
    dspf_tensor_t *tensors;          /* [n_tensors] */
} dspf_file_t;

/* FNV-1a 64 of p[0..n). */
uint64_t dspf_fnv1a64(const void *p, size_t n);

/* Parses a whole file image buf[0..len); name is used in messages. 0, or DSTRAT_E_IO (bad magic
 * or version, truncation, trailing bytes, checksum mismatch, malformed header or tensor, a
 * non-finite value, a duplicate key or tensor) or DSTRAT_E_NOMEM, with the message in err.
 * On failure *out is left empty (dspf_free is still safe). */
int dspf_parse(const uint8_t *buf, size_t len, const char *name, dspf_file_t *out, char *err, size_t cap);
/* Reads and parses path. DSTRAT_E_IO also when the file cannot be opened or read. */
int dspf_read(const char *path, dspf_file_t *out, char *err, size_t cap);
void dspf_free(dspf_file_t *f);

/* Header value of key, or NULL. */
const char *dspf_get(const dspf_file_t *f, const char *key);
/* Tensor by name, or NULL. */
const dspf_tensor_t *dspf_find(const dspf_file_t *f, const char *name);

/* Builds a file image (malloc'ed into *buf, *len bytes; the caller frees). Keys and values are
 * validated (DSTRAT_E_INVALID_ARG with a message naming the key or tensor). */
int dspf_serialize(const dspf_kv_t *kv, uint32_t n_kv, const dspf_tensor_t *t, uint32_t n_t, uint8_t **buf,
                   size_t *len, char *err, size_t cap);
/* Serializes and writes path atomically (path.tmp, then rename). DSTRAT_E_IO on write errors. */
int dspf_write(const char *path, const dspf_kv_t *kv, uint32_t n_kv, const dspf_tensor_t *t, uint32_t n_t,
               char *err, size_t cap);

#endif /* DSPF_POLICY_FILE_H */
