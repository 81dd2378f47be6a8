/* Evaluating digital employees: case expectations and scoring, eval sets,
 * runs (in this thread or on the background runner's threads), the
 * case-by-case comparison of two runs and the quality gate (agents/eval.h). */
#include "agents/eval.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/runtime.h"
#include "auth/auth.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "kb/kb.h"
#include "text/norm.h"
#include "text/utf8.h"

/* ---- expectations ---- */

static int parse_strings(const json_t *arr, const char *member, char ***out, size_t *n,
                         struct buf *err)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > EVAL_CHECKS_MAX) {
        (void)buf_addf(err, "%s 须为 1–%d 个字符串的数组 / %s must be an array of 1-%d strings",
                       member, EVAL_CHECKS_MAX, member, EVAL_CHECKS_MAX);
        return RC_INVALID;
    }
    size_t k = json_array_size(arr);
    *out = xcalloc(k, sizeof **out);
    for (size_t i = 0; i < k; i++) {
        const json_t *v = json_array_get(arr, i);
        const char *s = json_string_value(v);
        size_t len = s ? json_string_length(v) : 0;
        if (!s || len == 0 || len > EVAL_CHECK_MAX || strlen(s) != len || !utf8_valid(s, len)) {
            (void)buf_addf(err,
                           "%s[%zu] 须为非空字符串（至多 %d 字节）/ %s[%zu] must be a non-empty "
                           "string of at most %d bytes",
                           member, i, EVAL_CHECK_MAX, member, i, EVAL_CHECK_MAX);
            return RC_INVALID;
        }
        (*out)[i] = xstrdup(s);
        (*n)++;
    }
    return RC_OK;
}

int eval_expect_parse(const json_t *expect, struct eval_expect *out, struct buf *err)
{
    memset(out, 0, sizeof *out);
    out->refuse = -1;
    if (!json_is_object(expect)) {
        (void)buf_adds(err, "expect 须为对象 / expect must be an object");
        return RC_INVALID;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)expect, key, v)
    {
        int rc = RC_OK;
        if (strcmp(key, "keywords") == 0)
            rc = parse_strings(v, "keywords", &out->keywords, &out->nkeywords, err);
        else if (strcmp(key, "citations") == 0)
            rc = parse_strings(v, "citations", &out->citations, &out->ncitations, err);
        else if (strcmp(key, "refuse") == 0) {
            if (!json_is_boolean(v)) {
                (void)buf_adds(err, "refuse 须为布尔值 / refuse must be true or false");
                return RC_INVALID;
            }
            out->refuse = json_is_true(v) ? 1 : 0;
        } else {
            (void)buf_addf(err, "expect 的未知成员 / unknown member of expect: %.64s", key);
            return RC_INVALID;
        }
        if (rc != RC_OK)
            return rc;
    }
    if (!out->nkeywords && !out->ncitations && out->refuse < 0) {
        (void)buf_adds(err, "expect 至少须有一项检查（keywords、citations 或 refuse）/ expect "
                            "needs at least one check (keywords, citations or refuse)");
        return RC_INVALID;
    }
    return RC_OK;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void eval_expect_release(struct eval_expect *x)
{
    if (!x)
        return;
    free_strv(x->keywords, x->nkeywords);
    free_strv(x->citations, x->ncitations);
    memset(x, 0, sizeof *x);
    x->refuse = -1;
}

/* ---- scoring ---- */

/* norm_for_match of s into out (reset first); "" on failure. */
static void match_form(const char *s, struct buf *out)
{
    buf_reset(out);
    if (s && norm_for_match(s, strlen(s), out) != RC_OK)
        buf_reset(out);
}

/* Phrases by which a model says the knowledge does not cover a question
 * (matched after norm_for_match, so case, width and spaces do not matter). */
static const char *const refusal_phrases[] = {
    "未找到",       "没有找到",         "没找到",      "未能找到",       "无法找到",
    "找不到",       "无法回答",         "不能回答",    "无法提供",       "未涉及",
    "没有涉及",     "未提及",           "没有提及",    "没有相关",       "暂无相关",
    "无相关",       "未收录",           "没有收录",    "不在知识库",     "超出了知识库",
    "超出知识库",   "知识库中没有",     "资料中没有",  "not covered",    "cannot answer",
    "can't answer", "unable to answer", "no relevant", "no information", "not found",
    "do not know",  "don't know",
};

/* How much of a model's answer is searched for a refusal phrase (its first
 * sentence, at most this many characters): a refusal says so at once; a
 * phrase later in a real answer ("若存折未找到…") is not one. */
#define REFUSAL_HEAD_CHARS 80

int eval_is_refusal(const char *answer, const char *mode)
{
    if (mode && (strcmp(mode, "none") == 0 || strcmp(mode, "blocked") == 0))
        return 1;
    if (!answer)
        return 1;
    size_t n = strlen(answer);
    while (n && (answer[0] == ' ' || answer[0] == '\n' || answer[0] == '\t' || answer[0] == '\r')) {
        answer++;
        n--;
    }
    if (n == 0)
        return 1;
    /* Extractive and FAQ answers quote the knowledge itself: they are
     * answers whatever words the quoted text contains. */
    if (mode && (strcmp(mode, "extractive") == 0 || strcmp(mode, "faq") == 0))
        return 0;
    int hit = 0;
    struct buf head = BUF_INIT, ph = BUF_INIT;
    size_t cut = utf8_prefix(answer, n, REFUSAL_HEAD_CHARS);
    /* only the first sentence */
    static const char *const stops[] = {"。", "！", "？", "；", "!", "?", ";", "\n"};
    for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
        const char *stop = strstr(answer, stops[k]);
        if (stop && (size_t)(stop - answer) < cut)
            cut = (size_t)(stop - answer);
    }
    if (norm_for_match(answer, cut, &head) != RC_OK)
        goto out;
    for (size_t i = 0; i < sizeof refusal_phrases / sizeof refusal_phrases[0] && !hit; i++) {
        match_form(refusal_phrases[i], &ph);
        if (ph.len && strstr(buf_str(&head), buf_str(&ph)))
            hit = 1;
    }
out:
    buf_release(&head);
    buf_release(&ph);
    return hit;
}

