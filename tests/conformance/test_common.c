/* test_common.c - unit tests of plugin/common: parameter parsing, the tree builder, top-k and
 * the acceptance walks. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "params.h"
#include "topk.h"
#include "tree.h"
#include "walk.h"

static const dstrat_param_desc_t descs[] = {
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "k", "4", 1, 32, NULL, "draft length"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "conf", "0", 0, 1, NULL, "threshold"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_BOOL, "flag", "false", 0, 0, NULL, "a switch"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "mode", "a", 0, 0, "a|bb|c", "choice"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_PATH, "policy", NULL, 0, 0, NULL, "required file"},
};
#define ND 5

static int parse(const dstrat_param_t *p, uint32_t n, dsp_value_t *v, char *err) {
    return dsp_parse(descs, ND, p, n, v, err, 256);
}

Test(params, defaults_and_values) {
    dsp_value_t v[ND];
    char err[256];
    dstrat_param_t p[] = {{"policy", "x.bin"}, {"k", "7"}, {"conf", "0.25"}, {"flag", "True"}, {"mode", "bb"}};
    cr_assert_eq(parse(p, 5, v, err), 0, "%s", err);
    cr_expect_eq(dsp_get_int(descs, ND, v, "k"), 7);
    cr_expect_float_eq(dsp_get_float(descs, ND, v, "conf"), 0.25, 1e-12);
    cr_expect_eq(dsp_get_bool(descs, ND, v, "flag"), 1);
    cr_expect_str_eq(dsp_get_str(descs, ND, v, "mode"), "bb");
    cr_expect_str_eq(dsp_get_str(descs, ND, v, "policy"), "x.bin");
    cr_expect_eq(v[0].is_default, 0u);
    cr_assert_eq(parse(p, 1, v, err), 0, "%s", err); /* only the required one */
    cr_expect_eq(dsp_get_int(descs, ND, v, "k"), 4);
    cr_expect_eq(v[0].is_default, 1u);
    cr_expect_str_eq(dsp_get_str(descs, ND, v, "mode"), "a");
    cr_expect_eq(dsp_get_int(descs, ND, v, "mode"), 0, "wrong-type getter returns 0");
    cr_expect_eq(dsp_check_descs(descs, ND, err, sizeof err), 0, "%s", err);
}

static void bad(const dstrat_param_t *p, uint32_t n, const char *must_contain) {
    char err[256] = "";
    cr_expect_eq(parse(p, n, NULL, err), DSTRAT_E_INVALID_ARG, "accepted: %s=%s", n ? p[n - 1].key : "", n ? p[n - 1].value : "");
    cr_expect(strstr(err, must_contain), "message '%s' lacks '%s'", err, must_contain);
}

Test(params, errors_name_the_key_and_range) {
    bad((dstrat_param_t[]) {{"policy", "x"}, {"k", "0"}}, 2, "[1, 32]");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"k", "33"}}, 2, "'k'");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"k", "4.5"}}, 2, "not an integer");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"k", ""}}, 2, "'k'");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"k", "99999999999999999999999"}}, 2, "range");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"conf", "1.5"}}, 2, "[0, 1]");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"conf", "nan"}}, 2, "'conf'");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"conf", "0x1p-2"}}, 2, "not a number");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"flag", "yes"}}, 2, "true or false");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"mode", "b"}}, 2, "a|bb|c");
    bad((dstrat_param_t[]) {{"policy", ""}}, 1, "'policy'");
    bad((dstrat_param_t[]) {{"k", "3"}}, 1, "missing required parameter 'policy'");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"kk", "3"}}, 2, "unknown parameter 'kk' (known: k (int)");
    bad((dstrat_param_t[]) {{"policy", "x"}, {"policy", "y"}}, 2, "given twice");
    bad((dstrat_param_t[]) {{"policy", NULL}}, 1, "NULL");
}

Test(params, bad_descriptor_tables) {
    char err[256];
    dstrat_param_desc_t d[2] = {descs[0], descs[0]};
    cr_expect_eq(dsp_check_descs(d, 2, err, sizeof err), DSTRAT_E_INVALID_ARG);
    cr_expect(strstr(err, "twice"));
    d[1].key = "j";
    d[1].default_value = "99";
    cr_expect_eq(dsp_check_descs(d, 2, err, sizeof err), DSTRAT_E_INVALID_ARG);
    d[1].default_value = "5";
    d[1].min_value = 10;
    cr_expect_eq(dsp_check_descs(d, 2, err, sizeof err), DSTRAT_E_INVALID_ARG);
}

