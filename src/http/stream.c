/* The worker pool (streamed answers and background ingest jobs) and the
 * SSE stream that connects a worker to a suspended MHD connection. A stream
 * is shared by three owners (the MHD response, the worker, the request),
 * each holding one reference; the stream's mutex orders suspend/resume so a
 * connection is only resumed while it is suspended and still alive. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "auth/audit.h"
#include "llm/gateway.h"
#include "http/http_int.h"
#include "text/utf8.h"

#define STREAM_OUT_MAX (8u << 20) /* buffered, unsent event bytes */
#define JOB_POLL_S 2
#define STREAMS_MAX 1024          /* answers in flight when max_answers is unset */
#define ANSWER_STACK (512 * 1024) /* an answer thread's stack */
#define ANSWER_IDLE_S 10          /* an idle answer thread waits this long for another */
#define ANSWER_IDLE_MAX 64        /* idle answer threads kept; after a burst the rest end */
#define DRAIN_MS 3000             /* how long a stop waits for answers to reach their clients */
/* An ask refused or cut short by a stop is RC_BUSY (429, "retry later"),
 * for JSON and SSE alike: rc.h has no "unavailable" code. */
#define STOPPING_MSG "服务正在停止，请稍后重试 / the server is shutting down, retry later"

struct http_stream {
    struct http_stream *next; /* the work queue (guarded by srv->mu) */
    struct http_server *srv;
    pthread_mutex_t mu; /* guards the fields below */
    int refs;
    struct buf out; /* event bytes not yet handed to MHD, from `off` */
    size_t off;
    size_t sent;
    int done;      /* the worker has written its last event */
    int cancelled; /* the client or the server is gone: stop producing */
    int suspended; /* the connection is suspended waiting for bytes */
    struct MHD_Connection *conn;
    /* Worker-only state. */
    char carry[4]; /* an incomplete UTF-8 sequence from the last delta */
    size_t ncarry;
    size_t ndeltas;
    char id[33];
    int64_t kb_id;
    char *question;
    struct kb_ask_opts opts;
    /* A JSON answer computed off the request thread (no SSE): the connection
     * is suspended until the worker has filled these. */
    int json_mode;
    int stopped; /* a delta callback told kb_ask to stop */
    int rc;
    json_t *result;
    struct buf err;
    /* Who asked, for the permission filter and the audit log. */
    struct auth_principal who;
    char ip[48];
    /* A custom stream instead of an ask (http_sse). */
    http_sse_fn sse;
    /* A slow task instead of an ask (http_defer). */
    http_task_fn task;
    void *task_ctx;
    void (*task_free)(void *);
    struct http_task_result tres;
    /* ATRIUM_ASK_TRACE: when the request came, when its stream was made,
     * when the first event was pushed and when MHD took it */
    double t_req, t_new, t_push, t_read;
    /* Coalescing: when MHD was last woken for this stream, and which kinds
     * of streamed text have had their first event (STREAMED_*). */
    double t_woken;
    unsigned streamed;
    int flush_queued; /* on the flusher's queue, holding a reference */
    /* The flusher's queue (guarded by srv->flush_mu). */
    struct http_stream *flush_next;
    double flush_due;
};

/* The events that stream an answer's text: after the first of each kind, one
 * that comes within flush_ms of the last wake-up waits for the flusher. */
enum { STREAMED_DELTA = 1, STREAMED_THINKING = 2, STREAMED_CHUNK = 4 };

static int server_stopping(struct http_server *s)
{
    return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

static void stream_unref(struct http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last)
        return;
    buf_release(&st->out);
    buf_release(&st->err);
    json_decref(st->result);
    free(st->question);
    if (st->task_free)
        st->task_free(st->task_ctx);
    json_decref(st->tres.body);
    free(st->tres.set_cookie);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* MHD's content reader: hands over what is buffered, ends the stream when
 * the worker is done, or suspends the connection until the worker resumes
 * it. Never blocks. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *st = cls;
    ssize_t res;
    (void)pos;
    pthread_mutex_lock(&st->mu);
    size_t avail = st->out.len - st->off;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, st->out.p + st->off, n);
        if (st->t_push > 0 && st->t_read <= 0)
            st->t_read = now_ms();
        st->off += n;
        st->sent += n;
        if (st->off == st->out.len) {
            buf_reset(&st->out);
            st->off = 0;
        }
        res = (ssize_t)n;
    } else if (st->done || st->cancelled) {
        res = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        st->suspended = 1;
        MHD_suspend_connection(st->conn);
        res = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return res;
}

/* MHD destroyed the response: the connection is gone or finished. */
static void stream_response_freed(void *cls)
{
    struct http_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    st->cancelled = 1;
    st->conn = NULL;
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
}

/* The STREAMED_* kind of an event, 0 for the others (notices, citations,
 * done, errors: these always wake the connection at once). NULL is a
 * data-only chunk of an OpenAI-style stream. */
