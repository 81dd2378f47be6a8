/* Per-code-point folding for search: NFKC (ICU), lower-casing, traditional →
 * simplified (OpenCC t2s plus a small table of bank characters it misses).
 * Everything is precomputed into one table for the BMP at norm_init, so a
 * fold is a table lookup and token offsets map back to the original bytes. */
#include "text/norm.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <opencc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#define NORM_MAX_OUT 8

/* g_fold[cp] for the BMP: a single code point (< 0x110000), or FOLD_MULTI |
 * len << 24 | offset into g_multi (len 0 means: drop). */
#define FOLD_MULTI 0x80000000u
#define FOLD_DROP FOLD_MULTI

static uint32_t g_fold[0x10000];
static uint32_t *g_multi;
static size_t g_multi_len, g_multi_cap;
static const UNormalizer2 *g_nfkc; /* NULL when ICU failed */
static int g_init_rc = RC_INTERNAL;
static double g_init_ms;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Characters bank documents use that OpenCC t2s leaves alone or maps to a
 * form that differs from mainland usage (帳戶 → 帐户, but banks write 账户).
 * Applied after t2s, so both the traditional and the variant forms land on
 * the right side. */
static const uint32_t bank_map[][2] = {
    {0x5E33, 0x8D26}, /* 帳 → 账 */
    {0x5E10, 0x8D26}, /* 帐 → 账 (account; 帐篷 is rare in bank text) */
    {0x8CEC, 0x8D26}, /* 賬 → 账 */
    {0x6238, 0x6237}, /* 戸 → 户 */
    {0x6236, 0x6237}, /* 戶 → 户 */
    {0x6ED9, 0x6C47}, /* 滙 → 汇 (滙豐) */
    {0x532F, 0x6C47}, /* 匯 → 汇 */
    {0x7DAB, 0x7EBF}, /* 綫 → 线 */
    {0x8A3C, 0x8BC1}, /* 証 → 证 */
    {0x5167, 0x5185}, /* 內 → 内 */
    {0x5024, 0x503C}, /* 値 → 值 */
    {0x7523, 0x4EA7}, /* 産 → 产 */
    {0x6B35, 0x6B3E}, /* 欵 → 款 */
    {0x7A05, 0x7A0E}, /* 稅 → 税 */
    {0x8AAC, 0x8BF4}, /* 説 → 说 */
    {0x812B, 0x8131}, /* 脫 → 脱 */
    {0x537D, 0x5373}, /* 卽 → 即 */
    {0x65E3, 0x65E2}, /* 旣 → 既 */
    {0x6C5A, 0x6C61}, /* 汚 → 污 */
    {0x7FA3, 0x7FA4}, /* 羣 → 群 */
};

static void multi_add(uint32_t cp, const uint32_t *seq, size_t len)
{
    if (len > NORM_MAX_OUT)
        len = NORM_MAX_OUT;
    if (len == 0) {
        g_fold[cp] = FOLD_DROP;
        return;
    }
    if (len == 1) {
        g_fold[cp] = seq[0];
        return;
    }
    g_multi = xgrow(g_multi, &g_multi_cap, g_multi_len + len, sizeof *g_multi);
    memcpy(g_multi + g_multi_len, seq, len * sizeof *seq);
    g_fold[cp] = FOLD_MULTI | ((uint32_t)len << 24) | (uint32_t)g_multi_len;
    g_multi_len += len;
}

/* Characters that carry no meaning for search: controls other than
 * whitespace, format characters (ZWSP, BOM, soft hyphen...), variation
 * selectors. */
