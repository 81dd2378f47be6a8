/* Identity: users, passwords, sign-in with lockout, sessions and API
 * tokens, and the principal (who is asking, with which permissions) that
 * every request carries. Organisation (orgs, positions, roles) is in
 * auth/org.h, KB access in auth/acl.h, the audit log in auth/audit.h,
 * LDAP in auth/ldap.h.
 *
 * Every function takes the calling thread's store connection (struct
 * db_conn, see kb_conn_store) and may run inside a caller's transaction.
 * Secrets (passwords, session and API tokens) are never stored or logged
 * in clear: passwords as argon2id strings, tokens as their sha256. */
#ifndef ATRIUM_AUTH_H
#define ATRIUM_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "store/db.h"

/* ---- permissions ---- */

/* What a role allows. A user's permissions are the union over their roles. */
enum auth_perm {
    AUTH_P_USERS = 1u << 0,     /* users.manage: users, passwords, their tokens */
    AUTH_P_ORG = 1u << 1,       /* org.manage: org tree, members, positions */
    AUTH_P_ROLES = 1u << 2,     /* roles.manage: roles and who holds them */
    AUTH_P_KB_CREATE = 1u << 3, /* kb.create: create enterprise KBs */
    AUTH_P_KB_ADMIN = 1u << 4,  /* kb.admin: admin of every enterprise KB */
    AUTH_P_AGENTS = 1u << 5,    /* agents.manage: digital employees */
    AUTH_P_MODELS = 1u << 6,    /* models.manage: the model registry */
    AUTH_P_AUDIT = 1u << 7,     /* audit.read: the audit log */
};
#define AUTH_P_ALL 0xFFu

/* "users.manage" for AUTH_P_USERS …; NULL for a bit that is not one perm. */
const char *auth_perm_name(unsigned perm);
/* Parses one name; 0 when unknown. */
unsigned auth_perm_parse(const char *name);
/* ["users.manage", …] for the bits set in perms. */
json_t *auth_perms_json(unsigned perms);

/* ---- principals ---- */

enum auth_via { AUTH_VIA_NONE = 0, AUTH_VIA_SESSION, AUTH_VIA_TOKEN, AUTH_VIA_CLI };

/* Who is asking. Plain data, no heap: copied freely. */
struct auth_principal {
    int64_t user_id; /* 0 for the local CLI operator acting without a user */
    char username[65];
    unsigned perms; /* enum auth_perm bits */
    enum auth_via via;
    int64_t cred_id; /* the session's or the token's row id */
    char csrf[65];   /* the session's CSRF token (sessions only) */
};

/* Loads user_id's principal (perms from roles). RC_NOT_FOUND for an unknown
 * user, RC_DENIED for a disabled one. */
int auth_principal_load(struct db_conn *d, int64_t user_id, struct auth_principal *out);

/* The principal of the CLI operator: every permission, user_id 0, the name
 * "cli:<login name>" (for the audit log). Someone who can run the binary
 * on the server can read its database anyway. */
void auth_principal_cli(struct auth_principal *out);

/* ---- users ---- */

struct auth_user {
    int64_t id;
    char *username, *display_name, *employee_no;
    char *source; /* "local" or "ldap" */
    int disabled;
    int locked; /* locked out now (too many failed sign-ins) */
    int64_t created_at, last_login_at;
};
void auth_user_release(struct auth_user *u);
void auth_users_free(struct auth_user *a, size_t n);
/* {"id","username","display_name","employee_no","source","disabled","locked",
 *  "created_at","last_login_at"}; never the hash. */
json_t *auth_user_json(const struct auth_user *u);

/* User names: 1–64 bytes of [A-Za-z0-9._@-], not all digits (so an id and
 * a name never collide); compared case-insensitively. */
int auth_username_valid(const char *name);

/* The password policy: at least cfg->password_min_len characters, at most
 * 128 bytes, valid UTF-8, three of four classes (lower, upper, digit,
 * other), and not containing the user name. RC_INVALID with the reason
 * (zh-CN / English) in err. */
int auth_password_check(const struct config *cfg, const char *username, const char *password,
                        struct buf *err);

/* Creates a local user with the role "user" (and "admin" when admin is
 * set). password may be NULL only for source "ldap". Hashes the password
 * (slow: see auth_hash_*). RC_INVALID (name or policy, message in err),
 * RC_EXISTS. */
int auth_user_create(struct db_conn *d, const struct config *cfg, const char *username,
                     const char *display_name, const char *employee_no, const char *password,
                     int admin, int64_t *id, struct buf *err);
/* By numeric id or by user name. RC_NOT_FOUND. */
int auth_user_get(struct db_conn *d, const char *id_or_name, struct auth_user *out);
int auth_user_get_id(struct db_conn *d, int64_t id, struct auth_user *out);
int auth_user_list(struct db_conn *d, struct auth_user **out, size_t *n);
/* Either string may be NULL (unchanged). RC_NOT_FOUND. */
int auth_user_update(struct db_conn *d, int64_t id, const char *display_name,
                     const char *employee_no);
