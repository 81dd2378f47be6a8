/* Feedback on the assistant's answers (table feedback, migration 3): 👍/👎
 * with a comment, the review queue of 👎 answers where KB admins turn a bad
 * answer into a corrected FAQ entry (kb/faq.h) or dismiss it, and the daily
 * up/down series for the dashboard.
 *
 * Permissions are the caller's, except ownership of the rated message: a user
 * rates only answers in their own conversations. Times are unix seconds. */
#ifndef ATRIUM_ASSIST_FEEDBACK_H
#define ATRIUM_ASSIST_FEEDBACK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/db.h"

#define FEEDBACK_COMMENT_MAX 2000 /* bytes of a comment */
#define FEEDBACK_PAGE_MAX 200     /* the largest page of the queue */
#define FEEDBACK_DAYS_MAX 366     /* the longest daily series */

/* Records user_id's rating of assistant message msg_id: rating +1 (👍) or
 * -1 (👎), comment NULL or up to FEEDBACK_COMMENT_MAX bytes of valid UTF-8.
 * One per user per message: a second call replaces the rating and comment
 * and reopens the item (status 'open', faq_id 0). *id (may be NULL) gets the
 * feedback id (the same one on replacement). RC_INVALID (rating, comment),
 * RC_NOT_FOUND (no such message, not an assistant message, or not in a
 * conversation of user_id), RC_DB. */
int feedback_record(struct db_conn *c, int64_t user_id, int64_t msg_id, int rating,
                    const char *comment, int64_t *id, struct buf *err);
/* Removes user_id's rating of msg_id (un-voting). RC_NOT_FOUND when none. */
int feedback_remove(struct db_conn *c, int64_t user_id, int64_t msg_id);

/* A queue item as JSON: {"id","message_id","conversation_id","rating",
 *  "comment","status","faq_id"|null,"created_at","user":{"id","username",
 *  "display_name"},"question" (the previous user message of the
 *  conversation, "" when none),"query" (its standalone question),"answer",
 *  "citations":[…],"mode","kb_ids":[the KBs cited, then the KBs the
 *  conversation searched when it named them]}. */

struct feedback_list_opts {
    const int64_t *kb_ids; /* only items whose message cited or searched one
                              of these KBs; NULL: every item */
    size_t nkb;
    const char *status; /* "open" (NULL), "resolved", "dismissed" or "all" */
    int rating;         /* -1 (0: the default, the review queue), +1, or 2: both */
    int64_t before_id;  /* paging: items with id < before_id (0: from the newest) */
    int64_t limit;      /* 1..FEEDBACK_PAGE_MAX (0: 50) */
};
/* {"items":[item…], "next_before_id":id|null}: newest first. With
 * opts NULL: the open 👎 queue, every KB, 50 items. RC_INVALID (status,
 * rating, limit), RC_DB. */
int feedback_list(struct db_conn *c, const struct feedback_list_opts *o, json_t **out);
/* One item (any status or rating) as above. RC_NOT_FOUND, RC_DB. The
 * caller checks with its "kb_ids" that the reviewer may see it. */
int feedback_get(struct db_conn *c, int64_t id, json_t **out);

/* Resolves open item id by creating a corrected FAQ in kb_id, in one
 * transaction: answer is the corrected answer (required); question, when
 * non-empty, becomes the standard question and the original question a
 * similar one; when NULL or empty the original question is the standard
 * question. The FAQ's source is "feedback:<id>", its created_by
 * reviewer_id. The item becomes 'resolved' with faq_id; *faq_id (may be
 * NULL) gets it. RC_NOT_FOUND (no such item or KB), RC_INVALID (not open,
 * no original question and none given, bad answer: a message in err),
 * RC_DB. */
int feedback_resolve(struct db_conn *c, int64_t id, int64_t kb_id, const char *question,
                     const char *answer, int64_t reviewer_id, int64_t *faq_id, struct buf *err);
/* Dismisses open item id (status 'dismissed'). RC_NOT_FOUND, RC_INVALID
 * (not open), RC_DB. */
int feedback_dismiss(struct db_conn *c, int64_t id, struct buf *err);

/* The daily series for the dashboard: {"days":[{"day":"YYYY-MM-DD","up",
 * "down","up_rate":up/(up+down)|null}…], "up","down","up_rate"} for every
 * day from the day of since to the day of until (inclusive, zeros filled),
 * days taken in the local time tz_offset_s seconds east of UTC (China:
 * 8*3600). Counts feedback by its created_at. RC_INVALID (until < since, or
 * more than FEEDBACK_DAYS_MAX days), RC_DB. */
int feedback_daily(struct db_conn *c, int64_t since, int64_t until, int tz_offset_s, json_t **out);

#endif
