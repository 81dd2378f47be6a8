/* Tests for src/auth identity: permissions, the password policy, users,
 * sign-in with lockout, sessions, API tokens, principals and the hash
 * limiter. argon2id costs about 0.1 s a hash, so the tests count their
 * hashes: users that need no password are created as directory users. */
#include "test.h"

#include "auth/auth.h"
#include "common/config.h"
#include "common/rc.h"
#include "common/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOD_PW "Kx7!mq2Lp9z"

struct fx {
    struct config cfg;
    sqlite3 *db;
    struct db_conn d;
};

static int fx_open(struct fx *f, const char *name)
{
    struct buf err = BUF_INIT;
    memset(f, 0, sizeof *f);
    int rc = config_load(&f->cfg, NULL, &err);
    f->cfg.login_max_failures = 3;
    f->cfg.login_lockout_min = 1;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.db", test_tmpdir(), name);
    if (!rc)
        rc = db_open(path, &f->db, &err);
    if (rc) {
        fprintf(stderr, "setup failed: %s\n", buf_str(&err));
    } else {
        f->d.db = f->db;
        f->d.cache = db_cache_new(f->db);
    }
    buf_release(&err);
    return rc;
}

static void fx_close(struct fx *f)
{
    db_cache_free(f->d.cache);
    db_close(f->db);
    config_release(&f->cfg);
}

