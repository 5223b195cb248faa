/* abi_seen.h - what the test plugin abi_newer.so reports through its "test.abi.seen/1" extension:
 * which of its "since 1.1" fields it found present in the structs the host handed it. Shared by the
 * plugin and the test host; plain fixed-width fields only. */
#ifndef ABI_SEEN_H
#define ABI_SEEN_H

#include <stdint.h>

#define ABI_SEEN_EXT_ID "test.abi.seen/1"

typedef struct abi_seen {
    uint32_t host_has_n_threads;      /* dstrat_host_t.n_threads */
    uint32_t host_n_threads;          /* its value, if present */
    uint32_t limits_has_max_seq_len;  /* dstrat_host_limits_t.max_seq_len */
    uint32_t sp_has_priority;         /* dstrat_session_params_t.priority */
    uint32_t tree_has_n_leaves;       /* dstrat_tree_t.n_leaves, at the last propose */
    uint32_t accept_has_n_rejected;   /* dstrat_accept_t.n_rejected, at the last accept */
    uint32_t n_propose;
    uint32_t n_accept;
    int64_t k;                        /* the parsed "k" parameter */
} abi_seen_t;

#endif /* ABI_SEEN_H */
