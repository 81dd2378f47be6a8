/* Tests for kb/chunk: articles of a constructed regulation (编/章/节 as
 * heading blocks and as paragraphs, 款 and 项, 之一, Arabic numbers,
 * cross-references, long articles in parts), a manual with numbered clauses,
 * tables, empty documents, citation paths, and real regulations when the
 * benchmark corpus is present. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"
#include "ingest/doc.h"
#include "kb/chunk.h"
#include "test.h"
#include "text/cnum.h"

static void H(struct doc *d, int level, const char *s)
{
    doc_add_heading(d, level, s, strlen(s));
}

static void Pa(struct doc *d, const char *s)
{
    doc_add_para(d, s, strlen(s));
}

static size_t cps(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

#define CHECK_CHUNK(c, k, lab, head, txt)                                                          \
    do {                                                                                           \
        CHECK_INT((c).kind, (k));                                                                  \
        CHECK_STR((c).label, (lab));                                                               \
        CHECK_STR((c).heading, (head));                                                            \
        CHECK_STR((c).text, (txt));                                                                \
    } while (0)

/* 20 code points each: "第01句：账户管理的要求与操作流程说明。" */
static void sentence(struct buf *b, int i)
{
    CHECK_INT(buf_addf(b, "第%02d句：账户管理的要求与操作流程说明。", i), RC_OK);
}

