/* The org tree (materialised paths), memberships, positions and roles.
 * Every change that touches several rows runs in one unit of work
 * (db_tx_begin/db_tx_end), so it nests inside a caller's transaction (LDAP
 * sign-in re-applies memberships inside its own). */
#include "auth/org.h"

#include "auth/auth.h"
#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* The result of stepping a write statement to its end: RC_OK, RC_EXISTS
 * (a unique constraint), RC_NOT_FOUND (a foreign key: the row it points at
 * does not exist) or RC_DB. Resets the statement. */
static int step_write(sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(sqlite3_db_handle(st));
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return RC_OK;
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return RC_EXISTS;
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return RC_NOT_FOUND;
    return RC_DB;
}

/* Reads one integer from a statement that returns at most one row:
 * RC_OK, RC_NOT_FOUND (no row) or RC_DB. Resets the statement. */
static int step_int(sqlite3_stmt *st, int64_t *v)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

static int parse_id(const char *s, int64_t *id)
{
    return parse_i64(s, 1, INT64_MAX, id) == RC_OK;
}

static int source_valid(const char *s)
{
    return strcmp(s, "local") == 0 || strcmp(s, "ldap") == 0;
}

/* Finishes a unit of work begun with db_tx_begin: commits when rc is RC_OK
 * (a failed commit becomes RC_DB), undoes otherwise. Returns the result. */
static int tx_finish(struct db_conn *d, struct db_tx *tx, int rc)
{
    int e = db_tx_end(d->db, tx, rc == RC_OK);
    return rc == RC_OK && e ? RC_DB : rc;
}

int org_name_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || !utf8_valid(name, n))
        return 0;
    size_t chars = 0;
    int digits = 1;
    for (size_t i = 0; i < n; chars++) {
        uint32_t cp;
        i += utf8_decode(name + i, n - i, &cp);
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == '/')
            return 0;
        if (cp < '0' || cp > '9')
            digits = 0;
    }
    return chars <= 64 && !digits;
}

static const char NAME_RULE[] =
    "名称无效（1–64 个字符，不含 / 和控制字符，不能全为数字） / invalid name (1–64 "
    "characters, no '/' or control characters, not all digits)";

/* ---- org tree ---- */

struct org_row {
    int64_t id, parent_id; /* parent_id 0 for a root */
    char *name, *path;
};

static void org_row_release(struct org_row *o)
{
    free(o->name);
    free(o->path);
    memset(o, 0, sizeof *o);
}

static int org_load(struct db_conn *d, int64_t id, struct org_row *o)
{
    memset(o, 0, sizeof *o);
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT id, coalesce(parent_id, 0), name, path FROM orgs WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        o->id = sqlite3_column_int64(st, 0);
        o->parent_id = sqlite3_column_int64(st, 1);
        o->name = db_col_str(st, 2);
        o->path = db_col_str(st, 3);
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

/* RC_OK when another org (not `except`) under parent has the name,
 * RC_NOT_FOUND when none does, RC_DB. */
static int sibling_taken(struct db_conn *d, int64_t parent, const char *name, int64_t except)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id FROM orgs WHERE coalesce(parent_id, 0) = ?1"
                                         " AND name = ?2 AND id <> ?3");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, parent);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, except);
    int64_t other;
    return step_int(st, &other);
}

/* "总行/上海分行": the names from the root down to the org. A malloc'd
 * string; NULL when the org does not exist or the store failed. The walk
 * follows parent_id and stops after 256 levels, so that even a cycle a
 * bug might leave in the table cannot hang the query. */
static char *org_names(struct db_conn *d, int64_t id)
{
    sqlite3_stmt *st = db_stmt(
        d->cache, "WITH RECURSIVE up(id, parent_id, names, depth) AS ("
                  " SELECT id, parent_id, name, 0 FROM orgs WHERE id = ?1"
                  " UNION ALL SELECT p.id, p.parent_id, p.name || '/' || up.names, up.depth + 1"
                  " FROM orgs p JOIN up ON p.id = up.parent_id WHERE up.depth < 256)"
                  " SELECT names FROM up WHERE parent_id IS NULL");
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    char *s = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        s = db_col_str(st, 0);
    sqlite3_reset(st);
    return s;
}

