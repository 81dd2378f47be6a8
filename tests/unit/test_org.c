/* Tests for src/auth/org.c: the org tree (create, find by path / bare
 * name / id, subtree moves, rename, delete), memberships, positions, roles
 * (built-in ones protected) and the clearing of LDAP-sourced links. */
#include "test.h"

#include "auth/auth.h"
#include "auth/org.h"
#include "common/buf.h"
#include "common/rc.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int open_store(const char *name, struct db_conn *d)
{
    char path[512];
    struct buf err = BUF_INIT;
    snprintf(path, sizeof path, "%s/org_%s.db", test_tmpdir(), name);
    remove(path);
    sqlite3 *db = NULL;
    int rc = db_open(path, &db, &err);
    if (rc)
        fprintf(stderr, "db_open: %s\n", buf_str(&err));
    buf_release(&err);
    d->db = db;
    d->cache = db ? db_cache_new(db) : NULL;
    return rc;
}

static void close_store(struct db_conn *d)
{
    db_cache_free(d->cache);
    db_close(d->db);
}

static int64_t add_user(struct db_conn *d, const char *username)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(d->db,
                           "INSERT INTO users(username, created_at, updated_at) VALUES (?1, 0, 0)",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        id = sqlite3_last_insert_rowid(d->db);
    sqlite3_finalize(st);
    return id;
}

/* One integer from SQL with an optional integer parameter ?1 (-1: none). */
static int64_t sql_int(struct db_conn *d, const char *sql, int64_t p1)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (p1 >= 0)
        sqlite3_bind_int64(st, 1, p1);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The materialised path of an org, or "" (static buffer, one at a time). */
static const char *path_of(struct db_conn *d, int64_t id)
{
    static char out[256];
    out[0] = 0;
    json_t *o = NULL;
    if (org_get_json(d, id, &o) == RC_OK) {
        snprintf(out, sizeof out, "%s", json_string_value(json_object_get(o, "path")));
        json_decref(o);
    }
    return out;
}

static const char *names_of(struct db_conn *d, int64_t id)
{
    static char out[512];
    out[0] = 0;
    json_t *o = NULL;
    if (org_get_json(d, id, &o) == RC_OK) {
        snprintf(out, sizeof out, "%s", json_string_value(json_object_get(o, "names")));
        json_decref(o);
    }
    return out;
}

static int64_t mk(struct db_conn *d, const char *name, int64_t parent)
{
    struct buf err = BUF_INIT;
    int64_t id = 0;
    int rc = org_create(d, name, parent, &id, &err);
    if (rc)
        fprintf(stderr, "org_create %s: %s\n", name, buf_str(&err));
    buf_release(&err);
    return rc ? 0 : id;
}

TEST(org_name_rules)
{
    CHECK(org_name_valid("总行"));
    CHECK(org_name_valid("Ops-2"));
    CHECK(org_name_valid("第1支行"));
    CHECK(!org_name_valid(""));
    CHECK(!org_name_valid(NULL));
    CHECK(!org_name_valid("上海/浦东"));
    CHECK(!org_name_valid("0123"));
    CHECK(!org_name_valid("a\tb"));
    CHECK(!org_name_valid("\xe6\x80")); /* cut UTF-8 sequence */
    char s[64 * 3 + 4] = "";
    for (int i = 0; i < 64; i++)
        strcat(s, "行");
    CHECK(org_name_valid(s)); /* 64 characters, 192 bytes */
    strcat(s, "行");
    CHECK(!org_name_valid(s));
}

