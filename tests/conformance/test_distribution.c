/* test_distribution.c - under sampling, each strategy's output must follow the target's
 * distribution: over 20,000 seeds, the joint distribution of the first two generated tokens from
 * a fixed context is compared with the exact one (from the mock target and the host sampler)
 * by a chi-square test (buckets pooled to expected counts >= 5). Negative controls prove the
 * test can fail: a naive speculative rule (accept the draft with probability p(x), else resample
 * p) and a temperature mismatch must both be rejected. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_util.h"
#include "sampler.h"
#include "walk.h"

#ifndef N_SAMPLES
#define N_SAMPLES 20000
#endif
#define V 64
#define P_MIN 0.001

static const int32_t prompt[] = {5, 17, 42, 8, 33, 1};
#define N_PROMPT (sizeof prompt / sizeof prompt[0])

static mock_cfg_t model(void) {
    mock_cfg_t m = mock_default_cfg();
    m.n_vocab = V;
    m.sharpness = 2.0f; /* broad distributions: many cells carry mass */
    m.seed = 99;
    return m;
}

/* exact joint P(x1, x2) = P(x1 | prompt) P(x2 | prompt, x1) after the sampler chain */
static void exact_joint(const mock_cfg_t *m, sampler_params_t sp, double *joint) {
    int32_t ctx[N_PROMPT + 1];
    float logits[V], logp[V], logp2[V];
    static char scratch[V * 8];
    memcpy(ctx, prompt, sizeof prompt);
    mock_logits(m, MOCK_SALT_TARGET, ctx, N_PROMPT, logits);
    sampler_logp(&sp, logits, V, logp, scratch);
    for (int x = 0; x < V; x++) {
        const double p1 = isfinite(logp[x]) ? exp((double) logp[x]) : 0.0;
        ctx[N_PROMPT] = x;
        mock_logits(m, MOCK_SALT_TARGET, ctx, N_PROMPT + 1, logits);
        sampler_logp(&sp, logits, V, logp2, scratch);
        for (int y = 0; y < V; y++) joint[x * V + y] = p1 * (isfinite(logp2[y]) ? exp((double) logp2[y]) : 0.0);
    }
}

static double run_case(const char *file, const char *id, const char *params, float agreement,
                       sampler_params_t sp, const double *joint, const char *label) {
    static uint64_t counts[V * V];
    memset(counts, 0, sizeof counts);
    const mock_cfg_t m = model();
    uint64_t cycles = 0, gen = 0;
    for (uint32_t s = 0; s < N_SAMPLES; s++) {
        int32_t out[2];
        conf_run_t r = {.file = file, .id = id, .params = params, .model = m, .agreement = agreement,
                        .sampling = sp, .seed = UINT64_C(1000003) * s + 7, .prompt = prompt,
                        .n_prompt = N_PROMPT, .max_new = 2, .out = out};
        cr_assert_eq(conf_generate(&r), 2, "%s: %s", label, r.err);
        counts[out[0] * V + out[1]]++;
        cycles += r.stats.n_cycles;
        gen += r.stats.n_generated;
    }
    double stat;
    uint32_t df;
    double p = conf_chisq(counts, joint, V * V, N_SAMPLES, &stat, &df);
    fprintf(stderr, "%-44s chi2 %8.2f df %3u p %.4f (tokens/cycle %.2f)\n", label, stat, df, p,
            (double) gen / (double) cycles);
    return p;
}

