/* Tests for src/auth/ldap.c and login.c against a real OpenLDAP slapd on
 * loopback, loaded with the 恒远商业银行 directory (tests/ldap/): filter
 * escaping, binds (right, wrong, empty password, unknown, ambiguous,
 * injected names), a server that is down or silent, first sign-in and the
 * group/OU maps, and auth_login for directory and local users.
 *
 * slapd is started once, on first use, by `tests/ldap/slapd.sh start DIR
 * PORT OWNER_PID` (DIR under test_tmpdir(), PORT found by binding port 0)
 * and stopped at exit. A missing slapd is a failure, not a skip. */
#include "test.h"

#include "auth/auth.h"
#include "auth/ldap.h"
#include "auth/org.h"
#include "common/config.h"
#include "common/rc.h"
#include "common/util.h"
#include "store/db.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCRIPT "tests/ldap/slapd.sh"
#define BASE "dc=hengyuan,dc=example"
#define SVC_DN "cn=atrium-svc,ou=services," BASE
#define SVC_PW "Svc#2024pw"
#define G_TELLERS "cn=tellers,ou=groups," BASE
#define G_SUPERVISORS "cn=ops-supervisors,ou=groups," BASE
#define G_RISK "cn=risk,ou=groups," BASE
#define G_VPN "cn=vpn-users,ou=groups," BASE
#define ZHANGWEI_DN "uid=zhangwei,ou=pudong,ou=shanghai,ou=branches," BASE

static int slapd_state; /* 0 not started, 1 running, -1 could not start */
static int slapd_port;
static char slapd_dir[512];

/* A TCP port on 127.0.0.1 that was free a moment ago. With listen_fd, the
 * socket is kept open and listening (but never accepting) instead. */
static int free_port(int *listen_fd)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (listen_fd && port && listen(fd, 16) == 0) {
        *listen_fd = fd;
        return port;
    }
    close(fd);
    return listen_fd ? 0 : port;
}

