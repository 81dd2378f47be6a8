/* `atrium ldap ...`: the maps from directory groups and OUs to orgs,
 * positions and roles (auth/ldap.h), and `ldap test USER`, which signs a
 * user in the way the server does and shows what the sign-in synced. */
#include "cli/cli.h"

#include <signal.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/ldap.h"
#include "auth/org.h"
#include "common/rc.h"

enum { L_ORG, L_POSITION, L_ROLE };
static const struct cli_opt ldap_opts[] = {
    {"--org", NULL, 1}, {"--position", NULL, 1}, {"--role", NULL, 1}, {NULL, NULL, 0}};

#define PASSWORD_CAP 1024

static const char map_add_usage[] =
    "用法 / usage: atrium ldap map add MATCH --org PATH | --position NAME | --role NAME";

static int map_add_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("ldap", "%s", map_add_usage);
    static const char *const types[] = {"org", "position", "role"};
    int which = -1;
    for (int i = L_ORG; i <= L_ROLE; i++) {
        if (!a->val[i])
            continue;
        if (which >= 0)
            return cli_usage_error("ldap", "只能指定一个映射目标 / give exactly one of --org, "
                                           "--position, --role");
        which = i;
    }
    if (which < 0)
        return cli_usage_error("ldap", "%s", map_add_usage);
    const char *match = a->pos[0], *target = a->val[which];
    int64_t id = 0;
    int code = CLI_EXIT_OK;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = ldap_map_add(d, match, types[which], target, &id, &err);
    char tgt[48];
    snprintf(tgt, sizeof tgt, "ldap_map:%lld", (long long)id);
    rc = cli_change_end(
        d, &tx, rc, "ldap.map_add", tgt,
        json_pack("{s:s,s:s,s:s}", "match", match, "target_type", types[which], "target", target));
    if (rc == RC_NOT_FOUND && !err.len) {
        code = cli_not_found(rc, types[which], types[which], target);
        goto out;
    }
    if (rc) {
        code = cli_fail(rc, &err, "无法添加映射 / cannot add the map");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)id, "match", match,
                                        "target_type", types[which], "target", target));
    } else if (!c->quiet) {
        printf("已添加 LDAP 映射 / added LDAP map %lld\n", (long long)id);
    }
out:
    buf_release(&err);
    return code;
}

static int map_list_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("ldap", "用法 / usage: atrium ldap map list");
    json_t *list = NULL;
    int rc = ldap_map_list(d, &list);
    if (rc)
        return cli_fail(rc, NULL, "无法列出映射 / cannot list the maps");
    if (c->json)
        return cli_print_json(list);
    printf("%-6s %-10s %-24s %s\n", "id", "type", "target", "匹配 / match");
    size_t i;
    json_t *m;
    struct buf tgt = BUF_INIT, match = BUF_INIT;
    json_array_foreach(list, i, m)
    {
        buf_reset(&tgt);
        buf_reset(&match);
        cli_safe_text(&tgt, json_string_value(json_object_get(m, "target")), 12, 0);
        cli_pad(&tgt, 0, 24);
        cli_safe_text(&match, json_string_value(json_object_get(m, "match")), 200, 0);
        const char *type = json_string_value(json_object_get(m, "target_type"));
        printf("%-6lld %-10s %s %s\n", (long long)json_integer_value(json_object_get(m, "id")),
               type ? type : "?", buf_str(&tgt), buf_str(&match));
    }
    buf_release(&tgt);
    buf_release(&match);
    json_decref(list);
    return CLI_EXIT_OK;
}

static int map_rm_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("ldap", "用法 / usage: atrium ldap map rm ID");
    int64_t id = 0;
    int code = cli_id_arg("ID", a->pos[0], &id);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = ldap_map_delete(d, id);
    char tgt[48];
    snprintf(tgt, sizeof tgt, "ldap_map:%lld", (long long)id);
    rc = cli_change_end(d, &tx, rc, "ldap.map_delete", tgt,
                        json_pack("{s:I}", "id", (json_int_t)id));
    if (rc == RC_NOT_FOUND)
        return cli_not_found(rc, "映射", "map", a->pos[0]);
    if (rc)
        return cli_fail(rc, NULL, "无法删除映射 / cannot delete the map");
    if (c->json)
        return cli_print_json(json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
    if (!c->quiet)
        printf("已删除 LDAP 映射 / deleted LDAP map %lld\n", (long long)id);
    return CLI_EXIT_OK;
}

