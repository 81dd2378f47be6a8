/* The built-in digital-employee templates over HTTP (agents/templates.h):
 * listing them and installing one (agents.manage; the route table checks
 * the permission). Installing is an audited change in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "agents/eval.h"
#include "agents/templates.h"
#include "auth/acl.h"
#include "common/rc.h"
#include "http/http_int.h"

/* GET /api/v1/agent-templates → {"templates":[…]} */
enum MHD_Result http_h_agent_templates_list(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    return http_send_json(r, 200, json_pack("{s:o}", "templates", agent_templates_list()));
}

/* GET /api/v1/agent-templates/:s → the template in full (spec, eval set,
 * documents). */
enum MHD_Result http_h_agent_template_get(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    json_t *t = agent_template_get(r->arg_str);
    if (!t)
        return http_send_rc(r, RC_NOT_FOUND, "没有这个模板 / no such template");
    return http_send_json(r, 200, t);
}

/* The 201 body: {"agent":{…agent_json,"version":1},"kbs":[kb],"eval_set":
 * {"id","name","cases"},"kb_reused"}. */
static enum MHD_Result send_installed(struct http_req *r, struct kb_conn *c,
                                      const struct agent_tpl_installed *x)
{
    struct db_conn *d = kb_conn_store(c);
    struct agent a;
    struct kb_info k;
    json_t *set = NULL;
    char id[32];
    memset(&k, 0, sizeof k);
    snprintf(id, sizeof id, "%lld", (long long)x->agent_id);
    int rc = agent_get_for(d, &r->who, id, &a);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    json_t *aj = agent_json(&a);
    agent_release(&a);
    (void)json_object_set_new(aj, "version", json_integer(1));
    json_t *kbs = json_array();
    snprintf(id, sizeof id, "%lld", (long long)x->kb_id);
    if (kb_get_for(c, &r->who, id, ACL_READ, &k) == RC_OK)
        (void)json_array_append_new(kbs, kb_info_json(&k));
    else /* not expected: the installer reads it (admin grant, or kb.admin) */
        (void)json_array_append_new(kbs, json_pack("{s:I}", "id", (json_int_t)x->kb_id));
    kb_info_release(&k);
    json_t *full = NULL;
    if (eval_set_json(d, x->agent_id, x->eval_set_id, &full) == RC_OK) {
        set = json_pack("{s:I,s:O,s:I}", "id", (json_int_t)x->eval_set_id, "name",
                        json_object_get(full, "name"), "cases",
                        (json_int_t)json_array_size(json_object_get(full, "cases")));
        json_decref(full);
    } else {
        set = json_pack("{s:I}", "id", (json_int_t)x->eval_set_id);
    }
    return http_send_json(r, 201,
                          json_pack("{s:o,s:o,s:o,s:b}", "agent", aj, "kbs", kbs, "eval_set", set,
                                    "kb_reused", x->kb_reused));
}

/* POST /api/v1/agent-templates/:s/install {"name"?} → 201 */
enum MHD_Result http_h_agent_template_install(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    struct agent_tpl_installed x;
    memset(&x, 0, sizeof x);
    json_t *j = NULL;
    const char *name = NULL;
    if (r->body.len > 0) {
        if (!(j = http_body_json(r, &res)))
            goto out;
        int bad = 0;
        name = http_json_str(j, "name", &bad);
        if (bad) {
            res = http_send_rc(r, RC_INVALID, "name 须为字符串 / name must be a string");
            goto out;
        }
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = agent_template_install_ex(c, &r->who, r->arg_str, name, &x, &err);
    char target[48];
    snprintf(target, sizeof target, "agent:%lld", (long long)x.agent_id);
    json_t *detail = rc == RC_OK
                         ? json_pack("{s:s,s:s,s:I,s:I,s:b}", "template", r->arg_str, "name",
                                     x.agent_name, "kb_id", (json_int_t)x.kb_id, "eval_set_id",
                                     (json_int_t)x.eval_set_id, "kb_reused", x.kb_reused)
                         : NULL;
    rc = http_change_end(r, c, &tx, rc, "agent.install", target, detail);
    res = rc == RC_OK ? send_installed(r, c, &x) : http_send_service_error(r, rc, &err);
out:
    agent_tpl_installed_release(&x);
    json_decref(j);
    buf_release(&err);
    return res;
}
