/* gguf.c - validating GGUF v2/v3 reader (see gguf.h).
 *
 * Layout facts: /work/shared/notes/gguf-llama-facts.md §1. The whole file is parsed once on open with
 * a bounds-checked cursor; the result is an index (kv records, tensor records, sorted name tables,
 * string-array element offsets), so every accessor afterwards is O(1) or O(log n) and never reads
 * outside the mapping.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC          "GGUF"
#define GGUF_HEADER_BYTES   24u
#define GGUF_DEFAULT_ALIGN  32u
#define GGUF_MAX_STR_LEN    (1ull << 30)   /* same limits as ggml's reader */
#define GGUF_MAX_ARR_LEN    (1ull << 30)
#define GGUF_MAX_NAME_LEN   63u            /* ggml names hold 64 bytes including the NUL */
#define GGUF_MAX_DIMS       4u
/* smallest possible records, used to reject absurd counts before allocating */
#define GGUF_MIN_KV_BYTES     14u   /* key len 8 + 1 key byte + type 4 + 1-byte value */
#define GGUF_MIN_TENSOR_BYTES 33u   /* name len 8 + 1 + n_dims 4 + ne 8 + type 4 + offset 8 */

/* ------------------------------------------------------------------ type tables */

typedef struct type_info {
    const char *name;
    uint32_t    block_elems;   /* 0 = known id, but not accepted by this reader */
    uint32_t    block_bytes;
} type_info_t;

