/* test_ltd_ppo.c - LTD's PPO trainer: the clipped-surrogate loss gradient against finite
 * differences, the clipping cases, GAE on a hand-worked example, sampling, and the online trainer
 * (ltd_online) driven through its hooks by a synthetic draft/verify environment: it must learn
 * policies that beat the builtin rule, keep the stage schedule, write a loadable policy file, and be
 * byte-for-byte deterministic for a seed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ltd_online.h"
#include "ltd_ppo.h"
#include "mlp.h"
#include "policy_file.h"

/* ------------------------------------------------------------------------------ loss */
/* float64 reference of the per-sample loss */
static double ref_loss(const double *z, uint32_t n, uint32_t a, double logp_old, double A, double clip, double ent) {
    double mx = z[0];
    for (uint32_t i = 1; i < n; i++) mx = fmax(mx, z[i]);
    double s = 0;
    for (uint32_t i = 0; i < n; i++) s += exp(z[i] - mx);
    const double lse = mx + log(s);
    double H = 0;
    for (uint32_t i = 0; i < n; i++) H -= exp(z[i] - lse) * (z[i] - lse);
    const double r = exp(z[a] - lse - logp_old);
    const double rc = fmin(fmax(r, 1 - clip), 1 + clip);
    return -fmin(r * A, rc * A) - ent * H;
}

static void check_grad(const float *logits, uint32_t n, uint32_t a, float logp_old, float A, double clip, double ent) {
    float dl[8];
    double r;
    const double L = ppo_loss(logits, n, a, logp_old, A, clip, ent, dl, &r, NULL);
    double z[8];
    for (uint32_t i = 0; i < n; i++) z[i] = logits[i];
    cr_assert_float_eq(L, ref_loss(z, n, a, logp_old, A, clip, ent), 1e-5);
    for (uint32_t i = 0; i < n; i++) {
        const double e = 1e-6, s = z[i];
        z[i] = s + e;
        const double lp = ref_loss(z, n, a, logp_old, A, clip, ent);
        z[i] = s - e;
        const double lm = ref_loss(z, n, a, logp_old, A, clip, ent);
        z[i] = s;
        const double fd = (lp - lm) / (2 * e);
        cr_assert(fabs(fd - dl[i]) <= 1e-4 * fmax(1.0, fabs(fd)), "logit %u: analytic %g, finite difference %g (ratio %g)",
                  i, dl[i], fd, r);
    }
}

Test(ppo, loss_gradient_matches_finite_differences) {
    const float z[5] = {0.3f, -1.2f, 2.0f, 0.0f, 0.7f};
    float lp[5];
    dsmlp_log_softmax(z, 5, lp);
    for (uint32_t a = 0; a < 5; a++) {
        /* ratio near 1 (inside the band), with and without entropy, both advantage signs */
        check_grad(z, 5, a, lp[a] + 0.05f, 1.3f, 0.2, 0.0);
        check_grad(z, 5, a, lp[a] - 0.05f, -0.7f, 0.2, 0.05);
        /* outside the band on the side where the unclipped term is smaller */
        check_grad(z, 5, a, lp[a] + 1.0f, 0.9f, 0.2, 0.01);  /* r = e^-1 < 0.8, A > 0 */
        check_grad(z, 5, a, lp[a] - 1.0f, -0.9f, 0.2, 0.01); /* r = e > 1.2, A < 0 */
    }
}

