/* The tool registry (tools.h): definitions for the model and dispatch of
 * calls to kb/, assist/websearch, calc, workdays and the HTTP tool. */
#include "agents/tools.h"

#include <stdlib.h>
#include <string.h>

#include "agents/calc.h"
#include "agents/httptool.h"
#include "agents/jschema.h"
#include "agents/workdays.h"
#include "assist/websearch.h"
#include "common/alloc.h"
#include "common/rc.h"

#define ARGS_MAX (64 * 1024) /* bytes of one call's arguments */
#define HIT_CHARS 1200       /* characters of one KB hit handed to the model */

struct builtin {
    const char *name;
    const char *description;
    const char *schema;
};

static const struct builtin builtins[] = {
    {"kb_search",
     "在本助手可用的知识库中检索与问题相关的制度、规定和资料原文。返回带编号 [n] "
     "的片段；回答时请用这些编号标注出处。",
     "{\"type\":\"object\",\"properties\":{"
     "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":500,"
     "\"description\":\"检索用的问题或关键词\"},"
     "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10,"
     "\"description\":\"返回的片段数，默认 5\"}},"
     "\"required\":[\"query\"],\"additionalProperties\":false}"},
    {"web_search",
     "在互联网上搜索公开信息（新闻、公告、公开数据）。返回带编号 [n] 的结果；"
     "回答时请用这些编号标注出处。不要用它查询客户信息。",
     "{\"type\":\"object\",\"properties\":{"
     "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":500,"
     "\"description\":\"搜索词\"},"
     "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10,"
     "\"description\":\"返回的结果数，默认 5\"}},"
     "\"required\":[\"query\"],\"additionalProperties\":false}"},
    {"calculator",
     "精确的十进制计算器（无浮点误差），用于利息、费用、汇率等金额计算。"
     "支持 + - * / ^ 、括号、百分数（3.45%）以及函数 round(x,n)（四舍五入）、"
     "round_even(x,n)（银行家舍入）、floor(x,n)、ceil(x,n)、trunc(x,n)、min、max、abs。"
     "不要使用千位分隔符。例如 1000000*3.45%*90/360。",
     "{\"type\":\"object\",\"properties\":{"
     "\"expression\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024,"
     "\"description\":\"算式，如 1000000*3.45%*90/360\"},"
     "\"scale\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":100,"
     "\"description\":\"结果保留的小数位数（四舍五入）；不填则给出精确值\"}},"
     "\"required\":[\"expression\"],\"additionalProperties\":false}"},
    {"workdays",
     "按银行工作日历（周末、法定节假日、调休上班日）做日期计算。op："
     "is_workday 是否工作日；add_days 加减自然日；add_workdays 第 N 个工作日（N 可为负）；"
     "workdays_between 两个日期之间的工作日数（默认不含起始日、含结束日，inclusive=true "
     "时两端都含）；next_workday 下一个工作日；add_months 加减月数（月末对齐）；"
     "day_of_week 星期几。日期格式 YYYY-MM-DD。",
     "{\"type\":\"object\",\"properties\":{"
     "\"op\":{\"type\":\"string\",\"enum\":[\"is_workday\",\"add_days\",\"add_workdays\","
     "\"workdays_between\",\"next_workday\",\"add_months\",\"day_of_week\"]},"
     "\"date\":{\"type\":\"string\",\"minLength\":10,\"maxLength\":10,"
     "\"description\":\"日期 YYYY-MM-DD\"},"
     "\"days\":{\"type\":\"integer\",\"minimum\":-36600,\"maximum\":36600,"
     "\"description\":\"add_days / add_workdays 的天数\"},"
     "\"months\":{\"type\":\"integer\",\"minimum\":-3600,\"maximum\":3600,"
     "\"description\":\"add_months 的月数\"},"
     "\"end\":{\"type\":\"string\",\"minLength\":10,\"maxLength\":10,"
     "\"description\":\"workdays_between 的结束日期\"},"
     "\"inclusive\":{\"type\":\"boolean\",\"description\":\"workdays_between 是否包含起始日\"}},"
     "\"required\":[\"op\",\"date\"],\"additionalProperties\":false}"},
};
#define NBUILTINS (sizeof builtins / sizeof builtins[0])

static const struct builtin *find_builtin(const char *name)
{
    for (size_t i = 0; i < NBUILTINS; i++)
        if (!strcmp(builtins[i].name, name))
            return &builtins[i];
    return NULL;
}

static int http_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 40)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

int tools_known(const char *name)
{
    if (!name)
        return 0;
    if (find_builtin(name))
        return 1;
    return !strncmp(name, "http:", 5) && http_name_ok(name + 5);
}

static int spec_lists(const struct agent_spec *s, const char *name)
{
    for (size_t i = 0; s && i < s->ntools; i++)
        if (s->tools[i] && !strcmp(s->tools[i], name))
            return 1;
    return 0;
}

static const struct spec_http_tool *find_http(const struct agent_spec *s, const char *name)
{
    for (size_t i = 0; s && i < s->nhttp_tools; i++)
        if (s->http_tools[i].name && !strcmp(s->http_tools[i].name, name))
            return &s->http_tools[i];
    return NULL;
}

