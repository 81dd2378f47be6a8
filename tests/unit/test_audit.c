/* Tests for auth/audit.c: the hash chain, the append-only triggers, tamper
 * detection (edited, deleted and re-hashed entries), queries, appends that
 * roll back with their caller, and the batching writer under many threads. */
#include "test.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/audit.h"
#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"
#include "store/db.h"

struct store {
    char path[512];
    struct db_conn d;
};

static int open_store(struct store *s, const char *name)
{
    struct buf err = BUF_INIT;
    snprintf(s->path, sizeof s->path, "%s/audit-%s.db", test_tmpdir(), name);
    s->d.db = NULL;
    s->d.cache = NULL;
    int rc = db_open(s->path, &s->d.db, &err);
    if (rc)
        fprintf(stderr, "open failed: %s\n", buf_str(&err));
    else
        s->d.cache = db_cache_new(s->d.db);
    buf_release(&err);
    return rc;
}

static void close_store(struct store *s)
{
    db_cache_free(s->d.cache);
    db_close(s->d.db);
}

static int append(struct store *s, const char *actor, const char *action, const char *target,
                  json_t *detail)
{
    struct audit_entry e = {0, actor, action, target, detail, "10.0.0.1"};
    int rc = audit_append(&s->d, &e);
    json_decref(detail);
    return rc;
}

