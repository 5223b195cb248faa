/* session.h - the one place where host and strategy meet: drives prefill and the
 * propose -> verify -> accept -> commit -> observe cycle of one sequence through the ABI.
 *
 * The session knows models only through two small backend interfaces, so the same cycle code runs
 * the real GGUF models (reference-host/cli wires llm_ctx_t in) and the mock models of the
 * conformance tests. generate, bench, collect and train all drive this code.
 *
 * Thread safety: a session is single-threaded.
 */
#ifndef SESSION_H
#define SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"
#include "sampler.h"

/* ---- target backend: the model being decoded ----
 * Follows the KV contract of model.h: `forward` evaluates n <= max_batch nodes (parent[i] < i, or
 * -1 for a node attached directly to the committed cache) and writes logits row i (n_vocab floats)
 * for every i with want[i] != 0 (want NULL = all rows); `commit` keeps the path rows of the last
 * forward (NULL/0 drops them). Return 0 or a negative code; `error` gives text. */
typedef struct sess_target {
    void *ctx;
    uint32_t n_vocab;
    uint32_t n_ctx;                                     /* KV capacity in tokens */
    uint32_t max_batch;                                 /* most tokens per forward */
    int (*forward)(void *ctx, const int32_t *tokens, const int32_t *parent, uint32_t n,
                   const uint8_t *want, float *logits);
    int (*commit)(void *ctx, const int32_t *path, uint32_t n_path);
    int (*truncate)(void *ctx, uint32_t n_past);        /* drop committed rows from n_past on */
    const char *(*error)(void *ctx);
} sess_target_t;

/* ---- draft backend: proposes next-token distributions for draft-tree nodes ----
 * begin_cycle gives the committed sequence (c[0..n), root = c[n-1]) so the draft can catch up.
 * forward evaluates nodes with cycle-local ids first_id.. (parent = earlier cycle-local id, or -1
 * for the root) and writes n x n_vocab logits. end_cycle drops the draft tree.
 * n_evaluated (optional out) = tokens the draft really evaluated (catch-up included). */
typedef struct sess_draft {
    void *ctx;
    int (*begin_cycle)(void *ctx, const int32_t *committed, uint32_t n);
    int (*forward)(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent,
                   uint32_t n, float *logits, uint32_t *n_evaluated);
    void (*end_cycle)(void *ctx);
    const char *(*error)(void *ctx);
    /* Optional: called after every target commit (prefill chunks included) with the rows of the
     * target's last forward that were committed, in order, so a draft that reads the target's
     * hidden states (llm_hidden) can take them while they are valid. 0 or negative. */
    int (*target_committed)(void *ctx, const int32_t *rows, uint32_t n_rows);
    /* Optional sparse output, preferred by the session when set: evaluates the nodes exactly as
     * forward does, but instead of n x n_vocab logits writes, for every node i with want == NULL
     * or want[i] != 0, the k most probable next tokens of the draft's distribution into
     * ids[i * k ..] (TARGET vocabulary ids) and their log-probabilities, normalised over the
     * draft's whole distribution, into logp[i * k ..]: the same top-k (sorted by log-prob
     * descending, ties by lower target id) that log_softmax + top-k over forward's logits gives.
     * Rows of unwanted nodes are left as they are. 1 <= k <= n_vocab. A draft that only produces
     * dense logits (a full draft model) leaves this NULL. */
    int (*forward_topk)(void *ctx, uint32_t first_id, const int32_t *tokens, const int32_t *parent,
                        uint32_t n, const uint8_t *want, uint32_t k, int32_t *ids, float *logp,
                        uint32_t *n_evaluated);
} sess_draft_t;

/* One draft call as the session makes it for draft_forward: evaluates nodes first_id.. and writes
 * the top-k (ids, log-probs) of every node i with want == NULL or want[i] != 0 at ids/logp + i * k.
 * Uses d->forward_topk when set; otherwise d->forward into dense (n x n_vocab floats, which the
 * caller provides; may be NULL when d->forward_topk is set) followed by log_softmax + top-k.
 * Returns 0 or the draft's negative code (message: d->error). Exposed for benches and tests. */
int sess_draft_topk(const sess_draft_t *d, uint32_t n_vocab, uint32_t first_id, const int32_t *tokens,
                    const int32_t *parent, uint32_t n, const uint8_t *want, uint32_t k, float *dense,
                    int32_t *ids, float *logp, uint32_t *n_evaluated);

typedef struct sess_params {
    sampler_params_t sampling;     /* temperature 0 = greedy */
    uint64_t seed;
    uint32_t max_tree_nodes;       /* 0 = 64 */
    uint32_t max_tree_depth;       /* 0 = 16 */
    uint32_t max_draft_top_k;      /* 0 = 16 */
} sess_params_t;

/* per-generation counters */
typedef struct sess_stats {
    uint64_t n_prompt;
    uint64_t n_generated;
    uint64_t n_cycles;
    uint64_t n_draft_calls;
    uint64_t n_draft_nodes;        /* nodes sent to draft_forward */
    uint64_t n_verified;           /* tree nodes verified, roots included */
    uint64_t t_prefill_ns;
    uint64_t t_draft_ns;
    uint64_t t_verify_ns;          /* target forwards of the cycles */
    uint64_t t_strategy_ns;        /* propose + accept + observe, minus draft forwards */
    uint64_t t_decode_ns;          /* all cycles, wall */
} sess_stats_t;

typedef struct session session_t;

/* Creates a session over the backends (borrowed; must outlive it). draft may be NULL (the host
 * then reports no CAP_DRAFT). Returns NULL and a message in err on failure. */
session_t *session_create(const sess_target_t *target, const sess_draft_t *draft,
                          const sess_params_t *p, char *err, size_t err_cap);
void session_free(session_t *s);

/* The host services a strategy must be created with; owned by the session, valid until
 * session_free. */
const dstrat_host_t *session_host(const session_t *s);

/* Binds a strategy instance created with session_host(s) (borrowed: destroy it after
 * session_free) and creates its per-sequence state. 0 or negative with session_error set. */
int session_bind(session_t *s, dstrat_strategy_t *strategy);

/* Called for every token committed, in order (generated tokens only). Return non-zero to stop. */
typedef int (*sess_on_token)(void *user, int32_t token);

/* Prefills prompt[0..n) (n >= 1) and generates up to max_new tokens, stopping after a token for
 * which is_eog returns 1 (the EOG token is reported and counted). out receives the generated ids
 * (capacity max_new). Returns the number generated (>= 0) or a negative code with
 * session_error() set. logits_dump: if non-NULL, called with the target distribution logits each
 * generated token was chosen from (n_vocab floats), in order. */
typedef struct sess_run {
    const int32_t *prompt;
    uint32_t n_prompt;
    uint32_t max_new;
    int (*is_eog)(void *user, int32_t token);
    sess_on_token on_token;
    void (*logits_dump)(void *user, const float *logits, uint32_t n_vocab);
    void *user;
    int32_t *out;
} sess_run_t;
int64_t session_generate(session_t *s, const sess_run_t *run);

const sess_stats_t *session_stats(const session_t *s);
const char *session_error(const session_t *s);

#endif /* SESSION_H */
