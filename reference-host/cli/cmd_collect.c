/* cmd_collect.c - refhost collect: runs the host on training prompts with the in-host RADAR
 * collector (reference-host/train/radar_collect.h) and writes the policy-training log
 * (radar_log.h, documented in policies/radar/LOG_FORMAT.md).
 *
 * The setup is cli_pipeline's (the same as generate/bench): the config names the radar strategy,
 * whose parameters (top_k, max_depth, total_tokens) the collector copies, so the log fits the
 * strategy that will load the trained policy. After the pipeline is open the collector is bound
 * to its session in place of the radar instance. Between prompts, target forwards of the tree
 * sizes that matter are timed so the trainer can fit t_verify(N). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "cli_pipeline.h"
#include "kernels.h"
#include "config.h"
#include "params.h"
#include "policy_net.h"
#include "radar_collect.h"
#include "radar_log.h"

#define MAX_PROMPT_CHARS (64 * 1024)

static void usage(FILE *f) {
    fputs("usage: refhost collect --prompts FILE --out LOG [options]\n"
          "  --config FILE         YAML with strategy radar (its top_k, max_depth, total_tokens are used),\n"
          "                        sampling, limits, model and draft (default: radar, greedy)\n"
          "  --prompts FILE        training prompts: JSON Lines (turns[0], prompt, text or instruction)\n"
          "                        or plain text, one prompt per line. Never the evaluation sets.\n"
          "  --out FILE            the log to write (policies/radar/LOG_FORMAT.md)\n"
          "  --max-tokens N        tokens to generate per prompt (default 128)\n"
          "  --limit N             use at most N prompts (default all)\n"
          "  --model PATH          target GGUF (default: the config's, $DSTRAT_MODEL, models/...)\n"
          "  --draft KIND          none | ngram | model:PATH | head:PATH | mix:PATH (overrides the config)\n"
          "  --param KEY=VALUE     radar parameter (repeatable; overrides the config)\n"
          "  --max-union N         most verified nodes per cycle (root included, default 256)\n"
          "  --temperature T  --seed S  --threads N\n"
          "  --quiet               no progress line\n"
          "exit codes: 0 ok, 2 bad command line or config, 3 unreadable input, 4 collection failed\n",
          f);
}

/* ------------------------------------------------------------------------------ prompts */
static void put_utf8(char *o, size_t *n, unsigned cp) {
    if (cp < 0x80) o[(*n)++] = (char) cp;
    else if (cp < 0x800) {
        o[(*n)++] = (char) (0xc0 | cp >> 6);
        o[(*n)++] = (char) (0x80 | (cp & 0x3f));
    } else {
        o[(*n)++] = (char) (0xe0 | cp >> 12);
        o[(*n)++] = (char) (0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char) (0x80 | (cp & 0x3f));
    }
}

/* Decodes the JSON string starting at s (at the opening quote) into a malloc'd text; NULL if bad. */
static char *json_string(const char *s) {
    if (*s != '"') return NULL;
    s++;
    char *o = malloc(strlen(s) * 3 + 1);
    if (!o) return NULL;
    size_t n = 0;
    for (; *s && *s != '"'; s++) {
        if (*s != '\\') {
            o[n++] = *s;
            continue;
        }
        s++;
        switch (*s) {
        case 'n': o[n++] = '\n'; break;
        case 't': o[n++] = '\t'; break;
        case 'r': o[n++] = '\r'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 1; i <= 4; i++) {
                const char h = s[i];
                if (!h) goto bad;
                cp = cp * 16 + (unsigned) (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
            }
            s += 4;
            put_utf8(o, &n, cp);
            break;
        }
        case '\0': goto bad;
        default: o[n++] = *s;
        }
    }
    if (*s != '"') goto bad;
    o[n] = '\0';
    return o;
bad:
    free(o);
    return NULL;
}

/* The prompt of one JSONL object: turns[0], else prompt / text / instruction. */
static char *json_prompt(const char *line) {
    static const char *const keys[] = {"\"turns\"", "\"prompt\"", "\"text\"", "\"instruction\""};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *p = strstr(line, keys[k]);
        if (!p) continue;
        p += strlen(keys[k]);
        while (*p == ' ' || *p == ':' || *p == '\t') p++;
        if (k == 0) {
            if (*p != '[') continue;
            p++;
            while (*p == ' ') p++;
        }
        char *s = json_string(p);
        if (s) return s;
    }
    return NULL;
}

