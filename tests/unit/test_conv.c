/* Tests for src/assist/conv.c: CRUD, owner isolation, paging, the title
 * from the first question, the message lifecycle (streaming → done /
 * stopped, races), history for rewriting, regenerate, the Markdown export
 * and deleting the conversation's files KB with its chunks. */
#include "test.h"

#include "assist/conv.h"
#include "common/buf.h"
#include "common/rc.h"
#include "store/db.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    struct db_conn d;
    int64_t a, b; /* two users */
};

static int64_t exec_id(struct db_conn *d, const char *sql, const char *s, int64_t i)
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

static int64_t count(struct db_conn *d, const char *sql, int64_t i)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, i);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int setup(struct fx *f, const char *name)
{
    memset(f, 0, sizeof *f);
    char path[512];
    struct buf err = BUF_INIT;
    snprintf(path, sizeof path, "%s/conv_%s.db", test_tmpdir(), name);
    remove(path);
    sqlite3 *db = NULL;
    int rc = db_open(path, &db, &err);
    buf_release(&err);
    if (rc)
        return rc;
    f->d = (struct db_conn){db, db_cache_new(db)};
    f->a = exec_id(&f->d, "INSERT INTO users(username, created_at, updated_at) VALUES (?1, 0, 0)",
                   "alice", 0);
    f->b = exec_id(&f->d, "INSERT INTO users(username, created_at, updated_at) VALUES (?1, 0, 0)",
                   "bob", 0);
    return f->a && f->b ? RC_OK : RC_DB;
}

static void teardown(struct fx *f)
{
    db_cache_free(f->d.cache);
    db_close(f->d.db);
}

static int64_t mk(struct fx *f, int64_t user, const char *title)
{
    struct conv_new p = {.title = title};
    int64_t id = 0;
    CHECK_INT(conv_create(&f->d, user, &p, &id, NULL), RC_OK);
    return id;
}

/* A user question then a finished answer. */
static int64_t turn(struct fx *f, int64_t user, int64_t conv, const char *q, const char *a,
                    const char *cites, const char *status)
{
    int64_t u = 0, m = 0;
    CHECK_INT(conv_msg_add_user(&f->d, user, conv, q, NULL, &u, NULL), RC_OK);
    CHECK_INT(conv_msg_start(&f->d, user, conv, "qwen", &m), RC_OK);
    json_t *cj = cites ? json_loads(cites, 0, NULL) : NULL;
    CHECK(!cites || cj);
    struct conv_finish fin = {.status = status,
                              .content = a,
                              .citations = cj,
                              .mode = "model",
                              .latency_ms = 12.5,
                              .prompt_tokens = 10,
                              .completion_tokens = 20};
    CHECK_INT(conv_msg_finish(&f->d, user, m, &fin, NULL), RC_OK);
    json_decref(cj);
    return u;
}

