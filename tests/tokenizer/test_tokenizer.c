/* test_tokenizer.c - the tokenizer on a tiny hand-built vocabulary (suite "unit"): merge order,
 * byte fallback, special tokens, the pre-tokenizer rules, UTF-8 handling, round trips, streaming
 * detokenization and metadata validation. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tiny_vocab.h"
#include "tokenizer.h"

static unsigned char *g_bytes;
static gguf_file_t   *g_file;

static tokenizer_t *load_spec(const tv_spec_t *spec, char *err, size_t cap)
{
    size_t n;
    g_bytes = tv_build(spec, &n);
    cr_assert(g_bytes != NULL, "tv_build failed");
    char gerr[256];
    g_file = gguf_open_memory(g_bytes, n, gerr, sizeof gerr);
    cr_assert(g_file != NULL, "gguf_open_memory: %s", gerr);
    return tok_load(g_file, err, cap);
}

static tokenizer_t *load_pre(const char *pre)
{
    tv_spec_t spec = tv_default_spec();
    spec.pre = pre;
    char err[256] = "";
    tokenizer_t *t = load_spec(&spec, err, sizeof err);
    cr_assert(t != NULL, "tok_load: %s", err);
    return t;
}

static void teardown(void)
{
    gguf_close(g_file);
    free(g_bytes);
    g_file = NULL;
    g_bytes = NULL;
}

/* encodes s and compares with the expected token texts (looked up in the test's own list) */
static void expect_tokens(const tokenizer_t *t, const char *s, size_t len, int special,
                          const char *const *texts, size_t n)
{
    int32_t ids[256];
    int64_t got = tok_encode(t, s, len, special, ids, 256);
    cr_assert_eq(got, (int64_t)n, "'%.*s': %lld tokens, expected %zu", (int)len, s, (long long)got, n);
    for (size_t i = 0; i < n; i++) {
        int32_t want = tv_id(texts[i]);
        cr_assert(want >= 0, "bad test: '%s' is not in the tiny vocabulary", texts[i]);
        cr_assert_eq(ids[i], want, "'%.*s': token %zu is %d, expected %d ('%s')", (int)len, s, i, ids[i],
                     want, texts[i]);
    }
}
#define EXPECT(t, s, special, ...)                                                                 \
    do {                                                                                           \
        static const char *const w_[] = {__VA_ARGS__};                                            \
        expect_tokens(t, s, strlen(s), special, w_, sizeof w_ / sizeof w_[0]);                    \
    } while (0)

/* concatenated pieces of ids */
static size_t detok(const tokenizer_t *t, const int32_t *ids, int64_t n, int show_special, char *out)
{
    size_t len = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = tok_piece(t, ids[i], show_special, &pl);
        memcpy(out + len, p, pl);
        len += pl;
    }
    return len;
}

#define SP "\xc4\xa0" /* the byte-map character of ' ' */

TestSuite(tokenizer, .fini = teardown);

Test(tokenizer, metadata)
{
    tokenizer_t *t = load_pre("smollm");
    cr_assert_eq(tok_n_vocab(t), TV_N_TOKENS);
    cr_assert_eq(tok_eos(t), TV_IM_END);
    cr_assert_eq(tok_bos(t), -1);
    cr_assert_eq(tok_add_bos(t), 0);
    tok_free(t);
}

Test(tokenizer, merge_order_lowest_rank_first)
{
    tokenizer_t *t = load_pre("smollm");
    /* "b c" (rank 0) beats "a b" (rank 1) although "ab" comes first in the text */
    EXPECT(t, "abc", 0, "a", "bc");
    EXPECT(t, "ab", 0, "ab");
    /* equal ranks: leftmost pair first */
    EXPECT(t, "aaa", 0, "aa", "a");
    EXPECT(t, "aaaa", 0, "aa", "aa");
    /* a merge of merges */
    EXPECT(t, " the", 0, SP "the");
    tok_free(t);
}

Test(tokenizer, byte_fallback_when_merge_result_missing)
{
    tokenizer_t *t = load_pre("smollm");
    /* "x y" is a merge but "xy" is not a token: the bytes come out one by one */
    EXPECT(t, "xy", 0, "x", "y");
    tok_free(t);
}

Test(tokenizer, byte_tokens)
{
    tokenizer_t *t = load_pre("smollm");
    for (unsigned b = 0; b < 256; b++) {
        cr_assert_eq(tok_byte_token(t, (uint8_t)b), tv_byte_id((unsigned char)b), "byte %u", b);
    }
    tok_free(t);
}