/* Runs SQL built from a format with integer arguments only. */
static int sql(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sql(struct fx *f, const char *fmt, ...)
{
    char q[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return db_exec(f->db, q);
}

/* The first column of the first row of an integer query, -1 if none. */
static int64_t sql_int(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t sql_int(struct fx *f, const char *fmt, ...)
{
    char q[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(f->db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A user without a password (a directory user): no hash to pay. */
static int64_t dir_user(struct fx *f, const char *name, int admin)
{
    struct buf err = BUF_INIT;
    int64_t id = 0;
    int rc = auth_user_create(&f->d, &f->cfg, name, "目录用户", "E001", NULL, admin, &id, &err);
    if (rc)
        fprintf(stderr, "dir_user %s: %s\n", name, buf_str(&err));
    buf_release(&err);
    return id;
}

static int login(struct fx *f, const char *name, const char *pw, int64_t *id, struct buf *err)
{
    buf_reset(err);
    return auth_login_local(&f->d, &f->cfg, name, pw, id, err);
}

TEST(auth_perm_names)
{
    CHECK_STR(auth_perm_name(AUTH_P_USERS), "users.manage");
    CHECK_STR(auth_perm_name(AUTH_P_AUDIT), "audit.read");
    CHECK_STR(auth_perm_name(AUTH_P_KB_ADMIN), "kb.admin");
    CHECK(auth_perm_name(0) == NULL);
    CHECK(auth_perm_name(AUTH_P_USERS | AUTH_P_ORG) == NULL);
    CHECK(auth_perm_name(1u << 8) == NULL);
    for (unsigned i = 0; i < 8; i++)
        CHECK_INT(auth_perm_parse(auth_perm_name(1u << i)), 1u << i);
    CHECK_INT(auth_perm_parse("users.delete"), 0);
    CHECK_INT(auth_perm_parse(""), 0);
    CHECK_INT(auth_perm_parse(NULL), 0);

    json_t *a = auth_perms_json(AUTH_P_ORG | AUTH_P_MODELS);
    CHECK(json_is_array(a));
    CHECK_INT(json_array_size(a), 2);
    CHECK_STR(json_string_value(json_array_get(a, 0)), "org.manage");
    CHECK_STR(json_string_value(json_array_get(a, 1)), "models.manage");
    json_decref(a);
    a = auth_perms_json(AUTH_P_ALL);
    CHECK_INT(json_array_size(a), 8);
    json_decref(a);
    a = auth_perms_json(0);
    CHECK_INT(json_array_size(a), 0);
    json_decref(a);
}

TEST(auth_password_policy)
{
    struct config cfg;
    struct buf err = BUF_INIT;
    config_load(&cfg, NULL, &err);
    cfg.password_min_len = 10;
#define OK(u, p)                                                                                   \
    do {                                                                                           \
        buf_reset(&err);                                                                           \
        CHECK_INT(auth_password_check(&cfg, u, p, &err), RC_OK);                                   \
    } while (0)
#define BAD(u, p, why)                                                                             \
    do {                                                                                           \
        buf_reset(&err);                                                                           \
        CHECK_INT(auth_password_check(&cfg, u, p, &err), RC_INVALID);                              \
        CHECK_CONTAINS(buf_str(&err), why);                                                        \
    } while (0)
    OK("alice", GOOD_PW);
    OK("alice", "abcdefghij1!");     /* lower, digit, other */
    OK("alice", "ABCDEFGH12xy");     /* upper, digit, lower */
    OK("alice", "密码很安全啊Ab12"); /* 10 characters, 22 bytes; CJK counts as other */
    BAD("alice", "Ab1!xyz", "at least 10");
    BAD("alice", "密码Ab1!", "at least 10"); /* 8 characters, 12 bytes */
    BAD("alice", "abcdefghijkl", "three of");
    BAD("alice", "abcdefgh1234", "three of");
    BAD("alice", "ABCDEFGH!!!!", "three of");
    BAD("alice", "xxAlice123!!", "user name"); /* case-insensitive */
    BAD("bob.w", "Zz9!BOB.Wqq", "user name");
    BAD("alice",
        "\xff\xfe"
        "Abcdefgh12",
        "UTF-8");
    BAD("alice", NULL, "password");
    char longpw[140];
    memset(longpw, 'a', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    memcpy(longpw, "A1!", 3);
    BAD("alice", longpw, "128");
    longpw[128] = '\0'; /* exactly 128 bytes is allowed */
    OK("alice", longpw);
    cfg.password_min_len = 14;
    BAD("alice", GOOD_PW, "at least 14");
#undef OK
#undef BAD
    buf_release(&err);
    config_release(&cfg);
}

TEST(auth_username_rules)
{
    CHECK(auth_username_valid("alice"));
    CHECK(auth_username_valid("zhang.san@bank-1_x"));
    CHECK(auth_username_valid("a"));
    CHECK(auth_username_valid("007a"));
    CHECK(!auth_username_valid("12345"));
    CHECK(!auth_username_valid(""));
    CHECK(!auth_username_valid(NULL));
    CHECK(!auth_username_valid("with space"));
    CHECK(!auth_username_valid("张三"));
    CHECK(!auth_username_valid("a/b"));
    char n[70];
    memset(n, 'x', sizeof n);
    n[64] = '\0';
    CHECK(auth_username_valid(n));
    n[64] = 'x';
    n[65] = '\0';
    CHECK(!auth_username_valid(n));
}

TEST(auth_user_crud)
{
    struct fx f;
    if (fx_open(&f, "crud"))
        return;
    struct buf err = BUF_INIT;
    int64_t id = 0, id2 = 0;
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "Alice", "爱丽丝", "E100", GOOD_PW, 0, &id, &err),
              RC_OK);
    CHECK(id > 0);
    /* Hash stored, never the password. */
    CHECK_INT(
        sql_int(&f, "SELECT pwhash LIKE '$argon2id$%%' FROM users WHERE id = %lld", (long long)id),
        1);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM users WHERE pwhash LIKE '%%" GOOD_PW "%%'"), 0);
    CHECK_INT(sql_int(&f,
                      "SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
                      " WHERE ur.user_id = %lld AND r.name = 'user'",
                      (long long)id),
              1);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM user_roles WHERE user_id = %lld", (long long)id),
              1);

    buf_reset(&err);
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "aLiCe", "", "", GOOD_PW, 0, &id2, &err), RC_EXISTS);
    CHECK_CONTAINS(buf_str(&err), "already taken");
    buf_reset(&err);
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "12345", "", "", GOOD_PW, 0, &id2, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "invalid user name");
    buf_reset(&err);
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "weak", "", "", "short", 0, &id2, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "at least");
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM users"), 1);

    struct auth_user u;
    CHECK_INT(auth_user_get(&f.d, "ALICE", &u), RC_OK);
    CHECK_INT(u.id, id);
    CHECK_STR(u.username, "Alice");
    CHECK_STR(u.display_name, "爱丽丝");
    CHECK_STR(u.employee_no, "E100");
    CHECK_STR(u.source, "local");
    CHECK_INT(u.disabled, 0);
    CHECK_INT(u.locked, 0);
    CHECK(u.created_at > 0);
    CHECK_INT(u.last_login_at, 0);
    json_t *j = auth_user_json(&u);
    CHECK_STR(json_string_value(json_object_get(j, "username")), "Alice");
    CHECK_INT(json_integer_value(json_object_get(j, "id")), id);
    CHECK(json_is_false(json_object_get(j, "disabled")));
    CHECK(json_object_get(j, "pwhash") == NULL);
    char *dump = json_dumps(j, 0);
    CHECK(dump && !strstr(dump, "argon2"));
    free(dump);
    json_decref(j);
    auth_user_release(&u);

    char idstr[32];
    snprintf(idstr, sizeof idstr, "%lld", (long long)id);
    CHECK_INT(auth_user_get(&f.d, idstr, &u), RC_OK);
    CHECK_STR(u.username, "Alice");
    auth_user_release(&u);
    CHECK_INT(auth_user_get(&f.d, "nobody", &u), RC_NOT_FOUND);
    CHECK_INT(auth_user_get(&f.d, "999", &u), RC_NOT_FOUND);
    CHECK_INT(auth_user_get_id(&f.d, 999, &u), RC_NOT_FOUND);

    /* A directory user: no password, source ldap, admin role on request. */
    int64_t lid = dir_user(&f, "ldap.bob", 1);
    CHECK(lid > 0);
    CHECK_INT(auth_user_get_id(&f.d, lid, &u), RC_OK);
    CHECK_STR(u.source, "ldap");
    auth_user_release(&u);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM user_roles WHERE user_id = %lld", (long long)lid),
              2);

    CHECK_INT(auth_user_update(&f.d, id, "新名字", NULL), RC_OK);
    CHECK_INT(auth_user_update(&f.d, 999, "x", NULL), RC_NOT_FOUND);
    CHECK_INT(auth_user_get_id(&f.d, id, &u), RC_OK);
    CHECK_STR(u.display_name, "新名字");
    CHECK_STR(u.employee_no, "E100");
    auth_user_release(&u);

    struct auth_user *list = NULL;
    size_t n = 0;
    CHECK_INT(auth_user_list(&f.d, &list, &n), RC_OK);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(list[0].username, "Alice");
        CHECK_STR(list[1].username, "ldap.bob");
    }
    auth_users_free(list, n);

    CHECK_INT(auth_user_set_disabled(&f.d, 999, 1), RC_NOT_FOUND);
    buf_reset(&err);
    CHECK_INT(auth_user_set_password(&f.d, &f.cfg, 999, GOOD_PW, &err), RC_NOT_FOUND);
    buf_reset(&err);
    CHECK_INT(auth_user_set_password(&f.d, &f.cfg, lid, GOOD_PW, &err), RC_UNSUPPORTED);
    buf_release(&err);
    fx_close(&f);
}

