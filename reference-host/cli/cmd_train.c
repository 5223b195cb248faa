/* cmd_train.c - refhost train: RADAR's stop/continue policy from `refhost collect` logs
 * (reference-host/train/radar_train.h), written with plugin/common's policy file writer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "radar_train.h"

#define MAX_LOGS 64

static void usage(FILE *f) {
    fputs("usage: refhost train --log FILE [--log FILE ...] --out POLICY.dspol [options]\n"
          "  --algo A          reinforce (the paper's REINFORCE) | expected (maximises the simulated\n"
          "                    tokens/s using every stop depth's known outcome; default)\n"
          "  --seed S          (default 1) same seed + logs + options -> identical policy bytes\n"
          "  --epochs N        (default reinforce 100, expected 40)\n"
          "  --batch N         (default 64)\n"
          "  --lr X            Adam learning rate (default reinforce 1e-4, expected 1e-3), cosine to --lr-min\n"
          "  --lr-min X        (default 1e-6)\n"
          "  --weight-decay X  (default 1e-4)      --clip X   gradient-norm clip (default 1)\n"
          "  --alpha X         reinforce: penalty per CONTINUE (default 0.02)\n"
          "  --beta X          reinforce: scale of acc/t(a) at the stop (default: auto, always-continue = 1)\n"
          "  --gamma X         reinforce: discount (default 0.99)\n"
          "  --hidden N --mlp N  network sizes (default 128, 128 as in the paper)\n"
          "  --holdout X       fraction of cycles held out to pick the best epoch (default 0.2)\n"
          "  --quiet           no progress bar\n"
          "exit codes: 0 ok, 2 bad command line, 3 unreadable or invalid log, 4 training failed\n",
          f);
}

static int num(const char *s, double lo, double hi, double *v) {
    char *end;
    *v = strtod(s, &end);
    return *end || !(*v >= lo && *v <= hi) ? -1 : 0;
}

int cmd_train(int argc, char **argv) {
    enum { O_LOG = 1000, O_OUT, O_ALGO, O_SEED, O_EPOCHS, O_BATCH, O_LR, O_LRMIN, O_WD, O_CLIP, O_ALPHA, O_BETA,
           O_GAMMA, O_HIDDEN, O_MLP, O_HOLD, O_QUIET, O_HELP };
    static const struct option opts[] = {
        {"log", required_argument, 0, O_LOG}, {"out", required_argument, 0, O_OUT},
        {"algo", required_argument, 0, O_ALGO}, {"seed", required_argument, 0, O_SEED},
        {"epochs", required_argument, 0, O_EPOCHS}, {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR}, {"lr-min", required_argument, 0, O_LRMIN},
        {"weight-decay", required_argument, 0, O_WD}, {"clip", required_argument, 0, O_CLIP},
        {"alpha", required_argument, 0, O_ALPHA}, {"beta", required_argument, 0, O_BETA},
        {"gamma", required_argument, 0, O_GAMMA}, {"hidden", required_argument, 0, O_HIDDEN},
        {"mlp", required_argument, 0, O_MLP}, {"holdout", required_argument, 0, O_HOLD},
        {"quiet", no_argument, 0, O_QUIET}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
    };
    const char *logs[MAX_LOGS], *out = NULL, *algo = "expected";
    const char *val[O_HELP - O_LOG + 1] = {0};
    uint32_t n_logs = 0;
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_LOG:
            if (n_logs == MAX_LOGS) {
                fprintf(stderr, "refhost train: at most %d logs\n", MAX_LOGS);
                return EXIT_USAGE;
            }
            logs[n_logs++] = optarg;
            break;
        case O_OUT: out = optarg; break;
        case O_ALGO: algo = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return 0;
        default:
            if (c >= O_SEED && c < O_QUIET) {
                val[c - O_LOG] = optarg;
                break;
            }
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "refhost train: unexpected argument '%s' (see --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!n_logs || !out) {
        fprintf(stderr, "refhost train: --log and --out are required (see --help)\n");
        return EXIT_USAGE;
    }
    int a;
    if (!strcmp(algo, "reinforce")) a = RT_ALGO_REINFORCE;
    else if (!strcmp(algo, "expected")) a = RT_ALGO_EXPECTED;
    else {
        fprintf(stderr, "refhost train: --algo must be reinforce or expected, got '%s'\n", algo);
        return EXIT_USAGE;
    }
    rt_opts_t o = rt_default_opts(a);
    o.progress = !quiet;
    static const struct {
        int opt;
        const char *name;
        double lo, hi;
    } lim[] = {
        {O_SEED, "--seed", 0, 1.8e19}, {O_EPOCHS, "--epochs", 0, 100000}, {O_BATCH, "--batch", 1, 1e6},
        {O_LR, "--lr", 0, 10}, {O_LRMIN, "--lr-min", 0, 10}, {O_WD, "--weight-decay", 0, 10}, {O_CLIP, "--clip", 0, 1e9},
        {O_ALPHA, "--alpha", 0, 1e9}, {O_BETA, "--beta", 0, 1e9}, {O_GAMMA, "--gamma", 0, 1},
        {O_HIDDEN, "--hidden", 1, 4096}, {O_MLP, "--mlp", 1, 4096}, {O_HOLD, "--holdout", 0, 0.9},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        const char *s = val[lim[i].opt - O_LOG];
        double v;
        if (!s) continue;
        if (num(s, lim[i].lo, lim[i].hi, &v) != 0) {
            fprintf(stderr, "refhost train: %s must be a number in %g..%g, got '%s'\n", lim[i].name, lim[i].lo,
                    lim[i].hi, s);
            return EXIT_USAGE;
        }
        switch (lim[i].opt) {
        case O_SEED: o.seed = strtoull(s, NULL, 10); break;
        case O_EPOCHS: o.epochs = (uint32_t) v; break;
        case O_BATCH: o.batch = (uint32_t) v; break;
        case O_LR: o.lr = v; break;
        case O_LRMIN: o.lr_min = v; break;
        case O_WD: o.weight_decay = v; break;
        case O_CLIP: o.clip = v; break;
        case O_ALPHA: o.alpha = v; break;
        case O_BETA: o.beta = v; break;
        case O_GAMMA: o.gamma = v; break;
        case O_HIDDEN: o.n_hidden = (uint32_t) v; break;
        case O_MLP: o.n_mlp = (uint32_t) v; break;
        case O_HOLD: o.holdout = v; break;
        }
    }
    char err[2048];
    rt_data_t d;
    if (rt_data_load(&d, logs, n_logs, err, sizeof err) != 0) {
        fprintf(stderr, "refhost train: %s\n", err);
        return EXIT_INPUT;
    }
    const rt_cost_t *cm = &d.cost;
    fprintf(stderr,
            "[train] %zu episodes from %zu cycles (%zu with one level skipped); target %s, draft %s, top_k %u, "
            "max_depth %u, total_tokens %u\n"
            "[train] cost model: draft call 1 %.1f us, later calls %.1f us, verify(N) = %.2f ms + %.1f us * N, "
            "policy step %.1f us\n",
            d.n_ep, d.n_cycles_read, d.n_skipped, d.target, d.draft, d.n_in, d.max_depth, d.total_tokens,
            cm->t_first_ns / 1e3, cm->t_call_ns / 1e3, cm->va_ns / 1e6, cm->vb_ns / 1e3, cm->t_policy_ns / 1e3);
    dspn_net_t net;
    rt_result_t r;
    int rc = 0;
    if (rt_train(&d, &o, &net, &r, err, sizeof err) != 0) {
        fprintf(stderr, "refhost train: %s\n", err);
        rt_data_free(&d);
        return EXIT_RUNTIME;
    }
    fprintf(stderr,
            "[train] best epoch %u; held-out simulated (%zu cycles): policy sampled %.1f tok/s (tau %.2f, %.2f draft "
            "calls), threshold 0.5 %.1f tok/s\n"
            "[train] references: always continue %.1f tok/s, best fixed stop %u %.1f tok/s, per-cycle oracle %.1f tok/s\n",
            r.best_epoch, r.n_held, r.held_eval.rate, r.held_eval.tau, r.held_eval.calls, r.held_eval_thr.rate,
            r.held_full.rate, r.best_fixed, r.held_best_fixed.rate, r.held_oracle.rate);
    if (rt_save(&net, out, &d, &o, &r, logs, n_logs, err, sizeof err) != 0) {
        fprintf(stderr, "refhost train: %s\n", err);
        rc = EXIT_RUNTIME;
    } else {
        fprintf(stderr, "[train] wrote %s\n", out);
    }
    dspn_free(&net);
    rt_data_free(&d);
    return rc;
}
