/* params.c - see params.h. */
#include "params.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static const char *type_name(uint32_t t) {
    switch (t) {
    case DSTRAT_PARAM_INT: return "int";
    case DSTRAT_PARAM_FLOAT: return "float";
    case DSTRAT_PARAM_BOOL: return "bool";
    case DSTRAT_PARAM_STRING: return "string";
    case DSTRAT_PARAM_PATH: return "path";
    default: return "?";
    }
}

/* 1 if text is one of the '|'-separated choices. */
static int in_choices(const char *choices, const char *text) {
    size_t len = strlen(text);
    const char *p = choices;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t) (bar - p) : strlen(p);
        if (n == len && strncmp(p, text, n) == 0) return 1;
        if (!bar) return 0;
        p = bar + 1;
    }
}

static int parse_int(const dstrat_param_desc_t *d, const char *text, dsp_value_t *out, char *err,
                     size_t cap) {
    const char *p = text;
    if (*p == '+' || *p == '-') p++;
    if (*p == '\0') goto bad;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') goto bad;
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE || (double) v < d->min_value || (double) v > d->max_value) {
        set_err(err, cap, "parameter '%s': %s is out of range [%.0f, %.0f]", d->key, text,
                d->min_value, d->max_value);
        return DSTRAT_E_INVALID_ARG;
    }
    out->i = v;
    out->f = (double) v;
    return 0;
bad:
    set_err(err, cap, "parameter '%s': '%s' is not an integer (expected an int in [%.0f, %.0f])",
            d->key, text, d->min_value, d->max_value);
    return DSTRAT_E_INVALID_ARG;
}

static int parse_float(const dstrat_param_desc_t *d, const char *text, dsp_value_t *out, char *err,
                       size_t cap) {
    /* strtod also takes hex, inf and nan: allow only decimal syntax */
    for (const char *q = text; *q; q++)
        if (!strchr("0123456789+-.eE", *q)) goto bad;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v)) goto bad;
    if (v < d->min_value || v > d->max_value) {
        set_err(err, cap, "parameter '%s': %s is out of range [%g, %g]", d->key, text,
                d->min_value, d->max_value);
        return DSTRAT_E_INVALID_ARG;
    }
    out->f = v;
    return 0;
bad:
    set_err(err, cap, "parameter '%s': '%s' is not a number (expected a float in [%g, %g])", d->key,
            text, d->min_value, d->max_value);
    return DSTRAT_E_INVALID_ARG;
}

static int parse_bool(const dstrat_param_desc_t *d, const char *text, dsp_value_t *out, char *err,
                      size_t cap) {
    if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE")) {
        out->b = 1;
        return 0;
    }
    if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE")) {
        out->b = 0;
        return 0;
    }
    set_err(err, cap, "parameter '%s': '%s' is not a bool (expected true or false)", d->key, text);
    return DSTRAT_E_INVALID_ARG;
}

int dsp_parse_one(const dstrat_param_desc_t *d, const char *text, dsp_value_t *out, char *err,
                  size_t cap) {
    dsp_value_t tmp;
    if (!d || !d->key) {
        set_err(err, cap, "parameter descriptor is NULL or has no key");
        return DSTRAT_E_INVALID_ARG;
    }
    if (!text) {
        set_err(err, cap, "parameter '%s': value is NULL", d->key);
        return DSTRAT_E_INVALID_ARG;
    }
    if (!out) out = &tmp;
    memset(out, 0, sizeof *out);
    out->type = d->type;
    size_t len = strlen(text);
    if (len >= DSP_STR_MAX) {
        set_err(err, cap, "parameter '%s': value is too long (%zu bytes, at most %d)", d->key, len,
                DSP_STR_MAX - 1);
        return DSTRAT_E_INVALID_ARG;
    }
    memcpy(out->s, text, len + 1);
    switch (d->type) {
    case DSTRAT_PARAM_INT: return parse_int(d, text, out, err, cap);
    case DSTRAT_PARAM_FLOAT: return parse_float(d, text, out, err, cap);
    case DSTRAT_PARAM_BOOL: return parse_bool(d, text, out, err, cap);
    case DSTRAT_PARAM_STRING:
        if (d->choices && !in_choices(d->choices, text)) {
            set_err(err, cap, "parameter '%s': '%s' is not one of %s", d->key, text, d->choices);
            return DSTRAT_E_INVALID_ARG;
        }
        return 0;
    case DSTRAT_PARAM_PATH:
        if (len == 0) {
            set_err(err, cap, "parameter '%s': empty path", d->key);
            return DSTRAT_E_INVALID_ARG;
        }
        return 0;
    default:
        set_err(err, cap, "parameter '%s': unknown type %u in the descriptor", d->key, d->type);
        return DSTRAT_E_INVALID_ARG;
    }
}

int32_t dsp_find(const dstrat_param_desc_t *descs, uint32_t n_descs, const char *key) {
    if (!descs || !key) return -1;
    for (uint32_t i = 0; i < n_descs; i++)
        if (descs[i].key && !strcmp(descs[i].key, key)) return (int32_t) i;
    return -1;
}

