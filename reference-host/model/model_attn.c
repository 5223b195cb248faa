/* model_attn.c - attention of one (batch row, query head) pair over the committed rows and the
 * row's ancestors in the batch.
 *
 * Compiled twice on x86-64: as is, and with -mavx2 -DMODEL_ATTN_AVX2 (symbol suffix _avx2); the
 * context picks one at creation. Both evaluate exactly the same float operations in the same
 * order (8-lane vector code, no FMA), so the choice never changes a result.
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

#ifdef MODEL_ATTN_AVX2
#define ATTN_FN llm_attention_task_avx2
#else
#define ATTN_FN llm_attention_task
#endif

/* 8-float vectors (GCC/clang vector extension). Vectors never cross a function boundary, so the
 * baseline build (two SSE registers per vector) has no ABI questions. */
typedef float v8f __attribute__((vector_size(32)));

/* dot product with 8 partial sums, combined in a fixed tree */
static inline float dot_f32(const float *a, const float *b, uint32_t n)
{
    v8f acc = { 0 };
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f x, y;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y += a * x over n floats */
static inline void axpy_f32(float *y, float a, const float *x, uint32_t n)
{
    const v8f av = { a, a, a, a, a, a, a, a };
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f vy, vx;
        memcpy(&vy, y + i, sizeof vy);
        memcpy(&vx, x + i, sizeof vx);
        vy += av * vx;
        memcpy(y + i, &vy, sizeof vy);
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* Task t = (row i, head h). Keys in position order: committed slots 0..n_past-1, then the slots
 * n_past + anc[a] of the row's ancestors (itself last); masked rows are never touched. Softmax:
 * max, exp, sum in double, then the weighted sum of V rows in the same key order. */
void ATTN_FN(void *arg, int64_t t)
{
    llm_ctx_t *c = arg;
    const llm_hparams_t *hp = &c->m->hp;
    const uint32_t hd = hp->head_dim, kvd = c->kv_dim;
    const uint32_t i = (uint32_t)(t / hp->n_head), h = (uint32_t)(t % hp->n_head);
    const uint32_t kvh = h / (hp->n_head / hp->n_head_kv);
    const size_t layer_off = (size_t)c->cur_layer * c->n_ctx * kvd + (size_t)kvh * hd;
    const float *K = c->k_cache + layer_off, *V = c->v_cache + layer_off;
    const float *q = c->q + (size_t)i * c->q_dim + (size_t)h * hd;
    float *out = c->att + (size_t)i * c->q_dim + (size_t)h * hd;
    float *sc = c->scores + (size_t)t * c->n_ctx;
    const uint32_t r = c->base + i;   /* scratch id of this row */
    const uint32_t n_past = c->n_past, n_anc = c->anc_len[r];
    const int32_t *anc = c->anc + (size_t)r * c->max_batch;
    const float scale = 1.0f / sqrtf((float)hd);

    float mx = -INFINITY;
    for (uint32_t j = 0; j < n_past; j++) {
        const float s = dot_f32(q, K + (size_t)j * kvd, hd) * scale;
        sc[j] = s;
        mx = s > mx ? s : mx;
    }
    for (uint32_t a = 0; a < n_anc; a++) {
        const float s = dot_f32(q, K + ((size_t)n_past + (size_t)anc[a]) * kvd, hd) * scale;
        sc[n_past + a] = s;
        mx = s > mx ? s : mx;
    }
    const uint32_t n_keys = n_past + n_anc;
    double sum = 0.0;
    for (uint32_t j = 0; j < n_keys; j++) {
        const float e = expf(sc[j] - mx);
        sc[j] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);

    memset(out, 0, hd * sizeof *out);
    for (uint32_t j = 0; j < n_past; j++)
        axpy_f32(out, sc[j] * inv, V + (size_t)j * kvd, hd);
    for (uint32_t a = 0; a < n_anc; a++)
        axpy_f32(out, sc[n_past + a] * inv, V + ((size_t)n_past + (size_t)anc[a]) * kvd, hd);
}