static const type_info_t k_types[] = {
    [GGML_TYPE_F32] = {"F32", 1, 4},        [GGML_TYPE_F16] = {"F16", 1, 2},
    [GGML_TYPE_Q4_0] = {"Q4_0", 32, 18},    [GGML_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [4] = {"Q4_2 (removed)", 0, 0},         [5] = {"Q4_3 (removed)", 0, 0},
    [GGML_TYPE_Q5_0] = {"Q5_0", 32, 22},    [GGML_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [GGML_TYPE_Q8_0] = {"Q8_0", 32, 34},    [GGML_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 0, 0},                  [11] = {"Q3_K", 0, 0},
    [GGML_TYPE_Q4_K] = {"Q4_K", 256, 144},  [GGML_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [GGML_TYPE_Q6_K] = {"Q6_K", 256, 210},  [GGML_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 0, 0},               [17] = {"IQ2_XS", 0, 0},
    [18] = {"IQ3_XXS", 0, 0},               [19] = {"IQ1_S", 0, 0},
    [20] = {"IQ4_NL", 0, 0},                [21] = {"IQ3_S", 0, 0},
    [22] = {"IQ2_S", 0, 0},                 [23] = {"IQ4_XS", 0, 0},
    [24] = {"I8", 0, 0},                    [25] = {"I16", 0, 0},
    [26] = {"I32", 0, 0},                   [27] = {"I64", 0, 0},
    [28] = {"F64", 0, 0},                   [29] = {"IQ1_M", 0, 0},
    [GGML_TYPE_BF16] = {"BF16", 1, 2},
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

uint32_t gguf_type_block_elems(uint32_t type)
{
    return type < N_TYPES ? k_types[type].block_elems : 0;
}

uint32_t gguf_type_block_bytes(uint32_t type)
{
    return type < N_TYPES ? k_types[type].block_bytes : 0;
}

const char *gguf_type_name(uint32_t type)
{
    return type < N_TYPES && k_types[type].name ? k_types[type].name : "unknown";
}

/* metadata value sizes; 0 for the variable-size STRING/ARRAY */
static const uint8_t k_value_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const k_value_name[] = {"UINT8", "INT8",  "UINT16", "INT16",  "UINT32", "INT32", "FLOAT32",
                                           "BOOL",  "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
#define N_VALUE_TYPES (sizeof k_value_size / sizeof k_value_size[0])

/* ------------------------------------------------------------------ file object */

typedef struct gguf_kv {
    gguf_str_t     key;
    uint32_t       type;       /* enum gguf_value_type */
    uint32_t       arr_type;   /* element type when type == ARRAY */
    uint64_t       arr_n;      /* element count when type == ARRAY */
    const uint8_t *val;        /* the value; for arrays the first element */
    uint64_t      *str_off;    /* string arrays: offset of element i from val (arr_n entries) */
} gguf_kv_t;

struct gguf_file {
    const uint8_t *base;
    size_t         size;
    int            mapped;      /* base came from mmap and is unmapped on close */
    uint32_t       version;
    uint32_t       alignment;
    int64_t        n_kv;
    gguf_kv_t     *kv;
    uint32_t      *kv_sorted;   /* kv indices sorted by key, for binary search */
    int64_t        n_tensors;
    gguf_tensor_t *tensors;
    uint32_t      *t_sorted;    /* tensor indices sorted by name */
    uint64_t       data_start;
};

/* ------------------------------------------------------------------ parser */

typedef struct parser {
    const uint8_t *base;
    uint64_t       size;
    uint64_t       pos;
    const char    *name;        /* file name for messages */
    char          *err;
    size_t         err_cap;
} parser_t;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void fail(parser_t *p, uint64_t offset, const char *fmt, ...)
{
    if (!p->err || p->err_cap == 0) return;
    int n = snprintf(p->err, p->err_cap, "%s: ", p->name);
    if (n < 0 || (size_t)n >= p->err_cap) return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(p->err + n, p->err_cap - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) >= p->err_cap) return;
    snprintf(p->err + n + m, p->err_cap - (size_t)(n + m), " (at byte offset %llu)", (unsigned long long)offset);
}

static uint64_t remaining(const parser_t *p) { return p->size - p->pos; }

/* little-endian loads, independent of host alignment and byte order */
static uint64_t load_le(const uint8_t *s, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)s[i] << (8 * i);
    return v;
}

static int read_le(parser_t *p, unsigned n, uint64_t *out, const char *what)
{
    if (remaining(p) < n) {
        fail(p, p->pos, "truncated: %s needs %u bytes, file has %llu left", what, n,
             (unsigned long long)remaining(p));
        return -1;
    }
    *out = load_le(p->base + p->pos, n);
    p->pos += n;
    return 0;
}

/* a GGUF string: u64 length + bytes; `what` describes it for messages */
static int read_str(parser_t *p, gguf_str_t *out, const char *what)
{
    uint64_t at = p->pos, len;
    if (read_le(p, 8, &len, what) != 0) return -1;
    if (len > GGUF_MAX_STR_LEN) {
        fail(p, at, "%s length %llu exceeds the 1 GiB limit", what, (unsigned long long)len);
        return -1;
    }
    if (len > remaining(p)) {
        fail(p, at, "%s length %llu extends beyond end of file (%llu bytes left)", what, (unsigned long long)len,
             (unsigned long long)remaining(p));
        return -1;
    }
    out->ptr = (const char *)p->base + p->pos;
    out->len = len;
    p->pos += len;
    return 0;
}

static int str_cmp(gguf_str_t a, gguf_str_t b)
{
    uint64_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

int gguf_str_eq(gguf_str_t s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

/* qsort has no context argument and a global would make concurrent opens race, so the name
 * indexes are sorted with this small merge sort. */
typedef gguf_str_t (*name_of_fn)(const void *items, uint32_t idx);

static gguf_str_t kv_name(const void *items, uint32_t i) { return ((const gguf_kv_t *)items)[i].key; }
static gguf_str_t tensor_name(const void *items, uint32_t i) { return ((const gguf_tensor_t *)items)[i].name; }

static void merge_sort(uint32_t *idx, uint32_t *tmp, uint32_t n, const void *items, name_of_fn name_of)
{
    if (n < 2) return;
    uint32_t h = n / 2;
    merge_sort(idx, tmp, h, items, name_of);
    merge_sort(idx + h, tmp, n - h, items, name_of);
    uint32_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = str_cmp(name_of(items, idx[j]), name_of(items, idx[i])) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}

/* sorted index of n names; returns NULL on OOM. *dup gets the first duplicated position or -1. */
static uint32_t *build_index(const void *items, uint32_t n, name_of_fn name_of, int64_t *dup)
{
    uint32_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    uint32_t *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx);
        free(tmp);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) idx[i] = i;
    merge_sort(idx, tmp, n, items, name_of);
    free(tmp);
    *dup = -1;
    for (uint32_t i = 1; i < n; i++) {
        if (str_cmp(name_of(items, idx[i - 1]), name_of(items, idx[i])) == 0) {
            /* report the later one in file order */
            *dup = idx[i] > idx[i - 1] ? idx[i] : idx[i - 1];
            break;
        }
    }
    return idx;
}

/* prints a key or tensor name for messages: at most 64 bytes, non-printables as '?' */
static const char *printable(gguf_str_t s, char buf[72])
{
    size_t n = s.len > 64 ? 64 : (size_t)s.len, k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        buf[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (s.len > 64) {
        buf[k++] = '.';
        buf[k++] = '.';
        buf[k++] = '.';
    }
    buf[k] = 0;
    return buf;
}

static int parse_value(parser_t *p, gguf_kv_t *kv, const char *key)
{
    uint64_t at = p->pos;
    if (kv->type >= N_VALUE_TYPES) {
        fail(p, at, "key '%s' has unknown value type %u", key, kv->type);
        return -1;
    }
    kv->val = p->base + p->pos;
    if (kv->type == GGUF_TYPE_STRING) {
        gguf_str_t s;
        return read_str(p, &s, "string value");
    }
    if (kv->type != GGUF_TYPE_ARRAY) {
        uint64_t v;
        return read_le(p, k_value_size[kv->type], &v, "value");
    }

    uint64_t et, n;
    if (read_le(p, 4, &et, "array element type") != 0) return -1;
    if (et == GGUF_TYPE_ARRAY) {
        fail(p, at, "key '%s' is an array of arrays, which GGUF does not allow", key);
        return -1;
    }
    if (et >= N_VALUE_TYPES) {
        fail(p, at, "key '%s' is an array of unknown value type %llu", key, (unsigned long long)et);
        return -1;
    }
    uint64_t at_n = p->pos;
    if (read_le(p, 8, &n, "array length") != 0) return -1;
    if (n > GGUF_MAX_ARR_LEN) {
        fail(p, at_n, "key '%s' array length %llu exceeds the 2^30 element limit", key, (unsigned long long)n);
        return -1;
    }
    kv->arr_type = (uint32_t)et;
    kv->arr_n = n;
    kv->val = p->base + p->pos;
    uint64_t min_elem = et == GGUF_TYPE_STRING ? 8 : k_value_size[et];
    if (n > remaining(p) / min_elem) {
        fail(p, at_n, "key '%s' array of %llu %s elements extends beyond end of file (%llu bytes left)", key,
             (unsigned long long)n, k_value_name[et], (unsigned long long)remaining(p));
        return -1;
    }
    if (et != GGUF_TYPE_STRING) {
        p->pos += n * min_elem;
        return 0;
    }
    /* string arrays: validate every element and remember where it starts, for O(1) access */
    kv->str_off = malloc((size_t)(n ? n : 1) * sizeof *kv->str_off);
    if (!kv->str_off) {
        fail(p, at, "out of memory indexing string array '%s' (%llu elements)", key, (unsigned long long)n);
        return -1;
    }
    uint64_t start = p->pos;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str_t s;
        kv->str_off[i] = p->pos - start;
        if (read_str(p, &s, "array string element") != 0) return -1;
    }
    return 0;
}

static int parse_kvs(parser_t *p, gguf_file_t *g)
{
    char kbuf[72];
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv_t *kv = &g->kv[i];
        uint64_t at = p->pos, type;
        if (read_str(p, &kv->key, "metadata key") != 0) return -1;
        if (kv->key.len == 0) {
            fail(p, at, "metadata key %lld is empty", (long long)i);
            return -1;
        }
        if (read_le(p, 4, &type, "value type") != 0) return -1;
        kv->type = (uint32_t)type;
        if (parse_value(p, kv, printable(kv->key, kbuf)) != 0) return -1;
        if (gguf_str_eq(kv->key, "general.alignment")) {
            if (kv->type != GGUF_TYPE_UINT32) {
                fail(p, at, "general.alignment has type %s, expected UINT32", k_value_name[kv->type]);
                return -1;
            }
            uint32_t a = (uint32_t)load_le(kv->val, 4);
            if (a == 0 || (a & (a - 1)) != 0) {
                fail(p, at, "general.alignment %u is not a power of two", a);
                return -1;
            }
            g->alignment = a;
        }
    }
    return 0;
}

/* bytes of a tensor, overflow-safe; -1 with a message on failure */
static int tensor_nbytes(parser_t *p, uint64_t at, const gguf_tensor_t *t, const char *name, uint64_t *out)
{
    uint32_t be = gguf_type_block_elems(t->type), bb = gguf_type_block_bytes(t->type);
    if ((uint64_t)t->ne[0] % be != 0) {
        fail(p, at, "tensor '%s': ne[0] = %lld is not a multiple of the %s block size %u", name,
             (long long)t->ne[0], gguf_type_name(t->type), be);
        return -1;
    }
    /* consumers multiply dims in int64 (rows = ne1*ne2*ne3): that must not overflow even when
     * another dim is 0 and the tensor is empty */
    uint64_t elems = 1;
    for (int d = 0; d < 4; d++) {
        uint64_t ne = (uint64_t)t->ne[d];
        if (ne == 0) continue;
        if (elems > (uint64_t)INT64_MAX / ne) {
            fail(p, at, "tensor '%s': element count overflows 64 bits", name);
            return -1;
        }
        elems *= ne;
    }
    uint64_t bytes = (uint64_t)t->ne[0] / be * bb;   /* ne[0] < 2^63, bb < 2^9: no overflow */
    for (int d = 1; d < 4; d++) {
        uint64_t ne = (uint64_t)t->ne[d];
        if (ne != 0 && bytes > UINT64_MAX / ne) {
            fail(p, at, "tensor '%s': size overflows 64 bits", name);
            return -1;
        }
        bytes *= ne;
    }
    *out = bytes;
    return 0;
}

static int parse_tensor_infos(parser_t *p, gguf_file_t *g)
{
    char nbuf[72];
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor_t *t = &g->tensors[i];
        uint64_t at = p->pos, v;
        if (read_str(p, &t->name, "tensor name") != 0) return -1;
        const char *name = printable(t->name, nbuf);
        if (t->name.len == 0 || t->name.len > GGUF_MAX_NAME_LEN) {
            fail(p, at, "tensor %lld: name length %llu is outside 1..%u", (long long)i,
                 (unsigned long long)t->name.len, GGUF_MAX_NAME_LEN);
            return -1;
        }
        uint64_t at_dims = p->pos;
        if (read_le(p, 4, &v, "tensor n_dims") != 0) return -1;
        if (v < 1 || v > GGUF_MAX_DIMS) {
            fail(p, at_dims, "tensor '%s': n_dims %llu is outside 1..%u", name, (unsigned long long)v, GGUF_MAX_DIMS);
            return -1;
        }
        t->n_dims = (uint32_t)v;
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t at_ne = p->pos;
            if (read_le(p, 8, &v, "tensor dimension") != 0) return -1;
            if ((int64_t)v < 0) {
                fail(p, at_ne, "tensor '%s': ne[%u] = %lld is negative", name, d, (long long)(int64_t)v);
                return -1;
            }
            t->ne[d] = (int64_t)v;
        }
        uint64_t at_type = p->pos;
        if (read_le(p, 4, &v, "tensor type") != 0) return -1;
        t->type = (uint32_t)v;
        if (gguf_type_block_elems(t->type) == 0) {
            fail(p, at_type, "tensor '%s': unsupported tensor type %u (%s)", name, t->type, gguf_type_name(t->type));
            return -1;
        }
        uint64_t at_off = p->pos;
        if (read_le(p, 8, &t->offset, "tensor offset") != 0) return -1;
        if (t->offset % g->alignment != 0) {
            fail(p, at_off, "tensor '%s': offset %llu is not a multiple of the alignment %u", name,
                 (unsigned long long)t->offset, g->alignment);
            return -1;
        }
        if (tensor_nbytes(p, at, t, name, &t->nbytes) != 0) return -1;
    }
    return 0;
}

