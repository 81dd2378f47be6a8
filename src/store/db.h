/* The SQLite store: opening a connection (WAL, foreign keys, busy timeout,
 * our FTS5 tokenizer registered), versioned migrations in code, and small
 * helpers for prepared statements. One connection per thread. */
#ifndef ATRIUM_DB_H
#define ATRIUM_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "common/buf.h"

/* Opens (creating) the database at path, applies pending migrations and
 * registers the "atrium" tokenizer. ":memory:" works for tests. On failure
 * returns RC_DB / RC_IO with a message in err; *out is NULL. */
int db_open(const char *path, sqlite3 **out, struct buf *err);
void db_close(sqlite3 *db);

/* The schema version this build migrates to, and the one in the file. */
int db_schema_version(void);
int db_user_version(sqlite3 *db);

/* Runs SQL without results (no parameters); RC_OK or RC_DB. */
int db_exec(sqlite3 *db, const char *sql);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);

/* A unit of work that nests: outside a transaction it is BEGIN IMMEDIATE …
 * COMMIT/ROLLBACK; inside one (a caller's batch) it is a savepoint, so its
 * changes are undone on failure without ending the outer transaction.
 * Pass the same `tx` to both calls. */
struct db_tx {
    int nested;
};
int db_tx_begin(sqlite3 *db, struct db_tx *tx);
/* Commits (ok) or undoes (!ok) the unit. RC_OK, or RC_DB when a commit failed. */
int db_tx_end(sqlite3 *db, struct db_tx *tx, int ok);

/* A statement cache for a connection: db_stmt returns a reset, cleared
 * prepared statement for sql (prepared once per connection, keyed by the
 * sql pointer, so pass string literals). NULL on a prepare error (logged). */
struct db_cache;
struct db_cache *db_cache_new(sqlite3 *db);
void db_cache_free(struct db_cache *c);
sqlite3_stmt *db_stmt(struct db_cache *c, const char *sql);

/* A thread's connection and its statement cache, as the services below
 * kb/ (auth/ and later ones) take them. Owned by whoever opened it (the
 * kb_conn of the thread, see kb_conn_store). */
struct db_conn {
    sqlite3 *db;
    struct db_cache *cache;
};

/* Column helpers: text as a malloc'd copy ("" for NULL). */
char *db_col_str(sqlite3_stmt *st, int col);

#endif
