/* policy_net.h - RADAR's stop/continue policy ("eye"): a one-layer LSTM over the per-step state,
 * then an MLP on concat(h, x):
 *
 *   LSTM(n_in -> n_hid)  gates = W_ih x + b_ih + W_hh h + b_hh, rows in PyTorch order i, f, g, o
 *                        c' = sig(f) c + sig(i) tanh(g),  h' = sig(o) tanh(c')
 *   z  = concat(h', x)                     [n_hid + n_in]
 *   a  = ReLU(W1 z + b1)                   [n_mlp]
 *   logits = W2 a + b2                     [2]   index 0 = STOP, 1 = CONTINUE
 *
 * The paper's sizes are n_in 10, n_hid 128, n_mlp 128 (89,730 parameters). The state is reset at
 * the start of every draft phase. Inference (dspn_step) allocates nothing: the caller owns a
 * dspn_state_t made once per session. For training (REINFORCE over one draft phase = one
 * episode) dspn_episode_forward/backward do backpropagation through time over T steps with a
 * caller-owned cache; gradients accumulate into a flat array laid out like the parameters.
 */
#ifndef DSPN_POLICY_NET_H
#define DSPN_POLICY_NET_H

#include <stddef.h>
#include <stdint.h>

#define DSPN_STOP 0
#define DSPN_CONTINUE 1

/* Parameter tensors in the order of the flat block, with their PyTorch names. */
#define DSPN_N_TENSORS 8
extern const char *const dspn_tensor_names[DSPN_N_TENSORS];
/* "lstm.weight_ih_l0" [4H, n_in], "lstm.weight_hh_l0" [4H, H], "lstm.bias_ih_l0" [4H],
 * "lstm.bias_hh_l0" [4H], "mlp.0.weight" [M, H + n_in], "mlp.0.bias" [M], "mlp.3.weight" [2, M],
 * "mlp.3.bias" [2] */

typedef struct dspn_net {
    uint32_t n_in, n_hid, n_mlp;
    size_t n_params;      /* total floats in params */
    float *params;        /* owned: one block, tensors back to back in dspn_tensor_names order */
    float *w_ih;          /* (4H, n_in)    pointers into params */
    float *w_hh;          /* (4H, H) */
    float *b_ih, *b_hh;   /* (4H) */
    float *w1;            /* (M, H + n_in) */
    float *b1;            /* (M) */
    float *w2;            /* (2, M) */
    float *b2;            /* (2) */
} dspn_net_t;

/* Per-sequence inference state; make with dspn_state_init, reset per draft phase. */
typedef struct dspn_state {
    float *h, *c;         /* (H) */
    float *gates;         /* (4H) scratch */
    float *z, *a;         /* (H + n_in), (M) scratch */
    float *mem;           /* owned block */
} dspn_state_t;

/* Allocates a zeroed net of the given sizes (all >= 1, n_in and n_mlp <= 4096, n_hid <= 4096).
 * 0, DSTRAT-style -2 (bad size) or -4 (no memory). */
int dspn_init(dspn_net_t *net, uint32_t n_in, uint32_t n_hid, uint32_t n_mlp);
void dspn_free(dspn_net_t *net);
/* Number of floats in tensor i (0..DSPN_N_TENSORS) and its shape (ndim 1 or 2). */
size_t dspn_tensor_shape(const dspn_net_t *net, uint32_t i, uint32_t *ndim, uint32_t dims[2]);
/* Pointer to tensor i inside net->params. */
float *dspn_tensor(const dspn_net_t *net, uint32_t i);
/* Deterministic random init (PyTorch-like uniform(-1/sqrt(fan), 1/sqrt(fan))) from a seed. */
void dspn_init_random(dspn_net_t *net, uint64_t seed);

int dspn_state_init(dspn_state_t *st, const dspn_net_t *net);
void dspn_state_free(dspn_state_t *st);
void dspn_state_reset(dspn_state_t *st, const dspn_net_t *net);

/* One decision step: advances st with x[n_in] and writes logits[2]. No allocation. */
void dspn_step(const dspn_net_t *net, dspn_state_t *st, const float *x, float logits[2]);

/* p(CONTINUE) = softmax(logits)[1], computed stably. */
double dspn_p_continue(const float logits[2]);

/* ---- training: one episode of T steps (BPTT) ---- */
typedef struct dspn_cache {
    uint32_t t_max;
    float *x;      /* (T, n_in) inputs */
    float *gates;  /* (T, 4H) activated gates: sig(i), sig(f), tanh(g), sig(o) */
    float *c;      /* (T+1, H) c[0] = 0 */
    float *h;      /* (T+1, H) h[0] = 0 */
    float *pre1;   /* (T, M) W1 z + b1 before ReLU */
    float *logits; /* (T, 2) */
    float *mem;
} dspn_cache_t;

int dspn_cache_init(dspn_cache_t *cache, const dspn_net_t *net, uint32_t t_max);
void dspn_cache_free(dspn_cache_t *cache);
/* Runs T <= t_max steps from a zero state over xs[T * n_in]; logits land in cache->logits. */
int dspn_episode_forward(const dspn_net_t *net, dspn_cache_t *cache, const float *xs, uint32_t T);
/* Given dL/dlogits[T * 2] for the last forward, adds dL/dparams into grad[net->n_params]
 * (same layout as net->params). Allocation-free but needs scratch[dspn_scratch_floats(net)]. */
size_t dspn_scratch_floats(const dspn_net_t *net);
void dspn_episode_backward(const dspn_net_t *net, const dspn_cache_t *cache, uint32_t T,
                           const float *dlogits, float *grad, float *scratch);

/* ---- files (policies/FORMAT.md) ---- */
#define DSPN_NETWORK "radar-lstm"
struct dspf_file;
struct dspf_kv;
/* Builds *net from a parsed policy file: header network=radar-lstm, n_in, n_hidden, n_mlp, and
 * exactly the eight tensors above with matching shapes. 0, or DSTRAT_E_INVALID_ARG (another
 * network kind, missing or unparsable size, missing/extra tensor, shape mismatch) with a message
 * naming the file, or DSTRAT_E_NOMEM. */
int dspn_load(dspn_net_t *net, const struct dspf_file *f, char *err, size_t cap);
/* Writes net to path with network, n_in, n_hidden, n_mlp and the caller's extra header entries
 * (features, target, draft, cost.*, train.*). 0 or the dspf_write code. */
int dspn_save(const dspn_net_t *net, const char *path, const struct dspf_kv *extra, uint32_t n_extra, char *err,
              size_t cap);

#endif /* DSPN_POLICY_NET_H */
