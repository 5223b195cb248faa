/* fuzz_ngram_table.c - libFuzzer target for the n-gram table loader (ngram_table.h). Each input
 * is written to a private temp file and loaded (vocabulary 50, fingerprint not checked); a
 * rejected input must come with a message; a loaded table is probed with lookups taken from the
 * input's bytes and every row must keep the promised invariants (abort on violation). Seed corpus:
 * corpus/ngram_table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ngram_table.h"

#define NV 50u

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_ngram_table: invariant violated: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_ngt_%d.ngt", (int) getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    char err[512] = "";
    ngram_table_t *t = ngram_table_load(path, NV, 0, err, sizeof err);
    if (!t) {
        check(err[0] != 0, "a refused table comes with a message");
        return 0;
    }
    const uint32_t mo = ngram_table_max_order(t);
    check(mo >= 1 && mo <= NGT_MAX_ORDER, "max_order in range");
    for (size_t i = 0; i + 4 <= size && i < 256; i += 4) {
        int32_t ctx[4];
        for (int j = 0; j < 4; j++) ctx[j] = (int32_t) (data[i + (size_t) j] % (NV + 2)) - 1; /* -1 and NV: out of range */
        ngt_row_t r;
        if (!ngram_table_lookup(t, ctx, 1 + data[i] % 4, data[i + 1] % 3, &r)) continue;
        check(r.order >= 1 && r.order <= mo, "row order in range");
        uint64_t s = 0;
        for (uint32_t j = 0; j < r.n; j++) {
            check(r.tok[j] < NV, "follower in the vocabulary");
            check(r.cnt[j] > 0 && (j == 0 || r.cnt[j] <= r.cnt[j - 1]), "counts positive and descending");
            s += r.cnt[j];
        }
        check(s <= r.total, "followers within the context's total");
    }
    ngram_table_free(t);
    return 0;
}
