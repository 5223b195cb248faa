/* cmd_ltd_train.c - refhost ltd-train: trains LTD's depth and size policies online with PPO inside
 * the real decoding loop (reference-host/train/ltd_online.h, ltd_ppo.h), as the paper does.
 *
 * The setup is cli_pipeline's: the config names the ltd strategy, loaded the normal way; the
 * trainer installs its hooks through the strategy's train extension (plugin/ltd/ltd_ext.h), then
 * generates the training prompts (cycling through them) until every stage has its cycles.
 *
 * Reward time: `--reward model` (default) charges each cycle draft_call_ms per draft call plus
 * verify_a_ms + verify_b_ms * verified tokens, constants given with --cost or calibrated here at
 * the start (the mean measured draft-call time of a warm-up generation, and a least-squares line
 * through median timed target forwards), rounded to 4 significant digits and recorded in the
 * policy file: with the same constants and seed the file is byte-identical (greedy decoding is
 * deterministic and the decisions are sampled from the trainer's seeded RNG). `--reward measured`
 * uses the host's measured cycle times (the paper's; not reproducible). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "cli_pipeline.h"
#include "config.h"
#include "kernels.h"
#include "ltd_ext.h"
#include "ltd_online.h"

static void usage(FILE *f) {
    fputs("usage: refhost ltd-train --prompts FILE --out POLICY.dspol [options]\n"
          "  --config FILE         YAML with strategy ltd (its params fix the observation layout and the size\n"
          "                        actions), sampling, limits, model and draft (default: ltd defaults, greedy)\n"
          "  --prompts FILE        training prompts, plain text, one per line (used in order, repeated as\n"
          "                        needed). Never the evaluation sets.\n"
          "  --out FILE            the policy file to write (network ltd-mlp, actors 'depth' and 'size')\n"
          "  --stages LIST         policies to train in turn (default size,depth,size)\n"
          "  --steps N             cycles per stage (default 2000)\n"
          "  --seed S              trainer seed: initial weights, sampled decisions, shuffles (default 1)\n"
          "  --reward KIND         model (default: cycle time from the cost model) | measured (host clock)\n"
          "  --cost LIST           draft_call_ms=X,verify_a_ms=Y,verify_b_ms=Z (default: calibrated here)\n"
          "  --max-tokens N        tokens generated per prompt (default 128)\n"
          "  --val-prompts N       hold out the last N prompts for validation passes with greedy decisions,\n"
          "                        which pick each stage's checkpoint (default 4; 0: pick on the training\n"
          "                        rollouts' own throughput)\n"
          "  --val-every N         updates between validation passes (default 5; also at stage start and end)\n"
          "  --lr X  --hidden N[,N]  --rollout N  --minibatch N  --epochs N  --ent-coef X  --gamma X\n"
          "                        PPO settings (defaults 1e-3, 64,64, 256, 64, 4, 0.01, 0.999)\n"
          "  --model PATH  --draft KIND  --param KEY=VALUE  --threads N\n"
          "  --quiet               no progress bar\n"
          "exit codes: 0 ok, 2 bad command line or config, 3 unreadable input, 4 training failed\n",
          f);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* "dir/name.gguf" -> "name" */
static void model_name(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    snprintf(out, cap, "%s", b ? b + 1 : path);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = '\0';
}

/* Non-empty lines of text (modified in place) as prompts; count or -1. */
static int split_lines(char *text, char ***out) {
    size_t n = 0, c = 0;
    char **v = NULL;
    for (char *s = text; s && *s;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        size_t len = strlen(s);
        while (len && (s[len - 1] == '\r' || s[len - 1] == ' ')) s[--len] = '\0';
        if (len) {
            if (n == c) {
                c = c ? 2 * c : 64;
                char **w = realloc(v, c * sizeof *w);
                if (!w) {
                    free(v);
                    return -1;
                }
                v = w;
            }
            v[n++] = s;
        }
        s = nl ? nl + 1 : NULL;
    }
    *out = v;
    return (int) n;
}

/* "4 significant digits" so the recorded constants are exactly the ones used */
static double round4(double x) {
    char b[32];
    snprintf(b, sizeof b, "%.4g", x);
    return strtod(b, NULL);
}

