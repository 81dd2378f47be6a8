/* Conversations and messages: every statement carries the owner's user id
 * (conversations.user_id = ?), so another user's conversation is simply not
 * found. Changes touching several rows run in one unit of work
 * (db_tx_begin/db_tx_end) so they nest inside a caller's transaction. */
#include "assist/conv.h"

#include "common/alloc.h"
#include "common/jsonw.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small helpers ---- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* Steps a write statement to its end and resets it: RC_OK, RC_NOT_FOUND (a
 * foreign key: what it points at does not exist) or RC_DB. */
static int step_write(sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(sqlite3_db_handle(st));
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return RC_OK;
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return RC_NOT_FOUND;
    return RC_DB;
}

static void set_err(struct buf *err, const char *msg)
{
    if (err) {
        buf_reset(err);
        buf_adds(err, msg);
    }
}

/* True when s is valid UTF-8 without control characters other than the
 * line breaks and tabs allowed when `lines` is set. */
static int text_ok(const char *s, size_t n, int lines)
{
    if (!utf8_valid(s, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x7f || (c < 0x20 && !(lines && (c == '\n' || c == '\r' || c == '\t'))))
            return 0;
    }
    return 1;
}

static int is_space_at(const char *s, size_t n, size_t *len)
{
    if (n >= 1 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
        *len = 1;
        return 1;
    }
    if (n >= 3 && memcmp(s, "\xe3\x80\x80", 3) == 0) { /* U+3000 */
        *len = 3;
        return 1;
    }
    return 0;
}

/* A copy of s with runs of spaces and line breaks collapsed to one ASCII
 * space and the ends trimmed. */
static char *collapse_spaces(const char *s)
{
    size_t n = strlen(s), k;
    char *o = xmalloc(n + 1);
    size_t j = 0;
    int pending = 0;
    for (size_t i = 0; i < n;) {
        if (is_space_at(s + i, n - i, &k)) {
            pending = j > 0;
            i += k;
            continue;
        }
        if (pending)
            o[j++] = ' ';
        pending = 0;
        o[j++] = s[i++];
    }
    o[j] = '\0';
    return o;
}

