/* The audit log: append-only, each entry carrying the sha256 of the one
 * before it, so that editing or deleting any entry breaks the chain that
 * `atrium audit verify` walks. SQLite triggers refuse UPDATE and DELETE on
 * the table; the chain catches whoever drops them first.
 *
 * Two ways in: audit_append writes at once, inside the caller's
 * transaction when there is one (admin changes commit together with their
 * entry); an audit_writer batches entries from request threads (questions,
 * searches) on its own thread and connection, so asking never waits for a
 * disk write. */
#ifndef ATRIUM_AUTH_AUDIT_H
#define ATRIUM_AUTH_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "auth/auth.h"
#include "common/buf.h"
#include "store/db.h"

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

struct audit_entry {
    int64_t user_id;    /* 0 when nobody is signed in (a failed sign-in, the CLI) */
    const char *actor;  /* user name, "cli:<login>", or the name tried at sign-in */
    const char *action; /* "auth.login", "user.create", "kb.ask", … (docs/AUDIT.md) */
    const char *target; /* what it acted on: "kb:3", "user:7" … ("" if none) */
    json_t *detail;     /* borrowed; NULL = {} */
    const char *ip;     /* client address or "" */
};

/* Fills actor/user_id from a principal. */
void audit_entry_from(struct audit_entry *e, const struct auth_principal *who);

/* Appends one entry now: reads the last hash and inserts in one unit of
 * work (a savepoint inside the caller's transaction, else its own
 * BEGIN IMMEDIATE, which serialises appenders across processes). RC_OK or
 * RC_DB. */
int audit_append(struct db_conn *d, const struct audit_entry *e);

/* The hash of an entry: sha256 over its fields, each length-prefixed,
 * starting with prev_hash. out: 65 bytes. */
void audit_hash(const char *prev_hash, int64_t id, int64_t ts_ms, int64_t user_id,
                const char *actor, const char *action, const char *target, const char *detail,
                const char *ip, char out[65]);

/* Walks the chain from the first entry. RC_OK when intact (*checked
 * entries, *head_id and head_hash the last one). Otherwise RC_INVALID with
 * *bad_id the first entry whose hash, link or id sequence is wrong and
 * err saying what. Deleting the newest entries cannot be seen from inside
 * the chain: compare head_hash with one kept elsewhere (--expect). */
int audit_verify(struct db_conn *d, int64_t *checked, int64_t *bad_id, int64_t *head_id,
                 char head_hash[65], struct buf *err);

/* The id of the entry whose hash is `hash` (a head kept elsewhere, checked
 * by `atrium audit verify --expect`). RC_OK, RC_NOT_FOUND or RC_DB. */
int audit_find_hash(struct db_conn *d, const char *hash, int64_t *id);

struct audit_filter {
    const char *user;           /* user name or NULL */
    const char *action;         /* exact action, or a prefix ending in '.' ("kb."), or NULL */
    int64_t since_ms, until_ms; /* 0 = open */
    int64_t before_id;          /* paging: entries with id < before_id (0 = newest) */
    int limit;                  /* 1..1000, default 100 */
};
/* {"entries":[{"id","ts","user_id","actor","action","target","detail":{…},
 *  "ip","hash"}], "next_before_id": n|null}, newest first. */
int audit_query(struct db_conn *d, const struct audit_filter *f, json_t **out);

/* ---- the background writer ---- */

struct audit_writer;
/* Starts a writer on its own connection to the store at db_path; entries
 * are committed within flush_ms. RC_OK or RC_DB / RC_INTERNAL. */
int audit_writer_start(const char *db_path, int flush_ms, struct audit_writer **out);
/* Queues a copy of e (never blocks on the disk). When the queue holds more
 * than 100,000 entries the caller writes synchronously instead, on the
 * writer's connection, so nothing is dropped. */
void audit_writer_post(struct audit_writer *w, const struct audit_entry *e);
/* Writes everything queued so far before returning. */
void audit_writer_flush(struct audit_writer *w);
/* Flushes, stops the thread, frees w. NULL is fine. */
void audit_writer_stop(struct audit_writer *w);

#endif