Test(tokenizer, special_tokens_parsed_only_on_request)
{
    tokenizer_t *t = load_pre("smollm");
    const char *s = "<|im_start|>ab<|im_end|>";
    int32_t ids[64];
    int64_t n = tok_encode(t, s, strlen(s), 1, ids, 64);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], TV_IM_START);
    cr_assert_eq(ids[1], tv_id("ab"));
    cr_assert_eq(ids[2], TV_IM_END);

    n = tok_encode(t, s, strlen(s), 0, ids, 64);
    cr_assert_gt(n, 3);
    for (int64_t i = 0; i < n; i++) {
        cr_assert(ids[i] != TV_IM_START && ids[i] != TV_IM_END, "special id without parse_special");
    }
    char out[256];
    size_t len = detok(t, ids, n, 0, out);
    cr_assert_eq(len, strlen(s));
    cr_assert(memcmp(out, s, len) == 0, "plain text must round-trip");
    tok_free(t);
}

Test(tokenizer, user_defined_tokens_always_matched)
{
    tokenizer_t *t = load_pre("smollm");
    EXPECT(t, "a<tool>b", 0, "a", "<tool>", "b");
    EXPECT(t, "a<tool>b", 1, "a", "<tool>", "b");
    tok_free(t);
}

Test(tokenizer, digits_split_one_by_one_for_smollm)
{
    tokenizer_t *t = load_pre("smollm");
    EXPECT(t, "12", 0, "1", "2");       /* the "1 2" merge cannot apply */
    EXPECT(t, "a123", 0, "a", "1", "2", "3");
    tok_free(t);
    teardown();
    t = load_pre("gpt-2");
    EXPECT(t, "123", 0, "12", "3");     /* plain GPT-2 keeps the number together */
    tok_free(t);
}

Test(tokenizer, llama3_digits_in_threes)
{
    tokenizer_t *t = load_pre("llama3");
    EXPECT(t, "12312", 0, "12", "3", "12");  /* \p{N}{1,3}: "123" then "12" */
    tok_free(t);
}

Test(tokenizer, whitespace_run_leaves_last_space_to_next_word)
{
    tokenizer_t *t = load_pre("smollm");
    /* "a  b": segments "a", " ", " b" (not "a", "  ", "b") */
    EXPECT(t, "a  b", 0, "a", SP, SP "b");
    /* a trailing run stays whole */
    EXPECT(t, "a  ", 0, "a", SP SP);
    /* three spaces before a word: two, then one with the word */
    EXPECT(t, "   b", 0, SP SP, SP "b");
    /* a newline before a space-word is its own segment */
    EXPECT(t, "\n b", 0, "\xc4\x8a", SP "b");
    tok_free(t);
}

Test(tokenizer, contractions_split_before_apostrophe)
{
    tokenizer_t *t = load_pre("smollm");
    /* "n '" would merge first without pre-tokenization; "don't" -> "don" "'t" */
    EXPECT(t, "don't", 0, "d", "o", "n", "'t");
    /* case-sensitive in the GPT-2 rule: "'T" is not a contraction, "'" joins nothing */
    EXPECT(t, "n'T", 0, "n", "'", "T");
    tok_free(t);
}

Test(tokenizer, utf8_multibyte_merge)
{
    tokenizer_t *t = load_pre("smollm");
    EXPECT(t, "\xc3\xa9", 0, "\xc3\x83\xc2\xa9");           /* é is one merged token */
    int32_t ids[16];
    int64_t n = tok_encode(t, "\xe2\x82\xac", 3, 0, ids, 16);  /* € without merges: 3 bytes */
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], tv_byte_id(0xE2));
    cr_assert_eq(ids[1], tv_byte_id(0x82));
    cr_assert_eq(ids[2], tv_byte_id(0xAC));
    tok_free(t);
}

