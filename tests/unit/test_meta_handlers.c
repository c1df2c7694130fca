/* The meta's request layer against a fake Raft: real handlers, the real
 * dispatcher and loop queues, a real FSM; Raft is a fake that applies
 * proposals to that FSM at once or when the test says, or fails them
 * (GD_ENOTLEADER); answers are captured instead of sent.
 *
 * It shows: HELLO makes a session; MKNOD/RENAME/UNLINK are answered from
 * the FSM's result; a resend with the same session seq gets the recorded
 * answer without a second apply; a proposal failing with not-leader answers
 * GD_ENOTLEADER; a request needing chunkds while they register is parked and
 * put back on the run queue (not dispatched inline) by CS_REGISTER; an OPEN
 * waiting for a removal goes on after it; a lease behind another on the same
 * chunk waits for it; a member failed at a chain's first write when no live
 * member holds the chunk (ChunkFailed.unacked), trusted only from the
 * session granted that version; a failure reported at an older version gets
 * GD_ESTALE, not a lease at the record's; the gates (role, session,
 * leadership, stop); a deposed leader answers GD_ENOTLEADER at once; the
 * node window lasts --node-dead-ms; a fail-stop answers GD_ENOTLEADER;
 * the compound requests (docs/meta-rpc.md): CREATE makes, opens and leases
 * chunk 0 of a new file in one entry (no lease for an existing name, none
 * in a replayed answer), LEASE_RETURN frees a CREATE's unused chunk only for
 * the session that holds it and only while the record is as made, and an
 * OPEN with locate answers where chunk 0 is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_frame.h"
#include "gd_methods.h"
#include "gd_status.h"
#include "meta_dispatch.h"
#include "meta_h.h"
#include "meta_loop.h"
#include "meta_server.h"
#include "meta_sessions.h"
#include "proto/wire.pb-c.h"

#define CHUNK (1u << 20)
#define MAX_PROPS 32
#define MAX_REPLIES 64

struct prop {
	uint8_t *buf;
	size_t len;
	void (*done)(void *arg, int status, void *result);
	void *arg;
};

struct reply {
	char tag[16];           /* the request's peer string */
	uint32_t method;
	uint8_t *pb;
	size_t len;
};

struct harness {
	struct meta_server ms;
	/* the fake Raft */
	bool deferred;          /* keep proposals until raft_apply_all */
	int fail;               /* fail every proposal with this status */
	struct prop props[MAX_PROPS];
	size_t n_props;
	unsigned applied;       /* entries applied to the FSM */
	unsigned replayed;      /* of which answered from an exactly-once record */
	bool other_leader;
	/* captured answers */
	struct reply replies[MAX_REPLIES];
	size_t n_replies;
	unsigned freed;
	unsigned next_tag;
	struct meta_conn client; /* a client connection */
};

/* ---- the fake Raft ---------------------------------------------------------------------- */

static void raft_apply_one(struct harness *h, struct prop *p)
{
	struct meta_fsm_result *res = gd_calloc(1, sizeof(*res));

	assert_non_null(res);
	assert_int_equal(meta_fsm_apply(h->ms.fsm, p->buf, p->len, res), 0);
	h->applied++;
	if (res->replayed)
		h->replayed++;
	free(p->buf);
	p->done(p->arg, 0, res);
}

static int fake_propose(void *ctx, const void *buf, size_t len,
			void (*done)(void *arg, int status, void *result), void *arg)
{
	struct harness *h = ctx;
	struct prop p = { .buf = malloc(len ? len : 1), .len = len, .done = done, .arg = arg };

	assert_non_null(p.buf);
	memcpy(p.buf, buf, len);
	if (h->fail) {
		/* accepted, then lost (leadership gone before commit) */
		free(p.buf);
		done(arg, h->fail, NULL);
		return 0;
	}
	if (!h->deferred) {
		raft_apply_one(h, &p);
		return 0;
	}
	assert_true(h->n_props < MAX_PROPS);
	h->props[h->n_props++] = p;
	return 0;
}

/* Applies the proposals kept so far, in order. */
static void raft_apply_all(struct harness *h)
{
	size_t i, n = h->n_props;

	h->n_props = 0;
	for (i = 0; i < n; i++)
		raft_apply_one(h, &h->props[i]);
}

static bool fake_other_leader(void *ctx)
{
	return ((struct harness *)ctx)->other_leader;
}

static const char *fake_leader_address(void *ctx)
{
	return ((struct harness *)ctx)->other_leader ? "10.0.0.2:9421" : NULL;
}

/* ---- captured answers ----------------------------------------------------------------------- */

static void keep(struct harness *h, struct gd_request *req, uint8_t *pb, size_t len)
{
	struct reply *r;

	assert_true(h->n_replies < MAX_REPLIES);
	r = &h->replies[h->n_replies++];
	snprintf(r->tag, sizeof(r->tag), "%s", req->peer);
	r->method = req->hdr.method;
	r->pb = pb;
	r->len = len;
}

static int cap_reply(void *ctx, struct gd_request *req, const ProtobufCMessage *resp)
{
	size_t len = protobuf_c_message_get_packed_size(resp);
	uint8_t *pb = malloc(len ? len : 1);

	assert_non_null(pb);
	protobuf_c_message_pack(resp, pb);
	keep(ctx, req, pb, len);
	return 0;
}

static int cap_reply_packed(void *ctx, struct gd_request *req, const uint8_t *pb, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, pb, len);
	keep(ctx, req, copy, len);
	return 0;
}

static void cap_free(void *ctx, struct gd_request *req)
{
	struct harness *h = ctx;

	protobuf_c_message_free_unpacked(req->msg, &gd_pb_allocator);
	free(req->pb);
	free((char *)req->peer);
	free(req);
	h->freed++;
}

/* The answer to the request tagged tag, or NULL when it has none yet. */
static struct reply *answer(struct harness *h, const char *tag)
{
	size_t i;

	for (i = 0; i < h->n_replies; i++)
		if (strcmp(h->replies[i].tag, tag) == 0)
			return &h->replies[i];
	return NULL;
}

