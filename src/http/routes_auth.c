/* Sign-in and the caller's own account under /api/v1/auth:
 *
 *   POST   /api/v1/auth/login {"username","password"}   200 {"user","csrf_token",
 *          "expires_at"} + Set-Cookie atrium_session (HttpOnly, SameSite=Strict)
 *   POST   /api/v1/auth/logout                          204, the cookie cleared
 *   GET    /api/v1/auth/me                              the user, perms, memberships
 *   POST   /api/v1/auth/password {"old","new"}          200 {"changed":true}; sessions end
 *   GET    /api/v1/auth/tokens                          {"tokens":[…]} (mine)
 *   POST   /api/v1/auth/tokens {"name","days"}          201 {"id","token",…} (shown once)
 *   DELETE /api/v1/auth/tokens/{id}                     204
 *
 * The password hash (argon2id, ~0.1 s and 64 MiB) runs on a worker through
 * http_defer, never on a request thread, and at most hash_concurrency at
 * once: a burst of sign-ins waits there, or gets 429, while searches go on. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/audit.h"
#include "auth/org.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "http/http_int.h"

#define PASSWORD_MAX 1024 /* bytes accepted before the policy even looks */

struct login_task {
    struct http_server *srv;
    char *username, *password;
    char ip[48];
};

static void login_free(void *p)
{
    struct login_task *t = p;
    if (t->password) {
        sodium_memzero(t->password, strlen(t->password));
        free(t->password);
    }
    free(t->username);
    free(t);
}

static void task_error(struct http_task_result *res, int status, const char *code, const char *msg)
{
    res->status = status;
    res->body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
}

static void audit_login(struct http_server *s, const char *action, int64_t user_id,
                        const char *name, const char *ip, const char *why)
{
    if (!s->audit)
        return;
    json_t *detail = why ? json_pack("{s:s}", "reason", why) : NULL;
    char target[32];
    snprintf(target, sizeof target, "user:%lld", (long long)user_id);
    struct audit_entry e = {user_id, name, action, user_id ? target : "", detail, ip};
    audit_writer_post(s->audit, &e);
    json_decref(detail);
}

/* On a worker: check the password (slow), start a session, answer. */
static void login_run(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct login_task *t = ctx;
    struct http_server *s = t->srv;
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    int64_t uid = 0;
    int rc = auth_login(d, s->cfg, t->username, t->password, &uid, &err);
    if (rc != RC_OK) {
        const char *msg =
            err.len ? buf_str(&err) : "用户名或密码错误 / wrong user name or password";
        if (rc == RC_DENIED || rc == RC_UNSUPPORTED || rc == RC_NOT_FOUND || rc == RC_INVALID) {
            task_error(res, 401, "unauthorized", msg);
            audit_login(s, "auth.login_failed", uid, t->username, t->ip, msg);
        } else if (rc == RC_BUSY) {
            task_error(res, 429, rc_code(RC_BUSY),
                       "登录请求过多，请稍后重试 / too many sign-ins, retry later");
        } else {
            task_error(res, rc_http_status(rc), rc_code(rc), msg);
            audit_login(s, "auth.login_failed", uid, t->username, t->ip, rc_code(rc));
        }
        goto out;
    }
    struct auth_session_new sn;
    struct auth_principal who;
    struct auth_user u;
    memset(&u, 0, sizeof u);
    if (auth_session_create(d, s->cfg, uid, t->ip, &sn) != RC_OK ||
        auth_principal_load(d, uid, &who) != RC_OK || auth_user_get_id(d, uid, &u) != RC_OK) {
        task_error(res, rc_http_status(RC_DB), rc_code(RC_DB), "存储不可用 / store unavailable");
        auth_user_release(&u);
        goto out;
    }
    audit_login(s, "auth.login", uid, who.username, t->ip, NULL);
    int max_age = (s->cfg->session_max_hours > 0 ? s->cfg->session_max_hours : 12) * 3600;
    struct buf cookie = BUF_INIT;
    (void)buf_addf(&cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
                   AUTH_SESSION_COOKIE, sn.token, max_age, s->cfg->cookie_secure ? "; Secure" : "");
    res->set_cookie = buf_detach(&cookie, NULL);
    res->status = 200;
    res->body =
        json_pack("{s:o,s:s,s:I,s:o}", "user", auth_user_json(&u), "csrf_token", sn.csrf,
                  "expires_at", (json_int_t)sn.expires_at, "perms", auth_perms_json(who.perms));
    sodium_memzero(sn.token, sizeof sn.token);
    auth_user_release(&u);
out:
    buf_release(&err);
}

