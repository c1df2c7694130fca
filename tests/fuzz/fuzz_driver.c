/* A small standalone driver for libFuzzer-style targets, so that every fuzz
 * target builds with gcc and runs in `make check` without clang: it runs the
 * target over a seed corpus, then over inputs made from the seeds by
 * deterministic mutations (bit flips, interesting bytes and lengths, inserts,
 * deletes, truncations, splices) and over random inputs.
 *
 *   fuzz_x [-runs=N] [-seed=S] [-max_len=L] [CORPUS_DIR_OR_FILE...]
 *
 * Without a corpus argument it reads FUZZ_CORPUS (set at build time). A
 * failure is a crash or a sanitizer report; the input that caused it is
 * written to fuzz-crash-<target>.bin first, so that it can be replayed
 * (`fuzz_x fuzz-crash-<target>.bin`) and added to the corpus. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Provided by ASan/UBSan when linked in (weak: absent without them). */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

#ifndef FUZZ_CORPUS
#define FUZZ_CORPUS ""
#endif
#ifndef FUZZ_NAME
#define FUZZ_NAME "target"
#endif

struct input {
	uint8_t *p;
	size_t len;
};

static struct input *corpus;
static size_t n_corpus, cap_corpus;
static uint64_t rng_state = 0x853c49e6748fea9bULL;

static uint64_t rng(void)
{
	/* xorshift64*: small, fast, the same on every machine */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng() % n) : 0;
}

/* The input being run, kept for the crash file. */
static const uint8_t *current;
static size_t current_len;

static void save_current(void)
{
	char name[128];
	FILE *f;

	snprintf(name, sizeof(name), "fuzz-crash-%s.bin", FUZZ_NAME);
	f = fopen(name, "wb");
	if (!f)
		return;
	if (current_len)
		(void)fwrite(current, 1, current_len, f);
	fclose(f);
}

