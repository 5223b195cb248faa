/* Tests of the CPU kernels against straightforward double-precision references written here
 * from the format descriptions (gguf-llama-facts.md §2), not from the kernels' code. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kernels.h"
#include "kn_internal.h"   /* activation quantizer: SIMD and scalar must agree bit for bit */

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float rnd_f(float lo, float hi) { return lo + (hi - lo) * (float)(rnd_u32() % 1000001) / 1e6f; }

/* independent fp16 decoder: value = (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024 */
static double ref_h2d(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m / 1024.0, -14) : e == 31 ? (m ? NAN : INFINITY)
                                               : ldexp(1.0 + m / 1024.0, e - 15);
    return s ? -v : v;
}

static const char *isa_names[] = {"scalar", "avx2", "avx512vnni"};

typedef struct { uint32_t type; int blk, bytes; } tinfo_t;
static const tinfo_t all_types[] = {
    {GGML_TYPE_F32, 1, 4}, {GGML_TYPE_F16, 1, 2}, {GGML_TYPE_BF16, 1, 2},
    {GGML_TYPE_Q4_0, 32, 18}, {GGML_TYPE_Q4_1, 32, 20}, {GGML_TYPE_Q5_0, 32, 22},
    {GGML_TYPE_Q5_1, 32, 24}, {GGML_TYPE_Q8_0, 32, 34}, {GGML_TYPE_Q4_K, 256, 144},
    {GGML_TYPE_Q5_K, 256, 176}, {GGML_TYPE_Q6_K, 256, 210},
};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

static void put_h(uint8_t *p, float v)
{
    uint16_t h = kn_f32_to_fp16(v);
    memcpy(p, &h, 2);
}

/* random row: random bytes, with every fp16 scale field set to a sane value */
static void random_row(uint32_t type, uint8_t *row, int64_t cols)
{
    size_t n = kn_row_bytes(type, cols);
    for (size_t i = 0; i < n; i++) row[i] = (uint8_t)rnd_u32();
    switch (type) {
    case GGML_TYPE_F32:
        for (int64_t i = 0; i < cols; i++) { float v = rnd_f(-1, 1); memcpy(row + 4 * i, &v, 4); }
        break;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < cols; i++) put_h(row + 2 * i, rnd_f(-1, 1));
        break;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < cols; i++) {
            uint16_t b = kn_f32_to_bf16(rnd_f(-1, 1));
            memcpy(row + 2 * i, &b, 2);
        }
        break;
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0: {
        int bytes = type == GGML_TYPE_Q4_0 ? 18 : type == GGML_TYPE_Q5_0 ? 22 : 34;
        for (int64_t b = 0; b < cols / 32; b++) put_h(row + b * bytes, rnd_f(-0.1f, 0.1f));
        break;
    }
    case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: {
        int bytes = type == GGML_TYPE_Q4_1 ? 20 : 24;
        for (int64_t b = 0; b < cols / 32; b++) {
            put_h(row + b * bytes, rnd_f(0, 0.1f));
            put_h(row + b * bytes + 2, rnd_f(-1, 0));
        }
        break;
    }
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: {
        int bytes = type == GGML_TYPE_Q4_K ? 144 : 176;
        for (int64_t b = 0; b < cols / 256; b++) {
            put_h(row + b * bytes, rnd_f(0, 0.01f));
            put_h(row + b * bytes + 2, rnd_f(0, 0.01f));
        }
        break;
    }
    case GGML_TYPE_Q6_K:
        for (int64_t b = 0; b < cols / 256; b++) put_h(row + b * 210 + 208, rnd_f(-0.01f, 0.01f));
        break;
    default: break;
    }
}

/* ---- reference dequantizers, by element index ---- */

