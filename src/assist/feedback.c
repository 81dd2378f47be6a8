/* Feedback on answers, the review queue and the daily series. See
 * feedback.h. */
#include "assist/feedback.h"

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"
#include "kb/faq.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int feedback_record(struct db_conn *c, int64_t user_id, int64_t msg_id, int rating,
                    const char *comment, int64_t *id, struct buf *err)
{
    int rc = RC_DB, s;
    if (rating != 1 && rating != -1) {
        buf_adds(err, "评价须为 1（赞）或 -1（踩）/ rating must be 1 or -1");
        return RC_INVALID;
    }
    if (!comment)
        comment = "";
    size_t n = strlen(comment);
    if (n > FEEDBACK_COMMENT_MAX || !utf8_valid(comment, n)) {
        buf_addf(err,
                 "评论须为不超过 %d 字节的 UTF-8 文本 / the comment must be UTF-8 of at most %d "
                 "bytes",
                 FEEDBACK_COMMENT_MAX, FEEDBACK_COMMENT_MAX);
        return RC_INVALID;
    }
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT 1 FROM messages m"
                          " JOIN conversations v ON v.id = m.conv_id"
                          " WHERE m.id = ? AND m.role = 'assistant' AND v.user_id = ?");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int64(st, 2, user_id);
    s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s == SQLITE_DONE) {
        buf_adds(err, "回答不存在 / no such answer");
        rc = RC_NOT_FOUND;
        goto out;
    }
    if (s != SQLITE_ROW)
        goto out;
    st = db_stmt(c->cache, "INSERT INTO feedback(message_id, user_id, rating, comment, status,"
                           " faq_id, created_at) VALUES (?1, ?2, ?3, ?4, 'open', 0, ?5)"
                           " ON CONFLICT(message_id, user_id) DO UPDATE SET"
                           " rating = excluded.rating, comment = excluded.comment,"
                           " status = 'open', faq_id = 0, created_at = excluded.created_at"
                           " RETURNING id");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int(st, 3, rating);
    sqlite3_bind_text(st, 4, comment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_unix());
    s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(st, 0);
        s = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    rc = RC_OK;
out:
    return rc;
}

int feedback_remove(struct db_conn *c, int64_t user_id, int64_t msg_id)
{
    sqlite3_stmt *st =
        db_stmt(c->cache, "DELETE FROM feedback WHERE message_id = ? AND user_id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int64(st, 2, user_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    return sqlite3_changes(c->db) ? RC_OK : RC_NOT_FOUND;
}

/* ---- the queue ---- */

/* The JSON text of a KB filter, or NULL for none. */
static char *kb_filter_json(const int64_t *kb_ids, size_t nkb)
{
    if (!kb_ids)
        return NULL;
    struct buf b = BUF_INIT;
    buf_addc(&b, '[');
    for (size_t i = 0; i < nkb; i++)
        buf_addf(&b, "%s%lld", i ? "," : "", (long long)kb_ids[i]);
    buf_addc(&b, ']');
    return buf_detach(&b, NULL);
}

static void add_kb(json_t *arr, json_int_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_integer_value(v) == id) return;
    json_array_append_new(arr, json_integer(id));
}

/* The columns of an item, in this order. */
#define ITEM_SELECT                                                                                \
    "SELECT f.id, f.message_id, m.conv_id, f.rating, f.comment, f.status, f.faq_id,"               \
    " f.created_at, f.user_id, coalesce(u.username, ''), coalesce(u.display_name, ''),"            \
    " m.content, m.citations, m.mode, v.kbs,"                                                      \
    " coalesce((SELECT p.content FROM messages p WHERE p.conv_id = m.conv_id AND p.id < m.id"      \
    "   AND p.role = 'user' ORDER BY p.id DESC LIMIT 1), ''),"                                     \
    " coalesce((SELECT p.query FROM messages p WHERE p.conv_id = m.conv_id AND p.id < m.id"        \
    "   AND p.role = 'user' ORDER BY p.id DESC LIMIT 1), '')"                                      \
    " FROM feedback f JOIN messages m ON m.id = f.message_id"                                      \
    " JOIN conversations v ON v.id = m.conv_id LEFT JOIN users u ON u.id = f.user_id "

