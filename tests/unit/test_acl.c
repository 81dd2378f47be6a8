/* Tests for src/auth/acl.c: a permission matrix of users × KBs derived by
 * hand from the grants (org subtree, position, single user, role, personal
 * KB), kb.admin, the effect of moving an org and of revoking, refused
 * grants, and the grant listing. */
#include "test.h"

#include "auth/acl.h"
#include "auth/auth.h"
#include "auth/org.h"
#include "common/buf.h"
#include "common/rc.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ZHANG, LI, WANG, ZHAO, QIAN, SUN, NUSERS };
enum { K_SH, K_TELLER, K_ONE, K_PERSONAL, K_NONE, NKBS };

static const char *const user_names[NUSERS] = {"zhang", "li", "wang", "zhao", "qian", "sun"};

struct fx {
    struct db_conn d;
    int64_t hq, sh, pd, bj, cy; /* 总行, 上海分行, 浦东支行, 北京分行, 朝阳支行 */
    int64_t teller, ops, mgr;   /* 柜员, 运营主管, 客户经理 */
    int64_t user[NUSERS];
    int64_t kb[NKBS];
    int64_t g_sh, g_teller, g_pd, g_one; /* grant ids */
};

static int64_t exec_insert(struct db_conn *d, const char *sql, const char *s, int64_t i)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (s)
        sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
    if (i)
        sqlite3_bind_int64(st, 2, i);
    if (sqlite3_step(st) == SQLITE_DONE)
        id = sqlite3_last_insert_rowid(d->db);
    sqlite3_finalize(st);
    return id;
}

static int64_t add_kb(struct db_conn *d, const char *name, int64_t owner)
{
    return exec_insert(d,
                       owner ? "INSERT INTO kbs(name, kind, owner_id, created_at)"
                               " VALUES (?1, 'personal', ?2, 0)"
                             : "INSERT INTO kbs(name, kind, owner_id, created_at)"
                               " VALUES (?1, 'enterprise', NULL, 0)",
                       name, owner);
}

/* The bank of the matrix:
 *   总行 ─┬─ 上海分行 ── 浦东支行
 *        └─ 北京分行 ── 朝阳支行
 *   zhang: 浦东支行, 柜员      li: 上海分行, 客户经理   wang: 北京分行, 柜员
 *   zhao: 朝阳支行, 运营主管   qian: 总行               sun: 北京分行, 客户经理
 * KBs and grants:
 *   上海制度 (K_SH):      org 上海分行 (subtree) read
 *   柜面手册 (K_TELLER):  position 柜员 read, org 浦东支行 write
 *   专项 (K_ONE):         user sun write
 *   li的笔记 (K_PERSONAL): owned by li
 *   空库 (K_NONE):        no grants */
