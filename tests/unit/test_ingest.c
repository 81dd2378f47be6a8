/* Tests for src/ingest: the doc model, type detection and every parser, on
 * fixtures built here (docx/xlsx zipped with libzip, GB18030 bytes from ICU,
 * a PDF written by hand) plus broken and hostile inputs. */
#include "test.h"

#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"
#include "ingest/doc.h"
#include "ingest/ingest.h"
#include "text/utf8.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicode/ucnv.h>
#include <unicode/ustring.h>
#include <zip.h>

/* --- fixture helpers ------------------------------------------------------ */

struct entry {
    const char *name;
    const char *data;
    size_t len; /* 0: strlen(data) */
};

/* Zips the entries into test_tmpdir()/fname and reads the archive into out. */
static void make_zip(const char *fname, const struct entry *e, size_t n, struct buf *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), fname);
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    CHECK(za != NULL);
    if (!za)
        return;
    for (size_t i = 0; i < n; i++) {
        size_t len = e[i].len ? e[i].len : strlen(e[i].data);
        zip_source_t *src = zip_source_buffer(za, e[i].data, len, 0);
        CHECK(src != NULL);
        CHECK(zip_file_add(za, e[i].name, src, ZIP_FL_ENC_UTF_8) >= 0);
    }
    CHECK_INT(zip_close(za), 0);
    buf_reset(out);
    CHECK_INT(read_file(path, (size_t)64 << 20, out), RC_OK);
}

static const char *CT = "<?xml version=\"1.0\"?><Types "
                        "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";

#define W_NS "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\""

static const char *DOCX_BODY =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<w:document " W_NS "><w:body>"
    "<w:p><w:pPr><w:pStyle w:val=\"1\"/></w:pPr><w:r><w:t>第一章 总则</w:t></w:r></w:p>"
    "<w:p><w:r><w:t xml:space=\"preserve\">第一条  为了规范</w:t></w:r>"
    "<w:r><w:t>存款业务，</w:t></w:r><w:r><w:tab/><w:t>制定本办法。</w:t></w:r></w:p>"
    "<w:p><w:pPr><w:pStyle w:val=\"MyBody\"/></w:pPr><w:r><w:t>第二条 本办法适用于境内网点。"
    "</w:t><w:br/><w:t>另起一行。</w:t></w:r><w:del><w:r><w:delText>删掉的字</w:delText>"
    "</w:r></w:del></w:p>"
    "<w:p><w:pPr><w:pStyle w:val=\"ZhHeading2\"/></w:pPr><w:r><w:t>第二章 利率</w:t></w:r></w:p>"
    "<w:tbl><w:tblPr/><w:tr><w:tc><w:p><w:r><w:t>期限</w:t></w:r></w:p></w:tc>"
    "<w:tc><w:p><w:r><w:t>年利率</w:t></w:r></w:p></w:tc></w:tr>"
    "<w:tr><w:tc><w:p><w:r><w:t>一年</w:t></w:r></w:p></w:tc>"
    "<w:tc><w:p><w:r><w:t>1.50%</w:t></w:r></w:p><w:p><w:r><w:t>（浮动）</w:t></w:r></w:p></w:tc>"
    "</w:tr><w:tr><w:tc><w:p><w:r><w:t>活期</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
    "<w:sectPr/></w:body></w:document>";

static const char *DOCX_STYLES =
    "<?xml version=\"1.0\"?><w:styles " W_NS ">"
    "<w:style w:type=\"paragraph\" w:styleId=\"ZhHeading2\"><w:name w:val=\"标题 2\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"MyBody\"><w:name w:val=\"Body Text\"/></w:style>"
    "</w:styles>";

static void make_docx(struct buf *out, int with_core)
{
    struct entry e[] = {
        {"[Content_Types].xml", CT, 0},
        {"word/document.xml", DOCX_BODY, 0},
        {"word/styles.xml", DOCX_STYLES, 0},
        {"docProps/core.xml",
         "<?xml version=\"1.0\"?><cp:coreProperties "
         "xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
         "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>个人存款管理办法</dc:title>"
         "</cp:coreProperties>",
         0},
    };
    make_zip(with_core ? "t.docx" : "t2.docx", e, with_core ? 4 : 3, out);
}

static const char *cell(const struct doc_block *b, size_t r, size_t c)
{
    if (b->kind != DOC_TABLE || r >= b->table.nrows || c >= b->table.ncols)
        return NULL;
    return b->table.cells[r * b->table.ncols + c];
}

/* Converts UTF-8 to the named charset with ICU into out. */
static void encode(const char *charset, const char *utf8, struct buf *out)
{
    UErrorCode st = U_ZERO_ERROR;
    UChar u[1024];
    int32_t ulen = 0;
    u_strFromUTF8(u, 1024, &ulen, utf8, -1, &st);
    CHECK(U_SUCCESS(st));
    UConverter *cnv = ucnv_open(charset, &st);
    CHECK(U_SUCCESS(st));
    char tmp[4096];
    int32_t n = ucnv_fromUChars(cnv, tmp, sizeof tmp, u, ulen, &st);
    CHECK(U_SUCCESS(st));
    ucnv_close(cnv);
    buf_reset(out);
    CHECK_INT(buf_add(out, tmp, (size_t)n), RC_OK);
}

static int parse_auto(const char *name, const void *p, size_t n, struct doc *d, struct buf *err)
{
    return ingest_parse(ingest_detect(name, p, n), name, p, n, d, err);
}

/* --- the doc model -------------------------------------------------------- */

TEST(ingest_doc_normalizes_text)
{
    struct doc d;
    doc_init(&d);
    CHECK_STR(d.title, "");
    doc_add_para(&d, "  \t第一条\u3000\u3000为了  规范\n\n业务。\u3000 ",
                 strlen("  \t第一条\u3000\u3000为了  规范\n\n业务。\u3000 "));
    doc_add_para(&d, " \u3000 \n", strlen(" \u3000 \n"));
    doc_add_heading(&d, 12, "  标题 ", 9);
    doc_add_heading(&d, 0, "a\0b", 3);
    doc_add_para(&d, "bad\xff", 4);
    CHECK_INT(d.nblocks, 4);
    CHECK_STR(d.blocks[0].text, "第一条 为了 规范 业务。");
    CHECK_INT(d.blocks[0].kind, DOC_PARA);
    CHECK_INT(d.blocks[1].kind, DOC_HEADING);
    CHECK_INT(d.blocks[1].level, 9);
    CHECK_STR(d.blocks[1].text, "标题");
    CHECK_INT(d.blocks[2].level, 1);
    CHECK_STR(d.blocks[2].text, "a b");
    CHECK_STR(d.blocks[3].text, "bad\xEF\xBF\xBD");
    doc_set_title(&d, " 办法 ", 8);
    CHECK_STR(d.title, "办法");
    CHECK_INT(doc_chars(&d), 13 + 2 + 3 + 4);
    doc_release(&d);
}

TEST(ingest_doc_unicode_spaces)
{
    /* EN SPACE (U+2002) as the Civil Code files use it, the other
     * U+2000-U+200A spaces, NNBSP, MMSP and the line/paragraph separators:
     * trimmed at the ends, collapsed to one ASCII space inside. */
    static const char *const spaces[] = {"\u2000", "\u2002", "\u2003", "\u2005", "\u2009", "\u200A",
                                         "\u202F", "\u205F", "\u2028", "\u2029", "\u1680"};
    struct doc d;
    doc_init(&d);
    for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++) {
        char in[64];
        int k = snprintf(in, sizeof in, "%s第一分编%s%s通则%s", spaces[i], spaces[i], spaces[i],
                         spaces[i]);
        CHECK(k > 0);
        doc_add_heading(&d, 2, in, (size_t)k);
        CHECK_INT(d.nblocks, i + 1);
        if (d.nblocks == i + 1)
            CHECK_STR(d.blocks[i].text, "第一分编 通则");
    }
    doc_add_para(&d, "\u2002\u2003\u205F", strlen("\u2002\u2003\u205F")); /* all space: skipped */
    CHECK_INT(d.nblocks, sizeof spaces / sizeof *spaces);
    doc_set_title(&d, "\u2002民法典\u2002", strlen("\u2002民法典\u2002"));
    CHECK_STR(d.title, "民法典");
    /* neighbours of the space ranges are text, not space */
    doc_add_para(&d, "a\u2010b\u2030c\u2060d", strlen("a\u2010b\u2030c\u2060d"));
    CHECK_STR(d.blocks[d.nblocks - 1].text, "a\u2010b\u2030c\u2060d");
    doc_release(&d);
}

