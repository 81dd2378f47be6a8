/* Private to src/http: the server's internals shared by its files (request
 * state, routing, the worker pool, streams, uploads) and the request-body
 * validation that the fuzzer drives on its own (json.c needs no MHD, no kb). */
#ifndef ATRIUM_HTTP_INT_H
#define ATRIUM_HTTP_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* ---- request bodies (json.c) ---- */

#define HTTP_TEXT_MAX 8192 /* bytes of a search query or a question */
#define HTTP_NAME_MAX 255  /* bytes of an uploaded file's name */

/* Parses a request body that must be a JSON object in well-formed UTF-8.
 * On success *out is a new reference the caller json_decref()s. On failure
 * returns RC_INVALID with a zh-CN / English message in err; *out is NULL. */
int http_parse_json_body(const char *p, size_t n, json_t **out, struct buf *err);

/* The body of a search ({"query","k"}) or an ask ({"question","k","stream"}). */
struct http_query_body {
    char *text; /* the query or question, 1..HTTP_TEXT_MAX bytes, owned */
    int k;      /* 1..100, default 5 */
    int stream; /* "stream": true (asks only) */
};
/* Parses and validates a search or ask body; `field` is "query" or
 * "question". Unknown members are ignored; a wrong type or range is
 * RC_INVALID with a message in err (out is then empty). */
int http_parse_query_body(const char *p, size_t n, const char *field, struct http_query_body *out,
                          struct buf *err);
void http_query_body_release(struct http_query_body *q);

/* Length of the longest prefix of p[0..n) that does not end inside a UTF-8
 * sequence (used to carry split characters over between stream deltas). */
size_t http_utf8_whole_prefix(const char *p, size_t n);

/* Turns an uploaded file's name into a safe base name (no directories, no
 * C0/C1 control characters, line separators or bidi controls, valid UTF-8,
 * at most HTTP_NAME_MAX bytes: a longer name loses the end of its stem, on
 * a whole character, and keeps an extension of up to 16 bytes). Returns a
 * malloc'ed string, or NULL when nothing usable is left (also "." and ".."). */
char *http_clean_filename(const char *name);

/* ---- the server (server.c) ---- */

struct MHD_Connection;
struct kb_engine;
struct kb_conn;
struct config;
struct http_stream;

struct http_server {
    const struct config *cfg;
    struct kb_engine *eng;
    struct MHD_Daemon *d;
    int port;
    unsigned gen;     /* tells this server's thread-local kb_conns from an older one's */
    char *upload_dir; /* {data_dir}/uploads */
    int listen_fd;    /* returned by MHD_quiesce_daemon, closed after stop */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t work_cv;
    pthread_cond_t idle_cv;
    int stopping;
    struct http_stream *qhead, *qtail; /* streams waiting for a worker */
    int nstreams;                      /* streams whose worker part has not finished */
    int nasks;                         /* asks whose request has not completed */
    int jobs_pending;                  /* an upload arrived: claim jobs */
    int warm_pending;                  /* build the KBs' search indexes once, at start */
    struct http_stream *thead, *ttail; /* slow tasks (sign-ins) waiting for a worker */
    int ntasks_queued, ntasks_running;
    int max_tasks;              /* tasks running at once: below the workers, so asks find one */
    int max_task_queue;         /* more waiting get 429 */
    struct audit_writer *audit; /* questions and searches, batched */
    struct gw *gw;              /* the model gateway */
    struct safety *safety;      /* sensitive words and per-user rate limits */
    struct assist *assist;      /* the super assistant */
    double next_health_ms;      /* when a worker checks the model endpoints next */
    int health_running;
    int ingesting; /* workers running ingest jobs */
    pthread_t *workers;
    int nworkers;
    struct kb_conn **conns; /* every thread's connection, closed at stop */
    size_t nconns, capconns;
    struct kb_conn **pool;  /* connections lent back by answers, for the next */
    pthread_cond_t pool_cv; /* a connection was lent back */
    size_t npool, cappool;
    /* H8: threads waiting for a lent connection, served first come first
     * served (server.c http_conn) */
    struct conn_waiter *wait_head, *wait_tail;
    size_t nwaiting;
    int nthreads; /* answer threads alive */
    /* perf3: answer threads stay a while after an answer and take the next
     * (no thread start, stack already mapped, store connection kept) */
    pthread_cond_t answer_cv;          /* an idle answer thread has work or should end */
    struct http_stream *ahead, *atail; /* answers handed to idle answer threads */
    int answer_idle;                   /* idle answer threads not yet handed one */
    int answer_idle_s; /* how long one waits (ATRIUM_ANSWER_IDLE_S, 0: ends at once) */
    /* Coalescing (stream.c): a stream's later deltas wait on the flusher's
     * queue, so MHD is woken for a stream at most every flush_ms. */
    pthread_mutex_t flush_mu;          /* guards the queue and flush_stop */
    pthread_cond_t flush_cv;           /* CLOCK_MONOTONIC: the queue got a head, or stop */
    struct http_stream *fhead, *ftail; /* streams with held-back events, oldest first */
    int flush_stop;
    int flush_up; /* the flusher thread runs */
    pthread_t flusher;
    double flush_ms;          /* 0: every event wakes its connection at once */
    struct http_static *web;  /* static.c: the built portal (NULL: none to serve) */
    struct eval_runner *eval; /* H4: agents/eval.h, the background eval runs */
};