TEST(org_create_paths_and_find)
{
    struct db_conn d;
    if (open_store("create", &d)) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t bank = mk(&d, "恒远银行", 0);
    int64_t sh = mk(&d, "上海分行", bank);
    int64_t pd = mk(&d, "浦东支行", sh);
    int64_t bj = mk(&d, "北京分行", bank);
    CHECK(bank && sh && pd && bj);
    char want[128];
    snprintf(want, sizeof want, "/%lld/", (long long)bank);
    CHECK_STR(path_of(&d, bank), want);
    snprintf(want, sizeof want, "/%lld/%lld/%lld/", (long long)bank, (long long)sh, (long long)pd);
    CHECK_STR(path_of(&d, pd), want);
    CHECK_STR(names_of(&d, pd), "恒远银行/上海分行/浦东支行");

    int64_t id = 0;
    CHECK_INT(org_find(&d, "恒远银行/上海分行/浦东支行", &id), RC_OK);
    CHECK_INT(id, pd);
    CHECK_INT(org_find(&d, "/恒远银行/北京分行/", &id), RC_OK);
    CHECK_INT(id, bj);
    CHECK_INT(org_find(&d, "浦东支行", &id), RC_OK); /* unique bare name */
    CHECK_INT(id, pd);
    char idstr[32];
    snprintf(idstr, sizeof idstr, "%lld", (long long)sh);
    CHECK_INT(org_find(&d, idstr, &id), RC_OK);
    CHECK_INT(id, sh);
    CHECK_INT(org_find(&d, "恒远银行/北京分行/浦东支行", &id), RC_NOT_FOUND);
    CHECK_INT(org_find(&d, "上海分行/浦东支行", &id), RC_NOT_FOUND); /* not from a root */
    CHECK_INT(org_find(&d, "9999", &id), RC_NOT_FOUND);
    CHECK_INT(org_find(&d, "", &id), RC_NOT_FOUND);
    CHECK_INT(org_find(&d, "/", &id), RC_NOT_FOUND);

    /* The same name under two parents is fine, but ambiguous when bare. */
    int64_t yb1 = mk(&d, "营业部", sh), yb2 = mk(&d, "营业部", bj);
    CHECK(yb1 && yb2 && yb1 != yb2);
    CHECK_INT(org_find(&d, "营业部", &id), RC_NOT_FOUND);
    CHECK_INT(org_find(&d, "恒远银行/北京分行/营业部", &id), RC_OK);
    CHECK_INT(id, yb2);

    CHECK_INT(org_create(&d, "上海分行", bank, &id, &err), RC_EXISTS);
    CHECK_CONTAINS(buf_str(&err), "上海分行");
    buf_reset(&err);
    CHECK_INT(org_create(&d, "a/b", bank, &id, &err), RC_INVALID);
    CHECK_INT(org_create(&d, "2024", bank, &id, &err), RC_INVALID);
    CHECK_INT(org_create(&d, "新分行", 9999, &id, &err), RC_NOT_FOUND);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM orgs", -1), 6);
    buf_release(&err);
    close_store(&d);
}

