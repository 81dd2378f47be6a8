/* Digital employees over HTTP (agents/agent.h): the gallery of agents the
 * caller may use, and for agents.manage holders the agents, their versions
 * (draft → publish → rollback / retire) and who may use them. Every change
 * commits together with its audit entry. An agent the caller may not use
 * answers 404 exactly like a missing one. docs/AGENTS.md and docs/API.md
 * describe the routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"

static const char msg_no_agent[] = "数字员工不存在 / unknown agent";

static int may_manage(const struct http_req *r)
{
    return (r->who.perms & AUTH_P_AGENTS) != 0;
}

/* The agent of :s for the caller, or an answer (404, 500) in *res. */
int http_agent_of_path(struct http_req *r, struct kb_conn *c, struct agent *a, enum MHD_Result *res)
{
    memset(a, 0, sizeof *a);
    int rc = agent_get_for(kb_conn_store(c), &r->who, r->arg_str, a);
    if (rc == RC_NOT_FOUND)
        *res = http_send_rc(r, rc, msg_no_agent);
    else if (rc)
        *res = http_send_service_error(r, rc, NULL);
    return rc;
}

/* agent_json, with "versions" and "acl" for managers. */
static enum MHD_Result send_agent(struct http_req *r, struct kb_conn *c, int status, int64_t id)
{
    struct db_conn *d = kb_conn_store(c);
    struct agent a;
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    int rc = agent_get_for(d, &r->who, idbuf, &a);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    json_t *j = agent_json(&a);
    agent_release(&a);
    if (may_manage(r)) {
        json_t *versions = NULL, *acl = NULL;
        if ((rc = agent_versions_list(d, id, &versions)) || (rc = agent_acl_list(d, id, &acl))) {
            json_decref(versions);
            json_decref(j);
            return http_send_service_error(r, rc, NULL);
        }
        (void)json_object_set_new(j, "versions", versions);
        (void)json_object_set_new(j, "acl", acl);
    }
    return http_send_json(r, status, j);
}

static enum MHD_Result send_version(struct http_req *r, struct kb_conn *c, int status,
                                    int64_t agent_id, int version)
{
    struct agent_version v;
    struct buf err = BUF_INIT;
    int rc = agent_version_get(kb_conn_store(c), agent_id, version, &v, &err);
    enum MHD_Result res;
    if (rc == RC_NOT_FOUND)
        res = http_send_rc(r, rc, "版本不存在 / unknown version");
    else if (rc)
        res = http_send_service_error(r, rc, &err);
    else
        res = http_send_json(r, status, agent_version_json(&v));
    agent_version_release(&v);
    buf_release(&err);
    return res;
}

/* An audited change on agent id: begin, the change (fn's result), end. */
static int change_end(struct http_req *r, struct kb_conn *c, struct db_tx *tx, int rc,
                      const char *action, int64_t agent_id, json_t *detail)
{
    char target[48];
    snprintf(target, sizeof target, "agent:%lld", (long long)agent_id);
    return http_change_end(r, c, tx, rc, action, target, detail);
}

/* The "spec" member as JSON text (malloc'd), NULL when absent; *bad when
 * it is present but not an object. */
static char *spec_of(json_t *j, int *bad)
{
    json_t *s = json_object_get(j, "spec");
    if (!s || json_is_null(s))
        return NULL;
    if (!json_is_object(s)) {
        *bad = 1;
        return NULL;
    }
    return json_dumps(s, JSON_COMPACT);
}

/* An optional number member: *set when present; *bad when not a number. */
static double num_member(json_t *j, const char *key, int *set, int *bad)
{
    json_t *v = json_object_get(j, key);
    *set = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        *bad = 1;
        return 0;
    }
    *set = 1;
    return json_number_value(v);
}

/* An optional integer member in [lo, hi]; def when absent; *bad otherwise. */
static int64_t int_member(json_t *j, const char *key, int64_t lo, int64_t hi, int64_t def, int *bad)
{
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v))
        return def;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        *bad = 1;
        return def;
    }
    return json_integer_value(v);
}

