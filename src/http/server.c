/* The libmicrohttpd daemon: request lifecycle (first call sets up, later
 * calls read the body, the final call answers, so keep-alive survives),
 * routing by path, size caps, request ids, the access log, per-thread
 * kb_conns, start and orderly stop. */
#include "http/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "assist/assist.h"
#include "assist/conv.h"
#include "assist/safety.h"
#include "agents/eval.h" /* H4 */
#include "agents/workdays.h"
#include "auth/audit.h"
#include "llm/gateway.h"
#include "http/http_int.h"
#include "http/static.h"
#include "text/utf8.h"

#include <sodium.h>

#define URL_MAX 2048
#define UPLOAD_SLACK (64 * 1024) /* multipart framing on top of upload_max */

static atomic_uint next_gen = 1;
static _Thread_local struct kb_conn *tl_conn;
static _Thread_local unsigned tl_gen;

#define POOL_MAX 256     /* idle store connections kept after a burst of answers */
#define CONN_SOFT_MAX 24 /* past this many, an answer waits for a lent connection */

/* A thread waiting for a lent connection: http_conn_lend hands one
 * straight to the oldest waiter (c set, taken off the queue, woken), so a
 * newcomer never overtakes it. While anyone waits the pool is empty. */
struct conn_waiter {
    struct conn_waiter *next;
    pthread_cond_t cv;
    struct kb_conn *c;
    int queued;
};

static void waiter_unlink(struct http_server *s, struct conn_waiter *w)
{
    struct conn_waiter **pp = &s->wait_head, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = w->next;
    if (s->wait_tail == w)
        s->wait_tail = prev;
    w->queued = 0;
    s->nwaiting--;
}

struct kb_conn *http_conn(struct http_server *s)
{
    if (tl_conn && tl_gen == s->gen)
        return tl_conn;
    struct kb_conn *c = NULL;
    pthread_mutex_lock(&s->mu);
    /* A burst of answers shares a few connections (each needs one for a
     * few milliseconds before and after its model call) rather than
     * opening one each: opening costs more than waiting for a lent one.
     * Waiters are served in arrival order (a queue, not a race on a
     * condition variable): the wait is bounded by the queue ahead. */
    if (s->npool) { /* one lent back by an answer (no one is waiting) */
        c = s->pool[--s->npool];
    } else if (s->nconns >= CONN_SOFT_MAX && !s->stopping) {
        struct conn_waiter w = {NULL, PTHREAD_COND_INITIALIZER, NULL, 1};
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w.cv, &ca);
        pthread_condattr_destroy(&ca);
        if (s->wait_tail)
            s->wait_tail->next = &w;
        else
            s->wait_head = &w;
        s->wait_tail = &w;
        s->nwaiting++;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 2; /* then open one anyway: never a deadlock */
        while (!w.c && !s->stopping)
            if (pthread_cond_timedwait(&w.cv, &s->mu, &until) != 0)
                break;
        if (w.queued) /* timed out or stopping: leave the queue */
            waiter_unlink(s, &w);
        c = w.c;
        pthread_cond_destroy(&w.cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (c) {
        tl_conn = c;
        tl_gen = s->gen;
        return c;
    }
    struct buf err = BUF_INIT;
    if (kb_conn_open(s->eng, &c, &err) != RC_OK) {
        log_error("http: cannot open a store connection: %s", buf_str(&err));
        buf_release(&err);
        return NULL;
    }
    buf_release(&err);
    pthread_mutex_lock(&s->mu);
    s->conns = xgrow(s->conns, &s->capconns, s->nconns + 1, sizeof *s->conns);
    s->conns[s->nconns++] = c;
    pthread_mutex_unlock(&s->mu);
    tl_conn = c;
    tl_gen = s->gen;
    return c;
}

void http_conn_lend(struct http_server *s)
{
    if (!tl_conn || tl_gen != s->gen)
        return;
    struct kb_conn *close_it = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->wait_head) { /* straight to the oldest waiter */
        struct conn_waiter *w = s->wait_head;
        waiter_unlink(s, w);
        w->c = tl_conn;
        pthread_cond_signal(&w->cv);
    } else if (s->npool < POOL_MAX) {
        s->pool = xgrow(s->pool, &s->cappool, s->npool + 1, sizeof *s->pool);
        s->pool[s->npool++] = tl_conn;
        pthread_cond_signal(&s->pool_cv);
    } else { /* enough idle ones: this one is closed (and forgotten) */
        for (size_t i = 0; i < s->nconns; i++)
            if (s->conns[i] == tl_conn) {
                s->conns[i] = s->conns[--s->nconns];
                close_it = tl_conn;
                break;
            }
    }
    pthread_mutex_unlock(&s->mu);
    kb_conn_close(close_it);
    tl_conn = NULL;
}

