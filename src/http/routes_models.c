/* The model registry over HTTP (permission models.manage): list, add,
 * change and remove models and their endpoints, and test a model's
 * endpoints (network calls: on a worker, through http_defer). Every change
 * commits together with its audit entry. API keys go in, never out
 * ("api_key_set" only). docs/MODELS.md describes the routes. */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "http/http_int.h"
#include "llm/gateway.h"

static int finish(struct http_req *r, struct kb_conn *c, struct db_tx *tx, int rc,
                  const char *action, int64_t model_id, json_t *detail)
{
    char target[48];
    snprintf(target, sizeof target, "model:%lld", (long long)model_id);
    return http_change_end(r, c, tx, rc, action, target, detail);
}

/* An optional integer member in [lo, hi]; 0 when absent. -1 when bad. */
static int int_member(json_t *j, const char *key, int lo, int hi, int *out)
{
    json_t *v = json_object_get(j, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

/* An endpoint from a body: url, upstream, api_key, max_concurrency,
 * weight, enabled. RC_INVALID with a message in err. */
static int endpoint_of(json_t *j, struct gw_endpoint_spec *ep, struct buf *err)
{
    int bad = 0;
    memset(ep, 0, sizeof *ep);
    ep->url = http_json_str(j, "url", &bad);
    ep->upstream = http_json_str(j, "upstream", &bad);
    ep->api_key = http_json_str(j, "api_key", &bad);
    json_t *en = json_object_get(j, "enabled");
    ep->enabled = en ? json_is_true(en) : 1;
    if (bad || (en && !json_is_boolean(en)) ||
        int_member(j, "max_concurrency", 1, 10000, &ep->max_concurrency) ||
        int_member(j, "weight", 1, 1000, &ep->weight) || !ep->url || !ep->upstream) {
        (void)buf_adds(err, "需要 url 与 upstream（字符串），max_concurrency 1..10000，weight "
                            "1..1000 / url and upstream (strings) are required; max_concurrency "
                            "1..10000, weight 1..1000");
        return RC_INVALID;
    }
    return RC_OK;
}

/* The params member as JSON text (malloc'd) or NULL when absent; *bad
 * when it is not an object. */
static char *params_of(json_t *j, int *bad)
{
    json_t *p = json_object_get(j, "params");
    if (!p)
        return NULL;
    if (!json_is_object(p)) {
        *bad = 1;
        return NULL;
    }
    return json_dumps(p, JSON_COMPACT);
}

static enum MHD_Result send_model(struct http_req *r, struct kb_conn *c, int status, int64_t id)
{
    json_t *m = NULL;
    int rc = gw_model_json(gw_process(), kb_conn_store(c), id, &m);
    return rc == RC_OK ? http_send_json(r, status, m) : http_send_service_error(r, rc, NULL);
}

enum MHD_Result http_h_models_list(struct http_req *r, struct kb_conn *c)
{
    json_t *all = NULL;
    int rc = gw_models_json(gw_process(), kb_conn_store(c), r->srv->cfg, &all);
    if (rc != RC_OK)
        return http_send_service_error(r, rc, NULL);
    return http_send_json(r, 200, json_pack("{s:o}", "models", all));
}

enum MHD_Result http_h_model_get(struct http_req *r, struct kb_conn *c)
{
    return send_model(r, c, 200, r->arg_id);
}

enum MHD_Result http_h_models_create(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    int bad = 0;
    char *params = NULL;
    const char *name = http_json_str(j, "name", &bad);
    const char *purpose = http_json_str(j, "purpose", &bad);
    json_t *def = json_object_get(j, "default");
    struct gw_model_spec m = {name, GW_CHAT, NULL, json_is_true(def)};
    struct gw_endpoint_spec ep;
    int has_ep = json_object_get(j, "url") != NULL;
    params = params_of(j, &bad);
    m.params = params;
    if (bad || !name || (def && !json_is_boolean(def)) ||
        (purpose && gw_purpose_parse(purpose, &m.purpose))) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 name；purpose 为 chat|embedding|rerank|asr；default 为布尔值；"
                           "params 为对象 / name is required; purpose is chat, embedding, rerank "
                           "or asr; default a boolean; params an object");
        goto out;
    }
    if (has_ep && endpoint_of(j, &ep, &err)) {
        res = http_send_rc(r, RC_INVALID, buf_str(&err));
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int64_t id = 0;
    int rc = gw_model_add(kb_conn_store(c), &m, has_ep ? &ep : NULL, &id, &err);
    rc = finish(r, c, &tx, rc, "model.add", id,
                json_pack("{s:s,s:s,s:b,s:s?,s:s?,s:b}", "name", name, "purpose",
                          gw_purpose_name(m.purpose), "default", m.is_default, "url",
                          has_ep ? ep.url : NULL, "upstream", has_ep ? ep.upstream : NULL,
                          "api_key_set", has_ep && ep.api_key && ep.api_key[0]));
    res = rc == RC_OK ? send_model(r, c, 201, id) : http_send_service_error(r, rc, &err);
out:
    free(params);
    json_decref(j); /* the key's bytes stay in jansson's memory until freed */
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_model_update(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    int bad = 0;
    struct gw_model_update u = {0};
    u.name = http_json_str(j, "name", &bad);
    char *params = params_of(j, &bad);
    u.params = params;
    json_t *def = json_object_get(j, "default");
    if (def && !json_is_boolean(def))
        bad = 1;
    u.is_default = !def ? 0 : json_is_true(def) ? 1 : -1;
    if (bad) {
        res = http_send_rc(r, RC_INVALID,
                           "name 为字符串，params 为对象，default 为布尔值 / name is a string, "
                           "params an object, default a boolean");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = gw_model_update(kb_conn_store(c), r->arg_id, &u, &err);
    json_t *detail = json_object();
    if (u.name)
        (void)json_object_set_new(detail, "name", json_string(u.name));
    if (def)
        (void)json_object_set_new(detail, "default", json_boolean(u.is_default == 1));
    if (params)
        (void)json_object_set(detail, "params", json_object_get(j, "params"));
    rc = finish(r, c, &tx, rc, "model.update", r->arg_id, detail);
    res = rc == RC_OK ? send_model(r, c, 200, r->arg_id) : http_send_service_error(r, rc, &err);
out:
    free(params);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_model_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return http_send_service_error(r, RC_DB, NULL);
    int rc = gw_model_remove(kb_conn_store(c), r->arg_id);
    rc = finish(r, c, &tx, rc, "model.remove", r->arg_id, NULL);
    return rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
}

enum MHD_Result http_h_model_endpoint_add(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    struct gw_endpoint_spec ep;
    if (endpoint_of(j, &ep, &err)) {
        res = http_send_rc(r, RC_INVALID, buf_str(&err));
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = http_send_service_error(r, RC_DB, NULL);
        goto out;
    }
    int64_t eid = 0;
    int rc = gw_endpoint_add(kb_conn_store(c), r->arg_id, &ep, &eid, &err);
    rc = finish(r, c, &tx, rc, "model.endpoint_add", r->arg_id,
                json_pack("{s:I,s:s,s:s,s:b}", "endpoint_id", (json_int_t)eid, "url", ep.url,
                          "upstream", ep.upstream, "api_key_set", ep.api_key && ep.api_key[0]));
    res = rc == RC_OK ? send_model(r, c, 201, r->arg_id) : http_send_service_error(r, rc, &err);
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_model_endpoint_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return http_send_service_error(r, RC_DB, NULL);
    int rc = gw_endpoint_remove(kb_conn_store(c), r->arg_id, r->arg_id2);
    rc = finish(r, c, &tx, rc, "model.endpoint_remove", r->arg_id,
                json_pack("{s:I}", "endpoint_id", (json_int_t)r->arg_id2));
    return rc == RC_OK ? http_send_empty(r, 204) : http_send_service_error(r, rc, NULL);
}

/* ---- the test: GET /models and a tiny chat on every endpoint, on a worker ---- */

struct test_task {
    const struct config *cfg;
    int64_t model_id;
    int chat;
};

static void test_run(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct test_task *t = ctx;
    json_t *rep = NULL;
    int rc = gw_test_model(gw_process(), t->cfg, kb_conn_store(c), t->model_id, t->chat, &rep);
    if (rep) {
        res->status = 200; /* the report says which endpoints work */
        res->body = rep;
        return;
    }
    res->status = rc_http_status(rc);
    res->body = json_pack("{s:{s:s,s:s}}", "error", "code", rc_code(rc), "message",
                          rc == RC_NOT_FOUND ? "模型不存在 / no such model"
                                             : "无法测试模型 / cannot test the model");
}

enum MHD_Result http_h_model_test(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    struct test_task *t = xcalloc(1, sizeof *t);
    t->cfg = r->srv->cfg;
    t->model_id = r->arg_id;
    t->chat = 1;
    return http_defer(r, test_run, t, free);
}
