/* `atrium agent …`: digital employees (agents/agent.h) from the command
 * line — create, list, show, update, delete, drafts (draft, edit),
 * publish, rollback, retire, and who may use them (grant, revoke, acl).
 * The CLI operator sees every agent. Every change is audited in its own
 * transaction (cli_change_begin / cli_change_end). `eval`, `evalset` and
 * `runs` go to cli_agent_eval (cli_agent_eval.c), `templates` and
 * `install` to cli_agent_tpl (cli_agent_tpl.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "cli/cli.h"
#include "common/rc.h"
#include "common/util.h"

#define SPEC_FILE_MAX (1024 * 1024)

enum {
    O_TITLE,
    O_DOMAIN,
    O_SPEC,
    O_AVATAR,
    O_DESC,
    O_MINUTES,
    O_ALL,
    O_VERSION,
    O_FROM,
    O_NOTE,
    O_ORG,
    O_POSITION,
    O_ROLE,
    O_USER,
    O_GATE_SET,
    O_GATE_MIN,
};

static const struct cli_opt agent_opts[] = {
    {"--title", NULL, 1},
    {"--domain", NULL, 1},
    {"--spec", NULL, 1},
    {"--avatar", NULL, 1},
    {"--description", NULL, 1},
    {"--minutes-saved", NULL, 1},
    {"--all", NULL, 0},
    {"--version", NULL, 1},
    {"--from", NULL, 1},
    {"--note", NULL, 1},
    {"--org", NULL, 1},
    {"--position", NULL, 1},
    {"--role", NULL, 1},
    {"--user", NULL, 1},
    {"--gate-set", NULL, 1},
    {"--gate-min", NULL, 1},
    {NULL, NULL, 0},
};

#define BIT(o) (1u << (o))
#define FIELD_OPTS (BIT(O_TITLE) | BIT(O_DOMAIN) | BIT(O_AVATAR) | BIT(O_DESC) | BIT(O_MINUTES))

/* Reads a spec from FILE, or from stdin for "-". Prints and returns an
 * exit code. */
static int read_spec(const char *path, struct buf *out)
{
    buf_init(out, SPEC_FILE_MAX);
    if (strcmp(path, "-") == 0) {
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            if (buf_add(out, chunk, n)) {
                cli_error("spec 过大 / spec too large (at most %d bytes)", SPEC_FILE_MAX);
                return CLI_EXIT_USAGE;
            }
        if (ferror(stdin)) {
            cli_error("无法读取标准输入 / cannot read stdin");
            return CLI_EXIT_FAIL;
        }
        (void)buf_adds(out, "");
        return CLI_EXIT_OK;
    }
    int rc = read_file(path, SPEC_FILE_MAX, out);
    if (rc) {
        struct buf s = BUF_INIT;
        cli_safe_text(&s, path, 200, 0);
        cli_error("无法读取 spec 文件 / cannot read the spec file %s (%s)", buf_str(&s),
                  rc_code(rc));
        buf_release(&s);
        return rc == RC_NOT_FOUND ? CLI_EXIT_NOT_FOUND : CLI_EXIT_USAGE;
    }
    (void)buf_adds(out, "");
    return CLI_EXIT_OK;
}

static int find_agent(struct db_conn *d, const char *name, struct agent *a)
{
    int rc = agent_get_for(d, NULL, name, a);
    return rc ? cli_not_found(rc, "数字员工", "agent", name) : CLI_EXIT_OK;
}

static int version_arg(const char *s, int *out)
{
    return cli_int_arg("VERSION", s, 1, 1000000, out);
}

static void target_of(char *out, size_t cap, int64_t id)
{
    snprintf(out, cap, "agent:%lld", (long long)id);
}

/* The agent as JSON with its versions and grants (show, and --json after a
 * change). NULL on a store error. */
static json_t *agent_full(struct db_conn *d, int64_t id)
{
    struct agent a;
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    if (agent_get_for(d, NULL, idbuf, &a))
        return NULL;
    json_t *j = agent_json(&a);
    agent_release(&a);
    json_t *versions = NULL, *acl = NULL;
    if (agent_versions_list(d, id, &versions) || agent_acl_list(d, id, &acl)) {
        json_decref(versions);
        json_decref(j);
        return NULL;
    }
    (void)json_object_set_new(j, "versions", versions);
    (void)json_object_set_new(j, "acl", acl);
    return j;
}