Test(topk, dense_ties_and_inf) {
    const float v[] = {1.0f, 3.0f, -INFINITY, 3.0f, 2.0f, NAN};
    int32_t ids[6];
    float out[6];
    cr_assert_eq(dst_topk_dense(v, 6, 4, ids, out), 4u);
    cr_expect_eq(ids[0], 1);
    cr_expect_eq(ids[1], 3);
    cr_expect_eq(ids[2], 4);
    cr_expect_eq(ids[3], 0);
    cr_assert_eq(dst_topk_dense(v, 6, 10, ids, NULL), 6u);
    cr_expect_eq(ids[4], 2);
    cr_expect_eq(ids[5], 5, "NaN ranks last");
    const int32_t sid[] = {9, 4, 7};
    const float slp[] = {-2.0f, -1.0f, -1.0f};
    dstrat_dist_t d = {sizeof d, 3, sid, slp};
    cr_assert_eq(dst_topk_dist(&d, 2, ids, out), 2u);
    cr_expect_eq(ids[0], 4);
    cr_expect_eq(ids[1], 7);
}

Test(tree, builder_limits_and_chain_flag) {
    int32_t tok[8], par[8];
    float lp[8];
    uint32_t depth[8];
    dstrat_tree_t t = {sizeof t, 8, 0, 0, tok, par, lp};
    dst_tree_build_t b;
    cr_assert_eq(dst_tree_start(&b, &t, depth, 5, 2, 11), 0);
    cr_expect_eq(t.flags, DSTRAT_TREE_CHAIN);
    cr_expect_eq(dst_tree_add(&b, 0, 1, -0.5f), 1);
    cr_expect_eq(dst_tree_add(&b, 1, 2, -0.5f), 2);
    cr_expect_eq(dst_tree_add(&b, 2, 3, -0.5f), DSTRAT_E_CAPACITY, "depth 3 > max 2");
    cr_expect_eq(dst_tree_add(&b, 5, 3, -0.5f), DSTRAT_E_INVALID_ARG);
    cr_expect_eq(t.flags, DSTRAT_TREE_CHAIN);
    cr_expect_eq(dst_tree_add(&b, 0, 4, -1.0f), 3);
    cr_expect_eq(t.flags, 0u, "branching clears CHAIN");
    cr_expect_eq(dst_tree_add(&b, 3, 5, -1.0f), 4);
    cr_expect_eq(dst_tree_add(&b, 0, 6, -1.0f), DSTRAT_E_CAPACITY, "5 nodes max");
    int32_t ch[4];
    cr_expect_eq(dst_tree_children(&t, 0, ch, 4), 2u);
    cr_expect_eq(ch[1], 3);
    cr_expect_eq(dst_tree_find_child(&t, 0, 4), 3);
    cr_expect_eq(dst_tree_find_child(&t, 0, 5), -1);
    cr_expect_eq(dst_tree_depth(&t, 4), 2u);
    char err[128];
    cr_expect_eq(dst_tree_validate(&t, 11, 16, 2, err, sizeof err), 0, "%s", err);
    cr_expect_eq(dst_tree_validate(&t, 12, 16, 2, err, sizeof err), DSTRAT_E_INVALID_ARG);
    t.flags = DSTRAT_TREE_CHAIN;
    cr_expect_eq(dst_tree_validate(&t, 11, 16, 2, err, sizeof err), DSTRAT_E_INVALID_ARG);
    t.flags = 0;
    par[2] = 2;
    cr_expect_eq(dst_tree_validate(&t, 11, 16, 2, err, sizeof err), DSTRAT_E_INVALID_ARG);
}

Test(walk, sample_inverse_cdf) {
    const float lp[] = {logf(0.25f), -INFINITY, logf(0.5f), logf(0.25f)};
    cr_expect_eq(dsw_sample(lp, 4, 0.0), 0);
    cr_expect_eq(dsw_sample(lp, 4, 0.2499), 0);
    cr_expect_eq(dsw_sample(lp, 4, 0.2501), 2);
    cr_expect_eq(dsw_sample(lp, 4, 0.7499), 2);
    cr_expect_eq(dsw_sample(lp, 4, 0.7501), 3);
    cr_expect_eq(dsw_sample(lp, 4, 0.99999999), 3);
    const float none[] = {-INFINITY, NAN};
    cr_expect_eq(dsw_sample(none, 2, 0.5), -1);
    /* unnormalised input is scaled by its total */
    const float un[] = {0.0f, 0.0f};
    cr_expect_eq(dsw_sample(un, 2, 0.49), 0);
    cr_expect_eq(dsw_sample(un, 2, 0.51), 1);
    /* the sparse view of the same mass picks the same token for any u */
    const int32_t sid[] = {2, 0, 3};
    const float slp[] = {lp[2], lp[0], lp[3]};
    dstrat_dist_t sd = {sizeof sd, 3, sid, slp}, dd = {sizeof dd, 4, NULL, lp};
    for (int i = 0; i < 1000; i++) {
        double u = dstrat_keyed_u01(7, (uint64_t) i);
        cr_assert_eq(dsw_sample_dist(&sd, u), dsw_sample_dist(&dd, u));
    }
}

