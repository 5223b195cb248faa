/* feature_head.c - the head's forward pass and its sess_draft_t provider (see feature_head.h).
 *
 * KV layout: slot p (p < n_rows) holds committed row p; the tree nodes of a cycle take the slots
 * after the root row (node id i >= 1 -> slot root + i). Rows are computed in batches of at most
 * FH_BATCH; a node's input is its parent's output feature, so the nodes of one call are evaluated
 * in waves (each wave: nodes whose parent is done). */
#include "feature_head_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FH_BATCH 64u

struct fh_draft {
    const fh_head_t *h;
    llm_ctx_t *t;
    kn_pool_t *pool;
    int own_pool;             /* 0: borrowed from the target's context */
    kn_xq_t *xq;              /* activations quantised once per product group */
    uint32_t e, qd, kvd, ff, vd, nv;
    uint32_t n_ctx, cap_slots;
    float *inv_freq;          /* head_dim / 2 */
    int scatter;

    /* committed state */
    float *feat;              /* n_ctx x e: fc(target features) of position p, used by row p + 1 */
    uint32_t n_feat;
    float *kc, *vc;           /* cap_slots x kvd (K after RoPE) */
    int32_t *row_tok;         /* token of each committed row */
    uint32_t n_rows;

    /* cycle */
    const int32_t *committed;
    uint32_t n_committed, root, n_ids, pending_eval;
    int32_t node_parent[FH_MAX_NODES];
    uint32_t node_depth[FH_MAX_NODES];
    float *node_g;            /* FH_MAX_NODES x e; node 0 = the root row's output */

    /* batch scratch (FH_BATCH rows) */
    float *hid3, *xin, *emb, *cat, *q, *k, *v, *att, *o, *res, *xn, *gate, *up, *mlp, *g, *dl;
    float *qkv, *gu;          /* outputs of the stacked products (rows q|k|v, gate|up) */
    float *ex;                /* n_draft_vocab: exp terms of a log-softmax */
    uint8_t *in_vocab;        /* n_target_vocab: 1 for target ids of the draft vocabulary */
    float *scores;            /* FH_BATCH x n_head x cap_slots: attention scores, per pool task */
    int32_t *attn_extra;      /* FH_BATCH x n_head_kv x (FH_MAX_NODES + 1): key slots after the prefix */
    int32_t b_tok[FH_BATCH], b_slot[FH_BATCH];
    uint32_t b_pos[FH_BATCH], b_prefix[FH_BATCH], b_id[FH_BATCH];
    char err[256];
};

