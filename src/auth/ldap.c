/* LDAP / Active Directory sign-in with libldap: search the user with the
 * service account, bind as them on a fresh connection, read their groups;
 * then keep the local user and its "ldap" memberships in step with the
 * directory (table ldap_maps). Passwords are never logged, nor user names
 * (PII): log lines say what failed, not for whom. */
#include "auth/ldap.h"

#include "auth/auth.h"
#include "auth/org.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <ctype.h>
#include <ldap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MSG_WRONG "用户名或密码错误 / wrong user name or password"
#define MSG_DISABLED "账户已停用 / account disabled"
#define FILTER_MAX 4096 /* bytes of an expanded filter */
#define NAME_MAX_IN 256 /* bytes of a user name we send to the directory */
#define TEXT_MAX 256    /* bytes kept of display name and employee number */
#define GROUPS_MAX 1000 /* groups read per user */
#define MATCH_MAX 1024  /* bytes of a map's DN */

int ldap_enabled(const struct config *cfg)
{
    return cfg && cfg->ldap_url && cfg->ldap_url[0];
}

void ldap_identity_release(struct ldap_identity *id)
{
    if (!id)
        return;
    free(id->dn);
    free(id->display_name);
    free(id->employee_no);
    for (size_t i = 0; i < id->ngroups; i++)
        free(id->groups[i]);
    free(id->groups);
    memset(id, 0, sizeof *id);
}

/* ---- filters ---- */

int ldap_filter_escape(struct buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f) {
            char e[3] = {'\\', hex[c >> 4], hex[c & 15]};
            rc = buf_add(out, e, sizeof e);
        } else {
            rc = buf_addc(out, (char)c);
        }
        if (rc)
            return rc;
    }
    return RC_OK;
}

int ldap_filter_expand(struct buf *out, const char *tmpl, const char *user, const char *dn)
{
    int rc = RC_OK;
    for (const char *p = tmpl ? tmpl : ""; *p && !rc; p++) {
        if (p[0] == '%' && p[1] == 's') {
            rc = ldap_filter_escape(out, user ? user : "", user ? strlen(user) : 0);
            p++;
        } else if (p[0] == '%' && p[1] == 'D') {
            rc = ldap_filter_escape(out, dn ? dn : "", dn ? strlen(dn) : 0);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            rc = buf_addc(out, '%');
            p++;
        } else {
            rc = buf_addc(out, *p);
        }
    }
    return rc;
}

/* ---- talking to the directory ---- */

static struct timeval timeout_of(const struct config *cfg)
{
    int ms = cfg->ldap_timeout_ms > 0 ? cfg->ldap_timeout_ms : 3000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* A new handle for cfg->ldap_url: LDAPv3, no referral chasing, connect and
 * operation timeouts from ldap_timeout_ms. Nothing is sent yet. */
static int conn_open(const struct config *cfg, LDAP **out, struct buf *err)
{
    LDAP *ld = NULL;
    *out = NULL;
    int lrc = ldap_initialize(&ld, cfg->ldap_url);
    if (lrc != LDAP_SUCCESS || !ld) {
        buf_addf(err, "ldap_url 无效 / invalid ldap_url: %s", ldap_err2string(lrc));
        log_warn("ldap: ldap_initialize failed: %s", ldap_err2string(lrc));
        return RC_UPSTREAM;
    }
    int version = LDAP_VERSION3;
    struct timeval tv = timeout_of(cfg);
    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        buf_addf(err, "LDAP 选项设置失败 / could not set LDAP options");
        return RC_INTERNAL;
    }
    *out = ld;
    return RC_OK;
}

static void conn_close(LDAP *ld)
{
    if (ld)
        ldap_unbind_ext_s(ld, NULL, NULL);
}