TEST(org_move_subtree)
{
    struct db_conn d;
    if (open_store("move", &d)) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t root = mk(&d, "总行", 0);
    int64_t a = mk(&d, "华东区", root);
    int64_t a1 = mk(&d, "上海分行", a);
    int64_t a11 = mk(&d, "浦东支行", a1);
    int64_t a12 = mk(&d, "徐汇支行", a1);
    int64_t b = mk(&d, "华北区", root);
    CHECK(root && a && a1 && a11 && a12 && b);

    CHECK_INT(org_move(&d, a, b, &err), RC_OK);
    char want[128];
    snprintf(want, sizeof want, "/%lld/%lld/%lld/", (long long)root, (long long)b, (long long)a);
    CHECK_STR(path_of(&d, a), want);
    snprintf(want, sizeof want, "/%lld/%lld/%lld/%lld/%lld/", (long long)root, (long long)b,
             (long long)a, (long long)a1, (long long)a11);
    CHECK_STR(path_of(&d, a11), want);
    CHECK_STR(names_of(&d, a12), "总行/华北区/华东区/上海分行/徐汇支行");
    CHECK_INT(sql_int(&d, "SELECT coalesce(parent_id, 0) FROM orgs WHERE id = ?1", a), b);
    /* Every path still equals its parent's path plus its own id. */
    CHECK_INT(sql_int(&d,
                      "SELECT count(*) FROM orgs o LEFT JOIN orgs p ON p.id = o.parent_id"
                      " WHERE o.path <> coalesce(p.path, '/') || o.id || '/'",
                      -1),
              0);
    int64_t id = 0;
    CHECK_INT(org_find(&d, "总行/华北区/华东区/上海分行/浦东支行", &id), RC_OK);
    CHECK_INT(id, a11);

    /* Cycles are refused. */
    buf_reset(&err);
    CHECK_INT(org_move(&d, a, a, &err), RC_INVALID);
    CHECK_INT(org_move(&d, a, a11, &err), RC_INVALID);
    CHECK_INT(org_move(&d, root, a12, &err), RC_INVALID);
    CHECK(err.len > 0);
    CHECK_STR(path_of(&d, root), "/1/");

    /* A sibling of the same name at the target. */
    int64_t other = mk(&d, "上海分行", root);
    CHECK(other);
    buf_reset(&err);
    CHECK_INT(org_move(&d, a1, root, &err), RC_EXISTS);
    CHECK_CONTAINS(buf_str(&err), "上海分行");
    CHECK_STR(names_of(&d, a11), "总行/华北区/华东区/上海分行/浦东支行");

    /* To the top level, and unknown ids. */
    CHECK_INT(org_move(&d, a12, 0, &err), RC_OK);
    snprintf(want, sizeof want, "/%lld/", (long long)a12);
    CHECK_STR(path_of(&d, a12), want);
    CHECK_INT(sql_int(&d, "SELECT parent_id IS NULL FROM orgs WHERE id = ?1", a12), 1);
    CHECK_INT(org_move(&d, a12, 9999, &err), RC_NOT_FOUND);
    CHECK_INT(org_move(&d, 9999, root, &err), RC_NOT_FOUND);
    CHECK_INT(org_move(&d, a, b, &err), RC_OK); /* where it already is */
    buf_release(&err);
    close_store(&d);
}

TEST(org_move_leaves_lookalike_paths_alone)
{
    struct db_conn d;
    if (open_store("lookalike", &d)) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t root = mk(&d, "总行", 0); /* id 1 */
    int64_t ids[20];
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "部门%d", i);
        ids[i] = mk(&d, name, root); /* ids 2..21 */
    }
    int64_t child = mk(&d, "科室", ids[0]);    /* under org 2: "/1/2/22/" */
    int64_t child20 = mk(&d, "科室", ids[18]); /* under org 20: "/1/20/23/" */
    CHECK_INT(ids[0], 2);
    CHECK_INT(ids[18], 20);
    CHECK_STR(path_of(&d, child20), "/1/20/23/");
    CHECK_INT(org_move(&d, ids[0], ids[1], &err), RC_OK); /* 2 under 3 */
    CHECK_STR(path_of(&d, child), "/1/3/2/22/");
    CHECK_STR(path_of(&d, child20), "/1/20/23/");
    CHECK_STR(path_of(&d, ids[18]), "/1/20/");
    buf_release(&err);
    close_store(&d);
}