static int set_err(fh_draft_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_err(fh_draft_t *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
    return -1;
}

static void rms_norm(const float *x, const float *w, float *y, uint32_t n, float eps) {
    double ss = 0.0;
    for (uint32_t i = 0; i < n; i++) ss += (double) x[i] * x[i];
    const float s = 1.0f / sqrtf((float) (ss / n) + eps);
    for (uint32_t i = 0; i < n; i++) y[i] = x[i] * s * w[i];
}

/* rotate-half RoPE on one head vector */
static void rope(float *x, uint32_t hd, uint32_t pos, const float *inv_freq) {
    const uint32_t half = hd / 2;
    for (uint32_t i = 0; i < half; i++) {
        const float a = (float) pos * inv_freq[i], c = cosf(a), s = sinf(a);
        const float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c - x1 * s;
        x[i + half] = x0 * s + x1 * c;
    }
}

/* The pool for a batch of n rows: small batches run on the calling thread. On a shared 2-core
 * machine the first job after a pause wakes a sleeping worker, and when the scheduler is slow to
 * run it the caller waits milliseconds for the task it claimed: measured, a 1-row call with the
 * pool had a median of ~11 ms against 0.45 ms without it. Batches of FH_POOL_MIN_ROWS rows and
 * more have enough work to be worth that risk. */
#define FH_POOL_MIN_ROWS 4u
static kn_pool_t *pool_for(const fh_draft_t *d, uint32_t n) { return n >= FH_POOL_MIN_ROWS ? d->pool : NULL; }

/* y = W x through W's packed form P (the activations are quantised once into d->xq, no allocation) */
static int mm(fh_draft_t *d, const kn_matrix_t *w, const kn_packed_t *P, const float *x, uint32_t n, float *y) {
    if (kn_xq_quantize(d->xq, w->type, x, n, w->cols, pool_for(d, n)) != 0)
        return set_err(d, "draft head: cannot quantise activations for type %u", w->type);
    if (kn_matmul_packed_xq(P, d->xq, y, pool_for(d, n), KN_MODE_EXACT) != 0)
        return set_err(d, "draft head: matmul type %u unsupported", w->type);
    return 0;
}

void fh_draft_free(fh_draft_t *d) {
    if (!d) return;
    if (d->own_pool) kn_pool_free(d->pool);
    kn_xq_free(d->xq);
    float *bufs[] = {d->inv_freq, d->feat, d->kc, d->vc, d->node_g, d->hid3, d->xin, d->emb, d->cat, d->q, d->k,
                     d->v, d->att, d->o, d->res, d->xn, d->gate, d->up, d->mlp, d->g, d->dl, d->scores,
                     d->qkv, d->gu, d->ex};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(d->row_tok);
    free(d->in_vocab);
    free(d->attn_extra);
    free(d);
}

fh_draft_t *fh_draft_new(const fh_head_t *h, llm_ctx_t *t, int n_threads, char *err, size_t err_cap) {
    fh_draft_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, err_cap, "draft head: out of memory");
        return NULL;
    }
    const fh_hparams_t *p = &h->hp;
    if (!h->pk_out) {
        snprintf(err, err_cap, "draft head: the head has no compute form (an earlier re-encoding ran out of memory)");
        free(d);
        return NULL;
    }
    if (p->n_head / p->n_head_kv > FH_MAX_GROUP) {
        snprintf(err, err_cap, "draft head: %u query heads per KV head (at most %u)", p->n_head / p->n_head_kv, FH_MAX_GROUP);
        free(d);
        return NULL;
    }
    d->h = h;
    d->t = t;
    d->e = p->n_embd;
    d->qd = p->n_head * p->head_dim;
    d->kvd = p->n_head_kv * p->head_dim;
    d->ff = p->n_ff;
    d->vd = p->n_draft_vocab;
    d->nv = p->n_target_vocab;
    d->n_ctx = llm_n_ctx(t);
    d->cap_slots = d->n_ctx + FH_MAX_NODES;
    d->scatter = 1;
    if (llm_ctx_keep_hidden(t, p->fuse_layers, FH_N_FUSE) != 0) {
        snprintf(err, err_cap, "draft head: the target cannot keep hidden states: %s", llm_last_error(t));
        free(d);
        return NULL;
    }
    /* the target's pool when it has the size asked for: idle during draft calls, and its workers
     * are still spinning right after the target's forward (a second pool's sleeping workers cost
     * milliseconds to wake on a loaded machine) */
    kn_pool_t *tp = llm_ctx_pool(t);
    const int want = n_threads > 0 ? n_threads : 1;
    if (tp && kn_pool_size(tp) == want) {
        d->pool = tp;
    } else {
        d->pool = kn_pool_create(want);
        d->own_pool = 1;
    }
    d->xq = kn_xq_create();
    const size_t B = FH_BATCH, e = d->e;
    d->inv_freq = malloc(p->head_dim / 2 * sizeof(float));
    d->feat = malloc((size_t) d->n_ctx * e * sizeof(float));
    d->kc = malloc((size_t) d->cap_slots * d->kvd * sizeof(float));
    d->vc = malloc((size_t) d->cap_slots * d->kvd * sizeof(float));
    d->row_tok = malloc((size_t) d->n_ctx * sizeof(int32_t));
    d->node_g = malloc((size_t) FH_MAX_NODES * e * sizeof(float));
    d->hid3 = malloc(B * FH_N_FUSE * e * sizeof(float));
    d->xin = malloc(B * e * sizeof(float));
    d->emb = malloc(B * e * sizeof(float));
    d->cat = malloc(B * 2 * e * sizeof(float));
    d->q = malloc(B * d->qd * sizeof(float));
    d->k = malloc(B * d->kvd * sizeof(float));
    d->v = malloc(B * d->kvd * sizeof(float));
    d->att = malloc(B * d->qd * sizeof(float));
    d->o = malloc(B * e * sizeof(float));
    d->res = malloc(B * e * sizeof(float));
    d->xn = malloc(B * e * sizeof(float));
    d->gate = malloc(B * d->ff * sizeof(float));
    d->up = malloc(B * d->ff * sizeof(float));
    d->mlp = malloc(B * e * sizeof(float));
    d->g = malloc(B * e * sizeof(float));
    d->dl = malloc(B * d->vd * sizeof(float));
    d->scores = malloc(B * p->n_head * d->cap_slots * sizeof(float));
    d->attn_extra = malloc(B * p->n_head_kv * (FH_MAX_NODES + 1) * sizeof(int32_t));
    d->qkv = malloc(B * (d->qd + 2 * d->kvd) * sizeof(float));
    d->gu = malloc(B * 2 * d->ff * sizeof(float));
    d->ex = malloc((size_t) d->vd * sizeof(float));
    d->in_vocab = calloc(d->nv, 1);
    if (!d->pool || !d->xq || !d->in_vocab || !d->attn_extra || !d->qkv || !d->gu || !d->ex || !d->inv_freq ||
        !d->feat || !d->kc || !d->vc || !d->row_tok || !d->node_g || !d->hid3 || !d->xin || !d->emb || !d->cat || !d->q || !d->k || !d->v || !d->att || !d->o || !d->res || !d->xn ||
        !d->gate || !d->up || !d->mlp || !d->g || !d->dl || !d->scores) {
        fh_draft_free(d);
        snprintf(err, err_cap, "draft head: out of memory for a context of %u tokens", llm_n_ctx(t));
        return NULL;
    }
    for (uint32_t j = 0; j < d->vd; j++) d->in_vocab[h->d2t[j]] = 1;
    for (uint32_t i = 0; i < p->head_dim / 2; i++)
        d->inv_freq[i] = powf(p->rope_freq_base, -2.0f * (float) i / (float) p->head_dim);
    return d;
}

