/* bench_peer.h - llama.cpp as a peer of refhost bench: a child process running
 * scripts/bench_peer_llama.py in the llama-cpp-python venv, one JSON request/reply per line, so that
 * peer runs interleave with ours prompt by prompt while each side keeps its model loaded. */
#ifndef BENCH_PEER_H
#define BENCH_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bench_peer {
    pid_t pid;
    int to_fd;
    void *from;          /* FILE * */
    char version[64];
} bench_peer_t;

typedef enum { PEER_PLAIN = 0, PEER_HL = 1 } bench_peer_op_t;

typedef struct bench_peer_result {
    int32_t *tokens;     /* malloc'd */
    uint32_t n_tokens;
    double prefill_s, decode_s;
    double perf_eval_ms; /* llama.cpp's own decode timer (PEER_PLAIN), else -1 */
    uint32_t n_decode_calls;
} bench_peer_result_t;

/* Starts python (a path) on script with the model; waits for its ready line. 0, or -1 with err. */
int bench_peer_start(bench_peer_t *p, const char *python, const char *script, const char *model, uint32_t n_ctx,
                     uint32_t threads, char *err, size_t cap);
/* One greedy generation; ngram = 0 and PEER_HL = llama.cpp's high-level loop without a draft. */
int bench_peer_run(bench_peer_t *p, bench_peer_op_t op, const int32_t *prompt, uint32_t n_prompt, uint32_t max_new,
                   uint32_t ngram, uint32_t k, bench_peer_result_t *out, char *err, size_t cap);
void bench_peer_stop(bench_peer_t *p);

#endif
