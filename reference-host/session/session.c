/* session.c - prefill and the speculative cycle of one sequence (see session.h and the cycle
 * contract in abi/dstrat.h). Every buffer is sized once at create/bind time; a cycle allocates
 * nothing. Everything the plugin hands back is validated before the host acts on it, so a buggy
 * strategy yields an error, never a corrupt KV cache. */
#include "session.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESS_MAX_DRAFT_IDS 1024u   /* draft nodes per cycle, all draft_forward calls together */

struct session {
    sess_target_t target;
    sess_draft_t draft;
    int has_draft;
    sess_params_t p;

    dstrat_host_t host;
    dstrat_host_limits_t limits;
    dstrat_strategy_t *strat;
    dstrat_session_t *ss;

    /* committed sequence */
    int32_t *committed;
    uint32_t n_committed, cap_committed;

    /* the proposed tree (host-allocated, plugin-filled) */
    dstrat_tree_t tree;
    uint32_t *depth;

    /* verification */
    float *logits;          /* max_tree_nodes x n_vocab raw target logits */
    float *logp;            /* max_tree_nodes x n_vocab post-sampler log-probs (sampling only) */
    void *sampler_scratch;
    dstrat_dist_t *target_dists;
    int32_t *argmax;
    uint8_t *want;

    /* acceptance */
    dstrat_accept_t acc;

    /* draft state of the current cycle */
    int in_propose, draft_begun;
    uint32_t draft_n_ids;
    int32_t draft_tokens[SESS_MAX_DRAFT_IDS];
    int32_t draft_parent[SESS_MAX_DRAFT_IDS];
    float *draft_logits;    /* max_draft_nodes x n_vocab */
    int32_t *draft_topk_ids;/* max_draft_nodes x max_draft_top_k */
    float *draft_topk_logp;
    dstrat_dist_t *draft_dists;
    int32_t *draft_out_nodes;
    uint32_t cycle_draft_calls, cycle_draft_evaluated;
    uint64_t cycle_draft_ns;