TEST(org_rename_and_delete)
{
    struct db_conn d;
    if (open_store("rename", &d)) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t root = mk(&d, "总行", 0);
    int64_t sh = mk(&d, "上海分行", root);
    int64_t bj = mk(&d, "北京分行", root);
    int64_t pd = mk(&d, "浦东支行", sh);
    int64_t u = add_user(&d, "zhang");
    CHECK(root && sh && bj && pd && u);

    CHECK_INT(org_rename(&d, sh, "上海市分行", &err), RC_OK);
    int64_t id = 0;
    CHECK_INT(org_find(&d, "总行/上海市分行/浦东支行", &id), RC_OK);
    CHECK_INT(id, pd);
    CHECK_INT(org_rename(&d, sh, "上海市分行", &err), RC_OK); /* unchanged */
    CHECK_INT(org_rename(&d, bj, "上海市分行", &err), RC_EXISTS);
    CHECK_INT(org_rename(&d, bj, "", &err), RC_INVALID);
    CHECK_INT(org_rename(&d, 9999, "新名", &err), RC_NOT_FOUND);

    /* Grants, LDAP mappings and memberships go with a deleted org. */
    CHECK_INT(org_member_add(&d, pd, u, "local"), RC_OK);
    char *e = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO kbs(name, kind, created_at) VALUES ('规章', 'enterprise', 0);"
             "INSERT INTO kb_acl(kb_id, subject_type, subject_id, level, created_at)"
             " VALUES (1, 'org', %lld, 1, 0), (1, 'org', %lld, 1, 0), (1, 'position', %lld, 1, 0);"
             "INSERT INTO ldap_maps(match, target_type, target_id)"
             " VALUES ('ou=pd', 'org', %lld), ('ou=bj', 'org', %lld);",
             (long long)pd, (long long)bj, (long long)pd, (long long)pd, (long long)bj);
    CHECK_INT(sqlite3_exec(d.db, sql, NULL, NULL, &e), SQLITE_OK);
    sqlite3_free(e);

    buf_reset(&err);
    CHECK_INT(org_delete(&d, sh, &err), RC_BUSY);
    CHECK_CONTAINS(buf_str(&err), "下级机构");
    CHECK_INT(org_delete(&d, pd, &err), RC_OK);
    CHECK_INT(org_find(&d, "浦东支行", &id), RC_NOT_FOUND);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM org_members WHERE user_id = ?1", u), 0);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM kb_acl WHERE subject_type = 'org'", -1), 1);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM kb_acl WHERE subject_type = 'position'", -1), 1);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM ldap_maps", -1), 1);
    CHECK_INT(org_delete(&d, sh, &err), RC_OK); /* a leaf now */
    CHECK_INT(org_delete(&d, sh, &err), RC_NOT_FOUND);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM orgs", -1), 2);
    buf_release(&err);
    close_store(&d);
}

TEST(org_members_and_tree_json)
{
    struct db_conn d;
    if (open_store("members", &d)) {
        CHECK(0);
        return;
    }
    int64_t root = mk(&d, "总行", 0);
    int64_t sh = mk(&d, "上海分行", root);
    int64_t bj = mk(&d, "北京分行", root);
    int64_t pd = mk(&d, "浦东支行", sh);
    int64_t other = mk(&d, "村镇银行", 0);
    int64_t u1 = add_user(&d, "zhang"), u2 = add_user(&d, "li");
    CHECK(root && sh && bj && pd && other && u1 && u2);

    CHECK_INT(org_member_add(&d, pd, u1, "local"), RC_OK);
    CHECK_INT(org_member_add(&d, pd, u1, "local"), RC_OK); /* again: no error */
    CHECK_INT(org_member_add(&d, pd, u2, NULL), RC_OK);
    CHECK_INT(org_member_add(&d, bj, u1, "ldap"), RC_OK); /* several orgs */
    CHECK_INT(org_member_add(&d, 9999, u1, "local"), RC_NOT_FOUND);
    CHECK_INT(org_member_add(&d, pd, 9999, "local"), RC_NOT_FOUND);
    CHECK_INT(org_member_add(&d, pd, u1, "manual"), RC_INVALID);

    json_t *o = NULL;
    CHECK_INT(org_get_json(&d, pd, &o), RC_OK);
    json_t *m = json_object_get(o, "members");
    CHECK_INT(json_array_size(m), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(m, 0), "username")), "li");
    CHECK_STR(json_string_value(json_object_get(json_array_get(m, 1), "username")), "zhang");
    CHECK_INT(json_integer_value(json_object_get(o, "parent_id")), sh);
    json_decref(o);
    CHECK_INT(org_get_json(&d, root, &o), RC_OK);
    CHECK(json_is_null(json_object_get(o, "parent_id")));
    json_decref(o);
    CHECK_INT(org_get_json(&d, 9999, &o), RC_NOT_FOUND);

    json_t *t = NULL;
    CHECK_INT(org_tree(&d, &t), RC_OK);
    CHECK_INT(json_array_size(t), 2); /* two roots */
    json_t *zh = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v)
    {
        if (json_integer_value(json_object_get(v, "id")) == root)
            zh = v;
    }
    CHECK(zh != NULL);
    if (zh) {
        json_t *kids = json_object_get(zh, "children");
        CHECK_INT(json_array_size(kids), 2);
        json_t *shj = NULL;
        json_array_foreach(kids, i, v)
        {
            if (json_integer_value(json_object_get(v, "id")) == sh)
                shj = v;
        }
        CHECK(shj != NULL);
        json_t *pdj = shj ? json_array_get(json_object_get(shj, "children"), 0) : NULL;
        CHECK_STR(json_string_value(json_object_get(pdj, "name")), "浦东支行");
        CHECK_INT(json_integer_value(json_object_get(pdj, "members")), 2);
        CHECK_INT(json_array_size(json_object_get(pdj, "children")), 0);
        CHECK_STR(json_string_value(json_object_get(pdj, "path")), path_of(&d, pd));
    }
    json_decref(t);

    CHECK_INT(org_member_remove(&d, pd, u1), RC_OK);
    CHECK_INT(org_member_remove(&d, pd, u1), RC_NOT_FOUND);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM org_members", -1), 2);
    close_store(&d);
}

