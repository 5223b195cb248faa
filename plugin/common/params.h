/* params.h - parse and validate strategy parameters (dstrat_param_t text values) against a
 * strategy's typed descriptors (dstrat_param_desc_t).
 *
 * Used by plugins inside strategy_create and by the host's config module to validate a YAML
 * config before anything is created, so both sides give the same verdict and the same messages.
 * Pure functions, no allocation, thread-safe. Every error message names the key and, where it
 * applies, the allowed range or choices.
 */
#ifndef DSP_PARAMS_H
#define DSP_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"

#define DSP_STR_MAX 1024 /* longest STRING/PATH value kept, NUL included */

/* One parsed value. The field that matches desc->type is set; the text is copied so the value
 * outlives the host's dstrat_param_t arrays. */
typedef struct dsp_value {
    uint32_t type;        /* DSTRAT_PARAM_* (copied from the descriptor) */
    uint32_t is_default;  /* 1: the key was absent and default_value was used */
    int64_t i;            /* INT */
    double f;             /* FLOAT (INT values are mirrored here too) */
    int32_t b;            /* BOOL: 0 or 1 */
    char s[DSP_STR_MAX];  /* STRING/PATH: the text; for every type: the text that was parsed */
} dsp_value_t;

/* Parses one text value against one descriptor into *out. 0 or DSTRAT_E_INVALID_ARG with a
 * message naming desc->key in err (NUL-terminated, at most cap bytes; err may be NULL).
 * INT: optional sign and decimal digits only, within [min_value, max_value].
 * FLOAT: a finite decimal number (strtod syntax, no hex/inf/nan), within [min_value, max_value].
 * BOOL: true|false (also True/TRUE/False/FALSE, as YAML writes them).
 * STRING: any text shorter than DSP_STR_MAX; if choices ("a|b|c") is set, exactly one of them.
 * PATH: non-empty text shorter than DSP_STR_MAX (not opened: the caller resolves it). */
int dsp_parse_one(const dstrat_param_desc_t *desc, const char *text, dsp_value_t *out, char *err,
                  size_t cap);

/* Validates params[0..n_params) against descs[0..n_descs) and fills out[0..n_descs) (index =
 * descriptor index). Absent keys take their default_value. Returns 0, or DSTRAT_E_INVALID_ARG for:
 * a NULL key or value, an unknown key (the message lists the known keys), a key given twice, a
 * missing required key (default_value NULL), or a value that dsp_parse_one rejects.
 * params may be NULL when n_params is 0. out may be NULL to validate only. */
int dsp_parse(const dstrat_param_desc_t *descs, uint32_t n_descs, const dstrat_param_t *params,
              uint32_t n_params, dsp_value_t *out, char *err, size_t cap);

/* Checks a descriptor table itself: unique non-NULL keys, known types, min <= max, every default
 * parses. For plugin unit tests and for hosts that distrust a plugin. 0 or DSTRAT_E_INVALID_ARG. */
int dsp_check_descs(const dstrat_param_desc_t *descs, uint32_t n_descs, char *err, size_t cap);

/* Index of key in descs, or -1. */
int32_t dsp_find(const dstrat_param_desc_t *descs, uint32_t n_descs, const char *key);

/* Getters by key over the arrays dsp_parse filled. A key that is absent from descs or of another
 * type returns 0 / 0.0 / 0 / "" (a programming error in the plugin, caught by its tests). */
int64_t dsp_get_int(const dstrat_param_desc_t *descs, uint32_t n_descs, const dsp_value_t *vals,
                    const char *key);
double dsp_get_float(const dstrat_param_desc_t *descs, uint32_t n_descs, const dsp_value_t *vals,
                     const char *key);
int32_t dsp_get_bool(const dstrat_param_desc_t *descs, uint32_t n_descs, const dsp_value_t *vals,
                     const char *key);
const char *dsp_get_str(const dstrat_param_desc_t *descs, uint32_t n_descs,
                        const dsp_value_t *vals, const char *key);

#endif /* DSP_PARAMS_H */
