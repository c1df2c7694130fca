/* Fault injection points (see chunkd_fault.h); test builds only. */
#include "chunkd_fault.h"

#ifdef GODFS_FAULT_INJECTION

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAULT_MAX 8

struct fault {
	char point[32];
	long nth;          /* exit at this hit */
	int power;         /* simulate a power loss first */
	atomic_long hits;
};

static struct fault faults[FAULT_MAX];
static int n_faults;
static pthread_once_t parsed = PTHREAD_ONCE_INIT;

/* Reads GODFS_FAULT once; a malformed entry is ignored (and said so). */
static void parse(void)
{
	const char *env = getenv("GODFS_FAULT");
	char buf[512], *save = NULL;

	if (!env || !*env)
		return;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *tok = strtok_r(buf, ",", &save); tok && n_faults < FAULT_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		struct fault *f = &faults[n_faults];
		char *c1 = strchr(tok, ':'), *c2;

		if (!c1 || c1 == tok || (size_t)(c1 - tok) >= sizeof(f->point)) {
			fprintf(stderr, "GODFS_FAULT: ignoring \"%s\"\n", tok);
			continue;
		}
		memcpy(f->point, tok, (size_t)(c1 - tok));
		f->point[c1 - tok] = '\0';
		f->nth = strtol(c1 + 1, &c2, 10);
		f->power = c2 && strcmp(c2, ":power") == 0;
		if (f->nth <= 0) {
			fprintf(stderr, "GODFS_FAULT: ignoring \"%s\"\n", tok);
			continue;
		}
		atomic_init(&f->hits, 0);
		n_faults++;
	}
}

void chunkd_fault_hit(const char *point)
{
	pthread_once(&parsed, parse);
	for (int i = 0; i < n_faults; i++) {
		struct fault *f = &faults[i];

		if (strcmp(f->point, point) != 0)
			continue;
		if (atomic_fetch_add(&f->hits, 1) + 1 != f->nth)
			continue;
		fprintf(stderr, "GODFS_FAULT: %s hit %ld time(s): exit 137%s\n", point, f->nth,
			f->power ? " after a simulated power loss" : "");
		if (f->power) {
			void (*pl)(void) = (void (*)(void))dlsym(RTLD_DEFAULT,
								 "godfs_powerloss_now");
			if (pl)
				pl();   /* does not return */
			fprintf(stderr, "GODFS_FAULT: no power-loss shim preloaded\n");
		}
		_exit(137);
	}
}

#endif
