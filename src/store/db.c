/* SQLite store: connections, migrations, a per-connection statement cache. */
#include "store/db.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "store/fts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Migrations in order; migration i brings user_version from i to i+1.
 * Never edit a shipped migration: append a new one. */
static const char *const migrations[] = {
    /* 1: knowledge bases, documents, chunks, vectors, synonyms, jobs. The FTS5
     * tables (chunks_fts, chunks_tri) are optional and made on first use: see
     * kb/search.c. */
    "CREATE TABLE kbs("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL DEFAULT 'enterprise',"
    "  created_at INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL DEFAULT 0,"
    "  ndocs INTEGER NOT NULL DEFAULT 0,"
    "  nchunks INTEGER NOT NULL DEFAULT 0,"
    "  nchars INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE documents("
    "  id INTEGER PRIMARY KEY,"
    "  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  nchars INTEGER NOT NULL DEFAULT 0,"
    "  nchunks INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE(kb_id, name));"
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY,"
    "  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,"
    "  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  ord INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  title TEXT NOT NULL,"
    "  heading TEXT NOT NULL,"
    "  label TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  part INTEGER NOT NULL DEFAULT 1,"
    "  nparts INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX chunks_doc ON chunks(doc_id);"
    "CREATE INDEX chunks_kb ON chunks(kb_id, id);"
    "CREATE TABLE chunk_vectors("
    "  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
    "  model TEXT NOT NULL,"
    "  dim INTEGER NOT NULL,"
    "  vec BLOB NOT NULL);"
    "CREATE TABLE synonyms("
    "  id INTEGER PRIMARY KEY,"
    "  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,"
    "  terms TEXT NOT NULL);"
    "CREATE INDEX synonyms_kb ON synonyms(kb_id);"
    "CREATE TABLE jobs("
    "  id INTEGER PRIMARY KEY,"
    "  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,"
    "  filename TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'queued',"
    "  result TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX jobs_status ON jobs(status, id);",

    /* 2: identity, organisation, KB access and the audit log. kbs is rebuilt
     * (the SQLite 12-step way, foreign keys off: see migrate) so that only
     * enterprise KB names are unique across the bank; personal and
     * conversation KBs are unique per owner. */
    "CREATE TABLE users("
    "  id INTEGER PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  display_name TEXT NOT NULL DEFAULT '',"
    "  employee_no TEXT NOT NULL DEFAULT '',"
    "  source TEXT NOT NULL DEFAULT 'local'," /* local | ldap */
    "  pwhash TEXT,"                          /* argon2id string; NULL for ldap users */
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  failed_logins INTEGER NOT NULL DEFAULT 0,"
    "  locked_until INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  last_login_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE sessions("
    "  id INTEGER PRIMARY KEY,"
    "  token_hash TEXT NOT NULL UNIQUE," /* sha256 hex of the cookie value */
    "  csrf TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL," /* absolute expiry */
    "  ip TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE api_tokens("
    "  id INTEGER PRIMARY KEY,"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL," /* the first characters, to recognise a token */
    "  name TEXT NOT NULL DEFAULT '',"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0," /* 0 = never */
    "  revoked_at INTEGER NOT NULL DEFAULT 0,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX api_tokens_user ON api_tokens(user_id);"
    "CREATE TABLE orgs("
    "  id INTEGER PRIMARY KEY,"
    "  parent_id INTEGER REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  code TEXT NOT NULL DEFAULT '',"
    "  path TEXT NOT NULL," /* '/1/4/9/': ids from the root, for subtree tests */
    "  created_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX orgs_sibling ON orgs(coalesce(parent_id, 0), name);"
    "CREATE INDEX orgs_path ON orgs(path);"
    "CREATE TABLE org_members("
    "  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  source TEXT NOT NULL DEFAULT 'local',"
    "  PRIMARY KEY(user_id, org_id));"
    "CREATE INDEX org_members_org ON org_members(org_id);"
    "CREATE TABLE positions("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE user_positions("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  position_id INTEGER NOT NULL REFERENCES positions(id) ON DELETE CASCADE,"
    "  source TEXT NOT NULL DEFAULT 'local',"
    "  PRIMARY KEY(user_id, position_id));"
    "CREATE TABLE roles("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  perms INTEGER NOT NULL DEFAULT 0," /* enum auth_perm bits */
    "  builtin INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    /* The built-in roles (perms: enum auth_perm in auth/auth.h). admin has
     * everything but audit.read: the auditor is someone else (三员分立). */
    "INSERT INTO roles(name, perms, builtin, created_at) VALUES"
    "  ('admin', 127, 1, 0), ('kb_admin', 24, 1, 0), ('agent_admin', 32, 1, 0),"
    "  ('auditor', 128, 1, 0), ('user', 0, 1, 0);"
    "CREATE TABLE user_roles("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,"
    "  source TEXT NOT NULL DEFAULT 'local',"
    "  PRIMARY KEY(user_id, role_id));"
    "CREATE TABLE ldap_maps("
    "  id INTEGER PRIMARY KEY,"
    "  match TEXT NOT NULL,"       /* a group DN, or an OU DN the user's DN ends with */
    "  target_type TEXT NOT NULL," /* org | position | role */
    "  target_id INTEGER NOT NULL,"
    "  UNIQUE(match, target_type, target_id));"
    "CREATE TABLE kbs_new("
    /* AUTOINCREMENT: a deleted KB's id (a conversation's files) is never
     * handed out again, so nothing keyed by KB id can mistake a new KB for
     * the old one (the search index cache is keyed by id and generation). */
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL DEFAULT 'enterprise'," /* enterprise | personal | conversation */
    "  owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL DEFAULT 0,"
    "  ndocs INTEGER NOT NULL DEFAULT 0,"
    "  nchunks INTEGER NOT NULL DEFAULT 0,"
    "  nchars INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO kbs_new(id, name, kind, created_at, generation, ndocs, nchunks, nchars)"
    "  SELECT id, name, 'enterprise', created_at, generation, ndocs, nchunks, nchars FROM kbs;"
    "DROP TABLE kbs;"
    "ALTER TABLE kbs_new RENAME TO kbs;"
    "CREATE UNIQUE INDEX kbs_name ON kbs(name) WHERE owner_id IS NULL;"
    "CREATE UNIQUE INDEX kbs_owner_name ON kbs(owner_id, name) WHERE owner_id IS NOT NULL;"
    "CREATE INDEX kbs_by_name ON kbs(name);" /* lookups by name, either kind */
    "CREATE TABLE kb_acl("
    "  id INTEGER PRIMARY KEY,"
    "  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,"
    "  subject_type TEXT NOT NULL," /* org | position | role | user */
    "  subject_id INTEGER NOT NULL,"
    "  level INTEGER NOT NULL," /* 1 read, 2 write, 3 admin */
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(kb_id, subject_type, subject_id));"
    "CREATE INDEX kb_acl_subject ON kb_acl(subject_type, subject_id);"
    "CREATE TABLE doc_files("
    "  doc_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,"
    "  mime TEXT NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE TABLE audit_log("
    "  id INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL," /* unix milliseconds */
    "  user_id INTEGER NOT NULL DEFAULT 0,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL DEFAULT '',"
    "  detail TEXT NOT NULL DEFAULT '{}',"
    "  ip TEXT NOT NULL DEFAULT '',"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL);"
    "CREATE INDEX audit_user ON audit_log(user_id, id);"
    "CREATE INDEX audit_actor ON audit_log(actor, id);"
    "CREATE INDEX audit_action ON audit_log(action, id);"
    "CREATE INDEX audit_ts ON audit_log(ts);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",

    /* 3: the super assistant and the model gateway (issue #4): models and
     * their endpoints, every model call, conversations and messages,
     * feedback, FAQ pairs, the sensitive-word list. */
    "CREATE TABLE models("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"             /* what assistants and the API call it */
    "  purpose TEXT NOT NULL,"                 /* chat | embedding | rerank | asr */
    "  is_default INTEGER NOT NULL DEFAULT 0," /* the default for its purpose */
    "  params TEXT NOT NULL DEFAULT '{}',"     /* e.g. {"temperature":0.2} */
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE model_endpoints("
    "  id INTEGER PRIMARY KEY,"
    "  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
    "  url TEXT NOT NULL,"                /* base URL with /v1 */
    "  upstream_model TEXT NOT NULL,"     /* the name the server knows */
    "  api_key TEXT NOT NULL DEFAULT ''," /* never logged, never returned */
    "  max_concurrency INTEGER NOT NULL DEFAULT 16,"
    "  weight INTEGER NOT NULL DEFAULT 1,"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX model_endpoints_model ON model_endpoints(model_id);"
    "CREATE TABLE model_calls("
    "  id INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL," /* unix ms */
    "  model_id INTEGER NOT NULL DEFAULT 0,"
    "  endpoint_id INTEGER NOT NULL DEFAULT 0,"
    "  purpose TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL DEFAULT 0,"
    "  ok INTEGER NOT NULL,"
    "  first_token_ms REAL NOT NULL DEFAULT -1,"
    "  total_ms REAL NOT NULL DEFAULT 0,"
    "  prompt_tokens INTEGER NOT NULL DEFAULT -1,"
    "  completion_tokens INTEGER NOT NULL DEFAULT -1,"
    "  error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX model_calls_ts ON model_calls(ts);"
    "CREATE TABLE conversations("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  title TEXT NOT NULL DEFAULT '',"
    "  kbs TEXT NOT NULL DEFAULT '\"all\"'," /* JSON: "all" or [kb ids] */
    "  web INTEGER NOT NULL DEFAULT 0,"
    "  files_kb_id INTEGER REFERENCES kbs(id) ON DELETE SET NULL," /* its uploads */
    "  assistant TEXT NOT NULL DEFAULT '',"                        /* a model or agent name */
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX conversations_user ON conversations(user_id, updated_at);"
    "CREATE TABLE messages("
    "  id INTEGER PRIMARY KEY,"
    "  conv_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL," /* user | assistant */
    "  content TEXT NOT NULL,"
    "  query TEXT NOT NULL DEFAULT ''," /* the standalone question searched */
    "  citations TEXT NOT NULL DEFAULT '[]',"
    "  thinking TEXT NOT NULL DEFAULT '',"
    "  mode TEXT NOT NULL DEFAULT ''," /* model | extractive | faq | none */
    "  model TEXT NOT NULL DEFAULT '',"
    "  latency_ms REAL NOT NULL DEFAULT 0,"
    "  prompt_tokens INTEGER NOT NULL DEFAULT -1,"
    "  completion_tokens INTEGER NOT NULL DEFAULT -1,"
    "  status TEXT NOT NULL DEFAULT 'done'," /* streaming | done | stopped | failed */
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX messages_conv ON messages(conv_id, id);"
    "CREATE TABLE feedback("
    "  id INTEGER PRIMARY KEY,"
    "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL,"
    "  rating INTEGER NOT NULL," /* 1 = 👍, -1 = 👎 */
    "  comment TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL DEFAULT 'open'," /* open | resolved | dismissed */
    "  faq_id INTEGER NOT NULL DEFAULT 0,"   /* the FAQ entry that resolved it */
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(message_id, user_id));"
    "CREATE INDEX feedback_status ON feedback(status, id);"
    "CREATE TABLE faqs("
    "  id INTEGER PRIMARY KEY,"
    "  kb_id INTEGER NOT NULL REFERENCES kbs(id) ON DELETE CASCADE,"
    "  question TEXT NOT NULL,"
    "  answer TEXT NOT NULL,"
    "  source TEXT NOT NULL DEFAULT ''," /* e.g. 《办法》第十二条, or feedback:ID */
    "  created_by INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX faqs_kb ON faqs(kb_id);"
    "CREATE TABLE faq_questions("
    "  id INTEGER PRIMARY KEY,"
    "  faq_id INTEGER NOT NULL REFERENCES faqs(id) ON DELETE CASCADE,"
    "  question TEXT NOT NULL);" /* the similar questions */
    "CREATE INDEX faq_questions_faq ON faq_questions(faq_id);"
    "CREATE TABLE sensitive_words("
    "  id INTEGER PRIMARY KEY,"
    "  word TEXT NOT NULL UNIQUE,"
    "  action TEXT NOT NULL," /* block | mask */
    "  created_at INTEGER NOT NULL);",

    /* 4: digital employees (issue #5): agents and their immutable versions,
     * who may use them, the working-day calendar of the date tool, every
     * run traced step by step, evaluation sets, runs and results. */
    "CREATE TABLE agents("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"       /* [a-z0-9_-]: agent:<name> in the API */
    "  title TEXT NOT NULL,"             /* the display name, e.g. 柜面业务知识助手 */
    "  avatar TEXT NOT NULL DEFAULT ''," /* an emoji or a data: URL */
    "  description TEXT NOT NULL DEFAULT '',"
    "  domain TEXT NOT NULL DEFAULT '',"        /* 运营 风控 信贷 合规 客服 办公 … */
    "  template TEXT NOT NULL DEFAULT '',"      /* the template it was made from */
    "  minutes_saved REAL NOT NULL DEFAULT 5,"  /* per answered question, for analytics */
    "  gate_set_id INTEGER NOT NULL DEFAULT 0," /* the eval set of the quality gate */
    "  gate_min_score REAL NOT NULL DEFAULT 0," /* 0 = no gate */
    "  status TEXT NOT NULL DEFAULT 'draft',"   /* draft | published | retired */
    "  published_version INTEGER NOT NULL DEFAULT 0,"
    "  created_by INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE agent_versions("
    "  id INTEGER PRIMARY KEY,"
    "  agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"             /* 1, 2, … per agent */
    "  status TEXT NOT NULL DEFAULT 'draft'," /* draft | published | retired */
    "  spec TEXT NOT NULL,"                   /* JSON: see agents/spec.h */
    "  note TEXT NOT NULL DEFAULT '',"
    "  created_by INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  published_at INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(agent_id, version));"
    "CREATE TRIGGER agent_versions_frozen BEFORE UPDATE OF spec ON agent_versions"
    "  WHEN OLD.status <> 'draft'"
    "  BEGIN SELECT RAISE(ABORT, 'a published version is immutable'); END;"
    "CREATE TABLE agent_acl("
    "  id INTEGER PRIMARY KEY,"
    "  agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,"
    "  subject_type TEXT NOT NULL," /* all | org | position | role | user */
    "  subject_id INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(agent_id, subject_type, subject_id));"
    "CREATE INDEX agent_acl_subject ON agent_acl(subject_type, subject_id);"
    "CREATE TABLE calendar_days("
    "  day TEXT PRIMARY KEY," /* YYYY-MM-DD */
    "  kind TEXT NOT NULL,"   /* holiday | workday (a weekend made a working day) */
    "  name TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE agent_traces("
    "  id INTEGER PRIMARY KEY,"
    "  agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  user_id INTEGER NOT NULL DEFAULT 0,"
    "  conv_id INTEGER NOT NULL DEFAULT 0,"
    "  message_id INTEGER NOT NULL DEFAULT 0,"
    "  eval_run_id INTEGER NOT NULL DEFAULT 0," /* 0 = a real user's question */
    "  question TEXT NOT NULL,"
    "  mode TEXT NOT NULL DEFAULT '',"       /* model | extractive | none | blocked | error */
    "  answered INTEGER NOT NULL DEFAULT 0," /* 0 = the knowledge did not cover it */
    "  status TEXT NOT NULL DEFAULT 'done'," /* done | step_limit | time_limit | stopped | failed */
    "  steps INTEGER NOT NULL DEFAULT 0,"
    "  latency_ms REAL NOT NULL DEFAULT 0,"
    "  prompt_tokens INTEGER NOT NULL DEFAULT -1,"
    "  completion_tokens INTEGER NOT NULL DEFAULT -1,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX agent_traces_agent ON agent_traces(agent_id, created_at);"
    "CREATE INDEX agent_traces_message ON agent_traces(message_id);"
    "CREATE TABLE agent_trace_steps("
    "  id INTEGER PRIMARY KEY,"
    "  trace_id INTEGER NOT NULL REFERENCES agent_traces(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  kind TEXT NOT NULL," /* model | tool */
    "  tool TEXT NOT NULL DEFAULT '',"
    "  arguments TEXT NOT NULL DEFAULT '',"
    "  result_bytes INTEGER NOT NULL DEFAULT 0,"
    "  latency_ms REAL NOT NULL DEFAULT 0,"
    "  ok INTEGER NOT NULL DEFAULT 1,"
    "  error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX agent_trace_steps_trace ON agent_trace_steps(trace_id, seq);"
    "CREATE TABLE eval_sets("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(agent_id, name));"
    "CREATE TABLE eval_cases("
    "  id INTEGER PRIMARY KEY,"
    "  set_id INTEGER NOT NULL REFERENCES eval_sets(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  question TEXT NOT NULL,"
    "  expect TEXT NOT NULL);" /* JSON: {"keywords":[…],"citations":[…],"refuse":bool} */
    "CREATE INDEX eval_cases_set ON eval_cases(set_id, seq);"
    "CREATE TABLE eval_runs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  set_id INTEGER NOT NULL REFERENCES eval_sets(id) ON DELETE CASCADE,"
    "  status TEXT NOT NULL DEFAULT 'queued'," /* queued | running | done | failed | cancelled */
    "  total INTEGER NOT NULL DEFAULT 0,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  scores TEXT NOT NULL DEFAULT '{}',"
    "  error TEXT NOT NULL DEFAULT '',"
    "  no_model INTEGER NOT NULL DEFAULT 0,"
    "  created_by INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL DEFAULT 0,"
    "  finished_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX eval_runs_agent ON eval_runs(agent_id, version, id);"
    "CREATE TABLE eval_results("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,"
    "  case_id INTEGER NOT NULL,"
    "  answer TEXT NOT NULL DEFAULT '',"
    "  citations TEXT NOT NULL DEFAULT '[]',"
    "  keyword_score REAL NOT NULL DEFAULT 0,"   /* share of the keywords shown */
    "  citation_ok INTEGER NOT NULL DEFAULT -1," /* -1 = the case names no citation */
    "  refusal_ok INTEGER NOT NULL DEFAULT -1,"  /* -1 = not a refusal case */
    "  score REAL NOT NULL DEFAULT 0,"
    "  passed INTEGER NOT NULL DEFAULT 0,"
    "  latency_ms REAL NOT NULL DEFAULT 0,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  question TEXT NOT NULL DEFAULT ''," /* the case as it was run: a set edited */
    "  expect TEXT NOT NULL DEFAULT '{}'," /* later does not change past results */
    "  UNIQUE(run_id, case_id));",
};

