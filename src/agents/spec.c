/* An agent version's spec (agents/spec.h): parsing with every member
 * checked (types, UTF-8, sizes, ranges, known tools, no unknown members),
 * the normalised JSON form, and release. */
#include "agents/spec.h"

#include "agents/jschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "text/utf8.h"

#define SPEC_JSON_MAX (1024 * 1024) /* bytes of a spec's JSON text */
#define SPEC_MODEL_MAX 128          /* bytes of a model name */
#define SPEC_URL_MAX 2048           /* bytes of an http tool's URL */
#define SPEC_SCHEMA_MAX 16384       /* bytes of an http tool's args_schema as JSON */
#define SPEC_TOOL_NAME_MAX 40       /* bytes of an http tool's name */

/* The built-in tools (agents/tools.h). Checked here rather than through
 * tools_known so that specs parse without the tool registry linked in (the
 * evaluator and the CLI validate specs too); tools_known must agree. */
static const char *const builtin_tools[] = {"kb_search", "web_search", "calculator", "workdays"};

static int fail(struct buf *err, const char *fmt, const char *member)
{
    if (err)
        (void)buf_addf(err, fmt, member, member);
    return RC_INVALID;
}

/* A string member's value checked for NUL bytes, UTF-8 and size; *out is a
 * copy. RC_INVALID naming member. */
static int take_str(const json_t *v, const char *member, size_t max, int allow_empty, char **out,
                    struct buf *err)
{
    if (!json_is_string(v))
        return fail(err, "%s 须为字符串 / %s must be a string", member);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n || !utf8_valid(s, n))
        return fail(err, "%s 含无效字符 / %s holds invalid characters", member);
    if (n > max) {
        if (err)
            (void)buf_addf(err, "%s 过长（最多 %zu 字节）/ %s is too long (at most %zu bytes)",
                           member, max, member, max);
        return RC_INVALID;
    }
    if (!n && !allow_empty)
        return fail(err, "%s 不能为空 / %s must not be empty", member);
    *out = xstrdup(s);
    return RC_OK;
}

/* An integer member in [lo, hi]. */
static int take_int(const json_t *v, const char *member, int lo, int hi, int *out, struct buf *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        if (err)
            (void)buf_addf(err, "%s 须为 %d..%d 的整数 / %s must be an integer in %d..%d", member,
                           lo, hi, member, lo, hi);
        return RC_INVALID;
    }
    *out = (int)json_integer_value(v);
    return RC_OK;
}

static int http_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > SPEC_TOOL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* http:// or https:// followed by a host, no spaces or control bytes. */
static int url_valid(const char *s)
{
    size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !s[skip] || s[skip] == '/')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int parse_http_tool(const json_t *o, size_t idx, struct spec_http_tool *t, struct buf *err)
{
    char member[64];
    snprintf(member, sizeof member, "http_tools[%zu]", idx);
    if (!json_is_object(o))
        return fail(err, "%s 须为对象 / %s must be an object", member);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "description") && strcmp(key, "method") &&
            strcmp(key, "url") && strcmp(key, "args_schema")) {
            if (err)
                (void)buf_addf(err, "%s 含未知成员 / %s has an unknown member: %.64s", member,
                               member, key);
            return RC_INVALID;
        }
    }
    char m[96];
    int rc;
    snprintf(m, sizeof m, "%s.name", member);
    if ((rc = take_str(json_object_get(o, "name"), m, SPEC_TOOL_NAME_MAX, 0, &t->name, err)))
        return rc;
    if (!http_name_valid(t->name))
        return fail(err, "%s 须为 [a-z0-9_]{1,40} / %s must match [a-z0-9_]{1,40}", m);
    snprintf(m, sizeof m, "%s.description", member);
    v = json_object_get(o, "description");
    if (v && !json_is_null(v)) {
        if ((rc = take_str(v, m, SPEC_TEXT_MAX, 1, &t->description, err)))
            return rc;
    } else {
        t->description = xstrdup("");
    }
    snprintf(m, sizeof m, "%s.method", member);
    v = json_object_get(o, "method");
    if (v && !json_is_null(v)) {
        if ((rc = take_str(v, m, 8, 0, &t->method, err)))
            return rc;
        if (strcmp(t->method, "GET") && strcmp(t->method, "POST"))
            return fail(err, "%s 须为 GET 或 POST / %s must be GET or POST", m);
    } else {
        t->method = xstrdup("GET");
    }
    snprintf(m, sizeof m, "%s.url", member);
    if ((rc = take_str(json_object_get(o, "url"), m, SPEC_URL_MAX, 0, &t->url, err)))
        return rc;
    if (!url_valid(t->url))
        return fail(err, "%s 须为 http:// 或 https:// 地址 / %s must be an http:// or https:// URL",
                    m);
    snprintf(m, sizeof m, "%s.args_schema", member);
    v = json_object_get(o, "args_schema");
    if (!v || json_is_null(v)) {
        t->args_schema = json_pack("{s:s,s:{}}", "type", "object", "properties");
        return RC_OK;
    }
    if (!json_is_object(v))
        return fail(err, "%s 须为 JSON Schema 对象 / %s must be a JSON Schema object", m);
    char *txt = json_dumps(v, JSON_COMPACT);
    size_t n = txt ? strlen(txt) : SIZE_MAX;
    free(txt);
    if (n > SPEC_SCHEMA_MAX)
        return fail(err, "%s 过大 / %s is too large", m);
    struct buf why = BUF_INIT;
    if (jschema_check(v, &why) != RC_OK) {
        if (err)
            (void)buf_addf(err, "%s 无效 / %s is not a usable schema: %s", m, m, buf_str(&why));
        buf_release(&why);
        return RC_INVALID;
    }
    buf_release(&why);
    t->args_schema = json_deep_copy(v);
    return RC_OK;
}

