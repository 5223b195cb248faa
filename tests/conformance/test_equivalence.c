/* test_equivalence.c - every shipped strategy, in every listed parameter variant and at several
 * draft agreement levels, must produce exactly the `ar` strategy's output through the real
 * session code: greedy, and sampling with the same seed (T 0.7 / 1.0, top-k/top-p on and off).
 * Prints the tokens compared and each variant's tokens per cycle (tau). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_util.h"

#define N_PROMPTS 20
#define MAX_NEW 512
#define MAX_PROMPT 40

static const float agreements[] = {0.0f, 0.5f, 0.8f, 1.0f};

typedef struct ref_set {
    int32_t prompt[N_PROMPTS][MAX_PROMPT];
    uint32_t n_prompt[N_PROMPTS];
    int32_t out[N_PROMPTS][MAX_NEW];
    int64_t n_out[N_PROMPTS];
} ref_set_t;

static void make_reference(ref_set_t *ref, const mock_cfg_t *m, sampler_params_t sp, uint64_t seed0) {
    for (uint32_t p = 0; p < N_PROMPTS; p++) {
        ref->n_prompt[p] = conf_prompt(p + seed0 * 1000, m->n_vocab, MAX_PROMPT, ref->prompt[p]);
        conf_run_t r = {.file = "ar/dstrat_ar.so", .id = "ar", .params = "", .model = *m,
                        .agreement = -1, .sampling = sp, .seed = seed0 + p, .prompt = ref->prompt[p],
                        .n_prompt = ref->n_prompt[p], .max_new = MAX_NEW, .out = ref->out[p]};
        ref->n_out[p] = conf_generate(&r);
        cr_assert_eq(ref->n_out[p], MAX_NEW, "ar reference: %s", r.err);
        /* ar verifies one node per cycle: a cycle per token */
        cr_assert_eq(r.stats.n_cycles, (uint64_t) MAX_NEW);
    }
}

/* Runs every strategy variant at every agreement level against ref; returns tokens compared. */
static uint64_t compare_all(const ref_set_t *ref, const mock_cfg_t *m, sampler_params_t sp,
                            uint64_t seed0, const float *agr, uint32_t n_agr, int verbose) {
    uint64_t compared = 0;
    static int32_t out[MAX_NEW];
    for (uint32_t si = 0; si < conf_n_strategies; si++) {
        const conf_strategy_t *cs = &conf_strategies[si];
        for (const char *const *var = cs->variants; *var; var++) {
            for (uint32_t ai = 0; ai < n_agr; ai++) {
                uint64_t cycles = 0, gen = 0;
                for (uint32_t p = 0; p < N_PROMPTS; p++) {
                    conf_run_t r = {.file = cs->file, .id = cs->id, .params = *var, .model = *m,
                                    .agreement = agr[ai], .sampling = sp, .seed = seed0 + p,
                                    .prompt = ref->prompt[p], .n_prompt = ref->n_prompt[p],
                                    .max_new = MAX_NEW, .out = out};
                    int64_t n = conf_generate(&r);
                    cr_assert_eq(n, ref->n_out[p], "%s '%s' agreement %.1f prompt %u: %s", cs->id, *var,
                                 (double) agr[ai], p, r.err);
                    for (int64_t i = 0; i < n; i++)
                        cr_assert_eq(out[i], ref->out[p][i],
                                     "%s '%s' agreement %.1f T %.1f prompt %u: token %ld differs (%d vs ar %d)",
                                     cs->id, *var, (double) agr[ai], (double) sp.temperature, p, (long) i,
                                     out[i], ref->out[p][i]);
                    compared += (uint64_t) n;
                    cycles += r.stats.n_cycles;
                    gen += r.stats.n_generated;
                }
                if (verbose)
                    fprintf(stderr, "  %-6s %-40s agreement %.1f: tau %.3f tokens/cycle\n", cs->id,
                            (*var)[0] ? *var : "(defaults)", (double) agr[ai], (double) gen / (double) cycles);
            }
        }
    }
    return compared;
}

Test(equivalence, greedy_equals_ar, .timeout = 600) {
    static ref_set_t ref;
    mock_cfg_t m = mock_default_cfg();
    sampler_params_t sp = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    make_reference(&ref, &m, sp, 1);
    fprintf(stderr, "greedy, vocab %u:\n", m.n_vocab);
    uint64_t n = compare_all(&ref, &m, sp, 1, agreements, 4, 1);
    fprintf(stderr, "greedy: %llu tokens compared with ar, all equal\n", (unsigned long long) n);
    cr_assert_geq(n, 10000u);
}