int db_schema_version(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

int db_user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sql failed: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return RC_DB;
    }
    return RC_OK;
}

int db_begin(sqlite3 *db)
{
    return db_exec(db, "BEGIN IMMEDIATE");
}

int db_commit(sqlite3 *db)
{
    return db_exec(db, "COMMIT");
}

void db_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int db_tx_begin(sqlite3 *db, struct db_tx *tx)
{
    tx->nested = !sqlite3_get_autocommit(db);
    return db_exec(db, tx->nested ? "SAVEPOINT unit" : "BEGIN IMMEDIATE");
}

int db_tx_end(sqlite3 *db, struct db_tx *tx, int ok)
{
    if (tx->nested) {
        if (ok)
            return db_exec(db, "RELEASE unit");
        sqlite3_exec(db, "ROLLBACK TO unit; RELEASE unit", NULL, NULL, NULL);
        return RC_OK;
    }
    if (ok)
        return db_commit(db);
    db_rollback(db);
    return RC_OK;
}

/* Non-zero when a migration left a row pointing at nothing. */
static int foreign_keys_broken(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int broken = 1;
    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) == SQLITE_OK)
        broken = sqlite3_step(st) != SQLITE_DONE;
    sqlite3_finalize(st);
    if (broken)
        log_error("migration left dangling foreign keys");
    return broken;
}

