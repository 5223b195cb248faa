/* test_feature_head.c - the feature draft head on tiny random models: the weights file is
 * verified on load (architecture, checksum, truncation, target fingerprint), the head's
 * tree-attention cache gives a node the same logits whether it is evaluated in a tree, in a
 * chain or after catching up from scratch, and a session drafting with the head through the
 * chain strategy says exactly what plain autoregressive decoding says; the sparse top-k path equals
 * the dense one, the Q8_0 re-encoding agrees with the file's weights, and the vector loops equal
 * their portable versions. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feature_head.h"
#include "mix_draft.h"
#include "ngram_draft.h"
#include "feature_head_internal.h"
#include "gguf.h"
#include "gguf_write.h"
#include "kernels.h"
#include "loader.h"
#include "model.h"
#include "model_backends.h"
#include "session.h"
#include "tiny_model.h"

#define HEAD_VD 300u

static char g_dir[256], g_target[300], g_other[300];

static tiny_model_opts target_opts(uint64_t seed) {
    tiny_model_opts o = tiny_model_default_target();
    o.n_layer = 4; /* room for a low, a middle and a high layer */
    o.seed = seed;
    return o;
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/dstrat_fh_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_target, sizeof g_target, "%s/target.gguf", g_dir);
    snprintf(g_other, sizeof g_other, "%s/other.gguf", g_dir);
    char err[512];
    tiny_model_opts t = target_opts(1), o = target_opts(7);
    cr_assert_eq(tiny_model_write(g_target, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tiny_model_write(g_other, &o, err, sizeof err), 0, "%s", err);
}

