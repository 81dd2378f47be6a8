/* The built-in digital employees (数字员工模板): 12+ ready agents across the
 * bank's six domains, each with its spec, its demo knowledge (示例 documents
 * written for Atrium) and its evaluation set. The data lives in
 * templates/agents/<name>/ (template.json, docs/<file>.md) and is compiled into the
 * binary (tools/gen_templates.sh → $(BUILD)/gen/templates_data.c, #included
 * by templates.c): nothing is read from disk at run time.
 *
 * template.json:
 *   {"name":"counter-qa","title":"柜面业务知识助手","avatar":"🏦","domain":"运营",
 *    "description":"…","minutes_saved":6,
 *    "spec":{…agents/spec.h without "kbs"…},
 *    "gate":{"min_score":0.8},
 *    "eval":{"name":"示例评测集","description":"…","cases":[{"question","expect"}]}}
 *
 * Installing a template creates, in one store transaction: the enterprise KB
 * "示例-<title>" with the template's documents (or reuses the KB of that name
 * when it holds exactly the template's documents, same names and contents;
 * a KB of that name with other contents is RC_EXISTS, never modified), an
 * admin grant on it for the installer (nothing for anyone else), the agent
 * with version 1 as a draft whose spec.kbs = [that KB], its eval set and its
 * quality gate (gate_set_id = the set, gate_min_score = the template's). */
#ifndef ATRIUM_AGENTS_TEMPLATES_H
#define ATRIUM_AGENTS_TEMPLATES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "common/buf.h"
#include "kb/kb.h"

/* One embedded file (generated; the list ends with a NULL path): path relative to
 * templates/agents/, e.g. "counter-qa/template.json" or "counter-qa/docs/01-counter-manual.md". */
struct agent_tpl_file {
    const char *path;
    const char *data;
    size_t len;
};
extern const struct agent_tpl_file agent_tpl_files[];
extern const size_t agent_tpl_nfiles;

/* How many templates are built in. */
size_t agent_templates_count(void);

/* The templates as a JSON array (a new reference), by domain order then
 * name: [{"name","title","avatar","domain","description","minutes_saved",
 * "tools":[…],"opening","suggestions":[…],"documents":[{"name","title",
 * "characters"}],"cases":N,"gate":{"min_score"}}]. Never NULL. */
json_t *agent_templates_list(void);

/* One template in full: the summary above plus "spec" (without kbs) and
 * "eval" ({"name","description","cases":[…]}), a new reference; NULL when
 * there is no template of that name. */
json_t *agent_template_get(const char *name);

/* The text of a template's documents, for tests and tools: calls fn for each
 * (name, title, data, len). RC_OK or RC_NOT_FOUND. */
int agent_template_docs(const char *name,
                        void (*fn)(void *ctx, const char *doc_name, const char *data, size_t len),
                        void *ctx);

struct agent_tpl_installed {
    int64_t agent_id, kb_id, eval_set_id;
    int kb_reused;    /* 1 when an identical "示例-<title>" KB was reused */
    char *agent_name; /* malloc'd; the caller frees */
};

/* Installs template `tpl` as agent `name` (NULL or "": the template's
 * name) for `who` (NULL: the operator on the server, created_by 0; else its
 * user becomes created_by and the KB's admin). Runs in one transaction
 * (joins the caller's, e.g. an audited change); on failure nothing is left.
 * RC_OK and *agent_id; RC_NOT_FOUND (no such template), RC_EXISTS (the agent
 * name is taken, or the KB name is taken by a KB with other contents),
 * RC_INVALID (a bad name), RC_DB; err says why in zh-CN / English. */
int agent_template_install(struct kb_conn *c, const struct auth_principal *who, const char *tpl,
                           const char *name, int64_t *agent_id, struct buf *err);
/* The same, with everything it made in *out (release with
 * agent_tpl_installed_release; zeroed first). */
int agent_template_install_ex(struct kb_conn *c, const struct auth_principal *who, const char *tpl,
                              const char *name, struct agent_tpl_installed *out, struct buf *err);
void agent_tpl_installed_release(struct agent_tpl_installed *x);

#endif