TEST(auth_login_basic)
{
    struct fx f;
    if (fx_open(&f, "login"))
        return;
    struct buf err = BUF_INIT, err2 = BUF_INIT;
    int64_t id = 0, got = -1;
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "bob", "", "", GOOD_PW, 0, &id, &err), RC_OK);

    CHECK_INT(login(&f, "BOB", GOOD_PW, &got, &err), RC_OK);
    CHECK_INT(got, id);
    CHECK(sql_int(&f, "SELECT last_login_at FROM users WHERE id = %lld", (long long)id) > 0);

    CHECK_INT(login(&f, "bob", "Wrong-pass-123", &got, &err), RC_DENIED);
    CHECK_INT(got, 0);
    CHECK_STR(buf_str(&err), "用户名或密码错误 / wrong user name or password");
    CHECK_INT(sql_int(&f, "SELECT failed_logins FROM users WHERE id = %lld", (long long)id), 1);

    /* An unknown user looks exactly like a wrong password. */
    CHECK_INT(login(&f, "nosuchuser", GOOD_PW, &got, &err2), RC_DENIED);
    CHECK_STR(buf_str(&err2), buf_str(&err));
    CHECK_INT(login(&f, "bad name!", GOOD_PW, &got, &err2), RC_DENIED);
    CHECK_STR(buf_str(&err2), buf_str(&err));

    /* Success resets the counter. */
    CHECK_INT(login(&f, "bob", GOOD_PW, &got, &err), RC_OK);
    CHECK_INT(sql_int(&f, "SELECT failed_logins FROM users WHERE id = %lld", (long long)id), 0);

    /* Directory users do not sign in here, whatever the password. */
    dir_user(&f, "dir.carl", 0);
    CHECK_INT(login(&f, "dir.carl", GOOD_PW, &got, &err), RC_UNSUPPORTED);
    buf_release(&err);
    buf_release(&err2);
    fx_close(&f);
}

/* A name that is no account locks exactly like one that is, so the lock
 * message never tells a guesser which names exist. */
