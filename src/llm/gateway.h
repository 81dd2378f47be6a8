/* The model gateway (the bank's "model matrix"): a registry of models by
 * purpose and of their OpenAI-compatible endpoints, kept in the store, and
 * the routing of every model call across those endpoints: a default model
 * per purpose, weighted round-robin, per-endpoint concurrency limits,
 * passive (cooldown) and active (GET /models) health checks and fail-over
 * before any content reached the caller. docs/MODELS.md describes the rules.
 * API keys are stored but never logged and never returned. */
#ifndef ATRIUM_LLM_GATEWAY_H
#define ATRIUM_LLM_GATEWAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "llm/llm.h"
#include "store/db.h"

enum gw_purpose { GW_CHAT = 0, GW_EMBEDDING, GW_RERANK, GW_ASR, GW_NPURPOSES };

#define GW_NAME_MAX 64      /* bytes of a model name: [A-Za-z0-9._:/@-] */
#define GW_UPSTREAM_MAX 200 /* bytes of an upstream model name (printable, no spaces) */
#define GW_URL_MAX 1000     /* bytes of an endpoint base URL */
#define GW_KEY_MAX 4096     /* bytes of an API key */

/* "chat", "embedding", "rerank", "asr". */
const char *gw_purpose_name(enum gw_purpose p);
/* RC_OK or RC_INVALID (also accepts "embed"). */
int gw_purpose_parse(const char *s, enum gw_purpose *out);

/* ================================================================
 * The registry. Plain store functions on the caller's connection (any
 * thread); each runs in one unit of work (db_tx: a savepoint inside the
 * caller's transaction, so admin changes commit with their audit entry).
 * Every successful change bumps a process-wide generation, so the gateways
 * of this process see it at their next call; other processes (the CLI
 * changing a running server's store) are seen within GW_RELOAD_S seconds.
 * ================================================================ */

struct gw_endpoint_spec {
    const char *url;      /* base URL with /v1, http:// or https:// */
    const char *upstream; /* the model name the server knows */
    const char *api_key;  /* NULL or "" = none; stored, never returned */
    int max_concurrency;  /* calls in flight at once, 1..10000; 0 = 16 */
    int weight;           /* share of the traffic, 1..1000; 0 = 1 */
    int enabled;          /* 0 = disabled (kept, never routed to) */
};

struct gw_model_spec {
    const char *name;
    enum gw_purpose purpose;
    const char *params; /* a JSON object as text, NULL = "{}" */
    int is_default;     /* make it the default of its purpose */
};

/* Adds a model and (when ep is not NULL) its first endpoint. The first
 * model of a purpose becomes its default even without is_default. On
 * success *model_id (may be NULL) is set. RC_INVALID (bad name, URL,
 * params, numbers; err says which), RC_EXISTS (the name is taken), RC_DB. */
int gw_model_add(struct db_conn *d, const struct gw_model_spec *m,
                 const struct gw_endpoint_spec *ep, int64_t *model_id, struct buf *err);
/* A model's id from its name or numeric id. RC_OK, RC_NOT_FOUND, RC_DB. */
int gw_model_find(struct db_conn *d, const char *name_or_id, int64_t *id);
/* Removes a model and its endpoints (its calls stay recorded). When it was
 * the default, the oldest remaining model of its purpose becomes the
 * default; when none is left, calls fall back to the config's model of
 * that purpose, if any. RC_OK, RC_NOT_FOUND, RC_DB. */
int gw_model_remove(struct db_conn *d, int64_t id);
/* Makes a model the default of its purpose (the previous one stops being
 * it). RC_OK, RC_NOT_FOUND, RC_DB. */
int gw_model_set_default(struct db_conn *d, int64_t id);

