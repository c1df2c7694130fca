/* Three chunkds in one process (store + pipeline + gd_server with
 * chunkd_rpc_client_handle on loopback): a chain write gives three identical
 * copies; a dead, stale or hung member is named in `failed` (a hung one
 * before the client's deadline); fsync and truncate go
 * down the chain; replication pulls a copy; chains in opposite directions
 * under load do not deadlock (2 workers each); bad requests get a status;
 * with cluster keys, every data request needs a chunk capability, which goes
 * down the chain with the write and to the source of a replication. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"
#include "chunkd_pipeline.h"
#include "chunkd_rpc_client.h"
#include "chunkd_store.h"
#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_server.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024u * 1024u)
#define NODES 3

struct node {
	char dir[300];
	char addr[64];
	struct chunkd_store *store;
	struct chunkd_pipeline *pipe;
	struct chunkd_rpc rpc;
	struct gd_server *srv;
};

struct cluster {
	char root[256];
	struct node n[NODES];
};

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 12)) & 0xff);
}

static int setup(void **state)
{
	struct cluster *c = calloc(1, sizeof(*c));

	snprintf(c->root, sizeof(c->root), "/tmp/godfs-pipeline-test.XXXXXX");
	if (!mkdtemp(c->root))
		return -1;
	for (int i = 0; i < NODES; i++) {
		struct node *n = &c->n[i];
		struct chunkd_store_opts so = { .data_dirs = n->dir, .reserve_bytes = 1 };

		snprintf(n->dir, sizeof(n->dir), "%s/n%d", c->root, i);
		if (chunkd_store_open(&so, &n->store) != 0)
			return -1;
		/* The handler needs the pipeline, the pipeline our address: the
		 * server starts first and gets no request before the pipe is set. */
		n->rpc.store = n->store;
		struct gd_server_config sc = { .listen = "127.0.0.1:0",
					       .handler = chunkd_rpc_client_handle,
					       .ctx = &n->rpc, .workers = 2,
					       .serves = GD_SERVE_CHUNKD };
		if (gd_server_start(&sc, &n->srv) != 0)
			return -1;
		snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d", gd_server_port(n->srv));
		struct chunkd_pipeline_config pc = { .store = n->store, .self = n->addr,
						     .peer_timeout_ms = 30000,
						     .connect_timeout_ms = 1000 };
		if (chunkd_pipeline_create(&pc, &n->pipe) != 0)
			return -1;
		n->rpc.pipe = n->pipe;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct cluster *c = *state;

	for (int i = 0; i < NODES; i++) {
		gd_server_stop(c->n[i].srv);
		chunkd_pipeline_destroy(c->n[i].pipe);
		chunkd_store_close(c->n[i].store);
	}
	test_tmpdir_remove(c->root);
	free(c);
	return 0;
}

static struct gd_conn *connect_to(struct node *n)
{
	struct gd_conn *conn;

	assert_int_equal(gd_conn_open(n->addr, 2000, GD_ROLE_CLIENT, &conn), 0);
	return conn;
}

/* Starts a CS_WRITE of len bytes at off through chain (first member = conn). */
static struct gd_call *write_start(struct gd_conn *conn, Godfs__CsWrite *w, uint64_t id,
				   uint64_t version, uint64_t prev, uint32_t off,
				   const uint8_t *data, size_t len, char **chain, size_t nchain)
{
	struct gd_call *call;

	godfs__cs_write__init(w);
	w->has_chunk_id = w->has_version = w->has_prev_version = w->has_offset = 1;
	w->chunk_id = id;
	w->version = version;
	w->prev_version = prev;
	w->offset = off;
	w->chain = chain;
	w->n_chain = nchain;
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_WRITE, .req = &w->base,
				  .data = data, .data_len = len,
				  .resp_desc = &godfs__cs_write_resp__descriptor,
				  .timeout_ms = 20000 };
	assert_int_equal(gd_call_start(conn, &a, &call), 0);
	return call;
}

