/* mlp.c - see mlp.h. */
#include "mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dstrat.h"

static size_t layer_params(const uint32_t *size, uint32_t l) {
    return (size_t) size[l + 1] * size[l] + size[l + 1];
}

int dsmlp_init(dsmlp_t *m, uint32_t n_layers, const uint32_t *sizes) {
    memset(m, 0, sizeof *m);
    if (n_layers < 1 || n_layers > DSMLP_MAX_LAYERS || !sizes) return DSTRAT_E_INVALID_ARG;
    for (uint32_t l = 0; l <= n_layers; l++)
        if (sizes[l] < 1 || sizes[l] > DSMLP_MAX_WIDTH) return DSTRAT_E_INVALID_ARG;
    size_t n = 0;
    for (uint32_t l = 0; l < n_layers; l++) n += layer_params(sizes, l);
    m->params = calloc(n, sizeof *m->params);
    if (!m->params) return DSTRAT_E_NOMEM;
    m->n_layers = n_layers;
    memcpy(m->size, sizes, (n_layers + 1) * sizeof *sizes);
    m->n_params = n;
    float *p = m->params;
    for (uint32_t l = 0; l < n_layers; l++) {
        m->w[l] = p;
        m->b[l] = p + (size_t) sizes[l + 1] * sizes[l];
        p += layer_params(sizes, l);
    }
    return 0;
}

void dsmlp_free(dsmlp_t *m) {
    if (!m) return;
    free(m->params);
    memset(m, 0, sizeof *m);
}

void dsmlp_init_random(dsmlp_t *m, uint64_t seed, float out_gain) {
    uint64_t k = 0;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const double bound = 1.0 / sqrt((double) m->size[l]);
        const double gain = l + 1 == m->n_layers ? (double) out_gain : 1.0;
        const size_t nw = (size_t) m->size[l + 1] * m->size[l];
        for (size_t j = 0; j < nw; j++) m->w[l][j] = (float) ((2.0 * dstrat_keyed_u01(seed, k++) - 1.0) * bound * gain);
        /* biases: the same uniform for hidden layers; zero at the output so a small gain means
         * near-uniform logits */
        for (uint32_t j = 0; j < m->size[l + 1]; j++)
            m->b[l][j] = l + 1 == m->n_layers ? 0.0f : (float) ((2.0 * dstrat_keyed_u01(seed, k++) - 1.0) * bound);
    }
}

/* ------------------------------------------------------------------------------ inference */
size_t dsmlp_scratch_floats(const dsmlp_t *m) {
    uint32_t w = 0;
    for (uint32_t l = 1; l < m->n_layers; l++)
        if (m->size[l] > w) w = m->size[l];
    return 2 * (size_t) (w ? w : 1);
}

/* y[r] = b[r] + W[r, :] . x  (W row-major rows x cols), optionally ReLU'd */
static void dense(const float *restrict W, const float *restrict b, const float *restrict x, float *restrict y,
                  uint32_t rows, uint32_t cols, int relu) {
    for (uint32_t r = 0; r < rows; r++) {
        const float *w = W + (size_t) r * cols;
        float acc[8] = {0}; /* independent partial sums: vectorizable without -ffast-math */
        uint32_t j = 0;
        for (; j + 8 <= cols; j += 8)
            for (int q = 0; q < 8; q++) acc[q] += w[j + q] * x[j + q];
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; j < cols; j++) s += w[j] * x[j];
        s += b[r];
        y[r] = relu && s < 0.0f ? 0.0f : s;
    }
}

void dsmlp_forward(const dsmlp_t *m, const float *x, float *out, float *scratch) {
    const size_t half = dsmlp_scratch_floats(m) / 2;
    const float *in = x;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const int last = l + 1 == m->n_layers;
        float *y = last ? out : scratch + (l % 2) * half;
        dense(m->w[l], m->b[l], in, y, m->size[l + 1], m->size[l], !last);
        in = y;
    }
}

uint32_t dsmlp_argmax(const float *v, uint32_t n) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

