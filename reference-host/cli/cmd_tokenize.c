/* cmd_tokenize.c - refhost tokenize: prompt -> token ids (JSON). Used by the llama.cpp oracle. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli_commands.h"
#include "cli_common.h"

static void usage(FILE *f) {
    fputs("usage: refhost tokenize [--model PATH] (--prompt TEXT | --prompt-file PATH|-) [--chat]\n"
          "prints {\"tokens\": [...]} on stdout\n",
          f);
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'},
        {"prompt-file", required_argument, 0, 'f'}, {"chat", no_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model = cli_default_model(), *prompt = NULL, *prompt_file = NULL;
    int chat = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': prompt = optarg; break;
        case 'f': prompt_file = optarg; break;
        case 'c': chat = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc || (!prompt == !prompt_file)) {
        fputs("refhost tokenize: give exactly one of --prompt or --prompt-file\n", stderr);
        return EXIT_USAGE;
    }
    char err[1024];
    char *text = NULL;
    if (prompt_file && !(text = cli_read_file(prompt_file, NULL, err, sizeof err))) {
        fprintf(stderr, "refhost tokenize: %s\n", err);
        return EXIT_INPUT;
    }
    gguf_file_t *g = gguf_open(model, err, sizeof err);
    tokenizer_t *tok = g ? tok_load(g, err, sizeof err) : NULL;
    if (!tok) {
        fprintf(stderr, "refhost tokenize: %s\n", err);
        gguf_close(g);
        free(text);
        return EXIT_INPUT;
    }
    uint32_t n = 0;
    int32_t *ids = cli_tokenize(tok, text ? text : prompt, chat, &n, err, sizeof err);
    int rc = 0;
    if (!ids) {
        fprintf(stderr, "refhost tokenize: %s\n", err);
        rc = EXIT_RUNTIME;
    } else {
        fputs("{\"tokens\": [", stdout);
        for (uint32_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        fputs("]}\n", stdout);
    }
    free(ids);
    tok_free(tok);
    gguf_close(g);
    free(text);
    return rc;
}
