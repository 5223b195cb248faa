/* ngram_table.c - see ngram_table.h */
#include "ngram_table.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feature_head.h" /* fh_hash */

#define NGT_HEADER 48u

struct ngram_table {
    uint32_t n_vocab, max_order, n_follow, stride; /* stride in u32 */
    uint64_t n_entries;
    uint32_t *e;                                   /* n_entries * stride */
};

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t) rd32(p) | (uint64_t) rd32(p + 4) << 32; }
static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char) (v >> (8 * i));
}
static void wr64(unsigned char *p, uint64_t v) {
    wr32(p, (uint32_t) v);
    wr32(p + 4, (uint32_t) (v >> 32));
}

static uint32_t stride_of(uint32_t max_order, uint32_t n_follow) { return 2 + max_order + 2 * n_follow; }

/* key order: (order, ctx[0..max_order)) */
static int key_cmp(const uint32_t *a, const uint32_t *b, uint32_t max_order) {
    for (uint32_t i = 0; i <= max_order; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

static uint64_t entries_hash(const unsigned char *data, uint64_t nbytes) {
    fh_hash_t h;
    fh_hash_init(&h);
    fh_hash_update(&h, data, nbytes);
    return fh_hash_final(&h);
}

ngram_table_t *ngram_table_load(const char *path, uint32_t n_vocab, uint64_t target_fingerprint, char *err,
                                size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "%s: cannot open the n-gram table", path);
        return NULL;
    }
    unsigned char h[NGT_HEADER];
    ngram_table_t *t = NULL;
    unsigned char *raw = NULL;
    if (fread(h, 1, NGT_HEADER, f) != NGT_HEADER || memcmp(h, NGT_MAGIC, 8) != 0) {
        snprintf(err, cap, "%s: not an n-gram table (bad magic or shorter than its header)", path);
        goto fail;
    }
    const uint32_t ver = rd32(h + 8), nv = rd32(h + 12), mo = rd32(h + 16), nf = rd32(h + 20);
    const uint64_t ne = rd64(h + 24), fp = rd64(h + 32), sum = rd64(h + 40);
    if (ver != NGT_VERSION) {
        snprintf(err, cap, "%s: n-gram table version %u, this host reads %u", path, ver, NGT_VERSION);
        goto fail;
    }
    if (mo < 1 || mo > NGT_MAX_ORDER || nf < 1 || nf > NGT_MAX_FOLLOW) {
        snprintf(err, cap, "%s: bad n-gram table shape (max_order %u, followers %u)", path, mo, nf);
        goto fail;
    }
    if (nv != n_vocab) {
        snprintf(err, cap, "%s: n-gram table for a vocabulary of %u tokens, the target has %u", path, nv, n_vocab);
        goto fail;
    }
    if (target_fingerprint && fp != target_fingerprint) {
        snprintf(err, cap, "%s: n-gram table built for another target (fingerprint %016" PRIx64 ", this one %016" PRIx64
                           "); rebuild it with refhost ngram-table", path, fp, target_fingerprint);
        goto fail;
    }
    const uint32_t st = stride_of(mo, nf);
    if (ne > (uint64_t) SIZE_MAX / 4 / st) {
        snprintf(err, cap, "%s: n-gram table claims %" PRIu64 " entries", path, ne);
        goto fail;
    }
    const size_t nbytes = (size_t) ne * st * 4;
    /* the size the header claims must be the file's before anything that size is allocated */
    long end = -1;
    if (fseek(f, 0, SEEK_END) == 0) end = ftell(f);
    if (end < 0 || (uint64_t) end != NGT_HEADER + (uint64_t) nbytes || fseek(f, NGT_HEADER, SEEK_SET) != 0) {
        snprintf(err, cap, "%s: n-gram table is truncated or has trailing bytes (%" PRIu64 " entries claimed)", path, ne);
        goto fail;
    }
    raw = malloc(nbytes ? nbytes : 1);
    t = calloc(1, sizeof *t);
    if (!raw || !t) {
        snprintf(err, cap, "%s: out of memory for %" PRIu64 " entries", path, ne);
        goto fail;
    }
    if (fread(raw, 1, nbytes, f) != nbytes || fgetc(f) != EOF) {
        snprintf(err, cap, "%s: n-gram table is truncated or has trailing bytes (%" PRIu64 " entries expected)", path, ne);
        goto fail;
    }
    if (entries_hash(raw, nbytes) != sum) {
        snprintf(err, cap, "%s: n-gram table checksum mismatch (the file is damaged)", path);
        goto fail;
    }
    *t = (ngram_table_t) {nv, mo, nf, st, ne, malloc(nbytes ? nbytes : 1)};
    if (!t->e) {
        snprintf(err, cap, "%s: out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < nbytes / 4; i++) t->e[i] = rd32(raw + 4 * i);
    for (uint64_t i = 0; i < ne; i++) { /* well-formed and sorted: lookups trust it after this */
        const uint32_t *e = t->e + i * st;
        int ok = e[0] >= 1 && e[0] <= mo && (i == 0 || key_cmp(e - st, e, mo) < 0);
        for (uint32_t j = 0; j < mo && ok; j++) ok = j < e[0] ? e[1 + j] < nv : e[1 + j] == 0;
        uint64_t s = 0;
        for (uint32_t j = 0; j < nf && ok; j++) {
            const uint32_t tok = e[2 + mo + j], cnt = e[2 + mo + nf + j];
            ok = tok < nv && (j == 0 || cnt <= e[2 + mo + nf + j - 1]);
            s += cnt;
        }
        if (!ok || s > e[1 + mo]) {
            snprintf(err, cap, "%s: n-gram table entry %" PRIu64 " is malformed or out of order", path, i);
            goto fail;
        }
    }
    free(raw);
    fclose(f);
    return t;
fail:
    free(raw);
    ngram_table_free(t);
    fclose(f);
    return NULL;
}

void ngram_table_free(ngram_table_t *t) {
    if (!t) return;
    free(t->e);
    free(t);
}

uint32_t ngram_table_max_order(const ngram_table_t *t) { return t->max_order; }
uint64_t ngram_table_entries(const ngram_table_t *t) { return t->n_entries; }

int ngram_table_lookup(const ngram_table_t *t, const int32_t *ctx, uint32_t n, uint32_t min_total, ngt_row_t *out) {
    const uint32_t mo = t->max_order, st = t->stride;
    for (uint32_t o = n < mo ? n : mo; o >= 1; o--) {
        uint32_t key[1 + NGT_MAX_ORDER] = {o};
        int bad = 0;
        for (uint32_t j = 0; j < o; j++) {
            bad |= ctx[n - o + j] < 0 || (uint32_t) ctx[n - o + j] >= t->n_vocab;
            key[1 + j] = (uint32_t) ctx[n - o + j];
        }
        if (bad) continue;
        uint64_t lo = 0, hi = t->n_entries;
        while (lo < hi) {
            const uint64_t mid = lo + (hi - lo) / 2;
            if (key_cmp(t->e + mid * st, key, mo) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo == t->n_entries) continue;
        const uint32_t *e = t->e + lo * st;
        if (key_cmp(e, key, mo) != 0 || e[1 + mo] < min_total) continue;
        out->order = o;
        out->total = e[1 + mo];
        out->tok = e + 2 + mo;
        out->cnt = e + 2 + mo + t->n_follow;
        out->n = 0;
        while (out->n < t->n_follow && out->cnt[out->n] > 0) out->n++;
        return 1;
    }
    return 0;
}

/* ---- building ---- */
typedef struct rec {
    uint32_t k[1 + NGT_MAX_ORDER]; /* order, ctx */
    uint32_t label;
} rec_t;

static uint32_t g_sort_order; /* max_order for qsort's comparator (building is single-threaded) */
static int rec_cmp(const void *pa, const void *pb) {
    const rec_t *a = pa, *b = pb;
    int c = key_cmp(a->k, b->k, g_sort_order);
    if (c) return c;
    return a->label < b->label ? -1 : a->label > b->label;
}

int ngram_table_build(const char *path, const int32_t *tokens, const int32_t *label, uint64_t n,
                      const uint64_t *seq_start, const uint64_t *seq_len, uint64_t n_seqs, uint32_t n_vocab,
                      uint32_t max_order, uint32_t n_follow, uint32_t min_count, uint64_t target_fingerprint,
                      uint64_t *n_entries_out, char *err, size_t cap) {
    if (max_order < 1 || max_order > NGT_MAX_ORDER || n_follow < 1 || n_follow > NGT_MAX_FOLLOW || min_count < 1) {
        snprintf(err, cap, "ngram-table: max_order 1..%u, followers 1..%u, min_count >= 1", NGT_MAX_ORDER,
                 NGT_MAX_FOLLOW);
        return -1;
    }
    uint64_t n_rec = 0;
    for (uint64_t s = 0; s < n_seqs; s++) {
        if (seq_start[s] > n || seq_len[s] > n - seq_start[s]) {
            snprintf(err, cap, "ngram-table: sequence %" PRIu64 " lies outside the %" PRIu64 " tokens", s, n);
            return -1;
        }
        n_rec += seq_len[s] * max_order;
    }
    rec_t *r = malloc((n_rec ? n_rec : 1) * sizeof *r);
    const uint32_t st = stride_of(max_order, n_follow);
    uint32_t *ent = malloc((n_rec ? n_rec : 1) * st * sizeof *ent);
    unsigned char *bytes = NULL;
    FILE *f = NULL;
    int rc = -1;
    if (!r || !ent) {
        snprintf(err, cap, "ngram-table: out of memory for %" PRIu64 " records", n_rec);
        goto done;
    }
    uint64_t m = 0;
    for (uint64_t s = 0; s < n_seqs; s++)
        for (uint64_t p = seq_start[s]; p < seq_start[s] + seq_len[s]; p++) {
            if (label[p] < 0 || (uint32_t) label[p] >= n_vocab) continue;
            for (uint32_t o = 1; o <= max_order && p + 1 >= seq_start[s] + o; o++) {
                rec_t *x = &r[m];
                memset(x, 0, sizeof *x);
                x->k[0] = o;
                int bad = 0;
                for (uint32_t j = 0; j < o; j++) {
                    const int32_t tk = tokens[p + 1 - o + j];
                    bad |= tk < 0 || (uint32_t) tk >= n_vocab;
                    x->k[1 + j] = (uint32_t) tk;
                }
                x->label = (uint32_t) label[p];
                if (!bad) m++;
            }
        }
    g_sort_order = max_order;
    qsort(r, m, sizeof *r, rec_cmp);
    uint64_t ne = 0;
    for (uint64_t i = 0; i < m;) {
        uint64_t j = i;
        while (j < m && key_cmp(r[j].k, r[i].k, max_order) == 0) j++;
        if (j - i >= min_count) {
            uint32_t *e = ent + ne * st;
            memset(e, 0, st * sizeof *e);
            memcpy(e, r[i].k, (1 + max_order) * sizeof *e);
            e[1 + max_order] = (uint32_t) (j - i);
            uint32_t *tok = e + 2 + max_order, *cnt = tok + n_follow;
            for (uint64_t a = i; a < j;) { /* runs of one label; keep the n_follow largest (ties: lower id) */
                uint64_t b = a;
                while (b < j && r[b].label == r[a].label) b++;
                const uint32_t c = (uint32_t) (b - a);
                uint32_t pos = n_follow;
                while (pos > 0 && cnt[pos - 1] < c) pos--;
                if (pos < n_follow) {
                    memmove(tok + pos + 1, tok + pos, (n_follow - pos - 1) * sizeof *tok);
                    memmove(cnt + pos + 1, cnt + pos, (n_follow - pos - 1) * sizeof *cnt);
                    tok[pos] = r[a].label;
                    cnt[pos] = c;
                }
                a = b;
            }
            ne++;
        }
        i = j;
    }
    const size_t nbytes = (size_t) ne * st * 4;
    bytes = malloc(NGT_HEADER + nbytes);
    if (!bytes) {
        snprintf(err, cap, "ngram-table: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nbytes / 4; i++) wr32(bytes + NGT_HEADER + 4 * i, ent[i]);
    memcpy(bytes, NGT_MAGIC, 8);
    wr32(bytes + 8, NGT_VERSION);
    wr32(bytes + 12, n_vocab);
    wr32(bytes + 16, max_order);
    wr32(bytes + 20, n_follow);
    wr64(bytes + 24, ne);
    wr64(bytes + 32, target_fingerprint);
    wr64(bytes + 40, entries_hash(bytes + NGT_HEADER, nbytes));
    if (!(f = fopen(path, "wb")) || fwrite(bytes, 1, NGT_HEADER + nbytes, f) != NGT_HEADER + nbytes) {
        snprintf(err, cap, "ngram-table: cannot write %s", path);
        goto done;
    }
    if (n_entries_out) *n_entries_out = ne;
    rc = 0;
done:
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, cap, "ngram-table: cannot write %s", path);
        rc = -1;
    }
    free(bytes);
    free(ent);
    free(r);
    return rc;
}
