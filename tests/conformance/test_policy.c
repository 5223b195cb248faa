/* test_policy.c - the policy network (forward == step-wise inference, BPTT gradients against
 * finite differences, per-step cost) and the policy file format (round trip; every truncation,
 * every single-byte corruption, bad magic/version, trailing bytes, non-finite values, shape and
 * network mismatches), and the radar strategy's create-time errors for bad policy files. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf_host.h"
#include "conf_util.h"
#include "policy_file.h"
#include "policy_net.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dstrat_test_policy_%ld_%s.dspol", (long) getpid(), tag);
}

static const dspf_kv_t extra[] = {
    {"features", "radar-beam-cumlogp"}, {"target", "mock-target"}, {"draft", "mock-draft"},
    {"cost.t_draft_ns", "2684000"}, {"train.lr", "1e-4"},
};
#define N_EXTRA (sizeof extra / sizeof extra[0])

/* ------------------------------------------------------------------------------ network */
Test(policy_net, step_equals_episode_forward) {
    dspn_net_t net;
    cr_assert_eq(dspn_init(&net, 6, 9, 7), 0);
    dspn_init_random(&net, 5);
    dspn_state_t st;
    dspn_cache_t cache;
    cr_assert_eq(dspn_state_init(&st, &net), 0);
    cr_assert_eq(dspn_cache_init(&cache, &net, 8), 0);
    float xs[8 * 6];
    for (int i = 0; i < 8 * 6; i++) xs[i] = (float) (-3.0 * dstrat_keyed_u01(9, (uint64_t) i));
    cr_assert_eq(dspn_episode_forward(&net, &cache, xs, 8), 0);
    dspn_state_reset(&st, &net);
    float first[2] = {0, 0};
    for (int t = 0; t < 8; t++) {
        float lg[2];
        dspn_step(&net, &st, xs + t * 6, lg);
        cr_assert_eq(lg[0], cache.logits[t * 2]);
        cr_assert_eq(lg[1], cache.logits[t * 2 + 1]);
        if (t == 0) memcpy(first, lg, sizeof first);
    }
    /* the state carries history: the same input after 7 steps gives other logits */
    float lg[2];
    dspn_step(&net, &st, xs, lg);
    cr_assert(lg[0] != first[0] || lg[1] != first[1]);
    double p = dspn_p_continue(lg);
    cr_assert(p > 0.0 && p < 1.0);
    const float big[2] = {100.0f, -100.0f};
    cr_assert_lt(dspn_p_continue(big), 1e-60);
    dspn_cache_free(&cache);
    dspn_state_free(&st);
    dspn_free(&net);
}

/* REINFORCE-like loss: L = -sum_t G_t log softmax(logits_t)[a_t]  (a nonlinear function of the logits) */
static double episode_loss(const dspn_net_t *net, dspn_cache_t *c, const float *xs, uint32_t T, const int *act,
                           const double *G, float *dlogits) {
    dspn_episode_forward(net, c, xs, T);
    double L = 0.0;
    for (uint32_t t = 0; t < T; t++) {
        const double l0 = c->logits[t * 2], l1 = c->logits[t * 2 + 1], m = l0 > l1 ? l0 : l1;
        const double z = log(exp(l0 - m) + exp(l1 - m)) + m;
        const double lp[2] = {l0 - z, l1 - z};
        L -= G[t] * lp[act[t]];
        if (dlogits)
            for (int o = 0; o < 2; o++) dlogits[t * 2 + o] = (float) (-G[t] * ((o == act[t]) - exp(lp[o])));
    }
    return L;
}