/* This thread's kb_conn for server s, opened on first use (or taken from
 * the pool). NULL (logged) when the store cannot be opened. */
struct kb_conn *http_conn(struct http_server *s);
/* A thread about to end gives its connection back to the pool. */
void http_conn_lend(struct http_server *s);

/* ---- the worker pool and SSE streams (stream.c) ---- */

/* Starts cfg->workers worker threads. RC_OK or RC_INTERNAL. */
int http_workers_start(struct http_server *s);
/* Asks the workers to claim queued ingest jobs. */
void http_workers_kick(struct http_server *s);
/* Marks the server as stopping (new asks get 429, running ones end with
 * RC_BUSY / an SSE error event), waits for the workers' part of every ask
 * (no connection stays suspended) and then, at most DRAIN_MS, for those
 * answers to reach their clients. Call before MHD_stop_daemon. */
void http_workers_quiesce(struct http_server *s);
void http_workers_join(struct http_server *s);

/* ---- one request (server.c) ---- */

#include <microhttpd.h>

#include "auth/auth.h"
#include "kb/kb.h"

enum http_method {
    HM_GET = 1,
    HM_POST = 2,
    HM_DELETE = 4,
    HM_HEAD = 8,
    HM_PUT = 16,
    HM_PATCH = 32,
    HM_OTHER = 64
};
enum http_body_kind { HB_NONE = 0, HB_JSON, HB_MULTIPART, HB_RAW };

struct http_req;
/* A route's handler: the body (if any) has been read; c is this thread's
 * connection. Answers the request (http_send_*). */
typedef enum MHD_Result (*http_handler)(struct http_req *r, struct kb_conn *c);

enum http_route_flags {
    RF_PUBLIC = 1,     /* no sign-in needed (/healthz, login) */
    RF_UPLOAD = 2,     /* the POST body is a file upload, not JSON */
    RF_CONV_FILES = 4, /* :id is the caller's conversation: r->kb is its files KB */
};

/* One row of the route table (routes.c). A pattern is a path whose
 * segments may be parameters: ":kb" (a KB the caller may access at
 * kb_level, by id or name, resolved with the ACL in SQL: 404 when it may
 * not be read, 403 when it may be read but not at that level), ":id" and
 * ":id2" (positive integers), ":s" (one segment as text, e.g. a user name). */
struct http_route_def {
    const char *pattern;
    unsigned methods; /* HM_GET implies HM_HEAD */
    http_handler fn;
    unsigned flags; /* enum http_route_flags */
    unsigned perms; /* enum auth_perm bits the caller must all hold */
    int kb_level;   /* enum acl_level needed on :kb */
};
extern const struct http_route_def http_routes[];
extern const size_t http_nroutes;

struct http_upload_file {
    char *path; /* on disk under upload_dir; NULL once handed to a job */
    char *name; /* the cleaned client file name */
    int fd;     /* -1 when closed */
    size_t size;
    char head[4096]; /* the first bytes, for ingest_detect */
    size_t headlen;
    int checked; /* the type was checked on a full head */
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    char id[33];
    char path[128]; /* for the access log: the path only, truncated */
    double t0;
    const struct http_route_def *def; /* the matched route */
    unsigned allowed;                 /* methods the path allows (for 405) */
    enum http_method method;
    struct auth_principal who; /* valid when authed */
    int authed;
    char ip[48];
    enum http_body_kind body_kind;
    size_t body_limit; /* bytes accepted for this route's body */
    int has_kb;
    struct kb_info kb;
    int64_t arg_id, arg_id2; /* the :id and :id2 parameters */
    char arg_str[192];       /* the :s parameter */
    struct buf body;
    size_t discarded; /* body bytes dropped after a deferred error */
    /* A deferred error: answered on the final handler call so that the
     * connection stays usable (keep-alive). */
    int err_status;
    const char *err_code;
    char *err_msg;
    int responded;
    int retry_after; /* seconds for a 429's Retry-After (0: 1) */
    int status;
    size_t bytes;
    /* uploads (upload.c) */
    struct MHD_PostProcessor *pp;
    struct http_upload_file *files;
    size_t nfiles, capfiles;
    size_t upload_total;
    /* streams (stream.c) */
    struct http_stream *stream;
    /* the web portal (static.c): a GET/HEAD of a non-API path (malloc'd) */
    char *static_path;
};

