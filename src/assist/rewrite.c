/* Follow-up rewriting. The rules scan a question into pieces — banking terms
 * of a known kind (客户类型, 币种, 票据, 业务, 渠道, 介质, 账户类别, 人, 期限,
 * 费用), pronouns, question and function words, generic "frame" nouns
 * (材料, 流程 …), separators and other characters — and then either
 * substitute the contrasted term in the previous question ("那单位户呢？"
 * after "个人账户开户需要什么材料" → "单位户开户需要什么材料") or carry the
 * previous question's topic terms into the follow-up. The aim is a query
 * that retrieves well, not polished Chinese. */
#include "assist/rewrite.h"

#include "common/alloc.h"
#include "common/rc.h"
#include "text/tok.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---- word lists ---- */

enum cls {
    C_NONE,
    C_CUST,
    C_CUR,
    C_BILL,
    C_ACT,
    C_CHAN,
    C_MEDIUM,
    C_ACCT,
    C_PERSON,
    C_TERM,
    C_FEE
};

struct term {
    const char *s;
    enum cls c;
};

static const struct term lexicon[] = {
    {"个人账户", C_CUST},     {"个人户", C_CUST},       {"个人客户", C_CUST},
    {"个人", C_CUST},         {"对私", C_CUST},         {"单位账户", C_CUST},
    {"单位户", C_CUST},       {"单位客户", C_CUST},     {"单位", C_CUST},
    {"对公", C_CUST},         {"企业", C_CUST},         {"公司", C_CUST},
    {"个体工商户", C_CUST},   {"机构", C_CUST},         {"人民币", C_CUR},
    {"外币", C_CUR},          {"美元", C_CUR},          {"欧元", C_CUR},
    {"日元", C_CUR},          {"港币", C_CUR},          {"英镑", C_CUR},
    {"外汇", C_CUR},          {"银行汇票", C_BILL},     {"商业汇票", C_BILL},
    {"汇票", C_BILL},         {"银行本票", C_BILL},     {"本票", C_BILL},
    {"转账支票", C_BILL},     {"现金支票", C_BILL},     {"支票", C_BILL},
    {"开户", C_ACT},          {"销户", C_ACT},          {"挂失", C_ACT},
    {"解挂", C_ACT},          {"冻结", C_ACT},          {"解冻", C_ACT},
    {"变更", C_ACT},          {"补办", C_ACT},          {"换卡", C_ACT},
    {"激活", C_ACT},          {"注销", C_ACT},          {"大额取现", C_ACT},
    {"取现", C_ACT},          {"存款", C_ACT},          {"取款", C_ACT},
    {"转账", C_ACT},          {"汇款", C_ACT},          {"还款", C_ACT},
    {"结汇", C_ACT},          {"购汇", C_ACT},          {"贴现", C_ACT},
    {"止付", C_ACT},          {"柜面", C_CHAN},         {"柜台", C_CHAN},
    {"网银", C_CHAN},         {"网上银行", C_CHAN},     {"手机银行", C_CHAN},
    {"ATM", C_CHAN},          {"自助设备", C_CHAN},     {"微信银行", C_CHAN},
    {"借记卡", C_MEDIUM},     {"信用卡", C_MEDIUM},     {"存折", C_MEDIUM},
    {"社保卡", C_MEDIUM},     {"银行卡", C_MEDIUM},     {"U盾", C_MEDIUM},
    {"存单", C_MEDIUM},       {"一类户", C_ACCT},       {"二类户", C_ACCT},
    {"三类户", C_ACCT},       {"Ⅰ类户", C_ACCT},        {"Ⅱ类户", C_ACCT},
    {"Ⅲ类户", C_ACCT},        {"基本存款账户", C_ACCT}, {"一般存款账户", C_ACCT},
    {"专用存款账户", C_ACCT}, {"临时存款账户", C_ACCT}, {"基本户", C_ACCT},
    {"一般户", C_ACCT},       {"专用户", C_ACCT},       {"临时户", C_ACCT},
    {"本人", C_PERSON},       {"代理人", C_PERSON},     {"代办人", C_PERSON},
    {"他人", C_PERSON},       {"家属", C_PERSON},       {"未成年人", C_PERSON},
    {"老年人", C_PERSON},     {"外国人", C_PERSON},     {"境外人士", C_PERSON},
    {"港澳台居民", C_PERSON}, {"法定代表人", C_PERSON}, {"活期", C_TERM},
    {"定期", C_TERM},         {"整存整取", C_TERM},     {"零存整取", C_TERM},
    {"通知存款", C_TERM},     {"大额存单", C_TERM},     {"手续费", C_FEE},
    {"年费", C_FEE},          {"工本费", C_FEE},        {"管理费", C_FEE},
    {"利率", C_FEE},          {"利息", C_FEE},
};

