/* test_mlp.c - plugin/common/mlp: forward against a hand computation, batch forward equals the
 * single-row forward, backward against float64 finite differences, Adam with clipping, log-softmax,
 * and the policy-file round trip and load errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dstrat.h"
#include "mlp.h"
#include "policy_file.h"

/* 2 -> 2 -> 1 with ReLU: W0 = [[1,-2],[0.5,1]], b0 = [0.1,-3], W1 = [[2,-1]], b1 = [0.25] */
static void toy(dsmlp_t *m) {
    const uint32_t s[3] = {2, 2, 1};
    cr_assert_eq(dsmlp_init(m, 2, s), 0);
    const float p[] = {1, -2, 0.5f, 1, 0.1f, -3, 2, -1, 0.25f};
    cr_assert_eq(m->n_params, 9);
    memcpy(m->params, p, sizeof p);
}

Test(mlp, forward_hand_computed) {
    dsmlp_t m;
    toy(&m);
    float scratch[64], out[1];
    cr_assert_leq(dsmlp_scratch_floats(&m), 64);
    /* x = (3, 1): h = relu(3-2+0.1, 1.5+1-3) = relu(1.1, -0.5) = (1.1, 0); y = 2.2 + 0.25 */
    const float x[2] = {3, 1};
    dsmlp_forward(&m, x, out, scratch);
    cr_assert_float_eq(out[0], 2.45f, 1e-6f);
    /* x = (-1, 4): h = relu(-1-8+0.1, -0.5+4-3) = (0, 0.5); y = -0.5 + 0.25 */
    const float x2[2] = {-1, 4};
    dsmlp_forward(&m, x2, out, scratch);
    cr_assert_float_eq(out[0], -0.25f, 1e-6f);
    dsmlp_free(&m);
}

Test(mlp, init_rejects_bad_sizes) {
    dsmlp_t m;
    const uint32_t zero[3] = {2, 0, 1}, ok[6] = {1, 1, 1, 1, 1, 1}, wide[2] = {DSMLP_MAX_WIDTH + 1, 1};
    cr_assert_eq(dsmlp_init(&m, 2, zero), DSTRAT_E_INVALID_ARG);
    cr_assert_eq(dsmlp_init(&m, 0, ok), DSTRAT_E_INVALID_ARG);
    cr_assert_eq(dsmlp_init(&m, DSMLP_MAX_LAYERS + 1, ok), DSTRAT_E_INVALID_ARG);
    cr_assert_eq(dsmlp_init(&m, 1, wide), DSTRAT_E_INVALID_ARG);
    cr_assert_eq(dsmlp_init(&m, DSMLP_MAX_LAYERS, ok), 0);
    dsmlp_free(&m);
}

Test(mlp, random_init_deterministic_and_gain) {
    const uint32_t s[3] = {16, 8, 3};
    dsmlp_t a, b;
    cr_assert_eq(dsmlp_init(&a, 2, s), 0);
    cr_assert_eq(dsmlp_init(&b, 2, s), 0);
    dsmlp_init_random(&a, 7, 0.01f);
    dsmlp_init_random(&b, 7, 0.01f);
    cr_assert_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
    for (size_t i = 0; i < 16 * 8; i++) cr_assert_leq(fabsf(a.w[0][i]), 0.25f + 1e-6f);
    for (size_t i = 0; i < 8 * 3; i++) cr_assert_leq(fabsf(a.w[1][i]), 0.01f / sqrtf(8.0f) + 1e-7f);
    dsmlp_init_random(&b, 8, 0.01f);
    cr_assert_neq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
    dsmlp_free(&a);
    dsmlp_free(&b);
}

Test(mlp, argmax_and_log_softmax) {
    const float v[4] = {1, 3, 3, -2};
    cr_assert_eq(dsmlp_argmax(v, 4), 1);
    float ls[4];
    dsmlp_log_softmax(v, 4, ls);
    double z = exp(1) + 2 * exp(3) + exp(-2);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(ls[i], v[i] - log(z), 1e-5);
    const float big[2] = {1000, 0}; /* stable for huge logits */
    dsmlp_log_softmax(big, 2, ls);
    cr_assert_float_eq(ls[0], 0.0f, 1e-6f);
    cr_assert_float_eq(ls[1], -1000.0f, 1e-3f);
    float al[3] = {0, 0, 0}; /* aliasing allowed */
    dsmlp_log_softmax(al, 3, al);
    cr_assert_float_eq(al[2], -log(3.0), 1e-6);
}

