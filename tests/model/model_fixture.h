/* model_fixture.h - helpers shared by the model tests: a tiny model written to a temp dir and
 * loaded, plus the bookkeeping to free it. */
#ifndef MODEL_FIXTURE_H
#define MODEL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "model.h"
#include "tiny_model.h"

typedef struct fixture {
    char         dir[64];
    char         path[96];
    gguf_file_t *g;
    llm_model_t *m;
    char         err[512];
} fixture_t;

/* Writes o into a fresh temp dir and opens it; returns 0 if the GGUF opened (m may still be NULL
 * when the loader rejects it: the message is in f->err). */
static inline int fixture_open(fixture_t *f, const tiny_model_opts *o)
{
    memset(f, 0, sizeof *f);
    strcpy(f->dir, "/tmp/dstrat-model-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/tiny.gguf", f->dir);
    if (tiny_model_write(f->path, o, f->err, sizeof f->err))
        return -1;
    f->g = gguf_open(f->path, f->err, sizeof f->err);
    if (!f->g)
        return -1;
    f->m = llm_model_load(f->g, f->err, sizeof f->err);
    return 0;
}

static inline void fixture_close(fixture_t *f)
{
    llm_model_free(f->m);
    gguf_close(f->g);
    if (f->path[0])
        unlink(f->path);
    if (f->dir[0])
        rmdir(f->dir);
    memset(f, 0, sizeof *f);
}

#endif /* MODEL_FIXTURE_H */
