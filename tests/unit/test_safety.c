/* Tests for src/assist/safety.c: the word list (add, list, remove, refused
 * words), blocking and masking with full-width / traditional / upper-case
 * variants, the streaming filter at every split of the text, the matcher
 * cache reloading after a change, and the rate limiter (burst, 429 with
 * Retry-After, refill with an injected clock, eviction, threads). */
#include "test.h"

#include "assist/safety.h"
#include "common/buf.h"
#include "common/rc.h"
#include "store/db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int open_db(struct db_conn *d, const char *name)
{
    char path[512];
    struct buf err = BUF_INIT;
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/%s.db", test_tmpdir(), name);
    remove(path);
    int rc = db_open(path, &db, &err);
    if (rc != RC_OK) {
        fprintf(stderr, "db_open: %s\n", buf_str(&err));
        buf_release(&err);
        return rc;
    }
    buf_release(&err);
    *d = (struct db_conn){db, db_cache_new(db)};
    return RC_OK;
}

static void close_db(struct db_conn *d)
{
    db_cache_free(d->cache);
    db_close(d->db);
}

static struct safety_matcher *build(void)
{
    struct safety_word w[] = {
        {0, "违禁品", SAFETY_BLOCK, 0},  {0, "内幕消息", SAFETY_BLOCK, 0},
        {0, "账户密码", SAFETY_MASK, 0}, {0, "SECRET", SAFETY_MASK, 0},
        {0, "密码", SAFETY_MASK, 0},     {0, "abcab", SAFETY_MASK, 0},
    };
    return safety_matcher_build(w, sizeof w / sizeof w[0]);
}

/* Runs safety_check and returns "verdict:text" or "blocked(word)". */
static char *check(const struct safety_matcher *m, const char *s)
{
    struct buf out = BUF_INIT, r = BUF_INIT;
    struct safety_result res;
    int rc = safety_check(m, s, strlen(s), &out, &res);
    if (rc != RC_OK)
        buf_addf(&r, "rc=%d", rc);
    else if (res.verdict == SAFETY_BLOCKED)
        buf_addf(&r, "blocked(%s)", res.word);
    else
        buf_addf(&r, "%d:%s", res.verdict, buf_str(&out));
    buf_release(&out);
    return buf_detach(&r, NULL);
}