static int citation_has(const json_t *citations, const char *want_norm, struct buf *tmp)
{
    static const char *const fields[] = {"title", "cite", "label"};
    size_t i;
    json_t *c;
    json_array_foreach(citations, i, c)
    {
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            const char *s = json_string_value(json_object_get(c, fields[f]));
            if (!s)
                continue;
            match_form(s, tmp);
            if (tmp->len && strstr(buf_str(tmp), want_norm))
                return 1;
        }
    }
    return 0;
}

void eval_score_case(const struct eval_expect *x, const char *answer, const char *mode,
                     const json_t *citations, struct eval_case_score *out)
{
    double sum = 0;
    int checks = 0;
    struct buf ans = BUF_INIT, w = BUF_INIT, tmp = BUF_INIT;
    double latency = out->latency_ms;
    memset(out, 0, sizeof *out);
    out->latency_ms = latency;
    out->keyword_score = 1;
    out->citation_ok = -1;
    out->refusal_ok = -1;
    match_form(answer, &ans);
    if (x->nkeywords) {
        size_t found = 0;
        for (size_t i = 0; i < x->nkeywords; i++) {
            match_form(x->keywords[i], &w);
            if (w.len && ans.len && strstr(buf_str(&ans), buf_str(&w)))
                found++;
        }
        out->keyword_score = (double)found / (double)x->nkeywords;
        sum += out->keyword_score;
        checks++;
    }
    if (x->ncitations) {
        int ok = json_is_array(citations);
        for (size_t i = 0; ok && i < x->ncitations; i++) {
            match_form(x->citations[i], &w);
            ok = w.len && citation_has(citations, buf_str(&w), &tmp);
        }
        out->citation_ok = ok ? 1 : 0;
        sum += ok;
        checks++;
    }
    if (x->refuse >= 0) {
        out->refusal_ok = eval_is_refusal(answer, mode) == x->refuse;
        sum += out->refusal_ok;
        checks++;
    }
    out->score = checks ? sum / checks : 0;
    out->passed = out->score >= EVAL_PASS;
    buf_release(&ans);
    buf_release(&w);
    buf_release(&tmp);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the value at rank ceil(pct/100 * n), 1-based. */
static double percentile(const double *sorted, size_t n, double pct)
{
    if (!n)
        return 0;
    double r = ceil(pct / 100.0 * (double)n);
    size_t k = r < 1 ? 1 : (size_t)r;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

static json_t *share_or_null(double num, int den)
{
    return den ? json_real(num / den) : json_null();
}

json_t *eval_scores_json(const struct eval_expect *x, const struct eval_case_score *s, size_t n)
{
    double score = 0, kw = 0, cit = 0, ref = 0;
    int nkw = 0, ncit = 0, nref = 0, passed = 0, failed = 0;
    double *lat = n ? xcalloc(n, sizeof *lat) : NULL;
    for (size_t i = 0; i < n; i++) {
        score += s[i].score;
        passed += s[i].passed != 0;
        failed += s[i].failed != 0;
        if (x[i].nkeywords) {
            kw += s[i].keyword_score;
            nkw++;
        }
        if (x[i].ncitations) {
            cit += s[i].citation_ok == 1;
            ncit++;
        }
        if (x[i].refuse >= 0) {
            ref += s[i].refusal_ok == 1;
            nref++;
        }
        lat[i] = s[i].latency_ms;
    }
    if (n)
        qsort(lat, n, sizeof *lat, cmp_double);
    json_t *j = json_pack(
        "{so so so so so sf sf sI sI sI}", "score", share_or_null(score, (int)n), "pass_rate",
        share_or_null(passed, (int)n), "keyword_accuracy", share_or_null(kw, nkw),
        "citation_accuracy", share_or_null(cit, ncit), "refusal_accuracy", share_or_null(ref, nref),
        "latency_ms_p50", percentile(lat, n, 50), "latency_ms_p95", percentile(lat, n, 95), "cases",
        (json_int_t)n, "passed", (json_int_t)passed, "failed", (json_int_t)failed);
    free(lat);
    return j;
}

/* ---- sets ---- */

static int check_cases(const json_t *cases, struct buf *err)
{
    if (!json_is_array(cases) || json_array_size(cases) == 0 ||
        json_array_size(cases) > EVAL_CASES_MAX) {
        (void)buf_addf(err, "cases 须为 1–%d 个用例的数组 / cases must be an array of 1-%d cases",
                       EVAL_CASES_MAX, EVAL_CASES_MAX);
        return RC_INVALID;
    }
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (!json_is_object(c)) {
            (void)buf_addf(err, "cases[%zu] 须为对象 / cases[%zu] must be an object", i, i);
            return RC_INVALID;
        }
        const char *key;
        json_t *v;
        json_object_foreach(c, key, v)
        {
            if (strcmp(key, "question") && strcmp(key, "expect")) {
                (void)buf_addf(err, "cases[%zu] 的未知成员 / unknown member of cases[%zu]: %.64s",
                               i, i, key);
                return RC_INVALID;
            }
        }
        json_t *q = json_object_get(c, "question");
        const char *qs = json_string_value(q);
        size_t qn = qs ? json_string_length(q) : 0;
        if (!qs || qn == 0 || qn > EVAL_QUESTION_MAX || strlen(qs) != qn || !utf8_valid(qs, qn)) {
            (void)buf_addf(err,
                           "cases[%zu].question 须为非空文本（至多 %d 字节）/ cases[%zu].question "
                           "must be non-empty text of at most %d bytes",
                           i, EVAL_QUESTION_MAX, i, EVAL_QUESTION_MAX);
            return RC_INVALID;
        }
        struct eval_expect x;
        struct buf e2 = BUF_INIT;
        int rc = eval_expect_parse(json_object_get(c, "expect"), &x, &e2);
        eval_expect_release(&x);
        if (rc != RC_OK) {
            (void)buf_addf(err, "cases[%zu]: %s", i, buf_str(&e2));
            buf_release(&e2);
            return rc;
        }
        buf_release(&e2);
    }
    return RC_OK;
}

static int check_text(const char *s, size_t max, int allow_empty, const char *what, struct buf *err)
{
    size_t n = s ? strlen(s) : 0;
    if (!s || (!allow_empty && n == 0) || n > max || !utf8_valid(s, n)) {
        (void)buf_addf(err, "%s 无效（至多 %zu 字节）/ invalid %s (at most %zu bytes)", what, max,
                       what, max);
        return RC_INVALID;
    }
    return RC_OK;
}

/* Inserts the cases of set_id (already checked). RC_OK or RC_DB. */
static int insert_cases(struct db_conn *d, int64_t set_id, const json_t *cases)
{
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        sqlite3_stmt *st = db_stmt(
            d->cache,
            "INSERT INTO eval_cases(set_id, seq, question, expect) VALUES (?1, ?2, ?3, ?4)");
        char *ex = json_dumps(json_object_get(c, "expect"), JSON_COMPACT);
        if (!st || !ex) {
            free(ex);
            return RC_DB;
        }
        sqlite3_bind_int64(st, 1, set_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(c, "question")), -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, ex, -1, SQLITE_TRANSIENT);
        int step = sqlite3_step(st);
        sqlite3_reset(st);
        free(ex);
        if (step != SQLITE_DONE)
            return RC_DB;
    }
    return RC_OK;
}

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > EVAL_NAME_MAX || !utf8_valid(name, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == '/')
            return 0;
    /* a name of digits only would read as an id */
    for (size_t i = 0; i < n; i++)
        if (name[i] < '0' || name[i] > '9')
            return 1;
    return 0;
}

