/* cli_pipeline.c - see cli_pipeline.h */
#include "cli_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "params.h"

/* Draft parameters by kind (draft.params in a config). */
#define DP(type, key, def, lo, hi, help) {sizeof(dstrat_param_desc_t), type, key, def, lo, hi, NULL, help}
#define DP_LOOKUP                                                                                               \
    DP(DSTRAT_PARAM_INT, "min_n", "1", 1, 16, "shortest n-gram matched"),                                      \
    DP(DSTRAT_PARAM_INT, "max_n", "4", 1, 16, "longest n-gram matched (tried first)"),                         \
    DP(DSTRAT_PARAM_INT, "max_matches", "64", 1, 256, "earlier occurrences examined per node, most recent first"), \
    DP(DSTRAT_PARAM_STRING, "table", "", 0, 0, "static n-gram table (refhost ngram-table), relative to the config"), \
    DP(DSTRAT_PARAM_INT, "table_below", "2", 1, 16, "use the table when the text matches fewer tokens than this"), \
    DP(DSTRAT_PARAM_FLOAT, "table_discount", "0", 0, 1000, "pseudo-count of a table context's unseen continuations")
#define DP_HEAD DP(DSTRAT_PARAM_INT, "vocab", "0", 0, 1000000, "keep the N most frequent draft tokens (0 = all)")
static const dstrat_param_desc_t ngram_dparams[] = {DP_LOOKUP};
static const dstrat_param_desc_t head_dparams[] = {DP_HEAD};
static const dstrat_param_desc_t mix_dparams[] = {
    DP_LOOKUP, DP_HEAD,
    DP(DSTRAT_PARAM_FLOAT, "lookup_weight", "0.5", 0, 1, "share of the n-gram's proposals when it has a match"),
};
#undef DP
#define N_OF(a) ((uint32_t) (sizeof a / sizeof a[0]))
static const struct {
    uint32_t kind;
    const dstrat_param_desc_t *descs;
    uint32_t n;
} dparams_by_kind[] = {
    {CONFIG_DRAFT_NGRAM, ngram_dparams, N_OF(ngram_dparams)},
    {CONFIG_DRAFT_HEAD, head_dparams, N_OF(head_dparams)},
    {CONFIG_DRAFT_MIX, mix_dparams, N_OF(mix_dparams)},
};

int pipeline_draft_params(uint32_t kind, const char *file, const char *dir, const config_params_t *given,
                          pipeline_draft_params_t *out, char *err, size_t cap) {
    const dstrat_param_desc_t *d = NULL;
    uint32_t nd = 0;
    for (uint32_t i = 0; i < N_OF(dparams_by_kind); i++)
        if (dparams_by_kind[i].kind == kind) {
            d = dparams_by_kind[i].descs;
            nd = dparams_by_kind[i].n;
        }
    const uint32_t n = given ? given->n : 0;
    const uint32_t line = given ? given->map_line : 0;
    const char *name = config_draft_kind_name(kind);
    if (!file) file = "<config>";
    char why[768];
    dsp_value_t v[N_OF(mix_dparams)];
    if (nd == 0 && n > 0) {
        snprintf(err, cap, "%s:%u: draft kind '%s' takes no params (given '%s')", file, given->line[0], name,
                 given->params[0].key);
        return EXIT_USAGE;
    }
    if (dsp_parse(d, nd, n ? given->params : NULL, n, v, why, sizeof why) != 0) {
        snprintf(err, cap, "%s:%u: draft kind '%s': %s", file, line, name, why);
        return EXIT_USAGE;
    }
    memset(out, 0, sizeof *out);
    if (dsp_find(d, nd, "min_n") >= 0) { /* the n-gram lookup: kinds ngram and mix */
        out->ngram.min_n = (uint32_t) dsp_get_int(d, nd, v, "min_n");
        out->ngram.max_n = (uint32_t) dsp_get_int(d, nd, v, "max_n");
        out->ngram.max_matches = (uint32_t) dsp_get_int(d, nd, v, "max_matches");
        out->ngram.table_below = (uint32_t) dsp_get_int(d, nd, v, "table_below");
        out->ngram.table_discount = (float) dsp_get_float(d, nd, v, "table_discount");
        if (out->ngram.min_n > out->ngram.max_n) {
            snprintf(err, cap, "%s:%u: draft kind '%s': min_n %u is above max_n %u", file, line, name,
                     out->ngram.min_n, out->ngram.max_n);
            return EXIT_USAGE;
        }
        const char *t = dsp_get_str(d, nd, v, "table");
        if (*t) {
            char *r = config_path_join(dir && *dir ? dir : ".", t);
            const int oom = !r, fits = r && strlen(r) < sizeof out->table;
            if (fits) memcpy(out->table, r, strlen(r) + 1);
            free(r);
            if (!fits) {
                snprintf(err, cap, "%s:%u: draft kind '%s': %s", file, line, name,
                         oom ? "out of memory" : "table path too long");
                return oom ? EXIT_RUNTIME : EXIT_USAGE;
            }
        }
    }
    if (dsp_find(d, nd, "vocab") >= 0) out->head_vocab = (uint32_t) dsp_get_int(d, nd, v, "vocab");
    if (dsp_find(d, nd, "lookup_weight") >= 0) out->lookup_weight = (float) dsp_get_float(d, nd, v, "lookup_weight");
    return 0;
}

