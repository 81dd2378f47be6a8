/* Answers: a grounded, streamed model answer whose [n] markers map to the
 * retrieved chunks, or — with no model, or when the model fails — the best
 * article(s) verbatim with their citations, or an honest "not found". */
#include "kb/kbint.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define NOT_FOUND_TEXT "知识库中未找到相关规定。"
/* A second article joins the extractive answer when it scores this close to the first. */
#define SECOND_RATIO 0.6

static const char SYSTEM_PROMPT[] =
    "你是银行运营知识助手，为柜面和运营人员解答业务问题。"
    "只依据下面编号的资料作答，不要使用资料以外的知识；"
    "每句依据资料的话后面用 [编号] 标注出处，例如 [1]；"
    "资料不足以回答时，只回答“" NOT_FOUND_TEXT "”。回答简洁、准确，使用简体中文。";

void kb_answer_add_citation(struct kb_answer *a, int n, const struct kb_hit *h)
{
    a->cites = xrealloc(a->cites, (a->ncites + 1) * sizeof *a->cites);
    struct kb_citation *c = &a->cites[a->ncites++];
    c->n = n;
    c->kb_id = h->kb_id;
    c->chunk_id = h->chunk_id;
    c->doc_name = xstrdup(h->doc_name);
    c->doc_title = xstrdup(h->doc_title);
    c->label = xstrdup(h->label);
    c->heading = xstrdup(h->heading);
    c->text = xstrdup(h->text);
    c->cite = kb_cite_string(h->doc_title, h->label, h->heading);
}

static void clear_answer(struct kb_answer *a)
{
    kb_answer_release(a);
    memset(a, 0, sizeof *a);
}

/* Keeps, in order, only the hits good enough to show or to ground on (a
 * hit found only through its vector can rank first with coverage 0) and
 * returns how many remain. */
static size_t usable_hits(struct kb_hits *h, double min_cov)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->a[i].coverage >= min_cov) {
            struct kb_hit t = h->a[n];
            h->a[n++] = h->a[i];
            h->a[i] = t;
        }
    }
    return n;
}

static void extractive(const struct kb_hits *h, size_t usable, struct kb_answer *a)
{
    struct buf b = BUF_INIT;
    size_t take = 1;
    /* Scores may be BM25 or rank-fused; coverage keeps the same meaning
     * either way, so the second article must come close on both. */
    if (usable > 1 && h->a[1].score >= SECOND_RATIO * h->a[0].score &&
        h->a[1].coverage >= SECOND_RATIO * h->a[0].coverage)
        take = 2;
    for (size_t i = 0; i < take; i++) {
        const struct kb_hit *x = &h->a[i];
        char *cite = kb_cite_string(x->doc_title, x->label, x->heading);
        buf_addf(&b, "%s%s：\n%s [%zu]", i ? "\n\n另据" : "根据", cite, x->text, i + 1);
        free(cite);
        kb_answer_add_citation(a, (int)i + 1, x);
    }
    a->mode = KB_ANSWER_EXTRACTIVE;
    a->text = buf_detach(&b, NULL);
}

void kb_answer_extractive(struct kb_hits *h, double min_score, struct kb_answer *out)
{
    size_t usable = usable_hits(h, min_score);
    if (usable == 0) {
        out->mode = KB_ANSWER_NONE;
        out->text = xstrdup(NOT_FOUND_TEXT);
        return;
    }
    extractive(h, usable, out);
}

struct stream_ctx {
    kb_delta_cb cb;
    void *ctx;
    size_t sent;
    int stopped;
};

static int on_model_delta(void *ctx, enum llm_delta_kind kind, const char *p, size_t n)
{
    struct stream_ctx *s = ctx;
    if (kind != LLM_CONTENT || !s->cb)
        return 0;
    s->sent += n;
    if (s->cb(s->ctx, p, n)) {
        s->stopped = 1;
        return 1;
    }
    return 0;
}

/* Collects the [n] markers the model used, in order of first use. */
void kb_answer_cite_markers(const char *text, const struct kb_hits *h, size_t nsrc,
                            struct kb_answer *a)
{
    for (const char *p = strchr(text, '['); p; p = strchr(p + 1, '[')) {
        char *end = NULL;
        long n = strtol(p + 1, &end, 10);
        if (!end || *end != ']' || n < 1 || (size_t)n > nsrc)
            continue;
        size_t i;
        for (i = 0; i < a->ncites && a->cites[i].n != n; i++)
            ;
        if (i == a->ncites)
            kb_answer_add_citation(a, (int)n, &h->a[n - 1]);
    }
    if (a->ncites == 0) /* the model cited nothing: show what it was given */
        for (size_t i = 0; i < nsrc; i++)
            kb_answer_add_citation(a, (int)i + 1, &h->a[i]);
}

