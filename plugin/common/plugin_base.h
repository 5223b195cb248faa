/* plugin_base.h - what every strategy .so shares, so a strategy file only defines its
 * descriptor and its functions.
 *
 * The base owns the ABI surface: the entry (refcounted init/deinit, discovery from the table the
 * plugin defines with DSB_PLUGIN), strategy_create (id lookup, host ABI major, required caps,
 * parameters through params.h), per-instance last_error, struct_size checks on every incoming
 * struct (an older host's smaller structs work, missing fields take defaults; a NULL argument or
 * struct_size 0 gives E_INVALID_ARG) and the per-session state machine (E_STATE for propose
 * before reset, propose twice, accept without propose). It also tracks the committed sequence
 * and keeps the "dstrat.plugin.stats/1" running averages.
 *
 * A strategy provides a dsb_impl_t whose callbacks see one session at a time, full-size copies
 * of the host's structs, and a tree builder already holding the root:
 *
 *   static const dsb_impl_t my_impl = { .desc = &my_desc, .propose = my_propose };
 *   DSB_PLUGIN(&my_impl)
 */
#ifndef DSB_PLUGIN_BASE_H
#define DSB_PLUGIN_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"
#include "params.h"
#include "stats_ext.h"
#include "tree.h"

typedef struct dsb_instance dsb_instance_t;
typedef struct dsb_session dsb_session_t;

/* All callbacks except propose are optional (NULL = default). They return DSTRAT_OK or a
 * negative code after writing a message with dsb_fail. */
typedef struct dsb_impl {
    const dstrat_strategy_desc_t *desc;
    /* after parameters parsed (in->params) and limits copied: set in->priv */
    int (*create)(dsb_instance_t *in);
    void (*destroy)(dsb_instance_t *in);
    /* after the base session is set up: set ss->priv */
    int (*session_init)(dsb_instance_t *in, dsb_session_t *ss);
    void (*session_fini)(dsb_instance_t *in, dsb_session_t *ss);
    /* after ss->committed was replaced */
    int (*reset)(dsb_instance_t *in, dsb_session_t *ss);
    /* b holds the root; add nodes (dsb_draft asks the host for draft distributions).
       Return DSTRAT_OK or DSTRAT_EMPTY (root only). */
    int (*propose)(dsb_instance_t *in, dsb_session_t *ss, dst_tree_build_t *b);
    /* default: dsw_accept (the reference greedy / sampling walk) */
    int (*accept)(dsb_instance_t *in, dsb_session_t *ss, const dstrat_tree_t *t,
                  const dstrat_verify_t *v, dstrat_accept_t *a);
    /* after the base updated the stats */
    int (*observe)(dsb_instance_t *in, dsb_session_t *ss, const dstrat_cycle_stats_t *st);
    /* strategy-specific extensions; the base answers DSTRAT_PLUGIN_STATS_ID itself */
    const void *(*get_extension)(const dsb_instance_t *in, const char *id);
} dsb_impl_t;

struct dsb_instance {
    dstrat_strategy_t pub;          /* first: the host's handle points here */
    const dsb_impl_t *impl;
    const dstrat_host_t *host;      /* borrowed until destroy */
    uint64_t caps;                  /* host caps (DRAFT cleared if draft_forward is absent) */
    dstrat_host_limits_t limits;    /* full-size copy; absent fields: defaults (see .c) */
    dsp_value_t *params;            /* [desc->n_params] parsed values */
    void *priv;                     /* the strategy's */
    dstrat_plugin_stats_t stats;
    char err[512];
};

#define DSB_ST_NEW 0      /* created, not reset */
#define DSB_ST_READY 1    /* reset or accepted: may propose */
#define DSB_ST_PROPOSED 2 /* proposed: must accept (or reset) */

struct dsb_session {
    uint32_t magic;
    uint32_t state;                 /* DSB_ST_* */
    dsb_instance_t *in;
    uint32_t max_tree_nodes;        /* min(session params, host limit) */
    uint32_t max_tree_depth;
    uint64_t host_seq;
    uint64_t caps;
    uint64_t rng_seed;
    dstrat_token_t *committed;      /* [n_committed] the committed sequence as the plugin knows it */
    uint32_t n_committed, cap_committed;
    uint32_t *depth;                /* [max_tree_nodes] tree builder scratch */
    uint32_t draft_ids;             /* cycle-local draft ids used so far in this propose */
    void *priv;                     /* the strategy's */
};

/* Writes a message into in->err (returned by last_error) and returns code. */
int dsb_fail(dsb_instance_t *in, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The host's clock (host->now_ns) in ns; 0 without one. For timing a strategy's own decisions. */
uint64_t dsb_now_ns(const dsb_instance_t *in);

struct dspf_file;
/* A policy file must have been trained for the model the configuration names: when the string
 * parameter `key` ("target", "draft") is set, the file's header value of the same key must equal
 * it. 0, or DSTRAT_E_INVALID_ARG with a message naming the file, the key and both values. */
int dsb_check_trained_for(dsb_instance_t *in, const struct dspf_file *f, const char *key);

/* Parameter getters over in->params by key (see params.h). */
int64_t dsb_param_int(const dsb_instance_t *in, const char *key);
double dsb_param_float(const dsb_instance_t *in, const char *key);
int32_t dsb_param_bool(const dsb_instance_t *in, const char *key);
const char *dsb_param_str(const dsb_instance_t *in, const char *key);

/* host->draft_forward for this session: n nodes with cycle-local parents (the first node of a
 * cycle must be the root). Cycle-local ids continue from ss->draft_ids (returned in *first_id
 * if not NULL). On success out holds the host's answer (out->struct_size set here). A host
 * failure is passed up with its code and a message. E_UNSUPPORTED without CAP_DRAFT. */
int dsb_draft(dsb_instance_t *in, dsb_session_t *ss, uint32_t n, const dstrat_token_t *tokens,
              const int32_t *parents, const uint8_t *want, uint32_t top_k,
              dstrat_draft_out_t *out, uint32_t *first_id);

/* Output distribution j of a draft_forward answer (checked: NULL if malformed). */
const dstrat_dist_t *dsb_draft_dist(const dstrat_draft_out_t *out, uint32_t j);

/* For DSB_PLUGIN only. */
const dstrat_entry_t *dsb_entry(const dstrat_version_t *host_abi);
extern const dsb_impl_t *const dsb_table[];
extern const uint32_t dsb_table_len;

/* Defines the strategy table of this .so and its one exported symbol. */
#define DSB_PLUGIN(...)                                                                     \
    const dsb_impl_t *const dsb_table[] = {__VA_ARGS__};                                     \
    const uint32_t dsb_table_len = (uint32_t) (sizeof dsb_table / sizeof dsb_table[0]);      \
    DSTRAT_EXPORT const dstrat_entry_t *DSTRAT_CALL dstrat_entry_v1(const dstrat_version_t *v) { \
        return dsb_entry(v);                                                                 \
    }

#endif /* DSB_PLUGIN_BASE_H */