/* data section: start, then every tensor's extent inside the file */
static int place_tensors(parser_t *p, gguf_file_t *g)
{
    char nbuf[72];
    if (g->n_tensors == 0) {
        g->data_start = p->pos;
        return 0;
    }
    uint64_t a = g->alignment;
    uint64_t start = p->pos + (a - p->pos % a) % a;   /* pos <= size < 2^63: no overflow */
    if (start > p->size) {
        fail(p, p->pos, "data section would start at %llu, beyond end of file (size %llu)",
             (unsigned long long)start, (unsigned long long)p->size);
        return -1;
    }
    g->data_start = start;
    uint64_t room = p->size - start;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor_t *t = &g->tensors[i];
        if (t->offset > room || t->nbytes > room - t->offset) {
            unsigned long long b = (unsigned long long)(start + t->offset);
            unsigned long long e = t->offset > room || t->nbytes > UINT64_MAX - start - t->offset
                                       ? (unsigned long long)UINT64_MAX
                                       : (unsigned long long)(start + t->offset + t->nbytes);
            fail(p, start + (t->offset > room ? room : t->offset),
                 "tensor '%s' data [%llu..%llu) extends beyond end of file (size %llu)", printable(t->name, nbuf),
                 b, e, (unsigned long long)p->size);
            return -1;
        }
        t->data = p->base + start + t->offset;
    }
    return 0;
}

