/* Tests for src/assist/feedback: record and replace, the review queue with
 * its KB filter, resolving into a FAQ that then answers the question,
 * dismissing, and the daily series. Conversations and messages are inserted
 * with SQL. */
#include "test.h"

#include "assist/feedback.h"
#include "common/rc.h"
#include "common/util.h"
#include "kb/faq.h"
#include "store/db.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct fx {
    sqlite3 *db;
    struct db_conn d;
};

static int sql(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sql(struct fx *f, const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    int rc = db_exec(f->db, q);
    if (rc)
        fprintf(stderr, "sql failed: %s: %s\n", q, sqlite3_errmsg(f->db));
    return rc;
}

/* Users 1 (alice) and 2 (bob); KBs 1 and 2; conversation 1 of alice over
 * [1] with: 1 user, 2 assistant citing KB 1, 3 user (a follow-up), 4
 * assistant citing nothing; conversation 2 of bob over "all": 5 user, 6
 * assistant citing KB 2. */
static int fx_open(struct fx *f, const char *name)
{
    struct buf err = BUF_INIT;
    char path[512];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/fb_%s.db", test_tmpdir(), name);
    int rc = db_open(path, &f->db, &err);
    if (rc) {
        fprintf(stderr, "setup failed: %s\n", buf_str(&err));
        buf_release(&err);
        return rc;
    }
    f->d.db = f->db;
    f->d.cache = db_cache_new(f->db);
    rc = sql(
        f,
        "INSERT INTO users(id, username, display_name, created_at, updated_at) VALUES"
        " (1, 'alice', '爱丽丝', 0, 0), (2, 'bob', '鲍勃', 0, 0);"
        "INSERT INTO kbs(id, name, created_at) VALUES (1, '个人业务', 0), (2, '对公业务', 0);"
        "INSERT INTO conversations(id, user_id, kbs, created_at, updated_at) VALUES"
        " (1, 1, '[1]', 0, 0), (2, 2, '\"all\"', 0, 0);"
        "INSERT INTO messages(id, conv_id, role, content, query, citations, mode, created_at)"
        " VALUES (1, 1, 'user', '借记卡丢了怎么办', '', '[]', '', 0),"
        " (2, 1, 'assistant', '请到网点办理。', '',"
        "  '[{\"n\":1,\"kb_id\":1,\"chunk_id\":7,\"cite\":\"《借记卡章程》第五条\"}]',"
        "  'extractive', 0),"
        " (3, 1, 'user', '那信用卡呢', '信用卡丢了怎么办', '[]', '', 0),"
        " (4, 1, 'assistant', '不知道。', '', '[]', 'none', 0),"
        " (5, 2, 'user', '对公账户年检要什么', '', '[]', '', 0),"
        " (6, 2, 'assistant', '带营业执照。', '', '[{\"kb_id\":2,\"chunk_id\":9}]', 'model', 0);");
    buf_release(&err);
    return rc;
}

static void fx_close(struct fx *f)
{
    db_cache_free(f->d.cache);
    db_close(f->db);
}

TEST(feedback_record_and_replace)
{
    struct fx f;
    if (fx_open(&f, "record")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t id = 0, id2 = 0;
    CHECK_INT(feedback_record(&f.d, 1, 2, -1, "没说挂失电话", &id, &err), RC_OK);
    CHECK(id > 0);
    CHECK_INT(feedback_record(&f.d, 1, 2, 1, NULL, &id2, &err), RC_OK);
    CHECK_INT(id2, id); /* replaced, same row */
    json_t *o = NULL;
    CHECK_INT(feedback_get(&f.d, id, &o), RC_OK);
    CHECK_INT(json_integer_value(json_object_get(o, "rating")), 1);
    CHECK_STR(json_string_value(json_object_get(o, "comment")), "");
    json_decref(o);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(f.db, "SELECT count(*) FROM feedback", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1);
    sqlite3_finalize(st);

    /* Refusals: a user message, another user's answer, no message, bad input. */
    CHECK_INT(feedback_record(&f.d, 1, 1, -1, NULL, NULL, &err), RC_NOT_FOUND);
    CHECK_INT(feedback_record(&f.d, 2, 2, -1, NULL, NULL, &err), RC_NOT_FOUND);
    CHECK_INT(feedback_record(&f.d, 1, 99, -1, NULL, NULL, &err), RC_NOT_FOUND);
    CHECK_INT(feedback_record(&f.d, 1, 2, 0, NULL, NULL, &err), RC_INVALID);
    CHECK_INT(feedback_record(&f.d, 1, 2, 2, NULL, NULL, &err), RC_INVALID);
    CHECK_INT(feedback_record(&f.d, 1, 2, -1, "\xff", NULL, &err), RC_INVALID);
    char big[FEEDBACK_COMMENT_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_INT(feedback_record(&f.d, 1, 2, -1, big, NULL, &err), RC_INVALID);

    CHECK_INT(feedback_remove(&f.d, 1, 2), RC_OK);
    CHECK_INT(feedback_remove(&f.d, 1, 2), RC_NOT_FOUND);
    CHECK_INT(feedback_get(&f.d, id, &o), RC_NOT_FOUND);
    /* Deleting the message takes its feedback along. */
    CHECK_INT(feedback_record(&f.d, 1, 4, -1, NULL, &id, &err), RC_OK);
    CHECK_INT(sql(&f, "DELETE FROM messages WHERE id = 4"), RC_OK);
    CHECK_INT(feedback_get(&f.d, id, &o), RC_NOT_FOUND);
    buf_release(&err);
    fx_close(&f);
}

static size_t count_items(json_t *o)
{
    return json_array_size(json_object_get(o, "items"));
}

TEST(feedback_queue_lists_and_filters)
{
    struct fx f;
    if (fx_open(&f, "queue")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t a = 0, b = 0, c = 0;
    CHECK_INT(feedback_record(&f.d, 1, 2, -1, "没说挂失电话", &a, &err), RC_OK);
    CHECK_INT(feedback_record(&f.d, 1, 4, -1, "答非所问", &b, &err), RC_OK);
    CHECK_INT(feedback_record(&f.d, 2, 6, 1, "很好", &c, &err), RC_OK);

    json_t *o = NULL;
    CHECK_INT(feedback_list(&f.d, NULL, &o), RC_OK);
    CHECK_INT(count_items(o), 2); /* open 👎 only, newest first */
    json_t *it = json_array_get(json_object_get(o, "items"), 0);
    CHECK_INT(json_integer_value(json_object_get(it, "id")), b);
    /* The question is the previous user message; its standalone query too. */
    CHECK_STR(json_string_value(json_object_get(it, "question")), "那信用卡呢");
    CHECK_STR(json_string_value(json_object_get(it, "query")), "信用卡丢了怎么办");
    CHECK_STR(json_string_value(json_object_get(it, "answer")), "不知道。");
    it = json_array_get(json_object_get(o, "items"), 1);
    CHECK_STR(json_string_value(json_object_get(it, "question")), "借记卡丢了怎么办");
    CHECK_STR(json_string_value(json_object_get(it, "comment")), "没说挂失电话");
    CHECK_STR(json_string_value(json_object_get(json_object_get(it, "user"), "username")), "alice");
    json_t *cites = json_object_get(it, "citations");
    CHECK_INT(json_array_size(cites), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(cites, 0), "cite")),
              "《借记卡章程》第五条");
    CHECK_INT(json_integer_value(json_array_get(json_object_get(it, "kb_ids"), 0)), 1);
    CHECK(json_is_null(json_object_get(o, "next_before_id")));
    json_decref(o);

    /* KB filter: KB 1 sees both of alice's (one cited KB 1, the other's
     * conversation searched [1]); KB 2 sees none of the 👎 ones. */
    int64_t k1[] = {1}, k2[] = {2};
    struct feedback_list_opts lo = {k1, 1, NULL, 0, 0, 0};
    CHECK_INT(feedback_list(&f.d, &lo, &o), RC_OK);
    CHECK_INT(count_items(o), 2);
    json_decref(o);
    lo.kb_ids = k2;
    CHECK_INT(feedback_list(&f.d, &lo, &o), RC_OK);
    CHECK_INT(count_items(o), 0);
    json_decref(o);
    lo.rating = 2; /* both ratings: bob's 👍 cites KB 2 */
    CHECK_INT(feedback_list(&f.d, &lo, &o), RC_OK);
    CHECK_INT(count_items(o), 1);
    json_decref(o);
    lo.kb_ids = k1;
    lo.nkb = 0; /* an empty filter matches nothing */
    CHECK_INT(feedback_list(&f.d, &lo, &o), RC_OK);
    CHECK_INT(count_items(o), 0);
    json_decref(o);

    /* Paging. */
    struct feedback_list_opts pg = {NULL, 0, "all", 2, 0, 1};
    CHECK_INT(feedback_list(&f.d, &pg, &o), RC_OK);
    CHECK_INT(count_items(o), 1);
    int64_t next = json_integer_value(json_object_get(o, "next_before_id"));
    CHECK_INT(next, c);
    json_decref(o);
    pg.before_id = next;
    pg.limit = 5;
    CHECK_INT(feedback_list(&f.d, &pg, &o), RC_OK);
    CHECK_INT(count_items(o), 2);
    json_decref(o);

    struct feedback_list_opts bad = {NULL, 0, "closed", 0, 0, 0};
    CHECK_INT(feedback_list(&f.d, &bad, &o), RC_INVALID);
    struct feedback_list_opts bad2 = {NULL, 0, NULL, 0, 0, FEEDBACK_PAGE_MAX + 1};
    CHECK_INT(feedback_list(&f.d, &bad2, &o), RC_INVALID);
    buf_release(&err);
    fx_close(&f);
}

TEST(feedback_resolve_to_faq_and_dismiss)
{
    struct fx f;
    if (fx_open(&f, "resolve")) {
        CHECK(0);
        return;
    }
    struct faq_index *x = faq_index_new();
    struct buf err = BUF_INIT;
    int64_t a = 0, b = 0, fid = 0;
    int64_t k1[] = {1};
    CHECK_INT(feedback_record(&f.d, 1, 2, -1, "没说挂失电话", &a, &err), RC_OK);
    CHECK_INT(feedback_record(&f.d, 1, 4, -1, NULL, &b, &err), RC_OK);

    /* Before: the original question has no FAQ. */
    struct faq_match m;
    CHECK_INT(faq_match(x, &f.d, k1, 1, "借记卡丢了怎么办", 0.75, &m), RC_NOT_FOUND);
    faq_match_release(&m);

    /* Resolve with a new standard question: the original becomes similar. */
    CHECK_INT(feedback_resolve(&f.d, a, 1, "借记卡遗失如何挂失", "请致电 95588 或到网点挂失。", 9,
                               &fid, &err),
              RC_OK);
    CHECK(fid > 0);
    struct faq q;
    CHECK_INT(faq_get(&f.d, 1, fid, &q), RC_OK);
    CHECK_STR(q.question, "借记卡遗失如何挂失");
    CHECK_STR(q.source, "feedback:1");
    CHECK_INT(q.created_by, 9);
    CHECK_INT(q.nsimilar, 1);
    if (q.nsimilar)
        CHECK_STR(q.similar[0], "借记卡丢了怎么办");
    faq_release(&q);
    /* The new FAQ now answers the original question. */
    CHECK_INT(faq_match(x, &f.d, k1, 1, "借记卡丢了怎么办", 0.75, &m), RC_OK);
    CHECK_INT(m.faq_id, fid);
    CHECK_STR(m.answer, "请致电 95588 或到网点挂失。");
    faq_match_release(&m);
    json_t *o = NULL;
    CHECK_INT(feedback_get(&f.d, a, &o), RC_OK);
    CHECK_STR(json_string_value(json_object_get(o, "status")), "resolved");
    CHECK_INT(json_integer_value(json_object_get(o, "faq_id")), fid);
    json_decref(o);
    CHECK_INT(feedback_list(&f.d, NULL, &o), RC_OK);
    CHECK_INT(count_items(o), 1); /* only b is still open */
    json_decref(o);
    /* Not twice. */
    buf_reset(&err);
    CHECK_INT(feedback_resolve(&f.d, a, 1, NULL, "x", 9, NULL, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "resolved");

    /* Without a question: the standalone query of the follow-up is the
     * standard question. A bad answer or KB leaves the item open. */
    CHECK_INT(feedback_resolve(&f.d, b, 1, NULL, "", 9, NULL, &err), RC_INVALID);
    CHECK_INT(feedback_resolve(&f.d, b, 77, NULL, "请致电信用卡中心。", 9, NULL, &err),
              RC_NOT_FOUND);
    CHECK_INT(feedback_get(&f.d, b, &o), RC_OK);
    CHECK_STR(json_string_value(json_object_get(o, "status")), "open");
    json_decref(o);
    int64_t fid2 = 0;
    CHECK_INT(feedback_resolve(&f.d, b, 1, "", "请致电信用卡中心。", 9, &fid2, &err), RC_OK);
    CHECK_INT(faq_get(&f.d, 1, fid2, &q), RC_OK);
    CHECK_STR(q.question, "信用卡丢了怎么办");
    CHECK_INT(q.nsimilar, 0);
    faq_release(&q);
    CHECK_INT(feedback_resolve(&f.d, 999, 1, NULL, "x", 9, NULL, &err), RC_NOT_FOUND);

    /* Dismiss. */
    int64_t c = 0;
    CHECK_INT(feedback_record(&f.d, 2, 6, -1, "太简略", &c, &err), RC_OK);
    CHECK_INT(feedback_dismiss(&f.d, c, &err), RC_OK);
    CHECK_INT(feedback_get(&f.d, c, &o), RC_OK);
    CHECK_STR(json_string_value(json_object_get(o, "status")), "dismissed");
    CHECK(json_is_null(json_object_get(o, "faq_id")));
    json_decref(o);
    CHECK_INT(feedback_dismiss(&f.d, c, &err), RC_INVALID);
    CHECK_INT(feedback_dismiss(&f.d, 999, &err), RC_NOT_FOUND);
    CHECK_INT(feedback_list(&f.d, NULL, &o), RC_OK);
    CHECK_INT(count_items(o), 0);
    json_decref(o);
    /* A new rating reopens it. */
    CHECK_INT(feedback_record(&f.d, 2, 6, -1, "还是太简略", NULL, &err), RC_OK);
    CHECK_INT(feedback_list(&f.d, NULL, &o), RC_OK);
    CHECK_INT(count_items(o), 1);
    json_decref(o);
    buf_release(&err);
    faq_index_free(x);
    fx_close(&f);
}

TEST(feedback_daily_counts)
{
    struct fx f;
    if (fx_open(&f, "daily")) {
        CHECK(0);
        return;
    }
    /* 2024-05-01 00:00 +08:00 = 1714492800. Day 1: 2 up, 1 down (one of
     * them at 23:30 local, 15:30 UTC); day 2: none; day 3: 1 down. */
    int64_t d1 = 1714492800;
    CHECK_INT(sql(&f,
                  "INSERT INTO messages(id, conv_id, role, content, created_at) VALUES"
                  " (10, 1, 'assistant', 'a', 0), (11, 1, 'assistant', 'b', 0),"
                  " (12, 1, 'assistant', 'c', 0);"
                  "INSERT INTO feedback(message_id, user_id, rating, created_at) VALUES"
                  " (10, 1, 1, %lld), (11, 1, 1, %lld), (12, 1, -1, %lld), (10, 2, -1, %lld),"
                  " (11, 2, 1, %lld)",
                  (long long)d1 + 3600, (long long)d1 + 84600, (long long)d1 + 7200,
                  (long long)d1 + 2 * 86400 + 10, (long long)d1 - 10),
              RC_OK);
    json_t *o = NULL;
    CHECK_INT(feedback_daily(&f.d, d1, d1 + 2 * 86400 + 100, 8 * 3600, &o), RC_OK);
    json_t *days = json_object_get(o, "days");
    CHECK_INT(json_array_size(days), 3);
    json_t *x = json_array_get(days, 0);
    CHECK_STR(json_string_value(json_object_get(x, "day")), "2024-05-01");
    CHECK_INT(json_integer_value(json_object_get(x, "up")), 2);
    CHECK_INT(json_integer_value(json_object_get(x, "down")), 1);
    CHECK(json_real_value(json_object_get(x, "up_rate")) > 0.66 &&
          json_real_value(json_object_get(x, "up_rate")) < 0.67);
    x = json_array_get(days, 1);
    CHECK_STR(json_string_value(json_object_get(x, "day")), "2024-05-02");
    CHECK_INT(json_integer_value(json_object_get(x, "up")), 0);
    CHECK(json_is_null(json_object_get(x, "up_rate")));
    x = json_array_get(days, 2);
    CHECK_STR(json_string_value(json_object_get(x, "day")), "2024-05-03");
    CHECK_INT(json_integer_value(json_object_get(x, "down")), 1);
    CHECK_INT(json_integer_value(json_object_get(o, "up")), 2);
    CHECK_INT(json_integer_value(json_object_get(o, "down")), 2);
    json_decref(o);
    /* In UTC: d1 is 2024-04-30 16:00, so two days (04-29, 04-30) hold the
     * 👍 at d1 - 10 and d1 + 3600 and the 👎 at d1 + 7200; the 23:30 local
     * one is 05-01 in UTC, outside. */
    CHECK_INT(feedback_daily(&f.d, d1 - 86400, d1, 0, &o), RC_OK);
    days = json_object_get(o, "days");
    CHECK_INT(json_array_size(days), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(days, 0), "day")), "2024-04-29");
    CHECK_STR(json_string_value(json_object_get(json_array_get(days, 1), "day")), "2024-04-30");
    CHECK_INT(json_integer_value(json_object_get(o, "up")), 2);
    CHECK_INT(json_integer_value(json_object_get(o, "down")), 1);
    json_decref(o);
    CHECK_INT(feedback_daily(&f.d, d1, d1 - 1, 0, &o), RC_INVALID);
    CHECK_INT(feedback_daily(&f.d, d1, d1 + 400 * 86400, 0, &o), RC_INVALID);
    fx_close(&f);
}