int org_create(struct db_conn *d, const char *name, int64_t parent_id, int64_t *id, struct buf *err)
{
    if (!org_name_valid(name)) {
        buf_adds(err, NAME_RULE);
        return RC_INVALID;
    }
    if (parent_id < 0) {
        buf_adds(err, "上级机构不存在 / parent org not found");
        return RC_NOT_FOUND;
    }
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx))
        return RC_DB;
    struct org_row parent = {0};
    int rc = RC_OK;
    if (parent_id > 0 && (rc = org_load(d, parent_id, &parent)) != RC_OK) {
        if (rc == RC_NOT_FOUND)
            buf_adds(err, "上级机构不存在 / parent org not found");
        goto out;
    }
    rc = sibling_taken(d, parent_id, name, 0);
    if (rc == RC_OK) {
        buf_addf(err, "同级已有同名机构 / an org with this name already exists here: %s", name);
        rc = RC_EXISTS;
        goto out;
    }
    if (rc != RC_NOT_FOUND)
        goto out;
    /* The path needs the new id: insert with a placeholder, then set it. */
    sqlite3_stmt *st = db_stmt(d->cache, "INSERT INTO orgs(parent_id, name, path, created_at)"
                                         " VALUES (nullif(?1, 0), ?2, '', ?3)");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, parent_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now_unix());
    if ((rc = step_write(st)) != RC_OK) {
        if (rc == RC_EXISTS)
            buf_addf(err, "同级已有同名机构 / an org with this name already exists here: %s", name);
        goto out;
    }
    int64_t new_id = sqlite3_last_insert_rowid(d->db);
    st = db_stmt(d->cache, "UPDATE orgs SET path = ?2 || id || '/' WHERE id = ?1");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, new_id);
    sqlite3_bind_text(st, 2, parent_id > 0 ? parent.path : "/", -1, SQLITE_TRANSIENT);
    if ((rc = step_write(st)) != RC_OK)
        goto out;
    *id = new_id;
out:
    if (rc == RC_DB)
        buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    org_row_release(&parent);
    return tx_finish(d, &tx, rc);
}

/* Walks a path of names from a root; empty segments (a leading, trailing
 * or doubled '/') are skipped. */
static int org_find_path(struct db_conn *d, const char *s, int64_t *id)
{
    int64_t cur = 0;
    int walked = 0;
    const char *p = s;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len > 0) {
            sqlite3_stmt *st =
                db_stmt(d->cache, "SELECT id FROM orgs"
                                  " WHERE coalesce(parent_id, 0) = ?1 AND name = ?2");
            if (!st)
                return RC_DB;
            sqlite3_bind_int64(st, 1, cur);
            sqlite3_bind_text(st, 2, p, (int)len, SQLITE_TRANSIENT);
            int rc = step_int(st, &cur);
            if (rc)
                return rc;
            walked = 1;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    if (!walked)
        return RC_NOT_FOUND;
    *id = cur;
    return RC_OK;
}

/* A bare name (no '/') finds the one org anywhere in the tree with that
 * name; when several orgs share it (two branches each with a "营业部") the
 * answer is RC_NOT_FOUND, like an unknown name: the caller must then give
 * the full path or the id. A leading '/' ("/营业部") forces the path walk,
 * which reaches a root of that name. */