static int now_bump(struct db_conn *d, int64_t user_id, int64_t conv_id)
{
    sqlite3_stmt *st = db_stmt(
        d->cache, "UPDATE conversations SET updated_at = ?3 WHERE id = ?1 AND user_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, now_unix());
    int rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    return rc;
}

/* RC_OK when conv_id is a conversation of user_id. */
static int owns(struct db_conn *d, int64_t user_id, int64_t conv_id)
{
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT 1 FROM conversations WHERE id = ?1 AND user_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, user_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

/* RC_BUSY when an answer is streaming in the conversation. */
static int none_streaming(struct db_conn *d, int64_t conv_id)
{
    sqlite3_stmt *st = db_stmt(
        d->cache, "SELECT 1 FROM messages WHERE conv_id = ?1 AND status = 'streaming' LIMIT 1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, conv_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_BUSY : r == SQLITE_DONE ? RC_OK : RC_DB;
}

static int64_t clamp_limit(int64_t limit)
{
    return limit == 0 ? 50 : limit;
}

/* ---- KB selection ---- */

int conv_kbs_normalise(const char *json, char **norm, struct buf *err)
{
    int rc = RC_INVALID;
    json_t *j = NULL, *arr = NULL;
    *norm = NULL;
    if (!json) {
        set_err(err, "知识库选择缺失 / KB selection missing");
        goto out;
    }
    if (strcmp(json, "all") == 0) { /* a bare word is forgiven */
        *norm = xstrdup("\"all\"");
        rc = RC_OK;
        goto out;
    }
    j = json_loads(json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (j && json_is_string(j) && strcmp(json_string_value(j), "all") == 0) {
        *norm = xstrdup("\"all\"");
        rc = RC_OK;
        goto out;
    }
    if (!j || !json_is_array(j)) {
        set_err(err, "知识库选择应为 \"all\" 或知识库编号数组 / kbs must be \"all\" or an array "
                     "of KB ids");
        goto out;
    }
    if (json_array_size(j) > CONV_KBS_MAX) {
        set_err(err, "选择的知识库过多 / too many KBs selected");
        goto out;
    }
    arr = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            set_err(err, "知识库编号应为正整数 / KB ids must be positive integers");
            goto out;
        }
        int dup = 0;
        for (size_t k = 0; k < json_array_size(arr) && !dup; k++)
            dup = json_integer_value(json_array_get(arr, k)) == json_integer_value(v);
        if (!dup)
            json_array_append_new(arr, json_integer(json_integer_value(v)));
    }
    *norm = json_dumps(arr, JSON_COMPACT);
    if (!*norm) {
        rc = RC_INTERNAL;
        goto out;
    }
    rc = RC_OK;
out:
    json_decref(j);
    json_decref(arr);
    return rc;
}

int conv_kbs_parse(const char *json, int *all, int64_t **ids, size_t *n)
{
    int rc = RC_INVALID;
    char *norm = NULL;
    json_t *j = NULL;
    *all = 0;
    *ids = NULL;
    *n = 0;
    if (conv_kbs_normalise(json, &norm, NULL) != RC_OK)
        goto out;
    if (strcmp(norm, "\"all\"") == 0) {
        *all = 1;
        rc = RC_OK;
        goto out;
    }
    j = json_loads(norm, 0, NULL);
    if (!j)
        goto out;
    size_t cnt = json_array_size(j);
    if (cnt) {
        *ids = xcalloc(cnt, sizeof **ids);
        for (size_t i = 0; i < cnt; i++)
            (*ids)[i] = json_integer_value(json_array_get(j, i));
    }
    *n = cnt;
    rc = RC_OK;
out:
    free(norm);
    json_decref(j);
    return rc;
}

/* ---- conversations ---- */

void conv_release(struct conv *c)
{
    free(c->title);
    free(c->kbs);
    free(c->assistant);
    memset(c, 0, sizeof *c);
}

static int title_check(const char *title, char **clean, struct buf *err)
{
    *clean = NULL;
    if (!title || !text_ok(title, strlen(title), 0)) {
        set_err(err, "标题无效（不能含换行或控制字符） / invalid title (no line breaks or "
                     "control characters)");
        return RC_INVALID;
    }
    char *c = collapse_spaces(title);
    size_t chars = utf8_count(c, strlen(c));
    if (chars == 0 || chars > CONV_TITLE_MAX) {
        free(c);
        set_err(err, "标题应为 1–100 个字符 / title must be 1–100 characters");
        return RC_INVALID;
    }
    *clean = c;
    return RC_OK;
}

static int assistant_check(const char *a, struct buf *err)
{
    if (strlen(a) > CONV_ASSISTANT_MAX || !text_ok(a, strlen(a), 0)) {
        set_err(err, "助手名称无效 / invalid assistant name");
        return RC_INVALID;
    }
    return RC_OK;
}

int conv_create(struct db_conn *d, int64_t user_id, const struct conv_new *p, int64_t *id,
                struct buf *err)
{
    int rc;
    char *title = NULL, *kbs = NULL;
    const char *assistant = p && p->assistant ? p->assistant : "";
    *id = 0;
    if (p && p->title && p->title[0]) {
        rc = title_check(p->title, &title, err);
        if (rc)
            goto out;
    }
    rc = conv_kbs_normalise(p && p->kbs ? p->kbs : "all", &kbs, err);
    if (rc)
        goto out;
    rc = assistant_check(assistant, err);
    if (rc)
        goto out;
    sqlite3_stmt *st =
        db_stmt(d->cache, "INSERT INTO conversations(user_id, title, kbs, web, assistant,"
                          " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, title ? title : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kbs, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, p && p->web ? 1 : 0);
    sqlite3_bind_text(st, 5, assistant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now_unix());
    rc = step_write(st);
    if (rc == RC_NOT_FOUND)
        set_err(err, "用户不存在 / no such user");
    if (rc == RC_OK)
        *id = sqlite3_last_insert_rowid(d->db);
out:
    free(title);
    free(kbs);
    return rc;
}

#define CONV_COLS                                                                                  \
    "c.id, c.user_id, c.title, c.kbs, c.web, coalesce(c.files_kb_id, 0), c.assistant,"             \
    " c.created_at, c.updated_at,"                                                                 \
    " (SELECT max(m.created_at) FROM messages m WHERE m.conv_id = c.id),"                          \
    " (SELECT count(*) FROM messages m WHERE m.conv_id = c.id)"

static void conv_from_row(sqlite3_stmt *st, struct conv *c)
{
    c->id = sqlite3_column_int64(st, 0);
    c->user_id = sqlite3_column_int64(st, 1);
    c->title = xstrdup(col_text(st, 2));
    c->kbs = xstrdup(col_text(st, 3));
    c->web = sqlite3_column_int(st, 4) != 0;
    c->files_kb_id = sqlite3_column_int64(st, 5);
    c->assistant = xstrdup(col_text(st, 6));
    c->created_at = sqlite3_column_int64(st, 7);
    c->updated_at = sqlite3_column_int64(st, 8);
    c->last_message_at = sqlite3_column_int64(st, 9);
    c->nmessages = sqlite3_column_int64(st, 10);
}

int conv_get(struct db_conn *d, int64_t user_id, int64_t id, struct conv *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " CONV_COLS " FROM conversations c"
                                         " WHERE c.id = ?1 AND c.user_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    int r = sqlite3_step(st), rc = RC_DB;
    if (r == SQLITE_ROW) {
        conv_from_row(st, out);
        rc = RC_OK;
    } else if (r == SQLITE_DONE) {
        rc = RC_NOT_FOUND;
    }
    sqlite3_reset(st);
    return rc;
}

json_t *conv_json(const struct conv *c)
{
    json_t *kbs = json_loads(c->kbs ? c->kbs : "", JSON_DECODE_ANY, NULL);
    if (!kbs)
        kbs = json_string("all");
    json_t *o =
        json_pack("{sI ss so sb ss sI sI sI}", "id", (json_int_t)c->id, "title",
                  c->title ? c->title : "", "kbs", kbs, "web", c->web, "assistant",
                  c->assistant ? c->assistant : "", "created_at", (json_int_t)c->created_at,
                  "updated_at", (json_int_t)c->updated_at, "messages", (json_int_t)c->nmessages);
    if (!o)
        return NULL;
    json_object_set_new(o, "files_kb_id",
                        c->files_kb_id ? json_integer(c->files_kb_id) : json_null());
    json_object_set_new(o, "last_message_at",
                        c->last_message_at ? json_integer(c->last_message_at) : json_null());
    return o;
}

int conv_list(struct db_conn *d, int64_t user_id, int64_t offset, int64_t limit, json_t **out)
{
    int rc = RC_INVALID;
    json_t *arr = NULL;
    int64_t total = 0;
    *out = NULL;
    limit = clamp_limit(limit);
    if (limit < 1 || limit > CONV_PAGE_MAX || offset < 0)
        goto out;
    rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT count(*) FROM conversations WHERE user_id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    st = db_stmt(d->cache, "SELECT " CONV_COLS " FROM conversations c WHERE c.user_id = ?1"
                           " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2 OFFSET ?3");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, limit);
    sqlite3_bind_int64(st, 3, offset);
    arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct conv c;
        conv_from_row(st, &c);
        json_array_append_new(arr, conv_json(&c));
        conv_release(&c);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    *out = json_pack("{so sI sI sI}", "conversations", arr, "total", (json_int_t)total, "offset",
                     (json_int_t)offset, "limit", (json_int_t)limit);
    arr = NULL;
    rc = *out ? RC_OK : RC_INTERNAL;
out:
    json_decref(arr);
    return rc;
}

int conv_rename(struct db_conn *d, int64_t user_id, int64_t id, const char *title, struct buf *err)
{
    char *clean = NULL;
    int rc = title_check(title, &clean, err);
    if (rc)
        goto out;
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE conversations SET title = ?3, updated_at = ?4"
                                         " WHERE id = ?1 AND user_id = ?2");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_text(st, 3, clean, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_unix());
    rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
out:
    free(clean);
    return rc;
}

int conv_update(struct db_conn *d, int64_t user_id, int64_t id, const char *kbs, int web,
                const char *assistant, struct buf *err)
{
    char *norm = NULL;
    int rc = RC_OK;
    if (kbs) {
        rc = conv_kbs_normalise(kbs, &norm, err);
        if (rc)
            goto out;
    }
    if (web < -1 || web > 1) {
        set_err(err, "web 应为 0 或 1 / web must be 0 or 1");
        rc = RC_INVALID;
        goto out;
    }
    if (assistant) {
        rc = assistant_check(assistant, err);
        if (rc)
            goto out;
    }
    /* NULL parameters keep the column: one statement, no read-modify-write. */
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE conversations SET kbs = coalesce(?3, kbs),"
                                         " web = coalesce(?4, web),"
                                         " assistant = coalesce(?5, assistant), updated_at = ?6"
                                         " WHERE id = ?1 AND user_id = ?2");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    if (norm)
        sqlite3_bind_text(st, 3, norm, -1, SQLITE_STATIC);
    if (web >= 0)
        sqlite3_bind_int(st, 4, web);
    if (assistant)
        sqlite3_bind_text(st, 5, assistant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now_unix());
    rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
out:
    free(norm);
    return rc;
}

