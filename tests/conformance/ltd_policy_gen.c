/* ltd_policy_gen.c - writes an ltd-mlp policy file with deterministic random weights, for the
 * conformance suite (built at build time, never a trained policy).
 * usage: ltd_policy_gen OUT seed DEPTH_LAYERS SIZE_LAYERS [key=value ...]
 *   DEPTH_LAYERS / SIZE_LAYERS: "18,32,2" (n_level + 2, hidden..., 2) / "66,32,9" (n_pool + 2,
 *   hidden..., number of sizes), or "-" for no such network. The header gets network, features,
 *   n_level, n_pool (from the layer sizes), sizes (default: the plugin's default list, which has
 *   9 entries), target = draft = mock; key=value arguments replace or add header keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "policy_file.h"

#define MAX_KV 40

static int parse_layers(const char *s, uint32_t *sizes, uint32_t *n_layers) {
    uint32_t n = 0;
    for (const char *p = s; *p && n <= DSMLP_MAX_LAYERS;) {
        char *end = NULL;
        sizes[n++] = (uint32_t) strtoul(p, &end, 10);
        if (end == p) return -1;
        p = *end == ',' ? end + 1 : end;
    }
    if (n < 2) return -1;
    *n_layers = n - 1;
    return 0;
}

static void put(dspf_kv_t *kv, uint32_t *n, const char *key, const char *value) {
    for (uint32_t j = 0; j < *n; j++) /* a later key replaces an earlier one */
        if (!strcmp(kv[j].key, key)) {
            kv[j].value = value;
            return;
        }
    if (*n < MAX_KV) kv[(*n)++] = (dspf_kv_t) {key, value};
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s OUT seed DEPTH_LAYERS|- SIZE_LAYERS|- [key=value ...]\n", argv[0]);
        return 2;
    }
    const char *prefix[2] = {"depth", "size"}, *count_key[2] = {"n_level", "n_pool"};
    dsmlp_t net[2];
    int have[2] = {0, 0};
    dspf_kv_t kv[MAX_KV];
    dspf_tensor_t t[4 * DSMLP_MAX_LAYERS];
    char key_buf[2][64], layers_buf[2][128], count_buf[2][16];
    uint32_t n_kv = 0, n_t = 0;
    put(kv, &n_kv, "network", "ltd-mlp");
    put(kv, &n_kv, "features", "ltd-v1");
    put(kv, &n_kv, "sizes", "2,4,6,8,12,16,24,32,48");
    put(kv, &n_kv, "target", "mock");
    put(kv, &n_kv, "draft", "mock");
    put(kv, &n_kv, "train.algorithm", "none (random weights for tests)");
    for (int i = 0; i < 2; i++) {
        if (!strcmp(argv[3 + i], "-")) continue;
        uint32_t sizes[DSMLP_MAX_LAYERS + 2], n_layers = 0;
        if (parse_layers(argv[3 + i], sizes, &n_layers) != 0 || sizes[0] < 3 ||
            dsmlp_init(&net[i], n_layers, sizes) != 0) {
            fprintf(stderr, "%s: bad %s layers '%s'\n", argv[0], prefix[i], argv[3 + i]);
            return 2;
        }
        have[i] = 1;
        dsmlp_init_random(&net[i], strtoull(argv[2], NULL, 10) * 2 + (uint64_t) i, 1.0f);
        /* centre the first layer's ReLUs on a typical observation (log-prob features about -0.3,
           context 0.05, calls 0.3): otherwise a random policy's argmax hardly ever changes */
        for (uint32_t r = 0; r < sizes[1]; r++) {
            double acc = 0.0;
            for (uint32_t j = 0; j < sizes[0]; j++)
                acc += net[i].w[0][(size_t) r * sizes[0] + j] * (j + 2 < sizes[0] ? -0.3 : j + 2 == sizes[0] ? 0.05 : 0.3);
            net[i].b[0][r] = (float) (-acc + 0.1 * net[i].b[0][r]);
        }
        dspf_kv_t layers;
        n_t += dsmlp_describe(&net[i], prefix[i], t + n_t, key_buf[i], sizeof key_buf[i], layers_buf[i],
                              sizeof layers_buf[i], &layers);
        put(kv, &n_kv, layers.key, layers.value);
        snprintf(count_buf[i], sizeof count_buf[i], "%u", sizes[0] - 2);
        put(kv, &n_kv, count_key[i], count_buf[i]);
    }
    for (int i = 5; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) continue;
        *eq = '\0';
        put(kv, &n_kv, argv[i], eq + 1);
    }
    char err[512];
    int rc = dspf_write(argv[1], kv, n_kv, t, n_t, err, sizeof err);
    for (int i = 0; i < 2; i++)
        if (have[i]) dsmlp_free(&net[i]);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}
