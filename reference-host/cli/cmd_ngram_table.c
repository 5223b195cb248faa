/* cmd_ngram_table.c - refhost ngram-table: builds the n-gram draft's static table (ngram_table.h)
 * from a draft-data directory: for every context of 1..max-order tokens, the target's most
 * frequent argmax continuations. Sequences i with i % holdout == 0 are left out (the same held-out
 * slice as scripts/draft_head_train.py), so the table can be evaluated on them. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "ngram_table.h"

static void usage(FILE *f) {
    fputs("usage: refhost ngram-table --data DIR --out FILE [options]\n"
          "  --data DIR        a refhost draft-data directory (tokens.i32, topk_id.i32, seqs.u32, meta.txt)\n"
          "  --out FILE        the table to write\n"
          "  --max-order N     longest context, 1..4 (default 3)\n"
          "  --followers N     continuations kept per context, 1..16 (default 4)\n"
          "  --min-count N     drop contexts seen fewer times (default 2)\n"
          "  --holdout N       leave out sequences i with i %% N == 0 (default 20; 0 = use all)\n",
          f);
}

/* "key=value" lines of meta.txt */
static int meta_get(const char *meta, const char *key, char *out, size_t cap) {
    const size_t kl = strlen(key);
    for (const char *p = meta; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, "\n");
            if (n >= cap) return -1;
            memcpy(out, p + kl + 1, n);
            out[n] = 0;
            return 0;
        }
    return -1;
}

int cmd_ngram_table(int argc, char **argv) {
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
        {"max-order", required_argument, 0, 'm'}, {"followers", required_argument, 0, 'f'},
        {"min-count", required_argument, 0, 'c'}, {"holdout", required_argument, 0, 'H'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *dir = NULL, *out = NULL;
    unsigned long max_order = 3, follow = 4, min_count = 2, holdout = 20;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'd': dir = optarg; break;
        case 'o': out = optarg; break;
        case 'm': max_order = strtoul(optarg, &end, 10); break;
        case 'f': follow = strtoul(optarg, &end, 10); break;
        case 'c': min_count = strtoul(optarg, &end, 10); break;
        case 'H': holdout = strtoul(optarg, &end, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
        if (end && *end) {
            fprintf(stderr, "refhost ngram-table: '%s' is not a number\n", optarg);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || !dir || !out || max_order < 1 || max_order > NGT_MAX_ORDER || follow < 1 ||
        follow > NGT_MAX_FOLLOW || min_count < 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[1024], val[64];
    size_t n_meta = 0, n_tok = 0, n_top = 0, n_seq = 0;
    char *meta = cli_read_file_in(dir, "meta.txt", &n_meta, err, sizeof err);
    int32_t *tokens = meta ? (void *) cli_read_file_in(dir, "tokens.i32", &n_tok, err, sizeof err) : NULL;
    int32_t *top = tokens ? (void *) cli_read_file_in(dir, "topk_id.i32", &n_top, err, sizeof err) : NULL;
    uint32_t *seqs = top ? (void *) cli_read_file_in(dir, "seqs.u32", &n_seq, err, sizeof err) : NULL;
    int32_t *label = NULL;
    uint64_t *start = NULL, *len = NULL;
    int rc = EXIT_INPUT;
    if (!seqs) {
        fprintf(stderr, "refhost ngram-table: %s (run refhost draft-data first)\n", err);
        goto done;
    }
    uint32_t nv = 0, k = 0;
    uint64_t fp = 0;
    if (meta_get(meta, "n_vocab", val, sizeof val) || sscanf(val, "%u", &nv) != 1 ||
        meta_get(meta, "topk", val, sizeof val) || sscanf(val, "%u", &k) != 1 || k == 0 ||
        meta_get(meta, "target_fingerprint", val, sizeof val) || sscanf(val, "%" SCNx64, &fp) != 1) {
        fprintf(stderr, "refhost ngram-table: %s/meta.txt lacks n_vocab, topk or target_fingerprint\n", dir);
        goto done;
    }
    const uint64_t n = n_tok / 4;
    if (n_tok % 4 || n_top != n * k * 4 || n_seq % 16) {
        fprintf(stderr, "refhost ngram-table: %s: tokens.i32, topk_id.i32 (topk %u) and seqs.u32 disagree in size\n",
                dir, k);
        goto done;
    }
    const uint64_t ns = n_seq / 16;
    label = malloc((n ? n : 1) * sizeof *label);
    start = malloc((ns ? ns : 1) * sizeof *start);
    len = malloc((ns ? ns : 1) * sizeof *len);
    if (!label || !start || !len) {
        fprintf(stderr, "refhost ngram-table: out of memory\n");
        rc = EXIT_RUNTIME;
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) label[i] = top[i * k]; /* the target's argmax after tokens[..i] */
    uint64_t m = 0, n_used = 0;
    for (uint64_t s = 0; s < ns; s++) {
        if (holdout && s % holdout == 0) continue;
        start[m] = seqs[4 * s];
        len[m] = seqs[4 * s + 1];
        n_used += len[m++];
    }
    uint64_t ne = 0;
    if (ngram_table_build(out, tokens, label, n, start, len, m, nv, (uint32_t) max_order, (uint32_t) follow,
                          (uint32_t) min_count, fp, &ne, err, sizeof err) != 0) {
        fprintf(stderr, "refhost ngram-table: %s\n", err);
        goto done;
    }
    printf("ngram-table: %" PRIu64 " contexts (orders 1..%lu, %lu followers, seen >= %lu times) from %" PRIu64
           " tokens in %" PRIu64 " of %" PRIu64 " sequences -> %s\n",
           ne, max_order, follow, min_count, n_used, m, ns, out);
    rc = 0;
done:
    free(meta);
    free(tokens);
    free(top);
    free(seqs);
    free(label);
    free(start);
    free(len);
    return rc;
}