Test(ppo, clipping_zeroes_the_gradient_outside_the_band) {
    const float z[3] = {0.5f, -0.5f, 1.0f};
    float lp[3], dl[3];
    dsmlp_log_softmax(z, 3, lp);
    double r;
    /* A > 0 and r > 1 + clip: clipped, no gradient, loss = -(1 + clip) A */
    double L = ppo_loss(z, 3, 1, lp[1] - 0.5f, 2.0f, 0.2, 0.0, dl, &r, NULL);
    cr_assert_gt(r, 1.2);
    cr_assert_float_eq(L, -1.2 * 2.0, 1e-6);
    for (int i = 0; i < 3; i++) cr_assert_eq(dl[i], 0.0f);
    /* A < 0 and r < 1 - clip: clipped, no gradient, loss = -(1 - clip) A */
    L = ppo_loss(z, 3, 2, lp[2] + 0.5f, -2.0f, 0.2, 0.0, dl, &r, NULL);
    cr_assert_lt(r, 0.8);
    cr_assert_float_eq(L, 0.8 * 2.0, 1e-6);
    for (int i = 0; i < 3; i++) cr_assert_eq(dl[i], 0.0f);
    /* the other sides are not clipped: the gradient pushes the ratio back */
    L = ppo_loss(z, 3, 1, lp[1] + 0.5f, 2.0f, 0.2, 0.0, dl, &r, NULL); /* r < 0.8, A > 0 */
    cr_assert_lt(dl[1], 0.0f, "raising logit 1 must lower the loss");
    L = ppo_loss(z, 3, 1, lp[1] - 0.5f, -2.0f, 0.2, 0.0, dl, &r, NULL); /* r > 1.2, A < 0 */
    cr_assert_gt(dl[1], 0.0f);
    /* with an entropy bonus the clipped case keeps only the entropy gradient (sums to zero) */
    ppo_loss(z, 3, 1, lp[1] - 0.5f, 2.0f, 0.2, 0.1, dl, &r, NULL);
    cr_assert_float_eq(dl[0] + dl[1] + dl[2], 0.0f, 1e-6f);
    cr_assert_gt(dl[2], 0.0f, "entropy pushes the most likely logit down");
}

Test(ppo, value_loss_and_normalize) {
    float dv;
    cr_assert_float_eq(ppo_value_loss(3.0f, 1.0f, 0.5, &dv), 2.0, 1e-9);
    cr_assert_float_eq(dv, 2.0f, 1e-6f);
    float x[4] = {1, 2, 3, 6};
    ppo_normalize(x, 4);
    double s = 0, q = 0;
    for (int i = 0; i < 4; i++) s += x[i], q += x[i] * x[i];
    cr_assert_float_eq(s, 0.0, 1e-6);
    cr_assert_float_eq(q / 4, 1.0, 1e-5);
    cr_assert_float_eq(x[0], (1 - 3) / sqrt(3.5), 1e-6);
}

Test(ppo, gae_hand_worked) {
    /* episode 1: steps 0,1,2 (reward only at the end); episode 2: step 3 (one step) */
    const float r[4] = {0, 0, 1, 2}, v[4] = {0.5f, 0.6f, 0.8f, 1.0f};
    const uint8_t d[4] = {0, 0, 1, 1};
    float adv[4], ret[4];
    const double g = 0.9, l = 0.5;
    ppo_gae(r, v, d, 4, 99.0f, g, l, adv, ret);
    /* step 3: delta = 2 - 1 = 1 (terminal: last_value unused) */
    cr_assert_float_eq(adv[3], 1.0f, 1e-6f);
    /* step 2: delta = 1 - 0.8 = 0.2; terminal, so A = 0.2 */
    cr_assert_float_eq(adv[2], 0.2f, 1e-6f);
    /* step 1: delta = 0 + 0.9*0.8 - 0.6 = 0.12; A = 0.12 + 0.45*0.2 = 0.21 */
    cr_assert_float_eq(adv[1], 0.21f, 1e-6f);
    /* step 0: delta = 0.9*0.6 - 0.5 = 0.04; A = 0.04 + 0.45*0.21 = 0.1345 */
    cr_assert_float_eq(adv[0], 0.1345f, 1e-6f);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(ret[i], adv[i] + v[i], 1e-6f);
    /* a buffer ending mid-episode bootstraps from last_value */
    const uint8_t d2[1] = {0};
    ppo_gae(r, v, d2, 1, 2.0f, g, l, adv, ret);
    cr_assert_float_eq(adv[0], 0.9f * 2.0f - 0.5f, 1e-6f);
}

Test(ppo, sample_follows_softmax_and_rng_is_seeded) {
    const float z[3] = {0.0f, log(2.0f), log(5.0f)}; /* probabilities 1/8, 2/8, 5/8 */
    uint64_t s1 = 42, s2 = 42;
    uint32_t cnt[3] = {0};
    for (int i = 0; i < 80000; i++) {
        float lp;
        const uint32_t k = ppo_sample(z, 3, ppo_rng_u01(&s1), &lp);
        cnt[k]++;
        cr_assert_float_eq(lp, log((k == 0 ? 1 : k == 1 ? 2 : 5) / 8.0), 1e-5);
    }
    cr_assert_float_eq(cnt[0] / 80000.0, 0.125, 0.01);
    cr_assert_float_eq(cnt[2] / 80000.0, 0.625, 0.01);
    for (int i = 0; i < 80000; i++) ppo_rng_next(&s2);
    cr_assert_eq(s1, s2);
    cr_assert_eq(ppo_sample(z, 3, 0.0, NULL), 0);
    cr_assert_eq(ppo_sample(z, 3, 0.999999, NULL), 2);
}