TEST(auth_login_lockout_unknown_name)
{
    struct fx f;
    if (fx_open(&f, "ghostlock"))
        return;
    struct buf err = BUF_INIT, real = BUF_INIT;
    int64_t id = 0, got = 0;
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "dave", "", "", GOOD_PW, 0, &id, &err), RC_OK);
    char ghost[40];
    snprintf(ghost, sizeof ghost, "nobody%lld", (long long)now_ms());
    for (int i = 1; i <= 3; i++) {
        CHECK_INT(login(&f, "dave", "Wrong-pass-x", &got, &real), RC_DENIED);
        CHECK_INT(login(&f, ghost, "Wrong-pass-x", &got, &err), RC_DENIED);
        CHECK_STR(buf_str(&err), buf_str(&real)); /* same answer at every step */
    }
    CHECK_CONTAINS(buf_str(&err), "账户已锁定");
    /* Locked names stay locked, known or not. */
    CHECK_INT(login(&f, ghost, GOOD_PW, &got, &err), RC_DENIED);
    CHECK_INT(login(&f, "dave", GOOD_PW, &got, &real), RC_DENIED);
    CHECK_STR(buf_str(&err), buf_str(&real));
    /* Another unknown name is not affected. */
    CHECK_INT(login(&f, "somebody-else", "Wrong-pass-x", &got, &err), RC_DENIED);
    CHECK_STR(buf_str(&err), "用户名或密码错误 / wrong user name or password");
    buf_release(&err);
    buf_release(&real);
    fx_close(&f);
}

TEST(auth_login_lockout)
{
    struct fx f;
    if (fx_open(&f, "lockout"))
        return;
    struct buf err = BUF_INIT;
    int64_t id = 0, got = 0;
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "carol", "", "", GOOD_PW, 0, &id, &err), RC_OK);
    CHECK_INT(login(&f, "carol", "Wrong-pass-1", &got, &err), RC_DENIED);
    CHECK_INT(login(&f, "carol", "Wrong-pass-2", &got, &err), RC_DENIED);
    CHECK(!strstr(buf_str(&err), "账户已锁定"));
    CHECK_INT(login(&f, "carol", "Wrong-pass-3", &got, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "账户已锁定");
    int64_t until = sql_int(&f, "SELECT locked_until FROM users WHERE id = %lld", (long long)id);
    CHECK(until > now_unix() && until <= now_unix() + 60);

    /* Locked: even the right password is refused, with the minutes left. */
    CHECK_INT(login(&f, "carol", GOOD_PW, &got, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "账户已锁定");
    CHECK_CONTAINS(buf_str(&err), "1 分钟");
    CHECK_INT(got, 0);
    struct auth_user u;
    CHECK_INT(auth_user_get_id(&f.d, id, &u), RC_OK);
    CHECK_INT(u.locked, 1);
    auth_user_release(&u);

    /* The lockout runs out. */
    CHECK_INT(sql(&f, "UPDATE users SET locked_until = %lld WHERE id = %lld",
                  (long long)(now_unix() - 5), (long long)id),
              RC_OK);
    CHECK_INT(auth_user_get_id(&f.d, id, &u), RC_OK);
    CHECK_INT(u.locked, 0);
    auth_user_release(&u);
    CHECK_INT(login(&f, "carol", GOOD_PW, &got, &err), RC_OK);
    CHECK_INT(got, id);
    CHECK_INT(sql_int(&f, "SELECT locked_until FROM users WHERE id = %lld", (long long)id), 0);

    /* Failures must be consecutive: a success in between starts afresh. */
    CHECK_INT(login(&f, "carol", "Wrong-pass-4", &got, &err), RC_DENIED);
    CHECK_INT(login(&f, "carol", "Wrong-pass-5", &got, &err), RC_DENIED);
    CHECK_STR(buf_str(&err), "用户名或密码错误 / wrong user name or password");
    CHECK_INT(sql_int(&f, "SELECT failed_logins FROM users WHERE id = %lld", (long long)id), 2);

    /* A new password clears a lockout. */
    CHECK_INT(sql(&f, "UPDATE users SET locked_until = %lld WHERE id = %lld",
                  (long long)(now_unix() + 600), (long long)id),
              RC_OK);
    buf_reset(&err);
    CHECK_INT(auth_user_set_password(&f.d, &f.cfg, id, "New-pass-4567", &err), RC_OK);
    CHECK_INT(sql_int(&f, "SELECT locked_until + failed_logins FROM users WHERE id = %lld",
                      (long long)id),
              0);
    buf_release(&err);
    fx_close(&f);
}

TEST(auth_login_disabled)
{
    struct fx f;
    if (fx_open(&f, "disabled"))
        return;
    struct buf err = BUF_INIT, wrong = BUF_INIT;
    int64_t id = 0, got = 0;
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "dave", "", "", GOOD_PW, 0, &id, &err), RC_OK);
    CHECK_INT(auth_user_set_disabled(&f.d, id, 1), RC_OK);
    /* A guesser learns nothing about the disabled state. */
    CHECK_INT(login(&f, "dave", "Wrong-pass-123", &got, &wrong), RC_DENIED);
    CHECK_STR(buf_str(&wrong), "用户名或密码错误 / wrong user name or password");
    CHECK_INT(login(&f, "dave", GOOD_PW, &got, &err), RC_DENIED);
    CHECK_STR(buf_str(&err), "账户已停用 / account disabled");
    CHECK_INT(got, 0);
    struct auth_user u;
    CHECK_INT(auth_user_get_id(&f.d, id, &u), RC_OK);
    CHECK_INT(u.disabled, 1);
    auth_user_release(&u);
    buf_release(&err);
    buf_release(&wrong);
    fx_close(&f);
}

