/* Tests for src/text: strict UTF-8, per-code-point folding (NFKC, t2s, bank
 * characters), and the tokenizer's exact token lists and original offsets. */
#include "test.h"

#include "cli/cli.h"
#include "common/buf.h"
#include "common/rc.h"
#include "text/norm.h"
#include "text/tok.h"
#include "text/utf8.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- UTF-8 ---- */

TEST(utf8_valid_accepts_well_formed)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid("abc", 3));
    CHECK(utf8_valid("a\0b", 3)); /* NUL allowed */
    CHECK(utf8_valid("账户", 6));
    CHECK(utf8_valid("\xc2\x80", 2));         /* U+0080, smallest 2-byte */
    CHECK(utf8_valid("\xe0\xa0\x80", 3));     /* U+0800 */
    CHECK(utf8_valid("\xed\x9f\xbf", 3));     /* U+D7FF, just below surrogates */
    CHECK(utf8_valid("\xee\x80\x80", 3));     /* U+E000 */
    CHECK(utf8_valid("\xf0\x90\x80\x80", 4)); /* U+10000 */
    CHECK(utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    CHECK(utf8_valid("\xf0\xa0\x80\x80", 4)); /* 𠀀 Ext B */
}

TEST(utf8_valid_rejects_malformed)
{
    CHECK(!utf8_valid("\xc0\x80", 2));         /* overlong NUL */
    CHECK(!utf8_valid("\xc1\xbf", 2));         /* overlong */
    CHECK(!utf8_valid("\xe0\x80\xaf", 3));     /* overlong '/' */
    CHECK(!utf8_valid("\xf0\x80\x80\xaf", 4)); /* overlong '/' */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));     /* U+D800 surrogate */
    CHECK(!utf8_valid("\xed\xbf\xbf", 3));     /* U+DFFF surrogate */
    CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* U+110000 */
    CHECK(!utf8_valid("\xf5\x80\x80\x80", 4));
    CHECK(!utf8_valid("\xff", 1));
    CHECK(!utf8_valid("\x80", 1));         /* lone continuation */
    CHECK(!utf8_valid("\xe8\xb4", 2));     /* truncated 账 */
    CHECK(!utf8_valid("abc\xe8", 4));      /* truncated at end */
    CHECK(!utf8_valid("\xe8\x41\xa6", 3)); /* bad continuation */
    CHECK(!utf8_valid("\xf0\x9f\x98", 3)); /* truncated 4-byte */
}

