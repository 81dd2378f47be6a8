/* Unit tests for agents/analytics: agent traces and super-assistant
 * messages inserted by hand over several local days, agents, users and
 * orgs; the expected series, totals, per-agent rows and unanswered
 * questions are computed here from the same rows, independently of the
 * SQL under test. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/analytics.h"
#include "common/rc.h"
#include "store/db.h"

/* The days: D0 = 2026-03-02 … (local); day -1 and 2 are outside the range
 * queried (D0..D1). */
static const char *const DAYS[] = {"2026-03-02", "2026-03-03"};

static int64_t at(int day, int hour, int min)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 2;
    tm.tm_mday = 2 + day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm);
}

/* users 1..3: u1 in branch A (org 2), u2 in branch B (org 3) and also in
 * the head office (org 1: must not count twice), u3 in none. */
static int user_in(int user, int org)
{
    if (org == 0)
        return 1;
    if (org == 1)
        return user == 1 || user == 2;
    if (org == 2)
        return user == 1;
    if (org == 3)
        return user == 2;
    return 0;
}

struct trow {  /* an agent trace */
    int agent; /* 1 teller (6 min), 2 credit (12 min) */
    int user;  /* 1..3 */
    int day, hour, min;
    int conv; /* 0 = a one-off ask; else a conversation key */
    int answered;
    int rating; /* 1, -1, 0 = none */
    int eval;   /* an evaluation's trace */
    const char *q;
};

static const struct trow T[] = {
    {1, 1, 0, 9, 0, 1, 1, 1, 0, "挂失怎么办"},
    {1, 1, 0, 10, 0, 1, 0, -1, 0, "火星汇率"},
    {1, 2, 0, 11, 0, 0, 0, 0, 0, "火星汇率"},
    {2, 2, 1, 9, 0, 2, 1, 1, 0, "贷款利率"},
    {2, 3, 1, 23, 30, 0, 1, 0, 0, "贷款额度"},
    {1, 1, 1, 0, 30, 1, 0, 0, 0, "火星汇率"}, /* conversation 1 again, next day */
    {1, 1, 2, 9, 0, 1, 1, 0, 0, "范围之后"},
    {1, 1, -1, 23, 59, 1, 0, 0, 0, "范围之前"},
    {1, 1, 0, 12, 0, 0, 0, 0, 1, "评测问题"},
    {2, 1, 0, 13, 0, 4, 1, -1, 0, "贷款期限"},
};
#define NT (sizeof T / sizeof T[0])

struct mrow { /* a super assistant answer (and the question before it) */
    int user;
    int day, hour, min;
    int conv; /* conversation key (10+) */
    const char *mode, *status;
    int rating;
    const char *q;
};

static const struct mrow M[] = {
    {1, 0, 14, 0, 10, "model", "done", 1, "开户要什么"},
    {1, 0, 15, 0, 10, "none", "done", 0, "火星汇率"},
    {2, 1, 10, 0, 11, "extractive", "done", -1, "转账限额"},
    {2, 1, 11, 0, 11, "faq", "done", 0, "营业时间"},
    {2, 1, 12, 0, 11, "", "streaming", 0, "进行中"},
    {3, 1, 13, 0, 12, "blocked", "done", 0, "敏感问题"},
    {3, 1, 14, 0, 12, "none", "done", 0, "敏感问题"},
};
#define NM (sizeof M / sizeof M[0])

static const double MINUTES[3] = {0, 6, 12}; /* per agent */
#define ASSIST_MIN 3.0

struct fx {
    struct db_conn d;
    int64_t conv_ids[32]; /* conversation key → id */
};