static gguf_file_t *parse(const uint8_t *base, size_t size, const char *name, char *err, size_t err_cap)
{
    parser_t p = {.base = base, .size = size, .pos = 0, .name = name, .err = err, .err_cap = err_cap};
    if (err && err_cap) err[0] = 0;

    if (size < 4 || memcmp(base, GGUF_MAGIC, 4) != 0) {
        if (size < 4)
            fail(&p, 0, "truncated: %zu bytes, too short for the GGUF magic", size);
        else
            fail(&p, 0, "bad magic %02x %02x %02x %02x, expected \"GGUF\" (not a GGUF file)", base[0], base[1],
                 base[2], base[3]);
        return NULL;
    }
    p.pos = 4;
    uint64_t version, n_tensors, n_kv;
    if (read_le(&p, 4, &version, "version") != 0) return NULL;
    if (version != 0 && (version & 0xFFFF) == 0) {
        fail(&p, 4, "big-endian GGUF file (version bytes %08llx) is not supported", (unsigned long long)version);
        return NULL;
    }
    if (version == 1) {
        fail(&p, 4, "GGUF version 1 is not supported (only 2 and 3)");
        return NULL;
    }
    if (version < 2 || version > 3) {
        fail(&p, 4, "unsupported GGUF version %llu (only 2 and 3)", (unsigned long long)version);
        return NULL;
    }
    if (read_le(&p, 8, &n_tensors, "tensor count") != 0) return NULL;
    if (read_le(&p, 8, &n_kv, "metadata count") != 0) return NULL;
    if ((int64_t)n_tensors < 0 || n_tensors > UINT32_MAX || n_tensors > (size - p.pos) / GGUF_MIN_TENSOR_BYTES) {
        fail(&p, 8, "tensor count %lld is impossible for a file of %zu bytes", (long long)n_tensors, size);
        return NULL;
    }
    if ((int64_t)n_kv < 0 || n_kv > UINT32_MAX || n_kv > (size - p.pos) / GGUF_MIN_KV_BYTES) {
        fail(&p, 16, "metadata count %lld is impossible for a file of %zu bytes", (long long)n_kv, size);
        return NULL;
    }

    gguf_file_t *g = calloc(1, sizeof *g);
    if (!g) {
        fail(&p, 0, "out of memory");
        return NULL;
    }
    g->base = base;
    g->size = size;
    g->version = (uint32_t)version;
    g->alignment = GGUF_DEFAULT_ALIGN;
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        fail(&p, 0, "out of memory");
        goto bad;
    }
    if (parse_kvs(&p, g) != 0) goto bad;
    if (parse_tensor_infos(&p, g) != 0) goto bad;
    if (place_tensors(&p, g) != 0) goto bad;

    char nbuf[72];
    int64_t dup;
    g->kv_sorted = build_index(g->kv, (uint32_t)g->n_kv, kv_name, &dup);
    if (!g->kv_sorted) {
        fail(&p, 0, "out of memory");
        goto bad;
    }
    if (dup >= 0) {
        fail(&p, (uint64_t)((const uint8_t *)g->kv[dup].key.ptr - base) - 8, "duplicate metadata key '%s'",
             printable(g->kv[dup].key, nbuf));
        goto bad;
    }
    g->t_sorted = build_index(g->tensors, (uint32_t)g->n_tensors, tensor_name, &dup);
    if (!g->t_sorted) {
        fail(&p, 0, "out of memory");
        goto bad;
    }
    if (dup >= 0) {
        fail(&p, (uint64_t)((const uint8_t *)g->tensors[dup].name.ptr - base) - 8, "duplicate tensor name '%s'",
             printable(g->tensors[dup].name, nbuf));
        goto bad;
    }
    return g;
