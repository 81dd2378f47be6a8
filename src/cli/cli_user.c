/* `atrium user ...` and `atrium token ...`: local accounts, their passwords
 * and API tokens, plus the helpers every identity command shares (the
 * audited unit of work, reading a password without echo, lookups). Thin
 * calls into auth/auth.h; each change is written with its audit entry in
 * one transaction. Passwords are read from the terminal or stdin, never
 * from argv (where `ps` and shell history would show them). */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth/audit.h"
#include "auth/auth.h"
#include "auth/org.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#define PASSWORD_CAP 1024 /* bytes read per line; the policy caps at 128 */

/* ---- shared helpers ---- */

struct db_conn *cli_store(struct cli *c, int *code)
{
    *code = cli_open(c);
    if (*code)
        return NULL;
    struct db_conn *d = kb_conn_store(c->conn);
    if (!d) {
        cli_error("无法打开数据 / cannot open the store");
        *code = CLI_EXIT_FAIL;
    }
    return d;
}

int cli_change_begin(struct db_conn *d, struct db_tx *tx)
{
    int rc = db_tx_begin(d->db, tx);
    if (rc != RC_OK)
        cli_error("数据库忙或出错 / the store is busy or failed (%s)", rc_code(rc));
    return rc;
}

int cli_change_end(struct db_conn *d, struct db_tx *tx, int rc, const char *action,
                   const char *target, json_t *detail)
{
    if (rc == RC_OK) {
        struct auth_principal who;
        struct audit_entry e;
        auth_principal_cli(&who);
        memset(&e, 0, sizeof e);
        audit_entry_from(&e, &who);
        e.action = action;
        e.target = target ? target : "";
        e.detail = detail;
        e.ip = "";
        if (audit_append(d, &e) != RC_OK) {
            cli_error("无法写入审计日志，更改已撤销 / cannot write the audit log, the change "
                      "was undone");
            rc = RC_DB;
        }
    }
    int erc = db_tx_end(d->db, tx, rc == RC_OK);
    if (rc == RC_OK && erc != RC_OK)
        rc = RC_DB;
    json_decref(detail);
    return rc;
}

void cli_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

/* Ctrl-C at the prompt must not leave the terminal without echo. */
static void restore_tty(int sig)
{
    if (tio_saved)
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line of stdin into out (cap bytes) without the line end.
 * 0 ok, -1 nothing (EOF), -2 longer than cap - 1. */
static int read_line(char *out, size_t cap)
{
    if (!fgets(out, (int)cap, stdin))
        return -1;
    size_t n = strlen(out);
    if (n > 0 && out[n - 1] == '\n') {
        out[--n] = '\0';
    } else if (!feof(stdin)) {
        int ch;
        while ((ch = getchar()) != EOF && ch != '\n')
            ;
        return -2;
    }
    if (n > 0 && out[n - 1] == '\r')
        out[--n] = '\0';
    return 0;
}

/* One prompt on the terminal with echo off. */
static int read_tty(const char *prompt, char *out, size_t cap)
{
    struct termios tio;
    struct sigaction sa, old_int, old_term;
    int rc;
    if (tcgetattr(STDIN_FILENO, &tio) != 0)
        return -1;
    saved_tio = tio;
    tio_saved = 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_tty;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, &old_int);
    (void)sigaction(SIGTERM, &sa, &old_term);
    tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    /* Echo goes off before the prompt shows: whatever is typed after it is
     * never echoed (and TCSAFLUSH drops what was typed ahead). */
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) != 0) {
        rc = -1;
        goto out;
    }
    fputs(prompt, stderr);
    fflush(stderr);
    rc = read_line(out, cap);
out:
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    tio_saved = 0;
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGTERM, &old_term, NULL);
    fputc('\n', stderr);
    fflush(stderr);
    return rc;
}