static int parse_cost(const char *s, lo_cost_t *c) {
    int got = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq) return -1;
        *eq = '\0';
        char *end;
        const double v = strtod(eq + 1, &end);
        if (*end || !(v >= 0.0) || v > 1e6) return -1;
        if (!strcmp(tok, "draft_call_ms")) c->draft_call_ms = v, got |= 1;
        else if (!strcmp(tok, "verify_a_ms")) c->verify_a_ms = v, got |= 2;
        else if (!strcmp(tok, "verify_b_ms")) c->verify_b_ms = v, got |= 4;
        else return -1;
    }
    return got == 7 ? 0 : -1;
}

/* ------------------------------------------------------------------------------ calibration */
typedef struct calib {
    uint64_t draft_ns, calls;
} calib_t;

static int32_t DSTRAT_CALL calib_decide(void *u, uint32_t k, const float *o, uint32_t n, uint32_t na) {
    (void) u, (void) k, (void) o, (void) n, (void) na;
    return -1;
}
static void DSTRAT_CALL calib_cycle(void *u, const dstrat_cycle_stats_t *st) {
    calib_t *c = u;
    c->draft_ns += st->t_draft_ns;
    c->calls += st->n_draft_calls;
}

static int u64_cmp(const void *pa, const void *pb) {
    const uint64_t a = *(const uint64_t *) pa, b = *(const uint64_t *) pb;
    return (a > b) - (a < b);
}

/* Median time of target forwards of each size (attached to the committed cache, then dropped) and
 * the least-squares line through them. 0 or -1. */
static int fit_verify(pipeline_models_t *m, uint32_t max_n, double *a_ms, double *b_ms) {
    sess_target_t *t = &m->backend;
    static int32_t tok[4096], par[4096];
    uint32_t sizes[8], ns = 0;
    for (uint32_t n = 1; n <= max_n && ns < 8; n = n < 4 ? n + 1 : n * 2) sizes[ns++] = n;
    if (ns < 8 && sizes[ns - 1] != max_n) sizes[ns++] = max_n;
    float *logits = malloc((size_t) t->n_vocab * sizeof *logits);
    uint8_t *want = calloc(t->max_batch, 1);
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int rc = logits && want ? 0 : -1;
    for (uint32_t i = 0; i < ns && rc == 0; i++) {
        const uint32_t n = sizes[i] < t->max_batch ? sizes[i] : t->max_batch;
        for (uint32_t j = 0; j < n; j++) {
            tok[j] = (int32_t) (100 + j * 7) % (int32_t) t->n_vocab;
            par[j] = j == 0 ? -1 : (int32_t) ((j - 1) / 2); /* a binary tree, like a verify */
        }
        memset(want, 0, n);
        want[0] = 1;
        uint64_t d[7];
        for (int r = 0; r < 7 && rc == 0; r++) {
            const uint64_t t0 = mono_ns();
            if (t->forward(t->ctx, tok, par, n, want, logits) != 0) rc = -1;
            d[r] = mono_ns() - t0;
            if (t->commit(t->ctx, NULL, 0) != 0) rc = -1;
        }
        qsort(d, 7, sizeof *d, u64_cmp);
        const double y = (double) d[3] / 1e6;
        sx += n, sy += y, sxx += (double) n * n, sxy += n * y;
    }
    free(logits);
    free(want);
    if (rc != 0) return -1;
    const double den = ns * sxx - sx * sx;
    *b_ms = den > 0 ? (ns * sxy - sx * sy) / den : 0.0;
    if (*b_ms < 0) *b_ms = 0;
    *a_ms = (sy - *b_ms * sx) / ns;
    if (*a_ms < 0) *a_ms = 0;
    return 0;
}

typedef struct run_user {
    const tokenizer_t *tok;
} run_user_t;
static int is_eog(void *user, int32_t token) { return tok_is_eog(((run_user_t *) user)->tok, token); }

