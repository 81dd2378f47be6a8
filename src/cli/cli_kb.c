/* `atrium kb ...`: create, list, docs, ingest (files and folders, with a
 * progress bar and a summary) and synonyms. Every verb is a thin call into
 * kb/kb.h. */
#include "auth/audit.h"
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"

#define INGEST_FILE_MAX ((size_t)200 * 1024 * 1024) /* per file */
#define INGEST_BATCH_FILES 64                       /* files per store transaction */
#define INGEST_BATCH_BYTES (32u * 1024 * 1024)      /* or this many bytes */
#define INGEST_FILES_MAX 100000                     /* files per run */
#define INGEST_DEPTH_MAX 32                         /* folder nesting */

/* ---- create / list / docs ---- */

static int kb_create_cmd(struct cli *c, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("kb", "用法 / usage: atrium kb create NAME");
    struct kb_info info = {0};
    struct buf err = BUF_INIT;
    int code = CLI_EXIT_OK;
    struct db_conn *d = kb_conn_store(c->conn);
    struct db_tx tx;
    int rc = cli_change_begin(d, &tx);
    if (rc == RC_OK) {
        rc = kb_create(c->conn, a->pos[0], &info, &err);
        char target[32];
        snprintf(target, sizeof target, "kb:%lld", (long long)info.id);
        rc = cli_change_end(d, &tx, rc, "kb.create", target,
                            json_pack("{s:s,s:s}", "name", a->pos[0], "kind", "enterprise"));
    }
    if (rc) {
        code = cli_fail(rc, &err, "无法创建知识库 / cannot create the knowledge base");
        goto out;
    }
    if (c->json) {
        code = cli_print_json(kb_info_json(&info));
    } else if (!c->quiet) {
        struct buf name = BUF_INIT;
        cli_safe_text(&name, info.name, 0, 0);
        printf("已创建知识库 / created knowledge base: %s (id %lld)\n", buf_str(&name),
               (long long)info.id);
        buf_release(&name);
    }
out:
    kb_info_release(&info);
    buf_release(&err);
    return code;
}

static int kb_list_cmd(struct cli *c, struct cli_args *a)
{
    if (a->npos != 0)
        return cli_usage_error("kb", "用法 / usage: atrium kb list");
    struct kb_info *kbs = NULL;
    size_t n = 0;
    int rc = kb_list(c->conn, &kbs, &n);
    if (rc)
        return cli_fail(rc, NULL, "无法列出知识库 / cannot list knowledge bases");
    int code = CLI_EXIT_OK;
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            (void)json_array_append_new(arr, kb_info_json(&kbs[i]));
        code = cli_print_json(arr);
    } else {
        printf("%-6s %-8s %-8s %-10s %s\n", "id", "docs", "chunks", "chars", "名称 / name");
        struct buf name = BUF_INIT;
        for (size_t i = 0; i < n; i++) {
            buf_reset(&name);
            cli_safe_text(&name, kbs[i].name, 0, 0);
            printf("%-6lld %-8lld %-8lld %-10lld %s\n", (long long)kbs[i].id,
                   (long long)kbs[i].ndocs, (long long)kbs[i].nchunks, (long long)kbs[i].nchars,
                   buf_str(&name));
        }
        buf_release(&name);
    }
    kb_infos_free(kbs, n);
    return code;
}

