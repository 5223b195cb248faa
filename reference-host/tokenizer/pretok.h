/* pretok.h - UTF-8 decoding and the pre-tokenizer splits (internal to the tokenizer module).
 *
 * Mirrors llama.cpp: text is decoded leniently into code points (an invalid byte becomes U+FFFD
 * and consumes one byte), then each rule of the model's pre-tokenizer re-splits every segment;
 * matches and the gaps between them both become segments.
 */
#ifndef PRETOK_H
#define PRETOK_H

#include <stddef.h>
#include <stdint.h>

typedef enum pretok_kind {
    PRETOK_SMOLLM,   /* \p{N}, then the GPT-2 regex (smollm, starcoder, refact, ...) */
    PRETOK_GPT2,     /* the GPT-2 regex alone (gpt-2, mpt, olmo, ...) */
    PRETOK_LLAMA3,   /* the llama3 regex (llama3, llama-bpe, ...) */
    PRETOK_DEFAULT,  /* llama.cpp's "default" BPE rules (4 regexes) */
} pretok_kind_t;

/* Maps a tokenizer.ggml.pre value to a kind; -1 if unknown. NULL (key absent) -> default. */
int pretok_kind_from_name(const char *name, size_t len);

/* Decodes len bytes into cps (capacity len). Returns the number of code points. The decoder is
 * llama.cpp's lenient one: lead and continuation bits are checked, overlong forms and surrogates
 * are accepted; a bad sequence or one above U+10FFFF yields U+FFFD for its first byte. */
size_t pretok_decode(const char *s, size_t len, uint32_t *cps);

/* UTF-8 encoding of cp (<= U+10FFFF) into out (4 bytes); returns the length. */
size_t pretok_encode_cp(uint32_t cp, unsigned char *out);

/* Splits cps[0..n) into segments. Writes segment lengths (in code points) into seg; seg, tmp and
 * cls must each hold n elements. Returns the number of segments (0 when n == 0). */
size_t pretok_split(pretok_kind_t kind, const uint32_t *cps, size_t n, uint8_t *cls, size_t *seg,
                    size_t *tmp);

#endif /* PRETOK_H */
