/* test_ltd.c - the ltd strategy beyond the generic conformance suite:
 *   - policy files: every kind of mismatch (network, features, n_level/n_pool, network input and
 *     output sizes, sizes list, target), missing and truncated files give a clear error; a good
 *     file's sizes list is adopted when the param is left default;
 *   - the trainer extension: get_layout, a decide hook that always STOPs (1 draft call per
 *     cycle), always CONTINUEs (max_depth calls; depth_every spaces the decisions), picks a size
 *     action (trees of min(sizes[i], pool) draft nodes), declines (-1: built-in rules), or returns
 *     an out-of-range action (a clear propose error); the cycle hook;
 *   - the observations: lengths, tails (context length, draft calls), level-1 features equal to
 *     an independent top-k log-softmax of the mock draft, the newest level with unkept children,
 *     the pool in rank order;
 *   - the stats extension (size and calls histograms count cycles), random policy variation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_host.h"
#include "conf_util.h"
#include "ltd_ext.h"
#include "mlp.h"
#include "policy_file.h"
#include "topk.h"

#define LTD_FILE "ltd/dstrat_ltd.so"
#define MAX_NEW 160
#define MAX_REC 8192

/* ------------------------------------------------------------------------------ helpers */
static const int32_t prompt0[] = {5, 17, 99, 3, 42, 7, 11};
#define N_PROMPT0 (sizeof prompt0 / sizeof prompt0[0])

static dstrat_strategy_t *create(conf_host_t *h, const char *params, int want_rc, char *err, size_t cap) {
    char store[1024], e[512];
    const dstrat_entry_t *entry = conf_entry(LTD_FILE, e, sizeof e);
    cr_assert_not_null(entry, "%s", e);
    dstrat_param_t p[16];
    const uint32_t np = conf_parse_params(params, store, sizeof store, p, 16);
    dstrat_strategy_t *s = NULL;
    err[0] = '\0';
    const int rc = entry->strategy_create("ltd", conf_host_abi(h), p, np, &s, err, cap);
    cr_assert_eq(rc, want_rc, "ltd '%s': rc %d, want %d: %s", params, rc, want_rc, err);
    return s;
}

static conf_host_t *host(void) {
    const mock_cfg_t m = mock_default_cfg();
    const sampler_params_t sp = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    conf_host_t *h = conf_host_new(&m, 0.8f, CONF_LAYOUT_CURRENT, sp, 1);
    cr_assert_not_null(h);
    return h;
}

static dstrat_ltd_stats_t ltd_stats(const dstrat_strategy_t *s) {
    const dstrat_ltd_stats_ext_t *x = s->get_extension(s, DSTRAT_LTD_STATS_ID);
    cr_assert_not_null(x);
    dstrat_ltd_stats_t st = {.struct_size = sizeof st};
    cr_assert_eq(x->get(s, &st), DSTRAT_OK);
    return st;
}

static const dstrat_ltd_train_ext_t *train_ext(const dstrat_strategy_t *s) {
    const dstrat_ltd_train_ext_t *x = s->get_extension(s, DSTRAT_LTD_TRAIN_ID);
    cr_assert_not_null(x);
    return x;
}

static int64_t generate(conf_host_t *h, dstrat_strategy_t *s, uint32_t max_new) {
    static int32_t out[MAX_NEW];
    char err[512];
    const int64_t n = conf_host_generate(h, s, prompt0, N_PROMPT0, max_new, out, err, sizeof err);
    cr_assert_eq(n, (int64_t) max_new, "%s", err);
    return n;
}

/* Writes an ltd policy with random weights. depth/size: layer lists ("18,8,2") or NULL;
   extra: "key=value" pairs that replace or add header keys ("key=" removes one). */