int eval_set_create(struct db_conn *d, int64_t agent_id, const char *name, const char *description,
                    const json_t *cases, int64_t *id, struct buf *err)
{
    int rc = RC_INVALID;
    struct db_tx tx;
    int in_tx = 0;
    if (!name_ok(name)) {
        (void)buf_addf(err,
                       "评测集名称无效（1–%d 字节，不能全为数字）/ invalid set name (1-%d bytes, "
                       "not digits only)",
                       EVAL_NAME_MAX, EVAL_NAME_MAX);
        goto out;
    }
    if (!description)
        description = "";
    if ((rc = check_text(description, EVAL_DESC_MAX, 1, "description", err)) != RC_OK ||
        (rc = check_cases(cases, err)) != RC_OK)
        goto out;
    rc = RC_DB;
    if (db_tx_begin(d->db, &tx) != RC_OK)
        goto out;
    in_tx = 1;
    sqlite3_stmt *st = db_stmt(d->cache, "INSERT INTO eval_sets(agent_id, name, description,"
                                         " created_at) VALUES (?1, ?2, ?3, ?4)");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, description, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_unix());
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_CONSTRAINT) {
        int ext = sqlite3_extended_errcode(d->db);
        if (ext == SQLITE_CONSTRAINT_UNIQUE) {
            (void)buf_addf(err, "评测集已存在 / an eval set of that name exists: %s", name);
            rc = RC_EXISTS;
        } else {
            (void)buf_adds(err, "无此数字员工 / no such agent");
            rc = RC_NOT_FOUND;
        }
        goto out;
    }
    if (step != SQLITE_DONE)
        goto out;
    int64_t set_id = sqlite3_last_insert_rowid(d->db);
    if ((rc = insert_cases(d, set_id, cases)) != RC_OK)
        goto out;
    if (id)
        *id = set_id;
    rc = RC_OK;
out:
    if (in_tx && db_tx_end(d->db, &tx, rc == RC_OK) != RC_OK && rc == RC_OK)
        rc = RC_DB;
    return rc;
}

int eval_set_find(struct db_conn *d, int64_t agent_id, const char *id_or_name, int64_t *id)
{
    int64_t n = 0;
    if (!id_or_name || !*id_or_name)
        return RC_NOT_FOUND;
    int numeric = parse_i64(id_or_name, 1, INT64_MAX, &n) == RC_OK;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT id FROM eval_sets WHERE agent_id = ?1"
                          " AND (id = ?2 OR name = ?3) ORDER BY id = ?2 DESC LIMIT 1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int64(st, 2, numeric ? n : -1);
    sqlite3_bind_text(st, 3, id_or_name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    int rc = step == SQLITE_ROW ? RC_OK : step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    if (rc == RC_OK)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc;
}

static int set_exists(struct db_conn *d, int64_t agent_id, int64_t set_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT 1 FROM eval_sets WHERE id = ?1 AND agent_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, set_id);
    sqlite3_bind_int64(st, 2, agent_id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_ROW ? RC_OK : step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int eval_set_update(struct db_conn *d, int64_t agent_id, int64_t set_id, const char *description,
                    const json_t *cases, struct buf *err)
{
    int rc;
    struct db_tx tx;
    int in_tx = 0;
    if ((description && (rc = check_text(description, EVAL_DESC_MAX, 1, "description", err))) ||
        (rc = check_cases(cases, err)) != RC_OK)
        goto out;
    rc = RC_DB;
    if (db_tx_begin(d->db, &tx) != RC_OK)
        goto out;
    in_tx = 1;
    if ((rc = set_exists(d, agent_id, set_id)) != RC_OK)
        goto out;
    rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM eval_cases WHERE set_id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, set_id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        goto out;
    if (description) {
        st = db_stmt(d->cache, "UPDATE eval_sets SET description = ?2 WHERE id = ?1");
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, set_id);
        sqlite3_bind_text(st, 2, description, -1, SQLITE_TRANSIENT);
        step = sqlite3_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_DONE)
            goto out;
    }
    rc = insert_cases(d, set_id, cases);
out:
    if (in_tx && db_tx_end(d->db, &tx, rc == RC_OK) != RC_OK && rc == RC_OK)
        rc = RC_DB;
    return rc;
}

int eval_set_delete(struct db_conn *d, int64_t agent_id, int64_t set_id)
{
    int rc = RC_DB;
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx) != RC_OK)
        return RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM eval_sets WHERE id = ?1 AND agent_id = ?2");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, set_id);
    sqlite3_bind_int64(st, 2, agent_id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(d->db) == 0) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    /* A gate over a set that is gone would block every publish. */
    st = db_stmt(d->cache, "UPDATE agents SET gate_set_id = 0, gate_min_score = 0,"
                           " updated_at = ?3 WHERE id = ?1 AND gate_set_id = ?2");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int64(st, 2, set_id);
    sqlite3_bind_int64(st, 3, now_unix());
    step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_DONE)
        rc = RC_OK;
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) != RC_OK && rc == RC_OK)
        rc = RC_DB;
    return rc;
}