TEST(auth_sessions)
{
    struct fx f;
    if (fx_open(&f, "sessions"))
        return;
    f.cfg.session_idle_min = 30;
    f.cfg.session_max_hours = 12;
    int64_t uid = dir_user(&f, "erin", 0);
    struct auth_session_new s;
    struct auth_principal p;
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, "10.0.0.1", &s), RC_OK);
    CHECK_INT(strlen(s.token), 64);
    CHECK_INT(strlen(s.csrf), 64);
    CHECK(strcmp(s.token, s.csrf) != 0);
    int64_t now = now_unix();
    CHECK(s.expires_at >= now + 12 * 3600 - 2 && s.expires_at <= now + 12 * 3600);
    /* Only the hash is stored. */
    char hash[65];
    sha256_hex(s.token, 64, hash);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM sessions WHERE token_hash = '%s'", hash), 1);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM sessions WHERE token_hash = '%s'", s.token), 0);

    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_OK);
    CHECK_INT(p.user_id, uid);
    CHECK_STR(p.username, "erin");
    CHECK_INT(p.via, AUTH_VIA_SESSION);
    CHECK_STR(p.csrf, s.csrf);
    CHECK(p.cred_id > 0);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, "deadbeef", &p), RC_DENIED);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, NULL, &p), RC_DENIED);
    char other[65];
    memcpy(other, s.token, 65);
    other[0] = other[0] == 'a' ? 'b' : 'a';
    CHECK_INT(auth_session_check(&f.d, &f.cfg, other, &p), RC_DENIED);
    CHECK_INT(p.user_id, 0);

    /* last_seen is refreshed only when over a minute old. */
    CHECK_INT(sql(&f, "UPDATE sessions SET last_seen = %lld", (long long)(now - 30)), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_OK);
    CHECK_INT(sql_int(&f, "SELECT last_seen FROM sessions"), now - 30);
    CHECK_INT(sql(&f, "UPDATE sessions SET last_seen = %lld", (long long)(now - 29 * 60)), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_OK);
    CHECK(sql_int(&f, "SELECT last_seen FROM sessions") >= now);

    /* Idle too long: denied and gone. */
    CHECK_INT(sql(&f, "UPDATE sessions SET last_seen = %lld", (long long)(now - 31 * 60)), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_DENIED);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM sessions"), 0);

    /* Past the absolute expiry, however active. */
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, NULL, &s), RC_OK);
    CHECK_INT(sql(&f, "UPDATE sessions SET expires_at = %lld", (long long)(now - 1)), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_DENIED);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM sessions"), 0);

    /* Ending one session leaves the other. */
    struct auth_session_new s2;
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, "::1", &s), RC_OK);
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, "::1", &s2), RC_OK);
    CHECK(strcmp(s.token, s2.token) != 0);
    CHECK_INT(auth_session_end(&f.d, s.token), RC_OK);
    CHECK_INT(auth_session_end(&f.d, s.token), RC_OK);
    CHECK_INT(auth_session_end(&f.d, "garbage"), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_DENIED);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s2.token, &p), RC_OK);
    CHECK_INT(auth_sessions_end_user(&f.d, uid), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s2.token, &p), RC_DENIED);

    /* Disabling ends sessions; a disabled user cannot start one. */
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, "::1", &s), RC_OK);
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 1), RC_OK);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM sessions"), 0);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_DENIED);
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, "::1", &s), RC_DENIED);
    CHECK_INT(auth_session_create(&f.d, &f.cfg, 999, "::1", &s), RC_NOT_FOUND);
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 0), RC_OK);
    /* A session that survived (inserted while disabled by hand) is refused. */
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, "::1", &s), RC_OK);
    CHECK_INT(sql(&f, "UPDATE users SET disabled = 1 WHERE id = %lld", (long long)uid), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_DENIED);
    CHECK_INT(sql(&f, "UPDATE users SET disabled = 0 WHERE id = %lld", (long long)uid), RC_OK);

    /* A password change ends sessions. */
    struct buf err = BUF_INIT;
    int64_t lid = 0;
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "frank", "", "", GOOD_PW, 0, &lid, &err), RC_OK);
    CHECK_INT(auth_session_create(&f.d, &f.cfg, lid, "::1", &s), RC_OK);
    CHECK_INT(auth_session_create(&f.d, &f.cfg, uid, "::1", &s2), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_OK);
    buf_reset(&err);
    CHECK_INT(auth_user_set_password(&f.d, &f.cfg, lid, "frank", &err), RC_INVALID);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_OK);
    buf_reset(&err);
    CHECK_INT(auth_user_set_password(&f.d, &f.cfg, lid, "Another-pw-99", &err), RC_OK);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s.token, &p), RC_DENIED);
    CHECK_INT(auth_session_check(&f.d, &f.cfg, s2.token, &p), RC_OK); /* someone else's */
    buf_release(&err);
    fx_close(&f);
}

