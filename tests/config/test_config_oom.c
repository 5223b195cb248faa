/* test_config_oom.c - fault injection: the config module's allocations (malloc, calloc, realloc,
 * strdup, wrapped at link time with --wrap) fail one at a time, the Nth on the Nth run, until a
 * run needs no more than N. Every failing run must return NULL with an "out of memory" message
 * (and leak nothing: ASan), and no run may succeed after swallowing a failed allocation.
 * libyaml's own allocations are in its shared library and are not wrapped. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static long fail_at = -1; /* index of the allocation to fail; -1 = none */
static long n_calls;

static int inject(void) { return fail_at >= 0 && n_calls++ == fail_at; }

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void *__wrap_malloc(size_t n) { return inject() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return inject() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return inject() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return inject() ? NULL : __real_strdup(s); }

static const char full[] =
    "strategy:\n"
    "  plugin: ../p/dstrat_chain.so\n"
    "  id: chain\n"
    "  params: { k: 4, min_confidence: 0.3, policy: rel/p.bin }\n"
    "plugin_path: [a, /b, c]\n"
    "sampling: { temperature: 0.5, top_k: 4, top_p: 0.9, seed: 7 }\n"
    "limits: { max_tokens: 9, n_ctx: 64, max_tree_nodes: 8, max_tree_depth: 4 }\n"
    "model: { path: m.gguf, threads: 1 }\n"
    "draft: { kind: model, path: d.gguf, params: { a: 1, b: 2 } }\n";

static const dstrat_param_desc_t params[] = {
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "k", "4", 1, 32, NULL, "k" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "min_confidence", "0", 0, 1, NULL, "c" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_PATH, "policy", "x", 0, 0, NULL, "p" },
};
static const dstrat_strategy_desc_t desc = {
    sizeof(dstrat_strategy_desc_t), DSTRAT_VERSION_INIT, "chain", "chain", "1", "t", 0, 0, 3, params,
};

Test(config_oom, every_allocation_failure_is_clean) {
    char err[512];
    long k;
    for (k = 0; k < 10000; k++) {
        err[0] = '\0';
        n_calls = 0;
        fail_at = k;
        config_t *cfg = config_load_string(full, sizeof full - 1, "oom.yaml", "/base", err, sizeof err);
        int rc = cfg ? config_resolve_param_paths(cfg, &desc) : 0;
        fail_at = -1;
        if (cfg && n_calls <= k && rc == 0) {
            /* no failure was injected: the complete result */
            cr_assert_str_eq(cfg->strategy.params.params[2].value, "/base/rel/p.bin");
            cr_assert_eq(cfg->draft.params.n, 2);
            config_free(cfg);
            break;
        }
        if (cfg) {
            /* only the path rewrite may see the failure after a successful load */
            cr_assert_eq(rc, DSTRAT_E_NOMEM, "allocation %ld failed but the load succeeded", k);
            config_free(cfg);
            continue;
        }
        cr_assert_not_null(strstr(err, "out of memory"), "allocation %ld: %s", k, err);
    }
    cr_assert_gt(k, 20, "too few allocations seen (%ld): is the wrap working?", k);
    cr_assert_lt(k, 10000);
}
