/* test_model.c - the llama forward on tiny random models: tree verification + commit equals
 * sequential feeding bit for bit; batched prefill equals token-by-token; loader and argument errors;
 * and a check against a naive double-precision forward. */
#include <criterion/criterion.h>
#include <math.h>

#include "kernels.h"
#include "model_fixture.h"
#include "model_internal.h"   /* the per-ISA function pointers, for the portable-vs-SIMD test */

/* ---- small helpers ---- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint32_t rnd(rng_t *r, uint32_t n)   /* uniform in [0, n) */
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((r->s >> 33) % n);
}

static const char *type_name(uint32_t t)
{
    return gguf_type_name(t);
}

/* index of the first differing float, or -1 */
static long first_diff(const float *a, const float *b, size_t n)
{
    if (memcmp(a, b, n * sizeof(float)) == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return (long)i;
    return -1;
}

/* KV cache type and attention order of the contexts make_ctx creates (tests set them) */
static int g_kv_type = LLM_KV_F16, g_attn_order = LLM_ATTN_AUTO;

static llm_ctx_t *make_ctx(const llm_model_t *m, uint32_t n_ctx, uint32_t max_batch, int threads)
{
    llm_ctx_params_t p = { .n_ctx = n_ctx, .max_batch = max_batch, .n_threads = threads, .mode = KN_MODE_EXACT,
                           .kv_type = g_kv_type, .attn_order = g_attn_order };
    char err[256];
    llm_ctx_t *c = llm_ctx_create(m, &p, err, sizeof err);
    cr_assert_not_null(c, "llm_ctx_create: %s", err);
    return c;
}

static void assert_same_kv(const llm_ctx_t *a, const llm_ctx_t *b, const llm_hparams_t *hp, const char *what)
{
    cr_assert_eq(llm_n_past(a), llm_n_past(b), "%s: n_past %u vs %u", what, llm_n_past(a), llm_n_past(b));
    const size_t kvd = (size_t)hp->n_head_kv * hp->head_dim;
    for (uint32_t l = 0; l < hp->n_layer; l++)
        for (uint32_t p = 0; p < llm_n_past(a); p++) {
            long dk = first_diff(llm_kv_k(a, l, p), llm_kv_k(b, l, p), kvd);
            long dv = first_diff(llm_kv_v(a, l, p), llm_kv_v(b, l, p), kvd);
            cr_assert(dk < 0 && dv < 0, "%s: KV differs at layer %u pos %u (K elem %ld, V elem %ld)", what, l, p,
                      dk, dv);
        }
}

/* feeds tokens one at a time (each committed); logits of token k go to logits + k*V when non-NULL */
static void feed_sequential(llm_ctx_t *c, const int32_t *tok, uint32_t n, float *logits, uint32_t V)
{
    const int32_t root = -1, zero = 0;
    for (uint32_t k = 0; k < n; k++) {
        int rc = llm_forward(c, &tok[k], &root, 1, NULL, logits ? logits + (size_t)k * V : NULL);
        cr_assert_eq(rc, 0, "sequential forward: %s", llm_last_error(c));
        cr_assert_eq(llm_commit(c, &zero, 1), 0, "commit: %s", llm_last_error(c));
    }
}

/* random tree: n nodes, depth <= 6 levels, biased toward chains so deep paths occur */
static void make_tree(rng_t *r, int32_t *parent, uint32_t *depth, int32_t *tok, uint32_t n, uint32_t V)
{
    for (uint32_t i = 0; i < n; i++) {
        int32_t p;
        if (i == 0)
            p = -1;
        else if (rnd(r, 2) == 0)
            p = (int32_t)i - 1;
        else
            p = (int32_t)rnd(r, i + 1) - 1;
        while (p >= 0 && depth[p] >= 5)
            p = parent[p];
        parent[i] = p;
        depth[i] = p < 0 ? 0 : depth[p] + 1;
        tok[i] = (int32_t)rnd(r, V);
    }
}

/* random root-to-somewhere path; may be empty */
static uint32_t pick_path(rng_t *r, const int32_t *parent, uint32_t n, int32_t *path)
{
    if (rnd(r, 10) == 0)
        return 0;
    int32_t roots[64];
    uint32_t n_roots = 0;
    for (uint32_t i = 0; i < n; i++)
        if (parent[i] < 0)
            roots[n_roots++] = (int32_t)i;
    uint32_t len = 0;
    path[len++] = roots[rnd(r, n_roots)];
    for (;;) {
        int32_t kids[64];
        uint32_t n_kids = 0;
        for (uint32_t i = 0; i < n; i++)
            if (parent[i] == path[len - 1])
                kids[n_kids++] = (int32_t)i;
        if (n_kids == 0 || rnd(r, 5) == 0)
            break;
        path[len++] = kids[rnd(r, n_kids)];
    }
    return len;
}

/* ---- (a) tree forward + commit == sequential ---- */

static void tree_vs_sequential(uint32_t wtype, int threads_tree, uint64_t seed)
{
    tiny_model_opts o = tiny_model_default_target();
    o.wtype = wtype;
    o.seed = seed;
    o.tied = seed % 2 == 0;                                    /* both LM head layouts */
    o.n_head_kv = seed % 3 == 0 ? 4 : seed % 3 == 1 ? 2 : 1;   /* MHA, GQA, MQA */
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "load: %s", f.err);
    const llm_hparams_t *hp = llm_model_hparams(f.m);
    const uint32_t V = hp->n_vocab, D = hp->n_embd;
    llm_ctx_t *A = make_ctx(f.m, 256, 40, threads_tree);
    llm_ctx_t *B = make_ctx(f.m, 256, 40, 1);
    const uint32_t keep[] = { 0, 1, hp->n_layer };
    cr_assert_eq(llm_ctx_keep_hidden(A, keep, 3), 0);
    cr_assert_eq(llm_ctx_keep_hidden(B, keep, 3), 0);

    float *la = malloc(40 * V * sizeof(float)), *lb = malloc(40 * V * sizeof(float));
    cr_assert(la && lb);
    rng_t r = { seed * 7919 + wtype };
    char what[128];

    /* prompt: batched chain on A, one by one on B */
    int32_t tok[40], parent[40], path[40];
    uint32_t depth[40];
    uint32_t n_prompt = 5 + rnd(&r, 8);
    for (uint32_t i = 0; i < n_prompt; i++) {
        tok[i] = (int32_t)rnd(&r, V);
        parent[i] = (int32_t)i - 1;
        path[i] = (int32_t)i;
    }
    cr_assert_eq(llm_forward(A, tok, parent, n_prompt, NULL, NULL), 0, "%s", llm_last_error(A));
    cr_assert_eq(llm_commit(A, path, n_prompt), 0, "%s", llm_last_error(A));
    feed_sequential(B, tok, n_prompt, NULL, V);
    snprintf(what, sizeof what, "%s threads %d seed %llu prompt", type_name(wtype), threads_tree,
             (unsigned long long)seed);
    assert_same_kv(A, B, hp, what);

    for (int round = 0; round < 5; round++) {
        uint32_t n = 1 + rnd(&r, 40);
        make_tree(&r, parent, depth, tok, n, V);
        cr_assert_eq(llm_forward(A, tok, parent, n, NULL, la), 0, "tree forward: %s", llm_last_error(A));
        uint32_t n_path = pick_path(&r, parent, n, path);
        snprintf(what, sizeof what, "%s threads %d seed %llu round %d (tree %u nodes, path %u)", type_name(wtype),
                 threads_tree, (unsigned long long)seed, round, n, n_path);

        /* each accepted token, fed alone, gives the tree row's logits and hidden states */
        for (uint32_t k = 0; k < n_path; k++) {
            const int32_t root = -1, zero = 0;
            cr_assert_eq(llm_forward(B, &tok[path[k]], &root, 1, NULL, lb), 0, "%s", llm_last_error(B));
            long dl = first_diff(la + (size_t)path[k] * V, lb, V);
            cr_assert(dl < 0, "%s: logits of path[%u] (row %d) differ at %ld: %g vs %g", what, k, path[k], dl,
                      (double)la[(size_t)path[k] * V + dl], (double)lb[dl]);
            for (int h = 0; h < 3; h++) {
                const float *ha = llm_hidden(A, keep[h], (uint32_t)path[k]), *hb = llm_hidden(B, keep[h], 0);
                cr_assert(ha && hb, "%s: hidden layer %u missing", what, keep[h]);
                cr_assert(first_diff(ha, hb, D) < 0, "%s: hidden layer %u differs", what, keep[h]);
            }
            cr_assert_eq(llm_commit(B, &zero, 1), 0);
        }
        cr_assert_eq(llm_commit(A, n_path ? path : NULL, n_path), 0, "%s: commit: %s", what, llm_last_error(A));
        assert_same_kv(A, B, hp, what);

        /* the next token sees the same cache */
        const int32_t next = (int32_t)rnd(&r, V), root = -1, zero = 0;
        cr_assert_eq(llm_forward(A, &next, &root, 1, NULL, la), 0);
        cr_assert_eq(llm_forward(B, &next, &root, 1, NULL, lb), 0);
        cr_assert(first_diff(la, lb, V) < 0, "%s: next-token logits differ", what);
        cr_assert_eq(llm_commit(A, &zero, 1), 0);
        cr_assert_eq(llm_commit(B, &zero, 1), 0);
    }
    free(la);
    free(lb);
    llm_ctx_free(A);
    llm_ctx_free(B);
    fixture_close(&f);
}