static int k4_scale(const uint8_t *q, int j, int want_min)
{
    if (j < 4) return want_min ? q[j + 4] & 63 : q[j] & 63;
    return want_min ? (q[j + 4] >> 4) | ((q[j] >> 6) << 4) : (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
}

static double ref_elem(uint32_t type, const uint8_t *row, int64_t i)
{
    switch (type) {
    case GGML_TYPE_F32: { float v; memcpy(&v, row + 4 * i, 4); return v; }
    case GGML_TYPE_F16: { uint16_t h; memcpy(&h, row + 2 * i, 2); return ref_h2d(h); }
    case GGML_TYPE_BF16: {
        uint16_t h; memcpy(&h, row + 2 * i, 2);
        uint32_t u = (uint32_t)h << 16; float v; memcpy(&v, &u, 4); return v;
    }
    default: break;
    }
    const uint8_t *b;
    int j;
    if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K || type == GGML_TYPE_Q6_K) {
        int bytes = type == GGML_TYPE_Q4_K ? 144 : type == GGML_TYPE_Q5_K ? 176 : 210;
        b = row + (i / 256) * bytes;
        j = (int)(i % 256);
    } else {
        int bytes = type == GGML_TYPE_Q4_0 ? 18 : type == GGML_TYPE_Q4_1 ? 20 :
                    type == GGML_TYPE_Q5_0 ? 22 : type == GGML_TYPE_Q5_1 ? 24 : 34;
        b = row + (i / 32) * bytes;
        j = (int)(i % 32);
    }
    uint16_t h0, h1;
    memcpy(&h0, b, 2);
    memcpy(&h1, b + 2, 2);
    switch (type) {
    case GGML_TYPE_Q8_0: return ref_h2d(h0) * (int8_t)b[2 + j];
    case GGML_TYPE_Q4_0: {
        int q = j < 16 ? b[2 + j] & 15 : b[2 + j - 16] >> 4;
        return ref_h2d(h0) * (q - 8);
    }
    case GGML_TYPE_Q4_1: {
        int q = j < 16 ? b[4 + j] & 15 : b[4 + j - 16] >> 4;
        return ref_h2d(h0) * q + ref_h2d(h1);
    }
    case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: {
        int off = type == GGML_TYPE_Q5_0 ? 2 : 4;
        uint32_t qh = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 |
                      (uint32_t)b[off + 3] << 24;
        const uint8_t *qs = b + off + 4;
        int q = (j < 16 ? qs[j] & 15 : qs[j - 16] >> 4) | (int)((qh >> j) & 1) << 4;
        return type == GGML_TYPE_Q5_0 ? ref_h2d(h0) * (q - 16) : ref_h2d(h0) * q + ref_h2d(h1);
    }
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: {
        int c = j / 64, hi = (j % 64) >= 32, l = j % 32, sub = 2 * c + hi;
        const uint8_t *qs = b + (type == GGML_TYPE_Q4_K ? 16 : 48) + 32 * c;
        int q = hi ? qs[l] >> 4 : qs[l] & 15;
        if (type == GGML_TYPE_Q5_K && ((b[16 + l] >> sub) & 1)) q += 16;
        return ref_h2d(h0) * k4_scale(b + 4, sub, 0) * q - ref_h2d(h1) * k4_scale(b + 4, sub, 1);
    }
    case GGML_TYPE_Q6_K: {
        int h = j / 128, r = j % 128, part = r / 32, l = r % 32;
        const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        const int8_t *sc = (const int8_t *)(b + 192) + 8 * h;
        int lowbits = part == 0 ? ql[l] & 15 : part == 1 ? ql[l + 32] & 15 :
                      part == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
        int q = (lowbits | ((qh[l] >> (2 * part)) & 3) << 4) - 32;
        uint16_t d; memcpy(&d, b + 208, 2);
        return ref_h2d(d) * sc[l / 16 + 2 * part] * q;
    }
    default: return NAN;
    }
}

/* ---- fp16 / bf16 ---- */

Test(convert, fp16_all_halves_round_trip)
{
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 10) & 31) == 31 && (h & 1023)) continue;   /* NaN payloads */
        float f = kn_fp16_to_f32((uint16_t)h);
        cr_assert_eq((double)f, ref_h2d((uint16_t)h), "half %04x", h);
        cr_assert_eq(kn_f32_to_fp16(f), h, "half %04x", h);
    }
}

/* nearest representable by exhaustive neighbour comparison, ties to even mantissa */
Test(convert, fp16_and_bf16_round_to_nearest_even)
{
    for (int it = 0; it < 200000; it++) {
        float f = ldexpf(rnd_f(-1, 1), (int)(rnd_u32() % 40) - 26);
        if (it % 7 == 0) {  /* exact ties between two halves */
            uint16_t h = (uint16_t)(rnd_u32() % 0x7bff);
            f = (float)((ref_h2d(h) + ref_h2d((uint16_t)(h + 1))) / 2);
        }
        uint16_t h = kn_f32_to_fp16(f);
        double e = fabs(ref_h2d(h) - f);
        double e_up = fabs(ref_h2d((uint16_t)(h + 1)) - f), e_dn = fabs(ref_h2d((uint16_t)(h - 1)) - f);
        if ((h & 0x7fff) != 0x7c00 && (h & 0x7fff) != 0) {
            cr_assert(e <= e_up && e <= e_dn, "f=%a h=%04x", (double)f, h);
            if (e == e_up || e == e_dn) cr_assert_eq(h & 1, 0, "tie not even: f=%a", (double)f);
        }
        uint16_t b = kn_f32_to_bf16(f);
        double bv = kn_bf16_to_f32(b), bu = kn_bf16_to_f32((uint16_t)(b + 1)),
               bd = kn_bf16_to_f32((uint16_t)(b - 1));
        double eb = fabs(bv - f);
        cr_assert(eb <= fabs(bu - f) && eb <= fabs(bd - f), "bf16 f=%a", (double)f);
        if (eb == fabs(bu - f) || eb == fabs(bd - f)) cr_assert_eq(b & 1, 0);
    }
    cr_assert_eq(kn_f32_to_fp16(65520.0f), 0x7c00);
    cr_assert_eq(kn_f32_to_fp16(65519.0f), 0x7bff);
    cr_assert(isnan(kn_bf16_to_f32(kn_f32_to_bf16(NAN))));
}

