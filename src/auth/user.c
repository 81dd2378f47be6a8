/* Users: create, read, update, disable, set a password, and the local
 * sign-in with lockout. Hashing is slow, so it always runs outside any
 * transaction this file opens; the transactions here are short writes. */
#include "auth/auth.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MSG_WRONG "用户名或密码错误 / wrong user name or password"
#define MSG_DISABLED "账户已停用 / account disabled"
#define TEXT_MAX 256 /* display_name and employee_no, bytes */

#define USER_COLS                                                                                  \
    "SELECT id, username, display_name, employee_no, source, disabled, locked_until,"              \
    " created_at, last_login_at FROM users"

int auth_username_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n < 1 || n > 64)
        return 0;
    int digits_only = 1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int digit = c >= '0' && c <= '9';
        int ok = digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                 c == '_' || c == '@' || c == '-';
        if (!ok)
            return 0;
        if (!digit)
            digits_only = 0;
    }
    return !digits_only;
}

static int text_ok(const char *s)
{
    return !s || (strlen(s) <= TEXT_MAX && utf8_valid(s, strlen(s)));
}

void auth_user_release(struct auth_user *u)
{
    if (!u)
        return;
    free(u->username);
    free(u->display_name);
    free(u->employee_no);
    free(u->source);
    memset(u, 0, sizeof *u);
}

void auth_users_free(struct auth_user *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        auth_user_release(&a[i]);
    free(a);
}

json_t *auth_user_json(const struct auth_user *u)
{
    return json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:I}", "id", (json_int_t)u->id, "username",
        u->username ? u->username : "", "display_name", u->display_name ? u->display_name : "",
        "employee_no", u->employee_no ? u->employee_no : "", "source",
        u->source ? u->source : "local", "disabled", u->disabled, "locked", u->locked, "created_at",
        (json_int_t)u->created_at, "last_login_at", (json_int_t)u->last_login_at);
}

/* Reads a USER_COLS row. */
static void user_from_row(sqlite3_stmt *st, struct auth_user *u, int64_t now)
{
    u->id = sqlite3_column_int64(st, 0);
    u->username = db_col_str(st, 1);
    u->display_name = db_col_str(st, 2);
    u->employee_no = db_col_str(st, 3);
    u->source = db_col_str(st, 4);
    u->disabled = sqlite3_column_int(st, 5) != 0;
    u->locked = sqlite3_column_int64(st, 6) > now;
    u->created_at = sqlite3_column_int64(st, 7);
    u->last_login_at = sqlite3_column_int64(st, 8);
}

/* Steps a statement that selects at most one user. */
static int user_one(struct db_conn *d, sqlite3_stmt *st, struct auth_user *out)
{
    int rc = RC_DB;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        user_from_row(st, out, now_unix());
        rc = RC_OK;
    } else if (s == SQLITE_DONE) {
        rc = RC_NOT_FOUND;
    } else {
        log_error("auth: reading user failed: %s", sqlite3_errmsg(d->db));
    }
    sqlite3_reset(st);
    return rc;
}

int auth_user_get_id(struct db_conn *d, int64_t id, struct auth_user *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(d->cache, USER_COLS " WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    return user_one(d, st, out);
}

int auth_user_get(struct db_conn *d, const char *id_or_name, struct auth_user *out)
{
    memset(out, 0, sizeof *out);
    if (!id_or_name || !id_or_name[0])
        return RC_NOT_FOUND;
    int64_t id;
    /* Names are never all digits, so a number is always an id. */
    if (parse_i64(id_or_name, 1, INT64_MAX, &id) == RC_OK)
        return auth_user_get_id(d, id, out);
    if (!auth_username_valid(id_or_name))
        return RC_NOT_FOUND;
    sqlite3_stmt *st = db_stmt(d->cache, USER_COLS " WHERE username = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_TRANSIENT);
    return user_one(d, st, out);
}

int auth_user_list(struct db_conn *d, struct auth_user **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct auth_user *a = NULL;
    size_t na = 0, cap = 0;
    int rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, USER_COLS " ORDER BY id");
    if (!st)
        goto out;
    int64_t now = now_unix();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        a = xgrow(a, &cap, na + 1, sizeof *a);
        memset(&a[na], 0, sizeof a[na]);
        user_from_row(st, &a[na++], now);
    }
    if (s != SQLITE_DONE) {
        log_error("auth: listing users failed: %s", sqlite3_errmsg(d->db));
        goto out;
    }
    *out = a;
    *n = na;
    a = NULL;
    rc = RC_OK;
out:
    if (st)
        sqlite3_reset(st);
    auth_users_free(a, na);
    return rc;
}