/* The status of an answer (field 1 of every meta response). */
static int status_of(const struct reply *r)
{
	Godfs__StatusResp *s;
	int st;

	assert_non_null(r);
	s = godfs__status_resp__unpack(NULL, r->len, r->pb);
	assert_non_null(s);
	st = s->status;
	godfs__status_resp__free_unpacked(s, NULL);
	return st;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* A request as gd_server would hand it over, on conn; *tag names it. */
static struct gd_request *mkreq(struct harness *h, uint32_t method, const ProtobufCMessage *msg,
				struct meta_conn *conn, char tag[16])
{
	struct gd_request *req = calloc(1, sizeof(*req));
	size_t len = protobuf_c_message_get_packed_size(msg);

	assert_non_null(req);
	req->hdr.method = (uint16_t)method;
	req->method = gd_method_get(method);
	assert_non_null(req->method);
	assert_ptr_equal(req->method->req, msg->descriptor);
	req->pb = malloc(len ? len : 1);
	assert_non_null(req->pb);
	req->hdr.pb_len = (uint32_t)protobuf_c_message_pack(msg, req->pb);
	req->msg = protobuf_c_message_unpack(msg->descriptor, &gd_pb_allocator, len, req->pb);
	assert_non_null(req->msg);
	snprintf(tag, 16, "r%u", ++h->next_tag);
	req->peer = strdup(tag);
	req->conn_ctx = conn;
	return req;
}

/* Hands a request to the dispatcher, as the loop does; its tag in tag. */
static void call(struct harness *h, uint32_t method, const ProtobufCMessage *msg,
		 struct meta_conn *conn, char tag[16])
{
	meta_dispatch(&h->ms, mkreq(h, method, msg, conn, tag));
}

static size_t queue_len(const struct meta_queue *q)
{
	size_t n = 0;
	const struct meta_event *ev;

	for (ev = q->head; ev; ev = ev->next)
		n++;
	return n;
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	h->ms.opt.session_timeout_ms = 30000;
	h->ms.opt.lease_ms = 10000;
	h->ms.opt.cap_lifetime_ms = 60000;
	h->ms.opt.node_dead_ms = 6000;
	assert_int_equal(meta_fsm_new(CHUNK, &h->ms.fsm), 0);
	assert_int_equal(meta_loop_init(&h->ms), 0);
	h->ms.proposer.propose = fake_propose;
	h->ms.proposer.other_leader = fake_other_leader;
	h->ms.proposer.leader_address = fake_leader_address;
	h->ms.proposer.ctx = h;
	h->ms.io.reply = cap_reply;
	h->ms.io.reply_packed = cap_reply_packed;
	h->ms.io.free = cap_free;
	h->ms.io.ctx = h;
	h->ms.ready = true;
	h->ms.leader_since_ms = meta_h_now_ms() - 60000; /* past the node window */
	h->client.role = -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	size_t i;

	h->deferred = false;
	raft_apply_all(h);
	meta_loop_release(&h->ms);
	meta_fsm_free(h->ms.fsm);
	for (i = 0; i < h->n_replies; i++)
		free(h->replies[i].pb);
	free(h);
	return 0;
}

/* HELLO as a client on conn: the session id. */
static uint64_t hello_on(struct harness *h, struct meta_conn *conn)
{
	Godfs__Hello m = GODFS__HELLO__INIT;
	Godfs__HelloResp *r;
	char tag[16];
	uint64_t id;

	m.has_protocol = 1;
	m.protocol = GD_PROTOCOL_VERSION;
	m.host = "test";
	m.mountpoint = "/mnt";
	call(h, M(HELLO), &m.base, conn, tag);
	assert_non_null(answer(h, tag));
	r = godfs__hello_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_non_null(r);
	assert_int_equal(r->status, 0);
	id = r->session_id;
	godfs__hello_resp__free_unpacked(r, NULL);
	return id;
}

/* HELLO as a client on the harness's client connection: the session id. */
static uint64_t hello(struct harness *h)
{
	return hello_on(h, &h->client);
}

/* MKNOD of a regular file name in the root for the session, seq req_seq
 * (0: none); the answer's status, and the inode in *ino. */
static int do_mknod(struct harness *h, const char *name, uint64_t session, uint64_t req_seq,
		 uint64_t *ino)
{
	Godfs__Mknod m = GODFS__MKNOD__INIT;
	Godfs__AttrResp *a;
	char tag[16];
	int st;

	m.has_parent = m.has_mode = m.has_exclusive = 1;
	m.parent = 1;
	m.name = (char *)name;
	m.mode = S_IFREG | 0644;
	m.exclusive = 1;
	if (session) {
		m.has_session_id = 1;
		m.session_id = session;
	}
	if (req_seq) {
		m.has_req_seq = 1;
		m.req_seq = req_seq;
	}
	call(h, M(MKNOD), &m.base, &h->client, tag);
	st = status_of(answer(h, tag));
	if (st == 0 && ino) {
		a = godfs__attr_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
		assert_non_null(a);
		*ino = a->attr->ino;
		godfs__attr_resp__free_unpacked(a, NULL);
	}
	return st;
}

static int name_call(struct harness *h, uint32_t method, const char *name)
{
	Godfs__NameReq m = GODFS__NAME_REQ__INIT;
	char tag[16];

	m.has_parent = 1;
	m.parent = 1;
	m.name = (char *)name;
	call(h, method, &m.base, &h->client, tag);
	return status_of(answer(h, tag));
}

static int lookup(struct harness *h, const char *name, uint64_t *ino)
{
	Godfs__Lookup m = GODFS__LOOKUP__INIT;
	Godfs__AttrResp *a;
	char tag[16];
	int st;

	m.has_parent = 1;
	m.parent = 1;
	m.name = (char *)name;
	call(h, M(LOOKUP), &m.base, &h->client, tag);
	st = status_of(answer(h, tag));
	if (st == 0 && ino) {
		a = godfs__attr_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
		*ino = a->attr->ino;
		godfs__attr_resp__free_unpacked(a, NULL);
	}
	return st;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_hello_makes_session(void **state)
{
	struct harness *h = *state;
	uint64_t id = hello(h);

	assert_int_not_equal(id, 0);
	assert_int_equal(h->applied, 1);
	assert_true(meta_sessions_known(h->ms.sess, id));
	assert_int_equal(h->client.role, GODFS__ROLE__ROLE_CLIENT);
	assert_int_equal(h->client.session_id, id);
	/* the FSM has it too: a new leader would restore it */
	assert_int_equal(meta_fsm_sessions(h->ms.fsm, &id, 1), 1);
	assert_int_equal(h->freed, h->n_replies);
}

static void test_namespace_changes(void **state)
{
	struct harness *h = *state;
	Godfs__Rename rn = GODFS__RENAME__INIT;
	uint64_t sid = hello(h), ino = 0, got = 0;
	char tag[16];

	assert_int_equal(do_mknod(h, "a", sid, 0, &ino), 0);
	assert_int_not_equal(ino, 0);
	/* the FSM's answer, whatever it is */
	assert_int_equal(do_mknod(h, "a", sid, 0, NULL), GD_EEXIST);
	rn.has_parent = rn.has_newparent = 1;
	rn.parent = rn.newparent = 1;
	rn.name = "a";
	rn.newname = "b";
	call(h, M(RENAME), &rn.base, &h->client, tag);
	assert_int_equal(status_of(answer(h, tag)), 0);
	assert_int_equal(lookup(h, "a", NULL), GD_ENOENT);
	assert_int_equal(lookup(h, "b", &got), 0);
	assert_int_equal(got, ino);
	assert_int_equal(name_call(h, M(UNLINK), "b"), 0);
	assert_int_equal(lookup(h, "b", NULL), GD_ENOENT);
	assert_int_equal(name_call(h, M(UNLINK), "b"), GD_ENOENT);
	/* a request without its fields never reaches Raft */
	rn.name = NULL;
	call(h, M(RENAME), &rn.base, &h->client, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_EINVAL);
	assert_int_equal(h->freed, h->n_replies);
}

static void test_exactly_once(void **state)
{
	struct harness *h = *state;
	uint64_t sid = hello(h), ino1 = 0, ino2 = 0, inodes;

	assert_int_equal(do_mknod(h, "x", sid, 7, &ino1), 0);
	inodes = meta_fsm_inode_count(h->ms.fsm);
	assert_int_equal(h->replayed, 0);
	/* the same request again (a resend after a lost answer): the recorded
	 * answer, not EEXIST, and nothing applied a second time */
	assert_int_equal(do_mknod(h, "x", sid, 7, &ino2), 0);
	assert_int_equal(ino2, ino1);
	assert_int_equal(h->replayed, 1);
	assert_int_equal(meta_fsm_inode_count(h->ms.fsm), inodes);
	/* a new seq is a new request */
	assert_int_equal(do_mknod(h, "x", sid, 8, NULL), GD_EEXIST);
}

static void test_not_leader(void **state)
{
	struct harness *h = *state;
	uint64_t sid = hello(h), inodes = meta_fsm_inode_count(h->ms.fsm);
	Godfs__StatusResp *s;
	char tag[16];
	Godfs__Mknod m = GODFS__MKNOD__INIT;

	h->fail = GD_ENOTLEADER;
	assert_int_equal(do_mknod(h, "y", sid, 0, NULL), GD_ENOTLEADER);
	assert_int_equal(meta_fsm_inode_count(h->ms.fsm), inodes);
	/* with the leader's address when another node leads */
	h->other_leader = true;
	m.has_parent = 1;
	m.parent = 1;
	m.name = "z";
	call(h, M(MKDIR), &m.base, &h->client, tag);
	s = godfs__status_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_non_null(s);
	assert_int_equal(s->status, GD_ENOTLEADER);
	assert_string_equal(s->leader, "10.0.0.2:9421");
	godfs__status_resp__free_unpacked(s, NULL);
	assert_int_equal(h->freed, h->n_replies);
}

/* A chunkd registers on conn with a report of (chunk, version) pairs. */
static void cs_register(struct harness *h, struct meta_conn *conn, const char *id,
			const uint64_t *chunks, size_t n, char tag[16])
{
	Godfs__CsRegister m = GODFS__CS_REGISTER__INIT;
	Godfs__ChunkReport reps[4], *ptrs[4];
	char addr[64];
	size_t i;

	assert_true(n <= 2);
	snprintf(addr, sizeof(addr), "%s.test:9420", id);
	m.node_id = (char *)id;
	m.address = addr;
	m.has_total_bytes = m.has_free_bytes = 1;
	m.total_bytes = 1ull << 40;
	m.free_bytes = 1ull << 39;
	for (i = 0; i < n; i++) {
		godfs__chunk_report__init(&reps[i]);
		reps[i].has_chunk_id = reps[i].has_version = 1;
		reps[i].chunk_id = chunks[2 * i];
		reps[i].version = chunks[2 * i + 1];
		ptrs[i] = &reps[i];
	}
	m.n_chunks = n;
	m.chunks = ptrs;
	conn->role = GODFS__ROLE__ROLE_CHUNKD;
	call(h, M(CS_REGISTER), &m.base, conn, tag);
}

static Godfs__ChunkResp *chunk_resp(struct harness *h, const char *tag)
{
	Godfs__ChunkResp *r = godfs__chunk_resp__unpack(NULL, answer(h, tag)->len,
							 answer(h, tag)->pb);
	assert_non_null(r);
	return r;
}

static void chunk_req_on(struct harness *h, struct meta_conn *conn, uint32_t method,
			 uint64_t ino, char tag[16])
{
	Godfs__ChunkReq m = GODFS__CHUNK_REQ__INIT;

	m.has_ino = m.has_index = 1;
	m.ino = ino;
	m.index = 0;
	call(h, method, &m.base, conn, tag);
}

static void chunk_req(struct harness *h, uint32_t method, uint64_t ino, char tag[16])
{
	chunk_req_on(h, &h->client, method, ino, tag);
}

static void test_park_until_chunkds_register(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs_a = { .role = -1 }, cs_b = { .role = -1 };
	uint64_t sid = hello(h), ino = 0, report[2];
	Godfs__ChunkResp *r;
	char tag[16], loc[16], reg[16];

	cs_register(h, &cs_a, "cs-a", NULL, 0, tag);
	assert_int_equal(status_of(answer(h, tag)), 0);
	cs_register(h, &cs_b, "cs-b", NULL, 0, tag);
	assert_int_equal(status_of(answer(h, tag)), 0);
	assert_int_equal(meta_fsm_node_count(h->ms.fsm), 2);
	assert_int_equal(do_mknod(h, "data", sid, 0, &ino), 0);
	chunk_req(h, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->n_chain, 2);
	report[0] = r->chunk_id;
	report[1] = r->version;
	godfs__chunk_resp__free_unpacked(r, NULL);

	/* a new leader: nobody registered yet, the FSM knows two chunkds */
	meta_registry_clear(h->ms.reg);
	meta_locs_clear(h->ms.locs);
	cs_a.node_id[0] = cs_b.node_id[0] = '\0';
	/* the window lasts until they would be declared dead (--node-dead-ms,
	 * 6 s here), not a fixed 3 s */
	h->ms.leader_since_ms = meta_h_now_ms() - 4000;
	assert_true(meta_h_in_node_window(&h->ms));
	h->ms.leader_since_ms = meta_h_now_ms() - 6500;
	assert_false(meta_h_in_node_window(&h->ms));
	h->ms.leader_since_ms = meta_h_now_ms();
	assert_true(meta_h_in_node_window(&h->ms));
	chunk_req(h, M(CHUNK_LOCATE), ino, loc);
	assert_null(answer(h, loc));
	assert_int_equal(queue_len(&h->ms.parked), 1);

	/* a registration puts it back on the run queue; it does not run inside
	 * the registration's handler */
	cs_register(h, &cs_a, "cs-a", report, 1, reg);
	assert_int_equal(status_of(answer(h, reg)), 0);
	assert_null(answer(h, loc));
	assert_int_equal(queue_len(&h->ms.parked), 0);
	assert_int_equal(queue_len(&h->ms.run), 1);
	/* the loop runs it: cs-a holds the chunk now */
	meta_loop_run(&h->ms);
	assert_int_equal(queue_len(&h->ms.run), 0);
	r = chunk_resp(h, loc);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->chunk_id, report[0]);
	assert_int_equal(r->n_chain, 1);
	assert_string_equal(r->chain[0], "cs-a.test:9420");
	godfs__chunk_resp__free_unpacked(r, NULL);
	assert_int_equal(h->freed, h->n_replies);
}

static void test_open_waits_for_removal(void **state)
{
	struct harness *h = *state;
	Godfs__Open o = GODFS__OPEN__INIT;
	Godfs__InodeReq rel = GODFS__INODE_REQ__INIT;
	Godfs__NameReq un = GODFS__NAME_REQ__INIT;
	uint64_t sid = hello(h), ino = 0;
	char tag[16], unl[16], opn[16];

	assert_int_equal(do_mknod(h, "gone", sid, 0, &ino), 0);
	rel.has_ino = 1;
	rel.ino = ino;
	call(h, M(RELEASE), &rel.base, &h->client, tag);
	assert_int_equal(status_of(answer(h, tag)), 0);
	assert_int_equal(meta_sessions_open_count(h->ms.sess, ino), 0);

	/* nobody has it open: the UNLINK frees it at once when applied */
	h->deferred = true;
	un.has_parent = 1;
	un.parent = 1;
	un.name = "gone";
	call(h, M(UNLINK), &un.base, &h->client, unl);
	assert_null(answer(h, unl));
	assert_int_equal(h->n_props, 1);
	/* an OPEN meanwhile waits for it */
	o.has_ino = 1;
	o.ino = ino;
	call(h, M(OPEN), &o.base, &h->client, opn);
	assert_null(answer(h, opn));
	assert_int_equal(queue_len(&h->ms.parked), 1);
	/* applied: the UNLINK is answered, the OPEN goes back on the run queue */
	raft_apply_all(h);
	assert_int_equal(status_of(answer(h, unl)), 0);
	assert_null(answer(h, opn));
	assert_int_equal(queue_len(&h->ms.run), 1);
	meta_loop_run(&h->ms);
	assert_int_equal(status_of(answer(h, opn)), GD_ENOENT);
	assert_int_equal(meta_sessions_open_count(h->ms.sess, ino), 0);
}

static void test_lease_waits_for_lease(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs_a = { .role = -1 };
	uint64_t sid = hello(h), ino = 0;
	Godfs__ChunkResp *r1, *r2;
	char tag[16], l1[16], l2[16];

	cs_register(h, &cs_a, "cs-a", NULL, 0, tag);
	assert_int_equal(do_mknod(h, "two", sid, 0, &ino), 0);
	h->deferred = true;
	chunk_req(h, M(WRITE_LEASE), ino, l1);
	chunk_req(h, M(WRITE_LEASE), ino, l2);
	assert_int_equal(h->n_props, 1);          /* the second is not decided yet */
	assert_int_equal(queue_len(&h->ms.parked), 1);
	raft_apply_all(h);
	r1 = chunk_resp(h, l1);
	assert_int_equal(r1->version, 1);
	assert_null(answer(h, l2));
	meta_loop_run(&h->ms);                    /* now it is decided, on v1's state */
	assert_int_equal(h->n_props, 1);
	raft_apply_all(h);
	r2 = chunk_resp(h, l2);
	assert_int_equal(r2->chunk_id, r1->chunk_id);
	assert_int_equal(r2->version, 2);
	godfs__chunk_resp__free_unpacked(r1, NULL);
	godfs__chunk_resp__free_unpacked(r2, NULL);
}

/* CHUNK_FAILED on conn of the chunk at index 0 of ino, naming member
 * `failed` at version; unacked: the client says no write at it was
 * acknowledged. */
static void chunk_failed_on(struct harness *h, struct meta_conn *conn, uint64_t ino,
			    uint64_t version, const char *failed, bool unacked, char tag[16])
{
	Godfs__ChunkFailed m = GODFS__CHUNK_FAILED__INIT;

	m.has_ino = m.has_index = m.has_version = 1;
	m.ino = ino;
	m.index = 0;
	m.version = version;
	m.failed = (char *)failed;
	m.has_unacked = unacked;
	m.unacked = unacked;
	call(h, M(CHUNK_FAILED), &m.base, conn, tag);
}

static void chunk_failed(struct harness *h, uint64_t ino, uint64_t version, const char *failed,
			 bool unacked, char tag[16])
{
	chunk_failed_on(h, &h->client, ino, version, failed, unacked, tag);
}

/* A new leader (nothing registered, no locations) past its node window;
 * the chunkds of ids[0..n) register on conns with the report rep[i] (a
 * (chunk, version) pair, or none when chunk is 0). */
static void new_leader(struct harness *h, struct meta_conn *conns, const char *const *ids,
		       const uint64_t (*rep)[2], size_t n)
{
	char tag[16];
	size_t i;

	meta_registry_clear(h->ms.reg);
	meta_locs_clear(h->ms.locs);
	for (i = 0; i < n; i++) {
		conns[i].node_id[0] = '\0';
		cs_register(h, &conns[i], ids[i], rep[i], rep[i][0] ? 1 : 0, tag);
		assert_int_equal(status_of(answer(h, tag)), 0);
	}
	assert_false(meta_h_in_node_window(&h->ms));
}

/* The node id of a chain address "ID.test:9420". */
static void id_of(const char *addr, char out[16])
{
	size_t n = strcspn(addr, ".");

	assert_true(n < 16);
	memcpy(out, addr, n);
	out[n] = '\0';
}

/* The chain member named failed at the first write of a new chunk, with no
 * other live member holding the chunk (their reports came before the write
 * reached them, or after they lost the unacknowledged piece): with the
 * client's word that nothing was acknowledged, a fresh chain without it at
 * version 2 that still has prev_version 0 (the client creates the chunk);
 * without it, not enough chunk servers (an acknowledged copy may exist). */
static void test_failed_before_first_write(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs[3] = { { .role = -1 }, { .role = -1 }, { .role = -1 } };
	const char *ids[3] = { "cs-a", "cs-b", "cs-c" };
	const uint64_t none[3][2] = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	struct meta_fsm_chunk c;
	Godfs__ChunkResp *r;
	uint64_t sid = hello(h), ino = 0, chunk_id;
	char tag[16], head[16], failed_addr[64];
	size_t i;

	assert_int_equal(meta_fsm_set_default_goal(h->ms.fsm, 2), 0);
	new_leader(h, cs, ids, none, 3);
	assert_int_equal(do_mknod(h, "new", sid, 0, &ino), 0);
	chunk_req(h, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->version, 1);
	assert_int_equal(r->n_chain, 2);
	chunk_id = r->chunk_id;
	snprintf(failed_addr, sizeof(failed_addr), "%s", r->chain[0]);
	id_of(r->chain[0], head);
	godfs__chunk_resp__free_unpacked(r, NULL);

	/* nobody reports a copy: no live member is known to hold v1 */
	new_leader(h, cs, ids, none, 3);
	chunk_failed(h, ino, 1, failed_addr, false, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_ENOSERVERS);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &c), 0);
	assert_int_equal(c.version, 1);

	chunk_failed(h, ino, 1, failed_addr, true, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->chunk_id, chunk_id);
	assert_int_equal(r->version, 2);
	assert_int_equal(r->prev_version, 0);
	assert_int_equal(r->n_chain, 2);
	for (i = 0; i < r->n_chain; i++)
		assert_string_not_equal(r->chain[i], failed_addr);
	godfs__chunk_resp__free_unpacked(r, NULL);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &c), 0);
	assert_int_equal(c.version, 2);
	assert_int_equal(c.prev_version, 0);
	assert_int_equal(c.n_nodes, 2);
	for (i = 0; i < c.n_nodes; i++)
		assert_string_not_equal(c.nodes[i], head);
	/* a repeat of the report changes nothing */
	chunk_failed(h, ino, 1, failed_addr, true, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->version, 2);
	godfs__chunk_resp__free_unpacked(r, NULL);
	assert_int_equal(h->freed, h->n_replies);
}