static const uint32_t k_types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1 };

Test(model, tree_commit_equals_sequential_1_thread)
{
    for (size_t t = 0; t < sizeof k_types / sizeof k_types[0]; t++)
        for (uint64_t seed = 1; seed <= 3; seed++)
            tree_vs_sequential(k_types[t], 1, seed);
}

Test(model, tree_commit_equals_sequential_vec_order)
{
    g_attn_order = LLM_ATTN_VEC;   /* llama.cpp's one-token order for every token */
    tree_vs_sequential(GGML_TYPE_Q4_1, 2, 11);
    tree_vs_sequential(GGML_TYPE_F16, 1, 12);
}

Test(model, tree_commit_equals_sequential_gemm_order_f32_cache)
{
    g_attn_order = LLM_ATTN_GEMM;
    g_kv_type = LLM_KV_F32;
    tree_vs_sequential(GGML_TYPE_Q4_1, 2, 13);
    tree_vs_sequential(GGML_TYPE_Q8_0, 1, 14);
}

Test(model, tree_commit_equals_sequential_2_threads)
{
    for (size_t t = 0; t < sizeof k_types / sizeof k_types[0]; t++)
        for (uint64_t seed = 4; seed <= 6; seed++)
            tree_vs_sequential(k_types[t], 2, seed);
}