void fh_draft_set_scatter(fh_draft_t *d, int scatter) { d->scatter = scatter; }

/* ------------------------------------------------------------------------------ the layer */
/* pool task t: row t / n_head_kv, KV head t % n_head_kv and its query heads. Key slots: the
 * committed prefix, then the row's ancestors (deepest last), then the row itself. */
static void attn_task(void *ctx, int64_t t) {
    fh_draft_t *d = (fh_draft_t *) ctx;
    const fh_hparams_t *p = &d->h->hp;
    const uint32_t i = (uint32_t) (t / p->n_head_kv), g = (uint32_t) (t % p->n_head_kv), hd = p->head_dim;
    const uint32_t grp = p->n_head / p->n_head_kv;
    int32_t *extra = d->attn_extra + (size_t) t * (FH_MAX_NODES + 1);
    uint32_t n_anc = 0;
    if (d->b_id[i] != UINT32_MAX)
        for (int32_t a = d->node_parent[d->b_id[i]]; a > 0; a = d->node_parent[a]) n_anc++;
    uint32_t x = n_anc; /* ancestors deepest last: fill from the end */
    if (d->b_id[i] != UINT32_MAX)
        for (int32_t a = d->node_parent[d->b_id[i]]; a > 0; a = d->node_parent[a]) extra[--x] = (int32_t) (d->root + (uint32_t) a);
    extra[n_anc] = d->b_slot[i];
    const fh_attn_t at = {
        .q = d->q + (size_t) i * d->qd + (size_t) g * grp * hd,
        .kc = d->kc, .vc = d->vc, .stride = d->kvd, .off = (size_t) g * hd,
        .pre = d->b_prefix[i], .nk = d->b_prefix[i] + n_anc + 1, .hd = hd, .grp = grp,
        .extra = extra, .scale = 1.0f / sqrtf((float) hd),
    };
    fh_attend(&at, d->scores + (size_t) t * grp * d->cap_slots, d->att + (size_t) i * d->qd + (size_t) g * grp * hd);
}

