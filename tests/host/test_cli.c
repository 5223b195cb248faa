/* test_cli.c - refhost as users run it: exit codes and error messages for bad input, and, with
 * the real model, a known greedy answer. The binary comes from env REFHOST (set by meson). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refhost_run.h"
#include "tiny_model.h"

static char g_dir[256], g_model[300];

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/dstrat_cli_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_model, sizeof g_model, "%s/tiny.gguf", g_dir);
    char err[512];
    tiny_model_opts t = tiny_model_default_target();
    cr_assert_eq(tiny_model_write(g_model, &t, err, sizeof err), 0, "%s", err);
}

static void teardown(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 300);

Test(cli, generates_with_tiny_model_and_reports_speed) {
    char out[65536];
    int rc = refhost_run(out, sizeof out, "generate --model %s --prompt 'hello there' --max-tokens 8 --json", g_model);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "\"tokens_per_s\"") && strstr(out, "\"n_gen\": 8"), "%s", out);
    cr_assert(strstr(out, "tokens/s"), "speed line missing: %s", out);
}

Test(cli, unknown_config_key_names_key_and_line) {
    char cfg[400], out[8192];
    write_file("bad.yaml", "sampling:\n  temprature: 0.5\n", cfg, sizeof cfg);
    int rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "temprature") && strstr(out, ":2:"), "%s", out);
}

Test(cli, bad_strategy_param_fails_before_model_load) {
    char out[8192];
    /* the model path does not exist: the param error must come first */
    int rc = refhost_run(out, sizeof out, "generate --model /nonexistent.gguf --strategy chain --draft ngram --param k=99 --prompt hi");
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "'k'") || strstr(out, "k:") || strstr(out, " k "), "%s", out);
}

Test(cli, malformed_param_option_is_a_usage_error_in_every_command) {
    /* one parser (cli_params_add) serves them all: each names the option and the bad value */
    static const char *const cmds[] = {
        "generate --prompt hi --param k4",
        "collect --prompts /nonexistent.txt --out /nonexistent.rlog --param =4",
        "ltd-train --prompts /nonexistent.txt --out /nonexistent.dspol --param k4",
        "draft-bench --head /nonexistent.gguf --prompts /nonexistent.txt --param k4",
    };
    char out[8192];
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        int rc = refhost_run(out, sizeof out, "%s", cmds[i]);
        cr_assert_eq(rc, 2, "%s: %s", cmds[i], out);
        cr_assert(strstr(out, "--param wants KEY=VALUE"), "%s: %s", cmds[i], out);
    }
}

Test(cli, bad_lm_head_type_is_a_usage_error) {
    char out[8192];
    int rc = refhost_run(out, sizeof out, "draft-bench --head /nonexistent.gguf --prompts /nonexistent.txt --lm-head q9_9");
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "--lm-head") && strstr(out, "q9_9"), "%s", out);
    rc = refhost_run(out, sizeof out, "draft-eval --head /nonexistent.gguf --data /nonexistent --lm-head q9_9");
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "--lm-head") && strstr(out, "q9_9"), "%s", out);
}

Test(cli, strategy_needing_a_draft_without_one_is_refused) {
    char out[8192];
    int rc = refhost_run(out, sizeof out, "generate --model %s --strategy chain --prompt hi", g_model);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "needs a draft"), "%s", out);
}

Test(cli, missing_plugin_lists_search_dirs) {
    char out[8192];
    int rc = refhost_run(out, sizeof out, "generate --model %s --strategy nosuchstrategy --prompt hi", g_model);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "nosuchstrategy"), "%s", out);
}

Test(cli, broken_model_file_is_a_clear_error) {
    char path[400], out[8192];
    write_file("broken.gguf", "GGUF\x03\x00\x00\x00garbage", path, sizeof path);
    int rc = refhost_run(out, sizeof out, "generate --model %s --prompt hi", path);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "broken.gguf"), "%s", out);
}

Test(cli, prompt_longer_than_context_is_refused) {
    char out[8192];
    int rc = refhost_run(out, sizeof out,
                     "generate --model %s --n-ctx 16 --prompt 'this prompt is much longer than sixteen tokens of context "
                     "allow, surely'",
                     g_model);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "context"), "%s", out);
}

Test(cli, unknown_option_is_usage_error) {
    char out[8192];
    cr_assert_eq(refhost_run(out, sizeof out, "generate --bogus"), 2, "%s", out);
    cr_assert_eq(refhost_run(out, sizeof out, "frobnicate"), 2, "%s", out);
}

Test(cli_model, capital_of_france_is_paris, .timeout = 300) {
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    char model[1024];
    const char *env = getenv("DSTRAT_MODEL");
    snprintf(model, sizeof model, "%s", env && env[0] ? env : "");
    if (!model[0]) snprintf(model, sizeof model, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", root ? root : ".");
    if (access(model, R_OK) != 0) cr_skip_test("real model not present (%s); run scripts/fetch_model.sh", model);
    char out[65536];
    int rc = refhost_run(out, sizeof out, "generate --model %s --prompt 'The capital of France is' --max-tokens 6 --json",
                     model);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "Paris"), "greedy continuation lacks Paris: %s", out);
}

Test(cli, missing_draft_head_file_is_a_clear_error) {
    char out[8192];
    int rc = refhost_run(out, sizeof out, "generate --model %s --strategy chain --draft head:%s/nohead.gguf --prompt hi",
                     g_model, g_dir);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "nohead.gguf"), "%s", out);
}