int eval_set_list(struct db_conn *d, int64_t agent_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT s.id, s.name, s.description, s.created_at,"
                          " (SELECT count(*) FROM eval_cases c WHERE c.set_id = s.id),"
                          " s.id = (SELECT gate_set_id FROM agents WHERE id = s.agent_id)"
                          " FROM eval_sets s WHERE s.agent_id = ?1 ORDER BY s.id");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    json_t *arr = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(
            arr,
            json_pack("{sI ss ss sI sI sb}", "id", (json_int_t)sqlite3_column_int64(st, 0), "name",
                      (const char *)sqlite3_column_text(st, 1), "description",
                      (const char *)sqlite3_column_text(st, 2), "created_at",
                      (json_int_t)sqlite3_column_int64(st, 3), "cases",
                      (json_int_t)sqlite3_column_int64(st, 4), "gate", sqlite3_column_int(st, 5)));
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}

/* Parses stored JSON text; a JSON null when it does not parse. */
static json_t *stored_json(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    return j ? j : json_null();
}

int eval_set_json(struct db_conn *d, int64_t agent_id, int64_t set_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT name, description, created_at FROM eval_sets"
                                         " WHERE id = ?1 AND agent_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, set_id);
    sqlite3_bind_int64(st, 2, agent_id);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        sqlite3_reset(st);
        return step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    }
    json_t *j = json_pack("{sI ss ss sI}", "id", (json_int_t)set_id, "name",
                          (const char *)sqlite3_column_text(st, 0), "description",
                          (const char *)sqlite3_column_text(st, 1), "created_at",
                          (json_int_t)sqlite3_column_int64(st, 2));
    sqlite3_reset(st);
    json_t *cases = json_array();
    json_object_set_new(j, "cases", cases);
    st = db_stmt(d->cache,
                 "SELECT id, seq, question, expect FROM eval_cases WHERE set_id = ?1 ORDER BY seq");
    if (!st) {
        json_decref(j);
        return RC_DB;
    }
    sqlite3_bind_int64(st, 1, set_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(cases, json_pack("{sI sI ss so}", "id",
                                               (json_int_t)sqlite3_column_int64(st, 0), "seq",
                                               (json_int_t)sqlite3_column_int64(st, 1), "question",
                                               (const char *)sqlite3_column_text(st, 2), "expect",
                                               stored_json(st, 3)));
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(j);
        return RC_DB;
    }
    *out = j;
    return RC_OK;
}

/* ---- runs ---- */

int eval_run_create(struct db_conn *d, const struct auth_principal *who, const struct agent *a,
                    int version, int64_t set_id, int no_model, int64_t *run_id, struct buf *err)
{
    int rc = RC_DB;
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx) != RC_OK)
        return RC_DB;
    sqlite3_stmt *st;
    int step;
    if (version <= 0) {
        st = db_stmt(d->cache, "SELECT max(version) FROM agent_versions WHERE agent_id = ?1");
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, a->id);
        step = sqlite3_step(st);
        version = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_reset(st);
        if (version < 0)
            goto out;
    }
    st = db_stmt(d->cache, "SELECT 1 FROM agent_versions WHERE agent_id = ?1 AND version = ?2");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int(st, 2, version);
    step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
        if (rc == RC_NOT_FOUND)
            (void)buf_addf(err, "无此版本 / no such version: %d", version);
        goto out;
    }
    st = db_stmt(d->cache, "SELECT (SELECT count(*) FROM eval_cases WHERE set_id = s.id)"
                           " FROM eval_sets s WHERE s.id = ?1 AND s.agent_id = ?2");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, set_id);
    sqlite3_bind_int64(st, 2, a->id);
    step = sqlite3_step(st);
    int64_t total = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
        if (rc == RC_NOT_FOUND)
            (void)buf_adds(err, "无此评测集 / no such eval set");
        goto out;
    }
    if (total == 0) {
        (void)buf_adds(err, "评测集没有用例 / the eval set has no cases");
        rc = RC_INVALID;
        goto out;
    }
    st = db_stmt(d->cache, "INSERT INTO eval_runs(agent_id, version, set_id, status, total, done,"
                           " no_model, created_by, created_at)"
                           " VALUES (?1, ?2, ?3, 'queued', ?4, 0, ?5, ?6, ?7)");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int64(st, 3, set_id);
    sqlite3_bind_int64(st, 4, total);
    sqlite3_bind_int(st, 5, no_model ? 1 : 0);
    sqlite3_bind_int64(st, 6, who ? who->user_id : 0);
    sqlite3_bind_int64(st, 7, now_unix());
    step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        goto out;
    if (run_id)
        *run_id = sqlite3_last_insert_rowid(d->db);
    rc = RC_OK;
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) != RC_OK && rc == RC_OK)
        rc = RC_DB;
    return rc;
}

struct run_case {
    int64_t id;
    char *question;
    char *expect; /* as stored, kept with each result */
    struct eval_expect x;
};

struct run_row {
    int64_t agent_id, set_id;
    int version, no_model;
    char status[16];
};

static int load_run(struct db_conn *d, int64_t run_id, struct run_row *out)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT agent_id, set_id, version, no_model, status"
                                         " FROM eval_runs WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, run_id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->agent_id = sqlite3_column_int64(st, 0);
        out->set_id = sqlite3_column_int64(st, 1);
        out->version = sqlite3_column_int(st, 2);
        out->no_model = sqlite3_column_int(st, 3);
        const char *s = (const char *)sqlite3_column_text(st, 4);
        snprintf(out->status, sizeof out->status, "%s", s ? s : "");
    }
    sqlite3_reset(st);
    return step == SQLITE_ROW ? RC_OK : step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

static int run_set_status(struct db_conn *d, int64_t run_id, const char *status, const char *error,
                          const char *scores)
{
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE eval_runs SET status = ?2, error = ?3,"
                                         " scores = coalesce(?4, scores), finished_at = ?5"
                                         " WHERE id = ?1 AND status IN ('queued', 'running')");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, error ? error : "", -1, SQLITE_TRANSIENT);
    if (scores)
        sqlite3_bind_text(st, 4, scores, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, now_unix());
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_DONE ? RC_OK : RC_DB;
}

