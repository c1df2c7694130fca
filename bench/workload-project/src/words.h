#ifndef WL_WORDS_H
#define WL_WORDS_H
#include "hashmap.h"
#include <stddef.h>
/* Counts the words (runs of letters, lower-cased) of text into m; returns
 * the number of words, or -1 when out of memory. */
long words_count(const char *text, struct hashmap *m);
/* The n most frequent words of m, most frequent first (ties by name). */
size_t words_top(struct hashmap *m, struct hm_entry *out, size_t n);
#endif