/* ---- responses ---- */

void http_req_fail(struct http_req *r, int status, const char *code, const char *msg)
{
    if (r->err_status)
        return;
    r->err_status = status;
    r->err_code = code;
    r->err_msg = xstrdup(msg);
}

void http_req_fail_rc(struct http_req *r, int rc, const char *msg)
{
    http_req_fail(r, rc_http_status(rc), rc_code(rc), msg);
}

static enum MHD_Result add_retry_after(struct MHD_Response *resp, int secs)
{
    char v[16];
    snprintf(v, sizeof v, "%d", secs > 0 ? secs : 1);
    return MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
}

enum MHD_Result http_respond(struct http_req *r, int status, struct MHD_Response *resp,
                             size_t bytes)
{
    if (!resp) {
        log_error("http: cannot create a response");
        return MHD_NO;
    }
    enum MHD_Result res = MHD_YES;
    if (MHD_add_response_header(resp, "X-Request-Id", r->id) != MHD_YES ||
        (status == 429 && add_retry_after(resp, r->retry_after) != MHD_YES))
        log_warn("http: cannot add X-Request-Id or Retry-After");
    res = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    r->status = status;
    r->bytes = bytes;
    return res;
}

/* Sends p (n bytes of JSON, malloc'd, consumed), with an Allow header when
 * allow != NULL. */
static enum MHD_Result send_text_allow(struct http_req *r, int status, char *p, size_t n,
                                       const char *allow)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(p);
        return MHD_NO;
    }
    /* Answers hold what one user may see (and tokens once): never cached. */
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8") != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        (allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES))
        log_warn("http: cannot add a response header");
    return http_respond(r, status, resp, n);
}

/* Sends j (consumed) as compact JSON, with an Allow header when allow != NULL. */
static enum MHD_Result send_json_allow(struct http_req *r, int status, json_t *j, const char *allow)
{
    char *p = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(j);
    if (!p) {
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal_error\",\"message\":\"内部错误 / internal error\"}}";
        p = xstrdup(fallback);
        status = 500;
    }
    return send_text_allow(r, status, p, strlen(p), allow);
}

enum MHD_Result http_send_json_text(struct http_req *r, int status, char *p, size_t n)
{
    return send_text_allow(r, status, p, n, NULL);
}

enum MHD_Result http_send_json(struct http_req *r, int status, json_t *j)
{
    return send_json_allow(r, status, j, NULL);
}

static json_t *error_json(const char *code, const char *msg)
{
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg ? msg : "");
    if (!j) /* msg was not UTF-8 (it never should be): keep the code */
        j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", "");
    return j;
}

enum MHD_Result http_send_error(struct http_req *r, int status, const char *code, const char *msg)
{
    return send_json_allow(r, status, error_json(code, msg), NULL);
}

enum MHD_Result http_send_task_result(struct http_req *r, struct http_task_result *t)
{
    json_t *j = t->body;
    t->body = NULL;
    char *p = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!p)
        return http_send_rc(r, RC_INTERNAL, "内部错误 / internal error");
    size_t n = strlen(p);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(p);
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8") != MHD_YES ||
        (t->set_cookie &&
         MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, t->set_cookie) != MHD_YES) ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)
        log_warn("http: cannot add a response header");
    return http_respond(r, t->status ? t->status : 200, resp, n);
}

