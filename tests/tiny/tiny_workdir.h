/* tiny_workdir.h - a temporary directory holding a tiny random-weight target and draft GGUF and a
 * prompts file, for the end-to-end tests that run refhost on them. */
#ifndef TINY_WORKDIR_H
#define TINY_WORKDIR_H

#include <stddef.h>

typedef struct tiny_workdir {
    char dir[128], target[192], draft[192], prompts[192];
} tiny_workdir_t;

/* Makes /tmp/dstrat_<tag>_XXXXXX with target.gguf, draft.gguf (tiny_model's defaults) and
 * prompts.txt = prompts_text. 0, or -1 with a message in err. */
int tiny_workdir_create(tiny_workdir_t *w, const char *tag, const char *prompts_text, char *err, size_t cap);
/* Removes the directory and everything in it. 0 or -1. */
int tiny_workdir_remove(const tiny_workdir_t *w);

/* The generated token ids of a `refhost generate --json` output, as the text "1, 2, 3" into buf.
 * 0, or -1 when out has no token list. */
int refhost_json_tokens(const char *out, char *buf, size_t cap);

#endif