/* Grants the built-in role `role` to user_id. */
static int grant_builtin(struct db_conn *d, int64_t user_id, const char *role)
{
    sqlite3_stmt *st = db_stmt(d->cache, "INSERT OR IGNORE INTO user_roles(user_id, role_id)"
                                         " SELECT ?1, id FROM roles WHERE name = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    int changed = sqlite3_changes(d->db);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    if (changed == 0)
        log_warn("auth: built-in role %s missing", role);
    return RC_OK;
}

static int name_taken(struct db_conn *d, const char *username, int *taken)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT 1 FROM users WHERE username = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return RC_DB;
    *taken = s == SQLITE_ROW;
    return RC_OK;
}

int auth_user_create(struct db_conn *d, const struct config *cfg, const char *username,
                     const char *display_name, const char *employee_no, const char *password,
                     int admin, int64_t *id, struct buf *err)
{
    int rc = RC_INVALID;
    char hash[128] = "";
    struct db_tx tx;
    int in_tx = 0;
    if (!auth_username_valid(username)) {
        buf_addf(err,
                 "用户名无效：1–64 个字母、数字或 . _ @ -，且不能全是数字 / invalid user name: "
                 "1-64 of letters, digits, . _ @ -, not all digits");
        goto out;
    }
    if (!text_ok(display_name) || !text_ok(employee_no)) {
        buf_addf(err,
                 "姓名或工号无效（最长 %d 字节的 UTF-8）/ invalid display name or employee "
                 "number (UTF-8, at most %d bytes)",
                 TEXT_MAX, TEXT_MAX);
        goto out;
    }
    if (password && (rc = auth_password_check(cfg, username, password, err)) != RC_OK)
        goto out;
    /* Check the name before the slow hash; the insert below still catches
     * a race with another creator. */
    int taken = 0;
    if ((rc = name_taken(d, username, &taken)) != RC_OK)
        goto out;
    if (taken) {
        rc = RC_EXISTS;
        buf_addf(err, "用户名已存在 / user name already taken: %s", username);
        goto out;
    }
    /* No password means a directory user: it signs in through LDAP only. */
    if (password && (rc = auth_hash_password(password, hash)) != RC_OK) {
        buf_addf(err, "服务繁忙，请稍后再试 / busy, try again later");
        goto out;
    }

    if ((rc = db_tx_begin(d->db, &tx)) != RC_OK)
        goto out;
    in_tx = 1;
    rc = RC_DB;
    sqlite3_stmt *st =
        db_stmt(d->cache, "INSERT INTO users(username, display_name, employee_no, source, pwhash,"
                          " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
    if (!st)
        goto out;
    int64_t now = now_unix();
    sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, display_name ? display_name : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, employee_no ? employee_no : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, password ? "local" : "ldap", -1, SQLITE_STATIC);
    if (password)
        sqlite3_bind_text(st, 5, hash, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, now);
    int s = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(d->db);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        if (ext == SQLITE_CONSTRAINT_UNIQUE) {
            rc = RC_EXISTS;
            buf_addf(err, "用户名已存在 / user name already taken: %s", username);
        } else {
            buf_addf(err, "数据库错误 / database error: %s", sqlite3_errmsg(d->db));
        }
        goto out;
    }
    int64_t uid = sqlite3_last_insert_rowid(d->db);
    if (grant_builtin(d, uid, "user") || (admin && grant_builtin(d, uid, "admin"))) {
        buf_addf(err, "数据库错误 / database error: %s", sqlite3_errmsg(d->db));
        goto out;
    }
    rc = db_tx_end(d->db, &tx, 1);
    in_tx = 0;
    if (rc) {
        buf_addf(err, "数据库错误 / database error: %s", sqlite3_errmsg(d->db));
        goto out;
    }
    if (id)
        *id = uid;