/* Question words and function words: never topic terms. */
static const char *const stops[] = {
    "需要",   "什么",   "怎么办", "怎么样", "怎么", "怎样", "如何", "哪些",   "哪个",     "哪里",
    "哪儿",   "多少",   "多久",   "多长",   "是否", "可以", "能否", "能不能", "可不可以", "是不是",
    "有没有", "有哪些", "请问",   "我们",   "你们", "应该", "应当", "必须",   "办理",     "一下",
    "一般",   "时候",   "为什么", "为何",   "的话", "准备", "提供", "还要",   "还需",     "还能",
    "如果是", "如果",   "要是",   "那么",   "还有", "另外", "假如", "若是",   "此外",     "吗",
    "呢",     "吧",     "啊",     "呀",     "的",   "了",   "和",   "与",     "及",       "或",
    "是",     "我",     "您",     "你",     "请",   "要",   "需",   "能",     "会",       "带",
    "去",     "到",     "用",     "几",     "多",   "可",   "得",   "有",     "在",       "都",
};

/* Generic nouns that frame a question ("…需要什么材料"): not its topic. */
static const char *const frames[] = {
    "多长时间", "材料", "资料", "手续", "流程", "步骤", "条件", "要求", "规定",
    "费用",     "时间", "期限", "时限", "证件", "东西", "情况", "问题", "方法",
    "方式",     "标准", "额度", "限额", "上限", "金额", "业务",
};

static const char *const pronouns[] = {
    "它们", "它",   "这个", "那个", "这种", "那种", "这些", "那些", "该",
    "上述", "此类", "此项", "这笔", "这张", "这项", "其中", "这样",
};

/* Words that open a follow-up. */
static const char *const markers[] = {
    "那么", "那", "还有", "另外", "如果是", "如果", "要是", "假如", "若是", "此外", "换成",
};

