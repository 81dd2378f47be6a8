/* The model gateway: the registry in the store (models, model_endpoints),
 * an in-memory snapshot of it shared by every thread, the live state of
 * each endpoint (calls in flight, cooldown, round-robin weight), routing
 * with fail-over, health checks, and a writer thread that records every
 * call in model_calls in batches. See gateway.h and docs/MODELS.md. */
#include "llm/gateway.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEF_CONCURRENCY 16
#define REC_BATCH 256        /* records written in one transaction at most */
#define REC_FLUSH_MS 200     /* a record waits at most this long */
#define REC_QUEUE_MAX 100000 /* past this, records are dropped (counted) */
#define REC_ERR_MAX 300      /* bytes of error text kept per record */
#define MAX_ATTEMPTS 32
#define CHECK_TOTAL_MS 5000

static const char *const purpose_names[GW_NPURPOSES] = {"chat", "embedding", "rerank", "asr"};

/* Bumped by every registry change in this process. */
static atomic_uint g_gen = 1;
static pthread_mutex_t g_proc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gw *g_proc;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *gw_purpose_name(enum gw_purpose p)
{
    return (unsigned)p < GW_NPURPOSES ? purpose_names[p] : "unknown";
}

int gw_purpose_parse(const char *s, enum gw_purpose *out)
{
    if (!s)
        return RC_INVALID;
    for (int i = 0; i < GW_NPURPOSES; i++) {
        if (strcmp(s, purpose_names[i]) == 0) {
            *out = (enum gw_purpose)i;
            return RC_OK;
        }
    }
    if (strcmp(s, "embed") == 0) {
        *out = GW_EMBEDDING;
        return RC_OK;
    }
    return RC_INVALID;
}

static void seterr(struct buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(struct buf *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)buf_vaddf(err, fmt, ap);
    va_end(ap);
}

/* ================================================================ validation */

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > GW_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._:/@-", c)))
            return 0;
    }
    /* A name that is a number would be read as an id. */
    int64_t dummy;
    return parse_i64(s, INT64_MIN, INT64_MAX, &dummy) != RC_OK;
}

