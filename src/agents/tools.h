/* The tool registry of digital employees: what an agent may call in the
 * OpenAI tool-calling loop (agents/runtime.h), as definitions for the model
 * and as calls. Later capabilities (chat with data, outbound calls, office
 * writing) add their tools here.
 *
 * Built-in tools (names as the model sees them):
 *   kb_search   the agent's KBs intersected with the asking user's: a KB the
 *               user may not read is never searched (the ACL is in the
 *               query), so an agent can never widen access;
 *   web_search  SearXNG (assist/websearch.h), when the config turns it on;
 *   calculator  exact decimal arithmetic (interest, fees, fx): agents/calc.h;
 *   workdays    date arithmetic with weekends, holidays and make-up working
 *               days (table calendar_days): agents/workdays.h;
 *   http_<name> a spec's http_tools entry: arguments checked against its
 *               JSON Schema, only to URLs under cfg->agent_http_allow. */
#ifndef ATRIUM_AGENTS_TOOLS_H
#define ATRIUM_AGENTS_TOOLS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agents/spec.h"
#include "auth/auth.h"
#include "common/buf.h"
#include "common/config.h"
#include "kb/kb.h"

#define TOOL_RESULT_MAX (32 * 1024) /* bytes of one tool result handed to the model */

/* What a tool call may use. Everything is borrowed from the caller. */
struct tool_ctx {
    const struct config *cfg;
    struct kb_conn *c;                /* the caller's connection */
    const struct auth_principal *who; /* the asking user (never NULL) */
    const struct agent_spec *spec;    /* the running agent version */
    /* The sources shown so far: kb_search and web_search append one object per
     * hit they return, numbered on from json_array_size + 1, in the shape of
     * assist citations ({"n","kind":"kb","kb_id","chunk_id","doc_id","title",
     * "label","cite","text"} or {"n","kind":"web","title","url","text"}), and
     * the results they hand the model carry the same [n] numbers. */
    json_t *citations;
};

/* Whether a name is a built-in tool or "http:<name>". */
int tools_known(const char *name);
/* The OpenAI "tools" array for the spec's tools (a new reference; [] when it
 * has none). web_search is left out when the config has no web search. */
json_t *tools_definitions(const struct config *cfg, const struct agent_spec *spec);
/* Runs tool `name` (as the model called it) with JSON arguments `args`.
 * On RC_OK *out is the result text for the model (malloc'd, at most
 * TOOL_RESULT_MAX bytes, usually JSON). Failures the model may correct
 * (RC_INVALID: arguments that are not JSON or fail the schema;
 * RC_NOT_FOUND: a tool this agent does not have) and failures of the tool
 * (RC_UPSTREAM, RC_TIMEOUT, RC_DENIED: a URL not allow-listed) leave *out
 * NULL and a zh-CN / English message in err. Never logs arguments (PII). */
int tools_call(struct tool_ctx *t, const char *name, const char *args, char **out, struct buf *err);

#endif
