/* Digital employees in the store (agents/agent.h): agents, their versions
 * and lifecycle (draft → published → retired, rollback), their grants, and
 * who may use them — decided inside the query that loads or lists, never
 * after loading. */
#include "agents/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/eval.h"
#include "auth/org.h"
#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#define AGENT_TITLE_MAX 200
#define AGENT_AVATAR_MAX 65536 /* an emoji or a small data: URL */
#define AGENT_DOMAIN_MAX 64
#define AGENT_NOTE_MAX 2000
#define AGENT_MINUTES_MAX 1440.0

/* Whether the caller may use the agent row aliased `a`. ?1 = the user id,
 * ?2 = 1 when the caller sees every agent (agents.manage, the CLI operator,
 * no principal), else 0; numbered parameters ?3 and up for the rest.
 * Written like ACL_KB_LEVEL_SQL (auth/acl.h): from the user's side (their
 * roles, positions, orgs), each an index lookup into agent_acl's
 * (agent_id, subject_type, subject_id) key; an org grant covers its
 * subtree through the member org's materialised path ("/1/4/9/"). */
#define AGENT_USABLE_SQL                                                                           \
    "(?2 = 1 OR (a.status = 'published' AND ("                                                     \
    " EXISTS(SELECT 1 FROM agent_acl g WHERE g.agent_id = a.id"                                    \
    "   AND g.subject_type = 'all' AND g.subject_id = 0)"                                          \
    " OR EXISTS(SELECT 1 FROM agent_acl g WHERE g.agent_id = a.id"                                 \
    "   AND g.subject_type = 'user' AND g.subject_id = ?1)"                                        \
    " OR EXISTS(SELECT 1 FROM user_roles ur JOIN agent_acl g ON g.agent_id = a.id"                 \
    "   AND g.subject_type = 'role' AND g.subject_id = ur.role_id WHERE ur.user_id = ?1)"          \
    " OR EXISTS(SELECT 1 FROM user_positions up JOIN agent_acl g ON g.agent_id = a.id"             \
    "   AND g.subject_type = 'position' AND g.subject_id = up.position_id"                         \
    "   WHERE up.user_id = ?1)"                                                                    \
    " OR EXISTS(SELECT 1 FROM org_members m JOIN orgs mo ON mo.id = m.org_id"                      \
    "   JOIN agent_acl g ON g.agent_id = a.id AND g.subject_type = 'org'"                          \
    "   WHERE m.user_id = ?1 AND instr(mo.path, '/' || g.subject_id || '/') > 0))))"

#define AGENT_COLS                                                                                 \
    "a.id, a.name, a.title, a.avatar, a.description, a.domain, a.template, a.status,"              \
    " a.published_version, a.minutes_saved, a.gate_set_id, a.gate_min_score, a.created_by,"        \
    " a.created_at, a.updated_at"

static void usable_bind(sqlite3_stmt *st, const struct auth_principal *who)
{
    int all = !who || who->via == AUTH_VIA_CLI || (who->perms & AUTH_P_AGENTS);
    sqlite3_bind_int64(st, 1, who ? who->user_id : 0);
    sqlite3_bind_int(st, 2, all ? 1 : 0);
}

static void agent_from_row(sqlite3_stmt *st, struct agent *a)
{
    a->id = sqlite3_column_int64(st, 0);
    a->name = db_col_str(st, 1);
    a->title = db_col_str(st, 2);
    a->avatar = db_col_str(st, 3);
    a->description = db_col_str(st, 4);
    a->domain = db_col_str(st, 5);
    a->template_name = db_col_str(st, 6);
    a->status = db_col_str(st, 7);
    a->published_version = sqlite3_column_int(st, 8);
    a->minutes_saved = sqlite3_column_double(st, 9);
    a->gate_set_id = sqlite3_column_int64(st, 10);
    a->gate_min_score = sqlite3_column_double(st, 11);
    a->created_by = sqlite3_column_int64(st, 12);
    a->created_at = sqlite3_column_int64(st, 13);
    a->updated_at = sqlite3_column_int64(st, 14);
}