int cli_read_password(const char *prompt, int confirm, char *out, size_t cap)
{
    int code = CLI_EXIT_OK, lr;
    char *again = NULL;
    out[0] = '\0';
    /* Unbuffered: no copy of the password left in stdio's buffer, and
     * nothing after the first line is consumed. */
    (void)setvbuf(stdin, NULL, _IONBF, 0);
    if (isatty(STDIN_FILENO)) {
        lr = read_tty(prompt, out, cap);
        if (lr == 0 && confirm) {
            again = malloc(cap);
            if (!again)
                abort();
            lr = read_tty("再次输入密码 / password again: ", again, cap);
            if (lr == 0 && strcmp(out, again) != 0) {
                cli_error("两次输入的密码不一致 / the passwords do not match");
                code = CLI_EXIT_USAGE;
                goto out;
            }
        }
    } else {
        lr = read_line(out, cap);
    }
    if (lr == -2) {
        cli_error("密码过长 / password too long");
        code = CLI_EXIT_USAGE;
    } else if (lr != 0) {
        cli_error("没有读到密码（终端或标准输入第一行）/ no password read (from the terminal, or "
                  "the first line of standard input)");
        code = CLI_EXIT_USAGE;
    } else if (!out[0]) {
        cli_error("密码为空 / empty password");
        code = CLI_EXIT_USAGE;
    }
out:
    if (again) {
        cli_wipe(again, cap);
        free(again);
    }
    if (code)
        cli_wipe(out, cap);
    return code;
}

int cli_not_found(int rc, const char *zh, const char *en, const char *name)
{
    struct buf safe = BUF_INIT;
    cli_safe_text(&safe, name, 64, 0);
    if (rc == RC_NOT_FOUND)
        cli_error("%s不存在 / unknown %s: %s", zh, en, buf_str(&safe));
    else
        cli_error("无法读取%s / cannot read %s %s: %s", zh, en, buf_str(&safe), rc_code(rc));
    buf_release(&safe);
    return rc_exit_code(rc);
}

int cli_find_user(struct db_conn *d, const char *name, int64_t *id)
{
    struct auth_user u;
    memset(&u, 0, sizeof u);
    int rc = auth_user_get(d, name, &u);
    if (rc != RC_OK)
        return cli_not_found(rc, "用户", "user", name);
    *id = u.id;
    auth_user_release(&u);
    return CLI_EXIT_OK;
}

int cli_only_opts(const struct cli_opt *opts, const struct cli_args *a, unsigned allowed,
                  const char *noun)
{
    for (int i = 0; i < CLI_OPT_MAX && opts[i].name; i++)
        if (a->val[i] && !(allowed & (1u << i)))
            return cli_usage_error(noun, "此子命令不接受选项 / this verb takes no option %s",
                                   opts[i].name);
    return CLI_EXIT_OK;
}

int cli_id_arg(const char *what, const char *s, int64_t *out)
{
    if (parse_i64(s, 1, INT64_MAX, out) != RC_OK)
        return cli_usage_error(NULL, "%s 需要正整数编号 / %s needs a positive numeric id", what,
                               what);
    return CLI_EXIT_OK;
}

