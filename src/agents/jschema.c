/* The JSON Schema subset validator (jschema.h). */
#include "agents/jschema.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/rc.h"

static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};

static int known_type(const char *t)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (!strcmp(t, type_names[i]))
            return 1;
    return 0;
}

static const char *const keywords[] = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "items",
    "minItems",
    "maxItems",
    "title",
    "description",
    "default",
    "examples",
    "format",
    "$schema",
    "$comment",
};

static int known_keyword(const char *k)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (!strcmp(k, keywords[i]))
            return 1;
    return 0;
}

/* Appends ".key" (or ["key"] when the key is not a plain name) to path. */
static void path_key(struct buf *path, const char *k)
{
    int plain = *k != '\0';
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '$' || (unsigned char)*p >= 0x80))
            plain = 0;
    if (plain)
        (void)buf_addf(path, ".%s", k);
    else {
        (void)buf_adds(path, "[");
        (void)buf_add_json_str(path, k, strlen(k));
        (void)buf_adds(path, "]");
    }
}

static int is_nonneg_int(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

static int check_node(const json_t *s, struct buf *path, int depth, size_t *nodes, struct buf *err)
{
    const char *k;
    const json_t *v;
    size_t mark = path->len;
    int rc = RC_OK;
    if (depth > JSCHEMA_MAX_DEPTH || ++*nodes > JSCHEMA_MAX_NODES) {
        (void)buf_addf(err, "%s: 模式嵌套过深或过大 / the schema is nested too deeply or too big",
                       buf_str(path));
        return RC_INVALID;
    }
    if (!json_is_object(s)) {
        (void)buf_addf(err, "%s: 模式须为对象 / a schema must be an object", buf_str(path));
        return RC_INVALID;
    }
    json_object_foreach((json_t *)s, k, v)
    {
        path->len = mark;
        path_key(path, k);
        const char *bad = NULL;
        if (!known_keyword(k)) {
            bad = !strcmp(k, "pattern") || !strcmp(k, "patternProperties")
                      ? "不支持 pattern（不提供正则） / pattern is not supported (no regular "
                        "expressions)"
                      : "不支持的关键字 / unsupported keyword";
        } else if (!strcmp(k, "type")) {
            if (json_is_string(v)) {
                if (!known_type(json_string_value(v)))
                    bad = "未知类型 / unknown type";
            } else if (json_is_array(v) && json_array_size(v) > 0) {
                size_t i;
                const json_t *t;
                json_array_foreach(v, i,
                                   t) if (!json_is_string(t) || !known_type(json_string_value(t)))
                    bad = "未知类型 / unknown type";
            } else {
                bad = "type 须为字符串或字符串数组 / type must be a string or an array of strings";
            }
        } else if (!strcmp(k, "properties")) {
            if (!json_is_object(v)) {
                bad = "properties 须为对象 / properties must be an object";
            } else {
                const char *pk;
                const json_t *pv;
                json_object_foreach((json_t *)v, pk, pv)
                {
                    size_t m2 = path->len;
                    path_key(path, pk);
                    rc = check_node(pv, path, depth + 1, nodes, err);
                    path->len = m2;
                    if (rc != RC_OK)
                        goto out;
                }
            }
        } else if (!strcmp(k, "items")) {
            if ((rc = check_node(v, path, depth + 1, nodes, err)) != RC_OK)
                goto out;
        } else if (!strcmp(k, "required")) {
            size_t i;
            const json_t *t;
            if (!json_is_array(v))
                bad = "required 须为字符串数组 / required must be an array of strings";
            else
                json_array_foreach(v, i, t) if (!json_is_string(t)) bad =
                    "required 须为字符串数组 / required must be an array of strings";
        } else if (!strcmp(k, "additionalProperties")) {
            if (!json_is_boolean(v))
                bad = "additionalProperties 只支持 true/false / additionalProperties must be a "
                      "boolean";
        } else if (!strcmp(k, "enum")) {
            if (!json_is_array(v) || !json_array_size(v))
                bad = "enum 须为非空数组 / enum must be a non-empty array";
        } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") ||
                   !strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) {
            if (!json_is_number(v))
                bad = "须为数字 / must be a number";
        } else if (!strcmp(k, "minLength") || !strcmp(k, "maxLength") || !strcmp(k, "minItems") ||
                   !strcmp(k, "maxItems")) {
            if (!is_nonneg_int(v))
                bad = "须为非负整数 / must be a non-negative integer";
        } else if (!strcmp(k, "title") || !strcmp(k, "description") || !strcmp(k, "format") ||
                   !strcmp(k, "$schema") || !strcmp(k, "$comment")) {
            if (!json_is_string(v))
                bad = "须为字符串 / must be a string";
        }
        if (bad) {
            (void)buf_addf(err, "%s: %s", buf_str(path), bad);
            rc = RC_INVALID;
            goto out;
        }
    }
out:
    path->len = mark;
    if (path->p)
        path->p[mark] = '\0';
    return rc;
}

