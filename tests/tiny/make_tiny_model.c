/* make_tiny_model - writes a random-weight llama GGUF (see tiny_model.h).
 * usage: make_tiny_model OUT.gguf [target|draft] [key=value ...]
 *   keys: layers embd heads heads_kv ff vocab ctx seed tied(0/1) type(F32|F16|Q8_0|Q4_0|Q4_1) std */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tiny_model.h"

static int parse_type(const char *s, uint32_t *t)
{
    static const struct { const char *n; uint32_t t; } k[] = {
        { "F32", GGML_TYPE_F32 }, { "F16", GGML_TYPE_F16 }, { "Q8_0", GGML_TYPE_Q8_0 },
        { "Q4_0", GGML_TYPE_Q4_0 }, { "Q4_1", GGML_TYPE_Q4_1 },
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(s, k[i].n) == 0) {
            *t = k[i].t;
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT.gguf [target|draft] [layers=N embd=N heads=N heads_kv=N ff=N vocab=N "
                "ctx=N seed=N tied=0|1 type=F32|F16|Q8_0|Q4_0|Q4_1 std=X]\n", argv[0]);
        return 2;
    }
    tiny_model_opts o = tiny_model_default_target();
    int a = 2;
    if (argc > 2 && strcmp(argv[2], "draft") == 0) {
        o = tiny_model_default_draft();
        a = 3;
    } else if (argc > 2 && strcmp(argv[2], "target") == 0) {
        a = 3;
    }
    for (; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        if (!eq) {
            fprintf(stderr, "make_tiny_model: expected key=value, got %s\n", argv[a]);
            return 2;
        }
        *eq = '\0';
        const char *k = argv[a], *v = eq + 1;
        unsigned long n = strtoul(v, NULL, 10);
        if (!strcmp(k, "layers")) o.n_layer = (uint32_t)n;
        else if (!strcmp(k, "embd")) o.n_embd = (uint32_t)n;
        else if (!strcmp(k, "heads")) o.n_head = (uint32_t)n;
        else if (!strcmp(k, "heads_kv")) o.n_head_kv = (uint32_t)n;
        else if (!strcmp(k, "ff")) o.n_ff = (uint32_t)n;
        else if (!strcmp(k, "vocab")) o.n_vocab = (uint32_t)n;
        else if (!strcmp(k, "ctx")) o.n_ctx_train = (uint32_t)n;
        else if (!strcmp(k, "seed")) o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "tied")) o.tied = n != 0;
        else if (!strcmp(k, "std")) o.init_std = strtof(v, NULL);
        else if (!strcmp(k, "type")) {
            if (parse_type(v, &o.wtype)) {
                fprintf(stderr, "make_tiny_model: unknown type %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "make_tiny_model: unknown key %s\n", k);
            return 2;
        }
    }
    char err[256];
    if (tiny_model_write(argv[1], &o, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}
