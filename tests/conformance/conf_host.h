/* conf_host.h - a second, minimal host over the mock models whose ABI structs can be laid out as
 * an older host (smaller struct_size, trailing fields absent) or a newer one (bigger struct_size,
 * extra trailing fields, bigger dstrat_dist_t array strides). The product host is
 * reference-host/session; this one exists to drive plugins call by call (out-of-order calls,
 * bad arguments) and to prove struct_size handling, which session.c cannot vary. */
#ifndef CONF_HOST_H
#define CONF_HOST_H

#include <stdint.h>

#include "dstrat.h"
#include "mock_models.h"
#include "sampler.h"

#define CONF_LAYOUT_CURRENT 0
#define CONF_LAYOUT_OLDER 1   /* 1.0 structs without their optional trailing fields */
#define CONF_LAYOUT_NEWER 2   /* 1.0 structs followed by fields from an imagined 1.9 */
#define CONF_LAYOUT_NO_DRAFT_FIELD 3 /* as OLDER, and the host struct ends before draft_forward */

typedef struct conf_host conf_host_t;

/* agreement < 0: no draft model (no CAP_DRAFT). */
conf_host_t *conf_host_new(const mock_cfg_t *m, float agreement, int layout, sampler_params_t sp,
                           uint64_t seed);
void conf_host_free(conf_host_t *h);
const dstrat_host_t *conf_host_abi(conf_host_t *h);

/* 1 once a plugin called draft_forward through a host struct too small to contain it. */
int conf_host_poison_called(void);

/* Session params, tree, verify and accept structs in this host's layout (owned by h). */
const dstrat_session_params_t *conf_host_session_params(conf_host_t *h);
dstrat_tree_t *conf_host_tree(conf_host_t *h);
dstrat_accept_t *conf_host_accept(conf_host_t *h);
/* s->propose for one session with the host's draft callbacks armed (as a host does). */
dstrat_status_t conf_host_propose(conf_host_t *h, dstrat_strategy_t *s, dstrat_session_t *ss, dstrat_tree_t *t);
/* Verifies the current tree with the mock target (after a propose); returns the verify struct. */
const dstrat_verify_t *conf_host_verify(conf_host_t *h, char *err, size_t cap);

/* Full generation with strategy s (created on conf_host_abi(h)): prefill, reset, cycles. Checks
 * every tree and path. Returns tokens generated or a negative code with err set. */
int64_t conf_host_generate(conf_host_t *h, dstrat_strategy_t *s, const int32_t *prompt, uint32_t n,
                           uint32_t max_new, int32_t *out, char *err, size_t cap);

#endif /* CONF_HOST_H */
