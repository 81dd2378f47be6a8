/* Working-day arithmetic over weekends, calendar_days and the built-in
 * PRC holiday schedule (workdays.h). */
#include "agents/workdays.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"

/* The State Council's notices: 国办发明电〔2024〕12号 (2025) and the notice
 * of 2025-11-04 on 2026. A year listed here is used when calendar_days has
 * no row of that year. */
struct wd_row {
    const char *day, *kind, *name;
};
static const struct wd_row builtin[] = {
    {"2025-01-01", "holiday", "元旦"},           {"2025-01-26", "workday", "春节调休上班"},
    {"2025-01-28", "holiday", "春节"},           {"2025-01-29", "holiday", "春节"},
    {"2025-01-30", "holiday", "春节"},           {"2025-01-31", "holiday", "春节"},
    {"2025-02-01", "holiday", "春节"},           {"2025-02-02", "holiday", "春节"},
    {"2025-02-03", "holiday", "春节"},           {"2025-02-04", "holiday", "春节"},
    {"2025-02-08", "workday", "春节调休上班"},   {"2025-04-04", "holiday", "清明节"},
    {"2025-04-05", "holiday", "清明节"},         {"2025-04-06", "holiday", "清明节"},
    {"2025-04-27", "workday", "劳动节调休上班"}, {"2025-05-01", "holiday", "劳动节"},
    {"2025-05-02", "holiday", "劳动节"},         {"2025-05-03", "holiday", "劳动节"},
    {"2025-05-04", "holiday", "劳动节"},         {"2025-05-05", "holiday", "劳动节"},
    {"2025-05-31", "holiday", "端午节"},         {"2025-06-01", "holiday", "端午节"},
    {"2025-06-02", "holiday", "端午节"},         {"2025-09-28", "workday", "国庆节调休上班"},
    {"2025-10-01", "holiday", "国庆节、中秋节"}, {"2025-10-02", "holiday", "国庆节、中秋节"},
    {"2025-10-03", "holiday", "国庆节、中秋节"}, {"2025-10-04", "holiday", "国庆节、中秋节"},
    {"2025-10-05", "holiday", "国庆节、中秋节"}, {"2025-10-06", "holiday", "国庆节、中秋节"},
    {"2025-10-07", "holiday", "国庆节、中秋节"}, {"2025-10-08", "holiday", "国庆节、中秋节"},
    {"2025-10-11", "workday", "国庆节调休上班"}, {"2026-01-01", "holiday", "元旦"},
    {"2026-01-02", "holiday", "元旦"},           {"2026-01-03", "holiday", "元旦"},
    {"2026-01-04", "workday", "元旦调休上班"},   {"2026-02-14", "workday", "春节调休上班"},
    {"2026-02-15", "holiday", "春节"},           {"2026-02-16", "holiday", "春节"},
    {"2026-02-17", "holiday", "春节"},           {"2026-02-18", "holiday", "春节"},
    {"2026-02-19", "holiday", "春节"},           {"2026-02-20", "holiday", "春节"},
    {"2026-02-21", "holiday", "春节"},           {"2026-02-22", "holiday", "春节"},
    {"2026-02-23", "holiday", "春节"},           {"2026-02-28", "workday", "春节调休上班"},
    {"2026-04-04", "holiday", "清明节"},         {"2026-04-05", "holiday", "清明节"},
    {"2026-04-06", "holiday", "清明节"},         {"2026-05-01", "holiday", "劳动节"},
    {"2026-05-02", "holiday", "劳动节"},         {"2026-05-03", "holiday", "劳动节"},
    {"2026-05-04", "holiday", "劳动节"},         {"2026-05-05", "holiday", "劳动节"},
    {"2026-05-09", "workday", "劳动节调休上班"}, {"2026-06-19", "holiday", "端午节"},
    {"2026-06-20", "holiday", "端午节"},         {"2026-06-21", "holiday", "端午节"},
    {"2026-09-20", "workday", "国庆节调休上班"}, {"2026-09-25", "holiday", "中秋节"},
    {"2026-09-26", "holiday", "中秋节"},         {"2026-09-27", "holiday", "中秋节"},
    {"2026-10-01", "holiday", "国庆节"},         {"2026-10-02", "holiday", "国庆节"},
    {"2026-10-03", "holiday", "国庆节"},         {"2026-10-04", "holiday", "国庆节"},
    {"2026-10-05", "holiday", "国庆节"},         {"2026-10-06", "holiday", "国庆节"},
    {"2026-10-07", "holiday", "国庆节"},         {"2026-10-10", "workday", "国庆节调休上班"},
};
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