static json_t *fn_def(const char *name, const char *description, json_t *params)
{
    return json_pack("{ss s{ss ss so}}", "type", "function", "function", "name", name,
                     "description", description ? description : "", "parameters", params);
}

json_t *tools_definitions(const struct config *cfg, const struct agent_spec *spec)
{
    json_t *arr = json_array();
    for (size_t i = 0; spec && i < spec->ntools; i++) {
        const char *t = spec->tools[i];
        const struct builtin *b = t ? find_builtin(t) : NULL;
        if (b) {
            if (!strcmp(b->name, "web_search") && !(cfg && websearch_enabled(cfg)))
                continue;
            json_t *params = json_loads(b->schema, 0, NULL);
            if (params)
                (void)json_array_append_new(arr, fn_def(b->name, b->description, params));
        } else if (t && !strncmp(t, "http:", 5)) {
            const struct spec_http_tool *h = find_http(spec, t + 5);
            if (!h)
                continue;
            char name[64];
            (void)snprintf(name, sizeof name, "http_%s", h->name);
            json_t *params = h->args_schema ? json_deep_copy(h->args_schema)
                                            : json_pack("{ss s{}}", "type", "object", "properties");
            (void)json_array_append_new(arr, fn_def(name, h->description, params));
        }
    }
    return arr;
}

/* The first max_chars characters of s (whole UTF-8 characters), "…" when cut. */
static char *cut_chars(const char *s, size_t max_chars)
{
    size_t i = 0, chars = 0;
    if (!s)
        return xstrdup("");
    while (s[i]) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (chars == max_chars) {
                char *r = xmalloc(i + 4);
                memcpy(r, s, i);
                memcpy(r + i, "\xE2\x80\xA6", 4);
                return r;
            }
            chars++;
        }
        i++;
    }
    return xstrdup(s);
}

/* Dumps o; when it is over TOOL_RESULT_MAX, drops the last entries of
 * o[key] until it fits. Returns how many entries were kept (*out set). */
static size_t dump_capped(json_t *o, const char *key, char **out)
{
    json_t *arr = json_object_get(o, key);
    for (;;) {
        char *s = json_dumps(o, JSON_COMPACT);
        if (s && (strlen(s) <= TOOL_RESULT_MAX || !json_array_size(arr))) {
            *out = s;
            return json_array_size(arr);
        }
        free(s);
        if (!json_array_size(arr)) {
            *out = xstrdup("{}");
            return 0;
        }
        (void)json_array_remove(arr, json_array_size(arr) - 1);
    }
}

static int next_n(const struct tool_ctx *t)
{
    return t->citations ? (int)json_array_size(t->citations) + 1 : 1;
}

static int k_arg(const json_t *args)
{
    const json_t *k = json_object_get(args, "k");
    return json_is_integer(k) ? (int)json_integer_value(k) : 5;
}

static int call_kb_search(struct tool_ctx *t, const json_t *args, char **out, struct buf *err)
{
    struct kb_hits hits = {NULL, 0};
    struct kb_search_opts o = {k_arg(args), KB_NO_HIGHLIGHT, t->who};
    json_t *res = json_pack("{s[]}", "results");
    int rc = RC_OK;
    const char *q = json_string_value(json_object_get(args, "query"));
    if (t->spec->nkbs == 0) {
        (void)json_object_set_new(
            res, "note", json_string("本助手未配置知识库 / this agent has no knowledge base"));
        *out = json_dumps(res, JSON_COMPACT);
        goto out;
    }
    if ((rc = kb_search_many(t->c, t->spec->kbs, t->spec->nkbs, q, &o, &hits, err)) != RC_OK)
        goto out;
    int first = next_n(t);
    json_t *arr = json_object_get(res, "results");
    for (size_t i = 0; i < hits.n; i++) {
        const struct kb_hit *h = &hits.a[i];
        char *cite = kb_cite_string(h->doc_title, h->label, h->heading);
        char *text = cut_chars(h->text, HIT_CHARS);
        (void)json_array_append_new(arr, json_pack("{si ss ss}", "n", first + (int)i, "source",
                                                   cite ? cite : "", "text", text));
        free(cite);
        free(text);
    }
    if (!hits.n)
        (void)json_object_set_new(res, "note",
                                  json_string("没有找到相关内容 / nothing relevant was found"));
    size_t kept = dump_capped(res, "results", out);
    for (size_t i = 0; t->citations && i < kept; i++) {
        const struct kb_hit *h = &hits.a[i];
        char *cite = kb_cite_string(h->doc_title, h->label, h->heading);
        (void)json_array_append_new(
            t->citations,
            json_pack("{si ss sI sI sI ss ss ss ss ss ss}", "n", first + (int)i, "kind", "kb",
                      "kb_id", (json_int_t)h->kb_id, "chunk_id", (json_int_t)h->chunk_id, "doc_id",
                      (json_int_t)h->doc_id, "document", h->doc_name ? h->doc_name : "", "title",
                      h->doc_title ? h->doc_title : "", "label", h->label ? h->label : "",
                      "heading", h->heading ? h->heading : "", "cite", cite ? cite : "", "text",
                      h->text ? h->text : ""));
        free(cite);
    }
out:
    json_decref(res);
    kb_hits_release(&hits);
    return rc;
}