TEST(ingest_doc_title_is_capped)
{
    /* A huge <title> or first heading is cut to DOC_TITLE_MAX_CHARS
     * characters at a character boundary (every chunk row copies it). */
    struct buf t = BUF_INIT;
    struct doc d;
    for (int i = 0; i < 300; i++)
        CHECK_INT(buf_adds(&t, "存 "), RC_OK);
    doc_init(&d);
    doc_set_title(&d, t.p, t.len);
    CHECK(utf8_valid(d.title, strlen(d.title)));
    CHECK_INT(utf8_count(d.title, strlen(d.title)),
              DOC_TITLE_MAX_CHARS - 1); /* trailing space cut */
    CHECK(strncmp(d.title, "存 存 ", strlen("存 存 ")) == 0);
    doc_set_title(&d, "短标题", strlen("短标题"));
    CHECK_STR(d.title, "短标题");
    doc_release(&d);
    /* through a parser: a Markdown document whose first heading is huge */
    buf_reset(&t);
    CHECK_INT(buf_adds(&t, "# "), RC_OK);
    for (int i = 0; i < 5000; i++)
        CHECK_INT(buf_adds(&t, "题"), RC_OK);
    CHECK_INT(buf_adds(&t, "\n正文。\n"), RC_OK);
    struct buf err = BUF_INIT;
    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_MD, "t.md", t.p, t.len, &d, &err), RC_OK);
    CHECK_INT(utf8_count(d.title, strlen(d.title)), DOC_TITLE_MAX_CHARS);
    CHECK_INT(d.nblocks, 2);
    doc_release(&d);
    buf_release(&err);
    buf_release(&t);
}

TEST(ingest_doc_tables_own_cells)
{
    struct doc d;
    doc_init(&d);
    char **cells = malloc(4 * sizeof *cells);
    cells[0] = strdup(" 期限 ");
    cells[1] = strdup("利率");
    cells[2] = strdup("一年\n");
    cells[3] = NULL;
    doc_add_table(&d, 2, 2, cells);
    char **empty = malloc(2 * sizeof *empty);
    empty[0] = strdup(" ");
    empty[1] = strdup("");
    doc_add_table(&d, 1, 2, empty); /* only empty cells: skipped, freed */
    doc_add_table(&d, 0, 3, malloc(1));
    CHECK_INT(d.nblocks, 1);
    CHECK_STR(cell(&d.blocks[0], 0, 0), "期限");
    CHECK_STR(cell(&d.blocks[0], 1, 0), "一年");
    CHECK_STR(cell(&d.blocks[0], 1, 1), "");
    CHECK(d.blocks[0].text == NULL);
    CHECK_INT(doc_chars(&d), 6);
    doc_release(&d);
}

/* --- detection ------------------------------------------------------------ */

