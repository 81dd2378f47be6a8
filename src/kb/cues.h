/* Question-type cues: what kind of answer a question asks for (a definition,
 * a quantity or time limit, a penalty) and whether a chunk's text can give
 * that kind of answer. Search boosts chunks whose cues match the question's,
 * a light, model-free form of answer-type matching. */
#ifndef ATRIUM_CUES_H
#define ATRIUM_CUES_H

#include <stddef.h>

enum cue {
    CUE_DEFINITION = 1, /* "什么叫…" ↔ "本法所称…是指…" */
    CUE_QUANTITY = 2,   /* "几天/多少/多久" ↔ "五日内", "5年", "百分之二十" */
    CUE_PENALTY = 4,    /* "怎么处罚" ↔ "处…罚款", "有期徒刑" */
};

/* The cues a question asks for (folded text). */
unsigned cue_question(const char *q, size_t n);
/* The cues a chunk's text can answer (folded or original text). */
unsigned cue_chunk(const char *text, size_t n);

/* When the chunk defines a term that the question names ("本条例所称非法集资，
 * 是指…" for "什么叫非法集资"), the length in bytes of the longest such term,
 * else 0. Terms shorter than two CJK characters are ignored. Both strings
 * NUL-terminated; the question folded. */
size_t cue_defines(const char *text, const char *question);

#endif
