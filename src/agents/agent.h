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
 * agent_json objects (the gallery), each with the published version's
 * "opening" and "suggestions" added. */
int agent_list_usable(struct db_conn *d, const struct auth_principal *who, json_t **out);

/* {"id","name","title","avatar","description","domain","template","status",
 *  "published_version","minutes_saved","gate":{"set_id","min_score"},
 *  "created_at","updated_at"} */
json_t *agent_json(const struct agent *a);

/* ---- added by H1: the store side of the lifecycle and of visibility ----
 * Every function takes the caller's connection and may run inside the
 * caller's transaction (the HTTP and CLI layers wrap each change in an
 * audited one); each change is one unit (db_tx) of its own. On failure the
 * message (zh-CN / English) is in err when the function takes one. */

/* Whether name is a valid agent name: 1–AGENT_NAME_MAX bytes of [a-z0-9_-],
 * starting with a letter or digit, not all digits (so that names and ids
 * never collide). */
int agent_name_valid(const char *name);

/* The fields of a new agent. NULL strings are "" (title is required). */
struct agent_new {
    const char *name, *title, *avatar, *description, *domain, *template_name;
    double minutes_saved; /* < 0 = the default (5) */
};

/* Creates an agent (status draft) and its version 1 (a draft with
 * spec_json, validated by spec_parse; NULL = an empty spec of defaults).
 * RC_OK with *id; RC_INVALID (name, title, sizes, spec), RC_EXISTS (the
 * name is taken), RC_DB. */
int agent_create(struct db_conn *d, const struct agent_new *fields, const char *spec_json,
                 int64_t created_by, int64_t *id, struct buf *err);

/* What agent_update changes: NULL strings and unset flags leave a field. */
struct agent_patch {
    const char *title, *avatar, *description, *domain;
    int set_minutes;
    double minutes_saved; /* >= 0 */
    int set_gate;
    int64_t gate_set_id;   /* 0 = no gate; else an eval set of this agent */
    double gate_min_score; /* 0..1; 0 = no gate */
};
/* RC_OK, RC_NOT_FOUND, RC_INVALID (sizes, ranges, a gate set not of this
 * agent), RC_DB. */
int agent_update(struct db_conn *d, int64_t agent_id, const struct agent_patch *p, struct buf *err);
/* Deletes the agent with its versions, grants, traces and eval data.
 * RC_OK, RC_NOT_FOUND, RC_DB. */
int agent_delete(struct db_conn *d, int64_t agent_id);

/* A new draft version (the next number): with spec_json, that spec;
 * without, a copy of version `from` (0 = the latest version). RC_OK with
 * *version; RC_NOT_FOUND (agent or version `from`), RC_INVALID (spec, note
 * size), RC_DB. note may be NULL. */
int agent_version_new(struct db_conn *d, int64_t agent_id, int from, const char *spec_json,
                      const char *note, int64_t created_by, int *version, struct buf *err);
/* Changes a draft's spec and/or note (either may be NULL: unchanged).
 * RC_EXISTS (409) when the version is not a draft (published versions are
 * immutable), RC_NOT_FOUND, RC_INVALID, RC_DB. */
int agent_version_update(struct db_conn *d, int64_t agent_id, int version, const char *spec_json,
                         const char *note, struct buf *err);
/* Publishes draft `version`: passes eval_gate_check (agents/eval.h) first
 * (RC_DENIED with its message when the gate refuses), then in one unit the
 * previous published version becomes retired, this one published
 * (published_at now) and the agent status 'published' with
 * published_version set. RC_EXISTS when the version is not a draft,
 * RC_NOT_FOUND, RC_DB. */
int agent_publish(struct db_conn *d, int64_t agent_id, int version, struct buf *err);
/* Republishes version `version`, which must have been published before
 * (status retired); the current published one becomes retired. Does not
 * pass the gate again. RC_OK (also when it is the published one already),
 * RC_INVALID (a draft: never published), RC_NOT_FOUND, RC_DB. */
int agent_rollback(struct db_conn *d, int64_t agent_id, int version, struct buf *err);
/* Takes the agent out of use: status retired, its published version
 * retired, published_version 0 (agent_rollback brings a version back).
 * Only managers still see it. RC_OK, RC_NOT_FOUND, RC_DB. */
int agent_retire(struct db_conn *d, int64_t agent_id, struct buf *err);

/* Grants use of an agent. subject_type "all" (subject ignored), "org" (id
 * or path), "position", "role" (id or name) or "user" (id or user name).
 * Granting twice is not an error (the same row). RC_OK with *grant_id;
 * RC_INVALID (type), RC_NOT_FOUND (agent or subject), RC_DB. */
int agent_acl_add(struct db_conn *d, int64_t agent_id, const char *subject_type,
                  const char *subject, int64_t *grant_id, struct buf *err);
/* Removes a grant by its id. RC_OK, RC_NOT_FOUND, RC_DB. */
int agent_acl_remove(struct db_conn *d, int64_t agent_id, int64_t grant_id);
/* [{"id","subject_type","subject_id","subject"}] ("subject": an org's name
 * path, a position/role/user name, "*" for all, null when gone). */
int agent_acl_list(struct db_conn *d, int64_t agent_id, json_t **out);

/* Whether who may use agent_id (the same rule as agent_get_for): RC_OK,
 * RC_NOT_FOUND (missing, or not usable by who), RC_DB. */
int agent_usable(struct db_conn *d, const struct auth_principal *who, int64_t agent_id);

/* Every agent, any status, by domain then title, as agent_json objects. */
int agent_list_all(struct db_conn *d, json_t **out);
/* The versions of an agent, newest first, as agent_version_json objects. */
int agent_versions_list(struct db_conn *d, int64_t agent_id, json_t **out);
/* {"version","status","note","created_by","created_at","published_at",
 *  "spec":{normalised spec}} */
json_t *agent_version_json(const struct agent_version *v);

#endif