out:
    if (in_tx)
        db_tx_end(d->db, &tx, 0);
    return rc;
}

int auth_user_update(struct db_conn *d, int64_t id, const char *display_name,
                     const char *employee_no)
{
    if (!text_ok(display_name) || !text_ok(employee_no))
        return RC_INVALID;
    sqlite3_stmt *st =
        db_stmt(d->cache, "UPDATE users SET display_name = coalesce(?2, display_name),"
                          " employee_no = coalesce(?3, employee_no), updated_at = ?4"
                          " WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    if (display_name)
        sqlite3_bind_text(st, 2, display_name, -1, SQLITE_TRANSIENT);
    if (employee_no)
        sqlite3_bind_text(st, 3, employee_no, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_unix());
    int s = sqlite3_step(st);
    int changed = sqlite3_changes(d->db);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    return changed ? RC_OK : RC_NOT_FOUND;
}

int auth_user_set_disabled(struct db_conn *d, int64_t id, int disabled)
{
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    rc = RC_DB;
    sqlite3_stmt *st =
        db_stmt(d->cache, "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, disabled ? 1 : 0);
    sqlite3_bind_int64(st, 3, now_unix());
    int s = sqlite3_step(st);
    int changed = sqlite3_changes(d->db);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    if (!changed) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    rc = disabled ? auth_sessions_end_user(d, id) : RC_OK;
out:
    if (rc == RC_OK)
        return db_tx_end(d->db, &tx, 1);
    db_tx_end(d->db, &tx, 0);
    return rc;
}

int auth_user_set_password(struct db_conn *d, const struct config *cfg, int64_t id,
                           const char *password, struct buf *err)
{
    struct auth_user u;
    char hash[128] = "";
    int rc = auth_user_get_id(d, id, &u);
    if (rc) {
        if (rc == RC_NOT_FOUND)
            buf_addf(err, "用户不存在 / no such user");
        goto out;
    }
    if (strcmp(u.source, "local") != 0) {
        rc = RC_UNSUPPORTED;
        buf_addf(err, "目录用户的密码在目录中修改 / a directory user's password is changed in "
                      "the directory");
        goto out;
    }
    if ((rc = auth_password_check(cfg, u.username, password, err)) != RC_OK)
        goto out;
    if ((rc = auth_hash_password(password, hash)) != RC_OK) {
        buf_addf(err, "服务繁忙，请稍后再试 / busy, try again later");
        goto out;
    }
    struct db_tx tx;
    if ((rc = db_tx_begin(d->db, &tx)) != RC_OK)
        goto out;
    rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE users SET pwhash = ?2, failed_logins = 0,"
                                         " locked_until = 0, updated_at = ?3 WHERE id = ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now_unix());
        int s = sqlite3_step(st);
        int changed = sqlite3_changes(d->db);
        sqlite3_reset(st);
        if (s == SQLITE_DONE)
            rc = changed ? auth_sessions_end_user(d, id) : RC_NOT_FOUND;
    }
    if (rc == RC_OK) {
        rc = db_tx_end(d->db, &tx, 1);
    } else {
        db_tx_end(d->db, &tx, 0);
    }
    if (rc == RC_DB)
        buf_addf(err, "数据库错误 / database error: %s", sqlite3_errmsg(d->db));
    else if (rc == RC_NOT_FOUND)
        buf_addf(err, "用户不存在 / no such user");
out:
    auth_user_release(&u);
    return rc;
}

/* ---- sign-in ---- */

/* A hash of a random password, verified against for unknown users so that
 * they cost the same as known ones. Made once, on first need. */
static pthread_mutex_t dummy_mu = PTHREAD_MUTEX_INITIALIZER;
static char dummy_hash[128];

static int dummy_verify(const char *password)
{
    int rc = RC_OK;
    pthread_mutex_lock(&dummy_mu);
    if (!dummy_hash[0]) {
        char pw[33];
        random_hex(pw, 16);
        rc = auth_hash_password(pw, dummy_hash);
    }
    pthread_mutex_unlock(&dummy_mu);
    if (rc)
        return rc;
    rc = auth_verify_password(dummy_hash, password);
    return rc == RC_BUSY ? RC_BUSY : RC_DENIED;
}

static int minutes_left(int64_t until, int64_t now)
{
    int64_t m = (until - now + 59) / 60;
    return m < 1 ? 1 : (int)m;
}

/* Failed sign-ins of names that are not accounts, counted like real ones,
 * so that "account locked" never tells a guesser which names exist. Kept in
 * memory (a fixed table keyed by a hash of the name; a full table reuses
 * the slot whose lock ended longest ago), so it costs no write and holds no
 * names. A restart forgets them, as it would forget nothing real. */
#define GHOST_SLOTS 4096
struct ghost {
    uint64_t key; /* 0 = free */
    int failed;
    int64_t until, last;
};
static struct ghost ghosts[GHOST_SLOTS];
static pthread_mutex_t ghost_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t ghost_key(const char *username)
{
    char hex[65];
    uint64_t k = 0;
    sha256_hex(username, strlen(username), hex);
    for (size_t i = 0; i < 16; i++) /* the first 64 bits of the hash */
        k = k << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return k ? k : 1;
}

static struct ghost *ghost_slot(uint64_t key, int64_t now)
{
    struct ghost *victim = &ghosts[key % GHOST_SLOTS];
    for (size_t i = 0; i < 8; i++) { /* a short probe keeps it O(1) */
        struct ghost *g = &ghosts[(key + i) % GHOST_SLOTS];
        if (g->key == key)
            return g;
        if (!g->key || (g->until <= now && g->last < victim->last) ||
            (victim->key && victim->until > now && g->until <= now))
            victim = g;
    }
    memset(victim, 0, sizeof *victim);
    victim->key = key;
    return victim;
}

/* The lock of an unknown name (0 when none); with count, a failure is added
 * first, locking the name at the limit as count_failure does for users. */
static int64_t ghost_lock(const struct config *cfg, const char *username, int count)
{
    int64_t now = now_unix(), until;
    uint64_t key = ghost_key(username ? username : "");
    pthread_mutex_lock(&ghost_mu);
    struct ghost *g = ghost_slot(key, now);
    if (count && g->until <= now) {
        if (g->until)
            g->failed = 0, g->until = 0;
        if (cfg->login_max_failures > 0 && ++g->failed >= cfg->login_max_failures) {
            g->until = now + (int64_t)cfg->login_lockout_min * 60;
            g->failed = 0;
        }
    }
    g->last = now;
    until = g->until > now ? g->until : 0;
    pthread_mutex_unlock(&ghost_mu);
    return until;
}

/* Counts a failed sign-in of user id in a short transaction, locking the
 * account at the limit. *locked_until receives the lock, 0 for none. */
static int count_failure(struct db_conn *d, const struct config *cfg, int64_t id,
                         int64_t *locked_until)
{
    *locked_until = 0;
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    rc = RC_DB;
    int64_t now = now_unix();
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT failed_logins, locked_until FROM users WHERE id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    int64_t failed = 0, until = 0;
    if (s == SQLITE_ROW) {
        failed = sqlite3_column_int64(st, 0);
        until = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (s != SQLITE_ROW) {
        rc = s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
        goto out;
    }
    if (until > now) {
        /* Locked meanwhile by a concurrent attempt. */
        *locked_until = until;
        rc = RC_OK;
        goto out;
    }
    if (until != 0) {
        /* A lockout ran out: count afresh. */
        failed = 0;
        until = 0;
    }
    failed++;
    if (cfg->login_max_failures > 0 && failed >= cfg->login_max_failures) {
        int mins = cfg->login_lockout_min > 0 ? cfg->login_lockout_min : 1;
        until = now + (int64_t)mins * 60;
        *locked_until = until;
        failed = 0;
    }
    st = db_stmt(d->cache, "UPDATE users SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, failed);
    sqlite3_bind_int64(st, 3, until);
    s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s == SQLITE_DONE)
        rc = RC_OK;
out:
    if (rc == RC_OK)
        return db_tx_end(d->db, &tx, 1);
    db_tx_end(d->db, &tx, 0);
    return rc;
}

static int record_success(struct db_conn *d, int64_t id)
{
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE users SET failed_logins = 0, locked_until = 0,"
                                         " last_login_at = ?2 WHERE id = ?1");
    rc = RC_DB;
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now_unix());
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = RC_OK;
        sqlite3_reset(st);
    }
    if (rc == RC_OK)
        return db_tx_end(d->db, &tx, 1);
    db_tx_end(d->db, &tx, 0);
    return rc;
}

