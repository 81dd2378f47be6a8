/* Tests for src/agents/calc.c: exactness, big sums, rounding modes,
 * full-width input, errors with positions, and the limits. */
#include "test.h"

#include "agents/calc.h"
#include "common/buf.h"
#include "common/rc.h"

#include <stdlib.h>
#include <string.h>

/* Evaluates and returns the result (static buffer) or "ERR:<rc>". */
static const char *ev(const char *expr, int scale)
{
    static char res[4096];
    char *out = NULL;
    struct buf err = BUF_INIT;
    int rc = calc_eval(expr, scale, &out, NULL, &err);
    if (rc == RC_OK)
        (void)snprintf(res, sizeof res, "%s", out);
    else
        (void)snprintf(res, sizeof res, "ERR:%d", rc);
    free(out);
    buf_release(&err);
    return res;
}

TEST(calc_exact_decimals)
{
    CHECK_STR(ev("0.1+0.2", -1), "0.3");
    CHECK_STR(ev("0.1+0.2-0.3", -1), "0");
    CHECK_STR(ev("1.10*3", -1), "3.3");
    CHECK_STR(ev("1/8", -1), "0.125");
    CHECK_STR(ev("1/3", -1), "0.3333333333");
    CHECK_STR(ev("2/3", 4), "0.6667");
    CHECK_STR(ev("-7/2", -1), "-3.5");
    CHECK_STR(ev("10-20", -1), "-10");
    CHECK_STR(ev("-0", -1), "0");
    CHECK_STR(ev(".5+1", -1), "1.5");
    CHECK_STR(ev("2*(3+4)*5", -1), "70");
    CHECK_STR(ev("1-2-3", -1), "-4");
    CHECK_STR(ev("100/10/5", -1), "2");
    CHECK_STR(ev("1/3*3", -1), "1"); /* 30 places, then the 10-place display */
}

TEST(calc_interest_and_percent)
{
    CHECK_STR(ev("1000000*3.45%*90/360", 2), "8625.00");
    CHECK_STR(ev("3.45%", -1), "0.0345");
    CHECK_STR(ev("50 %", -1), "0.5");
    /* a big sum: 123456789012345678901234567890.12 * 1.5% */
    CHECK_STR(ev("123456789012345678901234567890.12*1.5%", -1),
              "1851851835185185183518518518.3518");
    CHECK_STR(ev("99999999999999999999*99999999999999999999", -1),
              "9999999999999999999800000000000000000001");
    CHECK_STR(ev("1000000*(1+3.5%/12)^12", 2), "1035566.95");
    CHECK_STR(ev("2^10", -1), "1024");
    CHECK_STR(ev("2^-2", -1), "0.25");
    CHECK_STR(ev("-2^2", -1), "-4");
    CHECK_STR(ev("(-2)^3", -1), "-8");
    CHECK_STR(ev("2^3^2", -1), "512");
    CHECK_STR(ev("0^0", -1), "1");
    CHECK_STR(ev("1.1^2", -1), "1.21");
}

TEST(calc_rounding_modes)
{
    CHECK_STR(ev("round(2.345, 2)", -1), "2.35");
    CHECK_STR(ev("round(-2.345, 2)", -1), "-2.35");
    CHECK_STR(ev("round_even(2.345, 2)", -1), "2.34");
    CHECK_STR(ev("round_even(2.355, 2)", -1), "2.36");
    CHECK_STR(ev("round_even(2.3451, 2)", -1), "2.35");
    CHECK_STR(ev("round(2.5)", -1), "3");
    CHECK_STR(ev("round_even(2.5)", -1), "2");
    CHECK_STR(ev("floor(-1.21, 1)", -1), "-1.3");
    CHECK_STR(ev("ceil(-1.29, 1)", -1), "-1.2");
    CHECK_STR(ev("floor(1.29, 1)", -1), "1.2");
    CHECK_STR(ev("ceil(1.21, 1)", -1), "1.3");
    CHECK_STR(ev("trunc(-1.29, 1)", -1), "-1.2");
    CHECK_STR(ev("round(0.999, 2)", -1), "1");
    CHECK_STR(ev("min(3, 1.5, 2)", -1), "1.5");
    CHECK_STR(ev("max(-3, -1.5, -2)", -1), "-1.5");
    CHECK_STR(ev("abs(-12.5)", -1), "12.5");
    CHECK_STR(ev("2.345", 2), "2.35");
    CHECK_STR(ev("-2.345", 2), "-2.35");
    CHECK_STR(ev("1", 3), "1.000");
    CHECK_STR(ev("0.0001", 2), "0.00");
    CHECK_STR(ev("-0.001", 2), "0.00");
}

TEST(calc_fullwidth)
{
    CHECK_STR(ev("１２３＋４", -1), "127");
    CHECK_STR(ev("（１＋２）×３÷２", -1), "4.5");
    CHECK_STR(ev("ROUND(1.005，2)", -1), "1.01");
    CHECK_STR(ev("３．４５％", -1), "0.0345");
}

