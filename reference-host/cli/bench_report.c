/* bench_report.c - see bench_report.h */
#include "bench_report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_common.h"

static int same_tokens(const bench_rec_t *a, const bench_rec_t *b) {
    return a->n_gen == b->n_gen && (a->n_gen == 0 || memcmp(a->tokens, b->tokens, a->n_gen * sizeof *a->tokens) == 0);
}

int bench_aggregate(const bench_rec_t *recs, uint32_t n_recs, const bench_sel_t *sel, uint32_t n_sel,
                    uint32_t n_sets, uint32_t n_slots, uint32_t n_temps, const bench_slot_t *slots,
                    bench_row_t **rows_out) {
    (void) slots;
    uint32_t n_reps = 1;
    for (uint32_t i = 0; i < n_recs; i++)
        if (recs[i].rep + 1 > n_reps) n_reps = recs[i].rep + 1;
    /* AR's record of each (temperature, prompt, repeat) */
    const size_t n_ar = (size_t) n_temps * n_sel * n_reps;
    long *ar = malloc((n_ar ? n_ar : 1) * sizeof *ar);
    double *num = malloc((n_sel + 1) * sizeof *num), *den = malloc((n_sel + 1) * sizeof *den);
    bench_row_t *rows = calloc((size_t) n_slots * n_temps * (n_sets + 1) + 1, sizeof *rows);
    if (!ar || !num || !den || !rows) {
        free(ar); free(num); free(den); free(rows);
        return -1;
    }
    for (size_t i = 0; i < n_ar; i++) ar[i] = -1;
    for (uint32_t i = 0; i < n_recs; i++)
        if (recs[i].slot == 0) ar[((size_t) recs[i].temp * n_sel + recs[i].prompt) * n_reps + recs[i].rep] = i;

    uint32_t n_rows = 0;
    for (uint32_t s = 0; s < n_slots; s++)
        for (uint32_t t = 0; t < n_temps; t++)
            for (int g = -1; g < (int) n_sets; g++) {
                bench_row_t r = {.slot = s, .temp = t, .set = g, .overhead_ms_per_token = -1};
                uint64_t timed = 0, cycles = 0, dcalls = 0, verified = 0, overhead_tokens = 0;
                double decode = 0, prefill = 0, draft = 0, verify = 0, strat = 0, overhead = 0;
                uint32_t n_same = 0, n_cmp = 0, n_pairs = 0;
                for (uint32_t p = 0; p < n_sel; p++) {
                    if (g >= 0 && sel[p].set != (uint32_t) g) continue;
                    double rate = 0, ar_rate = 0;
                    uint32_t n_rate = 0, n_ar_rate = 0, used = 0;
                    for (uint32_t i = 0; i < n_recs; i++) {
                        const bench_rec_t *x = &recs[i];
                        if (x->slot != s || x->temp != t || x->prompt != p) continue;
                        used = 1;
                        r.n_runs++;
                        r.n_generated += x->n_gen;
                        timed += x->n_timed;
                        decode += x->decode_s;
                        prefill += x->prefill_s;
                        cycles += x->cycles;
                        dcalls += x->draft_calls;
                        verified += x->verified;
                        draft += x->draft_s;
                        verify += x->verify_s;
                        strat += x->strategy_s;
                        bench_ext_add(&r.ext, &x->ext);
                        if (x->overhead_s > 0) {
                            overhead += x->overhead_s;
                            overhead_tokens += x->n_timed;
                        }
                        if (x->decode_s > 0 && x->n_timed > 0) {
                            rate += x->n_timed / x->decode_s;
                            n_rate++;
                        }
                        long a = ar[((size_t) t * n_sel + p) * n_reps + x->rep];
                        if (a >= 0) {
                            n_cmp++;
                            n_same += (uint32_t) same_tokens(x, &recs[a]);
                            if (recs[a].decode_s > 0 && recs[a].n_timed > 0) {
                                ar_rate += recs[a].n_timed / recs[a].decode_s;
                                n_ar_rate++;
                            }
                        }
                    }
                    if (!used) continue;
                    r.n_prompts++;
                    if (n_rate && n_ar_rate) {
                        num[n_pairs] = rate / n_rate;
                        den[n_pairs] = ar_rate / n_ar_rate;
                        n_pairs++;
                    }
                }
                if (r.n_runs == 0) continue;
                r.tokens_per_s = decode > 0 ? (double) timed / decode : 0;
                r.has_speedup = n_pairs > 0 && bs_ratio_ci(num, den, n_pairs, &r.speedup) == 0;
                r.has_cycles = cycles > 0;
                if (r.has_cycles) {
                    r.tau = (double) r.n_generated / (double) cycles;
                    r.draft_calls_per_cycle = (double) dcalls / (double) cycles;
                    r.verified_per_cycle = (double) verified / (double) cycles;
                }
                r.draft_ms = draft * 1e3;
                r.verify_ms = verify * 1e3;
                r.strategy_ms = strat * 1e3;
                r.other_ms = r.has_cycles ? (decode - draft - verify - strat) * 1e3 : 0;
                r.prefill_ms_mean = prefill * 1e3 / r.n_runs;
                r.decode_ms = decode * 1e3;
                r.has_identical = n_cmp > 0;
                r.identical = n_cmp > 0 && n_same == n_cmp;
                r.identical_fraction = n_cmp ? (double) n_same / n_cmp : 0;
                if (overhead_tokens) r.overhead_ms_per_token = overhead * 1e3 / (double) overhead_tokens;
                rows[n_rows++] = r;
            }
    free(ar);
    free(num);
    free(den);
    *rows_out = rows;
    return (int) n_rows;
}

