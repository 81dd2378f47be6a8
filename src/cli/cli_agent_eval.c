/* `atrium agent eval|evalset|runs`: evaluating digital employees from the
 * command line (agents/eval.h). `eval` runs a set in the foreground (a
 * progress bar on a TTY) as the CLI operator and exits 1 when the run is
 * below the agent's quality gate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "agents/eval.h"
#include "agents/runtime.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"
#include "llm/gateway.h"

#define CASES_FILE_MAX (8u << 20) /* bytes of an eval set file */

static int find_agent(struct cli *c, const char *name, struct agent *a, struct db_conn **d)
{
    int code = 0;
    *d = cli_store(c, &code);
    if (!*d)
        return code;
    struct auth_principal who;
    auth_principal_cli(&who);
    memset(a, 0, sizeof *a);
    int rc = agent_get_for(*d, &who, name, a);
    if (rc != RC_OK)
        return cli_not_found(rc, "数字员工", "agent", name);
    return 0;
}

static int find_set(struct db_conn *d, const struct agent *a, const char *name, int64_t *id)
{
    int rc = eval_set_find(d, a->id, name, id);
    if (rc != RC_OK)
        return cli_not_found(rc, "评测集", "eval set", name);
    return 0;
}

static void on_progress(void *ctx, int done, int total)
{
    cli_progress(ctx, (size_t)done, (size_t)total, "");
}

static void print_share(const char *label, json_t *v)
{
    if (json_is_number(v))
        printf("  %8.3f  %s\n", json_number_value(v), label);
    else
        printf("  %8s  %s\n", "-", label);
}

static void print_scores(json_t *s)
{
    printf("  %3lld/%-4lld  通过 / passed\n",
           (long long)json_integer_value(json_object_get(s, "passed")),
           (long long)json_integer_value(json_object_get(s, "cases")));
    print_share("得分 / score", json_object_get(s, "score"));
    print_share("通过率 / pass rate", json_object_get(s, "pass_rate"));
    print_share("关键词 / keyword accuracy", json_object_get(s, "keyword_accuracy"));
    print_share("引用 / citation accuracy", json_object_get(s, "citation_accuracy"));
    print_share("拒答 / refusal accuracy", json_object_get(s, "refusal_accuracy"));
    printf("  %8.0f  延迟 p50 / latency p50 (ms)\n",
           json_number_value(json_object_get(s, "latency_ms_p50")));
    printf("  %8.0f  延迟 p95 / latency p95 (ms)\n",
           json_number_value(json_object_get(s, "latency_ms_p95")));
    json_int_t failed = json_integer_value(json_object_get(s, "failed"));
    if (failed)
        printf("  %8lld  运行失败 / failed cases\n", (long long)failed);
}

/* Prints the failed cases of a run (question and answer, cut). */
static void print_misses(json_t *run)
{
    json_t *res = json_object_get(run, "results");
    size_t i;
    json_t *r;
    struct buf q = BUF_INIT, ans = BUF_INIT;
    int header = 0;
    json_array_foreach(res, i, r)
    {
        if (json_is_true(json_object_get(r, "passed")))
            continue;
        if (!header) {
            printf("\n未通过的用例 / cases not passed:\n");
            header = 1;
        }
        buf_reset(&q);
        buf_reset(&ans);
        cli_safe_text(&q, json_string_value(json_object_get(r, "question")), 40, 0);
        cli_safe_text(&ans, json_string_value(json_object_get(r, "answer")), 60, 0);
        printf("  #%lld %.2f  %s\n      → %s\n",
               (long long)json_integer_value(json_object_get(r, "seq")),
               json_number_value(json_object_get(r, "score")), buf_str(&q), buf_str(&ans));
    }
    buf_release(&q);
    buf_release(&ans);
}