/* East Asian wide and full-width ranges: two terminal columns. */
static int cp_width(uint32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                   (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                   (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                   (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD)
               ? 2
               : 1;
}

void cli_pad(struct buf *out, size_t from, size_t width)
{
    size_t cols = 0, i = from;
    while (i < out->len) {
        uint32_t cp = 0;
        size_t n = utf8_decode(out->p + i, out->len - i, &cp);
        if (n == 0)
            n = 1;
        cols += (size_t)cp_width(cp);
        i += n;
    }
    for (; cols < width; cols++)
        (void)buf_addc(out, ' ');
}

void cli_time(struct buf *out, int64_t secs)
{
    if (secs <= 0) {
        (void)buf_adds(out, "-");
        return;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    char s[32];
    if (!localtime_r(&t, &tm) || !strftime(s, sizeof s, "%Y-%m-%d %H:%M", &tm)) {
        (void)buf_addf(out, "%lld", (long long)secs);
        return;
    }
    (void)buf_adds(out, s);
}

/* "user:7" */
static void target_of(char *out, size_t n, const char *kind, int64_t id)
{
    snprintf(out, n, "%s:%lld", kind, (long long)id);
}

/* ---- user ---- */

enum { U_ADMIN, U_DISPLAY, U_EMPNO };
static const struct cli_opt user_opts[] = {
    {"--admin", NULL, 0}, {"--display", NULL, 1}, {"--employee-no", NULL, 1}, {NULL, NULL, 0}};

static void user_line(const struct auth_user *u)
{
    struct buf name = BUF_INIT, disp = BUF_INIT, emp = BUF_INIT, last = BUF_INIT;
    cli_safe_text(&name, u->username, 0, 0);
    cli_safe_text(&disp, u->display_name, 24, 0);
    cli_safe_text(&emp, u->employee_no, 16, 0);
    cli_time(&last, u->last_login_at);
    const char *state = u->disabled ? "disabled" : u->locked ? "locked" : "active";
    printf("%-6lld %-20s %-16s %-10s %-6s %-16s %s\n", (long long)u->id, buf_str(&name),
           *buf_str(&emp) ? buf_str(&emp) : "-", state, u->source ? u->source : "", buf_str(&last),
           buf_str(&disp));
    buf_release(&name);
    buf_release(&disp);
    buf_release(&emp);
    buf_release(&last);
}

/* Prints a user (by id, freshly read) as JSON or one line. */
static int print_user(struct cli *c, struct db_conn *d, int64_t id, const char *done)
{
    struct auth_user u;
    memset(&u, 0, sizeof u);
    int rc = auth_user_get_id(d, id, &u);
    if (rc)
        return cli_fail(rc, NULL, "无法读取用户 / cannot read the user");
    int code = CLI_EXIT_OK;
    if (c->json) {
        code = cli_print_json(auth_user_json(&u));
    } else if (!c->quiet) {
        struct buf name = BUF_INIT;
        cli_safe_text(&name, u.username, 0, 0);
        printf("%s: %s (id %lld)\n", done, buf_str(&name), (long long)u.id);
        buf_release(&name);
    }
    auth_user_release(&u);
    return code;
}

static int user_add(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("user", "用法 / usage: atrium user add NAME [--admin] [--display "
                                       "NAME] [--employee-no N]");
    const char *name = a->pos[0];
    char pw[PASSWORD_CAP];
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int64_t id = 0;
    int code, rc;
    if (!auth_username_valid(name))
        return cli_usage_error(NULL,
                               "用户名无效（1-64 个字母、数字或 ._@-，不能全是数字）/ invalid user "
                               "name (1-64 of letters, digits and ._@-, not all digits)");
    /* Say "taken" before asking for a password nobody will use. */
    struct auth_user u;
    memset(&u, 0, sizeof u);
    if (auth_user_get(d, name, &u) == RC_OK) {
        auth_user_release(&u);
        cli_error("用户已存在 / user already exists: %s", name);
        return rc_exit_code(RC_EXISTS);
    }
    code = cli_read_password("新密码 / new password: ", 1, pw, sizeof pw);
    if (code)
        return code;
    rc = auth_password_check(&c->cfg, name, pw, &err);
    if (rc) {
        code = cli_fail(rc, &err, "密码不符合要求 / password rejected");
        goto out;
    }
    rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    const char *disp = a->val[U_DISPLAY], *emp = a->val[U_EMPNO];
    rc = auth_user_create(d, &c->cfg, name, disp ? disp : "", emp ? emp : "", pw,
                          a->val[U_ADMIN] != NULL, &id, &err);
    char target[48];
    target_of(target, sizeof target, "user", id);
    json_t *detail = json_pack("{s:s,s:b}", "username", name, "admin", a->val[U_ADMIN] != NULL);
    if (disp)
        (void)json_object_set_new(detail, "display_name", json_string(disp));
    if (emp)
        (void)json_object_set_new(detail, "employee_no", json_string(emp));
    rc = cli_change_end(d, &tx, rc, "user.create", target, detail);
    if (rc) {
        code = cli_fail(rc, &err, "无法创建用户 / cannot create the user");
        goto out;
    }
    code = print_user(c, d, id, "已创建用户 / created user");
out:
    cli_wipe(pw, sizeof pw);
    buf_release(&err);
    return code;
}

static int user_list(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("user", "用法 / usage: atrium user list");
    struct auth_user *us = NULL;
    size_t n = 0;
    int rc = auth_user_list(d, &us, &n);
    if (rc)
        return cli_fail(rc, NULL, "无法列出用户 / cannot list users");
    int code = CLI_EXIT_OK;
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            (void)json_array_append_new(arr, auth_user_json(&us[i]));
        code = cli_print_json(arr);
    } else {
        printf("%-6s %-20s %-16s %-10s %-6s %-16s %s\n", "id", "user", "employee_no", "state",
               "source", "last_login", "姓名 / name");
        for (size_t i = 0; i < n; i++)
            user_line(&us[i]);
    }
    auth_users_free(us, n);
    return code;
}

static void print_named_list(const char *label, json_t *arr, const char *key)
{
    size_t i;
    json_t *it;
    struct buf line = BUF_INIT;
    (void)buf_adds(&line, label);
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        (void)buf_adds(&line, " -");
    json_array_foreach(arr, i, it)
    {
        (void)buf_adds(&line, i ? ", " : " ");
        const char *s = json_string_value(json_object_get(it, key));
        if (!s)
            s = json_string_value(json_object_get(it, "name"));
        cli_safe_text(&line, s ? s : "?", 80, 0);
    }
    puts(buf_str(&line));
    buf_release(&line);
}

static int user_show(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("user", "用法 / usage: atrium user show NAME");
    struct auth_user u;
    memset(&u, 0, sizeof u);
    json_t *mem = NULL, *j = NULL;
    unsigned perms = 0;
    int code = CLI_EXIT_OK;
    int rc = auth_user_get(d, a->pos[0], &u);
    if (rc)
        return cli_not_found(rc, "用户", "user", a->pos[0]);
    rc = org_user_memberships(d, u.id, &mem);
    if (rc == RC_OK)
        rc = role_perms_of(d, u.id, &perms);
    if (rc) {
        code = cli_fail(rc, NULL, "无法读取用户的组织和角色 / cannot read the user's memberships");
        goto out;
    }
    j = auth_user_json(&u);
    if (json_is_object(mem))
        (void)json_object_update(j, mem);
    (void)json_object_set_new(j, "perms", auth_perms_json(perms));
    if (c->json) {
        code = cli_print_json(j);
        j = NULL;
        goto out;
    }
    struct buf s = BUF_INIT;
    cli_safe_text(&s, u.username, 0, 0);
    printf("用户 / user:        %s (id %lld)\n", buf_str(&s), (long long)u.id);
    buf_reset(&s);
    cli_safe_text(&s, u.display_name, 80, 0);
    printf("姓名 / name:        %s\n", buf_str(&s));
    buf_reset(&s);
    cli_safe_text(&s, u.employee_no, 40, 0);
    printf("工号 / employee no: %s\n", *buf_str(&s) ? buf_str(&s) : "-");
    printf("来源 / source:      %s\n", u.source ? u.source : "");
    printf("状态 / state:       %s\n", u.disabled ? "disabled" : u.locked ? "locked" : "active");
    buf_reset(&s);
    cli_time(&s, u.created_at);
    printf("创建 / created:     %s\n", buf_str(&s));
    buf_reset(&s);
    cli_time(&s, u.last_login_at);
    printf("最近登录 / last login: %s\n", buf_str(&s));
    buf_release(&s);
    print_named_list("组织 / orgs:", json_object_get(j, "orgs"), "names");
    print_named_list("岗位 / positions:", json_object_get(j, "positions"), "name");
    print_named_list("角色 / roles:", json_object_get(j, "roles"), "name");
    json_t *pj = json_object_get(j, "perms");
    struct buf p = BUF_INIT;
    size_t i;
    json_t *it;
    (void)buf_adds(&p, "权限 / perms:");
    if (json_array_size(pj) == 0)
        (void)buf_adds(&p, " -");
    json_array_foreach(pj, i, it)
    {
        (void)buf_adds(&p, i ? ", " : " ");
        (void)buf_adds(&p, json_string_value(it) ? json_string_value(it) : "?");
    }
    puts(buf_str(&p));
    buf_release(&p);
out:
    json_decref(j);
    json_decref(mem);
    auth_user_release(&u);
    return code;
}

static int user_set_disabled(struct cli *c, struct db_conn *d, struct cli_args *a, int disabled)
{
    if (a->npos != 1)
        return cli_usage_error("user", "用法 / usage: atrium user %s NAME",
                               disabled ? "disable" : "enable");
    int64_t id = 0;
    int code = cli_find_user(d, a->pos[0], &id);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = auth_user_set_disabled(d, id, disabled);
    char target[48];
    target_of(target, sizeof target, "user", id);
    rc = cli_change_end(d, &tx, rc, disabled ? "user.disable" : "user.enable", target,
                        json_pack("{s:s}", "username", a->pos[0]));
    if (rc)
        return cli_fail(rc, NULL,
                        disabled ? "无法停用用户 / cannot disable the user"
                                 : "无法启用用户 / cannot enable the user");
    return print_user(c, d, id,
                      disabled ? "已停用用户 / disabled user" : "已启用用户 / enabled user");
}

static int user_passwd(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("user", "用法 / usage: atrium user passwd NAME");
    struct auth_user u;
    memset(&u, 0, sizeof u);
    char pw[PASSWORD_CAP];
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = auth_user_get(d, a->pos[0], &u);
    if (rc)
        return cli_not_found(rc, "用户", "user", a->pos[0]);
    int code = cli_read_password("新密码 / new password: ", 1, pw, sizeof pw);
    if (code)
        goto out;
    rc = auth_password_check(&c->cfg, u.username, pw, &err);
    if (rc) {
        code = cli_fail(rc, &err, "密码不符合要求 / password rejected");
        goto out;
    }
    rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = auth_user_set_password(d, &c->cfg, u.id, pw, &err);
    char target[48];
    target_of(target, sizeof target, "user", u.id);
    rc = cli_change_end(d, &tx, rc, "user.password", target,
                        json_pack("{s:s}", "username", u.username));
    if (rc) {
        code = cli_fail(rc, &err, "无法修改密码 / cannot set the password");
        goto out;
    }
    code = print_user(c, d, u.id, "已修改密码 / password set for");
out:
    cli_wipe(pw, sizeof pw);
    buf_release(&err);
    auth_user_release(&u);
    return code;
}

static int user_update(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    const char *disp = a->val[U_DISPLAY], *emp = a->val[U_EMPNO];
    if (a->npos != 1 || (!disp && !emp))
        return cli_usage_error("user", "用法 / usage: atrium user update NAME [--display NAME] "
                                       "[--employee-no N]");
    int64_t id = 0;
    int code = cli_find_user(d, a->pos[0], &id);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = auth_user_update(d, id, disp, emp);
    char target[48];
    target_of(target, sizeof target, "user", id);
    json_t *detail = json_pack("{s:s}", "username", a->pos[0]);
    if (disp)
        (void)json_object_set_new(detail, "display_name", json_string(disp));
    if (emp)
        (void)json_object_set_new(detail, "employee_no", json_string(emp));
    rc = cli_change_end(d, &tx, rc, "user.update", target, detail);
    if (rc)
        return cli_fail(rc, NULL, "无法修改用户 / cannot update the user");
    return print_user(c, d, id, "已修改用户 / updated user");
}

int cli_cmd_user(struct cli *c, int argc, char **argv)
{
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, user_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "user");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("user", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    struct cli_args rest = a;
    rest.npos = a.npos - 1;
    rest.pos = a.pos + 1;
    unsigned allowed = 0;
    int which;
    if (strcmp(verb, "add") == 0) {
        which = 0;
        allowed = 1u << U_ADMIN | 1u << U_DISPLAY | 1u << U_EMPNO;
    } else if (strcmp(verb, "list") == 0) {
        which = 1;
    } else if (strcmp(verb, "show") == 0) {
        which = 2;
    } else if (strcmp(verb, "disable") == 0) {
        which = 3;
    } else if (strcmp(verb, "enable") == 0) {
        which = 4;
    } else if (strcmp(verb, "passwd") == 0) {
        which = 5;
    } else if (strcmp(verb, "update") == 0) {
        which = 6;
        allowed = 1u << U_DISPLAY | 1u << U_EMPNO;
    } else {
        return cli_usage_error("user", "未知子命令 / unknown verb: user %.40s", verb);
    }
    code = cli_only_opts(user_opts, &a, allowed, "user");
    if (code)
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    switch (which) {
    case 0:
        return user_add(c, d, &rest);
    case 1:
        return user_list(c, d, &rest);
    case 2:
        return user_show(c, d, &rest);
    case 3:
        return user_set_disabled(c, d, &rest, 1);
    case 4:
        return user_set_disabled(c, d, &rest, 0);
    case 5:
        return user_passwd(c, d, &rest);
    default:
        return user_update(c, d, &rest);
    }
}

/* ---- token ---- */

enum { T_NAME, T_EXPIRES };
static const struct cli_opt token_opts[] = {
    {"--name", NULL, 1}, {"--expires", NULL, 1}, {NULL, NULL, 0}};

/* The listing entry of one token (a new reference), or NULL. */
static json_t *token_entry(struct db_conn *d, int64_t user_id, int64_t id)
{
    json_t *list = NULL, *found = NULL;
    if (auth_token_list(d, user_id, &list) != RC_OK)
        return NULL;
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        if (json_integer_value(json_object_get(it, "id")) == id) {
            found = json_incref(it);
            break;
        }
    }
    json_decref(list);
    return found;
}

static int token_create(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("token", "用法 / usage: atrium token create USER [--name N] "
                                        "[--expires DAYS]");
    int days = 0;
    int code = CLI_EXIT_OK;
    if (a->val[T_EXPIRES] && (code = cli_int_arg("--expires", a->val[T_EXPIRES], 0, 3650, &days)))
        return code;
    const char *name = a->val[T_NAME] ? a->val[T_NAME] : "";
    int64_t uid = 0, id = 0;
    code = cli_find_user(d, a->pos[0], &uid);
    if (code)
        return code;
    char token[64] = "";
    struct buf err = BUF_INIT;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc) {
        code = rc_exit_code(rc);
        goto out;
    }
    rc = auth_token_create(d, uid, name, days, token, &id, &err);
    char target[48];
    target_of(target, sizeof target, "token", id);
    rc = cli_change_end(d, &tx, rc, "token.create", target,
                        json_pack("{s:I,s:s,s:s,s:i}", "user_id", (json_int_t)uid, "username",
                                  a->pos[0], "name", name, "expires_days", days));
    if (rc) {
        code = cli_fail(rc, &err, "无法创建令牌 / cannot create the token");
        goto out;
    }
    if (c->json) {
        json_t *j = token_entry(d, uid, id);
        if (!j)
            j = json_pack("{s:I}", "id", (json_int_t)id);
        (void)json_object_set_new(j, "token", json_string(token));
        code = cli_print_json(j);
        goto out;
    }
    if (!c->quiet) {
        fprintf(stderr,
                "已创建令牌 %lld。令牌只显示这一次，请立即妥善保存 /\n"
                "created token %lld. It is shown only this once: store it safely now.\n",
                (long long)id, (long long)id);
        fflush(stderr);
    }
    printf("%s\n", token);
out:
    cli_wipe(token, sizeof token);
    buf_release(&err);
    return code;
}