static void teardown(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

typedef struct loaded {
    gguf_file_t *g;
    llm_model_t *m;
    llm_ctx_t *c;
} loaded_t;

static void load(loaded_t *l, const char *path) {
    char err[512];
    l->g = gguf_open(path, err, sizeof err);
    cr_assert_not_null(l->g, "%s", err);
    l->m = llm_model_load(l->g, err, sizeof err);
    cr_assert_not_null(l->m, "%s", err);
    llm_ctx_params_t p = {.n_ctx = 256, .max_batch = 64, .n_threads = 1, .mode = KN_MODE_EXACT};
    l->c = llm_ctx_create(l->m, &p, err, sizeof err);
    cr_assert_not_null(l->c, "%s", err);
}

static void unload(loaded_t *l) {
    llm_ctx_free(l->c);
    llm_model_free(l->m);
    gguf_close(l->g);
}

/* ---- a random head for the tiny target, written with the same layout the trainer writes ---- */
typedef struct head_opts {
    const char *arch;          /* NULL = FH_ARCH */
    const char *fingerprint_of;/* target whose fingerprint is stored; NULL = g_target */
    int bad_checksum;
    int by_frequency;          /* write d2t_order = "frequency" */
} head_opts_t;

static uint64_t g_rng = 88172645463325252ull;
static float frand(void) { /* xorshift, uniform in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float) ((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void add_mat(gguf_writer_t *w, const char *name, int64_t cols, int64_t rows, float scale) {
    float *d = malloc((size_t) (cols * rows) * sizeof *d);
    for (int64_t i = 0; i < cols * rows; i++) d[i] = frand() * scale;
    int64_t ne[2] = {cols, rows};
    cr_assert_eq(gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, ne, d, (uint64_t) (cols * rows) * 4), 0);
    free(d);
}

static void add_vec(gguf_writer_t *w, const char *name, int64_t n) {
    float *d = malloc((size_t) n * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = 1.0f + 0.1f * frand();
    int64_t ne[1] = {n};
    cr_assert_eq(gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 1, ne, d, (uint64_t) n * 4), 0);
    free(d);
}

static char g_hex[17];
static const char *hex(uint64_t v) {
    snprintf(g_hex, sizeof g_hex, "%016llx", (unsigned long long) v);
    return g_hex;
}

/* Writes the head twice: first to learn the checksum of the tensor data, then with it. */
static void write_head(const char *path, const head_opts_t *o) {
    char err[512];
    gguf_file_t *tg = gguf_open(o->fingerprint_of ? o->fingerprint_of : g_target, err, sizeof err);
    cr_assert_not_null(tg, "%s", err);
    llm_model_t *tm = llm_model_load(tg, err, sizeof err);
    cr_assert_not_null(tm, "%s", err);
    const llm_hparams_t *hp = llm_model_hparams(tm);
    uint64_t fp;
    cr_assert_eq(fh_target_fingerprint(tg, hp, &fp, err, sizeof err), 0, "%s", err);
    const int64_t e = hp->n_embd, hd = hp->head_dim, qd = hp->n_head * hd, kvd = hp->n_head_kv * hd, ff = 128;
    uint64_t sum = 0;
    for (int pass = 0; pass < 2; pass++) {
        g_rng = 88172645463325252ull; /* same weights both passes */
        gguf_writer_t *w = gguf_writer_new();
        cr_assert_not_null(w);
        gguf_writer_add_str(w, "general.architecture", o->arch ? o->arch : FH_ARCH);
        gguf_writer_add_u32(w, "dstrat_eagle3.format_version", FH_FORMAT_VERSION);
        gguf_writer_add_u32(w, "dstrat_eagle3.n_embd", (uint32_t) e);
        gguf_writer_add_u32(w, "dstrat_eagle3.n_head", hp->n_head);
        gguf_writer_add_u32(w, "dstrat_eagle3.n_head_kv", hp->n_head_kv);
        gguf_writer_add_u32(w, "dstrat_eagle3.head_dim", (uint32_t) hd);
        gguf_writer_add_u32(w, "dstrat_eagle3.n_ff", (uint32_t) ff);
        gguf_writer_add_f32(w, "dstrat_eagle3.rms_eps", 1e-5f);
        gguf_writer_add_f32(w, "dstrat_eagle3.rope_freq_base", 10000.0f);
        uint32_t layers[3] = {1, 2, 3};
        gguf_writer_add_arr(w, "dstrat_eagle3.fuse_layers", GGUF_TYPE_UINT32, layers, 3);
        gguf_writer_add_u32(w, "dstrat_eagle3.draft_vocab_size", HEAD_VD);
        gguf_writer_add_u32(w, "dstrat_eagle3.target_vocab_size", hp->n_vocab);
        int32_t d2t[HEAD_VD];
        for (uint32_t i = 0; i < HEAD_VD; i++) d2t[i] = (int32_t) ((i * 7 + 3) % hp->n_vocab); /* distinct: 7 is coprime to 512 */
        gguf_writer_add_arr(w, "dstrat_eagle3.d2t", GGUF_TYPE_INT32, d2t, HEAD_VD);
        if (o->by_frequency) gguf_writer_add_str(w, "dstrat_eagle3.d2t_order", "frequency");
        gguf_writer_add_str(w, "dstrat_eagle3.tensor_checksum", hex(o->bad_checksum ? sum ^ 1 : sum));
        gguf_writer_add_str(w, "dstrat_eagle3.target_fingerprint", hex(fp));
        add_mat(w, "fc.weight", 3 * e, e, 0.15f);
        add_vec(w, "emb_norm.weight", e);
        add_vec(w, "feat_norm.weight", e);
        add_mat(w, "attn_q.weight", 2 * e, qd, 0.3f);
        add_mat(w, "attn_k.weight", 2 * e, kvd, 0.3f);
        add_mat(w, "attn_v.weight", 2 * e, kvd, 0.3f);
        add_mat(w, "attn_output.weight", qd, e, 0.2f);
        add_vec(w, "ffn_norm.weight", e);
        add_mat(w, "ffn_gate.weight", e, ff, 0.2f);
        add_mat(w, "ffn_up.weight", e, ff, 0.2f);
        add_mat(w, "ffn_down.weight", ff, e, 0.2f);
        add_vec(w, "output_norm.weight", e);
        add_mat(w, "output.weight", e, HEAD_VD, 0.5f);
        cr_assert_eq(gguf_writer_write(w, path, err, sizeof err), 0, "%s", err);
        gguf_writer_free(w);
        if (pass == 0) {
            gguf_file_t *hg = gguf_open(path, err, sizeof err);
            cr_assert_not_null(hg, "%s", err);
            sum = fh_tensor_checksum(hg);
            gguf_close(hg);
        }
    }
    llm_model_free(tm);
    gguf_close(tg);
}

/* open the head at path against the tiny target; returns 0 or -1 with err */
static int try_open(const char *path, char *err, size_t cap) {
    loaded_t t;
    load(&t, g_target);
    feature_head_backend_t b;
    sess_draft_t d;
    int rc = feature_head_backend_open(&b, path, t.g, t.m, t.c, 1, &d, err, cap);
    if (rc == 0) feature_head_backend_close(&b);
    unload(&t);
    return rc;
}

TestSuite(feature_head, .init = setup, .fini = teardown, .timeout = 300);

Test(feature_head, hash_detects_changes) {
    uint8_t a[37], b[37];
    for (int i = 0; i < 37; i++) a[i] = b[i] = (uint8_t) (i * 31 + 5);
    fh_hash_t s1, s2;
    fh_hash_init(&s1);
    fh_hash_update(&s1, a, sizeof a);
    fh_hash_init(&s2);
    fh_hash_update(&s2, b, sizeof b);
    cr_assert_eq(fh_hash_final(&s1), fh_hash_final(&s2));
    b[36] ^= 0x10; /* a flip in the padded tail word */
    fh_hash_init(&s2);
    fh_hash_update(&s2, b, sizeof b);
    cr_assert_neq(fh_hash_final(&s1), fh_hash_final(&s2));
    fh_hash_init(&s2); /* swapped words */
    fh_hash_update(&s2, a + 8, 8);
    fh_hash_update(&s2, a, 8);
    fh_hash_init(&s1);
    fh_hash_update(&s1, a, 8);
    fh_hash_update(&s1, a + 8, 8);
    cr_assert_neq(fh_hash_final(&s1), fh_hash_final(&s2));
}

Test(feature_head, loads_a_matching_head) {
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/ok.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    cr_assert_eq(try_open(path, err, sizeof err), 0, "%s", err);
}

Test(feature_head, refuses_wrong_architecture) {
    char path[400], err[512] = "";
    snprintf(path, sizeof path, "%s/arch.gguf", g_dir);
    write_head(path, &(head_opts_t) {.arch = "llama"});
    cr_assert_neq(try_open(path, err, sizeof err), 0);
    cr_assert(strstr(err, "architecture") && strstr(err, "llama"), "%s", err);
}

Test(feature_head, refuses_bad_checksum) {
    char path[400], err[512] = "";
    snprintf(path, sizeof path, "%s/sum.gguf", g_dir);
    write_head(path, &(head_opts_t) {.bad_checksum = 1});
    cr_assert_neq(try_open(path, err, sizeof err), 0);
    cr_assert(strstr(err, "checksum"), "%s", err);
}

Test(feature_head, refuses_flipped_tensor_byte) {
    char path[400], err[512] = "";
    snprintf(path, sizeof path, "%s/flip.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, -100, SEEK_END), 0); /* inside output.weight, the last tensor */
    int ch = fgetc(f);
    cr_assert_eq(fseek(f, -100, SEEK_END), 0);
    fputc(ch ^ 0x40, f);
    fclose(f);
    cr_assert_neq(try_open(path, err, sizeof err), 0);
    cr_assert(strstr(err, "checksum"), "%s", err);
}

Test(feature_head, refuses_truncated_file) {
    char path[400], err[512] = "";
    snprintf(path, sizeof path, "%s/trunc.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(path, size - 64), 0);
    cr_assert_neq(try_open(path, err, sizeof err), 0);
    cr_assert(strstr(err, path), "message should name the file: %s", err);
}

Test(feature_head, refuses_head_of_another_target) {
    char path[400], err[512] = "";
    snprintf(path, sizeof path, "%s/other_head.gguf", g_dir);
    write_head(path, &(head_opts_t) {.fingerprint_of = g_other});
    cr_assert_neq(try_open(path, err, sizeof err), 0);
    cr_assert(strstr(err, "another target"), "%s", err);
}

/* ---- cache consistency ---- */
typedef struct rig {
    loaded_t t;
    feature_head_backend_t b;
    sess_draft_t d;
} rig_t;

static void rig_open(rig_t *r, const char *head) {
    char err[512];
    load(&r->t, g_target);
    cr_assert_eq(feature_head_backend_open(&r->b, head, r->t.g, r->t.m, r->t.c, 1, &r->d, err, sizeof err), 0, "%s", err);
    fh_draft_set_scatter(r->b.draft, 0);
}

static void rig_close(rig_t *r) {
    feature_head_backend_close(&r->b);
    unload(&r->t);
}

/* the target takes c[from..to) in chunks of `chunk`, committing each and telling the draft */
static void target_take(rig_t *r, const int32_t *c, uint32_t from, uint32_t to, uint32_t chunk) {
    int32_t par[64];
    while (from < to) {
        uint32_t m = to - from < chunk ? to - from : chunk;
        for (uint32_t i = 0; i < m; i++) par[i] = (int32_t) i - 1;
        cr_assert_eq(llm_forward(r->t.c, c + from, par, m, NULL, NULL), 0, "%s", llm_last_error(r->t.c));
        for (uint32_t i = 0; i < m; i++) par[i] = (int32_t) i;
        cr_assert_eq(llm_commit(r->t.c, par, m), 0);
        cr_assert_eq(r->d.target_committed(r->d.ctx, par, m), 0, "%s", r->d.error(r->d.ctx));
        from += m;
    }
}

Test(feature_head, tree_node_equals_chain_node) {
    char path[400];
    snprintf(path, sizeof path, "%s/cache.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    int32_t c[40];
    for (int i = 0; i < 40; i++) c[i] = 3 + (i * 37) % 500;
    const uint32_t n = 30; /* committed c[0..30), root c[29] */
    static float tree[16 * HEAD_VD], chain[16 * HEAD_VD], fresh[16 * HEAD_VD];
    uint32_t ne;

    /* A: tree. root; then a level of 3 children in one call; then 2 grandchildren under child 2
       together with a child of child 1 (mixed parents), and a great-grandchild in the same call
       (its parent is in the call: evaluated in a second wave) */
    rig_t a;
    rig_open(&a, path);
    target_take(&a, c, 0, n - 1, 7); /* odd chunks: the cache is built incrementally */
    cr_assert_eq(a.d.begin_cycle(a.d.ctx, c, n), 0, "%s", a.d.error(a.d.ctx));
    int32_t t0[1] = {c[n - 1]}, p0[1] = {-1};
    cr_assert_eq(a.d.forward(a.d.ctx, 0, t0, p0, 1, tree, &ne), 0, "%s", a.d.error(a.d.ctx));
    int32_t t1[3] = {11, 22, 33}, p1[3] = {0, 0, 0};
    cr_assert_eq(a.d.forward(a.d.ctx, 1, t1, p1, 3, tree + HEAD_VD, &ne), 0, "%s", a.d.error(a.d.ctx));
    int32_t t2[4] = {44, 55, 66, 77}, p2[4] = {2, 2, 1, 5}; /* ids 4, 5, 6, 7; 7 is a child of 5 */
    cr_assert_eq(a.d.forward(a.d.ctx, 4, t2, p2, 4, tree + 4 * HEAD_VD, &ne), 0, "%s", a.d.error(a.d.ctx));
    cr_assert_eq(ne, 4u);
    a.d.end_cycle(a.d.ctx);

    /* B: the path root -> 22 -> 55 -> 77 as a chain, one node per call, in the same provider
       after a second cycle (the tree rows of the first must be gone) */
    cr_assert_eq(a.d.begin_cycle(a.d.ctx, c, n), 0);
    int32_t path_tok[4] = {c[n - 1], 22, 55, 77};
    for (uint32_t k = 0; k < 4; k++) {
        int32_t p[1] = {(int32_t) k - 1};
        cr_assert_eq(a.d.forward(a.d.ctx, k, path_tok + k, p, 1, chain + k * HEAD_VD, &ne), 0, "%s", a.d.error(a.d.ctx));
    }
    a.d.end_cycle(a.d.ctx);
    rig_close(&a);

    /* C: a fresh provider that sees the whole prefix in one commit */
    rig_t b;
    rig_open(&b, path);
    target_take(&b, c, 0, n - 1, 64);
    cr_assert_eq(b.d.begin_cycle(b.d.ctx, c, n), 0);
    for (uint32_t k = 0; k < 4; k++) {
        int32_t p[1] = {(int32_t) k - 1};
        cr_assert_eq(b.d.forward(b.d.ctx, k, path_tok + k, p, 1, fresh + k * HEAD_VD, &ne), 0);
    }
    b.d.end_cycle(b.d.ctx);
    rig_close(&b);

    const uint32_t tree_id[4] = {0, 2, 5, 7};
    for (uint32_t k = 0; k < 4; k++)
        for (uint32_t v = 0; v < HEAD_VD; v++) {
            cr_assert_float_eq(tree[tree_id[k] * HEAD_VD + v], chain[k * HEAD_VD + v], 1e-5f, "depth %u token %u", k, v);
            cr_assert_float_eq(fresh[k * HEAD_VD + v], chain[k * HEAD_VD + v], 1e-4f, "depth %u token %u", k, v);
        }
    /* the siblings really differ (the test would pass vacuously otherwise) */
    cr_assert(fabsf(tree[1 * HEAD_VD] - tree[2 * HEAD_VD]) + fabsf(tree[1 * HEAD_VD + 5] - tree[2 * HEAD_VD + 5]) > 1e-6f);
}

Test(feature_head, scatter_maps_draft_vocab_to_target_ids) {
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/scatter.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    rig_t r;
    load(&r.t, g_target);
    cr_assert_eq(feature_head_backend_open(&r.b, path, r.t.g, r.t.m, r.t.c, 1, &r.d, err, sizeof err), 0, "%s", err);
    int32_t c[12];
    for (int i = 0; i < 12; i++) c[i] = 5 + i * 3;
    target_take(&r, c, 0, 11, 64);
    const uint32_t nv = llm_model_hparams(r.t.m)->n_vocab;
    float *full = malloc(nv * sizeof *full), small[HEAD_VD];
    uint32_t ne;
    int32_t t0[1] = {c[11]}, p0[1] = {-1};
    cr_assert_eq(r.d.begin_cycle(r.d.ctx, c, 12), 0);
    cr_assert_eq(r.d.forward(r.d.ctx, 0, t0, p0, 1, full, &ne), 0);
    r.d.end_cycle(r.d.ctx);
    fh_draft_set_scatter(r.b.draft, 0);
    cr_assert_eq(r.d.begin_cycle(r.d.ctx, c, 12), 0);
    cr_assert_eq(r.d.forward(r.d.ctx, 0, t0, p0, 1, small, &ne), 0);
    r.d.end_cycle(r.d.ctx);
    const int32_t *d2t = fh_head_d2t(r.b.head);
    uint32_t floor_count = 0;
    for (uint32_t v = 0; v < nv; v++) floor_count += full[v] == FH_LOGIT_FLOOR;
    cr_assert_eq(floor_count, nv - HEAD_VD);
    for (uint32_t j = 0; j < HEAD_VD; j++) cr_assert_eq(full[d2t[j]], small[j]);
    free(full);
    rig_close(&r);
}

/* ---- the head drafting for a real strategy through the session ---- */
/* mix_w >= 0: the head mixed with the n-gram draft at that lookup weight */
static int64_t generate_mix(const char *strategy, const char *k, const char *head, float mix_w, const int32_t *prompt,
                            uint32_t n_prompt, uint32_t max_new, int32_t *out, uint64_t *n_draft_calls) {
    char err[1024];
    rig_t r;
    sess_draft_t *dp = NULL, nd, md;
    ngram_draft_t *ng = NULL;
    mix_draft_t *mix = NULL;
    load(&r.t, g_target);
    if (head) {
        cr_assert_eq(feature_head_backend_open(&r.b, head, r.t.g, r.t.m, r.t.c, 1, &r.d, err, sizeof err), 0, "%s", err);
        dp = &r.d;
    }
    if (head && mix_w >= 0.0f) {
        const uint32_t nv = llm_model_hparams(r.t.m)->n_vocab;
        cr_assert_not_null(ng = ngram_draft_new(nv, NULL));
        ngram_draft_backend(ng, &nd);
        cr_assert_not_null(mix = mix_draft_new(&r.d, &nd, nv, mix_w, err, sizeof err), "%s", err);
        mix_draft_backend(mix, &md);
        dp = &md;
    }
    sess_target_t target;
    mb_target_init(&target, r.t.c);
    sess_params_t sp = {.sampling = {0.0f, 0, 1.0f}, .max_tree_nodes = 32, .max_tree_depth = 12};
    session_t *s = session_create(&target, dp, &sp, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    loader_lib_t *lib = loader_open(strategy, NULL, 0, err, sizeof err);
    cr_assert_not_null(lib, "%s", err);
    dstrat_param_t params[1] = {{"k", k}};
    dstrat_strategy_t *strat = NULL;
    cr_assert_eq(loader_create(lib, NULL, session_host(s), params, k ? 1 : 0, &strat, err, sizeof err), 0, "%s", err);
    cr_assert_eq(session_bind(s, strat), 0, "%s", session_error(s));
    sess_run_t run = {.prompt = prompt, .n_prompt = n_prompt, .max_new = max_new, .out = out};
    int64_t n = session_generate(s, &run);
    cr_assert_geq(n, 0, "%s: %s", strategy, session_error(s));
    if (n_draft_calls) *n_draft_calls = session_stats(s)->n_draft_calls;
    session_free(s);
    strat->destroy(strat);
    loader_close(lib);
    mix_draft_free(mix);
    ngram_draft_free(ng);
    if (head) feature_head_backend_close(&r.b);
    unload(&r.t);
    return n;
}

static int64_t generate(const char *strategy, const char *k, const char *head, const int32_t *prompt, uint32_t n_prompt,
                        uint32_t max_new, int32_t *out, uint64_t *n_draft_calls) {
    return generate_mix(strategy, k, head, -1.0f, prompt, n_prompt, max_new, out, n_draft_calls);
}

Test(feature_head, chain_with_head_equals_ar) {
    char path[400];
    snprintf(path, sizeof path, "%s/e2e.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    int32_t prompt[48], ref[80], got[80];
    const char *ks[] = {"1", "3", "6"};
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t n = 2 + i * 13;
        for (uint32_t j = 0; j < n; j++) prompt[j] = (int32_t) (3 + (j * 41 + i * 17) % 500);
        int64_t nr = generate("ar", NULL, NULL, prompt, n, 80, ref, NULL);
        for (uint32_t kk = 0; kk < 3; kk++) {
            uint64_t calls = 0;
            int64_t ng = generate("chain", ks[kk], path, prompt, n, 80, got, &calls);
            cr_assert_eq(ng, nr, "prompt %u k %s: %lld vs %lld tokens", i, ks[kk], (long long) ng, (long long) nr);
            cr_assert_arr_eq(got, ref, (size_t) nr * sizeof(int32_t), "prompt %u k %s differs from AR", i, ks[kk]);
            cr_assert_gt(calls, 0u, "the chain strategy never called the head");
        }
    }
}

Test(feature_head, chain_with_head_and_ngram_mix_equals_ar) {
    char path[400];
    snprintf(path, sizeof path, "%s/e2e_mix.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    int32_t prompt[48], ref[80], got[80];
    const float ws[] = {0.0f, 0.5f, 1.0f};
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t n = 8 + i * 13; /* repeats in the prompt give the n-gram side matches */
        for (uint32_t j = 0; j < n; j++) prompt[j] = (int32_t) (3 + (j % 5) * 41 + i * 17);
        int64_t nr = generate("ar", NULL, NULL, prompt, n, 80, ref, NULL);
        for (uint32_t w = 0; w < 3; w++) {
            uint64_t calls = 0;
            int64_t ng = generate_mix("chain", "4", path, ws[w], prompt, n, 80, got, &calls);
            cr_assert_eq(ng, nr, "prompt %u w %.1f: %lld vs %lld tokens", i, (double) ws[w], (long long) ng, (long long) nr);
            cr_assert_arr_eq(got, ref, (size_t) nr * sizeof(int32_t), "prompt %u w %.1f differs from AR", i, (double) ws[w]);
            cr_assert_gt(calls, 0u, "the chain strategy never called the mix");
        }
    }
}

/* ---- a draft vocabulary cut to its most frequent rows ---- */
static int open_cut(rig_t *r, const char *head, uint32_t wtype, uint32_t vocab, char *err, size_t cap) {
    load(&r->t, g_target);
    const feature_head_opts_t o = {.wtype = wtype, .lm_type = GGML_TYPE_F32, .vocab = vocab};
    int rc = feature_head_backend_open_opts(&r->b, head, r->t.g, r->t.m, r->t.c, 1, &o, &r->d, err, cap);
    if (rc != 0) unload(&r->t);
    return rc;
}

Test(feature_head, vocab_cut_keeps_the_first_rows_and_needs_frequency_order) {
    char path[400], plain[400], err[512];
    snprintf(path, sizeof path, "%s/freq.gguf", g_dir);
    snprintf(plain, sizeof plain, "%s/plain.gguf", g_dir);
    write_head(path, &(head_opts_t) {.by_frequency = 1});
    write_head(plain, &(head_opts_t) {0});
    int32_t c[40];
    for (int i = 0; i < 40; i++) c[i] = 3 + (i * 29) % 500;
    const uint32_t cut = HEAD_VD / 3;
    for (uint32_t wi = 0; wi < 2; wi++) { /* as stored and re-encoded as Q8_0 */
        const uint32_t wt = wi ? GGML_TYPE_Q8_0 : GGML_TYPE_F32;
        rig_t full, part;
        cr_assert_eq(open_cut(&full, path, wt, 0, err, sizeof err), 0, "%s", err);
        cr_assert_eq(open_cut(&part, path, wt, cut, err, sizeof err), 0, "%s", err);
        cr_assert_eq(fh_head_hparams(part.b.head)->n_draft_vocab, cut);
        const uint32_t nv = llm_model_hparams(full.t.m)->n_vocab;
        float *lf = malloc((size_t) 4 * nv * sizeof *lf), *lc = malloc((size_t) 4 * nv * sizeof *lc);
        rig_t *rs[2] = {&full, &part};
        float *outs[2] = {lf, lc};
        for (uint32_t s = 0; s < 2; s++) {
            target_take(rs[s], c, 0, 24, 8);
            cr_assert_eq(rs[s]->d.begin_cycle(rs[s]->d.ctx, c, 25), 0, "%s", rs[s]->d.error(rs[s]->d.ctx));
            const int32_t t[4] = {c[24], 11, 22, 33}, p[4] = {-1, 0, 0, 1};
            uint32_t ne;
            cr_assert_eq(rs[s]->d.forward(rs[s]->d.ctx, 0, t, p, 4, outs[s], &ne), 0, "%s", rs[s]->d.error(rs[s]->d.ctx));
            rs[s]->d.end_cycle(rs[s]->d.ctx);
        }
        /* the kept rows are the file's first rows, computed as before; the cut ones are gone */
        const int32_t *d2t = fh_head_d2t(full.b.head);
        for (uint32_t i = 0; i < 4; i++)
            for (uint32_t j = 0; j < HEAD_VD; j++) {
                const float a = lf[(size_t) i * nv + d2t[j]], b = lc[(size_t) i * nv + d2t[j]];
                if (j < cut) cr_assert_float_eq(b, a, 1e-4f * (1.0f + fabsf(a)), "w%u node %u row %u", wi, i, j);
                else cr_assert_eq(b, FH_LOGIT_FLOOR, "w%u node %u row %u was cut but has logit %g", wi, i, j, (double) b);
            }
        free(lf);
        free(lc);
        rig_close(&full);
        rig_close(&part);
    }
    rig_t r;
    cr_assert_neq(open_cut(&r, plain, GGML_TYPE_F32, cut, err, sizeof err), 0);
    cr_assert(strstr(err, "most frequent first") && strstr(err, "plain.gguf"), "%s", err);
    cr_assert_neq(open_cut(&r, path, GGML_TYPE_F32, HEAD_VD + 1, err, sizeof err), 0);
    cr_assert(strstr(err, "more than"), "%s", err);
    cr_assert_eq(open_cut(&r, plain, GGML_TYPE_F32, HEAD_VD, err, sizeof err), 0, "the full size is no cut: %s", err);
    rig_close(&r);
}

/* ---- the sparse top-k path and the Q8_0 re-encoding ---- */
static void rig_open_as(rig_t *r, const char *head, uint32_t wtype) {
    char err[512];
    load(&r->t, g_target);
    cr_assert_eq(feature_head_backend_open_as(&r->b, head, r->t.g, r->t.m, r->t.c, 1, wtype, &r->d, err, sizeof err), 0,
                 "%s", err);
}

/* forward_topk against the session's dense path (scattered logits + log_softmax + top-k) on a
 * tree built over several calls, with want masks and k beyond the draft vocabulary */
Test(feature_head, sparse_topk_equals_dense_path) {
    char path[400];
    snprintf(path, sizeof path, "%s/sparse.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    rig_t r;
    rig_open_as(&r, path, GGML_TYPE_F32);
    const uint32_t nv = llm_model_hparams(r.t.m)->n_vocab;
    cr_assert_not_null(r.d.forward_topk, "the head offers the sparse path");
    sess_draft_t dense = r.d;
    dense.forward_topk = NULL;
    int32_t c[40];
    for (int i = 0; i < 40; i++) c[i] = 3 + (i * 37) % 500;
    target_take(&r, c, 0, 29, 16);
    float *logits = malloc((size_t) 8 * nv * sizeof *logits);
    enum { KMAX = 320 }; /* > HEAD_VD: the zero-probability tokens fill the rest */
    static int32_t ids_s[8 * KMAX], ids_d[8 * KMAX];
    static float lp_s[8 * KMAX], lp_d[8 * KMAX];
    const uint32_t ks[] = {1, 5, 16, KMAX};
    uint32_t checked = 0;
    for (uint32_t ki = 0; ki < 4; ki++) {
        const uint32_t k = ks[ki];
        /* a cycle per path over the same tree: root; 3 children; 4 more nodes, one wanted less */
        const int32_t t0[1] = {c[29]}, p0[1] = {-1}, t1[3] = {11, 22, 33}, p1[3] = {0, 0, 0};
        const int32_t t2[4] = {44, 55, 66, 77}, p2[4] = {2, 2, 1, 5};
        const uint8_t w2[4] = {1, 0, 1, 1};
        const struct { uint32_t first, n; const int32_t *t, *p; const uint8_t *want; } calls[3] = {
            {0, 1, t0, p0, NULL}, {1, 3, t1, p1, NULL}, {4, 4, t2, p2, w2}};
        cr_assert_eq(r.d.begin_cycle(r.d.ctx, c, 30), 0, "%s", r.d.error(r.d.ctx));
        for (int ci = 0; ci < 3; ci++) {
            uint32_t ne;
            cr_assert_eq(sess_draft_topk(&r.d, nv, calls[ci].first, calls[ci].t, calls[ci].p, calls[ci].n,
                                         calls[ci].want, k, NULL, ids_s + (size_t) calls[ci].first * k,
                                         lp_s + (size_t) calls[ci].first * k, &ne), 0, "%s", r.d.error(r.d.ctx));
        }
        r.d.end_cycle(r.d.ctx);
        cr_assert_eq(dense.begin_cycle(dense.ctx, c, 30), 0);
        for (int ci = 0; ci < 3; ci++) {
            uint32_t ne;
            cr_assert_eq(sess_draft_topk(&dense, nv, calls[ci].first, calls[ci].t, calls[ci].p, calls[ci].n,
                                         calls[ci].want, k, logits, ids_d + (size_t) calls[ci].first * k,
                                         lp_d + (size_t) calls[ci].first * k, &ne), 0);
        }
        dense.end_cycle(dense.ctx);
        for (uint32_t node = 0; node < 8; node++) {
            if (node == 5) continue; /* not wanted */
            for (uint32_t j = 0; j < k; j++) {
                const size_t o = (size_t) node * k + j;
                cr_assert_eq(ids_s[o], ids_d[o], "k %u node %u rank %u: %d vs dense %d", k, node, j, ids_s[o], ids_d[o]);
                if (j < HEAD_VD) cr_assert_float_eq(lp_s[o], lp_d[o], 1e-5f, "k %u node %u rank %u", k, node, j);
                else cr_assert(lp_s[o] < -1e29f && lp_d[o] < -1e29f, "k %u node %u rank %u: outside the draft vocabulary", k, node, j);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 0u);
    free(logits);
    rig_close(&r);
}

/* The Q8_0 re-encoding (what the CLI uses) against the file's F32 weights: top-1 of the draft
 * vocabulary on random contexts and random tree nodes. Asserted bound: >= 95% agreement, and the
 * log-probs of the F32 top-1 token within 0.1 (the head's logits here span several units). */
Test(feature_head, q8_head_agrees_with_file_weights) {
    char path[400];
    snprintf(path, sizeof path, "%s/q8.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    rig_t a, b;
    rig_open_as(&a, path, GGML_TYPE_F32);
    rig_open_as(&b, path, GGML_TYPE_Q8_0);
    fh_draft_set_scatter(a.b.draft, 0);
    fh_draft_set_scatter(b.b.draft, 0);
    static float la[8 * HEAD_VD], lb[8 * HEAD_VD];
    uint32_t agree = 0, total = 0;
    float max_dlp = 0.0f;
    uint64_t rng = 12345;
    for (uint32_t trial = 0; trial < 12; trial++) {
        int32_t c[48];
        const uint32_t n = 8 + 3 * trial;
        for (uint32_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            c[i] = (int32_t) (3 + (rng >> 33) % 500);
        }
        cr_assert_eq(llm_truncate(a.t.c, 0), 0);
        cr_assert_eq(llm_truncate(b.t.c, 0), 0);
        target_take(&a, c, 0, n - 1, 64);
        target_take(&b, c, 0, n - 1, 64);
        const int32_t tok[8] = {c[n - 1], 17, 99, 250, 4, 333, 71, 480}, par[8] = {-1, 0, 0, 0, 1, 1, 4, 6};
        rig_t *rs[2] = {&a, &b};
        float *ls[2] = {la, lb};
        for (int w = 0; w < 2; w++) {
            uint32_t ne;
            cr_assert_eq(rs[w]->d.begin_cycle(rs[w]->d.ctx, c, n), 0);
            cr_assert_eq(rs[w]->d.forward(rs[w]->d.ctx, 0, tok, par, 8, ls[w], &ne), 0, "%s", rs[w]->d.error(rs[w]->d.ctx));
            rs[w]->d.end_cycle(rs[w]->d.ctx);
        }
        for (uint32_t i = 0; i < 8; i++) {
            const float *x = la + i * HEAD_VD, *y = lb + i * HEAD_VD;
            uint32_t ax = 0, ay = 0;
            double zx = 0, zy = 0;
            for (uint32_t v = 1; v < HEAD_VD; v++) {
                if (x[v] > x[ax]) ax = v;
                if (y[v] > y[ay]) ay = v;
            }
            for (uint32_t v = 0; v < HEAD_VD; v++) {
                zx += exp(x[v] - x[ax]);
                zy += exp(y[v] - y[ay]);
            }
            const float lpx = -(float) log(zx), lpy = y[ax] - y[ay] - (float) log(zy);
            if (fabsf(lpx - lpy) > max_dlp) max_dlp = fabsf(lpx - lpy);
            agree += ax == ay;
            total++;
        }
    }
    cr_assert_geq(agree * 100, total * 95, "Q8_0 head agrees on top-1 in %u of %u nodes", agree, total);
    cr_log_info("Q8_0 vs F32: top-1 %u/%u, max |dlogp| %f", agree, total, max_dlp);
    cr_assert_lt(max_dlp, 0.3f, "log-prob of the top-1 token moved by %f", max_dlp);
    /* the two encodings really differ (else this compares a thing with itself) */
    cr_assert(memcmp(la, lb, sizeof la) != 0);
    rig_close(&a);
    rig_close(&b);
}

/* ---- the vector loops against their portable versions and plain references ---- */
Test(feature_head, simd_topk_and_sum_exp_match_references) {
    enum { N = 1003 }; /* not a multiple of 8: the tails run too */
    static float x[N], tmp[N];
    static int32_t map[N];
    uint64_t rng = 99;
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < N; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            /* few distinct values in odd trials: many ties, broken by the mapped id */
            x[i] = trial % 2 ? (float) ((rng >> 33) % 7) : (float) ((rng >> 33) % 100000) / 3000.0f - 20.0f;
            map[i] = (int32_t) ((i * 389 + trial) % N); /* a permutation: 389 is coprime to 1003 */
        }
        const uint32_t k = 1 + (uint32_t) trial % 16;
        int32_t ids[2][16];
        float vals[2][16];
        double z[2];
        float mx = x[0];
        for (int i = 1; i < N; i++) mx = x[i] > mx ? x[i] : mx;
        for (int portable = 0; portable < 2; portable++) {
            fh_simd_portable = portable;
            cr_assert_eq(fh_topk(x, N, trial % 3 ? map : NULL, k, ids[portable], vals[portable]), k);
            z[portable] = fh_sum_exp(x, N, mx, tmp);
        }
        fh_simd_portable = 0;
        double zr = 0;
        for (int i = 0; i < N; i++) zr += exp((double) x[i] - mx);
        for (int p = 0; p < 2; p++) cr_assert(fabs(z[p] - zr) <= 1e-6 * zr, "sum_exp %g vs %g", z[p], zr);
        /* reference: rank of each element by (value desc, id asc) */
        for (uint32_t r = 0; r < k; r++) {
            cr_assert_eq(ids[0][r], ids[1][r], "trial %d rank %u", trial, r);
            cr_assert_eq(vals[0][r], vals[1][r]);
            const int32_t id = ids[0][r];
            uint32_t better = 0;
            for (int i = 0; i < N; i++) {
                const int32_t mi = trial % 3 ? map[i] : i;
                if (x[i] > vals[0][r] || (x[i] == vals[0][r] && mi < id)) better++;
            }
            cr_assert_eq(better, r, "trial %d: element of rank %u has %u better ones", trial, r, better);
        }
    }
}

Test(feature_head, vector_attention_equals_portable) {
    char path[400];
    snprintf(path, sizeof path, "%s/simd.gguf", g_dir);
    write_head(path, &(head_opts_t) {0});
    static float out[2][8 * HEAD_VD];
    int32_t c[40];
    for (int i = 0; i < 40; i++) c[i] = 3 + (i * 53) % 500;
    for (int portable = 0; portable < 2; portable++) {
        fh_simd_portable = portable;
        rig_t r;
        rig_open(&r, path); /* scatter off: draft-vocab logits */
        target_take(&r, c, 0, 35, 9);
        const int32_t tok[8] = {c[35], 17, 99, 250, 4, 333, 71, 480}, par[8] = {-1, 0, 0, 0, 1, 1, 4, 6};
        uint32_t ne;
        cr_assert_eq(r.d.begin_cycle(r.d.ctx, c, 36), 0);
        cr_assert_eq(r.d.forward(r.d.ctx, 0, tok, par, 8, out[portable], &ne), 0, "%s", r.d.error(r.d.ctx));
        r.d.end_cycle(r.d.ctx);
        rig_close(&r);
    }
    fh_simd_portable = 0;
    for (uint32_t i = 0; i < 8 * HEAD_VD; i++) cr_assert_float_eq(out[0][i], out[1][i], 1e-3f, "logit %u", i);
}
