/* test_loader.c - the loader's ABI checks and refusals, with the test plugins built next to this
 * test (ABI_TEST_DIR): a plugin built against a newer minor (abi_newer.so) and broken ones
 * (abi_bad_*.so, see abi_bad.c). */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi_seen.h"
#include "loader.h"
#include "mock_host.h"

#ifndef ABI_TEST_DIR
#error "ABI_TEST_DIR must name the build dir of tests/abi"
#endif

static char err[2048];

static const char *plugin(const char *file) {
    static char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", ABI_TEST_DIR, file);
    return p;
}

/* a fresh empty dir under /tmp */
static void make_tmp_dir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/dstrat_abi_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static int is_loaded(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != NULL;
}

static void assert_refused(const char *file, const char *const *needles) {
    err[0] = '\0';
    const char *p = plugin(file);
    loader_lib_t *lib = loader_open(p, NULL, 0, err, sizeof err);
    cr_assert_null(lib, "%s was accepted", file);
    cr_assert_not_null(strstr(err, file), "the message does not name the file: %s", err);
    for (; *needles; needles++)
        cr_assert_not_null(strstr(err, *needles), "expected '%s' in: %s", *needles, err);
    cr_assert(!is_loaded(p), "%s stays loaded after the refusal", file);
}

/* (a) a plugin built against a newer minor, with larger structs and a larger parameter stride */
Test(loader, newer_minor_plugin_descriptors_read_in_host_layout) {
    loader_lib_t *lib = loader_open(plugin("abi_newer.so"), NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    cr_assert_eq(loader_strategy_count(lib), 2);
    const dstrat_entry_t *e = loader_entry(lib);
    cr_assert_eq(e->abi_version.major, 1);
    cr_assert_eq(e->abi_version.minor, 1);
    cr_assert_gt(e->struct_size, sizeof(dstrat_entry_t));
    const dstrat_strategy_desc_t *d = loader_strategy_desc(lib, 0);
    cr_assert_str_eq(d->id, "lookahead");
    cr_assert_eq(d->struct_size, sizeof(dstrat_strategy_desc_t), "copy clipped to the host's size");
    cr_assert_eq(d->n_params, 4);
    static const char *keys[] = { "k", "mode", "threshold", "verbose" };
    static const uint32_t types[] = { DSTRAT_PARAM_INT, DSTRAT_PARAM_STRING, DSTRAT_PARAM_FLOAT,
                                      DSTRAT_PARAM_BOOL };
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(d->params[i].key, keys[i], "param %d read with the wrong stride", i);
        cr_assert_eq(d->params[i].type, types[i]);
        cr_assert_eq(d->params[i].struct_size, sizeof(dstrat_param_desc_t));
    }
    cr_assert_eq(d->params[0].max_value, 8.0);
    cr_assert_str_eq(d->params[1].choices, "fast|slow");
    cr_assert_str_eq(d->params[3].default_value, "false");
    cr_assert_str_eq(loader_strategy_desc(lib, 1)->id, "plain");
    cr_assert_null(loader_strategy_desc(lib, 2));
    cr_assert_str_eq(loader_find(lib, NULL, NULL, 0)->id, "lookahead", "NULL id = the first");
    loader_close(lib);
}

