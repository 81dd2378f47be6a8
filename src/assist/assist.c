/* The super assistant's answer pipeline (see assist.h for the steps). The
 * model only ever sees masked text: every message built for it goes
 * through one PII map per question, and its answer is unmasked as it
 * streams, so the user reads their own data back while the model never
 * had it. */
#include "assist/assist.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assist/conv.h"
#include "assist/rewrite.h"
#include "assist/safety.h"
#include "assist/websearch.h"
#include "auth/acl.h"
#include "auth/audit.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "kb/faq.h"
#include "llm/gateway.h"
#include "text/pii.h"
#include "text/utf8.h"

#define HISTORY_TURNS 3 /* earlier turns given to the rewriter and the model */
/* Summaries read the conversation's files whole, up to SUMMARY_MAX_CHARS:
 * when they are longer than one request's budget (summary_budget_chars)
 * they are read in parts (map: a summary per part, summary_parallel at a
 * time), then summed up (reduce). */
#define SUMMARY_MAX_CHARS 400000
#define SUMMARY_PARTS_MAX 48 /* past this the budget grows: the reduce must fit */
#define SUMMARY_SECTIONS 12  /* sections quoted per document without a model, at least */
#define SUMMARY_LINES 150
#define NOT_FOUND_TEXT "知识库中未找到相关规定。"
#define BLOCKED_TEXT                                                                                                    \
    "抱歉，您的问题包含不允许讨论的内容，无法回答。/ Sorry, this question touches a topic that " \
    "cannot be answered here."
#define FALLBACK_NOTICE "模型不可用，已改用摘录答案 / the model is unavailable: extractive answer"

static const char SYSTEM_PROMPT[] =
    "你是银行内部的知识助手。只依据下面编号的资料作答，不要使用资料以外的知识；"
    "每句依据资料的话后面用 [编号] 标注出处，例如 [1]；"
    "资料不足以回答时，只回答“" NOT_FOUND_TEXT "”。回答简洁、准确，使用简体中文。"
    "资料和问题中形如 [身份证1]、[手机号1] 的占位符代表客户信息，原样保留，不要猜测其内容。";

static const char MAP_PROMPT[] =
    "你是银行内部的文档助手。下面是文件的一部分（按原文顺序）。用简体中文概括这一部分的要点："
    "保留条款编号、金额、期限和责任主体，不要添加原文没有的内容，不超过300字。"
    "形如 [身份证1]、[手机号1] 的占位符原样保留。";
static const char REDUCE_PROMPT[] =
    "你是银行内部的文档助手。下面编号的资料是同一批文件各部分的要点，按原文顺序排列。"
    "据此写出整体总结：先用一两句话说明文件讲什么，再分条列出要点，每条后面用 [编号] 标注出处，"
    "例如 [1]。只依据资料，不要添加资料以外的内容，使用简体中文。"
    "形如 [身份证1]、[手机号1] 的占位符原样保留。";

struct running {
    int64_t user_id, conv_id;
    volatile int stop;
    struct running *next, **prev; /* in its bucket of assist.running */
};

/* Running answers hashed by conversation: with 1,000 answers in flight a
 * single list made run_begin/run_end walk ~1,000 entries each under a->mu
 * (the biggest own-code cost in the 1,000-stream profile). */
#define RUN_BUCKETS 256u

struct assist {
    const struct config *cfg;
    size_t summary_budget;   /* characters of file text per map request */
    size_t summary_parallel; /* map requests at once */
    struct gw *gw;
    struct safety *safety;
    struct audit_writer *audit;
    struct faq_index *faq;
    pthread_mutex_t mu; /* guards running */
    struct running *running[RUN_BUCKETS];
};

int assist_new(const struct config *cfg, struct gw *gw, struct safety *safety,
               struct audit_writer *audit, struct assist **out, struct buf *err)
{
    (void)err;
    struct assist *a = xcalloc(1, sizeof *a);
    a->cfg = cfg;
    a->gw = gw;
    a->safety = safety;
    a->audit = audit;
    a->faq = faq_index_new();
    /* Out-of-range settings take the nearest bound. */
    int b = cfg->summary_budget_chars, p = cfg->summary_parallel;
    a->summary_budget = b < 200 ? 200 : b > 1000000 ? 1000000 : (size_t)b;
    a->summary_parallel = p < 1 ? 1 : p > 16 ? 16 : (size_t)p;
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return RC_OK;
}

void assist_free(struct assist *a)
{
    if (!a)
        return;
    faq_index_free(a->faq);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void assist_answer_release(struct assist_answer *ans)
{
    free(ans->text);
    free(ans->thinking);
    free(ans->query);
    free(ans->mode);
    free(ans->model);
    free(ans->notice);
    json_decref(ans->citations);
    memset(ans, 0, sizeof *ans);
}

json_t *assist_answer_json(const struct assist_answer *ans)
{
    json_t *j = json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:s,s:O,s:f,s:{s:I,s:I}}", "message_id", (json_int_t)ans->msg_id,
        "mode", ans->mode ? ans->mode : "", "answer", ans->text ? ans->text : "", "query",
        ans->query ? ans->query : "", "thinking", ans->thinking ? ans->thinking : "", "model",
        ans->model ? ans->model : "", "citations", ans->citations ? ans->citations : json_null(),
        "latency_ms", ans->latency_ms, "usage", "prompt_tokens", (json_int_t)ans->prompt_tokens,
        "completion_tokens", (json_int_t)ans->completion_tokens);
    if (j &&
        json_object_set_new(j, "notice", ans->notice ? json_string(ans->notice) : json_null()) != 0)
        log_warn("assist: notice left out of an answer");
    return j;
}

