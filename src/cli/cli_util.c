/* Shared pieces of the command-line tool: argument parsing, opening the
 * store, error and JSON output, terminal-safe text and the progress bar. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

static int progress_shown; /* a progress line is on stderr and must be cleared */

/* ---- argument parsing ---- */

int cli_parse_args(struct cli *c, int argc, char **argv, const struct cli_opt *opts,
                   struct cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->pos = argv; /* npos <= i below: a slot is rewritten only once it was read */
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(s, "--json") == 0) {
            c->json = 1;
            continue;
        }
        if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            c->quiet = 1;
            continue;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            a->help = 1;
            continue;
        }
        const char *eq = strncmp(s, "--", 2) == 0 ? strchr(s, '=') : NULL;
        size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
        int found = -1;
        for (int j = 0; j < CLI_OPT_MAX && opts && opts[j].name; j++) {
            const char *al = opts[j].alias;
            if ((strlen(opts[j].name) == nlen && strncmp(opts[j].name, s, nlen) == 0) ||
                (!eq && al && strcmp(al, s) == 0)) {
                found = j;
                break;
            }
        }
        if (found < 0)
            return cli_usage_error(NULL, "未知选项 / unknown option: %s", s);
        if (!opts[found].has_arg) {
            if (eq)
                return cli_usage_error(NULL, "选项不带参数 / option takes no value: %.*s",
                                       (int)nlen, s);
            a->val[found] = "";
            continue;
        }
        if (eq) {
            a->val[found] = eq + 1;
        } else if (i + 1 < argc) {
            a->val[found] = argv[++i];
        } else {
            return cli_usage_error(NULL, "选项缺少参数 / option needs a value: %s", s);
        }
    }
    return CLI_EXIT_OK;
}

int cli_int_arg(const char *opt, const char *val, long long min, long long max, int *out)
{
    int64_t v = 0;
    if (!val || parse_i64(val, min, max, &v) != RC_OK)
        return cli_usage_error(
            NULL, "%s 需要 %lld 到 %lld 之间的整数 / %s needs an integer in [%lld, %lld]", opt, min,
            max, opt, min, max);
    *out = (int)v;
    return CLI_EXIT_OK;
}

int cli_engine_flags(const char *name, unsigned *flags)
{
    if (!name || strcmp(name, "mem") == 0)
        return CLI_EXIT_OK;
    if (strcmp(name, "fts5") == 0) {
        *flags |= KB_FTS5;
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "trigram") == 0) {
        *flags |= KB_TRIGRAM;
        return CLI_EXIT_OK;
    }
    return cli_usage_error(NULL, "未知检索引擎 / unknown engine: %s (mem|fts5|trigram)", name);
}

/* ---- context ---- */

/* mkdir -p: creates every missing folder of path (mode 0700). */
static int make_dirs(const char *path)
{
    char *p = xstrdup(path);
    int ok = 1;
    for (char *s = p + 1; ok && *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            ok = 0;
        *s = '/';
    }
    if (ok && mkdir(p, 0700) != 0 && errno != EEXIST)
        ok = 0;
    free(p);
    return ok;
}

int cli_open(struct cli *c)
{
    struct buf err = BUF_INIT;
    int code = CLI_EXIT_OK;
    if (c->conn)
        goto out;
    if (c->cfg.data_dir && *c->cfg.data_dir && !make_dirs(c->cfg.data_dir)) {
        cli_error("无法创建数据目录 / cannot create data folder %s: %s", c->cfg.data_dir,
                  strerror(errno));
        code = CLI_EXIT_FAIL;
        goto out;
    }
    int rc = kb_engine_open(&c->cfg, &c->eng, &err);
    if (rc) {
        code = cli_fail(rc, &err, "无法打开数据 / cannot open the store");
        goto out;
    }
    rc = kb_conn_open(c->eng, &c->conn, &err);
    if (rc) {
        code = cli_fail(rc, &err, "无法打开数据 / cannot open the store");
        goto out;
    }
out:
    buf_release(&err);
    return code;
}

void cli_close(struct cli *c)
{
    if (c->conn)
        kb_conn_close(c->conn);
    c->conn = NULL;
    if (c->eng)
        kb_engine_close(c->eng);
    c->eng = NULL;
}

int cli_find_kb(struct cli *c, const char *name, struct kb_info *out)
{
    memset(out, 0, sizeof *out);
    int rc = kb_get(c->conn, name, out);
    if (rc == RC_OK)
        return CLI_EXIT_OK;
    struct buf safe = BUF_INIT;
    cli_safe_text(&safe, name, 64, 0);
    if (rc == RC_NOT_FOUND)
        cli_error("知识库不存在 / unknown knowledge base: %s", buf_str(&safe));
    else
        cli_error("无法读取知识库 / cannot read knowledge base %s: %s", buf_str(&safe),
                  rc_code(rc));
    buf_release(&safe);
    return rc_exit_code(rc);
}

/* ---- output ---- */

static void clear_progress(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
}

/* Every message goes through cli_safe_text: arguments such as an unknown
 * option, a folder name or a byte-cut "%.40s" must not put control
 * sequences or broken UTF-8 on the terminal. */
