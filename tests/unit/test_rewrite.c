/* Tests for src/assist/rewrite.c: a table of banking follow-ups with the key
 * terms their rewrite must (and must not) carry, questions that are not
 * follow-ups left alone, and the model path with a stub chat function:
 * success, cleaned output, garbage (an answer, too long, several lines or
 * sentences, empty) and errors falling back to the rules. */
#include "test.h"

#include "assist/rewrite.h"
#include "common/rc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fu_case {
    const char *prev; /* the previous standalone question */
    const char *q;    /* the follow-up */
    const char *want[4];
    const char *not_want; /* a term that must be gone (the contrasted one) */
};

static const struct fu_case fu_cases[] = {
    {"个人账户开户需要什么材料", "那单位户呢？", {"单位户", "开户", "材料"}, "个人账户"},
    {"个人账户开户需要什么材料", "销户呢", {"个人账户", "销户", "材料"}, "开户"},
    {"借记卡挂失怎么办理", "那信用卡呢", {"信用卡", "挂失"}, "借记卡"},
    {"银行汇票的提示付款期限是多久",
     "那商业汇票呢？",
     {"商业汇票", "提示付款", "期限"},
     "银行汇票"},
    {"转账支票的有效期是多久", "现金支票呢", {"现金支票", "有效期"}, "转账支票"},
    {"大额取现需要提前预约吗", "需要带什么材料", {"大额取现", "材料"}, NULL},
    {"个人外币现钞存款的规定", "那对公的呢", {"对公", "外币", "存款"}, "个人"},
    {"人民币单位账户销户流程", "外币呢", {"外币", "单位账户", "销户"}, "人民币"},
    {"对私客户办理大额取现的限额", "对公呢？", {"对公", "大额取现", "限额"}, "对私"},
    {"手机银行转账限额是多少", "那网银呢", {"网银", "转账", "限额"}, "手机银行"},
    {"单位基本存款账户开户需要哪些材料",
     "一般存款账户呢",
     {"一般存款账户", "开户", "单位"},
     "基本存款账户"},
    {"代理人代办挂失需要什么证件", "本人呢", {"本人", "挂失", "证件"}, "代理人"},
    {"白金信用卡怎么申请", "它的年费是多少", {"白金信用卡", "年费"}, NULL},
    {"个人活期存款利率是多少", "定期的呢", {"定期", "存款", "利率"}, "活期"},
    {"境外人士开立个人账户需要什么证件",
     "那港澳台居民呢",
     {"港澳台居民", "个人账户", "证件"},
     "境外人士"},
    {"一类户转账有限额吗", "二类户呢", {"二类户", "转账", "限额"}, "一类户"},
    {"ATM取款每日限额是多少", "柜面呢", {"柜面", "取款", "限额"}, "ATM"},
    {"汇票丢失了怎么挂失", "如果是支票呢", {"支票", "挂失"}, "汇票"},
    {"单位户销户需要什么材料", "还需要什么", {"单位户", "销户"}, NULL},
    {"外币汇款怎么办理", "这个要多久", {"外币", "汇款", "多久"}, "这个"},
    {"对公账户开户需要什么材料", "那对私呢", {"对私", "开户", "材料"}, "对公"},
    {"支票挂失流程", "那解挂呢", {"支票", "解挂"}, NULL},
};

TEST(rewrite_rules_followups)
{
    for (size_t i = 0; i < sizeof fu_cases / sizeof fu_cases[0]; i++) {
        const struct fu_case *c = &fu_cases[i];
        struct rw_turn h[2] = {{"无关的早先问题", "……"}, {c->prev, "答案"}};
        CHECK(rw_is_followup(c->q));
        char *out = NULL;
        enum rw_how how = rw_rules(c->q, h, 2, &out);
        CHECK_INT(how, RW_RULES);
        for (size_t k = 0; k < 4 && c->want[k]; k++)
            CHECK_CONTAINS(out, c->want[k]);
        if (c->not_want && out && strstr(out, c->not_want))
            test_fail(__FILE__, __LINE__, "case %zu: \"%s\" still contains \"%s\"", i, out,
                      c->not_want);
        CHECK(out && strchr(out, '\n') == NULL);
        free(out);
    }
}

