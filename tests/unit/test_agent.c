/* Tests for src/agents/spec.c and agent.c: spec validation (defaults, the
 * normalised round trip, a table of bad specs each refused with the member
 * named), the lifecycle (create, drafts, publish, immutability, rollback,
 * retire, the quality gate, delete), grants, and a visibility matrix of
 * users × agents derived by hand from the grants (org subtree, position,
 * role, user, all; drafts and retired agents visible to managers only). */
#include "test.h"

#include "agents/agent.h"
#include "agents/spec.h"
#include "auth/auth.h"
#include "auth/org.h"
#include "common/buf.h"
#include "common/rc.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- spec ---- */

TEST(agent_spec_defaults_and_round_trip)
{
    struct agent_spec s;
    struct buf err = BUF_INIT;
    CHECK_INT(spec_parse("{}", &s, &err), RC_OK);
    CHECK_STR(s.prompt, "");
    CHECK_STR(s.model, "");
    CHECK_INT(s.nkbs, 0);
    CHECK_INT(s.max_steps, SPEC_DEFAULT_STEPS);
    CHECK_INT(s.max_seconds, SPEC_DEFAULT_SECONDS);
    CHECK(s.temperature < 0);
    spec_release(&s);

    const char *full =
        "{\"prompt\":\"你是柜面业务知识助手\",\"model\":\"qwen\",\"kbs\":[3,7],"
        "\"tools\":[\"kb_search\",\"calculator\",\"workdays\",\"http:rates\"],"
        "\"opening\":\"您好\",\"suggestions\":[\"开户要什么材料？\",\"小额账户管理费？\"],"
        "\"max_steps\":4,\"max_seconds\":30,\"temperature\":0.2,"
        "\"http_tools\":[{\"name\":\"rates\",\"description\":\"汇率\",\"method\":\"GET\","
        "\"url\":\"http://core.bank.local/fx/rates\",\"args_schema\":{\"type\":\"object\"}}]}";
    CHECK_INT(spec_parse(full, &s, &err), RC_OK);
    CHECK_STR(buf_str(&err), "");
    CHECK_INT(s.nkbs, 2);
    CHECK_INT(s.kbs[1], 7);
    CHECK_INT(s.ntools, 4);
    CHECK(spec_has_tool(&s, "http:rates"));
    CHECK(spec_has_tool(&s, "calculator"));
    CHECK(!spec_has_tool(&s, "web_search"));
    CHECK_INT(s.nsuggestions, 2);
    CHECK_INT(s.nhttp_tools, 1);
    CHECK_STR(s.http_tools[0].method, "GET");
    CHECK(s.temperature > 0.19 && s.temperature < 0.21);
    json_t *j = spec_to_json(&s);
    struct agent_spec s2;
    CHECK_INT(spec_from_json(j, &s2, &err), RC_OK);
    json_t *j2 = spec_to_json(&s2);
    CHECK(json_equal(j, j2));
    CHECK_STR(json_string_value(json_object_get(j2, "opening")), "您好");
    json_decref(j);
    json_decref(j2);
    spec_release(&s2);
    spec_release(&s);

    /* An http tool without method or schema gets GET and an empty object schema. */
    CHECK_INT(
        spec_parse("{\"http_tools\":[{\"name\":\"a_1\",\"url\":\"https://x.local/a\"}]}", &s, &err),
        RC_OK);
    CHECK_STR(s.http_tools[0].method, "GET");
    CHECK(json_is_object(s.http_tools[0].args_schema));
    spec_release(&s);
    buf_release(&err);
}