/* Evaluates the n rows staged in b_* (token, input feature xin, position, KV slot, committed
 * prefix length, node id or -1 for committed rows): writes K/V to the slots and the output
 * feature of each row to g. Each row attends to slots [0, prefix), its ancestors (node rows) and
 * itself. */
static int eval_rows(fh_draft_t *d, uint32_t n) {
    const fh_head_t *h = d->h;
    const fh_hparams_t *p = &h->hp;
    const uint32_t e = d->e, hd = p->head_dim, kvd = d->kvd, qd = d->qd;
    const size_t erow = kn_row_bytes(h->embd.type, e);
    for (uint32_t i = 0; i < n; i++) {
        kn_dequant_row(h->embd.type, (const uint8_t *) h->embd.data + (size_t) d->b_tok[i] * erow, d->emb + (size_t) i * e, e);
        rms_norm(d->emb + (size_t) i * e, h->norm_emb, d->cat + (size_t) i * 2 * e, e, p->rms_eps);
        rms_norm(d->xin + (size_t) i * e, h->norm_feat, d->cat + (size_t) i * 2 * e + e, e, p->rms_eps);
    }
    if (h->pk_qkv) { /* one product, then split the rows q | k | v */
        const uint32_t w3 = qd + 2 * kvd;
        if (mm(d, &h->qkv, h->pk_qkv, d->cat, n, d->qkv)) return -1;
        for (uint32_t i = 0; i < n; i++) {
            const float *r = d->qkv + (size_t) i * w3;
            memcpy(d->q + (size_t) i * qd, r, qd * sizeof(float));
            memcpy(d->k + (size_t) i * kvd, r + qd, kvd * sizeof(float));
            memcpy(d->v + (size_t) i * kvd, r + qd + kvd, kvd * sizeof(float));
        }
    } else if (mm(d, &h->wq, h->pk_q, d->cat, n, d->q) || mm(d, &h->wk, h->pk_k, d->cat, n, d->k) ||
               mm(d, &h->wv, h->pk_v, d->cat, n, d->v)) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t hh = 0; hh < p->n_head; hh++) rope(d->q + (size_t) i * qd + hh * hd, hd, d->b_pos[i], d->inv_freq);
        for (uint32_t hh = 0; hh < p->n_head_kv; hh++) rope(d->k + (size_t) i * kvd + hh * hd, hd, d->b_pos[i], d->inv_freq);
        memcpy(d->kc + (size_t) d->b_slot[i] * kvd, d->k + (size_t) i * kvd, kvd * sizeof(float));
        memcpy(d->vc + (size_t) d->b_slot[i] * kvd, d->v + (size_t) i * kvd, kvd * sizeof(float));
    }
    kn_pool_run(pool_for(d, n), attn_task, d, (int64_t) n * p->n_head_kv);
    if (mm(d, &h->wo, h->pk_wo, d->att, n, d->o)) return -1;
    for (size_t i = 0; i < (size_t) n * e; i++) d->res[i] = d->xin[i] + d->o[i];
    for (uint32_t i = 0; i < n; i++) rms_norm(d->res + (size_t) i * e, h->norm_ffn, d->xn + (size_t) i * e, e, p->rms_eps);
    const uint32_t ff = d->ff;
    if (h->pk_gate_up) {
        if (mm(d, &h->gate_up, h->pk_gate_up, d->xn, n, d->gu)) return -1;
        for (uint32_t i = 0; i < n; i++)
            fh_swiglu(d->gu + (size_t) i * 2 * ff, d->gu + (size_t) i * 2 * ff + ff, d->gate + (size_t) i * ff, ff);
    } else {
        if (mm(d, &h->w_gate, h->pk_gate, d->xn, n, d->gate) || mm(d, &h->w_up, h->pk_up, d->xn, n, d->up)) return -1;
        fh_swiglu(d->gate, d->up, d->gate, n * ff);
    }
    if (mm(d, &h->w_down, h->pk_down, d->gate, n, d->mlp)) return -1;
    for (size_t i = 0; i < (size_t) n * e; i++) d->g[i] = d->res[i] + d->mlp[i];
    return 0;
}