/* ---- formats ---- */

Test(format, row_bytes)
{
    cr_assert_eq(kn_row_bytes(GGML_TYPE_Q4_1, 576), 18 * 20);
    cr_assert_eq(kn_row_bytes(GGML_TYPE_Q6_K, 512), 2 * 210);
    cr_assert_eq(kn_row_bytes(GGML_TYPE_F16, 7), 14);
    cr_assert_eq(kn_row_bytes(GGML_TYPE_Q4_0, 33), 0);
    cr_assert_eq(kn_row_bytes(GGML_TYPE_Q4_K, 288), 0);
    cr_assert_eq(kn_row_bytes(GGML_TYPE_Q8_K, 256), 0);   /* activation type, not a weight */
    cr_assert(!kn_type_supported(99));
}

Test(format, dequant_matches_reference)
{
    for (size_t k = 0; k < N_TYPES; k++) {
        uint32_t type = all_types[k].type;
        int64_t cols = all_types[k].blk == 256 ? 768 : 96;
        uint8_t *row = malloc(kn_row_bytes(type, cols));
        float *out = malloc(sizeof(float) * cols);
        for (int rep = 0; rep < 20; rep++) {
            random_row(type, row, cols);
            kn_dequant_row(type, row, out, cols);
            for (int64_t i = 0; i < cols; i++) {
                double r = ref_elem(type, row, i);
                cr_assert(fabs(out[i] - r) <= 1e-6 * fabs(r) + 1e-9, "type %u elem %ld: %g vs %g",
                          type, (long)i, (double)out[i], r);
            }
        }
        free(row);
        free(out);
    }
}

Test(format, quant_round_trip_error_bounds)
{
    const uint32_t types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                              GGML_TYPE_Q4_0, GGML_TYPE_Q4_1};
    const int64_t cols = 256;
    float x[256], y[256];
    uint8_t row[1024];
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        for (int rep = 0; rep < 50; rep++) {
            float scale = ldexpf(1.0f, (int)(rnd_u32() % 10) - 5);
            for (int i = 0; i < cols; i++) x[i] = rnd_f(-1, 1) * scale + (rep % 3 == 0 ? scale : 0);
            cr_assert_eq(kn_quant_row(types[k], x, row, cols), 0);
            kn_dequant_row(types[k], row, y, cols);
            for (int b = 0; b < cols; b += 32) {
                float mn = x[b], mx = x[b], amax = 0;
                for (int i = b; i < b + 32; i++) {
                    mn = fminf(mn, x[i]); mx = fmaxf(mx, x[i]); amax = fmaxf(amax, fabsf(x[i]));
                }
                for (int i = b; i < b + 32; i++) {
                    double err = fabs((double)y[i] - x[i]), bound;
                    switch (types[k]) {
                    case GGML_TYPE_F32: bound = 0; break;
                    case GGML_TYPE_F16: bound = fabs(x[i]) * 0x1p-11; break;
                    case GGML_TYPE_BF16: bound = fabs(x[i]) * 0x1p-8; break;
                    case GGML_TYPE_Q8_0: bound = amax / 127 * 0.5 + amax * 0x1p-10; break;
                    /* the side opposite the largest magnitude clamps at 7 steps: up to one step off */
                    case GGML_TYPE_Q4_0: bound = amax / 8 * 1.01 + amax * 0x1p-8; break;
                    default: bound = (mx - mn) / 15 * 0.5 * 1.01 + (fabs(mn) + mx - mn) * 0x1p-9;
                    }
                    cr_assert(err <= bound, "type %u x=%g y=%g err=%g bound=%g", types[k],
                              (double)x[i], (double)y[i], err, bound);
                }
            }
        }
    }
    cr_assert_eq(kn_quant_row(GGML_TYPE_Q6_K, x, row, 256), -1);
}

/* ---- matmul ---- */

/* The activation operand as ggml sees it, written independently from the kernels' quantizer:
 * Q8_0/Q8_1: d = amax/127 (fp16), q = round(x / d) ties away; Q8_1 s = fp16(d * sum q);
 * Q8_K: d = max/-127 as f32, q = nearest-even(x * -127/max) capped at 127. Returns the
 * dequantized activations in xa and, for Q8_1, the per-block s. */