int auth_login_local(struct db_conn *d, const struct config *cfg, const char *username,
                     const char *password, int64_t *user_id, struct buf *err)
{
    int rc = RC_DB;
    char *source = NULL, *pwhash = NULL;
    int64_t id = 0, locked_until = 0;
    int disabled = 0, found = 0;
    if (user_id)
        *user_id = 0;
    if (!password)
        password = "";

    if (username && auth_username_valid(username)) {
        sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, source, pwhash, disabled, locked_until"
                                             " FROM users WHERE username = ?1");
        if (!st)
            goto out;
        sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            found = 1;
            id = sqlite3_column_int64(st, 0);
            source = db_col_str(st, 1);
            if (sqlite3_column_type(st, 2) != SQLITE_NULL)
                pwhash = db_col_str(st, 2);
            disabled = sqlite3_column_int(st, 3) != 0;
            locked_until = sqlite3_column_int64(st, 4);
        }
        sqlite3_reset(st);
        if (s != SQLITE_ROW && s != SQLITE_DONE) {
            log_error("auth: reading user failed: %s", sqlite3_errmsg(d->db));
            goto out;
        }
    }

    if (!found) {
        int64_t now = now_unix(), until = ghost_lock(cfg, username, 0);
        if (until > now) {
            rc = RC_DENIED;
            buf_addf(err, "账户已锁定，请 %d 分钟后再试 / account locked, try again in %d minutes",
                     minutes_left(until, now), minutes_left(until, now));
            goto out;
        }
        rc = dummy_verify(password);
        if (rc == RC_BUSY) {
            buf_addf(err, "服务繁忙，请稍后再试 / busy, try again later");
            goto out;
        }
        until = ghost_lock(cfg, username, 1);
        now = now_unix();
        if (until > now)
            buf_addf(err, "账户已锁定，请 %d 分钟后再试 / account locked, try again in %d minutes",
                     minutes_left(until, now), minutes_left(until, now));
        else
            buf_addf(err, MSG_WRONG);
        goto out;
    }
    if (strcmp(source, "local") != 0) {
        rc = RC_UNSUPPORTED;
        buf_addf(err,
                 "该用户通过目录（LDAP）登录 / this user signs in through the directory (LDAP)");
        goto out;
    }
    int64_t now = now_unix();
    if (locked_until > now) {
        rc = RC_DENIED;
        buf_addf(err, "账户已锁定，请 %d 分钟后再试 / account locked, try again in %d minutes",
                 minutes_left(locked_until, now), minutes_left(locked_until, now));
        goto out;
    }

    /* The slow part, outside any transaction of ours. */
    rc = pwhash && pwhash[0] ? auth_verify_password(pwhash, password) : dummy_verify(password);
    if (rc == RC_BUSY) {
        buf_addf(err, "服务繁忙，请稍后再试 / busy, try again later");
        goto out;
    }
    if (rc != RC_OK) {
        int64_t until = 0;
        rc = count_failure(d, cfg, id, &until);
        if (rc) {
            buf_addf(err, "数据库错误 / database error");
            goto out;
        }
        rc = RC_DENIED;
        now = now_unix();
        if (until > now)
            buf_addf(err, "账户已锁定，请 %d 分钟后再试 / account locked, try again in %d minutes",
                     minutes_left(until, now), minutes_left(until, now));
        else
            buf_addf(err, MSG_WRONG);
        goto out;
    }
    /* Only someone who knows the password learns that the account is off. */
    if (disabled) {
        rc = RC_DENIED;
        buf_addf(err, MSG_DISABLED);
        goto out;
    }
    if ((rc = record_success(d, id)) != RC_OK) {
        buf_addf(err, "数据库错误 / database error");
        goto out;
    }
    if (user_id)
        *user_id = id;
out:
    free(source);
    free(pwhash);
    return rc;
}