/* Trailing particles stripped from an elliptic follow-up. */
static const char *const tails[] = {"的话", "呢", "吗", "吧", "啊", "呀", "的"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- scanning ---- */

enum pk { P_CHAR, P_TERM, P_STOP, P_FRAME, P_PRON, P_SEP };

struct piece {
    enum pk k;
    enum cls c;
    size_t s, e; /* byte range */
};

struct pieces {
    struct piece *a;
    size_t n, cap;
};

static int is_ascii_alnum(uint32_t cp)
{
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
}

/* Characters that can be part of a term: CJK ideographs, ASCII and
 * full-width letters and digits, Roman numerals (Ⅰ类户). */
static int is_word_cp(uint32_t cp)
{
    return utf8_is_cjk(cp) || is_ascii_alnum(cp) || (cp >= 0xFF10 && cp <= 0xFF19) ||
           (cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A) ||
           (cp >= 0x2160 && cp <= 0x217F);
}

static size_t prefix_len(const char *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    return k <= n && memcmp(p, w, k) == 0 ? k : 0;
}

static size_t longest(const char *p, size_t n, const char *const *list, size_t cnt)
{
    size_t best = 0;
    for (size_t i = 0; i < cnt; i++) {
        size_t k = prefix_len(p, n, list[i]);
        if (k > best)
            best = k;
    }
    return best;
}

static size_t longest_term(const char *p, size_t n, enum cls *c)
{
    size_t best = 0;
    for (size_t i = 0; i < NELEM(lexicon); i++) {
        size_t k = prefix_len(p, n, lexicon[i].s);
        if (k > best) {
            best = k;
            *c = lexicon[i].c;
        }
    }
    return best;
}

static void push(struct pieces *ps, enum pk k, enum cls c, size_t s, size_t e)
{
    ps->a = xgrow(ps->a, &ps->cap, ps->n + 1, sizeof *ps->a);
    ps->a[ps->n++] = (struct piece){k, c, s, e};
}

/* Splits p[0..n) into pieces, the longest known word winning at each
 * position (so 应该 is a stop word before 该 could be a pronoun). */
static void scan(const char *p, size_t n, struct pieces *ps)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_decode(p + i, n - i, &cp);
        if (!is_word_cp(cp)) {
            push(ps, P_SEP, C_NONE, i, i + l);
            i += l;
            continue;
        }
        enum cls c = C_NONE;
        size_t kt = longest_term(p + i, n - i, &c);
        size_t ks = longest(p + i, n - i, stops, NELEM(stops));
        size_t km = longest(p + i, n - i, markers, NELEM(markers));
        if (km > ks)
            ks = km; /* 那, 换成: not topic words either */
        size_t kf = longest(p + i, n - i, frames, NELEM(frames));
        size_t kp = longest(p + i, n - i, pronouns, NELEM(pronouns));
        size_t best = kt;
        enum pk k = P_TERM;
        if (kf > best) {
            best = kf;
            k = P_FRAME;
        }
        if (kp > best) {
            best = kp;
            k = P_PRON;
        }
        if (ks > best) {
            best = ks;
            k = P_STOP;
        }
        if (best) {
            push(ps, k, k == P_TERM ? c : C_NONE, i, i + best);
            i += best;
            continue;
        }
        /* An ASCII word is one piece; a CJK character is one piece. */
        size_t e = i + l;
        if (is_ascii_alnum(cp))
            while (e < n && is_ascii_alnum((unsigned char)p[e]))
                e++;
        if (ps->n && ps->a[ps->n - 1].k == P_CHAR && ps->a[ps->n - 1].e == i)
            ps->a[ps->n - 1].e = e; /* runs of other characters merge */
        else
            push(ps, P_CHAR, C_NONE, i, e);
        i = e;
    }
}

/* ---- tokens (text/tok.h) for "does q already say this" and "has a topic" ---- */

struct toks {
    struct buf all; /* "\x01tok\x01tok…\x01" */
    int topic;      /* saw a CJK bigram or an ASCII word of 2+ bytes */
};

static int tok_collect(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    (void)start;
    (void)end;
    struct toks *t = ctx;
    if (n >= 2)
        t->topic = 1;
    if (buf_add(&t->all, tok, n) || buf_addc(&t->all, '\x01'))
        return 1;
    return 0;
}

static void toks_of(const char *p, size_t n, struct toks *t)
{
    buf_init(&t->all, 1 << 16);
    t->topic = 0;
    buf_addc(&t->all, '\x01');
    (void)tok_run(p, n, TOK_BIGRAMS, tok_collect, t);
}

/* True when every token of p[0..n) occurs in t. */
static int covered_by(const struct toks *t, const char *p, size_t n)
{
    struct toks mine;
    toks_of(p, n, &mine);
    int ok = 1;
    const char *s = buf_str(&mine.all) + 1;
    while (ok && *s) {
        const char *e = strchr(s, '\x01');
        if (!e)
            break;
        struct buf needle = BUF_INIT;
        buf_addc(&needle, '\x01');
        buf_add(&needle, s, (size_t)(e - s));
        buf_addc(&needle, '\x01');
        ok = strstr(buf_str(&t->all), buf_str(&needle)) != NULL;
        buf_release(&needle);
        s = e + 1;
    }
    buf_release(&mine.all);
    return ok;
}

/* ---- follow-up detection ---- */

static size_t skip_seps(const char *p, size_t n, size_t i)
{
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_decode(p + i, n - i, &cp);
        if (is_word_cp(cp))
            break;
        i += l;
    }
    return i;
}

/* Byte range of q without leading markers and separators ("那么，如果是")
 * and, when tails is set, without trailing particles and separators. */