int org_find(struct db_conn *d, const char *id_or_path, int64_t *id)
{
    if (!id_or_path || !*id_or_path || strlen(id_or_path) > 4096)
        return RC_NOT_FOUND;
    int64_t v;
    if (parse_id(id_or_path, &v)) {
        sqlite3_stmt *st = db_stmt(d->cache, "SELECT id FROM orgs WHERE id = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, v);
        return step_int(st, id);
    }
    if (strchr(id_or_path, '/'))
        return org_find_path(d, id_or_path, id);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id FROM orgs WHERE name = ?1 LIMIT 2");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, id_or_path, -1, SQLITE_TRANSIENT);
    int n = 0, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (n++ == 0)
            v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    if (n != 1)
        return RC_NOT_FOUND;
    *id = v;
    return RC_OK;
}

int org_move(struct db_conn *d, int64_t id, int64_t new_parent, struct buf *err)
{
    struct org_row o = {0}, np = {0};
    struct buf prefix = BUF_INIT;
    struct db_tx tx;
    if (new_parent < 0) {
        buf_adds(err, "上级机构不存在 / parent org not found");
        return RC_NOT_FOUND;
    }
    if (db_tx_begin(d->db, &tx))
        return RC_DB;
    int rc = org_load(d, id, &o);
    if (rc) {
        if (rc == RC_NOT_FOUND)
            buf_adds(err, "机构不存在 / org not found");
        goto out;
    }
    if (new_parent == o.parent_id)
        goto out; /* already there */
    if (new_parent > 0) {
        if (new_parent == id) {
            buf_adds(err, "不能把机构移到自身之下 / an org cannot be moved under itself");
            rc = RC_INVALID;
            goto out;
        }
        if ((rc = org_load(d, new_parent, &np)) != RC_OK) {
            if (rc == RC_NOT_FOUND)
                buf_adds(err, "上级机构不存在 / parent org not found");
            goto out;
        }
        if (strncmp(np.path, o.path, strlen(o.path)) == 0) {
            buf_adds(err, "不能把机构移到其下级机构之下 / an org cannot be moved under its own "
                          "descendant");
            rc = RC_INVALID;
            goto out;
        }
    }
    rc = sibling_taken(d, new_parent, o.name, id);
    if (rc == RC_OK) {
        buf_addf(err, "目标位置已有同名机构 / an org with this name already exists there: %s",
                 o.name);
        rc = RC_EXISTS;
        goto out;
    }
    if (rc != RC_NOT_FOUND)
        goto out;
    if (buf_addf(&prefix, "%s%lld/", new_parent > 0 ? np.path : "/", (long long)id)) {
        rc = RC_INTERNAL;
        goto out;
    }
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE orgs SET parent_id = nullif(?2, 0) WHERE id = ?1");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, new_parent);
    if ((rc = step_write(st)) != RC_OK) {
        if (rc == RC_EXISTS)
            buf_addf(err, "目标位置已有同名机构 / an org with this name already exists there: %s",
                     o.name);
        goto out;
    }
    /* The whole subtree: every path that starts with the old prefix. */
    st = db_stmt(d->cache, "UPDATE orgs SET path = ?1 || substr(path, length(?2) + 1)"
                           " WHERE substr(path, 1, length(?2)) = ?2");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_text(st, 1, buf_str(&prefix), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, o.path, -1, SQLITE_TRANSIENT);
    rc = step_write(st);
out:
    if (rc == RC_DB)
        buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    org_row_release(&o);
    org_row_release(&np);
    buf_release(&prefix);
    return tx_finish(d, &tx, rc);
}

int org_rename(struct db_conn *d, int64_t id, const char *name, struct buf *err)
{
    if (!org_name_valid(name)) {
        buf_adds(err, NAME_RULE);
        return RC_INVALID;
    }
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE orgs SET name = ?2 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    int rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    if (rc == RC_EXISTS)
        buf_addf(err, "同级已有同名机构 / an org with this name already exists here: %s", name);
    else if (rc == RC_NOT_FOUND)
        buf_adds(err, "机构不存在 / org not found");
    else if (rc == RC_DB)
        buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    return rc;
}

/* Deletes the rows that name a subject without a foreign key: KB grants
 * (kb_acl) and LDAP mappings (ldap_maps). type is "org", "position" or
 * "role". */
static int drop_subject_refs(struct db_conn *d, const char *type, int64_t id)
{
    sqlite3_stmt *st =
        db_stmt(d->cache, "DELETE FROM kb_acl WHERE subject_type = ?1 AND subject_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    int rc = step_write(st);
    if (rc)
        return rc;
    st = db_stmt(d->cache, "DELETE FROM ldap_maps WHERE target_type = ?1 AND target_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    return step_write(st);
}

int org_delete(struct db_conn *d, int64_t id, struct buf *err)
{
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx))
        return RC_DB;
    int64_t n = 0;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT (SELECT count(*) FROM orgs WHERE id = ?1),"
                                         " (SELECT count(*) FROM orgs WHERE parent_id = ?1)");
    int rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    int64_t exists = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    n = r == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    if (r != SQLITE_ROW)
        goto out;
    if (!exists) {
        buf_adds(err, "机构不存在 / org not found");
        rc = RC_NOT_FOUND;
        goto out;
    }
    if (n > 0) {
        buf_addf(err,
                 "该机构下还有 %lld 个下级机构，请先移走或删除 / the org still has %lld child "
                 "org(s): move or delete them first",
                 (long long)n, (long long)n);
        rc = RC_BUSY;
        goto out;
    }
    if ((rc = drop_subject_refs(d, "org", id)) != RC_OK)
        goto out;
    /* Memberships go by ON DELETE CASCADE. */
    st = db_stmt(d->cache, "DELETE FROM orgs WHERE id = ?1");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = step_write(st);
out:
    if (rc == RC_DB)
        buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    return tx_finish(d, &tx, rc);
}

