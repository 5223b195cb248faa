/* cmd_draft_data.c - refhost draft-data: training data for the feature draft head.
 *
 * Runs the target over documents (teacher forcing) or over its own greedy replies to
 * instructions (self-distillation) and appends, for every token it forwards: the token id, the
 * inputs of the three fused layers (F16), and the target's top-k next-token logits. The output
 * directory holds flat little-endian arrays that scripts/draft_head_train.py memory-maps:
 *   tokens.i32 [N], feats.f16 [N][3][n_embd], topk_id.i32 [N][K], topk_logit.f16 [N][K],
 *   seqs.u32 [S][4] = {first token, length, kind (0 text, 1 chat reply), prompt length},
 *   embd.f32 [n_vocab][n_embd] (the target's token embedding, dequantized), meta.txt.
 * Inputs are NUL-separated records (documents or instructions). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "feature_head.h"
#include "kernels.h"

#define DD_BATCH 64u

static void usage(FILE *f) {
    fputs("usage: refhost draft-data --out DIR (--docs FILE | --instructions FILE) [options]\n"
          "  --model PATH         target GGUF (default: the standard model)\n"
          "  --docs FILE          NUL-separated documents, run with teacher forcing\n"
          "  --instructions FILE  NUL-separated instructions; the target answers greedily (chat)\n"
          "  --limit N            stop after N tokens in total (default 100000)\n"
          "  --seq-len N          tokens per document / prompt + reply at most (default 512)\n"
          "  --max-new N          reply tokens at most (default 192)\n"
          "  --topk K             target logits kept per token (default 32)\n"
          "  --layers A,B,C       target layers whose input is recorded (default 2,L/2,L-3)\n"
          "  --threads N          (default 2)\n"
          "  --skip-records N     start at record N (resume a run; prints the next record at the end)\n"
          "Appends to the files in DIR (creates them).\n",
          f);
}

typedef struct dd_out {
    FILE *tokens, *feats, *topk_id, *topk_logit, *seqs;
    uint64_t n_tokens;
} dd_out_t;

typedef struct dd {
    llm_ctx_t *ctx;
    const tokenizer_t *tok;
    uint32_t e, nv, topk, layers[FH_N_FUSE], seq_len, max_new;
    float *logits;        /* DD_BATCH x nv */
    uint16_t *f16;        /* 3 x e */
    int32_t *ids;         /* topk */
    uint16_t *vals;
    dd_out_t out;
    uint64_t limit, t0_ns;
} dd_t;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void progress(const dd_t *d, uint64_t base, int final) {
    static uint64_t last;
    uint64_t t = now_ns();
    if (!final && t - last < 1000000000u) return;
    last = t;
    const uint64_t done = d->out.n_tokens - base;
    const double el = (double) (t - d->t0_ns) * 1e-9, rate = el > 0 ? done / el : 0;
    const double eta = rate > 0 && d->limit > done ? (d->limit - done) / rate : 0;
    int w = d->limit ? (int) (30.0 * (double) done / (double) d->limit) : 0;
    if (w > 30) w = 30;
    fprintf(stderr, "\rdraft-data [%.*s%*s] %" PRIu64 "/%" PRIu64 " tokens %.0f tok/s ETA %02d:%02d%s", w,
            "##############################", 30 - w, "", done, d->limit, rate, (int) eta / 60, (int) eta % 60,
            final ? "\n" : "");
}

/* top-k of one logits row, sorted descending (insertion into a short list) */
static void topk_row(const float *l, uint32_t n, uint32_t k, int32_t *ids) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        float v = l[i];
        if (m == k && v <= l[ids[m - 1]]) continue;
        uint32_t j = m < k ? m++ : k - 1;
        while (j > 0 && l[ids[j - 1]] < v) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = (int32_t) i;
    }
}