/* Runs tests/ldap/slapd.sh with args; its exit status (-1: not run). */
static int run_script(const char *const *args)
{
    const char *argv[8];
    size_t n = 0;
    argv[n++] = SCRIPT;
    for (size_t i = 0; args[i] && n < 7; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execv(SCRIPT, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* At exit (the runner removes test_tmpdir() before that, which is why
 * slapd has a directory of its own). */
static void slapd_stop(void)
{
    if (slapd_state == 1) {
        const char *args[] = {"stop", slapd_dir, NULL};
        if (run_script(args) != 0)
            fprintf(stderr, "  could not stop slapd (%s)\n", slapd_dir);
    }
    slapd_state = 0;
    if (slapd_dir[0] && nftw(slapd_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "  could not remove %s\n", slapd_dir);
}

/* Starts slapd once for the whole run. Records a failure (so the test
 * fails) and returns 0 when it cannot. */
static int slapd_up(void)
{
    if (slapd_state == 1)
        return 1;
    if (slapd_state == -1) {
        test_fail(__FILE__, __LINE__, "slapd is not running (it failed to start, see above)");
        return 0;
    }
    slapd_state = -1;
    if (access("/usr/sbin/slapd", X_OK) != 0) {
        test_fail(
            __FILE__, __LINE__,
            "/usr/sbin/slapd not found: install slapd and ldap-utils (scripts/install-deps.sh)");
        return 0;
    }
    if (access(SCRIPT, X_OK) != 0) {
        test_fail(__FILE__, __LINE__, SCRIPT " not found (run the tests from the repo root)");
        return 0;
    }
    snprintf(slapd_dir, sizeof slapd_dir, "/tmp/atrium-slapd-XXXXXX");
    if (!mkdtemp(slapd_dir)) {
        slapd_dir[0] = '\0';
        test_fail(__FILE__, __LINE__, "mkdtemp failed");
        return 0;
    }
    atexit(slapd_stop);
    char port[16], owner[24];
    for (int attempt = 0; attempt < 3 && slapd_state != 1; attempt++) {
        slapd_port = free_port(NULL);
        snprintf(port, sizeof port, "%d", slapd_port);
        snprintf(owner, sizeof owner, "%d", (int)getpid());
        const char *args[] = {"start", slapd_dir, port, owner, NULL};
        double t0 = now_ms();
        int st = run_script(args);
        if (st == 0) {
            slapd_state = 1;
            if (getenv("ATRIUM_TEST_VERBOSE"))
                fprintf(stderr, "  slapd on port %d in %.0f ms\n", slapd_port, now_ms() - t0);
        }
    }
    if (slapd_state != 1)
        test_fail(__FILE__, __LINE__, "could not start slapd (see %s/slapd.log)", slapd_dir);
    return slapd_state == 1;
}

struct fx {
    struct config cfg;
    sqlite3 *db;
    struct db_conn d;
};

static void set(struct config *cfg, const char *key, const char *value)
{
    struct buf err = BUF_INIT;
    if (config_set(cfg, key, value, &err) != RC_OK)
        test_fail(__FILE__, __LINE__, "config_set %s: %s", key, buf_str(&err));
    buf_release(&err);
}

/* A config pointing at the directory on port (service account bind). */
static void cfg_init(struct config *cfg, int port)
{
    struct buf err = BUF_INIT;
    if (config_load(cfg, NULL, &err) != RC_OK)
        test_fail(__FILE__, __LINE__, "config_load: %s", buf_str(&err));
    buf_release(&err);
    char url[64];
    snprintf(url, sizeof url, "ldap://127.0.0.1:%d/", port);
    set(cfg, "ldap_url", url);
    set(cfg, "ldap_base_dn", BASE);
    set(cfg, "ldap_bind_dn", SVC_DN);
    set(cfg, "ldap_bind_password", SVC_PW);
    set(cfg, "ldap_group_base_dn", "ou=groups," BASE);
    set(cfg, "ldap_timeout_ms", "2000");
}

/* Starts slapd if needed and opens a fresh store. 0 when it failed. */
static int fx_open(struct fx *f, const char *name)
{
    memset(f, 0, sizeof *f);
    if (!slapd_up())
        return 0;
    cfg_init(&f->cfg, slapd_port);
    struct buf err = BUF_INIT;
    char path[600];
    snprintf(path, sizeof path, "%s/%s.db", test_tmpdir(), name);
    int rc = db_open(path, &f->db, &err);
    if (rc) {
        test_fail(__FILE__, __LINE__, "db_open: %s", buf_str(&err));
        config_release(&f->cfg);
    } else {
        f->d.db = f->db;
        f->d.cache = db_cache_new(f->db);
    }
    buf_release(&err);
    return rc == RC_OK;
}

static void fx_close(struct fx *f)
{
    db_cache_free(f->d.cache);
    db_close(f->db);
    config_release(&f->cfg);
}

static int has_group(const struct ldap_identity *id, const char *dn)
{
    for (size_t i = 0; i < id->ngroups; i++)
        if (strcasecmp(id->groups[i], dn) == 0)
            return 1;
    return 0;
}

/* ldap_authenticate's result code; err receives the message. */
static int auth(const struct config *cfg, const char *user, const char *pw, struct buf *err)
{
    struct ldap_identity id;
    buf_reset(err);
    int rc = ldap_authenticate(cfg, user, pw, &id, err);
    if (rc == RC_OK)
        ldap_identity_release(&id);
    return rc;
}

/* The source of one membership row ("local", "ldap"), or "" when absent.
 * sql selects source with ?1 = user id and ?2 = the other id. */
static char link_src[16];
static const char *link_source(struct fx *f, const char *sql, int64_t uid, int64_t other)
{
    sqlite3_stmt *st = NULL;
    link_src[0] = '\0';
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK) {
        test_fail(__FILE__, __LINE__, "prepare: %s", sqlite3_errmsg(f->db));
        return link_src;
    }
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, other);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(link_src, sizeof link_src, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return link_src;
}
#define ORG_SRC(f, u, o)                                                                           \
    link_source(f, "SELECT source FROM org_members WHERE user_id = ?1 AND org_id = ?2", u, o)
#define POS_SRC(f, u, p)                                                                           \
    link_source(f, "SELECT source FROM user_positions WHERE user_id = ?1 AND position_id = ?2", u, \
                p)
#define ROLE_SRC(f, u, r)                                                                          \
    link_source(f, "SELECT source FROM user_roles WHERE user_id = ?1 AND role_id = ?2", u, r)

/* A text column of the users row id ("" when NULL, "?" when absent). */
static char user_col_buf[256];
static const char *user_col(struct fx *f, int64_t id, const char *col)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT coalesce(%s, '') FROM users WHERE id = ?1", col);
    sqlite3_stmt *st = NULL;
    snprintf(user_col_buf, sizeof user_col_buf, "?");
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK)
        return user_col_buf;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(user_col_buf, sizeof user_col_buf, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return user_col_buf;
}

/* ---- no server needed ---- */

TEST(ldap_filter_escape_rfc4515)
{
    struct buf b = BUF_INIT;
    CHECK_INT(ldap_filter_escape(&b, "a*b(c)\\d", 8), RC_OK);
    CHECK_STR(buf_str(&b), "a\\2ab\\28c\\29\\5cd");
    buf_reset(&b);
    CHECK_INT(ldap_filter_escape(&b, "x\0y\n\x7f", 5), RC_OK);
    CHECK_STR(buf_str(&b), "x\\00y\\0a\\7f");
    buf_reset(&b);
    CHECK_INT(ldap_filter_escape(&b, "张", strlen("张")), RC_OK);
    CHECK_STR(buf_str(&b), "\\e5\\bc\\a0");
    buf_reset(&b);
    CHECK_INT(ldap_filter_expand(&b, "(&(uid=%s)(objectClass=*))", "a)(uid=*", NULL), RC_OK);
    CHECK_STR(buf_str(&b), "(&(uid=a\\29\\28uid=\\2a)(objectClass=*))");
    buf_reset(&b);
    CHECK_INT(ldap_filter_expand(&b, "(|(member=%D)(memberUid=%s)(x=100%%))", "li",
                                 "cn=Li\\, Qiang,ou=people"),
              RC_OK);
    CHECK_STR(buf_str(&b), "(|(member=cn=Li\\5c, Qiang,ou=people)(memberUid=li)(x=100%))");
    buf_release(&b);

    struct buf small;
    buf_init(&small, 8);
    CHECK_INT(ldap_filter_expand(&small, "(uid=%s)", "averylongname", NULL), RC_TOO_BIG);
    buf_release(&small);
}

TEST(ldap_not_configured)
{
    struct config cfg;
    struct buf err = BUF_INIT;
    CHECK_INT(config_load(&cfg, NULL, &err), RC_OK);
    set(&cfg, "ldap_url", "");
    CHECK(!ldap_enabled(&cfg));
    CHECK_INT(auth(&cfg, "zhangwei", "Teller#2024a", &err), RC_UNSUPPORTED);
    set(&cfg, "ldap_url", "ldap://127.0.0.1:389/");
    CHECK(ldap_enabled(&cfg));
    config_release(&cfg);
    buf_release(&err);
}

TEST(ldap_empty_password_never_binds)
{
    /* Pointing at a closed port: an answer other than "denied" would mean
     * we tried to talk to the directory with an empty password. */
    struct config cfg;
    cfg_init(&cfg, free_port(NULL));
    struct buf err = BUF_INIT;
    CHECK_INT(auth(&cfg, "zhangwei", "", &err), RC_DENIED);
    CHECK_INT(auth(&cfg, "zhangwei", NULL, &err), RC_DENIED);
    CHECK_INT(auth(&cfg, "", "x", &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "wrong user name or password");
    config_release(&cfg);
    buf_release(&err);
}

TEST(ldap_server_down_fails_fast)
{
    struct config cfg;
    cfg_init(&cfg, free_port(NULL)); /* nothing listens there */
    struct buf err = BUF_INIT;
    double t0 = now_ms();
    CHECK_INT(auth(&cfg, "zhangwei", "Teller#2024a", &err), RC_UPSTREAM);
    double ms = now_ms() - t0;
    CHECK(ms < 1000); /* the timeout is 2000 ms: a refused connect must not wait for it */
    CHECK_CONTAINS(buf_str(&err), "目录服务不可用 / directory unavailable");
    CHECK(!strstr(buf_str(&err), "Teller#2024a"));
    config_release(&cfg);
    buf_release(&err);
}

TEST(ldap_silent_server_times_out)
{
    /* A socket that listens but never answers: the connect succeeds (the
     * kernel's backlog), the bind gets no reply. */
    int fd = -1;
    int port = free_port(&fd);
    CHECK(port > 0);
    struct config cfg;
    cfg_init(&cfg, port);
    set(&cfg, "ldap_timeout_ms", "300");
    struct buf err = BUF_INIT;
    double t0 = now_ms();
    CHECK_INT(auth(&cfg, "zhangwei", "Teller#2024a", &err), RC_TIMEOUT);
    double ms = now_ms() - t0;
    CHECK(ms >= 250 && ms < 2000);
    CHECK_CONTAINS(buf_str(&err), "timed out");
    if (fd >= 0)
        close(fd);
    config_release(&cfg);
    buf_release(&err);
}

/* ---- against slapd ---- */

TEST(ldap_right_password)
{
    if (!slapd_up())
        return;
    struct config cfg;
    cfg_init(&cfg, slapd_port);
    struct ldap_identity id;
    struct buf err = BUF_INIT;
    CHECK_INT(ldap_authenticate(&cfg, "zhangwei", "Teller#2024a", &id, &err), RC_OK);
    CHECK_STR(id.dn, ZHANGWEI_DN);
    CHECK_STR(id.display_name, "张伟");
    CHECK_STR(id.employee_no, "HY10023");
    CHECK_INT(id.ngroups, 2);
    CHECK(has_group(&id, G_TELLERS)); /* groupOfNames: member=%D */
    CHECK(has_group(&id, G_VPN));     /* posixGroup: memberUid=%s */
    CHECK(!has_group(&id, G_SUPERVISORS));
    ldap_identity_release(&id);
    CHECK(id.dn == NULL && id.ngroups == 0);

    /* Upper case works (the directory compares case-insensitively). */
    CHECK_INT(ldap_authenticate(&cfg, "WangFang", "Super#2024b", &id, &err), RC_OK);
    CHECK_STR(id.display_name, "王芳");
    CHECK(has_group(&id, G_TELLERS));
    CHECK(has_group(&id, G_SUPERVISORS));
    ldap_identity_release(&id);

    /* Anonymous search (no service account); the groups are then read as
     * the user. */
    set(&cfg, "ldap_bind_dn", "");
    set(&cfg, "ldap_bind_password", "");
    CHECK_INT(ldap_authenticate(&cfg, "liqiang", "Risk#2024c", &id, &err), RC_OK);
    CHECK_STR(id.employee_no, "HY00007");
    CHECK_INT(id.ngroups, 1);
    CHECK(has_group(&id, G_RISK));
    ldap_identity_release(&id);
    config_release(&cfg);
    buf_release(&err);
}

TEST(ldap_denied_cases)
{
    if (!slapd_up())
        return;
    struct config cfg;
    cfg_init(&cfg, slapd_port);
    struct buf err = BUF_INIT;
    CHECK_INT(auth(&cfg, "zhangwei", "Teller#2024b", &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "用户名或密码错误 / wrong user name or password");
    CHECK_INT(auth(&cfg, "nobody-here", "Teller#2024a", &err), RC_DENIED);
    CHECK_INT(auth(&cfg, "zhangwei", "", &err), RC_DENIED);
    /* Two entries with uid=chenjing: ambiguous, refused even with the
     * right password. */
    CHECK_INT(auth(&cfg, "chenjing", "Twin#2024e", &err), RC_DENIED);
    /* Another user's password does not open zhangwei. */
    CHECK_INT(auth(&cfg, "zhangwei", "Super#2024b", &err), RC_DENIED);
    config_release(&cfg);
    buf_release(&err);
}

TEST(ldap_filter_injection)
{
    if (!slapd_up())
        return;
    struct config cfg;
    cfg_init(&cfg, slapd_port);
    struct buf err = BUF_INIT;
    /* Unescaped, "zhang*" would match zhangwei alone and his password would
     * open it; escaped it is a literal name nobody has. */
    CHECK_INT(auth(&cfg, "zhang*", "Teller#2024a", &err), RC_DENIED);
    CHECK_INT(auth(&cfg, "*", "Teller#2024a", &err), RC_DENIED);
    CHECK_INT(auth(&cfg, "zhangwei)(uid=*", "Teller#2024a", &err), RC_DENIED);
    CHECK_INT(auth(&cfg, "*)(|(uid=zhangwei)", "Teller#2024a", &err), RC_DENIED);
    CHECK_INT(auth(&cfg, "zhangwei\\", "Teller#2024a", &err), RC_DENIED);
    /* And the escaping is right, not just refusing: uid "qa(test)" exists. */
    CHECK_INT(auth(&cfg, "qa(test)", "Paren#2024f", &err), RC_OK);
    CHECK_INT(auth(&cfg, "qa(test)", "Paren#2024x", &err), RC_DENIED);
    config_release(&cfg);
    buf_release(&err);
}

TEST(ldap_service_account_refused)
{
    if (!slapd_up())
        return;
    struct config cfg;
    cfg_init(&cfg, slapd_port);
    set(&cfg, "ldap_bind_password", "not-the-password");
    struct buf err = BUF_INIT;
    CHECK_INT(auth(&cfg, "zhangwei", "Teller#2024a", &err), RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "service account");
    CHECK(!strstr(buf_str(&err), "not-the-password"));
    config_release(&cfg);
    buf_release(&err);
}

TEST(ldap_sync_and_maps)
{
    struct fx f;
    if (!fx_open(&f, "ldap_sync"))
        return;
    struct buf err = BUF_INIT;
    int64_t hq = 0, sh = 0, bj = 0, teller = 0, sup = 0, kb_admin = 0, agent_admin = 0, user = 0;
    CHECK_INT(org_create(&f.d, "恒远商业银行", 0, &hq, &err), RC_OK);
    CHECK_INT(org_create(&f.d, "上海分行", hq, &sh, &err), RC_OK);
    CHECK_INT(org_create(&f.d, "北京分行", hq, &bj, &err), RC_OK);
    CHECK_INT(position_create(&f.d, "柜员", &teller, &err), RC_OK);
    CHECK_INT(position_create(&f.d, "运营主管", &sup, &err), RC_OK);
    CHECK_INT(role_find(&f.d, "kb_admin", &kb_admin), RC_OK);
    CHECK_INT(role_find(&f.d, "agent_admin", &agent_admin), RC_OK);
    CHECK_INT(role_find(&f.d, "user", &user), RC_OK);

    int64_t m_teller = 0, m_sh = 0, m_vpn = 0, m_risk = 0, m_bj = 0;
    CHECK_INT(ldap_map_add(&f.d, G_TELLERS, "position", "柜员", &m_teller, &err), RC_OK);
    /* An OU map written the way people type DNs: spaces, capitals. */
    CHECK_INT(ldap_map_add(&f.d, "OU=Shanghai, OU=Branches, DC=hengyuan, DC=example", "org",
                           "恒远商业银行/上海分行", &m_sh, &err),
              RC_OK);
    CHECK_INT(ldap_map_add(&f.d, G_VPN, "role", "kb_admin", &m_vpn, &err), RC_OK);
    CHECK_INT(ldap_map_add(&f.d, G_RISK, "role", "agent_admin", &m_risk, &err), RC_OK);
    CHECK_INT(ldap_map_add(&f.d, "ou=beijing,ou=branches," BASE, "org", "北京分行", &m_bj, &err),
              RC_OK);
    CHECK(m_teller > 0 && m_sh > m_teller);

    /* First sign-in creates the user. */
    struct ldap_identity id;
    int64_t uid = 0, uid2 = 0;
    CHECK_INT(ldap_authenticate(&f.cfg, "zhangwei", "Teller#2024a", &id, &err), RC_OK);
    CHECK_INT(ldap_sync_user(&f.d, "zhangwei", &id, &uid, &err), RC_OK);
    CHECK(uid > 0);
    CHECK_STR(user_col(&f, uid, "source"), "ldap");
    CHECK_STR(user_col(&f, uid, "pwhash"), "");
    CHECK_STR(user_col(&f, uid, "display_name"), "张伟");
    CHECK_STR(user_col(&f, uid, "employee_no"), "HY10023");
    CHECK_STR(ROLE_SRC(&f, uid, user), "local"); /* every user holds "user" */
    CHECK_STR(POS_SRC(&f, uid, teller), "ldap"); /* group map */
    CHECK_STR(ORG_SRC(&f, uid, sh), "ldap");     /* OU map: a sub-OU of shanghai */
    CHECK_STR(ROLE_SRC(&f, uid, kb_admin), "ldap");
    CHECK_STR(ROLE_SRC(&f, uid, agent_admin), ""); /* not in risk */
    CHECK_STR(ORG_SRC(&f, uid, bj), "");           /* not in beijing */
    unsigned perms = 0;
    CHECK_INT(role_perms_of(&f.d, uid, &perms), RC_OK);
    CHECK(perms & AUTH_P_KB_ADMIN);

    /* By hand: a local membership and position, and a renamed user. */
    CHECK_INT(org_member_add(&f.d, bj, uid, "local"), RC_OK);
    CHECK_INT(position_assign(&f.d, uid, sup, "local"), RC_OK);
    CHECK_INT(auth_user_update(&f.d, uid, "旧名字", NULL), RC_OK);

    /* The maps change: tellers no longer give 柜员 but membership of HQ. */
    CHECK_INT(ldap_map_delete(&f.d, m_teller), RC_OK);
    CHECK_INT(ldap_map_delete(&f.d, m_teller), RC_NOT_FOUND);
    CHECK_INT(ldap_map_add(&f.d, G_TELLERS, "org", "恒远商业银行", NULL, &err), RC_OK);

    /* Second sign-in re-applies them. */
    CHECK_INT(ldap_sync_user(&f.d, "ZhangWei", &id, &uid2, &err), RC_OK);
    CHECK_INT(uid2, uid);
    CHECK_STR(POS_SRC(&f, uid, teller), ""); /* the ldap row went with its map */
    CHECK_STR(ORG_SRC(&f, uid, hq), "ldap");
    CHECK_STR(ORG_SRC(&f, uid, sh), "ldap");
    CHECK_STR(ORG_SRC(&f, uid, bj), "local"); /* added by hand: kept */
    CHECK_STR(POS_SRC(&f, uid, sup), "local");
    CHECK_STR(ROLE_SRC(&f, uid, kb_admin), "ldap");
    CHECK_STR(ROLE_SRC(&f, uid, user), "local");
    CHECK_STR(user_col(&f, uid, "display_name"), "张伟"); /* the directory wins */
    ldap_identity_release(&id);

    /* A map whose target is gone is skipped, not fatal (org_delete takes
     * its maps along, so make one dangle by hand). */
    CHECK_INT(sqlite3_exec(f.db,
                           "INSERT INTO ldap_maps(match, target_type, target_id)"
                           " VALUES ('" G_TELLERS "', 'position', 9999)",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(ldap_authenticate(&f.cfg, "zhangwei", "Teller#2024a", &id, &err), RC_OK);
    CHECK_INT(ldap_sync_user(&f.d, "zhangwei", &id, &uid2, &err), RC_OK);
    CHECK_STR(ORG_SRC(&f, uid, sh), "ldap");
    CHECK_STR(ORG_SRC(&f, uid, hq), "ldap");

    /* Disabled here: refused though the directory says yes. */
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 1), RC_OK);
    buf_reset(&err);
    CHECK_INT(ldap_sync_user(&f.d, "zhangwei", &id, &uid2, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "account disabled");
    ldap_identity_release(&id);

    /* A name we cannot store is refused. */
    CHECK_INT(ldap_authenticate(&f.cfg, "qa(test)", "Paren#2024f", &id, &err), RC_OK);
    CHECK_INT(ldap_sync_user(&f.d, "qa(test)", &id, &uid2, &err), RC_INVALID);
    ldap_identity_release(&id);

    json_t *list = NULL;
    CHECK_INT(ldap_map_list(&f.d, &list), RC_OK);
    CHECK(json_is_array(list) && json_array_size(list) == 6);
    json_t *first = json_array_get(list, 0);
    CHECK_INT(json_integer_value(json_object_get(first, "id")), m_sh);
    CHECK_STR(json_string_value(json_object_get(first, "target_type")), "org");
    CHECK_STR(json_string_value(json_object_get(first, "target")), "上海分行");
    CHECK_INT(json_integer_value(json_object_get(first, "target_id")), sh);
    CHECK_STR(json_string_value(json_object_get(first, "match")),
              "OU=Shanghai, OU=Branches, DC=hengyuan, DC=example");
    json_t *bjm = json_array_get(list, 3);
    CHECK_INT(json_integer_value(json_object_get(bjm, "id")), m_bj);
    CHECK_STR(json_string_value(json_object_get(bjm, "target")), "北京分行");
    /* The dangling map shows no target name. */
    json_t *dangling = json_array_get(list, 5);
    CHECK_INT(json_integer_value(json_object_get(dangling, "target_id")), 9999);
    CHECK(json_is_null(json_object_get(dangling, "target")));
    json_decref(list);
    buf_release(&err);
    fx_close(&f);
}

TEST(ldap_map_add_errors)
{
    struct fx f;
    if (!fx_open(&f, "ldap_maps"))
        return;
    struct buf err = BUF_INIT;
    int64_t pos = 0, id = 0;
    CHECK_INT(position_create(&f.d, "柜员", &pos, &err), RC_OK);
    buf_reset(&err);
    CHECK_INT(ldap_map_add(&f.d, "not a dn", "position", "柜员", &id, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "not a valid DN");
    CHECK_INT(ldap_map_add(&f.d, "", "position", "柜员", &id, &err), RC_INVALID);
    CHECK_INT(ldap_map_add(&f.d, G_TELLERS, "group", "柜员", &id, &err), RC_INVALID);
    CHECK_INT(ldap_map_add(&f.d, G_TELLERS, "position", "行长", &id, &err), RC_NOT_FOUND);
    CHECK_INT(ldap_map_add(&f.d, G_TELLERS, "org", "不存在", &id, &err), RC_NOT_FOUND);
    CHECK_INT(ldap_map_add(&f.d, G_TELLERS, "role", "no_such_role", &id, &err), RC_NOT_FOUND);
    CHECK_INT(ldap_map_add(&f.d, G_TELLERS, "position", "柜员", &id, &err), RC_OK);
    CHECK(id > 0);
    /* By id works too; the same DN spelt differently is a duplicate. */
    char pid[32];
    snprintf(pid, sizeof pid, "%lld", (long long)pos);
    CHECK_INT(ldap_map_add(&f.d, "CN=Tellers , ou=groups, dc=hengyuan,dc=example", "position", pid,
                           NULL, &err),
              RC_EXISTS);
    CHECK_INT(ldap_map_delete(&f.d, id + 100), RC_NOT_FOUND);
    json_t *list = NULL;
    CHECK_INT(ldap_map_list(&f.d, &list), RC_OK);
    CHECK_INT(json_array_size(list), 1);
    json_decref(list);
    buf_release(&err);
    fx_close(&f);
}

TEST(ldap_same_name_local_user_refused)
{
    struct fx f;
    if (!fx_open(&f, "ldap_same_name"))
        return;
    struct buf err = BUF_INIT;
    int64_t local = 0, uid = 0;
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "zhaolei", "赵磊（本地）", "L001", "Local#Pass2024x",
                               0, &local, &err),
              RC_OK);
    struct ldap_identity id;
    CHECK_INT(ldap_authenticate(&f.cfg, "zhaolei", "Dir#2024d", &id, &err), RC_OK);
    buf_reset(&err);
    CHECK_INT(ldap_sync_user(&f.d, "zhaolei", &id, &uid, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "a local account has this name");
    CHECK_INT(uid, 0);
    CHECK_STR(user_col(&f, local, "display_name"), "赵磊（本地）"); /* untouched */
    CHECK_STR(user_col(&f, local, "source"), "local");
    ldap_identity_release(&id);
    buf_release(&err);
    fx_close(&f);
}

TEST(ldap_auth_login_end_to_end)
{
    struct fx f;
    if (!fx_open(&f, "ldap_login"))
        return;
    struct buf err = BUF_INIT;
    int64_t uid = 0, local = 0, again = 0;

    /* A directory user: created on first sign-in, last_login_at set. */
    CHECK_INT(auth_login(&f.d, &f.cfg, "wangfang", "Super#2024b", &uid, &err), RC_OK);
    CHECK(uid > 0);
    CHECK_STR(user_col(&f, uid, "source"), "ldap");
    CHECK_STR(user_col(&f, uid, "display_name"), "王芳");
    CHECK(atoll(user_col(&f, uid, "last_login_at")) > 0);
    struct auth_principal p;
    CHECK_INT(auth_principal_load(&f.d, uid, &p), RC_OK);
    CHECK_STR(p.username, "wangfang");
    CHECK_INT(auth_login(&f.d, &f.cfg, "wangfang", "Super#2024b", &again, &err), RC_OK);
    CHECK_INT(again, uid);
    buf_reset(&err);
    CHECK_INT(auth_login(&f.d, &f.cfg, "wangfang", "Super#2024x", &again, &err), RC_DENIED);
    CHECK_INT(again, 0);
    CHECK_CONTAINS(buf_str(&err), "wrong user name or password");
    CHECK_INT(auth_login(&f.d, &f.cfg, "zhang*", "Teller#2024a", &again, &err), RC_DENIED);
    CHECK_INT(auth_login(&f.d, &f.cfg, "nobody-here", "Teller#2024a", &again, &err), RC_DENIED);

    /* A local user with LDAP on signs in with the local password only,
     * even though the directory has an entry of that name. */
    CHECK_INT(auth_user_create(&f.d, &f.cfg, "zhaolei", "赵磊", "L001", "Local#Pass2024x", 0,
                               &local, &err),
              RC_OK);
    CHECK_INT(auth_login(&f.d, &f.cfg, "zhaolei", "Local#Pass2024x", &again, &err), RC_OK);
    CHECK_INT(again, local);
    CHECK_INT(auth_login(&f.d, &f.cfg, "zhaolei", "Dir#2024d", &again, &err), RC_DENIED);

    /* A directory user disabled here is refused with the right password. */
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 1), RC_OK);
    buf_reset(&err);
    CHECK_INT(auth_login(&f.d, &f.cfg, "wangfang", "Super#2024b", &again, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "account disabled");
    CHECK_INT(auth_user_set_disabled(&f.d, uid, 0), RC_OK);

    /* The directory down: directory users get RC_UPSTREAM, local users
     * still sign in. */
    struct config down;
    cfg_init(&down, free_port(NULL));
    buf_reset(&err);
    CHECK_INT(auth_login(&f.d, &down, "wangfang", "Super#2024b", &again, &err), RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "directory unavailable");
    CHECK_INT(auth_login(&f.d, &down, "zhaolei", "Local#Pass2024x", &again, &err), RC_OK);

    /* LDAP off: unknown names and directory users get the generic failure. */
    set(&down, "ldap_url", "");
    buf_reset(&err);
    CHECK_INT(auth_login(&f.d, &down, "liqiang", "Risk#2024c", &again, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "wrong user name or password");
    buf_reset(&err);
    CHECK_INT(auth_login(&f.d, &down, "wangfang", "Super#2024b", &again, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "wrong user name or password");
    CHECK_INT(auth_login(&f.d, &down, "zhaolei", "Local#Pass2024x", &again, &err), RC_OK);
    config_release(&down);
    buf_release(&err);
    fx_close(&f);
}
