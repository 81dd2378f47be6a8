/* ingest_detect: the file type from the bytes (PDF magic, zip contents,
 * binary junk, JSON lines, HTML markup, Markdown headings); the extension
 * only breaks ties between text kinds or names a zip too broken to open. */
#include "ingest/ingest.h"
#include "ingest/ingest_int.h"

#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/util.h"
#include "text/utf8.h"

#define SNIFF 8192         /* bytes of text looked at for markup */
#define SAMPLE (64 * 1024) /* bytes looked at for the text encoding */

static const char *memmem_ci(const char *h, size_t hn, const char *needle)
{
    size_t nn = strlen(needle);
    for (size_t i = 0; nn <= hn && i <= hn - nn; i++)
        if (strncasecmp(h + i, needle, nn) == 0)
            return h + i;
    return NULL;
}

static enum ingest_type detect_zip(const char *name, const char *p, size_t n)
{
    enum ingest_type t = INGEST_UNKNOWN;
    zip_t *za = ingest_zip_open(p, n);
    if (!za) {
        /* Too broken to open: trust the name so the parser can say so. */
        if (name && ends_with_ci(name, ".docx"))
            t = INGEST_DOCX;
        else if (name && ends_with_ci(name, ".xlsx"))
            t = INGEST_XLSX;
        goto out;
    }
    if (zip_name_locate(za, "word/document.xml", ZIP_FL_NOCASE) >= 0)
        t = INGEST_DOCX;
    else if (zip_name_locate(za, "xl/workbook.xml", ZIP_FL_NOCASE) >= 0)
        t = INGEST_XLSX;
    zip_discard(za);
out:
    return t;
}

/* Binary: NUL bytes, many control characters, or neither UTF-8 nor GB18030.
 * Judged on a sample cut at a newline (never inside a UTF-8 or GB18030
 * character); the parser checks the whole text anyway. */
static int looks_binary(const char *p, size_t n)
{
    size_t full = n;
    if (n > SAMPLE) {
        size_t cut = SAMPLE;
        while (cut > SAMPLE / 2 && p[cut - 1] != '\n')
            cut--;
        if (p[cut - 1] != '\n') /* one long line: cut before a UTF-8 lead byte */
            for (cut = SAMPLE; cut > SAMPLE - 4 && ((unsigned char)p[cut] & 0xC0) == 0x80;)
                cut--;
        n = cut;
    }
    size_t ctrl = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == 0)
            return 1;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1B)
            ctrl++;
    }
    if (ctrl > 8 && ctrl > n / 64)
        return 1;
    if (utf8_valid(p, n))
        return 0;
    /* Callers may pass only the head of a file (upload checks): a GB18030
     * character cut at the end must not make the text look binary. */
    for (size_t cut = 0; cut < 4 && cut < n; cut++)
        if (ingest_is_gb18030(p, n - cut))
            return 0;
    /* a GB18030 sample may have been cut inside a character */
    return n == full || !ingest_is_gb18030(p, full);
}

/* JSON lines: the first few non-blank lines all start with '{' and at least
 * one of them is an object with a "text" member. */
static int looks_jsonl(const char *p, size_t n)
{
    int seen = 0, good = 0;
    size_t i = 0;
    while (i < n && seen < 10) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - p) : n;
        size_t a = i, b = end;
        while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\r'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\r'))
            b--;
        if (a < b) {
            if (p[a] != '{')
                return 0;
            seen++;
            if (!ingest_json_line_ok(p + a, b - a))
                return 0; /* jansson would spend ~50 bytes per "[]" */
            json_error_t je;
            json_t *j = json_loadb(p + a, b - a, 0, &je);
            if (j && json_is_object(j) && json_is_string(json_object_get(j, "text")))
                good++;
            json_decref(j);
        }
        i = end + 1;
    }
    return good > 0;
}

static int looks_html(const char *name, const char *p, size_t n)
{
    static const char *strong[] = {"<!doctype html", "<html", "<body", "<head>", "<head "};
    static const char *weak[] = {"<p>",  "<p ",  "<table", "<div", "<h1",  "<h2",   "<h3",
                                 "<br>", "<br/", "<ul>",   "<ol>", "<li>", "<span", "<title>"};
    size_t m = n < SNIFF ? n : SNIFF;
    for (size_t i = 0; i < sizeof strong / sizeof *strong; i++)
        if (memmem_ci(p, m, strong[i]))
            return 1;
    if (name && (ends_with_ci(name, ".md") || ends_with_ci(name, ".markdown")))
        return 0;
    for (size_t i = 0; i < sizeof weak / sizeof *weak; i++)
        if (memmem_ci(p, m, weak[i]))
            return 1;
    return 0;
}

/* An ATX heading ("# x" .. "###### x") or a pipe-table separator line. */
static int looks_md(const char *p, size_t n)
{
    size_t m = n < SNIFF ? n : SNIFF, i = 0;
    while (i < m) {
        const char *nl = memchr(p + i, '\n', m - i);
        size_t end = nl ? (size_t)(nl - p) : m, k = i;
        while (k < end && p[k] == '#' && k - i < 7)
            k++;
        if (k > i && k - i <= 6 && k < end && (p[k] == ' ' || p[k] == '\t'))
            return 1;
        if (end - i >= 3 && (p[i] == '|' || p[i] == '-' || p[i] == ':')) {
            size_t dashes = 0, other = 0;
            for (size_t j = i; j < end; j++) {
                if (p[j] == '-')
                    dashes++;
                else if (p[j] != '|' && p[j] != ':' && p[j] != ' ' && p[j] != '\r')
                    other++;
            }
            if (dashes >= 3 && !other && memchr(p + i, '|', end - i))
                return 1;
        }
        i = end + 1;
    }
    return 0;
}

enum ingest_type ingest_detect(const char *name, const void *data, size_t n)
{
    const char *p = data ? (const char *)data : "";
    if (!data)
        n = 0;
    int md_ext = name && (ends_with_ci(name, ".md") || ends_with_ci(name, ".markdown"));
    if (n == 0)
        return md_ext ? INGEST_MD : INGEST_TXT; /* the parser reports it empty */
    size_t lead = 0;                            /* PDF readers accept a little leading whitespace */
    while (lead < n && lead < 16 && (p[lead] == ' ' || p[lead] == '\r' || p[lead] == '\n'))
        lead++;
    if (n - lead >= 5 && memcmp(p + lead, "%PDF-", 5) == 0)
        return INGEST_PDF;
    if (n >= 4 && memcmp(p, "PK\3\4", 4) == 0)
        return detect_zip(name, p, n);
    if (looks_binary(p, n))
        return INGEST_UNKNOWN;
    if (looks_jsonl(p, n))
        return INGEST_JSONL;
    if (looks_html(name, p, n))
        return INGEST_HTML;
    if (md_ext || looks_md(p, n))
        return INGEST_MD;
    return INGEST_TXT;
}
