/* Administration routes: users and their tokens, roles and positions, the
 * org tree and its members, LDAP maps, and the audit log. routes.c says
 * which permission each needs; docs/API.md describes them. Every change
 * commits together with its audit entry (http_audit_now inside the same
 * transaction): a change that cannot be audited does not happen.
 * {user} in a path is a user id or name. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/audit.h"
#include "auth/ldap.h"
#include "auth/org.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"

/* The user named by the :s segment. Answers 404 itself when unknown. */
static int path_user(struct http_req *r, struct kb_conn *c, struct auth_user *u,
                     enum MHD_Result *res)
{
    int rc = auth_user_get(kb_conn_store(c), r->arg_str, u);
    if (rc != RC_OK)
        *res = http_send_service_error(r, rc, NULL);
    return rc;
}

static void target_of(char *out, size_t cap, const char *kind, int64_t id)
{
    snprintf(out, cap, "%s:%lld", kind, (long long)id);
}

/* ---- separation of duties (三员分立) ----
 * Whoever reads the audit log holds no other permission, and nobody else
 * can become them: over the API an auditor's password and tokens are set
 * by the auditor alone (or by the operator at the server's console). */

#define SOD_MSG                                                                                                  \
    "三员分立：审计权限不能与其他管理权限合并 / separation of duties: audit.read cannot be " \
    "combined with other permissions"

static int perms_mixed(unsigned perms)
{
    return (perms & AUTH_P_AUDIT) && (perms & ~AUTH_P_AUDIT);
}

/* Non-zero when uid is an auditor someone else (the caller) may not act as. */
static int foreign_auditor(struct http_req *r, struct db_conn *d, int64_t uid)
{
    unsigned perms = 0;
    return uid != r->who.user_id && role_perms_of(d, uid, &perms) == RC_OK &&
           (perms & AUTH_P_AUDIT);
}

/* ---- users ---- */

enum MHD_Result http_h_users_list(struct http_req *r, struct kb_conn *c)
{
    struct auth_user *a = NULL;
    size_t n = 0;
    int rc = auth_user_list(kb_conn_store(c), &a, &n);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        (void)json_array_append_new(arr, auth_user_json(&a[i]));
    auth_users_free(a, n);
    return http_send_json(r, 200, json_pack("{s:o}", "users", arr));
}

enum MHD_Result http_h_user_get(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct auth_user u;
    if (path_user(r, c, &u, &res) != RC_OK)
        return res;
    json_t *m = NULL;
    int rc = org_user_memberships(kb_conn_store(c), u.id, &m);
    json_t *j = auth_user_json(&u);
    auth_user_release(&u);
    if (rc != RC_OK) {
        json_decref(j);
        return http_send_service_error(r, rc, NULL);
    }
    if (json_object_set_new(j, "memberships", m) != 0)
        log_warn("http: memberships left out of a user");
    return http_send_json(r, 200, j);
}

/* Creating a user and resetting a password hash a password: a worker does
 * it (http_defer), with the request's principal and body. */
struct user_task {
    struct http_server *srv;
    struct auth_principal who;
    char ip[48];
    json_t *body;
    int64_t user_id; /* the user a PATCH changes */
};

static void user_task_free(void *p)
{
    struct user_task *t = p;
    json_t *pw = json_object_get(t->body, "password");
    if (json_is_string(pw)) /* do not leave the password in freed memory */
        sodium_memzero((void *)json_string_value(pw), json_string_length(pw));
    json_decref(t->body);
    free(t);
}

static void task_fail(struct http_task_result *res, int rc, const struct buf *err)
{
    res->status = rc_http_status(rc);
    res->body = json_pack("{s:{s:s,s:s}}", "error", "code", rc_code(rc), "message",
                          err && err->len ? buf_str(err) : "操作失败 / operation failed");
}