TEST(org_positions)
{
    struct db_conn d;
    if (open_store("positions", &d)) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t teller = 0, mgr = 0, id = 0;
    int64_t u1 = add_user(&d, "zhang"), u2 = add_user(&d, "li");
    CHECK_INT(position_create(&d, "柜员", &teller, &err), RC_OK);
    CHECK_INT(position_create(&d, "客户经理", &mgr, &err), RC_OK);
    CHECK_INT(position_create(&d, "柜员", &id, &err), RC_EXISTS);
    CHECK_INT(position_create(&d, "12", &id, &err), RC_INVALID);
    CHECK_INT(position_find(&d, "客户经理", &id), RC_OK);
    CHECK_INT(id, mgr);
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)teller);
    CHECK_INT(position_find(&d, s, &id), RC_OK);
    CHECK_INT(id, teller);
    CHECK_INT(position_find(&d, "行长", &id), RC_NOT_FOUND);

    CHECK_INT(position_assign(&d, u1, teller, "local"), RC_OK);
    CHECK_INT(position_assign(&d, u2, teller, "ldap"), RC_OK);
    CHECK_INT(position_assign(&d, u2, 9999, "local"), RC_NOT_FOUND);
    json_t *l = NULL;
    CHECK_INT(position_list(&d, &l), RC_OK);
    CHECK_INT(json_array_size(l), 2);
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v)
    {
        int64_t pid = json_integer_value(json_object_get(v, "id"));
        CHECK_INT(json_integer_value(json_object_get(v, "holders")), pid == teller ? 2 : 0);
    }
    json_decref(l);
    CHECK_INT(position_unassign(&d, u1, teller), RC_OK);
    CHECK_INT(position_unassign(&d, u1, teller), RC_NOT_FOUND);

    char *e = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO kbs(name, kind, created_at) VALUES ('规章', 'enterprise', 0);"
             "INSERT INTO kb_acl(kb_id, subject_type, subject_id, level, created_at)"
             " VALUES (1, 'position', %lld, 1, 0);"
             "INSERT INTO ldap_maps(match, target_type, target_id) VALUES ('cn=t', 'position', "
             "%lld);",
             (long long)teller, (long long)teller);
    CHECK_INT(sqlite3_exec(d.db, sql, NULL, NULL, &e), SQLITE_OK);
    sqlite3_free(e);
    CHECK_INT(position_delete(&d, teller), RC_OK);
    CHECK_INT(position_delete(&d, teller), RC_NOT_FOUND);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM kb_acl", -1), 0);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM ldap_maps", -1), 0);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM user_positions", -1), 0);
    buf_release(&err);
    close_store(&d);
}

