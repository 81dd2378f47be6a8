/* Tests for src/agents/workdays.c: the 2026 National Day case, 调休
 * Saturdays, calendar_days overriding the built-ins, year edges, leap years,
 * month-end clamping, and the import. */
#include "test.h"

#include "agents/workdays.h"
#include "common/buf.h"
#include "common/rc.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs the tool with args (JSON text); returns the result as text (static). */
static const char *wd(struct db_conn *d, const char *args)
{
    static char res[256];
    json_t *a = json_loads(args, 0, NULL), *out = NULL;
    struct buf err = BUF_INIT;
    int rc = wd_tool(d, a, &out, &err);
    if (rc != RC_OK) {
        (void)snprintf(res, sizeof res, "ERR:%d", rc);
    } else {
        json_t *r = json_object_get(out, "result");
        if (json_is_string(r))
            (void)snprintf(res, sizeof res, "%s", json_string_value(r));
        else if (json_is_boolean(r))
            (void)snprintf(res, sizeof res, "%s", json_is_true(r) ? "true" : "false");
        else
            (void)snprintf(res, sizeof res, "%lld", (long long)json_integer_value(r));
    }
    json_decref(a);
    json_decref(out);
    buf_release(&err);
    return res;
}

TEST(workdays_dates)
{
    wd_day d;
    char s[11];
    CHECK_INT(wd_parse("2024-02-29", &d, NULL), RC_OK);
    wd_format(d, s);
    CHECK_STR(s, "2024-02-29");
    CHECK_STR(wd_weekday_zh(d), "星期四");
    CHECK_INT(wd_parse("2023-02-29", &d, NULL), RC_INVALID);
    CHECK_INT(wd_parse("1900-02-29", &d, NULL), RC_INVALID);
    CHECK_INT(wd_parse("2000-02-29", &d, NULL), RC_OK);
    CHECK_INT(wd_parse("1899-12-31", &d, NULL), RC_INVALID);
    CHECK_INT(wd_parse("2201-01-01", &d, NULL), RC_INVALID);
    CHECK_INT(wd_parse("2026-1-01", &d, NULL), RC_INVALID);
    CHECK_INT(wd_parse("2026-13-01", &d, NULL), RC_INVALID);
    CHECK_INT(wd_parse("2026-04-31", &d, NULL), RC_INVALID);
    CHECK_INT(wd_parse("1970-01-01", &d, NULL), RC_OK);
    CHECK_INT(d, 0);
    CHECK_INT(wd_parse("1900-01-01", &d, NULL), RC_OK);
    CHECK_STR(wd_weekday_zh(d), "星期一");
    CHECK_INT(wd_parse("2200-12-31", &d, NULL), RC_OK);
    wd_format(d, s);
    CHECK_STR(s, "2200-12-31");
    CHECK_STR(wd_weekday_zh(d), "星期三");
}

