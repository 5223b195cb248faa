/* pretok.c - lenient UTF-8 decoding, code point classes and the pre-tokenizer splitting rules.
 *
 * The GPT-2 and llama3 rules are hand-written matchers equivalent to llama.cpp's custom
 * implementations of those regexes (including their corner cases: a run of >= 2 whitespace
 * followed by more text leaves its last character to the next segment; a single space joins a
 * following letter/number/symbol run). The one-class rules (\p{N}, runs of punctuation, digit
 * triples) are simple scanners.
 */
#include "pretok.h"

#include <string.h>

#include "unicode_tables.h"

/* ---- code point classes ---- */

static int in_ranges(const uni_range_t *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first) {
            hi = mid;
        } else if (cp > r[mid].last) {
            lo = mid + 1;
        } else {
            return 1;
        }
    }
    return 0;
}

unsigned uni_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return UNI_LETTER;
        if (cp >= '0' && cp <= '9') return UNI_NUMBER;
        if ((cp >= 0x09 && cp <= 0x0D) || cp == ' ') return UNI_SPACE;
        if (in_ranges(uni_punct_ranges, uni_punct_ranges_n, cp)) return UNI_PUNCT;
        return 0;
    }
    if (cp > 0x10FFFF) return 0;
    unsigned c = 0;
    if (in_ranges(uni_letter_ranges, uni_letter_ranges_n, cp)) c |= UNI_LETTER;
    else if (in_ranges(uni_number_ranges, uni_number_ranges_n, cp)) c |= UNI_NUMBER;
    else if (in_ranges(uni_punct_ranges, uni_punct_ranges_n, cp)) c |= UNI_PUNCT;
    if (in_ranges(uni_space_ranges, uni_space_ranges_n, cp)) c |= UNI_SPACE;
    return c;
}

/* ---- UTF-8 ---- */

size_t pretok_decode(const char *s, size_t len, uint32_t *cps)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0, i = 0;
    while (i < len) {
        unsigned b = u[i];
        uint32_t cp = 0xFFFD;
        size_t step = 1;
        if (b < 0x80) {
            cp = b;
        } else if ((b & 0x40) == 0) {
            /* stray continuation byte */
        } else if ((b & 0x20) == 0) {
            if (i + 1 < len && (u[i + 1] & 0xC0) == 0x80) {
                cp = ((b & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu);
                step = 2;
            }
        } else if ((b & 0x10) == 0) {
            if (i + 2 < len && (u[i + 1] & 0xC0) == 0x80 && (u[i + 2] & 0xC0) == 0x80) {
                cp = ((b & 0x0Fu) << 12) | ((u[i + 1] & 0x3Fu) << 6) | (u[i + 2] & 0x3Fu);
                step = 3;
            }
        } else if ((b & 0x08) == 0) {
            if (i + 3 < len && (u[i + 1] & 0xC0) == 0x80 && (u[i + 2] & 0xC0) == 0x80 &&
                (u[i + 3] & 0xC0) == 0x80) {
                uint32_t v = ((b & 0x07u) << 18) | ((u[i + 1] & 0x3Fu) << 12) |
                             ((u[i + 2] & 0x3Fu) << 6) | (u[i + 3] & 0x3Fu);
                /* llama.cpp cannot re-encode these (it throws); we treat them as invalid */
                if (v <= 0x10FFFF) {
                    cp = v;
                    step = 4;
                }
            }
        }
        cps[n++] = cp;
        i += step;
    }
    return n;
}

size_t pretok_encode_cp(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- pre-tokenizer names ---- */

int pretok_kind_from_name(const char *name, size_t len)
{
    static const struct { const char *name; pretok_kind_t kind; } names[] = {
        {"smollm", PRETOK_SMOLLM},  {"starcoder", PRETOK_SMOLLM}, {"refact", PRETOK_SMOLLM},
        {"command-r", PRETOK_SMOLLM}, {"codeshell", PRETOK_SMOLLM}, {"exaone", PRETOK_SMOLLM},
        {"minerva-7b", PRETOK_SMOLLM},
        {"gpt-2", PRETOK_GPT2}, {"gpt2", PRETOK_GPT2}, {"mpt", PRETOK_GPT2}, {"olmo", PRETOK_GPT2},
        {"jais", PRETOK_GPT2}, {"phi-2", PRETOK_GPT2}, {"exaone4", PRETOK_GPT2},
        {"llama3", PRETOK_LLAMA3}, {"llama-v3", PRETOK_LLAMA3}, {"llama-bpe", PRETOK_LLAMA3},
        {"falcon3", PRETOK_LLAMA3},
        {"default", PRETOK_DEFAULT},
    };
    if (!name) return PRETOK_DEFAULT;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0) {
            return (int)names[i].kind;
        }
    }
    return -1;
}

/* ---- splitting ---- */