/* The same on an existing chunk: a lease moved it to v2, its first write
 * failed at the head, and the members report only v1 (the content, as the
 * last acknowledged write left it). With the client's word, the new chain is
 * the other v1 copy, and prev_version stays 1 (it moves straight to v3);
 * without it, not enough chunk servers. */
static void test_failed_before_first_write_prev(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs[3] = { { .role = -1 }, { .role = -1 }, { .role = -1 } };
	const char *ids[3] = { "cs-a", "cs-b", "cs-c" };
	const uint64_t none[3][2] = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	uint64_t rep[3][2] = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	struct meta_fsm_chunk c;
	Godfs__ChunkResp *r;
	uint64_t sid = hello(h), ino = 0;
	char tag[16], a[16], b[16], failed_addr[64], other_addr[64];
	size_t i;

	assert_int_equal(meta_fsm_set_default_goal(h->ms.fsm, 2), 0);
	new_leader(h, cs, ids, none, 3);
	assert_int_equal(do_mknod(h, "old", sid, 0, &ino), 0);
	chunk_req(h, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->version, 1);
	assert_int_equal(r->n_chain, 2);
	id_of(r->chain[0], a);
	id_of(r->chain[1], b);
	snprintf(failed_addr, sizeof(failed_addr), "%s", r->chain[0]);
	snprintf(other_addr, sizeof(other_addr), "%s", r->chain[1]);
	/* both members wrote v1 (acknowledged) */
	for (i = 0; i < 3; i++) {
		if (strcmp(ids[i], a) == 0 || strcmp(ids[i], b) == 0) {
			rep[i][0] = r->chunk_id;
			rep[i][1] = 1;
		}
	}
	godfs__chunk_resp__free_unpacked(r, NULL);
	/* a new lease: v2 on the same chain, whose first write never came */
	chunk_req(h, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->version, 2);
	assert_int_equal(r->prev_version, 1);
	godfs__chunk_resp__free_unpacked(r, NULL);

	new_leader(h, cs, ids, (const uint64_t (*)[2])rep, 3);
	chunk_failed(h, ino, 2, failed_addr, false, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_ENOSERVERS);

	chunk_failed(h, ino, 2, failed_addr, true, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->version, 3);
	assert_int_equal(r->prev_version, 1);
	assert_int_equal(r->n_chain, 1);
	assert_string_equal(r->chain[0], other_addr);
	godfs__chunk_resp__free_unpacked(r, NULL);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &c), 0);
	assert_int_equal(c.version, 3);
	assert_int_equal(c.prev_version, 1);
	assert_int_equal(c.n_nodes, 1);
	assert_string_equal(c.nodes[0], b);
	assert_int_equal(h->freed, h->n_replies);
}

