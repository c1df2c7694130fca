#include "check.h"
#include "path.h"
#include <string.h>

static int norm_is(const char *in, const char *want)
{
	char out[256];

	return path_normalize(in, out, sizeof(out)) == 0 && !strcmp(out, want);
}

int main(void)
{
	char out[16];

	CHECK(norm_is("/a/b/../c/./d/", "/a/c/d"));
	CHECK(norm_is("a//b", "a/b"));
	CHECK(norm_is("/../x", "/x"));
	CHECK(norm_is("../x/..", ".."));
	CHECK(norm_is(".", "."));
	CHECK(norm_is("/", "/"));
	CHECK(path_normalize("/abcdefghijklmnopqrstuvwxyz", out, sizeof(out)) == -1);
	CHECK(path_join("/usr/", "/include", out, sizeof(out)) == 0 && !strcmp(out, "/usr/include"));
	CHECK(path_join("/", "etc", out, sizeof(out)) == 0 && !strcmp(out, "/etc"));
	CHECK(path_join("/a-long-directory", "name", out, sizeof(out)) == -1);
	CHECK(!strcmp(path_base("/a/b/c.h"), "c.h") && !strcmp(path_base("c"), "c"));
	CHECK_DONE();
}
