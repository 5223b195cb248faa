/* test_tokenizer_model.c - the tokenizer on the real SmolLM2-135M-Instruct GGUF (suite "model"):
 * reference token ids (llama.cpp's, from the notes), ChatML with special-token parsing, the
 * end-of-generation set, and encoding speed. Skipped when the model file is absent. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "tokenizer.h"

static gguf_file_t *g_file;
static tokenizer_t *g_tok;

static void setup(void)
{
    char path[4096];
    const char *m = getenv("DSTRAT_MODEL");
    if (m && *m) {
        snprintf(path, sizeof path, "%s", m);
    } else {
        const char *root = getenv("DSTRAT_SOURCE_ROOT");
        snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", root ? root : ".");
    }
    if (access(path, R_OK) != 0) cr_skip_test("model not found at %s", path);
    char err[512];
    g_file = gguf_open(path, err, sizeof err);
    cr_assert(g_file != NULL, "gguf_open: %s", err);
    g_tok = tok_load(g_file, err, sizeof err);
    cr_assert(g_tok != NULL, "tok_load: %s", err);
}

static void teardown(void)
{
    tok_free(g_tok);
    gguf_close(g_file);
    g_tok = NULL;
    g_file = NULL;
}

TestSuite(tokenizer_model, .init = setup, .fini = teardown);

static void expect_ids(const char *s, int special, const int32_t *want, size_t n)
{
    int32_t ids[64];
    int64_t got = tok_encode(g_tok, s, strlen(s), special, ids, 64);
    cr_assert_eq(got, (int64_t)n, "'%s': %lld tokens, expected %zu", s, (long long)got, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ids[i], want[i], "'%s': token %zu is %d, expected %d", s, i, ids[i], want[i]);
    }
}
#define EXPECT_IDS(s, ...)                                                                         \
    do {                                                                                           \
        static const int32_t w_[] = {__VA_ARGS__};                                                \
        expect_ids(s, 0, w_, sizeof w_ / sizeof w_[0]);                                            \
    } while (0)

Test(tokenizer_model, metadata)
{
    cr_assert_eq(tok_n_vocab(g_tok), 49152);
    cr_assert_eq(tok_eos(g_tok), 2);
    cr_assert_eq(tok_bos(g_tok), 1);
    cr_assert_eq(tok_add_bos(g_tok), 0);
}

Test(tokenizer_model, reference_vectors)
{
    /* llama.cpp's ids for this vocabulary (gguf-llama-facts.md section 6) */
    EXPECT_IDS("Hello world", 19556, 905);
    EXPECT_IDS(" Hello world", 38699, 905);
    EXPECT_IDS("3333", 35, 35, 35, 35);
    EXPECT_IDS("\n", 198);
    EXPECT_IDS(" ", 216);
    EXPECT_IDS("\t", 197);
    EXPECT_IDS("ied 4 \xc2\xbd months", 885, 216, 36, 216, 16738, 2704);
}

Test(tokenizer_model, bytes_without_token_are_dropped)
{
    /* the vocabulary has no token for byte 0x16; llama.cpp (and HF) drop it */
    cr_assert_eq(tok_byte_token(g_tok, 0x16), -1);
    cr_assert_geq(tok_byte_token(g_tok, 'a'), 0);
    int32_t ids[4];
    cr_assert_eq(tok_encode(g_tok, "\x16", 1, 0, ids, 4), 0);
}

Test(tokenizer_model, chatml_with_special_parsing)
{
    tok_chat_msg_t msgs[] = {{"user", "Hello world"}};
    char *s = tok_chat_render(msgs, 1, 1);
    cr_assert(s != NULL);
    int32_t ids[64];
    int64_t n = tok_encode(g_tok, s, strlen(s), 1, ids, 64);
    cr_assert_gt(n, 6);
    cr_assert_eq(ids[0], 1, "<|im_start|>");
    int n_end = 0, n_start = 0;
    for (int64_t i = 0; i < n; i++) {
        n_end += ids[i] == 2;
        n_start += ids[i] == 1;
    }
    cr_assert_eq(n_start, 2);
    cr_assert_eq(n_end, 1);
    /* the text between the markers is tokenized normally */
    int32_t plain[8];
    cr_assert_eq(tok_encode(g_tok, "Hello world", 11, 1, plain, 8), 2);
    int found = 0;
    for (int64_t i = 0; i + 1 < n; i++) found |= ids[i] == plain[0] && ids[i + 1] == plain[1];
    cr_assert(found);
    /* without special parsing the markers are plain text */
    n = tok_encode(g_tok, s, strlen(s), 0, ids, 64);
    for (int64_t i = 0; i < n; i++) cr_assert(ids[i] != 1 && ids[i] != 2);
    free(s);
}

Test(tokenizer_model, end_of_generation)
{
    cr_assert(tok_is_eog(g_tok, 0));   /* <|endoftext|> */
    cr_assert(tok_is_eog(g_tok, 2));   /* <|im_end|> */
    cr_assert(!tok_is_eog(g_tok, 1));
    cr_assert(!tok_is_eog(g_tok, 198));
}

Test(tokenizer_model, round_trip_and_speed)
{
    /* a ~5000-token document of mixed text */
    static const char *const parts[] = {
        "The quick brown fox jumps over the lazy dog. ", "In 2024, 3.14159 people said: \"don't!\" ",
        "Caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu \xe2\x80\x94 na\xc3\xafve r\xc3\xa9sum\xc3\xa9.\n",
        "def f(x):\n    return x ** 2  # square\n\n", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82 ",
        "   multiple   spaces\t\ttabs\r\n",
    };
    size_t cap = 200000, len = 0;
    char *doc = malloc(cap);
    for (int i = 0; len + 200 < cap && i < 100000; i++) {
        const char *p = parts[i % 6];
        memcpy(doc + len, p, strlen(p));
        len += strlen(p);
        if (len > 22000) break;
    }
    int32_t *ids = malloc(20000 * sizeof *ids);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int64_t n = tok_encode(g_tok, doc, len, 0, ids, 20000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    cr_log_info("encoded %zu bytes into %lld tokens in %.2f ms", len, (long long)n, ms);
    cr_assert_gt(n, 4000);
    cr_assert_lt(ms, 1000.0, "encoding took %.1f ms", ms);   /* generous: sanitizer builds */
    char *out = malloc(len + 1);
    size_t olen = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = tok_piece(g_tok, ids[i], 0, &pl);
        cr_assert(olen + pl <= len);
        memcpy(out + olen, p, pl);
        olen += pl;
    }
    cr_assert(olen == len && memcmp(out, doc, len) == 0, "round trip");
    free(out);
    free(ids);
    free(doc);
}
