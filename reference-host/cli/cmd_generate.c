/* cmd_generate.c - refhost generate: prompt -> text with the configured decoding strategy.
 *
 * Order matters for users: everything that can be checked without the model (command line,
 * YAML, plugin, strategy parameters, draft requirements) is checked first, so a typo fails in
 * milliseconds instead of after loading weights. The setup itself is cli_pipeline's, shared with
 * bench. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "cli_pipeline.h"
#include "config.h"
#include "kernels.h"


static void usage(FILE *f) {
    fputs("usage: refhost generate [options]\n"
          "  --model PATH          target GGUF (default: $DSTRAT_MODEL or models/SmolLM2-135M-Instruct.Q4_1.gguf)\n"
          "  --prompt TEXT         the prompt; or --prompt-file PATH ('-' = stdin); default: stdin\n"
          "  --chat                render the prompt as one ChatML user turn\n"
          "  --config FILE         YAML: strategy, its params, sampling, limits, draft (see config/)\n"
          "  --strategy NAME|PATH  strategy plugin (overrides the config; default: ar)\n"
          "  --id ID               strategy id inside the plugin (default: its first)\n"
          "  --param KEY=VALUE     strategy parameter (repeatable; overrides the config)\n"
          "  --draft KIND          none | ngram | model:PATH | head:PATH | mix:PATH (overrides the config)\n"
          "  --max-tokens N        tokens to generate (default 256)\n"
          "  --temperature T       0 = greedy (default 0)\n"
          "  --top-k K  --top-p P  --seed S\n"
          "  --threads N           CPU threads (default: all cores)\n"
          "  --n-ctx N             context size in tokens (default 2048)\n"
          "  --fast                allow batch-dependent kernels (faster, not bit-identical to AR)\n"
          "  --llama-compat        llama.cpp's summation orders: output bit-identical to llama.cpp's CPU\n"
          "                        backend (batch-dependent attention order, so not bit-identical to AR)\n"
          "  --json                print one JSON object with text, tokens and statistics on stdout\n"
          "  --quiet               do not stream the text\n"
          "  --dump-logits FILE    write the float32 logits each generated token was chosen from\n"
          "exit codes: 0 ok, 2 bad command line or config, 3 unreadable/invalid input file, 4 generation failed\n",
          f);
}

typedef struct gen_out {
    const tokenizer_t *tok;
    tok_stream_t stream;
    int stream_stdout;
    char *text;           /* accumulated text for --json */
    size_t n_text, cap_text;
    FILE *dump;
} gen_out_t;

static void text_append(gen_out_t *g, const char *s, size_t n) {
    if (g->stream_stdout) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
    if (g->n_text + n + 1 > g->cap_text) {
        size_t cap = (g->n_text + n + 1) * 2;
        char *t = realloc(g->text, cap);
        if (!t) return;
        g->text = t;
        g->cap_text = cap;
    }
    memcpy(g->text + g->n_text, s, n);
    g->n_text += n;
    g->text[g->n_text] = '\0';
}

static int on_token(void *user, int32_t token) {
    gen_out_t *g = (gen_out_t *) user;
    char buf[512];
    size_t n = tok_stream_feed(g->tok, &g->stream, token, buf, sizeof buf);
    text_append(g, buf, n);
    return 0;
}

static int is_eog(void *user, int32_t token) { return tok_is_eog(((gen_out_t *) user)->tok, token); }

static void dump_logits(void *user, const float *logits, uint32_t n_vocab) {
    gen_out_t *g = (gen_out_t *) user;
    if (g->dump) fwrite(logits, sizeof(float), n_vocab, g->dump);
}

static double ms(uint64_t ns) { return (double) ns / 1e6; }

