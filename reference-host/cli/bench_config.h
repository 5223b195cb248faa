/* bench_config.h - the YAML of `refhost bench`: which configurations to compare, on which prompts.
 *
 *   configs:                      # the AR baseline is always run in addition, named "ar"
 *     - name: chain-ngram
 *       config: chain.yaml        # a run config (config.h); relative = to this file's dir
 *     - name: chain-k8
 *       strategy: {plugin: chain, params: {k: 8}}   # or inline: strategy, draft, sampling,
 *       draft: {kind: ngram}                        # limits, plugin_path, model (as in config.h)
 *       optional: true            # skip with a warning when the plugin is not found
 *       group: static             # optional tag; compare: best:static = the group's fastest config
 *   prompts: [eagle_gsm8k.jsonl]  # JSONL files; a bare name is looked up in the shared prompts dir
 *   prompts_per_set: 8            # spread evenly over each file (0 = all; default 0)
 *   max_tokens: 256               # new tokens per prompt
 *   temperatures: [0, 1]          # every configuration runs at each
 *   repeats: 1                    # runs per prompt, configuration and temperature
 *   seed: 1234                    # sampling seed of every run (same seed -> comparable outputs)
 *   model: ../models/x.gguf       # target (default: refhost's default model)
 *   threads: 2                    # 0 = one per core
 *   peers: {llama_cpp: true, prompt_lookup_sweep: [{ngram: 2, k: 10}]}
 *   compare: [radar, best:static] # extra ratio tables: every config's tokens/s over each of these
 *
 * Every error names the file, the line and the key. Inline entries go through config_load_string on
 * the entry's own text at its own lines, so their messages point into this file. */
#ifndef BENCH_CONFIG_H
#define BENCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct bench_entry {
    char *name;
    uint32_t line;       /* of the entry in the bench YAML */
    int optional;
    char *group;         /* NULL, or a group name (compare: best:GROUP picks its fastest member) */
    char *source;        /* the run-config path, or NULL for inline */
    config_t *cfg;
} bench_entry_t;

typedef struct bench_sweep {
    uint32_t ngram, k;   /* LlamaPromptLookupDecoding(max_ngram_size, num_pred_tokens) */
} bench_sweep_t;

typedef struct bench_config {
    char *file, *dir;
    bench_entry_t *entries;
    uint32_t n_entries;
    char **prompts;           /* as written, relative ones resolved against dir when they contain '/' */
    uint32_t n_prompts;
    uint32_t prompts_per_set; /* 0 = all */
    uint32_t max_tokens;      /* default 256 */
    double *temperatures;     /* default [0] */
    uint32_t n_temperatures;
    uint32_t repeats;         /* default 1 */
    uint64_t seed;            /* default 1234 */
    char *model;              /* NULL = default */
    uint32_t threads;         /* default 0 */
    int llama_cpp;            /* peers.llama_cpp (default 0) */
    bench_sweep_t *sweep;     /* peers.prompt_lookup_sweep (default [{2, 10}]) */
    uint32_t n_sweep;
    char **compare;           /* references for ratio tables: a config name, "ar", or "best:GROUP" */
    uint32_t n_compare;
} bench_config_t;

bench_config_t *bench_config_load_file(const char *path, char *err, size_t cap);
/* name is used in messages, base_dir resolves relative paths. */
bench_config_t *bench_config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                                         char *err, size_t cap);
/* The built-in list used without --config: chain with the n-gram draft, 0 and 1 temperature. */
bench_config_t *bench_config_default(char *err, size_t cap);
void bench_config_free(bench_config_t *b);

#endif
