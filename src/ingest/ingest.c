/* ingest_parse: the size cap, dispatch to one parser per type, and the
 * "no text at all" check; plus the text helpers the parsers share (charset
 * decoding with ICU, titles from file names, joining wrapped lines). */
#include "ingest/ingest.h"
#include "ingest/ingest_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <pthread.h>
#include <unicode/ucnv.h>
#include <unicode/ustring.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "text/utf8.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* libxml2 reports some errors (encoding failures) on stderr even with
 * XML_PARSE_NOERROR; we report them through return values instead. */
static void xml_silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void init_libs(void)
{
    xmlInitParser();
}

void ingest_global_init(void)
{
    int rc = pthread_once(&init_once, init_libs);
    (void)rc; /* pthread_once cannot fail with a valid, static once object */
}

void ingest_errf(struct buf *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vaddf(err, fmt, ap);
    va_end(ap);
    (void)rc; /* a message cut short by the caller's cap is still an error report */
}

const char *ingest_type_name(enum ingest_type t)
{
    switch (t) {
    case INGEST_TXT:
        return "txt";
    case INGEST_MD:
        return "md";
    case INGEST_HTML:
        return "html";
    case INGEST_DOCX:
        return "docx";
    case INGEST_XLSX:
        return "xlsx";
    case INGEST_PDF:
        return "pdf";
    case INGEST_JSONL:
        return "jsonl";
    case INGEST_UNKNOWN:
        break;
    }
    return "unknown";
}

int ingest_parse(enum ingest_type t, const char *name, const void *data, size_t n, struct doc *out,
                 struct buf *err)
{
    int rc = RC_OK;
    const char *p = data ? (const char *)data : "";
    if (!data)
        n = 0;
    if (!name)
        name = "";
    ingest_global_init();
    xmlSetGenericErrorFunc(NULL, xml_silent); /* this thread's handler only */
    if (n > INGEST_MAX_INPUT) {
        ingest_errf(err, "文件过大（上限 %zu MB）/ file too large (limit %zu MB)",
                    (size_t)INGEST_MAX_INPUT >> 20, (size_t)INGEST_MAX_INPUT >> 20);
        rc = RC_TOO_BIG;
        goto out;
    }
    if (n == 0 && t != INGEST_UNKNOWN && t != INGEST_JSONL) {
        ingest_errf(err, "文件为空 / empty file");
        rc = RC_PARSE;
        goto out;
    }
    switch (t) {
    case INGEST_TXT:
        rc = ingest_parse_txt(name, p, n, out, err);
        break;
    case INGEST_MD:
        rc = ingest_parse_md(name, p, n, out, err);
        break;
    case INGEST_HTML:
        rc = ingest_parse_html(name, p, n, out, err);
        break;
    case INGEST_DOCX:
        rc = ingest_parse_docx(name, p, n, out, err);
        break;
    case INGEST_XLSX:
        rc = ingest_parse_xlsx(name, p, n, out, err);
        break;
    case INGEST_PDF:
        rc = ingest_parse_pdf(name, p, n, out, err);
        break;
    case INGEST_JSONL:
        ingest_errf(err,
                    "JSONL 语料请用 ingest_jsonl 逐行导入 / use ingest_jsonl for JSONL corpora");
        rc = RC_UNSUPPORTED;
        break;
    default:
        ingest_errf(err, "不支持的文件类型 / unsupported file type");
        rc = RC_UNSUPPORTED;
        break;
    }
    if (rc == RC_OK && out->nblocks == 0) {
        if (t == INGEST_PDF)
            ingest_errf(err, "PDF 中没有可提取的文字（可能是扫描件）/ no extractable text in PDF "
                             "(scanned images?)");
        else
            ingest_errf(err, "文件中没有可提取的文字 / no extractable text in file");
        rc = RC_PARSE;
    }
    if (rc == RC_OK && out->title[0] == '\0')
        ingest_title_from_name(out, name);
out:
    return rc;
}

int ingest_is_gb18030(const char *p, size_t n)
{
    char *u = NULL;
    size_t len = 0;
    struct buf scratch = BUF_INIT;
    int rc = ingest_to_utf8(p, n, "gb18030", &u, &len, &scratch);
    free(u);
    buf_release(&scratch);
    return rc == RC_OK;
}

