/* godfs_wire: speaks the godfs wire by hand, one request per run, for tests
 * that play a stranger or an attacker (tests/e2e/e2e_caps.sh): it opens one
 * connection with the credential it is given (a key file, or none), says
 * HELLO with the role it is told, sends one request built from its
 * arguments, prints what came back, and exits with what the daemon said.
 *
 *   godfs_wire [--key-file PATH] [--insecure] [--role ROLE] [--timeout-ms N]
 *              COMMAND ARGS... [--cap HEX] [--offset N] [--length N]
 *              [--prev-version N] [--in FILE] [--out FILE]
 *
 * Exit status: 0 the daemon answered success; 1 it answered an error (its
 * status is printed on stderr as "status GD_NAME: message", so a test can
 * grep the name); 2 bad usage; 3 no answer (connection refused or closed,
 * handshake refused, timeout). Numbers take 0x for hex. Add a command by
 * writing one cmd_* function and one line of the table at the end. */
#include "gd_alloc.h"
#include "gd_auth.h"
#include "gd_cap.h"
#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_hex.h"
#include "gd_log.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"
#include "tool_status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_NOANSWER 3
#define ARGS_MAX 8

struct opts {
	const char *key_file;
	bool insecure;
	int role;                 /* wire.proto Role */
	int timeout_ms;
	const char *cap_hex;      /* --cap */
	uint64_t offset;
	uint64_t length;
	uint64_t prev_version;
	bool has_prev;
	const char *in, *out;
	const char *arg[ARGS_MAX];  /* positional, after the command */
	int nargs;
	struct gd_keyring keys;
	uint8_t cap[GD_CAP_LEN];
	size_t cap_len;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: godfs_wire [global options] COMMAND ARGS... [request options]\n"
		"global options:\n"
		"  --key-file PATH      prove ourselves with this cluster key (default: no credential)\n"
		"  --insecure           offer no credential (an --insecure daemon lets us in)\n"
		"  --role ROLE          client (default), chunkd, admin, peer, gateway, meta\n"
		"  --timeout-ms N       connect + call deadline (default 5000)\n"
		"commands:\n"
		"  ping ADDR                          M_PING\n"
		"  locate META INO INDEX              M_CHUNK_LOCATE: prints chunk, version, cap, chain\n"
		"  lease META INO INDEX               M_WRITE_LEASE: the same\n"
		"  cap-sign CHUNK VERSION RIGHTS TTL_MS  a capability signed with --key-file, valid\n"
		"                                     TTL_MS from now (negative: already expired);\n"
		"                                     RIGHTS: read,write,delete,replicate or all\n"
		"  cap-show HEX                       the fields of a capability\n"
		"  key-generate PATH                  a new key file (mode 0600)\n"
		"  cs-read ADDR CHUNK VERSION         M_CS_READ (--offset, --length, --out FILE)\n"
		"  cs-write ADDR CHUNK VERSION        M_CS_WRITE of --in FILE (default stdin, at most\n"
		"                                     8 MiB) at --offset, with --prev-version\n"
		"  cs-fsync ADDR CHUNK VERSION        M_CS_FSYNC (--prev-version)\n"
		"  cs-truncate ADDR CHUNK VERSION LEN M_CS_TRUNCATE\n"
		"  cs-delete ADDR CHUNK VERSION       M_CS_DELETE\n"
		"  cs-replicate ADDR CHUNK VERSION SOURCE  M_CS_REPLICATE\n"
		"request options:\n"
		"  --cap HEX            the chunk capability to send with a cs-* request\n"
		"exit: 0 success, 1 the daemon answered an error, 2 usage, 3 no answer\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max || gd_hex_decode(s, n, out, n / 2) != 0)
		return -1;
	*len = n / 2;
	return 0;
}

