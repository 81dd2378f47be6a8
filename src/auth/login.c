/* auth_login: the one password sign-in the server and the CLI call. Local
 * users check their own hash (auth_login_local, with lockout). Directory
 * users, and with LDAP configured any name unknown here, bind to the
 * directory (auth/ldap.h) and are created or updated on success.
 *
 * Lockout of directory users is the directory's business (its password
 * policy, AD's lockout threshold): failed directory sign-ins are not
 * counted here, and a directory lockout comes back as a wrong password.
 * A directory user disabled here stays refused (ldap_sync_user). */
#include "auth/auth.h"

#include "auth/ldap.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define MSG_WRONG "用户名或密码错误 / wrong user name or password"

/* The source of the user called username: 1 and *source (malloc'd) when
 * there is one, 0 when not, -1 on a store error. */
static int user_source(struct db_conn *d, const char *username, char **source)
{
    *source = NULL;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT source FROM users WHERE username = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *source = db_col_str(st, 0);
    sqlite3_reset(st);
    if (s == SQLITE_ROW)
        return 1;
    return s == SQLITE_DONE ? 0 : -1;
}

static int set_last_login(struct db_conn *d, int64_t id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE users SET last_login_at = ?2 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_unix());
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}

int auth_login(struct db_conn *d, const struct config *cfg, const char *username,
               const char *password, int64_t *user_id, struct buf *err)
{
    int rc;
    char *source = NULL;
    int64_t uid = 0;
    struct ldap_identity id;
    memset(&id, 0, sizeof id);
    if (user_id)
        *user_id = 0;

    /* A name we could never store goes the local way: the same generic
     * failure (and the same cost) as any unknown name, and nothing odd is
     * sent to the directory. */
    if (!username || !auth_username_valid(username)) {
        rc = auth_login_local(d, cfg, username, password, user_id, err);
        goto out;
    }
    int found = user_source(d, username, &source);
    if (found < 0) {
        rc = RC_DB;
        log_error("auth: reading user failed: %s", sqlite3_errmsg(d->db));
        buf_addf(err, "数据库错误 / database error");
        goto out;
    }
    int directory_user = found && strcmp(source, "ldap") == 0;
    if ((found && !directory_user) || (!found && !ldap_enabled(cfg))) {
        rc = auth_login_local(d, cfg, username, password, user_id, err);
        goto out;
    }
    if (!ldap_enabled(cfg)) {
        /* A directory user while LDAP is switched off: the same answer as
         * a wrong password (do not tell who exists); the log says why. */
        log_warn("auth: a directory user tried to sign in but ldap_url is not set");
        rc = RC_DENIED;
        buf_addf(err, MSG_WRONG);
        goto out;
    }

    if ((rc = ldap_authenticate(cfg, username, password, &id, err)) != RC_OK)
        goto out;
    if ((rc = ldap_sync_user(d, username, &id, &uid, err)) != RC_OK)
        goto out;
    if ((rc = set_last_login(d, uid)) != RC_OK) {
        log_error("auth: recording a sign-in failed: %s", sqlite3_errmsg(d->db));
        buf_addf(err, "数据库错误 / database error");
        goto out;
    }
    if (user_id)
        *user_id = uid;
out:
    ldap_identity_release(&id);
    free(source);
    return rc;
}