TEST(agent_spec_refuses_bad_input)
{
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"[]", "JSON 对象"},
        {"{\"prompt\":\"x\"", "not valid JSON"},
        {"{\"promt\":\"x\"}", "promt"},
        {"{\"prompt\":1}", "prompt must be a string"},
        {"{\"prompt\":\"a\\u0000b\"}", "not valid JSON"},
        {"{\"prompt\":\"a\",\"prompt\":\"b\"}", "not valid JSON"},
        {"{\"kbs\":[0]}", "kbs[0]"},
        {"{\"kbs\":[1,\"2\"]}", "kbs[1]"},
        {"{\"kbs\":[5,5]}", "kbs[1] is a duplicate"},
        {"{\"kbs\":{}}", "kbs must be an array"},
        {"{\"tools\":[\"nope\"]}", "tools[0] names an unknown tool"},
        {"{\"tools\":[\"http:rates\"]}", "unknown tool: http:rates"},
        {"{\"tools\":[\"calculator\",\"calculator\"]}", "tools[1] is a duplicate"},
        {"{\"http_tools\":[{\"name\":\"Bad-Name\",\"url\":\"http://x\"}]}", "http_tools[0].name"},
        {"{\"http_tools\":[{\"name\":\"a\",\"url\":\"http://x\",\"method\":\"PUT\"}]}",
         "GET or POST"},
        {"{\"http_tools\":[{\"name\":\"a\",\"url\":\"ftp://x\"}]}", "http_tools[0].url"},
        {"{\"http_tools\":[{\"name\":\"a\",\"url\":\"http://x y\"}]}", "http_tools[0].url"},
        {"{\"http_tools\":[{\"name\":\"a\",\"url\":\"http://x\",\"args_schema\":[]}]}",
         "args_schema must be"},
        {"{\"http_tools\":[{\"name\":\"a\",\"url\":\"http://x\",\"extra\":1}]}", "extra"},
        {"{\"http_tools\":[{\"name\":\"a\",\"url\":\"http://x\"},{\"name\":\"a\",\"url\":"
         "\"http://y\"}]}",
         "http_tools[1].name is a duplicate"},
        {"{\"max_steps\":0}", "max_steps"},
        {"{\"max_steps\":21}", "max_steps"},
        {"{\"max_seconds\":601}", "max_seconds"},
        {"{\"max_seconds\":1.5}", "max_seconds"},
        {"{\"temperature\":\"hot\"}", "temperature"},
        {"{\"temperature\":2.5}", "temperature"},
        {"{\"suggestions\":[\"\"]}", "suggestions[0] must not be empty"},
        {"{\"suggestions\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
         "at most 8 suggestions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct agent_spec s;
        struct buf err = BUF_INIT;
        int rc = spec_parse(bad[i].json, &s, &err);
        if (rc != RC_INVALID)
            test_fail(__FILE__, __LINE__, "spec %s: rc %d, expected RC_INVALID", bad[i].json, rc);
        else if (!strstr(buf_str(&err), bad[i].needle))
            test_fail(__FILE__, __LINE__, "spec %s: message \"%s\" lacks \"%s\"", bad[i].json,
                      buf_str(&err), bad[i].needle);
        spec_release(&s);
        buf_release(&err);
    }
    /* Sizes: a prompt one byte over, and 65 KBs. */
    struct buf big = BUF_INIT;
    buf_init(&big, 1u << 20);
    (void)buf_adds(&big, "{\"prompt\":\"");
    for (int i = 0; i <= SPEC_PROMPT_MAX; i++)
        (void)buf_addc(&big, 'a');
    (void)buf_adds(&big, "\"}");
    struct agent_spec s;
    struct buf err = BUF_INIT;
    CHECK_INT(spec_parse(buf_str(&big), &s, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "prompt is too long");
    spec_release(&s);
    buf_reset(&big);
    buf_reset(&err);
    (void)buf_adds(&big, "{\"kbs\":[");
    for (int i = 1; i <= SPEC_KBS_MAX + 1; i++)
        (void)buf_addf(&big, "%s%d", i > 1 ? "," : "", i);
    (void)buf_adds(&big, "]}");
    CHECK_INT(spec_parse(buf_str(&big), &s, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "at most 64 kbs");
    spec_release(&s);
    /* Invalid UTF-8 never parses. */
    buf_reset(&err);
    CHECK_INT(spec_parse("{\"prompt\":\"\xff\xfe\"}", &s, &err), RC_INVALID);
    spec_release(&s);
    CHECK_INT(spec_parse(NULL, &s, &err), RC_INVALID);
    spec_release(&s);
    /* A NUL inside a string built in C (jansson's parser refuses \u0000). */
    json_t *j = json_pack("{s:s%}", "opening", "a\0b", (size_t)3);
    buf_reset(&err);
    CHECK_INT(spec_from_json(j, &s, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "opening holds invalid");
    spec_release(&s);
    json_decref(j);
    buf_release(&big);
    buf_release(&err);
}

/* ---- the store fixture ---- */

enum { ZHANG, LI, WANG, ZHAO, QIAN, SUN, NUSERS };
enum { A_SH, A_TELLER, A_ROLE, A_USER, A_ALL, A_DRAFT, A_RETIRED, NAGENTS };

static const char *const user_names[NUSERS] = {"zhang", "li", "wang", "zhao", "qian", "sun"};
static const char *const agent_names[NAGENTS] = {"sh-rules", "teller",     "role-only", "sun-only",
                                                 "everyone", "draft-only", "retired"};

struct fx {
    struct db_conn d;
    int64_t hq, sh, pd, bj, cy;
    int64_t teller, ops, mgr, role;
    int64_t user[NUSERS];
    int64_t agent[NAGENTS];
};

static int64_t exec_insert(struct db_conn *d, const char *sql, const char *s, int64_t i)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (s)
        sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
    if (i)
        sqlite3_bind_int64(st, 2, i);
    if (sqlite3_step(st) == SQLITE_DONE)
        id = sqlite3_last_insert_rowid(d->db);
    sqlite3_finalize(st);
    return id;
}

static int open_db(struct fx *f, const char *name)
{
    memset(f, 0, sizeof *f);
    char path[512];
    struct buf err = BUF_INIT;
    snprintf(path, sizeof path, "%s/agent_%s.db", test_tmpdir(), name);
    remove(path);
    sqlite3 *db = NULL;
    int rc = db_open(path, &db, &err);
    if (rc)
        fprintf(stderr, "db_open: %s\n", buf_str(&err));
    else
        f->d = (struct db_conn){db, db_cache_new(db)};
    buf_release(&err);
    return rc;
}

static int create(struct fx *f, const char *name, const char *spec, int64_t *id)
{
    struct buf err = BUF_INIT;
    struct agent_new n = {name, "标题", "🤖", "说明", "运营", "", -1};
    int rc = agent_create(&f->d, &n, spec, 1, id, &err);
    if (rc)
        fprintf(stderr, "agent_create %s: %s\n", name, buf_str(&err));
    buf_release(&err);
    return rc;
}

static int publish(struct fx *f, int64_t id, int version)
{
    struct buf err = BUF_INIT;
    int rc = agent_publish(&f->d, id, version, &err);
    if (rc)
        fprintf(stderr, "agent_publish: %s\n", buf_str(&err));
    buf_release(&err);
    return rc;
}

static int grant(struct fx *f, int agent, const char *type, const char *subject)
{
    struct buf err = BUF_INIT;
    int64_t gid = 0;
    int rc = agent_acl_add(&f->d, f->agent[agent], type, subject, &gid, &err);
    if (rc)
        fprintf(stderr, "agent_acl_add %s %s: %s\n", type, subject ? subject : "", buf_str(&err));
    buf_release(&err);
    return rc;
}

/* The bank (as in test_acl.c):
 *   总行 ─┬─ 上海分行 ── 浦东支行
 *        └─ 北京分行 ── 朝阳支行
 *   zhang: 浦东支行, 柜员      li: 上海分行, 客户经理   wang: 北京分行, 柜员
 *   zhao: 朝阳支行, 运营主管, role 智能助手用户        qian: 总行 (nothing else)
 *   sun: 北京分行, 客户经理
 * Agents (published unless said) and grants:
 *   sh-rules: org 上海分行 (subtree)   teller: position 柜员
 *   role-only: role 智能助手用户        sun-only: user sun
 *   everyone: all                      draft-only: all, never published
 *   retired: all, published then retired */
static int setup(struct fx *f, const char *name)
{
    if (open_db(f, name))
        return RC_DB;
    struct db_conn *d = &f->d;
    struct buf err = BUF_INIT;
    int rc = RC_INTERNAL;
    if (org_create(d, "总行", 0, &f->hq, &err) || org_create(d, "上海分行", f->hq, &f->sh, &err) ||
        org_create(d, "浦东支行", f->sh, &f->pd, &err) ||
        org_create(d, "北京分行", f->hq, &f->bj, &err) ||
        org_create(d, "朝阳支行", f->bj, &f->cy, &err) ||
        position_create(d, "柜员", &f->teller, &err) ||
        position_create(d, "运营主管", &f->ops, &err) ||
        position_create(d, "客户经理", &f->mgr, &err) ||
        role_create(d, "智能助手用户", 0, &f->role, &err))
        goto out;
    const int64_t org_of[NUSERS] = {f->pd, f->sh, f->bj, f->cy, f->hq, f->bj};
    const int64_t pos_of[NUSERS] = {f->teller, f->mgr, f->teller, f->ops, 0, f->mgr};
    for (int i = 0; i < NUSERS; i++) {
        f->user[i] = exec_insert(d,
                                 "INSERT INTO users(username, created_at, updated_at)"
                                 " VALUES (?1, 0, 0)",
                                 user_names[i], 0);
        if (!f->user[i] || org_member_add(d, org_of[i], f->user[i], "local") ||
            (pos_of[i] && position_assign(d, f->user[i], pos_of[i], "local")))
            goto out;
    }
    if (role_grant(d, f->user[ZHAO], f->role, "local"))
        goto out;
    for (int i = 0; i < NAGENTS; i++)
        if (create(f, agent_names[i], "{\"prompt\":\"p\"}", &f->agent[i]))
            goto out;
    if (grant(f, A_SH, "org", "总行/上海分行") || grant(f, A_TELLER, "position", "柜员") ||
        grant(f, A_ROLE, "role", "智能助手用户") || grant(f, A_USER, "user", "sun") ||
        grant(f, A_ALL, "all", NULL) || grant(f, A_DRAFT, "all", NULL) ||
        grant(f, A_RETIRED, "all", NULL))
        goto out;
    for (int i = 0; i < NAGENTS; i++)
        if (i != A_DRAFT && publish(f, f->agent[i], 1))
            goto out;
    if (agent_retire(d, f->agent[A_RETIRED], &err))
        goto out;
    rc = RC_OK;
out:
    if (rc)
        fprintf(stderr, "agent setup failed: %s\n", buf_str(&err));
    buf_release(&err);
    return rc;
}

static void teardown(struct fx *f)
{
    db_cache_free(f->d.cache);
    db_close(f->d.db);
}

static struct auth_principal who(int64_t user_id, unsigned perms)
{
    struct auth_principal p;
    memset(&p, 0, sizeof p);
    p.user_id = user_id;
    p.perms = perms;
    p.via = AUTH_VIA_SESSION;
    return p;
}

static int64_t sql_int(struct fx *f, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(f->d.db, sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char *version_status(struct fx *f, int64_t agent, int version, char *buf, size_t cap)
{
    struct agent_version v;
    buf[0] = 0;
    if (agent_version_get(&f->d, agent, version, &v, NULL) == RC_OK)
        snprintf(buf, cap, "%s", v.status);
    agent_version_release(&v);
    return buf;
}

/* ---- visibility ---- */

TEST(agent_visibility_matrix)
{
    struct fx f;
    if (setup(&f, "matrix")) {
        CHECK(0);
        return;
    }
    static const int want[NUSERS][NAGENTS] = {
        /*            sh tel role user all draft retired */
        /* zhang */ {1, 1, 0, 0, 1, 0, 0},
        /* li    */ {1, 0, 0, 0, 1, 0, 0},
        /* wang  */ {0, 1, 0, 0, 1, 0, 0},
        /* zhao  */ {0, 0, 1, 0, 1, 0, 0},
        /* qian  */ {0, 0, 0, 0, 1, 0, 0},
        /* sun   */ {0, 0, 0, 1, 1, 0, 0},
    };
    for (int u = 0; u < NUSERS; u++) {
        struct auth_principal p = who(f.user[u], 0);
        int n = 0;
        for (int a = 0; a < NAGENTS; a++) {
            int usable = agent_usable(&f.d, &p, f.agent[a]) == RC_OK;
            struct agent ag;
            int by_name = agent_get_for(&f.d, &p, agent_names[a], &ag) == RC_OK;
            agent_release(&ag);
            if (usable != want[u][a] || by_name != want[u][a])
                test_fail(__FILE__, __LINE__, "user %s, agent %s: usable %d, by name %d, want %d",
                          user_names[u], agent_names[a], usable, by_name, want[u][a]);
            n += want[u][a];
        }
        json_t *list = NULL;
        CHECK_INT(agent_list_usable(&f.d, &p, &list), RC_OK);
        if ((int)json_array_size(list) != n)
            test_fail(__FILE__, __LINE__, "user %s: gallery of %zu, want %d", user_names[u],
                      json_array_size(list), n);
        json_decref(list);
    }
    /* Managers load every agent, drafts and retired ones too; their gallery
     * holds the published ones. */
    struct auth_principal m = who(f.user[QIAN], AUTH_P_AGENTS);
    for (int a = 0; a < NAGENTS; a++)
        CHECK_INT(agent_usable(&f.d, &m, f.agent[a]), RC_OK);
    json_t *list = NULL;
    CHECK_INT(agent_list_usable(&f.d, &m, &list), RC_OK);
    CHECK_INT(json_array_size(list), NAGENTS - 2);
    json_t *first = json_array_get(list, 0);
    CHECK_STR(json_string_value(json_object_get(first, "opening")), "");
    CHECK(json_is_array(json_object_get(first, "suggestions")));
    json_decref(list);
    CHECK_INT(agent_list_all(&f.d, &list), RC_OK);
    CHECK_INT(json_array_size(list), NAGENTS);
    json_decref(list);
    /* No principal: anything (the server's own callers). By id works too. */
    struct agent ag;
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)f.agent[A_DRAFT]);
    CHECK_INT(agent_get_for(&f.d, NULL, idbuf, &ag), RC_OK);
    CHECK_STR(ag.name, "draft-only");
    CHECK_STR(ag.status, "draft");
    agent_release(&ag);
    CHECK_INT(agent_get_for(&f.d, NULL, "no-such", &ag), RC_NOT_FOUND);
    CHECK_INT(agent_get_for(&f.d, NULL, "Bad Name", &ag), RC_NOT_FOUND);

    /* Moving 浦东支行 under 北京分行 takes the org grant away from zhang. */
    struct buf err = BUF_INIT;
    CHECK_INT(org_move(&f.d, f.pd, f.bj, &err), RC_OK);
    struct auth_principal z = who(f.user[ZHANG], 0);
    CHECK_INT(agent_usable(&f.d, &z, f.agent[A_SH]), RC_NOT_FOUND);
    /* Revoking the "all" grant hides "everyone" from qian. */
    json_t *acl = NULL;
    CHECK_INT(agent_acl_list(&f.d, f.agent[A_ALL], &acl), RC_OK);
    CHECK_INT(json_array_size(acl), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(acl, 0), "subject")), "*");
    int64_t gid = json_integer_value(json_object_get(json_array_get(acl, 0), "id"));
    json_decref(acl);
    CHECK_INT(agent_acl_remove(&f.d, f.agent[A_ALL], gid), RC_OK);
    CHECK_INT(agent_acl_remove(&f.d, f.agent[A_ALL], gid), RC_NOT_FOUND);
    struct auth_principal q = who(f.user[QIAN], 0);
    CHECK_INT(agent_usable(&f.d, &q, f.agent[A_ALL]), RC_NOT_FOUND);
    buf_release(&err);
    teardown(&f);
}