/* ---- running answers (stop) ---- */

static struct running **run_bucket(struct assist *a, int64_t conv_id)
{
    uint64_t h = (uint64_t)conv_id * 0x9E3779B97F4A7C15ull;
    return &a->running[(h >> 32) % RUN_BUCKETS];
}

static struct running *run_begin(struct assist *a, int64_t user_id, int64_t conv_id)
{
    pthread_mutex_lock(&a->mu);
    struct running **head = run_bucket(a, conv_id);
    for (struct running *r = *head; r; r = r->next)
        if (r->conv_id == conv_id) {
            pthread_mutex_unlock(&a->mu);
            return NULL;
        }
    struct running *r = xcalloc(1, sizeof *r);
    r->user_id = user_id;
    r->conv_id = conv_id;
    r->next = *head;
    if (r->next)
        r->next->prev = &r->next;
    r->prev = head;
    *head = r;
    pthread_mutex_unlock(&a->mu);
    return r;
}

static void run_end(struct assist *a, struct running *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&a->mu);
    *r->prev = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_mutex_unlock(&a->mu);
    free(r);
}

int assist_stop(struct assist *a, int64_t user_id, int64_t conv_id)
{
    int rc = RC_NOT_FOUND;
    pthread_mutex_lock(&a->mu);
    for (struct running *r = *run_bucket(a, conv_id); r; r = r->next)
        if (r->conv_id == conv_id && r->user_id == user_id) {
            r->stop = 1;
            rc = RC_OK;
        }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ---- the model, behind the PII mask ---- */

struct stream {
    struct assist *a;
    struct running *run;
    assist_cb cb;
    void *ctx;
    struct pii_unmasker um;       /* answer text */
    struct pii_unmasker umt;      /* thinking text */
    struct safety_stream *filter; /* sensitive words in the answer, or NULL */
    int blocked;                  /* the answer hit a blocked word */
    struct buf shown;             /* the unmasked answer as sent */
    struct buf thinking;
    int stopped;
    double t0, first_ms;
};

static int stopped(struct stream *s)
{
    return s->stopped || (s->run && s->run->stop);
}

static int emit(struct stream *s, enum assist_event ev, const char *p, size_t n)
{
    if (!n)
        return stopped(s);
    if (s->first_ms < 0 && ev == AE_DELTA)
        s->first_ms = now_ms() - s->t0;
    if (s->cb && s->cb(s->ctx, ev, p, n))
        s->stopped = 1;
    return stopped(s);
}

static int on_delta(void *ctx, enum llm_delta_kind kind, const char *p, size_t n)
{
    struct stream *s = ctx;
    if (stopped(s))
        return 1;
    int thinking = kind == LLM_REASONING;
    struct pii_unmasker *um = thinking ? &s->umt : &s->um;
    if (um->nhold == 0 && pii_map_size(um->map) == 0 && (thinking || !s->filter)) {
        /* nothing was masked and nothing filters: the text goes as it came */
        (void)buf_add(thinking ? &s->thinking : &s->shown, p, n);
        return emit(s, thinking ? AE_THINKING : AE_DELTA, p, n);
    }
    struct buf out = BUF_INIT;
    if (pii_unmasker_feed(thinking ? &s->umt : &s->um, p, n, &out) != RC_OK) {
        buf_release(&out);
        return 1;
    }
    if (!thinking && s->filter) {
        struct buf f = BUF_INIT;
        struct safety_result sr;
        memset(&sr, 0, sizeof sr);
        if (safety_stream_feed(s->filter, out.p ? out.p : "", out.len, &f, &sr) != RC_OK ||
            sr.verdict == SAFETY_BLOCKED) {
            s->blocked = 1;
            buf_release(&f);
            buf_release(&out);
            return 1;
        }
        buf_release(&out);
        out = f;
    }
    (void)buf_add(thinking ? &s->thinking : &s->shown, out.p ? out.p : "", out.len);
    int stop = emit(s, thinking ? AE_THINKING : AE_DELTA, out.p, out.len);
    buf_release(&out);
    return stop;
}

/* Masks every message with one map, so the same customer number is the
 * same placeholder everywhere. msgs[i].content point into bufs. */
static int mask_msgs(struct pii_map *m, struct llm_msg *msgs, size_t n, struct buf *bufs)
{
    for (size_t i = 0; i < n; i++) {
        buf_init(&bufs[i], BUF_NOMAX);
        if (pii_mask(m, msgs[i].content, strlen(msgs[i].content), &bufs[i]) != RC_OK)
            return RC_TOO_BIG;
        msgs[i].content = buf_str(&bufs[i]);
    }
    return RC_OK;
}

/* The rewriter's chat function: a short non-streamed call, masked. */
struct rw_ctx {
    struct assist *a;
    const char *model;
    int64_t user_id;
};

static int rw_chat(void *ctx, const struct llm_msg *msgs, size_t n, struct buf *out,
                   struct buf *err)
{
    struct rw_ctx *r = ctx;
    struct llm_msg m[8];
    struct buf bufs[8];
    if (n > 8)
        return RC_INVALID;
    memcpy(m, msgs, n * sizeof *m);
    struct pii_map *map = pii_map_new();
    struct llm_result res;
    memset(&res, 0, sizeof res);
    int rc = mask_msgs(map, m, n, bufs);
    if (rc == RC_OK) {
        struct gw_call_opts o = {.user_id = r->user_id};
        rc = gw_chat(r->a->gw, r->model, m, n, NULL, NULL, &res, NULL, &o, err);
    }
    if (rc == RC_OK && res.content)
        rc = pii_unmask(map, res.content, strlen(res.content), out);
    llm_result_release(&res);
    for (size_t i = 0; i < n; i++)
        buf_release(&bufs[i]);
    pii_map_free(map);
    return rc;
}

/* ---- pieces of an answer ---- */

static int model_available(struct assist *a, const char *model)
{
    int64_t id = 0;
    return a->gw && gw_resolve(a->gw, model, GW_CHAT, &id) == RC_OK;
}

/* The KBs to search: the selection, or all who may read; and the
 * conversation's files KB. ids is malloc'd. */
static int kb_set(struct kb_conn *c, const struct auth_principal *who, int all, const int64_t *sel,
                  size_t nsel, int64_t files_kb, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    if (all) {
        struct kb_info *kbs = NULL;
        size_t nk = 0;
        int rc = kb_list_for(c, who, &kbs, &nk);
        if (rc)
            return rc;
        for (size_t i = 0; i < nk; i++) {
            *ids = xgrow(*ids, &cap, *n + 1, sizeof **ids);
            (*ids)[(*n)++] = kbs[i].id;
        }
        kb_infos_free(kbs, nk);
    } else {
        /* Only KBs who may read: the FAQ match takes ids as given. */
        for (size_t i = 0; i < nsel; i++)
            if (kb_readable(c, who, sel[i]) == RC_OK) {
                *ids = xgrow(*ids, &cap, *n + 1, sizeof **ids);
                (*ids)[(*n)++] = sel[i];
            }
    }
    if (files_kb > 0 && kb_readable(c, who, files_kb) == RC_OK) {
        *ids = xgrow(*ids, &cap, *n + 1, sizeof **ids);
        (*ids)[(*n)++] = files_kb;
    }
    return RC_OK;
}

/* KB citations with their kind, as an array. */
static json_t *kb_cites_json(const struct kb_answer *ka)
{
    json_t *arr = kb_citations_json(ka);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)(void) json_object_set_new(c, "kind", json_string("kb"));
    return arr;
}