/* An audit entry written by a task (no request at hand). */
static int task_audit(struct user_task *t, struct db_conn *d, const char *action, int64_t uid,
                      json_t *detail)
{
    char target[32];
    target_of(target, sizeof target, "user", uid);
    struct audit_entry e;
    audit_entry_from(&e, &t->who);
    e.action = action;
    e.target = target;
    e.detail = detail;
    e.ip = t->ip;
    return audit_append(d, &e);
}

static void user_create_run(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct user_task *t = ctx;
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    int bad = 0;
    const char *name = http_json_str(t->body, "username", &bad);
    const char *display = http_json_str(t->body, "display_name", &bad);
    const char *empno = http_json_str(t->body, "employee_no", &bad);
    const char *pw = http_json_str(t->body, "password", &bad);
    json_t *admin = json_object_get(t->body, "admin");
    if (bad || !name || !pw || (admin && !json_is_boolean(admin))) {
        (void)buf_adds(&err, "需要 username 与 password（字符串） / username and password are "
                             "required strings");
        task_fail(res, RC_INVALID, &err);
        goto out;
    }
    /* Hash outside the transaction: the write lock is not held for 0.1 s. */
    int64_t id = 0;
    int rc = auth_user_create(d, t->srv->cfg, name, display ? display : "", empno ? empno : "", pw,
                              json_is_true(admin), &id, &err);
    if (rc == RC_OK) {
        json_t *detail = json_pack("{s:s,s:b}", "username", name, "admin", json_is_true(admin));
        rc = task_audit(t, d, "user.create", id, detail);
        json_decref(detail);
    }
    if (rc != RC_OK) {
        task_fail(res, rc, &err);
        goto out;
    }
    struct auth_user u;
    if (auth_user_get_id(d, id, &u) != RC_OK) {
        task_fail(res, RC_DB, NULL);
        goto out;
    }
    res->status = 201;
    res->body = auth_user_json(&u);
    auth_user_release(&u);
out:
    buf_release(&err);
}

enum MHD_Result http_h_users_create(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct user_task *t = xcalloc(1, sizeof *t);
    t->srv = r->srv;
    t->who = r->who;
    memcpy(t->ip, r->ip, sizeof t->ip);
    t->body = j;
    return http_defer(r, user_create_run, t, user_task_free);
}

/* PATCH {"display_name","employee_no","disabled","password"}: each optional. */
static void user_update_run(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct user_task *t = ctx;
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    int bad = 0;
    const char *display = http_json_str(t->body, "display_name", &bad);
    const char *empno = http_json_str(t->body, "employee_no", &bad);
    const char *pw = http_json_str(t->body, "password", &bad);
    json_t *dis = json_object_get(t->body, "disabled");
    if (bad || (dis && !json_is_boolean(dis))) {
        (void)buf_adds(&err, "字段类型错误 / a field has the wrong type");
        task_fail(res, RC_INVALID, &err);
        goto out;
    }
    int rc = RC_OK;
    if (pw) { /* hashes: before the transaction */
        rc = auth_user_set_password(d, t->srv->cfg, t->user_id, pw, &err);
        if (rc == RC_OK)
            rc = task_audit(t, d, "user.password", t->user_id, NULL);
        if (rc != RC_OK) {
            task_fail(res, rc, &err);
            goto out;
        }
    }
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx)) {
        task_fail(res, RC_DB, NULL);
        goto out;
    }
    if (display || empno) {
        rc = auth_user_update(d, t->user_id, display, empno);
        if (rc == RC_OK) {
            json_t *detail =
                json_pack("{s:s?,s:s?}", "display_name", display, "employee_no", empno);
            rc = task_audit(t, d, "user.update", t->user_id, detail);
            json_decref(detail);
        }
    }
    if (rc == RC_OK && dis) {
        rc = auth_user_set_disabled(d, t->user_id, json_is_true(dis));
        if (rc == RC_OK)
            rc = task_audit(t, d, json_is_true(dis) ? "user.disable" : "user.enable", t->user_id,
                            NULL);
    }
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    if (rc != RC_OK) {
        task_fail(res, rc, &err);
        goto out;
    }
    struct auth_user u;
    if (auth_user_get_id(d, t->user_id, &u) != RC_OK) {
        task_fail(res, RC_DB, NULL);
        goto out;
    }
    res->status = 200;
    res->body = auth_user_json(&u);
    auth_user_release(&u);