static int simple_bind(LDAP *ld, const char *dn, const char *password)
{
    struct berval cred = {strlen(password), (char *)password};
    return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* Maps a libldap failure of step `what` to RC_TIMEOUT or RC_UPSTREAM with
 * a message. */
static int upstream(int lrc, const char *what, struct buf *err)
{
    if (lrc == LDAP_TIMEOUT || lrc == LDAP_TIMELIMIT_EXCEEDED) {
        buf_addf(err, "目录服务超时 / directory timed out (%s)", what);
        log_warn("ldap: %s timed out", what);
        return RC_TIMEOUT;
    }
    buf_addf(err, "目录服务不可用 / directory unavailable: %s (%s)", ldap_err2string(lrc), what);
    log_warn("ldap: %s failed: %s", what, ldap_err2string(lrc));
    return RC_UPSTREAM;
}

/* Results of a user's bind that mean "not with this password" rather than
 * "the directory is broken" (AD answers invalidCredentials for disabled or
 * expired accounts too; password policies say unwillingToPerform). */
static int bind_refused(int lrc)
{
    return lrc == LDAP_INVALID_CREDENTIALS || lrc == LDAP_INAPPROPRIATE_AUTH ||
           lrc == LDAP_UNWILLING_TO_PERFORM || lrc == LDAP_CONSTRAINT_VIOLATION ||
           lrc == LDAP_INSUFFICIENT_ACCESS || lrc == LDAP_INVALID_DN_SYNTAX;
}

/* The first value of attr as a string of at most TEXT_MAX bytes of valid
 * UTF-8 (cut at a character boundary); "" when absent or not UTF-8. */
static char *first_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
    if (!attr || !attr[0])
        return xstrdup("");
    struct berval **v = ldap_get_values_len(ld, e, attr);
    char *s = NULL;
    if (v && v[0] && v[0]->bv_val) {
        size_t n = strnlen(v[0]->bv_val, v[0]->bv_len);
        if (n > TEXT_MAX) {
            n = TEXT_MAX;
            while (n > 0 && ((unsigned char)v[0]->bv_val[n] & 0xC0) == 0x80)
                n--;
        }
        if (utf8_valid(v[0]->bv_val, n))
            s = xstrndup(v[0]->bv_val, n);
    }
    ldap_value_free_len(v);
    return s ? s : xstrdup("");
}

/* Collects the DNs of the user's groups (search with the group filter
 * under the group base) into out->groups. */
static int read_groups(LDAP *ld, const struct config *cfg, const char *username,
                       struct ldap_identity *out, struct buf *err)
{
    int rc = RC_OK;
    LDAPMessage *res = NULL;
    struct buf filter;
    buf_init(&filter, FILTER_MAX);
    if (!cfg->ldap_group_filter || !cfg->ldap_group_filter[0])
        goto out; /* group lookups switched off */
    if (ldap_filter_expand(&filter, cfg->ldap_group_filter, username, out->dn) != RC_OK) {
        rc = RC_UPSTREAM;
        buf_addf(err, "ldap_group_filter 过长 / ldap_group_filter too long");
        goto out;
    }
    const char *base = cfg->ldap_group_base_dn && cfg->ldap_group_base_dn[0]
                           ? cfg->ldap_group_base_dn
                           : cfg->ldap_base_dn;
    char *attrs[] = {LDAP_NO_ATTRS, NULL}; /* the DNs are all we need */
    struct timeval tv = timeout_of(cfg);
    int lrc = ldap_search_ext_s(ld, base ? base : "", LDAP_SCOPE_SUBTREE, buf_str(&filter), attrs,
                                0, NULL, NULL, &tv, GROUPS_MAX, &res);
    if (lrc == LDAP_SIZELIMIT_EXCEEDED) {
        log_warn("ldap: a user is in more than %d groups; the first %d are used", GROUPS_MAX,
                 GROUPS_MAX);
    } else if (lrc != LDAP_SUCCESS) {
        /* Signing in without the groups would silently drop permissions. */
        rc = upstream(lrc, "group search", err);
        goto out;
    }
    int n = ldap_count_entries(ld, res);
    if (n > 0)
        out->groups = xcalloc((size_t)n, sizeof *out->groups);
    for (LDAPMessage *e = ldap_first_entry(ld, res); e && out->ngroups < (size_t)(n > 0 ? n : 0);
         e = ldap_next_entry(ld, e)) {
        char *dn = ldap_get_dn(ld, e);
        if (!dn)
            continue;
        out->groups[out->ngroups++] = xstrdup(dn);
        ldap_memfree(dn);
    }
out:
    ldap_msgfree(res);
    buf_release(&filter);
    return rc;
}