/* Waits for a write; returns its status and copies `failed` (or ""). */
static int write_wait(struct gd_call *call, char *failed, size_t len)
{
	struct gd_call_result res;
	int rc = gd_call_wait(call, &res);

	if (failed) {
		const Godfs__CsWriteResp *r = (const Godfs__CsWriteResp *)res.resp;
		snprintf(failed, len, "%s", r && r->failed ? r->failed : "");
	}
	gd_call_result_release(&res);
	return rc;
}

static void check_copy(struct node *n, uint64_t id, uint64_t version, const uint8_t *want,
		       size_t len)
{
	uint8_t *got = malloc(len);
	size_t out = 0;

	assert_int_equal(chunkd_store_read(n->store, id, version, 0, len, got, &out), 0);
	assert_true(out >= len);
	assert_memory_equal(got, want, len);
	free(got);
}

static void test_chain_write_three_copies(void **state)
{
	struct cluster *c = *state;
	char *chain[2] = { c->n[1].addr, c->n[2].addr };
	const size_t total = 8 * MiB;
	uint8_t *data = malloc(total);
	struct gd_call *calls[8];
	Godfs__CsWrite ws[8];
	struct gd_conn *conn = connect_to(&c->n[0]);

	fill(data, total, 1);
	for (int i = 0; i < 8; i++)
		calls[i] = write_start(conn, &ws[i], 11, 1, 0, (uint32_t)(i * MiB),
				       data + (size_t)i * MiB, MiB, chain, 2);
	for (int i = 0; i < 8; i++)
		assert_int_equal(write_wait(calls[i], NULL, 0), 0);
	for (int i = 0; i < NODES; i++)
		check_copy(&c->n[i], 11, 1, data, total);

	/* And through the wire: CS_READ from the last member. */
	struct gd_conn *rconn = connect_to(&c->n[2]);
	Godfs__CsRead q = GODFS__CS_READ__INIT;
	uint8_t *buf = malloc(MiB);
	struct gd_call_result res;
	q.has_chunk_id = q.has_version = q.has_offset = q.has_length = 1;
	q.chunk_id = 11;
	q.version = 1;
	q.offset = 3 * MiB;
	q.length = MiB;
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_READ, .req = &q.base,
				  .resp_desc = &godfs__cs_read_resp__descriptor,
				  .rbuf = buf, .rbuf_len = MiB };
	assert_int_equal(gd_call(rconn, &a, &res), 0);
	assert_int_equal(res.data_len, MiB);
	assert_memory_equal(buf, data + 3 * MiB, MiB);
	gd_call_result_release(&res);
	free(buf);
	gd_conn_close(rconn);
	gd_conn_close(conn);
	free(data);
}

static void test_failed_member_named(void **state)
{
	struct cluster *c = *state;
	char dead[64];
	char failed[128];
	uint8_t *data = malloc(MiB);
	Godfs__CsWrite w;
	struct gd_conn *conn = connect_to(&c->n[0]);
	int fd, port;

	/* A port nobody listens on. */
	assert_int_equal(gd_net_listen("127.0.0.1:0", 1, &fd, &port), 0);
	close(fd);
	snprintf(dead, sizeof(dead), "127.0.0.1:%d", port);
	fill(data, MiB, 2);
	char *chain1[2] = { c->n[1].addr, dead };
	assert_int_equal(write_wait(write_start(conn, &w, 21, 1, 0, 0, data, MiB, chain1, 2),
				    failed, sizeof(failed)), GD_ECONN);
	assert_string_equal(failed, dead);
	/* The members before it wrote their copies. */
	check_copy(&c->n[0], 21, 1, data, MiB);
	check_copy(&c->n[1], 21, 1, data, MiB);

	/* A stale member: n1 has v4 (a newer chain), the write wants v3 from v2. */
	char *chain2[1] = { c->n[1].addr };
	assert_int_equal(chunkd_store_write(c->n[0].store, 22, 2, 0, 0, 0, data, 4096), 0);
	assert_int_equal(chunkd_store_write(c->n[1].store, 22, 4, 0, 0, 0, data, 4096), 0);
	assert_int_equal(write_wait(write_start(conn, &w, 22, 3, 2, 0, data, MiB, chain2, 1),
				    failed, sizeof(failed)), GD_ESTALE);
	assert_string_equal(failed, c->n[1].addr);
	check_copy(&c->n[0], 22, 3, data, MiB);

	/* A member two chain changes behind (v1, the write wants v3 from v2:
	 * the head died before the write at v2 reached anybody) moves up. */
	assert_int_equal(chunkd_store_write(c->n[1].store, 23, 1, 0, 0, 0, data, 4096), 0);
	assert_int_equal(chunkd_store_write(c->n[2].store, 23, 1, 0, 0, 0, data, 4096), 0);
	char *chain3[1] = { c->n[2].addr };
	struct gd_conn *conn1 = connect_to(&c->n[1]);
	assert_int_equal(write_wait(write_start(conn1, &w, 23, 3, 2, 4096, data + 4096, 4096, chain3, 1),
				    failed, sizeof(failed)), 0);
	gd_conn_close(conn1);
	check_copy(&c->n[1], 23, 3, data, 8192);
	check_copy(&c->n[2], 23, 3, data, 8192);
	gd_conn_close(conn);
	free(data);
}