bad:
    gguf_close(g);
    return NULL;
}

gguf_file_t *gguf_open_memory(const void *buf, size_t size, char *err, size_t err_cap)
{
    static const uint8_t empty[1];
    return parse(buf ? buf : empty, buf ? size : 0, "<memory>", err, err_cap);
}

gguf_file_t *gguf_open(const char *path, char *err, size_t err_cap)
{
    parser_t p = {.name = path, .err = err, .err_cap = err_cap};
    if (err && err_cap) err[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(&p, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fail(&p, 0, "not a regular file");
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        fail(&p, 0, "empty file, too short for the GGUF magic");
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);   /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        fail(&p, 0, "mmap of %zu bytes failed: %s", size, strerror(map_errno));
        return NULL;
    }
    gguf_file_t *g = parse(map, size, path, err, err_cap);
    if (!g) {
        munmap(map, size);
        return NULL;
    }
    g->mapped = 1;
    return g;
}

void gguf_close(gguf_file_t *g)
{
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_off);
    free(g->kv);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g);
}

uint32_t gguf_version(const gguf_file_t *g) { return g->version; }
uint32_t gguf_alignment(const gguf_file_t *g) { return g->alignment; }

/* ------------------------------------------------------------------ metadata */

int64_t gguf_n_kv(const gguf_file_t *g) { return g->n_kv; }