static void print_stage(const lo_trainer_t *t, uint32_t i) {
    const lo_stage_result_t *r = &t->res[i];
    fprintf(stderr, "[ltd-train] stage %u (%s): %llu cycles, %llu updates, %llu decisions; rollout throughput first %.4f "
                    "best %.4f (rollout %u) last %.4f tok/ms; actions",
            i + 1, r->kind == DSTRAT_LTD_DEPTH ? "depth" : "size", (unsigned long long) r->cycles,
            (unsigned long long) r->updates, (unsigned long long) r->decisions, r->first_rate, r->best_rate,
            r->best_rollout, r->last_rate);
    for (uint32_t j = 0; j < t->n_act[r->kind]; j++) {
        if (r->kind == DSTRAT_LTD_SIZE) fprintf(stderr, " V%u:%llu", t->layout.sizes[j], (unsigned long long) r->action_hist[j]);
        else fprintf(stderr, " %s:%llu", j ? "cont" : "stop", (unsigned long long) r->action_hist[j]);
    }
    fputc('\n', stderr);
    if (t->s.val_every)
        fprintf(stderr, "[ltd-train]   validation (greedy, held-out prompts): %u passes, initial %.4f, best %.4f tok/ms "
                        "after %llu updates (kept)\n",
                r->n_val, r->val_first, r->val_best, (unsigned long long) r->val_best_update);
}