TEST(ingest_detect_by_content)
{
    struct buf z = BUF_INIT;
    make_docx(&z, 1);
    CHECK_INT(ingest_detect("x.bin", z.p, z.len), INGEST_DOCX);
    CHECK_INT(ingest_detect(NULL, "%PDF-1.7\n...", 12), INGEST_PDF);
    CHECK_INT(ingest_detect("a.txt", "<!DOCTYPE html><html><body>x</body></html>", 42),
              INGEST_HTML);
    CHECK_INT(ingest_detect("a", "<p>段落</p>", strlen("<p>段落</p>")), INGEST_HTML);
    const char *jl = "{\"id\":\"1\",\"text\":\"正文\"}\n{\"id\":\"2\",\"text\":\"x\"}\n";
    CHECK_INT(ingest_detect("c.txt", jl, strlen(jl)), INGEST_JSONL);
    CHECK_INT(ingest_detect("notes", "# 标题\n\n正文", strlen("# 标题\n\n正文")), INGEST_MD);
    CHECK_INT(ingest_detect("a.md", "正文", strlen("正文")), INGEST_MD);
    CHECK_INT(ingest_detect("a.md", "<!-- INFO END -->\n正文", 24), INGEST_MD);
    CHECK_INT(ingest_detect("a.txt", "第一条 正文\n#话题", strlen("第一条 正文\n#话题")),
              INGEST_TXT);
    CHECK_INT(ingest_detect("a.txt", "", 0), INGEST_TXT);
    CHECK_INT(ingest_detect("a.txt", "ab\0cd", 5), INGEST_UNKNOWN);
    CHECK_INT(ingest_detect("a.txt", "\xff\xfe\xfd\xfc abc", 8), INGEST_UNKNOWN);
    struct buf gb = BUF_INIT;
    encode("gb18030", "第一条 存款人应当出示身份证件。", &gb);
    CHECK_INT(ingest_detect("gb.txt", gb.p, gb.len), INGEST_TXT);
    CHECK_INT(ingest_detect("gb.txt", gb.p, gb.len - 3), INGEST_TXT); /* a head cut mid-char */
    unsigned char junk[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    CHECK_INT(ingest_detect("r.docx", junk, sizeof junk), INGEST_UNKNOWN);
    CHECK_STR(ingest_type_name(INGEST_XLSX), "xlsx");
    CHECK_STR(ingest_type_name(INGEST_UNKNOWN), "unknown");
    buf_release(&z);
    buf_release(&gb);
}

/* --- text and markdown ---------------------------------------------------- */

TEST(ingest_txt_lines_and_gb18030)
{
    struct doc d;
    struct buf err = BUF_INIT, gb = BUF_INIT;
    const char *t = "\xEF\xBB\xBF第一行\r\n\r\n  第二行  \n第三行";
    doc_init(&d);
    CHECK_INT(parse_auto("dir/规定.txt", t, strlen(t), &d, &err), RC_OK);
    CHECK_STR(d.title, "规定");
    CHECK_INT(d.nblocks, 3);
    CHECK_STR(d.blocks[0].text, "第一行");
    CHECK_STR(d.blocks[1].text, "第二行");
    CHECK_STR(d.blocks[2].text, "第三行");
    doc_release(&d);

    encode("gb18030", "存款管理\n第一条 存款人应当出示身份证件。", &gb);
    doc_init(&d);
    CHECK_INT(parse_auto("gb.txt", gb.p, gb.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 2);
    if (d.nblocks == 2)
        CHECK_STR(d.blocks[1].text, "第一条 存款人应当出示身份证件。");
    CHECK_STR(d.title, "gb");
    doc_release(&d);

    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_TXT, "x.txt", "ok \xff\xfe", 5, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "文件不是有效的 UTF-8 或 GB18030 文本");
    doc_release(&d);

    buf_reset(&err);
    doc_init(&d);
    CHECK_INT(parse_auto("empty.txt", "", 0, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "empty file");
    doc_release(&d);

    buf_reset(&err);
    doc_init(&d);
    CHECK_INT(parse_auto("blank.txt", " \n\u3000\n", 6, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "no extractable text");
    doc_release(&d);
    buf_release(&err);
    buf_release(&gb);
}

TEST(ingest_markdown_structure)
{
    const char *md = "# 个人存款账户实名制规定\n"
                     "\n"
                     "2000年3月20日 发布\n"
                     "\n"
                     "<!-- INFO END -->\n"
                     "\n"
                     "## 第一章  总则\n"
                     "\n"
                     "第一条 为了保证个人存款账户的真实性，\n"
                     "维护存款人的**合法权益**，制定本规定。\n"
                     "\n"
                     "- 列表项 `代码` 与 [链接](http://example.com/a)\n"
                     "- 第二项\n"
                     "\n"
                     "| 期限 | 利率 |\n"
                     "|:---|---:|\n"
                     "| 一年 | 1.50% |\n"
                     "| 活期 |\n"
                     "\n"
                     "### 第一节 细则 ###\n"
                     "Some English\n"
                     "wrapped text.\n";
    struct doc d;
    struct buf err = BUF_INIT;
    doc_init(&d);
    CHECK_INT(parse_auto("规定.md", md, strlen(md), &d, &err), RC_OK);
    CHECK_STR(d.title, "个人存款账户实名制规定");
    CHECK_INT(d.nblocks, 9);
    if (d.nblocks == 9) {
        CHECK_INT(d.blocks[0].kind, DOC_HEADING);
        CHECK_INT(d.blocks[0].level, 1);
        CHECK_STR(d.blocks[1].text, "2000年3月20日 发布");
        CHECK_INT(d.blocks[2].level, 2);
        CHECK_STR(d.blocks[2].text, "第一章 总则");
        CHECK_STR(d.blocks[3].text,
                  "第一条 为了保证个人存款账户的真实性，维护存款人的合法权益，制定本规定。");
        CHECK_STR(d.blocks[4].text, "列表项 代码 与 链接");
        CHECK_STR(d.blocks[5].text, "第二项");
        CHECK_INT(d.blocks[6].kind, DOC_TABLE);
        CHECK_INT(d.blocks[6].table.nrows, 3);
        CHECK_INT(d.blocks[6].table.ncols, 2);
        CHECK_STR(cell(&d.blocks[6], 0, 1), "利率");
        CHECK_STR(cell(&d.blocks[6], 1, 1), "1.50%");
        CHECK_STR(cell(&d.blocks[6], 2, 0), "活期");
        CHECK_STR(cell(&d.blocks[6], 2, 1), "");
        CHECK_INT(d.blocks[7].level, 3);
        CHECK_STR(d.blocks[7].text, "第一节 细则");
        CHECK_STR(d.blocks[8].text, "Some English wrapped text.");
    }
    doc_release(&d);
    buf_release(&err);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(ingest_markdown_links_linear)
{
    /* Links still lose their URLs; nested and unclosed brackets stay text. */
    static const char *md = "见[第一条](http://a/1)与![图](i.png)，[未闭合 [x][y [b](c) end]";
    struct doc d;
    struct buf err = BUF_INIT, big = BUF_INIT;
    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_MD, "l.md", md, strlen(md), &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 1);
    if (d.nblocks == 1)
        CHECK_STR(d.blocks[0].text, "见第一条与图，未闭合 [x(c) end]");
    doc_release(&d);
    /* A line of 60k '[' without ']' and 30k "[a](" without ')' took
     * seconds (every '[' rescanned the rest of the line): now one pass. */
    for (int i = 0; i < 60000; i++)
        CHECK_INT(buf_addc(&big, '['), RC_OK);
    for (int i = 0; i < 30000; i++)
        CHECK_INT(buf_adds(&big, "[a]("), RC_OK);
    doc_init(&d);
    double t0 = mono_now();
    CHECK_INT(ingest_parse(INGEST_MD, "b.md", big.p, big.len, &d, &err), RC_OK);
    double dt = mono_now() - t0;
    CHECK(dt < 1.0);
    CHECK_INT(d.nblocks, 1);
    if (d.nblocks == 1)
        CHECK_INT(strlen(d.blocks[0].text), big.len);
    doc_release(&d);
    buf_release(&big);
    buf_release(&err);
}

TEST(ingest_markdown_front_matter)
{
    const char *md = "---\ntitle: \"存款保险条例\"\ndate: 2015-02-17\n---\n# 第一章\n\n正文\n";
    struct doc d;
    struct buf err = BUF_INIT;
    doc_init(&d);
    CHECK_INT(parse_auto("fm.md", md, strlen(md), &d, &err), RC_OK);
    CHECK_STR(d.title, "存款保险条例");
    CHECK_INT(d.nblocks, 2);
    if (d.nblocks == 2) {
        CHECK_STR(d.blocks[0].text, "第一章");
        CHECK_STR(d.blocks[1].text, "正文");
    }
    doc_release(&d);
    /* a leading thematic break without a closing one is not front matter */
    doc_init(&d);
    CHECK_INT(parse_auto("hr.md", "---\n正文\n", 11, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 1);
    CHECK_STR(d.title, "hr");
    doc_release(&d);
    buf_release(&err);
}

/* A real law from the bench corpus, when the shared folder is present. */
TEST(ingest_markdown_bench_doc)
{
    struct buf f = BUF_INIT, err = BUF_INIT;
    const char *path = "/work/shared/bench/bankregs/docs/个人存款账户实名制规定.md";
    if (read_file(path, (size_t)8 << 20, &f) != RC_OK)
        return;
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto(path, f.p, f.len, &d, &err), RC_OK);
    CHECK_STR(d.title, "个人存款账户实名制规定");
    int articles = 0;
    for (size_t i = 0; i < d.nblocks; i++) {
        CHECK(strstr(d.blocks[i].text ? d.blocks[i].text : "", "INFO END") == NULL);
        if (d.blocks[i].kind == DOC_PARA && strncmp(d.blocks[i].text, "第", 3) == 0)
            articles++;
    }
    CHECK(articles >= 5);
    doc_release(&d);
    buf_release(&f);
    buf_release(&err);
}

/* --- html ----------------------------------------------------------------- */

TEST(ingest_html_blocks_and_tables)
{
    const char *h =
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title> 存款利率公告 </title>"
        "<style>p{color:red}</style><script>var a='不要';</script></head><body>"
        "<nav><a href=/>首页</a></nav>"
        "<h1>关于调整存款利率的公告</h1>"
        "<div><p>第一段<b>加粗</b>文字。</p><p>第二段</p>尾巴</div>"
        "<p>换行前<br>换行后</p>"
        "<ul><li>项目一</li><li>项目二</li></ul>"
        "<h2>利率表</h2>"
        "<table><thead><tr><th>期限</th><th>利率</th></tr></thead>"
        "<tbody><tr><td>一年</td><td><p>1.50%</p></td></tr><tr><td>活期</td></tr></tbody>"
        "</table><!-- 注释 --></body></html>";
    struct doc d;
    struct buf err = BUF_INIT;
    doc_init(&d);
    CHECK_INT(parse_auto("a.html", h, strlen(h), &d, &err), RC_OK);
    CHECK_STR(d.title, "存款利率公告");
    CHECK_INT(d.nblocks, 10);
    if (d.nblocks == 10) {
        CHECK_INT(d.blocks[0].kind, DOC_HEADING);
        CHECK_STR(d.blocks[0].text, "关于调整存款利率的公告");
        CHECK_STR(d.blocks[1].text, "第一段加粗文字。");
        CHECK_STR(d.blocks[2].text, "第二段");
        CHECK_STR(d.blocks[3].text, "尾巴");
        CHECK_STR(d.blocks[4].text, "换行前");
        CHECK_STR(d.blocks[5].text, "换行后");
        CHECK_STR(d.blocks[6].text, "项目一");
        CHECK_STR(d.blocks[7].text, "项目二");
        CHECK_INT(d.blocks[8].level, 2);
        CHECK_INT(d.blocks[9].kind, DOC_TABLE);
        CHECK_INT(d.blocks[9].table.nrows, 3);
        CHECK_STR(cell(&d.blocks[9], 0, 0), "期限");
        CHECK_STR(cell(&d.blocks[9], 1, 1), "1.50%");
        CHECK_STR(cell(&d.blocks[9], 2, 1), "");
    }
    doc_release(&d);

    /* GBK page declared in a meta tag; no <title>: the first h1 is the title. */
    struct buf gb = BUF_INIT;
    encode("gbk",
           "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gbk\">"
           "</head><body><h1>理财产品说明</h1><p>风险等级：中低。</p></body></html>",
           &gb);
    doc_init(&d);
    CHECK_INT(parse_auto("b.htm", gb.p, gb.len, &d, &err), RC_OK);
    CHECK_STR(d.title, "理财产品说明");
    CHECK_INT(d.nblocks, 2);
    if (d.nblocks == 2)
        CHECK_STR(d.blocks[1].text, "风险等级：中低。");
    doc_release(&d);

    /* declared UTF-8, really GB18030: decoded anyway */
    encode("gb18030", "<meta charset=\"utf-8\"><p>个人存款</p>", &gb);
    doc_init(&d);
    CHECK_INT(parse_auto("c.html", gb.p, gb.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 1);
    if (d.nblocks == 1)
        CHECK_STR(d.blocks[0].text, "个人存款");
    CHECK_STR(d.title, "c");
    doc_release(&d);
    buf_release(&gb);
    buf_release(&err);
}

TEST(ingest_html_long_title_cut_not_lost)
{
    /* A <title> of 2000 characters (6000 bytes) used to overflow a 4 KB
     * buffer and be dropped for the <h1>; now it is kept, cut to 200. */
    struct buf h = BUF_INIT, err = BUF_INIT;
    struct doc d;
    CHECK_INT(buf_adds(&h, "<html><head><title>"), RC_OK);
    for (int i = 0; i < 2000; i++)
        CHECK_INT(buf_adds(&h, "规"), RC_OK);
    CHECK_INT(buf_adds(&h, "</title></head><body><h1>标题一</h1><p>正文</p></body></html>"), RC_OK);
    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_HTML, "t.html", h.p, h.len, &d, &err), RC_OK);
    CHECK_INT(utf8_count(d.title, strlen(d.title)), DOC_TITLE_MAX_CHARS);
    CHECK(strncmp(d.title, "规规规", strlen("规规规")) == 0);
    doc_release(&d);
    buf_release(&h);
    buf_release(&err);
}

TEST(ingest_html_large_table)
{
    struct buf h = BUF_INIT, err = BUF_INIT;
    CHECK_INT(buf_adds(&h, "<table><tr><th>编号</th><th>网点</th></tr>"), RC_OK);
    for (int i = 0; i < 20000; i++)
        CHECK_INT(buf_addf(&h, "<tr><td>%d</td><td>支行%d</td></tr>\n", i, i), RC_OK);
    CHECK_INT(buf_adds(&h, "</table>"), RC_OK);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("big.html", h.p, h.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 1);
    if (d.nblocks == 1) {
        CHECK_INT(d.blocks[0].table.nrows, 20001);
        CHECK_STR(cell(&d.blocks[0], 20000, 1), "支行19999");
    }
    doc_release(&d);
    buf_release(&h);
    buf_release(&err);
}

/* --- docx ----------------------------------------------------------------- */

TEST(ingest_docx_paragraphs_headings_tables)
{
    struct buf z = BUF_INIT, err = BUF_INIT;
    struct doc d;
    make_docx(&z, 1);
    doc_init(&d);
    CHECK_INT(parse_auto("上传/x.docx", z.p, z.len, &d, &err), RC_OK);
    CHECK_STR(d.title, "个人存款管理办法");
    CHECK_INT(d.nblocks, 6);
    if (d.nblocks == 6) {
        CHECK_INT(d.blocks[0].kind, DOC_HEADING);
        CHECK_INT(d.blocks[0].level, 1);
        CHECK_STR(d.blocks[0].text, "第一章 总则");
        CHECK_INT(d.blocks[1].kind, DOC_PARA);
        CHECK_STR(d.blocks[1].text, "第一条 为了规范存款业务， 制定本办法。");
        CHECK_STR(d.blocks[2].text, "第二条 本办法适用于境内网点。");
        CHECK_STR(d.blocks[3].text, "另起一行。");
        CHECK_INT(d.blocks[4].kind, DOC_HEADING);
        CHECK_INT(d.blocks[4].level, 2);
        CHECK_STR(d.blocks[4].text, "第二章 利率");
        CHECK_INT(d.blocks[5].kind, DOC_TABLE);
        CHECK_INT(d.blocks[5].table.nrows, 3);
        CHECK_INT(d.blocks[5].table.ncols, 2);
        CHECK_STR(cell(&d.blocks[5], 0, 1), "年利率");
        CHECK_STR(cell(&d.blocks[5], 1, 1), "1.50% （浮动）");
        CHECK_STR(cell(&d.blocks[5], 2, 0), "活期");
        CHECK_STR(cell(&d.blocks[5], 2, 1), "");
    }
    doc_release(&d);

    /* Without core properties: the first heading is the title. */
    make_docx(&z, 0);
    doc_init(&d);
    CHECK_INT(parse_auto("x.docx", z.p, z.len, &d, &err), RC_OK);
    CHECK_STR(d.title, "第一章 总则");
    doc_release(&d);
    buf_release(&z);
    buf_release(&err);
}

TEST(ingest_zip_entry_count_checked_first)
{
    /* An archive whose end-of-central-directory record declares more than
     * INGEST_ZIP_MAX_ENTRIES entries (and a central directory big enough
     * for them) is refused before libzip builds them: half a million
     * entries took 12 s and 200 MB to be refused. Here the directory is
     * zeros, which libzip would only call broken after reading it. */
    size_t count = 60000, cd = count * 46, n = cd + 22;
    unsigned char *z = calloc(1, n);
    struct buf err = BUF_INIT, ok = BUF_INIT;
    struct doc d;
    CHECK(z != NULL);
    memcpy(z + cd, "PK\5\6", 4);
    for (int k = 0; k < 2; k++) {
        z[cd + 8 + 2 * k] = (unsigned char)(count & 0xFF);
        z[cd + 9 + 2 * k] = (unsigned char)(count >> 8);
    }
    for (int k = 0; k < 4; k++)
        z[cd + 12 + k] = (unsigned char)(cd >> (8 * k)); /* directory size; offset 0 */
    memcpy(z, "PK\3\4", 4);
    CHECK_INT(ingest_detect("many.docx", z, n), INGEST_DOCX);
    CHECK_INT(ingest_detect(NULL, z, n), INGEST_UNKNOWN);
    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_DOCX, "many.docx", z, n, &d, &err), RC_TOO_BIG);
    CHECK_CONTAINS(buf_str(&err), "too many entries in DOCX file");
    doc_release(&d);
    doc_init(&d);
    buf_reset(&err);
    CHECK_INT(ingest_parse(INGEST_XLSX, "many.xlsx", z, n, &d, &err), RC_TOO_BIG);
    CHECK_CONTAINS(buf_str(&err), "too many entries in XLSX file");
    doc_release(&d);
    free(z);

    /* A good archive whose comment holds a record claiming 60000 entries
     * without room for them is not refused. */
    make_docx(&ok, 1);
    CHECK(ok.len > 22 && memcmp(ok.p + ok.len - 22, "PK\5\6", 4) == 0);
    ok.p[ok.len - 2] = 22; /* comment length */
    unsigned char fake[22] = {'P', 'K', 5, 6, 0, 0, 0, 0, 0x60, 0xEA, 0x60, 0xEA, 10};
    CHECK_INT(buf_add(&ok, fake, sizeof fake), RC_OK);
    doc_init(&d);
    buf_reset(&err);
    CHECK_INT(ingest_parse(INGEST_DOCX, "ok.docx", ok.p, ok.len, &d, &err), RC_OK);
    doc_release(&d);
    buf_release(&ok);
    buf_release(&err);
}