int ldap_authenticate(const struct config *cfg, const char *username, const char *password,
                      struct ldap_identity *out, struct buf *err)
{
    int rc = RC_DENIED;
    LDAP *svc = NULL, *usr = NULL;
    LDAPMessage *res = NULL;
    struct buf filter;
    buf_init(&filter, FILTER_MAX);
    memset(out, 0, sizeof *out);

    if (!ldap_enabled(cfg)) {
        rc = RC_UNSUPPORTED;
        buf_addf(err, "未配置目录服务 / LDAP is not configured");
        goto out;
    }
    /* An empty password would make a simple bind "unauthenticated", which
     * many servers answer with success: never send one. */
    if (!username || !username[0] || strlen(username) > NAME_MAX_IN || !password || !password[0]) {
        rc = RC_DENIED;
        buf_addf(err, MSG_WRONG);
        goto out;
    }

    /* 1. Find the entry, as the service account (or anonymously). */
    if ((rc = conn_open(cfg, &svc, err)) != RC_OK)
        goto out;
    int has_svc = cfg->ldap_bind_dn && cfg->ldap_bind_dn[0];
    int lrc;
    if (has_svc) {
        lrc = simple_bind(svc, cfg->ldap_bind_dn,
                          cfg->ldap_bind_password ? cfg->ldap_bind_password : "");
        if (lrc != LDAP_SUCCESS) {
            rc = upstream(lrc, "service account bind", err);
            goto out;
        }
    }
    if (ldap_filter_expand(&filter, cfg->ldap_user_filter, username, NULL) != RC_OK) {
        rc = RC_UPSTREAM;
        buf_addf(err, "ldap_user_filter 过长 / ldap_user_filter too long");
        goto out;
    }
    char *attrs[3];
    int nattrs = 0;
    if (cfg->ldap_name_attr && cfg->ldap_name_attr[0])
        attrs[nattrs++] = cfg->ldap_name_attr;
    if (cfg->ldap_empno_attr && cfg->ldap_empno_attr[0])
        attrs[nattrs++] = cfg->ldap_empno_attr;
    if (nattrs == 0)
        attrs[nattrs++] = LDAP_NO_ATTRS;
    attrs[nattrs] = NULL;
    struct timeval tv = timeout_of(cfg);
    /* Size limit 2: one match is a user, two are an ambiguous name. */
    lrc = ldap_search_ext_s(svc, cfg->ldap_base_dn ? cfg->ldap_base_dn : "", LDAP_SCOPE_SUBTREE,
                            buf_str(&filter), attrs, 0, NULL, NULL, &tv, 2, &res);
    if (lrc != LDAP_SUCCESS && lrc != LDAP_SIZELIMIT_EXCEEDED) {
        rc = upstream(lrc, "user search", err);
        goto out;
    }
    int n = ldap_count_entries(svc, res);
    if (lrc == LDAP_SIZELIMIT_EXCEEDED || n != 1) {
        if (n > 1 || lrc == LDAP_SIZELIMIT_EXCEEDED)
            log_warn("ldap: a sign-in name matches several directory entries; refused");
        rc = RC_DENIED;
        buf_addf(err, MSG_WRONG);
        goto out;
    }
    LDAPMessage *e = ldap_first_entry(svc, res);
    char *dn = e ? ldap_get_dn(svc, e) : NULL;
    if (!dn || !dn[0]) {
        ldap_memfree(dn);
        rc = RC_DENIED;
        buf_addf(err, MSG_WRONG);
        goto out;
    }
    out->dn = xstrdup(dn);
    ldap_memfree(dn);
    out->display_name = first_value(svc, e, cfg->ldap_name_attr);
    out->employee_no = first_value(svc, e, cfg->ldap_empno_attr);
    ldap_msgfree(res);
    res = NULL;

    /* 2. Bind as the user on a fresh connection: the password check. */
    if ((rc = conn_open(cfg, &usr, err)) != RC_OK)
        goto out;
    lrc = simple_bind(usr, out->dn, password);
    if (lrc != LDAP_SUCCESS) {
        if (bind_refused(lrc)) {
            rc = RC_DENIED;
            buf_addf(err, MSG_WRONG);
        } else {
            rc = upstream(lrc, "user bind", err);
        }
        goto out;
    }