/* ---- dates (Howard Hinnant's civil-from-days algorithms) ---- */
static wd_day days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (wd_day)(era * 146097 + doe - 719468);
}

void wd_ymd(wd_day z0, int *y, int *m, int *d)
{
    int z = (int)z0 + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : md[m - 1];
}

int wd_parse(const char *s, wd_day *out, struct buf *err)
{
    int y = 0, m = 0, d = 0;
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        goto bad;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (s[i] < '0' || s[i] > '9')
            goto bad;
    }
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        goto bad;
    if (y < WD_YEAR_MIN || y > WD_YEAR_MAX) {
        if (err)
            (void)buf_addf(err, "日期须在 %d 至 %d 年之间 / dates must be in the years %d to %d",
                           WD_YEAR_MIN, WD_YEAR_MAX, WD_YEAR_MIN, WD_YEAR_MAX);
        return RC_INVALID;
    }
    *out = days_from_civil(y, m, d);
    return RC_OK;
bad:
    if (err)
        (void)buf_adds(err, "日期格式须为 YYYY-MM-DD 且为真实日期 / a date must be a real date "
                            "written YYYY-MM-DD");
    return RC_INVALID;
}

void wd_format(wd_day d, char out[11])
{
    int y, m, dd;
    wd_ymd(d, &y, &m, &dd);
    char tmp[32];
    (void)snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", y, m, dd);
    memcpy(out, tmp, 10);
    out[10] = '\0';
}

int wd_weekday(wd_day d)
{
    /* 1970-01-01 was a Thursday (3) */
    int r = ((int)d + 3) % 7;
    return r < 0 ? r + 7 : r;
}

const char *wd_weekday_zh(wd_day d)
{
    static const char *const names[7] = {"星期一", "星期二", "星期三", "星期四",
                                         "星期五", "星期六", "星期日"};
    return names[wd_weekday(d)];
}

static int in_range(wd_day d)
{
    return d >= days_from_civil(WD_YEAR_MIN, 1, 1) && d <= days_from_civil(WD_YEAR_MAX, 12, 31);
}

/* ---- the calendar ---- */
struct ov {
    wd_day day;
    int workday;
    char *name;
};
struct yr {
    int year;
    struct ov *a;
    size_t n;
    int stored; /* the rows came from calendar_days, not the built-ins */
};
struct wd_cal {
    struct db_conn *store;
    struct yr *years;
    size_t n, cap;
};

struct wd_cal *wd_cal_new(struct db_conn *store)
{
    struct wd_cal *c = xcalloc(1, sizeof *c);
    c->store = store;
    return c;
}

void wd_cal_free(struct wd_cal *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        for (size_t j = 0; j < c->years[i].n; j++)
            free(c->years[i].a[j].name);
        free(c->years[i].a);
    }
    free(c->years);
    free(c);
}

int wd_builtin_has_year(int year)
{
    char pre[16];
    (void)snprintf(pre, sizeof pre, "%04d-", year);
    for (size_t i = 0; i < NBUILTIN; i++)
        if (!strncmp(builtin[i].day, pre, 5))
            return 1;
    return 0;
}

json_t *wd_builtin_json(int year)
{
    json_t *arr = json_array();
    char pre[16];
    (void)snprintf(pre, sizeof pre, "%04d-", year);
    for (size_t i = 0; i < NBUILTIN; i++)
        if (!strncmp(builtin[i].day, pre, 5))
            (void)json_array_append_new(arr, json_pack("{ss ss ss sb}", "day", builtin[i].day,
                                                       "kind", builtin[i].kind, "name",
                                                       builtin[i].name, "builtin", 1));
    return arr;
}

static void ov_add(struct yr *y, size_t *cap, const char *day, const char *kind, const char *name)
{
    wd_day d;
    if (wd_parse(day, &d, NULL) != RC_OK)
        return; /* a malformed row is ignored rather than trusted */
    y->a = xgrow(y->a, cap, y->n + 1, sizeof *y->a);
    y->a[y->n].day = d;
    y->a[y->n].workday = !strcmp(kind, "workday");
    y->a[y->n].name = xstrdup(name ? name : "");
    y->n++;
}

