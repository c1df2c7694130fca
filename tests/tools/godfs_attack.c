/* godfs_attack: hostile clients, speaking the wire by hand (the handshake of
 * libcomm/gd_auth.h and the frames of gd_frame.h on raw sockets, no client
 * library to refuse anything), for tests/e2e/e2e_attack.sh. Each attack
 * prints one line saying what the daemon did and exits
 *
 *   0  the daemon refused it the way it must (the attack failed)
 *   1  the daemon let it through, or did not answer as it must
 *   2  usage error, or the attack could not even be set up
 *
 * Attacks (ADDR = host:port of a meta or a chunkd; KEY = a key file):
 *   nokey ADDR                  a proof with no credential
 *   noshake ADDR                a request frame instead of the handshake
 *   wrongkey ADDR KEY           a proof made with another key (KEY is wrong)
 *   replay ADDR KEY             a valid proof, sent again on a new connection
 *   bigframe ADDR KEY           after a valid handshake: a 100 MiB frame length
 *   hello-role ADDR KEY         authenticated as a client, HELLO says chunkd
 *   session ADDR KEY            a request naming another connection's session
 *   register ADDR KEY ID ADDR2  CS_REGISTER of a live chunkd's id elsewhere
 *   heartbeat ADDR KEY ID       as a chunkd on a new connection: CS_HEARTBEAT
 *                               of a live chunkd's id (must only be told to
 *                               register), then CS_REGISTER under a new id of
 *                               its own (no space: never chosen), then
 *                               CS_HEARTBEAT and CS_REPORT_BAD naming ID
 *                               (must be refused; its own id still works)
 *   cs ADDR KEY OP CHUNK VER    CS_READ/CS_WRITE/CS_DELETE/CS_REPLICATE/
 *                               CS_TRUNCATE (OP read|write|delete|replicate|
 *                               truncate) with no capability
 *   slowreader ADDR KEY SECS [ping | cs CHUNK VER]
 *                               many requests (READDIR of the root, PING, or
 *                               CS_READs of 1 MiB with a capability the
 *                               attacker signs with the key: an insider),
 *                               replies never read: the daemon must cut the
 *                               connection within SECS
 *   idle ADDR N SRC SECS        N connections from source address SRC that
 *                               never speak; prints how many the daemon
 *                               refused at once and how many it cut within
 *                               SECS; exit 0 when all are gone by then */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gd_auth.h"
#include "gd_cap.h"
#include "gd_config.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#define IO_MS 5000

static const char *attack;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", attack);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int refused(const char *what)
{
	say("refused (%s)", what);
	return 0;
}

static int let_through(const char *what)
{
	say("LET THROUGH: %s", what);
	return 1;
}

static int setup_failed(const char *what)
{
	say("cannot set up: %s", what);
	return 2;
}

/* ---- raw socket helpers ---- */

