/* `atrium kb grant|revoke|acl`: who may read, write or administer an
 * enterprise knowledge base (auth/acl.h). cli_cmd_kb (cli_kb.c) hands
 * these verbs over before parsing, because they take options of their own.
 * Grants and revocations are written with their audit entry in one
 * transaction. */
#include "cli/cli.h"

#include <string.h>

#include "auth/acl.h"
#include "common/rc.h"

enum { A_ORG, A_POSITION, A_ROLE, A_USER, A_LEVEL };
static const struct cli_opt acl_opts[] = {{"--org", NULL, 1},   {"--position", NULL, 1},
                                          {"--role", NULL, 1},  {"--user", NULL, 1},
                                          {"--level", NULL, 1}, {NULL, NULL, 0}};

static const char grant_usage[] =
    "用法 / usage: atrium kb grant KB --org PATH | --position NAME | --role NAME | --user NAME "
    "[--level read|write|admin]";

static int is_access_verb(const char *s)
{
    return strcmp(s, "grant") == 0 || strcmp(s, "revoke") == 0 || strcmp(s, "acl") == 0;
}

const char *cli_kb_access_verb(int argc, char **argv)
{
    /* `kb` has no options with values, so the first word that is not an
     * option is the verb. */
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--") == 0)
            return i + 1 < argc && is_access_verb(argv[i + 1]) ? argv[i + 1] : NULL;
        if (s[0] == '-' && s[1] != '\0')
            continue;
        return is_access_verb(s) ? s : NULL;
    }
    return NULL;
}

static int kb_grant_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("kb", "%s", grant_usage);
    static const enum acl_subject types[] = {ACL_SUBJ_ORG, ACL_SUBJ_POSITION, ACL_SUBJ_ROLE,
                                             ACL_SUBJ_USER};
    int which = -1;
    for (int i = A_ORG; i <= A_USER; i++) {
        if (!a->val[i])
            continue;
        if (which >= 0)
            return cli_usage_error("kb", "只能指定一个授权对象 / give exactly one of --org, "
                                         "--position, --role, --user");
        which = i;
    }
    if (which < 0)
        return cli_usage_error("kb", "%s", grant_usage);
    int level = ACL_READ;
    if (a->val[A_LEVEL] && !(level = acl_level_parse(a->val[A_LEVEL])))
        return cli_usage_error(NULL, "未知权限级别 / unknown level: %.20s (read|write|admin)",
                               a->val[A_LEVEL]);
    struct kb_info kb;
    int code = cli_find_kb(c, a->pos[0], &kb);
    if (code)
        return code;
    const char *subject = a->val[which];
    enum acl_subject type = types[which];
    int64_t gid = 0;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = acl_grant(d, kb.id, type, subject, level, &gid, &err);
    char target[48];
    snprintf(target, sizeof target, "kb:%lld", (long long)kb.id);
    rc = cli_change_end(d, &tx, rc, "kb.grant", target,
                        json_pack("{s:I,s:s,s:s,s:s}", "grant_id", (json_int_t)gid, "subject_type",
                                  acl_subject_name(type), "subject", subject, "level",
                                  acl_level_name(level)));
    if (rc == RC_NOT_FOUND && !err.len) {
        code = cli_not_found(rc, "授权对象", "subject", subject);
        goto out;
    }
    if (rc) {
        code = cli_fail(rc, &err, "无法授权 / cannot grant access");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(json_pack("{s:I,s:I,s:s,s:s,s:s}", "id", (json_int_t)gid, "kb_id",
                                        (json_int_t)kb.id, "subject_type", acl_subject_name(type),
                                        "subject", subject, "level", acl_level_name(level)));
    } else if (!c->quiet) {
        struct buf s = BUF_INIT;
        cli_safe_text(&s, subject, 80, 0);
        printf("已授权 / granted %s to %s %s (grant %lld)\n", acl_level_name(level),
               acl_subject_name(type), buf_str(&s), (long long)gid);
        buf_release(&s);
    }