/* A 401 with the challenge RFC 9110 asks for. */
static enum MHD_Result send_json_www(struct http_req *r, json_t *j)
{
    char *p = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!p)
        return MHD_NO;
    size_t n = strlen(p);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(p);
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8") != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"atrium\"") != MHD_YES)
        log_warn("http: cannot add a response header");
    return http_respond(r, 401, resp, n);
}

enum MHD_Result http_send_rc(struct http_req *r, int rc, const char *msg)
{
    return http_send_error(r, rc_http_status(rc), rc_code(rc), msg);
}

enum MHD_Result http_send_empty(struct http_req *r, int status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    return http_respond(r, status, resp, 0);
}

/* ---- routing ---- */

/* "GET, HEAD, POST" for a method set. */
static const char *allow_header(unsigned m, char *out, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{HM_GET, "GET"}, {HM_HEAD, "HEAD"},   {HM_POST, "POST"},
                 {HM_PUT, "PUT"}, {HM_PATCH, "PATCH"}, {HM_DELETE, "DELETE"}};
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(m & names[i].bit))
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", names[i].name);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return out;
}

static enum http_method parse_method(const char *m)
{
    static const struct {
        const char *name;
        enum http_method m;
    } names[] = {{"GET", HM_GET},   {"POST", HM_POST}, {"DELETE", HM_DELETE},
                 {"HEAD", HM_HEAD}, {"PUT", HM_PUT},   {"PATCH", HM_PATCH}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(m, names[i].name) == 0)
            return names[i].m;
    return HM_OTHER;
}

#define SEG_MAX 10

struct route_params {
    const char *kb, *id, *id2, *s;
};

/* Does pattern match the path segments? Fills the parameters when so. */
static int pattern_match(const char *pattern, const char *const *seg, size_t n,
                         struct route_params *p)
{
    struct route_params got = {0};
    size_t i = 0;
    const char *q = pattern;
    while (*q) {
        const char *e = strchr(q, '/');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        if (i >= n)
            return 0;
        if (q[0] == ':') {
            if (len == 3 && strncmp(q, ":kb", 3) == 0)
                got.kb = seg[i];
            else if (len == 3 && strncmp(q, ":id", 3) == 0)
                got.id = seg[i];
            else if (len == 4 && strncmp(q, ":id2", 4) == 0)
                got.id2 = seg[i];
            else
                got.s = seg[i];
        } else if (strlen(seg[i]) != len || strncmp(seg[i], q, len) != 0) {
            return 0;
        }
        i++;
        q += len;
        if (*q == '/')
            q++;
    }
    if (i != n)
        return 0;
    *p = got;
    return 1;
}

/* Finds the route for a path (split in `copy`) and method. Sets r->def
 * (NULL when nothing matches that method) and r->allowed (the methods
 * the path has at all; 0 = unknown path). */
static void match_route(struct http_req *r, char *copy, struct route_params *params)
{
    const char *seg[SEG_MAX];
    size_t n = 0;
    char *save = NULL;
    r->def = NULL;
    r->allowed = 0;
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == SEG_MAX)
            return;
        seg[n++] = t;
    }
    enum http_method want = r->method == HM_HEAD ? HM_GET : r->method;
    for (size_t i = 0; i < http_nroutes; i++) {
        const struct http_route_def *d = &http_routes[i];
        struct route_params p;
        if (!pattern_match(d->pattern, seg, n, &p))
            continue;
        r->allowed |= d->methods | (d->methods & HM_GET ? HM_HEAD : 0);
        if (!r->def && (d->methods & want)) {
            r->def = d;
            *params = p;
        }
    }
}

/* The client address, for the audit log. */
static void client_ip(struct http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r->ip[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->ip,
                  sizeof r->ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->ip,
                  sizeof r->ip);
}

/* The value of cookie `name` in the Cookie header, copied to out. */
static int find_cookie(struct http_req *r, const char *name, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
    if (!v || !*v || strlen(v) >= cap)
        return 0;
    memcpy(out, v, strlen(v) + 1);
    return 1;
}

