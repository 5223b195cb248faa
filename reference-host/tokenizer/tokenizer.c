/* tokenizer.c - GPT-2 byte-level BPE from GGUF metadata, matching llama.cpp's BPE tokenizer.
 *
 * Encoding: (1) special tokens written in the text are cut out (longest token text first, as
 * llama.cpp does; control/unknown tokens only with parse_special, user-defined tokens always);
 * (2) each remaining piece is decoded into code points (invalid bytes become U+FFFD, as in
 * llama.cpp, so such text does not round-trip) and split by the pre-tokenizer rules (pretok.c);
 * (3) each segment is re-encoded as UTF-8, every byte is replaced by its GPT-2 "byte-to-unicode"
 * character, and adjacent symbols are merged by merge rank with a min-heap on (rank, left
 * position); (4) final symbols are looked up in the vocabulary; one that is missing falls back to
 * its single-byte tokens.
 */
#define _GNU_SOURCE   /* memmem, qsort_r */
#include "tokenizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"

/* token attributes (from tokenizer.ggml.token_type, then adjusted by text like llama.cpp) */
enum {
    TOK_TYPE_UNDEFINED = 0, TOK_TYPE_NORMAL = 1, TOK_TYPE_UNKNOWN = 2, TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4, TOK_TYPE_UNUSED = 5, TOK_TYPE_BYTE = 6,
};

struct tokenizer {
    uint32_t n_vocab;
    char    *text;          /* all token texts, back to back */
    uint32_t *text_off, *text_len;
    char    *pieces;        /* decoded bytes of every token (see tok_piece) */
    uint32_t *piece_off, *piece_len;
    uint8_t *type;          /* TOK_TYPE_* after the llama.cpp adjustments */
    uint8_t *eog;           /* 1 if the id ends generation */

    int32_t *vocab_slots;   /* open addressing: token id or -1 */
    uint64_t vocab_mask;

    uint32_t n_merges;
    char    *merge_text;    /* left and right joined, without the space */
    uint32_t *merge_off, *merge_len, *merge_left;
    int32_t *merge_slots;   /* merge index (= rank) or -1 */
    uint64_t merge_mask;

    int32_t *special;       /* ids matched in text, longest text first */
    uint32_t n_special;

    int32_t bos, eos;
    int     add_bos;
    int     ignore_merges;  /* llama3: a whole segment found in the vocab is one token */
    pretok_kind_t pre;

    unsigned char byte_enc[256][2];
    uint8_t       byte_enc_len[256];
    int16_t       byte_dec[0x144];  /* code point of the byte map -> byte, -1 if none */
};

/* ---- small helpers ---- */

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t table_size_for(uint64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return cap;
}

static int32_t vocab_find(const tokenizer_t *t, const char *s, size_t len)
{
    uint64_t i = hash_bytes(s, len, 0) & t->vocab_mask;
    for (;;) {
        int32_t id = t->vocab_slots[i];
        if (id < 0) return -1;
        if (t->text_len[id] == len && memcmp(t->text + t->text_off[id], s, len) == 0) return id;
        i = (i + 1) & t->vocab_mask;
    }
}

/* rank of merging the left_len-byte symbol at s with the symbol after it (len bytes in all) */
static int32_t merge_find(const tokenizer_t *t, const char *s, size_t len, size_t left_len)
{
    if (t->n_merges == 0) return -1;
    uint64_t i = hash_bytes(s, len, left_len) & t->merge_mask;
    for (;;) {
        int32_t m = t->merge_slots[i];
        if (m < 0) return -1;
        if (t->merge_len[m] == len && t->merge_left[m] == left_len &&
            memcmp(t->merge_text + t->merge_off[m], s, len) == 0) {
            return m;
        }
        i = (i + 1) & t->merge_mask;
    }
}

static void init_byte_map(tokenizer_t *t)
{
    for (int i = 0; i < 0x144; i++) t->byte_dec[i] = -1;
    unsigned n = 0;
    for (unsigned b = 0; b < 256; b++) {
        unsigned cp;
        if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) {
            cp = b;
        } else {
            cp = 0x100 + n++;
        }
        t->byte_enc_len[b] = (uint8_t)pretok_encode_cp(cp, t->byte_enc[b]);
        t->byte_dec[cp] = (int16_t)b;
    }
}

/* ---- loading ---- */