/* ------------------------------------------------------------------------------------ JSON */
static void jstr(FILE *f, const char *s) { cli_json_str(f, s ? s : "", s ? strlen(s) : 0); }

static void jnum(FILE *f, double x) {
    if (isfinite(x)) fprintf(f, "%.6g", x);
    else fputs("null", f);
}

static const char *set_name(const bench_result_t *r, int g) { return g < 0 ? "all" : r->set_names[g]; }

/* policy time share, draft calls and verified-size distributions from strategy extensions */
static void json_ext(FILE *f, const bench_row_t *w) {
    fputs(", \"policy_ms\": ", f);
    jnum(f, (double) w->ext.decision_ns / 1e6);
    fputs(", \"policy_share\": ", f);
    jnum(f, w->decode_ms > 0 ? (double) w->ext.decision_ns / 1e6 / w->decode_ms : 0);
    uint64_t tot = 0;
    for (uint32_t k = 0; k < BENCH_EXT_CALLS; k++) tot += w->ext.calls_hist[k];
    fputs(", \"draft_calls_distribution\": {", f);
    for (uint32_t k = 0, first = 1; k < BENCH_EXT_CALLS && tot; k++) {
        if (!w->ext.calls_hist[k]) continue;
        fprintf(f, "%s\"%u\": ", first ? "" : ", ", k);
        jnum(f, (double) w->ext.calls_hist[k] / (double) tot);
        first = 0;
    }
    fputs("}", f);
    if (!w->ext.n_sizes) return;
    tot = 0;
    for (uint32_t k = 0; k < w->ext.n_sizes; k++) tot += w->ext.size_hist[k];
    fputs(", \"v_distribution\": {", f);
    for (uint32_t k = 0, first = 1; k < w->ext.n_sizes && tot; k++) {
        if (!w->ext.size_hist[k]) continue;
        fprintf(f, "%s\"%u\": ", first ? "" : ", ", w->ext.sizes[k]);
        jnum(f, (double) w->ext.size_hist[k] / (double) tot);
        first = 0;
    }
    fputs("}", f);
}