/* After a change: the agent as JSON, or one line. */
static int done(struct cli *c, struct db_conn *d, int64_t id, const char *what, const char *name,
                int version)
{
    if (c->json) {
        json_t *j = agent_full(d, id);
        if (!j)
            return cli_fail(RC_DB, NULL, "无法读取数字员工 / cannot read the agent");
        return cli_print_json(j);
    }
    if (!c->quiet) {
        struct buf s = BUF_INIT;
        cli_safe_text(&s, name, 80, 0);
        if (version)
            printf("%s: %s v%d\n", what, buf_str(&s), version);
        else
            printf("%s: %s (id %lld)\n", what, buf_str(&s), (long long)id);
        buf_release(&s);
    }
    return CLI_EXIT_OK;
}

static int parse_minutes(const char *v, double *out)
{
    if (parse_double(v, out) != RC_OK || !(*out >= 0 && *out <= 1440))
        return cli_usage_error("agent", "--minutes-saved 须为 0..1440 / --minutes-saved must be "
                                        "in 0..1440");
    return CLI_EXIT_OK;
}

static int agent_create_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1 || !a->val[O_TITLE])
        return cli_usage_error("agent", "用法 / usage: atrium agent create NAME --title T "
                                        "[--domain D] [--spec FILE|-] [--avatar A] "
                                        "[--description D] [--minutes-saved M]");
    struct agent_new f = {
        a->pos[0], a->val[O_TITLE], a->val[O_AVATAR], a->val[O_DESC], a->val[O_DOMAIN], NULL, -1};
    int code;
    if (a->val[O_MINUTES] && (code = parse_minutes(a->val[O_MINUTES], &f.minutes_saved)))
        return code;
    struct buf spec = BUF_INIT, err = BUF_INIT;
    if (a->val[O_SPEC] && (code = read_spec(a->val[O_SPEC], &spec)))
        goto out;
    int64_t id = 0;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = agent_create(d, &f, a->val[O_SPEC] ? buf_str(&spec) : NULL, 0, &id, &err);
    char target[48];
    target_of(target, sizeof target, id);
    rc = cli_change_end(d, &tx, rc, "agent.create", target,
                        json_pack("{s:s,s:s}", "name", f.name, "title", f.title));
    if (rc) {
        code = cli_fail(rc, &err, "无法创建数字员工 / cannot create the agent");
        goto out;
    }
    code = done(c, d, id, "已创建（版本 1 为草稿）/ created (version 1 is a draft)", f.name, 0);
out:
    buf_release(&spec);
    buf_release(&err);
    return code;
}

static int agent_list_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("agent", "用法 / usage: atrium agent list [--all] [--json]");
    json_t *list = NULL;
    int rc = a->val[O_ALL] ? agent_list_all(d, &list) : agent_list_usable(d, NULL, &list);
    if (rc)
        return cli_fail(rc, NULL, "无法读取数字员工 / cannot read the agents");
    if (c->json)
        return cli_print_json(json_pack("{s:o}", "agents", list));
    if (json_array_size(list) == 0 && !c->quiet)
        printf("%s\n", a->val[O_ALL] ? "没有数字员工 / no agents (atrium agent create ...)"
                                     : "没有已发布的数字员工 / no published agents (--all: "
                                       "every agent)");
    size_t i;
    json_t *g;
    struct buf line = BUF_INIT;
    json_array_foreach(list, i, g)
    {
        buf_reset(&line);
        (void)buf_addf(&line, "%-4lld ", (long long)json_integer_value(json_object_get(g, "id")));
        size_t from = line.len;
        cli_safe_text(&line, json_string_value(json_object_get(g, "name")), 32, 0);
        cli_pad(&line, from, 24);
        (void)buf_addf(&line, " %-9s v%-3lld ", json_string_value(json_object_get(g, "status")),
                       (long long)json_integer_value(json_object_get(g, "published_version")));
        from = line.len;
        cli_safe_text(&line, json_string_value(json_object_get(g, "domain")), 8, 0);
        cli_pad(&line, from, 8);
        (void)buf_adds(&line, " ");
        cli_safe_text(&line, json_string_value(json_object_get(g, "title")), 40, 0);
        printf("%s\n", buf_str(&line));
    }
    buf_release(&line);
    json_decref(list);
    return CLI_EXIT_OK;
}

