/* mock_host.c - see mock_host.h. */
#include "mock_host.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define POISON 0xA5
#define CANARY 0x5C
#define LOGP_SENTINEL 12345.0f

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int32_t mock_target_next(int32_t a, int32_t b) { return (7 * a + 3 * b + 1) % MOCK_VOCAB; }

static int32_t draft_next(const mock_host_t *mh, int32_t a, int32_t b) {
    int32_t t = mock_target_next(a, b);
    if (mh->draft_wrong_every > 0 && b % mh->draft_wrong_every == 0) t = (t + 1) % MOCK_VOCAB;
    return t;
}

/* struct_size to write: the test's choice or sizeof; the bytes past it get poison. */
static uint32_t apply_size(void *p, size_t full, uint32_t want) {
    uint32_t sz = want ? want : (uint32_t) full;
    if (sz < full) memset((char *) p + sz, POISON, full - sz);
    return sz;
}

static uint64_t mock_now(const dstrat_host_t *h) {
    (void) h;
    static uint64_t t;
    return t += 1000;
}

static dstrat_status_t forbidden_draft(const dstrat_host_t *h, uint32_t n, const dstrat_draft_req_t *r,
                                       dstrat_draft_out_t *o) {
    (void) h, (void) n, (void) r, (void) o;
    return DSTRAT_E_HOST; /* only reachable by reading past the host's struct_size */
}

static dstrat_status_t mock_draft_forward(const dstrat_host_t *h, uint32_t n,
                                          const dstrat_draft_req_t *reqs, dstrat_draft_out_t *outs) {
    mock_host_t *mh = (mock_host_t *) h;
    if (n != 1 || !reqs || !outs) return DSTRAT_E_INVALID_ARG;
    const dstrat_draft_req_t *r = &reqs[0];
    if (r->top_k < 1 || r->top_k > mh->limits.max_draft_top_k || r->top_k > MOCK_MAX_TOP_K)
        return DSTRAT_E_INVALID_ARG;
    if (r->n_nodes > mh->limits.max_draft_nodes || mh->n_nodes + r->n_nodes > MOCK_MAX_NODES)
        return DSTRAT_E_CAPACITY;
    uint32_t first = mh->n_nodes, n_out = 0;
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        uint32_t id = first + i;
        int32_t tok = r->token[i], par = r->parent[i];
        if (tok < 0 || tok >= MOCK_VOCAB) return DSTRAT_E_INVALID_ARG;
        if (id == 0) {
            if (par != DSTRAT_PARENT_NONE || tok != mh->committed[mh->n_committed - 1])
                return DSTRAT_E_INVALID_ARG; /* the first node must be the root */
        } else if (par < 0 || (uint32_t) par >= id) {
            return DSTRAT_E_INVALID_ARG;
        }
        mh->node_tok[id] = tok;
        mh->node_parent[id] = par;
    }
    mh->n_nodes += r->n_nodes;
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        if (r->want && !r->want[i]) continue;
        uint32_t id = first + i;
        int32_t par = mh->node_parent[id];
        int32_t a = par >= 0 ? mh->node_tok[par]
                             : (mh->n_committed >= 2 ? mh->committed[mh->n_committed - 2] : 0);
        int32_t d = draft_next(mh, a, mh->node_tok[id]);
        float p = 0.6f;
        for (uint32_t j = 0; j < r->top_k; j++, p *= 0.5f) {
            mh->out_ids[n_out][j] = (d + (int32_t) j) % MOCK_VOCAB;
            mh->out_logp[n_out][j] = logf(p);
        }
        mh->out_dist[n_out] = (dstrat_dist_t) { sizeof(dstrat_dist_t), r->top_k, mh->out_ids[n_out],
                                                mh->out_logp[n_out] };
        mh->out_node[n_out] = (int32_t) id;
        n_out++;
    }
    dstrat_draft_out_t *o = &outs[0];
    /* write only what the plugin's struct has room for */
    if (DSTRAT_HAS(o, dstrat_draft_out_t, n_out)) o->n_out = n_out;
    if (DSTRAT_HAS(o, dstrat_draft_out_t, node)) o->node = mh->out_node;
    if (DSTRAT_HAS(o, dstrat_draft_out_t, dist)) o->dist = mh->out_dist;
    if (DSTRAT_HAS(o, dstrat_draft_out_t, t_ns)) o->t_ns = 1000;
    if (DSTRAT_HAS(o, dstrat_draft_out_t, n_evaluated)) o->n_evaluated = r->n_nodes;
    mh->n_draft_calls++;
    mh->n_draft_nodes += r->n_nodes;
    return DSTRAT_OK;
}