enum MHD_Result http_h_login(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *name = http_json_str(j, "username", &bad);
    const char *pw = http_json_str(j, "password", &bad);
    if (bad || !name || !pw || !*name || strlen(name) > 64 || strlen(pw) > PASSWORD_MAX) {
        json_decref(j);
        return http_send_rc(r, RC_INVALID,
                            "需要 username 与 password / username and password are required");
    }
    struct login_task *t = xcalloc(1, sizeof *t);
    t->srv = r->srv;
    t->username = xstrdup(name);
    t->password = xstrdup(pw);
    memcpy(t->ip, r->ip, sizeof t->ip);
    json_decref(j);
    return http_defer(r, login_run, t, login_free);
}

enum MHD_Result http_h_logout(struct http_req *r, struct kb_conn *c)
{
    char cookie[128];
    const char *v = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, AUTH_SESSION_COOKIE);
    if (r->who.via == AUTH_VIA_SESSION && v && strlen(v) < sizeof cookie) {
        memcpy(cookie, v, strlen(v) + 1);
        if (auth_session_end(kb_conn_store(c), cookie) != RC_OK)
            return http_send_service_error(r, RC_DB, NULL);
    }
    http_audit_later(r, "auth.logout", "", NULL);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    char clear[128];
    snprintf(clear, sizeof clear, "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
             AUTH_SESSION_COOKIE);
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, clear) != MHD_YES)
        log_warn("http: cannot clear the session cookie");
    return http_respond(r, 204, resp, 0);
}

enum MHD_Result http_h_me(struct http_req *r, struct kb_conn *c)
{
    struct db_conn *d = kb_conn_store(c);
    struct auth_user u;
    json_t *m = NULL;
    int rc = auth_user_get_id(d, r->who.user_id, &u);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    rc = org_user_memberships(d, r->who.user_id, &m);
    if (rc != RC_OK) {
        auth_user_release(&u);
        return http_send_service_error(r, rc, NULL);
    }
    static const char *via[] = {"none", "session", "token", "cli"};
    json_t *j = json_pack("{s:o,s:o,s:o,s:s}", "user", auth_user_json(&u), "perms",
                          auth_perms_json(r->who.perms), "memberships", m, "via",
                          via[(unsigned)r->who.via < 4 ? r->who.via : 0]);
    if (j && r->who.via == AUTH_VIA_SESSION &&
        json_object_set_new(j, "csrf_token", json_string(r->who.csrf)) != 0)
        log_warn("http: csrf token left out of /auth/me");
    auth_user_release(&u);
    return http_send_json(r, 200, j);
}

struct password_task {
    struct http_server *srv;
    struct auth_principal who;
    char *old_pw, *new_pw;
    char ip[48];
};

static void password_free(void *p)
{
    struct password_task *t = p;
    if (t->old_pw) {
        sodium_memzero(t->old_pw, strlen(t->old_pw));
        free(t->old_pw);
    }
    if (t->new_pw) {
        sodium_memzero(t->new_pw, strlen(t->new_pw));
        free(t->new_pw);
    }
    free(t);
}

/* On a worker: verify the old password (it is a sign-in: lockout counts),
 * then set the new one; every session of the user ends, this one too. */
