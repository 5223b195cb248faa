/* mock_models.h - deterministic toy target and draft models behind the session's backend
 * interfaces (sess_target_t, sess_draft_t), for the conformance suite.
 *
 * The logits after a context c[0..n) are a pure function of (model seed, salt, position n-1,
 * the last `window` tokens of c): roughly Gaussian values times `sharpness`. The draft's logits
 * are agreement * target + (1 - agreement) * an unrelated model (0 = unrelated, 1 = identical),
 * which tunes how often drafts are accepted.
 *
 * The target honours the KV contract of reference-host/model/model.h for real: it keeps the
 * committed tokens, evaluates a tree batch against them (each node sees the committed rows plus
 * its batch ancestors, at position n_past + depth), and commit() keeps exactly one path. A
 * session that commits the wrong path or forgets a row computes other logits, and its output
 * stops matching plain decoding. Misuse (a forward while a batch is pending, a bad path, an
 * overflow) is an error with a message, never a crash.
 */
#ifndef MOCK_MODELS_H
#define MOCK_MODELS_H

#include <stdint.h>

#include "session.h"

typedef struct mock_cfg {
    uint32_t n_vocab;   /* 2..4096 */
    uint32_t window;    /* context tokens hashed, 1..8 */
    float sharpness;    /* logit scale (about 4 gives top-1 probabilities around 0.5) */
    uint64_t seed;      /* model identity */
    uint32_t n_ctx;     /* target KV capacity */
    uint32_t max_batch; /* target tokens per forward */
} mock_cfg_t;

mock_cfg_t mock_default_cfg(void);

/* The pure model: logits after ctx[0..n) (n >= 1) under salt into out[n_vocab]. */
void mock_logits(const mock_cfg_t *c, uint64_t salt, const int32_t *ctx, uint32_t n, float *out);
/* The draft's logits after ctx[0..n) for an agreement level. */
void mock_draft_logits(const mock_cfg_t *c, float agreement, const int32_t *ctx, uint32_t n,
                       float *out);
#define MOCK_SALT_TARGET UINT64_C(0x7461726765740001)

typedef struct mock_target mock_target_t;
mock_target_t *mock_target_new(const mock_cfg_t *c);
void mock_target_free(mock_target_t *t);
sess_target_t mock_target_iface(mock_target_t *t);
uint32_t mock_target_n_past(const mock_target_t *t);
const int32_t *mock_target_committed(const mock_target_t *t);
uint64_t mock_target_tokens_evaluated(const mock_target_t *t);

typedef struct mock_draft mock_draft_t;
mock_draft_t *mock_draft_new(const mock_cfg_t *c, float agreement);
void mock_draft_free(mock_draft_t *d);
sess_draft_t mock_draft_iface(mock_draft_t *d);
uint64_t mock_draft_tokens_evaluated(const mock_draft_t *d);

#endif /* MOCK_MODELS_H */
