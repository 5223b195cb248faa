/* tiny_vocab.h - a small GPT-2-style vocabulary as an in-memory GGUF, for the tokenizer tests and
 * the tokenizer fuzzer: 4 special tokens, the 256 byte tokens in GPT-2 byte-to-unicode spelling,
 * and a few merges chosen to exercise merge order, byte fallback and the pre-tokenizer rules.
 *
 * Header-only (static functions) so the single-file fuzz target can include it too; the GGUF is
 * produced in memory with the gguf writer (gguf_write.h).
 */
#ifndef TINY_VOCAB_H
#define TINY_VOCAB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_write.h"

/* ids of the fixed part */
enum { TV_ENDOFTEXT = 0, TV_IM_START = 1, TV_IM_END = 2, TV_TOOL = 3, TV_BYTE0 = 4 };

/* merges, by rank; the merged texts are vocabulary entries except "xy" (byte-fallback case) */
static const char *const tv_merges[] = {
    "b c", "a b", "a a", "x y", "n '", "' t", "\xc4\xa0 \xc4\xa0", "\xc4\xa0 b", "1 2",
    "\xc4\xa0 t", "h e", "\xc4\xa0t he", "\xc3\x83 \xc2\xa9",
};
#define TV_N_MERGES (sizeof tv_merges / sizeof tv_merges[0])
#define TV_N_TOKENS (TV_BYTE0 + 256 + TV_N_MERGES - 1)

typedef struct tv_spec {
    const char *model;        /* tokenizer.ggml.model; NULL: key left out */
    const char *pre;          /* tokenizer.ggml.pre; NULL: key left out */
    int         short_types;  /* write token_type with this many entries missing */
    int         no_merges;    /* leave tokenizer.ggml.merges out */
    int         tokens_as_u32;/* write tokenizer.ggml.tokens as a u32 array (type error) */
    int64_t     eos;          /* tokenizer.ggml.eos_token_id */
} tv_spec_t;

static inline tv_spec_t tv_default_spec(void)
{
    tv_spec_t s = {"gpt2", "smollm", 0, 0, 0, TV_IM_END};
    return s;
}

/* GPT-2 byte-to-unicode: UTF-8 spelling of the character that stands for byte b */
static inline void tv_byte_char(unsigned b, char out[3])
{
    unsigned cp, n = 0;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
        cp = b;
    } else {
        for (unsigned k = 0; k < b; k++) {
            n += !((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE);
        }
        cp = 0x100 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* text of token id (static storage, valid until the next call) */
static inline const char *tv_token_text(uint32_t id)
{
    static char buf[64];
    static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"};
    if (id < TV_BYTE0) return specials[id];
    if (id < TV_BYTE0 + 256) {
        tv_byte_char(id - TV_BYTE0, buf);
        return buf;
    }
    uint32_t m = id - TV_BYTE0 - 256;
    if (m >= 3) m++;   /* merge 3 ("x y") has no vocabulary entry */
    size_t k = 0;
    for (const char *p = tv_merges[m]; *p; p++) {
        if (*p != ' ') buf[k++] = *p;
    }
    buf[k] = 0;
    return buf;
}

static inline int32_t tv_type(uint32_t id)
{
    return id < TV_TOOL ? 3 : id == TV_TOOL ? 4 : 1;
}

/* id of a token text, -1 if absent (searches the list above, not the tokenizer) */
static inline int32_t tv_id(const char *text)
{
    for (uint32_t i = 0; i < TV_N_TOKENS; i++) {
        if (strcmp(tv_token_text(i), text) == 0) return (int32_t)i;
    }
    return -1;
}

/* id of the byte token of b */
static inline int32_t tv_byte_id(unsigned char b)
{
    return TV_BYTE0 + b;
}

/* builds the GGUF with the gguf writer; returns malloc'd bytes (caller frees) or NULL, size in
 * *size */
static inline unsigned char *tv_build(const tv_spec_t *s, size_t *size)
{
    gguf_writer_t *w = gguf_writer_new();
    if (!w) return NULL;
    static const char *texts[TV_N_TOKENS];
    static char store[TV_N_TOKENS][64];
    static int32_t types[TV_N_TOKENS];
    static uint32_t numbers[TV_N_TOKENS];
    for (uint32_t i = 0; i < TV_N_TOKENS; i++) {
        snprintf(store[i], sizeof store[i], "%s", tv_token_text(i));
        texts[i] = i < TV_BYTE0 ? tv_token_text(i) : store[i];
        types[i] = tv_type(i);
        numbers[i] = i;
    }
    int rc = 0;
    if (s->model) rc |= gguf_writer_add_str(w, "tokenizer.ggml.model", s->model);
    if (s->pre) rc |= gguf_writer_add_str(w, "tokenizer.ggml.pre", s->pre);
    if (s->tokens_as_u32) {
        rc |= gguf_writer_add_arr(w, "tokenizer.ggml.tokens", GGUF_TYPE_UINT32, numbers, TV_N_TOKENS);
    } else {
        rc |= gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", texts, TV_N_TOKENS);
    }
    rc |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types,
                              TV_N_TOKENS - (uint64_t)s->short_types);
    if (!s->no_merges) {
        rc |= gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", tv_merges, TV_N_MERGES);
    }
    rc |= gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)s->eos);
    void *buf = NULL;
    char err[256];
    if (rc != 0 || gguf_writer_write_memory(w, &buf, size, err, sizeof err) != 0) buf = NULL;
    gguf_writer_free(w);
    return buf;
}

#endif /* TINY_VOCAB_H */
