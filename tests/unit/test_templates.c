/* Unit tests for agents/templates: the embedded data (12+ templates, two per
 * domain, byte lengths), each template's spec, tools, documents and eval
 * set, installing into a fresh store (KB, agent, version 1 draft, eval set,
 * gate; reuse of an identical demo KB; refusal of a changed one with
 * nothing left behind; the installer's grant), and every template
 * answering its own eval set without a model at or above its gate. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "agents/eval.h"
#include "agents/runtime.h"
#include "agents/spec.h"
#include "agents/templates.h"
#include "agents/tools.h"
#include "auth/acl.h"
#include "auth/auth.h"
#include "common/config.h"
#include "common/rc.h"
#include "kb/kb.h"

struct tfx {
    struct config cfg;
    struct kb_engine *e;
    struct kb_conn *c;
    struct db_conn *d;
};

static int tsetup(struct tfx *f, const char *name)
{
    struct buf err = BUF_INIT;
    memset(f, 0, sizeof *f);
    unsetenv("ATRIUM_CHAT_URL");
    unsetenv("ATRIUM_EMBED_URL");
    unsetenv("ATRIUM_RERANK_URL");
    config_load(&f->cfg, NULL, &err);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/templates_%s", test_tmpdir(), name);
    config_set(&f->cfg, "data_dir", dir, &err);
    int rc = kb_engine_open(&f->cfg, &f->e, &err);
    if (!rc)
        rc = kb_conn_open(f->e, &f->c, &err);
    if (rc)
        fprintf(stderr, "setup: %s\n", buf_str(&err));
    else
        f->d = kb_conn_store(f->c);
    buf_release(&err);
    return rc;
}

static void tteardown(struct tfx *f)
{
    kb_conn_close(f->c);
    kb_engine_close(f->e);
    config_release(&f->cfg);
}

TEST(templates_embedded)
{
    CHECK(agent_tpl_nfiles > 12);
    for (size_t i = 0; i < agent_tpl_nfiles; i++) {
        const struct agent_tpl_file *f = &agent_tpl_files[i];
        CHECK(f->path && f->data);
        CHECK_INT(strlen(f->data), f->len); /* the generator's byte count */
    }
    CHECK(agent_templates_count() >= 12);
    json_t *list = agent_templates_list();
    CHECK_INT(json_array_size(list), agent_templates_count());
    /* two or more in each of the six domains, listed in domain order */
    static const char *const domains[] = {"运营", "风控", "信贷", "合规", "客服/营销", "办公"};
    int per[6] = {0}, last = 0;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *d = json_string_value(json_object_get(t, "domain"));
        int k = -1;
        for (int j = 0; j < 6; j++)
            if (d && strcmp(d, domains[j]) == 0)
                k = j;
        CHECK(k >= 0);
        if (k < 0)
            continue;
        CHECK(k >= last);
        last = k;
        per[k]++;
        CHECK(agent_name_valid(json_string_value(json_object_get(t, "name"))));
        CHECK(json_array_size(json_object_get(t, "documents")) >= 1);
        CHECK(json_integer_value(json_object_get(t, "cases")) >= 6);
    }
    for (int j = 0; j < 6; j++)
        CHECK(per[j] >= 2);
    json_decref(list);
    CHECK(agent_template_get("no-such-template") == NULL);
    CHECK(agent_template_get(NULL) == NULL);
}

struct doc_acc {
    struct buf all;
    size_t chars;
    int ndocs, titled;
};

static void on_doc(void *ctx, const char *name, const char *data, size_t len)
{
    struct doc_acc *a = ctx;
    (void)name;
    buf_add(&a->all, data, len);
    for (size_t i = 0; i < len; i++)
        a->chars += ((unsigned char)data[i] & 0xC0) != 0x80;
    a->ndocs++;
    /* the title (first line) marks it as demo material */
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) : len;
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(n < 511 ? n : 511), data);
    if (strncmp(line, "# ", 2) == 0 && strstr(line, "示例"))
        a->titled++;
}

/* Every template: spec parses, tools are known (kb_search always), 3–5
 * suggestions, a gate, 1,500–5,000 characters of demo text titled 示例, and
 * an eval set of >= 6 valid cases with >= 1 refusal and >= 2 citation cases
 * whose keywords all occur in the demo text. */