out:
    buf_release(&err);
    kb_info_release(&kb);
    return code;
}

static int kb_revoke_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error("kb", "用法 / usage: atrium kb revoke KB GRANT_ID");
    int64_t gid = 0;
    int code = cli_id_arg("GRANT_ID", a->pos[1], &gid);
    if (code)
        return code;
    struct kb_info kb;
    code = cli_find_kb(c, a->pos[0], &kb);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = acl_revoke(d, kb.id, gid);
    char target[48];
    snprintf(target, sizeof target, "kb:%lld", (long long)kb.id);
    rc = cli_change_end(d, &tx, rc, "kb.revoke", target,
                        json_pack("{s:I}", "grant_id", (json_int_t)gid));
    if (rc) {
        code = rc == RC_NOT_FOUND ? cli_not_found(rc, "授权", "grant", a->pos[1])
                                  : cli_fail(rc, NULL, "无法撤销授权 / cannot revoke the grant");
        goto out;
    }
    if (c->json)
        code = cli_print_json(json_pack("{s:I,s:I,s:b}", "id", (json_int_t)gid, "kb_id",
                                        (json_int_t)kb.id, "revoked", 1));
    else if (!c->quiet)
        printf("已撤销授权 / revoked grant %lld\n", (long long)gid);
out:
    kb_info_release(&kb);
    return code;
}

static int kb_acl_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("kb", "用法 / usage: atrium kb acl KB");
    struct kb_info kb;
    int code = cli_find_kb(c, a->pos[0], &kb);
    if (code)
        return code;
    json_t *list = NULL;
    int rc = acl_list(d, kb.id, &list);
    if (rc) {
        code = cli_fail(rc, NULL, "无法读取授权 / cannot read the grants");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(list);
        goto out;
    }
    printf("%-6s %-10s %-6s %s\n", "id", "type", "level", "对象 / subject");
    size_t i;
    json_t *g;
    struct buf s = BUF_INIT;
    json_array_foreach(list, i, g)
    {
        buf_reset(&s);
        cli_safe_text(&s, json_string_value(json_object_get(g, "subject")), 120, 0);
        const char *type = json_string_value(json_object_get(g, "subject_type"));
        const char *level = json_string_value(json_object_get(g, "level"));
        printf("%-6lld %-10s %-6s %s\n", (long long)json_integer_value(json_object_get(g, "id")),
               type ? type : "?", level ? level : "?", buf_str(&s));
    }
    buf_release(&s);
    json_decref(list);
out:
    kb_info_release(&kb);
    return code;
}

int cli_kb_access(struct cli *c, const char *verb, int argc, char **argv)
{
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, acl_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "kb");
        return CLI_EXIT_OK;
    }
    /* a.pos[0] is the verb (cli_kb_access_verb found it first). */
    struct cli_args rest = a;
    rest.npos = a.npos - 1;
    rest.pos = a.pos + 1;
    int (*fn)(struct cli *, struct db_conn *, struct cli_args *) = NULL;
    unsigned allowed = 0;
    if (strcmp(verb, "grant") == 0) {
        fn = kb_grant_cmd;
        allowed = 1u << A_ORG | 1u << A_POSITION | 1u << A_ROLE | 1u << A_USER | 1u << A_LEVEL;
    } else if (strcmp(verb, "revoke") == 0) {
        fn = kb_revoke_cmd;
    } else if (strcmp(verb, "acl") == 0) {
        fn = kb_acl_cmd;
    } else {
        return cli_usage_error("kb", "未知子命令 / unknown verb: kb %.40s", verb);
    }
    if (a.npos < 1)
        return cli_usage_error("kb", "缺少子命令 / missing verb");
    code = cli_only_opts(acl_opts, &a, allowed, "kb");
    if (code)
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    return fn(c, d, &rest);
}