/* A peer that says HELLO and then never answers (a chunkd under SIGSTOP
 * after its connection was made): requests are kept until the end. */
struct hung {
	struct gd_server *srv;
	char addr[64];
	pthread_mutex_t mu;
	struct gd_request *held[64];
	int n;
};

static void hung_handler(void *ctx, struct gd_request *req)
{
	struct hung *h = ctx;

	if (req->hdr.method == GODFS__METHOD__M_HELLO) {
		Godfs__HelloResp r = GODFS__HELLO_RESP__INIT;
		r.has_status = 1;
		gd_reply(req, &r.base, NULL, 0);
		gd_request_free(req);
		return;
	}
	pthread_mutex_lock(&h->mu);
	if (h->n < 64)
		h->held[h->n++] = req;
	else
		gd_request_free(req);
	pthread_mutex_unlock(&h->mu);
}

/* The deadline goes down the chain: n0 -> n1 -> hung, the client waits 3 s
 * and says so (deadline_ms); the members forward with less (the peers'
 * own timeout is 30 s), so n1 names the hung member before n0 and the
 * client give up, and the healthy members are not blamed. */
static void test_hung_member_named_in_time(void **state)
{
	struct cluster *c = *state;
	struct hung h = { .n = 0 };
	char failed[128];
	uint8_t *data = malloc(MiB);
	Godfs__CsWrite w;
	struct gd_call *call;
	struct gd_conn *conn = connect_to(&c->n[0]);
	struct timespec t0, t1;

	pthread_mutex_init(&h.mu, NULL);
	struct gd_server_config sc = { .listen = "127.0.0.1:0", .handler = hung_handler,
				       .ctx = &h, .workers = 2 };
	assert_int_equal(gd_server_start(&sc, &h.srv), 0);
	snprintf(h.addr, sizeof(h.addr), "127.0.0.1:%d", gd_server_port(h.srv));
	fill(data, MiB, 5);
	char *chain[2] = { c->n[1].addr, h.addr };
	godfs__cs_write__init(&w);
	w.has_chunk_id = w.has_version = w.has_prev_version = w.has_offset = 1;
	w.chunk_id = 51;
	w.version = 1;
	w.chain = chain;
	w.n_chain = 2;
	w.has_deadline_ms = 1;
	w.deadline_ms = 2700;
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_WRITE, .req = &w.base,
				  .data = data, .data_len = MiB,
				  .resp_desc = &godfs__cs_write_resp__descriptor,
				  .timeout_ms = 3000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(gd_call_start(conn, &a, &call), 0);
	assert_int_equal(write_wait(call, failed, sizeof(failed)), GD_ECONN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(failed, h.addr);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 3000);
	check_copy(&c->n[0], 51, 1, data, MiB);
	check_copy(&c->n[1], 51, 1, data, MiB);
	gd_conn_close(conn);
	pthread_mutex_lock(&h.mu);
	for (int i = 0; i < h.n; i++) {
		gd_reply_status(h.held[i], GD_EIO);
		gd_request_free(h.held[i]);
	}
	h.n = 0;
	pthread_mutex_unlock(&h.mu);
	gd_server_stop(h.srv);
	pthread_mutex_destroy(&h.mu);
	free(data);
}