/* `unacked` counts only from the session the version was granted to: the
 * first write of a new chunk fails at its head and no live member holds v1
 * (as in test_failed_before_first_write), but the claim comes from a
 * session without a lease on the chunk, or from one whose lease is at
 * another version: no fresh chain (the old rule: not enough chunk servers),
 * the record stays. The holder's own claim still gets one. */
static void test_unacked_needs_the_lease(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs[3] = { { .role = -1 }, { .role = -1 }, { .role = -1 } };
	struct meta_conn other = { .role = -1 };
	const char *ids[3] = { "cs-a", "cs-b", "cs-c" };
	const uint64_t none[3][2] = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	struct meta_fsm_chunk c;
	Godfs__ChunkResp *r;
	uint64_t sid = hello(h), sid2 = hello_on(h, &other), ino = 0;
	char tag[16], failed_addr[64];

	assert_int_not_equal(sid, sid2);
	assert_int_equal(meta_fsm_set_default_goal(h->ms.fsm, 2), 0);
	new_leader(h, cs, ids, none, 3);
	assert_int_equal(do_mknod(h, "lease", sid, 0, &ino), 0);
	/* the other session holds v1 */
	chunk_req_on(h, &other, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->version, 1);
	snprintf(failed_addr, sizeof(failed_addr), "%s", r->chain[0]);
	godfs__chunk_resp__free_unpacked(r, NULL);

	/* a session without a lease on the chunk */
	new_leader(h, cs, ids, none, 3);
	chunk_failed(h, ino, 1, failed_addr, true, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_ENOSERVERS);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &c), 0);
	assert_int_equal(c.version, 1);

	/* a session whose lease is at another version: this one takes v2,
	 * the other session's lease is at v1 */
	chunk_req(h, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->version, 2);
	godfs__chunk_resp__free_unpacked(r, NULL);
	new_leader(h, cs, ids, none, 3);
	chunk_failed_on(h, &other, ino, 2, failed_addr, true, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_ENOSERVERS);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &c), 0);
	assert_int_equal(c.version, 2);

	/* the holder of v2: a fresh chain */
	chunk_failed(h, ino, 2, failed_addr, true, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->version, 3);
	assert_int_equal(r->n_chain, 2);
	godfs__chunk_resp__free_unpacked(r, NULL);
	assert_int_equal(h->freed, h->n_replies);
}