/* ---- (b) batched prefill == token by token ---- */

Test(model, batched_prefill_equals_sequential)
{
    tiny_model_opts o = tiny_model_default_target();
    o.wtype = GGML_TYPE_Q4_1;
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const uint32_t V = llm_model_hparams(f.m)->n_vocab, n = 48;
    llm_ctx_t *A = make_ctx(f.m, 128, 64, 2), *B = make_ctx(f.m, 128, 64, 1);
    int32_t tok[48], par[48], path[48];
    rng_t r = { 99 };
    for (uint32_t i = 0; i < n; i++) {
        tok[i] = (int32_t)rnd(&r, V);
        par[i] = (int32_t)i - 1;
        path[i] = (int32_t)i;
    }
    float *la = malloc((size_t)n * V * sizeof(float)), *lb = malloc((size_t)n * V * sizeof(float));
    cr_assert(la && lb);
    cr_assert_eq(llm_forward(A, tok, par, n, NULL, la), 0, "%s", llm_last_error(A));
    cr_assert_eq(llm_commit(A, path, n), 0);
    feed_sequential(B, tok, n, lb, V);
    for (uint32_t i = 0; i < n; i++)
        cr_assert(first_diff(la + (size_t)i * V, lb + (size_t)i * V, V) < 0, "row %u logits differ", i);
    assert_same_kv(A, B, llm_model_hparams(f.m), "prefill");

    /* want_logits: only flagged rows are written, others untouched */
    llm_truncate(A, 0);
    uint8_t want[48] = { 0 };
    want[3] = want[4] = want[47] = 1;
    for (size_t k = 0; k < (size_t)n * V; k++)
        la[k] = -7.0f;
    cr_assert_eq(llm_forward(A, tok, par, n, want, la), 0);
    for (uint32_t i = 0; i < n; i++) {
        if (want[i])
            cr_assert(first_diff(la + (size_t)i * V, lb + (size_t)i * V, V) < 0, "wanted row %u differs", i);
        else
            for (uint32_t k = 0; k < V; k++)
                cr_assert_eq(la[(size_t)i * V + k], -7.0f, "unwanted row %u was written", i);
    }
    free(la);
    free(lb);
    llm_ctx_free(A);
    llm_ctx_free(B);
    fixture_close(&f);
}

/* ---- (c) errors ---- */

