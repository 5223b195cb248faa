/* tiny_model.h - random-weight llama GGUFs for tests: a real file layout (metadata, tokenizer,
 * tensors in F32/F16/Q8_0/Q4_0/Q4_1) that the whole host can load, small enough to build in
 * milliseconds. Same seed + options -> same file. */
#ifndef TINY_MODEL_H
#define TINY_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct tiny_model_opts {
    uint32_t n_layer;
    uint32_t n_embd;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_ff;
    uint32_t n_vocab;        /* >= TINY_MIN_VOCAB */
    uint32_t n_ctx_train;    /* llama.context_length */
    uint32_t wtype;          /* ggml type of the 2-D weights: F32, F16, Q8_0, Q4_0, Q4_1 */
    int      tied;           /* 1: no output.weight (token_embd is the LM head) */
    uint64_t seed;
    float    init_std;       /* std of the normal init of matrices; 0 = 0.1 */
    float    rope_base;      /* 0 = 10000 */

    /* fault injection for loader tests (NULL/0 = off) */
    const char *arch;             /* general.architecture; NULL = "llama" */
    const char *omit_tensor;      /* leave this tensor out */
    const char *misshape_tensor;  /* write this tensor one block row too large (ne1+1, or ne0+32 for 1-D) */
    const char *retype_tensor;    /* write this tensor with type retype (zero-filled data) */
    uint32_t    retype;
} tiny_model_opts;

/* tokens: 3 control tokens, 256 byte tokens, the merged tokens, then fillers */
#define TINY_N_SPECIAL 3
#define TINY_MIN_VOCAB 280

/* target: 2 layers, d 64, 4 heads, 2 kv heads, ff 128, vocab 512, Q8_0, tied, seed 1 */
tiny_model_opts tiny_model_default_target(void);
/* draft: the same tokenizer and vocab, 1 layer, d 32, 2 heads, 1 kv head, ff 64, seed 2 */
tiny_model_opts tiny_model_default_draft(void);

/* Writes the GGUF; returns 0, or -1 with a message in err. */
int tiny_model_write(const char *path, const tiny_model_opts *o, char *err, size_t err_cap);

#endif /* TINY_MODEL_H */