Test(equivalence, greedy_equals_ar_large_vocab, .timeout = 600) {
    static ref_set_t ref;
    mock_cfg_t m = mock_default_cfg();
    m.n_vocab = 512;
    m.seed = 77;
    m.window = 2; /* shorter memory: more repeated contexts */
    sampler_params_t sp = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    make_reference(&ref, &m, sp, 5);
    const float agr[] = {0.7f};
    uint64_t n = compare_all(&ref, &m, sp, 5, agr, 1, 0);
    fprintf(stderr, "greedy, vocab 512: %llu tokens compared with ar, all equal\n", (unsigned long long) n);
    cr_assert_geq(n, 10000u);
}

static void sampling_case(float temp, int32_t top_k, float top_p, uint64_t seed0) {
    static ref_set_t ref;
    mock_cfg_t m = mock_default_cfg();
    sampler_params_t sp = {.temperature = temp, .top_k = top_k, .top_p = top_p};
    make_reference(&ref, &m, sp, seed0);
    /* seed-identical output is promised for match acceptance; rejection is only lossless in
       distribution (test_distribution.c), so it is skipped here */
    static const char *const chain_match[] = {"", "k=1", "k=3", "k=8", "k=5 min_confidence=0.4", NULL};
    const float agr[] = {0.5f, 0.9f};
    uint64_t n = 0;
    static int32_t out[MAX_NEW];
    for (uint32_t si = 0; si < conf_n_strategies; si++) {
        const conf_strategy_t *cs = &conf_strategies[si];
        const char *const *vars = !strcmp(cs->id, "chain") ? chain_match : cs->variants;
        for (const char *const *var = vars; *var; var++)
            for (uint32_t ai = 0; ai < 2; ai++) {
                uint64_t cycles = 0, gen = 0;
                for (uint32_t p = 0; p < N_PROMPTS; p++) {
                    conf_run_t r = {.file = cs->file, .id = cs->id, .params = *var, .model = m,
                                    .agreement = agr[ai], .sampling = sp, .seed = seed0 + p,
                                    .prompt = ref.prompt[p], .n_prompt = ref.n_prompt[p],
                                    .max_new = MAX_NEW, .out = out};
                    int64_t got = conf_generate(&r);
                    cr_assert_eq(got, ref.n_out[p], "%s '%s': %s", cs->id, *var, r.err);
                    cr_assert_arr_eq(out, ref.out[p], (size_t) got * sizeof *out,
                                     "%s '%s' agreement %.1f T %.1f top_k %d top_p %.2f prompt %u differs from ar",
                                     cs->id, *var, (double) agr[ai], (double) temp, top_k, (double) top_p, p);
                    n += (uint64_t) got;
                    cycles += r.stats.n_cycles;
                    gen += r.stats.n_generated;
                }
                fprintf(stderr, "  %-6s %-24s agreement %.1f: tau %.3f tokens/cycle\n", cs->id,
                        (*var)[0] ? *var : "(defaults)", (double) agr[ai], (double) gen / (double) cycles);
            }
    }
    fprintf(stderr, "sampling T %.1f top_k %d top_p %.2f: %llu tokens compared with ar (same seeds), all equal\n",
            (double) temp, top_k, (double) top_p, (unsigned long long) n);
    cr_assert_geq(n, 10000u);
}

Test(equivalence, sampling_t07_plain, .timeout = 600) { sampling_case(0.7f, 0, 1.0f, 11); }
Test(equivalence, sampling_t10_plain, .timeout = 600) { sampling_case(1.0f, 0, 1.0f, 12); }
Test(equivalence, sampling_t07_topk_topp, .timeout = 600) { sampling_case(0.7f, 20, 0.9f, 13); }
Test(equivalence, sampling_t10_topk_topp, .timeout = 600) { sampling_case(1.0f, 40, 0.95f, 14); }

/* the suite must be able to fail: a different seed changes the sampled output */
Test(equivalence, seed_matters) {
    mock_cfg_t m = mock_default_cfg();
    int32_t prompt[MAX_PROMPT], a[64], b[64];
    uint32_t np = conf_prompt(3, m.n_vocab, MAX_PROMPT, prompt);
    sampler_params_t sp = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    conf_run_t r = {.file = "ar/dstrat_ar.so", .id = "ar", .params = "", .model = m, .agreement = -1,
                    .sampling = sp, .seed = 1, .prompt = prompt, .n_prompt = np, .max_new = 64, .out = a};
    cr_assert_eq(conf_generate(&r), 64, "%s", r.err);
    r.seed = 2;
    r.out = b;
    cr_assert_eq(conf_generate(&r), 64, "%s", r.err);
    cr_assert(memcmp(a, b, sizeof a) != 0, "two seeds gave the same 64 sampled tokens");
}