int jschema_check(const json_t *schema, struct buf *err)
{
    struct buf path = BUF_INIT;
    size_t nodes = 0;
    (void)buf_adds(&path, "$");
    int rc = check_node(schema, &path, 0, &nodes, err);
    buf_release(&path);
    return rc;
}

/* ---- validation ---- */
static int type_matches(const char *t, const json_t *v)
{
    if (!strcmp(t, "object"))
        return json_is_object(v);
    if (!strcmp(t, "array"))
        return json_is_array(v);
    if (!strcmp(t, "string"))
        return json_is_string(v);
    if (!strcmp(t, "number"))
        return json_is_number(v);
    if (!strcmp(t, "integer")) {
        if (json_is_integer(v))
            return 1;
        if (json_is_real(v)) {
            double d = json_real_value(v);
            return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
        }
        return 0;
    }
    if (!strcmp(t, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(t, "null"))
        return json_is_null(v);
    return 0;
}

/* -1, 0, 1 comparing two JSON numbers (exact for two integers). */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int vfail(struct buf *err, const struct buf *path, const char *zh, const char *en)
{
    (void)buf_addf(err, "%s: %s / %s", buf_str(path), zh, en);
    return RC_INVALID;
}

static int validate(const json_t *s, const json_t *v, struct buf *path, int depth, struct buf *err)
{
    size_t mark = path->len;
    int rc = RC_OK;
    const json_t *kw;
    if (depth > JSCHEMA_MAX_DEPTH) {
        rc = vfail(err, path, "嵌套过深", "nested too deeply");
        goto out;
    }
    if (!json_is_object(s)) {
        rc = vfail(err, path, "模式无效", "invalid schema");
        goto out;
    }
    {
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)s, k, x) if (!known_keyword(k))
        {
            (void)buf_addf(err,
                           "%s: 模式含不支持的关键字 %s / the schema has the unsupported "
                           "keyword %s",
                           buf_str(path), k, k);
            rc = RC_INVALID;
            goto out;
        }
    }
    if ((kw = json_object_get(s, "type"))) {
        int ok = 0;
        struct buf want = BUF_INIT;
        if (json_is_string(kw)) {
            ok = type_matches(json_string_value(kw), v);
            (void)buf_adds(&want, json_string_value(kw));
        } else {
            size_t i;
            const json_t *t;
            json_array_foreach(kw, i, t)
            {
                if (json_is_string(t) && type_matches(json_string_value(t), v))
                    ok = 1;
                (void)buf_addf(&want, "%s%s", i ? "|" : "",
                               json_string_value(t) ? json_string_value(t) : "?");
            }
        }
        if (!ok) {
            (void)buf_addf(err, "%s: 类型须为 %s / must be of type %s", buf_str(path),
                           buf_str(&want), buf_str(&want));
            rc = RC_INVALID;
        }
        buf_release(&want);
        if (rc != RC_OK)
            goto out;
    }
    if ((kw = json_object_get(s, "enum"))) {
        size_t i;
        const json_t *t;
        int ok = 0;
        json_array_foreach(kw, i, t) if (json_equal((json_t *)t, (json_t *)v)) ok = 1;
        if (!ok) {
            char *list = json_dumps(kw, JSON_COMPACT | JSON_ENCODE_ANY);
            (void)buf_addf(err, "%s: 须为以下之一 %.200s / must be one of %.200s", buf_str(path),
                           list ? list : "", list ? list : "");
            free(list);
            rc = RC_INVALID;
            goto out;
        }
    }
    if ((kw = json_object_get(s, "const")) && !json_equal((json_t *)kw, (json_t *)v)) {
        rc = vfail(err, path, "值不等于规定的常量", "must equal the constant");
        goto out;
    }
    if (json_is_number(v)) {
        if ((kw = json_object_get(s, "minimum")) && json_is_number(kw) && num_cmp(v, kw) < 0) {
            rc = vfail(err, path, "小于最小值", "is below the minimum");
            goto out;
        }
        if ((kw = json_object_get(s, "maximum")) && json_is_number(kw) && num_cmp(v, kw) > 0) {
            rc = vfail(err, path, "大于最大值", "is above the maximum");
            goto out;
        }
        if ((kw = json_object_get(s, "exclusiveMinimum")) && json_is_number(kw) &&
            num_cmp(v, kw) <= 0) {
            rc = vfail(err, path, "须大于下限", "must be greater than the exclusive minimum");
            goto out;
        }
        if ((kw = json_object_get(s, "exclusiveMaximum")) && json_is_number(kw) &&
            num_cmp(v, kw) >= 0) {
            rc = vfail(err, path, "须小于上限", "must be less than the exclusive maximum");
            goto out;
        }
    }
    if (json_is_string(v)) {
        size_t n = utf8_chars(json_string_value(v), json_string_length(v));
        if ((kw = json_object_get(s, "minLength")) && json_is_integer(kw) &&
            (json_int_t)n < json_integer_value(kw)) {
            rc = vfail(err, path, "字符串过短", "the string is too short");
            goto out;
        }
        if ((kw = json_object_get(s, "maxLength")) && json_is_integer(kw) &&
            (json_int_t)n > json_integer_value(kw)) {
            rc = vfail(err, path, "字符串过长", "the string is too long");
            goto out;
        }
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v), i;
        const json_t *item;
        if ((kw = json_object_get(s, "minItems")) && json_is_integer(kw) &&
            (json_int_t)n < json_integer_value(kw)) {
            rc = vfail(err, path, "数组元素过少", "too few items");
            goto out;
        }
        if ((kw = json_object_get(s, "maxItems")) && json_is_integer(kw) &&
            (json_int_t)n > json_integer_value(kw)) {
            rc = vfail(err, path, "数组元素过多", "too many items");
            goto out;
        }
        if ((kw = json_object_get(s, "items")))
            json_array_foreach(v, i, item)
            {
                path->len = mark;
                (void)buf_addf(path, "[%zu]", i);
                if ((rc = validate(kw, item, path, depth + 1, err)) != RC_OK)
                    goto out;
            }
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        const json_t *req = json_object_get(s, "required");
        const json_t *addl = json_object_get(s, "additionalProperties");
        size_t i;
        const json_t *t;
        if (json_is_array(req))
            json_array_foreach(req, i, t)
            {
                if (json_is_string(t) && !json_object_get(v, json_string_value(t))) {
                    path->len = mark;
                    path_key(path, json_string_value(t));
                    rc = vfail(err, path, "缺少必填参数", "is required");
                    goto out;
                }
            }
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            const json_t *ps = json_is_object(props) ? json_object_get(props, k) : NULL;
            path->len = mark;
            path_key(path, k);
            if (ps) {
                if ((rc = validate(ps, x, path, depth + 1, err)) != RC_OK)
                    goto out;
            } else if (json_is_false(addl)) {
                rc = vfail(err, path, "不允许的参数", "is not an allowed property");
                goto out;
            }
        }
    }
out:
    path->len = mark;
    if (path->p)
        path->p[mark] = '\0';
    return rc;
}

int jschema_validate(const json_t *schema, const json_t *value, struct buf *err)
{
    struct buf path = BUF_INIT;
    (void)buf_adds(&path, "$");
    int rc = validate(schema, value, &path, 0, err);
    buf_release(&path);
    return rc;
}