Test(mlp, batch_forward_matches_single) {
    const uint32_t s[4] = {5, 7, 6, 3};
    dsmlp_t m;
    cr_assert_eq(dsmlp_init(&m, 3, s), 0);
    dsmlp_init_random(&m, 3, 1.0f);
    dsmlp_cache_t c;
    cr_assert_eq(dsmlp_cache_init(&c, &m, 4), 0);
    float x[5 * 5];
    for (int i = 0; i < 25; i++) x[i] = (float) sin(i * 1.7);
    cr_assert_eq(dsmlp_forward_batch(&m, &c, x, 5), DSTRAT_E_CAPACITY);
    cr_assert_eq(dsmlp_forward_batch(&m, &c, x, 4), 0);
    float *scratch = calloc(dsmlp_scratch_floats(&m), sizeof(float)), out[3];
    for (int r = 0; r < 4; r++) {
        dsmlp_forward(&m, x + r * 5, out, scratch);
        for (int o = 0; o < 3; o++) cr_assert_eq(out[o], c.act[3][r * 3 + o]);
    }
    free(scratch);
    dsmlp_cache_free(&c);
    dsmlp_free(&m);
}

/* float64 reference forward of L = sum_r sum_o wgt[r,o] * out[r,o] */
static double ref_loss(const dsmlp_t *m, const double *p, const float *x, uint32_t B, const double *wgt) {
    double h[2][64], L = 0;
    for (uint32_t r = 0; r < B; r++) {
        for (uint32_t i = 0; i < m->size[0]; i++) h[0][i] = x[r * m->size[0] + i];
        const double *q = p;
        int cur = 0;
        for (uint32_t l = 0; l < m->n_layers; l++) {
            const uint32_t I = m->size[l], O = m->size[l + 1];
            const double *W = q, *b = q + O * I;
            for (uint32_t o = 0; o < O; o++) {
                double s = b[o];
                for (uint32_t i = 0; i < I; i++) s += W[o * I + i] * h[cur][i];
                h[1 - cur][o] = l + 1 < m->n_layers && s < 0 ? 0 : s;
            }
            cur = 1 - cur;
            q += O * I + O;
        }
        for (uint32_t o = 0; o < m->size[m->n_layers]; o++) L += wgt[r * m->size[m->n_layers] + o] * h[cur][o];
    }
    return L;
}

Test(mlp, backward_matches_finite_differences) {
    const uint32_t s[4] = {4, 6, 5, 3}, B = 3;
    dsmlp_t m;
    cr_assert_eq(dsmlp_init(&m, 3, s), 0);
    dsmlp_init_random(&m, 11, 1.0f);
    dsmlp_cache_t c;
    cr_assert_eq(dsmlp_cache_init(&c, &m, B), 0);
    float x[3 * 4];
    double wgt[3 * 3];
    for (int i = 0; i < 12; i++) x[i] = (float) (2.0 * sin(3.1 * i + 0.3));
    for (int i = 0; i < 9; i++) wgt[i] = cos(1.3 * i);
    float dout[9];
    for (int i = 0; i < 9; i++) dout[i] = (float) wgt[i];
    cr_assert_eq(dsmlp_forward_batch(&m, &c, x, B), 0);
    float *grad = calloc(m.n_params, sizeof(float));
    float *scratch = calloc(dsmlp_backward_scratch_floats(&m, B), sizeof(float));
    /* grad accumulates: two calls give twice the gradient */
    dsmlp_backward_batch(&m, &c, B, dout, grad, scratch);
    dsmlp_backward_batch(&m, &c, B, dout, grad, scratch);
    double *p = malloc(m.n_params * sizeof(double));
    for (size_t i = 0; i < m.n_params; i++) p[i] = m.params[i];
    uint32_t checked = 0;
    double worst = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        const double eps = 1e-6, save = p[i];
        p[i] = save + eps;
        const double lp = ref_loss(&m, p, x, B, wgt);
        p[i] = save - eps;
        const double lm = ref_loss(&m, p, x, B, wgt);
        p[i] = save;
        const double fd = (lp - lm) / (2 * eps), an = grad[i] / 2.0;
        const double rel = fabs(fd - an) / fmax(1e-3, fabs(fd) + fabs(an));
        if (rel > worst) worst = rel;
        if (fabs(fd) > 1e-4) checked++;
    }
    cr_assert_lt(worst, 1e-4, "worst relative gradient error %g", worst);
    cr_assert_gt(checked, m.n_params / 3, "only %u of %zu gradients were non-zero", checked, m.n_params);
    free(p);
    free(grad);
    free(scratch);
    dsmlp_cache_free(&c);
    dsmlp_free(&m);
}

