/* radar_log.c - see radar_log.h. */
#include "radar_log.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

static void msg(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msg(char *err, size_t cap, const char *fmt, ...) {
    if (!err || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------ little endian */
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t) (v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t) (v >> (8 * i));
}
static void put_f32(uint8_t *p, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(p, v);
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t) get_u32(p) | (uint64_t) get_u32(p + 4) << 32; }
static float get_f32(const uint8_t *p) {
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* ------------------------------------------------------------------------------ writer */
static int wr(rl_writer_t *w, const void *p, size_t n) {
    if (w->failed) return -1;
    if (fwrite(p, 1, n, w->f) != n) {
        w->failed = 1;
        return -1;
    }
    w->hash = fnv(w->hash, p, n);
    return 0;
}

static int key_ok(const char *k) {
    if (!k || !*k) return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '.' || *k == '-')) return 0;
    return 1;
}
static int value_ok(const char *v) {
    if (!v) return 0;
    for (; *v; v++)
        if ((unsigned char) *v < 0x20 || *v == 0x7f) return 0;
    return 1;
}

int rl_writer_open(rl_writer_t *w, const char *path, const rl_kv_t *kv, uint32_t n_kv, char *err, size_t cap) {
    memset(w, 0, sizeof *w);
    size_t h = 0;
    for (uint32_t i = 0; i < n_kv; i++) {
        if (!key_ok(kv[i].key) || !value_ok(kv[i].value)) {
            msg(err, cap, "log header entry %u ('%s') has a bad key or value", i, kv[i].key ? kv[i].key : "(null)");
            return -1;
        }
        h += strlen(kv[i].key) + strlen(kv[i].value) + 2;
    }
    if (h > RL_MAX_HEADER) {
        msg(err, cap, "log header too large (%zu bytes)", h);
        return -1;
    }
    snprintf(w->path, sizeof w->path, "%s", path);
    if (!(w->f = fopen(path, "wb"))) {
        msg(err, cap, "cannot create %s", path);
        return -1;
    }
    w->hash = FNV_BASIS;
    uint8_t b[8];
    wr(w, RL_MAGIC, 8);
    put_u32(b, RL_VERSION);
    put_u32(b + 4, (uint32_t) h);
    wr(w, b, 8);
    for (uint32_t i = 0; i < n_kv; i++) {
        wr(w, kv[i].key, strlen(kv[i].key));
        wr(w, "=", 1);
        wr(w, kv[i].value, strlen(kv[i].value));
        wr(w, "\n", 1);
    }
    if (w->failed) {
        msg(err, cap, "write error on %s", path);
        rl_writer_abort(w);
        return -1;
    }
    return 0;
}

static int record(rl_writer_t *w, uint32_t tag, const uint8_t *payload, uint32_t n) {
    uint8_t b[8];
    put_u32(b, tag);
    put_u32(b + 4, n);
    wr(w, b, 8);
    return wr(w, payload, n);
}

int rl_write_cycle(rl_writer_t *w, const rl_cycle_t *c) {
    if (!w->f || c->n_levels < 1 || c->n_levels > RL_MAX_LEVELS || c->top_k < 1 || c->top_k > RL_MAX_K) return -1;
    uint8_t buf[24 + RL_MAX_LEVELS * (16 + 4 * RL_MAX_K)];
    put_u32(buf, c->n_levels);
    put_u32(buf + 4, c->top_k);
    put_u32(buf + 8, c->n_union);
    put_u32(buf + 12, c->n_context);
    put_u64(buf + 16, c->t_verify_union_ns);
    uint8_t *p = buf + 24;
    for (uint32_t l = 0; l < c->n_levels; l++) {
        put_u32(p, c->acc[l]);
        put_u32(p + 4, c->n_nodes[l]);
        put_u64(p + 8, c->t_level_ns[l]);
        p += 16;
        for (uint32_t k = 0; k < c->top_k; k++, p += 4) put_f32(p, c->state[l][k]);
    }
    if (record(w, RL_TAG_CYCLE, buf, (uint32_t) (p - buf)) != 0) return -1;
    w->n_cycles++;
    return 0;
}

int rl_write_timing(rl_writer_t *w, const rl_timing_t *t) {
    if (!w->f) return -1;
    uint8_t buf[16];
    put_u32(buf, t->n_tokens);
    put_u32(buf + 4, t->n_context);
    put_u64(buf + 8, t->t_ns);
    if (record(w, RL_TAG_TIMING, buf, sizeof buf) != 0) return -1;
    w->n_timings++;
    return 0;
}