void tok_free(tokenizer_t *t)
{
    if (!t) return;
    free(t->text);
    free(t->text_off);
    free(t->text_len);
    free(t->pieces);
    free(t->piece_off);
    free(t->piece_len);
    free(t->type);
    free(t->eog);
    free(t->vocab_slots);
    free(t->merge_text);
    free(t->merge_off);
    free(t->merge_len);
    free(t->merge_left);
    free(t->merge_slots);
    free(t->special);
    free(t);
}

/* reads an optional special-token id; 0 ok (out untouched if absent), -1 error */
static int read_special_id(const gguf_file_t *g, const char *key, uint32_t n_vocab, int32_t *out,
                           char *err, size_t cap)
{
    int64_t v;
    int rc = gguf_get_i64(g, key, &v);
    if (rc == -1) return 0;
    if (rc != 0) {
        set_err(err, cap, "%s: not an integer", key);
        return -1;
    }
    if (v < 0 || v >= (int64_t)n_vocab) {
        set_err(err, cap, "%s: id %lld out of range (vocabulary has %u tokens)", key, (long long)v,
                n_vocab);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

static int load_tokens(tokenizer_t *t, const gguf_file_t *g, char *err, size_t cap)
{
    const char *key = "tokenizer.ggml.tokens";
    uint32_t et;
    uint64_t n;
    int rc = gguf_get_arr_info(g, key, &et, &n);
    if (rc == -1) {
        set_err(err, cap, "%s: missing", key);
        return -1;
    }
    if (rc != 0 || et != GGUF_TYPE_STRING) {
        set_err(err, cap, "%s: not an array of strings", key);
        return -1;
    }
    if (n == 0 || n > (uint64_t)INT32_MAX) {
        set_err(err, cap, "%s: bad token count %llu", key, (unsigned long long)n);
        return -1;
    }
    t->n_vocab = (uint32_t)n;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str_t s;
        if (gguf_get_arr_str(g, key, i, &s) != 0) {
            set_err(err, cap, "%s: cannot read token %llu", key, (unsigned long long)i);
            return -1;
        }
        total += s.len ? s.len : 32;   /* an empty token is renamed "[EMPTY_<i>]" like llama.cpp */
    }
    if (total >= UINT32_MAX) {
        set_err(err, cap, "%s: token texts too large (%llu bytes)", key, (unsigned long long)total);
        return -1;
    }
    t->text = malloc(total + 1);
    t->text_off = malloc(n * sizeof *t->text_off);
    t->text_len = malloc(n * sizeof *t->text_len);
    t->vocab_mask = table_size_for(n) - 1;
    t->vocab_slots = malloc((t->vocab_mask + 1) * sizeof *t->vocab_slots);
    if (!t->text || !t->text_off || !t->text_len || !t->vocab_slots) {
        set_err(err, cap, "%s: out of memory", key);
        return -1;
    }
    memset(t->vocab_slots, 0xFF, (t->vocab_mask + 1) * sizeof *t->vocab_slots);
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        gguf_str_t s;
        gguf_get_arr_str(g, key, i, &s);
        t->text_off[i] = off;
        if (s.len) {
            memcpy(t->text + off, s.ptr, s.len);
            t->text_len[i] = (uint32_t)s.len;
        } else {
            t->text_len[i] = (uint32_t)snprintf(t->text + off, 32, "[EMPTY_%u]", i);
        }
        off += t->text_len[i];
        /* insert; llama.cpp refuses vocabularies with duplicate texts */
        uint64_t h = hash_bytes(t->text + t->text_off[i], t->text_len[i], 0) & t->vocab_mask;
        for (;;) {
            int32_t id = t->vocab_slots[h];
            if (id < 0) {
                t->vocab_slots[h] = (int32_t)i;
                break;
            }
            if (t->text_len[id] == t->text_len[i] &&
                memcmp(t->text + t->text_off[id], t->text + t->text_off[i], t->text_len[i]) == 0) {
                set_err(err, cap, "%s: token %u repeats the text of token %d", key, i, id);
                return -1;
            }
            h = (h + 1) & t->vocab_mask;
        }
    }
    return 0;
}