struct tree_node {
    int64_t id, parent;
    json_t *obj;
};

static int node_cmp(const void *a, const void *b)
{
    const struct tree_node *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

int org_tree(struct db_conn *d, json_t **out)
{
    *out = NULL;
    struct tree_node *a = NULL, *byid = NULL;
    size_t n = 0, cap = 0;
    json_t *forest = json_array();
    int rc = RC_DB;
    /* Rows in display order (code, then name); children are attached in
     * that order, so every level of the tree is sorted. */
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT o.id, coalesce(o.parent_id, 0), o.name, o.path,"
                          " (SELECT count(*) FROM org_members m WHERE m.org_id = o.id)"
                          " FROM orgs o ORDER BY o.code, o.name, o.id");
    if (!st)
        goto out;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *obj = json_object();
        json_object_set_new(obj, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(obj, "name", json_string(col_text(st, 2)));
        json_object_set_new(obj, "path", json_string(col_text(st, 3)));
        json_object_set_new(obj, "members", json_integer(sqlite3_column_int64(st, 4)));
        json_object_set_new(obj, "children", json_array());
        a = xgrow(a, &cap, n + 1, sizeof *a);
        a[n++] = (struct tree_node){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), obj};
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    byid = xmalloc((n ? n : 1) * sizeof *byid);
    if (n)
        memcpy(byid, a, n * sizeof *a);
    qsort(byid, n, sizeof *byid, node_cmp);
    for (size_t i = 0; i < n; i++) {
        struct tree_node key = {a[i].parent, 0, NULL};
        struct tree_node *p = a[i].parent ? bsearch(&key, byid, n, sizeof *byid, node_cmp) : NULL;
        json_array_append(p ? json_object_get(p->obj, "children") : forest, a[i].obj);
    }
    *out = forest;
    forest = NULL;
    rc = RC_OK;
out:
    for (size_t i = 0; i < n; i++)
        json_decref(a[i].obj);
    free(a);
    free(byid);
    json_decref(forest);
    return rc;
}

int org_get_json(struct db_conn *d, int64_t id, json_t **out)
{
    *out = NULL;
    struct org_row o;
    int rc = org_load(d, id, &o);
    if (rc)
        return rc;
    json_t *obj = json_object();
    char *names = org_names(d, id);
    json_object_set_new(obj, "id", json_integer(o.id));
    json_object_set_new(obj, "name", json_string(o.name));
    json_object_set_new(obj, "parent_id", o.parent_id ? json_integer(o.parent_id) : json_null());
    json_object_set_new(obj, "path", json_string(o.path));
    json_object_set_new(obj, "names", json_string(names ? names : o.name));
    free(names);
    json_t *members = json_array();
    json_object_set_new(obj, "members", members);
    rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT u.id, u.username, u.display_name, m.source"
                                         " FROM org_members m JOIN users u ON u.id = m.user_id"
                                         " WHERE m.org_id = ?1 ORDER BY u.username");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *u = json_object();
        json_object_set_new(u, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(u, "username", json_string(col_text(st, 1)));
        json_object_set_new(u, "display_name", json_string(col_text(st, 2)));
        json_object_set_new(u, "source", json_string(col_text(st, 3)));
        json_array_append_new(members, u);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    *out = obj;
    obj = NULL;
    rc = RC_OK;
out:
    json_decref(obj);
    org_row_release(&o);
    return rc;
}

