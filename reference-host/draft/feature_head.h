/* feature_head.h - an EAGLE-3-style feature draft head: a one-layer transformer that reads the
 * target's hidden states (inputs of three layers, low/middle/high, fused by a Linear 3h -> h),
 * the token embedding (the target's own token_embd rows, frozen) and predicts the next token over
 * a reduced draft vocabulary (mapped back to target ids by d2t). Deeper draft nodes feed back the
 * head's own output feature instead of the target's. It implements the session's sess_draft_t,
 * with the sparse forward_topk (log-softmax and top-k over the draft vocabulary only, ids mapped
 * to the target's) next to the dense forward.
 *
 * Cost: at load the matrices the draft call multiplies are packed for the fastest kernel of the
 * CPU (kn_matrix_pack; Q/K/V and gate/up stacked into one product each); re-encoding them as Q8_0
 * (fh_head_requantize) uses the int8 VNNI path. All nodes of a level are one batch.
 *
 * Weights file: a GGUF with general.architecture = "dstrat-eagle3-head"; the keys and tensors are
 * documented in policies/draft_head/README.md. Loading verifies a checksum of the tensor data and
 * a fingerprint of the target (token_embd bytes + hyperparameters): a head trained for another
 * target is refused with a message that says so.
 *
 * Data flow (positions are token positions of the committed sequence c[0..n)):
 *   row p of the head's KV cache = layer(fc(target features of c[p-1]), embed(c[p])) (a zero
 *   feature for p = 0); its output feature g_p predicts c[p+1]. The session calls
 *   target_committed after each target commit: the head reads the committed rows' hidden states
 *   (llm_hidden) then. begin_cycle catches the cache up to the root c[n-1]; a tree node below the
 *   root is layer(g_parent, embed(token)) at position depth + n - 1, attending to the committed
 *   rows, its ancestors and itself; tree rows are dropped at end_cycle.
 *
 * Errors: 0 or negative, with a message in the caller's buffer (load) or via error() (runtime).
 */
#ifndef FEATURE_HEAD_H
#define FEATURE_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "model.h"
#include "session.h"

#define FH_ARCH "dstrat-eagle3-head"
#define FH_FORMAT_VERSION 1u
#define FH_N_FUSE 3u
#define FH_MAX_NODES 1024u      /* draft nodes per cycle (the session's limit) */
#define FH_LOGIT_FLOOR (-1e30f) /* logit of target tokens outside the draft vocabulary */

typedef struct fh_hparams {
    uint32_t n_embd, n_head, n_head_kv, head_dim, n_ff;
    uint32_t n_draft_vocab, n_target_vocab;
    uint32_t fuse_layers[FH_N_FUSE];   /* target layers whose INPUT is read (0..n_layer-1) */
    float rms_eps, rope_freq_base;
} fh_hparams_t;

/* ---- hashing (shared with scripts/draft_head_train.py, which reimplements it in numpy) ----
 * A position-keyed sum: data is read as zero-padded little-endian 64-bit words w_i (i from 1,
 * continuing across updates; each update pads its own tail), h += mix(w_i + i * golden);
 * final = mix(h ^ n_words * k). Detects flips, truncation and reordering. */
typedef struct fh_hash {
    uint64_t h, n_words;
} fh_hash_t;
void     fh_hash_init(fh_hash_t *s);
void     fh_hash_update(fh_hash_t *s, const void *data, uint64_t nbytes);
uint64_t fh_hash_final(const fh_hash_t *s);

/* Fingerprint of a target: hash of its token_embd.weight bytes mixed with its hyperparameters.
 * Returns 0 and sets *out, or -1 with a message when the tensor is missing. */
int fh_target_fingerprint(const gguf_file_t *target, const llm_hparams_t *hp, uint64_t *out, char *err,
                          size_t err_cap);

/* Checksum of a head file's tensor data: every tensor's bytes, in file order. */
uint64_t fh_tensor_checksum(const gguf_file_t *head);

/* ---- the head's weights ---- */
typedef struct fh_head fh_head_t;

/* Loads and verifies a head against a target (target_g: the target's GGUF, used for the
 * fingerprint and the frozen token embedding; both borrowed and must outlive the head). */