static int load_types(tokenizer_t *t, const gguf_file_t *g, char *err, size_t cap)
{
    const char *key = "tokenizer.ggml.token_type";
    t->type = malloc(t->n_vocab);
    t->eog = calloc(t->n_vocab, 1);
    if (!t->type || !t->eog) {
        set_err(err, cap, "%s: out of memory", key);
        return -1;
    }
    memset(t->type, TOK_TYPE_NORMAL, t->n_vocab);
    uint32_t et;
    uint64_t n;
    int rc = gguf_get_arr_info(g, key, &et, &n);
    if (rc == -1) return 0;   /* optional: every token is normal */
    if (rc != 0 || (et != GGUF_TYPE_INT32 && et != GGUF_TYPE_UINT32)) {
        set_err(err, cap, "%s: not an array of 32-bit integers", key);
        return -1;
    }
    if (n != t->n_vocab) {
        set_err(err, cap, "%s: %llu entries for %u tokens", key, (unsigned long long)n, t->n_vocab);
        return -1;
    }
    const void *data;
    if (gguf_get_arr_data(g, key, &data) != 0) {
        set_err(err, cap, "%s: cannot read the array", key);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)data + 4 * (size_t)i;
        int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
        t->type[i] = v >= TOK_TYPE_NORMAL && v <= TOK_TYPE_BYTE ? (uint8_t)v : TOK_TYPE_UNDEFINED;
    }
    return 0;
}

static int load_merges(tokenizer_t *t, const gguf_file_t *g, char *err, size_t cap)
{
    const char *key = "tokenizer.ggml.merges";
    uint32_t et;
    uint64_t n;
    int rc = gguf_get_arr_info(g, key, &et, &n);
    if (rc == -1) {
        set_err(err, cap, "%s: missing (required for the gpt2 tokenizer)", key);
        return -1;
    }
    if (rc != 0 || et != GGUF_TYPE_STRING) {
        set_err(err, cap, "%s: not an array of strings", key);
        return -1;
    }
    if (n > (uint64_t)INT32_MAX) {
        set_err(err, cap, "%s: too many merges (%llu)", key, (unsigned long long)n);
        return -1;
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str_t s;
        if (gguf_get_arr_str(g, key, i, &s) != 0) {
            set_err(err, cap, "%s: cannot read merge %llu", key, (unsigned long long)i);
            return -1;
        }
        total += s.len;
    }
    if (total >= UINT32_MAX) {
        set_err(err, cap, "%s: merge texts too large", key);
        return -1;
    }
    t->n_merges = (uint32_t)n;
    t->merge_text = malloc(total + 1);
    t->merge_off = malloc((n + 1) * sizeof *t->merge_off);
    t->merge_len = malloc((n + 1) * sizeof *t->merge_len);
    t->merge_left = malloc((n + 1) * sizeof *t->merge_left);
    t->merge_mask = table_size_for(n) - 1;
    t->merge_slots = malloc((t->merge_mask + 1) * sizeof *t->merge_slots);
    if (!t->merge_text || !t->merge_off || !t->merge_len || !t->merge_left || !t->merge_slots) {
        set_err(err, cap, "%s: out of memory", key);
        return -1;
    }
    memset(t->merge_slots, 0xFF, (t->merge_mask + 1) * sizeof *t->merge_slots);
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        gguf_str_t s;
        gguf_get_arr_str(g, key, i, &s);
        t->merge_off[i] = off;
        t->merge_len[i] = 0;
        t->merge_left[i] = 0;
        /* "left right", split at the first space after position 0 (llama.cpp: find(' ', 1)) */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp) continue;   /* malformed: can never match */
        size_t l = (size_t)(sp - s.ptr), r = s.len - l - 1;
        if (l == 0 || r == 0) continue;
        memcpy(t->merge_text + off, s.ptr, l);
        memcpy(t->merge_text + off + l, sp + 1, r);
        t->merge_len[i] = (uint32_t)(l + r);
        t->merge_left[i] = (uint32_t)l;
        off += (uint32_t)(l + r);
        uint64_t h = hash_bytes(t->merge_text + t->merge_off[i], l + r, l) & t->merge_mask;
        for (;;) {
            int32_t m = t->merge_slots[h];
            if (m < 0) {
                t->merge_slots[h] = (int32_t)i;
                break;
            }
            if (t->merge_len[m] == l + r && t->merge_left[m] == l &&
                memcmp(t->merge_text + t->merge_off[m], t->merge_text + off - (l + r), l + r) == 0) {
                break;   /* duplicate merge: the first (lowest) rank wins */
            }
            h = (h + 1) & t->merge_mask;
        }
    }
    return 0;
}

