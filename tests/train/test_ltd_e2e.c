/* test_ltd_e2e.c - refhost ltd-train through the binary on the tiny random-weight models (target +
 * draft model): all three stages run, the policy file holds both actors with the layout and the
 * settings, the same seed and cost constants give the same bytes, the ltd plugin loads the file
 * (with the target/draft check) and generation with it is token-identical to AR; bad command
 * lines are refused with a message naming the option. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refhost_run.h"
#include "mlp.h"
#include "policy_file.h"
#include "tiny_workdir.h"

static tiny_workdir_t g_w;

static void setup(void) {
    char err[512];
    cr_assert_eq(tiny_workdir_create(&g_w, "ltd_e2e", "hello there\n\ntell me a story\nthe the the the\n", err, sizeof err), 0, "%s", err);
}

static void teardown(void) { cr_assert_eq(tiny_workdir_remove(&g_w), 0); }

/* the generated token ids of a --json run, as text "1, 2, 3" */
static void tokens_of(const char *out, char *buf, size_t cap) {
    cr_assert_eq(refhost_json_tokens(out, buf, cap), 0, "no tokens in: %s", out);
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t) ftell(f);
    rewind(f);
    uint8_t *b = malloc(*len);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

#define LTD_PARAMS "--param top_k=3 --param max_depth=4 --param sizes=2,4,8 --param n_level=6 --param n_pool=12"
#define COST "--cost draft_call_ms=0.5,verify_a_ms=2,verify_b_ms=0.25"

static void train(const char *policy, const char *extra) {
    static char out[1 << 16];
    const int rc = refhost_run(out, sizeof out,
                           "ltd-train --model %s --draft model:%s --prompts %s --out %s --max-tokens 24 --threads 1 "
                           "--steps 40 --rollout 8 --minibatch 4 --hidden 8,8 --quiet " LTD_PARAMS " %s",
                           g_w.target, g_w.draft, g_w.prompts, policy, extra);
    cr_assert_eq(rc, 0, "ltd-train failed: %s", out);
    cr_assert_not_null(strstr(out, "stage 3 (size): 40 cycles"), "%s", out);
}

TestSuite(ltd_e2e, .init = setup, .fini = teardown, .timeout = 600);

