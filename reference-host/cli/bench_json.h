/* bench_json.h - a small, strict JSON reader (RFC 8259): the prompt files' lines, and the tests
 * that check refhost bench's JSON output. Strings are unescaped to UTF-8 (\uXXXX with surrogate
 * pairs); nesting is limited to 64 levels. */
#ifndef BENCH_JSON_H
#define BENCH_JSON_H

#include <stddef.h>

typedef enum { BJ_NULL, BJ_BOOL, BJ_NUM, BJ_STR, BJ_ARR, BJ_OBJ } bj_type_t;

typedef struct bj_value {
    bj_type_t type;
    int boolean;
    double num;
    char *str;               /* BJ_STR: NUL-terminated UTF-8 (may contain NULs from \u0000: see len) */
    size_t len;
    struct bj_value *items;  /* BJ_ARR elements / BJ_OBJ values, [n] */
    char **keys;             /* BJ_OBJ keys, [n] */
    size_t n;
} bj_value_t;

/* Parses one JSON text (surrounding whitespace allowed). NULL and "offset N: ..." in err on error. */
bj_value_t *bj_parse(const char *text, size_t len, char *err, size_t cap);
void bj_free(bj_value_t *v);

/* The value of key in an object (first match), or NULL. */
const bj_value_t *bj_get(const bj_value_t *obj, const char *key);

#endif
