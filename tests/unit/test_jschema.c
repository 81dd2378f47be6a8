/* Tests for src/agents/jschema.c: each keyword, good and bad, the JSON path
 * in errors, refused schemas and the limits. */
#include "test.h"

#include "agents/jschema.h"
#include "common/buf.h"
#include "common/rc.h"

#include <stdlib.h>
#include <string.h>

/* Validates value (JSON text) against schema (JSON text); returns rc and
 * leaves the message in err. */
static int vj(const char *schema, const char *value, struct buf *err)
{
    json_t *s = json_loads(schema, 0, NULL), *v = json_loads(value, JSON_DECODE_ANY, NULL);
    buf_reset(err);
    int rc = s && v ? jschema_validate(s, v, err) : -1;
    json_decref(s);
    json_decref(v);
    return rc;
}

static int cj(const char *schema, struct buf *err)
{
    json_t *s = json_loads(schema, 0, NULL);
    buf_reset(err);
    int rc = s ? jschema_check(s, err) : -1;
    json_decref(s);
    return rc;
}

TEST(jschema_types)
{
    struct buf e = BUF_INIT;
    CHECK_INT(vj("{\"type\":\"integer\"}", "3", &e), RC_OK);
    CHECK_INT(vj("{\"type\":\"integer\"}", "3.0", &e), RC_OK);
    CHECK_INT(vj("{\"type\":\"integer\"}", "3.5", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$: ");
    CHECK_INT(vj("{\"type\":\"number\"}", "3.5", &e), RC_OK);
    CHECK_INT(vj("{\"type\":\"number\"}", "\"3.5\"", &e), RC_INVALID);
    CHECK_INT(vj("{\"type\":[\"string\",\"null\"]}", "null", &e), RC_OK);
    CHECK_INT(vj("{\"type\":[\"string\",\"null\"]}", "1", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "string|null");
    CHECK_INT(vj("{\"type\":\"boolean\"}", "false", &e), RC_OK);
    CHECK_INT(vj("{\"type\":\"array\"}", "{}", &e), RC_INVALID);
    CHECK_INT(vj("{\"type\":\"object\"}", "{}", &e), RC_OK);
    buf_release(&e);
}

TEST(jschema_objects)
{
    struct buf e = BUF_INIT;
    const char *s = "{\"type\":\"object\",\"properties\":{"
                    "\"amount\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMaximum\":1000000},"
                    "\"currency\":{\"type\":\"string\",\"enum\":[\"CNY\",\"USD\"]},"
                    "\"memo\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":4},"
                    "\"acct\":{\"type\":\"object\",\"properties\":{\"no\":{\"type\":\"string\"}},"
                    "\"required\":[\"no\"]},"
                    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"maximum\":9},"
                    "\"minItems\":1,\"maxItems\":3},"
                    "\"v\":{\"const\":1}},"
                    "\"required\":[\"amount\"],\"additionalProperties\":false}";
    CHECK_INT(cj(s, &e), RC_OK);
    CHECK_INT(
        vj(s, "{\"amount\":10,\"currency\":\"CNY\",\"memo\":\"存款利息\",\"tags\":[1,2]}", &e),
        RC_OK);
    CHECK_INT(vj(s, "{}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.amount");
    CHECK_CONTAINS(buf_str(&e), "required");
    CHECK_INT(vj(s, "{\"amount\":-1}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.amount");
    CHECK_INT(vj(s, "{\"amount\":0}", &e), RC_OK);
    CHECK_INT(vj(s, "{\"amount\":1000000}", &e), RC_INVALID);
    CHECK_INT(vj(s, "{\"amount\":999999.99}", &e), RC_OK);
    CHECK_INT(vj(s, "{\"amount\":1,\"currency\":\"EUR\"}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.currency");
    CHECK_INT(vj(s, "{\"amount\":1,\"memo\":\"存\"}", &e), RC_INVALID);
    CHECK_INT(vj(s, "{\"amount\":1,\"memo\":\"存款利息费\"}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.memo");
    CHECK_INT(vj(s, "{\"amount\":1,\"acct\":{}}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.acct.no");
    CHECK_INT(vj(s, "{\"amount\":1,\"tags\":[1,10]}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.tags[1]");
    CHECK_INT(vj(s, "{\"amount\":1,\"tags\":[]}", &e), RC_INVALID);
    CHECK_INT(vj(s, "{\"amount\":1,\"tags\":[1,2,3,4]}", &e), RC_INVALID);
    CHECK_INT(vj(s, "{\"amount\":1,\"v\":2}", &e), RC_INVALID);
    CHECK_INT(vj(s, "{\"amount\":1,\"v\":1}", &e), RC_OK);
    CHECK_INT(vj(s, "{\"amount\":1,\"extra\":1}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.extra");
    CHECK_INT(vj(s, "{\"amount\":1,\"a b\":1}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$[\"a b\"]");
    /* additionalProperties absent: extra members are fine */
    CHECK_INT(vj("{\"type\":\"object\",\"properties\":{}}", "{\"x\":1}", &e), RC_OK);
    CHECK_INT(vj("{\"minimum\":5,\"exclusiveMinimum\":5}", "5", &e), RC_INVALID);
    CHECK_INT(vj("{\"maximum\":5}", "5", &e), RC_OK);
    CHECK_INT(vj("{\"maximum\":5}", "\"six\"", &e), RC_OK); /* numbers only */
    buf_release(&e);
}

TEST(jschema_refused_schemas)
{
    struct buf e = BUF_INIT;
    CHECK_INT(cj("{\"type\":\"string\",\"pattern\":\"^(a+)+$\"}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "pattern");
    CHECK_INT(vj("{\"type\":\"string\",\"pattern\":\"^a$\"}", "\"a\"", &e), RC_INVALID);
    CHECK_INT(cj("{\"properties\":{\"a\":{\"type\":\"strng\"}}}", &e), RC_INVALID);
    CHECK_CONTAINS(buf_str(&e), "$.properties.a.type");
    CHECK_INT(cj("{\"anyOf\":[]}", &e), RC_INVALID);
    CHECK_INT(cj("{\"additionalProperties\":{}}", &e), RC_INVALID);
    CHECK_INT(cj("{\"minLength\":-1}", &e), RC_INVALID);
    CHECK_INT(cj("{\"required\":[1]}", &e), RC_INVALID);
    CHECK_INT(cj("{\"enum\":[]}", &e), RC_INVALID);
    CHECK_INT(cj("[]", &e), RC_INVALID);
    CHECK_INT(cj("{\"type\":\"object\",\"description\":\"x\",\"title\":\"t\"}", &e), RC_OK);
    /* depth: 20 nested items schemas */
    char deep[1024] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep, "{\"items\":");
    strcat(deep, "{}");
    for (int i = 0; i < 20; i++)
        strcat(deep, "}");
    CHECK_INT(cj(deep, &e), RC_INVALID);
    /* a deeply nested value is refused, not recursed into without end */
    char dv[256] = "";
    for (int i = 0; i < 30; i++)
        strcat(dv, "[");
    for (int i = 0; i < 30; i++)
        strcat(dv, "]");
    char ds[1024] = "";
    for (int i = 0; i < 18; i++)
        strcat(ds, "{\"items\":");
    strcat(ds, "{}");
    for (int i = 0; i < 18; i++)
        strcat(ds, "}");
    CHECK_INT(vj(ds, dv, &e), RC_INVALID);
    buf_release(&e);
}
