/* test_bench_cli.c - `refhost bench` as users run it, on a tiny random model: the JSON it writes
 * (schema, baseline, identity with AR), and clear errors before any model work. The binary comes
 * from env REFHOST (set by meson). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refhost_run.h"
#include "bench_json.h"
#include "tiny_model.h"

static char g_dir[256], g_model[300], g_prompts[300];

static void put(const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/dstrat_benchcli_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_model, sizeof g_model, "%s/tiny.gguf", g_dir);
    char err[512];
    tiny_model_opts t = tiny_model_default_target();
    cr_assert_eq(tiny_model_write(g_model, &t, err, sizeof err), 0, "%s", err);
    put("set_a.jsonl",
        "{\"question_id\": 1, \"turns\": [\"the cat sat on the mat, the cat sat on the mat\"]}\n"
        "{\"question_id\": 2, \"turns\": [\"abc abc abc abc\"]}\n"
        "{\"question_id\": 3, \"turns\": [\"hello there\"]}\n",
        g_prompts, sizeof g_prompts);
}

static void teardown(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

static bj_value_t *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    char err[256];
    bj_value_t *v = bj_parse(buf, n, err, sizeof err);
    cr_assert_not_null(v, "%s: %s", path, err);
    return v;
}

static const bj_value_t *need(const bj_value_t *obj, const char *key, bj_type_t type) {
    const bj_value_t *v = bj_get(obj, key);
    cr_assert_not_null(v, "key '%s' missing", key);
    cr_assert_eq(v->type, type, "key '%s' has type %d, want %d", key, v->type, type);
    return v;
}

TestSuite(bench_cli, .init = setup, .fini = teardown, .timeout = 600);

Test(bench_cli, json_schema_baseline_and_identity) {
    char cfg[400], out[65536], json[400], report[400];
    put("b.yaml",
        "configs:\n"
        "  - name: chain-ngram\n"
        "    strategy: {plugin: chain, params: {k: 4}}\n"
        "    draft: {kind: ngram}\n"
        "    group: spec\n"
        "  - name: future\n"
        "    strategy: {plugin: nosuchplugin_xyz}\n"
        "    optional: true\n"
        "    group: spec\n"
        "temperatures: [0, 1]\n"
        "repeats: 2\n"
        "compare: [best:spec, ar]\n",
        cfg, sizeof cfg);
    snprintf(json, sizeof json, "%s/out.json", g_dir);
    snprintf(report, sizeof report, "%s/report", g_dir);
    int rc = refhost_run(out, sizeof out,
                     "bench --config %s --model %s --prompts %s --max-tokens 12 --threads 1 --json %s --report %s "
                     "--no-peers --no-progress",
                     cfg, g_model, g_prompts, json, report);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "future") && strstr(out, "warning"), "no warning for the skipped optional entry: %s", out);
    cr_assert(strstr(out, "| chain-ngram |"), "no summary table: %s", out);

    bj_value_t *v = read_json(json);
    cr_assert_str_eq(need(v, "schema", BJ_STR)->str, "refhost-bench/1");
    const bj_value_t *m = need(v, "machine", BJ_OBJ);
    need(m, "cpu_model", BJ_STR);
    need(m, "cpu_flags", BJ_STR);
    need(v, "git_revision", BJ_STR);
    const bj_value_t *c = need(v, "config", BJ_OBJ);
    cr_assert_eq(need(c, "max_tokens", BJ_NUM)->num, 12);
    cr_assert_eq(need(c, "temperatures", BJ_ARR)->n, 2);
    const bj_value_t *cfgs = need(c, "configs", BJ_ARR);
    cr_assert_eq(cfgs->n, 2, "ar + chain-ngram (the optional entry is skipped)");
    cr_assert_str_eq(need(&cfgs->items[0], "name", BJ_STR)->str, "ar");
    const bj_value_t *sets = need(v, "prompt_sets", BJ_ARR);
    cr_assert_eq(sets->n, 1);
    cr_assert_str_eq(need(&sets->items[0], "name", BJ_STR)->str, "set_a");
    cr_assert_eq(need(&sets->items[0], "prompts_used", BJ_NUM)->num, 3);

    const bj_value_t *res = need(v, "results", BJ_ARR);
    /* 2 configs x 2 temperatures x (set_a + all) */
    cr_assert_eq(res->n, 8);
    int seen_ar0 = 0, seen_chain0 = 0, seen_chain1 = 0;
    for (size_t i = 0; i < res->n; i++) {
        const bj_value_t *r = &res->items[i];
        const char *name = need(r, "config", BJ_STR)->str;
        need(r, "strategy", BJ_STR);
        const char *set = need(r, "set", BJ_STR)->str;
        cr_assert(!strcmp(set, "all") || !strcmp(set, "set_a"), "%s", set);
        const double t = need(r, "temperature", BJ_NUM)->num;
        cr_assert(need(r, "tokens_per_s", BJ_NUM)->num > 0);
        const double sp = need(r, "speedup_vs_ar", BJ_NUM)->num;
        const bj_value_t *ci = need(r, "speedup_ci95", BJ_ARR);
        cr_assert_eq(ci->n, 2);
        cr_assert(ci->items[0].num <= sp + 1e-9 && sp <= ci->items[1].num + 1e-9, "CI does not contain the mean");
        cr_assert(need(r, "tau", BJ_NUM)->num >= 1.0);
        cr_assert(need(r, "draft_calls_per_cycle", BJ_NUM)->num >= 0);
        cr_assert(need(r, "verified_per_cycle", BJ_NUM)->num >= 1.0);
        const bj_value_t *tm = need(r, "time_ms", BJ_OBJ);
        need(tm, "draft", BJ_NUM);
        need(tm, "verify", BJ_NUM);
        need(tm, "strategy", BJ_NUM);
        need(tm, "other", BJ_NUM);
        const bool same = need(r, "identical_to_ar", BJ_BOOL)->boolean;
        cr_assert_eq(need(r, "n_prompts", BJ_NUM)->num, 3);
        cr_assert_eq(need(r, "n_runs", BJ_NUM)->num, 6);
        if (!strcmp(name, "ar")) {
            /* AR against itself: ratio 1 on every prompt, identical outputs */
            cr_assert_float_eq(sp, 1.0, 1e-9);
            cr_assert(same);
            cr_assert_float_eq(need(r, "tau", BJ_NUM)->num, 1.0, 1e-9);
            cr_assert_float_eq(need(r, "draft_calls_per_cycle", BJ_NUM)->num, 0.0, 1e-9);
            seen_ar0 += t == 0;
        } else {
            cr_assert_str_eq(name, "chain-ngram");
            /* chain's default 'match' acceptance is seed-identical to AR, greedy and sampled */
            cr_assert(same, "chain-ngram at T=%g differs from AR", t);
            seen_chain0 += t == 0;
            seen_chain1 += t == 1;
        }
    }
    cr_assert_eq(seen_ar0, 2);
    cr_assert_eq(seen_chain0, 2);
    cr_assert_eq(seen_chain1, 2);
    need(v, "warnings", BJ_ARR);

    /* ratio tables: best:spec is chain-ngram (the skipped entry cannot be best); every config over
     * it and over AR, per temperature and set; chain over itself is exactly 1, and AR over chain
     * is the reciprocal of chain's speedup */
    const bj_value_t *ratios = need(v, "ratios", BJ_ARR);
    uint32_t n_self = 0, n_recip = 0;
    for (size_t i = 0; i < ratios->n; i++) {
        const bj_value_t *q = &ratios->items[i];
        const char *cfgname = need(q, "config", BJ_STR)->str, *ref = need(q, "reference", BJ_STR)->str;
        const char *refcfg = need(q, "reference_config", BJ_STR)->str;
        const double x = need(q, "ratio", BJ_NUM)->num;
        cr_assert_eq(need(q, "ci95", BJ_ARR)->n, 2);
        cr_assert(x > 0);
        cr_assert(!strcmp(ref, "best:spec") || !strcmp(ref, "ar"), "reference %s", ref);
        if (!strcmp(ref, "best:spec")) cr_assert_str_eq(refcfg, "chain-ngram");
        if (!strcmp(cfgname, refcfg)) {
            cr_assert_float_eq(x, 1.0, 1e-12);
            n_self++;
        }
        if (!strcmp(cfgname, "ar") && !strcmp(ref, "best:spec") && !strcmp(need(q, "set", BJ_STR)->str, "all")) {
            const double t = need(q, "temperature", BJ_NUM)->num;
            for (size_t j = 0; j < res->n; j++) {
                const bj_value_t *r = &res->items[j];
                if (strcmp(need(r, "config", BJ_STR)->str, "chain-ngram") || strcmp(need(r, "set", BJ_STR)->str, "all") ||
                    need(r, "temperature", BJ_NUM)->num != t)
                    continue;
                cr_assert_float_eq(x * need(r, "speedup_vs_ar", BJ_NUM)->num, 1.0, 1e-4); /* JSON keeps 6 digits */
                n_recip++;
            }
        }
    }
    cr_assert_eq(n_self, 8, "2 references x 2 temperatures x (set_a + all)");
    cr_assert_eq(n_recip, 2);
    bj_free(v);

    /* the report dir has the Markdown report and the same JSON */
    char path[600];
    snprintf(path, sizeof path, "%s/report.md", report);
    cr_assert_eq(access(path, R_OK), 0, "no report.md");
    snprintf(path, sizeof path, "%s/bench.json", report);
    bj_free(read_json(path));
    if (system("command -v gnuplot >/dev/null 2>&1") == 0) {
        snprintf(path, sizeof path, "%s/speedup_t0.png", report);
        cr_assert_eq(access(path, R_OK), 0, "gnuplot present but no speedup_t0.png: %s", out);
        snprintf(path, sizeof path, "%s/time_split.png", report);
        cr_assert_eq(access(path, R_OK), 0, "no time_split.png");
        snprintf(path, sizeof path, "%s/tau_vs_draft_calls.png", report);
        cr_assert_eq(access(path, R_OK), 0, "no tau_vs_draft_calls.png");
    }
}