static int load_cases(struct db_conn *d, int64_t set_id, struct run_case **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    sqlite3_stmt *st = db_stmt(
        d->cache, "SELECT id, question, expect FROM eval_cases WHERE set_id = ?1 ORDER BY seq");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, set_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        *out = xgrow(*out, &cap, *n + 1, sizeof **out);
        struct run_case *c = &(*out)[(*n)++];
        memset(c, 0, sizeof *c);
        c->id = sqlite3_column_int64(st, 0);
        c->question = db_col_str(st, 1);
        c->expect = db_col_str(st, 2);
        json_t *ex = stored_json(st, 2);
        struct buf e = BUF_INIT;
        if (eval_expect_parse(ex, &c->x, &e) != RC_OK) /* validated when stored */
            log_warn("eval: case %lld: %s", (long long)c->id, buf_str(&e));
        buf_release(&e);
        json_decref(ex);
    }
    sqlite3_reset(st);
    return step == SQLITE_DONE ? RC_OK : RC_DB;
}

static void free_cases(struct run_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].question);
        free(c[i].expect);
        eval_expect_release(&c[i].x);
    }
    free(c);
}

static int store_result(struct db_conn *d, int64_t run_id, const struct run_case *c,
                        const char *answer, const json_t *citations,
                        const struct eval_case_score *s, const char *error)
{
    char *cit = citations ? json_dumps(citations, JSON_COMPACT) : NULL;
    sqlite3_stmt *st = db_stmt(
        d->cache, "INSERT OR REPLACE INTO eval_results(run_id, case_id, answer, citations,"
                  " keyword_score, citation_ok, refusal_ok, score, passed, latency_ms, error,"
                  " question, expect)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    int rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, c->id);
    sqlite3_bind_text(st, 3, answer ? answer : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, cit ? cit : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 5, s->keyword_score);
    sqlite3_bind_int(st, 6, s->citation_ok);
    sqlite3_bind_int(st, 7, s->refusal_ok);
    sqlite3_bind_double(st, 8, s->score);
    sqlite3_bind_int(st, 9, s->passed);
    sqlite3_bind_double(st, 10, s->latency_ms);
    sqlite3_bind_text(st, 11, error ? error : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 12, c->question ? c->question : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, c->expect ? c->expect : "{}", -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? RC_OK : RC_DB;
    sqlite3_reset(st);
out:
    free(cit);
    return rc;
}

static int run_progress(struct db_conn *d, int64_t run_id, int done, int total, int *cancelled)
{
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE eval_runs SET done = ?2, total = ?3"
                                         " WHERE id = ?1 RETURNING status");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, done);
    sqlite3_bind_int(st, 3, total);
    int step = sqlite3_step(st);
    const char *s = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    *cancelled = !s || strcmp(s, "running") != 0;
    while (step == SQLITE_ROW)
        step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_DONE ? RC_OK : RC_DB;
}

/* Runs run_id as who; stop (may be NULL) set: stop between cases and fail
 * the run (the server is stopping). */
static int run_exec(struct agent_runtime *rt, struct kb_conn *c, const struct auth_principal *who,
                    int64_t run_id, void (*progress)(void *ctx, int done, int total), void *ctx,
                    const atomic_int *stop, struct buf *err)
{
    struct db_conn *d = kb_conn_store(c);
    struct run_row row;
    struct agent a;
    struct agent_version v;
    int have_agent = 0, have_version = 0;
    struct run_case *cases = NULL;
    size_t n = 0;
    struct eval_case_score *sc = NULL;
    struct eval_expect *xs = NULL;
    const char *fail = NULL;
    struct buf why = BUF_INIT;
    char idbuf[32];
    int rc = load_run(d, run_id, &row);
    if (rc != RC_OK)
        goto out;
    if (strcmp(row.status, "queued") && strcmp(row.status, "running"))
        goto out; /* cancelled before it started: nothing to do */
    {
        sqlite3_stmt *st = db_stmt(d->cache, "UPDATE eval_runs SET status = 'running',"
                                             " started_at = ?2 WHERE id = ?1"
                                             " AND status IN ('queued', 'running')");
        if (!st) {
            rc = RC_DB;
            goto out;
        }
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, now_unix());
        int step = sqlite3_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_DONE) {
            rc = RC_DB;
            goto out;
        }
    }
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)row.agent_id);
    memset(&a, 0, sizeof a);
    memset(&v, 0, sizeof v);
    if (agent_get_for(d, NULL, idbuf, &a) != RC_OK) {
        fail = "数字员工已不存在 / the agent no longer exists";
        goto out;
    }
    have_agent = 1;
    if (agent_version_get(d, row.agent_id, row.version, &v, &why) != RC_OK) {
        fail = buf_str(&why)[0] ? buf_str(&why) : "版本不存在 / the version does not exist";
        goto out;
    }
    have_version = 1;
    if ((rc = load_cases(d, row.set_id, &cases, &n)) != RC_OK)
        goto out;
    if (n == 0) {
        fail = "评测集没有用例 / the eval set has no cases";
        goto out;
    }
    sc = xcalloc(n, sizeof *sc);
    xs = xcalloc(n, sizeof *xs);
    int cancelled = 0;
    if ((rc = run_progress(d, run_id, 0, (int)n, &cancelled)) != RC_OK)
        goto out;
    for (size_t i = 0; i < n && !cancelled; i++) {
        if (stop && atomic_load(stop)) {
            fail = "服务已停止 / the server stopped";
            goto out;
        }
        xs[i] = cases[i].x; /* borrowed: not released through xs */
        struct agent_run_request rq;
        memset(&rq, 0, sizeof rq);
        rq.who = who;
        rq.ip = "eval";
        rq.agent = &a;
        rq.version = &v;
        rq.question = cases[i].question;
        rq.no_model = row.no_model;
        rq.eval_run_id = run_id;
        struct assist_answer ans;
        memset(&ans, 0, sizeof ans);
        struct buf e = BUF_INIT;
        double t0 = now_ms();
        int arc = agent_run(rt, c, &rq, NULL, NULL, &ans, NULL, &e);
        double took = now_ms() - t0;
        sc[i].latency_ms = ans.latency_ms > 0 ? ans.latency_ms : took;
        if (arc == RC_OK) {
            eval_score_case(&cases[i].x, ans.text, ans.mode, ans.citations, &sc[i]);
        } else {
            double lat = sc[i].latency_ms;
            memset(&sc[i], 0, sizeof sc[i]);
            sc[i].latency_ms = lat;
            sc[i].keyword_score = 0;
            sc[i].citation_ok = cases[i].x.ncitations ? 0 : -1;
            sc[i].refusal_ok = cases[i].x.refuse >= 0 ? 0 : -1;
            sc[i].failed = 1;
            if (!e.len)
                (void)buf_adds(&e, rc_code(arc));
        }
        rc = store_result(d, run_id, &cases[i], arc == RC_OK ? ans.text : "",
                          arc == RC_OK ? ans.citations : NULL, &sc[i],
                          arc == RC_OK ? "" : buf_str(&e));
        assist_answer_release(&ans);
        buf_release(&e);
        if (rc != RC_OK)
            goto out;
        if ((rc = run_progress(d, run_id, (int)i + 1, (int)n, &cancelled)) != RC_OK)
            goto out;
        if (progress)
            progress(ctx, (int)i + 1, (int)n);
    }
    if (cancelled) {
        rc = RC_OK;
        goto out;
    }
    {
        json_t *j = eval_scores_json(xs, sc, n);
        char *txt = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        rc = txt ? run_set_status(d, run_id, "done", "", txt) : RC_INTERNAL;
        free(txt);
    }
