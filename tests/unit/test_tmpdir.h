/* Temporary directories of the unit tests: removed whole after each fixture. */
#ifndef TEST_TMPDIR_H
#define TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int test_tmpdir_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* rm -rf dir (does not follow symlinks out of it). */
static inline void test_tmpdir_remove(const char *dir)
{
	nftw(dir, test_tmpdir_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