/* RC_OK when kb_id is a conversation KB owned by user_id. */
static int conv_kb_of(struct db_conn *d, int64_t user_id, int64_t kb_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT 1 FROM kbs WHERE id = ?1 AND owner_id = ?2"
                                         " AND kind = 'conversation'");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_int64(st, 2, user_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int conv_set_files_kb(struct db_conn *d, int64_t user_id, int64_t id, int64_t kb_id,
                      struct buf *err)
{
    int rc = RC_OK;
    if (kb_id) {
        rc = conv_kb_of(d, user_id, kb_id);
        if (rc == RC_NOT_FOUND) {
            set_err(err, "不是该用户的会话知识库 / not a conversation KB of this user");
            rc = RC_INVALID;
        }
        if (rc)
            return rc;
    }
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE conversations SET files_kb_id = ?3"
                                         " WHERE id = ?1 AND user_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    if (kb_id)
        sqlite3_bind_int64(st, 3, kb_id);
    rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    return rc;
}

/* The FTS5 indexes over chunks are external content without triggers
 * (kb/search.c): a KB's chunks must leave them before the rows go, or the
 * indexes would keep entries for rowids that may be reused. */
static int drop_kb_fts(struct db_conn *d, int64_t kb_id)
{
    static const char *const del_sql[] = {
        "INSERT INTO chunks_fts(chunks_fts, rowid, title, heading, text)"
        " SELECT 'delete', id, title, heading, text FROM chunks WHERE kb_id = ?1",
        "INSERT INTO chunks_tri(chunks_tri, rowid, title, heading, text)"
        " SELECT 'delete', id, title, heading, text FROM chunks WHERE kb_id = ?1",
    };
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                         " AND name IN ('chunks_fts', 'chunks_tri')");
    if (!st)
        return RC_DB;
    unsigned have = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        have |= strcmp(col_text(st, 0), "chunks_fts") == 0 ? 1u : 2u;
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    for (unsigned i = 0; i < 2; i++) {
        if (!(have & (1u << i)))
            continue;
        st = db_stmt(d->cache, del_sql[i]);
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, kb_id);
        if (step_write(st) != RC_OK)
            return RC_DB;
    }
    return RC_OK;
}

