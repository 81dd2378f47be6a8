/* `atrium org ...`, `atrium position ...` and `atrium role ...`: the org
 * tree and its members, positions (岗位) and roles with their permissions.
 * Thin calls into auth/org.h; every change is written with its audit entry
 * in one transaction (cli_change_begin / cli_change_end). */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/org.h"
#include "common/rc.h"

static void target_of(char *out, size_t n, const char *kind, int64_t id)
{
    snprintf(out, n, "%s:%lld", kind, (long long)id);
}

/* Prints "done: NAME (id N)" or {"id": N, …extra} and returns an exit code.
 * extra is stolen (may be NULL). */
static int print_done(struct cli *c, const char *done, const char *name, int64_t id, json_t *extra)
{
    if (c->json) {
        json_t *j = json_pack("{s:I}", "id", (json_int_t)id);
        if (name)
            (void)json_object_set_new(j, "name", json_string(name));
        if (extra)
            (void)json_object_update(j, extra);
        json_decref(extra);
        return cli_print_json(j);
    }
    json_decref(extra);
    if (!c->quiet) {
        struct buf s = BUF_INIT;
        cli_safe_text(&s, name ? name : "", 80, 0);
        printf("%s: %s (id %lld)\n", done, buf_str(&s), (long long)id);
        buf_release(&s);
    }
    return CLI_EXIT_OK;
}

static int find_org(struct db_conn *d, const char *s, int64_t *id)
{
    int rc = org_find(d, s, id);
    return rc ? cli_not_found(rc, "组织", "org", s) : CLI_EXIT_OK;
}

static int find_position(struct db_conn *d, const char *s, int64_t *id)
{
    int rc = position_find(d, s, id);
    return rc ? cli_not_found(rc, "岗位", "position", s) : CLI_EXIT_OK;
}

static int find_role(struct db_conn *d, const char *s, int64_t *id)
{
    int rc = role_find(d, s, id);
    return rc ? cli_not_found(rc, "角色", "role", s) : CLI_EXIT_OK;
}

/* Splits the verb off; a->pos[0] is the verb. */
static void shift(const struct cli_args *a, struct cli_args *rest)
{
    *rest = *a;
    rest->npos = a->npos - 1;
    rest->pos = a->pos + 1;
}

/* ---- org ---- */

enum { O_PARENT, O_TO };
static const struct cli_opt org_opts[] = {
    {"--parent", NULL, 1}, {"--to", NULL, 1}, {NULL, NULL, 0}};

static int org_add_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("org", "用法 / usage: atrium org add NAME [--parent PATH|ID]");
    int64_t parent = 0, id = 0;
    int code = CLI_EXIT_OK;
    if (a->val[O_PARENT] && (code = find_org(d, a->val[O_PARENT], &parent)))
        return code;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = org_create(d, a->pos[0], parent, &id, &err);
    char target[48];
    target_of(target, sizeof target, "org", id);
    rc = cli_change_end(d, &tx, rc, "org.create", target,
                        json_pack("{s:s,s:I}", "name", a->pos[0], "parent_id", (json_int_t)parent));
    if (rc) {
        code = cli_fail(rc, &err, "无法创建组织 / cannot create the org");
        goto out;
    }
    code = print_done(c, "已创建组织 / created org", a->pos[0], id,
                      json_pack("{s:I}", "parent_id", (json_int_t)parent));
out:
    buf_release(&err);
    return code;
}

static void print_tree(json_t *forest, int depth, struct buf *line)
{
    size_t i;
    json_t *o;
    json_array_foreach(forest, i, o)
    {
        buf_reset(line);
        for (int k = 0; k < depth; k++)
            (void)buf_adds(line, "  ");
        cli_safe_text(line, json_string_value(json_object_get(o, "name")), 80, 0);
        (void)buf_addf(line, "  (id %lld, %lld 人 / members)",
                       (long long)json_integer_value(json_object_get(o, "id")),
                       (long long)json_integer_value(json_object_get(o, "members")));
        puts(buf_str(line));
        if (depth < 64)
            print_tree(json_object_get(o, "children"), depth + 1, line);
    }
}