static unsigned event_kind(const char *event)
{
    if (!event)
        return STREAMED_CHUNK;
    if (strcmp(event, "delta") == 0)
        return STREAMED_DELTA;
    if (strcmp(event, "thinking") == 0)
        return STREAMED_THINKING;
    return 0;
}

/* Puts st on the flusher's queue (st->mu held): its connection is woken
 * once flush_ms have passed since the last wake-up. 0 when the flusher has
 * stopped: the caller wakes the connection itself. */
static int flush_enqueue(struct http_stream *st)
{
    struct http_server *s = st->srv;
    pthread_mutex_lock(&s->flush_mu);
    int queued = !s->flush_stop;
    if (queued) {
        st->flush_queued = 1;
        st->refs++;
        st->flush_due = st->t_woken + s->flush_ms;
        st->flush_next = NULL;
        if (s->ftail) {
            s->ftail->flush_next = st;
        } else {
            s->fhead = st;
            pthread_cond_signal(&s->flush_cv);
        }
        s->ftail = st;
    }
    pthread_mutex_unlock(&s->flush_mu);
    return queued;
}

/* Wakes the connection now if MHD is waiting for bytes (st->mu held). */
static void stream_resume(struct http_stream *st)
{
    if (!st->suspended || !st->conn)
        return;
    st->suspended = 0;
    st->t_woken = st->srv->flush_ms > 0 ? now_ms() : 0;
    MHD_resume_connection(st->conn);
}

/* New bytes are in st->out (st->mu held): wakes the connection if MHD is
 * waiting for them. A streamed-text event of a kind already started
 * (kind, STREAMED_*) that comes within flush_ms of the last wake-up is held
 * back for the flusher instead, so a connection is woken at most every
 * flush_ms while an answer streams: MHD then sends several deltas with one
 * wake-up and one write, instead of one each. The first delta and every
 * other event go at once. */
static void stream_wake(struct http_stream *st, unsigned kind)
{
    int first = (st->streamed & kind) == 0;
    st->streamed |= kind;
    if (!st->suspended || !st->conn)
        return; /* MHD is sending: it takes the new bytes with the others */
    if (kind && !first && st->srv->flush_ms > 0 && now_ms() - st->t_woken < st->srv->flush_ms &&
        (st->flush_queued || flush_enqueue(st)))
        return;
    stream_resume(st);
}

/* Appends one event and wakes the connection. Returns non-zero when the
 * stream is cancelled or the server is stopping (the producer should stop);
 * a `final` event (the closing error) is still sent while stopping.
 * Consumes data. The JSON is written straight into the stream's buffer
 * (jsonw, the same bytes as json_dumps); an event that does not fit whole is
 * cut back off, so the client never sees half of one. */
static int stream_push(struct http_stream *st, const char *event, json_t *data, int final)
{
    int stop = 1;
    pthread_mutex_lock(&st->mu);
    if (st->cancelled || (!final && server_stopping(st->srv)))
        goto out;
    size_t len0 = st->out.len;
    /* without an event name: an OpenAI-style stream of data lines */
    int w = event ? buf_adds(&st->out, "event: ") : RC_OK;
    if (w == RC_OK && event)
        w = buf_adds(&st->out, event);
    if (w == RC_OK)
        w = buf_adds(&st->out, event ? "\ndata: " : "data: ");
    if (w == RC_OK)
        w = jsonw_dump_flags(&st->out, data, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (w == RC_OK)
        w = buf_add(&st->out, "\n\n", 2);
    if (w != RC_OK) {
        buf_truncate(&st->out, len0);
        if (w == RC_TOO_BIG) {
            log_warn("http: stream buffer full, the client is not reading: cancelled");
            st->cancelled = 1;
        } else {
            log_error("http: cannot encode a stream event");
        }
        goto out;
    }
    unsigned kind = event_kind(event);
    if (st->t_push <= 0 && kind == STREAMED_DELTA)
        st->t_push = now_ms();
    stream_wake(st, kind);
    stop = 0;
out:
    pthread_mutex_unlock(&st->mu);
    json_decref(data);
    return stop;
}

/* Appends "event: <event>\ndata: {"text":"<p>"}\n\n" framed straight from
 * the text (no jansson tree, no json_dumps) and wakes the connection; p must
 * be valid UTF-8. Same contract as stream_push. */
static int stream_push_text(struct http_stream *st, const char *event, const char *p, size_t n)
{
    int stop = 1;
    pthread_mutex_lock(&st->mu);
    if (st->cancelled || server_stopping(st->srv))
        goto out;
    size_t len0 = st->out.len;
    if (buf_adds(&st->out, "event: ") != RC_OK || buf_adds(&st->out, event) != RC_OK ||
        buf_adds(&st->out, "\ndata: {\"text\":") != RC_OK ||
        buf_add_json_str(&st->out, p, n) != RC_OK || buf_adds(&st->out, "}\n\n") != RC_OK) {
        buf_truncate(&st->out, len0); /* the client never gets half an event */
        log_warn("http: stream buffer full, the client is not reading: cancelled");
        st->cancelled = 1;
        goto out;
    }
    unsigned kind = event_kind(event);
    if (st->t_push <= 0 && kind == STREAMED_DELTA)
        st->t_push = now_ms();
    stream_wake(st, kind);
    stop = 0;
out:
    pthread_mutex_unlock(&st->mu);
    return stop;
}

/* A JSON string for text that should be UTF-8; malformed bytes become
 * U+FFFD rather than failing the whole event. */
static json_t *text_json(const char *p, size_t n)
{
    if (utf8_valid(p, n))
        return json_stringn(p, n);
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t used = utf8_decode(p + i, n - i, &cp);
        char enc[4];
        size_t len = utf8_encode(cp, enc);
        if (buf_add(&b, enc, len) != RC_OK)
            break;
        i += used;
    }
    json_t *j = json_stringn(b.p ? b.p : "", b.len);
    buf_release(&b);
    return j;
}