static int connect_to(const char *addr, const char *src)
{
	char host[256];
	int port, fd;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	if (gd_parse_hostport(addr, -1, host, sizeof(host), &port) < 0 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (src) {
		struct sockaddr_in me = { .sin_family = AF_INET };
		if (inet_pton(AF_INET, src, &me.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads len bytes within ms: 0, or -1 (closed, error, timeout: *closed says
 * whether the peer closed or reset the connection). */
static int recv_exact(int fd, void *buf, size_t len, int ms, int *closed)
{
	size_t got = 0;
	uint64_t end = gd_net_now_ms() + (uint64_t)ms;

	*closed = 0;
	while (got < len) {
		struct pollfd p = { fd, POLLIN, 0 };
		uint64_t now = gd_net_now_ms();
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
			return -1;
		n = recv(fd, (char *)buf + got, len - got, 0);
		if (n <= 0) {
			*closed = 1;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Whether the daemon closes fd within ms (reads and discards what comes). */
static int closed_within(int fd, int ms)
{
	uint64_t end = gd_net_now_ms() + (uint64_t)ms;
	char sink[4096];

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		uint64_t now = gd_net_now_ms();
		ssize_t n;

		/* polls at least once, also with ms 0: what is already there
		 * (a challenge, then the end) counts */
		if (poll(&p, 1, now >= end ? 0 : (int)(end - now)) <= 0)
			return 0;
		n = recv(fd, sink, sizeof(sink), 0);
		if (n <= 0)
			return 1;
	}
}

/* Runs the client side of the handshake with cred on a new connection.
 * Returns the fd (authenticated) or -1; *rc gets the outcome. */
static int shake(const char *addr, const struct gd_cred *cred, enum gd_role role, int *rc)
{
	int fd = connect_to(addr, NULL);

	if (fd < 0) {
		*rc = GD_ECONN;
		return -1;
	}
	*rc = gd_auth_client(fd, cred, role, IO_MS);
	if (*rc < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int load_key(const char *path, struct gd_keyring *kr)
{
	return gd_keyring_load(path, kr);
}

/* Loads the key file into *kr and opens a connection that passed the
 * handshake as role: the fd, or -1 after saying why (setup failed). */
static int keyed_shake(const char *addr, const char *keyfile, enum gd_role role,
		       struct gd_keyring *kr)
{
	struct gd_cred cred = { .kind = GD_AUTH_CLUSTER, .keys = kr };
	int rc, fd;

	if (load_key(keyfile, kr) < 0) {
		setup_failed("key file");
		return -1;
	}
	fd = shake(addr, &cred, role, &rc);
	if (fd < 0)
		setup_failed(gd_strerror(rc));
	return fd;
}

/* Sends one request frame; returns 0 or -1. */
static int send_request(int fd, uint16_t method, uint64_t id, const ProtobufCMessage *m,
			const void *data, uint32_t data_len)
{
	uint8_t hdrbuf[GD_FRAME_HDR_LEN], pb[4096];
	struct gd_frame_hdr h = {
		.magic_version = GD_FRAME_MAGIC_VERSION, .kind = GD_KIND_REQUEST,
		.method = method, .request_id = id, .data_len = data_len,
	};
	size_t n = protobuf_c_message_get_packed_size(m);

	if (n > sizeof(pb))
		return -1;
	h.pb_len = (uint32_t)protobuf_c_message_pack(m, pb);
	gd_frame_encode_hdr(&h, hdrbuf);
	if (send_all(fd, hdrbuf, sizeof(hdrbuf)) < 0 || send_all(fd, pb, h.pb_len) < 0)
		return -1;
	return data_len ? send_all(fd, data, data_len) : 0;
}

/* Reads one response; returns its status (the `status` field), or a
 * transport error (GD_ECONN when the daemon closed the connection). *resp
 * receives the unpacked message when not NULL (free it). */
static int read_response(int fd, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
	uint8_t hdrbuf[GD_FRAME_HDR_LEN];
	struct gd_frame_hdr h;
	uint8_t *pb;
	ProtobufCMessage *m;
	int closed, st;

	if (resp)
		*resp = NULL;
	if (recv_exact(fd, hdrbuf, sizeof(hdrbuf), IO_MS, &closed) < 0)
		return closed ? GD_ECONN : GD_ETIMEDOUT;
	if (gd_frame_decode_hdr(hdrbuf, sizeof(hdrbuf), &h, NULL) < 0)
		return GD_EPROTO;
	pb = malloc((size_t)h.pb_len + h.data_len + 1);
	if (!pb || recv_exact(fd, pb, (size_t)h.pb_len + h.data_len, IO_MS, &closed) < 0) {
		free(pb);
		return GD_ECONN;
	}
	m = protobuf_c_message_unpack(desc, NULL, h.pb_len, pb);
	free(pb);
	if (!m)
		return GD_EPROTO;
	/* field 1 is `status` in every response (gd_server.h) */
	st = *(const int32_t *)((const char *)m + desc->fields[0].offset);
	if (resp)
		*resp = m;
	else
		protobuf_c_message_free_unpacked(m, NULL);
	return st;
}

/* ---- the attacks ---- */

static int a_nokey(const char *addr)
{
	struct gd_cred none = { .kind = GD_AUTH_NONE };
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], proof[GD_AUTH_PROOF_LEN], v[GD_AUTH_VERDICT_LEN];
	uint8_t secret[GD_KEY_LEN];
	int fd = connect_to(addr, NULL), closed;

	if (fd < 0)
		return setup_failed("connect");
	if (recv_exact(fd, ch, sizeof(ch), IO_MS, &closed) < 0)
		return setup_failed("no challenge");
	/* Claim "no credential" whatever the challenge says. */
	ch[7] |= GD_AUTH_F_INSECURE;
	gd_auth_prove(ch, &none, GD_ROLE_ADMIN, proof, secret);
	if (send_all(fd, proof, sizeof(proof)) < 0)
		return refused("closed before the proof");
	if (recv_exact(fd, v, sizeof(v), IO_MS, &closed) < 0)
		return closed ? refused("closed") : let_through("no verdict");
	if (v[4] | v[5] | v[6] | v[7])
		return refused("verdict: refused");
	return let_through("accepted a connection with no credential");
}

static int a_noshake(const char *addr)
{
	Godfs__AdminStatus st = GODFS__ADMIN_STATUS__INIT;
	int fd = connect_to(addr, NULL);

	if (fd < 0)
		return setup_failed("connect");
	if (send_request(fd, GODFS__METHOD__M_ADMIN_STATUS, 1, &st.base, NULL, 0) < 0)
		return refused("closed at once");
	/* Nothing but the challenge and a refusing verdict may come back, and
	 * the connection must end (closed_within reads and discards them). */
	if (closed_within(fd, IO_MS))
		return refused("closed without an answer");
	return let_through("the connection stayed open after a request with no handshake");
}

static int a_wrongkey(const char *addr, const char *keyfile)
{
	struct gd_keyring kr;
	struct gd_cred cred = { .kind = GD_AUTH_CLUSTER, .keys = &kr };
	int rc, fd;

	if (load_key(keyfile, &kr) < 0)
		return setup_failed("key file");
	fd = shake(addr, &cred, GD_ROLE_ADMIN, &rc);
	if (fd >= 0)
		return let_through("accepted a proof made with a wrong key");
	return rc == GD_EAUTH ? refused("verdict: refused") : setup_failed(gd_strerror(rc));
}

static int a_replay(const char *addr, const char *keyfile)
{
	struct gd_keyring kr;
	struct gd_cred cred = { .kind = GD_AUTH_CLUSTER, .keys = &kr };
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], ch2[GD_AUTH_CHALLENGE_LEN];
	uint8_t proof[GD_AUTH_PROOF_LEN], v[GD_AUTH_VERDICT_LEN], secret[GD_KEY_LEN];
	int fd, fd2, closed;

	if (load_key(keyfile, &kr) < 0)
		return setup_failed("key file");
	/* The honest handshake a listener on the wire records. */
	fd = connect_to(addr, NULL);
	if (fd < 0 || recv_exact(fd, ch, sizeof(ch), IO_MS, &closed) < 0 ||
	    gd_auth_prove(ch, &cred, GD_ROLE_ADMIN, proof, secret) < 0 ||
	    send_all(fd, proof, sizeof(proof)) < 0 ||
	    recv_exact(fd, v, sizeof(v), IO_MS, &closed) < 0 ||
	    gd_auth_verdict(ch, proof, secret, v) < 0)
		return setup_failed("the honest handshake failed");
	close(fd);
	/* The same proof on a new connection. */
	fd2 = connect_to(addr, NULL);
	if (fd2 < 0 || recv_exact(fd2, ch2, sizeof(ch2), IO_MS, &closed) < 0)
		return setup_failed("second connection");
	if (send_all(fd2, proof, sizeof(proof)) < 0)
		return refused("closed");
	if (recv_exact(fd2, v, sizeof(v), IO_MS, &closed) < 0)
		return closed ? refused("closed") : let_through("no verdict");
	if (v[4] | v[5] | v[6] | v[7])
		return refused("verdict: refused");
	return let_through("accepted a replayed proof");
}

static int a_bigframe(const char *addr, const char *keyfile)
{
	struct gd_keyring kr;
	uint8_t hdr[GD_FRAME_HDR_LEN];
	int fd;
	uint32_t big = 100u << 20;

	fd = keyed_shake(addr, keyfile, GD_ROLE_CLIENT, &kr);
	if (fd < 0)
		return 2;
	/* Little-endian header by hand: the encoder is not asked to make a
	 * header it would never make. */
	memset(hdr, 0, sizeof(hdr));
	for (int i = 0; i < 4; i++)
		hdr[i] = (uint8_t)(GD_FRAME_MAGIC_VERSION >> (8 * i));
	hdr[4] = GD_KIND_REQUEST;
	hdr[6] = GODFS__METHOD__M_PING;
	hdr[8] = 1;
	for (int i = 0; i < 4; i++) {
		hdr[16 + i] = (uint8_t)(big >> (8 * i));   /* pb_len */
		hdr[20 + i] = (uint8_t)(big >> (8 * i));   /* data_len */
	}
	if (send_all(fd, hdr, sizeof(hdr)) < 0)
		return refused("closed");
	if (closed_within(fd, IO_MS))
		return refused("connection closed, nothing allocated for 200 MiB");
	return let_through("the connection stayed open after a 100 MiB frame length");
}

static int hello(int fd, uint64_t id, enum gd_role role, uint64_t sid, uint64_t *sid_out)
{
	Godfs__Hello h = GODFS__HELLO__INIT;
	ProtobufCMessage *r;
	int st;

	h.has_protocol = h.has_role = 1;
	h.protocol = GD_PROTOCOL_VERSION;
	h.role = (Godfs__Role)role;
	h.host = "attacker";
	h.mountpoint = "/nowhere";
	if (sid) {
		h.has_session_id = 1;
		h.session_id = sid;
	}
	if (send_request(fd, GODFS__METHOD__M_HELLO, id, &h.base, NULL, 0) < 0)
		return GD_ECONN;
	st = read_response(fd, &godfs__hello_resp__descriptor, &r);
	if (r && sid_out)
		*sid_out = ((Godfs__HelloResp *)r)->session_id;
	if (r)
		protobuf_c_message_free_unpacked(r, NULL);
	return st;
}

static int a_hello_role(const char *addr, const char *keyfile)
{
	struct gd_keyring kr;
	int rc, fd;

	fd = keyed_shake(addr, keyfile, GD_ROLE_CLIENT, &kr);
	if (fd < 0)
		return 2;
	rc = hello(fd, 1, GD_ROLE_CHUNKD, 0, NULL);
	if (rc == 0)
		return let_through("HELLO as chunkd on a connection authenticated as client");
	return refused(gd_strerror(rc));
}

static int a_session(const char *addr, const char *keyfile)
{
	struct gd_keyring kr;
	struct gd_cred cred = { .kind = GD_AUTH_CLUSTER, .keys = &kr };
	Godfs__SessionRenew sr = GODFS__SESSION_RENEW__INIT;
	Godfs__InodeReq ir = GODFS__INODE_REQ__INIT;
	uint64_t victim = 0, mine = 0;
	int rc, fa, fb, st1, st2;

	if (load_key(keyfile, &kr) < 0)
		return setup_failed("key file");
	fa = shake(addr, &cred, GD_ROLE_CLIENT, &rc);
	fb = fa >= 0 ? shake(addr, &cred, GD_ROLE_CLIENT, &rc) : -1;
	if (fa < 0 || fb < 0)
		return setup_failed(gd_strerror(rc));
	if (hello(fa, 1, GD_ROLE_CLIENT, 0, &victim) < 0 || !victim ||
	    hello(fb, 1, GD_ROLE_CLIENT, 0, &mine) < 0 || !mine)
		return setup_failed("HELLO");
	/* Renew and release with the victim's session id from connection B. */
	sr.has_session_id = 1;
	sr.session_id = victim;
	if (send_request(fb, GODFS__METHOD__M_SESSION_RENEW, 2, &sr.base, NULL, 0) < 0)
		return refused("closed");
	st1 = read_response(fb, &godfs__session_renew_resp__descriptor, NULL);
	ir.has_ino = ir.has_session_id = 1;
	ir.ino = 1;
	ir.session_id = victim;
	if (send_request(fb, GODFS__METHOD__M_RELEASE, 3, &ir.base, NULL, 0) < 0)
		return refused("closed");
	st2 = read_response(fb, &godfs__status_resp__descriptor, NULL);
	if (st1 == 0 || st2 == 0) {
		say("renew: %s, release: %s", gd_strerror(st1), gd_strerror(st2));
		return let_through("acted for another connection's session");
	}
	say("renew: %s, release: %s", gd_strerror(st1), gd_strerror(st2));
	return refused("another connection's session");
}

static int a_register(const char *addr, const char *keyfile, const char *id, const char *where)
{
	struct gd_keyring kr;
	Godfs__CsRegister r = GODFS__CS_REGISTER__INIT;
	int rc, fd;

	fd = keyed_shake(addr, keyfile, GD_ROLE_CHUNKD, &kr);
	if (fd < 0)
		return 2;
	if ((rc = hello(fd, 1, GD_ROLE_CHUNKD, 0, NULL)) < 0)
		return refused(gd_strerror(rc));
	r.node_id = (char *)id;
	r.address = (char *)where;
	r.has_total_bytes = r.has_free_bytes = 1;
	r.total_bytes = 1ull << 40;
	r.free_bytes = 1ull << 40;
	if (send_request(fd, GODFS__METHOD__M_CS_REGISTER, 2, &r.base, NULL, 0) < 0)
		return refused("closed");
	rc = read_response(fd, &godfs__cs_register_resp__descriptor, NULL);
	if (rc == 0)
		return let_through("re-registered a live chunkd's id at another address");
	return refused(gd_strerror(rc));
}

/* One CS_HEARTBEAT naming id: its status, *orders and *rereg what came back. */
static int heartbeat(int fd, uint64_t rid, const char *id, size_t *orders, int *rereg)
{
	Godfs__CsHeartbeat h = GODFS__CS_HEARTBEAT__INIT;
	ProtobufCMessage *r;
	int st;

	*orders = 0;
	*rereg = 0;
	h.node_id = (char *)id;
	if (send_request(fd, GODFS__METHOD__M_CS_HEARTBEAT, rid, &h.base, NULL, 0) < 0)
		return GD_ECONN;
	st = read_response(fd, &godfs__cs_heartbeat_resp__descriptor, &r);
	if (r) {
		const Godfs__CsHeartbeatResp *hr = (const Godfs__CsHeartbeatResp *)r;
		*orders = hr->n_orders;
		*rereg = hr->has_reregister && hr->reregister;
		protobuf_c_message_free_unpacked(r, NULL);
	}
	return st;
}

static int a_heartbeat(const char *addr, const char *keyfile, const char *victim)
{
	struct gd_keyring kr;
	Godfs__CsRegister r = GODFS__CS_REGISTER__INIT;
	Godfs__CsReportBad b = GODFS__CS_REPORT_BAD__INIT;
	char own[64];
	size_t orders;
	int rc, fd, rereg;

	fd = keyed_shake(addr, keyfile, GD_ROLE_CHUNKD, &kr);
	if (fd < 0)
		return 2;
	if ((rc = hello(fd, 1, GD_ROLE_CHUNKD, 0, NULL)) < 0)
		return setup_failed(gd_strerror(rc));
	/* nothing registered on this connection yet: only "register first" */
	rc = heartbeat(fd, 2, victim, &orders, &rereg);
	if (rc == 0 && (!rereg || orders))
		return let_through("heartbeat for another chunkd on an unregistered connection");
	say("unregistered: %s%s", gd_strerror(rc), rereg ? ", told to register" : "");
	snprintf(own, sizeof(own), "attacker-%ld", (long)getpid());
	r.node_id = own;
	r.address = "127.0.0.1:9";
	r.has_total_bytes = r.has_free_bytes = 1;
	if (send_request(fd, GODFS__METHOD__M_CS_REGISTER, 3, &r.base, NULL, 0) < 0)
		return setup_failed("closed");
	rc = read_response(fd, &godfs__cs_register_resp__descriptor, NULL);
	if (rc != 0)
		return setup_failed(gd_strerror(rc));
	rc = heartbeat(fd, 4, victim, &orders, &rereg);
	if (rc == 0)
		return let_through("heartbeat for another chunkd's id");
	say("heartbeat as %s: %s", victim, gd_strerror(rc));
	b.node_id = (char *)victim;
	b.has_chunk_id = 1;
	b.chunk_id = 1;
	if (send_request(fd, GODFS__METHOD__M_CS_REPORT_BAD, 5, &b.base, NULL, 0) < 0)
		return refused("closed");
	rc = read_response(fd, &godfs__status_resp__descriptor, NULL);
	if (rc == 0)
		return let_through("corrupt report for another chunkd's id");
	say("report as %s: %s", victim, gd_strerror(rc));
	/* the refusals were for the id, not for this connection */
	rc = heartbeat(fd, 6, own, &orders, &rereg);
	if (rc != 0)
		return setup_failed("heartbeat of its own id refused");
	return refused("heartbeat and corrupt report for another chunkd's id");
}

static int a_cs(const char *addr, const char *keyfile, const char *op, uint64_t chunk,
		uint64_t version)
{
	struct gd_keyring kr;
	static uint8_t data[65536];
	int rc, fd;

	fd = keyed_shake(addr, keyfile, GD_ROLE_CLIENT, &kr);
	if (fd < 0)
		return 2;
	if ((rc = hello(fd, 1, GD_ROLE_CLIENT, 0, NULL)) < 0)
		return setup_failed(gd_strerror(rc));
	if (strcmp(op, "read") == 0) {
		Godfs__CsRead m = GODFS__CS_READ__INIT;
		m.has_chunk_id = m.has_version = m.has_offset = m.has_length = 1;
		m.chunk_id = chunk;
		m.version = version;
		m.length = sizeof(data);
		rc = send_request(fd, GODFS__METHOD__M_CS_READ, 2, &m.base, NULL, 0);
		rc = rc < 0 ? GD_ECONN : read_response(fd, &godfs__cs_read_resp__descriptor, NULL);
	} else if (strcmp(op, "write") == 0) {
		Godfs__CsWrite m = GODFS__CS_WRITE__INIT;
		memset(data, 'X', sizeof(data));
		m.has_chunk_id = m.has_version = m.has_offset = 1;
		m.chunk_id = chunk;
		m.version = version;
		m.has_prev_version = 1;
		m.prev_version = version;
		rc = send_request(fd, GODFS__METHOD__M_CS_WRITE, 2, &m.base, data, sizeof(data));
		rc = rc < 0 ? GD_ECONN : read_response(fd, &godfs__cs_write_resp__descriptor, NULL);
	} else if (strcmp(op, "delete") == 0 || strcmp(op, "truncate") == 0) {
		Godfs__CsChunkOp m = GODFS__CS_CHUNK_OP__INIT;
		int del = strcmp(op, "delete") == 0;
		m.has_chunk_id = m.has_version = 1;
		m.chunk_id = chunk;
		m.version = del ? 0 : version;
		m.has_length = !del;
		m.length = 0;
		rc = send_request(fd, del ? GODFS__METHOD__M_CS_DELETE : GODFS__METHOD__M_CS_TRUNCATE,
				  2, &m.base, NULL, 0);
		rc = rc < 0 ? GD_ECONN : read_response(fd, &godfs__status_resp__descriptor, NULL);
	} else if (strcmp(op, "replicate") == 0) {
		Godfs__CsReplicate m = GODFS__CS_REPLICATE__INIT;
		m.has_chunk_id = m.has_version = 1;
		m.chunk_id = chunk;
		m.version = version + 1000;
		m.source = "127.0.0.1:1";
		rc = send_request(fd, GODFS__METHOD__M_CS_REPLICATE, 2, &m.base, NULL, 0);
		rc = rc < 0 ? GD_ECONN : read_response(fd, &godfs__status_resp__descriptor, NULL);
	} else {
		return setup_failed("unknown op");
	}
	if (rc == 0)
		return let_through("a chunk operation without a capability succeeded");
	return refused(gd_strerror(rc));
}

static int a_slowreader(const char *addr, const char *keyfile, int secs, int ping,
			uint64_t chunk, uint64_t version)
{
	Godfs__Ping pg = GODFS__PING__INIT;
	Godfs__CsRead cr = GODFS__CS_READ__INIT;
	struct gd_cap cap = { .chunk_id = chunk, .version = version, .rights = GD_CAP_READ };
	uint8_t capbuf[GD_CAP_LEN];
	struct gd_keyring kr;
	Godfs__Readdir rd = GODFS__READDIR__INIT;
	int fd, small = 4096;
	uint64_t t0, id = 1;

	fd = keyed_shake(addr, keyfile, GD_ROLE_CLIENT, &kr);
	if (fd < 0)
		return 2;
	/* A small receive buffer, and replies never read: they pile up on the
	 * daemon's side. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (hello(fd, id++, GD_ROLE_CLIENT, 0, NULL) < 0)
		return setup_failed("HELLO");
	if (chunk) {
		cap.expires_ms = gd_cap_now_ms() + 600000;
		if (gd_cap_sign(&kr, &cap, capbuf) < 0)
			return setup_failed("cap");
		cr.has_chunk_id = cr.has_version = cr.has_offset = cr.has_length = cr.has_cap = 1;
		cr.chunk_id = chunk;
		cr.version = version;
		cr.length = 1u << 20;
		cr.cap.data = capbuf;
		cr.cap.len = sizeof(capbuf);
	}
	rd.has_ino = rd.has_max_entries = rd.has_plus = 1;
	rd.ino = 1;
	rd.max_entries = 1000;
	rd.plus = 1;
	t0 = gd_net_now_ms();
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (gd_net_now_ms() - t0 < (uint64_t)secs * 1000) {
		uint8_t hdrbuf[GD_FRAME_HDR_LEN], pb[128];
		struct gd_frame_hdr h = {
			.magic_version = GD_FRAME_MAGIC_VERSION, .kind = GD_KIND_REQUEST,
			.method = chunk ? GODFS__METHOD__M_CS_READ
			      : ping ? GODFS__METHOD__M_PING : GODFS__METHOD__M_READDIR,
			.request_id = id++,
		};
		struct pollfd p = { fd, POLLOUT, 0 };
		ssize_t n;

		pg.has_nonce = 1;
		pg.nonce = id;
		h.pb_len = (uint32_t)(chunk ? godfs__cs_read__pack(&cr, pb)
				      : ping ? godfs__ping__pack(&pg, pb) : godfs__readdir__pack(&rd, pb));
		gd_frame_encode_hdr(&h, hdrbuf);
		if (poll(&p, 1, 100) < 0)
			break;
		if (p.revents & (POLLERR | POLLHUP)) {
			say("cut after %.1f s, %llu requests sent",
			    (double)(gd_net_now_ms() - t0) / 1000.0, (unsigned long long)id);
			return refused("the daemon cut a client that does not read");
		}
		if (!(p.revents & POLLOUT))
			continue;
		{
			uint8_t frame[sizeof(hdrbuf) + sizeof(pb)];
			memcpy(frame, hdrbuf, sizeof(hdrbuf));
			memcpy(frame + sizeof(hdrbuf), pb, h.pb_len);
			n = send(fd, frame, sizeof(hdrbuf) + h.pb_len, MSG_NOSIGNAL);
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			say("cut after %.1f s, %llu requests sent",
			    (double)(gd_net_now_ms() - t0) / 1000.0, (unsigned long long)id);
			return refused("the daemon cut a client that does not read");
		}
		/* a half-sent frame is fine: the daemon cuts us anyway */
	}
	return let_through("a client that never reads stayed connected");
}

static int a_idle(const char *addr, int n, const char *src, int secs)
{
	int *fds = calloc((size_t)n, sizeof(int));
	int opened = 0, at_once = 0, cut = 0, left;
	struct rlimit rl = { (rlim_t)n + 64, (rlim_t)n + 64 };
	uint64_t end;

	setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < n; i++) {
		fds[i] = connect_to(addr, src);
		if (fds[i] >= 0)
			opened++;
	}
	/* Refused at once: closed within a moment of the connect. */
	for (int i = 0; i < n; i++) {
		char c;
		if (fds[i] < 0)
			continue;
		if (closed_within(fds[i], 1) || (recv(fds[i], &c, 1, MSG_DONTWAIT) == 0)) {
			at_once++;
			close(fds[i]);
			fds[i] = -1;
		}
	}
	end = gd_net_now_ms() + (uint64_t)secs * 1000;
	do {
		left = 0;
		for (int i = 0; i < n; i++) {
			if (fds[i] < 0)
				continue;
			if (closed_within(fds[i], 0)) {
				cut++;
				close(fds[i]);
				fds[i] = -1;
			} else {
				left++;
			}
		}
		if (left)
			usleep(200 * 1000);
	} while (left && gd_net_now_ms() < end);
	say("%d connections opened of %d, %d refused at once, %d cut later, %d still open",
	    opened, n, at_once, cut, left);
	if (opened == 0) {
		free(fds);
		return setup_failed("no connection could be opened from that address");
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return left ? let_through("idle connections stayed open") : refused("every idle connection closed");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: godfs_attack ATTACK ADDR [...] (see the source)\n");
		return 2;
	}
	attack = argv[1];
	gd_log_init("godfs_attack", "error");
	if (strcmp(attack, "nokey") == 0)
		return a_nokey(argv[2]);
	if (strcmp(attack, "noshake") == 0)
		return a_noshake(argv[2]);
	if (argc >= 4 && strcmp(attack, "wrongkey") == 0)
		return a_wrongkey(argv[2], argv[3]);
	if (argc >= 4 && strcmp(attack, "replay") == 0)
		return a_replay(argv[2], argv[3]);
	if (argc >= 4 && strcmp(attack, "bigframe") == 0)
		return a_bigframe(argv[2], argv[3]);
	if (argc >= 4 && strcmp(attack, "hello-role") == 0)
		return a_hello_role(argv[2], argv[3]);
	if (argc >= 4 && strcmp(attack, "session") == 0)
		return a_session(argv[2], argv[3]);
	if (argc >= 6 && strcmp(attack, "register") == 0)
		return a_register(argv[2], argv[3], argv[4], argv[5]);
	if (argc >= 5 && strcmp(attack, "heartbeat") == 0)
		return a_heartbeat(argv[2], argv[3], argv[4]);
	if (argc >= 7 && strcmp(attack, "cs") == 0)
		return a_cs(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10),
			    strtoull(argv[6], NULL, 10));
	if (argc >= 5 && strcmp(attack, "slowreader") == 0)
		return a_slowreader(argv[2], argv[3], atoi(argv[4]),
				    argc >= 6 && strcmp(argv[5], "ping") == 0,
				    argc >= 8 && strcmp(argv[5], "cs") == 0 ? strtoull(argv[6], NULL, 10) : 0,
				    argc >= 8 && strcmp(argv[5], "cs") == 0 ? strtoull(argv[7], NULL, 10) : 0);
	if (argc >= 6 && strcmp(attack, "idle") == 0)
		return a_idle(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]));
	fprintf(stderr, "godfs_attack: unknown attack or missing arguments: %s\n", attack);
	return 2;
}
