#ifndef WL_CSV_H
#define WL_CSV_H
#include <stddef.h>
/* Splits one CSV line (RFC 4180 quoting) in place into at most max fields;
 * returns the number of fields, or -1 on an unterminated quote. */
int csv_split(char *line, char **fields, int max);
#endif