Test(bench_cli, missing_prompt_file_fails_before_model_work) {
    char out[8192];
    /* the model does not exist either: the prompt error must come first */
    int rc = refhost_run(out, sizeof out, "bench --model /nonexistent/m.gguf --prompts %s --prompts %s/nope.jsonl --no-peers",
                     g_prompts, g_dir);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "nope.jsonl"), "%s", out);
    cr_assert_null(strstr(out, "m.gguf"), "%s", out);
    cr_assert_null(strstr(out, "loading"), "%s", out);
}

Test(bench_cli, bad_config_entry_names_file_line_and_key) {
    char cfg[400], out[8192];
    put("bad.yaml", "configs:\n  - name: c\n    strategy: {plugin: chain}\n    draft: {kind: ngram, sise: 3}\n", cfg,
        sizeof cfg);
    int rc = refhost_run(out, sizeof out, "bench --config %s --model /nonexistent/m.gguf --prompts %s", cfg, g_prompts);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "bad.yaml:4:") && strstr(out, "sise"), "%s", out);
}

Test(bench_cli, bad_strategy_param_fails_before_model_work) {
    char cfg[400], out[8192];
    put("k.yaml", "configs:\n  - name: c\n    strategy: {plugin: chain, params: {k: 999}}\n    draft: {kind: ngram}\n",
        cfg, sizeof cfg);
    int rc = refhost_run(out, sizeof out, "bench --config %s --model /nonexistent/m.gguf --prompts %s", cfg, g_prompts);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "'c'") && strstr(out, "k"), "%s", out);
    cr_assert_null(strstr(out, "loading"), "%s", out);
}

Test(bench_cli, missing_plugin_of_a_required_entry_is_an_error) {
    char cfg[400], out[8192];
    put("p.yaml", "configs:\n  - name: later\n    strategy: {plugin: nosuchplugin_xyz}\n", cfg, sizeof cfg);
    int rc = refhost_run(out, sizeof out, "bench --config %s --model /nonexistent/m.gguf --prompts %s", cfg, g_prompts);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "nosuchplugin_xyz") && strstr(out, "p.yaml:2"), "%s", out);
}

Test(bench_cli, bad_options_are_usage_errors) {
    char out[8192];
    cr_assert_eq(refhost_run(out, sizeof out, "bench --bogus"), 2, "%s", out);
    cr_assert_eq(refhost_run(out, sizeof out, "bench --temperatures 0,x --prompts %s", g_prompts), 2, "%s", out);
    cr_assert_eq(refhost_run(out, sizeof out, "bench --max-tokens 0"), 2, "%s", out);
}