TEST(rewrite_rules_exact)
{
    /* the substitution keeps the previous question's shape */
    struct rw_turn h[1] = {{"个人账户开户需要什么材料", NULL}};
    char *out = NULL;
    CHECK_INT(rw_rules("那单位户呢？", h, 1, &out), RW_RULES);
    CHECK_STR(out, "单位户开户需要什么材料");
    free(out);
    CHECK_INT(rw_rules("需要多久", h, 1, &out), RW_RULES);
    CHECK_STR(out, "个人账户开户 需要多久");
    free(out);
    struct rw_turn h2[1] = {{"外币汇款怎么办理", ""}};
    CHECK_INT(rw_rules("这个要多久？", h2, 1, &out), RW_RULES);
    CHECK_STR(out, "外币汇款要多久");
    free(out);
    /* a term of a kind the previous question lacks is added */
    CHECK_INT(rw_rules("那外币呢", h, 1, &out), RW_RULES);
    CHECK_CONTAINS(out, "个人账户开户需要什么材料");
    CHECK_CONTAINS(out, "外币");
    free(out);
}

TEST(rewrite_rules_not_followups)
{
    static const char *const qs[] = {
        "个人账户开户需要什么材料",   "银行汇票的提示付款期限是多久", "如何办理借记卡挂失",
        "单位结算账户年检有什么规定", "ATM机每日取现限额是多少",      "外币现钞存入需要申报吗",
        "应该如何办理开户",           "信用卡逾期还款会影响征信吗",
    };
    struct rw_turn h[1] = {{"大额取现需要提前预约吗", "需要提前一天"}};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        if (rw_is_followup(qs[i]))
            test_fail(__FILE__, __LINE__, "\"%s\" taken for a follow-up", qs[i]);
        char *out = NULL;
        CHECK_INT(rw_rules(qs[i], h, 1, &out), RW_UNCHANGED);
        CHECK_STR(out, qs[i]);
        free(out);
    }
    /* no history: nothing to carry */
    char *out = NULL;
    CHECK_INT(rw_rules("那单位户呢？", NULL, 0, &out), RW_UNCHANGED);
    CHECK_STR(out, "那单位户呢？");
    free(out);
    struct rw_turn empty[1] = {{"", NULL}};
    CHECK_INT(rw_rules("那单位户呢？", empty, 1, &out), RW_UNCHANGED);
    CHECK_STR(out, "那单位户呢？");
    free(out);
    /* detection on its own */
    CHECK(rw_is_followup("那么对公账户呢"));
    CHECK(rw_is_followup("要是丢了怎么办"));
    CHECK(rw_is_followup("该业务的办理时限是多久"));
    CHECK(rw_is_followup("要多久"));
    CHECK(!rw_is_followup("？？"));
    CHECK(!rw_is_followup(NULL));
    CHECK(!rw_is_followup("\xff\xfe"));
}

/* ---- the model path ---- */

struct stub {
    int rc;
    const char *reply;
    int calls;
    size_t nmsgs;
    char sys[2048];
    char user[4096];
};

static int stub_chat(void *ctx, const struct llm_msg *msgs, size_t n, struct buf *out,
                     struct buf *err)
{
    struct stub *s = ctx;
    s->calls++;
    s->nmsgs = n;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(msgs[i].role, "system") == 0)
            snprintf(s->sys, sizeof s->sys, "%s", msgs[i].content);
        if (strcmp(msgs[i].role, "user") == 0)
            snprintf(s->user, sizeof s->user, "%s", msgs[i].content);
    }
    if (s->rc) {
        buf_adds(err, "stub failure");
        return s->rc;
    }
    return buf_adds(out, s->reply);
}

static const struct rw_turn hist[] = {
    {"借记卡挂失怎么办理", "带身份证到柜面办理。"},
    {"个人账户开户需要什么材料", "本人有效身份证件。"},
};

