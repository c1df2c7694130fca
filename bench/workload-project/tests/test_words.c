#include "check.h"
#include "hashmap.h"
#include "words.h"
#include <string.h>

int main(void)
{
	struct hm_entry top[3];
	struct hashmap m;

	hashmap_init(&m);
	CHECK(words_count("The cat and the hat; THE end. And a cat!", &m) == 10);
	CHECK(*hashmap_get(&m, "the") == 3 && *hashmap_get(&m, "cat") == 2);
	CHECK(words_top(&m, top, 3) == 3);
	CHECK(!strcmp(top[0].key, "the") && top[0].val == 3);
	CHECK(!strcmp(top[1].key, "and") && !strcmp(top[2].key, "cat")); /* ties by name */
	hashmap_release(&m);
	CHECK_DONE();
}
