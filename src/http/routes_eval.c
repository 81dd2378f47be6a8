/* Evaluating digital employees over HTTP (agents.manage): eval sets, runs
 * queued for the background runner with their progress and results, the
 * case-by-case comparison of two runs; and usage analytics. Every change
 * commits together with its audit entry. docs/AGENTS.md describes them. */
#include <stdio.h>
#include <string.h>

#include "agents/agent.h"
#include "agents/analytics.h"
#include "agents/eval.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"

/* Loads the :s agent (404 answered when missing). */
static const char *arg(struct http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static int finish(struct http_req *r, struct kb_conn *c, struct db_tx *tx, int rc,
                  const char *action, const struct agent *a, json_t *detail)
{
    char target[96];
    snprintf(target, sizeof target, "agent:%s", a->name ? a->name : "");
    return http_change_end(r, c, tx, rc, action, target, detail);
}

/* ---- sets ---- */

enum MHD_Result http_h_eval_sets_list(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK)
        return res;
    json_t *sets = NULL;
    int rc = eval_set_list(kb_conn_store(c), a.id, &sets);
    res = rc == RC_OK ? http_send_json(r, 200, json_pack("{so}", "sets", sets))
                      : http_send_service_error(r, rc, NULL);
    agent_release(&a);
    return res;
}

static enum MHD_Result send_set(struct http_req *r, struct kb_conn *c, int status, int64_t agent_id,
                                int64_t set_id)
{
    json_t *j = NULL;
    int rc = eval_set_json(kb_conn_store(c), agent_id, set_id, &j);
    if (rc == RC_NOT_FOUND)
        return http_send_error(r, 404, "not_found", "无此评测集 / no such eval set");
    return rc == RC_OK ? http_send_json(r, status, j) : http_send_service_error(r, rc, NULL);
}

enum MHD_Result http_h_eval_sets_create(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK) {
        json_decref(j);
        return res;
    }
    int bad = 0;
    const char *name = http_json_str(j, "name", &bad);
    const char *desc = http_json_str(j, "description", &bad);
    if (bad || !name) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 name（字符串）与 cases；description 为字符串 / name (a string) "
                           "and cases are required; description is a string");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int64_t id = 0;
    int rc =
        eval_set_create(kb_conn_store(c), a.id, name, desc, json_object_get(j, "cases"), &id, &err);
    rc = finish(r, c, &tx, rc, "agent.evalset.add", &a,
                json_pack("{sI ss sI}", "set_id", (json_int_t)id, "name", name, "cases",
                          (json_int_t)json_array_size(json_object_get(j, "cases"))));
    res = rc == RC_OK ? send_set(r, c, 201, a.id, id) : http_send_service_error(r, rc, &err);
out:
    agent_release(&a);
    json_decref(j);
    buf_release(&err);
    return res;
}

/* The :id set of the agent, or 404 answered. */
static int set_of(struct http_req *r, struct kb_conn *c, const struct agent *a,
                  enum MHD_Result *res)
{
    json_t *j = NULL;
    int rc = eval_set_json(kb_conn_store(c), a->id, r->arg_id, &j);
    json_decref(j);
    if (rc == RC_NOT_FOUND)
        *res = http_send_error(r, 404, "not_found", "无此评测集 / no such eval set");
    else if (rc != RC_OK)
        *res = http_send_service_error(r, rc, NULL);
    return rc;
}

