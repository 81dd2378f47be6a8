/* Configuration: defaults, then file, then ATRIUM_* environment. */
#include "common/config.h"

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_INT, K_MB, K_KB, K_DBL };

struct key {
    const char *name;
    enum kind kind;
    size_t off;
};

#define F(field) offsetof(struct config, field)
static const struct key keys[] = {
    {"data_dir", K_STR, F(data_dir)},
    {"bind", K_STR, F(bind)},
    {"port", K_INT, F(port)},
    {"threads", K_INT, F(threads)},
    {"workers", K_INT, F(workers)},
    {"max_connections", K_INT, F(max_connections)},
    {"max_connections_per_ip", K_INT, F(max_per_ip)},
    {"log_level", K_STR, F(log_level)},
    {"upload_max_mb", K_MB, F(upload_max)},
    {"body_max_kb", K_KB, F(body_max)},
    {"answer_min_score", K_DBL, F(min_score)},
    {"chat_url", K_STR, F(chat_url)},
    {"chat_model", K_STR, F(chat_model)},
    {"chat_api_key", K_STR, F(chat_api_key)},
    {"embed_url", K_STR, F(embed_url)},
    {"embed_model", K_STR, F(embed_model)},
    {"embed_api_key", K_STR, F(embed_api_key)},
    {"rerank_url", K_STR, F(rerank_url)},
    {"rerank_model", K_STR, F(rerank_model)},
    {"rerank_api_key", K_STR, F(rerank_api_key)},
    {"model_connect_timeout_ms", K_INT, F(connect_timeout_ms)},
    {"model_first_token_timeout_ms", K_INT, F(first_token_timeout_ms)},
    {"model_total_timeout_ms", K_INT, F(total_timeout_ms)},
    {"session_idle_min", K_INT, F(session_idle_min)},
    {"session_max_hours", K_INT, F(session_max_hours)},
    {"login_max_failures", K_INT, F(login_max_failures)},
    {"login_lockout_min", K_INT, F(login_lockout_min)},
    {"password_min_len", K_INT, F(password_min_len)},
    {"hash_concurrency", K_INT, F(hash_concurrency)},
    {"hash_queue", K_INT, F(hash_queue)},
    {"cookie_secure", K_INT, F(cookie_secure)},
    {"audit_flush_ms", K_INT, F(audit_flush_ms)},
    {"ldap_url", K_STR, F(ldap_url)},
    {"ldap_base_dn", K_STR, F(ldap_base_dn)},
    {"ldap_user_filter", K_STR, F(ldap_user_filter)},
    {"ldap_bind_dn", K_STR, F(ldap_bind_dn)},
    {"ldap_bind_password", K_STR, F(ldap_bind_password)},
    {"ldap_group_base_dn", K_STR, F(ldap_group_base_dn)},
    {"ldap_group_filter", K_STR, F(ldap_group_filter)},
    {"ldap_name_attr", K_STR, F(ldap_name_attr)},
    {"ldap_empno_attr", K_STR, F(ldap_empno_attr)},
    {"ldap_timeout_ms", K_INT, F(ldap_timeout_ms)},
    {"websearch_url", K_STR, F(websearch_url)},
    {"websearch_timeout_ms", K_INT, F(websearch_timeout_ms)},
    {"websearch_results", K_INT, F(websearch_results)},
    {"faq_threshold", K_DBL, F(faq_threshold)},
    {"rate_limit_per_min", K_INT, F(rate_per_min)},
    {"rate_limit_burst", K_INT, F(rate_burst)},
    {"model_health_interval_s", K_INT, F(model_health_s)},
    {"model_cooldown_s", K_INT, F(model_cooldown_s)},
    {"max_answers", K_INT, F(max_answers)},
    {"stream_flush_ms", K_INT, F(stream_flush_ms)},
    {"summary_budget_chars", K_INT, F(summary_budget_chars)},
    {"summary_parallel", K_INT, F(summary_parallel)},
    {"agent_http_allow", K_STR, F(agent_http_allow)},
    {"agent_http_timeout_ms", K_INT, F(agent_http_timeout_ms)},
    {"eval_workers", K_INT, F(eval_workers)},
    {"assistant_minutes_saved", K_DBL, F(assistant_minutes_saved)},
    {"web_dir", K_STR, F(web_dir)},
};
#undef F

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