TEST(conv_crud)
{
    struct fx f;
    if (setup(&f, "crud")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    struct conv_new p = {
        .title = "  开户 咨询 ", .kbs = "[3, 1, 3]", .web = 1, .assistant = "qwen"};
    int64_t id = 0;
    CHECK_INT(conv_create(&f.d, f.a, &p, &id, &err), RC_OK);
    struct conv c;
    CHECK_INT(conv_get(&f.d, f.a, id, &c), RC_OK);
    CHECK_STR(c.title, "开户 咨询");
    CHECK_STR(c.kbs, "[3,1]");
    CHECK_INT(c.web, 1);
    CHECK_STR(c.assistant, "qwen");
    CHECK_INT(c.files_kb_id, 0);
    CHECK_INT(c.nmessages, 0);
    json_t *j = conv_json(&c);
    CHECK_INT(json_array_size(json_object_get(j, "kbs")), 2);
    CHECK(json_is_null(json_object_get(j, "files_kb_id")));
    CHECK(json_is_null(json_object_get(j, "last_message_at")));
    CHECK(json_is_true(json_object_get(j, "web")));
    json_decref(j);
    conv_release(&c);

    /* defaults, and bad input */
    int64_t id2 = 0;
    CHECK_INT(conv_create(&f.d, f.a, NULL, &id2, &err), RC_OK);
    CHECK_INT(conv_get(&f.d, f.a, id2, &c), RC_OK);
    CHECK_STR(c.kbs, "\"all\"");
    CHECK_STR(c.title, "");
    conv_release(&c);
    struct conv_new bad = {.kbs = "[0]"};
    CHECK_INT(conv_create(&f.d, f.a, &bad, &id2, &err), RC_INVALID);
    bad.kbs = "{\"a\":1}";
    CHECK_INT(conv_create(&f.d, f.a, &bad, &id2, &err), RC_INVALID);
    bad.kbs = "\"some\"";
    CHECK_INT(conv_create(&f.d, f.a, &bad, &id2, &err), RC_INVALID);
    bad = (struct conv_new){.title = "a\nb"};
    CHECK_INT(conv_create(&f.d, f.a, &bad, &id2, &err), RC_INVALID);
    CHECK_INT(conv_create(&f.d, 9999, NULL, &id2, &err), RC_NOT_FOUND);

    /* rename and settings */
    CHECK_INT(conv_rename(&f.d, f.a, id, "大额取现", &err), RC_OK);
    CHECK_INT(conv_rename(&f.d, f.a, id, "   ", &err), RC_INVALID);
    char longt[400] = "";
    for (int i = 0; i < 101; i++)
        strcat(longt, "字");
    CHECK_INT(conv_rename(&f.d, f.a, id, longt, &err), RC_INVALID);
    CHECK_INT(conv_update(&f.d, f.a, id, "all", -1, NULL, &err), RC_OK);
    CHECK_INT(conv_get(&f.d, f.a, id, &c), RC_OK);
    CHECK_STR(c.title, "大额取现");
    CHECK_STR(c.kbs, "\"all\"");
    CHECK_INT(c.web, 1); /* unchanged */
    CHECK_STR(c.assistant, "qwen");
    conv_release(&c);
    CHECK_INT(conv_update(&f.d, f.a, id, NULL, 0, "deepseek", &err), RC_OK);
    CHECK_INT(conv_get(&f.d, f.a, id, &c), RC_OK);
    CHECK_INT(c.web, 0);
    CHECK_STR(c.kbs, "\"all\"");
    CHECK_STR(c.assistant, "deepseek");
    conv_release(&c);
    CHECK_INT(conv_update(&f.d, f.a, id, "[-1]", -1, NULL, &err), RC_INVALID);
    CHECK_INT(conv_update(&f.d, f.a, id, NULL, 2, NULL, &err), RC_INVALID);

    int all = 0;
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(conv_kbs_parse("[5,7]", &all, &ids, &n), RC_OK);
    CHECK_INT(all, 0);
    CHECK_INT(n, 2);
    CHECK(ids && ids[0] == 5 && ids[1] == 7);
    free(ids);
    CHECK_INT(conv_kbs_parse("\"all\"", &all, &ids, &n), RC_OK);
    CHECK_INT(all, 1);
    CHECK(ids == NULL);

    CHECK_INT(conv_delete(&f.d, f.a, id), RC_OK);
    CHECK_INT(conv_get(&f.d, f.a, id, &c), RC_NOT_FOUND);
    CHECK_INT(conv_delete(&f.d, f.a, id), RC_NOT_FOUND);
    buf_release(&err);
    teardown(&f);
}

TEST(conv_owner_isolation)
{
    struct fx f;
    if (setup(&f, "iso")) {
        CHECK(0);
        return;
    }
    int64_t id = mk(&f, f.a, "alice 的会话");
    turn(&f, f.a, id, "挂失怎么办理", "带身份证到柜面。", "[]", "done");
    struct conv c;
    struct buf md = BUF_INIT;
    int64_t mid = 0;
    json_t *j = NULL;
    CHECK_INT(conv_get(&f.d, f.b, id, &c), RC_NOT_FOUND);
    CHECK_INT(conv_rename(&f.d, f.b, id, "偷看", NULL), RC_NOT_FOUND);
    CHECK_INT(conv_update(&f.d, f.b, id, "all", 1, NULL, NULL), RC_NOT_FOUND);
    CHECK_INT(conv_export_md(&f.d, f.b, id, &md), RC_NOT_FOUND);
    CHECK_INT(md.len, 0);
    CHECK_INT(conv_messages(&f.d, f.b, id, 0, 0, &j), RC_NOT_FOUND);
    CHECK(j == NULL);
    CHECK_INT(conv_msg_add_user(&f.d, f.b, id, "插话", NULL, &mid, NULL), RC_NOT_FOUND);
    CHECK_INT(conv_msg_start(&f.d, f.b, id, NULL, &mid), RC_NOT_FOUND);
    struct conv_history h;
    CHECK_INT(conv_history(&f.d, f.b, id, 5, 0, &h), RC_NOT_FOUND);
    int64_t u = 0;
    CHECK_INT(conv_regenerate(&f.d, f.b, id, &u, NULL, NULL), RC_NOT_FOUND);
    /* a message of alice's conversation cannot be read or changed by bob */
    int64_t amsg = count(&f.d, "SELECT max(id) FROM messages WHERE conv_id = ?1", id);
    struct conv_msg m;
    CHECK_INT(conv_msg_get(&f.d, f.b, amsg, &m), RC_NOT_FOUND);
    CHECK_INT(conv_msg_set_query(&f.d, f.b, amsg - 1, "x"), RC_NOT_FOUND);
    CHECK_INT(conv_delete(&f.d, f.b, id), RC_NOT_FOUND);
    CHECK_INT(conv_list(&f.d, f.b, 0, 0, &j), RC_OK);
    CHECK_INT(json_integer_value(json_object_get(j, "total")), 0);
    json_decref(j);
    /* still alice's, intact */
    CHECK_INT(conv_get(&f.d, f.a, id, &c), RC_OK);
    CHECK_STR(c.title, "alice 的会话");
    CHECK_INT(c.nmessages, 2);
    conv_release(&c);
    teardown(&f);
}

TEST(conv_list_paging)
{
    struct fx f;
    if (setup(&f, "paging")) {
        CHECK(0);
        return;
    }
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char t[32];
        snprintf(t, sizeof t, "会话%d", i);
        ids[i] = mk(&f, f.a, t);
    }
    mk(&f, f.b, "bob");
    /* the oldest one was just used: it comes first */
    sqlite3_exec(f.d.db, "UPDATE conversations SET updated_at = updated_at - 100", NULL, NULL,
                 NULL);
    turn(&f, f.a, ids[0], "外币汇款需要什么", "……", "[]", "done");
    json_t *j = NULL;
    CHECK_INT(conv_list(&f.d, f.a, 0, 2, &j), RC_OK);
    json_t *arr = json_object_get(j, "conversations");
    CHECK_INT(json_integer_value(json_object_get(j, "total")), 5);
    CHECK_INT(json_array_size(arr), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), ids[0]);
    CHECK(json_is_integer(json_object_get(json_array_get(arr, 0), "last_message_at")));
    CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "messages")), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 1), "id")), ids[4]);
    json_decref(j);
    CHECK_INT(conv_list(&f.d, f.a, 4, 2, &j), RC_OK);
    arr = json_object_get(j, "conversations");
    CHECK_INT(json_array_size(arr), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), ids[1]);
    json_decref(j);
    CHECK_INT(conv_list(&f.d, f.a, 0, CONV_PAGE_MAX + 1, &j), RC_INVALID);
    CHECK_INT(conv_list(&f.d, f.a, -1, 10, &j), RC_INVALID);

    /* messages paging, oldest first */
    for (int i = 0; i < 3; i++)
        turn(&f, f.a, ids[1], "问题", "回答", "[]", "done");
    CHECK_INT(conv_messages(&f.d, f.a, ids[1], 2, 3, &j), RC_OK);
    CHECK_INT(json_integer_value(json_object_get(j, "total")), 6);
    arr = json_object_get(j, "messages");
    CHECK_INT(json_array_size(arr), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "role")), "user");
    CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 1), "role")), "assistant");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 1), "completion_tokens")), 20);
    json_decref(j);
    teardown(&f);
}

