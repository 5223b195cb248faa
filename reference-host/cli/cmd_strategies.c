/* cmd_strategies.c - refhost strategies: the plugins on the search path, their strategies and
 * typed parameters (discovery only: nothing is created). */
#include <stdio.h>
#include <string.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "loader.h"

static const char *type_name(uint32_t t) {
    static const char *names[] = {"int", "float", "bool", "string", "path"};
    return t < 5 ? names[t] : "?";
}

int cmd_strategies(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        puts("usage: refhost strategies\nlists dstrat_*.so plugins found along $DSTRAT_PATH, the install dir and the build tree");
        return 0;
    }
    loader_found_t *found = NULL;
    int n = loader_list(NULL, 0, &found);
    if (n < 0) {
        fputs("refhost strategies: out of memory\n", stderr);
        return EXIT_RUNTIME;
    }
    if (n == 0) puts("no strategy plugins found (set DSTRAT_PATH)");
    for (int i = 0; i < n; i++) {
        char err[1024];
        loader_lib_t *lib = loader_open(found[i].path, NULL, 0, err, sizeof err);
        if (!lib) {
            printf("%s: %s\n", found[i].name, err);
            continue;
        }
        printf("%s (%s)\n", found[i].name, loader_path(lib));
        for (uint32_t s = 0; s < loader_strategy_count(lib); s++) {
            const dstrat_strategy_desc_t *d = loader_strategy_desc(lib, s);
            printf("  %s: %s\n", d->id, d->description ? d->description : "");
            for (uint32_t p = 0; p < d->n_params; p++) {
                const dstrat_param_desc_t *pd = &d->params[p];
                printf("    %-16s %-6s default %-8s", pd->key, type_name(pd->type),
                       pd->default_value ? pd->default_value : "(required)");
                if (pd->type <= 1) printf(" range [%g, %g]", pd->min_value, pd->max_value);
                if (pd->choices) printf(" one of %s", pd->choices);
                printf("  %s\n", pd->help ? pd->help : "");
            }
        }
        loader_close(lib);
    }
    loader_list_free(found, n);
    return 0;
}