int bench_write_json(FILE *f, const bench_result_t *r) {
    fputs("{\n  \"schema\": \"refhost-bench/1\",\n  \"machine\": {\"cpu_model\": ", f);
    jstr(f, r->cpu_model);
    fputs(", \"cpu_flags\": ", f);
    jstr(f, r->cpu_flags);
    fprintf(f, ", \"n_cpus\": %ld, \"kernels\": ", sysconf(_SC_NPROCESSORS_ONLN));
    jstr(f, r->isa);
    fputs("},\n  \"git_revision\": ", f);
    jstr(f, r->git_rev);
    fputs(",\n  \"config\": {\"file\": ", f);
    jstr(f, r->config_file);
    fputs(", \"model\": ", f);
    jstr(f, r->model);
    fprintf(f, ", \"max_tokens\": %u, \"repeats\": %u, \"prompts_per_set\": %u, \"seed\": %llu, \"threads\": %u, "
               "\"n_ctx\": %u, \"quick\": %s, \"fast\": %s, \"temperatures\": [",
            r->max_tokens, r->repeats, r->prompts_per_set, (unsigned long long) r->seed, r->threads, r->n_ctx,
            r->quick ? "true" : "false", r->fast ? "true" : "false");
    for (uint32_t i = 0; i < r->n_temps; i++) {
        if (i) fputs(", ", f);
        jnum(f, r->temps[i]);
    }
    fputs("],\n    \"configs\": [", f);
    for (uint32_t s = 0; s < r->n_slots; s++) {
        const bench_slot_t *sl = &r->slots[s];
        fputs(s ? ",\n      {\"name\": " : "\n      {\"name\": ", f);
        jstr(f, sl->name);
        fputs(", \"strategy\": ", f);
        jstr(f, sl->strategy);
        fputs(", \"draft\": ", f);
        jstr(f, sl->draft);
        fputs(", \"params\": ", f);
        jstr(f, sl->params);
        fputs(", \"source\": ", f);
        jstr(f, sl->source);
        fprintf(f, ", \"peer\": %s, \"baseline\": %s}", sl->kind != SLOT_OURS ? "true" : "false", s == 0 ? "true" : "false");
    }
    fputs("]},\n  \"prompt_sets\": [", f);
    for (uint32_t i = 0; i < r->n_sets; i++) {
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        jstr(f, r->set_names[i]);
        fputs(", \"path\": ", f);
        jstr(f, r->set_paths[i]);
        fputs(", \"sha256\": ", f);
        jstr(f, r->set_sha[i]);
        fprintf(f, ", \"manifest_checked\": %s, \"prompts_in_file\": %u, \"prompts_used\": %u}",
                r->set_checked[i] ? "true" : "false", r->set_n_file[i], r->set_n_used[i]);
    }
    fputs("],\n  \"peers\": {\"llama_cpp\": {\"status\": ", f);
    jstr(f, r->peer_status ? r->peer_status : "not requested");
    fputs(", \"version\": ", f);
    jstr(f, r->peer_version);
    fputs(", \"prompt_lookup_sweep\": [", f);
    for (uint32_t i = 0; i < r->n_sweep; i++) {
        fprintf(f, "%s{\"ngram\": %u, \"k\": %u, \"tokens_per_s\": ", i ? ", " : "", r->sweep[i].ngram, r->sweep[i].k);
        if (r->sweep[i].ok) jnum(f, r->sweep[i].tokens_per_s);
        else fputs("null", f);
        fprintf(f, ", \"best\": %s}", i == r->best_sweep ? "true" : "false");
    }
    fputs("]}},\n  \"results\": [", f);
    for (uint32_t i = 0; i < r->n_rows; i++) {
        const bench_row_t *w = &r->rows[i];
        const bench_slot_t *sl = &r->slots[w->slot];
        fputs(i ? ",\n    {\"config\": " : "\n    {\"config\": ", f);
        jstr(f, sl->name);
        fputs(", \"strategy\": ", f);
        jstr(f, sl->strategy);
        fputs(", \"set\": ", f);
        jstr(f, set_name(r, w->set));
        fputs(", \"temperature\": ", f);
        jnum(f, r->temps[w->temp]);
        fprintf(f, ", \"peer\": %s, \"n_prompts\": %u, \"n_runs\": %u, \"n_generated\": %llu, \"tokens_per_s\": ",
                sl->kind != SLOT_OURS ? "true" : "false", w->n_prompts, w->n_runs, (unsigned long long) w->n_generated);
        jnum(f, w->tokens_per_s);
        fputs(", \"speedup_vs_ar\": ", f);
        if (w->has_speedup) {
            jnum(f, w->speedup.mean);
            fputs(", \"speedup_ci95\": [", f);
            jnum(f, w->speedup.lo);
            fputs(", ", f);
            jnum(f, w->speedup.hi);
            fputs("]", f);
        } else {
            fputs("null, \"speedup_ci95\": null", f);
        }
        fputs(", \"tau\": ", f);
        if (w->has_cycles) jnum(f, w->tau); else fputs("null", f);
        fputs(", \"draft_calls_per_cycle\": ", f);
        if (w->has_cycles) jnum(f, w->draft_calls_per_cycle); else fputs("null", f);
        fputs(", \"verified_per_cycle\": ", f);
        if (w->has_cycles) jnum(f, w->verified_per_cycle); else fputs("null", f);
        fputs(", \"time_ms\": ", f);
        if (w->has_cycles) {
            fputs("{\"draft\": ", f); jnum(f, w->draft_ms);
            fputs(", \"verify\": ", f); jnum(f, w->verify_ms);
            fputs(", \"strategy\": ", f); jnum(f, w->strategy_ms);
            fputs(", \"other\": ", f); jnum(f, w->other_ms);
            fputs("}", f);
        } else {
            fputs("null", f);
        }
        fputs(", \"prefill_ms_mean\": ", f);
        jnum(f, w->prefill_ms_mean);
        fputs(", \"identical_to_ar\": ", f);
        fputs(w->has_identical ? (w->identical ? "true" : "false") : "null", f);
        fputs(", \"identical_fraction\": ", f);
        if (w->has_identical) jnum(f, w->identical_fraction); else fputs("null", f);
        if (w->overhead_ms_per_token >= 0) {
            fputs(", \"python_overhead_ms_per_token\": ", f);
            jnum(f, w->overhead_ms_per_token);
        }
        if (w->ext.has) json_ext(f, w);
        fputs("}", f);
    }
    fputs("],\n  \"ratios\": [", f);
    for (uint32_t i = 0; i < r->n_ratios; i++) {
        const bench_ratio_t *q = &r->ratios[i];
        fputs(i ? ",\n    {\"config\": " : "\n    {\"config\": ", f);
        jstr(f, r->slots[q->slot].name);
        fputs(", \"reference\": ", f);
        jstr(f, r->ref_label[q->ref]);
        fputs(", \"reference_config\": ", f);
        jstr(f, r->slots[q->ref_slot].name);
        fputs(", \"set\": ", f);
        jstr(f, set_name(r, q->set));
        fputs(", \"temperature\": ", f);
        jnum(f, r->temps[q->temp]);
        fputs(", \"ratio\": ", f);
        jnum(f, q->ratio.mean);
        fputs(", \"ci95\": [", f);
        jnum(f, q->ratio.lo);
        fputs(", ", f);
        jnum(f, q->ratio.hi);
        fprintf(f, "], \"n_prompts\": %zu}", q->ratio.n);
    }
    fputs("],\n  \"warnings\": [", f);
    for (uint32_t i = 0; i < r->n_warnings; i++) {
        if (i) fputs(", ", f);
        jstr(f, r->warnings[i]);
    }
    fprintf(f, "],\n  \"wall_s\": %.1f\n}\n", r->wall_s);
    return ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------------------------------ ratios */
/* mean tokens/s of slot s on prompt p at temperature t over its repeats; 0 if none */
static double prompt_rate(const bench_rec_t *recs, uint32_t n_recs, uint32_t s, uint32_t t, uint32_t p) {
    double sum = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_recs; i++) {
        const bench_rec_t *x = &recs[i];
        if (x->slot != s || x->temp != t || x->prompt != p || !(x->decode_s > 0) || !x->n_timed) continue;
        sum += x->n_timed / x->decode_s;
        n++;
    }
    return n ? sum / n : 0;
}

