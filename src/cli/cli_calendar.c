/* `atrium calendar list|set|rm|import`: the working-day calendar of the
 * workdays tool (agents/workdays.h). Changes are audited in the same
 * transaction, like the API's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/workdays.h"
#include "cli/cli.h"
#include "common/rc.h"
#include "common/util.h"

#define CAL_FILE_MAX (1024 * 1024) /* bytes of an import file */

static const struct cli_opt cal_opts[] = {
    {"--year", NULL, 1},
    {"--name", NULL, 1},
    {NULL, NULL, 0},
};
enum { O_YEAR, O_NAME };

static int cal_list(struct cli *c, struct db_conn *d, const struct cli_args *a)
{
    int year = 0;
    if (a->val[O_YEAR]) {
        int code = cli_int_arg("--year", a->val[O_YEAR], WD_YEAR_MIN, WD_YEAR_MAX, &year);
        if (code)
            return code;
    } else {
        time_t now = time(NULL);
        struct tm tm;
        year = localtime_r(&now, &tm) ? tm.tm_year + 1900 : 2026;
    }
    json_t *days = NULL;
    struct buf err = BUF_INIT;
    int rc = wd_cal_list(d, year, &days, &err);
    if (rc != RC_OK) {
        int code = cli_fail(rc, &err, "无法读取日历 / cannot read the calendar");
        buf_release(&err);
        return code;
    }
    buf_release(&err);
    if (c->json)
        return cli_print_json(json_pack("{si so}", "year", year, "days", days));
    size_t i;
    json_t *x;
    if (!json_array_size(days))
        printf("%d 年没有节假日安排（只按周末计）/ no calendar rows for %d (weekends only)\n", year,
               year);
    else if (json_is_true(json_object_get(json_array_get(days, 0), "builtin")))
        printf("%d 年使用内置的国务院节假日安排 / %d uses the built-in State Council "
               "schedule\n",
               year, year);
    json_array_foreach(days, i, x)
    {
        struct buf name = BUF_INIT;
        wd_day dd;
        const char *day = json_string_value(json_object_get(x, "day"));
        cli_safe_text(&name, json_string_value(json_object_get(x, "name")), 64, 0);
        printf("%s  %s  %-7s  %s\n", day,
               wd_parse(day, &dd, NULL) == RC_OK ? wd_weekday_zh(dd) : "",
               json_string_value(json_object_get(x, "kind")), buf_str(&name));
        buf_release(&name);
    }
    json_decref(days);
    return CLI_EXIT_OK;
}

static int cal_set(struct cli *c, struct db_conn *d, const struct cli_args *a)
{
    if (a->npos != 3)
        return cli_usage_error("calendar", "用法 / usage: atrium calendar set DAY holiday|workday "
                                           "[--name N]");
    const char *day = a->pos[1], *kind = a->pos[2], *name = a->val[O_NAME] ? a->val[O_NAME] : "";
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int code = CLI_EXIT_OK;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK) {
        rc = wd_cal_set(d, day, kind, name, &err);
        rc = cli_change_end(d, &tx, rc, "calendar.set", day,
                            json_pack("{ss ss}", "kind", kind, "name", name));
    }
    if (rc != RC_OK)
        code = cli_fail(rc, &err, "无法修改日历 / cannot change the calendar");
    else if (c->json)
        code = cli_print_json(json_pack("{ss ss ss}", "day", day, "kind", kind, "name", name));
    else if (!c->quiet)
        printf("已设置 / set %s %s\n", day, kind);
    buf_release(&err);
    return code;
}

static int cal_rm(struct cli *c, struct db_conn *d, const struct cli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error("calendar", "用法 / usage: atrium calendar rm DAY");
    const char *day = a->pos[1];
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int code = CLI_EXIT_OK;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK) {
        rc = wd_cal_delete(d, day, &err);
        rc = cli_change_end(d, &tx, rc, "calendar.delete", day, NULL);
    }
    if (rc != RC_OK)
        code = cli_fail(rc, &err, "无法删除 / cannot remove the day");
    else if (c->json)
        code = cli_print_json(json_pack("{ss sb}", "day", day, "deleted", 1));
    else if (!c->quiet)
        printf("已删除 / removed %s\n", day);
    buf_release(&err);
    return code;
}

static int cal_import(struct cli *c, struct db_conn *d, const struct cli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error("calendar", "用法 / usage: atrium calendar import FILE");
    struct buf file = BUF_INIT, err = BUF_INIT;
    struct db_tx tx;
    size_t n = 0;
    int code = CLI_EXIT_OK;
    int rc = read_file(a->pos[1], CAL_FILE_MAX, &file);
    if (rc != RC_OK) {
        (void)buf_addf(&err, "无法读取文件 / cannot read the file: %s", a->pos[1]);
        code = cli_fail(rc, &err, "导入失败 / import failed");
        goto out;
    }
    rc = cli_change_begin(d, &tx);
    if (rc == RC_OK) {
        rc = wd_cal_import(d, file.p ? file.p : "", file.len, &n, &err);
        rc = cli_change_end(d, &tx, rc, "calendar.import", "calendar",
                            json_pack("{sI}", "rows", (json_int_t)n));
    }
    if (rc != RC_OK)
        code = cli_fail(rc, &err, "导入失败 / import failed");
    else if (c->json)
        code = cli_print_json(json_pack("{sI}", "imported", (json_int_t)n));
    else if (!c->quiet)
        printf("已导入 %zu 天 / imported %zu days\n", n, n);
out:
    buf_release(&file);
    buf_release(&err);
    return code;
}

int cli_cmd_calendar(struct cli *c, int argc, char **argv)
{
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, cal_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "calendar");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("calendar", "缺少子命令 / missing verb");
    int (*fn)(struct cli *, struct db_conn *, const struct cli_args *) = NULL;
    const char *verb = a.pos[0];
    if (!strcmp(verb, "list"))
        fn = cal_list;
    else if (!strcmp(verb, "set"))
        fn = cal_set;
    else if (!strcmp(verb, "rm"))
        fn = cal_rm;
    else if (!strcmp(verb, "import"))
        fn = cal_import;
    else
        return cli_usage_error("calendar", "未知子命令 / unknown verb: calendar %.40s", verb);
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    return fn(c, d, &a);
}
