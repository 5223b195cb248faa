/* policy_net.c - see policy_net.h. */
#include "policy_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dstrat.h"
#include "policy_file.h"

const char *const dspn_tensor_names[DSPN_N_TENSORS] = {
    "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
    "mlp.0.weight",      "mlp.0.bias",        "mlp.3.weight",    "mlp.3.bias",
};

size_t dspn_tensor_shape(const dspn_net_t *net, uint32_t i, uint32_t *ndim, uint32_t dims[2]) {
    const uint32_t H4 = 4 * net->n_hid, Z = net->n_hid + net->n_in;
    static const uint32_t nd[DSPN_N_TENSORS] = {2, 2, 1, 1, 2, 1, 2, 1};
    uint32_t d0 = 0, d1 = 1;
    switch (i) {
    case 0: d0 = H4; d1 = net->n_in; break;
    case 1: d0 = H4; d1 = net->n_hid; break;
    case 2: case 3: d0 = H4; break;
    case 4: d0 = net->n_mlp; d1 = Z; break;
    case 5: d0 = net->n_mlp; break;
    case 6: d0 = 2; d1 = net->n_mlp; break;
    case 7: d0 = 2; break;
    default: return 0;
    }
    if (ndim) *ndim = nd[i];
    if (dims) {
        dims[0] = d0;
        dims[1] = d1;
    }
    return (size_t) d0 * d1;
}

float *dspn_tensor(const dspn_net_t *net, uint32_t i) {
    size_t off = 0;
    for (uint32_t j = 0; j < i && j < DSPN_N_TENSORS; j++) off += dspn_tensor_shape(net, j, NULL, NULL);
    return net->params + off;
}

int dspn_init(dspn_net_t *net, uint32_t n_in, uint32_t n_hid, uint32_t n_mlp) {
    memset(net, 0, sizeof *net);
    if (n_in < 1 || n_hid < 1 || n_mlp < 1 || n_in > 4096 || n_hid > 4096 || n_mlp > 4096)
        return DSTRAT_E_INVALID_ARG;
    net->n_in = n_in;
    net->n_hid = n_hid;
    net->n_mlp = n_mlp;
    size_t n = 0;
    for (uint32_t i = 0; i < DSPN_N_TENSORS; i++) n += dspn_tensor_shape(net, i, NULL, NULL);
    net->params = calloc(n, sizeof *net->params);
    if (!net->params) return DSTRAT_E_NOMEM;
    net->n_params = n;
    net->w_ih = dspn_tensor(net, 0);
    net->w_hh = dspn_tensor(net, 1);
    net->b_ih = dspn_tensor(net, 2);
    net->b_hh = dspn_tensor(net, 3);
    net->w1 = dspn_tensor(net, 4);
    net->b1 = dspn_tensor(net, 5);
    net->w2 = dspn_tensor(net, 6);
    net->b2 = dspn_tensor(net, 7);
    return 0;
}

void dspn_free(dspn_net_t *net) {
    if (!net) return;
    free(net->params);
    memset(net, 0, sizeof *net);
}

void dspn_init_random(dspn_net_t *net, uint64_t seed) {
    /* fan-in per tensor as PyTorch's default init uses it */
    const double fan[DSPN_N_TENSORS] = {net->n_hid, net->n_hid, net->n_hid, net->n_hid,
                                        net->n_hid + net->n_in, net->n_hid + net->n_in, net->n_mlp, net->n_mlp};
    uint64_t k = 0;
    for (uint32_t i = 0; i < DSPN_N_TENSORS; i++) {
        float *t = dspn_tensor(net, i);
        const size_t n = dspn_tensor_shape(net, i, NULL, NULL);
        const double b = 1.0 / sqrt(fan[i]);
        for (size_t j = 0; j < n; j++) t[j] = (float) ((2.0 * dstrat_keyed_u01(seed, k++) - 1.0) * b);
    }
}