static int32_t first_with_text(const tokenizer_t *t, const char *const *names)
{
    int32_t best = -1;
    for (; *names; names++) {
        int32_t id = vocab_find(t, *names, strlen(*names));
        if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    return best;
}

/* llama.cpp recognizes some special tokens by their text (llama-vocab.cpp, "auto-detect special
 * tokens by text"): they become control tokens, and the end-of-generation set is built from the
 * FIM pad/repo/separator tokens, a fixed list of texts, EOS, EOT and EOM. Where llama.cpp picks
 * "the first found" in hash order we pick the lowest id. */
static void mark_specials(tokenizer_t *t, int32_t eot, int32_t eom, int32_t fim_pad, int32_t fim_rep,
                          int32_t fim_sep)
{
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
        "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "<end_of_utterance>", NULL};
    static const char *const eom_names[] = {"<|eom_id|>", NULL};
    static const char *const pre_names[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", "\xe2\x96\x81<PRE>",
        "<|code_prefix|>", NULL};
    static const char *const suf_names[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>", "\xe2\x96\x81<SUF>",
        "<|code_suffix|>", NULL};
    static const char *const mid_names[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", "\xe2\x96\x81<MID>",
        "<|code_middle|>", NULL};
    static const char *const pad_names[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", NULL};
    static const char *const rep_names[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
        "<reponame>", NULL};
    static const char *const sep_names[] = {"<|file_sep|>", NULL};
    static const char *const eog_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
        "<|call|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
        "<|end_of_text|>", "<end_of_utterance>", NULL};
    static const char *const render_names[] = {"<|channel|>", "<|message|>", "<|start|>",
        "<|constrain|>", NULL};

    const char *const *lists[] = {eot_names, eom_names, pre_names, suf_names, mid_names, pad_names,
                                  rep_names, sep_names};
    int32_t *given[] = {&eot, &eom, NULL, NULL, NULL, &fim_pad, &fim_rep, &fim_sep};
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        if (given[k] && *given[k] >= 0) continue;   /* set by metadata: no text detection */
        int32_t id = first_with_text(t, lists[k]);
        if (id < 0) continue;
        t->type[id] = TOK_TYPE_CONTROL;
        if (given[k]) *given[k] = id;
    }
    if (fim_pad >= 0) t->eog[fim_pad] = 1;
    if (fim_rep >= 0) t->eog[fim_rep] = 1;
    if (fim_sep >= 0) t->eog[fim_sep] = 1;
    for (const char *const *p = eog_names; *p; p++) {
        int32_t id = vocab_find(t, *p, strlen(*p));
        if (id < 0) continue;
        t->eog[id] = 1;
        t->type[id] = TOK_TYPE_CONTROL;
    }
    for (const char *const *p = render_names; *p; p++) {
        int32_t id = vocab_find(t, *p, strlen(*p));
        if (id >= 0) t->type[id] = TOK_TYPE_USER_DEFINED;
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (eot >= 0) t->eog[eot] = 1;
    if (eom >= 0) t->eog[eom] = 1;
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
    const tokenizer_t *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->text_len[x] != t->text_len[y]) return t->text_len[x] > t->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int build_specials(tokenizer_t *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->type[i];
        n += ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_USER_DEFINED || ty == TOK_TYPE_UNKNOWN;
    }
    t->special = malloc((n ? n : 1) * sizeof *t->special);
    if (!t->special) return -1;
    t->n_special = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->type[i];
        if (ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_USER_DEFINED || ty == TOK_TYPE_UNKNOWN) {
            t->special[t->n_special++] = (int32_t)i;
        }
    }
    qsort_r(t->special, t->n_special, sizeof *t->special, cmp_special, t);
    return 0;
}

/* decoded bytes of every token: byte map undone for normal tokens, raw text for special ones,
 * nothing for byte/unused/undefined tokens (llama.cpp's token_to_piece for BPE vocabularies) */
