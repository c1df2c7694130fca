#include "msort.h"
#include <stdlib.h>
#include <string.h>

static void merge(char *a, char *tmp, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	merge(a, tmp, mid, size, cmp);
	merge(a + mid * size, tmp, n - mid, size, cmp);
	while (i < mid && j < n) {
		if (cmp(a + j * size, a + i * size) < 0)
			memcpy(tmp + k++ * size, a + j++ * size, size);
		else
			memcpy(tmp + k++ * size, a + i++ * size, size);
	}
	while (i < mid)
		memcpy(tmp + k++ * size, a + i++ * size, size);
	while (j < n)
		memcpy(tmp + k++ * size, a + j++ * size, size);
	memcpy(a, tmp, n * size);
}

int msort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *tmp = malloc(n * size + 1);

	if (!tmp)
		return -1;
	merge(base, tmp, n, size, cmp);
	free(tmp);
	return 0;
}