out:
    buf_release(&err);
}

enum MHD_Result http_h_user_update(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct auth_user u;
    if (path_user(r, c, &u, &res) != RC_OK)
        return res;
    int64_t uid = u.id;
    auth_user_release(&u);
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    if (json_object_get(j, "password") && foreign_auditor(r, kb_conn_store(c), uid)) {
        json_decref(j);
        return http_send_error(r, 403, "forbidden",
                               "审计员的密码只能由本人或在服务器上修改 / an auditor's password is "
                               "changed by the auditor or at the server console");
    }
    struct user_task *t = xcalloc(1, sizeof *t);
    t->srv = r->srv;
    t->who = r->who;
    memcpy(t->ip, r->ip, sizeof t->ip);
    t->body = j;
    t->user_id = uid;
    return http_defer(r, user_update_run, t, user_task_free);
}

enum MHD_Result http_token_create_for(struct http_req *r, struct kb_conn *c, int64_t user_id);
enum MHD_Result http_token_revoke_for(struct http_req *r, struct kb_conn *c, int64_t owner_id);

enum MHD_Result http_h_user_tokens(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct auth_user u;
    if (path_user(r, c, &u, &res) != RC_OK)
        return res;
    json_t *j = NULL;
    int rc = auth_token_list(kb_conn_store(c), u.id, &j);
    auth_user_release(&u);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "tokens", j));
}

enum MHD_Result http_h_user_token_create(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct auth_user u;
    if (path_user(r, c, &u, &res) != RC_OK)
        return res;
    int64_t uid = u.id;
    auth_user_release(&u);
    if (foreign_auditor(r, kb_conn_store(c), uid))
        return http_send_error(
            r, 403, "forbidden",
            "审计员的令牌只能由本人创建 / only an auditor makes their own tokens");
    return http_token_create_for(r, c, uid);
}

enum MHD_Result http_h_token_revoke(struct http_req *r, struct kb_conn *c)
{
    return http_token_revoke_for(r, c, 0);
}

/* ---- memberships: roles and positions of a user ---- */

typedef int (*member_fn)(struct db_conn *d, int64_t user_id, int64_t other_id);

static int role_grant_local(struct db_conn *d, int64_t u, int64_t role)
{
    return role_grant(d, u, role, "local");
}

static int position_assign_local(struct db_conn *d, int64_t u, int64_t pos)
{
    return position_assign(d, u, pos, "local");
}

/* Adds or removes a (user, role|position) pair: `other` is the id from the
 * path (removals) or found from the body's "role"/"position" (adds). */
static enum MHD_Result membership(struct http_req *r, struct kb_conn *c, const char *field,
                                  int (*find)(struct db_conn *, const char *, int64_t *),
                                  member_fn fn, const char *action)
{
    enum MHD_Result res = MHD_NO;
    struct auth_user u;
    json_t *j = NULL;
    if (path_user(r, c, &u, &res) != RC_OK)
        return res;
    struct db_conn *d = kb_conn_store(c);
    int64_t other = r->arg_id;
    if (!other) {
        j = http_body_json(r, &res);
        if (!j)
            goto out;
        int bad = 0;
        const char *name = http_json_str(j, field, &bad);
        json_t *v = json_object_get(j, field);
        char idbuf[32];
        if (json_is_integer(v)) {
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(v));
            name = idbuf;
            bad = 0;
        }
        if (bad || !name) {
            res = http_send_rc(r, RC_INVALID, "缺少字段 / missing field");
            goto out;
        }
        int rc = find(d, name, &other);
        if (rc != RC_OK) {
            res = http_send_service_error(r, rc, NULL);
            goto out;
        }
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = fn(d, u.id, other);
    unsigned perms = 0;
    if (rc == RC_OK && fn == role_grant_local && (rc = role_perms_of(d, u.id, &perms)) == RC_OK &&
        perms_mixed(perms)) {
        (void)db_tx_end(d->db, &tx, 0);
        res = http_send_error(r, 409, rc_code(RC_EXISTS), SOD_MSG);
        goto out;
    }
    char target[32];
    target_of(target, sizeof target, "user", u.id);
    rc = http_change_end(r, c, &tx, rc, action, target,
                         json_pack("{s:I}", field, (json_int_t)other));
    if (rc != RC_OK)
        res = http_send_service_error(r, rc, NULL);
    else if (r->arg_id)
        res = http_send_empty(r, 204);
    else {
        json_t *m = NULL;
        rc = org_user_memberships(d, u.id, &m);
        res = rc == RC_OK ? http_send_json(r, 201, m) : http_send_service_error(r, rc, NULL);
    }
out:
    json_decref(j);
    auth_user_release(&u);
    return res;
}