void agent_release(struct agent *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->title);
    free(a->avatar);
    free(a->description);
    free(a->domain);
    free(a->template_name);
    free(a->status);
    memset(a, 0, sizeof *a);
}

void agent_version_release(struct agent_version *v)
{
    if (!v)
        return;
    free(v->status);
    free(v->note);
    spec_release(&v->spec);
    memset(v, 0, sizeof *v);
}

static int db_fail(struct db_conn *d, struct buf *err)
{
    if (err)
        (void)buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(d->db));
    return RC_DB;
}

int agent_name_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n < 1 || n > AGENT_NAME_MAX || name[0] == '-' || name[0] == '_')
        return 0;
    int digits = 1;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int digit = ch >= '0' && ch <= '9';
        if (!digit && !(ch >= 'a' && ch <= 'z') && ch != '_' && ch != '-')
            return 0;
        digits &= digit;
    }
    return !digits;
}

/* A text field: valid UTF-8 without control characters (tabs and newlines
 * only where multiline), at most max bytes. */
static int text_ok(const char *s, size_t max, int multiline)
{
    size_t n = strlen(s);
    if (n > max || !utf8_valid(s, n))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) || *p == 0x7f)
            return 0;
    return 1;
}

/* Parses and normalises a spec to the JSON text stored (malloc'd). */
static int spec_normalise(const char *spec_json, char **out, struct buf *err)
{
    struct agent_spec s;
    *out = NULL;
    int rc = spec_parse(spec_json ? spec_json : "{}", &s, err);
    if (rc == RC_OK) {
        json_t *j = spec_to_json(&s);
        *out = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!*out)
            rc = RC_INTERNAL;
    }
    spec_release(&s);
    return rc;
}

/* ---- loading ---- */

int agent_get_for(struct db_conn *d, const struct auth_principal *who, const char *id_or_name,
                  struct agent *out)
{
    memset(out, 0, sizeof *out);
    if (!id_or_name || !*id_or_name)
        return RC_NOT_FOUND;
    int64_t id = 0;
    int by_id = parse_i64(id_or_name, 1, INT64_MAX, &id) == RC_OK;
    if (!by_id && !agent_name_valid(id_or_name))
        return RC_NOT_FOUND;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " AGENT_COLS " FROM agents a"
                                         " WHERE (a.id = ?3 OR a.name = ?4) AND " AGENT_USABLE_SQL);
    if (!st)
        return RC_DB;
    usable_bind(st, who);
    sqlite3_bind_int64(st, 3, by_id ? id : 0);
    if (by_id)
        sqlite3_bind_null(st, 4);
    else
        sqlite3_bind_text(st, 4, id_or_name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        agent_from_row(st, out);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int agent_usable(struct db_conn *d, const struct auth_principal *who, int64_t agent_id)
{
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT 1 FROM agents a WHERE a.id = ?3 AND " AGENT_USABLE_SQL);
    if (!st)
        return RC_DB;
    usable_bind(st, who);
    sqlite3_bind_int64(st, 3, agent_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int agent_version_get(struct db_conn *d, int64_t agent_id, int version, struct agent_version *out,
                      struct buf *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(
        d->cache, "SELECT v.id, v.agent_id, v.version, v.status, v.note, v.spec, v.created_by,"
                  " v.created_at, v.published_at FROM agent_versions v"
                  " WHERE v.agent_id = ?1 AND v.version = (CASE WHEN ?2 > 0 THEN ?2 ELSE"
                  " (SELECT published_version FROM agents WHERE id = ?1 AND status = 'published')"
                  " END)");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int(st, 2, version);
    int r = sqlite3_step(st);
    int rc = r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    char *spec = NULL;
    if (r == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        out->agent_id = sqlite3_column_int64(st, 1);
        out->version = sqlite3_column_int(st, 2);
        out->status = db_col_str(st, 3);
        out->note = db_col_str(st, 4);
        spec = db_col_str(st, 5);
        out->created_by = sqlite3_column_int64(st, 6);
        out->created_at = sqlite3_column_int64(st, 7);
        out->published_at = sqlite3_column_int64(st, 8);
    }
    sqlite3_reset(st);
    if (rc == RC_OK) {
        rc = spec_parse(spec, &out->spec, err);
        if (rc)
            agent_version_release(out);
    }
    free(spec);
    return rc;
}

json_t *agent_json(const struct agent *a)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:f,s:{s:I,s:f},s:I,s:I}", "id",
                     (json_int_t)a->id, "name", a->name ? a->name : "", "title",
                     a->title ? a->title : "", "avatar", a->avatar ? a->avatar : "", "description",
                     a->description ? a->description : "", "domain", a->domain ? a->domain : "",
                     "template", a->template_name ? a->template_name : "", "status",
                     a->status ? a->status : "", "published_version", a->published_version,
                     "minutes_saved", a->minutes_saved, "gate", "set_id",
                     (json_int_t)a->gate_set_id, "min_score", a->gate_min_score, "created_at",
                     (json_int_t)a->created_at, "updated_at", (json_int_t)a->updated_at);
}

