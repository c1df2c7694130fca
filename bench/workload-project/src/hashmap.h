#ifndef WL_HASHMAP_H
#define WL_HASHMAP_H
#include <stddef.h>
/* String -> long map with open addressing; keys are copied. */
struct hm_entry { char *key; long val; };
struct hashmap { struct hm_entry *tab; size_t cap, len; };
void hashmap_init(struct hashmap *m);
void hashmap_release(struct hashmap *m);
int hashmap_put(struct hashmap *m, const char *key, long val);
long *hashmap_get(struct hashmap *m, const char *key);
int hashmap_add(struct hashmap *m, const char *key, long delta);
unsigned long hashmap_hash(const char *s);
#endif
