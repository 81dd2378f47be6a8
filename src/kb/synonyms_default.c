/* The default banking synonym dictionary (see synonyms_default.h).
 *
 * How the groups are used: when a KB is created, kb_synonyms_seed() copies
 * every group into that KB's `synonyms` table. At search time each group is
 * folded like indexed text (NFKC, traditional → simplified, 帐 → 账,
 * lower-case), and a query term that belongs to a group also searches the
 * group's other terms at a lower weight, so "基本户" finds articles that only
 * say "基本存款账户" and "取钱" finds "支取". Expansion never replaces the
 * user's own words; KB_NO_SYNONYMS turns it off for a search.
 *
 * How admins extend them: per KB, through `POST /api/v1/kbs/{kb}/synonyms`
 * (or kb_synonym_add) with 2–32 terms, and remove a group they find
 * harmful by its id. Edits affect only that KB; this file changes only
 * what new KBs start with.
 *
 * Rules for this list (tests/unit/test_synonyms.c checks the mechanical
 * ones): a group holds only terms that mean the same thing in a bank
 * counter's everyday work; near-misses stay out, because a wrong synonym
 * pulls wrong articles to the top. Deliberately NOT grouped: 汇票 / 本票 /
 * 支票 (different instruments), 冻结 / 查封 / 扣押 (different measures on
 * different property), 罚款 / 罚金 (administrative vs criminal), 借款人 /
 * 贷款人 (opposite parties), 洗钱 / 反洗钱, 担保 / 保证 (保证 is one kind of
 * 担保, and 保证 is also an everyday verb), 法人 / 法定代表人 (an entity vs
 * a person). No term may appear in two groups: that would silently merge
 * two meanings. Spelling variants the folding already unifies (帐/账,
 * full-width letters) are not listed. */
#include "kb/synonyms_default.h"