static void audit_question(struct assist *a, const struct assist_request *rq, const char *query,
                           const int64_t *ids, size_t nids, json_t *citations, const char *mode)
{
    if (!a->audit)
        return;
    json_t *kbs = json_array(), *chunks = json_array();
    for (size_t i = 0; i < nids; i++)
        (void)json_array_append_new(kbs, json_integer(ids[i]));
    size_t i;
    json_t *c;
    json_array_foreach(citations, i, c)
    {
        json_t *id = json_object_get(c, "chunk_id");
        if (json_is_integer(id))
            (void)json_array_append(chunks, id);
    }
    json_t *detail =
        json_pack("{s:s,s:s,s:o,s:o,s:s}", "question", rq->question ? rq->question : "", "query",
                  query ? query : "", "kbs", kbs, "chunks", chunks, "mode", mode);
    char target[32];
    snprintf(target, sizeof target, "conv:%lld", (long long)rq->conv_id);
    struct audit_entry e;
    audit_entry_from(&e, rq->who);
    e.action = "kb.ask";
    e.target = rq->conv_id ? target : "";
    e.detail = detail;
    e.ip = rq->ip ? rq->ip : "";
    audit_writer_post(a->audit, &e);
    json_decref(detail);
}

/* Does the question ask for a summary (of the conversation's files)? */
static int wants_summary(const char *q)
{
    static const char *const cues[] = {"总结", "概括", "摘要",   "归纳",
                                       "梳理", "要点", "summar", "Summar"};
    for (size_t i = 0; i < sizeof cues / sizeof cues[0]; i++)
        if (strstr(q, cues[i]))
            return 1;
    return 0;
}

/* The leading sentence of a chunk (up to 120 characters, the title line
 * the chunker repeats left out, whitespace folded) into line. */
static void lead_sentence(const struct kb_hit *h, struct buf *line)
{
    const char *t = h->text;
    size_t tl = strlen(h->doc_title);
    if (tl && strncmp(t, h->doc_title, tl) == 0 && t[tl] == '\n')
        t += tl + 1;
    size_t n = strlen(t), cut = 0, chars = 0;
    while (cut < n && chars < 120) {
        uint32_t cp;
        size_t used = utf8_decode(t + cut, n - cut, &cp);
        if (cp == '\n' || cp == '\r' || cp == '\t')
            (void)buf_addc(line, ' ');
        else
            (void)buf_add(line, t + cut, used);
        cut += used;
        chars++;
        if (cp == 0x3002 /* 。 */ || cp == 0xFF01 || cp == 0xFF1F)
            break;
    }
    while (line->len && (line->p[line->len - 1] == ' '))
        line->len--;
}

/* The summary without a model, over every document: for each document
 * (in order) its title, then the leading sentence of each section (a
 * chunk whose heading differs from the one before), each cited; at most
 * SUMMARY_LINES lines, shared out among the documents (at least
 * SUMMARY_SECTIONS each) so that a long one does not crowd out the rest. */