TEST(chunk_regulation_articles)
{
    struct doc d;
    struct chunk_list l;
    struct buf longa = BUF_INIT, p1 = BUF_INIT, p2 = BUF_INIT;

    CHECK_INT(buf_adds(&longa, "第七条 "), RC_OK);
    CHECK_INT(buf_adds(&p1, "第七条 "), RC_OK);
    for (int i = 1; i <= 50; i++) {
        sentence(&longa, i);
        sentence(i <= 24 ? &p1 : &p2, i);
    }
    CHECK_INT(cps("第01句：账户管理的要求与操作流程说明。"), 20);

    doc_init(&d);
    doc_set_title(&d, "示范银行账户管理办法", strlen("示范银行账户管理办法"));
    Pa(&d, "（2024年1月1日发布）");
    Pa(&d, "第一编 通则");
    H(&d, 2, "第一章 总则");
    Pa(&d, "第一条 为了规范账户管理，制定本办法。");
    Pa(&d, "第二条 本办法适用于境内的账户。");
    Pa(&d, "本办法所称账户，是指下列账户：");
    Pa(&d, "（一）基本存款账户；");
    Pa(&d, "（二）一般存款账户。");
    Pa(&d, "（三）其他存款账户"); /* a 项 without punctuation, not before an article */
    Pa(&d, "第二章 账户的开立");
    Pa(&d, "第一节 基本规定");
    Pa(&d, "第三条 存款人开立账户，应当提交证明文件。");
    Pa(&d, "第二条规定的账户，银行应当每年核对一次。");
    Pa(&d, "第九条关于期限的要求同样适用。");
    Pa(&d, "第四条第二款所列情形除外。");
    Pa(&d, "第四条\xe3\x80\x80开户银行应当核实信息。"); /* U+3000 after the label */
    H(&d, 3, "第二节 特别规定");
    Pa(&d, "（一）特别账户"); /* right before an article: a sub-heading */
    Pa(&d, "第四条之一 特别账户的开立，适用本节规定。");
    Pa(&d, "第5条 境外机构开户另行规定。");
    Pa(&d, "第六条个人账户实行实名制。");
    Pa(&d, "第二编 附则");
    H(&d, 2, "第三章\xe2\x80\x82\xe2\x80\x82其他规定"); /* EN SPACEs fold to one space */
    Pa(&d, longa.p);
    Pa(&d, "第八条 本办法自发布之日起施行。");

    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 11);
    if (l.n == 11) {
        CHECK_CHUNK(l.a[0], CHUNK_SECTION, "", "", "（2024年1月1日发布）");
        CHECK_CHUNK(l.a[1], CHUNK_ARTICLE, "第一条", "第一编 通则 › 第一章 总则 › 第一条",
                    "第一条 为了规范账户管理，制定本办法。");
        CHECK_CHUNK(l.a[2], CHUNK_ARTICLE, "第二条", "第一编 通则 › 第一章 总则 › 第二条",
                    "第二条 本办法适用于境内的账户。\n本办法所称账户，是指下列账户：\n"
                    "（一）基本存款账户；\n（二）一般存款账户。\n（三）其他存款账户");
        CHECK_CHUNK(l.a[3], CHUNK_ARTICLE, "第三条",
                    "第一编 通则 › 第二章 账户的开立 › 第一节 基本规定 › 第三条",
                    "第三条 存款人开立账户，应当提交证明文件。\n"
                    "第二条规定的账户，银行应当每年核对一次。\n"
                    "第九条关于期限的要求同样适用。\n第四条第二款所列情形除外。");
        CHECK_CHUNK(l.a[4], CHUNK_ARTICLE, "第四条",
                    "第一编 通则 › 第二章 账户的开立 › 第一节 基本规定 › 第四条",
                    "第四条 开户银行应当核实信息。");
        CHECK_CHUNK(
            l.a[5], CHUNK_ARTICLE, "第四条之一",
            "第一编 通则 › 第二章 账户的开立 › 第二节 特别规定 › （一）特别账户 › 第四条之一",
            "第四条之一 特别账户的开立，适用本节规定。");
        CHECK_CHUNK(l.a[6], CHUNK_ARTICLE, "第5条",
                    "第一编 通则 › 第二章 账户的开立 › 第二节 特别规定 › （一）特别账户 › 第5条",
                    "第5条 境外机构开户另行规定。");
        CHECK_CHUNK(l.a[7], CHUNK_ARTICLE, "第六条",
                    "第一编 通则 › 第二章 账户的开立 › 第二节 特别规定 › （一）特别账户 › 第六条",
                    "第六条个人账户实行实名制。");
        CHECK_CHUNK(l.a[8], CHUNK_ARTICLE, "第七条", "第二编 附则 › 第三章 其他规定 › 第七条",
                    p1.p);
        CHECK_CHUNK(l.a[9], CHUNK_ARTICLE, "第七条", "第二编 附则 › 第三章 其他规定 › 第七条",
                    p2.p);
        CHECK_INT(l.a[8].part, 1);
        CHECK_INT(l.a[8].nparts, 2);
        CHECK_INT(l.a[9].part, 2);
        CHECK_INT(l.a[9].nparts, 2);
        CHECK_INT(cps(l.a[8].text), 484);
        CHECK_INT(cps(l.a[9].text), 520);
        CHECK_CHUNK(l.a[10], CHUNK_ARTICLE, "第八条", "第二编 附则 › 第三章 其他规定 › 第八条",
                    "第八条 本办法自发布之日起施行。");
        CHECK_INT(l.a[10].part, 1);
        CHECK_INT(l.a[10].nparts, 1);
        /* block ranges: 第二条 spans its four paragraphs */
        CHECK_INT(l.a[2].block_first, 4);
        CHECK_INT(l.a[2].block_last, 8);

        char *path = chunk_path(d.title, &l.a[3]);
        CHECK_STR(path, "《示范银行账户管理办法》 › 第一编 通则 › 第二章 账户的开立 › "
                        "第一节 基本规定 › 第三条");
        free(path);
        path = chunk_path(d.title, &l.a[0]);
        CHECK_STR(path, "《示范银行账户管理办法》");
        free(path);
    }
    chunk_list_release(&l);
    CHECK_INT(l.n, 0);
    doc_release(&d);
    buf_release(&longa);
    buf_release(&p1);
    buf_release(&p2);
}

TEST(chunk_split_options_and_hard_cuts)
{
    struct doc d;
    struct chunk_list l;
    struct chunk_opts o = {10, 5, 0};
    const char *t = "第一条 账账账账账账账账账账账账账账账账账账账账账";

    doc_init(&d);
    Pa(&d, t); /* 4 + 21 = 25 code points, no sentence end */
    chunk_doc(&d, &o, &l);
    CHECK_INT(l.n, 3);
    if (l.n == 3) {
        CHECK_STR(l.a[0].text, "第一条 账账账账账账");
        CHECK_STR(l.a[1].text, "账账账账账账账账账账");
        CHECK_STR(l.a[2].text, "账账账账账");
        for (size_t i = 0; i < 3; i++) {
            CHECK_STR(l.a[i].label, "第一条");
            CHECK_STR(l.a[i].heading, "第一条");
            CHECK_INT(l.a[i].part, (int)i + 1);
            CHECK_INT(l.a[i].nparts, 3);
        }
    }
    chunk_list_release(&l);

    /* sentence ends win over hard cuts; closing quotes stay with their sentence */
    doc_release(&d);
    doc_init(&d);
    Pa(&d, "第一条 甲乙。“丙丁。”戊己庚辛壬癸子丑。");
    o.max_chars = 12;
    o.target_chars = 12;
    chunk_doc(&d, &o, &l);
    CHECK_INT(l.n, 2);
    if (l.n == 2) {
        CHECK_STR(l.a[0].text, "第一条 甲乙。“丙丁。”");
        CHECK_STR(l.a[1].text, "戊己庚辛壬癸子丑。");
    }
    chunk_list_release(&l);
    doc_release(&d);
}

