/* config.h - the host's YAML configuration: which strategy plugin to load and with which
 * parameters, sampling, limits, model and draft settings.
 *
 *   strategy:
 *     plugin: chain            # name (searched, see loader.h) or path (relative = to the YAML dir)
 *     id: chain                # optional; default = the plugin's first strategy
 *     params: { k: 4 }         # scalar values, handed to the plugin as text
 *   plugin_path: [dir, ...]    # extra plugin search dirs (relative = to the YAML dir)
 *   sampling: { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 1234 }
 *   limits: { max_tokens: 256, n_ctx: 2048, max_tree_nodes: 64, max_tree_depth: 16 }
 *   model: { path: ..., threads: 2 }
 *   draft: { kind: none|ngram|model|head|mix, path: ..., params: {...} }
 *
 * Every key must be known, every value has a type and a range, and every error message starts with
 * "<file>:<line>:" and names the key. Missing keys take the defaults of config_defaults().
 * Strategy parameters are checked against the plugin's descriptors by config_check_params before
 * any strategy is created, with the same rules the plugins apply (plugin/common/params.h).
 *
 * Only config.c includes yaml.h. Nothing here prints, exits or aborts.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"

#define CONFIG_DRAFT_NONE 0
#define CONFIG_DRAFT_NGRAM 1
#define CONFIG_DRAFT_MODEL 2
#define CONFIG_DRAFT_HEAD 3
#define CONFIG_DRAFT_MIX 4  /* the feature head (path) + the n-gram draft */

/* key -> text value pairs, with the YAML line of each (1-based) for messages. The params array is
 * directly usable as the dstrat_param_t array of strategy_create. */
typedef struct config_params {
    dstrat_param_t *params; /* [n] key and value strings owned by the config */
    uint32_t *line;         /* [n] */
    uint32_t n;
    uint32_t map_line;      /* line of the `params:` key (0 if absent) */
} config_params_t;

typedef struct config {
    char *file;              /* the name used in messages (the path as given, or "<string>") */
    char *dir;               /* directory relative paths resolve against ("." for strings) */

    struct {
        char *plugin;        /* name or path (relative paths already resolved); NULL = none given */
        char *id;            /* NULL = the plugin's first strategy */
        uint32_t line;       /* line of `strategy:` (0 if absent) */
        config_params_t params;
    } strategy;

    char **plugin_path;      /* [n_plugin_path] resolved dirs */
    uint32_t n_plugin_path;

    struct {
        double temperature;  /* >= 0; 0 = greedy (default 0) */
        uint32_t top_k;      /* 0 = off (default 0) */
        double top_p;        /* (0, 1] (default 1) */
        uint64_t seed;       /* default 1234 */
    } sampling;

    struct {
        uint32_t max_tokens;     /* tokens to generate, 1..1000000 (default 256) */
        uint32_t n_ctx;          /* context (KV) size, 16..1048576 (default 2048) */
        uint32_t max_tree_nodes; /* root included, 1..4096 (default 64) */
        uint32_t max_tree_depth; /* edges from the root, 1..1024 (default 16) */
    } limits;

    struct {
        char *path;          /* GGUF file (resolved); NULL = the host's default */
        uint32_t threads;    /* 0 = one per core (default 0) */
    } model;

    struct {
        uint32_t kind;       /* CONFIG_DRAFT_* (default NONE) */
        char *path;          /* resolved; NULL if not given */
        config_params_t params;
    } draft;
} config_t;

/* A config with every default (no strategy). NULL on allocation failure. */
config_t *config_defaults(void);

/* Loads a YAML file. NULL and a message "<path>:<line>: ..." in err (at most cap bytes) on any
 * problem: unreadable or empty file, YAML syntax, unknown or duplicate key, wrong node kind, type
 * or range. */
config_t *config_load_file(const char *path, char *err, size_t cap);

/* Same from memory (text need not be NUL-terminated). name is used in messages (NULL =
 * "<string>"), base_dir resolves relative paths (NULL = "."). */
config_t *config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                             char *err, size_t cap);

void config_free(config_t *cfg);

/* Checks the strategy params against the plugin's descriptors (unknown key, bad value, missing
 * required key). 0, or DSTRAT_E_INVALID_ARG with "<file>:<line>: strategy param '<key>': ..." */
int config_check_params(const config_t *cfg, const dstrat_strategy_desc_t *desc, char *err,
                        size_t cap);

/* Rewrites the values of PATH-typed strategy params that are relative so they resolve against the
 * config's dir (the ABI says the host resolves them). Call after config_check_params. 0 or
 * DSTRAT_E_NOMEM. */
int config_resolve_param_paths(config_t *cfg, const dstrat_strategy_desc_t *desc);

/* path as written in a file in dir: absolute paths and dir "." unchanged, else dir/path.
 * malloc'd (NULL when out of memory). */
char *config_path_join(const char *dir, const char *path);

/* "none", "ngram", "model", "head", "mix" */
const char *config_draft_kind_name(uint32_t kind);

#endif /* CONFIG_H */
