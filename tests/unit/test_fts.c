/* Tests for src/store/fts.c: the "atrium" FTS5 tokenizer on an in-memory
 * database — short Chinese queries, traditional/simplified and full-width
 * folding, highlight() on original bytes, tokenizer arguments. */
#include "test.h"

#include "common/buf.h"
#include "common/rc.h"
#include "store/fts.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const docs[] = {
    /* 1 */ "单位开立基本存款账户，需提供营业执照。",
    /* 2 */ "信用卡年费的收取标准请咨询网点。",
    /* 3 */ "ATM机每日取款限额为20,000元。",
    /* 4 */ "本行於香港設有分行，提供帳戶服務。", /* traditional */
    /* 5 */ "个人网上银行转账限额说明",
    /* 6 */ "依据第5条规定办理U盾业务。",
    /* 7 */ "存，款项", /* a phrase must not run across the comma */
};

static sqlite3 *open_db(const char *tokenize)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[256];

    CHECK_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    CHECK_INT(fts_register_tokenizer(db), RC_OK);
    snprintf(sql, sizeof sql, "CREATE VIRTUAL TABLE t USING fts5(body, tokenize='%s')", tokenize);
    CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) VALUES (?1, ?2)", -1, &st, NULL),
              SQLITE_OK);
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        CHECK_INT(sqlite3_bind_int(st, 1, (int)i + 1), SQLITE_OK);
        CHECK_INT(sqlite3_bind_text(st, 2, docs[i], -1, SQLITE_STATIC), SQLITE_OK);
        CHECK_INT(sqlite3_step(st), SQLITE_DONE);
        CHECK_INT(sqlite3_reset(st), SQLITE_OK);
    }
    CHECK_INT(sqlite3_finalize(st), SQLITE_OK);
    return db;
}

/* Matching rowids in order, as "1,3" ("" for none, "error" on SQL error). */
static char *match_ids(sqlite3 *db, const char *query)
{
    sqlite3_stmt *st = NULL;
    struct buf b = BUF_INIT;
    int rc;

    CHECK_INT(sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid", -1, &st,
                                 NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC), SQLITE_OK);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        CHECK_INT(buf_addf(&b, "%s%lld", b.len ? "," : "", (long long)sqlite3_column_int64(st, 0)),
                  RC_OK);
    if (rc != SQLITE_DONE) {
        buf_reset(&b);
        CHECK_INT(buf_adds(&b, "error"), RC_OK);
    }
    CHECK_INT(sqlite3_finalize(st), SQLITE_OK);
    return buf_detach(&b, NULL);
}

#define CHECK_MATCH(db, q, want)                                                                   \
    do {                                                                                           \
        char *m_ = match_ids(db, q);                                                               \
        CHECK_STR(m_, want);                                                                       \
        free(m_);                                                                                  \
    } while (0)