static void write_policy(const char *path, const char *depth, const char *size, const char *const *extra) {
    const char *prefix[2] = {"depth", "size"}, *layers[2] = {depth, size};
    dsmlp_t net[2];
    dspf_tensor_t t[4 * DSMLP_MAX_LAYERS];
    dspf_kv_t kv[32];
    char key_buf[2][64], layers_buf[2][128], ex[16][128];
    uint32_t n_kv = 0, n_t = 0;
    kv[n_kv++] = (dspf_kv_t) {"network", "ltd-mlp"};
    kv[n_kv++] = (dspf_kv_t) {"features", "ltd-v1"};
    kv[n_kv++] = (dspf_kv_t) {"n_level", "16"};
    kv[n_kv++] = (dspf_kv_t) {"n_pool", "64"};
    kv[n_kv++] = (dspf_kv_t) {"sizes", "2,4,6,8,12,16,24,32,48"};
    kv[n_kv++] = (dspf_kv_t) {"target", "mock"};
    for (int i = 0; i < 2; i++) {
        if (!layers[i]) continue;
        uint32_t sz[DSMLP_MAX_LAYERS + 1], nl = 0;
        for (const char *p = layers[i]; *p;) {
            char *end;
            sz[nl++] = (uint32_t) strtoul(p, &end, 10);
            p = *end ? end + 1 : end;
        }
        cr_assert_eq(dsmlp_init(&net[i], nl - 1, sz), 0);
        dsmlp_init_random(&net[i], 5 + (uint64_t) i, 1.0f);
        /* centre the first layer's ReLUs on a typical observation so the argmax varies */
        for (uint32_t r = 0; r < sz[1]; r++) {
            double acc = 0.0;
            for (uint32_t j = 0; j < sz[0]; j++)
                acc += net[i].w[0][(size_t) r * sz[0] + j] * (j + 2 < sz[0] ? -0.3 : j + 2 == sz[0] ? 0.05 : 0.3);
            net[i].b[0][r] = (float) (-acc + 0.1 * net[i].b[0][r]);
        }
        n_t += dsmlp_describe(&net[i], prefix[i], t + n_t, key_buf[i], sizeof key_buf[i], layers_buf[i],
                              sizeof layers_buf[i], &kv[n_kv++]);
    }
    for (uint32_t e = 0; extra && extra[e]; e++) {
        snprintf(ex[e], sizeof ex[e], "%s", extra[e]);
        char *eq = strchr(ex[e], '=');
        *eq = '\0';
        uint32_t j = 0;
        while (j < n_kv && strcmp(kv[j].key, ex[e]) != 0) j++;
        if (j == n_kv) n_kv++;
        kv[j] = (dspf_kv_t) {ex[e], eq + 1};
        if (!eq[1]) kv[j] = kv[--n_kv]; /* removal */
    }
    char err[512];
    cr_assert_eq(dspf_write(path, kv, n_kv, t, n_t, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 2; i++)
        if (layers[i]) dsmlp_free(&net[i]);
}

/* strategy_create on a policy file must fail with code rc and a message with both substrings */
static void expect_error(conf_host_t *h, const char *path, const char *more, int rc, const char *s1, const char *s2) {
    char params[1024], err[512];
    snprintf(params, sizeof params, "policy=%s %s", path, more);
    create(h, params, rc, err, sizeof err);
    cr_assert(strstr(err, s1) && strstr(err, s2), "'%s': message should name '%s' and '%s': %s", params, s1, s2, err);
}

/* ------------------------------------------------------------------------------ policy files */
Test(ltd_policy, errors_name_the_problem) {
    conf_host_t *h = host();
    char path[256], err[512];
    snprintf(path, sizeof path, "/tmp/dstrat_test_ltd_%ld.dspol", (long) getpid());
    const char *const feat[] = {"features=radar-beam-cumlogp", NULL};
    write_policy(path, "18,8,2", "66,8,9", feat);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "features 'radar-beam-cumlogp'", "ltd-v1");
    const char *const netw[] = {"network=radar-lstm", NULL};
    write_policy(path, "18,8,2", "66,8,9", netw);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "network 'radar-lstm'", path);
    /* n_level / n_pool header vs params */
    write_policy(path, "18,8,2", "66,8,9", NULL);
    expect_error(h, path, "n_level=8", DSTRAT_E_INVALID_ARG, "n_level is '16'", "n_level=8");
    expect_error(h, path, "n_pool=32", DSTRAT_E_INVALID_ARG, "n_pool is '64'", "n_pool=32");
    /* network shapes against the header */
    write_policy(path, "10,8,2", NULL, NULL);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "depth network reads 10 inputs", "n_level + 2 is 18");
    write_policy(path, "18,8,3", NULL, NULL);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "depth network has 3 outputs", path);
    write_policy(path, NULL, "66,8,5", NULL);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "size network has 5 outputs", "number of sizes is 9");
    write_policy(path, NULL, "60,8,9", NULL);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "size network reads 60 inputs", "n_pool + 2 is 66");
    /* sizes: an explicit, different list is an error; a missing one with a size network too */
    write_policy(path, NULL, "66,8,9", NULL);
    expect_error(h, path, "sizes=1,2,3", DSTRAT_E_INVALID_ARG, "sizes are '2,4,6,8,12,16,24,32,48'", "'1,2,3'");
    const char *const nosizes[] = {"sizes=", NULL};
    write_policy(path, NULL, "66,8,9", nosizes);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "no 'sizes'", path);
    const char *const badsizes[] = {"sizes=4,x", NULL};
    write_policy(path, NULL, "66,8,9", badsizes);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "sizes '4,x'", path);
    /* no network at all; a target mismatch */
    write_policy(path, NULL, NULL, NULL);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "neither a depth nor a size network", path);
    write_policy(path, "18,8,2", NULL, NULL);
    expect_error(h, path, "target=other", DSTRAT_E_INVALID_ARG, "trained for target 'mock'", "'other'");
    /* a missing tensor (dsmlp_load's message passes through) */
    const char *const more_layers[] = {"depth.layers=18,8,8,2", NULL};
    write_policy(path, "18,8,2", NULL, more_layers);
    expect_error(h, path, "", DSTRAT_E_INVALID_ARG, "depth.l1.weight", "expected [8,8]");
    /* truncated and missing files: E_IO naming the file */
    write_policy(path, "18,8,2", "66,8,9", NULL);
    cr_assert_eq(truncate(path, 200), 0);
    expect_error(h, path, "", DSTRAT_E_IO, path, "truncated");
    remove(path);
    expect_error(h, path, "", DSTRAT_E_IO, path, "open");
    /* the sizes param: bad text */
    create(h, "sizes=4,,8", DSTRAT_E_INVALID_ARG, err, sizeof err);
    cr_assert(strstr(err, "sizes '4,,8'"), "%s", err);
    create(h, "sizes=4,", DSTRAT_E_INVALID_ARG, err, sizeof err);
    cr_assert(strstr(err, "sizes '4,'"), "%s", err);
    create(h, "sizes=0,4", DSTRAT_E_INVALID_ARG, err, sizeof err);
    cr_assert(strstr(err, "1..4095"), "%s", err);
    conf_host_free(h);
}