static int cmd_eval(struct cli *c, int argc, char **argv)
{
    enum { O_VERSION, O_NO_MODEL };
    static const struct cli_opt opts[] = {
        {"--version", "-V", 1}, {"--no-model", NULL, 0}, {NULL, NULL, 0}};
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, opts, &a);
    struct agent ag;
    struct db_conn *d = NULL;
    struct gw *gw = NULL;
    struct agent_runtime *rt = NULL;
    struct buf err = BUF_INIT;
    json_t *scores = NULL, *run = NULL;
    int have_agent = 0, version = 0;
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "agent");
        return 0;
    }
    if (a.npos != 2)
        return cli_usage_error("agent", "用法 / usage: atrium agent eval NAME SET [--version V] "
                                        "[--no-model] [--json]");
    if (a.val[O_VERSION] &&
        (code = cli_int_arg("--version", a.val[O_VERSION], 1, 1000000, &version)))
        return code;
    if ((code = find_agent(c, a.pos[0], &ag, &d)))
        goto out;
    have_agent = 1;
    int64_t set_id = 0;
    if ((code = find_set(d, &ag, a.pos[1], &set_id)))
        goto out;
    int no_model = a.val[O_NO_MODEL] != NULL;
    int rc = RC_OK;
    if (!no_model)
        rc = gw_new(&c->cfg, kb_engine_db_path(c->eng), &gw, &err);
    if (rc == RC_OK)
        rc = agent_runtime_new(&c->cfg, gw, NULL, NULL, &rt, &err);
    if (rc != RC_OK) {
        code = cli_fail(rc, &err, "无法启动运行时 / cannot start the runtime");
        goto out;
    }
    struct auth_principal who;
    auth_principal_cli(&who);
    int64_t run_id = 0;
    rc = eval_run_sync(rt, c->conn, &who, &ag, version, set_id, no_model,
                       c->quiet || c->json ? NULL : on_progress, c, &run_id, &scores, &err);
    cli_progress_end(c);
    if (rc != RC_OK) {
        code = cli_fail(rc, &err, "评测失败 / the evaluation failed");
        goto out;
    }
    if ((rc = eval_run_json(d, ag.id, run_id, 1, &run)) != RC_OK) {
        code = cli_fail(rc, NULL, "无法读取评测结果 / cannot read the run");
        goto out;
    }
    /* The gate applies to runs over the gate set. */
    int below = 0;
    struct buf gate = BUF_INIT;
    if (set_id == ag.gate_set_id && ag.gate_min_score > 0) {
        int v = (int)json_integer_value(json_object_get(run, "version"));
        below = eval_gate_check(d, &ag, v, &gate) == RC_DENIED;
    }
    if (c->json) {
        json_object_set_new(
            run, "gate",
            ag.gate_set_id == set_id && ag.gate_min_score > 0
                ? json_pack("{sf sb}", "min_score", ag.gate_min_score, "passed", !below)
                : json_null());
        code = cli_print_json(json_incref(run));
    } else if (!c->quiet) {
        const char *status = json_string_value(json_object_get(run, "status"));
        printf("运行 / run %lld: %s, 版本 / version %lld\n", (long long)run_id,
               status ? status : "?",
               (long long)json_integer_value(json_object_get(run, "version")));
        if (scores)
            print_scores(scores);
        print_misses(run);
        if (gate.len) {
            struct buf safe = BUF_INIT;
            cli_safe_text(&safe, buf_str(&gate), 400, 0);
            printf("\n%s\n", buf_str(&safe));
            buf_release(&safe);
        } else if (set_id == ag.gate_set_id && ag.gate_min_score > 0) {
            printf("\n质量门禁通过 / quality gate passed (>= %.2f)\n", ag.gate_min_score);
        }
    }
    buf_release(&gate);
    if (!code && below)
        code = CLI_EXIT_FAIL;
out:
    json_decref(scores);
    json_decref(run);
    if (rt)
        agent_runtime_free(rt);
    gw_free(gw);
    if (have_agent)
        agent_release(&ag);
    buf_release(&err);
    return code;
}

/* Reads an eval set file: a JSON array of cases, an object {"cases":[…],
 * "description"?}, or JSON lines (one case per line). New reference in
 * *cases, *desc (may be NULL) strdup'd. */
static int read_cases(const char *path, json_t **cases, char **desc)
{
    struct buf f = BUF_INIT;
    json_t *j = NULL;
    int code = 0;
    *cases = NULL;
    *desc = NULL;
    if (read_file(path, CASES_FILE_MAX, &f) != RC_OK) {
        cli_error("无法读取文件 / cannot read %s", path);
        code = CLI_EXIT_USAGE;
        goto out;
    }
    j = json_loadb(f.p ? f.p : "", f.len, 0, NULL);
    if (json_is_array(j)) {
        *cases = json_incref(j);
    } else if (json_is_object(j) && json_is_array(json_object_get(j, "cases"))) {
        *cases = json_incref(json_object_get(j, "cases"));
        const char *d = json_string_value(json_object_get(j, "description"));
        if (d)
            *desc = xstrdup(d);
    } else {
        /* JSON lines */
        json_t *arr = json_array();
        const char *p = f.p ? f.p : "", *end = p + f.len;
        int line = 0;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            line++;
            size_t k = 0;
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
                k++;
            if (k < n) {
                json_error_t je;
                json_t *one = json_loadb(p, n, 0, &je);
                if (!json_is_object(one)) {
                    json_decref(one);
                    json_decref(arr);
                    cli_error("第 %d 行不是 JSON 对象 / line %d is not a JSON object", line, line);
                    code = CLI_EXIT_USAGE;
                    goto out;
                }
                json_array_append_new(arr, one);
            }
            p += n + (nl ? 1 : 0);
        }
        *cases = arr;
    }
