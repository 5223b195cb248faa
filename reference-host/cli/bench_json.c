/* bench_json.c - see bench_json.h */
#include "bench_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t cap;
    int failed;
} parser_t;

static int fail(parser_t *p, const char *what) {
    if (!p->failed) snprintf(p->err, p->cap, "offset %zu: %s", p->pos, what);
    p->failed = 1;
    return -1;
}

static void ws(parser_t *p) {
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos]) p->pos++;
}

static void free_inner(bj_value_t *v) {
    if (v->type == BJ_STR) free(v->str);
    if (v->type == BJ_ARR || v->type == BJ_OBJ) {
        for (size_t i = 0; i < v->n; i++) {
            free_inner(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
    memset(v, 0, sizeof *v);
}

static int hex4(parser_t *p, unsigned *out) {
    if (p->pos + 4 > p->len) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned) (c - 'A' + 10);
        else return fail(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char) cp; return 1; }
    if (cp < 0x800) { o[0] = (char) (0xC0 | cp >> 6); o[1] = (char) (0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char) (0xE0 | cp >> 12); o[1] = (char) (0x80 | ((cp >> 6) & 63)); o[2] = (char) (0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char) (0xF0 | cp >> 18); o[1] = (char) (0x80 | ((cp >> 12) & 63));
    o[2] = (char) (0x80 | ((cp >> 6) & 63)); o[3] = (char) (0x80 | (cp & 63));
    return 4;
}

/* at the opening quote; the unescaped text is never longer than the escaped one */
static int string(parser_t *p, char **out, size_t *out_len) {
    p->pos++;
    size_t start = p->pos, end = start;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) return fail(p, "unterminated string");
    char *o = malloc(end - start + 1);
    if (!o) return fail(p, "out of memory");
    size_t n = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char) p->s[p->pos];
        if (c < 0x20) { free(o); return fail(p, "control character in string"); }
        if (c != '\\') { o[n++] = (char) c; p->pos++; continue; }
        char e = p->s[++p->pos];
        p->pos++;
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, &cp) != 0) { free(o); return -1; }
            if (cp >= 0xDC00 && cp <= 0xDFFF) { free(o); return fail(p, "lone low surrogate in \\u escape"); }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    free(o);
                    return fail(p, "high surrogate without a following \\u low surrogate");
                }
                p->pos += 2;
                if (hex4(p, &lo) != 0) { free(o); return -1; }
                if (lo < 0xDC00 || lo > 0xDFFF) { free(o); return fail(p, "high surrogate not followed by a low one"); }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: free(o); return fail(p, "bad escape in string");
        }
    }
    p->pos++;
    o[n] = '\0';
    *out = o;
    *out_len = n;
    return 0;
}

static int value(parser_t *p, bj_value_t *v, int depth);

static int push(parser_t *p, bj_value_t *v, size_t *cap, int with_keys) {
    if (v->n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    bj_value_t *it = realloc(v->items, nc * sizeof *it);
    if (!it) return fail(p, "out of memory");
    v->items = it;
    if (with_keys) {
        char **k = realloc(v->keys, nc * sizeof *k);
        if (!k) return fail(p, "out of memory");
        v->keys = k;
    }
    *cap = nc;
    return 0;
}

static int container(parser_t *p, bj_value_t *v, int depth, int obj) {
    const char close = obj ? '}' : ']';
    v->type = obj ? BJ_OBJ : BJ_ARR;
    size_t cap = 0;
    p->pos++;
    ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; return 0; }
    for (;;) {
        ws(p);
        if (push(p, v, &cap, obj) != 0) return -1;
        memset(&v->items[v->n], 0, sizeof v->items[v->n]);
        if (obj) {
            size_t kl;
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a string key");
            if (string(p, &v->keys[v->n], &kl) != 0) return -1;
            ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') { free(v->keys[v->n]); return fail(p, "expected ':'"); }
            p->pos++;
        }
        v->n++; /* counted before parsing so that free_inner releases a half-built element */
        if (value(p, &v->items[v->n - 1], depth + 1) != 0) return -1;
        ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; return 0; }
        return fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int number(parser_t *p, bj_value_t *v) {
    size_t i = p->pos;
    if (i < p->len && p->s[i] == '-') i++;
    if (i >= p->len || !(p->s[i] >= '0' && p->s[i] <= '9')) return fail(p, "bad number");
    if (p->s[i] == '0') i++;
    else while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (i >= p->len || !(p->s[i] >= '0' && p->s[i] <= '9')) return fail(p, "bad number: digit expected after '.'");
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->len || !(p->s[i] >= '0' && p->s[i] <= '9')) return fail(p, "bad number: exponent digits expected");
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    char buf[64];
    if (i - p->pos >= sizeof buf) return fail(p, "number too long");
    memcpy(buf, p->s + p->pos, i - p->pos);
    buf[i - p->pos] = '\0';
    v->type = BJ_NUM;
    v->num = strtod(buf, NULL);
    p->pos = i;
    return 0;
}

static int literal(parser_t *p, const char *word) {
    size_t n = strlen(word);
    if (p->pos + n > p->len || memcmp(p->s + p->pos, word, n) != 0) return fail(p, "unexpected character");
    p->pos += n;
    return 0;
}

static int value(parser_t *p, bj_value_t *v, int depth) {
    if (depth > 64) return fail(p, "nesting deeper than 64");
    ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end of input");
    switch (p->s[p->pos]) {
    case '{': return container(p, v, depth, 1);
    case '[': return container(p, v, depth, 0);
    case '"': v->type = BJ_STR; return string(p, &v->str, &v->len);
    case 't': v->type = BJ_BOOL; v->boolean = 1; return literal(p, "true");
    case 'f': v->type = BJ_BOOL; return literal(p, "false");
    case 'n': v->type = BJ_NULL; return literal(p, "null");
    default: return number(p, v);
    }
}

bj_value_t *bj_parse(const char *text, size_t len, char *err, size_t cap) {
    parser_t p = {text, len, 0, err, cap, 0};
    bj_value_t *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    if (value(&p, v, 0) == 0) {
        ws(&p);
        if (p.pos == p.len) return v;
        fail(&p, "trailing characters after the JSON value");
    }
    bj_free(v);
    return NULL;
}

void bj_free(bj_value_t *v) {
    if (!v) return;
    free_inner(v);
    free(v);
}

const bj_value_t *bj_get(const bj_value_t *obj, const char *key) {
    if (!obj || obj->type != BJ_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->items[i];
    return NULL;
}
