/* `atrium search` and `atrium ask`: ranked hits with snippets (bold
 * highlights on a terminal), and answers streamed as they arrive followed by
 * their citations. */
#include "cli/cli.h"

#include <string.h>

#include "common/rc.h"

#define SNIPPET_CP 120 /* code points of text shown per hit */

enum { O_K, O_ENGINE, O_NO_SYN, O_NO_MODEL };

/* The same indexes in both tables; only `ask` takes --no-model (on `search`
 * it would do nothing, so it is a usage error rather than silently ignored). */
static const struct cli_opt search_opts[] = {
    {"--top", "-k", 1}, {"--engine", NULL, 1}, {"--no-synonyms", NULL, 0}, {NULL, NULL, 0}};
static const struct cli_opt ask_opts[] = {{"--top", "-k", 1},
                                          {"--engine", NULL, 1},
                                          {"--no-synonyms", NULL, 0},
                                          {"--no-model", NULL, 0},
                                          {NULL, NULL, 0}};

/* Joins positional words 1.. into one query ("a b c"). */
static void join_query(const struct cli_args *a, struct buf *q)
{
    for (int i = 1; i < a->npos; i++) {
        if (i > 1)
            (void)buf_addc(q, ' ');
        (void)buf_adds(q, a->pos[i]);
    }
}

/* Common front of both commands: options, KB, query. */
static int prepare(struct cli *c, const char *noun, int argc, char **argv, struct cli_args *a,
                   int *k, unsigned *flags, struct kb_info *kb, struct buf *q)
{
    int code = cli_parse_args(c, argc, argv, strcmp(noun, "ask") == 0 ? ask_opts : search_opts, a);
    if (code)
        return code;
    if (a->help) {
        cli_usage(stdout, noun);
        return -1;
    }
    if (a->npos < 2)
        return cli_usage_error(noun, "缺少知识库或问题 / missing KB or question");
    if (a->val[O_K] && (code = cli_int_arg("-k", a->val[O_K], 1, 100, k)))
        return code;
    if ((code = cli_engine_flags(a->val[O_ENGINE], flags)))
        return code;
    if (a->val[O_NO_SYN])
        *flags |= KB_NO_SYNONYMS;
    join_query(a, q);
    if (q->len == 0)
        return cli_usage_error(noun, "问题为空 / empty question");
    if ((code = cli_open(c)))
        return code;
    return cli_find_kb(c, a->pos[0], kb);
}

static void print_hit(struct cli *c, size_t rank, const struct kb_hit *h)
{
    struct buf line = BUF_INIT;
    (void)buf_addf(&line, "%zu. %.3f  《", rank, h->score);
    cli_safe_text(&line, h->doc_title && *h->doc_title ? h->doc_title : h->doc_name, 80, 0);
    (void)buf_adds(&line, "》");
    const char *head = h->heading && *h->heading ? h->heading : h->label;
    if (head && *head) {
        (void)buf_addc(&line, ' ');
        cli_safe_text(&line, head, 80, 0);
    }
    (void)buf_adds(&line, "\n   ");
    if (c->tty_out && h->highlight && *h->highlight)
        cli_render_highlight(&line, h->highlight, SNIPPET_CP, 1);
    else
        cli_safe_text(&line, h->text, SNIPPET_CP, 0);
    puts(buf_str(&line));
    buf_release(&line);
}

int cli_cmd_search(struct cli *c, int argc, char **argv)
{
    struct cli_args a;
    int k = 5;
    unsigned flags = 0;
    struct kb_info kb = {0};
    struct buf q = BUF_INIT, err = BUF_INIT;
    struct kb_hits hits = {0};
    int code = prepare(c, "search", argc, argv, &a, &k, &flags, &kb, &q);
    if (code) {
        code = code < 0 ? CLI_EXIT_OK : code;
        goto out;
    }
    if (!c->json && !c->tty_out)
        flags |= KB_NO_HIGHLIGHT;
    struct kb_search_opts o = {.k = k, .flags = flags};
    int rc = kb_search(c->conn, kb.id, buf_str(&q), &o, &hits, &err);
    if (rc) {
        code = cli_fail(rc, &err, "检索失败 / search failed");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(kb_hits_json(&hits));
        goto out;
    }
    if (hits.n == 0 && !c->quiet)
        puts("未找到相关内容 / nothing found");
    for (size_t i = 0; i < hits.n; i++)
        print_hit(c, i + 1, &hits.a[i]);
out:
    kb_hits_release(&hits);
    kb_info_release(&kb);
    buf_release(&q);
    buf_release(&err);
    return code;
}

