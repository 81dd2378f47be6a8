/* The evaluation service: question-set parsing (bankregs / cmrc2018 JSONL),
 * relevance judgement, metric aggregation and the run loop over kb_search
 * and kb_ask. Everything except eval_run and eval_answer_matches is pure and
 * unit-tested on synthetic rankings. */
#include "kb/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/cnum.h"
#include "text/norm.h"

#define EVAL_FIELD_MAX 8192 /* bytes per string field */

/* ---- parsing ---- */

static void free_list(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

void eval_question_release(struct eval_question *q)
{
    if (!q)
        return;
    free(q->id);
    free(q->question);
    free(q->gold_doc);
    free_list(q->articles, q->narticles);
    free_list(q->answers, q->nanswers);
    free(q->type);
    memset(q, 0, sizeof *q);
}

/* A string (or integer, for ids) field as a fresh trimmed-free copy. */
static int take_str(json_t *v, const char *what, int allow_int, char **out, struct buf *err)
{
    *out = NULL;
    if (json_is_integer(v) && allow_int) {
        struct buf b = BUF_INIT;
        int rc = buf_addf(&b, "%lld", (long long)json_integer_value(v));
        if (rc) {
            buf_release(&b);
            return rc;
        }
        *out = buf_detach(&b, NULL);
        return RC_OK;
    }
    if (!json_is_string(v)) {
        (void)buf_addf(err, "\"%s\" must be a string", what);
        return RC_INVALID;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > EVAL_FIELD_MAX || memchr(s, '\0', n)) {
        (void)buf_addf(err, "\"%s\" is empty, too long or holds NUL", what);
        return RC_INVALID;
    }
    *out = xstrndup(s, n);
    return RC_OK;
}

/* A string or a list of strings; NULL/absent gives an empty list. */
static int take_list(json_t *v, const char *what, char ***out, size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return RC_OK;
    if (json_is_string(v)) {
        *out = xcalloc(1, sizeof **out);
        int rc = take_str(v, what, 0, &(*out)[0], err);
        if (rc) {
            free(*out);
            *out = NULL;
            return rc;
        }
        *n = 1;
        return RC_OK;
    }
    if (!json_is_array(v) || json_array_size(v) > EVAL_LIST_MAX) {
        (void)buf_addf(err, "\"%s\" must be a string or a list of at most %d strings", what,
                       EVAL_LIST_MAX);
        return RC_INVALID;
    }
    size_t cnt = json_array_size(v);
    char **a = xcalloc(cnt ? cnt : 1, sizeof *a);
    for (size_t i = 0; i < cnt; i++) {
        int rc = take_str(json_array_get(v, i), what, 0, &a[i], err);
        if (rc) {
            free_list(a, i);
            return rc;
        }
    }
    *out = a;
    *n = cnt;
    return RC_OK;
}

int eval_parse_line(const char *p, size_t n, struct eval_question *out, struct buf *err)
{
    int rc = RC_INVALID;
    json_t *o = NULL;
    memset(out, 0, sizeof *out);
    if (n > EVAL_LINE_MAX) {
        (void)buf_addf(err, "line longer than %d bytes", EVAL_LINE_MAX);
        goto out;
    }
    json_error_t je;
    o = json_loadb(p, n, 0, &je);
    if (!o) {
        (void)buf_addf(err, "bad JSON: %s", je.text);
        goto out;
    }
    if (!json_is_object(o)) {
        (void)buf_adds(err, "not a JSON object");
        goto out;
    }
    json_t *id = json_object_get(o, "id"), *qv = json_object_get(o, "question");
    if (!id || !qv) {
        (void)buf_adds(err, "missing \"id\" or \"question\"");
        goto out;
    }
    if ((rc = take_str(id, "id", 1, &out->id, err)) ||
        (rc = take_str(qv, "question", 0, &out->question, err)))
        goto out;
    json_t *doc = json_object_get(o, "doc"), *ctx = json_object_get(o, "context_id");
    if (doc) {
        out->format = EVAL_BANKREGS;
        if ((rc = take_str(doc, "doc", 0, &out->gold_doc, err)) ||
            (rc = take_list(json_object_get(o, "article"), "article", &out->articles,
                            &out->narticles, err)) ||
            (rc = take_list(json_object_get(o, "answer_keywords"), "answer_keywords", &out->answers,
                            &out->nanswers, err)))
            goto out;
    } else if (ctx) {
        out->format = EVAL_CMRC2018;
        if ((rc = take_str(ctx, "context_id", 1, &out->gold_doc, err)) ||
            (rc = take_list(json_object_get(o, "answers"), "answers", &out->answers, &out->nanswers,
                            err)))
            goto out;
    } else {
        rc = RC_INVALID;
        (void)buf_adds(err, "no gold document: neither \"doc\" nor \"context_id\"");
        goto out;
    }
    json_t *type = json_object_get(o, "type");
    if (type && !json_is_null(type) && (rc = take_str(type, "type", 0, &out->type, err)))
        goto out;
    rc = RC_OK;
out:
    json_decref(o);
    if (rc) {
        eval_question_release(out);
        if (rc != RC_INVALID)
            rc = RC_INVALID;
    }
    return rc;
}

void eval_set_release(struct eval_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        eval_question_release(&set->q[i]);
    free(set->q);
    for (size_t i = 0; i < set->nbad_kept; i++)
        free(set->bad[i].msg);
    free(set->bad);
    memset(set, 0, sizeof *set);
}

static void note_bad(struct eval_set *set, size_t line, const char *msg)
{
    set->nbad++;
    if (set->nbad_kept >= EVAL_BAD_KEPT)
        return;
    set->bad = xgrow(set->bad, &set->bad_cap, set->nbad_kept + 1, sizeof *set->bad);
    set->bad[set->nbad_kept].line = line;
    set->bad[set->nbad_kept].msg = xstrdup(msg && *msg ? msg : "malformed line");
    set->nbad_kept++;
}

static int is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

int eval_set_parse(const char *p, size_t n, struct eval_set *set)
{
    size_t line = 0, pos = 0;
    struct buf err = BUF_INIT;
    while (pos < n) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (p + pos)) : n - pos;
        const char *s = p + pos;
        pos += len + (nl ? 1 : 0);
        line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (is_blank(s, len))
            continue;
        if (set->n >= EVAL_QUESTIONS_MAX) {
            note_bad(set, line, "too many questions");
            continue;
        }
        struct eval_question q;
        buf_reset(&err);
        if (eval_parse_line(s, len, &q, &err) != RC_OK) {
            note_bad(set, line, buf_str(&err));
            continue;
        }
        set->q = xgrow(set->q, &set->cap, set->n + 1, sizeof *set->q);
        set->q[set->n++] = q;
    }
    buf_release(&err);
    return RC_OK;
}