/* Splits text into prompts (one per non-empty line). Returns the count or -1 with err. */
static int load_prompts(char *text, const char *path, char ***out, char *err, size_t cap) {
    size_t n = 0, c = 0;
    char **v = NULL;
    uint32_t line = 0;
    for (char *s = text; s && *s;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        line++;
        size_t len = strlen(s);
        while (len && (s[len - 1] == '\r' || s[len - 1] == ' ')) s[--len] = '\0';
        char *p = NULL;
        if (len) {
            p = s[0] == '{' ? json_prompt(s) : strdup(s);
            if (!p || !p[0] || strlen(p) > MAX_PROMPT_CHARS) {
                snprintf(err, cap, "%s:%u: %s", path, line,
                         !p ? "no prompt found (JSON Lines want turns[0], prompt, text or instruction)"
                            : "the prompt is empty or too long");
                free(p);
                goto fail;
            }
            if (n == c) {
                c = c ? c * 2 : 64;
                char **w = realloc(v, c * sizeof *w);
                if (!w) {
                    free(p);
                    snprintf(err, cap, "out of memory");
                    goto fail;
                }
                v = w;
            }
            v[n++] = p;
        }
        s = nl ? nl + 1 : NULL;
    }
    *out = v;
    return (int) n;
fail:
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return -1;
}

/* ------------------------------------------------------------------------------ helpers */
static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int u64_cmp(const void *pa, const void *pb) {
    const uint64_t a = *(const uint64_t *) pa, b = *(const uint64_t *) pb;
    return (a > b) - (a < b);
}

/* Median time of one policy decision (paper-size network of n_in inputs): the T_p of the reward. */
static double policy_step_ns(uint32_t n_in) {
    dspn_net_t net;
    dspn_state_t st;
    if (dspn_init(&net, n_in, 128, 128) != 0) return 0;
    dspn_init_random(&net, 7);
    if (dspn_state_init(&st, &net) != 0) {
        dspn_free(&net);
        return 0;
    }
    float x[RL_MAX_K], l[2];
    for (uint32_t i = 0; i < n_in; i++) x[i] = -1.0f - (float) i;
    uint64_t t[15];
    for (int r = 0; r < 15; r++) {
        const uint64_t t0 = mono_ns();
        for (int i = 0; i < 64; i++) {
            if (i % 8 == 0) dspn_state_reset(&st, &net);
            dspn_step(&net, &st, x, l);
        }
        t[r] = mono_ns() - t0;
    }
    qsort(t, 15, sizeof *t, u64_cmp);
    dspn_state_free(&st);
    dspn_free(&net);
    return (double) t[7] / 64.0;
}

/* "dir/name.gguf" -> "name" */
static void model_name(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    snprintf(out, cap, "%s", b ? b + 1 : path);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = '\0';
}

typedef struct collect_ctx {
    rl_writer_t w;
    uint64_t n_cycles;
    double acc_sum[RL_MAX_LEVELS];
    uint64_t acc_n[RL_MAX_LEVELS];
    const tokenizer_t *tok;
} collect_ctx_t;

static int sink(void *user, const rl_cycle_t *c) {
    collect_ctx_t *cc = user;
    for (uint32_t l = 0; l < c->n_levels; l++) {
        cc->acc_sum[l] += c->acc[l];
        cc->acc_n[l]++;
    }
    cc->n_cycles++;
    return rl_write_cycle(&cc->w, c);
}

static int is_eog(void *user, int32_t token) { return tok_is_eog(((collect_ctx_t *) user)->tok, token); }

/* Times target forwards of n tokens (each attached to the committed cache, then dropped). */
static int time_forwards(pipeline_models_t *m, const uint32_t *sizes, uint32_t n_sizes, uint32_t n_context,
                         rl_writer_t *w) {
    sess_target_t *t = &m->backend;
    static int32_t tok[4096], par[4096];
    float *logits = malloc((size_t) t->n_vocab * sizeof *logits);
    uint8_t *want = calloc(t->max_batch, 1);
    if (!logits || !want) {
        free(logits);
        free(want);
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < n_sizes && rc == 0; i++) {
        const uint32_t n = sizes[i] < t->max_batch ? sizes[i] : t->max_batch;
        for (uint32_t j = 0; j < n; j++) {
            tok[j] = (int32_t) (100 + j * 7) % (int32_t) t->n_vocab;
            par[j] = j == 0 ? -1 : 0; /* a star under the first node: a tree like a verify */
        }
        memset(want, 0, n);
        want[0] = 1; /* logits land in row i of the buffer: ask for row 0 only */
        const uint64_t t0 = mono_ns();
        if (t->forward(t->ctx, tok, par, n, want, logits) != 0) rc = -1;
        const uint64_t dt = mono_ns() - t0;
        if (t->commit(t->ctx, NULL, 0) != 0) rc = -1;
        if (rc == 0) {
            rl_timing_t rt = {n, n_context, dt};
            rc = rl_write_timing(w, &rt);
        }
    }
    free(logits);
    free(want);
    return rc;
}