/* binary search over a sorted index by C-string name */
static int64_t lookup(const uint32_t *idx, int64_t n, const void *items, name_of_fn name_of, const char *name)
{
    gguf_str_t want = {name, strlen(name)};
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(name_of(items, idx[mid]), want);
        if (c == 0) return idx[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int64_t gguf_find_key(const gguf_file_t *g, const char *key)
{
    return lookup(g->kv_sorted, g->n_kv, g->kv, kv_name, key);
}

gguf_str_t gguf_key(const gguf_file_t *g, int64_t idx)
{
    gguf_str_t none = {"", 0};
    return idx >= 0 && idx < g->n_kv ? g->kv[idx].key : none;
}

uint32_t gguf_kv_type(const gguf_file_t *g, int64_t idx)
{
    return idx >= 0 && idx < g->n_kv ? g->kv[idx].type : UINT32_MAX;
}

static const gguf_kv_t *find_kv(const gguf_file_t *g, const char *key)
{
    int64_t i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* integer value of any integer-typed kv; -2 if not an integer type */
static int int_value(const gguf_kv_t *kv, int *is_signed, uint64_t *u, int64_t *s)
{
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        *is_signed = 0;
        *u = load_le(kv->val, k_value_size[kv->type]);
        return 0;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: {
        unsigned bits = 8 * k_value_size[kv->type];
        uint64_t raw = load_le(kv->val, k_value_size[kv->type]);
        if (bits < 64 && (raw >> (bits - 1)) & 1) raw |= ~0ull << bits;   /* sign-extend */
        *is_signed = 1;
        memcpy(s, &raw, sizeof raw);
        return 0;
    }
    default:
        return -2;
    }
}

int gguf_get_u32(const gguf_file_t *g, const char *key, uint32_t *out)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    int sg;
    uint64_t u;
    int64_t s;
    if (int_value(kv, &sg, &u, &s) != 0) return -2;
    if (sg) {
        if (s < 0 || s > (int64_t)UINT32_MAX) return -2;
        u = (uint64_t)s;
    }
    if (u > UINT32_MAX) return -2;
    *out = (uint32_t)u;
    return 0;
}

int gguf_get_i64(const gguf_file_t *g, const char *key, int64_t *out)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    int sg;
    uint64_t u;
    int64_t s;
    if (int_value(kv, &sg, &u, &s) != 0) return -2;
    if (!sg) {
        if (u > (uint64_t)INT64_MAX) return -2;
        s = (int64_t)u;
    }
    *out = s;
    return 0;
}

