/* Permissions (names and bits) and principals: who is asking, with the
 * union of their roles' permissions. */
#include "auth/auth.h"

#include "common/rc.h"
#include "common/log.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const perm_names[] = {
    "users.manage", "org.manage",    "roles.manage",  "kb.create",
    "kb.admin",     "agents.manage", "models.manage", "audit.read",
};
#define NPERMS (sizeof perm_names / sizeof perm_names[0])

const char *auth_perm_name(unsigned perm)
{
    for (unsigned i = 0; i < NPERMS; i++)
        if (perm == 1u << i)
            return perm_names[i];
    return NULL;
}

unsigned auth_perm_parse(const char *name)
{
    if (!name)
        return 0;
    for (unsigned i = 0; i < NPERMS; i++)
        if (strcmp(name, perm_names[i]) == 0)
            return 1u << i;
    return 0;
}

json_t *auth_perms_json(unsigned perms)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (unsigned i = 0; i < NPERMS; i++)
        if (perms & (1u << i))
            json_array_append_new(a, json_string(perm_names[i]));
    return a;
}

int auth_principal_load(struct db_conn *d, int64_t user_id, struct auth_principal *out)
{
    int rc = RC_DB;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT username, disabled FROM users WHERE id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    if (s != SQLITE_ROW)
        goto out;
    const unsigned char *name = sqlite3_column_text(st, 0);
    snprintf(out->username, sizeof out->username, "%s", name ? (const char *)name : "");
    int disabled = sqlite3_column_int(st, 1);
    sqlite3_reset(st);
    if (disabled) {
        rc = RC_DENIED;
        goto out;
    }
    out->user_id = user_id;

    /* The union is computed here rather than in SQL: SQLite has no bitwise
     * OR aggregate, and a user holds a handful of roles. */
    st = db_stmt(d->cache, "SELECT r.perms FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
                           " WHERE ur.user_id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    unsigned perms = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        perms |= (unsigned)sqlite3_column_int64(st, 0) & AUTH_P_ALL;
    if (s != SQLITE_DONE)
        goto out;
    out->perms = perms;
    rc = RC_OK;
out:
    if (st)
        sqlite3_reset(st);
    if (rc) {
        if (rc == RC_DB)
            log_error("auth: loading principal failed: %s", sqlite3_errmsg(d->db));
        memset(out, 0, sizeof *out);
    }
    return rc;
}

void auth_principal_cli(struct auth_principal *out)
{
    memset(out, 0, sizeof *out);
    const char *login = NULL;
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(geteuid(), &pw, tmp, sizeof tmp, &res) == 0 && res && res->pw_name &&
        res->pw_name[0])
        login = res->pw_name;
    if (!login)
        login = getenv("USER");
    if (!login || !login[0])
        login = "unknown";
    snprintf(out->username, sizeof out->username, "cli:%.60s", login);
    out->user_id = 0;
    out->perms = AUTH_P_ALL;
    out->via = AUTH_VIA_CLI;
}
