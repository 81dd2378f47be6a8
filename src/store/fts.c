/* FTS5 glue for the Chinese tokenizer (text/tok.h): registers "atrium" on a
 * connection. Arguments pick the token kinds: tokenize='atrium' (bigrams),
 * 'atrium default' (TOK_DEFAULT: bigrams + ICU words), 'atrium bigrams
 * unigrams' (single-character queries), any of bigrams/words/unigrams. */
#include "store/fts.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "text/norm.h"
#include "text/tok.h"

#include <stdlib.h>
#include <string.h>

/* Why plain 'atrium' indexes bigrams without ICU words: FTS5 matches a
 * multi-token query as a phrase, and a word token always shares its position
 * with the bigram that starts at the same character, so word tokens can never
 * change which rows match or how bm25() ranks them. They only cost: ICU made
 * inserts about 2x slower in our measurements. 'atrium default' keeps them
 * for anyone who reads the index vocabulary. */
#define FTS_DEFAULT_FLAGS TOK_BIGRAMS

struct fts_tok {
    unsigned flags;
};

struct fts_call {
    void *pCtx;
    int (*xToken)(void *, int, const char *, int, int, int);
};

static int fts_create(void *pUnused, const char **azArg, int nArg, Fts5Tokenizer **ppOut)
{
    struct fts_tok *t;
    unsigned flags = 0;
    int rc = SQLITE_OK;

    (void)pUnused;
    *ppOut = NULL;
    for (int i = 0; i < nArg; i++) {
        if (strcmp(azArg[i], "bigrams") == 0)
            flags |= TOK_BIGRAMS;
        else if (strcmp(azArg[i], "words") == 0)
            flags |= TOK_WORDS;
        else if (strcmp(azArg[i], "unigrams") == 0)
            flags |= TOK_UNIGRAMS;
        else if (strcmp(azArg[i], "default") == 0)
            flags |= TOK_DEFAULT;
        else {
            rc = SQLITE_ERROR;
            goto out;
        }
    }
    t = xmalloc(sizeof *t);
    t->flags = flags ? flags : (unsigned)FTS_DEFAULT_FLAGS;
    *ppOut = (Fts5Tokenizer *)t;
out:
    return rc;
}

static void fts_delete(Fts5Tokenizer *p)
{
    free(p);
}

static int fts_token(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                     unsigned tflags)
{
    struct fts_call *c = ctx;
    return c->xToken(c->pCtx, (tflags & TOK_COLOCATED) ? FTS5_TOKEN_COLOCATED : 0, tok, (int)n,
                     (int)start, (int)end);
}

/* Queries and highlight()/snippet() need only the tokens that take
 * positions: colocated words and unigrams in a query would be alternatives
 * that add nothing (a word always shares its position with a bigram of the
 * same start) or widen the match (a unigram), and FTS5's highlighter skips
 * colocated tokens anyway. Dropping them keeps queries fast (no ICU). */
static unsigned positional_flags(unsigned flags)
{
    if (flags & TOK_BIGRAMS)
        return TOK_BIGRAMS;
    if (flags & TOK_UNIGRAMS)
        return TOK_UNIGRAMS;
    return flags;
}

static int fts_tokenize(Fts5Tokenizer *p, void *pCtx, int flags, const char *pText, int nText,
                        int (*xToken)(void *, int, const char *, int, int, int))
{
    struct fts_tok *t = (struct fts_tok *)p;
    struct fts_call c = {pCtx, xToken};
    unsigned tf = t->flags;

    if (nText <= 0 || !pText)
        return SQLITE_OK;
    if (flags & (FTS5_TOKENIZE_QUERY | FTS5_TOKENIZE_AUX))
        tf = positional_flags(tf);
    else if (tf & TOK_BIGRAMS)
        tf |= TOK_EDGES; /* see tok.h: phrase queries ending in a lone character */
    return tok_run_ex(pText, (size_t)nText, tf, fts_token, &c);
}

int fts_register_tokenizer(sqlite3 *db)
{
    static fts5_tokenizer tokenizer = {fts_create, fts_delete, fts_tokenize};
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    int rc = RC_DB;

    (void)norm_init(); /* build the tables now, not inside the first insert */
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    if (!api || api->iVersion < 2) {
        log_error("fts: FTS5 API not available");
        goto out;
    }
    if (api->xCreateTokenizer(api, "atrium", NULL, &tokenizer, NULL) != SQLITE_OK)
        goto out;
    rc = RC_OK;
out:
    if (rc != RC_OK)
        log_error("fts: cannot register tokenizer: %s", sqlite3_errmsg(db));
    if (st)
        (void)sqlite3_finalize(st);
    return rc;
}