/* ------------------------------------------------------------------------------ command */
int cmd_collect(int argc, char **argv) {
    enum { O_CONFIG = 1000, O_PROMPTS, O_OUT, O_MAX, O_LIMIT, O_MODEL, O_DRAFT, O_PARAM, O_UNION, O_TEMP, O_SEED,
           O_THREADS, O_QUIET, O_HELP };
    static const struct option opts[] = {
        {"config", required_argument, 0, O_CONFIG}, {"prompts", required_argument, 0, O_PROMPTS},
        {"out", required_argument, 0, O_OUT}, {"max-tokens", required_argument, 0, O_MAX},
        {"limit", required_argument, 0, O_LIMIT}, {"model", required_argument, 0, O_MODEL},
        {"draft", required_argument, 0, O_DRAFT}, {"param", required_argument, 0, O_PARAM},
        {"max-union", required_argument, 0, O_UNION}, {"temperature", required_argument, 0, O_TEMP},
        {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
    };
    const char *config_path = NULL, *prompts_path = NULL, *out_path = NULL, *model_path = NULL, *draft_arg = NULL;
    const char *o_max = NULL, *o_limit = NULL, *o_union = NULL, *o_temp = NULL, *o_seed = NULL, *o_threads = NULL;
    int quiet = 0, c;
    cli_params_t cli_params = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: config_path = optarg; break;
        case O_PROMPTS: prompts_path = optarg; break;
        case O_OUT: out_path = optarg; break;
        case O_MAX: o_max = optarg; break;
        case O_LIMIT: o_limit = optarg; break;
        case O_MODEL: model_path = optarg; break;
        case O_DRAFT: draft_arg = optarg; break;
        case O_PARAM: {
            char why[512];
            const int prc = cli_params_add(&cli_params, optarg, why, sizeof why);
            if (prc != 0) {
                fprintf(stderr, "refhost collect: %s\n", why);
                cli_params_free(&cli_params);
                return prc;
            }
            break;
        }
        case O_UNION: o_union = optarg; break;
        case O_TEMP: o_temp = optarg; break;
        case O_SEED: o_seed = optarg; break;
        case O_THREADS: o_threads = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    int rc = 0;
    char err[2048];
    config_t *cfg = NULL;
    pipeline_t pl = {0};
    pipeline_models_t models = {0};
    char *text = NULL, **prompts = NULL;
    int n_prompts = 0;
    dstrat_strategy_t *collector = NULL;
    collect_ctx_t cc = {0};
    int32_t *out_ids = NULL;
    dsp_value_t *vals = NULL;

#define FAIL(code, ...)                                  \
    do {                                                 \
        fprintf(stderr, "refhost collect: " __VA_ARGS__); \
        fputc('\n', stderr);                             \
        rc = (code);                                     \
        goto out;                                        \
    } while (0)

    if (optind < argc) FAIL(EXIT_USAGE, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!prompts_path || !out_path) FAIL(EXIT_USAGE, "--prompts and --out are required (see --help)");
    cfg = config_path ? config_load_file(config_path, err, sizeof err) : config_defaults();
    if (!cfg) FAIL(EXIT_USAGE, "%s", config_path ? err : "out of memory");
    uint32_t limit = 0, max_union = 256;
    cfg->limits.max_tokens = 128;
    const pipeline_cli_values_t cv = {.max_tokens = o_max, .temperature = o_temp, .seed = o_seed,
                                      .threads = o_threads};
    if (pipeline_apply_cli_values(cfg, &cv, err, sizeof err) != 0) FAIL(EXIT_USAGE, "%s", err);
    {
        char *end;
        if (o_limit) {
            long v = strtol(o_limit, &end, 10);
            if (*end || v < 1) FAIL(EXIT_USAGE, "--limit must be a positive integer");
            limit = (uint32_t) v;
        }
        if (o_union) {
            long v = strtol(o_union, &end, 10);
            if (*end || v < 2 || v > 4096) FAIL(EXIT_USAGE, "--max-union must be an integer in 2..4096");
            max_union = (uint32_t) v;
        }
    }
    pipeline_overrides_t ov = {.strategy = config_path ? NULL : "radar", .params = cli_params.p,
                               .n_params = cli_params.n, .draft = draft_arg};
    if ((rc = pipeline_prepare(&pl, cfg, &ov, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    if (strcmp(pl.desc->id, "radar") != 0)
        FAIL(EXIT_USAGE, "collect logs radar's decisions: the config's strategy is '%s' (use strategy.plugin: radar)",
             pl.desc->id);
    if (!(vals = calloc(pl.desc->n_params, sizeof *vals))) FAIL(EXIT_RUNTIME, "out of memory");
    if (dsp_parse(pl.desc->params, pl.desc->n_params, pl.params, pl.n_params, vals, err, sizeof err) != 0)
        FAIL(EXIT_USAGE, "%s", err);
    const rc_params_t rp = {
        .top_k = (uint32_t) dsp_get_int(pl.desc->params, pl.desc->n_params, vals, "top_k"),
        .max_depth = (uint32_t) dsp_get_int(pl.desc->params, pl.desc->n_params, vals, "max_depth"),
        .total_tokens = (uint32_t) dsp_get_int(pl.desc->params, pl.desc->n_params, vals, "total_tokens"),
    };
    if (rp.top_k < 1 || rp.top_k > RL_MAX_K || rp.max_depth < 1 || rp.max_depth > RL_MAX_LEVELS || rp.total_tokens < 2)
        FAIL(EXIT_USAGE, "radar parameters top_k %u, max_depth %u, total_tokens %u are outside what a log holds", rp.top_k,
             rp.max_depth, rp.total_tokens);
    if (max_union < rp.total_tokens) max_union = rp.total_tokens;
    uint32_t cap = rc_union_capacity(&rp);
    if (cap > max_union) cap = max_union;
    cfg->limits.max_tree_nodes = cap;
    pl.sp.max_tree_nodes = cap;

    if (!(text = cli_read_file(prompts_path, NULL, err, sizeof err))) FAIL(EXIT_INPUT, "%s", err);
    if ((n_prompts = load_prompts(text, prompts_path, &prompts, err, sizeof err)) < 0) FAIL(EXIT_INPUT, "%s", err);
    if (n_prompts == 0) FAIL(EXIT_INPUT, "%s holds no prompt", prompts_path);
    if (limit && (uint32_t) n_prompts > limit) {
        for (int i = (int) limit; i < n_prompts; i++) free(prompts[i]);
        n_prompts = (int) limit;
    }

    if (!model_path) model_path = cfg->model.path ? cfg->model.path : cli_default_model();
    const llm_ctx_params_t cp = pipeline_ctx_params(cfg, KN_MODE_EXACT);
    if ((rc = pipeline_models_open(&models, model_path, &cp, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    if ((rc = pipeline_open(&pl, &models, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    if (rc_create(session_host(pl.sess), &rp, sink, &cc, &collector, err, sizeof err) != DSTRAT_OK)
        FAIL(EXIT_RUNTIME, "collector: %s", err);
    if (session_bind(pl.sess, collector) != 0) FAIL(EXIT_RUNTIME, "collector: %s", session_error(pl.sess));
    cc.tok = models.target.tok;

    /* ---- the log header: what the trainer and the policy file must agree on */
    char target[256], draft[256], b_k[16], b_d[16], b_t[16], b_temp[32], b_seed[32], b_max[16], b_tp[32], b_cap[16];
    model_name(model_path, target, sizeof target);
    if (pl.draft_kind == CONFIG_DRAFT_MODEL) model_name(pl.draft_path, draft, sizeof draft);
    else snprintf(draft, sizeof draft, "%s", config_draft_kind_name(pl.draft_kind));
    snprintf(b_k, sizeof b_k, "%u", rp.top_k);
    snprintf(b_d, sizeof b_d, "%u", rp.max_depth);
    snprintf(b_t, sizeof b_t, "%u", rp.total_tokens);
    snprintf(b_temp, sizeof b_temp, "%g", cfg->sampling.temperature);
    snprintf(b_seed, sizeof b_seed, "%llu", (unsigned long long) cfg->sampling.seed);
    snprintf(b_max, sizeof b_max, "%u", cfg->limits.max_tokens);
    snprintf(b_tp, sizeof b_tp, "%.1f", policy_step_ns(rp.top_k));
    snprintf(b_cap, sizeof b_cap, "%u", cap);
    const char *pb = strrchr(prompts_path, '/');
    const rl_kv_t kv[] = {
        {"features", "radar-beam-cumlogp"}, {"top_k", b_k}, {"max_depth", b_d}, {"total_tokens", b_t},
        {"target", target}, {"draft", draft}, {"temperature", b_temp}, {"seed", b_seed}, {"max_tokens", b_max},
        {"prompts", pb ? pb + 1 : prompts_path}, {"t_policy_ns", b_tp}, {"max_union", b_cap},
        {"host", "refhost 0.1.0"},
    };
    if (rl_writer_open(&cc.w, out_path, kv, sizeof kv / sizeof kv[0], err, sizeof err) != 0) FAIL(EXIT_INPUT, "%s", err);

    /* ---- the prompts */
    out_ids = malloc((size_t) cfg->limits.max_tokens * sizeof *out_ids);
    if (!out_ids) FAIL(EXIT_RUNTIME, "out of memory");
    const uint32_t sizes[] = {1, rp.top_k + 1, rp.total_tokens / 2, rp.total_tokens, rp.total_tokens * 2};
    const uint64_t t_start = mono_ns();
    uint64_t n_tokens = 0;
    for (int i = 0; i < n_prompts; i++) {
        uint32_t n_prompt = 0;
        int32_t *ids = cli_tokenize(models.target.tok, prompts[i], 1, &n_prompt, err, sizeof err);
        if (!ids) FAIL(EXIT_RUNTIME, "prompt %d: %s", i + 1, err);
        if (n_prompt + cfg->limits.max_tokens + cap + 1 > cfg->limits.n_ctx) {
            free(ids);
            fprintf(stderr, "refhost collect: prompt %d skipped: %u tokens do not fit the context\n", i + 1, n_prompt);
            continue;
        }
        sess_run_t run = {.prompt = ids, .n_prompt = n_prompt, .max_new = cfg->limits.max_tokens, .is_eog = is_eog,
                          .user = &cc, .out = out_ids};
        const int64_t n_gen = pipeline_generate(&pl, &run, err, sizeof err);
        free(ids);
        if (n_gen < 0) FAIL(EXIT_RUNTIME, "prompt %d: %s", i + 1, err);
        n_tokens += (uint64_t) n_gen;
        if (cc.w.failed) FAIL(EXIT_RUNTIME, "write error on %s", out_path);
        if (time_forwards(&models, sizes, sizeof sizes / sizeof sizes[0], n_prompt + (uint32_t) n_gen, &cc.w) != 0)
            FAIL(EXIT_RUNTIME, "timing forwards failed: %s", models.backend.error(models.backend.ctx));
        if (!quiet) {
            const double el = (double) (mono_ns() - t_start) / 1e9, eta = el * (n_prompts - i - 1) / (i + 1);
            fprintf(stderr, "\r[collect] prompt %d/%d, %llu cycles, %llu tokens, %.0f s, ETA %dm%02ds   ", i + 1,
                    n_prompts, (unsigned long long) cc.n_cycles, (unsigned long long) n_tokens, el, (int) eta / 60,
                    (int) eta % 60);
            fflush(stderr);
        }
    }
    if (!quiet) fputc('\n', stderr);
    if (rl_writer_close(&cc.w, err, sizeof err) != 0) FAIL(EXIT_RUNTIME, "%s", err);
    uint64_t logged = 0, skipped = 0;
    rc_counts(collector, &logged, &skipped);
    fprintf(stderr, "[collect] %s: %llu cycles logged (%llu skipped: union over %u nodes), %llu tokens generated\n",
            out_path, (unsigned long long) logged, (unsigned long long) skipped, cap, (unsigned long long) n_tokens);
    fprintf(stderr, "[collect] mean accepted drafts by levels drafted:");
    for (uint32_t l = 0; l < rp.max_depth; l++)
        if (cc.acc_n[l]) fprintf(stderr, " %u:%.2f", l + 1, cc.acc_sum[l] / (double) cc.acc_n[l]);
    fputc('\n', stderr);
out:
    if (cc.w.f) rl_writer_abort(&cc.w);
    pipeline_close(&pl);
    if (collector) collector->destroy(collector); /* after the session that was bound to it */
    pipeline_models_close(&models);
    for (int i = 0; i < n_prompts; i++) free(prompts[i]);
    free(prompts);
    free(text);
    free(out_ids);
    free(vals);
    config_free(cfg);
    cli_params_free(&cli_params);
    return rc;
#undef FAIL
}