static int64_t sql_int(struct store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s->d.db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Column 0 of the first row as a malloc'd string ("" when none). */
static char *sql_str(struct store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(s->d.db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = db_col_str(st, 0);
    sqlite3_finalize(st);
    return v ? v : strdup("");
}

static int verify(struct store *s, int64_t *checked, int64_t *bad, char head[65], struct buf *err)
{
    int64_t head_id = 0;
    buf_reset(err);
    return audit_verify(&s->d, checked, bad, &head_id, head, err);
}

static int drop_triggers(struct store *s)
{
    return sqlite3_exec(s->d.db, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete", NULL,
                        NULL, NULL);
}

static int seed(struct store *s, int n)
{
    for (int i = 1; i <= n; i++) {
        char target[32];
        snprintf(target, sizeof target, "kb:%d", i);
        if (append(s, "alice", "kb.ask", target,
                   json_pack("{s:s,s:i}", "question", "挂失几天", "n", i)))
            return RC_DB;
    }
    return RC_OK;
}

TEST(audit_append_and_verify)
{
    struct store s;
    if (open_store(&s, "basic")) {
        CHECK(0);
        return;
    }
    CHECK_INT(append(&s, "alice", "auth.login", "", NULL), RC_OK);
    CHECK_INT(append(&s, "admin", "user.create", "user:7",
                     json_pack("{s:s,s:s}", "username", "bob", "a", "中文")),
              RC_OK);
    CHECK_INT(append(&s, "bob", "kb.ask", "kb:1", json_pack("{s:s}", "question", "q")), RC_OK);
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad = -1, head_id = -1;
    char head[65] = "";
    CHECK_INT(audit_verify(&s.d, &checked, &bad, &head_id, head, &err), RC_OK);
    CHECK_INT(checked, 3);
    CHECK_INT(bad, 0);
    CHECK_INT(head_id, 3);
    char *last = sql_str(&s, "SELECT hash FROM audit_log WHERE id = 3");
    CHECK_STR(head, last);
    CHECK_INT(strlen(head), 64);
    free(last);
    /* The detail is stored compact, keys sorted, not \u-escaped. */
    char *detail = sql_str(&s, "SELECT detail FROM audit_log WHERE id = 2");
    CHECK_STR(detail, "{\"a\":\"中文\",\"username\":\"bob\"}");
    free(detail);
    detail = sql_str(&s, "SELECT detail FROM audit_log WHERE id = 1");
    CHECK_STR(detail, "{}");
    free(detail);
    /* ts is wall-clock unix milliseconds. */
    int64_t ts = sql_int(&s, "SELECT ts FROM audit_log WHERE id = 1");
    CHECK(ts > now_unix() * 1000 - 60000 && ts <= now_unix() * 1000 + 1000);
    buf_release(&err);
    close_store(&s);
}

TEST(audit_chain_content)
{
    struct store s;
    if (open_store(&s, "chain") || seed(&s, 2)) {
        CHECK(0);
        return;
    }
    char *h1 = sql_str(&s, "SELECT hash FROM audit_log WHERE id = 1");
    char *p1 = sql_str(&s, "SELECT prev_hash FROM audit_log WHERE id = 1");
    char *p2 = sql_str(&s, "SELECT prev_hash FROM audit_log WHERE id = 2");
    CHECK_STR(p1, AUDIT_GENESIS);
    CHECK_STR(p2, h1);
    /* The formula, spelled out independently: sha256 over prev_hash then
     * each field as "<length>:<bytes>\n". */
    int64_t ts = sql_int(&s, "SELECT ts FROM audit_log WHERE id = 1");
    char *detail = sql_str(&s, "SELECT detail FROM audit_log WHERE id = 1");
    CHECK_STR(detail, "{\"n\":1,\"question\":\"挂失几天\"}");
    struct buf b = BUF_INIT;
    char tss[32];
    snprintf(tss, sizeof tss, "%lld", (long long)ts);
    buf_addf(&b, "%s1:1\n%zu:%s\n1:0\n5:alice\n6:kb.ask\n4:kb:1\n%zu:%s\n8:10.0.0.1\n",
             AUDIT_GENESIS, strlen(tss), tss, strlen(detail), detail);
    char want[65], got[65];
    sha256_hex(b.p, b.len, want);
    CHECK_STR(h1, want);
    audit_hash(AUDIT_GENESIS, 1, ts, 0, "alice", "kb.ask", "kb:1", detail, "10.0.0.1", got);
    CHECK_STR(got, want);
    /* Any field changes the hash. */
    audit_hash(AUDIT_GENESIS, 1, ts, 0, "alice", "kb.ask", "kb:1", detail, "10.0.0.2", got);
    CHECK(strcmp(got, want) != 0);
    buf_release(&b);
    free(detail);
    free(h1);
    free(p1);
    free(p2);
    close_store(&s);
}

TEST(audit_triggers_refuse_update_and_delete)
{
    struct store s;
    if (open_store(&s, "triggers") || seed(&s, 2)) {
        CHECK(0);
        return;
    }
    CHECK(sqlite3_exec(s.d.db, "UPDATE audit_log SET actor = 'mallory' WHERE id = 1", NULL, NULL,
                       NULL) != SQLITE_OK);
    CHECK(sqlite3_exec(s.d.db, "DELETE FROM audit_log WHERE id = 2", NULL, NULL, NULL) !=
          SQLITE_OK);
    CHECK(sqlite3_exec(s.d.db, "DELETE FROM audit_log", NULL, NULL, NULL) != SQLITE_OK);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), 2);
    char *actor = sql_str(&s, "SELECT actor FROM audit_log WHERE id = 1");
    CHECK_STR(actor, "alice");
    free(actor);
    struct buf err = BUF_INIT;
    int64_t checked, bad;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_OK);
    buf_release(&err);
    close_store(&s);
}

TEST(audit_detects_edited_entry)
{
    struct store s;
    if (open_store(&s, "edit") || seed(&s, 5)) {
        CHECK(0);
        return;
    }
    CHECK_INT(drop_triggers(&s), SQLITE_OK);
    CHECK_INT(
        sqlite3_exec(s.d.db,
                     "UPDATE audit_log SET detail = '{\"question\":\"别的问题\"}' WHERE id = 3",
                     NULL, NULL, NULL),
        SQLITE_OK);
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad = -1;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_INVALID);
    CHECK_INT(bad, 3);
    CHECK_INT(checked, 2);
    CHECK_CONTAINS(buf_str(&err), "entry 3: hash mismatch (edited)");
    CHECK_CONTAINS(buf_str(&err), "第 3 条");
    buf_release(&err);
    close_store(&s);
}