TEST(conv_title_from_first_question)
{
    struct fx f;
    if (setup(&f, "title")) {
        CHECK(0);
        return;
    }
    char *t = conv_title_from_question("  个人账户\n开户  需要什么材料？ ");
    CHECK_STR(t, "个人账户 开户 需要什么材料？");
    free(t);
    const char *lq =
        "单位银行结算账户开立、变更和撤销的办理流程以及需要提交的全部证明文件有哪些要求";
    t = conv_title_from_question(lq);
    CHECK_INT(utf8_count(t, strlen(t)), CONV_AUTO_TITLE + 1);
    CHECK_CONTAINS(t, "…");
    free(t);

    int64_t id = mk(&f, f.a, NULL), u = 0;
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, lq, NULL, &u, NULL), RC_OK);
    struct conv c;
    CHECK_INT(conv_get(&f.d, f.a, id, &c), RC_OK);
    /* 30 characters (each 3 bytes here) and an ellipsis */
    CHECK_INT(strlen(c.title), 30 * 3 + 3);
    CHECK(strncmp(c.title, lq, 90) == 0);
    CHECK_CONTAINS(c.title, "…");
    conv_release(&c);
    /* a second question does not change it; neither does a titled one */
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "那单位户呢？", NULL, &u, NULL), RC_OK);
    int64_t id2 = mk(&f, f.a, "我的标题");
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id2, "挂失", NULL, &u, NULL), RC_OK);
    CHECK_INT(conv_get(&f.d, f.a, id2, &c), RC_OK);
    CHECK_STR(c.title, "我的标题");
    conv_release(&c);
    /* bad messages */
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, " \n ", NULL, &u, NULL), RC_INVALID);
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "\xff\xfe", NULL, &u, NULL), RC_INVALID);
    teardown(&f);
}

