/* gguf_write.c - GGUF v3 builder (see gguf_write.h). Metadata is serialized as it is added into
 * one growing byte buffer; tensors are kept as (info, data copy) until the file is written. */
#include "gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ALIGN 32u

typedef struct wbuf {
    uint8_t *p;
    size_t   len, cap;
    int      oom;     /* sticky: a failed append leaves oom set */
} wbuf_t;

typedef struct wtensor {
    char     *name;
    uint32_t  type, n_dims;
    int64_t   ne[GGUF_WRITER_MAX_DIMS];
    uint8_t  *data;   /* NULL when the tensor is all zeros */
    uint64_t  nbytes;
} wtensor_t;

struct gguf_writer {
    wbuf_t     kv;          /* serialized kv records */
    uint64_t   n_kv;
    uint32_t   alignment;
    wtensor_t *tensors;
    uint64_t   n_tensors, cap_tensors;
};

static void put(wbuf_t *b, const void *data, size_t n)
{
    if (b->oom) return;
    if (n > SIZE_MAX - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(wbuf_t *b, uint64_t v, unsigned n)
{
    uint8_t tmp[8];
    for (unsigned i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    put(b, tmp, n);
}

static void put_str(wbuf_t *b, const char *s, uint64_t len)
{
    put_le(b, len, 8);
    put(b, s, (size_t)len);
}

gguf_writer_t *gguf_writer_new(void)
{
    gguf_writer_t *w = calloc(1, sizeof *w);
    if (w) w->alignment = DEFAULT_ALIGN;
    return w;
}

void gguf_writer_free(gguf_writer_t *w)
{
    if (!w) return;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->tensors);
    free(w->kv.p);
    free(w);
}

/* a kv record is key + type (begin_kv), value bytes, then end_kv, which rolls back on OOM */
static void begin_kv(gguf_writer_t *w, const char *key, uint32_t type, size_t *mark)
{
    *mark = w->kv.len;
    put_str(&w->kv, key, strlen(key));
    put_le(&w->kv, type, 4);
}

static int end_kv(gguf_writer_t *w, size_t mark)
{
    if (w->kv.oom) {
        w->kv.oom = 0;
        w->kv.len = mark;
        return -1;
    }
    w->n_kv++;
    return 0;
}

static int add_scalar(gguf_writer_t *w, const char *key, uint32_t type, uint64_t bits, unsigned n)
{
    size_t mark;
    begin_kv(w, key, type, &mark);
    put_le(&w->kv, bits, n);
    int rc = end_kv(w, mark);
    if (rc == 0 && type == GGUF_TYPE_UINT32 && strcmp(key, "general.alignment") == 0 && bits != 0 &&
        (bits & (bits - 1)) == 0)
        w->alignment = (uint32_t)bits;
    return rc;
}

int gguf_writer_add_u8(gguf_writer_t *w, const char *key, uint8_t v) { return add_scalar(w, key, GGUF_TYPE_UINT8, v, 1); }
int gguf_writer_add_i8(gguf_writer_t *w, const char *key, int8_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT8, (uint8_t)v, 1);
}
int gguf_writer_add_u16(gguf_writer_t *w, const char *key, uint16_t v)
{
    return add_scalar(w, key, GGUF_TYPE_UINT16, v, 2);
}
int gguf_writer_add_i16(gguf_writer_t *w, const char *key, int16_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT16, (uint16_t)v, 2);
}
int gguf_writer_add_u32(gguf_writer_t *w, const char *key, uint32_t v)
{
    return add_scalar(w, key, GGUF_TYPE_UINT32, v, 4);
}
int gguf_writer_add_i32(gguf_writer_t *w, const char *key, int32_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT32, (uint32_t)v, 4);
}
int gguf_writer_add_f32(gguf_writer_t *w, const char *key, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return add_scalar(w, key, GGUF_TYPE_FLOAT32, bits, 4);
}
int gguf_writer_add_bool(gguf_writer_t *w, const char *key, int v)
{
    return add_scalar(w, key, GGUF_TYPE_BOOL, v != 0, 1);
}
int gguf_writer_add_u64(gguf_writer_t *w, const char *key, uint64_t v)
{
    return add_scalar(w, key, GGUF_TYPE_UINT64, v, 8);
}
int gguf_writer_add_i64(gguf_writer_t *w, const char *key, int64_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT64, (uint64_t)v, 8);
}
int gguf_writer_add_f64(gguf_writer_t *w, const char *key, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return add_scalar(w, key, GGUF_TYPE_FLOAT64, bits, 8);
}

int gguf_writer_add_str_n(gguf_writer_t *w, const char *key, const char *s, uint64_t len)
{
    size_t mark;
    begin_kv(w, key, GGUF_TYPE_STRING, &mark);
    put_str(&w->kv, s, len);
    return end_kv(w, mark);
}

int gguf_writer_add_str(gguf_writer_t *w, const char *key, const char *s)
{
    return gguf_writer_add_str_n(w, key, s, strlen(s));
}

