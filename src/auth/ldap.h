/* LDAP / Active Directory sign-in (libldap): find the user's entry with the
 * service account (or anonymously), bind as the user with their password,
 * read their display name, employee number and groups, and map groups and
 * OUs to orgs, positions and roles (table ldap_maps). The local user is
 * created on first sign-in (source "ldap", no local password) and its
 * LDAP-derived memberships are replaced on every sign-in. */
#ifndef ATRIUM_AUTH_LDAP_H
#define ATRIUM_AUTH_LDAP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "store/db.h"

/* Non-zero when cfg->ldap_url is set. */
int ldap_enabled(const struct config *cfg);

struct ldap_identity {
    char *dn;
    char *display_name;
    char *employee_no;
    char **groups; /* group DNs */
    size_t ngroups;
};
void ldap_identity_release(struct ldap_identity *id);

/* Authenticates username/password against the directory: searches
 * cfg->ldap_base_dn with cfg->ldap_user_filter as the service account (or
 * anonymously), binds as the one entry found on a fresh connection, and
 * reads its name, employee number and group DNs (cfg->ldap_group_filter;
 * read as the service account, or as the user when there is none). On
 * RC_OK *out is filled (release it with ldap_identity_release); on
 * failure it is empty. RC_DENIED (no such user, several matches, wrong
 * password, empty password — never an unauthenticated bind; err has the
 * same message for all), RC_UPSTREAM (server down or refusing the service
 * bind, message in err), RC_TIMEOUT (cfg->ldap_timeout_ms), RC_UNSUPPORTED
 * (not configured). The user name is escaped before it goes into the
 * filter (RFC 4515). The password is never logged. Blocking: never call on
 * a request thread. */
int ldap_authenticate(const struct config *cfg, const char *username, const char *password,
                      struct ldap_identity *out, struct buf *err);

/* Appends s[0..n) to out escaped as an RFC 4515 filter value: '*', '(',
 * ')', '\\', NUL, control characters and every byte >= 0x7f become \XX
 * (UTF-8 names survive: the server decodes the octets). RC_OK or
 * RC_TOO_BIG (out's max). */
int ldap_filter_escape(struct buf *out, const char *s, size_t n);

/* Appends the filter template tmpl to out with "%s" replaced by the escaped
 * user name, "%D" by the escaped DN (dn may be NULL: empty) and "%%" by
 * '%'. RC_OK or RC_TOO_BIG. */
int ldap_filter_expand(struct buf *out, const char *tmpl, const char *user, const char *dn);

/* Creates or updates the local user for an authenticated identity and
 * re-applies the mappings (clears the user's "ldap" memberships, then adds
 * one per matching map: a group map matches one of id->groups exactly, an
 * OU map matches when id->dn ends with ",<match>"; both case-insensitive).
 * RC_DENIED when a local (non-LDAP) user of that name exists or the user is
 * disabled, RC_INVALID when username is not a valid user name
 * (auth_username_valid). A new user gets source "ldap", no password and
 * the role "user" (as a 'local' row: it survives re-mapping). A map whose
 * target is gone is skipped. One transaction. *user_id on success. Does
 * not touch last_login_at (auth_login does). */
int ldap_sync_user(struct db_conn *d, const char *username, const struct ldap_identity *id,
                   int64_t *user_id, struct buf *err);

/* Maps: match a DN (checked with ldap_str2dn), target_type "org" |
 * "position" | "role", target an id or name (an org also by path).
 * RC_NOT_FOUND (target), RC_INVALID (DN, type), RC_EXISTS (the same DN,
 * compared as at sign-in, already maps to that target); message in err.
 * Adding or deleting a map changes memberships at each user's next
 * sign-in, not before. ldap_map_delete: RC_NOT_FOUND. */
int ldap_map_add(struct db_conn *d, const char *match, const char *target_type, const char *target,
                 int64_t *id, struct buf *err);
int ldap_map_delete(struct db_conn *d, int64_t id);
/* [{"id","match","target_type","target_id","target":"name"}] */
int ldap_map_list(struct db_conn *d, json_t **out);

#endif