static int agent_show_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("agent", "用法 / usage: atrium agent show NAME [--version N]");
    int version = 0, code;
    if (a->val[O_VERSION] && (code = version_arg(a->val[O_VERSION], &version)))
        return code;
    struct agent ag;
    if ((code = find_agent(d, a->pos[0], &ag)))
        return code;
    int64_t id = ag.id;
    agent_release(&ag);
    if (version) {
        struct agent_version v;
        struct buf err = BUF_INIT;
        int rc = agent_version_get(d, id, version, &v, &err);
        if (rc == RC_NOT_FOUND)
            code = cli_not_found(rc, "版本", "version", a->val[O_VERSION]);
        else if (rc)
            code = cli_fail(rc, &err, "无法读取版本 / cannot read the version");
        else if (c->json)
            code = cli_print_json(agent_version_json(&v));
        else {
            printf("v%d %s", v.version, v.status);
            if (v.note && *v.note) {
                struct buf s = BUF_INIT;
                cli_safe_text(&s, v.note, 200, 0);
                printf("  %s", buf_str(&s));
                buf_release(&s);
            }
            printf("\n");
            json_t *sj = spec_to_json(&v.spec);
            char *txt = json_dumps(sj, JSON_INDENT(2));
            struct buf s = BUF_INIT;
            cli_safe_text(&s, txt ? txt : "", 0, 1);
            printf("%s\n", buf_str(&s));
            buf_release(&s);
            free(txt);
            json_decref(sj);
        }
        agent_version_release(&v);
        buf_release(&err);
        return code;
    }
    json_t *j = agent_full(d, id);
    if (!j)
        return cli_fail(RC_DB, NULL, "无法读取数字员工 / cannot read the agent");
    if (c->json)
        return cli_print_json(j);
    struct buf s = BUF_INIT;
    cli_safe_text(&s, json_string_value(json_object_get(j, "name")), 64, 0);
    (void)buf_adds(&s, "  ");
    cli_safe_text(&s, json_string_value(json_object_get(j, "title")), 80, 0);
    printf("%s\n", buf_str(&s));
    buf_reset(&s);
    cli_safe_text(&s, json_string_value(json_object_get(j, "domain")), 40, 0);
    printf("状态 / status: %s, 发布版本 / published: v%lld, 领域 / domain: %s\n",
           json_string_value(json_object_get(j, "status")),
           (long long)json_integer_value(json_object_get(j, "published_version")), buf_str(&s));
    json_t *gate = json_object_get(j, "gate");
    if (json_number_value(json_object_get(gate, "min_score")) > 0)
        printf("质量门槛 / quality gate: set %lld, min %.2f\n",
               (long long)json_integer_value(json_object_get(gate, "set_id")),
               json_number_value(json_object_get(gate, "min_score")));
    printf("版本 / versions:\n");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "versions"), i, v)
    {
        buf_reset(&s);
        cli_time(&s, json_integer_value(json_object_get(v, "created_at")));
        (void)buf_adds(&s, "  ");
        cli_safe_text(&s, json_string_value(json_object_get(v, "note")), 60, 0);
        printf("  v%-4lld %-9s %s\n", (long long)json_integer_value(json_object_get(v, "version")),
               json_string_value(json_object_get(v, "status")), buf_str(&s));
    }
    printf("可用范围 / who may use it:%s\n",
           json_array_size(json_object_get(j, "acl")) ? "" : " 无 / nobody (atrium agent grant)");
    json_array_foreach(json_object_get(j, "acl"), i, v)
    {
        buf_reset(&s);
        json_t *sub = json_object_get(v, "subject");
        cli_safe_text(&s, json_is_string(sub) ? json_string_value(sub) : "?", 120, 0);
        printf("  #%-5lld %-9s %s\n", (long long)json_integer_value(json_object_get(v, "id")),
               json_string_value(json_object_get(v, "subject_type")), buf_str(&s));
    }
    buf_release(&s);
    json_decref(j);
    return CLI_EXIT_OK;
}