static void core_range(const char *q, size_t n, int strip_tails, size_t *s, size_t *e)
{
    size_t i = skip_seps(q, n, 0);
    for (;;) {
        size_t km = longest(q + i, n - i, markers, NELEM(markers));
        size_t kp = longest(q + i, n - i, pronouns, NELEM(pronouns));
        if (!km || kp >= km) /* 那个 is a pronoun, not 那 + 个 */
            break;
        i = skip_seps(q, n, i + km);
    }
    size_t j = n;
    for (;;) {
        while (j > i) { /* trailing separators */
            size_t b = j - 1;
            while (b > i && ((unsigned char)q[b] & 0xC0) == 0x80)
                b--;
            uint32_t cp;
            utf8_decode(q + b, j - b, &cp);
            if (is_word_cp(cp))
                break;
            j = b;
        }
        if (!strip_tails)
            break;
        size_t k = 0;
        for (size_t t = 0; t < NELEM(tails) && !k; t++) {
            size_t tl = strlen(tails[t]);
            if (j - i > tl && memcmp(q + j - tl, tails[t], tl) == 0)
                k = tl;
        }
        if (!k)
            break;
        j -= k;
    }
    *s = i;
    *e = j;
}

static int ends_with_ne(const char *q, size_t n)
{
    size_t s, e;
    core_range(q, n, 0, &s, &e);
    return e - s >= 3 && memcmp(q + e - 3, "呢", 3) == 0;
}

int rw_is_followup(const char *q)
{
    if (!q)
        return 0;
    size_t n = strlen(q);
    if (!utf8_valid(q, n))
        return 0;
    size_t s, e;
    core_range(q, n, 0, &s, &e);
    if (s == e)
        return 0; /* nothing but punctuation */
    if (s > skip_seps(q, n, 0))
        return 1; /* opened with 那/还有/如果 … */
    if (ends_with_ne(q, n))
        return 1;
    struct pieces ps = {0};
    scan(q, n, &ps);
    int pron = 0;
    size_t chars = 0;
    struct toks t = {BUF_INIT, 0};
    buf_init(&t.all, 1 << 16);
    for (size_t i = 0; i < ps.n; i++) {
        struct piece *p = &ps.a[i];
        if (p->k == P_PRON)
            pron = 1;
        if (p->k != P_SEP)
            chars += utf8_count(q + p->s, p->e - p->s);
        if (p->k == P_TERM || p->k == P_CHAR) {
            /* the topic test works on each run of terms and other characters */
            size_t j = i;
            while (j + 1 < ps.n && (ps.a[j + 1].k == P_TERM || ps.a[j + 1].k == P_CHAR))
                j++;
            struct toks r;
            toks_of(q + p->s, ps.a[j].e - p->s, &r);
            t.topic |= r.topic;
            buf_release(&r.all);
            for (size_t k = i + 1; k <= j; k++)
                chars += utf8_count(q + ps.a[k].s, ps.a[k].e - ps.a[k].s);
            i = j;
        }
    }
    free(ps.a);
    buf_release(&t.all);
    return pron || chars <= 3 || !t.topic;
}

/* ---- the rule-based rewrite ---- */

static const char *prev_question(const struct rw_turn *hist, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        const char *p = hist[i - 1].question;
        if (p && *p && utf8_valid(p, strlen(p)))
            return p;
    }
    return NULL;
}

/* Adds " x" (or "x" at the start) unless out already holds it. */
static void add_word(struct buf *out, const char *p, size_t n)
{
    if (!n)
        return;
    struct buf w = BUF_INIT;
    buf_add(&w, p, n);
    if (!strstr(buf_str(out), buf_str(&w))) {
        if (out->len)
            buf_addc(out, ' ');
        buf_add(out, p, n);
    }
    buf_release(&w);
}

/* The previous question with the terms of q's core substituted for the
 * terms of the same kind in it. *placed gets a bit per core piece that is
 * now in the result (substituted or already there). */
