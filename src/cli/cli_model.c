/* `atrium model add|endpoint|list|remove|default|test`: the model registry
 * of the gateway (llm/gateway.h) from the command line. Every change is
 * audited in its own transaction (cli_change_begin / cli_change_end). An
 * API key never comes from argv: --api-key-env VAR or --api-key-stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/rc.h"
#include "llm/gateway.h"

enum {
    M_PURPOSE,
    M_URL,
    M_UPSTREAM,
    M_KEY_ENV,
    M_KEY_STDIN,
    M_CONC,
    M_WEIGHT,
    M_DEFAULT,
    M_PARAMS,
    M_NO_CHAT,
};

static const struct cli_opt model_opts[] = {
    {"--purpose", NULL, 1},
    {"--url", NULL, 1},
    {"--upstream", NULL, 1},
    {"--api-key-env", NULL, 1},
    {"--api-key-stdin", NULL, 0},
    {"--max-concurrency", NULL, 1},
    {"--weight", NULL, 1},
    {"--default", NULL, 0},
    {"--params", NULL, 1},
    {"--no-chat", NULL, 0},
    {NULL, NULL, 0},
};

#define ENDPOINT_OPTS                                                                              \
    ((1u << M_URL) | (1u << M_UPSTREAM) | (1u << M_KEY_ENV) | (1u << M_KEY_STDIN) |                \
     (1u << M_CONC) | (1u << M_WEIGHT))

static void shift(const struct cli_args *a, struct cli_args *rest)
{
    *rest = *a;
    rest->npos = a->npos - 1;
    rest->pos = a->pos + 1;
}

/* Fills an endpoint spec from the options; the key goes into key (cap
 * bytes, wiped by the caller). Prints and returns an exit code. */
static int endpoint_from_opts(const struct cli_args *a, struct gw_endpoint_spec *ep, char *key,
                              size_t cap)
{
    memset(ep, 0, sizeof *ep);
    key[0] = 0;
    ep->enabled = 1;
    ep->url = a->val[M_URL];
    ep->upstream = a->val[M_UPSTREAM];
    if (!ep->url || !ep->upstream)
        return cli_usage_error("model", "需要 --url 和 --upstream / --url and --upstream are "
                                        "required");
    if (a->val[M_KEY_ENV] && a->val[M_KEY_STDIN])
        return cli_usage_error("model", "--api-key-env 与 --api-key-stdin 只能选一个 / use "
                                        "either --api-key-env or --api-key-stdin");
    if (a->val[M_KEY_ENV]) {
        const char *v = getenv(a->val[M_KEY_ENV]);
        if (!v || !*v) {
            cli_error("环境变量未设置 / environment variable %.64s is not set", a->val[M_KEY_ENV]);
            return CLI_EXIT_USAGE;
        }
        if (strlen(v) >= cap) {
            cli_error("API 密钥过长 / API key too long");
            return CLI_EXIT_USAGE;
        }
        memcpy(key, v, strlen(v) + 1);
    } else if (a->val[M_KEY_STDIN]) {
        int code = cli_read_password("API 密钥 / API key: ", 0, key, cap);
        if (code)
            return code;
    }
    ep->api_key = key;
    int code = CLI_EXIT_OK;
    if (a->val[M_CONC] &&
        (code = cli_int_arg("--max-concurrency", a->val[M_CONC], 1, 10000, &ep->max_concurrency)))
        return code;
    if (a->val[M_WEIGHT] &&
        (code = cli_int_arg("--weight", a->val[M_WEIGHT], 1, 1000, &ep->weight)))
        return code;
    return CLI_EXIT_OK;
}

static void target_of(char *out, size_t cap, int64_t id)
{
    snprintf(out, cap, "model:%lld", (long long)id);
}

static int find_model(struct db_conn *d, const char *name, int64_t *id)
{
    int rc = gw_model_find(d, name, id);
    return rc ? cli_not_found(rc, "模型", "model", name) : CLI_EXIT_OK;
}