static int stream_on_delta(void *ctx, const char *p, size_t n)
{
    struct http_stream *st = ctx;
    char local[1024];
    struct buf big = BUF_INIT;
    const char *text = p;
    size_t len = n;
    int stop;
    if (st->ncarry) {
        /* Join the carried bytes with the new ones. */
        if (st->ncarry + n <= sizeof local) {
            memcpy(local, st->carry, st->ncarry);
            memcpy(local + st->ncarry, p, n);
            text = local;
        } else {
            if (buf_add(&big, st->carry, st->ncarry) != RC_OK || buf_add(&big, p, n) != RC_OK) {
                buf_release(&big);
                return 1;
            }
            text = big.p;
        }
        len = st->ncarry + n;
        st->ncarry = 0;
    }
    size_t whole = http_utf8_whole_prefix(text, len);
    if (len - whole <= sizeof st->carry) {
        memcpy(st->carry, text + whole, len - whole);
        st->ncarry = len - whole;
    } else {
        whole = len;
    }
    if (whole == 0) {
        stop = st->cancelled; /* racy read is fine: checked again on the next push */
        goto out;
    }
    st->ndeltas++;
    stop = utf8_valid(text, whole)
               ? stream_push_text(st, "delta", text, whole)
               : stream_push(st, "delta", json_pack("{s:o}", "text", text_json(text, whole)), 0);
out:
    if (stop)
        st->stopped = 1;
    buf_release(&big);
    return stop;
}

/* The delta callback of JSON answers: only asks whether to stop. */
static int stream_check_stop(void *ctx, const char *p, size_t n)
{
    struct http_stream *st = ctx;
    (void)p;
    (void)n;
    pthread_mutex_lock(&st->mu);
    int stop = st->cancelled || server_stopping(st->srv);
    pthread_mutex_unlock(&st->mu);
    if (stop)
        st->stopped = 1;
    return stop;
}

static json_t *error_event(int rc, const char *msg)
{
    json_t *j = json_pack("{s:s,s:s}", "code", rc_code(rc), "message", msg ? msg : "");
    return j ? j : json_pack("{s:s,s:s}", "code", rc_code(rc), "message", "");
}

/* The audit entry of an answered question: who, which KB, which chunks
 * were shown (the citations). */
static void audit_ask(struct http_stream *st, const struct kb_answer *ans)
{
    if (!st->srv->audit)
        return;
    json_t *chunks = json_array();
    for (size_t i = 0; i < ans->ncites; i++)
        (void)json_array_append_new(chunks, json_integer(ans->cites[i].chunk_id));
    static const char *modes[] = {"none", "extractive", "model"};
    json_t *detail =
        json_pack("{s:o, s:[I], s:o, s:s}", "question",
                  text_json(st->question, strlen(st->question)), "kbs", (json_int_t)st->kb_id,
                  "chunks", chunks, "mode", modes[(unsigned)ans->mode < 3 ? ans->mode : 0]);
    char target[32];
    snprintf(target, sizeof target, "kb:%lld", (long long)st->kb_id);
    struct audit_entry e;
    audit_entry_from(&e, &st->who);
    e.action = "kb.ask";
    e.target = target;
    e.detail = detail;
    e.ip = st->ip;
    audit_writer_post(st->srv->audit, &e);
    json_decref(detail);
}