static int substitute(const char *prev, const struct pieces *pp, const char *q,
                      const struct pieces *qp, size_t qs, size_t qe, struct buf *out,
                      unsigned char *placed)
{
    int changed = 0;
    size_t np = pp->n;
    const char **rep = xcalloc(np ? np : 1, sizeof *rep);
    size_t *replen = xcalloc(np ? np : 1, sizeof *replen);
    for (size_t i = 0; i < qp->n; i++) {
        const struct piece *t = &qp->a[i];
        if (t->s < qs || t->e > qe || t->k != P_TERM)
            continue;
        size_t tl = t->e - t->s;
        for (size_t j = 0; j < np; j++) {
            const struct piece *p = &pp->a[j];
            if (p->k != P_TERM || p->c != t->c)
                continue;
            if (p->e - p->s == tl && memcmp(prev + p->s, q + t->s, tl) == 0) {
                placed[i] = 1; /* the same term: nothing to change */
                break;
            }
            if (!rep[j]) {
                rep[j] = q + t->s;
                replen[j] = tl;
                placed[i] = 1;
                changed = 1;
                break;
            }
        }
    }
    for (size_t j = 0; j < np; j++) {
        const struct piece *p = &pp->a[j];
        if (rep[j])
            buf_add(out, rep[j], replen[j]);
        else
            buf_add(out, prev + p->s, p->e - p->s);
    }
    free(rep);
    free(replen);
    return changed;
}

/* True when a term of class c appears in q's core. */
static int core_has_class(const struct pieces *qp, size_t qs, size_t qe, enum cls c)
{
    for (size_t i = 0; i < qp->n; i++)
        if (qp->a[i].k == P_TERM && qp->a[i].c == c && qp->a[i].s >= qs && qp->a[i].e <= qe)
            return 1;
    return 0;
}

/* The previous question's topic terms, as runs of terms and other
 * characters, minus the terms q contrasts (a term of the same kind) and
 * minus lone characters, each appended to out unless q already covers it. */
static void topics(const char *prev, const struct pieces *pp, const struct pieces *qp, size_t qs,
                   size_t qe, const struct toks *qt, struct buf *out)
{
    for (size_t i = 0; i < pp->n; i++) {
        if (pp->a[i].k != P_TERM && pp->a[i].k != P_CHAR)
            continue;
        size_t j = i;
        while (j + 1 < pp->n && (pp->a[j + 1].k == P_TERM || pp->a[j + 1].k == P_CHAR))
            j++;
        struct buf seg = BUF_INIT;
        for (size_t k = i; k <= j; k++) {
            const struct piece *p = &pp->a[k];
            if (p->k == P_TERM && core_has_class(qp, qs, qe, p->c))
                continue;
            buf_add(&seg, prev + p->s, p->e - p->s);
        }
        if (seg.len && utf8_count(seg.p, seg.len) >= 2 && !covered_by(qt, seg.p, seg.len))
            add_word(out, seg.p, seg.len);
        buf_release(&seg);
        i = j;
    }
}

enum rw_how rw_rules(const char *q, const struct rw_turn *hist, size_t n, char **out)
{
    enum rw_how how = RW_UNCHANGED;
    const char *prev = prev_question(hist, n);
    struct pieces pp = {0}, qp = {0};
    struct buf res = BUF_INIT;
    struct toks qt = {BUF_INIT, 0};
    unsigned char *placed = NULL;
    size_t qn = q ? strlen(q) : 0;
    *out = NULL;
    if (!q || !prev || !utf8_valid(q, qn) || !rw_is_followup(q))
        goto out;
    size_t pn = strlen(prev);
    scan(prev, pn, &pp);
    scan(q, qn, &qp);
    size_t cs, ce;
    core_range(q, qn, 1, &cs, &ce);
    placed = xcalloc(qp.n ? qp.n : 1, 1);

