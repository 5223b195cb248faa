/* cmd_draft_eval.c - refhost draft-eval: measures a feature draft head in the C host.
 *
 * Over held-out chat replies recorded by `refhost draft-data` (the target's own greedy text), it
 * walks the reply one root at a time like the session does (target forward + commit +
 * target_committed, then begin_cycle / forward of a chain that follows the reply) and reports
 * the head's top-1 acceptance at each depth and the chain acceptance. It also times one draft
 * call of a level of --level nodes (the root's top children; through sess_draft_topk, as the
 * session calls it, top-10 per node) against one target one-token forward, side by side, and
 * prints the cost ratio. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_commands.h"
#include "cli_common.h"
#include "feature_head.h"

#define DE_MAX_DEPTH 16
#define DE_MAX_LEVEL 64
#define DE_TOP_K 10       /* top-k per node of the timed level call */

static void usage(FILE *f) {
    fputs("usage: refhost draft-eval --head FILE --data DIR [options]\n"
          "  --model PATH     target GGUF (default: the standard model)\n"
          "  --head FILE      draft head GGUF\n"
          "  --data DIR       a draft-data directory; sequences i with i %% HOLDOUT == 0 are evaluated\n"
          "  --holdout N      (default 20, as scripts/draft_head_train.py)\n"
          "  --depth D        chain depth (default 4)\n"
          "  --level N        nodes in the timed level call (default 10)\n"
          "  --max-roots N    roots evaluated at most (default 400)\n"
          "  --threads N      target threads (default 2); the head uses --draft-threads (default: as\n"
          "                   --threads, like generate)\n"
          "  --q8             re-encode the head's matrices as Q8_0 at load\n"
          "  --lm-head TYPE   re-encode the LM head as TYPE (q8_0, q4_1, q4_0, f16; needs --q8)\n"
          "  --vocab N        keep the head's N most frequent draft tokens (default: all)\n"
          "  --no-scatter     time the draft without mapping its logits to the target vocab\n"
          "                   (acceptance is then not measured)\n",
          f);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int argmax(const float *l, uint32_t n) {
    uint32_t b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return (int) b;
}

/* target: forward c[from..to) as a chain, commit, hand the rows to the draft */
static int advance(llm_ctx_t *ctx, sess_draft_t *dr, const int32_t *c, uint32_t from, uint32_t to, float *logits,
                   uint64_t *t_ns) {
    int32_t par[64];
    while (from < to) {
        uint32_t m = to - from < 64 ? to - from : 64;
        for (uint32_t i = 0; i < m; i++) par[i] = (int32_t) i - 1;
        uint64_t t0 = now_ns();
        if (llm_forward(ctx, c + from, par, m, NULL, logits) != 0) return -1;
        if (t_ns) *t_ns += now_ns() - t0;
        for (uint32_t i = 0; i < m; i++) par[i] = (int32_t) i;
        if (llm_commit(ctx, par, m) != 0 || dr->target_committed(dr->ctx, par, m) != 0) return -1;
        from += m;
    }
    return 0;
}

int cmd_draft_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"head", required_argument, 0, 'H'},
        {"data", required_argument, 0, 'd'}, {"holdout", required_argument, 0, 'o'},
        {"depth", required_argument, 0, 'D'}, {"level", required_argument, 0, 'l'},
        {"max-roots", required_argument, 0, 'r'}, {"threads", required_argument, 0, 't'},
        {"draft-threads", required_argument, 0, 'T'}, {"q8", no_argument, 0, 'q'},
        {"no-scatter", no_argument, 0, 'N'}, {"lm-head", required_argument, 0, 'L'}, {"vocab", required_argument, 0, 'V'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model = cli_default_model(), *head = NULL, *dir = NULL;
    unsigned long holdout = 20, depth = 4, level = 10, max_roots = 400, threads = 2, dthreads = 0;
    int c, q8 = 0, no_scatter = 0;
    uint32_t lm_type = GGML_TYPE_F32;
    unsigned long vocab = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'H': head = optarg; break;
        case 'd': dir = optarg; break;
        case 'o': holdout = strtoul(optarg, NULL, 10); break;
        case 'D': depth = strtoul(optarg, NULL, 10); break;
        case 'l': level = strtoul(optarg, NULL, 10); break;
        case 'r': max_roots = strtoul(optarg, NULL, 10); break;
        case 't': threads = strtoul(optarg, NULL, 10); break;
        case 'T': dthreads = strtoul(optarg, NULL, 10); break;
        case 'q': q8 = 1; break;
        case 'N': no_scatter = 1; break;
        case 'V': vocab = strtoul(optarg, NULL, 10); break;
        case 'L':
            if (fh_type_by_name(optarg, &lm_type) != 0) {
                fprintf(stderr, "refhost draft-eval: --lm-head wants f32, f16, q8_0, q4_1 or q4_0, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc || !head || !dir || !holdout || !depth || depth > DE_MAX_DEPTH || !level || level > DE_MAX_LEVEL) {
        usage(stderr);
        return EXIT_USAGE;
    }
    size_t n_tok_b = 0, n_seq_b = 0;
    char rerr[256];
    int32_t *tokens = (int32_t *) cli_read_file_in(dir, "tokens.i32", &n_tok_b, rerr, sizeof rerr);
    uint32_t *seqs = (uint32_t *) cli_read_file_in(dir, "seqs.u32", &n_seq_b, rerr, sizeof rerr);
    if (!tokens || !seqs) {
        fprintf(stderr, "refhost draft-eval: %s has no tokens.i32/seqs.u32 (run refhost draft-data)\n", dir);
        free(tokens);
        free(seqs);
        return EXIT_INPUT;
    }
    char err[1024];
    cli_model_t m;
    if (cli_model_open(&m, model, err, sizeof err) != 0) {
        fprintf(stderr, "refhost draft-eval: %s\n", err);
        free(tokens);
        free(seqs);
        return EXIT_INPUT;
    }
    const uint32_t nv = llm_model_hparams(m.model)->n_vocab;
    llm_ctx_params_t cp = {.n_ctx = 1024, .max_batch = 64, .n_threads = (int) threads};
    llm_ctx_t *ctx = llm_ctx_create(m.model, &cp, err, sizeof err);
    feature_head_backend_t fb = {0};
    sess_draft_t dr;
    float *tl = malloc((size_t) 64 * nv * sizeof(float)), *dl = malloc((size_t) DE_MAX_LEVEL * nv * sizeof(float));
    int rc = EXIT_RUNTIME;
    if (!ctx || !tl || !dl) {
        fprintf(stderr, "refhost draft-eval: %s\n", ctx ? "out of memory" : err);
        goto done;
    }
    const feature_head_opts_t ho = {q8 ? GGML_TYPE_Q8_0 : GGML_TYPE_F32, lm_type, (uint32_t) vocab};
    if (feature_head_backend_open_opts(&fb, head, m.gguf, m.model, ctx, (int) (dthreads ? dthreads : threads), &ho, &dr,
                                       err, sizeof err) != 0) {
        fprintf(stderr, "refhost draft-eval: %s\n", err);
        rc = EXIT_INPUT;
        goto done;
    }
    if (no_scatter) fh_draft_set_scatter(fb.draft, 0);
    uint64_t hit[DE_MAX_DEPTH] = {0}, chain[DE_MAX_DEPTH] = {0}, roots = 0;
    uint64_t t_target = 0, n_target = 0, t_level = 0, n_level = 0, t_chain = 0, n_chain = 0;
    const size_t n_seqs = n_seq_b / 16, n_all = n_tok_b / 4;
    for (size_t s = 0; s < n_seqs && roots < max_roots; s += holdout) {
        const uint32_t first = seqs[4 * s], len = seqs[4 * s + 1], kind = seqs[4 * s + 2], n_prompt = seqs[4 * s + 3];
        if (kind != 1 || (size_t) first + len > n_all || len > 1000 || n_prompt < 2 || len < n_prompt + depth + 1) continue;
        const int32_t *cs = tokens + first;
        if (llm_truncate(ctx, 0) != 0 || advance(ctx, &dr, cs, 0, n_prompt - 1, tl, NULL) != 0) goto fail;
        for (uint32_t r = n_prompt - 1; r + depth < len && roots < max_roots; r++) {
            /* chain along the reply: node k has token c[r+k], its prediction should be c[r+k+1] */
            int32_t tokk[1], park[1];
            uint32_t ne;
            if (dr.begin_cycle(dr.ctx, cs, r + 1) != 0) goto fail;
            int alive = 1;
            for (uint32_t k = 0; k < depth; k++) {
                tokk[0] = cs[r + k];
                park[0] = (int32_t) k - 1;
                uint64_t t0 = now_ns();
                if (dr.forward(dr.ctx, k, tokk, park, 1, dl, &ne) != 0) goto fail;
                t_chain += now_ns() - t0;
                n_chain++;
                int ok = argmax(dl, nv) == cs[r + k + 1];
                hit[k] += (uint64_t) ok;
                alive &= ok;
                chain[k] += (uint64_t) alive;
            }
            dr.end_cycle(dr.ctx);
            /* a level of `level` siblings under the root: the root's top tokens */
            if (dr.begin_cycle(dr.ctx, cs, r + 1) != 0) goto fail;
            tokk[0] = cs[r];
            park[0] = -1;
            if (dr.forward(dr.ctx, 0, tokk, park, 1, dl, &ne) != 0) goto fail;
            int32_t lt[DE_MAX_LEVEL], lp[DE_MAX_LEVEL], top_ids[DE_MAX_LEVEL * DE_TOP_K];
            float top_lp[DE_MAX_LEVEL * DE_TOP_K];
            for (uint32_t i = 0; i < level; i++) {
                int b = argmax(dl, nv);
                lt[i] = b;
                lp[i] = 0;
                dl[b] = -INFINITY;
            }
            /* timed as the session calls it: the sparse top-k path when the draft has one */
            uint64_t t0 = now_ns();
            if (sess_draft_topk(&dr, nv, 1, lt, lp, (uint32_t) level, NULL, DE_TOP_K, dl, top_ids, top_lp, &ne) != 0)
                goto fail;
            t_level += now_ns() - t0;
            n_level++;
            dr.end_cycle(dr.ctx);
            /* the target takes the root: one one-token forward */
            if (advance(ctx, &dr, cs, r, r + 1, tl, &t_target) != 0) goto fail;
            n_target++;
            roots++;
        }
    }
    printf("roots %" PRIu64 "\n", roots);
    printf("top-1 per depth:");
    for (uint32_t k = 0; k < depth; k++) printf(" d%u %.3f", k + 1, roots ? (double) hit[k] / roots : 0.0);
    printf("\nchain acceptance:");
    double tau = 1.0;
    for (uint32_t k = 0; k < depth; k++) {
        printf(" %.3f", roots ? (double) chain[k] / roots : 0.0);
        tau += roots ? (double) chain[k] / roots : 0.0;
    }
    printf("\nexpected tokens per cycle, chain of depth %lu: %.2f\n", depth, tau);
    const double tt = n_target ? t_target / 1e6 / n_target : 0, tlv = n_level ? t_level / 1e6 / n_level : 0,
                 tc = n_chain ? t_chain / 1e6 / n_chain : 0;
    printf("target one-token forward %.3f ms; draft call of %lu nodes %.3f ms (ratio %.3f); one-node call %.3f ms "
           "(ratio %.3f)\n", tt, level, tlv, tt > 0 ? tlv / tt : 0, tc, tt > 0 ? tc / tt : 0);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "refhost draft-eval: %s / %s\n", llm_last_error(ctx), dr.error ? dr.error(dr.ctx) : "");
done:
    feature_head_backend_close(&fb);
    llm_ctx_free(ctx);
    cli_model_close(&m);
    free(tl);
    free(dl);
    free(tokens);
    free(seqs);
    return rc;
}