int cmd_generate(int argc, char **argv) {
    enum { O_MODEL = 1000, O_PROMPT, O_PROMPT_FILE, O_CHAT, O_CONFIG, O_STRATEGY, O_ID, O_PARAM, O_DRAFT,
           O_MAX, O_TEMP, O_TOPK, O_TOPP, O_SEED, O_THREADS, O_NCTX, O_FAST, O_COMPAT, O_JSON, O_QUIET, O_DUMP, O_HELP };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL}, {"prompt", required_argument, 0, O_PROMPT},
        {"prompt-file", required_argument, 0, O_PROMPT_FILE}, {"chat", no_argument, 0, O_CHAT},
        {"config", required_argument, 0, O_CONFIG}, {"strategy", required_argument, 0, O_STRATEGY},
        {"id", required_argument, 0, O_ID}, {"param", required_argument, 0, O_PARAM},
        {"draft", required_argument, 0, O_DRAFT}, {"max-tokens", required_argument, 0, O_MAX},
        {"temperature", required_argument, 0, O_TEMP}, {"top-k", required_argument, 0, O_TOPK},
        {"top-p", required_argument, 0, O_TOPP}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"n-ctx", required_argument, 0, O_NCTX},
        {"fast", no_argument, 0, O_FAST}, {"llama-compat", no_argument, 0, O_COMPAT}, {"json", no_argument, 0, O_JSON}, {"quiet", no_argument, 0, O_QUIET},
        {"dump-logits", required_argument, 0, O_DUMP}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
    };
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL, *config_path = NULL;
    const char *strategy = NULL, *strategy_id = NULL, *draft_arg = NULL, *dump_path = NULL;
    const char *o_max = NULL, *o_temp = NULL, *o_topk = NULL, *o_topp = NULL, *o_seed = NULL, *o_threads = NULL,
               *o_nctx = NULL;
    int chat = 0, fast = 0, json = 0, quiet = 0, c;
    cli_params_t cli_params = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: model_path = optarg; break;
        case O_PROMPT: prompt = optarg; break;
        case O_PROMPT_FILE: prompt_file = optarg; break;
        case O_CHAT: chat = 1; break;
        case O_CONFIG: config_path = optarg; break;
        case O_STRATEGY: strategy = optarg; break;
        case O_ID: strategy_id = optarg; break;
        case O_PARAM: {
            char why[512];
            const int prc = cli_params_add(&cli_params, optarg, why, sizeof why);
            if (prc != 0) {
                fprintf(stderr, "refhost generate: %s\n", why);
                cli_params_free(&cli_params);
                return prc;
            }
            break;
        }
        case O_DRAFT: draft_arg = optarg; break;
        case O_MAX: o_max = optarg; break;
        case O_TEMP: o_temp = optarg; break;
        case O_TOPK: o_topk = optarg; break;
        case O_TOPP: o_topp = optarg; break;
        case O_SEED: o_seed = optarg; break;
        case O_THREADS: o_threads = optarg; break;
        case O_NCTX: o_nctx = optarg; break;
        case O_FAST: fast = 1; break;
        case O_COMPAT: fast = 2; break;
        case O_JSON: json = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_DUMP: dump_path = optarg; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    int rc = 0;
    char err[2048];
    config_t *cfg = NULL;
    pipeline_t pl = {0};
    pipeline_models_t models = {0};
    char *text_in = NULL;
    int32_t *prompt_ids = NULL, *out_ids = NULL;
    gen_out_t g = {0};