/* Forwards toks[0..n) (appended to the target's cache), commits them, records every row. */
static int run_rows(dd_t *d, const int32_t *toks, uint32_t n, char *err, size_t cap) {
    int32_t parent[DD_BATCH];
    for (uint32_t done = 0; done < n;) {
        uint32_t m = n - done < DD_BATCH ? n - done : DD_BATCH;
        for (uint32_t i = 0; i < m; i++) parent[i] = (int32_t) i - 1;
        if (llm_forward(d->ctx, toks + done, parent, m, NULL, d->logits) != 0) {
            snprintf(err, cap, "target forward: %s", llm_last_error(d->ctx));
            return -1;
        }
        for (uint32_t i = 0; i < m; i++) {
            for (uint32_t l = 0; l < FH_N_FUSE; l++) {
                const float *h = llm_hidden(d->ctx, d->layers[l], i);
                if (!h) {
                    snprintf(err, cap, "target did not keep layer %u", d->layers[l]);
                    return -1;
                }
                for (uint32_t c = 0; c < d->e; c++) {
                    float x = h[c] > 65000.0f ? 65000.0f : h[c] < -65000.0f ? -65000.0f : h[c];
                    d->f16[l * d->e + c] = kn_f32_to_fp16(x);
                }
            }
            const float *row = d->logits + (size_t) i * d->nv;
            topk_row(row, d->nv, d->topk, d->ids);
            for (uint32_t j = 0; j < d->topk; j++) d->vals[j] = kn_f32_to_fp16(row[d->ids[j]]);
            if (fwrite(toks + done + i, 4, 1, d->out.tokens) != 1 ||
                fwrite(d->f16, 2, (size_t) FH_N_FUSE * d->e, d->out.feats) != (size_t) FH_N_FUSE * d->e ||
                fwrite(d->ids, 4, d->topk, d->out.topk_id) != d->topk ||
                fwrite(d->vals, 2, d->topk, d->out.topk_logit) != d->topk) {
                snprintf(err, cap, "write failed: %s", strerror(errno));
                return -1;
            }
            d->out.n_tokens++;
        }
        for (uint32_t i = 0; i < m; i++) parent[i] = (int32_t) i;
        if (llm_commit(d->ctx, parent, m) != 0) {
            snprintf(err, cap, "target commit: %s", llm_last_error(d->ctx));
            return -1;
        }
        done += m;
    }
    return 0;
}

static int write_seq(dd_t *d, uint64_t first, uint32_t len, uint32_t kind, uint32_t n_prompt) {
    uint32_t rec[4] = {(uint32_t) first, len, kind, n_prompt};
    return fwrite(rec, 4, 4, d->out.seqs) == 4 ? 0 : -1;
}