static int act_of(uint32_t type)   /* 0 float, 1 f16, 2 bf16, 3 q8_0, 4 q8_1, 5 q8_k */
{
    switch (type) {
    case GGML_TYPE_F32: return 0;
    case GGML_TYPE_F16: return 1;
    case GGML_TYPE_BF16: return 2;
    case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: return 4;
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: return 5;
    default: return 3;
    }
}

static void ref_act(int kind, const float *x, int64_t cols, double *xa, double *s)
{
    if (kind <= 2) {
        for (int64_t i = 0; i < cols; i++)
            xa[i] = kind == 0 ? x[i] : kind == 1 ? kn_fp16_to_f32(kn_f32_to_fp16(x[i]))
                                                 : kn_bf16_to_f32(kn_f32_to_bf16(x[i]));
        return;
    }
    int bs = kind == 5 ? 256 : 32;
    for (int64_t b = 0; b < cols; b += bs) {
        float amax = 0, max = 0;
        for (int64_t i = b; i < b + bs; i++)
            if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
        if (kind == 5) {
            if (amax == 0) { for (int64_t i = b; i < b + bs; i++) xa[i] = 0; continue; }
            float iscale = -127.0f / max;
            for (int64_t i = b; i < b + bs; i++) {
                float q = nearbyintf(iscale * x[i]);
                xa[i] = (double)fminf(q, 127.0f) * (double)(1.0f / iscale);
            }
        } else {
            /* llama.cpp's x86 quantizer: id = 127/amax, round half to even */
            float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
            double dh = ref_h2d(kn_f32_to_fp16(d));
            int sum = 0;
            for (int64_t i = b; i < b + bs; i++) {
                int q = (int)nearbyintf(x[i] * id);
                sum += q;
                xa[i] = q * dh;
            }
            if (s) s[b / 32] = ref_h2d(kn_f32_to_fp16((float)sum * d));
        }
    }
}

/* y = sum_c w[c] xa[c] in double; Q4_1/Q5_1 use the block sum s for the min term, as ggml */
static double ref_dot(uint32_t type, const uint8_t *row, int64_t cols, const double *xa,
                      const double *s, double *mag)
{
    double sum = 0, m = 0;
    for (int64_t c = 0; c < cols; c++) {
        double w = ref_elem(type, row, c);
        if (type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1) {
            uint16_t mh;
            memcpy(&mh, row + (c / 32) * (type == GGML_TYPE_Q4_1 ? 20 : 24) + 2, 2);
            w -= ref_h2d(mh);
        }
        sum += w * xa[c];
        m += fabs(w * xa[c]);
    }
    if (type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1)
        for (int64_t b = 0; b < cols / 32; b++) {
            uint16_t mh;
            memcpy(&mh, row + b * (type == GGML_TYPE_Q4_1 ? 20 : 24) + 2, 2);
            sum += ref_h2d(mh) * s[b];
            m += fabs(ref_h2d(mh) * s[b]);
        }
    *mag = m;
    return sum;
}

typedef struct { uint32_t type; int64_t rows, cols; uint8_t *w; } mat_t;

static mat_t make_mat(uint32_t type, int64_t rows, int64_t cols)
{
    mat_t m = {type, rows, cols, malloc(kn_row_bytes(type, cols) * rows)};
    for (int64_t r = 0; r < rows; r++) random_row(type, m.w + r * kn_row_bytes(type, cols), cols);
    return m;
}

static float *rand_x(int64_t n, int64_t cols)
{
    float *x = malloc(sizeof(float) * n * cols);
    for (int64_t i = 0; i < n * cols; i++) x[i] = rnd_f(-2, 2);
    return x;
}

static int64_t test_cols(uint32_t type, int variant)
{
    for (size_t k = 0; k < N_TYPES; k++)
        if (all_types[k].type == type) {
            if (all_types[k].blk == 256) return variant ? 768 : 512;
            if (all_types[k].blk == 32) return variant ? 608 : 576;   /* odd and even blocks */
            return variant ? 45 : 576;
        }
    return 0;
}

