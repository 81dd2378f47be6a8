/* Tests for src/kb/cues.c: question types, chunk cues, and definitions. */
#include "test.h"

#include "kb/cues.h"

#include <string.h>

static unsigned q(const char *s)
{
    return cue_question(s, strlen(s));
}

static unsigned c(const char *s)
{
    return cue_chunk(s, strlen(s));
}

TEST(cues_question_types)
{
    CHECK_INT(q("什么叫非法集资"), CUE_DEFINITION);
    CHECK_INT(q("上游犯罪包括哪些"), CUE_DEFINITION);
    CHECK_INT(q("挂失止付以后几天内要去法院"), CUE_QUANTITY);
    CHECK_INT(q("出租银行卡会被怎么处罚"), CUE_PENALTY);
    CHECK_INT(q("开户要带什么材料"), 0);
}

TEST(cues_chunk_quantities_skip_article_numbers)
{
    CHECK(c("应当在通知挂失止付后三日内向人民法院申请") & CUE_QUANTITY);
    CHECK(c("保存期限为5年") & CUE_QUANTITY);
    CHECK(c("利率上浮百分之二十") & CUE_QUANTITY);
    /* 第十二条 is an article number, not a quantity */
    CHECK(!(c("依照本法第十二条的规定办理") & CUE_QUANTITY));
    CHECK(c("处二万元以上二十万元以下罚款") & CUE_PENALTY);
    CHECK(c("本条例所称存款人，是指开立账户的单位") & CUE_DEFINITION);
}

TEST(cues_defines_the_named_term_only)
{
    const char *q1 = "什么叫非法集资";
    CHECK_INT(cue_defines("本条例所称非法集资，是指未经依法许可…", q1), strlen("非法集资"));
    /* 非法集资人 is another term, not named by the question */
    CHECK_INT(cue_defines("本条例所称非法集资人，是指发起、主导…", q1), 0);
    CHECK_INT(cue_defines("本解释所称“上游犯罪”，是指毒品犯罪…", "洗钱罪的上游犯罪包括哪些"),
              strlen("上游犯罪"));
    CHECK_INT(cue_defines("敏感个人信息是指一旦泄露…", "账户信息算不算敏感个人信息"),
              strlen("敏感个人信息"));
    CHECK_INT(cue_defines("没有定义的条文。", q1), 0);
    CHECK_INT(cue_defines("所称", q1), 0);
    CHECK_INT(cue_defines("是指", q1), 0);
}