Test(mlp, adam_moves_against_gradient_and_clips) {
    dsmlp_adam_t a;
    cr_assert_eq(dsmlp_adam_init(&a, 2), 0);
    float p[2] = {1, 1};
    const float g[2] = {3, -4};
    const double norm = dsmlp_adam_step(&a, p, g, 0.1, 1.0);
    cr_assert_float_eq(norm, 5.0, 1e-9);
    /* first Adam step moves each parameter by ~lr * sign(g), whatever the clipping scale */
    cr_assert_float_eq(p[0], 0.9f, 1e-5f);
    cr_assert_float_eq(p[1], 1.1f, 1e-5f);
    cr_assert_float_eq(a.m[0], 0.1 * 3 / 5.0, 1e-6, "first moment of the clipped gradient");
    cr_assert_eq(a.t, 1);
    /* minimises a quadratic */
    float q[1] = {5};
    dsmlp_adam_t b;
    cr_assert_eq(dsmlp_adam_init(&b, 1), 0);
    for (int i = 0; i < 2000; i++) {
        const float gq[1] = {2 * (q[0] - 2)};
        dsmlp_adam_step(&b, q, gq, 0.01, 0);
    }
    cr_assert_float_eq(q[0], 2.0f, 1e-2f);
    dsmlp_adam_free(&a);
    dsmlp_adam_free(&b);
}

/* two networks in one file image */
static void build_image(const dsmlp_t *a, const dsmlp_t *b, uint8_t **buf, size_t *len) {
    dspf_tensor_t t[16];
    dspf_kv_t kv[3];
    char k1[64], k2[64], l1[64], l2[64], err[256];
    kv[0] = (dspf_kv_t) {"network", "ltd-mlp"};
    uint32_t n = dsmlp_describe(a, "depth", t, k1, sizeof k1, l1, sizeof l1, &kv[1]);
    cr_assert_eq(n, 2 * a->n_layers);
    n += dsmlp_describe(b, "size", t + n, k2, sizeof k2, l2, sizeof l2, &kv[2]);
    cr_assert_str_eq(kv[1].key, "depth.layers");
    cr_assert_str_eq(kv[1].value, "4,8,2");
    cr_assert_eq(dspf_serialize(kv, 3, t, n, buf, len, err, sizeof err), 0, "%s", err);
}

static void two_nets(dsmlp_t *a, dsmlp_t *b) {
    const uint32_t sa[3] = {4, 8, 2}, sb[4] = {6, 5, 5, 9};
    cr_assert_eq(dsmlp_init(a, 2, sa), 0);
    cr_assert_eq(dsmlp_init(b, 3, sb), 0);
    dsmlp_init_random(a, 1, 0.5f);
    dsmlp_init_random(b, 2, 0.5f);
}

