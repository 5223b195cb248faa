/* test_train_units.c - the RADAR trainer's pieces: gradients of both losses through the policy
 * network against finite differences, discounted returns, the log format (round trip, truncation
 * at every length, corruption), the cost-model fit, the exact simulator, and determinism of
 * training (same seed -> identical policy bytes). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_file.h"
#include "policy_net.h"
#include "radar_log.h"
#include "radar_train.h"

static uint64_t g_rng = 12345;
static double urand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double) (g_rng >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------------------ gradients */
typedef double (*loss_fn)(const float *logits, uint32_t T, const void *arg, float *dl);

typedef struct rf_arg {
    uint8_t act[8];
    double G[8];
} rf_arg_t;
static double rf_loss(const float *logits, uint32_t T, const void *arg, float *dl) {
    const rf_arg_t *a = arg;
    return rt_reinforce_loss(logits, T, a->act, a->G, 3.0, dl);
}
static double ex_loss(const float *logits, uint32_t T, const void *arg, float *dl) {
    return rt_expected_loss(logits, T, (const double *) arg, 2.0, dl);
}

static double loss_at(const dspn_net_t *net, dspn_cache_t *c, const float *x, uint32_t T, loss_fn f, const void *arg) {
    float dl[16];
    dspn_episode_forward(net, c, x, T);
    return f(c->logits, T, arg, dl);
}

static void gradcheck(loss_fn f, const void *arg, uint32_t T) {
    dspn_net_t net;
    cr_assert_eq(dspn_init(&net, 3, 5, 6), 0);
    dspn_init_random(&net, 99);
    for (size_t i = 0; i < net.n_params; i++) net.params[i] *= 3.0f; /* away from the linear regime */
    dspn_cache_t c;
    cr_assert_eq(dspn_cache_init(&c, &net, T), 0);
    float x[8 * 3];
    for (uint32_t i = 0; i < T * 3; i++) x[i] = (float) (-3.0 * urand());
    float *grad = calloc(net.n_params, sizeof *grad), *scratch = calloc(dspn_scratch_floats(&net), sizeof(float));
    float dl[16];
    dspn_episode_forward(&net, &c, x, T);
    f(c.logits, T, arg, dl);
    dspn_episode_backward(&net, &c, T, dl, grad, scratch);
    uint32_t checked = 0, nonzero = 0;
    for (size_t i = 0; i < net.n_params; i++) {
        const float w = net.params[i], eps = 1e-2f;
        net.params[i] = w + eps;
        const double lp = loss_at(&net, &c, x, T, f, arg);
        net.params[i] = w - eps;
        const double lm = loss_at(&net, &c, x, T, f, arg);
        net.params[i] = w;
        const double num = (lp - lm) / (2.0 * eps), ana = grad[i];
        const double tol = 2e-4 + 3e-2 * fmax(fabs(num), fabs(ana));
        cr_assert(fabs(num - ana) <= tol, "param %zu: finite difference %.6g, backprop %.6g", i, num, ana);
        checked++;
        nonzero += fabs(ana) > 1e-5;
    }
    cr_assert_eq(checked, net.n_params);
    cr_assert(nonzero > net.n_params / 4, "only %u of %zu gradients are non-zero", nonzero, net.n_params);
    free(grad);
    free(scratch);
    dspn_cache_free(&c);
    dspn_free(&net);
}

Test(train_grad, reinforce_loss_matches_finite_differences) {
    rf_arg_t a = {.act = {DSPN_CONTINUE, DSPN_CONTINUE, DSPN_STOP, DSPN_CONTINUE}, .G = {0.7, -0.4, 1.3, 0.0}};
    gradcheck(rf_loss, &a, 4);
}

Test(train_grad, expected_loss_matches_finite_differences) {
    const double v[5] = {0.2, 1.5, -0.3, 0.9, 0.4};
    gradcheck(ex_loss, v, 4);
}

Test(train_grad, expected_loss_is_the_stop_distribution_average) {
    /* logits with p(stop) = 0.25, 0.5: P(0) = .25, P(1) = .75 * .5, P(2) = .375 */
    const float l[4] = {0.0f, logf(3.0f), 0.0f, 0.0f};
    const double v[3] = {4.0, 2.0, 8.0};
    float dl[4];
    const double loss = rt_expected_loss(l, 2, v, 1.0, dl);
    cr_assert_float_eq(loss, -(0.25 * 4 + 0.375 * 2 + 0.375 * 8), 1e-6);
}

