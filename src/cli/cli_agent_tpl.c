/* `atrium agent templates|install`: the built-in digital employees
 * (agents/templates.h) from the command line. `install` creates the demo KB,
 * the agent (version 1, a draft), its eval set and its quality gate as the
 * CLI operator, audited in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/templates.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "common/rc.h"

static int cmd_templates(struct cli *c, int argc, char **argv)
{
    static const struct cli_opt opts[] = {{NULL, NULL, 0}};
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "agent");
        return CLI_EXIT_OK;
    }
    if (a.npos != 0)
        return cli_usage_error("agent", "用法 / usage: atrium agent templates [--json]");
    json_t *list = agent_templates_list();
    if (c->json)
        return cli_print_json(json_pack("{s:o}", "templates", list));
    struct buf line = BUF_INIT;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        buf_reset(&line);
        const char *title = json_string_value(json_object_get(t, "title"));
        const char *desc = json_string_value(json_object_get(t, "description"));
        printf("%-18s %s %s  [%s]  用例 / cases %lld\n",
               json_string_value(json_object_get(t, "name")),
               json_string_value(json_object_get(t, "avatar")), title ? title : "",
               json_string_value(json_object_get(t, "domain")),
               (long long)json_integer_value(json_object_get(t, "cases")));
        if (!c->quiet && desc) {
            cli_safe_text(&line, desc, 70, 0);
            printf("%-18s %s\n", "", buf_str(&line));
        }
    }
    if (!c->quiet)
        printf("共 %zu 个模板 / %zu templates: atrium agent install NAME [--name N]\n",
               json_array_size(list), json_array_size(list));
    buf_release(&line);
    json_decref(list);
    return CLI_EXIT_OK;
}

static int cmd_install(struct cli *c, int argc, char **argv)
{
    enum { O_NAME };
    static const struct cli_opt opts[] = {{"--name", "-n", 1}, {NULL, NULL, 0}};
    struct cli_args a;
    struct buf err = BUF_INIT;
    struct agent_tpl_installed x;
    memset(&x, 0, sizeof x);
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "agent");
        return CLI_EXIT_OK;
    }
    if (a.npos != 1)
        return cli_usage_error("agent",
                               "用法 / usage: atrium agent install TEMPLATE [--name N] [--json]");
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    struct auth_principal who;
    auth_principal_cli(&who);
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK) {
        rc = agent_template_install_ex(c->conn, &who, a.pos[0], a.val[O_NAME], &x, &err);
        char target[40];
        snprintf(target, sizeof target, "agent:%lld", (long long)x.agent_id);
        json_t *detail = rc == RC_OK
                             ? json_pack("{s:s,s:s,s:I,s:I,s:b}", "template", a.pos[0], "name",
                                         x.agent_name, "kb_id", (json_int_t)x.kb_id, "eval_set_id",
                                         (json_int_t)x.eval_set_id, "kb_reused", x.kb_reused)
                             : NULL;
        rc = cli_change_end(d, &tx, rc, "agent.install", target, detail);
    }
    if (rc != RC_OK) {
        code = cli_fail(rc, &err, "模板安装失败 / could not install the template");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(
            json_pack("{s:I,s:s,s:s,s:I,s:b,s:I,s:i}", "agent_id", (json_int_t)x.agent_id, "name",
                      x.agent_name, "template", a.pos[0], "kb_id", (json_int_t)x.kb_id, "kb_reused",
                      x.kb_reused, "eval_set_id", (json_int_t)x.eval_set_id, "version", 1));
    } else if (!c->quiet) {
        printf("已安装 / installed: 数字员工 / agent %s (id %lld, 版本 / version 1 草稿 / draft)\n"
               "  示例知识库 / demo KB: %lld%s\n"
               "  评测集 / eval set: %lld（质量门槛已设置 / quality gate set）\n"
               "下一步 / next: atrium agent eval %s %lld --no-model; atrium agent publish %s 1\n",
               x.agent_name, (long long)x.agent_id, (long long)x.kb_id,
               x.kb_reused ? "（沿用已有 / reused）" : "", (long long)x.eval_set_id, x.agent_name,
               (long long)x.eval_set_id, x.agent_name);
    }
out:
    agent_tpl_installed_release(&x);
    buf_release(&err);
    return code;
}

int cli_agent_tpl(struct cli *c, const char *verb, int argc, char **argv)
{
    if (strcmp(verb, "templates") == 0)
        return cmd_templates(c, argc, argv);
    if (strcmp(verb, "install") == 0)
        return cmd_install(c, argc, argv);
    return cli_usage_error("agent", "未知子命令 / unknown verb: %s", verb);
}
