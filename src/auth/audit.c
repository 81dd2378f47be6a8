/* The hash-chained audit log (auth/audit.h): appending one entry inside the
 * caller's unit of work, verifying the chain, querying it, and the writer
 * thread that batches entries posted by request threads into one
 * transaction every audit_flush_ms. */
#include "auth/audit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#define AUDIT_QUEUE_MAX 100000 /* past this a post writes synchronously */
#define AUDIT_BATCH_WAKE 512   /* this many waiting wake the writer early */
#define AUDIT_RETRY_MS 1000    /* a failed batch is retried after this */
#define AUDIT_STOP_TRIES 3     /* attempts to write the rest at stop */
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000

/* One entry as it is hashed and inserted. */
struct row {
    int64_t ts, user_id;
    const char *actor, *action, *target, *detail, *ip;
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Wall clock in unix milliseconds (util.h's now_ms is monotonic). */
static int64_t wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return now_unix() * 1000;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The stored text of a detail: compact JSON with sorted keys, so the same
 * detail always hashes the same; "{}" for none. Caller frees. */
static char *detail_text(const json_t *detail)
{
    if (!detail)
        return xstrdup("{}");
    struct buf b = BUF_INIT;
    if (jsonw_dump_flags(&b, detail, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) != RC_OK) {
        buf_release(&b);
        log_error("audit: cannot encode an entry's detail; stored as {}");
        return xstrdup("{}");
    }
    return buf_detach(&b, NULL);
}

void audit_entry_from(struct audit_entry *e, const struct auth_principal *who)
{
    e->user_id = who ? who->user_id : 0;
    e->actor = who ? who->username : "";
}

static void hash_field(crypto_hash_sha256_state *s, const char *p)
{
    size_t n = strlen(p);
    char pre[32];
    int k = snprintf(pre, sizeof pre, "%zu:", n);
    crypto_hash_sha256_update(s, (const unsigned char *)pre, (unsigned long long)k);
    crypto_hash_sha256_update(s, (const unsigned char *)p, n);
    crypto_hash_sha256_update(s, (const unsigned char *)"\n", 1);
}

void audit_hash(const char *prev_hash, int64_t id, int64_t ts_ms, int64_t user_id,
                const char *actor, const char *action, const char *target, const char *detail,
                const char *ip, char out[65])
{
    crypto_hash_sha256_state s;
    crypto_hash_sha256_init(&s);
    const char *prev = nz(prev_hash);
    crypto_hash_sha256_update(&s, (const unsigned char *)prev, strlen(prev));
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)id);
    hash_field(&s, num);
    snprintf(num, sizeof num, "%lld", (long long)ts_ms);
    hash_field(&s, num);
    snprintf(num, sizeof num, "%lld", (long long)user_id);
    hash_field(&s, num);
    hash_field(&s, nz(actor));
    hash_field(&s, nz(action));
    hash_field(&s, nz(target));
    hash_field(&s, nz(detail));
    hash_field(&s, nz(ip));
    unsigned char dig[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&s, dig);
    sodium_bin2hex(out, 65, dig, sizeof dig);
}

/* The newest entry's id and hash (0 and AUDIT_GENESIS for an empty log).
 * Call inside the unit of work that appends. RC_OK or RC_DB. */
static int last_entry(struct db_conn *d, int64_t *id, char hash[65])
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
    if (!st)
        return RC_DB;
    int rc = RC_OK;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        snprintf(hash, 65, "%s", nz((const char *)sqlite3_column_text(st, 1)));
    } else if (s == SQLITE_DONE) {
        *id = 0;
        snprintf(hash, 65, "%s", AUDIT_GENESIS);
    } else {
        log_error("audit: cannot read the last entry: %s", sqlite3_errmsg(d->db));
        rc = RC_DB;
    }
    sqlite3_reset(st);
    return rc;
}