/* The overrides of year y, loaded on first use. NULL on a store failure. */
static struct yr *cal_year(struct wd_cal *c, int year)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->years[i].year == year)
            return &c->years[i];
    struct yr y = {year, NULL, 0, 0};
    size_t cap = 0;
    if (c->store) {
        char lo[16], hi[16];
        (void)snprintf(lo, sizeof lo, "%04d-01-01", year);
        (void)snprintf(hi, sizeof hi, "%04d-12-31", year);
        sqlite3_stmt *st = db_stmt(c->store->cache, "SELECT day, kind, name FROM calendar_days"
                                                    " WHERE day >= ?1 AND day <= ?2 ORDER BY day");
        if (!st)
            return NULL;
        (void)sqlite3_bind_text(st, 1, lo, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_text(st, 2, hi, -1, SQLITE_TRANSIENT);
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            ov_add(&y, &cap, (const char *)sqlite3_column_text(st, 0),
                   (const char *)sqlite3_column_text(st, 1),
                   (const char *)sqlite3_column_text(st, 2));
        (void)sqlite3_reset(st);
        if (src != SQLITE_DONE) {
            for (size_t j = 0; j < y.n; j++)
                free(y.a[j].name);
            free(y.a);
            return NULL;
        }
    }
    y.stored = y.n > 0;
    if (!y.n) {
        char pre[16];
        (void)snprintf(pre, sizeof pre, "%04d-", year);
        for (size_t i = 0; i < NBUILTIN; i++)
            if (!strncmp(builtin[i].day, pre, 5))
                ov_add(&y, &cap, builtin[i].day, builtin[i].kind, builtin[i].name);
    }
    c->years = xgrow(c->years, &c->cap, c->n + 1, sizeof *c->years);
    c->years[c->n] = y;
    return &c->years[c->n++];
}

int wd_is_workday(struct wd_cal *c, wd_day d, const char **name)
{
    int y, m, dd;
    wd_ymd(d, &y, &m, &dd);
    if (name)
        *name = "";
    struct yr *yr = cal_year(c, y);
    if (!yr)
        return -RC_DB;
    for (size_t i = 0; i < yr->n; i++)
        if (yr->a[i].day == d) {
            if (name)
                *name = yr->a[i].name;
            return yr->a[i].workday;
        }
    return wd_weekday(d) < 5;
}

/* ---- the tool ---- */
static int get_date(const json_t *args, const char *key, wd_day *out, struct buf *err)
{
    const json_t *v = json_object_get(args, key);
    if (!json_is_string(v)) {
        (void)buf_addf(err, "缺少日期参数 %s / missing the date argument %s", key, key);
        return RC_INVALID;
    }
    if (wd_parse(json_string_value(v), out, err) != RC_OK) {
        (void)buf_addf(err, " (%s)", key);
        return RC_INVALID;
    }
    return RC_OK;
}

static int get_int(const json_t *args, const char *key, long max, long *out, struct buf *err)
{
    const json_t *v = json_object_get(args, key);
    if (!json_is_integer(v) || json_integer_value(v) < -max || json_integer_value(v) > max) {
        (void)buf_addf(err,
                       "参数 %s 须为 -%ld 到 %ld 的整数 / %s must be an integer from -%ld to %ld",
                       key, max, max, key, max, max);
        return RC_INVALID;
    }
    *out = (long)json_integer_value(v);
    return RC_OK;
}

static int out_of_range(struct buf *err)
{
    (void)buf_addf(err, "结果超出 %d 至 %d 年 / the result leaves the years %d to %d", WD_YEAR_MIN,
                   WD_YEAR_MAX, WD_YEAR_MIN, WD_YEAR_MAX);
    return RC_INVALID;
}

/* Steps from d by `dir` until a working day; RC_INVALID when leaving the range. */
static int step_workday(struct wd_cal *c, wd_day *d, int dir, struct buf *err)
{
    for (;;) {
        *d += dir;
        if (!in_range(*d))
            return out_of_range(err);
        int w = wd_is_workday(c, *d, NULL);
        if (w < 0) {
            (void)buf_adds(err, "读取工作日历失败 / cannot read the working-day calendar");
            return -w;
        }
        if (w)
            return RC_OK;
    }
}

static json_t *day_result(wd_day d)
{
    char s[11];
    wd_format(d, s);
    return json_pack("{ss ss}", "result", s, "weekday", wd_weekday_zh(d));
}

/* A result that consulted a year with neither rows nor a built-in schedule
 * counted weekends only there: it says so ("holidays_missing": [years] and a
 * note the model passes on), rather than look as sure as a loaded year. */
