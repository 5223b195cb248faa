/* policy_file.c - see policy_file.h and policies/FORMAT.md. All integers little-endian. */
#include "policy_file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dstrat.h"

static int fail(char *err, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int code, const char *fmt, ...) {
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

uint64_t dspf_fnv1a64(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static int key_ok(const char *k) {
    if (!k || !k[0]) return 0;
    for (const char *c = k; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
            return 0;
    return 1;
}

static int value_ok(const char *v) {
    if (!v) return 0;
    for (const unsigned char *c = (const unsigned char *) v; *c; c++)
        if (*c < 0x20 || *c == 0x7f) return 0; /* no newline or control bytes */
    return 1;
}

/* ------------------------------------------------------------------------------ reader */
typedef struct rd {
    const uint8_t *b;
    size_t len, pos;
    const char *name;
    char *err;
    size_t cap;
} rd_t;

static int need(rd_t *r, size_t n, const char *what) {
    if (n > r->len - r->pos)
        return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: truncated at byte %zu while reading %s (%zu bytes needed, %zu left)",
                    r->name, r->pos, what, n, r->len - r->pos);
    return 0;
}

static int get_u32(rd_t *r, uint32_t *v, const char *what) {
    int rc = need(r, 4, what);
    if (rc) return rc;
    const uint8_t *p = r->b + r->pos;
    *v = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
    r->pos += 4;
    return 0;
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

void dspf_free(dspf_file_t *f) {
    if (!f) return;
    if (f->tensors)
        for (uint32_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].data);
    free(f->tensors);
    free(f->kv);
    free(f->text);
    memset(f, 0, sizeof *f);
}

/* splits the header text into key=value lines */
static int parse_header(rd_t *r, dspf_file_t *f, size_t hstart, uint32_t hlen) {
    f->text = malloc((size_t) hlen + 1);
    if (!f->text) return fail(r->err, r->cap, DSTRAT_E_NOMEM, "policy file %s: out of memory", r->name);
    memcpy(f->text, r->b + hstart, hlen);
    f->text[hlen] = '\0';
    if (memchr(f->text, '\0', hlen))
        return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: header contains a NUL byte", r->name);
    uint32_t lines = 0;
    for (uint32_t i = 0; i < hlen; i++) lines += f->text[i] == '\n';
    if (hlen && f->text[hlen - 1] != '\n')
        return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: header does not end with a newline", r->name);
    f->kv = calloc(lines ? lines : 1, sizeof *f->kv);
    if (!f->kv) return fail(r->err, r->cap, DSTRAT_E_NOMEM, "policy file %s: out of memory", r->name);
    char *line = f->text;
    for (uint32_t li = 0; li < lines; li++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: header line %u has no '=': \"%.40s\"", r->name, li + 1, line);
        *eq = '\0';
        if (!key_ok(line) || !value_ok(eq + 1))
            return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: header line %u has a bad key or value (key \"%.40s\")",
                        r->name, li + 1, line);
        for (uint32_t j = 0; j < f->n_kv; j++)
            if (!strcmp(f->kv[j].key, line))
                return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: header key '%s' appears twice", r->name, line);
        f->kv[f->n_kv].key = line;
        f->kv[f->n_kv].value = eq + 1;
        f->n_kv++;
        line = nl + 1;
    }
    return 0;
}

static int parse_tensor(rd_t *r, dspf_tensor_t *t, uint32_t index) {
    uint32_t nlen, ndim;
    int rc;
    char what[96];
    snprintf(what, sizeof what, "tensor %u name length", index);
    if ((rc = get_u32(r, &nlen, what))) return rc;
    if (nlen < 1 || nlen >= DSPF_NAME_MAX)
        return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: tensor %u name length %u at byte %zu (allowed 1..%d)",
                    r->name, index, nlen, r->pos - 4, DSPF_NAME_MAX - 1);
    snprintf(what, sizeof what, "tensor %u name", index);
    if ((rc = need(r, nlen, what))) return rc;
    memcpy(t->name, r->b + r->pos, nlen);
    t->name[nlen] = '\0';
    if (!key_ok(t->name))
        return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: tensor %u has a malformed name at byte %zu", r->name, index, r->pos);
    r->pos += nlen;
    snprintf(what, sizeof what, "tensor '%s' ndim", t->name);
    if ((rc = get_u32(r, &ndim, what))) return rc;
    if (ndim < 1 || ndim > DSPF_MAX_DIMS)
        return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: tensor '%s' has ndim %u (allowed 1..%d)", r->name, t->name,
                    ndim, DSPF_MAX_DIMS);
    t->ndim = ndim;
    uint64_t n = 1;
    for (uint32_t d = 0; d < DSPF_MAX_DIMS; d++) t->dims[d] = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        snprintf(what, sizeof what, "tensor '%s' dim %u", t->name, d);
        if ((rc = get_u32(r, &t->dims[d], what))) return rc;
        if (t->dims[d] == 0)
            return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: tensor '%s' dim %u is 0", r->name, t->name, d);
        n *= t->dims[d];
        if (n > DSPF_MAX_FILE / 4)
            return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: tensor '%s' is too large", r->name, t->name);
    }
    t->n = (size_t) n;
    snprintf(what, sizeof what, "tensor '%s' data (%zu floats)", t->name, t->n);
    if ((rc = need(r, t->n * 4, what))) return rc;
    t->data = malloc(t->n * sizeof *t->data);
    if (!t->data) return fail(r->err, r->cap, DSTRAT_E_NOMEM, "policy file %s: out of memory for tensor '%s'", r->name, t->name);
    const uint8_t *p = r->b + r->pos;
    for (size_t i = 0; i < t->n; i++, p += 4) {
        const uint32_t u = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
        float v;
        memcpy(&v, &u, sizeof v);
        if (!isfinite(v))
            return fail(r->err, r->cap, DSTRAT_E_IO, "policy file %s: tensor '%s' element %zu is not finite", r->name,
                        t->name, i);
        t->data[i] = v;
    }
    r->pos += t->n * 4;
    return 0;
}

