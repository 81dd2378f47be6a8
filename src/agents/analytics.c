/* Usage analytics (agents/analytics.h): grouped SQL over agent_traces with
 * feedback for the agents, and over messages/conversations for the super
 * assistant; dates are the server's local dates (SQLite 'localtime' and
 * mktime agree: both follow TZ). */
#include "agents/analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"
#include "store/db.h"

#define MINUTES_PER_DAY 480.0 /* one person-day: eight working hours */

/* The resolved filters of a query. */
struct scope {
    time_t lo, hi; /* [lo, hi): local midnight of from, of the day after to */
    char from[11], to[11];
    int ndays;
    int agents, assistant; /* which sources count */
    int64_t agent_id;      /* 0 = every agent */
    char org_path[256];    /* "" = everyone */
    double assistant_minutes;
};

static int parse_day(const char *s, struct tm *tm)
{
    int y, m, d;
    char tail;
    if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return RC_INVALID;
    if (s[4] != '-' || s[7] != '-' || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return RC_INVALID;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    tm->tm_isdst = -1;
    struct tm check = *tm;
    if (mktime(&check) == (time_t)-1 || check.tm_mday != d) /* 2026-02-30 */
        return RC_INVALID;
    return RC_OK;
}

static void day_str(const struct tm *tm, char out[11])
{
    if (strftime(out, 11, "%Y-%m-%d", tm) != 10)
        out[0] = '\0';
}

static int resolve(struct db_conn *d, const struct analytics_query *q, struct scope *sc,
                   struct buf *err)
{
    memset(sc, 0, sizeof *sc);
    struct tm tf, tt;
    if (q->to && *q->to) {
        if (parse_day(q->to, &tt) != RC_OK)
            goto bad_date;
    } else {
        time_t now = time(NULL);
        if (!localtime_r(&now, &tt))
            goto bad_date;
        tt.tm_hour = tt.tm_min = tt.tm_sec = 0;
        tt.tm_isdst = -1;
    }
    if (q->from && *q->from) {
        if (parse_day(q->from, &tf) != RC_OK)
            goto bad_date;
    } else {
        tf = tt;
        tf.tm_mday -= 29; /* the last 30 days */
        tf.tm_isdst = -1;
    }
    sc->lo = mktime(&tf);
    struct tm next = tt;
    next.tm_mday += 1;
    next.tm_isdst = -1;
    sc->hi = mktime(&next);
    if (sc->lo == (time_t)-1 || sc->hi == (time_t)-1 || mktime(&tt) == (time_t)-1)
        goto bad_date;
    day_str(&tf, sc->from);
    day_str(&tt, sc->to);
    if (sc->hi <= sc->lo) {
        (void)buf_adds(err, "起始日期晚于结束日期 / from is after to");
        return RC_INVALID;
    }
    /* Count the days by walking them (DST-safe). */
    struct tm w = tf;
    for (sc->ndays = 0; sc->ndays <= ANALYTICS_DAYS_MAX; sc->ndays++) {
        char a[11], b[11];
        day_str(&w, a);
        day_str(&tt, b);
        if (strcmp(a, b) == 0) {
            sc->ndays++;
            break;
        }
        w.tm_mday += 1;
        w.tm_isdst = -1;
        if (mktime(&w) == (time_t)-1)
            goto bad_date;
    }
    if (sc->ndays > ANALYTICS_DAYS_MAX) {
        (void)buf_addf(err, "日期范围至多 %d 天 / the range is at most %d days", ANALYTICS_DAYS_MAX,
                       ANALYTICS_DAYS_MAX);
        return RC_INVALID;
    }
    sc->agents = sc->assistant = 1;
    sc->assistant_minutes = q->assistant_minutes_saved;
    if (q->agent && *q->agent) {
        if (strcmp(q->agent, ANALYTICS_ASSISTANT) == 0) {
            sc->agents = 0;
        } else {
            int64_t n = -1;
            if (parse_i64(q->agent, 1, INT64_MAX, &n) != RC_OK)
                n = -1;
            sqlite3_stmt *st = db_stmt(d->cache, "SELECT id FROM agents WHERE name = ?1 OR id = ?2"
                                                 " ORDER BY id = ?2 DESC LIMIT 1");
            if (!st)
                return RC_DB;
            sqlite3_bind_text(st, 1, q->agent, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, n);
            int step = sqlite3_step(st);
            if (step == SQLITE_ROW)
                sc->agent_id = sqlite3_column_int64(st, 0);
            sqlite3_reset(st);
            if (step != SQLITE_ROW) {
                if (step != SQLITE_DONE)
                    return RC_DB;
                (void)buf_adds(err, "无此数字员工 / no such agent");
                return RC_NOT_FOUND;
            }
            sc->assistant = 0;
        }
    }
    if (q->org_id > 0) {
        sqlite3_stmt *st = db_stmt(d->cache, "SELECT path FROM orgs WHERE id = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, q->org_id);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            const char *p = (const char *)sqlite3_column_text(st, 0);
            snprintf(sc->org_path, sizeof sc->org_path, "%s", p ? p : "");
        }
        sqlite3_reset(st);
        if (step != SQLITE_ROW || !sc->org_path[0]) {
            if (step != SQLITE_DONE && step != SQLITE_ROW)
                return RC_DB;
            (void)buf_adds(err, "无此机构 / no such org");
            return RC_NOT_FOUND;
        }
    }
    return RC_OK;
bad_date:
    (void)buf_adds(err, "日期格式应为 YYYY-MM-DD / dates must be YYYY-MM-DD");
    return RC_INVALID;
}

/* One row of counts. */
struct counts {
    long long conversations, questions, answered, up, down;
    double person_days;
};

static void counts_add(struct counts *a, const struct counts *b)
{
    a->conversations += b->conversations;
    a->questions += b->questions;
    a->answered += b->answered;
    a->up += b->up;
    a->down += b->down;
    a->person_days += b->person_days;
}

static json_t *counts_json(const struct counts *c)
{
    long long fb = c->up + c->down;
    return json_pack("{sI sI sI sI sI sI so sf}", "conversations", (json_int_t)c->conversations,
                     "questions", (json_int_t)c->questions, "answered", (json_int_t)c->answered,
                     "unanswered", (json_int_t)(c->questions - c->answered), "up",
                     (json_int_t)c->up, "down", (json_int_t)c->down, "up_rate",
                     fb ? json_real((double)c->up / (double)fb) : json_null(), "person_days",
                     c->person_days);
}

/* The agents' counts grouped by (day, agent), or by agent alone when
 * !by_day (day ''). A one-off ask (no conversation) counts as one
 * conversation; feedback is counted on the day of the question. */
static const char *const agents_sql =
    "SELECT CASE WHEN ?5 THEN date(t.created_at, 'unixepoch', 'localtime') ELSE '' END,"
    " a.name, a.title, a.minutes_saved,"
    " count(DISTINCT CASE WHEN t.conv_id > 0 THEN t.conv_id END) + sum(t.conv_id = 0),"
    " count(*), sum(t.answered <> 0),"
    " sum((SELECT count(*) FROM feedback f WHERE t.message_id > 0"
    "      AND f.message_id = t.message_id AND f.rating > 0)),"
    " sum((SELECT count(*) FROM feedback f WHERE t.message_id > 0"
    "      AND f.message_id = t.message_id AND f.rating < 0))"
    " FROM agent_traces t JOIN agents a ON a.id = t.agent_id"
    " WHERE t.eval_run_id = 0 AND t.created_at >= ?1 AND t.created_at < ?2"
    " AND (?3 = 0 OR t.agent_id = ?3)"
    " AND (?4 = '' OR t.user_id IN (SELECT m.user_id FROM org_members m"
    "      JOIN orgs o ON o.id = m.org_id WHERE substr(o.path, 1, length(?4)) = ?4))"
    " GROUP BY 1, t.agent_id ORDER BY 1, count(*) DESC, a.name";

/* The super assistant's (conversations not answered by an agent): one
 * question per finished assistant message (regenerate replaces it);
 * answered when the model, the extractive answer or an FAQ answered. */
static const char *const assistant_sql =
    "SELECT CASE WHEN ?4 THEN date(m.created_at, 'unixepoch', 'localtime') ELSE '' END,"
    " count(DISTINCT m.conv_id), count(*),"
    " sum(m.mode IN ('model', 'extractive', 'faq')),"
    " sum((SELECT count(*) FROM feedback f WHERE f.message_id = m.id AND f.rating > 0)),"
    " sum((SELECT count(*) FROM feedback f WHERE f.message_id = m.id AND f.rating < 0))"
    " FROM messages m JOIN conversations c ON c.id = m.conv_id"
    " WHERE m.role = 'assistant' AND m.status <> 'streaming'"
    " AND c.assistant NOT LIKE 'agent:%'"
    " AND m.created_at >= ?1 AND m.created_at < ?2"
    " AND (?3 = '' OR c.user_id IN (SELECT om.user_id FROM org_members om"
    "      JOIN orgs o ON o.id = om.org_id WHERE substr(o.path, 1, length(?3)) = ?3))"
    " GROUP BY 1 ORDER BY 1";

/* Index of day in the series (days[0..n) ascending), or -1. */
static int day_index(char (*days)[11], int n, const char *day)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(days[mid], day);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* One grouped row of either source: day "" when not by day; agent and
 * title NULL for the super assistant. */
struct src_row {
    const char *day, *agent, *title;
    struct counts c;
};
typedef void (*row_fn)(void *ctx, const struct src_row *r);

/* Runs the agents' and the super assistant's grouped queries (those the
 * scope counts) over askers in the subtree at path ("" = everyone), by day
 * or in all, and hands each row to fn. RC_OK or RC_DB. */
static int each_row(struct db_conn *d, const struct scope *sc, const char *path, int by_day,
                    row_fn fn, void *ctx)
{
    int step = SQLITE_DONE;
    if (sc->agents) {
        sqlite3_stmt *st = db_stmt(d->cache, agents_sql);
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)sc->lo);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)sc->hi);
        sqlite3_bind_int64(st, 3, sc->agent_id);
        sqlite3_bind_text(st, 4, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, by_day);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            struct src_row r = {(const char *)sqlite3_column_text(st, 0),
                                (const char *)sqlite3_column_text(st, 1),
                                (const char *)sqlite3_column_text(st, 2),
                                {sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5),
                                 sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7),
                                 sqlite3_column_int64(st, 8), 0}};
            r.c.person_days = (double)r.c.answered * sqlite3_column_double(st, 3) / MINUTES_PER_DAY;
            fn(ctx, &r);
        }
        sqlite3_reset(st);
        if (step != SQLITE_DONE)
            return RC_DB;
    }
    if (sc->assistant) {
        sqlite3_stmt *st = db_stmt(d->cache, assistant_sql);
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)sc->lo);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)sc->hi);
        sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, by_day);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            struct src_row r = {(const char *)sqlite3_column_text(st, 0),
                                NULL,
                                NULL,
                                {sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                                 sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
                                 sqlite3_column_int64(st, 5), 0}};
            r.c.person_days = (double)r.c.answered * sc->assistant_minutes / MINUTES_PER_DAY;
            fn(ctx, &r);
        }
        sqlite3_reset(st);
        if (step != SQLITE_DONE)
            return RC_DB;
    }
    return RC_OK;
}