TEST(templates_valid)
{
    json_t *list = agent_templates_list();
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        json_t *t = agent_template_get(name);
        CHECK(t != NULL);
        if (!t)
            continue;
        struct buf err = BUF_INIT;
        char *spec = json_dumps(json_object_get(t, "spec"), JSON_COMPACT);
        struct agent_spec sp;
        int rc = spec_parse(spec, &sp, &err);
        if (rc != RC_OK)
            fprintf(stderr, "%s: spec: %s\n", name, buf_str(&err));
        CHECK_INT(rc, RC_OK);
        if (rc == RC_OK) {
            CHECK(spec_has_tool(&sp, "kb_search"));
            CHECK(!spec_has_tool(&sp, "web_search")); /* off by default */
            for (size_t k = 0; k < sp.ntools; k++)
                CHECK(tools_known(sp.tools[k]));
            CHECK(sp.nsuggestions >= 3 && sp.nsuggestions <= 5);
            CHECK(sp.opening && *sp.opening);
            CHECK(sp.prompt && strstr(sp.prompt, "示例"));
            CHECK_INT(sp.nkbs, 0);
        }
        spec_release(&sp);
        free(spec);
        CHECK(json_number_value(json_object_get(t, "minutes_saved")) > 0);
        double gate = json_number_value(json_object_get(json_object_get(t, "gate"), "min_score"));
        CHECK(gate >= 0.8 && gate <= 1.0);
        CHECK(*json_string_value(json_object_get(t, "avatar")) != '\0');

        struct doc_acc acc = {BUF_INIT, 0, 0, 0};
        CHECK_INT(agent_template_docs(name, on_doc, &acc), RC_OK);
        CHECK(acc.ndocs >= 1 && acc.ndocs <= 3);
        CHECK_INT(acc.titled, acc.ndocs);
        if (acc.chars < 1500 || acc.chars > 5000)
            fprintf(stderr, "%s: %zu characters of demo text\n", name, acc.chars);
        CHECK(acc.chars >= 1500 && acc.chars <= 5000);

        json_t *cases = json_object_get(json_object_get(t, "eval"), "cases");
        CHECK(json_array_size(cases) >= 6);
        int refusals = 0, cited = 0;
        size_t k;
        json_t *cs;
        json_array_foreach(cases, k, cs)
        {
            struct eval_expect x;
            buf_reset(&err);
            rc = eval_expect_parse(json_object_get(cs, "expect"), &x, &err);
            if (rc != RC_OK)
                fprintf(stderr, "%s case %zu: %s\n", name, k, buf_str(&err));
            CHECK_INT(rc, RC_OK);
            CHECK(json_string_value(json_object_get(cs, "question")) != NULL);
            refusals += x.refuse == 1;
            cited += x.ncitations > 0;
            if (x.refuse != 1)
                CHECK(x.nkeywords >= 2 && x.nkeywords <= 3);
            for (size_t w = 0; w < x.nkeywords; w++)
                CHECK_CONTAINS(buf_str(&acc.all), x.keywords[w]);
            eval_expect_release(&x);
        }
        CHECK(refusals >= 1);
        CHECK(cited >= 2);
        buf_release(&acc.all);
        buf_release(&err);
        json_decref(t);
    }
    json_decref(list);
}

static int count_rows(struct db_conn *d, const char *sql, int64_t arg)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