int dspn_state_init(dspn_state_t *st, const dspn_net_t *net) {
    const size_t H = net->n_hid, Z = H + net->n_in, M = net->n_mlp;
    memset(st, 0, sizeof *st);
    st->mem = calloc(H + H + 4 * H + Z + M, sizeof *st->mem);
    if (!st->mem) return DSTRAT_E_NOMEM;
    st->h = st->mem;
    st->c = st->h + H;
    st->gates = st->c + H;
    st->z = st->gates + 4 * H;
    st->a = st->z + Z;
    return 0;
}

void dspn_state_free(dspn_state_t *st) {
    if (!st) return;
    free(st->mem);
    memset(st, 0, sizeof *st);
}

void dspn_state_reset(dspn_state_t *st, const dspn_net_t *net) {
    memset(st->h, 0, net->n_hid * sizeof *st->h);
    memset(st->c, 0, net->n_hid * sizeof *st->c);
}

static float sigm(float x) {
    return 1.0f / (1.0f + expf(-x));
}

/* y[r] = b[r] + W[r, :] . x  for r < rows (W row-major with `cols` columns) */
static void matvec_add(float *restrict y, const float *restrict W, const float *restrict x, uint32_t rows,
                       uint32_t cols) {
    for (uint32_t r = 0; r < rows; r++) {
        const float *w = W + (size_t) r * cols;
        float acc[8] = {0}; /* independent partial sums: lets the compiler vectorize without -ffast-math */
        uint32_t j = 0;
        for (; j + 8 <= cols; j += 8)
            for (int l = 0; l < 8; l++) acc[l] += w[j + l] * x[j + l];
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; j < cols; j++) s += w[j] * x[j];
        y[r] += s;
    }
}

/* the LSTM cell: from (h, c, x) writes activated gates and the new h, c (h_out may alias h) */
static void lstm_cell(const dspn_net_t *net, const float *x, const float *h, const float *c, float *gates,
                      float *h_out, float *c_out) {
    const uint32_t H = net->n_hid;
    for (uint32_t r = 0; r < 4 * H; r++) gates[r] = net->b_ih[r] + net->b_hh[r];
    matvec_add(gates, net->w_ih, x, 4 * H, net->n_in);
    matvec_add(gates, net->w_hh, h, 4 * H, H);
    for (uint32_t j = 0; j < H; j++) {
        const float gi = sigm(gates[j]), gf = sigm(gates[H + j]), gg = tanhf(gates[2 * H + j]),
                    go = sigm(gates[3 * H + j]);
        gates[j] = gi;
        gates[H + j] = gf;
        gates[2 * H + j] = gg;
        gates[3 * H + j] = go;
        const float cn = gf * c[j] + gi * gg;
        c_out[j] = cn;
        h_out[j] = go * tanhf(cn);
    }
}

/* the MLP head on z = concat(h, x): pre-activations into pre, logits into out */
static void head(const dspn_net_t *net, const float *z, float *pre, float logits[2]) {
    const uint32_t M = net->n_mlp, Z = net->n_hid + net->n_in;
    memcpy(pre, net->b1, M * sizeof *pre);
    matvec_add(pre, net->w1, z, M, Z);
    for (int o = 0; o < 2; o++) {
        float s = net->b2[o];
        const float *w = net->w2 + (size_t) o * M;
        for (uint32_t j = 0; j < M; j++) s += w[j] * (pre[j] > 0.0f ? pre[j] : 0.0f);
        logits[o] = s;
    }
}

void dspn_step(const dspn_net_t *net, dspn_state_t *st, const float *x, float logits[2]) {
    lstm_cell(net, x, st->h, st->c, st->gates, st->h, st->c);
    memcpy(st->z, st->h, net->n_hid * sizeof *st->z);
    memcpy(st->z + net->n_hid, x, net->n_in * sizeof *st->z);
    head(net, st->z, st->a, logits);
}

double dspn_p_continue(const float logits[2]) {
    const double d = (double) logits[DSPN_STOP] - (double) logits[DSPN_CONTINUE];
    if (!(d == d)) return 0.0; /* NaN logits: stop */
    return 1.0 / (1.0 + exp(d));
}

