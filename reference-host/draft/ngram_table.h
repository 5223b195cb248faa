/* ngram_table.h - a static n-gram table of what the target says: for contexts of 1..max_order
 * tokens, the target's most frequent next tokens (its argmax) with their counts, counted over the
 * target's own replies and teacher-forced text (refhost draft-data output). The n-gram draft falls
 * back to it when the text so far has no long enough match, so a weightless draft also proposes
 * common continuations ("of the", code boilerplate) at no cost.
 *
 * File (little-endian; documented in policies/ngram/README.md):
 *   char magic[8] "DSNGTAB1"; u32 version (1), n_vocab, max_order (1..4), n_follow (1..16);
 *   u64 n_entries, target_fingerprint (fh_target_fingerprint), checksum (fh_hash of the entries);
 *   entries sorted by (order, ctx): u32 order, ctx[max_order] (oldest first, 0 past order),
 *   total (count of the context), tok[n_follow], cnt[n_follow] (descending, 0 = none).
 * Loading checks all of it and names the problem; a table for another target is refused. */
#ifndef NGRAM_TABLE_H
#define NGRAM_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define NGT_MAGIC "DSNGTAB1"
#define NGT_VERSION 1u
#define NGT_MAX_ORDER 4u
#define NGT_MAX_FOLLOW 16u

typedef struct ngram_table ngram_table_t;

/* One context's row (pointers into the table). */
typedef struct ngt_row {
    uint32_t order, total, n;       /* n followers with cnt > 0 */
    const uint32_t *tok, *cnt;
} ngt_row_t;

/* Loads path and checks it against a target (n_vocab and its fingerprint; fingerprint 0 skips
 * that check). NULL and a message naming the file and the problem. */
ngram_table_t *ngram_table_load(const char *path, uint32_t n_vocab, uint64_t target_fingerprint, char *err,
                                size_t cap);
void ngram_table_free(ngram_table_t *t);
uint32_t ngram_table_max_order(const ngram_table_t *t);
uint64_t ngram_table_entries(const ngram_table_t *t);

/* The row of the longest context among the last 1..max_order tokens of ctx[0..n) (oldest first)
 * whose total is at least min_total. 1 and *out, or 0 if none. */
int ngram_table_lookup(const ngram_table_t *t, const int32_t *ctx, uint32_t n, uint32_t min_total, ngt_row_t *out);

/* Builds a table from draft-data arrays: tokens[0..n), label[p] = the target's argmax after
 * tokens[..p], sequences (start, length) pairs; positions whose context would cross a sequence
 * start are skipped. Entries with total < min_count are dropped. Writes path. 0 or -1 with a
 * message. *n_entries_out (may be NULL) = entries written. */
int ngram_table_build(const char *path, const int32_t *tokens, const int32_t *label, uint64_t n,
                      const uint64_t *seq_start, const uint64_t *seq_len, uint64_t n_seqs, uint32_t n_vocab,
                      uint32_t max_order, uint32_t n_follow, uint32_t min_count, uint64_t target_fingerprint,
                      uint64_t *n_entries_out, char *err, size_t cap);

#endif
