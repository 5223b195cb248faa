/* conf_util.h - the conformance suite's shared pieces: the list of shipped strategies, plugin
 * loading by path from the build tree, one generation through reference-host/session over the
 * mock models, mock prompts, and the chi-square test.
 *
 * Adding a strategy to the suite = adding a line to conf_strategies[] in conf_util.c. */
#ifndef CONF_UTIL_H
#define CONF_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"
#include "mock_models.h"
#include "session.h"
#include "stats_ext.h"

typedef struct conf_strategy {
    const char *file;             /* relative to $DSTRAT_PATH */
    const char *id;
    int needs_draft;              /* 1: strategy_create must fail E_UNSUPPORTED without CAP_DRAFT */
    const char *const *variants;  /* NULL-terminated parameter sets "key=value key=value"
                                     ("" = defaults), each must give AR's output */
} conf_strategy_t;

extern const conf_strategy_t conf_strategies[];
extern const uint32_t conf_n_strategies;

/* Opens (once per process) the plugin file and calls init; NULL with a message on failure. */
const dstrat_entry_t *conf_entry(const char *file, char *err, size_t cap);
/* The dstrat_entry_v1 function of a file opened by conf_entry, NULL if not opened. */
dstrat_entry_fn conf_entry_fn(const char *file);
/* Full path of a plugin file under $DSTRAT_PATH into buf. */
const char *conf_plugin_path(const char *file, char *buf, size_t cap);

/* Parses "k=4 min_confidence=0.5" into params (pointing into store); returns the count. */
uint32_t conf_parse_params(const char *text, char *store, size_t store_cap, dstrat_param_t *params,
                           uint32_t max_params);

/* One generation through session.c. */
typedef struct conf_run {
    const char *file, *id, *params; /* strategy */
    mock_cfg_t model;
    float agreement;                /* draft agreement; < 0 = no draft model */
    sampler_params_t sampling;
    uint64_t seed;
    const int32_t *prompt;
    uint32_t n_prompt;
    uint32_t max_new;
    int32_t *out;                   /* [max_new] */
    sess_stats_t stats;             /* filled */
    dstrat_plugin_stats_t pstats;   /* filled from the stats extension (n_cycles 0 if absent) */
    char err[512];
} conf_run_t;
/* Returns the number of tokens generated, or a negative code with run->err set. */
int64_t conf_generate(conf_run_t *run);

/* A varied deterministic prompt: length 1..max_len, tokens in [0, n_vocab). */
uint32_t conf_prompt(uint64_t index, uint32_t n_vocab, uint32_t max_len, int32_t *out);

/* Pearson chi-square of observed counts against expected probabilities over n cells, with
 * cells pooled (in index order of decreasing expectation) so every bucket expects >= 5.
 * Returns the p-value; *stat and *df are set. */
double conf_chisq(const uint64_t *observed, const double *prob, uint32_t n, uint64_t total,
                  double *stat, uint32_t *df);
/* Upper tail of the chi-square distribution with df degrees of freedom. */
double conf_chisq_sf(double x, uint32_t df);

#endif /* CONF_UTIL_H */
