/* expand.c - see expand.h. */
#include "expand.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* rank order: cum descending, index ascending */
static int key_before(const dsx_key_t *a, const dsx_key_t *b) {
    return a->cum > b->cum || (a->cum == b->cum && a->idx < b->idx);
}

static int key_cmp(const void *pa, const void *pb) {
    const dsx_key_t *a = pa, *b = pb;
    return key_before(a, b) ? -1 : key_before(b, a) ? 1 : 0;
}

static int u32_cmp(const void *pa, const void *pb) {
    const uint32_t a = *(const uint32_t *) pa, b = *(const uint32_t *) pb;
    return (a > b) - (a < b);
}

int dsx_init(dsx_t *x, uint32_t max_top_k, uint32_t max_beam, uint32_t max_levels, uint32_t max_rank) {
    memset(x, 0, sizeof *x);
    if (max_top_k < 1 || max_beam < 1 || max_levels < 1 || max_rank < 1 || max_top_k > 256 || max_beam > 256 ||
        max_levels > 256)
        return DSTRAT_E_INVALID_ARG;
    x->max_top_k = max_top_k;
    x->max_beam = max_beam;
    x->max_levels = max_levels;
    x->max_rank = max_rank;
    x->cap_cand = max_top_k * (1 + max_beam * (max_levels - 1));
    const size_t lvl = (size_t) max_beam * max_top_k;
    x->cand = calloc(x->cap_cand, sizeof *x->cand);
    x->frontier = calloc(max_beam, sizeof *x->frontier);
    x->rank = calloc(max_rank, sizeof *x->rank);
    x->lvl = calloc(lvl > max_top_k ? lvl : max_top_k, sizeof *x->lvl);
    x->merge = calloc(max_rank, sizeof *x->merge);
    x->req_tok = calloc(max_beam, sizeof *x->req_tok);
    x->req_par = calloc(max_beam, sizeof *x->req_par);
    x->sel = calloc(max_rank, sizeof *x->sel);
    x->node_of = calloc(x->cap_cand, sizeof *x->node_of);
    if (!x->cand || !x->frontier || !x->rank || !x->lvl || !x->merge || !x->req_tok || !x->req_par || !x->sel ||
        !x->node_of) {
        dsx_free(x);
        return DSTRAT_E_NOMEM;
    }
    return 0;
}

void dsx_free(dsx_t *x) {
    if (!x) return;
    free(x->cand);
    free(x->frontier);
    free(x->rank);
    free(x->lvl);
    free(x->merge);
    free(x->req_tok);
    free(x->req_par);
    free(x->sel);
    free(x->node_of);
    memset(x, 0, sizeof *x);
}

/* Adds the children in d of candidate `parent` (-1 = root) at `depth`; sorted keys go to lvl. */
static void add_children(dsx_t *x, const dstrat_dist_t *d, int32_t parent, uint32_t depth, uint32_t *n_lvl) {
    if (!d) return;
    const float base = parent < 0 ? 0.0f : x->cand[parent].cum;
    const uint32_t n = d->n < x->top_k ? d->n : x->top_k;
    for (uint32_t j = 0; j < n && x->n_cand < x->cap_cand; j++) {
        float lp = d->logp[j];
        const dstrat_token_t tok = d->ids ? d->ids[j] : (dstrat_token_t) j;
        if (!isfinite(lp) || tok < 0) continue;
        if (lp > 0.0f) lp = 0.0f; /* keeps cum non-increasing along a path */
        const uint32_t i = x->n_cand++;
        x->cand[i] = (dsx_cand_t) {tok, parent, lp, base + lp, -1, depth};
        x->lvl[(*n_lvl)++] = (dsx_key_t) {x->cand[i].cum, i};
    }
}

/* sorts the newest level, takes its frontier and merges it into the ranked list */
static void finish_level(dsx_t *x, uint32_t n_lvl) {
    qsort(x->lvl, n_lvl, sizeof *x->lvl, key_cmp);
    x->n_frontier = n_lvl < x->beam ? n_lvl : x->beam;
    for (uint32_t j = 0; j < x->n_frontier; j++) x->frontier[j] = x->lvl[j].idx;
    uint32_t a = 0, b = 0, m = 0;
    while (m < x->n_rank_cap && (a < x->n_rank || b < n_lvl)) {
        if (b >= n_lvl || (a < x->n_rank && key_before(&x->rank[a], &x->lvl[b])))
            x->merge[m++] = x->rank[a++];
        else
            x->merge[m++] = x->lvl[b++];
    }
    memcpy(x->rank, x->merge, m * sizeof *x->rank);
    x->n_rank = m;
}