static int model_answer(struct kb_conn *c, const char *question, const struct kb_hits *h,
                        size_t nsrc, struct stream_ctx *sc, struct kb_answer *a, struct buf *why)
{
    const struct config *cfg = c->e->cfg;
    struct llm_endpoint ep = {cfg->chat_url,
                              cfg->chat_model,
                              cfg->chat_api_key,
                              cfg->connect_timeout_ms,
                              cfg->first_token_timeout_ms,
                              cfg->total_timeout_ms};
    struct buf user = BUF_INIT;
    buf_adds(&user, "资料：\n");
    for (size_t i = 0; i < nsrc; i++) {
        char *cite = kb_cite_string(h->a[i].doc_title, h->a[i].label, h->a[i].heading);
        buf_addf(&user, "[%zu] %s\n%s\n\n", i + 1, cite, h->a[i].text);
        free(cite);
    }
    buf_addf(&user, "问题：%s", question);
    struct llm_msg msgs[2] = {{.role = "system", .content = SYSTEM_PROMPT},
                              {.role = "user", .content = buf_str(&user)}};
    struct llm_result res;
    memset(&res, 0, sizeof res);
    int rc = llm_chat(&ep, msgs, 2, on_model_delta, sc, &res, why);
    buf_release(&user);
    if (rc == RC_OK && !res.cancelled && (!res.content || !res.content[0])) {
        buf_adds(why, "模型返回了空答案 / the model returned an empty answer");
        rc = RC_UPSTREAM;
    }
    if (rc == RC_OK) {
        a->mode = KB_ANSWER_MODEL;
        a->text = xstrdup(res.content ? res.content : "");
        a->model = xstrdup(cfg->chat_model);
        kb_answer_cite_markers(a->text, h, nsrc, a);
    }
    llm_result_release(&res);
    return rc;
}

int kb_ask(struct kb_conn *c, int64_t kb_id, const char *question, const struct kb_ask_opts *o,
           kb_delta_cb cb, void *ctx, struct kb_answer *out, struct buf *err)
{
    memset(out, 0, sizeof *out);
    double t0 = now_ms();
    struct kb_search_opts so = {o && o->k > 0 ? o->k : 5, o ? o->flags : 0, o ? o->who : NULL};
    struct kb_hits hits = {0};
    int rc = kb_search(c, kb_id, question, &so, &hits, err);
    if (rc)
        return rc;
    const struct config *cfg = c->e->cfg;
    size_t usable = usable_hits(&hits, cfg->min_score);
    struct stream_ctx sc = {cb, ctx, 0, 0};
    if (usable == 0) {
        out->mode = KB_ANSWER_NONE;
        out->text = xstrdup(NOT_FOUND_TEXT);
        goto send;
    }
    int use_model = !(o && o->no_model) && cfg->chat_url && cfg->chat_url[0];
    if (use_model) {
        struct buf why = BUF_INIT;
        int mrc = model_answer(c, question, &hits, usable, &sc, out, &why);
        if (mrc == RC_OK) {
            buf_release(&why);
            goto done; /* already streamed */
        }
        log_warn("chat model failed (%s), falling back to the extractive answer", rc_code(mrc));
        clear_answer(out);
        struct buf notice = BUF_INIT;
        buf_addf(&notice, "%s，以下为知识库原文摘录 / model %s, extractive answer below",
                 mrc == RC_TIMEOUT ? "模型响应超时" : "模型服务不可用",
                 mrc == RC_TIMEOUT ? "timed out" : "unavailable");
        out->notice = buf_detach(&notice, NULL);
        buf_release(&why);
        if (sc.sent && cb && !sc.stopped)
            cb(ctx, "\n\n", 2);
    }
    extractive(&hits, usable, out);
send:
    if (cb && !sc.stopped)
        cb(ctx, out->text, strlen(out->text));
done:
    out->latency_ms = now_ms() - t0;
    kb_hits_release(&hits);
    return RC_OK;
}

void kb_answer_release(struct kb_answer *a)
{
    for (size_t i = 0; i < a->ncites; i++) {
        struct kb_citation *c = &a->cites[i];
        free(c->doc_name);
        free(c->doc_title);
        free(c->label);
        free(c->heading);
        free(c->text);
        free(c->cite);
    }
    free(a->cites);
    free(a->text);
    free(a->notice);
    free(a->model);
    a->cites = NULL;
    a->text = a->notice = a->model = NULL;
    a->ncites = 0;
}

json_t *kb_citations_json(const struct kb_answer *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->ncites; i++) {
        const struct kb_citation *c = &a->cites[i];
        json_array_append_new(arr, json_pack("{si sI sI ss ss ss ss ss ss}", "n", c->n, "kb_id",
                                             (json_int_t)c->kb_id, "chunk_id",
                                             (json_int_t)c->chunk_id, "document", c->doc_name,
                                             "title", c->doc_title, "label", c->label, "heading",
                                             c->heading, "cite", c->cite, "text", c->text));
    }
    return arr;
}

json_t *kb_answer_json(const struct kb_answer *a)
{
    static const char *modes[] = {"none", "extractive", "model"};
    json_t *o = json_pack("{ss ss so sf}", "mode", modes[a->mode], "answer", a->text ? a->text : "",
                          "citations", kb_citations_json(a), "latency_ms", a->latency_ms);
    json_object_set_new(o, "notice", a->notice ? json_string(a->notice) : json_null());
    json_object_set_new(o, "model", a->model ? json_string(a->model) : json_null());
    return o;
}