int config_set(struct config *cfg, const char *key, const char *value, struct buf *err)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const struct key *k = &keys[i];
        if (strcmp(k->name, key) != 0)
            continue;
        char *base = (char *)cfg + k->off;
        int64_t v;
        double d;
        switch (k->kind) {
        case K_STR:
            set_str((char **)base, value);
            return RC_OK;
        case K_INT:
            if (parse_i64(value, 0, 1000000000, &v))
                goto bad;
            *(int *)base = (int)v;
            return RC_OK;
        case K_MB:
        case K_KB:
            if (parse_i64(value, 1, 1 << 20, &v))
                goto bad;
            *(size_t *)base = (size_t)v * (k->kind == K_MB ? 1024 * 1024 : 1024);
            return RC_OK;
        case K_DBL:
            if (parse_double(value, &d))
                goto bad;
            *(double *)base = d;
            return RC_OK;
        }
    bad:
        buf_addf(err, "配置项 %s 的值无效 / invalid value for %s", key, key);
        return RC_INVALID;
    }
    buf_addf(err, "未知配置项 / unknown config key: %s", key);
    return RC_INVALID;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct config *cfg, const char *path, struct buf *err)
{
    struct buf text = BUF_INIT;
    int rc = read_file(path, 1 << 20, &text);
    if (rc) {
        buf_addf(err, "无法读取配置文件 / cannot read config file %s", path);
        goto out;
    }
    int lineno = 0;
    char *line = text.p;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char *s = trim(line);
        line = nl ? nl + 1 : NULL;
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            buf_addf(err, "%s:%d: 缺少 '=' / expected key = value", path, lineno);
            rc = RC_INVALID;
            goto out;
        }
        *eq = '\0';
        rc = config_set(cfg, trim(s), trim(eq + 1), err);
        if (rc) {
            buf_addf(err, " (%s:%d)", path, lineno);
            goto out;
        }
    }
out:
    buf_release(&text);
    return rc;
}

int config_load(struct config *cfg, const char *path, struct buf *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = xstrdup("./data");
    cfg->bind = xstrdup("127.0.0.1");
    cfg->port = 8080;
    cfg->threads = 2;
    cfg->workers = 4;
    cfg->max_connections = 1024;
    cfg->max_per_ip = 0;
    cfg->log_level = xstrdup("info");
    cfg->upload_max = 50u * 1024 * 1024;
    cfg->body_max = 1024 * 1024;
    cfg->min_score = 0.1;
    cfg->connect_timeout_ms = 2000;
    cfg->first_token_timeout_ms = 15000;
    cfg->total_timeout_ms = 60000;
    cfg->session_idle_min = 30;
    cfg->session_max_hours = 12;
    cfg->login_max_failures = 5;
    cfg->login_lockout_min = 15;
    cfg->password_min_len = 10;
    cfg->hash_concurrency = 2;
    cfg->hash_queue = 64;
    cfg->audit_flush_ms = 200;
    cfg->ldap_user_filter = xstrdup("(uid=%s)");
    cfg->ldap_group_filter = xstrdup("(|(member=%D)(uniqueMember=%D)(memberUid=%s))");
    cfg->ldap_name_attr = xstrdup("cn");
    cfg->ldap_empno_attr = xstrdup("employeeNumber");
    cfg->ldap_timeout_ms = 3000;
    cfg->websearch_timeout_ms = 3000;
    cfg->websearch_results = 5;
    cfg->faq_threshold = 0.75;
    cfg->rate_per_min = 30;
    cfg->rate_burst = 10;
    cfg->model_health_s = 30;
    cfg->model_cooldown_s = 10;
    cfg->max_answers = 1024;
    cfg->stream_flush_ms = 50;
    cfg->summary_budget_chars = 6000;
    cfg->summary_parallel = 3;
    cfg->agent_http_timeout_ms = 5000;
    cfg->eval_workers = 1;
    cfg->assistant_minutes_saved = 3;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].kind == K_STR && !*(char **)((char *)cfg + keys[i].off))
            *(char **)((char *)cfg + keys[i].off) = xstrdup("");

    if (!path)
        path = getenv("ATRIUM_CONFIG");
    if (path && *path) {
        int rc = load_file(cfg, path, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char var[64] = "ATRIUM_";
        size_t n = strlen(var);
        for (const char *p = keys[i].name; *p && n < sizeof var - 1; p++)
            var[n++] = (char)toupper((unsigned char)*p);
        var[n] = '\0';
        const char *v = getenv(var);
        if (v) {
            int rc = config_set(cfg, keys[i].name, v, err);
            if (rc) {
                buf_addf(err, " (%s)", var);
                return rc;
            }
        }
    }
    /* ATRIUM_DATA is the documented short form of ATRIUM_DATA_DIR. */
    const char *d = getenv("ATRIUM_DATA");
    if (d && *d)
        set_str(&cfg->data_dir, d);
    return RC_OK;
}

void config_release(struct config *cfg)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].kind == K_STR) {
            char **slot = (char **)((char *)cfg + keys[i].off);
            free(*slot);
            *slot = NULL;
        }
}