static int printable_ascii(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int valid_url(const char *s)
{
    if (!printable_ascii(s, GW_URL_MAX))
        return 0;
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

static int valid_key(const char *s)
{
    if (!s)
        return 1;
    size_t n = strlen(s);
    if (n > GW_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Normalises an endpoint spec's numbers; RC_INVALID with err on bad input. */
static int check_endpoint(const struct gw_endpoint_spec *ep, int *conc, int *weight,
                          struct buf *err)
{
    if (!valid_url(ep->url)) {
        seterr(err,
               "端点地址无效 / endpoint URL must be http:// or https://, printable, at most "
               "%d bytes",
               GW_URL_MAX);
        return RC_INVALID;
    }
    if (!printable_ascii(ep->upstream, GW_UPSTREAM_MAX)) {
        seterr(err,
               "上游模型名无效 / upstream model name must be 1..%d printable characters "
               "without spaces",
               GW_UPSTREAM_MAX);
        return RC_INVALID;
    }
    if (!valid_key(ep->api_key)) {
        seterr(err, "API 密钥无效 / API key too long or contains control characters");
        return RC_INVALID;
    }
    *conc = ep->max_concurrency ? ep->max_concurrency : DEF_CONCURRENCY;
    *weight = ep->weight ? ep->weight : 1;
    if (*conc < 1 || *conc > 10000) {
        seterr(err, "并发上限须在 1..10000 / max_concurrency must be 1..10000");
        return RC_INVALID;
    }
    if (*weight < 1 || *weight > 1000) {
        seterr(err, "权重须在 1..1000 / weight must be 1..1000");
        return RC_INVALID;
    }
    return RC_OK;
}

/* A params JSON object re-encoded compactly (malloc'd) or NULL (err set). */
static char *norm_params(const char *params, struct buf *err)
{
    if (!params)
        return xstrdup("{}");
    json_error_t je;
    json_t *j = json_loads(params, JSON_REJECT_DUPLICATES, &je);
    char *out = NULL;
    if (!j || !json_is_object(j)) {
        seterr(err, "参数须为 JSON 对象 / params must be a JSON object");
        goto out;
    }
    out = json_dumps(j, JSON_COMPACT);
    if (!out)
        seterr(err, "参数无法编码 / params cannot be encoded");
out:
    json_decref(j);
    return out;
}

/* ================================================================ registry */

static void bump(void)
{
    atomic_fetch_add(&g_gen, 1);
}

static int step_done(sqlite3_stmt *st)
{
    int s = sqlite3_step(st);
    return s == SQLITE_DONE ? RC_OK : s == SQLITE_CONSTRAINT ? RC_EXISTS : RC_DB;
}

static int insert_endpoint(struct db_conn *d, int64_t model_id, const struct gw_endpoint_spec *ep,
                           int64_t *ep_id, struct buf *err)
{
    int conc, weight;
    int rc = check_endpoint(ep, &conc, &weight, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = db_stmt(d->cache, "INSERT INTO model_endpoints(model_id, url, "
                                         "upstream_model, api_key, max_concurrency, weight, "
                                         "enabled, created_at) VALUES(?,?,?,?,?,?,?,?)");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, model_id);
    sqlite3_bind_text(st, 2, ep->url, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, ep->upstream, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, ep->api_key ? ep->api_key : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, conc);
    sqlite3_bind_int(st, 6, weight);
    sqlite3_bind_int(st, 7, ep->enabled ? 1 : 0);
    sqlite3_bind_int64(st, 8, now_unix());
    rc = step_done(st);
    /* Do not leave the key bound in the cached statement. */
    sqlite3_clear_bindings(st);
    sqlite3_reset(st);
    if (rc == RC_OK && ep_id)
        *ep_id = sqlite3_last_insert_rowid(d->db);
    return rc == RC_EXISTS ? RC_DB : rc;
}

static int model_purpose(struct db_conn *d, int64_t id, int *purpose)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT purpose FROM models WHERE id=?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    int rc = s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    if (rc == RC_OK) {
        enum gw_purpose p = GW_CHAT;
        (void)gw_purpose_parse((const char *)sqlite3_column_text(st, 0), &p);
        *purpose = (int)p;
    }
    sqlite3_reset(st);
    return rc;
}

static int set_default_in_tx(struct db_conn *d, int64_t id)
{
    int purpose;
    int rc = model_purpose(d, id, &purpose);
    if (rc)
        return rc;
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE models SET is_default=(id=?) WHERE purpose=?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, purpose_names[purpose], -1, SQLITE_STATIC);
    return step_done(st) == RC_OK ? RC_OK : RC_DB;
}

/* When no model of purpose is the default, the oldest one becomes it. */
static int ensure_default(struct db_conn *d, const char *purpose)
{
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE models SET is_default=1 WHERE id=(SELECT id "
                                         "FROM models WHERE purpose=?1 ORDER BY id LIMIT 1) AND "
                                         "NOT EXISTS(SELECT 1 FROM models WHERE purpose=?1 AND "
                                         "is_default)");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, purpose, -1, SQLITE_TRANSIENT);
    return step_done(st) == RC_OK ? RC_OK : RC_DB;
}

int gw_model_add(struct db_conn *d, const struct gw_model_spec *m,
                 const struct gw_endpoint_spec *ep, int64_t *model_id, struct buf *err)
{
    int rc = RC_INVALID;
    struct db_tx tx;
    int in_tx = 0;
    char *params = NULL;
    if (!valid_name(m->name)) {
        seterr(err,
               "模型名无效 / model name must be 1..%d of A-Z a-z 0-9 . _ : / @ - and not a "
               "number",
               GW_NAME_MAX);
        goto out;
    }
    if ((unsigned)m->purpose >= GW_NPURPOSES) {
        seterr(err, "用途无效 / purpose must be chat, embedding, rerank or asr");
        goto out;
    }
    params = norm_params(m->params, err);
    if (!params)
        goto out;
    rc = db_tx_begin(d->db, &tx);
    if (rc)
        goto out;
    in_tx = 1;
    sqlite3_stmt *st = db_stmt(d->cache, "INSERT INTO models(name, purpose, is_default, params, "
                                         "created_at) VALUES(?,?,0,?,?)");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_text(st, 1, m->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, purpose_names[m->purpose], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, params, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_unix());
    rc = step_done(st);
    if (rc == RC_EXISTS) {
        seterr(err, "模型名已存在 / a model named %s exists", m->name);
        goto out;
    }
    if (rc)
        goto out;
    int64_t id = sqlite3_last_insert_rowid(d->db);
    if (ep) {
        rc = insert_endpoint(d, id, ep, NULL, err);
        if (rc)
            goto out;
    }
    rc = m->is_default ? set_default_in_tx(d, id) : ensure_default(d, purpose_names[m->purpose]);
    if (rc == RC_OK && model_id)
        *model_id = id;
out:
    if (in_tx && db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    if (rc == RC_OK)
        bump();
    free(params);
    return rc;
}

int gw_model_find(struct db_conn *d, const char *name_or_id, int64_t *id)
{
    if (!name_or_id || !*name_or_id)
        return RC_NOT_FOUND;
    int64_t n;
    int byid = parse_i64(name_or_id, 1, INT64_MAX, &n) == RC_OK;
    sqlite3_stmt *st = byid ? db_stmt(d->cache, "SELECT id FROM models WHERE id=?")
                            : db_stmt(d->cache, "SELECT id FROM models WHERE name=?");
    if (!st)
        return RC_DB;
    if (byid)
        sqlite3_bind_int64(st, 1, n);
    else
        sqlite3_bind_text(st, 1, name_or_id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    int rc = s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    if (rc == RC_OK)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc;
}

int gw_model_remove(struct db_conn *d, int64_t id)
{
    struct db_tx tx;
    int purpose = 0;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    rc = model_purpose(d, id, &purpose);
    if (rc)
        goto out;
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM model_endpoints WHERE model_id=?");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(st) ? RC_DB : RC_OK;
    if (rc)
        goto out;
    st = db_stmt(d->cache, "DELETE FROM models WHERE id=?");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(st) ? RC_DB : RC_OK;
    if (rc == RC_OK)
        rc = ensure_default(d, purpose_names[purpose]);
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    if (rc == RC_OK)
        bump();
    return rc;
}

int gw_model_set_default(struct db_conn *d, int64_t id)
{
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    rc = set_default_in_tx(d, id);
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    if (rc == RC_OK)
        bump();
    return rc;
}

int gw_model_update(struct db_conn *d, int64_t id, const struct gw_model_update *u, struct buf *err)
{
    struct db_tx tx;
    char *params = NULL;
    int purpose = 0, in_tx = 0;
    int rc = RC_INVALID;
    if (u->name && !valid_name(u->name)) {
        seterr(err,
               "模型名无效 / model name must be 1..%d of A-Z a-z 0-9 . _ : / @ - and not a "
               "number",
               GW_NAME_MAX);
        goto out;
    }
    if (u->params && !(params = norm_params(u->params, err)))
        goto out;
    rc = db_tx_begin(d->db, &tx);
    if (rc)
        goto out;
    in_tx = 1;
    rc = model_purpose(d, id, &purpose);
    if (rc)
        goto out;
    if (u->name) {
        sqlite3_stmt *st = db_stmt(d->cache, "UPDATE models SET name=? WHERE id=?");
        if (!st) {
            rc = RC_DB;
            goto out;
        }
        sqlite3_bind_text(st, 1, u->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, id);
        rc = step_done(st);
        if (rc == RC_EXISTS)
            seterr(err, "模型名已存在 / a model named %s exists", u->name);
        if (rc)
            goto out;
    }
    if (params) {
        sqlite3_stmt *st = db_stmt(d->cache, "UPDATE models SET params=? WHERE id=?");
        if (!st) {
            rc = RC_DB;
            goto out;
        }
        sqlite3_bind_text(st, 1, params, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, id);
        rc = step_done(st) ? RC_DB : RC_OK;
        if (rc)
            goto out;
    }
    if (u->is_default == 1) {
        rc = set_default_in_tx(d, id);
    } else if (u->is_default == -1) {
        sqlite3_stmt *st = db_stmt(d->cache, "UPDATE models SET is_default=0 WHERE id=?");
        if (!st) {
            rc = RC_DB;
            goto out;
        }
        sqlite3_bind_int64(st, 1, id);
        rc = step_done(st) ? RC_DB : RC_OK;
    }
out:
    if (in_tx && db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    if (rc == RC_OK)
        bump();
    free(params);
    return rc;
}

int gw_endpoint_add(struct db_conn *d, int64_t model_id, const struct gw_endpoint_spec *ep,
                    int64_t *ep_id, struct buf *err)
{
    struct db_tx tx;
    int purpose;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    rc = model_purpose(d, model_id, &purpose);
    if (rc == RC_OK)
        rc = insert_endpoint(d, model_id, ep, ep_id, err);
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    if (rc == RC_OK)
        bump();
    return rc;
}

int gw_endpoint_remove(struct db_conn *d, int64_t model_id, int64_t ep_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM model_endpoints WHERE id=? AND model_id=?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, ep_id);
    sqlite3_bind_int64(st, 2, model_id);
    int rc = step_done(st) ? RC_DB : RC_OK;
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    if (rc == RC_OK)
        bump();
    return rc;
}

int gw_endpoint_set_enabled(struct db_conn *d, int64_t model_id, int64_t ep_id, int enabled)
{
    sqlite3_stmt *st =
        db_stmt(d->cache, "UPDATE model_endpoints SET enabled=? WHERE id=? AND model_id=?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int(st, 1, enabled ? 1 : 0);
    sqlite3_bind_int64(st, 2, ep_id);
    sqlite3_bind_int64(st, 3, model_id);
    int rc = step_done(st) ? RC_DB : RC_OK;
    if (rc == RC_OK && sqlite3_changes(d->db) == 0)
        rc = RC_NOT_FOUND;
    if (rc == RC_OK)
        bump();
    return rc;
}

/* ================================================================ the gateway */

/* The live state of one endpoint, kept across registry reloads (by id;
 * the config fallbacks have ids -1 - purpose). Under gw->mu. */
struct ep_state {
    int64_t id;
    int in_flight;
    uint64_t cooldown_until_ns;
    int64_t current; /* smooth weighted round-robin */
    char last_error[160];
    struct ep_state *next;
};

struct snap_ep {
    int64_t id;
    char *url, *upstream, *api_key;
    int max_conc, weight, enabled;
    struct ep_state *st;
};

struct snap_model {
    int64_t id;
    char *name;
    char *params; /* the registry's request params ("{}": none); NULL for fallbacks */
    enum gw_purpose purpose;
    int is_default;
    struct snap_ep *eps;
    size_t neps;
};

/* An immutable copy of the registry, shared by the calls that use it. */
struct snap {
    int refs; /* under gw->mu */
    unsigned gen;
    struct snap_model *models;
    size_t nmodels;
    struct snap_model fallback[GW_NPURPOSES]; /* neps 0 = none */
};

struct rec {
    int64_t ts_ms, model_id, ep_id, user_id;
    enum gw_purpose purpose;
    int ok;
    double first_ms, total_ms;
    long prompt_tokens, completion_tokens;
    char *error; /* NULL = "" */
};

struct gw {
    long connect_ms, first_ms, total_ms;
    int cooldown_s;
    char *fb_url[GW_NPURPOSES], *fb_model[GW_NPURPOSES], *fb_key[GW_NPURPOSES];

    pthread_mutex_t mu; /* snap, states, invalid */
    struct snap *snap;
    struct ep_state *states;
    int invalid;

    pthread_mutex_t db_mu; /* the connection below: reloads and record writes */
    sqlite3 *db;
    struct db_conn conn;
    uint64_t reload_ns; /* when the registry was last read */

    pthread_mutex_t wmu; /* the record queue */
    pthread_cond_t wcv, wdone;
    struct rec *q;
    size_t n, cap;
    uint64_t first_ns;
    uint64_t posted, written, dropped;
    int flush_wanted, stopping, started;
    pthread_t thread;
};

static void model_free(struct snap_model *m)
{
    for (size_t i = 0; i < m->neps; i++) {
        free(m->eps[i].url);
        free(m->eps[i].upstream);
        if (m->eps[i].api_key) {
            explicit_bzero(m->eps[i].api_key, strlen(m->eps[i].api_key));
            free(m->eps[i].api_key);
        }
    }
    free(m->eps);
    free(m->name);
    free(m->params);
}

static void snap_free(struct snap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nmodels; i++)
        model_free(&s->models[i]);
    free(s->models);
    for (int p = 0; p < GW_NPURPOSES; p++)
        model_free(&s->fallback[p]);
    free(s);
}

/* Drops a reference; under gw->mu. */
static void snap_unref_locked(struct snap *s)
{
    if (s && --s->refs == 0)
        snap_free(s);
}

static struct ep_state *state_of(struct gw *gw, int64_t id)
{
    for (struct ep_state *e = gw->states; e; e = e->next)
        if (e->id == id)
            return e;
    struct ep_state *e = xcalloc(1, sizeof *e);
    e->id = id;
    e->next = gw->states;
    gw->states = e;
    return e;
}

/* Reads the registry on gw's connection (under db_mu). NULL on a store error. */
static struct snap *snap_load(struct gw *gw)
{
    struct db_conn *d = &gw->conn;
    struct snap *s = xcalloc(1, sizeof *s);
    size_t cap = 0;
    int ok = 0;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, name, purpose, is_default, params FROM models "
                                         "ORDER BY id");
    if (!st)
        goto out;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        s->models = xgrow(s->models, &cap, s->nmodels + 1, sizeof *s->models);
        struct snap_model *m = &s->models[s->nmodels++];
        memset(m, 0, sizeof *m);
        m->id = sqlite3_column_int64(st, 0);
        m->name = db_col_str(st, 1);
        if (gw_purpose_parse((const char *)sqlite3_column_text(st, 2), &m->purpose))
            m->purpose = GW_NPURPOSES; /* unknown: never routed to */
        m->is_default = sqlite3_column_int(st, 3);
        m->params = db_col_str(st, 4);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    st = db_stmt(d->cache, "SELECT id, url, upstream_model, api_key, max_concurrency, weight, "
                           "enabled FROM model_endpoints WHERE model_id=? ORDER BY id");
    if (!st)
        goto out;
    for (size_t i = 0; i < s->nmodels; i++) {
        struct snap_model *m = &s->models[i];
        size_t ecap = 0;
        sqlite3_bind_int64(st, 1, m->id);
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            m->eps = xgrow(m->eps, &ecap, m->neps + 1, sizeof *m->eps);
            struct snap_ep *e = &m->eps[m->neps++];
            memset(e, 0, sizeof *e);
            e->id = sqlite3_column_int64(st, 0);
            e->url = db_col_str(st, 1);
            e->upstream = db_col_str(st, 2);
            e->api_key = db_col_str(st, 3);
            e->max_conc = sqlite3_column_int(st, 4);
            e->weight = sqlite3_column_int(st, 5);
            e->enabled = sqlite3_column_int(st, 6);
            if (e->max_conc < 1)
                e->max_conc = 1;
            if (e->weight < 1)
                e->weight = 1;
        }
        sqlite3_reset(st);
        if (r != SQLITE_DONE)
            goto out;
    }
    ok = 1;
out:
    if (!ok) {
        log_error("model gateway: cannot read the model registry: %s", sqlite3_errmsg(d->db));
        snap_free(s);
        return NULL;
    }
    /* The config's models, for purposes the registry does not cover. */
    for (int p = 0; p < GW_NPURPOSES; p++) {
        if (!gw->fb_url[p] || !gw->fb_url[p][0])
            continue;
        struct snap_model *m = &s->fallback[p];
        m->name = xstrdup("default");
        m->purpose = (enum gw_purpose)p;
        m->is_default = 1;
        m->eps = xcalloc(1, sizeof *m->eps);
        m->neps = 1;
        m->eps[0] = (struct snap_ep){-1 - p,
                                     xstrdup(gw->fb_url[p]),
                                     xstrdup(gw->fb_model[p] ? gw->fb_model[p] : ""),
                                     xstrdup(gw->fb_key[p] ? gw->fb_key[p] : ""),
                                     DEF_CONCURRENCY * 64,
                                     1,
                                     1,
                                     NULL};
    }
    return s;
}

/* Re-reads the registry and installs it (states attached). */
static void reload(struct gw *gw, int force)
{
    pthread_mutex_lock(&gw->db_mu);
    unsigned gen = atomic_load(&g_gen);
    if (!force) { /* another thread may have reloaded while this one waited */
        pthread_mutex_lock(&gw->mu);
        int fresh = gw->snap && !gw->invalid && gw->snap->gen == gen;
        pthread_mutex_unlock(&gw->mu);
        if (fresh) {
            pthread_mutex_unlock(&gw->db_mu);
            return;
        }
    }
    struct snap *s = snap_load(gw);
    gw->reload_ns = now_ns();
    pthread_mutex_unlock(&gw->db_mu);
    pthread_mutex_lock(&gw->mu);
    if (s) {
        s->gen = gen;
        s->refs = 1; /* the gateway's */
        for (size_t i = 0; i < s->nmodels; i++)
            for (size_t j = 0; j < s->models[i].neps; j++)
                s->models[i].eps[j].st = state_of(gw, s->models[i].eps[j].id);
        for (int p = 0; p < GW_NPURPOSES; p++)
            for (size_t j = 0; j < s->fallback[p].neps; j++)
                s->fallback[p].eps[j].st = state_of(gw, s->fallback[p].eps[j].id);
        snap_unref_locked(gw->snap);
        gw->snap = s;
        gw->invalid = 0;
    } else if (gw->snap) {
        gw->snap->gen = gen; /* keep the old one; retry at the next reload time */
        gw->invalid = 0;
    }
    pthread_mutex_unlock(&gw->mu);
}

/* A reference to a current snapshot (NULL only when the store could never
 * be read). Release with snap_put. */
static struct snap *snap_get(struct gw *gw)
{
    pthread_mutex_lock(&gw->mu);
    struct snap *s = gw->snap;
    int stale = !s || gw->invalid || s->gen != atomic_load(&g_gen);
    if (!stale)
        s->refs++;
    pthread_mutex_unlock(&gw->mu);
    if (!stale)
        return s;
    reload(gw, 0);
    pthread_mutex_lock(&gw->mu);
    s = gw->snap;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&gw->mu);
    return s;
}

