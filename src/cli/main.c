/* atrium: the command-line entry point. Parses the global options that come
 * before the noun (--data, --config, --json, --quiet, --help, --version),
 * loads the configuration, sets the log level and hands over to the noun's
 * command in src/cli/cli_*.c. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/rc.h"

/* Takes the value of a global option ("--data DIR" or "--data=DIR"). */
static int take_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    const char *s = argv[*i];
    if (strncmp(s, name, n) == 0 && s[n] == '=') {
        *out = s + n + 1;
        return 1;
    }
    if (strcmp(s, name) != 0)
        return 0;
    if (*i + 1 >= argc) {
        *out = NULL;
        return 1;
    }
    *out = argv[++*i];
    return 1;
}

/* Sets the log level from the configuration. An unknown name (a typo in
 * ATRIUM_LOG_LEVEL or log_level) still runs at info, but says so. */
static void set_log_level(struct cli *c, const char *noun)
{
    const char *name = c->cfg.log_level ? c->cfg.log_level : "info";
    int level = log_parse_level(name);
    if (level < 0) {
        struct buf safe = BUF_INIT;
        cli_safe_text(&safe, name, 40, 0);
        cli_warn("未知日志级别，按 info 处理 / unknown log level \"%s\", using info "
                 "(debug|info|warn|error|off)",
                 buf_str(&safe));
        buf_release(&safe);
        level = LOG_INFO;
    }
    /* Commands are quieter than the server: their output is the result. */
    if (strcmp(noun, "serve") != 0 && level == LOG_INFO)
        level = LOG_WARN;
    if (c->quiet && level < LOG_ERROR)
        level = LOG_ERROR;
    log_set_level(level);
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    c.tty_out = isatty(STDOUT_FILENO);
    c.tty_err = isatty(STDERR_FILENO);
    const char *data = NULL, *config = NULL;
    int help = 0, version = 0, i = 1, code = CLI_EXIT_OK, cfg_loaded = 0;
    struct buf err = BUF_INIT;

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *s = argv[i], *v = NULL;
        if (take_value(argc, argv, &i, "--data", &v)) {
            if (!v || !*v) {
                code = cli_usage_error(NULL, "--data 需要目录 / --data needs a folder");
                goto out;
            }
            data = v;
        } else if (take_value(argc, argv, &i, "--config", &v)) {
            if (!v || !*v) {
                code = cli_usage_error(NULL, "--config 需要文件 / --config needs a file");
                goto out;
            }
            config = v;
        } else if (strcmp(s, "--json") == 0) {
            c.json = 1;
        } else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            c.quiet = 1;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            help = 1;
        } else if (strcmp(s, "--version") == 0) {
            version = 1;
        } else {
            code = cli_usage_error(NULL, "未知选项 / unknown option: %s", s);
            goto out;
        }
    }
    const char *noun = i < argc ? argv[i] : NULL;
    if (version || (noun && strcmp(noun, "version") == 0)) {
        if (!version) {
            /* `atrium version --json`: the noun takes the usual options too. */
            struct cli_args a;
            code = cli_parse_args(&c, argc - i - 1, argv + i + 1, NULL, &a);
            if (code)
                goto out;
            if (a.npos > 0) {
                code = cli_usage_error(NULL, "多余的参数 / unexpected argument: %.40s", a.pos[0]);
                goto out;
            }
        }
        if (c.json)
            code = cli_print_json(json_pack("{s:s}", "version", ATRIUM_VERSION));
        else
            printf("atrium %s\n", ATRIUM_VERSION);
        goto out;
    }
    if (help || (noun && strcmp(noun, "help") == 0)) {
        cli_usage(stdout, help ? noun : (i + 1 < argc ? argv[i + 1] : NULL));
        goto out;
    }
    if (!noun) {
        cli_usage(stderr, NULL);
        code = CLI_EXIT_USAGE;
        goto out;
    }
    int (*cmd)(struct cli *, int, char **) = NULL;
    if (strcmp(noun, "kb") == 0)
        cmd = cli_cmd_kb;
    else if (strcmp(noun, "search") == 0)
        cmd = cli_cmd_search;
    else if (strcmp(noun, "ask") == 0)
        cmd = cli_cmd_ask;
    else if (strcmp(noun, "serve") == 0)
        cmd = cli_cmd_serve;
    else if (strcmp(noun, "eval") == 0)
        cmd = cli_cmd_eval;
    else if (strcmp(noun, "user") == 0)
        cmd = cli_cmd_user;
    else if (strcmp(noun, "token") == 0)
        cmd = cli_cmd_token;
    else if (strcmp(noun, "org") == 0)
        cmd = cli_cmd_org;
    else if (strcmp(noun, "position") == 0)
        cmd = cli_cmd_position;
    else if (strcmp(noun, "role") == 0)
        cmd = cli_cmd_role;
    else if (strcmp(noun, "ldap") == 0)
        cmd = cli_cmd_ldap;
    else if (strcmp(noun, "audit") == 0)
        cmd = cli_cmd_audit;
    else if (strcmp(noun, "model") == 0)
        cmd = cli_cmd_model;
    else if (strcmp(noun, "agent") == 0)
        cmd = cli_cmd_agent;
    else if (strcmp(noun, "calendar") == 0)
        cmd = cli_cmd_calendar;
    else {
        code = cli_usage_error(NULL, "未知命令 / unknown command: %.40s", noun);
        goto out;
    }

    int rc = config_load(&c.cfg, config, &err);
    cfg_loaded = 1;
    if (rc) {
        /* Missing, unreadable (a folder, no permission) or invalid: all are
         * bad input, exit 2 as docs/CLI.md says. */
        code = cli_fail(RC_INVALID, &err, "配置错误 / bad configuration");
        goto out;
    }
    if (data && (rc = config_set(&c.cfg, "data_dir", data, &err)) != RC_OK) {
        code = cli_fail(RC_INVALID, &err, "--data");
        goto out;
    }
    set_log_level(&c, noun);
    code = cmd(&c, argc - i - 1, argv + i + 1);
out:
    cli_close(&c);
    if (cfg_loaded)
        config_release(&c.cfg);
    buf_release(&err);
    if (fflush(stdout) != 0 && code == CLI_EXIT_OK)
        code = CLI_EXIT_FAIL;
    return code;
}