int agent_list_usable(struct db_conn *d, const struct auth_principal *who, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT " AGENT_COLS ", v.spec FROM agents a"
                                         " LEFT JOIN agent_versions v ON v.agent_id = a.id"
                                         "  AND v.version = a.published_version"
                                         " WHERE a.status = 'published' AND " AGENT_USABLE_SQL
                                         " ORDER BY a.domain, a.title, a.id");
    if (!st)
        return RC_DB;
    usable_bind(st, who);
    json_t *arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct agent a;
        agent_from_row(st, &a);
        json_t *o = agent_json(&a);
        agent_release(&a);
        const char *spec = (const char *)sqlite3_column_text(st, 15);
        json_t *sj = spec ? json_loads(spec, 0, NULL) : NULL;
        json_t *op = json_object_get(sj, "opening");
        json_t *sg = json_object_get(sj, "suggestions");
        (void)json_object_set_new(o, "opening",
                                  json_is_string(op) ? json_copy(op) : json_string(""));
        (void)json_object_set_new(o, "suggestions",
                                  json_is_array(sg) ? json_deep_copy(sg) : json_array());
        json_decref(sj);
        (void)json_array_append_new(arr, o);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}

int agent_list_all(struct db_conn *d, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT " AGENT_COLS " FROM agents a ORDER BY a.domain, a.title, a.id");
    if (!st)
        return RC_DB;
    json_t *arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct agent a;
        agent_from_row(st, &a);
        (void)json_array_append_new(arr, agent_json(&a));
        agent_release(&a);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}

json_t *agent_version_json(const struct agent_version *v)
{
    return json_pack("{s:i,s:s,s:s,s:I,s:I,s:I,s:o}", "version", v->version, "status",
                     v->status ? v->status : "", "note", v->note ? v->note : "", "created_by",
                     (json_int_t)v->created_by, "created_at", (json_int_t)v->created_at,
                     "published_at", (json_int_t)v->published_at, "spec", spec_to_json(&v->spec));
}

int agent_versions_list(struct db_conn *d, int64_t agent_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT version, status, note, spec, created_by,"
                                         " created_at, published_at FROM agent_versions"
                                         " WHERE agent_id = ?1 ORDER BY version DESC");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    json_t *arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 1);
        const char *note = (const char *)sqlite3_column_text(st, 2);
        const char *spec = (const char *)sqlite3_column_text(st, 3);
        /* Stored normalised (spec_normalise), so loading is enough. */
        json_t *sj = spec ? json_loads(spec, 0, NULL) : NULL;
        (void)json_array_append_new(
            arr, json_pack("{s:i,s:s,s:s,s:I,s:I,s:I,s:o}", "version", sqlite3_column_int(st, 0),
                           "status", status ? status : "", "note", note ? note : "", "created_by",
                           (json_int_t)sqlite3_column_int64(st, 4), "created_at",
                           (json_int_t)sqlite3_column_int64(st, 5), "published_at",
                           (json_int_t)sqlite3_column_int64(st, 6), "spec", sj ? sj : json_null()));
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}

/* ---- changes ---- */

