/* `atrium eval`: runs a question set against a KB through kb/eval and prints
 * a small table (or the report as JSON). */
#include "auth/auth.h"
#include "cli/cli.h"

#include <string.h>

#include "common/rc.h"
#include "kb/eval.h"

enum { O_K, O_ENGINE, O_NO_SYN, O_LIMIT, O_ANSWERS, O_NO_ANSWERS, O_AS };

static void on_progress(void *ctx, size_t done, size_t total)
{
    cli_progress(ctx, done, total, "");
}

static void print_row(const char *name, const struct eval_metrics *m)
{
    printf("%-12s %6zu %7.3f %7.3f %7.3f %7.3f", name, m->questions, m->recall1, m->recall5,
           m->recall10, m->mrr10);
    if (m->answered)
        printf(" %7.3f\n", m->answer_accuracy);
    else
        printf(" %7s\n", "-");
}

static void print_report(const struct eval_report *r)
{
    const struct eval_metrics *m = &r->all;
    printf("问题数 / questions            %zu", m->questions);
    if (r->skipped)
        printf("  （跳过 %zu 行 / %zu malformed lines skipped）", r->skipped, r->skipped);
    putchar('\n');
    printf("Recall@1                      %.3f\n", m->recall1);
    printf("Recall@5                      %.3f\n", m->recall5);
    printf("Recall@10                     %.3f\n", m->recall10);
    printf("MRR@10                        %.3f\n", m->mrr10);
    if (m->multi)
        printf("全部条文@10 / all articles@10 %.3f  (%zu)\n", m->all_articles10, m->multi);
    if (m->answered)
        printf("答案准确率 / answer accuracy  %.3f  (%zu, %s)\n", m->answer_accuracy, m->answered,
               r->answers == EVAL_ANSWERS_MODEL ? "model" : "extractive");
    printf("检索延迟 / latency ms         p50 %.2f  p95 %.2f  p99 %.2f\n", m->p50, m->p95, m->p99);
    if (m->errors)
        printf("检索错误 / search errors      %zu\n", m->errors);
    if (r->ntypes) {
        printf("\n%-12s %6s %7s %7s %7s %7s %7s\n", "type", "n", "R@1", "R@5", "R@10", "MRR@10",
               "answer");
        struct buf name = BUF_INIT;
        for (size_t i = 0; i < r->ntypes; i++) {
            buf_reset(&name);
            cli_safe_text(&name, r->types[i].type, 12, 0);
            print_row(buf_str(&name), &r->types[i].m);
        }
        buf_release(&name);
    }
    printf("\n用时 / elapsed %.1f s, k = %d\n", r->elapsed_ms / 1000.0, r->k);
}

int cli_cmd_eval(struct cli *c, int argc, char **argv)
{
    static const struct cli_opt opts[] = {{"--top", "-k", 1},         {"--engine", NULL, 1},
                                          {"--no-synonyms", NULL, 0}, {"--limit", NULL, 1},
                                          {"--answers", NULL, 0},     {"--no-answers", NULL, 0},
                                          {"--as", NULL, 1},          {NULL, NULL, 0}};
    struct auth_principal who;
    struct cli_args a;
    struct kb_info kb = {0};
    struct eval_set set = {0};
    struct eval_report rep = {0};
    struct buf err = BUF_INIT;
    struct eval_opts o = {.k = 10, .answers = EVAL_ANSWERS_EXTRACTIVE};
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        goto out;
    if (a.help) {
        cli_usage(stdout, "eval");
        goto out;
    }
    if (a.npos != 2) {
        code = cli_usage_error("eval", "用法 / usage: atrium eval KB QUESTIONS.jsonl");
        goto out;
    }
    if (a.val[O_K] && (code = cli_int_arg("-k", a.val[O_K], 1, 100, &o.k)))
        goto out;
    if ((code = cli_engine_flags(a.val[O_ENGINE], &o.flags)))
        goto out;
    if (a.val[O_NO_SYN])
        o.flags |= KB_NO_SYNONYMS;
    if (a.val[O_LIMIT]) {
        int lim = 0;
        if ((code = cli_int_arg("--limit", a.val[O_LIMIT], 1, EVAL_QUESTIONS_MAX, &lim)))
            goto out;
        o.limit = (size_t)lim;
    }
    if (a.val[O_ANSWERS] && a.val[O_NO_ANSWERS]) {
        code = cli_usage_error("eval", "--answers 与 --no-answers 不能同时使用 / "
                                       "--answers and --no-answers exclude each other");
        goto out;
    }
    if (a.val[O_ANSWERS])
        o.answers =
            c->cfg.chat_url && *c->cfg.chat_url ? EVAL_ANSWERS_MODEL : EVAL_ANSWERS_EXTRACTIVE;
    if (a.val[O_ANSWERS] && o.answers != EVAL_ANSWERS_MODEL)
        cli_warn("未配置模型，使用摘录答案 / no chat model configured, using extractive answers");
    if (a.val[O_NO_ANSWERS])
        o.answers = EVAL_ANSWERS_OFF;

    int rc = eval_set_load(a.pos[1], &set, &err);
    for (size_t i = 0; i < set.nbad_kept; i++) {
        struct buf m = BUF_INIT;
        cli_safe_text(&m, set.bad[i].msg, 200, 0);
        cli_warn("第 %zu 行已跳过 / line %zu skipped: %s", set.bad[i].line, set.bad[i].line,
                 buf_str(&m));
        buf_release(&m);
    }
    if (set.nbad > set.nbad_kept)
        cli_warn("另有 %zu 行格式错误 / %zu more malformed lines", set.nbad - set.nbad_kept,
                 set.nbad - set.nbad_kept);
    if (rc) {
        code = cli_fail(rc, &err, "无法读取题目 / cannot read the questions");
        goto out;
    }
    if ((code = cli_open(c)) || (code = cli_find_kb(c, a.pos[0], &kb)))
        goto out;
    if (a.val[O_AS]) {
        struct auth_user u;
        struct db_conn *d = kb_conn_store(c->conn);
        rc = auth_user_get(d, a.val[O_AS], &u);
        if (rc == RC_OK) {
            rc = auth_principal_load(d, u.id, &who);
            auth_user_release(&u);
        }
        if (rc == RC_OK && kb_readable(c->conn, &who, kb.id) != RC_OK) {
            cli_error("该用户不能读取此知识库 / %s may not read this knowledge base", a.val[O_AS]);
            code = CLI_EXIT_NOT_FOUND;
            goto out;
        }
        if (rc) {
            code = cli_fail(rc, NULL, "无法以该用户身份评测 / cannot evaluate as that user");
            goto out;
        }
        o.who = &who;
    }
    o.progress = on_progress;
    o.progress_ctx = c;
    rc = eval_run(c->conn, kb.id, &set, &o, &rep, &err);
    cli_progress_end(c);
    if (rc) {
        code = cli_fail(rc, &err, "评测中止 / evaluation stopped");
        goto out;
    }
    if (c->json) {
        json_t *j = eval_report_json(&rep);
        if (j) {
            (void)json_object_set_new(j, "kb", json_string(kb.name ? kb.name : ""));
            (void)json_object_set_new(j, "engine",
                                      json_string(a.val[O_ENGINE] ? a.val[O_ENGINE] : "mem"));
        }
        code = cli_print_json(j);
    } else {
        print_report(&rep);
    }
out:
    eval_report_release(&rep);
    eval_set_release(&set);
    kb_info_release(&kb);
    buf_release(&err);
    return code;
}