TEST(rewrite_model_success)
{
    struct stub s = {.reply = "单位户开户需要什么材料"};
    struct rw_opts o = {.chat = stub_chat, .ctx = &s};
    char *out = NULL;
    enum rw_how how = RW_UNCHANGED;
    CHECK_INT(rw_rewrite("那单位户呢？", hist, 2, &o, &out, &how), RC_OK);
    CHECK_INT(how, RW_MODEL);
    CHECK_STR(out, "单位户开户需要什么材料");
    free(out);
    CHECK_INT(s.calls, 1);
    CHECK_INT(s.nmsgs, 2);
    CHECK_CONTAINS(s.sys, "不要回答");
    CHECK_CONTAINS(s.user, "个人账户开户需要什么材料");
    CHECK_CONTAINS(s.user, "本人有效身份证件");
    CHECK_CONTAINS(s.user, "借记卡挂失");
    CHECK_CONTAINS(s.user, "那单位户呢？");

    /* max_turns limits the context */
    o.max_turns = 1;
    CHECK_INT(rw_rewrite("那单位户呢？", hist, 2, &o, &out, &how), RC_OK);
    free(out);
    CHECK(strstr(s.user, "借记卡挂失") == NULL);

    /* thinking, a label, quotes and a final 。 are cleaned off */
    s.reply = "<think>用户问单位户</think>\n改写后的问题：“单位户开户需要什么材料？”。 ";
    CHECK_INT(rw_rewrite("那单位户呢？", hist, 2, &o, &out, &how), RC_OK);
    CHECK_INT(how, RW_MODEL);
    CHECK_STR(out, "单位户开户需要什么材料？");
    free(out);

    /* no history: the model is not asked */
    s.calls = 0;
    CHECK_INT(rw_rewrite("个人账户开户需要什么材料", NULL, 0, &o, &out, &how), RC_OK);
    CHECK_INT(how, RW_UNCHANGED);
    CHECK_STR(out, "个人账户开户需要什么材料");
    free(out);
    CHECK_INT(s.calls, 0);
    CHECK_INT(rw_rewrite("", hist, 2, &o, &out, &how), RC_INVALID);
    CHECK(out == NULL);
    CHECK_INT(rw_rewrite("\xc3(", hist, 2, &o, &out, &how), RC_INVALID);
}

TEST(rewrite_model_fallback)
{
    char longer[1200] = "";
    for (int i = 0; i < 60; i++)
        strcat(longer, "单位户开户");
    static const char *const garbage[] = {
        "根据《人民币银行结算账户管理办法》第十七条，单位开户需要营业执照",
        "单位户开户需要营业执照[1]",
        "单位户开户需要什么材料\n另外还需要公章吗",
        "单位户开户需要营业执照。还需要公章。",
        "您好，单位户开户需要营业执照",
        "",
        "   ",
        "<think>还在想",
        NULL, /* longer */
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        struct stub s = {.reply = garbage[i] ? garbage[i] : longer};
        struct rw_opts o = {.chat = stub_chat, .ctx = &s};
        char *out = NULL;
        enum rw_how how = RW_MODEL;
        CHECK_INT(rw_rewrite("那单位户呢？", hist, 2, &o, &out, &how), RC_OK);
        if (how != RW_RULES)
            test_fail(__FILE__, __LINE__, "reply %zu accepted: %s", i, out ? out : "(null)");
        CHECK_STR(out, "单位户开户需要什么材料");
        CHECK_INT(s.calls, 1);
        free(out);
    }
    /* errors from the gateway: rules */
    static const int errs[] = {RC_TIMEOUT, RC_UPSTREAM, RC_BUSY};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        struct stub s = {.rc = errs[i], .reply = "单位户开户需要什么材料"};
        struct rw_opts o = {.chat = stub_chat, .ctx = &s};
        char *out = NULL;
        enum rw_how how = RW_MODEL;
        CHECK_INT(rw_rewrite("需要带什么材料", hist, 2, &o, &out, &how), RC_OK);
        CHECK_INT(how, RW_RULES);
        CHECK_CONTAINS(out, "个人账户");
        CHECK_CONTAINS(out, "材料");
        free(out);
    }
    /* a non-follow-up the model fails on stays as it is */
    struct stub s = {.rc = RC_TIMEOUT};
    struct rw_opts o = {.chat = stub_chat, .ctx = &s};
    char *out = NULL;
    enum rw_how how = RW_MODEL;
    CHECK_INT(rw_rewrite("如何办理借记卡挂失", hist, 2, &o, &out, &how), RC_OK);
    CHECK_INT(how, RW_UNCHANGED);
    CHECK_STR(out, "如何办理借记卡挂失");
    free(out);
    /* without a chat function: rules */
    CHECK_INT(rw_rewrite("那单位户呢？", hist, 2, NULL, &out, &how), RC_OK);
    CHECK_INT(how, RW_RULES);
    CHECK_STR(out, "单位户开户需要什么材料");
    free(out);
}

TEST(rewrite_model_output_check)
{
    char *c = rw_model_output_ok("那单位户呢？", "个人账户开户需要什么材料", "「单位户开户材料」");
    CHECK_STR(c, "单位户开户材料");
    free(c);
    CHECK(rw_model_output_ok("那单位户呢？", NULL, "答：需要营业执照") == NULL);
    CHECK(rw_model_output_ok("那单位户呢？", NULL, "单") == NULL);
    CHECK(rw_model_output_ok("呢", "", "单位户开户需要什么材料以及办理流程和时限要求") == NULL);
    CHECK(rw_model_output_ok("那单位户呢？", "x", "\xff") == NULL);
}