/* "k (int), min_confidence (float)" for the unknown-key message */
static void list_keys(const dstrat_param_desc_t *descs, uint32_t n_descs, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    if (n_descs == 0) {
        snprintf(buf, cap, "none");
        return;
    }
    for (uint32_t i = 0; i < n_descs && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s (%s)", i ? ", " : "", descs[i].key,
                         type_name(descs[i].type));
        if (w < 0) break;
        used += (size_t) w;
    }
}

int dsp_parse(const dstrat_param_desc_t *descs, uint32_t n_descs, const dstrat_param_t *params,
              uint32_t n_params, dsp_value_t *out, char *err, size_t cap) {
    if ((n_descs && !descs) || (n_params && !params)) {
        set_err(err, cap, "parameters: NULL array");
        return DSTRAT_E_INVALID_ARG;
    }
    for (uint32_t j = 0; j < n_params; j++) {
        if (!params[j].key || !params[j].value) {
            set_err(err, cap, "parameter #%u: NULL %s", j, params[j].key ? "value" : "key");
            return DSTRAT_E_INVALID_ARG;
        }
        if (dsp_find(descs, n_descs, params[j].key) < 0) {
            char keys[512];
            list_keys(descs, n_descs, keys, sizeof keys);
            set_err(err, cap, "unknown parameter '%s' (known: %s)", params[j].key, keys);
            return DSTRAT_E_INVALID_ARG;
        }
        for (uint32_t k = 0; k < j; k++)
            if (!strcmp(params[k].key, params[j].key)) {
                set_err(err, cap, "parameter '%s' given twice", params[j].key);
                return DSTRAT_E_INVALID_ARG;
            }
    }
    for (uint32_t i = 0; i < n_descs; i++) {
        const char *text = NULL;
        for (uint32_t j = 0; j < n_params; j++)
            if (!strcmp(params[j].key, descs[i].key)) text = params[j].value;
        int is_default = text == NULL;
        if (!text) text = descs[i].default_value;
        if (!text) {
            set_err(err, cap, "missing required parameter '%s' (%s)", descs[i].key,
                    type_name(descs[i].type));
            return DSTRAT_E_INVALID_ARG;
        }
        dsp_value_t *o = out ? &out[i] : NULL;
        int rc = dsp_parse_one(&descs[i], text, o, err, cap);
        if (rc) return rc;
        if (o) o->is_default = (uint32_t) is_default;
    }
    return 0;
}

int dsp_check_descs(const dstrat_param_desc_t *descs, uint32_t n_descs, char *err, size_t cap) {
    if (n_descs && !descs) {
        set_err(err, cap, "descriptor table is NULL");
        return DSTRAT_E_INVALID_ARG;
    }
    for (uint32_t i = 0; i < n_descs; i++) {
        const dstrat_param_desc_t *d = &descs[i];
        if (!d->key || !d->key[0]) {
            set_err(err, cap, "descriptor #%u has no key", i);
            return DSTRAT_E_INVALID_ARG;
        }
        if (dsp_find(descs, n_descs, d->key) != (int32_t) i) {
            set_err(err, cap, "descriptor key '%s' appears twice", d->key);
            return DSTRAT_E_INVALID_ARG;
        }
        if (d->type > DSTRAT_PARAM_PATH) {
            set_err(err, cap, "parameter '%s': unknown type %u", d->key, d->type);
            return DSTRAT_E_INVALID_ARG;
        }
        if ((d->type == DSTRAT_PARAM_INT || d->type == DSTRAT_PARAM_FLOAT) &&
            !(d->min_value <= d->max_value)) {
            set_err(err, cap, "parameter '%s': min %g > max %g", d->key, d->min_value, d->max_value);
            return DSTRAT_E_INVALID_ARG;
        }
        if (d->default_value && dsp_parse_one(d, d->default_value, NULL, err, cap))
            return DSTRAT_E_INVALID_ARG;
    }
    return 0;
}

static const dsp_value_t *get(const dstrat_param_desc_t *descs, uint32_t n_descs,
                              const dsp_value_t *vals, const char *key, uint32_t type) {
    int32_t i = dsp_find(descs, n_descs, key);
    if (i < 0 || !vals || descs[i].type != type) return NULL;
    return &vals[i];
}

int64_t dsp_get_int(const dstrat_param_desc_t *descs, uint32_t n_descs, const dsp_value_t *vals,
                    const char *key) {
    const dsp_value_t *v = get(descs, n_descs, vals, key, DSTRAT_PARAM_INT);
    return v ? v->i : 0;
}

double dsp_get_float(const dstrat_param_desc_t *descs, uint32_t n_descs, const dsp_value_t *vals,
                     const char *key) {
    const dsp_value_t *v = get(descs, n_descs, vals, key, DSTRAT_PARAM_FLOAT);
    return v ? v->f : 0.0;
}

int32_t dsp_get_bool(const dstrat_param_desc_t *descs, uint32_t n_descs, const dsp_value_t *vals,
                     const char *key) {
    const dsp_value_t *v = get(descs, n_descs, vals, key, DSTRAT_PARAM_BOOL);
    return v ? v->b : 0;
}

const char *dsp_get_str(const dstrat_param_desc_t *descs, uint32_t n_descs,
                        const dsp_value_t *vals, const char *key) {
    const dsp_value_t *v = get(descs, n_descs, vals, key, DSTRAT_PARAM_STRING);
    if (!v) v = get(descs, n_descs, vals, key, DSTRAT_PARAM_PATH);
    return v ? v->s : "";
}