static int migrate(sqlite3 *db, struct buf *err)
{
    int have = db_user_version(db);
    int want = db_schema_version();
    if (have < 0) {
        buf_addf(err, "无法读取数据库版本 / cannot read schema version: %s", sqlite3_errmsg(db));
        return RC_DB;
    }
    if (have > want) {
        buf_addf(err, "数据库版本 %d 高于本程序支持的 %d / database is newer than this build", have,
                 want);
        return RC_DB;
    }
    if (have == want)
        return RC_OK;
    /* Rebuilding a table (migration 2 does) needs foreign keys off, or
     * dropping the old table would cascade; the pragma is a no-op inside a
     * transaction, so it is set around them, and the keys are checked
     * before each commit. */
    if (db_exec(db, "PRAGMA foreign_keys = OFF"))
        goto fail;
    for (int v = have; v < want; v++) {
        if (db_begin(db))
            goto fail;
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (db_exec(db, migrations[v]) || foreign_keys_broken(db) || db_exec(db, pragma) ||
            db_commit(db)) {
            db_rollback(db);
            goto fail;
        }
        log_info("store migrated to schema %d", v + 1);
    }
    if (db_exec(db, "PRAGMA foreign_keys = ON"))
        goto fail;
    return RC_OK;
fail:
    buf_addf(err, "数据库迁移失败 / migration failed: %s", sqlite3_errmsg(db));
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    return RC_DB;
}