enum MHD_Result http_h_eval_set_get(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK)
        return res;
    res = send_set(r, c, 200, a.id, r->arg_id);
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_eval_set_update(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK) {
        json_decref(j);
        return res;
    }
    if (set_of(r, c, &a, &res) != RC_OK)
        goto out;
    int bad = 0;
    const char *desc = http_json_str(j, "description", &bad);
    if (bad) {
        res = http_send_rc(r, RC_INVALID, "description 须为字符串 / description must be a string");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc =
        eval_set_update(kb_conn_store(c), a.id, r->arg_id, desc, json_object_get(j, "cases"), &err);
    rc = finish(r, c, &tx, rc, "agent.evalset.update", &a,
                json_pack("{sI sI}", "set_id", (json_int_t)r->arg_id, "cases",
                          (json_int_t)json_array_size(json_object_get(j, "cases"))));
    res = rc == RC_OK ? send_set(r, c, 200, a.id, r->arg_id) : http_send_service_error(r, rc, &err);
out:
    agent_release(&a);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_eval_set_delete(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK)
        return res;
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = eval_set_delete(kb_conn_store(c), a.id, r->arg_id);
    rc = finish(r, c, &tx, rc, "agent.evalset.delete", &a,
                json_pack("{sI}", "set_id", (json_int_t)r->arg_id));
    if (rc == RC_NOT_FOUND)
        res = http_send_error(r, 404, "not_found", "无此评测集 / no such eval set");
    else
        res = rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
out:
    agent_release(&a);
    return res;
}

/* ---- runs ---- */

enum MHD_Result http_h_eval_runs_create(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK) {
        json_decref(j);
        return res;
    }
    json_t *set = json_object_get(j, "set");
    json_t *ver = json_object_get(j, "version");
    json_t *nm = json_object_get(j, "no_model");
    char setbuf[32];
    const char *set_s = NULL;
    if (json_is_integer(set)) {
        snprintf(setbuf, sizeof setbuf, "%lld", (long long)json_integer_value(set));
        set_s = setbuf;
    } else if (json_is_string(set)) {
        set_s = json_string_value(set);
    }
    if (!set_s ||
        (ver && (!json_is_integer(ver) || json_integer_value(ver) < 0 ||
                 json_integer_value(ver) > 1000000)) ||
        (nm && !json_is_boolean(nm))) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 set（评测集 id 或名称）；version 为非负整数（0 = 最新版本）；"
                           "no_model 为布尔值 / set (an eval set id or name) is required; version "
                           "is a non-negative integer (0 = the newest); no_model a boolean");
        goto out;
    }
    int64_t set_id = 0;
    int rc = eval_set_find(kb_conn_store(c), a.id, set_s, &set_id);
    if (rc != RC_OK) {
        res = rc == RC_NOT_FOUND
                  ? http_send_error(r, 404, "not_found", "无此评测集 / no such eval set")
                  : http_send_service_error(r, rc, NULL);
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int64_t run_id = 0;
    rc = eval_run_create(kb_conn_store(c), &r->who, &a, ver ? (int)json_integer_value(ver) : 0,
                         set_id, json_is_true(nm), &run_id, &err);
    rc = finish(r, c, &tx, rc, "agent.eval.run", &a,
                json_pack("{sI sI sI sb}", "run_id", (json_int_t)run_id, "set_id",
                          (json_int_t)set_id, "version",
                          (json_int_t)(ver ? json_integer_value(ver) : 0), "no_model",
                          json_is_true(nm)));
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, &err);
        goto out;
    }
    eval_runner_kick(r->srv->eval); /* H4 */
    json_t *run = NULL;
    rc = eval_run_json(kb_conn_store(c), a.id, run_id, 0, &run);
    res = rc == RC_OK ? http_send_json(r, 202, json_pack("{so}", "run", run))
                      : http_send_service_error(r, rc, NULL);
out:
    agent_release(&a);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_eval_runs_list(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK)
        return res;
    int64_t limit = 100;
    const char *l = arg(r, "limit");
    if (l && parse_i64(l, 1, 1000, &limit) != RC_OK) {
        res = http_send_rc(r, RC_INVALID, "limit 应为 1–1000 / limit must be 1-1000");
        goto out;
    }
    json_t *runs = NULL;
    int rc = eval_run_list(kb_conn_store(c), a.id, (int)limit, &runs);
    res = rc == RC_OK ? http_send_json(r, 200, json_pack("{so}", "runs", runs))
                      : http_send_service_error(r, rc, NULL);