TEST(audit_detects_type_and_nul_tricks)
{
    struct store s;
    if (open_store(&s, "nul") || seed(&s, 3)) {
        CHECK(0);
        return;
    }
    CHECK_INT(drop_triggers(&s), SQLITE_OK);
    /* Same visible C string, hidden bytes after a NUL. */
    CHECK_INT(sqlite3_exec(s.d.db,
                           "UPDATE audit_log SET actor = CAST(actor || x'00' || 'x' AS TEXT)"
                           " WHERE id = 2",
                           NULL, NULL, NULL),
              SQLITE_OK);
    struct buf err = BUF_INIT;
    int64_t checked, bad = -1;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_INVALID);
    CHECK_INT(bad, 2);
    buf_release(&err);
    close_store(&s);
}

TEST(audit_detects_deleted_entry)
{
    struct store s;
    if (open_store(&s, "delete") || seed(&s, 4)) {
        CHECK(0);
        return;
    }
    CHECK_INT(drop_triggers(&s), SQLITE_OK);
    CHECK_INT(sqlite3_exec(s.d.db, "DELETE FROM audit_log WHERE id = 2", NULL, NULL, NULL),
              SQLITE_OK);
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad = -1;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_INVALID);
    CHECK_INT(bad, 3);
    CHECK_INT(checked, 1);
    CHECK_CONTAINS(buf_str(&err), "entry 3: id gap (entries deleted)");
    /* Deleting the first entry shows at the new first one. */
    CHECK_INT(sqlite3_exec(s.d.db, "DELETE FROM audit_log WHERE id = 1", NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_INVALID);
    CHECK_INT(bad, 3);
    CHECK_INT(checked, 0);
    buf_release(&err);
    close_store(&s);
}

