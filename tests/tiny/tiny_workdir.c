/* tiny_workdir.c - see tiny_workdir.h */
#define _GNU_SOURCE
#include "tiny_workdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiny_model.h"

int tiny_workdir_create(tiny_workdir_t *w, const char *tag, const char *prompts_text, char *err, size_t cap) {
    snprintf(w->dir, sizeof w->dir, "/tmp/dstrat_%.40s_XXXXXX", tag);
    if (!mkdtemp(w->dir)) {
        snprintf(err, cap, "mkdtemp %s failed", w->dir);
        return -1;
    }
    snprintf(w->target, sizeof w->target, "%s/target.gguf", w->dir);
    snprintf(w->draft, sizeof w->draft, "%s/draft.gguf", w->dir);
    snprintf(w->prompts, sizeof w->prompts, "%s/prompts.txt", w->dir);
    tiny_model_opts t = tiny_model_default_target(), d = tiny_model_default_draft();
    if (tiny_model_write(w->target, &t, err, cap) != 0 || tiny_model_write(w->draft, &d, err, cap) != 0) return -1;
    FILE *f = fopen(w->prompts, "w");
    if (!f || fputs(prompts_text, f) < 0) {
        if (f) fclose(f);
        snprintf(err, cap, "cannot write %s", w->prompts);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

int tiny_workdir_remove(const tiny_workdir_t *w) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
    return system(cmd) == 0 ? 0 : -1;
}

int refhost_json_tokens(const char *out, char *buf, size_t cap) {
    static const char key[] = ", \"tokens\": [";
    const char *p = strstr(out, key);
    if (!p) return -1;
    p += strlen(key);
    const char *e = strchr(p, ']');
    if (!e) return -1;
    snprintf(buf, cap, "%.*s", (int) (e - p), p);
    return 0;
}
