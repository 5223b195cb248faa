/* cli_common.c - see cli_common.h */
#include "cli_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *cli_read_file(const char *path, size_t *len, char *err, size_t err_cap) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap) break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, err_cap, "%s: %s", path, bad ? "read error" : "out of memory");
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *cli_read_file_in(const char *dir, const char *name, size_t *len, char *err, size_t err_cap) {
    char path[1024];
    if ((size_t) snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        snprintf(err, err_cap, "%s/%s: path too long", dir, name);
        return NULL;
    }
    return cli_read_file(path, len, err, err_cap);
}

const char *cli_default_model(void) {
    static char path[4096];
    const char *env = getenv("DSTRAT_MODEL");
    if (env && env[0]) return env;
    const char *rel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    /* the executable lives in <root>/<build>/reference-host/cli/ in a build tree */
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
            int w = snprintf(path, sizeof path, "%s/%s", exe, rel);
            if (w > 0 && (size_t) w < sizeof path && access(path, R_OK) == 0) return path;
        }
    }
    return rel;
}

int cli_model_open(cli_model_t *m, const char *path, char *err, size_t err_cap) {
    memset(m, 0, sizeof *m);
    m->gguf = gguf_open(path, err, err_cap);
    if (!m->gguf) return -1;
    m->model = llm_model_load(m->gguf, err, err_cap);
    if (!m->model) goto fail;
    m->tok = tok_load(m->gguf, err, err_cap);
    if (!m->tok) goto fail;
    if (tok_n_vocab(m->tok) != llm_model_hparams(m->model)->n_vocab) {
        snprintf(err, err_cap, "%s: tokenizer has %u tokens but the model's vocabulary is %u", path,
                 tok_n_vocab(m->tok), llm_model_hparams(m->model)->n_vocab);
        goto fail;
    }
    return 0;
fail:
    cli_model_close(m);
    return -1;
}

void cli_model_close(cli_model_t *m) {
    tok_free(m->tok);
    llm_model_free(m->model);
    gguf_close(m->gguf);
    memset(m, 0, sizeof *m);
}

int32_t *cli_tokenize(const tokenizer_t *tok, const char *text, int chat, uint32_t *n, char *err,
                      size_t err_cap) {
    char *rendered = NULL;
    if (chat) {
        tok_chat_msg_t msg = {"user", text};
        rendered = tok_chat_render(&msg, 1, 1);
        if (!rendered) {
            snprintf(err, err_cap, "out of memory");
            return NULL;
        }
        text = rendered;
    }
    size_t len = strlen(text);
    int64_t cap = (int64_t) len + 8;
    int32_t *ids = malloc((size_t) cap * sizeof *ids);
    int64_t got = ids ? tok_encode(tok, text, len, chat, ids, cap) : 0;
    int add_bos = tok_add_bos(tok) && tok_bos(tok) >= 0;
    if (!ids || got < 0) {
        snprintf(err, err_cap, ids ? "tokenizer failed" : "out of memory");
        free(ids);
        free(rendered);
        return NULL;
    }
    if (add_bos) {
        memmove(ids + 1, ids, (size_t) got * sizeof *ids);
        ids[0] = tok_bos(tok);
        got++;
    }
    free(rendered);
    *n = (uint32_t) got;
    return ids;
}

void cli_json_str(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}

int cli_params_add(cli_params_t *c, const char *arg, char *err, size_t cap) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || c->n == CLI_MAX_PARAMS) {
        snprintf(err, cap, "--param wants KEY=VALUE (%d at most), got '%s'", CLI_MAX_PARAMS, arg);
        return EXIT_USAGE;
    }
    char *kv = strdup(arg);
    if (!kv) {
        snprintf(err, cap, "out of memory");
        return EXIT_RUNTIME;
    }
    kv[eq - arg] = '\0';
    c->buf[c->n] = kv;
    c->p[c->n++] = (dstrat_param_t) {kv, kv + (eq - arg) + 1};
    return 0;
}

void cli_params_free(cli_params_t *c) {
    for (uint32_t i = 0; i < c->n; i++) free(c->buf[i]);
    c->n = 0;
}