Test(matmul, matches_double_reference_every_type_and_isa)
{
    for (int isa = 0; isa < 3; isa++) {
        if (kn_force_isa(isa_names[isa]) != 0) continue;
        for (size_t k = 0; k < N_TYPES; k++)
            for (int v = 0; v < 2; v++) {
                uint32_t type = all_types[k].type;
                int64_t rows = 37, cols = test_cols(type, v), n = 3;
                mat_t m = make_mat(type, rows, cols);
                float *x = rand_x(n, cols), *y = malloc(sizeof(float) * n * rows);
                if (v) memset(x, 0, sizeof(float) * cols);    /* all-zero token */
                kn_matrix_t W = {type, rows, cols, m.w};
                cr_assert_eq(kn_matmul(&W, x, n, y, NULL, KN_MODE_EXACT), 0);
                double *xa = malloc(sizeof(double) * cols), s[64];
                size_t rb = kn_row_bytes(type, cols);
                for (int64_t t = 0; t < n; t++) {
                    ref_act(act_of(type), x + t * cols, cols, xa, s);
                    for (int64_t r = 0; r < rows; r++) {
                        double mag, ref = ref_dot(type, m.w + r * rb, cols, xa, s, &mag);
                        cr_assert(fabs(y[t * rows + r] - ref) <= 2e-6 * mag + 1e-7,
                                  "isa %s type %u cols %ld t %ld r %ld: %.9g vs %.9g (mag %g)",
                                  isa_names[isa], type, (long)cols, (long)t, (long)r,
                                  (double)y[t * rows + r], ref, mag);
                    }
                }
                free(xa); free(x); free(y); free(m.w);
            }
    }
    kn_force_isa(NULL);
}

Test(matmul, simd_paths_agree_with_scalar)
{
    for (size_t k = 0; k < N_TYPES; k++) {
        uint32_t type = all_types[k].type;
        int64_t rows = 64, cols = test_cols(type, 0), n = 5;
        mat_t m = make_mat(type, rows, cols);
        float *x = rand_x(n, cols), *ys = malloc(sizeof(float) * n * rows),
              *yv = malloc(sizeof(float) * n * rows);
        kn_matrix_t W = {type, rows, cols, m.w};
        cr_assert_eq(kn_force_isa("scalar"), 0);
        cr_assert_eq(kn_matmul(&W, x, n, ys, NULL, KN_MODE_EXACT), 0);
        for (int isa = 1; isa < 3; isa++) {
            if (kn_force_isa(isa_names[isa]) != 0) continue;
            cr_assert_eq(kn_matmul(&W, x, n, yv, NULL, KN_MODE_EXACT), 0);
            float amax = 0;
            for (int64_t i = 0; i < n * rows; i++) amax = fmaxf(amax, fabsf(ys[i]));
            for (int64_t i = 0; i < n * rows; i++)
                cr_assert(fabsf(ys[i] - yv[i]) <= 1e-5f * amax + 1e-6f * fabsf(ys[i]) * cols,
                          "type %u isa %s i %ld: %g vs %g", type, isa_names[isa], (long)i,
                          (double)ys[i], (double)yv[i]);
        }
        kn_force_isa(NULL);
        free(x); free(ys); free(yv); free(m.w);
    }
}

Test(matmul, batch_invariance_bit_exact)
{
    static const int64_t ns[] = {1, 2, 3, 7, 16, 33, 64};
    kn_pool_t *pool = kn_pool_create(2);
    cr_assert_not_null(pool);
    /* KN_MODE_LLAMA (llama.cpp's per-row order) must be batch-invariant too */
    for (int mode = KN_MODE_EXACT; mode <= KN_MODE_LLAMA; mode += KN_MODE_LLAMA - KN_MODE_EXACT)
    for (int isa = 0; isa < 3; isa++) {
        if (kn_force_isa(isa_names[isa]) != 0) continue;
        for (size_t k = 0; k < N_TYPES; k++) {
            uint32_t type = all_types[k].type;
            int64_t rows = 50, cols = test_cols(type, 1);
            mat_t m = make_mat(type, rows, cols);
            float *x = rand_x(64, cols), *y1 = malloc(sizeof(float) * 64 * rows),
                  *yb = malloc(sizeof(float) * 64 * rows);
            kn_matrix_t W = {type, rows, cols, m.w};
            for (int64_t t = 0; t < 64; t++)
                cr_assert_eq(kn_matmul(&W, x + t * cols, 1, y1 + t * rows, NULL, mode), 0);
            for (int p = 0; p < 2; p++)
                for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
                    int64_t n = ns[i];
                    cr_assert_eq(kn_matmul(&W, x, n, yb, p ? pool : NULL, mode), 0);
                    for (int64_t t = 0; t < n; t++)
                        cr_assert(memcmp(yb + t * rows, y1 + t * rows, sizeof(float) * rows) == 0,
                                  "mode %d isa %s type %u n_tok %ld pool %d: token %ld differs",
                                  mode, isa_names[isa], type, (long)n, p, (long)t);
                }
            free(x); free(y1); free(yb); free(m.w);
        }
    }
    kn_force_isa(NULL);
    kn_pool_free(pool);
}

/* The register-blocked Q4_1/Q8_0 path packs 16 blocks per group plus a tail packed across 4
 * rows: sweep every tail length (0..15 blocks), row counts around the 4-row tile, every batch
 * size up to past the 4-token tile, threads on and off. Each token of a batch must equal the
 * same token computed alone, bit for bit, with plain and prepacked weights. */