int pipeline_prepare(pipeline_t *p, const config_t *cfg, const pipeline_overrides_t *o, char *err,
                     size_t cap) {
    static const pipeline_overrides_t none = {0};
    if (!o) o = &none;
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->draft_path = cfg->draft.path;
    p->draft_kind = cfg->draft.kind;
    if (o->draft) {
        if (!strcmp(o->draft, "none")) p->draft_kind = CONFIG_DRAFT_NONE;
        else if (!strcmp(o->draft, "ngram")) p->draft_kind = CONFIG_DRAFT_NGRAM;
        else if (!strncmp(o->draft, "model:", 6) && o->draft[6]) {
            p->draft_kind = CONFIG_DRAFT_MODEL;
            p->draft_path = o->draft + 6;
        } else if (!strncmp(o->draft, "head:", 5) && o->draft[5]) {
            p->draft_kind = CONFIG_DRAFT_HEAD;
            p->draft_path = o->draft + 5;
        } else if (!strncmp(o->draft, "mix:", 4) && o->draft[4]) {
            p->draft_kind = CONFIG_DRAFT_MIX;
            p->draft_path = o->draft + 4;
        } else {
            snprintf(err, cap, "--draft must be none, ngram, model:PATH, head:PATH or mix:PATH, got '%s'", o->draft);
            return EXIT_USAGE;
        }
    }
    if ((p->draft_kind == CONFIG_DRAFT_HEAD || p->draft_kind == CONFIG_DRAFT_MIX) && !p->draft_path) {
        snprintf(err, cap, "draft kind '%s' needs draft.path (a head trained for this target, e.g. policies/draft_head/smollm2-135m-eagle3.gguf)",
                 config_draft_kind_name(p->draft_kind));
        return EXIT_USAGE;
    }
    /* the config's draft params belong to the config's draft kind, not to one --draft replaced */
    int rc = pipeline_draft_params(p->draft_kind, cfg->file, cfg->dir, o->draft ? NULL : &cfg->draft.params,
                                   &p->dparams, err, cap);
    if (rc != 0) return rc;
    if (p->draft_kind == CONFIG_DRAFT_MODEL && !p->draft_path) {
        snprintf(err, cap, "draft kind 'model' needs draft.path");
        return EXIT_USAGE;
    }

    /* the plugin and its parameters, before any model work */
    const char *plugin = o->strategy ? o->strategy : (cfg->strategy.plugin ? cfg->strategy.plugin : "ar");
    const char *sid = o->strategy_id ? o->strategy_id : (o->strategy ? NULL : cfg->strategy.id);
    p->lib = loader_open(plugin, (const char *const *) cfg->plugin_path, cfg->n_plugin_path, err, cap);
    if (!p->lib) return EXIT_INPUT;
    p->desc = loader_find(p->lib, sid, err, cap);
    if (!p->desc) return EXIT_USAGE;
    p->params = calloc(cfg->strategy.params.n + o->n_params + 1, sizeof *p->params);
    if (!p->params) {
        snprintf(err, cap, "out of memory");
        return EXIT_RUNTIME;
    }
    if (!o->strategy && cfg->strategy.params.n) {
        if (config_check_params(cfg, p->desc, err, cap) != 0) return EXIT_USAGE;
        /* the config is the caller's, but resolving its PATH params belongs to setup */
        if (!o->paths_resolved && config_resolve_param_paths((config_t *) cfg, p->desc) != 0) {
            snprintf(err, cap, "out of memory");
            return EXIT_RUNTIME;
        }
        for (uint32_t i = 0; i < cfg->strategy.params.n; i++) {
            int overridden = 0;
            for (uint32_t j = 0; j < o->n_params; j++)
                overridden |= !strcmp(o->params[j].key, cfg->strategy.params.params[i].key);
            if (!overridden) p->params[p->n_params++] = cfg->strategy.params.params[i];
        }
    }
    for (uint32_t j = 0; j < o->n_params; j++) p->params[p->n_params++] = o->params[j];
    char why[1024];
    if (dsp_parse(p->desc->params, p->desc->n_params, p->params, p->n_params, NULL, why, sizeof why) != 0) {
        snprintf(err, cap, "strategy '%s': %s", p->desc->id, why);
        return EXIT_USAGE;
    }
    if ((p->desc->required_caps & DSTRAT_CAP_DRAFT) && p->draft_kind == CONFIG_DRAFT_NONE) {
        snprintf(err, cap,
                 "strategy '%s' needs a draft: set draft.kind in the config or pass --draft ngram|model:PATH|head:PATH|mix:PATH",
                 p->desc->id);
        return EXIT_USAGE;
    }
    p->sp = (sess_params_t) {
        .sampling = {(float) cfg->sampling.temperature, (int32_t) cfg->sampling.top_k, (float) cfg->sampling.top_p},
        .seed = cfg->sampling.seed,
        .max_tree_nodes = cfg->limits.max_tree_nodes,
        .max_tree_depth = cfg->limits.max_tree_depth,
    };
    return 0;
}