static json_t *item_json(sqlite3_stmt *st)
{
    const char *cites = (const char *)sqlite3_column_text(st, 12);
    const char *kbs = (const char *)sqlite3_column_text(st, 14);
    json_t *cj = cites ? json_loads(cites, 0, NULL) : NULL;
    if (!json_is_array(cj)) {
        json_decref(cj);
        cj = json_array();
    }
    json_t *ids = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(cj, i, e)
    {
        json_t *k = json_object_get(e, "kb_id");
        if (json_is_integer(k))
            add_kb(ids, json_integer_value(k));
    }
    json_t *kj = kbs ? json_loads(kbs, JSON_DECODE_ANY, NULL) : NULL;
    if (json_is_array(kj))
        json_array_foreach(kj, i, e) if (json_is_integer(e)) add_kb(ids, json_integer_value(e));
    json_decref(kj);
    int64_t faq_id = sqlite3_column_int64(st, 6);
    json_t *user = json_pack("{sI ss ss}", "id", (json_int_t)sqlite3_column_int64(st, 8),
                             "username", (const char *)sqlite3_column_text(st, 9), "display_name",
                             (const char *)sqlite3_column_text(st, 10));
    json_t *o =
        json_pack("{sI sI sI si ss ss so sI so ss ss ss so ss so}", "id",
                  (json_int_t)sqlite3_column_int64(st, 0), "message_id",
                  (json_int_t)sqlite3_column_int64(st, 1), "conversation_id",
                  (json_int_t)sqlite3_column_int64(st, 2), "rating", sqlite3_column_int(st, 3),
                  "comment", (const char *)sqlite3_column_text(st, 4), "status",
                  (const char *)sqlite3_column_text(st, 5), "faq_id",
                  faq_id ? json_integer(faq_id) : json_null(), "created_at",
                  (json_int_t)sqlite3_column_int64(st, 7), "user", user, "question",
                  (const char *)sqlite3_column_text(st, 15), "query",
                  (const char *)sqlite3_column_text(st, 16), "answer",
                  (const char *)sqlite3_column_text(st, 11), "citations", cj, "mode",
                  (const char *)sqlite3_column_text(st, 13), "kb_ids", ids);
    return o;
}

int feedback_list(struct db_conn *c, const struct feedback_list_opts *o, json_t **out)
{
    static const struct feedback_list_opts dflt = {0};
    int rc = RC_INVALID, s;
    char *filter = NULL;
    json_t *items = NULL;
    *out = NULL;
    if (!o)
        o = &dflt;
    const char *status = o->status ? o->status : "open";
    int rating = o->rating ? o->rating : -1;
    int64_t limit = o->limit ? o->limit : 50;
    if ((strcmp(status, "open") && strcmp(status, "resolved") && strcmp(status, "dismissed") &&
         strcmp(status, "all")) ||
        (rating != 1 && rating != -1 && rating != 2) || limit < 1 || limit > FEEDBACK_PAGE_MAX ||
        o->before_id < 0)
        goto out;
    rc = RC_DB;
    filter = kb_filter_json(o->kb_ids, o->nkb);
    sqlite3_stmt *st = db_stmt(
        c->cache, ITEM_SELECT
        "WHERE (?1 = 'all' OR f.status = ?1) AND (?2 = 2 OR f.rating = ?2)"
        " AND (?3 = 0 OR f.id < ?3)"
        " AND (?4 IS NULL"
        "  OR EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(m.citations) THEN m.citations"
        "    ELSE '[]' END) j WHERE j.type = 'object'"
        "    AND json_extract(j.value, '$.kb_id') IN (SELECT value FROM json_each(?4)))"
        "  OR EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(v.kbs) THEN v.kbs"
        "    ELSE '[]' END) k WHERE k.type = 'integer'"
        "    AND k.value IN (SELECT value FROM json_each(?4))))"
        " ORDER BY f.id DESC LIMIT ?5");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, rating);
    sqlite3_bind_int64(st, 3, o->before_id);
    if (filter)
        sqlite3_bind_text(st, 4, filter, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, limit + 1);
    items = json_array();
    int64_t next = 0, last = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if ((int64_t)json_array_size(items) == limit) {
            next = last;
            continue;
        }
        last = sqlite3_column_int64(st, 0);
        json_array_append_new(items, item_json(st));
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    *out = json_pack("{sO so}", "items", items, "next_before_id",
                     next ? json_integer(next) : json_null());
    rc = RC_OK;
out:
    json_decref(items);
    free(filter);
    return rc;
}