int eval_set_load(const char *path, struct eval_set *set, struct buf *err)
{
    struct buf data = BUF_INIT;
    struct stat st;
    int rc = RC_OK;
    /* read_file's open() would block forever on a FIFO with no writer:
     * refuse anything that is not a regular file before opening it. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        rc = RC_IO;
        (void)buf_addf(err, "%s: not a regular file", path);
        goto out;
    }
    rc = read_file(path, EVAL_FILE_MAX, &data);
    if (rc) {
        (void)buf_addf(err, "%s: %s", path,
                       rc == RC_NOT_FOUND ? "no such file"
                       : rc == RC_TOO_BIG ? "file too large"
                                          : "cannot read");
        goto out;
    }
    rc = eval_set_parse(data.p ? data.p : "", data.len, set);
    if (rc)
        goto out;
    if (set->n == 0) {
        rc = RC_INVALID;
        (void)buf_addf(err, "%s: no valid question (%zu malformed lines)", path, set->nbad);
    }
out:
    buf_release(&data);
    return rc;
}

/* ---- judging ---- */

/* Length of s without a trailing ".ext" (ext 1-8 bytes, no '/'). */
static size_t stem_len(const char *s)
{
    size_t n = strlen(s);
    const char *dot = strrchr(s, '.');
    if (!dot || dot == s)
        return n;
    size_t ext = n - (size_t)(dot - s) - 1;
    if (ext == 0 || ext > 8 || strchr(dot, '/'))
        return n;
    return (size_t)(dot - s);
}

static int doc_matches(const char *gold, const char *name)
{
    if (!gold || !name)
        return 0;
    if (strcmp(gold, name) == 0)
        return 1;
    size_t a = stem_len(gold), b = stem_len(name);
    return a == b && memcmp(gold, name, a) == 0;
}

/* Trims ASCII spaces and tabs around s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
    while (*n && (*s == ' ' || *s == '\t')) {
        s++;
        (*n)--;
    }
    while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/* Canonical form of a label: "第27条" and "第二十七条" both become
 * "第二十七条" (any suffix such as 之一 kept); other labels are only trimmed. */
static void label_canon(const char *s, struct buf *out)
{
    size_t n = strlen(s);
    s = trim(s, &n);
    static const char di[] = "第", tiao[] = "条";
    const size_t ld = sizeof di - 1, lt = sizeof tiao - 1;
    if (n > ld + lt && memcmp(s, di, ld) == 0) {
        const char *t = s + ld;
        const char *end = s + n;
        const char *hit = NULL;
        for (const char *p = t; p + lt <= end; p++)
            if (memcmp(p, tiao, lt) == 0) {
                hit = p;
                break;
            }
        if (hit && hit > t) {
            long v = cnum_parse(t, (size_t)(hit - t));
            char num[64];
            size_t nl = v > 0 ? cnum_format(v, num, sizeof num) : 0;
            if (nl) {
                (void)buf_add(out, di, ld);
                (void)buf_add(out, num, nl);
                (void)buf_add(out, hit, (size_t)(end - hit));
                return;
            }
        }
    }
    (void)buf_add(out, s, n);
}

/* Compares labels after label_canon; empty labels never match. */
static int label_equal(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    struct buf x = BUF_INIT, y = BUF_INIT;
    label_canon(a, &x);
    label_canon(b, &y);
    int eq = x.len > 0 && x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    buf_release(&x);
    buf_release(&y);
    return eq;
}

int eval_hit_relevant(const struct eval_question *q, const struct kb_hit *h)
{
    if (!doc_matches(q->gold_doc, h->doc_name))
        return 0;
    if (q->narticles == 0)
        return 1;
    for (size_t i = 0; i < q->narticles; i++)
        if (label_equal(q->articles[i], h->label))
            return 1;
    return 0;
}

void eval_judge(const struct eval_question *q, const struct kb_hits *h, struct eval_result *r)
{
    r->first_rank = 0;
    r->all_found = q->narticles >= 2 ? 0 : -1;
    for (size_t i = 0; i < h->n; i++) {
        if (eval_hit_relevant(q, &h->a[i])) {
            r->first_rank = (int)i + 1;
            break;
        }
    }
    if (q->narticles >= 2) {
        size_t top = h->n < 10 ? h->n : 10, found = 0;
        for (size_t j = 0; j < q->narticles; j++) {
            for (size_t i = 0; i < top; i++) {
                if (doc_matches(q->gold_doc, h->a[i].doc_name) &&
                    label_equal(q->articles[j], h->a[i].label)) {
                    found++;
                    break;
                }
            }
        }
        r->all_found = found == q->narticles;
    }
    for (size_t i = 0; i < 3; i++) {
        free(r->top[i]);
        r->top[i] = NULL;
        if (i >= h->n)
            continue;
        struct buf b = BUF_INIT;
        const char *label = h->a[i].label ? h->a[i].label : "";
        if (buf_addf(&b, "%s%s%s", h->a[i].doc_name ? h->a[i].doc_name : "?", *label ? " " : "",
                     label) == RC_OK)
            r->top[i] = buf_detach(&b, NULL);
        buf_release(&b);
    }
}

void eval_result_release(struct eval_result *r)
{
    if (!r)
        return;
    for (int i = 0; i < 3; i++) {
        free(r->top[i]);
        r->top[i] = NULL;
    }
}

int eval_answer_matches(const struct eval_question *q, const char *answer)
{
    if (q->nanswers == 0)
        return -1;
    int ok = q->format == EVAL_BANKREGS ? 1 : 0;
    struct buf hay = BUF_INIT, needle = BUF_INIT;
    if (!answer || norm_for_match(answer, strlen(answer), &hay) != RC_OK) {
        ok = 0;
        goto out;
    }
    for (size_t i = 0; i < q->nanswers; i++) {
        buf_reset(&needle);
        int found = 0;
        if (norm_for_match(q->answers[i], strlen(q->answers[i]), &needle) == RC_OK) {
            /* A keyword that folds to nothing cannot be judged: count it found. */
            found = needle.len == 0 || strstr(buf_str(&hay), buf_str(&needle)) != NULL;
        }
        if (q->format == EVAL_BANKREGS && !found) {
            ok = 0;
            break;
        }
        if (q->format == EVAL_CMRC2018 && found) {
            ok = 1;
            break;
        }
    }
out:
    buf_release(&hay);
    buf_release(&needle);
    return ok;
}

/* ---- metrics ---- */

double eval_percentile(const double *sorted, size_t n, double pct)
{
    if (n == 0)
        return 0;
    double rank = ceil(pct / 100.0 * (double)n);
    size_t idx = rank < 1 ? 0 : (size_t)rank - 1;
    if (idx >= n)
        idx = n - 1;
    return sorted[idx];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void eval_metrics_compute(const struct eval_result *r, size_t n, struct eval_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->questions = n;
    if (n == 0)
        return;
    size_t r1 = 0, r5 = 0, r10 = 0, allok = 0, aok = 0, nlat = 0;
    double rr = 0;
    double *lat = xcalloc(n, sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        int fr = r[i].first_rank;
        if (r[i].rc != RC_OK)
            m->errors++;
        else
            lat[nlat++] = r[i].latency_ms;
        if (fr >= 1) {
            r1 += fr <= 1;
            r5 += fr <= 5;
            r10 += fr <= 10;
            if (fr <= 10)
                rr += 1.0 / fr;
        }
        if (r[i].all_found >= 0) {
            m->multi++;
            allok += r[i].all_found == 1;
        }
        if (r[i].answer_ok >= 0) {
            m->answered++;
            aok += r[i].answer_ok == 1;
        }
    }
    m->recall1 = (double)r1 / (double)n;
    m->recall5 = (double)r5 / (double)n;
    m->recall10 = (double)r10 / (double)n;
    m->mrr10 = rr / (double)n;
    m->all_articles10 = m->multi ? (double)allok / (double)m->multi : 0;
    m->answer_accuracy = m->answered ? (double)aok / (double)m->answered : 0;
    qsort(lat, nlat, sizeof *lat, cmp_double);
    m->p50 = eval_percentile(lat, nlat, 50);
    m->p95 = eval_percentile(lat, nlat, 95);
    m->p99 = eval_percentile(lat, nlat, 99);
    free(lat);
}

static int cmp_type(const void *a, const void *b)
{
    return strcmp(((const struct eval_type_metrics *)a)->type,
                  ((const struct eval_type_metrics *)b)->type);
}

void eval_report_aggregate(struct eval_report *rep)
{
    for (size_t i = 0; i < rep->ntypes; i++)
        free(rep->types[i].type);
    free(rep->types);
    rep->types = NULL;
    rep->ntypes = 0;
    eval_metrics_compute(rep->r, rep->n, &rep->all);
    /* Distinct types, then one metrics pass per type over a gathered copy. */
    size_t cap = 0;
    for (size_t i = 0; i < rep->n; i++) {
        const char *t = rep->r[i].q ? rep->r[i].q->type : NULL;
        if (!t)
            continue;
        size_t j = 0;
        while (j < rep->ntypes && strcmp(rep->types[j].type, t) != 0)
            j++;
        if (j < rep->ntypes)
            continue;
        rep->types = xgrow(rep->types, &cap, rep->ntypes + 1, sizeof *rep->types);
        memset(&rep->types[rep->ntypes], 0, sizeof rep->types[0]);
        rep->types[rep->ntypes++].type = xstrdup(t);
    }
    if (rep->ntypes == 0)
        return;
    qsort(rep->types, rep->ntypes, sizeof *rep->types, cmp_type);
    struct eval_result *tmp = xcalloc(rep->n, sizeof *tmp);
    for (size_t j = 0; j < rep->ntypes; j++) {
        size_t k = 0;
        for (size_t i = 0; i < rep->n; i++) {
            const char *t = rep->r[i].q ? rep->r[i].q->type : NULL;
            if (t && strcmp(t, rep->types[j].type) == 0)
                tmp[k++] = rep->r[i]; /* shallow: metrics only read scalars */
        }
        eval_metrics_compute(tmp, k, &rep->types[j].m);
    }
    free(tmp);
}

void eval_report_release(struct eval_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->n; i++)
        eval_result_release(&rep->r[i]);
    free(rep->r);
    for (size_t i = 0; i < rep->ntypes; i++)
        free(rep->types[i].type);
    free(rep->types);
    memset(rep, 0, sizeof *rep);
}

/* ---- the run ---- */

int eval_run(struct kb_conn *c, int64_t kb_id, const struct eval_set *set,
             const struct eval_opts *o, struct eval_report *out, struct buf *err)
{
    int rc = RC_OK;
    memset(out, 0, sizeof *out);
    int k = o && o->k > 0 ? o->k : 10;
    if (k > 100)
        k = 100;
    size_t total = set->n;
    if (o && o->limit && o->limit < total)
        total = o->limit;
    out->k = k;
    out->flags = o ? o->flags : 0;
    out->answers = o ? o->answers : EVAL_ANSWERS_OFF;
    out->skipped = set->nbad;
    out->r = xcalloc(total ? total : 1, sizeof *out->r);
    if (out->answers != EVAL_ANSWERS_OFF && norm_init() != RC_OK)
        log_warn("eval: text folding unavailable, answers compared with ASCII folding only");
    double t0 = now_ms();
    struct kb_search_opts so = {
        .k = k, .flags = out->flags | KB_NO_HIGHLIGHT, .who = o ? o->who : NULL};
    if (total > 0) {
        /* One untimed search first: the index loads lazily on first use and
         * that one-off cost would otherwise land in p99. */
        struct kb_hits warm = {0};
        struct buf werr = BUF_INIT;
        double w0 = now_ms();
        int wrc = kb_search(c, kb_id, set->q[0].question, &so, &warm, &werr);
        out->warmup_ms = now_ms() - w0;
        kb_hits_release(&warm);
        buf_release(&werr);
        if (wrc == RC_DB || wrc == RC_INTERNAL) {
            rc = wrc;
            (void)buf_addf(err, "search failed (%s)", rc_code(wrc));
            goto out;
        }
    }
    for (size_t i = 0; i < total; i++) {
        const struct eval_question *q = &set->q[i];
        struct eval_result *r = &out->r[out->n++];
        r->q = q;
        r->answer_ok = -1;
        r->all_found = q->narticles >= 2 ? 0 : -1;
        struct kb_hits hits = {0};
        struct buf serr = BUF_INIT;
        double s0 = now_ms();
        r->rc = kb_search(c, kb_id, q->question, &so, &hits, &serr);
        r->latency_ms = now_ms() - s0;
        if (r->rc == RC_OK)
            eval_judge(q, &hits, r);
        kb_hits_release(&hits);
        if (r->rc == RC_DB || r->rc == RC_INTERNAL) {
            rc = r->rc;
            (void)buf_addf(err, "search failed on question %s: %s", q->id, buf_str(&serr));
            buf_release(&serr);
            goto out;
        }
        buf_release(&serr);
        if (out->answers != EVAL_ANSWERS_OFF && q->nanswers > 0) {
            struct kb_ask_opts ao = {.k = 5,
                                     .flags = out->flags,
                                     .no_model = out->answers != EVAL_ANSWERS_MODEL,
                                     .who = so.who};
            struct kb_answer ans = {0};
            struct buf aerr = BUF_INIT;
            int arc = kb_ask(c, kb_id, q->question, &ao, NULL, NULL, &ans, &aerr);
            r->answer_ok = arc == RC_OK ? eval_answer_matches(q, ans.text) : 0;
            kb_answer_release(&ans);
            buf_release(&aerr);
            if (arc == RC_DB || arc == RC_INTERNAL) {
                rc = arc;
                (void)buf_addf(err, "answer failed on question %s", q->id);
                goto out;
            }
        }
        if (o && o->progress)
            o->progress(o->progress_ctx, i + 1, total);
    }
out:
    out->elapsed_ms = now_ms() - t0;
    eval_report_aggregate(out);
    return rc;
}

/* ---- JSON ---- */

static json_t *ratio(double v)
{
    /* Four decimals are plenty for rates and keep the output readable. */
    return json_real(round(v * 10000.0) / 10000.0);
}

json_t *eval_metrics_json(const struct eval_metrics *m)
{
    json_t *o = json_object();
    (void)json_object_set_new(o, "questions", json_integer((json_int_t)m->questions));
    (void)json_object_set_new(o, "recall@1", ratio(m->recall1));
    (void)json_object_set_new(o, "recall@5", ratio(m->recall5));
    (void)json_object_set_new(o, "recall@10", ratio(m->recall10));
    (void)json_object_set_new(o, "mrr@10", ratio(m->mrr10));
    (void)json_object_set_new(o, "multi_article_questions", json_integer((json_int_t)m->multi));
    (void)json_object_set_new(o, "all_articles@10",
                              m->multi ? ratio(m->all_articles10) : json_null());
    (void)json_object_set_new(o, "answered", json_integer((json_int_t)m->answered));
    (void)json_object_set_new(o, "answer_accuracy",
                              m->answered ? ratio(m->answer_accuracy) : json_null());
    (void)json_object_set_new(o, "latency_ms_p50", json_real(round(m->p50 * 1000) / 1000));
    (void)json_object_set_new(o, "latency_ms_p95", json_real(round(m->p95 * 1000) / 1000));
    (void)json_object_set_new(o, "latency_ms_p99", json_real(round(m->p99 * 1000) / 1000));
    (void)json_object_set_new(o, "search_errors", json_integer((json_int_t)m->errors));
    return o;
}

static json_t *str_list(char **a, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; a && i < n; i++)
        (void)json_array_append_new(arr, json_string(a[i] ? a[i] : ""));
    return arr;
}