#define OUT_OF_RANGE 0xFFFFFFFFu
#define CLS_IN       0x80u   /* position lies inside the current segment */

/* One segment being re-split: [ini, end) in code points; emitted lengths go to out[*n_out]. */
typedef struct seg_ctx {
    const uint32_t *cps;
    const uint8_t  *cls;
    size_t          ini, end, prev;
    size_t         *out;
    size_t          n_out;
} seg_ctx_t;

static uint32_t cp_at(const seg_ctx_t *c, size_t pos)
{
    return pos >= c->ini && pos < c->end ? c->cps[pos] : OUT_OF_RANGE;
}

static unsigned cls_at(const seg_ctx_t *c, size_t pos)
{
    return pos >= c->ini && pos < c->end ? (unsigned)c->cls[pos] | CLS_IN : 0u;
}

static void emit_to(seg_ctx_t *c, size_t end)
{
    if (end > c->prev) c->out[c->n_out++] = end - c->prev;
    c->prev = end;
}

static uint32_t ascii_lower(uint32_t cp)
{
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

/* contraction at pos ('s 't 'm 'd 're 've 'll); returns its length or 0 */
static size_t contraction_len(const seg_ctx_t *c, size_t pos, int fold_case)
{
    if (cp_at(c, pos) != '\'' || pos + 1 >= c->end) return 0;
    uint32_t a = cp_at(c, pos + 1);
    if (fold_case) a = ascii_lower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= c->end) return 0;
    uint32_t b = cp_at(c, pos + 2);
    if (fold_case) b = ascii_lower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

#define LNW (UNI_LETTER | UNI_NUMBER | UNI_SPACE)

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(seg_ctx_t *c)
{
    size_t pos = c->ini;
    while (pos < c->end) {
        uint32_t cp = cp_at(c, pos);
        size_t k = contraction_len(c, pos, 0);
        if (k) {
            pos += k;
            emit_to(c, pos);
            continue;
        }
        unsigned f2 = cp == ' ' ? cls_at(c, pos + 1) : cls_at(c, pos);
        if (f2 & UNI_LETTER) {
            pos += cp == ' ';
            while (cls_at(c, pos) & UNI_LETTER) pos++;
            emit_to(c, pos);
            continue;
        }
        if (f2 & UNI_NUMBER) {
            pos += cp == ' ';
            while (cls_at(c, pos) & UNI_NUMBER) pos++;
            emit_to(c, pos);
            continue;
        }
        if (!(f2 & LNW) && (f2 & CLS_IN)) {
            pos += cp == ' ';
            while (!(cls_at(c, pos) & LNW) && (cls_at(c, pos) & CLS_IN)) pos++;
            emit_to(c, pos);
            continue;
        }
        size_t nws = 0;
        while (cls_at(c, pos + nws) & UNI_SPACE) nws++;
        if (nws > 1 && cp_at(c, pos + nws) != OUT_OF_RANGE) {
            pos += nws - 1;   /* the last whitespace goes with what follows */
            emit_to(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            emit_to(c, pos);
            continue;
        }
        emit_to(c, ++pos);
    }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ */
static void split_llama3(seg_ctx_t *c)
{
    size_t pos = c->ini;
    while (pos < c->end) {
        uint32_t cp = cp_at(c, pos);
        unsigned f = cls_at(c, pos);
        size_t k = contraction_len(c, pos, 1);
        if (k) {
            pos += k;
            emit_to(c, pos);
            continue;
        }
        if (!(cp == '\r' || cp == '\n' || (f & UNI_NUMBER))) {
            if ((f & UNI_LETTER) || (cls_at(c, pos + 1) & UNI_LETTER)) {
                pos++;
                while (cls_at(c, pos) & UNI_LETTER) pos++;
                emit_to(c, pos);
                continue;
            }
        }
        if (f & UNI_NUMBER) {
            size_t ini = pos;
            while (cls_at(c, pos) & UNI_NUMBER) {
                if (++pos - ini >= 3) {
                    emit_to(c, pos);
                    ini = pos;
                }
            }
            emit_to(c, pos);
            continue;
        }
        unsigned f2 = cp == ' ' ? cls_at(c, pos + 1) : f;
        if (!(f2 & LNW) && (f & CLS_IN)) {
            pos += cp == ' ';
            while (!(f2 & LNW) && (f2 & CLS_IN)) f2 = cls_at(c, ++pos);
            uint32_t c2 = cp_at(c, pos);
            while (c2 == '\r' || c2 == '\n') c2 = cp_at(c, ++pos);
            emit_to(c, pos);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (cls_at(c, pos + nws) & UNI_SPACE) {
            uint32_t c2 = cp_at(c, pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) {
            pos = last_rn;
            emit_to(c, pos);
            continue;
        }
        if (nws > 1 && cp_at(c, pos + nws) != OUT_OF_RANGE) {
            pos += nws - 1;
            emit_to(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            emit_to(c, pos);
            continue;
        }
        emit_to(c, ++pos);
    }
}

/* \p{N}: every number code point is a segment of its own */
static void split_each_number(seg_ctx_t *c)
{
    for (size_t pos = c->ini; pos < c->end; pos++) {
        if (c->cls[pos] & UNI_NUMBER) {
            emit_to(c, pos);
            emit_to(c, pos + 1);
        }
    }
    emit_to(c, c->end);
}

/* [\p{P}\$\+<=>\^~\|]+ : in ASCII that is every punctuation character but '`' */
static int is_default_punct(uint32_t cp, unsigned cls)
{
    if (cp < 0x80) return cp > 0x20 && cp < 0x7F && cp != '`' && !(cls & (UNI_LETTER | UNI_NUMBER));
    return (cls & UNI_PUNCT) && !(cls & UNI_SPACE);
}

static void split_runs(seg_ctx_t *c, int punct)
{
    size_t pos = c->ini;
    while (pos < c->end) {
        int hit = punct ? is_default_punct(c->cps[pos], c->cls[pos]) : (c->cls[pos] & UNI_NUMBER) != 0;
        if (!hit) {
            pos++;
            continue;
        }
        emit_to(c, pos);
        while (pos < c->end &&
               (punct ? is_default_punct(c->cps[pos], c->cls[pos]) : (c->cls[pos] & UNI_NUMBER) != 0)) {
            pos++;
        }
        emit_to(c, pos);
    }
    emit_to(c, c->end);
}

/* [0-9][0-9][0-9], leftmost non-overlapping */
static void split_digit_triples(seg_ctx_t *c)
{
    size_t pos = c->ini;
    while (pos + 3 <= c->end) {
        const uint32_t *p = c->cps + pos;
        if (p[0] - '0' < 10 && p[1] - '0' < 10 && p[2] - '0' < 10) {
            emit_to(c, pos);
            emit_to(c, pos + 3);
            pos += 3;
        } else {
            pos++;
        }
    }
    emit_to(c, c->end);
}

typedef enum split_rule { RULE_GPT2, RULE_LLAMA3, RULE_EACH_NUMBER, RULE_PUNCT_RUNS,
                          RULE_NUMBER_RUNS, RULE_DIGIT_TRIPLES } split_rule_t;

/* re-splits the segments in[0..n_in) (lengths) into out; returns the new count */
static size_t apply_rule(split_rule_t rule, const uint32_t *cps, const uint8_t *cls,
                         const size_t *in, size_t n_in, size_t *out)
{
    seg_ctx_t c = {.cps = cps, .cls = cls, .out = out, .n_out = 0};
    size_t start = 0;
    for (size_t i = 0; i < n_in; i++) {
        c.ini = c.prev = start;
        c.end = start + in[i];
        switch (rule) {
        case RULE_GPT2:          split_gpt2(&c); break;
        case RULE_LLAMA3:        split_llama3(&c); break;
        case RULE_EACH_NUMBER:   split_each_number(&c); break;
        case RULE_PUNCT_RUNS:    split_runs(&c, 1); break;
        case RULE_NUMBER_RUNS:   split_runs(&c, 0); break;
        case RULE_DIGIT_TRIPLES: split_digit_triples(&c); break;
        }
        start = c.end;
    }
    return c.n_out;
}

size_t pretok_split(pretok_kind_t kind, const uint32_t *cps, size_t n, uint8_t *cls, size_t *seg,
                    size_t *tmp)
{
    static const split_rule_t smollm[] = {RULE_EACH_NUMBER, RULE_GPT2};
    static const split_rule_t gpt2[] = {RULE_GPT2};
    static const split_rule_t llama3[] = {RULE_LLAMA3};
    static const split_rule_t dflt[] = {RULE_PUNCT_RUNS, RULE_GPT2, RULE_NUMBER_RUNS,
                                        RULE_DIGIT_TRIPLES};
    const split_rule_t *rules = smollm;
    size_t n_rules = 2;
    switch (kind) {
    case PRETOK_SMOLLM:  rules = smollm; n_rules = 2; break;
    case PRETOK_GPT2:    rules = gpt2; n_rules = 1; break;
    case PRETOK_LLAMA3:  rules = llama3; n_rules = 1; break;
    case PRETOK_DEFAULT: rules = dflt; n_rules = 4; break;
    }
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) cls[i] = (uint8_t)uni_class(cps[i]);

    size_t *cur = seg, *next = tmp;
    size_t n_cur = 1;
    cur[0] = n;
    for (size_t r = 0; r < n_rules; r++) {
        n_cur = apply_rule(rules[r], cps, cls, cur, n_cur, next);
        size_t *t = cur;
        cur = next;
        next = t;
    }
    if (cur != seg) memcpy(seg, cur, n_cur * sizeof *seg);
    return n_cur;
}
