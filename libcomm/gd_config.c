#include "gd_config.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_DIR "/etc/godfs"
#define MAX_LINE 4096
#define MAX_NAME 128

void gd_config_init(struct gd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

static void free_kvs(struct gd_config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		gd_free(kv[i].key);
		gd_free(kv[i].value);
	}
	gd_free(kv);
}

void gd_config_release(struct gd_config *cfg)
{
	free_kvs(cfg->file, cfg->nfile);
	free_kvs(cfg->flags, cfg->nflags);
	gd_free(cfg->program);
	memset(cfg, 0, sizeof(*cfg));
}

/* Option names compare as lower case with '_' and '-' the same. */
static void normalise(const char *in, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < outlen; i++) {
		char ch = (char)tolower((unsigned char)in[i]);
		out[i] = ch == '_' ? '-' : ch;
	}
	out[i] = '\0';
}

/* Adds or replaces key in a kv array (the last one wins, like a later line). */
static int kv_put(struct gd_config_kv **arr, size_t *n, const char *key, const char *value)
{
	char nk[MAX_NAME];
	struct gd_config_kv *grown;
	char *v;

	normalise(key, nk, sizeof(nk));
	v = gd_strdup(value);
	if (!v)
		return GD_ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*arr)[i].key, nk) == 0) {
			gd_free((*arr)[i].value);
			(*arr)[i].value = v;
			return 0;
		}
	}
	grown = gd_realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!grown)
		goto err_after_value;
	*arr = grown;
	grown[*n].key = gd_strdup(nk);
	if (!grown[*n].key)
		goto err_after_value;
	grown[*n].value = v;
	(*n)++;
	return 0;

err_after_value:
	gd_free(v);
	return GD_ENOMEM;
}

static const char *kv_get(const struct gd_config_kv *arr, size_t n, const char *name)
{
	char nk[MAX_NAME];

	normalise(name, nk, sizeof(nk));
	for (size_t i = 0; i < n; i++)
		if (strcmp(arr[i].key, nk) == 0)
			return arr[i].value;
	return NULL;
}

int gd_config_set_flag(struct gd_config *cfg, const char *name, const char *value)
{
	return kv_put(&cfg->flags, &cfg->nflags, name, value ? value : "1");
}

int gd_config_getopt(struct gd_config *cfg, const struct option *opts, int c,
		     const char *optarg_value)
{
	for (const struct option *o = opts; o->name; o++) {
		if (o->flag == NULL && o->val == c)
			return gd_config_set_flag(cfg, o->name,
						  o->has_arg == no_argument ? "1" : optarg_value);
	}
	return GD_EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Parses one conf line; returns 0 (entry added or nothing to add) or GD_EINVAL. */
static int parse_line(struct gd_config *cfg, char *line)
{
	char *s = trim(line), *eq, *key, *val;
	size_t vl;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return s[strlen(s) - 1] == ']' ? 0 : GD_EINVAL;
	eq = strchr(s, '=');
	if (!eq)
		return GD_EINVAL;
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	if (*key == '\0' || strlen(key) >= MAX_NAME)
		return GD_EINVAL;
	for (const char *k = key; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '-' && *k != '_' && *k != '.')
			return GD_EINVAL;
	/* "value" in double quotes keeps its spaces and '#'. */
	vl = strlen(val);
	if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
		val[vl - 1] = '\0';
		val++;
	}
	return kv_put(&cfg->file, &cfg->nfile, key, val);
}

int gd_config_load(struct gd_config *cfg, const char *program, const char *conf_path)
{
	char path[512];
	char line[MAX_LINE];
	FILE *f;
	int rc = 0, lineno = 0;

	gd_free(cfg->program);
	cfg->program = gd_strdup(program ? program : "godfs");
	if (!cfg->program)
		return GD_ENOMEM;
	if (conf_path)
		snprintf(path, sizeof(path), "%s", conf_path);
	else
		snprintf(path, sizeof(path), CONF_DIR "/%s.conf", cfg->program);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !conf_path)
			return 0;
		gd_error("cannot read %s: %s", path, strerror(errno));
		return gd_status_from_errno(errno);
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			gd_error("%s:%d: line longer than %d bytes", path, lineno, MAX_LINE - 1);
			rc = GD_EINVAL;
			break;
		}
		rc = parse_line(cfg, line);
		if (rc == GD_EINVAL)
			gd_error("%s:%d: expected `key = value`, `[section]` or `# comment`",
				 path, lineno);
		if (rc < 0)
			break;
	}
	fclose(f);
	return rc;
}

