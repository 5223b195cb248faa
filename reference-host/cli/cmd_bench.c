/* cmd_bench.c - refhost bench: configurations side by side with the AR baseline (and llama.cpp as
 * a peer) on prompt sets, in one process on one loaded model.
 *
 * Everything that can fail without the model (command line, bench YAML, every entry's run config,
 * plugins and strategy parameters, prompt files and their sha256) is checked first. Then the model
 * is loaded once; every configuration gets a pipeline (cli_pipeline: the same setup and session code
 * as `refhost generate`) on the shared model. After a warm-up the runs are interleaved prompt by
 * prompt, the order rotating with each prompt, so drifts hit every configuration alike. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_config.h"
#include "bench_ext.h"
#include "bench_peer.h"
#include "bench_prompts.h"
#include "bench_report.h"
#include "cli_commands.h"
#include "cli_common.h"
#include "cli_pipeline.h"
#include "kernels.h"

#define MAX_SETS 64
#define MAX_WARN 64

static void usage(FILE *f) {
    fputs("usage: refhost bench [options]\n"
          "  --config FILE         bench YAML: configs, prompts, max_tokens, temperatures, repeats, peers\n"
          "                        (see config/bench.yaml; default: chain with the n-gram draft)\n"
          "  --prompts FILE        a JSONL prompt set (repeatable; replaces the config's; a bare name is looked\n"
          "                        up in the shared prompts dir; default: every *.jsonl there)\n"
          "  --prompts-per-set N   prompts per set, spread over the file (0 = all)\n"
          "  --max-tokens N        new tokens per prompt (default 256)\n"
          "  --temperatures LIST   comma-separated, e.g. 0,1\n"
          "  --repeats N           runs per prompt, configuration and temperature\n"
          "  --quick               a small run to check a change: 2 prompts per set, 64 tokens, 1 repeat,\n"
          "                        a prompt-lookup sweep of 2 settings on 1 prompt\n"
          "  --model PATH          target GGUF (default: the config's, else refhost's default)\n"
          "  --threads N           CPU threads (default: the config's, else one per core)\n"
          "  --fast                batch-dependent kernels (not bit-identical to AR)\n"
          "  --no-peers            skip llama.cpp even if the config asks for it\n"
          "  --json FILE           write the results as JSON ('-' = stdout)\n"
          "  --report DIR          write report.md, bench.json and PNG plots (gnuplot) into DIR\n"
          "  --no-progress         no progress bar\n"
          "exit codes: 0 ok, 2 bad command line or config, 3 unreadable/invalid input file, 4 run failed\n",
          f);
}

/* ------------------------------------------------------------------ small helpers */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* The source tree: $DSTRAT_SOURCE_ROOT, else the first ancestor of the executable holding
 * scripts/bench_report.gp. Static string; NULL when not found. */
static const char *source_root(void) {
    static char root[4096];
    const char *env = getenv("DSTRAT_SOURCE_ROOT");
    if (env && env[0]) return env;
    char exe[4096], probe[4200];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return NULL;
    exe[k] = '\0';
    for (int up = 0; up < 6; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) break;
        *slash = '\0';
        snprintf(probe, sizeof probe, "%s/scripts/bench_report.gp", exe);
        if (access(probe, R_OK) == 0) {
            snprintf(root, sizeof root, "%s", exe);
            return root;
        }
    }
    return NULL;
}

static void read_cpu(char *model, size_t mcap, char *flags, size_t fcap) {
    snprintf(model, mcap, "unknown");
    snprintf(flags, fcap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[8192];
    int got_m = 0, got_f = 0;
    while (fgets(line, sizeof line, f) && !(got_m && got_f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ') v++;
        v[strcspn(v, "\n")] = '\0';
        if (!got_m && !strncmp(line, "model name", 10)) {
            snprintf(model, mcap, "%s", v);
            got_m = 1;
        } else if (!got_f && !strncmp(line, "flags", 5)) {
            snprintf(flags, fcap, "%s", v);
            got_f = 1;
        }
    }
    fclose(f);
}

static void git_revision(const char *root, char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    if (!root) return;
    char cmd[4400];
    snprintf(cmd, sizeof cmd,
             "cd '%s' 2>/dev/null && r=$(git rev-parse --short=12 HEAD 2>/dev/null) && "
             "{ git diff --quiet HEAD 2>/dev/null && echo $r || echo $r-dirty; }",
             root);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char buf[128];
    if (fgets(buf, sizeof buf, p)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (buf[0]) snprintf(out, cap, "%.60s", buf);
    }
    pclose(p);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *) a, *(char *const *) b); }

