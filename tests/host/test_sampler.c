/* test_sampler.c - the vectorised argmax equals the plain loop on every kind of input: random
 * logits of every length around the vector width, ties (first index wins), NaNs anywhere, signed
 * zeros, infinities, and the maximum in the scalar tail. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>

#include "sampler.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t) (rng >> 16);
}

Test(sampler, vector_argmax_equals_the_plain_loop) {
    static float x[4099];
    const float special[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, 3.0f, 3.0f};
    uint32_t checked = 0;
    for (uint32_t n = 1; n <= 70; n++)
        for (int rep = 0; rep < 200; rep++) {
            const uint32_t len = rep < 100 ? n : n + 4029 * (rep % 2);
            for (uint32_t i = 0; i < len; i++) x[i] = (float) (next_u32() % 7) - 3.0f; /* many ties */
            const uint32_t n_special = next_u32() % 4;
            for (uint32_t k = 0; k < n_special; k++)
                x[next_u32() % len] = special[next_u32() % (sizeof special / sizeof *special)];
            const int32_t want = sampler_argmax_ref(x, len), got = sampler_argmax(x, len);
            cr_assert_eq(got, want, "len %u rep %d: %d vs %d", len, rep, got, want);
            checked++;
        }
    /* the maximum only in the scalar tail, and a leading NaN */
    for (uint32_t i = 0; i < 19; i++) x[i] = (float) i * 0.5f;
    cr_assert_eq(sampler_argmax(x, 19), 18);
    x[0] = NAN;
    cr_assert_eq(sampler_argmax(x, 19), 0);
    cr_assert_gt(checked, 10000);
}