/* Disabling also ends the user's sessions; their tokens stop working while
 * disabled. RC_NOT_FOUND. */
int auth_user_set_disabled(struct db_conn *d, int64_t id, int disabled);
/* Sets a new password (policy checked, hashed), clears a lockout and ends
 * the user's sessions. RC_INVALID, RC_NOT_FOUND. */
int auth_user_set_password(struct db_conn *d, const struct config *cfg, int64_t id,
                           const char *password, struct buf *err);

/* ---- password hashing ---- */

/* argon2id (libsodium, INTERACTIVE limits: about 0.1 s and 64 MiB each).
 * At most `concurrency` hashes run at once in the process; at most `queue`
 * callers wait for a slot, more get RC_BUSY at once. Call once at start
 * (defaults 2 and 64 until then). */
void auth_hash_limit(int concurrency, int queue);
/* out receives the argon2id string (crypto_pwhash_STRBYTES, 128 bytes, is
 * enough). RC_OK, RC_BUSY (too many waiting), RC_INTERNAL (out of memory). */
int auth_hash_password(const char *password, char out[128]);
/* RC_OK when password matches hash, RC_DENIED when not, RC_BUSY. */
int auth_verify_password(const char *hash, const char *password);

/* ---- sign-in ---- */

/* Checks a local user's password. Lockout: after cfg->login_max_failures
 * failures in a row the account is locked for cfg->login_lockout_min
 * minutes (RC_DENIED with "账户已锁定" in err even for the right password).
 * Unknown users cost the same hash as known ones. On success resets the
 * failure count, sets last_login_at and *user_id. RC_DENIED (err says why,
 * without telling an unknown user from a wrong password), RC_BUSY. Slow:
 * never call on a request thread. Users whose source is "ldap" are
 * RC_UNSUPPORTED here (sign them in with auth_ldap_login). */
int auth_login_local(struct db_conn *d, const struct config *cfg, const char *username,
                     const char *password, int64_t *user_id, struct buf *err);

/* Signs a user in by password, the way the server and `atrium` do it: a
 * local user by auth_login_local; with LDAP configured, a user unknown
 * here or whose source is "ldap" by ldap_authenticate + ldap_sync_user
 * (auth/ldap.h). Same results as auth_login_local; RC_UPSTREAM when the
 * directory is down. Slow: never call on a request thread. */
int auth_login(struct db_conn *d, const struct config *cfg, const char *username,
               const char *password, int64_t *user_id, struct buf *err);

/* ---- sessions (browser sign-in) ---- */

#define AUTH_SESSION_COOKIE "atrium_session"

struct auth_session_new {
    char token[65]; /* the cookie value: 64 hex characters, shown once */
    char csrf[65];  /* the CSRF token the page sends back in X-CSRF-Token */
    int64_t expires_at;
};
/* Starts a session for user_id (absolute expiry cfg->session_max_hours). */
int auth_session_create(struct db_conn *d, const struct config *cfg, int64_t user_id,
                        const char *ip, struct auth_session_new *out);
/* Resolves a cookie value: RC_OK with the principal (via AUTH_VIA_SESSION,
 * csrf set), or RC_DENIED when unknown, idle longer than
 * cfg->session_idle_min, past its absolute expiry, or the user is
 * disabled. Refreshes last_seen (at most once a minute, to spare writes). */
int auth_session_check(struct db_conn *d, const struct config *cfg, const char *token,
                       struct auth_principal *out);
/* Ends one session (by its cookie value); RC_OK even when unknown. */
int auth_session_end(struct db_conn *d, const char *token);
/* Ends every session of a user. */
int auth_sessions_end_user(struct db_conn *d, int64_t user_id);

/* ---- API tokens (other systems) ---- */

#define AUTH_TOKEN_PREFIX "atr_"

/* Creates a token for user_id: "atr_" + 48 hex characters, written to
 * token (shown once, stored as sha256). days = 0: no expiry. RC_NOT_FOUND
 * for an unknown user, RC_INVALID for a name over 64 bytes or days out of
 * 0..3650. */
int auth_token_create(struct db_conn *d, int64_t user_id, const char *name, int days,
                      char token[64], int64_t *id, struct buf *err);
/* Resolves a bearer token: RC_OK with the principal (AUTH_VIA_TOKEN), or
 * RC_DENIED when unknown, revoked, expired, or its user is disabled. */
int auth_token_check(struct db_conn *d, const char *token, struct auth_principal *out);
/* [{"id","name","prefix","user","created_at","expires_at","revoked_at",
 *   "last_used_at"}] of one user (user_id > 0) or of everyone (0). */
int auth_token_list(struct db_conn *d, int64_t user_id, json_t **out);
/* Revokes a token. owner_id > 0 restricts to that user's tokens (others are
 * RC_NOT_FOUND). RC_NOT_FOUND. */
int auth_token_revoke(struct db_conn *d, int64_t token_id, int64_t owner_id);

#endif
