/* test_attn_fast.c - the fast attention path (f32 copy of the layer's F16 cache, slot-major
 * accumulation, vector exp) equals the per-(row, head) AVX2 task it replaces, bit for bit, on
 * random caches and queries (magnitudes from tiny to huge, so exp underflows and its scalar
 * fallback lanes occur), random trees, both summation orders and two head sizes. */
#include <criterion/criterion.h>
#include <math.h>

#include "kernels.h"
#include "model_fixture.h"
#include "model_internal.h"

typedef struct rng {
    uint64_t s;
} rng_t;

static uint32_t rnd(rng_t *r, uint32_t n)   /* uniform in [0, n) */
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((r->s >> 33) % n);
}

__attribute__((unused)) static float rnd_val(rng_t *r, float mag)   /* uniform in (-mag, mag), sometimes exactly +-0 */
{
    if (rnd(r, 50) == 0)
        return rnd(r, 2) ? 0.0f : -0.0f;
    return mag * ((float)rnd(r, 2000001) / 1000000.0f - 1.0f);
}

#ifdef MODEL_HAVE_AVX2
static void run_all(llm_ctx_t *c, void (*task)(void *, int64_t), uint32_t n, float *out)
{
    const llm_hparams_t *hp = llm_model_hparams(c->m);
    memset(c->att, 0xff, (size_t)n * c->q_dim * sizeof(float));   /* NaN: a result not written shows */
    for (int64_t t = 0; t < (int64_t)n * hp->n_head; t++)
        task(c, t);
    memcpy(out, c->att, (size_t)n * c->q_dim * sizeof(float));
}

