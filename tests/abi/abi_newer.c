/* abi_newer.c - a test plugin built against dstrat_v1_1.h, a made-up minor 1.1 whose structs have
 * extra trailing fields. It must work with our v1.0 host: it reads and writes a 1.1 field only
 * when DSTRAT_HAS says the host's struct has it, and its own structs (entry, descriptors, the
 * parameter array, the strategy) are larger than the host's.
 *
 * Strategies: "lookahead" drafts a chain of k top-1 draft tokens; "plain" proposes the root only.
 * Both accept with the greedy walk. The "test.abi.seen/1" extension reports what it saw. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_seen.h"
#include "dstrat_v1_1.h"

#define MAX_NODES 64

static const dstrat_param_desc_t lookahead_params[] = {
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "k", "3", 1, 8, NULL, "draft chain length",
      "tokens", 1 },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "mode", "fast", 0, 0, "fast|slow",
      "a string with choices", NULL, 0 },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "threshold", "0.5", 0, 1, NULL,
      "a float in [0, 1]", NULL, 0.1 },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_BOOL, "verbose", "false", 0, 0, NULL, "a bool",
      NULL, 0 },
};

static const dstrat_strategy_desc_t descs[] = {
    { sizeof(dstrat_strategy_desc_t), DSTRAT_VERSION_INIT, "lookahead", "lookahead chain", "1.1.0",
      "a chain of k top-1 draft tokens", DSTRAT_CAP_DRAFT, 0,
      sizeof lookahead_params / sizeof lookahead_params[0], lookahead_params, "Apache-2.0", 0 },
    { sizeof(dstrat_strategy_desc_t), DSTRAT_VERSION_INIT, "plain", "plain", "1.1.0",
      "root only", 0, 0, 0, NULL, "Apache-2.0", 0 },
};

typedef struct inst {
    dstrat_strategy_t pub; /* first: the host's handle */
    const dstrat_host_t *host;
    int lookahead;
    int64_t k;
    abi_seen_t seen;
    char err[256];
} inst_t;

struct dstrat_session {
    uint32_t max_nodes, max_depth;
    int proposed;
    dstrat_token_t root; /* the last committed token */
};

static int g_init;

static void inst_destroy(dstrat_strategy_t *s) { free(s); }
static const char *inst_last_error(const dstrat_strategy_t *s) { return ((const inst_t *) s)->err; }
static const void *inst_ext(const dstrat_strategy_t *s, const char *id) {
    return id && !strcmp(id, ABI_SEEN_EXT_ID) ? &((const inst_t *) s)->seen : NULL;
}

static dstrat_status_t sess_create(dstrat_strategy_t *s, const dstrat_session_params_t *sp,
                                   dstrat_session_t **out) {
    inst_t *in = (inst_t *) s;
    if (!sp || !out || sp->struct_size < offsetof(dstrat_session_params_t, max_tree_depth) + 4)
        return DSTRAT_E_INVALID_ARG;
    dstrat_session_t *ss = calloc(1, sizeof *ss);
    if (!ss) return DSTRAT_E_NOMEM;
    ss->max_nodes = sp->max_tree_nodes < MAX_NODES ? sp->max_tree_nodes : MAX_NODES;
    ss->max_depth = sp->max_tree_depth;
    in->seen.sp_has_priority = DSTRAT_HAS(sp, dstrat_session_params_t, priority);
    *out = ss;
    return DSTRAT_OK;
}

static void sess_destroy(dstrat_strategy_t *s, dstrat_session_t *ss) {
    (void) s;
    free(ss);
}

static dstrat_status_t sess_reset(dstrat_strategy_t *s, dstrat_session_t *ss,
                                  const dstrat_token_t *tokens, uint32_t n) {
    (void) s;
    if (!ss || !tokens || n < 1) return DSTRAT_E_INVALID_ARG;
    ss->proposed = 0;
    ss->root = tokens[n - 1];
    return DSTRAT_OK;
}

static dstrat_status_t propose(dstrat_strategy_t *s, uint32_t n, dstrat_session_t *const *ss,
                               dstrat_tree_t *const *trees) {
    inst_t *in = (inst_t *) s;
    if (n != 1) return DSTRAT_E_INVALID_ARG;
    dstrat_tree_t *t = trees[0];
    int has_logp = DSTRAT_HAS(t, dstrat_tree_t, draft_logp);
    uint32_t n_nodes = 1;
    in->seen.n_propose++;
    in->seen.tree_has_n_leaves = DSTRAT_HAS(t, dstrat_tree_t, n_leaves);
    t->token[0] = ss[0]->root;
    t->parent[0] = DSTRAT_PARENT_NONE;
    if (has_logp) t->draft_logp[0] = 0.0f;
    if (in->lookahead && (in->host->caps & DSTRAT_CAP_DRAFT)) {
        int32_t tok = t->token[0], par = DSTRAT_PARENT_NONE;
        uint32_t k = (uint32_t) in->k;
        if (k > ss[0]->max_depth) k = ss[0]->max_depth;
        if (k + 1 > ss[0]->max_nodes) k = ss[0]->max_nodes - 1;
        for (uint32_t i = 0; i <= k; i++) {
            dstrat_draft_req_t rq = { sizeof rq, 1, 7, &tok, &par, NULL, 1 };
            dstrat_draft_out_t o;
            memset(&o, 0, sizeof o);
            o.struct_size = sizeof o;
            dstrat_status_t rc = in->host->draft_forward(in->host, 1, &rq, &o);
            if (rc != DSTRAT_OK) {
                snprintf(in->err, sizeof in->err, "draft_forward failed: %d", (int) rc);
                return rc;
            }
            if (i == k || o.n_out != 1) break;
            t->token[n_nodes] = o.dist[0].ids[0];
            t->parent[n_nodes] = (int32_t) n_nodes - 1;
            if (has_logp) t->draft_logp[n_nodes] = o.dist[0].logp[0];
            tok = o.dist[0].ids[0];
            par = (int32_t) n_nodes - 1;
            n_nodes++;
        }
    }
    t->n_nodes = n_nodes;
    t->flags = DSTRAT_TREE_CHAIN;
    if (DSTRAT_HAS(t, dstrat_tree_t, n_leaves)) t->n_leaves = 1;
    ss[0]->proposed = 1;
    return DSTRAT_OK;
}

