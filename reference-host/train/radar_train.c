/* radar_train.c - see radar_train.h. */
#include "radar_train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dstrat.h"
#include "policy_file.h"

static void msg(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msg(char *err, size_t cap, const char *fmt, ...) {
    if (!err || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------ rng */
typedef struct rng {
    uint64_t s;
} rng_t;
static uint64_t rng_next(rng_t *r) { /* SplitMix64: tiny, fixed, good enough for sampling */
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
static double rng_u01(rng_t *r) { return (double) (rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static void shuffle(size_t *a, size_t n, rng_t *r) {
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t) (rng_next(r) % i);
        const size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ------------------------------------------------------------------------------ cost model */
typedef struct pt {
    double n, t;
} pt_t;
static int pt_cmp(const void *pa, const void *pb) {
    const pt_t *a = pa, *b = pb;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return (a->t > b->t) - (a->t < b->t);
}
static int dbl_cmp(const void *pa, const void *pb) {
    const double a = *(const double *) pa, b = *(const double *) pb;
    return (a > b) - (a < b);
}
static double median(double *v, size_t n) {
    if (!n) return 0.0;
    qsort(v, n, sizeof *v, dbl_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void rt_fit_cost(const rl_log_t *logs, uint32_t n, rt_cost_t *c) {
    memset(c, 0, sizeof *c);
    size_t nc = 0, nt = 0;
    for (uint32_t i = 0; i < n; i++) {
        nc += logs[i].n_cycles;
        nt += logs[i].n_timings;
    }
    double *first = malloc((nc + 1) * sizeof *first), *later = malloc((nc * RL_MAX_LEVELS + 1) * sizeof *later);
    pt_t *pts = malloc((nc + nt + 1) * sizeof *pts);
    if (!first || !later || !pts) goto out;
    size_t n1 = 0, n2 = 0, np = 0;
    double tp = 0;
    uint32_t ntp = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *s = rl_get(&logs[i], "t_policy_ns");
        if (s) {
            tp += strtod(s, NULL);
            ntp++;
        }
        for (size_t j = 0; j < logs[i].n_cycles; j++) {
            const rl_cycle_t *cy = &logs[i].cycles[j];
            if (cy->t_level_ns[0]) first[n1++] = (double) cy->t_level_ns[0];
            for (uint32_t l = 1; l < cy->n_levels; l++)
                if (cy->t_level_ns[l]) later[n2++] = (double) cy->t_level_ns[l];
            if (cy->t_verify_union_ns) pts[np++] = (pt_t) {(double) cy->n_union, (double) cy->t_verify_union_ns};
        }
        for (size_t j = 0; j < logs[i].n_timings; j++)
            if (logs[i].timings[j].t_ns)
                pts[np++] = (pt_t) {(double) logs[i].timings[j].n_tokens, (double) logs[i].timings[j].t_ns};
    }
    c->t_first_ns = median(first, n1);
    c->t_call_ns = median(later, n2);
    c->t_policy_ns = ntp ? tp / ntp : 0.0;
    /* per-size medians, weighted least squares (robust to the odd slow forward on a shared CPU) */
    qsort(pts, np, sizeof *pts, pt_cmp);
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t a = 0; a < np;) {
        size_t b = a;
        while (b < np && pts[b].n == pts[a].n) b++;
        const size_t m = b - a;
        const double med = m % 2 ? pts[a + m / 2].t : 0.5 * (pts[a + m / 2 - 1].t + pts[a + m / 2].t);
        const double w = (double) m, x = pts[a].n;
        sw += w;
        sx += w * x;
        sy += w * med;
        sxx += w * x * x;
        sxy += w * x * med;
        a = b;
    }
    if (sw > 0) {
        const double mx = sx / sw, my = sy / sw, vx = sxx / sw - mx * mx;
        c->vb_ns = vx > 1e-9 ? (sxy / sw - mx * my) / vx : 0.0;
        if (c->vb_ns < 0) c->vb_ns = 0;
        c->va_ns = my - c->vb_ns * mx;
        if (c->va_ns < 0) c->va_ns = 0;
    }
out:
    free(first);
    free(later);
    free(pts);
}

void rt_episode_times(rt_episode_t *e, const uint32_t *n_nodes, const rt_cost_t *c) {
    for (uint32_t a = 0; a <= e->T; a++) {
        const double dec = a + 1 < e->T ? a + 1 : e->T;
        const double ns = c->t_first_ns + a * c->t_call_ns + c->va_ns + c->vb_ns * (n_nodes[a] + 1.0) +
                          c->t_policy_ns * dec;
        e->t[a] = ns * 1e-9;
    }
}

/* ------------------------------------------------------------------------------ data */
void rt_data_free(rt_data_t *d) {
    free(d->ep);
    free(d->xbuf);
    memset(d, 0, sizeof *d);
}

static int header_u32(const rl_log_t *l, const char *key, uint32_t *v, char *err, size_t cap) {
    const char *s = rl_get(l, key);
    char *end;
    unsigned long x = s ? strtoul(s, &end, 10) : 0;
    if (!s || *end || x < 1 || x > 4096) {
        msg(err, cap, "%s: header key %s is missing or not a positive integer", l->path, key);
        return -1;
    }
    *v = (uint32_t) x;
    return 0;
}

int rt_data_load(rt_data_t *d, const char *const *paths, uint32_t n, char *err, size_t cap) {
    memset(d, 0, sizeof *d);
    if (n == 0) {
        msg(err, cap, "no log given");
        return -1;
    }
    rl_log_t *logs = calloc(n, sizeof *logs);
    if (!logs) {
        msg(err, cap, "out of memory");
        return -1;
    }
    int rc = -1;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (rl_read(paths[i], &logs[i], err, cap) != 0) goto out;
        uint32_t k, md, tt;
        if (header_u32(&logs[i], "top_k", &k, err, cap) || header_u32(&logs[i], "max_depth", &md, err, cap) ||
            header_u32(&logs[i], "total_tokens", &tt, err, cap))
            goto out;
        const char *tg = rl_get(&logs[i], "target"), *dr = rl_get(&logs[i], "draft"),
                   *te = rl_get(&logs[i], "temperature");
        if (i == 0) {
            d->n_in = k;
            d->max_depth = md;
            d->total_tokens = tt;
            snprintf(d->target, sizeof d->target, "%s", tg ? tg : "");
            snprintf(d->draft, sizeof d->draft, "%s", dr ? dr : "");
            snprintf(d->temperature, sizeof d->temperature, "%s", te ? te : "");
        } else if (k != d->n_in || md != d->max_depth || tt != d->total_tokens || strcmp(d->target, tg ? tg : "") ||
                   strcmp(d->draft, dr ? dr : "")) {
            msg(err, cap, "%s: collected with other settings than %s (top_k/max_depth/total_tokens/target/draft must agree)",
                paths[i], paths[0]);
            goto out;
        }
        total += logs[i].n_cycles;
    }
    rt_fit_cost(logs, n, &d->cost);
    d->ep = calloc(total + 1, sizeof *d->ep);
    d->xbuf = calloc(total * RL_MAX_LEVELS * (size_t) d->n_in + 1, sizeof *d->xbuf);
    if (!d->ep || !d->xbuf) {
        msg(err, cap, "out of memory for %zu cycles", total);
        goto out;
    }
    size_t xo = 0;
    for (uint32_t i = 0; i < n; i++)
        for (size_t j = 0; j < logs[i].n_cycles; j++) {
            const rl_cycle_t *c = &logs[i].cycles[j];
            d->n_cycles_read++;
            if (c->top_k != d->n_in) {
                msg(err, cap, "%s: cycle %zu has %u features, the header says top_k %u", paths[i], j, c->top_k, d->n_in);
                goto out;
            }
            if (c->n_levels < 2) {
                d->n_skipped++;
                continue;
            }
            rt_episode_t *e = &d->ep[d->n_ep++];
            e->T = c->n_levels - 1;
            e->x = d->xbuf + xo;
            for (uint32_t t = 0; t < e->T; t++)
                for (uint32_t q = 0; q < d->n_in; q++) d->xbuf[xo++] = c->state[t][q];
            for (uint32_t a = 0; a <= e->T; a++) e->acc[a] = (float) c->acc[a];
            rt_episode_times(e, c->n_nodes, &d->cost);
        }
    if (d->n_ep == 0) {
        msg(err, cap, "the logs hold no cycle with a decision (%zu cycles, all with one level)", d->n_cycles_read);
        goto out;
    }
    rc = 0;
out:
    for (uint32_t i = 0; i < n; i++) rl_log_free(&logs[i]);
    free(logs);
    if (rc) rt_data_free(d);
    return rc;
}

/* ------------------------------------------------------------------------------ losses */
static void softmax2(const float *l, double *p_stop, double *p_cont) {
    const double a = l[DSPN_STOP], b = l[DSPN_CONTINUE], m = a > b ? a : b;
    const double ea = exp(a - m), eb = exp(b - m);
    *p_stop = ea / (ea + eb);
    *p_cont = eb / (ea + eb);
}

double rt_reinforce_loss(const float *logits, uint32_t T, const uint8_t *act, const double *G, double norm,
                         float *dlogits) {
    double loss = 0;
    for (uint32_t t = 0; t < T; t++) {
        const float *l = logits + 2 * t;
        double p[2];
        softmax2(l, &p[0], &p[1]);
        const double m = l[0] > l[1] ? l[0] : l[1];
        const double lse = m + log(exp(l[0] - m) + exp(l[1] - m));
        loss -= (l[act[t]] - lse) * G[t] / norm;
        for (int j = 0; j < 2; j++) dlogits[2 * t + j] = (float) (-(G[t] / norm) * ((j == act[t]) - p[j]));
    }
    return loss;
}

void rt_returns(uint32_t T, uint32_t a, double reward_at_stop, double alpha, double gamma, double *G) {
    double r[RL_MAX_LEVELS + 1];
    for (uint32_t t = 0; t <= T; t++) r[t] = t < a ? -alpha : t == a ? reward_at_stop : 0.0;
    double g = 0;
    for (int t = (int) T; t >= 0; t--) {
        g = r[t] + gamma * g;
        if (t < (int) T) G[t] = (uint32_t) t <= a ? g : 0.0;
    }
}

double rt_expected_loss(const float *logits, uint32_t T, const double *v, double norm, float *dlogits) {
    double p[RL_MAX_LEVELS], q[RL_MAX_LEVELS], R[RL_MAX_LEVELS + 1], W[RL_MAX_LEVELS + 1];
    R[0] = 1.0;
    for (uint32_t t = 0; t < T; t++) {
        softmax2(logits + 2 * t, &p[t], &q[t]);
        R[t + 1] = R[t] * q[t];
    }
    W[T] = v[T];
    for (int t = (int) T - 1; t >= 0; t--) W[t] = p[t] * v[t] + q[t] * W[t + 1];
    for (uint32_t t = 0; t < T; t++) {
        const double dv_dp = R[t] * (v[t] - W[t + 1]);
        const double g = -dv_dp * p[t] * q[t] / norm; /* d(-V/norm)/dl_stop */
        dlogits[2 * t + DSPN_STOP] = (float) g;
        dlogits[2 * t + DSPN_CONTINUE] = (float) -g;
    }
    return -W[0] / norm;
}

/* ------------------------------------------------------------------------------ evaluation */
void rt_evaluate(const dspn_net_t *net, int decision, int fixed, const rt_data_t *d, const size_t *idx, size_t n,
                 rt_eval_t *out) {
    memset(out, 0, sizeof *out);
    dspn_cache_t cache = {0};
    if (net && dspn_cache_init(&cache, net, d->max_depth) != 0) return;
    double calls = 0;
    for (size_t i = 0; i < n; i++) {
        const rt_episode_t *e = &d->ep[idx ? idx[i] : i];
        double P[RL_MAX_LEVELS + 1] = {0};
        if (net) {
            dspn_episode_forward(net, &cache, e->x, e->T);
            double reach = 1.0;
            uint32_t a = e->T;
            for (uint32_t t = 0; t < e->T; t++) {
                double ps, pc;
                softmax2(cache.logits + 2 * t, &ps, &pc);
                if (decision == 0) {
                    P[t] = reach * ps;
                    reach *= pc;
                } else if (pc < 0.5 && a == e->T) {
                    a = t;
                }
            }
            if (decision == 0) P[e->T] = reach;
            else P[a] = 1.0;
        } else if (fixed >= 0) {
            P[(uint32_t) fixed < e->T ? (uint32_t) fixed : e->T] = 1.0;
        } else {
            uint32_t best = 0;
            for (uint32_t a = 1; a <= e->T; a++)
                if ((e->acc[a] + 1.0) / e->t[a] > (e->acc[best] + 1.0) / e->t[best]) best = a;
            P[best] = 1.0;
        }
        for (uint32_t a = 0; a <= e->T; a++) {
            out->tokens += P[a] * (e->acc[a] + 1.0);
            out->seconds += P[a] * e->t[a];
            calls += P[a] * (a + 1.0);
        }
    }
    if (net) dspn_cache_free(&cache);
    out->rate = out->seconds > 0 ? out->tokens / out->seconds : 0;
    out->tau = n ? out->tokens / (double) n : 0;
    out->calls = n ? calls / (double) n : 0;
}

/* ------------------------------------------------------------------------------ training */
rt_opts_t rt_default_opts(int algo) {
    rt_opts_t o = {.algo = algo, .seed = 1, .epochs = algo == RT_ALGO_REINFORCE ? 100 : 40, .batch = 64,
                   .n_hidden = 128, .n_mlp = 128, .lr = algo == RT_ALGO_REINFORCE ? 1e-4 : 1e-3, .lr_min = 1e-6,
                   .weight_decay = 1e-4, .clip = 1.0, .alpha = 0.02, .beta = 0.0, .gamma = 0.99, .holdout = 0.2,
                   .progress = 1};
    return o;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress(const char *label, uint32_t done, uint32_t total, double t0, double rate) {
    const double el = now_s() - t0, eta = done ? el * (total - done) / done : 0;
    char bar[31];
    const uint32_t fill = total ? done * 30 / total : 30;
    for (uint32_t i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[train %s] epoch %u/%u [%s] %3u%% ETA %dm%02ds  held-out %.1f tok/s ", label, done, total, bar,
            total ? done * 100 / total : 100, (int) eta / 60, (int) eta % 60, rate);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

typedef struct adam {
    double *m, *v;
    uint64_t t;
} adam_t;

static void adam_step(adam_t *a, float *w, float *g, size_t n, double lr, double wd, double clip) {
    double norm = 0;
    for (size_t i = 0; i < n; i++) norm += (double) g[i] * g[i];
    norm = sqrt(norm);
    const double sc = clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0;
    a->t++;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double c1 = 1 - pow(b1, (double) a->t), c2 = 1 - pow(b2, (double) a->t);
    for (size_t i = 0; i < n; i++) {
        const double gi = g[i] * sc + wd * w[i]; /* PyTorch Adam: L2 added after clipping */
        a->m[i] = b1 * a->m[i] + (1 - b1) * gi;
        a->v[i] = b2 * a->v[i] + (1 - b2) * gi * gi;
        w[i] -= (float) (lr * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + eps));
    }
}

int rt_train(const rt_data_t *d, const rt_opts_t *o, dspn_net_t *net, rt_result_t *res, char *err, size_t cap) {
    memset(res, 0, sizeof *res);
    if (dspn_init(net, d->n_in, o->n_hidden, o->n_mlp) != 0) {
        msg(err, cap, "cannot make a %u/%u/%u network", d->n_in, o->n_hidden, o->n_mlp);
        return -1;
    }
    rng_t rng = {o->seed};
    dspn_init_random(net, o->seed);
    const size_t n = d->n_ep, np = net->n_params;
    size_t *idx = malloc(n * sizeof *idx);
    float *grad = calloc(np, sizeof *grad), *best = malloc(np * sizeof *best), *dl = NULL, *scratch = NULL;
    adam_t ad = {calloc(np, sizeof(double)), calloc(np, sizeof(double)), 0};
    dspn_cache_t cache = {0};
    int rc = -1;
    if (!idx || !grad || !best || !ad.m || !ad.v || dspn_cache_init(&cache, net, d->max_depth) != 0 ||
        !(dl = calloc(2 * (size_t) d->max_depth, sizeof *dl)) ||
        !(scratch = calloc(dspn_scratch_floats(net), sizeof *scratch))) {
        msg(err, cap, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) idx[i] = i;
    shuffle(idx, n, &rng);
    size_t n_held = n >= 10 ? (size_t) (o->holdout * (double) n) : 0;
    const size_t *held = idx, *tr = idx + n_held;
    size_t n_tr = n - n_held;
    if (n_held == 0) { /* too little data for a split: select on the training set */
        held = idx;
        n_held = n;
    }
    res->n_train = n_tr;
    res->n_held = n_held;
    size_t *order = malloc((n_tr + 1) * sizeof *order);
    if (!order) {
        msg(err, cap, "out of memory");
        goto out;
    }
    memcpy(order, tr, n_tr * sizeof *order);
    /* beta auto: the always-continue drafts/s is 1 on average, so alpha's scale means the same on
       any hardware (the paper's beta = 10 (T_d + T_p) does that for its GPU numbers) */
    double beta = o->beta;
    if (beta <= 0) {
        double s = 0;
        for (size_t i = 0; i < n_tr; i++) s += d->ep[tr[i]].acc[d->ep[tr[i]].T] / d->ep[tr[i]].t[d->ep[tr[i]].T];
        beta = s > 0 ? (double) n_tr / s : 1.0;
    }
    res->beta_used = beta;
    double tok_scale = 0;
    for (size_t i = 0; i < n_tr; i++) tok_scale += d->ep[tr[i]].acc[d->ep[tr[i]].T] + 1.0;
    tok_scale = n_tr ? tok_scale / n_tr : 1.0;
    const double t0 = now_s();
    double best_rate = -1;
    const char *label = o->algo == RT_ALGO_REINFORCE ? "reinforce" : "expected";
    for (uint32_t ep = 0; ep < o->epochs; ep++) {
        const double lr = o->lr_min + 0.5 * (o->lr - o->lr_min) * (1 + cos(M_PI * ep / (double) o->epochs));
        double lambda = 0;
        if (o->algo == RT_ALGO_EXPECTED) {
            rt_eval_t ev;
            rt_evaluate(net, 0, 0, d, tr, n_tr, &ev);
            lambda = ev.rate;
        }
        shuffle(order, n_tr, &rng);
        for (size_t b0 = 0; b0 < n_tr; b0 += o->batch) {
            const size_t bn = n_tr - b0 < o->batch ? n_tr - b0 : o->batch;
            memset(grad, 0, np * sizeof *grad);
            for (size_t bi = 0; bi < bn; bi++) {
                const rt_episode_t *e = &d->ep[order[b0 + bi]];
                dspn_episode_forward(net, &cache, e->x, e->T);
                if (o->algo == RT_ALGO_REINFORCE) {
                    uint8_t act[RL_MAX_LEVELS];
                    uint32_t a = e->T;
                    for (uint32_t t = 0; t < e->T; t++) {
                        double ps, pc;
                        softmax2(cache.logits + 2 * t, &ps, &pc);
                        act[t] = rng_u01(&rng) < ps ? DSPN_STOP : DSPN_CONTINUE;
                        if (act[t] == DSPN_STOP && a == e->T) a = t;
                    }
                    double G[RL_MAX_LEVELS];
                    rt_returns(e->T, a, beta * e->acc[a] / e->t[a], o->alpha, o->gamma, G);
                    rt_reinforce_loss(cache.logits, e->T, act, G, (double) bn * (d->max_depth - 1), dl);
                } else {
                    double v[RL_MAX_LEVELS];
                    for (uint32_t a = 0; a <= e->T; a++) v[a] = (e->acc[a] + 1.0 - lambda * e->t[a]) / tok_scale;
                    rt_expected_loss(cache.logits, e->T, v, (double) bn, dl);
                }
                dspn_episode_backward(net, &cache, e->T, dl, grad, scratch);
            }
            adam_step(&ad, net->params, grad, np, lr, o->weight_decay, o->clip);
        }
        rt_eval_t hv;
        rt_evaluate(net, 0, 0, d, held, n_held, &hv);
        if (hv.rate > best_rate) {
            best_rate = hv.rate;
            res->best_epoch = ep + 1;
            memcpy(best, net->params, np * sizeof *best);
        }
        if (o->progress) progress(label, ep + 1, o->epochs, t0, hv.rate);
    }
    if (o->epochs) memcpy(net->params, best, np * sizeof *best);
    rt_evaluate(net, 0, 0, d, tr, n_tr, &res->train_eval);
    rt_evaluate(net, 0, 0, d, held, n_held, &res->held_eval);
    rt_evaluate(net, 1, 0, d, held, n_held, &res->held_eval_thr);
    rt_evaluate(NULL, 0, (int) d->max_depth, d, held, n_held, &res->held_full);
    rt_evaluate(NULL, 0, -1, d, held, n_held, &res->held_oracle);
    for (uint32_t a = 0; a < d->max_depth; a++) {
        rt_eval_t f;
        rt_evaluate(NULL, 0, (int) a, d, held, n_held, &f);
        if (f.rate > res->held_best_fixed.rate) {
            res->held_best_fixed = f;
            res->best_fixed = a;
        }
    }
    rc = 0;
    free(order);
out:
    free(idx);
    free(grad);
    free(best);
    free(dl);
    free(scratch);
    free(ad.m);
    free(ad.v);
    dspn_cache_free(&cache);
    if (rc) dspn_free(net);
    return rc;
}

/* ------------------------------------------------------------------------------ saving */
int rt_save(const dspn_net_t *net, const char *path, const rt_data_t *d, const rt_opts_t *o, const rt_result_t *r,
            const char *const *logs, uint32_t n_logs, char *err, size_t cap) {
    enum { NKV = 40, VLEN = 512 };
    static const char *const keys[] = {
        "features", "target", "draft", "cost.t_draft_first_ns", "cost.t_draft_ns", "cost.t_verify_a_ns",
        "cost.t_verify_b_ns", "cost.t_policy_ns", "cost.model", "train.algorithm", "train.seed", "train.epochs",
        "train.best_epoch", "train.batch", "train.lr", "train.lr_min", "train.lr_schedule", "train.weight_decay",
        "train.clip", "train.alpha", "train.beta", "train.gamma", "train.holdout", "train.temperature", "train.top_k",
        "train.max_depth", "train.total_tokens", "train.data", "train.episodes", "train.eval.held_rate",
        "train.eval.held_rate_threshold", "train.eval.held_tau", "train.eval.held_calls", "train.eval.always_continue_rate",
        "train.eval.oracle_rate", "train.eval.best_fixed_rate", "train.eval.best_fixed_stop",
    };
    const uint32_t nk = sizeof keys / sizeof keys[0];
    char (*v)[VLEN] = calloc(NKV, sizeof *v);
    if (!v) return DSTRAT_E_NOMEM;
    const rt_cost_t *c = &d->cost;
    uint32_t i = 0;
    snprintf(v[i++], VLEN, "radar-beam-cumlogp");
    snprintf(v[i++], VLEN, "%s", d->target);
    snprintf(v[i++], VLEN, "%s", d->draft);
    snprintf(v[i++], VLEN, "%.1f", c->t_first_ns);
    snprintf(v[i++], VLEN, "%.1f", c->t_call_ns);
    snprintf(v[i++], VLEN, "%.1f", c->va_ns);
    snprintf(v[i++], VLEN, "%.3f", c->vb_ns);
    snprintf(v[i++], VLEN, "%.1f", c->t_policy_ns);
    snprintf(v[i++], VLEN, "t(a)=t_draft_first+a*t_draft+t_verify_a+t_verify_b*(nodes(a)+1)+t_policy*decisions(a)");
    snprintf(v[i++], VLEN, "%s", o->algo == RT_ALGO_REINFORCE ? "reinforce" : "expected");
    snprintf(v[i++], VLEN, "%llu", (unsigned long long) o->seed);
    snprintf(v[i++], VLEN, "%u", o->epochs);
    snprintf(v[i++], VLEN, "%u", r->best_epoch);
    snprintf(v[i++], VLEN, "%u", o->batch);
    snprintf(v[i++], VLEN, "%g", o->lr);
    snprintf(v[i++], VLEN, "%g", o->lr_min);
    snprintf(v[i++], VLEN, "cosine-per-epoch");
    snprintf(v[i++], VLEN, "%g", o->weight_decay);
    snprintf(v[i++], VLEN, "%g", o->clip);
    snprintf(v[i++], VLEN, "%g", o->algo == RT_ALGO_REINFORCE ? o->alpha : 0.0);
    snprintf(v[i++], VLEN, "%.6g", o->algo == RT_ALGO_REINFORCE ? r->beta_used : 0.0);
    snprintf(v[i++], VLEN, "%g", o->algo == RT_ALGO_REINFORCE ? o->gamma : 1.0);
    snprintf(v[i++], VLEN, "%g", o->holdout);
    snprintf(v[i++], VLEN, "%s", d->temperature);
    snprintf(v[i++], VLEN, "%u", d->n_in);
    snprintf(v[i++], VLEN, "%u", d->max_depth);
    snprintf(v[i++], VLEN, "%u", d->total_tokens);
    size_t off = 0;
    for (uint32_t j = 0; j < n_logs && off + 2 < VLEN; j++) {
        const char *b = strrchr(logs[j], '/');
        off += (size_t) snprintf(v[i] + off, VLEN - off, "%s%s", j ? "," : "", b ? b + 1 : logs[j]);
    }
    i++;
    snprintf(v[i++], VLEN, "%zu (train %zu, held out %zu)", d->n_ep, r->n_train, r->n_held);
    snprintf(v[i++], VLEN, "%.2f", r->held_eval.rate);
    snprintf(v[i++], VLEN, "%.2f", r->held_eval_thr.rate);
    snprintf(v[i++], VLEN, "%.3f", r->held_eval.tau);
    snprintf(v[i++], VLEN, "%.3f", r->held_eval.calls);
    snprintf(v[i++], VLEN, "%.2f", r->held_full.rate);
    snprintf(v[i++], VLEN, "%.2f", r->held_oracle.rate);
    snprintf(v[i++], VLEN, "%.2f", r->held_best_fixed.rate);
    snprintf(v[i++], VLEN, "%u", r->best_fixed);
    dspf_kv_t kv[NKV];
    for (uint32_t j = 0; j < nk; j++) kv[j] = (dspf_kv_t) {keys[j], v[j]};
    const int rc = dspn_save(net, path, kv, nk, err, cap);
    free(v);
    return rc;
}
