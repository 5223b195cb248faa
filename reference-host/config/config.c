/* config.c - see config.h. The only file of the host that includes yaml.h.
 *
 * libyaml's document API builds the node graph; a small table per section says which keys exist and
 * what they hold, so adding a key is one table row. The walk never recurses into user content
 * beyond the fixed schema depth, so aliases and deep nesting cannot blow the stack.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "params.h"

#define MAX_PARAMS 256       /* per params mapping */
#define MAX_PLUGIN_DIRS 32
#define MAX_CONFIG_BYTES (1u << 20)

/* ------------------------------------------------------------------ schema */

enum field_kind {
    F_SECTION,    /* a mapping described by another table */
    F_U32,
    F_U64,
    F_DOUBLE,
    F_PROB,       /* double in (min, max] */
    F_STRING,
    F_PATH,       /* string, resolved against the config dir */
    F_PLUGIN,     /* name, or path if it contains '/' */
    F_DRAFT_KIND,
    F_PARAMS,     /* mapping of scalar params kept as text */
    F_DIR_LIST,   /* list of dirs, resolved */
};

typedef struct field {
    const char *key;
    enum field_kind kind;
    size_t off;            /* offset of the target in config_t */
    double min, max;       /* numbers: allowed range */
    const struct section *sub;
} field_t;

typedef struct section {
    const char *name;      /* for messages: "sampling", or "top level" */
    const field_t *fields;
    size_t n;
} section_t;

#define OFF(m) offsetof(config_t, m)

static const field_t strategy_fields[] = {
    { "plugin", F_PLUGIN, OFF(strategy.plugin), 0, 0, NULL },
    { "id", F_STRING, OFF(strategy.id), 0, 0, NULL },
    { "params", F_PARAMS, OFF(strategy.params), 0, 0, NULL },
};
static const field_t sampling_fields[] = {
    { "temperature", F_DOUBLE, OFF(sampling.temperature), 0.0, 100.0, NULL },
    { "top_k", F_U32, OFF(sampling.top_k), 0, 1000000, NULL },
    { "top_p", F_PROB, OFF(sampling.top_p), 0.0, 1.0, NULL },
    { "seed", F_U64, OFF(sampling.seed), 0, 0, NULL },
};
static const field_t limits_fields[] = {
    { "max_tokens", F_U32, OFF(limits.max_tokens), 1, 1000000, NULL },
    { "n_ctx", F_U32, OFF(limits.n_ctx), 16, 1048576, NULL },
    { "max_tree_nodes", F_U32, OFF(limits.max_tree_nodes), 1, 4096, NULL },
    { "max_tree_depth", F_U32, OFF(limits.max_tree_depth), 1, 1024, NULL },
};
static const field_t model_fields[] = {
    { "path", F_PATH, OFF(model.path), 0, 0, NULL },
    { "threads", F_U32, OFF(model.threads), 0, 1024, NULL },
};
static const field_t draft_fields[] = {
    { "kind", F_DRAFT_KIND, OFF(draft.kind), 0, 0, NULL },
    { "path", F_PATH, OFF(draft.path), 0, 0, NULL },
    { "params", F_PARAMS, OFF(draft.params), 0, 0, NULL },
};

#define SECTION(nm, arr) { nm, arr, sizeof arr / sizeof arr[0] }
static const section_t strategy_section = SECTION("strategy", strategy_fields);
static const section_t sampling_section = SECTION("sampling", sampling_fields);
static const section_t limits_section = SECTION("limits", limits_fields);
static const section_t model_section = SECTION("model", model_fields);
static const section_t draft_section = SECTION("draft", draft_fields);

static const field_t root_fields[] = {
    { "strategy", F_SECTION, OFF(strategy.line), 0, 0, &strategy_section },
    { "plugin_path", F_DIR_LIST, 0, 0, 0, NULL },
    { "sampling", F_SECTION, 0, 0, 0, &sampling_section },
    { "limits", F_SECTION, 0, 0, 0, &limits_section },
    { "model", F_SECTION, 0, 0, 0, &model_section },
    { "draft", F_SECTION, 0, 0, 0, &draft_section },
};
static const section_t root_section = SECTION("top level", root_fields);

static const char *const draft_kinds[] = { "none", "ngram", "model", "head", "mix" };