#define CHECK_SAFE(m, s, want)                                                                     \
    do {                                                                                           \
        char *got_ = check(m, s);                                                                  \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

TEST(safety_words_crud)
{
    struct db_conn d;
    struct safety_word *w = NULL;
    size_t n = 0;
    char longw[80 * 3 + 1] = "";

    if (open_db(&d, "safety_crud") != RC_OK) {
        CHECK(0);
        return;
    }
    CHECK_INT(safety_word_add(&d, NULL, "违禁品", SAFETY_BLOCK), RC_OK);
    CHECK_INT(safety_word_add(&d, NULL, "  账户密码\u3000", SAFETY_MASK), RC_OK); /* trimmed */
    CHECK_INT(safety_word_add(&d, NULL, "账户密码", SAFETY_BLOCK), RC_EXISTS);
    CHECK_INT(safety_word_add(&d, NULL, "", SAFETY_MASK), RC_INVALID);
    CHECK_INT(safety_word_add(&d, NULL, " \t ", SAFETY_MASK), RC_INVALID);
    CHECK_INT(safety_word_add(&d, NULL,
                              "a\x01"
                              "b",
                              SAFETY_MASK),
              RC_INVALID);
    CHECK_INT(safety_word_add(&d, NULL, "\xe2\x80\x8b", SAFETY_MASK), RC_INVALID); /* ZWSP only */
    CHECK_INT(safety_word_add(&d, NULL, "\xff\xfe", SAFETY_MASK), RC_INVALID);
    CHECK_INT(safety_word_add(&d, NULL, "好词", 7), RC_INVALID);
    for (int i = 0; i < 65; i++)
        strcat(longw, "字");
    CHECK_INT(safety_word_add(&d, NULL, longw, SAFETY_MASK), RC_INVALID);
    longw[64 * 3] = '\0';
    CHECK_INT(safety_word_add(&d, NULL, longw, SAFETY_MASK), RC_OK); /* exactly 64 */
    CHECK_INT(safety_word_list(&d, &w, &n), RC_OK);
    CHECK_INT(n, 3);
    if (n == 3) {
        /* ordered by word (byte order): 字… < 账… < 违… */
        CHECK_STR(w[0].word, longw);
        CHECK_STR(w[1].word, "账户密码");
        CHECK_INT(w[1].action, SAFETY_MASK);
        CHECK_STR(w[2].word, "违禁品");
        CHECK_INT(w[2].action, SAFETY_BLOCK);
        CHECK(w[2].created_at > 0);
    }
    safety_words_free(w, n);
    CHECK_INT(safety_word_remove(&d, NULL, "违禁品"), RC_OK);
    CHECK_INT(safety_word_remove(&d, NULL, "违禁品"), RC_NOT_FOUND);
    CHECK_INT(safety_word_list(&d, &w, &n), RC_OK);
    CHECK_INT(n, 2);
    safety_words_free(w, n);
    CHECK_STR(safety_action_name(SAFETY_BLOCK), "block");
    CHECK_INT(safety_action_parse("mask"), SAFETY_MASK);
    CHECK_INT(safety_action_parse("drop"), 0);
    close_db(&d);
}

TEST(safety_block_and_mask_variants)
{
    struct safety_matcher *m = build();
    CHECK_INT(safety_matcher_size(m), 6);
    CHECK_SAFE(m, "正常的问题：如何开户？", "0:正常的问题：如何开户？");
    CHECK_SAFE(m, "哪里买违禁品", "blocked(违禁品)");
    CHECK_SAFE(m, "有沒有內幕消息", "blocked(内幕消息)");   /* traditional 內 */
    CHECK_SAFE(m, "违\xe2\x80\x8b禁品", "blocked(违禁品)"); /* a zero-width space inside */
    CHECK_SAFE(m, "我的账户密码是123", "1:我的****是123");
    CHECK_SAFE(m, "我的帳戶密碼是123", "1:我的****是123"); /* traditional, same length */
    CHECK_SAFE(m, "忘记密码了", "1:忘记**了");
    CHECK_SAFE(m, "the secret is", "1:the ****** is");
    CHECK_SAFE(m, "ＴＨＥ ＳｅＣＲＥＴ", "1:ＴＨＥ ******"); /* full-width, one * per char */
    CHECK_SAFE(m, "xabcabcaby", "1:x********y");             /* overlapping matches */
    CHECK_SAFE(m, "密码与违禁品", "blocked(违禁品)");        /* block wins */
    CHECK_SAFE(m, "", "0:");
    CHECK_SAFE(m, "\xff密码\xe4\xb8", "1:\xff**\xe4\xb8"); /* bad bytes pass through */
    safety_matcher_unref(m);

    /* an empty list matches nothing */
    m = safety_matcher_build(NULL, 0);
    CHECK_SAFE(m, "违禁品", "0:违禁品");
    safety_matcher_unref(m);
}

static void stream_all_splits(const struct safety_matcher *mc, const char *text)
{
    struct safety_matcher *m = (struct safety_matcher *)mc;
    struct buf whole = BUF_INIT;
    struct safety_result wr, sr;
    size_t n = strlen(text);
    int bad = 0;

    CHECK_INT(safety_check(m, text, n, &whole, &wr), RC_OK);
    for (size_t i = 0; i <= n && !bad; i++) {
        for (size_t j = i; j <= n && !bad; j++) {
            struct safety_stream *st = safety_stream_new(m);
            struct buf got = BUF_INIT;
            int rc = safety_stream_feed(st, text, i, &got, &sr);
            if (rc == RC_OK)
                rc = safety_stream_feed(st, text + i, j - i, &got, &sr);
            if (rc == RC_OK)
                rc = safety_stream_feed(st, text + j, n - j, &got, &sr);
            if (rc == RC_OK)
                rc = safety_stream_finish(st, &got, &sr);
            if (rc != RC_OK || sr.verdict != wr.verdict || strcmp(sr.word, wr.word) != 0 ||
                (wr.verdict != SAFETY_BLOCKED && strcmp(buf_str(&got), buf_str(&whole)) != 0)) {
                test_fail(__FILE__, __LINE__, "\"%s\" split %zu,%zu: %d \"%s\" vs %d \"%s\"", text,
                          i, j, sr.verdict, buf_str(&got), wr.verdict, buf_str(&whole));
                bad = 1;
            }
            /* a blocked stream never showed the word */
            if (wr.verdict == SAFETY_BLOCKED && strstr(buf_str(&got), wr.word)) {
                test_fail(__FILE__, __LINE__, "word leaked at %zu,%zu", i, j);
                bad = 1;
            }
            safety_stream_free(st);
            buf_release(&got);
        }
    }
    buf_release(&whole);
}

TEST(safety_stream_every_split)
{
    struct safety_matcher *m = build();
    stream_all_splits(m, "请告诉我帳戶密碼和ＳＥＣＲＥＴ，谢谢");
    stream_all_splits(m, "abcabcab 密码密码");
    stream_all_splits(m, "前面一段话，然后是內幕消息，后面");
    stream_all_splits(m, "违\xe2\x80\x8b禁\xff品 密");
    stream_all_splits(m, "没有敏感词的普通回答。");

    /* the hold-back: a possible word start waits, the rest flows */
    struct safety_stream *st = safety_stream_new(m);
    struct buf got = BUF_INIT;
    struct safety_result r;
    safety_matcher_unref(m); /* the stream holds its own reference */
    CHECK_INT(safety_stream_feed(st, "你好，内幕", strlen("你好，内幕"), &got, &r), RC_OK);
    CHECK_STR(buf_str(&got), "你好，");
    CHECK_INT(r.verdict, SAFETY_PASS);
    CHECK_INT(safety_stream_feed(st, "消息", strlen("消息"), &got, &r), RC_OK);
    CHECK_INT(r.verdict, SAFETY_BLOCKED);
    CHECK_STR(r.word, "内幕消息");
    CHECK_INT(safety_stream_feed(st, "更多", strlen("更多"), &got, &r), RC_OK);
    CHECK_INT(safety_stream_finish(st, &got, &r), RC_OK);
    CHECK_STR(buf_str(&got), "你好，");
    safety_stream_free(st);
    buf_release(&got);
}

TEST(safety_matcher_reloads_on_change)
{
    struct db_conn d;
    struct safety *s = safety_new(30, 10);
    struct safety_matcher *m1 = NULL, *m2 = NULL, *m3 = NULL;

    if (open_db(&d, "safety_reload") != RC_OK) {
        CHECK(0);
        safety_free(s);
        return;
    }
    CHECK_INT(safety_matcher_get(s, &d, &m1), RC_OK);
    CHECK_SAFE(m1, "违禁品", "0:违禁品");
    CHECK_INT(safety_word_add(&d, s, "违禁品", SAFETY_BLOCK), RC_OK);
    CHECK_INT(safety_matcher_get(s, &d, &m2), RC_OK);
    CHECK(m2 != m1);
    CHECK_SAFE(m2, "违禁品", "blocked(违禁品)");
    CHECK_SAFE(m1, "违禁品", "0:违禁品"); /* a held matcher stays valid */
    safety_matcher_unref(m1);
    CHECK_INT(safety_matcher_get(s, &d, &m1), RC_OK);
    CHECK(m1 == m2); /* unchanged: the cached one */
    CHECK_INT(safety_word_remove(&d, s, "违禁品"), RC_OK);
    CHECK_INT(safety_matcher_get(s, &d, &m3), RC_OK);
    CHECK_SAFE(m3, "违禁品", "0:违禁品");
    safety_matcher_unref(m1);
    safety_matcher_unref(m2);
    safety_matcher_unref(m3);
    safety_free(s);
    close_db(&d);
}

TEST(safety_rate_burst_and_refill)
{
    struct safety *s = safety_new(6, 3); /* one token per 10 s, burst 3 */
    int ra = -1;
    uint64_t t = 1000000;

    for (int i = 0; i < 3; i++)
        CHECK_INT(safety_rate_take_at(s, 7, t, &ra), RC_OK);
    CHECK_INT(safety_rate_take_at(s, 7, t, &ra), RC_BUSY);
    CHECK_INT(ra, 10);
    CHECK_INT(safety_rate_take_at(s, 7, t + 4000, &ra), RC_BUSY);
    CHECK_INT(ra, 6);                                    /* 6 s left until the next token */
    CHECK_INT(safety_rate_take_at(s, 8, t, &ra), RC_OK); /* another user is not affected */
    CHECK_INT(safety_rate_take_at(s, 7, t + 10000, &ra), RC_OK);
    CHECK_INT(safety_rate_take_at(s, 7, t + 10000, &ra), RC_BUSY);
    CHECK_INT(ra, 10);
    /* a long pause refills to the burst, not beyond */
    for (int i = 0; i < 3; i++)
        CHECK_INT(safety_rate_take_at(s, 7, t + 3600000, &ra), RC_OK);
    CHECK_INT(safety_rate_take_at(s, 7, t + 3600000, &ra), RC_BUSY);
    CHECK_INT(safety_rate_users(s), 2);
    safety_free(s);

    s = safety_new(0, 1); /* no limit */
    for (int i = 0; i < 100; i++)
        CHECK_INT(safety_rate_take_at(s, 1, 0, &ra), RC_OK);
    CHECK_INT(safety_rate_take(s, 1, &ra), RC_OK);
    safety_free(s);

    s = safety_new(30, 1); /* 2 s per token */
    CHECK_INT(safety_rate_take(s, 1, &ra), RC_OK);
    CHECK_INT(safety_rate_take(s, 1, &ra), RC_BUSY);
    CHECK(ra >= 1 && ra <= 2);
    safety_free(s);
}

TEST(safety_rate_bounded_memory)
{
    struct safety *s = safety_new(60, 2);
    int ra;
    safety_rate_set_max_users(s, 4);
    for (int64_t u = 1; u <= 4; u++)
        CHECK_INT(safety_rate_take_at(s, u, 1000 + (uint64_t)u, &ra), RC_OK);
    CHECK_INT(safety_rate_users(s), 4);
    /* all four are active: the one seen longest ago (user 1) goes */
    CHECK_INT(safety_rate_take_at(s, 5, 1010, &ra), RC_OK);
    CHECK_INT(safety_rate_users(s), 4);
    CHECK_INT(safety_rate_take_at(s, 2, 1010, &ra), RC_OK); /* still tracked: 0 tokens left */
    CHECK_INT(safety_rate_take_at(s, 2, 1010, &ra), RC_BUSY);
    /* later everyone is idle again: the next newcomer sweeps them all */
    CHECK_INT(safety_rate_take_at(s, 6, 100000, &ra), RC_OK);
    CHECK_INT(safety_rate_users(s), 1);
    for (int64_t u = 100; u < 1000; u++)
        CHECK_INT(safety_rate_take_at(s, u, 200000 + (uint64_t)u * 10000, &ra), RC_OK);
    CHECK(safety_rate_users(s) <= 4);
    safety_free(s);
}

struct rate_arg {
    struct safety *s;
    int64_t uid;
    int ok;
};

static void *rate_thread(void *p)
{
    struct rate_arg *a = p;
    int ra;
    for (int i = 0; i < 200; i++) {
        if (safety_rate_take_at(a->s, a->uid, 5000, &ra) == RC_OK)
            a->ok++;
        safety_rate_take_at(a->s, 1000 + i, 5000, &ra); /* churn other users */
    }
    return NULL;
}

TEST(safety_rate_threads)
{
    struct safety *s = safety_new(1, 50);
    pthread_t th[4];
    struct rate_arg a[4];
    int total = 0;
    for (int i = 0; i < 4; i++) {
        a[i] = (struct rate_arg){s, 42, 0};
        CHECK_INT(pthread_create(&th[i], NULL, rate_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += a[i].ok;
    }
    CHECK_INT(total, 50); /* exactly the burst, whatever the interleaving */
    CHECK_INT(safety_rate_users(s), 201);
    safety_free(s);
}