static int64_t run(struct db_conn *d, const char *sql, const int64_t *iv, int ni, const char *s1,
                   const char *s2)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(d->db));
        return 0;
    }
    for (int i = 0; i < ni; i++)
        sqlite3_bind_int64(st, i + 1, iv[i]);
    if (s1)
        sqlite3_bind_text(st, ni + 1, s1, -1, SQLITE_STATIC);
    if (s2)
        sqlite3_bind_text(st, ni + 2, s2, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        id = sqlite3_last_insert_rowid(d->db);
    else
        fprintf(stderr, "step: %s\n", sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    return id;
}

static int64_t conv_of(struct fx *f, int key, int user, const char *assistant)
{
    if (!f->conv_ids[key]) {
        int64_t iv[1] = {user};
        f->conv_ids[key] =
            run(&f->d,
                "INSERT INTO conversations(user_id, assistant, created_at, updated_at)"
                " VALUES (?1, ?2, 1, 1)",
                iv, 1, assistant, NULL);
    }
    return f->conv_ids[key];
}

static int64_t message(struct fx *f, int64_t conv, const char *role, const char *content,
                       const char *mode, const char *status, int64_t ts)
{
    int64_t iv[2] = {conv, ts};
    int64_t id = run(
        &f->d, "INSERT INTO messages(conv_id, created_at, role, content) VALUES (?1, ?2, ?3, ?4)",
        iv, 2, role, content);
    int64_t iv2[1] = {id};
    run(&f->d, "UPDATE messages SET mode = ?2, status = ?3 WHERE id = ?1", iv2, 1, mode, status);
    return id;
}

static void feedback(struct fx *f, int64_t msg, int user, int rating)
{
    int64_t iv[3] = {msg, user, rating};
    run(&f->d,
        "INSERT INTO feedback(message_id, user_id, rating, created_at) VALUES (?1, ?2, ?3, 1)", iv,
        3, NULL, NULL);
}

static int setup(struct fx *f, const char *name)
{
    memset(f, 0, sizeof *f);
    char path[512];
    struct buf err = BUF_INIT;
    snprintf(path, sizeof path, "%s/analytics_%s.db", test_tmpdir(), name);
    remove(path);
    sqlite3 *db = NULL;
    if (db_open(path, &db, &err) != RC_OK) {
        fprintf(stderr, "db_open: %s\n", buf_str(&err));
        buf_release(&err);
        return RC_DB;
    }
    buf_release(&err);
    f->d = (struct db_conn){db, db_cache_new(db)};
    struct db_conn *d = &f->d;
    const char *names[3] = {"u1", "u2", "u3"};
    for (int i = 0; i < 3; i++)
        run(d, "INSERT INTO users(username, created_at, updated_at) VALUES (?1, 1, 1)", NULL, 0,
            names[i], NULL);
    run(d, "INSERT INTO orgs(id, parent_id, name, path, created_at) VALUES (1, NULL, ?1, '/1/', 1)",
        NULL, 0, "总行", NULL);
    run(d, "INSERT INTO orgs(id, parent_id, name, path, created_at) VALUES (2, 1, ?1, '/1/2/', 1)",
        NULL, 0, "分行A", NULL);
    run(d, "INSERT INTO orgs(id, parent_id, name, path, created_at) VALUES (3, 1, ?1, '/1/3/', 1)",
        NULL, 0, "分行B", NULL);
    run(d, "INSERT INTO org_members(org_id, user_id) VALUES (2, 1), (3, 2), (1, 2)", NULL, 0, NULL,
        NULL);
    run(d,
        "INSERT INTO agents(id, name, title, minutes_saved, created_at, updated_at)"
        " VALUES (1, 'teller', ?1, 6, 1, 1), (2, 'credit', ?2, 12, 1, 1)",
        NULL, 0, "柜面助手", "信贷助手");
    for (size_t i = 0; i < NT; i++) {
        int64_t msg = 0, conv = 0;
        int64_t ts = at(T[i].day, T[i].hour, T[i].min);
        if (T[i].conv) {
            conv =
                conv_of(f, T[i].conv, T[i].user, T[i].agent == 1 ? "agent:teller" : "agent:credit");
            message(f, conv, "user", T[i].q, "", "done", ts);
            msg = message(f, conv, "assistant", "答", T[i].answered ? "model" : "none", "done", ts);
            if (T[i].rating)
                feedback(f, msg, T[i].user, T[i].rating);
        }
        int64_t iv[8] = {T[i].agent,         T[i].user,     conv, msg,
                         T[i].eval ? 99 : 0, T[i].answered, ts,   1};
        run(d,
            "INSERT INTO agent_traces(agent_id, user_id, conv_id, message_id, eval_run_id, "
            "answered,"
            " created_at, version, question) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            iv, 8, T[i].q, NULL);
    }
    for (size_t i = 0; i < NM; i++) {
        int64_t conv = conv_of(f, M[i].conv, M[i].user, M[i].conv == 11 ? "qwen" : "");
        int64_t ts = at(M[i].day, M[i].hour, M[i].min);
        message(f, conv, "user", M[i].q, "", "done", ts);
        int64_t msg = message(f, conv, "assistant", "答", M[i].mode, M[i].status, ts);
        if (M[i].rating)
            feedback(f, msg, M[i].user, M[i].rating);
    }
    return RC_OK;
}

static void teardown(struct fx *f)
{
    db_cache_free(f->d.cache);
    db_close(f->d.db);
}

/* ---- the expected numbers, from the rows ---- */

struct exp {
    long long conversations, questions, answered, up, down;
    double person_days;
};

/* source: 0 = all, 1/2 = that agent only, 3 = the assistant only. day:
 * 0/1, or -1 for the whole range. */
static struct exp expected(int source, int org, int day)
{
    struct exp e;
    memset(&e, 0, sizeof e);
    int seen[64], nseen = 0;
    for (size_t i = 0; i < NT; i++) {
        const struct trow *t = &T[i];
        if (t->eval || t->day < 0 || t->day > 1 || (day >= 0 && t->day != day))
            continue;
        if (source == 3 || (source && source != t->agent) || !user_in(t->user, org))
            continue;
        e.questions++;
        e.answered += t->answered;
        e.up += t->rating > 0;
        e.down += t->rating < 0;
        e.person_days += t->answered * MINUTES[t->agent] / 480.0;
        if (!t->conv) {
            e.conversations++;
        } else {
            int dup = 0;
            for (int k = 0; k < nseen; k++)
                dup |= seen[k] == t->conv;
            if (!dup) {
                seen[nseen++] = t->conv;
                e.conversations++;
            }
        }
    }
    for (size_t i = 0; i < NM; i++) {
        const struct mrow *m = &M[i];
        if (strcmp(m->status, "streaming") == 0 || (day >= 0 && m->day != day))
            continue;
        if ((source && source != 3) || !user_in(m->user, org))
            continue;
        int ans =
            !strcmp(m->mode, "model") || !strcmp(m->mode, "extractive") || !strcmp(m->mode, "faq");
        e.questions++;
        e.answered += ans;
        e.up += m->rating > 0;
        e.down += m->rating < 0;
        e.person_days += ans * ASSIST_MIN / 480.0;
        int dup = 0;
        for (int k = 0; k < nseen; k++)
            dup |= seen[k] == m->conv;
        if (!dup) {
            seen[nseen++] = m->conv;
            e.conversations++;
        }
    }
    return e;
}

static void check_counts(json_t *j, const struct exp *e, const char *what)
{
    CHECK(j != NULL);
    if (!j)
        return;
    long long q = json_integer_value(json_object_get(j, "questions"));
    long long conv = json_integer_value(json_object_get(j, "conversations"));
    long long a = json_integer_value(json_object_get(j, "answered"));
    long long u = json_integer_value(json_object_get(j, "unanswered"));
    long long up = json_integer_value(json_object_get(j, "up"));
    long long down = json_integer_value(json_object_get(j, "down"));
    double pd = json_number_value(json_object_get(j, "person_days"));
    if (q != e->questions || conv != e->conversations || a != e->answered ||
        u != e->questions - e->answered || up != e->up || down != e->down ||
        fabs(pd - e->person_days) > 1e-9)
        test_fail(__FILE__, __LINE__,
                  "%s: got q %lld conv %lld ans %lld up %lld down %lld pd %.4f; want q %lld conv "
                  "%lld ans %lld up %lld down %lld pd %.4f",
                  what, q, conv, a, up, down, pd, e->questions, e->conversations, e->answered,
                  e->up, e->down, e->person_days);
    json_t *rate = json_object_get(j, "up_rate");
    if (e->up + e->down)
        CHECK(fabs(json_number_value(rate) - (double)e->up / (double)(e->up + e->down)) < 1e-9);
    else
        CHECK(json_is_null(rate));
}

static void check_usage(struct fx *f, const char *agent, int source, int org)
{
    struct analytics_query q = {DAYS[0], DAYS[1], agent, org, ASSIST_MIN};
    json_t *j = NULL;
    struct buf err = BUF_INIT;
    char what[64];
    int rc = analytics_usage(&f->d, &q, &j, &err);
    if (rc != RC_OK)
        test_fail(__FILE__, __LINE__, "analytics_usage: %s", buf_str(&err));
    json_t *series = json_object_get(j, "series");
    CHECK_INT(json_array_size(series), 2);
    for (int d = 0; d < 2; d++) {
        json_t *row = json_array_get(series, (size_t)d);
        CHECK_STR(json_string_value(json_object_get(row, "day")), DAYS[d]);
        struct exp e = expected(source, org, d);
        snprintf(what, sizeof what, "%s org %d day %d", agent ? agent : "all", org, d);
        check_counts(row, &e, what);
    }
    struct exp e = expected(source, org, -1);
    snprintf(what, sizeof what, "%s org %d totals", agent ? agent : "all", org);
    check_counts(json_object_get(j, "totals"), &e, what);
    /* per agent: each source's row matches its own expectation */
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(j, "by_agent"), i, row)
    {
        const char *name = json_string_value(json_object_get(row, "agent"));
        int src = strcmp(name, "teller") == 0 ? 1 : strcmp(name, "credit") == 0 ? 2 : 3;
        struct exp ea = expected(src, org, -1);
        snprintf(what, sizeof what, "by_agent %s org %d", name, org);
        check_counts(row, &ea, what);
        if (i > 0)
            CHECK(json_integer_value(json_object_get(
                      json_array_get(json_object_get(j, "by_agent"), i - 1), "questions")) >=
                  json_integer_value(json_object_get(row, "questions")));
    }
    /* per org: the children of the filter org (the root without one), each
     * matching what filtering by that org alone expects */
    json_t *by_org = json_object_get(j, "by_org");
    CHECK_INT(json_array_size(by_org), org == 0 ? 1 : org == 1 ? 2 : 0);
    json_array_foreach(by_org, i, row)
    {
        int oid = (int)json_integer_value(json_object_get(row, "org_id"));
        CHECK(org == 0 ? oid == 1 : oid == 2 + (int)i);
        struct exp eo = expected(source, oid, -1);
        snprintf(what, sizeof what, "by_org %d under org %d", oid, org);
        check_counts(row, &eo, what);
    }
    json_decref(j);
    buf_release(&err);
}

TEST(analytics_usage_series_agents_orgs)
{
    struct fx f;
    if (setup(&f, "usage"))
        CHECK(0);
    check_usage(&f, NULL, 0, 0);
    check_usage(&f, "teller", 1, 0);
    check_usage(&f, "2", 2, 0); /* by id */
    check_usage(&f, "assistant", 3, 0);
    check_usage(&f, NULL, 0, 1);
    check_usage(&f, NULL, 0, 2);
    check_usage(&f, NULL, 0, 3);
    check_usage(&f, "teller", 1, 2);
    /* a spot check of the arithmetic itself, not only against the model above:
     * teller on D0, everyone: 3 questions, 1 answered, conversation 1 plus one
     * one-off = 2, 1 up, 1 down, 6/480 person-days */
    struct analytics_query q = {DAYS[0], DAYS[0], "teller", 0, ASSIST_MIN};
    json_t *j = NULL;
    struct buf err = BUF_INIT;
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_OK);
    json_t *t = json_object_get(j, "totals");
    CHECK_INT(json_integer_value(json_object_get(t, "questions")), 3);
    CHECK_INT(json_integer_value(json_object_get(t, "answered")), 1);
    CHECK_INT(json_integer_value(json_object_get(t, "conversations")), 2);
    CHECK(fabs(json_number_value(json_object_get(t, "person_days")) - 6.0 / 480) < 1e-9);
    CHECK(fabs(json_number_value(json_object_get(t, "up_rate")) - 0.5) < 1e-9);
    json_decref(j);
    buf_release(&err);
    teardown(&f);
}