    /* Elliptic: "那单位户呢", "销户", "如果是外币" — only terms (and 的) in the
     * core, or an ending in 呢. */
    int ellipsis = ends_with_ne(q, qn);
    int own = 0;
    for (size_t i = 0; i < qp.n; i++) {
        const struct piece *p = &qp.a[i];
        if (p->s < cs || p->e > ce)
            continue;
        if (p->k == P_CHAR || p->k == P_FRAME ||
            (p->k == P_STOP && !(p->e - p->s == 3 && memcmp(q + p->s, "的", 3) == 0)))
            own = 1;
    }
    if (!own)
        ellipsis = 1;
    if (ellipsis) {
        substitute(prev, &pp, q, &qp, cs, ce, &res, placed);
        /* What the core says that the result does not: appended. */
        for (size_t i = 0; i < qp.n; i++) {
            const struct piece *p = &qp.a[i];
            if (p->s < cs || p->e > ce || placed[i])
                continue;
            if (p->k == P_TERM || p->k == P_FRAME ||
                (p->k == P_CHAR && utf8_count(q + p->s, p->e - p->s) >= 2))
                add_word(&res, q + p->s, p->e - p->s);
        }
        how = RW_RULES;
        goto out;
    }
    /* The follow-up has its own frame ("需要带什么材料", "它的年费是多少"):
     * carry the previous topics into it, in place of a pronoun if any. */
    toks_of(q, qn, &qt);
    struct buf tp = BUF_INIT;
    topics(prev, &pp, &qp, cs, ce, &qt, &tp);
    size_t s0, e0;
    core_range(q, qn, 0, &s0, &e0);
    if (!tp.len) {
        buf_add(&res, q + s0, e0 - s0);
    } else {
        size_t pron = (size_t)-1;
        for (size_t i = 0; i < qp.n && pron == (size_t)-1; i++)
            if (qp.a[i].k == P_PRON && qp.a[i].s >= s0)
                pron = i;
        if (pron != (size_t)-1) {
            const struct piece *p = &qp.a[pron];
            buf_add(&res, q + s0, p->s - s0);
            for (size_t k = 0; k < tp.len; k++) /* the topics without spaces */
                if (tp.p[k] != ' ')
                    buf_addc(&res, tp.p[k]);
            buf_add(&res, q + p->e, e0 - p->e);
        } else {
            buf_add(&res, tp.p, tp.len);
            buf_addc(&res, ' ');
            buf_add(&res, q + s0, e0 - s0);
        }
    }
    buf_release(&tp);
    how = RW_RULES;
out:
    if (how == RW_RULES && res.len)
        *out = buf_detach(&res, NULL);
    else
        how = RW_UNCHANGED;
    if (!*out)
        *out = xstrdup(q ? q : "");
    buf_release(&res);
    buf_release(&qt.all);
    free(pp.a);
    free(qp.a);
    free(placed);
    return how;
}

/* ---- the model path ---- */

static const char *const labels[] = {
    "改写后的问题：", "改写后的问题:", "改写后：", "改写后:", "改写：",    "改写:",
    "独立问题：",     "独立问题:",     "问题：",   "问题:",   "Question:", "Rewritten:",
};

static const char *const answer_openings[] = {
    "根据", "您好",   "你好", "答：",     "答:",    "回答",   "好的",
    "抱歉", "对不起", "是的", "需要提供", "请携带", "您需要", "你需要",
};

static int is_space_cp(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x3000;
}

char *rw_model_output_ok(const char *q, const char *prev_question, const char *text)
{
    if (!q || !text)
        return NULL;
    size_t n = strlen(text);
    if (!utf8_valid(text, n))
        return NULL;
    const char *p = text;
    const char *think = strstr(p, "</think>");
    if (think)
        p = think + strlen("</think>");
    else if (strstr(p, "<think>"))
        return NULL; /* thinking that never ended */
    n = strlen(p);
    /* trim spaces at both ends, then labels and quotes */
    for (;;) {
        size_t s = 0, e = n;
        uint32_t cp;
        while (s < e) {
            size_t l = utf8_decode(p + s, e - s, &cp);
            if (!is_space_cp(cp))
                break;
            s += l;
        }
        while (e > s && is_space_cp((unsigned char)p[e - 1]))
            e--;
        while (e >= s + 3 && memcmp(p + e - 3, "\xe3\x80\x80", 3) == 0)
            e -= 3;
        p += s;
        n = e - s;
        if (n >= 3 && memcmp(p + n - 3, "。", 3) == 0) {
            n -= 3;
            continue;
        }
        size_t k = 0;
        for (size_t i = 0; i < NELEM(labels) && !k; i++)
            k = prefix_len(p, n, labels[i]);
        if (!k && n >= 2 && p[0] == '"' && p[n - 1] == '"') {
            p++;
            n -= 2;
            continue;
        }
        if (!k && n >= 6 && memcmp(p, "“", 3) == 0 && memcmp(p + n - 3, "”", 3) == 0) {
            p += 3;
            n -= 6;
            continue;
        }
        if (!k && n >= 6 && memcmp(p, "「", 3) == 0 && memcmp(p + n - 3, "」", 3) == 0) {
            p += 3;
            n -= 6;
            continue;
        }
        if (!k)
            break;
        p += k;
        n -= k;
    }
    if (n == 0 || memchr(p, '\n', n) || memchr(p, '\r', n))
        return NULL;
    size_t chars = utf8_count(p, n);
    size_t qc = utf8_count(q, strlen(q));
    size_t pc = prev_question ? utf8_count(prev_question, strlen(prev_question)) : 0;
    if (chars < 2 || chars > RW_MAX_CHARS || chars > 2 * (qc + pc) + 10)
        return NULL;
    for (size_t i = 0; i < NELEM(answer_openings); i++)
        if (prefix_len(p, n, answer_openings[i]))
            return NULL;
    for (size_t i = 0; i + 2 < n; i++) /* [1] markers: an answer with citations */
        if (p[i] == '[' && p[i + 1] >= '0' && p[i + 1] <= '9')
            return NULL;
    /* several sentences: a 。！； with text after it */
    static const char *const ends[] = {"。", "！", "；", "!", ";"};
    for (size_t i = 0; i < NELEM(ends); i++) {
        size_t el = strlen(ends[i]);
        for (size_t j = 0; j + el < n; j++)
            if (memcmp(p + j, ends[i], el) == 0)
                return NULL;
    }
    return xstrndup(p, n);
}