int agent_create(struct db_conn *d, const struct agent_new *f, const char *spec_json,
                 int64_t created_by, int64_t *id, struct buf *err)
{
    *id = 0;
    const char *title = f->title ? f->title : "";
    const char *avatar = f->avatar ? f->avatar : "";
    const char *desc = f->description ? f->description : "";
    const char *domain = f->domain ? f->domain : "";
    const char *tpl = f->template_name ? f->template_name : "";
    double minutes = f->minutes_saved < 0 ? 5.0 : f->minutes_saved;
    if (!agent_name_valid(f->name)) {
        (void)buf_adds(err,
                       "名称须为 1–64 个小写字母、数字、_ 或 -，以字母或数字开头，且不能全为数字"
                       " / name: 1–64 of [a-z0-9_-], starting with a letter or digit, not "
                       "all digits");
        return RC_INVALID;
    }
    if (!*title || !text_ok(title, AGENT_TITLE_MAX, 0)) {
        (void)buf_addf(err, "需要标题（最多 %d 字节）/ title is required (at most %d bytes)",
                       AGENT_TITLE_MAX, AGENT_TITLE_MAX);
        return RC_INVALID;
    }
    if (!text_ok(avatar, AGENT_AVATAR_MAX, 0) || !text_ok(desc, SPEC_TEXT_MAX, 1) ||
        !text_ok(domain, AGENT_DOMAIN_MAX, 0) || !text_ok(tpl, AGENT_NAME_MAX, 0)) {
        (void)buf_addf(err,
                       "avatar、description、domain 或 template 无效或过长 / avatar (<= %d "
                       "bytes), description (<= %d), domain (<= %d) or template is invalid",
                       AGENT_AVATAR_MAX, SPEC_TEXT_MAX, AGENT_DOMAIN_MAX);
        return RC_INVALID;
    }
    if (!(minutes >= 0 && minutes <= AGENT_MINUTES_MAX)) {
        (void)buf_adds(err, "minutes_saved 须在 0..1440 / minutes_saved must be in 0..1440");
        return RC_INVALID;
    }
    char *spec = NULL;
    int rc = spec_normalise(spec_json, &spec, err);
    if (rc)
        return rc;
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx)) {
        free(spec);
        return db_fail(d, err);
    }
    int64_t now = now_unix();
    sqlite3_stmt *st =
        db_stmt(d->cache, "INSERT INTO agents(name, title, avatar, description, domain, template,"
                          " minutes_saved, created_by, created_at, updated_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)");
    if (!st) {
        rc = db_fail(d, err);
        goto out;
    }
    sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, avatar, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, desc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, tpl, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 7, minutes);
    sqlite3_bind_int64(st, 8, created_by);
    sqlite3_bind_int64(st, 9, now);
    int r = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(d->db);
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        if (ext == SQLITE_CONSTRAINT_UNIQUE) {
            (void)buf_addf(err, "名称已存在 / an agent named %s exists", f->name);
            rc = RC_EXISTS;
        } else {
            rc = db_fail(d, err);
        }
        goto out;
    }
    int64_t aid = sqlite3_last_insert_rowid(d->db);
    st = db_stmt(d->cache, "INSERT INTO agent_versions(agent_id, version, status, spec, note,"
                           " created_by, created_at) VALUES (?1, 1, 'draft', ?2, '', ?3, ?4)");
    if (!st) {
        rc = db_fail(d, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, aid);
    sqlite3_bind_text(st, 2, spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, created_by);
    sqlite3_bind_int64(st, 4, now);
    r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        rc = db_fail(d, err);
        goto out;
    }
    *id = aid;
    rc = RC_OK;
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = db_fail(d, err);
    if (rc)
        *id = 0;
    free(spec);
    return rc;
}