TEST(workdays_builtin_2026)
{
    /* National Day 2026: 10-01..10-07 off, 09-20 (Sun) and 10-10 (Sat) worked */
    CHECK_STR(wd(NULL, "{\"op\":\"add_workdays\",\"date\":\"2026-09-30\",\"days\":3}"),
              "2026-10-10");
    CHECK_STR(wd(NULL, "{\"op\":\"add_workdays\",\"date\":\"2026-09-30\",\"days\":1}"),
              "2026-10-08");
    CHECK_STR(wd(NULL, "{\"op\":\"add_workdays\",\"date\":\"2026-10-08\",\"days\":-1}"),
              "2026-09-30");
    CHECK_STR(wd(NULL, "{\"op\":\"is_workday\",\"date\":\"2026-10-10\"}"), "true");
    CHECK_STR(wd(NULL, "{\"op\":\"is_workday\",\"date\":\"2026-09-20\"}"), "true");
    CHECK_STR(wd(NULL, "{\"op\":\"is_workday\",\"date\":\"2026-10-05\"}"), "false");
    CHECK_STR(wd(NULL, "{\"op\":\"is_workday\",\"date\":\"2026-10-17\"}"), "false");
    CHECK_STR(wd(NULL, "{\"op\":\"next_workday\",\"date\":\"2026-09-30\"}"), "2026-10-08");
    CHECK_STR(wd(NULL, "{\"op\":\"next_workday\",\"date\":\"2026-02-13\"}"), "2026-02-14");
    CHECK_STR(wd(NULL, "{\"op\":\"add_workdays\",\"date\":\"2026-10-01\",\"days\":0}"),
              "2026-10-08");
    /* Spring Festival 2026: 02-15..02-23 off, 02-14 and 02-28 worked */
    CHECK_STR(
        wd(NULL, "{\"op\":\"workdays_between\",\"date\":\"2026-02-13\",\"end\":\"2026-02-28\"}"),
        "6"); /* 02-14, 24, 25, 26, 27, 28 */
    CHECK_STR(wd(NULL,
                 "{\"op\":\"workdays_between\",\"date\":\"2026-02-13\",\"end\":\"2026-02-28\","
                 "\"inclusive\":true}"),
              "7");
    CHECK_STR(
        wd(NULL, "{\"op\":\"workdays_between\",\"date\":\"2026-02-28\",\"end\":\"2026-02-13\"}"),
        "-6");
    /* 2025: 09-28 (Sun) and 10-11 (Sat) worked, 10-01..10-08 off */
    CHECK_STR(wd(NULL, "{\"op\":\"is_workday\",\"date\":\"2025-10-11\"}"), "true");
    CHECK_STR(wd(NULL, "{\"op\":\"is_workday\",\"date\":\"2025-10-08\"}"), "false");
    /* a year without a schedule: weekends only */
    CHECK_STR(wd(NULL, "{\"op\":\"is_workday\",\"date\":\"2027-10-01\"}"), "true");
    CHECK(wd_builtin_has_year(2025) && wd_builtin_has_year(2026) && !wd_builtin_has_year(2027));
}

TEST(workdays_ops)
{
    CHECK_STR(wd(NULL, "{\"op\":\"add_months\",\"date\":\"2024-01-31\",\"months\":1}"),
              "2024-02-29");
    CHECK_STR(wd(NULL, "{\"op\":\"add_months\",\"date\":\"2023-01-31\",\"months\":1}"),
              "2023-02-28");
    CHECK_STR(wd(NULL, "{\"op\":\"add_months\",\"date\":\"2024-03-31\",\"months\":-1}"),
              "2024-02-29");
    CHECK_STR(wd(NULL, "{\"op\":\"add_months\",\"date\":\"2024-12-15\",\"months\":1}"),
              "2025-01-15");
    CHECK_STR(wd(NULL, "{\"op\":\"add_months\",\"date\":\"2024-01-15\",\"months\":-13}"),
              "2022-12-15");
    CHECK_STR(wd(NULL, "{\"op\":\"add_days\",\"date\":\"2024-02-28\",\"days\":1}"), "2024-02-29");
    CHECK_STR(wd(NULL, "{\"op\":\"add_days\",\"date\":\"2100-02-28\",\"days\":1}"), "2100-03-01");
    CHECK_STR(wd(NULL, "{\"op\":\"add_days\",\"date\":\"2026-12-31\",\"days\":1}"), "2027-01-01");
    CHECK_STR(wd(NULL, "{\"op\":\"day_of_week\",\"date\":\"2026-10-01\"}"), "星期四");
    /* year edges */
    CHECK_STR(wd(NULL, "{\"op\":\"add_days\",\"date\":\"2200-12-31\",\"days\":1}"), "ERR:1");
    CHECK_STR(wd(NULL, "{\"op\":\"add_workdays\",\"date\":\"1900-01-01\",\"days\":-1}"), "ERR:1");
    CHECK_STR(wd(NULL, "{\"op\":\"next_workday\",\"date\":\"2200-12-31\"}"), "ERR:1");
    CHECK_STR(wd(NULL, "{\"op\":\"add_months\",\"date\":\"2200-12-01\",\"months\":1}"), "ERR:1");
    CHECK_STR(wd(NULL, "{\"op\":\"add_workdays\",\"date\":\"2100-01-01\",\"days\":36600}"),
              "ERR:1");
    /* bad arguments */
    CHECK_STR(wd(NULL, "{\"op\":\"fly\",\"date\":\"2026-01-01\"}"), "ERR:1");
    CHECK_STR(wd(NULL, "{\"op\":\"add_days\",\"date\":\"2026-01-01\"}"), "ERR:1");
    CHECK_STR(wd(NULL, "{\"op\":\"add_days\",\"date\":\"2026/01/01\",\"days\":1}"), "ERR:1");
    CHECK_STR(wd(NULL, "{\"date\":\"2026-01-01\"}"), "ERR:1");
}