int ingest_to_utf8(const char *p, size_t n, const char *charset, char **out, size_t *out_len,
                   struct buf *err)
{
    int rc = RC_OK;
    UConverter *cnv = NULL;
    UChar *u = NULL;
    char *s = NULL;
    *out = NULL;
    *out_len = 0;
    if (utf8_valid(p, n)) {
        if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
            p += 3;
            n -= 3;
        }
        *out = xstrndup(p, n);
        *out_len = n;
        goto out;
    }
    if (n > INT32_MAX / 4) {
        ingest_errf(err, "文本过大 / text too large");
        rc = RC_TOO_BIG;
        goto out;
    }
    UErrorCode st = U_ZERO_ERROR;
    cnv = ucnv_open(charset ? charset : "gb18030", &st);
    if (U_FAILURE(st)) {
        cnv = NULL;
        ingest_errf(err, "不支持的字符集 %.40s / unsupported charset",
                    charset ? charset : "gb18030");
        rc = RC_PARSE;
        goto out;
    }
    ucnv_setToUCallBack(cnv, UCNV_TO_U_CALLBACK_STOP, NULL, NULL, NULL, &st);
    /* Each input byte yields at most one UTF-16 unit for multi-byte and
     * single-byte charsets alike; the +1 leaves room for the terminator. */
    int32_t ucap = (int32_t)n + 1;
    u = xmalloc((size_t)ucap * sizeof *u);
    int32_t ulen = ucnv_toUChars(cnv, u, ucap, p, (int32_t)n, &st);
    if (U_FAILURE(st) || ulen >= ucap) {
        ingest_errf(
            err, "文件不是有效的 UTF-8 或 GB18030 文本 / text is neither valid UTF-8 nor GB18030");
        rc = RC_PARSE;
        goto out;
    }
    int32_t scap = ulen * 3 + 1, slen = 0;
    s = xmalloc((size_t)scap);
    u_strToUTF8(s, scap, &slen, u, ulen, &st);
    if (U_FAILURE(st) || slen >= scap) {
        ingest_errf(
            err, "文件不是有效的 UTF-8 或 GB18030 文本 / text is neither valid UTF-8 nor GB18030");
        rc = RC_PARSE;
        goto out;
    }
    s[slen] = '\0';
    if (slen >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        memmove(s, s + 3, (size_t)slen - 2);
        slen -= 3;
    }
    *out = s;
    *out_len = (size_t)slen;
    s = NULL;
out:
    free(s);
    free(u);
    if (cnv)
        ucnv_close(cnv);
    return rc;
}

void ingest_title_from_name(struct doc *d, const char *name)
{
    const char *base = name ? name : "";
    for (const char *q = base; *q; q++)
        if (*q == '/' || *q == '\\')
            base = q + 1;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot > base) {
        size_t ext = n - (size_t)(dot + 1 - base), i;
        for (i = 0; i < ext; i++) {
            char c = dot[1 + i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                break;
        }
        if (ext >= 1 && ext <= 8 && i == ext)
            n = (size_t)(dot - base);
    }
    if (!utf8_valid(base, n)) {
        char *u = NULL;
        size_t len = 0;
        struct buf scratch = BUF_INIT;
        if (ingest_to_utf8(base, n, "gb18030", &u, &len, &scratch) == RC_OK)
            doc_set_title(d, u, len);
        else
            doc_set_title(d, base, n); /* doc_set_title repairs bad bytes */
        free(u);
        buf_release(&scratch);
    } else {
        doc_set_title(d, base, n);
    }
    if (d->title[0] == '\0')
        doc_set_title(d, "未命名", strlen("未命名"));
}

/* CJK ideographs and the full-width punctuation that sits between them. */
static int joins_tight(uint32_t cp)
{
    return utf8_is_cjk(cp) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFFEF) ||
           (cp >= 0x2018 && cp <= 0x201F) || cp == 0x2026 || cp == 0x2014;
}

/* True when the last few characters of b include a CJK one. */
static int tail_has_cjk(const struct buf *b)
{
    size_t i = b->len > 24 ? b->len - 24 : 0;
    while (i < b->len && ((unsigned char)b->p[i] & 0xC0) == 0x80)
        i++; /* start on a character boundary */
    while (i < b->len) {
        uint32_t cp;
        i += utf8_decode(b->p + i, b->len - i, &cp);
        if (utf8_is_cjk(cp))
            return 1;
    }
    return 0;
}

static int is_digit_cp(uint32_t cp)
{
    return cp >= '0' && cp <= '9';
}

int ingest_join_line(struct buf *para, const char *line, size_t n)
{
    int rc = RC_OK;
    if (n == 0)
        goto out;
    if (para->len > 0) {
        size_t i = para->len - 1;
        while (i > 0 && para->len - i < 4 && ((unsigned char)para->p[i] & 0xC0) == 0x80)
            i--;
        uint32_t a, b;
        utf8_decode(para->p + i, para->len - i, &a);
        utf8_decode(line, n, &b);
        /* No space next to CJK, nor inside a number wrapped in Chinese text
         * (100|0元); Latin words keep theirs. */
        int tight = joins_tight(a) || joins_tight(b) ||
                    (is_digit_cp(a) && is_digit_cp(b) && tail_has_cjk(para));
        if (!tight && a != ' ' && b != ' ') {
            rc = buf_addc(para, ' ');
            if (rc)
                goto out;
        }
    }
    rc = buf_add(para, line, n);
out:
    return rc;
}