int bench_ratios(const bench_rec_t *recs, uint32_t n_recs, const bench_sel_t *sel, uint32_t n_sel, uint32_t n_sets,
                 uint32_t n_slots, uint32_t n_temps, const uint32_t *ref_slot, uint32_t n_refs,
                 bench_ratio_t **out) {
    double *num = malloc((n_sel + 1) * sizeof *num), *den = malloc((n_sel + 1) * sizeof *den);
    bench_ratio_t *rs = calloc((size_t) n_refs * n_slots * n_temps * (n_sets + 1) + 1, sizeof *rs);
    if (!num || !den || !rs) {
        free(num); free(den); free(rs);
        return -1;
    }
    uint32_t n_out = 0;
    for (uint32_t ref = 0; ref < n_refs; ref++)
        for (uint32_t t = 0; t < n_temps; t++) {
            const uint32_t rsl = ref_slot[ref * n_temps + t];
            if (rsl >= n_slots) continue;
            for (uint32_t s = 0; s < n_slots; s++)
                for (int g = -1; g < (int) n_sets; g++) {
                    uint32_t n = 0;
                    for (uint32_t p = 0; p < n_sel; p++) {
                        if (g >= 0 && sel[p].set != (uint32_t) g) continue;
                        const double a = prompt_rate(recs, n_recs, s, t, p), b = prompt_rate(recs, n_recs, rsl, t, p);
                        if (a > 0 && b > 0) {
                            num[n] = a;
                            den[n++] = b;
                        }
                    }
                    bench_ratio_t r = {.slot = s, .ref_slot = rsl, .temp = t, .ref = ref, .set = g};
                    if (n && bs_ratio_ci(num, den, n, &r.ratio) == 0) rs[n_out++] = r;
                }
        }
    free(num);
    free(den);
    *out = rs;
    return (int) n_out;
}