int agent_update(struct db_conn *d, int64_t agent_id, const struct agent_patch *p, struct buf *err)
{
    if ((p->title && (!*p->title || !text_ok(p->title, AGENT_TITLE_MAX, 0))) ||
        (p->avatar && !text_ok(p->avatar, AGENT_AVATAR_MAX, 0)) ||
        (p->description && !text_ok(p->description, SPEC_TEXT_MAX, 1)) ||
        (p->domain && !text_ok(p->domain, AGENT_DOMAIN_MAX, 0))) {
        (void)buf_adds(err, "title、avatar、description 或 domain 无效或过长 / title, avatar, "
                            "description or domain is invalid or too long");
        return RC_INVALID;
    }
    if (p->set_minutes && !(p->minutes_saved >= 0 && p->minutes_saved <= AGENT_MINUTES_MAX)) {
        (void)buf_adds(err, "minutes_saved 须在 0..1440 / minutes_saved must be in 0..1440");
        return RC_INVALID;
    }
    if (p->set_gate && (!(p->gate_min_score >= 0 && p->gate_min_score <= 1) || p->gate_set_id < 0 ||
                        (!p->gate_set_id && p->gate_min_score > 0))) {
        (void)buf_adds(err, "gate：min_score 须在 0..1，且设置门槛时需要 set_id / gate: min_score "
                            "must be in 0..1, and a gate needs a set_id");
        return RC_INVALID;
    }
    sqlite3_stmt *st;
    int r;
    if (p->set_gate && p->gate_set_id) {
        st = db_stmt(d->cache, "SELECT 1 FROM eval_sets WHERE id = ?1 AND agent_id = ?2");
        if (!st)
            return db_fail(d, err);
        sqlite3_bind_int64(st, 1, p->gate_set_id);
        sqlite3_bind_int64(st, 2, agent_id);
        r = sqlite3_step(st);
        sqlite3_reset(st);
        if (r == SQLITE_DONE) {
            (void)buf_addf(err,
                           "评测集 %lld 不属于该数字员工 / eval set %lld is not one of this "
                           "agent's",
                           (long long)p->gate_set_id, (long long)p->gate_set_id);
            return RC_INVALID;
        }
        if (r != SQLITE_ROW)
            return db_fail(d, err);
    }
    st = db_stmt(d->cache, "UPDATE agents SET title = coalesce(?2, title),"
                           " avatar = coalesce(?3, avatar),"
                           " description = coalesce(?4, description),"
                           " domain = coalesce(?5, domain),"
                           " minutes_saved = CASE WHEN ?6 THEN ?7 ELSE minutes_saved END,"
                           " gate_set_id = CASE WHEN ?8 THEN ?9 ELSE gate_set_id END,"
                           " gate_min_score = CASE WHEN ?8 THEN ?10 ELSE gate_min_score END,"
                           " updated_at = ?11 WHERE id = ?1");
    if (!st)
        return db_fail(d, err);
    sqlite3_bind_int64(st, 1, agent_id);
    const char *txt[4] = {p->title, p->avatar, p->description, p->domain};
    for (int i = 0; i < 4; i++) {
        if (txt[i])
            sqlite3_bind_text(st, 2 + i, txt[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 2 + i);
    }
    sqlite3_bind_int(st, 6, p->set_minutes != 0);
    sqlite3_bind_double(st, 7, p->minutes_saved);
    sqlite3_bind_int(st, 8, p->set_gate != 0);
    sqlite3_bind_int64(st, 9, p->gate_set_id);
    sqlite3_bind_double(st, 10, p->gate_min_score);
    sqlite3_bind_int64(st, 11, now_unix());
    r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return db_fail(d, err);
    return sqlite3_changes(d->db) ? RC_OK : RC_NOT_FOUND;
}

int agent_delete(struct db_conn *d, int64_t agent_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM agents WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    return sqlite3_changes(d->db) ? RC_OK : RC_NOT_FOUND;
}

static int not_found(struct buf *err, const char *what, int version)
{
    if (version)
        (void)buf_addf(err, "版本 %d 不存在 / version %d not found", version, version);
    else
        (void)buf_adds(err, what ? what : "资源不存在 / not found");
    return RC_NOT_FOUND;
}

/* The status of one version into out ("" when it does not exist);
 * RC_NOT_FOUND or RC_DB with err said. */
static int version_status(struct db_conn *d, int64_t agent_id, int version, char *out, size_t cap,
                          struct buf *err)
{
    out[0] = 0;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT status FROM agent_versions WHERE agent_id = ?1 AND version = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int(st, 2, version);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return not_found(err, NULL, version);
    return r == SQLITE_ROW ? RC_OK : db_fail(d, err);
}

static int touch(struct db_conn *d, int64_t agent_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE agents SET updated_at = ?2 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int64(st, 2, now_unix());
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    return sqlite3_changes(d->db) ? RC_OK : RC_NOT_FOUND;
}

/* A version's note and spec as given (either may be NULL): the note
 * checked, the spec validated and normalised into *spec (NULL when none).
 * RC_OK or RC_INVALID with err. */
static int version_input(const char *note, const char *spec_json, char **spec, struct buf *err)
{
    *spec = NULL;
    if (note && !text_ok(note, AGENT_NOTE_MAX, 1)) {
        (void)buf_addf(err,
                       "note 无效或过长（最多 %d 字节）/ note is invalid or too long (at most "
                       "%d bytes)",
                       AGENT_NOTE_MAX, AGENT_NOTE_MAX);
        return RC_INVALID;
    }
    return spec_json ? spec_normalise(spec_json, spec, err) : RC_OK;
}

int agent_version_new(struct db_conn *d, int64_t agent_id, int from, const char *spec_json,
                      const char *note, int64_t created_by, int *version, struct buf *err)
{
    *version = 0;
    char *spec = NULL;
    int rc = version_input(note, spec_json, &spec, err);
    if (rc)
        return rc;
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx)) {
        free(spec);
        return db_fail(d, err);
    }
    if ((rc = touch(d, agent_id))) {
        if (rc == RC_NOT_FOUND)
            not_found(err, "数字员工不存在 / agent not found", 0);
        goto out;
    }
    sqlite3_stmt *st;
    int r;
    if (!spec) {
        st = db_stmt(d->cache, "SELECT spec FROM agent_versions WHERE agent_id = ?1 AND version ="
                               " (CASE WHEN ?2 > 0 THEN ?2 ELSE"
                               "  (SELECT max(version) FROM agent_versions WHERE agent_id = ?1)"
                               " END)");
        if (!st) {
            rc = db_fail(d, err);
            goto out;
        }
        sqlite3_bind_int64(st, 1, agent_id);
        sqlite3_bind_int(st, 2, from);
        r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            spec = db_col_str(st, 0);
        sqlite3_reset(st);
        if (r == SQLITE_DONE) {
            rc = not_found(err, "数字员工没有版本 / the agent has no version", from);
            goto out;
        }
        if (r != SQLITE_ROW) {
            rc = db_fail(d, err);
            goto out;
        }
    }
    st = db_stmt(d->cache, "INSERT INTO agent_versions(agent_id, version, status, spec, note,"
                           " created_by, created_at)"
                           " SELECT ?1, coalesce(max(version), 0) + 1, 'draft', ?2, ?3, ?4, ?5"
                           " FROM agent_versions WHERE agent_id = ?1 RETURNING version");
    if (!st) {
        rc = db_fail(d, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_text(st, 2, spec, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, note ? note : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, created_by);
    sqlite3_bind_int64(st, 5, now_unix());
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        r = sqlite3_step(st);
    }
    sqlite3_reset(st);
    rc = r == SQLITE_DONE && *version ? RC_OK : db_fail(d, err);
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = db_fail(d, err);
    if (rc)
        *version = 0;
    free(spec);
    return rc;
}