static void summary_extractive(const struct kb_hits *h, struct kb_answer *ka)
{
    size_t ndocs = 0;
    for (size_t i = 0; i < h->n; i++)
        ndocs += i == 0 || h->a[i].doc_id != h->a[i - 1].doc_id;
    size_t per_doc = ndocs ? SUMMARY_LINES / ndocs : SUMMARY_LINES;
    if (per_doc < SUMMARY_SECTIONS)
        per_doc = SUMMARY_SECTIONS;
    struct buf b = BUF_INIT;
    (void)buf_adds(&b, "文件要点（摘录）：");
    size_t shown = 0, in_doc = 0;
    for (size_t i = 0; i < h->n && shown < SUMMARY_LINES; i++) {
        const struct kb_hit *x = &h->a[i];
        int new_doc = i == 0 || x->doc_id != h->a[i - 1].doc_id;
        if (new_doc) {
            (void)buf_addf(&b, "\n\n《%s》", x->doc_title);
            in_doc = 0;
        } else if (strcmp(x->heading, h->a[i - 1].heading) == 0 || in_doc >= per_doc) {
            continue; /* the same section, or enough of this document */
        }
        struct buf line = BUF_INIT;
        lead_sentence(x, &line);
        if (line.len) {
            (void)buf_addf(&b, "\n%zu. %s%s%.*s [%zu]", in_doc + 1, x->heading,
                           x->heading[0] ? "：" : "", (int)line.len, line.p, shown + 1);
            kb_answer_add_citation(ka, (int)(shown + 1), x);
            shown++;
            in_doc++;
        }
        buf_release(&line);
    }
    ka->mode = shown ? KB_ANSWER_EXTRACTIVE : KB_ANSWER_NONE;
    ka->text = shown ? buf_detach(&b, NULL) : xstrdup(NOT_FOUND_TEXT);
    buf_release(&b);
}

/* ---- summaries of long files: map, then reduce ---- */

struct sum_part {
    size_t first, n; /* chunks [first, first + n) of the files */
    struct buf text; /* their text, masked */
    char *summary;   /* the model's summary of it (masked), or NULL */
    struct buf err;
    struct assist *a; /* for the map thread */
    const char *model;
    int64_t user_id;
};

static void *map_part(void *arg)
{
    struct sum_part *p = arg;
    struct llm_msg msgs[2] = {{.role = "system", .content = MAP_PROMPT},
                              {.role = "user", .content = buf_str(&p->text)}};
    struct llm_result res;
    memset(&res, 0, sizeof res);
    struct gw_call_opts go = {.user_id = p->user_id};
    if (gw_chat(p->a->gw, p->model, msgs, 2, NULL, NULL, &res, NULL, &go, &p->err) == RC_OK &&
        res.content && res.content[0]) {
        p->summary = res.content;
        res.content = NULL;
    }
    llm_result_release(&res);
    return NULL;
}

/* Splits the files' chunks into parts of about a->summary_budget
 * characters (whole chunks, in order; more when there would be more than
 * SUMMARY_PARTS_MAX parts), masked with map. Returns the number of parts
 * (*out, malloc'd), 0 when the chunks fit one request. */
static size_t summary_parts(struct assist *a, struct pii_map *map, const struct kb_hits *h,
                            struct sum_part **out)
{
    size_t total = 0;
    for (size_t i = 0; i < h->n; i++)
        total += strlen(h->a[i].text) + strlen(h->a[i].doc_title) + 8;
    size_t budget = a->summary_budget * 3; /* characters to bytes, about (CJK) */
    *out = NULL;
    if (total <= budget)
        return 0;
    if (total / budget + 1 > SUMMARY_PARTS_MAX)
        budget = total / SUMMARY_PARTS_MAX + 1;
    struct sum_part *parts = NULL;
    size_t np = 0, cap = 0;
    for (size_t i = 0; i < h->n; i++) {
        const struct kb_hit *x = &h->a[i];
        size_t add = strlen(x->text) + strlen(x->doc_title) + 8;
        struct sum_part *p = np ? &parts[np - 1] : NULL;
        if (!p || (p->text.len && p->text.len + add > budget)) {
            parts = xgrow(parts, &cap, np + 1, sizeof *parts);
            p = &parts[np++];
            memset(p, 0, sizeof *p);
            buf_init(&p->text, BUF_NOMAX);
            buf_init(&p->err, 4096);
            p->first = i;
        }
        struct buf raw = BUF_INIT;
        (void)buf_addf(&raw, "《%s》%s%s\n%s\n\n", x->doc_title, x->heading[0] ? " " : "",
                       x->heading, x->text);
        if (pii_mask(map, raw.p, raw.len, &p->text) != RC_OK)
            (void)buf_adds(&p->text, "（此段无法处理 / left out）\n\n");
        buf_release(&raw);
        p->n++;
    }
    *out = parts;
    return np;
}

static void summary_parts_free(struct sum_part *parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_release(&parts[i].text);
        buf_release(&parts[i].err);
        free(parts[i].summary);
    }
    free(parts);
}

static int emit(struct stream *s, enum assist_event ev, const char *p, size_t n);
static int stopped(struct stream *s);

/* The map step: every part summarised by the model, a->summary_parallel at
 * a time, with a notice as each wave ends. On RC_OK *sources holds one
 * source per part (its first chunk's document, the part's summary as
 * text) for the reduce, nothing when the chunks fit one request or the
 * answer was stopped (stopped(st)); RC_UPSTREAM when a part failed. */
