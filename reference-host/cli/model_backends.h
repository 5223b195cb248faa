/* model_backends.h - adapters from the model (llm_ctx_t) to the session's backend interfaces:
 * the target, and a draft that is itself a (smaller) model sharing the target's vocabulary. */
#ifndef MODEL_BACKENDS_H
#define MODEL_BACKENDS_H

#include "model.h"
#include "session.h"

/* Fills t so that the session drives ctx as its target. ctx is borrowed. */
void mb_target_init(sess_target_t *t, llm_ctx_t *ctx);

/* A draft backed by a model context with the same vocabulary. */
typedef struct mb_draft_model {
    llm_ctx_t *ctx;
    uint32_t n_vocab;
    int32_t *seen;          /* tokens whose KV the draft holds (committed rows) */
    uint32_t cap_seen;
    char err[256];
} mb_draft_model_t;
void mb_draft_model_init(sess_draft_t *d, mb_draft_model_t *state, llm_ctx_t *ctx);
void mb_draft_model_free(mb_draft_model_t *state);

#endif