out:
    if (fail) {
        (void)buf_adds(err, fail);
        rc = run_set_status(d, run_id, "failed", fail, NULL) == RC_OK ? RC_INTERNAL : RC_DB;
    } else if (rc != RC_OK && rc != RC_NOT_FOUND) {
        if (!err->len)
            (void)buf_addf(err, "评测失败 / the run failed: %s", rc_code(rc));
        (void)run_set_status(d, run_id, "failed", buf_str(err), NULL);
    }
    free(sc);
    free(xs);
    free_cases(cases, n);
    if (have_version)
        agent_version_release(&v);
    if (have_agent)
        agent_release(&a);
    buf_release(&why);
    return rc;
}

int eval_run_exec(struct agent_runtime *rt, struct kb_conn *c, const struct auth_principal *who,
                  int64_t run_id, void (*progress)(void *ctx, int done, int total), void *ctx,
                  struct buf *err)
{
    return run_exec(rt, c, who, run_id, progress, ctx, NULL, err);
}

static json_t *run_scores(struct db_conn *d, int64_t run_id, char status[16])
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT status, scores FROM eval_runs WHERE id = ?1");
    json_t *j = NULL;
    status[0] = '\0';
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        snprintf(status, 16, "%s", s ? s : "");
        j = stored_json(st, 1);
    }
    sqlite3_reset(st);
    return j;
}

int eval_run_sync(struct agent_runtime *rt, struct kb_conn *c, const struct auth_principal *who,
                  const struct agent *a, int version, int64_t set_id, int no_model,
                  void (*progress)(void *ctx, int done, int total), void *ctx, int64_t *run_id,
                  json_t **scores, struct buf *err)
{
    int64_t id = 0;
    if (scores)
        *scores = NULL;
    int rc = eval_run_create(kb_conn_store(c), who, a, version, set_id, no_model, &id, err);
    if (rc != RC_OK)
        return rc;
    if (run_id)
        *run_id = id;
    rc = run_exec(rt, c, who, id, progress, ctx, NULL, err);
    if (rc == RC_OK && scores) {
        char status[16];
        json_t *j = run_scores(kb_conn_store(c), id, status);
        if (j && strcmp(status, "done") == 0)
            *scores = j;
        else
            json_decref(j);
    }
    return rc;
}

int eval_run_cancel(struct db_conn *d, int64_t agent_id, int64_t run_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE eval_runs SET status = 'cancelled',"
                                         " finished_at = ?3 WHERE id = ?1 AND agent_id = ?2"
                                         " AND status IN ('queued', 'running')");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, agent_id);
    sqlite3_bind_int64(st, 3, now_unix());
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return RC_DB;
    if (sqlite3_changes(d->db) > 0)
        return RC_OK;
    st = db_stmt(d->cache, "SELECT 1 FROM eval_runs WHERE id = ?1 AND agent_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, agent_id);
    step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_ROW ? RC_EXISTS : step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

#define RUN_COLS                                                                                   \
    "r.id, r.agent_id, r.version, r.set_id, coalesce(s.name, ''), r.status, r.total, r.done,"      \
    " r.scores, r.error, r.no_model, r.created_by, r.created_at, r.started_at, r.finished_at"

static json_t *run_row_json(sqlite3_stmt *st)
{
    return json_pack(
        "{sI sI si sI ss ss si si so ss sb sI sI sI sI}", "id",
        (json_int_t)sqlite3_column_int64(st, 0), "agent_id",
        (json_int_t)sqlite3_column_int64(st, 1), "version", sqlite3_column_int(st, 2), "set_id",
        (json_int_t)sqlite3_column_int64(st, 3), "set", (const char *)sqlite3_column_text(st, 4),
        "status", (const char *)sqlite3_column_text(st, 5), "total", sqlite3_column_int(st, 6),
        "done", sqlite3_column_int(st, 7), "scores", stored_json(st, 8), "error",
        (const char *)sqlite3_column_text(st, 9), "no_model", sqlite3_column_int(st, 10),
        "created_by", (json_int_t)sqlite3_column_int64(st, 11), "created_at",
        (json_int_t)sqlite3_column_int64(st, 12), "started_at",
        (json_int_t)sqlite3_column_int64(st, 13), "finished_at",
        (json_int_t)sqlite3_column_int64(st, 14));
}

static json_t *ok_or_null(sqlite3_stmt *st, int col)
{
    int v = sqlite3_column_int(st, col);
    return v < 0 ? json_null() : json_boolean(v);
}

/* The results of a run: [{…}] by case order, or NULL on a store error. */
static json_t *run_results(struct db_conn *d, int64_t run_id)
{
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT e.case_id, c.seq, e.question, e.expect, e.answer, e.citations,"
                          " e.keyword_score, e.citation_ok, e.refusal_ok, e.score, e.passed,"
                          " e.latency_ms, e.error FROM eval_results e"
                          " LEFT JOIN eval_cases c ON c.id = e.case_id"
                          " WHERE e.run_id = ?1 ORDER BY coalesce(c.seq, 1e9), e.case_id");
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, run_id);
    json_t *arr = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int has_case = sqlite3_column_type(st, 1) != SQLITE_NULL;
        json_array_append_new(
            arr,
            json_pack("{sI so so so ss so sf so so sf sb sf ss}", "case_id",
                      (json_int_t)sqlite3_column_int64(st, 0), "seq",
                      has_case ? json_integer(sqlite3_column_int64(st, 1)) : json_null(),
                      "question", json_string((const char *)sqlite3_column_text(st, 2)), "expect",
                      stored_json(st, 3), "answer", (const char *)sqlite3_column_text(st, 4),
                      "citations", stored_json(st, 5), "keyword_score",
                      sqlite3_column_double(st, 6), "citation_ok", ok_or_null(st, 7), "refusal_ok",
                      ok_or_null(st, 8), "score", sqlite3_column_double(st, 9), "passed",
                      sqlite3_column_int(st, 10), "latency_ms", sqlite3_column_double(st, 11),
                      "error", (const char *)sqlite3_column_text(st, 12)));
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