/* ---- the gallery and agents ---- */

enum MHD_Result http_h_agents_list(struct http_req *r, struct kb_conn *c)
{
    const char *all = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "all");
    int want_all = all && (strcmp(all, "1") == 0 || strcmp(all, "true") == 0);
    if (want_all && !may_manage(r))
        return http_send_rc(r, RC_DENIED, "需要 agents.manage 权限 / agents.manage is required");
    json_t *list = NULL;
    int rc = want_all ? agent_list_all(kb_conn_store(c), &list)
                      : agent_list_usable(kb_conn_store(c), &r->who, &list);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "agents", list));
}

enum MHD_Result http_h_agents_create(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    int bad = 0, has_min = 0;
    struct agent_new f;
    memset(&f, 0, sizeof f);
    f.name = http_json_str(j, "name", &bad);
    f.title = http_json_str(j, "title", &bad);
    f.avatar = http_json_str(j, "avatar", &bad);
    f.description = http_json_str(j, "description", &bad);
    f.domain = http_json_str(j, "domain", &bad);
    f.minutes_saved = num_member(j, "minutes_saved", &has_min, &bad);
    if (!has_min)
        f.minutes_saved = -1;
    char *spec = spec_of(j, &bad);
    if (bad || !f.name || !f.title) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 name 与 title（字符串）；avatar、description、domain 为字符串，"
                           "minutes_saved 为数，spec 为对象 / name and title (strings) are "
                           "required; avatar, description, domain are strings, minutes_saved a "
                           "number, spec an object");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int64_t id = 0;
    int rc = agent_create(kb_conn_store(c), &f, spec, r->who.user_id, &id, &err);
    rc = change_end(r, c, &tx, rc, "agent.create", id,
                    json_pack("{s:s,s:s}", "name", f.name, "title", f.title));
    res = rc == RC_OK ? send_agent(r, c, 201, id) : http_send_service_error(r, rc, &err);
out:
    free(spec);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_agent_get(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    int64_t id = a.id;
    agent_release(&a);
    return send_agent(r, c, 200, id);
}

enum MHD_Result http_h_agent_update(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct buf err = BUF_INIT;
    json_t *j = http_body_json(r, &res);
    if (!j)
        goto out;
    int bad = 0;
    struct agent_patch p;
    memset(&p, 0, sizeof p);
    p.title = http_json_str(j, "title", &bad);
    p.avatar = http_json_str(j, "avatar", &bad);
    p.description = http_json_str(j, "description", &bad);
    p.domain = http_json_str(j, "domain", &bad);
    p.minutes_saved = num_member(j, "minutes_saved", &p.set_minutes, &bad);
    json_t *gate = json_object_get(j, "gate");
    if (gate && !json_is_null(gate)) {
        int has_score = 0;
        if (!json_is_object(gate))
            bad = 1;
        p.set_gate = 1;
        p.gate_set_id = int_member(gate, "set_id", 0, INT64_MAX, 0, &bad);
        p.gate_min_score = num_member(gate, "min_score", &has_score, &bad);
    }
    if (bad) {
        res = http_send_rc(r, RC_INVALID,
                           "title、avatar、description、domain 为字符串，minutes_saved 为数，gate "
                           "为 {\"set_id\",\"min_score\"} / title, avatar, description, domain "
                           "are strings, minutes_saved a number, gate {\"set_id\",\"min_score\"}");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = agent_update(kb_conn_store(c), a.id, &p, &err);
    json_t *detail = json_deep_copy(j);
    if (json_is_object(detail) && json_object_get(detail, "avatar"))
        (void)json_object_set_new(detail, "avatar", json_string("…")); /* may be a data: URL */
    rc = change_end(r, c, &tx, rc, "agent.update", a.id, detail);
    res = rc == RC_OK ? send_agent(r, c, 200, a.id) : http_send_service_error(r, rc, &err);
out:
    json_decref(j);
    buf_release(&err);
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_agent_delete(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = agent_delete(kb_conn_store(c), a.id);
    rc = change_end(r, c, &tx, rc, "agent.delete", a.id, json_pack("{s:s}", "name", a.name));
    res = rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
out:
    agent_release(&a);
    return res;
}

/* ---- versions ---- */

enum MHD_Result http_h_agent_versions(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    json_t *list = NULL;
    int rc = agent_versions_list(kb_conn_store(c), a.id, &list);
    agent_release(&a);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "versions", list));
}