uint32_t bench_best_slot(const bench_row_t *rows, uint32_t n_rows, const uint32_t *members, uint32_t n, uint32_t t) {
    uint32_t best = UINT32_MAX;
    double best_v = 0;
    for (uint32_t i = 0; i < n_rows; i++) {
        const bench_row_t *w = &rows[i];
        if (w->temp != t || w->set != -1 || !w->has_speedup) continue;
        for (uint32_t j = 0; j < n; j++)
            if (members[j] == w->slot && (best == UINT32_MAX || w->speedup.mean > best_v)) {
                best = w->slot;
                best_v = w->speedup.mean;
            }
    }
    return best;
}

/* --------------------------------------------------------------------------------- Markdown */
static void md_table(FILE *f, const bench_result_t *r, uint32_t t, int set) {
    fputs("| config | strategy | draft | tokens/s | speedup vs AR [95% CI] | tau | draft calls/cycle | "
          "verified/cycle | identical to AR | prompts |\n|---|---|---|---:|---|---:|---:|---:|---|---:|\n", f);
    for (uint32_t i = 0; i < r->n_rows; i++) {
        const bench_row_t *w = &r->rows[i];
        if (w->temp != t || w->set != set) continue;
        const bench_slot_t *sl = &r->slots[w->slot];
        fprintf(f, "| %s | %s | %s | %.1f | ", sl->name, sl->strategy, sl->draft, w->tokens_per_s);
        if (w->has_speedup) fprintf(f, "%.3f [%.3f, %.3f] | ", w->speedup.mean, w->speedup.lo, w->speedup.hi);
        else fputs("- | ", f);
        if (w->has_cycles) fprintf(f, "%.2f | %.2f | %.2f | ", w->tau, w->draft_calls_per_cycle, w->verified_per_cycle);
        else fputs("- | - | - | ", f);
        if (w->has_identical) fprintf(f, "%s (%.0f%%) | ", w->identical ? "yes" : "no", 100 * w->identical_fraction);
        else fputs("- | ", f);
        fprintf(f, "%u |\n", w->n_prompts);
    }
    fputc('\n', f);
}

/* one table per temperature: rows = configurations, columns = references, all sets */
static void md_ratios(FILE *f, const bench_result_t *r, uint32_t t) {
    if (!r->n_refs) return;
    fputs("### Ratios of tokens/s to reference configurations (all sets, 95% CI)\n\n| config |", f);
    for (uint32_t k = 0; k < r->n_refs; k++) {
        const char *rn = "-";
        for (uint32_t i = 0; i < r->n_ratios; i++)
            if (r->ratios[i].ref == k && r->ratios[i].temp == t) rn = r->slots[r->ratios[i].ref_slot].name;
        fprintf(f, " vs %s (%s) |", r->ref_label[k], rn);
    }
    fputs("\n|---|", f);
    for (uint32_t k = 0; k < r->n_refs; k++) fputs("---|", f);
    fputc('\n', f);
    for (uint32_t s = 0; s < r->n_slots; s++) {
        int any = 0;
        for (uint32_t i = 0; i < r->n_ratios; i++) any |= r->ratios[i].slot == s && r->ratios[i].temp == t;
        if (!any) continue;
        fprintf(f, "| %s |", r->slots[s].name);
        for (uint32_t k = 0; k < r->n_refs; k++) {
            const bench_ratio_t *q = NULL;
            for (uint32_t i = 0; i < r->n_ratios; i++)
                if (r->ratios[i].slot == s && r->ratios[i].temp == t && r->ratios[i].ref == k && r->ratios[i].set == -1)
                    q = &r->ratios[i];
            if (q) fprintf(f, " %.3f [%.3f, %.3f] |", q->ratio.mean, q->ratio.lo, q->ratio.hi);
            else fputs(" - |", f);
        }
        fputc('\n', f);
    }
    fputc('\n', f);
}