static void snap_put(struct gw *gw, struct snap *s)
{
    pthread_mutex_lock(&gw->mu);
    snap_unref_locked(s);
    pthread_mutex_unlock(&gw->mu);
}

/* The model a call means: a name, or the default of purpose. */
static const struct snap_model *resolve(const struct snap *s, const char *name,
                                        enum gw_purpose purpose, struct buf *err, int *rc)
{
    *rc = RC_OK;
    int any = 0;
    if (name && *name) {
        for (size_t i = 0; i < s->nmodels; i++) {
            if (strcmp(s->models[i].name, name) != 0)
                continue;
            if (s->models[i].purpose != purpose) {
                seterr(err, "模型 %s 不是%s模型 / model %s is not a %s model", name,
                       gw_purpose_name(purpose), name, gw_purpose_name(purpose));
                *rc = RC_INVALID;
                return NULL;
            }
            return &s->models[i];
        }
        if (strcmp(name, "default") != 0 || !s->fallback[purpose].neps) {
            seterr(err, "模型不存在 / no model named %s", name);
            *rc = RC_NOT_FOUND;
            return NULL;
        }
        return &s->fallback[purpose];
    }
    for (size_t i = 0; i < s->nmodels; i++) {
        if (s->models[i].purpose != purpose)
            continue;
        any = 1;
        if (s->models[i].is_default)
            return &s->models[i];
    }
    if (s->fallback[purpose].neps)
        return &s->fallback[purpose];
    seterr(err, "未配置%s模型 / no %s model is configured%s", gw_purpose_name(purpose),
           gw_purpose_name(purpose), any ? " as the default" : "");
    *rc = RC_NOT_FOUND;
    return NULL;
}