static void add_to_total(void *ctx, const struct src_row *r)
{
    counts_add(ctx, &r->c);
}

/* The range's totals over askers in the subtree at path: one row of by_org. */
static int org_totals(struct db_conn *d, const struct scope *sc, const char *path,
                      struct counts *out)
{
    memset(out, 0, sizeof *out);
    return each_row(d, sc, path, 0, add_to_total, out);
}

/* What analytics_usage gathers from the rows. */
struct usage_acc {
    char (*days)[11];
    int ndays;
    struct counts *per, total;
    json_t *by_agent;
};

static void add_to_day(void *ctx, const struct src_row *r)
{
    struct usage_acc *u = ctx;
    int i = day_index(u->days, u->ndays, r->day);
    if (i >= 0)
        counts_add(&u->per[i], &r->c);
}

static void add_to_agents(void *ctx, const struct src_row *r)
{
    struct usage_acc *u = ctx;
    if (!r->agent && !r->c.questions)
        return; /* the super assistant's empty range */
    json_t *j = counts_json(&r->c);
    json_object_set_new(j, "agent", json_string(r->agent ? r->agent : ANALYTICS_ASSISTANT));
    json_object_set_new(j, "title",
                        json_string(r->agent ? r->title : "超级助手 / super assistant"));
    json_array_append_new(u->by_agent, j);
    counts_add(&u->total, &r->c);
}