out:
    json_decref(j);
    buf_release(&f);
    return code;
}

static int cmd_evalset(struct cli *c, int argc, char **argv)
{
    enum { O_DESC };
    static const struct cli_opt opts[] = {{"--description", NULL, 1}, {NULL, NULL, 0}};
    struct cli_args a;
    struct agent ag;
    struct db_conn *d = NULL;
    struct buf err = BUF_INIT;
    json_t *cases = NULL, *out = NULL;
    char *desc = NULL;
    int have_agent = 0, rc;
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "agent");
        return 0;
    }
    const char *sub = a.npos > 0 ? a.pos[0] : "";
    int want = strcmp(sub, "add") == 0                              ? 4
               : strcmp(sub, "list") == 0                           ? 2
               : strcmp(sub, "show") == 0 || strcmp(sub, "rm") == 0 ? 3
                                                                    : -1;
    if (want < 0 || a.npos != want)
        return cli_usage_error("agent",
                               "用法 / usage: atrium agent evalset add NAME SET FILE "
                               "[--description D] | list NAME | show NAME SET | rm NAME SET");
    if ((code = find_agent(c, a.pos[1], &ag, &d)))
        goto out;
    have_agent = 1;
    char target[96];
    snprintf(target, sizeof target, "agent:%s", ag.name);
    if (strcmp(sub, "list") == 0) {
        if ((rc = eval_set_list(d, ag.id, &out)) != RC_OK) {
            code = cli_fail(rc, NULL, "无法列出评测集 / cannot list the eval sets");
            goto out;
        }
        if (c->json) {
            code = cli_print_json(json_incref(out));
            goto out;
        }
        size_t i;
        json_t *s;
        struct buf name = BUF_INIT;
        json_array_foreach(out, i, s)
        {
            buf_reset(&name);
            cli_safe_text(&name, json_string_value(json_object_get(s, "name")), 40, 0);
            printf("%-6lld %-30s %5lld 用例 / cases%s\n",
                   (long long)json_integer_value(json_object_get(s, "id")), buf_str(&name),
                   (long long)json_integer_value(json_object_get(s, "cases")),
                   json_is_true(json_object_get(s, "gate")) ? "  [门禁 / gate]" : "");
        }
        buf_release(&name);
        goto out;
    }
    if (strcmp(sub, "add") == 0) {
        if ((code = read_cases(a.pos[3], &cases, &desc)))
            goto out;
        struct db_tx tx;
        if (cli_change_begin(d, &tx) != RC_OK) {
            code = cli_fail(RC_DB, NULL, "数据库错误 / store error");
            goto out;
        }
        int64_t id = 0;
        rc = eval_set_create(d, ag.id, a.pos[2], a.val[O_DESC] ? a.val[O_DESC] : desc, cases, &id,
                             &err);
        rc = cli_change_end(d, &tx, rc, "agent.evalset.add", target,
                            json_pack("{sI ss sI}", "set_id", (json_int_t)id, "name", a.pos[2],
                                      "cases", (json_int_t)json_array_size(cases)));
        if (rc != RC_OK) {
            code = cli_fail(rc, &err, "无法新建评测集 / cannot add the eval set");
            goto out;
        }
        if (c->json)
            code = cli_print_json(json_pack("{sI sI}", "id", (json_int_t)id, "cases",
                                            (json_int_t)json_array_size(cases)));
        else if (!c->quiet)
            printf("评测集 / eval set %lld: %zu 用例 / cases\n", (long long)id,
                   json_array_size(cases));
        goto out;
    }
    int64_t set_id = 0;
    if ((code = find_set(d, &ag, a.pos[2], &set_id)))
        goto out;
    if (strcmp(sub, "show") == 0) {
        if ((rc = eval_set_json(d, ag.id, set_id, &out)) != RC_OK) {
            code = cli_fail(rc, NULL, "无法读取评测集 / cannot read the eval set");
            goto out;
        }
        if (c->json) {
            code = cli_print_json(json_incref(out));
            goto out;
        }
        size_t i;
        json_t *k;
        struct buf q = BUF_INIT;
        json_array_foreach(json_object_get(out, "cases"), i, k)
        {
            buf_reset(&q);
            cli_safe_text(&q, json_string_value(json_object_get(k, "question")), 60, 0);
            char *ex = json_dumps(json_object_get(k, "expect"), JSON_COMPACT);
            struct buf exs = BUF_INIT;
            cli_safe_text(&exs, ex ? ex : "", 200, 0);
            printf("%4lld  %s\n      %s\n",
                   (long long)json_integer_value(json_object_get(k, "seq")), buf_str(&q),
                   buf_str(&exs));
            buf_release(&exs);
            free(ex);
        }
        buf_release(&q);
        goto out;
    }
    /* rm */
    struct db_tx tx;
    if (cli_change_begin(d, &tx) != RC_OK) {
        code = cli_fail(RC_DB, NULL, "数据库错误 / store error");
        goto out;
    }
    rc = eval_set_delete(d, ag.id, set_id);
    rc = cli_change_end(d, &tx, rc, "agent.evalset.delete", target,
                        json_pack("{sI}", "set_id", (json_int_t)set_id));
    if (rc != RC_OK)
        code = cli_fail(rc, NULL, "无法删除评测集 / cannot remove the eval set");