static int done(struct cli *c, const char *what, const char *name, int64_t id, json_t *extra)
{
    if (c->json) {
        json_t *j = json_pack("{s:I,s:s}", "id", (json_int_t)id, "name", name);
        if (extra)
            (void)json_object_update(j, extra);
        json_decref(extra);
        return cli_print_json(j);
    }
    json_decref(extra);
    if (!c->quiet) {
        struct buf s = BUF_INIT;
        cli_safe_text(&s, name, 80, 0);
        printf("%s: %s (id %lld)\n", what, buf_str(&s), (long long)id);
        buf_release(&s);
    }
    return CLI_EXIT_OK;
}

static int model_add_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("model", "用法 / usage: atrium model add NAME --purpose P --url URL "
                                        "--upstream NAME");
    enum gw_purpose p = GW_CHAT;
    if (a->val[M_PURPOSE] && gw_purpose_parse(a->val[M_PURPOSE], &p))
        return cli_usage_error("model", "--purpose 须为 chat|embedding|rerank|asr / --purpose "
                                        "must be chat, embedding, rerank or asr");
    char key[GW_KEY_MAX + 2];
    struct gw_endpoint_spec ep;
    int code = endpoint_from_opts(a, &ep, key, sizeof key);
    struct buf err = BUF_INIT;
    if (code)
        goto out;
    struct gw_model_spec m = {a->pos[0], p, a->val[M_PARAMS], a->val[M_DEFAULT] != NULL};
    int64_t id = 0;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = gw_model_add(d, &m, &ep, &id, &err);
    char target[48];
    target_of(target, sizeof target, id);
    rc = cli_change_end(d, &tx, rc, "model.add", target,
                        json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "name", m.name, "purpose",
                                  gw_purpose_name(p), "url", ep.url, "upstream", ep.upstream,
                                  "api_key_set", key[0] != 0, "default", m.is_default));
    if (rc) {
        code = cli_fail(rc, &err, "无法添加模型 / cannot add the model");
        goto out;
    }
    code = done(c, "已添加模型 / added model", m.name, id, NULL);
out:
    cli_wipe(key, sizeof key);
    buf_release(&err);
    return code;
}

static int endpoint_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos < 2)
        return cli_usage_error("model", "用法 / usage: atrium model endpoint add|remove|enable|"
                                        "disable NAME ...");
    const char *verb = a->pos[0];
    int64_t mid = 0, eid = 0;
    int code = find_model(d, a->pos[1], &mid);
    if (code)
        return code;
    char key[GW_KEY_MAX + 2];
    key[0] = 0;
    struct buf err = BUF_INIT;
    char target[48];
    target_of(target, sizeof target, mid);
    struct db_tx tx;
    int rc;
    if (strcmp(verb, "add") == 0) {
        struct gw_endpoint_spec ep;
        if (a->npos != 2)
            code = cli_usage_error("model", "用法 / usage: atrium model endpoint add NAME --url "
                                            "URL --upstream NAME");
        if (!code)
            code = endpoint_from_opts(a, &ep, key, sizeof key);
        if (code)
            goto out;
        rc = cli_change_begin(d, &tx);
        if (rc == RC_OK)
            rc = gw_endpoint_add(d, mid, &ep, &eid, &err);
        rc = cli_change_end(d, &tx, rc, "model.endpoint_add", target,
                            json_pack("{s:I,s:s,s:s,s:b}", "endpoint_id", (json_int_t)eid, "url",
                                      ep.url, "upstream", ep.upstream, "api_key_set", key[0] != 0));
        if (rc) {
            code = cli_fail(rc, &err, "无法添加端点 / cannot add the endpoint");
            goto out;
        }
        code = done(c, "已添加端点 / added endpoint", a->pos[1], eid, NULL);
        goto out;
    }
    int which = strcmp(verb, "remove") == 0    ? 0
                : strcmp(verb, "enable") == 0  ? 1
                : strcmp(verb, "disable") == 0 ? 2
                                               : -1;
    if (which < 0) {
        code = cli_usage_error("model", "未知子命令 / unknown verb: model endpoint %.40s", verb);
        goto out;
    }
    if (a->npos != 3) {
        code = cli_usage_error("model", "用法 / usage: atrium model endpoint %s NAME ENDPOINT_ID",
                               which == 0   ? "remove"
                               : which == 1 ? "enable"
                                            : "disable");
        goto out;
    }
    if ((code = cli_id_arg("ENDPOINT_ID", a->pos[2], &eid)))
        goto out;
    rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = which == 0 ? gw_endpoint_remove(d, mid, eid)
                        : gw_endpoint_set_enabled(d, mid, eid, which == 1);
    rc = cli_change_end(
        d, &tx, rc, which == 0 ? "model.endpoint_remove" : "model.update", target,
        which == 0 ? json_pack("{s:I}", "endpoint_id", (json_int_t)eid)
                   : json_pack("{s:I,s:b}", "endpoint_id", (json_int_t)eid, "enabled", which == 1));
    if (rc) {
        code = rc == RC_NOT_FOUND ? cli_not_found(rc, "端点", "endpoint", a->pos[2])
                                  : cli_fail(rc, &err, "无法修改端点 / cannot change the endpoint");
        goto out;
    }
    code = done(c, which == 0 ? "已删除端点 / removed endpoint" : "已修改端点 / changed endpoint",
                a->pos[1], eid, NULL);
