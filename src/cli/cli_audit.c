/* `atrium audit verify|list`: walks the hash chain of the audit log (exit 1
 * when it was tampered with, or when a head hash kept elsewhere is no
 * longer in it) and lists entries with filters. Thin calls into
 * auth/audit.h; see docs/AUDIT.md. */
#include "cli/cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/audit.h"
#include "common/rc.h"
#include "common/util.h"

/* A usage error: the message, then `atrium help audit` (cli_help.c). */
static int audit_usage_error(const char *msg)
{
    return cli_usage_error("audit", "%s", msg);
}

/* ---- time arguments ---- */

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* Parses T into unix milliseconds. end_of_day: a bare date means its last
 * millisecond (for --until). RC_OK or RC_INVALID. */
static int parse_time(const char *s, int end_of_day, int64_t *ms)
{
    if (all_digits(s)) {
        int64_t v;
        if (parse_i64(s, 0, INT64_MAX / 1000, &v))
            return RC_INVALID;
        *ms = v >= 100000000000LL ? v : v * 1000; /* 12+ digits: already ms */
        return RC_OK;
    }
    static const char *formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                    "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, formats[i], &tm);
        if (!end)
            continue;
        int utc = 0;
        if (*end == 'Z' && end[1] == '\0')
            utc = 1;
        else if (*end)
            continue;
        int date_only = i == sizeof formats / sizeof formats[0] - 1;
        if (date_only && end_of_day)
            tm.tm_mday += 1; /* the next midnight, minus 1 ms below */
        tm.tm_isdst = -1;
        time_t t = utc ? timegm(&tm) : mktime(&tm);
        if (t == (time_t)-1)
            return RC_INVALID;
        *ms = (int64_t)t * 1000 - (date_only && end_of_day ? 1 : 0);
        return RC_OK;
    }
    return RC_INVALID;
}

static void local_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)ms);
}

/* ---- verify ---- */

/* A sha256 hex as typed: 64 hex digits, lower-cased into out. */
static int parse_hash(const char *s, char out[65])
{
    if (strlen(s) != 64)
        return RC_INVALID;
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return RC_INVALID;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[64] = '\0';
    return RC_OK;
}

static int audit_verify_cmd(struct cli *c, struct db_conn *d, const char *expect_arg)
{
    char expect[65] = "";
    if (expect_arg && parse_hash(expect_arg, expect))
        return audit_usage_error(
            "--expect 需要 64 位十六进制哈希 / --expect needs a 64-digit hex hash");
    struct buf err = BUF_INIT, why = BUF_INIT;
    int64_t checked = 0, bad_id = 0, head_id = 0, expect_id = 0;
    char head[65];
    int code = CLI_EXIT_OK;
    int rc = audit_verify(d, &checked, &bad_id, &head_id, head, &err);
    if (rc != RC_OK && rc != RC_INVALID) {
        code = cli_fail(rc, &err, "无法校验审计日志 / cannot verify the audit log");
        goto out;
    }
    int ok = rc == RC_OK, expect_failed = 0;
    if (rc == RC_INVALID) {
        buf_addf(&why, "审计日志被篡改 / audit log tampered: first bad entry #%lld: %s",
                 (long long)bad_id, buf_str(&err));
    } else if (*expect && strcmp(expect, head) != 0) {
        rc = audit_find_hash(d, expect, &expect_id);
        if (rc == RC_DB) {
            code = cli_fail(rc, NULL, "无法校验审计日志 / cannot verify the audit log");
            goto out;
        }
        if (rc == RC_NOT_FOUND) {
            ok = 0;
            expect_failed = 1;
            buf_addf(&why,
                     "审计日志头哈希与预期不符 / audit log head differs from the expected hash: "
                     "%s is not in the chain (head #%lld %s); the newest entries were deleted or "
                     "the chain was rewritten",
                     expect, (long long)head_id, head);
        }
    }
    if (c->json) {
        json_t *j = json_pack("{s:b,s:I,s:I,s:s}", "ok", ok, "checked", (json_int_t)checked,
                              "head_id", (json_int_t)head_id, "head_hash", head);
        if (j) {
            json_object_set_new(j, "bad_id", bad_id ? json_integer(bad_id) : json_null());
            json_object_set_new(j, "error", ok ? json_null() : json_string(buf_str(&why)));
            if (*expect)
                json_object_set_new(j, "expect_id",
                                    expect_failed ? json_null()
                                    : expect_id   ? json_integer(expect_id)
                                                  : json_integer(head_id));
        }
        code = cli_print_json(j);
    } else if (ok && !c->quiet) {
        printf("审计日志完整 / audit log intact: %lld entries, head #%lld %s\n", (long long)checked,
               (long long)head_id, head);
        if (expect_id)
            printf("预期的记录 #%lld 仍在链中，其后 %lld 条 / the expected entry #%lld is in the "
                   "chain, %lld entries after it\n",
                   (long long)expect_id, (long long)(head_id - expect_id), (long long)expect_id,
                   (long long)(head_id - expect_id));
        else if (*expect)
            printf("头哈希与预期一致 / the head matches the expected hash\n");
    }
    if (!ok) {
        cli_error("%s", buf_str(&why));
        code = CLI_EXIT_FAIL;
    }
out:
    buf_release(&err);
    buf_release(&why);
    return code;
}