TEST(audit_detects_rehashed_edit)
{
    struct store s;
    if (open_store(&s, "forger") || seed(&s, 5)) {
        CHECK(0);
        return;
    }
    CHECK_INT(drop_triggers(&s), SQLITE_OK);
    /* A careful forger edits entry 3 and recomputes its own hash. */
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(s.d.db,
                                 "SELECT ts, user_id, actor, action, target, ip, prev_hash"
                                 " FROM audit_log WHERE id = 3",
                                 -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    char hash[65];
    const char *forged = "{\"question\":\"无害的问题\"}";
    audit_hash((const char *)sqlite3_column_text(st, 6), 3, sqlite3_column_int64(st, 0),
               sqlite3_column_int64(st, 1), (const char *)sqlite3_column_text(st, 2),
               (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 4),
               forged, (const char *)sqlite3_column_text(st, 5), hash);
    sqlite3_finalize(st);
    st = NULL;
    CHECK_INT(sqlite3_prepare_v2(s.d.db, "UPDATE audit_log SET detail = ?1, hash = ?2 WHERE id = 3",
                                 -1, &st, NULL),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, forged, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    CHECK_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad = -1;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_INVALID);
    CHECK_INT(bad, 4);
    CHECK_INT(checked, 3);
    CHECK_CONTAINS(buf_str(&err), "entry 4: link broken");
    buf_release(&err);
    close_store(&s);
}

TEST(audit_empty_log_verifies)
{
    struct store s;
    if (open_store(&s, "empty")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad = -1, head_id = -1;
    char head[65] = "";
    CHECK_INT(audit_verify(&s.d, &checked, &bad, &head_id, head, &err), RC_OK);
    CHECK_INT(checked, 0);
    CHECK_INT(bad, 0);
    CHECK_INT(head_id, 0);
    CHECK_STR(head, AUDIT_GENESIS);
    CHECK_INT(err.len, 0);
    buf_release(&err);
    close_store(&s);
}

TEST(audit_find_hash_finds_entries)
{
    struct store s;
    if (open_store(&s, "find") || seed(&s, 3)) {
        CHECK(0);
        return;
    }
    char *h2 = sql_str(&s, "SELECT hash FROM audit_log WHERE id = 2");
    int64_t id = -1;
    CHECK_INT(audit_find_hash(&s.d, h2, &id), RC_OK);
    CHECK_INT(id, 2);
    CHECK_INT(audit_find_hash(&s.d, AUDIT_GENESIS, &id), RC_NOT_FOUND);
    free(h2);
    close_store(&s);
}

/* The ids of a query's entries, in order, as "5,3,1". */
static void ids_of(json_t *res, struct buf *out)
{
    buf_reset(out);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(res, "entries"), i, e)
    {
        buf_addf(out, "%s%lld", i ? "," : "",
                 (long long)json_integer_value(json_object_get(e, "id")));
    }
}

static char *query_ids(struct store *s, struct audit_filter *f, int64_t *next)
{
    json_t *res = NULL;
    struct buf b = BUF_INIT;
    if (audit_query(&s->d, f, &res) != RC_OK) {
        buf_adds(&b, "error");
    } else {
        ids_of(res, &b);
        json_t *nb = json_object_get(res, "next_before_id");
        *next = json_is_integer(nb) ? json_integer_value(nb) : json_is_null(nb) ? 0 : -1;
    }
    json_decref(res);
    return buf_detach(&b, NULL);
}

TEST(audit_query_filters)
{
    struct store s;
    if (open_store(&s, "query")) {
        CHECK(0);
        return;
    }
    static const char *rows[][3] = {
        {"alice", "auth.login", ""},        {"bob", "auth.login", ""},
        {"alice", "kb.ask", "kb:1"},        {"bob", "kb.search", "kb:2"},
        {"admin", "kbase.create", "kb:9"},  {"alice", "kb", ""},
        {"admin", "user.create", "user:2"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CHECK_INT(append(&s, rows[i][0], rows[i][1], rows[i][2],
                         json_pack("{s:s,s:i}", "question", "汇票期限", "i", (int)i + 1)),
                  RC_OK);
        usleep(3000); /* distinct timestamps for since/until */
    }
    int64_t next = -1;
    char *ids;
    struct audit_filter f = {0};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "7,6,5,4,3,2,1");
    CHECK_INT(next, 0);
    free(ids);

    f = (struct audit_filter){.user = "alice"};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "6,3,1");
    free(ids);

    f = (struct audit_filter){.action = "kb.ask"};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "3");
    free(ids);

    f = (struct audit_filter){.action = "kb"}; /* exact: not a prefix */
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "6");
    free(ids);

    f = (struct audit_filter){.action = "kb."}; /* prefix: not kbase.create nor kb */
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "4,3");
    free(ids);

    f = (struct audit_filter){.action = "auth.", .user = "bob"};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "2");
    free(ids);

    f = (struct audit_filter){.action = "k'; DROP TABLE audit_log; --"};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "");
    free(ids);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), 7);

    int64_t ts3 = sql_int(&s, "SELECT ts FROM audit_log WHERE id = 3");
    int64_t ts5 = sql_int(&s, "SELECT ts FROM audit_log WHERE id = 5");
    f = (struct audit_filter){.since_ms = ts3, .until_ms = ts5};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "5,4,3");
    free(ids);
    f = (struct audit_filter){.since_ms = ts5 + 1};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "7,6");
    free(ids);

    /* Paging: newest first, next_before_id continues. */
    f = (struct audit_filter){.limit = 3};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "7,6,5");
    CHECK_INT(next, 5);
    free(ids);
    f.before_id = next;
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "4,3,2");
    CHECK_INT(next, 2);
    free(ids);
    f.before_id = next;
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "1");
    CHECK_INT(next, 0); /* null: the last page */
    free(ids);
    f = (struct audit_filter){.limit = 7};
    ids = query_ids(&s, &f, &next);
    CHECK_STR(ids, "7,6,5,4,3,2,1");
    CHECK_INT(next, 0);
    free(ids);

    /* The entry's fields, detail parsed back into JSON. */
    f = (struct audit_filter){.action = "kb.ask"};
    json_t *res = NULL;
    CHECK_INT(audit_query(&s.d, &f, &res), RC_OK);
    json_t *e = json_array_get(json_object_get(res, "entries"), 0);
    CHECK_STR(json_string_value(json_object_get(e, "actor")), "alice");
    CHECK_STR(json_string_value(json_object_get(e, "target")), "kb:1");
    CHECK_STR(json_string_value(json_object_get(e, "ip")), "10.0.0.1");
    CHECK_INT(json_integer_value(json_object_get(e, "ts")), ts3);
    CHECK_STR(json_string_value(json_object_get(json_object_get(e, "detail"), "question")),
              "汇票期限");
    CHECK_INT(strlen(json_string_value(json_object_get(e, "hash"))), 64);
    json_decref(res);
    close_store(&s);
}