int agent_version_update(struct db_conn *d, int64_t agent_id, int version, const char *spec_json,
                         const char *note, struct buf *err)
{
    char *spec = NULL;
    int rc = version_input(note, spec_json, &spec, err);
    if (rc)
        return rc;
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx)) {
        free(spec);
        return db_fail(d, err);
    }
    char status[16];
    rc = version_status(d, agent_id, version, status, sizeof status, err);
    if (rc)
        goto out;
    if (strcmp(status, "draft") != 0) {
        (void)buf_addf(err,
                       "版本 %d 已发布过，不可修改；请新建草稿 / version %d is %s, not a draft:"
                       " published versions are immutable (create a new draft)",
                       version, version, status);
        rc = RC_EXISTS;
        goto out;
    }
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE agent_versions SET spec = coalesce(?3, spec),"
                                         " note = coalesce(?4, note)"
                                         " WHERE agent_id = ?1 AND version = ?2");
    if (!st) {
        rc = db_fail(d, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int(st, 2, version);
    if (spec)
        sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    if (note)
        sqlite3_bind_text(st, 4, note, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        rc = db_fail(d, err);
        goto out;
    }
    rc = touch(d, agent_id);
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = db_fail(d, err);
    free(spec);
    return rc;
}

/* Makes `version` the published one: the current published version (if
 * another) becomes retired; the agent is published with it. */
static int make_published(struct db_conn *d, int64_t agent_id, int version)
{
    int64_t now = now_unix();
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE agent_versions SET status = 'retired'"
                                         " WHERE agent_id = ?1 AND status = 'published'"
                                         " AND version <> ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int(st, 2, version);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    st = db_stmt(d->cache, "UPDATE agent_versions SET status = 'published', published_at = ?3"
                           " WHERE agent_id = ?1 AND version = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int64(st, 3, now);
    r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    st = db_stmt(d->cache, "UPDATE agents SET status = 'published', published_version = ?2,"
                           " updated_at = ?3 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int64(st, 3, now);
    r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? RC_OK : RC_DB;
}

int agent_publish(struct db_conn *d, int64_t agent_id, int version, struct buf *err)
{
    struct agent a;
    memset(&a, 0, sizeof a);
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx))
        return db_fail(d, err);
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)agent_id);
    int rc = agent_get_for(d, NULL, idbuf, &a);
    if (rc == RC_NOT_FOUND) {
        not_found(err, "数字员工不存在 / agent not found", 0);
        goto out;
    }
    if (rc) {
        db_fail(d, err);
        goto out;
    }
    char status[16];
    rc = version_status(d, agent_id, version, status, sizeof status, err);
    if (rc)
        goto out;
    if (strcmp(status, "draft") != 0) {
        (void)buf_addf(err,
                       "版本 %d 不是草稿（%s），不能发布；回滚请用 rollback / version %d is %s,"
                       " not a draft: use rollback to republish it",
                       version, status, version, status);
        rc = RC_EXISTS;
        goto out;
    }
    rc = eval_gate_check(d, &a, version, err);
    if (rc)
        goto out;
    if ((rc = make_published(d, agent_id, version)))
        db_fail(d, err);
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = db_fail(d, err);
    agent_release(&a);
    return rc;
}