/* ------------------------------------------------------------------------------ synthetic env */
/* Per cycle a "quality" q ~ U(0,1) that the observations show; the draft would be accepted for
 * L = floor(6 q) tokens. Drafting d levels (depth decisions after each draft call, builtin: 3) and
 * verifying V nodes (size action; builtin: V = 4) accepts min(L, d, V). The cost model charges
 * draft calls and V: deep/large trees pay only when q is high. */
static const uint32_t SIZES[4] = {1, 2, 4, 8};
#define MAXD 6

static void obs_depth(float *o, double q, uint32_t d) {
    o[0] = (float) q;
    o[1] = -(float) d / 10.0f;
    o[2] = 0.1f;
    o[3] = (float) d / 10.0f;
}

static double run_env(lo_trainer_t *t, uint64_t *rng, uint32_t cycles, double *tok_out) {
    double tok = 0, ms = 0;
    for (uint32_t c = 0; c < cycles; c++) {
        const double q = ppo_rng_u01(rng);
        const uint32_t L = (uint32_t) (q * 6);
        uint32_t d = 1;
        while (d < MAXD) {
            float o[4];
            obs_depth(o, q, d);
            const int32_t a = lo_decide(t, DSTRAT_LTD_DEPTH, o, 4, 2);
            if (a == 0 || (a < 0 && d >= 3)) break;
            d++;
        }
        const float os[5] = {(float) q, (float) q * 0.5f, -1.0f, 0.1f, (float) d / 10.0f};
        const int32_t s = lo_decide(t, DSTRAT_LTD_SIZE, os, 5, 4);
        const uint32_t V = s < 0 ? 4 : SIZES[s];
        uint32_t acc = L < d ? L : d;
        if (acc > V) acc = V;
        dstrat_cycle_stats_t st = {.struct_size = sizeof st, .n_draft_calls = d, .n_verified = V + 1,
                                   .n_accepted = acc + 1, .n_context = 100};
        tok += acc + 1;
        ms += lo_cycle_ms(&t->s, &st);
        lo_cycle(t, &st);
        if (c % 40 == 39) lo_end_sequence(t); /* prompt boundaries */
    }
    if (tok_out) *tok_out = tok;
    return tok / ms;
}

static lo_settings_t env_settings(uint64_t seed) {
    lo_settings_t s = lo_default_settings();
    s.steps = 2500;
    s.seed = seed;
    s.lr = 3e-3;
    s.ppo.hidden[0] = s.ppo.hidden[1] = 32;
    s.ppo.rollout = 128;
    s.ppo.minibatch = 32;
    s.cost = (lo_cost_t) {1.0, 4.0, 0.5};
    return s;
}

static const dstrat_ltd_layout_t LAYOUT = {sizeof(dstrat_ltd_layout_t), 2, 3, 4, {1, 2, 4, 8}, MAXD};

