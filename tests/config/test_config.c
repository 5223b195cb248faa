/* test_config.c - the YAML config: every refusal names the file, the line and the key; good files,
 * defaults and relative paths; strategy params checked against descriptors (a fixed table and the
 * real chain plugin's, loaded through the loader). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "loader.h"

static char err[2048];

static config_t *load(const char *yaml) {
    err[0] = '\0';
    return config_load_string(yaml, strlen(yaml), "config.yaml", NULL, err, sizeof err);
}

#define assert_has(hay, needle) \
    cr_assert_not_null(strstr((hay), (needle)), "expected '%s' in: %s", (needle), (hay))

/* ---------------------------------------------------------------- refusals, table-driven */

/* arrays, not pointers: Criterion runs each parameter in a fresh process, where the addresses
 * of string literals differ (ASLR) */
typedef struct bad_case {
    char yaml[128];
    char prefix[24];      /* "config.yaml:<line>:" */
    char fragment[112];   /* the key and the problem */
} bad_case_t;

static bad_case_t bad_cases[] = {
    /* unknown keys */
    { "sampling:\n  temperature: 0.5\n  temprature: 0.7\n", "config.yaml:3:",
      "unknown key 'temprature' in 'sampling' (did you mean 'temperature'?)" },
    { "strategy:\n  plugin: ar\nsamplin:\n  seed: 1\n", "config.yaml:3:",
      "unknown key 'samplin' in 'top level' (did you mean 'sampling'?)" },
    { "limits:\n  foo: 1\n", "config.yaml:2:",
      "unknown key 'foo' in 'limits' (known: max_tokens, n_ctx, max_tree_nodes, max_tree_depth)" },
    { "model:\n  paht: x.gguf\n", "config.yaml:2:", "unknown key 'paht' in 'model' (did you mean 'path'?)" },
    /* wrong types */
    { "limits:\n  n_ctx: 512\n\n  max_tokens: lots\n", "config.yaml:4:",
      "'max_tokens' in 'limits' must be an integer, got 'lots'" },
    { "limits:\n  max_tokens: 1.5\n", "config.yaml:2:", "'max_tokens' in 'limits' must be an integer, got '1.5'" },
    { "sampling:\n  temperature: hot\n", "config.yaml:2:", "'temperature' in 'sampling' must be a number, got 'hot'" },
    { "sampling:\n  top_p: nan\n", "config.yaml:2:", "'top_p' in 'sampling' must be a number, got 'nan'" },
    { "sampling:\n  temperature: 0x10\n", "config.yaml:2:", "'temperature' in 'sampling' must be a number" },
    { "sampling:\n  seed: twelve\n", "config.yaml:2:", "'seed' in 'sampling' must be an integer, got 'twelve'" },
    { "draft:\n  kind: magic\n", "config.yaml:2:", "'kind' in 'draft' must be one of none|ngram|model|head|mix, got 'magic'" },
    /* out of range */
    { "sampling:\n  temperature: -0.1\n", "config.yaml:2:", "'temperature' in 'sampling' must be in [0, 100], got -0.1" },
    { "sampling:\n  top_p: 0\n", "config.yaml:2:", "'top_p' in 'sampling' must be in (0, 1], got 0" },
    { "sampling:\n  top_p: 1.01\n", "config.yaml:2:", "'top_p' in 'sampling' must be in (0, 1], got 1.01" },
    { "sampling:\n  top_k: -1\n", "config.yaml:2:", "'top_k' in 'sampling' must be in [0, 1000000], got -1" },
    { "sampling:\n  seed: -5\n", "config.yaml:2:", "'seed' in 'sampling' must be in [0, 18446744073709551615], got -5" },
    { "sampling:\n  seed: 18446744073709551616\n", "config.yaml:2:", "'seed' in 'sampling' must be in [0, 18446744073709551615]" },
    { "limits:\n  max_tokens: 0\n", "config.yaml:2:", "'max_tokens' in 'limits' must be in [1, 1000000], got 0" },
    { "limits:\n  max_tokens: 1000001\n", "config.yaml:2:", "'max_tokens' in 'limits' must be in [1, 1000000], got 1000001" },
    { "limits:\n  max_tokens: 99999999999999999999999\n", "config.yaml:2:", "'max_tokens' in 'limits' must be in [1, 1000000]" },
    { "limits:\n  n_ctx: 8\n", "config.yaml:2:", "'n_ctx' in 'limits' must be in [16, 1048576], got 8" },
    { "limits:\n  max_tree_nodes: 0\n", "config.yaml:2:", "'max_tree_nodes' in 'limits' must be in [1, 4096], got 0" },
    { "limits:\n  max_tree_depth: 5000\n", "config.yaml:2:", "'max_tree_depth' in 'limits' must be in [1, 1024], got 5000" },
    { "model:\n  threads: 100000\n", "config.yaml:2:", "'threads' in 'model' must be in [0, 1024], got 100000" },
    /* duplicates */
    { "sampling:\n  seed: 1\nlimits:\n  n_ctx: 64\nsampling:\n  seed: 2\n", "config.yaml:5:",
      "duplicate key 'sampling' in 'top level' (first on line 1)" },
    { "sampling:\n  seed: 1\n  seed: 2\n", "config.yaml:3:", "duplicate key 'seed' in 'sampling' (first on line 2)" },
    { "strategy:\n  plugin: chain\n  params:\n    k: 4\n    k: 5\n", "config.yaml:5:",
      "duplicate key 'k' in 'strategy.params' (first on line 4)" },
    /* wrong node kinds */
    { "sampling: [1, 2]\n", "config.yaml:1:", "'sampling' must be a mapping, got a list" },
    { "- strategy\n- sampling\n", "config.yaml:1:", "the top level must be a mapping of sections, got a list" },
    { "just text\n", "config.yaml:1:", "the top level must be a mapping of sections, got a scalar" },
    { "plugin_path: /opt/plugins\n", "config.yaml:1:", "'plugin_path' must be a list of directories, got a scalar" },
    { "plugin_path:\n  - [a, b]\n", "config.yaml:2:", "'plugin_path' in 'top level' must be a scalar, got a list" },
    { "strategy:\n  plugin: chain\n  params: [k, 4]\n", "config.yaml:3:",
      "'params' in 'strategy' must be a mapping of key: value, got a list" },
    { "strategy:\n  plugin: chain\n  params:\n    k: {a: 1}\n", "config.yaml:4:",
      "strategy param 'k' must be a scalar, got a mapping" },
    { "draft:\n  kind: ngram\n  params:\n    n: [1]\n", "config.yaml:4:", "draft param 'n' must be a scalar, got a list" },
    { "sampling:\n  temperature: {value: 1}\n", "config.yaml:2:", "'temperature' in 'sampling' must be a scalar, got a mapping" },
    { "strategy:\n  plugin: [a]\n", "config.yaml:2:", "'plugin' in 'strategy' must be a scalar, got a list" },
    { "sampling:\n  ? [a]\n  : 1\n", "config.yaml:2:", "a key in 'sampling' must be a scalar, got a list" },
    /* missing values */
    { "sampling:\n  temperature:\n", "config.yaml:2:", "'temperature' in 'sampling' has no value" },
    { "strategy:\n  plugin: ~\n", "config.yaml:2:", "'plugin' in 'strategy' has no value" },
    { "strategy:\n  plugin: chain\n  params:\n    k:\n", "config.yaml:4:", "strategy param 'k' has no value" },
    { "model:\n  path: \"a\\0b\"\n", "config.yaml:2:", "'path' in 'model' contains a NUL character" },
    /* more than one document */
    { "sampling:\n  seed: 1\n---\nsampling:\n  seed: 2\n", "config.yaml:4:", "a second YAML document" },
};