static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
    struct buf raw = BUF_INIT, safe = BUF_INIT;
    clear_progress();
    (void)buf_vaddf(&raw, fmt, ap);
    cli_safe_text(&safe, buf_str(&raw), 0, 1);
    fputs(prefix, stderr);
    fputs(buf_str(&safe), stderr);
    fputc('\n', stderr);
    fflush(stderr);
    buf_release(&raw);
    buf_release(&safe);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("错误 / error: ", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("警告 / warning: ", fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *noun, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("错误 / error: ", fmt, ap);
    va_end(ap);
    if (noun)
        cli_usage(stderr, noun);
    else
        fputs("atrium --help 查看用法 / see atrium --help\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_print_json(json_t *j)
{
    if (!j) {
        cli_error("无法生成 JSON / could not build JSON");
        return CLI_EXIT_FAIL;
    }
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        cli_error("无法写出结果 / cannot write the output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cli_fail(int rc, const struct buf *err, const char *what)
{
    if (err && err->len) {
        struct buf safe = BUF_INIT;
        cli_safe_text(&safe, buf_str(err), 400, 0);
        cli_error("%s: %s", what, buf_str(&safe));
        buf_release(&safe);
    } else {
        cli_error("%s (%s)", what, rc_code(rc));
    }
    return rc_exit_code(rc);
}

/* Length of the strictly valid UTF-8 sequence at s (NUL-terminated); 1 for
 * anything else (a stray byte, a truncated sequence, an overlong form, a
 * surrogate, a code point past U+10FFFF), which put_cp then drops. */
static size_t seq_len(const unsigned char *s)
{
    uint32_t cp;
    return utf8_decode((const char *)s, strnlen((const char *)s, 4), &cp);
}

/* Appends one code point's bytes (s, n) unless it is a control character.
 * Returns 1 when something visible was appended. */
static int put_cp(struct buf *out, const unsigned char *s, size_t n, int keep_newlines,
                  int *last_space)
{
    if (n == 1 && (s[0] < 0x20 || s[0] == 0x7F)) {
        if (keep_newlines && (s[0] == '\n' || s[0] == '\t')) {
            (void)buf_addc(out, (char)s[0]);
            *last_space = 1;
            return 1;
        }
        if ((s[0] == '\n' || s[0] == '\t' || s[0] == '\r') && !*last_space) {
            (void)buf_addc(out, ' ');
            *last_space = 1;
            return 1;
        }
        return 0;
    }
    if (n == 1 && s[0] >= 0x80)
        return 0; /* a stray continuation or invalid lead byte */
    if (n == 2 && s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F)
        return 0; /* C1 controls */
    (void)buf_add(out, s, n);
    *last_space = n == 1 && s[0] == ' ';
    return 1;
}

void cli_safe_text(struct buf *out, const char *str, size_t max_cp, int keep_newlines)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t ncp = 0;
    int last_space = 0;
    while (*s) {
        size_t n = seq_len(s);
        if (max_cp && ncp >= max_cp) {
            (void)buf_adds(out, "…");
            return;
        }
        ncp += (size_t)put_cp(out, s, n, keep_newlines, &last_space);
        s += n;
    }
}

void cli_render_highlight(struct buf *out, const char *html, size_t max_cp, int bold)
{
    static const struct {
        const char *ent;
        const char *ch;
    } ents[] = {{"&lt;", "<"},    {"&gt;", ">"},  {"&amp;", "&"},
                {"&quot;", "\""}, {"&#39;", "'"}, {"&#x27;", "'"}};
    const unsigned char *s = (const unsigned char *)(html ? html : "");
    size_t ncp = 0;
    int in_bold = 0, last_space = 0;
    while (*s) {
        if (*s == '<') {
            const char *end = strchr((const char *)s, '>');
            if (!end)
                break;
            int open = strncmp((const char *)s, "<em>", 4) == 0;
            int close = strncmp((const char *)s, "</em>", 5) == 0;
            if (bold && open && !in_bold) {
                (void)buf_adds(out, "\033[1m");
                in_bold = 1;
            } else if (bold && close && in_bold) {
                (void)buf_adds(out, "\033[0m");
                in_bold = 0;
            }
            s = (const unsigned char *)end + 1;
            continue;
        }
        if (max_cp && ncp >= max_cp) {
            if (in_bold)
                (void)buf_adds(out, "\033[0m");
            in_bold = 0;
            (void)buf_adds(out, "…");
            return;
        }
        if (*s == '&') {
            size_t k = 0;
            for (; k < sizeof ents / sizeof ents[0]; k++)
                if (strncmp((const char *)s, ents[k].ent, strlen(ents[k].ent)) == 0)
                    break;
            if (k < sizeof ents / sizeof ents[0]) {
                (void)buf_adds(out, ents[k].ch);
                last_space = 0;
                ncp++;
                s += strlen(ents[k].ent);
                continue;
            }
        }
        size_t n = seq_len(s);
        ncp += (size_t)put_cp(out, s, n, 0, &last_space);
        s += n;
    }
    if (in_bold)
        (void)buf_adds(out, "\033[0m");
}

void cli_progress(struct cli *c, size_t done, size_t total, const char *label)
{
    if (!c->tty_err || c->quiet)
        return;
    enum { W = 20 };
    size_t fill = total ? done * W / total : 0;
    if (fill > W)
        fill = W;
    char bar[W + 1];
    for (size_t i = 0; i < W; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    struct buf safe = BUF_INIT;
    cli_safe_text(&safe, label ? label : "", 40, 0);
    fprintf(stderr, "\r\033[K[%s] %zu/%zu %s", bar, done, total, buf_str(&safe));
    fflush(stderr);
    buf_release(&safe);
    progress_shown = 1;
}

void cli_progress_end(struct cli *c)
{
    (void)c;
    clear_progress();
    fflush(stderr);
}