Test(matmul, batch_invariance_every_tail_and_tile_shape)
{
    static const int64_t ns[] = {1, 2, 3, 4, 5, 8, 9, 17};
    static const uint32_t types[] = {GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0};
    kn_pool_t *pool = kn_pool_create(2);
    cr_assert_not_null(pool);
    for (size_t ti = 0; ti < 3; ti++)
        for (int64_t nb = 1; nb <= 35; nb += (nb < 18 ? 1 : 17)) {
            const int64_t cols = 32 * nb, rows = 1 + (nb * 7) % 11;
            const uint32_t type = types[ti];
            mat_t m = make_mat(type, rows, cols);
            kn_matrix_t W = {type, rows, cols, m.w};
            kn_packed_t *P = kn_matrix_pack(&W);
            cr_assert_not_null(P);
            float *x = rand_x(17, cols), *y1 = malloc(sizeof(float) * 17 * rows),
                  *yb = malloc(sizeof(float) * 17 * rows);
            for (int64_t t = 0; t < 17; t++)
                cr_assert_eq(kn_matmul(&W, x + t * cols, 1, y1 + t * rows, NULL, KN_MODE_EXACT), 0);
            for (int v = 0; v < 4; v++)     /* plain / packed x no pool / pool */
                for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
                    int64_t n = ns[i];
                    kn_pool_t *pl = v & 1 ? pool : NULL;
                    int rc = v & 2 ? kn_matmul_packed(P, x, n, yb, pl, KN_MODE_EXACT)
                                   : kn_matmul(&W, x, n, yb, pl, KN_MODE_EXACT);
                    cr_assert_eq(rc, 0);
                    for (int64_t t = 0; t < n; t++)
                        cr_assert(memcmp(yb + t * rows, y1 + t * rows, sizeof(float) * rows) == 0,
                                  "type %u cols %ld rows %ld n_tok %ld variant %d: token %ld differs",
                                  type, (long)cols, (long)rows, (long)n, v, (long)t);
                }
            kn_packed_free(P);
            free(x); free(y1); free(yb); free(m.w);
        }
    kn_pool_free(pool);
}

/* Matrices bigger than the caches take other paths for small batches (unpacked weights read
 * directly, up to more tokens): their tokens must still match single-token products bit for bit. */
Test(matmul, batch_invariance_big_matrix)
{
    static const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_1};
    for (size_t ti = 0; ti < 2; ti++) {
        const int64_t rows = 7200, cols = 576;
        mat_t m = make_mat(types[ti], rows, cols);
        kn_matrix_t W = {types[ti], rows, cols, m.w};
        kn_packed_t *P = kn_matrix_pack(&W);
        cr_assert_not_null(P);
        float *x = rand_x(6, cols), *y1 = malloc(sizeof(float) * 6 * rows),
              *yb = malloc(sizeof(float) * 6 * rows);
        for (int64_t t = 0; t < 6; t++)
            cr_assert_eq(kn_matmul(&W, x + t * cols, 1, y1 + t * rows, NULL, KN_MODE_EXACT), 0);
        for (int64_t n = 1; n <= 6; n++)
            for (int v = 0; v < 2; v++) {
                cr_assert_eq(v ? kn_matmul_packed(P, x, n, yb, NULL, KN_MODE_EXACT)
                               : kn_matmul(&W, x, n, yb, NULL, KN_MODE_EXACT), 0);
                cr_assert(memcmp(yb, y1, sizeof(float) * (size_t)(n * rows)) == 0,
                          "type %u n %ld packed %d", types[ti], (long)n, v);
            }
        kn_packed_free(P);
        free(x); free(y1); free(yb); free(m.w);
    }
}

/* Prepacked weights give kn_matmul's bits on every type; the products stay within the
 * double-precision reference bound on tail-heavy shapes; a pack made for one ISA still works
 * (through the original weights) when another ISA is forced afterwards. */