int conv_delete(struct db_conn *d, int64_t user_id, int64_t id)
{
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    int64_t kb_id = 0;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT coalesce(files_kb_id, 0) FROM conversations"
                                         " WHERE id = ?1 AND user_id = ?2");
    rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        kb_id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (r != SQLITE_ROW) {
        rc = r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
        goto out;
    }
    /* Only a conversation KB of the owner: a wrong link must never take an
     * enterprise or personal KB with it. */
    if (kb_id) {
        rc = conv_kb_of(d, user_id, kb_id);
        if (rc == RC_OK) {
            rc = drop_kb_fts(d, kb_id);
            if (rc)
                goto out;
            st = db_stmt(d->cache, "DELETE FROM kbs WHERE id = ?1 AND kind = 'conversation'");
            if (!st) {
                rc = RC_DB;
                goto out;
            }
            sqlite3_bind_int64(st, 1, kb_id);
            rc = step_write(st);
        } else if (rc == RC_NOT_FOUND) {
            rc = RC_OK;
        }
        if (rc)
            goto out;
    }
    st = db_stmt(d->cache, "DELETE FROM conversations WHERE id = ?1 AND user_id = ?2");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    rc = step_write(st);
out:;
    int rc2 = db_tx_end(d->db, &tx, rc == RC_OK);
    return rc ? rc : rc2;
}

char *conv_title_from_question(const char *q)
{
    char *c = collapse_spaces(q ? q : "");
    size_t n = strlen(c);
    size_t cut = utf8_prefix(c, n, CONV_AUTO_TITLE);
    if (cut < n) {
        char *t = xmalloc(cut + 4);
        memcpy(t, c, cut);
        memcpy(t + cut, "…", 4); /* 3 bytes + NUL */
        free(c);
        return t;
    }
    return c;
}

/* ---- messages ---- */

void conv_msg_release(struct conv_msg *m)
{
    free(m->role);
    free(m->content);
    free(m->query);
    free(m->citations);
    free(m->thinking);
    free(m->mode);
    free(m->model);
    free(m->status);
    memset(m, 0, sizeof *m);
}

#define MSG_COLS                                                                                   \
    "m.id, m.conv_id, m.role, m.content, m.query, m.citations, m.thinking, m.mode, m.model,"       \
    " m.latency_ms, m.prompt_tokens, m.completion_tokens, m.status, m.created_at"