TEST(analytics_usage_errors_and_empty_days)
{
    struct fx f;
    if (setup(&f, "errors"))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *j = NULL;
    struct analytics_query q = {"2026-03-05", "2026-03-02", NULL, 0, 3};
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_INVALID);
    q = (struct analytics_query){"2026-02-30", "2026-03-02", NULL, 0, 3};
    buf_reset(&err);
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_INVALID);
    q = (struct analytics_query){"2026/03/01", "2026-03-02", NULL, 0, 3};
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_INVALID);
    q = (struct analytics_query){"2024-01-01", "2026-03-02", NULL, 0, 3};
    buf_reset(&err);
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "366");
    q = (struct analytics_query){"2026-03-01", "2026-03-02", "nobody", 0, 3};
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_NOT_FOUND);
    q = (struct analytics_query){"2026-03-01", "2026-03-02", NULL, 77, 3};
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_NOT_FOUND);
    /* a quiet range: every day present with zeros */
    q = (struct analytics_query){"2026-02-27", "2026-03-01", NULL, 0, 3};
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_OK);
    json_t *s = json_object_get(j, "series");
    CHECK_INT(json_array_size(s), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(s, 2), "day")), "2026-03-01");
    /* day -1 of the rows is 2026-03-01 23:59: one teller question */
    CHECK_INT(json_integer_value(json_object_get(json_array_get(s, 2), "questions")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(s, 0), "questions")), 0);
    json_decref(j);
    /* defaults: the last 30 days up to today */
    q = (struct analytics_query){NULL, NULL, NULL, 0, 3};
    CHECK_INT(analytics_usage(&f.d, &q, &j, &err), RC_OK);
    CHECK_INT(json_array_size(json_object_get(j, "series")), 30);
    json_decref(j);
    buf_release(&err);
    teardown(&f);
}