out:
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_eval_run_get(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK)
        return res;
    json_t *run = NULL;
    int rc = eval_run_json(kb_conn_store(c), a.id, r->arg_id, 1, &run);
    if (rc == RC_NOT_FOUND)
        res = http_send_error(r, 404, "not_found", "无此评测运行 / no such eval run");
    else
        res = rc == RC_OK ? http_send_json(r, 200, run) : http_send_service_error(r, rc, NULL);
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_eval_run_cancel(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK)
        return res;
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = eval_run_cancel(kb_conn_store(c), a.id, r->arg_id);
    rc = finish(r, c, &tx, rc, "agent.eval.cancel", &a,
                json_pack("{sI}", "run_id", (json_int_t)r->arg_id));
    if (rc == RC_NOT_FOUND) {
        res = http_send_error(r, 404, "not_found", "无此评测运行 / no such eval run");
    } else if (rc == RC_EXISTS) {
        res = http_send_error(r, 409, "conflict", "评测运行已结束 / the run has already ended");
    } else if (rc != RC_OK) {
        res = http_send_service_error(r, rc, NULL);
    } else {
        json_t *run = NULL;
        rc = eval_run_json(kb_conn_store(c), a.id, r->arg_id, 0, &run);
        res = rc == RC_OK ? http_send_json(r, 200, json_pack("{so}", "run", run))
                          : http_send_service_error(r, rc, NULL);
    }
out:
    agent_release(&a);
    return res;
}

enum MHD_Result http_h_eval_compare(struct http_req *r, struct kb_conn *c)
{
    struct agent a;
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    if (http_agent_of_path(r, c, &a, &res) != RC_OK)
        return res;
    int64_t ra = 0, rb = 0;
    const char *sa = arg(r, "a"), *sb = arg(r, "b");
    if (!sa || !sb || parse_i64(sa, 1, INT64_MAX, &ra) || parse_i64(sb, 1, INT64_MAX, &rb)) {
        res = http_send_rc(r, RC_INVALID, "需要 a 与 b（运行 id）/ a and b (run ids) are required");
        goto out;
    }
    json_t *cmp = NULL;
    int rc = eval_compare(kb_conn_store(c), a.id, ra, rb, &cmp, &err);
    res = rc == RC_OK ? http_send_json(r, 200, cmp) : http_send_service_error(r, rc, &err);
out:
    agent_release(&a);
    buf_release(&err);
    return res;
}

/* ---- analytics ---- */

/* The filters of an analytics request; RC_INVALID answered on a bad one. */
static int analytics_args(struct http_req *r, struct analytics_query *q, enum MHD_Result *res)
{
    memset(q, 0, sizeof *q);
    q->from = arg(r, "from");
    q->to = arg(r, "to");
    q->agent = arg(r, "agent");
    q->assistant_minutes_saved = r->srv->cfg->assistant_minutes_saved;
    const char *org = arg(r, "org");
    if (org && *org && parse_i64(org, 1, INT64_MAX, &q->org_id) != RC_OK) {
        *res = http_send_rc(r, RC_INVALID, "org 应为机构 id / org must be an org id");
        return RC_INVALID;
    }
    return RC_OK;
}

enum MHD_Result http_h_analytics_usage(struct http_req *r, struct kb_conn *c)
{
    struct analytics_query q;
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    if (analytics_args(r, &q, &res) != RC_OK)
        return res;
    json_t *j = NULL;
    int rc = analytics_usage(kb_conn_store(c), &q, &j, &err);
    res = rc == RC_OK ? http_send_json(r, 200, j) : http_send_service_error(r, rc, &err);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_analytics_unanswered(struct http_req *r, struct kb_conn *c)
{
    struct analytics_query q;
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    if (analytics_args(r, &q, &res) != RC_OK)
        return res;
    int64_t limit = 20;
    const char *l = arg(r, "limit");
    if (l && parse_i64(l, 1, 200, &limit) != RC_OK) {
        buf_release(&err);
        return http_send_rc(r, RC_INVALID, "limit 应为 1–200 / limit must be 1-200");
    }
    json_t *j = NULL;
    int rc = analytics_unanswered(kb_conn_store(c), &q, (int)limit, &j, &err);
    res = rc == RC_OK ? http_send_json(r, 200, json_pack("{so}", "questions", j))
                      : http_send_service_error(r, rc, &err);
    buf_release(&err);
    return res;
}