Test(ltd_policy, good_file_and_layout) {
    conf_host_t *h = host();
    char path[256], params[512], err[512];
    snprintf(path, sizeof path, "/tmp/dstrat_test_ltd_ok_%ld.dspol", (long) getpid());
    const char *const small[] = {"n_level=6", "n_pool=12", "sizes=1,3,5,9", NULL};
    write_policy(path, "8,8,2", "14,8,4", small);
    /* sizes left default: the file's list is used; the same list given explicitly is accepted */
    snprintf(params, sizeof params, "policy=%s n_level=6 n_pool=12 max_depth=5 target=mock", path);
    dstrat_strategy_t *s = create(h, params, DSTRAT_OK, err, sizeof err);
    dstrat_ltd_layout_t l = {.struct_size = sizeof l};
    cr_assert_eq(train_ext(s)->get_layout(s, &l), DSTRAT_OK);
    cr_assert_eq(l.n_level, 6u);
    cr_assert_eq(l.n_pool, 12u);
    cr_assert_eq(l.max_depth, 5u);
    cr_assert_eq(l.n_sizes, 4u);
    cr_assert(l.sizes[0] == 1 && l.sizes[1] == 3 && l.sizes[2] == 5 && l.sizes[3] == 9);
    generate(h, s, MAX_NEW);
    const dstrat_ltd_stats_t st = ltd_stats(s);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < st.n_sizes; i++) sum += st.size_hist[i];
    cr_assert_eq(st.n_sizes, 4u);
    cr_assert_eq(sum, st.n_proposals, "the size policy decides every cycle");
    cr_assert_eq(st.n_size_decisions, st.n_proposals);
    s->destroy(s);
    snprintf(params, sizeof params, "policy=%s n_level=6 n_pool=12 sizes=1,3,5,9", path);
    s = create(h, params, DSTRAT_OK, err, sizeof err);
    s->destroy(s);
    remove(path);
    /* defaults without a policy */
    s = create(h, "", DSTRAT_OK, err, sizeof err);
    l = (dstrat_ltd_layout_t) {.struct_size = sizeof l};
    cr_assert_eq(train_ext(s)->get_layout(s, &l), DSTRAT_OK);
    cr_assert(l.n_level == 16 && l.n_pool == 64 && l.max_depth == 8 && l.n_sizes == 9 && l.sizes[8] == 48);
    /* a caller with an older, shorter struct gets what fits and nothing beyond */
    struct { dstrat_ltd_layout_t l; } big;
    memset(&big, 0xab, sizeof big);
    big.l.struct_size = (uint32_t) offsetof(dstrat_ltd_layout_t, n_sizes);
    cr_assert_eq(train_ext(s)->get_layout(s, &big.l), DSTRAT_OK);
    cr_assert(big.l.n_pool == 64 && big.l.n_sizes == 0xabababab);
    s->destroy(s);
    conf_host_free(h);
}

