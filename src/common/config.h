/* Runtime configuration: built-in defaults, then an optional `key = value`
 * file, then ATRIUM_* environment variables (ATRIUM_PORT overrides `port`).
 * Nothing needs configuring to start. Every key is documented in
 * docs/CONFIG.md. */
#ifndef ATRIUM_CONFIG_H
#define ATRIUM_CONFIG_H

#include <stddef.h>

#include "common/buf.h"

struct config {
    char *data_dir;      /* data_dir: where atrium.db lives (./data) */
    char *bind;          /* bind: listen address (127.0.0.1) */
    int port;            /* port (8080) */
    int threads;         /* threads: HTTP pool threads (2) */
    int workers;         /* workers: background threads for ingest and streams (4) */
    int max_connections; /* max_connections: open HTTP connections at most (1024) */
    int max_per_ip;      /* max_connections_per_ip: per client address, 0 = no limit (0) */
    char *log_level;     /* log_level: debug|info|warn|error (info) */
    size_t upload_max;   /* upload_max_mb: largest accepted upload, bytes (50 MB) */
    size_t body_max;     /* body_max_kb: largest JSON body, bytes (1 MB) */
    double min_score;    /* answer_min_score: below this the answer is "not found" */

    /* Models: OpenAI-compatible endpoints. Empty url = not configured. */
    char *chat_url;             /* chat_url: base URL, e.g. http://127.0.0.1:8000/v1 */
    char *chat_model;           /* chat_model */
    char *chat_api_key;         /* chat_api_key (never logged) */
    char *embed_url;            /* embed_url */
    char *embed_model;          /* embed_model */
    char *embed_api_key;        /* embed_api_key */
    char *rerank_url;           /* rerank_url */
    char *rerank_model;         /* rerank_model */
    char *rerank_api_key;       /* rerank_api_key */
    int connect_timeout_ms;     /* model_connect_timeout_ms (2000) */
    int first_token_timeout_ms; /* model_first_token_timeout_ms (15000) */
    int total_timeout_ms;       /* model_total_timeout_ms (60000) */

    /* Sign-in and sessions (auth/). */
    int session_idle_min;   /* session_idle_min: idle expiry (30) */
    int session_max_hours;  /* session_max_hours: absolute expiry (12) */
    int login_max_failures; /* login_max_failures: failures before lockout (5) */
    int login_lockout_min;  /* login_lockout_min: how long a lockout lasts (15) */
    int password_min_len;   /* password_min_len: characters (10) */
    int hash_concurrency;   /* hash_concurrency: password hashes at once (2) */
    int hash_queue;         /* hash_queue: sign-ins waiting for a hash slot (64) */
    int cookie_secure;      /* cookie_secure: 1 = Secure cookies (behind TLS) (0) */
    int audit_flush_ms;     /* audit_flush_ms: most delay of a question's audit entry (200) */
    /* LDAP / Active Directory. Empty url = local users only. */
    char *ldap_url;           /* ldap_url: ldap://host:389 */
    char *ldap_base_dn;       /* ldap_base_dn: where users are searched */
    char *ldap_user_filter;   /* ldap_user_filter: (uid=%s); %s is the escaped user name */
    char *ldap_bind_dn;       /* ldap_bind_dn: service account for the search ("" = anonymous) */
    char *ldap_bind_password; /* ldap_bind_password (never logged) */
    char *ldap_group_base_dn; /* ldap_group_base_dn: where groups are searched ("" = base) */
    char *ldap_group_filter;  /* ldap_group_filter: (|(member=%D)(uniqueMember=%D)(memberUid=%s)) */
    char *ldap_name_attr;     /* ldap_name_attr: display name attribute (cn) */
    char *ldap_empno_attr;    /* ldap_empno_attr: employee number attribute (employeeNumber) */
    int ldap_timeout_ms;      /* ldap_timeout_ms (3000) */

    /* The assistant (issue #4). */
    char *websearch_url;      /* websearch_url: SearXNG base URL ("" = web search off) */
    int websearch_timeout_ms; /* websearch_timeout_ms (3000) */
    int websearch_results;    /* websearch_results: results used (5) */
    double faq_threshold;     /* faq_threshold: FAQ match score that answers first (0.75) */
    int rate_per_min;         /* rate_limit_per_min: questions per user per minute (30) */
    int rate_burst;           /* rate_limit_burst: questions a user may ask at once (10) */
    int model_health_s;       /* model_health_interval_s: endpoint health checks (30) */
    int model_cooldown_s;     /* model_cooldown_s: a failed endpoint rests this long (10) */
    int max_answers;          /* max_answers: answers in flight, each on its own thread (1024) */
    int stream_flush_ms;      /* stream_flush_ms: a streamed answer's later deltas are sent
                                 together at most this often; 0 = each at once (50) */
    int summary_budget_chars; /* summary_budget_chars: file text per summary request (6000) */
    int summary_parallel;     /* summary_parallel: summary requests at once (3) */

    /* Digital employees (issue #5). */
    char *agent_http_allow;         /* agent_http_allow: URL prefixes the HTTP tool may call,
                                       comma-separated ("" = none) */
    int agent_http_timeout_ms;      /* agent_http_timeout_ms: one HTTP tool call (5000) */
    int eval_workers;               /* eval_workers: evaluation runs at once (1) */
    double assistant_minutes_saved; /* assistant_minutes_saved: minutes one answered question
                                       of the super assistant saves, for analytics (3) */

    /* The web portal (issue #6). */
    char *web_dir; /* web_dir: the built front end (index.html, assets/); "" = web/dist
                      next to the working directory, when it exists */
};

/* Fills `cfg` with defaults, then reads `path` (NULL: $ATRIUM_CONFIG, else
 * none; a missing explicit file is an error), then the environment.
 * On failure `err` says which line or variable was wrong. */
int config_load(struct config *cfg, const char *path, struct buf *err);
/* Sets one key from a string; RC_INVALID for unknown keys or bad values. */
int config_set(struct config *cfg, const char *key, const char *value, struct buf *err);
void config_release(struct config *cfg);

#endif