static int summary_map(struct assist *a, const char *model, int64_t uid, struct pii_map *map,
                       const struct kb_hits *chunks, struct stream *st, struct kb_hits *sources)
{
    struct sum_part *parts = NULL;
    size_t np = summary_parts(a, map, chunks, &parts), done = 0;
    int rc = RC_OK;
    char note[256];
    if (!np)
        return RC_OK;
    snprintf(note, sizeof note, "文件较长，分 %zu 部分阅读 / a long text: reading it in %zu parts",
             np, np);
    (void)emit(st, AE_NOTICE, note, strlen(note));
    while (done < np && rc == RC_OK) {
        size_t wave = np - done < a->summary_parallel ? np - done : a->summary_parallel;
        pthread_t th[16];
        int started[16] = {0};
        for (size_t i = 0; i < wave; i++) {
            struct sum_part *p = &parts[done + i];
            p->a = a;
            p->model = model;
            p->user_id = uid;
            started[i] = pthread_create(&th[i], NULL, map_part, p) == 0;
            if (!started[i])
                map_part(p); /* no thread: this one in turn */
        }
        for (size_t i = 0; i < wave; i++)
            if (started[i])
                pthread_join(th[i], NULL);
        for (size_t i = 0; i < wave; i++)
            if (!parts[done + i].summary) {
                log_warn("assist: a summary part failed: %s", buf_str(&parts[done + i].err));
                rc = RC_UPSTREAM;
            }
        done += wave;
        snprintf(note, sizeof note, "已阅读 %zu/%zu 部分 / read %zu of %zu parts", done, np, done,
                 np);
        if (rc == RC_OK && emit(st, AE_NOTICE, note, strlen(note)))
            break; /* stopped */
    }
    if (rc == RC_OK && !stopped(st)) {
        sources->a = xcalloc(np, sizeof *sources->a);
        sources->n = np;
        for (size_t i = 0; i < np; i++) {
            const struct kb_hit *f = &chunks->a[parts[i].first];
            struct kb_hit *x = &sources->a[i];
            *x = *f;
            x->doc_name = xstrdup(f->doc_name ? f->doc_name : "");
            x->doc_title = xstrdup(f->doc_title ? f->doc_title : "");
            x->heading = xstrdup(f->heading ? f->heading : "");
            x->label = xstrdup(f->label ? f->label : "");
            x->highlight = NULL;
            x->score = x->coverage = 1;
            /* the documents this part covers, then its summary */
            struct buf t = BUF_INIT;
            for (size_t k = parts[i].first; k < parts[i].first + parts[i].n; k++)
                if (k == parts[i].first || chunks->a[k].doc_id != chunks->a[k - 1].doc_id)
                    (void)buf_addf(&t, "%s《%s》", k == parts[i].first ? "（涉及 " : "",
                                   chunks->a[k].doc_title);
            (void)buf_addf(&t, "，第 %zu/%zu 部分）\n%s", i + 1, np, parts[i].summary);
            x->text = buf_detach(&t, NULL);
            buf_release(&t);
        }
    }
    summary_parts_free(parts, np);
    return rc;
}

/* The connection is not needed while the network is: lend it (see
 * assist_request) and take one again after. */
static void conn_pause(const struct assist_request *rq)
{
    if (rq->conn_lend && rq->conn_take)
        rq->conn_lend(rq->conn_ctx);
}

static int conn_resume(const struct assist_request *rq, struct kb_conn **c, struct db_conn **d)
{
    if (!rq->conn_lend || !rq->conn_take)
        return RC_OK;
    struct kb_conn *n = rq->conn_take(rq->conn_ctx);
    if (!n) { /* the old one was lent: never touch it again */
        *c = NULL;
        *d = NULL;
        return RC_DB;
    }
    *c = n;
    *d = kb_conn_store(n);
    return RC_OK;
}

/* ---- the whole answer ---- */

/* Stage times before the first token, logged per answer when
 * ATRIUM_ASK_TRACE is set (bench/assist.sh; docs/BENCHMARKS.md). */
enum {
    TR_CONV,
    TR_SAFETY,
    TR_HISTORY,
    TR_REWRITE,
    TR_KBSET,
    TR_WRITE,
    TR_FAQ,
    TR_SEARCH,
    TR_MODEL,
    TR_N
};
#define TR(k) (tr[k] = now_ms())

static int trace_on(void)
{
    static int on = -1;
    int v = __atomic_load_n(&on, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("ATRIUM_ASK_TRACE");
        v = e && *e && strcmp(e, "0") != 0;
        __atomic_store_n(&on, v, __ATOMIC_RELAXED);
    }
    return v;
}

static void trace_log(const double *tr, double t0, double first_ms)
{
    static const char *const names[TR_N] = {"conv",  "safety", "history", "rewrite", "kbset",
                                            "write", "faq",    "search",  "model"};
    char line[512];
    size_t off = 0;
    double prev = t0;
    for (int i = 0; i < TR_N && off < sizeof line; i++) {
        if (tr[i] <= 0)
            continue;
        int n = snprintf(line + off, sizeof line - off, " %s=%.2f", names[i], tr[i] - prev);
        if (n < 0)
            break;
        off += (size_t)n;
        prev = tr[i];
    }
    /* model_at and first_at are CLOCK_MONOTONIC ms, as the fake model's own
     * timestamps on the same host: bench/assist.sh pairs them by request id. */
    log_warn("ask trace (ms):%s first_token=%.2f after_model=%.2f model_at=%.3f first_at=%.3f",
             line, first_ms, first_ms >= 0 ? first_ms - (prev - t0) : -1.0, tr[TR_MODEL],
             first_ms >= 0 ? t0 + first_ms : -1.0);
}