/* A CHUNK_FAILED naming a version older than the record's (another session
 * took a lease meanwhile) bumps nothing, and gets GD_ESTALE rather than a
 * lease and a write capability at the record's version: that version is the
 * other session's alone. A resend of the holder's own report still gets its
 * lease. */
static void test_failed_older_version(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs_a = { .role = -1 }, cs_b = { .role = -1 };
	struct meta_conn other = { .role = -1 };
	struct meta_fsm_chunk c;
	struct meta_sessions_grant g;
	Godfs__ChunkResp *r;
	uint64_t sid = hello(h), sid2 = hello_on(h, &other), ino = 0, chunk_id;
	char tag[16], failed_addr[64];

	cs_register(h, &cs_a, "cs-a", NULL, 0, tag);
	cs_register(h, &cs_b, "cs-b", NULL, 0, tag);
	assert_int_equal(meta_fsm_set_default_goal(h->ms.fsm, 2), 0);
	assert_int_equal(do_mknod(h, "older", sid, 0, &ino), 0);
	chunk_req(h, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->version, 1);
	chunk_id = r->chunk_id;
	snprintf(failed_addr, sizeof(failed_addr), "%s", r->chain[1]);
	godfs__chunk_resp__free_unpacked(r, NULL);
	chunk_req_on(h, &other, M(WRITE_LEASE), ino, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->version, 2);
	godfs__chunk_resp__free_unpacked(r, NULL);

	/* the first session still writes at v1 and reports a member failed */
	chunk_failed(h, ino, 1, failed_addr, false, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, GD_ESTALE);
	assert_false(r->has_cap);
	assert_int_equal(r->n_chain, 0);
	godfs__chunk_resp__free_unpacked(r, NULL);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &c), 0);
	assert_int_equal(c.version, 2);
	g = (struct meta_sessions_grant){ ino, 0, chunk_id, 2 };
	assert_false(meta_sessions_holds(h->ms.sess, sid, &g));
	assert_true(meta_sessions_holds(h->ms.sess, sid2, &g));
	/* so is an `unacked` claim at v1 */
	chunk_failed(h, ino, 1, failed_addr, true, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_ESTALE);

	/* the holder of v2 reports it, then resends (the answer was lost) */
	chunk_failed_on(h, &other, ino, 2, failed_addr, false, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->version, 3);
	godfs__chunk_resp__free_unpacked(r, NULL);
	chunk_failed_on(h, &other, ino, 2, failed_addr, false, tag);
	r = chunk_resp(h, tag);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->version, 3);
	assert_true(r->has_lease_ms);
	assert_int_not_equal(r->n_chain, 0);
	godfs__chunk_resp__free_unpacked(r, NULL);
	assert_int_equal(h->freed, h->n_replies);
}