/* The token whose JSON entry has this id, or NULL. */
static json_t *token_entry(json_t *list, int64_t id)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        if (json_integer_value(json_object_get(o, "id")) == id)
            return o;
    }
    return NULL;
}

TEST(auth_tokens)
{
    struct fx f;
    if (fx_open(&f, "tokens"))
        return;
    int64_t uid = dir_user(&f, "grace", 0), uid2 = dir_user(&f, "heidi", 0);
    struct buf err = BUF_INIT;
    char tok[64], tok2[64];
    int64_t tid = 0, tid2 = 0;
    CHECK_INT(auth_token_create(&f.d, uid, "报表系统", 0, tok, &tid, &err), RC_OK);
    CHECK_INT(strlen(tok), 52);
    CHECK(strncmp(tok, "atr_", 4) == 0);
    CHECK(tid > 0);
    char hash[65];
    sha256_hex(tok, strlen(tok), hash);
    CHECK_INT(sql_int(&f,
                      "SELECT count(*) FROM api_tokens WHERE token_hash = '%s' AND prefix = "
                      "substr('%s', 1, 12) AND expires_at = 0",
                      hash, tok),
              1);

    struct auth_principal p;
    CHECK_INT(auth_token_check(&f.d, tok, &p), RC_OK);
    CHECK_INT(p.user_id, uid);
    CHECK_STR(p.username, "grace");
    CHECK_INT(p.via, AUTH_VIA_TOKEN);
    CHECK_INT(p.cred_id, tid);
    CHECK_STR(p.csrf, "");
    int64_t used =
        sql_int(&f, "SELECT last_used_at FROM api_tokens WHERE id = %lld", (long long)tid);
    CHECK(used >= now_unix() - 2);
    /* Not written again within the minute. */
    CHECK_INT(sql(&f, "UPDATE api_tokens SET last_used_at = %lld", (long long)(now_unix() - 10)),
              RC_OK);
    CHECK_INT(auth_token_check(&f.d, tok, &p), RC_OK);
    CHECK(sql_int(&f, "SELECT last_used_at FROM api_tokens WHERE id = %lld", (long long)tid) <
          now_unix() - 5);
    CHECK_INT(sql(&f, "UPDATE api_tokens SET last_used_at = %lld", (long long)(now_unix() - 100)),
              RC_OK);
    CHECK_INT(auth_token_check(&f.d, tok, &p), RC_OK);
    CHECK(sql_int(&f, "SELECT last_used_at FROM api_tokens WHERE id = %lld", (long long)tid) >=
          now_unix() - 2);

    /* Wrong shapes and unknown tokens. */
    CHECK_INT(auth_token_check(&f.d, NULL, &p), RC_DENIED);
    CHECK_INT(auth_token_check(&f.d, "atr_", &p), RC_DENIED);
    CHECK_INT(auth_token_check(&f.d, tok + 4, &p), RC_DENIED);
    char bad[64];
    memcpy(bad, tok, sizeof bad);
    bad[10] = bad[10] == '0' ? '1' : '0';
    CHECK_INT(auth_token_check(&f.d, bad, &p), RC_DENIED);

    /* Bad arguments. */
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    buf_reset(&err);
    CHECK_INT(auth_token_create(&f.d, uid, longname, 0, tok2, &tid2, &err), RC_INVALID);
    buf_reset(&err);
    CHECK_INT(auth_token_create(&f.d, uid, "x", 3651, tok2, &tid2, &err), RC_INVALID);
    buf_reset(&err);
    CHECK_INT(auth_token_create(&f.d, uid, "x", -1, tok2, &tid2, &err), RC_INVALID);
    buf_reset(&err);
    CHECK_INT(auth_token_create(&f.d, 999, "x", 1, tok2, &tid2, &err), RC_NOT_FOUND);

    /* Expiry in days. */
    buf_reset(&err);
    CHECK_INT(auth_token_create(&f.d, uid2, "短期", 7, tok2, &tid2, &err), RC_OK);
    int64_t exp = sql_int(&f, "SELECT expires_at FROM api_tokens WHERE id = %lld", (long long)tid2);
    CHECK(exp >= now_unix() + 7 * 86400 - 2 && exp <= now_unix() + 7 * 86400);
    CHECK_INT(auth_token_check(&f.d, tok2, &p), RC_OK);
    CHECK_INT(p.user_id, uid2);
    CHECK_INT(sql(&f, "UPDATE api_tokens SET expires_at = %lld WHERE id = %lld",
                  (long long)(now_unix() - 1), (long long)tid2),
              RC_OK);
    CHECK_INT(auth_token_check(&f.d, tok2, &p), RC_DENIED);

    /* Listing: the prefix, never the token or its hash. */
    json_t *list = NULL;
    CHECK_INT(auth_token_list(&f.d, 0, &list), RC_OK);
    CHECK_INT(json_array_size(list), 2);
    json_t *e = token_entry(list, tid);
    CHECK(e != NULL);
    if (e) {
        CHECK_STR(json_string_value(json_object_get(e, "name")), "报表系统");
        CHECK_INT(strlen(json_string_value(json_object_get(e, "prefix"))), 12);
        CHECK(strncmp(json_string_value(json_object_get(e, "prefix")), tok, 12) == 0);
        CHECK_STR(json_string_value(json_object_get(e, "user")), "grace");
        CHECK(json_integer_value(json_object_get(e, "created_at")) > 0);
        CHECK_INT(json_integer_value(json_object_get(e, "revoked_at")), 0);
        CHECK(json_object_get(e, "last_used_at") != NULL);
        CHECK(json_object_get(e, "expires_at") != NULL);
    }
    char *dump = json_dumps(list, 0);
    CHECK(dump != NULL);
    if (dump) {
        CHECK(!strstr(dump, tok));
        CHECK(!strstr(dump, tok + 12));
        CHECK(!strstr(dump, hash));
        CHECK(!strstr(dump, "token_hash"));
    }
    free(dump);
    json_decref(list);
    CHECK_INT(auth_token_list(&f.d, uid2, &list), RC_OK);
    CHECK_INT(json_array_size(list), 1);
    CHECK(token_entry(list, tid2) != NULL);
    json_decref(list);

    /* A disabled user's tokens stop working, and work again when enabled. */
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 1), RC_OK);
    CHECK_INT(auth_token_check(&f.d, tok, &p), RC_DENIED);
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 0), RC_OK);
    CHECK_INT(auth_token_check(&f.d, tok, &p), RC_OK);

    /* Revoking: only the owner's, when restricted. */
    CHECK_INT(auth_token_revoke(&f.d, tid, uid2), RC_NOT_FOUND);
    CHECK_INT(auth_token_check(&f.d, tok, &p), RC_OK);
    CHECK_INT(auth_token_revoke(&f.d, 999, 0), RC_NOT_FOUND);
    CHECK_INT(auth_token_revoke(&f.d, tid, uid), RC_OK);
    CHECK_INT(auth_token_check(&f.d, tok, &p), RC_DENIED);
    CHECK_INT(auth_token_revoke(&f.d, tid, 0), RC_OK);
    CHECK(sql_int(&f, "SELECT revoked_at FROM api_tokens WHERE id = %lld", (long long)tid) > 0);
    buf_release(&err);
    fx_close(&f);
}