/* ------------------------------------------------------------------ errors */

typedef struct ctx {
    yaml_document_t *doc;
    config_t *cfg;
    char *err;
    size_t cap;
} ctx_t;

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* "<file>:<line>: " + message; returns -1 so callers can `return fail(...)`. */
static int fail(ctx_t *c, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx_t *c, uint32_t line, const char *fmt, ...) {
    if (!c->err || c->cap == 0) return -1;
    int w = snprintf(c->err, c->cap, "%s:%u: ", c->cfg->file, line);
    if (w < 0 || (size_t) w >= c->cap) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + w, c->cap - (size_t) w, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t line_of(const yaml_node_t *n) { return (uint32_t) n->start_mark.line + 1; }

static const char *kind_name(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static const char *text_of(const yaml_node_t *n) { return (const char *) n->data.scalar.value; }

/* 1 for an explicit or implicit YAML null (`key:`, `~`, `null`) */
static int is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *t = text_of(n);
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

/* ------------------------------------------------------------------ suggestions */

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *closest_key(const section_t *s, const char *key) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < s->n; i++) {
        size_t d = edit_distance(key, s->fields[i].key);
        if (d < best_d) {
            best_d = d;
            best = s->fields[i].key;
        }
    }
    size_t len = strlen(key);
    return best_d <= 2 && best_d < len ? best : NULL;
}

/* ------------------------------------------------------------------ values */

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A relative path becomes <dir>/<path>; "." keeps it as it is (relative to the cwd). */
char *config_path_join(const char *dir, const char *path) {
    if (path[0] == '/' || !strcmp(dir, ".")) return strdup(path);
    size_t ld = strlen(dir), lp = strlen(path);
    char *r = malloc(ld + lp + 2);
    if (!r) return NULL;
    memcpy(r, dir, ld);
    r[ld] = '/';
    memcpy(r + ld + 1, path, lp + 1);
    return r;
}

/* A scalar with text and no embedded NUL, or an error naming the key. */
static int want_scalar(ctx_t *c, const yaml_node_t *v, const char *key, const char *sect) {
    if (v->type != YAML_SCALAR_NODE)
        return fail(c, line_of(v), "'%s' in '%s' must be a scalar, got %s", key, sect, kind_name(v));
    if (is_null(v)) return fail(c, line_of(v), "'%s' in '%s' has no value", key, sect);
    if (strlen(text_of(v)) != v->data.scalar.length)
        return fail(c, line_of(v), "'%s' in '%s' contains a NUL character", key, sect);
    return 0;
}

static int parse_uint(ctx_t *c, const yaml_node_t *v, const field_t *f, const char *sect,
                      uint64_t *out) {
    const char *t = text_of(v);
    const char *p = t;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    int ok = *p != '\0';
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') ok = 0;
    if (!ok)
        return fail(c, line_of(v), "'%s' in '%s' must be an integer, got '%.64s'", f->key, sect, t);
    errno = 0;
    unsigned long long x = strtoull(p, NULL, 10);
    int is_u64 = f->kind == F_U64;
    if (neg && x == 0) neg = 0; /* "-0" */
    if (errno == ERANGE || neg || (!is_u64 && ((double) x < f->min || (double) x > f->max))) {
        if (is_u64)
            return fail(c, line_of(v), "'%s' in '%s' must be in [0, %llu], got %.64s", f->key, sect,
                        (unsigned long long) UINT64_MAX, t);
        return fail(c, line_of(v), "'%s' in '%s' must be in [%.0f, %.0f], got %.64s", f->key, sect,
                    f->min, f->max, t);
    }
    *out = x;
    return 0;
}

static int parse_double(ctx_t *c, const yaml_node_t *v, const field_t *f, const char *sect,
                        double *out) {
    const char *t = text_of(v);
    int ok = *t != '\0';
    for (const char *q = t; *q; q++)
        if (!strchr("0123456789+-.eE", *q)) ok = 0; /* no hex, inf or nan */
    char *end = NULL;
    double x = 0.0;
    if (ok) {
        errno = 0;
        x = strtod(t, &end);
        ok = end != t && *end == '\0' && errno != ERANGE && isfinite(x);
    }
    if (!ok) return fail(c, line_of(v), "'%s' in '%s' must be a number, got '%.64s'", f->key, sect, t);
    if (f->kind == F_PROB ? (x <= f->min || x > f->max) : (x < f->min || x > f->max))
        return fail(c, line_of(v), "'%s' in '%s' must be in %s%g, %g], got %.64s", f->key, sect,
                    f->kind == F_PROB ? "(" : "[", f->min, f->max, t);
    *out = x;
    return 0;
}