/* Runs a deferred task (a sign-in) and wakes its connection. */
static void task_run(struct http_server *s, struct http_stream *st)
{
    log_set_request_id(st->id);
    struct kb_conn *c = server_stopping(s) ? NULL : http_conn(s);
    if (!c) {
        st->tres.status = rc_http_status(server_stopping(s) ? RC_BUSY : RC_DB);
        st->tres.body = json_pack(
            "{s:{s:s,s:s}}", "error", "code", rc_code(server_stopping(s) ? RC_BUSY : RC_DB),
            "message", server_stopping(s) ? STOPPING_MSG : "存储不可用 / store unavailable");
    } else {
        st->task(st->task_ctx, c, &st->tres);
    }
    pthread_mutex_lock(&st->mu);
    st->done = 1;
    stream_resume(st);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&s->mu);
    s->ntasks_running--;
    if (--s->nstreams == 0)
        pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    stream_unref(st);
    log_set_request_id(NULL);
}

/* Runs a custom stream's producer (http_sse) and ends the stream. */
static void sse_run(struct http_server *s, struct http_stream *st)
{
    log_set_request_id(st->id);
    double t_run = now_ms();
    struct kb_conn *c = server_stopping(s) ? NULL : http_conn(s);
    double t_conn = now_ms();
    if (server_stopping(s))
        (void)stream_push(st, "error", error_event(RC_BUSY, STOPPING_MSG), 1);
    else if (!c)
        (void)stream_push(st, "error", error_event(RC_DB, "存储不可用 / store unavailable"), 1);
    else
        st->sse(st->task_ctx, c, st);
    pthread_mutex_lock(&st->mu);
    if (getenv("ATRIUM_ASK_TRACE"))
        log_warn("ask trace (ms): request=%.2f thread_start=%.2f store_conn=%.2f "
                 "delta_to_mhd=%.2f",
                 st->t_new - st->t_req, t_run - st->t_new, t_conn - t_run,
                 st->t_read > 0 ? st->t_read - st->t_push : -1.0);
    st->done = 1;
    stream_resume(st);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&s->mu);
    if (--s->nstreams == 0)
        pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    stream_unref(st);
    log_set_request_id(NULL);
}

int http_sse_event(struct http_stream *st, const char *event, json_t *data)
{
    return stream_push(st, event, data, event && strcmp(event, "error") == 0);
}

int http_sse_text(struct http_stream *st, const char *event, const char *p, size_t n)
{
    if (!utf8_valid(p, n)) /* never from the assistant: it sends whole characters */
        return stream_push(st, event, json_pack("{s:o}", "text", text_json(p, n)), 0);
    return stream_push_text(st, event, p, n);
}

int http_sse_done(struct http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    int stop = st->cancelled || buf_adds(&st->out, "data: [DONE]\n\n") != RC_OK;
    if (!stop)
        stream_resume(st);
    pthread_mutex_unlock(&st->mu);
    return stop;
}

int http_sse_cancelled(struct http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    int stop = st->cancelled || server_stopping(st->srv);
    pthread_mutex_unlock(&st->mu);
    return stop;
}

static void stream_run(struct http_server *s, struct http_stream *st)
{
    if (st->sse) {
        sse_run(s, st);
        return;
    }
    struct kb_answer ans;
    struct buf err = BUF_INIT;
    memset(&ans, 0, sizeof ans);
    log_set_request_id(st->id);
    struct kb_conn *c = server_stopping(s) ? NULL : http_conn(s);
    if (server_stopping(s))
        goto stopping;
    if (!c && st->json_mode) {
        st->rc = RC_DB;
        (void)buf_adds(&st->err, "存储不可用 / store unavailable");
        goto finish;
    }
    if (!c) {
        (void)stream_push(st, "error", error_event(RC_DB, "存储不可用 / store unavailable"), 1);
        goto finish;
    }
    double t0 = now_ms();
    if (st->json_mode) {
        st->rc =
            kb_ask(c, st->kb_id, st->question, &st->opts, stream_check_stop, st, &ans, &st->err);
        if (st->stopped && server_stopping(s)) /* the answer was cut short */
            goto stopping;
        if (st->rc == RC_OK) {
            st->result = kb_answer_json(&ans);
            audit_ask(st, &ans);
        }
        goto finish;
    }
    int rc = kb_ask(c, st->kb_id, st->question, &st->opts, stream_on_delta, st, &ans, &err);
    if (server_stopping(s)) /* no citations or done now: they would not be sent */
        goto stopping;
    if (rc != RC_OK) {
        (void)stream_push(st, "error", error_event(rc, buf_str(&err)), 1);
        goto finish;
    }
    audit_ask(st, &ans);
    if (st->ndeltas == 0 && ans.text && *ans.text)
        (void)stream_push(st, "delta",
                          json_pack("{s:o}", "text", text_json(ans.text, strlen(ans.text))), 0);
    json_t *cites = kb_citations_json(&ans);
    (void)stream_push(st, "citations", cites ? cites : json_array(), 0);
    json_t *full = kb_answer_json(&ans);
    json_t *done = json_object();
    static const char *modes[] = {"none", "extractive", "model"};
    json_t *mode = full ? json_object_get(full, "mode") : NULL;
    if (json_object_set_new(done, "mode",
                            mode
                                ? json_incref(mode)
                                : json_string(modes[(unsigned)ans.mode < 3 ? ans.mode : 0])) != 0 ||
        json_object_set_new(done, "notice",
                            ans.notice ? text_json(ans.notice, strlen(ans.notice)) : json_null()) !=
            0 ||
        json_object_set_new(done, "latency_ms", json_real(now_ms() - t0)) != 0)
        log_warn("http: incomplete done event");
    if (ans.model && json_object_set_new(done, "model", text_json(ans.model, strlen(ans.model))))
        log_warn("http: incomplete done event");
    json_decref(full);
    (void)stream_push(st, "done", done, 0);
    goto finish;
stopping:
    if (st->json_mode) {
        st->rc = RC_BUSY;
        buf_reset(&st->err);
        (void)buf_adds(&st->err, STOPPING_MSG);
        json_decref(st->result);
        st->result = NULL;
    } else {
        (void)stream_push(st, "error", error_event(RC_BUSY, STOPPING_MSG), 1);
    }
finish:
    kb_answer_release(&ans);
    buf_release(&err);
    pthread_mutex_lock(&st->mu);
    st->done = 1;
    stream_resume(st);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&s->mu);
    if (--s->nstreams == 0)
        pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    stream_unref(st);
    log_set_request_id(NULL);
}