int eval_run_json(struct db_conn *d, int64_t agent_id, int64_t run_id, int with_results,
                  json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " RUN_COLS " FROM eval_runs r"
                                         " LEFT JOIN eval_sets s ON s.id = r.set_id"
                                         " WHERE r.id = ?1 AND r.agent_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, agent_id);
    int step = sqlite3_step(st);
    json_t *j = step == SQLITE_ROW ? run_row_json(st) : NULL;
    sqlite3_reset(st);
    if (!j)
        return step == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    if (with_results) {
        json_t *res = run_results(d, run_id);
        if (!res) {
            json_decref(j);
            return RC_DB;
        }
        json_object_set_new(j, "results", res);
    }
    *out = j;
    return RC_OK;
}

int eval_run_list(struct db_conn *d, int64_t agent_id, int limit, json_t **out)
{
    *out = NULL;
    if (limit <= 0 || limit > 1000)
        limit = 100;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " RUN_COLS " FROM eval_runs r"
                                         " LEFT JOIN eval_sets s ON s.id = r.set_id"
                                         " WHERE r.agent_id = ?1 ORDER BY r.id DESC LIMIT ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int(st, 2, limit);
    json_t *arr = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, run_row_json(st));
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}

int eval_runs_recover(struct db_conn *d)
{
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE eval_runs SET status = 'failed', finished_at = ?1,"
                                         " error = '服务重启，评测中断 / interrupted by a restart'"
                                         " WHERE status = 'running'");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_unix());
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_DONE ? sqlite3_changes(d->db) : -1;
}

/* ---- compare ---- */

static json_t *side_json(json_t *r)
{
    if (!r)
        return json_null();
    return json_pack("{sO sO sO}", "score", json_object_get(r, "score"), "passed",
                     json_object_get(r, "passed"), "answer", json_object_get(r, "answer"));
}

/* The result of the same case in another run: the same case id, or (a set
 * whose cases were replaced in between) the same question. */
static json_t *find_case(json_t *results, const json_t *like)
{
    json_int_t case_id = json_integer_value(json_object_get(like, "case_id"));
    const char *q = json_string_value(json_object_get(like, "question"));
    size_t i;
    json_t *r, *same_q = NULL;
    json_array_foreach(results, i, r)
    {
        if (json_integer_value(json_object_get(r, "case_id")) == case_id)
            return r;
        const char *rq = json_string_value(json_object_get(r, "question"));
        if (!same_q && q && *q && rq && strcmp(q, rq) == 0)
            same_q = r;
    }
    return same_q;
}

int eval_compare(struct db_conn *d, int64_t agent_id, int64_t run_a, int64_t run_b, json_t **out,
                 struct buf *err)
{
    json_t *a = NULL, *b = NULL, *res = NULL;
    *out = NULL;
    int rc = eval_run_json(d, agent_id, run_a, 1, &a);
    if (rc == RC_OK)
        rc = eval_run_json(d, agent_id, run_b, 1, &b);
    if (rc != RC_OK) {
        if (rc == RC_NOT_FOUND)
            (void)buf_adds(err, "无此评测运行 / no such eval run");
        goto out;
    }
    if (json_integer_value(json_object_get(a, "set_id")) !=
        json_integer_value(json_object_get(b, "set_id"))) {
        (void)buf_adds(err, "两次运行的评测集不同 / the two runs are over different eval sets");
        rc = RC_INVALID;
        goto out;
    }
    json_t *ra = json_object_get(a, "results"), *rb = json_object_get(b, "results");
    json_t *cases = json_array();
    int improved = 0, regressed = 0, same = 0;
    /* every case of a in order, then the ones only b has */
    for (int pass = 0; pass < 2; pass++) {
        json_t *src = pass == 0 ? ra : rb;
        size_t i;
        json_t *r;
        json_array_foreach(src, i, r)
        {
            json_int_t cid = json_integer_value(json_object_get(r, "case_id"));
            json_t *x = pass == 0 ? r : find_case(ra, r);
            json_t *y = pass == 0 ? find_case(rb, r) : r;
            if (pass == 1 && x)
                continue;
            double sx = x ? json_number_value(json_object_get(x, "score")) : 0;
            double sy = y ? json_number_value(json_object_get(y, "score")) : 0;
            int px = x && json_is_true(json_object_get(x, "passed"));
            int py = y && json_is_true(json_object_get(y, "passed"));
            const char *change = "same";
            if (sy > sx + 1e-9 || (py && !px))
                change = "improved";
            else if (sy < sx - 1e-9 || (px && !py))
                change = "regressed";
            improved += change[0] == 'i';
            regressed += change[0] == 'r';
            same += change[0] == 's';
            json_array_append_new(cases,
                                  json_pack("{sI sO sO so so ss}", "case_id", cid, "seq",
                                            json_object_get(r, "seq"), "question",
                                            json_object_get(r, "question"), "a", side_json(x), "b",
                                            side_json(y), "change", change));
        }
    }
    json_object_del(a, "results");
    json_object_del(b, "results");
    res = json_pack("{so so so si si si}", "a", a, "b", b, "cases", cases, "improved", improved,
                    "regressed", regressed, "same", same);
    a = b = NULL;
    *out = res;
    rc = RC_OK;
out:
    json_decref(a);
    json_decref(b);
    return rc;
}

/* ---- the quality gate ---- */

