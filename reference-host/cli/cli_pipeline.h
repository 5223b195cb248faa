/* cli_pipeline.h - the one setup path from a run config to a bound session, shared by
 * `refhost generate`, `bench` (and later collect/train), so none of them has its own copy.
 *
 *   pipeline_prepare   config + command-line overrides -> plugin, strategy parameters, draft kind;
 *                      checks everything that can be checked without a model (milliseconds)
 *   pipeline_models_*  the target model, its tokenizer and context, and draft models; opened once
 *                      and shared by any number of pipelines (the session truncates the target
 *                      at every generate, so one context serves them all, one after the other)
 *   pipeline_open      draft provider -> session -> strategy, on shared models
 *   pipeline_generate  one prompt through session_generate (the one cycle implementation)
 *   pipeline_close     everything pipeline_prepare/open made
 *
 * Functions return 0 or one of refhost's exit codes (EXIT_USAGE for a bad config or parameter,
 * EXIT_INPUT for an unreadable plugin or model, EXIT_RUNTIME otherwise) with a message in err.
 * Nothing here prints or exits. */
#ifndef CLI_PIPELINE_H
#define CLI_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "cli_common.h"
#include "config.h"
#include "loader.h"
#include "model.h"
#include "model_backends.h"
#include "ngram_draft.h"
#include "mix_draft.h"
#include "feature_head.h"
#include "session.h"

/* Command-line overrides of a config (all optional; NULL/0 = take the config's). */
typedef struct pipeline_overrides {
    const char *strategy;          /* plugin name or path; replaces the config's strategy and params */
    const char *strategy_id;
    const dstrat_param_t *params;  /* KEY=VALUE pairs, override config params of the same key */
    uint32_t n_params;
    const char *draft;             /* none | ngram | model:PATH | head:PATH | mix:PATH */
    int paths_resolved;            /* the config's PATH params were resolved by an earlier
                                      pipeline_prepare on the same config: do not resolve again */
} pipeline_overrides_t;

/* Command-line values that replace the config's (NULL = keep), as the user typed them. */
typedef struct pipeline_cli_values {
    const char *max_tokens, *temperature, *top_k, *top_p, *seed, *threads, *n_ctx;
} pipeline_cli_values_t;

/* Parses and range-checks v into cfg. 0, or EXIT_USAGE with a message naming the option. */
int pipeline_apply_cli_values(config_t *cfg, const pipeline_cli_values_t *v, char *err, size_t cap);

#define PIPELINE_MAX_DRAFT_MODELS 8

/* A draft model opened once and shared: its context holds one sequence, and the adapter state
 * (mb_draft_model_t) re-syncs on each new sequence, so pipelines can take turns on it. */
typedef struct pipeline_draft_model {
    char *path;
    cli_model_t m;
    llm_ctx_t *ctx;
    mb_draft_model_t state;
    sess_draft_t draft;
} pipeline_draft_model_t;

typedef struct pipeline_models {
    char *path;
    cli_model_t target;
    llm_ctx_t *ctx;
    llm_ctx_params_t cp;
    sess_target_t backend;
    pipeline_draft_model_t drafts[PIPELINE_MAX_DRAFT_MODELS];
    uint32_t n_drafts;
} pipeline_models_t;

/* A draft kind's params (config draft.params), checked. */
typedef struct pipeline_draft_params {
    ngram_draft_params_t ngram;          /* kinds ngram and mix: min_n, max_n, max_matches */
    float lookup_weight;                 /* kind mix */
    uint32_t head_vocab;                 /* kinds head and mix: most frequent draft tokens kept (0 = all) */
    char table[1024];                    /* kinds ngram and mix: static n-gram table path ("" = none) */
} pipeline_draft_params_t;

/* Parses the params given for a draft kind (given may be NULL). 0, or EXIT_USAGE with a message
 * "<file>:<line>: draft kind 'K': ..." naming the key (unknown key, bad value, a kind that takes
 * none). */
int pipeline_draft_params(uint32_t kind, const char *file, const char *dir, const config_params_t *given,
                          pipeline_draft_params_t *out, char *err, size_t cap);

typedef struct pipeline {
    const config_t *cfg;                 /* borrowed */
    loader_lib_t *lib;
    const dstrat_strategy_desc_t *desc;  /* owned by lib */
    dstrat_param_t *params;              /* strings borrowed from cfg and the overrides */
    uint32_t n_params;
    uint32_t draft_kind;                 /* CONFIG_DRAFT_* after overrides */
    const char *draft_path;
    pipeline_draft_params_t dparams;
    sess_params_t sp;                    /* from cfg; a caller may change it before pipeline_open */
    /* after pipeline_open */
    pipeline_models_t *models;           /* borrowed */
    ngram_table_t *table;                /* draft param table */
    ngram_draft_t *ngram;
    sess_draft_t ngram_backend;
    feature_head_backend_t head;         /* draft kinds head and mix */
    sess_draft_t head_backend;
    mix_draft_t *mix;                    /* draft kind mix: head + n-gram */
    sess_draft_t mix_backend;
    session_t *sess;
    dstrat_strategy_t *strat;
} pipeline_t;

/* Validates cfg (borrowed; must outlive the pipeline) with overrides o (may be NULL) and loads the
 * strategy plugin's descriptors. No model is touched. */
int pipeline_prepare(pipeline_t *p, const config_t *cfg, const pipeline_overrides_t *o, char *err,
                     size_t cap);

/* Context parameters a config asks for (n_ctx, batch, threads) with kernel mode KN_MODE_*. */
llm_ctx_params_t pipeline_ctx_params(const config_t *cfg, int kn_mode);

/* Opens the target GGUF (weights + tokenizer) and one context with cp. */
int pipeline_models_open(pipeline_models_t *m, const char *path, const llm_ctx_params_t *cp, char *err,
                         size_t cap);
void pipeline_models_close(pipeline_models_t *m);

/* Creates the draft provider, the session and the strategy of a prepared pipeline on m (opening
 * the draft model into m if it is not there yet). */
int pipeline_open(pipeline_t *p, pipeline_models_t *m, char *err, size_t cap);

/* session_generate with run (prompt, limits, callbacks); returns tokens generated or -1 with err. */
int64_t pipeline_generate(pipeline_t *p, const sess_run_t *run, char *err, size_t cap);

const sess_stats_t *pipeline_stats(const pipeline_t *p);

void pipeline_close(pipeline_t *p);

#endif /* CLI_PIPELINE_H */
