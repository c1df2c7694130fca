/* rpncalc: evaluates each line of stdin as a reverse Polish expression. */
#include "rpn.h"
#include <stdio.h>

int main(void)
{
	char line[1024];
	int rc = 0;
	long r;

	while (fgets(line, sizeof(line), stdin)) {
		if (rpn_eval(line, &r) < 0) {
			printf("error\n");
			rc = 1;
		} else {
			printf("%ld\n", r);
		}
	}
	return rc;
}