int eval_gate_check(struct db_conn *d, const struct agent *a, int version, struct buf *err)
{
    if (a->gate_set_id <= 0 || a->gate_min_score <= 0)
        return RC_OK;
    sqlite3_stmt *st =
        db_stmt(d->cache,
                "SELECT r.id, r.scores, coalesce(s.name, '') FROM eval_runs r"
                " LEFT JOIN eval_sets s ON s.id = r.set_id"
                " WHERE r.agent_id = ?1 AND r.version = ?2 AND r.set_id = ?3 AND r.status = 'done'"
                " ORDER BY r.id DESC LIMIT 1");
    if (!st) {
        (void)buf_adds(err, "数据库错误 / store error");
        return RC_DB;
    }
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int64(st, 3, a->gate_set_id);
    int step = sqlite3_step(st);
    int rc;
    if (step == SQLITE_DONE) {
        (void)buf_addf(err,
                       "质量门禁：版本 %d 尚无在门禁评测集上完成的评测（门槛 %.2f）/ quality gate: "
                       "version %d has no finished run over the gate set (threshold %.2f)",
                       version, a->gate_min_score, version, a->gate_min_score);
        rc = RC_DENIED;
    } else if (step != SQLITE_ROW) {
        (void)buf_adds(err, "数据库错误 / store error");
        rc = RC_DB;
    } else {
        json_t *sc = stored_json(st, 1);
        json_t *v = json_object_get(sc, "score");
        double score = json_is_number(v) ? json_number_value(v) : 0;
        const char *set = (const char *)sqlite3_column_text(st, 2);
        long long run = (long long)sqlite3_column_int64(st, 0);
        if (score + 1e-9 >= a->gate_min_score) {
            rc = RC_OK;
        } else {
            (void)buf_addf(err,
                           "质量门禁未通过：版本 %d 在评测集 %s 上得分 %.3f（运行 %lld），低于门槛 "
                           "%.2f / quality gate: version %d scored %.3f on set %s (run %lld), "
                           "below %.2f",
                           version, set, score, run, a->gate_min_score, version, score, set, run,
                           a->gate_min_score);
            rc = RC_DENIED;
        }
        json_decref(sc);
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- the background runner ---- */

struct eval_runner {
    const struct config *cfg;
    struct kb_engine *eng;
    struct gw *gw;
    struct safety *safety;
    struct audit_writer *audit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicks;
    atomic_int stop;
    pthread_t *threads;
    int nthreads;
};

/* Claims the oldest queued run: its id and creator, or 0. */
static int64_t claim_run(struct db_conn *d, int64_t *created_by)
{
    sqlite3_stmt *st =
        db_stmt(d->cache, "UPDATE eval_runs SET status = 'running', started_at = ?1"
                          " WHERE id = (SELECT id FROM eval_runs WHERE status = 'queued'"
                          " ORDER BY id LIMIT 1) AND status = 'queued' RETURNING id, created_by");
    if (!st)
        return 0;
    sqlite3_bind_int64(st, 1, now_unix());
    int64_t id = 0;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        *created_by = sqlite3_column_int64(st, 1);
        while (step == SQLITE_ROW)
            step = sqlite3_step(st);
    }
    sqlite3_reset(st);
    return step == SQLITE_DONE ? id : 0;
}

static void *runner_main(void *arg)
{
    struct eval_runner *r = arg;
    struct kb_conn *c = NULL;
    struct agent_runtime *rt = NULL;
    struct buf err = BUF_INIT;
    if (kb_conn_open(r->eng, &c, &err) != RC_OK ||
        agent_runtime_new(r->cfg, r->gw, r->safety, r->audit, &rt, &err) != RC_OK) {
        log_error("eval: the runner cannot start: %s", buf_str(&err));
        goto out;
    }
    while (!atomic_load(&r->stop)) {
        struct db_conn *d = kb_conn_store(c);
        int64_t by = 0;
        int64_t id = claim_run(d, &by);
        if (id) {
            struct auth_principal who;
            buf_reset(&err);
            if (by <= 0 || auth_principal_load(d, by, &who) != RC_OK) {
                (void)run_set_status(d, id, "failed",
                                     "发起评测的用户已不存在或已停用 / the user who started "
                                     "the run no longer exists or is disabled",
                                     NULL);
                continue;
            }
            log_info("eval: run %lld started", (long long)id);
            int rc = run_exec(rt, c, &who, id, NULL, NULL, &r->stop, &err);
            log_info("eval: run %lld ended (%s)", (long long)id, rc_code(rc));
            continue;
        }
        pthread_mutex_lock(&r->mu);
        if (!r->kicks && !atomic_load(&r->stop)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            (void)pthread_cond_timedwait(&r->cv, &r->mu, &until);
        }
        if (r->kicks)
            r->kicks--;
        pthread_mutex_unlock(&r->mu);
    }
out:
    if (rt)
        agent_runtime_free(rt);
    kb_conn_close(c);
    buf_release(&err);
    return NULL;
}

int eval_runner_start(const struct config *cfg, struct kb_engine *eng, struct gw *gw,
                      struct safety *safety, struct audit_writer *audit, struct eval_runner **out,
                      struct buf *err)
{
    int rc = RC_DB;
    struct kb_conn *c = NULL;
    *out = NULL;
    if (kb_conn_open(eng, &c, err) != RC_OK)
        goto out;
    int n = eval_runs_recover(kb_conn_store(c));
    if (n < 0) {
        (void)buf_adds(err, "无法恢复评测运行 / cannot recover eval runs");
        goto out;
    }
    if (n > 0)
        log_warn("eval: %d run(s) interrupted by the last stop marked failed", n);
    struct eval_runner *r = xcalloc(1, sizeof *r);
    r->cfg = cfg;
    r->eng = eng;
    r->gw = gw;
    r->safety = safety;
    r->audit = audit;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_init(&r->stop, 0);
    int want = cfg->eval_workers > 0 ? cfg->eval_workers : 1;
    if (want > 16)
        want = 16;
    r->threads = xcalloc((size_t)want, sizeof *r->threads);
    for (int i = 0; i < want; i++) {
        if (pthread_create(&r->threads[i], NULL, runner_main, r) != 0)
            break;
        r->nthreads++;
    }
    if (r->nthreads == 0) {
        eval_runner_stop(r);
        (void)buf_adds(err, "无法启动评测线程 / cannot start the eval threads");
        rc = RC_INTERNAL;
        goto out;
    }
    *out = r;
    rc = RC_OK;
out:
    kb_conn_close(c);
    return rc;
}

void eval_runner_kick(struct eval_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->kicks++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void eval_runner_stop(struct eval_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    atomic_store(&r->stop, 1);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    free(r->threads);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
