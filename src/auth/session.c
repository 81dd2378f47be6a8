/* Browser sessions: a random cookie value (stored as its sha256), a CSRF
 * token, an idle and an absolute expiry. */
#include "auth/auth.h"

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <sodium.h>
#include <string.h>

#define TOKEN_BYTES 32 /* 64 hex characters */
#define IP_MAX 64
#define SEEN_EVERY 60 /* seconds between last_seen writes */

/* True for exactly 64 lower-case hex characters. */
static int token_shape_ok(const char *token)
{
    if (!token)
        return 0;
    size_t i = 0;
    for (; token[i]; i++) {
        char c = token[i];
        if (i >= 2 * TOKEN_BYTES || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return i == 2 * TOKEN_BYTES;
}

int auth_session_create(struct db_conn *d, const struct config *cfg, int64_t user_id,
                        const char *ip, struct auth_session_new *out)
{
    memset(out, 0, sizeof *out);
    /* The session's user must exist and be enabled. */
    struct auth_principal who;
    int rc = auth_principal_load(d, user_id, &who);
    if (rc)
        return rc;
    if (sodium_init() < 0) /* thread-safe and idempotent */
        return RC_INTERNAL;

    char hash[65];
    random_hex(out->token, TOKEN_BYTES);
    random_hex(out->csrf, TOKEN_BYTES);
    sha256_hex(out->token, strlen(out->token), hash);
    int64_t now = now_unix();
    int hours = cfg->session_max_hours > 0 ? cfg->session_max_hours : 12;
    out->expires_at = now + (int64_t)hours * 3600;

    rc = RC_DB;
    /* Drop this user's dead sessions while here: nothing else sweeps them. */
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM sessions WHERE user_id = ?1 AND"
                                         " (expires_at <= ?2 OR last_seen < ?3)");
    if (!st)
        goto out;
    int idle = cfg->session_idle_min > 0 ? cfg->session_idle_min : 0;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, idle ? now - (int64_t)idle * 60 : 0);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;

    st = db_stmt(d->cache, "INSERT INTO sessions(token_hash, csrf, user_id, created_at, last_seen,"
                           " expires_at, ip) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)");
    if (!st)
        goto out;
    size_t iplen = ip ? strlen(ip) : 0;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, out->csrf, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, user_id);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, out->expires_at);
    sqlite3_bind_text(st, 6, ip ? ip : "", (int)(iplen > IP_MAX ? IP_MAX : iplen),
                      SQLITE_TRANSIENT);
    s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    rc = RC_OK;
out:
    if (rc) {
        log_error("auth: creating session failed: %s", sqlite3_errmsg(d->db));
        sodium_memzero(out, sizeof *out);
    }
    return rc;
}

static int delete_session(struct db_conn *d, int64_t id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM sessions WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}

int auth_session_check(struct db_conn *d, const struct config *cfg, const char *token,
                       struct auth_principal *out)
{
    memset(out, 0, sizeof *out);
    if (!token_shape_ok(token))
        return RC_DENIED;
    char hash[65], csrf[65] = "";
    sha256_hex(token, strlen(token), hash);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, csrf, user_id, last_seen, expires_at"
                                         " FROM sessions WHERE token_hash = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    int64_t id = 0, user_id = 0, last_seen = 0, expires_at = 0;
    if (s == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        const unsigned char *c = sqlite3_column_text(st, 1);
        if (c)
            memcpy(csrf, c, strnlen((const char *)c, sizeof csrf - 1));
        user_id = sqlite3_column_int64(st, 2);
        last_seen = sqlite3_column_int64(st, 3);
        expires_at = sqlite3_column_int64(st, 4);
    }
    sqlite3_reset(st);
    if (s == SQLITE_DONE)
        return RC_DENIED;
    if (s != SQLITE_ROW) {
        log_error("auth: reading session failed: %s", sqlite3_errmsg(d->db));
        return RC_DB;
    }

    int64_t now = now_unix();
    int idle = cfg->session_idle_min;
    if (expires_at <= now || (idle > 0 && last_seen + (int64_t)idle * 60 < now)) {
        int rc = delete_session(d, id);
        return rc ? rc : RC_DENIED;
    }
    int rc = auth_principal_load(d, user_id, out);
    if (rc)
        return rc == RC_DB ? RC_DB : RC_DENIED;
    if (now - last_seen > SEEN_EVERY) {
        st = db_stmt(d->cache, "UPDATE sessions SET last_seen = ?2 WHERE id = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
        s = sqlite3_step(st);
        sqlite3_reset(st);
        /* A missed refresh only shortens the idle window: still let it in. */
        if (s != SQLITE_DONE)
            log_warn("auth: refreshing session failed: %s", sqlite3_errmsg(d->db));
    }
    out->via = AUTH_VIA_SESSION;
    out->cred_id = id;
    memcpy(out->csrf, csrf, sizeof out->csrf);
    return RC_OK;
}

int auth_session_end(struct db_conn *d, const char *token)
{
    if (!token_shape_ok(token))
        return RC_OK;
    char hash[65];
    sha256_hex(token, strlen(token), hash);
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM sessions WHERE token_hash = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}

int auth_sessions_end_user(struct db_conn *d, int64_t user_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM sessions WHERE user_id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, user_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}