static int kb_docs_cmd(struct cli *c, struct cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_error("kb", "用法 / usage: atrium kb docs KB");
    struct kb_info kb;
    int code = cli_find_kb(c, a->pos[0], &kb);
    if (code)
        return code;
    struct kb_doc_info *docs = NULL;
    size_t n = 0;
    int rc = kb_docs(c->conn, NULL, kb.id, &docs, &n);
    if (rc) {
        code = cli_fail(rc, NULL, "无法列出文档 / cannot list documents");
        goto out;
    }
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            (void)json_array_append_new(arr, kb_doc_json(&docs[i]));
        code = cli_print_json(arr);
    } else {
        printf("%-6s %-4s %-6s %-8s %-8s %s\n", "id", "ver", "type", "chunks", "chars",
               "名称 / name");
        struct buf name = BUF_INIT;
        for (size_t i = 0; i < n; i++) {
            buf_reset(&name);
            cli_safe_text(&name, docs[i].name, 0, 0);
            printf("%-6lld %-4d %-6s %-8lld %-8lld %s\n", (long long)docs[i].id, docs[i].version,
                   docs[i].type ? docs[i].type : "", (long long)docs[i].nchunks,
                   (long long)docs[i].nchars, buf_str(&name));
        }
        buf_release(&name);
    }
    kb_docs_free(docs, n);
out:
    kb_info_release(&kb);
    return code;
}

/* ---- ingest ---- */

struct file_list {
    char **a;
    size_t n, cap;
    int truncated;
};