/* Inserts r as entry id chained to prev; its hash goes to hash. */
static int insert_entry(struct db_conn *d, int64_t id, const char *prev, const struct row *r,
                        char hash[65])
{
    audit_hash(prev, id, r->ts, r->user_id, r->actor, r->action, r->target, r->detail, r->ip, hash);
    sqlite3_stmt *st =
        db_stmt(d->cache, "INSERT INTO audit_log(id, ts, user_id, actor, action, target, detail,"
                          " ip, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, r->ts);
    sqlite3_bind_int64(st, 3, r->user_id);
    sqlite3_bind_text(st, 4, nz(r->actor), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, nz(r->action), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, nz(r->target), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, nz(r->detail), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, nz(r->ip), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, hash, -1, SQLITE_STATIC);
    int rc = RC_OK;
    if (sqlite3_step(st) != SQLITE_DONE) {
        log_error("audit: cannot append entry %lld: %s", (long long)id, sqlite3_errmsg(d->db));
        rc = RC_DB;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int audit_append(struct db_conn *d, const struct audit_entry *e)
{
    char *detail = detail_text(e->detail);
    struct row r = {wall_ms(), e->user_id, e->actor, e->action, e->target, detail, e->ip};
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        goto out;
    int64_t last = 0;
    char prev[65], hash[65];
    rc = last_entry(d, &last, prev);
    if (rc == RC_OK)
        rc = insert_entry(d, last + 1, prev, &r, hash);
    int end = db_tx_end(d->db, &tx, rc == RC_OK);
    if (rc == RC_OK)
        rc = end;
out:
    free(detail);
    return rc ? RC_DB : RC_OK;
}

/* ---- verify ---- */

/* A text column as a C string, or NULL when it is not text without NUL
 * bytes: the hash covers C strings, so a value that only agrees up to a
 * hidden NUL (or a number stored where text belongs) counts as edited. */
static const char *col_cstr(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return NULL;
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (!s || strlen(s) != (size_t)sqlite3_column_bytes(st, col))
        return NULL;
    return s;
}

int audit_verify(struct db_conn *d, int64_t *checked, int64_t *bad_id, int64_t *head_id,
                 char head_hash[65], struct buf *err)
{
    *checked = 0;
    *bad_id = 0;
    *head_id = 0;
    snprintf(head_hash, 65, "%s", AUDIT_GENESIS);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, ts, user_id, actor, action, target, detail,"
                                         " ip, prev_hash, hash FROM audit_log ORDER BY id");
    if (!st) {
        buf_addf(err, "无法读取审计日志 / cannot read the audit log");
        return RC_DB;
    }
    int64_t prev_id = 0;
    char prev[65];
    snprintf(prev, sizeof prev, "%s", AUDIT_GENESIS);
    int rc = RC_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id != prev_id + 1) {
            buf_addf(
                err,
                "第 %lld 条记录之前缺少记录（记录被删除）/ entry %lld: id gap (entries deleted)",
                (long long)id, (long long)id);
            rc = RC_INVALID;
            *bad_id = id;
            break;
        }
        const char *link = col_cstr(st, 8);
        if (!link || strcmp(link, prev) != 0) {
            buf_addf(
                err,
                "第 %lld 条记录的链接断开（之前的记录被删除或修改）/ entry %lld: link broken (an "
                "entry before it was deleted or edited)",
                (long long)id, (long long)id);
            rc = RC_INVALID;
            *bad_id = id;
            break;
        }
        const char *actor = col_cstr(st, 3), *action = col_cstr(st, 4), *target = col_cstr(st, 5),
                   *detail = col_cstr(st, 6), *ip = col_cstr(st, 7), *stored = col_cstr(st, 9);
        int ok = sqlite3_column_type(st, 1) == SQLITE_INTEGER &&
                 sqlite3_column_type(st, 2) == SQLITE_INTEGER && actor && action && target &&
                 detail && ip && stored;
        char calc[65] = "";
        if (ok)
            audit_hash(link, id, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), actor,
                       action, target, detail, ip, calc);
        if (!ok || strcmp(calc, stored) != 0) {
            buf_addf(err,
                     "第 %lld 条记录的哈希不符（记录被修改）/ entry %lld: hash mismatch (edited)",
                     (long long)id, (long long)id);
            rc = RC_INVALID;
            *bad_id = id;
            break;
        }
        prev_id = id;
        snprintf(prev, sizeof prev, "%s", calc);
        (*checked)++;
    }
    if (rc == RC_OK && s != SQLITE_DONE) {
        buf_addf(err, "无法读取审计日志 / cannot read the audit log: %s", sqlite3_errmsg(d->db));
        rc = RC_DB;
    }
    sqlite3_reset(st);
    *head_id = prev_id;
    snprintf(head_hash, 65, "%s", prev);
    return rc;
}