/* ------------------------------------------------------------------------------ hooks */
typedef struct rec {
    int32_t depth_action, size_action;  /* what the hook answers */
    uint32_t n_level, n_pool, n_sizes;  /* expected lengths */
    uint32_t n_depth, n_size, n_cycles, bad_len;
    uint32_t verified[MAX_REC];          /* per observed cycle: tree nodes */
    uint32_t context[MAX_REC];           /* per observed cycle: committed length after it */
    float first_depth[64], first_size[256]; /* observations of the first decisions */
    float size_ctx[MAX_REC];             /* per size decision: the context feature */
    uint32_t size_real[MAX_REC];         /* per size decision: pool entries above the floor */
    uint32_t max_level_real;             /* most real newest-level features seen */
    int sorted;                          /* all features descending */
} rec_t;

static int descending(const float *o, uint32_t n) {
    for (uint32_t j = 1; j < n; j++)
        if (o[j] > o[j - 1] || o[j] < -3.0f || o[j] > 0.0f) return 0;
    return 1;
}

static uint32_t real_count(const float *o, uint32_t n) {
    uint32_t k = 0;
    while (k < n && o[k] > -3.0f) k++;
    return k;
}

static int32_t DSTRAT_CALL rec_decide(void *user, uint32_t kind, const float *obs, uint32_t n_obs, uint32_t n_act) {
    rec_t *r = user;
    if (kind == DSTRAT_LTD_DEPTH) {
        if (n_obs != r->n_level + 2 || n_act != 2) r->bad_len++;
        if (r->n_depth == 0) memcpy(r->first_depth, obs, n_obs * sizeof *obs);
        r->sorted &= descending(obs, r->n_level);
        const uint32_t k = real_count(obs, r->n_level);
        if (k > r->max_level_real) r->max_level_real = k;
        r->n_depth++;
        return r->depth_action;
    }
    if (n_obs != r->n_pool + 2 || n_act != r->n_sizes) r->bad_len++;
    if (r->n_size == 0) memcpy(r->first_size, obs, n_obs * sizeof *obs);
    r->sorted &= descending(obs, r->n_pool);
    if (r->n_size < MAX_REC) {
        r->size_ctx[r->n_size] = obs[r->n_pool];
        r->size_real[r->n_size] = real_count(obs, r->n_pool);
    }
    r->n_size++;
    return r->size_action;
}

static void DSTRAT_CALL rec_cycle(void *user, const dstrat_cycle_stats_t *st) {
    rec_t *r = user;
    if (r->n_cycles < MAX_REC) {
        r->verified[r->n_cycles] = st->n_verified;
        r->context[r->n_cycles] = st->n_context;
    }
    r->n_cycles++;
}