/* policy time and the shape of the trees, for strategies with an extension that reports them */
static void md_ext(FILE *f, const bench_result_t *r, uint32_t t) {
    int any = 0;
    for (uint32_t i = 0; i < r->n_rows; i++) any |= r->rows[i].temp == t && r->rows[i].set == -1 && r->rows[i].ext.has;
    if (!any) return;
    fputs("### Decisions (all sets): policy time and tree shape\n\n| config | policy ms/token | policy share of decode "
          "time | draft calls per cycle (share of cycles) | verified size V (share of cycles) |\n|---|---:|---:|---|---|\n",
          f);
    for (uint32_t i = 0; i < r->n_rows; i++) {
        const bench_row_t *w = &r->rows[i];
        if (w->temp != t || w->set != -1 || !w->ext.has) continue;
        const double pms = (double) w->ext.decision_ns / 1e6;
        fprintf(f, "| %s | %.4f | %.2f%% | ", r->slots[w->slot].name, w->n_generated ? pms / (double) w->n_generated : 0,
                w->decode_ms > 0 ? 100 * pms / w->decode_ms : 0);
        uint64_t tot = 0;
        for (uint32_t k = 0; k < BENCH_EXT_CALLS; k++) tot += w->ext.calls_hist[k];
        for (uint32_t k = 0, first = 1; k < BENCH_EXT_CALLS && tot; k++)
            if (w->ext.calls_hist[k]) {
                fprintf(f, "%s%u: %.0f%%", first ? "" : ", ", k, 100.0 * (double) w->ext.calls_hist[k] / (double) tot);
                first = 0;
            }
        fputs(" | ", f);
        tot = 0;
        for (uint32_t k = 0; k < w->ext.n_sizes; k++) tot += w->ext.size_hist[k];
        if (!tot) fputs("-", f);
        for (uint32_t k = 0, first = 1; k < w->ext.n_sizes && tot; k++)
            if (w->ext.size_hist[k]) {
                fprintf(f, "%s%u: %.0f%%", first ? "" : ", ", w->ext.sizes[k],
                        100.0 * (double) w->ext.size_hist[k] / (double) tot);
                first = 0;
            }
        fputs(" |\n", f);
    }
    fputc('\n', f);
}

void bench_write_summary(FILE *f, const bench_result_t *r) {
    for (uint32_t t = 0; t < r->n_temps; t++) {
        fprintf(f, "\nAll prompt sets, temperature %g (%u new tokens, %u repeat(s)):\n\n", r->temps[t], r->max_tokens,
                r->repeats);
        md_table(f, r, t, -1);
        md_ratios(f, r, t);
        md_ext(f, r, t);
    }
}