static struct http_stream *stream_new(struct http_req *r, struct http_query_body *q, int refs)
{
    struct http_stream *st = xcalloc(1, sizeof *st);
    st->t_new = now_ms();
    st->t_req = r->t0;
    pthread_mutex_init(&st->mu, NULL);
    st->srv = r->srv;
    st->refs = refs;
    st->conn = r->conn;
    buf_init(&st->out, STREAM_OUT_MAX);
    buf_init(&st->err, 4096);
    memcpy(st->id, r->id, sizeof st->id);
    st->kb_id = r->kb.id;
    st->who = r->who;
    memcpy(st->ip, r->ip, sizeof st->ip);
    if (q) {
        st->question = q->text;
        q->text = NULL;
        st->opts.k = q->k;
    }
    st->opts.who = r->authed ? &st->who : NULL;
    return st;
}

/* One answer's own thread: answers wait on models for seconds, so each
 * gets a thread (small stack, a pooled store connection) instead of
 * queueing behind a handful of workers. After its answer the thread waits
 * up to ANSWER_IDLE_S for another (stream_enqueue hands it over), so a busy
 * server does not start and end a thread per answer. */
static void *answer_thread(void *arg)
{
    struct http_stream *st = arg;
    struct http_server *s = st->srv;
    (void)pthread_setname_np(pthread_self(), "atrium-answer");
    for (;;) {
        stream_run(s, st);
        st = NULL;
        http_conn_lend(s); /* an idle thread holds no store connection */
        pthread_mutex_lock(&s->mu);
        s->answer_idle++;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += s->answer_idle_s;
        /* enough are waiting already: this one's stack goes back now */
        int timed_out = s->answer_idle_s <= 0 || s->answer_idle > ANSWER_IDLE_MAX;
        for (;;) {
            if (s->ahead) { /* handed to us: answer_idle was taken for it */
                st = s->ahead;
                s->ahead = st->next;
                if (!s->ahead)
                    s->atail = NULL;
                st->next = NULL;
                break;
            }
            if (timed_out || s->stopping) {
                s->answer_idle--;
                break;
            }
            timed_out = pthread_cond_timedwait(&s->answer_cv, &s->mu, &until) != 0;
        }
        pthread_mutex_unlock(&s->mu);
        if (!st)
            break;
    }
    pthread_mutex_lock(&s->mu);
    if (--s->nthreads == 0)
        pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Hands st to an idle answer thread, or starts one for it, or hands it to
 * the workers when a thread cannot be made. Fails with RC_BUSY when the
 * server is stopping or max_answers answers are in flight already; *why
 * says which. */
static int stream_enqueue(struct http_server *s, struct http_stream *st, const char **why)
{
    int max = s->cfg->max_answers > 0 ? s->cfg->max_answers : STREAMS_MAX;
    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->nstreams >= max) {
        *why =
            s->stopping ? STOPPING_MSG : "回答排队已满，请稍后重试 / too many answers in progress";
        pthread_mutex_unlock(&s->mu);
        return RC_BUSY;
    }
    s->nstreams++;
    if (s->answer_idle > 0) {
        s->answer_idle--;
        st->next = NULL;
        if (s->atail)
            s->atail->next = st;
        else
            s->ahead = st;
        s->atail = st;
        pthread_cond_signal(&s->answer_cv);
        pthread_mutex_unlock(&s->mu);
        return RC_OK;
    }
    s->nthreads++;
    pthread_mutex_unlock(&s->mu);
    pthread_attr_t attr;
    pthread_t t;
    int made = pthread_attr_init(&attr) == 0 &&
               pthread_attr_setstacksize(&attr, ANSWER_STACK) == 0 &&
               pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
               pthread_create(&t, &attr, answer_thread, st) == 0;
    pthread_attr_destroy(&attr);
    if (made)
        return RC_OK;
    log_warn("http: cannot start an answer thread, queued for the workers");
    pthread_mutex_lock(&s->mu);
    s->nthreads--;
    if (s->nthreads == 0)
        pthread_cond_broadcast(&s->idle_cv);
    if (s->qtail)
        s->qtail->next = st;
    else
        s->qhead = st;
    s->qtail = st;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    return RC_OK;
}