enum MHD_Result http_h_user_role_add(struct http_req *r, struct kb_conn *c)
{
    return membership(r, c, "role", role_find, role_grant_local, "role.grant");
}

enum MHD_Result http_h_user_role_remove(struct http_req *r, struct kb_conn *c)
{
    return membership(r, c, "role", role_find, role_revoke, "role.revoke");
}

enum MHD_Result http_h_user_position_add(struct http_req *r, struct kb_conn *c)
{
    return membership(r, c, "position", position_find, position_assign_local, "position.assign");
}

enum MHD_Result http_h_user_position_remove(struct http_req *r, struct kb_conn *c)
{
    return membership(r, c, "position", position_find, position_unassign, "position.unassign");
}

/* ---- orgs ---- */

enum MHD_Result http_h_orgs_tree(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = org_tree(kb_conn_store(c), &j);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "orgs", j));
}

/* A "parent" member: an id (number or string) or a path; null or absent:
 * a root. */
static int parent_of(struct db_conn *d, json_t *j, int64_t *parent, int *given)
{
    json_t *p = json_object_get(j, "parent");
    *parent = 0;
    *given = p != NULL;
    if (!p || json_is_null(p))
        return RC_OK;
    if (json_is_integer(p)) {
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(p));
        return org_find(d, idbuf, parent);
    }
    if (!json_is_string(p))
        return RC_INVALID;
    if (strcmp(json_string_value(p), "/") == 0)
        return RC_OK;
    return org_find(d, json_string_value(p), parent);
}

enum MHD_Result http_h_orgs_create(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    int bad = 0, given = 0;
    const char *name = http_json_str(j, "name", &bad);
    int64_t parent = 0, id = 0;
    int rc = bad || !name ? RC_INVALID : parent_of(d, j, &parent, &given);
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, NULL);
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    rc = org_create(d, name, parent, &id, &err);
    char target[32];
    target_of(target, sizeof target, "org", id);
    rc = http_change_end(r, c, &tx, rc, "org.create", target,
                         json_pack("{s:s,s:I}", "name", name, "parent", (json_int_t)parent));
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, &err);
        goto out;
    }
    json_t *o = NULL;
    rc = org_get_json(d, id, &o);
    res = rc == RC_OK ? http_send_json(r, 201, o) : http_send_service_error(r, rc, NULL);
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_org_get(struct http_req *r, struct kb_conn *c)
{
    json_t *o = NULL;
    int rc = org_get_json(kb_conn_store(c), r->arg_id, &o);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, o);
}