/* ------------------------------------------------------------------------------ training */
int dspn_cache_init(dspn_cache_t *cache, const dspn_net_t *net, uint32_t t_max) {
    memset(cache, 0, sizeof *cache);
    if (t_max < 1) return DSTRAT_E_INVALID_ARG;
    const size_t T = t_max, H = net->n_hid, M = net->n_mlp;
    const size_t n = T * net->n_in + T * 4 * H + 2 * (T + 1) * H + T * M + T * 2;
    cache->mem = calloc(n, sizeof *cache->mem);
    if (!cache->mem) return DSTRAT_E_NOMEM;
    cache->t_max = t_max;
    cache->x = cache->mem;
    cache->gates = cache->x + T * net->n_in;
    cache->c = cache->gates + T * 4 * H;
    cache->h = cache->c + (T + 1) * H;
    cache->pre1 = cache->h + (T + 1) * H;
    cache->logits = cache->pre1 + T * M;
    return 0;
}

void dspn_cache_free(dspn_cache_t *cache) {
    if (!cache) return;
    free(cache->mem);
    memset(cache, 0, sizeof *cache);
}

int dspn_episode_forward(const dspn_net_t *net, dspn_cache_t *cache, const float *xs, uint32_t T) {
    if (T > cache->t_max) return DSTRAT_E_CAPACITY;
    const uint32_t H = net->n_hid, I = net->n_in, M = net->n_mlp;
    memset(cache->c, 0, H * sizeof *cache->c);
    memset(cache->h, 0, H * sizeof *cache->h);
    float z[4096 * 2];
    for (uint32_t t = 0; t < T; t++) {
        float *x = cache->x + (size_t) t * I;
        memcpy(x, xs + (size_t) t * I, I * sizeof *x);
        float *hn = cache->h + (size_t) (t + 1) * H, *cn = cache->c + (size_t) (t + 1) * H;
        lstm_cell(net, x, cache->h + (size_t) t * H, cache->c + (size_t) t * H, cache->gates + (size_t) t * 4 * H,
                  hn, cn);
        memcpy(z, hn, H * sizeof *z);
        memcpy(z + H, x, I * sizeof *z);
        head(net, z, cache->pre1 + (size_t) t * M, cache->logits + (size_t) t * 2);
    }
    return 0;
}

size_t dspn_scratch_floats(const dspn_net_t *net) {
    const size_t H = net->n_hid;
    return 4 * H + 4 * H + net->n_mlp + H + net->n_in;
}