int agent_rollback(struct db_conn *d, int64_t agent_id, int version, struct buf *err)
{
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx))
        return db_fail(d, err);
    char status[16];
    int rc = version_status(d, agent_id, version, status, sizeof status, err);
    if (rc)
        goto out;
    if (strcmp(status, "draft") == 0) {
        (void)buf_addf(err,
                       "版本 %d 从未发布，不能回滚到它；请发布 / version %d was never "
                       "published: publish it instead",
                       version, version);
        rc = RC_INVALID;
        goto out;
    }
    if ((rc = make_published(d, agent_id, version)))
        db_fail(d, err);
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = db_fail(d, err);
    return rc;
}

int agent_retire(struct db_conn *d, int64_t agent_id, struct buf *err)
{
    struct db_tx tx;
    if (db_tx_begin(d->db, &tx))
        return db_fail(d, err);
    int rc = RC_DB;
    sqlite3_stmt *st = db_stmt(d->cache, "UPDATE agent_versions SET status = 'retired'"
                                         " WHERE agent_id = ?1 AND status = 'published'");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, agent_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    st = db_stmt(d->cache, "UPDATE agents SET status = 'retired', published_version = 0,"
                           " updated_at = ?2 WHERE id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int64(st, 2, now_unix());
    r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    rc = sqlite3_changes(d->db) ? RC_OK : not_found(err, "数字员工不存在 / agent not found", 0);
out:
    if (rc == RC_DB)
        db_fail(d, err);
    if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
        rc = db_fail(d, err);
    return rc;
}

/* ---- grants ---- */

static int user_find(struct db_conn *d, const char *id_or_name, int64_t *id)
{
    int64_t v = 0;
    int by_id = parse_i64(id_or_name, 1, INT64_MAX, &v) == RC_OK;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT id FROM users WHERE id = ?1 OR username = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, by_id ? v : 0);
    if (by_id)
        sqlite3_bind_null(st, 2);
    else
        sqlite3_bind_text(st, 2, id_or_name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int agent_acl_add(struct db_conn *d, int64_t agent_id, const char *type, const char *subject,
                  int64_t *grant_id, struct buf *err)
{
    *grant_id = 0;
    int64_t sid = 0;
    int rc = RC_OK;
    if (!type || (strcmp(type, "all") && strcmp(type, "org") && strcmp(type, "position") &&
                  strcmp(type, "role") && strcmp(type, "user"))) {
        (void)buf_adds(err, "授权对象类型无效 / invalid subject type (all, org, position, role, "
                            "user)");
        return RC_INVALID;
    }
    if (strcmp(type, "all") != 0) {
        if (!subject || !*subject) {
            (void)buf_adds(err, "缺少授权对象 / missing subject");
            return RC_INVALID;
        }
        rc = strcmp(type, "org") == 0        ? org_find(d, subject, &sid)
             : strcmp(type, "position") == 0 ? position_find(d, subject, &sid)
             : strcmp(type, "role") == 0     ? role_find(d, subject, &sid)
                                             : user_find(d, subject, &sid);
        if (rc == RC_NOT_FOUND) {
            (void)buf_addf(err, "授权对象不存在 / %s not found: %.100s", type, subject);
            return rc;
        }
        if (rc)
            return db_fail(d, err);
    }
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT 1 FROM agents WHERE id = ?1");
    if (!st)
        return db_fail(d, err);
    sqlite3_bind_int64(st, 1, agent_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return not_found(err, "数字员工不存在 / agent not found", 0);
    if (r != SQLITE_ROW)
        return db_fail(d, err);
    st = db_stmt(d->cache, "INSERT INTO agent_acl(agent_id, subject_type, subject_id, created_at)"
                           " VALUES (?1, ?2, ?3, ?4)"
                           " ON CONFLICT(agent_id, subject_type, subject_id)"
                           " DO UPDATE SET subject_id = excluded.subject_id RETURNING id");
    if (!st)
        return db_fail(d, err);
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sid);
    sqlite3_bind_int64(st, 4, now_unix());
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *grant_id = sqlite3_column_int64(st, 0);
        r = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        *grant_id = 0;
        return db_fail(d, err);
    }
    return RC_OK;
}

int agent_acl_remove(struct db_conn *d, int64_t agent_id, int64_t grant_id)
{
    sqlite3_stmt *st = db_stmt(d->cache, "DELETE FROM agent_acl WHERE id = ?1 AND agent_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, grant_id);
    sqlite3_bind_int64(st, 2, agent_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return RC_DB;
    return sqlite3_changes(d->db) ? RC_OK : RC_NOT_FOUND;
}

int agent_acl_list(struct db_conn *d, int64_t agent_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = db_stmt(
        d->cache, "SELECT a.id, a.subject_type, a.subject_id, CASE a.subject_type"
                  " WHEN 'all' THEN '*'"
                  " WHEN 'org' THEN (WITH RECURSIVE up(id, parent_id, names, depth) AS ("
                  "   SELECT id, parent_id, name, 0 FROM orgs WHERE id = a.subject_id"
                  "   UNION ALL SELECT p.id, p.parent_id, p.name || '/' || up.names, up.depth + 1"
                  "   FROM orgs p JOIN up ON p.id = up.parent_id WHERE up.depth < 256)"
                  "   SELECT names FROM up WHERE parent_id IS NULL)"
                  " WHEN 'position' THEN (SELECT name FROM positions WHERE id = a.subject_id)"
                  " WHEN 'role' THEN (SELECT name FROM roles WHERE id = a.subject_id)"
                  " WHEN 'user' THEN (SELECT username FROM users WHERE id = a.subject_id) END"
                  " FROM agent_acl a WHERE a.agent_id = ?1 ORDER BY a.id");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    json_t *arr = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *type = sqlite3_column_text(st, 1);
        const unsigned char *name = sqlite3_column_text(st, 3);
        (void)json_array_append_new(
            arr, json_pack("{s:I,s:s,s:I,s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                           "subject_type", type ? (const char *)type : "", "subject_id",
                           (json_int_t)sqlite3_column_int64(st, 2), "subject",
                           name ? json_string((const char *)name) : json_null()));
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = arr;
    return RC_OK;
}