/* Waits for another connection's write lock. SQLite's own busy timeout
 * sleeps up to 100 ms between tries, so under a burst of writers (hundreds
 * of answers storing their messages at once) most of the wait is sleep
 * after the lock was already free. This one tries again after 50 µs,
 * doubling to at most 2 ms, and gives up after about 10 s (RC_DB). */
static int busy_wait(void *ctx, int n)
{
    (void)ctx;
    long us = n < 6 ? 50L << n : 2000;
    if (n > 5000)
        return 0;
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

/* Before SQLite's first use in the process: no memory statistics. With them
 * on (SQLite's default) every allocation of every connection takes one
 * process-wide mutex, and a server's connections work in parallel threads.
 * Nothing here reads sqlite3_memory_used(). */
static void sqlite_config_once(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        log_warn("store: SQLite was initialised already: its memory statistics stay on");
}

int db_open(const char *path, sqlite3 **out, struct buf *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, sqlite_config_once);
    sqlite3 *db = NULL;
    *out = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        buf_addf(err, "无法打开数据库 / cannot open database %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return RC_IO;
    }
    sqlite3_busy_handler(db, busy_wait, NULL);
    int rc = RC_DB;
    if (db_exec(db, "PRAGMA journal_mode = WAL") || db_exec(db, "PRAGMA foreign_keys = ON") ||
        db_exec(db, "PRAGMA synchronous = NORMAL")) {
        buf_addf(err, "无法设置数据库 / cannot configure database: %s", sqlite3_errmsg(db));
        goto fail;
    }
    if (fts_register_tokenizer(db)) {
        buf_addf(err, "无法注册分词器 / cannot register tokenizer");
        goto fail;
    }
    rc = migrate(db, err);
    if (rc)
        goto fail;
    *out = db;
    return RC_OK;
fail:
    sqlite3_close(db);
    return rc;
}

void db_close(sqlite3 *db)
{
    sqlite3_close(db);
}

struct db_entry {
    const char *sql;
    sqlite3_stmt *st;
};

struct db_cache {
    sqlite3 *db;
    struct db_entry *a;
    size_t n, cap;
};

struct db_cache *db_cache_new(sqlite3 *db)
{
    struct db_cache *c = xcalloc(1, sizeof *c);
    c->db = db;
    return c;
}

void db_cache_free(struct db_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        sqlite3_finalize(c->a[i].st);
    free(c->a);
    free(c);
}

sqlite3_stmt *db_stmt(struct db_cache *c, const char *sql)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->a[i].sql == sql) {
            sqlite3_reset(c->a[i].st);
            sqlite3_clear_bindings(c->a[i].st);
            return c->a[i].st;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_error("prepare failed: %s", sqlite3_errmsg(c->db));
        return NULL;
    }
    c->a = xgrow(c->a, &c->cap, c->n + 1, sizeof *c->a);
    c->a[c->n++] = (struct db_entry){sql, st};
    return st;
}

char *db_col_str(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return xstrdup(t ? (const char *)t : "");
}
