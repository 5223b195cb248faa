/* feature_head_load.c - the head's weights file: hashing, fingerprint, load and verification
 * (see feature_head.h and policies/draft_head/README.md). */
#include "feature_head_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* ------------------------------------------------------------------------------ hashing */
#define FH_GOLDEN 0x9E3779B97F4A7C15ull
#define FH_FINAL_K 0xD6E8FEB86659FD93ull

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fh_hash_init(fh_hash_t *s) { s->h = s->n_words = 0; }

void fh_hash_update(fh_hash_t *s, const void *data, uint64_t nbytes) {
    const uint8_t *p = (const uint8_t *) data;
    uint64_t full = nbytes / 8, h = s->h, i = s->n_words;
    for (uint64_t k = 0; k < full; k++) {
        uint64_t w;
        memcpy(&w, p + 8 * k, 8); /* little-endian hosts only (x86-64, aarch64) */
        i++;
        h += mix64(w + i * FH_GOLDEN);
    }
    if (nbytes % 8) {
        uint64_t w = 0;
        memcpy(&w, p + 8 * full, nbytes % 8);
        i++;
        h += mix64(w + i * FH_GOLDEN);
    }
    s->h = h;
    s->n_words = i;
}

uint64_t fh_hash_final(const fh_hash_t *s) { return mix64(s->h ^ (s->n_words * FH_FINAL_K)); }

int fh_target_fingerprint(const gguf_file_t *target, const llm_hparams_t *hp, uint64_t *out, char *err,
                          size_t err_cap) {
    const gguf_tensor_t *t = gguf_find_tensor(target, "token_embd.weight");
    if (!t) {
        snprintf(err, err_cap, "target has no token_embd.weight tensor to fingerprint");
        return -1;
    }
    fh_hash_t s;
    fh_hash_init(&s);
    fh_hash_update(&s, t->data, t->nbytes);
    uint32_t hv[7] = {hp->n_vocab, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff, t->type};
    fh_hash_update(&s, hv, sizeof hv);
    *out = fh_hash_final(&s);
    return 0;
}

uint64_t fh_tensor_checksum(const gguf_file_t *head) {
    fh_hash_t s;
    fh_hash_init(&s);
    for (int64_t i = 0; i < gguf_n_tensors(head); i++) {
        const gguf_tensor_t *t = gguf_tensor_at(head, i);
        fh_hash_update(&s, t->data, t->nbytes);
    }
    return fh_hash_final(&s);
}

/* ------------------------------------------------------------------------------ loading */
static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int get_u32(const gguf_file_t *g, const char *key, uint32_t *out, char *err, size_t cap) {
    int rc = gguf_get_u32(g, key, out);
    if (rc == -1) return fail(err, cap, "draft head: metadata key %s is missing", key);
    if (rc != 0) return fail(err, cap, "draft head: metadata key %s is not an unsigned 32-bit integer", key);
    return 0;
}

static int get_f32(const gguf_file_t *g, const char *key, float *out, char *err, size_t cap) {
    if (gguf_get_f32(g, key, out) != 0) return fail(err, cap, "draft head: metadata key %s is missing or not a float", key);
    return 0;
}

/* "0123456789abcdef" -> value; -1 if the key is absent or not 16 hex digits */
static int get_hex64(const gguf_file_t *g, const char *key, uint64_t *out, char *err, size_t cap) {
    gguf_str_t s;
    if (gguf_get_str(g, key, &s) != 0 || s.len != 16)
        return fail(err, cap, "draft head: metadata key %s is missing or not 16 hex digits", key);
    uint64_t v = 0;
    for (uint64_t i = 0; i < 16; i++) {
        char c = s.ptr[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return fail(err, cap, "draft head: metadata key %s is not lower-case hex", key);
        v = v << 4 | (uint64_t) d;
    }
    *out = v;
    return 0;
}

/* A 2-D matrix tensor with ne = {cols, rows}, in a type kn_matmul supports. */
static int get_matrix(const gguf_file_t *g, const char *name, int64_t cols, int64_t rows, kn_matrix_t *m, char *err,
                      size_t cap) {
    const gguf_tensor_t *t = gguf_find_tensor(g, name);
    if (!t) return fail(err, cap, "draft head: tensor %s is missing", name);
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        return fail(err, cap, "draft head: tensor %s has shape [%" PRId64 ", %" PRId64 "], expected [%" PRId64 ", %" PRId64 "]",
                    name, t->ne[0], t->ne[1], cols, rows);
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_Q8_0)
        return fail(err, cap, "draft head: tensor %s has type %s (F32, F16 or Q8_0 expected)", name,
                    gguf_type_name(t->type));
    if (t->nbytes != (uint64_t) rows * kn_row_bytes(t->type, cols))
        return fail(err, cap, "draft head: tensor %s has %" PRIu64 " bytes, not a %" PRId64 "x%" PRId64 " %s matrix", name,
                    t->nbytes, rows, cols, gguf_type_name(t->type));
    *m = (kn_matrix_t) {t->type, rows, cols, t->data};
    return 0;
}