/* Picks an endpoint of m not in tried: enabled, not resting, with a free
 * slot, by smooth weighted round-robin, and takes its slot. *busy is set
 * when healthy endpoints exist but all are full. Under gw->mu. */
static struct snap_ep *pick_locked(const struct snap_model *m, const int64_t *tried, int ntried,
                                   int *busy)
{
    uint64_t now = now_ns();
    struct snap_ep *best = NULL;
    int64_t total = 0;
    *busy = 0;
    for (size_t i = 0; i < m->neps; i++) {
        struct snap_ep *e = &m->eps[i];
        int skip = !e->enabled || e->st->cooldown_until_ns > now;
        for (int t = 0; !skip && t < ntried; t++)
            skip = tried[t] == e->id;
        if (skip)
            continue;
        if (e->st->in_flight >= e->max_conc) {
            *busy = 1;
            continue;
        }
        e->st->current += e->weight;
        total += e->weight;
        if (!best || e->st->current > best->st->current)
            best = e;
    }
    if (best) {
        best->st->current -= total;
        best->st->in_flight++;
        *busy = 0;
    }
    return best;
}

/* ---- call records ---- */

static void rec_post(struct gw *gw, struct rec *r)
{
    pthread_mutex_lock(&gw->wmu);
    if (gw->n >= REC_QUEUE_MAX || gw->stopping) {
        if (gw->dropped++ % 10000 == 0)
            log_warn("model gateway: call records dropped (queue full)");
        free(r->error);
    } else {
        gw->q = xgrow(gw->q, &gw->cap, gw->n + 1, sizeof *gw->q);
        gw->q[gw->n++] = *r;
        if (gw->n == 1)
            gw->first_ns = now_ns();
        gw->posted++;
        if (gw->n >= REC_BATCH)
            pthread_cond_signal(&gw->wcv);
    }
    pthread_mutex_unlock(&gw->wmu);
}

static int rec_write(struct gw *gw, const struct rec *a, size_t n)
{
    struct db_conn *d = &gw->conn;
    if (db_begin(d->db))
        return RC_DB;
    int rc = RC_OK;
    for (size_t i = 0; rc == RC_OK && i < n; i++) {
        sqlite3_stmt *st = db_stmt(d->cache, "INSERT INTO model_calls(ts, model_id, endpoint_id, "
                                             "purpose, user_id, ok, first_token_ms, total_ms, "
                                             "prompt_tokens, completion_tokens, error) "
                                             "VALUES(?,?,?,?,?,?,?,?,?,?,?)");
        if (!st) {
            rc = RC_DB;
            break;
        }
        sqlite3_bind_int64(st, 1, a[i].ts_ms);
        sqlite3_bind_int64(st, 2, a[i].model_id);
        sqlite3_bind_int64(st, 3, a[i].ep_id);
        sqlite3_bind_text(st, 4, gw_purpose_name(a[i].purpose), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, a[i].user_id);
        sqlite3_bind_int(st, 6, a[i].ok);
        sqlite3_bind_double(st, 7, a[i].first_ms);
        sqlite3_bind_double(st, 8, a[i].total_ms);
        sqlite3_bind_int64(st, 9, a[i].prompt_tokens);
        sqlite3_bind_int64(st, 10, a[i].completion_tokens);
        sqlite3_bind_text(st, 11, a[i].error ? a[i].error : "", -1, SQLITE_STATIC);
        rc = step_done(st) ? RC_DB : RC_OK;
        sqlite3_clear_bindings(st);
    }
    if (rc == RC_OK)
        rc = db_commit(d->db);
    if (rc)
        db_rollback(d->db);
    return rc;
}