static void print_hex(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

/* What happened to the one call: the exit status, with a line on stderr. */
static int outcome(const char *what, int rc, bool answered)
{
	if (rc == 0)
		return 0;
	fprintf(stderr, "godfs_wire: %s: status GD_%s: %s\n", what, tool_status_name(rc),
		gd_strerror(rc));
	return answered ? EXIT_REFUSED : EXIT_NOANSWER;
}

/* Connects to addr with our credential and says HELLO with our role. */
static int connect_hello(const struct opts *o, const char *addr, struct gd_conn **out,
			 uint64_t *session)
{
	Godfs__Hello h = GODFS__HELLO__INIT;
	struct gd_call_result res = { 0 };
	struct gd_call_args a = { 0 };
	int rc;

	rc = gd_conn_open(addr, o->timeout_ms, (enum gd_role)o->role, out);
	if (rc)
		return outcome("connect", rc, false);
	gd_conn_set_default_timeout(*out, o->timeout_ms);
	h.has_protocol = h.has_role = 1;
	h.protocol = GD_PROTOCOL_VERSION;
	h.role = (Godfs__Role)o->role;
	h.host = "godfs_wire";
	a.method = GODFS__METHOD__M_HELLO;
	a.req = &h.base;
	a.resp_desc = &godfs__hello_resp__descriptor;
	rc = gd_call(*out, &a, &res);
	if (session)
		*session = res.resp ? ((Godfs__HelloResp *)res.resp)->session_id : 0;
	gd_call_result_release(&res);
	/* a daemon that does not know HELLO still answers the request */
	if (rc && rc != GD_ENOTSUP) {
		gd_conn_close(*out);
		*out = NULL;
		return outcome("HELLO", rc, res.resp != NULL);
	}
	return 0;
}

/* One call on a fresh connection to addr: the exit status. */
static int one_call(const struct opts *o, const char *addr, const char *what,
		    struct gd_call_args *a, struct gd_call_result *res)
{
	struct gd_conn *c;
	int rc = connect_hello(o, addr, &c, NULL);

	if (rc)
		return rc;
	rc = gd_call(c, a, res);
	gd_conn_close(c);
	return outcome(what, rc, res->resp != NULL);
}

static int need_args(const struct opts *o, int n)
{
	if (o->nargs == n)
		return 0;
	usage(stderr);
	return EXIT_USAGE;
}

static int chunk_args(const struct opts *o, uint64_t *id, uint64_t *version)
{
	if (parse_u64(o->arg[1], id) || parse_u64(o->arg[2], version)) {
		fprintf(stderr, "godfs_wire: CHUNK and VERSION are numbers\n");
		return EXIT_USAGE;
	}
	return 0;
}

#define SET_CAP(m, o)                                  \
	do {                                           \
		(m).has_cap = (o)->cap_len > 0;        \
		(m).cap.data = (uint8_t *)(o)->cap;    \
		(m).cap.len = (o)->cap_len;            \
	} while (0)

static int cmd_ping(struct opts *o)
{
	Godfs__Ping p = GODFS__PING__INIT;
	struct gd_call_result res = { 0 };
	struct gd_call_args a = { .method = GODFS__METHOD__M_PING, .req = &p.base,
				  .resp_desc = &godfs__ping__descriptor };
	int rc;

	if ((rc = need_args(o, 1)))
		return rc;
	rc = one_call(o, o->arg[0], "PING", &a, &res);
	gd_call_result_release(&res);
	return rc;
}

/* locate / lease: prints "chunk=ID version=V prev_version=P cap=HEX|- cap_ms=N chain=A,B". */
static int chunk_req(struct opts *o, uint16_t method, const char *what)
{
	Godfs__ChunkReq q = GODFS__CHUNK_REQ__INIT;
	struct gd_call_result res = { 0 };
	struct gd_call_args a = { .method = method, .req = &q.base,
				  .resp_desc = &godfs__chunk_resp__descriptor };
	struct gd_conn *c;
	int rc;

	if ((rc = need_args(o, 3)))
		return rc;
	if (parse_u64(o->arg[1], &q.ino) || parse_u64(o->arg[2], &q.index)) {
		fprintf(stderr, "godfs_wire: INO and INDEX are numbers\n");
		return EXIT_USAGE;
	}
	q.has_ino = q.has_index = 1;
	if ((rc = connect_hello(o, o->arg[0], &c, &q.session_id)))
		return rc;
	q.has_session_id = q.session_id != 0;
	rc = gd_call(c, &a, &res);
	gd_conn_close(c);
	if (rc == 0) {
		const Godfs__ChunkResp *r = (const Godfs__ChunkResp *)res.resp;
		printf("chunk=0x%016" PRIx64 " version=%" PRIu64 " prev_version=%" PRIu64 " cap=",
		       r->chunk_id, r->version, r->prev_version);
		if (r->has_cap)
			print_hex(stdout, r->cap.data, r->cap.len);
		else
			printf("-");
		printf(" cap_ms=%u chain=", r->has_cap_ms ? r->cap_ms : 0);
		for (size_t i = 0; i < r->n_chain; i++)
			printf("%s%s", i ? "," : "", r->chain[i]);
		printf("\n");
	}
	rc = outcome(what, rc, res.resp != NULL);
	gd_call_result_release(&res);
	return rc;
}

static int cmd_locate(struct opts *o)
{
	return chunk_req(o, GODFS__METHOD__M_CHUNK_LOCATE, "CHUNK_LOCATE");
}

static int cmd_lease(struct opts *o)
{
	return chunk_req(o, GODFS__METHOD__M_WRITE_LEASE, "WRITE_LEASE");
}

static int parse_rights(const char *s, uint32_t *out)
{
	static const char *const names[] = { "read", "write", "delete", "replicate" };
	char buf[128], *save = NULL;

	if (strcmp(s, "all") == 0) {
		*out = GD_CAP_ALL;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	*out = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned i;
		for (i = 0; i < 4 && strcmp(t, names[i]) != 0; i++)
			;
		if (i == 4)
			return -1;
		*out |= 1u << i;
	}
	return 0;
}

static int cmd_cap_sign(struct opts *o)
{
	struct gd_cap cap = { 0 };
	uint8_t buf[GD_CAP_LEN];
	char *end;
	long long ttl;
	int rc;

	if ((rc = need_args(o, 4)))
		return rc;
	ttl = strtoll(o->arg[3], &end, 0);
	if (parse_u64(o->arg[0], &cap.chunk_id) || parse_u64(o->arg[1], &cap.version) ||
	    parse_rights(o->arg[2], &cap.rights) || *end || end == o->arg[3]) {
		fprintf(stderr, "godfs_wire: CHUNK and VERSION are numbers, "
			"RIGHTS is read,write,delete,replicate or all, TTL_MS a number\n");
		return EXIT_USAGE;
	}
	if (o->keys.n == 0) {
		fprintf(stderr, "godfs_wire: cap-sign needs --key-file\n");
		return EXIT_USAGE;
	}
	cap.expires_ms = (uint64_t)((long long)gd_cap_now_ms() + ttl);
	gd_cap_sign(&o->keys, &cap, buf);
	print_hex(stdout, buf, sizeof(buf));
	printf("\n");
	return 0;
}

static int cmd_cap_show(struct opts *o)
{
	struct gd_cap cap;
	char rights[64];
	int rc;

	if ((rc = need_args(o, 1)))
		return rc;
	if (parse_hex(o->arg[0], o->cap, sizeof(o->cap), &o->cap_len) ||
	    gd_cap_parse(o->cap, o->cap_len, &cap)) {
		fprintf(stderr, "godfs_wire: not a capability\n");
		return EXIT_USAGE;
	}
	printf("chunk=0x%016" PRIx64 " version=%" PRIu64 " rights=%s expires_ms=%" PRIu64
	       " (in %lld ms) key_id=", cap.chunk_id, cap.version,
	       gd_cap_rights_str(cap.rights, rights, sizeof(rights)), cap.expires_ms,
	       (long long)cap.expires_ms - (long long)gd_cap_now_ms());
	print_hex(stdout, cap.key_id, sizeof(cap.key_id));
	printf("\n");
	return 0;
}

static int cmd_key_generate(struct opts *o)
{
	int rc;

	if ((rc = need_args(o, 1)))
		return rc;
	rc = gd_keyring_generate(o->arg[0]);
	if (rc)
		fprintf(stderr, "godfs_wire: %s: %s\n", o->arg[0], gd_strerror(rc));
	return rc ? EXIT_USAGE : 0;
}

static int cmd_cs_read(struct opts *o)
{
	Godfs__CsRead q = GODFS__CS_READ__INIT;
	struct gd_call_result res = { 0 };
	uint64_t len = o->length ? o->length : GD_FRAME_MAX_DATA;
	uint8_t *buf;
	int rc;

	if ((rc = need_args(o, 3)) || (rc = chunk_args(o, &q.chunk_id, &q.version)))
		return rc;
	if (len > GD_FRAME_MAX_DATA || o->offset > UINT32_MAX) {
		fprintf(stderr, "godfs_wire: --length at most %u, --offset below 4 GiB\n",
			GD_FRAME_MAX_DATA);
		return EXIT_USAGE;
	}
	buf = gd_malloc(len);
	if (!buf)
		return EXIT_NOANSWER;
	q.has_chunk_id = q.has_version = q.has_offset = q.has_length = 1;
	q.offset = (uint32_t)o->offset;
	q.length = (uint32_t)len;
	SET_CAP(q, o);
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_READ, .req = &q.base,
				  .resp_desc = &godfs__cs_read_resp__descriptor,
				  .rbuf = buf, .rbuf_len = len };
	rc = one_call(o, o->arg[0], "CS_READ", &a, &res);
	if (rc == 0) {
		FILE *f = o->out ? fopen(o->out, "wb") : stdout;
		if (!f || fwrite(buf, 1, res.data_len, f) != res.data_len) {
			perror(o->out ? o->out : "stdout");
			rc = EXIT_USAGE;
		}
		if (f && f != stdout)
			fclose(f);
		fprintf(stderr, "godfs_wire: CS_READ: %zu bytes\n", res.data_len);
	}
	gd_call_result_release(&res);
	gd_free(buf);
	return rc;
}