int dspf_parse(const uint8_t *buf, size_t len, const char *name, dspf_file_t *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    if (!name) name = "(memory)";
    snprintf(out->path, sizeof out->path, "%s", name);
    rd_t r = {buf, len, 0, name, err, cap};
    int rc;
    if (!buf && len) return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy file %s: NULL buffer", name);
    if (len < 8 || memcmp(buf, DSPF_MAGIC, 8) != 0)
        return fail(err, cap, DSTRAT_E_IO, "policy file %s: %s (expected magic \"%s\")", name,
                    len < 8 ? "too short for the magic" : "wrong magic, not a dstrat policy file", DSPF_MAGIC);
    r.pos = 8;
    uint32_t version, hlen, n_t;
    if ((rc = get_u32(&r, &version, "the format version"))) goto bad;
    if (version != DSPF_VERSION) {
        rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: format version %u, this build reads version %u", name, version,
                  DSPF_VERSION);
        goto bad;
    }
    out->version = version;
    if ((rc = get_u32(&r, &hlen, "the header length"))) goto bad;
    if (hlen > DSPF_MAX_HEADER) {
        rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: header length %u exceeds %u", name, hlen, DSPF_MAX_HEADER);
        goto bad;
    }
    if ((rc = need(&r, hlen, "the header text"))) goto bad;
    const size_t hstart = r.pos;
    r.pos += hlen;
    if ((rc = get_u32(&r, &n_t, "the tensor count"))) goto bad;
    if (n_t > DSPF_MAX_TENSORS) {
        rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: %u tensors (at most %d)", name, n_t, DSPF_MAX_TENSORS);
        goto bad;
    }
    out->tensors = calloc(n_t ? n_t : 1, sizeof *out->tensors);
    if (!out->tensors) {
        rc = fail(err, cap, DSTRAT_E_NOMEM, "policy file %s: out of memory", name);
        goto bad;
    }
    for (uint32_t i = 0; i < n_t; i++) {
        rc = parse_tensor(&r, &out->tensors[i], i);
        out->n_tensors = i + 1; /* so dspf_free releases what was allocated */
        if (rc) goto bad;
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(out->tensors[j].name, out->tensors[i].name)) {
                rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: tensor '%s' appears twice", name, out->tensors[i].name);
                goto bad;
            }
    }
    if ((rc = need(&r, 8, "the checksum"))) goto bad;
    if (r.len - r.pos != 8) {
        rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: %zu unexpected bytes after the checksum at byte %zu", name,
                  r.len - r.pos - 8, r.pos + 8);
        goto bad;
    }
    const uint64_t want = le64(buf + r.pos), got = dspf_fnv1a64(buf, r.pos);
    if (want != got) {
        rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: checksum mismatch (stored %016llx, computed %016llx): the file is corrupt",
                  name, (unsigned long long) want, (unsigned long long) got);
        goto bad;
    }
    /* the header is parsed last: its checksum is known to be right by now */
    if ((rc = parse_header(&r, out, hstart, hlen))) goto bad;
    return 0;
