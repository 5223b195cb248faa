/* loader.h - find, dlopen and check strategy plugins (abi/dstrat.h), and create strategies.
 *
 * A plugin is named by a file path (anything containing '/') or by a short name: `chain` means
 * dstrat_chain.so, looked up as <dir>/dstrat_chain.so and <dir>/chain/dstrat_chain.so (the build
 * tree) in, in order: the caller's dirs (from the config), $DSTRAT_PATH (colon-separated), the
 * install dir, and <dir of the executable>/../../plugin (a build tree).
 *
 * Opening checks everything the ABI promises before the host relies on it (entry symbol, entry
 * size, major version, init, every strategy descriptor) and refuses with a message that names the
 * file and the problem. The descriptors the loader hands out are copies in this host's layout, so a
 * plugin built against a newer minor (larger structs, larger array strides) reads like any other.
 *
 * Libraries are shared: opening the same file twice returns the same handle with a reference
 * count; the plugin is deinit'ed and dlclose'd when the last user closes it. Every strategy
 * created from a library must be destroyed before the library is closed.
 *
 * Thread safety: open/close are serialized internally; the rest follows the ABI's thread classes.
 */
#ifndef LOADER_H
#define LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"

typedef struct loader_lib loader_lib_t;

/* Opens (or shares) a plugin. dirs[0..n_dirs) are searched first for a short name (may be NULL).
 * Returns NULL with a message in err (NUL-terminated, at most cap bytes) on failure. */
loader_lib_t *loader_open(const char *name_or_path, const char *const *dirs, size_t n_dirs,
                          char *err, size_t cap);

/* Drops one reference; at zero calls the plugin's deinit and dlclose. NULL is a no-op. */
void loader_close(loader_lib_t *lib);

/* The resolved path of the .so (canonical), valid until the last close. */
const char *loader_path(const loader_lib_t *lib);
/* Number of users sharing this library. */
uint32_t loader_refcount(const loader_lib_t *lib);
/* The plugin's entry (plugin-owned; only the v1.0 fields are guaranteed present). */
const dstrat_entry_t *loader_entry(const loader_lib_t *lib);

/* Strategy descriptors, in this host's layout (host-owned copies, valid until the last close).
 * desc->params is an array of n_params host-layout dstrat_param_desc_t. */
uint32_t loader_strategy_count(const loader_lib_t *lib);
const dstrat_strategy_desc_t *loader_strategy_desc(const loader_lib_t *lib, uint32_t index);

/* The descriptor with this id; NULL id = the first strategy. NULL and a message listing the ids
 * the plugin has if there is none (err may be NULL). */
const dstrat_strategy_desc_t *loader_find(const loader_lib_t *lib, const char *id, char *err,
                                          size_t cap);

/* Creates strategy `id` (NULL = first) through the plugin's strategy_create and checks the result.
 * Returns DSTRAT_OK and *out, or the plugin's (or the loader's) negative status with a message
 * naming the plugin and the strategy in err. */
dstrat_status_t loader_create(loader_lib_t *lib, const char *id, const dstrat_host_t *host,
                              const dstrat_param_t *params, uint32_t n_params,
                              dstrat_strategy_t **out, char *err, size_t cap);

/* Resolves a name to the path of an existing file without loading it. 0, or -1 with a message
 * listing the dirs searched. */
int loader_resolve(const char *name_or_path, const char *const *dirs, size_t n_dirs, char *path,
                   size_t path_cap, char *err, size_t cap);

/* ---- discovery of every plugin on the search path (for `refhost --list-strategies`) ---- */
typedef struct loader_found {
    char *name; /* "chain" for dstrat_chain.so */
    char *path; /* the file; a name found in several dirs is listed once (the first wins) */
} loader_found_t;

/* Lists dstrat_*.so files in the search dirs (and their subdirs one level down). *out is
 * malloc'ed (free with loader_list_free). Returns the number found (possibly 0) or -1 on
 * allocation failure. */
int loader_list(const char *const *dirs, size_t n_dirs, loader_found_t **out);
void loader_list_free(loader_found_t *found, int n);

#endif /* LOADER_H */
