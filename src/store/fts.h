/* Registers Atrium's tokenizer (text/tok.h) with SQLite FTS5 under the name
 * "atrium", so `CREATE VIRTUAL TABLE ... USING fts5(..., tokenize='atrium')`
 * indexes and queries with it. Highlight/snippet offsets refer to the
 * original text. */
#ifndef ATRIUM_FTS_H
#define ATRIUM_FTS_H

#include <sqlite3.h>

/* RC_OK or RC_DB. Call once per connection. */
int fts_register_tokenizer(sqlite3 *db);

#endif