/* by_org: the children of the filtered org (the roots without one), each
 * counting its whole subtree, by name. */
static int by_org_json(struct db_conn *d, const struct analytics_query *q, const struct scope *sc,
                       json_t **out)
{
    *out = json_array();
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, name, path FROM orgs"
                                         " WHERE coalesce(parent_id, 0) = ?1 ORDER BY name, id");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, q->org_id > 0 ? q->org_id : 0);
    struct org_row {
        int64_t id;
        char *name, *path;
    } *rows = NULL;
    size_t n = 0, cap = 0;
    int step, rc = RC_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rows = xgrow(rows, &cap, n + 1, sizeof *rows);
        rows[n].id = sqlite3_column_int64(st, 0);
        rows[n].name = db_col_str(st, 1);
        rows[n].path = db_col_str(st, 2);
        n++;
    }
    sqlite3_reset(st); /* org_totals uses the statement cache: finish this one first */
    if (step != SQLITE_DONE)
        rc = RC_DB;
    for (size_t i = 0; i < n && rc == RC_OK; i++) {
        struct counts c;
        rc = org_totals(d, sc, rows[i].path, &c);
        if (rc == RC_OK) {
            json_t *j = counts_json(&c);
            json_object_set_new(j, "org_id", json_integer(rows[i].id));
            json_object_set_new(j, "org", json_string(rows[i].name));
            json_array_append_new(*out, j);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].path);
    }
    free(rows);
    return rc;
}

