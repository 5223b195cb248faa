/* mlp.h - a small multi-layer perceptron (LTD's actor and critic networks): fully connected
 * layers with ReLU between them and a linear output,
 *
 *   h_0 = x [size[0]],   h_{l+1} = act(W_l h_l + b_l) [size[l+1]],  act = ReLU except after the last
 *
 * W_l is (size[l+1], size[l]) row-major. All parameters live in one flat block (layer by layer,
 * weight then bias), so optimisers and gradients are flat arrays of n_params floats.
 * Inference (dsmlp_forward) allocates nothing: the caller passes scratch of
 * dsmlp_scratch_floats(). Training: dsmlp_forward_batch keeps the activations of B rows in a
 * caller-owned cache; dsmlp_backward_batch adds dL/dparams for given dL/doutputs.
 *
 * Files: several networks can share one policy file (policies/FORMAT.md); each is stored under a
 * prefix ("depth", "size", ...) as the header key "<prefix>.layers" = "18,64,64,2" and the tensors
 * "<prefix>.l<i>.weight" [size[i+1], size[i]] and "<prefix>.l<i>.bias" [size[i+1]].
 */
#ifndef DSMLP_MLP_H
#define DSMLP_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "policy_file.h"

#define DSMLP_MAX_LAYERS 4      /* weight layers */
#define DSMLP_MAX_WIDTH 4096

typedef struct dsmlp {
    uint32_t n_layers;                     /* 1..DSMLP_MAX_LAYERS */
    uint32_t size[DSMLP_MAX_LAYERS + 1];   /* size[0] = inputs, size[n_layers] = outputs */
    size_t n_params;
    float *params;                         /* owned flat block */
    float *w[DSMLP_MAX_LAYERS], *b[DSMLP_MAX_LAYERS]; /* pointers into params */
} dsmlp_t;

/* sizes[0..n_layers]; each 1..DSMLP_MAX_WIDTH. 0, DSTRAT_E_INVALID_ARG or DSTRAT_E_NOMEM. Zeroed. */
int dsmlp_init(dsmlp_t *m, uint32_t n_layers, const uint32_t *sizes);
void dsmlp_free(dsmlp_t *m);
/* Deterministic init from a seed: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for hidden layers; the
 * output layer's weights are scaled by out_gain (e.g. 0.01 for a near-uniform initial actor). */
void dsmlp_init_random(dsmlp_t *m, uint64_t seed, float out_gain);

/* ---- inference ---- */
size_t dsmlp_scratch_floats(const dsmlp_t *m);
/* out[size[n_layers]] = f(x). No allocation. */
void dsmlp_forward(const dsmlp_t *m, const float *x, float *out, float *scratch);
/* Index of the largest of v[0..n) (the first on ties). */
uint32_t dsmlp_argmax(const float *v, uint32_t n);
/* Numerically stable log-softmax of v[0..n) into out (may alias v). */
void dsmlp_log_softmax(const float *v, uint32_t n, float *out);

/* ---- training ---- */
typedef struct dsmlp_cache {
    uint32_t max_batch;
    float *act[DSMLP_MAX_LAYERS + 1];      /* act[l]: (B, size[l]) layer inputs (act[0] = x) and
                                              act[n_layers] = outputs; hidden ones post-ReLU */
    float *mem;
} dsmlp_cache_t;

int dsmlp_cache_init(dsmlp_cache_t *c, const dsmlp_t *m, uint32_t max_batch);
void dsmlp_cache_free(dsmlp_cache_t *c);
/* Forward of B <= max_batch rows x[B * size[0]]; outputs land in c->act[n_layers]. */
int dsmlp_forward_batch(const dsmlp_t *m, dsmlp_cache_t *c, const float *x, uint32_t B);
/* Adds dL/dparams into grad[n_params] for dout[B * size[n_layers]] of the last forward_batch.
 * Needs scratch[dsmlp_backward_scratch_floats(m, B)]. Allocation-free. */
size_t dsmlp_backward_scratch_floats(const dsmlp_t *m, uint32_t B);
void dsmlp_backward_batch(const dsmlp_t *m, const dsmlp_cache_t *c, uint32_t B, const float *dout, float *grad,
                          float *scratch);

/* ---- Adam (shared by trainers) ---- */
typedef struct dsmlp_adam {
    size_t n;
    float *m, *v;                          /* owned */
    uint64_t t;
    double beta1, beta2, eps;
} dsmlp_adam_t;
int dsmlp_adam_init(dsmlp_adam_t *a, size_t n);
void dsmlp_adam_free(dsmlp_adam_t *a);
/* One step on params[n] with grad[n] (clipped to global norm `clip` first if clip > 0); returns
 * the gradient norm before clipping. */
double dsmlp_adam_step(dsmlp_adam_t *a, float *params, const float *grad, double lr, double clip);

/* ---- files ---- */
/* Builds m from the tensors and "<prefix>.layers" header of a parsed policy file. 0, or
 * DSTRAT_E_INVALID_ARG with a message naming the file, prefix and what is wrong (missing or
 * unparsable layers, missing or extra tensor of that prefix, wrong shape), or DSTRAT_E_NOMEM. */
int dsmlp_load(dsmlp_t *m, const dspf_file_t *f, const char *prefix, char *err, size_t cap);
/* Describes m's tensors for dspf_write: fills t[0..2*n_layers) (data borrowed from m, names
 * "<prefix>.l<i>.weight|bias") and the header entry "<prefix>.layers" into kv (its key and value
 * strings point into names/layers_buf, which the caller keeps alive until the write). Returns the
 * number of tensors written to t. */
uint32_t dsmlp_describe(const dsmlp_t *m, const char *prefix, dspf_tensor_t *t, char *key_buf, size_t key_cap,
                        char *layers_buf, size_t layers_cap, dspf_kv_t *kv);

#endif /* DSMLP_MLP_H */
