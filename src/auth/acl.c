/* KB grants: the rows of kb_acl, and the caller's level on one KB through
 * the same SQL expression (ACL_KB_LEVEL_SQL) every KB query embeds. */
#include "auth/acl.h"

#include "auth/org.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

void acl_bind(sqlite3_stmt *st, const struct auth_principal *who)
{
    if (!who || who->via == AUTH_VIA_CLI) {
        sqlite3_bind_int64(st, 1, who ? who->user_id : 0);
        sqlite3_bind_int(st, 2, 2);
        return;
    }
    sqlite3_bind_int64(st, 1, who->user_id);
    sqlite3_bind_int(st, 2, (who->perms & AUTH_P_KB_ADMIN) ? 1 : 0);
}

/* "none" for ACL_NONE and anything out of range, so that a caller can put
 * the result in JSON without a check. */
const char *acl_level_name(int level)
{
    switch (level) {
    case ACL_READ:
        return "read";
    case ACL_WRITE:
        return "write";
    case ACL_ADMIN:
        return "admin";
    default:
        return "none";
    }
}

int acl_level_parse(const char *s)
{
    if (!s)
        return ACL_NONE;
    if (strcmp(s, "read") == 0)
        return ACL_READ;
    if (strcmp(s, "write") == 0)
        return ACL_WRITE;
    if (strcmp(s, "admin") == 0)
        return ACL_ADMIN;
    return ACL_NONE;
}

/* The names are the kb_acl.subject_type values. NULL for a value that is
 * not a subject. */
const char *acl_subject_name(enum acl_subject s)
{
    switch (s) {
    case ACL_SUBJ_ORG:
        return "org";
    case ACL_SUBJ_POSITION:
        return "position";
    case ACL_SUBJ_ROLE:
        return "role";
    case ACL_SUBJ_USER:
        return "user";
    }
    return NULL;
}

enum acl_subject acl_subject_parse(const char *s)
{
    if (!s)
        return 0;
    if (strcmp(s, "org") == 0)
        return ACL_SUBJ_ORG;
    if (strcmp(s, "position") == 0)
        return ACL_SUBJ_POSITION;
    if (strcmp(s, "role") == 0)
        return ACL_SUBJ_ROLE;
    if (strcmp(s, "user") == 0)
        return ACL_SUBJ_USER;
    return 0;
}

int acl_kb_level(struct db_conn *d, const struct auth_principal *who, int64_t kb_id, int *level)
{
    *level = ACL_NONE;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " ACL_KB_LEVEL_SQL " FROM kbs k WHERE k.id = ?3");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *level = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? RC_OK : RC_DB;
}

/* A user by id or by user name (user names are never all digits, so the
 * two cannot collide; the column compares without case). */
static int user_find(struct db_conn *d, const char *id_or_name, int64_t *id)
{
    int64_t v;
    sqlite3_stmt *st;
    if (parse_i64(id_or_name, 1, INT64_MAX, &v) == RC_OK) {
        st = db_stmt(d->cache, "SELECT id FROM users WHERE id = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, v);
    } else {
        st = db_stmt(d->cache, "SELECT id FROM users WHERE username = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_TRANSIENT);
    }
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

static int subject_find(struct db_conn *d, enum acl_subject type, const char *subject, int64_t *id)
{
    switch (type) {
    case ACL_SUBJ_ORG:
        return org_find(d, subject, id);
    case ACL_SUBJ_POSITION:
        return position_find(d, subject, id);
    case ACL_SUBJ_ROLE:
        return role_find(d, subject, id);
    case ACL_SUBJ_USER:
        return user_find(d, subject, id);
    }
    return RC_INVALID;
}

int acl_grant(struct db_conn *d, int64_t kb_id, enum acl_subject type, const char *subject,
              int level, int64_t *grant_id, struct buf *err)
{
    const char *tname = acl_subject_name(type);
    if (!tname) {
        buf_adds(err, "授权对象类型无效 / invalid subject type (org, position, role, user)");
        return RC_INVALID;
    }
    if (level < ACL_READ || level > ACL_ADMIN) {
        buf_adds(err, "权限级别无效 / invalid level (read, write, admin)");
        return RC_INVALID;
    }
    if (!subject || !*subject) {
        buf_adds(err, "缺少授权对象 / missing subject");
        return RC_INVALID;
    }
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT owner_id IS NOT NULL FROM kbs WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    int r = sqlite3_step(st);
    int owned = r == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (r == SQLITE_DONE) {
        buf_adds(err, "知识库不存在 / knowledge base not found");
        return RC_NOT_FOUND;
    }
    if (r != SQLITE_ROW)
        goto db_error;
    if (owned) {
        buf_adds(err, "个人知识库不能共享 / a personal knowledge base cannot be shared");
        return RC_INVALID;
    }
    int64_t sid = 0;
    int rc = subject_find(d, type, subject, &sid);
    if (rc == RC_NOT_FOUND) {
        buf_addf(err, "授权对象不存在 / %s not found: %s", tname, subject);
        return rc;
    }
    if (rc)
        goto db_error;
    st = db_stmt(d->cache, "INSERT INTO kb_acl(kb_id, subject_type, subject_id, level, created_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)"
                           " ON CONFLICT(kb_id, subject_type, subject_id)"
                           " DO UPDATE SET level = excluded.level RETURNING id");
    if (!st)
        goto db_error;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_text(st, 2, tname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sid);
    sqlite3_bind_int(st, 4, level);
    sqlite3_bind_int64(st, 5, now_unix());
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *grant_id = sqlite3_column_int64(st, 0);
        r = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto db_error;
    return RC_OK;
db_error:
    buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    return RC_DB;
}

int acl_revoke(struct db_conn *d, int64_t kb_id, int64_t grant_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM kb_acl WHERE id = ?1 AND kb_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, grant_id);
    sqlite3_bind_int64(st, 2, kb_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    return sqlite3_changes(d->db) ? RC_OK : RC_NOT_FOUND;
}

/* "subject" is what a person reads: an org's name path from its root, a
 * position's or role's name, a user name; null when the subject row is
 * gone (a grant to a user who no longer exists). */
int acl_list(struct db_conn *d, int64_t kb_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(
        d->cache, "SELECT a.id, a.subject_type, a.subject_id, a.level, CASE a.subject_type"
                  " WHEN 'org' THEN (WITH RECURSIVE up(id, parent_id, names, depth) AS ("
                  "   SELECT id, parent_id, name, 0 FROM orgs WHERE id = a.subject_id"
                  "   UNION ALL SELECT p.id, p.parent_id, p.name || '/' || up.names, up.depth + 1"
                  "   FROM orgs p JOIN up ON p.id = up.parent_id WHERE up.depth < 256)"
                  "   SELECT names FROM up WHERE parent_id IS NULL)"
                  " WHEN 'position' THEN (SELECT name FROM positions WHERE id = a.subject_id)"
                  " WHEN 'role' THEN (SELECT name FROM roles WHERE id = a.subject_id)"
                  " WHEN 'user' THEN (SELECT username FROM users WHERE id = a.subject_id) END"
                  " FROM kb_acl a WHERE a.kb_id = ?1 ORDER BY a.id");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    json_t *arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        const unsigned char *type = sqlite3_column_text(st, 1);
        const unsigned char *name = sqlite3_column_text(st, 4);
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "subject_type", json_string(type ? (const char *)type : ""));
        json_object_set_new(o, "subject_id", json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(o, "subject", name ? json_string((const char *)name) : json_null());
        json_object_set_new(o, "level", json_string(acl_level_name(sqlite3_column_int(st, 3))));
        json_array_append_new(arr, o);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}