static void test_fsync_truncate_chain(void **state)
{
	struct cluster *c = *state;
	char *chain[2] = { c->n[1].addr, c->n[2].addr };
	uint8_t *data = malloc(MiB);
	Godfs__CsWrite w;
	struct gd_conn *conn = connect_to(&c->n[0]);
	struct gd_call_result res;

	fill(data, MiB, 3);
	assert_int_equal(write_wait(write_start(conn, &w, 31, 1, 0, 0, data, MiB, chain, 2),
				    NULL, 0), 0);
	Godfs__CsChunkOp op = GODFS__CS_CHUNK_OP__INIT;
	op.has_chunk_id = op.has_version = op.has_length = 1;
	op.chunk_id = 31;
	op.version = 1;
	op.chain = chain;
	op.n_chain = 2;
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_FSYNC, .req = &op.base,
				  .resp_desc = &godfs__status_resp__descriptor };
	assert_int_equal(gd_call(conn, &a, &res), 0);
	gd_call_result_release(&res);
	op.length = 1000;
	a.method = GODFS__METHOD__M_CS_TRUNCATE;
	assert_int_equal(gd_call(conn, &a, &res), 0);
	gd_call_result_release(&res);
	memset(data + 1000, 0, MiB - 1000);
	for (int i = 0; i < NODES; i++)
		check_copy(&c->n[i], 31, 1, data, MiB);
	gd_conn_close(conn);
	free(data);
}

static void test_replicate(void **state)
{
	struct cluster *c = *state;
	const size_t len = 3 * MiB + 12345;
	uint8_t *data = malloc(len);
	uint64_t v = 0;

	fill(data, len, 4);
	assert_int_equal(chunkd_store_write(c->n[0].store, 41, 5, 0, 0, 0, data, len), 0);
	uint64_t copied = 0;
	assert_int_equal(chunkd_pipeline_replicate(c->n[2].pipe, 41, 5, c->n[0].addr, NULL, 0,
						   &copied), 0);
	assert_int_equal(copied, len);
	assert_int_equal(chunkd_store_version(c->n[2].store, 41, &v), 0);
	assert_int_equal(v, 5);
	check_copy(&c->n[2], 41, 5, data, len);
	uint64_t dl = 0, cs = 0, dl0 = 0, cs0 = 0;
	assert_int_equal(chunkd_store_extent(c->n[2].store, 41, 5, &dl, &cs), 0);
	assert_int_equal(chunkd_store_extent(c->n[0].store, 41, 5, &dl0, &cs0), 0);
	assert_int_equal(dl, dl0);
	assert_int_equal(cs, CHUNKD_MAX_CHUNK);   /* the source's, not what was sent */
	/* The replica takes writes anywhere in the chunk. */
	assert_int_equal(chunkd_store_write(c->n[2].store, 41, 5, 0, 0, 60 * MiB, data, 4096), 0);
	/* An empty copy (truncated to 0) replicates too. */
	assert_int_equal(chunkd_store_write(c->n[0].store, 43, 2, 0, 0, 0, data, 4096), 0);
	assert_int_equal(chunkd_store_truncate(c->n[0].store, 43, 2, 0, 0), 0);
	assert_int_equal(chunkd_pipeline_replicate(c->n[1].pipe, 43, 2, c->n[0].addr, NULL, 0,
						   NULL), 0);
	assert_int_equal(chunkd_store_extent(c->n[1].store, 43, 2, &dl, &cs), 0);
	assert_int_equal(dl, 0);
	assert_int_equal(cs, CHUNKD_MAX_CHUNK);
	/* From a member without the chunk: an error, nothing left behind. */
	assert_true(chunkd_pipeline_replicate(c->n[1].pipe, 42, 1, c->n[0].addr, NULL, 0,
					      NULL) < 0);
	assert_int_equal(chunkd_store_version(c->n[1].store, 42, &v), GD_ENOCHUNK);
	free(data);
}