static void msg_from_row(sqlite3_stmt *st, struct conv_msg *m)
{
    m->id = sqlite3_column_int64(st, 0);
    m->conv_id = sqlite3_column_int64(st, 1);
    m->role = xstrdup(col_text(st, 2));
    m->content = xstrdup(col_text(st, 3));
    m->query = xstrdup(col_text(st, 4));
    m->citations = xstrdup(col_text(st, 5));
    m->thinking = xstrdup(col_text(st, 6));
    m->mode = xstrdup(col_text(st, 7));
    m->model = xstrdup(col_text(st, 8));
    m->latency_ms = sqlite3_column_double(st, 9);
    m->prompt_tokens = sqlite3_column_int64(st, 10);
    m->completion_tokens = sqlite3_column_int64(st, 11);
    m->status = xstrdup(col_text(st, 12));
    m->created_at = sqlite3_column_int64(st, 13);
}

static int content_check(const char *s, int allow_empty, struct buf *err)
{
    size_t n = s ? strlen(s) : 0;
    if (!s || !text_ok(s, n, 1)) {
        set_err(err, "消息内容不是有效的 UTF-8 文本 / message is not valid UTF-8 text");
        return RC_INVALID;
    }
    if (n > CONV_TEXT_MAX) {
        set_err(err, "消息过长 / message too long");
        return RC_TOO_BIG;
    }
    if (!allow_empty) {
        char *c = collapse_spaces(s);
        int empty = c[0] == '\0';
        free(c);
        if (empty) {
            set_err(err, "消息为空 / empty message");
            return RC_INVALID;
        }
    }
    return RC_OK;
}

int conv_msg_add_user(struct db_conn *d, int64_t user_id, int64_t conv_id, const char *content,
                      const char *query, int64_t *msg_id, struct buf *err)
{
    char *title = NULL;
    *msg_id = 0;
    int rc = content_check(content, 0, err);
    if (rc)
        return rc;
    if (query && (rc = content_check(query, 1, err)) != RC_OK)
        return rc;
    struct db_tx tx;
    rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    rc = owns(d, user_id, conv_id);
    if (rc)
        goto out;
    rc = none_streaming(d, conv_id);
    if (rc) {
        if (rc == RC_BUSY)
            set_err(err, "上一个回答仍在生成中 / an answer is still being generated");
        goto out;
    }
    int64_t now = now_unix();
    sqlite3_stmt *st =
        db_stmt(d->cache, "INSERT INTO messages(conv_id, role, content, query, status, created_at)"
                          " VALUES (?1, 'user', ?2, ?3, 'done', ?4)");
    rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_text(st, 2, content, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, query ? query : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    rc = step_write(st);
    if (rc)
        goto out;
    *msg_id = sqlite3_last_insert_rowid(d->db);
    title = conv_title_from_question(content);
    st = db_stmt(d->cache, "UPDATE conversations SET updated_at = ?3,"
                           " title = CASE WHEN title = '' THEN ?4 ELSE title END"
                           " WHERE id = ?1 AND user_id = ?2");
    rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_text(st, 4, title, -1, SQLITE_STATIC);
    rc = step_write(st);
out:;
    int rc2 = db_tx_end(d->db, &tx, rc == RC_OK);
    if (rc == RC_OK)
        rc = rc2;
    if (rc)
        *msg_id = 0;
    free(title);
    return rc;
}

int conv_msg_set_query(struct db_conn *d, int64_t user_id, int64_t msg_id, const char *query)
{
    if (content_check(query, 1, NULL) != RC_OK)
        return RC_INVALID;
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE messages SET query = ?3 WHERE id = ?1"
                                         " AND role = 'user' AND EXISTS (SELECT 1 FROM"
                                         " conversations c WHERE c.id = messages.conv_id"
                                         " AND c.user_id = ?2)");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_text(st, 3, query, -1, SQLITE_STATIC);
    int rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    return rc;
}

int conv_msg_start(struct db_conn *d, int64_t user_id, int64_t conv_id, const char *model,
                   int64_t *msg_id)
{
    *msg_id = 0;
    if (model && !text_ok(model, strlen(model), 0))
        return RC_INVALID;
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    rc = now_bump(d, user_id, conv_id);
    if (rc)
        goto out;
    sqlite3_stmt *st =
        db_stmt(d->cache, "INSERT INTO messages(conv_id, role, content, model, status, created_at)"
                          " VALUES (?1, 'assistant', '', ?2, 'streaming', ?3)");
    rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_text(st, 2, model ? model : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_unix());
    rc = step_write(st);
    if (rc == RC_OK)
        *msg_id = sqlite3_last_insert_rowid(d->db);
out:;
    int rc2 = db_tx_end(d->db, &tx, rc == RC_OK);
    if (rc == RC_OK)
        rc = rc2;
    if (rc)
        *msg_id = 0;
    return rc;
}

