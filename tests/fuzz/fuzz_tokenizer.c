/* fuzz_tokenizer.c - libFuzzer target for the tokenizer. The tokenizer is built once: from the
 * GGUF named by DSTRAT_MODEL if set, else from the tiny test vocabulary (tests/tokenizer/
 * tiny_vocab.h, in memory). Each input is encoded with and without special-token parsing and
 * decoded again; valid UTF-8 must round-trip exactly (with special parsing, when the special
 * pieces are printed), and the streaming detokenizer must reproduce the plain decode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tokenizer/tiny_vocab.h"
#include "gguf.h"
#include "tokenizer.h"

static gguf_file_t   *g_file;
static tokenizer_t   *g_tok;
static unsigned char *g_bytes;

static void build_once(void)
{
    if (g_tok) return;
    char err[512];
    const char *model = getenv("DSTRAT_MODEL");
    if (model && *model) {
        g_file = gguf_open(model, err, sizeof err);
    } else {
        size_t n;
        tv_spec_t spec = tv_default_spec();
        g_bytes = tv_build(&spec, &n);
        if (!g_bytes) abort();
        g_file = gguf_open_memory(g_bytes, n, err, sizeof err);
    }
    if (!g_file) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    g_tok = tok_load(g_file, err, sizeof err);
    if (!g_tok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
}

/* strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF */
static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t k;
        uint32_t cp;
        if (b < 0x80) { i++; continue; }
        if (b >= 0xC2 && b <= 0xDF) { k = 2; cp = b & 0x1Fu; }
        else if (b >= 0xE0 && b <= 0xEF) { k = 3; cp = b & 0x0Fu; }
        else if (b >= 0xF0 && b <= 0xF4) { k = 4; cp = b & 0x07u; }
        else return 0;
        if (i + k > n) return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += k;
    }
    return 1;
}

static size_t decode(const int32_t *ids, int64_t n, int show_special, char *out)
{
    size_t len = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= tok_n_vocab(g_tok)) abort();
        size_t pl;
        const char *p = tok_piece(g_tok, ids[i], show_special, &pl);
        memcpy(out + len, p, pl);
        len += pl;
    }
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    build_once();
    if (size > 1 << 16) return 0;
    const char *text = (const char *)data;
    /* at most one token per input byte (U+FFFD can cost 3 byte tokens per input byte) */
    int64_t cap = 3 * (int64_t)size + 1;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    /* a piece never decodes to more bytes than the token text; 64 KiB per id is plenty */
    char *out = malloc(6 * size + 64 * 1024);
    char *stream = malloc(6 * size + 64 * 1024);
    if (!ids || !out || !stream) abort();
    /* round trips need valid UTF-8 and a token for every byte (SmolLM2 lacks a few) */
    int ok = valid_utf8(data, size);
    for (size_t i = 0; i < size && ok; i++) ok = tok_byte_token(g_tok, data[i]) >= 0;

    for (int special = 0; special <= 1; special++) {
        int64_t n = tok_encode(g_tok, text, size, special, ids, cap);
        if (n < 0) abort();
        if (n > 0 && tok_encode(g_tok, text, size, special, ids, n - 1) != -n) abort();
        size_t len = decode(ids, n, special, out);
        if (ok && (len != size || memcmp(out, data, size) != 0)) {
            fprintf(stderr, "round trip failed (special=%d)\n", special);
            abort();
        }
        /* streaming gives the same bytes as the plain decode */
        size_t plain = decode(ids, n, 0, out), slen = 0;
        tok_stream_t st = {0};
        char chunk[64 * 1024];
        for (int64_t i = 0; i < n; i++) {
            size_t k = tok_stream_feed(g_tok, &st, ids[i], chunk, sizeof chunk);
            memcpy(stream + slen, chunk, k);
            slen += k;
        }
        slen += tok_stream_flush(&st, stream + slen, 8);
        if (slen != plain || memcmp(stream, out, plain) != 0) {
            fprintf(stderr, "stream differs from decode\n");
            abort();
        }
    }
    free(ids);
    free(out);
    free(stream);
    return 0;
}