struct writer {
	struct cluster *c;
	int first;           /* the chain starts at this node and goes round */
	uint64_t chunk;
	atomic_int *errors;
};

/* WRITES MiB with INFLIGHT in flight through a chain that starts at node `first`. */
#define WRITES 24
#define INFLIGHT 8
static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct cluster *c = wr->c;
	char *chain[2] = { c->n[(wr->first + 1) % NODES].addr, c->n[(wr->first + 2) % NODES].addr };
	uint8_t *data = malloc(MiB);
	struct gd_call *calls[INFLIGHT];
	Godfs__CsWrite ws[INFLIGHT];
	struct gd_conn *conn;

	fill(data, MiB, wr->chunk);
	if (gd_conn_open(c->n[wr->first].addr, 2000, GD_ROLE_CLIENT, &conn) != 0) {
		atomic_fetch_add(wr->errors, 1);
		free(data);
		return NULL;
	}
	for (int i = 0; i < WRITES; i++) {
		int slot = i % INFLIGHT;
		if (i >= INFLIGHT && write_wait(calls[slot], NULL, 0) != 0)
			atomic_fetch_add(wr->errors, 1);
		calls[slot] = write_start(conn, &ws[slot], wr->chunk, 1, 0, (uint32_t)(i * MiB),
					  data, MiB, chain, 2);
	}
	for (int i = WRITES; i < WRITES + INFLIGHT; i++)
		if (write_wait(calls[i % INFLIGHT], NULL, 0) != 0)
			atomic_fetch_add(wr->errors, 1);
	gd_conn_close(conn);
	free(data);
	return NULL;
}

static void test_opposite_chains_no_deadlock(void **state)
{
	struct cluster *c = *state;
	struct writer wr[NODES];
	pthread_t th[NODES];
	atomic_int errors;
	uint64_t t0 = gd_net_now_ms();

	atomic_init(&errors, 0);
	for (int i = 0; i < NODES; i++) {
		wr[i] = (struct writer){ .c = c, .first = i, .chunk = 100 + (uint64_t)i,
					 .errors = &errors };
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &wr[i]), 0);
	}
	for (int i = 0; i < NODES; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&errors), 0);
	/* A deadlock would only end at the 30 s peer timeout, with errors. */
	assert_true(gd_net_now_ms() - t0 < 30000);
	uint8_t *data = malloc(MiB);
	for (int i = 0; i < NODES; i++) {
		fill(data, MiB, 100 + (uint64_t)i);
		for (int n = 0; n < NODES; n++)
			check_copy(&c->n[n], 100 + (uint64_t)i, 1, data, MiB);
	}
	free(data);
}

/* Sends one request frame with the given protobuf and data; returns its status. */
static int raw_call(struct gd_conn *conn, uint16_t method, const ProtobufCMessage *req,
		    const void *data, size_t len)
{
	struct gd_call_result res;
	uint8_t buf[64];
	struct gd_call_args a = { .method = method, .req = req, .data = data, .data_len = len,
				  .resp_desc = gd_method_get(method)->resp,
				  .rbuf = buf, .rbuf_len = sizeof(buf) };
	int rc = gd_call(conn, &a, &res);

	gd_call_result_release(&res);
	return rc;
}