static void list_add(struct file_list *l, const char *path)
{
    if (l->n >= INGEST_FILES_MAX) {
        l->truncated = 1;
        return;
    }
    l->a = xgrow(l->a, &l->cap, l->n + 1, sizeof *l->a);
    l->a[l->n++] = xstrdup(path);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Collects regular files under dir in sorted order, skipping dotfiles and
 * symlinked folders (no loops). Unreadable folders are reported. */
static void walk(const char *dir, int depth, struct file_list *l)
{
    if (depth > INGEST_DEPTH_MAX) {
        cli_warn("目录层级过深，已跳过 / folder nested too deeply, skipped: %s", dir);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        cli_warn("无法读取目录 / cannot read folder %s: %s", dir, strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n >= INGEST_FILES_MAX)
            break;
        names = xgrow(names, &cap, n + 1, sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    if (closedir(d) != 0)
        cli_warn("关闭目录失败 / closing folder failed: %s", dir);
    qsort(names, n, sizeof *names, cmp_str);
    struct buf path = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        buf_reset(&path);
        if (buf_addf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]))
            continue;
        struct stat st;
        if (lstat(path.p, &st) != 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            if (stat(path.p, &st) != 0 || S_ISDIR(st.st_mode))
                continue; /* dangling, or a folder link that could loop */
        }
        if (S_ISDIR(st.st_mode))
            walk(path.p, depth + 1, l);
        else if (S_ISREG(st.st_mode))
            list_add(l, path.p);
    }
    buf_release(&path);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Records a failure the CLI itself found (unreadable or oversized file) in
 * the service's report, so counts and JSON stay in one place. */
static void report_fail(struct kb_ingest_report *rep, const char *name, int rc, const char *msg)
{
    rep->a = xgrow(rep->a, &rep->cap, rep->n + 1, sizeof *rep->a);
    struct kb_ingest_item *it = &rep->a[rep->n++];
    memset(it, 0, sizeof *it);
    it->name = xstrdup(name);
    it->outcome = KB_FAILED;
    it->rc = rc;
    it->error = xstrdup(msg);
    rep->failed++;
}

static void print_item_error(const struct kb_ingest_item *it)
{
    struct buf name = BUF_INIT, msg = BUF_INIT;
    cli_safe_text(&name, it->name, 80, 0);
    cli_safe_text(&msg, it->error ? it->error : rc_code(it->rc), 300, 0);
    cli_progress_end(NULL);
    fprintf(stderr, "✗ %s: %s\n", buf_str(&name), buf_str(&msg));
    fflush(stderr);
    buf_release(&name);
    buf_release(&msg);
}

/* The audit entry of a document the CLI ingested (doc.upload), written in
 * the batch's transaction so the two commit together. */
static int audit_ingested(struct cli *c, int64_t kb_id, const struct kb_ingest_item *it)
{
    struct auth_principal who;
    auth_principal_cli(&who);
    char target[32];
    snprintf(target, sizeof target, "kb:%lld", (long long)kb_id);
    json_t *detail = json_pack("{s:s,s:s,s:I}", "filename", it->name, "outcome",
                               kb_outcome_name(it->outcome), "chunks", (json_int_t)it->nchunks);
    struct audit_entry e;
    audit_entry_from(&e, &who);
    e.action = "doc.upload";
    e.target = target;
    e.detail = detail;
    e.ip = "";
    int rc = audit_append(kb_conn_store(c->conn), &e);
    json_decref(detail);
    return rc;
}

static int kb_ingest_cmd(struct cli *c, struct cli_args *a)
{
    if (a->npos < 2)
        return cli_usage_error("kb", "用法 / usage: atrium kb ingest KB PATH...");
    struct kb_info kb;
    int code = cli_find_kb(c, a->pos[0], &kb);
    if (code)
        return code;
    struct kb_ingest_report rep = {0};
    struct file_list files = {0};
    struct buf data = BUF_INIT;
    int fatal = RC_OK;

    /* Explicit paths in the given order; folders expanded, sorted. */
    for (int i = 1; i < a->npos; i++) {
        struct stat st;
        const char *p = a->pos[i];
        if (stat(p, &st) != 0) {
            report_fail(&rep, path_base(p), errno == ENOENT ? RC_NOT_FOUND : RC_IO,
                        errno == ENOENT ? "文件不存在 / no such file or folder"
                                        : "无法访问 / cannot access");
            print_item_error(&rep.a[rep.n - 1]);
        } else if (S_ISDIR(st.st_mode)) {
            walk(p, 0, &files);
        } else if (S_ISREG(st.st_mode)) {
            list_add(&files, p);
        } else {
            report_fail(&rep, path_base(p), RC_UNSUPPORTED, "不是普通文件 / not a regular file");
            print_item_error(&rep.a[rep.n - 1]);
        }
    }
    if (files.truncated)
        cli_warn("文件过多，只导入前 %d 个 / too many files, only the first %d are ingested",
                 INGEST_FILES_MAX, INGEST_FILES_MAX);

    double t0 = now_ms();
    size_t bytes = 0, batch_bytes = 0, batch_files = 0;
    /* Files go in in batches (one store transaction each, every document
     * still atomic on its own): the full-text work is flushed once per batch. */
    int in_batch = kb_batch_begin(c->conn) == RC_OK;
    for (size_t i = 0; i < files.n; i++) {
        const char *base = path_base(files.a[i]);
        if (in_batch && (batch_files >= INGEST_BATCH_FILES || batch_bytes >= INGEST_BATCH_BYTES)) {
            if (kb_batch_end(c->conn, 1)) {
                fatal = RC_DB;
                in_batch = 0;
                break;
            }
            in_batch = kb_batch_begin(c->conn) == RC_OK;
            batch_files = batch_bytes = 0;
        }
        cli_progress(c, i, files.n, base);
        buf_reset(&data);
        int rc = read_file(files.a[i], INGEST_FILE_MAX, &data);
        if (rc) {
            report_fail(&rep, base, rc,
                        rc == RC_TOO_BIG ? "文件超过 200 MB / file larger than 200 MB"
                                         : "无法读取文件 / cannot read the file");
            print_item_error(&rep.a[rep.n - 1]);
            continue;
        }
        bytes += data.len;
        batch_bytes += data.len;
        batch_files++;
        size_t before = rep.n;
        rc = kb_ingest_bytes(c->conn, kb.id, base, data.p ? data.p : "", data.len, &rep);
        for (size_t j = before; j < rep.n; j++) {
            if (rep.a[j].outcome == KB_FAILED)
                print_item_error(&rep.a[j]);
            else if (rep.a[j].outcome != KB_UNCHANGED && audit_ingested(c, kb.id, &rep.a[j]))
                rc = RC_DB; /* in the batch's transaction: no entry, no document */
        }
        if (rc == RC_DB || rc == RC_INTERNAL) {
            fatal = rc;
            break;
        }
    }
    if (in_batch && kb_batch_end(c->conn, 1) && !fatal)
        fatal = RC_DB;
    cli_progress(c, files.n, files.n, "");
    cli_progress_end(c);
    double secs = (now_ms() - t0) / 1000.0;
    double mb = (double)bytes / (1024.0 * 1024.0);
    double mbps = secs > 0 ? mb / secs : 0;

    if (c->json) {
        json_t *j = kb_ingest_report_json(&rep);
        if (j && json_is_object(j)) {
            (void)json_object_set_new(j, "elapsed_ms", json_real(secs * 1000.0));
            (void)json_object_set_new(j, "bytes_read", json_integer((json_int_t)bytes));
            (void)json_object_set_new(j, "mb_per_s", json_real(mbps));
        }
        code = cli_print_json(j);
    } else if (!c->quiet) {
        printf("新增 %zu，更新 %zu，未变 %zu，失败 %zu，共 %zu 个分块，%.1f MB，%.1f MB/s / "
               "added %zu, replaced %zu, unchanged %zu, failed %zu, chunks %zu, %.1f MB, "
               "%.1f MB/s\n",
               rep.added, rep.replaced, rep.unchanged, rep.failed, rep.chunks, mb, mbps, rep.added,
               rep.replaced, rep.unchanged, rep.failed, rep.chunks, mb, mbps);
    }
    if (fatal) {
        cli_error("存储失败，导入中止 / the store failed, ingest stopped (%s)", rc_code(fatal));
        code = rc_exit_code(fatal);
    } else if (rep.failed && code == CLI_EXIT_OK) {
        code = rc_exit_code(RC_PARSE); /* 4: some files failed */
    }
    for (size_t i = 0; i < files.n; i++)
        free(files.a[i]);
    free(files.a);
    buf_release(&data);
    kb_ingest_report_release(&rep);
    kb_info_release(&kb);
    return code;
}

/* ---- synonyms ---- */

static void print_synonyms(json_t *j)
{
    /* Expected: a list of {id, terms:[...]}; anything else is shown as JSON. */
    json_t *list = json_is_array(j) ? j : json_object_get(j, "groups");
    if (!json_is_array(list)) {
        char *s = json_dumps(j, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
        return;
    }
    size_t i;
    json_t *g;
    struct buf line = BUF_INIT;
    json_array_foreach(list, i, g)
    {
        buf_reset(&line);
        json_t *id = json_object_get(g, "id"), *terms = json_object_get(g, "terms");
        (void)buf_addf(&line, "%-6lld",
                       json_is_integer(id) ? (long long)json_integer_value(id) : 0LL);
        size_t k;
        json_t *t;
        json_array_foreach(terms, k, t)
        {
            (void)buf_addc(&line, ' ');
            cli_safe_text(&line, json_string_value(t), 64, 0);
        }
        puts(buf_str(&line));
    }
    buf_release(&line);
}

static int kb_synonyms_cmd(struct cli *c, struct cli_args *a)
{
    if (a->npos < 1)
        return cli_usage_error("kb", "用法 / usage: atrium kb synonyms KB [add TERM...|delete ID]");
    struct kb_info kb;
    int code = cli_find_kb(c, a->pos[0], &kb);
    if (code)
        return code;
    struct buf err = BUF_INIT;
    int rc;
    if (a->npos == 1) {
        json_t *j = NULL;
        rc = kb_synonyms(c->conn, kb.id, &j);
        if (rc) {
            code = cli_fail(rc, NULL, "无法读取同义词 / cannot read synonyms");
            goto out;
        }
        if (c->json) {
            code = cli_print_json(j);
        } else {
            print_synonyms(j);
            json_decref(j);
        }
    } else if (strcmp(a->pos[1], "add") == 0) {
        if (a->npos < 4) {
            code = cli_usage_error("kb", "同义词组至少两个词 / a synonym group needs two terms");
            goto out;
        }
        int64_t gid = 0;
        struct db_conn *d = kb_conn_store(c->conn);
        struct db_tx tx;
        rc = cli_change_begin(d, &tx);
        if (rc == RC_OK) {
            rc = kb_synonym_add(c->conn, kb.id, (const char *const *)&a->pos[2],
                                (size_t)(a->npos - 2), &gid, &err);
            char target[32];
            snprintf(target, sizeof target, "kb:%lld", (long long)kb.id);
            rc = cli_change_end(d, &tx, rc, "synonym.add", target,
                                json_pack("{s:I}", "group", (json_int_t)gid));
        }
        if (rc) {
            code = cli_fail(rc, &err, "无法添加同义词 / cannot add the synonym group");
            goto out;
        }
        if (c->json) {
            code = cli_print_json(json_pack("{s:I}", "id", (json_int_t)gid));
        } else if (!c->quiet) {
            printf("已添加同义词组 / added synonym group %lld\n", (long long)gid);
        }
    } else if (strcmp(a->pos[1], "delete") == 0 && a->npos == 3) {
        int id = 0;
        code = cli_int_arg("ID", a->pos[2], 1, 2147483647, &id);
        if (code)
            goto out;
        struct db_conn *d = kb_conn_store(c->conn);
        struct db_tx tx;
        rc = cli_change_begin(d, &tx);
        if (rc == RC_OK) {
            rc = kb_synonym_delete(c->conn, kb.id, id);
            char target[32];
            snprintf(target, sizeof target, "kb:%lld", (long long)kb.id);
            rc = cli_change_end(d, &tx, rc, "synonym.delete", target,
                                json_pack("{s:i}", "group", id));
        }
        if (rc) {
            code = cli_fail(rc, NULL, "无法删除同义词组 / cannot delete the synonym group");
            goto out;
        }
        if (c->json)
            code = cli_print_json(json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
        else if (!c->quiet)
            printf("已删除同义词组 / deleted synonym group %d\n", id);
    } else {
        code = cli_usage_error("kb", "用法 / usage: atrium kb synonyms KB [add TERM...|delete ID]");
    }
out:
    buf_release(&err);
    kb_info_release(&kb);
    return code;
}

int cli_cmd_kb(struct cli *c, int argc, char **argv)
{
    /* grant / revoke / acl take options of their own (cli_acl.c). */
    const char *access = cli_kb_access_verb(argc, argv);
    if (access)
        return cli_kb_access(c, access, argc, argv);
    static const struct cli_opt opts[] = {{NULL, NULL, 0}};
    struct cli_args a;
    int code = cli_parse_args(c, argc, argv, opts, &a);
    if (code)
        return code;
    if (a.help) {
        cli_usage(stdout, "kb");
        return CLI_EXIT_OK;
    }
    if (a.npos < 1)
        return cli_usage_error("kb", "缺少子命令 / missing verb");
    const char *verb = a.pos[0];
    struct cli_args rest = a;
    rest.npos = a.npos - 1;
    rest.pos = a.pos + 1;
    int (*fn)(struct cli *, struct cli_args *) = NULL;
    if (strcmp(verb, "create") == 0)
        fn = kb_create_cmd;
    else if (strcmp(verb, "list") == 0)
        fn = kb_list_cmd;
    else if (strcmp(verb, "docs") == 0)
        fn = kb_docs_cmd;
    else if (strcmp(verb, "ingest") == 0)
        fn = kb_ingest_cmd;
    else if (strcmp(verb, "synonyms") == 0)
        fn = kb_synonyms_cmd;
    else
        return cli_usage_error("kb", "未知子命令 / unknown verb: kb %.40s", verb);
    code = cli_open(c);
    if (code)
        return code;
    return fn(c, &rest);
}
