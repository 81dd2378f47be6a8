/* Tests for src/text/pii.c: ID-card check digits and birth dates, Luhn,
 * phones with and without +86, e-mails, boundaries (no hit inside longer
 * digit runs, order numbers, amounts), full-width digits, mask/unmask round
 * trips, stable placeholders, and the streaming unmasker at every split. */
#include "test.h"

#include "common/buf.h"
#include "common/rc.h"
#include "text/pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "kind:text|kind:text" of the hits in s, for compact expectations. */
static char *hits_str(const char *s)
{
    struct pii_hit h[32];
    struct buf b = BUF_INIT;
    size_t n = pii_find(s, strlen(s), h, 32);
    for (size_t i = 0; i < n && i < 32; i++)
        buf_addf(&b, "%s%s:%.*s", i ? "|" : "", pii_kind_name(h[i].kind), (int)h[i].len,
                 s + h[i].off);
    return buf_detach(&b, NULL);
}

#define CHECK_HITS(s, want)                                                                        \
    do {                                                                                           \
        char *got_ = hits_str(s);                                                                  \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

TEST(pii_idcard_check_digit)
{
    CHECK(pii_idcard_valid("11010519491231002X"));
    CHECK(pii_idcard_valid("11010519491231002x"));
    CHECK(pii_idcard_valid("440301199003071230"));
    CHECK(pii_idcard_valid("320106200002291230"));  /* 2000-02-29: a leap day */
    CHECK(!pii_idcard_valid("440301199003071231")); /* wrong check digit */
    CHECK(!pii_idcard_valid("110105194912310021")); /* X expected */
    CHECK(!pii_idcard_valid("110101202102291236")); /* 2021-02-29 does not exist */
    CHECK(!pii_idcard_valid("11010118991301001X")); /* month 13 */
    CHECK(!pii_idcard_valid("1101051949123100XX"));

    CHECK_HITS("身份证号11010519491231002X，请核实", "idcard:11010519491231002X");
    CHECK_HITS("id 440301199003071230.", "idcard:440301199003071230");
    CHECK_HITS("号码 440301199003071231 错", ""); /* bad check digit, not Luhn either */
    CHECK_HITS("分组 440301 19900307 1230 。", "idcard:440301 19900307 1230");
    /* full-width digits are read in place; the hit is the original bytes */
    CHECK_HITS("证件：４４０３０１１９９００３０７１２３０",
               "idcard:４４０３０１１９９００３０７１２３０");
}

TEST(pii_luhn_cards)
{
    CHECK(pii_luhn_valid("6222021234567894", 16));
    CHECK(!pii_luhn_valid("6222021234567895", 16));
    CHECK(pii_luhn_valid("4111111111111111", 16));
    CHECK(!pii_luhn_valid("12a4", 4));

    CHECK_HITS("卡号6222021234567894。", "bankcard:6222021234567894");
    CHECK_HITS("卡号 6222 0212 3456 7894 尾号", "bankcard:6222 0212 3456 7894");
    CHECK_HITS("卡号6222-0212-3456-7894", "bankcard:6222-0212-3456-7894");
    CHECK_HITS("19位 6225880123456789017 结束", "bankcard:6225880123456789017");
    CHECK_HITS("19位 6225 8801 2345 6789 017 结束", "bankcard:6225 8801 2345 6789 017");
    CHECK_HITS("卡号6222021234567895", "");               /* Luhn fails */
    CHECK_HITS("6222 0212-3456 7894", "");                /* mixed separators */
    CHECK_HITS("编号 6222 0212 3456 7894 0000 1111", ""); /* a longer grouped number */
    /* 18 digits that are not an ID (year 0123) but pass Luhn: a card */
    CHECK_HITS("卡621483012345678902", "bankcard:621483012345678902");
}

TEST(pii_phones)
{
    CHECK_HITS("手机13812345678", "phone:13812345678");
    CHECK_HITS("call +8613812345678 now", "phone:+8613812345678");
    CHECK_HITS("call +86 138 1234 5678 now", "phone:+86 138 1234 5678");
    CHECK_HITS("tel 86-138-1234-5678", "phone:86-138-1234-5678");
    CHECK_HITS("电话8613812345678", "phone:8613812345678");
    CHECK_HITS("手机：１３８１２３４５６７８。", "phone:１３８１２３４５６７８");
    CHECK_HITS("12812345678", "");   /* second digit must be 3-9 */
    CHECK_HITS("138 12345678", "");  /* not 3-4-4 */
    CHECK_HITS("138-1234 5678", ""); /* mixed separators */
    CHECK_HITS("13812345678 13912345678", "phone:13812345678|phone:13912345678");
}

TEST(pii_emails)
{
    CHECK_HITS("邮箱zhang.san@bank.com.cn，谢谢", "email:zhang.san@bank.com.cn");
    CHECK_HITS("mail: a_b+tag@x-y.example.org.", "email:a_b+tag@x-y.example.org");
    CHECK_HITS("13812345678@163.com", "email:13812345678@163.com");
    CHECK_HITS("...lead@dots.io", "email:lead@dots.io");
    CHECK_HITS("not@mail", "");
    CHECK_HITS("bad@x.c0m", "");
    CHECK_HITS("@bank.com", "");
}

TEST(pii_no_false_positives)
{
    /* a 20-digit number is not a card, nor holds one */
    CHECK_HITS("流水号20231105123456789012", "");
    CHECK_HITS("订单号 ORD6222021234567894", ""); /* letters glued on */
    CHECK_HITS("订单 6222021234567894A", "");
    CHECK_HITS("金额1234567890123元", ""); /* 13 digits */
    CHECK_HITS("金额 1,234,567.89 元", "");
    CHECK_HITS("138123456789", ""); /* 12 digits */
    CHECK_HITS("x13812345678", "");
    CHECK_HITS("4403011990030712301", ""); /* ID + a digit, not Luhn */
    CHECK_HITS("日期 2023-11-05 10:30", "");
    /* ID preferred over a card when both checks pass */
    struct pii_hit h;
    CHECK_INT(pii_find("440301199003071230", 18, &h, 1), 1);
    CHECK_INT(h.kind, PII_IDCARD);
    size_t counts[PII_NKINDS];
    const char *t = "13812345678, 13812345678, a@b.cn 6222021234567894 11010519491231002X";
    pii_count(t, strlen(t), counts);
    CHECK_INT(counts[PII_PHONE], 2);
    CHECK_INT(counts[PII_EMAIL], 1);
    CHECK_INT(counts[PII_BANKCARD], 1);
    CHECK_INT(counts[PII_IDCARD], 1);
    /* bad UTF-8 only separates */
    CHECK_HITS("\xff"
               "13812345678\xc3",
               "phone:13812345678");
}

TEST(pii_mask_unmask)
{
    const char *in = "我是张三，身份证11010519491231002X，手机13812345678，卡号6222 0212 3456 "
                     "7894，邮箱zs@bank.cn；再说一次手机13812345678，另一个+86 139 1234 5678。";
    struct pii_map *m = pii_map_new();
    struct buf out = BUF_INIT, back = BUF_INIT;

    CHECK_INT(pii_mask(m, in, strlen(in), &out), RC_OK);
    CHECK_STR(buf_str(&out),
              "我是张三，身份证[身份证1]，手机[手机号1]，卡号[银行卡1]，邮箱[邮箱1]；"
              "再说一次手机[手机号1]，另一个[手机号2]。");
    CHECK(!strstr(buf_str(&out), "13812345678"));
    CHECK_INT(pii_map_size(m), 5);
    CHECK_INT(pii_map_kind_size(m, PII_PHONE), 2);
    CHECK_INT(pii_unmask(m, out.p, out.len, &back), RC_OK);
    CHECK_STR(buf_str(&back), in);

    /* a later text of the same conversation keeps the numbers */
    buf_reset(&out);
    const char *t2 = "还是13812345678和 zs@bank.cn 以及13700001111";
    CHECK_INT(pii_mask(m, t2, strlen(t2), &out), RC_OK);
    CHECK_STR(buf_str(&out), "还是[手机号1]和 [邮箱1] 以及[手机号3]");

    /* the model's answer: known placeholders restored, made-up ones kept */
    const char *ans = "已为[手机号1]办理，[手机号9]不存在，[邮箱1]已通知；[银行卡1] [身份证]";
    buf_reset(&back);
    CHECK_INT(pii_unmask(m, ans, strlen(ans), &back), RC_OK);
    CHECK_STR(buf_str(&back), "已为13812345678办理，[手机号9]不存在，zs@bank.cn已通知；6222 0212 "
                              "3456 7894 [身份证]");
    pii_map_free(m);
    buf_release(&out);
    buf_release(&back);
}

TEST(pii_literal_placeholders_round_trip)
{
    /* placeholder-shaped text in the input must not be confused with ours */
    const char *in = "[手机号1] 是模板，真实号码13812345678，[手机号01] [邮箱2]x@y.cn";
    struct pii_map *m = pii_map_new();
    struct buf out = BUF_INIT, back = BUF_INIT;
    CHECK_INT(pii_mask(m, in, strlen(in), &out), RC_OK);
    CHECK_STR(buf_str(&out), "[手机号1] 是模板，真实号码[手机号2]，[手机号01] [邮箱2][邮箱1]");
    CHECK_INT(pii_unmask(m, out.p, out.len, &back), RC_OK);
    CHECK_STR(buf_str(&back), in);
    pii_map_free(m);
    buf_release(&out);
    buf_release(&back);
}

TEST(pii_stream_unmask_every_split)
{
    const char *in = "客户13812345678（卡6222021234567894）邮箱a@b.cn，[手机号 [手机号9] [邮箱";
    struct pii_map *m = pii_map_new();
    struct buf masked = BUF_INIT, whole = BUF_INIT;
    CHECK_INT(pii_mask(m, in, strlen(in), &masked), RC_OK);
    CHECK_INT(pii_unmask(m, masked.p, masked.len, &whole), RC_OK);
    CHECK_STR(buf_str(&whole), in);
    /* every single split point, and every pair of split points */
    int bad = 0;
    for (size_t i = 0; i <= masked.len && !bad; i++) {
        for (size_t j = i; j <= masked.len && !bad; j++) {
            struct pii_unmasker u;
            struct buf got = BUF_INIT;
            pii_unmasker_init(&u, m);
            if (pii_unmasker_feed(&u, masked.p, i, &got) != RC_OK ||
                pii_unmasker_feed(&u, masked.p + i, j - i, &got) != RC_OK ||
                pii_unmasker_feed(&u, masked.p + j, masked.len - j, &got) != RC_OK ||
                pii_unmasker_finish(&u, &got) != RC_OK || strcmp(buf_str(&got), in) != 0) {
                test_fail(__FILE__, __LINE__, "split at %zu,%zu: %s", i, j, buf_str(&got));
                bad = 1;
            }
            buf_release(&got);
        }
    }
    /* one byte at a time, and the hold never exceeds a placeholder */
    struct pii_unmasker u;
    struct buf got = BUF_INIT;
    pii_unmasker_init(&u, m);
    for (size_t i = 0; i < masked.len; i++) {
        CHECK_INT(pii_unmasker_feed(&u, masked.p + i, 1, &got), RC_OK);
        CHECK(u.nhold < 20);
    }
    /* a held "[手机号" is output as soon as the next byte decides */
    CHECK_INT(pii_unmasker_finish(&u, &got), RC_OK);
    CHECK_STR(buf_str(&got), in);
    buf_reset(&got);
    CHECK_INT(pii_unmasker_feed(&u, "到[手机", strlen("到[手机"), &got), RC_OK);
    CHECK_STR(buf_str(&got), "到");
    CHECK_INT(pii_unmasker_feed(&u, "号1]。", strlen("号1]。"), &got), RC_OK);
    CHECK_STR(buf_str(&got), "到13812345678。");
    pii_map_free(m);
    buf_release(&got);
    buf_release(&masked);
    buf_release(&whole);
}