Test(train_grad, returns_discount_and_fold_the_final_step) {
    double G[4];
    rt_returns(3, 1, 2.0, 0.1, 0.5, G); /* r = -0.1, 2 (stop at 1) */
    cr_assert_float_eq(G[0], -0.1 + 0.5 * 2.0, 1e-12);
    cr_assert_float_eq(G[1], 2.0, 1e-12);
    cr_assert_float_eq(G[2], 0.0, 1e-12);
    rt_returns(3, 3, 2.0, 0.1, 0.5, G); /* never stopped: reward at virtual step 3 */
    cr_assert_float_eq(G[2], -0.1 + 0.5 * 2.0, 1e-12);
    cr_assert_float_eq(G[1], -0.1 + 0.5 * G[2], 1e-12);
    cr_assert_float_eq(G[0], -0.1 + 0.5 * G[1], 1e-12);
}

/* ------------------------------------------------------------------------------ logs */
static char g_tmp[64];
static void mk_tmp(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/dstrat_train_XXXXXX");
    cr_assert_not_null(mkdtemp(g_tmp));
}
static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    cr_assert_eq(system(cmd), 0);
}

/* n synthetic cycles: deeper levels accept more when the first state is confident */
static void synth_cycle(rl_cycle_t *c, uint32_t levels, uint32_t k) {
    memset(c, 0, sizeof *c);
    c->n_levels = levels;
    c->top_k = k;
    c->n_context = 10 + (uint32_t) (urand() * 100);
    const double conf = urand();
    uint32_t acc = 0;
    for (uint32_t l = 0; l < levels; l++) {
        for (uint32_t q = 0; q < k; q++) c->state[l][q] = (float) (-(l + 1) * (1.0 - conf) * 2.0 - q * 0.5);
        if (acc == l && urand() < conf) acc++;
        c->acc[l] = acc;
        c->n_nodes[l] = l == 0 ? k : 3 * k;
        c->t_level_ns[l] = l == 0 ? 100 : 300;
    }
    c->n_union = 1 + 3 * k * levels / 2;
    c->t_verify_union_ns = 1000 + 50 * (uint64_t) c->n_union;
}

static void write_log(const char *path, uint32_t n, uint32_t k, uint32_t levels) {
    rl_writer_t w;
    char err[256], bk[8], bd[8];
    snprintf(bk, sizeof bk, "%u", k);
    snprintf(bd, sizeof bd, "%u", levels);
    const rl_kv_t kv[] = {{"top_k", bk}, {"max_depth", bd}, {"total_tokens", "13"}, {"target", "tgt"},
                          {"draft", "drf"}, {"temperature", "0"}, {"t_policy_ns", "20"}};
    cr_assert_eq(rl_writer_open(&w, path, kv, 7, err, sizeof err), 0, "%s", err);
    for (uint32_t i = 0; i < n; i++) {
        rl_cycle_t c;
        synth_cycle(&c, levels, k);
        cr_assert_eq(rl_write_cycle(&w, &c), 0);
        if (i % 10 == 0) {
            const uint32_t sz[3] = {1, 10, 20};
            rl_timing_t t = {sz[i / 10 % 3], 50, 1000 + 50 * (uint64_t) sz[i / 10 % 3]};
            cr_assert_eq(rl_write_timing(&w, &t), 0);
        }
    }
    cr_assert_eq(rl_writer_close(&w, err, sizeof err), 0, "%s", err);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t) ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

TestSuite(train_log, .init = mk_tmp, .fini = rm_tmp);