Test(matmul, packed_weights_match_plain_and_reference)
{
    static const int64_t col_blocks[] = {1, 2, 15, 16, 17, 18, 31, 48};
    for (size_t k = 0; k < N_TYPES; k++)
        for (size_t c = 0; c < sizeof(col_blocks) / sizeof(col_blocks[0]); c++) {
            uint32_t type = all_types[k].type;
            int64_t cols = col_blocks[c] * 32, rows = 13, n = 6;
            if (all_types[k].blk == 256)
                cols = (col_blocks[c] % 4 + 1) * 256;
            mat_t m = make_mat(type, rows, cols);
            kn_matrix_t W = {type, rows, cols, m.w};
            kn_packed_t *P = kn_matrix_pack(&W);
            cr_assert_not_null(P);
            float *x = rand_x(n, cols), *ya = malloc(sizeof(float) * n * rows),
                  *yp = malloc(sizeof(float) * n * rows);
            cr_assert_eq(kn_matmul(&W, x, n, ya, NULL, KN_MODE_EXACT), 0);
            cr_assert_eq(kn_matmul_packed(P, x, n, yp, NULL, KN_MODE_EXACT), 0);
            cr_assert(memcmp(ya, yp, sizeof(float) * n * rows) == 0, "type %u cols %ld", type, (long)cols);
            double *xa = malloc(sizeof(double) * cols), s[64];
            size_t rb = kn_row_bytes(type, cols);
            for (int64_t t = 0; t < n; t++) {
                ref_act(act_of(type), x + t * cols, cols, xa, s);
                for (int64_t r = 0; r < rows; r++) {
                    double mag, ref = ref_dot(type, m.w + r * rb, cols, xa, s, &mag);
                    cr_assert(fabs(yp[t * rows + r] - ref) <= 2e-6 * mag + 1e-7,
                              "type %u cols %ld t %ld r %ld: %.9g vs %.9g", type, (long)cols,
                              (long)t, (long)r, (double)yp[t * rows + r], ref);
                }
            }
            cr_assert_eq(kn_force_isa("scalar"), 0);
            cr_assert_eq(kn_matmul(&W, x, n, ya, NULL, KN_MODE_EXACT), 0);
            cr_assert_eq(kn_matmul_packed(P, x, n, yp, NULL, KN_MODE_EXACT), 0);
            cr_assert(memcmp(ya, yp, sizeof(float) * n * rows) == 0, "scalar, type %u", type);
            kn_force_isa(NULL);
            kn_packed_free(P);
            free(xa); free(x); free(ya); free(yp); free(m.w);
        }
    kn_matrix_t bad = {GGML_TYPE_Q4_1, 4, 48, NULL};
    cr_assert_null(kn_matrix_pack(&bad));
    cr_assert_eq(kn_matmul_packed(NULL, NULL, 1, NULL, NULL, KN_MODE_EXACT), -1);
    kn_packed_free(NULL);
}

/* Activations quantized once feed several matrices (as Q, K and V do) with kn_matmul's bits, on
 * every ISA, plain and prepacked, through growing and shrinking batches; mismatches are refused. */
Test(matmul, quantize_once_reuse_matches_matmul)
{
    static const uint32_t types[] = {GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_F16};
    static const int64_t rows_of[3] = {40, 12, 7}, ns[] = {5, 1, 17, 3};
    kn_xq_t *q = kn_xq_create();
    cr_assert_not_null(q);
    for (int isa = 0; isa < 3; isa++) {
        if (kn_force_isa(isa_names[isa]) != 0) continue;
        for (size_t ti = 0; ti < 4; ti++) {
            const uint32_t type = types[ti];
            const int64_t cols = type == GGML_TYPE_Q4_K ? 512 : 576;
            mat_t m[3];
            kn_matrix_t W[3];
            kn_packed_t *P[3];
            for (int k = 0; k < 3; k++) {
                m[k] = make_mat(type, rows_of[k], cols);
                W[k] = (kn_matrix_t){type, rows_of[k], cols, m[k].w};
                P[k] = kn_matrix_pack(&W[k]);
                cr_assert_not_null(P[k]);
            }
            float *x = rand_x(17, cols), *ya = malloc(sizeof(float) * 17 * 40),
                  *yb = malloc(sizeof(float) * 17 * 40);
            for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
                cr_assert_eq(kn_xq_quantize(q, type, x, ns[i], cols, NULL), 0);
                for (int k = 0; k < 3; k++) {
                    cr_assert_eq(kn_matmul(&W[k], x, ns[i], ya, NULL, KN_MODE_EXACT), 0);
                    size_t bytes = sizeof(float) * (size_t)(ns[i] * rows_of[k]);
                    cr_assert_eq(kn_matmul_xq(&W[k], q, yb, NULL, KN_MODE_EXACT), 0);
                    cr_assert(memcmp(ya, yb, bytes) == 0, "isa %s type %u n %ld matrix %d",
                              isa_names[isa], type, (long)ns[i], k);
                    memset(yb, 0, bytes);
                    cr_assert_eq(kn_matmul_packed_xq(P[k], q, yb, NULL, KN_MODE_EXACT), 0);
                    cr_assert(memcmp(ya, yb, bytes) == 0, "packed: isa %s type %u n %ld matrix %d",
                              isa_names[isa], type, (long)ns[i], k);
                }
            }
            /* wrong width, wrong activation format */
            kn_matrix_t narrow = {type, 4, cols / 2, m[0].w};
            cr_assert_eq(kn_matmul_xq(&narrow, q, yb, NULL, KN_MODE_EXACT), -1);
            kn_matrix_t other = {type == GGML_TYPE_Q8_0 ? GGML_TYPE_Q4_1 : GGML_TYPE_Q8_0, 4, cols, m[0].w};
            if (kn_act_kind_of(other.type) != kn_act_kind_of(type))
                cr_assert_eq(kn_matmul_xq(&other, q, yb, NULL, KN_MODE_EXACT), -1);
            for (int k = 0; k < 3; k++) {
                kn_packed_free(P[k]);
                free(m[k].w);
            }
            free(x); free(ya); free(yb);
        }
    }
    kn_force_isa(NULL);
    cr_assert_eq(kn_xq_quantize(q, GGML_TYPE_Q4_1, NULL, 1, 48, NULL), -1);
    kn_xq_free(q);
    kn_xq_free(NULL);
}