/* Records an error to answer at the end of the request (first one wins). */
void http_req_fail(struct http_req *r, int status, const char *code, const char *msg);
void http_req_fail_rc(struct http_req *r, int rc, const char *msg);

/* Queue a response (adds X-Request-Id, records status and size). The
 * response is consumed. */
enum MHD_Result http_respond(struct http_req *r, int status, struct MHD_Response *resp,
                             size_t bytes);
/* Sends j (consumed) as compact JSON. */
enum MHD_Result http_send_json(struct http_req *r, int status, json_t *j);
/* Sends already serialised JSON; takes ownership of p (malloc'd, n bytes). */
enum MHD_Result http_send_json_text(struct http_req *r, int status, char *p, size_t n);
/* {"error":{"code","message"}} */
enum MHD_Result http_send_error(struct http_req *r, int status, const char *code, const char *msg);
enum MHD_Result http_send_rc(struct http_req *r, int rc, const char *msg);
enum MHD_Result http_send_empty(struct http_req *r, int status);

/* ---- the web portal (static.c, static.h) ---- */

/* Answers r with the portal file for path (percent-decoded): 200 with the
 * file, 304, or a 404 JSON error. */
enum MHD_Result http_static_send(struct http_req *r, const char *path);

/* ---- routes (routes.c and routes_*.c) ---- */

/* Answers a request whose body (if any) has been read completely. */
enum MHD_Result http_route_dispatch(struct http_req *r);
/* Answers a service failure with its own message when err holds one, else
 * a generic one for rc; logs the unexpected ones. */
enum MHD_Result http_send_service_error(struct http_req *r, int rc, const struct buf *err);
/* Parses the JSON object body; on failure answers 400 and returns NULL. */
json_t *http_body_json(struct http_req *r, enum MHD_Result *res);
/* A string member: NULL when absent; *bad set when present but not a
 * string without NUL bytes (the caller answers 400). */
const char *http_json_str(json_t *o, const char *key, int *bad);
/* Writes an audit entry for r's caller now, in the caller's transaction
 * if any (admin changes). RC_OK or RC_DB. */
int http_audit_now(struct http_req *r, struct kb_conn *c, const char *action, const char *target,
                   json_t *detail);
/* An admin change: http_change_begin opens its unit of work (RC_OK or
 * RC_DB); http_change_end, when rc is RC_OK, writes the audit entry
 * (detail consumed, may be NULL) and commits, otherwise, or when the entry
 * cannot be written, rolls back. Returns the final result code: a change
 * that cannot be audited does not happen. */
int http_change_begin(struct kb_conn *c, struct db_tx *tx);
int http_change_end(struct http_req *r, struct kb_conn *c, struct db_tx *tx, int rc,
                    const char *action, const char *target, json_t *detail);
/* The assistant's conn_lend / conn_take hooks (assist/assist.h) for a
 * server: an answer waiting on the network lends its connection. */
void http_conn_lend_cb(void *srv);
struct kb_conn *http_conn_take_cb(void *srv);
/* Queues an audit entry (questions, searches, sign-ins): never waits for
 * the disk. detail is borrowed. */
void http_audit_later(struct http_req *r, const char *action, const char *target, json_t *detail);

/* Takes one question from the caller's rate limit: RC_OK, or RC_BUSY with
 * *retry_after_s set. */
int http_rate_check(struct http_req *r, int *retry_after_s);
/* 429 with Retry-After: retry_after_s. */
enum MHD_Result http_send_rate_limited(struct http_req *r, int retry_after_s);