void dspn_episode_backward(const dspn_net_t *net, const dspn_cache_t *cache, uint32_t T, const float *dlogits,
                           float *grad, float *scratch) {
    const uint32_t H = net->n_hid, I = net->n_in, M = net->n_mlp, Z = H + I;
    float *g_wih = grad, *g_whh = g_wih + (size_t) 4 * H * I, *g_bih = g_whh + (size_t) 4 * H * H,
          *g_bhh = g_bih + 4 * H, *g_w1 = g_bhh + 4 * H, *g_b1 = g_w1 + (size_t) M * Z, *g_w2 = g_b1 + M,
          *g_b2 = g_w2 + 2 * M;
    float *dgp = scratch, *dh = dgp + 4 * H, *dc = dh + H, *dh_next = dc + H, *dc_next = dh_next + H,
          *dpre = dc_next + H, *dz = dpre + M;
    memset(dh_next, 0, H * sizeof *dh_next);
    memset(dc_next, 0, H * sizeof *dc_next);
    for (uint32_t t = T; t-- > 0;) {
        const float *dl = dlogits + (size_t) t * 2, *pre = cache->pre1 + (size_t) t * M;
        const float *x = cache->x + (size_t) t * I, *hn = cache->h + (size_t) (t + 1) * H;
        const float *hp = cache->h + (size_t) t * H, *cp = cache->c + (size_t) t * H;
        const float *cn = cache->c + (size_t) (t + 1) * H, *gt = cache->gates + (size_t) t * 4 * H;
        /* output layer */
        for (int o = 0; o < 2; o++) {
            g_b2[o] += dl[o];
            for (uint32_t j = 0; j < M; j++) g_w2[(size_t) o * M + j] += dl[o] * (pre[j] > 0.0f ? pre[j] : 0.0f);
        }
        for (uint32_t j = 0; j < M; j++)
            dpre[j] = pre[j] > 0.0f ? dl[0] * net->w2[j] + dl[1] * net->w2[M + j] : 0.0f;
        /* hidden layer on z = concat(h', x) */
        memset(dz, 0, Z * sizeof *dz);
        for (uint32_t r = 0; r < M; r++) {
            if (dpre[r] == 0.0f) continue;
            g_b1[r] += dpre[r];
            float *gw = g_w1 + (size_t) r * Z;
            const float *w = net->w1 + (size_t) r * Z;
            for (uint32_t j = 0; j < H; j++) {
                gw[j] += dpre[r] * hn[j];
                dz[j] += dpre[r] * w[j];
            }
            for (uint32_t j = 0; j < I; j++) gw[H + j] += dpre[r] * x[j];
        }
        /* LSTM cell */
        for (uint32_t j = 0; j < H; j++) {
            const float gi = gt[j], gf = gt[H + j], gg = gt[2 * H + j], go = gt[3 * H + j];
            const float tc = tanhf(cn[j]);
            dh[j] = dz[j] + dh_next[j];
            dc[j] = dh[j] * go * (1.0f - tc * tc) + dc_next[j];
            dgp[j] = dc[j] * gg * gi * (1.0f - gi);
            dgp[H + j] = dc[j] * cp[j] * gf * (1.0f - gf);
            dgp[2 * H + j] = dc[j] * gi * (1.0f - gg * gg);
            dgp[3 * H + j] = dh[j] * tc * go * (1.0f - go);
            dc_next[j] = dc[j] * gf;
        }
        memset(dh_next, 0, H * sizeof *dh_next);
        for (uint32_t r = 0; r < 4 * H; r++) {
            const float g = dgp[r];
            g_bih[r] += g;
            g_bhh[r] += g;
            float *gwi = g_wih + (size_t) r * I, *gwh = g_whh + (size_t) r * H;
            const float *wh = net->w_hh + (size_t) r * H;
            for (uint32_t j = 0; j < I; j++) gwi[j] += g * x[j];
            for (uint32_t j = 0; j < H; j++) {
                gwh[j] += g * hp[j];
                dh_next[j] += g * wh[j];
            }
        }
    }
}

/* ------------------------------------------------------------------------------ files */
static int parse_size(const dspf_file_t *f, const char *key, uint32_t *v, char *err, size_t cap) {
    const char *s = dspf_get(f, key);
    char *end = NULL;
    unsigned long x = s ? strtoul(s, &end, 10) : 0;
    if (!s || !s[0] || *end || x < 1 || x > 4096) {
        if (err && cap)
            snprintf(err, cap, "policy file %s: header key '%s' is %s (need an integer 1..4096)", f->path, key,
                     s ? "malformed" : "missing");
        return DSTRAT_E_INVALID_ARG;
    }
    *v = (uint32_t) x;
    return 0;
}