TEST(chunk_manual_clauses)
{
    struct doc d;
    struct chunk_list l;

    doc_init(&d);
    doc_set_title(&d, "《柜面业务操作手册》", strlen("《柜面业务操作手册》"));
    Pa(&d, "本手册适用于全行柜面人员。");
    H(&d, 1, "账户业务");
    H(&d, 2, "开户流程");
    Pa(&d, "一、基本要求");
    Pa(&d, "（一）客户应当本人到柜面办理，并出示有效身份证件。");
    Pa(&d, "1.核对证件真伪；");
    Pa(&d, "(1)联网核查。");
    Pa(&d, "（二）柜员应当登记开户信息。");
    Pa(&d, "二、注意事项");
    Pa(&d, "对于可疑情形，应当及时上报。");
    H(&d, 2, "销户流程");
    Pa(&d, "1、客户提交销户申请。");
    Pa(&d, "①核对余额；");
    Pa(&d, "2. 柜员办理销户。");
    Pa(&d, "1.5倍的手续费规定不适用。");
    Pa(&d, "第二部分 对公业务");
    Pa(&d, "第一章 单位开户");
    Pa(&d, "单位开户应当提交营业执照。");

    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 7);
    if (l.n == 7) {
        CHECK_CHUNK(l.a[0], CHUNK_SECTION, "", "", "本手册适用于全行柜面人员。");
        CHECK_CHUNK(l.a[1], CHUNK_SECTION, "（一）", "账户业务 › 开户流程 › 一、基本要求 › （一）",
                    "（一）客户应当本人到柜面办理，并出示有效身份证件。\n1.核对证件真伪；\n"
                    "(1)联网核查。");
        CHECK_CHUNK(l.a[2], CHUNK_SECTION, "（二）", "账户业务 › 开户流程 › 一、基本要求 › （二）",
                    "（二）柜员应当登记开户信息。");
        CHECK_CHUNK(l.a[3], CHUNK_SECTION, "", "账户业务 › 开户流程 › 二、注意事项",
                    "对于可疑情形，应当及时上报。");
        CHECK_CHUNK(l.a[4], CHUNK_SECTION, "1、", "账户业务 › 销户流程 › 1、",
                    "1、客户提交销户申请。\n①核对余额；");
        CHECK_CHUNK(l.a[5], CHUNK_SECTION, "2.", "账户业务 › 销户流程 › 2.",
                    "2. 柜员办理销户。\n1.5倍的手续费规定不适用。");
        /* a 部分 paragraph has no level: with no 编/章/节 on the path it
         * nests below the deepest heading block */
        CHECK_CHUNK(l.a[6], CHUNK_SECTION, "",
                    "账户业务 › 销户流程 › 第二部分 对公业务 › 第一章 单位开户",
                    "单位开户应当提交营业执照。");
        char *path = chunk_path(d.title, &l.a[3]);
        CHECK_STR(path, "《柜面业务操作手册》 › 账户业务 › 开户流程 › 二、注意事项");
        free(path);
    }
    chunk_list_release(&l);
    doc_release(&d);
}

/* A table of `rows` data rows under a heading. */
static void add_table(struct doc *d, size_t rows)
{
    char **cells = xcalloc((rows + 1) * 2, sizeof *cells);
    cells[0] = xstrdup("项目");
    cells[1] = xstrdup("费率");
    for (size_t r = 1; r <= rows; r++) {
        char b[64];
        snprintf(b, sizeof b, "业务%zu", r);
        cells[2 * r] = xstrdup(b);
        snprintf(b, sizeof b, "%zu.0%%", r);
        cells[2 * r + 1] = xstrdup(b);
    }
    doc_add_table(d, rows + 1, 2, cells);
}