struct stream_ctx {
    struct cli *c;
    size_t streamed; /* bytes written to stdout */
    int last_nl;
    char pend[4]; /* an incomplete UTF-8 sequence held for the next delta */
    size_t npend;
};

/* Bytes at the end of (p, n) that start a UTF-8 sequence not yet complete. */
static size_t incomplete_tail(const char *p, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char b = (unsigned char)p[n - back];
        if ((b & 0xC0) == 0x80)
            continue; /* a continuation byte: keep looking for the lead */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static int on_delta(void *ctx, const char *p, size_t n)
{
    struct stream_ctx *s = ctx;
    if (s->c->json || n == 0)
        return 0;
    int stop = 0;
    struct buf safe = BUF_INIT, raw = BUF_INIT;
    if (buf_add(&raw, s->pend, s->npend) != RC_OK || buf_add(&raw, p, n) != RC_OK)
        goto out;
    s->npend = incomplete_tail(raw.p, raw.len);
    memcpy(s->pend, raw.p + raw.len - s->npend, s->npend);
    raw.len -= s->npend;
    raw.p[raw.len] = '\0';
    cli_safe_text(&safe, buf_str(&raw), 0, 1);
    if (safe.len) {
        if (fwrite(safe.p, 1, safe.len, stdout) != safe.len) {
            stop = 1; /* stdout is gone: stop the answer */
            goto out;
        }
        s->last_nl = safe.p[safe.len - 1] == '\n';
        s->streamed += safe.len;
    }
    if (fflush(stdout) != 0)
        stop = 1;
out:
    buf_release(&safe);
    buf_release(&raw);
    return stop;
}

int cli_cmd_ask(struct cli *c, int argc, char **argv)
{
    struct cli_args a;
    int k = 5;
    unsigned flags = 0;
    struct kb_info kb = {0};
    struct buf q = BUF_INIT, err = BUF_INIT;
    struct kb_answer ans = {0};
    int code = prepare(c, "ask", argc, argv, &a, &k, &flags, &kb, &q);
    if (code) {
        code = code < 0 ? CLI_EXIT_OK : code;
        goto out;
    }
    struct kb_ask_opts o = {.k = k, .flags = flags, .no_model = a.val[O_NO_MODEL] != NULL};
    struct stream_ctx sc = {.c = c};
    int rc = kb_ask(c->conn, kb.id, buf_str(&q), &o, on_delta, &sc, &ans, &err);
    if (rc) {
        if (sc.streamed && !sc.last_nl)
            putchar('\n');
        code = cli_fail(rc, &err, "回答失败 / could not answer");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(kb_answer_json(&ans));
        goto out;
    }
    if (sc.streamed == 0 && ans.text) {
        struct buf t = BUF_INIT;
        cli_safe_text(&t, ans.text, 0, 1);
        fputs(buf_str(&t), stdout);
        sc.last_nl = t.len && t.p[t.len - 1] == '\n';
        sc.streamed = t.len;
        buf_release(&t);
    }
    if (sc.streamed && !sc.last_nl)
        putchar('\n');
    if (ans.ncites)
        puts("\n引用 / citations:");
    struct buf line = BUF_INIT;
    for (size_t i = 0; i < ans.ncites; i++) {
        const struct kb_citation *ct = &ans.cites[i];
        buf_reset(&line);
        (void)buf_addf(&line, "[%d] ", ct->n);
        if (ct->cite && *ct->cite) {
            cli_safe_text(&line, ct->cite, 80, 0);
        } else {
            (void)buf_adds(&line, "《");
            cli_safe_text(&line, ct->doc_title ? ct->doc_title : ct->doc_name, 80, 0);
            (void)buf_adds(&line, "》");
            cli_safe_text(&line, ct->label, 40, 0);
        }
        if (ct->text && *ct->text) {
            (void)buf_adds(&line, "  ");
            cli_safe_text(&line, ct->text, 60, 0);
        }
        puts(buf_str(&line));
    }
    buf_release(&line);
    if (ans.notice && *ans.notice) {
        struct buf t = BUF_INIT;
        cli_safe_text(&t, ans.notice, 200, 0);
        printf("\n提示 / notice: %s\n", buf_str(&t));
        buf_release(&t);
    }
    if (fflush(stdout) != 0)
        code = CLI_EXIT_FAIL;
out:
    kb_answer_release(&ans);
    kb_info_release(&kb);
    buf_release(&q);
    buf_release(&err);
    return code;
}