TEST(conv_message_lifecycle)
{
    struct fx f;
    if (setup(&f, "life")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t id = mk(&f, f.a, "t"), u = 0, m = 0;
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "大额取现要预约吗", NULL, &u, &err), RC_OK);
    CHECK_INT(conv_msg_set_query(&f.d, f.a, u, "大额取现 预约"), RC_OK);
    CHECK_INT(conv_msg_start(&f.d, f.a, id, "qwen3", &m), RC_OK);
    struct conv_msg msg;
    CHECK_INT(conv_msg_get(&f.d, f.a, m, &msg), RC_OK);
    CHECK_STR(msg.status, "streaming");
    CHECK_STR(msg.role, "assistant");
    CHECK_STR(msg.model, "qwen3");
    conv_msg_release(&msg);
    /* no new question while an answer streams */
    int64_t u2 = 0;
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "再问", NULL, &u2, &err), RC_BUSY);
    /* bad finishes */
    struct conv_finish bad = {.status = "weird"};
    CHECK_INT(conv_msg_finish(&f.d, f.a, m, &bad, &err), RC_INVALID);
    json_t *obj = json_object();
    bad = (struct conv_finish){.status = "done", .citations = obj};
    CHECK_INT(conv_msg_finish(&f.d, f.a, m, &bad, &err), RC_INVALID);
    json_decref(obj);
    CHECK_INT(conv_msg_finish(&f.d, f.b, m, &(struct conv_finish){.status = "done"}, &err),
              RC_NOT_FOUND);
    CHECK_INT(conv_msg_finish(&f.d, f.a, u, &(struct conv_finish){.status = "done"}, &err),
              RC_NOT_FOUND); /* a user message */
    /* stopped: partial content kept */
    json_t *cites = json_pack("[{s:i,s:s}]", "n", 1, "cite", "《现金管理办法》第十二条");
    struct conv_finish stop = {.status = "stopped",
                               .content = "需要提前一天",
                               .citations = cites,
                               .thinking = "想一想",
                               .latency_ms = 99,
                               .prompt_tokens = 5,
                               .completion_tokens = -1};
    CHECK_INT(conv_msg_finish(&f.d, f.a, m, &stop, &err), RC_OK);
    json_decref(cites);
    /* the done that lost the race */
    struct conv_finish done = {.status = "done", .content = "全部答案"};
    CHECK_INT(conv_msg_finish(&f.d, f.a, m, &done, &err), RC_BUSY);
    CHECK_INT(conv_msg_get(&f.d, f.a, m, &msg), RC_OK);
    CHECK_STR(msg.status, "stopped");
    CHECK_STR(msg.content, "需要提前一天");
    CHECK_STR(msg.thinking, "想一想");
    CHECK_STR(msg.model, "qwen3");
    CHECK_INT(msg.prompt_tokens, 5);
    json_t *j = conv_msg_json(&msg);
    CHECK_INT(json_array_size(json_object_get(j, "citations")), 1);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "stopped");
    json_decref(j);
    conv_msg_release(&msg);
    CHECK_INT(conv_msg_get(&f.d, f.a, u, &msg), RC_OK);
    CHECK_STR(msg.query, "大额取现 预约");
    conv_msg_release(&msg);

    /* done, with model override; a streaming one left by a crash fails */
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "再问", NULL, &u2, &err), RC_OK);
    CHECK_INT(conv_msg_start(&f.d, f.a, id, NULL, &m), RC_OK);
    done.model = "backup";
    CHECK_INT(conv_msg_finish(&f.d, f.a, m, &done, &err), RC_OK);
    CHECK_INT(conv_msg_get(&f.d, f.a, m, &msg), RC_OK);
    CHECK_STR(msg.status, "done");
    CHECK_STR(msg.model, "backup");
    CHECK_STR(msg.citations, "[]");
    conv_msg_release(&msg);
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "第三问", NULL, &u2, &err), RC_OK);
    CHECK_INT(conv_msg_start(&f.d, f.a, id, NULL, &m), RC_OK);
    int64_t nfail = 0;
    CHECK_INT(conv_msg_fail_streaming(&f.d, &nfail), RC_OK);
    CHECK_INT(nfail, 1);
    CHECK_INT(conv_msg_get(&f.d, f.a, m, &msg), RC_OK);
    CHECK_STR(msg.status, "failed");
    conv_msg_release(&msg);
    buf_release(&err);
    teardown(&f);
}

