/* Digital employees (数字员工): agents, their versions and who may use them
 * (tables agents, agent_versions, agent_acl of migration 4).
 *
 * Lifecycle: an agent has versions 1, 2, …; each starts as a draft whose
 * spec (agents/spec.h) may be edited; publishing a draft makes it the
 * agent's one published version (the previous published version becomes
 * retired) and freezes it (a trigger refuses any later change to its
 * spec); rollback republishes an earlier version as it was; retiring the
 * agent takes it out of use. Publishing passes the quality gate first
 * (agents/eval.h) when the agent has one.
 *
 * Visibility: a published agent is usable by the subjects of its
 * agent_acl rows (all, an org subtree, a position, a role, a user), by the
 * same rules and in the same query style as kb_acl (auth/acl.h); holders of
 * agents.manage see and use every agent. An agent the caller may not use is
 * RC_NOT_FOUND, exactly as one that does not exist. */
#ifndef ATRIUM_AGENTS_AGENT_H
#define ATRIUM_AGENTS_AGENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agents/spec.h"
#include "auth/auth.h"
#include "common/buf.h"
#include "store/db.h"

#define AGENT_NAME_MAX 64 /* bytes of a name: [a-z0-9_-], starting with a letter or digit */

struct agent {
    int64_t id;
    char *name, *title, *avatar, *description, *domain, *template_name;
    char *status;          /* draft | published | retired */
    int published_version; /* 0 when none */
    double minutes_saved;
    int64_t gate_set_id;
    double gate_min_score;
    int64_t created_by, created_at, updated_at;
};
void agent_release(struct agent *a);

struct agent_version {
    int64_t id, agent_id;
    int version;
    char *status; /* draft | published | retired */
    char *note;
    struct agent_spec spec;
    int64_t created_by, created_at, published_at;
};
void agent_version_release(struct agent_version *v);

/* Loads an agent by numeric id or name for who (NULL: anyone; holders of
 * agents.manage: any agent; others: published agents they may use).
 * RC_OK, RC_NOT_FOUND, RC_DB. */
int agent_get_for(struct db_conn *d, const struct auth_principal *who, const char *id_or_name,
                  struct agent *out);
/* Loads version `version` of an agent (0 = the published one: RC_NOT_FOUND
 * when none is). RC_OK, RC_NOT_FOUND, RC_DB, RC_INVALID (a stored spec that
 * no longer parses: err says why). */
int agent_version_get(struct db_conn *d, int64_t agent_id, int version, struct agent_version *out,
                      struct buf *err);

/* The published agents who may use, by domain then title, as a JSON array of
 * agent_json objects (the gallery). */
int agent_list_usable(struct db_conn *d, const struct auth_principal *who, json_t **out);

/* {"id","name","title","avatar","description","domain","template","status",
 *  "published_version","minutes_saved","gate":{"set_id","min_score"},
 *  "created_at","updated_at"} */
json_t *agent_json(const struct agent *a);

#endif