TEST(chunk_tables)
{
    struct doc d;
    struct chunk_list l;

    doc_init(&d);
    H(&d, 2, "收费标准");
    Pa(&d, "下表列出各项业务费率。");
    add_table(&d, 25);
    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 4);
    if (l.n == 4) {
        CHECK_CHUNK(l.a[0], CHUNK_SECTION, "", "收费标准", "下表列出各项业务费率。");
        for (size_t i = 1; i < 4; i++) {
            CHECK_INT(l.a[i].kind, CHUNK_TABLE);
            CHECK_STR(l.a[i].label, "");
            CHECK_STR(l.a[i].heading, "收费标准");
            CHECK(strncmp(l.a[i].text, "项目 | 费率\n", strlen("项目 | 费率\n")) == 0);
            CHECK_INT(l.a[i].part, (int)i);
            CHECK_INT(l.a[i].nparts, 3);
            CHECK_INT(l.a[i].block_first, 2);
        }
        CHECK_CONTAINS(l.a[1].text, "业务1 | 1.0%\n业务2 | 2.0%");
        CHECK_CONTAINS(l.a[2].text, "项目 | 费率\n业务11 | 11.0%\n");
        CHECK_STR(l.a[3].text, "项目 | 费率\n业务21 | 21.0%\n业务22 | 22.0%\n业务23 | 23.0%\n"
                               "业务24 | 24.0%\n业务25 | 25.0%");
    }
    chunk_list_release(&l);
    doc_release(&d);

    /* header-only table, custom rows per chunk */
    struct chunk_opts o = {0, 0, 4};
    doc_init(&d);
    add_table(&d, 0);
    add_table(&d, 8);
    chunk_doc(&d, &o, &l);
    CHECK_INT(l.n, 3);
    if (l.n == 3) {
        CHECK_CHUNK(l.a[0], CHUNK_TABLE, "", "", "项目 | 费率");
        CHECK_STR(l.a[2].text,
                  "项目 | 费率\n业务5 | 5.0%\n业务6 | 6.0%\n业务7 | 7.0%\n业务8 | 8.0%");
    }
    chunk_list_release(&l);
    doc_release(&d);
}

TEST(chunk_empty_and_paths)
{
    struct doc d;
    struct chunk_list l;
    struct chunk c = {0};

    doc_init(&d);
    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 0);
    chunk_list_release(&l);
    H(&d, 1, "只有标题");
    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 0);
    chunk_list_release(&l);
    doc_release(&d);

    c.heading = "第一章 总则 › 第一条";
    char *p = chunk_path("商业银行法", &c);
    CHECK_STR(p, "《商业银行法》 › 第一章 总则 › 第一条");
    free(p);
    p = chunk_path("《商业银行法》", &c);
    CHECK_STR(p, "《商业银行法》 › 第一章 总则 › 第一条");
    free(p);
    c.heading = "";
    p = chunk_path("商业银行法", &c);
    CHECK_STR(p, "《商业银行法》");
    free(p);
    p = chunk_path("", &c);
    CHECK_STR(p, "");
    free(p);
}

/* Hostile sizes: a huge heading is cut in the path, a huge table header is
 * cut where it is repeated. */
TEST(chunk_caps)
{
    struct doc d;
    struct chunk_list l;
    struct buf big = BUF_INIT;
    struct chunk_opts o = {50, 30, 1};
    char **cells = xcalloc(6, sizeof *cells);

    for (int i = 0; i < 300; i++)
        CHECK_INT(buf_adds(&big, "标"), RC_OK);
    doc_init(&d);
    H(&d, 2, big.p);
    Pa(&d, "正文。");
    cells[0] = xstrdup(big.p);
    cells[1] = xstrdup("列");
    for (int i = 2; i < 6; i++)
        cells[i] = xstrdup("值");
    doc_add_table(&d, 3, 2, cells);
    chunk_doc(&d, &o, &l);
    CHECK_INT(l.n, 3);
    if (l.n == 3) {
        CHECK_INT(cps(l.a[0].heading), 200);
        CHECK_STR(l.a[0].text, "正文。");
        CHECK_INT(l.a[1].kind, CHUNK_TABLE);
        CHECK_INT(cps(l.a[1].text), 50 + 1 + 5); /* cut header, "\n", "值 | 值" */
        CHECK_INT(l.a[2].nparts, 2);
    }
    chunk_list_release(&l);
    doc_release(&d);
    buf_release(&big);
}

