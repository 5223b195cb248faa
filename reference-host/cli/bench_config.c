/* bench_config.c - see bench_config.h */
#include "bench_config.h"

#include "cli_common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct ctx {
    yaml_document_t *doc;
    bench_config_t *b;
    const char *text;
    size_t len;
    char *err;
    size_t cap;
} ctx_t;

static int fail(ctx_t *c, const yaml_node_t *n, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->cap, "%s:%lu: %s", c->b->file, n ? (unsigned long) n->start_mark.line + 1 : 0UL, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

static int get_uint(ctx_t *c, const yaml_node_t *n, const char *key, uint64_t lo, uint64_t hi, uint64_t *out) {
    const char *s = scalar(n);
    char *end;
    errno = 0;
    unsigned long long v = s && *s && *s != '-' ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *s == '-' || *end || errno || v < lo || v > hi)
        return fail(c, n, "'%s' must be an integer in %llu..%llu, got '%s'", key, (unsigned long long) lo,
                    (unsigned long long) hi, s ? s : "(not a scalar)");
    *out = v;
    return 0;
}

static int get_bool(ctx_t *c, const yaml_node_t *n, const char *key, int *out) {
    const char *s = scalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes"))) *out = 1;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "no"))) *out = 0;
    else return fail(c, n, "'%s' must be true or false, got '%s'", key, s ? s : "(not a scalar)");
    return 0;
}