int gguf_writer_add_arr_str(gguf_writer_t *w, const char *key, const char *const *strs, uint64_t n)
{
    size_t mark;
    begin_kv(w, key, GGUF_TYPE_ARRAY, &mark);
    put_le(&w->kv, GGUF_TYPE_STRING, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n && !w->kv.oom; i++) put_str(&w->kv, strs[i], strlen(strs[i]));
    return end_kv(w, mark);
}

static unsigned elem_size(uint32_t t)
{
    static const uint8_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < sizeof sz ? sz[t] : 0;
}

int gguf_writer_add_arr(gguf_writer_t *w, const char *key, uint32_t elem_type, const void *data, uint64_t n)
{
    unsigned es = elem_size(elem_type);
    if (es == 0) return -1;
    size_t mark;
    begin_kv(w, key, GGUF_TYPE_ARRAY, &mark);
    put_le(&w->kv, elem_type, 4);
    put_le(&w->kv, n, 8);
    const uint8_t *src = data;
    for (uint64_t i = 0; i < n && !w->kv.oom; i++) {
        uint64_t v = 0;
        switch (es) {
        case 1: v = src[i]; break;
        case 2: { uint16_t x; memcpy(&x, src + 2 * i, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, src + 4 * i, 4); v = x; break; }
        default: memcpy(&v, src + 8 * i, 8); break;
        }
        put_le(&w->kv, v, es);
    }
    return end_kv(w, mark);
}

int gguf_writer_add_raw(gguf_writer_t *w, const char *key, uint32_t type, const void *bytes, size_t nbytes)
{
    size_t mark;
    begin_kv(w, key, type, &mark);
    put(&w->kv, bytes, nbytes);
    return end_kv(w, mark);
}

int gguf_writer_add_tensor(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                           const void *data, uint64_t nbytes)
{
    if (n_dims > GGUF_WRITER_MAX_DIMS || nbytes > SIZE_MAX) return -1;
    if (w->n_tensors == w->cap_tensors) {
        uint64_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        wtensor_t *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) return -1;
        w->tensors = t;
        w->cap_tensors = cap;
    }
    wtensor_t t = {.type = type, .n_dims = n_dims, .nbytes = nbytes};
    for (uint32_t d = 0; d < n_dims; d++) t.ne[d] = ne[d];
    t.name = strdup(name);
    if (data && nbytes) t.data = malloc((size_t)nbytes);
    if (!t.name || (data && nbytes && !t.data)) {
        free(t.name);
        free(t.data);
        return -1;
    }
    if (t.data) memcpy(t.data, data, (size_t)nbytes);
    w->tensors[w->n_tensors++] = t;
    return 0;
}

static void put_zeros(wbuf_t *b, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n && !b->oom) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        put(b, zeros, k);
        n -= k;
    }
}

static uint64_t pad_to(uint64_t n, uint64_t a) { return (a - n % a) % a; }

int gguf_writer_write_memory(const gguf_writer_t *w, void **buf, size_t *size, char *err, size_t err_cap)
{
    wbuf_t b = {0};
    put(&b, "GGUF", 4);
    put_le(&b, 3, 4);
    put_le(&b, w->n_tensors, 8);
    put_le(&b, w->n_kv, 8);
    put(&b, w->kv.p, w->kv.len);
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const wtensor_t *t = &w->tensors[i];
        put_str(&b, t->name, strlen(t->name));
        put_le(&b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(&b, (uint64_t)t->ne[d], 8);
        put_le(&b, t->type, 4);
        put_le(&b, off, 8);
        off += t->nbytes + pad_to(t->nbytes, w->alignment);
    }
    if (w->n_tensors) put_zeros(&b, pad_to(b.len, w->alignment));
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const wtensor_t *t = &w->tensors[i];
        if (t->data)
            put(&b, t->data, (size_t)t->nbytes);
        else
            put_zeros(&b, t->nbytes);
        /* no padding after the last tensor: files end at the last byte of data */
        if (i + 1 < w->n_tensors) put_zeros(&b, pad_to(t->nbytes, w->alignment));
    }
    if (b.oom) {
        free(b.p);
        if (err && err_cap) snprintf(err, err_cap, "gguf writer: out of memory serializing the file");
        return -1;
    }
    *buf = b.p;
    *size = b.len;
    return 0;
}

int gguf_writer_write(const gguf_writer_t *w, const char *path, char *err, size_t err_cap)
{
    void *buf;
    size_t size;
    if (gguf_writer_write_memory(w, &buf, &size, err, err_cap) != 0) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        if (err && err_cap) snprintf(err, err_cap, "%s: cannot create: %s", path, strerror(errno));
        free(buf);
        return -1;
    }
    size_t n = fwrite(buf, 1, size, f);
    int close_rc = fclose(f);
    free(buf);
    if (n != size || close_rc != 0) {
        if (err && err_cap) snprintf(err, err_cap, "%s: write failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