TEST(templates_install)
{
    struct tfx f;
    if (tsetup(&f, "install"))
        CHECK(0);
    struct buf err = BUF_INIT;
    struct agent_tpl_installed x;
    CHECK_INT(agent_template_install_ex(f.c, NULL, "counter-qa", NULL, &x, &err), RC_OK);
    CHECK_STR(x.agent_name, "counter-qa");
    CHECK(x.agent_id > 0 && x.kb_id > 0 && x.eval_set_id > 0);
    CHECK_INT(x.kb_reused, 0);

    struct agent a;
    CHECK_INT(agent_get_for(f.d, NULL, "counter-qa", &a), RC_OK);
    CHECK_STR(a.title, "柜面业务知识助手");
    CHECK_STR(a.domain, "运营");
    CHECK_STR(a.template_name, "counter-qa");
    CHECK_STR(a.status, "draft");
    CHECK_INT(a.gate_set_id, x.eval_set_id);
    CHECK(a.gate_min_score > 0.79 && a.gate_min_score < 0.81);
    CHECK(a.minutes_saved > 0);
    struct agent_version v;
    CHECK_INT(agent_version_get(f.d, a.id, 1, &v, &err), RC_OK);
    CHECK_STR(v.status, "draft");
    CHECK_INT(v.spec.nkbs, 1);
    if (v.spec.nkbs == 1)
        CHECK_INT(v.spec.kbs[0], x.kb_id);
    CHECK(spec_has_tool(&v.spec, "kb_search"));
    agent_version_release(&v);
    CHECK_INT(agent_version_get(f.d, a.id, 2, &v, &err), RC_NOT_FOUND);
    agent_version_release(&v);

    struct kb_info k;
    CHECK_INT(kb_get(f.c, "示例-柜面业务知识助手", &k), RC_OK);
    CHECK_INT(k.id, x.kb_id);
    CHECK_STR(k.kind, "enterprise");
    CHECK(k.ndocs >= 1 && k.nchunks > 5);
    int64_t ndocs = k.ndocs;
    kb_info_release(&k);
    /* the operator installed it: no grant at all */
    CHECK_INT(count_rows(f.d, "SELECT count(*) FROM kb_acl WHERE kb_id = ?1", x.kb_id), 0);
    json_t *set = NULL;
    CHECK_INT(eval_set_json(f.d, a.id, x.eval_set_id, &set), RC_OK);
    CHECK(json_array_size(json_object_get(set, "cases")) >= 6);
    json_decref(set);
    agent_release(&a);
    int64_t first_kb = x.kb_id;
    agent_tpl_installed_release(&x);

    /* the same name again: refused, nothing added */
    buf_reset(&err);
    CHECK_INT(agent_template_install_ex(f.c, NULL, "counter-qa", NULL, &x, &err), RC_EXISTS);
    CHECK_CONTAINS(buf_str(&err), "counter-qa");
    CHECK(x.agent_name == NULL && x.agent_id == 0);
    /* another name: the identical demo KB is reused */
    int64_t id2 = 0;
    CHECK_INT(agent_template_install(f.c, NULL, "counter-qa", "counter-qa-2", &id2, &err), RC_OK);
    CHECK(id2 > 0);
    CHECK_INT(count_rows(f.d, "SELECT count(*) FROM kbs WHERE name LIKE '示例-%' AND ?1", 1), 1);
    CHECK_INT(agent_get_for(f.d, NULL, "counter-qa-2", &a), RC_OK);
    CHECK_INT(agent_version_get(f.d, a.id, 1, &v, &err), RC_OK);
    CHECK(v.spec.nkbs == 1 && v.spec.kbs[0] == first_kb);
    agent_version_release(&v);
    agent_release(&a);
    CHECK_INT(kb_get(f.c, "示例-柜面业务知识助手", &k), RC_OK);
    CHECK_INT(k.ndocs, ndocs);
    kb_info_release(&k);

    /* bad input */
    buf_reset(&err);
    CHECK_INT(agent_template_install(f.c, NULL, "no-such", NULL, &id2, &err), RC_NOT_FOUND);
    CHECK_CONTAINS(buf_str(&err), "no-such");
    buf_reset(&err);
    CHECK_INT(agent_template_install(f.c, NULL, "counter-qa", "Bad Name", &id2, &err), RC_INVALID);
    CHECK_INT(agent_template_install(f.c, NULL, NULL, NULL, &id2, &err), RC_NOT_FOUND);

    /* someone changed the demo KB: never touched, and nothing is left of the
     * failed install (no agent, no eval set) */
    struct kb_ingest_report rep;
    memset(&rep, 0, sizeof rep);
    const char extra[] = "# 本行补充规定\n\n第一条 本行自定义的补充条款。\n";
    CHECK_INT(kb_ingest_bytes(f.c, first_kb, "extra.md", extra, sizeof extra - 1, &rep), RC_OK);
    kb_ingest_report_release(&rep);
    int agents = count_rows(f.d, "SELECT count(*) FROM agents WHERE ?1", 1);
    int sets = count_rows(f.d, "SELECT count(*) FROM eval_sets WHERE ?1", 1);
    buf_reset(&err);
    CHECK_INT(agent_template_install(f.c, NULL, "counter-qa", "counter-qa-3", &id2, &err),
              RC_EXISTS);
    CHECK_CONTAINS(buf_str(&err), "示例-柜面业务知识助手");
    CHECK_INT(count_rows(f.d, "SELECT count(*) FROM agents WHERE ?1", 1), agents);
    CHECK_INT(count_rows(f.d, "SELECT count(*) FROM eval_sets WHERE ?1", 1), sets);
    CHECK_INT(kb_get(f.c, "示例-柜面业务知识助手", &k), RC_OK);
    CHECK_INT(k.ndocs, ndocs + 1);
    kb_info_release(&k);

    /* a manager without kb.admin: becomes the new KB's admin, nobody else
     * is granted anything */
    int64_t uid = 0;
    CHECK_INT(auth_user_create(f.d, &f.cfg, "mgr", "经理", "", "Secret-pass-123", 0, &uid, &err),
              RC_OK);
    struct auth_principal who;
    memset(&who, 0, sizeof who);
    who.user_id = uid;
    snprintf(who.username, sizeof who.username, "mgr");
    who.perms = AUTH_P_AGENTS;
    CHECK_INT(agent_template_install_ex(f.c, &who, "doc-writing", NULL, &x, &err), RC_OK);
    CHECK_INT(count_rows(f.d, "SELECT count(*) FROM kb_acl WHERE kb_id = ?1", x.kb_id), 1);
    CHECK_INT(count_rows(f.d,
                         "SELECT count(*) FROM kb_acl WHERE kb_id = ?1 AND subject_type = 'user'"
                         " AND level = 3",
                         x.kb_id),
              1);
    CHECK_INT(kb_readable(f.c, &who, x.kb_id), RC_OK);
    CHECK_INT(agent_get_for(f.d, NULL, "doc-writing", &a), RC_OK);
    CHECK_INT(a.created_by, uid);
    agent_release(&a);
    agent_tpl_installed_release(&x);
    /* the manager may not read the operator's counter-qa KB: no reuse */
    buf_reset(&err);
    CHECK_INT(agent_template_install(f.c, &who, "counter-qa", "counter-qa-4", &id2, &err),
              RC_EXISTS);

    buf_release(&err);
    tteardown(&f);
}