static int setup(struct fx *f, const char *name)
{
    memset(f, 0, sizeof *f);
    char path[512];
    struct buf err = BUF_INIT;
    snprintf(path, sizeof path, "%s/acl_%s.db", test_tmpdir(), name);
    remove(path);
    sqlite3 *db = NULL;
    int rc = db_open(path, &db, &err);
    if (rc)
        goto out;
    f->d = (struct db_conn){db, db_cache_new(db)};
    struct db_conn *d = &f->d;
    rc = RC_INTERNAL;
    if (org_create(d, "总行", 0, &f->hq, &err) || org_create(d, "上海分行", f->hq, &f->sh, &err) ||
        org_create(d, "浦东支行", f->sh, &f->pd, &err) ||
        org_create(d, "北京分行", f->hq, &f->bj, &err) ||
        org_create(d, "朝阳支行", f->bj, &f->cy, &err) ||
        position_create(d, "柜员", &f->teller, &err) ||
        position_create(d, "运营主管", &f->ops, &err) ||
        position_create(d, "客户经理", &f->mgr, &err))
        goto out;
    const int64_t org_of[NUSERS] = {f->pd, f->sh, f->bj, f->cy, f->hq, f->bj};
    const int64_t pos_of[NUSERS] = {f->teller, f->mgr, f->teller, f->ops, 0, f->mgr};
    for (int i = 0; i < NUSERS; i++) {
        f->user[i] = exec_insert(d,
                                 "INSERT INTO users(username, created_at, updated_at)"
                                 " VALUES (?1, 0, 0)",
                                 user_names[i], 0);
        if (!f->user[i] ||
            !exec_insert(d,
                         "INSERT INTO user_roles(user_id, role_id)"
                         " SELECT ?2, id FROM roles WHERE name = ?1",
                         "user", f->user[i]) ||
            org_member_add(d, org_of[i], f->user[i], "local") ||
            (pos_of[i] && position_assign(d, f->user[i], pos_of[i], "local")))
            goto out;
    }
    f->kb[K_SH] = add_kb(d, "上海制度", 0);
    f->kb[K_TELLER] = add_kb(d, "柜面手册", 0);
    f->kb[K_ONE] = add_kb(d, "专项", 0);
    f->kb[K_PERSONAL] = add_kb(d, "li的笔记", f->user[LI]);
    f->kb[K_NONE] = add_kb(d, "空库", 0);
    for (int i = 0; i < NKBS; i++)
        if (!f->kb[i])
            goto out;
    if (acl_grant(d, f->kb[K_SH], ACL_SUBJ_ORG, "总行/上海分行", ACL_READ, &f->g_sh, &err) ||
        acl_grant(d, f->kb[K_TELLER], ACL_SUBJ_POSITION, "柜员", ACL_READ, &f->g_teller, &err) ||
        acl_grant(d, f->kb[K_TELLER], ACL_SUBJ_ORG, "浦东支行", ACL_WRITE, &f->g_pd, &err) ||
        acl_grant(d, f->kb[K_ONE], ACL_SUBJ_USER, "sun", ACL_WRITE, &f->g_one, &err))
        goto out;
    rc = RC_OK;
out:
    if (rc)
        fprintf(stderr, "acl setup failed: %s\n", buf_str(&err));
    buf_release(&err);
    return rc;
}

static void teardown(struct fx *f)
{
    db_cache_free(f->d.cache);
    db_close(f->d.db);
}

static struct auth_principal who(int64_t user_id, unsigned perms)
{
    struct auth_principal p;
    memset(&p, 0, sizeof p);
    p.user_id = user_id;
    p.perms = perms;
    return p;
}

static int level(struct fx *f, int64_t user_id, unsigned perms, int64_t kb)
{
    struct auth_principal p = who(user_id, perms);
    int lv = -1;
    if (acl_kb_level(&f->d, &p, kb, &lv) != RC_OK)
        return -1;
    return lv;
}

/* Compares every user × KB with a table; reports each mismatch. */
static void check_matrix(struct fx *f, const int want[NUSERS][NKBS], int line)
{
    for (int u = 0; u < NUSERS; u++)
        for (int k = 0; k < NKBS; k++) {
            int got = level(f, f->user[u], 0, f->kb[k]);
            if (got != want[u][k])
                test_fail(__FILE__, line, "user %s on KB %d: level %d, expected %d", user_names[u],
                          k, got, want[u][k]);
        }
}

TEST(acl_matrix_from_grants)
{
    struct fx f;
    if (setup(&f, "matrix")) {
        CHECK(0);
        return;
    }
    /* K_SH K_TELLER K_ONE K_PERSONAL K_NONE */
    static const int want[NUSERS][NKBS] = {
        /* zhang: 浦东 ⊂ 上海 → read; 柜员 read + 浦东 write → write */
        {1, 2, 0, 0, 0},
        /* li: 上海分行 itself; owner of the personal KB */
        {1, 0, 0, 3, 0},
        /* wang: 柜员 only */
        {0, 1, 0, 0, 0},
        /* zhao: nothing */
        {0, 0, 0, 0, 0},
        /* qian: 总行 is above 上海分行: a subtree grant does not reach up */
        {0, 0, 0, 0, 0},
        /* sun: the single-user grant */
        {0, 0, 2, 0, 0},
    };
    check_matrix(&f, want, __LINE__);
    /* A KB that does not exist, and a user that does not exist. */
    CHECK_INT(level(&f, f.user[LI], 0, 9999), ACL_NONE);
    CHECK_INT(level(&f, 9999, 0, f.kb[K_TELLER]), ACL_NONE);
    teardown(&f);
}