/* Handlers, one per route and method (see the table in routes.c). */
enum MHD_Result http_h_health(struct http_req *r, struct kb_conn *c);
/* routes_kb.c */
enum MHD_Result http_h_kbs_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_kbs_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_kb_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_docs_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_doc_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_doc_content(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_doc_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_chunk_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_doc_chunks(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_job_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_search(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_ask(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_synonyms_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_synonyms_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_synonym_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_acl_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_acl_grant(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_acl_revoke(struct http_req *r, struct kb_conn *c);
/* routes_auth.c */
enum MHD_Result http_h_login(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_logout(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_me(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_password(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_my_tokens(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_my_token_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_my_token_revoke(struct http_req *r, struct kb_conn *c);
/* routes_admin.c */
enum MHD_Result http_h_users_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_users_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_tokens(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_token_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_token_revoke(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_role_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_role_remove(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_position_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_user_position_remove(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_orgs_tree(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_orgs_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_org_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_org_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_org_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_org_member_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_org_member_remove(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_positions_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_positions_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_position_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_roles_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_roles_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_role_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_role_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_ldap_maps(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_ldap_map_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_ldap_map_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_audit(struct http_req *r, struct kb_conn *c);
/* routes_assist.c */
enum MHD_Result http_h_convs_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_convs_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_messages(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_export(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_ask(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_regenerate(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_conv_stop(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_msg_feedback(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_faqs_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_faqs_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_faq_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_faq_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_kb_feedback(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_kb_feedback_resolve(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_kb_feedback_dismiss(struct http_req *r, struct kb_conn *c);
/* Sets r->kb to the files KB of conversation r->arg_id of the caller,
 * creating it on first use (kind "conversation", owned by the caller).
 * On failure records the error (404 for someone else's conversation). */
int http_conv_files_kb(struct http_req *r);
enum MHD_Result http_h_conv_files(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_words_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_words_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_words_delete(struct http_req *r, struct kb_conn *c);
/* routes_openai.c */
enum MHD_Result http_h_oai_models(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_oai_chat(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_audit_verify(struct http_req *r, struct kb_conn *c);
/* routes_models.c */
enum MHD_Result http_h_models_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_models_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_model_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_model_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_model_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_model_endpoint_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_model_endpoint_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_model_test(struct http_req *r, struct kb_conn *c);
/* routes_agents.c (H1): the gallery, agents, versions, lifecycle, grants */
enum MHD_Result http_h_agents_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agents_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_delete(struct http_req *r, struct kb_conn *c);
/* The agent named by :s, as the caller may see it (routes_agents.c): RC_OK
 * with *a loaded (release it), or the answer sent (404 for one the caller may
 * not use, exactly as for a missing one) in *res and its rc returned. */
struct agent;
int http_agent_of_path(struct http_req *r, struct kb_conn *c, struct agent *a,
                       enum MHD_Result *res);
enum MHD_Result http_h_agent_versions(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_version_new(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_version_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_version_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_publish(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_rollback(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_retire(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_acl_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_acl_add(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_acl_remove(struct http_req *r, struct kb_conn *c);
/* routes_eval.c (H4): eval sets, runs, comparison; usage analytics */
enum MHD_Result http_h_eval_sets_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_sets_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_set_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_set_update(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_set_delete(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_runs_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_runs_create(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_run_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_run_cancel(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_eval_compare(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_analytics_usage(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_analytics_unanswered(struct http_req *r, struct kb_conn *c);
/* routes_agent_run.c (H3): asking digital employees, their traces, and the
 * hooks through which conversations and the OpenAI API reach them */
#include "assist/assist.h"
enum MHD_Result http_h_agent_ask(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_traces(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_trace(struct http_req *r, struct kb_conn *c);
/* A published agent who may use, with its published version (owned: free
 * with http_agent_ref_free). RC_NOT_FOUND (with a message in err) when it
 * is missing, not usable by who, unpublished or retired; RC_DB. */
struct http_agent_ref;
int http_agent_load(struct kb_conn *c, const struct auth_principal *who, const char *name,
                    struct http_agent_ref **out, struct buf *err);
void http_agent_ref_free(struct http_agent_ref *ref);
/* RC_OK when assistant is not "agent:<name>" or names an agent who may use;
 * RC_NOT_FOUND otherwise (conversations with an agent). */
int http_agent_conv_check(struct kb_conn *c, const struct auth_principal *who,
                          const char *assistant);
/* Answers arq (who, ip, question, conv_id, regenerate, history, no_model,
 * conn hooks) with the agent through agent_run; as assist_ask otherwise.
 * trace_id may be NULL. */
int http_agent_answer(struct http_server *srv, struct kb_conn *c, const struct http_agent_ref *ref,
                      const struct assist_request *arq, assist_cb cb, void *ctx,
                      struct assist_answer *out, int64_t *trace_id, struct buf *err);
/* Appends {"id":"agent:<name>","object":"model",…} to data for each published
 * agent who may use (/v1/models). */
void http_agent_models(struct kb_conn *c, const struct auth_principal *who, json_t *data);

/* ---- slow tasks on the workers (stream.c) ---- */

/* What a task answers: a status and JSON body, and a Set-Cookie header
 * value when not NULL. */
struct http_task_result {
    int status;
    json_t *body;
    char *set_cookie;
};
typedef void (*http_task_fn)(void *ctx, struct kb_conn *c, struct http_task_result *res);
/* Runs fn(ctx, …) on a worker (a sign-in's password hash must not run on
 * a request thread) and answers with its result; ctx_free(ctx) afterwards.
 * At most s->max_tasks run at once; past s->max_task_queue waiting, 429. */
enum MHD_Result http_defer(struct http_req *r, http_task_fn fn, void *ctx,
                           void (*ctx_free)(void *));

/* ---- uploads (upload.c) ---- */

/* Prepares to receive an upload (first handler call): multipart parser or
 * a raw file. Errors are recorded with http_req_fail. */
void http_upload_begin(struct http_req *r);
/* Takes the next body bytes; errors are recorded with http_req_fail (a size
 * cap removes the partial files). */
void http_upload_feed(struct http_req *r, const char *data, size_t n);
/* Turns the received files into jobs and answers 202. */
enum MHD_Result http_upload_finish(struct http_req *r);
/* Closes and removes every file not handed to a job; frees upload state. */
void http_upload_cleanup(struct http_req *r);

/* ---- streams (stream.c) ---- */

/* Starts a streamed answer: queues the question for a worker and answers
 * with a text/event-stream response fed by it. Takes q->text. */
enum MHD_Result http_ask_stream(struct http_req *r, struct http_query_body *q);
/* Answers an ask as JSON without blocking the request thread: suspends
 * the connection and queues the question; the worker resumes it and the
 * next handler call answers with http_ask_deferred_result. Takes q->text. */
enum MHD_Result http_ask_deferred(struct http_req *r, struct http_query_body *q);
/* A streamed answer of another kind (the assistant's): fn runs on a worker
 * and writes SSE events with http_sse_event until it returns; the stream
 * then ends. http_sse answers the request with text/event-stream (or 429
 * when too many answers are running); ctx_free(ctx) when it is over. */
typedef void (*http_sse_fn)(void *ctx, struct kb_conn *c, struct http_stream *st);
enum MHD_Result http_sse(struct http_req *r, http_sse_fn fn, void *ctx, void (*ctx_free)(void *));
/* Appends "event: name\ndata: <data>\n\n" (data consumed). Non-zero when the
 * client went away or the server is stopping: the producer should stop. An
 * "error" event is still sent while stopping. */
int http_sse_event(struct http_stream *st, const char *event, json_t *data);
/* H8: http_sse_event(st, event, {"text": p[0..n)}) framed straight from the
 * text (no JSON tree); bytes that are not UTF-8 become U+FFFD. */
int http_sse_text(struct http_stream *st, const char *event, const char *p, size_t n);
/* Non-zero once the client is gone or the server stops. */
int http_sse_cancelled(struct http_stream *st);
/* With event NULL, http_sse_event writes a bare "data:" line (the OpenAI
 * stream format); http_sse_done writes "data: [DONE]". */
int http_sse_done(struct http_stream *st);

/* Sends a task's result (consumes its body; adds Set-Cookie when set). */
enum MHD_Result http_send_task_result(struct http_req *r, struct http_task_result *t);
/* Answers a request whose deferred ask or task has finished. */
enum MHD_Result http_ask_deferred_result(struct http_req *r);
/* The request is over (completed or the client went away): tells the
 * worker to stop, adds the bytes sent to r->bytes, drops r's reference. */
void http_stream_detach(struct http_req *r);

/* routes_calendar.c (H2): the working-day calendar of the workdays tool */
enum MHD_Result http_h_calendar_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_calendar_set(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_calendar_delete(struct http_req *r, struct kb_conn *c);
/* routes_templates.c (H5): the built-in digital-employee templates */
enum MHD_Result http_h_agent_templates_list(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_template_get(struct http_req *r, struct kb_conn *c);
enum MHD_Result http_h_agent_template_install(struct http_req *r, struct kb_conn *c);

#endif