    sess_stats_t stats;
    char err[512];
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int fail(session_t *s, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return code;
}

/* ------------------------------------------------------------------------------ host services */
static uint64_t DSTRAT_CALL host_now_ns(const dstrat_host_t *h) {
    (void) h;
    return now_ns();
}

static void DSTRAT_CALL host_log(const dstrat_host_t *h, int32_t level, const char *msg) {
    (void) h;
    if (level >= DSTRAT_LOG_WARNING && msg) fprintf(stderr, "strategy: %s\n", msg);
}

static const void *DSTRAT_CALL host_get_extension(const dstrat_host_t *h, const char *id) {
    (void) h;
    (void) id;
    return NULL;
}

/* Top-k of log_softmax(logits): sorted descending, ties by lower id. */
static void topk_logsoftmax(const float *logits, uint32_t n, uint32_t k, int32_t *ids, float *lp) {
    float mx = logits[0];
    for (uint32_t i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double z = 0.0;
    for (uint32_t i = 0; i < n; i++) z += exp((double) (logits[i] - mx));
    const float lz = mx + (float) log(z);
    uint32_t m = 0; /* insertion into a small sorted list: k is at most a few dozen */
    for (uint32_t i = 0; i < n; i++) {
        float v = logits[i];
        if (m == k && v <= logits[ids[m - 1]]) continue;
        uint32_t j = m < k ? m++ : k - 1;
        while (j > 0 && logits[ids[j - 1]] < v) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = (int32_t) i;
    }
    for (uint32_t j = 0; j < m; j++) lp[j] = logits[ids[j]] - lz;
}

int sess_draft_topk(const sess_draft_t *d, uint32_t n_vocab, uint32_t first_id, const int32_t *tokens,
                    const int32_t *parent, uint32_t n, const uint8_t *want, uint32_t k, float *dense,
                    int32_t *ids, float *logp, uint32_t *n_evaluated) {
    if (d->forward_topk) /* sparse: the draft gives its top-k itself, no n_vocab array */
        return d->forward_topk(d->ctx, first_id, tokens, parent, n, want, k, ids, logp, n_evaluated);
    if (!d->forward || !dense) return -1;
    int rc = d->forward(d->ctx, first_id, tokens, parent, n, dense, n_evaluated);
    if (rc != 0) return rc < 0 ? rc : -1;
    for (uint32_t i = 0; i < n; i++)
        if (!want || want[i])
            topk_logsoftmax(dense + (size_t) i * n_vocab, n_vocab, k, ids + (size_t) i * k, logp + (size_t) i * k);
    return 0;
}

static dstrat_status_t DSTRAT_CALL host_draft_forward(const dstrat_host_t *h, uint32_t n,
                                                      const dstrat_draft_req_t *reqs,
                                                      dstrat_draft_out_t *outs) {
    session_t *s = (session_t *) h->host_data;
    if (!s->has_draft) return fail(s, DSTRAT_E_UNSUPPORTED, "draft_forward: this host has no draft model");
    if (!s->in_propose) return fail(s, DSTRAT_E_STATE, "draft_forward called outside propose");
    if (n != 1 || !reqs || !outs) return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: n must be 1 and arrays non-NULL");
    const dstrat_draft_req_t *r = &reqs[0];
    if (r->struct_size < offsetof(dstrat_draft_req_t, top_k) + sizeof r->top_k)
        return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: request struct_size %u too small", r->struct_size);
    if (r->n_nodes == 0 || !r->token || !r->parent)
        return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: empty request or NULL arrays");
    if (r->n_nodes > s->limits.max_draft_nodes || s->draft_n_ids + r->n_nodes > SESS_MAX_DRAFT_IDS)
        return fail(s, DSTRAT_E_CAPACITY, "draft_forward: %u nodes exceed the limit (%u per call, %u per cycle)",
                    r->n_nodes, s->limits.max_draft_nodes, SESS_MAX_DRAFT_IDS);
    if (r->top_k == 0 || r->top_k > s->limits.max_draft_top_k)
        return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: top_k %u outside 1..%u", r->top_k, s->limits.max_draft_top_k);
    const uint32_t first = s->draft_n_ids;
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        const uint32_t id = first + i;
        const int32_t par = r->parent[i], tok = r->token[i];
        if (tok < 0 || (uint32_t) tok >= s->target.n_vocab)
            return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: token %d out of range", tok);
        if (id == 0) {
            if (par != DSTRAT_PARENT_NONE || tok != s->committed[s->n_committed - 1])
                return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: the first node of a cycle must be the root (last committed token, parent -1)");
        } else if (par < 0 || (uint32_t) par >= id) {
            return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: node %u has parent %d (must be an earlier node)", id, par);
        }
        s->draft_tokens[id] = tok;
        s->draft_parent[id] = par;
    }
    const uint64_t t0 = now_ns();
    if (!s->draft_begun) {
        if (s->draft.begin_cycle(s->draft.ctx, s->committed, s->n_committed) != 0)
            return fail(s, DSTRAT_E_HOST, "draft model: %s", s->draft.error ? s->draft.error(s->draft.ctx) : "begin_cycle failed");
        s->draft_begun = 1;
    }
    uint32_t n_eval = r->n_nodes;
    const uint32_t nv = s->target.n_vocab, k = r->top_k < nv ? r->top_k : nv;
    if (sess_draft_topk(&s->draft, nv, first, r->token, r->parent, r->n_nodes, r->want, k, s->draft_logits,
                        s->draft_topk_ids, s->draft_topk_logp, &n_eval) != 0)
        return fail(s, DSTRAT_E_HOST, "draft model: %s", s->draft.error ? s->draft.error(s->draft.ctx) : "forward failed");
    s->draft_n_ids += r->n_nodes;
    uint32_t n_out = 0;
    for (uint32_t i = 0; i < r->n_nodes; i++) {
        if (r->want && !r->want[i]) continue;
        s->draft_dists[n_out] = (dstrat_dist_t) {sizeof(dstrat_dist_t), k, s->draft_topk_ids + (size_t) i * k,
                                                 s->draft_topk_logp + (size_t) i * k};
        s->draft_out_nodes[n_out] = (int32_t) (first + i);
        n_out++;
    }
    const uint64_t dt = now_ns() - t0;
    dstrat_draft_out_t *o = &outs[0];
    const uint32_t osz = o->struct_size ? o->struct_size : (uint32_t) sizeof *o;
    if (osz < offsetof(dstrat_draft_out_t, dist) + sizeof o->dist)
        return fail(s, DSTRAT_E_INVALID_ARG, "draft_forward: output struct_size %u too small", osz);
    dstrat_draft_out_t full = {.struct_size = (uint32_t) sizeof full, .n_out = n_out, .node = s->draft_out_nodes,
                               .dist = s->draft_dists, .t_ns = dt, .n_evaluated = n_eval};
    /* write only the fields the caller's struct has (an older plugin's struct is smaller) */
    memcpy((char *) o + sizeof o->struct_size, (char *) &full + sizeof full.struct_size,
           (osz < sizeof full ? osz : sizeof full) - sizeof o->struct_size);
    s->cycle_draft_calls++;
    s->cycle_draft_evaluated += n_eval;
    s->cycle_draft_ns += dt;
    s->stats.n_draft_calls++;
    s->stats.n_draft_nodes += r->n_nodes;
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------------------ lifecycle */
session_t *session_create(const sess_target_t *target, const sess_draft_t *draft,
                          const sess_params_t *p, char *err, size_t err_cap) {
    if (!target || !target->forward || !target->commit || !target->truncate || target->n_vocab == 0 ||
        target->max_batch == 0 || !p) {
        snprintf(err, err_cap, "session: incomplete target backend or parameters");
        return NULL;
    }
    const char *why = NULL;
    if (sampler_params_check(&p->sampling, &why) != 0) {
        snprintf(err, err_cap, "session: %s", why);
        return NULL;
    }
    session_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_cap, "session: out of memory");
        return NULL;
    }
    s->target = *target;
    s->has_draft = draft && (draft->forward || draft->forward_topk) && draft->begin_cycle;
    if (s->has_draft) s->draft = *draft;
    s->p = *p;
    uint32_t max_nodes = p->max_tree_nodes ? p->max_tree_nodes : 64;
    if (max_nodes > target->max_batch) max_nodes = target->max_batch;
    const uint32_t nv = target->n_vocab;
    s->limits = (dstrat_host_limits_t) {
        .struct_size = sizeof(dstrat_host_limits_t),
        .n_vocab = nv,
        .max_seqs_per_step = 1,
        .max_tree_nodes = max_nodes,
        .max_tree_depth = p->max_tree_depth ? p->max_tree_depth : 16,
        .max_draft_nodes = 64,
        .max_draft_top_k = p->max_draft_top_k ? p->max_draft_top_k : 16,
    };
    if (s->limits.max_tree_depth > max_nodes - 1) s->limits.max_tree_depth = max_nodes > 1 ? max_nodes - 1 : 1;
    s->host = (dstrat_host_t) {
        .struct_size = sizeof(dstrat_host_t),
        .abi_version = DSTRAT_VERSION_INIT,
        .host_data = s,
        .name = "refhost",
        .version = "0.1.0",
        .caps = DSTRAT_CAP_VERIFY_TREE | DSTRAT_CAP_TARGET_DENSE | DSTRAT_CAP_TIMING |
                (s->has_draft ? DSTRAT_CAP_DRAFT | DSTRAT_CAP_DRAFT_TREE : 0),
        .limits = &s->limits,
        .get_extension = host_get_extension,
        .log = host_log,
        .now_ns = host_now_ns,
        .draft_forward = s->has_draft ? host_draft_forward : NULL,
    };
    const size_t rows = max_nodes, cap_k = s->limits.max_draft_top_k, dn = s->limits.max_draft_nodes;
    s->tree.token = calloc(rows, sizeof(int32_t));
    s->tree.parent = calloc(rows, sizeof(int32_t));
    s->tree.draft_logp = calloc(rows, sizeof(float));
    s->depth = calloc(rows, sizeof(uint32_t));
    s->logits = malloc(rows * nv * sizeof(float));
    s->target_dists = calloc(rows, sizeof(dstrat_dist_t));
    s->argmax = calloc(rows, sizeof(int32_t));
    s->want = calloc(target->max_batch, 1);
    s->acc.path = calloc(rows, sizeof(int32_t));
    int sampling = p->sampling.temperature > 0.0f;
    if (sampling) {
        s->logp = malloc(rows * nv * sizeof(float));
        s->sampler_scratch = malloc(sampler_scratch_bytes(nv));
    }
    if (s->has_draft) {
        if (!s->draft.forward_topk) s->draft_logits = malloc(dn * nv * sizeof(float)); /* dense path only */
        s->draft_topk_ids = calloc(dn * cap_k, sizeof(int32_t));
        s->draft_topk_logp = calloc(dn * cap_k, sizeof(float));
        s->draft_dists = calloc(dn, sizeof(dstrat_dist_t));
        s->draft_out_nodes = calloc(dn, sizeof(int32_t));
    }
    if (!s->tree.token || !s->tree.parent || !s->tree.draft_logp || !s->depth || !s->logits ||
        !s->target_dists || !s->argmax || !s->want || !s->acc.path ||
        (sampling && (!s->logp || !s->sampler_scratch)) ||
        (s->has_draft && ((!s->draft_logits && !s->draft.forward_topk) || !s->draft_topk_ids ||
                          !s->draft_topk_logp || !s->draft_dists || !s->draft_out_nodes))) {
        session_free(s);
        snprintf(err, err_cap, "session: out of memory for %zu x %u logits", rows, nv);
        return NULL;
    }
    return s;
}