/* Who is asking: a bearer token, else the session cookie. Records 401 /
 * 403 (CSRF) with http_req_fail and returns non-zero when nobody valid is. */
static int authenticate(struct http_req *r, struct kb_conn *c)
{
    struct db_conn *d = kb_conn_store(c);
    const char *authz =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int rc;
    if (authz && *authz) {
        if (strncasecmp(authz, "Bearer ", 7) != 0) {
            http_req_fail(r, 401, "unauthorized",
                          "仅支持 Bearer 令牌 / only Bearer tokens are accepted");
            return 1;
        }
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        rc = auth_token_check(d, tok, &r->who);
        if (rc != RC_OK) {
            if (rc == RC_DB)
                http_req_fail_rc(r, RC_DB, "存储不可用 / store unavailable");
            else
                http_req_fail(r, 401, "unauthorized",
                              "令牌无效、已过期或已吊销 / invalid, expired or revoked token");
            return 1;
        }
        r->authed = 1;
        return 0;
    }
    char cookie[128];
    if (!find_cookie(r, AUTH_SESSION_COOKIE, cookie, sizeof cookie)) {
        http_req_fail(r, 401, "unauthorized", "请先登录 / sign-in required");
        return 1;
    }
    rc = auth_session_check(d, r->srv->cfg, cookie, &r->who);
    if (rc != RC_OK) {
        if (rc == RC_DB)
            http_req_fail_rc(r, RC_DB, "存储不可用 / store unavailable");
        else
            http_req_fail(r, 401, "unauthorized",
                          "会话已过期，请重新登录 / session expired, sign in again");
        return 1;
    }
    /* A cookie rides along with any request the browser makes, so a write
     * must also prove it came from our page: the CSRF token it was given
     * at sign-in, in a header another site cannot set. */
    if (r->method != HM_GET && r->method != HM_HEAD) {
        const char *t = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
        if (!t || strlen(t) != strlen(r->who.csrf) ||
            sodium_memcmp(t, r->who.csrf, strlen(r->who.csrf)) != 0) {
            http_req_fail(r, 403, "csrf_failed",
                          "缺少或错误的 CSRF 令牌 / missing or wrong X-CSRF-Token");
            return 1;
        }
    }
    r->authed = 1;
    return 0;
}

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    int *bad = cls;
    (void)kind;
    if ((key && !utf8_valid(key, strlen(key))) || (value && !utf8_valid(value, strlen(value)))) {
        *bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static void copy_log_path(struct http_req *r, const char *url)
{
    size_t n = strlen(url);
    if (!utf8_valid(url, n)) {
        snprintf(r->path, sizeof r->path, "%s", "(invalid)");
        return;
    }
    if (n >= sizeof r->path)
        n = http_utf8_whole_prefix(url, sizeof r->path - 1);
    /* The path is percent-decoded: "%0A" would start a forged log line.
     * Control bytes (C0, DEL) are logged as '?'. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        r->path[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    r->path[n] = '\0';
}

/* The declared Content-Length, or -1 when there is none (chunked) or it is
 * unusable (libmicrohttpd refuses those itself). */
static int64_t declared_length(struct http_req *r)
{
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t len = 0;
    if (!cl || parse_i64(cl, 0, INT64_MAX, &len) != RC_OK)
        return -1;
    return len;
}

/* The first handler call: everything known from the request line and the
 * headers. Nothing is queued here unless the body is too big (then the
 * connection is closed after the 413, which is what we want). */
static enum MHD_Result req_begin(struct http_req *r, const char *url, const char *method)
{
    struct http_server *s = r->srv;
    char copy[URL_MAX];
    r->method = parse_method(method);
    copy_log_path(r, url);
    client_ip(r);
    /* Until the route says otherwise, a body (even one that is dropped after
     * an error) may be as large as a JSON body. */
    r->body_limit = s->cfg->body_max;
    buf_init(&r->body, s->cfg->body_max);

    size_t ulen = strlen(url);
    if (!utf8_valid(url, ulen)) {
        http_req_fail_rc(r, RC_INVALID, "路径不是有效的 UTF-8 / path is not valid UTF-8");
        return MHD_YES;
    }
    int bad = 0;
    (void)MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &bad);
    if (bad) {
        http_req_fail_rc(r, RC_INVALID,
                         "查询参数不是有效的 UTF-8 / query string is not valid UTF-8");
        return MHD_YES;
    }
    if (ulen >= sizeof copy) {
        http_req_fail(r, 414, "uri_too_long", "路径过长 / path too long");
        return MHD_YES;
    }
    memcpy(copy, url, ulen + 1);
    struct route_params params = {0};
    match_route(r, copy, &params);
    /* The web portal: a GET/HEAD of any non-API path (static.c). */
    if (!r->allowed && s->web && (r->method == HM_GET || r->method == HM_HEAD) &&
        http_static_handles(url)) {
        r->static_path = xstrdup(url);
        return MHD_YES;
    }
    if (!r->allowed) {
        http_req_fail(r, 404, "not_found", "接口不存在 / no such endpoint");
        return MHD_YES;
    }
    if (!r->def) {
        http_req_fail(r, 405, "method_not_allowed",
                      "不支持该请求方法 / method not allowed for this endpoint");
        return MHD_YES;
    }
    const struct http_route_def *def = r->def;

    /* The body: what kind, how much, and reject oversized ones now. */
    if (r->method == HM_POST || r->method == HM_PUT || r->method == HM_PATCH)
        r->body_kind = (def->flags & RF_UPLOAD) ? HB_MULTIPART : HB_JSON;
    if (r->body_kind == HB_MULTIPART)
        r->body_limit = s->cfg->upload_max + UPLOAD_SLACK;
    int64_t len = declared_length(r);
    if (len >= 0 && (uint64_t)len > r->body_limit)
        return http_send_rc(r, RC_TOO_BIG, "请求体过大 / request body too large");
    if (def->flags & RF_PUBLIC)
        goto params;

    struct kb_conn *c = http_conn(s);
    if (!c) {
        http_req_fail_rc(r, RC_DB, "存储不可用 / store unavailable");
        return MHD_YES;
    }
    if (authenticate(r, c))
        return MHD_YES;
    if ((r->who.perms & def->perms) != def->perms) {
        http_req_fail(r, 403, "forbidden", "没有权限 / you do not have permission for this");
        return MHD_YES;
    }
    if (params.kb) {
        int rc = kb_get_for(c, &r->who, params.kb, def->kb_level, &r->kb);
        if (rc != RC_OK) {
            if (rc == RC_NOT_FOUND || rc == RC_INVALID)
                http_req_fail(r, 404, "not_found", "知识库不存在 / unknown knowledge base");
            else if (rc == RC_DENIED)
                http_req_fail(r, 403, "forbidden",
                              "没有该知识库的写入或管理权限 / no write or admin access to this "
                              "knowledge base");
            else
                http_req_fail_rc(r, rc, "读取知识库失败 / cannot read the knowledge base");
            return MHD_YES;
        }
        r->has_kb = 1;
    }
params:
    if ((params.id && parse_i64(params.id, 1, INT64_MAX, &r->arg_id) != RC_OK) ||
        (params.id2 && parse_i64(params.id2, 1, INT64_MAX, &r->arg_id2) != RC_OK)) {
        http_req_fail(r, 404, "not_found", "资源不存在 / no such resource");
        return MHD_YES;
    }
    if (params.s) {
        size_t n = strlen(params.s);
        if (n >= sizeof r->arg_str) {
            http_req_fail(r, 404, "not_found", "资源不存在 / no such resource");
            return MHD_YES;
        }
        memcpy(r->arg_str, params.s, n + 1);
    }
    if ((def->flags & RF_CONV_FILES) && http_conv_files_kb(r) != RC_OK)
        return MHD_YES; /* the error is recorded */
    if (r->body_kind == HB_MULTIPART)
        http_upload_begin(r);
    return MHD_YES;
}

static void req_feed(struct http_req *r, const char *data, size_t n)
{
    if (r->err_status) {
        r->discarded += n;
        return;
    }
    switch (r->body_kind) {
    case HB_MULTIPART:
    case HB_RAW:
        http_upload_feed(r, data, n);
        break;
    default:
        if (buf_add(&r->body, data, n) != RC_OK) {
            buf_release(&r->body);
            http_req_fail_rc(r, RC_TOO_BIG, "请求体过大 / request body too large");
        }
        break;
    }
}

static enum MHD_Result req_finish(struct http_req *r)
{
    if (r->err_status) {
        http_upload_cleanup(r);
        char allow[64];
        if (r->err_status == 405)
            return send_json_allow(r, 405, error_json(r->err_code, r->err_msg),
                                   allow_header(r->allowed, allow, sizeof allow));
        if (r->err_status == 401)
            return send_json_www(r, error_json(r->err_code, r->err_msg));
        return http_send_error(r, r->err_status, r->err_code, r->err_msg);
    }
    if (r->static_path)
        return http_static_send(r, r->static_path);
    if (r->stream)
        return http_ask_deferred_result(r);
    if (r->body_kind == HB_MULTIPART || r->body_kind == HB_RAW)
        return http_upload_finish(r);
    return http_route_dispatch(r);
}

static struct http_req *req_new(struct http_server *s, struct MHD_Connection *c)
{
    struct http_req *r = xcalloc(1, sizeof *r);
    r->srv = s;
    r->conn = c;
    r->t0 = now_ms();
    random_hex(r->id, 8);
    buf_init(&r->body, 0);
    return r;
}

static void req_free(struct http_req *r)
{
    if (r->has_kb)
        kb_info_release(&r->kb);
    buf_release(&r->body);
    free(r->err_msg);
    free(r->static_path);
    free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    enum MHD_Result res = MHD_YES;
    (void)version;
    if (!r) {
        r = req_new(s, c);
        *con_cls = r;
        log_set_request_id(r->id);
        res = req_begin(r, url, method);
        /* An early error (404, 405, 400...) is answered now, instead of at
         * the end of the body, when the body is longer than we would drain
         * (else the connection would be cut unanswered) or the client waits
         * for "100 Continue" (else it would send the body for nothing). */
        if (res == MHD_YES && r->err_status && !r->responded) {
            int64_t len = declared_length(r);
            const char *expect =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            if ((len >= 0 && (uint64_t)len > r->body_limit) ||
                (len > 0 && expect && strcasecmp(expect, "100-continue") == 0))
                res = req_finish(r);
        }
        goto out;
    }
    log_set_request_id(r->id);
    if (*data_size) {
        size_t n = *data_size;
        *data_size = 0;
        if (r->responded)
            goto out;
        req_feed(r, data, n);
        /* Past a recorded error the rest of the body is dropped so the answer
         * can still be sent; a chunked body that goes on past the cap is cut
         * off (MHD cannot queue an answer mid-body): never read on forever. */
        if (r->discarded > r->body_limit)
            res = MHD_NO;
        goto out;
    }
    if (!r->responded)
        res = req_finish(r);
out:
    log_set_request_id(NULL);
    return res;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_req *r = *con_cls;
    (void)cls;
    (void)c;
    if (!r)
        return;
    log_set_request_id(r->id);
    if (r->stream)
        http_stream_detach(r);
    http_upload_cleanup(r);
    char m[64];
    allow_header(r->method, m, sizeof m);
    /* The user id, not the name: access logs carry no personal data. */
    log_info("%s %s %d %zu %.1fms u=%lld%s", m[0] ? m : "OTHER", r->path, r->status, r->bytes,
             now_ms() - r->t0, r->authed ? (long long)r->who.user_id : -1LL,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
    log_set_request_id(NULL);
    req_free(r);
    *con_cls = NULL;
}

/* A streamed answer is many small writes: without TCP_NODELAY each waits
 * for the client's (delayed) ACK of the previous one, adding up to 40 ms. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_ctx;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (ci && setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_debug("http: TCP_NODELAY not set: %s", strerror(errno));
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    /* Mostly clients that went away (normal for streams); start-up
     * failures are reported by http_start's own error. */
    log_info("microhttpd: %s", line);
}

/* ---- start / stop ---- */

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return RC_OK;
    return RC_IO;
}

