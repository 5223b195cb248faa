/* bench_prompts.h - prompt sets for refhost bench: JSON Lines files in the format of
 * ../shared/prompts/ (one object per line with a `turns` array of user messages; the first turn is
 * the prompt). A file that sits next to a MANIFEST.md must be listed there with its sha256, and
 * must match it. */
#ifndef BENCH_PROMPTS_H
#define BENCH_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_prompt {
    char *id;    /* question_id as text, or the line number */
    char *text;  /* first turn, UTF-8 */
} bench_prompt_t;

typedef struct bench_prompt_set {
    char *path;
    char *name;          /* file name without directory and .jsonl */
    char sha256[65];
    int manifest_checked;
    bench_prompt_t *prompts;
    uint32_t n;
} bench_prompt_set_t;

/* Reads and checks one file. 0, or -1 with "<path>:<line>: ..." in err. */
int bench_prompts_load(const char *path, bench_prompt_set_t *set, char *err, size_t cap);
void bench_prompts_free(bench_prompt_set_t *set);

/* The sha256 MANIFEST.md (markdown table: first cell the file name, last cell the hash) gives
 * for file_name: 1 and hex filled, 0 when not listed, -1 with err when unreadable. */
int bench_manifest_lookup(const char *manifest_path, const char *file_name, char hex[65], char *err, size_t cap);

/* The shared prompt directory: $DSTRAT_PROMPTS_DIR, else <source root>/../shared/prompts, else
 * /work/shared/prompts (whichever has a MANIFEST.md). Static string; NULL if none. */
const char *bench_default_prompts_dir(const char *source_root);

#endif
