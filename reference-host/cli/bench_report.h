/* bench_report.h - what one refhost bench run measured, its aggregation (per configuration,
 * prompt set and temperature, with the speedup over the in-run AR baseline), and its outputs:
 * JSON, a Markdown report, and gnuplot plots. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "bench_ext.h"
#include "bench_stats.h"

/* a row of the comparison: one of our configurations or a peer */
typedef enum { SLOT_OURS = 0, SLOT_PEER_PLAIN, SLOT_PEER_HL, SLOT_PEER_PLD } bench_slot_kind_t;

typedef struct bench_slot {
    char name[80];
    char strategy[64];   /* strategy id, or the peer's mode */
    char draft[64];      /* draft kind, or the peer's draft */
    char source[512];    /* run config path, "inline", "built-in" or the peer's description */
    char params[512];    /* k=v, ... */
    bench_slot_kind_t kind;
    int greedy_only;     /* peers run at temperature 0 only */
} bench_slot_t;

/* one generation */
typedef struct bench_rec {
    uint32_t slot, temp, prompt, rep;  /* prompt = index into the selection */
    uint32_t n_gen;
    uint32_t n_timed;                  /* tokens decode_s covers (peers: n_gen - 1, the first comes from prefill) */
    double prefill_s, decode_s;
    uint64_t cycles, draft_calls, verified;
    double draft_s, verify_s, strategy_s;
    double overhead_s;                 /* peers (low-level loop): Python wall time minus llama.cpp's own */
    bench_ext_t ext;                   /* strategy extension counters of this run (ext.has = 0: none) */
    int32_t *tokens;
} bench_rec_t;

typedef struct bench_sel {
    uint32_t set, index;               /* prompt set and prompt inside it */
    int32_t *ids;
    uint32_t n_ids;
} bench_sel_t;

typedef struct bench_row {
    uint32_t slot, temp;
    int set;                           /* -1 = all sets */
    uint32_t n_prompts, n_runs;
    uint64_t n_generated;
    double tokens_per_s;               /* total tokens / total decode time */
    int has_speedup;
    bs_interval_t speedup;             /* over AR, per-prompt ratios */
    int has_cycles;
    double tau, draft_calls_per_cycle, verified_per_cycle;
    double draft_ms, verify_ms, strategy_ms, other_ms; /* totals */
    double prefill_ms_mean;
    int has_identical;
    int identical;                     /* every run equals AR's tokens */
    double identical_fraction;
    double overhead_ms_per_token;      /* peers: < 0 when not measured */
    bench_ext_t ext;                   /* summed over the runs (ext.has = 0: none) */
    double decode_ms;                  /* total decode time (for the policy's share) */
} bench_row_t;

/* tokens/s of one configuration over another's (a reference) on the same prompts */
typedef struct bench_ratio {
    uint32_t slot, ref_slot, temp;
    uint32_t ref;                      /* index into the compare list */
    int set;                           /* -1 = all sets */
    bs_interval_t ratio;
} bench_ratio_t;

typedef struct bench_sweep_res {
    uint32_t ngram, k;
    double tokens_per_s;
    int ok;
} bench_sweep_res_t;

typedef struct bench_result {
    /* settings */
    const char *config_file, *model, *git_rev, *cpu_model, *cpu_flags, *isa;
    uint32_t max_tokens, repeats, prompts_per_set, threads, n_ctx;
    uint64_t seed;
    int quick, fast;
    const double *temps;
    uint32_t n_temps;
    /* prompt sets */
    uint32_t n_sets;
    const char *const *set_names, *const *set_paths, *const *set_sha;
    const int *set_checked;
    const uint32_t *set_n_file, *set_n_used;
    /* rows */
    const bench_slot_t *slots;
    uint32_t n_slots;
    const bench_row_t *rows;
    uint32_t n_rows;
    /* peers */
    const char *peer_status;           /* "ran", "skipped: ...", "failed: ..." or NULL (not asked) */
    const char *peer_version;
    const bench_sweep_res_t *sweep;
    uint32_t n_sweep, best_sweep;
    /* ratios to the compare list (ref_label[ref]: as written, e.g. "best:static") */
    const bench_ratio_t *ratios;
    uint32_t n_ratios, n_refs;
    const char *const *ref_label;
    /* notes */
    const char *const *warnings;
    uint32_t n_warnings;
    double wall_s;
} bench_result_t;

/* Aggregates recs into rows: per slot x temperature x (each set, all sets). AR is slot 0. rows is
 * malloc'd; returns the count or -1. */
int bench_aggregate(const bench_rec_t *recs, uint32_t n_recs, const bench_sel_t *sel, uint32_t n_sel,
                    uint32_t n_sets, uint32_t n_slots, uint32_t n_temps, const bench_slot_t *slots,
                    bench_row_t **rows);

/* Ratios of every one of our slots (and peers at T=0) over ref_slot[ref * n_temps + t] (UINT32_MAX:
 * not available) per temperature and set (and all sets): the geometric mean of per-prompt ratios
 * of tokens/s, as for the speedup over AR. ratios is malloc'd; returns the count or -1. */
int bench_ratios(const bench_rec_t *recs, uint32_t n_recs, const bench_sel_t *sel, uint32_t n_sel, uint32_t n_sets,
                 uint32_t n_slots, uint32_t n_temps, const uint32_t *ref_slot, uint32_t n_refs,
                 bench_ratio_t **ratios);
/* The slot of group members slots[members[0..n)] with the highest all-sets speedup over AR at
 * temperature t in rows; UINT32_MAX if none has one. */
uint32_t bench_best_slot(const bench_row_t *rows, uint32_t n_rows, const uint32_t *members, uint32_t n, uint32_t t);

int bench_write_json(FILE *f, const bench_result_t *r);
int bench_write_markdown(FILE *f, const bench_result_t *r, int with_plots);
/* The summary table of all sets (what refhost bench prints at the end). */
void bench_write_summary(FILE *f, const bench_result_t *r);
/* Writes the .dat files into dir and runs gnuplot on script; 0, or -1 with err (plots skipped). */
int bench_plot(const char *dir, const char *script, const bench_result_t *r, char *err, size_t cap);

#endif