/* A 1-D norm weight of n floats (F32 or F16), copied out as F32. */
static float *get_vector(const gguf_file_t *g, const char *name, int64_t n, char *err, size_t cap) {
    const gguf_tensor_t *t = gguf_find_tensor(g, name);
    if (!t) {
        fail(err, cap, "draft head: tensor %s is missing", name);
        return NULL;
    }
    if (t->n_dims != 1 || t->ne[0] != n || (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16)) {
        fail(err, cap, "draft head: tensor %s must be a 1-D F32/F16 vector of %" PRId64 " elements", name, n);
        return NULL;
    }
    float *v = malloc((size_t) n * sizeof *v);
    if (!v) {
        fail(err, cap, "draft head: out of memory");
        return NULL;
    }
    kn_dequant_row(t->type, t->data, v, n);
    return v;
}

static int check_hparams(const fh_hparams_t *p, const llm_hparams_t *thp, char *err, size_t cap) {
    if (p->n_embd != thp->n_embd)
        return fail(err, cap, "draft head: n_embd %u does not match the target's %u (a head for another target)",
                    p->n_embd, thp->n_embd);
    if (p->n_target_vocab != thp->n_vocab)
        return fail(err, cap, "draft head: target_vocab_size %u does not match the target's %u", p->n_target_vocab,
                    thp->n_vocab);
    if (!p->n_head || !p->n_head_kv || p->n_head % p->n_head_kv || !p->head_dim || p->head_dim % 2 ||
        p->head_dim > 256 || !p->n_ff || p->n_embd % 32 || p->n_ff % 32)
        return fail(err, cap, "draft head: inconsistent attention/MLP hyperparameters (heads %u/%u, head_dim %u, ff %u)",
                    p->n_head, p->n_head_kv, p->head_dim, p->n_ff);
    if (!p->n_draft_vocab || p->n_draft_vocab > p->n_target_vocab)
        return fail(err, cap, "draft head: draft_vocab_size %u outside 1..%u", p->n_draft_vocab, p->n_target_vocab);
    for (uint32_t i = 0; i < FH_N_FUSE; i++)
        if (p->fuse_layers[i] >= thp->n_layer)
            return fail(err, cap, "draft head: fuse layer %u is beyond the target's %u layers", p->fuse_layers[i],
                        thp->n_layer);
    return 0;
}

static void unprepare(fh_head_t *h) {
    kn_packed_t **pks[] = {&h->pk_fc, &h->pk_qkv, &h->pk_q, &h->pk_k, &h->pk_v, &h->pk_wo,
                           &h->pk_gate_up, &h->pk_gate, &h->pk_up, &h->pk_down, &h->pk_out};
    for (size_t i = 0; i < sizeof pks / sizeof pks[0]; i++) {
        kn_packed_free(*pks[i]);
        *pks[i] = NULL;
    }
    free(h->qkv_data);
    free(h->gate_up_data);
    h->qkv_data = h->gate_up_data = NULL;
    memset(&h->qkv, 0, sizeof h->qkv);
    memset(&h->gate_up, 0, sizeof h->gate_up);
}

/* rows of ms[0..n) (same type and width) stacked into one matrix; *owned takes the copy */
static int stack_rows(const kn_matrix_t *const *ms, uint32_t n, kn_matrix_t *out, void **owned) {
    int64_t rows = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (ms[i]->type != ms[0]->type || ms[i]->cols != ms[0]->cols) return 0; /* not stackable: keep separate */
        rows += ms[i]->rows;
    }
    const size_t rb = kn_row_bytes(ms[0]->type, ms[0]->cols);
    uint8_t *buf = malloc((size_t) rows * rb);
    if (!buf) return -1;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(buf + off, ms[i]->data, (size_t) ms[i]->rows * rb);
        off += (size_t) ms[i]->rows * rb;
    }
    *out = (kn_matrix_t) {ms[0]->type, rows, ms[0]->cols, buf};
    *owned = buf;
    return 0;
}