TEST(acl_kb_admin_sees_enterprise_not_personal)
{
    struct fx f;
    if (setup(&f, "kbadmin")) {
        CHECK(0);
        return;
    }
    for (int k = 0; k < NKBS; k++) {
        int want = k == K_PERSONAL ? 0 : 3;
        CHECK_INT(level(&f, f.user[ZHAO], AUTH_P_KB_ADMIN, f.kb[k]), want);
        /* A principal with every permission but no user is no owner either. */
        CHECK_INT(level(&f, 0, AUTH_P_ALL, f.kb[k]), want);
        /* The CLI operator on the server (or no principal) reads everything. */
        struct auth_principal cli;
        auth_principal_cli(&cli);
        int lv = -1;
        CHECK_INT(acl_kb_level(&f.d, &cli, f.kb[k], &lv), RC_OK);
        CHECK_INT(lv, 3);
        lv = -1;
        CHECK_INT(acl_kb_level(&f.d, NULL, f.kb[k], &lv), RC_OK);
        CHECK_INT(lv, 3);
        /* Other permissions do not open KBs. */
        CHECK_INT(level(&f, f.user[ZHAO], AUTH_P_ALL & ~AUTH_P_KB_ADMIN, f.kb[k]), 0);
    }
    /* The owner is admin of the personal KB whatever else they hold. */
    CHECK_INT(level(&f, f.user[LI], AUTH_P_KB_ADMIN, f.kb[K_PERSONAL]), 3);

    /* The expression filters a listing query the same way (?3: a bound
     * parameter after the two the expression takes). */
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(f.d.db,
                                 "SELECT count(*) FROM kbs k WHERE " ACL_KB_LEVEL_SQL " >= ?3", -1,
                                 &st, NULL),
              SQLITE_OK);
    struct auth_principal p = who(f.user[ZHANG], 0);
    acl_bind(st, &p);
    sqlite3_bind_int(st, 3, ACL_READ);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 2);
    sqlite3_reset(st);
    p = who(f.user[LI], AUTH_P_KB_ADMIN);
    acl_bind(st, &p);
    sqlite3_bind_int(st, 3, ACL_ADMIN);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 5);
    sqlite3_finalize(st);
    teardown(&f);
}

TEST(acl_grant_to_role)
{
    struct fx f;
    if (setup(&f, "role")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t rid = 0, gid = 0, gid2 = 0;
    CHECK_INT(role_create(&f.d, "合规检查", 0, &rid, &err), RC_OK);
    CHECK_INT(role_grant(&f.d, f.user[QIAN], rid, "local"), RC_OK);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_ROLE, "合规检查", ACL_READ, &gid, &err),
              RC_OK);
    /* The built-in role "user" that everyone holds, by id. */
    char s[32];
    int64_t user_role = 0;
    CHECK_INT(role_find(&f.d, "user", &user_role), RC_OK);
    snprintf(s, sizeof s, "%lld", (long long)user_role);
    CHECK_INT(acl_grant(&f.d, f.kb[K_ONE], ACL_SUBJ_ROLE, s, ACL_READ, &gid2, &err), RC_OK);
    static const int want[NUSERS][NKBS] = {
        {1, 2, 1, 0, 0}, /* zhang */
        {1, 0, 1, 3, 0}, /* li */
        {0, 1, 1, 0, 0}, /* wang */
        {0, 0, 1, 0, 0}, /* zhao */
        {0, 0, 1, 0, 1}, /* qian: holds 合规检查 */
        {0, 0, 2, 0, 0}, /* sun: write beats the role's read */
    };
    check_matrix(&f, want, __LINE__);
    /* Losing the role loses the access. */
    CHECK_INT(role_revoke(&f.d, f.user[QIAN], rid), RC_OK);
    CHECK_INT(level(&f, f.user[QIAN], 0, f.kb[K_NONE]), 0);
    buf_release(&err);
    teardown(&f);
}