int feedback_get(struct db_conn *c, int64_t id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(c->cache, ITEM_SELECT "WHERE f.id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *out = item_json(st);
    sqlite3_reset(st);
    return s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

/* ---- resolving ---- */

/* The status of item id and its original question: the standalone query
 * of the user message before the answer, else what the user typed. */
static int item_state(struct db_conn *c, int64_t id, char **status, char **question)
{
    *status = *question = NULL;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT f.status, coalesce((SELECT CASE WHEN p.query != '' THEN p.query"
                          "   ELSE p.content END FROM messages p WHERE p.conv_id = m.conv_id"
                          "   AND p.id < m.id AND p.role = 'user' ORDER BY p.id DESC LIMIT 1), '')"
                          " FROM feedback f JOIN messages m ON m.id = f.message_id WHERE f.id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *status = db_col_str(st, 0);
        *question = db_col_str(st, 1);
    }
    sqlite3_reset(st);
    return s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

static int set_status(struct db_conn *c, int64_t id, const char *status, int64_t faq_id)
{
    sqlite3_stmt *st = db_stmt(c->cache, "UPDATE feedback SET status = ?, faq_id = ?"
                                         " WHERE id = ? AND status = 'open'");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, faq_id);
    sqlite3_bind_int64(st, 3, id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    return sqlite3_changes(c->db) ? RC_OK : RC_INVALID;
}

int feedback_resolve(struct db_conn *c, int64_t id, int64_t kb_id, const char *question,
                     const char *answer, int64_t reviewer_id, int64_t *faq_id, struct buf *err)
{
    struct db_tx tx;
    char *status = NULL, *orig = NULL, source[64];
    int64_t fid = 0;
    int rc = db_tx_begin(c->db, &tx);
    if (rc)
        return rc;
    rc = item_state(c, id, &status, &orig);
    if (rc == RC_NOT_FOUND)
        buf_adds(err, "反馈不存在 / no such feedback");
    if (rc)
        goto out;
    if (strcmp(status, "open") != 0) {
        buf_addf(err, "该反馈已处理（%s）/ this feedback is already %s", status, status);
        rc = RC_INVALID;
        goto out;
    }
    snprintf(source, sizeof source, "feedback:%lld", (long long)id);
    const char *sim[1] = {orig};
    struct faq_input in = {0};
    in.answer = answer;
    in.source = source;
    if (question && *question) {
        in.question = question;
        in.similar = *orig ? sim : NULL;
        in.nsimilar = *orig ? 1 : 0;
    } else if (*orig) {
        in.question = orig;
    } else {
        buf_adds(err,
                 "原问题为空，请给出标准问题 / the original question is empty: give a question");
        rc = RC_INVALID;
        goto out;
    }
    rc = faq_add(c, kb_id, &in, reviewer_id, &fid, err);
    if (!rc)
        rc = set_status(c, id, "resolved", fid);
out : {
    int rc2 = db_tx_end(c->db, &tx, rc == RC_OK);
    if (!rc)
        rc = rc2;
}
    if (!rc) {
        faq_changed(kb_id); /* now that it is committed */
        if (faq_id)
            *faq_id = fid;
    }
    free(status);
    free(orig);
    return rc;
}

int feedback_dismiss(struct db_conn *c, int64_t id, struct buf *err)
{
    int rc = set_status(c, id, "dismissed", 0);
    if (rc == RC_INVALID) {
        char *status = NULL, *q = NULL;
        rc = item_state(c, id, &status, &q);
        if (rc == RC_NOT_FOUND) {
            buf_adds(err, "反馈不存在 / no such feedback");
        } else if (!rc) {
            buf_addf(err, "该反馈已处理（%s）/ this feedback is already %s", status, status);
            rc = RC_INVALID;
        }
        free(status);
        free(q);
    }
    return rc;
}

/* ---- the daily series ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

static json_t *rate_json(int64_t up, int64_t down)
{
    return up + down ? json_real((double)up / (double)(up + down)) : json_null();
}

int feedback_daily(struct db_conn *c, int64_t since, int64_t until, int tz_offset_s, json_t **out)
{
    int rc = RC_INVALID, s;
    int64_t *up = NULL, *down = NULL;
    *out = NULL;
    if (until < since || tz_offset_s < -14 * 3600 || tz_offset_s > 14 * 3600)
        goto out;
    int64_t d0 = floor_div(since + tz_offset_s, 86400), d1 = floor_div(until + tz_offset_s, 86400);
    int64_t n = d1 - d0 + 1;
    if (n > FEEDBACK_DAYS_MAX)
        goto out;
    rc = RC_DB;
    up = xcalloc((size_t)n, sizeof *up);
    down = xcalloc((size_t)n, sizeof *down);
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT (created_at + ?1) / 86400 - ?2,"
                                         " sum(rating > 0), sum(rating < 0) FROM feedback"
                                         " WHERE created_at >= ?3 AND created_at < ?4"
                                         " GROUP BY 1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, tz_offset_s);
    sqlite3_bind_int64(st, 2, d0);
    sqlite3_bind_int64(st, 3, d0 * 86400 - tz_offset_s);
    sqlite3_bind_int64(st, 4, (d1 + 1) * 86400 - tz_offset_s);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t d = sqlite3_column_int64(st, 0);
        if (d < 0 || d >= n)
            continue; /* before 1970 in local time: SQL division truncates */
        up[d] += sqlite3_column_int64(st, 1);
        down[d] += sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    json_t *days = json_array();
    int64_t tu = 0, td = 0;
    for (int64_t d = 0; d < n; d++) {
        time_t t = (time_t)((d0 + d) * 86400);
        struct tm tm;
        char day[32] = "";
        if (gmtime_r(&t, &tm))
            strftime(day, sizeof day, "%Y-%m-%d", &tm);
        json_array_append_new(days, json_pack("{ss sI sI so}", "day", day, "up", (json_int_t)up[d],
                                              "down", (json_int_t)down[d], "up_rate",
                                              rate_json(up[d], down[d])));
        tu += up[d];
        td += down[d];
    }
    *out = json_pack("{so sI sI so}", "days", days, "up", (json_int_t)tu, "down", (json_int_t)td,
                     "up_rate", rate_json(tu, td));
    rc = RC_OK;
out:
    free(up);
    free(down);
    return rc;
}
