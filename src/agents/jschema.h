/* A JSON Schema validator for tool arguments: the subset models and tool
 * authors use. Keywords: type (a name or an array of names; "integer" is
 * a number with no fraction), properties, required, additionalProperties
 * (boolean only), enum, const, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum (numbers, draft 6+), minLength, maxLength (in Unicode
 * characters), items (one schema), minItems, maxItems, and the annotations
 * title, description, default, examples, format, $schema (ignored). Any
 * other keyword — pattern included (no regex engine is exposed to tool
 * authors, so no catastrophic backtracking) — makes the schema invalid. */
#ifndef ATRIUM_AGENTS_JSCHEMA_H
#define ATRIUM_AGENTS_JSCHEMA_H

#include <jansson.h>

#include "common/buf.h"

#define JSCHEMA_MAX_DEPTH 16   /* nesting of schemas and of the checked value */
#define JSCHEMA_MAX_NODES 2000 /* schema objects in one schema */

/* Checks that schema is a schema this validator understands (before it is
 * stored in an agent spec). RC_OK, or RC_INVALID with a message naming the
 * schema path (e.g. "$.properties.amount.type") in err. */
int jschema_check(const json_t *schema, struct buf *err);

/* Validates value against schema (which should have passed jschema_check;
 * an unknown keyword is RC_INVALID here too). RC_OK, or RC_INVALID with a
 * "中文 / English" message naming the value's path ("$.amount",
 * "$.items[2]") in err. */
int jschema_validate(const json_t *schema, const json_t *value, struct buf *err);

#endif