/* a generation of MAX_NEW tokens with hooks answering depth/size; returns the stats */
static dstrat_ltd_stats_t run_hooked(const char *params, rec_t *r, int32_t depth, int32_t size) {
    conf_host_t *h = host();
    char err[512];
    dstrat_strategy_t *s = create(h, params, DSTRAT_OK, err, sizeof err);
    dstrat_ltd_layout_t l = {.struct_size = sizeof l};
    cr_assert_eq(train_ext(s)->get_layout(s, &l), DSTRAT_OK);
    memset(r, 0, sizeof *r);
    *r = (rec_t) {.depth_action = depth, .size_action = size, .n_level = l.n_level, .n_pool = l.n_pool,
                  .n_sizes = l.n_sizes, .sorted = 1};
    const dstrat_ltd_hooks_t hk = {sizeof hk, r, rec_decide, rec_cycle};
    cr_assert_eq(train_ext(s)->set_hooks(s, &hk), DSTRAT_OK);
    generate(h, s, MAX_NEW);
    const dstrat_ltd_stats_t st = ltd_stats(s);
    cr_assert_eq(r->bad_len, 0u, "observation or action count differs from the layout");
    cr_assert(r->sorted, "features must be descending in [-3, 0]");
    cr_assert_eq(r->n_size, st.n_proposals, "one size decision per cycle reaches the hook");
    cr_assert_eq(r->n_cycles + 1, st.n_proposals, "the cycle hook sees every observed cycle (not the last)");
    uint64_t hist = 0, calls = 0;
    for (uint32_t i = 0; i < st.n_sizes; i++) hist += st.size_hist[i];
    for (uint32_t i = 0; i < DSTRAT_LTD_HIST; i++) calls += st.calls_hist[i];
    cr_assert_eq(calls, st.n_proposals);
    if (size >= 0) cr_assert_eq(hist, st.n_proposals, "size_hist counts every cycle");
    /* hooks removed: the plugin decides again */
    cr_assert_eq(train_ext(s)->set_hooks(s, NULL), DSTRAT_OK);
    const uint32_t before = r->n_size;
    generate(h, s, 16);
    cr_assert_eq(r->n_size, before);
    s->destroy(s);
    conf_host_free(h);
    return st;
}

Test(ltd_hooks, stop_gives_one_draft_call) {
    rec_t *r = calloc(1, sizeof *r);
    const dstrat_ltd_stats_t st = run_hooked("top_k=6", r, 0, -1);
    cr_assert_gt(st.n_proposals, 10u);
    cr_assert_eq(st.n_draft_calls, st.n_proposals);
    cr_assert_eq(st.calls_hist[1], st.n_proposals);
    cr_assert_eq(st.n_depth_decisions, st.n_proposals);
    cr_assert_eq(r->n_depth, st.n_proposals);
    /* size declined: the built-in size 16 capped by the 6 level-1 candidates */
    cr_assert_eq(st.n_tree_nodes, 6u * st.n_proposals);
    cr_assert_eq(st.size_hist[5], st.n_proposals, "built-in size 16 is sizes[5]");
    for (uint32_t c = 0; c < r->n_cycles; c++) cr_assert_eq(r->verified[c], 7u);
    /* tails: draft calls / 10 and the committed length / 1000, which follows the cycles */
    cr_assert_float_eq(r->first_depth[r->n_level + 1], 0.1f, 1e-6);
    cr_assert_float_eq(r->first_depth[r->n_level], (float) N_PROMPT0 / 1000.0f, 1e-6);
    for (uint32_t c = 0; c + 1 < r->n_size && c < MAX_REC; c++)
        cr_assert_float_eq(r->size_ctx[c + 1], (float) r->context[c] / 1000.0f, 1e-6, "cycle %u", c);
    /* level 1 = the root's top-6 draft log-probs, computed here from the mock draft directly */
    const mock_cfg_t m = mock_default_cfg();
    float *lg = malloc(m.n_vocab * sizeof *lg), lp[6];
    int32_t ids[6];
    mock_draft_logits(&m, 0.8f, prompt0, N_PROMPT0, lg);
    double mx = lg[0], z = 0.0;
    for (uint32_t t = 1; t < m.n_vocab; t++) mx = lg[t] > mx ? lg[t] : mx;
    for (uint32_t t = 0; t < m.n_vocab; t++) z += exp(lg[t] - mx);
    cr_assert_eq(dst_topk_dense(lg, m.n_vocab, 6, ids, lp), 6u);
    for (uint32_t j = 0; j < 16; j++) {
        const float want = j < 6 ? fmaxf((float) (lp[j] - mx - log(z)), -30.0f) / 10.0f : -3.0f;
        cr_assert_float_eq(r->first_depth[j], want, 1e-5, "depth feature %u", j);
        cr_assert_float_eq(r->first_size[j], want, 1e-5, "pool feature %u", j);
    }
    free(lg);
    free(r);
}