static int org_list_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("org", "用法 / usage: atrium org list");
    json_t *forest = NULL;
    int rc = org_tree(d, &forest);
    if (rc)
        return cli_fail(rc, NULL, "无法列出组织 / cannot list orgs");
    if (c->json)
        return cli_print_json(forest);
    struct buf line = BUF_INIT;
    if (json_array_size(forest) == 0 && !c->quiet)
        puts("（没有组织 / no orgs）");
    print_tree(forest, 0, &line);
    buf_release(&line);
    json_decref(forest);
    return CLI_EXIT_OK;
}

static int org_show_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("org", "用法 / usage: atrium org show PATH|ID");
    int64_t id = 0;
    int code = find_org(d, a->pos[0], &id);
    if (code)
        return code;
    json_t *j = NULL;
    int rc = org_get_json(d, id, &j);
    if (rc)
        return cli_not_found(rc, "组织", "org", a->pos[0]);
    if (c->json)
        return cli_print_json(j);
    struct buf s = BUF_INIT;
    cli_safe_text(&s, json_string_value(json_object_get(j, "name")), 80, 0);
    printf("组织 / org:      %s (id %lld)\n", buf_str(&s), (long long)id);
    buf_reset(&s);
    cli_safe_text(&s, json_string_value(json_object_get(j, "names")), 200, 0);
    printf("路径 / path:     %s\n", buf_str(&s));
    json_int_t parent = json_integer_value(json_object_get(j, "parent_id"));
    if (parent)
        printf("上级 / parent:   %lld\n", (long long)parent);
    else
        printf("上级 / parent:   - (根 / root)\n");
    json_t *members = json_object_get(j, "members");
    printf("成员 / members:  %zu\n", json_array_size(members));
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m)
    {
        buf_reset(&s);
        (void)buf_addf(&s, "  %-6lld ", (long long)json_integer_value(json_object_get(m, "id")));
        cli_safe_text(&s, json_string_value(json_object_get(m, "username")), 64, 0);
        const char *disp = json_string_value(json_object_get(m, "display_name"));
        if (disp && *disp) {
            (void)buf_adds(&s, "  ");
            cli_safe_text(&s, disp, 40, 0);
        }
        puts(buf_str(&s));
    }
    buf_release(&s);
    json_decref(j);
    return CLI_EXIT_OK;
}

static int org_move_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    const char *to = a->val[O_TO];
    if (a->npos != 1 || !to || !*to)
        return cli_usage_error("org", "用法 / usage: atrium org move PATH|ID --to PATH|ID|/");
    int64_t id = 0, parent = 0;
    int code = find_org(d, a->pos[0], &id);
    if (code)
        return code;
    if (strcmp(to, "/") != 0 && (code = find_org(d, to, &parent)))
        return code;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = org_move(d, id, parent, &err);
    char target[48];
    target_of(target, sizeof target, "org", id);
    rc = cli_change_end(d, &tx, rc, "org.move", target,
                        json_pack("{s:I}", "parent_id", (json_int_t)parent));
    if (rc) {
        code = cli_fail(rc, &err, "无法移动组织 / cannot move the org");
        goto out;
    }
    code = print_done(c, "已移动组织 / moved org", a->pos[0], id,
                      json_pack("{s:I}", "parent_id", (json_int_t)parent));
out:
    buf_release(&err);
    return code;
}

static int org_rename_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error("org", "用法 / usage: atrium org rename PATH|ID NEWNAME");
    int64_t id = 0;
    int code = find_org(d, a->pos[0], &id);
    if (code)
        return code;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = org_rename(d, id, a->pos[1], &err);
    char target[48];
    target_of(target, sizeof target, "org", id);
    rc = cli_change_end(d, &tx, rc, "org.rename", target,
                        json_pack("{s:s,s:s}", "from", a->pos[0], "name", a->pos[1]));
    if (rc) {
        code = cli_fail(rc, &err, "无法重命名组织 / cannot rename the org");
        goto out;
    }
    code = print_done(c, "已重命名组织 / renamed org", a->pos[1], id, NULL);
out:
    buf_release(&err);
    return code;
}