static int build_pieces(tokenizer_t *t)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) total += t->text_len[i];
    t->pieces = malloc(total + 1);
    t->piece_off = malloc(t->n_vocab * sizeof *t->piece_off);
    t->piece_len = malloc(t->n_vocab * sizeof *t->piece_len);
    uint32_t *cps = malloc((total + 1) * sizeof *cps);
    if (!t->pieces || !t->piece_off || !t->piece_len || !cps) {
        free(cps);
        return -1;
    }
    uint32_t off = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        const char *s = t->text + t->text_off[i];
        uint32_t len = t->text_len[i];
        t->piece_off[i] = off;
        switch (t->type[i]) {
        case TOK_TYPE_NORMAL: {
            size_t n = pretok_decode(s, len, cps);
            for (size_t k = 0; k < n; k++) {
                if (cps[k] < 0x144 && t->byte_dec[cps[k]] >= 0) {
                    t->pieces[off++] = (char)t->byte_dec[cps[k]];
                } else {
                    /* not a byte-map character: kept as its UTF-8 (never longer than the text) */
                    unsigned char u[4];
                    size_t m = pretok_encode_cp(cps[k], u);
                    memcpy(t->pieces + off, u, m);
                    off += (uint32_t)m;
                }
            }
            break;
        }
        case TOK_TYPE_CONTROL:
        case TOK_TYPE_UNKNOWN:
        case TOK_TYPE_USER_DEFINED:
            memcpy(t->pieces + off, s, len);
            off += len;
            break;
        default:
            break;
        }
        t->piece_len[i] = off - t->piece_off[i];
    }
    free(cps);
    return 0;
}

tokenizer_t *tok_load(const gguf_file_t *g, char *err, size_t err_cap)
{
    if (!g) {
        set_err(err, err_cap, "tok_load: no GGUF file");
        return NULL;
    }
    gguf_str_t model;
    int rc = gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (rc == -1) {
        set_err(err, err_cap, "tokenizer.ggml.model: missing");
        return NULL;
    }
    if (rc != 0) {
        set_err(err, err_cap, "tokenizer.ggml.model: not a string");
        return NULL;
    }
    if (!gguf_str_eq(model, "gpt2")) {
        set_err(err, err_cap, "tokenizer.ggml.model: unsupported tokenizer '%.*s' (only 'gpt2' BPE)",
                (int)(model.len > 64 ? 64 : model.len), model.ptr);
        return NULL;
    }
    pretok_kind_t pre = PRETOK_DEFAULT;
    gguf_str_t pre_name;
    rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre_name);
    if (rc == -2) {
        set_err(err, err_cap, "tokenizer.ggml.pre: not a string");
        return NULL;
    }
    if (rc == 0) {
        int k = pretok_kind_from_name(pre_name.ptr, (size_t)pre_name.len);
        if (k < 0) {
            set_err(err, err_cap, "tokenizer.ggml.pre: unknown pre-tokenizer '%.*s'",
                    (int)(pre_name.len > 64 ? 64 : pre_name.len), pre_name.ptr);
            return NULL;
        }
        pre = (pretok_kind_t)k;
    }

    tokenizer_t *t = calloc(1, sizeof *t);
    if (!t) {
        set_err(err, err_cap, "tok_load: out of memory");
        return NULL;
    }
    t->pre = pre;
    t->ignore_merges = pre == PRETOK_LLAMA3;
    t->add_bos = pre == PRETOK_LLAMA3;
    t->bos = t->eos = -1;
    init_byte_map(t);
    if (load_tokens(t, g, err, err_cap) != 0 || load_types(t, g, err, err_cap) != 0 ||
        load_merges(t, g, err, err_cap) != 0) {
        tok_free(t);
        return NULL;
    }
    int32_t unk = -1, pad = -1, sep = -1, eot = -1, eom = -1, fim_pad = -1, fim_rep = -1,
            fim_sep = -1;
    const struct { const char *key; int32_t *out; } ids[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},
        {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.unknown_token_id", &unk},
        {"tokenizer.ggml.padding_token_id", &pad},
        {"tokenizer.ggml.seperator_token_id", &sep},
        {"tokenizer.ggml.eot_token_id", &eot},
        {"tokenizer.ggml.eom_token_id", &eom},
        {"tokenizer.ggml.fim_pad_token_id", &fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &fim_sep},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (read_special_id(g, ids[i].key, t->n_vocab, ids[i].out, err, err_cap) != 0) {
            tok_free(t);
            return NULL;
        }
    }
    int b;
    rc = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b);
    if (rc == 0) {
        t->add_bos = b != 0;
    } else if (rc != -1) {
        set_err(err, err_cap, "tokenizer.ggml.add_bos_token: not a bool");
        tok_free(t);
        return NULL;
    }
    mark_specials(t, eot, eom, fim_pad, fim_rep, fim_sep);
    if (build_specials(t) != 0 || build_pieces(t) != 0) {
        set_err(err, err_cap, "tok_load: out of memory");
        tok_free(t);
        return NULL;
    }
    return t;
}

