#include "check.h"
#include "csv.h"
#include <string.h>

int main(void)
{
	char l1[] = "a,b,,\"c,d\",\"say \"\"hi\"\"\"\n";
	char l2[] = "\"open";
	char l3[] = "x,y,z";
	char *f[8];

	CHECK(csv_split(l1, f, 8) == 5);
	CHECK(!strcmp(f[0], "a") && !strcmp(f[1], "b") && !strcmp(f[2], ""));
	CHECK(!strcmp(f[3], "c,d") && !strcmp(f[4], "say \"hi\""));
	CHECK(csv_split(l2, f, 8) == -1);
	CHECK(csv_split(l3, f, 2) == 2 && !strcmp(f[0], "x"));
	CHECK_DONE();
}