TEST(auth_principal_perms)
{
    struct fx f;
    if (fx_open(&f, "principal"))
        return;
    int64_t uid = dir_user(&f, "ivan", 0);
    struct auth_principal p;
    CHECK_INT(auth_principal_load(&f.d, uid, &p), RC_OK);
    CHECK_INT(p.perms, 0);
    CHECK_STR(p.username, "ivan");
    CHECK_INT(p.user_id, uid);

    CHECK_INT(sql(&f,
                  "INSERT INTO user_roles(user_id, role_id) SELECT %lld, id FROM roles"
                  " WHERE name = 'admin'",
                  (long long)uid),
              RC_OK);
    CHECK_INT(auth_principal_load(&f.d, uid, &p), RC_OK);
    CHECK(p.perms & AUTH_P_USERS);
    CHECK(p.perms & AUTH_P_ROLES);
    CHECK(!(p.perms & AUTH_P_AUDIT));

    CHECK_INT(sql(&f,
                  "INSERT INTO user_roles(user_id, role_id) SELECT %lld, id FROM roles"
                  " WHERE name = 'auditor'",
                  (long long)uid),
              RC_OK);
    CHECK_INT(auth_principal_load(&f.d, uid, &p), RC_OK);
    CHECK_INT(p.perms, AUTH_P_ALL);

    /* A custom role adds its bits; roles only ever add. */
    int64_t kid = dir_user(&f, "judy", 0);
    CHECK_INT(sql(&f, "INSERT INTO roles(name, perms, created_at) VALUES ('模型员', %u, 0)",
                  (unsigned)(AUTH_P_MODELS | AUTH_P_AGENTS)),
              RC_OK);
    CHECK_INT(sql(&f,
                  "INSERT INTO user_roles(user_id, role_id) SELECT %lld, id FROM roles"
                  " WHERE name IN ('模型员', 'kb_admin')",
                  (long long)kid),
              RC_OK);
    CHECK_INT(auth_principal_load(&f.d, kid, &p), RC_OK);
    CHECK_INT(p.perms, AUTH_P_MODELS | AUTH_P_AGENTS | AUTH_P_KB_CREATE | AUTH_P_KB_ADMIN);

    /* admin set at creation. */
    int64_t aid = dir_user(&f, "root.admin", 1);
    CHECK_INT(auth_principal_load(&f.d, aid, &p), RC_OK);
    CHECK(p.perms & AUTH_P_USERS);
    CHECK(!(p.perms & AUTH_P_AUDIT));

    CHECK_INT(auth_principal_load(&f.d, 999, &p), RC_NOT_FOUND);
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 1), RC_OK);
    CHECK_INT(auth_principal_load(&f.d, uid, &p), RC_DENIED);
    CHECK_INT(p.perms, 0);

    auth_principal_cli(&p);
    CHECK_INT(p.user_id, 0);
    CHECK_INT(p.perms, AUTH_P_ALL);
    CHECK_INT(p.via, AUTH_VIA_CLI);
    CHECK(strncmp(p.username, "cli:", 4) == 0 && strlen(p.username) > 4);
    fx_close(&f);
}