static int cmd_cs_write(struct opts *o)
{
	Godfs__CsWrite w = GODFS__CS_WRITE__INIT;
	struct gd_call_result res = { 0 };
	FILE *f;
	uint8_t *buf;
	size_t n;
	int rc;

	if ((rc = need_args(o, 3)) || (rc = chunk_args(o, &w.chunk_id, &w.version)))
		return rc;
	if (o->offset > UINT32_MAX) {
		fprintf(stderr, "godfs_wire: --offset below 4 GiB\n");
		return EXIT_USAGE;
	}
	f = o->in ? fopen(o->in, "rb") : stdin;
	buf = gd_malloc(GD_FRAME_MAX_DATA);
	if (!f || !buf) {
		perror(o->in ? o->in : "stdin");
		gd_free(buf);
		return EXIT_USAGE;
	}
	n = fread(buf, 1, GD_FRAME_MAX_DATA, f);
	if (f != stdin)
		fclose(f);
	w.has_chunk_id = w.has_version = w.has_offset = 1;
	w.offset = (uint32_t)o->offset;
	w.has_prev_version = o->has_prev;
	w.prev_version = o->prev_version;
	SET_CAP(w, o);
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_WRITE, .req = &w.base,
				  .data = buf, .data_len = n,
				  .resp_desc = &godfs__cs_write_resp__descriptor };
	rc = one_call(o, o->arg[0], "CS_WRITE", &a, &res);
	gd_call_result_release(&res);
	gd_free(buf);
	return rc;
}