static void note_missing(const struct wd_cal *c, json_t *res)
{
    json_t *miss = NULL;
    struct buf years = BUF_INIT, note = BUF_INIT;
    for (size_t i = 0; i < c->n; i++) {
        if (c->years[i].n)
            continue;
        if (!miss)
            miss = json_array();
        (void)json_array_append_new(miss, json_integer(c->years[i].year));
        (void)buf_addf(&years, "%s%d", years.len ? ", " : "", c->years[i].year);
    }
    if (miss) {
        (void)json_object_set_new(res, "holidays_missing", miss);
        (void)buf_addf(&note,
                       "%s 年的节假日安排尚未导入，本结果只按周末计算，请核对 / the holidays of %s "
                       "are not loaded: this result counts weekends only, check it",
                       buf_str(&years), buf_str(&years));
        (void)json_object_set_new(res, "note", json_string(buf_str(&note)));
    }
    buf_release(&years);
    buf_release(&note);
}

int wd_year_holidays(struct db_conn *store, int year)
{
    if (year < WD_YEAR_MIN || year > WD_YEAR_MAX)
        return -RC_INVALID;
    struct wd_cal *c = wd_cal_new(store);
    struct yr *y = cal_year(c, year);
    int r = !y ? -RC_DB : !y->n ? 0 : y->stored ? 1 : 2;
    wd_cal_free(c);
    return r;
}

size_t wd_years_to_load(struct db_conn *store, int year, int month, int out[2])
{
    size_t n = 0;
    for (int y = year; y <= year + (month >= 11 ? 1 : 0); y++)
        if (wd_year_holidays(store, y) == 0)
            out[n++] = y;
    return n;
}

int wd_tool(struct db_conn *store, const json_t *args, json_t **out, struct buf *err)
{
    int rc = RC_OK;
    json_t *res = NULL;
    struct wd_cal *c = wd_cal_new(store);
    wd_day d = 0, e = 0;
    long n = 0;
    *out = NULL;
    const char *op = json_string_value(json_object_get(args, "op"));
    if (!json_is_object(args) || !op) {
        (void)buf_adds(err, "缺少 op 参数 / missing the op argument");
        rc = RC_INVALID;
        goto out;
    }
    if ((rc = get_date(args, "date", &d, err)) != RC_OK)
        goto out;
    if (!strcmp(op, "is_workday")) {
        const char *name = "";
        int w = wd_is_workday(c, d, &name);
        if (w < 0) {
            rc = -w;
            (void)buf_adds(err, "读取工作日历失败 / cannot read the working-day calendar");
            goto out;
        }
        res = json_pack("{sb ss}", "result", w, "weekday", wd_weekday_zh(d));
        if (*name)
            (void)json_object_set_new(res, "name", json_string(name));
    } else if (!strcmp(op, "add_days")) {
        if ((rc = get_int(args, "days", WD_MAX_DAYS, &n, err)) != RC_OK)
            goto out;
        if (!in_range(d + (wd_day)n)) {
            rc = out_of_range(err);
            goto out;
        }
        res = day_result(d + (wd_day)n);
    } else if (!strcmp(op, "add_workdays")) {
        if ((rc = get_int(args, "days", WD_MAX_DAYS, &n, err)) != RC_OK)
            goto out;
        if (n == 0) {
            int w = wd_is_workday(c, d, NULL);
            if (w < 0) {
                rc = -w;
                (void)buf_adds(err, "读取工作日历失败 / cannot read the working-day calendar");
                goto out;
            }
            if (!w && (rc = step_workday(c, &d, 1, err)) != RC_OK)
                goto out;
        }
        for (long i = 0; i < (n < 0 ? -n : n); i++)
            if ((rc = step_workday(c, &d, n < 0 ? -1 : 1, err)) != RC_OK)
                goto out;
        res = day_result(d);
    } else if (!strcmp(op, "next_workday")) {
        if ((rc = step_workday(c, &d, 1, err)) != RC_OK)
            goto out;
        res = day_result(d);
    } else if (!strcmp(op, "workdays_between")) {
        if ((rc = get_date(args, "end", &e, err)) != RC_OK)
            goto out;
        const json_t *inc = json_object_get(args, "inclusive");
        if (inc && !json_is_boolean(inc)) {
            (void)buf_adds(err, "inclusive 须为 true 或 false / inclusive must be true or false");
            rc = RC_INVALID;
            goto out;
        }
        int sign = 1;
        wd_day lo = d, hi = e;
        if (e < d) {
            sign = -1;
            lo = e;
            hi = d;
        }
        long count = 0;
        /* exclusive: (lo, hi]; inclusive: [lo, hi] */
        for (wd_day x = json_is_true(inc) ? lo : lo + 1; x <= hi; x++) {
            int w = wd_is_workday(c, x, NULL);
            if (w < 0) {
                rc = -w;
                (void)buf_adds(err, "读取工作日历失败 / cannot read the working-day calendar");
                goto out;
            }
            count += w;
        }
        res = json_pack("{sI}", "result", (json_int_t)(sign * count));
        (void)json_object_set(res, "end", json_object_get(args, "end"));
        (void)json_object_set_new(res, "inclusive", json_boolean(json_is_true(inc)));
    } else if (!strcmp(op, "add_months")) {
        if ((rc = get_int(args, "months", 12 * (WD_YEAR_MAX - WD_YEAR_MIN), &n, err)) != RC_OK)
            goto out;
        int y, m, dd;
        wd_ymd(d, &y, &m, &dd);
        long t = (long)y * 12 + (m - 1) + n;
        long ny = t / 12, nm = t % 12 + 1;
        if (ny < WD_YEAR_MIN || ny > WD_YEAR_MAX) {
            rc = out_of_range(err);
            goto out;
        }
        int md = month_days((int)ny, (int)nm);
        res = day_result(days_from_civil((int)ny, (int)nm, dd > md ? md : dd));
    } else if (!strcmp(op, "day_of_week")) {
        res = json_pack("{ss si}", "result", wd_weekday_zh(d), "iso", wd_weekday(d) + 1);
    } else {
        (void)buf_adds(err, "未知的 op；可用 is_workday, add_days, add_workdays, workdays_between, "
                            "next_workday, add_months, day_of_week / unknown op");
        rc = RC_INVALID;
        goto out;
    }
    (void)json_object_set_new(res, "op", json_string(op));
    (void)json_object_set(res, "date", json_object_get(args, "date"));
    note_missing(c, res);
    *out = res;
    res = NULL;
out:
    json_decref(res);
    wd_cal_free(c);
    return rc;
}