int audit_find_hash(struct db_conn *d, const char *hash, int64_t *id)
{
    *id = 0;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT id FROM audit_log WHERE hash = ?1 ORDER BY id LIMIT 1");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, nz(hash), -1, SQLITE_STATIC);
    int s = sqlite3_step(st), rc = RC_NOT_FOUND;
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = RC_OK;
    } else if (s != SQLITE_DONE) {
        log_error("audit: cannot look a hash up: %s", sqlite3_errmsg(d->db));
        rc = RC_DB;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* ---- query ---- */

/* A JSON string of stored text; bytes that are not UTF-8 (a name tried at
 * sign-in, an edited row) become U+FFFD instead of failing the listing. */
static json_t *jstr(const char *s, size_t n)
{
    if (utf8_valid(s, n))
        return json_stringn(s, n);
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        char enc[4];
        (void)buf_add(&b, enc, utf8_encode(cp, enc));
        i += k;
    }
    json_t *j = json_stringn(buf_str(&b), b.len);
    buf_release(&b);
    return j ? j : json_string("");
}

static json_t *col_json_str(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return jstr(nz(s), s ? (size_t)sqlite3_column_bytes(st, col) : 0);
}

int audit_query(struct db_conn *d, const struct audit_filter *f, json_t **out)
{
    *out = NULL;
    int limit = f->limit <= 0 ? AUDIT_LIMIT_DEFAULT : f->limit;
    if (limit > AUDIT_LIMIT_MAX)
        limit = AUDIT_LIMIT_MAX;
    const char *user = f->user && *f->user ? f->user : NULL;
    const char *action = f->action && *f->action ? f->action : NULL;
    int prefix = action && action[strlen(action) - 1] == '.';

    /* Only the conditions in use are in the text (so the indexes on action
     * and ts can serve); every value is a bound parameter. */
    struct buf sql = BUF_INIT;
    (void)buf_adds(&sql, "SELECT id, ts, user_id, actor, action, target, detail, ip, hash"
                         " FROM audit_log WHERE 1");
    if (user)
        (void)buf_adds(&sql, " AND actor = ?1");
    if (action && !prefix)
        (void)buf_adds(&sql, " AND action = ?2");
    if (action && prefix)
        (void)buf_adds(&sql, " AND substr(action, 1, length(?2)) = ?2");
    if (f->since_ms > 0)
        (void)buf_adds(&sql, " AND ts >= ?3");
    if (f->until_ms > 0)
        (void)buf_adds(&sql, " AND ts <= ?4");
    if (f->before_id > 0)
        (void)buf_adds(&sql, " AND id < ?5");
    (void)buf_adds(&sql, " ORDER BY id DESC LIMIT ?6");

    sqlite3_stmt *st = NULL;
    json_t *entries = NULL;
    int rc = RC_DB;
    if (sqlite3_prepare_v2(d->db, buf_str(&sql), -1, &st, NULL) != SQLITE_OK) {
        log_error("audit: cannot prepare a query: %s", sqlite3_errmsg(d->db));
        goto out;
    }
    /* Parameter numbers not in the text are accepted and ignored. */
    sqlite3_bind_text(st, 1, nz(user), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, nz(action), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, f->since_ms);
    sqlite3_bind_int64(st, 4, f->until_ms);
    sqlite3_bind_int64(st, 5, f->before_id);
    sqlite3_bind_int(st, 6, limit + 1); /* one more tells whether a next page exists */

    entries = json_array();
    int n = 0, more = 0, s;
    int64_t last_id = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            more = 1;
            break;
        }
        json_t *e = json_object();
        last_id = sqlite3_column_int64(st, 0);
        json_object_set_new(e, "id", json_integer(last_id));
        json_object_set_new(e, "ts", json_integer(sqlite3_column_int64(st, 1)));
        json_object_set_new(e, "user_id", json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(e, "actor", col_json_str(st, 3));
        json_object_set_new(e, "action", col_json_str(st, 4));
        json_object_set_new(e, "target", col_json_str(st, 5));
        const char *dt = (const char *)sqlite3_column_text(st, 6);
        json_t *detail = dt ? json_loads(dt, JSON_DECODE_ANY, NULL) : NULL;
        json_object_set_new(e, "detail", detail ? detail : col_json_str(st, 6));
        json_object_set_new(e, "ip", col_json_str(st, 7));
        json_object_set_new(e, "hash", col_json_str(st, 8));
        json_array_append_new(entries, e);
        n++;
    }
    if (!more && s != SQLITE_DONE) {
        log_error("audit: query failed: %s", sqlite3_errmsg(d->db));
        goto out;
    }
    *out = json_object();
    json_object_set_new(*out, "entries", entries);
    entries = NULL;
    json_object_set_new(*out, "next_before_id", more ? json_integer(last_id) : json_null());
    rc = RC_OK;