static int is_dropped(uint32_t cp)
{
    if (cp < 0x20)
        return !(cp >= 0x09 && cp <= 0x0D);
    if (cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
        return 1;
    if (cp == 0x00AD || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF)
        return 1;
    if ((cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF) ||
        (cp >= 0xE0000 && cp <= 0xE007F))
        return 1;
    return 0;
}

/* NFKC of one code point into out; returns the count (or 1 = itself when
 * ICU is missing or fails; full-width ASCII is then folded by hand). */
static size_t nfkc_cp(uint32_t cp, uint32_t *out, size_t cap)
{
    UChar src[2], dst[64], dec[32];
    int32_t nsrc = 0, ndst;
    UErrorCode err = U_ZERO_ERROR;
    size_t n = 0;

    if (!g_nfkc) {
        if (cp >= 0xFF01 && cp <= 0xFF5E)
            cp -= 0xFEE0;
        else if (cp == 0x3000)
            cp = 0x20;
        out[0] = cp;
        return 1;
    }
    /* No decomposition mapping: a lone code point is its own NFKC. */
    if (unorm2_getDecomposition(g_nfkc, (UChar32)cp, dec, 32, &err) < 0 || U_FAILURE(err)) {
        out[0] = cp;
        return 1;
    }
    U16_APPEND_UNSAFE(src, nsrc, cp);
    err = U_ZERO_ERROR;
    ndst = unorm2_normalize(g_nfkc, src, nsrc, dst, 64, &err);
    if (U_FAILURE(err) || ndst <= 0) {
        out[0] = cp;
        return 1;
    }
    for (int32_t i = 0; i < ndst && n < cap;) {
        UChar32 c;
        U16_NEXT(dst, i, ndst, c);
        out[n++] = (uint32_t)c;
    }
    return n;
}

/* The post-NFKC step for one code point: lower-case, then t2s and bank
 * variants (g_fold holds just that for BMP code points at this stage). */
static uint32_t post_map(const uint32_t *post, uint32_t cp)
{
    return cp < 0x10000 ? post[cp] : cp;
}

/* Fills post[] with OpenCC t2s single-character mappings for the CJK BMP
 * ranges. Returns RC_OK or RC_UNSUPPORTED when OpenCC cannot be used. */
static int load_t2s(uint32_t *post)
{
    static const uint32_t ranges[][2] = {{0x3400, 0x4DBF}, {0x4E00, 0x9FFF}};
    opencc_t od = (opencc_t)-1;
    char *conv = NULL;
    struct buf in = BUF_INIT;
    int rc = RC_UNSUPPORTED;

    od = opencc_open("t2s.json");
    if (od == (opencc_t)-1 || od == NULL) {
        log_warn("norm: opencc t2s unavailable; traditional characters will not fold");
        goto out;
    }
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        for (uint32_t cp = ranges[r][0]; cp <= ranges[r][1]; cp++) {
            char u[5];
            size_t len = utf8_encode(cp, u);
            u[len++] = '\n';
            if (buf_add(&in, u, len) != RC_OK)
                goto out;
        }
    }
    conv = opencc_convert_utf8(od, in.p, in.len);
    if (!conv) {
        log_warn("norm: opencc conversion failed");
        goto out;
    }
    /* Walk input and output line by line in step; keep 1 char → 1 char. */
    {
        const char *o = conv, *oend = conv + strlen(conv);
        for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
            for (uint32_t cp = ranges[r][0]; cp <= ranges[r][1]; cp++) {
                const char *nl = memchr(o, '\n', (size_t)(oend - o));
                uint32_t to;
                if (!nl) {
                    log_warn("norm: opencc output out of step at U+%04X", (unsigned)cp);
                    goto out;
                }
                size_t len = (size_t)(nl - o);
                if (len > 0 && utf8_decode(o, len, &to) == len && to != cp && utf8_is_cjk(to))
                    post[cp] = to;
                o = nl + 1;
            }
        }
    }
    rc = RC_OK;
out:
    if (conv)
        opencc_convert_utf8_free(conv);
    if (od != (opencc_t)-1 && od != NULL)
        (void)opencc_close(od);
    buf_release(&in);
    return rc;
}

static void init_once(void)
{
    uint64_t t0 = now_ns();
    UErrorCode err = U_ZERO_ERROR;
    uint32_t *post = xmalloc(0x10000 * sizeof *post);
    int rc = RC_OK;

    g_nfkc = unorm2_getNFKCInstance(&err);
    if (U_FAILURE(err) || !g_nfkc) {
        log_warn("norm: ICU NFKC unavailable (%s); folding degrades", u_errorName(err));
        g_nfkc = NULL;
        rc = RC_UNSUPPORTED;
    }

    /* post[]: lower-casing (simple mappings; ICU, else ASCII only). */
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        uint32_t lo = cp;
        if (cp >= 'A' && cp <= 'Z')
            lo = cp + 32;
        else if (cp >= 0x80 && g_nfkc && !(cp >= 0xD800 && cp <= 0xDFFF))
            lo = (uint32_t)u_tolower((UChar32)cp);
        post[cp] = lo;
    }
    if (load_t2s(post) != RC_OK && rc == RC_OK)
        rc = RC_UNSUPPORTED;
    for (size_t i = 0; i < sizeof bank_map / sizeof bank_map[0]; i++) {
        /* Redirect both the variant and anything t2s sent to it. */
        uint32_t from = bank_map[i][0], to = bank_map[i][1];
        post[from] = to;
        for (uint32_t cp = 0x3400; cp <= 0x9FFF; cp++)
            if (post[cp] == from)
                post[cp] = to;
    }

    /* g_fold = post ∘ NFKC, with drops. */
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        uint32_t seq[NORM_MAX_OUT];
        size_t n;
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            g_fold[cp] = FOLD_DROP;
            continue;
        }
        if (cp < 0x80) { /* fast, and independent of ICU */
            g_fold[cp] = is_dropped(cp) ? FOLD_DROP : post[cp];
            continue;
        }
        if (is_dropped(cp)) {
            g_fold[cp] = FOLD_DROP;
            continue;
        }
        n = nfkc_cp(cp, seq, NORM_MAX_OUT);
        for (size_t i = 0; i < n; i++)
            seq[i] = post_map(post, seq[i]);
        multi_add(cp, seq, n);
    }
    free(post);
    g_init_rc = rc;
    g_init_ms = (double)(now_ns() - t0) / 1e6;
    log_debug("norm: tables built in %.1f ms (%zu multi code points)", g_init_ms, g_multi_len);
}

