/* The route table: every endpoint, the methods it takes, what the caller
 * must hold (a sign-in, permissions, a level on the KB in the path), and
 * its handler; plus the small helpers the handlers share. docs/API.md
 * describes each endpoint. Matching and the checks run in server.c before
 * a handler is called, so a handler only ever sees a permitted request. */
#include <stdio.h>
#include <string.h>

#include "assist/safety.h"
#include "auth/acl.h"
#include "auth/audit.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "http/http_int.h"

#define U AUTH_P_USERS
#define O AUTH_P_ORG
#define R AUTH_P_ROLES
#define A AUTH_P_AUDIT

const struct http_route_def http_routes[] = {
    {"healthz", HM_GET, http_h_health, RF_PUBLIC, 0, 0},

    /* sign-in and the caller's own account */
    {"api/v1/auth/login", HM_POST, http_h_login, RF_PUBLIC, 0, 0},
    {"api/v1/auth/logout", HM_POST, http_h_logout, 0, 0, 0},
    {"api/v1/auth/me", HM_GET, http_h_me, 0, 0, 0},
    {"api/v1/auth/password", HM_POST, http_h_password, 0, 0, 0},
    {"api/v1/auth/tokens", HM_GET, http_h_my_tokens, 0, 0, 0},
    {"api/v1/auth/tokens", HM_POST, http_h_my_token_create, 0, 0, 0},
    {"api/v1/auth/tokens/:id", HM_DELETE, http_h_my_token_revoke, 0, 0, 0},

    /* knowledge bases: the level needed on :kb is checked in the query */
    {"api/v1/kbs", HM_GET, http_h_kbs_list, 0, 0, 0},
    {"api/v1/kbs", HM_POST, http_h_kbs_create, 0, 0, 0},
    {"api/v1/kbs/:kb", HM_GET, http_h_kb_get, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/documents", HM_GET, http_h_docs_list, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/documents", HM_POST, NULL, RF_UPLOAD, 0, ACL_WRITE},
    {"api/v1/kbs/:kb/documents/:id", HM_GET, http_h_doc_get, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/documents/:id", HM_DELETE, http_h_doc_delete, 0, 0, ACL_WRITE},
    {"api/v1/kbs/:kb/documents/:id/content", HM_GET, http_h_doc_content, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/documents/:id/chunks", HM_GET, http_h_doc_chunks, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/chunks/:id", HM_GET, http_h_chunk_get, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/jobs/:id", HM_GET, http_h_job_get, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/search", HM_POST, http_h_search, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/ask", HM_POST, http_h_ask, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/synonyms", HM_GET, http_h_synonyms_list, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/synonyms", HM_POST, http_h_synonyms_add, 0, 0, ACL_WRITE},
    {"api/v1/kbs/:kb/synonyms/:id", HM_DELETE, http_h_synonym_delete, 0, 0, ACL_WRITE},
    {"api/v1/kbs/:kb/acl", HM_GET, http_h_acl_list, 0, 0, ACL_ADMIN},
    {"api/v1/kbs/:kb/acl", HM_POST, http_h_acl_grant, 0, 0, ACL_ADMIN},
    {"api/v1/kbs/:kb/acl/:id", HM_DELETE, http_h_acl_revoke, 0, 0, ACL_ADMIN},

    /* the super assistant: conversations are their owner's alone (checked
     * in every query of assist/conv.c) */
    {"api/v1/conversations", HM_GET, http_h_convs_list, 0, 0, 0},
    {"api/v1/conversations", HM_POST, http_h_convs_create, 0, 0, 0},
    {"api/v1/conversations/:id", HM_GET, http_h_conv_get, 0, 0, 0},
    {"api/v1/conversations/:id", HM_PATCH, http_h_conv_update, 0, 0, 0},
    {"api/v1/conversations/:id", HM_DELETE, http_h_conv_delete, 0, 0, 0},
    {"api/v1/conversations/:id/messages", HM_GET, http_h_conv_messages, 0, 0, 0},
    {"api/v1/conversations/:id/export", HM_GET, http_h_conv_export, 0, 0, 0},
    {"api/v1/conversations/:id/ask", HM_POST, http_h_conv_ask, 0, 0, 0},
    {"api/v1/conversations/:id/regenerate", HM_POST, http_h_conv_regenerate, 0, 0, 0},
    {"api/v1/conversations/:id/stop", HM_POST, http_h_conv_stop, 0, 0, 0},
    {"api/v1/conversations/:id/files", HM_GET, http_h_conv_files, 0, 0, 0},
    {"api/v1/conversations/:id/files", HM_POST, NULL, RF_UPLOAD | RF_CONV_FILES, 0, 0},
    {"api/v1/messages/:id/feedback", HM_POST, http_h_msg_feedback, 0, 0, 0},
    {"api/v1/kbs/:kb/faqs", HM_GET, http_h_faqs_list, 0, 0, ACL_READ},
    {"api/v1/kbs/:kb/faqs", HM_POST, http_h_faqs_add, 0, 0, ACL_WRITE},
    {"api/v1/kbs/:kb/faqs/:id", HM_PATCH, http_h_faq_update, 0, 0, ACL_WRITE},
    {"api/v1/kbs/:kb/faqs/:id", HM_DELETE, http_h_faq_delete, 0, 0, ACL_WRITE},
    {"api/v1/kbs/:kb/feedback", HM_GET, http_h_kb_feedback, 0, 0, ACL_ADMIN},
    {"api/v1/kbs/:kb/feedback/:id/resolve", HM_POST, http_h_kb_feedback_resolve, 0, 0, ACL_ADMIN},
    {"api/v1/kbs/:kb/feedback/:id/dismiss", HM_POST, http_h_kb_feedback_dismiss, 0, 0, ACL_ADMIN},

    {"api/v1/sensitive-words", HM_GET, http_h_words_list, 0, AUTH_P_MODELS, 0},
    {"api/v1/sensitive-words", HM_POST, http_h_words_add, 0, AUTH_P_MODELS, 0},
    {"api/v1/sensitive-words/:s", HM_DELETE, http_h_words_delete, 0, AUTH_P_MODELS, 0},

    /* the OpenAI-compatible API (API tokens; the caller's permissions apply) */
    {"v1/models", HM_GET, http_h_oai_models, 0, 0, 0},
    {"v1/chat/completions", HM_POST, http_h_oai_chat, 0, 0, 0},

    /* administration */
    {"api/v1/users", HM_GET, http_h_users_list, 0, U, 0},
    {"api/v1/users", HM_POST, http_h_users_create, 0, U, 0},
    {"api/v1/users/:s", HM_GET, http_h_user_get, 0, U, 0},
    {"api/v1/users/:s", HM_PATCH, http_h_user_update, 0, U, 0},
    {"api/v1/users/:s/tokens", HM_GET, http_h_user_tokens, 0, U, 0},
    {"api/v1/users/:s/tokens", HM_POST, http_h_user_token_create, 0, U, 0},
    {"api/v1/tokens/:id", HM_DELETE, http_h_token_revoke, 0, U, 0},
    {"api/v1/users/:s/roles", HM_POST, http_h_user_role_add, 0, R, 0},
    {"api/v1/users/:s/roles/:id", HM_DELETE, http_h_user_role_remove, 0, R, 0},
    {"api/v1/users/:s/positions", HM_POST, http_h_user_position_add, 0, O, 0},
    {"api/v1/users/:s/positions/:id", HM_DELETE, http_h_user_position_remove, 0, O, 0},
    {"api/v1/orgs", HM_GET, http_h_orgs_tree, 0, 0, 0},
    {"api/v1/orgs", HM_POST, http_h_orgs_create, 0, O, 0},
    {"api/v1/orgs/:id", HM_GET, http_h_org_get, 0, O, 0},
    {"api/v1/orgs/:id", HM_PATCH, http_h_org_update, 0, O, 0},
    {"api/v1/orgs/:id", HM_DELETE, http_h_org_delete, 0, O, 0},
    {"api/v1/orgs/:id/members", HM_POST, http_h_org_member_add, 0, O, 0},
    {"api/v1/orgs/:id/members/:s", HM_DELETE, http_h_org_member_remove, 0, O, 0},
    {"api/v1/positions", HM_GET, http_h_positions_list, 0, 0, 0},
    {"api/v1/positions", HM_POST, http_h_positions_create, 0, O, 0},
    {"api/v1/positions/:id", HM_DELETE, http_h_position_delete, 0, O, 0},
    {"api/v1/roles", HM_GET, http_h_roles_list, 0, 0, 0},
    {"api/v1/roles", HM_POST, http_h_roles_create, 0, R, 0},
    {"api/v1/roles/:id", HM_PATCH, http_h_role_update, 0, R, 0},
    {"api/v1/roles/:id", HM_DELETE, http_h_role_delete, 0, R, 0},
    {"api/v1/ldap/maps", HM_GET, http_h_ldap_maps, 0, U, 0},
    {"api/v1/ldap/maps", HM_POST, http_h_ldap_map_add, 0, U, 0},
    {"api/v1/ldap/maps/:id", HM_DELETE, http_h_ldap_map_delete, 0, U, 0},

    /* the audit log: auditors only (admins are not auditors: 三员分立) */
    {"api/v1/audit", HM_GET, http_h_audit, 0, A, 0},
    {"api/v1/audit/verify", HM_GET, http_h_audit_verify, 0, A, 0},

    /* the model registry of the gateway (models.manage) */
    {"api/v1/models", HM_GET, http_h_models_list, 0, AUTH_P_MODELS, 0},
    {"api/v1/models", HM_POST, http_h_models_create, 0, AUTH_P_MODELS, 0},
    {"api/v1/models/:id", HM_GET, http_h_model_get, 0, AUTH_P_MODELS, 0},
    {"api/v1/models/:id", HM_PATCH, http_h_model_update, 0, AUTH_P_MODELS, 0},
    {"api/v1/models/:id", HM_DELETE, http_h_model_delete, 0, AUTH_P_MODELS, 0},
    {"api/v1/models/:id/endpoints", HM_POST, http_h_model_endpoint_add, 0, AUTH_P_MODELS, 0},
    {"api/v1/models/:id/endpoints/:id2", HM_DELETE, http_h_model_endpoint_delete, 0, AUTH_P_MODELS,
     0},
    {"api/v1/models/:id/test", HM_POST, http_h_model_test, 0, AUTH_P_MODELS, 0},

    /* H1: digital employees — the gallery (any user; filtered in SQL), the
     * agents, their versions and grants (agents.manage) */
    {"api/v1/agents", HM_GET, http_h_agents_list, 0, 0, 0},
    {"api/v1/agents", HM_POST, http_h_agents_create, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s", HM_GET, http_h_agent_get, 0, 0, 0},
    {"api/v1/agents/:s", HM_PATCH, http_h_agent_update, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s", HM_DELETE, http_h_agent_delete, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/versions", HM_GET, http_h_agent_versions, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/versions", HM_POST, http_h_agent_version_new, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/versions/:id", HM_GET, http_h_agent_version_get, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/versions/:id", HM_PATCH, http_h_agent_version_update, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/versions/:id/publish", HM_POST, http_h_agent_publish, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/rollback", HM_POST, http_h_agent_rollback, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/retire", HM_POST, http_h_agent_retire, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/acl", HM_GET, http_h_agent_acl_list, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/acl", HM_POST, http_h_agent_acl_add, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/acl/:id", HM_DELETE, http_h_agent_acl_remove, 0, AUTH_P_AGENTS, 0},

    /* H3: asking a digital employee (any user who may use it: checked by
     * the handler) and its traces (agents.manage) */
    {"api/v1/agents/:s/ask", HM_POST, http_h_agent_ask, 0, 0, 0},
    {"api/v1/agents/:s/traces", HM_GET, http_h_agent_traces, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/traces/:id", HM_GET, http_h_agent_trace, 0, AUTH_P_AGENTS, 0},

    /* H4: evaluation of digital employees and usage analytics (agents.manage) */
    {"api/v1/agents/:s/eval-sets", HM_GET, http_h_eval_sets_list, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-sets", HM_POST, http_h_eval_sets_create, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-sets/:id", HM_GET, http_h_eval_set_get, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-sets/:id", HM_PUT, http_h_eval_set_update, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-sets/:id", HM_DELETE, http_h_eval_set_delete, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-runs", HM_GET, http_h_eval_runs_list, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-runs", HM_POST, http_h_eval_runs_create, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-runs/:id", HM_GET, http_h_eval_run_get, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-runs/:id/cancel", HM_POST, http_h_eval_run_cancel, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agents/:s/eval-compare", HM_GET, http_h_eval_compare, 0, AUTH_P_AGENTS, 0},
    {"api/v1/analytics/usage", HM_GET, http_h_analytics_usage, 0, AUTH_P_AGENTS, 0},
    {"api/v1/analytics/unanswered", HM_GET, http_h_analytics_unanswered, 0, AUTH_P_AGENTS, 0},

    /* H2: the working-day calendar of the workdays tool (reading: any
     * signed-in user; changes: agents.manage) */
    {"api/v1/calendar", HM_GET, http_h_calendar_list, 0, 0, 0},
    {"api/v1/calendar", HM_POST, http_h_calendar_set, 0, AUTH_P_AGENTS, 0},
    {"api/v1/calendar/:s", HM_DELETE, http_h_calendar_delete, 0, AUTH_P_AGENTS, 0},

    /* H5: the built-in digital-employee templates (agents.manage) */
    {"api/v1/agent-templates", HM_GET, http_h_agent_templates_list, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agent-templates/:s", HM_GET, http_h_agent_template_get, 0, AUTH_P_AGENTS, 0},
    {"api/v1/agent-templates/:s/install", HM_POST, http_h_agent_template_install, 0, AUTH_P_AGENTS,
     0},
};
const size_t http_nroutes = sizeof http_routes / sizeof http_routes[0];

#undef U
#undef O
#undef R
#undef A

enum MHD_Result http_route_dispatch(struct http_req *r)
{
    if (!r->def || !r->def->fn)
        return http_send_error(r, 404, "not_found", "接口不存在 / no such endpoint");
    struct kb_conn *c = NULL;
    if (r->def->fn != http_h_health) {
        c = http_conn(r->srv);
        if (!c)
            return http_send_rc(r, RC_DB, "存储不可用 / store unavailable");
    }
    return r->def->fn(r, c);
}

enum MHD_Result http_h_health(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    return http_send_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static const char *default_message(int rc)
{
    switch (rc) {
    case RC_INVALID:
        return "请求无效 / invalid request";
    case RC_NOT_FOUND:
        return "资源不存在 / not found";
    case RC_EXISTS:
        return "名称已存在 / name already exists";
    case RC_TOO_BIG:
        return "超出大小限制 / size limit exceeded";
    case RC_DB:
        return "存储错误 / store error";
    case RC_UPSTREAM:
        return "上游服务错误 / upstream service failed";
    case RC_TIMEOUT:
        return "上游服务超时 / upstream service timed out";
    case RC_BUSY:
        return "服务繁忙 / server busy";
    case RC_UNSUPPORTED:
        return "不支持的类型 / unsupported media type";
    case RC_PARSE:
        return "内容无法解析 / content cannot be processed";
    case RC_IO:
        return "读写失败 / input/output error";
    case RC_DENIED:
        return "没有权限 / forbidden";
    default:
        return "内部错误 / internal error";
    }
}

enum MHD_Result http_send_service_error(struct http_req *r, int rc, const struct buf *err)
{
    if (rc >= RC_IO && rc != RC_UPSTREAM && rc != RC_TIMEOUT && rc != RC_BUSY && rc != RC_DENIED)
        log_error("http: %s failed: %s %s", r->path, rc_code(rc), err ? buf_str(err) : "");
    const char *msg = err && err->len ? buf_str(err) : default_message(rc);
    return http_send_rc(r, rc, msg);
}

json_t *http_body_json(struct http_req *r, enum MHD_Result *res)
{
    json_t *j = NULL;
    struct buf err = BUF_INIT;
    int rc = http_parse_json_body(r->body.p, r->body.len, &j, &err);
    if (rc != RC_OK)
        *res = http_send_rc(r, rc, buf_str(&err));
    buf_release(&err);
    return j;
}

const char *http_json_str(json_t *o, const char *key, int *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

static void entry_for(struct http_req *r, struct audit_entry *e, const char *action,
                      const char *target, json_t *detail)
{
    audit_entry_from(e, &r->who);
    e->action = action;
    e->target = target ? target : "";
    e->detail = detail;
    e->ip = r->ip;
}

int http_audit_now(struct http_req *r, struct kb_conn *c, const char *action, const char *target,
                   json_t *detail)
{
    struct audit_entry e;
    entry_for(r, &e, action, target, detail);
    return audit_append(kb_conn_store(c), &e);
}

int http_change_begin(struct kb_conn *c, struct db_tx *tx)
{
    return db_tx_begin(kb_conn_store(c)->db, tx);
}

int http_change_end(struct http_req *r, struct kb_conn *c, struct db_tx *tx, int rc,
                    const char *action, const char *target, json_t *detail)
{
    if (rc == RC_OK)
        rc = http_audit_now(r, c, action, target, detail);
    json_decref(detail);
    if (db_tx_end(kb_conn_store(c)->db, tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    return rc;
}

void http_conn_lend_cb(void *srv)
{
    http_conn_lend(srv);
}

struct kb_conn *http_conn_take_cb(void *srv)
{
    return http_conn(srv);
}

void http_audit_later(struct http_req *r, const char *action, const char *target, json_t *detail)
{
    if (!r->srv->audit)
        return;
    struct audit_entry e;
    entry_for(r, &e, action, target, detail);
    audit_writer_post(r->srv->audit, &e);
}

int http_rate_check(struct http_req *r, int *retry_after_s)
{
    *retry_after_s = 0;
    if (!r->srv->safety)
        return RC_OK;
    return safety_rate_take(r->srv->safety, r->who.user_id, retry_after_s);
}

enum MHD_Result http_send_rate_limited(struct http_req *r, int retry_after_s)
{
    r->retry_after = retry_after_s;
    char msg[160];
    snprintf(msg, sizeof msg, "提问太频繁，请 %d 秒后再试 / too many questions, retry in %d s",
             retry_after_s, retry_after_s);
    return http_send_rc(r, RC_BUSY, msg);
}