/* Draft-vocab logits of n output features (n <= FH_BATCH) into d->dl. */
static int head_logits(fh_draft_t *d, const float *g, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) rms_norm(g + (size_t) i * d->e, d->h->norm_out, d->xn + (size_t) i * d->e, d->e, d->h->hp.rms_eps);
    return mm(d, &d->h->w_out, d->h->pk_out, d->xn, n, d->dl);
}

static void write_logits(const fh_draft_t *d, const float *dl, float *out) {
    if (!d->scatter) {
        memcpy(out, dl, d->vd * sizeof(float));
        return;
    }
    for (uint32_t v = 0; v < d->nv; v++) out[v] = FH_LOGIT_FLOOR;
    for (uint32_t j = 0; j < d->vd; j++) out[d->h->d2t[j]] = dl[j];
}

/* ------------------------------------------------------------------------------ provider */
static int fh_target_committed(void *ctx, const int32_t *rows, uint32_t n_rows) {
    fh_draft_t *d = (fh_draft_t *) ctx;
    const uint32_t n_past = llm_n_past(d->t), e = d->e;
    if (n_rows > n_past || n_past > d->n_ctx) return set_err(d, "draft head: %u committed rows but the target holds %u", n_rows, n_past);
    const uint32_t p0 = n_past - n_rows;
    for (uint32_t done = 0; done < n_rows;) {
        uint32_t m = n_rows - done < FH_BATCH ? n_rows - done : FH_BATCH;
        for (uint32_t j = 0; j < m; j++)
            for (uint32_t l = 0; l < FH_N_FUSE; l++) {
                const float *hs = llm_hidden(d->t, d->h->hp.fuse_layers[l], (uint32_t) rows[done + j]);
                if (!hs) return set_err(d, "draft head: the target did not keep the input of layer %u", d->h->hp.fuse_layers[l]);
                memcpy(d->hid3 + ((size_t) j * FH_N_FUSE + l) * e, hs, e * sizeof(float));
            }
        if (mm(d, &d->h->fc, d->h->pk_fc, d->hid3, m, d->feat + (size_t) (p0 + done) * e)) return -1;
        done += m;
    }
    d->n_feat = n_past;
    /* row p reads the feature of p - 1: rows after p0 are stale if position p0 was rewritten */
    if (d->n_rows > p0 + 1) d->n_rows = p0 + 1;
    return 0;
}

static void stage_row(fh_draft_t *d, uint32_t i, int32_t tok, uint32_t pos, uint32_t slot, uint32_t prefix, uint32_t id) {
    d->b_tok[i] = tok;
    d->b_pos[i] = pos;
    d->b_slot[i] = (int32_t) slot;
    d->b_prefix[i] = prefix;
    d->b_id[i] = id;
}