TEST(audit_append_rolls_back_with_caller)
{
    struct store s;
    if (open_store(&s, "rollback") || seed(&s, 2)) {
        CHECK(0);
        return;
    }
    CHECK_INT(db_begin(s.d.db), RC_OK);
    CHECK_INT(append(&s, "admin", "user.create", "user:9", NULL), RC_OK);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), 3); /* visible inside */
    db_rollback(s.d.db);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), 2);
    /* Committed with the caller's change. */
    CHECK_INT(db_begin(s.d.db), RC_OK);
    CHECK_INT(append(&s, "admin", "user.create", "user:10", NULL), RC_OK);
    CHECK_INT(db_commit(s.d.db), RC_OK);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), 3);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log WHERE target = 'user:9'"), 0);
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_OK);
    CHECK_INT(checked, 3);
    buf_release(&err);
    close_store(&s);
}

struct poster {
    struct audit_writer *w;
    int thread, n;
};

static void *post_many(void *arg)
{
    struct poster *p = arg;
    char actor[16];
    snprintf(actor, sizeof actor, "t%d", p->thread);
    for (int i = 0; i < p->n; i++) {
        json_t *d = json_pack("{s:i,s:s}", "i", i, "question", "大额取款要预约吗");
        struct audit_entry e = {p->thread + 1, actor, "kb.ask", "kb:1", d, ""};
        audit_writer_post(p->w, &e);
        json_decref(d);
    }
    return NULL;
}

/* Each thread's entries are in the order it posted them. */
static int per_thread_order_kept(struct store *s, int nthreads)
{
    int last[64];
    for (int i = 0; i < nthreads; i++)
        last[i] = -1;
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->d.db,
                                "SELECT user_id, json_extract(detail, '$.i') FROM audit_log"
                                " WHERE action = 'kb.ask' ORDER BY id",
                                -1, &st, NULL) == SQLITE_OK;
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        int t = sqlite3_column_int(st, 0) - 1, i = sqlite3_column_int(st, 1);
        if (t < 0 || t >= nthreads || i != last[t] + 1)
            ok = 0;
        else
            last[t] = i;
    }
    sqlite3_finalize(st);
    return ok;
}

