/* test_contract.c - the ABI contract, for every strategy in conf_strategies[]: entry and
 * versions, refcounted init/deinit, discovery, parameter errors, NULL arguments and struct_size 0,
 * out-of-order calls (with non-empty last_error), well-formed trees, the stats extension, and
 * older/newer hosts (smaller and bigger structs) giving the session host's exact output. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "conf_host.h"
#include "conf_util.h"
#include "params.h"
#include "tree.h"

#define FOR_EACH_STRATEGY(cs) \
    for (const conf_strategy_t *cs = conf_strategies; cs < conf_strategies + conf_n_strategies; cs++)

static const dstrat_entry_t *entry_of(const conf_strategy_t *cs) {
    char err[512];
    const dstrat_entry_t *e = conf_entry(cs->file, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    return e;
}

static dstrat_strategy_t *create(const conf_strategy_t *cs, const dstrat_host_t *host, const char *params) {
    char store[256], err[256] = "";
    dstrat_param_t p[8];
    uint32_t n = conf_parse_params(params, store, sizeof store, p, 8);
    dstrat_strategy_t *s = NULL;
    dstrat_status_t rc = entry_of(cs)->strategy_create(cs->id, host, p, n, &s, err, sizeof err);
    cr_assert_eq(rc, DSTRAT_OK, "%s: create failed %d: %s", cs->id, rc, err);
    cr_assert_not_null(s);
    return s;
}

static void expect_err(const dstrat_strategy_t *s, dstrat_status_t got, dstrat_status_t want, const char *what) {
    cr_expect_eq(got, want, "%s: %s returned %d, expected %d", s->desc->id, what, got, want);
    const char *m = s->last_error(s);
    cr_expect(m && m[0], "%s: %s left last_error empty", s->desc->id, what);
}

static const sampler_params_t greedy = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};

Test(contract, entry_and_versions) {
    FOR_EACH_STRATEGY(cs) {
        const dstrat_entry_t *e = entry_of(cs);
        dstrat_entry_fn fn = conf_entry_fn(cs->file);
        cr_assert_not_null(fn);
        cr_expect_null(fn(NULL), "%s: entry(NULL) must be NULL", cs->file);
        cr_expect_null(fn(&(dstrat_version_t) {2, 0, 0}), "%s: major 2 must be refused", cs->file);
        cr_expect_null(fn(&(dstrat_version_t) {0, 9, 0}), "%s: major 0 must be refused", cs->file);
        cr_expect_eq(fn(&(dstrat_version_t) {1, 7, 3}), e, "%s: any 1.x host must be served", cs->file);
        cr_expect_geq(e->struct_size, sizeof(dstrat_entry_t));
        cr_expect_eq(e->abi_version.major, DSTRAT_ABI_MAJOR);
    }
}

Test(contract, init_is_refcounted) {
    FOR_EACH_STRATEGY(cs) {
        const dstrat_entry_t *e = entry_of(cs); /* init count 1 */
        conf_host_t *h = conf_host_new(&(mock_cfg_t) {64, 3, 4.0f, 1, 512, 64}, 0.5f, CONF_LAYOUT_CURRENT, greedy, 1);
        cr_assert_eq(e->init("x"), DSTRAT_OK); /* 2 */
        e->deinit();                           /* 1 */
        dstrat_strategy_t *s = NULL;
        char err[256];
        cr_expect_eq(e->strategy_create(cs->id, conf_host_abi(h), NULL, 0, &s, err, sizeof err), DSTRAT_OK,
                     "%s: still initialised after init, init, deinit: %s", cs->id, err);
        if (s) s->destroy(s);
        e->deinit(); /* 0 */
        e->deinit(); /* extra deinit: harmless */
        s = NULL;
        cr_expect_eq(e->strategy_create(cs->id, conf_host_abi(h), NULL, 0, &s, err, sizeof err), DSTRAT_E_STATE,
                     "%s: create after the last deinit must fail", cs->id);
        cr_expect_null(s);
        cr_assert_eq(e->init("x"), DSTRAT_OK);
        conf_host_free(h);
    }
}

