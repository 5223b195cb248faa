/* ar.c - the "ar" strategy: plain autoregressive decoding through the plugin ABI.
 *
 * Every tree is the root alone, so each cycle verifies one token and accepts with the shared
 * walk: next_token = argmax[0] (greedy) or dsw_sample(target[0], u(seed, root_pos + 1)). It is
 * the reference every other strategy's output is compared with, token for token. */
#include "plugin_base.h"

static int ar_propose(dsb_instance_t *in, dsb_session_t *ss, dst_tree_build_t *b) {
    (void) in;
    (void) ss;
    (void) b;
    return DSTRAT_EMPTY; /* the root alone */
}

static const dstrat_strategy_desc_t ar_desc = {
    .struct_size = sizeof(dstrat_strategy_desc_t),
    .abi_version = DSTRAT_VERSION_INIT,
    .id = "ar",
    .name = "autoregressive",
    .version = "1.0.0",
    .description = "One target token per cycle, no draft: the reference output for every other strategy.",
    .required_caps = 0,
    .optional_caps = 0,
    .n_params = 0,
    .params = NULL,
};

static const dsb_impl_t ar_impl = {
    .desc = &ar_desc,
    .propose = ar_propose,
};

DSB_PLUGIN(&ar_impl)