TEST(ingest_docx_text_box_once)
{
    const char *body =
        "<w:document " W_NS " xmlns:mc=\"urn:mc\"><w:body><w:p><w:r><w:t>正文</w:t></w:r>"
        "<w:r><mc:AlternateContent><mc:Choice><w:drawing><w:txbxContent><w:p><w:r><w:t>文本框"
        "</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict>"
        "<w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></w:pict>"
        "</mc:Fallback></mc:AlternateContent></w:r></w:p>"
        "<w:p><w:pPr><w:outlineLvl w:val=\"2\"/></w:pPr><w:r><w:t>大纲三级</w:t></w:r></w:p>"
        "<w:p><w:r><w:instrText>PAGE</w:instrText><w:t>&amp;</w:t></w:r></w:p>"
        "</w:body></w:document>";
    struct entry e[] = {{"word/document.xml", body, 0}};
    struct buf z = BUF_INIT, err = BUF_INIT;
    make_zip("tb.docx", e, 1, &z);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("框.docx", z.p, z.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 4);
    if (d.nblocks == 4) {
        CHECK_STR(d.blocks[0].text, "正文");
        CHECK_STR(d.blocks[1].text, "文本框");
        CHECK_INT(d.blocks[2].kind, DOC_HEADING);
        CHECK_INT(d.blocks[2].level, 3);
        CHECK_STR(d.blocks[3].text, "&");
    }
    CHECK_STR(d.title, "大纲三级");
    doc_release(&d);
    buf_release(&z);
    buf_release(&err);
}

