/* Conversations of the super assistant and their messages (tables
 * conversations and messages, migration 3): create, list, rename, settings,
 * delete (with the conversation's files KB), Markdown export, the message
 * lifecycle of a streamed answer, history for rewriting, regenerate.
 *
 * Ownership is in every query: each function takes the owner's user id and
 * a conversation (or message) of another user is RC_NOT_FOUND, exactly as
 * one that does not exist. Times are unix seconds. Messages hold the text
 * as shown to the user (PII is masked only on the way to models). */
#ifndef ATRIUM_ASSIST_CONV_H
#define ATRIUM_ASSIST_CONV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/db.h"

#define CONV_TITLE_MAX 100      /* characters of a title set by the user */
#define CONV_AUTO_TITLE 30      /* characters kept from the first question */
#define CONV_TEXT_MAX (1 << 20) /* bytes of one message's content */
#define CONV_ASSISTANT_MAX 128  /* bytes of an assistant name */
#define CONV_KBS_MAX 256        /* KB ids in a selection */
#define CONV_PAGE_MAX 200       /* the largest page of a list */

struct conv {
    int64_t id, user_id;
    char *title;         /* "" until set */
    char *kbs;           /* normalised JSON text: "\"all\"" or "[1,2]" */
    int web;             /* 0/1 */
    int64_t files_kb_id; /* 0 when none */
    char *assistant;     /* "" = the default */
    int64_t created_at, updated_at;
    int64_t last_message_at; /* 0 when there is no message */
    int64_t nmessages;
};
/* Frees the strings; the struct may be reused (zeroed). */
void conv_release(struct conv *c);

/* What a new conversation starts with. NULL strings mean the defaults:
 * title "", kbs "all", assistant "". */
struct conv_new {
    const char *title;
    const char *kbs; /* JSON text: "all" (quoted) or an array of KB ids */
    int web;
    const char *assistant;
};

/* Validates and normalises a KB selection: the JSON string "all" or an
 * array of at most CONV_KBS_MAX positive integer ids (duplicates dropped,
 * order kept). On success *norm (malloc'd, caller frees) is compact JSON.
 * RC_INVALID with a message otherwise. Does NOT check that the KBs exist or
 * may be read: the answering part filters by permission when it searches. */
int conv_kbs_normalise(const char *json, char **norm, struct buf *err);
/* Parses a normalised selection: *all = 1 for "all" (ids NULL, n 0), else
 * *ids (malloc'd, caller frees; NULL when n is 0) and *n. RC_INVALID. */
int conv_kbs_parse(const char *json, int *all, int64_t **ids, size_t *n);

/* Creates a conversation owned by user_id. RC_INVALID (title, kbs,
 * assistant: a message in err), RC_NOT_FOUND (no such user), RC_DB. */
int conv_create(struct db_conn *d, int64_t user_id, const struct conv_new *p, int64_t *id,
                struct buf *err);
/* Loads one conversation of user_id into *out (zeroed first; release it).
 * RC_NOT_FOUND, RC_DB. */
int conv_get(struct db_conn *d, int64_t user_id, int64_t id, struct conv *out);
/* {"conversations":[conv_json…], "total":n, "offset":o, "limit":l}: the
 * user's conversations, most recently updated first (then newest id).
 * limit 1..CONV_PAGE_MAX (0: 50), offset >= 0, else RC_INVALID. */
int conv_list(struct db_conn *d, int64_t user_id, int64_t offset, int64_t limit, json_t **out);
/* Sets the title (1..CONV_TITLE_MAX characters of valid UTF-8 after trimming
 * spaces; line breaks and control characters are refused). RC_INVALID,
 * RC_NOT_FOUND. */
int conv_rename(struct db_conn *d, int64_t user_id, int64_t id, const char *title, struct buf *err);
/* Changes the settings: kbs (NULL: unchanged; validated as above), web
 * (-1: unchanged, else 0/1), assistant (NULL: unchanged). RC_INVALID,
 * RC_NOT_FOUND. */
int conv_update(struct db_conn *d, int64_t user_id, int64_t id, const char *kbs, int web,
                const char *assistant, struct buf *err);
/* Links the conversation's files KB (a kbs row of kind 'conversation'
 * created by the upload part; kb_id 0 unlinks). RC_INVALID when kb_id is not
 * a conversation KB owned by user_id, RC_NOT_FOUND. */
int conv_set_files_kb(struct db_conn *d, int64_t user_id, int64_t id, int64_t kb_id,
                      struct buf *err);
/* Deletes the conversation, its messages (cascade) and its files KB (the
 * kbs row of kind 'conversation' owned by user_id: its documents, chunks and
 * vectors cascade; the chunks are first removed from the full-text indexes).
 * One transaction. RC_NOT_FOUND, RC_DB. */
int conv_delete(struct db_conn *d, int64_t user_id, int64_t id);
/* Appends the conversation as Markdown to out: "# title", the export time,
 * then per message "### 用户 (time)" / "### 助手 (time)", the text, and for
 * an answer its citations as footnotes "[1] 《…》第十二条" (web: title and
 * URL). Times are local time "YYYY-MM-DD HH:MM". Streaming messages are
 * skipped; a stopped or failed answer is marked. RC_NOT_FOUND, RC_TOO_BIG
 * (out's max), RC_DB. */
int conv_export_md(struct db_conn *d, int64_t user_id, int64_t id, struct buf *out);
/* {"id","title","kbs":"all"|[ids],"web":bool,"files_kb_id":id|null,
 *  "assistant","created_at","updated_at","last_message_at":t|null,
 *  "messages":n}. New reference. */