Test(policy_net, gradient_matches_finite_differences) {
    dspn_net_t net;
    cr_assert_eq(dspn_init(&net, 3, 5, 4), 0);
    dspn_init_random(&net, 17);
    for (size_t i = 0; i < net.n_params; i++) net.params[i] *= 2.0f; /* livelier activations */
    const uint32_t T = 5;
    dspn_cache_t cache;
    cr_assert_eq(dspn_cache_init(&cache, &net, T), 0);
    float xs[5 * 3], dl[5 * 2];
    int act[5];
    double G[5];
    for (uint32_t i = 0; i < T * 3; i++) xs[i] = (float) (-4.0 * dstrat_keyed_u01(3, i));
    for (uint32_t t = 0; t < T; t++) {
        act[t] = dstrat_keyed_u01(4, t) < 0.5;
        G[t] = 2.0 * dstrat_keyed_u01(5, t) - 0.5;
    }
    float *grad = calloc(net.n_params, sizeof *grad), *scratch = calloc(dspn_scratch_floats(&net), sizeof(float));
    cr_assert(grad && scratch);
    episode_loss(&net, &cache, xs, T, act, G, dl);
    dspn_episode_backward(&net, &cache, T, dl, grad, scratch);
    uint32_t checked = 0, nonzero = 0;
    double worst = 0.0;
    for (size_t i = 0; i < net.n_params; i++) {
        const float keep = net.params[i], eps = 1e-2f;
        net.params[i] = keep + eps;
        const double lp = episode_loss(&net, &cache, xs, T, act, G, NULL);
        net.params[i] = keep - eps;
        const double lm = episode_loss(&net, &cache, xs, T, act, G, NULL);
        net.params[i] = keep;
        const double fd = (lp - lm) / (2.0 * eps), err = fabs(fd - grad[i]);
        cr_expect_leq(err, 2e-3 + 2e-2 * fabs(fd), "param %zu: backward %g, finite difference %g", i, (double) grad[i], fd);
        if (err > worst) worst = err;
        checked++;
        nonzero += fabs(fd) > 1e-4;
    }
    fprintf(stderr, "gradient check: %u parameters, %u with |grad| > 1e-4, worst abs error %.2e\n", checked, nonzero, worst);
    cr_assert_gt(nonzero, checked / 2, "most parameters must influence the loss for the check to mean anything");
    free(grad);
    free(scratch);
    dspn_cache_free(&cache);
    dspn_free(&net);
}

Test(policy_net, paper_size_step_cost) {
    dspn_net_t net;
    cr_assert_eq(dspn_init(&net, 10, 128, 128), 0);
    cr_assert_eq(net.n_params, 89730u); /* the paper's parameter count */
    dspn_init_random(&net, 1);
    dspn_state_t st;
    cr_assert_eq(dspn_state_init(&st, &net), 0);
    float x[10], lg[2];
    for (int i = 0; i < 10; i++) x[i] = -0.5f * (float) i;
    const int n = 2000;
    const double t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (i % 8 == 0) dspn_state_reset(&st, &net);
        dspn_step(&net, &st, x, lg);
    }
    const double us = (now_s() - t0) / n * 1e6;
    fprintf(stderr, "radar-lstm 10/128/128: %.1f us per decision step\n", us);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
    cr_expect_lt(us, 1000.0, "a decision must stay far below a draft forward");
#endif
    dspn_state_free(&st);
    dspn_free(&net);
}

/* ------------------------------------------------------------------------------ file format */
static dspn_net_t small_net(uint64_t seed) {
    dspn_net_t net;
    cr_assert_eq(dspn_init(&net, 3, 4, 5), 0);
    dspn_init_random(&net, seed);
    return net;
}