    /* 3. Groups: the service account reads them; without one, the user. */
    rc = read_groups(has_svc ? svc : usr, cfg, username, out, err);
out:
    if (rc != RC_OK)
        ldap_identity_release(out);
    ldap_msgfree(res);
    conn_close(svc);
    conn_close(usr);
    buf_release(&filter);
    return rc;
}

/* ---- the local user and its memberships ---- */

/* A DN in a form to compare: ASCII lower case, no blanks around unescaped
 * ',' '=' '+' or at either end. Good enough for DNs typed by an admin
 * against DNs returned by the server. */
static char *dn_norm(const char *s)
{
    size_t n = strlen(s);
    char *o = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            o[k++] = c;
            o[k++] = (char)tolower((unsigned char)s[++i]);
            continue;
        }
        if (c == ' ') {
            /* Drop a blank next to a separator or at the ends. */
            size_t j = i;
            while (j < n && s[j] == ' ')
                j++;
            int before_sep = j == n || s[j] == ',' || s[j] == '=' || s[j] == '+';
            int after_sep = k == 0 || ((o[k - 1] == ',' || o[k - 1] == '=' || o[k - 1] == '+') &&
                                       (k < 2 || o[k - 2] != '\\'));
            if (before_sep || after_sep) {
                i = j - 1;
                continue;
            }
        }
        o[k++] = (char)tolower((unsigned char)c);
    }
    o[k] = '\0';
    return o;
}

struct map_row {
    int64_t id;
    char *match; /* normalised */
    char *type;
    int64_t target;
};

static void map_rows_free(struct map_row *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].match);
        free(a[i].type);
    }
    free(a);
}

static int load_maps(struct db_conn *d, struct map_row **out, size_t *nout)
{
    struct map_row *a = NULL;
    size_t n = 0, cap = 0;
    int rc = RC_DB;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT id, match, target_type, target_id FROM ldap_maps ORDER BY id");
    if (!st)
        goto out;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        a = xgrow(a, &cap, n + 1, sizeof *a);
        char *m = db_col_str(st, 1);
        a[n].id = sqlite3_column_int64(st, 0);
        a[n].match = dn_norm(m);
        a[n].type = db_col_str(st, 2);
        a[n].target = sqlite3_column_int64(st, 3);
        free(m);
        n++;
    }
    sqlite3_reset(st);
    if (s == SQLITE_DONE)
        rc = RC_OK;
out:
    if (rc) {
        map_rows_free(a, n);
        a = NULL;
        n = 0;
    }
    *out = a;
    *nout = n;
    return rc;
}

/* Does map m apply to the identity whose normalised DN is dn and groups
 * (normalised) are groups? */
static int map_matches(const struct map_row *m, const char *dn, char **groups, size_t ngroups)
{
    if (!m->match[0])
        return 0;
    for (size_t i = 0; i < ngroups; i++)
        if (strcmp(groups[i], m->match) == 0)
            return 1;
    size_t ld = strlen(dn), lm = strlen(m->match);
    return ld > lm + 1 && dn[ld - lm - 1] == ',' && strcmp(dn + ld - lm, m->match) == 0;
}

/* Adds the memberships of every matching map (source "ldap"). A map whose
 * target is gone is skipped with a warning. */
static int apply_maps(struct db_conn *d, int64_t uid, const struct ldap_identity *id)
{
    struct map_row *maps = NULL;
    size_t nmaps = 0;
    char *dn = dn_norm(id->dn);
    char **groups = id->ngroups ? xcalloc(id->ngroups, sizeof *groups) : NULL;
    for (size_t i = 0; i < id->ngroups; i++)
        groups[i] = dn_norm(id->groups[i]);
    int rc = load_maps(d, &maps, &nmaps);
    for (size_t i = 0; i < nmaps && rc == RC_OK; i++) {
        const struct map_row *m = &maps[i];
        if (!map_matches(m, dn, groups, id->ngroups))
            continue;
        int r;
        if (strcmp(m->type, "org") == 0)
            r = org_member_add(d, m->target, uid, "ldap");
        else if (strcmp(m->type, "position") == 0)
            r = position_assign(d, uid, m->target, "ldap");
        else if (strcmp(m->type, "role") == 0)
            r = role_grant(d, uid, m->target, "ldap");
        else
            r = RC_NOT_FOUND;
        if (r == RC_NOT_FOUND) {
            log_warn("ldap: map %lld points at a missing %s %lld; skipped", (long long)m->id,
                     m->type, (long long)m->target);
        } else if (r != RC_OK && r != RC_EXISTS) {
            rc = r;
        }
    }
    map_rows_free(maps, nmaps);
    for (size_t i = 0; i < id->ngroups; i++)
        free(groups[i]);
    free(groups);
    free(dn);
    return rc;
}

