/* bench_prompts.c - see bench_prompts.h */
#include "bench_prompts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_json.h"
#include "cli_common.h"
#include "bench_sha256.h"

int bench_manifest_lookup(const char *manifest_path, const char *file_name, char hex[65], char *err, size_t cap) {
    size_t len;
    char *text = cli_read_file(manifest_path, &len, err, cap);
    if (!text) return -1;
    int found = 0;
    for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
        /* | name | ... | sha256 | */
        char *p = line;
        while (*p == ' ') p++;
        if (*p != '|') continue;
        p++;
        while (*p == ' ') p++;
        size_t fl = strlen(file_name);
        if (strncmp(p, file_name, fl) != 0 || !(p[fl] == ' ' || p[fl] == '|')) continue;
        char *end = line + strlen(line);
        while (end > line && (end[-1] == ' ' || end[-1] == '|' || end[-1] == '\r')) end--;
        if (end - line < 64) continue;
        char *h = end - 64;
        int ok = 1;
        for (int i = 0; i < 64; i++) ok &= isxdigit((unsigned char) h[i]) && !isupper((unsigned char) h[i]);
        if (!ok) continue;
        memcpy(hex, h, 64);
        hex[64] = '\0';
        found = 1;
    }
    free(text);
    return found;
}

static int set_fail(bench_prompt_set_t *s, char *err, size_t cap, const char *fmt, const char *a, unsigned line,
                    const char *b) {
    snprintf(err, cap, fmt, a, line, b);
    bench_prompts_free(s);
    return -1;
}

int bench_prompts_load(const char *path, bench_prompt_set_t *set, char *err, size_t cap) {
    memset(set, 0, sizeof *set);
    size_t len;
    char *text = cli_read_file(path, &len, err, cap);
    if (!text) return -1;
    set->path = strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    set->name = strdup(base);
    if (!set->path || !set->name) {
        free(text);
        return set_fail(set, err, cap, "%s:%u: out of memory%s", path, 0, "");
    }
    char *dot = strstr(set->name, ".jsonl");
    if (dot && dot[6] == '\0') *dot = '\0';
    bench_sha256_hex(text, len, set->sha256);

    /* a file next to a MANIFEST.md must be listed there and match */
    char manifest[4096];
    int dl = (int) (base - path);
    snprintf(manifest, sizeof manifest, "%.*sMANIFEST.md", dl, path);
    if (access(manifest, R_OK) == 0) {
        char want[65];
        int r = bench_manifest_lookup(manifest, base, want, err, cap);
        if (r < 0) {
            free(text);
            bench_prompts_free(set);
            return -1;
        }
        if (r == 0) {
            free(text);
            return set_fail(set, err, cap, "%s:%u: not listed in %s", path, 0, manifest);
        }
        if (strcmp(want, set->sha256) != 0) {
            snprintf(err, cap, "%s: sha256 is %s but %s says %s", path, set->sha256, manifest, want);
            free(text);
            bench_prompts_free(set);
            return -1;
        }
        set->manifest_checked = 1;
    }

    uint32_t cap_p = 0, lineno = 0;
    char *line = text;
    while (line < text + len) {
        char *nl = memchr(line, '\n', (size_t) (text + len - line));
        size_t ll = nl ? (size_t) (nl - line) : (size_t) (text + len - line);
        lineno++;
        size_t k = 0;
        while (k < ll && isspace((unsigned char) line[k])) k++;
        if (k < ll) {
            char why[512];
            bj_value_t *v = bj_parse(line, ll, why, sizeof why);
            const bj_value_t *turns = v ? bj_get(v, "turns") : NULL;
            const char *problem = !v ? why
                                  : v->type != BJ_OBJ ? "not a JSON object"
                                  : !turns || turns->type != BJ_ARR || turns->n == 0 ? "no non-empty 'turns' array"
                                  : turns->items[0].type != BJ_STR ? "turns[0] is not a string"
                                  : turns->items[0].len == 0 ? "turns[0] is empty" : NULL;
            if (problem) {
                char msg[600];
                snprintf(msg, sizeof msg, "%s", problem);
                bj_free(v);
                free(text);
                return set_fail(set, err, cap, "%s:%u: %s", path, lineno, msg);
            }
            if (set->n == cap_p) {
                cap_p = cap_p ? cap_p * 2 : 64;
                bench_prompt_t *np = realloc(set->prompts, cap_p * sizeof *np);
                if (!np) {
                    bj_free(v);
                    free(text);
                    return set_fail(set, err, cap, "%s:%u: out of memory%s", path, lineno, "");
                }
                set->prompts = np;
            }
            const bj_value_t *qid = bj_get(v, "question_id");
            char idbuf[64];
            if (qid && qid->type == BJ_NUM) snprintf(idbuf, sizeof idbuf, "%.17g", qid->num);
            else snprintf(idbuf, sizeof idbuf, "line%u", lineno);
            bench_prompt_t *pr = &set->prompts[set->n];
            pr->id = qid && qid->type == BJ_STR ? strdup(qid->str) : strdup(idbuf);
            pr->text = strdup(turns->items[0].str);
            set->n++;
            bj_free(v);
            if (!pr->id || !pr->text) {
                free(text);
                return set_fail(set, err, cap, "%s:%u: out of memory%s", path, lineno, "");
            }
        }
        line += ll + 1;
    }
    free(text);
    if (set->n == 0) return set_fail(set, err, cap, "%s:%u: %s", path, lineno, "no prompts in the file");
    return 0;
}

void bench_prompts_free(bench_prompt_set_t *set) {
    for (uint32_t i = 0; i < set->n; i++) {
        free(set->prompts[i].id);
        free(set->prompts[i].text);
    }
    free(set->prompts);
    free(set->path);
    free(set->name);
    memset(set, 0, sizeof *set);
}

const char *bench_default_prompts_dir(const char *source_root) {
    static char buf[4096];
    const char *env = getenv("DSTRAT_PROMPTS_DIR");
    if (env && env[0]) return env;
    if (source_root) {
        snprintf(buf, sizeof buf, "%s/../shared/prompts/MANIFEST.md", source_root);
        if (access(buf, R_OK) == 0) {
            snprintf(buf, sizeof buf, "%s/../shared/prompts", source_root);
            return buf;
        }
    }
    if (access("/work/shared/prompts/MANIFEST.md", R_OK) == 0) return "/work/shared/prompts";
    return NULL;
}