/* A change to a model: NULL / 0 members are left as they are. */
struct gw_model_update {
    const char *name;   /* a new name */
    const char *params; /* a JSON object as text */
    int is_default;     /* 1 = make it the default; -1 = stop being the default; 0 = keep */
};
/* RC_OK, RC_NOT_FOUND, RC_INVALID, RC_EXISTS (name taken), RC_DB. */
int gw_model_update(struct db_conn *d, int64_t id, const struct gw_model_update *u,
                    struct buf *err);

/* Adds an endpoint to a model. *ep_id (may be NULL) is set on success.
 * RC_OK, RC_NOT_FOUND (no such model), RC_INVALID (err says what), RC_DB. */
int gw_endpoint_add(struct db_conn *d, int64_t model_id, const struct gw_endpoint_spec *ep,
                    int64_t *ep_id, struct buf *err);
/* Removes endpoint ep_id of model model_id. RC_OK, RC_NOT_FOUND, RC_DB. */
int gw_endpoint_remove(struct db_conn *d, int64_t model_id, int64_t ep_id);
/* Enables or disables an endpoint. RC_OK, RC_NOT_FOUND, RC_DB. */
int gw_endpoint_set_enabled(struct db_conn *d, int64_t model_id, int64_t ep_id, int enabled);

struct gw;
/* A model as JSON: {"id","name","purpose","default","params":{…},
 * "created_at","endpoints":[{"id","url","upstream","api_key_set",
 * "max_concurrency","weight","enabled","created_at"}]}. The API key is
 * never in it. When gw is not NULL each endpoint also gets its live state
 * in that process: "in_flight", "cooldown_s" (seconds left, 0 = healthy),
 * "last_error". *out is a new reference. RC_OK, RC_NOT_FOUND, RC_DB. */
int gw_model_json(struct gw *gw, struct db_conn *d, int64_t id, json_t **out);
/* Every model, by purpose then name, as a JSON array (same shape). When
 * the registry has no model for a purpose that the config configures, an
 * entry {"name":"default","purpose":…,"source":"config","default":true,
 * "endpoints":[{"url","upstream","api_key_set"}]} says so (id 0). */
int gw_models_json(struct gw *gw, struct db_conn *d, const struct config *cfg, json_t **out);

/* ================================================================
 * The gateway: one per process, shared by every thread.
 * ================================================================ */

#define GW_RELOAD_S 2 /* the registry is re-read at least this often */

/* Creates the gateway for cfg (copied: the config's timeouts, cooldown and
 * the chat_* / embed_* / rerank_* fallback) on the store at db_path (its own
 * connection, and a thread that writes model_calls in batches). The first
 * gateway created becomes the process's (gw_process) until it is freed.
 * RC_OK, or RC_DB with err set (*out NULL). */
int gw_new(const struct config *cfg, const char *db_path, struct gw **out, struct buf *err);
/* Writes the queued call records, stops the writer, frees. NULL is fine.
 * No call may be running on gw. */
void gw_free(struct gw *gw);
/* The process's gateway, or NULL when none was created (the HTTP admin
 * routes use it to show and update live endpoint state). */
struct gw *gw_process(void);
/* Re-reads the registry before the next call (normally not needed: see
 * the generation above). */
void gw_invalidate(struct gw *gw);
/* Writes every call record queued so far before returning (tests). */
void gw_flush(struct gw *gw);

/* Which model and endpoint answered, and how it went. Fixed size: no
 * allocation per call. */
struct gw_call_info {
    char model[GW_NAME_MAX + 1];           /* "default" for the config fallback */
    char upstream[GW_UPSTREAM_MAX + 1];    /* the endpoint's model name */
    int64_t model_id;                      /* 0 for the config fallback */
    int64_t endpoint_id;                   /* 0 for the config fallback */
    int attempts;                          /* endpoints tried (1 = no fail-over) */
    long http_status;                      /* of the last attempt's reply; 0 when none came */
    double first_token_ms;                 /* since gw_chat was called; -1 when none */
    double total_ms;                       /* since gw_chat was called */
    long prompt_tokens, completion_tokens; /* -1 when the server did not say */
    int out_of_time;                       /* RC_TIMEOUT at opts->deadline_ms */
};

