/* test_ltd_model.c - refhost ltd-train on the real SmolLM2-135M over the n-gram draft (skipped when
 * the model is absent): a short size-policy stage with fixed cost constants in which verifying
 * costs much more per token than drafting saves must raise the rollout throughput and shift the
 * size actions towards small trees. Deterministic: the constants are given, decoding is greedy. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy_file.h"

static const char *model_path(char *buf, size_t cap) {
    const char *env = getenv("DSTRAT_MODEL");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    snprintf(buf, cap, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", root ? root : ".");
    return access(buf, R_OK) == 0 ? buf : NULL;
}

Test(ltd_model, size_stage_learns_small_trees_when_verify_is_expensive, .timeout = 600) {
    char mb[1024];
    const char *model = model_path(mb, sizeof mb);
    if (!model) cr_skip_test("real model not found (set DSTRAT_MODEL or run the fetch script)");
    const char *bin = getenv("REFHOST"), *root = getenv("DSTRAT_SOURCE_ROOT");
    cr_assert_not_null(bin);
    cr_assert_not_null(root);
    char dir[] = "/tmp/dstrat_ltd_model_XXXXXX", cmd[4096], pol[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(pol, sizeof pol, "%s/p.dspol", dir);
    snprintf(cmd, sizeof cmd,
             "%s ltd-train --model %s --draft ngram --prompts %s/policies/radar/train_prompts.txt --out %s "
             "--max-tokens 32 --threads 1 --stages size --steps 256 --rollout 64 --minibatch 32 --seed 1 --quiet "
             "--param top_k=4 --param max_depth=4 --param sizes=2,8,32 "
             "--val-prompts 0 --cost draft_call_ms=0.01,verify_a_ms=8,verify_b_ms=3 2>&1",
             bin, model, root, pol);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char out[1 << 16];
    out[fread(out, 1, sizeof out - 1, p)] = '\0';
    const int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ltd-train failed: %s", out);
    dspf_file_t f;
    char err[512];
    cr_assert_eq(dspf_read(pol, &f, err, sizeof err), 0, "%s", err);
    const char *s1 = dspf_get(&f, "train.stage1"), *acts = dspf_get(&f, "train.stage1.actions");
    cr_assert_not_null(s1);
    cr_assert_not_null(acts);
    double first = 0, best = 0;
    const char *q = strstr(s1, "first_rate="), *b = strstr(s1, "best_rate=");
    cr_assert(q && b, "%s", s1);
    first = strtod(q + strlen("first_rate="), NULL);
    best = strtod(b + strlen("best_rate="), NULL);
    unsigned long long h[3];
    cr_assert_eq(sscanf(acts, "%llu,%llu,%llu", &h[0], &h[1], &h[2]), 3, "%s", acts);
    cr_log_info("stage1: %s; actions V2,V8,V32 = %s", s1, acts);
    cr_assert_gt(best, 1.05 * first, "no learning: %s", s1);
    cr_assert_gt(h[0], h[2], "V=2 should be chosen more often than V=32: %s", acts);
    dspf_free(&f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