static void expect_load_error(tiny_model_opts *o, const char *needle1, const char *needle2)
{
    fixture_t f;
    cr_assert_eq(fixture_open(&f, o), 0, "writing/opening the bad model failed: %s", f.err);
    cr_assert_null(f.m, "the loader accepted a bad model (expected an error naming %s)", needle1);
    cr_assert(strstr(f.err, needle1), "message \"%s\" does not name \"%s\"", f.err, needle1);
    if (needle2)
        cr_assert(strstr(f.err, needle2), "message \"%s\" does not name \"%s\"", f.err, needle2);
    fixture_close(&f);
}

Test(model, load_rejects_wrong_architecture)
{
    tiny_model_opts o = tiny_model_default_target();
    o.arch = "gpt2";
    expect_load_error(&o, "gpt2", "architecture");
}

Test(model, load_rejects_missing_tensor)
{
    tiny_model_opts o = tiny_model_default_target();
    o.omit_tensor = "blk.1.ffn_up.weight";
    expect_load_error(&o, "blk.1.ffn_up.weight", "missing");
    o.omit_tensor = "output_norm.weight";
    expect_load_error(&o, "output_norm.weight", "missing");
}

Test(model, load_rejects_wrong_shape)
{
    tiny_model_opts o = tiny_model_default_target();
    o.misshape_tensor = "blk.0.attn_k.weight";
    expect_load_error(&o, "blk.0.attn_k.weight", "shape");
    o.misshape_tensor = "blk.1.ffn_norm.weight";
    expect_load_error(&o, "blk.1.ffn_norm.weight", "shape");
}

Test(model, load_rejects_unsupported_type)
{
    /* a type the GGUF reader knows but the kernels cannot multiply */
    const uint32_t candidates[] = { GGML_TYPE_Q8_1, GGML_TYPE_Q8_K };
    uint32_t bad = 0;
    int found = 0;
    for (size_t i = 0; i < 2 && !found; i++)
        if (!kn_type_supported(candidates[i])) {
            bad = candidates[i];
            found = 1;
        }
    if (!found)
        cr_skip_test("the kernels support every type the reader knows");
    tiny_model_opts o = tiny_model_default_target();
    o.n_embd = 256;   /* a multiple of every block size */
    o.n_ff = 256;
    o.retype_tensor = "blk.0.attn_v.weight";
    o.retype = bad;
    expect_load_error(&o, "blk.0.attn_v.weight", "unsupported type");
}

Test(model, load_checks_hparams_against_shapes)
{
    /* the embedding must have exactly llama.vocab_size rows */
    tiny_model_opts o = tiny_model_default_target();
    o.misshape_tensor = "token_embd.weight";   /* vocab + 1 rows: disagrees with llama.vocab_size */
    expect_load_error(&o, "token_embd.weight", "shape");
}