/* r's ask is in flight until http_stream_detach: a stop waits for it. */
static void ask_started(struct http_req *r, struct http_stream *st)
{
    r->stream = st;
    pthread_mutex_lock(&r->srv->mu);
    r->srv->nasks++;
    pthread_mutex_unlock(&r->srv->mu);
}

enum MHD_Result http_ask_deferred(struct http_req *r, struct http_query_body *q)
{
    struct http_stream *st = stream_new(r, q, 2); /* worker, request */
    st->json_mode = 1;
    /* Suspend before the worker can exist: it resumes only a suspended
     * connection, and a suspended connection cannot be closed under it. */
    st->suspended = 1;
    MHD_suspend_connection(r->conn);
    const char *why = NULL;
    int rc = stream_enqueue(r->srv, st, &why);
    if (rc != RC_OK) {
        MHD_resume_connection(r->conn);
        st->refs = 1;
        stream_unref(st);
        return http_send_rc(r, rc, why);
    }
    ask_started(r, st);
    return MHD_YES;
}

enum MHD_Result http_defer(struct http_req *r, http_task_fn fn, void *ctx, void (*ctx_free)(void *))
{
    struct http_server *s = r->srv;
    struct http_stream *st = stream_new(r, NULL, 2); /* worker, request */
    st->json_mode = 1;
    st->task = fn;
    st->task_ctx = ctx;
    st->task_free = ctx_free;
    st->suspended = 1;
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->ntasks_queued >= s->max_task_queue) {
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        MHD_resume_connection(r->conn);
        st->refs = 1;
        stream_unref(st);
        return http_send_rc(r, RC_BUSY,
                            stopping ? STOPPING_MSG
                                     : "登录请求过多，请稍后重试 / too many sign-ins, retry later");
    }
    if (s->ttail)
        s->ttail->next = st;
    else
        s->thead = st;
    s->ttail = st;
    s->ntasks_queued++;
    s->nstreams++;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    ask_started(r, st);
    return MHD_YES;
}

enum MHD_Result http_ask_deferred_result(struct http_req *r)
{
    struct http_stream *st = r->stream;
    pthread_mutex_lock(&st->mu);
    int done = st->done;
    json_t *res = st->result;
    st->result = NULL;
    pthread_mutex_unlock(&st->mu);
    if (!done) /* not ours to answer yet (cannot happen while suspended) */
        return MHD_YES;
    if (st->task) {
        json_decref(res);
        return http_send_task_result(r, &st->tres);
    }
    if (st->rc == RC_OK)
        return http_send_json(r, 200, res);
    json_decref(res);
    return http_send_rc(r, st->rc, st->err.len ? buf_str(&st->err) : "回答失败 / answer failed");
}

enum MHD_Result http_ask_stream(struct http_req *r, struct http_query_body *q)
{
    struct http_server *s = r->srv;
    struct http_stream *st = stream_new(r, q, 3); /* response, worker, request */
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_response_freed);
    if (!resp) {
        st->refs = 1;
        stream_unref(st);
        return MHD_NO;
    }
    const char *why = NULL;
    int rc = stream_enqueue(s, st, &why);
    if (rc != RC_OK) {
        MHD_destroy_response(resp); /* drops the response's reference */
        st->refs = 1;
        stream_unref(st);
        return http_send_rc(r, rc, why);
    }
    ask_started(r, st);
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/event-stream; charset=utf-8") != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES ||
        MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES)
        log_warn("http: cannot add stream headers");
    return http_respond(r, 200, resp, 0);
}

enum MHD_Result http_sse(struct http_req *r, http_sse_fn fn, void *ctx, void (*ctx_free)(void *))
{
    struct http_server *s = r->srv;
    struct http_stream *st = stream_new(r, NULL, 3); /* response, worker, request */
    st->sse = fn;
    st->task_ctx = ctx;
    st->task_free = ctx_free;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_response_freed);
    if (!resp) {
        st->refs = 1;
        stream_unref(st);
        return MHD_NO;
    }
    const char *why = NULL;
    int rc = stream_enqueue(s, st, &why);
    if (rc != RC_OK) {
        MHD_destroy_response(resp);
        st->refs = 1;
        stream_unref(st);
        return http_send_rc(r, rc, why);
    }
    ask_started(r, st);
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/event-stream; charset=utf-8") != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES ||
        MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES)
        log_warn("http: cannot add stream headers");
    return http_respond(r, 200, resp, 0);
}