/* Every *.jsonl in dir, sorted. Returns the count (<= cap) or -1. */
static int list_jsonl(const char *dir, char **out, int cap) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t l = strlen(e->d_name);
        if (l > 6 && !strcmp(e->d_name + l - 6, ".jsonl")) {
            size_t pl = strlen(dir) + l + 2;
            if (!(out[n] = malloc(pl))) break;
            snprintf(out[n++], pl, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    qsort(out, (size_t) n, sizeof *out, cmp_str);
    return n;
}

/* ------------------------------------------------------------------ progress */
typedef struct progress {
    int on, tty;
    uint64_t total, done;
    double t0, last_print;
    int last_pct;
} progress_t;

static void progress_show(progress_t *p, const char *what) {
    if (!p->on) return;
    const double el = now_s() - p->t0;
    const double frac = p->total ? (double) p->done / (double) p->total : 1;
    const double eta = p->done ? el / (double) p->done * (double) (p->total - p->done) : 0;
    const int pct = (int) (100 * frac);
    char bar[31];
    for (int i = 0; i < 30; i++) bar[i] = i < (int) (30 * frac) ? '#' : '.';
    bar[30] = '\0';
    if (p->tty) {
        fprintf(stderr, "\r[%s] %3d%% %llu/%llu  %4.0fs elapsed  ETA %4.0fs  %-40.40s", bar, pct,
                (unsigned long long) p->done, (unsigned long long) p->total, el, eta, what);
        if (p->done == p->total) fputc('\n', stderr);
    } else if (pct / 10 != p->last_pct / 10 || p->done == p->total || now_s() - p->last_print > 60) {
        fprintf(stderr, "[bench] [%s] %3d%% %llu/%llu, %.0fs elapsed, ETA %.0fs (%s)\n", bar, pct,
                (unsigned long long) p->done, (unsigned long long) p->total, el, eta, what);
        p->last_print = now_s();
    }
    p->last_pct = pct;
    fflush(stderr);
}

/* ------------------------------------------------------------------ the run */
typedef struct bench_state {
    bench_config_t *b;
    /* slots: 0 = AR baseline, then the configurations, then the peers */
    bench_slot_t *slots;
    uint32_t n_slots, n_ours;
    config_t **cfgs;          /* [n_ours] (cfgs[0] = the baseline's) */
    uint32_t *entry_slot;     /* [n_entries] slot of each bench entry, UINT32_MAX if skipped */
    pipeline_t *pl;           /* [n_ours * n_temps] */
    pipeline_models_t models;
    /* prompts */
    bench_prompt_set_t sets[MAX_SETS];
    uint32_t n_sets;
    bench_sel_t *sel;
    uint32_t n_sel;
    /* peer */
    bench_peer_t peer;
    int peer_on;
    char peer_status[512];
    bench_sweep_res_t *sweep;
    uint32_t best_sweep;
    /* results */
    bench_rec_t *recs;
    uint32_t n_recs, cap_recs;
    char *warn[MAX_WARN];
    uint32_t n_warn;
    int32_t *out;
    progress_t prog;
} bench_state_t;

static void warn(bench_state_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(bench_state_t *s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->prog.tty && s->prog.done) fputc('\n', stderr);
    fprintf(stderr, "refhost bench: warning: %s\n", msg);
    if (s->n_warn < MAX_WARN) s->warn[s->n_warn++] = strdup(msg);
}

static int is_eog(void *user, int32_t token) { return tok_is_eog((const tokenizer_t *) user, token); }

static bench_rec_t *new_rec(bench_state_t *s) {
    if (s->n_recs == s->cap_recs) {
        uint32_t cap = s->cap_recs ? s->cap_recs * 2 : 256;
        bench_rec_t *r = realloc(s->recs, cap * sizeof *r);
        if (!r) return NULL;
        s->recs = r;
        s->cap_recs = cap;
    }
    bench_rec_t *r = &s->recs[s->n_recs];
    memset(r, 0, sizeof *r);
    return r;
}

/* One of our generations; rec NULL = warm-up. */
static int run_ours(bench_state_t *s, uint32_t slot, uint32_t t, const bench_sel_t *p, uint32_t max_new,
                    bench_rec_t *rec, char *err, size_t cap) {
    pipeline_t *pl = &s->pl[slot * s->b->n_temperatures + t];
    sess_run_t run = {.prompt = p->ids, .n_prompt = p->n_ids, .max_new = max_new, .is_eog = is_eog,
                      .user = s->models.target.tok, .out = s->out};
    bench_ext_t before, after;
    bench_ext_read(pl->strat, &before);
    int64_t n = pipeline_generate(pl, &run, err, cap);
    if (n < 0) return -1;
    if (!rec) return 0;
    bench_ext_read(pl->strat, &after);
    if (after.has) bench_ext_diff(&before, &after, &rec->ext);
    const sess_stats_t *st = pipeline_stats(pl);
    rec->n_gen = rec->n_timed = (uint32_t) n;
    rec->prefill_s = (double) st->t_prefill_ns / 1e9;
    rec->decode_s = (double) st->t_decode_ns / 1e9;
    rec->cycles = st->n_cycles;
    rec->draft_calls = st->n_draft_calls;
    rec->verified = st->n_verified;
    rec->draft_s = (double) st->t_draft_ns / 1e9;
    rec->verify_s = (double) st->t_verify_ns / 1e9;
    rec->strategy_s = (double) st->t_strategy_ns / 1e9;
    if (!(rec->tokens = malloc(((size_t) n + 1) * sizeof *rec->tokens))) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    memcpy(rec->tokens, s->out, (size_t) n * sizeof *rec->tokens);
    return 0;
}

static int run_peer(bench_state_t *s, bench_slot_kind_t kind, const bench_sel_t *p, uint32_t max_new, uint32_t ngram,
                    uint32_t k, bench_rec_t *rec, char *err, size_t cap) {
    bench_peer_result_t pr;
    if (bench_peer_run(&s->peer, kind == SLOT_PEER_PLAIN ? PEER_PLAIN : PEER_HL, p->ids, p->n_ids, max_new,
                       kind == SLOT_PEER_PLD ? ngram : 0, k, &pr, err, cap) != 0)
        return -1;
    if (rec) {
        rec->n_gen = pr.n_tokens;
        rec->n_timed = pr.n_decode_calls;
        rec->prefill_s = pr.prefill_s;
        rec->decode_s = pr.decode_s;
        if (kind == SLOT_PEER_PLAIN && pr.perf_eval_ms >= 0) rec->overhead_s = pr.decode_s - pr.perf_eval_ms / 1e3;
        rec->tokens = pr.tokens;
    } else {
        free(pr.tokens);
    }
    return 0;
}

/* The compare list's slots per temperature ("ar", a configuration's name, or best:GROUP = the
 * group member with the best all-sets speedup at that temperature), then the ratios. */
static int resolve_ratios(bench_state_t *s, const bench_row_t *rows, uint32_t n_rows, bench_ratio_t **out) {
    const bench_config_t *b = s->b;
    const uint32_t n_temps = b->n_temperatures;
    *out = NULL;
    if (!b->n_compare) return 0;
    uint32_t *ref = malloc((size_t) b->n_compare * n_temps * sizeof *ref), *members = malloc((b->n_entries + 1) * sizeof *members);
    if (!ref || !members) {
        free(ref);
        free(members);
        return -1;
    }
    for (uint32_t k = 0; k < b->n_compare; k++) {
        const char *c = b->compare[k];
        const int best = !strncmp(c, "best:", 5);
        uint32_t n = 0, fixed = strcmp(c, "ar") ? UINT32_MAX : 0;
        for (uint32_t i = 0; i < b->n_entries; i++) {
            if (s->entry_slot[i] == UINT32_MAX) continue;
            if (best && b->entries[i].group && !strcmp(b->entries[i].group, c + 5)) members[n++] = s->entry_slot[i];
            if (!best && !strcmp(b->entries[i].name, c)) fixed = s->entry_slot[i];
        }
        for (uint32_t t = 0; t < n_temps; t++)
            ref[k * n_temps + t] = best ? bench_best_slot(rows, n_rows, members, n, t) : fixed;
        if ((best && !n) || (!best && fixed == UINT32_MAX))
            warn(s, "compare '%s': no configuration of it ran (skipped optional entries?); no ratios to it", c);
    }
    int r = bench_ratios(s->recs, s->n_recs, s->sel, s->n_sel, s->n_sets, s->n_slots, n_temps, ref, b->n_compare, out);
    free(ref);
    free(members);
    return r;
}

static const char *slot_label(const bench_state_t *s, uint32_t slot) { return s->slots[slot].name; }

static void describe_params(const pipeline_t *pl, char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < pl->n_params && n < cap; i++)
        n += (size_t) snprintf(out + n, cap - n, "%s%s=%s", i ? ", " : "", pl->params[i].key, pl->params[i].value);
}

