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
          "  draft-eval     measure a feature draft head: acceptance per depth, cost per call\n"
          "  draft-bench    a strategy drafting with the feature head vs AR: tau, tokens/s\n"
          "  ngram-table    build the n-gram draft's static table from draft-data output\n"
          "  bench          compare strategies side by side with the AR baseline and llama.cpp\n"
          "  collect        log RADAR policy training data (every stop depth's outcome per cycle)\n"
          "  train          train a RADAR stop/continue policy from collect logs\n"
          "  ltd-train      train LTD's depth and size policies online with PPO (strategy ltd)\n"
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
    if (!strcmp(cmd, "draft-eval")) return cmd_draft_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "draft-bench")) return cmd_draft_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "ngram-table")) return cmd_ngram_table(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "collect")) return cmd_collect(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "ltd-train")) return cmd_ltd_train(argc - 1, argv + 1);
    fprintf(stderr, "refhost: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