/* ---- accessors ---- */

uint32_t tok_n_vocab(const tokenizer_t *t) { return t->n_vocab; }
int32_t  tok_bos(const tokenizer_t *t) { return t->bos; }
int32_t  tok_eos(const tokenizer_t *t) { return t->eos; }
int      tok_add_bos(const tokenizer_t *t) { return t->add_bos; }

int tok_is_eog(const tokenizer_t *t, int32_t id)
{
    return id >= 0 && (uint32_t)id < t->n_vocab && t->eog[id];
}

int32_t tok_byte_token(const tokenizer_t *t, uint8_t b)
{
    return vocab_find(t, (const char *)t->byte_enc[b], t->byte_enc_len[b]);
}

const char *tok_piece(const tokenizer_t *t, int32_t id, int show_special, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab ||
        (!show_special && (t->type[id] == TOK_TYPE_CONTROL || t->type[id] == TOK_TYPE_UNKNOWN))) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = t->piece_len[id];
    return t->pieces + t->piece_off[id];
}

/* ---- encoding ---- */

typedef struct sym {
    uint32_t off, len;   /* bytes in the byte-mapped segment */
    int32_t  prev, next;
} sym_t;

typedef struct bigram {
    int32_t  rank, left, right;
    uint32_t size;       /* left.len + right.len when pushed: stale if either symbol changed */
} bigram_t;

typedef struct workspace {
    uint32_t *cps;
    uint8_t  *cls;
    size_t   *seg, *tmp;
    char     *enc;
    sym_t    *syms;
    bigram_t *heap;
    size_t    n_heap;
    size_t    sym_cap;   /* capacity of syms; enc holds 2x, heap 3x that */
} workspace_t;

/* makes room for a segment of n_sym input bytes */
static int ws_reserve(workspace_t *w, size_t n_sym)
{
    if (n_sym <= w->sym_cap) return 0;
    size_t cap = w->sym_cap ? w->sym_cap : 64;
    while (cap < n_sym) cap *= 2;
    char *enc = realloc(w->enc, cap * 2);
    if (!enc) return -1;
    w->enc = enc;
    sym_t *syms = realloc(w->syms, cap * sizeof *syms);
    if (!syms) return -1;
    w->syms = syms;
    /* each merge pushes at most 2 bigrams: (n-1) + 2(n-1) in all */
    bigram_t *heap = realloc(w->heap, cap * 3 * sizeof *heap);
    if (!heap) return -1;
    w->heap = heap;
    w->sym_cap = cap;
    return 0;
}

static int bigram_less(const bigram_t *a, const bigram_t *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(workspace_t *w, bigram_t v)
{
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_less(&v, &w->heap[p])) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = v;
}

static bigram_t heap_pop(workspace_t *w)
{
    bigram_t top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!bigram_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

static void try_bigram(const tokenizer_t *t, workspace_t *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) return;
    const sym_t *l = &w->syms[left], *r = &w->syms[right];
    int32_t rank = merge_find(t, w->enc + l->off, l->len + r->len, l->len);
    if (rank < 0) return;
    bigram_t b = {.rank = rank, .left = left, .right = right, .size = l->len + r->len};
    heap_push(w, b);
}

typedef struct out_buf {
    int32_t *ids;
    int64_t  cap, n;
} out_buf_t;

