/* feature_head_internal.h - the head's weights, shared by the loader and the runtime. */
#ifndef FEATURE_HEAD_INTERNAL_H
#define FEATURE_HEAD_INTERNAL_H

#include "feature_head.h"
#include "kernels.h"

#define FH_KEY "dstrat_eagle3."

struct fh_head {
    fh_hparams_t hp;
    kn_matrix_t fc;                     /* 3h -> h */
    kn_matrix_t wq, wk, wv;             /* 2h -> q / kv dims */
    kn_matrix_t wo;                     /* q dims -> h */
    kn_matrix_t w_gate, w_up, w_down;   /* SwiGLU MLP */
    kn_matrix_t w_out;                  /* h -> draft vocab */
    kn_matrix_t embd;                   /* the target's token_embd (frozen, borrowed) */
    float *norm_emb, *norm_feat, *norm_ffn, *norm_out;
    int32_t *d2t;
    uint32_t d2t_by_frequency;          /* d2t_order = "frequency": rows most frequent first */
    void *owned[16];                    /* requantized matrices (fh_head_requantize) */
    uint32_t n_owned;

    /* the compute form (fh_head_prepare, redone after every re-encoding): Q/K/V and gate/up
     * stacked into one matrix each when their types agree (one product per group: one pool job,
     * one activation quantisation), and every matrix the draft call multiplies by packed for the
     * fastest kernel of this CPU (kn_matrix_pack; no extra copy where the ISA has no packed form) */
    kn_matrix_t qkv, gate_up;           /* rows: q | k | v and gate | up; data NULL if not stacked */
    void *qkv_data, *gate_up_data;
    kn_packed_t *pk_fc, *pk_qkv, *pk_q, *pk_k, *pk_v, *pk_wo, *pk_gate_up, *pk_gate, *pk_up, *pk_down, *pk_out;
};

/* ---- vector loops (feature_head_simd.c) ----
 * One row, one KV head and its grp query heads: keys/values are rows of kc/vc (row stride
 * `stride` floats, this head's columns from `off`), taken from slots 0..pre-1 then extra[0..nk-pre). */
typedef struct fh_attn {
    const float *q;                     /* grp x hd, contiguous */
    const float *kc, *vc;
    size_t stride, off;
    uint32_t pre, nk, hd, grp;
    const int32_t *extra;
    float scale;
} fh_attn_t;
#define FH_MAX_GROUP 16u                /* query heads per KV head the attention handles */
/* out (grp x hd) = softmax(q K^T * scale) V per query head; scores: grp x nk scratch */
void fh_attend(const fh_attn_t *a, float *scores, float *out);
/* sum over j < n of exp(x[j] - mx), all x[j] <= mx (about 2e-7 relative error per term, summed
 * in double); tmp: n floats of scratch */
double fh_sum_exp(const float *x, uint32_t n, float mx, float *tmp);
/* out[j] = silu(gate[j]) * up[j], j < n */
void fh_swiglu(const float *gate, const float *up, float *out, uint32_t n);
/* The k largest of x[0..n) sorted by (value desc, id asc), id = map[j] (or j when map is NULL):
 * ids and vals receive min(k, n) entries, returned. */
uint32_t fh_topk(const float *x, uint32_t n, const int32_t *map, uint32_t k, int32_t *ids, float *vals);
/* tests: 1 forces the portable versions of all of these (default 0: the fastest this CPU runs) */
extern int fh_simd_portable;

/* (Re)builds the compute form above. 0, or -1 when out of memory (the head keeps no half state). */
int fh_head_prepare(fh_head_t *h);

#endif
