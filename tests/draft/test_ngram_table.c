/* test_ngram_table.c - the n-gram draft's static table: build -> load -> lookup gives the counted
 * continuations (longest context first, rare contexts dropped, sequence starts respected); every
 * kind of damaged or mismatched file is refused with a message that names it; the n-gram draft
 * falls back to the table only below table_below, its sparse top-k equals its dense row, and a
 * follower's probability is count / (total + discount). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feature_head.h"
#include "ngram_draft.h"
#include "ngram_table.h"
#include "session.h"

#define NV 50u
#define FP 0x1234abcdULL

static char g_dir[128], g_path[256];

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/dstrat_ngt_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/t.ngt", g_dir);
}

static void teardown(void) {
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(ngram_table, .init = setup, .fini = teardown);

/* Two sequences. In the first, after "5 6" the target said 7 three times and 8 once; after "6"
 * alone it also said 9 once (in the other sequence). The second sequence starts with "6": an
 * order-2 context must not reach back into the first sequence. */
static const int32_t g_tok[] = {5, 6, 1, 5, 6, 2, 5, 6, 3, 5, 6, 4, /* seq 2 */ 6, 1, 2};
static const int32_t g_lab[] = {9, 7, 0, 9, 7, 0, 9, 7, 0, 9, 8, 0, /* seq 2 */ 9, 0, 0};
static const uint64_t g_start[] = {0, 12}, g_len[] = {12, 3};

static void build(uint32_t max_order, uint32_t n_follow, uint32_t min_count) {
    char err[256];
    uint64_t ne = 0;
    cr_assert_eq(ngram_table_build(g_path, g_tok, g_lab, 15, g_start, g_len, 2, NV, max_order, n_follow, min_count, FP,
                                   &ne, err, sizeof err),
                 0, "%s", err);
    cr_assert_gt(ne, 0u);
}