out:
    json_decref(entries);
    sqlite3_finalize(st);
    buf_release(&sql);
    return rc;
}

/* ---- the background writer ---- */

/* A posted entry: owned copies, the detail already as its stored text. */
struct pending {
    int64_t ts, user_id;
    char *actor, *action, *target, *detail, *ip;
};

static void pending_release(struct pending *p)
{
    free(p->actor);
    free(p->action);
    free(p->target);
    free(p->detail);
    free(p->ip);
}

struct audit_writer {
    sqlite3 *db;
    struct db_conn conn;
    int flush_ms;
    pthread_t thread;
    /* Held while writing on conn: by the thread, or by a poster that found
     * the queue full. Taken before mu, never while holding it. */
    pthread_mutex_t conn_lock;
    pthread_mutex_t mu;  /* everything below */
    pthread_cond_t work; /* something to do: the first entry, a full batch, a flush, stop */
    pthread_cond_t done; /* a batch was committed or failed */
    struct pending *q;   /* oldest first */
    size_t n, cap;
    uint64_t posted, committed, failures; /* entries posted and committed, in order */
    uint64_t first_ns;                    /* monotonic time the oldest queued entry came */
    uint64_t retry_ns;                    /* after a failure: not before this */
    int flush_wanted, stopping, exited;
};

/* Writes a in one transaction, chaining each entry. Under conn_lock. */
static int write_batch(struct audit_writer *w, const struct pending *a, size_t n)
{
    if (db_begin(w->db))
        return RC_DB;
    int64_t last = 0;
    char prev[65], hash[65];
    int rc = last_entry(&w->conn, &last, prev);
    for (size_t i = 0; rc == RC_OK && i < n; i++) {
        struct row r = {a[i].ts,     a[i].user_id, a[i].actor, a[i].action,
                        a[i].target, a[i].detail,  a[i].ip};
        rc = insert_entry(&w->conn, ++last, prev, &r, hash);
        memcpy(prev, hash, sizeof prev);
    }
    if (rc == RC_OK)
        rc = db_commit(w->db);
    if (rc)
        db_rollback(w->db);
    return rc;
}

static void queue_push(struct audit_writer *w, struct pending *p)
{
    w->q = xgrow(w->q, &w->cap, w->n + 1, sizeof *w->q);
    w->q[w->n++] = *p;
    if (w->n == 1)
        w->first_ns = now_ns();
    w->posted++;
}

/* Takes everything queued (and extra, queued last) and writes it. On
 * failure the entries go back to the front of the queue: nothing is
 * dropped and the order is kept. */
static int drain(struct audit_writer *w, struct pending *extra)
{
    pthread_mutex_lock(&w->conn_lock);
    pthread_mutex_lock(&w->mu);
    if (extra)
        queue_push(w, extra);
    struct pending *a = w->q;
    size_t n = w->n, acap = w->cap;
    w->q = NULL;
    w->n = w->cap = 0;
    w->flush_wanted = 0;
    pthread_mutex_unlock(&w->mu);

    int rc = n ? write_batch(w, a, n) : RC_OK;

    pthread_mutex_lock(&w->mu);
    if (rc == RC_OK) {
        for (size_t i = 0; i < n; i++)
            pending_release(&a[i]);
        free(a);
        w->committed += n;
    } else {
        log_error("audit: could not write %zu entries; will retry", n);
        size_t newer = w->n;
        a = xgrow(a, &acap, n + newer, sizeof *a);
        if (newer)
            memcpy(a + n, w->q, newer * sizeof *a);
        free(w->q);
        w->q = a;
        w->cap = acap;
        w->n = n + newer;
        w->first_ns = now_ns();
        w->retry_ns = w->first_ns + (uint64_t)AUDIT_RETRY_MS * 1000000u;
        w->failures++;
    }
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_unlock(&w->conn_lock);
    return rc;
}

