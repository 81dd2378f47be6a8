/* Tests for src/kb/synonyms_default.c: the default synonym dictionary is
 * well-formed (2–32 distinct terms per group, valid UTF-8, no whitespace
 * inside terms, at most 32 characters per term) and no term, once folded
 * for search, belongs to two groups. The checker is first shown to catch
 * each kind of defect on small hand-made lists. */
#include "test.h"

#include "common/buf.h"
#include "common/rc.h"
#include "kb/synonyms_default.h"
#include "text/norm.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TERMS_MAX 32      /* per group, as kb_synonym_add accepts */
#define TERM_CHARS_MAX 32 /* code points per term, as kb_synonym_add accepts */

struct term {
    char *folded;
    size_t group;
};

/* True for any Unicode white space or control character a term must not hold. */
static int is_space_cp(uint32_t cp)
{
    return cp <= 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0xA0) || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

/* Checks one raw term; appends a reason to why and returns 1 when bad. */
static int term_bad(const char *p, size_t n, struct buf *why)
{
    if (!utf8_valid(p, n) || memchr(p, '\0', n)) {
        (void)buf_addf(why, "invalid UTF-8 in \"%.*s\"; ", (int)n, p);
        return 1;
    }
    size_t chars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(p + i, n - i, &cp);
        chars++;
        if (is_space_cp(cp)) {
            (void)buf_addf(why, "white space in \"%.*s\"; ", (int)n, p);
            return 1;
        }
    }
    if (chars > TERM_CHARS_MAX) {
        (void)buf_addf(why, "term too long \"%.*s\"; ", (int)n, p);
        return 1;
    }
    return 0;
}

/* Validates a NULL-terminated group list the way the dictionary must be.
 * Returns the number of defects found and describes them in why. */
static size_t check_groups(const char *const *groups, struct buf *why)
{
    size_t bad = 0, nterms = 0, cap = 0;
    struct term *all = NULL;
    for (size_t g = 0; groups[g]; g++) {
        const char *s = groups[g];
        size_t len = strlen(s);
        if (len == 0 || s[0] == ' ' || s[len - 1] == ' ' || strstr(s, "  ")) {
            (void)buf_addf(why, "group %zu: empty term or stray space; ", g);
            bad++;
        }
        size_t first = nterms, nin = 0;
        for (const char *p = s; *p;) {
            while (*p == ' ')
                p++;
            const char *q = strchr(p, ' ');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            if (n == 0)
                break;
            nin++;
            if (term_bad(p, n, why)) {
                bad++;
            } else {
                struct buf f = BUF_INIT;
                if (norm_fold(p, n, &f) != RC_OK) {
                    (void)buf_addf(why, "cannot fold \"%.*s\"; ", (int)n, p);
                    bad++;
                    buf_release(&f);
                } else {
                    if (nterms == cap) {
                        cap = cap ? cap * 2 : 256;
                        struct term *grown = realloc(all, cap * sizeof *all);
                        if (!grown)
                            abort();
                        all = grown;
                    }
                    all[nterms].folded = buf_detach(&f, NULL);
                    all[nterms].group = g;
                    nterms++;
                }
            }
            p += n;
        }
        if (nin > TERMS_MAX) {
            (void)buf_addf(why, "group %zu: more than %d terms; ", g, TERMS_MAX);
            bad++;
        }
        /* Distinct terms after folding: duplicates inside a group are defects. */
        size_t distinct = 0;
        for (size_t i = first; i < nterms; i++) {
            int dup = 0;
            for (size_t j = first; j < i && !dup; j++)
                dup = strcmp(all[i].folded, all[j].folded) == 0;
            if (dup) {
                (void)buf_addf(why, "group %zu: \"%s\" twice; ", g, all[i].folded);
                bad++;
            } else {
                distinct++;
            }
        }
        if (distinct < 2) {
            (void)buf_addf(why, "group %zu: fewer than 2 distinct terms; ", g);
            bad++;
        }
    }
    /* A folded term in two groups would merge two meanings. */
    for (size_t i = 0; i < nterms; i++)
        for (size_t j = i + 1; j < nterms; j++)
            if (all[i].group != all[j].group && strcmp(all[i].folded, all[j].folded) == 0) {
                (void)buf_addf(why, "\"%s\" in groups %zu and %zu; ", all[i].folded, all[i].group,
                               all[j].group);
                bad++;
            }
    for (size_t i = 0; i < nterms; i++)
        free(all[i].folded);
    free(all);
    return bad;
}