void session_free(session_t *s) {
    if (!s) return;
    if (s->ss && s->strat) s->strat->session_destroy(s->strat, s->ss);
    free(s->committed);
    free(s->tree.token);
    free(s->tree.parent);
    free(s->tree.draft_logp);
    free(s->depth);
    free(s->logits);
    free(s->logp);
    free(s->sampler_scratch);
    free(s->target_dists);
    free(s->argmax);
    free(s->want);
    free(s->acc.path);
    free(s->draft_logits);
    free(s->draft_topk_ids);
    free(s->draft_topk_logp);
    free(s->draft_dists);
    free(s->draft_out_nodes);
    free(s);
}

const dstrat_host_t *session_host(const session_t *s) { return &s->host; }
const sess_stats_t *session_stats(const session_t *s) { return &s->stats; }
const char *session_error(const session_t *s) { return s->err; }

static const char *strat_err(const session_t *s) {
    const char *m = s->strat->last_error ? s->strat->last_error(s->strat) : NULL;
    return m && m[0] ? m : "(no message)";
}

int session_bind(session_t *s, dstrat_strategy_t *strategy) {
    if (!strategy || !strategy->session_create || !strategy->propose || !strategy->accept ||
        !strategy->session_reset || !strategy->session_destroy)
        return fail(s, DSTRAT_E_INVALID_ARG, "session_bind: strategy vtable incomplete");
    if (s->ss && s->strat) s->strat->session_destroy(s->strat, s->ss);
    s->ss = NULL;
    s->strat = strategy;
    dstrat_session_params_t sp = {
        .struct_size = sizeof sp,
        .max_tree_nodes = s->limits.max_tree_nodes,
        .host_seq = 0,
        .caps = s->host.caps,
        .max_tree_depth = s->limits.max_tree_depth,
        .greedy = !(s->p.sampling.temperature > 0.0f),
        .rng_seed = s->p.seed,
    };
    dstrat_status_t rc = strategy->session_create(strategy, &sp, &s->ss);
    if (rc < 0 || !s->ss) return fail(s, rc < 0 ? rc : DSTRAT_E_GENERIC, "strategy session_create: %s", strat_err(s));
    return 0;
}

