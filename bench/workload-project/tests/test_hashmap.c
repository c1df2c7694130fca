#include "check.h"
#include "hashmap.h"
#include <stdio.h>

int main(void)
{
	struct hashmap m;
	char k[32];

	hashmap_init(&m);
	CHECK(hashmap_get(&m, "none") == NULL);
	for (long i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key%ld", i);
		CHECK(hashmap_put(&m, k, i * 3) == 0);
	}
	CHECK(m.len == 5000);
	for (long i = 0; i < 5000; i += 7) {
		snprintf(k, sizeof(k), "key%ld", i);
		long *v = hashmap_get(&m, k);
		CHECK(v && *v == i * 3);
	}
	CHECK(hashmap_add(&m, "key1", 10) == 0 && *hashmap_get(&m, "key1") == 13);
	CHECK(hashmap_add(&m, "new", 2) == 0 && *hashmap_get(&m, "new") == 2);
	CHECK(hashmap_hash("a") != hashmap_hash("b"));
	hashmap_release(&m);
	CHECK_DONE();
}