int conv_msg_finish(struct db_conn *d, int64_t user_id, int64_t msg_id, const struct conv_finish *f,
                    struct buf *err)
{
    int rc = RC_INVALID;
    char *cites = NULL;
    const char *status = f ? f->status : NULL;
    if (!status ||
        (strcmp(status, "done") && strcmp(status, "stopped") && strcmp(status, "failed"))) {
        set_err(err, "状态应为 done、stopped 或 failed / status must be done, stopped or failed");
        goto out;
    }
    if ((rc = content_check(f->content ? f->content : "", 1, err)) != RC_OK ||
        (rc = content_check(f->thinking ? f->thinking : "", 1, err)) != RC_OK)
        goto out;
    rc = RC_INVALID;
    if ((f->mode && !text_ok(f->mode, strlen(f->mode), 0)) ||
        (f->model && !text_ok(f->model, strlen(f->model), 0))) {
        set_err(err, "模式或模型名无效 / invalid mode or model");
        goto out;
    }
    if (f->citations && !json_is_array(f->citations)) {
        set_err(err, "引用应为 JSON 数组 / citations must be a JSON array");
        goto out;
    }
    /* dumped once, from the caller's tree (no text round trip); jsonw gives
     * json_dumps' bytes at a fraction of its cost on long passage texts */
    cites = f->citations ? jsonw_str(f->citations) : xstrdup("[]");
    if (!cites) {
        rc = RC_INTERNAL;
        goto out;
    }
    /* The status test is in the WHERE: of a stop and a done that race, the
     * first one to commit wins and the second changes nothing. */
    sqlite3_stmt *st = db_stmt(
        d->cache, "UPDATE messages SET status = ?3, content = ?4, citations = ?5, thinking = ?6,"
                  " mode = ?7, model = coalesce(?8, model), latency_ms = ?9, prompt_tokens = ?10,"
                  " completion_tokens = ?11"
                  " WHERE id = ?1 AND role = 'assistant' AND status = 'streaming'"
                  /* the owner by the conversation's key: `conv_id IN (SELECT id …
                   * WHERE user_id = ?2)` listed all of the user's conversations
                   * on every answer */
                  " AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = messages.conv_id"
                  " AND c.user_id = ?2)");
    rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, f->content ? f->content : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, cites, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, f->thinking ? f->thinking : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, f->mode ? f->mode : "", -1, SQLITE_STATIC);
    if (f->model)
        sqlite3_bind_text(st, 8, f->model, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 9, f->latency_ms);
    sqlite3_bind_int64(st, 10, f->prompt_tokens);
    sqlite3_bind_int64(st, 11, f->completion_tokens);
    rc = step_write(st);
    if (rc || sqlite3_changes(d->db) > 0)
        goto out;
    /* Nothing changed: not found, or already finished. */
    struct conv_msg m;
    rc = conv_msg_get(d, user_id, msg_id, &m);
    if (rc == RC_OK) {
        rc = strcmp(m.role, "assistant") ? RC_NOT_FOUND : RC_BUSY;
        if (rc == RC_BUSY)
            set_err(err, "该回答已结束 / the answer has already ended");
        conv_msg_release(&m);
    }
out:
    free(cites);
    return rc;
}

int conv_msg_fail_streaming(struct db_conn *d, int64_t *n)
{
    if (n)
        *n = 0;
    sqlite3_stmt *st =
        db_stmt(d->cache, "UPDATE messages SET status = 'failed' WHERE status = 'streaming'");
    if (!st)
        return RC_DB;
    int rc = step_write(st);
    if (rc == RC_OK && n)
        *n = sqlite3_changes(d->db);
    return rc;
}

int conv_msg_get(struct db_conn *d, int64_t user_id, int64_t msg_id, struct conv_msg *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " MSG_COLS " FROM messages m JOIN conversations c"
                                         " ON c.id = m.conv_id WHERE m.id = ?1 AND c.user_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int64(st, 2, user_id);
    int r = sqlite3_step(st), rc = RC_DB;
    if (r == SQLITE_ROW) {
        msg_from_row(st, out);
        rc = RC_OK;
    } else if (r == SQLITE_DONE) {
        rc = RC_NOT_FOUND;
    }
    sqlite3_reset(st);
    return rc;
}

