/* conf_util.c - see conf_util.h. dlfcn.h is included here only. */
#include "conf_util.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats_ext.h"

static const char *const chain_variants[] = {
    "", "k=1", "k=2", "k=3", "k=5", "k=6", "k=7", "k=8",
    "k=2 min_confidence=0.5", "k=4 min_confidence=0.3", "k=8 min_confidence=0.6",
    "k=6 min_confidence=0.9", "k=32", "k=3 acceptance=rejection draft_top_k=4",
    "k=8 acceptance=rejection", NULL,
};
static const char *const no_variants[] = {"", NULL};
static const char *const static_tree_variants[] = {
    "", "depth=1", "depth=3 top_k=4 total_tokens=16", "depth=8 top_k=2 total_tokens=64", "depth=6 top_k=1",
    "total_tokens=1", "depth=10 top_k=6 total_tokens=256", NULL,
};
/* policy files: random-weight test policies generated at build time (tests/conformance/meson.build),
   relative to the build root where meson runs the tests */
static const char *const radar_variants[] = {
    "", "min_beam_prob=0", "min_beam_prob=1", "top_k=4 max_depth=6 total_tokens=24 min_beam_prob=0.3",
    "policy=tests/conformance/radar_test_k10.dspol",
    "policy=tests/conformance/radar_test_k10.dspol decision=threshold threshold=0.5",
    "policy=tests/conformance/radar_test_k4.dspol top_k=4 total_tokens=20 decision=threshold threshold=0.3",
    "mode=cost_aware", "mode=cost_aware top_k=4 max_depth=12 total_tokens=256", NULL,
};

/* ltd_test_default: depth 18,32,2 and size 66,32,9 (the default sizes); ltd_test_small: n_level 6,
   n_pool 12, sizes 1,3,5,9 (tests/conformance/ltd_policy_gen.c) */
static const char *const ltd_variants[] = {
    "", "min_beam_prob=0 size=48", "depth_every=3 min_beam_prob=0.3", "sizes=1,3,5 size=5 top_k=4 max_depth=6",
    "policy=tests/conformance/ltd_test_default.dspol",
    "policy=tests/conformance/ltd_test_small.dspol top_k=4 n_level=6 n_pool=12 sizes=1,3,5,9 max_depth=12 depth_every=3",
    NULL,
};

const conf_strategy_t conf_strategies[] = {
    {"ar/dstrat_ar.so", "ar", 0, no_variants},
    {"chain/dstrat_chain.so", "chain", 1, chain_variants},
    {"static_tree/dstrat_static_tree.so", "static_tree", 1, static_tree_variants},
    {"radar/dstrat_radar.so", "radar", 1, radar_variants},
    {"ltd/dstrat_ltd.so", "ltd", 1, ltd_variants},
};
const uint32_t conf_n_strategies = sizeof conf_strategies / sizeof conf_strategies[0];

/* ------------------------------------------------------------------------------ loading */
#define CONF_MAX_OPEN 16
static struct {
    char file[256];
    void *so;
    const dstrat_entry_t *e;
} g_open[CONF_MAX_OPEN];

const char *conf_plugin_path(const char *file, char *buf, size_t cap) {
    const char *dir = getenv("DSTRAT_PATH");
    snprintf(buf, cap, "%s/%s", dir && dir[0] ? dir : "plugin", file);
    return buf;
}

const dstrat_entry_t *conf_entry(const char *file, char *err, size_t cap) {
    for (int i = 0; i < CONF_MAX_OPEN; i++)
        if (g_open[i].so && !strcmp(g_open[i].file, file)) return g_open[i].e;
    char path[1024];
    conf_plugin_path(file, path, sizeof path);
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        snprintf(err, cap, "dlopen %s: %s", path, dlerror());
        return NULL;
    }
    dstrat_entry_fn fn;
    *(void **) &fn = dlsym(so, DSTRAT_ENTRY_SYMBOL);
    dstrat_version_t v = DSTRAT_VERSION_INIT;
    const dstrat_entry_t *e = fn ? fn(&v) : NULL;
    if (!e || e->init(path) != DSTRAT_OK) {
        snprintf(err, cap, "%s: %s", path, fn ? "entry/init failed" : "no dstrat_entry_v1");
        dlclose(so);
        return NULL;
    }
    for (int i = 0; i < CONF_MAX_OPEN; i++)
        if (!g_open[i].so) {
            snprintf(g_open[i].file, sizeof g_open[i].file, "%s", file);
            g_open[i].so = so;
            g_open[i].e = e;
            return e;
        }
    snprintf(err, cap, "too many plugins open");
    return NULL;
}

dstrat_entry_fn conf_entry_fn(const char *file) {
    for (int i = 0; i < CONF_MAX_OPEN; i++)
        if (g_open[i].so && !strcmp(g_open[i].file, file)) {
            dstrat_entry_fn fn;
            *(void **) &fn = dlsym(g_open[i].so, DSTRAT_ENTRY_SYMBOL);
            return fn;
        }
    return NULL;
}