void dsmlp_log_softmax(const float *v, uint32_t n, float *out) {
    if (n == 0) return;
    float mx = v[0];
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > mx) mx = v[i];
    double s = 0.0;
    for (uint32_t i = 0; i < n; i++) s += exp((double) v[i] - mx);
    const float lse = mx + (float) log(s);
    for (uint32_t i = 0; i < n; i++) out[i] = v[i] - lse;
}

/* ------------------------------------------------------------------------------ training */
int dsmlp_cache_init(dsmlp_cache_t *c, const dsmlp_t *m, uint32_t max_batch) {
    memset(c, 0, sizeof *c);
    if (max_batch < 1 || m->n_layers < 1) return DSTRAT_E_INVALID_ARG;
    size_t n = 0;
    for (uint32_t l = 0; l <= m->n_layers; l++) n += (size_t) max_batch * m->size[l];
    c->mem = calloc(n, sizeof *c->mem);
    if (!c->mem) return DSTRAT_E_NOMEM;
    c->max_batch = max_batch;
    float *p = c->mem;
    for (uint32_t l = 0; l <= m->n_layers; l++) {
        c->act[l] = p;
        p += (size_t) max_batch * m->size[l];
    }
    return 0;
}

void dsmlp_cache_free(dsmlp_cache_t *c) {
    if (!c) return;
    free(c->mem);
    memset(c, 0, sizeof *c);
}

int dsmlp_forward_batch(const dsmlp_t *m, dsmlp_cache_t *c, const float *x, uint32_t B) {
    if (B > c->max_batch) return DSTRAT_E_CAPACITY;
    memcpy(c->act[0], x, (size_t) B * m->size[0] * sizeof *x);
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const uint32_t I = m->size[l], O = m->size[l + 1];
        const int relu = l + 1 < m->n_layers;
        for (uint32_t r = 0; r < B; r++)
            dense(m->w[l], m->b[l], c->act[l] + (size_t) r * I, c->act[l + 1] + (size_t) r * O, O, I, relu);
    }
    return 0;
}

size_t dsmlp_backward_scratch_floats(const dsmlp_t *m, uint32_t B) {
    uint32_t w = 1;
    for (uint32_t l = 0; l <= m->n_layers; l++)
        if (m->size[l] > w) w = m->size[l];
    return 2 * (size_t) B * w;
}

void dsmlp_backward_batch(const dsmlp_t *m, const dsmlp_cache_t *c, uint32_t B, const float *dout, float *grad,
                          float *scratch) {
    const size_t half = dsmlp_backward_scratch_floats(m, B) / 2;
    float *d = scratch; /* dL/d(pre-activation output of layer l), (B, size[l+1]) */
    memcpy(d, dout, (size_t) B * m->size[m->n_layers] * sizeof *d);
    size_t off = m->n_params;
    for (uint32_t l = m->n_layers; l-- > 0;) {
        const uint32_t I = m->size[l], O = m->size[l + 1];
        off -= layer_params(m->size, l);
        float *gw = grad + off, *gb = gw + (size_t) O * I;
        float *dn = d == scratch ? scratch + half : scratch; /* dL/d(layer input) */
        if (l > 0) memset(dn, 0, (size_t) B * I * sizeof *dn);
        for (uint32_t r = 0; r < B; r++) {
            const float *dr = d + (size_t) r * O, *a = c->act[l] + (size_t) r * I;
            float *dnr = dn + (size_t) r * I;
            for (uint32_t o = 0; o < O; o++) {
                const float g = dr[o];
                if (g == 0.0f) continue;
                gb[o] += g;
                float *gwo = gw + (size_t) o * I;
                for (uint32_t i = 0; i < I; i++) gwo[i] += g * a[i];
                if (l > 0) {
                    const float *w = m->w[l] + (size_t) o * I;
                    for (uint32_t i = 0; i < I; i++) dnr[i] += g * w[i];
                }
            }
            if (l > 0) /* through the ReLU that produced act[l] */
                for (uint32_t i = 0; i < I; i++)
                    if (a[i] <= 0.0f) dnr[i] = 0.0f;
        }
        d = dn;
    }
}