static int fh_begin(void *ctx, const int32_t *committed, uint32_t n) {
    fh_draft_t *d = (fh_draft_t *) ctx;
    const uint32_t e = d->e;
    if (n == 0 || n > d->n_ctx) return set_err(d, "draft head: %u committed tokens (context %u)", n, d->n_ctx);
    if (d->n_feat < n - 1)
        return set_err(d, "draft head: target hidden states known for %u of %u committed positions "
                          "(the host must call target_committed after every target commit)", d->n_feat, n - 1);
    d->committed = committed;
    d->n_committed = n;
    d->root = n - 1;
    d->n_ids = 0;
    /* keep the rows whose token still matches; the root row is always recomputed */
    uint32_t keep = d->n_rows < n - 1 ? d->n_rows : n - 1, same = 0;
    while (same < keep && d->row_tok[same] == committed[same]) same++;
    d->n_rows = same;
    d->pending_eval = 0;
    while (d->n_rows < n) {
        uint32_t m = n - d->n_rows < FH_BATCH ? n - d->n_rows : FH_BATCH;
        for (uint32_t i = 0; i < m; i++) {
            const uint32_t p = d->n_rows + i;
            if (p == 0) memset(d->xin, 0, e * sizeof(float));
            else memcpy(d->xin + (size_t) i * e, d->feat + (size_t) (p - 1) * e, e * sizeof(float));
            stage_row(d, i, committed[p], p, p, p, UINT32_MAX);
            d->row_tok[p] = committed[p];
        }
        if (eval_rows(d, m)) return -1;
        d->n_rows += m;
        d->pending_eval += m;
        if (d->n_rows == n) memcpy(d->node_g, d->g + (size_t) (m - 1) * e, e * sizeof(float));
    }
    return 0;
}

/* Evaluates nodes first_id.. of the cycle and the draft-vocab logits of those with want[i] != 0
 * (want NULL: all) into d->dl, row j = the j-th wanted node. */
static int eval_nodes(fh_draft_t *d, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                      const uint8_t *want, uint32_t *n_evaluated) {
    const uint32_t e = d->e;
    if (first_id != d->n_ids || first_id + n > FH_MAX_NODES || d->root + first_id + n > d->cap_slots)
        return set_err(d, "draft head: node ids out of step or more than %u nodes per cycle", FH_MAX_NODES);
    if (n > FH_BATCH) return set_err(d, "draft head: %u nodes in one call (at most %u)", n, FH_BATCH);
    uint32_t evaluated = d->pending_eval;
    d->pending_eval = 0;
    /* validate and record the nodes */
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t id = first_id + i;
        if (id == 0) {
            if (parent[i] != -1 || tokens[i] != d->committed[d->root])
                return set_err(d, "draft head: node 0 must be the root (last committed token, parent -1)");
            d->node_parent[0] = -1;
            d->node_depth[0] = 0;
            continue;
        }
        if (parent[i] < 0 || (uint32_t) parent[i] >= id || tokens[i] < 0 || (uint32_t) tokens[i] >= d->nv)
            return set_err(d, "draft head: node %u has parent %d / token %d", id, parent[i], tokens[i]);
        d->node_parent[id] = parent[i];
        d->node_depth[id] = d->node_depth[parent[i]] + 1;
    }
    /* waves: a node is ready once its parent's output feature exists */
    uint8_t done[FH_BATCH] = {0};
    uint32_t n_done = 0;
    float *g_out = d->node_g; /* node 0 already holds the root row's output */
    for (uint32_t i = 0; i < n; i++)
        if (first_id + i == 0) {
            done[i] = 1;
            n_done++;
        }
    while (n_done < n) {
        uint32_t m = 0, ids[FH_BATCH], idx[FH_BATCH];
        for (uint32_t i = 0; i < n; i++) {
            if (done[i]) continue;
            const int32_t par = parent[i];
            if ((uint32_t) par >= first_id && !done[(uint32_t) par - first_id]) continue;
            ids[m] = first_id + i;
            idx[m++] = i;
        }
        for (uint32_t j = 0; j < m; j++) {
            const uint32_t id = ids[j];
            memcpy(d->xin + (size_t) j * e, g_out + (size_t) d->node_parent[id] * e, e * sizeof(float));
            stage_row(d, j, tokens[idx[j]], d->root + d->node_depth[id], d->root + id, d->root + 1, id);
        }
        if (eval_rows(d, m)) return -1;
        for (uint32_t j = 0; j < m; j++) {
            memcpy(g_out + (size_t) ids[j] * e, d->g + (size_t) j * e, e * sizeof(float));
            done[idx[j]] = 1;
        }
        n_done += m;
        evaluated += m;
    }
    /* draft logits of the wanted nodes of the call in one matmul */
    uint32_t n_want = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!want || want[i]) memcpy(d->xin + (size_t) n_want++ * e, g_out + (size_t) (first_id + i) * e, e * sizeof(float));
    if (n_want && head_logits(d, d->xin, n_want)) return -1;
    d->n_ids += n;
    if (n_evaluated) *n_evaluated = evaluated;
    return 0;
}