TEST(conv_history_and_regenerate)
{
    struct fx f;
    if (setup(&f, "hist")) {
        CHECK(0);
        return;
    }
    int64_t id = mk(&f, f.a, "t");
    int64_t u1 = turn(&f, f.a, id, "个人账户开户需要什么材料", "身份证。", "[]", "done");
    CHECK_INT(conv_msg_set_query(&f.d, f.a, u1, "个人账户开户需要什么材料"), RC_OK);
    turn(&f, f.a, id, "那单位户呢？", "营业执照。", "[]", "done");
    int64_t u3 = 0, m = 0;
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "需要多久", NULL, &u3, NULL), RC_OK);
    CHECK_INT(conv_msg_set_query(&f.d, f.a, u3 - 2, "单位户开户需要什么材料"), RC_OK);

    struct conv_history h;
    CHECK_INT(conv_history(&f.d, f.a, id, 5, u3, &h), RC_OK);
    CHECK_INT(h.n, 2);
    if (h.n == 2) {
        CHECK_STR(h.turns[0].question, "个人账户开户需要什么材料");
        CHECK_STR(h.turns[0].answer, "身份证。");
        CHECK_STR(h.turns[1].question, "那单位户呢？");
        CHECK_STR(h.turns[1].query, "单位户开户需要什么材料");
        CHECK_STR(h.turns[1].answer, "营业执照。");
    }
    conv_history_release(&h);
    CHECK_INT(conv_history(&f.d, f.a, id, 1, 0, &h), RC_OK);
    CHECK_INT(h.n, 1);
    if (h.n == 1) {
        CHECK_STR(h.turns[0].question, "需要多久");
        CHECK_STR(h.turns[0].query, "需要多久"); /* no query recorded: the question */
        CHECK_STR(h.turns[0].answer, "");
    }
    conv_history_release(&h);

    /* regenerate: two answers after the last question both go */
    CHECK_INT(conv_msg_start(&f.d, f.a, id, NULL, &m), RC_OK);
    int64_t u = 0;
    char *q = NULL, *qq = NULL;
    CHECK_INT(conv_regenerate(&f.d, f.a, id, &u, &q, &qq), RC_BUSY); /* still streaming */
    CHECK_INT(conv_msg_finish(&f.d, f.a, m, &(struct conv_finish){.status = "failed"}, NULL),
              RC_OK);
    CHECK_INT(conv_msg_start(&f.d, f.a, id, NULL, &m), RC_OK);
    CHECK_INT(conv_msg_finish(&f.d, f.a, m,
                              &(struct conv_finish){.status = "done", .content = "三天"}, NULL),
              RC_OK);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM messages WHERE conv_id = ?1", id), 7);
    CHECK_INT(conv_regenerate(&f.d, f.a, id, &u, &q, &qq), RC_OK);
    CHECK_INT(u, u3);
    CHECK_STR(q, "需要多久");
    CHECK_STR(qq, "");
    free(q);
    free(qq);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM messages WHERE conv_id = ?1", id), 5);
    CHECK_INT(count(&f.d, "SELECT max(id) FROM messages WHERE conv_id = ?1", id), u3);
    /* earlier answers are untouched */
    CHECK_INT(
        count(&f.d, "SELECT count(*) FROM messages WHERE conv_id = ?1 AND role = 'assistant'", id),
        2);
    int64_t empty = mk(&f, f.a, "空");
    CHECK_INT(conv_regenerate(&f.d, f.a, empty, &u, NULL, NULL), RC_NOT_FOUND);
    teardown(&f);
}