/* PATCH {"name"} renames, {"parent"} moves the whole subtree. */
enum MHD_Result http_h_org_update(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    int bad = 0, given = 0;
    const char *name = http_json_str(j, "name", &bad);
    int64_t parent = 0;
    int rc = bad ? RC_INVALID : parent_of(d, j, &parent, &given);
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, NULL);
        goto out;
    }
    char target[32];
    target_of(target, sizeof target, "org", r->arg_id);
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    if (name) {
        rc = org_rename(d, r->arg_id, name, &err);
        if (rc == RC_OK)
            rc = http_audit_now(r, c, "org.rename", target, json_pack("{s:s}", "name", name));
    }
    if (rc == RC_OK && given) {
        rc = org_move(d, r->arg_id, parent, &err);
        if (rc == RC_OK) {
            json_t *detail = json_pack("{s:I}", "parent", (json_int_t)parent);
            rc = http_audit_now(r, c, "org.move", target, detail);
            json_decref(detail);
        }
    }
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, &err);
        goto out;
    }
    json_t *o = NULL;
    rc = org_get_json(d, r->arg_id, &o);
    res = rc == RC_OK ? http_send_json(r, 200, o) : http_send_service_error(r, rc, NULL);
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_org_delete(struct http_req *r, struct kb_conn *c)
{
    struct buf err = BUF_INIT;
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return http_send_service_error(r, RC_DB, NULL);
    int rc = org_delete(kb_conn_store(c), r->arg_id, &err);
    char target[32];
    target_of(target, sizeof target, "org", r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "org.delete", target, NULL);
    enum MHD_Result res;
    if (rc == RC_BUSY) /* child orgs: a conflict with the tree, not "retry later" */
        res =
            http_send_error(r, 409, rc_code(RC_EXISTS),
                            err.len ? buf_str(&err) : "机构下还有下级机构 / the org has children");
    else
        res = rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, &err);
    buf_release(&err);
    return res;
}

/* POST {"user": id or name} */
enum MHD_Result http_h_org_member_add(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct db_conn *d = kb_conn_store(c);
    int bad = 0;
    const char *name = http_json_str(j, "user", &bad);
    json_t *v = json_object_get(j, "user");
    char idbuf[32];
    if (json_is_integer(v)) {
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(v));
        name = idbuf;
        bad = 0;
    }
    struct auth_user u;
    memset(&u, 0, sizeof u);
    int rc = bad || !name ? RC_INVALID : auth_user_get(d, name, &u);
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, NULL);
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    rc = org_member_add(d, r->arg_id, u.id, "local");
    char target[32];
    target_of(target, sizeof target, "org", r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "org.member_add", target,
                         json_pack("{s:I}", "user", (json_int_t)u.id));
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, NULL);
        goto out;
    }
    json_t *o = NULL;
    rc = org_get_json(d, r->arg_id, &o);
    res = rc == RC_OK ? http_send_json(r, 201, o) : http_send_service_error(r, rc, NULL);
out:
    auth_user_release(&u);
    json_decref(j);
    return res;
}

enum MHD_Result http_h_org_member_remove(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct auth_user u;
    if (path_user(r, c, &u, &res) != RC_OK)
        return res;
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        auth_user_release(&u);
        return http_send_service_error(r, RC_DB, NULL);
    }
    int rc = org_member_remove(kb_conn_store(c), r->arg_id, u.id);
    char target[32];
    target_of(target, sizeof target, "org", r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "org.member_remove", target,
                         json_pack("{s:I}", "user", (json_int_t)u.id));
    auth_user_release(&u);
    return rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
}

/* ---- positions and roles ---- */

enum MHD_Result http_h_positions_list(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = position_list(kb_conn_store(c), &j);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "positions", j));
}

enum MHD_Result http_h_positions_create(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    int bad = 0;
    const char *name = http_json_str(j, "name", &bad);
    int64_t id = 0;
    struct db_tx tx;
    int rc = bad || !name ? RC_INVALID : http_change_begin(c, &tx);
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, NULL);
        goto out;
    }
    rc = position_create(kb_conn_store(c), name, &id, &err);
    char target[32];
    target_of(target, sizeof target, "position", id);
    rc =
        http_change_end(r, c, &tx, rc, "position.create", target, json_pack("{s:s}", "name", name));
    res = rc == RC_OK
              ? http_send_json(r, 201, json_pack("{s:I,s:s}", "id", (json_int_t)id, "name", name))
              : http_send_service_error(r, rc, &err);
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_position_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return http_send_service_error(r, RC_DB, NULL);
    int rc = position_delete(kb_conn_store(c), r->arg_id);
    char target[32];
    target_of(target, sizeof target, "position", r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "position.delete", target, NULL);
    return rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
}