static int fh_forward(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                      float *logits, uint32_t *n_evaluated) {
    fh_draft_t *d = (fh_draft_t *) ctx;
    const uint32_t out_stride = d->scatter ? d->nv : d->vd;
    if (eval_nodes(d, first_id, tokens, parent, n, NULL, n_evaluated) != 0) return -1;
    for (uint32_t i = 0; i < n; i++) write_logits(d, d->dl + (size_t) i * d->vd, logits + (size_t) i * out_stride);
    return 0;
}

/* Top-k of log_softmax over the draft vocabulary, ids mapped to the target's: the same as the
 * dense path (target tokens outside the draft vocabulary have logit FH_LOGIT_FLOOR, i.e. zero
 * probability, and come last, lowest target id first, only if k exceeds the draft vocabulary). */
static void topk_draft(fh_draft_t *d, const float *dl, uint32_t k, int32_t *ids, float *lp) {
    const uint32_t vd = d->vd;
    uint32_t m = fh_topk(dl, vd, d->h->d2t, k, ids, lp);
    const float lz = lp[0] + (float) log(fh_sum_exp(dl, vd, lp[0], d->ex)); /* lp[0]: the maximum */
    for (uint32_t j = 0; j < m; j++) lp[j] -= lz;
    for (uint32_t t = 0; m < k && t < d->nv; t++) /* k beyond the draft vocabulary: zero-probability tokens */
        if (!d->in_vocab[t]) {
            ids[m] = (int32_t) t;
            lp[m++] = FH_LOGIT_FLOOR - lz;
        }
}

static int fh_forward_topk(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent, uint32_t n,
                           const uint8_t *want, uint32_t k, int32_t *ids, float *logp, uint32_t *n_evaluated) {
    fh_draft_t *d = (fh_draft_t *) ctx;
    if (k == 0 || k > d->nv) return set_err(d, "draft head: top-k %u outside 1..%u", k, d->nv);
    if (eval_nodes(d, first_id, tokens, parent, n, want, n_evaluated) != 0) return -1;
    for (uint32_t i = 0, j = 0; i < n; i++)
        if (!want || want[i]) topk_draft(d, d->dl + (size_t) j++ * d->vd, k, ids + (size_t) i * k, logp + (size_t) i * k);
    return 0;
}

static void fh_end(void *ctx) { ((fh_draft_t *) ctx)->n_ids = 0; }
static const char *fh_error(void *ctx) { return ((fh_draft_t *) ctx)->err; }

void fh_draft_backend(fh_draft_t *d, sess_draft_t *out) {
    memset(out, 0, sizeof *out);
    out->ctx = d;
    out->begin_cycle = fh_begin;
    out->forward = fh_forward;
    out->forward_topk = fh_forward_topk;
    out->end_cycle = fh_end;
    out->error = fh_error;
    out->target_committed = fh_target_committed;
}