Test(matmul, rejects_bad_shapes)
{
    float x[64] = {0}, y[4];
    uint8_t w[1024] = {0};
    kn_matrix_t W = {GGML_TYPE_Q4_1, 1, 48, w};
    cr_assert_eq(kn_matmul(&W, x, 1, y, NULL, KN_MODE_EXACT), -1);
    W = (kn_matrix_t){GGML_TYPE_Q8_K, 1, 256, w};
    cr_assert_eq(kn_matmul(&W, x, 1, y, NULL, KN_MODE_EXACT), -1);
}

/* Every ISA's activation quantizer produces the reference operands of llama.cpp's x86 path:
 * q = nearbyint(x * 127/amax) (ties to even), ties included (x * id landing exactly on k + 0.5). */
Test(matmul, activation_quantizer_identical_on_every_isa)
{
    const int64_t cols = 256;
    float x[256];
    for (int rep = 0; rep < 300; rep++) {
        for (int i = 0; i < cols; i++) x[i] = rnd_f(-3, 3);
        if (rep % 2) {   /* force exact ties: amax 127 gives id = 1 */
            x[0] = 127.0f;
            for (int i = 1; i < cols; i++) x[i] = (float)((int)(rnd_u32() % 254) - 127) + 0.5f * (i % 2);
        }
        static uint8_t ref_buf[8192], buf[8192];
        kn_act_t ref, got;
        for (int kind = KN_ACT_Q8_0; kind <= KN_ACT_Q8_1; kind++) {
            cr_assert_eq(kn_force_isa("scalar"), 0);
            kn_act_quantize(kind, 8, x, cols, ref_buf, &ref);
            for (int b = 0; b < cols / 32; b++)
                for (int j = 0; j < 32; j++) {
                    float amax = 0;
                    for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[32 * b + k]));
                    float id = amax != 0 ? 127.0f / amax : 0.0f;
                    cr_assert_eq(ref.qs[32 * b + j], (int8_t)nearbyintf(x[32 * b + j] * id));
                }
            for (int isa = 1; isa < 3; isa++) {
                if (kn_force_isa(isa_names[isa]) != 0) continue;
                kn_act_quantize(kind, 8, x, cols, buf, &got);
                cr_assert(memcmp(ref.qs, got.qs, cols) == 0, "isa %s kind %d", isa_names[isa], kind);
                cr_assert(memcmp(ref.d, got.d, cols / 32 * 4) == 0);
                cr_assert(memcmp(ref.s, got.s, cols / 32 * 4) == 0);
                cr_assert(memcmp(ref.c4, got.c4, cols / 4 * 4) == 0);
            }
        }
    }
    kn_force_isa(NULL);
}

/* ---- dispatch and pool ---- */

Test(dispatch, force_isa)
{
    cr_assert_eq(kn_force_isa("scalar"), 0);
    cr_assert_str_eq(kn_isa_name(), "scalar");
    cr_assert_eq(kn_force_isa("nonsense"), -1);
    cr_assert_eq(kn_force_isa(NULL), 0);
    const char *best = kn_isa_name();
    cr_assert(strcmp(best, "scalar") == 0 || strcmp(best, "avx2") == 0 ||
              strcmp(best, "avx512vnni") == 0);
}

static void count_task(void *ctx, int64_t i)
{
    int *hits = ctx;
    __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

Test(pool, runs_every_task_once)
{
    static int hits[1000];
    for (int threads = 0; threads <= 3; threads++) {
        kn_pool_t *p = threads ? kn_pool_create(threads) : NULL;
        cr_assert_eq(kn_pool_size(p), threads ? threads : 1);
        for (int rep = 0; rep < 200; rep++) {
            int n = 1 + rep * 5 % 1000;
            memset(hits, 0, sizeof(hits));
            kn_pool_run(p, count_task, hits, n);
            for (int i = 0; i < 1000; i++)
                cr_assert_eq(hits[i], i < n ? 1 : 0, "threads %d n %d task %d", threads, n, i);
        }
        kn_pool_free(p);
    }
}