static size_t check_one(const char *const *groups, const char *expect_in_why)
{
    struct buf why = BUF_INIT;
    size_t bad = check_groups(groups, &why);
    if (expect_in_why)
        CHECK_CONTAINS(buf_str(&why), expect_in_why);
    buf_release(&why);
    return bad;
}

TEST(synonyms_checker_catches_defects)
{
    CHECK_INT(norm_init(), RC_OK);
    const char *const good[] = {"开户 开立账户", "取钱 支取", NULL};
    CHECK_INT(check_one(good, NULL), 0);

    const char *const single[] = {"开户", NULL};
    CHECK(check_one(single, "fewer than 2") >= 1);

    const char *const twice[] = {"开户 开户", NULL};
    CHECK(check_one(twice, "twice") >= 1);

    const char *const shared[] = {"开户 开立账户", "开立账户 开设账户", NULL};
    CHECK(check_one(shared, "in groups 0 and 1") >= 1);

    /* Folding makes 帐 and 账 the same term, so this is a conflict too. */
    const char *const folded[] = {"转账 划转", "转帐 汇款", NULL};
    CHECK(check_one(folded, "in groups 0 and 1") >= 1);

    const char *const ideo_space[] = {"开户 开立\xe3\x80\x80账户", NULL}; /* U+3000 */
    CHECK(check_one(ideo_space, "white space") >= 1);

    const char *const tab[] = {"开户 开立\t账户", NULL};
    CHECK(check_one(tab, "white space") >= 1);

    const char *const stray[] = {"开户  开立账户", NULL};
    CHECK(check_one(stray, "stray space") >= 1);

    const char *const badutf8[] = {"开户 \xe5\xbc", NULL}; /* truncated sequence */
    CHECK(check_one(badutf8, "invalid UTF-8") >= 1);

    const char *const longterm[] = {
        "开户 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三", NULL};
    CHECK(check_one(longterm, "too long") >= 1);
}

TEST(synonyms_default_dictionary_is_clean)
{
    CHECK_INT(norm_init(), RC_OK);
    struct buf why = BUF_INIT;
    size_t bad = check_groups(kb_default_synonyms, &why);
    if (bad)
        test_fail(__FILE__, __LINE__, "%zu defects: %.2000s", bad, buf_str(&why));
    buf_release(&why);
}

TEST(synonyms_default_count_and_content)
{
    size_t n = kb_default_synonyms_count();
    CHECK(n >= 120); /* a real dictionary, not a stub */
    CHECK(kb_default_synonyms[n] == NULL);
    for (size_t i = 0; i < n; i++)
        CHECK(kb_default_synonyms[i] != NULL);

    /* A few groups retrieval relies on, and pairs that must never be merged. */
    int found_basic = 0, found_withdraw = 0;
    for (size_t i = 0; i < n; i++) {
        const char *g = kb_default_synonyms[i];
        if (strstr(g, "基本户") && strstr(g, "基本存款账户"))
            found_basic = 1;
        if (strstr(g, "取钱") && strstr(g, "支取"))
            found_withdraw = 1;
        CHECK(!(strstr(g, "汇票") && strstr(g, "本票")));
        CHECK(!(strstr(g, "本票") && strstr(g, "支票")));
        CHECK(!(strstr(g, "冻结") && strstr(g, "查封")));
        CHECK(!(strstr(g, "罚款") && strstr(g, "罚金")));
        CHECK(!(strstr(g, "借款人") && strstr(g, "贷款人")));
    }
    CHECK(found_basic);
    CHECK(found_withdraw);
}
