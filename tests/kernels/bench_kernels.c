/* bench_kernels - time kn_matmul on the SmolLM2-135M shapes with synthetic random weights.
 * Usage: bench_kernels [seconds_per_case (default 0.05)] [isa|best] [type filter] [shape filter]
 *                      [n_tok filter]      e.g. bench_kernels 0.1 best Q4_1 576x576 16
 * Prints time per call for n_tok = 1..64 and cost(n)/cost(1), with 1 and 2 threads, for kn_matmul
 * and kn_matmul_packed. Build with -DBENCH_NO_PACKED to time an older library without the packed
 * API. Reports the best of interleaved timed rounds (the machine is shared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf.h"
#include "kernels.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t rng = 12345;
static float rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* random weights: quantize random floats where we have a quantizer, random bytes otherwise
 * (with the Q6_K scale d kept small and finite) */
static void *make_weights(uint32_t type, int64_t rows, int64_t cols)
{
    size_t rb = kn_row_bytes(type, cols);
    uint8_t *w = malloc(rb * rows);
    float *tmp = malloc(sizeof(float) * cols);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) tmp[c] = rnd();
        if (kn_quant_row(type, tmp, w + r * rb, cols) != 0) {
            for (size_t i = 0; i < rb; i++) w[r * rb + i] = (uint8_t)(rnd() * 127);
            if (type == GGML_TYPE_Q6_K)
                for (int64_t b = 0; b < cols / 256; b++) {
                    uint16_t h = kn_f32_to_fp16(0.001f);
                    memcpy(w + r * rb + b * 210 + 208, &h, 2);
                }
        }
    }
    free(tmp);
    return w;
}

/* best time per call of a few interleaved variants: rounds alternate between them so that load
 * from other jobs (the machine is shared) hits all of them alike; the minimum is kept */
enum { V_PLAIN, V_PACKED, N_VARIANTS };
#ifdef BENCH_NO_PACKED
typedef void kn_packed_t;
#endif

static double one_batch(const kn_matrix_t *W, const kn_packed_t *P, const float *X, int64_t n,
                        float *Y, kn_pool_t *pool, double min_s, int v)
{
    int iters = 0;
    double t0 = now_s(), t;
    do {
#ifndef BENCH_NO_PACKED
        if (v == V_PACKED)
            kn_matmul_packed(P, X, n, Y, pool, KN_MODE_EXACT);
        else
#endif
            kn_matmul(W, X, n, Y, pool, KN_MODE_EXACT);
        (void)P;
        iters++;
        t = now_s() - t0;
    } while (t < min_s);
    return t / iters;
}

int main(int argc, char **argv)
{
    double min_s = argc > 1 ? atof(argv[1]) : 0.05;
    const char *only = argc > 3 ? argv[3] : NULL;
    const char *only_shape = argc > 4 && strcmp(argv[4], "all") != 0 ? argv[4] : NULL;
    const int64_t only_n = argc > 5 ? atol(argv[5]) : 0;
    if (argc > 2 && strcmp(argv[2], "best") != 0 && kn_force_isa(argv[2]) != 0) {
        fprintf(stderr, "bench_kernels: this CPU cannot run isa %s\n", argv[2]);
        return 1;
    }
    static const int64_t shapes[][2] = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
    static const uint32_t types[] = {GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, GGML_TYPE_Q6_K};
    static const char *tnames[] = {"Q4_1", "Q8_0", "Q6_K"};
    static const int64_t ntoks[] = {1, 2, 4, 8, 16, 32, 64};
    enum { N_NTOK = sizeof(ntoks) / sizeof(ntoks[0]) };
#ifdef BENCH_NO_PACKED
    const int n_var = 1;
#else
    const int n_var = N_VARIANTS;
#endif
    printf("isa %s; rows x cols; us/call (best of interleaved rounds), [cost(n)/cost(1)]; "
           "plain = kn_matmul, packed = kn_matmul_packed\n", kn_isa_name());
    float *X = malloc(sizeof(float) * 64 * 1536), *Y = malloc(sizeof(float) * 64 * 49152);
    for (int i = 0; i < 64 * 1536; i++) X[i] = rnd();
    kn_pool_t *pool2 = kn_pool_create(2);
    for (int ti = 0; ti < 3; ti++)
        for (int si = 0; si < 5; si++) {
            int64_t rows = shapes[si][0], cols = shapes[si][1];
            char shape[32];
            snprintf(shape, sizeof(shape), "%ldx%ld", (long)rows, (long)cols);
            if ((only && strcmp(only, tnames[ti]) != 0) || (only_shape && strcmp(only_shape, shape) != 0))
                continue;
            if (kn_row_bytes(types[ti], cols) == 0) {
                printf("%-4s %-10s n/a (cols not a multiple of the block)\n", tnames[ti], shape);
                continue;
            }
            void *w = make_weights(types[ti], rows, cols);
            kn_matrix_t W = {types[ti], rows, cols, w};
            kn_packed_t *P = NULL;
#ifndef BENCH_NO_PACKED
            P = kn_matrix_pack(&W);
#endif
            for (int th = 1; th <= 2; th++) {
                kn_pool_t *pool = th == 1 ? NULL : pool2;
                double best[N_VARIANTS][N_NTOK];
                for (int v = 0; v < N_VARIANTS; v++)
                    for (int k = 0; k < N_NTOK; k++)
                        best[v][k] = 1e30;
                /* many short rounds: the best one most likely ran without being preempted */
                for (int rep = 0; rep < 15; rep++)
                    for (int k = 0; k < N_NTOK; k++)
                        for (int v = 0; v < n_var; v++) {
                            if (only_n && ntoks[k] != only_n && ntoks[k] != 1)
                                continue;
                            double t = one_batch(&W, P, X, ntoks[k], Y, pool, min_s / 15, v);
                            if (t < best[v][k]) best[v][k] = t;
                        }
                for (int v = 0; v < n_var; v++) {
                    printf("%-4s %-10s %dT %-6s", tnames[ti], shape, th, v ? "packed" : "plain");
                    for (int k = 0; k < N_NTOK; k++)
                        if (!only_n || ntoks[k] == only_n || ntoks[k] == 1)
                            printf(" n%-2ld %8.1f [%5.2f]", (long)ntoks[k], best[v][k] * 1e6,
                               best[v][k] / best[v][0]);
                    printf("\n");
                }
                fflush(stdout);
            }
#ifndef BENCH_NO_PACKED
            kn_packed_free(P);
#endif
            free(w);
        }
    kn_pool_free(pool2);
    free(X);
    free(Y);
    return 0;
}