static dstrat_status_t accept(dstrat_strategy_t *s, uint32_t n, dstrat_session_t *const *ss,
                              const dstrat_tree_t *const *trees, const dstrat_verify_t *const *v,
                              dstrat_accept_t *const *acc) {
    inst_t *in = (inst_t *) s;
    if (n != 1 || !ss[0]->proposed) return DSTRAT_E_STATE;
    const dstrat_tree_t *t = trees[0];
    dstrat_accept_t *a = acc[0];
    in->seen.n_accept++;
    in->seen.accept_has_n_rejected = DSTRAT_HAS(a, dstrat_accept_t, n_rejected);
    uint32_t cur = 0;
    a->path[0] = 0;
    a->n_path = 1;
    for (;;) {
        uint32_t next = 0;
        for (uint32_t i = cur + 1; i < t->n_nodes && !next; i++)
            if (t->parent[i] == (int32_t) cur && t->token[i] == v[0]->argmax[cur]) next = i;
        if (!next || a->n_path >= a->capacity) break;
        a->path[a->n_path++] = (int32_t) next;
        cur = next;
    }
    a->next_token = v[0]->argmax[cur];
    ss[0]->root = a->next_token;
    if (DSTRAT_HAS(a, dstrat_accept_t, n_rejected)) a->n_rejected = t->n_nodes - a->n_path;
    ss[0]->proposed = 0;
    return DSTRAT_OK;
}

/* ---- entry */

static dstrat_status_t e_init(const char *path) {
    (void) path;
    g_init++;
    return DSTRAT_OK;
}
static void e_deinit(void) { g_init--; }
static uint32_t e_count(void) { return 2; }
static const dstrat_strategy_desc_t *e_desc(uint32_t i) { return i < 2 ? &descs[i] : NULL; }
static const char *e_vendor(void) { return "abi tests"; }

static dstrat_status_t e_create(const char *id, const dstrat_host_t *host,
                                const dstrat_param_t *params, uint32_t n_params,
                                dstrat_strategy_t **out, char *err, size_t err_cap) {
    if (!id || !host || !out) return DSTRAT_E_INVALID_ARG;
    int la = !strcmp(id, "lookahead");
    if (!la && strcmp(id, "plain")) return DSTRAT_E_NOT_FOUND;
    int64_t k = 3;
    for (uint32_t i = 0; i < n_params; i++) {
        if (la && !strcmp(params[i].key, "k")) {
            char *end;
            k = strtol(params[i].value, &end, 10);
            if (*end || k < 1 || k > 8) {
                snprintf(err, err_cap, "parameter 'k': '%s' is not an int in [1, 8]", params[i].value);
                return DSTRAT_E_INVALID_ARG;
            }
        } else if (!la || (strcmp(params[i].key, "mode") && strcmp(params[i].key, "threshold") &&
                           strcmp(params[i].key, "verbose"))) {
            snprintf(err, err_cap, "unknown parameter '%s'", params[i].key);
            return DSTRAT_E_INVALID_ARG;
        }
    }
    inst_t *in = calloc(1, sizeof *in);
    if (!in) return DSTRAT_E_NOMEM;
    in->pub = (dstrat_strategy_t) {
        .struct_size = sizeof(dstrat_strategy_t),
        .desc = &descs[la ? 0 : 1],
        .destroy = inst_destroy,
        .last_error = inst_last_error,
        .get_extension = inst_ext,
        .session_create = sess_create,
        .session_destroy = sess_destroy,
        .session_reset = sess_reset,
        .propose = propose,
        .accept = accept,
        .observe = NULL,
        .session_fork = NULL,
    };
    in->host = host;
    in->lookahead = la;
    in->k = k;
    in->seen.k = k;
    in->seen.host_has_n_threads = DSTRAT_HAS(host, dstrat_host_t, n_threads);
    if (in->seen.host_has_n_threads && host->n_threads) in->seen.host_n_threads = host->n_threads(host);
    in->seen.limits_has_max_seq_len =
        host->limits && DSTRAT_HAS(host->limits, dstrat_host_limits_t, max_seq_len);
    *out = &in->pub;
    return DSTRAT_OK;
}

static const dstrat_entry_t entry = {
    sizeof(dstrat_entry_t), DSTRAT_VERSION_INIT, e_init, e_deinit, e_count, e_desc, e_create, e_vendor,
};

DSTRAT_EXPORT const dstrat_entry_t *DSTRAT_CALL dstrat_entry_v1(const dstrat_version_t *host_abi) {
    return host_abi && host_abi->major == 1 ? &entry : NULL;
}