Test(model, forward_argument_errors)
{
    tiny_model_opts o = tiny_model_default_target();
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const uint32_t V = llm_model_hparams(f.m)->n_vocab;
    llm_ctx_t *c = make_ctx(f.m, 16, 16, 1);
    int32_t tok[20] = { 0 }, par[20];
    for (int i = 0; i < 20; i++)
        par[i] = i - 1;

    /* prompt longer than the context */
    int rc = llm_forward(c, tok, par, 20, NULL, NULL);
    cr_assert_eq(rc, LLM_E_CTX_FULL, "rc %d: %s", rc, llm_last_error(c));
    cr_assert(strstr(llm_last_error(c), "context full"), "message: %s", llm_last_error(c));
    /* fills up over two batches */
    cr_assert_eq(llm_forward(c, tok, par, 10, NULL, NULL), 0);
    cr_assert_eq(llm_commit(c, (int32_t[]){ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 10), 0);
    rc = llm_forward(c, tok, par, 7, NULL, NULL);
    cr_assert_eq(rc, LLM_E_CTX_FULL, "%s", llm_last_error(c));
    cr_assert(strstr(llm_last_error(c), "10 committed + 7 new"), "message: %s", llm_last_error(c));
    cr_assert_eq(llm_n_past(c), 10);
    cr_assert_eq(llm_truncate(c, 4), 0);
    cr_assert_eq(llm_n_past(c), 4);
    cr_assert_eq(llm_truncate(c, 5), LLM_E_ARG);

    /* bad parents */
    int32_t bad_par[3] = { -1, 1, 0 };   /* row 1 names itself */
    rc = llm_forward(c, tok, bad_par, 3, NULL, NULL);
    cr_assert_eq(rc, LLM_E_ARG);
    cr_assert(strstr(llm_last_error(c), "parent[1]"), "message: %s", llm_last_error(c));
    int32_t bad_par2[2] = { -2, 0 };
    cr_assert_eq(llm_forward(c, tok, bad_par2, 2, NULL, NULL), LLM_E_ARG);
    int32_t fwd_par[3] = { -1, 2, 0 };   /* parent after the child */
    cr_assert_eq(llm_forward(c, tok, fwd_par, 3, NULL, NULL), LLM_E_ARG);

    /* tokens out of range */
    int32_t bad_tok[2] = { 0, (int32_t)V };
    rc = llm_forward(c, bad_tok, par, 2, NULL, NULL);
    cr_assert_eq(rc, LLM_E_ARG);
    cr_assert(strstr(llm_last_error(c), "token[1]"), "message: %s", llm_last_error(c));
    bad_tok[1] = -1;
    cr_assert_eq(llm_forward(c, bad_tok, par, 2, NULL, NULL), LLM_E_ARG);
    cr_assert_eq(llm_n_past(c), 4, "failed forwards must not change the cache");

    /* bad commit paths: tree 0 <- 1, 0 <- 2, root 3 */
    int32_t tree[4] = { -1, 0, 0, -1 };
    cr_assert_eq(llm_forward(c, tok, tree, 4, NULL, NULL), 0);
    cr_assert_eq(llm_commit(c, (int32_t[]){ 1 }, 1), LLM_E_ARG);          /* not a root */
    cr_assert(strstr(llm_last_error(c), "root"), "message: %s", llm_last_error(c));
    cr_assert_eq(llm_commit(c, (int32_t[]){ 0, 3 }, 2), LLM_E_ARG);       /* not a child */
    cr_assert_eq(llm_commit(c, (int32_t[]){ 0, 9 }, 2), LLM_E_ARG);       /* not a row */
    cr_assert_eq(llm_n_past(c), 4);
    cr_assert_eq(llm_commit(c, (int32_t[]){ 0, 2 }, 2), 0);
    cr_assert_eq(llm_n_past(c), 6);
    cr_assert_eq(llm_commit(c, (int32_t[]){ 0 }, 1), LLM_E_ARG, "the batch is gone after a commit");

    /* too many tokens for max_batch (with room in the context) */
    llm_ctx_t *small = make_ctx(f.m, 64, 4, 1);
    rc = llm_forward(small, tok, par, 5, NULL, NULL);
    cr_assert_eq(rc, LLM_E_ARG);
    cr_assert(strstr(llm_last_error(small), "max_batch"), "message: %s", llm_last_error(small));
    llm_ctx_free(small);
    llm_ctx_free(c);
    fixture_close(&f);
}

/* ---- (d) against a naive double-precision forward ---- */

typedef struct naive {
    const gguf_file_t *g;
    uint32_t d, n_head, n_kv, hd, ff, V, L;
    double eps, base;
} naive_t;

static const float *tens(const naive_t *nv, const char *fmt, uint32_t l)
{
    char name[64];
    snprintf(name, sizeof name, fmt, l);
    const gguf_tensor_t *t = gguf_find_tensor(nv->g, name);
    cr_assert(t && t->type == GGML_TYPE_F32, "naive: %s missing or not F32", name);
    return t->data;
}

static void nmatvec(const float *W, const double *x, uint32_t rows, uint32_t cols, double *y)
{
    for (uint32_t r = 0; r < rows; r++) {
        double s = 0;
        for (uint32_t c = 0; c < cols; c++)
            s += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void nnorm(const double *x, const float *w, uint32_t n, double eps, double *y)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += x[i] * x[i];
    double k = 1.0 / sqrt(s / n + eps);
    for (uint32_t i = 0; i < n; i++)
        y[i] = x[i] * k * w[i];
}

static void nrope(double *v, uint32_t heads, uint32_t hd, uint32_t pos, double base)
{
    for (uint32_t h = 0; h < heads; h++)
        for (uint32_t i = 0; i < hd / 2; i++) {
            double th = pos * pow(base, -2.0 * i / hd);
            double *x = v + h * hd + 2 * i, x0 = x[0], x1 = x[1];
            x[0] = x0 * cos(th) - x1 * sin(th);
            x[1] = x0 * sin(th) + x1 * cos(th);
        }
}

/* logits of every position of tok[0..n) (causal), n <= 16 */
static void naive_forward(const naive_t *nv, const int32_t *tok, uint32_t n, double *logits)
{
    enum { N = 16, DMAX = 64, FMAX = 128 };
    static double x[N][DMAX], K[N][DMAX], Vv[N][DMAX], Q[N][DMAX];
    double h[DMAX], att[DMAX], o[DMAX], g[FMAX], u[FMAX];
    const uint32_t d = nv->d, hd = nv->hd, kvd = nv->n_kv * hd;
    const float *E = tens(nv, "token_embd.weight", 0);
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t i = 0; i < d; i++)
            x[t][i] = E[(size_t)tok[t] * d + i];
    for (uint32_t l = 0; l < nv->L; l++) {
        for (uint32_t t = 0; t < n; t++) {
            nnorm(x[t], tens(nv, "blk.%u.attn_norm.weight", l), d, nv->eps, h);
            nmatvec(tens(nv, "blk.%u.attn_q.weight", l), h, d, d, Q[t]);
            nmatvec(tens(nv, "blk.%u.attn_k.weight", l), h, kvd, d, K[t]);
            nmatvec(tens(nv, "blk.%u.attn_v.weight", l), h, kvd, d, Vv[t]);
            nrope(Q[t], nv->n_head, hd, t, nv->base);
            nrope(K[t], nv->n_kv, hd, t, nv->base);
        }
        for (uint32_t t = 0; t < n; t++) {
            for (uint32_t hh = 0; hh < nv->n_head; hh++) {
                uint32_t kh = hh / (nv->n_head / nv->n_kv);
                double s[N], mx = -1e300, sum = 0;
                for (uint32_t j = 0; j <= t; j++) {
                    s[j] = 0;
                    for (uint32_t e = 0; e < hd; e++)
                        s[j] += Q[t][hh * hd + e] * K[j][kh * hd + e];
                    s[j] /= sqrt((double)hd);
                    mx = fmax(mx, s[j]);
                }
                for (uint32_t j = 0; j <= t; j++)
                    sum += (s[j] = exp(s[j] - mx));
                for (uint32_t e = 0; e < hd; e++) {
                    double a = 0;
                    for (uint32_t j = 0; j <= t; j++)
                        a += s[j] / sum * Vv[j][kh * hd + e];
                    att[hh * hd + e] = a;
                }
            }
            nmatvec(tens(nv, "blk.%u.attn_output.weight", l), att, d, d, o);
            for (uint32_t i = 0; i < d; i++)
                x[t][i] += o[i];
            nnorm(x[t], tens(nv, "blk.%u.ffn_norm.weight", l), d, nv->eps, h);
            nmatvec(tens(nv, "blk.%u.ffn_gate.weight", l), h, nv->ff, d, g);
            nmatvec(tens(nv, "blk.%u.ffn_up.weight", l), h, nv->ff, d, u);
            for (uint32_t i = 0; i < nv->ff; i++)
                g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            nmatvec(tens(nv, "blk.%u.ffn_down.weight", l), g, d, nv->ff, o);
            for (uint32_t i = 0; i < d; i++)
                x[t][i] += o[i];
        }
    }
    for (uint32_t t = 0; t < n; t++) {
        nnorm(x[t], tens(nv, "output_norm.weight", 0), d, nv->eps, h);
        nmatvec(E, h, nv->V, d, logits + (size_t)t * nv->V);
    }
}

Test(model, matches_naive_double_forward)
{
    for (uint32_t layers = 1; layers <= 2; layers++) {
        tiny_model_opts o = tiny_model_default_target();
        o.wtype = GGML_TYPE_F32;
        o.n_layer = layers;
        o.init_std = 0.2f;
        fixture_t f;
        cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
        cr_assert_not_null(f.m, "%s", f.err);
        const llm_hparams_t *hp = llm_model_hparams(f.m);
        naive_t nv = { f.g, hp->n_embd, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_ff, hp->n_vocab,
                       hp->n_layer, hp->rms_eps, hp->rope_freq_base };
        enum { n = 12 };
        int32_t tok[n], par[n];
        rng_t r = { 5 + layers };
        for (uint32_t i = 0; i < n; i++) {
            tok[i] = (int32_t)rnd(&r, hp->n_vocab);
            par[i] = (int32_t)i - 1;
        }
        double *ref = malloc((size_t)n * hp->n_vocab * sizeof(double));
        float *got = malloc((size_t)n * hp->n_vocab * sizeof(float));
        cr_assert(ref && got);
        naive_forward(&nv, tok, n, ref);
        /* an f32 cache keeps float accuracy; the default fp16 cache rounds q, K, V and the softmax
         * weights to 11 bits (relative 2^-11 each), which a logic error would still exceed by far */
        for (int kv = 0; kv < 2; kv++) {
            g_kv_type = kv ? LLM_KV_F16 : LLM_KV_F32;
            const double tol = kv ? 3e-3 : 1e-4;
            llm_ctx_t *c = make_ctx(f.m, 64, 16, 1);
            cr_assert_eq(llm_forward(c, tok, par, n, NULL, got), 0, "%s", llm_last_error(c));
            double max_err = 0, max_abs = 0;
            for (size_t k = 0; k < (size_t)n * hp->n_vocab; k++) {
                max_err = fmax(max_err, fabs(ref[k] - got[k]));
                max_abs = fmax(max_abs, fabs(ref[k]));
            }
            cr_assert(max_abs > 0.5, "degenerate logits (max |logit| %g)", max_abs);
            cr_assert(max_err < tol * (1 + max_abs), "%u layers, %s cache: max error %g (max |logit| %g)", layers,
                      kv ? "f16" : "f32", max_err, max_abs);
            llm_ctx_free(c);
        }
        free(ref);
        free(got);
        fixture_close(&f);
    }
}

/* ---- KV cache types and llama.cpp's attention orders ---- */

static int is_fp16_value(float x)
{
    float y = kn_fp16_to_f32(kn_f32_to_fp16(x));
    return memcmp(&x, &y, sizeof x) == 0;
}

Test(model, f16_cache_stores_fp16_and_f32_cache_does_not)
{
    tiny_model_opts o = tiny_model_default_target();
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const llm_hparams_t *hp = llm_model_hparams(f.m);
    const size_t kvd = (size_t)hp->n_head_kv * hp->head_dim;
    int32_t tok[6] = { 1, 5, 9, 2, 7, 3 }, path[6] = { 0, 1, 2, 3, 4, 5 };
    size_t not_fp16[2] = { 0, 0 };
    for (int kv = 0; kv < 2; kv++) {
        g_kv_type = kv ? LLM_KV_F32 : LLM_KV_F16;
        llm_ctx_t *c = make_ctx(f.m, 32, 8, 1);
        cr_assert_eq(llm_forward(c, tok, NULL, 6, NULL, NULL), 0, "%s", llm_last_error(c));
        cr_assert_eq(llm_commit(c, path, 6), 0, "%s", llm_last_error(c));
        for (uint32_t l = 0; l < hp->n_layer; l++)
            for (uint32_t p = 0; p < 6; p++) {
                const float *k = llm_kv_k(c, l, p), *v = llm_kv_v(c, l, p);
                cr_assert(k && v);
                for (size_t i = 0; i < kvd; i++)
                    not_fp16[kv] += !is_fp16_value(k[i]) + !is_fp16_value(v[i]);
            }
        cr_assert_null(llm_kv_k(c, 0, 6), "row beyond n_past");
        llm_ctx_free(c);
    }
    cr_assert_eq(not_fp16[0], 0, "f16 cache holds %zu values that are not fp16", not_fp16[0]);
    cr_assert_gt(not_fp16[1], 0, "f32 cache rows all fp16-representable: rounding where it should not");
    llm_ctx_params_t bad = { .n_ctx = 32, .kv_type = 7 };
    char err[256];
    cr_assert_null(llm_ctx_create(f.m, &bad, err, sizeof err));
    cr_assert(strstr(err, "kv_type"), "%s", err);
    bad.kv_type = LLM_KV_F16;
    bad.attn_order = 9;
    cr_assert_null(llm_ctx_create(f.m, &bad, err, sizeof err));
    cr_assert(strstr(err, "attn_order"), "%s", err);
    fixture_close(&f);
}

/* LLM_ATTN_LLAMA is batch-dependent as llama.cpp is: a batch of 2+ tokens (and the prompt's last
 * token evaluated alone right after a full prefill commit) takes the GEMM order, other one-token
 * forwards the VEC order. Checked bit for bit against contexts with a fixed order. */
Test(model, llama_order_is_gemm_for_batches_and_vec_for_decode)
{
    tiny_model_opts o = tiny_model_default_target();
    o.wtype = GGML_TYPE_F32;   /* float activations: last-bit differences reach the logits */
    o.n_embd = 128;            /* head_dim 64 and 40+ keys: the orders differ only beyond 16 elements */
    o.n_head = 2;
    o.n_head_kv = 1;
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const uint32_t V = llm_model_hparams(f.m)->n_vocab;
    enum { NP = 48, ND = 14 };
    int32_t tok[NP + ND], path[NP];
    rng_t r = { 77 };
    for (uint32_t i = 0; i < NP + ND; i++)
        tok[i] = (int32_t)rnd(&r, V);
    for (uint32_t i = 0; i < NP; i++)
        path[i] = (int32_t)i;
    float *got = malloc((size_t)(NP + ND) * V * sizeof(float)), *want = malloc((size_t)(NP + ND) * V * sizeof(float));
    cr_assert(got && want);
    /* LLAMA: prefill NP-1 tokens in a batch, the last prompt token alone, then ND decode steps */
    const int orders[2] = { LLM_ATTN_LLAMA, LLM_ATTN_GEMM };
    float *out[2] = { got, want };
    for (int k = 0; k < 2; k++) {
        g_attn_order = orders[k];
        llm_ctx_t *c = make_ctx(f.m, 64, 48, 1);
        cr_assert_eq(llm_forward(c, tok, NULL, NP - 1, NULL, out[k]), 0, "%s", llm_last_error(c));
        cr_assert_eq(llm_commit(c, path, NP - 1), 0);
        feed_sequential(c, tok + NP - 1, 1, out[k] + (size_t)(NP - 1) * V, V);
        llm_ctx_free(c);
    }
    cr_assert(first_diff(got, want, (size_t)NP * V) < 0, "LLAMA order: prompt logits differ from GEMM order");
    /* one-token forwards from an empty cache: LLAMA equals VEC */
    for (int k = 0; k < 2; k++) {
        g_attn_order = k ? LLM_ATTN_VEC : LLM_ATTN_LLAMA;
        llm_ctx_t *c = make_ctx(f.m, 64, 48, 1);
        feed_sequential(c, tok, NP + ND, out[k], V);
        llm_ctx_free(c);
    }
    cr_assert(first_diff(got, want, (size_t)(NP + ND) * V) < 0, "LLAMA order: decode logits differ from VEC order");
    /* and the orders do differ here (else the checks above prove nothing) */
    g_attn_order = LLM_ATTN_GEMM;
    llm_ctx_t *c = make_ctx(f.m, 64, 48, 1);
    feed_sequential(c, tok, NP + ND, got, V);
    llm_ctx_free(c);
    cr_assert(first_diff(got, want, (size_t)(NP + ND) * V) >= 0, "GEMM and VEC orders gave identical logits");
    free(got);
    free(want);
    fixture_close(&f);
}

/* The AVX2+FMA+F16C build of the attention / RoPE / SwiGLU steps must give the portable build's
 * bits (same operations, hardware FMA instead of fmaf), in every attention order. */
Test(model, simd_row_steps_equal_portable)
{
    tiny_model_opts o = tiny_model_default_target();
    o.wtype = GGML_TYPE_F32;
    o.n_embd = 128;   /* head_dim 64 */
    o.n_head = 2;
    o.n_head_kv = 1;
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const uint32_t V = llm_model_hparams(f.m)->n_vocab;
    enum { N = 40 };
    int32_t tok[N];
    rng_t r = { 99 };
    for (uint32_t i = 0; i < N; i++)
        tok[i] = (int32_t)rnd(&r, V);
    float *a = malloc((size_t)N * V * sizeof(float)), *b = malloc((size_t)N * V * sizeof(float));
    cr_assert(a && b);
    int simd = 0;
    for (int order = LLM_ATTN_VEC; order <= LLM_ATTN_GEMM; order++)
        for (int kv = 0; kv < 2; kv++) {
            g_attn_order = order;
            g_kv_type = kv ? LLM_KV_F32 : LLM_KV_F16;
            llm_ctx_t *ca = make_ctx(f.m, 64, 48, 1), *cb = make_ctx(f.m, 64, 48, 1);
            simd |= ca->attention_task != llm_attention_task;
            cb->attention_task = llm_attention_task;
            cb->rope_row = llm_rope_row;
            cb->swiglu_row = llm_swiglu_row;
            cr_assert_eq(llm_forward(ca, tok, NULL, N, NULL, a), 0, "%s", llm_last_error(ca));
            cr_assert_eq(llm_forward(cb, tok, NULL, N, NULL, b), 0, "%s", llm_last_error(cb));
            long d = first_diff(a, b, (size_t)N * V);
            cr_assert(d < 0, "order %d kv %d: SIMD and portable logits differ at %ld", order, kv, d);
            llm_ctx_free(ca);
            llm_ctx_free(cb);
        }
    free(a);
    free(b);
    fixture_close(&f);
    if (!simd)
        cr_log_warn("no SIMD build of the row steps on this CPU: compared portable with itself");
}