TEST(chunk_path_is_capped)
{
    /* Six nested 200-character headings: every chunk used to copy a
     * 1200-character path. Now at most 240 characters: leading parts give
     * way to "…", the deepest heading and the label stay whole. */
    struct doc d;
    struct chunk_list l;
    struct buf h = BUF_INIT, deep = BUF_INIT;
    doc_init(&d);
    for (int lv = 1; lv <= 6; lv++) {
        buf_reset(&h);
        for (int i = 0; i < 200; i++)
            CHECK_INT(buf_adds(&h, lv == 6 ? "深" : "层"), RC_OK);
        H(&d, lv, h.p);
        if (lv == 6)
            CHECK_INT(buf_add(&deep, h.p, h.len), RC_OK);
    }
    Pa(&d, "1. 第一项，内容。");
    Pa(&d, "2. 第二项，内容。");
    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 2);
    for (size_t i = 0; i < l.n; i++) {
        const char *hd = l.a[i].heading;
        CHECK(cps(hd) <= 240);
        CHECK(strncmp(hd, "… › ", strlen("… › ")) == 0);
        CHECK(strstr(hd, deep.p) != NULL);
        CHECK_STR(hd + strlen(hd) - strlen(l.a[i].label), l.a[i].label);
    }
    if (l.n == 2)
        CHECK_STR(l.a[1].label, "2.");
    chunk_list_release(&l);
    doc_release(&d);
    /* short paths are untouched */
    doc_init(&d);
    H(&d, 1, "第一章 总则");
    H(&d, 2, "第一节 一般规定");
    Pa(&d, "1. 第一项，内容。");
    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 1);
    if (l.n == 1)
        CHECK_STR(l.a[0].heading, "第一章 总则 › 第一节 一般规定 › 1.");
    chunk_list_release(&l);
    doc_release(&d);
    buf_release(&h);
    buf_release(&deep);
}

/* Word processors style some articles as headings: they stay articles. */
TEST(chunk_article_as_heading_block)
{
    struct doc d;
    struct chunk_list l;

    doc_init(&d);
    H(&d, 1, "第一章 总则");
    H(&d, 2, "第一条");
    Pa(&d, "为了规范业务，制定本规定。");
    H(&d, 2, "第二条 适用范围");
    Pa(&d, "本规定适用于全行。");
    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 2);
    if (l.n == 2) {
        CHECK_CHUNK(l.a[0], CHUNK_ARTICLE, "第一条", "第一章 总则 › 第一条",
                    "第一条\n为了规范业务，制定本规定。");
        CHECK_CHUNK(l.a[1], CHUNK_ARTICLE, "第二条", "第一章 总则 › 第二条",
                    "第二条 适用范围\n本规定适用于全行。");
    }
    chunk_list_release(&l);
    doc_release(&d);
}

/* Heading block equal to the title, and numbered items "一、" used as
 * articles in a judicial interpretation without 第X条. */
TEST(chunk_interpretation_items)
{
    struct doc d;
    struct chunk_list l;

    doc_init(&d);
    doc_set_title(&d, "关于审理示范纠纷案件的规定", strlen("关于审理示范纠纷案件的规定"));
    H(&d, 1, "关于审理示范纠纷案件的规定");
    Pa(&d, "为正确审理示范纠纷案件，制定本规定。");
    Pa(&d, "一、人民法院审理此类案件，应当依法进行。");
    Pa(&d, "二、当事人主张下列权利的，应予支持：");
    Pa(&d, "（一）请求返还本金；");
    Pa(&d, "（二）请求支付利息。");
    chunk_doc(&d, NULL, &l);
    CHECK_INT(l.n, 3);
    if (l.n == 3) {
        CHECK_CHUNK(l.a[0], CHUNK_SECTION, "", "", "为正确审理示范纠纷案件，制定本规定。");
        CHECK_CHUNK(l.a[1], CHUNK_SECTION, "一、", "一、",
                    "一、人民法院审理此类案件，应当依法进行。");
        CHECK_CHUNK(
            l.a[2], CHUNK_SECTION, "二、", "二、",
            "二、当事人主张下列权利的，应予支持：\n（一）请求返还本金；\n（二）请求支付利息。");
    }
    chunk_list_release(&l);
    doc_release(&d);
}