static int org_rm_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("org", "用法 / usage: atrium org rm PATH|ID");
    int64_t id = 0;
    int code = find_org(d, a->pos[0], &id);
    if (code)
        return code;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = org_delete(d, id, &err);
    char target[48];
    target_of(target, sizeof target, "org", id);
    rc = cli_change_end(d, &tx, rc, "org.delete", target, json_pack("{s:s}", "org", a->pos[0]));
    if (rc == RC_BUSY && !err.len)
        (void)buf_adds(&err, "还有下级组织，请先移走或删除 / it has child orgs: move or delete "
                             "them first");
    if (rc) {
        code = cli_fail(rc, &err, "无法删除组织 / cannot delete the org");
        goto out;
    }
    if (c->json)
        code = cli_print_json(json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
    else if (!c->quiet)
        printf("已删除组织 / deleted org %lld\n", (long long)id);
out:
    buf_release(&err);
    return code;
}

static int org_member_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    int add = a->npos == 3 && strcmp(a->pos[0], "add") == 0;
    if (a->npos != 3 || (!add && strcmp(a->pos[0], "rm") != 0))
        return cli_usage_error("org", "用法 / usage: atrium org member add|rm ORG USER");
    int64_t org = 0, uid = 0;
    int code = find_org(d, a->pos[1], &org);
    if (code)
        return code;
    code = cli_find_user(d, a->pos[2], &uid);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = add ? org_member_add(d, org, uid, "local") : org_member_remove(d, org, uid);
    char target[48];
    target_of(target, sizeof target, "org", org);
    rc = cli_change_end(d, &tx, rc, add ? "org.member_add" : "org.member_remove", target,
                        json_pack("{s:I,s:s}", "user_id", (json_int_t)uid, "username", a->pos[2]));
    if (rc == RC_NOT_FOUND && !add) {
        cli_error("该用户不是此组织的成员 / the user is not a member of this org");
        return rc_exit_code(rc);
    }
    if (rc)
        return cli_fail(rc, NULL,
                        add ? "无法添加成员 / cannot add the member"
                            : "无法移除成员 / cannot remove the member");
    if (c->json)
        return cli_print_json(json_pack("{s:I,s:I,s:b}", "org_id", (json_int_t)org, "user_id",
                                        (json_int_t)uid, "member", add));
    if (!c->quiet)
        printf("%s / %s\n", add ? "已加入组织" : "已移出组织",
               add ? "added to the org" : "removed from the org");
    return CLI_EXIT_OK;
}

int cli_cmd_org(struct cli *c, int argc, char **argv)
{
    struct cli_args a, rest;
    int code = cli_parse_args(c, argc, argv, org_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "org");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("org", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    shift(&a, &rest);
    int (*fn)(struct cli *, struct db_conn *, struct cli_args *) = NULL;
    unsigned allowed = 0;
    if (strcmp(verb, "add") == 0) {
        fn = org_add_cmd;
        allowed = 1u << O_PARENT;
    } else if (strcmp(verb, "list") == 0) {
        fn = org_list_cmd;
    } else if (strcmp(verb, "show") == 0) {
        fn = org_show_cmd;
    } else if (strcmp(verb, "move") == 0) {
        fn = org_move_cmd;
        allowed = 1u << O_TO;
    } else if (strcmp(verb, "rename") == 0) {
        fn = org_rename_cmd;
    } else if (strcmp(verb, "rm") == 0) {
        fn = org_rm_cmd;
    } else if (strcmp(verb, "member") == 0) {
        fn = org_member_cmd;
    } else {
        return cli_usage_error("org", "未知子命令 / unknown verb: org %.40s", verb);
    }
    code = cli_only_opts(org_opts, &a, allowed, "org");
    if (code)
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    return fn(c, d, &rest);
}

/* ---- position ---- */

static int position_add_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("position", "用法 / usage: atrium position add NAME");
    int64_t id = 0;
    int code = CLI_EXIT_OK;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = position_create(d, a->pos[0], &id, &err);
    char target[48];
    target_of(target, sizeof target, "position", id);
    rc = cli_change_end(d, &tx, rc, "position.create", target,
                        json_pack("{s:s}", "name", a->pos[0]));
    if (rc) {
        code = cli_fail(rc, &err, "无法创建岗位 / cannot create the position");
        goto out;
    }
    code = print_done(c, "已创建岗位 / created position", a->pos[0], id, NULL);
out:
    buf_release(&err);
    return code;
}

