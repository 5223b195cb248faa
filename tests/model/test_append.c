/* test_append.c - llm_forward_append: a draft tree grown level by level over several forwards
 * (as a draft model does within one cycle) gives bit-identical logits to the same tree evaluated
 * in one forward, and commit/drop work across the appended rows. */
#include <criterion/criterion.h>

#include "model_fixture.h"

static llm_ctx_t *ctx(const llm_model_t *m) {
    char err[256];
    llm_ctx_params_t p = {.n_ctx = 128, .max_batch = 32, .n_threads = 2};
    llm_ctx_t *c = llm_ctx_create(m, &p, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

static void prefill(llm_ctx_t *c, uint32_t n) {
    int32_t tok[16], par[16], path[16];
    for (uint32_t i = 0; i < n; i++) {
        tok[i] = (int32_t) (5 + i * 13 % 200);
        par[i] = (int32_t) i - 1;
        path[i] = (int32_t) i;
    }
    cr_assert_eq(llm_forward(c, tok, par, n, (const uint8_t[16]){0}, NULL), 0, "%s", llm_last_error(c));
    cr_assert_eq(llm_commit(c, path, n), 0, "%s", llm_last_error(c));
}

Test(model_append, levels_equal_one_forward) {
    fixture_t f;
    tiny_model_opts o = tiny_model_default_target();
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const uint32_t V = llm_model_hparams(f.m)->n_vocab;
    /* tree: 0 root; 1,2 children of 0; 3 child of 1; 4,5 children of 2; 6 child of 3 */
    const int32_t tok[7] = {7, 40, 41, 90, 91, 92, 120};
    const int32_t par[7] = {-1, 0, 0, 1, 2, 2, 3};
    float *one = malloc((size_t) 7 * V * sizeof(float)), *lv = malloc((size_t) 7 * V * sizeof(float));
    llm_ctx_t *a = ctx(f.m), *b = ctx(f.m);
    prefill(a, 9);
    prefill(b, 9);
    cr_assert_eq(llm_forward(a, tok, par, 7, NULL, one), 0, "%s", llm_last_error(a));
    /* levels: {0}, {1,2}, {3,4,5}, {6} */
    const uint32_t start[5] = {0, 1, 3, 6, 7};
    for (int l = 0; l < 4; l++) {
        uint32_t s = start[l], n = start[l + 1] - start[l];
        cr_assert_eq(llm_n_scratch(b), s);
        cr_assert_eq(llm_forward_append(b, tok + s, par + s, n, NULL, lv + (size_t) s * V), 0, "%s",
                     llm_last_error(b));
    }
    cr_assert_arr_eq(lv, one, (size_t) 7 * V * sizeof(float), "appended levels differ from one forward");
    /* commit the path 0-1-3-6 in both; the next token's logits must agree too */
    const int32_t path[4] = {0, 1, 3, 6};
    cr_assert_eq(llm_commit(a, path, 4), 0, "%s", llm_last_error(a));
    cr_assert_eq(llm_commit(b, path, 4), 0, "%s", llm_last_error(b));
    cr_assert_eq(llm_n_past(b), 13);
    cr_assert_eq(llm_n_scratch(b), 0);
    const int32_t nt[1] = {33}, np[1] = {-1};
    cr_assert_eq(llm_forward(a, nt, np, 1, NULL, one), 0);
    cr_assert_eq(llm_forward(b, nt, np, 1, NULL, lv), 0);
    cr_assert_arr_eq(lv, one, V * sizeof(float));
    /* an append whose parent is not an earlier row is refused */
    cr_assert_eq(llm_commit(b, NULL, 0), 0);
    const int32_t bad[1] = {3};
    cr_assert_eq(llm_forward_append(b, nt, bad, 1, NULL, NULL), LLM_E_ARG);
    llm_ctx_free(a);
    llm_ctx_free(b);
    free(one);
    free(lv);
    fixture_close(&f);
}
