/* main.c - refhost: the reference host's command line. Each subcommand lives in its own file. */
#include <stdio.h>
#include <string.h>

#include "cli_commands.h"
#include "cli_common.h"

static void usage(FILE *f) {
    fputs("usage: refhost <command> [options]\n"
          "\n"
          "commands:\n"
          "  generate       generate text from a prompt with a decoding strategy (see --config)\n"
          "  tokenize       print the token ids of a prompt as JSON\n"
          "  bench-forward  measure the target's verify-forward cost for 1..64 tokens\n"
          "  strategies     list the strategy plugins found on the plugin path\n"
          "  draft-data     write draft-head training data (target features over text)\n"
          "  bench          compare strategies side by side with the AR baseline and llama.cpp\n"
          "  collect        log policy training data (not yet available)\n"
          "  train          train a policy (not yet available)\n"
          "\n"
          "Run 'refhost <command> --help' for the options of a command.\n",
          f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        puts("refhost 0.1.0 (dstrat ABI 1.0)");
        return 0;
    }
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench-forward")) return cmd_bench_forward(argc - 1, argv + 1);
    if (!strcmp(cmd, "strategies")) return cmd_strategies(argc - 1, argv + 1);
    if (!strcmp(cmd, "draft-data")) return cmd_draft_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) { int cmd_bench(int, char **); return cmd_bench(argc - 1, argv + 1); } /* TODO(lead): prototype into cli_commands.h */
    if (!strcmp(cmd, "collect") || !strcmp(cmd, "train")) {
        fprintf(stderr, "refhost: '%s' is not implemented yet in this version\n", cmd);
        return EXIT_USAGE;
    }
    fprintf(stderr, "refhost: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