static int position_list_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("position", "用法 / usage: atrium position list");
    json_t *list = NULL;
    int rc = position_list(d, &list);
    if (rc)
        return cli_fail(rc, NULL, "无法列出岗位 / cannot list positions");
    if (c->json)
        return cli_print_json(list);
    printf("%-6s %-8s %s\n", "id", "holders", "名称 / name");
    size_t i;
    json_t *p;
    struct buf s = BUF_INIT;
    json_array_foreach(list, i, p)
    {
        buf_reset(&s);
        cli_safe_text(&s, json_string_value(json_object_get(p, "name")), 80, 0);
        printf("%-6lld %-8lld %s\n", (long long)json_integer_value(json_object_get(p, "id")),
               (long long)json_integer_value(json_object_get(p, "holders")), buf_str(&s));
    }
    buf_release(&s);
    json_decref(list);
    return CLI_EXIT_OK;
}

static int position_rm_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("position", "用法 / usage: atrium position rm NAME");
    int64_t id = 0;
    int code = find_position(d, a->pos[0], &id);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = position_delete(d, id);
    char target[48];
    target_of(target, sizeof target, "position", id);
    rc = cli_change_end(d, &tx, rc, "position.delete", target,
                        json_pack("{s:s}", "name", a->pos[0]));
    if (rc)
        return cli_fail(rc, NULL, "无法删除岗位 / cannot delete the position");
    if (c->json)
        return cli_print_json(json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
    if (!c->quiet)
        printf("已删除岗位 / deleted position %lld\n", (long long)id);
    return CLI_EXIT_OK;
}

static int position_assign_cmd(struct cli *c, struct db_conn *d, struct cli_args *a, int assign)
{
    if (a->npos != 2)
        return cli_usage_error("position", "用法 / usage: atrium position %s USER POSITION",
                               assign ? "assign" : "unassign");
    int64_t uid = 0, pid = 0;
    int code = cli_find_user(d, a->pos[0], &uid);
    if (code)
        return code;
    code = find_position(d, a->pos[1], &pid);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = assign ? position_assign(d, uid, pid, "local") : position_unassign(d, uid, pid);
    char target[48];
    target_of(target, sizeof target, "user", uid);
    rc = cli_change_end(
        d, &tx, rc, assign ? "position.assign" : "position.unassign", target,
        json_pack("{s:I,s:s}", "position_id", (json_int_t)pid, "position", a->pos[1]));
    if (rc == RC_NOT_FOUND && !assign) {
        cli_error("该用户没有此岗位 / the user does not hold this position");
        return rc_exit_code(rc);
    }
    if (rc)
        return cli_fail(rc, NULL, "无法修改岗位 / cannot change the position");
    if (c->json)
        return cli_print_json(json_pack("{s:I,s:I,s:b}", "user_id", (json_int_t)uid, "position_id",
                                        (json_int_t)pid, "assigned", assign));
    if (!c->quiet)
        printf("%s\n",
               assign ? "已分配岗位 / position assigned" : "已取消岗位 / position unassigned");
    return CLI_EXIT_OK;
}

