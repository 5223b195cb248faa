/* cli_common.h - what the refhost subcommands share: exit codes, prompt input, model opening. */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"

/* exit codes of refhost */
#define EXIT_USAGE 2     /* bad command line or config */
#define EXIT_INPUT 3     /* a file could not be read or is invalid (model, prompt, plugin) */
#define EXIT_RUNTIME 4   /* generation failed */

/* Reads a whole file ("-" = stdin) into a NUL-terminated malloc'd buffer; NULL + message. */
char *cli_read_file(const char *path, size_t *len, char *err, size_t err_cap);
/* The same for dir/name (e.g. one array of a refhost draft-data directory). */
char *cli_read_file_in(const char *dir, const char *name, size_t *len, char *err, size_t err_cap);

/* The default model path: $DSTRAT_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf next to the
 * executable's source tree or the current directory. Returns a static string. */
const char *cli_default_model(void);

/* An opened model: GGUF mapping, weights and tokenizer. */
typedef struct cli_model {
    gguf_file_t *gguf;
    llm_model_t *model;
    tokenizer_t *tok;
} cli_model_t;
int  cli_model_open(cli_model_t *m, const char *path, char *err, size_t err_cap);
void cli_model_close(cli_model_t *m);

/* Tokenizes text (rendered as a one-turn ChatML chat if chat) into a malloc'd array. */
int32_t *cli_tokenize(const tokenizer_t *tok, const char *text, int chat, uint32_t *n, char *err,
                      size_t err_cap);

/* Strategy parameters given on the command line (--param KEY=VALUE, repeatable), owned copies. */
#define CLI_MAX_PARAMS 64
typedef struct cli_params {
    dstrat_param_t p[CLI_MAX_PARAMS];
    char *buf[CLI_MAX_PARAMS];
    uint32_t n;
} cli_params_t;
/* Adds one --param KEY=VALUE. 0, or the exit code to end with (EXIT_USAGE: malformed or too many;
 * EXIT_RUNTIME: out of memory) with the message in err. */
int  cli_params_add(cli_params_t *c, const char *key_eq_value, char *err, size_t cap);
void cli_params_free(cli_params_t *c);

/* JSON string escaping to a stream */
#include <stdio.h>
void cli_json_str(FILE *f, const char *s, size_t len);

#endif