Test(ltd_hooks, size_action_sets_the_tree) {
    rec_t *r = calloc(1, sizeof *r);
    /* STOP at once: the pool is the 6 level-1 candidates; V = min(sizes[i], 6) */
    const uint32_t want[3] = {2, 5, 6};
    for (int32_t i = 0; i < 3; i++) {
        const dstrat_ltd_stats_t st = run_hooked("top_k=6 sizes=2,5,8", r, 0, i);
        cr_assert_eq(st.size_hist[i], st.n_proposals, "action %d", i);
        cr_assert_eq(st.n_size_decisions, st.n_proposals);
        cr_assert_eq(st.n_tree_nodes, want[i] * st.n_proposals, "action %d", i);
        for (uint32_t c = 0; c < r->n_cycles && c < MAX_REC; c++)
            cr_assert_eq(r->verified[c], want[i] + 1, "action %d cycle %u", i, c);
    }
    /* CONTINUE to depth 3 with top_k 4: pool 4 + 16 + 16 = 36 < n_pool 64 < V = 60 -> 36 nodes */
    const dstrat_ltd_stats_t st = run_hooked("top_k=4 max_depth=3 sizes=8,60", r, 1, 1);
    cr_assert_eq(st.calls_hist[3], st.n_proposals);
    cr_assert_eq(st.n_depth_decisions, 2u * st.n_proposals);
    for (uint32_t c = 0; c < r->n_size && c < MAX_REC; c++) cr_assert_eq(r->size_real[c], 36u, "decision %u", c);
    for (uint32_t c = 0; c < r->n_cycles && c < MAX_REC; c++) cr_assert_eq(r->verified[c], 37u, "cycle %u", c);
    /* the newest level's features include its unkept children: 16 after call 2 */
    cr_assert_eq(r->max_level_real, 16u);
    free(r);
}

Test(ltd_hooks, depth_every_spaces_the_decisions) {
    rec_t *r = calloc(1, sizeof *r);
    dstrat_ltd_stats_t st = run_hooked("max_depth=8", r, 1, -1);
    cr_assert_eq(st.calls_hist[8], st.n_proposals);
    cr_assert_eq(st.n_depth_decisions, 7u * st.n_proposals);
    st = run_hooked("max_depth=8 depth_every=3", r, 1, -1);
    cr_assert_eq(st.calls_hist[8], st.n_proposals);
    cr_assert_eq(st.n_depth_decisions, 2u * st.n_proposals, "asked after calls 3 and 6 only");
    cr_assert_float_eq(r->first_depth[r->n_level + 1], 0.3f, 1e-6);
    st = run_hooked("max_depth=8 depth_every=3", r, 0, -1);
    cr_assert_eq(st.calls_hist[3], st.n_proposals, "STOP at the first decision: 3 calls");
    /* declining (-1) everywhere: the built-in rules decide */
    st = run_hooked("min_beam_prob=0 max_depth=5", r, -1, -1);
    cr_assert_eq(st.calls_hist[5], st.n_proposals);
    st = run_hooked("min_beam_prob=1", r, -1, -1);
    cr_assert_eq(st.calls_hist[1], st.n_proposals);
    free(r);
}

static int32_t DSTRAT_CALL bad_decide(void *user, uint32_t kind, const float *obs, uint32_t n_obs, uint32_t n_act) {
    (void) user;
    (void) obs;
    (void) n_obs;
    return kind == DSTRAT_LTD_SIZE ? (int32_t) n_act : 1;
}

Test(ltd_hooks, out_of_range_action_is_an_error) {
    conf_host_t *h = host();
    char err[512];
    dstrat_strategy_t *s = create(h, "", DSTRAT_OK, err, sizeof err);
    const dstrat_ltd_hooks_t hk = {sizeof hk, NULL, bad_decide, NULL};
    cr_assert_eq(train_ext(s)->set_hooks(s, &hk), DSTRAT_OK);
    int32_t out[8];
    cr_assert_lt(conf_host_generate(h, s, prompt0, N_PROMPT0, 8, out, err, sizeof err), 0);
    cr_assert(strstr(err, "decide hook returned action 9 of 9"), "%s", err);
    /* a hooks struct too small to hold user is refused */
    const dstrat_ltd_hooks_t tiny = {4, NULL, NULL, NULL};
    cr_assert_eq(train_ext(s)->set_hooks(s, &tiny), DSTRAT_E_INVALID_ARG);
    s->destroy(s);
    conf_host_free(h);
}