static int agent_update_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("agent", "用法 / usage: atrium agent update NAME [--title T] "
                                        "[--domain D] [--avatar A] [--description D] "
                                        "[--minutes-saved M] [--gate-set ID --gate-min S]");
    struct agent_patch p;
    memset(&p, 0, sizeof p);
    p.title = a->val[O_TITLE];
    p.avatar = a->val[O_AVATAR];
    p.description = a->val[O_DESC];
    p.domain = a->val[O_DOMAIN];
    int code;
    if (a->val[O_MINUTES]) {
        if ((code = parse_minutes(a->val[O_MINUTES], &p.minutes_saved)))
            return code;
        p.set_minutes = 1;
    }
    if (a->val[O_GATE_SET] || a->val[O_GATE_MIN]) {
        int64_t set = 0;
        p.set_gate = 1;
        if (a->val[O_GATE_SET] && parse_i64(a->val[O_GATE_SET], 0, INT64_MAX, &set) != RC_OK)
            return cli_usage_error("agent", "--gate-set 须为评测集 id（0 取消）/ --gate-set must "
                                            "be an eval set id (0: none)");
        p.gate_set_id = set;
        if (a->val[O_GATE_MIN] && (parse_double(a->val[O_GATE_MIN], &p.gate_min_score) != RC_OK ||
                                   !(p.gate_min_score >= 0 && p.gate_min_score <= 1)))
            return cli_usage_error("agent", "--gate-min 须为 0..1 / --gate-min must be in 0..1");
    }
    if (!p.title && !p.avatar && !p.description && !p.domain && !p.set_minutes && !p.set_gate)
        return cli_usage_error("agent", "没有要修改的内容 / nothing to change");
    struct agent ag;
    if ((code = find_agent(d, a->pos[0], &ag)))
        return code;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = agent_update(d, ag.id, &p, &err);
    char target[48];
    target_of(target, sizeof target, ag.id);
    json_t *detail = json_object();
    if (p.title)
        (void)json_object_set_new(detail, "title", json_string(p.title));
    if (p.domain)
        (void)json_object_set_new(detail, "domain", json_string(p.domain));
    if (p.set_minutes)
        (void)json_object_set_new(detail, "minutes_saved", json_real(p.minutes_saved));
    if (p.set_gate)
        (void)json_object_set_new(detail, "gate",
                                  json_pack("{s:I,s:f}", "set_id", (json_int_t)p.gate_set_id,
                                            "min_score", p.gate_min_score));
    rc = cli_change_end(d, &tx, rc, "agent.update", target, detail);
    code = rc ? cli_fail(rc, &err, "无法修改数字员工 / cannot change the agent")
              : done(c, d, ag.id, "已修改 / changed", ag.name, 0);
    buf_release(&err);
    agent_release(&ag);
    return code;
}

static int agent_delete_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("agent", "用法 / usage: atrium agent delete NAME");
    struct agent ag;
    int code = find_agent(d, a->pos[0], &ag);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = agent_delete(d, ag.id);
    char target[48];
    target_of(target, sizeof target, ag.id);
    rc = cli_change_end(d, &tx, rc, "agent.delete", target, json_pack("{s:s}", "name", ag.name));
    if (rc)
        code = cli_fail(rc, NULL, "无法删除数字员工 / cannot delete the agent");
    else if (c->json)
        code = cli_print_json(
            json_pack("{s:I,s:s,s:b}", "id", (json_int_t)ag.id, "name", ag.name, "deleted", 1));
    else if (!c->quiet)
        printf("已删除 / deleted: %s\n", a->pos[0]);
    agent_release(&ag);
    return code;
}

/* draft NAME [--from N] [--spec FILE|-] [--note T]; edit NAME VERSION
 * [--spec FILE|-] [--note T] */
