/* bench_peer.c - see bench_peer.h */
#include "bench_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_json.h"

static int read_reply(bench_peer_t *p, bj_value_t **out, char *err, size_t cap) {
    char *line = NULL;
    size_t lcap = 0;
    for (;;) {
        ssize_t n = getline(&line, &lcap, (FILE *) p->from);
        if (n < 0) {
            free(line);
            snprintf(err, cap, "the llama.cpp peer process ended");
            return -1;
        }
        if (n > 0 && line[0] == '{') break; /* anything else is stray library output */
    }
    char why[256];
    bj_value_t *v = bj_parse(line, strlen(line), why, sizeof why);
    free(line);
    if (!v) {
        snprintf(err, cap, "llama.cpp peer: bad reply (%s)", why);
        return -1;
    }
    const bj_value_t *ok = bj_get(v, "ok"), *e = bj_get(v, "error");
    if (!ok || ok->type != BJ_BOOL || !ok->boolean) {
        snprintf(err, cap, "llama.cpp peer: %s", e && e->type == BJ_STR ? e->str : "request failed");
        bj_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_peer_start(bench_peer_t *p, const char *python, const char *script, const char *model, uint32_t n_ctx,
                     uint32_t threads, char *err, size_t cap) {
    memset(p, 0, sizeof *p);
    p->pid = -1;
    int in[2], out[2];
    if (pipe(in) != 0) {
        snprintf(err, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        snprintf(err, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    char nctx[32], thr[32];
    snprintf(nctx, sizeof nctx, "%u", n_ctx);
    snprintf(thr, sizeof thr, "%u", threads ? threads : (uint32_t) sysconf(_SC_NPROCESSORS_ONLN));
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, cap, "fork: %s", strerror(errno));
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        execl(python, python, script, "--model", model, "--n-ctx", nctx, "--threads", thr, (char *) NULL);
        fprintf(stderr, "refhost bench: cannot run %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    fcntl(out[0], F_SETFD, FD_CLOEXEC);
    p->pid = pid;
    p->to_fd = in[1];
    p->from = fdopen(out[0], "r");
    if (!p->from) {
        close(out[0]);
        bench_peer_stop(p);
        snprintf(err, cap, "fdopen failed");
        return -1;
    }
    bj_value_t *v;
    if (read_reply(p, &v, err, cap) != 0) {
        bench_peer_stop(p);
        return -1;
    }
    const bj_value_t *ver = bj_get(v, "version");
    snprintf(p->version, sizeof p->version, "%s", ver && ver->type == BJ_STR ? ver->str : "?");
    bj_free(v);
    return 0;
}

static int write_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t) w;
    }
    return 0;
}

static double num(const bj_value_t *v, const char *key, double dflt) {
    const bj_value_t *x = bj_get(v, key);
    return x && x->type == BJ_NUM ? x->num : dflt;
}

int bench_peer_run(bench_peer_t *p, bench_peer_op_t op, const int32_t *prompt, uint32_t n_prompt, uint32_t max_new,
                   uint32_t ngram, uint32_t k, bench_peer_result_t *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    if (p->pid <= 0) {
        snprintf(err, cap, "the llama.cpp peer is not running");
        return -1;
    }
    size_t rcap = 128 + (size_t) n_prompt * 12;
    char *req = malloc(rcap);
    if (!req) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    size_t n = (size_t) snprintf(req, rcap, "{\"op\": \"%s\", \"max_new\": %u, \"ngram\": %u, \"k\": %u, \"prompt\": [",
                                 op == PEER_PLAIN ? "plain" : "hl", max_new, ngram, k);
    for (uint32_t i = 0; i < n_prompt; i++) n += (size_t) snprintf(req + n, rcap - n, i ? ",%d" : "%d", prompt[i]);
    n += (size_t) snprintf(req + n, rcap - n, "]}\n");
    int w = write_all(p->to_fd, req, n);
    free(req);
    if (w != 0) {
        snprintf(err, cap, "the llama.cpp peer process does not take requests");
        return -1;
    }
    bj_value_t *v;
    if (read_reply(p, &v, err, cap) != 0) return -1;
    const bj_value_t *toks = bj_get(v, "tokens");
    if (!toks || toks->type != BJ_ARR) {
        bj_free(v);
        snprintf(err, cap, "llama.cpp peer: reply without tokens");
        return -1;
    }
    out->tokens = malloc((toks->n + 1) * sizeof *out->tokens);
    if (!out->tokens) {
        bj_free(v);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < toks->n; i++) out->tokens[i] = (int32_t) toks->items[i].num;
    out->n_tokens = (uint32_t) toks->n;
    out->prefill_s = num(v, "prefill_s", 0);
    out->decode_s = num(v, "decode_s", 0);
    out->perf_eval_ms = num(v, "perf_eval_ms", -1);
    out->n_decode_calls = (uint32_t) num(v, "n_decode_calls", 0);
    bj_free(v);
    return 0;
}

void bench_peer_stop(bench_peer_t *p) {
    if (p->to_fd > 0) {
        const char q[] = "{\"op\": \"quit\"}\n";
        if (write_all(p->to_fd, q, sizeof q - 1) != 0) { /* already gone */ }
        close(p->to_fd);
    }
    if (p->from) fclose((FILE *) p->from);
    if (p->pid > 0) {
        int st;
        for (int i = 0; i < 50 && waitpid(p->pid, &st, WNOHANG) == 0; i++) usleep(100000);
        if (waitpid(p->pid, &st, WNOHANG) == 0) {
            kill(p->pid, SIGTERM);
            waitpid(p->pid, &st, 0);
        }
    }
    memset(p, 0, sizeof *p);
    p->pid = -1;
}