static void *writer_main(void *arg)
{
    struct gw *gw = arg;
    pthread_mutex_lock(&gw->wmu);
    for (;;) {
        uint64_t now = now_ns();
        uint64_t due = gw->first_ns + (uint64_t)REC_FLUSH_MS * 1000000u;
        if (gw->n && (gw->stopping || gw->flush_wanted || gw->n >= REC_BATCH || now >= due)) {
            size_t k = gw->n < REC_BATCH ? gw->n : REC_BATCH;
            struct rec *batch = xmalloc(k * sizeof *batch);
            memcpy(batch, gw->q, k * sizeof *batch);
            memmove(gw->q, gw->q + k, (gw->n - k) * sizeof *gw->q);
            gw->n -= k;
            if (gw->n)
                gw->first_ns = now;
            pthread_mutex_unlock(&gw->wmu);
            pthread_mutex_lock(&gw->db_mu);
            if (rec_write(gw, batch, k))
                log_error("model gateway: %zu call records could not be written", k);
            pthread_mutex_unlock(&gw->db_mu);
            for (size_t i = 0; i < k; i++)
                free(batch[i].error);
            free(batch);
            pthread_mutex_lock(&gw->wmu);
            gw->written += k;
            if (gw->n == 0)
                gw->flush_wanted = 0;
            pthread_cond_broadcast(&gw->wdone);
            continue;
        }
        if (gw->stopping)
            break;
        /* The registry of other processes (the CLI) is seen within
         * GW_RELOAD_S: re-read it here, off the calls' path. */
        if (now - gw->reload_ns >= (uint64_t)GW_RELOAD_S * 1000000000u) {
            pthread_mutex_unlock(&gw->wmu);
            reload(gw, 1);
            pthread_mutex_lock(&gw->wmu);
            continue;
        }
        uint64_t wake = gw->reload_ns + (uint64_t)GW_RELOAD_S * 1000000000u;
        if (gw->n && due < wake)
            wake = due;
        /* now_ns is CLOCK_MONOTONIC; condvars wait on CLOCK_REALTIME by
         * default, so convert the delay. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t delay = wake > now ? wake - now : 0;
        uint64_t nsec = (uint64_t)ts.tv_nsec + delay % 1000000000u;
        ts.tv_sec += (time_t)(delay / 1000000000u + nsec / 1000000000u);
        ts.tv_nsec = (long)(nsec % 1000000000u);
        (void)pthread_cond_timedwait(&gw->wcv, &gw->wmu, &ts);
    }
    pthread_mutex_unlock(&gw->wmu);
    return NULL;
}

void gw_flush(struct gw *gw)
{
    if (!gw)
        return;
    pthread_mutex_lock(&gw->wmu);
    uint64_t target = gw->posted;
    gw->flush_wanted = 1;
    pthread_cond_signal(&gw->wcv);
    while (gw->written < target)
        pthread_cond_wait(&gw->wdone, &gw->wmu);
    pthread_mutex_unlock(&gw->wmu);
}

/* ---- lifetime ---- */

int gw_new(const struct config *cfg, const char *db_path, struct gw **out, struct buf *err)
{
    *out = NULL;
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK) {
        seterr(err, "libcurl could not be initialised");
        return RC_INTERNAL;
    }
    struct gw *gw = xcalloc(1, sizeof *gw);
    int rc = db_open(db_path, &gw->db, err);
    if (rc) {
        free(gw);
        return rc;
    }
    gw->conn.db = gw->db;
    gw->conn.cache = db_cache_new(gw->db);
    gw->connect_ms = cfg->connect_timeout_ms;
    gw->first_ms = cfg->first_token_timeout_ms;
    gw->total_ms = cfg->total_timeout_ms;
    gw->cooldown_s = cfg->model_cooldown_s > 0 ? cfg->model_cooldown_s : 0;
    const char *urls[GW_NPURPOSES] = {cfg->chat_url, cfg->embed_url, cfg->rerank_url, NULL};
    const char *models[GW_NPURPOSES] = {cfg->chat_model, cfg->embed_model, cfg->rerank_model, NULL};
    const char *keys[GW_NPURPOSES] = {cfg->chat_api_key, cfg->embed_api_key, cfg->rerank_api_key,
                                      NULL};
    for (int p = 0; p < GW_NPURPOSES; p++) {
        if (urls[p] && urls[p][0]) {
            gw->fb_url[p] = xstrdup(urls[p]);
            gw->fb_model[p] = xstrdup(models[p] ? models[p] : "");
            gw->fb_key[p] = xstrdup(keys[p] ? keys[p] : "");
        }
    }
    pthread_mutex_init(&gw->mu, NULL);
    pthread_mutex_init(&gw->db_mu, NULL);
    pthread_mutex_init(&gw->wmu, NULL);
    pthread_cond_init(&gw->wcv, NULL);
    pthread_cond_init(&gw->wdone, NULL);
    reload(gw, 1);
    if (pthread_create(&gw->thread, NULL, writer_main, gw) != 0) {
        seterr(err, "cannot start the model gateway's writer thread");
        gw_free(gw);
        return RC_INTERNAL;
    }
    gw->started = 1;
    pthread_mutex_lock(&g_proc_mu);
    if (!g_proc)
        g_proc = gw;
    pthread_mutex_unlock(&g_proc_mu);
    *out = gw;
    return RC_OK;
}

void gw_free(struct gw *gw)
{
    if (!gw)
        return;
    pthread_mutex_lock(&g_proc_mu);
    if (g_proc == gw)
        g_proc = NULL;
    pthread_mutex_unlock(&g_proc_mu);
    if (gw->started) {
        pthread_mutex_lock(&gw->wmu);
        gw->stopping = 1;
        pthread_cond_signal(&gw->wcv);
        pthread_mutex_unlock(&gw->wmu);
        pthread_join(gw->thread, NULL);
    }
    for (size_t i = 0; i < gw->n; i++)
        free(gw->q[i].error);
    free(gw->q);
    snap_free(gw->snap);
    while (gw->states) {
        struct ep_state *e = gw->states;
        gw->states = e->next;
        free(e);
    }
    for (int p = 0; p < GW_NPURPOSES; p++) {
        free(gw->fb_url[p]);
        free(gw->fb_model[p]);
        if (gw->fb_key[p])
            explicit_bzero(gw->fb_key[p], strlen(gw->fb_key[p]));
        free(gw->fb_key[p]);
    }
    db_cache_free(gw->conn.cache);
    db_close(gw->db);
    pthread_cond_destroy(&gw->wdone);
    pthread_cond_destroy(&gw->wcv);
    pthread_mutex_destroy(&gw->wmu);
    pthread_mutex_destroy(&gw->db_mu);
    pthread_mutex_destroy(&gw->mu);
    free(gw);
}

struct gw *gw_process(void)
{
    pthread_mutex_lock(&g_proc_mu);
    struct gw *gw = g_proc;
    pthread_mutex_unlock(&g_proc_mu);
    return gw;
}

void gw_invalidate(struct gw *gw)
{
    pthread_mutex_lock(&gw->mu);
    gw->invalid = 1;
    pthread_mutex_unlock(&gw->mu);
}

int gw_resolve(struct gw *gw, const char *model, enum gw_purpose purpose, int64_t *model_id)
{
    if ((unsigned)purpose >= GW_NPURPOSES)
        return RC_INVALID;
    struct snap *s = snap_get(gw);
    if (!s)
        return RC_DB;
    int rc;
    const struct snap_model *m = resolve(s, model, purpose, NULL, &rc);
    if (m) {
        rc = RC_NOT_FOUND;
        for (size_t i = 0; i < m->neps; i++)
            if (m->eps[i].enabled)
                rc = RC_OK;
        if (rc == RC_OK && model_id)
            *model_id = m->id;
    }
    snap_put(gw, s);
    return rc;
}

/* ================================================================ routing */

/* One attempt on one endpoint. Sets *delivered when something reached the
 * caller (then no fail-over), and the numbers to record. run sets
 * *http_status to the status of the model's reply (0 when none came). */
struct attempt {
    int (*run)(void *ctx, const struct llm_endpoint *ep, long *http_status, struct buf *err);
    void *ctx;
    const char *params; /* the routed model's registry params (may be NULL) */
    int delivered;
    double first_ms, total_ms; /* of the attempt; first -1 when none */
    long prompt_tokens, completion_tokens;
};

/* Whether a failure may be retried elsewhere, from its result code and the
 * HTTP status of the reply (0 = none came): timeouts, connect errors,
 * garbage and HTTP 5xx; also 401/403/404/408/429 (that endpoint's key,
 * model name or load). Other 4xx (a request the model refuses, such as a
 * prompt too long) would fail everywhere: no cooldown, no retry. */
static int retryable(int rc, long http_status)
{
    if (rc == RC_TIMEOUT)
        return 1;
    if (rc != RC_UPSTREAM)
        return 0;
    if (http_status >= 400 && http_status < 500)
        return http_status == 401 || http_status == 403 || http_status == 404 ||
               http_status == 408 || http_status == 429;
    return 1;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (int64_t)now_unix() * 1000;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static int route(struct gw *gw, const char *model, enum gw_purpose purpose, struct attempt *a,
                 struct gw_call_info *info, const struct gw_call_opts *opts, struct buf *err)
{
    double t0 = now_ms();
    int64_t tried[MAX_ATTEMPTS];
    int ntried = 0, rc;
    struct buf aerr = BUF_INIT;
    if (info) {
        memset(info, 0, sizeof *info);
        info->first_token_ms = -1;
        info->prompt_tokens = info->completion_tokens = -1;
    }
    struct snap *s = snap_get(gw);
    if (!s) {
        seterr(err, "模型注册表不可读 / the model registry cannot be read");
        return RC_DB;
    }
    const struct snap_model *m = resolve(s, model, purpose, err, &rc);
    if (!m)
        goto out;
    if (info) {
        copy_str(info->model, sizeof info->model, m->name);
        info->model_id = m->id;
    }
    rc = RC_UPSTREAM;
    for (;;) {
        long first_ms = gw->first_ms, total_ms = gw->total_ms, to_deadline = 0;
        if (opts && opts->deadline_ms > 0) {
            double left = opts->deadline_ms - now_ms();
            if (left < 1) {
                rc = RC_TIMEOUT;
                buf_reset(&aerr);
                seterr(&aerr, "调用方的时限已到 / the caller's time limit was reached");
                if (info)
                    info->out_of_time = 1;
                break;
            }
            if (first_ms <= 0 || first_ms > (long)left)
                first_ms = to_deadline = (long)left;
            if (total_ms <= 0 || total_ms > (long)left)
                total_ms = to_deadline = (long)left;
        }
        int busy = 0;
        pthread_mutex_lock(&gw->mu);
        struct snap_ep *e = ntried < MAX_ATTEMPTS ? pick_locked(m, tried, ntried, &busy) : NULL;
        pthread_mutex_unlock(&gw->mu);
        if (!e) {
            if (busy) {
                rc = RC_BUSY;
                buf_reset(&aerr);
                seterr(&aerr,
                       "模型 %s 的端点均已满载 / every endpoint of model %s is at its "
                       "concurrency limit",
                       m->name, m->name);
            } else if (ntried == 0) {
                rc = RC_UPSTREAM;
                seterr(&aerr, "模型 %s 没有可用端点 / model %s has no healthy endpoint", m->name,
                       m->name);
            } /* else: the last attempt's failure stands */
            break;
        }
        tried[ntried++] = e->id;
        struct llm_endpoint ep = {e->url,         e->upstream, e->api_key,
                                  gw->connect_ms, first_ms,    total_ms};
        buf_reset(&aerr);
        a->delivered = 0;
        a->first_ms = -1;
        a->total_ms = 0;
        a->prompt_tokens = a->completion_tokens = -1;
        double ta = now_ms();
        a->params = m->params;
        long status = 0;
        rc = a->run(a->ctx, &ep, &status, &aerr);
        if (a->total_ms <= 0)
            a->total_ms = now_ms() - ta;
        /* the caller's deadline is not the endpoint's fault: no cooldown, no retry */
        int again = rc != RC_OK && !a->delivered && retryable(rc, status) &&
                    !(rc == RC_TIMEOUT && to_deadline > 0);
        pthread_mutex_lock(&gw->mu);
        e->st->in_flight--;
        if (again && gw->cooldown_s > 0)
            e->st->cooldown_until_ns = now_ns() + (uint64_t)gw->cooldown_s * 1000000000u;
        if (rc != RC_OK)
            copy_str(e->st->last_error, sizeof e->st->last_error, buf_str(&aerr));
        else
            e->st->last_error[0] = 0;
        pthread_mutex_unlock(&gw->mu);
        if (rc != RC_OK)
            log_warn("model gateway: %s endpoint %lld failed: %s", m->name, (long long)e->id,
                     buf_str(&aerr));

        struct rec r = {wall_ms(),
                        m->id,
                        e->id > 0 ? e->id : 0,
                        opts ? opts->user_id : 0,
                        purpose,
                        rc == RC_OK,
                        a->first_ms,
                        a->total_ms,
                        a->prompt_tokens,
                        a->completion_tokens,
                        NULL};
        if (rc != RC_OK) {
            char cut[REC_ERR_MAX + 1];
            copy_str(cut, sizeof cut, buf_str(&aerr));
            r.error = xstrdup(cut);
        }
        rec_post(gw, &r);
        if (info) {
            copy_str(info->upstream, sizeof info->upstream, e->upstream);
            info->endpoint_id = e->id > 0 ? e->id : 0;
            info->attempts = ntried;
            info->http_status = status;
            info->first_token_ms = a->first_ms >= 0 ? ta - t0 + a->first_ms : -1;
            info->out_of_time = rc == RC_TIMEOUT && to_deadline > 0;
            info->prompt_tokens = a->prompt_tokens;
            info->completion_tokens = a->completion_tokens;
        }
        if (!again)
            break;
    }
out:
    if (rc != RC_OK && aerr.len)
        seterr(err, "%s", buf_str(&aerr));
    if (info)
        info->total_ms = now_ms() - t0;
    buf_release(&aerr);
    snap_put(gw, s);
    return rc;
}

/* ---- chat ---- */

struct chat_ctx {
    const struct llm_msg *msgs;
    size_t nmsgs;
    llm_delta_cb cb;
    void *cb_ctx;
    struct llm_result *res;
    int used;
    struct attempt *a;
    const struct llm_chat_opts *opts;
};

static int chat_delta(void *ctx, enum llm_delta_kind kind, const char *p, size_t n)
{
    struct chat_ctx *c = ctx;
    c->a->delivered = 1;
    return c->cb(c->cb_ctx, kind, p, n);
}

/* The request params of one call: the model's registry params (e.g.
 * {"temperature":0.2}) under the caller's own, which win. A malloc'd JSON
 * text, or NULL when neither has any. */
static char *merged_params(const char *model, const char *caller)
{
    int has_m = model && *model && strcmp(model, "{}") != 0;
    int has_c = caller && *caller && strcmp(caller, "{}") != 0;
    if (!has_m)
        return has_c ? xstrdup(caller) : NULL;
    if (!has_c)
        return xstrdup(model);
    json_error_t je;
    json_t *a = json_loads(model, 0, &je), *b = json_loads(caller, 0, &je);
    char *out = NULL;
    if (json_is_object(a) && json_is_object(b) && json_object_update(a, b) == 0)
        out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    json_decref(b);
    return out ? out : xstrdup(caller); /* stored params are checked when saved */
}

static int chat_run(void *ctx, const struct llm_endpoint *ep, long *http_status, struct buf *err)
{
    struct chat_ctx *c = ctx;
    if (c->used)
        llm_result_release(c->res);
    c->used = 1;
    struct llm_chat_opts o = {0};
    if (c->opts)
        o = *c->opts;
    char *params = merged_params(c->a->params, o.params);
    o.params = params;
    int rc = llm_chat_ex(ep, c->msgs, c->nmsgs, &o, c->cb ? chat_delta : NULL, c, c->res, err);
    free(params);
    c->a->first_ms = c->res->first_token_ms;
    c->a->total_ms = c->res->total_ms;
    c->a->prompt_tokens = c->res->prompt_tokens;
    c->a->completion_tokens = c->res->completion_tokens;
    *http_status = c->res->http_status;
    return rc;
}

int gw_chat(struct gw *gw, const char *model, const struct llm_msg *msgs, size_t nmsgs,
            llm_delta_cb cb, void *ctx, struct llm_result *res, struct gw_call_info *info,
            const struct gw_call_opts *opts, struct buf *err)
{
    struct attempt a = {0};
    struct chat_ctx c = {msgs, nmsgs, cb, ctx, res, 0, &a, opts ? &opts->chat : NULL};
    a.run = chat_run;
    a.ctx = &c;
    /* From here to the hand-off to a model loop is the gateway's overhead:
     * it runs at the loops' priority, not behind other answers' work. */
    struct llm_prio prio;
    llm_prio_enter(&prio);
    int rc = route(gw, model, GW_CHAT, &a, info, opts, err);
    llm_prio_leave(&prio);
    if (!c.used) { /* res must always be initialised: a call that never ran */
        memset(res, 0, sizeof *res);
        res->content = xstrdup("");
        res->reasoning = xstrdup("");
        res->finish_reason = xstrdup("");
        res->prompt_tokens = res->completion_tokens = -1;
        res->first_token_ms = -1;
    }
    return rc;
}

/* ---- embeddings and rerank ---- */

struct embed_ctx {
    const char *const *texts;
    size_t n;
    float **vecs;
    size_t *dim;
};

static int embed_run(void *ctx, const struct llm_endpoint *ep, long *http_status, struct buf *err)
{
    struct embed_ctx *c = ctx;
    return llm_embed(ep, c->texts, c->n, c->vecs, c->dim, http_status, err);
}

int gw_embed(struct gw *gw, const char *model, const char *const *texts, size_t n, float **vecs,
             size_t *dim, struct gw_call_info *info, const struct gw_call_opts *opts,
             struct buf *err)
{
    *vecs = NULL;
    *dim = 0;
    struct embed_ctx c = {texts, n, vecs, dim};
    struct attempt a = {
        .run = embed_run, .ctx = &c, .first_ms = -1, .prompt_tokens = -1, .completion_tokens = -1};
    return route(gw, model, GW_EMBEDDING, &a, info, opts, err);
}

struct rerank_ctx {
    const char *query;
    const char *const *docs;
    size_t n;
    double *scores;
};

static int rerank_run(void *ctx, const struct llm_endpoint *ep, long *http_status, struct buf *err)
{
    struct rerank_ctx *c = ctx;
    return llm_rerank(ep, c->query, c->docs, c->n, c->scores, http_status, err);
}

int gw_rerank(struct gw *gw, const char *model, const char *query, const char *const *docs,
              size_t n, double *scores, struct gw_call_info *info, const struct gw_call_opts *opts,
              struct buf *err)
{
    struct rerank_ctx c = {query, docs, n, scores};
    struct attempt a = {
        .run = rerank_run, .ctx = &c, .first_ms = -1, .prompt_tokens = -1, .completion_tokens = -1};
    return route(gw, model, GW_RERANK, &a, info, opts, err);
}

/* ================================================================ health */

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    size_t *total = ud;
    *total += size * n;
    return *total > (1u << 20) ? 0 : size * n; /* a model list is small */
}

/* GET {url}/models. RC_OK, RC_UPSTREAM or RC_TIMEOUT with err set. */
static int probe_models(const char *url, const char *key, long connect_ms, struct buf *err)
{
    int rc = RC_UPSTREAM;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    struct buf full = BUF_INIT, auth = BUF_INIT;
    size_t total = 0;
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK) {
        seterr(err, "libcurl could not be initialised");
        return RC_INTERNAL;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (buf_addf(&full, "%.*s/models", (int)n, url)) {
        seterr(err, "URL too long");
        goto out;
    }
    h = curl_easy_init();
    if (!h) {
        seterr(err, "libcurl could not create a handle");
        goto out;
    }
    if (key && key[0]) {
        if (buf_addf(&auth, "Authorization: Bearer %s", key) ||
            !(hdrs = curl_slist_append(NULL, auth.p))) {
            seterr(err, "cannot add the authorization header");
            goto out;
        }
    }
    if (curl_easy_setopt(h, CURLOPT_URL, buf_str(&full)) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_USERAGENT, "atrium") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &total) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 2000L) !=
            CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)CHECK_TOTAL_MS) != CURLE_OK) {
        seterr(err, "libcurl refused an option");
        goto out;
    }
    CURLcode c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        rc = c == CURLE_OPERATION_TIMEDOUT ? RC_TIMEOUT : RC_UPSTREAM;
        seterr(err, "GET /models failed: %s", curl_easy_strerror(c));
        goto out;
    }
    long st = 0;
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st) != CURLE_OK || st < 200 || st >= 300) {
        seterr(err, "GET /models: model returned HTTP %ld", st);
        goto out;
    }
    rc = RC_OK;
