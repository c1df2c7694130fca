#include "rpn.h"
#include "vec.h"
#include <ctype.h>
#include <stdlib.h>

int rpn_eval(const char *expr, long *result)
{
	struct vec st;
	int rc = -1;

	vec_init(&st);
	while (*expr) {
		long a, b;
		char *end;

		if (isspace((unsigned char)*expr)) {
			expr++;
			continue;
		}
		if (isdigit((unsigned char)*expr) ||
		    (*expr == '-' && isdigit((unsigned char)expr[1]))) {
			if (vec_push(&st, strtol(expr, &end, 10)) < 0)
				goto out;
			expr = end;
			continue;
		}
		if (vec_pop(&st, &b) < 0 || vec_pop(&st, &a) < 0)
			goto out;
		switch (*expr++) {
		case '+': a += b; break;
		case '-': a -= b; break;
		case '*': a *= b; break;
		case '/': if (!b) goto out; a /= b; break;
		case '%': if (!b) goto out; a %= b; break;
		default: goto out;
		}
		if (vec_push(&st, a) < 0)
			goto out;
	}
	if (st.len == 1) {
		*result = st.v[0];
		rc = 0;
	}
out:
	vec_release(&st);
	return rc;
}
