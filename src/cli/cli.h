/* The private header of the `atrium` command-line tool: the shared context,
 * a small argument parser, output helpers (errors, JSON, progress bars,
 * terminal-safe text) and one entry point per noun. The tool is a thin face
 * over the services (kb/, kb/eval, http/), like curl's tool over libcurl. */
#ifndef ATRIUM_CLI_H
#define ATRIUM_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/config.h"
#include "kb/kb.h"
#include "store/db.h"

#ifndef ATRIUM_VERSION
#define ATRIUM_VERSION "0.1.0"
#endif

/* Exit codes (see rc_exit_code in common/rc.h). */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_NOT_FOUND = 3 };

struct cli {
    struct config cfg;
    struct kb_engine *eng; /* NULL until cli_open */
    struct kb_conn *conn;
    int json;    /* --json: machine output on stdout */
    int quiet;   /* --quiet: no progress, no summaries, errors only */
    int tty_out; /* stdout is a terminal: bold highlights */
    int tty_err; /* stderr is a terminal: progress bars */
};

/* ---- argument parsing ---- */
#define CLI_OPT_MAX 16

struct cli_opt {
    const char *name;  /* "--limit" */
    const char *alias; /* "-k" or NULL */
    int has_arg;
};

struct cli_args {
    char **pos; /* positional arguments, in order: the front of argv, reordered */
    int npos;
    const char *val[CLI_OPT_MAX]; /* option i's value ("" for flags), NULL when absent */
    int help;                     /* -h / --help seen */
};

/* Parses argv[0..argc) against opts (terminated by a NULL name; at most
 * CLI_OPT_MAX). --json, --quiet and -h/--help are always accepted and set
 * c->json / c->quiet / a->help. "--opt=value" and "--opt value" both work;
 * "--" ends options. Positional arguments are moved, in order, to the front
 * of argv (a->pos == argv), so there is no limit on their number (a shell
 * glob of thousands of files); option values point at the original
 * strings. On error prints it and returns CLI_EXIT_USAGE. */
int cli_parse_args(struct cli *c, int argc, char **argv, const struct cli_opt *opts,
                   struct cli_args *a);
/* Parses an option's integer value into [min, max]; prints a usage error and
 * returns CLI_EXIT_USAGE when it is not one. */
int cli_int_arg(const char *opt, const char *val, long long min, long long max, int *out);
/* Maps --engine mem|fts5|trigram to kb_search_flags; CLI_EXIT_USAGE if unknown. */
int cli_engine_flags(const char *name, unsigned *flags);

/* ---- context ---- */
/* Opens the engine and a connection for c->cfg (creating the data folder
 * when missing). Prints the error and returns an exit code on failure. */
int cli_open(struct cli *c);
void cli_close(struct cli *c);
/* Looks a KB up by id or name; prints "unknown knowledge base" and returns
 * CLI_EXIT_NOT_FOUND when it does not exist. */
int cli_find_kb(struct cli *c, const char *name, struct kb_info *out);

/* ---- output ---- */
/* "错误 / error: message" on stderr (after clearing a progress line). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the usage of a noun (NULL: everything) to f. */
void cli_usage(FILE *f, const char *noun);
/* Prints a usage error and the noun's usage to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *noun, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints j (stolen) as JSON on stdout followed by a newline. Returns an exit code. */
int cli_print_json(json_t *j);
/* Maps a service error to an exit code after printing it. */
int cli_fail(int rc, const struct buf *err, const char *what);
/* Appends s to out with terminal control characters removed (C0 except \n and
 * \t when keep_newlines, DEL, C1); with keep_newlines == 0 newlines and tabs
 * become single spaces. At most max_cp code points (0: no limit); an
 * ellipsis marks the cut. */
void cli_safe_text(struct buf *out, const char *s, size_t max_cp, int keep_newlines);
/* Renders a kb_hit highlight ("<em>…</em>", HTML-escaped) as terminal text:
 * bold when `bold`, plain otherwise, safe, cut at max_cp code points. */
void cli_render_highlight(struct buf *out, const char *html, size_t max_cp, int bold);
/* Draws "[#####.....] done/total label" on stderr when it is a TTY and not
 * quiet; cli_progress_end clears the line. */
void cli_progress(struct cli *c, size_t done, size_t total, const char *label);
void cli_progress_end(struct cli *c);