TEST(audit_writer_many_threads)
{
    struct store s;
    if (open_store(&s, "writer")) {
        CHECK(0);
        return;
    }
    struct audit_writer *w = NULL;
    CHECK_INT(audit_writer_start(s.path, 20, &w), RC_OK);
    if (!w) {
        close_store(&s);
        return;
    }
    enum { NT = 8, PER = 500 };
    pthread_t th[NT];
    struct poster p[NT];
    for (int i = 0; i < NT; i++) {
        p[i] = (struct poster){w, i, PER};
        CHECK_INT(pthread_create(&th[i], NULL, post_many, &p[i]), 0);
    }
    /* Meanwhile admin changes append directly on another connection. */
    for (int i = 0; i < 20; i++)
        CHECK_INT(append(&s, "admin", "role.grant", "user:1", NULL), RC_OK);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    audit_writer_flush(w);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log WHERE action = 'kb.ask'"), NT * PER);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), NT * PER + 20);
    CHECK(per_thread_order_kept(&s, NT));
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad = -1;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_OK);
    CHECK_INT(checked, NT * PER + 20);
    if (err.len)
        fprintf(stderr, "  %s\n", buf_str(&err));
    /* A flush with nothing queued returns at once. */
    audit_writer_flush(w);
    audit_writer_stop(w);
    buf_release(&err);
    close_store(&s);
}

TEST(audit_writer_commits_within_flush_ms)
{
    struct store s;
    if (open_store(&s, "writer-timer")) {
        CHECK(0);
        return;
    }
    struct audit_writer *w = NULL;
    CHECK_INT(audit_writer_start(s.path, 30, &w), RC_OK);
    if (!w) {
        close_store(&s);
        return;
    }
    struct audit_entry e = {1, "alice", "kb.search", "kb:1", NULL, "::1"};
    audit_writer_post(w, &e);
    int64_t n = 0;
    for (int i = 0; i < 200 && n != 1; i++) { /* up to 2 s, expected ~30 ms */
        usleep(10000);
        n = sql_int(&s, "SELECT count(*) FROM audit_log");
    }
    CHECK_INT(n, 1);
    audit_writer_stop(w);
    close_store(&s);
}

TEST(audit_writer_stop_drains)
{
    struct store s;
    if (open_store(&s, "writer-stop")) {
        CHECK(0);
        return;
    }
    struct audit_writer *w = NULL;
    CHECK_INT(audit_writer_start(s.path, 60000, &w), RC_OK);
    if (!w) {
        close_store(&s);
        return;
    }
    struct poster p = {w, 0, 300};
    post_many(&p);
    audit_writer_stop(w); /* long before the minute is up */
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), 300);
    CHECK(per_thread_order_kept(&s, 1));
    audit_writer_stop(NULL);
    audit_writer_flush(NULL);
    close_store(&s);
}

/* The store is locked by someone else while 100,000+ entries are posted:
 * the queue overflows, posters write synchronously once the lock is gone,
 * and nothing is dropped. */
static void *release_later(void *arg)
{
    struct store *s = arg;
    usleep(700000);
    db_rollback(s->d.db);
    return NULL;
}

TEST(audit_writer_backpressure_drops_nothing)
{
    struct store s;
    if (open_store(&s, "writer-full")) {
        CHECK(0);
        return;
    }
    struct audit_writer *w = NULL;
    CHECK_INT(audit_writer_start(s.path, 5, &w), RC_OK);
    if (!w) {
        close_store(&s);
        return;
    }
    CHECK_INT(db_begin(s.d.db), RC_OK); /* holds the write lock */
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, release_later, &s), 0);
    enum { N = 100000 + 5000 }; /* a first batch may leave with the writer */
    struct poster p = {w, 0, N};
    post_many(&p);
    pthread_join(th, NULL);
    audit_writer_flush(w);
    CHECK_INT(sql_int(&s, "SELECT count(*) FROM audit_log"), N);
    CHECK(per_thread_order_kept(&s, 1));
    struct buf err = BUF_INIT;
    int64_t checked = -1, bad = -1;
    char head[65];
    CHECK_INT(verify(&s, &checked, &bad, head, &err), RC_OK);
    CHECK_INT(checked, N);
    audit_writer_stop(w);
    buf_release(&err);
    close_store(&s);
}