TEST(utf8_decode_encode_roundtrip)
{
    uint32_t cp = 0;
    char out[4];
    CHECK_INT(utf8_decode("\xe8\xb4\xa6", 3, &cp), 3);
    CHECK_INT(cp, 0x8D26);
    CHECK_INT(utf8_decode("\xe8\xb4", 2, &cp), 1); /* truncated */
    CHECK_INT(cp, 0xFFFD);
    CHECK_INT(utf8_decode("\xed\xa0\x80", 3, &cp), 1); /* surrogate */
    CHECK_INT(cp, 0xFFFD);
    CHECK_INT(utf8_decode("\xc0\xaf", 2, &cp), 1); /* overlong */
    CHECK_INT(cp, 0xFFFD);
    CHECK_INT(utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    CHECK_INT(cp, 0x1F600);
    CHECK_INT(utf8_encode(0x1F600, out), 4);
    CHECK(memcmp(out, "\xf0\x9f\x98\x80", 4) == 0);
    CHECK_INT(utf8_encode(0x8D26, out), 3);
    CHECK(memcmp(out, "账", 3) == 0);
    CHECK_INT(utf8_encode('a', out), 1);
    CHECK_INT(utf8_encode(0xD800, out), 3); /* not encodable → U+FFFD */
    CHECK(memcmp(out, "\xef\xbf\xbd", 3) == 0);
    /* every valid code point survives encode → decode */
    for (uint32_t c = 0; c <= 0x10FFFF; c += 0x101) {
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        size_t n = utf8_encode(c, out);
        CHECK(utf8_valid(out, n));
        CHECK_INT(utf8_decode(out, n, &cp), n);
        CHECK_INT(cp, c);
    }
}

TEST(utf8_count_prefix_cjk)
{
    const char *s = "a账户b";
    CHECK_INT(utf8_count(s, strlen(s)), 4);
    CHECK_INT(utf8_prefix(s, strlen(s), 0), 0);
    CHECK_INT(utf8_prefix(s, strlen(s), 2), 4);
    CHECK_INT(utf8_prefix(s, strlen(s), 99), strlen(s));
    CHECK_INT(utf8_prefix("账", 2, 1), 1); /* truncated input: never reads past n */
    CHECK(utf8_is_cjk(0x8D26));
    CHECK(utf8_is_cjk(0x3400));
    CHECK(utf8_is_cjk(0x20000));
    CHECK(utf8_is_cjk(0xF900));
    CHECK(!utf8_is_cjk('a'));
    CHECK(!utf8_is_cjk(0x3002)); /* 。 */
    CHECK(!utf8_is_cjk(0xFF01));
}

/* ---- folding ---- */

static char *fold(const char *s)
{
    struct buf b = BUF_INIT;
    CHECK_INT(norm_fold(s, strlen(s), &b), RC_OK);
    return buf_detach(&b, NULL);
}

static char *match(const char *s)
{
    struct buf b = BUF_INIT;
    CHECK_INT(norm_for_match(s, strlen(s), &b), RC_OK);
    return buf_detach(&b, NULL);
}

#define CHECK_FOLD(in, want)                                                                       \
    do {                                                                                           \
        char *f_ = fold(in);                                                                       \
        CHECK_STR(f_, want);                                                                       \
        free(f_);                                                                                  \
    } while (0)

TEST(norm_fold_width_case_variants)
{
    CHECK_INT(norm_init(), RC_OK);
    CHECK_FOLD("ＡＢＣ１２３", "abc123");
    CHECK_FOLD("Hello WORLD", "hello world");
    CHECK_FOLD("帳戶", "账户");
    CHECK_FOLD("帐户", "账户");
    CHECK_FOLD("賬戶", "账户");
    CHECK_FOLD("銀行", "银行");
    CHECK_FOLD("貸款利率說明", "贷款利率说明");
    CHECK_FOLD("滙豐", "汇丰");
    CHECK_FOLD("㈠", "(一)");
    CHECK_FOLD("①", "1");
    CHECK_FOLD("ﬁ", "fi");
    CHECK_FOLD("，：；！？（）", ",:;!?()");
    CHECK_FOLD("\xe3\x80\x80", " ");        /* ideographic space */
    CHECK_FOLD("账\xe2\x80\x8b户", "账户"); /* zero-width space dropped */
    CHECK_FOLD("\xef\xbb\xbf"
               "a",
               "a"); /* BOM dropped */
    CHECK_FOLD("a\x01"
               "b\n",
               "ab\n");                                 /* controls dropped, newline kept */
    CHECK_FOLD("\xf0\x9d\x90\x80", "a");                /* math bold A (outside the BMP) */
    CHECK_FOLD("\xe8\xb4", "\xef\xbf\xbd\xef\xbf\xbd"); /* each bad byte → U+FFFD */
    CHECK_FOLD("已经简体的文本", "已经简体的文本");     /* simplified is left alone */
}

TEST(norm_fold_cp_counts)
{
    uint32_t out[8];
    CHECK_INT(norm_fold_cp('A', out), 1);
    CHECK_INT(out[0], 'a');
    CHECK_INT(norm_fold_cp(0x3220, out), 3); /* ㈠ */
    CHECK_INT(out[1], 0x4E00);
    CHECK_INT(norm_fold_cp(0x200B, out), 0);
    CHECK_INT(norm_fold_cp(0xD800, out), 0);
    CHECK_INT(norm_fold_cp(0x110000, out), 0);
    CHECK_INT(norm_fold_cp(0xFDFA, out), 8); /* an 18-char ligature, capped at 8 */
    CHECK_INT(norm_fold_cp(0xF900, out), 1); /* compatibility 豈 → URO 豈 → t2s 岂 */
    CHECK_INT(out[0], 0x5C82);
    CHECK(norm_init_ms() >= 0);
}

TEST(norm_for_match_drops_space_and_punct_variants)
{
    char *a = match("“开立 账户”，　请稍候。");
    char *b = match("\"开立帳戶\",请稍候.");
    CHECK_STR(a, "\"开立账户\",请稍候.");
    CHECK_STR(a, b);
    free(a);
    free(b);
    a = match("【注】——第一条、第二条");
    CHECK_STR(a, "[注]--第一条,第二条");
    free(a);
}

TEST(norm_fold_respects_cap)
{
    struct buf b;
    buf_init(&b, 4);
    CHECK_INT(norm_fold("abcdefgh", 8, &b), RC_TOO_BIG);
    CHECK(b.len <= 4);
    buf_release(&b);
}

/* ---- tokenizer ---- */

struct toks {
    struct buf b;
    const char *src; /* to check offsets: "tok@orig" */
    int with_orig;
};

static int collect(void *ctx, const char *tok, size_t n, size_t start, size_t end, unsigned tflags)
{
    struct toks *t = ctx;
    int rc = RC_OK;
    if (t->b.len && (rc = buf_addc(&t->b, ' ')) != RC_OK)
        return rc;
    if ((tflags & TOK_COLOCATED) && (rc = buf_addc(&t->b, '+')) != RC_OK)
        return rc;
    if ((rc = buf_add(&t->b, tok, n)) != RC_OK)
        return rc;
    if (t->with_orig)
        rc = buf_addf(&t->b, "@%.*s", (int)(end - start), t->src + start);
    return rc;
}

/* Tokens as "a b +c" (+ = colocated), optionally "tok@original". */
static char *toks(const char *s, unsigned flags, int with_orig)
{
    struct toks t = {BUF_INIT, s, with_orig};
    CHECK_INT(tok_run_ex(s, strlen(s), flags, collect, &t), RC_OK);
    return buf_detach(&t.b, NULL);
}

#define CHECK_TOKS(in, flags, orig, want)                                                          \
    do {                                                                                           \
        char *t_ = toks(in, flags, orig);                                                          \
        CHECK_STR(t_, want);                                                                       \
        free(t_);                                                                                  \
    } while (0)

TEST(tok_bigrams_and_words)
{
    CHECK_TOKS("开立基本存款账户", TOK_BIGRAMS, 0, "开立 立基 基本 本存 存款 款账 账户");
    /* ICU splits this sentence into 2-char words only: nothing to add. */
    CHECK_TOKS("开立基本存款账户", TOK_DEFAULT, 0, "开立 立基 基本 本存 存款 款账 账户");
    CHECK_TOKS("信用卡还款日", TOK_DEFAULT, 0, "信用 +信用卡 用卡 卡还 还款 款日");
    CHECK_TOKS("信用卡还款日", TOK_WORDS, 0, "信用卡");
    CHECK_TOKS("存款账户", TOK_BIGRAMS | TOK_UNIGRAMS, 0, "存款 +存 款账 +款 账户 +账 +户");
    CHECK_TOKS("存款账户", TOK_UNIGRAMS, 0, "存 款 账 户");
    CHECK_TOKS("ATM机每日 第5条", TOK_BIGRAMS | TOK_EDGES, 0, "atm 机每 +机 每日 +日 第 5 条");
    CHECK_TOKS("存款账户", TOK_BIGRAMS | TOK_EDGES | TOK_UNIGRAMS, 0,
               "存款 +存 款账 +款 账户 +账 +户");
    CHECK_TOKS("我", TOK_DEFAULT, 0, "我");
    CHECK_TOKS("我", TOK_DEFAULT | TOK_UNIGRAMS, 0, "我"); /* a lone char only once */
    CHECK_TOKS("", TOK_DEFAULT, 0, "");
    CHECK_TOKS("，。！ ", TOK_DEFAULT, 0, "");
    CHECK_TOKS("存款", 0, 0, "存款"); /* no flags = TOK_DEFAULT */
}

TEST(tok_mixed_ascii_numbers)
{
    CHECK_TOKS("ATM机每日限额5000元", TOK_BIGRAMS, 0, "atm 机每 每日 日限 限额 5000 元");
    CHECK_TOKS("ABC123 v1.2 利率3.5%", TOK_BIGRAMS, 0, "abc123 v1.2 利率 3.5");
    CHECK_TOKS("金额50,000元，1，2", TOK_BIGRAMS, 0, "金额 50000 元 1 2");
    CHECK_TOKS("3. 下一条", TOK_BIGRAMS, 0, "3 下一 一条");
    CHECK_TOKS("e-mail: Foo_Bar", TOK_BIGRAMS, 0, "e mail foo bar");
    CHECK_TOKS("Crème brûlée", TOK_BIGRAMS, 0, "crème brûlée");
    CHECK_TOKS("カード 번호😀abc 二〇二四年", TOK_BIGRAMS, 0,
               "カー ード 번호 abc 二〇 〇二 二四 四年");
    CHECK_TOKS("Ⅻ条№5 ㍻", TOK_BIGRAMS, 1, "xii@Ⅻ 条@条 no5@№5 平成@㍻");
}

TEST(tok_offsets_point_at_original_bytes)
{
    CHECK_TOKS("ＡＴＭ機帳戶", TOK_BIGRAMS, 1, "atm@ＡＴＭ 机账@機帳 账户@帳戶");
    CHECK_TOKS("開立帳戶　５０００元", TOK_BIGRAMS, 1,
               "开立@開立 立账@立帳 账户@帳戶 5000@５０００ 元@元");
    CHECK_TOKS("信用卡還款", TOK_DEFAULT, 1,
               "信用@信用 +信用卡@信用卡 用卡@用卡 卡还@卡還 还款@還款");
    CHECK_TOKS("账\xe2\x80\x8b户", TOK_BIGRAMS, 1, "账户@账\xe2\x80\x8b户");
    CHECK_TOKS("㈠办理", TOK_BIGRAMS, 1, "一@㈠ 办理@办理");
    /* invalid bytes separate tokens and are never part of a token */
    CHECK_TOKS("存款\xff账户", TOK_BIGRAMS, 1, "存款@存款 账户@账户");
    CHECK_TOKS("ab\xe8\xb4", TOK_BIGRAMS, 1, "ab@ab");
}

TEST(tok_long_runs_are_chunked_seamlessly)
{
    /* 600 CJK chars: positions and bigrams continue across internal chunks. */
    struct buf in = BUF_INIT, want = BUF_INIT;
    const char *cyc[3] = {"甲", "乙", "丙"};
    for (int i = 0; i < 600; i++)
        CHECK_INT(buf_adds(&in, cyc[i % 3]), RC_OK);
    for (int i = 0; i + 1 < 600; i++) {
        if (i)
            CHECK_INT(buf_addc(&want, ' '), RC_OK);
        CHECK_INT(buf_addf(&want, "%s%s +%s", cyc[i % 3], cyc[(i + 1) % 3], cyc[i % 3]), RC_OK);
    }
    CHECK_INT(buf_addf(&want, " +%s", cyc[599 % 3]), RC_OK);
    char *got = toks(in.p, TOK_BIGRAMS | TOK_UNIGRAMS, 0);
    CHECK_STR(got, want.p);
    free(got);
    /* a 200-letter word is cut into 64-byte tokens */
    buf_reset(&in);
    for (int i = 0; i < 200; i++)
        CHECK_INT(buf_addc(&in, 'x'), RC_OK);
    got = toks(in.p, TOK_BIGRAMS, 0);
    CHECK_INT(strlen(got), 200 + 3); /* 64+64+64+8 letters, 3 spaces */
    free(got);
    buf_release(&in);
    buf_release(&want);
}

static int stop_after_two(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    int *count = ctx;
    (void)tok;
    (void)n;
    (void)start;
    (void)end;
    return ++*count == 2 ? 42 : 0;
}

TEST(tok_callback_can_stop)
{
    int count = 0;
    CHECK_INT(tok_run("基本存款账户 abc def", strlen("基本存款账户 abc def"), TOK_DEFAULT,
                      stop_after_two, &count),
              42);
    CHECK_INT(count, 2);
}

/* ---- threads ---- */

#include <pthread.h>

static const char thread_text[] =
    "信用卡还款日与账单日不同，逾期将影响个人征信记录。ATM机每日限额5000元。";

static void *tok_thread(void *arg)
{
    char **out = arg;
    char *first = toks(thread_text, TOK_DEFAULT | TOK_UNIGRAMS, 1);
    for (int i = 0; i < 20; i++) {
        char *t = toks(thread_text, TOK_DEFAULT | TOK_UNIGRAMS, 1);
        int same = strcmp(first, t) == 0;
        free(t);
        if (!same) { /* must be identical on every call */
            free(first);
            first = strdup("differs between calls");
            break;
        }
    }
    *out = first;
    return NULL;
}

TEST(tok_threads_agree)
{
    pthread_t th[4];
    char *res[4] = {NULL, NULL, NULL, NULL};
    char *want = toks(thread_text, TOK_DEFAULT | TOK_UNIGRAMS, 1);
    CHECK_CONTAINS(want, "+信用卡@信用卡");
    for (int i = 0; i < 4; i++)
        CHECK_INT(pthread_create(&th[i], NULL, tok_thread, &res[i]), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(pthread_join(th[i], NULL), 0);
        CHECK_STR(res[i], want);
        free(res[i]);
    }
    free(want);
}

/* ---- terminal-safe text (cli_safe_text): what reaches the user's screen ---- */

TEST(cli_safe_text_output_is_strict_utf8)
{
    /* Each malformed form is dropped; the valid text around it survives. */
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf0\x80\x80\xaf", /* overlong, 4 bytes */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* lead byte past U+10FFFF */
        "\xe8\xb4",         /* truncated 账 */
        "\x80",             /* stray continuation */
        "\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char in[32];
        snprintf(in, sizeof in, "账%s户", bad[i]);
        struct buf out = BUF_INIT;
        cli_safe_text(&out, in, 0, 0);
        CHECK(utf8_valid(out.p ? out.p : "", out.len));
        if (strcmp(buf_str(&out), "账户") != 0)
            test_fail(__FILE__, __LINE__, "case %zu: got \"%s\"", i, buf_str(&out));
        buf_release(&out);
    }
    /* Valid text, C1 controls and escapes; a cut counts code points. */
    struct buf out = BUF_INIT;
    cli_safe_text(&out,
                  "a\x1b[31m\xc2\x9b"
                  "2J\xf0\xa0\x80\x80\xef\xbf\xbd",
                  0, 0);
    CHECK_STR(buf_str(&out), "a[31m2J\xf0\xa0\x80\x80\xef\xbf\xbd");
    buf_reset(&out);
    cli_safe_text(&out, "账户余额\xed\xa0\x80查询", 3, 0);
    CHECK_STR(buf_str(&out), "账户余…");
    buf_release(&out);
    /* Highlights go through the same check. */
    struct buf hl = BUF_INIT;
    cli_render_highlight(&hl, "<em>账\xed\xa0\x80户</em>", 0, 0);
    CHECK_STR(buf_str(&hl), "账户");
    buf_release(&hl);
}
