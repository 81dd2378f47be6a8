/* The working-day calendar of the workdays tool (agents/workdays.h):
 * GET /api/v1/calendar?year=Y (any signed-in user), POST /api/v1/calendar
 * and DELETE /api/v1/calendar/:s (agents.manage, audited). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agents/workdays.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"

/* {"year":Y,"builtin":bool,"days":[{"day","kind","name","builtin"?}]} */
enum MHD_Result http_h_calendar_list(struct http_req *r, struct kb_conn *c)
{
    struct buf err = BUF_INIT;
    json_t *days = NULL;
    int64_t year = 0;
    const char *ys = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "year");
    if (ys) {
        if (parse_i64(ys, WD_YEAR_MIN, WD_YEAR_MAX, &year) != RC_OK)
            return http_send_rc(r, RC_INVALID,
                                "year 须为 1900 到 2200 的年份 / year must be 1900 to 2200");
    } else {
        time_t now = time(NULL);
        struct tm tm;
        year = localtime_r(&now, &tm) ? tm.tm_year + 1900 : 2026;
    }
    int rc = wd_cal_list(kb_conn_store(c), (int)year, &days, &err);
    if (rc != RC_OK) {
        enum MHD_Result res = http_send_service_error(r, rc, &err);
        buf_release(&err);
        return res;
    }
    buf_release(&err);
    int builtin = json_array_size(days) > 0 &&
                  json_is_true(json_object_get(json_array_get(days, 0), "builtin"));
    return http_send_json(
        r, 200,
        json_pack("{sI sb so}", "year", (json_int_t)year, "builtin", builtin, "days", days));
}

/* {"day":"YYYY-MM-DD","kind":"holiday|workday","name"?} → 200 the row */
enum MHD_Result http_h_calendar_set(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int bad = 0;
    json_t *b = http_body_json(r, &res);
    if (!b)
        return res;
    const char *day = http_json_str(b, "day", &bad), *kind = http_json_str(b, "kind", &bad),
               *name = http_json_str(b, "name", &bad);
    if (bad || !day || !kind) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 day 和 kind（holiday 或 workday） / day and kind "
                           "(holiday or workday) are required");
        goto out;
    }
    if (http_change_begin(c, &tx) != RC_OK) {
        res = http_send_rc(r, RC_DB, NULL);
        goto out;
    }
    int rc = wd_cal_set(kb_conn_store(c), day, kind, name ? name : "", &err);
    rc = http_change_end(r, c, &tx, rc, "calendar.set", day,
                         json_pack("{ss ss}", "kind", kind, "name", name ? name : ""));
    if (rc != RC_OK) {
        res = http_send_service_error(r, rc, &err);
        goto out;
    }
    res = http_send_json(
        r, 200, json_pack("{ss ss ss}", "day", day, "kind", kind, "name", name ? name : ""));
out:
    buf_release(&err);
    json_decref(b);
    return res;
}

enum MHD_Result http_h_calendar_delete(struct http_req *r, struct kb_conn *c)
{
    struct buf err = BUF_INIT;
    struct db_tx tx;
    enum MHD_Result res;
    if (http_change_begin(c, &tx) != RC_OK)
        return http_send_rc(r, RC_DB, NULL);
    int rc = wd_cal_delete(kb_conn_store(c), r->arg_str, &err);
    rc = http_change_end(r, c, &tx, rc, "calendar.delete", r->arg_str, NULL);
    if (rc != RC_OK)
        res = http_send_service_error(r, rc, &err);
    else
        res = http_send_empty(r, 204);
    buf_release(&err);
    return res;
}