int ldap_sync_user(struct db_conn *d, const char *username, const struct ldap_identity *id,
                   int64_t *user_id, struct buf *err)
{
    int rc = RC_INVALID;
    struct db_tx tx;
    int in_tx = 0;
    char *source = NULL;
    int64_t uid = 0;
    size_t err_len = err->len;
    if (user_id)
        *user_id = 0;
    if (!id || !id->dn || !id->dn[0]) {
        buf_addf(err, "目录身份无效 / no directory identity");
        goto out;
    }
    if (!auth_username_valid(username)) {
        buf_addf(err, "用户名只能包含字母、数字和 . _ @ - / a user name may only hold letters, "
                      "digits and . _ @ -");
        goto out;
    }
    const char *display = id->display_name ? id->display_name : "";
    const char *empno = id->employee_no ? id->employee_no : "";

    if ((rc = db_tx_begin(d->db, &tx)) != RC_OK) {
        buf_addf(err, "数据库错误 / database error");
        goto out;
    }
    in_tx = 1;
    rc = RC_DB;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT id, source, disabled FROM users WHERE username = ?1");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    int disabled = 0;
    if (s == SQLITE_ROW) {
        uid = sqlite3_column_int64(st, 0);
        source = db_col_str(st, 1);
        disabled = sqlite3_column_int(st, 2) != 0;
    }
    sqlite3_reset(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        goto out;
    int64_t now = now_unix();

    if (uid) {
        if (strcmp(source, "ldap") != 0) {
            rc = RC_DENIED;
            buf_addf(err, "本地账户同名，不能用目录登录 / a local account has this name");
            goto out;
        }
        if (disabled) {
            rc = RC_DENIED;
            buf_addf(err, MSG_DISABLED);
            goto out;
        }
        st = db_stmt(d->cache, "UPDATE users SET display_name = ?2, employee_no = ?3,"
                               " updated_at = ?4 WHERE id = ?1");
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_text(st, 2, display, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, empno, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        s = sqlite3_step(st);
        sqlite3_reset(st);
        if (s != SQLITE_DONE)
            goto out;
    } else {
        /* First sign-in: a directory user, no local password. The role
         * "user" is 'local' so that re-applying the maps keeps it. */
        st = db_stmt(d->cache, "INSERT INTO users(username, display_name, employee_no, source,"
                               " pwhash, created_at, updated_at)"
                               " VALUES (?1, ?2, ?3, 'ldap', NULL, ?4, ?4)");
        if (!st)
            goto out;
        sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, display, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, empno, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        s = sqlite3_step(st);
        sqlite3_reset(st);
        if (s != SQLITE_DONE)
            goto out;
        uid = sqlite3_last_insert_rowid(d->db);
        st = db_stmt(d->cache, "INSERT OR IGNORE INTO user_roles(user_id, role_id, source)"
                               " SELECT ?1, id, 'local' FROM roles WHERE name = 'user'");
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, uid);
        s = sqlite3_step(st);
        sqlite3_reset(st);
        if (s != SQLITE_DONE)
            goto out;
    }

    if ((rc = org_clear_source(d, uid, "ldap")) != RC_OK)
        goto out;
    if ((rc = apply_maps(d, uid, id)) != RC_OK)
        goto out;
    rc = db_tx_end(d->db, &tx, 1);
    in_tx = 0;
    if (rc == RC_OK && user_id)
        *user_id = uid;
out:
    if (in_tx)
        db_tx_end(d->db, &tx, 0);
    if (rc != RC_OK && err->len == err_len) {
        log_error("ldap: syncing a user failed: %s", sqlite3_errmsg(d->db));
        buf_addf(err, "数据库错误 / database error");
    }
    free(source);
    return rc;
}

/* ---- maps ---- */

int ldap_map_add(struct db_conn *d, const char *match, const char *target_type, const char *target,
                 int64_t *id, struct buf *err)
{
    int rc = RC_INVALID;
    LDAPDN parsed = NULL;
    char *norm = NULL;
    if (id)
        *id = 0;
    if (!match || !match[0] || strlen(match) > MATCH_MAX ||
        ldap_str2dn(match, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || !parsed) {
        buf_addf(err, "不是有效的 DN / not a valid DN: %s", match ? match : "");
        goto out;
    }
    if (!target_type || (strcmp(target_type, "org") != 0 && strcmp(target_type, "position") != 0 &&
                         strcmp(target_type, "role") != 0)) {
        buf_addf(err, "目标类型应为 org、position 或 role / target type must be org, position "
                      "or role");
        goto out;
    }
    int64_t tid = 0;
    const char *what = target_type;
    if (!target || !target[0])
        rc = RC_NOT_FOUND;
    else if (strcmp(target_type, "org") == 0)
        rc = org_find(d, target, &tid);
    else if (strcmp(target_type, "position") == 0)
        rc = position_find(d, target, &tid);
    else
        rc = role_find(d, target, &tid);
    if (rc != RC_OK) {
        if (rc == RC_NOT_FOUND)
            buf_addf(err, "找不到目标 / no such %s: %s", what, target ? target : "");
        else
            buf_addf(err, "数据库错误 / database error");
        goto out;
    }

    /* The same DN written differently is still the same map. */
    norm = dn_norm(match);
    rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT match FROM ldap_maps"
                                         " WHERE target_type = ?1 AND target_id = ?2");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, target_type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, tid);
    int s = SQLITE_DONE, dup = 0;
    while (!dup && (s = sqlite3_step(st)) == SQLITE_ROW) {
        char *m = db_col_str(st, 0);
        char *mn = dn_norm(m);
        dup = strcmp(mn, norm) == 0;
        free(mn);
        free(m);
    }
    sqlite3_reset(st);
    if (!dup && s != SQLITE_DONE) {
        buf_addf(err, "数据库错误 / database error");
        goto out;
    }
    if (dup) {
        rc = RC_EXISTS;
        buf_addf(err, "映射已存在 / this map exists already");
        goto out;
    }
    st = db_stmt(d->cache,
                 "INSERT INTO ldap_maps(match, target_type, target_id) VALUES (?1, ?2, ?3)");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, target_type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, tid);
    s = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(d->db);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        if (ext == SQLITE_CONSTRAINT_UNIQUE) {
            rc = RC_EXISTS;
            buf_addf(err, "映射已存在 / this map exists already");
        } else {
            buf_addf(err, "数据库错误 / database error");
        }
        goto out;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(d->db);
    rc = RC_OK;