Test(policy_file, round_trip) {
    char path[256], err[512];
    tmp_path(path, sizeof path, "rt");
    dspn_net_t net = small_net(7), back;
    cr_assert_eq(dspn_save(&net, path, extra, N_EXTRA, err, sizeof err), 0, "%s", err);
    dspf_file_t f;
    cr_assert_eq(dspf_read(path, &f, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(dspf_get(&f, "network"), "radar-lstm");
    cr_assert_str_eq(dspf_get(&f, "target"), "mock-target");
    cr_assert_str_eq(dspf_get(&f, "cost.t_draft_ns"), "2684000");
    cr_assert_str_eq(dspf_get(&f, "n_hidden"), "4");
    cr_assert_null(dspf_get(&f, "nope"));
    cr_assert_eq(f.version, DSPF_VERSION);
    cr_assert_eq(dspn_load(&back, &f, err, sizeof err), 0, "%s", err);
    cr_assert_eq(back.n_params, net.n_params);
    cr_assert_arr_eq(back.params, net.params, net.n_params * sizeof(float));
    dspn_free(&back);
    dspf_free(&f);
    dspn_free(&net);
    remove(path);
    cr_assert_eq(dspf_read(path, &f, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, path) && strstr(err, "cannot open"), "%s", err);
}

static void image(const dspn_net_t *net, uint8_t **buf, size_t *len) {
    char path[256], err[512];
    tmp_path(path, sizeof path, "img");
    cr_assert_eq(dspn_save(net, path, extra, N_EXTRA, err, sizeof err), 0, "%s", err);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t) ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *buf = malloc(*len);
    cr_assert_eq(fread(*buf, 1, *len, fp), *len);
    fclose(fp);
    remove(path);
}

static void reseal(uint8_t *buf, size_t len) {
    const uint64_t h = dspf_fnv1a64(buf, len - 8);
    for (int i = 0; i < 8; i++) buf[len - 8 + i] = (uint8_t) (h >> (8 * i));
}

Test(policy_file, every_truncation_is_a_clear_error) {
    dspn_net_t net = small_net(8);
    uint8_t *full;
    size_t len;
    image(&net, &full, &len);
    char err[512];
    dspf_file_t f;
    cr_assert_eq(dspf_parse(full, len, "p.dspol", &f, err, sizeof err), 0, "%s", err);
    dspf_free(&f);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1); /* exact size: ASan sees any read past the end */
        memcpy(cut, full, n);
        err[0] = '\0';
        int rc = dspf_parse(cut, n, "p.dspol", &f, err, sizeof err);
        cr_assert_eq(rc, DSTRAT_E_IO, "truncated to %zu of %zu bytes: rc %d", n, len, rc);
        cr_assert(strstr(err, "p.dspol") != NULL, "message must name the file: %s", err);
        cr_assert(n < 8 || strstr(err, "truncated") || strstr(err, "checksum"), "at %zu: %s", n, err);
        cr_assert_eq(f.n_tensors, 0u);
        free(cut);
    }
    fprintf(stderr, "truncation: %zu lengths rejected cleanly\n", len);
    free(full);
    dspn_free(&net);
}

Test(policy_file, every_byte_corruption_is_detected) {
    dspn_net_t net = small_net(9);
    uint8_t *buf;
    size_t len;
    image(&net, &buf, &len);
    char err[512];
    dspf_file_t f;
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x5a;
        int rc = dspf_parse(buf, len, "c.dspol", &f, err, sizeof err);
        cr_assert_eq(rc, DSTRAT_E_IO, "byte %zu flipped: rc %d", i, rc);
        buf[i] ^= 0x5a;
    }
    cr_assert_eq(dspf_parse(buf, len, "c.dspol", &f, err, sizeof err), 0, "%s", err);
    dspf_free(&f);
    free(buf);
    dspn_free(&net);
}

Test(policy_file, magic_version_trailing_checksum_messages) {
    dspn_net_t net = small_net(10);
    uint8_t *buf;
    size_t len;
    image(&net, &buf, &len);
    char err[512];
    dspf_file_t f;
    buf[0] = 'X';
    cr_assert_eq(dspf_parse(buf, len, "m.dspol", &f, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, "magic") && strstr(err, "m.dspol"), "%s", err);
    buf[0] = 'D';
    buf[8] = 2; /* version 2, checksum made right: the version itself must be refused */
    reseal(buf, len);
    cr_assert_eq(dspf_parse(buf, len, "m.dspol", &f, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, "format version 2"), "%s", err);
    buf[8] = 1;
    reseal(buf, len);
    uint8_t *longer = malloc(len + 3);
    memcpy(longer, buf, len);
    memset(longer + len, 0, 3);
    cr_assert_eq(dspf_parse(longer, len + 3, "m.dspol", &f, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, "unexpected bytes") || strstr(err, "checksum"), "%s", err);
    free(longer);
    buf[len - 1] ^= 1;
    cr_assert_eq(dspf_parse(buf, len, "m.dspol", &f, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, "checksum mismatch"), "%s", err);
    free(buf);
    dspn_free(&net);
}

