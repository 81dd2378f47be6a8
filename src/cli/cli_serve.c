/* `atrium serve`: starts the HTTP server and waits for SIGINT/SIGTERM.
 * The signals are blocked in every thread (the mask is set before the
 * server starts its threads, which inherit it) and taken with sigwait. */
#include "cli/cli.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "common/rc.h"
#include "http/server.h"

enum { O_PORT, O_BIND };

int cli_cmd_serve(struct cli *c, int argc, char **argv)
{
    static const struct cli_opt opts[] = {
        {"--port", "-p", 1}, {"--bind", NULL, 1}, {NULL, NULL, 0}};
    struct cli_args a;
    struct buf err = BUF_INIT;
    struct http_server *srv = NULL;
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        goto out;
    if (a.help) {
        cli_usage(stdout, "serve");
        goto out;
    }
    if (a.npos != 0) {
        code = cli_usage_error("serve", "多余的参数 / unexpected argument: %s", a.pos[0]);
        goto out;
    }
    if (a.val[O_PORT]) {
        int port = 0;
        if ((code = cli_int_arg("--port", a.val[O_PORT], 0, 65535, &port)))
            goto out;
        c->cfg.port = port;
    }
    if (a.val[O_BIND] && config_set(&c->cfg, "bind", a.val[O_BIND], &err) != RC_OK) {
        code = cli_usage_error("serve", "--bind: %s", buf_str(&err));
        goto out;
    }
    if ((code = cli_open(c)))
        goto out;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        cli_error("无法设置信号 / cannot block signals");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &ign, NULL) != 0)
        cli_warn("无法忽略 SIGPIPE / cannot ignore SIGPIPE");

    int rc = http_start(&c->cfg, c->eng, &srv, &err);
    if (rc) {
        code = cli_fail(rc, &err, "无法启动服务 / cannot start the server");
        goto out;
    }
    const char *bind = c->cfg.bind ? c->cfg.bind : "127.0.0.1";
    int v6 = strchr(bind, ':') != NULL;
    fprintf(stderr, "Atrium 已启动 / listening on http://%s%s%s:%d\n", v6 ? "[" : "", bind,
            v6 ? "]" : "", http_port(srv));
    fflush(stderr);

    int sig = 0;
    if (sigwait(&set, &sig) != 0) {
        cli_error("等待信号失败 / sigwait failed");
        code = CLI_EXIT_FAIL;
    }
    if (!c->quiet)
        fprintf(stderr, "正在停止 / stopping (signal %d)\n", sig);
    http_stop(srv);
    srv = NULL;
    if (!c->quiet)
        fputs("已停止 / stopped\n", stderr);
out:
    buf_release(&err);
    return code;
}