/* ------------------------------------------------------------------------------ command */
int cmd_ltd_train(int argc, char **argv) {
    enum { O_CONFIG = 1000, O_PROMPTS, O_OUT, O_STAGES, O_STEPS, O_SEED, O_REWARD, O_COST, O_MAX, O_LR, O_HIDDEN,
           O_ROLLOUT, O_MB, O_EPOCHS, O_ENT, O_GAMMA, O_MODEL, O_DRAFT, O_PARAM, O_THREADS, O_QUIET, O_HELP, O_VALN, O_VALE };
    static const struct option opts[] = {
        {"config", required_argument, 0, O_CONFIG}, {"prompts", required_argument, 0, O_PROMPTS},
        {"out", required_argument, 0, O_OUT}, {"stages", required_argument, 0, O_STAGES},
        {"steps", required_argument, 0, O_STEPS}, {"seed", required_argument, 0, O_SEED},
        {"reward", required_argument, 0, O_REWARD}, {"cost", required_argument, 0, O_COST},
        {"max-tokens", required_argument, 0, O_MAX}, {"lr", required_argument, 0, O_LR},
        {"hidden", required_argument, 0, O_HIDDEN}, {"rollout", required_argument, 0, O_ROLLOUT},
        {"minibatch", required_argument, 0, O_MB}, {"epochs", required_argument, 0, O_EPOCHS},
        {"ent-coef", required_argument, 0, O_ENT}, {"gamma", required_argument, 0, O_GAMMA},
        {"model", required_argument, 0, O_MODEL}, {"draft", required_argument, 0, O_DRAFT},
        {"param", required_argument, 0, O_PARAM}, {"threads", required_argument, 0, O_THREADS},
        {"val-prompts", required_argument, 0, O_VALN}, {"val-every", required_argument, 0, O_VALE},
        {"quiet", no_argument, 0, O_QUIET}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
    };
    const char *config_path = NULL, *prompts_path = NULL, *out_path = NULL, *model_path = NULL, *draft_arg = NULL;
    const char *o_max = NULL, *o_threads = NULL, *o_cost = NULL;
    int quiet = 0, c, rc = 0;
    char err[2048];
    lo_settings_t S = lo_default_settings();
    uint32_t n_val = 4;
    S.val_every = 5;
    cli_params_t cli_params = {0};
    config_t *cfg = NULL;
    pipeline_t pl = {0};
    pipeline_models_t models = {0};
    char *text = NULL, **prompts = NULL;
    int n_prompts = 0;
    int32_t *out_ids = NULL;
    lo_trainer_t T;
    int have_trainer = 0, hooks_set = 0;
    const dstrat_ltd_train_ext_t *ext = NULL;
    memset(&T, 0, sizeof T);

#define FAIL(code, ...)                                    \
    do {                                                   \
        fprintf(stderr, "refhost ltd-train: " __VA_ARGS__); \
        fputc('\n', stderr);                               \
        rc = (code);                                       \
        goto out;                                          \
    } while (0)

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case O_CONFIG: config_path = optarg; break;
        case O_PROMPTS: prompts_path = optarg; break;
        case O_OUT: out_path = optarg; break;
        case O_STAGES:
            if (lo_parse_stages(optarg, &S) != 0)
                FAIL(EXIT_USAGE, "--stages wants a comma-separated list of size|depth (at most %d), got '%s'",
                     LO_MAX_STAGES, optarg);
            break;
        case O_STEPS: {
            const unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || v < 1 || v > 100000000ull) FAIL(EXIT_USAGE, "--steps must be an integer in 1..1e8");
            S.steps = v;
            break;
        }
        case O_SEED: {
            const unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || !optarg[0]) FAIL(EXIT_USAGE, "--seed must be a non-negative integer");
            S.seed = v;
            break;
        }
        case O_REWARD:
            if (!strcmp(optarg, "model")) S.reward = LO_REWARD_MODEL;
            else if (!strcmp(optarg, "measured")) S.reward = LO_REWARD_MEASURED;
            else FAIL(EXIT_USAGE, "--reward is model or measured, got '%s'", optarg);
            break;
        case O_COST:
            if (parse_cost(optarg, &S.cost) != 0)
                FAIL(EXIT_USAGE, "--cost wants draft_call_ms=X,verify_a_ms=Y,verify_b_ms=Z (all three, >= 0), got '%s'",
                     optarg);
            o_cost = optarg;
            break;
        case O_MAX: o_max = optarg; break;
        case O_LR: S.lr = strtod(optarg, &end); if (*end || !(S.lr > 0 && S.lr < 1)) FAIL(EXIT_USAGE, "--lr must be in (0, 1)"); break;
        case O_HIDDEN: {
            unsigned a = 0, b = 0;
            char tail;
            const int k = sscanf(optarg, "%u,%u%c", &a, &b, &tail);
            if (!strcmp(optarg, "none")) S.ppo.n_hidden = 0;
            else if (k == 2 && a >= 1 && b >= 1 && a <= 1024 && b <= 1024) {
                S.ppo.n_hidden = 2;
                S.ppo.hidden[0] = a;
                S.ppo.hidden[1] = b;
            } else if (k == 1 && a >= 1 && a <= 1024 && !strchr(optarg, ',')) {
                S.ppo.n_hidden = 1;
                S.ppo.hidden[0] = a;
                S.ppo.hidden[1] = a;
            } else FAIL(EXIT_USAGE, "--hidden wants N or N,N (1..1024) or none, got '%s'", optarg);
            break;
        }
        case O_ROLLOUT: case O_MB: case O_EPOCHS: {
            const unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v < 1 || v > 65536 || (c == O_ROLLOUT && v < 2))
                FAIL(EXIT_USAGE, "--%s must be an integer in %s..65536", c == O_ROLLOUT ? "rollout" : c == O_MB ? "minibatch" : "epochs",
                     c == O_ROLLOUT ? "2" : "1");
            if (c == O_ROLLOUT) S.ppo.rollout = (uint32_t) v;
            else if (c == O_MB) S.ppo.minibatch = (uint32_t) v;
            else S.ppo.epochs = (uint32_t) v;
            break;
        }
        case O_ENT: S.ppo.ent_coef = strtod(optarg, &end); if (*end || !(S.ppo.ent_coef >= 0 && S.ppo.ent_coef < 10)) FAIL(EXIT_USAGE, "--ent-coef must be in [0, 10)"); break;
        case O_GAMMA: S.ppo.gamma = strtod(optarg, &end); if (*end || !(S.ppo.gamma >= 0 && S.ppo.gamma <= 1)) FAIL(EXIT_USAGE, "--gamma must be in [0, 1]"); break;
        case O_MODEL: model_path = optarg; break;
        case O_DRAFT: draft_arg = optarg; break;
        case O_PARAM: {
            char why[512];
            const int prc = cli_params_add(&cli_params, optarg, why, sizeof why);
            if (prc != 0) FAIL(prc, "%s", why);
            break;
        }
        case O_VALN: case O_VALE: {
            const unsigned long v = strtoul(optarg, &end, 10);
            if (*end || !optarg[0] || v > 10000 || (c == O_VALE && v < 1))
                FAIL(EXIT_USAGE, "--%s must be an integer in %s..10000", c == O_VALN ? "val-prompts" : "val-every",
                     c == O_VALN ? "0" : "1");
            if (c == O_VALN) n_val = (uint32_t) v;
            else S.val_every = (uint32_t) v;
            break;
        }
        case O_THREADS: o_threads = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); goto out;
        default: usage(stderr); rc = EXIT_USAGE; goto out;
        }
    }
    if (optind < argc) FAIL(EXIT_USAGE, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!prompts_path || !out_path) FAIL(EXIT_USAGE, "--prompts and --out are required (see --help)");
    if (o_cost && S.reward == LO_REWARD_MEASURED) FAIL(EXIT_USAGE, "--cost is for --reward model");
    cfg = config_path ? config_load_file(config_path, err, sizeof err) : config_defaults();
    if (!cfg) FAIL(EXIT_USAGE, "%s", config_path ? err : "out of memory");
    cfg->limits.max_tokens = 128;
    const pipeline_cli_values_t cv = {.max_tokens = o_max, .threads = o_threads};
    if (pipeline_apply_cli_values(cfg, &cv, err, sizeof err) != 0) FAIL(EXIT_USAGE, "%s", err);
    pipeline_overrides_t ov = {.strategy = config_path ? NULL : "ltd", .params = cli_params.p, .n_params = cli_params.n,
                               .draft = draft_arg};
    if ((rc = pipeline_prepare(&pl, cfg, &ov, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    if (strcmp(pl.desc->id, "ltd") != 0)
        FAIL(EXIT_USAGE, "ltd-train trains the ltd strategy's policies: the config's strategy is '%s' (use strategy.plugin: ltd)",
             pl.desc->id);
    for (uint32_t i = 0; i < pl.n_params; i++)
        if (!strcmp(pl.params[i].key, "policy") && strcmp(pl.params[i].value, "builtin") != 0)
            FAIL(EXIT_USAGE, "train from the builtin rules: drop the policy parameter ('%s')", pl.params[i].value);

    if (!(text = cli_read_file(prompts_path, NULL, err, sizeof err))) FAIL(EXIT_INPUT, "%s", err);
    if ((n_prompts = split_lines(text, &prompts)) < 0) FAIL(EXIT_RUNTIME, "out of memory");
    if (n_prompts == 0) FAIL(EXIT_INPUT, "%s holds no prompt", prompts_path);
    if (n_val >= (uint32_t) n_prompts)
        FAIL(EXIT_USAGE, "--val-prompts %u leaves no training prompt (%s holds %d)", n_val, prompts_path, n_prompts);
    if (n_val == 0) S.val_every = 0;
    const int n_train = n_prompts - (int) n_val; /* prompts [n_train, n_prompts) are held out */

    if (!model_path) model_path = cfg->model.path ? cfg->model.path : cli_default_model();
    const llm_ctx_params_t cp = pipeline_ctx_params(cfg, KN_MODE_EXACT);
    if ((rc = pipeline_models_open(&models, model_path, &cp, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    if ((rc = pipeline_open(&pl, &models, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    ext = pl.strat->get_extension ? pl.strat->get_extension(pl.strat, DSTRAT_LTD_TRAIN_ID) : NULL;
    if (!ext || ext->struct_size < sizeof *ext) FAIL(EXIT_INPUT, "the ltd plugin lacks the extension %s", DSTRAT_LTD_TRAIN_ID);
    dstrat_ltd_layout_t layout = {.struct_size = sizeof layout};
    if (ext->get_layout(pl.strat, &layout) != DSTRAT_OK) FAIL(EXIT_RUNTIME, "ltd get_layout failed");
    uint32_t max_v = 1;
    for (uint32_t i = 0; i < layout.n_sizes; i++)
        if (layout.sizes[i] > max_v) max_v = layout.sizes[i];

    out_ids = malloc((size_t) cfg->limits.max_tokens * sizeof *out_ids);
    if (!out_ids) FAIL(EXIT_RUNTIME, "out of memory");
    run_user_t ru = {models.target.tok};
    const uint32_t room = pl.sp.max_tree_nodes + 1;

    /* ---- the cost model: given, or calibrated on a warm-up generation of the first prompt */
    if (S.reward == LO_REWARD_MODEL && !o_cost) {
        calib_t cal = {0};
        const dstrat_ltd_hooks_t ch = {sizeof ch, &cal, calib_decide, calib_cycle};
        if (ext->set_hooks(pl.strat, &ch) != DSTRAT_OK) FAIL(EXIT_RUNTIME, "ltd set_hooks failed");
        uint32_t n_prompt = 0;
        int32_t *ids = cli_tokenize(models.target.tok, prompts[0], 1, &n_prompt, err, sizeof err);
        if (!ids) FAIL(EXIT_RUNTIME, "prompt 1: %s", err);
        sess_run_t run = {.prompt = ids, .n_prompt = n_prompt, .max_new = cfg->limits.max_tokens < 64 ? cfg->limits.max_tokens : 64,
                          .is_eog = is_eog, .user = &ru, .out = out_ids};
        const int64_t n_gen = pipeline_generate(&pl, &run, err, sizeof err);
        free(ids);
        ext->set_hooks(pl.strat, NULL);
        if (n_gen < 0) FAIL(EXIT_RUNTIME, "calibration run: %s", err);
        double a_ms, b_ms;
        if (fit_verify(&models, max_v + 1, &a_ms, &b_ms) != 0)
            FAIL(EXIT_RUNTIME, "timing forwards failed: %s", models.backend.error(models.backend.ctx));
        S.cost.draft_call_ms = round4(cal.calls ? (double) cal.draft_ns / 1e6 / (double) cal.calls : 0.0);
        S.cost.verify_a_ms = round4(a_ms);
        S.cost.verify_b_ms = round4(b_ms);
        fprintf(stderr, "[ltd-train] calibrated cost model: --cost draft_call_ms=%.4g,verify_a_ms=%.4g,verify_b_ms=%.4g\n",
                S.cost.draft_call_ms, S.cost.verify_a_ms, S.cost.verify_b_ms);
    }

    if ((rc = lo_init(&T, &layout, &S, err, sizeof err)) != 0) FAIL(EXIT_USAGE, "%s", err);
    have_trainer = 1;
    const dstrat_ltd_hooks_t hooks = lo_hooks(&T);
    if (ext->set_hooks(pl.strat, &hooks) != DSTRAT_OK) FAIL(EXIT_RUNTIME, "ltd set_hooks failed");
    hooks_set = 1;

    /* ---- training: prompts in order, repeated, until every stage has its cycles; validation
     * passes over the held-out prompts when the trainer asks for them */
    const uint64_t total = S.steps * S.n_stages, t_start = mono_ns();
    uint64_t n_tokens = 0, n_runs = 0, skipped = 0, val_cycles = 0;
    for (int i = 0; !lo_finished(&T);) {
        if (lo_needs_validation(&T)) {
            lo_eval_begin(&T);
            for (int v = n_train; v < n_prompts; v++) {
                uint32_t n_prompt = 0;
                int32_t *ids = cli_tokenize(models.target.tok, prompts[v], 1, &n_prompt, err, sizeof err);
                if (!ids) FAIL(EXIT_RUNTIME, "prompt %d: %s", v + 1, err);
                if (n_prompt + cfg->limits.max_tokens + room > cfg->limits.n_ctx) {
                    free(ids);
                    continue;
                }
                sess_run_t run = {.prompt = ids, .n_prompt = n_prompt, .max_new = cfg->limits.max_tokens,
                                  .is_eog = is_eog, .user = &ru, .out = out_ids};
                const int64_t n_gen = pipeline_generate(&pl, &run, err, sizeof err);
                free(ids);
                if (n_gen < 0) FAIL(EXIT_RUNTIME, "validation prompt %d: %s", v + 1, err);
            }
            uint64_t nc = 0;
            const double rate = lo_eval_end(&T, &nc);
            if (T.failed) FAIL(EXIT_RUNTIME, "%s", T.error);
            val_cycles += nc;
            lo_checkpoint(&T, rate);
            if (lo_awaiting(&T)) lo_next_stage(&T);
            if (T.failed) FAIL(EXIT_RUNTIME, "%s", T.error);
            continue;
        }
        if (lo_awaiting(&T)) { /* rollout selection: cannot happen (stages advance alone) */
            lo_next_stage(&T);
            continue;
        }
        uint32_t n_prompt = 0;
        int32_t *ids = cli_tokenize(models.target.tok, prompts[i], 1, &n_prompt, err, sizeof err);
        if (!ids) FAIL(EXIT_RUNTIME, "prompt %d: %s", i + 1, err);
        if (n_prompt + cfg->limits.max_tokens + room > cfg->limits.n_ctx) {
            free(ids);
            if (++skipped >= (uint64_t) n_train) FAIL(EXIT_INPUT, "no training prompt fits the context");
            i = (i + 1) % n_train;
            continue;
        }
        skipped = 0;
        sess_run_t run = {.prompt = ids, .n_prompt = n_prompt, .max_new = cfg->limits.max_tokens, .is_eog = is_eog,
                          .user = &ru, .out = out_ids};
        const int64_t n_gen = pipeline_generate(&pl, &run, err, sizeof err);
        free(ids);
        if (n_gen < 0) FAIL(EXIT_RUNTIME, "prompt %d: %s", i + 1, err);
        lo_end_sequence(&T);
        if (T.failed) FAIL(EXIT_RUNTIME, "%s", T.error);
        n_tokens += (uint64_t) n_gen;
        n_runs++;
        i = (i + 1) % n_train;
        if (!quiet) {
            const uint32_t st = T.stage < S.n_stages ? T.stage : S.n_stages - 1;
            const uint64_t done = (uint64_t) T.stage * S.steps + (lo_finished(&T) ? 0 : T.stage_cycles);
            const double el = (double) (mono_ns() - t_start) / 1e9;
            const double eta = done ? el * (double) (total - done) / (double) done : 0.0;
            const int w = 24, fill = (int) ((double) w * (double) done / (double) total);
            fprintf(stderr, "\r[ltd-train] [%.*s%*s] stage %u/%u %-5s %llu/%llu cycles, %llu prompts, rollout %.3f, "
                            "val best %.3f tok/ms, %.0f s, ETA %dm%02ds   ",
                    fill, "########################", w - fill, "", st + 1, S.n_stages,
                    S.stages[st] == DSTRAT_LTD_DEPTH ? "depth" : "size", (unsigned long long) done,
                    (unsigned long long) total, (unsigned long long) n_runs, T.res[st].last_rate, T.res[st].val_best,
                    el, (int) eta / 60, (int) eta % 60);
            fflush(stderr);
        }
    }
    if (!quiet) fputc('\n', stderr);
    ext->set_hooks(pl.strat, NULL);
    hooks_set = 0;
    for (uint32_t i = 0; i < S.n_stages; i++) print_stage(&T, i);

    /* ---- the file */
    {
        enum { NX = 40 };
        dspf_kv_t kv[NX];
        char vals[NX][300], keys[NX][64];
        uint32_t n = 0;
        char target[256], draft[256];
        model_name(model_path, target, sizeof target);
        if (pl.draft_kind == CONFIG_DRAFT_MODEL) model_name(pl.draft_path, draft, sizeof draft);
        else snprintf(draft, sizeof draft, "%s", config_draft_kind_name(pl.draft_kind));
        const char *pb = strrchr(prompts_path, '/');
#define X(K, ...)                                                                              \
    do {                                                                                       \
        snprintf(keys[n], sizeof keys[n], "%s", K);                                            \
        snprintf(vals[n], sizeof vals[n], __VA_ARGS__);                                        \
        kv[n] = (dspf_kv_t) {keys[n], vals[n]};                                                \
        n++;                                                                                   \
    } while (0)
        X("target", "%s", target);
        X("draft", "%s", draft);
        X("train.prompts", "%s", pb ? pb + 1 : prompts_path);
        X("train.max_tokens", "%u", cfg->limits.max_tokens);
        X("train.temperature", "%g", cfg->sampling.temperature);
        X("train.val_prompts", "%u", n_val);
        X("train.host", "refhost 0.1.0");
        for (uint32_t i = 0; i < pl.n_params && n + 1 < NX; i++) {
            char k[64];
            snprintf(k, sizeof k, "train.param.%s", pl.params[i].key);
            int ok = 1;
            for (const char *p = k; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-')) ok = 0;
            if (ok) X(k, "%s", pl.params[i].value);
        }
#undef X
        if (lo_save(&T, out_path, kv, n, err, sizeof err) != 0) FAIL(EXIT_RUNTIME, "%s", err);
    }
    fprintf(stderr, "[ltd-train] %s: %llu training prompts, %llu tokens, %llu validation cycles, %.1f s\n", out_path,
            (unsigned long long) n_runs, (unsigned long long) n_tokens, (unsigned long long) val_cycles,
            (double) (mono_ns() - t_start) / 1e9);
out:
    if (hooks_set && ext) ext->set_hooks(pl.strat, NULL);
    pipeline_close(&pl);
    pipeline_models_close(&models);
    if (have_trainer) lo_free(&T);
    free(prompts);
    free(text);
    free(out_ids);
    config_free(cfg);
    cli_params_free(&cli_params);
    return rc;
#undef FAIL
}