out:
    if (parsed)
        ldap_dnfree(parsed);
    free(norm);
    return rc;
}

int ldap_map_delete(struct db_conn *d, int64_t id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM ldap_maps WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    return sqlite3_changes(d->db) > 0 ? RC_OK : RC_NOT_FOUND;
}

int ldap_map_list(struct db_conn *d, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(
        d->cache, "SELECT m.id, m.match, m.target_type, m.target_id,"
                  " CASE m.target_type"
                  "  WHEN 'org' THEN (SELECT name FROM orgs WHERE id = m.target_id)"
                  "  WHEN 'position' THEN (SELECT name FROM positions WHERE id = m.target_id)"
                  "  WHEN 'role' THEN (SELECT name FROM roles WHERE id = m.target_id)"
                  " END"
                  " FROM ldap_maps m ORDER BY m.id");
    if (!st)
        return RC_DB;
    json_t *a = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *target = (const char *)sqlite3_column_text(st, 4);
        json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:I, s:o}", "id",
                                           (json_int_t)sqlite3_column_int64(st, 0), "match",
                                           (const char *)sqlite3_column_text(st, 1), "target_type",
                                           (const char *)sqlite3_column_text(st, 2), "target_id",
                                           (json_int_t)sqlite3_column_int64(st, 3), "target",
                                           target ? json_string(target) : json_null()));
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        json_decref(a);
        return RC_DB;
    }
    *out = a;
    return RC_OK;
}