int norm_init(void)
{
    if (pthread_once(&g_once, init_once) != 0)
        return RC_INTERNAL;
    return g_init_rc;
}

double norm_init_ms(void)
{
    (void)norm_init();
    return g_init_ms;
}

size_t norm_fold_cp(uint32_t cp, uint32_t out[8])
{
    uint32_t e;
    size_t n;

    (void)norm_init();
    if (cp < 0x10000) {
        e = g_fold[cp];
        if (!(e & FOLD_MULTI)) {
            out[0] = e;
            return 1;
        }
        n = (e >> 24) & 0x7F;
        memcpy(out, g_multi + (e & 0xFFFFFF), n * sizeof *out);
        return n;
    }
    if (cp > 0x10FFFF || is_dropped(cp))
        return 0;
    /* Outside the BMP (rare): NFKC on the spot, then fold what it gives. */
    {
        uint32_t seq[NORM_MAX_OUT];
        size_t k = nfkc_cp(cp, seq, NORM_MAX_OUT);
        n = 0;
        for (size_t i = 0; i < k && n < NORM_MAX_OUT; i++) {
            uint32_t c = seq[i];
            if (c < 0x10000) {
                e = g_fold[c];
                if (e & FOLD_MULTI) {
                    size_t m = (e >> 24) & 0x7F;
                    for (size_t j = 0; j < m && n < NORM_MAX_OUT; j++)
                        out[n++] = g_multi[(e & 0xFFFFFF) + j];
                    continue;
                }
                c = e;
            }
            out[n++] = c;
        }
    }
    return n;
}

/* Punctuation variants (after NFKC) → one ASCII-ish form, for norm_for_match. */
static uint32_t match_punct(uint32_t c)
{
    switch (c) {
    case 0x3002: /* 。 */
        return '.';
    case 0x3001: /* 、 */
        return ',';
    case 0x201C:
    case 0x201D:
    case 0x201E:
    case 0x201F:
    case 0x300C:
    case 0x300D:
    case 0x300E:
    case 0x300F:
    case 0x301D:
    case 0x301E:
        return '"';
    case 0x2018:
    case 0x2019:
    case 0x201A:
    case 0x201B:
        return '\'';
    case 0x300A:
    case 0x3008:
        return '<';
    case 0x300B:
    case 0x3009:
        return '>';
    case 0x3010:
    case 0x3014:
    case 0x3016:
        return '[';
    case 0x3011:
    case 0x3015:
    case 0x3017:
        return ']';
    case 0x2010:
    case 0x2011:
    case 0x2012:
    case 0x2013:
    case 0x2014:
    case 0x2015:
    case 0x2212:
    case 0x2500:
    case 0xFE58:
        return '-';
    case 0x301C:
        return '~';
    case 0x30FB:
    case 0x2027:
    case 0x2022:
        return 0xB7;
    default:
        return c;
    }
}

static int is_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Appends the folded form of p[0..n) to out; when `match` is set also drops
 * whitespace and maps punctuation variants to one form. */
static int fold_into(const char *p, size_t n, struct buf *out, int match)
{
    char chunk[512];
    size_t used = 0, i = 0;
    int rc = RC_OK;

    (void)norm_init();
    while (i < n) {
        uint32_t cp, seq[NORM_MAX_OUT];
        size_t k;
        i += utf8_decode(p + i, n - i, &cp);
        k = norm_fold_cp(cp, seq);
        if (used + k * 4 > sizeof chunk) {
            rc = buf_add(out, chunk, used);
            if (rc != RC_OK)
                goto out;
            used = 0;
        }
        for (size_t j = 0; j < k; j++) {
            uint32_t c = seq[j];
            if (match) {
                if (is_space(c))
                    continue;
                c = match_punct(c);
            }
            used += utf8_encode(c, chunk + used);
        }
    }
    if (used > 0 || !out->p)
        rc = buf_add(out, chunk, used);
out:
    return rc;
}

int norm_fold(const char *p, size_t n, struct buf *out)
{
    return fold_into(p, n, out, 0);
}

int norm_for_match(const char *p, size_t n, struct buf *out)
{
    return fold_into(p, n, out, 1);
}