TEST(agent_grants)
{
    struct fx f;
    if (setup(&f, "grants")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t g1 = 0, g2 = 0;
    CHECK_INT(agent_acl_add(&f.d, f.agent[A_USER], "group", "x", &g1, &err), RC_INVALID);
    buf_reset(&err);
    CHECK_INT(agent_acl_add(&f.d, f.agent[A_USER], "user", "nobody", &g1, &err), RC_NOT_FOUND);
    CHECK_CONTAINS(buf_str(&err), "nobody");
    buf_reset(&err);
    CHECK_INT(agent_acl_add(&f.d, f.agent[A_USER], "org", "", &g1, &err), RC_INVALID);
    buf_reset(&err);
    CHECK_INT(agent_acl_add(&f.d, 999999, "all", NULL, &g1, &err), RC_NOT_FOUND);
    /* Granting twice is the same row; subjects by id work too. */
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)f.user[LI]);
    CHECK_INT(agent_acl_add(&f.d, f.agent[A_USER], "user", idbuf, &g1, &err), RC_OK);
    CHECK_INT(agent_acl_add(&f.d, f.agent[A_USER], "user", "li", &g2, &err), RC_OK);
    CHECK_INT(g1, g2);
    struct auth_principal li = who(f.user[LI], 0);
    CHECK_INT(agent_usable(&f.d, &li, f.agent[A_USER]), RC_OK);
    json_t *acl = NULL;
    CHECK_INT(agent_acl_list(&f.d, f.agent[A_USER], &acl), RC_OK);
    CHECK_INT(json_array_size(acl), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(acl, 1), "subject")), "li");
    CHECK_STR(json_string_value(json_object_get(json_array_get(acl, 1), "subject_type")), "user");
    json_decref(acl);
    CHECK_INT(agent_acl_list(&f.d, f.agent[A_SH], &acl), RC_OK);
    CHECK_STR(json_string_value(json_object_get(json_array_get(acl, 0), "subject")),
              "总行/上海分行");
    json_decref(acl);
    buf_release(&err);
    teardown(&f);
}