/* Each template, installed into one store, answers its own eval set without
 * a model (the extractive answer through its knowledge tool) at or above
 * its gate, so that it can be published. */
TEST(templates_answer_own_eval)
{
    struct tfx f;
    if (tsetup(&f, "eval"))
        CHECK(0);
    struct buf err = BUF_INIT;
    struct agent_runtime *rt = NULL;
    CHECK_INT(agent_runtime_new(&f.cfg, NULL, NULL, NULL, &rt, &err), RC_OK);
    struct auth_principal who;
    auth_principal_cli(&who);
    json_t *list = agent_templates_list();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        struct agent_tpl_installed x;
        buf_reset(&err);
        int rc = agent_template_install_ex(f.c, &who, name, NULL, &x, &err);
        if (rc != RC_OK)
            fprintf(stderr, "%s: install: %s\n", name, buf_str(&err));
        CHECK_INT(rc, RC_OK);
        struct agent a;
        if (rc != RC_OK || agent_get_for(f.d, NULL, name, &a) != RC_OK) {
            agent_tpl_installed_release(&x);
            continue;
        }
        json_t *scores = NULL;
        int64_t run = 0;
        buf_reset(&err);
        rc = eval_run_sync(rt, f.c, &who, &a, 1, x.eval_set_id, 1, NULL, NULL, &run, &scores, &err);
        if (rc != RC_OK)
            fprintf(stderr, "%s: eval: %s\n", name, buf_str(&err));
        CHECK_INT(rc, RC_OK);
        double score = json_number_value(json_object_get(scores, "score"));
        /* The shipped templates answer every case of their own set without a
         * model, not just enough of them to pass the gate. */
        double pass_rate = json_number_value(json_object_get(scores, "pass_rate"));
        if (score < a.gate_min_score || pass_rate < 0.999) {
            json_t *res = NULL;
            if (eval_run_json(f.d, a.id, run, 1, &res) == RC_OK) {
                char *s = json_dumps(json_object_get(res, "results"), JSON_INDENT(1));
                fprintf(stderr, "%s: score %.3f < %.2f\n%s\n", name, score, a.gate_min_score, s);
                free(s);
            }
            json_decref(res);
        }
        CHECK(score >= a.gate_min_score);
        CHECK(pass_rate > 0.999);
        buf_reset(&err);
        CHECK_INT(eval_gate_check(f.d, &a, 1, &err), RC_OK);
        json_decref(scores);
        agent_release(&a);
        agent_tpl_installed_release(&x);
    }
    json_decref(list);
    agent_runtime_free(rt);
    buf_release(&err);
    tteardown(&f);
}
