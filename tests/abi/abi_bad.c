/* abi_bad.c - deliberately broken plugins for the loader's refusals, one per BAD_KIND:
 *   1 exports only dstrat_entry_v2 (a plugin of another ABI major)
 *   2 dstrat_entry_v1 returns an entry whose abi_version.major is 2
 *   3 no dstrat_entry_* symbol at all
 *   4 dstrat_entry_v1 returns NULL
 *   5 entry struct_size smaller than the v1.0 entry
 *   6 init fails
 *   7 a strategy_create that reports success but returns no strategy
 *   8 two strategies with the same id
 *   9 a parameter descriptor array whose struct_size is smaller than the v1.0 one
 * Everything else is a minimal valid plugin with one strategy "only" and no parameters. */
#include <string.h>

#include "dstrat.h"

#ifndef BAD_KIND
#error "BAD_KIND must be defined"
#endif

static dstrat_status_t b_init(const char *p) {
    (void) p;
    return BAD_KIND == 6 ? DSTRAT_E_IO : DSTRAT_OK;
}
static void b_deinit(void) {}
static uint32_t b_count(void) { return BAD_KIND == 8 ? 2 : 1; }
static const dstrat_param_desc_t b_params[] = {
    { BAD_KIND == 9 ? 16 : sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "n", "1", 0, 9, NULL, "n" },
};
static const dstrat_strategy_desc_t b_descr = {
    sizeof(dstrat_strategy_desc_t), DSTRAT_VERSION_INIT, "only", "only", "0", "test", 0, 0, 1, b_params,
};
static const dstrat_strategy_desc_t *b_desc(uint32_t i) { return i < b_count() ? &b_descr : NULL; }
static dstrat_status_t b_create(const char *id, const dstrat_host_t *h, const dstrat_param_t *p,
                                uint32_t n, dstrat_strategy_t **out, char *err, size_t cap) {
    (void) id, (void) h, (void) p, (void) n, (void) err, (void) cap;
    *out = NULL;
    return BAD_KIND == 7 ? DSTRAT_OK : DSTRAT_E_UNSUPPORTED;
}

static const dstrat_entry_t b_entry = {
    BAD_KIND == 5 ? 8 : sizeof(dstrat_entry_t),
    { BAD_KIND == 2 ? 2 : DSTRAT_ABI_MAJOR, 0, 0 },
    b_init, b_deinit, b_count, b_desc, b_create,
};

#if BAD_KIND == 1
DSTRAT_EXPORT const dstrat_entry_t *dstrat_entry_v2(const dstrat_version_t *v);
DSTRAT_EXPORT const dstrat_entry_t *dstrat_entry_v2(const dstrat_version_t *v) {
    (void) v;
    return &b_entry;
}
#elif BAD_KIND == 3
DSTRAT_EXPORT int not_a_plugin(void);
DSTRAT_EXPORT int not_a_plugin(void) { return b_entry.struct_size != 0; }
#else
DSTRAT_EXPORT const dstrat_entry_t *DSTRAT_CALL dstrat_entry_v1(const dstrat_version_t *v) {
    (void) v;
    return BAD_KIND == 4 ? NULL : &b_entry;
}
#endif
