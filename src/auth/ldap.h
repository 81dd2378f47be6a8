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

/* Authenticates username/password against the directory. RC_DENIED (no
 * such user, several matches, wrong password, empty password — never an
 * anonymous bind), RC_UPSTREAM (server down or refusing the service bind,
 * message in err), RC_TIMEOUT, RC_UNSUPPORTED (not configured). The user
 * name is escaped before it goes into the filter (RFC 4515). Blocking:
 * never call on a request thread. */
int ldap_authenticate(const struct config *cfg, const char *username, const char *password,
                      struct ldap_identity *out, struct buf *err);

/* Creates or updates the local user for an authenticated identity and
 * re-applies the mappings (clears the user's "ldap" memberships, then adds
 * one per matching map: a group map matches one of id->groups exactly, an
 * OU map matches when id->dn ends with ",<match>"; both case-insensitive).
 * RC_DENIED when a local (non-LDAP) user of that name exists or the user is
 * disabled. *user_id on success. */
int ldap_sync_user(struct db_conn *d, const char *username, const struct ldap_identity *id,
                   int64_t *user_id, struct buf *err);

/* Maps: target_type "org" | "position" | "role", target an id or name.
 * RC_NOT_FOUND (target), RC_INVALID, RC_EXISTS. */
int ldap_map_add(struct db_conn *d, const char *match, const char *target_type,
                 const char *target, int64_t *id, struct buf *err);
int ldap_map_delete(struct db_conn *d, int64_t id);
/* [{"id","match","target_type","target_id","target":"name"}] */
int ldap_map_list(struct db_conn *d, json_t **out);

#endif