static int parse_params(ctx_t *c, const yaml_node_t *v, const char *sect, config_params_t *out,
                        uint32_t key_line) {
    out->map_line = key_line;
    if (is_null(v)) return 0; /* `params:` with nothing = none */
    if (v->type != YAML_MAPPING_NODE)
        return fail(c, line_of(v), "'params' in '%s' must be a mapping of key: value, got %s", sect,
                    kind_name(v));
    size_t n = (size_t) (v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (n > MAX_PARAMS)
        return fail(c, line_of(v), "'params' in '%s' has %zu entries (at most %d)", sect, n, MAX_PARAMS);
    if (n == 0) return 0;
    out->params = calloc(n, sizeof *out->params);
    out->line = calloc(n, sizeof *out->line);
    if (!out->params || !out->line) return fail(c, line_of(v), "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pr = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *val = yaml_document_get_node(c->doc, pr->value);
        if (!k || !val) return fail(c, line_of(v), "malformed mapping in '%s.params'", sect);
        if (k->type != YAML_SCALAR_NODE || is_null(k) || strlen(text_of(k)) != k->data.scalar.length)
            return fail(c, line_of(k), "a key in '%s.params' must be a non-empty scalar, got %s",
                        sect, kind_name(k));
        const char *key = text_of(k);
        for (uint32_t j = 0; j < out->n; j++)
            if (!strcmp(out->params[j].key, key))
                return fail(c, line_of(k), "duplicate key '%.64s' in '%s.params' (first on line %u)",
                            key, sect, out->line[j]);
        if (val->type != YAML_SCALAR_NODE)
            return fail(c, line_of(val), "%s param '%.64s' must be a scalar, got %s", sect, key,
                        kind_name(val));
        if (is_null(val))
            return fail(c, line_of(val), "%s param '%.64s' has no value", sect, key);
        if (strlen(text_of(val)) != val->data.scalar.length)
            return fail(c, line_of(val), "%s param '%.64s' contains a NUL character", sect, key);
        char *kd = strdup(key), *vd = strdup(text_of(val));
        if (!kd || !vd) {
            free(kd);
            free(vd);
            return fail(c, line_of(k), "out of memory");
        }
        out->params[out->n].key = kd;
        out->params[out->n].value = vd;
        out->line[out->n] = line_of(k);
        out->n++;
    }
    return 0;
}

static int parse_dir_list(ctx_t *c, const yaml_node_t *v) {
    if (is_null(v)) return 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, line_of(v), "'plugin_path' must be a list of directories, got %s", kind_name(v));
    size_t n = (size_t) (v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > MAX_PLUGIN_DIRS)
        return fail(c, line_of(v), "'plugin_path' has %zu entries (at most %d)", n, MAX_PLUGIN_DIRS);
    if (n == 0) return 0;
    c->cfg->plugin_path = calloc(n, sizeof(char *));
    if (!c->cfg->plugin_path) return fail(c, line_of(v), "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
        if (!it) return fail(c, line_of(v), "malformed list in 'plugin_path'");
        if (want_scalar(c, it, "plugin_path", "top level") != 0) return -1;
        char *d = config_path_join(c->cfg->dir, text_of(it));
        if (!d) return fail(c, line_of(it), "out of memory");
        c->cfg->plugin_path[c->cfg->n_plugin_path++] = d;
    }
    return 0;
}

static int parse_section(ctx_t *c, const yaml_node_t *map, const section_t *s);