out:
    json_decref(cases);
    json_decref(out);
    free(desc);
    if (have_agent)
        agent_release(&ag);
    buf_release(&err);
    return code;
}

static int cmd_runs(struct cli *c, int argc, char **argv)
{
    enum { O_LIMIT };
    static const struct cli_opt opts[] = {{"--limit", "-n", 1}, {NULL, NULL, 0}};
    struct cli_args a;
    struct agent ag;
    struct db_conn *d = NULL;
    json_t *out = NULL;
    int limit = 20, have_agent = 0, rc;
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "agent");
        return 0;
    }
    if (a.npos < 1 || a.npos > 2)
        return cli_usage_error("agent", "用法 / usage: atrium agent runs NAME [RUN] [--limit N]");
    if (a.val[O_LIMIT] && (code = cli_int_arg("--limit", a.val[O_LIMIT], 1, 1000, &limit)))
        return code;
    if ((code = find_agent(c, a.pos[0], &ag, &d)))
        goto out;
    have_agent = 1;
    if (a.npos == 2) {
        int64_t run_id = 0;
        if ((code = cli_id_arg("RUN", a.pos[1], &run_id)))
            goto out;
        if ((rc = eval_run_json(d, ag.id, run_id, 1, &out)) != RC_OK) {
            code = cli_not_found(rc, "评测运行", "eval run", a.pos[1]);
            goto out;
        }
        if (c->json) {
            code = cli_print_json(json_incref(out));
        } else {
            printf("运行 / run %lld: %s, 版本 / version %lld, %lld/%lld\n", (long long)run_id,
                   json_string_value(json_object_get(out, "status")),
                   (long long)json_integer_value(json_object_get(out, "version")),
                   (long long)json_integer_value(json_object_get(out, "done")),
                   (long long)json_integer_value(json_object_get(out, "total")));
            json_t *s = json_object_get(out, "scores");
            if (json_object_get(s, "score"))
                print_scores(s);
            print_misses(out);
        }
        goto out;
    }
    if ((rc = eval_run_list(d, ag.id, limit, &out)) != RC_OK) {
        code = cli_fail(rc, NULL, "无法列出评测运行 / cannot list the runs");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(json_incref(out));
        goto out;
    }
    size_t i;
    json_t *r;
    struct buf set = BUF_INIT;
    json_array_foreach(out, i, r)
    {
        json_t *score = json_object_get(json_object_get(r, "scores"), "score");
        buf_reset(&set);
        cli_safe_text(&set, json_string_value(json_object_get(r, "set")), 24, 0);
        printf("%-6lld v%-4lld %-24s %-10s %4lld/%-4lld",
               (long long)json_integer_value(json_object_get(r, "id")),
               (long long)json_integer_value(json_object_get(r, "version")), buf_str(&set),
               json_string_value(json_object_get(r, "status")),
               (long long)json_integer_value(json_object_get(r, "done")),
               (long long)json_integer_value(json_object_get(r, "total")));
        if (json_is_number(score))
            printf("  %.3f", json_number_value(score));
        putchar('\n');
    }
    buf_release(&set);
out:
    json_decref(out);
    if (have_agent)
        agent_release(&ag);
    return code;
}

int cli_agent_eval(struct cli *c, const char *verb, int argc, char **argv)
{
    /* Accept argv with or without the verb in front. */
    if (argc > 0 && strcmp(argv[0], verb) == 0) {
        argc--;
        argv++;
    }
    if (strcmp(verb, "eval") == 0)
        return cmd_eval(c, argc, argv);
    if (strcmp(verb, "evalset") == 0)
        return cmd_evalset(c, argc, argv);
    if (strcmp(verb, "runs") == 0)
        return cmd_runs(c, argc, argv);
    return cli_usage_error("agent", "未知子命令 / unknown verb: %s", verb);
}
