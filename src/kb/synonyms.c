/* Per-KB synonym groups: seeded from the default banking dictionary when a
 * KB is created, editable by admins, folded and loaded into the KB's search
 * snapshot for query expansion. */
#include "kb/kbint.h"

#include "common/alloc.h"
#include "common/rc.h"
#include "kb/synonyms_default.h"
#include "text/norm.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

static int insert_group(struct kb_conn *c, int64_t kb_id, const char *terms, int64_t *id)
{
    sqlite3_stmt *st = db_stmt(c->cache, "INSERT INTO synonyms(kb_id, terms) VALUES (?1, ?2)");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_text(st, 2, terms, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return RC_DB;
    if (id)
        *id = sqlite3_last_insert_rowid(c->db);
    return RC_OK;
}

int kb_synonyms_seed(struct kb_conn *c, int64_t kb_id)
{
    for (const char *const *g = kb_default_synonyms; *g; g++)
        if (insert_group(c, kb_id, *g, NULL))
            return RC_DB;
    return RC_OK;
}

/* Splits a space-separated group into folded terms (NULL-terminated). */
static char **split_fold(const char *terms)
{
    size_t n = 0, cap = 0;
    char **out = NULL;
    const char *p = terms;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *q = p;
        while (*q && *q != ' ')
            q++;
        if (q > p) {
            struct buf b = BUF_INIT;
            norm_fold(p, (size_t)(q - p), &b);
            out = xgrow(out, &cap, n + 2, sizeof *out);
            out[n++] = buf_detach(&b, NULL);
        }
        p = q;
    }
    if (!out)
        out = xcalloc(1, sizeof *out);
    out[n] = NULL;
    return out;
}

int kb_synonyms_load(struct kb_conn *c, struct kb_snapshot *s)
{
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT terms FROM synonyms WHERE kb_id = ?1 ORDER BY id");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, s->kb_id);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        char **g = split_fold(t ? t : "");
        if (!g[0] || !g[1]) { /* fewer than two terms: nothing to expand */
            for (char **x = g; *x; x++)
                free(*x);
            free(g);
            continue;
        }
        s->syn = xgrow(s->syn, &cap, s->nsyn + 1, sizeof *s->syn);
        s->syn[s->nsyn++] = g;
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? RC_OK : RC_DB;
}

int kb_synonyms(struct kb_conn *c, int64_t kb_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT id, terms FROM synonyms WHERE kb_id = ?1 ORDER BY id");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    json_t *groups = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *terms = json_array();
        const char *t = (const char *)sqlite3_column_text(st, 1);
        for (const char *p = t ? t : ""; *p;) {
            while (*p == ' ')
                p++;
            const char *q = p;
            while (*q && *q != ' ')
                q++;
            if (q > p)
                json_array_append_new(terms, json_stringn(p, (size_t)(q - p)));
            p = q;
        }
        json_array_append_new(
            groups,
            json_pack("{sI so}", "id", (json_int_t)sqlite3_column_int64(st, 0), "terms", terms));
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(groups);
        return RC_DB;
    }
    *out = json_pack("{so}", "groups", groups);
    return RC_OK;
}

int kb_synonym_add(struct kb_conn *c, int64_t kb_id, const char *const *terms, size_t n,
                   int64_t *group_id, struct buf *err)
{
    if (n < 2 || n > 32) {
        buf_addf(err, "同义词组需要 2–32 个词 / a synonym group needs 2 to 32 terms");
        return RC_INVALID;
    }
    struct buf joined = BUF_INIT;
    int rc = RC_OK;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(terms[i]);
        int bad = len == 0 || !utf8_valid(terms[i], len) || utf8_count(terms[i], len) > 32;
        for (size_t j = 0; j < len && !bad; j++)
            if ((unsigned char)terms[i][j] <= ' ')
                bad = 1;
        if (bad) {
            buf_addf(err, "同义词无效（不能为空、含空白或超过 32 字） / invalid synonym term");
            rc = RC_INVALID;
            goto out;
        }
        for (size_t j = 0; j < i && !bad; j++)
            bad = strcmp(terms[i], terms[j]) == 0;
        if (bad) {
            buf_addf(err, "同义词组中有重复的词 / a term appears twice in the group");
            rc = RC_INVALID;
            goto out;
        }
        if (i)
            buf_addc(&joined, ' ');
        buf_add(&joined, terms[i], len);
    }
    struct db_tx tx;
    if (db_tx_begin(c->db, &tx)) {
        rc = RC_DB;
        goto out;
    }
    int ok = !insert_group(c, kb_id, buf_str(&joined), group_id) && !kb_bump_generation(c, kb_id);
    if (db_tx_end(c->db, &tx, ok) || !ok)
        rc = RC_DB;
out:
    buf_release(&joined);
    return rc;
}

int kb_synonym_delete(struct kb_conn *c, int64_t kb_id, int64_t group_id)
{
    struct db_tx tx;
    if (db_tx_begin(c->db, &tx))
        return RC_DB;
    int rc = RC_DB;
    sqlite3_stmt *st = db_stmt(c->cache, "DELETE FROM synonyms WHERE id = ?1 AND kb_id = ?2");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_int64(st, 2, kb_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(c->db) == 0) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    if (kb_bump_generation(c, kb_id) == RC_OK)
        rc = RC_OK;
out:
    if (db_tx_end(c->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = RC_DB;
    return rc;
}