struct hash_job {
    pthread_barrier_t *start;
    int rc;
    char out[128];
};

static void *hash_thread(void *arg)
{
    struct hash_job *j = arg;
    pthread_barrier_wait(j->start);
    j->rc = auth_hash_password("Limiter-pw-1", j->out);
    return NULL;
}

/* Two hashes started together; returns how many came back RC_BUSY and
 * how many RC_OK. */
static void hash_pair(int *busy, int *ok)
{
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, 2);
    struct hash_job j[2] = {{&b, -1, ""}, {&b, -1, ""}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hash_thread, &j[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&b);
    *busy = *ok = 0;
    for (int i = 0; i < 2; i++) {
        *busy += j[i].rc == RC_BUSY;
        *ok += j[i].rc == RC_OK;
        if (j[i].rc == RC_OK)
            CHECK(strncmp(j[i].out, "$argon2id$", 10) == 0);
    }
}

TEST(auth_hash_limiter)
{
    char h[128];
    CHECK_INT(auth_hash_password(GOOD_PW, h), RC_OK);
    CHECK(strncmp(h, "$argon2id$", 10) == 0);
    CHECK_INT(auth_verify_password(h, GOOD_PW), RC_OK);
    CHECK_INT(auth_verify_password(h, "Kx7!mq2Lp9Z"), RC_DENIED);
    CHECK_INT(auth_verify_password("not a hash", GOOD_PW), RC_DENIED);

    /* One slot, no queue: of two hashes at once, one is turned away. The
     * two threads start together and a hash takes ~0.1 s, so they overlap. */
    auth_hash_limit(1, 0);
    int busy = 0, ok = 0;
    hash_pair(&busy, &ok);
    CHECK_INT(busy, 1);
    CHECK_INT(ok, 1);
    /* One slot and room to wait: both finish. */
    auth_hash_limit(1, 1);
    hash_pair(&busy, &ok);
    CHECK_INT(busy, 0);
    CHECK_INT(ok, 2);
    auth_hash_limit(2, 64);
}