Test(ltd_e2e, train_load_and_generate_identically_to_ar) {
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/a.dspol", g_w.dir);
    snprintf(pb, sizeof pb, "%s/b.dspol", g_w.dir);
    train(pa, COST " --seed 3 --val-prompts 1 --val-every 2");
    train(pb, COST " --seed 3 --val-prompts 1 --val-every 2");
    size_t la, lb;
    uint8_t *a = slurp(pa, &la), *b = slurp(pb, &lb);
    cr_assert(la == lb && memcmp(a, b, la) == 0, "same seed and cost constants, different policy bytes");
    free(a);
    free(b);

    dspf_file_t f;
    char err[512];
    cr_assert_eq(dspf_read(pa, &f, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(dspf_get(&f, "network"), "ltd-mlp");
    cr_assert_str_eq(dspf_get(&f, "features"), "ltd-v1");
    cr_assert_str_eq(dspf_get(&f, "n_level"), "6");
    cr_assert_str_eq(dspf_get(&f, "n_pool"), "12");
    cr_assert_str_eq(dspf_get(&f, "sizes"), "2,4,8");
    cr_assert_str_eq(dspf_get(&f, "target"), "target");
    cr_assert_str_eq(dspf_get(&f, "draft"), "draft");
    cr_assert_str_eq(dspf_get(&f, "cost.verify_b_ms"), "0.25");
    cr_assert_str_eq(dspf_get(&f, "train.seed"), "3");
    cr_assert_str_eq(dspf_get(&f, "train.stages"), "size,depth,size");
    cr_assert_str_eq(dspf_get(&f, "train.checkpoint"), "best-validation-throughput");
    cr_assert_str_eq(dspf_get(&f, "train.val_prompts"), "1");
    const char *v3 = dspf_get(&f, "train.stage3.validation");
    cr_assert(v3 && strstr(v3, "passes=") && !strstr(v3, "passes=0 ") && !strstr(v3, "passes=1 "), "%s", v3 ? v3 : "(none)");
    dsmlp_t d, s;
    cr_assert_eq(dsmlp_load(&d, &f, "depth", err, sizeof err), 0, "%s", err);
    cr_assert_eq(dsmlp_load(&s, &f, "size", err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.size[0], 8);
    cr_assert_eq(d.size[d.n_layers], 2);
    cr_assert_eq(s.size[0], 14);
    cr_assert_eq(s.size[s.n_layers], 3);
    dsmlp_free(&d);
    dsmlp_free(&s);
    dspf_free(&f);

    static char out[1 << 16];
    char ar[8192], got[8192];
    int rc = refhost_run(out, sizeof out,
                     "generate --model %s --prompt 'hello there' --max-tokens 32 --json --quiet --threads 1", g_w.target);
    cr_assert_eq(rc, 0, "%s", out);
    tokens_of(out, ar, sizeof ar);
    rc = refhost_run(out, sizeof out,
                 "generate --model %s --draft model:%s --strategy ltd --param policy=%s --param target=target "
                 "--param draft=draft " LTD_PARAMS " --prompt 'hello there' --max-tokens 32 --json --quiet --threads 1",
                 g_w.target, g_w.draft, pa);
    cr_assert_eq(rc, 0, "%s", out);
    tokens_of(out, got, sizeof got);
    cr_assert_str_eq(got, ar, "ltd with the trained policy differs from AR");
}

Test(ltd_e2e, other_seed_other_bytes_and_single_stage) {
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/a.dspol", g_w.dir);
    snprintf(pb, sizeof pb, "%s/b.dspol", g_w.dir);
    train(pa, COST " --seed 4 --val-prompts 0");
    static char out[1 << 16];
    const int rc = refhost_run(out, sizeof out,
                           "ltd-train --model %s --draft model:%s --prompts %s --out %s --max-tokens 24 --threads 1 "
                           "--steps 20 --rollout 8 --minibatch 4 --hidden 8 --stages depth --val-prompts 1 --quiet " LTD_PARAMS
                           " " COST,
                           g_w.target, g_w.draft, g_w.prompts, pb);
    cr_assert_eq(rc, 0, "%s", out);
    dspf_file_t f;
    char err[512];
    cr_assert_eq(dspf_read(pa, &f, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(dspf_get(&f, "train.checkpoint"), "best-rollout-throughput");
    cr_assert_str_eq(dspf_get(&f, "train.seed"), "4");
    dspf_free(&f);
    cr_assert_eq(dspf_read(pb, &f, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(dspf_get(&f, "policies"), "depth");
    cr_assert_str_eq(dspf_get(&f, "depth.layers"), "8,8,2");
    cr_assert_null(dspf_find(&f, "size.l0.weight"));
    dspf_free(&f);
}

Test(ltd_e2e, bad_command_lines_name_the_problem) {
    static char out[1 << 16];
    struct {
        const char *args, *want;
    } cases[] = {
        {"--stages size,width", "--stages"},
        {"--cost draft_call_ms=1,verify_a_ms=2", "--cost"},
        {"--cost draft_call_ms=1,verify_a_ms=2,verify_b_ms=x", "--cost"},
        {"--reward fast", "--reward"},
        {"--hidden 8,8,8", "--hidden"},
        {"--steps 0", "--steps"},
        {"--val-prompts 3", "--val-prompts 3 leaves no training prompt"},
        {"--val-every 0", "--val-every"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int rc = refhost_run(out, sizeof out, "ltd-train --model %s --draft ngram --prompts %s --out %s/x.dspol %s", g_w.target,
                               g_w.prompts, g_w.dir, cases[i].args);
        cr_assert_eq(rc, 2, "'%s' gave %d: %s", cases[i].args, rc, out);
        cr_assert_not_null(strstr(out, cases[i].want), "'%s': %s", cases[i].args, out);
    }
    const int rc = refhost_run(out, sizeof out, "ltd-train --model %s --prompts %s --out %s/x.dspol --strategy radar",
                           g_w.target, g_w.prompts, g_w.dir);
    cr_assert_eq(rc, 2, "%s", out);
}