Test(train_log, round_trip_keeps_every_field) {
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/a.rlog", g_tmp);
    rl_writer_t w;
    const rl_kv_t kv[] = {{"top_k", "3"}, {"target", "SmolLM2 x"}};
    cr_assert_eq(rl_writer_open(&w, path, kv, 2, err, sizeof err), 0, "%s", err);
    rl_cycle_t in[5];
    for (int i = 0; i < 5; i++) {
        synth_cycle(&in[i], 1 + (uint32_t) i, 3);
        in[i].t_level_ns[0] = 123456789012ull + (uint64_t) i;
        cr_assert_eq(rl_write_cycle(&w, &in[i]), 0);
    }
    rl_timing_t t = {7, 99, 555};
    cr_assert_eq(rl_write_timing(&w, &t), 0);
    cr_assert_eq(rl_writer_close(&w, err, sizeof err), 0);
    rl_log_t l;
    cr_assert_eq(rl_read(path, &l, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(rl_get(&l, "target"), "SmolLM2 x");
    cr_assert_str_eq(rl_get(&l, "top_k"), "3");
    cr_assert_null(rl_get(&l, "nope"));
    cr_assert_eq(l.n_cycles, 5);
    cr_assert_eq(l.n_timings, 1);
    cr_assert_eq(l.timings[0].n_tokens, 7);
    cr_assert_eq(l.timings[0].n_context, 99);
    cr_assert_eq(l.timings[0].t_ns, 555);
    for (int i = 0; i < 5; i++) {
        const rl_cycle_t *a = &in[i], *b = &l.cycles[i];
        cr_assert_eq(b->n_levels, a->n_levels);
        cr_assert_eq(b->top_k, 3);
        cr_assert_eq(b->n_union, a->n_union);
        cr_assert_eq(b->n_context, a->n_context);
        cr_assert_eq(b->t_verify_union_ns, a->t_verify_union_ns);
        for (uint32_t lv = 0; lv < a->n_levels; lv++) {
            cr_assert_eq(b->acc[lv], a->acc[lv]);
            cr_assert_eq(b->n_nodes[lv], a->n_nodes[lv]);
            cr_assert_eq(b->t_level_ns[lv], a->t_level_ns[lv]);
            cr_assert_eq(memcmp(b->state[lv], a->state[lv], 3 * sizeof(float)), 0);
        }
    }
    rl_log_free(&l);
}

Test(train_log, truncation_at_every_length_is_a_clear_error) {
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/b.rlog", g_tmp);
    write_log(path, 12, 4, 3);
    size_t n;
    uint8_t *b = slurp(path, &n);
    rl_log_t l;
    cr_assert_eq(rl_parse(b, n, "b.rlog", &l, err, sizeof err), 0, "%s", err);
    cr_assert_eq(l.n_cycles, 12);
    rl_log_free(&l);
    for (size_t len = 0; len < n; len++) {
        err[0] = '\0';
        cr_assert_eq(rl_parse(b, len, "b.rlog", &l, err, sizeof err), -1, "accepted a log cut at %zu of %zu", len, n);
        cr_assert_null(l.cycles);
        if (len >= 8) cr_assert_not_null(strstr(err, "truncated"), "cut at %zu: '%s'", len, err);
        cr_assert_not_null(strstr(err, "b.rlog"), "message does not name the file: %s", err);
    }
    free(b);
}

Test(train_log, corruption_and_bad_files_are_rejected) {
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/c.rlog", g_tmp);
    write_log(path, 5, 4, 3);
    size_t n;
    uint8_t *b = slurp(path, &n);
    rl_log_t l;
    /* the first cycle's union verify time: not range-checked, so only the checksum catches it */
    size_t h = (size_t) b[12] | (size_t) b[13] << 8;
    b[16 + h + 8 + 16] ^= 0x40;
    cr_assert_eq(rl_parse(b, n, "c.rlog", &l, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "checksum"), "%s", err);
    b[16 + h + 8 + 16] ^= 0x40;
    b[3] = 'X';
    cr_assert_eq(rl_parse(b, n, "c.rlog", &l, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "not a radar log"), "%s", err);
    free(b);
    cr_assert_eq(rl_read("/nonexistent/x.rlog", &l, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "/nonexistent/x.rlog"));
}

/* ------------------------------------------------------------------------------ data, cost, eval */
Test(train_log, cost_fit_recovers_the_measured_times) {
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/d.rlog", g_tmp);
    write_log(path, 40, 4, 3);
    const char *logs[1] = {path};
    rt_data_t d;
    cr_assert_eq(rt_data_load(&d, logs, 1, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(d.cost.t_first_ns, 100.0, 1e-9);
    cr_assert_float_eq(d.cost.t_call_ns, 300.0, 1e-9);
    cr_assert_float_eq(d.cost.va_ns, 1000.0, 1e-6);
    cr_assert_float_eq(d.cost.vb_ns, 50.0, 1e-6);
    cr_assert_float_eq(d.cost.t_policy_ns, 20.0, 1e-9);
    cr_assert_eq(d.n_ep, 40);
    cr_assert_eq(d.n_in, 4);
    cr_assert_str_eq(d.target, "tgt");
    /* t(a) for a = 1: first + 1 call + verify(13 nodes) + 2 decisions */
    cr_assert_float_eq(d.ep[0].t[1], (100 + 300 + 1000 + 50 * 13 + 20 * 2) * 1e-9, 1e-15);
    /* the simulator: a fixed stop gives exactly the logged outcomes */
    rt_eval_t e;
    rt_evaluate(NULL, 0, 1, &d, NULL, d.n_ep, &e);
    double tok = 0, sec = 0;
    for (size_t i = 0; i < d.n_ep; i++) {
        tok += d.ep[i].acc[1] + 1.0;
        sec += d.ep[i].t[1];
    }
    cr_assert_float_eq(e.tokens, tok, 1e-9);
    cr_assert_float_eq(e.rate, tok / sec, 1e-6 * tok / sec);
    cr_assert_float_eq(e.calls, 2.0, 1e-12);
    rt_eval_t o;
    rt_evaluate(NULL, 0, -1, &d, NULL, d.n_ep, &o);
    for (uint32_t a = 0; a < 3; a++) {
        rt_evaluate(NULL, 0, (int) a, &d, NULL, d.n_ep, &e);
        cr_assert(o.tokens / o.seconds >= e.rate * 0.999, "oracle below fixed stop %u", a);
    }
    rt_data_free(&d);
    const char *two[2] = {path, path};
    cr_assert_eq(rt_data_load(&d, two, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n_ep, 80);
    rt_data_free(&d);
}

static void train_to(const char *log, const char *out, int algo, uint64_t seed) {
    char err[512];
    const char *logs[1] = {log};
    rt_data_t d;
    cr_assert_eq(rt_data_load(&d, logs, 1, err, sizeof err), 0, "%s", err);
    rt_opts_t o = rt_default_opts(algo);
    o.seed = seed;
    o.epochs = 4;
    o.n_hidden = 8;
    o.n_mlp = 8;
    o.batch = 16;
    o.progress = 0;
    dspn_net_t net;
    rt_result_t r;
    cr_assert_eq(rt_train(&d, &o, &net, &r, err, sizeof err), 0, "%s", err);
    cr_assert(r.best_epoch >= 1 && r.best_epoch <= 4);
    cr_assert_eq(rt_save(&net, out, &d, &o, &r, logs, 1, err, sizeof err), 0, "%s", err);
    dspn_free(&net);
    rt_data_free(&d);
}

static int same_bytes(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
    const int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

Test(train_log, training_is_deterministic_per_seed) {
    char log[128], p[4][160];
    snprintf(log, sizeof log, "%s/e.rlog", g_tmp);
    write_log(log, 120, 4, 4);
    for (int algo = 0; algo < 2; algo++) {
        for (int i = 0; i < 3; i++) snprintf(p[i], sizeof p[i], "%s/p%d_%d.dspol", g_tmp, algo, i);
        train_to(log, p[0], algo, 7);
        train_to(log, p[1], algo, 7);
        train_to(log, p[2], algo, 8);
        cr_assert(same_bytes(p[0], p[1]), "algo %d: same seed, different bytes", algo);
        cr_assert(!same_bytes(p[0], p[2]), "algo %d: another seed gave the same bytes", algo);
        /* the file is a loadable radar-lstm with the metadata */
        dspf_file_t f;
        char err[512];
        cr_assert_eq(dspf_read(p[0], &f, err, sizeof err), 0, "%s", err);
        dspn_net_t net;
        cr_assert_eq(dspn_load(&net, &f, err, sizeof err), 0, "%s", err);
        cr_assert_eq(net.n_in, 4);
        cr_assert_str_eq(dspf_get(&f, "features"), "radar-beam-cumlogp");
        cr_assert_str_eq(dspf_get(&f, "target"), "tgt");
        cr_assert_str_eq(dspf_get(&f, "draft"), "drf");
        cr_assert_str_eq(dspf_get(&f, "train.algorithm"), algo ? "expected" : "reinforce");
        cr_assert_not_null(dspf_get(&f, "cost.t_verify_b_ns"));
        dspn_free(&net);
        dspf_free(&f);
    }
}