static void compare_paths(uint32_t n_embd, uint32_t n_head, uint32_t n_head_kv, uint64_t seed)
{
    tiny_model_opts o = tiny_model_default_target();
    o.wtype = GGML_TYPE_F32;
    o.n_embd = n_embd;
    o.n_head = n_head;
    o.n_head_kv = n_head_kv;
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const llm_hparams_t *hp = llm_model_hparams(f.m);
    llm_ctx_params_t p = { .n_ctx = 256, .max_batch = 40, .n_threads = 1, .mode = KN_MODE_EXACT,
                           .kv_type = LLM_KV_F16 };
    char err[256];
    llm_ctx_t *c = llm_ctx_create(f.m, &p, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_assert(c->attention_task == llm_attention_fast_avx2, "fast path not chosen for head_dim %u", hp->head_dim);

    rng_t r = { seed };
    int32_t tok[40], parent[40], path[200];
    float *want = malloc((size_t)40 * c->q_dim * sizeof(float)), *got = malloc((size_t)40 * c->q_dim * sizeof(float));
    cr_assert(want && got);
    for (int round = 0; round < 12; round++) {
        /* a committed prefix of random length (0 .. 150: below, at and beyond the 16/64 slot spans) */
        cr_assert_eq(llm_truncate(c, 0), 0);
        const uint32_t n_past = round == 0 ? 0 : rnd(&r, 151);
        for (uint32_t done = 0; done < n_past;) {
            const uint32_t k = n_past - done < 40 ? n_past - done : 40;
            for (uint32_t i = 0; i < k; i++) {
                tok[i] = (int32_t)rnd(&r, hp->n_vocab);
                parent[i] = (int32_t)i - 1;
                path[i] = (int32_t)i;
            }
            cr_assert_eq(llm_forward(c, tok, parent, k, NULL, NULL), 0, "%s", llm_last_error(c));
            cr_assert_eq(llm_commit(c, path, k), 0, "%s", llm_last_error(c));
            done += k;
        }
        /* a random tree on top: sets the rows' ancestor lists */
        const uint32_t n = 1 + rnd(&r, 40);
        for (uint32_t i = 0; i < n; i++) {
            tok[i] = (int32_t)rnd(&r, hp->n_vocab);
            parent[i] = i == 0 || rnd(&r, 3) == 0 ? (int32_t)rnd(&r, i + 1) - 1 : (int32_t)i - 1;
        }
        cr_assert_eq(llm_forward(c, tok, parent, n, NULL, NULL), 0, "%s", llm_last_error(c));

        /* random cache rows and fp16 queries for layer 0, magnitudes per round */
        static const float mags[] = { 1e-3f, 0.5f, 4.0f, 30.0f, 200.0f };
        const float qmag = mags[rnd(&r, 5)], kmag = mags[rnd(&r, 5)], vmag = mags[rnd(&r, 5)];
        const size_t kvd = c->kv_dim;
        uint16_t *kc = c->k_cache, *vc = c->v_cache;
        for (size_t e = 0; e < (size_t)(n_past + n) * kvd; e++) {
            kc[e] = kn_f32_to_fp16(rnd_val(&r, kmag));
            vc[e] = kn_f32_to_fp16(rnd_val(&r, vmag));
        }
        for (size_t e = 0; e < (size_t)n * c->q_dim; e++)
            c->q[e] = kn_fp16_to_f32(kn_f32_to_fp16(rnd_val(&r, qmag)));
        c->cur_layer = 0;
        /* evaluate rows base.. only, as a forward appended to pending rows does */
        const uint32_t base = rnd(&r, 3) == 0 ? rnd(&r, n) : 0, m = n - base;
        c->base = base;
        for (uint32_t arr = 1; arr <= 4; arr += 3) {
            c->attn_arr = arr;
            run_all(c, llm_attention_task_avx2, m, want);
            c->attention_prep(c, 0, n_past + n);
            run_all(c, llm_attention_fast_avx2, m, got);
            for (size_t e = 0; e < (size_t)m * c->q_dim; e++)
                cr_assert(memcmp(&want[e], &got[e], sizeof(float)) == 0,
                          "head_dim %u seed %llu round %d (n_past %u, rows %u..%u, arr %u, mags %g/%g/%g): element "
                          "%zu (row %zu) is %a, reference %a",
                          hp->head_dim, (unsigned long long)seed, round, n_past, base, n - 1, arr, (double)qmag,
                          (double)kmag, (double)vmag, e, e / c->q_dim, (double)got[e], (double)want[e]);
        }
        cr_assert_eq(llm_commit(c, NULL, 0), 0);
    }
    free(want);
    free(got);
    llm_ctx_free(c);
    fixture_close(&f);
}
#endif

Test(attn_fast, equals_reference_head_dim_64_gqa)
{
#ifdef MODEL_HAVE_AVX2
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        cr_skip_test("no AVX2+FMA on this CPU");
    compare_paths(192, 3, 1, 1);
    compare_paths(256, 4, 2, 2);
#else
    cr_skip_test("no AVX2 build of the attention");
#endif
}

Test(attn_fast, equals_reference_head_dim_32)
{
#ifdef MODEL_HAVE_AVX2
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        cr_skip_test("no AVX2+FMA on this CPU");
    compare_paths(64, 2, 1, 3);
#else
    cr_skip_test("no AVX2 build of the attention");
#endif
}

/* random float bit patterns: every exponent, NaNs, infinities, subnormals and zeros included */
__attribute__((unused)) static float rnd_bits(rng_t *r)
{
    uint32_t u = rnd(r, 1u << 16) << 16 | rnd(r, 1u << 16);
    if (rnd(r, 4) == 0)   /* the fp16 range and its edges, where most rounding happens */
        u = (u & 0x807fffffu) | (uint32_t)(0x66 + rnd(r, 0x2a)) << 23;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

Test(attn_fast, simd_swiglu_and_f16_conversions_equal_portable)
{
#ifdef MODEL_HAVE_AVX2
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        cr_skip_test("no AVX2+FMA on this CPU");
    enum { N = 1000 };   /* not a multiple of 16: the tails too */
    static float g0[N], u[N], a[N], b[N];
    static uint16_t ha[N], hb[N];
    rng_t r = { 5 };
    for (int round = 0; round < 200; round++) {
        const float mag = round % 4 == 0 ? 1.0f : round % 4 == 1 ? 20.0f : round % 4 == 2 ? 120.0f : 0.0f;
        for (int i = 0; i < N; i++) {
            g0[i] = mag > 0 ? rnd_val(&r, mag) : rnd_bits(&r);
            u[i] = rnd_val(&r, 3.0f);
        }
        const uint32_t n = N - rnd(&r, 40);
        memcpy(a, g0, sizeof a);
        memcpy(b, g0, sizeof b);
        llm_swiglu_row(a, u, n);
        llm_swiglu_row_avx2(b, u, n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert(memcmp(&a[i], &b[i], sizeof(float)) == 0, "swiglu(%a, %a): %a vs portable %a", (double)g0[i],
                      (double)u[i], (double)b[i], (double)a[i]);
        for (int i = 0; i < N; i++)
            g0[i] = rnd_bits(&r);
        llm_f16_store(ha, g0, n);
        llm_f16_store_avx2(hb, g0, n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert_eq(ha[i], hb[i], "fp16(%a): %#x vs portable %#x", (double)g0[i], hb[i], ha[i]);
        memcpy(a, g0, sizeof a);
        memcpy(b, g0, sizeof b);
        llm_f16_round(a, n);
        llm_f16_round_avx2(b, n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert(memcmp(&a[i], &b[i], sizeof(float)) == 0, "round_f16(%a): %a vs portable %a", (double)g0[i],
                      (double)b[i], (double)a[i]);
    }
#else
    cr_skip_test("no AVX2 build of the row steps");
#endif
}

/* Whole forwards: the fast path on 2 threads (the per-layer f32 copy made on the pool once the
 * context is long) gives the logits of the reference task on 1 thread, bit for bit. */
Test(attn_fast, forward_equals_reference_forward_long_context)
{
#ifdef MODEL_HAVE_AVX2
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        cr_skip_test("no AVX2+FMA on this CPU");
    tiny_model_opts o = tiny_model_default_target();
    o.wtype = GGML_TYPE_Q8_0;
    o.n_embd = 192;   /* 3 heads of 64 on 1 kv head */
    o.n_head = 3;
    o.n_head_kv = 1;
    fixture_t f;
    cr_assert_eq(fixture_open(&f, &o), 0, "%s", f.err);
    cr_assert_not_null(f.m, "%s", f.err);
    const uint32_t V = llm_model_hparams(f.m)->n_vocab;
    llm_ctx_params_t p = { .n_ctx = 400, .max_batch = 40, .n_threads = 2, .mode = KN_MODE_EXACT, .kv_type = LLM_KV_F16 };
    char err[256];
    llm_ctx_t *a = llm_ctx_create(f.m, &p, err, sizeof err);
    p.n_threads = 1;
    llm_ctx_t *b = llm_ctx_create(f.m, &p, err, sizeof err);
    cr_assert(a && b, "%s", err);
    cr_assert(a->attention_task == llm_attention_fast_avx2);
    b->attention_task = llm_attention_task_avx2;
    b->attention_prep = NULL;
    float *la = malloc((size_t)40 * V * sizeof(float)), *lb = malloc((size_t)40 * V * sizeof(float));
    cr_assert(la && lb);
    rng_t r = { 11 };
    int32_t tok[40], parent[40], path[40];
    for (int round = 0; round < 9; round++) {   /* contexts 0 .. 320: below and above the pool threshold */
        const uint32_t n = 1 + rnd(&r, 40);
        for (uint32_t i = 0; i < n; i++) {
            tok[i] = (int32_t)rnd(&r, V);
            parent[i] = (int32_t)rnd(&r, i + 1) - 1;
        }
        cr_assert_eq(llm_forward(a, tok, parent, n, NULL, la), 0, "%s", llm_last_error(a));
        cr_assert_eq(llm_forward(b, tok, parent, n, NULL, lb), 0, "%s", llm_last_error(b));
        cr_assert(memcmp(la, lb, (size_t)n * V * sizeof(float)) == 0, "round %d (context %u, %u rows): logits differ",
                  round, llm_n_past(a), n);
        /* commit a 40-token chain to grow the context */
        for (uint32_t i = 0; i < 40; i++) {
            tok[i] = (int32_t)rnd(&r, V);
            parent[i] = (int32_t)i - 1;
            path[i] = (int32_t)i;
        }
        cr_assert_eq(llm_forward(a, tok, parent, 40, NULL, NULL), 0, "%s", llm_last_error(a));
        cr_assert_eq(llm_forward(b, tok, parent, 40, NULL, NULL), 0, "%s", llm_last_error(b));
        cr_assert_eq(llm_commit(a, path, 40), 0);
        cr_assert_eq(llm_commit(b, path, 40), 0);
    }
    free(la);
    free(lb);
    llm_ctx_free(a);
    llm_ctx_free(b);
    fixture_close(&f);
#else
    cr_skip_test("no AVX2 build of the attention");
#endif
}