static int agent_draft_cmd(struct cli *c, struct db_conn *d, struct cli_args *a, int edit)
{
    if (a->npos != (edit ? 2 : 1) || (edit && !a->val[O_SPEC] && !a->val[O_NOTE]))
        return cli_usage_error("agent", edit ? "用法 / usage: atrium agent edit NAME VERSION "
                                               "--spec FILE|- [--note T]"
                                             : "用法 / usage: atrium agent draft NAME [--from N | "
                                               "--spec FILE|-] [--note T]");
    int version = 0, from = 0, code;
    if (edit && (code = version_arg(a->pos[1], &version)))
        return code;
    if (a->val[O_FROM] && (code = cli_int_arg("--from", a->val[O_FROM], 1, 1000000, &from)))
        return code;
    if (a->val[O_FROM] && a->val[O_SPEC])
        return cli_usage_error("agent", "--from 与 --spec 只能选一个 / use either --from or "
                                        "--spec");
    struct agent ag;
    if ((code = find_agent(d, a->pos[0], &ag)))
        return code;
    struct buf spec = BUF_INIT, err = BUF_INIT;
    if (a->val[O_SPEC] && (code = read_spec(a->val[O_SPEC], &spec)))
        goto out;
    const char *sp = a->val[O_SPEC] ? buf_str(&spec) : NULL;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = edit ? agent_version_update(d, ag.id, version, sp, a->val[O_NOTE], &err)
                  : agent_version_new(d, ag.id, from, sp, a->val[O_NOTE], 0, &version, &err);
    char target[48];
    target_of(target, sizeof target, ag.id);
    rc = cli_change_end(d, &tx, rc, edit ? "agent.version_update" : "agent.version_new", target,
                        edit ? json_pack("{s:i,s:b,s:b}", "version", version, "spec", sp != NULL,
                                         "note", a->val[O_NOTE] != NULL)
                             : json_pack("{s:i,s:i}", "version", version, "from", from));
    if (rc) {
        code = rc == RC_NOT_FOUND && !err.len
                   ? cli_not_found(rc, "版本", "version", edit ? a->pos[1] : a->val[O_FROM])
                   : cli_fail(rc, &err,
                              edit ? "无法修改草稿 / cannot change the draft"
                                   : "无法新建草稿 / cannot create the draft");
        goto out;
    }
    code = done(c, d, ag.id, edit ? "已修改草稿 / draft changed" : "已新建草稿 / new draft",
                ag.name, version);
out:
    buf_release(&spec);
    buf_release(&err);
    agent_release(&ag);
    return code;
}

/* publish NAME VERSION | rollback NAME VERSION | retire NAME */
static int agent_state_cmd(struct cli *c, struct db_conn *d, struct cli_args *a, const char *verb)
{
    int retire = strcmp(verb, "retire") == 0;
    int publish = strcmp(verb, "publish") == 0;
    if (a->npos != (retire ? 1 : 2))
        return cli_usage_error("agent", "用法 / usage: atrium agent %s NAME%s", verb,
                               retire ? "" : " VERSION");
    int version = 0, code;
    if (!retire && (code = version_arg(a->pos[1], &version)))
        return code;
    struct agent ag;
    if ((code = find_agent(d, a->pos[0], &ag)))
        return code;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = retire    ? agent_retire(d, ag.id, &err)
             : publish ? agent_publish(d, ag.id, version, &err)
                       : agent_rollback(d, ag.id, version, &err);
    char target[48], action[32];
    target_of(target, sizeof target, ag.id);
    snprintf(action, sizeof action, "agent.%s", verb);
    rc = cli_change_end(
        d, &tx, rc, action, target,
        retire    ? json_pack("{s:i}", "version", ag.published_version)
        : publish ? json_pack("{s:i}", "version", version)
                  : json_pack("{s:i,s:i}", "version", version, "from", ag.published_version));
    if (rc)
        code = cli_fail(rc, &err,
                        retire    ? "无法停用 / cannot retire the agent"
                        : publish ? "无法发布 / cannot publish"
                                  : "无法回滚 / cannot roll back");
    else
        code = done(c, d, ag.id,
                    retire    ? "已停用 / retired"
                    : publish ? "已发布 / published"
                              : "已回滚 / rolled back to",
                    ag.name, version);
    buf_release(&err);
    agent_release(&ag);
    return code;
}