/* ---- list ---- */

static void print_entries(json_t *res)
{
    json_t *entries = json_object_get(res, "entries");
    /* Spelled out: printf pads by bytes, the CJK label is wider than it counts. */
    printf("id       时间 / time          actor                action             target\n");
    struct buf actor = BUF_INIT, action = BUF_INIT, target = BUF_INIT;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        char when[32];
        local_time(json_integer_value(json_object_get(e, "ts")), when);
        buf_reset(&actor);
        buf_reset(&action);
        buf_reset(&target);
        cli_safe_text(&actor, json_string_value(json_object_get(e, "actor")), 40, 0);
        cli_safe_text(&action, json_string_value(json_object_get(e, "action")), 40, 0);
        cli_safe_text(&target, json_string_value(json_object_get(e, "target")), 80, 0);
        printf("%-8lld %-19s  %-20s %-18s %s\n",
               (long long)json_integer_value(json_object_get(e, "id")), when, buf_str(&actor),
               buf_str(&action), buf_str(&target));
    }
    json_t *next = json_object_get(res, "next_before_id");
    if (json_is_integer(next))
        printf("更多记录 / more: --before %lld\n", (long long)json_integer_value(next));
    buf_release(&actor);
    buf_release(&action);
    buf_release(&target);
}

enum { O_EXPECT, O_USER, O_ACTION, O_SINCE, O_UNTIL, O_LIMIT, O_BEFORE };

static int audit_list_cmd(struct cli *c, struct db_conn *d, const struct cli_args *a)
{
    struct audit_filter f = {0};
    f.user = a->val[O_USER];
    f.action = a->val[O_ACTION];
    f.limit = 100;
    if (a->val[O_SINCE] && parse_time(a->val[O_SINCE], 0, &f.since_ms))
        return audit_usage_error("--since 需要日期时间或 unix 秒 / --since needs a date, a time or "
                                 "unix seconds");
    if (a->val[O_UNTIL] && parse_time(a->val[O_UNTIL], 1, &f.until_ms))
        return audit_usage_error("--until 需要日期时间或 unix 秒 / --until needs a date, a time or "
                                 "unix seconds");
    if (a->val[O_LIMIT]) {
        int code = cli_int_arg("--limit", a->val[O_LIMIT], 1, 1000, &f.limit);
        if (code)
            return code;
    }
    if (a->val[O_BEFORE] && parse_i64(a->val[O_BEFORE], 1, INT64_MAX, &f.before_id))
        return audit_usage_error("--before 需要记录编号 / --before needs an entry id");
    json_t *res = NULL;
    int rc = audit_query(d, &f, &res);
    if (rc)
        return cli_fail(rc, NULL, "无法读取审计日志 / cannot read the audit log");
    if (c->json)
        return cli_print_json(res);
    print_entries(res);
    json_decref(res);
    return CLI_EXIT_OK;
}

int cli_cmd_audit(struct cli *c, int argc, char **argv)
{
    static const struct cli_opt opts[] = {
        [O_EXPECT] = {"--expect", NULL, 1}, [O_USER] = {"--user", NULL, 1},
        [O_ACTION] = {"--action", NULL, 1}, [O_SINCE] = {"--since", NULL, 1},
        [O_UNTIL] = {"--until", NULL, 1},   [O_LIMIT] = {"--limit", NULL, 1},
        [O_BEFORE] = {"--before", NULL, 1}, {NULL, NULL, 0}};
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "audit");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return audit_usage_error("缺少子命令 / missing verb (verify, list)");
    const char *verb = a.pos[0];
    int verify = strcmp(verb, "verify") == 0, list = strcmp(verb, "list") == 0;
    if (!verify && !list)
        return cli_usage_error("audit", "未知子命令 / unknown verb: audit %.40s", verb);
    if (a.npos > 1)
        return cli_usage_error("audit", "多余的参数 / unexpected argument: %.40s", a.pos[1]);
    if (verify && (a.val[O_USER] || a.val[O_ACTION] || a.val[O_SINCE] || a.val[O_UNTIL] ||
                   a.val[O_LIMIT] || a.val[O_BEFORE]))
        return audit_usage_error("verify 只接受 --expect / verify takes only --expect");
    if (list && a.val[O_EXPECT])
        return audit_usage_error("--expect 只用于 verify / --expect is for verify");
    code = cli_open(c);
    if (code)
        return code;
    struct db_conn *d = kb_conn_store(c->conn);
    if (!d) {
        cli_error("无法打开数据 / cannot open the store");
        return CLI_EXIT_FAIL;
    }
    return verify ? audit_verify_cmd(c, d, a.val[O_EXPECT]) : audit_list_cmd(c, d, &a);
}