Test(ltd_online, learns_better_than_the_builtin_rule_and_saves) {
    lo_settings_t s = env_settings(5);
    lo_trainer_t t;
    char err[256];
    cr_assert_eq(lo_init(&t, &LAYOUT, &s, err, sizeof err), 0, "%s", err);
    /* the builtin rule's rate on the same environment (no agent answers yet: lo_decide returns -1
     * for the untrained kind; measure with a trainer whose stage list is exhausted) */
    lo_trainer_t base;
    cr_assert_eq(lo_init(&base, &LAYOUT, &s, err, sizeof err), 0, "%s", err);
    base.stage = base.s.n_stages;
    const int had[2] = {base.have[0], base.have[1]};
    base.have[0] = base.have[1] = 0; /* builtin for both: the agents exist but are not consulted */
    uint64_t er = 777;
    const double builtin = run_env(&base, &er, 4000, NULL);
    base.have[0] = had[0];
    base.have[1] = had[1];

    uint64_t rng = 1;
    run_env(&t, &rng, 3 * 2500, NULL);
    cr_assert(lo_finished(&t), "three stages of 2500 cycles each");
    cr_assert_eq(t.failed, 0, "%s", t.error);
    for (int i = 0; i < 3; i++) {
        cr_assert_geq(t.res[i].updates, 10);
        cr_assert_eq(t.res[i].cycles, 2500);
    }
    cr_assert_eq(t.res[0].kind, DSTRAT_LTD_SIZE);
    cr_assert_eq(t.res[1].kind, DSTRAT_LTD_DEPTH);
    er = 777;
    const double learned = run_env(&t, &er, 4000, NULL);
    cr_log_info("builtin %.4f tok/ms, learned %.4f tok/ms; stage best rates %.4f %.4f %.4f", builtin, learned,
                t.res[0].best_rate, t.res[1].best_rate, t.res[2].best_rate);
    cr_assert_gt(learned, 1.15 * builtin, "learned %.4f vs builtin %.4f", learned, builtin);
    cr_assert_gt(t.res[0].best_rate, t.res[0].first_rate);

    /* the file: header and both actors loadable, greedy decisions identical */
    char path[] = "/tmp/test_ltd_ppo_XXXXXX";
    const int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    const dspf_kv_t extra[2] = {{"target", "synthetic"}, {"draft", "none"}};
    cr_assert_eq(lo_save(&t, path, extra, 2, err, sizeof err), 0, "%s", err);
    dspf_file_t f;
    cr_assert_eq(dspf_read(path, &f, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(dspf_get(&f, "network"), "ltd-mlp");
    cr_assert_str_eq(dspf_get(&f, "features"), "ltd-v1");
    cr_assert_str_eq(dspf_get(&f, "sizes"), "1,2,4,8");
    cr_assert_str_eq(dspf_get(&f, "n_level"), "2");
    cr_assert_str_eq(dspf_get(&f, "n_pool"), "3");
    cr_assert_str_eq(dspf_get(&f, "target"), "synthetic");
    cr_assert_str_eq(dspf_get(&f, "train.stages"), "size,depth,size");
    cr_assert_str_eq(dspf_get(&f, "cost.verify_a_ms"), "4");
    cr_assert_str_eq(dspf_get(&f, "depth.layers"), "4,32,32,2");
    cr_assert_str_eq(dspf_get(&f, "size.layers"), "5,32,32,4");
    dsmlp_t dm, sm;
    cr_assert_eq(dsmlp_load(&dm, &f, "depth", err, sizeof err), 0, "%s", err);
    cr_assert_eq(dsmlp_load(&sm, &f, "size", err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(dm.params, t.agent[DSTRAT_LTD_DEPTH].actor.params, dm.n_params * sizeof(float)), 0);
    cr_assert_eq(memcmp(sm.params, t.agent[DSTRAT_LTD_SIZE].actor.params, sm.n_params * sizeof(float)), 0);
    dsmlp_free(&dm);
    dsmlp_free(&sm);
    dspf_free(&f);
    unlink(path);
    lo_free(&base);
    lo_free(&t);
}

Test(ltd_online, validation_checkpoints_and_waits_between_stages) {
    lo_settings_t s = env_settings(5);
    s.val_every = 4;
    s.steps = 1500;
    lo_trainer_t t;
    char err[256];
    cr_assert_eq(lo_init(&t, &LAYOUT, &s, err, sizeof err), 0, "%s", err);
    uint64_t rng = 1;
    uint32_t passes = 0, waits = 0;
    while (!lo_finished(&t)) {
        if (lo_needs_validation(&t)) {
            const uint32_t stage = t.stage;
            lo_eval_begin(&t);
            uint64_t vr = 4242, n = 0; /* the same held-out cycles every pass */
            run_env(&t, &vr, 300, NULL);
            const double rate = lo_eval_end(&t, &n);
            cr_assert_eq(n, 300);
            cr_assert_eq(t.stage, stage, "a validation pass must not train");
            lo_checkpoint(&t, rate);
            passes++;
            if (lo_awaiting(&t)) {
                waits++;
                lo_next_stage(&t);
            }
            continue;
        }
        const uint64_t before = t.stage_cycles;
        run_env(&t, &rng, 40, NULL);
        if (lo_awaiting(&t)) cr_assert_geq(t.stage_cycles, before);
    }
    cr_assert_eq(waits, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_geq(t.res[i].n_val, 3);
        cr_assert_geq(t.res[i].val_best, t.res[i].val_first);
        cr_assert_eq(t.res[i].cycles, 1500);
    }
    /* the kept actors are the validated best: a last pass reproduces the best stage-3 rate */
    lo_eval_begin(&t);
    uint64_t vr = 4242;
    run_env(&t, &vr, 300, NULL);
    const double final_rate = lo_eval_end(&t, NULL);
    cr_assert_float_eq(final_rate, t.res[2].val_best, 1e-12);
    lo_trainer_t base;
    cr_assert_eq(lo_init(&base, &LAYOUT, &s, err, sizeof err), 0, "%s", err);
    lo_eval_begin(&base);
    const int had = base.have[DSTRAT_LTD_SIZE];
    base.have[DSTRAT_LTD_SIZE] = 0;
    vr = 4242;
    run_env(&base, &vr, 300, NULL);
    const double builtin = lo_eval_end(&base, NULL);
    base.have[DSTRAT_LTD_SIZE] = had;
    cr_log_info("validation: builtin %.4f, final %.4f (%u passes)", builtin, final_rate, passes);
    cr_assert_gt(final_rate, 1.1 * builtin);
    lo_free(&base);
    lo_free(&t);
}

static uint8_t *train_bytes(uint64_t seed, size_t *len) {
    lo_settings_t s = env_settings(seed);
    s.steps = 400;
    lo_trainer_t t;
    char err[256];
    cr_assert_eq(lo_init(&t, &LAYOUT, &s, err, sizeof err), 0, "%s", err);
    uint64_t rng = 9;
    run_env(&t, &rng, 3 * 400, NULL);
    cr_assert(lo_finished(&t));
    char path[] = "/tmp/test_ltd_det_XXXXXX";
    const int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(lo_save(&t, path, NULL, 0, err, sizeof err), 0, "%s", err);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    *len = (size_t) ftell(fp);
    rewind(fp);
    uint8_t *b = malloc(*len);
    cr_assert_eq(fread(b, 1, *len, fp), *len);
    fclose(fp);
    unlink(path);
    lo_free(&t);
    return b;
}

Test(ltd_online, same_seed_same_bytes) {
    size_t la, lb, lc;
    uint8_t *a = train_bytes(3, &la), *b = train_bytes(3, &lb), *c = train_bytes(4, &lc);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(a, b, la), 0, "same seed, different policy bytes");
    cr_assert(la != lc || memcmp(a, c, la) != 0, "another seed gave the same bytes");
    free(a);
    free(b);
    free(c);
}

Test(ltd_online, rejects_bad_layouts_and_observations) {
    lo_settings_t s = env_settings(1);
    lo_trainer_t t;
    char err[256];
    dstrat_ltd_layout_t bad = LAYOUT;
    bad.n_sizes = 1;
    cr_assert_eq(lo_init(&t, &bad, &s, err, sizeof err), DSTRAT_E_INVALID_ARG);
    cr_assert(strstr(err, "n_sizes 1") != NULL, "%s", err);
    lo_settings_t s2 = s;
    cr_assert_eq(lo_parse_stages("size,depth,size", &s2), 0);
    cr_assert_eq(s2.n_stages, 3);
    cr_assert_eq(lo_parse_stages("depth", &s2), 0);
    cr_assert_eq(s2.stages[0], DSTRAT_LTD_DEPTH);
    cr_assert_eq(lo_parse_stages("size,", &s2), -1);
    cr_assert_eq(lo_parse_stages("sizes", &s2), -1);
    cr_assert_eq(lo_parse_stages("", &s2), -1);
    cr_assert_eq(lo_init(&t, &LAYOUT, &s, err, sizeof err), 0, "%s", err);
    const float o[5] = {0};
    cr_assert_eq(lo_decide(&t, DSTRAT_LTD_SIZE, o, 4, 4), -1); /* size wants 5 observations */
    cr_assert(t.failed);
    cr_assert(strstr(t.error, "does not match the layout") != NULL, "%s", t.error);
    lo_free(&t);
}