int cmd_bench(int argc, char **argv) {
    enum { O_CONFIG = 1000, O_PROMPTS, O_PPS, O_MAX, O_TEMPS, O_REPEATS, O_QUICK, O_MODEL, O_THREADS, O_FAST,
           O_NOPEERS, O_JSON, O_REPORT, O_NOPROGRESS, O_HELP };
    static const struct option opts[] = {
        {"config", required_argument, 0, O_CONFIG}, {"prompts", required_argument, 0, O_PROMPTS},
        {"prompts-per-set", required_argument, 0, O_PPS}, {"max-tokens", required_argument, 0, O_MAX},
        {"temperatures", required_argument, 0, O_TEMPS}, {"repeats", required_argument, 0, O_REPEATS},
        {"quick", no_argument, 0, O_QUICK}, {"model", required_argument, 0, O_MODEL},
        {"threads", required_argument, 0, O_THREADS}, {"fast", no_argument, 0, O_FAST},
        {"no-peers", no_argument, 0, O_NOPEERS}, {"json", required_argument, 0, O_JSON},
        {"report", required_argument, 0, O_REPORT}, {"no-progress", no_argument, 0, O_NOPROGRESS},
        {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
    };
    const char *config_path = NULL, *o_pps = NULL, *o_max = NULL, *o_temps = NULL, *o_rep = NULL, *model_path = NULL,
               *o_threads = NULL, *json_path = NULL, *report_dir = NULL;
    const char *cli_prompts[MAX_SETS];
    uint32_t n_cli_prompts = 0;
    int quick = 0, fast = 0, no_peers = 0, no_progress = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: config_path = optarg; break;
        case O_PROMPTS:
            if (n_cli_prompts == MAX_SETS) {
                fprintf(stderr, "refhost bench: more than %d --prompts files\n", MAX_SETS);
                return EXIT_USAGE;
            }
            cli_prompts[n_cli_prompts++] = optarg;
            break;
        case O_PPS: o_pps = optarg; break;
        case O_MAX: o_max = optarg; break;
        case O_TEMPS: o_temps = optarg; break;
        case O_REPEATS: o_rep = optarg; break;
        case O_QUICK: quick = 1; break;
        case O_MODEL: model_path = optarg; break;
        case O_THREADS: o_threads = optarg; break;
        case O_FAST: fast = 1; break;
        case O_NOPEERS: no_peers = 1; break;
        case O_JSON: json_path = optarg; break;
        case O_REPORT: report_dir = optarg; break;
        case O_NOPROGRESS: no_progress = 1; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    signal(SIGPIPE, SIG_IGN); /* a peer that dies must not take refhost with it */
    int rc = 0;
    char err[4096];
    bench_state_t S = {0}, *s = &S;
    const double t_start = now_s();
    const char *root = source_root();

#define FAIL(code, ...)                                 \
    do {                                                \
        fprintf(stderr, "refhost bench: " __VA_ARGS__); \
        fputc('\n', stderr);                            \
        rc = (code);                                    \
        goto out;                                       \
    } while (0)

    if (optind < argc) FAIL(EXIT_USAGE, "unexpected argument '%s' (see --help)", argv[optind]);

    /* ---- the bench config and command-line overrides */
    s->b = config_path ? bench_config_load_file(config_path, err, sizeof err) : bench_config_default(err, sizeof err);
    if (!s->b) FAIL(EXIT_USAGE, "%s", err);
    bench_config_t *b = s->b;
    {
        char *end;
        if (o_pps) {
            long v = strtol(o_pps, &end, 10);
            if (*end || v < 0 || v > 1000000) FAIL(EXIT_USAGE, "--prompts-per-set must be an integer >= 0");
            b->prompts_per_set = (uint32_t) v;
        }
        if (o_max) {
            long v = strtol(o_max, &end, 10);
            if (*end || v < 1 || v > 1000000) FAIL(EXIT_USAGE, "--max-tokens must be an integer in 1..1000000");
            b->max_tokens = (uint32_t) v;
        }
        if (o_rep) {
            long v = strtol(o_rep, &end, 10);
            if (*end || v < 1 || v > 1000) FAIL(EXIT_USAGE, "--repeats must be an integer in 1..1000");
            b->repeats = (uint32_t) v;
        }
        if (o_threads) {
            long v = strtol(o_threads, &end, 10);
            if (*end || v < 0 || v > 256) FAIL(EXIT_USAGE, "--threads must be an integer in 0..256");
            b->threads = (uint32_t) v;
        }
        if (o_temps) {
            double tv[16];
            uint32_t n = 0;
            const char *q = o_temps;
            while (*q) {
                if (n == 16) FAIL(EXIT_USAGE, "--temperatures takes at most 16 values");
                tv[n] = strtod(q, &end);
                if (end == q || !(tv[n] >= 0 && tv[n] <= 100) || (*end && *end != ','))
                    FAIL(EXIT_USAGE, "--temperatures wants comma-separated numbers in 0..100, got '%s'", o_temps);
                n++;
                q = *end ? end + 1 : end;
            }
            if (!n) FAIL(EXIT_USAGE, "--temperatures is empty");
            double *nt = realloc(b->temperatures, n * sizeof *nt);
            if (!nt) FAIL(EXIT_RUNTIME, "out of memory");
            memcpy(nt, tv, n * sizeof *nt);
            b->temperatures = nt;
            b->n_temperatures = n;
        }
        if (quick) {
            if (!o_pps && (b->prompts_per_set == 0 || b->prompts_per_set > 2)) b->prompts_per_set = 2;
            if (!o_max) b->max_tokens = 64;
            if (!o_rep) b->repeats = 1;
            if (b->n_sweep > 2) b->n_sweep = 2;
        }
        if (no_peers) b->llama_cpp = 0;
    }
    const uint32_t n_temps = b->n_temperatures;

    /* ---- prompt files: read, parse and sha256-check all of them before any model work */
    {
        const char *pdir = bench_default_prompts_dir(root);
        char *paths[MAX_SETS] = {0};
        int n = 0;
        if (n_cli_prompts || b->n_prompts) {
            const uint32_t m = n_cli_prompts ? n_cli_prompts : b->n_prompts;
            if (m > MAX_SETS) FAIL(EXIT_USAGE, "more than %d prompt sets", MAX_SETS);
            for (uint32_t i = 0; i < m; i++) {
                const char *p = n_cli_prompts ? cli_prompts[i] : b->prompts[i];
                char buf[4096];
                /* a bare name that is not a file here is a set of the shared prompts dir */
                if (!strchr(p, '/') && access(p, F_OK) != 0 && pdir) snprintf(buf, sizeof buf, "%s/%s", pdir, p);
                else snprintf(buf, sizeof buf, "%s", p);
                paths[n++] = strdup(buf);
            }
        } else {
            if (!pdir)
                FAIL(EXIT_INPUT, "no prompt files given and no shared prompts dir found (set DSTRAT_PROMPTS_DIR or "
                                 "pass --prompts FILE)");
            n = list_jsonl(pdir, paths, MAX_SETS);
            if (n <= 0) FAIL(EXIT_INPUT, "no *.jsonl prompt files in %s", pdir);
        }
        for (int i = 0; i < n; i++) {
            if (!paths[i]) FAIL(EXIT_RUNTIME, "out of memory");
            int r = bench_prompts_load(paths[i], &s->sets[s->n_sets], err, sizeof err);
            if (r == 0) s->n_sets++;
            for (int j = i; r != 0 && j < n; j++) free(paths[j]);
            if (r != 0) FAIL(EXIT_INPUT, "prompt file %s", err);
            free(paths[i]);
        }
    }
    /* the selection: prompts_per_set spread evenly over each file, sets interleaved round-robin */
    {
        uint32_t per[MAX_SETS], most = 0, total = 0;
        for (uint32_t g = 0; g < s->n_sets; g++) {
            per[g] = b->prompts_per_set && b->prompts_per_set < s->sets[g].n ? b->prompts_per_set : s->sets[g].n;
            total += per[g];
            if (per[g] > most) most = per[g];
        }
        if (!(s->sel = calloc(total, sizeof *s->sel))) FAIL(EXIT_RUNTIME, "out of memory");
        for (uint32_t j = 0; j < most; j++)
            for (uint32_t g = 0; g < s->n_sets; g++)
                if (j < per[g]) s->sel[s->n_sel++] = (bench_sel_t) {g, (uint32_t) ((uint64_t) j * s->sets[g].n / per[g]), NULL, 0};
    }

    /* ---- configurations: the AR baseline first, then every entry; plugins and parameters checked */
    s->n_ours = 1 + b->n_entries;
    s->slots = calloc(s->n_ours + 3, sizeof *s->slots);
    s->cfgs = calloc(s->n_ours, sizeof *s->cfgs);
    s->pl = calloc((size_t) s->n_ours * n_temps, sizeof *s->pl);
    s->entry_slot = calloc(b->n_entries + 1, sizeof *s->entry_slot);
    if (!s->slots || !s->cfgs || !s->pl || !s->entry_slot) FAIL(EXIT_RUNTIME, "out of memory");
    if (!(s->cfgs[0] = config_defaults())) FAIL(EXIT_RUNTIME, "out of memory");
    {
        uint32_t kept = 1;
        for (uint32_t i = 0; i < s->n_ours; i++) {
            bench_entry_t *e = i ? &b->entries[i - 1] : NULL;
            config_t *cfg = i ? e->cfg : s->cfgs[0];
            cfg->sampling.seed = b->seed;
            cfg->limits.max_tokens = b->max_tokens;
            const uint32_t at = i ? kept : 0;
            int skip = 0;
            for (uint32_t t = 0; t < n_temps && !skip; t++) {
                pipeline_t *pl = &s->pl[at * n_temps + t];
                const pipeline_overrides_t again = {.paths_resolved = 1};
                int r = pipeline_prepare(pl, cfg, t ? &again : NULL, err, sizeof err);
                if (r == EXIT_INPUT && e && e->optional) {
                    warn(s, "skipping optional configuration '%s' (%s:%u): %s", e->name, b->file, e->line, err);
                    pipeline_close(pl);
                    for (uint32_t u = 0; u < t; u++) pipeline_close(&s->pl[at * n_temps + u]);
                    skip = 1;
                    break;
                }
                if (r != 0) {
                    if (e) FAIL(r, "configuration '%s' (%s:%u): %s", e->name, b->file, e->line, err);
                    FAIL(r, "the AR baseline: %s", err);
                }
                pl->sp.sampling.temperature = (float) b->temperatures[t];
            }
            if (i) s->entry_slot[i - 1] = skip ? UINT32_MAX : at;
            if (skip) continue;
            s->cfgs[at] = cfg;
            bench_slot_t *sl = &s->slots[at];
            pipeline_t *pl0 = &s->pl[at * n_temps];
            snprintf(sl->name, sizeof sl->name, "%s", e ? e->name : "ar");
            snprintf(sl->strategy, sizeof sl->strategy, "%s", pl0->desc->id);
            snprintf(sl->draft, sizeof sl->draft, "%s", config_draft_kind_name(pl0->draft_kind));
            snprintf(sl->source, sizeof sl->source, "%s", !e ? "built-in AR baseline" : e->source ? e->source : "inline");
            describe_params(pl0, sl->params, sizeof sl->params);
            if (e && cfg->model.path && b->model == NULL && !model_path)
                warn(s, "configuration '%s' names a model; a bench compares strategies on one target, set 'model:' "
                        "in the bench config or --model (using the default)", e->name);
            if (i) kept++;
        }
        s->n_ours = kept;
    }
    s->n_slots = s->n_ours;

    /* ---- the peer's environment (checked now; started after our model is loaded) */
    char python[4400] = "", script[4400] = "";
    if (b->llama_cpp) {
        if (!root) {
            snprintf(s->peer_status, sizeof s->peer_status, "skipped: source tree not found (set DSTRAT_SOURCE_ROOT)");
        } else {
            snprintf(python, sizeof python, "%s/.venv-llama/bin/python", root);
            snprintf(script, sizeof script, "%s/scripts/bench_peer_llama.py", root);
            if (access(python, X_OK) != 0)
                snprintf(s->peer_status, sizeof s->peer_status,
                         "skipped: %s not found (run scripts/setup_llama_cpp.sh)", python);
            else if (access(script, R_OK) != 0)
                snprintf(s->peer_status, sizeof s->peer_status, "skipped: %s not found", script);
        }
        if (s->peer_status[0]) warn(s, "llama.cpp peer %s", s->peer_status);
    }
    if (!model_path) model_path = b->model ? b->model : cli_default_model();
    if (access(model_path, R_OK) != 0) FAIL(EXIT_INPUT, "model %s: %s", model_path, strerror(errno));
    if (report_dir && mkdir(report_dir, 0777) != 0 && errno != EEXIST)
        FAIL(EXIT_INPUT, "cannot create the report dir %s: %s", report_dir, strerror(errno));

    /* ---- the model, once; prompts tokenized with its tokenizer */
    llm_ctx_params_t cp = pipeline_ctx_params(s->cfgs[0], fast ? KN_MODE_FAST : KN_MODE_EXACT);
    for (uint32_t i = 0; i < s->n_ours; i++) {
        llm_ctx_params_t q = pipeline_ctx_params(s->cfgs[i], fast ? KN_MODE_FAST : KN_MODE_EXACT);
        if (q.n_ctx > cp.n_ctx) cp.n_ctx = q.n_ctx;
        if (q.max_batch > cp.max_batch) cp.max_batch = q.max_batch;
    }
    if (cp.n_ctx < 4096) cp.n_ctx = 4096;
    cp.n_threads = (int) b->threads;
    fprintf(stderr, "refhost bench: loading %s\n", model_path);
    if ((rc = pipeline_models_open(&s->models, model_path, &cp, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < s->n_sel; i++) {
            bench_sel_t *p = &s->sel[i];
            const bench_prompt_set_t *set = &s->sets[p->set];
            p->ids = cli_tokenize(s->models.target.tok, set->prompts[p->index].text, 1, &p->n_ids, err, sizeof err);
            if (!p->ids) FAIL(EXIT_RUNTIME, "%s#%s: %s", set->name, set->prompts[p->index].id, err);
            if ((uint64_t) p->n_ids + b->max_tokens + cp.max_batch + 8 > cp.n_ctx) {
                warn(s, "%s#%s: prompt of %u tokens does not fit the context of %u with %u new tokens; left out",
                     set->name, set->prompts[p->index].id, p->n_ids, cp.n_ctx, b->max_tokens);
                free(p->ids);
                continue;
            }
            s->sel[kept++] = *p;
        }
        s->n_sel = kept;
        if (!kept) FAIL(EXIT_INPUT, "no prompt fits the context");
    }
    for (uint32_t i = 0; i < s->n_ours * n_temps; i++)
        if ((rc = pipeline_open(&s->pl[i], &s->models, err, sizeof err)) != 0)
            FAIL(rc, "configuration '%s': %s", slot_label(s, i / n_temps), err);
    if (!(s->out = malloc((size_t) b->max_tokens * sizeof *s->out))) FAIL(EXIT_RUNTIME, "out of memory");

    /* ---- the peer */
    uint32_t t_greedy = n_temps;
    for (uint32_t t = 0; t < n_temps; t++)
        if (b->temperatures[t] == 0 && t_greedy == n_temps) t_greedy = t;
    if (b->llama_cpp && !s->peer_status[0] && t_greedy == n_temps) {
        snprintf(s->peer_status, sizeof s->peer_status, "skipped: the peers run greedy only and no temperature is 0");
        warn(s, "llama.cpp peer %s", s->peer_status);
    }
    if (b->llama_cpp && !s->peer_status[0]) {
        fprintf(stderr, "refhost bench: starting the llama.cpp peer\n");
        /* llama-cpp-python's speculative mode keeps logits for every context row: no larger than needed */
        uint32_t longest = 0;
        for (uint32_t i = 0; i < s->n_sel; i++)
            if (s->sel[i].n_ids > longest) longest = s->sel[i].n_ids;
        const uint32_t peer_ctx = (longest + b->max_tokens + 64 + 255) / 256 * 256;
        if (bench_peer_start(&s->peer, python, script, model_path, peer_ctx, b->threads, err, sizeof err) != 0) {
            snprintf(s->peer_status, sizeof s->peer_status, "failed to start: %.400s", err);
            warn(s, "llama.cpp peer %s", s->peer_status);
        } else {
            s->peer_on = 1;
            static const char *const names[3] = {"llama.cpp", "llama.cpp-hl", "llama.cpp-pld"};
            static const char *const modes[3] = {"plain (low-level loop)", "plain (Llama.generate)",
                                                 "prompt lookup (Llama.generate)"};
            for (int k = 0; k < 3; k++) {
                bench_slot_t *sl = &s->slots[s->n_slots++];
                snprintf(sl->name, sizeof sl->name, "%s", names[k]);
                snprintf(sl->strategy, sizeof sl->strategy, "%s", modes[k]);
                snprintf(sl->draft, sizeof sl->draft, "%s", k == 2 ? "prompt-lookup" : "none");
                snprintf(sl->source, sizeof sl->source, "llama-cpp-python %.60s", s->peer.version);
                sl->kind = (bench_slot_kind_t) (SLOT_PEER_PLAIN + k);
                sl->greedy_only = 1;
            }
        }
    }

    /* ---- progress: warm-up + sweep + main runs */
    const uint32_t n_sweep_prompts = s->n_sel < 2 || quick ? 1 : 2;
    s->prog.on = !no_progress;
    s->prog.tty = isatty(STDERR_FILENO);
    s->prog.total = (uint64_t) s->n_ours * n_temps + (s->peer_on ? 2 + (uint64_t) b->n_sweep * n_sweep_prompts : 0) +
                    (uint64_t) s->n_sel * b->repeats * (s->n_ours * n_temps + (s->peer_on ? 3 : 0));
    s->prog.t0 = now_s();
    s->prog.last_pct = -1;

    /* warm-up: every pipeline once on the shortest prompt (pages in weights, starts threads) */
    uint32_t shortest = 0;
    for (uint32_t i = 1; i < s->n_sel; i++)
        if (s->sel[i].n_ids < s->sel[shortest].n_ids) shortest = i;
    const uint32_t warm_tokens = b->max_tokens < 16 ? b->max_tokens : 16;
    for (uint32_t i = 0; i < s->n_ours; i++)
        for (uint32_t t = 0; t < n_temps; t++) {
            progress_show(&s->prog, "warm-up");
            if (run_ours(s, i, t, &s->sel[shortest], warm_tokens, NULL, err, sizeof err) != 0)
                FAIL(EXIT_RUNTIME, "warm-up of '%s': %s", slot_label(s, i), err);
            s->prog.done++;
        }
    if (s->peer_on) {
        for (int k = 0; k < 2 && s->peer_on; k++) {
            progress_show(&s->prog, "warm-up llama.cpp");
            if (run_peer(s, k ? SLOT_PEER_HL : SLOT_PEER_PLAIN, &s->sel[shortest], warm_tokens, 0, 0, NULL, err,
                         sizeof err) != 0) {
                snprintf(s->peer_status, sizeof s->peer_status, "failed in warm-up: %.400s", err);
                warn(s, "llama.cpp peer %s", s->peer_status);
                s->peer_on = 0;
            }
            s->prog.done++;
        }
        /* the prompt-lookup sweep, on the first prompts of the selection */
        if (s->peer_on && !(s->sweep = calloc(b->n_sweep, sizeof *s->sweep))) FAIL(EXIT_RUNTIME, "out of memory");
        double best = -1;
        for (uint32_t w = 0; s->peer_on && w < b->n_sweep; w++) {
            double tok = 0, sec = 0;
            s->sweep[w] = (bench_sweep_res_t) {b->sweep[w].ngram, b->sweep[w].k, 0, 1};
            for (uint32_t j = 0; j < n_sweep_prompts; j++) {
                char what[64];
                snprintf(what, sizeof what, "llama.cpp sweep ngram %u k %u", b->sweep[w].ngram, b->sweep[w].k);
                progress_show(&s->prog, what);
                bench_rec_t r = {0};
                if (run_peer(s, SLOT_PEER_PLD, &s->sel[j], b->max_tokens, b->sweep[w].ngram, b->sweep[w].k, &r, err,
                             sizeof err) != 0) {
                    warn(s, "llama.cpp prompt-lookup sweep ngram %u k %u: %s", b->sweep[w].ngram, b->sweep[w].k, err);
                    s->sweep[w].ok = 0;
                } else {
                    tok += r.n_timed;
                    sec += r.decode_s;
                }
                free(r.tokens);
                s->prog.done++;
            }
            s->sweep[w].tokens_per_s = sec > 0 ? tok / sec : 0;
            if (s->sweep[w].ok && s->sweep[w].tokens_per_s > best) {
                best = s->sweep[w].tokens_per_s;
                s->best_sweep = w;
            }
        }
        if (s->peer_on && best < 0) {
            snprintf(s->peer_status, sizeof s->peer_status, "failed: every prompt-lookup setting failed");
            warn(s, "llama.cpp peer %s", s->peer_status);
            s->peer_on = 0;
        }
        if (s->peer_on) {
            snprintf(s->slots[s->n_ours + 2].params, sizeof s->slots[0].params, "max_ngram_size=%u, num_pred_tokens=%u",
                     b->sweep[s->best_sweep].ngram, b->sweep[s->best_sweep].k);
        }
    }
    if (!s->peer_on && s->n_slots > s->n_ours) s->n_slots = s->n_ours;
    if (s->peer_on) snprintf(s->peer_status, sizeof s->peer_status, "ran");

    /* ---- the runs: prompt by prompt, every (configuration, temperature) and the peers in a rotating order */
    const uint32_t n_units = s->n_ours * n_temps + (s->peer_on ? 3 : 0);
    for (uint32_t p = 0; p < s->n_sel; p++)
        for (uint32_t rep = 0; rep < b->repeats; rep++)
            for (uint32_t u0 = 0; u0 < n_units; u0++) {
                const uint32_t u = (u0 + p * b->repeats + rep) % n_units;
                const bench_sel_t *q = &s->sel[p];
                char what[160];
                bench_rec_t *r = new_rec(s);
                if (!r) FAIL(EXIT_RUNTIME, "out of memory");
                r->prompt = p;
                r->rep = rep;
                if (u < s->n_ours * n_temps) {
                    r->slot = u / n_temps;
                    r->temp = u % n_temps;
                    snprintf(what, sizeof what, "%s %s#%s T=%g", slot_label(s, r->slot), s->sets[q->set].name,
                             s->sets[q->set].prompts[q->index].id, b->temperatures[r->temp]);
                    progress_show(&s->prog, what);
                    if (run_ours(s, r->slot, r->temp, q, b->max_tokens, r, err, sizeof err) != 0)
                        FAIL(EXIT_RUNTIME, "%s: %s", what, err);
                    s->n_recs++;
                } else if (s->peer_on) {
                    const uint32_t k = u - s->n_ours * n_temps;
                    r->slot = s->n_ours + k;
                    r->temp = t_greedy;
                    snprintf(what, sizeof what, "%s %s#%s", slot_label(s, r->slot), s->sets[q->set].name,
                             s->sets[q->set].prompts[q->index].id);
                    progress_show(&s->prog, what);
                    if (run_peer(s, s->slots[r->slot].kind, q, b->max_tokens, b->sweep[s->best_sweep].ngram,
                                 b->sweep[s->best_sweep].k, r, err, sizeof err) != 0) {
                        snprintf(s->peer_status, sizeof s->peer_status, "failed during the runs (%.300s); peer rows "
                                 "cover the prompts before the failure", err);
                        warn(s, "llama.cpp peer %s", s->peer_status);
                        s->peer_on = 0;
                    } else {
                        s->n_recs++;
                    }
                }
                s->prog.done++;
            }
    s->prog.done = s->prog.total;
    progress_show(&s->prog, "done");

    /* ---- results */
    {
        bench_row_t *rows = NULL;
        int n_rows = bench_aggregate(s->recs, s->n_recs, s->sel, s->n_sel, s->n_sets, s->n_slots, n_temps, s->slots, &rows);
        if (n_rows < 0) FAIL(EXIT_RUNTIME, "out of memory");
        char cpu_model[256], cpu_flags[4096], git[64];
        read_cpu(cpu_model, sizeof cpu_model, cpu_flags, sizeof cpu_flags);
        git_revision(root, git, sizeof git);
        const char *names[MAX_SETS], *paths[MAX_SETS], *shas[MAX_SETS];
        int checked[MAX_SETS];
        uint32_t n_file[MAX_SETS], n_used[MAX_SETS] = {0};
        for (uint32_t g = 0; g < s->n_sets; g++) {
            names[g] = s->sets[g].name;
            paths[g] = s->sets[g].path;
            shas[g] = s->sets[g].sha256;
            checked[g] = s->sets[g].manifest_checked;
            n_file[g] = s->sets[g].n;
        }
        for (uint32_t i = 0; i < s->n_sel; i++) n_used[s->sel[i].set]++;
        bench_ratio_t *ratios = NULL;
        int n_ratios = resolve_ratios(s, rows, (uint32_t) n_rows, &ratios);
        if (n_ratios < 0) {
            free(rows);
            FAIL(EXIT_RUNTIME, "out of memory");
        }
        bench_result_t R = {
            .config_file = config_path ? config_path : "(built-in)", .model = model_path, .git_rev = git,
            .cpu_model = cpu_model, .cpu_flags = cpu_flags, .isa = kn_isa_name(), .max_tokens = b->max_tokens,
            .repeats = b->repeats, .prompts_per_set = b->prompts_per_set, .threads = b->threads, .n_ctx = cp.n_ctx,
            .seed = b->seed, .quick = quick, .fast = fast, .temps = b->temperatures, .n_temps = n_temps,
            .n_sets = s->n_sets, .set_names = names, .set_paths = paths, .set_sha = shas, .set_checked = checked,
            .set_n_file = n_file, .set_n_used = n_used, .slots = s->slots, .n_slots = s->n_slots, .rows = rows,
            .n_rows = (uint32_t) n_rows, .peer_status = b->llama_cpp ? s->peer_status : NULL,
            .peer_version = s->n_slots > s->n_ours ? s->peer.version : NULL, .sweep = s->sweep,
            .n_sweep = s->sweep ? b->n_sweep : 0, .best_sweep = s->best_sweep,
            .warnings = (const char *const *) s->warn, .n_warnings = s->n_warn, .wall_s = now_s() - t_start,
            .ratios = ratios, .n_ratios = (uint32_t) n_ratios, .n_refs = b->n_compare,
            .ref_label = (const char *const *) b->compare,
        };
        bench_write_summary(json_path && !strcmp(json_path, "-") ? stderr : stdout, &R);
        if (json_path) {
            FILE *f = strcmp(json_path, "-") ? fopen(json_path, "w") : stdout;
            if (!f || bench_write_json(f, &R) != 0) {
                if (f && f != stdout) fclose(f);
                free(rows);
                free(ratios);
                FAIL(EXIT_INPUT, "cannot write %s", json_path);
            }
            if (f != stdout && fclose(f) != 0) {
                free(rows);
                free(ratios);
                FAIL(EXIT_INPUT, "cannot write %s", json_path);
            }
        }
        if (report_dir) {
            char path[4400], gp[4400];
            int plots = 0;
            if (!root) {
                warn(s, "no plots: the source tree (scripts/bench_report.gp) was not found; set DSTRAT_SOURCE_ROOT");
            } else {
                snprintf(gp, sizeof gp, "%s/scripts/bench_report.gp", root);
                if (bench_plot(report_dir, gp, &R, err, sizeof err) != 0) warn(s, "no plots: %s", err);
                else plots = 1;
            }
            R.n_warnings = s->n_warn;
            snprintf(path, sizeof path, "%s/bench.json", report_dir);
            FILE *f = fopen(path, "w");
            int bad = !f || bench_write_json(f, &R) != 0;
            if (f && fclose(f) != 0) bad = 1;
            snprintf(path, sizeof path, "%s/report.md", report_dir);
            f = bad ? NULL : fopen(path, "w");
            bad = bad || !f || bench_write_markdown(f, &R, plots) != 0;
            if (f && fclose(f) != 0) bad = 1;
            if (bad) {
                free(rows);
                free(ratios);
                FAIL(EXIT_INPUT, "cannot write the report into %s", report_dir);
            }
            fprintf(stderr, "refhost bench: report in %s/report.md\n", report_dir);
        }
        free(rows);
        free(ratios);
    }
out:
    if (s->peer.pid > 0) bench_peer_stop(&s->peer);
    if (s->pl)
        for (uint32_t i = 0; i < (1 + (s->b ? s->b->n_entries : 0)) * (s->b ? s->b->n_temperatures : 0); i++)
            pipeline_close(&s->pl[i]);
    pipeline_models_close(&s->models);
    free(s->entry_slot);
    for (uint32_t i = 0; i < s->n_recs; i++) free(s->recs[i].tokens);
    free(s->recs);
    for (uint32_t i = 0; i < s->n_sel; i++) free(s->sel[i].ids);
    free(s->sel);
    for (uint32_t g = 0; g < s->n_sets; g++) bench_prompts_free(&s->sets[g]);
    if (s->cfgs) config_free(s->cfgs[0]);
    free(s->cfgs);
    free(s->pl);
    free(s->slots);
    free(s->sweep);
    free(s->out);
    for (uint32_t i = 0; i < s->n_warn; i++) free(s->warn[i]);
    bench_config_free(s->b);
    return rc;
#undef FAIL
}