/* ---- administration ---- */
int wd_cal_list(struct db_conn *store, int year, json_t **out, struct buf *err)
{
    *out = NULL;
    if (year < WD_YEAR_MIN || year > WD_YEAR_MAX) {
        (void)buf_addf(err, "年份须在 %d 至 %d 之间 / the year must be %d to %d", WD_YEAR_MIN,
                       WD_YEAR_MAX, WD_YEAR_MIN, WD_YEAR_MAX);
        return RC_INVALID;
    }
    char lo[16], hi[16];
    (void)snprintf(lo, sizeof lo, "%04d-01-01", year);
    (void)snprintf(hi, sizeof hi, "%04d-12-31", year);
    sqlite3_stmt *st = db_stmt(store->cache, "SELECT day, kind, name FROM calendar_days"
                                             " WHERE day >= ?1 AND day <= ?2 ORDER BY day");
    if (!st) {
        (void)buf_adds(err, "数据库错误 / store error");
        return RC_DB;
    }
    (void)sqlite3_bind_text(st, 1, lo, -1, SQLITE_TRANSIENT);
    (void)sqlite3_bind_text(st, 2, hi, -1, SQLITE_TRANSIENT);
    json_t *arr = json_array();
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        (void)json_array_append_new(arr, json_pack("{ss ss ss}", "day",
                                                   (const char *)sqlite3_column_text(st, 0), "kind",
                                                   (const char *)sqlite3_column_text(st, 1), "name",
                                                   (const char *)sqlite3_column_text(st, 2)));
    (void)sqlite3_reset(st);
    if (src != SQLITE_DONE) {
        json_decref(arr);
        (void)buf_adds(err, "数据库错误 / store error");
        return RC_DB;
    }
    if (!json_array_size(arr)) {
        json_decref(arr);
        arr = wd_builtin_json(year);
    }
    *out = arr;
    return RC_OK;
}

static int check_row(const char *day, const char *kind, const char *name, struct buf *err)
{
    wd_day d;
    if (wd_parse(day, &d, err) != RC_OK)
        return RC_INVALID;
    if (!kind || (strcmp(kind, "holiday") && strcmp(kind, "workday"))) {
        (void)buf_adds(err, "kind 须为 holiday 或 workday / kind must be holiday or workday");
        return RC_INVALID;
    }
    if (name) {
        size_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
            chars += (*p & 0xC0) != 0x80;
        if (chars > 64 || strlen(name) > 256) {
            (void)buf_adds(err, "名称不能超过 64 个字符 / the name must be at most 64 characters");
            return RC_INVALID;
        }
    }
    return RC_OK;
}