static void test_bad_requests(void **state)
{
	struct cluster *c = *state;
	struct gd_conn *conn = connect_to(&c->n[0]);
	char *chain[CHUNKD_CHAIN_MAX + 1];
	uint8_t data[4096] = { 0 };
	Godfs__CsWrite w = GODFS__CS_WRITE__INIT;

	for (int i = 0; i <= CHUNKD_CHAIN_MAX; i++)
		chain[i] = c->n[1].addr;
	w.has_chunk_id = w.has_version = w.has_offset = 1;
	w.chunk_id = 51;
	w.version = 1;
	w.chain = chain;
	w.n_chain = CHUNKD_CHAIN_MAX + 1;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_WRITE, &w.base, data, sizeof(data)),
			 GD_EINVAL);
	/* A chain that names this chunkd, or a member twice: it would loop. */
	chain[0] = c->n[0].addr;
	w.n_chain = 1;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_WRITE, &w.base, data, sizeof(data)),
			 GD_EINVAL);
	chain[0] = c->n[1].addr;
	chain[1] = c->n[2].addr;
	chain[2] = c->n[1].addr;
	w.n_chain = 3;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_WRITE, &w.base, data, sizeof(data)),
			 GD_EINVAL);
	/* Past the chunk. */
	w.n_chain = 0;
	w.offset = CHUNKD_MAX_CHUNK - 100;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_WRITE, &w.base, data, sizeof(data)),
			 GD_EINVAL);
	/* Version 0. */
	w.offset = 0;
	w.version = 0;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_WRITE, &w.base, data, sizeof(data)),
			 GD_EINVAL);
	/* A read that carries data. */
	Godfs__CsRead q = GODFS__CS_READ__INIT;
	q.has_chunk_id = q.has_version = 1;
	q.chunk_id = 51;
	q.version = 1;
	q.has_length = 1;
	q.length = 10;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_READ, &q.base, data, 10), GD_EPROTO);
	/* A chunk nobody has. */
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_READ, &q.base, NULL, 0), GD_ENOCHUNK);
	/* A method chunkd does not serve. */
	Godfs__InodeReq ir = GODFS__INODE_REQ__INIT;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_GETATTR, &ir.base, NULL, 0), GD_ENOTSUP);
	/* Still serving. */
	Godfs__Ping p = GODFS__PING__INIT;
	struct gd_call_result res;
	struct gd_call_args a = { .method = GODFS__METHOD__M_PING, .req = &p.base,
				  .resp_desc = &godfs__ping__descriptor };
	assert_int_equal(gd_call(conn, &a, &res), 0);
	gd_call_result_release(&res);
	gd_conn_close(conn);
}

/* chunkd has a handler for exactly the methods the method table says it
 * serves (a method added to the table without its handler fails here). */
static void test_handlers_match_table(void **state)
{
	(void)state;
	for (uint32_t id = 0; id <= GD_METHOD_ID_MAX; id++) {
		const struct gd_method *m = gd_method_get(id);

		assert_int_equal(chunkd_rpc_client_serves((uint16_t)id),
				 m != NULL && (m->served_by & GD_SERVE_CHUNKD));
	}
}

/* A capability signed with kr for chunk id at version (valid a minute). */
static ProtobufCBinaryData cap_for(const struct gd_keyring *kr, uint64_t id, uint64_t version,
				   uint32_t rights, uint8_t buf[GD_CAP_LEN])
{
	struct gd_cap cap = { .chunk_id = id, .version = version, .rights = rights,
			      .expires_ms = gd_cap_now_ms() + 60000 };

	assert_int_equal(gd_cap_sign(kr, &cap, buf), 0);
	return (ProtobufCBinaryData){ .len = GD_CAP_LEN, .data = buf };
}