static void wait_until(struct audit_writer *w, uint64_t deadline_ns)
{
    struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
    (void)pthread_cond_timedwait(&w->work, &w->mu, &ts);
}

static void *writer_main(void *arg)
{
    struct audit_writer *w = arg;
    int stop_tries = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->n == 0) {
            if (w->stopping)
                break;
            pthread_cond_wait(&w->work, &w->mu);
            continue;
        }
        uint64_t now = now_ns();
        if (!w->stopping && now < w->retry_ns) {
            wait_until(w, w->retry_ns);
            continue;
        }
        uint64_t due = w->first_ns + (uint64_t)w->flush_ms * 1000000u;
        int urgent = w->stopping || w->flush_wanted || w->n >= AUDIT_BATCH_WAKE;
        if (!urgent && now < due) {
            wait_until(w, due);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        int rc = drain(w, NULL);
        pthread_mutex_lock(&w->mu);
        if (rc && w->stopping && ++stop_tries >= AUDIT_STOP_TRIES)
            break;
    }
    w->exited = 1;
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void writer_free(struct audit_writer *w)
{
    for (size_t i = 0; i < w->n; i++)
        pending_release(&w->q[i]);
    free(w->q);
    db_cache_free(w->conn.cache);
    db_close(w->db);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->conn_lock);
    free(w);
}

int audit_writer_start(const char *db_path, int flush_ms, struct audit_writer **out)
{
    *out = NULL;
    struct buf err = BUF_INIT;
    sqlite3 *db = NULL;
    if (db_open(db_path, &db, &err)) {
        log_error("audit writer: %s", buf_str(&err));
        buf_release(&err);
        return RC_DB;
    }
    buf_release(&err);
    struct audit_writer *w = xcalloc(1, sizeof *w);
    w->db = db;
    w->conn.db = db;
    w->conn.cache = db_cache_new(db);
    w->flush_ms = flush_ms < 0 ? 0 : flush_ms > 60000 ? 60000 : flush_ms;
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0; /* now_ns's clock */
    ok = ok && pthread_cond_init(&w->work, &ca) == 0;
    ok = ok && pthread_cond_init(&w->done, NULL) == 0;
    ok = ok && pthread_mutex_init(&w->mu, NULL) == 0;
    ok = ok && pthread_mutex_init(&w->conn_lock, NULL) == 0;
    (void)pthread_condattr_destroy(&ca);
    ok = ok && pthread_create(&w->thread, NULL, writer_main, w) == 0;
    if (!ok) {
        log_error("audit writer: cannot start its thread");
        writer_free(w); /* destroying never-initialised objects is harmless on glibc */
        return RC_INTERNAL;
    }
    *out = w;
    return RC_OK;
}

void audit_writer_post(struct audit_writer *w, const struct audit_entry *e)
{
    if (!w) {
        log_error("audit: an entry was posted without a writer (%s)", nz(e->action));
        return;
    }
    struct pending p = {wall_ms(),
                        e->user_id,
                        xstrdup(nz(e->actor)),
                        xstrdup(nz(e->action)),
                        xstrdup(nz(e->target)),
                        detail_text(e->detail),
                        xstrdup(nz(e->ip))};
    pthread_mutex_lock(&w->mu);
    if (w->n < AUDIT_QUEUE_MAX) {
        queue_push(w, &p);
        if (w->n == 1 || w->n >= AUDIT_BATCH_WAKE)
            pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->mu);
        return;
    }
    pthread_mutex_unlock(&w->mu);
    /* Back-pressure: the disk is not keeping up, so this caller writes the
     * queue and its own entry itself. */
    (void)drain(w, &p);
}

void audit_writer_flush(struct audit_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->posted, failures = w->failures;
    if (w->committed < target) {
        w->flush_wanted = 1;
        pthread_cond_signal(&w->work);
    }
    /* A failed batch ends the wait too: the caller must not hang on a
     * broken disk (the entries stay queued and are retried). */
    while (w->committed < target && w->failures == failures && !w->exited)
        pthread_cond_wait(&w->done, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void audit_writer_stop(struct audit_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->n)
        log_error("audit: %zu entries could not be written before stopping", w->n);
    writer_free(w);
}
