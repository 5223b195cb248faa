/* bench_kernels - time kn_matmul on the SmolLM2-135M shapes with synthetic random weights.
 * Usage: bench_kernels [seconds_per_case (default 0.05)] [isa|best] [type name filter]
 * Prints time per call for n_tok = 1, 4, 16, 32, 64, GFLOP/s and cost(n)/cost(1), with 1 and 2
 * threads. Reports the best of several timed batches (the machine is shared). */
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

static double time_call(const kn_matrix_t *W, const float *X, int64_t n, float *Y,
                        kn_pool_t *pool, double min_s)
{
    double best = 1e30;
    /* many short batches: the best one most likely ran without being preempted */
    for (int rep = 0; rep < 40; rep++) {
        int iters = 0;
        double t0 = now_s(), t;
        do {
            kn_matmul(W, X, n, Y, pool, KN_MODE_EXACT);
            iters++;
            t = now_s() - t0;
        } while (t < min_s / 40);
        if (t / iters < best) best = t / iters;
    }
    return best;
}

int main(int argc, char **argv)
{
    double min_s = argc > 1 ? atof(argv[1]) : 0.05;
    const char *only = argc > 3 ? argv[3] : NULL;
    if (argc > 2 && strcmp(argv[2], "best") != 0 && kn_force_isa(argv[2]) != 0) {
        fprintf(stderr, "bench_kernels: this CPU cannot run isa %s\n", argv[2]);
        return 1;
    }
    static const int64_t shapes[][2] = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
    static const uint32_t types[] = {GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, GGML_TYPE_Q6_K};
    static const char *tnames[] = {"Q4_1", "Q8_0", "Q6_K"};
    static const int64_t ntoks[] = {1, 4, 16, 32, 64};
    printf("isa %s; rows x cols; us/call, GFLOP/s, cost(n)/cost(1)\n", kn_isa_name());
    float *X = malloc(sizeof(float) * 64 * 1536), *Y = malloc(sizeof(float) * 64 * 49152);
    for (int i = 0; i < 64 * 1536; i++) X[i] = rnd();
    kn_pool_t *pool2 = kn_pool_create(2);
    for (int ti = 0; ti < 3; ti++)
        for (int si = 0; si < 5; si++) {
            int64_t rows = shapes[si][0], cols = shapes[si][1];
            if (only && strcmp(only, tnames[ti]) != 0)
                continue;
            if (kn_row_bytes(types[ti], cols) == 0) {
                printf("%-4s %5ldx%-4ld n/a (cols not a multiple of the block)\n", tnames[ti],
                       (long)rows, (long)cols);
                continue;
            }
            void *w = make_weights(types[ti], rows, cols);
            kn_matrix_t W = {types[ti], rows, cols, w};
            for (int th = 1; th <= 2; th++) {
                kn_pool_t *pool = th == 1 ? NULL : pool2;
                printf("%-4s %5ldx%-4ld %dT:", tnames[ti], (long)rows, (long)cols, th);
                double t1 = 0;
                for (int k = 0; k < 5; k++) {
                    double t = time_call(&W, X, ntoks[k], Y, pool, min_s);
                    if (k == 0) t1 = t;
                    printf("  n%-2ld %8.1fus %6.1fGF x%5.2f", (long)ntoks[k], t * 1e6,
                           2.0 * rows * cols * ntoks[k] / t * 1e-9, t / t1);
                }
                printf("\n");
                fflush(stdout);
            }
            free(w);
        }
    kn_pool_free(pool2);
    free(X);
    free(Y);
    return 0;
}