/* ---- lifecycle ---- */

TEST(agent_lifecycle)
{
    struct fx f;
    if (open_db(&f, "life")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t id = 0, other = 0;
    char st[16];
    CHECK_INT(create(&f, "counter", "{\"prompt\":\"v1\",\"tools\":[\"calculator\"]}", &id), RC_OK);
    CHECK(id > 0);
    /* Names: taken, invalid, all digits; a bad spec or missing title. */
    struct agent_new n = {"counter", "T", NULL, NULL, NULL, NULL, -1};
    CHECK_INT(agent_create(&f.d, &n, NULL, 0, &other, &err), RC_EXISTS);
    n.name = "Counter";
    CHECK_INT(agent_create(&f.d, &n, NULL, 0, &other, &err), RC_INVALID);
    n.name = "12345";
    CHECK_INT(agent_create(&f.d, &n, NULL, 0, &other, &err), RC_INVALID);
    n.name = "fine";
    n.title = "";
    CHECK_INT(agent_create(&f.d, &n, NULL, 0, &other, &err), RC_INVALID);
    n.title = "T";
    buf_reset(&err);
    CHECK_INT(agent_create(&f.d, &n, "{\"tools\":[\"rm_rf\"]}", 0, &other, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "tools[0]");
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM agents WHERE name = 'fine'", 0, 0), 0);

    struct agent a;
    CHECK_INT(agent_get_for(&f.d, NULL, "counter", &a), RC_OK);
    CHECK_STR(a.status, "draft");
    CHECK_INT(a.published_version, 0);
    CHECK(a.minutes_saved > 4.9 && a.minutes_saved < 5.1);
    agent_release(&a);
    CHECK_STR(version_status(&f, id, 1, st, sizeof st), "draft");
    CHECK_STR(version_status(&f, id, 0, st, sizeof st), ""); /* nothing published */

    /* Drafts change; the stored spec is normalised. */
    CHECK_INT(agent_version_update(&f.d, id, 1, "{\"prompt\":\"v1b\"}", "first", &err), RC_OK);
    struct agent_version v;
    CHECK_INT(agent_version_get(&f.d, id, 1, &v, &err), RC_OK);
    CHECK_STR(v.spec.prompt, "v1b");
    CHECK_STR(v.note, "first");
    CHECK_INT(v.spec.ntools, 0);
    agent_version_release(&v);
    CHECK_INT(agent_version_update(&f.d, id, 1, "{\"max_steps\":99}", NULL, &err), RC_INVALID);
    CHECK_INT(agent_version_update(&f.d, id, 7, NULL, "x", &err), RC_NOT_FOUND);

    /* Publish; the version is frozen (in C: RC_EXISTS; in SQL: the trigger). */
    CHECK_INT(publish(&f, id, 1), RC_OK);
    CHECK_INT(agent_get_for(&f.d, NULL, "counter", &a), RC_OK);
    CHECK_STR(a.status, "published");
    CHECK_INT(a.published_version, 1);
    agent_release(&a);
    CHECK_STR(version_status(&f, id, 0, st, sizeof st), "published");
    buf_reset(&err);
    CHECK_INT(agent_version_update(&f.d, id, 1, "{\"prompt\":\"changed\"}", NULL, &err), RC_EXISTS);
    CHECK_CONTAINS(buf_str(&err), "immutable");
    CHECK_INT(agent_version_update(&f.d, id, 1, NULL, "note", &err), RC_EXISTS);
    CHECK(sqlite3_exec(f.d.db, "UPDATE agent_versions SET spec = '{}' WHERE version = 1", NULL,
                       NULL, NULL) != SQLITE_OK);
    CHECK_INT(agent_publish(&f.d, id, 1, &err), RC_EXISTS);
    CHECK_INT(agent_publish(&f.d, id, 9, &err), RC_NOT_FOUND);

    /* A second draft (a copy of the latest), edited and published. */
    int ver = 0;
    CHECK_INT(agent_version_new(&f.d, id, 0, NULL, "copy", 1, &ver, &err), RC_OK);
    CHECK_INT(ver, 2);
    CHECK_INT(agent_version_get(&f.d, id, 2, &v, &err), RC_OK);
    CHECK_STR(v.spec.prompt, "v1b");
    CHECK_STR(v.status, "draft");
    agent_version_release(&v);
    CHECK_INT(agent_version_update(&f.d, id, 2, "{\"prompt\":\"v2\"}", NULL, &err), RC_OK);
    CHECK_INT(publish(&f, id, 2), RC_OK);
    CHECK_STR(version_status(&f, id, 1, st, sizeof st), "retired");
    CHECK_STR(version_status(&f, id, 2, st, sizeof st), "published");
    CHECK_INT(agent_version_get(&f.d, id, 0, &v, &err), RC_OK);
    CHECK_STR(v.spec.prompt, "v2");
    agent_version_release(&v);
    CHECK_INT(sql_int(&f,
                      "SELECT count(*) FROM agent_versions WHERE agent_id = ?1"
                      " AND status = 'published'",
                      id, 0),
              1);

    /* A third from a new spec; then from version 1 explicitly; a missing one. */
    CHECK_INT(agent_version_new(&f.d, id, 0, "{\"prompt\":\"v3\"}", NULL, 1, &ver, &err), RC_OK);
    CHECK_INT(ver, 3);
    CHECK_INT(agent_version_new(&f.d, id, 1, NULL, NULL, 1, &ver, &err), RC_OK);
    CHECK_INT(ver, 4);
    CHECK_INT(agent_version_new(&f.d, id, 42, NULL, NULL, 1, &ver, &err), RC_NOT_FOUND);
    CHECK_INT(agent_version_new(&f.d, 999999, 0, NULL, NULL, 1, &ver, &err), RC_NOT_FOUND);

    /* Rollback to 1: 1 published, 2 retired; never to a draft. */
    CHECK_INT(agent_rollback(&f.d, id, 1, &err), RC_OK);
    CHECK_STR(version_status(&f, id, 1, st, sizeof st), "published");
    CHECK_STR(version_status(&f, id, 2, st, sizeof st), "retired");
    CHECK_INT(agent_version_get(&f.d, id, 0, &v, &err), RC_OK);
    CHECK_STR(v.spec.prompt, "v1b");
    agent_version_release(&v);
    buf_reset(&err);
    CHECK_INT(agent_rollback(&f.d, id, 3, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "never");
    CHECK_INT(agent_rollback(&f.d, id, 1, &err), RC_OK); /* already: no change */
    CHECK_INT(agent_rollback(&f.d, id, 77, &err), RC_NOT_FOUND);

    json_t *vs = NULL;
    CHECK_INT(agent_versions_list(&f.d, id, &vs), RC_OK);
    CHECK_INT(json_array_size(vs), 4);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(vs, 0), "version")), 4);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_array_get(vs, 1), "spec"), "prompt")),
              "v3");
    json_decref(vs);

    /* Retire: out of use for everyone but managers; rollback brings it back. */
    CHECK_INT(agent_acl_add(&f.d, id, "all", NULL, &other, &err), RC_OK);
    struct auth_principal u = who(5, 0), m = who(5, AUTH_P_AGENTS);
    CHECK_INT(agent_usable(&f.d, &u, id), RC_OK);
    CHECK_INT(agent_retire(&f.d, id, &err), RC_OK);
    CHECK_INT(agent_usable(&f.d, &u, id), RC_NOT_FOUND);
    CHECK_INT(agent_usable(&f.d, &m, id), RC_OK);
    CHECK_INT(agent_get_for(&f.d, NULL, "counter", &a), RC_OK);
    CHECK_STR(a.status, "retired");
    CHECK_INT(a.published_version, 0);
    agent_release(&a);
    CHECK_STR(version_status(&f, id, 1, st, sizeof st), "retired");
    CHECK_INT(agent_version_get(&f.d, id, 0, &v, &err), RC_NOT_FOUND);
    CHECK_INT(agent_rollback(&f.d, id, 2, &err), RC_OK);
    CHECK_INT(agent_usable(&f.d, &u, id), RC_OK);
    CHECK_INT(agent_retire(&f.d, 999999, &err), RC_NOT_FOUND);

    /* Update: fields, ranges. */
    struct agent_patch p;
    memset(&p, 0, sizeof p);
    p.title = "计数助手";
    p.set_minutes = 1;
    p.minutes_saved = 12;
    CHECK_INT(agent_update(&f.d, id, &p, &err), RC_OK);
    CHECK_INT(agent_get_for(&f.d, NULL, "counter", &a), RC_OK);
    CHECK_STR(a.title, "计数助手");
    CHECK_STR(a.avatar, "🤖");
    CHECK(a.minutes_saved > 11.9 && a.minutes_saved < 12.1);
    json_t *aj = agent_json(&a);
    CHECK_STR(json_string_value(json_object_get(aj, "title")), "计数助手");
    CHECK_INT(json_integer_value(json_object_get(aj, "published_version")), 2);
    json_decref(aj);
    agent_release(&a);
    p.minutes_saved = -3;
    CHECK_INT(agent_update(&f.d, id, &p, &err), RC_INVALID);
    memset(&p, 0, sizeof p);
    p.title = "";
    CHECK_INT(agent_update(&f.d, id, &p, &err), RC_INVALID);
    p.title = "x";
    CHECK_INT(agent_update(&f.d, 999999, &p, &err), RC_NOT_FOUND);

    /* Delete takes the versions and grants along. */
    CHECK_INT(agent_delete(&f.d, id), RC_OK);
    CHECK_INT(agent_delete(&f.d, id), RC_NOT_FOUND);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM agent_versions WHERE agent_id = ?1", id, 0), 0);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM agent_acl WHERE agent_id = ?1", id, 0), 0);
    buf_release(&err);
    teardown(&f);
}