int cli_cmd_position(struct cli *c, int argc, char **argv)
{
    struct cli_args a, rest;
    int code = cli_parse_args(c, argc, argv, NULL, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "position");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("position", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    shift(&a, &rest);
    int which;
    if (strcmp(verb, "add") == 0)
        which = 0;
    else if (strcmp(verb, "list") == 0)
        which = 1;
    else if (strcmp(verb, "rm") == 0)
        which = 2;
    else if (strcmp(verb, "assign") == 0)
        which = 3;
    else if (strcmp(verb, "unassign") == 0)
        which = 4;
    else
        return cli_usage_error("position", "未知子命令 / unknown verb: position %.40s", verb);
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    switch (which) {
    case 0:
        return position_add_cmd(c, d, &rest);
    case 1:
        return position_list_cmd(c, d, &rest);
    case 2:
        return position_rm_cmd(c, d, &rest);
    case 3:
        return position_assign_cmd(c, d, &rest, 1);
    default:
        return position_assign_cmd(c, d, &rest, 0);
    }
}

/* ---- role ---- */

enum { R_PERMS };
static const struct cli_opt role_opts[] = {{"--perms", NULL, 1}, {NULL, NULL, 0}};

/* Parses "users.manage,kb.admin" (spaces around names ignored; "" = none). */
static int parse_perms(const char *s, unsigned *out)
{
    *out = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        char name[64];
        size_t n = (size_t)(t - p);
        unsigned bit = 0;
        if (n < sizeof name) {
            memcpy(name, p, n);
            name[n] = '\0';
            bit = auth_perm_parse(name);
        }
        if (!bit) {
            struct buf valid = BUF_INIT;
            for (unsigned b = 1; b & AUTH_P_ALL; b <<= 1) {
                const char *nm = auth_perm_name(b);
                if (nm)
                    (void)buf_addf(&valid, "%s%s", valid.len ? ", " : "", nm);
            }
            int code = cli_usage_error(NULL, "未知权限 / unknown permission: %.*s (%s)",
                                       (int)(n > 64 ? 64 : n), p, buf_str(&valid));
            buf_release(&valid);
            return code;
        }
        *out |= bit;
        p = e;
    }
    return CLI_EXIT_OK;
}

static int role_list_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("role", "用法 / usage: atrium role list");
    json_t *list = NULL;
    int rc = role_list(d, &list);
    if (rc)
        return cli_fail(rc, NULL, "无法列出角色 / cannot list roles");
    if (c->json)
        return cli_print_json(list);
    printf("%-6s %-8s %-8s %-20s %s\n", "id", "builtin", "holders", "name", "权限 / perms");
    size_t i, k;
    json_t *r, *p;
    struct buf s = BUF_INIT;
    json_array_foreach(list, i, r)
    {
        buf_reset(&s);
        (void)buf_addf(&s, "%-6lld %-8s %-8lld ",
                       (long long)json_integer_value(json_object_get(r, "id")),
                       json_is_true(json_object_get(r, "builtin")) ? "yes" : "no",
                       (long long)json_integer_value(json_object_get(r, "holders")));
        size_t before = s.len;
        cli_safe_text(&s, json_string_value(json_object_get(r, "name")), 64, 0);
        cli_pad(&s, before, 20);
        (void)buf_addc(&s, ' ');
        json_t *perms = json_object_get(r, "perms");
        if (json_array_size(perms) == 0)
            (void)buf_adds(&s, "-");
        json_array_foreach(perms, k, p)
        {
            (void)buf_adds(&s, k ? "," : "");
            (void)buf_adds(&s, json_string_value(p) ? json_string_value(p) : "?");
        }
        puts(buf_str(&s));
    }
    buf_release(&s);
    json_decref(list);
    return CLI_EXIT_OK;
}

static int role_add_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("role", "用法 / usage: atrium role add NAME --perms P1,P2,…");
    unsigned perms = 0;
    int64_t id = 0;
    int code = CLI_EXIT_OK;
    if (a->val[R_PERMS] && (code = parse_perms(a->val[R_PERMS], &perms)))
        return code;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = role_create(d, a->pos[0], perms, &id, &err);
    char target[48];
    target_of(target, sizeof target, "role", id);
    rc = cli_change_end(d, &tx, rc, "role.create", target,
                        json_pack("{s:s,s:o}", "name", a->pos[0], "perms", auth_perms_json(perms)));
    if (rc) {
        code = cli_fail(rc, &err, "无法创建角色 / cannot create the role");
        goto out;
    }
    code = print_done(c, "已创建角色 / created role", a->pos[0], id,
                      json_pack("{s:o}", "perms", auth_perms_json(perms)));
out:
    buf_release(&err);
    return code;
}

static int role_perms_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1 || !a->val[R_PERMS])
        return cli_usage_error("role", "用法 / usage: atrium role perms NAME --perms P1,P2,…");
    unsigned perms = 0;
    int64_t id = 0;
    int code = parse_perms(a->val[R_PERMS], &perms);
    if (code)
        return code;
    code = find_role(d, a->pos[0], &id);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = role_set_perms(d, id, perms);
    char target[48];
    target_of(target, sizeof target, "role", id);
    rc = cli_change_end(d, &tx, rc, "role.update", target,
                        json_pack("{s:s,s:o}", "name", a->pos[0], "perms", auth_perms_json(perms)));
    if (rc == RC_DENIED) {
        cli_error("内置角色不能修改 / built-in roles cannot be changed");
        return rc_exit_code(rc);
    }
    if (rc)
        return cli_fail(rc, NULL, "无法修改角色 / cannot change the role");
    return print_done(c, "已修改角色权限 / role permissions set", a->pos[0], id,
                      json_pack("{s:o}", "perms", auth_perms_json(perms)));
}