bad:
    dspf_free(out);
    return rc;
}

int dspf_read(const char *path, dspf_file_t *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    if (!path || !path[0]) return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy file: empty path");
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(err, cap, DSTRAT_E_IO, "policy file %s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t len = 0, capb = 0;
    int rc = 0;
    for (;;) {
        if (len == capb) {
            if (capb >= DSPF_MAX_FILE) {
                rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: larger than %u bytes", path, DSPF_MAX_FILE);
                break;
            }
            capb = capb ? capb * 2 : 65536;
            uint8_t *nb = realloc(buf, capb);
            if (!nb) {
                rc = fail(err, cap, DSTRAT_E_NOMEM, "policy file %s: out of memory", path);
                break;
            }
            buf = nb;
        }
        const size_t got = fread(buf + len, 1, capb - len, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp)) rc = fail(err, cap, DSTRAT_E_IO, "policy file %s: read error", path);
            break;
        }
    }
    fclose(fp);
    if (!rc) rc = dspf_parse(buf, len, path, out, err, cap);
    free(buf);
    return rc;
}

const char *dspf_get(const dspf_file_t *f, const char *key) {
    for (uint32_t i = 0; f && key && i < f->n_kv; i++)
        if (!strcmp(f->kv[i].key, key)) return f->kv[i].value;
    return NULL;
}