out:
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (auth.p)
        explicit_bzero(auth.p, auth.cap);
    buf_release(&auth);
    buf_release(&full);
    return rc;
}

/* Records a health result in the endpoint's state (gw may be NULL). */
static void mark_health(struct gw *gw, int64_t ep_id, int ok, const char *msg)
{
    if (!gw)
        return;
    pthread_mutex_lock(&gw->mu);
    struct ep_state *e = state_of(gw, ep_id);
    if (ok) {
        e->cooldown_until_ns = 0;
        e->last_error[0] = 0;
    } else {
        if (gw->cooldown_s > 0)
            e->cooldown_until_ns = now_ns() + (uint64_t)gw->cooldown_s * 1000000000u;
        copy_str(e->last_error, sizeof e->last_error, msg);
    }
    pthread_mutex_unlock(&gw->mu);
}

int gw_check_all(struct gw *gw)
{
    struct snap *s = snap_get(gw);
    if (!s)
        return 0;
    int failed = 0;
    for (size_t i = 0; i < s->nmodels + GW_NPURPOSES; i++) {
        const struct snap_model *m = i < s->nmodels ? &s->models[i] : &s->fallback[i - s->nmodels];
        for (size_t j = 0; j < m->neps; j++) {
            const struct snap_ep *e = &m->eps[j];
            if (!e->enabled)
                continue;
            struct buf err = BUF_INIT;
            int rc = probe_models(e->url, e->api_key, gw->connect_ms, &err);
            mark_health(gw, e->id, rc == RC_OK, buf_str(&err));
            if (rc) {
                failed++;
                log_warn("model gateway: health check of %s endpoint %lld failed: %s", m->name,
                         (long long)e->id, buf_str(&err));
            }
            buf_release(&err);
        }
    }
    snap_put(gw, s);
    return failed;
}