Test(tokenizer, invalid_utf8_becomes_replacement_character)
{
    tokenizer_t *t = load_pre("smollm");
    static const struct { const char *in; const char *out; } cases[] = {
        {"a\xff" "b", "a\xef\xbf\xbd" "b"},
        {"\x80", "\xef\xbf\xbd"},
        {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},            /* truncated: each byte replaced */
        {"\xc3\xa9\xc3", "\xc3\xa9\xef\xbf\xbd"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int32_t ids[64];
        int64_t n = tok_encode(t, cases[k].in, strlen(cases[k].in), 0, ids, 64);
        cr_assert_gt(n, 0);
        char out[64];
        size_t len = detok(t, ids, n, 0, out);
        cr_assert_eq(len, strlen(cases[k].out), "case %zu: %zu bytes", k, len);
        cr_assert(memcmp(out, cases[k].out, len) == 0, "case %zu", k);
    }
    tok_free(t);
}

/* appends the UTF-8 of a random code point (no surrogates) */
static size_t rand_utf8(unsigned *seed, char *out)
{
    unsigned r = (unsigned)rand_r(seed);
    uint32_t cp;
    switch (r % 4) {
    case 0: cp = 0x20 + (unsigned)rand_r(seed) % 0x5F; break;     /* printable ASCII */
    case 1: cp = (unsigned)rand_r(seed) % 0x80; break;            /* any ASCII, controls too */
    case 2: cp = 0x80 + (unsigned)rand_r(seed) % 0x780; break;    /* 2-byte */
    default:
        do cp = 0x800 + (unsigned)rand_r(seed) % (0x110000 - 0x800);
        while (cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

Test(tokenizer, round_trip_random_utf8)
{
    static const char *const pres[] = {"smollm", "gpt-2", "llama3", "default"};
    for (size_t p = 0; p < 4; p++) {
        tokenizer_t *t = load_pre(pres[p]);
        unsigned seed = 1234;
        for (int iter = 0; iter < 300; iter++) {
            char text[512];
            size_t len = 0, n_cp = (size_t)rand_r(&seed) % 100;
            for (size_t i = 0; i < n_cp; i++) len += rand_utf8(&seed, text + len);
            int32_t ids[512];
            int64_t n = tok_encode(t, text, len, 0, ids, 512);
            cr_assert_geq(n, 0);
            char out[1024];
            size_t olen = detok(t, ids, n, 0, out);
            cr_assert(olen == len && memcmp(out, text, len) == 0, "%s: round trip failed (iter %d)",
                      pres[p], iter);
        }
        tok_free(t);
        teardown();
    }
}

Test(tokenizer, small_output_buffer_reports_needed_size)
{
    tokenizer_t *t = load_pre("smollm");
    int32_t ids[2];
    cr_assert_eq(tok_encode(t, "qqqq", 4, 0, ids, 2), -4);
    cr_assert_eq(tok_encode(t, "qqqq", 4, 0, NULL, 0), -4);
    cr_assert_eq(tok_encode(t, "", 0, 0, ids, 2), 0);
    tok_free(t);
}

Test(tokenizer, pieces_hide_control_tokens)
{
    tokenizer_t *t = load_pre("smollm");
    size_t len;
    tok_piece(t, TV_IM_END, 0, &len);
    cr_assert_eq(len, 0);
    const char *p = tok_piece(t, TV_IM_END, 1, &len);
    cr_assert(len == 10 && memcmp(p, "<|im_end|>", 10) == 0);
    p = tok_piece(t, TV_TOOL, 0, &len);   /* user-defined: always shown */
    cr_assert(len == 6 && memcmp(p, "<tool>", 6) == 0);
    p = tok_piece(t, tv_id(SP "the"), 0, &len);
    cr_assert(len == 4 && memcmp(p, " the", 4) == 0);
    tok_piece(t, -1, 1, &len);
    cr_assert_eq(len, 0);
    tok_free(t);
}

Test(tokenizer, end_of_generation_ids)
{
    tokenizer_t *t = load_pre("smollm");
    cr_assert(tok_is_eog(t, TV_IM_END));
    cr_assert(tok_is_eog(t, TV_ENDOFTEXT));    /* recognized by its text, like llama.cpp */
    cr_assert(!tok_is_eog(t, TV_IM_START));
    cr_assert(!tok_is_eog(t, TV_BYTE0 + 'a'));
    cr_assert(!tok_is_eog(t, -1));
    cr_assert(!tok_is_eog(t, (int32_t)TV_N_TOKENS));
    tok_free(t);
}

static int utf8_complete(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        size_t k = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (k == 0 || i + k > n) return 0;
        for (size_t j = 1; j < k; j++) {
            if (((unsigned char)s[i + j] & 0xC0) != 0x80) return 0;
        }
        i += k;
    }
    return 1;
}

Test(tokenizer, stream_never_emits_partial_utf8)
{
    tokenizer_t *t = load_pre("smollm");
    unsigned seed = 99;
    for (int iter = 0; iter < 200; iter++) {
        char text[512];
        size_t len = 0, n_cp = 1 + (size_t)rand_r(&seed) % 60;
        for (size_t i = 0; i < n_cp; i++) len += rand_utf8(&seed, text + len);
        int32_t ids[512];
        int64_t n = tok_encode(t, text, len, 0, ids, 512);
        cr_assert_gt(n, 0);
        tok_stream_t s = {0};
        char all[1024], chunk[256];
        size_t total = 0;
        for (int64_t i = 0; i < n; i++) {
            size_t k = tok_stream_feed(t, &s, ids[i], chunk, sizeof chunk);
            cr_assert(utf8_complete(chunk, k), "iter %d: chunk %lld is not complete UTF-8", iter,
                      (long long)i);
            memcpy(all + total, chunk, k);
            total += k;
        }
        size_t k = tok_stream_flush(&s, chunk, sizeof chunk);
        cr_assert_eq(k, 0, "valid text leaves nothing pending");
        cr_assert(total == len && memcmp(all, text, len) == 0, "iter %d: stream differs", iter);
    }
    /* a truncated sequence is held back, then flushed as-is */
    tok_stream_t s = {0};
    char out[64];
    cr_assert_eq(tok_stream_feed(t, &s, tv_byte_id('a'), out, sizeof out), 1);
    cr_assert_eq(tok_stream_feed(t, &s, tv_byte_id(0xE2), out, sizeof out), 0);
    cr_assert_eq(tok_stream_feed(t, &s, tv_byte_id(0x82), out, sizeof out), 0);
    cr_assert_eq(tok_stream_flush(&s, out, sizeof out), 2);
    cr_assert(memcmp(out, "\xe2\x82", 2) == 0);
    /* control tokens print nothing and do not disturb pending bytes */
    cr_assert_eq(tok_stream_feed(t, &s, tv_byte_id(0xC3), out, sizeof out), 0);
    cr_assert_eq(tok_stream_feed(t, &s, TV_IM_END, out, sizeof out), 0);
    cr_assert_eq(tok_stream_feed(t, &s, tv_byte_id(0xA9), out, sizeof out), 2);
    cr_assert(memcmp(out, "\xc3\xa9", 2) == 0);
    tok_free(t);
}

Test(tokenizer, chat_render_chatml)
{
    tok_chat_msg_t msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    char *s = tok_chat_render(msgs, 2, 1);
    cr_assert_str_eq(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                        "<|im_start|>assistant\n");
    free(s);
    s = tok_chat_render(msgs + 1, 1, 0);
    cr_assert_str_eq(s, "<|im_start|>user\nHi<|im_end|>\n");   /* no default system message */
    free(s);
}

/* ---- metadata validation ---- */

static void expect_load_error(tv_spec_t spec, const char *needle)
{
    char err[256] = "";
    tokenizer_t *t = load_spec(&spec, err, sizeof err);
    cr_assert(t == NULL, "expected failure mentioning '%s'", needle);
    cr_assert(strstr(err, needle) != NULL, "error '%s' should mention '%s'", err, needle);
}

Test(tokenizer, rejects_other_tokenizer_model)
{
    tv_spec_t s = tv_default_spec();
    s.model = "llama";
    expect_load_error(s, "tokenizer.ggml.model");
}

Test(tokenizer, rejects_missing_model_key)
{
    tv_spec_t s = tv_default_spec();
    s.model = NULL;
    expect_load_error(s, "tokenizer.ggml.model");
}

Test(tokenizer, rejects_unknown_pre_tokenizer)
{
    tv_spec_t s = tv_default_spec();
    s.pre = "martian";
    expect_load_error(s, "martian");
}

Test(tokenizer, rejects_short_token_type_array)
{
    tv_spec_t s = tv_default_spec();
    s.short_types = 3;
    expect_load_error(s, "tokenizer.ggml.token_type");
}

Test(tokenizer, rejects_missing_merges)
{
    tv_spec_t s = tv_default_spec();
    s.no_merges = 1;
    expect_load_error(s, "tokenizer.ggml.merges");
}

Test(tokenizer, rejects_non_string_tokens)
{
    tv_spec_t s = tv_default_spec();
    s.tokens_as_u32 = 1;
    expect_load_error(s, "tokenizer.ggml.tokens");
}

Test(tokenizer, rejects_special_id_out_of_range)
{
    tv_spec_t s = tv_default_spec();
    s.eos = TV_N_TOKENS;
    expect_load_error(s, "tokenizer.ggml.eos_token_id");
}

Test(tokenizer, missing_pre_means_default_rules)
{
    tv_spec_t s = tv_default_spec();
    s.pre = NULL;
    char err[256] = "";
    tokenizer_t *t = load_spec(&s, err, sizeof err);
    cr_assert(t != NULL, "%s", err);
    /* llama.cpp's default rules: number runs, then digit triples */
    EXPECT(t, "1212", 0, "12", "1", "2");
    tok_free(t);
}
