/* Knowledge-base access: grants of read / write / admin on an enterprise KB
 * to an org subtree, a position, a role or a single user; personal and
 * conversation KBs belong to their owner alone.
 *
 * The rule lives in one SQL expression, ACL_KB_LEVEL_SQL, which every query
 * that selects KBs, documents or chunks embeds in its WHERE clause, so that
 * nothing a user may not read is ever selected or ranked (DESIGN.md,
 * principle 4). A KB the user cannot read is answered exactly like one that
 * does not exist. */
#ifndef ATRIUM_AUTH_ACL_H
#define ATRIUM_AUTH_ACL_H

#include <jansson.h>
#include <stdint.h>

#include "auth/auth.h"
#include "common/buf.h"
#include "store/db.h"

enum acl_level { ACL_NONE = 0, ACL_READ = 1, ACL_WRITE = 2, ACL_ADMIN = 3 };
enum acl_subject { ACL_SUBJ_ORG = 1, ACL_SUBJ_POSITION, ACL_SUBJ_ROLE, ACL_SUBJ_USER };

/* The caller's access level (0..3) to the KB row aliased `k`, as an SQL
 * expression. Parameters: ?1 = the user id, ?2 = 1 when the user holds
 * kb.admin (admin of every enterprise KB), 2 for no principal at all (the
 * CLI operator on the server: everything), else 0. Use numbered
 * parameters ?3 and up for the rest of the query.
 *
 * - a KB with an owner (personal, conversation): 3 for the owner, else 0 —
 *   not even kb.admin reads someone's personal KB;
 * - an enterprise KB: 3 with kb.admin, else the highest level granted to
 *   the user, one of their roles or positions, or an org that contains one
 *   of their orgs (the grantee org's id is a segment of the member org's
 *   path, "/1/4/9/").
 *
 * Written from the user's side (their roles, positions and orgs, each an
 * index lookup into kb_acl's (kb_id, subject_type, subject_id) key), so the
 * cost grows with what the user holds, not with how many grants the KB
 * has: about 14 µs above a bare lookup on bench/acl.sh's directory, where
 * the first form (a scan of the KB's grants with a join per org grant) took
 * about 31 µs (docs/BENCHMARKS.md). */
#define ACL_KB_LEVEL_SQL                                                                           \
    "(CASE WHEN ?2 = 2 THEN 3"                                                                     \
    " WHEN k.owner_id IS NOT NULL THEN (CASE WHEN k.owner_id = ?1 THEN 3 ELSE 0 END)"              \
    " WHEN ?2 = 1 THEN 3"                                                                          \
    " ELSE max("                                                                                   \
    "  coalesce((SELECT a.level FROM kb_acl a WHERE a.kb_id = k.id"                                \
    "    AND a.subject_type = 'user' AND a.subject_id = ?1), 0),"                                  \
    "  coalesce((SELECT max(a.level) FROM user_roles ur JOIN kb_acl a ON a.kb_id = k.id"           \
    "    AND a.subject_type = 'role' AND a.subject_id = ur.role_id WHERE ur.user_id = ?1), 0),"    \
    "  coalesce((SELECT max(a.level) FROM user_positions up JOIN kb_acl a ON a.kb_id = k.id"       \
    "    AND a.subject_type = 'position' AND a.subject_id = up.position_id"                        \
    "    WHERE up.user_id = ?1), 0),"                                                              \
    "  coalesce((SELECT max(a.level) FROM org_members m JOIN orgs mo ON mo.id = m.org_id"          \
    "    JOIN kb_acl a ON a.kb_id = k.id AND a.subject_type = 'org'"                               \
    "    WHERE m.user_id = ?1 AND instr(mo.path, '/' || a.subject_id || '/') > 0), 0)) END)"

/* Binds ?1 and ?2 of a statement that embeds ACL_KB_LEVEL_SQL. who NULL or
 * via AUTH_VIA_CLI: ?2 = 2 (unrestricted). */
void acl_bind(sqlite3_stmt *st, const struct auth_principal *who);

/* "read" | "write" | "admin" ↔ enum; 0 when unknown. */
const char *acl_level_name(int level);
int acl_level_parse(const char *s);
const char *acl_subject_name(enum acl_subject s);
enum acl_subject acl_subject_parse(const char *s);

/* The caller's level on a KB (ACL_NONE for a KB that does not exist). */
int acl_kb_level(struct db_conn *d, const struct auth_principal *who, int64_t kb_id, int *level);

/* Grants (or changes) a subject's level on an enterprise KB. subject is an
 * id or a name (org path, position, role, user name). RC_NOT_FOUND (subject),
 * RC_INVALID (a personal KB cannot be shared; bad level). *grant_id is the
 * row. */
int acl_grant(struct db_conn *d, int64_t kb_id, enum acl_subject type, const char *subject,
              int level, int64_t *grant_id, struct buf *err);
/* Removes a grant by its id. RC_NOT_FOUND. */
int acl_revoke(struct db_conn *d, int64_t kb_id, int64_t grant_id);
/* [{"id","subject_type","subject_id","subject":"总行/上海分行","level":"read"}] */
int acl_list(struct db_conn *d, int64_t kb_id, json_t **out);

#endif