/* The status of a PING's answer (its field 2). */
static int ping_status(struct harness *h, const char *tag)
{
	Godfs__Ping *p;
	int st;

	assert_non_null(answer(h, tag));
	p = godfs__ping__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_non_null(p);
	st = p->status;
	godfs__ping__free_unpacked(p, NULL);
	return st;
}

static void test_gates(void **state)
{
	struct harness *h = *state;
	Godfs__Hello m = GODFS__HELLO__INIT;
	Godfs__Open o = GODFS__OPEN__INIT;
	Godfs__Ping p = GODFS__PING__INIT;
	Godfs__Lookup lk = GODFS__LOOKUP__INIT;
	struct gd_peer_auth auth = { .kind = GD_AUTH_CLUSTER, .role = GD_ROLE_CLIENT };
	struct meta_conn other = { .role = -1 };
	struct gd_request *req;
	uint64_t sid = hello(h), sid2;
	char tag[16];

	/* HELLO as a chunkd on a connection the handshake proved a client's */
	m.has_role = 1;
	m.role = GODFS__ROLE__ROLE_CHUNKD;
	req = mkreq(h, M(HELLO), &m.base, &other, tag);
	req->auth = &auth;
	meta_dispatch(&h->ms, req);
	assert_int_equal(status_of(answer(h, tag)), GD_EPERM);
	assert_int_equal(other.role, -1);
	/* another client's session: refused before the handler */
	m.has_role = 0;
	call(h, M(HELLO), &m.base, &other, tag);
	sid2 = other.session_id;
	assert_int_not_equal(sid2, 0);
	assert_int_not_equal(sid2, sid);
	o.has_ino = o.has_session_id = 1;
	o.ino = 1;
	o.session_id = sid2;
	call(h, M(OPEN), &o.base, &h->client, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_EPERM);
	o.session_id = sid;
	call(h, M(OPEN), &o.base, &h->client, tag);
	assert_int_not_equal(status_of(answer(h, tag)), GD_EPERM);
	/* not a ready leader, nobody else leads: held, not answered */
	h->ms.ready = false;
	call(h, M(PING), &p.base, &h->client, tag);
	assert_null(answer(h, tag));
	assert_int_equal(queue_len(&h->ms.held), 1);
	/* a leader is ready: the held request goes back on the run queue */
	h->ms.ready = true;
	meta_loop_release_held(&h->ms);
	assert_int_equal(queue_len(&h->ms.run), 1);
	meta_loop_run(&h->ms);
	assert_int_equal(ping_status(h, tag), 0);
	/* another node leads: redirected */
	h->ms.ready = false;
	h->other_leader = true;
	call(h, M(PING), &p.base, &h->client, tag);
	assert_int_equal(ping_status(h, tag), GD_ENOTLEADER);
	/* a deposed leader that knows no leader: answered at once, not held */
	h->other_leader = false;
	h->ms.deposed = true;
	call(h, M(PING), &p.base, &h->client, tag);
	assert_int_equal(ping_status(h, tag), GD_ENOTLEADER);
	assert_int_equal(queue_len(&h->ms.held), 0);
	/* once it has known a leader again, it holds like any follower */
	h->other_leader = true;
	assert_true(meta_loop_may_hold(&h->ms));
	assert_false(h->ms.deposed);
	h->other_leader = false;
	call(h, M(PING), &p.base, &h->client, tag);
	assert_null(answer(h, tag));
	assert_int_equal(queue_len(&h->ms.held), 1);
	h->ms.ready = true;
	meta_loop_release_held(&h->ms);
	meta_loop_run(&h->ms);
	assert_int_equal(ping_status(h, tag), 0);
	/* stopping */
	h->ms.stopping = true;
	call(h, M(LOOKUP), &lk.base, &h->client, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_ESHUTDOWN);
	/* stopping after a failed write (fail-stop): the client asks another voter */
	h->ms.fail_stopped = true;
	call(h, M(LOOKUP), &lk.base, &h->client, tag);
	assert_int_equal(status_of(answer(h, tag)), GD_ENOTLEADER);
	h->ms.fail_stopped = false;
	h->ms.stopping = false;
	assert_int_equal(meta_dispatch_check_table(), 0);
}