fh_head_t *fh_head_load(const gguf_file_t *head_g, const gguf_file_t *target_g, const llm_hparams_t *target_hp,
                        char *err, size_t err_cap);
void fh_head_free(fh_head_t *h);
/* Re-encodes the head's matrices in `type` (GGML_TYPE_Q8_0 makes a draft call several times
 * cheaper on CPUs with int8 dot products; F32/F16 to undo nothing). 0 or -1 (type unsupported,
 * out of memory); the head is unchanged on failure. */
int fh_head_requantize(fh_head_t *h, uint32_t type);
/* The same with the LM head (output.weight, the largest matrix: most of a draft call's weight
 * bytes) in its own type, e.g. Q8_0 layer + Q4_1 LM head. */
int fh_head_requantize_as(fh_head_t *h, uint32_t type, uint32_t lm_head_type);
/* Keeps only the n most frequent tokens of the draft vocabulary (a cheaper LM head, lower
 * coverage); n = 0 or the full size changes nothing. Needs a file whose d2t is stored most
 * frequent first (key d2t_order = "frequency"); -1 with a message otherwise. Call before
 * fh_draft_new; the re-encoding may come before or after. */
int fh_head_truncate_vocab(fh_head_t *h, uint32_t n, char *err, size_t err_cap);
const fh_hparams_t *fh_head_hparams(const fh_head_t *h);
const int32_t *fh_head_d2t(const fh_head_t *h);   /* n_draft_vocab target ids */

/* ---- the draft provider ---- */
typedef struct fh_draft fh_draft_t;

/* Creates the provider over a target context (borrowed; registers the fused layers with
 * llm_ctx_keep_hidden, so do not register other layers on it afterwards). n_threads <= 0: 1. */
fh_draft_t *fh_draft_new(const fh_head_t *h, llm_ctx_t *target, int n_threads, char *err, size_t err_cap);
void fh_draft_free(fh_draft_t *d);
void fh_draft_backend(fh_draft_t *d, sess_draft_t *out);

/* Direct evaluation for tools and tests. Scatter off: logits over the draft vocabulary only. */
void fh_draft_set_scatter(fh_draft_t *d, int scatter);

/* ---- one call for the CLI pipeline ---- */
typedef struct feature_head_backend {
    gguf_file_t *gguf;
    fh_head_t *head;
    fh_draft_t *draft;
} feature_head_backend_t;

/* Opens the head file at path for the target (its GGUF, model and context), fills the session
 * draft interface. 0, or -1 with a message naming the file and the problem. */
int  feature_head_backend_open(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                               const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads,
                               sess_draft_t *out, char *err, size_t err_cap);
/* The same with the matrices re-encoded in wtype (e.g. GGML_TYPE_Q8_0; GGML_TYPE_F32 keeps the file's). */
int  feature_head_backend_open_as(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                                  const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads, uint32_t wtype,
                                  sess_draft_t *out, char *err, size_t err_cap);
/* The same with the LM head re-encoded in lm_type (GGML_TYPE_F32: as wtype; another type needs a
 * re-encoded layer, wtype != GGML_TYPE_F32). */
int  feature_head_backend_open_enc(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                                   const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads, uint32_t wtype,
                                   uint32_t lm_type, sess_draft_t *out, char *err, size_t err_cap);
/* All options: wtype and lm_type as above (GGML_TYPE_F32 = as stored / as the layer), vocab: keep
 * the vocab most frequent draft tokens (0 = all; fh_head_truncate_vocab). */
typedef struct feature_head_opts {
    uint32_t wtype, lm_type, vocab;
} feature_head_opts_t;
int  feature_head_backend_open_opts(feature_head_backend_t *b, const char *path, const gguf_file_t *target_g,
                                    const llm_model_t *target_m, llm_ctx_t *target_ctx, int n_threads,
                                    const feature_head_opts_t *o, sess_draft_t *out, char *err, size_t err_cap);
/* A matrix type by its lower-case name (f32, f16, q8_0, q4_1, q4_0); -1 if not one of those. */
int  fh_type_by_name(const char *name, uint32_t *type);
void feature_head_backend_close(feature_head_backend_t *b);

#endif /* FEATURE_HEAD_H */