out:
    cli_wipe(key, sizeof key);
    buf_release(&err);
    return code;
}

static int model_list_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("model", "用法 / usage: atrium model list [--json]");
    json_t *all = NULL;
    int rc = gw_models_json(NULL, d, &c->cfg, &all);
    if (rc)
        return cli_fail(rc, NULL, "无法读取模型 / cannot read the models");
    if (c->json)
        return cli_print_json(json_pack("{s:o}", "models", all));
    if (json_array_size(all) == 0 && !c->quiet)
        printf("没有模型 / no models (atrium model add ...)\n");
    size_t i, k;
    json_t *m, *e;
    json_array_foreach(all, i, m)
    {
        struct buf line = BUF_INIT;
        json_int_t id = json_integer_value(json_object_get(m, "id"));
        if (id)
            (void)buf_addf(&line, "%-4lld ", (long long)id);
        else
            (void)buf_adds(&line, "-    ");
        size_t from = line.len;
        cli_safe_text(&line, json_string_value(json_object_get(m, "name")), 32, 0);
        cli_pad(&line, from, 24);
        (void)buf_addf(&line, " %-9s %s%s", json_string_value(json_object_get(m, "purpose")),
                       json_is_true(json_object_get(m, "default")) ? "默认/default" : "",
                       json_object_get(m, "source") ? " (配置/config)" : "");
        printf("%s\n", buf_str(&line));
        json_array_foreach(json_object_get(m, "endpoints"), k, e)
        {
            buf_reset(&line);
            (void)buf_addf(&line, "     #%-4lld ",
                           (long long)json_integer_value(json_object_get(e, "id")));
            cli_safe_text(&line, json_string_value(json_object_get(e, "url")), 60, 0);
            (void)buf_adds(&line, "  ");
            cli_safe_text(&line, json_string_value(json_object_get(e, "upstream")), 40, 0);
            if (json_object_get(e, "max_concurrency"))
                (void)buf_addf(&line, "  并发/conc %lld  权重/weight %lld",
                               (long long)json_integer_value(json_object_get(e, "max_concurrency")),
                               (long long)json_integer_value(json_object_get(e, "weight")));
            (void)buf_addf(&line, "  %s%s",
                           json_is_true(json_object_get(e, "api_key_set")) ? "key " : "",
                           json_is_false(json_object_get(e, "enabled")) ? "停用/disabled" : "");
            printf("%s\n", buf_str(&line));
        }
        buf_release(&line);
    }
    json_decref(all);
    return CLI_EXIT_OK;
}