/* Memberships, positions held and roles held share one shape: a link row
 * (user_id, target, source). sql inserts ?1 user, ?2 target, ?3 source;
 * on conflict an explicit "local" link wins over an "ldap" one, so that a
 * link an admin set by hand survives the next LDAP sign-in. */
static int link_add(struct db_conn *d, const char *sql, int64_t user_id, int64_t target,
                    const char *source)
{
    if (!source)
        source = "local";
    if (!source_valid(source))
        return RC_INVALID;
    sqlite3_stmt *st = db_stmt(d->cache, sql);
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, target);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_TRANSIENT);
    return step_write(st);
}

static int link_remove(struct db_conn *d, const char *sql, int64_t user_id, int64_t target)
{
    sqlite3_stmt *st = db_stmt(d->cache, sql);
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, target);
    int rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    return rc;
}

int org_member_add(struct db_conn *d, int64_t org_id, int64_t user_id, const char *source)
{
    return link_add(d,
                    "INSERT INTO org_members(user_id, org_id, source) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT(user_id, org_id) DO UPDATE SET source ="
                    " CASE WHEN excluded.source = 'local' THEN 'local' ELSE source END",
                    user_id, org_id, source);
}

int org_member_remove(struct db_conn *d, int64_t org_id, int64_t user_id)
{
    return link_remove(d, "DELETE FROM org_members WHERE user_id = ?1 AND org_id = ?2", user_id,
                       org_id);
}

/* ---- positions ---- */

int position_create(struct db_conn *d, const char *name, int64_t *id, struct buf *err)
{
    if (!org_name_valid(name)) {
        buf_adds(err, NAME_RULE);
        return RC_INVALID;
    }
    sqlite3_stmt *st = db_stmt(d->cache, "INSERT INTO positions(name, created_at) VALUES (?1, ?2)");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_unix());
    int rc = step_write(st);
    if (rc == RC_OK)
        *id = sqlite3_last_insert_rowid(d->db);
    else if (rc == RC_EXISTS)
        buf_addf(err, "岗位已存在 / position already exists: %s", name);
    else
        buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    return rc;
}

int position_find(struct db_conn *d, const char *id_or_name, int64_t *id)
{
    if (!id_or_name || !*id_or_name)
        return RC_NOT_FOUND;
    int64_t v;
    sqlite3_stmt *st;
    if (parse_id(id_or_name, &v)) {
        st = db_stmt(d->cache, "SELECT id FROM positions WHERE id = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, v);
    } else {
        st = db_stmt(d->cache, "SELECT id FROM positions WHERE name = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_TRANSIENT);
    }
    return step_int(st, id);
}

/* Deletes a position or a role row with the grants and LDAP mappings that
 * name it (links of users go by ON DELETE CASCADE). */
static int subject_delete(struct db_conn *d, const char *type, const char *sql, int64_t id)
{
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx))
        return RC_DB;
    int rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, sql);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = step_write(st)) != RC_OK)
        goto out;
    if (sqlite3_changes(d->db) == 0) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    rc = drop_subject_refs(d, type, id);
out:
    return tx_finish(d, &tx, rc);
}

int position_delete(struct db_conn *d, int64_t id)
{
    return subject_delete(d, "position", "DELETE FROM positions WHERE id = ?1", id);
}

int position_list(struct db_conn *d, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT p.id, p.name, (SELECT count(*) FROM"
                                         " user_positions u WHERE u.position_id = p.id)"
                                         " FROM positions p ORDER BY p.name, p.id");
    if (!st)
        return RC_DB;
    json_t *a = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "name", json_string(col_text(st, 1)));
        json_object_set_new(o, "holders", json_integer(sqlite3_column_int64(st, 2)));
        json_array_append_new(a, o);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(a);
        return RC_DB;
    }
    *out = a;
    return RC_OK;
}