int rl_writer_close(rl_writer_t *w, char *err, size_t cap) {
    if (!w->f) {
        msg(err, cap, "log writer is not open");
        return -1;
    }
    uint8_t buf[16];
    put_u64(buf, w->n_cycles);
    put_u64(buf + 8, w->n_timings);
    record(w, RL_TAG_END, buf, sizeof buf);
    uint8_t sum[8];
    put_u64(sum, w->hash);
    if (!w->failed && fwrite(sum, 1, 8, w->f) != 8) w->failed = 1;
    const int bad = fclose(w->f) != 0 || w->failed;
    w->f = NULL;
    if (bad) {
        msg(err, cap, "write error on %s", w->path);
        return -1;
    }
    return 0;
}

void rl_writer_abort(rl_writer_t *w) {
    if (w->f) fclose(w->f);
    w->f = NULL;
}

/* ------------------------------------------------------------------------------ reader */
void rl_log_free(rl_log_t *l) {
    if (!l) return;
    free(l->header);
    free(l->kv);
    free(l->cycles);
    free(l->timings);
    memset(l, 0, sizeof *l);
}

const char *rl_get(const rl_log_t *l, const char *key) {
    for (uint32_t i = 0; i < l->n_kv; i++)
        if (!strcmp(l->kv[i].key, key)) return l->kv[i].value;
    return NULL;
}

static int parse_header(rl_log_t *l, const uint8_t *p, uint32_t h, char *err, size_t cap) {
    if (!(l->header = malloc((size_t) h + 1))) {
        msg(err, cap, "%s: out of memory", l->path);
        return -1;
    }
    memcpy(l->header, p, h);
    l->header[h] = '\0';
    uint32_t lines = 0;
    for (uint32_t i = 0; i < h; i++) lines += l->header[i] == '\n';
    if (h && l->header[h - 1] != '\n') {
        msg(err, cap, "%s: header does not end with a newline (byte %u)", l->path, 16 + h - 1);
        return -1;
    }
    if (!(l->kv = calloc(lines + 1, sizeof *l->kv))) {
        msg(err, cap, "%s: out of memory", l->path);
        return -1;
    }
    char *s = l->header;
    for (uint32_t i = 0; i < lines; i++) {
        char *nl = strchr(s, '\n'), *eq = strchr(s, '=');
        if (!eq || eq > nl) {
            msg(err, cap, "%s: header line %u has no '='", l->path, i + 1);
            return -1;
        }
        *eq = *nl = '\0';
        if (!key_ok(s) || !value_ok(eq + 1)) {
            msg(err, cap, "%s: header line %u has a bad key or value", l->path, i + 1);
            return -1;
        }
        l->kv[l->n_kv++] = (rl_kv_t) {s, eq + 1};
        s = nl + 1;
    }
    return 0;
}

static int parse_cycle(const rl_log_t *l, const uint8_t *p, uint32_t n, size_t off, rl_cycle_t *c, char *err,
                       size_t cap) {
    memset(c, 0, sizeof *c);
    if (n < 24) goto bad;
    c->n_levels = get_u32(p);
    c->top_k = get_u32(p + 4);
    c->n_union = get_u32(p + 8);
    c->n_context = get_u32(p + 12);
    c->t_verify_union_ns = get_u64(p + 16);
    if (c->n_levels < 1 || c->n_levels > RL_MAX_LEVELS || c->top_k < 1 || c->top_k > RL_MAX_K) {
        msg(err, cap, "%s: cycle record at byte %zu: %u levels x %u features is out of range (1..%d x 1..%d)", l->path,
            off, c->n_levels, c->top_k, RL_MAX_LEVELS, RL_MAX_K);
        return -1;
    }
    if (n != 24 + c->n_levels * (16 + 4 * c->top_k)) goto bad;
    p += 24;
    for (uint32_t lv = 0; lv < c->n_levels; lv++) {
        c->acc[lv] = get_u32(p);
        c->n_nodes[lv] = get_u32(p + 4);
        c->t_level_ns[lv] = get_u64(p + 8);
        p += 16;
        if (c->acc[lv] > lv + 1 || c->acc[lv] > c->n_nodes[lv]) {
            msg(err, cap, "%s: cycle record at byte %zu: level %u accepts %u tokens of a %u-node tree", l->path, off,
                lv + 1, c->acc[lv], c->n_nodes[lv]);
            return -1;
        }
        for (uint32_t k = 0; k < c->top_k; k++, p += 4) {
            c->state[lv][k] = get_f32(p);
            if (!isfinite(c->state[lv][k])) {
                msg(err, cap, "%s: cycle record at byte %zu: non-finite state value", l->path, off);
                return -1;
            }
        }
    }
    return 0;
bad:
    msg(err, cap, "%s: cycle record at byte %zu has a payload of %u bytes, which does not match its sizes", l->path,
        off, n);
    return -1;
}