int gguf_get_f32(const gguf_file_t *g, const char *key, float *out)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        uint32_t bits = (uint32_t)load_le(kv->val, 4);
        memcpy(out, &bits, 4);
        return 0;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        uint64_t bits = load_le(kv->val, 8);
        double d;
        memcpy(&d, &bits, 8);
        *out = (float)d;
        return 0;
    }
    return -2;
}

int gguf_get_bool(const gguf_file_t *g, const char *key, int *out)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_BOOL) return -2;
    *out = kv->val[0] != 0;
    return 0;
}

int gguf_get_str(const gguf_file_t *g, const char *key, gguf_str_t *out)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_STRING) return -2;
    out->len = load_le(kv->val, 8);
    out->ptr = (const char *)kv->val + 8;
    return 0;
}

int gguf_get_arr_info(const gguf_file_t *g, const char *key, uint32_t *elem_type, uint64_t *n)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY) return -2;
    if (elem_type) *elem_type = kv->arr_type;
    if (n) *n = kv->arr_n;
    return 0;
}

int gguf_get_arr_str(const gguf_file_t *g, const char *key, uint64_t i, gguf_str_t *out)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING) return -2;
    if (i >= kv->arr_n) return -3;
    const uint8_t *s = kv->val + kv->str_off[i];
    out->len = load_le(s, 8);
    out->ptr = (const char *)s + 8;
    return 0;
}

int gguf_get_arr_data(const gguf_file_t *g, const char *key, const void **data)
{
    const gguf_kv_t *kv = find_kv(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type == GGUF_TYPE_STRING) return -2;
    *data = kv->val;
    return 0;
}

/* ------------------------------------------------------------------ tensors */

int64_t gguf_n_tensors(const gguf_file_t *g) { return g->n_tensors; }

const gguf_tensor_t *gguf_tensor_at(const gguf_file_t *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor_t *gguf_find_tensor(const gguf_file_t *g, const char *name)
{
    int64_t i = lookup(g->t_sorted, g->n_tensors, g->tensors, tensor_name, name);
    return i < 0 ? NULL : &g->tensors[i];
}