ParameterizedTestParameters(config, bad) {
    return cr_make_param_array(bad_case_t, bad_cases, sizeof bad_cases / sizeof bad_cases[0]);
}

ParameterizedTest(bad_case_t *c, config, bad) {
    config_t *cfg = load(c->yaml);
    cr_assert_null(cfg, "accepted:\n%s", c->yaml);
    cr_assert_eq(strncmp(err, c->prefix, strlen(c->prefix)), 0, "expected prefix '%s' in: %s", c->prefix, err);
    assert_has(err, c->fragment);
}

/* ---------------------------------------------------------------- YAML-level failures */

Test(config, syntax_error_has_line_and_column) {
    cr_assert_null(load("sampling:\n  temperature: 0.5\n  top_k: [1, 2\n"));
    assert_has(err, "YAML syntax error");
    cr_assert_eq(strncmp(err, "config.yaml:", 12), 0, "%s", err);
    int line = 0, col = 0;
    cr_assert_eq(sscanf(err, "config.yaml:%d:%d:", &line, &col), 2, "no line:column in %s", err);
    cr_assert_geq(line, 3);
    cr_assert_gt(col, 0);
}

Test(config, syntax_error_bad_indentation) {
    cr_assert_null(load("sampling:\n  temperature: 0.5\n top_k: 3\n"));
    assert_has(err, "config.yaml:3:");
    assert_has(err, "YAML syntax error");
}