Test(contract, discovery) {
    FOR_EACH_STRATEGY(cs) {
        const dstrat_entry_t *e = entry_of(cs);
        uint32_t n = e->strategy_count(), found = 0;
        cr_assert_geq(n, 1u);
        for (uint32_t i = 0; i < n; i++) {
            const dstrat_strategy_desc_t *d = e->strategy_desc(i);
            cr_assert_not_null(d);
            cr_expect_geq(d->struct_size, sizeof *d);
            cr_expect_eq(d->abi_version.major, DSTRAT_ABI_MAJOR);
            cr_expect(d->id && d->id[0] && d->name && d->version && d->description);
            char err[256];
            cr_expect_eq(dsp_check_descs(d->params, d->n_params, err, sizeof err), 0, "%s: %s", d->id, err);
            found += !strcmp(d->id, cs->id);
        }
        cr_expect_null(e->strategy_desc(n));
        cr_expect_eq(found, 1u, "%s: id %s listed %u times", cs->file, cs->id, found);
    }
}

Test(contract, create_errors) {
    FOR_EACH_STRATEGY(cs) {
        const dstrat_entry_t *e = entry_of(cs);
        conf_host_t *h = conf_host_new(&(mock_cfg_t) {64, 3, 4.0f, 1, 512, 64}, 0.5f, CONF_LAYOUT_CURRENT, greedy, 1);
        const dstrat_host_t *host = conf_host_abi(h);
        dstrat_strategy_t *s = (dstrat_strategy_t *) (uintptr_t) 1;
        char err[256];
#define CREATE(id_, host_, p_, np_, want_)                                                                 \
    do {                                                                                                   \
        err[0] = '\0';                                                                                     \
        dstrat_status_t rc_ = e->strategy_create(id_, host_, p_, np_, &s, err, sizeof err);               \
        cr_expect_eq(rc_, want_, "%s: %s gave %d (%s), expected %d", cs->id, #host_ " " #p_, rc_, err, want_); \
        cr_expect(err[0], "%s: no message for %s", cs->id, #want_);                                      \
        cr_expect_null(s);                                                                                 \
    } while (0)
        CREATE("no-such-strategy", host, NULL, 0, DSTRAT_E_NOT_FOUND);
        CREATE(NULL, host, NULL, 0, DSTRAT_E_INVALID_ARG);
        CREATE(cs->id, NULL, NULL, 0, DSTRAT_E_INVALID_ARG);
        dstrat_host_t bad = *host;
        bad.struct_size = 0;
        CREATE(cs->id, &bad, NULL, 0, DSTRAT_E_INVALID_ARG);
        bad = *host;
        bad.abi_version.major = 2;
        CREATE(cs->id, &bad, NULL, 0, DSTRAT_E_VERSION);
        bad = *host;
        bad.limits = NULL;
        CREATE(cs->id, &bad, NULL, 0, DSTRAT_E_INVALID_ARG);
        dstrat_param_t unknown = {"no_such_key", "1"};
        CREATE(cs->id, host, &unknown, 1, DSTRAT_E_INVALID_ARG);
        cr_expect(strstr(err, "no_such_key"), "%s: message does not name the key: %s", cs->id, err);
        dstrat_param_t null_key = {NULL, "1"};
        CREATE(cs->id, host, &null_key, 1, DSTRAT_E_INVALID_ARG);
        /* every declared parameter: a wrong-type value must be refused with its key named */
        const dstrat_strategy_desc_t *d = NULL;
        for (uint32_t i = 0; i < e->strategy_count(); i++)
            if (!strcmp(e->strategy_desc(i)->id, cs->id)) d = e->strategy_desc(i);
        for (uint32_t i = 0; d && i < d->n_params; i++) {
            if (d->params[i].type == DSTRAT_PARAM_PATH) continue;
            dstrat_param_t p = {d->params[i].key, d->params[i].type == DSTRAT_PARAM_STRING ? "@@not-a-choice@@" : "banana"};
            if (d->params[i].type == DSTRAT_PARAM_STRING && !d->params[i].choices) continue;
            CREATE(cs->id, host, &p, 1, DSTRAT_E_INVALID_ARG);
            cr_expect(strstr(err, d->params[i].key), "%s: message does not name %s: %s", cs->id, d->params[i].key, err);
            if (d->params[i].type == DSTRAT_PARAM_INT || d->params[i].type == DSTRAT_PARAM_FLOAT) {
                char big[64];
                snprintf(big, sizeof big, "%.0f", d->params[i].max_value + 1000);
                p.value = big;
                CREATE(cs->id, host, &p, 1, DSTRAT_E_INVALID_ARG);
                cr_expect(strstr(err, "range"), "%s: out-of-range message lacks the range: %s", cs->id, err);
            }
        }
        cr_expect_eq(e->strategy_create(cs->id, host, NULL, 0, NULL, err, sizeof err), DSTRAT_E_INVALID_ARG);
        conf_host_free(h);
        if (cs->needs_draft) { /* a host without a draft model */
            conf_host_t *h2 = conf_host_new(&(mock_cfg_t) {64, 3, 4.0f, 1, 512, 64}, -1.0f, CONF_LAYOUT_CURRENT, greedy, 1);
            CREATE(cs->id, conf_host_abi(h2), NULL, 0, DSTRAT_E_UNSUPPORTED);
            conf_host_free(h2);
        }
#undef CREATE
    }
}

Test(contract, bad_arguments_and_call_order) {
    FOR_EACH_STRATEGY(cs) {
        conf_host_t *h = conf_host_new(&(mock_cfg_t) {64, 3, 4.0f, 1, 512, 64}, 1.0f, CONF_LAYOUT_CURRENT, greedy, 1);
        dstrat_strategy_t *s = create(cs, conf_host_abi(h), "");
        dstrat_session_t *ss = NULL;
        expect_err(s, s->session_create(s, NULL, &ss), DSTRAT_E_INVALID_ARG, "session_create(NULL params)");
        dstrat_session_params_t sp0 = *conf_host_session_params(h);
        sp0.struct_size = 0;
        expect_err(s, s->session_create(s, &sp0, &ss), DSTRAT_E_INVALID_ARG, "session_create(struct_size 0)");
        expect_err(s, s->session_create(s, conf_host_session_params(h), NULL), DSTRAT_E_INVALID_ARG, "session_create(NULL out)");
        cr_assert_eq(s->session_create(s, conf_host_session_params(h), &ss), DSTRAT_OK, "%s", s->last_error(s));
        const int32_t prompt[] = {3, 9, 27};
        dstrat_tree_t *t = conf_host_tree(h);
        dstrat_accept_t *a = conf_host_accept(h);
        const dstrat_tree_t *ct = t;
        dstrat_verify_t vdummy = {.struct_size = sizeof vdummy, .n_nodes = 1, .argmax = (int32_t[]) {0}, .greedy = 1};
        const dstrat_verify_t *vp = &vdummy;
        expect_err(s, s->propose(s, 1, &ss, &t), DSTRAT_E_STATE, "propose before session_reset");
        expect_err(s, s->accept(s, 1, &ss, &ct, &vp, &a), DSTRAT_E_STATE, "accept before propose");
        expect_err(s, s->session_reset(s, ss, NULL, 3), DSTRAT_E_INVALID_ARG, "session_reset(NULL tokens)");
        expect_err(s, s->session_reset(s, ss, prompt, 0), DSTRAT_E_INVALID_ARG, "session_reset(n = 0)");
        expect_err(s, s->session_reset(s, ss, (const int32_t[]) {1, 64}, 2), DSTRAT_E_INVALID_ARG, "session_reset(token >= n_vocab)");
        expect_err(s, s->session_reset(s, NULL, prompt, 3), DSTRAT_E_INVALID_ARG, "session_reset(NULL session)");
        /* the host side of the cycle: prefill the mock target like a host would */
        int64_t got = conf_host_generate(h, s, prompt, 3, 0, NULL, (char[64]) {0}, 64);
        cr_assert_eq(got, 0);
        cr_assert_eq(s->session_reset(s, ss, prompt, 3), DSTRAT_OK, "%s", s->last_error(s));
        expect_err(s, s->accept(s, 1, &ss, &ct, &vp, &a), DSTRAT_E_STATE, "accept after reset, before propose");
        expect_err(s, s->propose(s, 1, &ss, NULL), DSTRAT_E_INVALID_ARG, "propose(NULL trees)");
        expect_err(s, s->propose(s, 1, NULL, &t), DSTRAT_E_INVALID_ARG, "propose(NULL sessions)");
        dstrat_tree_t *nullt = NULL;
        expect_err(s, s->propose(s, 1, &ss, &nullt), DSTRAT_E_INVALID_ARG, "propose(trees[0] NULL)");
        t->struct_size = 0;
        expect_err(s, s->propose(s, 1, &ss, &t), DSTRAT_E_INVALID_ARG, "propose(tree struct_size 0)");
        expect_err(s, s->propose(s, 2, (dstrat_session_t *[]) {ss, ss}, (dstrat_tree_t *[]) {t, t}), DSTRAT_E_INVALID_ARG,
                   "propose(n above max_seqs_per_step)");
        cr_expect_eq(s->propose(s, 0, NULL, NULL), DSTRAT_OK, "%s: propose(n = 0) is a no-op", cs->id);
        t = conf_host_tree(h);
        cr_assert_geq(conf_host_propose(h, s, ss, t), 0, "%s: %s", cs->id, s->last_error(s));
        char terr[256];
        cr_expect_eq(dst_tree_validate(t, prompt[2], 64, 16, terr, sizeof terr), 0, "%s: %s", cs->id, terr);
        if (cs->needs_draft) cr_expect_gt(t->n_nodes, 1u, "%s: no draft with agreement 1", cs->id);
        const dstrat_tree_t saved = *t;
        expect_err(s, conf_host_propose(h, s, ss, t), DSTRAT_E_STATE, "propose twice without accept");
        cr_expect_eq(t->n_nodes, saved.n_nodes, "%s: a refused propose changed the tree", cs->id);
        /* accept with bad arguments leaves the proposal pending */
        ct = t;
        const dstrat_verify_t *v = conf_host_verify(h, terr, sizeof terr);
        cr_assert_not_null(v, "%s", terr);
        expect_err(s, s->accept(s, 1, &ss, &ct, NULL, &a), DSTRAT_E_INVALID_ARG, "accept(NULL verify array)");
        const dstrat_verify_t *vnull = NULL;
        expect_err(s, s->accept(s, 1, &ss, &ct, &vnull, &a), DSTRAT_E_INVALID_ARG, "accept(verify[0] NULL)");
        dstrat_verify_t v0 = *v;
        v0.struct_size = 0;
        const dstrat_verify_t *v0p = &v0;
        expect_err(s, s->accept(s, 1, &ss, &ct, &v0p, &a), DSTRAT_E_INVALID_ARG, "accept(verify struct_size 0)");
        v0 = *v;
        v0.n_nodes = t->n_nodes + 1;
        expect_err(s, s->accept(s, 1, &ss, &ct, &v0p, &a), DSTRAT_E_INVALID_ARG, "accept(verify n_nodes mismatch)");
        v0 = *v;
        v0.argmax = NULL;
        expect_err(s, s->accept(s, 1, &ss, &ct, &v0p, &a), DSTRAT_E_INVALID_ARG, "accept(greedy without argmax)");
        dstrat_accept_t a0 = *a;
        a0.struct_size = 0;
        dstrat_accept_t *a0p = &a0;
        expect_err(s, s->accept(s, 1, &ss, &ct, &v, &a0p), DSTRAT_E_INVALID_ARG, "accept(accept struct_size 0)");
        cr_assert_eq(s->accept(s, 1, &ss, &ct, &v, &a), DSTRAT_OK, "%s: %s", cs->id, s->last_error(s));
        cr_expect_geq(a->n_path, 1u);
        cr_expect_eq(a->path[0], 0);
        expect_err(s, s->accept(s, 1, &ss, &ct, &v, &a), DSTRAT_E_STATE, "accept twice");
        expect_err(s, s->observe(s, ss, NULL), DSTRAT_E_INVALID_ARG, "observe(NULL stats)");
        cr_expect_null(s->get_extension(s, "dstrat.no.such.extension/1"));
        cr_expect_null(s->get_extension(s, NULL));
        s->session_destroy(s, NULL); /* no-op */
        s->session_destroy(s, ss);
        s->destroy(s);
        conf_host_free(h);
    }
}

/* The session host's output, then the same generation on older and newer hosts. */
static void compat_case(const conf_strategy_t *cs, const char *params, sampler_params_t sp, float agr) {
    mock_cfg_t m = mock_default_cfg();
    int32_t prompt[40], ref[300], out[300];
    for (uint32_t pi = 0; pi < 4; pi++) {
        uint32_t np = conf_prompt(500 + pi, m.n_vocab, 40, prompt);
        conf_run_t r = {.file = "ar/dstrat_ar.so", .id = "ar", .params = "", .model = m, .agreement = -1,
                        .sampling = sp, .seed = 42 + pi, .prompt = prompt, .n_prompt = np, .max_new = 300, .out = ref};
        cr_assert_eq(conf_generate(&r), 300, "%s", r.err);
        static const int layouts[] = {CONF_LAYOUT_CURRENT, CONF_LAYOUT_OLDER, CONF_LAYOUT_NEWER};
        static const char *const names[] = {"current", "older", "newer"};
        for (int li = 0; li < 3; li++) {
            conf_host_t *h = conf_host_new(&m, agr, layouts[li], sp, 42 + pi);
            cr_assert_not_null(h);
            dstrat_strategy_t *s = create(cs, conf_host_abi(h), params);
            char err[512] = "";
            int64_t n = conf_host_generate(h, s, prompt, np, 300, out, err, sizeof err);
            cr_assert_eq(n, 300, "%s %s host: %s", cs->id, names[li], err);
            cr_assert_arr_eq(out, ref, sizeof out, "%s '%s' on the %s host differs from session ar (T %.1f)", cs->id,
                             params, names[li], (double) sp.temperature);
            const dstrat_plugin_stats_ext_t *x = s->get_extension(s, DSTRAT_PLUGIN_STATS_ID);
            cr_assert_not_null(x, "%s: no stats extension", cs->id);
            dstrat_plugin_stats_t st = {.struct_size = sizeof st};
            cr_assert_eq(x->get(s, &st), DSTRAT_OK);
            cr_expect_gt(st.n_cycles, 0u);
            cr_expect_geq(st.mean_tree_nodes, 1.0);
            /* older hosts do not report n_accepted: the stats must not invent it */
            if (layouts[li] == CONF_LAYOUT_OLDER) cr_expect_eq(st.n_accepted, 0u);
            else cr_expect_gt(st.mean_accepted, 1.0 - 1e-9);
            s->destroy(s);
            conf_host_free(h);
        }
    }
}

Test(contract, older_and_newer_hosts_greedy, .timeout = 300) {
    FOR_EACH_STRATEGY(cs) compat_case(cs, "", greedy, 0.8f);
    compat_case(&conf_strategies[1], "k=6 min_confidence=0.2", greedy, 0.9f);
}

Test(contract, older_and_newer_hosts_sampling, .timeout = 300) {
    sampler_params_t sp = {.temperature = 0.8f, .top_k = 30, .top_p = 0.95f};
    FOR_EACH_STRATEGY(cs) compat_case(cs, "", sp, 0.8f);
}

Test(contract, host_struct_without_draft_forward) {
    mock_cfg_t m = mock_default_cfg();
    FOR_EACH_STRATEGY(cs) {
        conf_host_t *h = conf_host_new(&m, 0.8f, CONF_LAYOUT_NO_DRAFT_FIELD, greedy, 1);
        dstrat_strategy_t *s = NULL;
        char err[256] = "";
        dstrat_status_t rc = entry_of(cs)->strategy_create(cs->id, conf_host_abi(h), NULL, 0, &s, err, sizeof err);
        if (cs->needs_draft) {
            cr_expect_eq(rc, DSTRAT_E_UNSUPPORTED, "%s: %s", cs->id, err);
        } else {
            cr_assert_eq(rc, DSTRAT_OK, "%s: %s", cs->id, err);
            int32_t out[50];
            cr_expect_eq(conf_host_generate(h, s, (const int32_t[]) {1, 2}, 2, 50, out, err, sizeof err), 50, "%s", err);
            s->destroy(s);
        }
        conf_host_free(h);
    }
    cr_expect_eq(conf_host_poison_called(), 0, "a plugin called draft_forward beyond the host's struct_size");
}

/* strategies built on plugin_base keep the stats extension up to date through observe */
Test(contract, stats_extension_through_session) {
    mock_cfg_t m = mock_default_cfg();
    int32_t prompt[] = {1, 2, 3}, out[400];
    conf_run_t r = {.file = "chain/dstrat_chain.so", .id = "chain", .params = "k=4", .model = m, .agreement = 1.0f,
                    .sampling = greedy, .seed = 1, .prompt = prompt, .n_prompt = 3, .max_new = 400, .out = out};
    cr_assert_eq(conf_generate(&r), 400, "%s", r.err);
    /* draft == target: every cycle accepts k drafts + 1; observe is skipped on the last cycle */
    cr_expect_eq(r.pstats.n_cycles, r.stats.n_cycles - 1);
    cr_expect_float_eq(r.pstats.mean_accepted, 5.0, 1e-9);
    cr_expect_float_eq(r.pstats.mean_tree_nodes, 5.0, 1e-9);
    cr_expect_eq(r.pstats.n_draft_calls, 4 * r.pstats.n_cycles);
    cr_expect_gt(r.pstats.mean_verify_ns, 0.0);
    cr_expect_gt(r.pstats.mean_draft_ns_per_call, 0.0);
}
