/* Question-type cues by phrase lists and a numeral+unit scan. */
#define _GNU_SOURCE /* memmem */
#include "kb/cues.h"

#include "text/utf8.h"

#include <stdint.h>
#include <string.h>

static const char *const q_definition[] = {
    "什么叫",   "什么是",   "是什么意思", "指什么",   "指的是什么", "何谓",     "含义",     "定义",
    "怎么定义", "包括哪些", "包含哪些",   "哪些属于", "算不算",     "属不属于", "是否属于", NULL};
static const char *const q_quantity[] = {
    "几天", "几日", "几年", "几个月", "几岁", "多少", "多久", "多长", "多大",       "最长", "最多",
    "最高", "最低", "期限", "比例",   "几次", "几倍", "上限", "限额", "几个工作日", NULL};
static const char *const q_penalty[] = {"处罚", "罚多少", "罚款",   "法律责任", "追究",
                                        "判刑", "坐牢",   "怎么罚", NULL};

static const char *const c_definition[] = {"是指", "所称", NULL};
static const char *const c_penalty[] = {"罚款", "罚金", "没收", "有期徒刑", "拘役",
                                        "警告", "吊销", "处分", NULL};

/* Units that follow a numeral in a quantity or time limit. */
static const char *const units[] = {"个工作日", "工作日", "个月", "周岁", "小时", "万元",
                                    "日",       "天",     "年",   "月",   "岁",   "元",
                                    "倍",       "%",      "％",   NULL};

static int has_any(const char *s, size_t n, const char *const *list)
{
    for (const char *const *p = list; *p; p++)
        if (memmem(s, n, *p, strlen(*p)))
            return 1;
    return 0;
}

static int is_numeral(uint32_t cp)
{
    if (cp >= '0' && cp <= '9')
        return 1;
    static const uint32_t cn[] = {
        0x4e00, 0x4e8c, 0x4e09, 0x56db, 0x4e94, 0x516d, 0x4e03, 0x516b, 0x4e5d,
        0x5341, 0x767e, 0x5343, 0x4e07, 0x4e24, 0x534a, 0x96f6, 0x3007}; /* 一二三四五六七八九十百千万两半零〇
                                                                          */
    for (size_t i = 0; i < sizeof cn / sizeof cn[0]; i++)
        if (cp == cn[i])
            return 1;
    return 0;
}

/* A numeral run not preceded by 第 (article numbers) and followed by a unit. */
static int has_quantity(const char *s, size_t n)
{
    if (memmem(s, n, "百分之", strlen("百分之")))
        return 1;
    size_t i = 0;
    uint32_t prev = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_decode(s + i, n - i, &cp);
        if (is_numeral(cp) && prev != 0x7b2c /* 第 */) {
            size_t j = i + l;
            uint32_t c2 = cp;
            while (j < n && is_numeral(c2)) {
                size_t l2 = utf8_decode(s + j, n - j, &c2);
                if (!is_numeral(c2))
                    break;
                j += l2;
            }
            for (const char *const *u = units; *u; u++) {
                size_t m = strlen(*u);
                if (j + m <= n && memcmp(s + j, *u, m) == 0)
                    return 1;
            }
            i = j;
            prev = cp;
            continue;
        }
        prev = cp;
        i += l;
    }
    return 0;
}

unsigned cue_question(const char *q, size_t n)
{
    unsigned c = 0;
    if (has_any(q, n, q_definition))
        c |= CUE_DEFINITION;
    if (has_any(q, n, q_quantity))
        c |= CUE_QUANTITY;
    if (has_any(q, n, q_penalty))
        c |= CUE_PENALTY;
    return c;
}

/* Copies the term a definition names into out: the text after 所称 (or
 * before 是指) up to the nearest punctuation, quotes removed. */
static size_t defined_term(const char *from, const char *to, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = from; p < to && n + 4 < cap;) {
        uint32_t cp;
        size_t l = utf8_decode(p, (size_t)(to - p), &cp);
        if (cp == 0x201c || cp == 0x201d || cp == '"') { /* “ ” " */
            p += l;
            continue;
        }
        memcpy(out + n, p, l);
        n += l;
        p += l;
    }
    out[n] = '\0';
    return n;
}

static int is_stop(uint32_t cp)
{
    /* ，。；：、（）, ; : ( ) and whitespace end a term */
    return cp == 0xff0c || cp == 0x3002 || cp == 0xff1b || cp == 0xff1a || cp == 0x3001 ||
           cp == 0xff08 || cp == 0xff09 || cp == ',' || cp == ';' || cp == ':' || cp == '(' ||
           cp == ')' || cp == ' ' || cp == '\n';
}

size_t cue_defines(const char *text, const char *question)
{
    size_t best = 0;
    char term[256];
    for (const char *p = strstr(text, "所称"); p; p = strstr(p + 1, "所称")) {
        const char *s = p + strlen("所称"), *e = s;
        while (*e) {
            uint32_t cp;
            size_t l = utf8_decode(e, strlen(e), &cp);
            if (is_stop(cp) || strncmp(e, "是指", strlen("是指")) == 0)
                break;
            e += l;
        }
        size_t n = defined_term(s, e, term, sizeof term);
        if (n >= 6 && n > best && strstr(question, term))
            best = n;
    }
    for (const char *p = strstr(text, "是指"); p; p = strstr(p + 1, "是指")) {
        const char *e = p, *s = p;
        while (s > text) { /* back to the previous punctuation */
            const char *q = s - 1;
            while (q > text && ((unsigned char)*q & 0xc0) == 0x80)
                q--;
            uint32_t cp;
            utf8_decode(q, (size_t)(s - q), &cp);
            if (is_stop(cp) || strncmp(q, "所称", strlen("所称")) == 0)
                break;
            s = q;
        }
        if (strncmp(s, "所称", strlen("所称")) == 0)
            continue; /* handled above */
        size_t n = defined_term(s, e, term, sizeof term);
        if (n >= 6 && n > best && strstr(question, term))
            best = n;
    }
    return best;
}

unsigned cue_chunk(const char *text, size_t n)
{
    unsigned c = 0;
    if (has_any(text, n, c_definition))
        c |= CUE_DEFINITION;
    if (has_quantity(text, n))
        c |= CUE_QUANTITY;
    if (has_any(text, n, c_penalty))
        c |= CUE_PENALTY;
    return c;
}