/* One record: a document (teacher forcing) or an instruction (prompt + greedy reply). */
static int do_record(dd_t *d, const char *text, int chat, char *err, size_t cap) {
    uint32_t n = 0;
    int32_t *ids = cli_tokenize(d->tok, text, chat, &n, err, cap);
    if (!ids) return -1;
    if (n > d->seq_len) n = d->seq_len;
    if (n < 8 || (chat && n + 16 > d->seq_len)) {
        free(ids);
        return 0; /* too short to teach anything / no room for a reply */
    }
    const uint64_t first = d->out.n_tokens;
    int rc = llm_truncate(d->ctx, 0);
    if (rc == 0) rc = run_rows(d, ids, n, err, cap);
    uint32_t len = n;
    if (rc == 0 && chat) {
        /* greedy reply: the argmax of the last row is the next token */
        int32_t next;
        for (uint32_t k = 0; k < d->max_new && len < d->seq_len; k++) {
            /* the prompt's last row sits at (n - 1) % DD_BATCH; one-token forwards write row 0 */
            const float *row = d->logits + (k == 0 ? (size_t) ((n - 1) % DD_BATCH) * d->nv : 0);
            int32_t best = 0;
            for (uint32_t v = 1; v < d->nv; v++)
                if (row[v] > row[best]) best = (int32_t) v;
            next = best;
            if (tok_is_eog(d->tok, next)) break;
            if ((rc = run_rows(d, &next, 1, err, cap)) != 0) break;
            len++;
        }
    }
    free(ids);
    if (rc != 0) return -1;
    if (write_seq(d, first, len, (uint32_t) chat, chat ? n : 0) != 0) {
        snprintf(err, cap, "write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static FILE *open_out(const char *dir, const char *name, char *err, size_t cap) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "ab");
    if (!f) snprintf(err, cap, "%.500s: %.200s", path, strerror(errno));
    return f;
}

static int write_meta(const char *dir, const cli_model_t *m, const dd_t *d, char *err, size_t cap) {
    const llm_hparams_t *hp = llm_model_hparams(m->model);
    uint64_t fp;
    if (fh_target_fingerprint(m->gguf, hp, &fp, err, cap)) return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, cap, "%.500s: %.200s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "target_fingerprint=%016" PRIx64 "\nn_vocab=%u\nn_embd=%u\nn_layer=%u\nn_head=%u\nn_head_kv=%u\n"
            "head_dim=%u\nn_ff=%u\nrms_eps=%.9g\nrope_freq_base=%.9g\nfuse_layers=%u,%u,%u\ntopk=%u\n",
            fp, hp->n_vocab, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_ff,
            (double) hp->rms_eps, (double) hp->rope_freq_base, d->layers[0], d->layers[1], d->layers[2], d->topk);
    fclose(f);
    /* the frozen token embedding, once */
    snprintf(path, sizeof path, "%s/embd.f32", dir);
    struct stat st;
    if (stat(path, &st) == 0 && (uint64_t) st.st_size == (uint64_t) hp->n_vocab * hp->n_embd * 4) return 0;
    const gguf_tensor_t *t = gguf_find_tensor(m->gguf, "token_embd.weight");
    f = fopen(path, "wb");
    float *row = malloc(hp->n_embd * sizeof *row);
    if (!t || !f || !row) {
        snprintf(err, cap, "%s: cannot write the embedding", path);
        if (f) fclose(f);
        free(row);
        return -1;
    }
    const size_t rb = kn_row_bytes(t->type, hp->n_embd);
    for (uint32_t v = 0; v < hp->n_vocab; v++) {
        kn_dequant_row(t->type, (const uint8_t *) t->data + (size_t) v * rb, row, hp->n_embd);
        fwrite(row, 4, hp->n_embd, f);
    }
    free(row);
    return fclose(f) == 0 ? 0 : -1;
}

int cmd_draft_data(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'},
        {"docs", required_argument, 0, 'd'}, {"instructions", required_argument, 0, 'i'},
        {"limit", required_argument, 0, 'l'}, {"seq-len", required_argument, 0, 's'},
        {"max-new", required_argument, 0, 'n'}, {"topk", required_argument, 0, 'k'},
        {"layers", required_argument, 0, 'L'}, {"threads", required_argument, 0, 't'},
        {"skip-records", required_argument, 0, 'S'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model = cli_default_model(), *out = NULL, *docs = NULL, *instr = NULL, *layers = NULL;
    unsigned long limit = 100000, seq_len = 512, max_new = 192, topk = 32, threads = 2, skip = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'd': docs = optarg; break;
        case 'i': instr = optarg; break;
        case 'l': limit = strtoul(optarg, NULL, 10); break;
        case 's': seq_len = strtoul(optarg, NULL, 10); break;
        case 'n': max_new = strtoul(optarg, NULL, 10); break;
        case 'k': topk = strtoul(optarg, NULL, 10); break;
        case 'L': layers = optarg; break;
        case 't': threads = strtoul(optarg, NULL, 10); break;
        case 'S': skip = strtoul(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc || !out || !docs == !instr || seq_len < 16 || seq_len > 4096 || topk < 1 || topk > 256) {
        fputs("refhost draft-data: need --out and exactly one of --docs/--instructions (seq-len 16..4096, topk 1..256)\n",
              stderr);
        return EXIT_USAGE;
    }
    char err[1024];
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "refhost draft-data: %s: %s\n", out, strerror(errno));
        return EXIT_INPUT;
    }
    size_t in_len = 0;
    char *in = cli_read_file(docs ? docs : instr, &in_len, err, sizeof err);
    if (!in) {
        fprintf(stderr, "refhost draft-data: %s\n", err);
        return EXIT_INPUT;
    }
    cli_model_t m;
    if (cli_model_open(&m, model, err, sizeof err) != 0) {
        fprintf(stderr, "refhost draft-data: %s\n", err);
        free(in);
        return EXIT_INPUT;
    }
    const llm_hparams_t *hp = llm_model_hparams(m.model);
    dd_t d = {.tok = m.tok, .e = hp->n_embd, .nv = hp->n_vocab, .topk = (uint32_t) topk,
              .seq_len = (uint32_t) seq_len, .max_new = (uint32_t) max_new, .limit = limit};
    d.layers[0] = 2;
    d.layers[1] = hp->n_layer / 2;
    d.layers[2] = hp->n_layer - 3;
    if (layers && sscanf(layers, "%u,%u,%u", &d.layers[0], &d.layers[1], &d.layers[2]) != 3) {
        fputs("refhost draft-data: --layers wants three comma-separated layer numbers\n", stderr);
        cli_model_close(&m);
        free(in);
        return EXIT_USAGE;
    }
    int rc = EXIT_RUNTIME;
    llm_ctx_params_t cp = {.n_ctx = (uint32_t) seq_len + 8, .max_batch = DD_BATCH, .n_threads = (int) threads};
    d.ctx = llm_ctx_create(m.model, &cp, err, sizeof err);
    d.logits = malloc((size_t) DD_BATCH * d.nv * sizeof(float));
    d.f16 = malloc((size_t) FH_N_FUSE * d.e * sizeof(uint16_t));
    d.ids = malloc(topk * sizeof(int32_t));
    d.vals = malloc(topk * sizeof(uint16_t));
    if (!d.ctx || !d.logits || !d.f16 || !d.ids || !d.vals) {
        fprintf(stderr, "refhost draft-data: %s\n", d.ctx ? "out of memory" : err);
        goto done;
    }
    if (llm_ctx_keep_hidden(d.ctx, d.layers, FH_N_FUSE) != 0) {
        fprintf(stderr, "refhost draft-data: %s\n", llm_last_error(d.ctx));
        goto done;
    }
    if (write_meta(out, &m, &d, err, sizeof err) != 0) {
        fprintf(stderr, "refhost draft-data: %s\n", err);
        goto done;
    }
    if (!(d.out.tokens = open_out(out, "tokens.i32", err, sizeof err)) ||
        !(d.out.feats = open_out(out, "feats.f16", err, sizeof err)) ||
        !(d.out.topk_id = open_out(out, "topk_id.i32", err, sizeof err)) ||
        !(d.out.topk_logit = open_out(out, "topk_logit.f16", err, sizeof err)) ||
        !(d.out.seqs = open_out(out, "seqs.u32", err, sizeof err))) {
        fprintf(stderr, "refhost draft-data: %s\n", err);
        goto done;
    }
    d.out.n_tokens = (uint64_t) ftell(d.out.tokens) / 4;
    const uint64_t base = d.out.n_tokens;
    d.t0_ns = now_ns();
    unsigned long rec_no = 0;
    for (size_t pos = 0; pos < in_len && d.out.n_tokens - base < limit; rec_no++) {
        const char *rec = in + pos;
        size_t len = strlen(rec);
        pos += len + 1;
        if (len == 0 || rec_no < skip) continue;
        if (do_record(&d, rec, instr != NULL, err, sizeof err) != 0) {
            fprintf(stderr, "\nrefhost draft-data: %s\n", err);
            goto done;
        }
        progress(&d, base, 0);
    }
    progress(&d, base, 1);
    fprintf(stderr, "draft-data: next record %lu\n", rec_no);
    rc = 0;
done:
    if (d.out.tokens) fclose(d.out.tokens);
    if (d.out.feats) fclose(d.out.feats);
    if (d.out.topk_id) fclose(d.out.topk_id);
    if (d.out.topk_logit) fclose(d.out.topk_logit);
    if (d.out.seqs) fclose(d.out.seqs);
    free(d.logits);
    free(d.f16);
    free(d.ids);
    free(d.vals);
    llm_ctx_free(d.ctx);
    cli_model_close(&m);
    free(in);
    return rc;
}
