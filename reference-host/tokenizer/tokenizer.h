/* tokenizer.h - GPT-2 byte-level BPE from GGUF metadata (tokenizer.ggml.*), the model's
 * pre-tokenizer rules (smollm / gpt2 / llama3 regex families), special tokens, the ChatML chat
 * template, and streaming UTF-8-safe detokenization.
 *
 * Thread safety: a tokenizer is immutable after load; a tok_stream_t belongs to one thread.
 */
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct tokenizer tokenizer_t;

/* Reads vocabulary, merges, token types, special ids and pre-tokenizer name from g (copied: g may
 * be closed afterwards). NULL + message on unsupported or inconsistent metadata. */
tokenizer_t *tok_load(const gguf_file_t *g, char *err, size_t err_cap);
void         tok_free(tokenizer_t *t);

uint32_t tok_n_vocab(const tokenizer_t *t);
int32_t  tok_bos(const tokenizer_t *t);       /* -1 if none */
int32_t  tok_eos(const tokenizer_t *t);
int      tok_add_bos(const tokenizer_t *t);   /* tokenizer.ggml.add_bos_token */
/* 1 if id ends generation (EOS, <|im_end|>, <|endoftext|>, other end-of-generation ids) */
int      tok_is_eog(const tokenizer_t *t, int32_t id);

/* Encodes len bytes of text. parse_special: match control/user-defined tokens written in the text
 * (needed for chat-rendered prompts). Writes up to cap ids; returns the number of ids, or, if cap is
 * too small, minus the number needed (llama.h convention); INT64_MIN if memory runs out. Never
 * adds BOS (caller does). Like llama.cpp, invalid UTF-8 bytes are encoded as U+FFFD (EF BF BD),
 * so only valid UTF-8 text round-trips through tok_piece byte for byte. */
int64_t tok_encode(const tokenizer_t *t, const char *text, size_t len, int parse_special,
                   int32_t *out, int64_t cap);

/* Token of the single byte b (its GPT-2 byte-map character), -1 if the vocabulary has none.
 * SmolLM2 lacks a few (0x04 0x06 0x13 0x14 0x16 0x1D): like llama.cpp, tok_encode drops such
 * bytes, so text containing them does not round-trip. */
int32_t tok_byte_token(const tokenizer_t *t, uint8_t b);

/* Raw bytes of one token (byte-level map undone). Control tokens give "" unless show_special;
 * user-defined tokens give their text; byte/unused/undefined-type tokens give "" (as llama.cpp).
 * The returned pointer is owned by t. */
const char *tok_piece(const tokenizer_t *t, int32_t id, int show_special, size_t *len);

/* Renders a chat as ChatML: each message "<|im_start|>{role}\n{content}<|im_end|>\n", then
 * "<|im_start|>assistant\n" if add_generation_prompt. No default system message is inserted
 * (llama.cpp's built-in ChatML renderer does the same). Returns a malloc'd NUL-terminated string
 * (caller frees) or NULL on allocation failure. */
typedef struct tok_chat_msg {
    const char *role;
    const char *content;
} tok_chat_msg_t;
char *tok_chat_render(const tok_chat_msg_t *msgs, size_t n, int add_generation_prompt);

/* Streaming detokenizer: feeds token pieces and emits only complete UTF-8 sequences, holding back
 * an incomplete tail until the next token (or flushing it as-is at the end). */
typedef struct tok_stream {
    char   pending[8];
    size_t n_pending;
} tok_stream_t;
/* Appends the printable bytes for id to out (capacity cap, at least 64 + longest piece); returns
 * the number of bytes written (bytes beyond cap are dropped). Control tokens print nothing. At
 * most 3 bytes are held back; bytes that can never complete a sequence are passed through. */
size_t tok_stream_feed(const tokenizer_t *t, tok_stream_t *s, int32_t id, char *out, size_t cap);
size_t tok_stream_flush(tok_stream_t *s, char *out, size_t cap);

#endif /* TOKENIZER_H */