/* ------------------------------------------------------------------------------ policies */
Test(ltd_policy, random_policy_decides_and_varies) {
    conf_host_t *h = host();
    char path[256], params[512], err[512];
    snprintf(path, sizeof path, "/tmp/dstrat_test_ltd_rand_%ld.dspol", (long) getpid());
    write_policy(path, "18,16,2", "66,16,9", NULL);
    snprintf(params, sizeof params, "policy=%s", path);
    dstrat_strategy_t *s = create(h, params, DSTRAT_OK, err, sizeof err);
    generate(h, s, MAX_NEW);
    const dstrat_ltd_stats_t st = ltd_stats(s);
    uint64_t hist = 0;
    for (uint32_t i = 0; i < st.n_sizes; i++) hist += st.size_hist[i];
    cr_assert_eq(hist, st.n_proposals);
    cr_assert_eq(st.n_size_decisions, st.n_proposals);
    cr_assert_geq(st.n_depth_decisions, st.n_proposals);
    uint32_t calls_seen = 0, sizes_seen = 0;
    for (uint32_t i = 0; i < DSTRAT_LTD_HIST; i++) calls_seen += st.calls_hist[i] > 0;
    for (uint32_t i = 0; i < st.n_sizes; i++) sizes_seen += st.size_hist[i] > 0;
    fprintf(stderr, "ltd random policy: %u depths, %u sizes used; ", calls_seen, sizes_seen);
    fprintf(stderr, "%.2f draft calls, %.1f nodes per cycle over %lu cycles\n",
            (double) st.n_draft_calls / (double) st.n_proposals, (double) st.n_tree_nodes / (double) st.n_proposals,
            (unsigned long) st.n_proposals);
    s->destroy(s);
    /* same file, same decisions (argmax is deterministic) */
    s = create(h, params, DSTRAT_OK, err, sizeof err);
    generate(h, s, MAX_NEW);
    const dstrat_ltd_stats_t st2 = ltd_stats(s);
    cr_assert_eq(memcmp(st.size_hist, st2.size_hist, sizeof st.size_hist), 0);
    cr_assert_eq(memcmp(st.calls_hist, st2.calls_hist, sizeof st.calls_hist), 0);
    s->destroy(s);
    /* a depth-only file: the size comes from the `size` param */
    write_policy(path, "18,16,2", NULL, NULL);
    snprintf(params, sizeof params, "policy=%s size=3", path);
    s = create(h, params, DSTRAT_OK, err, sizeof err);
    generate(h, s, 64);
    const dstrat_ltd_stats_t st3 = ltd_stats(s);
    cr_assert_eq(st3.n_tree_nodes, 3u * st3.n_proposals);
    s->destroy(s);
    remove(path);
    conf_host_free(h);
}

/* Hand-made one-layer policies with known behaviour: depth CONTINUE iff 10 * obs[0] + ln(1/0.3) > 0
   (= the built-in rule with min_beam_prob 0.3); size action = draft calls (capped at 7), through
   the calls feature: logit_a = 10 a obs[n_pool + 1] - a^2 / 2. */
static void write_rule_policy(const char *path, int with_depth, int with_size) {
    dsmlp_t d, z;
    const uint32_t ds[2] = {18, 2}, zs[2] = {66, 8};
    cr_assert_eq(dsmlp_init(&d, 1, ds), 0);
    cr_assert_eq(dsmlp_init(&z, 1, zs), 0);
    d.w[0][1 * 18 + 0] = 10.0f;
    d.b[0][1] = (float) -log(0.3);
    for (uint32_t a = 0; a < 8; a++) {
        z.w[0][a * 66 + 65] = 10.0f * (float) a;
        z.b[0][a] = -0.5f * (float) (a * a);
    }
    dspf_tensor_t t[4];
    dspf_kv_t kv[8] = {{"network", "ltd-mlp"}, {"features", "ltd-v1"}, {"n_level", "16"}, {"n_pool", "64"},
                       {"sizes", "2,4,6,8,10,12,14,16"}};
    uint32_t n_kv = 5, n_t = 0;
    char kb[2][64], lb[2][64];
    if (with_depth) n_t += dsmlp_describe(&d, "depth", t + n_t, kb[0], sizeof kb[0], lb[0], sizeof lb[0], &kv[n_kv++]);
    if (with_size) n_t += dsmlp_describe(&z, "size", t + n_t, kb[1], sizeof kb[1], lb[1], sizeof lb[1], &kv[n_kv++]);
    char err[512];
    cr_assert_eq(dspf_write(path, kv, n_kv, t, n_t, err, sizeof err), 0, "%s", err);
    dsmlp_free(&d);
    dsmlp_free(&z);
}

