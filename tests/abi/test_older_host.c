/* test_older_host.c - the real plugins (ar, chain) must work with a host built against an older
 * minor of the header: every struct the host fills carries a SMALLER struct_size, the bytes past it
 * are poison, and the plugin must treat the missing fields as absent (defaults), never read the
 * poison and never write past the struct. Each truncation is its own test so a failure names it;
 * the output must stay equal to plain autoregressive decoding of the mock target. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "mock_host.h"

#define N_GEN 48
static const int32_t prompt[] = { 3, 1, 4, 1, 5 };
#define N_PROMPT (sizeof prompt / sizeof prompt[0])

/* Generates with plugin `name` under the given sizes and checks the output. */
static void run_with(const char *name, const mock_sizes_t *s, int expect_unsupported) {
    char err[1024] = "";
    loader_lib_t *lib = loader_open(name, NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "cannot load the %s plugin (is DSTRAT_PATH set?): %s", name, err);
    mock_host_t mh;
    mock_host_init(&mh, s);
    dstrat_strategy_t *st = NULL;
    dstrat_status_t rc = loader_create(lib, NULL, &mh.host, NULL, 0, &st, err, sizeof err);
    if (expect_unsupported) {
        /* a host without draft_forward cannot serve a drafting strategy: a clean refusal */
        cr_assert_eq(rc, DSTRAT_E_UNSUPPORTED, "%s: expected E_UNSUPPORTED, got %d: %s", name, rc, err);
        cr_assert_null(st);
        loader_close(lib);
        return;
    }
    cr_assert_eq(rc, DSTRAT_OK, "%s: strategy_create: %s", name, err);
    int32_t got[N_GEN], want[N_GEN];
    uint32_t cycles = 0;
    int r = mock_generate(&mh, st, s, prompt, N_PROMPT, N_GEN, got, &cycles, err, sizeof err);
    cr_assert_eq(r, 0, "%s: %s", name, err);
    mock_reference(prompt, N_PROMPT, N_GEN, want);
    cr_assert_arr_eq(got, want, sizeof got, "%s: output differs from autoregressive decoding", name);
    cr_assert_leq(cycles, N_GEN);
    st->destroy(st);
    loader_close(lib);
}

static void both(const mock_sizes_t *s) {
    run_with("ar", s, 0);
    run_with("chain", s, 0);
}

Test(older_host, full_size_structs_baseline) {
    mock_sizes_t s = { 0 };
    both(&s);
}

Test(older_host, session_params_without_rng_seed) {
    mock_sizes_t s = { .session_params = offsetof(dstrat_session_params_t, rng_seed) };
    both(&s);
}

Test(older_host, session_params_without_depth_and_seed) {
    mock_sizes_t s = { .session_params = offsetof(dstrat_session_params_t, max_tree_depth) };
    both(&s);
}

Test(older_host, verify_without_seed_and_root_pos) {
    mock_sizes_t s = { .verify = offsetof(dstrat_verify_t, rng_seed) };
    both(&s);
}

Test(older_host, cycle_stats_without_counts) {
    mock_sizes_t s = { .cycle_stats = offsetof(dstrat_cycle_stats_t, n_accepted) };
    both(&s);
}

Test(older_host, tree_without_draft_logp) {
    mock_sizes_t s = { .tree = offsetof(dstrat_tree_t, draft_logp) };
    both(&s);
}

Test(older_host, limits_without_max_draft_top_k) {
    mock_sizes_t s = { .limits = offsetof(dstrat_host_limits_t, max_draft_top_k) };
    both(&s);
}

Test(older_host, host_without_draft_forward) {
    mock_sizes_t s = { .host = offsetof(dstrat_host_t, draft_forward) };
    run_with("ar", &s, 0);
    run_with("chain", &s, 1);
}

Test(older_host, all_truncations_at_once) {
    mock_sizes_t s = {
        .limits = offsetof(dstrat_host_limits_t, max_draft_top_k),
        .session_params = offsetof(dstrat_session_params_t, rng_seed),
        .tree = offsetof(dstrat_tree_t, draft_logp),
        .verify = offsetof(dstrat_verify_t, rng_seed),
        .cycle_stats = offsetof(dstrat_cycle_stats_t, n_accepted),
    };
    both(&s);
}

/* The chain must actually draft with the mock (several tokens per cycle on average), otherwise
 * the tests above would not exercise its draft path at all. */
Test(older_host, chain_drafts_through_mock) {
    char err[1024] = "";
    loader_lib_t *lib = loader_open("chain", NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    mock_host_t mh;
    mock_host_init(&mh, NULL);
    dstrat_strategy_t *st = NULL;
    cr_assert_eq(loader_create(lib, NULL, &mh.host, NULL, 0, &st, err, sizeof err), DSTRAT_OK, "%s", err);
    int32_t got[N_GEN];
    uint32_t cycles = 0;
    cr_assert_eq(mock_generate(&mh, st, NULL, prompt, N_PROMPT, N_GEN, got, &cycles, err, sizeof err), 0,
                 "%s", err);
    cr_assert_gt(mh.n_draft_calls, 0);
    cr_assert_lt(cycles, N_GEN / 2, "chain needed %u cycles for %d tokens", cycles, N_GEN);
    st->destroy(st);
    loader_close(lib);
}