Test(config, tab_indentation_is_refused) {
    cr_assert_null(load("sampling:\n\ttemperature: 0.5\n"));
    assert_has(err, "config.yaml:2:");
    assert_has(err, "YAML syntax error");
}

Test(config, empty_and_comment_only_files) {
    cr_assert_null(load(""));
    assert_has(err, "config.yaml: empty file");
    cr_assert_null(load("# nothing here\n\n   \n"));
    assert_has(err, "config.yaml: empty file");
    cr_assert_null(config_load_string(NULL, 0, NULL, NULL, err, sizeof err));
    assert_has(err, "<string>: empty file");
}

Test(config, invalid_utf8_is_refused) {
    static const char bad[] = "model:\n  path: \xff\xfe\n";
    cr_assert_null(config_load_string(bad, sizeof bad - 1, "config.yaml", NULL, err, sizeof err));
    assert_has(err, "config.yaml");
    assert_has(err, "YAML");
}

/* ---------------------------------------------------------------- files */

static char tmpdir[64];

static void make_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dstrat_cfg_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

Test(config, missing_file) {
    cr_assert_null(config_load_file("/nonexistent/dir/run.yaml", err, sizeof err));
    assert_has(err, "/nonexistent/dir/run.yaml");
    assert_has(err, "No such file");
}

Test(config, directory_is_not_readable_as_a_file) {
    make_tmp();
    cr_assert_null(config_load_file(tmpdir, err, sizeof err));
    assert_has(err, tmpdir);
    assert_has(err, "cannot read");
    rmdir(tmpdir);
}

Test(config, unreadable_file) {
    if (geteuid() == 0) cr_skip_test("root can read any file");
    make_tmp();
    char p[128];
    snprintf(p, sizeof p, "%s/secret.yaml", tmpdir);
    write_file(p, "sampling:\n  seed: 1\n");
    chmod(p, 0);
    cr_assert_null(config_load_file(p, err, sizeof err));
    assert_has(err, p);
    assert_has(err, "Permission denied");
    unlink(p);
    rmdir(tmpdir);
}

Test(config, file_errors_name_the_path) {
    make_tmp();
    char p[128];
    snprintf(p, sizeof p, "%s/run.yaml", tmpdir);
    write_file(p, "strategy:\n  plugin: chain\n\nsampling:\n  temprature: 1\n");
    cr_assert_null(config_load_file(p, err, sizeof err));
    char want[320];
    snprintf(want, sizeof want, "%s:5: unknown key 'temprature' in 'sampling'", p);
    assert_has(err, want);
    unlink(p);
    rmdir(tmpdir);
}

