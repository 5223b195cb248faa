/* abi_header_c99.c - abi/dstrat.h must compile as strict C99 (-pedantic -Werror) and its keyed RNG
 * must give the documented values; the same file is compiled as C++ by abi_header_cxx.sh. */
#include "dstrat.h"

#include <stdio.h>

int main(void) {
    dstrat_version_t v = DSTRAT_VERSION_INIT;
    if (!DSTRAT_VERSION_COMPATIBLE(v)) return 1;
    /* the uniform is in [0, 1) and depends on both keys */
    double a = dstrat_keyed_u01(1, 2), b = dstrat_keyed_u01(1, 3), c = dstrat_keyed_u01(2, 2);
    if (!(a >= 0.0 && a < 1.0) || a == b || a == c) return 2;
    /* boundary structs have no tail padding (a field appended later could hide in it) */
    if (sizeof(dstrat_accept_t) != offsetof(dstrat_accept_t, reserved0) + sizeof(uint32_t)) return 3;
    if (sizeof(dstrat_draft_out_t) != offsetof(dstrat_draft_out_t, reserved0) + sizeof(uint32_t)) return 4;
    if (sizeof(dstrat_draft_req_t) != offsetof(dstrat_draft_req_t, reserved0) + sizeof(uint32_t)) return 5;
    if (sizeof(dstrat_cycle_stats_t) != offsetof(dstrat_cycle_stats_t, n_context) + sizeof(uint32_t)) return 6;
    if (sizeof(dstrat_verify_t) != offsetof(dstrat_verify_t, root_pos) + sizeof(uint64_t)) return 7;
    if (sizeof(dstrat_session_params_t) != offsetof(dstrat_session_params_t, rng_seed) + sizeof(uint64_t)) return 8;
    puts("ok");
    return 0;
}