llm_ctx_params_t pipeline_ctx_params(const config_t *cfg, int kn_mode) {
    const uint32_t max_nodes = cfg->limits.max_tree_nodes;
    return (llm_ctx_params_t) {.n_ctx = cfg->limits.n_ctx, .max_batch = max_nodes > 64 ? max_nodes : 64,
                               .n_threads = (int) cfg->model.threads,
                               .mode = kn_mode};
}

int pipeline_models_open(pipeline_models_t *m, const char *path, const llm_ctx_params_t *cp, char *err,
                         size_t cap) {
    memset(m, 0, sizeof *m);
    m->cp = *cp;
    if (!(m->path = strdup(path))) {
        snprintf(err, cap, "out of memory");
        return EXIT_RUNTIME;
    }
    if (cli_model_open(&m->target, path, err, cap) != 0) return EXIT_INPUT;
    if (!(m->ctx = llm_ctx_create(m->target.model, cp, err, cap))) return EXIT_RUNTIME;
    mb_target_init(&m->backend, m->ctx);
    return 0;
}

void pipeline_models_close(pipeline_models_t *m) {
    for (uint32_t i = 0; i < m->n_drafts; i++) {
        pipeline_draft_model_t *d = &m->drafts[i];
        llm_ctx_free(d->ctx);
        mb_draft_model_free(&d->state);
        cli_model_close(&d->m);
        free(d->path);
    }
    llm_ctx_free(m->ctx);
    cli_model_close(&m->target);
    free(m->path);
    memset(m, 0, sizeof *m);
}