static int parse_field(ctx_t *c, const field_t *f, const section_t *s, const yaml_node_t *k,
                       const yaml_node_t *v) {
    char *base = (char *) c->cfg;
    switch (f->kind) {
    case F_SECTION:
        if (f->off) *(uint32_t *) (base + f->off) = line_of(k);
        return parse_section(c, v, f->sub);
    case F_PARAMS: return parse_params(c, v, s->name, (config_params_t *) (base + f->off), line_of(k));
    case F_DIR_LIST: return parse_dir_list(c, v);
    default: break;
    }
    if (want_scalar(c, v, f->key, s->name) != 0) return -1;
    const char *t = text_of(v);
    switch (f->kind) {
    case F_U32: {
        uint64_t x;
        if (parse_uint(c, v, f, s->name, &x) != 0) return -1;
        *(uint32_t *) (base + f->off) = (uint32_t) x;
        return 0;
    }
    case F_U64: return parse_uint(c, v, f, s->name, (uint64_t *) (base + f->off));
    case F_DOUBLE:
    case F_PROB: return parse_double(c, v, f, s->name, (double *) (base + f->off));
    case F_DRAFT_KIND:
        for (uint32_t i = 0; i < sizeof draft_kinds / sizeof draft_kinds[0]; i++)
            if (!strcmp(t, draft_kinds[i])) {
                *(uint32_t *) (base + f->off) = i;
                return 0;
            }
        return fail(c, line_of(v), "'%s' in '%s' must be one of none|ngram|model|head|mix, got '%.64s'",
                    f->key, s->name, t);
    case F_STRING:
    case F_PATH:
    case F_PLUGIN: {
        char **dst = (char **) (base + f->off);
        char *val = (f->kind == F_PATH || (f->kind == F_PLUGIN && strchr(t, '/')))
                        ? config_path_join(c->cfg->dir, t)
                        : strdup(t);
        if (!val) return fail(c, line_of(v), "out of memory");
        free(*dst);
        *dst = val;
        return 0;
    }
    default: return fail(c, line_of(v), "internal: unhandled field kind for '%s'", f->key);
    }
}