static dstrat_ltd_stats_t run_params(const char *params) {
    conf_host_t *h = host();
    char err[512];
    dstrat_strategy_t *s = create(h, params, DSTRAT_OK, err, sizeof err);
    generate(h, s, MAX_NEW);
    const dstrat_ltd_stats_t st = ltd_stats(s);
    s->destroy(s);
    conf_host_free(h);
    return st;
}

Test(ltd_policy, networks_compute_what_they_encode) {
    char path[256], params[512];
    snprintf(path, sizeof path, "/tmp/dstrat_test_ltd_rule_%ld.dspol", (long) getpid());
    /* depth net only == the built-in rule, decision for decision */
    write_rule_policy(path, 1, 0);
    snprintf(params, sizeof params, "policy=%s size=12", path);
    const dstrat_ltd_stats_t a = run_params(params);
    const dstrat_ltd_stats_t b = run_params("min_beam_prob=0.3 size=12");
    cr_assert_eq(memcmp(a.calls_hist, b.calls_hist, sizeof a.calls_hist), 0);
    cr_assert_eq(a.n_tree_nodes, b.n_tree_nodes);
    cr_assert_eq(a.n_proposals, b.n_proposals);
    uint32_t depths = 0;
    for (uint32_t i = 0; i < DSTRAT_LTD_HIST; i++) depths += a.calls_hist[i] > 0;
    cr_assert_geq(depths, 2u, "the rule should stop at different depths");
    /* both nets: the size action follows the draft calls */
    write_rule_policy(path, 1, 1);
    snprintf(params, sizeof params, "policy=%s", path);
    const dstrat_ltd_stats_t c = run_params(params);
    cr_assert_eq(c.n_sizes, 8u);
    cr_assert_eq(c.size_hist[0], 0u);
    for (uint32_t k = 1; k < 7; k++) cr_assert_eq(c.size_hist[k], c.calls_hist[k], "calls %u", k);
    cr_assert_eq(c.size_hist[7], c.calls_hist[7] + c.calls_hist[8]);
    remove(path);
}

Test(ltd, stats_struct_size_and_builtin_rules) {
    conf_host_t *h = host();
    char err[512];
    dstrat_strategy_t *s = create(h, "min_beam_prob=0 size=48", DSTRAT_OK, err, sizeof err);
    generate(h, s, MAX_NEW);
    const dstrat_ltd_stats_t st = ltd_stats(s);
    cr_assert_eq(st.calls_hist[8], st.n_proposals);
    cr_assert_eq(st.size_hist[8], st.n_proposals, "size 48 is sizes[8]");
    cr_assert_eq(st.n_tree_nodes, 48u * st.n_proposals);
    cr_assert(st.sizes[0] == 2 && st.sizes[8] == 48 && st.n_sizes == 9);
    /* the generic plugin stats agree on the cycles */
    const dstrat_plugin_stats_ext_t *px = s->get_extension(s, DSTRAT_PLUGIN_STATS_ID);
    cr_assert_not_null(px);
    dstrat_plugin_stats_t ps = {.struct_size = sizeof ps};
    cr_assert_eq(px->get(s, &ps), DSTRAT_OK);
    cr_assert_eq(ps.n_cycles + 1, st.n_proposals);
    /* a short stats struct: only what fits is written */
    struct { dstrat_ltd_stats_t st; } big;
    memset(&big, 0xab, sizeof big);
    big.st.struct_size = (uint32_t) offsetof(dstrat_ltd_stats_t, n_draft_calls);
    const dstrat_ltd_stats_ext_t *x = s->get_extension(s, DSTRAT_LTD_STATS_ID);
    cr_assert_eq(x->get(s, &big.st), DSTRAT_OK);
    cr_assert(big.st.n_proposals == st.n_proposals && big.st.n_draft_calls == UINT64_C(0xabababababababab));
    big.st.struct_size = 4;
    cr_assert_eq(x->get(s, &big.st), DSTRAT_E_INVALID_ARG);
    s->destroy(s);
    conf_host_free(h);
}
