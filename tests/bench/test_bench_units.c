/* test_bench_units.c - refhost bench's pieces without a model: the speedup statistics, the JSON
 * reader, SHA-256, prompt files and the bench YAML (errors name file, line and key). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_config.h"
#include "bench_report.h"
#include "bench_json.h"
#include "bench_prompts.h"
#include "bench_sha256.h"
#include "bench_stats.h"

/* ------------------------------------------------------------------ statistics */
Test(stats, mean_and_sample_deviation) {
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    cr_assert_float_eq(bs_mean(x, 8), 5.0, 1e-12);
    /* sum of squares 32, n - 1 = 7 */
    cr_assert_float_eq(bs_sd(x, 8), sqrt(32.0 / 7.0), 1e-12);
    cr_assert_float_eq(bs_sd(x, 1), 0.0, 0);
}

Test(stats, t_quantiles_match_published_values) {
    /* two-sided 95% critical values from standard t tables */
    cr_assert_float_eq(bs_t975(1), 12.706, 1e-3);
    cr_assert_float_eq(bs_t975(2), 4.303, 1e-3);
    cr_assert_float_eq(bs_t975(10), 2.228, 1e-3);
    cr_assert_float_eq(bs_t975(30), 2.042, 1e-3);
    cr_assert_float_eq(bs_t975(40), 2.021, 1e-3);
    cr_assert_float_eq(bs_t975(60), 2.000, 1e-3);
    cr_assert_float_eq(bs_t975(120), 1.980, 1e-3);
    cr_assert_float_eq(bs_t975(100000), 1.960, 1e-3);
    /* decreasing in df */
    for (unsigned df = 1; df < 200; df++) cr_assert(bs_t975(df + 1) < bs_t975(df), "df %u", df);
}

Test(stats, ratio_ci_is_geometric_mean_with_t_interval_on_logs) {
    /* ratios 1, 2, 4: log2 ratios 0, 1, 2 -> mean 1, sd 1 -> 2^(1 +- t(2) / sqrt 3) */
    const double num[] = {10, 40, 20}, den[] = {10, 20, 5};
    bs_interval_t ci;
    cr_assert_eq(bs_ratio_ci(num, den, 3, &ci), 0);
    const double half = 4.302653 / sqrt(3.0) * log(2.0);
    cr_assert_float_eq(ci.mean, 2.0, 1e-9);
    cr_assert_float_eq(log(ci.lo), log(2.0) - half, 1e-4);
    cr_assert_float_eq(log(ci.hi), log(2.0) + half, 1e-4);
    cr_assert_eq(ci.n, 3);
    /* symmetric on the log scale: lo * hi = mean^2 */
    cr_assert_float_eq(ci.lo * ci.hi, 4.0, 1e-9);
}

Test(stats, ratio_ci_reciprocal_and_identical_cases) {
    const double a[] = {3, 5, 7, 11}, b[] = {6, 10, 14, 22};
    bs_interval_t up, down;
    cr_assert_eq(bs_ratio_ci(b, a, 4, &up), 0);
    cr_assert_eq(bs_ratio_ci(a, b, 4, &down), 0);
    /* every ratio exactly 2: no spread, so the interval collapses */
    cr_assert_float_eq(up.mean, 2.0, 1e-12);
    cr_assert_float_eq(up.lo, 2.0, 1e-12);
    cr_assert_float_eq(up.hi, 2.0, 1e-12);
    cr_assert_float_eq(down.mean, 0.5, 1e-12);
    /* a 2x and a 0.5x cancel */
    const double n2[] = {2, 1}, d2[] = {1, 2};
    bs_interval_t c;
    cr_assert_eq(bs_ratio_ci(n2, d2, 2, &c), 0);
    cr_assert_float_eq(c.mean, 1.0, 1e-12);
    cr_assert(c.lo < 1 && c.hi > 1);
}