static int role_rm_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("role", "用法 / usage: atrium role rm NAME");
    int64_t id = 0;
    int code = find_role(d, a->pos[0], &id);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = role_delete(d, id);
    char target[48];
    target_of(target, sizeof target, "role", id);
    rc = cli_change_end(d, &tx, rc, "role.delete", target, json_pack("{s:s}", "name", a->pos[0]));
    if (rc == RC_DENIED) {
        cli_error("内置角色不能删除 / built-in roles cannot be deleted");
        return rc_exit_code(rc);
    }
    if (rc)
        return cli_fail(rc, NULL, "无法删除角色 / cannot delete the role");
    if (c->json)
        return cli_print_json(json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
    if (!c->quiet)
        printf("已删除角色 / deleted role %lld\n", (long long)id);
    return CLI_EXIT_OK;
}

static int role_grant_cmd(struct cli *c, struct db_conn *d, struct cli_args *a, int grant)
{
    if (a->npos != 2)
        return cli_usage_error("role", "用法 / usage: atrium role %s USER ROLE",
                               grant ? "grant" : "revoke");
    int64_t uid = 0, rid = 0;
    int code = cli_find_user(d, a->pos[0], &uid);
    if (code)
        return code;
    code = find_role(d, a->pos[1], &rid);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = grant ? role_grant(d, uid, rid, "local") : role_revoke(d, uid, rid);
    char target[48];
    target_of(target, sizeof target, "user", uid);
    rc = cli_change_end(d, &tx, rc, grant ? "role.grant" : "role.revoke", target,
                        json_pack("{s:I,s:s}", "role_id", (json_int_t)rid, "role", a->pos[1]));
    if (rc == RC_NOT_FOUND && !grant) {
        cli_error("该用户没有此角色 / the user does not hold this role");
        return rc_exit_code(rc);
    }
    if (rc)
        return cli_fail(rc, NULL, "无法修改角色 / cannot change the role");
    if (c->json)
        return cli_print_json(json_pack("{s:I,s:I,s:b}", "user_id", (json_int_t)uid, "role_id",
                                        (json_int_t)rid, "granted", grant));
    if (!c->quiet)
        printf("%s\n", grant ? "已授予角色 / role granted" : "已收回角色 / role revoked");
    return CLI_EXIT_OK;
}

int cli_cmd_role(struct cli *c, int argc, char **argv)
{
    struct cli_args a, rest;
    int code = cli_parse_args(c, argc, argv, role_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "role");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("role", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    shift(&a, &rest);
    int which;
    unsigned allowed = 0;
    if (strcmp(verb, "list") == 0) {
        which = 0;
    } else if (strcmp(verb, "add") == 0) {
        which = 1;
        allowed = 1u << R_PERMS;
    } else if (strcmp(verb, "perms") == 0) {
        which = 2;
        allowed = 1u << R_PERMS;
    } else if (strcmp(verb, "rm") == 0) {
        which = 3;
    } else if (strcmp(verb, "grant") == 0) {
        which = 4;
    } else if (strcmp(verb, "revoke") == 0) {
        which = 5;
    } else {
        return cli_usage_error("role", "未知子命令 / unknown verb: role %.40s", verb);
    }
    code = cli_only_opts(role_opts, &a, allowed, "role");
    if (code)
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    switch (which) {
    case 0:
        return role_list_cmd(c, d, &rest);
    case 1:
        return role_add_cmd(c, d, &rest);
    case 2:
        return role_perms_cmd(c, d, &rest);
    case 3:
        return role_rm_cmd(c, d, &rest);
    case 4:
        return role_grant_cmd(c, d, &rest, 1);
    default:
        return role_grant_cmd(c, d, &rest, 0);
    }
}