Test(cli, draft_head_for_another_target_is_refused) {
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    char head[1024];
    snprintf(head, sizeof head, "%s/policies/draft_head/smollm2-135m-eagle3.gguf", root ? root : ".");
    if (access(head, R_OK) != 0) cr_skip_test("no shipped head at %s", head);
    char out[8192];
    /* the shipped head was trained for SmolLM2; the tiny model must be refused, not crash */
    int rc = refhost_run(out, sizeof out, "generate --model %s --strategy chain --draft head:%s --prompt hi", g_model, head);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "target"), "%s", out);
}

Test(cli, draft_params_are_checked_by_kind) {
    char cfg[400], out[8192];
    /* an n-gram param that does not exist, a value out of range, min_n above max_n, and params for
       a kind that takes none: each a usage error naming the key and the config line */
    write_file("d1.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: ngram\n  params: {max_ngram: 3}\n", cfg, sizeof cfg);
    int rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "max_ngram") && strstr(out, "d1.yaml:4:"), "%s", out);
    write_file("d2.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: ngram\n  params: {max_n: 99}\n", cfg, sizeof cfg);
    rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "max_n"), "%s", out);
    write_file("d3.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: ngram\n  params: {min_n: 3, max_n: 2}\n", cfg, sizeof cfg);
    rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "min_n 3 is above max_n 2"), "%s", out);
    write_file("d4.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: model\n  path: h.gguf\n  params: {max_n: 2}\n", cfg,
               sizeof cfg);
    rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "takes no params") && strstr(out, "max_n") && strstr(out, "d4.yaml:5:"), "%s", out);
    write_file("d5.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: mix\n  path: h.gguf\n  params: {lookup_weight: 1.5}\n",
               cfg, sizeof cfg);
    rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "lookup_weight"), "%s", out);
    /* a good n-gram param set runs */
    write_file("d6.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: ngram\n  params: {min_n: 2, max_n: 3, max_matches: 8}\n",
               cfg, sizeof cfg);
    rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt 'hello there' --max-tokens 8", g_model, cfg);
    cr_assert_eq(rc, 0, "%s", out);
}

Test(cli, mix_draft_without_head_is_a_clear_error) {
    char out[8192];
    int rc = refhost_run(out, sizeof out, "generate --model %s --strategy chain --draft mix:%s/nohead.gguf --prompt hi",
                         g_model, g_dir);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "nohead.gguf"), "%s", out);
    rc = refhost_run(out, sizeof out, "generate --model %s --strategy chain --draft mix: --prompt hi", g_model);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "mix:PATH"), "%s", out);
}

Test(cli, ngram_table_problems_are_clear_errors) {
    char cfg[400], out[8192];
    write_file("t1.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: ngram\n  params: {table: missing.ngt}\n", cfg, sizeof cfg);
    int rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "missing.ngt") && strstr(out, g_dir), "relative to the config's dir: %s", out);
    char junk[400];
    write_file("junk.ngt", "DSNGTAB1 but nothing else", junk, sizeof junk);
    write_file("t2.yaml", "strategy: {plugin: chain}\ndraft:\n  kind: ngram\n  params: {table: junk.ngt}\n", cfg, sizeof cfg);
    rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "junk.ngt"), "%s", out);
    /* table paths too long: the value itself (over the parameter limit), and a value that fits
     * but not once joined to the config's directory; usage errors naming the file and the key */
    static const struct { size_t n_a; const char *says; } longs[] = {{1100, "'table': value is too long"},
                                                                      {1010, "table path too long"}};
    for (size_t k = 0; k < 2; k++) {
        char yaml[1400] = "strategy: {plugin: chain}\ndraft:\n  kind: ngram\n  params: {table: ";
        size_t len = strlen(yaml);
        memset(yaml + len, 'a', longs[k].n_a);
        strcpy(yaml + len + longs[k].n_a, ".ngt}\n");
        write_file("t3.yaml", yaml, cfg, sizeof cfg);
        rc = refhost_run(out, sizeof out, "generate --model %s --config %s --prompt hi", g_model, cfg);
        cr_assert_eq(rc, 2, "%s", out);
        cr_assert(strstr(out, "t3.yaml:4") && strstr(out, longs[k].says), "%s", out);
    }
    rc = refhost_run(out, sizeof out, "ngram-table --out %s/x.ngt", g_dir);
    cr_assert_eq(rc, 2, "%s", out);
    rc = refhost_run(out, sizeof out, "ngram-table --data %s/nodata --out %s/x.ngt", g_dir, g_dir);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "draft-data"), "%s", out);
}

Test(cli, ngram_table_rejects_an_inconsistent_data_dir) {
    char path[400], out[8192], dir[320];
    snprintf(dir, sizeof dir, "%s/dd", g_dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    /* every array present, but meta.txt lacks target_fingerprint */
    write_file("dd/meta.txt", "n_vocab=50\ntopk=2\n", path, sizeof path);
    write_file("dd/tokens.i32", "AAAABBBB", path, sizeof path);          /* 2 tokens */
    write_file("dd/topk_id.i32", "CCCCDDDDEEEEFFFF", path, sizeof path); /* 2 x topk 2 */
    write_file("dd/seqs.u32", "", path, sizeof path);                    /* no sequences */
    int rc = refhost_run(out, sizeof out, "ngram-table --data %s --out %s/x.ngt", dir, g_dir);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "target_fingerprint"), "%s", out);
    /* the arrays disagree in size: topk_id.i32 is one row short */
    write_file("dd/meta.txt", "n_vocab=50\ntopk=2\ntarget_fingerprint=1234\n", path, sizeof path);
    write_file("dd/topk_id.i32", "CCCCDDDD", path, sizeof path);
    rc = refhost_run(out, sizeof out, "ngram-table --data %s --out %s/x.ngt", dir, g_dir);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "disagree"), "%s", out);
}