int fh_head_prepare(fh_head_t *h) {
    unprepare(h);
    const kn_matrix_t *qkv[] = {&h->wq, &h->wk, &h->wv}, *gu[] = {&h->w_gate, &h->w_up};
    if (stack_rows(qkv, 3, &h->qkv, &h->qkv_data) != 0 || stack_rows(gu, 2, &h->gate_up, &h->gate_up_data) != 0)
        goto fail;
    if (!(h->pk_fc = kn_matrix_pack(&h->fc)) || !(h->pk_wo = kn_matrix_pack(&h->wo)) ||
        !(h->pk_down = kn_matrix_pack(&h->w_down)) || !(h->pk_out = kn_matrix_pack(&h->w_out)))
        goto fail;
    if (h->qkv_data ? !(h->pk_qkv = kn_matrix_pack(&h->qkv))
                    : (!(h->pk_q = kn_matrix_pack(&h->wq)) || !(h->pk_k = kn_matrix_pack(&h->wk)) ||
                       !(h->pk_v = kn_matrix_pack(&h->wv))))
        goto fail;
    if (h->gate_up_data ? !(h->pk_gate_up = kn_matrix_pack(&h->gate_up))
                        : (!(h->pk_gate = kn_matrix_pack(&h->w_gate)) || !(h->pk_up = kn_matrix_pack(&h->w_up))))
        goto fail;
    return 0;
fail:
    unprepare(h);
    return -1;
}

void fh_head_free(fh_head_t *h) {
    if (!h) return;
    unprepare(h);
    free(h->norm_emb);
    free(h->norm_feat);
    free(h->norm_ffn);
    free(h->norm_out);
    free(h->d2t);
    for (uint32_t i = 0; i < h->n_owned; i++) free(h->owned[i]);
    free(h);
}

int fh_head_requantize(fh_head_t *h, uint32_t type) { return fh_head_requantize_as(h, type, type); }

int fh_head_requantize_as(fh_head_t *h, uint32_t type, uint32_t lm_head_type) {
    kn_matrix_t *ms[] = {&h->fc, &h->wq, &h->wk, &h->wv, &h->wo, &h->w_gate, &h->w_up, &h->w_down, &h->w_out};
    const uint32_t n = sizeof ms / sizeof ms[0];
    uint32_t types[sizeof ms / sizeof ms[0]];
    for (uint32_t i = 0; i < n; i++) types[i] = ms[i] == &h->w_out ? lm_head_type : type;
    void *bufs[sizeof ms / sizeof ms[0]] = {0};
    if (h->n_owned + n > sizeof h->owned / sizeof h->owned[0]) return -1;
    float *row = malloc((size_t) h->hp.n_ff * 4 * sizeof *row);
    int rc = row ? 0 : -1;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const kn_matrix_t *m = ms[i];
        const size_t in_rb = kn_row_bytes(m->type, m->cols), out_rb = kn_row_bytes(types[i], m->cols);
        if (!out_rb || !(bufs[i] = malloc((size_t) m->rows * out_rb))) {
            rc = -1;
            break;
        }
        for (int64_t r = 0; r < m->rows && rc == 0; r++) {
            kn_dequant_row(m->type, (const uint8_t *) m->data + (size_t) r * in_rb, row, m->cols);
            if (kn_quant_row(types[i], row, (uint8_t *) bufs[i] + (size_t) r * out_rb, m->cols) != 0) rc = -1;
        }
    }
    free(row);
    if (rc != 0) {
        for (uint32_t i = 0; i < n; i++) free(bufs[i]);
        return -1;
    }
    /* keep the old encoding until the new compute form is built, so a failure changes nothing */
    kn_matrix_t old[sizeof ms / sizeof ms[0]];
    for (uint32_t i = 0; i < n; i++) {
        old[i] = *ms[i];
        ms[i]->type = types[i];
        ms[i]->data = bufs[i];
    }
    if (fh_head_prepare(h) != 0) {
        for (uint32_t i = 0; i < n; i++) {
            *ms[i] = old[i];
            free(bufs[i]);
        }
        (void) fh_head_prepare(h); /* the old form again; if even that fails, fh_draft_new refuses the head */
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) h->owned[h->n_owned++] = bufs[i];
    return 0;
}