TEST(org_roles)
{
    struct db_conn d;
    if (open_store("roles", &d)) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t admin = 0, kbadm = 0, user = 0, auditor = 0, id = 0;
    CHECK_INT(role_find(&d, "admin", &admin), RC_OK);
    CHECK_INT(role_find(&d, "kb_admin", &kbadm), RC_OK);
    CHECK_INT(role_find(&d, "user", &user), RC_OK);
    CHECK_INT(role_find(&d, "auditor", &auditor), RC_OK);
    CHECK_INT(role_find(&d, "superuser", &id), RC_NOT_FOUND);

    /* Built-in roles cannot be changed or deleted. */
    CHECK_INT(role_set_perms(&d, admin, AUTH_P_ALL), RC_DENIED);
    CHECK_INT(role_delete(&d, user), RC_DENIED);
    CHECK_INT(sql_int(&d, "SELECT perms FROM roles WHERE id = ?1", admin), 127);
    CHECK_INT(role_delete(&d, 9999), RC_NOT_FOUND);
    CHECK_INT(role_set_perms(&d, 9999, 0), RC_NOT_FOUND);

    int64_t custom = 0;
    CHECK_INT(role_create(&d, "合规专员", AUTH_P_AUDIT | AUTH_P_USERS, &custom, &err), RC_OK);
    CHECK_INT(role_create(&d, "合规专员", 0, &id, &err), RC_EXISTS);
    CHECK_INT(role_create(&d, "坏角色", 0x100, &id, &err), RC_INVALID);
    CHECK_INT(role_set_perms(&d, custom, 0x200), RC_INVALID);
    CHECK_INT(role_set_perms(&d, custom, AUTH_P_AUDIT), RC_OK);

    int64_t u = add_user(&d, "zhang");
    unsigned p = 99;
    CHECK_INT(role_perms_of(&d, u, &p), RC_OK);
    CHECK_INT(p, 0);
    CHECK_INT(role_grant(&d, u, kbadm, "local"), RC_OK);
    CHECK_INT(role_grant(&d, u, custom, "local"), RC_OK);
    CHECK_INT(role_grant(&d, u, 9999, "local"), RC_NOT_FOUND);
    CHECK_INT(role_perms_of(&d, u, &p), RC_OK);
    CHECK_INT(p, AUTH_P_KB_CREATE | AUTH_P_KB_ADMIN | AUTH_P_AUDIT);

    json_t *l = NULL;
    CHECK_INT(role_list(&d, &l), RC_OK);
    CHECK_INT(json_array_size(l), 6);
    size_t i;
    json_t *v;
    int seen = 0;
    json_array_foreach(l, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *perms = json_object_get(v, "perms");
        if (name && strcmp(name, "kb_admin") == 0) {
            seen++;
            CHECK(json_is_true(json_object_get(v, "builtin")));
            CHECK_INT(json_array_size(perms), 2);
            CHECK_STR(json_string_value(json_array_get(perms, 0)), "kb.create");
            CHECK_STR(json_string_value(json_array_get(perms, 1)), "kb.admin");
            CHECK_INT(json_integer_value(json_object_get(v, "holders")), 1);
        }
        if (name && strcmp(name, "合规专员") == 0) {
            seen++;
            CHECK(json_is_false(json_object_get(v, "builtin")));
            CHECK_INT(json_array_size(perms), 1);
            CHECK_STR(json_string_value(json_array_get(perms, 0)), "audit.read");
        }
        if (name && strcmp(name, "admin") == 0) {
            seen++;
            CHECK_INT(json_array_size(perms), 7); /* everything but audit.read */
        }
    }
    CHECK_INT(seen, 3);
    json_decref(l);

    /* Deleting a custom role takes its grants, mappings and holders. */
    char *e = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO kbs(name, kind, created_at) VALUES ('规章', 'enterprise', 0);"
             "INSERT INTO kb_acl(kb_id, subject_type, subject_id, level, created_at)"
             " VALUES (1, 'role', %lld, 1, 0);"
             "INSERT INTO ldap_maps(match, target_type, target_id) VALUES ('cn=c', 'role', %lld);",
             (long long)custom, (long long)custom);
    CHECK_INT(sqlite3_exec(d.db, sql, NULL, NULL, &e), SQLITE_OK);
    sqlite3_free(e);
    CHECK_INT(role_delete(&d, custom), RC_OK);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM kb_acl", -1), 0);
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM ldap_maps", -1), 0);
    CHECK_INT(role_perms_of(&d, u, &p), RC_OK);
    CHECK_INT(p, AUTH_P_KB_CREATE | AUTH_P_KB_ADMIN);
    CHECK_INT(role_revoke(&d, u, kbadm), RC_OK);
    CHECK_INT(role_revoke(&d, u, kbadm), RC_NOT_FOUND);
    buf_release(&err);
    close_store(&d);
}

