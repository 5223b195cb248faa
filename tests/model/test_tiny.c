/* test_tiny.c - the tiny model generator: target and draft load, share the vocabulary, are
 * deterministic per seed, give non-degenerate logits, and (with the tokenizer module) carry a
 * tokenizer that loads and applies the merges. */
#include <criterion/criterion.h>
#include <math.h>

#include "kernels.h"
#include "model_fixture.h"
#ifdef HAVE_TOKENIZER
#include "tokenizer.h"
#endif

static void last_logits(const llm_model_t *m, const int32_t *tok, uint32_t n, float *out)
{
    char err[256];
    llm_ctx_params_t p = { .n_ctx = 64, .max_batch = 16, .n_threads = 1, .mode = KN_MODE_EXACT };
    llm_ctx_t *c = llm_ctx_create(m, &p, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    uint8_t want[16] = { 0 };
    want[n - 1] = 1;
    static float buf[16 * 512];
    int32_t par[16];
    for (uint32_t i = 0; i < n; i++)
        par[i] = (int32_t)i - 1;
    cr_assert_eq(llm_forward(c, tok, par, n, want, buf), 0, "%s", llm_last_error(c));
    memcpy(out, buf + (size_t)(n - 1) * 512, 512 * sizeof(float));
    llm_ctx_free(c);
}

Test(tiny, target_and_draft_load_and_share_vocab)
{
    tiny_model_opts ot = tiny_model_default_target(), od = tiny_model_default_draft();
    fixture_t ft, fd;
    cr_assert_eq(fixture_open(&ft, &ot), 0, "%s", ft.err);
    cr_assert_not_null(ft.m, "%s", ft.err);
    cr_assert_eq(fixture_open(&fd, &od), 0, "%s", fd.err);
    cr_assert_not_null(fd.m, "%s", fd.err);
    const llm_hparams_t *ht = llm_model_hparams(ft.m), *hd = llm_model_hparams(fd.m);
    cr_assert_eq(ht->n_vocab, 512);
    cr_assert_eq(hd->n_vocab, ht->n_vocab);
    cr_assert_eq(ht->n_layer, 2);
    cr_assert_eq(ht->n_head_kv, 2);
    cr_assert(hd->n_layer < ht->n_layer);
    cr_assert_eq(ht->tied_output, 1);

    /* logits: finite, spread out (not near-uniform), and different between target and draft */
    const int32_t tok[4] = { 300, 17, 261, 99 };
    float lt[512], ld[512];
    last_logits(ft.m, tok, 4, lt);
    last_logits(fd.m, tok, 4, ld);
    float mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < 512; i++) {
        cr_assert(isfinite(lt[i]) && isfinite(ld[i]));
        mn = fminf(mn, lt[i]);
        mx = fmaxf(mx, lt[i]);
    }
    cr_assert(mx - mn > 1.0f, "target logits nearly uniform (range %g)", (double)(mx - mn));
    cr_assert(memcmp(lt, ld, sizeof lt) != 0);
    fixture_close(&ft);
    fixture_close(&fd);
}

Test(tiny, same_seed_same_file_other_seed_other_weights)
{
    tiny_model_opts o = tiny_model_default_target();
    o.wtype = GGML_TYPE_Q4_1;
    o.tied = 0;
    fixture_t a, b, c;
    cr_assert_eq(fixture_open(&a, &o), 0, "%s", a.err);
    cr_assert_eq(fixture_open(&b, &o), 0, "%s", b.err);
    o.seed = 77;
    cr_assert_eq(fixture_open(&c, &o), 0, "%s", c.err);
    cr_assert(a.m && b.m && c.m);
    cr_assert_eq(llm_model_hparams(a.m)->tied_output, 0);
    const gguf_tensor_t *ta = gguf_find_tensor(a.g, "output.weight"), *tb = gguf_find_tensor(b.g, "output.weight"),
                        *tc = gguf_find_tensor(c.g, "output.weight");
    cr_assert(ta && tb && tc);
    cr_assert_eq(ta->type, GGML_TYPE_Q4_1);
    cr_assert_eq(ta->nbytes, tb->nbytes);
    cr_assert(memcmp(ta->data, tb->data, ta->nbytes) == 0);
    cr_assert(memcmp(ta->data, tc->data, ta->nbytes) != 0);
    fixture_close(&a);
    fixture_close(&b);
    fixture_close(&c);
}

#ifdef HAVE_TOKENIZER
Test(tiny, tokenizer_metadata_loads_and_merges)
{
    tiny_model_opts o = tiny_model_default_target();
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    char err[256];
    tokenizer_t *t = tok_load(f.g, err, sizeof err);
    cr_assert_not_null(t, "tok_load: %s", err);
    cr_assert_eq(tok_n_vocab(t), 512);
    cr_assert_eq(tok_bos(t), 1);
    cr_assert_eq(tok_eos(t), 2);
    cr_assert_eq(tok_add_bos(t), 0);
    int32_t ids[16];
    /* ids: 0-2 control, 3 + byte for the byte tokens, then the merges in order: 259 "Ġt", 260 "he",
     * 261 "Ġthe" */
    cr_assert_eq(tok_encode(t, " the", 4, 0, ids, 16), 1);
    cr_assert_eq(ids[0], 261);
    int64_t n = tok_encode(t, "hello", 5, 0, ids, 16);
    cr_assert_eq(n, 4);
    cr_assert_eq(ids[0], 260);
    cr_assert_eq(ids[1], 3 + 'l');
    cr_assert_eq(ids[3], 3 + 'o');
    n = tok_encode(t, "<|im_start|>x", 13, 1, ids, 16);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], 1);
    size_t len;
    const char *piece = tok_piece(t, 3 + ' ', 0, &len);
    cr_assert(len == 1 && piece[0] == ' ');
    tok_free(t);
    fixture_close(&f);
}
#endif