Test(policy_file, non_finite_values_refused) {
    dspn_net_t net = small_net(11);
    char path[256], err[512];
    tmp_path(path, sizeof path, "nan");
    net.params[3] = NAN;
    cr_assert_eq(dspn_save(&net, path, extra, N_EXTRA, err, sizeof err), DSTRAT_E_INVALID_ARG);
    cr_assert(strstr(err, "not finite"), "%s", err);
    net.params[3] = 0.25f;
    uint8_t *buf;
    size_t len;
    image(&net, &buf, &len);
    /* find the 0.25f and make it +inf in place, then reseal: the reader must still refuse it */
    const uint8_t quarter[4] = {0x00, 0x00, 0x80, 0x3e}, inf[4] = {0x00, 0x00, 0x80, 0x7f};
    size_t at = 0;
    for (size_t i = 0; i + 4 <= len - 8 && !at; i++)
        if (!memcmp(buf + i, quarter, 4)) at = i;
    cr_assert_gt(at, 0u);
    memcpy(buf + at, inf, 4);
    reseal(buf, len);
    dspf_file_t f;
    cr_assert_eq(dspf_parse(buf, len, "inf.dspol", &f, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, "not finite"), "%s", err);
    free(buf);
    dspn_free(&net);
}

/* writes a file with the radar tensor names but chosen shapes / header */
static void write_custom(const char *path, const char *network, uint32_t n_in, uint32_t n_hid, uint32_t n_mlp,
                         uint32_t bad_tensor, uint32_t n_tensors) {
    dspn_net_t net;
    cr_assert_eq(dspn_init(&net, n_in, n_hid, n_mlp), 0);
    dspn_init_random(&net, 3);
    char s_in[16], s_hid[16], s_mlp[16], err[512];
    snprintf(s_in, sizeof s_in, "%u", n_in);
    snprintf(s_hid, sizeof s_hid, "%u", n_hid);
    snprintf(s_mlp, sizeof s_mlp, "%u", n_mlp);
    dspf_kv_t kv[] = {{"network", network}, {"n_in", s_in}, {"n_hidden", s_hid}, {"n_mlp", s_mlp},
                      {"features", "radar-beam-cumlogp"}, {"target", "mock"}, {"draft", "mock"}};
    dspf_tensor_t t[DSPN_N_TENSORS];
    for (uint32_t i = 0; i < DSPN_N_TENSORS; i++) {
        memset(&t[i], 0, sizeof t[i]);
        snprintf(t[i].name, sizeof t[i].name, "%s", dspn_tensor_names[i]);
        uint32_t nd, dims[2];
        t[i].n = dspn_tensor_shape(&net, i, &nd, dims);
        t[i].ndim = nd;
        t[i].dims[0] = dims[0];
        t[i].dims[1] = nd > 1 ? dims[1] : 1;
        t[i].data = dspn_tensor(&net, i);
        if (i == bad_tensor && nd == 2) { /* same element count, transposed shape */
            t[i].dims[0] = dims[1];
            t[i].dims[1] = dims[0];
        }
    }
    cr_assert_eq(dspf_write(path, kv, sizeof kv / sizeof kv[0], t, n_tensors, err, sizeof err), 0, "%s", err);
    dspn_free(&net);
}