TEST(ingest_docx_numbering_labels)
{
    /* Word-generated article numbers: 第%1条 / （%2） in Chinese counting,
     * a style-linked 第%1章 for headings, bullets without labels. */
    const char *numbering =
        "<w:numbering " W_NS ">"
        "<w:abstractNum w:abstractNumId=\"0\">"
        "<w:lvl w:ilvl=\"0\"><w:start w:val=\"1\"/><w:numFmt w:val=\"chineseCounting\"/>"
        "<w:lvlText w:val=\"第%1条\"/><w:suff w:val=\"space\"/></w:lvl>"
        "<w:lvl w:ilvl=\"1\"><w:start w:val=\"1\"/><w:numFmt w:val=\"chineseCounting\"/>"
        "<w:lvlText w:val=\"（%2）\"/><w:suff w:val=\"nothing\"/></w:lvl></w:abstractNum>"
        "<w:abstractNum w:abstractNumId=\"1\"><w:lvl w:ilvl=\"0\"><w:start w:val=\"9\"/>"
        "<w:numFmt w:val=\"chineseCountingThousand\"/><w:lvlText w:val=\"第%1章\"/></w:lvl>"
        "</w:abstractNum>"
        "<w:abstractNum w:abstractNumId=\"2\"><w:lvl w:ilvl=\"0\"><w:numFmt w:val=\"bullet\"/>"
        "<w:lvlText w:val=\"\xEF\x82\xB7\"/></w:lvl><w:lvl w:ilvl=\"1\">"
        "<w:numFmt w:val=\"decimal\"/><w:lvlText w:val=\"%1.%2\"/></w:lvl></w:abstractNum>"
        "<w:num w:numId=\"1\"><w:abstractNumId w:val=\"0\"/></w:num>"
        "<w:num w:numId=\"2\"><w:abstractNumId w:val=\"1\"/></w:num>"
        "<w:num w:numId=\"3\"><w:abstractNumId w:val=\"2\"/></w:num></w:numbering>";
    const char *styles =
        "<w:styles " W_NS "><w:style w:styleId=\"Chap\"><w:name w:val=\"heading 1\"/>"
        "<w:pPr><w:numPr><w:numId w:val=\"2\"/></w:numPr></w:pPr></w:style></w:styles>";
#define NP(id, lvl, text)                                                                          \
    "<w:p><w:pPr><w:numPr><w:ilvl w:val=\"" lvl "\"/><w:numId w:val=\"" id "\"/></w:numPr>"        \
    "</w:pPr><w:r><w:t>" text "</w:t></w:r></w:p>"
    const char *body = "<w:document " W_NS "><w:body>"
                       "<w:p><w:pPr><w:pStyle w:val=\"Chap\"/></w:pPr><w:r><w:t>附则</w:t></w:r>"
                       "</w:p>" NP("1", "0", "甲") NP("1", "1", "乙") NP("1", "1", "丙")
                           NP("1", "0", "丁") NP("1", "1", "戊") NP("3", "0", "要点")
                               NP("3", "1", "细项") NP("0", "0", "无编号") "</w:body></w:document>";
#undef NP
    struct entry e[] = {{"word/document.xml", body, 0},
                        {"word/styles.xml", styles, 0},
                        {"word/numbering.xml", numbering, 0}};
    struct buf z = BUF_INIT, err = BUF_INIT;
    make_zip("num.docx", e, 3, &z);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("num.docx", z.p, z.len, &d, &err), RC_OK);
    static const char *want[] = {"第九章 附则", "第一条 甲", "（一）乙", "（二）丙", "第二条 丁",
                                 "（一）戊",    "要点",      "1.1 细项", "无编号"};
    CHECK_INT(d.nblocks, 9);
    for (size_t i = 0; i < d.nblocks && i < 9; i++)
        CHECK_STR(d.blocks[i].text, want[i]);
    if (d.nblocks == 9)
        CHECK_INT(d.blocks[0].kind, DOC_HEADING);
    doc_release(&d);
    buf_release(&z);
    buf_release(&err);
}