TEST(org_memberships_and_clear_source)
{
    struct db_conn d;
    if (open_store("memberships", &d)) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t root = mk(&d, "总行", 0);
    int64_t sh = mk(&d, "上海分行", root);
    int64_t bj = mk(&d, "北京分行", root);
    int64_t teller = 0, mgr = 0, user = 0, auditor = 0;
    CHECK_INT(position_create(&d, "柜员", &teller, &err), RC_OK);
    CHECK_INT(position_create(&d, "客户经理", &mgr, &err), RC_OK);
    CHECK_INT(role_find(&d, "user", &user), RC_OK);
    CHECK_INT(role_find(&d, "auditor", &auditor), RC_OK);
    int64_t u = add_user(&d, "zhang"), u2 = add_user(&d, "li");

    CHECK_INT(org_member_add(&d, sh, u, "local"), RC_OK);
    CHECK_INT(org_member_add(&d, bj, u, "ldap"), RC_OK);
    CHECK_INT(org_member_add(&d, bj, u2, "ldap"), RC_OK);
    CHECK_INT(position_assign(&d, u, teller, "ldap"), RC_OK);
    CHECK_INT(position_assign(&d, u, mgr, "ldap"), RC_OK);
    CHECK_INT(position_assign(&d, u, mgr, "local"), RC_OK); /* by hand: now local */
    CHECK_INT(role_grant(&d, u, user, "local"), RC_OK);
    CHECK_INT(role_grant(&d, u, auditor, "ldap"), RC_OK);
    CHECK_INT(role_grant(&d, u, auditor, "ldap"), RC_OK);

    json_t *m = NULL;
    CHECK_INT(org_user_memberships(&d, u, &m), RC_OK);
    json_t *orgs = json_object_get(m, "orgs");
    CHECK_INT(json_array_size(orgs), 2);
    size_t i;
    json_t *v;
    json_array_foreach(orgs, i, v)
    {
        int64_t oid = json_integer_value(json_object_get(v, "id"));
        CHECK_STR(json_string_value(json_object_get(v, "path")), path_of(&d, oid));
        CHECK_STR(json_string_value(json_object_get(v, "names")),
                  oid == sh ? "总行/上海分行" : "总行/北京分行");
        CHECK_STR(json_string_value(json_object_get(v, "source")), oid == sh ? "local" : "ldap");
    }
    CHECK_INT(json_array_size(json_object_get(m, "positions")), 2);
    CHECK_INT(json_array_size(json_object_get(m, "roles")), 2);
    char *dump = json_dumps(m, JSON_COMPACT);
    CHECK_CONTAINS(dump, "\"name\":\"柜员\"");
    CHECK_CONTAINS(dump, "\"name\":\"auditor\"");
    free(dump);
    json_decref(m);

    CHECK_INT(org_clear_source(&d, u, "bogus"), RC_INVALID);
    CHECK_INT(org_clear_source(&d, u, "ldap"), RC_OK);
    CHECK_INT(org_user_memberships(&d, u, &m), RC_OK);
    orgs = json_object_get(m, "orgs");
    json_t *pos = json_object_get(m, "positions"), *roles = json_object_get(m, "roles");
    CHECK_INT(json_array_size(orgs), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(orgs, 0), "id")), sh);
    CHECK_INT(json_array_size(pos), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(pos, 0), "id")), mgr);
    CHECK_INT(json_array_size(roles), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(roles, 0), "name")), "user");
    json_decref(m);
    /* Another user's LDAP rows are untouched. */
    CHECK_INT(sql_int(&d, "SELECT count(*) FROM org_members WHERE user_id = ?1", u2), 1);

    CHECK_INT(org_user_memberships(&d, 9999, &m), RC_OK);
    CHECK_INT(json_array_size(json_object_get(m, "orgs")), 0);
    json_decref(m);
    buf_release(&err);
    close_store(&d);
}