/* The value and a word for where it came from, for error messages. */
static const char *lookup(const struct gd_config *cfg, const char *name,
			  const char *flag_value, const char **src)
{
	char env[MAX_NAME + 8] = "GODFS_";
	const char *v;
	size_t i;

	*src = "command line";
	if (flag_value)
		return flag_value;
	v = kv_get(cfg->flags, cfg->nflags, name);
	if (v)
		return v;
	for (i = 0; name[i] && i + 7 < sizeof(env); i++) {
		char ch = (char)toupper((unsigned char)name[i]);
		env[6 + i] = ch == '-' ? '_' : ch;
	}
	env[6 + i] = '\0';
	*src = "environment";
	v = getenv(env);
	if (v)
		return v;
	*src = "config file";
	return kv_get(cfg->file, cfg->nfile, name);
}

const char *gd_config_get(const struct gd_config *cfg, const char *name,
			  const char *flag_value, const char *def)
{
	const char *src;
	const char *v = lookup(cfg, name, flag_value, &src);

	return v ? v : def;
}

int gd_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	if (!s)
		return GD_EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return GD_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return GD_EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return GD_EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return GD_EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int gd_config_get_u64(const struct gd_config *cfg, const char *name,
		      const char *flag_value, uint64_t def, uint64_t *out)
{
	const char *src;
	const char *v = lookup(cfg, name, flag_value, &src);

	if (!v) {
		*out = def;
		return 0;
	}
	if (gd_parse_u64(v, out) < 0) {
		gd_error("option %s: `%s' (from the %s) is not a number (suffixes K, M, G, T)",
			 name, v, src);
		return GD_EINVAL;
	}
	return 0;
}

int gd_config_get_int(const struct gd_config *cfg, const char *name,
		      const char *flag_value, long def, long min, long max, long *out)
{
	const char *src;
	const char *v = lookup(cfg, name, flag_value, &src);
	char *end;
	long n;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		gd_error("option %s: `%s' (from the %s) is not an integer in [%ld, %ld]",
			 name, v, src, min, max);
		return GD_EINVAL;
	}
	*out = n;
	return 0;
}

int gd_config_get_bool(const struct gd_config *cfg, const char *name,
		       const char *flag_value, int def, int *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	const char *src;
	const char *v = lookup(cfg, name, flag_value, &src);

	if (!v) {
		*out = def;
		return 0;
	}
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	gd_error("option %s: `%s' (from the %s) is not yes/no", name, v, src);
	return GD_EINVAL;
}

int gd_parse_hostport(const char *s, int default_port, char *host, size_t hostlen,
		      int *port)
{
	const char *h, *hend, *p = NULL;
	size_t hl;

	if (!s || hostlen == 0)
		return GD_EINVAL;
	if (s[0] == '[') {
		h = s + 1;
		hend = strchr(h, ']');
		if (!hend)
			return GD_EINVAL;
		if (hend[1] == ':')
			p = hend + 2;
		else if (hend[1] != '\0')
			return GD_EINVAL;
	} else {
		h = s;
		hend = strchr(s, ':');
		if (hend) {
			if (strchr(hend + 1, ':'))
				return GD_EINVAL; /* bare IPv6 needs brackets */
			p = hend + 1;
		} else {
			hend = s + strlen(s);
		}
	}
	hl = (size_t)(hend - h);
	if (hl >= hostlen)
		return GD_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (p) {
		char *end;
		long n;

		if (!isdigit((unsigned char)*p))
			return GD_EINVAL;
		errno = 0;
		n = strtol(p, &end, 10);
		if (errno != 0 || *end != '\0' || n < 0 || n > 65535)
			return GD_EINVAL;
		*port = (int)n;
	} else {
		if (default_port < 0 || default_port > 65535)
			return GD_EINVAL;
		*port = default_port;
	}
	return 0;
}
