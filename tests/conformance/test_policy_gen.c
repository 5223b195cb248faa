/* test_policy_gen.c - writes a radar-lstm policy file with deterministic random weights, for the
 * conformance suite (built at build time, never a trained policy).
 * usage: test_policy_gen OUT n_in n_hidden n_mlp seed [key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_file.h"
#include "policy_net.h"

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s OUT n_in n_hidden n_mlp seed [key=value ...]\n", argv[0]);
        return 2;
    }
    dspn_net_t net;
    if (dspn_init(&net, (uint32_t) atoi(argv[2]), (uint32_t) atoi(argv[3]), (uint32_t) atoi(argv[4])) != 0) {
        fprintf(stderr, "%s: bad sizes\n", argv[0]);
        return 2;
    }
    dspn_init_random(&net, strtoull(argv[5], NULL, 10));
    dspf_kv_t kv[40] = {
        {"features", "radar-beam-cumlogp"}, {"target", "mock"}, {"draft", "mock"},
        {"train.algorithm", "none (random weights for tests)"},
    };
    uint32_t n = 4;
    for (int i = 6; i < argc && n < 40; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) continue;
        *eq = '\0';
        for (uint32_t j = 0; j < n; j++) /* later key=value replaces a default */
            if (!strcmp(kv[j].key, argv[i])) kv[j] = kv[--n];
        kv[n++] = (dspf_kv_t) {argv[i], eq + 1};
    }
    char err[512];
    int rc = dspn_save(&net, argv[1], kv, n, err, sizeof err);
    dspn_free(&net);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}
