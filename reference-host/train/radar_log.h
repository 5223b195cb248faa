/* radar_log.h - the binary log that `refhost collect` writes and `refhost train` reads: per
 * draft/verify cycle, RADAR's policy state at every level and the exact outcome of every possible
 * stop depth (the offline counterfactual simulator), plus measured times. Format: see
 * policies/radar/LOG_FORMAT.md (summary below).
 *
 *   offset 0   8   magic "DSRADLOG"
 *          8   4   version (1)
 *          12  4   H = header length (<= 65536)
 *          16  H   header text, lines key=value\n (top_k, max_depth, total_tokens, target, draft, ...)
 *   then records, each  u32 tag, u32 payload length, payload:
 *     tag 1 cycle   u32 n_levels L, u32 top_k K, u32 n_union, u32 n_context, u64 t_verify_union_ns,
 *                   then L times { u32 acc, u32 n_nodes, u64 t_level_ns, f32 state[K] }
 *     tag 2 timing  u32 n_tokens, u32 n_context, u64 t_ns      (a timed target forward)
 *     tag 3 end     u64 n_cycles, u64 n_timings               (last record)
 *   then u64 FNV-1a 64 of every byte before it; the file ends there.
 * All integers little-endian, floats IEEE-754 binary32 little-endian.
 *
 * Level l (1-based) of a cycle: state = what RADAR decides on after draft call l (l = 1: top-K
 * draft log-probs of the root; later: cumulative log-probs of the K kept beams), acc = draft
 * tokens accepted if the tree were built after l draft calls (stop index l - 1), n_nodes = that
 * tree's draft nodes (root excluded), t_level_ns = measured time of draft call l.
 *
 * The reader checks every length against what is left: a truncated or corrupt log gives -1 with a
 * message naming the file, the byte offset and the record; it never crashes.
 */
#ifndef RADAR_LOG_H
#define RADAR_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RL_MAGIC "DSRADLOG"
#define RL_VERSION 1u
#define RL_MAX_LEVELS 16
#define RL_MAX_K 16
#define RL_MAX_HEADER (64u * 1024u)

#define RL_TAG_CYCLE 1u
#define RL_TAG_TIMING 2u
#define RL_TAG_END 3u

typedef struct rl_cycle {
    uint32_t n_levels;                 /* levels drafted (1..RL_MAX_LEVELS) */
    uint32_t top_k;                    /* state width (1..RL_MAX_K) */
    uint32_t n_union;                  /* nodes of the verified union tree, root included */
    uint32_t n_context;                /* committed tokens before the cycle */
    uint64_t t_verify_union_ns;        /* measured verify forward of the union tree (0 = unknown) */
    uint32_t acc[RL_MAX_LEVELS];
    uint32_t n_nodes[RL_MAX_LEVELS];
    uint64_t t_level_ns[RL_MAX_LEVELS];
    float state[RL_MAX_LEVELS][RL_MAX_K];
} rl_cycle_t;

typedef struct rl_timing {
    uint32_t n_tokens;
    uint32_t n_context;
    uint64_t t_ns;
} rl_timing_t;

typedef struct rl_kv {
    const char *key;   /* [a-z0-9_.-]+ */
    const char *value; /* printable, no newline */
} rl_kv_t;

/* ---- writer (streams records; the checksum covers everything) ---- */
typedef struct rl_writer {
    FILE *f;
    char path[512];
    uint64_t hash;
    uint64_t n_cycles, n_timings;
    int failed;
} rl_writer_t;

/* Creates path and writes the header. 0 or -1 with a message in err. */
int rl_writer_open(rl_writer_t *w, const char *path, const rl_kv_t *kv, uint32_t n_kv, char *err, size_t cap);
int rl_write_cycle(rl_writer_t *w, const rl_cycle_t *c);
int rl_write_timing(rl_writer_t *w, const rl_timing_t *t);
/* Writes the end record and the checksum and closes. 0 or -1 with a message. */
int rl_writer_close(rl_writer_t *w, char *err, size_t cap);
/* Closes without finishing (the file is left truncated). */
void rl_writer_abort(rl_writer_t *w);

/* ---- reader ---- */
typedef struct rl_log {
    char path[512];
    char *header;          /* owned, lines split in place */
    uint32_t n_kv;
    rl_kv_t *kv;
    rl_cycle_t *cycles;
    size_t n_cycles;
    rl_timing_t *timings;
    size_t n_timings;
} rl_log_t;

/* Parses a whole image; name is used in messages. 0 or -1 (message in err); *out is empty on
 * failure (rl_log_free is safe). */
int rl_parse(const uint8_t *buf, size_t len, const char *name, rl_log_t *out, char *err, size_t cap);
int rl_read(const char *path, rl_log_t *out, char *err, size_t cap);
void rl_log_free(rl_log_t *l);
const char *rl_get(const rl_log_t *l, const char *key);

#endif /* RADAR_LOG_H */