int analytics_usage(struct db_conn *d, const struct analytics_query *q, json_t **out,
                    struct buf *err)
{
    struct scope sc;
    char(*days)[11] = NULL;
    struct counts *per = NULL;
    json_t *by_agent = json_array();
    int rc = resolve(d, q, &sc, err);
    *out = NULL;
    if (rc != RC_OK)
        goto out;
    days = xcalloc((size_t)sc.ndays, sizeof *days);
    per = xcalloc((size_t)sc.ndays, sizeof *per);
    {
        struct tm w;
        if (parse_day(sc.from, &w) != RC_OK) {
            rc = RC_INTERNAL;
            goto out;
        }
        for (int i = 0; i < sc.ndays; i++) {
            struct tm x = w;
            x.tm_mday += i;
            x.tm_isdst = -1;
            (void)mktime(&x);
            day_str(&x, days[i]);
        }
    }
    struct usage_acc acc = {days, sc.ndays, per, {0}, by_agent};
    if ((rc = each_row(d, &sc, sc.org_path, 1, add_to_day, &acc)) != RC_OK ||
        (rc = each_row(d, &sc, sc.org_path, 0, add_to_agents, &acc)) != RC_OK)
        goto out;
    rc = RC_DB;
    {
        json_t *series = json_array();
        for (int i = 0; i < sc.ndays; i++) {
            json_t *j = counts_json(&per[i]);
            json_object_set_new(j, "day", json_string(days[i]));
            json_array_append_new(series, j);
        }
        /* most questions first */
        size_t n = json_array_size(by_agent);
        for (size_t i = 1; i < n; i++)
            for (size_t k = i; k > 0; k--) {
                json_int_t a = json_integer_value(
                    json_object_get(json_array_get(by_agent, k - 1), "questions"));
                json_int_t b =
                    json_integer_value(json_object_get(json_array_get(by_agent, k), "questions"));
                if (a >= b)
                    break;
                json_t *t = json_incref(json_array_get(by_agent, k));
                json_array_remove(by_agent, k);
                json_array_insert_new(by_agent, k - 1, t);
            }
        json_t *by_org = NULL;
        if (by_org_json(d, q, &sc, &by_org) != RC_OK) {
            json_decref(series);
            json_decref(by_org);
            goto out; /* rc is RC_DB */
        }
        *out = json_pack("{ss ss so sI so so sO so}", "from", sc.from, "to", sc.to, "agent",
                         q->agent && *q->agent ? json_string(q->agent) : json_null(), "org_id",
                         (json_int_t)(q->org_id > 0 ? q->org_id : 0), "series", series, "totals",
                         counts_json(&acc.total), "by_agent", by_agent, "by_org", by_org);
    }
    rc = *out ? RC_OK : RC_INTERNAL;
out:
    json_decref(by_agent);
    free(days);
    free(per);
    return rc;
}

