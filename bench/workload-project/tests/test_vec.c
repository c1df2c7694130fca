#include "check.h"
#include "vec.h"

int main(void)
{
	struct vec a;
	long x;

	vec_init(&a);
	CHECK(vec_pop(&a, &x) < 0);
	for (long i = 1; i <= 100; i++)
		CHECK(vec_push(&a, i) == 0);
	CHECK(a.len == 100 && vec_sum(&a) == 5050);
	CHECK(vec_pop(&a, &x) == 0 && x == 100 && a.len == 99);
	vec_release(&a);
	CHECK_DONE();
}