int bench_write_markdown(FILE *f, const bench_result_t *r, int with_plots) {
    fprintf(f, "# refhost bench%s\n\n", r->quick ? " --quick" : "");
    fprintf(f, "- machine: %s, %ld CPUs, kernels %s\n- git revision: %s\n- config: %s\n- model: %s\n", r->cpu_model,
            sysconf(_SC_NPROCESSORS_ONLN), r->isa, r->git_rev, r->config_file, r->model);
    fprintf(f, "- %u new tokens per prompt, %u repeat(s), seed %llu, %u thread(s), %s kernels, wall %.0f s\n",
            r->max_tokens, r->repeats, (unsigned long long) r->seed, r->threads, r->fast ? "fast" : "exact", r->wall_s);
    fputs("- prompt sets (first turn, ChatML): ", f);
    for (uint32_t i = 0; i < r->n_sets; i++)
        fprintf(f, "%s%s (%u of %u prompts%s)", i ? ", " : "", r->set_names[i], r->set_n_used[i], r->set_n_file[i],
                r->set_checked[i] ? ", sha256 checked" : "");
    fputs("\n\n## Method\n\n"
          "All configurations run in one process on one loaded model. After a warm-up run of each, they are\n"
          "interleaved prompt by prompt (the order rotates with every prompt), so drifts in machine load hit\n"
          "all alike. tokens/s counts decode time only (prefill excluded). The speedup is the geometric mean\n"
          "of per-prompt ratios of tokens/s over the AR baseline of the same run, with a 95% Student-t\n"
          "interval on the log ratios. tau = generated tokens per cycle. identical to AR compares the token\n"
          "ids with AR's for the same prompt, temperature and seed.\n\n",
          f);
    for (uint32_t t = 0; t < r->n_temps; t++) {
        fprintf(f, "## Temperature %g\n\n### All prompt sets\n\n", r->temps[t]);
        md_table(f, r, t, -1);
        for (uint32_t g = 0; g < r->n_sets; g++) {
            fprintf(f, "### %s\n\n", r->set_names[g]);
            md_table(f, r, t, (int) g);
        }
        fputs("### Time split (all sets, ms per generated token)\n\n| config | draft | verify | strategy | other |\n"
              "|---|---:|---:|---:|---:|\n", f);
        for (uint32_t i = 0; i < r->n_rows; i++) {
            const bench_row_t *w = &r->rows[i];
            if (w->temp != t || w->set != -1 || !w->has_cycles || !w->n_generated) continue;
            const double n = (double) w->n_generated;
            fprintf(f, "| %s | %.3f | %.3f | %.3f | %.3f |\n", r->slots[w->slot].name, w->draft_ms / n,
                    w->verify_ms / n, w->strategy_ms / n, w->other_ms / n);
        }
        fputc('\n', f);
        md_ratios(f, r, t);
        md_ext(f, r, t);
    }
    fputs("## Peers: llama.cpp\n\n", f);
    if (!r->peer_status) {
        fputs("Not requested (peers.llama_cpp: false).\n\n", f);
    } else {
        fprintf(f, "Status: %s%s%s.\n\n", r->peer_status, r->peer_version ? ", llama-cpp-python " : "",
                r->peer_version ? r->peer_version : "");
        fputs("The peer is a separate process (scripts/bench_peer_llama.py) on the same GGUF, the same prompt token\n"
              "ids and thread count; its runs take their turn in the same per-prompt rotation as ours, greedy\n"
              "(temperature 0) only. Rows: `llama.cpp` = low-level loop (one llama_decode per token + argmax in\n"
              "Python); `llama.cpp-hl` = Llama.generate() without a draft; `llama.cpp-pld` = Llama.generate()\n"
              "with LlamaPromptLookupDecoding at the best setting of the sweep below (run on the warm-up prompts).\n\n", f);
        for (uint32_t i = 0; i < r->n_rows; i++) {
            const bench_row_t *w = &r->rows[i];
            if (w->set == -1 && r->slots[w->slot].kind == SLOT_PEER_PLAIN && w->overhead_ms_per_token >= 0)
                fprintf(f, "Python overhead of the low-level loop over the C library (loop wall time minus llama.cpp's "
                           "own decode timer): %.3f ms per token; the tokens/s of `llama.cpp` include it.\n\n",
                        w->overhead_ms_per_token);
        }
        if (r->n_sweep) {
            fputs("| max_ngram_size | num_pred_tokens | tokens/s (sweep prompts) |\n|---:|---:|---:|\n", f);
            for (uint32_t i = 0; i < r->n_sweep; i++) {
                fprintf(f, "| %u | %u | ", r->sweep[i].ngram, r->sweep[i].k);
                if (r->sweep[i].ok) fprintf(f, "%.1f%s |\n", r->sweep[i].tokens_per_s, i == r->best_sweep ? " (best)" : "");
                else fputs("failed |\n", f);
            }
            fputc('\n', f);
        }
    }
    if (with_plots) {
        fputs("## Plots\n\n", f);
        for (uint32_t t = 0; t < r->n_temps; t++)
            fprintf(f, "![speedup per set, T=%g](speedup_t%u.png)\n\n", r->temps[t], t);
        fputs("(Error bars are 95% intervals, clipped at 2.5x the largest mean; the tables have the full values.)\n\n", f);
        fputs("![tau vs draft calls per cycle](tau_vs_draft_calls.png)\n\n![time split](time_split.png)\n\n", f);
    }
    if (r->n_warnings) {
        fputs("## Warnings\n\n", f);
        for (uint32_t i = 0; i < r->n_warnings; i++) fprintf(f, "- %s\n", r->warnings[i]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------------------------------ plots */
/* gnuplot column headers and labels: no spaces or quotes */
static void label(FILE *f, const char *s) {
    for (; *s; s++) fputc(*s == ' ' || *s == '"' || *s == '\'' ? '_' : *s, f);
}

static int run_gnuplot(const char *script, const char *vars, char *err, size_t cap) {
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, cap, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", vars, script, (char *) NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(err, cap, "gnuplot %s failed (exit %d)%s", script, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                 WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ": is gnuplot installed (Debian gnuplot-nox)?" : "");
        return -1;
    }
    return 0;
}

int bench_plot(const char *dir, const char *script, const bench_result_t *r, char *err, size_t cap) {
    char path[4096], vars[4600];
    /* speedup per set: rows = sets + all, column triples (mean lo hi) per non-baseline slot */
    for (uint32_t t = 0; t < r->n_temps; t++) {
        snprintf(path, sizeof path, "%s/speedup_t%u.dat", dir, t);
        FILE *f = fopen(path, "w");
        if (!f) {
            snprintf(err, cap, "%s: %s", path, strerror(errno));
            return -1;
        }
        uint32_t cols[256], nc = 0;
        for (uint32_t s = 1; s < r->n_slots && nc < 256; s++)
            for (uint32_t i = 0; i < r->n_rows; i++)
                if (r->rows[i].slot == s && r->rows[i].temp == t && r->rows[i].set == -1 && r->rows[i].has_speedup) {
                    cols[nc++] = s;
                    break;
                }
        fputs("set", f);
        for (uint32_t c = 0; c < nc; c++) {
            fputc(' ', f);
            label(f, r->slots[cols[c]].name);
            fputs(" lo hi", f);
        }
        fputc('\n', f);
        /* a CI from 2 prompts can span orders of magnitude: clip the bars so the means stay readable */
        double top = 1;
        for (uint32_t i = 0; i < r->n_rows; i++)
            if (r->rows[i].temp == t && r->rows[i].has_speedup && r->rows[i].speedup.mean > top) top = r->rows[i].speedup.mean;
        const double clip = 2.5 * top;
        for (int g = 0; g <= (int) r->n_sets; g++) {
            const int set = g == (int) r->n_sets ? -1 : g;
            label(f, set_name(r, set));
            for (uint32_t c = 0; c < nc; c++) {
                const bench_row_t *w = NULL;
                for (uint32_t i = 0; i < r->n_rows; i++)
                    if (r->rows[i].slot == cols[c] && r->rows[i].temp == t && r->rows[i].set == set) w = &r->rows[i];
                if (w && w->has_speedup)
                    fprintf(f, " %.5f %.5f %.5f", w->speedup.mean, w->speedup.lo,
                            w->speedup.hi < clip ? w->speedup.hi : clip);
                else fputs(" NaN NaN NaN", f);
            }
            fputc('\n', f);
        }
        fclose(f);
        snprintf(vars, sizeof vars, "dir='%s'; plot_kind='speedup'; t=%u; ncol=%u; temp='%g'", dir, t, nc, r->temps[t]);
        if (nc && run_gnuplot(script, vars, err, cap) != 0) return -1;
    }
    /* tau vs draft calls, and the time split: our configurations, all sets, every temperature */
    snprintf(path, sizeof path, "%s/cycles.dat", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    fputs("config draft_calls_per_cycle tau draft_ms verify_ms strategy_ms other_ms\n", f);
    uint32_t n_cyc = 0;
    for (uint32_t i = 0; i < r->n_rows; i++) {
        const bench_row_t *w = &r->rows[i];
        if (w->set != -1 || !w->has_cycles || !w->n_generated) continue;
        const double n = (double) w->n_generated;
        label(f, r->slots[w->slot].name);
        fprintf(f, "@T%g %.4f %.4f %.4f %.4f %.4f %.4f\n", r->temps[w->temp], w->draft_calls_per_cycle, w->tau,
                w->draft_ms / n, w->verify_ms / n, w->strategy_ms / n, w->other_ms / n);
        n_cyc++;
    }
    fclose(f);
    snprintf(vars, sizeof vars, "dir='%s'; plot_kind='cycles'; nrow=%u", dir, n_cyc);
    if (n_cyc && run_gnuplot(script, vars, err, cap) != 0) return -1;
    return 0;
}