static int model_remove_cmd(struct cli *c, struct db_conn *d, struct cli_args *a, int to_default)
{
    if (a->npos != 1)
        return cli_usage_error("model", "用法 / usage: atrium model %s NAME",
                               to_default ? "default" : "remove");
    int64_t id = 0;
    int code = find_model(d, a->pos[0], &id);
    if (code)
        return code;
    char target[48];
    target_of(target, sizeof target, id);
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = to_default ? gw_model_set_default(d, id) : gw_model_remove(d, id);
    rc = cli_change_end(d, &tx, rc, to_default ? "model.update" : "model.remove", target,
                        to_default ? json_pack("{s:s,s:b}", "name", a->pos[0], "default", 1)
                                   : json_pack("{s:s}", "name", a->pos[0]));
    if (rc)
        return cli_fail(rc, NULL, "无法修改模型 / cannot change the model");
    return done(c, to_default ? "已设为默认 / now the default" : "已删除模型 / removed model",
                a->pos[0], id, NULL);
}

static int model_test_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("model", "用法 / usage: atrium model test NAME [--no-chat]");
    int64_t id = 0;
    int code = find_model(d, a->pos[0], &id);
    if (code)
        return code;
    json_t *rep = NULL;
    int rc = gw_test_model(NULL, &c->cfg, d, id, a->val[M_NO_CHAT] == NULL, &rep);
    if (!rep)
        return cli_fail(rc, NULL, "无法测试模型 / cannot test the model");
    code = rc == RC_OK ? CLI_EXIT_OK : rc_exit_code(rc);
    if (c->json) {
        (void)cli_print_json(rep);
        return code;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(rep, "endpoints"), i, e)
    {
        struct buf line = BUF_INIT;
        int ok = json_is_true(json_object_get(e, "ok"));
        (void)buf_addf(&line, "#%-4lld %-4s ",
                       (long long)json_integer_value(json_object_get(e, "id")), ok ? "ok" : "FAIL");
        cli_safe_text(&line, json_string_value(json_object_get(e, "url")), 60, 0);
        (void)buf_addf(&line, "  models %.0f ms",
                       json_number_value(json_object_get(e, "models_ms")));
        if (json_is_number(json_object_get(e, "chat_ms")))
            (void)buf_addf(&line, "  chat %.0f ms",
                           json_number_value(json_object_get(e, "chat_ms")));
        if (json_is_false(json_object_get(e, "enabled")))
            (void)buf_adds(&line, "  (停用/disabled)");
        const char *msg = json_string_value(json_object_get(e, "error"));
        if (msg && *msg) {
            (void)buf_adds(&line, "  ");
            cli_safe_text(&line, msg, 200, 0);
        }
        printf("%s\n", buf_str(&line));
        buf_release(&line);
    }
    if (!c->quiet)
        printf("%s\n",
               code == CLI_EXIT_OK ? "可用 / model works" : "没有可用端点 / no endpoint works");
    json_decref(rep);
    return code;
}

int cli_cmd_model(struct cli *c, int argc, char **argv)
{
    struct cli_args a, rest;
    int code = cli_parse_args(c, argc, argv, model_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "model");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("model", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    shift(&a, &rest);
    unsigned allowed = 0;
    int which;
    if (strcmp(verb, "add") == 0) {
        which = 0;
        allowed = ENDPOINT_OPTS | (1u << M_PURPOSE) | (1u << M_DEFAULT) | (1u << M_PARAMS);
    } else if (strcmp(verb, "endpoint") == 0) {
        which = 1;
        allowed = ENDPOINT_OPTS;
    } else if (strcmp(verb, "list") == 0) {
        which = 2;
    } else if (strcmp(verb, "remove") == 0 || strcmp(verb, "rm") == 0) {
        which = 3;
    } else if (strcmp(verb, "default") == 0) {
        which = 4;
    } else if (strcmp(verb, "test") == 0) {
        which = 5;
        allowed = 1u << M_NO_CHAT;
    } else {
        return cli_usage_error("model", "未知子命令 / unknown verb: model %.40s", verb);
    }
    code = cli_only_opts(model_opts, &a, allowed, "model");
    if (code)
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    switch (which) {
    case 0:
        return model_add_cmd(c, d, &rest);
    case 1:
        return endpoint_cmd(c, d, &rest);
    case 2:
        return model_list_cmd(c, d, &rest);
    case 3:
        return model_remove_cmd(c, d, &rest, 0);
    case 4:
        return model_remove_cmd(c, d, &rest, 1);
    default:
        return model_test_cmd(c, d, &rest);
    }
}