enum MHD_Result http_h_roles_list(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = role_list(kb_conn_store(c), &j);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "roles", j));
}

/* "perms": ["kb.admin", …] → bits; RC_INVALID for an unknown name. */
static int perms_of(json_t *j, unsigned *out)
{
    json_t *a = json_object_get(j, "perms");
    *out = 0;
    if (!a)
        return RC_OK;
    if (!json_is_array(a))
        return RC_INVALID;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        unsigned p = json_is_string(v) ? auth_perm_parse(json_string_value(v)) : 0;
        if (!p)
            return RC_INVALID;
        *out |= p;
    }
    return RC_OK;
}

enum MHD_Result http_h_roles_create(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    int bad = 0;
    const char *name = http_json_str(j, "name", &bad);
    unsigned perms = 0;
    int64_t id = 0;
    struct db_tx tx;
    int rc = bad || !name || perms_of(j, &perms) ? RC_INVALID : RC_OK;
    if (rc != RC_OK) {
        res = http_send_rc(r, rc,
                           "需要 name 与 perms（已知权限名） / name and known perms are required");
        goto out;
    }
    if (perms_mixed(perms)) {
        res = http_send_rc(r, RC_INVALID, SOD_MSG);
        goto out;
    }
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    rc = role_create(kb_conn_store(c), name, perms, &id, &err);
    char target[32];
    target_of(target, sizeof target, "role", id);
    rc = http_change_end(r, c, &tx, rc, "role.create", target,
                         json_pack("{s:s,s:o}", "name", name, "perms", auth_perms_json(perms)));
    res = rc == RC_OK ? http_send_json(r, 201,
                                       json_pack("{s:I,s:s,s:o}", "id", (json_int_t)id, "name",
                                                 name, "perms", auth_perms_json(perms)))
                      : http_send_service_error(r, rc, &err);
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_role_update(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    unsigned perms = 0;
    struct db_tx tx;
    int rc = !json_object_get(j, "perms") || perms_of(j, &perms) ? RC_INVALID : RC_OK;
    if (rc != RC_OK || perms_mixed(perms)) {
        json_decref(j);
        return http_send_rc(r, RC_INVALID,
                            rc ? "需要 perms（已知权限名） / known perms are required" : SOD_MSG);
    }
    if (http_change_begin(c, &tx)) {
        json_decref(j);
        return http_send_service_error(r, RC_DB, NULL);
    }
    rc = role_set_perms(kb_conn_store(c), r->arg_id, perms);
    char target[32];
    target_of(target, sizeof target, "role", r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "role.update", target,
                         json_pack("{s:o}", "perms", auth_perms_json(perms)));
    json_decref(j);
    if (rc == RC_DENIED)
        return http_send_error(r, 403, "forbidden",
                               "内置角色不能修改 / built-in roles cannot be changed");
    return rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
}

enum MHD_Result http_h_role_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return http_send_service_error(r, RC_DB, NULL);
    int rc = role_delete(kb_conn_store(c), r->arg_id);
    char target[32];
    target_of(target, sizeof target, "role", r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "role.delete", target, NULL);
    if (rc == RC_DENIED)
        return http_send_error(r, 403, "forbidden",
                               "内置角色不能删除 / built-in roles cannot be deleted");
    return rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
}

/* ---- LDAP maps ---- */

enum MHD_Result http_h_ldap_maps(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = ldap_map_list(kb_conn_store(c), &j);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "maps", j));
}

