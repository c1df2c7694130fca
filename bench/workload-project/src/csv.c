#include "csv.h"

int csv_split(char *line, char **fields, int max)
{
	char *r = line, *w = line;
	int n = 0;

	for (;;) {
		if (n == max)
			return n;
		fields[n++] = w;
		if (*r == '"') {
			r++;
			for (;;) {
				if (!*r)
					return -1;
				if (*r == '"') {
					if (r[1] == '"') {
						*w++ = '"';
						r += 2;
						continue;
					}
					r++;
					break;
				}
				*w++ = *r++;
			}
		}
		while (*r && *r != ',' && *r != '\n')
			*w++ = *r++;
		if (*r != ',') {
			*w = 0;
			return n;
		}
		r++;
		*w++ = 0;
	}
}