/* ---- compound requests ------------------------------------------------------------------ */

/* CREATE of name in the root for session (seq req_seq, 0: none), asking for
 * the lease when lease; the answer (free it). */
static Godfs__OpenResp *do_create(struct harness *h, const char *name, uint64_t session,
				  bool lease, uint64_t req_seq)
{
	Godfs__Mknod m = GODFS__MKNOD__INIT;
	Godfs__OpenResp *r;
	char tag[16];

	m.has_parent = m.has_mode = m.has_session_id = m.has_lease = 1;
	m.parent = 1;
	m.name = (char *)name;
	m.mode = S_IFREG | 0644;
	m.session_id = session;
	m.lease = lease;
	if (req_seq) {
		m.has_req_seq = 1;
		m.req_seq = req_seq;
	}
	call(h, M(CREATE), &m.base, &h->client, tag);
	assert_non_null(answer(h, tag));
	r = godfs__open_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_non_null(r);
	return r;
}

/* Three chunkds registered (cs-a, cs-b, cs-c). */
static void three_chunkds(struct harness *h, struct meta_conn cs[3])
{
	static const char *const ids[3] = { "cs-a", "cs-b", "cs-c" };
	char tag[16];

	for (int i = 0; i < 3; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].role = -1;
		cs_register(h, &cs[i], ids[i], NULL, 0, tag);
		assert_int_equal(status_of(answer(h, tag)), 0);
	}
}

static int lease_return_on(struct harness *h, struct meta_conn *conn, uint64_t session,
			   uint64_t ino, uint64_t chunk_id, uint64_t version)
{
	Godfs__LeaseReturn m = GODFS__LEASE_RETURN__INIT;
	char tag[16];

	m.has_ino = m.has_index = m.has_chunk_id = m.has_version = m.has_session_id = 1;
	m.ino = ino;
	m.chunk_id = chunk_id;
	m.version = version;
	m.session_id = session;
	call(h, M(LEASE_RETURN), &m.base, conn, tag);
	return status_of(answer(h, tag));
}

static void test_create_compound(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs[3];
	struct meta_fsm_chunk ch;
	uint64_t sid, ino;
	unsigned applied;
	Godfs__OpenResp *r;

	three_chunkds(h, cs);
	sid = hello(h);
	assert_int_equal(meta_fsm_set_default_goal(h->ms.fsm, 3), 0);

	/* a new file: made, opened and leased in one entry */
	applied = h->applied;
	r = do_create(h, "f", sid, true, 0);
	assert_int_equal(h->applied, applied + 1);
	assert_int_equal(r->status, 0);
	assert_true(r->created);
	assert_non_null(r->attr);
	ino = r->attr->ino;
	assert_non_null(r->chunk);
	assert_int_not_equal(r->chunk->chunk_id, 0);
	assert_int_equal(r->chunk->version, 1);
	assert_int_equal(r->chunk->prev_version, 0);
	assert_int_equal(r->chunk->n_chain, 3);
	assert_non_null(strstr(r->chunk->chain[0], ".test:9420"));
	assert_int_equal(r->chunk->lease_ms, h->ms.opt.lease_ms);
	/* the directory after the change, for the kernel's next GETATTR */
	assert_non_null(r->parent);
	assert_int_equal(r->parent->ino, 1);
	assert_int_equal(r->parent->mtime_sec, r->attr->mtime_sec);
	assert_int_equal(r->parent->mtime_nsec, r->attr->mtime_nsec);
	assert_int_equal(meta_sessions_open_count(h->ms.sess, ino), 1);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &ch), 0);
	assert_int_equal(ch.chunk_id, r->chunk->chunk_id);
	assert_true(meta_sessions_holds(h->ms.sess, sid, &(struct meta_sessions_grant){
		ino, 0, ch.chunk_id, 1 }));
	godfs__open_resp__free_unpacked(r, NULL);

	/* the name exists: opened, not created, no lease */
	r = do_create(h, "f", sid, true, 0);
	assert_int_equal(r->status, 0);
	assert_false(r->created);
	assert_int_equal(r->attr->ino, ino);
	assert_null(r->chunk);
	godfs__open_resp__free_unpacked(r, NULL);
	assert_int_equal(meta_sessions_open_count(h->ms.sess, ino), 2);

	/* no lease asked: no chunk */
	r = do_create(h, "g", sid, false, 0);
	assert_int_equal(r->status, 0);
	assert_true(r->created);
	assert_null(r->chunk);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, r->attr->ino, 0, &ch), 0);
	assert_int_equal(ch.chunk_id, 0);
	godfs__open_resp__free_unpacked(r, NULL);

	/* not a regular file, no session: refused before Raft */
	applied = h->applied;
	{
		Godfs__Mknod m = GODFS__MKNOD__INIT;
		char tag[16];
		m.has_parent = m.has_mode = 1;
		m.parent = 1;
		m.name = "d";
		m.mode = S_IFDIR | 0755;
		call(h, M(CREATE), &m.base, &h->client, tag);
		assert_int_equal(status_of(answer(h, tag)), GD_EINVAL);
	}
	assert_int_equal(h->applied, applied);
	assert_int_equal(h->freed, h->n_replies);
}

static void test_create_replayed(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs[3];
	uint64_t sid, ino, inodes;
	Godfs__OpenResp *r;

	three_chunkds(h, cs);
	sid = hello(h);
	r = do_create(h, "f", sid, true, 9);
	assert_non_null(r->chunk);
	ino = r->attr->ino;
	godfs__open_resp__free_unpacked(r, NULL);
	inodes = meta_fsm_inode_count(h->ms.fsm);
	/* a resend: the recorded answer (the same file), without the lease,
	 * which the client then asks WRITE_LEASE for */
	r = do_create(h, "f", sid, true, 9);
	assert_int_equal(h->replayed, 1);
	assert_int_equal(r->status, 0);
	assert_true(r->created);
	assert_int_equal(r->attr->ino, ino);
	assert_null(r->chunk);
	godfs__open_resp__free_unpacked(r, NULL);
	assert_int_equal(meta_fsm_inode_count(h->ms.fsm), inodes);
}