/* byte offset of a mark: libyaml counts columns in characters, our text is UTF-8 */
static size_t mark_offset(const ctx_t *c, yaml_mark_t m) {
    size_t i = 0, line = 0;
    while (i < c->len && line < m.line) {
        if (c->text[i] == '\n') line++;
        i++;
    }
    for (size_t col = 0; i < c->len && col < m.column && c->text[i] != '\n'; col++) {
        i++;
        while (i < c->len && ((unsigned char) c->text[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

static const char *const RUN_KEYS[] = {"strategy", "draft", "sampling", "limits", "plugin_path", "model", NULL};

static int is_run_key(const char *k) {
    for (int i = 0; RUN_KEYS[i]; i++)
        if (!strcmp(k, RUN_KEYS[i])) return 1;
    return 0;
}

/* The text of an inline entry as a run config at its own lines and columns: everything else is
 * blanked (newlines kept), so config.c's "<file>:<line>" messages point into the bench file. */
static char *inline_text(ctx_t *c, const yaml_node_t *entry) {
    char *t = malloc(c->len + 1);
    if (!t) return NULL;
    for (size_t i = 0; i < c->len; i++) t[i] = c->text[i] == '\n' ? '\n' : ' ';
    t[c->len] = '\0';
    const int flow = entry->data.mapping.style == YAML_FLOW_MAPPING_STYLE;
    if (flow) {
        /* keep the braces and the run keys; blank the other pairs and their commas */
        size_t a = mark_offset(c, entry->start_mark), z = mark_offset(c, entry->end_mark);
        memcpy(t + a, c->text + a, z - a);
    }
    for (yaml_node_pair_t *p = entry->data.mapping.pairs.start; p < entry->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        size_t a = mark_offset(c, k->start_mark), z = mark_offset(c, v->end_mark);
        if (is_run_key(scalar(k))) {
            if (!flow) memcpy(t + a, c->text + a, z - a);
        } else if (flow) {
            for (size_t i = a; i < z; i++)
                if (t[i] != '\n') t[i] = ' ';
            while (z < c->len && (t[z] == ' ' || t[z] == '\n')) z++;
            if (z < c->len && t[z] == ',') t[z] = ' ';
        }
    }
    return t;
}

static int valid_name(const char *s) {
    if (!s || !*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char) *s) && !strchr("_.-+", *s)) return 0;
    return 1;
}

static int parse_entry(ctx_t *c, yaml_node_t *n, uint32_t index) {
    bench_entry_t *e = &c->b->entries[index];
    e->line = (uint32_t) n->start_mark.line + 1;
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "configs[%u] must be a mapping with 'name' and either 'config' or 'strategy'", index);
    const yaml_node_t *config_node = NULL;
    int has_run = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(k);
        if (!key) return fail(c, k, "configs[%u]: keys must be scalars", index);
        if (!strcmp(key, "name")) {
            if (!valid_name(scalar(v)))
                return fail(c, v, "configs[%u].name must be 1..64 characters of [A-Za-z0-9_.+-]", index);
            if (e->name) return fail(c, k, "configs[%u]: duplicate key 'name'", index);
            if (!(e->name = strdup(scalar(v)))) return fail(c, k, "out of memory");
        } else if (!strcmp(key, "optional")) {
            if (get_bool(c, v, "optional", &e->optional) != 0) return -1;
        } else if (!strcmp(key, "group")) {
            if (!valid_name(scalar(v)))
                return fail(c, v, "configs[%u].group must be 1..64 characters of [A-Za-z0-9_.+-]", index);
            if (e->group) return fail(c, k, "configs[%u]: duplicate key 'group'", index);
            if (!(e->group = strdup(scalar(v)))) return fail(c, k, "out of memory");
        } else if (!strcmp(key, "config")) {
            if (!scalar(v) || !*scalar(v)) return fail(c, v, "configs[%u].config must be a file path", index);
            config_node = v;
        } else if (is_run_key(key)) {
            has_run = 1;
        } else {
            return fail(c, k,
                        "configs[%u]: unknown key '%s' (expected name, config, optional, group, or inline strategy, "
                        "draft, sampling, limits, plugin_path, model)",
                        index, key);
        }
    }
    if (!e->name) return fail(c, n, "configs[%u] has no 'name'", index);
    if (!strcmp(e->name, "ar"))
        return fail(c, n, "configs[%u]: the name 'ar' is taken by the AR baseline, which every bench runs", index);
    for (uint32_t i = 0; i < index; i++)
        if (!strcmp(c->b->entries[i].name, e->name))
            return fail(c, n, "configs[%u]: the name '%s' is used twice (first at line %u)", index, e->name,
                        c->b->entries[i].line);
    if (config_node && has_run)
        return fail(c, n, "configs[%u] '%s': give either 'config: FILE' or inline keys, not both", index, e->name);
    if (!config_node && !has_run)
        return fail(c, n, "configs[%u] '%s': needs 'config: FILE' or an inline 'strategy:'", index, e->name);
    char why[2048];
    if (config_node) {
        if (!(e->source = config_path_join(c->b->dir, scalar(config_node)))) return fail(c, n, "out of memory");
        if (!(e->cfg = config_load_file(e->source, why, sizeof why)))
            return fail(c, config_node, "configs[%u] '%s': %s", index, e->name, why);
        return 0;
    }
    char *t = inline_text(c, n);
    if (!t) return fail(c, n, "out of memory");
    e->cfg = config_load_string(t, c->len, c->b->file, c->b->dir, why, sizeof why);
    free(t);
    if (!e->cfg) {
        snprintf(c->err, c->cap, "%s (in configs[%u] '%s')", why, index, e->name);
        return -1;
    }
    if (!e->cfg->strategy.plugin) return fail(c, n, "configs[%u] '%s': no strategy.plugin", index, e->name);
    return 0;
}

static int parse_list(ctx_t *c, yaml_node_t *v, const char *key, yaml_node_item_t **start, size_t *n) {
    if (v->type != YAML_SEQUENCE_NODE) return fail(c, v, "'%s' must be a list", key);
    *start = v->data.sequence.items.start;
    *n = (size_t) (v->data.sequence.items.top - v->data.sequence.items.start);
    return 0;
}

static int parse_peers(ctx_t *c, yaml_node_t *v) {
    if (v->type != YAML_MAPPING_NODE) return fail(c, v, "'peers' must be a mapping");
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *w = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "llama_cpp")) {
            if (get_bool(c, w, "peers.llama_cpp", &c->b->llama_cpp) != 0) return -1;
        } else if (!strcmp(key, "prompt_lookup_sweep")) {
            yaml_node_item_t *it = NULL;
            size_t n = 0;
            if (parse_list(c, w, "peers.prompt_lookup_sweep", &it, &n) != 0) return -1;
            if (n == 0 || n > 64) return fail(c, w, "'peers.prompt_lookup_sweep' needs 1..64 entries");
            free(c->b->sweep);
            if (!(c->b->sweep = calloc(n, sizeof *c->b->sweep))) return fail(c, w, "out of memory");
            c->b->n_sweep = (uint32_t) n;
            for (size_t i = 0; i < n; i++) {
                yaml_node_t *s = yaml_document_get_node(c->doc, it[i]);
                if (s->type != YAML_MAPPING_NODE)
                    return fail(c, s, "peers.prompt_lookup_sweep[%zu] must be {ngram: N, k: K}", i);
                int have = 0;
                for (yaml_node_pair_t *q = s->data.mapping.pairs.start; q < s->data.mapping.pairs.top; q++) {
                    yaml_node_t *qk = yaml_document_get_node(c->doc, q->key);
                    yaml_node_t *qv = yaml_document_get_node(c->doc, q->value);
                    uint64_t x;
                    const char *kk = scalar(qk) ? scalar(qk) : "";
                    if (!strcmp(kk, "ngram")) {
                        if (get_uint(c, qv, "peers.prompt_lookup_sweep.ngram", 1, 16, &x) != 0) return -1;
                        c->b->sweep[i].ngram = (uint32_t) x;
                        have |= 1;
                    } else if (!strcmp(kk, "k")) {
                        if (get_uint(c, qv, "peers.prompt_lookup_sweep.k", 1, 64, &x) != 0) return -1;
                        c->b->sweep[i].k = (uint32_t) x;
                        have |= 2;
                    } else {
                        return fail(c, qk, "peers.prompt_lookup_sweep[%zu]: unknown key '%s' (expected ngram, k)", i, kk);
                    }
                }
                if (have != 3) return fail(c, s, "peers.prompt_lookup_sweep[%zu] needs both ngram and k", i);
            }
        } else {
            return fail(c, k, "peers: unknown key '%s' (expected llama_cpp, prompt_lookup_sweep)", key);
        }
    }
    return 0;
}