static void check_all(sampler_params_t sp, const char *tag) {
    static double joint[V * V];
    const mock_cfg_t m = model();
    exact_joint(&m, sp, joint);
    double total = 0.0;
    for (int i = 0; i < V * V; i++) total += joint[i];
    cr_assert_float_eq(total, 1.0, 1e-6);
    char label[128];
    snprintf(label, sizeof label, "ar %s", tag);
    cr_expect_gt(run_case("ar/dstrat_ar.so", "ar", "", -1, sp, joint, label), P_MIN, "%s", label);
    static const struct { const char *params; float agr; } cases[] = {
        {"k=4", 0.8f}, {"k=2 min_confidence=0.3", 0.5f}, {"k=4", 1.0f}, {"k=4 acceptance=rejection", 1.0f},
        {"k=4 acceptance=rejection", 0.8f}, {"k=3 acceptance=rejection draft_top_k=16", 0.3f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(label, sizeof label, "chain %s agr %.1f %s", cases[i].params, (double) cases[i].agr, tag);
        cr_expect_gt(run_case("chain/dstrat_chain.so", "chain", cases[i].params, cases[i].agr, sp, joint, label),
                     P_MIN, "%s", label);
    }
    /* the tree strategies: branching trees through the shared lossless walk (policy files as in
     * conf_util.c's variants, relative to the build root) */
    static const struct { const char *file, *id, *params; float agr; } trees[] = {
        {"static_tree/dstrat_static_tree.so", "static_tree", "depth=3 top_k=4 total_tokens=16", 0.7f},
        {"radar/dstrat_radar.so", "radar", "policy=tests/conformance/radar_test_k10.dspol", 0.7f},
        {"radar/dstrat_radar.so", "radar", "mode=cost_aware", 0.5f},
        {"ltd/dstrat_ltd.so", "ltd", "policy=tests/conformance/ltd_test_default.dspol", 0.7f},
    };
    for (size_t i = 0; i < sizeof trees / sizeof trees[0]; i++) {
        snprintf(label, sizeof label, "%s %s agr %.1f %s", trees[i].id, trees[i].params, (double) trees[i].agr, tag);
        cr_expect_gt(run_case(trees[i].file, trees[i].id, trees[i].params, trees[i].agr, sp, joint, label), P_MIN,
                     "%s", label);
    }
}

Test(distribution, t10_plain, .timeout = 600) {
    check_all((sampler_params_t) {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f}, "T1.0");
}

Test(distribution, t07_topk_topp, .timeout = 600) {
    check_all((sampler_params_t) {.temperature = 0.7f, .top_k = 20, .top_p = 0.9f}, "T0.7 k20 p0.9");
}

/* Negative control 1: a wrong temperature must be detected. */
Test(distribution, rejects_temperature_mismatch, .timeout = 300) {
    static double joint[V * V];
    const mock_cfg_t m = model();
    exact_joint(&m, (sampler_params_t) {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f}, joint);
    double p = run_case("ar/dstrat_ar.so", "ar", "", -1,
                        (sampler_params_t) {.temperature = 0.85f, .top_k = 0, .top_p = 1.0f}, joint,
                        "NEGATIVE: ar at T0.85 vs exact T1.0");
    cr_assert_lt(p, P_MIN, "the chi-square test failed to notice a temperature mismatch");
}

/* Negative control 2: the classic bug of speculative sampling (draft top-1 x accepted with
 * probability p(x), otherwise a fresh sample of p, no residual) on the first token. */
Test(distribution, rejects_naive_acceptance) {
    const mock_cfg_t m = model();
    const sampler_params_t sp = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    float logits[V], logp[V], dl[V];
    static char scratch[V * 8];
    mock_logits(&m, MOCK_SALT_TARGET, prompt, N_PROMPT, logits);
    sampler_logp(&sp, logits, V, logp, scratch);
    mock_draft_logits(&m, 0.8f, prompt, N_PROMPT, dl);
    const int32_t x = sampler_argmax(dl, V);
    double prob[V];
    uint64_t counts[V] = {0}, counts_ok[V] = {0};
    for (int t = 0; t < V; t++) prob[t] = exp((double) logp[t]);
    for (uint64_t s = 0; s < N_SAMPLES; s++) {
        const double u1 = dstrat_keyed_u01(s, N_PROMPT), u2 = dstrat_keyed_u01(s ^ 0xabcdef, N_PROMPT);
        counts[u1 < prob[x] ? x : dsw_sample(logp, V, u2)]++;
        counts_ok[dsw_sample(logp, V, u2)]++; /* the same machinery without the bug */
    }
    double stat, stat_ok;
    uint32_t df, df_ok;
    double p = conf_chisq(counts, prob, V, N_SAMPLES, &stat, &df);
    double p_ok = conf_chisq(counts_ok, prob, V, N_SAMPLES, &stat_ok, &df_ok);
    fprintf(stderr, "%-44s chi2 %8.2f df %3u p %.3g\n", "NEGATIVE: naive accept-with-p(x) rule", stat, df, p);
    fprintf(stderr, "%-44s chi2 %8.2f df %3u p %.4f\n", "control: plain dsw_sample", stat_ok, df_ok, p_ok);
    cr_assert_lt(p, P_MIN, "the chi-square test failed to notice a biased acceptance rule");
    cr_assert_gt(p_ok, P_MIN);
}

/* The p-value function itself, against known quantiles of the chi-square distribution. */
Test(distribution, chisq_sf_quantiles) {
    cr_assert_float_eq(conf_chisq_sf(3.841458821, 1), 0.05, 1e-6);
    cr_assert_float_eq(conf_chisq_sf(18.30703805, 10), 0.05, 1e-6);
    cr_assert_float_eq(conf_chisq_sf(29.58829845, 10), 0.001, 1e-7);
    cr_assert_float_eq(conf_chisq_sf(124.3421134, 100), 0.05, 1e-6);
    cr_assert_float_eq(conf_chisq_sf(2.0, 2), exp(-1.0), 1e-9);
}