int rl_parse(const uint8_t *buf, size_t len, const char *name, rl_log_t *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", name);
    if (len < 16 || memcmp(buf, RL_MAGIC, 8) != 0) {
        if (len >= 8 && memcmp(buf, RL_MAGIC, 8) == 0)
            msg(err, cap, "%s: truncated log: %zu bytes, the fixed header needs 16", name, len);
        else
            msg(err, cap, "%s: not a radar log (magic %s expected at byte 0)", name, RL_MAGIC);
        return -1;
    }
    const uint32_t ver = get_u32(buf + 8), h = get_u32(buf + 12);
    if (ver != RL_VERSION) {
        msg(err, cap, "%s: log format version %u, this build reads %u", name, ver, RL_VERSION);
        return -1;
    }
    if (h > RL_MAX_HEADER) {
        msg(err, cap, "%s: header length %u at byte 12 exceeds %u", name, h, RL_MAX_HEADER);
        return -1;
    }
    if (len - 16 < h) {
        msg(err, cap, "%s: truncated log: the header needs %u bytes, the file ends at byte %zu", name, h, len);
        return -1;
    }
    if (parse_header(out, buf + 16, h, err, cap) != 0) goto fail;
    size_t off = 16 + (size_t) h, cap_c = 0, cap_t = 0;
    int ended = 0;
    while (!ended) {
        if (len - off < 8) {
            msg(err, cap,
                "%s: truncated log: ends at byte %zu after %zu cycle records without the end record "
                "(was collect interrupted?)",
                name, len, out->n_cycles);
            goto fail;
        }
        const uint32_t tag = get_u32(buf + off), n = get_u32(buf + off + 4);
        if (n > len - off - 8) {
            msg(err, cap, "%s: truncated log: record %zu (tag %u) at byte %zu needs %u payload bytes, the file ends at %zu",
                name, out->n_cycles + out->n_timings, tag, off, n, len);
            goto fail;
        }
        const uint8_t *p = buf + off + 8;
        if (tag == RL_TAG_CYCLE) {
            if (out->n_cycles == cap_c) {
                cap_c = cap_c ? cap_c * 2 : 1024;
                rl_cycle_t *c = realloc(out->cycles, cap_c * sizeof *c);
                if (!c) goto nomem;
                out->cycles = c;
            }
            if (parse_cycle(out, p, n, off, &out->cycles[out->n_cycles], err, cap) != 0) goto fail;
            out->n_cycles++;
        } else if (tag == RL_TAG_TIMING) {
            if (n != 16) {
                msg(err, cap, "%s: timing record at byte %zu has %u payload bytes, expected 16", name, off, n);
                goto fail;
            }
            if (out->n_timings == cap_t) {
                cap_t = cap_t ? cap_t * 2 : 256;
                rl_timing_t *t = realloc(out->timings, cap_t * sizeof *t);
                if (!t) goto nomem;
                out->timings = t;
            }
            out->timings[out->n_timings++] = (rl_timing_t) {get_u32(p), get_u32(p + 4), get_u64(p + 8)};
        } else if (tag == RL_TAG_END) {
            if (n != 16 || get_u64(p) != out->n_cycles || get_u64(p + 8) != out->n_timings) {
                msg(err, cap, "%s: end record at byte %zu does not match the %zu cycle and %zu timing records read", name,
                    off, out->n_cycles, out->n_timings);
                goto fail;
            }
            ended = 1;
        } else {
            msg(err, cap, "%s: unknown record tag %u at byte %zu", name, tag, off);
            goto fail;
        }
        off += 8 + (size_t) n;
    }
    if (len - off < 8) {
        msg(err, cap, "%s: truncated log: the checksum after the end record (byte %zu) is missing", name, off);
        goto fail;
    }
    if (len - off > 8) {
        msg(err, cap, "%s: %zu trailing bytes after the checksum at byte %zu", name, len - off - 8, off);
        goto fail;
    }
    if (get_u64(buf + off) != fnv(FNV_BASIS, buf, off)) {
        msg(err, cap, "%s: checksum mismatch (byte %zu): the log is corrupt", name, off);
        goto fail;
    }
    return 0;
nomem:
    msg(err, cap, "%s: out of memory", name);
fail:
    rl_log_free(out);
    return -1;
}

int rl_read(const char *path, rl_log_t *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        msg(err, cap, "cannot open %s", path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, c = 0;
    for (;;) {
        if (n == c) {
            c = c ? c * 2 : 1 << 16;
            uint8_t *b = realloc(buf, c);
            if (!b) {
                free(buf);
                fclose(f);
                msg(err, cap, "%s: out of memory", path);
                return -1;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, c - n, f);
        n += r;
        if (r == 0) break;
    }
    const int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        msg(err, cap, "read error on %s", path);
        return -1;
    }
    int rc = rl_parse(buf, n, path, out, err, cap);
    free(buf);
    return rc;
}