static void out_push(out_buf_t *o, int32_t id)
{
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

/* BPE over one pre-tokenizer segment (code points cps[0..n)); -1 if out of memory */
static int bpe_segment(const tokenizer_t *t, workspace_t *w, const uint32_t *cps, size_t n,
                       out_buf_t *o)
{
    size_t len = 0, n_sym = 0;
    if (ws_reserve(w, 4 * n) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char u[4];
        size_t m = pretok_encode_cp(cps[i], u);
        for (size_t k = 0; k < m; k++) {
            sym_t *s = &w->syms[n_sym];
            s->off = (uint32_t)len;
            s->len = t->byte_enc_len[u[k]];
            s->prev = (int32_t)n_sym - 1;
            s->next = (int32_t)n_sym + 1;
            memcpy(w->enc + len, t->byte_enc[u[k]], s->len);
            len += s->len;
            n_sym++;
        }
    }
    if (n_sym == 0) return 0;
    w->syms[n_sym - 1].next = -1;

    if (t->ignore_merges) {
        int32_t id = vocab_find(t, w->enc, len);
        if (id >= 0) {
            out_push(o, id);
            return 0;
        }
    }

    w->n_heap = 0;
    for (size_t i = 1; i < n_sym; i++) try_bigram(t, w, (int32_t)i - 1, (int32_t)i);
    while (w->n_heap > 0) {
        bigram_t b = heap_pop(w);
        sym_t *l = &w->syms[b.left], *r = &w->syms[b.right];
        if (l->len == 0 || r->len == 0 || l->next != b.right || l->len + r->len != b.size) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = b.left;
        try_bigram(t, w, l->prev, b.left);
        try_bigram(t, w, b.left, l->next);
    }

    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const sym_t *s = &w->syms[i];
        int32_t id = vocab_find(t, w->enc + s->off, s->len);
        if (id >= 0) {
            out_push(o, id);
            continue;
        }
        /* not in the vocabulary: one token per byte-map character (per input byte) */
        for (uint32_t k = 0; k < s->len;) {
            uint32_t cl = ((unsigned char)w->enc[s->off + k] & 0x80) ? 2 : 1;
            if (k + cl > s->len) cl = s->len - k;
            int32_t bid = vocab_find(t, w->enc + s->off + k, cl);
            if (bid >= 0) out_push(o, bid);
            k += cl;
        }
    }
    return 0;
}

static int encode_raw(const tokenizer_t *t, workspace_t *w, const char *text, size_t len,
                      out_buf_t *o)
{
    size_t n = pretok_decode(text, len, w->cps);
    size_t n_seg = pretok_split(t->pre, w->cps, n, w->cls, w->seg, w->tmp);
    size_t start = 0;
    for (size_t i = 0; i < n_seg; i++) {
        if (bpe_segment(t, w, w->cps + start, w->seg[i], o) != 0) return -1;
        start += w->seg[i];
    }
    return 0;
}

typedef struct fragment {
    size_t  off, len;
    int32_t id;          /* -1: raw text */
} fragment_t;

typedef struct frag_list {
    fragment_t *v;
    size_t      n, cap;
} frag_list_t;

static int frag_add(frag_list_t *l, size_t off, size_t len, int32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        fragment_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (fragment_t){off, len, id};
    return 0;
}

/* cuts the special tokens out of the text, one token at a time, longest text first */
static int split_specials(const tokenizer_t *t, const char *text, size_t len, int parse_special,
                          frag_list_t *out)
{
    frag_list_t cur = {0}, next = {0};
    if (frag_add(&cur, 0, len, -1) != 0) return -1;
    for (uint32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!parse_special && t->type[id] != TOK_TYPE_USER_DEFINED) continue;
        const char *st = t->text + t->text_off[id];
        size_t sl = t->text_len[id];
        if (sl > len) continue;
        next.n = 0;
        int changed = 0;
        for (size_t i = 0; i < cur.n; i++) {
            fragment_t f = cur.v[i];
            if (f.id >= 0 || f.len < sl) {
                if (frag_add(&next, f.off, f.len, f.id) != 0) goto oom;
                continue;
            }
            size_t pos = f.off, end = f.off + f.len;
            while (pos < end) {
                const char *hit = memmem(text + pos, end - pos, st, sl);
                if (!hit) break;
                size_t at = (size_t)(hit - text);
                if (at > pos && frag_add(&next, pos, at - pos, -1) != 0) goto oom;
                if (frag_add(&next, at, sl, id) != 0) goto oom;
                pos = at + sl;
                changed = 1;
            }
            if (pos < end && frag_add(&next, pos, end - pos, -1) != 0) goto oom;
        }
        if (changed) {
            frag_list_t tmp = cur;
            cur = next;
            next = tmp;
        }
    }
    free(next.v);
    *out = cur;
    return 0;
oom:
    free(cur.v);
    free(next.v);
    return -1;
}