enum MHD_Result http_h_agent_version_get(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    int64_t id = a.id;
    agent_release(&a);
    if (r->arg_id > 1000000)
        return http_send_rc(r, RC_NOT_FOUND, "版本不存在 / unknown version");
    return send_version(r, c, 200, id, (int)r->arg_id);
}

/* {"spec"?, "note"?, "from"?: N} → 201 the new draft */
enum MHD_Result http_h_agent_version_new(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct buf err = BUF_INIT;
    char *spec = NULL;
    json_t *j = http_body_json(r, &res);
    if (!j)
        goto out;
    int bad = 0;
    spec = spec_of(j, &bad);
    const char *note = http_json_str(j, "note", &bad);
    int from = (int)int_member(j, "from", 1, 1000000, 0, &bad);
    if (bad || (spec && json_object_get(j, "from"))) {
        res =
            http_send_rc(r, RC_INVALID,
                         "spec 为对象，note 为字符串，from 为版本号（不与 spec 同用）/ spec is an "
                         "object, note a string, from a version number (not with spec)");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int version = 0;
    int rc =
        agent_version_new(kb_conn_store(c), a.id, from, spec, note, r->who.user_id, &version, &err);
    rc = change_end(r, c, &tx, rc, "agent.version_new", a.id,
                    json_pack("{s:i,s:i}", "version", version, "from", from));
    res =
        rc == RC_OK ? send_version(r, c, 201, a.id, version) : http_send_service_error(r, rc, &err);
out:
    free(spec);
    json_decref(j);
    buf_release(&err);
    agent_release(&a);
    return res;
}

/* {"spec"?, "note"?}: drafts only (409 otherwise) */
enum MHD_Result http_h_agent_version_update(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct buf err = BUF_INIT;
    char *spec = NULL;
    json_t *j = http_body_json(r, &res);
    if (!j)
        goto out;
    int bad = 0;
    spec = spec_of(j, &bad);
    const char *note = http_json_str(j, "note", &bad);
    if (bad || (!spec && !note) || r->arg_id > 1000000) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 spec（对象）或 note（字符串）/ spec (an object) or note (a "
                           "string) is required");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int version = (int)r->arg_id;
    int rc = agent_version_update(kb_conn_store(c), a.id, version, spec, note, &err);
    rc = change_end(
        r, c, &tx, rc, "agent.version_update", a.id,
        json_pack("{s:i,s:b,s:b}", "version", version, "spec", spec != NULL, "note", note != NULL));
    res =
        rc == RC_OK ? send_version(r, c, 200, a.id, version) : http_send_service_error(r, rc, &err);
out:
    free(spec);
    json_decref(j);
    buf_release(&err);
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_agent_publish(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    if (r->arg_id > 1000000) {
        res = http_send_rc(r, RC_NOT_FOUND, "版本不存在 / unknown version");
        goto out;
    }
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int version = (int)r->arg_id;
    int rc = agent_publish(kb_conn_store(c), a.id, version, &err);
    rc = change_end(r, c, &tx, rc, "agent.publish", a.id, json_pack("{s:i}", "version", version));
    if (rc == RC_DENIED) /* the quality gate refused */
        res = http_send_error(r, 409, "quality_gate",
                              err.len ? buf_str(&err)
                                      : "未通过质量门槛 / the quality gate was not passed");
    else
        res = rc == RC_OK ? send_agent(r, c, 200, a.id) : http_send_service_error(r, rc, &err);
out:
    buf_release(&err);
    agent_release(&a);
    return res;
}

/* {"version": N} */
enum MHD_Result http_h_agent_rollback(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct buf err = BUF_INIT;
    json_t *j = http_body_json(r, &res);
    if (!j)
        goto out;
    int bad = 0;
    int version = (int)int_member(j, "version", 1, 1000000, 0, &bad);
    if (bad || !version) {
        res = http_send_rc(r, RC_INVALID, "需要 version（版本号）/ version (a number) is required");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = agent_rollback(kb_conn_store(c), a.id, version, &err);
    rc = change_end(r, c, &tx, rc, "agent.rollback", a.id,
                    json_pack("{s:i,s:i}", "version", version, "from", a.published_version));
    res = rc == RC_OK ? send_agent(r, c, 200, a.id) : http_send_service_error(r, rc, &err);
out:
    json_decref(j);
    buf_release(&err);
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_agent_retire(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = agent_retire(kb_conn_store(c), a.id, &err);
    rc = change_end(r, c, &tx, rc, "agent.retire", a.id,
                    json_pack("{s:i}", "version", a.published_version));
    res = rc == RC_OK ? send_agent(r, c, 200, a.id) : http_send_service_error(r, rc, &err);
out:
    buf_release(&err);
    agent_release(&a);
    return res;
}

/* ---- who may use it ---- */

enum MHD_Result http_h_agent_acl_list(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    json_t *list = NULL;
    int rc = agent_acl_list(kb_conn_store(c), a.id, &list);
    agent_release(&a);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "grants", list));
}

/* {"subject_type":"all|org|position|role|user","subject":"id or name"} as
 * for KB grants, or {"subject":"all|org|…","id"|"path"|"name":…} → 201
 * {"id", "grants"} */
enum MHD_Result http_h_agent_acl_add(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct buf err = BUF_INIT;
    json_t *j = http_body_json(r, &res);
    if (!j)
        goto out;
    int bad = 0;
    char idbuf[32];
    const char *type = http_json_str(j, "subject_type", &bad);
    const char *subject = NULL;
    json_t *sv = NULL;
    if (type) {
        sv = json_object_get(j, "subject");
    } else {
        type = http_json_str(j, "subject", &bad);
        sv = json_object_get(j, "id");
        if (!sv)
            sv = json_object_get(j, "path");
        if (!sv)
            sv = json_object_get(j, "name");
    }
    if (json_is_integer(sv)) { /* an id given as a number */
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(sv));
        subject = idbuf;
    } else if (json_is_string(sv) && strlen(json_string_value(sv)) == json_string_length(sv)) {
        subject = json_string_value(sv);
    } else if (sv && !json_is_null(sv)) {
        bad = 1;
    }
    if (bad || !type || (strcmp(type, "all") != 0 && (!subject || !*subject))) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 subject_type（all/org/position/role/user）与 subject / need "
                           "subject_type (all, org, position, role, user) and subject");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int64_t gid = 0;
    int rc = agent_acl_add(kb_conn_store(c), a.id, type, subject, &gid, &err);
    rc = change_end(r, c, &tx, rc, "agent.grant", a.id,
                    json_pack("{s:I,s:s,s:s?}", "grant", (json_int_t)gid, "subject_type", type,
                              "subject", subject));
    if (rc) {
        res = http_send_service_error(r, rc, &err);
        goto out;
    }
    json_t *list = NULL;
    if ((rc = agent_acl_list(kb_conn_store(c), a.id, &list))) {
        res = http_send_service_error(r, rc, NULL);
        goto out;
    }
    res = http_send_json(r, 201, json_pack("{s:I,s:o}", "id", (json_int_t)gid, "grants", list));
out:
    json_decref(j);
    buf_release(&err);
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_agent_acl_remove(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = agent_acl_remove(kb_conn_store(c), a.id, r->arg_id);
    rc = change_end(r, c, &tx, rc, "agent.revoke", a.id,
                    json_pack("{s:I}", "grant", (json_int_t)r->arg_id));
    if (rc == RC_NOT_FOUND)
        res = http_send_rc(r, rc, "授权不存在 / unknown grant");
    else
        res = rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
out:
    agent_release(&a);
    return res;
}