static int test_chat_delta(void *ctx, enum llm_delta_kind kind, const char *p, size_t n)
{
    (void)ctx, (void)kind, (void)p, (void)n;
    return 1; /* the first token is enough */
}

int gw_test_model(struct gw *gw, const struct config *cfg, struct db_conn *d, int64_t model_id,
                  int chat_probe, json_t **report)
{
    *report = NULL;
    json_t *m = NULL;
    int rc = gw_model_json(NULL, d, model_id, &m);
    if (rc)
        return rc;
    const char *purpose = json_string_value(json_object_get(m, "purpose"));
    int is_chat = purpose && strcmp(purpose, "chat") == 0;
    json_t *eps = json_array();
    int any_ok = 0;
    /* The keys are not in the JSON: read each endpoint's row again. */
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, url, upstream_model, api_key, enabled FROM "
                                         "model_endpoints WHERE model_id=? ORDER BY id");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, model_id);
    struct row {
        int64_t id;
        char *url, *upstream, *key;
        int enabled;
    } *rows = NULL;
    size_t nrows = 0, cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        rows = xgrow(rows, &cap, nrows + 1, sizeof *rows);
        rows[nrows++] =
            (struct row){sqlite3_column_int64(st, 0), db_col_str(st, 1), db_col_str(st, 2),
                         db_col_str(st, 3), sqlite3_column_int(st, 4)};
    }
    sqlite3_reset(st);
    rc = s == SQLITE_DONE ? RC_OK : RC_DB;
    for (size_t i = 0; rc == RC_OK && i < nrows; i++) {
        struct buf err = BUF_INIT;
        double t = now_ms();
        int r = probe_models(rows[i].url, rows[i].key, cfg->connect_timeout_ms, &err);
        double models_ms = now_ms() - t;
        json_t *chat_ms = json_null();
        if (r == RC_OK && chat_probe && is_chat) {
            struct llm_endpoint ep = {rows[i].url,
                                      rows[i].upstream,
                                      rows[i].key,
                                      cfg->connect_timeout_ms,
                                      cfg->first_token_timeout_ms,
                                      cfg->first_token_timeout_ms};
            struct llm_msg msg = {.role = "user", .content = "ping"};
            struct llm_result res;
            t = now_ms();
            r = llm_chat(&ep, &msg, 1, test_chat_delta, NULL, &res, &err);
            json_decref(chat_ms);
            chat_ms = json_real(now_ms() - t);
            llm_result_release(&res);
        }
        if (rows[i].enabled)
            mark_health(gw, rows[i].id, r == RC_OK, buf_str(&err));
        any_ok |= r == RC_OK && rows[i].enabled;
        (void)json_array_append_new(
            eps, json_pack("{s:I,s:s,s:s,s:b,s:b,s:f,s:o,s:s}", "id", (json_int_t)rows[i].id, "url",
                           rows[i].url, "upstream", rows[i].upstream, "enabled", rows[i].enabled,
                           "ok", r == RC_OK, "models_ms", models_ms, "chat_ms", chat_ms, "error",
                           buf_str(&err)));
        buf_release(&err);
    }
    for (size_t i = 0; i < nrows; i++) {
        free(rows[i].url);
        free(rows[i].upstream);
        explicit_bzero(rows[i].key, strlen(rows[i].key));
        free(rows[i].key);
    }
    free(rows);
    if (rc)
        goto out;
    *report = json_pack("{s:O,s:O,s:b,s:O}", "model", json_object_get(m, "name"), "purpose",
                        json_object_get(m, "purpose"), "ok", any_ok, "endpoints", eps);
    rc = any_ok ? RC_OK : RC_UPSTREAM;