Test(stats, ratio_ci_single_prompt_and_bad_input) {
    const double n1[] = {3}, d1[] = {2}, z[] = {0}, neg[] = {-1};
    bs_interval_t ci;
    cr_assert_eq(bs_ratio_ci(n1, d1, 1, &ci), 0);
    cr_assert_float_eq(ci.mean, 1.5, 1e-12);
    cr_assert_float_eq(ci.lo, 1.5, 1e-12);
    cr_assert_float_eq(ci.hi, 1.5, 1e-12);
    cr_assert_eq(bs_ratio_ci(n1, z, 1, &ci), -1);
    cr_assert_eq(bs_ratio_ci(neg, d1, 1, &ci), -1);
    cr_assert_eq(bs_ratio_ci(n1, d1, 0, &ci), -1);
}

Test(stats, mean_ci_matches_hand_computation) {
    const double x[] = {1, 2, 3, 4, 5};
    bs_interval_t ci;
    cr_assert_eq(bs_mean_ci(x, 5, &ci), 0);
    const double half = 2.776445 * sqrt(2.5) / sqrt(5.0);
    cr_assert_float_eq(ci.mean, 3.0, 1e-12);
    cr_assert_float_eq(ci.lo, 3.0 - half, 1e-4);
    cr_assert_float_eq(ci.hi, 3.0 + half, 1e-4);
}

