/* The default banking synonym dictionary every new knowledge base starts
 * with: groups of terms that counter staff and the regulations use for the
 * same thing (取钱 / 支取, 基本户 / 基本存款账户). Query expansion only;
 * see synonyms_default.c for how the groups are used and extended. */
#ifndef ATRIUM_SYNONYMS_DEFAULT_H
#define ATRIUM_SYNONYMS_DEFAULT_H

#include <stddef.h>

/* NULL-terminated array of synonym groups. Each group is one static UTF-8
 * string of 2–32 space-separated terms (single ASCII spaces, no leading or
 * trailing space); no term holds whitespace or is longer than 32 code
 * points, and after search folding (text/norm.h) no term appears in two
 * groups. Read-only, valid for the life of the process. */
extern const char *const kb_default_synonyms[];

/* Number of groups in kb_default_synonyms (the NULL terminator not
 * counted). Never fails. */
size_t kb_default_synonyms_count(void);

#endif