void mock_host_init(mock_host_t *mh, const mock_sizes_t *s) {
    static const mock_sizes_t zero;
    if (!s) s = &zero;
    memset(mh, 0, sizeof *mh);
    mh->draft_wrong_every = 5;
    mh->limits = (dstrat_host_limits_t) {
        .struct_size = sizeof(dstrat_host_limits_t),
        .n_vocab = MOCK_VOCAB,
        .max_seqs_per_step = 1,
        .max_tree_nodes = 32,
        .max_tree_depth = 8,
        .max_draft_nodes = 32,
        .max_draft_top_k = 4,
    };
    mh->limits.struct_size = apply_size(&mh->limits, sizeof mh->limits, s->limits);
    dstrat_host_t *h = &mh->host;
    *h = (dstrat_host_t) {
        .struct_size = sizeof(dstrat_host_t),
        .abi_version = DSTRAT_VERSION_INIT,
        .name = "mockhost",
        .version = "0",
        .caps = DSTRAT_CAP_DRAFT | DSTRAT_CAP_DRAFT_TREE | DSTRAT_CAP_VERIFY_TREE | DSTRAT_CAP_TIMING,
        .limits = &mh->limits,
        .now_ns = mock_now,
        .draft_forward = mock_draft_forward,
    };
    if (s->host && s->host < sizeof *h) {
        h->struct_size = s->host;
        if (!DSTRAT_HAS(h, dstrat_host_t, draft_forward)) {
            h->draft_forward = forbidden_draft;
            h->caps &= ~(DSTRAT_CAP_DRAFT | DSTRAT_CAP_DRAFT_TREE);
        }
    }
}