Test(config, relative_paths_resolve_against_the_file_dir) {
    make_tmp();
    char p[128];
    snprintf(p, sizeof p, "%s/run.yaml", tmpdir);
    write_file(p,
               "strategy:\n"
               "  plugin: ../plugins/dstrat_mine.so\n"
               "plugin_path: [extra, /abs/dir]\n"
               "model:\n"
               "  path: models/m.gguf\n"
               "draft:\n"
               "  kind: model\n"
               "  path: /abs/draft.gguf\n");
    config_t *cfg = config_load_file(p, err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    char want[320];
    snprintf(want, sizeof want, "%s/../plugins/dstrat_mine.so", tmpdir);
    cr_assert_str_eq(cfg->strategy.plugin, want);
    snprintf(want, sizeof want, "%s/models/m.gguf", tmpdir);
    cr_assert_str_eq(cfg->model.path, want);
    cr_assert_str_eq(cfg->draft.path, "/abs/draft.gguf");
    cr_assert_eq(cfg->draft.kind, CONFIG_DRAFT_MODEL);
    cr_assert_eq(cfg->n_plugin_path, 2);
    snprintf(want, sizeof want, "%s/extra", tmpdir);
    cr_assert_str_eq(cfg->plugin_path[0], want);
    cr_assert_str_eq(cfg->plugin_path[1], "/abs/dir");
    config_free(cfg);

    /* a plain name stays a name: the loader searches for it */
    write_file(p, "strategy:\n  plugin: chain\n");
    cfg = config_load_file(p, err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->strategy.plugin, "chain");
    config_free(cfg);
    unlink(p);
    rmdir(tmpdir);
}

/* ---------------------------------------------------------------- good input */

Test(config, defaults) {
    config_t *cfg = load("strategy:\n  plugin: chain\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->strategy.plugin, "chain");
    cr_assert_null(cfg->strategy.id);
    cr_assert_eq(cfg->strategy.params.n, 0);
    cr_assert_eq(cfg->sampling.temperature, 0.0);
    cr_assert_eq(cfg->sampling.top_k, 0);
    cr_assert_eq(cfg->sampling.top_p, 1.0);
    cr_assert_eq(cfg->sampling.seed, 1234);
    cr_assert_eq(cfg->limits.max_tokens, 256);
    cr_assert_eq(cfg->limits.n_ctx, 2048);
    cr_assert_eq(cfg->limits.max_tree_nodes, 64);
    cr_assert_eq(cfg->limits.max_tree_depth, 16);
    cr_assert_null(cfg->model.path);
    cr_assert_eq(cfg->model.threads, 0);
    cr_assert_eq(cfg->draft.kind, CONFIG_DRAFT_NONE);
    cr_assert_eq(cfg->n_plugin_path, 0);
    config_free(cfg);

    config_t *d = config_defaults();
    cr_assert_str_eq(d->strategy.plugin, "ar", "no strategy section = the ar baseline");
    config_free(d);

    /* a section with no value means "all defaults" */
    cfg = load("sampling:\nlimits:\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->limits.max_tokens, 256);
    config_free(cfg);
}

Test(config, full_file) {
    config_t *cfg = load("# a comment\n"
                         "strategy:\n"
                         "  plugin: chain\n"
                         "  id: chain\n"
                         "  params: { k: 4, min_confidence: 0.3 }\n"
                         "plugin_path: [/opt/dstrat]\n"
                         "sampling: { temperature: 0.7, top_k: 40, top_p: 0.9, seed: 18446744073709551615 }\n"
                         "limits:\n"
                         "  max_tokens: 1000000\n"
                         "  n_ctx: 4096\n"
                         "  max_tree_nodes: 128\n"
                         "  max_tree_depth: 12\n"
                         "model: { path: /m/target.gguf, threads: 8 }\n"
                         "draft:\n"
                         "  kind: ngram\n"
                         "  params:\n"
                         "    n: 3\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->strategy.id, "chain");
    cr_assert_eq(cfg->strategy.params.n, 2);
    cr_assert_str_eq(cfg->strategy.params.params[0].key, "k");
    cr_assert_str_eq(cfg->strategy.params.params[0].value, "4");
    cr_assert_str_eq(cfg->strategy.params.params[1].key, "min_confidence");
    cr_assert_str_eq(cfg->strategy.params.params[1].value, "0.3");
    cr_assert_eq(cfg->strategy.params.line[1], 5);
    cr_assert_eq(cfg->strategy.params.map_line, 5);
    cr_assert_eq(cfg->strategy.line, 2);
    cr_assert_str_eq(cfg->plugin_path[0], "/opt/dstrat");
    cr_assert_float_eq(cfg->sampling.temperature, 0.7, 1e-12);
    cr_assert_eq(cfg->sampling.top_k, 40);
    cr_assert_float_eq(cfg->sampling.top_p, 0.9, 1e-12);
    cr_assert_eq(cfg->sampling.seed, UINT64_MAX);
    cr_assert_eq(cfg->limits.max_tokens, 1000000);
    cr_assert_eq(cfg->limits.n_ctx, 4096);
    cr_assert_eq(cfg->limits.max_tree_nodes, 128);
    cr_assert_eq(cfg->limits.max_tree_depth, 12);
    cr_assert_str_eq(cfg->model.path, "/m/target.gguf");
    cr_assert_eq(cfg->model.threads, 8);
    cr_assert_eq(cfg->draft.kind, CONFIG_DRAFT_NGRAM);
    cr_assert_str_eq(config_draft_kind_name(cfg->draft.kind), "ngram");
    cr_assert_eq(cfg->draft.params.n, 1);
    cr_assert_str_eq(cfg->draft.params.params[0].value, "3");
    cr_assert_eq(cfg->draft.params.line[0], 17);
    config_free(cfg);
}

Test(config, quoted_scalars_and_block_params_keep_lines) {
    config_t *cfg = load("strategy:\n"
                         "  plugin: \"chain\"\n"
                         "  params:\n"
                         "    k: '7'\n"
                         "\n"
                         "    acceptance: rejection\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->strategy.plugin, "chain");
    cr_assert_str_eq(cfg->strategy.params.params[0].value, "7");
    cr_assert_eq(cfg->strategy.params.line[0], 4);
    cr_assert_eq(cfg->strategy.params.line[1], 6);
    cr_assert_eq(cfg->strategy.params.map_line, 3);
    config_free(cfg);
}

/* every example config in config/ loads */
Test(config, example_configs_load) {
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    cr_assert_not_null(root, "DSTRAT_SOURCE_ROOT is not set (run through meson test)");
    static const char *names[] = { "ar.yaml", "chain.yaml" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/config/%s", root, names[i]);
        config_t *cfg = config_load_file(p, err, sizeof err);
        cr_assert_not_null(cfg, "%s", err);
        config_free(cfg);
    }
}

/* ---------------------------------------------------------------- strategy params */

static const dstrat_param_desc_t fixed_params[] = {
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "k", "4", 1, 32, NULL, "draft length" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "min_confidence", "0", 0, 1, NULL, "stop below" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "acceptance", "match", 0, 0, "match|rejection", "rule" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_BOOL, "adapt", "false", 0, 0, NULL, "online" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_PATH, "policy", NULL, 0, 0, NULL, "policy file" },
};
static const dstrat_strategy_desc_t fixed_desc = {
    sizeof(dstrat_strategy_desc_t), DSTRAT_VERSION_INIT, "fixed", "fixed", "1", "test", 0, 0,
    sizeof fixed_params / sizeof fixed_params[0], fixed_params,
};

static config_t *load_params(const char *params_block) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "# line 1\n"
             "strategy:\n"
             "  plugin: fixed\n"
             "  params:\n"
             "%s", params_block);
    config_t *cfg = load(yaml);
    cr_assert_not_null(cfg, "%s", err);
    return cfg;
}

static void assert_param_error(const char *block, const char *prefix, const char *fragment) {
    config_t *cfg = load_params(block);
    cr_assert_eq(config_check_params(cfg, &fixed_desc, err, sizeof err), DSTRAT_E_INVALID_ARG,
                 "accepted: %s", block);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "expected prefix '%s' in: %s", prefix, err);
    assert_has(err, fragment);
    config_free(cfg);
}

Test(config_params, valid) {
    config_t *cfg = load_params("    k: 32\n    min_confidence: 0.25\n    acceptance: rejection\n"
                                "    adapt: true\n    policy: p.bin\n");
    cr_assert_eq(config_check_params(cfg, &fixed_desc, err, sizeof err), 0, "%s", err);
    config_free(cfg);
}

Test(config_params, refusals_name_line_and_key) {
    static const char *const pol = "    policy: p.bin\n";
    char b[256];
    snprintf(b, sizeof b, "%s    k: 99\n", pol);
    assert_param_error(b, "config.yaml:6:", "strategy param 'k': 99 is out of range [1, 32]");
    snprintf(b, sizeof b, "%s    k: four\n", pol);
    assert_param_error(b, "config.yaml:6:", "strategy param 'k': 'four' is not an integer");
    snprintf(b, sizeof b, "%s\n    min_confidence: 1.5\n", pol);
    assert_param_error(b, "config.yaml:7:", "strategy param 'min_confidence': 1.5 is out of range [0, 1]");
    snprintf(b, sizeof b, "%s    acceptance: maybe\n", pol);
    assert_param_error(b, "config.yaml:6:", "strategy param 'acceptance': 'maybe' is not one of match|rejection");
    snprintf(b, sizeof b, "%s    adapt: yes\n", pol);
    assert_param_error(b, "config.yaml:6:", "strategy param 'adapt': 'yes' is not a bool");
    snprintf(b, sizeof b, "%s    kk: 3\n", pol);
    assert_param_error(b, "config.yaml:6:", "strategy param 'kk' is not a parameter of strategy 'fixed'");
    assert_has(err, "k (int), min_confidence (float)");
    /* a required param (no default) that is missing: the line of `params:` */
    assert_param_error("    k: 3\n", "config.yaml:4:", "strategy 'fixed' needs param 'policy'");
}

Test(config_params, missing_required_without_params_section) {
    config_t *cfg = load("\nstrategy:\n  plugin: fixed\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(config_check_params(cfg, &fixed_desc, err, sizeof err), DSTRAT_E_INVALID_ARG);
    assert_has(err, "config.yaml:2: strategy 'fixed' needs param 'policy'");
    config_free(cfg);
}

Test(config_params, path_params_resolve_against_the_config_dir) {
    static const char yaml[] = "strategy:\n  plugin: fixed\n  params:\n    policy: pol/a.bin\n    k: 2\n";
    config_t *cfg = config_load_string(yaml, sizeof yaml - 1, "x.yaml", "/etc/dstrat", err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(config_check_params(cfg, &fixed_desc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(config_resolve_param_paths(cfg, &fixed_desc), 0);
    cr_assert_str_eq(cfg->strategy.params.params[0].value, "/etc/dstrat/pol/a.bin");
    cr_assert_str_eq(cfg->strategy.params.params[1].value, "2", "non-path params are untouched");
    config_free(cfg);
}

Test(config_params, a_path_param_set_to_its_keyword_default_is_not_resolved) {
    /* radar's and ltd's `policy` default to the keyword "builtin": writing it must not become a path */
    static const dstrat_param_desc_t kw_params[] = {
        {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_PATH, "policy", "builtin", 0, 0, NULL, "file or builtin"},
        {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_PATH, "extra", "builtin", 0, 0, NULL, "file or builtin"},
    };
    static const dstrat_strategy_desc_t kw_desc = {
        sizeof(dstrat_strategy_desc_t), DSTRAT_VERSION_INIT, "kw", "kw", "1", "test", 0, 0, 2, kw_params,
    };
    static const char yaml[] = "strategy:\n  plugin: kw\n  params:\n    policy: builtin\n    extra: builtin2\n";
    config_t *cfg = config_load_string(yaml, sizeof yaml - 1, "x.yaml", "/etc/dstrat", err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(config_resolve_param_paths(cfg, &kw_desc), 0);
    cr_assert_str_eq(cfg->strategy.params.params[0].value, "builtin");
    cr_assert_str_eq(cfg->strategy.params.params[1].value, "/etc/dstrat/builtin2", "other values are paths");
    config_free(cfg);
}

/* The real chain plugin's descriptors, loaded through the loader (DSTRAT_PATH from meson). */
static loader_lib_t *open_chain(void) {
    loader_lib_t *lib = loader_open("chain", NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "the chain plugin must be built and on DSTRAT_PATH: %s", err);
    return lib;
}

Test(config_params, real_chain_descriptors) {
    loader_lib_t *lib = open_chain();
    const dstrat_strategy_desc_t *d = loader_find(lib, "chain", err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    /* the first INT parameter with a finite maximum: one above it must be refused, by line */
    const dstrat_param_desc_t *ip = NULL;
    for (uint32_t i = 0; i < d->n_params && !ip; i++)
        if (d->params[i].type == DSTRAT_PARAM_INT && d->params[i].max_value < 1e9) ip = &d->params[i];
    cr_assert_not_null(ip, "the chain plugin has no bounded int parameter");
    char yaml[512];
    snprintf(yaml, sizeof yaml, "strategy:\n  plugin: chain\n  id: chain\n  params:\n    %s: %.0f\n",
             ip->key, ip->max_value + 1);
    config_t *cfg = load(yaml);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(config_check_params(cfg, d, err, sizeof err), DSTRAT_E_INVALID_ARG);
    char want[160];
    snprintf(want, sizeof want, "config.yaml:5: strategy param '%s': ", ip->key);
    assert_has(err, want);
    assert_has(err, "out of range");
    config_free(cfg);

    /* every default, written out explicitly, passes */
    size_t used = (size_t) snprintf(yaml, sizeof yaml, "strategy:\n  plugin: chain\n  params:\n");
    for (uint32_t i = 0; i < d->n_params; i++)
        if (d->params[i].default_value && used < sizeof yaml)
            used += (size_t) snprintf(yaml + used, sizeof yaml - used, "    %s: '%s'\n", d->params[i].key,
                                      d->params[i].default_value);
    cfg = load(yaml);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(config_check_params(cfg, d, err, sizeof err), 0, "%s", err);
    config_free(cfg);

    /* an unknown key lists the plugin's real keys */
    cfg = load("strategy:\n  plugin: chain\n  params:\n    not_a_param: 1\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(config_check_params(cfg, d, err, sizeof err), DSTRAT_E_INVALID_ARG);
    assert_has(err, "config.yaml:4: strategy param 'not_a_param' is not a parameter of strategy 'chain'");
    assert_has(err, d->params[0].key);
    config_free(cfg);
    loader_close(lib);
}

/* The example configs are valid for the plugins they name. */
Test(config_params, example_chain_yaml_is_valid_for_the_chain_plugin) {
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    cr_assert_not_null(root);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/config/chain.yaml", root);
    config_t *cfg = config_load_file(p, err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    loader_lib_t *lib = loader_open(cfg->strategy.plugin, (const char *const *) cfg->plugin_path,
                                    cfg->n_plugin_path, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    const dstrat_strategy_desc_t *d = loader_find(lib, cfg->strategy.id, err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    cr_assert_eq(config_check_params(cfg, d, err, sizeof err), 0, "%s", err);
    loader_close(lib);
    config_free(cfg);
}