static void password_run(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct password_task *t = ctx;
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    int64_t uid = 0;
    int rc = auth_login_local(d, t->srv->cfg, t->who.username, t->old_pw, &uid, &err);
    if (rc != RC_OK || uid != t->who.user_id) {
        task_error(res, rc == RC_BUSY ? 429 : 403, rc == RC_BUSY ? rc_code(RC_BUSY) : "forbidden",
                   rc == RC_UNSUPPORTED ? "目录用户请在目录中修改密码 / directory users change "
                                          "their password in the directory"
                                        : "原密码错误 / the current password is wrong");
        goto out;
    }
    buf_reset(&err);
    rc = auth_user_set_password(d, t->srv->cfg, uid, t->new_pw, &err);
    if (rc != RC_OK) {
        task_error(res, rc_http_status(rc), rc_code(rc),
                   err.len ? buf_str(&err) : "密码不符合要求 / password rejected");
        goto out;
    }
    if (t->srv->audit) {
        char target[32];
        snprintf(target, sizeof target, "user:%lld", (long long)uid);
        struct audit_entry e;
        audit_entry_from(&e, &t->who);
        e.action = "auth.password";
        e.target = target;
        e.ip = t->ip;
        audit_writer_post(t->srv->audit, &e);
    }
    res->status = 200;
    res->body = json_pack("{s:b}", "changed", 1);
out:
    buf_release(&err);
}

enum MHD_Result http_h_password(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *old_pw = http_json_str(j, "old", &bad);
    const char *new_pw = http_json_str(j, "new", &bad);
    if (bad || !old_pw || !new_pw || strlen(old_pw) > PASSWORD_MAX ||
        strlen(new_pw) > PASSWORD_MAX || r->who.user_id <= 0) {
        json_decref(j);
        return http_send_rc(r, RC_INVALID, "需要 old 与 new / old and new are required");
    }
    struct password_task *t = xcalloc(1, sizeof *t);
    t->srv = r->srv;
    t->who = r->who;
    t->old_pw = xstrdup(old_pw);
    t->new_pw = xstrdup(new_pw);
    memcpy(t->ip, r->ip, sizeof t->ip);
    json_decref(j);
    return http_defer(r, password_run, t, password_free);
}

enum MHD_Result http_h_my_tokens(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = auth_token_list(kb_conn_store(c), r->who.user_id, &j);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "tokens", j));
}

/* Creates a token for user_id from {"name","days"}; shared with the admin
 * route. The token is in the answer once and nowhere else. */
enum MHD_Result http_token_create_for(struct http_req *r, struct kb_conn *c, int64_t user_id)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *name = http_json_str(j, "name", &bad);
    json_t *dj = json_object_get(j, "days");
    int days = 0;
    if (dj && !json_is_null(dj)) {
        if (!json_is_integer(dj) || json_integer_value(dj) < 0 || json_integer_value(dj) > 3650)
            bad = 1;
        else
            days = (int)json_integer_value(dj);
    }
    if (bad) {
        json_decref(j);
        return http_send_rc(r, RC_INVALID,
                            "name 须为字符串，days 为 0–3650 的整数 / name must be a string, days "
                            "an integer 0–3650");
    }
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    char token[64];
    int64_t id = 0;
    struct db_tx tx;
    int rc = http_change_begin(c, &tx);
    if (rc == RC_OK) {
        rc = auth_token_create(d, user_id, name ? name : "", days, token, &id, &err);
        char target[32];
        snprintf(target, sizeof target, "user:%lld", (long long)user_id);
        rc = http_change_end(r, c, &tx, rc, "token.create", target,
                             json_pack("{s:I,s:s,s:i}", "token", (json_int_t)id, "name",
                                       name ? name : "", "days", days));
    }
    json_decref(j);
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, &err);
        buf_release(&err);
        return res;
    }
    buf_release(&err);
    json_t *out = json_pack("{s:I,s:s,s:I}", "id", (json_int_t)id, "token", token, "user_id",
                            (json_int_t)user_id);
    sodium_memzero(token, sizeof token);
    return http_send_json(r, 201, out);
}

enum MHD_Result http_h_my_token_create(struct http_req *r, struct kb_conn *c)
{
    return http_token_create_for(r, c, r->who.user_id);
}

/* Revokes a token; owner_id > 0 limits it to that user's own tokens. */
enum MHD_Result http_token_revoke_for(struct http_req *r, struct kb_conn *c, int64_t owner_id)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return http_send_service_error(r, RC_DB, NULL);
    int rc = auth_token_revoke(kb_conn_store(c), r->arg_id, owner_id);
    char target[32];
    snprintf(target, sizeof target, "token:%lld", (long long)r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "token.revoke", target, NULL);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_empty(r, 204);
}

enum MHD_Result http_h_my_token_revoke(struct http_req *r, struct kb_conn *c)
{
    return http_token_revoke_for(r, c, r->who.user_id);
}
