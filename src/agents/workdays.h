/* The workdays tool: date arithmetic on the bank's working-day calendar.
 * Dates are YYYY-MM-DD, proleptic Gregorian, years WD_YEAR_MIN..WD_YEAR_MAX.
 * Saturdays and Sundays are rest days; rows of calendar_days override that
 * (kind "holiday": a rest day even on a weekday; kind "workday": a weekend
 * day made a working day, 调休). For a year with no rows in calendar_days
 * the built-in PRC public-holiday schedule is used (2025 and 2026, from the
 * State Council notices); later years must be loaded by the bank. */
#ifndef ATRIUM_AGENTS_WORKDAYS_H
#define ATRIUM_AGENTS_WORKDAYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/db.h"

#define WD_YEAR_MIN 1900
#define WD_YEAR_MAX 2200
#define WD_MAX_DAYS 36600 /* |n| of add_days / add_workdays, about 100 years */

/* A day number: days since 1970-01-01 (may be negative). */
typedef int32_t wd_day;

/* Parses "YYYY-MM-DD" (exactly that shape, a real date in range).
 * RC_OK or RC_INVALID with a message in err (may be NULL). */
int wd_parse(const char *s, wd_day *out, struct buf *err);
/* Writes "YYYY-MM-DD" into out (at least 11 bytes). */
void wd_format(wd_day d, char out[11]);
void wd_ymd(wd_day d, int *y, int *m, int *dd);
/* 0 = Monday … 6 = Sunday. */
int wd_weekday(wd_day d);
/* "星期一" … "星期日". */
const char *wd_weekday_zh(wd_day d);

/* The calendar: the overrides of the years asked about, loaded lazily from
 * calendar_days (or the built-in schedule for a year with no rows). One per
 * tool call; not thread-safe. store may be NULL: built-ins only. */
struct wd_cal;
struct wd_cal *wd_cal_new(struct db_conn *store);
void wd_cal_free(struct wd_cal *c);
/* 1 when d is a working day, 0 when a rest day, <0 (an RC negated) when the
 * store failed. *name (may be NULL) gets the holiday or 调休 name, borrowed
 * from the calendar, or "" for an ordinary day. */
int wd_is_workday(struct wd_cal *c, wd_day d, const char **name);

/* Whether a built-in schedule exists for year. */
int wd_builtin_has_year(int year);
/* The built-in rows of a year as [{"day","kind","name"}] (new reference). */
json_t *wd_builtin_json(int year);

/* Whether year has its holidays: 1 rows in calendar_days, 2 the built-in
 * schedule, 0 neither (the tool counts weekends only there), or an RC
 * negated (-RC_INVALID out of range, -RC_DB). */
int wd_year_holidays(struct db_conn *store, int year);
/* The years to load, seen on day (year, month 1..12): this year and, from
 * November (the State Council's notice for the next year comes out late in
 * the year), the next one, when they have neither rows nor a built-in
 * schedule. Returns how many were written to out. `atrium serve` logs them
 * as it starts. */
size_t wd_years_to_load(struct db_conn *store, int year, int month, int out[2]);

/* The tool. args {"op":…,"date":"YYYY-MM-DD",…}:
 *   is_workday {date}                   → {"result":true|false,"weekday","name"?}
 *   add_days {date,days}                → {"result":"YYYY-MM-DD","weekday"}
 *   add_workdays {date,days}            → the |days|-th working day after
 *                                         (days > 0) or before (< 0) date; days 0
 *                                         = date itself when a working day, else
 *                                         the next one
 *   workdays_between {date,end,inclusive?} → working days d with
 *                                         date < d <= end (default), or
 *                                         date <= d <= end with inclusive:true;
 *                                         negative when end < date
 *   next_workday {date}                 → the first working day after date
 *   add_months {date,months}            → end-of-month clamp (01-31 + 1 = 02-28/29)
 *   day_of_week {date}                  → {"result":"星期三","iso":3}
 * Every answer also carries "op" and the input date, and, when it looked at
 * a year with no holidays loaded (wd_year_holidays 0), "holidays_missing"
 * (those years) and a zh/en "note" saying it counted weekends only. RC_OK
 * with a new reference in *out; RC_INVALID (message in err), RC_DB. */
int wd_tool(struct db_conn *store, const json_t *args, json_t **out, struct buf *err);

/* ---- calendar_days administration (the API and the CLI) ---- */
/* [{"day","kind","name"}] of a year's rows in calendar_days, by day; when
 * the year has none and a built-in schedule exists, those rows with
 * "builtin":true. RC_OK or RC_DB / RC_INVALID (year out of range). */
int wd_cal_list(struct db_conn *store, int year, json_t **out, struct buf *err);
/* Inserts or replaces one row. kind "holiday" or "workday"; name up to 64
 * characters. RC_OK, RC_INVALID, RC_DB. Joins a caller's transaction. */
int wd_cal_set(struct db_conn *store, const char *day, const char *kind, const char *name,
               struct buf *err);
/* Deletes one row. RC_OK, RC_NOT_FOUND, RC_INVALID, RC_DB. */
int wd_cal_delete(struct db_conn *store, const char *day, struct buf *err);
/* Imports "day,kind,name" lines (CSV or text; '#' comments and blank lines
 * ignored; an optional header line "day,kind,name"; kind also accepted as
 * 休/假/holiday and 班/workday). All or nothing, in one transaction (a
 * savepoint inside a caller's). *n gets the number of rows. RC_INVALID
 * with the line number in err. */
int wd_cal_import(struct db_conn *store, const char *text, size_t len, size_t *n, struct buf *err);

#endif