/* ------------------------------------------------------------------------------ the cycle */
static int push_committed(session_t *s, int32_t tok) {
    if (s->n_committed == s->cap_committed) {
        uint32_t cap = s->cap_committed ? s->cap_committed * 2 : 1024;
        int32_t *c = realloc(s->committed, cap * sizeof *c);
        if (!c) return fail(s, DSTRAT_E_NOMEM, "out of memory");
        s->committed = c;
        s->cap_committed = cap;
    }
    s->committed[s->n_committed++] = tok;
    return 0;
}

static int prefill(session_t *s, const int32_t *prompt, uint32_t n) {
    /* the KV holds c[0..n-1); the last prompt token is the first root */
    const uint32_t mb = s->target.max_batch;
    int32_t parent[256];
    uint32_t done = 0;
    while (done + 1 < n) {
        uint32_t m = n - 1 - done;
        if (m > mb) m = mb;
        if (m > 256) m = 256;
        for (uint32_t i = 0; i < m; i++) parent[i] = (int32_t) i - 1;
        memset(s->want, 0, m);
        if (s->target.forward(s->target.ctx, prompt + done, parent, m, s->want, NULL) != 0)
            return fail(s, DSTRAT_E_HOST, "target prefill: %s", s->target.error ? s->target.error(s->target.ctx) : "failed");
        for (uint32_t i = 0; i < m; i++) parent[i] = (int32_t) i;
        if (s->target.commit(s->target.ctx, parent, m) != 0)
            return fail(s, DSTRAT_E_HOST, "target prefill commit: %s", s->target.error ? s->target.error(s->target.ctx) : "failed");
        if (s->has_draft && s->draft.target_committed && s->draft.target_committed(s->draft.ctx, parent, m) != 0)
            return fail(s, DSTRAT_E_HOST, "draft: %s", s->draft.error ? s->draft.error(s->draft.ctx) : "failed");
        done += m;
    }
    return 0;
}