/* ------------------------------------------------------------------------------ Adam */
int dsmlp_adam_init(dsmlp_adam_t *a, size_t n) {
    memset(a, 0, sizeof *a);
    a->m = calloc(n ? n : 1, sizeof *a->m);
    a->v = calloc(n ? n : 1, sizeof *a->v);
    if (!a->m || !a->v) {
        dsmlp_adam_free(a);
        return DSTRAT_E_NOMEM;
    }
    a->n = n;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    return 0;
}

void dsmlp_adam_free(dsmlp_adam_t *a) {
    if (!a) return;
    free(a->m);
    free(a->v);
    memset(a, 0, sizeof *a);
}

double dsmlp_adam_step(dsmlp_adam_t *a, float *params, const float *grad, double lr, double clip) {
    double sq = 0.0;
    for (size_t i = 0; i < a->n; i++) sq += (double) grad[i] * grad[i];
    const double norm = sqrt(sq);
    const double scale = clip > 0.0 && norm > clip ? clip / norm : 1.0;
    a->t++;
    const double bc1 = 1.0 - pow(a->beta1, (double) a->t), bc2 = 1.0 - pow(a->beta2, (double) a->t);
    for (size_t i = 0; i < a->n; i++) {
        const double g = grad[i] * scale;
        const double mi = a->beta1 * a->m[i] + (1.0 - a->beta1) * g;
        const double vi = a->beta2 * a->v[i] + (1.0 - a->beta2) * g * g;
        a->m[i] = (float) mi;
        a->v[i] = (float) vi;
        params[i] -= (float) (lr * (mi / bc1) / (sqrt(vi / bc2) + a->eps));
    }
    return norm;
}

/* ------------------------------------------------------------------------------ files */
static int fail(char *err, size_t cap, const char *fmt, const char *path, const char *prefix, const char *what) {
    if (err && cap) snprintf(err, cap, fmt, path, prefix, what);
    return DSTRAT_E_INVALID_ARG;
}

/* "18,64,64,2" -> sizes; 0 or -1 */
static int parse_layers(const char *s, uint32_t *sizes, uint32_t *n_layers) {
    uint32_t n = 0;
    const char *p = s;
    for (;;) {
        if (*p < '0' || *p > '9') return -1;
        char *end = NULL;
        unsigned long v = strtoul(p, &end, 10);
        if (v < 1 || v > DSMLP_MAX_WIDTH || n > DSMLP_MAX_LAYERS) return -1;
        sizes[n++] = (uint32_t) v;
        if (*end == '\0') break;
        if (*end != ',') return -1;
        p = end + 1;
    }
    if (n < 2) return -1;
    *n_layers = n - 1;
    return 0;
}