int position_assign(struct db_conn *d, int64_t user_id, int64_t position_id, const char *source)
{
    return link_add(d,
                    "INSERT INTO user_positions(user_id, position_id, source) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT(user_id, position_id) DO UPDATE SET source ="
                    " CASE WHEN excluded.source = 'local' THEN 'local' ELSE source END",
                    user_id, position_id, source);
}

int position_unassign(struct db_conn *d, int64_t user_id, int64_t position_id)
{
    return link_remove(d, "DELETE FROM user_positions WHERE user_id = ?1 AND position_id = ?2",
                       user_id, position_id);
}

/* ---- roles ---- */

int role_create(struct db_conn *d, const char *name, unsigned perms, int64_t *id, struct buf *err)
{
    if (!org_name_valid(name)) {
        buf_adds(err, NAME_RULE);
        return RC_INVALID;
    }
    if (perms & ~AUTH_P_ALL) {
        buf_adds(err, "未知权限 / unknown permission bits");
        return RC_INVALID;
    }
    sqlite3_stmt *st = db_stmt(d->cache, "INSERT INTO roles(name, perms, builtin, created_at)"
                                         " VALUES (?1, ?2, 0, ?3)");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, perms);
    sqlite3_bind_int64(st, 3, now_unix());
    int rc = step_write(st);
    if (rc == RC_OK)
        *id = sqlite3_last_insert_rowid(d->db);
    else if (rc == RC_EXISTS)
        buf_addf(err, "角色已存在 / role already exists: %s", name);
    else
        buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    return rc;
}

int role_find(struct db_conn *d, const char *id_or_name, int64_t *id)
{
    if (!id_or_name || !*id_or_name)
        return RC_NOT_FOUND;
    int64_t v;
    sqlite3_stmt *st;
    if (parse_id(id_or_name, &v)) {
        st = db_stmt(d->cache, "SELECT id FROM roles WHERE id = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, v);
    } else {
        st = db_stmt(d->cache, "SELECT id FROM roles WHERE name = ?1");
        if (!st)
            return RC_DB;
        sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_TRANSIENT);
    }
    return step_int(st, id);
}

/* RC_OK for a custom role, RC_DENIED for a built-in one, RC_NOT_FOUND. */
static int role_changeable(struct db_conn *d, int64_t id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT builtin FROM roles WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    int64_t builtin = 0;
    int rc = step_int(st, &builtin);
    return rc ? rc : builtin ? RC_DENIED : RC_OK;
}

int role_set_perms(struct db_conn *d, int64_t id, unsigned perms)
{
    if (perms & ~AUTH_P_ALL)
        return RC_INVALID;
    int rc = role_changeable(d, id);
    if (rc)
        return rc;
    sqlite3_stmt *st =
        db_stmt(d->cache, "UPDATE roles SET perms = ?2 WHERE id = ?1 AND builtin = 0");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, perms);
    rc = step_write(st);
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    return rc;
}

int role_delete(struct db_conn *d, int64_t id)
{
    int rc = role_changeable(d, id);
    if (rc)
        return rc;
    return subject_delete(d, "role", "DELETE FROM roles WHERE id = ?1 AND builtin = 0", id);
}

int role_list(struct db_conn *d, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT r.id, r.name, r.perms, r.builtin,"
                          " (SELECT count(*) FROM user_roles u WHERE u.role_id = r.id)"
                          " FROM roles r ORDER BY r.builtin DESC, r.id");
    if (!st)
        return RC_DB;
    json_t *a = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "name", json_string(col_text(st, 1)));
        json_object_set_new(o, "perms",
                            auth_perms_json((unsigned)sqlite3_column_int64(st, 2) & AUTH_P_ALL));
        json_object_set_new(o, "builtin", json_boolean(sqlite3_column_int(st, 3)));
        json_object_set_new(o, "holders", json_integer(sqlite3_column_int64(st, 4)));
        json_array_append_new(a, o);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(a);
        return RC_DB;
    }
    *out = a;
    return RC_OK;
}

