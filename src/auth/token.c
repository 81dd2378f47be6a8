/* API tokens for other systems: "atr_" + 48 random hex characters, stored
 * as the sha256 of the whole token plus a short prefix to recognise it. */
#include "auth/auth.h"

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <sodium.h>
#include <string.h>

#define TOKEN_RAND_BYTES 24 /* 48 hex characters */
#define TOKEN_LEN (sizeof AUTH_TOKEN_PREFIX - 1 + 2 * TOKEN_RAND_BYTES)
#define PREFIX_LEN 12
#define NAME_MAX_BYTES 64
#define DAYS_MAX 3650
#define USED_EVERY 60 /* seconds between last_used_at writes */

_Static_assert(TOKEN_LEN < 64, "auth_token_create's token[64] is too small");

static int token_shape_ok(const char *token)
{
    const size_t np = sizeof AUTH_TOKEN_PREFIX - 1;
    if (!token || strncmp(token, AUTH_TOKEN_PREFIX, np) != 0)
        return 0;
    size_t i = np;
    for (; token[i]; i++) {
        char c = token[i];
        if (i >= TOKEN_LEN || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return i == TOKEN_LEN;
}

int auth_token_create(struct db_conn *d, int64_t user_id, const char *name, int days,
                      char token[64], int64_t *id, struct buf *err)
{
    int rc = RC_INVALID;
    token[0] = '\0';
    if (!name)
        name = "";
    if (strlen(name) > NAME_MAX_BYTES || !utf8_valid(name, strlen(name))) {
        buf_addf(err, "令牌名称最长 %d 字节 / token name longer than %d bytes", NAME_MAX_BYTES,
                 NAME_MAX_BYTES);
        goto out;
    }
    if (days < 0 || days > DAYS_MAX) {
        buf_addf(err, "有效天数须在 0–%d 之间 / days must be 0..%d", DAYS_MAX, DAYS_MAX);
        goto out;
    }
    rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT 1 FROM users WHERE id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s == SQLITE_DONE) {
        rc = RC_NOT_FOUND;
        buf_addf(err, "用户不存在 / no such user");
        goto out;
    }
    if (s != SQLITE_ROW)
        goto out;
    if (sodium_init() < 0) { /* thread-safe and idempotent */
        rc = RC_INTERNAL;
        goto out;
    }

    char hex[2 * TOKEN_RAND_BYTES + 1], hash[65];
    random_hex(hex, TOKEN_RAND_BYTES);
    memcpy(token, AUTH_TOKEN_PREFIX, sizeof AUTH_TOKEN_PREFIX - 1);
    memcpy(token + sizeof AUTH_TOKEN_PREFIX - 1, hex, sizeof hex);
    sodium_memzero(hex, sizeof hex);
    sha256_hex(token, TOKEN_LEN, hash);
    int64_t now = now_unix();

    st = db_stmt(d->cache, "INSERT INTO api_tokens(token_hash, prefix, name, user_id, created_at,"
                           " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, token, PREFIX_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, user_id);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, days ? now + (int64_t)days * 86400 : 0);
    s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    if (id)
        *id = sqlite3_last_insert_rowid(d->db);
    rc = RC_OK;
out:
    if (rc) {
        if (rc == RC_DB) {
            log_error("auth: creating token failed: %s", sqlite3_errmsg(d->db));
            buf_addf(err, "数据库错误 / database error");
        }
        sodium_memzero(token, 64);
    }
    return rc;
}

int auth_token_check(struct db_conn *d, const char *token, struct auth_principal *out)
{
    memset(out, 0, sizeof *out);
    if (!token_shape_ok(token))
        return RC_DENIED;
    char hash[65];
    sha256_hex(token, TOKEN_LEN, hash);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, user_id, expires_at, revoked_at, last_used_at"
                                         " FROM api_tokens WHERE token_hash = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    int64_t id = 0, user_id = 0, expires_at = 0, revoked_at = 0, last_used = 0;
    if (s == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        user_id = sqlite3_column_int64(st, 1);
        expires_at = sqlite3_column_int64(st, 2);
        revoked_at = sqlite3_column_int64(st, 3);
        last_used = sqlite3_column_int64(st, 4);
    }
    sqlite3_reset(st);
    if (s == SQLITE_DONE)
        return RC_DENIED;
    if (s != SQLITE_ROW) {
        log_error("auth: reading token failed: %s", sqlite3_errmsg(d->db));
        return RC_DB;
    }
    int64_t now = now_unix();
    if (revoked_at != 0 || (expires_at != 0 && expires_at <= now))
        return RC_DENIED;
    int rc = auth_principal_load(d, user_id, out);
    if (rc)
        return rc == RC_DB ? RC_DB : RC_DENIED;
    if (now - last_used >= USED_EVERY) {
        st = db_stmt(d->cache, "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
        s = sqlite3_step(st);
        sqlite3_reset(st);
        if (s != SQLITE_DONE)
            log_warn("auth: recording token use failed: %s", sqlite3_errmsg(d->db));
    }
    out->via = AUTH_VIA_TOKEN;
    out->cred_id = id;
    return RC_OK;
}

int auth_token_list(struct db_conn *d, int64_t user_id, json_t **out)
{
    *out = NULL;
    int rc = RC_DB;
    json_t *a = json_array();
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT t.id, t.name, t.prefix, u.username, t.user_id, t.created_at,"
                          " t.expires_at, t.revoked_at, t.last_used_at"
                          " FROM api_tokens t JOIN users u ON u.id = t.user_id"
                          " WHERE ?1 <= 0 OR t.user_id = ?1 ORDER BY t.id");
    if (!a || !st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "id",
                              (json_int_t)sqlite3_column_int64(st, 0), "name",
                              (const char *)sqlite3_column_text(st, 1), "prefix",
                              (const char *)sqlite3_column_text(st, 2), "user",
                              (const char *)sqlite3_column_text(st, 3), "user_id",
                              (json_int_t)sqlite3_column_int64(st, 4), "created_at",
                              (json_int_t)sqlite3_column_int64(st, 5), "expires_at",
                              (json_int_t)sqlite3_column_int64(st, 6), "revoked_at",
                              (json_int_t)sqlite3_column_int64(st, 7), "last_used_at",
                              (json_int_t)sqlite3_column_int64(st, 8));
        if (!o || json_array_append_new(a, o)) {
            rc = RC_INTERNAL;
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        log_error("auth: listing tokens failed: %s", sqlite3_errmsg(d->db));
        goto out;
    }
    *out = a;
    a = NULL;
    rc = RC_OK;
out:
    if (st)
        sqlite3_reset(st);
    json_decref(a);
    return rc;
}

int auth_token_revoke(struct db_conn *d, int64_t token_id, int64_t owner_id)
{
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT user_id, revoked_at FROM api_tokens WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, token_id);
    int s = sqlite3_step(st);
    int64_t uid = 0, revoked = 0;
    if (s == SQLITE_ROW) {
        uid = sqlite3_column_int64(st, 0);
        revoked = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (s == SQLITE_DONE || (s == SQLITE_ROW && owner_id > 0 && uid != owner_id))
        return RC_NOT_FOUND;
    if (s != SQLITE_ROW)
        return RC_DB;
    if (revoked)
        return RC_OK; /* revoking twice keeps the first time */
    st = db_stmt(d->cache, "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, token_id);
    sqlite3_bind_int64(st, 2, now_unix());
    s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}