Test(policy_file, shape_and_network_mismatches) {
    char path[256], err[512];
    tmp_path(path, sizeof path, "shape");
    dspf_file_t f;
    dspn_net_t net;
    struct { const char *net; uint32_t bad, n_t; const char *want; } cases[] = {
        {"radar-lstm", 4, DSPN_N_TENSORS, "mlp.0.weight"},       /* transposed */
        {"radar-lstm", 99, DSPN_N_TENSORS - 1, "mlp.3.bias"},    /* missing tensor */
        {"ltd-mlp", 99, DSPN_N_TENSORS, "network is 'ltd-mlp'"}, /* another network kind */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_custom(path, cases[i].net, 3, 4, 5, cases[i].bad, cases[i].n_t);
        cr_assert_eq(dspf_read(path, &f, err, sizeof err), 0, "%s", err);
        cr_assert_eq(dspn_load(&net, &f, err, sizeof err), DSTRAT_E_INVALID_ARG, "case %zu", i);
        cr_assert(strstr(err, cases[i].want) && strstr(err, path), "case %zu: %s", i, err);
        cr_assert_null(net.params);
        dspf_free(&f);
    }
    remove(path);
}

/* ------------------------------------------------------------------------------ through the plugin */
static dstrat_status_t create_radar(const char *params, char *err, size_t cap) {
    char e2[512];
    const dstrat_entry_t *e = conf_entry("radar/dstrat_radar.so", e2, sizeof e2);
    cr_assert_not_null(e, "%s", e2);
    mock_cfg_t m = mock_default_cfg();
    sampler_params_t sp = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    conf_host_t *h = conf_host_new(&m, 0.8f, CONF_LAYOUT_CURRENT, sp, 1);
    char store[512];
    dstrat_param_t p[16];
    uint32_t n = conf_parse_params(params, store, sizeof store, p, 16);
    dstrat_strategy_t *s = NULL;
    err[0] = '\0';
    dstrat_status_t rc = e->strategy_create("radar", conf_host_abi(h), p, n, &s, err, cap);
    if (s) s->destroy(s);
    conf_host_free(h);
    return rc;
}

Test(policy_file, radar_create_errors_name_file_and_problem) {
    char path[256], params[600], err[512];
    tmp_path(path, sizeof path, "plugin");
    /* a good file first */
    write_custom(path, "radar-lstm", 10, 8, 8, 99, DSPN_N_TENSORS);
    snprintf(params, sizeof params, "policy=%s", path);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_OK, "%s", err);
    snprintf(params, sizeof params, "policy=%s target=mock draft=mock", path);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_OK, "%s", err);
    /* trained for another target / draft */
    snprintf(params, sizeof params, "policy=%s target=llama-8b", path);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_E_INVALID_ARG);
    cr_assert(strstr(err, path) && strstr(err, "target 'mock'") && strstr(err, "llama-8b"), "%s", err);
    snprintf(params, sizeof params, "policy=%s draft=other", path);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_E_INVALID_ARG);
    cr_assert(strstr(err, "draft"), "%s", err);
    /* features vs top_k */
    snprintf(params, sizeof params, "policy=%s top_k=8", path);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_E_INVALID_ARG);
    cr_assert(strstr(err, "top_k"), "%s", err);
    /* another network kind, a shape mismatch */
    write_custom(path, "ltd-mlp", 10, 8, 8, 99, DSPN_N_TENSORS);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_E_INVALID_ARG);
    write_custom(path, "radar-lstm", 10, 8, 8, 0, DSPN_N_TENSORS);
    snprintf(params, sizeof params, "policy=%s", path);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_E_INVALID_ARG);
    cr_assert(strstr(err, "lstm.weight_ih_l0") && strstr(err, path), "%s", err);
    /* truncated and missing files: E_IO */
    write_custom(path, "radar-lstm", 10, 8, 8, 99, DSPN_N_TENSORS);
    cr_assert_eq(truncate(path, 100), 0);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, path) && strstr(err, "truncated"), "%s", err);
    remove(path);
    cr_assert_eq(create_radar(params, err, sizeof err), DSTRAT_E_IO);
    cr_assert(strstr(err, path), "%s", err);
    /* cost_aware ignores the policy; builtin needs none */
    cr_assert_eq(create_radar("mode=cost_aware", err, sizeof err), DSTRAT_OK, "%s", err);
    cr_assert_eq(create_radar("", err, sizeof err), DSTRAT_OK, "%s", err);
}