json_t *conv_json(const struct conv *c);

/* The title made from a first question: spaces and line breaks collapsed,
 * trimmed, cut to CONV_AUTO_TITLE characters on a character boundary with
 * "…" appended when cut. malloc'd; "" for an empty question. */
char *conv_title_from_question(const char *q);

/* ---- messages ---- */

struct conv_msg {
    int64_t id, conv_id;
    char *role;      /* user | assistant */
    char *content;   /* as shown to the user */
    char *query;     /* user: the standalone question searched ("" until set) */
    char *citations; /* JSON array text, "[]" when none */
    char *thinking, *mode, *model;
    double latency_ms;
    int64_t prompt_tokens, completion_tokens; /* -1 unknown */
    char *status;                             /* streaming | done | stopped | failed */
    int64_t created_at;
};
void conv_msg_release(struct conv_msg *m);

/* Appends a user message (content: 1..CONV_TEXT_MAX bytes of valid UTF-8,
 * not only spaces). query is the standalone question (NULL: "", set it later
 * with conv_msg_set_query). When the conversation has no title it gets
 * conv_title_from_question(content). Bumps updated_at. RC_INVALID,
 * RC_NOT_FOUND, RC_BUSY (an answer is still streaming in it), RC_DB. */
int conv_msg_add_user(struct db_conn *d, int64_t user_id, int64_t conv_id, const char *content,
                      const char *query, int64_t *msg_id, struct buf *err);
/* Records the standalone question of a user message. RC_NOT_FOUND (not a
 * user message of a conversation of user_id), RC_INVALID. */
int conv_msg_set_query(struct db_conn *d, int64_t user_id, int64_t msg_id, const char *query);
/* Starts an assistant message: content "", status 'streaming', model
 * (NULL: ""). Bumps updated_at. RC_NOT_FOUND, RC_DB. */
int conv_msg_start(struct db_conn *d, int64_t user_id, int64_t conv_id, const char *model,
                   int64_t *msg_id);

/* How an answer ended. NULL strings: "" (citations: "[]"); tokens -1 unknown. */
struct conv_finish {
    const char *status; /* done | stopped | failed (required) */
    const char *content;
    const json_t *citations; /* an array (e.g. kb_citations_json); NULL: [] */
    const char *thinking;
    const char *mode;  /* model | extractive | faq | none | web … */
    const char *model; /* NULL: keep what conv_msg_start recorded */
    double latency_ms;
    int64_t prompt_tokens, completion_tokens;
};
/* Finishes a streaming assistant message of user_id. RC_NOT_FOUND (no such
 * message, not the user's, not an assistant message), RC_INVALID (bad
 * status, citations not a JSON array, content not UTF-8 or too big), RC_BUSY
 * (already finished: a stop and a done raced; the first one wins). */
int conv_msg_finish(struct db_conn *d, int64_t user_id, int64_t msg_id, const struct conv_finish *f,
                    struct buf *err);
/* Marks every 'streaming' message 'failed' (at start-up: answers whose
 * process died). Sets *n to the number changed when n is not NULL. */
int conv_msg_fail_streaming(struct db_conn *d, int64_t *n);
/* Loads one message of a conversation of user_id (zeroed first).
 * RC_NOT_FOUND. */
int conv_msg_get(struct db_conn *d, int64_t user_id, int64_t msg_id, struct conv_msg *out);
/* {"messages":[conv_msg_json…], "total":n, "offset":o, "limit":l}, oldest
 * first. limit 1..CONV_PAGE_MAX (0: 50). RC_INVALID, RC_NOT_FOUND. */
int conv_messages(struct db_conn *d, int64_t user_id, int64_t conv_id, int64_t offset,
                  int64_t limit, json_t **out);
/* {"id","conversation_id","role","content","query","citations":[…],
 *  "thinking","mode","model","latency_ms","prompt_tokens","completion_tokens",
 *  "status","created_at"}. New reference. */
json_t *conv_msg_json(const struct conv_msg *m);

/* ---- history and regenerate ---- */

/* One turn: a user question and the answer that followed it. */
struct conv_turn {
    int64_t user_msg_id;
    char *question; /* what the user typed */
    char *query;    /* the standalone question searched; = question when none */
    char *answer;   /* the last done/stopped answer's content; "" when none */
};
struct conv_history {
    struct conv_turn *turns; /* oldest first */
    size_t n;
};
void conv_history_release(struct conv_history *h);
/* The last max_turns turns of the conversation, only from messages with
 * id < before_msg_id (0: all), so that the question being answered is not
 * its own history. *out is zeroed first. RC_NOT_FOUND, RC_DB. */
int conv_history(struct db_conn *d, int64_t user_id, int64_t conv_id, size_t max_turns,
                 int64_t before_msg_id, struct conv_history *out);

/* Prepares a regenerate: finds the last user message and DELETES the
 * assistant messages after it (their feedback goes with them by cascade).
 * *user_msg_id gets its id; *question and *query (malloc'd, either may be
 * NULL when not wanted) its content and standalone query ("" when none).
 * RC_NOT_FOUND (no conversation, or no user message in it), RC_BUSY (an
 * answer is still streaming: stop it first), RC_DB. */
int conv_regenerate(struct db_conn *d, int64_t user_id, int64_t conv_id, int64_t *user_msg_id,
                    char **question, char **query);

#endif