int assist_ask(struct assist *a, struct kb_conn *c, const struct assist_request *rq, assist_cb cb,
               void *ctx, struct assist_answer *out, struct buf *err)
{
    memset(out, 0, sizeof *out);
    const struct config *cfg = a->cfg;
    struct db_conn *d = kb_conn_store(c);
    int64_t uid = rq->who->user_id;
    double t0 = now_ms();
    struct conv conv;
    memset(&conv, 0, sizeof conv);
    struct conv_history hist = {0};
    struct running *run = NULL;
    struct kb_hits hits = {0}, chunks = {0};
    const char *sys_prompt = SYSTEM_PROMPT;
    struct kb_answer ka;
    memset(&ka, 0, sizeof ka);
    struct websearch_results web = {0};
    struct faq_match fm;
    memset(&fm, 0, sizeof fm);
    struct stream st;
    memset(&st, 0, sizeof st);
    struct pii_map *map = pii_map_new();
    int blocked_in = 0;
    char *question = NULL, *query = NULL;
    int64_t *kb_ids = NULL, *ids = NULL;
    size_t nkb = 0, nids = 0;
    int all = rq->all_kbs, web_on = rq->web, rc = RC_OK;
    const char *model = rq->model;
    double tr[TR_N] = {0};
    buf_init(&st.shown, 4u << 20);
    buf_init(&st.thinking, 4u << 20);

    /* 1. the question and its conversation */
    if (rq->conv_id > 0) {
        rc = conv_get(d, uid, rq->conv_id, &conv);
        if (rc)
            goto out;
        run = run_begin(a, uid, rq->conv_id);
        if (!run) {
            (void)buf_adds(err, "该会话正在回答中 / an answer is already running here");
            rc = RC_BUSY;
            goto out;
        }
        if (rq->regenerate) {
            char *q2 = NULL;
            rc = conv_regenerate(d, uid, rq->conv_id, &out->user_msg_id, &question, &q2);
            free(q2); /* asked again: rewritten again, with today's history */
            if (rc)
                goto out;
        } else {
            question = xstrdup(rq->question ? rq->question : "");
        }
        rc = conv_kbs_parse(conv.kbs, &all, &kb_ids, &nkb);
        if (rc)
            goto out;
        web_on = conv.web;
        if (conv.assistant[0])
            model = conv.assistant;
    } else {
        question = xstrdup(rq->question ? rq->question : "");
    }
    TR(TR_CONV);
    /* Sensitive words: a blocked question is refused politely (and
     * recorded); a masked one goes on with the words starred out. */
    if ((rc = safety_screen_question(a->safety, d, &question, &blocked_in, &st.filter, err)) !=
        RC_OK)
        goto out;
    if (blocked_in)
        log_info("assist: a question was blocked by the sensitive-word list");
    int use_model = !rq->no_model && model_available(a, model);
    TR(TR_SAFETY);

    /* 2. history and the standalone question */
    struct rw_turn turns[HISTORY_TURNS];
    size_t nturns = 0;
    if (rq->conv_id > 0) {
        rc = conv_history(d, uid, rq->conv_id, HISTORY_TURNS, out->user_msg_id, &hist);
        if (rc)
            goto out;
        for (size_t i = 0; i < hist.n && nturns < HISTORY_TURNS; i++)
            turns[nturns++] = (struct rw_turn){hist.turns[i].query, hist.turns[i].answer};
    } else {
        for (size_t i = 0; i < rq->nhistory; i++)
            if (strcmp(rq->history[i].role, "user") == 0 && nturns < HISTORY_TURNS) {
                const char *ans =
                    i + 1 < rq->nhistory && strcmp(rq->history[i + 1].role, "assistant") == 0
                        ? rq->history[i + 1].content
                        : "";
                turns[nturns++] = (struct rw_turn){rq->history[i].content, ans};
            }
    }
    TR(TR_HISTORY);
    struct rw_ctx rwc = {a, model, uid};
    struct rw_opts rwo = {use_model ? rw_chat : NULL, &rwc, HISTORY_TURNS};
    if (blocked_in) /* a blocked question goes nowhere, not even to the rewriter */
        query = xstrdup(question);
    else if ((rc = rw_rewrite(question, turns, nturns, &rwo, &query, NULL)) != RC_OK)
        goto out;
    TR(TR_REWRITE);
    out->query = xstrdup(query);

    /* 3. where to look */
    rc = kb_set(c, rq->who, all || (!rq->conv_id && !rq->kb_ids),
                all      ? NULL
                : kb_ids ? kb_ids
                         : rq->kb_ids,
                kb_ids ? nkb : rq->nkbs, conv.files_kb_id, &ids, &nids);
    if (rc)
        goto out;
    TR(TR_KBSET);
    /* The question (with its standalone form; the history above was read
     * before it, so it is not its own history) and the streaming answer's
     * row are stored in one write transaction: one commit, one wait for
     * the write lock, before the first token. */
    if (rq->conv_id > 0) {
        struct db_tx tx;
        rc = db_tx_begin(d->db, &tx);
        if (rc)
            goto out;
        if (!rq->regenerate)
            rc = conv_msg_add_user(d, uid, rq->conv_id, question, query, &out->user_msg_id, err);
        else if (out->user_msg_id && conv_msg_set_query(d, uid, out->user_msg_id, query) != RC_OK)
            log_warn("assist: the standalone question was not stored");
        if (rc == RC_OK)
            rc = conv_msg_start(d, uid, rq->conv_id, use_model ? model : NULL, &out->msg_id);
        int rc2 = db_tx_end(d->db, &tx, rc == RC_OK);
        if (rc == RC_OK)
            rc = rc2;
        if (rc) {
            if (!rq->regenerate)
                out->user_msg_id = 0;
            out->msg_id = 0; /* rolled back: nothing to mark failed */
            goto out;
        }
    }
    TR(TR_WRITE);
    st.a = a;
    st.run = run;
    st.cb = cb;
    st.ctx = ctx;
    st.t0 = t0;
    st.first_ms = -1;

    if (blocked_in) {
        out->mode = xstrdup("blocked");
        out->text = xstrdup(BLOCKED_TEXT);
        out->citations = json_array();
        (void)emit(&st, AE_DELTA, out->text, strlen(out->text));
        goto done;
    }

    /* 4. a curated FAQ answer comes first */
    if (nids && faq_match(a->faq, d, ids, nids, query, cfg->faq_threshold, &fm) == RC_OK) {
        out->mode = xstrdup("faq");
        out->text = xstrdup(fm.answer);
        out->citations = json_array();
        json_t *fc = faq_match_citation_json(&fm);
        (void)json_object_set_new(fc, "kind", json_string("faq"));
        (void)json_array_append_new(out->citations, fc);
        (void)emit(&st, AE_DELTA, out->text, strlen(out->text));
        goto done;
    }

    TR(TR_FAQ);
    /* 5. search the KBs and the web — or, for "总结一下这份文件", read the
     * conversation's files from the start */
    struct kb_search_opts so = {rq->k > 0 ? rq->k : 5, KB_NO_HIGHLIGHT, rq->who};
    int summary = conv.files_kb_id > 0 && wants_summary(query);
    if (summary) {
        rc = kb_leading_chunks(c, rq->who, conv.files_kb_id, SUMMARY_MAX_CHARS, &hits);
        if (rc)
            goto out;
        summary = hits.n > 0;
    }
    /* A long text is read in parts first; the parts' summaries are then
     * the sources of the final one (the chunks are kept for citations
     * and for the extracts should the model fail). */
    if (summary && use_model) {
        struct kb_hits parts = {0};
        conn_pause(rq);
        int mrc = summary_map(a, model, uid, map, &hits, &st, &parts);
        if (conn_resume(rq, &c, &d) != RC_OK) {
            kb_hits_release(&parts);
            rc = RC_DB;
            goto out;
        }
        if (stopped(&st)) {
            kb_hits_release(&parts);
            out->mode = xstrdup("none");
            out->text = xstrdup("");
            out->citations = json_array();
            goto done;
        }
        if (mrc != RC_OK) {
            use_model = 0; /* the extracts, with the fallback notice */
            out->notice = xstrdup(FALLBACK_NOTICE);
            (void)emit(&st, AE_NOTICE, out->notice, strlen(out->notice));
        } else if (parts.n) {
            chunks = hits;
            hits = parts;
            sys_prompt = REDUCE_PROMPT;
        }
    }
    if (!summary && nids) {
        rc = kb_search_many(c, ids, nids, query, &so, &hits, err);
        if (rc)
            goto out;
    }
    size_t nsrc = 0;
    for (size_t i = 0; i < hits.n && hits.a[i].coverage >= cfg->min_score; i++)
        nsrc = i + 1;
    if (web_on && websearch_enabled(cfg)) {
        struct buf mq = BUF_INIT;
        struct buf werr = BUF_INIT;
        /* the web never sees a customer's data either */
        conn_pause(rq);
        if (pii_mask(map, query, strlen(query), &mq) == RC_OK &&
            websearch_query(cfg, buf_str(&mq), NULL, &web, &werr) != RC_OK)
            log_warn("assist: web search failed: %s", buf_str(&werr));
        if (conn_resume(rq, &c, &d) != RC_OK) {
            buf_release(&mq);
            buf_release(&werr);
            rc = RC_DB;
            goto out;
        }
        buf_release(&mq);
        buf_release(&werr);
    }

    TR(TR_SEARCH);
    /* 6. the answer: the model over the sources, or the extracts */
    if (use_model && (nsrc || web.n)) {
        struct buf user = BUF_INIT;
        (void)buf_adds(&user, "资料：\n");
        for (size_t i = 0; i < nsrc; i++) {
            char *cite = kb_cite_string(hits.a[i].doc_title, hits.a[i].label, hits.a[i].heading);
            (void)buf_addf(&user, "[%zu] %s\n%s\n\n", i + 1, cite, hits.a[i].text);
            free(cite);
        }
        (void)websearch_prompt(&web, (int)nsrc + 1, &user);
        (void)buf_addf(&user, "\n问题：%s", query);
        struct llm_msg msgs[2 + 2 * HISTORY_TURNS];
        size_t nm = 0;
        msgs[nm++] = (struct llm_msg){.role = "system", .content = sys_prompt};
        for (size_t i = 0; i < nturns; i++) {
            msgs[nm++] = (struct llm_msg){.role = "user", .content = turns[i].question};
            if (turns[i].answer && turns[i].answer[0])
                msgs[nm++] = (struct llm_msg){.role = "assistant", .content = turns[i].answer};
        }
        msgs[nm++] = (struct llm_msg){.role = "user", .content = buf_str(&user)};
        struct buf bufs[2 + 2 * HISTORY_TURNS];
        struct llm_result res;
        memset(&res, 0, sizeof res);
        struct gw_call_info info;
        memset(&info, 0, sizeof info);
        struct buf why = BUF_INIT;
        pii_unmasker_init(&st.um, map);
        pii_unmasker_init(&st.umt, map);
        int mrc = mask_msgs(map, msgs, nm, bufs);
        if (mrc == RC_OK) {
            struct gw_call_opts go = {.user_id = uid};
            conn_pause(rq);
            TR(TR_MODEL);
            mrc = gw_chat(a->gw, model, msgs, nm, on_delta, &st, &res, &info, &go, &why);
            if (conn_resume(rq, &c, &d) != RC_OK) {
                for (size_t i = 0; i < nm; i++)
                    buf_release(&bufs[i]);
                buf_release(&user);
                llm_result_release(&res);
                buf_release(&why);
                rc = RC_DB;
                goto out;
            }
        }
        if (mrc == RC_OK) {
            struct buf tail = BUF_INIT;
            (void)pii_unmasker_finish(&st.um, &tail);
            if (st.filter) {
                struct buf f = BUF_INIT;
                struct safety_result sr;
                memset(&sr, 0, sizeof sr);
                if (safety_stream_feed(st.filter, tail.p ? tail.p : "", tail.len, &f, &sr) !=
                        RC_OK ||
                    sr.verdict == SAFETY_BLOCKED ||
                    safety_stream_finish(st.filter, &f, &sr) != RC_OK ||
                    sr.verdict == SAFETY_BLOCKED)
                    st.blocked = 1;
                buf_release(&tail);
                tail = f;
            }
            (void)buf_add(&st.shown, tail.p ? tail.p : "", tail.len);
            (void)emit(&st, AE_DELTA, tail.p, tail.len);
            buf_release(&tail);
            (void)pii_unmasker_finish(&st.umt, &tail);
            (void)buf_add(&st.thinking, tail.p ? tail.p : "", tail.len);
            buf_release(&tail);
        }
        for (size_t i = 0; i < nm; i++)
            buf_release(&bufs[i]);
        buf_release(&user);
        if (st.blocked) { /* the model said something on the blocked list */
            llm_result_release(&res);
            buf_release(&why);
            out->mode = xstrdup("blocked");
            out->text = xstrdup(BLOCKED_TEXT);
            out->citations = json_array();
            out->notice = xstrdup("回答包含不允许的内容，已撤回 / the answer was withdrawn");
            (void)emit(&st, AE_NOTICE, out->notice, strlen(out->notice));
            goto done;
        }
        if (mrc == RC_OK && (st.shown.len || res.cancelled || stopped(&st))) {
            out->mode = xstrdup("model");
            out->text = xstrdup(buf_str(&st.shown));
            out->thinking = xstrdup(buf_str(&st.thinking));
            out->model = xstrdup(info.model);
            out->prompt_tokens = info.prompt_tokens;
            out->completion_tokens = info.completion_tokens;
            kb_answer_cite_markers(out->text, &hits, nsrc, &ka);
            out->citations = kb_cites_json(&ka);
            json_t *wc = websearch_citations_json(&web, (int)nsrc + 1, out->text);
            (void)json_array_extend(out->citations, wc);
            json_decref(wc);
            llm_result_release(&res);
            buf_release(&why);
            goto done;
        }
        log_warn("assist: model failed, extractive answer instead: %s", buf_str(&why));
        llm_result_release(&res);
        buf_release(&why);
        if (st.shown.len) { /* it failed mid-answer: what was shown stays, marked */
            out->mode = xstrdup("model");
            out->text = xstrdup(buf_str(&st.shown));
            out->notice = xstrdup("回答中断 / the answer was cut off");
            kb_answer_cite_markers(out->text, &hits, nsrc, &ka);
            out->citations = kb_cites_json(&ka);
            goto done;
        }
        out->notice = xstrdup(FALLBACK_NOTICE);
        (void)emit(&st, AE_NOTICE, out->notice, strlen(out->notice));
    }
    if (summary)
        summary_extractive(chunks.n ? &chunks : &hits, &ka);
    else
        kb_answer_extractive(&hits, cfg->min_score, &ka);
    out->mode = xstrdup(ka.mode == KB_ANSWER_NONE ? "none" : "extractive");
    out->text = xstrdup(ka.text ? ka.text : NOT_FOUND_TEXT);
    out->citations = kb_cites_json(&ka);
    (void)emit(&st, AE_DELTA, out->text, strlen(out->text));

done:
    if (!out->model)
        out->model = xstrdup("");
    out->stopped = stopped(&st);
    out->latency_ms = now_ms() - t0;
    out->first_token_ms = st.first_ms;
    if (trace_on())
        trace_log(tr, t0, st.first_ms);
    if (out->msg_id) {
        struct conv_finish f = {out->stopped ? "stopped" : "done",
                                out->text,
                                out->citations,
                                out->thinking,
                                out->mode,
                                out->model[0] ? out->model : NULL,
                                out->latency_ms,
                                out->prompt_tokens,
                                out->completion_tokens};
        struct buf ferr = BUF_INIT;
        if (conv_msg_finish(d, uid, out->msg_id, &f, &ferr) != RC_OK)
            log_warn("assist: the answer was not stored: %s", buf_str(&ferr));
        buf_release(&ferr);
    }
    audit_question(a, rq, query, ids, nids, out->citations, out->mode);
    rc = RC_OK;
out:
    if (rc && out->msg_id && d) {
        struct conv_finish f = {"failed", "", NULL, NULL, "none", NULL, now_ms() - t0, -1, -1};
        (void)conv_msg_finish(d, uid, out->msg_id, &f, NULL);
    }
    run_end(a, run);
    conv_release(&conv);
    conv_history_release(&hist);
    kb_hits_release(&hits);
    kb_hits_release(&chunks);
    kb_answer_release(&ka);
    websearch_results_release(&web);
    faq_match_release(&fm);
    buf_release(&st.shown);
    buf_release(&st.thinking);
    safety_stream_free(st.filter);
    pii_map_free(map);
    free(question);
    free(query);
    free(kb_ids);
    free(ids);
    return rc;
}