/* ------------------------------------------------------------------------------ one-call open */
int feature_head_backend_open(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                              const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads, sess_draft_t *out,
                              char *err, size_t err_cap) {
    return feature_head_backend_open_as(b, path, target_g, target_m, target_ctx, n_threads, GGML_TYPE_F32, out, err,
                                        err_cap);
}

int feature_head_backend_open_as(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                                 const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads, uint32_t wtype,
                                 sess_draft_t *out, char *err, size_t err_cap) {
    return feature_head_backend_open_enc(b, path, target_g, target_m, target_ctx, n_threads, wtype, GGML_TYPE_F32, out,
                                         err, err_cap);
}

int fh_type_by_name(const char *name, uint32_t *type) {
    static const struct { const char *name; uint32_t type; } types[] = {
        {"f32", GGML_TYPE_F32}, {"f16", GGML_TYPE_F16}, {"q8_0", GGML_TYPE_Q8_0}, {"q4_1", GGML_TYPE_Q4_1},
        {"q4_0", GGML_TYPE_Q4_0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(name, types[i].name)) {
            *type = types[i].type;
            return 0;
        }
    return -1;
}

int feature_head_backend_open_enc(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                                  const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads, uint32_t wtype,
                                  uint32_t lm_type, sess_draft_t *out, char *err, size_t err_cap) {
    const feature_head_opts_t o = {.wtype = wtype, .lm_type = lm_type};
    return feature_head_backend_open_opts(b, path, target_g, target_m, target_ctx, n_threads, &o, out, err, err_cap);
}

int feature_head_backend_open_opts(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                                   const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads,
                                   const feature_head_opts_t *o, sess_draft_t *out, char *err, size_t err_cap) {
    uint32_t wtype = o->wtype, lm_type = o->lm_type;
    memset(b, 0, sizeof *b);
    char msg[384];
    b->gguf = gguf_open(path, msg, sizeof msg);
    if (!b->gguf) {
        snprintf(err, err_cap, "%s: %s", path, msg);
        return -1;
    }
    b->head = fh_head_load(b->gguf, target_g, llm_model_hparams(target_m), msg, sizeof msg);
    if (!b->head) {
        snprintf(err, err_cap, "%s: %s", path, msg);
        feature_head_backend_close(b);
        return -1;
    }
    if (fh_head_truncate_vocab(b->head, o->vocab, msg, sizeof msg) != 0) {
        snprintf(err, err_cap, "%s: %s", path, msg);
        feature_head_backend_close(b);
        return -1;
    }
    /* F32 means "as stored" for the layer and "as the layer" for the LM head; the LM head is
       re-encoded only together with the layer */
    if (wtype == GGML_TYPE_F32 && lm_type != GGML_TYPE_F32) {
        snprintf(err, err_cap, "%s: the LM head can be re-encoded (as %s) only with the layer", path,
                 gguf_type_name(lm_type));
        feature_head_backend_close(b);
        return -1;
    }
    if (lm_type == GGML_TYPE_F32) lm_type = wtype;
    if (wtype != GGML_TYPE_F32 && fh_head_requantize_as(b->head, wtype, lm_type) != 0) {
        snprintf(err, err_cap, "%s: cannot re-encode the head as %s (LM head %s)", path, gguf_type_name(wtype),
                 gguf_type_name(lm_type));
        feature_head_backend_close(b);
        return -1;
    }
    b->draft = fh_draft_new(b->head, target_ctx, n_threads, msg, sizeof msg);
    if (!b->draft) {
        snprintf(err, err_cap, "%s: %s", path, msg);
        feature_head_backend_close(b);
        return -1;
    }
    fh_draft_backend(b->draft, out);
    return 0;
}

void feature_head_backend_close(feature_head_backend_t *b) {
    fh_draft_free(b->draft);
    fh_head_free(b->head);
    gguf_close(b->gguf);
    memset(b, 0, sizeof *b);
}