/* A crash: keep the input, then die the way we were going to. */
static void on_signal(int sig)
{
	static const char msg[] = "fuzz driver: crash, input saved to fuzz-crash-" FUZZ_NAME ".bin\n";
	save_current();
	(void)!write(2, msg, sizeof(msg) - 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run_one(const uint8_t *p, size_t len)
{
	/* a copy of exactly len bytes: ASan sees any read past the end */
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy) {
		fprintf(stderr, "fuzz driver: out of memory\n");
		exit(2);
	}
	if (len)
		memcpy(copy, p, len);
	current = copy;
	current_len = len;
	LLVMFuzzerTestOneInput(copy, len);
	current = NULL;
	current_len = 0;
	free(copy);
}

static void add_input(uint8_t *p, size_t len)
{
	if (n_corpus == cap_corpus) {
		cap_corpus = cap_corpus ? cap_corpus * 2 : 64;
		corpus = realloc(corpus, cap_corpus * sizeof(*corpus));
		if (!corpus) {
			fprintf(stderr, "fuzz driver: out of memory\n");
			exit(2);
		}
	}
	corpus[n_corpus].p = p;
	corpus[n_corpus].len = len;
	n_corpus++;
}

static int load_file(const char *path, size_t max_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	size_t len;
	long sz;

	if (!f) {
		fprintf(stderr, "fuzz driver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	len = (size_t)sz > max_len ? max_len : (size_t)sz;
	p = malloc(len ? len : 1);
	if (!p || fread(p, 1, len, f) != len) {
		free(p);
		fclose(f);
		return -1;
	}
	fclose(f);
	add_input(p, len);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads a file, or every regular file of a directory in name order (so that
 * the mutations below are the same on every machine). */
static int load_path(const char *path, size_t max_len)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz driver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return load_file(path, max_len);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				exit(2);
		}
		names[n] = malloc(strlen(path) + strlen(de->d_name) + 2);
		if (!names[n])
			exit(2);
		sprintf(names[n], "%s/%s", path, de->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && load_file(names[i], max_len))
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Values that find bounds bugs: limits of the integer types, the frame limits,
 * protobuf wire-type edge cases. */
static const uint32_t interesting32[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
	(1u << 20) - 1, 1u << 20, (1u << 20) + 1, (8u << 20), (8u << 20) + 1,
	0x7fffffff, 0x80000000u, 0xfffffffeu, 0xffffffffu,
};

/* Makes a mutant of base (len bytes) into out (up to max bytes). */
static size_t mutate(const uint8_t *base, size_t len, uint8_t *out, size_t max)
{
	size_t n = len < max ? len : max, k, rounds = 1 + rng_below(4);

	memcpy(out, base, n);
	for (k = 0; k < rounds; k++) {
		size_t at = rng_below(n ? n : 1);
		switch (rng_below(10)) {
		case 0: /* flip a bit */
			if (n)
				out[at] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1: /* an interesting byte */
			if (n) {
				static const uint8_t b[] = { 0, 1, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12 };
				out[at] = b[rng_below(sizeof(b))];
			}
			break;
		case 2: /* an interesting little-endian u32 (lengths, magic) */
			if (n >= 4) {
				uint32_t v = interesting32[rng_below(sizeof(interesting32) /
								     sizeof(interesting32[0]))];
				at = rng_below(n - 3);
				out[at] = (uint8_t)v;
				out[at + 1] = (uint8_t)(v >> 8);
				out[at + 2] = (uint8_t)(v >> 16);
				out[at + 3] = (uint8_t)(v >> 24);
			}
			break;
		case 3: /* truncate */
			n = rng_below(n + 1);
			break;
		case 4: /* insert random bytes */
			if (n < max) {
				size_t add = 1 + rng_below(16), i;
				if (add > max - n)
					add = max - n;
				memmove(out + at + add, out + at, n - at);
				for (i = 0; i < add; i++)
					out[at + i] = (uint8_t)rng();
				n += add;
			}
			break;
		case 5: /* delete a run */
			if (n) {
				size_t del = 1 + rng_below(16);
				if (del > n - at)
					del = n - at;
				memmove(out + at, out + at + del, n - at - del);
				n -= del;
			}
			break;
		case 6: /* splice with another input */
			if (n_corpus) {
				const struct input *o = &corpus[rng_below(n_corpus)];
				size_t from = rng_below(o->len + 1), take = o->len - from;
				if (take > max - at)
					take = max - at;
				memcpy(out + at, o->p + from, take);
				if (at + take > n)
					n = at + take;
			}
			break;
		case 7: /* append another input (a second frame on the stream) */
			if (n_corpus) {
				const struct input *o = &corpus[rng_below(n_corpus)];
				size_t take = o->len < max - n ? o->len : max - n;
				memcpy(out + n, o->p, take);
				n += take;
			}
			break;
		case 8: /* duplicate a run */
			if (n && n < max) {
				size_t run = 1 + rng_below(32);
				if (run > n - at)
					run = n - at;
				if (run > max - n)
					run = max - n;
				memmove(out + at + run, out + at, n - at);
				n += run;
			}
			break;
		default: /* a random byte */
			if (n)
				out[at] = (uint8_t)rng();
			break;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long runs = 10000, i;
	size_t max_len = 65536, n_seeds, loaded = 0;
	uint8_t *buf;
	int a, bad = 0;

	for (a = 1; a < argc; a++) {
		if (strncmp(argv[a], "-runs=", 6) == 0)
			runs = strtoul(argv[a] + 6, NULL, 10);
		else if (strncmp(argv[a], "-seed=", 6) == 0)
			rng_state = strtoull(argv[a] + 6, NULL, 10) | 1;
		else if (strncmp(argv[a], "-max_len=", 9) == 0)
			max_len = strtoul(argv[a] + 9, NULL, 10);
		else if (argv[a][0] == '-')
			fprintf(stderr, "fuzz driver: ignoring %s\n", argv[a]);
		else if (load_path(argv[a], max_len))
			bad = 1;
		else
			loaded++;
	}
	if (!loaded && FUZZ_CORPUS[0] && load_path(FUZZ_CORPUS, max_len))
		bad = 1;
	if (bad)
		return 2;
	if (max_len == 0)
		max_len = 1;
	/* a sanitizer reports and exits on its own: keep the input first; the
	 * failed checks of a target (abort) and plain crashes come here */
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(save_current);
	else {
		signal(SIGSEGV, on_signal);
		signal(SIGFPE, on_signal);
		signal(SIGBUS, on_signal);
		signal(SIGILL, on_signal);
	}
	signal(SIGABRT, on_signal);

	n_seeds = n_corpus;
	for (i = 0; i < n_seeds; i++)
		run_one(corpus[i].p, corpus[i].len);
	run_one(NULL, 0);
	buf = malloc(max_len);
	if (!buf)
		return 2;
	for (i = 0; i < runs; i++) {
		size_t len;
		if (n_seeds && rng_below(8) != 0) {
			const struct input *b = &corpus[rng_below(n_seeds)];
			len = mutate(b->p, b->len, buf, max_len);
		} else {
			size_t k;
			len = rng_below(max_len < 512 ? max_len + 1 : 513);
			for (k = 0; k < len; k++)
				buf[k] = (uint8_t)rng();
		}
		run_one(buf, len);
	}
	free(buf);
	printf("%s: %zu seed inputs, %lu mutated/random inputs: ok\n", FUZZ_NAME, n_seeds, runs);
	for (i = 0; i < n_corpus; i++)
		free(corpus[i].p);
	free(corpus);
	return 0;
}