/* the definition in walk.h, word for word: one sequential pass for the total, one for the scan */
static int32_t sample_by_definition(const float *logp, uint32_t n, double u) {
    double total = 0.0;
    for (uint32_t t = 0; t < n; t++) total += isfinite(logp[t]) ? exp((double) logp[t]) : 0.0;
    if (!(total > 0.0)) return -1;
    double acc = 0.0;
    int32_t last = -1;
    for (uint32_t t = 0; t < n; t++) {
        const double p = isfinite(logp[t]) ? exp((double) logp[t]) : 0.0;
        if (!(p > 0.0)) continue;
        acc += p;
        last = (int32_t) t;
        if (u * total < acc) return last;
    }
    return last;
}

/* dsw_sample skips ahead by block sums; it must pick exactly the defined token, for every length
 * (blocks full or not), zero-mass runs, u on a partial sum, and u = 0 or next to 1 */
Test(walk, sample_equals_its_definition) {
    static float lp[70000];
    uint64_t k = 0, checked = 0;
    const uint32_t lens[] = {1, 2, 3, 255, 256, 257, 511, 512, 1000, 49152, 65537};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        const uint32_t n = lens[li];
        for (int rep = 0; rep < 6; rep++) {
            for (uint32_t t = 0; t < n; t++) {
                const double r = dstrat_keyed_u01(11, k++);
                lp[t] = rep == 1 && r < 0.9 ? -INFINITY                                    /* mostly empty */
                      : rep == 2 && t > n / 3 ? -INFINITY                                  /* empty tail */
                      : rep == 3 && r < 0.01 ? NAN : (float) (-20.0 * dstrat_keyed_u01(12, k++));
            }
            if (rep == 4) lp[n - 1] = 0.0f, lp[0] = -INFINITY; /* mass at the very end */
            for (int j = 0; j < 300; j++) {
                double u = j == 0 ? 0.0 : j == 1 ? 0.9999999999999999 : dstrat_keyed_u01(13, k++);
                if (j == 2 && n > 2) { /* u * total exactly on a partial sum (up to rounding) */
                    double tot = 0, part = 0;
                    for (uint32_t t = 0; t < n; t++) tot += isfinite(lp[t]) ? exp((double) lp[t]) : 0.0;
                    for (uint32_t t = 0; t < n / 2; t++) part += isfinite(lp[t]) ? exp((double) lp[t]) : 0.0;
                    u = tot > 0 ? part / tot : 0.5;
                }
                cr_assert_eq(dsw_sample(lp, n, u), sample_by_definition(lp, n, u), "n %u rep %d u %.17g", n, rep, u);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 10000);
}

Test(walk, greedy_and_sampling_walks) {
    /* root 0 -> 1 (tok 5) -> 2 (tok 6); root -> 3 (tok 7) */
    int32_t tok[] = {9, 5, 6, 7}, par[] = {-1, 0, 1, 0}, path[4];
    float dl[4] = {0};
    dstrat_tree_t t = {sizeof t, 4, 4, 0, tok, par, dl};
    int32_t am[] = {7, 6, 1, 2};
    dstrat_verify_t v = {.struct_size = sizeof v, .n_nodes = 4, .argmax = am, .greedy = 1};
    dstrat_accept_t a = {.struct_size = sizeof a, .capacity = 4, .path = path, .next_token = -1};
    cr_assert_eq(dsw_accept(&t, &v, &a), 0);
    cr_expect_eq(a.n_path, 2u);
    cr_expect_eq(path[1], 3);
    cr_expect_eq(a.next_token, 2);
    am[0] = 5;
    cr_assert_eq(dsw_accept(&t, &v, &a), 0);
    cr_expect_eq(a.n_path, 3u);
    cr_expect_eq(a.next_token, 1);
    a.capacity = 2;
    cr_expect_eq(dsw_accept(&t, &v, &a), DSTRAT_E_CAPACITY);
    a.capacity = 4;
    /* sampling: one-hot targets make the walk follow 0 -> 1 -> 2 and emit token 3 */
    float rows[4][10];
    dstrat_dist_t d[4];
    const int32_t pick[] = {5, 6, 3, 0};
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 10; j++) rows[i][j] = j == pick[i] ? 0.0f : -INFINITY;
        d[i] = (dstrat_dist_t) {sizeof d[i], 10, NULL, rows[i]};
    }
    v = (dstrat_verify_t) {.struct_size = sizeof v, .n_nodes = 4, .target = d, .argmax = am, .greedy = 0,
                           .rng_seed = 3, .root_pos = 100};
    cr_assert_eq(dsw_accept(&t, &v, &a), 0);
    cr_expect_eq(a.n_path, 3u);
    cr_expect_eq(a.next_token, 3);
    v.target = NULL;
    cr_expect_eq(dsw_accept(&t, &v, &a), DSTRAT_E_INVALID_ARG);
    cr_expect_float_eq(dsw_u(&(dstrat_verify_t) {.rng_seed = 3, .root_pos = 100}, 2), dstrat_keyed_u01(3, 103), 0.0);
}