static int call_web_search(struct tool_ctx *t, const json_t *args, char **out, struct buf *err)
{
    struct websearch_results r = {0};
    struct websearch_opts o = {0};
    o.max_results = k_arg(args);
    o.safesearch = 1;
    int rc =
        websearch_query(t->cfg, json_string_value(json_object_get(args, "query")), &o, &r, err);
    if (rc != RC_OK)
        goto out;
    int first = next_n(t);
    json_t *res = json_pack("{s[]}", "results"), *arr = json_object_get(res, "results");
    for (size_t i = 0; i < r.n; i++)
        (void)json_array_append_new(arr, json_pack("{si ss ss ss}", "n", first + (int)i, "title",
                                                   r.items[i].title, "url", r.items[i].url,
                                                   "snippet", r.items[i].snippet));
    if (!r.n)
        (void)json_object_set_new(res, "note", json_string("没有搜索结果 / no results"));
    size_t kept = dump_capped(res, "results", out);
    json_decref(res);
    for (size_t i = 0; t->citations && i < kept; i++)
        (void)json_array_append_new(t->citations,
                                    json_pack("{si ss ss ss ss ss ss}", "n", first + (int)i, "kind",
                                              "web", "title", r.items[i].title, "url",
                                              r.items[i].url, "text", r.items[i].snippet, "snippet",
                                              r.items[i].snippet, "engine", r.items[i].engine));
out:
    websearch_results_release(&r);
    return rc;
}

static int dump_result(int rc, json_t *res, char **out)
{
    if (rc == RC_OK) {
        *out = json_dumps(res, JSON_COMPACT);
        if (!*out)
            rc = RC_INTERNAL;
        else if (strlen(*out) > TOOL_RESULT_MAX) {
            free(*out);
            *out = NULL;
            rc = RC_TOO_BIG;
        }
    }
    json_decref(res);
    return rc;
}

int tools_call(struct tool_ctx *t, const char *name, const char *args, char **out, struct buf *err)
{
    int rc = RC_OK;
    json_t *a = NULL, *schema = NULL, *res = NULL;
    const struct builtin *b = NULL;
    const struct spec_http_tool *h = NULL;
    *out = NULL;
    if (!name || !t || !t->spec) {
        rc = RC_INVALID;
        (void)buf_adds(err, "缺少工具名 / missing the tool name");
        goto out;
    }
    if ((b = find_builtin(name))) {
        if (!spec_lists(t->spec, name) ||
            (!strcmp(name, "web_search") && !(t->cfg && websearch_enabled(t->cfg))))
            b = NULL;
    } else if (!strncmp(name, "http_", 5) && http_name_ok(name + 5)) {
        char listed[64];
        (void)snprintf(listed, sizeof listed, "http:%s", name + 5);
        if (spec_lists(t->spec, listed))
            h = find_http(t->spec, name + 5);
    }
    if (!b && !h) {
        (void)buf_adds(err, "本助手没有这个工具 / this agent has no such tool");
        rc = RC_NOT_FOUND;
        goto out;
    }
    size_t alen = args ? strlen(args) : 0;
    if (alen > ARGS_MAX) {
        (void)buf_adds(err, "工具参数过长 / the tool arguments are too long");
        rc = RC_INVALID;
        goto out;
    }
    json_error_t je;
    a = alen ? json_loads(args, JSON_REJECT_DUPLICATES, &je) : json_object();
    if (!json_is_object(a)) {
        (void)buf_adds(err, "工具参数须为 JSON 对象 / the tool arguments must be a JSON object");
        rc = RC_INVALID;
        goto out;
    }
    schema = b ? json_loads(b->schema, 0, NULL) : json_incref(h->args_schema);
    if (schema && (rc = jschema_validate(schema, a, err)) != RC_OK)
        goto out;
    if (b && !strcmp(b->name, "kb_search")) {
        rc = call_kb_search(t, a, out, err);
    } else if (b && !strcmp(b->name, "web_search")) {
        rc = call_web_search(t, a, out, err);
    } else if (b && !strcmp(b->name, "calculator")) {
        rc = calc_tool(a, &res, err);
        rc = dump_result(rc, res, out);
        res = NULL;
    } else if (b && !strcmp(b->name, "workdays")) {
        rc = wd_tool(t->c ? kb_conn_store(t->c) : NULL, a, &res, err);
        rc = dump_result(rc, res, out);
        res = NULL;
    } else {
        rc = httptool_call(t->cfg ? t->cfg->agent_http_allow : "",
                           t->cfg ? t->cfg->agent_http_timeout_ms : 0, h->method, h->url, a,
                           TOOL_RESULT_MAX, out, err);
    }
out:
    if (rc != RC_OK) {
        free(*out);
        *out = NULL;
    }
    json_decref(res);
    json_decref(schema);
    json_decref(a);
    return rc;
}