/* Unanswered questions of both sources, grouped by text (and agent). The
 * super assistant's question is the user message just before its answer. */
static const char *const unanswered_sql =
    "SELECT q, agent, sum(n), max(last) FROM ("
    "  SELECT t.question AS q, a.name AS agent, count(*) AS n, max(t.created_at) AS last"
    "  FROM agent_traces t JOIN agents a ON a.id = t.agent_id"
    "  WHERE ?5 AND t.eval_run_id = 0 AND t.answered = 0"
    "  AND t.created_at >= ?1 AND t.created_at < ?2 AND (?3 = 0 OR t.agent_id = ?3)"
    "  AND (?4 = '' OR t.user_id IN (SELECT m.user_id FROM org_members m"
    "       JOIN orgs o ON o.id = m.org_id WHERE substr(o.path, 1, length(?4)) = ?4))"
    "  GROUP BY t.question, t.agent_id"
    "  UNION ALL"
    "  SELECT (SELECT u.content FROM messages u WHERE u.conv_id = m.conv_id"
    "          AND u.role = 'user' AND u.id < m.id ORDER BY u.id DESC LIMIT 1) AS q,"
    "   'assistant' AS agent, count(*) AS n, max(m.created_at) AS last"
    "  FROM messages m JOIN conversations c ON c.id = m.conv_id"
    "  WHERE ?6 AND m.role = 'assistant' AND m.status <> 'streaming'"
    "  AND m.mode NOT IN ('model', 'extractive', 'faq') AND c.assistant NOT LIKE 'agent:%'"
    "  AND m.created_at >= ?1 AND m.created_at < ?2"
    "  AND (?4 = '' OR c.user_id IN (SELECT om.user_id FROM org_members om"
    "       JOIN orgs o ON o.id = om.org_id WHERE substr(o.path, 1, length(?4)) = ?4))"
    "  GROUP BY q)"
    " WHERE q IS NOT NULL AND q <> ''"
    " GROUP BY q, agent ORDER BY sum(n) DESC, max(last) DESC LIMIT ?7";

int analytics_unanswered(struct db_conn *d, const struct analytics_query *q, int limit,
                         json_t **out, struct buf *err)
{
    struct scope sc;
    *out = NULL;
    if (limit < 1 || limit > 200) {
        (void)buf_adds(err, "limit 应在 1–200 之间 / limit must be 1-200");
        return RC_INVALID;
    }
    int rc = resolve(d, q, &sc, err);
    if (rc != RC_OK)
        return rc;
    sqlite3_stmt *st = db_stmt(d->cache, unanswered_sql);
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)sc.lo);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)sc.hi);
    sqlite3_bind_int64(st, 3, sc.agent_id);
    sqlite3_bind_text(st, 4, sc.org_path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, sc.agents);
    sqlite3_bind_int(st, 6, sc.assistant);
    sqlite3_bind_int(st, 7, limit);
    json_t *arr = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{ss ss sI sI}", "question",
                                             (const char *)sqlite3_column_text(st, 0), "agent",
                                             (const char *)sqlite3_column_text(st, 1), "count",
                                             (json_int_t)sqlite3_column_int64(st, 2), "last_asked",
                                             (json_int_t)sqlite3_column_int64(st, 3)));
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}