Test(loader, newer_minor_plugin_runs_with_v1_0_host) {
    loader_lib_t *lib = loader_open(plugin("abi_newer.so"), NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    mock_host_t mh;
    mock_host_init(&mh, NULL);
    dstrat_param_t params[] = { { "k", "4" }, { "mode", "slow" } };
    dstrat_strategy_t *st = NULL;
    cr_assert_eq(loader_create(lib, "lookahead", &mh.host, params, 2, &st, err, sizeof err), DSTRAT_OK,
                 "%s", err);
    static const int32_t prompt[] = { 2, 7, 1, 8 };
    int32_t got[40], want[40];
    uint32_t cycles = 0;
    cr_assert_eq(mock_generate(&mh, st, NULL, prompt, 4, 40, got, &cycles, err, sizeof err), 0, "%s", err);
    mock_reference(prompt, 4, 40, want);
    cr_assert_arr_eq(got, want, sizeof got);
    cr_assert_lt(cycles, 30, "the chain drafts were never accepted (%u cycles)", cycles);
    const abi_seen_t *seen = st->get_extension(st, ABI_SEEN_EXT_ID);
    cr_assert_not_null(seen);
    cr_assert_eq(seen->k, 4);
    cr_assert_eq(seen->host_has_n_threads, 0, "a v1.0 host has no n_threads");
    cr_assert_eq(seen->limits_has_max_seq_len, 0);
    cr_assert_eq(seen->sp_has_priority, 0);
    cr_assert_eq(seen->tree_has_n_leaves, 0);
    cr_assert_eq(seen->accept_has_n_rejected, 0);
    cr_assert_geq(seen->n_propose, cycles);
    st->destroy(st);
    loader_close(lib);
}

/* The same plugin sees the 1.1 fields when a (simulated) 1.1 host passes larger structs. */
static uint32_t six_threads(const dstrat_host_t *h) {
    (void) h;
    return 6;
}
Test(loader, newer_minor_plugin_sees_fields_of_a_newer_host) {
    loader_lib_t *lib = loader_open(plugin("abi_newer.so"), NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    mock_host_t mh;
    mock_host_init(&mh, NULL);
    struct { dstrat_host_limits_t l; uint32_t max_seq_len; } lim = { mh.limits, 4096 };
    lim.l.struct_size = sizeof lim;
    struct { dstrat_host_t h; uint32_t (*n_threads)(const dstrat_host_t *); } host = { mh.host, six_threads };
    host.h.struct_size = sizeof host;
    host.h.limits = &lim.l;
    dstrat_strategy_t *st = NULL;
    cr_assert_eq(loader_create(lib, "plain", &host.h, NULL, 0, &st, err, sizeof err), DSTRAT_OK, "%s", err);
    const abi_seen_t *seen = st->get_extension(st, ABI_SEEN_EXT_ID);
    cr_assert_eq(seen->host_has_n_threads, 1);
    cr_assert_eq(seen->host_n_threads, 6);
    cr_assert_eq(seen->limits_has_max_seq_len, 1);
    st->destroy(st);
    loader_close(lib);
}

Test(loader, plugin_error_is_passed_up_with_names) {
    loader_lib_t *lib = loader_open(plugin("abi_newer.so"), NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    mock_host_t mh;
    mock_host_init(&mh, NULL);
    dstrat_param_t params[] = { { "k", "99" } };
    dstrat_strategy_t *st = NULL;
    cr_assert_eq(loader_create(lib, "lookahead", &mh.host, params, 1, &st, err, sizeof err),
                 DSTRAT_E_INVALID_ARG);
    cr_assert_null(st);
    cr_assert_not_null(strstr(err, "'lookahead'"), "%s", err);
    cr_assert_not_null(strstr(err, "'k'"), "%s", err);
    cr_assert_not_null(strstr(err, "abi_newer.so"), "%s", err);
    loader_close(lib);
}

/* (c) only dstrat_entry_v2 */
Test(loader, refuses_other_major_entry_symbol) {
    assert_refused("abi_bad_v2only.so", (const char *[]) { "no symbol dstrat_entry_v1",
                   "dstrat_entry_v2", "ABI major 2", NULL });
}

/* (d) entry reports major 2 */
Test(loader, refuses_entry_with_major_2) {
    assert_refused("abi_bad_major2.so", (const char *[]) { "ABI 2.0.0", "major 2 != 1", NULL });
}

/* (e) no entry symbol at all */
Test(loader, refuses_so_without_entry) {
    assert_refused("abi_bad_nosym.so", (const char *[]) { "no symbol dstrat_entry_v1",
                   "not a dstrat plugin", NULL });
    cr_assert_null(strstr(err, "exports"), "no other major to name: %s", err);
}

Test(loader, refuses_null_entry) {
    assert_refused("abi_bad_nullentry.so", (const char *[]) { "returned NULL", NULL });
}

Test(loader, refuses_small_entry) {
    assert_refused("abi_bad_smallentry.so", (const char *[]) { "entry struct too small", "8 bytes", NULL });
}

Test(loader, refuses_failing_init) {
    assert_refused("abi_bad_initfail.so", (const char *[]) { "init failed", "-10", NULL });
}

Test(loader, refuses_duplicate_strategy_ids) {
    assert_refused("abi_bad_dupid.so", (const char *[]) { "strategy id 'only' appears twice", NULL });
}

Test(loader, refuses_small_parameter_descriptors) {
    assert_refused("abi_bad_smallparam.so", (const char *[]) { "strategy 'only'",
                   "parameter descriptor too small (16 bytes", NULL });
}

Test(loader, refuses_create_without_strategy) {
    loader_lib_t *lib = loader_open(plugin("abi_bad_nullstrategy.so"), NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    mock_host_t mh;
    mock_host_init(&mh, NULL);
    dstrat_strategy_t *st = (dstrat_strategy_t *) &mh; /* must be reset to NULL */
    cr_assert_lt(loader_create(lib, "only", &mh.host, NULL, 0, &st, err, sizeof err), 0);
    cr_assert_null(st);
    cr_assert_not_null(strstr(err, "returned no strategy"), "%s", err);
    loader_close(lib);
}

/* (f) a text file named x.so */
Test(loader, refuses_text_file) {
    char dir[64], path[128];
    make_tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.so", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("this is not an ELF file\n", f);
    fclose(f);
    loader_lib_t *lib = loader_open(path, NULL, 0, err, sizeof err);
    cr_assert_null(lib);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cr_assert_not_null(strstr(err, "not a shared object"), "%s", err);
    unlink(path);
    rmdir(dir);
}

/* a truncated ELF: has the magic, dlopen refuses it; the dlerror text is passed on */
Test(loader, refuses_truncated_elf) {
    char dir[64], path[128];
    make_tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/dstrat_trunc.so", dir);
    FILE *f = fopen(path, "wb");
    fwrite("\x7f" "ELF\x02\x01\x01", 1, 7, f);
    fclose(f);
    loader_lib_t *lib = loader_open("trunc", (const char *const[]) { dir }, 1, err, sizeof err);
    cr_assert_null(lib);
    cr_assert_not_null(strstr(err, "not a loadable shared object"), "%s", err);
    cr_assert_not_null(strstr(err, path), "%s", err);
    unlink(path);
    rmdir(dir);
}

/* (g) unknown strategy id */
Test(loader, unknown_strategy_id_lists_available) {
    loader_lib_t *lib = loader_open(plugin("abi_newer.so"), NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    cr_assert_null(loader_find(lib, "beam", err, sizeof err));
    cr_assert_not_null(strstr(err, "'beam'"), "%s", err);
    cr_assert_not_null(strstr(err, "lookahead, plain"), "%s", err);
    mock_host_t mh;
    mock_host_init(&mh, NULL);
    dstrat_strategy_t *st = NULL;
    cr_assert_eq(loader_create(lib, "beam", &mh.host, NULL, 0, &st, err, sizeof err), DSTRAT_E_NOT_FOUND);
    cr_assert_not_null(strstr(err, "lookahead, plain"), "%s", err);
    loader_close(lib);
}

/* (h) a missing plugin lists every dir searched */
Test(loader, missing_plugin_lists_searched_dirs) {
    setenv("DSTRAT_PATH", "/nonexistent/env1:/nonexistent/env2", 1);
    const char *dirs[] = { "/nonexistent/cfg1", "/nonexistent/cfg2" };
    cr_assert_null(loader_open("ghost", dirs, 2, err, sizeof err));
    const char *needles[] = { "'ghost'", "dstrat_ghost.so", "ghost/dstrat_ghost.so",
                              "/nonexistent/cfg1 (config)", "/nonexistent/cfg2 (config)",
                              "/nonexistent/env1 (DSTRAT_PATH)", "/nonexistent/env2 (DSTRAT_PATH)",
                              "(install dir)", "(next to the executable)" };
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        cr_assert_not_null(strstr(err, needles[i]), "expected '%s' in: %s", needles[i], err);
    /* config dirs come before DSTRAT_PATH */
    cr_assert_lt(strstr(err, "cfg2"), strstr(err, "env1"));
}

Test(loader, missing_path_names_the_file) {
    cr_assert_null(loader_open("/nonexistent/dir/dstrat_x.so", NULL, 0, err, sizeof err));
    cr_assert_not_null(strstr(err, "/nonexistent/dir/dstrat_x.so"), "%s", err);
    cr_assert_not_null(strstr(err, "No such file"), "%s", err);
}

/* names resolve through caller dirs first, then DSTRAT_PATH, in both layouts */
Test(loader, name_lookup_order_and_layouts) {
    char d1[64], d2[64], p[PATH_MAX], sub[128];
    make_tmp_dir(d1, sizeof d1);
    make_tmp_dir(d2, sizeof d2);
    snprintf(p, sizeof p, "%s/dstrat_newer.so", d1);
    cr_assert_eq(symlink(plugin("abi_newer.so"), p), 0);
    snprintf(p, sizeof p, "%s/dstrat_newer.so", d2);
    cr_assert_eq(symlink(plugin("abi_newer.so"), p), 0);
    snprintf(sub, sizeof sub, "%s/other", d2); /* build-tree layout: <dir>/<name>/dstrat_<name>.so */
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(p, sizeof p, "%s/dstrat_other.so", sub);
    cr_assert_eq(symlink(plugin("abi_newer.so"), p), 0);
    setenv("DSTRAT_PATH", d2, 1);

    char found[PATH_MAX];
    const char *dirs[] = { d1 };
    cr_assert_eq(loader_resolve("newer", dirs, 1, found, sizeof found, err, sizeof err), 0, "%s", err);
    cr_assert_eq(strncmp(found, d1, strlen(d1)), 0, "the caller's dir wins: %s", found);
    cr_assert_eq(loader_resolve("newer", NULL, 0, found, sizeof found, err, sizeof err), 0, "%s", err);
    cr_assert_eq(strncmp(found, d2, strlen(d2)), 0, "then DSTRAT_PATH: %s", found);
    cr_assert_eq(loader_resolve("other", NULL, 0, found, sizeof found, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(found, p);

    loader_found_t *list = NULL;
    int n = loader_list(dirs, 1, &list);
    cr_assert_geq(n, 2);
    int saw_newer = 0, saw_other = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(list[i].name, "newer")) {
            saw_newer++;
            cr_assert_eq(strncmp(list[i].path, d1, strlen(d1)), 0, "first dir wins in the list");
        }
        saw_other += !strcmp(list[i].name, "other");
    }
    cr_assert_eq(saw_newer, 1, "a name is listed once");
    cr_assert_eq(saw_other, 1);
    loader_list_free(list, n);

    /* the symlinked names and the real file are the same library */
    loader_lib_t *a = loader_open("newer", dirs, 1, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    loader_lib_t *b = loader_open(plugin("abi_newer.so"), NULL, 0, err, sizeof err);
    cr_assert_eq(a, b);
    loader_close(b);
    loader_close(a);

    unlink(p);
    rmdir(sub);
    snprintf(p, sizeof p, "%s/dstrat_newer.so", d1);
    unlink(p);
    snprintf(p, sizeof p, "%s/dstrat_newer.so", d2);
    unlink(p);
    rmdir(d1);
    rmdir(d2);
}

/* (i) the same plugin opened twice shares one handle; the last close unloads it */
Test(loader, shared_handle_and_unload) {
    const char *p = plugin("abi_newer.so");
    char other_spelling[PATH_MAX];
    snprintf(other_spelling, sizeof other_spelling, "%s/./abi_newer.so", ABI_TEST_DIR);
    cr_assert(!is_loaded(p));
    loader_lib_t *a = loader_open(p, NULL, 0, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    loader_lib_t *b = loader_open(other_spelling, NULL, 0, err, sizeof err);
    cr_assert_eq(a, b, "the same file must share one handle");
    cr_assert_eq(loader_refcount(a), 2);
    cr_assert(is_loaded(p));
    loader_close(b);
    cr_assert_eq(loader_refcount(a), 1);
    cr_assert(is_loaded(p), "unloaded while a user remains");
    loader_close(a);
    cr_assert(!is_loaded(p), "still loaded after the last close");
    loader_close(NULL);
}