int64_t tok_encode(const tokenizer_t *t, const char *text, size_t len, int parse_special,
                   int32_t *out, int64_t cap)
{
    out_buf_t o = {.ids = out, .cap = out ? cap : 0, .n = 0};
    if (len == 0) return 0;
    frag_list_t frags;
    if (split_specials(t, text, len, parse_special, &frags) != 0) return INT64_MIN;

    size_t longest = 0;
    for (size_t i = 0; i < frags.n; i++) {
        if (frags.v[i].id < 0 && frags.v[i].len > longest) longest = frags.v[i].len;
    }
    workspace_t w = {0};
    if (longest > 0) {
        size_t n = longest;
        w.cps = malloc(n * sizeof *w.cps);
        w.cls = malloc(n);
        w.seg = malloc(n * sizeof *w.seg);
        w.tmp = malloc(n * sizeof *w.tmp);
    }
    int64_t ret = INT64_MIN;
    if (longest == 0 || (w.cps && w.cls && w.seg && w.tmp)) {
        int ok = 1;
        for (size_t i = 0; i < frags.n && ok; i++) {
            if (frags.v[i].id >= 0) {
                out_push(&o, frags.v[i].id);
            } else {
                /* each code point re-encodes to <= 4 bytes (U+FFFD: 3 for 1 input byte) */
                ok = encode_raw(t, &w, text + frags.v[i].off, frags.v[i].len, &o) == 0;
            }
        }
        if (ok) ret = o.n <= o.cap ? o.n : -o.n;
    }
    free(w.cps);
    free(w.cls);
    free(w.seg);
    free(w.tmp);
    free(w.enc);
    free(w.syms);
    free(w.heap);
    free(frags.v);
    return ret;
}

/* ---- chat template ---- */

/* copies text without its NUL; returns the end (memcpy, not sprintf: the sizes are counted above) */
static char *append(char *p, const char *text)
{
    const size_t n = strlen(text);
    memcpy(p, text, n);
    return p + n;
}

char *tok_chat_render(const tok_chat_msg_t *msgs, size_t n, int add_generation_prompt)
{
    static const char start[] = "<|im_start|>", end[] = "<|im_end|>\n", gen[] = "<|im_start|>assistant\n";
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        total += strlen(start) + (msgs[i].role ? strlen(msgs[i].role) : 0) + 1 +
                 (msgs[i].content ? strlen(msgs[i].content) : 0) + strlen(end);
    }
    if (add_generation_prompt) total += strlen(gen);
    char *s = malloc(total);
    if (!s) return NULL;
    char *p = s;
    for (size_t i = 0; i < n; i++) {
        p = append(p, start);
        p = append(p, msgs[i].role ? msgs[i].role : "");
        *p++ = '\n';
        p = append(p, msgs[i].content ? msgs[i].content : "");
        p = append(p, end);
    }
    if (add_generation_prompt) p = append(p, gen);
    *p = '\0';
    return s;
}

/* ---- streaming detokenizer ---- */

/* length of a UTF-8 sequence from its lead byte; 1 for ASCII and bytes that cannot lead */
static size_t utf8_seq_len(unsigned char b)
{
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 1;
}

/* bytes at the end of s[0..n) that begin a UTF-8 sequence still waiting for continuation bytes */
static size_t incomplete_tail(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char b = s[n - k];
        if ((b & 0xC0) == 0x80) continue;     /* continuation: keep looking for the lead */
        return utf8_seq_len(b) > k ? k : 0;
    }
    return 0;
}

size_t tok_stream_feed(const tokenizer_t *t, tok_stream_t *s, int32_t id, char *out, size_t cap)
{
    size_t plen;
    const char *p = tok_piece(t, id, 0, &plen);
    size_t n = 0;
    /* pending bytes first, then the piece; what does not fit in cap is dropped */
    for (size_t i = 0; i < s->n_pending && n < cap; i++) out[n++] = s->pending[i];
    s->n_pending = 0;
    size_t take = plen < cap - n ? plen : cap - n;
    memcpy(out + n, p, take);
    n += take;
    size_t tail = incomplete_tail((const unsigned char *)out, n);
    memcpy(s->pending, out + n - tail, tail);
    s->n_pending = tail;
    return n - tail;
}

size_t tok_stream_flush(tok_stream_t *s, char *out, size_t cap)
{
    size_t n = s->n_pending < cap ? s->n_pending : cap;
    memcpy(out, s->pending, n);
    s->n_pending = 0;
    return n;
}