/* {"match":"cn=tellers,ou=groups,…","target_type":"org|position|role","target":"name or id"} */
enum MHD_Result http_h_ldap_map_add(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    int bad = 0;
    const char *match = http_json_str(j, "match", &bad);
    const char *type = http_json_str(j, "target_type", &bad);
    const char *target = http_json_str(j, "target", &bad);
    int64_t id = 0;
    struct db_tx tx;
    int rc = bad || !match || !type || !target ? RC_INVALID : http_change_begin(c, &tx);
    if (rc != RC_OK) {
        res = http_send_rc(r, rc,
                           "需要 match、target_type 与 target / match, target_type and "
                           "target are required");
        goto out;
    }
    rc = ldap_map_add(kb_conn_store(c), match, type, target, &id, &err);
    char tgt[32];
    target_of(tgt, sizeof tgt, "ldap_map", id);
    rc = http_change_end(
        r, c, &tx, rc, "ldap.map_add", tgt,
        json_pack("{s:s,s:s,s:s}", "match", match, "target_type", type, "target", target));
    res = rc == RC_OK ? http_send_json(r, 201, json_pack("{s:I}", "id", (json_int_t)id))
                      : http_send_service_error(r, rc, &err);
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_ldap_map_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return http_send_service_error(r, RC_DB, NULL);
    int rc = ldap_map_delete(kb_conn_store(c), r->arg_id);
    char target[32];
    target_of(target, sizeof target, "ldap_map", r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "ldap.map_delete", target, NULL);
    return rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
}

/* ---- audit ---- */

static int64_t arg_i64(struct http_req *r, const char *key, int *bad)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
    int64_t x = 0;
    if (v && *v && parse_i64(v, 0, INT64_MAX, &x) != RC_OK)
        *bad = 1;
    return x;
}

/* GET /api/v1/audit?user=&action=&since=&until=&before_id=&limit= (times
 * in unix milliseconds). Reading the log is itself audited. */
enum MHD_Result http_h_audit(struct http_req *r, struct kb_conn *c)
{
    struct audit_filter f;
    memset(&f, 0, sizeof f);
    int bad = 0;
    f.user = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "user");
    f.action = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "action");
    f.since_ms = arg_i64(r, "since", &bad);
    f.until_ms = arg_i64(r, "until", &bad);
    f.before_id = arg_i64(r, "before_id", &bad);
    int64_t limit = arg_i64(r, "limit", &bad);
    if (bad || limit > 1000)
        return http_send_rc(
            r, RC_INVALID,
            "since/until/before_id/limit 须为非负整数，limit ≤ 1000 / since, until, "
            "before_id and limit must be non-negative integers, limit ≤ 1000");
    f.limit = (int)limit;
    if (f.user && !*f.user)
        f.user = NULL;
    if (f.action && !*f.action)
        f.action = NULL;
    json_t *j = NULL;
    int rc = audit_query(kb_conn_store(c), &f, &j);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    json_t *detail = json_pack("{s:s?,s:s?}", "user", f.user, "action", f.action);
    http_audit_later(r, "audit.read", "", detail);
    json_decref(detail);
    return http_send_json(r, 200, j);
}

enum MHD_Result http_h_audit_verify(struct http_req *r, struct kb_conn *c)
{
    if (r->srv->audit)
        audit_writer_flush(r->srv->audit);
    int64_t checked = 0, bad_id = 0, head_id = 0;
    char head[65] = "";
    struct buf err = BUF_INIT;
    int rc = audit_verify(kb_conn_store(c), &checked, &bad_id, &head_id, head, &err);
    if (rc != RC_OK && rc != RC_INVALID) {
        buf_release(&err);
        return http_send_service_error(r, rc, NULL);
    }
    json_t *j = json_pack("{s:b,s:I,s:I,s:s}", "ok", rc == RC_OK, "checked", (json_int_t)checked,
                          "head_id", (json_int_t)head_id, "head_hash", head);
    if (json_object_set_new(j, "bad_id", rc != RC_OK ? json_integer(bad_id) : json_null()) != 0 ||
        json_object_set_new(j, "error", rc != RC_OK ? json_string(buf_str(&err)) : json_null()) !=
            0)
        log_warn("http: incomplete audit verify answer");
    buf_release(&err);
    return http_send_json(r, 200, j);
}