void http_stream_detach(struct http_req *r)
{
    struct http_stream *st = r->stream;
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    if (!st->json_mode)
        r->bytes = st->sent;
    st->cancelled = 1;
    pthread_mutex_unlock(&st->mu);
    r->stream = NULL;
    stream_unref(st);
    struct http_server *s = r->srv;
    pthread_mutex_lock(&s->mu);
    if (--s->nasks == 0)
        pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- the flusher: wakes the connections of held-back events ---- */

/* Wakes st's connection if MHD still waits for the held-back bytes (an
 * event sent at once since may have taken them), and drops the queue's
 * reference. */
static void flush_one(struct http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    st->flush_queued = 0;
    if (st->out.len > st->off)
        stream_resume(st);
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
}

/* Takes from the queue's front every stream due by `until` (flush_mu held). */
static struct http_stream *flush_take(struct http_server *s, double until)
{
    struct http_stream *head = s->fhead, *last = NULL;
    for (struct http_stream *st = s->fhead; st && st->flush_due <= until; st = st->flush_next)
        last = st;
    if (!last)
        return NULL;
    s->fhead = last->flush_next;
    if (!s->fhead)
        s->ftail = NULL;
    last->flush_next = NULL;
    return head;
}

/* The queue is in the order events were held back, and each is due
 * flush_ms after its stream's last wake-up: the head's due time bounds
 * every later one's wait by flush_ms too. Streams due within a fifth of
 * flush_ms are woken together, so MHD takes them in one pass. */
static void *flusher_main(void *arg)
{
    struct http_server *s = arg;
    (void)pthread_setname_np(pthread_self(), "atrium-flush");
    pthread_mutex_lock(&s->flush_mu);
    for (;;) {
        if (!s->fhead) {
            if (s->flush_stop)
                break;
            pthread_cond_wait(&s->flush_cv, &s->flush_mu);
            continue;
        }
        double now = now_ms();
        double due = s->fhead->flush_due;
        if (due > now && !s->flush_stop) {
            /* flush_cv runs on CLOCK_MONOTONIC, the clock of now_ms */
            long long ns = (long long)(due * 1e6) + 1;
            struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000LL),
                                  .tv_nsec = (long)(ns % 1000000000LL)};
            (void)pthread_cond_timedwait(&s->flush_cv, &s->flush_mu, &ts);
            continue;
        }
        /* stopping: everything held back goes now */
        struct http_stream *batch = flush_take(s, s->flush_stop ? 1e300 : now + s->flush_ms / 5);
        pthread_mutex_unlock(&s->flush_mu);
        while (batch) {
            struct http_stream *next = batch->flush_next;
            flush_one(batch);
            batch = next;
        }
        pthread_mutex_lock(&s->flush_mu);
    }
    pthread_mutex_unlock(&s->flush_mu);
    return NULL;
}

/* Wakes what is held back and ends the flusher: before the daemon stops,
 * since a connection must not be resumed after that. */
static void flusher_stop(struct http_server *s)
{
    if (!s->flush_up)
        return;
    pthread_mutex_lock(&s->flush_mu);
    s->flush_stop = 1;
    pthread_cond_signal(&s->flush_cv);
    pthread_mutex_unlock(&s->flush_mu);
    if (pthread_join(s->flusher, NULL) != 0)
        log_error("http: joining the stream flusher failed");
    s->flush_up = 0;
}

/* ---- the worker pool ---- */

static void run_jobs(struct http_server *s)
{
    struct kb_conn *c = http_conn(s);
    if (!c)
        return;
    while (!server_stopping(s)) {
        struct kb_job job;
        memset(&job, 0, sizeof job);
        int rc = kb_job_claim(c, &job);
        if (rc == RC_NOT_FOUND)
            break;
        if (rc != RC_OK) {
            log_error("http: claiming an ingest job failed: %s", rc_code(rc));
            break;
        }
        char id[40];
        snprintf(id, sizeof id, "job-%lld", (long long)job.id);
        log_set_request_id(id);
        double t0 = now_ms();
        rc = kb_job_run(c, &job);
        log_info("http: ingest job %lld finished: %s (%.0f ms)", (long long)job.id, rc_code(rc),
                 now_ms() - t0);
        log_set_request_id(NULL);
        kb_job_release(&job);
    }
}