#define FAIL(code, ...)                                   \
    do {                                                  \
        fprintf(stderr, "refhost generate: " __VA_ARGS__); \
        fputc('\n', stderr);                              \
        rc = (code);                                      \
        goto out;                                         \
    } while (0)

    if (optind < argc) FAIL(EXIT_USAGE, "unexpected argument '%s' (see --help)", argv[optind]);
    if (prompt && prompt_file) FAIL(EXIT_USAGE, "give only one of --prompt and --prompt-file");

    /* ---- configuration: YAML, then command-line overrides */
    cfg = config_path ? config_load_file(config_path, err, sizeof err) : config_defaults();
    if (!cfg) FAIL(EXIT_USAGE, "%s", config_path ? err : "out of memory");
    const pipeline_cli_values_t cv = {o_max, o_temp, o_topk, o_topp, o_seed, o_threads, o_nctx};
    if (pipeline_apply_cli_values(cfg, &cv, err, sizeof err) != 0) FAIL(EXIT_USAGE, "%s", err);
    /* ---- strategy plugin, its parameters and the draft kind, before any model work */
    pipeline_overrides_t ov = {.strategy = strategy, .strategy_id = strategy_id, .params = cli_params.p,
                               .n_params = cli_params.n, .draft = draft_arg};
    if ((rc = pipeline_prepare(&pl, cfg, &ov, err, sizeof err)) != 0) FAIL(rc, "%s", err);

    /* ---- prompt */
    if (prompt_file || !prompt) {
        const char *src = prompt_file ? prompt_file : "-";
        if (!prompt_file && isatty(STDIN_FILENO)) FAIL(EXIT_USAGE, "no prompt: use --prompt, --prompt-file or stdin");
        if (!(text_in = cli_read_file(src, NULL, err, sizeof err))) FAIL(EXIT_INPUT, "%s", err);
        prompt = text_in;
    }

    /* ---- models, session, strategy */
    if (!model_path) model_path = cfg->model.path ? cfg->model.path : cli_default_model();
    const llm_ctx_params_t cp = pipeline_ctx_params(cfg, fast == 2 ? KN_MODE_LLAMA : fast ? KN_MODE_FAST : KN_MODE_EXACT);
    if ((rc = pipeline_models_open(&models, model_path, &cp, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    uint32_t n_prompt = 0;
    prompt_ids = cli_tokenize(models.target.tok, prompt, chat, &n_prompt, err, sizeof err);
    if (!prompt_ids) FAIL(EXIT_RUNTIME, "%s", err);
    if (n_prompt == 0) FAIL(EXIT_USAGE, "the prompt is empty");
    if (n_prompt + 1 > cfg->limits.n_ctx)
        FAIL(EXIT_USAGE, "the prompt has %u tokens, more than the context of %u tokens allows (raise --n-ctx or limits.n_ctx)",
             n_prompt, cfg->limits.n_ctx);
    if ((rc = pipeline_open(&pl, &models, err, sizeof err)) != 0) FAIL(rc, "%s", err);
    const dstrat_strategy_desc_t *desc = pl.desc;
    const uint32_t draft_kind = pl.draft_kind;

    /* ---- generate */
    g.tok = models.target.tok;
    g.stream_stdout = !json && !quiet;
    if (dump_path && !(g.dump = fopen(dump_path, "wb"))) FAIL(EXIT_INPUT, "cannot write %s", dump_path);
    out_ids = malloc((size_t) cfg->limits.max_tokens * sizeof *out_ids);
    if (!out_ids) FAIL(EXIT_RUNTIME, "out of memory");
    sess_run_t run = {
        .prompt = prompt_ids, .n_prompt = n_prompt, .max_new = cfg->limits.max_tokens,
        .is_eog = is_eog, .on_token = on_token, .logits_dump = dump_path ? dump_logits : NULL,
        .user = &g, .out = out_ids,
    };
    int64_t n_gen = pipeline_generate(&pl, &run, err, sizeof err);
    char tail[16];
    size_t nt = tok_stream_flush(&g.stream, tail, sizeof tail);
    text_append(&g, tail, nt);
    if (g.stream_stdout) fputc('\n', stdout);
    if (n_gen < 0) FAIL(EXIT_RUNTIME, "%s", err);

    const sess_stats_t *st = pipeline_stats(&pl);
    const double dec_s = (double) st->t_decode_ns / 1e9;
    const double tps = dec_s > 0 ? (double) n_gen / dec_s : 0;
    const double cyc = st->n_cycles ? (double) st->n_cycles : 1;
    const double tau = (double) n_gen / cyc;
    const double other = ms(st->t_decode_ns) - ms(st->t_draft_ns) - ms(st->t_verify_ns) - ms(st->t_strategy_ns);
    fprintf(stderr,
            "\n[refhost] strategy %s | prompt %u tokens, prefill %.1f ms | generated %lld tokens in %.1f ms: %.2f tokens/s\n"
            "[refhost] cycles %llu, tau %.3f tokens/cycle, draft calls/cycle %.2f, verified/cycle %.2f\n"
            "[refhost] time: draft %.1f ms, verify %.1f ms, strategy %.1f ms, other %.1f ms (%s kernels, %s)\n",
            desc->id, n_prompt, ms(st->t_prefill_ns), (long long) n_gen, ms(st->t_decode_ns), tps,
            (unsigned long long) st->n_cycles, tau, (double) st->n_draft_calls / cyc, (double) st->n_verified / cyc,
            ms(st->t_draft_ns), ms(st->t_verify_ns), ms(st->t_strategy_ns), other, kn_isa_name(),
            fast == 2 ? "llama.cpp-compatible mode" : fast ? "fast mode" : "exact mode");
    if (json) {
        printf("{\"strategy\": ");
        cli_json_str(stdout, desc->id, strlen(desc->id));
        printf(", \"draft\": \"%s\", \"temperature\": %g, \"seed\": %llu, \"n_prompt\": %u, \"n_gen\": %lld, "
               "\"prefill_ms\": %.3f, \"decode_ms\": %.3f, \"tokens_per_s\": %.3f, \"cycles\": %llu, \"tau\": %.4f, "
               "\"draft_calls_per_cycle\": %.4f, \"verified_per_cycle\": %.4f, \"draft_ms\": %.3f, \"verify_ms\": %.3f, "
               "\"strategy_ms\": %.3f, \"text\": ",
               config_draft_kind_name(draft_kind), cfg->sampling.temperature, (unsigned long long) cfg->sampling.seed,
               n_prompt, (long long) n_gen, ms(st->t_prefill_ns), ms(st->t_decode_ns), tps,
               (unsigned long long) st->n_cycles, tau, (double) st->n_draft_calls / cyc,
               (double) st->n_verified / cyc, ms(st->t_draft_ns), ms(st->t_verify_ns), ms(st->t_strategy_ns));
        cli_json_str(stdout, g.text ? g.text : "", g.n_text);
        printf(", \"prompt_tokens\": [");
        for (uint32_t i = 0; i < n_prompt; i++) printf(i ? ", %d" : "%d", prompt_ids[i]);
        printf("], \"tokens\": [");
        for (int64_t i = 0; i < n_gen; i++) printf(i ? ", %d" : "%d", out_ids[i]);
        printf("]}\n");
    }
out:
    if (g.dump) fclose(g.dump);
    free(g.text);
    pipeline_close(&pl);
    pipeline_models_close(&models);
    free(out_ids);
    free(prompt_ids);
    free(text_in);
    config_free(cfg);
    cli_params_free(&cli_params);
    return rc;
#undef FAIL
}