/* compare: [NAME | best:GROUP, ...] - after configs, so that every name and group can be checked */
static int parse_compare(ctx_t *c, yaml_node_t *v) {
    bench_config_t *b = c->b;
    yaml_node_item_t *it = NULL;
    size_t n = 0;
    if (parse_list(c, v, "compare", &it, &n) != 0) return -1;
    if (n > 16) return fail(c, v, "'compare' has more than 16 entries");
    if (n && !(b->compare = calloc(n, sizeof *b->compare))) return fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *s = yaml_document_get_node(c->doc, it[i]);
        const char *t = scalar(s);
        if (!t || !*t) return fail(c, s, "compare[%zu] must be a configuration name or best:GROUP", i);
        const int best = !strncmp(t, "best:", 5);
        const char *want = best ? t + 5 : t;
        int found = !strcmp(want, "ar") && !best;
        for (uint32_t j = 0; j < b->n_entries && !found; j++) {
            const char *have = best ? b->entries[j].group : b->entries[j].name;
            found = have && !strcmp(have, want);
        }
        if (!found)
            return fail(c, s, "compare[%zu]: no configuration %s '%s' in 'configs'", i, best ? "in group" : "named",
                        want);
        if (!(b->compare[i] = strdup(t))) return fail(c, s, "out of memory");
        b->n_compare = (uint32_t) i + 1;
    }
    return 0;
}

static int parse_root(ctx_t *c, yaml_node_t *root) {
    bench_config_t *b = c->b;
    if (root->type != YAML_MAPPING_NODE) return fail(c, root, "a bench config is a mapping with a 'configs' list");
    int seen_configs = 0;
    yaml_node_t *compare_node = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(k);
        if (!key) return fail(c, k, "keys must be scalars");
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++) {
            const char *other = scalar(yaml_document_get_node(c->doc, q->key));
            if (other && !strcmp(other, key)) return fail(c, k, "duplicate key '%s'", key);
        }
        uint64_t x;
        yaml_node_item_t *it = NULL;
        size_t n = 0;
        if (!strcmp(key, "configs")) {
            if (parse_list(c, v, key, &it, &n) != 0) return -1;
            if (n > 256) return fail(c, v, "'configs' has more than 256 entries");
            if (n && !(b->entries = calloc(n, sizeof *b->entries))) return fail(c, v, "out of memory");
            for (size_t i = 0; i < n; i++) {
                b->n_entries = (uint32_t) i + 1;
                if (parse_entry(c, yaml_document_get_node(c->doc, it[i]), (uint32_t) i) != 0) return -1;
            }
            seen_configs = 1;
        } else if (!strcmp(key, "prompts")) {
            if (parse_list(c, v, key, &it, &n) != 0) return -1;
            if (n == 0) return fail(c, v, "'prompts' is empty");
            if (!(b->prompts = calloc(n, sizeof *b->prompts))) return fail(c, v, "out of memory");
            for (size_t i = 0; i < n; i++) {
                yaml_node_t *s = yaml_document_get_node(c->doc, it[i]);
                if (!scalar(s) || !*scalar(s)) return fail(c, s, "prompts[%zu] must be a file path", i);
                b->prompts[i] = strchr(scalar(s), '/') ? config_path_join(b->dir, scalar(s)) : strdup(scalar(s));
                if (!b->prompts[i]) return fail(c, s, "out of memory");
                b->n_prompts = (uint32_t) i + 1;
            }
        } else if (!strcmp(key, "prompts_per_set")) {
            if (get_uint(c, v, key, 0, 1000000, &x) != 0) return -1;
            b->prompts_per_set = (uint32_t) x;
        } else if (!strcmp(key, "max_tokens")) {
            if (get_uint(c, v, key, 1, 1000000, &x) != 0) return -1;
            b->max_tokens = (uint32_t) x;
        } else if (!strcmp(key, "repeats")) {
            if (get_uint(c, v, key, 1, 1000, &x) != 0) return -1;
            b->repeats = (uint32_t) x;
        } else if (!strcmp(key, "threads")) {
            if (get_uint(c, v, key, 0, 256, &x) != 0) return -1;
            b->threads = (uint32_t) x;
        } else if (!strcmp(key, "seed")) {
            if (get_uint(c, v, key, 0, UINT64_MAX, &x) != 0) return -1;
            b->seed = x;
        } else if (!strcmp(key, "model")) {
            if (!scalar(v) || !*scalar(v)) return fail(c, v, "'model' must be a file path");
            free(b->model);
            if (!(b->model = config_path_join(b->dir, scalar(v)))) return fail(c, v, "out of memory");
        } else if (!strcmp(key, "temperatures")) {
            if (parse_list(c, v, key, &it, &n) != 0) return -1;
            if (n == 0 || n > 16) return fail(c, v, "'temperatures' needs 1..16 values");
            free(b->temperatures);
            if (!(b->temperatures = calloc(n, sizeof *b->temperatures))) return fail(c, v, "out of memory");
            for (size_t i = 0; i < n; i++) {
                yaml_node_t *s = yaml_document_get_node(c->doc, it[i]);
                const char *t = scalar(s);
                char *end;
                double d = t ? strtod(t, &end) : -1;
                if (!t || !*t || *end || !(d >= 0 && d <= 100))
                    return fail(c, s, "temperatures[%zu] must be a number in 0..100, got '%s'", i, t ? t : "(not a scalar)");
                b->temperatures[i] = d;
            }
            b->n_temperatures = (uint32_t) n;
        } else if (!strcmp(key, "peers")) {
            if (parse_peers(c, v) != 0) return -1;
        } else if (!strcmp(key, "compare")) {
            compare_node = v;
        } else {
            return fail(c, k,
                        "unknown key '%s' (expected configs, prompts, prompts_per_set, max_tokens, temperatures, "
                        "repeats, seed, model, threads, peers, compare)",
                        key);
        }
    }
    if (!seen_configs) return fail(c, root, "no 'configs' list");
    return compare_node ? parse_compare(c, compare_node) : 0;
}