static ngram_table_t *load_ok(void) {
    char err[256];
    ngram_table_t *t = ngram_table_load(g_path, NV, FP, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    return t;
}

Test(ngram_table, build_load_lookup) {
    build(3, 4, 1);
    ngram_table_t *t = load_ok();
    ngt_row_t r;
    const int32_t c56[] = {1, 5, 6};
    cr_assert_eq(ngram_table_lookup(t, c56, 3, 1, &r), 1);
    /* "1 5 6" occurs twice (positions 2-4 and 5-7 end with 5 6 after 1? no: 2,5,6 and 3,5,6), so the
       longest context present is order 3 only for "x 5 6" with x in {1,2,3}: here "1 5 6" -> 7 */
    cr_assert_eq(r.order, 3u);
    cr_assert_eq(r.total, 1u);
    cr_assert_eq(r.n, 1u);
    cr_assert_eq(r.tok[0], 7u);
    const int32_t c_56[] = {40, 5, 6}; /* "40 5 6" was never seen: order 2 */
    cr_assert_eq(ngram_table_lookup(t, c_56, 3, 1, &r), 1);
    cr_assert_eq(r.order, 2u);
    cr_assert_eq(r.total, 4u);
    cr_assert_eq(r.n, 2u);
    cr_assert(r.tok[0] == 7 && r.cnt[0] == 3 && r.tok[1] == 8 && r.cnt[1] == 1, "followers %u:%u %u:%u", r.tok[0],
              r.cnt[0], r.tok[1], r.cnt[1]);
    /* min_total: the order-3 row (seen once) is skipped for the order-2 one */
    cr_assert_eq(ngram_table_lookup(t, c56, 3, 2, &r), 1);
    cr_assert_eq(r.order, 2u);
    /* "6" alone: 4 times in seq 1 (7,7,7,8) + once at seq 2's start (9) */
    const int32_t c6[] = {6};
    cr_assert_eq(ngram_table_lookup(t, c6, 1, 1, &r), 1);
    cr_assert_eq(r.total, 5u);
    cr_assert(r.n == 3 && r.tok[2] == 9 && r.cnt[2] == 1);
    /* seq 2's "6" has no order-2 context "4 6" (that would cross the sequence start) */
    const int32_t c46[] = {4, 6};
    cr_assert_eq(ngram_table_lookup(t, c46, 2, 1, &r), 1);
    cr_assert_eq(r.order, 1u);
    const int32_t unseen[] = {49};
    cr_assert_eq(ngram_table_lookup(t, unseen, 1, 1, &r), 0);
    ngram_table_free(t);
}

Test(ngram_table, followers_are_capped_and_rare_contexts_dropped) {
    build(2, 1, 3);
    ngram_table_t *t = load_ok();
    ngt_row_t r;
    const int32_t c6[] = {6};
    cr_assert_eq(ngram_table_lookup(t, c6, 1, 1, &r), 1);
    cr_assert(r.n == 1 && r.tok[0] == 7 && r.cnt[0] == 3 && r.total == 5);
    const int32_t c1[] = {1}; /* "1" was followed twice: below min_count 3 */
    cr_assert_eq(ngram_table_lookup(t, c1, 1, 1, &r), 0);
    ngram_table_free(t);
}

/* ---- damaged and mismatched files ---- */
static void expect_refused(const char *what) {
    char err[512];
    ngram_table_t *t = ngram_table_load(g_path, NV, FP, err, sizeof err);
    if (t) ngram_table_free(t);
    cr_assert_null(t, "a %s table loaded", what);
    cr_assert(strstr(err, g_path), "the message names the file: %s", err);
}

static long file_size(void) {
    FILE *f = fopen(g_path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void patch(long off, const void *b, size_t n) {
    FILE *f = fopen(g_path, "r+b");
    cr_assert_not_null(f);
    fseek(f, off, SEEK_SET);
    fwrite(b, 1, n, f);
    fclose(f);
}

Test(ngram_table, damaged_files_are_refused) {
    char err[512];
    build(3, 4, 1);
    cr_assert_null(ngram_table_load(g_path, NV + 1, FP, err, sizeof err));
    cr_assert(strstr(err, "vocabulary"), "%s", err);
    cr_assert_null(ngram_table_load(g_path, NV, FP + 1, err, sizeof err));
    cr_assert(strstr(err, "another target"), "%s", err);
    ngram_table_t *t = ngram_table_load(g_path, NV, 0, err, sizeof err); /* 0: fingerprint not checked */
    cr_assert_not_null(t, "%s", err);
    ngram_table_free(t);

    const long n = file_size();
    cr_assert_eq(truncate(g_path, n - 3), 0);
    expect_refused("truncated");
    build(3, 4, 1);
    FILE *f = fopen(g_path, "ab");
    fputc(0, f);
    fclose(f);
    expect_refused("longer");
    build(3, 4, 1);
    patch(n - 5, "\x7f", 1);
    expect_refused("flipped");
    cr_assert_null(ngram_table_load(g_path, NV, FP, err, sizeof err));
    cr_assert(strstr(err, "checksum"), "%s", err);
    build(3, 4, 1);
    patch(0, "XX", 2);
    expect_refused("bad magic");
    build(3, 4, 1);
    patch(8, "\x02", 1);
    expect_refused("version 2");
    build(3, 4, 1);
    const unsigned char huge[8] = {0, 0, 0, 0, 0, 0, 4, 0}; /* n_entries 2^50: refused before any allocation */
    patch(24, huge, 8);
    expect_refused("huge-count");
    cr_assert_null(ngram_table_load(g_path, NV, FP, err, sizeof err));
    cr_assert(strstr(err, "entries claimed"), "%s", err);
    cr_assert_eq(truncate(g_path, 20), 0);
    expect_refused("header-only");

    /* a well-checksummed but unsorted file: swap two entries and re-checksum */
    build(3, 4, 1);
    f = fopen(g_path, "rb");
    unsigned char *b = malloc((size_t) n);
    cr_assert_eq(fread(b, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    const size_t es = 4 * (2 + 3 + 2 * 4);
    unsigned char tmp[4 * 13];
    memcpy(tmp, b + 48, es);
    memcpy(b + 48, b + 48 + es, es);
    memcpy(b + 48 + es, tmp, es);
    fh_hash_t h;
    fh_hash_init(&h);
    fh_hash_update(&h, b + 48, (uint64_t) n - 48);
    const uint64_t s = fh_hash_final(&h);
    for (int i = 0; i < 8; i++) b[40 + i] = (unsigned char) (s >> (8 * i));
    f = fopen(g_path, "wb");
    fwrite(b, 1, (size_t) n, f);
    fclose(f);
    free(b);
    cr_assert_null(ngram_table_load(g_path, NV, FP, err, sizeof err));
    cr_assert(strstr(err, "out of order"), "%s", err);
    cr_assert_null(ngram_table_load("/nonexistent/t.ngt", NV, FP, err, sizeof err));
    cr_assert(strstr(err, "/nonexistent/t.ngt"), "%s", err);
}

/* ---- the n-gram draft with the table ---- */
static void topk_child(ngram_draft_t *nd, const int32_t *c, uint32_t n_c, int32_t tok, uint32_t k, int dense_path,
                       int32_t *ids, float *lp) {
    sess_draft_t d;
    ngram_draft_backend(nd, &d);
    if (dense_path) d.forward_topk = NULL;
    static float logits[2 * NV];
    const int32_t toks[2] = {c[n_c - 1], tok}, par[2] = {-1, 0};
    int32_t all_ids[2 * NV];
    float all_lp[2 * NV];
    cr_assert_eq(d.begin_cycle(d.ctx, c, n_c), 0);
    cr_assert_eq(sess_draft_topk(&d, NV, 0, toks, par, 2, NULL, k, logits, all_ids, all_lp, NULL), 0);
    d.end_cycle(d.ctx);
    memcpy(ids, all_ids + k, k * sizeof *ids);
    memcpy(lp, all_lp + k, k * sizeof *lp);
}

Test(ngram_table, draft_falls_back_to_the_table) {
    build(3, 4, 1);
    ngram_table_t *t = load_ok();
    /* committed text where "6" is followed by 30 once: a 1-token match, below table_below = 2 */
    const int32_t c[] = {20, 6, 30, 21, 22, 5};
    ngram_draft_params_t p = {.table = t, .table_discount = 1.0f};
    ngram_draft_t *with = ngram_draft_new(NV, &p), *without = ngram_draft_new(NV, NULL);
    int32_t ids[8], ids_d[8];
    float lp[8], lp_d[8];
    /* node "5 6": the text has "6 -> 30" (1 token), the table has "5 6" -> 7 x3, 8 x1 of 4 */
    topk_child(with, c, 6, 6, 8, 0, ids, lp);
    cr_assert_eq(ids[0], 7);
    cr_assert_eq(ids[1], 8);
    cr_assert_float_eq(lp[0], logf(3.0f / 5.0f), 1e-5f, "3 / (4 + discount 1)");
    cr_assert_float_eq(lp[1], logf(1.0f / 5.0f), 1e-5f);
    topk_child(with, c, 6, 6, 8, 1, ids_d, lp_d);
    for (uint32_t j = 0; j < 8; j++) {
        cr_assert_eq(ids[j], ids_d[j], "rank %u: sparse %d dense %d", j, ids[j], ids_d[j]);
        cr_assert_float_eq(lp[j], lp_d[j], 1e-5f, "rank %u", j);
    }
    topk_child(without, c, 6, 6, 8, 0, ids, lp);
    cr_assert_eq(ids[0], 30, "without a table the 1-token match proposes 30");
    /* a 2-token match in the text wins over the table: "5 6" followed by 31 in the text */
    const int32_t c2[] = {5, 6, 31, 22, 5};
    topk_child(with, c2, 5, 6, 8, 0, ids, lp);
    cr_assert_eq(ids[0], 31);
    cr_assert_float_eq(lp[0], 0.0f, 1e-5f, "the context's own follower keeps all the mass");
    /* table_below 1: the table only when nothing matches */
    ngram_draft_params_t p1 = {.table = t, .table_below = 1};
    ngram_draft_t *late = ngram_draft_new(NV, &p1);
    topk_child(late, c, 6, 6, 8, 0, ids, lp);
    cr_assert_eq(ids[0], 30);
    const int32_t c3[] = {40, 41, 5}; /* no match at all for "5 6": the table */
    topk_child(late, c3, 3, 6, 8, 0, ids, lp);
    cr_assert_eq(ids[0], 7);
    ngram_draft_free(late);
    ngram_draft_free(with);
    ngram_draft_free(without);
    ngram_table_free(t);
}

/* the fuzzer's seed and the shipped table are valid files of their kind */
Test(ngram_table, fuzz_seed_and_shipped_table_load) {
    const char *root = getenv("DSTRAT_SOURCE_ROOT");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/ngram_table/two_entries.ngt", root ? root : ".");
    ngram_table_t *t = ngram_table_load(path, NV, 0, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    ngt_row_t r;
    const int32_t c[] = {3, 4};
    cr_assert_eq(ngram_table_lookup(t, c, 2, 1, &r), 1);
    cr_assert(r.order == 2 && r.n == 1 && r.tok[0] == 9 && r.cnt[0] == 3);
    ngram_table_free(t);
    snprintf(path, sizeof path, "%s/policies/ngram/smollm2-replies.ngt", root ? root : ".");
    t = ngram_table_load(path, 49152, 0, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_gt(ngram_table_entries(t), 10000u);
    cr_assert_eq(ngram_table_max_order(t), 3u);
    ngram_table_free(t);
}