static int tool_known(const struct agent_spec *s, const char *name)
{
    for (size_t i = 0; i < sizeof builtin_tools / sizeof builtin_tools[0]; i++)
        if (strcmp(name, builtin_tools[i]) == 0)
            return 1;
    if (strncmp(name, "http:", 5) != 0)
        return 0;
    for (size_t i = 0; i < s->nhttp_tools; i++)
        if (strcmp(s->http_tools[i].name, name + 5) == 0)
            return 1;
    return 0;
}

static const char *const spec_members[] = {
    "prompt",      "model",     "kbs",         "tools",       "opening",
    "suggestions", "max_steps", "max_seconds", "temperature", "http_tools",
};

int spec_from_json(const json_t *j, struct agent_spec *out, struct buf *err)
{
    memset(out, 0, sizeof *out);
    out->max_steps = SPEC_DEFAULT_STEPS;
    out->max_seconds = SPEC_DEFAULT_SECONDS;
    out->temperature = -1;
    int rc = RC_INVALID;
    char m[48];
    if (!json_is_object(j)) {
        if (err)
            (void)buf_adds(err, "spec 须为 JSON 对象 / spec must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        size_t i, n = sizeof spec_members / sizeof spec_members[0];
        for (i = 0; i < n && strcmp(key, spec_members[i]); i++)
            ;
        if (i == n) {
            size_t kn = strlen(key);
            if (err)
                (void)buf_addf(err, "spec 含未知成员 / unknown member in spec: %.*s",
                               (int)utf8_prefix(key, kn, 40), key);
            goto out;
        }
    }
#define PRESENT(name) ((v = json_object_get(j, name)) != NULL && !json_is_null(v))
    if (PRESENT("prompt")) {
        if ((rc = take_str(v, "prompt", SPEC_PROMPT_MAX, 1, &out->prompt, err)))
            goto out;
    }
    if (PRESENT("model")) {
        if ((rc = take_str(v, "model", SPEC_MODEL_MAX, 1, &out->model, err)))
            goto out;
    }
    if (PRESENT("opening")) {
        if ((rc = take_str(v, "opening", SPEC_TEXT_MAX, 1, &out->opening, err)))
            goto out;
    }
    rc = RC_INVALID;
    if (PRESENT("kbs")) {
        if (!json_is_array(v)) {
            fail(err, "%s 须为数组 / %s must be an array", "kbs");
            goto out;
        }
        if (json_array_size(v) > SPEC_KBS_MAX) {
            if (err)
                (void)buf_addf(err, "kbs 最多 %d 个 / at most %d kbs", SPEC_KBS_MAX, SPEC_KBS_MAX);
            goto out;
        }
        out->kbs = xcalloc(json_array_size(v) + 1, sizeof *out->kbs);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_integer(e) || json_integer_value(e) < 1) {
                snprintf(m, sizeof m, "kbs[%zu]", i);
                fail(err, "%s 须为正整数（知识库 id）/ %s must be a positive integer (a KB id)", m);
                goto out;
            }
            for (size_t k = 0; k < out->nkbs; k++)
                if (out->kbs[k] == json_integer_value(e)) {
                    snprintf(m, sizeof m, "kbs[%zu]", i);
                    fail(err, "%s 重复 / %s is a duplicate", m);
                    goto out;
                }
            out->kbs[out->nkbs++] = json_integer_value(e);
        }
    }
    /* http_tools before tools: "http:<name>" must name one of them. */
    if (PRESENT("http_tools")) {
        if (!json_is_array(v)) {
            fail(err, "%s 须为数组 / %s must be an array", "http_tools");
            goto out;
        }
        if (json_array_size(v) > SPEC_TOOLS_MAX) {
            if (err)
                (void)buf_addf(err, "http_tools 最多 %d 个 / at most %d http_tools", SPEC_TOOLS_MAX,
                               SPEC_TOOLS_MAX);
            goto out;
        }
        out->http_tools = xcalloc(json_array_size(v) + 1, sizeof *out->http_tools);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            out->nhttp_tools = i + 1; /* released even when half filled */
            if ((rc = parse_http_tool(e, i, &out->http_tools[i], err)))
                goto out;
            rc = RC_INVALID;
            for (size_t k = 0; k < i; k++)
                if (strcmp(out->http_tools[k].name, out->http_tools[i].name) == 0) {
                    snprintf(m, sizeof m, "http_tools[%zu].name", i);
                    fail(err, "%s 重复 / %s is a duplicate", m);
                    goto out;
                }
        }
    }
    if (PRESENT("tools")) {
        if (!json_is_array(v)) {
            fail(err, "%s 须为数组 / %s must be an array", "tools");
            goto out;
        }
        if (json_array_size(v) > SPEC_TOOLS_MAX) {
            if (err)
                (void)buf_addf(err, "tools 最多 %d 个 / at most %d tools", SPEC_TOOLS_MAX,
                               SPEC_TOOLS_MAX);
            goto out;
        }
        out->tools = xcalloc(json_array_size(v) + 1, sizeof *out->tools);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            snprintf(m, sizeof m, "tools[%zu]", i);
            char *name = NULL;
            if ((rc = take_str(e, m, 5 + SPEC_TOOL_NAME_MAX, 0, &name, err)))
                goto out;
            out->tools[out->ntools++] = name;
            rc = RC_INVALID;
            if (!tool_known(out, name)) {
                if (err)
                    (void)buf_addf(err,
                                   "%s 未知工具 / %s names an unknown tool: %s (kb_search, "
                                   "web_search, calculator, workdays, http:<http_tools name>)",
                                   m, m, name);
                goto out;
            }
            for (size_t k = 0; k + 1 < out->ntools; k++)
                if (strcmp(out->tools[k], name) == 0) {
                    fail(err, "%s 重复 / %s is a duplicate", m);
                    goto out;
                }
        }
    }
    if (PRESENT("suggestions")) {
        if (!json_is_array(v)) {
            fail(err, "%s 须为数组 / %s must be an array", "suggestions");
            goto out;
        }
        if (json_array_size(v) > SPEC_SUGGESTIONS_MAX) {
            if (err)
                (void)buf_addf(err, "suggestions 最多 %d 条 / at most %d suggestions",
                               SPEC_SUGGESTIONS_MAX, SPEC_SUGGESTIONS_MAX);
            goto out;
        }
        out->suggestions = xcalloc(json_array_size(v) + 1, sizeof *out->suggestions);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            snprintf(m, sizeof m, "suggestions[%zu]", i);
            char *s = NULL;
            if ((rc = take_str(e, m, SPEC_TEXT_MAX, 0, &s, err)))
                goto out;
            out->suggestions[out->nsuggestions++] = s;
        }
    }
    if (PRESENT("max_steps") &&
        (rc = take_int(v, "max_steps", 1, SPEC_STEPS_MAX, &out->max_steps, err)))
        goto out;
    if (PRESENT("max_seconds") &&
        (rc = take_int(v, "max_seconds", 1, SPEC_SECONDS_MAX, &out->max_seconds, err)))
        goto out;
    rc = RC_INVALID;
    if (PRESENT("temperature")) {
        double t = json_is_number(v) ? json_number_value(v) : 3.0;
        if (!(t <= 2.0)) { /* also NaN */
            fail(err,
                 "%s 须为 0..2 的数（负数表示不设置）/ %s must be a number in 0..2 (negative: "
                 "not set)",
                 "temperature");
            goto out;
        }
        out->temperature = t < 0 ? -1 : t;
    }