TEST(conv_export_markdown)
{
    struct fx f;
    if (setup(&f, "export")) {
        CHECK(0);
        return;
    }
    int64_t id = mk(&f, f.a, "汇票咨询");
    turn(
        &f, f.a, id, "银行汇票的提示付款期限是多久？", "自出票日起一个月[1]。",
        "[{\"n\":1,\"kb_id\":1,\"chunk_id\":2,\"document\":\"zjjs.pdf\",\"title\":\"支付结算办法\","
        "\"cite\":\"《支付结算办法》第十二条\",\"text\":\"…\"},"
        "{\"n\":2,\"url\":\"https://example.com/a\",\"title\":\"人民银行公告\"}]",
        "done");
    turn(&f, f.a, id, "那商业汇票呢", "最长六个月", "[]", "stopped");
    int64_t m = 0, u = 0;
    CHECK_INT(conv_msg_add_user(&f.d, f.a, id, "还有呢", NULL, &u, NULL), RC_OK);
    CHECK_INT(conv_msg_start(&f.d, f.a, id, NULL, &m), RC_OK); /* streaming: skipped */
    struct buf md = BUF_INIT;
    CHECK_INT(conv_export_md(&f.d, f.a, id, &md), RC_OK);
    const char *s = buf_str(&md);
    CHECK(strncmp(s, "# 汇票咨询\n", strlen("# 汇票咨询\n")) == 0);
    CHECK_CONTAINS(s, "### 用户（");
    CHECK_CONTAINS(s, "### 助手（");
    CHECK_CONTAINS(s, "银行汇票的提示付款期限是多久？");
    CHECK_CONTAINS(s, "自出票日起一个月[1]。");
    CHECK_CONTAINS(s, "[1] 《支付结算办法》第十二条\n");
    CHECK_CONTAINS(s, "[2] [人民银行公告](https://example.com/a)\n");
    CHECK_CONTAINS(s, "最长六个月\n\n*（回答已停止）*");
    CHECK_CONTAINS(s, "还有呢");
    /* order: first question before its answer before the second question */
    const char *a = strstr(s, "银行汇票的提示"), *b = strstr(s, "自出票日"),
               *c = strstr(s, "那商业汇票呢");
    CHECK(a && b && c && a < b && b < c);
    /* the streaming answer is not there: 3 user + 2 assistant headings */
    int nh = 0;
    for (const char *p = s; (p = strstr(p, "### ")) != NULL; p += 4)
        nh++;
    CHECK_INT(nh, 5);
    /* local time "YYYY-MM-DD HH:MM" */
    const char *t = strstr(s, "### 用户（");
    CHECK(t && strlen(t) > 30 && t[strlen("### 用户（") + 4] == '-');
    buf_release(&md);
    /* a cap is an error, not a truncation */
    struct buf small;
    buf_init(&small, 64);
    CHECK_INT(conv_export_md(&f.d, f.a, id, &small), RC_TOO_BIG);
    buf_release(&small);
    teardown(&f);
}

