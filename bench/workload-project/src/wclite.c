/* wclite: the most frequent words of stdin ("count word" lines). */
#include "hashmap.h"
#include "strbuf.h"
#include "words.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	struct hm_entry top[64];
	struct hashmap m;
	struct strbuf in;
	char buf[4096];
	size_t n, k;
	int want = argc > 1 ? atoi(argv[1]) : 10;

	if (want < 1 || want > 64)
		want = 10;
	strbuf_init(&in);
	hashmap_init(&m);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (strbuf_add(&in, buf, n) < 0)
			return 1;
	if (words_count(in.buf, &m) < 0)
		return 1;
	k = words_top(&m, top, (size_t)want);
	for (size_t i = 0; i < k; i++)
		printf("%ld %s\n", top[i].val, top[i].key);
	hashmap_release(&m);
	strbuf_release(&in);
	return 0;
}