TEST(ingest_docx_broken_inputs)
{
    struct buf z = BUF_INIT, err = BUF_INIT;
    struct doc d;
    make_docx(&z, 1);

    /* truncated: unknown by content, but the name lets the parser explain */
    CHECK_INT(ingest_detect(NULL, z.p, z.len / 2), INGEST_UNKNOWN);
    CHECK_INT(ingest_detect("x.docx", z.p, z.len / 2), INGEST_DOCX);
    doc_init(&d);
    CHECK_INT(parse_auto("x.docx", z.p, z.len / 2, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "DOCX 文件已损坏 / broken DOCX file");
    doc_release(&d);

    /* a zip that is neither docx nor xlsx */
    struct entry other[] = {{"readme.txt", "hello", 0}};
    make_zip("o.zip", other, 1, &z);
    CHECK_INT(ingest_detect("o.docx", z.p, z.len), INGEST_UNKNOWN);
    buf_reset(&err);
    doc_init(&d);
    CHECK_INT(parse_auto("o.docx", z.p, z.len, &d, &err), RC_UNSUPPORTED);
    doc_release(&d);
    buf_reset(&err);
    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_DOCX, "o.docx", z.p, z.len, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "word/document.xml is missing");
    doc_release(&d);

    /* document.xml that is not XML */
    struct entry notxml[] = {{"word/document.xml", "<w:document><w:body><w:p>", 0}};
    make_zip("n.docx", notxml, 1, &z);
    buf_reset(&err);
    doc_init(&d);
    CHECK_INT(parse_auto("n.docx", z.p, z.len, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "not valid XML");
    doc_release(&d);

    /* a declared uncompressed size of 3.5 GB (patched into both headers) */
    make_docx(&z, 1);
    int patched = 0;
    for (size_t i = 0; i + 46 < z.len; i++) {
        if (memcmp(z.p + i, "PK\1\2", 4) == 0 &&
            memcmp(z.p + i + 46, "word/document.xml", 17) == 0) {
            memcpy(z.p + i + 24, "\0\0\0\xD0", 4);
            patched++;
        }
        if (memcmp(z.p + i, "PK\3\4", 4) == 0 && i + 30 + 17 <= z.len &&
            memcmp(z.p + i + 30, "word/document.xml", 17) == 0) {
            memcpy(z.p + i + 22, "\0\0\0\xD0", 4);
            patched++;
        }
    }
    CHECK_INT(patched, 2);
    buf_reset(&err);
    doc_init(&d);
    CHECK_INT(parse_auto("bomb.docx", z.p, z.len, &d, &err), RC_TOO_BIG);
    CHECK_CONTAINS(buf_str(&err), "zip bomb");
    doc_release(&d);

    /* a real high-ratio entry: 24 MB of spaces inside a paragraph */
    size_t big = (size_t)24 << 20;
    char *spaces = malloc(big);
    memset(spaces, ' ', big);
    memcpy(spaces, "<w:document " W_NS "><w:body>", strlen("<w:document " W_NS "><w:body>"));
    struct entry bomb[] = {{"word/document.xml", spaces, big}};
    make_zip("ratio.docx", bomb, 1, &z);
    free(spaces);
    buf_reset(&err);
    doc_init(&d);
    CHECK_INT(parse_auto("ratio.docx", z.p, z.len, &d, &err), RC_TOO_BIG);
    CHECK_CONTAINS(buf_str(&err), "compression ratio");
    doc_release(&d);
    buf_release(&z);
    buf_release(&err);
}

/* --- xlsx ----------------------------------------------------------------- */

TEST(ingest_xlsx_sheets)
{
    struct entry e[] = {
        {"[Content_Types].xml", CT, 0},
        {"xl/workbook.xml",
         "<?xml version=\"1.0\"?><workbook "
         "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
         "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
         "<sheets><sheet name=\"存款利率\" sheetId=\"1\" r:id=\"rId1\"/>"
         "<sheet name=\"空表\" sheetId=\"2\" r:id=\"rId2\"/>"
         "<sheet name=\"网点\" sheetId=\"3\" r:id=\"rId9\"/></sheets></workbook>",
         0},
        {"xl/_rels/workbook.xml.rels",
         "<?xml version=\"1.0\"?><Relationships "
         "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
         "<Relationship Id=\"rId1\" Type=\"ws\" Target=\"worksheets/rates.xml\"/>"
         "<Relationship Id=\"rId2\" Type=\"ws\" Target=\"/xl/worksheets/empty.xml\"/>"
         "</Relationships>",
         0},
        {"xl/sharedStrings.xml",
         "<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/"
         "2006/main\"><si><t>期限</t></si><si><r><t>年</t></r><r><t>利率</t></r>"
         "<rPh><t>ねん</t></rPh></si><si><t>一年</t></si><si/></sst>",
         0},
        {"xl/worksheets/rates.xml",
         "<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/"
         "spreadsheetml/2006/main\"><sheetData>"
         "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
         "<c r=\"C1\" t=\"inlineStr\"><is><t>备注</t></is></c></row>"
         "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>2</v></c><c r=\"B2\"><v>1.4999999999999999E-2</v>"
         "</c><c r=\"C2\" t=\"b\"><v>1</v></c><c r=\"D2\" s=\"1\"><v>45292</v></c></row>"
         "<row r=\"3\"/>"
         "<row r=\"5\"><c r=\"A5\" t=\"inlineStr\"><is><t>活期</t></is></c>"
         "<c r=\"C5\"><v>42</v></c><c r=\"D5\" s=\"2\"><v>45292.5</v></c><c "
         "r=\"ZZZZ5\"><v>9</v></c><c r=\"B5\" t=\"s\"><v>99</v></c>"
         "</row></sheetData></worksheet>",
         0},
        {"xl/styles.xml",
         "<?xml version=\"1.0\"?><styleSheet xmlns=\"http://schemas.openxmlformats.org/"
         "spreadsheetml/2006/main\"><numFmts count=\"1\"><numFmt numFmtId=\"164\" "
         "formatCode=\"yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;\"/></numFmts>"
         "<cellXfs count=\"3\"><xf numFmtId=\"0\"/><xf numFmtId=\"14\"/><xf numFmtId=\"164\"/>"
         "</cellXfs></styleSheet>",
         0},
        {"xl/worksheets/empty.xml", "<worksheet><sheetData/></worksheet>", 0},
        {"xl/worksheets/sheet3.xml",
         "<worksheet><sheetData><row><c t=\"str\"><v>北京</v></c><c><v>3</v></c></row>"
         "</sheetData></worksheet>",
         0},
    };
    struct buf z = BUF_INIT, err = BUF_INIT;
    make_zip("t.xlsx", e, sizeof e / sizeof *e, &z);
    CHECK_INT(ingest_detect(NULL, z.p, z.len), INGEST_XLSX);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("报表/利率表.xlsx", z.p, z.len, &d, &err), RC_OK);
    CHECK_STR(d.title, "利率表");
    CHECK_INT(d.nblocks, 4);
    if (d.nblocks == 4) {
        CHECK_INT(d.blocks[0].kind, DOC_HEADING);
        CHECK_STR(d.blocks[0].text, "存款利率");
        const struct doc_block *t = &d.blocks[1];
        CHECK_INT(t->kind, DOC_TABLE);
        CHECK_INT(t->table.nrows, 3);
        CHECK_INT(t->table.ncols, 4);
        CHECK_STR(cell(t, 0, 3), "");
        CHECK_STR(cell(t, 1, 3), "2024-01-01");
        CHECK_STR(cell(t, 2, 3), "2024-01-01 12:00");
        CHECK_STR(cell(t, 0, 0), "期限");
        CHECK_STR(cell(t, 0, 1), "年利率");
        CHECK_STR(cell(t, 0, 2), "备注");
        CHECK_STR(cell(t, 1, 0), "一年");
        CHECK_STR(cell(t, 1, 1), "0.015");
        CHECK_STR(cell(t, 1, 2), "TRUE");
        CHECK_STR(cell(t, 2, 0), "活期");
        CHECK_STR(cell(t, 2, 1), "");
        CHECK_STR(cell(t, 2, 2), "42");
        CHECK_STR(d.blocks[2].text, "网点");
        CHECK_STR(cell(&d.blocks[3], 0, 0), "北京");
        CHECK_STR(cell(&d.blocks[3], 0, 1), "3");
    }
    doc_release(&d);

    struct entry broken[] = {{"xl/workbook.xml",
                              "<workbook><sheets><sheet name=\"a\"/></sheets>"
                              "</workbook>",
                              0},
                             {"xl/worksheets/sheet1.xml", "<worksheet><sheetData><row><c>", 0}};
    make_zip("b.xlsx", broken, 2, &z);
    doc_init(&d);
    CHECK_INT(parse_auto("b.xlsx", z.p, z.len, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "XLSX 文件已损坏");
    doc_release(&d);
    buf_release(&z);
    buf_release(&err);
}

TEST(ingest_xlsx_shared_strings_packed)
{
    /* Shared strings are stored packed (one buffer plus offsets): empty
     * <si/> and <t/> entries keep their index, later ones their text. */
    struct entry e[] = {
        {"xl/workbook.xml", "<workbook><sheets><sheet name=\"S\"/></sheets></workbook>", 0},
        {"xl/sharedStrings.xml",
         "<sst><si><t>甲</t></si><si/><si><t>丙丙</t></si><si><t/></si><si><t>戊</t>"
         "<t>己</t></si></sst>",
         0},
        {"xl/worksheets/sheet1.xml",
         "<worksheet><sheetData><row><c t=\"s\"><v>4</v></c><c t=\"s\"><v>2</v></c>"
         "<c t=\"s\"><v>1</v></c><c t=\"s\"><v>0</v></c><c t=\"s\"><v>3</v></c>"
         "<c t=\"s\"><v>5</v></c></row></sheetData></worksheet>",
         0},
    };
    struct buf z = BUF_INIT, err = BUF_INIT;
    struct doc d;
    make_zip("ss.xlsx", e, sizeof e / sizeof *e, &z);
    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_XLSX, "ss.xlsx", z.p, z.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 2);
    if (d.nblocks == 2) {
        CHECK_INT(d.blocks[1].table.ncols, 4); /* the empty cells at the end are not set */
        CHECK_STR(cell(&d.blocks[1], 0, 0), "戊己");
        CHECK_STR(cell(&d.blocks[1], 0, 1), "丙丙");
        CHECK_STR(cell(&d.blocks[1], 0, 2), "");
        CHECK_STR(cell(&d.blocks[1], 0, 3), "甲");
    }
    doc_release(&d);
    buf_release(&z);
    buf_release(&err);
}

/* --- pdf ------------------------------------------------------------------ */

/* Writes a minimal PDF with a correct xref table into out: one text line
 * per entry ("" skips a line, NULL starts a new page). Latin text uses
 * Helvetica; with `cjk` the font is a Type0/Identity-H font whose glyph ids
 * are the code points, mapped back by a ToUnicode CMap: text extraction
 * needs no installed CJK font. A line starting with a tab is indented. */