/* ---- the nouns: each returns a process exit code ---- */
int cli_cmd_kb(struct cli *c, int argc, char **argv);
int cli_cmd_search(struct cli *c, int argc, char **argv);
int cli_cmd_ask(struct cli *c, int argc, char **argv);
int cli_cmd_serve(struct cli *c, int argc, char **argv);
int cli_cmd_eval(struct cli *c, int argc, char **argv);
/* Identity and organisation (cli_user.c, cli_org.c, cli_ldap.c). */
int cli_cmd_user(struct cli *c, int argc, char **argv);
int cli_cmd_token(struct cli *c, int argc, char **argv);
int cli_cmd_org(struct cli *c, int argc, char **argv);
int cli_cmd_position(struct cli *c, int argc, char **argv);
int cli_cmd_role(struct cli *c, int argc, char **argv);
int cli_cmd_ldap(struct cli *c, int argc, char **argv);
int cli_cmd_audit(struct cli *c, int argc, char **argv);
/* The model registry of the gateway (cli_model.c). */
int cli_cmd_model(struct cli *c, int argc, char **argv);
/* Digital employees (issue #5): `atrium agent …` (cli_agent.c) hands
 * `eval`, `evalset` and `runs` to cli_agent_eval.c, `templates` and
 * `install` to cli_agent_tpl.c; `atrium calendar …` is cli_calendar.c. */
int cli_cmd_agent(struct cli *c, int argc, char **argv);
int cli_agent_eval(struct cli *c, const char *verb, int argc, char **argv);
int cli_agent_tpl(struct cli *c, const char *verb, int argc, char **argv);
int cli_cmd_calendar(struct cli *c, int argc, char **argv);

/* `atrium kb grant|revoke|acl` (cli_acl.c). cli_cmd_kb hands these verbs
 * over before it parses options, since they take their own (--org, --level
 * …). cli_kb_access_verb returns the verb when argv (everything after "kb")
 * names one of them as its first positional argument, else NULL;
 * cli_kb_access then parses the same argv (verb included). */
const char *cli_kb_access_verb(int argc, char **argv);
int cli_kb_access(struct cli *c, const char *verb, int argc, char **argv);

/* ---- identity commands: shared helpers (cli_user.c) ---- */

/* cli_open, then the store connection of c->conn. NULL with *code set (the
 * error printed) on failure. */
struct db_conn *cli_store(struct cli *c, int *code);
/* Every change is audited in its own transaction: cli_change_begin opens
 * it (RC_OK or RC_DB); cli_change_end, when rc is RC_OK, appends the audit
 * entry (the CLI operator's principal, action, target, detail — stolen,
 * may be NULL) and commits, otherwise, or when the entry cannot be
 * written, rolls the change back. Returns the final result code. */
int cli_change_begin(struct db_conn *d, struct db_tx *tx);
int cli_change_end(struct db_conn *d, struct db_tx *tx, int rc, const char *action,
                   const char *target, json_t *detail);
/* Reads a password, never from argv: from the terminal without echo
 * (asked twice when confirm, both must match) when stdin is one, else the
 * first line of stdin (the trailing \n or \r\n dropped). out holds cap
 * bytes; wipe it with cli_wipe. Prints the problem and returns an exit
 * code (2: no password, too long, no match). */
int cli_read_password(const char *prompt, int confirm, char *out, size_t cap);
void cli_wipe(void *p, size_t n);
/* Prints "用户不存在 / unknown user: NAME" (zh "用户", en "user") for
 * RC_NOT_FOUND, else a read error, and returns the exit code. */
int cli_not_found(int rc, const char *zh, const char *en, const char *name);
/* A user's id from an id or a user name; prints and returns an exit code. */
int cli_find_user(struct db_conn *d, const char *name, int64_t *id);
/* Usage error unless only options whose bit (1u << index in opts) is in
 * allowed were given. */
int cli_only_opts(const struct cli_opt *opts, const struct cli_args *a, unsigned allowed,
                  const char *noun);
/* Parses a numeric row id (1..INT64_MAX); usage error otherwise. */
int cli_id_arg(const char *what, const char *s, int64_t *out);
/* Pads out with spaces from byte offset `from` to `width` terminal columns
 * (CJK characters take two), for table cells that hold names. */
void cli_pad(struct buf *out, size_t from, size_t width);
/* Local time "2025-01-31 14:05" of a unix time in seconds, "-" for 0. */
void cli_time(struct buf *out, int64_t secs);

#endif