int dsmlp_load(dsmlp_t *m, const dspf_file_t *f, const char *prefix, char *err, size_t cap) {
    memset(m, 0, sizeof *m);
    char key[DSPF_NAME_MAX + 16];
    snprintf(key, sizeof key, "%s.layers", prefix);
    const char *ls = dspf_get(f, key);
    if (!ls) return fail(err, cap, "policy file %s: header key '%s.layers' is %s", f->path, prefix, "missing");
    uint32_t sizes[DSMLP_MAX_LAYERS + 2], n_layers = 0;
    if (parse_layers(ls, sizes, &n_layers) != 0) {
        if (err && cap)
            snprintf(err, cap,
                     "policy file %s: header key '%s.layers' = '%s' is malformed (need 2..%d comma-separated "
                     "sizes 1..%d)",
                     f->path, prefix, ls, DSMLP_MAX_LAYERS + 1, DSMLP_MAX_WIDTH);
        return DSTRAT_E_INVALID_ARG;
    }
    int rc = dsmlp_init(m, n_layers, sizes);
    if (rc != 0) return fail(err, cap, "policy file %s: network '%s': %s", f->path, prefix, "out of memory");
    for (uint32_t l = 0; l < n_layers; l++)
        for (int wb = 0; wb < 2; wb++) {
            char name[DSPF_NAME_MAX + 32];
            snprintf(name, sizeof name, "%s.l%u.%s", prefix, l, wb ? "bias" : "weight");
            const dspf_tensor_t *t = dspf_find(f, name);
            const uint32_t nd = wb ? 1 : 2, d0 = sizes[l + 1], d1 = wb ? 1 : sizes[l];
            if (!t) {
                dsmlp_free(m);
                return fail(err, cap, "policy file %s: network '%s': tensor '%s' is missing", f->path, prefix, name);
            }
            if (t->ndim != nd || t->dims[0] != d0 || (nd == 2 && t->dims[1] != d1) || t->n != (size_t) d0 * d1) {
                if (err && cap) {
                    if (wb)
                        snprintf(err, cap, "policy file %s: tensor '%s' has %u dims [%u,...], expected [%u] for layers %s",
                                 f->path, name, t->ndim, t->dims[0], d0, ls);
                    else
                        snprintf(err, cap, "policy file %s: tensor '%s' has %u dims [%u,%u,...], expected [%u,%u] for layers %s",
                                 f->path, name, t->ndim, t->dims[0], t->ndim > 1 ? t->dims[1] : 1u, d0, d1, ls);
                }
                dsmlp_free(m);
                return DSTRAT_E_INVALID_ARG;
            }
            memcpy(wb ? m->b[l] : m->w[l], t->data, t->n * sizeof(float));
        }
    /* any other tensor under "<prefix>." is unexpected: probably a file for another shape */
    const size_t pl = strlen(prefix);
    for (uint32_t j = 0; j < f->n_tensors; j++) {
        const char *nm = f->tensors[j].name;
        if (strncmp(nm, prefix, pl) != 0 || nm[pl] != '.') continue;
        unsigned l = 0;
        char kind[16] = {0}, tail = 0;
        const int ok = sscanf(nm + pl, ".l%u.%15[a-z]%c", &l, kind, &tail) == 2 && l < n_layers &&
                       (strcmp(kind, "weight") == 0 || strcmp(kind, "bias") == 0);
        char canon[DSPF_NAME_MAX + 32];
        snprintf(canon, sizeof canon, "%s.l%u.%s", prefix, l, kind);
        if (!ok || strcmp(canon, nm) != 0) {
            if (err && cap)
                snprintf(err, cap, "policy file %s: network '%s': unexpected tensor '%s' (layers %s)", f->path, prefix,
                         nm, ls);
            dsmlp_free(m);
            return DSTRAT_E_INVALID_ARG;
        }
    }
    return 0;
}

uint32_t dsmlp_describe(const dsmlp_t *m, const char *prefix, dspf_tensor_t *t, char *key_buf, size_t key_cap,
                        char *layers_buf, size_t layers_cap, dspf_kv_t *kv) {
    for (uint32_t l = 0; l < m->n_layers; l++)
        for (int wb = 0; wb < 2; wb++) {
            dspf_tensor_t *x = &t[2 * l + (uint32_t) wb];
            memset(x, 0, sizeof *x);
            snprintf(x->name, sizeof x->name, "%s.l%u.%s", prefix, l, wb ? "bias" : "weight");
            x->ndim = wb ? 1 : 2;
            x->dims[0] = m->size[l + 1];
            x->dims[1] = wb ? 1 : m->size[l];
            x->dims[2] = x->dims[3] = 1;
            x->n = (size_t) x->dims[0] * x->dims[1];
            x->data = wb ? m->b[l] : m->w[l];
        }
    if (key_buf && key_cap) snprintf(key_buf, key_cap, "%s.layers", prefix);
    if (layers_buf && layers_cap) {
        size_t used = 0;
        layers_buf[0] = '\0';
        for (uint32_t l = 0; l <= m->n_layers && used < layers_cap; l++) {
            int w = snprintf(layers_buf + used, layers_cap - used, l ? ",%u" : "%u", m->size[l]);
            if (w < 0) break;
            used += (size_t) w;
        }
    }
    if (kv) {
        kv->key = key_buf;
        kv->value = layers_buf;
    }
    return 2 * m->n_layers;
}