static int check_tree(session_t *s) {
    const dstrat_tree_t *t = &s->tree;
    if (t->n_nodes < 1 || t->n_nodes > s->limits.max_tree_nodes)
        return fail(s, DSTRAT_E_CAPACITY, "strategy proposed %u nodes (allowed 1..%u)", t->n_nodes, s->limits.max_tree_nodes);
    if (t->parent[0] != DSTRAT_PARENT_NONE || t->token[0] != s->committed[s->n_committed - 1])
        return fail(s, DSTRAT_E_INVALID_ARG, "strategy tree: node 0 must be the root (last committed token, parent -1)");
    s->depth[0] = 0;
    for (uint32_t i = 1; i < t->n_nodes; i++) {
        if (t->parent[i] < 0 || (uint32_t) t->parent[i] >= i)
            return fail(s, DSTRAT_E_INVALID_ARG, "strategy tree: node %u has parent %d (not topological)", i, t->parent[i]);
        if (t->token[i] < 0 || (uint32_t) t->token[i] >= s->target.n_vocab)
            return fail(s, DSTRAT_E_INVALID_ARG, "strategy tree: node %u token %d out of range", i, t->token[i]);
        s->depth[i] = s->depth[t->parent[i]] + 1;
        if (s->depth[i] > s->limits.max_tree_depth)
            return fail(s, DSTRAT_E_CAPACITY, "strategy tree: node %u is deeper than %u", i, s->limits.max_tree_depth);
    }
    return 0;
}

static int check_accept(session_t *s) {
    const dstrat_accept_t *a = &s->acc;
    if (a->n_path < 1 || a->n_path > a->capacity || a->path[0] != 0)
        return fail(s, DSTRAT_E_INVALID_ARG, "strategy accept: path must start at the root and fit (n_path %u)", a->n_path);
    for (uint32_t j = 1; j < a->n_path; j++) {
        int32_t i = a->path[j];
        if (i <= 0 || (uint32_t) i >= s->tree.n_nodes || s->tree.parent[i] != a->path[j - 1])
            return fail(s, DSTRAT_E_INVALID_ARG, "strategy accept: path[%u] = %d is not a child of %d", j, i, a->path[j - 1]);
    }
    if (a->next_token < 0 || (uint32_t) a->next_token >= s->target.n_vocab)
        return fail(s, DSTRAT_E_INVALID_ARG, "strategy accept: next_token %d out of range", a->next_token);
    return 0;
}