static void token_line(json_t *t)
{
    struct buf name = BUF_INIT, user = BUF_INIT, created = BUF_INIT, expires = BUF_INIT;
    json_t *u = json_object_get(t, "user");
    if (json_is_string(u))
        cli_safe_text(&user, json_string_value(u), 20, 0);
    else if (json_is_object(u))
        cli_safe_text(&user, json_string_value(json_object_get(u, "username")), 20, 0);
    else
        (void)buf_addf(&user, "%lld", (long long)json_integer_value(u));
    cli_safe_text(&name, json_string_value(json_object_get(t, "name")), 32, 0);
    cli_time(&created, json_integer_value(json_object_get(t, "created_at")));
    int64_t exp = json_integer_value(json_object_get(t, "expires_at"));
    cli_time(&expires, exp);
    const char *state = "active";
    if (json_integer_value(json_object_get(t, "revoked_at")) > 0)
        state = "revoked";
    else if (exp > 0 && exp <= (int64_t)time(NULL))
        state = "expired";
    const char *prefix = json_string_value(json_object_get(t, "prefix"));
    printf("%-6lld %-16s %-12s %-8s %-16s %-16s %s\n",
           (long long)json_integer_value(json_object_get(t, "id")), buf_str(&user),
           prefix ? prefix : "", state, buf_str(&created), buf_str(&expires), buf_str(&name));
    buf_release(&name);
    buf_release(&user);
    buf_release(&created);
    buf_release(&expires);
}