static bench_config_t *new_config(const char *name, const char *base_dir) {
    bench_config_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->file = strdup(name ? name : "<string>");
    b->dir = strdup(base_dir && *base_dir ? base_dir : ".");
    b->max_tokens = 256;
    b->repeats = 1;
    b->seed = 1234;
    b->temperatures = calloc(1, sizeof *b->temperatures);
    b->n_temperatures = 1;
    b->sweep = calloc(1, sizeof *b->sweep);
    if (!b->file || !b->dir || !b->temperatures || !b->sweep) {
        bench_config_free(b);
        return NULL;
    }
    b->sweep[0] = (bench_sweep_t) {2, 10};
    b->n_sweep = 1;
    return b;
}

bench_config_t *bench_config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                                         char *err, size_t cap) {
    bench_config_t *b = new_config(name, base_dir);
    if (!b) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, cap, "%s: out of memory", b->file);
        bench_config_free(b);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, cap, "%s:%lu: YAML: %s", b->file, (unsigned long) parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error");
    } else {
        ctx_t c = {&doc, b, text, len, err, cap};
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) snprintf(err, cap, "%s: empty file (expected a mapping with a 'configs' list)", b->file);
        else rc = parse_root(&c, root);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (rc != 0) {
        bench_config_free(b);
        return NULL;
    }
    return b;
}

bench_config_t *bench_config_load_file(const char *path, char *err, size_t cap) {
    size_t n = 0;
    char *buf = cli_read_file(path, &n, err, cap);
    if (!buf) return NULL;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int) (slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    if (slash == path) snprintf(dir, sizeof dir, "/");
    bench_config_t *b = bench_config_load_string(buf, n, path, dir, err, cap);
    free(buf);
    return b;
}

bench_config_t *bench_config_default(char *err, size_t cap) {
    static const char text[] = "configs:\n"
                               "  - name: chain-ngram\n"
                               "    strategy: {plugin: chain, params: {k: 4}}\n"
                               "    draft: {kind: ngram}\n"
                               "temperatures: [0, 1]\n";
    return bench_config_load_string(text, sizeof text - 1, "<built-in bench config>", ".", err, cap);
}

void bench_config_free(bench_config_t *b) {
    if (!b) return;
    for (uint32_t i = 0; i < b->n_entries; i++) {
        free(b->entries[i].name);
        free(b->entries[i].group);
        free(b->entries[i].source);
        config_free(b->entries[i].cfg);
    }
    free(b->entries);
    for (uint32_t i = 0; i < b->n_compare; i++) free(b->compare[i]);
    free(b->compare);
    for (uint32_t i = 0; i < b->n_prompts; i++) free(b->prompts[i]);
    free(b->prompts);
    free(b->temperatures);
    free(b->sweep);
    free(b->model);
    free(b->file);
    free(b->dir);
    free(b);
}