out:
    json_decref(eps);
    json_decref(m);
    return rc;
}

/* ================================================================ JSON */

static json_t *endpoint_state_json(struct gw *gw, int64_t id, json_t *o)
{
    if (!gw)
        return o;
    pthread_mutex_lock(&gw->mu);
    struct ep_state *e = state_of(gw, id);
    uint64_t now = now_ns();
    double left = e->cooldown_until_ns > now ? (double)(e->cooldown_until_ns - now) / 1e9 : 0;
    (void)json_object_set_new(o, "in_flight", json_integer(e->in_flight));
    (void)json_object_set_new(o, "cooldown_s", json_real(left));
    (void)json_object_set_new(o, "last_error", json_string(e->last_error));
    pthread_mutex_unlock(&gw->mu);
    return o;
}

static int endpoints_json(struct gw *gw, struct db_conn *d, int64_t model_id, json_t **out)
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id, url, upstream_model, api_key<>'', "
                                         "max_concurrency, weight, enabled, created_at FROM "
                                         "model_endpoints WHERE model_id=? ORDER BY id");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, model_id);
    json_t *arr = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_pack(
            "{s:I,s:s,s:s,s:b,s:i,s:i,s:b,s:I}", "id", (json_int_t)sqlite3_column_int64(st, 0),
            "url", (const char *)sqlite3_column_text(st, 1), "upstream",
            (const char *)sqlite3_column_text(st, 2), "api_key_set", sqlite3_column_int(st, 3),
            "max_concurrency", sqlite3_column_int(st, 4), "weight", sqlite3_column_int(st, 5),
            "enabled", sqlite3_column_int(st, 6), "created_at",
            (json_int_t)sqlite3_column_int64(st, 7));
        if (o)
            (void)json_array_append_new(arr,
                                        endpoint_state_json(gw, sqlite3_column_int64(st, 0), o));
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}

/* The model at the current row of st (id, name, purpose, is_default,
 * params, created_at). */
static int model_row_json(struct gw *gw, struct db_conn *d, sqlite3_stmt *st, json_t **out)
{
    json_error_t je;
    const char *ptext = (const char *)sqlite3_column_text(st, 4);
    json_t *params = json_loads(ptext ? ptext : "{}", 0, &je);
    if (!params)
        params = json_object();
    json_t *o =
        json_pack("{s:I,s:s,s:s,s:b,s:o,s:I}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                  "name", (const char *)sqlite3_column_text(st, 1), "purpose",
                  (const char *)sqlite3_column_text(st, 2), "default", sqlite3_column_int(st, 3),
                  "params", params, "created_at", (json_int_t)sqlite3_column_int64(st, 5));
    if (!o)
        return RC_INTERNAL;
    json_t *eps = NULL;
    int rc = endpoints_json(gw, d, sqlite3_column_int64(st, 0), &eps);
    if (rc) {
        json_decref(o);
        return rc;
    }
    (void)json_object_set_new(o, "endpoints", eps);
    *out = o;
    return RC_OK;
}

int gw_model_json(struct gw *gw, struct db_conn *d, int64_t id, json_t **out)
{
    *out = NULL;
    /* The endpoints' query needs the statement cache while this one is
     * open: prepare this one apart. */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT id, name, purpose, is_default, params, created_at FROM models "
                           "WHERE id=?",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return RC_DB;
    }
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    int rc = s == SQLITE_ROW    ? model_row_json(gw, d, st, out)
             : s == SQLITE_DONE ? RC_NOT_FOUND
                                : RC_DB;
    sqlite3_finalize(st);
    return rc;
}

int gw_models_json(struct gw *gw, struct db_conn *d, const struct config *cfg, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT id, name, purpose, is_default, params, created_at FROM models "
                           "ORDER BY CASE purpose WHEN 'chat' THEN 0 WHEN 'embedding' THEN 1 "
                           "WHEN 'rerank' THEN 2 ELSE 3 END, name",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return RC_DB;
    }
    json_t *arr = json_array();
    int have[GW_NPURPOSES] = {0};
    int s, rc = RC_OK;
    while (rc == RC_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = NULL;
        enum gw_purpose p;
        if (gw_purpose_parse((const char *)sqlite3_column_text(st, 2), &p) == RC_OK)
            have[p] = 1;
        rc = model_row_json(gw, d, st, &o);
        if (rc == RC_OK)
            (void)json_array_append_new(arr, o);
    }
    if (rc == RC_OK && s != SQLITE_DONE)
        rc = RC_DB;
    sqlite3_finalize(st);
    const char *urls[GW_NPURPOSES] = {NULL};
    const char *models[GW_NPURPOSES] = {NULL};
    const char *keys[GW_NPURPOSES] = {NULL};
    if (cfg) {
        urls[0] = cfg->chat_url, urls[1] = cfg->embed_url, urls[2] = cfg->rerank_url;
        models[0] = cfg->chat_model, models[1] = cfg->embed_model, models[2] = cfg->rerank_model;
        keys[0] = cfg->chat_api_key, keys[1] = cfg->embed_api_key, keys[2] = cfg->rerank_api_key;
    }
    for (int p = 0; rc == RC_OK && p < GW_NPURPOSES; p++) {
        if (have[p] || !urls[p] || !urls[p][0])
            continue;
        json_t *ep = json_pack("{s:I,s:s,s:s,s:b,s:b}", "id", (json_int_t)0, "url", urls[p],
                               "upstream", models[p] ? models[p] : "", "api_key_set",
                               keys[p] && keys[p][0], "enabled", 1);
        if (ep)
            ep = endpoint_state_json(gw, -1 - p, ep);
        json_t *o = json_pack("{s:I,s:s,s:s,s:b,s:s,s:{},s:[o]}", "id", (json_int_t)0, "name",
                              "default", "purpose", purpose_names[p], "default", 1, "source",
                              "config", "params", "endpoints", ep ? ep : json_object());
        if (o)
            (void)json_array_append_new(arr, o);
    }
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return RC_OK;
}