static struct db_conn open_store(sqlite3 **db, const char *name)
{
    struct buf err = BUF_INIT;
    char path[512];
    (void)snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    (void)remove(path);
    *db = NULL;
    CHECK_INT(db_open(path, db, &err), RC_OK);
    buf_release(&err);
    struct db_conn d = {*db, *db ? db_cache_new(*db) : NULL};
    return d;
}

TEST(workdays_calendar_table)
{
    sqlite3 *db;
    struct db_conn d = open_store(&db, "wd.db");
    if (!db)
        return;
    struct buf err = BUF_INIT;
    json_t *list = NULL;
    /* no rows for 2026: the built-ins are listed and used */
    CHECK_INT(wd_cal_list(&d, 2026, &list, &err), RC_OK);
    CHECK(json_array_size(list) > 20);
    CHECK(json_is_true(json_object_get(json_array_get(list, 0), "builtin")));
    json_decref(list);
    CHECK_STR(wd(&d, "{\"op\":\"is_workday\",\"date\":\"2026-10-05\"}"), "false");
    /* one row for 2026 replaces the whole built-in year */
    CHECK_INT(wd_cal_set(&d, "2026-03-02", "holiday", "行庆", &err), RC_OK);
    CHECK_STR(wd(&d, "{\"op\":\"is_workday\",\"date\":\"2026-03-02\"}"), "false");
    CHECK_STR(wd(&d, "{\"op\":\"is_workday\",\"date\":\"2026-10-05\"}"), "true");
    CHECK_INT(wd_cal_set(&d, "2026-03-07", "workday", "", &err), RC_OK);
    CHECK_STR(wd(&d, "{\"op\":\"is_workday\",\"date\":\"2026-03-07\"}"), "true");
    CHECK_INT(wd_cal_set(&d, "2026-03-07", "nap", "", &err), RC_INVALID);
    CHECK_INT(wd_cal_set(&d, "2026-02-30", "holiday", "", &err), RC_INVALID);
    CHECK_INT(wd_cal_list(&d, 2026, &list, &err), RC_OK);
    CHECK_INT(json_array_size(list), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "name")), "行庆");
    json_decref(list);
    CHECK_INT(wd_cal_delete(&d, "2026-03-07", &err), RC_OK);
    CHECK_INT(wd_cal_delete(&d, "2026-03-07", &err), RC_NOT_FOUND);
    /* import: all or nothing, with the line number */
    const char *good = "day,kind,name\n# 2027\n2027-01-01,holiday,元旦\n2027-02-06,班,春节调休\n\n";
    size_t n = 0;
    CHECK_INT(wd_cal_import(&d, good, strlen(good), &n, &err), RC_OK);
    CHECK_INT(n, 2);
    CHECK_STR(wd(&d, "{\"op\":\"is_workday\",\"date\":\"2027-02-06\"}"), "true");
    CHECK_STR(wd(&d, "{\"op\":\"is_workday\",\"date\":\"2027-01-01\"}"), "false");
    const char *bad = "2027-05-01,holiday,劳动节\n2027-05-02,sleep,x\n";
    buf_reset(&err);
    CHECK_INT(wd_cal_import(&d, bad, strlen(bad), &n, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "line 2");
    CHECK_STR(wd(&d, "{\"op\":\"is_workday\",\"date\":\"2027-05-03\"}"),
              "true"); /* Mon, not imported */
    CHECK_INT(wd_cal_list(&d, 2027, &list, &err), RC_OK);
    CHECK_INT(json_array_size(list), 2);
    json_decref(list);
    CHECK_INT(wd_cal_list(&d, 1800, &list, &err), RC_INVALID);
    buf_release(&err);
    db_cache_free(d.cache);
    db_close(db);
}