static void server_free(struct http_server *s)
{
    /* After the workers: they post audit entries and run answers. */
    eval_runner_stop(s->eval); /* H4: before the gateway its runs use */
    assist_free(s->assist);
    gw_free(s->gw);
    safety_free(s->safety);
    audit_writer_stop(s->audit);
    for (size_t i = 0; i < s->nconns; i++)
        kb_conn_close(s->conns[i]);
    free(s->conns);
    free(s->pool);
    free(s->workers);
    free(s->upload_dir);
    http_static_close(s->web);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->pool_cv);
    pthread_cond_destroy(&s->answer_cv);
    pthread_cond_destroy(&s->flush_cv);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int http_start(const struct config *cfg, struct kb_engine *eng, struct http_server **out,
               struct buf *err)
{
    int rc = RC_INTERNAL;
    int workers_up = 0;
    struct http_server *s = xcalloc(1, sizeof *s);
    struct buf path = BUF_INIT;
    *out = NULL;
    s->cfg = cfg;
    s->eng = eng;
    s->gen = atomic_fetch_add(&next_gen, 1);
    s->listen_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_cond_init(&s->answer_cv, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    {
        pthread_condattr_t ca; /* the flusher waits for CLOCK_MONOTONIC times */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->flush_cv, &ca);
        pthread_condattr_destroy(&ca);
    }