json_t *eval_report_json(const struct eval_report *rep)
{
    json_t *o = eval_metrics_json(&rep->all);
    (void)json_object_set_new(o, "k", json_integer(rep->k));
    (void)json_object_set_new(o, "answers",
                              json_string(rep->answers == EVAL_ANSWERS_OFF          ? "off"
                                          : rep->answers == EVAL_ANSWERS_EXTRACTIVE ? "extractive"
                                                                                    : "model"));
    (void)json_object_set_new(o, "skipped_lines", json_integer((json_int_t)rep->skipped));
    (void)json_object_set_new(o, "elapsed_ms", json_real(round(rep->elapsed_ms * 10) / 10));
    (void)json_object_set_new(o, "warmup_ms", json_real(round(rep->warmup_ms * 10) / 10));
    json_t *types = json_object();
    for (size_t i = 0; i < rep->ntypes; i++)
        (void)json_object_set_new(types, rep->types[i].type, eval_metrics_json(&rep->types[i].m));
    (void)json_object_set_new(o, "by_type", types);
    json_t *fails = json_array();
    for (size_t i = 0; i < rep->n; i++) {
        const struct eval_result *r = &rep->r[i];
        if (r->first_rank >= 1 && r->first_rank <= 5)
            continue;
        const struct eval_question *q = r->q;
        json_t *f = json_object(), *gold = json_object(), *top = json_array();
        (void)json_object_set_new(f, "id", json_string(q->id ? q->id : ""));
        (void)json_object_set_new(f, "question", json_string(q->question ? q->question : ""));
        (void)json_object_set_new(gold, "doc", json_string(q->gold_doc ? q->gold_doc : ""));
        (void)json_object_set_new(gold, "articles", str_list(q->articles, q->narticles));
        (void)json_object_set_new(f, "gold", gold);
        for (int j = 0; j < 3; j++)
            if (r->top[j])
                (void)json_array_append_new(top, json_string(r->top[j]));
        (void)json_object_set_new(f, "top3", top);
        (void)json_object_set_new(f, "rank", json_integer(r->first_rank));
        if (r->rc != RC_OK)
            (void)json_object_set_new(f, "error", json_string(rc_code(r->rc)));
        (void)json_array_append_new(fails, f);
    }
    (void)json_object_set_new(o, "failures", fails);
    return o;
}