static int token_list(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos > 1)
        return cli_usage_error("token", "用法 / usage: atrium token list [USER]");
    int64_t uid = 0;
    int code = CLI_EXIT_OK;
    if (a->npos == 1 && (code = cli_find_user(d, a->pos[0], &uid)))
        return code;
    json_t *list = NULL;
    int rc = auth_token_list(d, uid, &list);
    if (rc)
        return cli_fail(rc, NULL, "无法列出令牌 / cannot list tokens");
    if (c->json)
        return cli_print_json(list);
    printf("%-6s %-16s %-12s %-8s %-16s %-16s %s\n", "id", "user", "prefix", "state", "created",
           "expires", "名称 / name");
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) token_line(t);
    json_decref(list);
    return code;
}

static int token_revoke(struct cli *c, struct db_conn *d, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("token", "用法 / usage: atrium token revoke ID");
    int64_t id = 0;
    int code = cli_id_arg("ID", a->pos[0], &id);
    if (code)
        return code;
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc)
        return rc_exit_code(rc);
    rc = auth_token_revoke(d, id, 0);
    char target[48];
    target_of(target, sizeof target, "token", id);
    rc = cli_change_end(d, &tx, rc, "token.revoke", target,
                        json_pack("{s:I}", "id", (json_int_t)id));
    if (rc == RC_NOT_FOUND)
        return cli_not_found(rc, "令牌", "token", a->pos[0]);
    if (rc)
        return cli_fail(rc, NULL, "无法吊销令牌 / cannot revoke the token");
    if (c->json)
        return cli_print_json(json_pack("{s:I,s:b}", "id", (json_int_t)id, "revoked", 1));
    if (!c->quiet)
        printf("已吊销令牌 / revoked token %lld\n", (long long)id);
    return CLI_EXIT_OK;
}

int cli_cmd_token(struct cli *c, int argc, char **argv)
{
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, token_opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "token");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("token", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    struct cli_args rest = a;
    rest.npos = a.npos - 1;
    rest.pos = a.pos + 1;
    int (*fn)(struct cli *, struct db_conn *, struct cli_args *) = NULL;
    unsigned allowed = 0;
    if (strcmp(verb, "create") == 0) {
        fn = token_create;
        allowed = 1u << T_NAME | 1u << T_EXPIRES;
    } else if (strcmp(verb, "list") == 0) {
        fn = token_list;
    } else if (strcmp(verb, "revoke") == 0) {
        fn = token_revoke;
    } else {
        return cli_usage_error("token", "未知子命令 / unknown verb: token %.40s", verb);
    }
    code = cli_only_opts(token_opts, &a, allowed, "token");
    if (code)
        return code;
    struct db_conn *d = cli_store(c, &code);
    if (!d)
        return code;
    return fn(c, d, &rest);
}