    if (buf_addf(&path, "%s/uploads", cfg->data_dir) != RC_OK || make_dir(buf_str(&path))) {
        (void)buf_addf(err, "无法创建上传目录 / cannot create %s: %s", buf_str(&path),
                       strerror(errno));
        rc = RC_IO;
        goto out;
    }
    s->upload_dir = buf_detach(&path, NULL);
    if (http_static_open(cfg->web_dir, &s->web) != RC_OK) {
        (void)buf_addf(err, "网页目录不存在 / web_dir is not a directory: %s", cfg->web_dir);
        rc = RC_INVALID;
        goto out;
    }
    if (s->web)
        log_info("http: serving the web portal from %s", http_static_root(s->web));

    struct sockaddr_in sa4;
    struct sockaddr_in6 sa6;
    const struct sockaddr *sa = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    const char *bind = cfg->bind && *cfg->bind ? cfg->bind : "127.0.0.1";
    if (cfg->port < 0 || cfg->port > 65535) {
        (void)buf_addf(err, "端口无效 / invalid port %d", cfg->port);
        rc = RC_INVALID;
        goto out;
    }
    memset(&sa4, 0, sizeof sa4);
    memset(&sa6, 0, sizeof sa6);
    if (inet_pton(AF_INET, bind, &sa4.sin_addr) == 1) {
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons((uint16_t)cfg->port);
        sa = (const struct sockaddr *)&sa4;
    } else if (inet_pton(AF_INET6, bind, &sa6.sin6_addr) == 1) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)cfg->port);
        sa = (const struct sockaddr *)&sa6;
        flags |= MHD_USE_IPv6;
    } else {
        (void)buf_addf(err, "监听地址无效 / invalid bind address %s", bind);
        rc = RC_INVALID;
        goto out;
    }

    auth_hash_limit(cfg->hash_concurrency > 0 ? cfg->hash_concurrency : 1,
                    cfg->hash_queue > 0 ? cfg->hash_queue : 1);
    {
        int nw = cfg->workers > 0 ? cfg->workers : 1;
        int hc = cfg->hash_concurrency > 0 ? cfg->hash_concurrency : 1;
        s->max_tasks = nw > 1 && hc > nw - 1 ? nw - 1 : hc;
        s->max_task_queue = cfg->hash_queue > 0 ? cfg->hash_queue : 1;
    }
    if (audit_writer_start(kb_engine_db_path(eng), cfg->audit_flush_ms, &s->audit) != RC_OK) {
        (void)buf_adds(err, "无法启动审计日志 / cannot start the audit log writer");
        rc = RC_DB;
        goto out;
    }
    s->safety = safety_new(cfg->rate_per_min, cfg->rate_burst);
    if ((rc = gw_new(cfg, kb_engine_db_path(eng), &s->gw, err)) != RC_OK ||
        (rc = assist_new(cfg, s->gw, s->safety, s->audit, &s->assist, err)) != RC_OK)
        goto out;
    /* H4: the background eval runs (marks runs a crash left running failed) */
    if ((rc = eval_runner_start(cfg, eng, s->gw, s->safety, s->audit, &s->eval, err)) != RC_OK)
        goto out;
    {
        /* answers that were streaming when a previous process died */
        struct kb_conn *c0 = http_conn(s);
        int64_t nfail = 0;
        if (c0 && conv_msg_fail_streaming(kb_conn_store(c0), &nfail) == RC_OK && nfail)
            log_warn("http: %lld answer(s) interrupted by the last stop marked failed",
                     (long long)nfail);
        /* uploads no job will ingest (an hour old: never one being received) */
        size_t swept = c0 ? kb_jobs_sweep(c0, s->upload_dir, 3600) : 0;
        if (swept)
            log_info("http: removed %zu orphaned upload file(s)", swept);
        /* a year of the working-day calendar nobody loaded: the workdays
         * tool would count weekends only there */
        time_t now = time(NULL);
        struct tm tm;
        int years[2];
        size_t nyears =
            c0 && localtime_r(&now, &tm)
                ? wd_years_to_load(kb_conn_store(c0), tm.tm_year + 1900, tm.tm_mon + 1, years)
                : 0;
        for (size_t i = 0; i < nyears; i++)
            log_warn(
                "calendar: %d 年的节假日安排尚未导入，工作日计算只按周末；请用 atrium calendar "
                "import 导入 / the holidays of %d are not loaded: workday answers count "
                "weekends only until they are (atrium calendar import)",
                years[i], years[i]);
    }
    rc = RC_INTERNAL;
    workers_up = 1; /* the ones that started are stopped on failure too */
    if (http_workers_start(s) != RC_OK) {
        (void)buf_adds(err, "无法启动工作线程 / cannot start worker threads");
        goto out;
    }

    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : 1;
    /* The memory limit also caps the request line and headers: past it
     * libmicrohttpd answers 414 (request line) or 431 (headers) itself, with
     * its own HTML body. 0.9.x has no hook to replace those bodies with our
     * JSON envelope, so that answer is documented instead. */
    s->d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        s, /* first, or MHD complains */
        MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 1024),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(cfg->max_per_ip > 0 ? cfg->max_per_ip : 0),
        MHD_OPTION_END);
    if (!s->d) {
        (void)buf_addf(err, "无法监听 / cannot listen on %s:%d", bind, cfg->port);
        rc = RC_IO;
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    http_workers_kick(s); /* jobs queued before a restart */
    log_info("http: listening on %s:%d (%u threads, %d workers)", bind, s->port, threads,
             s->nworkers);
    *out = s;
    s = NULL;
    rc = RC_OK;
out:
    buf_release(&path);
    if (s) {
        if (workers_up) {
            http_workers_quiesce(s);
            http_workers_join(s);
        }
        server_free(s);
    }
    return rc;
}

int http_port(const struct http_server *s)
{
    return s ? s->port : 0;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    /* Stop accepting, let streams finish (none may stay suspended when the
     * daemon stops), stop the daemon, then the workers. */
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    http_workers_quiesce(s);
    MHD_stop_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET && close(fd) != 0)
        log_warn("http: closing the listening socket failed");
    http_workers_join(s);
    log_info("http: stopped");
    server_free(s);
}