#undef PRESENT
    if (!out->prompt)
        out->prompt = xstrdup("");
    if (!out->model)
        out->model = xstrdup("");
    if (!out->opening)
        out->opening = xstrdup("");
    rc = RC_OK;
out:
    return rc;
}

int spec_parse(const char *text, struct agent_spec *out, struct buf *err)
{
    memset(out, 0, sizeof *out);
    if (!text) {
        if (err)
            (void)buf_adds(err, "缺少 spec / spec is missing");
        return RC_INVALID;
    }
    size_t n = strlen(text);
    if (n > SPEC_JSON_MAX) {
        if (err)
            (void)buf_addf(err, "spec 过大（最多 %d 字节）/ spec is too large (at most %d bytes)",
                           SPEC_JSON_MAX, SPEC_JSON_MAX);
        return RC_INVALID;
    }
    json_error_t je;
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (err)
            (void)buf_addf(err, "spec 不是有效的 JSON / spec is not valid JSON (line %d: %.80s)",
                           je.line, je.text);
        return RC_INVALID;
    }
    int rc = spec_from_json(j, out, err);
    json_decref(j);
    return rc;
}

static json_t *str_array(char *const *a, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        (void)json_array_append_new(arr, json_string(a[i]));
    return arr;
}

json_t *spec_to_json(const struct agent_spec *s)
{
    json_t *kbs = json_array();
    for (size_t i = 0; i < s->nkbs; i++)
        (void)json_array_append_new(kbs, json_integer(s->kbs[i]));
    json_t *hts = json_array();
    for (size_t i = 0; i < s->nhttp_tools; i++) {
        const struct spec_http_tool *t = &s->http_tools[i];
        (void)json_array_append_new(
            hts, json_pack("{s:s,s:s,s:s,s:s,s:O}", "name", t->name ? t->name : "", "description",
                           t->description ? t->description : "", "method",
                           t->method ? t->method : "GET", "url", t->url ? t->url : "",
                           "args_schema", t->args_schema ? t->args_schema : json_object()));
    }
    json_t *o = json_object();
    (void)json_object_set_new(o, "prompt", json_string(s->prompt ? s->prompt : ""));
    (void)json_object_set_new(o, "model", json_string(s->model ? s->model : ""));
    (void)json_object_set_new(o, "kbs", kbs);
    (void)json_object_set_new(o, "tools", str_array(s->tools, s->ntools));
    (void)json_object_set_new(o, "opening", json_string(s->opening ? s->opening : ""));
    (void)json_object_set_new(o, "suggestions", str_array(s->suggestions, s->nsuggestions));
    (void)json_object_set_new(o, "max_steps", json_integer(s->max_steps));
    (void)json_object_set_new(o, "max_seconds", json_integer(s->max_seconds));
    (void)json_object_set_new(o, "temperature",
                              s->temperature < 0 ? json_null() : json_real(s->temperature));
    (void)json_object_set_new(o, "http_tools", hts);
    return o;
}

void spec_release(struct agent_spec *s)
{
    if (!s)
        return;
    free(s->prompt);
    free(s->model);
    free(s->kbs);
    for (size_t i = 0; i < s->ntools; i++)
        free(s->tools[i]);
    free(s->tools);
    free(s->opening);
    for (size_t i = 0; i < s->nsuggestions; i++)
        free(s->suggestions[i]);
    free(s->suggestions);
    for (size_t i = 0; i < s->nhttp_tools; i++) {
        struct spec_http_tool *t = &s->http_tools[i];
        free(t->name);
        free(t->description);
        free(t->method);
        free(t->url);
        json_decref(t->args_schema);
    }
    free(s->http_tools);
    memset(s, 0, sizeof *s);
}

int spec_has_tool(const struct agent_spec *s, const char *name)
{
    if (!s || !name)
        return 0;
    for (size_t i = 0; i < s->ntools; i++)
        if (strcmp(s->tools[i], name) == 0)
            return 1;
    return 0;
}
