#include "check.h"
#include "rpn.h"

int main(void)
{
	long r;

	CHECK(rpn_eval("3 4 + 2 *", &r) == 0 && r == 14);
	CHECK(rpn_eval("-5 3 -", &r) == 0 && r == -8);
	CHECK(rpn_eval("17 5 % 10 *", &r) == 0 && r == 20);
	CHECK(rpn_eval("1 0 /", &r) == -1);
	CHECK(rpn_eval("1 +", &r) == -1);
	CHECK(rpn_eval("1 2", &r) == -1);
	CHECK(rpn_eval("2 3 ^", &r) == -1);
	CHECK_DONE();
}
