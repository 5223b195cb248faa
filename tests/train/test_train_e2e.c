/* test_train_e2e.c - collect -> train -> radar with the trained policy, through the refhost
 * binary on the tiny random-weight models (target + a draft model): the log is written, both
 * trainers produce a policy file that the radar plugin loads (with the target/draft check), and
 * generation with it is token-identical to AR (greedy, and sampling with the same seed). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refhost_run.h"
#include "radar_log.h"
#include "tiny_workdir.h"

static tiny_workdir_t g_w;
static char g_log[192];

static void setup(void) {
    char err[512];
    cr_assert_eq(tiny_workdir_create(&g_w, "train_e2e", "hello there\n\n{\"turns\": [\"tell me a story\"]}\nthe the the the\n", err, sizeof err), 0, "%s", err);
    snprintf(g_log, sizeof g_log, "%s/tiny.rlog", g_w.dir);
}

static void teardown(void) { cr_assert_eq(tiny_workdir_remove(&g_w), 0); }

/* the generated token ids of a --json run, as text "1, 2, 3" */
static void tokens_of(const char *out, char *buf, size_t cap) {
    cr_assert_eq(refhost_json_tokens(out, buf, cap), 0, "no tokens in: %s", out);
}

#define RADAR_PARAMS "--param top_k=4 --param max_depth=4 --param total_tokens=12"

static void collect_at(const char *temperature) {
    static char out[65536];
    int rc = refhost_run(out, sizeof out,
                     "collect --model %s --draft model:%s --prompts %s --out %s --max-tokens 24 --threads 1 --quiet "
                     "--temperature %s --seed 5 " RADAR_PARAMS,
                     g_w.target, g_w.draft, g_w.prompts, g_log, temperature);
    cr_assert_eq(rc, 0, "collect failed: %s", out);
    cr_assert_not_null(strstr(out, "cycles logged"), "%s", out);
}

static void collect(void) { collect_at("0"); }

static void train(const char *algo, const char *policy, const char *extra) {
    static char out[65536];
    int rc = refhost_run(out, sizeof out, "train --log %s --out %s --algo %s --epochs 3 --hidden 16 --mlp 16 --quiet %s",
                     g_log, policy, algo, extra);
    cr_assert_eq(rc, 0, "train %s failed: %s", algo, out);
    cr_assert_not_null(strstr(out, "wrote"), "%s", out);
}

TestSuite(train_e2e, .init = setup, .fini = teardown, .timeout = 600);

Test(train_e2e, collect_train_and_generate_identically_to_ar) {
    collect();
    char pol[2][256];
    const char *algos[2] = {"reinforce", "expected"};
    for (int i = 0; i < 2; i++) {
        snprintf(pol[i], sizeof pol[i], "%s/%s.dspol", g_w.dir, algos[i]);
        train(algos[i], pol[i], "--seed 3");
    }
    static char out[65536];
    char ar[2][8192], got[8192];
    const char *temps[2] = {"0", "1"};
    for (int t = 0; t < 2; t++) {
        int rc = refhost_run(out, sizeof out,
                         "generate --model %s --prompt 'hello there' --max-tokens 32 --temperature %s --seed 5 --json "
                         "--quiet --threads 1",
                         g_w.target, temps[t]);
        cr_assert_eq(rc, 0, "%s", out);
        tokens_of(out, ar[t], sizeof ar[t]);
    }
    const char *decisions[2] = {"sample", "threshold"};
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 2; k++) {
                int rc = refhost_run(out, sizeof out,
                                 "generate --model %s --draft model:%s --strategy radar --param policy=%s "
                                 "--param decision=%s --param target=target --param draft=draft " RADAR_PARAMS
                                 " --prompt 'hello there' --max-tokens 32 --temperature %s --seed 5 --json --quiet "
                                 "--threads 1",
                                 g_w.target, g_w.draft, pol[i], decisions[k], temps[t]);
                cr_assert_eq(rc, 0, "radar with the %s policy failed: %s", algos[i], out);
                tokens_of(out, got, sizeof got);
                cr_assert_str_eq(got, ar[t], "radar (%s policy, %s, T=%s) differs from AR", algos[i], decisions[k],
                                 temps[t]);
            }
    /* the policy records the models it was trained for, and radar checks them */
    int rc = refhost_run(out, sizeof out,
                     "generate --model %s --draft model:%s --strategy radar --param policy=%s --param target=other "
                     RADAR_PARAMS " --prompt 'hi' --max-tokens 4 --quiet",
                     g_w.target, g_w.draft, pol[1]);
    cr_assert_neq(rc, 0);
    cr_assert_not_null(strstr(out, "trained for"), "%s", out);
}