int role_grant(struct db_conn *d, int64_t user_id, int64_t role_id, const char *source)
{
    return link_add(d,
                    "INSERT INTO user_roles(user_id, role_id, source) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT(user_id, role_id) DO UPDATE SET source ="
                    " CASE WHEN excluded.source = 'local' THEN 'local' ELSE source END",
                    user_id, role_id, source);
}

int role_revoke(struct db_conn *d, int64_t user_id, int64_t role_id)
{
    return link_remove(d, "DELETE FROM user_roles WHERE user_id = ?1 AND role_id = ?2", user_id,
                       role_id);
}

int role_perms_of(struct db_conn *d, int64_t user_id, unsigned *perms)
{
    *perms = 0;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT r.perms FROM user_roles u"
                                         " JOIN roles r ON r.id = u.role_id WHERE u.user_id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, user_id);
    unsigned p = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        p |= (unsigned)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    *perms = p & AUTH_P_ALL;
    return RC_OK;
}

/* Appends {"id","name","source"} rows of a (id, name, source) query. */
static int rows_json(sqlite3_stmt *st, json_t *a)
{
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "name", json_string(col_text(st, 1)));
        json_object_set_new(o, "source", json_string(col_text(st, 2)));
        json_array_append_new(a, o);
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? RC_OK : RC_DB;
}

/* The orgs carry "path" (ids) and "names" ("总行/上海分行"); every entry
 * also says which source ("local", "ldap") put the user there. */
int org_user_memberships(struct db_conn *d, int64_t user_id, json_t **out)
{
    *out = NULL;
    int rc = RC_DB;
    json_t *res = json_object(), *orgs = json_array(), *pos = json_array(), *roles = json_array();
    json_object_set_new(res, "orgs", orgs);
    json_object_set_new(res, "positions", pos);
    json_object_set_new(res, "roles", roles);
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT o.id, o.name, m.source FROM org_members m"
                                         " JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?1"
                                         " ORDER BY o.path");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    if ((rc = rows_json(st, orgs)) != RC_OK)
        goto out;
    rc = RC_DB;
    /* Paths and name paths, once the listing statement is done. */
    size_t i;
    json_t *o;
    json_array_foreach(orgs, i, o)
    {
        int64_t id = json_integer_value(json_object_get(o, "id"));
        struct org_row row;
        if (org_load(d, id, &row))
            goto out;
        char *names = org_names(d, id);
        json_object_set_new(o, "path", json_string(row.path));
        json_object_set_new(o, "names", json_string(names ? names : row.name));
        free(names);
        org_row_release(&row);
    }
    st = db_stmt(d->cache, "SELECT p.id, p.name, u.source FROM user_positions u"
                           " JOIN positions p ON p.id = u.position_id WHERE u.user_id = ?1"
                           " ORDER BY p.name");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    if ((rc = rows_json(st, pos)) != RC_OK)
        goto out;
    rc = RC_DB;
    st = db_stmt(d->cache, "SELECT r.id, r.name, u.source FROM user_roles u"
                           " JOIN roles r ON r.id = u.role_id WHERE u.user_id = ?1 ORDER BY r.id");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    if ((rc = rows_json(st, roles)) != RC_OK)
        goto out;
    *out = res;
    res = NULL;
out:
    json_decref(res);
    return rc;
}

int org_clear_source(struct db_conn *d, int64_t user_id, const char *source)
{
    if (!source || !source_valid(source))
        return RC_INVALID;
    static const char *const sql[] = {
        "DELETE FROM org_members WHERE user_id = ?1 AND source = ?2",
        "DELETE FROM user_positions WHERE user_id = ?1 AND source = ?2",
        "DELETE FROM user_roles WHERE user_id = ?1 AND source = ?2",
    };
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx))
        return RC_DB;
    int rc = RC_OK;
    for (size_t i = 0; i < sizeof sql / sizeof sql[0] && rc == RC_OK; i++) {
        sqlite3_stmt *st = db_stmt(d->cache, sql[i]);
        if (!st) {
            rc = RC_DB;
            break;
        }
        sqlite3_bind_int64(st, 1, user_id);
        sqlite3_bind_text(st, 2, source, -1, SQLITE_TRANSIENT);
        rc = step_write(st);
    }
    return tx_finish(d, &tx, rc);
}
