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
};

/* Fills `cfg` with defaults, then reads `path` (NULL: $ATRIUM_CONFIG, else
 * none; a missing explicit file is an error), then the environment.
 * On failure `err` says which line or variable was wrong. */
int config_load(struct config *cfg, const char *path, struct buf *err);
/* Sets one key from a string; RC_INVALID for unknown keys or bad values. */
int config_set(struct config *cfg, const char *key, const char *value, struct buf *err);
void config_release(struct config *cfg);

#endif
