/* What one version of a digital employee is: its role prompt, model, KBs,
 * tools, opening message, suggested questions and limits. Stored as JSON
 * text in agent_versions.spec (migration 4); parsed and validated here so
 * that the store, the runtime, the evaluator and the templates agree on
 * one shape:
 *
 *   {"prompt":"你是…","model":"",          // "" = the default chat model
 *    "kbs":[3,7],                            // KB ids; [] = none
 *    "tools":["kb_search","calculator","workdays","web_search","http:rates"],
 *    "opening":"您好，我是…","suggestions":["…","…"],
 *    "max_steps":6,"max_seconds":60,        // the tool-calling loop's limits
 *    "temperature":0.2,                      // optional, < 0 = the model's default
 *    "http_tools":[{"name":"rates","description":"…","method":"GET",
 *                   "url":"http://core.bank.local/fx/rates","args_schema":{…}}]}
 *
 * A tool name is a built-in ("kb_search", "web_search", "calculator",
 * "workdays") or "http:<name>" naming one of http_tools. Unknown members
 * are refused, so a typo never silently changes an agent. */
#ifndef ATRIUM_AGENTS_SPEC_H
#define ATRIUM_AGENTS_SPEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define SPEC_PROMPT_MAX 16384  /* bytes of the role prompt */
#define SPEC_TEXT_MAX 2000     /* bytes of the opening message, a suggestion, a description */
#define SPEC_KBS_MAX 64        /* KBs of one agent */
#define SPEC_TOOLS_MAX 16      /* tools of one agent */
#define SPEC_SUGGESTIONS_MAX 8 /* suggested questions */
#define SPEC_STEPS_MAX 20      /* the largest max_steps */
#define SPEC_SECONDS_MAX 600   /* the largest max_seconds */
#define SPEC_DEFAULT_STEPS 6
#define SPEC_DEFAULT_SECONDS 60

struct spec_http_tool {
    char *name;          /* [a-z0-9_]{1,40} */
    char *description;   /* what the model is told the tool does */
    char *method;        /* "GET" or "POST" */
    char *url;           /* must match an allow-listed prefix when called */
    json_t *args_schema; /* a JSON Schema object for the arguments (owned) */
};

struct agent_spec {
    char *prompt;
    char *model; /* "" = the default chat model */
    int64_t *kbs;
    size_t nkbs;
    char **tools; /* as written: "kb_search", "http:rates", … */
    size_t ntools;
    char *opening;
    char **suggestions;
    size_t nsuggestions;
    int max_steps;      /* 1..SPEC_STEPS_MAX */
    int max_seconds;    /* 1..SPEC_SECONDS_MAX */
    double temperature; /* < 0 = not set */
    struct spec_http_tool *http_tools;
    size_t nhttp_tools;
};

/* Parses and validates spec JSON text into *out (zeroed first; release it
 * even on failure). Defaults fill what is missing. RC_OK, or RC_INVALID
 * with a zh-CN / English message in err naming the member. */
int spec_parse(const char *json, struct agent_spec *out, struct buf *err);
/* The same from a parsed object. */
int spec_from_json(const json_t *j, struct agent_spec *out, struct buf *err);
/* The normalised JSON object (every member, defaults written out); a new
 * reference. */
json_t *spec_to_json(const struct agent_spec *s);
void spec_release(struct agent_spec *s);

/* Whether the spec names tool `name` (exactly as written). */
int spec_has_tool(const struct agent_spec *s, const char *name);

#endif