json_t *conv_msg_json(const struct conv_msg *m)
{
    json_t *cites = json_loads(m->citations ? m->citations : "[]", 0, NULL);
    if (!cites || !json_is_array(cites)) {
        json_decref(cites);
        cites = json_array();
    }
    return json_pack("{sI sI ss ss ss so ss ss ss sf sI sI ss sI}", "id", (json_int_t)m->id,
                     "conversation_id", (json_int_t)m->conv_id, "role", m->role ? m->role : "",
                     "content", m->content ? m->content : "", "query", m->query ? m->query : "",
                     "citations", cites, "thinking", m->thinking ? m->thinking : "", "mode",
                     m->mode ? m->mode : "", "model", m->model ? m->model : "", "latency_ms",
                     m->latency_ms, "prompt_tokens", (json_int_t)m->prompt_tokens,
                     "completion_tokens", (json_int_t)m->completion_tokens, "status",
                     m->status ? m->status : "", "created_at", (json_int_t)m->created_at);
}

int conv_messages(struct db_conn *d, int64_t user_id, int64_t conv_id, int64_t offset,
                  int64_t limit, json_t **out)
{
    int rc = RC_INVALID;
    json_t *arr = NULL;
    int64_t total = 0;
    *out = NULL;
    limit = clamp_limit(limit);
    if (limit < 1 || limit > CONV_PAGE_MAX || offset < 0)
        goto out;
    rc = owns(d, user_id, conv_id);
    if (rc)
        goto out;
    rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT count(*) FROM messages WHERE conv_id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, conv_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    st = db_stmt(d->cache, "SELECT " MSG_COLS " FROM messages m JOIN conversations c"
                           " ON c.id = m.conv_id WHERE m.conv_id = ?1 AND c.user_id = ?2"
                           " ORDER BY m.id LIMIT ?3 OFFSET ?4");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct conv_msg m;
        msg_from_row(st, &m);
        json_array_append_new(arr, conv_msg_json(&m));
        conv_msg_release(&m);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    *out = json_pack("{so sI sI sI}", "messages", arr, "total", (json_int_t)total, "offset",
                     (json_int_t)offset, "limit", (json_int_t)limit);
    arr = NULL;
    rc = *out ? RC_OK : RC_INTERNAL;
out:
    json_decref(arr);
    return rc;
}

/* ---- history and regenerate ---- */

void conv_history_release(struct conv_history *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->turns[i].question);
        free(h->turns[i].query);
        free(h->turns[i].answer);
    }
    free(h->turns);
    memset(h, 0, sizeof *h);
}

int conv_history(struct db_conn *d, int64_t user_id, int64_t conv_id, size_t max_turns,
                 int64_t before_msg_id, struct conv_history *out)
{
    memset(out, 0, sizeof *out);
    if (max_turns == 0)
        return owns(d, user_id, conv_id);
    if (max_turns > 100)
        max_turns = 100;
    /* The last max_turns user messages (newest first), each with the last
     * finished answer before the next user message. */
    sqlite3_stmt *st = db_stmt(
        d->cache, "SELECT u.id, u.content, u.query,"
                  " (SELECT a.content FROM messages a WHERE a.conv_id = u.conv_id AND a.id > u.id"
                  "   AND a.role = 'assistant' AND a.status IN ('done', 'stopped') AND a.id < ?3"
                  "   AND NOT EXISTS (SELECT 1 FROM messages n WHERE n.conv_id = u.conv_id"
                  "     AND n.role = 'user' AND n.id > u.id AND n.id < a.id)"
                  "   ORDER BY a.id DESC LIMIT 1)"
                  " FROM messages u JOIN conversations c ON c.id = u.conv_id"
                  " WHERE u.conv_id = ?1 AND c.user_id = ?2 AND u.role = 'user' AND u.id < ?3"
                  " ORDER BY u.id DESC LIMIT ?4");
    if (!st)
        return RC_DB;
    int rc = owns(d, user_id, conv_id);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, before_msg_id > 0 ? before_msg_id : INT64_MAX);
    sqlite3_bind_int64(st, 4, (int64_t)max_turns);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        out->turns = xgrow(out->turns, &cap, out->n + 1, sizeof *out->turns);
        struct conv_turn *t = &out->turns[out->n++];
        t->user_msg_id = sqlite3_column_int64(st, 0);
        t->question = xstrdup(col_text(st, 1));
        t->query = xstrdup(col_text(st, 2)[0] ? col_text(st, 2) : col_text(st, 1));
        t->answer = xstrdup(col_text(st, 3));
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        conv_history_release(out);
        return RC_DB;
    }
    for (size_t i = 0; i < out->n / 2; i++) { /* oldest first */
        struct conv_turn tmp = out->turns[i];
        out->turns[i] = out->turns[out->n - 1 - i];
        out->turns[out->n - 1 - i] = tmp;
    }
    return RC_OK;
}