static char *highlight(sqlite3 *db, const char *query)
{
    sqlite3_stmt *st = NULL;
    char *out = NULL;

    CHECK_INT(sqlite3_prepare_v2(db,
                                 "SELECT highlight(t, 0, '[', ']') FROM t WHERE t MATCH ?1 "
                                 "ORDER BY rowid LIMIT 1",
                                 -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    CHECK_INT(sqlite3_finalize(st), SQLITE_OK);
    return out ? out : strdup("(no row)");
}

#define CHECK_HL(db, q, want)                                                                      \
    do {                                                                                           \
        char *h_ = highlight(db, q);                                                               \
        CHECK_STR(h_, want);                                                                       \
        free(h_);                                                                                  \
    } while (0)

TEST(fts_short_chinese_queries)
{
    sqlite3 *db = open_db("atrium");
    CHECK_MATCH(db, "账户", "1,4"); /* 2 chars: trigram cannot; 帳戶 folds to 账户 */
    CHECK_MATCH(db, "存款账户", "1");
    CHECK_MATCH(db, "限额", "3,5");
    CHECK_MATCH(db, "信用卡", "2");
    CHECK_MATCH(db, "年费 网点", "2");
    CHECK_MATCH(db, "限额 NOT 转账", "3");
    CHECK_MATCH(db, "atm", "3");
    CHECK_MATCH(db, "ＡＴＭ", "3");
    CHECK_MATCH(db, "20000", "3");
    CHECK_MATCH(db, "账户限额", ""); /* phrase: adjacent only */
    CHECK_MATCH(db, "户需", "");     /* 账户，需 — the comma separates */
    CHECK_MATCH(db, "开立账户", ""); /* not adjacent in doc 1 */
    CHECK_MATCH(db, "基本存款", "1");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(fts_lone_characters_next_to_latin_and_numbers)
{
    /* The query side has a one-character CJK run; the document continues it. */
    sqlite3 *db = open_db("atrium");
    CHECK_MATCH(db, "ATM机", "3");
    CHECK_MATCH(db, "第5条", "6");
    CHECK_MATCH(db, "U盾", "6");
    CHECK_MATCH(db, "20000元", "3");
    CHECK_MATCH(db, "盾业务", "6");
    CHECK_MATCH(db, "存款项", ""); /* edges are index-only: no false match on 7 */
    CHECK_MATCH(db, "款项", "7");
    /* FTS5 highlights by position and skips colocated tokens, so a phrase
     * that starts or ends on a lone character lights up the bigram sharing
     * its position: the match is inside, with at most a character more on
     * each side. */
    char *h = highlight(db, "第5条");
    CHECK_STR(h, "依[据第5条规]定办理U盾业务。");
    free(h);
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(fts_traditional_and_simplified_meet)
{
    sqlite3 *db = open_db("atrium");
    CHECK_MATCH(db, "銀行", "5"); /* traditional query, simplified text */
    CHECK_MATCH(db, "帳戶", "1,4");
    CHECK_MATCH(db, "香港设有", "4"); /* simplified query, traditional text */
    CHECK_MATCH(db, "分行", "4");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(fts_highlight_wraps_original_bytes)
{
    sqlite3 *db = open_db("atrium");
    CHECK_HL(db, "账户", "单位开立基本存款[账户]，需提供营业执照。");
    CHECK_HL(db, "存款账户", "单位开立基本[存款账户]，需提供营业执照。");
    CHECK_HL(db, "设有分行", "本行於香港[設有分行]，提供帳戶服務。");
    CHECK_HL(db, "提供账户", "本行於香港設有分行，[提供帳戶]服務。");
    CHECK_HL(db, "帐户服务", "本行於香港設有分行，提供[帳戶服務]。");
    CHECK_HL(db, "atm", "[ATM]机每日取款限额为20,000元。");
    CHECK_HL(db, "20000", "ATM机每日取款限额为[20,000]元。");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(fts_tokenizer_arguments)
{
    sqlite3 *db = open_db("atrium bigrams unigrams");
    CHECK_MATCH(db, "账", "1,4,5"); /* unigrams index single characters (转账 too) */
    CHECK_MATCH(db, "账户", "1,4");
    CHECK_MATCH(db, "信用卡", "2");
    /* FTS5 highlights positions, and a unigram shares its position with a
     * bigram: the last character of a run lights up with its bigram. */
    CHECK_HL(db, "户", "单位开立基本存款[账户]，需提供营业执照。");
    CHECK_HL(db, "基", "单位开立[基本]存款账户，需提供营业执照。");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);

    db = open_db("atrium bigrams");
    CHECK_MATCH(db, "账", "");       /* bigrams only: a lone char is not indexed */
    CHECK_MATCH(db, "账*", "1,4,5"); /* ... but a prefix query finds bigrams starting with it */
    /* ... and the run-edge unigram at the end of a run: 户 in doc 1 only
     * ends 账户 (followed by '，'), so every occurrence is found. */
    CHECK_MATCH(db, "户*", "1,4");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);

    sqlite3 *bad = NULL;
    CHECK_INT(sqlite3_open(":memory:", &bad), SQLITE_OK);
    CHECK_INT(fts_register_tokenizer(bad), RC_OK);
    CHECK(sqlite3_exec(bad, "CREATE VIRTUAL TABLE x USING fts5(b, tokenize='atrium nonsense')",
                       NULL, NULL, NULL) != SQLITE_OK);
    CHECK_INT(sqlite3_close(bad), SQLITE_OK);
}

/* Number of rows of the table's vocabulary that equal term. */
static int vocab_has(sqlite3 *db, const char *term)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    CHECK_INT(sqlite3_exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS v USING fts5vocab(t, 'row')",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM v WHERE term = ?1", -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_bind_text(st, 1, term, -1, SQLITE_STATIC), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    CHECK_INT(sqlite3_finalize(st), SQLITE_OK);
    return n;
}

TEST(fts_default_indexes_bigrams_and_edges_not_words)
{
    sqlite3 *db = open_db("atrium");
    CHECK_INT(vocab_has(db, "信用"), 1);
    CHECK_INT(vocab_has(db, "信"), 1);     /* run edge */
    CHECK_INT(vocab_has(db, "信用卡"), 0); /* no ICU words: see fts.c */
    CHECK_MATCH(db, "信用卡", "2");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
    db = open_db("atrium default");
    CHECK_INT(vocab_has(db, "信用卡"), 1);
    CHECK_MATCH(db, "信用卡", "2");
    CHECK_MATCH(db, "账户", "1,4");
    /* colocated words leave positions alone: highlight and snippet agree */
    CHECK_HL(db, "信用卡", "[信用卡]年费的收取标准请咨询网点。");
    CHECK_HL(db, "收取标准", "信用卡年费的[收取标准]请咨询网点。");
    {
        sqlite3_stmt *st = NULL;
        CHECK_INT(sqlite3_prepare_v2(db,
                                     "SELECT snippet(t, 0, '[', ']', '…', 4) FROM t "
                                     "WHERE t MATCH '设有分行'",
                                     -1, &st, NULL),
                  SQLITE_OK);
        CHECK_INT(sqlite3_step(st), SQLITE_ROW);
        CHECK_CONTAINS((const char *)sqlite3_column_text(st, 0), "[設有分行]");
        CHECK_INT(sqlite3_finalize(st), SQLITE_OK);
    }
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(fts_hostile_text_is_harmless)
{
    sqlite3 *db = open_db("atrium");
    sqlite3_stmt *st = NULL;
    const char bad[] = "\xff\xfe账户\xe8\xb4\x00\xed\xa0\x80 abc";
    CHECK_INT(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) VALUES (9, ?1)", -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_bind_text(st, 1, bad, (int)sizeof bad - 1, SQLITE_STATIC), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_DONE);
    CHECK_INT(sqlite3_finalize(st), SQLITE_OK);
    CHECK_MATCH(db, "账户", "1,4,9");
    CHECK_MATCH(db, "abc", "9");
    CHECK_MATCH(db, "\"\xff\"", "");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}