static int agent_grant_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    static const char usage[] = "用法 / usage: atrium agent grant NAME --all | --org PATH | "
                                "--position NAME | --role NAME | --user NAME";
    if (a->npos != 1)
        return cli_usage_error("agent", "%s", usage);
    static const int opts[] = {O_ALL, O_ORG, O_POSITION, O_ROLE, O_USER};
    static const char *const types[] = {"all", "org", "position", "role", "user"};
    int which = -1;
    for (int i = 0; i < 5; i++) {
        if (!a->val[opts[i]])
            continue;
        if (which >= 0)
            return cli_usage_error("agent", "只能指定一个授权对象 / give exactly one of --all, "
                                            "--org, --position, --role, --user");
        which = i;
    }
    if (which < 0)
        return cli_usage_error("agent", "%s", usage);
    struct agent ag;
    int code = find_agent(d, a->pos[0], &ag);
    if (code)
        return code;
    const char *subject = which ? a->val[opts[which]] : NULL;
    int64_t gid = 0;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = agent_acl_add(d, ag.id, types[which], subject, &gid, &err);
    char target[48];
    target_of(target, sizeof target, ag.id);
    rc = cli_change_end(d, &tx, rc, "agent.grant", target,
                        json_pack("{s:I,s:s,s:s?}", "grant", (json_int_t)gid, "subject_type",
                                  types[which], "subject", subject));
    if (rc) {
        code = cli_fail(rc, &err, "无法授权 / cannot grant");
    } else if (c->json) {
        code = cli_print_json(json_pack("{s:I,s:I,s:s,s:s?}", "id", (json_int_t)gid, "agent_id",
                                        (json_int_t)ag.id, "subject_type", types[which], "subject",
                                        subject));
    } else if (!c->quiet) {
        struct buf s = BUF_INIT;
        cli_safe_text(&s, subject ? subject : "所有人 / everyone", 80, 0);
        printf("已授权 / granted %s %s (grant %lld)\n", types[which], buf_str(&s), (long long)gid);
        buf_release(&s);
    }
    buf_release(&err);
    agent_release(&ag);
    return code;
}

static int agent_revoke_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error("agent", "用法 / usage: atrium agent revoke NAME GRANT_ID");
    int64_t gid = 0;
    int code = cli_id_arg("GRANT_ID", a->pos[1], &gid);
    if (code)
        return code;
    struct agent ag;
    if ((code = find_agent(d, a->pos[0], &ag)))
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK)
        rc = agent_acl_remove(d, ag.id, gid);
    char target[48];
    target_of(target, sizeof target, ag.id);
    rc = cli_change_end(d, &tx, rc, "agent.revoke", target,
                        json_pack("{s:I}", "grant", (json_int_t)gid));
    if (rc)
        code = rc == RC_NOT_FOUND ? cli_not_found(rc, "授权", "grant", a->pos[1])
                                  : cli_fail(rc, NULL, "无法撤销授权 / cannot revoke the grant");
    else if (c->json)
        code = cli_print_json(json_pack("{s:I,s:I,s:b}", "id", (json_int_t)gid, "agent_id",
                                        (json_int_t)ag.id, "revoked", 1));
    else if (!c->quiet)
        printf("已撤销授权 / revoked grant %lld\n", (long long)gid);
    agent_release(&ag);
    return code;
}

static int agent_acl_cmd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("agent", "用法 / usage: atrium agent acl NAME");
    struct agent ag;
    int code = find_agent(d, a->pos[0], &ag);
    if (code)
        return code;
    json_t *list = NULL;
    int rc = agent_acl_list(d, ag.id, &list);
    agent_release(&ag);
    if (rc)
        return cli_fail(rc, NULL, "无法读取授权 / cannot read the grants");
    if (c->json)
        return cli_print_json(json_pack("{s:o}", "grants", list));
    printf("%-6s %-9s %s\n", "id", "type", "对象 / subject");
    size_t i;
    json_t *g;
    struct buf s = BUF_INIT;
    json_array_foreach(list, i, g)
    {
        buf_reset(&s);
        json_t *sub = json_object_get(g, "subject");
        cli_safe_text(&s, json_is_string(sub) ? json_string_value(sub) : "?", 120, 0);
        printf("%-6lld %-9s %s\n", (long long)json_integer_value(json_object_get(g, "id")),
               json_string_value(json_object_get(g, "subject_type")), buf_str(&s));
    }
    buf_release(&s);
    json_decref(list);
    return CLI_EXIT_OK;
}