/* Per-call options; all may be 0. */
struct gw_call_opts {
    int64_t user_id;           /* recorded in model_calls */
    struct llm_chat_opts chat; /* gw_chat: tools, tool_choice, params */
    double deadline_ms;        /* the caller's end (now_ms() clock), 0 = none: every
                                  attempt's first-token and total timeouts end by
                                  then, and none starts after it (RC_TIMEOUT) */
};

/* Streams a chat completion from model `model` (NULL or "" = the default
 * chat model) through llm_chat, with the config's timeouts. Endpoint
 * choice: enabled, not in cooldown, with a free concurrency slot, weighted
 * round-robin. When an attempt fails before any delta reached cb (connect
 * error, HTTP 5xx/401/403/404/408/429, malformed or empty stream, timeout
 * to first token) the endpoint rests cfg->model_cooldown_s and the next one
 * is tried; a failure after a delta was delivered is returned as it is.
 * Returns what llm_chat returns, and also: RC_NOT_FOUND (no such model, or
 * no model of that purpose and no config fallback; err says so), RC_BUSY
 * (every healthy endpoint is at its concurrency limit: no waiting),
 * RC_UPSTREAM (no healthy endpoint, or the last attempt's failure).
 * res is always initialised and must be released (llm_result_release);
 * info (may be NULL) is filled whenever an endpoint was tried. Every
 * attempt is recorded in model_calls (without blocking on the disk). err
 * never holds an API key. Thread-safe. */
int gw_chat(struct gw *gw, const char *model, const struct llm_msg *msgs, size_t nmsgs,
            llm_delta_cb cb, void *ctx, struct llm_result *res, struct gw_call_info *info,
            const struct gw_call_opts *opts, struct buf *err);

/* llm_embed / llm_rerank through the gateway (model NULL or "" = the
 * default of that purpose), with the same routing and fail-over (every
 * failure happens before anything is returned). Results as in llm.h. */
int gw_embed(struct gw *gw, const char *model, const char *const *texts, size_t n, float **vecs,
             size_t *dim, struct gw_call_info *info, const struct gw_call_opts *opts,
             struct buf *err);
int gw_rerank(struct gw *gw, const char *model, const char *query, const char *const *docs,
              size_t n, double *scores, struct gw_call_info *info, const struct gw_call_opts *opts,
              struct buf *err);

/* Resolves a model name (NULL or "" = the default of purpose) without
 * calling it: RC_OK when it exists with at least one enabled endpoint
 * (*model_id set, 0 for the config fallback), RC_NOT_FOUND otherwise. */
int gw_resolve(struct gw *gw, const char *model, enum gw_purpose purpose, int64_t *model_id);

/* ---- health ---- */

/* Active health check of every endpoint of every model (and of the config
 * fallback): GET {url}/models with the connect timeout and at most 5 s. An
 * endpoint that fails rests cfg->model_cooldown_s; one that answers is
 * healthy again at once. Blocks for the network calls (run it on a
 * background thread every cfg->model_health_s). Returns the number of
 * endpoints that failed. */
int gw_check_all(struct gw *gw);

/* Tests one model's endpoints (read from d, so it works without a gateway:
 * gw may be NULL; when given, its health state is updated). Each endpoint
 * gets GET {url}/models and, when chat_probe and the purpose is chat, a
 * tiny completion ("ping", at most the first-token timeout). *report is a
 * new {"model","purpose","ok":bool,"endpoints":[{"id","url","upstream",
 * "ok","models_ms","chat_ms","error"}]}. Returns RC_OK when at least one
 * endpoint works, RC_UPSTREAM when none does, RC_NOT_FOUND, RC_DB. cfg
 * gives the timeouts. Blocks for the network calls. */
int gw_test_model(struct gw *gw, const struct config *cfg, struct db_conn *d, int64_t model_id,
                  int chat_probe, json_t **report);

#endif