/* ---- real regulations, when the benchmark corpus is on this machine ---- */

#define BANKREGS "/work/shared/bench/bankregs/docs/"

/* Tiny line reader: "# " first → title, "#…" → heading of that level,
 * other non-empty lines → paragraphs. Returns the number of lines that
 * start with 第<numeral>条. */
static size_t load_md(const char *path, struct doc *d)
{
    struct buf b = BUF_INIT;
    size_t arts = 0;
    int have_title = 0;

    doc_init(d);
    if (read_file(path, 64u << 20, &b) != RC_OK)
        return 0;
    for (char *line = b.p, *next; line && *line; line = next) {
        size_t n;
        next = strchr(line, '\n');
        n = next ? (size_t)(next - line) : strlen(line);
        if (next)
            next++;
        if (n > 0 && line[0] == '#') {
            int level = 0;
            while ((size_t)level < n && line[level] == '#')
                level++;
            if (!have_title && level == 1) {
                doc_set_title(d, line + 1, n - 1);
                have_title = 1;
            } else {
                doc_add_heading(d, level, line + level, n - (size_t)level);
            }
            continue;
        }
        if (n > strlen("第") && memcmp(line, "第", strlen("第")) == 0) {
            const char *z = strstr(line, "条");
            if (z && z < line + n && z - line > 3 &&
                cnum_parse(line + 3, (size_t)(z - line - 3)) > 0)
                arts++;
        }
        doc_add_para(d, line, n);
    }
    buf_release(&b);
    return arts;
}

static const struct chunk *find_label(const struct chunk_list *l, const char *label)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->a[i].label, label) == 0)
            return &l->a[i];
    return NULL;
}

static size_t count_articles(const struct chunk_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->a[i].kind == CHUNK_ARTICLE && l->a[i].part == 1;
    return n;
}

TEST(chunk_real_regulations)
{
    static const char *files[] = {"中华人民共和国票据法.md", "中华人民共和国民法典（合同编）.md",
                                  "中华人民共和国刑法.md",
                                  "最高人民法院关于人民法院执行工作若干问题的规定（试行）.md"};
    char path[512];
    struct doc d;
    struct chunk_list l;
    const struct chunk *c;
    size_t arts;
    DIR *dir = opendir(BANKREGS);

    if (!dir)
        return; /* corpus not on this machine */
    closedir(dir);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s%s", BANKREGS, files[i]);
        arts = load_md(path, &d);
        chunk_doc(&d, NULL, &l);
        CHECK_INT(count_articles(&l), arts);
        for (size_t j = 0; j < l.n; j++) {
            if (cps(l.a[j].text) > 800)
                test_fail(__FILE__, __LINE__, "%s: chunk %zu has %zu chars", files[i], j,
                          cps(l.a[j].text));
        }
        if (i == 0) {
            CHECK(arts > 100);
            c = find_label(&l, "第二十七条");
            CHECK(c != NULL);
            if (c) {
                CHECK_STR(c->heading, "第二章 汇票 › 第二节 背书 › 第二十七条");
                CHECK(strncmp(c->text, "第二十七条 持票人可以将汇票权利转让给他人",
                              strlen("第二十七条 持票人可以将汇票权利转让给他人")) == 0);
            }
        } else if (i == 1) {
            c = find_label(&l, "第四百七十条");
            CHECK(c != NULL);
            if (c) {
                /* the corpus has U+2002 EN SPACEs here; the path folds them */
                CHECK_STR(c->heading, "合同编 › 第一分编 通则 › 第二章 合同的订立 › 第四百七十条");
                CHECK_CONTAINS(c->text, "\n（一）当事人的姓名或者名称和住所；");
            }
        } else if (i == 2) {
            c = find_label(&l, "第一百二十条之一");
            CHECK(c != NULL);
            if (c)
                CHECK_CONTAINS(c->heading,
                               "第二编 分则 › 第二章 危害公共安全罪 › 第一百二十条之一");
        } else {
            CHECK_INT(arts, 0);
            c = find_label(&l, "2.");
            CHECK(c != NULL);
            if (c) {
                CHECK_STR(c->heading, "一、执行机构及其职责 › 2.");
                CHECK_CONTAINS(c->text, "\n（6）法律规定由人民法院执行的其他法律文书。");
            }
        }
        chunk_list_release(&l);
        doc_release(&d);
    }
}