static void *worker_main(void *arg)
{
    struct http_server *s = arg;
    /* At most half the workers ingest, so streams always find one free.
     * (From cfg: nworkers is still being counted while threads start.) */
    int n = s->cfg->workers > 0 ? s->cfg->workers : 1;
    int max_ingest = n > 1 ? n / 2 : 1;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->qhead) {
            struct http_stream *st = s->qhead;
            s->qhead = st->next;
            if (!s->qhead)
                s->qtail = NULL;
            st->next = NULL;
            pthread_mutex_unlock(&s->mu);
            stream_run(s, st);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        if (s->thead && s->ntasks_running < s->max_tasks) {
            struct http_stream *st = s->thead;
            s->thead = st->next;
            if (!s->thead)
                s->ttail = NULL;
            st->next = NULL;
            s->ntasks_queued--;
            s->ntasks_running++;
            pthread_mutex_unlock(&s->mu);
            task_run(s, st);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        if (s->stopping)
            break;
        if (s->gw && s->cfg->model_health_s > 0 && !s->health_running &&
            now_ms() >= s->next_health_ms && s->ingesting < max_ingest) {
            /* the model endpoints' health, now and then (a GET /models each) */
            s->health_running = 1;
            s->next_health_ms = now_ms() + 1000.0 * s->cfg->model_health_s;
            pthread_mutex_unlock(&s->mu);
            int bad = gw_check_all(s->gw);
            if (bad > 0)
                log_warn("http: %d model endpoint(s) failed their health check", bad);
            pthread_mutex_lock(&s->mu);
            s->health_running = 0;
            continue;
        }
        if (s->warm_pending && s->ingesting < max_ingest) {
            /* the first questions after a start should not wait for an index */
            s->warm_pending = 0;
            s->ingesting++;
            pthread_mutex_unlock(&s->mu);
            struct kb_conn *c = http_conn(s);
            if (c)
                kb_warm(c);
            pthread_mutex_lock(&s->mu);
            s->ingesting--;
            continue;
        }
        if (s->jobs_pending && s->ingesting < max_ingest) {
            s->jobs_pending = 0;
            s->ingesting++;
            pthread_mutex_unlock(&s->mu);
            run_jobs(s);
            pthread_mutex_lock(&s->mu);
            s->ingesting--;
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += JOB_POLL_S;
        if (pthread_cond_timedwait(&s->work_cv, &s->mu, &ts) != 0 && s->ingesting == 0)
            s->jobs_pending = 1; /* poll now and then: another process may queue jobs */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int http_workers_start(struct http_server *s)
{
    s->warm_pending = 1;
    /* ATRIUM_ANSWER_IDLE_S: how long an answer thread waits for the next
     * (0 ends it after each answer, as before perf3) */
    const char *idle = getenv("ATRIUM_ANSWER_IDLE_S");
    int64_t v = ANSWER_IDLE_S;
    if (idle && *idle && parse_i64(idle, 0, 3600, &v) != RC_OK) {
        log_warn("http: ATRIUM_ANSWER_IDLE_S=%s ignored (0-3600)", idle);
        v = ANSWER_IDLE_S;
    }
    s->answer_idle_s = (int)v;
    int flush = s->cfg->stream_flush_ms;
    if (flush > 1000) {
        log_warn("http: stream_flush_ms=%d is above 1000: 1000 used", flush);
        flush = 1000;
    }
    s->flush_ms = flush > 0 ? flush : 0;
    if (s->flush_ms > 0) {
        if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0) {
            log_error("http: cannot start the stream flusher");
            return RC_INTERNAL;
        }
        s->flush_up = 1;
    }
    int n = s->cfg->workers > 0 ? s->cfg->workers : 1;
    s->workers = xcalloc((size_t)n, sizeof *s->workers);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
            log_error("http: cannot start worker thread %d", i);
            return RC_INTERNAL;
        }
        s->nworkers++;
    }
    return RC_OK;
}

void http_workers_kick(struct http_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->jobs_pending = 1;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
}

void http_workers_quiesce(struct http_server *s)
{
    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&s->work_cv);
    pthread_cond_broadcast(&s->answer_cv); /* idle answer threads end */
    while (s->nstreams > 0)
        pthread_cond_wait(&s->idle_cv, &s->mu);
    /* Every answer is written; give the connections a moment to send the
     * last events (the closing error) before the daemon closes them. A
     * client that does not read is not waited for longer than DRAIN_MS. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DRAIN_MS / 1000;
    until.tv_nsec += (long)(DRAIN_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (s->nasks > 0)
        if (pthread_cond_timedwait(&s->idle_cv, &s->mu, &until) != 0)
            break;
    pthread_mutex_unlock(&s->mu);
    flusher_stop(s);
}

void http_workers_join(struct http_server *s)
{
    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&s->work_cv);
    pthread_cond_broadcast(&s->answer_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nworkers; i++)
        if (pthread_join(s->workers[i], NULL) != 0)
            log_error("http: joining worker %d failed", i);
    s->nworkers = 0;
    flusher_stop(s);
    /* Answer threads are detached: wait until the last has lent back its
     * connection (their answers ended in quiesce). */
    pthread_mutex_lock(&s->mu);
    while (s->nthreads > 0)
        pthread_cond_wait(&s->idle_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}