int dspn_load(dspn_net_t *net, const dspf_file_t *f, char *err, size_t cap) {
    memset(net, 0, sizeof *net);
    const char *kind = dspf_get(f, "network");
    if (!kind || strcmp(kind, DSPN_NETWORK) != 0) {
        if (err && cap)
            snprintf(err, cap, "policy file %s: network is '%s', this strategy needs '%s'", f->path, kind ? kind : "(missing)",
                     DSPN_NETWORK);
        return DSTRAT_E_INVALID_ARG;
    }
    uint32_t n_in, n_hid, n_mlp;
    int rc;
    if ((rc = parse_size(f, "n_in", &n_in, err, cap)) || (rc = parse_size(f, "n_hidden", &n_hid, err, cap)) ||
        (rc = parse_size(f, "n_mlp", &n_mlp, err, cap)))
        return rc;
    if ((rc = dspn_init(net, n_in, n_hid, n_mlp)) != 0) {
        if (err && cap) snprintf(err, cap, "policy file %s: out of memory", f->path);
        return rc;
    }
    for (uint32_t i = 0; i < DSPN_N_TENSORS; i++) {
        uint32_t nd, dims[2];
        const size_t n = dspn_tensor_shape(net, i, &nd, dims);
        const dspf_tensor_t *t = dspf_find(f, dspn_tensor_names[i]);
        if (!t || t->ndim != nd || t->dims[0] != dims[0] || (nd == 2 && t->dims[1] != dims[1]) || t->n != n) {
            if (err && cap) {
                if (!t)
                    snprintf(err, cap, "policy file %s: tensor '%s' is missing", f->path, dspn_tensor_names[i]);
                else
                    snprintf(err, cap, "policy file %s: tensor '%s' has shape [%u%s%u], expected [%u%s%u] for n_in %u n_hidden %u n_mlp %u",
                             f->path, t->name, t->dims[0], t->ndim > 1 ? "," : "", t->ndim > 1 ? t->dims[1] : 0u, dims[0],
                             nd > 1 ? "," : "", nd > 1 ? dims[1] : 0u, n_in, n_hid, n_mlp);
            }
            dspn_free(net);
            return DSTRAT_E_INVALID_ARG;
        }
        memcpy(dspn_tensor(net, i), t->data, n * sizeof(float));
    }
    for (uint32_t j = 0; j < f->n_tensors; j++) { /* all eight present: anything else is extra */
        uint32_t i = 0;
        while (i < DSPN_N_TENSORS && strcmp(f->tensors[j].name, dspn_tensor_names[i]) != 0) i++;
        if (i == DSPN_N_TENSORS) {
            if (err && cap)
                snprintf(err, cap, "policy file %s: unexpected tensor '%s' (a %s net has exactly %d)", f->path,
                         f->tensors[j].name, DSPN_NETWORK, DSPN_N_TENSORS);
            dspn_free(net);
            return DSTRAT_E_INVALID_ARG;
        }
    }
    return 0;
}

int dspn_save(const dspn_net_t *net, const char *path, const dspf_kv_t *extra, uint32_t n_extra, char *err, size_t cap) {
    dspf_kv_t kv[64];
    char s_in[16], s_hid[16], s_mlp[16];
    if (n_extra > 60) {
        if (err && cap) snprintf(err, cap, "policy writer: too many header entries");
        return DSTRAT_E_INVALID_ARG;
    }
    snprintf(s_in, sizeof s_in, "%u", net->n_in);
    snprintf(s_hid, sizeof s_hid, "%u", net->n_hid);
    snprintf(s_mlp, sizeof s_mlp, "%u", net->n_mlp);
    kv[0] = (dspf_kv_t) {"network", DSPN_NETWORK};
    kv[1] = (dspf_kv_t) {"n_in", s_in};
    kv[2] = (dspf_kv_t) {"n_hidden", s_hid};
    kv[3] = (dspf_kv_t) {"n_mlp", s_mlp};
    for (uint32_t i = 0; i < n_extra; i++) kv[4 + i] = extra[i];
    dspf_tensor_t t[DSPN_N_TENSORS];
    for (uint32_t i = 0; i < DSPN_N_TENSORS; i++) {
        memset(&t[i], 0, sizeof t[i]);
        snprintf(t[i].name, sizeof t[i].name, "%s", dspn_tensor_names[i]);
        uint32_t nd, dims[2];
        t[i].n = dspn_tensor_shape(net, i, &nd, dims);
        t[i].ndim = nd;
        t[i].dims[0] = dims[0];
        t[i].dims[1] = nd > 1 ? dims[1] : 1;
        t[i].dims[2] = t[i].dims[3] = 1;
        t[i].data = dspn_tensor(net, i);
    }
    return dspf_write(path, kv, 4 + n_extra, t, DSPN_N_TENSORS, err, cap);
}