static void test_caps(void **state)
{
	struct cluster *c = *state;
	struct gd_keyring kr = { .n = 1 }, other = { .n = 1 };
	char *chain[2] = { c->n[1].addr, c->n[2].addr };
	struct gd_conn *conn = connect_to(&c->n[0]);
	uint8_t data[4096], cb[GD_CAP_LEN];
	char failed[300];
	uint64_t v;
	Godfs__CsWrite w;

	assert_int_equal(gd_random(kr.key[0].key, GD_KEY_LEN), 0);
	gd_key_set_id(&kr.key[0]);
	assert_int_equal(gd_random(other.key[0].key, GD_KEY_LEN), 0);
	gd_key_set_id(&other.key[0]);
	for (int i = 0; i < NODES; i++)
		c->n[i].rpc.cap_keys = &kr;
	fill(data, sizeof(data), 9);

	/* No capability, or one for another chunk or version, or without the
	 * right: refused at the head, nothing written anywhere. */
	struct gd_call *call = write_start(conn, &w, 61, 1, 0, 0, data, sizeof(data), chain, 2);
	assert_int_equal(write_wait(call, failed, sizeof(failed)), GD_ECAP);
	ProtobufCBinaryData bad[3] = {
		cap_for(&kr, 62, 1, GD_CAP_WRITE, (uint8_t[GD_CAP_LEN]){ 0 }),
		cap_for(&kr, 61, 2, GD_CAP_WRITE, (uint8_t[GD_CAP_LEN]){ 0 }),
		cap_for(&kr, 61, 1, GD_CAP_READ, (uint8_t[GD_CAP_LEN]){ 0 }),
	};
	for (int i = 0; i < 3; i++) {
		godfs__cs_write__init(&w);
		w.has_chunk_id = w.has_version = w.has_offset = w.has_cap = 1;
		w.chunk_id = 61;
		w.version = 1;
		w.cap = bad[i];
		assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_WRITE, &w.base, data,
					  sizeof(data)), GD_ECAP);
	}
	for (int i = 0; i < NODES; i++)
		assert_int_equal(chunkd_store_version(c->n[i].store, 61, &v), GD_ENOCHUNK);

	/* With a WRITE capability: every member checks it and writes. */
	ProtobufCBinaryData wcap = cap_for(&kr, 61, 1, GD_CAP_READ | GD_CAP_WRITE, cb);
	godfs__cs_write__init(&w);
	w.has_chunk_id = w.has_version = w.has_offset = w.has_cap = 1;
	w.chunk_id = 61;
	w.version = 1;
	w.chain = chain;
	w.n_chain = 2;
	w.cap = wcap;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_WRITE, &w.base, data, sizeof(data)), 0);
	for (int i = 0; i < NODES; i++)
		check_copy(&c->n[i], 61, 1, data, sizeof(data));

	/* A member that does not know the key refuses it, and is named. */
	c->n[2].rpc.cap_keys = &other;
	struct gd_call_args a = { .method = GODFS__METHOD__M_CS_WRITE, .req = &w.base,
				  .data = data, .data_len = sizeof(data),
				  .resp_desc = &godfs__cs_write_resp__descriptor };
	assert_int_equal(gd_call_start(conn, &a, &call), 0);
	assert_int_equal(write_wait(call, failed, sizeof(failed)), GD_ECAP);
	assert_string_equal(failed, c->n[2].addr);
	c->n[2].rpc.cap_keys = &kr;

	/* Reads: READ needed. */
	Godfs__CsRead q = GODFS__CS_READ__INIT;
	q.has_chunk_id = q.has_version = q.has_length = 1;
	q.chunk_id = 61;
	q.version = 1;
	q.length = 32;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_READ, &q.base, NULL, 0), GD_ECAP);
	q.has_cap = 1;
	q.cap = cap_for(&kr, 61, 1, GD_CAP_WRITE, (uint8_t[GD_CAP_LEN]){ 0 });
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_READ, &q.base, NULL, 0), GD_ECAP);
	q.cap = wcap;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_READ, &q.base, NULL, 0), 0);

	/* fsync needs WRITE too. */
	Godfs__CsChunkOp op = GODFS__CS_CHUNK_OP__INIT;
	op.has_chunk_id = op.has_version = 1;
	op.chunk_id = 61;
	op.version = 1;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_FSYNC, &op.base, NULL, 0), GD_ECAP);
	op.has_cap = 1;
	op.cap = wcap;
	assert_int_equal(raw_call(conn, GODFS__METHOD__M_CS_FSYNC, &op.base, NULL, 0), 0);

	/* Replication: CS_REPLICATE needs REPLICATE, the source READ (the
	 * method table lets only the meta and admins send it at all). */
	Godfs__CsReplicate r = GODFS__CS_REPLICATE__INIT;
	struct gd_conn *conn1, *admin;
	assert_int_equal(gd_conn_open(c->n[1].addr, 2000, GD_ROLE_ADMIN, &conn1), 0);
	assert_int_equal(gd_conn_open(c->n[0].addr, 2000, GD_ROLE_ADMIN, &admin), 0);
	assert_int_equal(chunkd_store_delete(c->n[1].store, 61, 1), 0);
	r.has_chunk_id = r.has_version = 1;
	r.chunk_id = 61;
	r.version = 1;
	r.source = c->n[0].addr;
	assert_int_equal(raw_call(conn1, GODFS__METHOD__M_CS_REPLICATE, &r.base, NULL, 0), GD_ECAP);
	r.has_cap = 1;
	r.cap = cap_for(&kr, 61, 1, GD_CAP_REPLICATE, (uint8_t[GD_CAP_LEN]){ 0 });
	assert_int_equal(raw_call(conn1, GODFS__METHOD__M_CS_REPLICATE, &r.base, NULL, 0), GD_ECAP);
	assert_int_equal(chunkd_store_version(c->n[1].store, 61, &v), GD_ENOCHUNK);
	r.cap = cap_for(&kr, 61, 1, GD_CAP_REPLICATE | GD_CAP_READ, (uint8_t[GD_CAP_LEN]){ 0 });
	assert_int_equal(raw_call(conn1, GODFS__METHOD__M_CS_REPLICATE, &r.base, NULL, 0), 0);
	check_copy(&c->n[1], 61, 1, data, sizeof(data));
	/* A meta order: the capability it came with goes to the source. */
	assert_int_equal(chunkd_store_delete(c->n[1].store, 61, 1), 0);
	assert_true(chunkd_pipeline_replicate(c->n[1].pipe, 61, 1, c->n[0].addr, NULL, 0,
					      NULL) < 0);
	assert_int_equal(chunkd_pipeline_replicate(c->n[1].pipe, 61, 1, c->n[0].addr, wcap.data,
						   wcap.len, NULL), 0);
	check_copy(&c->n[1], 61, 1, data, sizeof(data));
	gd_conn_close(conn1);

	/* Delete (an admin's): DELETE needed; the copy stays until then. */
	op.has_cap = 0;
	assert_int_equal(raw_call(admin, GODFS__METHOD__M_CS_DELETE, &op.base, NULL, 0), GD_ECAP);
	op.has_cap = 1;
	assert_int_equal(raw_call(admin, GODFS__METHOD__M_CS_DELETE, &op.base, NULL, 0), GD_ECAP);
	check_copy(&c->n[0], 61, 1, data, sizeof(data));
	op.cap = cap_for(&kr, 61, 1, GD_CAP_DELETE, (uint8_t[GD_CAP_LEN]){ 0 });
	assert_int_equal(raw_call(admin, GODFS__METHOD__M_CS_DELETE, &op.base, NULL, 0), 0);
	assert_int_equal(chunkd_store_version(c->n[0].store, 61, &v), GD_ENOCHUNK);
	gd_conn_close(admin);
	gd_conn_close(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_write_three_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_member_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hung_member_named_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_truncate_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_opposite_chains_no_deadlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test(test_handlers_match_table),
		cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
	};

	gd_log_init("test_chunkd_pipeline", getenv("GD_TEST_LOG") ? getenv("GD_TEST_LOG") : "error");
	/* Every node of these tests, and the clients, share one cluster key. */
	static struct gd_keyring keys = { .n = 1 };
	if (gd_random(keys.key[0].key, GD_KEY_LEN) != 0)
		return 1;
	gd_key_set_id(&keys.key[0]);
	gd_cred_set(&keys, NULL, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
