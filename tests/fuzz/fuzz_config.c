/* fuzz_config.c - libFuzzer target: config_load_string on arbitrary bytes, then, for configs that
 * load, config_check_params against a fixed descriptor table and config_resolve_param_paths.
 * Invariants: no crash, no leak, and a failure always leaves a non-empty message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

static const dstrat_param_desc_t params[] = {
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "k", "4", 1, 32, NULL, "draft length" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_FLOAT, "min_confidence", "0", 0, 1, NULL, "threshold" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_STRING, "acceptance", "match", 0, 0, "match|rejection", "rule" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_BOOL, "adapt", "false", 0, 0, NULL, "online" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_PATH, "policy", "p.bin", 0, 0, NULL, "policy file" },
    { sizeof(dstrat_param_desc_t), DSTRAT_PARAM_INT, "need", NULL, -5, 5, NULL, "required" },
};
static const dstrat_strategy_desc_t desc = {
    sizeof(dstrat_strategy_desc_t), DSTRAT_VERSION_INIT, "fuzz", "fuzz", "1", "fuzz target", 0, 0,
    sizeof params / sizeof params[0], params,
};

static void must_have_message(const char *err) {
    if (err[0] == '\0') __builtin_trap(); /* every refusal explains itself */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512] = "";
    config_t *cfg = config_load_string((const char *) data, size, "fuzz.yaml", "/base", err, sizeof err);
    if (!cfg) {
        must_have_message(err);
        return 0;
    }
    err[0] = '\0';
    if (config_check_params(cfg, &desc, err, sizeof err) != 0)
        must_have_message(err);
    else
        config_resolve_param_paths(cfg, &desc);
    config_free(cfg);
    return 0;
}