TEST(calc_errors)
{
    struct buf err = BUF_INIT;
    char *out = NULL;
    CHECK_INT(calc_eval("1/0", -1, &out, NULL, &err), RC_INVALID);
    CHECK(out == NULL);
    CHECK_CONTAINS(buf_str(&err), "division by zero");
    CHECK_CONTAINS(buf_str(&err), "除数为零");
    buf_reset(&err);
    CHECK_INT(calc_eval("1+*2", -1, &out, NULL, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "at character 3");
    buf_reset(&err);
    CHECK_INT(calc_eval("(1+2", -1, &out, NULL, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "')'");
    buf_reset(&err);
    CHECK_INT(calc_eval("1,000+1", -1, &out, NULL, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "thousands");
    buf_reset(&err);
    CHECK_INT(calc_eval("max(1,000)", -1, &out, NULL, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "thousands");
    buf_reset(&err);
    CHECK_INT(calc_eval("sqrt(2)", -1, &out, NULL, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "unknown function sqrt");
    buf_reset(&err);
    CHECK_INT(calc_eval("1e5", -1, &out, NULL, &err), RC_INVALID);
    buf_release(&err);
    CHECK_STR(ev("", -1), "ERR:1");
    CHECK_STR(ev("   ", -1), "ERR:1");
    CHECK_STR(ev("1.2.3", -1), "ERR:1");
    CHECK_STR(ev("2^0.5", -1), "ERR:1");
    CHECK_STR(ev("0^-1", -1), "ERR:1");
    CHECK_STR(ev("round(1, 2, 3)", -1), "ERR:1");
    CHECK_STR(ev("round(1, -1)", -1), "ERR:1");
    CHECK_STR(ev("1 2", -1), "ERR:1");
    CHECK_STR(ev("1$", -1), "ERR:1");
    CHECK_STR(ev("max(1, 2)", -1), "2");
}

TEST(calc_limits)
{
    /* input length */
    char *big = malloc(2000);
    memset(big, '1', 1999);
    big[1999] = '\0';
    CHECK_STR(ev(big, -1), "ERR:4");
    /* digits */
    memset(big, '9', 1001);
    big[1001] = '\0';
    CHECK_STR(ev(big, -1), "ERR:4");
    free(big);
    CHECK_STR(ev("9^10000", -1), "ERR:4");
    CHECK_STR(ev("10^999", -1)[0] == '1' ? "ok" : "bad", "ok");
    CHECK_STR(ev("10^1000", -1), "ERR:4");
    CHECK_STR(ev("2^100000", -1), "ERR:1");
    CHECK_STR(ev("0.1^1001", -1), "ERR:4");
    /* a result below 1 with 1000 places parses again: the zero before the
     * point is not one of its digits (found by fuzz_calc) */
    char *small = strdup(ev("0.1^1000", -1));
    CHECK_INT((int)strlen(small), 1002);
    CHECK_STR(ev(small, -1), small);
    free(small);
    CHECK_STR(ev("0000000.5", -1), "0.5");
    CHECK_STR(ev("0", -1), "0");
    CHECK_STR(ev("00", -1), "0");
    CHECK_STR(ev("1^10000", -1), "1");
    /* nesting */
    char deep[300];
    memset(deep, '(', 150);
    deep[150] = '1';
    memset(deep + 151, ')', 148);
    deep[299] = '\0';
    CHECK_STR(ev(deep, -1), "ERR:4");
    memset(deep, '-', 200);
    deep[200] = '1';
    deep[201] = '\0';
    CHECK_STR(ev(deep, -1), "ERR:4");
    /* repeated squaring of a big number stops at the digit limit quickly */
    CHECK_STR(ev("((((123456789^8)^8)^8)^8)", -1), "ERR:4");
}

TEST(calc_tool_json)
{
    json_t *args = json_pack("{ss si}", "expression", "1000000*3.45%*90/360", "scale", 2),
           *out = NULL;
    struct buf err = BUF_INIT;
    CHECK_INT(calc_tool(args, &out, &err), RC_OK);
    CHECK_STR(json_string_value(json_object_get(out, "result")), "8625.00");
    CHECK_STR(json_string_value(json_object_get(out, "expression")), "1000000*3.45%*90/360");
    CHECK(json_is_true(json_object_get(out, "exact")));
    json_decref(out);
    json_decref(args);
    args = json_pack("{ss}", "expression", "1/3");
    CHECK_INT(calc_tool(args, &out, &err), RC_OK);
    CHECK(json_is_false(json_object_get(out, "exact")));
    json_decref(out);
    json_decref(args);
    args = json_pack("{si}", "expression", 5);
    CHECK_INT(calc_tool(args, &out, &err), RC_INVALID);
    CHECK(out == NULL);
    json_decref(args);
    buf_release(&err);
}
