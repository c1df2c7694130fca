/* Configuration for every godfs program, one rule everywhere:
 *
 *     command-line flag  >  env GODFS_<NAME>  >  /etc/godfs/<program>.conf  >  default
 *
 * <NAME> is the option name in upper case with '-' turned into '_'
 * (--chunk-size -> GODFS_CHUNK_SIZE). The conf file is INI-like:
 *
 *     # comment            ; comment
 *     [any section]        (section headers are accepted and ignored)
 *     chunk-size = 64M     (key = the long option name, '_' and '-' are the same)
 *
 * Typical use in main():
 *
 *     struct gd_config cfg;
 *     gd_config_init(&cfg);
 *     while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
 *             if (c == '?') usage();
 *             gd_config_getopt(&cfg, opts, c, optarg);   // records the flag
 *     }
 *     if (gd_config_load(&cfg, "godfs-meta", NULL) < 0) exit(1);
 *     const char *dir = gd_config_get(&cfg, "data-dir", NULL, NULL);
 *     uint64_t cs;
 *     if (gd_config_get_u64(&cfg, "chunk-size", NULL, 64 << 20, &cs) < 0) exit(1);
 *     ...
 *     gd_config_release(&cfg);
 *
 * Not thread-safe while loading or recording flags; reads (gd_config_get*)
 * may run from any thread afterwards. */
#ifndef GD_CONFIG_H
#define GD_CONFIG_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

struct gd_config_kv {
	char *key;   /* normalised: lower case, '_' -> '-' */
	char *value;
};

struct gd_config {
	char *program;
	struct gd_config_kv *file;  /* entries of the conf file */
	size_t nfile;
	struct gd_config_kv *flags; /* flags recorded with gd_config_set_flag */
	size_t nflags;
};

/* An empty configuration (no file, no flags); gd_config_load may follow. */
void gd_config_init(struct gd_config *cfg);

/* Reads conf_path, or /etc/godfs/<program>.conf when conf_path is NULL.
 * A missing default file is fine; a missing explicit file is GD_ENOENT.
 * A line that is neither blank, comment, [section] nor key = value is
 * GD_EINVAL (logged with file and line). Flags recorded before are kept. */
int gd_config_load(struct gd_config *cfg, const char *program, const char *conf_path);

/* Frees everything; strings returned by gd_config_get become invalid. */
void gd_config_release(struct gd_config *cfg);

/* Records a command-line value for option `name` (copied). */
int gd_config_set_flag(struct gd_config *cfg, const char *name, const char *value);

/* For getopt_long loops: records optarg (or "1" for an option without
 * argument) under the long name of the option in opts whose .val is c.
 * Returns 0, or GD_EINVAL when no option has that val. */
int gd_config_getopt(struct gd_config *cfg, const struct option *opts, int c,
		     const char *optarg_value);

/* The value of option `name`: flag_value when not NULL, else a recorded flag,
 * else env GODFS_<NAME>, else the conf file, else def (may be NULL). The
 * string lives as long as cfg (or the environment). */
const char *gd_config_get(const struct gd_config *cfg, const char *name,
			  const char *flag_value, const char *def);

/* The same, parsed with gd_parse_u64 (size suffixes). Junk is GD_EINVAL,
 * logged with the option name and where the value came from. */
int gd_config_get_u64(const struct gd_config *cfg, const char *name,
		      const char *flag_value, uint64_t def, uint64_t *out);
/* A plain integer in [min, max] (no suffixes); junk or out of range is GD_EINVAL. */
int gd_config_get_int(const struct gd_config *cfg, const char *name,
		      const char *flag_value, long def, long min, long max, long *out);
/* yes/no, true/false, on/off, 1/0; anything else is GD_EINVAL. */
int gd_config_get_bool(const struct gd_config *cfg, const char *name,
		       const char *flag_value, int def, int *out);

/* Parses a decimal number with an optional binary size suffix K, M, G, T
 * (case-insensitive, optionally followed by "B" or "iB"): "64M" = 64 << 20.
 * Returns 0 or GD_EINVAL (empty, junk, overflow). */
int gd_parse_u64(const char *s, uint64_t *out);

/* Splits "host:port", "[v6addr]:port", "host" or ":port" into host (may come
 * back empty: any address) and port. A missing port takes default_port; with
 * default_port < 0 a port is required. Returns 0 or GD_EINVAL (port not in
 * 0..65535, host longer than hostlen - 1, missing port, junk). */
int gd_parse_hostport(const char *s, int default_port, char *host, size_t hostlen,
		      int *port);

#endif