TEST(acl_org_move_changes_access)
{
    struct fx f;
    if (setup(&f, "move")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t gid = 0;
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_ORG, "总行/北京分行", ACL_READ, &gid, &err),
              RC_OK);
    CHECK_INT(level(&f, f.user[ZHANG], 0, f.kb[K_SH]), 1);
    CHECK_INT(level(&f, f.user[ZHANG], 0, f.kb[K_NONE]), 0);
    CHECK_INT(org_move(&f.d, f.pd, f.bj, &err), RC_OK);
    /* 浦东支行 is now under 北京分行: out of 上海's subtree, into 北京's. */
    static const int want[NUSERS][NKBS] = {
        {0, 2, 0, 0, 1}, /* zhang */
        {1, 0, 0, 3, 0}, /* li */
        {0, 1, 0, 0, 1}, /* wang */
        {0, 0, 0, 0, 1}, /* zhao: 朝阳支行 under 北京分行 */
        {0, 0, 0, 0, 0}, /* qian */
        {0, 0, 2, 0, 1}, /* sun */
    };
    check_matrix(&f, want, __LINE__);
    /* Moving 北京分行 (with 浦东支行 and 朝阳支行) under 上海分行. */
    CHECK_INT(org_move(&f.d, f.bj, f.sh, &err), RC_OK);
    CHECK_INT(level(&f, f.user[ZHANG], 0, f.kb[K_SH]), 1);
    CHECK_INT(level(&f, f.user[ZHAO], 0, f.kb[K_SH]), 1);
    CHECK_INT(level(&f, f.user[QIAN], 0, f.kb[K_SH]), 0);
    buf_release(&err);
    teardown(&f);
}

TEST(acl_revoke_removes_access)
{
    struct fx f;
    if (setup(&f, "revoke")) {
        CHECK(0);
        return;
    }
    CHECK_INT(acl_revoke(&f.d, f.kb[K_SH], f.g_teller), RC_NOT_FOUND); /* other KB's grant */
    CHECK_INT(acl_revoke(&f.d, f.kb[K_TELLER], f.g_teller), RC_OK);
    CHECK_INT(acl_revoke(&f.d, f.kb[K_TELLER], f.g_teller), RC_NOT_FOUND);
    CHECK_INT(level(&f, f.user[WANG], 0, f.kb[K_TELLER]), 0);
    CHECK_INT(level(&f, f.user[ZHANG], 0, f.kb[K_TELLER]), 2); /* 浦东 write remains */
    CHECK_INT(acl_revoke(&f.d, f.kb[K_ONE], f.g_one), RC_OK);
    CHECK_INT(level(&f, f.user[SUN], 0, f.kb[K_ONE]), 0);
    /* Deleting a position or an org also removes its grants. */
    CHECK_INT(position_delete(&f.d, f.teller), RC_OK);
    struct buf err = BUF_INIT;
    CHECK_INT(org_delete(&f.d, f.pd, &err), RC_OK);
    CHECK_INT(level(&f, f.user[ZHANG], 0, f.kb[K_TELLER]), 0);
    json_t *l = NULL;
    CHECK_INT(acl_list(&f.d, f.kb[K_TELLER], &l), RC_OK);
    CHECK_INT(json_array_size(l), 0);
    json_decref(l);
    buf_release(&err);
    teardown(&f);
}

TEST(acl_grant_refusals_and_updates)
{
    struct fx f;
    if (setup(&f, "refuse")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t gid = 0;
    CHECK_INT(acl_grant(&f.d, f.kb[K_PERSONAL], ACL_SUBJ_USER, "zhang", ACL_READ, &gid, &err),
              RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "个人知识库");
    CHECK_INT(level(&f, f.user[ZHANG], 0, f.kb[K_PERSONAL]), 0);
    CHECK_INT(acl_grant(&f.d, 9999, ACL_SUBJ_USER, "zhang", ACL_READ, &gid, &err), RC_NOT_FOUND);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_USER, "nobody", ACL_READ, &gid, &err),
              RC_NOT_FOUND);
    CHECK_INT(
        acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_ORG, "总行/上海分行/不存在", ACL_READ, &gid, &err),
        RC_NOT_FOUND);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_POSITION, "行长", ACL_READ, &gid, &err),
              RC_NOT_FOUND);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_ROLE, "nobody", ACL_READ, &gid, &err),
              RC_NOT_FOUND);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_USER, "zhang", 0, &gid, &err), RC_INVALID);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_USER, "zhang", 4, &gid, &err), RC_INVALID);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], (enum acl_subject)9, "zhang", 1, &gid, &err),
              RC_INVALID);
    CHECK_INT(acl_grant(&f.d, f.kb[K_NONE], ACL_SUBJ_USER, "", 1, &gid, &err), RC_INVALID);

    /* Re-granting changes the level of the same row. User names compare
     * without case; ids work too. */
    int64_t g2 = 0;
    CHECK_INT(acl_grant(&f.d, f.kb[K_ONE], ACL_SUBJ_USER, "SUN", ACL_ADMIN, &g2, &err), RC_OK);
    CHECK_INT(g2, f.g_one);
    CHECK_INT(level(&f, f.user[SUN], 0, f.kb[K_ONE]), 3);
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)f.user[SUN]);
    CHECK_INT(acl_grant(&f.d, f.kb[K_ONE], ACL_SUBJ_USER, s, ACL_READ, &g2, &err), RC_OK);
    CHECK_INT(g2, f.g_one);
    CHECK_INT(level(&f, f.user[SUN], 0, f.kb[K_ONE]), 1);
    buf_release(&err);
    teardown(&f);
}

