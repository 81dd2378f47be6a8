/* Tests for text/cnum: parsing of Chinese and Arabic numerals as used in
 * legal numbering, rejection of malformed ones, canonical formatting. */
#include <string.h>

#include "test.h"
#include "text/cnum.h"

static long P(const char *s)
{
    return cnum_parse(s, strlen(s));
}

TEST(cnum_parse_common_forms)
{
    CHECK_INT(P("一"), 1);
    CHECK_INT(P("九"), 9);
    CHECK_INT(P("十"), 10);
    CHECK_INT(P("十二"), 12);
    CHECK_INT(P("二十"), 20);
    CHECK_INT(P("二十七"), 27);
    CHECK_INT(P("一百"), 100);
    CHECK_INT(P("一百零五"), 105);
    CHECK_INT(P("一百一十"), 110);
    CHECK_INT(P("一百二十三"), 123);
    CHECK_INT(P("两百"), 200);
    CHECK_INT(P("一千"), 1000);
    CHECK_INT(P("一千零五"), 1005);
    CHECK_INT(P("一千零五十"), 1050);
    CHECK_INT(P("一千二百六十"), 1260);
    CHECK_INT(P("一千二百六十"), 1260);
    CHECK_INT(P("九千九百九十九"), 9999);
    CHECK_INT(P("一万"), 10000);
    CHECK_INT(P("一万零一十"), 10010);
    CHECK_INT(P("一万二千"), 12000);
    CHECK_INT(P("九万九千九百九十九"), 99999);
    CHECK_INT(P("〇"), 0);
    CHECK_INT(P("零"), 0);
}

TEST(cnum_parse_digits)
{
    CHECK_INT(P("12"), 12);
    CHECK_INT(P("0"), 0);
    CHECK_INT(P("1260"), 1260);
    CHECK_INT(P("99999"), 99999);
    CHECK_INT(P("１２"), 12);    /* full-width */
    CHECK_INT(P("一〇五"), 105); /* positional, as in years */
    CHECK_INT(P("二〇二三"), 2023);
}

TEST(cnum_parse_rejects)
{
    CHECK_INT(cnum_parse("", 0), -1);
    CHECK_INT(cnum_parse(NULL, 3), -1);
    CHECK_INT(P("第"), -1);
    CHECK_INT(P("条"), -1);
    CHECK_INT(P("十十"), -1);
    CHECK_INT(P("abc"), -1);
    CHECK_INT(P("12a"), -1);
    CHECK_INT(P("1十"), -1);
    CHECK_INT(P("百"), -1);
    CHECK_INT(P("一百二"), -1); /* ambiguous shorthand */
    CHECK_INT(P("一万二"), -1); /* ambiguous shorthand */
    CHECK_INT(P("一百零"), -1); /* trailing zero */
    CHECK_INT(P("零五"), -1);   /* leading zero with units absent is positional, but 零 first */
    CHECK_INT(P("一零零零零五"), -1); /* too many positional digits */
    CHECK_INT(P("一百零零五"), -1);
    CHECK_INT(P("一十百"), -1); /* units must decrease */
    CHECK_INT(P("二三十"), -1); /* two digits before a unit */
    CHECK_INT(P("一万一万"), -1);
    CHECK_INT(P("十万"), -1); /* beyond 99999 */
    CHECK_INT(P("123456"), -1);
    CHECK_INT(P("十二条"), -1);
    CHECK_INT(P("\xe4\xb8"), -1); /* truncated UTF-8 */
    CHECK_INT(P("\xff"), -1);
    CHECK_INT(cnum_parse("一\0", 4), -1); /* embedded NUL */
}

TEST(cnum_format_canonical)
{
    char b[64];
    CHECK_INT(cnum_format(1, b, sizeof b), strlen("一"));
    CHECK_STR(b, "一");
    cnum_format(10, b, sizeof b);
    CHECK_STR(b, "十");
    cnum_format(12, b, sizeof b);
    CHECK_STR(b, "十二");
    cnum_format(20, b, sizeof b);
    CHECK_STR(b, "二十");
    cnum_format(105, b, sizeof b);
    CHECK_STR(b, "一百零五");
    cnum_format(110, b, sizeof b);
    CHECK_STR(b, "一百一十");
    cnum_format(123, b, sizeof b);
    CHECK_STR(b, "一百二十三");
    cnum_format(1005, b, sizeof b);
    CHECK_STR(b, "一千零五");
    cnum_format(1260, b, sizeof b);
    CHECK_STR(b, "一千二百六十");
    cnum_format(10010, b, sizeof b);
    CHECK_STR(b, "一万零一十");
    cnum_format(20300, b, sizeof b);
    CHECK_STR(b, "二万零三百");
    cnum_format(99999, b, sizeof b);
    CHECK_STR(b, "九万九千九百九十九");
    CHECK_INT(cnum_format(100000, b, sizeof b), 0);
    CHECK_STR(b, "");
    CHECK_INT(cnum_format(-1, b, sizeof b), 0);
    /* "一百二十三" is 15 bytes + NUL */
    CHECK_INT(cnum_format(123, b, 15), 0);
    CHECK_STR(b, "");
    CHECK_INT(cnum_format(123, b, 16), 15);
}

TEST(cnum_round_trip_all)
{
    char b[64];
    int bad = 0;
    for (long v = 1; v <= 99999; v++) {
        size_t n = cnum_format(v, b, sizeof b);
        if (n == 0 || cnum_parse(b, n) != v) {
            if (bad++ < 5)
                test_fail(__FILE__, __LINE__, "round trip of %ld: \"%s\" -> %ld", v, b,
                          cnum_parse(b, n));
        }
    }
    CHECK_INT(bad, 0);
}