int fh_head_truncate_vocab(fh_head_t *h, uint32_t n, char *err, size_t cap) {
    if (n == 0 || n == h->hp.n_draft_vocab) return 0;
    if (n > h->hp.n_draft_vocab) {
        fail(err, cap, "draft head: vocab %u is more than the head's draft vocabulary (%u)", n, h->hp.n_draft_vocab);
        return -1;
    }
    if (!h->d2t_by_frequency) {
        fail(err, cap, "draft head: its draft vocabulary is not stored most frequent first (" FH_KEY
                       "d2t_order), so it cannot be cut to %u tokens; retrain it with scripts/draft_head_train.sh", n);
        return -1;
    }
    const kn_matrix_t old = h->w_out;
    const uint32_t old_vd = h->hp.n_draft_vocab;
    h->w_out.rows = n; /* row-major: the first n rows are the n most frequent tokens */
    h->hp.n_draft_vocab = n;
    if (fh_head_prepare(h) != 0) {
        h->w_out = old;
        h->hp.n_draft_vocab = old_vd;
        (void) fh_head_prepare(h);
        fail(err, cap, "draft head: out of memory for the packed weights");
        return -1;
    }
    return 0;
}

const fh_hparams_t *fh_head_hparams(const fh_head_t *h) { return &h->hp; }
const int32_t *fh_head_d2t(const fh_head_t *h) { return h->d2t; }

