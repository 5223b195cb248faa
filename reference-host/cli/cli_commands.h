/* cli_commands.h - refhost subcommands; each takes argv with argv[0] = the command name. */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench_forward(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_strategies(int argc, char **argv);
int cmd_draft_data(int argc, char **argv);
int cmd_draft_eval(int argc, char **argv);
int cmd_ngram_table(int argc, char **argv);
int cmd_draft_bench(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_ltd_train(int argc, char **argv);

#endif