static void test_lease_return(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs[3], other = { .role = -1 };
	struct meta_fsm_chunk ch;
	uint64_t sid, sid2, ino, chunk, chunks;
	Godfs__OpenResp *r;
	Godfs__ChunkResp *cr;
	char tag[16];

	three_chunkds(h, cs);
	sid = hello(h);
	sid2 = hello_on(h, &other);
	r = do_create(h, "f", sid, true, 0);
	ino = r->attr->ino;
	chunk = r->chunk->chunk_id;
	godfs__open_resp__free_unpacked(r, NULL);
	chunks = meta_fsm_chunk_count(h->ms.fsm);

	/* another session's word is worth nothing: the lease is not its */
	assert_int_equal(lease_return_on(h, &other, sid2, ino, chunk, 1), GD_ESTALE);
	/* nor in another session's name (the session gate) */
	assert_int_equal(lease_return_on(h, &other, sid, ino, chunk, 1), GD_EPERM);
	assert_int_equal(meta_fsm_chunk_count(h->ms.fsm), chunks);
	/* the holder gives it back: the chunk is gone */
	assert_int_equal(lease_return_on(h, &h->client, sid, ino, chunk, 1), 0);
	assert_int_equal(meta_fsm_chunk_count(h->ms.fsm), chunks - 1);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &ch), 0);
	assert_int_equal(ch.chunk_id, 0);
	/* again: nothing to free */
	assert_int_equal(lease_return_on(h, &h->client, sid, ino, chunk, 1), GD_ESTALE);

	/* a lease taken since (version 2): the chunk is not given back */
	r = do_create(h, "g", sid, true, 0);
	ino = r->attr->ino;
	chunk = r->chunk->chunk_id;
	godfs__open_resp__free_unpacked(r, NULL);
	chunk_req(h, M(WRITE_LEASE), ino, tag);
	cr = chunk_resp(h, tag);
	assert_int_equal(cr->status, 0);
	assert_int_equal(cr->version, 2);
	godfs__chunk_resp__free_unpacked(cr, NULL);
	assert_int_equal(lease_return_on(h, &h->client, sid, ino, chunk, 1), GD_ESTALE);
	assert_int_equal(meta_fsm_chunk_get(h->ms.fsm, ino, 0, &ch), 0);
	assert_int_equal(ch.chunk_id, chunk);
	assert_int_equal(h->freed, h->n_replies);
}

/* MKDIR and UNLINK answer the directory's attributes after the change
 * (the mount answers the kernel's next GETATTR of it from them). */
static void test_parent_attrs(void **state)
{
	struct harness *h = *state;
	Godfs__Mknod m = GODFS__MKNOD__INIT;
	Godfs__NameReq u = GODFS__NAME_REQ__INIT;
	Godfs__AttrResp *a;
	Godfs__StatusResp *s;
	uint64_t sid = hello(h);
	char tag[16];

	m.has_parent = m.has_mode = 1;
	m.parent = 1;
	m.name = "d";
	m.mode = S_IFDIR | 0755;
	call(h, M(MKDIR), &m.base, &h->client, tag);
	a = godfs__attr_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_non_null(a);
	assert_int_equal(a->status, 0);
	assert_non_null(a->parent);
	assert_int_equal(a->parent->ino, 1);
	assert_int_equal(a->parent->nlink, 3);              /* the new ".." */
	assert_int_equal(a->parent->mtime_sec, a->attr->ctime_sec);
	godfs__attr_resp__free_unpacked(a, NULL);
	/* an existing name opened by MKNOD without O_EXCL changed nothing */
	assert_int_equal(do_mknod(h, "f", sid, 0, NULL), 0);

	u.has_parent = 1;
	u.parent = 1;
	u.name = "f";
	call(h, M(UNLINK), &u.base, &h->client, tag);
	s = godfs__status_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_non_null(s);
	assert_int_equal(s->status, 0);
	assert_non_null(s->parent);
	assert_int_equal(s->parent->ino, 1);
	godfs__status_resp__free_unpacked(s, NULL);
	/* a failure carries none */
	call(h, M(UNLINK), &u.base, &h->client, tag);
	s = godfs__status_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_int_equal(s->status, GD_ENOENT);
	assert_null(s->parent);
	godfs__status_resp__free_unpacked(s, NULL);
	assert_int_equal(h->freed, h->n_replies);
}

static void test_open_locate(void **state)
{
	struct harness *h = *state;
	struct meta_conn cs[3];
	Godfs__WriteCommit wc = GODFS__WRITE_COMMIT__INIT;
	Godfs__Open o = GODFS__OPEN__INIT;
	Godfs__AttrResp *a;
	uint64_t sid, ino, chunk, report[2];
	Godfs__OpenResp *r;
	char tag[16];

	three_chunkds(h, cs);
	sid = hello(h);
	r = do_create(h, "f", sid, true, 0);
	ino = r->attr->ino;
	chunk = r->chunk->chunk_id;
	godfs__open_resp__free_unpacked(r, NULL);
	/* empty: nothing to locate */
	o.has_ino = o.has_flags = o.has_session_id = o.has_locate = 1;
	o.ino = ino;
	o.flags = O_RDONLY;
	o.session_id = sid;
	o.locate = 1;
	call(h, M(OPEN), &o.base, &h->client, tag);
	a = godfs__attr_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_int_equal(a->status, 0);
	assert_null(a->chunk);
	godfs__attr_resp__free_unpacked(a, NULL);

	/* written (the copies report it) and committed */
	report[0] = chunk;
	report[1] = 1;
	cs_register(h, &cs[0], "cs-a", report, 1, tag);
	wc.has_ino = wc.has_size = 1;
	wc.ino = ino;
	wc.size = 16384;
	call(h, M(WRITE_COMMIT), &wc.base, &h->client, tag);
	assert_int_equal(status_of(answer(h, tag)), 0);
	call(h, M(OPEN), &o.base, &h->client, tag);
	a = godfs__attr_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_int_equal(a->status, 0);
	assert_int_equal(a->attr->size, 16384);
	assert_non_null(a->chunk);
	assert_int_equal(a->chunk->chunk_id, chunk);
	assert_int_equal(a->chunk->version, 1);
	assert_true(a->chunk->n_chain >= 1);
	assert_string_equal(a->chunk->chain[0], "cs-a.test:9420");
	godfs__attr_resp__free_unpacked(a, NULL);
	assert_int_equal(meta_sessions_open_count(h->ms.sess, ino), 3);
	/* without locate: the attributes alone, as before */
	o.has_locate = 0;
	call(h, M(OPEN), &o.base, &h->client, tag);
	a = godfs__attr_resp__unpack(NULL, answer(h, tag)->len, answer(h, tag)->pb);
	assert_int_equal(a->status, 0);
	assert_null(a->chunk);
	godfs__attr_resp__free_unpacked(a, NULL);
	assert_int_equal(h->freed, h->n_replies);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello_makes_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespace_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_leader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_park_until_chunkds_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_waits_for_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_waits_for_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_before_first_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_before_first_write_prev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unacked_needs_the_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_older_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_compound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_return, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_locate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parent_attrs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