Test(train_e2e, training_twice_with_one_seed_gives_the_same_bytes) {
    collect();
    char a[256], b[256], cmd[600];
    snprintf(a, sizeof a, "%s/a.dspol", g_w.dir);
    snprintf(b, sizeof b, "%s/b.dspol", g_w.dir);
    train("reinforce", a, "--seed 11");
    train("reinforce", b, "--seed 11");
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    cr_assert_eq(system(cmd), 0, "same seed, different policy files");
}

Test(train_e2e, truncated_log_is_refused_with_a_clear_message) {
    collect();
    char cut[256], cmd[600];
    static char out[65536];
    snprintf(cut, sizeof cut, "%s/cut.rlog", g_w.dir);
    snprintf(cmd, sizeof cmd, "head -c 300 '%s' > '%s'", g_log, cut);
    cr_assert_eq(system(cmd), 0);
    int rc = refhost_run(out, sizeof out, "train --log %s --out %s/x.dspol --quiet", cut, g_w.dir);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert_not_null(strstr(out, "truncated"), "%s", out);
    cr_assert_not_null(strstr(out, "cut.rlog"), "%s", out);
}

/* The collector continues with the deepest tree, exactly what radar does when it never stops
 * (built-in rule with min_beam_prob 0): both must walk the same trajectory, so the logged cycles
 * (all but the last, which gets no observe) and their accepted lengths add up to radar's run. */
Test(train_e2e, collector_walks_the_same_trajectory_as_always_continue_radar) {
    FILE *f = fopen(g_w.prompts, "w");
    cr_assert_not_null(f);
    fputs("hello there\n", f);
    fclose(f);
    const char *temps[2] = {"0", "1"};
    for (int t = 0; t < 2; t++) {
        collect_at(temps[t]);
        char err[512];
        rl_log_t l;
        cr_assert_eq(rl_read(g_log, &l, err, sizeof err), 0, "%s", err);
        cr_assert(l.n_cycles >= 3, "only %zu cycles", l.n_cycles);
        uint64_t tok = 0, deep = 0;
        for (size_t i = 0; i < l.n_cycles; i++) {
            const rl_cycle_t *c = &l.cycles[i];
            tok += c->acc[c->n_levels - 1] + 1;
            deep += c->n_levels == 4;
        }
        cr_assert(deep > 0);
        static char out[65536];
        int rc = refhost_run(out, sizeof out,
                         "generate --model %s --draft model:%s --strategy radar --param min_beam_prob=0 " RADAR_PARAMS
                         " --chat --prompt 'hello there' --max-tokens 24 --temperature %s --seed 5 --json --quiet "
                         "--threads 1",
                         g_w.target, g_w.draft, temps[t]);
        cr_assert_eq(rc, 0, "%s", out);
        const char *pc = strstr(out, "\"cycles\": "), *pg = strstr(out, "\"n_gen\": ");
        cr_assert(pc && pg, "%s", out);
        const long cycles = strtol(pc + 10, NULL, 10), n_gen = strtol(pg + 9, NULL, 10);
        cr_assert_eq((size_t) cycles, l.n_cycles + 1, "T=%s: radar ran %ld cycles, the log has %zu + 1", temps[t], cycles,
                     l.n_cycles);
        cr_assert(tok < (uint64_t) n_gen && (uint64_t) n_gen <= tok + 5, "T=%s: logged %llu tokens, radar generated %ld",
                  temps[t], (unsigned long long) tok, n_gen);
        rl_log_free(&l);
    }
}
