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
    void *owned[16];                    /* requantized matrices (fh_head_requantize) */
    uint32_t n_owned;
};

#endif