TEST(acl_list_names_subjects)
{
    struct fx f;
    if (setup(&f, "list")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    int64_t gid = 0;
    CHECK_INT(acl_grant(&f.d, f.kb[K_TELLER], ACL_SUBJ_ROLE, "auditor", ACL_ADMIN, &gid, &err),
              RC_OK);
    CHECK_INT(acl_grant(&f.d, f.kb[K_TELLER], ACL_SUBJ_USER, "li", ACL_WRITE, &gid, &err), RC_OK);
    json_t *l = NULL;
    CHECK_INT(acl_list(&f.d, f.kb[K_TELLER], &l), RC_OK);
    CHECK_INT(json_array_size(l), 4);
    char *s = json_dumps(l, JSON_COMPACT);
    CHECK_CONTAINS(s, "\"subject_type\":\"position\"");
    free(s);
    static const char *const want[4][3] = {
        {"position", "柜员", "read"},
        {"org", "总行/上海分行/浦东支行", "write"},
        {"role", "auditor", "admin"},
        {"user", "li", "write"},
    };
    for (size_t i = 0; i < 4 && i < json_array_size(l); i++) {
        json_t *g = json_array_get(l, i);
        CHECK_STR(json_string_value(json_object_get(g, "subject_type")), want[i][0]);
        CHECK_STR(json_string_value(json_object_get(g, "subject")), want[i][1]);
        CHECK_STR(json_string_value(json_object_get(g, "level")), want[i][2]);
    }
    CHECK_INT(json_integer_value(json_object_get(json_array_get(l, 0), "id")), f.g_teller);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(l, 1), "subject_id")), f.pd);
    json_decref(l);
    /* After a rename and a move the listing follows the tree. */
    CHECK_INT(org_rename(&f.d, f.pd, "浦东新区支行", &err), RC_OK);
    CHECK_INT(org_move(&f.d, f.pd, f.hq, &err), RC_OK);
    CHECK_INT(acl_list(&f.d, f.kb[K_TELLER], &l), RC_OK);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 1), "subject")),
              "总行/浦东新区支行");
    json_decref(l);
    CHECK_INT(acl_list(&f.d, f.kb[K_NONE], &l), RC_OK);
    CHECK_INT(json_array_size(l), 0);
    json_decref(l);
    buf_release(&err);
    teardown(&f);
}

TEST(acl_names_parse)
{
    CHECK_INT(acl_level_parse("read"), ACL_READ);
    CHECK_INT(acl_level_parse("write"), ACL_WRITE);
    CHECK_INT(acl_level_parse("admin"), ACL_ADMIN);
    CHECK_INT(acl_level_parse("owner"), ACL_NONE);
    CHECK_INT(acl_level_parse(NULL), ACL_NONE);
    for (int l = ACL_READ; l <= ACL_ADMIN; l++)
        CHECK_INT(acl_level_parse(acl_level_name(l)), l);
    CHECK_STR(acl_level_name(ACL_NONE), "none");
    for (int s = ACL_SUBJ_ORG; s <= ACL_SUBJ_USER; s++)
        CHECK_INT(acl_subject_parse(acl_subject_name((enum acl_subject)s)), s);
    CHECK_STR(acl_subject_name(ACL_SUBJ_POSITION), "position");
    CHECK_INT(acl_subject_parse("group"), 0);
    CHECK(acl_subject_name((enum acl_subject)0) == NULL);
}