static int set_row(struct db_conn *store, const char *day, const char *kind, const char *name)
{
    sqlite3_stmt *st = db_stmt(store->cache, "INSERT INTO calendar_days(day, kind, name)"
                                             " VALUES (?1, ?2, ?3) ON CONFLICT(day) DO UPDATE"
                                             " SET kind = excluded.kind, name = excluded.name");
    if (!st)
        return RC_DB;
    (void)sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
    (void)sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
    (void)sqlite3_bind_text(st, 3, name ? name : "", -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    (void)sqlite3_reset(st);
    return src == SQLITE_DONE ? RC_OK : RC_DB;
}

int wd_cal_set(struct db_conn *store, const char *day, const char *kind, const char *name,
               struct buf *err)
{
    int rc = check_row(day, kind, name, err);
    if (rc != RC_OK)
        return rc;
    rc = set_row(store, day, kind, name);
    if (rc != RC_OK)
        (void)buf_adds(err, "数据库错误 / store error");
    return rc;
}

int wd_cal_delete(struct db_conn *store, const char *day, struct buf *err)
{
    wd_day d;
    if (wd_parse(day, &d, err) != RC_OK)
        return RC_INVALID;
    sqlite3_stmt *st = db_stmt(store->cache, "DELETE FROM calendar_days WHERE day = ?1");
    if (!st) {
        (void)buf_adds(err, "数据库错误 / store error");
        return RC_DB;
    }
    (void)sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    (void)sqlite3_reset(st);
    if (src != SQLITE_DONE) {
        (void)buf_adds(err, "数据库错误 / store error");
        return RC_DB;
    }
    if (sqlite3_changes(store->db) == 0) {
        (void)buf_addf(err, "日历中没有 %s / %s is not in the calendar", day, day);
        return RC_NOT_FOUND;
    }
    return RC_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '"')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '"'))
        s[--n] = '\0';
    return s;
}

int wd_cal_import(struct db_conn *store, const char *text, size_t len, size_t *n, struct buf *err)
{
    struct db_tx tx;
    int rc = RC_OK, began = 0;
    size_t lineno = 0, count = 0;
    char *copy = xstrndup(text ? text : "", len);
    *n = 0;
    if (strlen(copy) != len) {
        (void)buf_adds(err, "文件含有 NUL 字节 / the file contains NUL bytes");
        rc = RC_INVALID;
        goto out;
    }
    if (db_tx_begin(store->db, &tx) != RC_OK) {
        (void)buf_adds(err, "数据库错误 / store error");
        rc = RC_DB;
        goto out;
    }
    began = 1;
    char *save = copy;
    while (save) {
        char *line = save, *nl = strchr(save, '\n');
        if (nl) {
            *nl = '\0';
            save = nl + 1;
        } else {
            save = NULL;
        }
        lineno++;
        if (lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3))
            line += 3;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *f[3] = {s, NULL, NULL};
        int nf = 1;
        for (char *p = s; *p && nf < 3; p++)
            if (*p == ',' || *p == '\t') {
                *p = '\0';
                f[nf++] = p + 1;
            }
        for (int i = 0; i < nf; i++)
            f[i] = trim(f[i]);
        if (lineno <= 2 && !strcmp(f[0], "day"))
            continue; /* header */
        const char *kind = nf > 1 ? f[1] : "";
        if (!strcmp(kind, "休") || !strcmp(kind, "假") || !strcmp(kind, "holiday"))
            kind = "holiday";
        else if (!strcmp(kind, "班") || !strcmp(kind, "workday"))
            kind = "workday";
        struct buf e = BUF_INIT;
        rc = check_row(f[0], kind, nf > 2 ? f[2] : "", &e);
        if (rc == RC_OK && (rc = set_row(store, f[0], kind, nf > 2 ? f[2] : "")) != RC_OK)
            (void)buf_adds(&e, "数据库错误 / store error");
        if (rc != RC_OK) {
            (void)buf_addf(err, "第 %zu 行 / line %zu: %s", lineno, lineno, buf_str(&e));
            buf_release(&e);
            goto out;
        }
        buf_release(&e);
        count++;
    }
out:
    if (began && db_tx_end(store->db, &tx, rc == RC_OK) != RC_OK && rc == RC_OK) {
        (void)buf_adds(err, "数据库错误 / store error");
        rc = RC_DB;
    }
    if (rc == RC_OK)
        *n = count;
    free(copy);
    return rc;
}