static void make_pdf(const char *title, int cjk, const char *const *lines, size_t n,
                     struct buf *out)
{
    size_t off[64], nobj = 0, npages = 1, first = cjk ? 7 : 5;
    static const char cmap[] =
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /U def "
        "/CMapType 2 def 1 begincodespacerange <0000> <FFFF> endcodespacerange 1 beginbfrange "
        "<0000> <FFFF> <0000> endbfrange endcmap CMapName currentdict /CMap defineresource pop "
        "end end";
    for (size_t i = 0; i < n; i++)
        npages += lines[i] == NULL;
    buf_reset(out);
    CHECK_INT(buf_adds(out, "%PDF-1.4\n"), RC_OK);
    /* 1 catalog, 2 pages, 3 font, 4 info, [5 CID font, 6 ToUnicode], pages */
    off[++nobj] = out->len;
    CHECK_INT(buf_adds(out, "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"), RC_OK);
    off[++nobj] = out->len;
    CHECK_INT(buf_addf(out, "2 0 obj << /Type /Pages /Count %zu /Kids [", npages), RC_OK);
    for (size_t p = 0; p < npages; p++)
        CHECK_INT(buf_addf(out, " %zu 0 R", first + 2 * p), RC_OK);
    CHECK_INT(buf_adds(out, " ] >> endobj\n"), RC_OK);
    off[++nobj] = out->len;
    if (cjk)
        CHECK_INT(buf_adds(out, "3 0 obj << /Type /Font /Subtype /Type0 /BaseFont /SimSun "
                                "/Encoding /Identity-H /DescendantFonts [ 5 0 R ] /ToUnicode 6 0 "
                                "R >> endobj\n"),
                  RC_OK);
    else
        CHECK_INT(buf_adds(out, "3 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> "
                                "endobj\n"),
                  RC_OK);
    off[++nobj] = out->len;
    CHECK_INT(buf_addf(out, "4 0 obj << /Title (%s) >> endobj\n", title), RC_OK);
    if (cjk) {
        off[++nobj] = out->len;
        CHECK_INT(buf_adds(out, "5 0 obj << /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun "
                                "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) "
                                "/Supplement 0 >> /DW 1000 /W [ 32 [ 250 ] ] >> endobj\n"),
                  RC_OK);
        off[++nobj] = out->len;
        CHECK_INT(buf_addf(out, "6 0 obj << /Length %zu >> stream\n%s\nendstream endobj\n",
                           strlen(cmap), cmap),
                  RC_OK);
    }
    size_t i = 0;
    for (size_t p = 0; p < npages; p++) {
        struct buf content = BUF_INIT;
        double y = 780;
        for (; i < n && lines[i]; i++, y -= 16) {
            if (!lines[i][0])
                continue;
            int indent = lines[i][0] == '\t'; /* a tab: indent the line by two glyphs */
            CHECK_INT(buf_addf(&content, "BT /F1 11 Tf %d %.0f Td ", indent ? 72 : 50, y), RC_OK);
            if (cjk) {
                CHECK_INT(buf_adds(&content, "<"), RC_OK);
                for (size_t k = (size_t)indent, len = strlen(lines[i]); k < len;) {
                    uint32_t cp;
                    k += utf8_decode(lines[i] + k, len - k, &cp);
                    CHECK_INT(buf_addf(&content, "%04X", (unsigned)cp), RC_OK);
                }
                CHECK_INT(buf_adds(&content, "> Tj ET\n"), RC_OK);
            } else {
                CHECK_INT(buf_addf(&content, "(%s) Tj ET\n", lines[i] + indent), RC_OK);
            }
        }
        i++; /* the NULL page break */
        off[++nobj] = out->len;
        CHECK_INT(buf_addf(out,
                           "%zu 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                           "/Resources << /Font << /F1 3 0 R >> >> /Contents %zu 0 R >> endobj\n",
                           nobj, nobj + 1),
                  RC_OK);
        off[++nobj] = out->len;
        CHECK_INT(buf_addf(out, "%zu 0 obj << /Length %zu >> stream\n%s\nendstream endobj\n", nobj,
                           content.len, buf_str(&content)),
                  RC_OK);
        buf_release(&content);
    }
    size_t xref = out->len;
    CHECK_INT(buf_addf(out, "xref\n0 %zu\n0000000000 65535 f \n", nobj + 1), RC_OK);
    for (size_t k = 1; k <= nobj; k++)
        CHECK_INT(buf_addf(out, "%010zu 00000 n \n", off[k]), RC_OK);
    CHECK_INT(buf_addf(out,
                       "trailer << /Size %zu /Root 1 0 R /Info 4 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
                       nobj + 1, xref),
              RC_OK);
}

TEST(ingest_pdf_chinese_paragraphs)
{
    /* Wrapped lines join without a space; 第X条 starts a paragraph; the
     * page number line goes; the second page continues the paragraph. */
    const char *lines[] = {"第一章 总则",
                           "",
                           "第一条 为了规范个人存款账户的开立和使用，保护存款人的合法权益，根据",
                           "有关法律制定本规定。",
                           "第二条 本规定适用于境内开立的个人存款账户，存款人应当出示本人身份",
                           "- 1 -",
                           NULL,
                           "证件。",
                           "一、个人身份证件是指居民身份证。"};
    struct buf pdf = BUF_INIT, err = BUF_INIT;
    make_pdf("", 1, lines, sizeof lines / sizeof *lines, &pdf);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("实名制规定.pdf", pdf.p, pdf.len, &d, &err), RC_OK);
    CHECK_STR(d.title, "实名制规定");
    CHECK_INT(d.nblocks, 4);
    if (d.nblocks == 4) {
        CHECK_STR(d.blocks[0].text, "第一章 总则");
        CHECK_STR(d.blocks[1].text,
                  "第一条 为了规范个人存款账户的开立和使用，保护存款人的合法权益，根据有关法律"
                  "制定本规定。");
        CHECK_STR(d.blocks[2].text,
                  "第二条 本规定适用于境内开立的个人存款账户，存款人应当出示本人身份证件。");
        CHECK_STR(d.blocks[3].text, "一、个人身份证件是指居民身份证。");
    }
    doc_release(&d);
    buf_release(&pdf);
    buf_release(&err);
}

TEST(ingest_pdf_indented_paragraphs)
{
    /* Only the first-line indent tells these two paragraphs apart. */
    const char *lines[] = {"\t甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛",
                           "甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸",
                           "\t子丑寅卯辰巳午未申酉子丑寅卯辰巳午未申酉子丑寅卯辰巳午未",
                           "子丑寅卯辰"};
    struct buf pdf = BUF_INIT, err = BUF_INIT;
    make_pdf("", 1, lines, sizeof lines / sizeof *lines, &pdf);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("i.pdf", pdf.p, pdf.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 2);
    if (d.nblocks == 2) {
        CHECK_STR(d.blocks[0].text, "甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛"
                                    "甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸");
        CHECK_STR(d.blocks[1].text,
                  "子丑寅卯辰巳午未申酉子丑寅卯辰巳午未申酉子丑寅卯辰巳午未子丑寅卯辰");
    }
    doc_release(&d);
    buf_release(&pdf);
    buf_release(&err);
}

TEST(ingest_pdf_fenbian_and_part_headings)
{
    /* 第N分编 and 第N部分 open a paragraph even after a full line that does
     * not end a sentence (they used to be glued onto it). */
    const char *lines[] = {
        "第一条 甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己", "第一分编 通则",
        "第二条 子丑寅卯辰巳午未申酉子丑寅卯辰巳午未申酉子丑寅卯辰巳", "第2部分 附则"};
    struct buf pdf = BUF_INIT, err = BUF_INIT;
    make_pdf("", 1, lines, sizeof lines / sizeof *lines, &pdf);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("f.pdf", pdf.p, pdf.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 4);
    if (d.nblocks == 4) {
        CHECK_STR(d.blocks[0].text, "第一条 甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己");
        CHECK_STR(d.blocks[1].text, "第一分编 通则");
        CHECK_STR(d.blocks[2].text, "第二条 子丑寅卯辰巳午未申酉子丑寅卯辰巳午未申酉子丑寅卯辰巳");
        CHECK_STR(d.blocks[3].text, "第2部分 附则");
    }
    doc_release(&d);
    buf_release(&pdf);
    buf_release(&err);
}

TEST(ingest_pdf_bare_numbers_inside_page_kept)
{
    /* A line that is only a number is a page number in the header or
     * footer (the last line here) but content inside the page: "2023"
     * used to be dropped wherever it stood. */
    const char *lines[] = {
        "第一条 甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己庚辛壬癸甲乙丙丁戊己", "第二条 短句。", "2023",
        "第三条 子丑寅卯辰巳午未申酉子丑寅卯辰巳午未申酉子丑寅卯辰巳", "第四条 短句。", "7"};
    struct buf pdf = BUF_INIT, err = BUF_INIT;
    make_pdf("", 1, lines, sizeof lines / sizeof *lines, &pdf);
    struct doc d;
    doc_init(&d);
    CHECK_INT(parse_auto("n.pdf", pdf.p, pdf.len, &d, &err), RC_OK);
    CHECK_INT(d.nblocks, 5);
    if (d.nblocks == 5) {
        CHECK_STR(d.blocks[1].text, "第二条 短句。");
        CHECK_STR(d.blocks[2].text, "2023");
        CHECK_STR(d.blocks[4].text, "第四条 短句。");
    }
    doc_release(&d);
    buf_release(&pdf);
    buf_release(&err);
}

