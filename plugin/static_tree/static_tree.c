/* static_tree.c - the "static_tree" strategy: EAGLE-2's dynamic draft tree with a fixed depth
 * and a fixed verified size.
 *
 * propose: draft call 1 on the root (top_k children), then depth-1 expansion calls, each
 * forwarding the top_k best nodes of the newest level (by cumulative draft log-prob) in one
 * draft_forward call; then the global top-(total_tokens - 1) rerank of all candidates
 * (plugin/common/expand.h). So `depth` is both the number of draft calls and the deepest tree
 * level, and `total_tokens` counts the verified tokens INCLUDING the root (EAGLE's convention:
 * total_tokens 60 = root + 59 drafts). Both are capped by the session's max_tree_depth and
 * max_tree_nodes.
 *
 * accept: the shared reference walks (walk.h): lossless, and seed-identical to `ar`.
 */
#include <stdlib.h>

#include "expand.h"
#include "plugin_base.h"

typedef struct st_cfg {
    uint32_t depth, top_k, total_tokens;
} st_cfg_t;

static int st_create(dsb_instance_t *in) {
    st_cfg_t *c = calloc(1, sizeof *c);
    if (!c) return dsb_fail(in, DSTRAT_E_NOMEM, "out of memory");
    c->depth = (uint32_t) dsb_param_int(in, "depth");
    c->top_k = (uint32_t) dsb_param_int(in, "top_k");
    c->total_tokens = (uint32_t) dsb_param_int(in, "total_tokens");
    in->priv = c;
    return DSTRAT_OK;
}

static void st_destroy(dsb_instance_t *in) {
    free(in->priv);
}

static int st_session_init(dsb_instance_t *in, dsb_session_t *ss) {
    const st_cfg_t *c = in->priv;
    dsx_t *x = calloc(1, sizeof *x);
    if (!x) return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory");
    const uint32_t n_rank = c->total_tokens > 1 ? c->total_tokens - 1 : 1;
    if (dsx_init(x, c->top_k, c->top_k, c->depth, n_rank) != 0) {
        free(x);
        return dsb_fail(in, DSTRAT_E_NOMEM, "session: out of memory for the expansion buffers");
    }
    ss->priv = x;
    return DSTRAT_OK;
}

static void st_session_fini(dsb_instance_t *in, dsb_session_t *ss) {
    (void) in;
    dsx_free(ss->priv);
    free(ss->priv);
    ss->priv = NULL;
}

static int st_propose(dsb_instance_t *in, dsb_session_t *ss, dst_tree_build_t *b) {
    const st_cfg_t *c = in->priv;
    dsx_t *x = ss->priv;
    uint32_t n = c->total_tokens - 1;
    if (n > b->max_nodes - 1) n = b->max_nodes - 1;
    if (n == 0 || b->max_depth == 0) return DSTRAT_EMPTY;
    int rc = dsx_begin(x, in, ss, b->tree->token[0], c->top_k, c->top_k, c->depth, n);
    if (rc < 0) return rc;
    while (dsx_can_expand(x))
        if ((rc = dsx_expand(x, in, ss)) < 0) return rc;
    rc = dsx_build(x, n, b);
    if (rc < 0) return dsb_fail(in, rc, "static_tree: building the tree failed (%d)", rc);
    return b->tree->n_nodes > 1 ? DSTRAT_OK : DSTRAT_EMPTY;
}

static const dstrat_param_desc_t st_params[] = {
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "depth", "5", 1, 16, NULL,
     "draft calls per cycle = deepest tree level (capped by the session's max_tree_depth)"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "top_k", "8", 1, 16, NULL,
     "children per expanded node and beams kept per level (capped by the host's max_draft_top_k)"},
    {sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "total_tokens", "32", 1, 256, NULL,
     "verified tokens per cycle INCLUDING the root (drafts = total_tokens - 1; capped by max_tree_nodes)"},
};

static const dstrat_strategy_desc_t st_desc = {
    .struct_size = sizeof(dstrat_strategy_desc_t),
    .abi_version = DSTRAT_VERSION_INIT,
    .id = "static_tree",
    .name = "EAGLE-2 dynamic draft tree, fixed depth and size",
    .version = "1.0.0",
    .description = "Beam-expands the draft tree for `depth` levels (top_k beams x top_k children per level) and "
                   "verifies the global top total_tokens-1 nodes by cumulative draft probability.",
    .required_caps = DSTRAT_CAP_DRAFT,
    .optional_caps = DSTRAT_CAP_DRAFT_TREE | DSTRAT_CAP_VERIFY_TREE | DSTRAT_CAP_TIMING,
    .n_params = sizeof st_params / sizeof st_params[0],
    .params = st_params,
};

static const dsb_impl_t st_impl = {
    .desc = &st_desc,
    .create = st_create,
    .destroy = st_destroy,
    .session_init = st_session_init,
    .session_fini = st_session_fini,
    .propose = st_propose,
};

DSB_PLUGIN(&st_impl)