/* The shared draft model for path, opened on first use. */
static pipeline_draft_model_t *draft_model(pipeline_models_t *m, const char *path, int *rc, char *err,
                                           size_t cap) {
    for (uint32_t i = 0; i < m->n_drafts; i++)
        if (!strcmp(m->drafts[i].path, path)) return &m->drafts[i];
    if (m->n_drafts == PIPELINE_MAX_DRAFT_MODELS) {
        snprintf(err, cap, "more than %d different draft models", PIPELINE_MAX_DRAFT_MODELS);
        *rc = EXIT_USAGE;
        return NULL;
    }
    pipeline_draft_model_t *d = &m->drafts[m->n_drafts];
    memset(d, 0, sizeof *d);
    char why[1536];
    if (cli_model_open(&d->m, path, why, sizeof why) != 0) {
        snprintf(err, cap, "draft model: %s", why);
        *rc = EXIT_INPUT;
        return NULL;
    }
    const uint32_t nv = llm_model_hparams(d->m.model)->n_vocab;
    if (nv != m->backend.n_vocab) {
        snprintf(err, cap, "draft model %s has a vocabulary of %u tokens, the target %u", path, nv,
                 m->backend.n_vocab);
        cli_model_close(&d->m);
        *rc = EXIT_INPUT;
        return NULL;
    }
    if (!(d->ctx = llm_ctx_create(d->m.model, &m->cp, why, sizeof why)) || !(d->path = strdup(path))) {
        snprintf(err, cap, "draft: %s", d->ctx ? "out of memory" : why);
        llm_ctx_free(d->ctx);
        cli_model_close(&d->m);
        *rc = EXIT_RUNTIME;
        return NULL;
    }
    mb_draft_model_init(&d->draft, &d->state, d->ctx);
    m->n_drafts++;
    return d;
}

int pipeline_open(pipeline_t *p, pipeline_models_t *m, char *err, size_t cap) {
    p->models = m;
    const sess_draft_t *draftp = NULL;
    if (p->draft_kind == CONFIG_DRAFT_MODEL) {
        int rc = 0;
        pipeline_draft_model_t *d = draft_model(m, p->draft_path, &rc, err, cap);
        if (!d) return rc;
        draftp = &d->draft;
    }
    if (p->draft_kind == CONFIG_DRAFT_NGRAM || p->draft_kind == CONFIG_DRAFT_MIX) {
        if (p->dparams.table[0]) {
            uint64_t fp = 0;
            if (fh_target_fingerprint(m->target.gguf, llm_model_hparams(m->target.model), &fp, err, cap) != 0 ||
                !(p->table = ngram_table_load(p->dparams.table, m->backend.n_vocab, fp, err, cap)))
                return EXIT_INPUT;
            p->dparams.ngram.table = p->table;
        }
        if (!(p->ngram = ngram_draft_new(m->backend.n_vocab, &p->dparams.ngram))) {
            snprintf(err, cap, "out of memory");
            return EXIT_RUNTIME;
        }
        ngram_draft_backend(p->ngram, &p->ngram_backend);
        draftp = &p->ngram_backend;
    }
    if (p->draft_kind == CONFIG_DRAFT_HEAD || p->draft_kind == CONFIG_DRAFT_MIX) {
        /* Q8_0 re-encoding makes a draft call ~2.5x cheaper than the file's F16 */
        const feature_head_opts_t ho = {.wtype = GGML_TYPE_Q8_0, .lm_type = GGML_TYPE_F32,
                                        .vocab = p->dparams.head_vocab};
        if (feature_head_backend_open_opts(&p->head, p->draft_path, m->target.gguf, m->target.model, m->ctx,
                                           (int) m->cp.n_threads, &ho, &p->head_backend, err, cap) != 0)
            return EXIT_INPUT;
        draftp = &p->head_backend;
    }
    if (p->draft_kind == CONFIG_DRAFT_MIX) {
        if (!(p->mix = mix_draft_new(&p->head_backend, &p->ngram_backend, m->backend.n_vocab,
                                     p->dparams.lookup_weight, err, cap)))
            return EXIT_RUNTIME;
        mix_draft_backend(p->mix, &p->mix_backend);
        draftp = &p->mix_backend;
    }
    if (!(p->sess = session_create(&m->backend, draftp, &p->sp, err, cap))) return EXIT_USAGE;
    if (loader_create(p->lib, p->desc->id, session_host(p->sess), p->params, p->n_params, &p->strat, err, cap) !=
        DSTRAT_OK)
        return EXIT_USAGE;
    if (session_bind(p->sess, p->strat) != 0) {
        snprintf(err, cap, "%s", session_error(p->sess));
        return EXIT_RUNTIME;
    }
    return 0;
}