/* The verb: the first word that is not an option (the nouns before it take
 * no option values), or NULL. *at is its index. */
static const char *find_verb(int argc, char **argv, int *at)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            *at = i + 1;
            return i + 1 < argc ? argv[i + 1] : NULL;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            continue;
        *at = i;
        return argv[i];
    }
    return NULL;
}

int cli_cmd_agent(struct cli *c, int argc, char **argv)
{
    int at = -1;
    const char *v0 = find_verb(argc, argv, &at);
    if (v0 && (strcmp(v0, "eval") == 0 || strcmp(v0, "evalset") == 0 || strcmp(v0, "runs") == 0 ||
               strcmp(v0, "templates") == 0 || strcmp(v0, "install") == 0)) {
        /* Handed over before parsing (they take options of their own), with
         * the verb taken out of argv. */
        char **rest = calloc((size_t)argc + 1, sizeof *rest);
        if (!rest)
            return CLI_EXIT_FAIL;
        int n = 0;
        for (int i = 0; i < argc; i++)
            if (i != at)
                rest[n++] = argv[i];
        int code = (strcmp(v0, "templates") == 0 || strcmp(v0, "install") == 0)
                       ? cli_agent_tpl(c, v0, n, rest)
                       : cli_agent_eval(c, v0, n, rest);
        free(rest);
        return code;
    }
    struct cli_args a, rest;
    int code = cli_parse_args(c, argc, argv, agent_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "agent");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("agent", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    rest = a;
    rest.npos = a.npos - 1;
    rest.pos = a.pos + 1;
    static const struct {
        const char *verb;
        unsigned allowed;
    } verbs[] = {
        {"create", FIELD_OPTS | BIT(O_SPEC)},
        {"list", BIT(O_ALL)},
        {"show", BIT(O_VERSION)},
        {"update", FIELD_OPTS | BIT(O_GATE_SET) | BIT(O_GATE_MIN)},
        {"delete", 0},
        {"draft", BIT(O_FROM) | BIT(O_SPEC) | BIT(O_NOTE)},
        {"edit", BIT(O_SPEC) | BIT(O_NOTE)},
        {"publish", 0},
        {"rollback", 0},
        {"retire", 0},
        {"grant", BIT(O_ALL) | BIT(O_ORG) | BIT(O_POSITION) | BIT(O_ROLE) | BIT(O_USER)},
        {"revoke", 0},
        {"acl", 0},
    };
    size_t k, nverbs = sizeof verbs / sizeof verbs[0];
    for (k = 0; k < nverbs && strcmp(verb, verbs[k].verb) != 0; k++)
        ;
    if (k == nverbs)
        return cli_usage_error("agent", "未知子命令 / unknown verb: agent %.40s", verb);
    if ((code = cli_only_opts(agent_opts, &a, verbs[k].allowed, "agent")))
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    switch (k) {
    case 0:
        return agent_create_cmd(c, d, &rest);
    case 1:
        return agent_list_cmd(c, d, &rest);
    case 2:
        return agent_show_cmd(c, d, &rest);
    case 3:
        return agent_update_cmd(c, d, &rest);
    case 4:
        return agent_delete_cmd(c, d, &rest);
    case 5:
        return agent_draft_cmd(c, d, &rest, 0);
    case 6:
        return agent_draft_cmd(c, d, &rest, 1);
    case 7:
    case 8:
    case 9:
        return agent_state_cmd(c, d, &rest, verb);
    case 10:
        return agent_grant_cmd(c, d, &rest);
    case 11:
        return agent_revoke_cmd(c, d, &rest);
    default:
        return agent_acl_cmd(c, d, &rest);
    }
}