/* ------------------------------------------------------------------ JSON reader */
Test(json, parses_nested_values_and_unescapes) {
    const char *t = "{\"a\": [1, -2.5e2, true, false, null], \"s\": \"x\\\"\\\\\\/\\n\\u00e9\\ud83d\\ude00\", \"o\": {}}";
    char err[256];
    bj_value_t *v = bj_parse(t, strlen(t), err, sizeof err);
    cr_assert_not_null(v, "%s", err);
    const bj_value_t *a = bj_get(v, "a"), *s = bj_get(v, "s"), *o = bj_get(v, "o");
    cr_assert(a && a->type == BJ_ARR && a->n == 5);
    cr_assert_float_eq(a->items[1].num, -250.0, 1e-12);
    cr_assert(a->items[2].type == BJ_BOOL && a->items[2].boolean);
    cr_assert(a->items[4].type == BJ_NULL);
    cr_assert(s && s->type == BJ_STR);
    /* x " \ / newline, e-acute (C3 A9), U+1F600 (F0 9F 98 80) */
    cr_assert_str_eq(s->str, "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
    cr_assert(o && o->type == BJ_OBJ && o->n == 0);
    cr_assert_null(bj_get(v, "missing"));
    bj_free(v);
}

Test(json, rejects_malformed_input_with_offset) {
    const char *bad[] = {"{\"a\": }", "[1, 2", "\"\\ud800\"", "\"\\udc00x\"", "{\"a\" 1}", "01", "[1,]", "\"a\tb\"",
                         "{} x", "\"\\q\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "";
        bj_value_t *v = bj_parse(bad[i], strlen(bad[i]), err, sizeof err);
        cr_assert_null(v, "accepted %s", bad[i]);
        cr_assert(strstr(err, "offset"), "%s -> %s", bad[i], err);
    }
}

/* ------------------------------------------------------------------ SHA-256 */
Test(sha256, known_vectors) {
    char hex[65];
    bench_sha256_hex("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    bench_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    bench_sha256_hex(m, strlen(m), hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ------------------------------------------------------------------ prompt files */
static char g_dir[64];

static void mkdir_tmp(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/dstrat_bench_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

static void put(const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

TestSuite(prompts, .init = mkdir_tmp, .fini = rm_tmp);

Test(prompts, first_turn_and_question_id) {
    char path[256], err[512];
    put("set.jsonl",
        "{\"question_id\": 7, \"turns\": [\"first \\u00e9\", \"second\"]}\n\n"
        "{\"question_id\": \"q2\", \"category\": \"x\", \"turns\": [\"only\"]}",
        path, sizeof path);
    bench_prompt_set_t s;
    cr_assert_eq(bench_prompts_load(path, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.name, "set");
    cr_assert_str_eq(s.prompts[0].text, "first \xc3\xa9");
    cr_assert_str_eq(s.prompts[0].id, "7");
    cr_assert_str_eq(s.prompts[1].id, "q2");
    cr_assert_eq(s.manifest_checked, 0);
    bench_prompts_free(&s);
}

Test(prompts, bad_line_names_file_and_line) {
    char path[256], err[512];
    put("bad.jsonl", "{\"turns\": [\"ok\"]}\n{\"turns\": []}\n", path, sizeof path);
    bench_prompt_set_t s;
    cr_assert_eq(bench_prompts_load(path, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "bad.jsonl:2:") && strstr(err, "turns"), "%s", err);
    put("bad2.jsonl", "{\"turns\": [\"ok\"]\n", path, sizeof path);
    cr_assert_eq(bench_prompts_load(path, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "bad2.jsonl:1:"), "%s", err);
    cr_assert_eq(bench_prompts_load("/nonexistent/x.jsonl", &s, err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/x.jsonl"), "%s", err);
}

Test(prompts, manifest_sha256_is_enforced) {
    char path[256], mpath[256], err[512], hex[65], manifest[512];
    const char *text = "{\"turns\": [\"hello\"]}\n";
    bench_sha256_hex(text, strlen(text), hex);
    snprintf(manifest, sizeof manifest, "| file | sha256 |\n|---|---|\n| good.jsonl | %s |\n| bad.jsonl | %064d |\n", hex, 0);
    put("MANIFEST.md", manifest, mpath, sizeof mpath);
    put("good.jsonl", text, path, sizeof path);
    bench_prompt_set_t s;
    cr_assert_eq(bench_prompts_load(path, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.manifest_checked, 1);
    cr_assert_str_eq(s.sha256, hex);
    bench_prompts_free(&s);
    put("bad.jsonl", text, path, sizeof path);
    cr_assert_eq(bench_prompts_load(path, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "sha256") && strstr(err, "bad.jsonl"), "%s", err);
    put("unlisted.jsonl", text, path, sizeof path);
    cr_assert_eq(bench_prompts_load(path, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "not listed"), "%s", err);
}

/* ------------------------------------------------------------------ bench YAML */
static bench_config_t *load(const char *text, char *err, size_t cap) {
    return bench_config_load_string(text, strlen(text), "b.yaml", ".", err, cap);
}

Test(bench_yaml, inline_and_flow_entries_and_settings) {
    char err[2048];
    bench_config_t *b = load("configs:\n"
                             "  - name: c1   # a comment with UTF-8: \xc3\xa9\xc3\xa9\n"
                             "    strategy:\n"
                             "      plugin: chain\n"
                             "      params: {k: 8}\n"
                             "    draft: {kind: ngram}\n"
                             "    optional: true\n"
                             "  - {name: c2, strategy: {plugin: chain}, sampling: {top_k: 5}}\n"
                             "prompts: [a.jsonl, dir/b.jsonl]\n"
                             "max_tokens: 32\n"
                             "temperatures: [0, 0.7]\n"
                             "repeats: 3\n"
                             "peers: {llama_cpp: true, prompt_lookup_sweep: [{ngram: 3, k: 5}]}\n",
                             err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    cr_assert_eq(b->n_entries, 2);
    cr_assert_str_eq(b->entries[0].name, "c1");
    cr_assert_eq(b->entries[0].optional, 1);
    cr_assert_eq(b->entries[0].line, 2);
    cr_assert_str_eq(b->entries[0].cfg->strategy.plugin, "chain");
    cr_assert_eq(b->entries[0].cfg->draft.kind, CONFIG_DRAFT_NGRAM);
    cr_assert_eq(b->entries[0].cfg->strategy.params.n, 1);
    cr_assert_str_eq(b->entries[0].cfg->strategy.params.params[0].value, "8");
    cr_assert_eq(b->entries[1].cfg->sampling.top_k, 5);
    cr_assert_eq(b->n_prompts, 2);
    cr_assert_str_eq(b->prompts[0], "a.jsonl");
    cr_assert_eq(b->max_tokens, 32);
    cr_assert_eq(b->n_temperatures, 2);
    cr_assert_float_eq(b->temperatures[1], 0.7, 1e-12);
    cr_assert_eq(b->repeats, 3);
    cr_assert_eq(b->llama_cpp, 1);
    cr_assert_eq(b->n_sweep, 1);
    cr_assert_eq(b->sweep[0].ngram, 3);
    cr_assert_eq(b->sweep[0].k, 5);
    bench_config_free(b);
}

Test(bench_yaml, inline_errors_point_at_the_bench_file_line_and_key) {
    char err[2048];
    bench_config_t *b = load("configs:\n"
                             "  - name: c1\n"
                             "    strategy: {plugin: chain}\n"
                             "    sampling:\n"
                             "      temprature: 0.5\n",
                             err, sizeof err);
    cr_assert_null(b);
    cr_assert(strstr(err, "b.yaml:5:") && strstr(err, "temprature"), "%s", err);
}

Test(bench_yaml, entry_errors) {
    char err[2048];
    struct { const char *yaml, *want1, *want2; } cases[] = {
        {"configs:\n  - name: x\n    stratgy: {plugin: chain}\n", "b.yaml:3:", "stratgy"},
        {"configs:\n  - strategy: {plugin: chain}\n", "b.yaml:2:", "no 'name'"},
        {"configs:\n  - name: ar\n    strategy: {plugin: ar}\n", "b.yaml:2:", "baseline"},
        {"configs:\n  - name: a\n    strategy: {plugin: ar}\n  - name: a\n    strategy: {plugin: ar}\n", "b.yaml:4:", "twice"},
        {"configs:\n  - name: a\n", "b.yaml:2:", "needs"},
        {"configs:\n  - name: a\n    config: /nonexistent/run.yaml\n", "b.yaml:3:", "/nonexistent/run.yaml"},
        {"configs: []\nmax_tokens: 0\n", "b.yaml:2:", "max_tokens"},
        {"configs: []\ntemperatures: [0, hot]\n", "b.yaml:2:", "temperatures[1]"},
        {"configs: []\nbogus: 1\n", "b.yaml:2:", "bogus"},
        {"configs: []\npeers: {llama_cpp: maybe}\n", "b.yaml:2:", "peers.llama_cpp"},
        {"prompts: [a.jsonl]\n", "b.yaml:1:", "configs"},
        {"configs:\n  - name: a\n    strategy: {plugin: ar}\n    sampling: {temperature: -1}\n", "b.yaml:4:", "temperature"},
        {"configs:\n  - name: a\n    strategy: {plugin: ar}\ncompare: [radar]\n", "b.yaml:4:", "no configuration named 'radar'"},
        {"configs:\n  - name: a\n    strategy: {plugin: ar}\n    group: s\ncompare: [best:t]\n", "b.yaml:5:",
         "no configuration in group 't'"},
        {"configs:\n  - name: a\n    strategy: {plugin: ar}\n    group: 'a b'\n", "b.yaml:4:", "group"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bench_config_t *b = load(cases[i].yaml, err, sizeof err);
        cr_assert_null(b, "case %zu accepted", i);
        cr_assert(strstr(err, cases[i].want1) && strstr(err, cases[i].want2), "case %zu: %s", i, err);
    }
}

Test(bench_yaml, groups_and_compare_list) {
    char err[2048];
    bench_config_t *b = load("configs:\n"
                             "  - {name: s1, strategy: {plugin: static_tree}, group: static}\n"
                             "  - {name: s2, strategy: {plugin: static_tree}, group: static}\n"
                             "  - {name: r, strategy: {plugin: radar}}\n"
                             "compare: [r, best:static, ar]\n",
                             err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    cr_assert_str_eq(b->entries[1].group, "static");
    cr_assert_null(b->entries[2].group);
    cr_assert_eq(b->n_compare, 3);
    cr_assert_str_eq(b->compare[0], "r");
    cr_assert_str_eq(b->compare[1], "best:static");
    cr_assert_str_eq(b->compare[2], "ar");
    bench_config_free(b);
}

/* ------------------------------------------------------------------ ratios to references */
static int32_t no_tokens[100];

static bench_rec_t mkrec(uint32_t slot, uint32_t prompt, double tok_per_s) {
    bench_rec_t r = {.slot = slot, .prompt = prompt, .n_gen = 100, .n_timed = 100, .decode_s = 100.0 / tok_per_s,
                     .tokens = no_tokens};
    return r;
}

Test(ratios, geometric_mean_per_set_and_best_of_group) {
    /* slots: 0 AR, 1 and 2 a group, 3 the strategy; prompts 0,1 in set 0 and 2 in set 1 */
    const bench_sel_t sel[3] = {{.set = 0}, {.set = 0}, {.set = 1}};
    const double rate[4][3] = {{10, 10, 10}, {20, 10, 10}, {15, 15, 15}, {30, 15, 60}};
    bench_rec_t recs[12];
    uint32_t n = 0;
    for (uint32_t s = 0; s < 4; s++)
        for (uint32_t p = 0; p < 3; p++) recs[n++] = mkrec(s, p, rate[s][p]);
    bench_row_t *rows = NULL;
    const bench_slot_t slots[4] = {{.name = "ar"}, {.name = "s1"}, {.name = "s2"}, {.name = "x"}};
    int n_rows = bench_aggregate(recs, n, sel, 3, 2, 4, 1, slots, &rows);
    cr_assert_gt(n_rows, 0);
    /* s1: geometric mean of (2, 1, 1) = 1.26; s2: 1.5 -> s2 is the best static */
    const uint32_t members[2] = {1, 2};
    cr_assert_eq(bench_best_slot(rows, (uint32_t) n_rows, members, 2, 0), 2);
    cr_assert_eq(bench_best_slot(rows, (uint32_t) n_rows, members, 1, 0), 1);
    cr_assert_eq(bench_best_slot(rows, (uint32_t) n_rows, members, 0, 0), UINT32_MAX);
    const uint32_t ref[2] = {2, UINT32_MAX}; /* the second reference is unavailable */
    bench_ratio_t *q = NULL;
    int nq = bench_ratios(recs, n, sel, 3, 2, 4, 1, ref, 2, &q);
    cr_assert_gt(nq, 0);
    int seen_all = 0, seen_set1 = 0;
    for (int i = 0; i < nq; i++) {
        cr_assert_eq(q[i].ref, 0, "no ratio to the unavailable reference");
        if (q[i].slot != 3) continue;
        if (q[i].set == -1) {
            /* x over s2 per prompt: 2, 1, 4 -> geometric mean 2 */
            cr_assert_float_eq(q[i].ratio.mean, 2.0, 1e-9);
            cr_assert_eq(q[i].ratio.n, 3);
            cr_assert(q[i].ratio.lo < 2.0 && q[i].ratio.hi > 2.0);
            seen_all = 1;
        } else if (q[i].set == 1) {
            cr_assert_float_eq(q[i].ratio.mean, 4.0, 1e-9);
            seen_set1 = 1;
        }
    }
    cr_assert(seen_all && seen_set1);
    free(q);
    free(rows);
}

Test(bench_yaml, default_config_loads) {
    char err[1024];
    bench_config_t *b = bench_config_default(err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    cr_assert(b->n_entries >= 1);
    bench_config_free(b);
}

Test(bench_yaml, repository_bench_yaml_is_valid) {
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    if (!root) cr_skip_test("DSTRAT_SOURCE_ROOT not set");
    char path[1024], err[2048];
    snprintf(path, sizeof path, "%s/config/bench.yaml", root);
    bench_config_t *b = bench_config_load_file(path, err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    cr_assert(b->n_entries >= 1);
    bench_config_free(b);
}