static int parse_section(ctx_t *c, const yaml_node_t *map, const section_t *s) {
    if (s != &root_section && is_null(map)) return 0; /* `sampling:` alone = all defaults */
    if (map->type != YAML_MAPPING_NODE) {
        if (s == &root_section)
            return fail(c, line_of(map), "the top level must be a mapping of sections, got %s",
                        kind_name(map));
        return fail(c, line_of(map), "'%s' must be a mapping, got %s", s->name, kind_name(map));
    }
    yaml_node_pair_t *start = map->data.mapping.pairs.start, *top = map->data.mapping.pairs.top;
    for (yaml_node_pair_t *pr = start; pr < top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pr->value);
        if (!k || !v) return fail(c, line_of(map), "malformed mapping in '%s'", s->name);
        if (k->type != YAML_SCALAR_NODE)
            return fail(c, line_of(k), "a key in '%s' must be a scalar, got %s", s->name, kind_name(k));
        const char *key = text_of(k);
        const field_t *f = NULL;
        for (size_t i = 0; i < s->n; i++)
            if (!strcmp(s->fields[i].key, key) && strlen(key) == k->data.scalar.length) f = &s->fields[i];
        if (!f) {
            const char *near = closest_key(s, key);
            if (near)
                return fail(c, line_of(k), "unknown key '%.64s' in '%s' (did you mean '%s'?)", key,
                            s->name, near);
            char known[256] = "";
            size_t used = 0;
            for (size_t i = 0; i < s->n; i++) {
                int w = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", s->fields[i].key);
                if (w < 0 || (size_t) w >= sizeof known - used) break;
                used += (size_t) w;
            }
            return fail(c, line_of(k), "unknown key '%.64s' in '%s' (known: %s)", key, s->name, known);
        }
        for (yaml_node_pair_t *q = start; q < pr; q++) {
            yaml_node_t *k2 = yaml_document_get_node(c->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp(text_of(k2), key))
                return fail(c, line_of(k), "duplicate key '%s' in '%s' (first on line %u)", key,
                            s->name, line_of(k2));
        }
        if (parse_field(c, f, s, k, v) != 0) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ load */

config_t *config_defaults(void) {
    config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return NULL;
    cfg->file = strdup("<defaults>");
    cfg->dir = strdup(".");
    cfg->strategy.plugin = strdup("ar");
    if (!cfg->file || !cfg->dir || !cfg->strategy.plugin) {
        config_free(cfg);
        return NULL;
    }
    cfg->sampling.temperature = 0.0;
    cfg->sampling.top_k = 0;
    cfg->sampling.top_p = 1.0;
    cfg->sampling.seed = 1234;
    cfg->limits.max_tokens = 256;
    cfg->limits.n_ctx = 2048;
    cfg->limits.max_tree_nodes = 64;
    cfg->limits.max_tree_depth = 16;
    cfg->model.threads = 0;
    cfg->draft.kind = CONFIG_DRAFT_NONE;
    return cfg;
}

static void params_free(config_params_t *p) {
    for (uint32_t i = 0; p->params && i < p->n; i++) {
        free((char *) p->params[i].key);
        free((char *) p->params[i].value);
    }
    free(p->params);
    free(p->line);
    memset(p, 0, sizeof *p);
}

void config_free(config_t *cfg) {
    if (!cfg) return;
    free(cfg->file);
    free(cfg->dir);
    free(cfg->strategy.plugin);
    free(cfg->strategy.id);
    params_free(&cfg->strategy.params);
    for (uint32_t i = 0; i < cfg->n_plugin_path; i++) free(cfg->plugin_path[i]);
    free(cfg->plugin_path);
    free(cfg->model.path);
    free(cfg->draft.path);
    params_free(&cfg->draft.params);
    free(cfg);
}

static void yaml_error(const yaml_parser_t *p, const char *file, char *err, size_t cap) {
    if (p->error == YAML_MEMORY_ERROR) {
        set_err(err, cap, "%s: out of memory while parsing YAML", file);
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        set_err(err, cap, "%s: byte offset %zu: YAML reader error: %s", file, p->problem_offset,
                p->problem ? p->problem : "unknown");
        return;
    }
    set_err(err, cap, "%s:%zu:%zu: YAML syntax error: %s%s%s%s", file, p->problem_mark.line + 1,
            p->problem_mark.column + 1, p->problem ? p->problem : "unknown problem",
            p->context ? " (" : "", p->context ? p->context : "", p->context ? ")" : "");
}

config_t *config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                             char *err, size_t cap) {
    if (err && cap) err[0] = '\0';
    config_t *cfg = config_defaults();
    if (!cfg) {
        set_err(err, cap, "out of memory");
        return NULL;
    }
    free(cfg->file);
    free(cfg->dir);
    cfg->file = strdup(name ? name : "<string>");
    cfg->dir = strdup(base_dir && *base_dir ? base_dir : ".");
    if (!cfg->file || !cfg->dir) {
        config_free(cfg);
        set_err(err, cap, "out of memory");
        return NULL;
    }
    if (!text) len = 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        set_err(err, cap, "%s: out of memory", cfg->file);
        config_free(cfg);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *) (text ? text : ""), len);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_error(&parser, cfg->file, err, cap);
        yaml_parser_delete(&parser);
        config_free(cfg);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    ctx_t c = { &doc, cfg, err, cap };
    if (!root) {
        set_err(err, cap, "%s: empty file (expected a mapping with a 'strategy' section)", cfg->file);
    } else if (parse_section(&c, root, &root_section) == 0) {
        /* a second document is a mistake (a stray '---'), not something to ignore */
        yaml_document_t doc2;
        if (!yaml_parser_load(&parser, &doc2)) {
            yaml_error(&parser, cfg->file, err, cap);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
            if (r2)
                fail(&c, line_of(r2), "a second YAML document; a config is one document");
            else
                rc = 0;
            yaml_document_delete(&doc2);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

config_t *config_load_file(const char *path, char *err, size_t cap) {
    if (!path || !*path) {
        set_err(err, cap, "config: no file name");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t size = 0, cap_buf = 4096;
    char *buf = malloc(cap_buf);
    int read_err = 0;
    while (buf) {
        size_t n = fread(buf + size, 1, cap_buf - size, f);
        size += n;
        if (n == 0) {
            read_err = ferror(f) ? errno : 0;
            break;
        }
        if (size > MAX_CONFIG_BYTES) break;
        if (size == cap_buf) {
            char *g = realloc(buf, cap_buf * 2);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap_buf *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        set_err(err, cap, "%s: out of memory", path);
        return NULL;
    }
    if (read_err) {
        set_err(err, cap, "%s: cannot read: %s", path, strerror(read_err));
        free(buf);
        return NULL;
    }
    if (size > MAX_CONFIG_BYTES) {
        set_err(err, cap, "%s: larger than %u bytes; not a config file", path, MAX_CONFIG_BYTES);
        free(buf);
        return NULL;
    }
    /* relative paths in the file resolve against its directory */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? dup_n(path, slash == path ? 1 : (size_t) (slash - path)) : strdup(".");
    if (!dir) {
        set_err(err, cap, "%s: out of memory", path);
        free(buf);
        return NULL;
    }
    config_t *cfg = config_load_string(buf, size, path, dir, err, cap);
    free(dir);
    free(buf);
    return cfg;
}

/* ------------------------------------------------------------------ strategy params */

int config_check_params(const config_t *cfg, const dstrat_strategy_desc_t *desc, char *err,
                        size_t cap) {
    if (!cfg || !desc) {
        set_err(err, cap, "config_check_params: NULL %s", cfg ? "descriptor" : "config");
        return DSTRAT_E_INVALID_ARG;
    }
    const config_params_t *p = &cfg->strategy.params;
    const char *id = desc->id ? desc->id : "?";
    char e[512];
    for (uint32_t j = 0; j < p->n; j++) {
        const char *key = p->params[j].key;
        int32_t i = dsp_find(desc->params, desc->n_params, key);
        if (i < 0) {
            /* the common parser words the unknown-key message, with the known keys */
            dsp_parse(desc->params, desc->n_params, &p->params[j], 1, NULL, e, sizeof e);
            set_err(err, cap, "%s:%u: strategy param '%s' is not a parameter of strategy '%s': %s",
                    cfg->file, p->line[j], key, id, e);
            return DSTRAT_E_INVALID_ARG;
        }
        if (dsp_parse_one(&desc->params[i], p->params[j].value, NULL, e, sizeof e) != 0) {
            /* drop the parser's "parameter 'k': " lead, we name the key ourselves */
            char lead[160];
            snprintf(lead, sizeof lead, "parameter '%s': ", key);
            const char *msg = strncmp(e, lead, strlen(lead)) ? e : e + strlen(lead);
            set_err(err, cap, "%s:%u: strategy param '%s': %s", cfg->file, p->line[j], key, msg);
            return DSTRAT_E_INVALID_ARG;
        }
    }
    uint32_t where = p->map_line ? p->map_line : cfg->strategy.line;
    for (uint32_t i = 0; i < desc->n_params; i++) {
        if (desc->params[i].default_value) continue;
        int given = 0;
        for (uint32_t j = 0; j < p->n; j++) given |= !strcmp(p->params[j].key, desc->params[i].key);
        if (!given) {
            set_err(err, cap, "%s:%u: strategy '%s' needs param '%s' (%s), missing from 'params'",
                    cfg->file, where, id, desc->params[i].key,
                    desc->params[i].help ? desc->params[i].help : "no help");
            return DSTRAT_E_INVALID_ARG;
        }
    }
    /* whatever else the common parser refuses (it is the plugins' own verdict) */
    if (dsp_parse(desc->params, desc->n_params, p->params, p->n, NULL, e, sizeof e) != 0) {
        set_err(err, cap, "%s:%u: strategy '%s': %s", cfg->file, where, id, e);
        return DSTRAT_E_INVALID_ARG;
    }
    return 0;
}

int config_resolve_param_paths(config_t *cfg, const dstrat_strategy_desc_t *desc) {
    if (!cfg || !desc) return DSTRAT_E_INVALID_ARG;
    config_params_t *p = &cfg->strategy.params;
    for (uint32_t j = 0; j < p->n; j++) {
        int32_t i = dsp_find(desc->params, desc->n_params, p->params[j].key);
        if (i < 0 || desc->params[i].type != DSTRAT_PARAM_PATH) continue;
        const char *v = p->params[j].value;
        /* the parameter's own default is a keyword (e.g. policy: builtin), not a file */
        const char *dflt = desc->params[i].default_value;
        if (v[0] == '/' || !strcmp(cfg->dir, ".") || (dflt && !strcmp(v, dflt))) continue;
        char *r = config_path_join(cfg->dir, v);
        if (!r) return DSTRAT_E_NOMEM;
        free((char *) p->params[j].value);
        p->params[j].value = r;
    }
    return 0;
}

const char *config_draft_kind_name(uint32_t kind) {
    return kind < sizeof draft_kinds / sizeof draft_kinds[0] ? draft_kinds[kind] : "?";
}