fh_head_t *fh_head_load(const gguf_file_t *g, const gguf_file_t *target_g, const llm_hparams_t *thp, char *err,
                        size_t cap) {
    gguf_str_t arch;
    if (gguf_get_str(g, "general.architecture", &arch) != 0 || !gguf_str_eq(arch, FH_ARCH)) {
        fail(err, cap, "draft head: general.architecture is '%.*s', expected '" FH_ARCH "'",
             gguf_get_str(g, "general.architecture", &arch) == 0 ? (int) arch.len : 9,
             gguf_get_str(g, "general.architecture", &arch) == 0 ? arch.ptr : "(missing)");
        return NULL;
    }
    uint32_t version;
    if (get_u32(g, FH_KEY "format_version", &version, err, cap)) return NULL;
    if (version != FH_FORMAT_VERSION) {
        fail(err, cap, "draft head: format version %u, this host reads version %u", version, FH_FORMAT_VERSION);
        return NULL;
    }
    /* integrity first: a damaged file should say so, not fail on some derived check */
    uint64_t want_sum, want_fp, fp;
    if (get_hex64(g, FH_KEY "tensor_checksum", &want_sum, err, cap)) return NULL;
    uint64_t sum = fh_tensor_checksum(g);
    if (sum != want_sum) {
        fail(err, cap, "draft head: tensor data checksum %016" PRIx64 " does not match the stored %016" PRIx64
             " (the file is damaged)", sum, want_sum);
        return NULL;
    }
    if (get_hex64(g, FH_KEY "target_fingerprint", &want_fp, err, cap)) return NULL;
    if (fh_target_fingerprint(target_g, thp, &fp, err, cap)) return NULL;
    if (fp != want_fp) {
        fail(err, cap, "draft head: trained for another target (fingerprint %016" PRIx64 ", this target is %016" PRIx64
             "); retrain it with scripts/draft_head_train.sh", want_fp, fp);
        return NULL;
    }

    fh_head_t *h = calloc(1, sizeof *h);
    if (!h) {
        fail(err, cap, "draft head: out of memory");
        return NULL;
    }
    fh_hparams_t *p = &h->hp;
    if (get_u32(g, FH_KEY "n_embd", &p->n_embd, err, cap) || get_u32(g, FH_KEY "n_head", &p->n_head, err, cap) ||
        get_u32(g, FH_KEY "n_head_kv", &p->n_head_kv, err, cap) ||
        get_u32(g, FH_KEY "head_dim", &p->head_dim, err, cap) || get_u32(g, FH_KEY "n_ff", &p->n_ff, err, cap) ||
        get_u32(g, FH_KEY "draft_vocab_size", &p->n_draft_vocab, err, cap) ||
        get_u32(g, FH_KEY "target_vocab_size", &p->n_target_vocab, err, cap) ||
        get_f32(g, FH_KEY "rms_eps", &p->rms_eps, err, cap) ||
        get_f32(g, FH_KEY "rope_freq_base", &p->rope_freq_base, err, cap))
        goto fail;
    uint32_t et;
    uint64_t n;
    const void *data;
    if (gguf_get_arr_info(g, FH_KEY "fuse_layers", &et, &n) != 0 || et != GGUF_TYPE_UINT32 || n != FH_N_FUSE ||
        gguf_get_arr_data(g, FH_KEY "fuse_layers", &data) != 0) {
        fail(err, cap, "draft head: " FH_KEY "fuse_layers must be an array of %u uint32", FH_N_FUSE);
        goto fail;
    }
    memcpy(p->fuse_layers, data, sizeof p->fuse_layers);
    if (check_hparams(p, thp, err, cap)) goto fail;
    if (gguf_get_arr_info(g, FH_KEY "d2t", &et, &n) != 0 || et != GGUF_TYPE_INT32 || n != p->n_draft_vocab ||
        gguf_get_arr_data(g, FH_KEY "d2t", &data) != 0) {
        fail(err, cap, "draft head: " FH_KEY "d2t must be an int32 array of draft_vocab_size (%u) target ids",
             p->n_draft_vocab);
        goto fail;
    }
    h->d2t = malloc(n * sizeof *h->d2t);
    if (!h->d2t) {
        fail(err, cap, "draft head: out of memory");
        goto fail;
    }
    memcpy(h->d2t, data, n * sizeof *h->d2t);
    gguf_str_t order;
    h->d2t_by_frequency = gguf_get_str(g, FH_KEY "d2t_order", &order) == 0 && order.len == 9 &&
                          !memcmp(order.ptr, "frequency", 9);
    for (uint64_t i = 0; i < n; i++)
        if (h->d2t[i] < 0 || (uint32_t) h->d2t[i] >= p->n_target_vocab) {
            fail(err, cap, "draft head: d2t[%" PRIu64 "] = %d is not a target token id", i, h->d2t[i]);
            goto fail;
        }

    const int64_t e = p->n_embd, qd = (int64_t) p->n_head * p->head_dim, kvd = (int64_t) p->n_head_kv * p->head_dim;
    if (get_matrix(g, "fc.weight", FH_N_FUSE * e, e, &h->fc, err, cap) ||
        get_matrix(g, "attn_q.weight", 2 * e, qd, &h->wq, err, cap) ||
        get_matrix(g, "attn_k.weight", 2 * e, kvd, &h->wk, err, cap) ||
        get_matrix(g, "attn_v.weight", 2 * e, kvd, &h->wv, err, cap) ||
        get_matrix(g, "attn_output.weight", qd, e, &h->wo, err, cap) ||
        get_matrix(g, "ffn_gate.weight", e, p->n_ff, &h->w_gate, err, cap) ||
        get_matrix(g, "ffn_up.weight", e, p->n_ff, &h->w_up, err, cap) ||
        get_matrix(g, "ffn_down.weight", p->n_ff, e, &h->w_down, err, cap) ||
        get_matrix(g, "output.weight", e, p->n_draft_vocab, &h->w_out, err, cap))
        goto fail;
    if (!(h->norm_emb = get_vector(g, "emb_norm.weight", e, err, cap)) ||
        !(h->norm_feat = get_vector(g, "feat_norm.weight", e, err, cap)) ||
        !(h->norm_ffn = get_vector(g, "ffn_norm.weight", e, err, cap)) ||
        !(h->norm_out = get_vector(g, "output_norm.weight", e, err, cap)))
        goto fail;

    const gguf_tensor_t *te = gguf_find_tensor(target_g, "token_embd.weight");
    if (!te || te->n_dims != 2 || te->ne[0] != e || te->ne[1] != p->n_target_vocab || !kn_type_supported(te->type)) {
        fail(err, cap, "draft head: the target's token_embd.weight is missing or not [%" PRId64 ", %u]", e,
             p->n_target_vocab);
        goto fail;
    }
    h->embd = (kn_matrix_t) {te->type, te->ne[1], te->ne[0], te->data};
    if (fh_head_prepare(h) != 0) {
        fail(err, cap, "draft head: out of memory for the packed weights");
        goto fail;
    }
    return h;
fail:
    fh_head_free(h);
    return NULL;
}