/* fsync, truncate, delete: a CsChunkOp with no chain. */
static int chunk_op(struct opts *o, uint16_t method, const char *what, int nargs)
{
	Godfs__CsChunkOp op = GODFS__CS_CHUNK_OP__INIT;
	struct gd_call_result res = { 0 };
	uint64_t len = 0;
	int rc;

	if ((rc = need_args(o, nargs)) || (rc = chunk_args(o, &op.chunk_id, &op.version)))
		return rc;
	if (nargs == 4 && (parse_u64(o->arg[3], &len) || len > UINT32_MAX)) {
		fprintf(stderr, "godfs_wire: LEN is a number below 4 GiB\n");
		return EXIT_USAGE;
	}
	op.has_chunk_id = op.has_version = 1;
	op.has_prev_version = o->has_prev;
	op.prev_version = o->prev_version;
	op.has_length = nargs == 4;
	op.length = (uint32_t)len;
	SET_CAP(op, o);
	struct gd_call_args a = { .method = method, .req = &op.base,
				  .resp_desc = &godfs__status_resp__descriptor };
	rc = one_call(o, o->arg[0], what, &a, &res);
	gd_call_result_release(&res);
	return rc;
}

static int cmd_cs_fsync(struct opts *o)
{
	return chunk_op(o, GODFS__METHOD__M_CS_FSYNC, "CS_FSYNC", 3);
}