int dsx_begin(dsx_t *x, dsb_instance_t *in, dsb_session_t *ss, dstrat_token_t root, uint32_t top_k, uint32_t beam,
              uint32_t max_depth, uint32_t n_rank) {
    if (top_k > x->max_top_k) top_k = x->max_top_k;
    if (top_k > in->limits.max_draft_top_k) top_k = in->limits.max_draft_top_k;
    if (beam > x->max_beam) beam = x->max_beam;
    if (!(ss->caps & DSTRAT_CAP_DRAFT_TREE)) beam = 1;
    if (!(ss->caps & DSTRAT_CAP_VERIFY_TREE)) beam = top_k = 1;
    if (max_depth > x->max_levels) max_depth = x->max_levels;
    if (max_depth > ss->max_tree_depth) max_depth = ss->max_tree_depth;
    x->top_k = top_k ? top_k : 1;
    x->beam = beam ? beam : 1;
    x->max_depth = max_depth;
    x->n_rank_cap = n_rank < x->max_rank ? n_rank : x->max_rank;
    x->root = root;
    x->n_cand = x->n_rank = x->n_frontier = 0;
    x->level = x->n_calls = x->level_first = 0;
    if (max_depth == 0 || x->n_rank_cap == 0) return 0;
    const int32_t none = DSTRAT_PARENT_NONE;
    dstrat_draft_out_t out;
    int rc = dsb_draft(in, ss, 1, &root, &none, NULL, x->top_k, &out, NULL);
    if (rc < 0) return rc;
    x->n_calls = 1;
    uint32_t n_lvl = 0;
    add_children(x, dsb_draft_dist(&out, 0), -1, 1, &n_lvl);
    x->level = 1;
    finish_level(x, n_lvl);
    return 0;
}

int dsx_can_expand(const dsx_t *x) {
    return x->level >= 1 && x->level < x->max_depth && x->n_frontier > 0 &&
           x->n_cand + x->n_frontier * x->top_k <= x->cap_cand;
}

int dsx_expand(dsx_t *x, dsb_instance_t *in, dsb_session_t *ss) {
    if (!dsx_can_expand(x)) return DSTRAT_E_STATE;
    const uint32_t chunk = in->limits.max_draft_nodes ? in->limits.max_draft_nodes : 1;
    const uint32_t depth = x->level + 1;
    uint32_t n_lvl = 0;
    x->level_first = x->n_cand;
    for (uint32_t s = 0; s < x->n_frontier; s += chunk) {
        const uint32_t n = x->n_frontier - s < chunk ? x->n_frontier - s : chunk;
        for (uint32_t j = 0; j < n; j++) {
            const dsx_cand_t *c = &x->cand[x->frontier[s + j]];
            x->req_tok[j] = c->token;
            x->req_par[j] = c->parent < 0 ? 0 : x->cand[c->parent].draft_id; /* root is draft id 0 */
        }
        dstrat_draft_out_t out;
        uint32_t first = 0;
        int rc = dsb_draft(in, ss, n, x->req_tok, x->req_par, NULL, x->top_k, &out, &first);
        if (rc < 0) return rc;
        x->n_calls++;
        for (uint32_t j = 0; j < n; j++) x->cand[x->frontier[s + j]].draft_id = (int32_t) (first + j);
        for (uint32_t j = 0; j < out.n_out; j++) {
            const uint32_t k = (uint32_t) out.node[j] - first;
            if (out.node[j] < (int32_t) first || k >= n) continue;
            add_children(x, dsb_draft_dist(&out, j), (int32_t) x->frontier[s + k], depth, &n_lvl);
        }
    }
    x->level = depth;
    finish_level(x, n_lvl);
    return 0;
}

uint32_t dsx_state(const dsx_t *x, uint32_t k, float *out) {
    uint32_t n = 0;
    for (uint32_t j = 0; j < k; j++) {
        float v = DSX_FEATURE_FLOOR;
        if (j < x->n_frontier) {
            v = x->cand[x->frontier[j]].cum;
            n++;
        }
        out[j] = v > DSX_FEATURE_FLOOR ? v : DSX_FEATURE_FLOOR;
    }
    return n;
}

int dsx_build(dsx_t *x, uint32_t n, dst_tree_build_t *b) {
    const uint32_t room = b->max_nodes - b->tree->n_nodes;
    if (n > room) n = room;
    if (n > x->n_rank) n = x->n_rank;
    for (uint32_t j = 0; j < n; j++) x->sel[j] = x->rank[j].idx;
    qsort(x->sel, n, sizeof *x->sel, u32_cmp); /* creation order is topological */
    for (uint32_t j = 0; j < x->n_cand; j++) x->node_of[j] = -1;
    int added = 0;
    for (uint32_t j = 0; j < n; j++) {
        const dsx_cand_t *c = &x->cand[x->sel[j]];
        const int32_t parent = c->parent < 0 ? 0 : x->node_of[c->parent];
        if (parent < 0 || (c->parent >= 0 && x->cand[c->parent].depth + 1 != c->depth)) continue; /* not reached */
        if (!dst_tree_can_add(b, parent)) continue;
        const int32_t node = dst_tree_add(b, parent, c->token, c->logp);
        if (node < 0) return node;
        x->node_of[x->sel[j]] = node;
        added++;
    }
    return added;
}