TEST(analytics_unanswered_grouped)
{
    struct fx f;
    if (setup(&f, "unanswered"))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *j = NULL;
    struct analytics_query q = {DAYS[0], DAYS[1], NULL, 0, 3};
    CHECK_INT(analytics_unanswered(&f.d, &q, 50, &j, &err), RC_OK);
    /* expected groups, from the rows */
    struct group {
        const char *q, *agent;
        int n;
    } g[32];
    int ng = 0;
    for (size_t i = 0; i < NT + NM; i++) {
        const char *text, *agent;
        if (i < NT) {
            const struct trow *t = &T[i];
            if (t->eval || t->answered || t->day < 0 || t->day > 1)
                continue;
            text = t->q;
            agent = t->agent == 1 ? "teller" : "credit";
        } else {
            const struct mrow *m = &M[i - NT];
            if (!strcmp(m->status, "streaming") || !strcmp(m->mode, "model") ||
                !strcmp(m->mode, "extractive") || !strcmp(m->mode, "faq"))
                continue;
            text = m->q;
            agent = "assistant";
        }
        int k;
        for (k = 0; k < ng; k++)
            if (!strcmp(g[k].q, text) && !strcmp(g[k].agent, agent))
                break;
        if (k == ng)
            g[ng++] = (struct group){text, agent, 0};
        g[k].n++;
    }
    CHECK_INT(json_array_size(j), ng);
    size_t i;
    json_t *row;
    json_array_foreach(j, i, row)
    {
        const char *text = json_string_value(json_object_get(row, "question"));
        const char *agent = json_string_value(json_object_get(row, "agent"));
        int found = 0;
        for (int k = 0; k < ng; k++)
            if (!strcmp(g[k].q, text) && !strcmp(g[k].agent, agent)) {
                CHECK_INT(json_integer_value(json_object_get(row, "count")), g[k].n);
                found = 1;
            }
        CHECK(found);
        if (i > 0)
            CHECK(json_integer_value(json_object_get(json_array_get(j, i - 1), "count")) >=
                  json_integer_value(json_object_get(row, "count")));
    }
    /* the most asked: 火星汇率 to the teller, three times, last on D1 00:30 */
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "question")), "火星汇率");
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "agent")), "teller");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 0), "count")), 3);
    CHECK(json_integer_value(json_object_get(json_array_get(j, 0), "last_asked")) == at(1, 0, 30));
    json_decref(j);
    /* an org narrows it: u1 only (org 2) */
    q.org_id = 2;
    CHECK_INT(analytics_unanswered(&f.d, &q, 1, &j, &err), RC_OK);
    CHECK_INT(json_array_size(j), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 0), "count")), 2);
    json_decref(j);
    CHECK_INT(analytics_unanswered(&f.d, &q, 0, &j, &err), RC_INVALID);
    buf_release(&err);
    teardown(&f);
}