TEST(agent_publish_passes_quality_gate)
{
    struct fx f;
    if (open_db(&f, "gate")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t id = 0, other = 0;
    CHECK_INT(create(&f, "gated", NULL, &id), RC_OK);
    CHECK_INT(create(&f, "other", NULL, &other), RC_OK);
    int64_t set = exec_insert(&f.d,
                              "INSERT INTO eval_sets(agent_id, name, created_at)"
                              " VALUES (?2, ?1, 0)",
                              "gate", id);
    CHECK(set > 0);
    struct agent_patch p;
    memset(&p, 0, sizeof p);
    p.set_gate = 1;
    p.gate_set_id = set;
    p.gate_min_score = 0.8;
    CHECK_INT(agent_update(&f.d, other, &p, &err), RC_INVALID); /* not its set */
    p.gate_set_id = 0;
    CHECK_INT(agent_update(&f.d, id, &p, &err), RC_INVALID); /* a score needs a set */
    p.gate_set_id = set;
    p.gate_min_score = 1.5;
    CHECK_INT(agent_update(&f.d, id, &p, &err), RC_INVALID);
    p.gate_min_score = 0.8;
    CHECK_INT(agent_update(&f.d, id, &p, &err), RC_OK);
    buf_reset(&err);
    CHECK_INT(agent_publish(&f.d, id, 1, &err), RC_DENIED);
    CHECK(err.len > 0);
    char st[16];
    CHECK_STR(version_status(&f, id, 1, st, sizeof st), "draft");
    /* A finished run over the gate set scoring 0.9 lets version 1 through. */
    sqlite3_stmt *s = NULL;
    CHECK(sqlite3_prepare_v2(f.d.db,
                             "INSERT INTO eval_runs(agent_id, version, set_id, status, total, done,"
                             " scores, created_at) VALUES (?1, 1, ?2, 'done', 1, 1,"
                             " '{\"score\":0.9,\"pass_rate\":1,\"cases\":1,\"passed\":1}', 0)",
                             -1, &s, NULL) == SQLITE_OK);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, set);
    CHECK(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_finalize(s);
    buf_reset(&err);
    CHECK_INT(agent_publish(&f.d, id, 1, &err), RC_OK);
    CHECK_STR(version_status(&f, id, 1, st, sizeof st), "published");
    buf_release(&err);
    teardown(&f);
}