uint32_t conf_parse_params(const char *text, char *store, size_t store_cap, dstrat_param_t *params,
                           uint32_t max_params) {
    snprintf(store, store_cap, "%s", text ? text : "");
    uint32_t n = 0;
    for (char *save = NULL, *tok = strtok_r(store, " ", &save); tok && n < max_params;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = '\0';
        params[n].key = tok;
        params[n].value = eq + 1;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------------ a generation */
int64_t conf_generate(conf_run_t *r) {
    int64_t rc = -1;
    r->err[0] = '\0';
    memset(&r->pstats, 0, sizeof r->pstats);
    const dstrat_entry_t *e = conf_entry(r->file, r->err, sizeof r->err);
    if (!e) return -1;
    mock_target_t *mt = mock_target_new(&r->model);
    mock_draft_t *md = r->agreement >= 0 ? mock_draft_new(&r->model, r->agreement) : NULL;
    if (!mt || (r->agreement >= 0 && !md)) {
        snprintf(r->err, sizeof r->err, "mock models: bad config");
        mock_target_free(mt);
        mock_draft_free(md);
        return -1;
    }
    sess_target_t ti = mock_target_iface(mt);
    sess_draft_t di;
    if (md) di = mock_draft_iface(md);
    sess_params_t sp = {.sampling = r->sampling, .seed = r->seed};
    session_t *s = session_create(&ti, md ? &di : NULL, &sp, r->err, sizeof r->err);
    dstrat_strategy_t *st = NULL;
    if (!s) goto done;
    char store[512];
    dstrat_param_t params[16];
    uint32_t np = conf_parse_params(r->params, store, sizeof store, params, 16);
    char cerr[256] = "";
    dstrat_status_t cs = e->strategy_create(r->id, session_host(s), params, np, &st, cerr, sizeof cerr);
    if (cs != DSTRAT_OK) {
        snprintf(r->err, sizeof r->err, "strategy_create %s (%s): %d %s", r->id, r->params, cs, cerr);
        rc = cs;
        goto done;
    }
    if (session_bind(s, st) != 0) {
        snprintf(r->err, sizeof r->err, "bind: %s", session_error(s));
        goto done;
    }
    sess_run_t run = {.prompt = r->prompt, .n_prompt = r->n_prompt, .max_new = r->max_new, .out = r->out};
    rc = session_generate(s, &run);
    if (rc < 0) snprintf(r->err, sizeof r->err, "generate: %s", session_error(s));
    r->stats = *session_stats(s);
    const dstrat_plugin_stats_ext_t *x = st->get_extension(st, DSTRAT_PLUGIN_STATS_ID);
    r->pstats.struct_size = sizeof r->pstats;
    if (x) x->get(st, &r->pstats);
done:
    session_free(s);
    if (st) st->destroy(st);
    mock_draft_free(md);
    mock_target_free(mt);
    return rc;
}

uint32_t conf_prompt(uint64_t index, uint32_t n_vocab, uint32_t max_len, int32_t *out) {
    uint64_t h = dstrat_mix64(index + UINT64_C(0x1234567));
    uint32_t n = 1 + (uint32_t) (h % max_len);
    for (uint32_t i = 0; i < n; i++) {
        h = dstrat_mix64(h + i);
        out[i] = (int32_t) (h % n_vocab);
    }
    return n;
}

/* ------------------------------------------------------------------------------ chi-square */
/* regularized upper incomplete gamma Q(a, x): series for x < a + 1, else continued fraction */
static double gamma_q(double a, double x) {
    if (x <= 0.0) return 1.0;
    const double lg = lgamma(a);
    if (x < a + 1.0) {
        double sum = 1.0 / a, term = sum;
        for (int n = 1; n < 10000; n++) {
            term *= x / (a + n);
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-15) break;
        }
        return 1.0 - sum * exp(-x + a * log(x) - lg);
    }
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        const double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-15) break;
    }
    return exp(-x + a * log(x) - lg) * h;
}

double conf_chisq_sf(double x, uint32_t df) {
    return gamma_q(df / 2.0, x / 2.0);
}

static const double *g_sort_prob;
static int by_prob_desc(const void *a, const void *b) {
    double pa = g_sort_prob[*(const uint32_t *) a], pb = g_sort_prob[*(const uint32_t *) b];
    return (pa < pb) - (pa > pb);
}

double conf_chisq(const uint64_t *observed, const double *prob, uint32_t n, uint64_t total,
                  double *stat, uint32_t *df) {
    uint32_t *order = malloc(n * sizeof *order);
    double *be = calloc(n, sizeof *be), *bo = calloc(n, sizeof *bo);
    if (!order || !be || !bo) {
        free(order);
        free(be);
        free(bo);
        return -1.0;
    }
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    g_sort_prob = prob;
    qsort(order, n, sizeof *order, by_prob_desc);
    uint32_t nb = 0;
    for (uint32_t j = 0; j < n; j++) { /* big cells alone, small ones pooled until >= 5 */
        const uint32_t i = order[j];
        if (nb == 0 || be[nb - 1] >= 5.0) nb++;
        be[nb - 1] += prob[i] * (double) total;
        bo[nb - 1] += (double) observed[i];
    }
    if (nb > 1 && be[nb - 1] < 5.0) { /* a short tail joins the previous bucket */
        be[nb - 2] += be[nb - 1];
        bo[nb - 2] += bo[nb - 1];
        nb--;
    }
    double x = 0.0;
    for (uint32_t b = 0; b < nb; b++) x += (bo[b] - be[b]) * (bo[b] - be[b]) / be[b];
    *stat = x;
    *df = nb > 1 ? nb - 1 : 1;
    free(order);
    free(be);
    free(bo);
    return conf_chisq_sf(x, *df);
}