static int cmd_cs_truncate(struct opts *o)
{
	return chunk_op(o, GODFS__METHOD__M_CS_TRUNCATE, "CS_TRUNCATE", 4);
}

static int cmd_cs_delete(struct opts *o)
{
	return chunk_op(o, GODFS__METHOD__M_CS_DELETE, "CS_DELETE", 3);
}

static int cmd_cs_replicate(struct opts *o)
{
	Godfs__CsReplicate r = GODFS__CS_REPLICATE__INIT;
	struct gd_call_result res = { 0 };
	int rc;

	if ((rc = need_args(o, 4)) || (rc = chunk_args(o, &r.chunk_id, &r.version)))
		return rc;
	r.has_chunk_id = r.has_version = 1;
	r.source = (char *)o->arg[3];
	SET_CAP(r, o);
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_REPLICATE, .req = &r.base,
				  .resp_desc = &godfs__status_resp__descriptor };
	rc = one_call(o, o->arg[0], "CS_REPLICATE", &a, &res);
	gd_call_result_release(&res);
	return rc;
}

static const struct command {
	const char *name;
	int (*run)(struct opts *o);
} commands[] = {
	{ "ping", cmd_ping },
	{ "locate", cmd_locate },
	{ "lease", cmd_lease },
	{ "cap-sign", cmd_cap_sign },
	{ "cap-show", cmd_cap_show },
	{ "key-generate", cmd_key_generate },
	{ "cs-read", cmd_cs_read },
	{ "cs-write", cmd_cs_write },
	{ "cs-fsync", cmd_cs_fsync },
	{ "cs-truncate", cmd_cs_truncate },
	{ "cs-delete", cmd_cs_delete },
	{ "cs-replicate", cmd_cs_replicate },
};

static int parse_role(const char *s, int *out)
{
	for (int r = 0; r < GD_ROLE_COUNT; r++)
		if (strcmp(s, gd_role_name((enum gd_role)r)) == 0) {
			*out = r;
			return 0;
		}
	return -1;
}

/* Options may come anywhere; everything else is the command and its args. */
static int parse_args(int argc, char **argv, struct opts *o, const char **cmd)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;

		if (strcmp(a, "--insecure") == 0) {
			o->insecure = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2) != 0 || (a[2] >= '0' && a[2] <= '9')) {
			if (!*cmd)
				*cmd = a;
			else if (o->nargs < ARGS_MAX)
				o->arg[o->nargs++] = a;
			else
				return -1;
			continue;
		}
		if (!v)
			return -1;
		i++;
		if (strcmp(a, "--key-file") == 0)
			o->key_file = v;
		else if (strcmp(a, "--role") == 0)
			ok = parse_role(v, &o->role) == 0;
		else if (strcmp(a, "--timeout-ms") == 0) {
			uint64_t t;
			ok = parse_u64(v, &t) == 0 && t > 0 && t < 3600000;
			o->timeout_ms = (int)t;
		} else if (strcmp(a, "--cap") == 0)
			ok = parse_hex(v, o->cap, sizeof(o->cap), &o->cap_len) == 0;
		else if (strcmp(a, "--offset") == 0)
			ok = parse_u64(v, &o->offset) == 0;
		else if (strcmp(a, "--length") == 0)
			ok = parse_u64(v, &o->length) == 0;
		else if (strcmp(a, "--prev-version") == 0)
			ok = parse_u64(v, &o->prev_version) == 0 && (o->has_prev = true);
		else if (strcmp(a, "--in") == 0)
			o->in = v;
		else if (strcmp(a, "--out") == 0)
			o->out = v;
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "godfs_wire: bad option %s %s\n", a, v);
			return -1;
		}
	}
	return *cmd ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o = { .role = GD_ROLE_CLIENT, .timeout_ms = 5000 };
	const char *cmd = NULL;

	gd_log_init("godfs_wire", "warn");
	if (parse_args(argc, argv, &o, &cmd) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.key_file && gd_keyring_load(o.key_file, &o.keys) < 0)
		return EXIT_USAGE;   /* gd_keyring_load said why */
	gd_cred_set(o.keys.n ? &o.keys : NULL, NULL, o.insecure);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(&o);
	fprintf(stderr, "godfs_wire: unknown command %s\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