const char *const kb_default_synonyms[] = {
    /* ---- accounts ---- */
    "开户 开立账户 开设账户",
    "销户 撤销账户 注销账户",
    "基本户 基本存款账户",
    "一般户 一般存款账户",
    "专用户 专用存款账户",
    "临时户 临时存款账户",
    "对公账户 单位账户 单位银行结算账户 企业账户",
    "对公 单位",
    "个人账户 个人银行账户 个人银行结算账户",
    "一类户 一类账户 Ⅰ类账户 Ⅰ类户",
    "二类户 二类账户 Ⅱ类账户 Ⅱ类户",
    "三类户 三类账户 Ⅲ类账户 Ⅲ类户",
    "银行结算账户 结算账户",
    "久悬账户 久悬户 睡眠户 不动户 长期不动户",
    "存折 折子",
    "账号 账户号码",
    "户名 账户名称",
    "开户行 开户银行",
    "存款人 储户",
    "储蓄 储蓄存款 个人存款",
    "预留印鉴 印鉴 预留银行签章",
    "公章 单位公章 公司公章",
    "财务章 财务专用章",
    "法人代表 法定代表人",
    "授权书 授权委托书 委托书",
    "营业执照 工商营业执照 工商执照",
    "个体户 个体工商户",
    "小微企业 小型微型企业 小微",

    /* ---- identity and customers ---- */
    "身份证 居民身份证 二代身份证 二代证",
    "身份证件 有效身份证件 有效证件",
    "户口本 户口簿 居民户口簿",
    "回乡证 港澳居民来往内地通行证",
    "台胞证 台湾居民来往大陆通行证",
    "永居证 外国人永久居留身份证",
    "联网核查 身份联网核查 公民身份信息联网核查",
    "身份核验 身份核实 身份验证 核实身份 核验身份",
    "刷脸 人脸识别 面部识别 人脸核验",
    "代理人 代办人",
    "代理 代办 代为办理",
    "监护人 法定监护人",
    "未成年人 小孩 孩子 小孩子",
    "老年人 老人 老年客户 长者",
    "残疾人 残障人士 残疾人士",
    "视障人士 视力残疾人 盲人",
    "无民事行为能力人 无行为能力人",
    "限制民事行为能力人 限制行为能力人",
    "去世 死亡 身故 过世",
    "公证书 公证文书",
    "手机号 手机号码 电话号码 联系电话",
    "复印件 影印件",
    "签字 签名",

    /* ---- deposits ---- */
    "存钱 存款",
    "存现 存现金 现金缴存 缴存现金",
    "取钱 取款 支取 提款",
    "取现 取现金 提现 现金支取 支取现金 提取现金",
    "活期 活期存款 活期储蓄",
    "定期 定期存款 定期储蓄",
    "提前支取 提前取款 提前取出",
    "利息 利钱 计息",
    "自动转存 自动续存",
    "存款证明 存款证明书",
    "余额 账户余额 存款余额",
    "流水 银行流水 交易明细 交易流水 账户明细",
    "回单 业务回单 电子回单",

    /* ---- cash and currency ---- */
    "现金 现款",
    "假币 假钞 伪钞 伪造的货币 伪造货币",
    "残币 残损人民币 残缺人民币 残缺污损人民币",
    "零钱 零钞 小面额",
    "大额现金预约 大额取现预约 预约取现 预约取款",
    "人民币 RMB CNY",
    "外币 外汇",
    "购汇 售汇 买外汇",
    "结汇 卖外汇",
    "外币兑换 兑换外币",
    "汇率 外汇牌价 牌价",
    "便利化额度 年度便利化额度 购汇额度",
    "美元 美金 USD",
    "港币 港元 HKD",
    "跨境汇款 境外汇款 国际汇款",
    "数字人民币 数币 e-CNY",

    /* ---- cards ---- */
    "银行卡 卡 卡片",
    "借记卡 储蓄卡",
    "信用卡 贷记卡",
    "附属卡 副卡",
    "社保卡 社会保障卡",
    "吞卡 卡被吞",
    "ATM 自动柜员机 取款机 自助取款机",
    "自助设备 自助机具 自助终端",
    "POS机 POS 刷卡机 销售点终端",
    "盗刷 被盗刷",
    "密码 交易密码 取款密码 支付密码",
    "重置密码 密码重置 忘记密码 密码挂失",
    "修改密码 改密码 密码修改",
    "补卡 补办银行卡 补发卡",
    "换卡 更换银行卡 换新卡",
    "信用额度 透支额度",
    "分期 分期付款 分期还款",
    "最低还款 最低还款额",
    "征信 征信报告 信用报告 信用记录",
    "征信异议 信用报告异议",

    /* ---- loss reporting ---- */
    "挂失 挂失止付",
    "临时挂失 口头挂失",
    "正式挂失 书面挂失",
    "解挂 解除挂失 撤销挂失",
    "遗失 丢失 丢了 弄丢",
    "被盗 被偷 失窃",

    /* ---- payments and channels ---- */
    "转账 划转",
    "汇款 汇兑",
    "跨行转账 跨行汇款 他行转账",
    "转错账 汇错款 错误汇款 误转",
    "到账 入账",
    "实时到账 即时到账",
    "收款人 收款方",
    "付款人 付款方",
    "支付结算 结算",
    "网银 网上银行",
    "手机银行 掌上银行 手机APP",
    "电子银行 电子渠道 线上渠道",
    "柜面 柜台",
    "柜员 营业员 临柜人员 柜面人员",
    "网点 营业网点 营业厅 营业场所",
    "营业主管 会计主管 运营主管",
    "U盾 网银盾 USBKey",
    "验证码 动态码 短信验证码",
    "动账通知 短信通知 短信提醒",
    "第三方支付 支付机构 非银行支付机构 第三方支付机构",
    "代发工资 工资代发 代发薪",
    "工资 劳动报酬 薪酬 薪水",
    "农民工工资专用账户 工资专用账户 工资专户",
    "重要空白凭证 重空",
    "冲正 抹账 冲账",
    "差错 错账 账务差错",
    "长款 现金长款",
    "短款 现金短款",
    "收费标准 服务价格 价目表",

    /* ---- bills ---- */
    "银行承兑汇票 银承",
    "商业承兑汇票 商承",
    "电票 电子商业汇票 电子汇票",
    "贴现 票据贴现",
    "背书 背书转让",
    "出票人 签发人 开票人",

    /* ---- credit and security ---- */
    "贷款 借款",
    "房贷 住房贷款 个人住房贷款 按揭 按揭贷款",
    "车贷 汽车贷款",
    "消费贷 消费贷款 个人消费贷款",
    "经营贷 经营性贷款 个人经营贷款",
    "提前还款 提前还贷",
    "还款 还贷",
    "放款 放贷 发放贷款 贷款发放",
    "展期 贷款展期",
    "罚息 逾期利息",
    "逾期 逾期还款 逾期未还",
    "催收 催款 贷款催收",
    "呆账 坏账",
    "民间借贷 私人借贷",
    "借条 借据",
    "担保人 保证人",
    "抵押 抵押担保 抵押权",
    "质押 质押担保 质权",
    "抵押物 抵押财产",
    "房产证 房本 不动产权证书 不动产权证",
    "保函 银行保函",

    /* ---- anti-money laundering and fraud ---- */
    "客户身份识别 身份识别 客户尽职调查 尽职调查 尽调 KYC",
    "受益所有人 最终受益人 实际受益人",
    "可疑交易 可疑资金交易",
    "大额交易 大额资金交易",
    "恐怖融资 恐怖活动融资 资助恐怖活动",
    "电信诈骗 电信网络诈骗 电诈",
    "涉诈账户 涉诈银行账户",
    "出租出借账户 出租账户 出借账户",

    /* ---- enforcement ---- */
    "扣划 划拨 划扣",
    "止付 暂停支付",
    "续冻 续行冻结 继续冻结",
    "解冻 解除冻结",
    "冻结通知书 协助冻结存款通知书 协助冻结通知书",
    "法院 人民法院",
    "检察院 人民检察院",
    "公安 公安机关 警方",

    /* ---- regulators and authorities ---- */
    "人民银行 中国人民银行 人行 央行",
    "金融监管总局 国家金融监督管理总局 银保监会 银监会 国务院银行业监督管理机构",
    "外汇局 国家外汇管理局 外管局",
    "税务机关 税务局 税务部门",
    "市场监督管理部门 市场监管部门 工商部门 工商行政管理部门",

    /* ---- consumer protection and personal information ---- */
    "个人信息 个人资料",
    "双录 录音录像 同步录音录像",

    /* ---- insurance agency ---- */
    "代理保险 代销保险 银保 银行代理保险",
    "保单 保险单",
    "退保 解除保险合同",
    "犹豫期 冷静期",

    /* ---- tax, social security, treasury ---- */
    "个税 个人所得税",
    "纳税人识别号 税号",
    "代扣代缴 扣缴",
    "完税证明 纳税证明",
    "国库 国家金库",
    "公积金 住房公积金",
    "社保 社会保险",
    "养老金 退休金 养老保险金",
    "低保 最低生活保障",
    /* ---- rules and their revisions ---- */
    "变化 变动 调整", /* "住宿标准有什么变化" asks what a revision 调整ed */
    NULL,
};

size_t kb_default_synonyms_count(void)
{
    size_t n = 0;
    while (kb_default_synonyms[n])
        n++;
    return n;
}