static void print_names(const char *label, json_t *arr, const char *key)
{
    struct buf line = BUF_INIT;
    size_t i;
    json_t *it;
    (void)buf_adds(&line, label);
    if (json_array_size(arr) == 0)
        (void)buf_adds(&line, " -");
    json_array_foreach(arr, i, it)
    {
        const char *s = json_string_value(json_object_get(it, key));
        (void)buf_adds(&line, i ? ", " : " ");
        cli_safe_text(&line, s ? s : json_string_value(json_object_get(it, "name")), 80, 0);
    }
    puts(buf_str(&line));
    buf_release(&line);
}

static int test_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("ldap", "用法 / usage: atrium ldap test USER");
    char pw[PASSWORD_CAP];
    struct buf err = BUF_INIT;
    struct auth_user u = {0};
    json_t *mem = NULL;
    int64_t uid = 0;
    if (!ldap_enabled(&c->cfg))
        cli_warn("未配置 LDAP（ldap_url），只检查本地用户 / LDAP is not configured (ldap_url): "
                 "only local users can sign in");
    int code = cli_read_password("密码 / password: ", 0, pw, sizeof pw);
    if (code)
        return code;
    /* A directory that drops the connection mid-write would raise SIGPIPE
     * inside libldap: take it as the error it is, not a silent exit. */
    signal(SIGPIPE, SIG_IGN);
    int rc = auth_login(d, &c->cfg, a->pos[0], pw, &uid, &err);
    cli_wipe(pw, sizeof pw);
    if (rc) {
        (void)cli_fail(rc, &err, "登录失败 / sign-in failed");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    rc = auth_user_get_id(d, uid, &u);
    if (rc == RC_OK)
        rc = org_user_memberships(d, uid, &mem);
    if (rc) {
        code = cli_fail(rc, NULL, "无法读取用户 / cannot read the user");
        goto out;
    }
    if (c->json) {
        json_t *j = json_pack("{s:b,s:o}", "ok", 1, "user", auth_user_json(&u));
        if (json_is_object(mem))
            (void)json_object_update(j, mem);
        code = cli_print_json(j);
        goto out;
    }
    struct buf s = BUF_INIT;
    cli_safe_text(&s, u.username, 0, 0);
    printf("登录成功 / signed in: %s (id %lld, source %s)\n", buf_str(&s), (long long)u.id,
           u.source ? u.source : "");
    buf_reset(&s);
    cli_safe_text(&s, u.display_name, 80, 0);
    printf("姓名 / name:        %s\n", buf_str(&s));
    buf_reset(&s);
    cli_safe_text(&s, u.employee_no, 40, 0);
    printf("工号 / employee no: %s\n", *buf_str(&s) ? buf_str(&s) : "-");
    buf_release(&s);
    print_names("组织 / orgs:", json_object_get(mem, "orgs"), "names");
    print_names("岗位 / positions:", json_object_get(mem, "positions"), "name");
    print_names("角色 / roles:", json_object_get(mem, "roles"), "name");
out:
    json_decref(mem);
    auth_user_release(&u);
    buf_release(&err);
    return code;
}

int cli_cmd_ldap(struct cli *c, int argc, char **argv)
{
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, ldap_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "ldap");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("ldap", "缺少子命令 / missing verb");
    struct cli_args rest = a;
    int (*fn)(struct cli *, struct db_conn *, struct cli_args *) = NULL;
    unsigned allowed = 0;
    if (strcmp(a.pos[0], "test") == 0) {
        fn = test_cmd;
        rest.pos = a.pos + 1;
        rest.npos = a.npos - 1;
    } else if (strcmp(a.pos[0], "map") == 0 && a.npos >= 2) {
        const char *verb = a.pos[1];
        rest.pos = a.pos + 2;
        rest.npos = a.npos - 2;
        if (strcmp(verb, "add") == 0) {
            fn = map_add_cmd;
            allowed = 1u << L_ORG | 1u << L_POSITION | 1u << L_ROLE;
        } else if (strcmp(verb, "list") == 0) {
            fn = map_list_cmd;
        } else if (strcmp(verb, "rm") == 0) {
            fn = map_rm_cmd;
        }
    }
    if (!fn)
        return cli_usage_error("ldap", "未知子命令 / unknown verb: ldap %.40s%s%.40s", a.pos[0],
                               a.npos >= 2 ? " " : "", a.npos >= 2 ? a.pos[1] : "");
    code = cli_only_opts(ldap_opts, &a, allowed, "ldap");
    if (code)
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    return fn(c, d, &rest);
}