#define RW_SYSTEM                                                                                                                                \
    "你是银行知识库的检索助手。根据对话历史，把用户最后的问题改写成一个独立、完整的中文问题："       \
    "补全省略的主语和指代（如“那单位户呢？”要写出单位户和所问的事项）。只输出改写后的问题本身，" \
    "一行，尽量简短；不要回答问题，不要解释。如果问题已经完整，原样输出。"

/* Appends s cut to max characters (with "…"). */
static void add_cut(struct buf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    size_t k = utf8_prefix(s, n, max);
    for (size_t i = 0; i < k; i++)
        buf_addc(b, s[i] == '\n' || s[i] == '\r' ? ' ' : s[i]);
    if (k < n)
        buf_adds(b, "…");
}

int rw_rewrite(const char *q, const struct rw_turn *hist, size_t n, const struct rw_opts *o,
               char **out, enum rw_how *how)
{
    enum rw_how h = RW_UNCHANGED;
    struct buf prompt = BUF_INIT, res = BUF_INIT, err = BUF_INIT;
    *out = NULL;
    if (!q || !*q || !utf8_valid(q, strlen(q)))
        return RC_INVALID;
    const char *prev = prev_question(hist, n);
    if (!prev) {
        *out = xstrdup(q);
        goto out;
    }
    if (o && o->chat) {
        size_t mt = o->max_turns ? o->max_turns : 3;
        size_t first = n > mt ? n - mt : 0;
        buf_adds(&prompt, "对话历史：\n");
        for (size_t i = first; i < n; i++) {
            if (!hist[i].question || !utf8_valid(hist[i].question, strlen(hist[i].question)))
                continue;
            buf_adds(&prompt, "用户：");
            add_cut(&prompt, hist[i].question, 200);
            buf_addc(&prompt, '\n');
            if (hist[i].answer && *hist[i].answer &&
                utf8_valid(hist[i].answer, strlen(hist[i].answer))) {
                buf_adds(&prompt, "助手：");
                add_cut(&prompt, hist[i].answer, 200);
                buf_addc(&prompt, '\n');
            }
        }
        buf_adds(&prompt, "\n最后的问题：");
        add_cut(&prompt, q, 500);
        buf_adds(&prompt, "\n改写后的独立问题：");
        struct llm_msg msgs[2] = {{.role = "system", .content = RW_SYSTEM},
                                  {.role = "user", .content = buf_str(&prompt)}};
        buf_init(&res, 64 * 1024);
        if (o->chat(o->ctx, msgs, 2, &res, &err) == RC_OK) {
            *out = rw_model_output_ok(q, prev, buf_str(&res));
            if (*out) {
                h = RW_MODEL;
                goto out;
            }
        }
    }
    h = rw_rules(q, hist, n, out);
out:
    buf_release(&prompt);
    buf_release(&res);
    buf_release(&err);
    if (how)
        *how = h;
    return RC_OK;
}