int64_t pipeline_generate(pipeline_t *p, const sess_run_t *run, char *err, size_t cap) {
    if (!p->sess) {
        snprintf(err, cap, "pipeline_generate: the pipeline is not open");
        return -1;
    }
    int64_t n = session_generate(p->sess, run);
    if (n < 0) {
        snprintf(err, cap, "%s", session_error(p->sess));
        return -1;
    }
    return n;
}

const sess_stats_t *pipeline_stats(const pipeline_t *p) { return p->sess ? session_stats(p->sess) : NULL; }

void pipeline_close(pipeline_t *p) {
    session_free(p->sess);
    if (p->strat) p->strat->destroy(p->strat); /* after the session, before the library */
    mix_draft_free(p->mix);
    ngram_draft_free(p->ngram);
    ngram_table_free(p->table);
    feature_head_backend_close(&p->head);
    loader_close(p->lib);
    free(p->params);
    memset(p, 0, sizeof *p);
}

int pipeline_apply_cli_values(config_t *cfg, const pipeline_cli_values_t *v, char *err, size_t cap) {
    char *end;
    if (v->max_tokens) {
        long x = strtol(v->max_tokens, &end, 10);
        if (*end || x < 1 || x > 1000000) {
            snprintf(err, cap, "--max-tokens must be an integer in 1..1000000");
            return EXIT_USAGE;
        }
        cfg->limits.max_tokens = (uint32_t) x;
    }
    if (v->temperature) {
        double x = strtod(v->temperature, &end);
        if (*end || !(x >= 0) || x > 100) {
            snprintf(err, cap, "--temperature must be a number in 0..100");
            return EXIT_USAGE;
        }
        cfg->sampling.temperature = x;
    }
    if (v->top_k) {
        long x = strtol(v->top_k, &end, 10);
        if (*end || x < 0) {
            snprintf(err, cap, "--top-k must be an integer >= 0");
            return EXIT_USAGE;
        }
        cfg->sampling.top_k = (uint32_t) x;
    }
    if (v->top_p) {
        double x = strtod(v->top_p, &end);
        if (*end || !(x > 0 && x <= 1)) {
            snprintf(err, cap, "--top-p must be in (0, 1]");
            return EXIT_USAGE;
        }
        cfg->sampling.top_p = x;
    }
    if (v->seed) {
        unsigned long long x = strtoull(v->seed, &end, 10);
        if (*end) {
            snprintf(err, cap, "--seed must be a non-negative integer");
            return EXIT_USAGE;
        }
        cfg->sampling.seed = x;
    }
    if (v->threads) {
        long x = strtol(v->threads, &end, 10);
        if (*end || x < 0 || x > 256) {
            snprintf(err, cap, "--threads must be an integer in 0..256");
            return EXIT_USAGE;
        }
        cfg->model.threads = (uint32_t) x;
    }
    if (v->n_ctx) {
        long x = strtol(v->n_ctx, &end, 10);
        if (*end || x < 16 || x > 1048576) {
            snprintf(err, cap, "--n-ctx must be an integer in 16..1048576");
            return EXIT_USAGE;
        }
        cfg->limits.n_ctx = (uint32_t) x;
    }
    return 0;
}