TEST(ingest_pdf_text_and_paragraphs)
{
    /* No CJK font is guaranteed on build machines: the PDF text is ASCII. */
    struct buf pdf = BUF_INIT, err = BUF_INIT;
    const char *lines[] = {"Chapter 1 General",
                           "",
                           "Article 1 These rules govern personal deposit accounts opened at",
                           "any branch of the bank.",
                           "",
                           "Article 2 Depositors show a valid identity document.",
                           "3",
                           NULL,
                           "Article 3 Second page."};
    make_pdf("Microsoft Word - Deposit Rules.doc", 0, lines, sizeof lines / sizeof *lines, &pdf);

    struct doc d;
    doc_init(&d);
    CHECK_INT(ingest_detect("r.pdf", pdf.p, pdf.len), INGEST_PDF);
    CHECK_INT(parse_auto("r.pdf", pdf.p, pdf.len, &d, &err), RC_OK);
    CHECK_STR(d.title, "Deposit Rules");
    CHECK_INT(d.nblocks, 4);
    if (d.nblocks == 4) {
        CHECK_STR(d.blocks[0].text, "Chapter 1 General");
        CHECK_STR(d.blocks[1].text, "Article 1 These rules govern personal deposit accounts "
                                    "opened at any branch of the bank.");
        CHECK_STR(d.blocks[2].text, "Article 2 Depositors show a valid identity document.");
        CHECK_STR(d.blocks[3].text, "Article 3 Second page.");
    }
    doc_release(&d);

    /* truncated and junk PDFs */
    doc_init(&d);
    CHECK_INT(parse_auto("t.pdf", pdf.p, 200, &d, &err), RC_PARSE);
    CHECK_CONTAINS(buf_str(&err), "PDF 文件已损坏 / broken PDF file");
    doc_release(&d);
    doc_init(&d);
    CHECK_INT(parse_auto("j.pdf", "%PDF-1.4\nxx", 11, &d, &err), RC_PARSE);
    doc_release(&d);
    buf_release(&pdf);
    buf_release(&err);
}

/* --- threads ------------------------------------------------------------- */

struct job {
    const struct buf *docx;
    int ok;
};

static void *parse_many(void *arg)
{
    struct job *j = arg;
    static const char *h = "<html><head><title>标题</title></head><body><p>段落</p></body></html>";
    j->ok = 1;
    for (int i = 0; i < 25; i++) {
        struct doc d;
        struct buf err = BUF_INIT;
        doc_init(&d);
        if (ingest_parse(INGEST_DOCX, "x.docx", j->docx->p, j->docx->len, &d, &err) != RC_OK ||
            d.nblocks != 6 || strcmp(d.title, "个人存款管理办法") != 0)
            j->ok = 0;
        doc_release(&d);
        doc_init(&d);
        if (ingest_parse(INGEST_HTML, "x.html", h, strlen(h), &d, &err) != RC_OK ||
            d.nblocks != 1 || strcmp(d.title, "标题") != 0)
            j->ok = 0;
        doc_release(&d);
        buf_release(&err);
    }
    return NULL;
}

TEST(ingest_parallel_threads)
{
    struct buf z = BUF_INIT;
    make_docx(&z, 1);
    ingest_global_init();
    pthread_t th[4];
    struct job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].docx = &z;
        jobs[i].ok = 0;
        CHECK_INT(pthread_create(&th[i], NULL, parse_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK_INT(pthread_join(th[i], NULL), 0);
        CHECK(jobs[i].ok);
    }
    buf_release(&z);
}

/* --- hostile and unknown inputs ------------------------------------------- */

TEST(ingest_unknown_and_random)
{
    struct buf err = BUF_INIT;
    struct doc d;
    unsigned char junk[2048];
    unsigned x = 99;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    doc_init(&d);
    CHECK_INT(parse_auto("r.bin", junk, sizeof junk, &d, &err), RC_UNSUPPORTED);
    CHECK_CONTAINS(buf_str(&err), "不支持的文件类型");
    doc_release(&d);
    /* every parser survives junk */
    for (int t = INGEST_TXT; t <= INGEST_PDF; t++) {
        doc_init(&d);
        buf_reset(&err);
        int rc = ingest_parse((enum ingest_type)t, "r", junk, sizeof junk, &d, &err);
        CHECK(rc == RC_PARSE || rc == RC_OK);
        CHECK(err.len > 0 || rc == RC_OK);
        doc_release(&d);
    }
    doc_init(&d);
    CHECK_INT(ingest_parse(INGEST_JSONL, "a.jsonl", "{}", 2, &d, &err), RC_UNSUPPORTED);
    doc_release(&d);
    buf_release(&err);
}

/* --- jsonl ---------------------------------------------------------------- */

struct seen {
    int n;
    char ids[8][16];
    char titles[8][64];
    size_t paras[8];
};

static int collect(void *ctx, const char *id, struct doc *doc)
{
    struct seen *s = ctx;
    if (s->n < 8) {
        snprintf(s->ids[s->n], sizeof s->ids[0], "%s", id);
        snprintf(s->titles[s->n], sizeof s->titles[0], "%s", doc->title);
        s->paras[s->n] = doc->nblocks;
    }
    s->n++;
    return 0;
}

static int stop_at_first(void *ctx, const char *id, struct doc *doc)
{
    (void)id;
    (void)doc;
    (*(int *)ctx)++;
    return 7;
}

TEST(ingest_jsonl_good_and_bad_lines)
{
    const char *jl =
        "{\"id\":\"a1\",\"title\":\"存款规定\",\"text\":\"第一条 甲。\\n\\n第二条 乙。\"}\n"
        "{\"id\":\"a2\",\"text\":\"x\"\r\n"
        "not json\n"
        "\n"
        "{\"id\":42,\"text\":\"正文\"}\n"
        "{\"title\":\"无id\",\"text\":\"y\"}\n"
        "[1,2]\n"
        "{\"id\":\"bad\",\"text\":\"\xff\"}\n"
        "{\"id\":\"e\",\"text\":\"  \"}\n"
        "{\"id\":\"last\",\"text\":\"z\"}";
    struct seen s = {0};
    struct buf err = BUF_INIT;
    CHECK_INT(ingest_jsonl(jl, strlen(jl), collect, &s, &err), RC_PARSE);
    CHECK_INT(s.n, 3);
    CHECK_STR(s.ids[0], "a1");
    CHECK_STR(s.titles[0], "存款规定");
    CHECK_INT(s.paras[0], 2);
    CHECK_STR(s.ids[1], "42");
    CHECK_STR(s.titles[1], "42");
    CHECK_STR(s.ids[2], "last");
    const char *e = buf_str(&err);
    CHECK_CONTAINS(e, "line 2: ");
    CHECK_CONTAINS(e, "line 3: ");
    CHECK_CONTAINS(e, "line 6: 缺少 id / missing id");
    CHECK_CONTAINS(e, "line 7: ");
    CHECK_CONTAINS(e, "line 8: ");
    CHECK_CONTAINS(e, "line 9: text 为空 / empty text");
    CHECK(strstr(e, "line 5") == NULL);

    buf_reset(&err);
    struct seen ok = {0};
    CHECK_INT(ingest_jsonl("{\"id\":\"1\",\"text\":\"a\"}\n", 22, collect, &ok, &err), RC_OK);
    CHECK_INT(ok.n, 1);
    CHECK_INT(err.len, 0);
    int calls = 0;
    CHECK_INT(ingest_jsonl(jl, strlen(jl), stop_at_first, &calls, &err), 7);
    CHECK_INT(calls, 1);
    buf_release(&err);
}

TEST(ingest_jsonl_too_many_values)
{
    /* A line of 100k empty arrays (300 KB) would cost jansson ~50 bytes per
     * "[]": it is refused unparsed, and detection does not call it JSONL. */
    struct buf jl = BUF_INIT, err = BUF_INIT;
    struct seen s = {0};
    CHECK_INT(buf_adds(&jl, "{\"id\":\"a\",\"text\":\"甲\"}\n{\"id\":\"b\",\"x\":["), RC_OK);
    for (int i = 0; i < 100000; i++)
        CHECK_INT(buf_adds(&jl, "[],"), RC_OK);
    CHECK_INT(buf_adds(&jl, "[]],\"text\":\"乙\"}\n{\"id\":\"c\",\"text\":\"a,[{\\\"\"}\n"), RC_OK);
    CHECK_INT(ingest_jsonl(jl.p, jl.len, collect, &s, &err), RC_PARSE);
    CHECK_INT(s.n, 2);
    if (s.n == 2) {
        CHECK_STR(s.ids[0], "a");
        CHECK_STR(s.ids[1], "c"); /* commas and brackets inside strings do not count */
    }
    CHECK_CONTAINS(buf_str(&err), "line 2: JSON 值过多 / too many JSON values in one line");
    /* the heavy line first: not taken for JSON lines */
    CHECK_INT(ingest_detect("c.jsonl", strchr(jl.p, '\n') + 1,
                            jl.len - (size_t)(strchr(jl.p, '\n') + 1 - jl.p)),
              INGEST_TXT);
    buf_release(&jl);
    buf_release(&err);
}
