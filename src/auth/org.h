/* Organisation: the org tree (总行 → 分行 → 支行, 部门, any depth) and its
 * members, positions (岗位) held by users, and roles that carry
 * permissions (enum auth_perm). KB grants name these as subjects
 * (auth/acl.h).
 *
 * Orgs keep a materialised path ("/1/4/9/"): an org's subtree is every
 * org whose path starts with its own, which is how grants to an org
 * subtree are tested inside one SQL query. */
#ifndef ATRIUM_AUTH_ORG_H
#define ATRIUM_AUTH_ORG_H

#include <jansson.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/db.h"

/* Names of orgs, positions and roles: 1–64 characters of valid UTF-8, no
 * control characters, no '/', not all digits. */
int org_name_valid(const char *name);

/* ---- org tree ---- */

/* Creates an org under parent_id (0: a root). RC_INVALID (name), RC_EXISTS
 * (a sibling has that name), RC_NOT_FOUND (parent). */
int org_create(struct db_conn *d, const char *name, int64_t parent_id, int64_t *id,
               struct buf *err);
/* Finds an org by id, or by its path of names from a root:
 * "恒远银行/上海分行/浦东支行" (a bare name works when it is unique).
 * RC_NOT_FOUND. */
int org_find(struct db_conn *d, const char *id_or_path, int64_t *id);
/* Moves the org and its whole subtree under new_parent (0: make it a root).
 * RC_INVALID when new_parent is the org or inside its subtree, RC_EXISTS
 * (name taken among the new siblings), RC_NOT_FOUND. */
int org_move(struct db_conn *d, int64_t id, int64_t new_parent, struct buf *err);
int org_rename(struct db_conn *d, int64_t id, const char *name, struct buf *err);
/* Deletes an org that has no child orgs (RC_BUSY otherwise); its
 * memberships and grants go with it. RC_NOT_FOUND. */
int org_delete(struct db_conn *d, int64_t id, struct buf *err);
/* The forest: [{"id","name","path","members":n,"children":[…]}]. */
int org_tree(struct db_conn *d, json_t **out);
/* One org: {"id","name","parent_id","path","names":"总行/分行", "members":[user…]}. */
int org_get_json(struct db_conn *d, int64_t id, json_t **out);

/* Membership (a user may belong to several orgs). source: "local" or
 * "ldap" (LDAP sign-in replaces its own rows only). RC_NOT_FOUND. */
int org_member_add(struct db_conn *d, int64_t org_id, int64_t user_id, const char *source);
int org_member_remove(struct db_conn *d, int64_t org_id, int64_t user_id);

/* ---- positions (岗位) ---- */

int position_create(struct db_conn *d, const char *name, int64_t *id, struct buf *err);
/* By id or name. RC_NOT_FOUND. */
int position_find(struct db_conn *d, const char *id_or_name, int64_t *id);
int position_delete(struct db_conn *d, int64_t id);
/* [{"id","name","holders":n}] */
int position_list(struct db_conn *d, json_t **out);
int position_assign(struct db_conn *d, int64_t user_id, int64_t position_id, const char *source);
int position_unassign(struct db_conn *d, int64_t user_id, int64_t position_id);

/* ---- roles ---- */

/* The built-in roles come with the schema (store/db.c, migration 2):
 * admin (everything but audit.read: 三员分立, the auditor is someone
 * else), kb_admin (kb.create, kb.admin), agent_admin (agents.manage),
 * auditor (audit.read), user (nothing beyond what grants give; every new
 * user holds it). Built-in roles cannot be deleted or changed. */
int role_create(struct db_conn *d, const char *name, unsigned perms, int64_t *id, struct buf *err);
int role_find(struct db_conn *d, const char *id_or_name, int64_t *id);
/* RC_DENIED for a built-in role. */
int role_set_perms(struct db_conn *d, int64_t id, unsigned perms);
int role_delete(struct db_conn *d, int64_t id);
/* [{"id","name","perms":[…],"builtin":bool,"holders":n}] */
int role_list(struct db_conn *d, json_t **out);
int role_grant(struct db_conn *d, int64_t user_id, int64_t role_id, const char *source);
int role_revoke(struct db_conn *d, int64_t user_id, int64_t role_id);
/* The union of the user's roles' permissions. */
int role_perms_of(struct db_conn *d, int64_t user_id, unsigned *perms);

/* What a user belongs to: {"orgs":[{"id","name","path"}], "positions":[{"id","name"}],
 * "roles":[{"id","name"}]}. */
int org_user_memberships(struct db_conn *d, int64_t user_id, json_t **out);
/* Removes the rows with this source (e.g. "ldap") from org_members,
 * user_positions and user_roles of a user: LDAP sign-in re-applies them. */
int org_clear_source(struct db_conn *d, int64_t user_id, const char *source);

#endif