const dspf_tensor_t *dspf_find(const dspf_file_t *f, const char *name) {
    for (uint32_t i = 0; f && name && i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

/* ------------------------------------------------------------------------------ writer */
typedef struct wr {
    uint8_t *b;
    size_t len;
} wr_t;

static void put(wr_t *w, const void *p, size_t n) {
    if (w->b) memcpy(w->b + w->len, p, n);
    w->len += n;
}

static void put_u32(wr_t *w, uint32_t v) {
    const uint8_t b[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};
    put(w, b, 4);
}

static void emit(wr_t *w, const dspf_kv_t *kv, uint32_t n_kv, const dspf_tensor_t *t, uint32_t n_t, uint32_t hlen) {
    put(w, DSPF_MAGIC, 8);
    put_u32(w, DSPF_VERSION);
    put_u32(w, hlen);
    for (uint32_t i = 0; i < n_kv; i++) {
        put(w, kv[i].key, strlen(kv[i].key));
        put(w, "=", 1);
        put(w, kv[i].value, strlen(kv[i].value));
        put(w, "\n", 1);
    }
    put_u32(w, n_t);
    for (uint32_t i = 0; i < n_t; i++) {
        put_u32(w, (uint32_t) strlen(t[i].name));
        put(w, t[i].name, strlen(t[i].name));
        put_u32(w, t[i].ndim);
        for (uint32_t d = 0; d < t[i].ndim; d++) put_u32(w, t[i].dims[d]);
        for (size_t j = 0; j < t[i].n; j++) {
            uint32_t u;
            memcpy(&u, &t[i].data[j], 4);
            put_u32(w, u);
        }
    }
}

int dspf_serialize(const dspf_kv_t *kv, uint32_t n_kv, const dspf_tensor_t *t, uint32_t n_t, uint8_t **buf, size_t *len,
                   char *err, size_t cap) {
    *buf = NULL;
    *len = 0;
    if (n_t > DSPF_MAX_TENSORS || (n_kv && !kv) || (n_t && !t))
        return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: bad tensor or header arrays");
    size_t hlen = 0;
    for (uint32_t i = 0; i < n_kv; i++) {
        if (!key_ok(kv[i].key) || !value_ok(kv[i].value))
            return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: header entry %u (key '%s') has a bad key or value", i,
                        kv[i].key ? kv[i].key : "(null)");
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(kv[i].key, kv[j].key))
                return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: header key '%s' given twice", kv[i].key);
        hlen += strlen(kv[i].key) + strlen(kv[i].value) + 2;
    }
    if (hlen > DSPF_MAX_HEADER) return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: header exceeds %u bytes", DSPF_MAX_HEADER);
    for (uint32_t i = 0; i < n_t; i++) {
        size_t n = 1;
        const size_t nl = strnlen(t[i].name, DSPF_NAME_MAX);
        if (nl == 0 || nl >= DSPF_NAME_MAX || !key_ok(t[i].name) || t[i].ndim < 1 || t[i].ndim > DSPF_MAX_DIMS || !t[i].data)
            return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: tensor %u ('%.63s') has a bad name, ndim or data", i, t[i].name);
        for (uint32_t d = 0; d < t[i].ndim; d++) n *= t[i].dims[d];
        if (n != t[i].n || n == 0)
            return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: tensor '%s' has %zu elements, its shape says %zu", t[i].name,
                        t[i].n, n);
        for (size_t j = 0; j < n; j++)
            if (!isfinite(t[i].data[j]))
                return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: tensor '%s' element %zu is not finite", t[i].name, j);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(t[i].name, t[j].name))
                return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: tensor '%s' given twice", t[i].name);
    }
    wr_t w = {NULL, 0};
    emit(&w, kv, n_kv, t, n_t, (uint32_t) hlen);
    if (w.len + 8 > DSPF_MAX_FILE) return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: file exceeds %u bytes", DSPF_MAX_FILE);
    w.b = malloc(w.len + 8);
    if (!w.b) return fail(err, cap, DSTRAT_E_NOMEM, "policy writer: out of memory");
    w.len = 0;
    emit(&w, kv, n_kv, t, n_t, (uint32_t) hlen);
    const uint64_t h = dspf_fnv1a64(w.b, w.len);
    for (int i = 0; i < 8; i++) w.b[w.len + i] = (uint8_t) (h >> (8 * i));
    *buf = w.b;
    *len = w.len + 8;
    return 0;
}

int dspf_write(const char *path, const dspf_kv_t *kv, uint32_t n_kv, const dspf_tensor_t *t, uint32_t n_t, char *err,
               size_t cap) {
    uint8_t *buf;
    size_t len;
    int rc = dspf_serialize(kv, n_kv, t, n_t, &buf, &len, err, cap);
    if (rc) return rc;
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp) {
        free(buf);
        return fail(err, cap, DSTRAT_E_INVALID_ARG, "policy writer: path too long");
    }
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        free(buf);
        return fail(err, cap, DSTRAT_E_IO, "policy file %s: cannot create: %s", tmp, strerror(errno));
    }
    const int ok = fwrite(buf, 1, len, fp) == len;
    free(buf);
    if (fclose(fp) != 0 || !ok) {
        remove(tmp);
        return fail(err, cap, DSTRAT_E_IO, "policy file %s: write failed", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return fail(err, cap, DSTRAT_E_IO, "policy file %s: cannot rename into place: %s", path, strerror(errno));
    }
    return 0;
}