int64_t session_generate(session_t *s, const sess_run_t *run) {
    if (!s->strat || !s->ss) return fail(s, DSTRAT_E_STATE, "session_generate: no strategy bound");
    if (!run || !run->prompt || run->n_prompt == 0) return fail(s, DSTRAT_E_INVALID_ARG, "empty prompt");
    if ((uint64_t) run->n_prompt + 1 > s->target.n_ctx)
        return fail(s, DSTRAT_E_CAPACITY, "prompt of %u tokens does not fit the context of %u tokens",
                    run->n_prompt, s->target.n_ctx);
    memset(&s->stats, 0, sizeof s->stats);
    s->n_committed = 0;
    for (uint32_t i = 0; i < run->n_prompt; i++) {
        if (run->prompt[i] < 0 || (uint32_t) run->prompt[i] >= s->target.n_vocab)
            return fail(s, DSTRAT_E_INVALID_ARG, "prompt token %d at %u out of range", run->prompt[i], i);
        if (push_committed(s, run->prompt[i]) != 0) return DSTRAT_E_NOMEM;
    }
    if (s->target.truncate(s->target.ctx, 0) != 0)
        return fail(s, DSTRAT_E_HOST, "target reset: %s", s->target.error ? s->target.error(s->target.ctx) : "failed");
    uint64_t t0 = now_ns();
    int rc = prefill(s, run->prompt, run->n_prompt);
    if (rc != 0) return rc;
    s->stats.t_prefill_ns = now_ns() - t0;
    s->stats.n_prompt = run->n_prompt;
    dstrat_status_t st = s->strat->session_reset(s->strat, s->ss, s->committed, s->n_committed);
    if (st < 0) return fail(s, st, "strategy session_reset: %s", strat_err(s));

    const uint32_t nv = s->target.n_vocab;
    const int greedy = !(s->p.sampling.temperature > 0.0f);
    uint64_t n_gen = 0;
    int done = 0;
    const uint64_t t_dec0 = now_ns();
    while (!done && n_gen < run->max_new) {
        /* ---- propose */
        s->tree.struct_size = sizeof s->tree;
        s->tree.capacity = s->limits.max_tree_nodes;
        /* near the end of the context, the tree must still fit the KV cache */
        const uint32_t room = s->target.n_ctx - (s->n_committed - 1);
        if (room < 2) break;
        s->tree.n_nodes = 0;
        s->tree.flags = 0;
        s->err[0] = '\0';
        s->in_propose = 1;
        s->draft_begun = 0;
        s->draft_n_ids = 0;
        s->cycle_draft_calls = s->cycle_draft_evaluated = 0;
        s->cycle_draft_ns = 0;
        dstrat_tree_t *tp = &s->tree;
        uint64_t tp0 = now_ns();
        st = s->strat->propose(s->strat, 1, &s->ss, &tp);
        uint64_t t_propose = now_ns() - tp0;
        s->in_propose = 0;
        if (s->draft_begun && s->draft.end_cycle) s->draft.end_cycle(s->draft.ctx);
        if (st < 0) {
            if (s->err[0]) { /* a host callback failed first: keep its message, add the plugin's */
                char host_msg[sizeof s->err];
                memcpy(host_msg, s->err, sizeof host_msg);
                return fail(s, st, "strategy propose: %s (host: %s)", strat_err(s), host_msg);
            }
            return fail(s, st, "strategy propose: %s", strat_err(s));
        }
        if ((rc = check_tree(s)) != 0) return rc;
        if (s->tree.n_nodes > room) return fail(s, DSTRAT_E_CAPACITY, "tree of %u nodes does not fit the %u free context slots", s->tree.n_nodes, room);

        /* ---- verify: one target forward over the whole tree */
        const uint32_t nn = s->tree.n_nodes;
        s->tree.parent[0] = -1;
        uint64_t tv0 = now_ns();
        if (s->target.forward(s->target.ctx, s->tree.token, s->tree.parent, nn, NULL, s->logits) != 0)
            return fail(s, DSTRAT_E_HOST, "target verify: %s", s->target.error ? s->target.error(s->target.ctx) : "failed");
        uint64_t t_verify = now_ns() - tv0;
        for (uint32_t i = 0; i < nn; i++) {
            const float *row = s->logits + (size_t) i * nv;
            s->argmax[i] = sampler_argmax(row, nv);
            if (!greedy) {
                float *lp = s->logp + (size_t) i * nv;
                sampler_logp(&s->p.sampling, row, nv, lp, s->sampler_scratch);
                s->target_dists[i] = (dstrat_dist_t) {sizeof(dstrat_dist_t), nv, NULL, lp};
            }
        }
        dstrat_verify_t v = {
            .struct_size = sizeof v,
            .n_nodes = nn,
            .target = greedy ? NULL : s->target_dists,
            .argmax = s->argmax,
            .greedy = (uint32_t) greedy,
            .rng_seed = s->p.seed,
            .root_pos = s->n_committed - 1,
        };
        const dstrat_verify_t *vp = &v;
        s->acc.struct_size = sizeof s->acc;
        s->acc.capacity = s->limits.max_tree_depth + 1;
        s->acc.n_path = 0;
        s->acc.next_token = -1;
        dstrat_accept_t *ap = &s->acc;
        const dstrat_tree_t *ctp = &s->tree;
        uint64_t ta0 = now_ns();
        st = s->strat->accept(s->strat, 1, &s->ss, &ctp, &vp, &ap);
        uint64_t t_accept = now_ns() - ta0;
        if (st < 0) {
            s->target.commit(s->target.ctx, NULL, 0);
            return fail(s, st, "strategy accept: %s", strat_err(s));
        }
        if ((rc = check_accept(s)) != 0) {
            s->target.commit(s->target.ctx, NULL, 0);
            return rc;
        }

        /* ---- commit */
        if (s->target.commit(s->target.ctx, s->acc.path, s->acc.n_path) != 0)
            return fail(s, DSTRAT_E_HOST, "target commit: %s", s->target.error ? s->target.error(s->target.ctx) : "failed");
        if (s->has_draft && s->draft.target_committed &&
            s->draft.target_committed(s->draft.ctx, s->acc.path, s->acc.n_path) != 0)
            return fail(s, DSTRAT_E_HOST, "draft: %s", s->draft.error ? s->draft.error(s->draft.ctx) : "failed");
        const uint32_t n_new = s->acc.n_path; /* path drafts + next_token */
        for (uint32_t j = 0; j < n_new && !done; j++) {
            const int32_t tok = j + 1 < n_new ? s->tree.token[s->acc.path[j + 1]] : s->acc.next_token;
            if (run->logits_dump) run->logits_dump(run->user, s->logits + (size_t) s->acc.path[j] * nv, nv);
            if (push_committed(s, tok) != 0) return DSTRAT_E_NOMEM;
            if (run->out) run->out[n_gen] = tok;
            n_gen++;
            if (run->on_token && run->on_token(run->user, tok)) done = 1;
            if (run->is_eog && run->is_eog(run->user, tok)) done = 1;
            if (n_gen >= run->max_new) done = 1;
        }

        /* ---- feedback */
        s->stats.n_cycles++;
        s->stats.n_verified += nn;
        s->stats.t_draft_ns += s->cycle_draft_ns;
        s->stats.t_verify_ns += t_verify;
        s->stats.t_strategy_ns += (t_propose - s->cycle_draft_ns) + t_accept;
        if (s->strat->observe && !done) {
            dstrat_cycle_stats_t cs = {
                .struct_size = sizeof cs,
                .n_draft_calls = s->cycle_draft_calls,
                .t_draft_ns = s->cycle_draft_ns,
                .n_draft_evaluated = s->cycle_draft_evaluated,
                .n_verified = nn,
                .t_verify_ns = t_verify,
                .t_propose_ns = t_propose,
                .t_accept_ns = t_accept,
                .n_accepted = n_new,
                .n_context = s->n_committed,
            };
            uint64_t to0 = now_ns();
            st = s->strat->observe(s->strat, s->ss, &cs);
            s->stats.t_strategy_ns += now_ns() - to0;
            if (st < 0) return fail(s, st, "strategy observe: %s", strat_err(s));
        }
    }
    s->stats.t_decode_ns = now_ns() - t_dec0;
    s->stats.n_generated = n_gen;
    return (int64_t) n_gen;
}