Test(mlp, describe_load_round_trip) {
    dsmlp_t a, b, la, lb;
    two_nets(&a, &b);
    uint8_t *buf;
    size_t len;
    build_image(&a, &b, &buf, &len);
    dspf_file_t f;
    char err[256];
    cr_assert_eq(dspf_parse(buf, len, "rt.dspol", &f, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dsmlp_load(&la, &f, "depth", err, sizeof err), 0, "%s", err);
    cr_assert_eq(dsmlp_load(&lb, &f, "size", err, sizeof err), 0, "%s", err);
    cr_assert_eq(la.n_layers, 2);
    cr_assert_eq(lb.n_layers, 3);
    cr_assert_eq(lb.size[3], 9);
    cr_assert_eq(memcmp(la.params, a.params, a.n_params * sizeof(float)), 0);
    cr_assert_eq(memcmp(lb.params, b.params, b.n_params * sizeof(float)), 0);
    dsmlp_free(&la);
    dsmlp_free(&lb);
    dspf_free(&f);
    free(buf);
    dsmlp_free(&a);
    dsmlp_free(&b);
}

/* loads prefix from an image built from kv/tensors; expects failure whose message has `want` */
static void expect_load_error(const dspf_kv_t *kv, uint32_t n_kv, const dspf_tensor_t *t, uint32_t n_t,
                              const char *prefix, const char *want) {
    uint8_t *buf;
    size_t len;
    char err[512];
    cr_assert_eq(dspf_serialize(kv, n_kv, t, n_t, &buf, &len, err, sizeof err), 0, "%s", err);
    dspf_file_t f;
    cr_assert_eq(dspf_parse(buf, len, "bad.dspol", &f, err, sizeof err), 0, "%s", err);
    dsmlp_t m;
    err[0] = 0;
    cr_assert_eq(dsmlp_load(&m, &f, prefix, err, sizeof err), DSTRAT_E_INVALID_ARG, "loaded %s", prefix);
    cr_assert(strstr(err, want) != NULL, "message '%s' lacks '%s'", err, want);
    cr_assert(strstr(err, "bad.dspol") != NULL, "message '%s' lacks the file name", err);
    cr_assert_null(m.params);
    dspf_free(&f);
    free(buf);
}

Test(mlp, load_errors_name_the_problem) {
    dsmlp_t a, b;
    two_nets(&a, &b);
    dspf_tensor_t t[16];
    dspf_kv_t kv[2];
    char key[64], lay[64];
    const uint32_t n = dsmlp_describe(&a, "depth", t, key, sizeof key, lay, sizeof lay, &kv[0]);
    kv[1] = (dspf_kv_t) {"network", "ltd-mlp"};
    /* missing layers key / missing prefix */
    expect_load_error(&kv[1], 1, t, n, "depth", "'depth.layers' is missing");
    expect_load_error(kv, 2, t, n, "size", "'size.layers' is missing");
    /* bad layers strings */
    const char *bad[] = {"4", "4,,2", "4,8,2,", "a,2", "4,0,2", "4,8,2,2,2,2", "4, 8,2", "-4,8,2", "4,99999,2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dspf_kv_t k2[1] = {{"depth.layers", bad[i]}};
        expect_load_error(k2, 1, t, n, "depth", "malformed");
    }
    /* missing tensor */
    expect_load_error(kv, 2, t, n - 1, "depth", "tensor 'depth.l1.bias' is missing");
    /* wrong shape: claim 4,8,3 */
    dspf_kv_t k3[1] = {{"depth.layers", "4,8,3"}};
    expect_load_error(k3, 1, t, n, "depth", "tensor 'depth.l1.weight' has");
    dspf_kv_t k4[1] = {{"depth.layers", "5,8,2"}};
    expect_load_error(k4, 1, t, n, "depth", "expected [8,5]");
    /* extra tensor of the prefix: a third layer's weight */
    dspf_tensor_t t2[16];
    memcpy(t2, t, n * sizeof *t);
    t2[n] = t[0];
    snprintf(t2[n].name, sizeof t2[n].name, "depth.l2.weight");
    expect_load_error(kv, 2, t2, n + 1, "depth", "unexpected tensor 'depth.l2.weight'");
    snprintf(t2[n].name, sizeof t2[n].name, "depth.extra");
    expect_load_error(kv, 2, t2, n + 1, "depth", "unexpected tensor 'depth.extra'");
    /* tensors of another prefix are fine */
    snprintf(t2[n].name, sizeof t2[n].name, "depthx.l0.weight");
    {
        uint8_t *buf;
        size_t len;
        char err[256];
        cr_assert_eq(dspf_serialize(kv, 2, t2, n + 1, &buf, &len, err, sizeof err), 0, "%s", err);
        dspf_file_t f;
        cr_assert_eq(dspf_parse(buf, len, "ok.dspol", &f, err, sizeof err), 0, "%s", err);
        dsmlp_t m;
        cr_assert_eq(dsmlp_load(&m, &f, "depth", err, sizeof err), 0, "%s", err);
        dsmlp_free(&m);
        dspf_free(&f);
        free(buf);
    }
    dsmlp_free(&a);
    dsmlp_free(&b);
}
