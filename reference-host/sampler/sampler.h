/* sampler.h - the host's target sampler chain: temperature, top-k, top-p applied to raw logits,
 * giving the dense post-chain log-distribution that strategies sample from (dstrat_verify_t.target).
 * Pure functions; thread-safe.
 */
#ifndef SAMPLER_H
#define SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sampler_params {
    float temperature;   /* 0 = greedy (argmax); > 0 scales logits by 1/temperature */
    int32_t top_k;       /* 0 = off; keep the k most likely tokens (ties: lower id first) */
    float top_p;         /* 1 = off; keep the smallest top set with mass >= top_p */
} sampler_params_t;

/* 0 if the parameters are valid, else -1 and a static message in *why. */
int sampler_params_check(const sampler_params_t *p, const char **why);

/* Index of the largest logit; the lowest index wins ties (what llama.cpp's greedy does). */
int32_t sampler_argmax(const float *logits, uint32_t n);
/* The plain loop sampler_argmax must agree with (for tests); NaNs are never the largest. */
int32_t sampler_argmax_ref(const float *logits, uint32_t n);

/* Writes the natural-log probabilities after the chain into logp[n] (removed tokens get
 * -INFINITY). scratch: n floats + n int32 of caller memory (see sampler_scratch_bytes). Requires
 * temperature > 0. Deterministic: the same logits always give bit-identical output. */
size_t sampler_scratch_bytes(uint32_t n);
void sampler_logp(const sampler_params_t *p, const float *logits, uint32_t n, float *logp,
                  void *scratch);

#endif /* SAMPLER_H */