/* A year with neither calendar rows nor a built-in schedule is counted by
 * weekends only; the result says so, and the start-up check names it. */
TEST(workdays_missing_year_noted)
{
    sqlite3 *db;
    struct db_conn d = open_store(&db, "wd-missing.db");
    if (!db)
        return;
    struct buf err = BUF_INIT;
    json_t *a = json_loads("{\"op\":\"is_workday\",\"date\":\"2027-01-01\"}", 0, NULL), *out = NULL;
    CHECK_INT(wd_tool(&d, a, &out, &err), RC_OK);
    CHECK(json_is_true(json_object_get(out, "result"))); /* a Friday, by weekends only */
    json_t *miss = json_object_get(out, "holidays_missing");
    CHECK_INT(json_array_size(miss), 1);
    CHECK_INT(json_integer_value(json_array_get(miss, 0)), 2027);
    CHECK_CONTAINS(json_string_value(json_object_get(out, "note")), "2027 年的节假日安排尚未导入");
    json_decref(out);
    json_decref(a);
    /* a loaded year, or an op that reads no calendar, carries no note */
    const char *quiet[] = {"{\"op\":\"is_workday\",\"date\":\"2026-10-05\"}",
                           "{\"op\":\"add_days\",\"date\":\"2027-01-01\",\"days\":3}",
                           "{\"op\":\"day_of_week\",\"date\":\"2027-01-01\"}"};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        a = json_loads(quiet[i], 0, NULL);
        CHECK_INT(wd_tool(&d, a, &out, &err), RC_OK);
        CHECK(!json_object_get(out, "holidays_missing") && !json_object_get(out, "note"));
        json_decref(out);
        json_decref(a);
    }
    /* counting across the year end names only the missing year */
    a = json_loads("{\"op\":\"workdays_between\",\"date\":\"2026-12-30\",\"end\":\"2027-01-05\"}",
                   0, NULL);
    CHECK_INT(wd_tool(&d, a, &out, &err), RC_OK);
    miss = json_object_get(out, "holidays_missing");
    CHECK_INT(json_array_size(miss), 1);
    CHECK_INT(json_integer_value(json_array_get(miss, 0)), 2027);
    json_decref(out);
    json_decref(a);

    CHECK_INT(wd_year_holidays(&d, 2026), 2);
    CHECK_INT(wd_year_holidays(&d, 2027), 0);
    CHECK_INT(wd_year_holidays(&d, 1800), -RC_INVALID);
    int years[2] = {0, 0};
    CHECK_INT(wd_years_to_load(&d, 2026, 10, years), 0);
    CHECK_INT(wd_years_to_load(&d, 2026, 11, years), 1);
    CHECK_INT(years[0], 2027);
    CHECK_INT(wd_years_to_load(&d, 2028, 12, years), 2);
    CHECK_INT(years[0], 2028);
    CHECK_INT(years[1], 2029);

    /* loading one row of 2027 makes it the bank's year: no note, no warning */
    CHECK_INT(wd_cal_set(&d, "2027-01-01", "holiday", "元旦", &err), RC_OK);
    CHECK_INT(wd_year_holidays(&d, 2027), 1);
    CHECK_INT(wd_years_to_load(&d, 2026, 12, years), 0);
    a = json_loads("{\"op\":\"is_workday\",\"date\":\"2027-01-01\"}", 0, NULL);
    CHECK_INT(wd_tool(&d, a, &out, &err), RC_OK);
    CHECK(json_is_false(json_object_get(out, "result")));
    CHECK(!json_object_get(out, "note"));
    json_decref(out);
    json_decref(a);
    buf_release(&err);
    db_cache_free(d.cache);
    db_close(db);
}