void mock_reference(const int32_t *prompt, uint32_t n_prompt, uint32_t n_gen, int32_t *out) {
    int32_t a = n_prompt >= 2 ? prompt[n_prompt - 2] : 0, b = prompt[n_prompt - 1];
    for (uint32_t i = 0; i < n_gen; i++) {
        out[i] = mock_target_next(a, b);
        a = b;
        b = out[i];
    }
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

#define MAX_SEQ 1024

int mock_generate(mock_host_t *mh, dstrat_strategy_t *st, const mock_sizes_t *s,
                  const int32_t *prompt, uint32_t n_prompt, uint32_t n_gen, int32_t *out,
                  uint32_t *n_cycles, char *err, size_t cap) {
    static const mock_sizes_t zero;
    if (!s) s = &zero;
    int32_t seq[MAX_SEQ];
    uint32_t n = n_prompt;
    if (n_prompt < 1 || n_prompt + n_gen + MOCK_MAX_NODES > MAX_SEQ) {
        set_err(err, cap, "mock_generate: bad lengths");
        return -1;
    }
    memcpy(seq, prompt, n_prompt * sizeof *seq);
    const uint32_t max_nodes = 32, max_depth = 8;

    dstrat_session_params_t sp = {
        .struct_size = sizeof sp, .max_tree_nodes = max_nodes, .host_seq = 7,
        .caps = mh->host.caps, .max_tree_depth = max_depth, .rng_seed = 99,
    };
    sp.struct_size = apply_size(&sp, sizeof sp, s->session_params);
    dstrat_session_t *ss = NULL;
    dstrat_status_t rc = st->session_create(st, &sp, &ss);
    if (rc != DSTRAT_OK || !ss) {
        set_err(err, cap, "session_create: status %d: %s", (int) rc, st->last_error(st));
        return -1;
    }
    int ret = -1;
    rc = st->session_reset(st, ss, seq, n);
    if (rc != DSTRAT_OK) {
        set_err(err, cap, "session_reset: status %d: %s", (int) rc, st->last_error(st));
        goto done;
    }
    uint32_t produced = 0, cycles = 0;
    while (produced < n_gen) {
        if (++cycles > n_gen + 4) {
            set_err(err, cap, "no progress after %u cycles", cycles);
            goto done;
        }
        /* ---- propose, into a tree whose struct is followed by a canary */
        int32_t tok[MOCK_MAX_NODES], par[MOCK_MAX_NODES];
        float logp[MOCK_MAX_NODES];
        for (int i = 0; i < MOCK_MAX_NODES; i++) logp[i] = LOGP_SENTINEL;
        struct { dstrat_tree_t t; uint8_t canary[64]; } tb;
        memset(&tb, CANARY, sizeof tb);
        tb.t = (dstrat_tree_t) { sizeof(dstrat_tree_t), MOCK_MAX_NODES, 0, 0, tok, par, logp };
        tb.t.struct_size = apply_size(&tb.t, sizeof tb.t, s->tree);
        if (!DSTRAT_HAS(&tb.t, dstrat_tree_t, draft_logp)) tb.t.draft_logp = logp; /* watch it */
        dstrat_tree_t *tp = &tb.t;
        mh->n_nodes = 0;
        mh->committed = seq;
        mh->n_committed = n;
        rc = st->propose(st, 1, &ss, &tp);
        if (rc < 0) {
            set_err(err, cap, "propose: status %d: %s", (int) rc, st->last_error(st));
            goto done;
        }
        if (!all_bytes(tb.canary, sizeof tb.canary, CANARY)) {
            set_err(err, cap, "propose wrote past the tree struct (struct_size %u)", tb.t.struct_size);
            goto done;
        }
        const dstrat_tree_t *t = &tb.t;
        if (t->n_nodes < 1 || t->n_nodes > max_nodes || t->token[0] != seq[n - 1] ||
            t->parent[0] != DSTRAT_PARENT_NONE) {
            set_err(err, cap, "bad tree: n_nodes %u, root token %d (want %d), root parent %d",
                    t->n_nodes, t->token[0], seq[n - 1], t->parent[0]);
            goto done;
        }
        uint32_t depth[MOCK_MAX_NODES];
        depth[0] = 0;
        for (uint32_t i = 1; i < t->n_nodes; i++) {
            if (t->parent[i] < 0 || (uint32_t) t->parent[i] >= i || t->token[i] < 0 ||
                t->token[i] >= MOCK_VOCAB) {
                set_err(err, cap, "bad tree node %u: parent %d token %d", i, t->parent[i], t->token[i]);
                goto done;
            }
            depth[i] = depth[t->parent[i]] + 1;
            if (depth[i] > max_depth) {
                set_err(err, cap, "tree deeper than %u", max_depth);
                goto done;
            }
        }
        if (!DSTRAT_HAS(t, dstrat_tree_t, draft_logp))
            for (int i = 0; i < MOCK_MAX_NODES; i++)
                if (logp[i] != LOGP_SENTINEL) {
                    set_err(err, cap, "propose wrote draft_logp although the tree struct_size %u excludes it",
                            t->struct_size);
                    goto done;
                }

        /* ---- verify (greedy): argmax after path(0..i) */
        int32_t argmax[MOCK_MAX_NODES];
        for (uint32_t i = 0; i < t->n_nodes; i++) {
            int32_t a = t->parent[i] >= 0 ? t->token[t->parent[i]] : (n >= 2 ? seq[n - 2] : 0);
            argmax[i] = mock_target_next(a, t->token[i]);
        }
        dstrat_verify_t v = { .struct_size = sizeof v, .n_nodes = t->n_nodes, .target = NULL,
                              .argmax = argmax, .greedy = 1, .rng_seed = 99, .root_pos = n - 1 };
        v.struct_size = apply_size(&v, sizeof v, s->verify);
        const dstrat_verify_t *vp = &v;

        /* ---- accept, into an accept struct followed by a canary */
        int32_t path[MOCK_MAX_NODES];
        struct { dstrat_accept_t a; uint8_t canary[64]; } ab;
        memset(&ab, CANARY, sizeof ab);
        ab.a = (dstrat_accept_t) { .struct_size = sizeof(dstrat_accept_t), .capacity = max_depth + 1, .n_path = 0, .path = path, .next_token = -1 };
        ab.a.struct_size = apply_size(&ab.a, sizeof ab.a, s->accept);
        dstrat_accept_t *ap = &ab.a;
        const dstrat_tree_t *tcp = t;
        rc = st->accept(st, 1, &ss, &tcp, &vp, &ap);
        if (rc != DSTRAT_OK) {
            set_err(err, cap, "accept: status %d: %s", (int) rc, st->last_error(st));
            goto done;
        }
        if (!all_bytes(ab.canary, sizeof ab.canary, CANARY)) {
            set_err(err, cap, "accept wrote past the accept struct");
            goto done;
        }
        const dstrat_accept_t *a = &ab.a;
        if (a->n_path < 1 || a->n_path > max_depth + 1 || path[0] != 0) {
            set_err(err, cap, "bad path: n_path %u path[0] %d", a->n_path, path[0]);
            goto done;
        }
        for (uint32_t j = 1; j < a->n_path; j++) {
            if (path[j] <= 0 || (uint32_t) path[j] >= t->n_nodes || t->parent[path[j]] != path[j - 1] ||
                t->token[path[j]] != argmax[path[j - 1]]) {
                set_err(err, cap, "path[%u] = %d is not the greedy child of %d", j, path[j], path[j - 1]);
                goto done;
            }
        }
        if (a->next_token != argmax[path[a->n_path - 1]]) {
            set_err(err, cap, "next_token %d, greedy target says %d", a->next_token,
                    argmax[path[a->n_path - 1]]);
            goto done;
        }
        /* ---- commit */
        for (uint32_t j = 1; j < a->n_path; j++) seq[n++] = t->token[path[j]];
        seq[n++] = a->next_token;
        produced += a->n_path;

        /* ---- observe */
        if (st->observe) {
            dstrat_cycle_stats_t cs = { .struct_size = sizeof cs, .n_draft_calls = 1, .t_draft_ns = 1000,
                                        .n_draft_evaluated = t->n_nodes, .n_verified = t->n_nodes,
                                        .t_verify_ns = 5000, .t_propose_ns = 2000, .t_accept_ns = 100,
                                        .n_accepted = a->n_path, .n_context = n };
            cs.struct_size = apply_size(&cs, sizeof cs, s->cycle_stats);
            rc = st->observe(st, ss, &cs);
            if (rc != DSTRAT_OK) {
                set_err(err, cap, "observe: status %d: %s", (int) rc, st->last_error(st));
                goto done;
            }
        }
    }
    memcpy(out, seq + n_prompt, n_gen * sizeof *out);
    if (n_cycles) *n_cycles = cycles;
    ret = 0;
done:
    st->session_destroy(st, ss);
    return ret;
}