TEST(conv_delete_removes_files_kb)
{
    struct fx f;
    if (setup(&f, "files")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t id = mk(&f, f.a, "上传");
    turn(&f, f.a, id, "总结一下", "好的", "[]", "done");
    int64_t kb = exec_id(&f.d,
                         "INSERT INTO kbs(name, kind, owner_id, created_at)"
                         " VALUES (?1, 'conversation', ?2, 0)",
                         "conv-files", f.a);
    int64_t kb_other = exec_id(&f.d,
                               "INSERT INTO kbs(name, kind, owner_id, created_at)"
                               " VALUES (?1, 'conversation', ?2, 0)",
                               "bob-files", f.b);
    int64_t kb_ent = exec_id(
        &f.d, "INSERT INTO kbs(name, kind, created_at) VALUES (?1, 'enterprise', 0)", "制度库", 0);
    CHECK(kb && kb_other && kb_ent);
    int64_t doc = exec_id(&f.d,
                          "INSERT INTO documents(kb_id, name, title, type, sha256, created_at,"
                          " updated_at) VALUES (?2, ?1, 't', 'txt', 'x', 0, 0)",
                          "a.txt", kb);
    CHECK(doc > 0);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(f.d.db,
                             "INSERT INTO chunks(kb_id, doc_id, ord, kind, title, heading, label,"
                             " text) VALUES (?1, ?2, 0, 0, 't', '', '', '上传文件的内容')",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, kb);
    sqlite3_bind_int64(st, 2, doc);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    /* an FTS index present, as kb_fts_ensure builds it */
    CHECK_INT(db_exec(f.d.db, "CREATE VIRTUAL TABLE chunks_tri USING fts5(title, heading, text,"
                              " content='chunks', content_rowid='id', tokenize='trigram');"
                              "INSERT INTO chunks_tri(chunks_tri) VALUES ('rebuild');"),
              RC_OK);
    CHECK_INT(
        count(&f.d, "SELECT count(*) FROM chunks_tri WHERE chunks_tri MATCH '文件的' AND ?1", 1),
        1);

    /* only a conversation KB of the owner may be linked */
    CHECK_INT(conv_set_files_kb(&f.d, f.a, id, kb_other, &err), RC_INVALID);
    CHECK_INT(conv_set_files_kb(&f.d, f.a, id, kb_ent, &err), RC_INVALID);
    CHECK_INT(conv_set_files_kb(&f.d, f.b, id, kb, &err), RC_INVALID);
    CHECK_INT(conv_set_files_kb(&f.d, f.a, id, kb, &err), RC_OK);
    struct conv c;
    CHECK_INT(conv_get(&f.d, f.a, id, &c), RC_OK);
    CHECK_INT(c.files_kb_id, kb);
    conv_release(&c);

    CHECK_INT(conv_delete(&f.d, f.a, id), RC_OK);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM kbs WHERE id = ?1", kb), 0);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM documents WHERE kb_id = ?1", kb), 0);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM chunks WHERE kb_id = ?1", kb), 0);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM messages WHERE conv_id = ?1", id), 0);
    CHECK_INT(
        count(&f.d, "SELECT count(*) FROM chunks_tri WHERE chunks_tri MATCH '文件的' AND ?1", 1),
        0);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM kbs WHERE id IN (?1 + 0)", kb_other), 1);
    CHECK_INT(count(&f.d, "SELECT count(*) FROM kbs WHERE id = ?1", kb_ent), 1);
    /* the FTS index is still consistent */
    CHECK_INT(
        db_exec(f.d.db, "INSERT INTO chunks_tri(chunks_tri, rank) VALUES ('integrity-check', 1)"),
        RC_OK);
    buf_release(&err);
    teardown(&f);
}