int conv_regenerate(struct db_conn *d, int64_t user_id, int64_t conv_id, int64_t *user_msg_id,
                    char **question, char **query)
{
    *user_msg_id = 0;
    if (question)
        *question = NULL;
    if (query)
        *query = NULL;
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    char *qs = NULL, *qq = NULL;
    int64_t uid = 0;
    rc = owns(d, user_id, conv_id);
    if (rc)
        goto out;
    rc = none_streaming(d, conv_id);
    if (rc)
        goto out;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, content, query FROM messages"
                                         " WHERE conv_id = ?1 AND role = 'user'"
                                         " ORDER BY id DESC LIMIT 1");
    rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, conv_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        uid = sqlite3_column_int64(st, 0);
        qs = xstrdup(col_text(st, 1));
        qq = xstrdup(col_text(st, 2));
    }
    sqlite3_reset(st);
    if (r != SQLITE_ROW) {
        rc = r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
        goto out;
    }
    st = db_stmt(d->cache, "DELETE FROM messages WHERE conv_id = ?1 AND id > ?2"
                           " AND role = 'assistant'");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, uid);
    rc = step_write(st);
    if (rc == RC_OK)
        rc = now_bump(d, user_id, conv_id);
out:;
    int rc2 = db_tx_end(d->db, &tx, rc == RC_OK);
    if (rc == RC_OK)
        rc = rc2;
    if (rc == RC_OK) {
        *user_msg_id = uid;
        if (question) {
            *question = qs;
            qs = NULL;
        }
        if (query) {
            *query = qq;
            qq = NULL;
        }
    }
    free(qs);
    free(qq);
    return rc;
}

/* ---- export ---- */

static void fmt_local(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M", &tm))
        snprintf(out, 32, "%lld", (long long)t);
}

/* Appends the footnotes of a citations array: "[n] cite" for KB sources,
 * "[n] [title](url)" for web results. */
static int add_footnotes(struct buf *out, const char *citations)
{
    int rc = RC_OK;
    json_t *arr = json_loads(citations ? citations : "[]", 0, NULL);
    if (!arr || !json_is_array(arr) || json_array_size(arr) == 0)
        goto out;
    rc = buf_adds(out, "\n");
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        if (rc)
            break;
        json_int_t n = json_integer_value(json_object_get(c, "n"));
        if (n <= 0)
            n = (json_int_t)i + 1;
        const char *cite = json_string_value(json_object_get(c, "cite"));
        const char *title = json_string_value(json_object_get(c, "title"));
        const char *url = json_string_value(json_object_get(c, "url"));
        const char *doc = json_string_value(json_object_get(c, "document"));
        if (url && *url)
            rc = buf_addf(out, "[%lld] [%s](%s)\n", (long long)n, title && *title ? title : url,
                          url);
        else
            rc = buf_addf(out, "[%lld] %s\n", (long long)n,
                          cite && *cite     ? cite
                          : title && *title ? title
                          : doc             ? doc
                                            : "");
    }
out:
    json_decref(arr);
    return rc;
}

int conv_export_md(struct db_conn *d, int64_t user_id, int64_t id, struct buf *out)
{
    struct conv c;
    char when[32];
    int rc = conv_get(d, user_id, id, &c);
    if (rc)
        return rc;
    fmt_local(now_unix(), when);
    rc = buf_addf(out, "# %s\n\n> 导出时间：%s\n", c.title[0] ? c.title : "未命名会话", when);
    if (rc)
        goto out;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " MSG_COLS " FROM messages m JOIN conversations c"
                                         " ON c.id = m.conv_id WHERE m.conv_id = ?1 AND"
                                         " c.user_id = ?2 AND m.status <> 'streaming'"
                                         " ORDER BY m.id");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    int r;
    while (rc == RC_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        struct conv_msg m;
        msg_from_row(st, &m);
        int user = strcmp(m.role, "user") == 0;
        fmt_local(m.created_at, when);
        rc = buf_addf(out, "\n### %s（%s）\n\n%s\n", user ? "用户" : "助手", when, m.content);
        if (!rc && !user && strcmp(m.status, "stopped") == 0)
            rc = buf_adds(out, "\n*（回答已停止）*\n");
        if (!rc && !user && strcmp(m.status, "failed") == 0)
            rc = buf_adds(out, "\n*（回答失败）*\n");
        if (!rc && !user)
            rc = add_footnotes(out, m.citations);
        conv_msg_release(&m);
    }
    if (rc == RC_OK && r != SQLITE_DONE)
        rc = RC_DB;
    sqlite3_reset(st);
out:
    conv_release(&c);
    return rc;
}
