/* meta_locs: the leader's soft state of chunk locations, against a real FSM
 * state (a file with chunks written by leases on a chain) and a real
 * registry: holders set, added, removed and dropped; pending replications;
 * the registration path with a report (stale, unknown, newer and pending
 * copies); version changes; the copy a failure dropped; a replication
 * confirmed by its target; the bytes of pending copies; the report clock;
 * and the live / live_prev / never_written choices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_status.h"
#include "meta_fsm.h"
#include "meta_locs.h"
#include "meta_registry.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

#define M(name) GODFS__METHOD__M_##name
#define CHUNK (1u << 20)
#define T0 1000000u          /* the test's clock, ms */
#define DEAD_MS 6000u

struct world {
	struct meta_fsm *f;
	struct meta_registry *reg;
	struct meta_locs *locs;
	uint64_t ino;           /* a regular file */
	int64_t now_sec;
	uint64_t purge_ino;     /* the next entry removes this inode at once (purge_now) */
};

/* Packs and applies one entry; returns the FSM's result (caller releases). */
static void apply(struct world *w, uint32_t method, const ProtobufCMessage *req,
		  const char *const *chain, size_t n_chain, Godfs__FsmNode *node,
		  struct meta_fsm_result *res)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	uint8_t *rb = NULL, *eb;
	size_t len;

	e.has_method = e.has_now_sec = 1;
	e.method = method;
	e.now_sec = w->now_sec++;
	if (req) {
		len = protobuf_c_message_get_packed_size(req);
		rb = malloc(len ? len : 1);
		assert_non_null(rb);
		e.has_request = 1;
		e.request.len = protobuf_c_message_pack(req, rb);
		e.request.data = rb;
	}
	e.n_chain = n_chain;
	e.chain = (char **)chain;
	e.node = node;
	if (w->purge_ino) {
		e.has_expect_ino = e.has_purge_now = 1;
		e.expect_ino = w->purge_ino;
		e.purge_now = 1;
		w->purge_ino = 0;
	}
	len = protobuf_c_message_get_packed_size(&e.base);
	eb = malloc(len);
	assert_non_null(eb);
	protobuf_c_message_pack(&e.base, eb);
	assert_int_equal(meta_fsm_apply(w->f, eb, len, res), 0);
	free(eb);
	free(rb);
}

static void fsm_node(struct world *w, const char *id, const char *addr)
{
	Godfs__CsRegister r = GODFS__CS_REGISTER__INIT;
	Godfs__FsmNode n = GODFS__FSM_NODE__INIT;
	struct meta_fsm_result res;

	r.node_id = n.node_id = (char *)id;
	r.address = n.address = (char *)addr;
	r.label = n.label = "";
	apply(w, M(CS_REGISTER), &r.base, NULL, 0, &n, &res);
	assert_int_equal(res.status, 0);
	meta_fsm_result_release(&res);
}

/* A write lease on chunk index of the file with that chain: the record. */
static void lease(struct world *w, uint64_t index, const char *const *chain, size_t n,
		  struct meta_fsm_chunk *out)
{
	Godfs__ChunkReq r = GODFS__CHUNK_REQ__INIT;
	struct meta_fsm_result res;

	r.has_ino = r.has_index = 1;
	r.ino = w->ino;
	r.index = index;
	apply(w, M(WRITE_LEASE), &r.base, chain, n, NULL, &res);
	assert_int_equal(res.status, 0);
	meta_fsm_result_release(&res);
	assert_int_equal(meta_fsm_chunk_get(w->f, w->ino, index, out), 0);
}

/* The registry's view of chunkd id: registered (alive) at now. */
static void reg_node(struct world *w, const char *id, uint64_t now)
{
	struct meta_node *n;
	char addr[64];

	snprintf(addr, sizeof(addr), "%s:9420", id);
	assert_int_equal(meta_registry_register(w->reg, id, addr, "", 1ull << 40, 1ull << 39, 0,
						now, &n), 0);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	Godfs__Mknod m = GODFS__MKNOD__INIT;
	Godfs__AttrResp *a;
	struct meta_fsm_result res;

	assert_non_null(w);
	w->now_sec = 1764633600;
	assert_int_equal(meta_fsm_new(CHUNK, &w->f), 0);
	assert_int_equal(meta_registry_new(DEAD_MS, &w->reg), 0);
	assert_int_equal(meta_locs_new(&w->locs), 0);
	fsm_node(w, "cs-a", "cs-a:9420");
	fsm_node(w, "cs-b", "cs-b:9420");
	fsm_node(w, "cs-c", "cs-c:9420");
	fsm_node(w, "cs-d", "cs-d:9420");
	m.has_parent = m.has_mode = 1;
	m.parent = 1;
	m.name = "f";
	m.mode = S_IFREG | 0644;
	apply(w, M(MKNOD), &m.base, NULL, 0, NULL, &res);
	assert_int_equal(res.status, 0);
	a = godfs__attr_resp__unpack(NULL, res.resp_len, res.resp);
	assert_non_null(a);
	w->ino = a->attr->ino;
	godfs__attr_resp__free_unpacked(a, NULL);
	meta_fsm_result_release(&res);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	meta_locs_free(w->locs);
	meta_registry_free(w->reg);
	meta_fsm_free(w->f);
	free(w);
	return 0;
}

static const char *const abc[] = { "cs-a", "cs-b", "cs-c" };
static const char *const ab[] = { "cs-a", "cs-b" };

/* A report of (chunk id, version) pairs; the pointers stay valid with rep. */
struct report {
	Godfs__ChunkReport r[8];
	Godfs__ChunkReport *p[8];
	Godfs__ChunkReport *drop[8];
	size_t n;
};

static void report_add(struct report *rep, uint64_t chunk_id, uint64_t version)
{
	Godfs__ChunkReport *r = &rep->r[rep->n];

	assert_true(rep->n < 8);
	godfs__chunk_report__init(r);
	r->has_chunk_id = r->has_version = 1;
	r->chunk_id = chunk_id;
	r->version = version;
	rep->p[rep->n] = r;
	rep->n++;
}

struct confirmed {
	unsigned calls;
	uint64_t chunk_id;
	char node[32];
};

static void on_confirmed(void *arg, const struct meta_fsm_chunk *c, const char *node_id)
{
	struct confirmed *k = arg;

	k->calls++;
	k->chunk_id = c->chunk_id;
	snprintf(k->node, sizeof(k->node), "%s", node_id);
}

static size_t do_register(struct world *w, const char *id, struct report *rep, uint64_t now,
			  struct confirmed *k)
{
	return meta_locs_register(w->locs, w->f, w->reg, id, rep->p, rep->n, rep->drop, now,
				  on_confirmed, k);
}

/* Orders queued in the registry for node id: count, and the first's kind and version. */
static size_t take_orders(struct world *w, const char *id, uint32_t *kind, uint64_t *version)
{
	struct meta_node *n = meta_registry_get(w->reg, id);
	struct meta_order *o;
	size_t count;

	assert_non_null(n);
	meta_registry_take_orders(n, &o, &count);
	if (count && kind)
		*kind = o[0].kind;
	if (count && version)
		*version = o[0].version;
	meta_registry_orders_free(o, count);
	return count;
}

static void test_set_add_remove_drop(void **state)
{
	struct world *w = *state;
	struct meta_loc *l;
	uint32_t a, b, d;

	a = meta_locs_intern(w->locs, "cs-a");
	b = meta_locs_intern(w->locs, "cs-b");
	assert_int_not_equal(a, META_LOCS_NODE_NONE);
	assert_int_equal(meta_locs_intern(w->locs, "cs-a"), a);
	assert_int_equal(meta_locs_find(w->locs, "cs-b"), b);
	assert_int_equal(meta_locs_find(w->locs, "cs-x"), META_LOCS_NODE_NONE);
	assert_string_equal(meta_locs_name(w->locs, b), "cs-b");
	assert_null(meta_locs_name(w->locs, 999));
	assert_int_equal(meta_locs_intern(w->locs, NULL), META_LOCS_NODE_NONE);

	assert_int_equal(meta_locs_set(w->locs, 7, 3, ab, 2, 0, T0), 0);
	assert_true(meta_locs_has(w->locs, 7, 3, a));
	assert_true(meta_locs_has(w->locs, 7, 3, b));
	assert_false(meta_locs_has(w->locs, 7, 2, a));     /* another version */
	assert_false(meta_locs_has(w->locs, 8, 3, a));     /* another chunk */
	meta_locs_remove(w->locs, 7, a);
	assert_false(meta_locs_has(w->locs, 7, 3, a));
	assert_true(meta_locs_has(w->locs, 7, 3, b));

	/* a replication pending to d, confirmed by d's copy */
	d = meta_locs_intern(w->locs, "cs-d");
	l = meta_locs_get(w->locs, 7);
	assert_non_null(l);
	meta_locs_pending_set(w->locs, l, d, T0, 1000);
	assert_true(meta_locs_pending(w->locs, 7, 3, d));
	assert_false(meta_locs_pending(w->locs, 7, 4, d));
	assert_int_equal(meta_locs_n_pending(w->locs), 1);
	assert_int_equal(meta_locs_pending_bytes(w->locs), 1000);
	assert_int_equal(l->pending_bytes, 1000);
	assert_int_equal(meta_locs_node(w->locs, d)->n_pending, 1);
	assert_int_equal(meta_locs_add(w->locs, 7, 3, d), 0);
	assert_false(meta_locs_pending(w->locs, 7, 3, d));
	assert_int_equal(meta_locs_n_pending(w->locs), 0);
	assert_int_equal(meta_locs_pending_bytes(w->locs), 0);
	assert_int_equal(l->pending_bytes, 0);
	assert_true(meta_locs_has(w->locs, 7, 3, d));
	assert_int_equal(meta_locs_add(w->locs, 7, 3, META_LOCS_NODE_NONE), GD_EINVAL);

	/* a new entry names no move; a copy at a new version resets the
	 * entry: holders, pending (and its bytes) and the move's copy go */
	assert_int_equal(l->move_from, META_LOCS_NODE_NONE);
	l->move_from = a;
	meta_locs_pending_set(w->locs, meta_locs_get(w->locs, 7), a, T0, 500);
	assert_int_equal(meta_locs_pending_bytes(w->locs), 500);
	assert_int_equal(meta_locs_add(w->locs, 7, 4, b), 0);
	assert_false(meta_locs_has(w->locs, 7, 4, d));
	assert_true(meta_locs_has(w->locs, 7, 4, b));
	assert_int_equal(meta_locs_n_pending(w->locs), 0);
	assert_int_equal(meta_locs_pending_bytes(w->locs), 0);
	assert_int_equal(meta_locs_get(w->locs, 7)->move_from, META_LOCS_NODE_NONE);

	/* drop forgets the chunk, with its pending replication */
	meta_locs_pending_set(w->locs, meta_locs_get(w->locs, 7), a, T0, 700);
	meta_locs_drop(w->locs, 7);
	assert_null(meta_locs_get(w->locs, 7));
	assert_false(meta_locs_has(w->locs, 7, 4, b));
	assert_int_equal(meta_locs_n_pending(w->locs), 0);
	assert_int_equal(meta_locs_pending_bytes(w->locs), 0);

	meta_locs_set(w->locs, 9, 1, ab, 2, 0, T0);
	meta_locs_clear(w->locs);
	assert_null(meta_locs_get(w->locs, 9));
	assert_int_equal(meta_locs_find(w->locs, "cs-a"), META_LOCS_NODE_NONE);
}

static void test_live_choices(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c;
	const char *ids[META_LOCS_CHAIN_MAX];
	size_t n;

	lease(w, 0, abc, 3, &c);
	assert_int_equal(c.version, 1);
	reg_node(w, "cs-a", T0);
	reg_node(w, "cs-b", T0);
	reg_node(w, "cs-c", T0);
	/* nothing known yet: nobody serves it */
	assert_int_equal(meta_locs_live(w->locs, w->reg, &c, false, T0, ids, 16), 0);
	assert_int_equal(meta_locs_set(w->locs, c.chunk_id, c.version, abc, 3, 0, T0), 0);
	n = meta_locs_live(w->locs, w->reg, &c, false, T0, ids, 16);
	assert_int_equal(n, 3);
	assert_string_equal(ids[0], "cs-a");
	assert_string_equal(ids[2], "cs-c");
	/* bounded by max */
	assert_int_equal(meta_locs_live(w->locs, w->reg, &c, false, T0, ids, 2), 2);
	/* reads: least loaded first, and the first one's count goes up */
	n = meta_locs_live(w->locs, w->reg, &c, true, T0, ids, 16);
	assert_int_equal(n, 3);
	assert_string_equal(ids[0], "cs-a");
	n = meta_locs_live(w->locs, w->reg, &c, true, T0, ids, 16);
	assert_string_equal(ids[0], "cs-b");
	assert_int_equal(meta_registry_get(w->reg, "cs-a")->reads, 1);
	/* a bad copy: not for writes, last for reads */
	assert_int_equal(meta_registry_mark_bad(w->reg, c.chunk_id, "cs-c"), 0);
	n = meta_locs_live(w->locs, w->reg, &c, false, T0, ids, 16);
	assert_int_equal(n, 2);
	n = meta_locs_live(w->locs, w->reg, &c, true, T0, ids, 16);
	assert_int_equal(n, 3);
	assert_string_equal(ids[2], "cs-c");
	/* a dead node serves nothing (b was last seen at T0) */
	n = meta_locs_live(w->locs, w->reg, &c, false, T0 + DEAD_MS + 1, ids, 16);
	assert_int_equal(n, 0);
	/* a holder at another version than the FSM's serves nothing */
	assert_int_equal(meta_locs_set(w->locs, c.chunk_id, c.version + 1, abc, 3, 0, T0), 0);
	assert_int_equal(meta_locs_live(w->locs, w->reg, &c, false, T0, ids, 16), 0);
}

static void test_register_report(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c, c2;
	struct confirmed k = { 0 };
	struct report rep = { .n = 0 };
	uint32_t a, d;
	size_t n;

	lease(w, 0, abc, 3, &c);
	lease(w, 1, ab, 2, &c2);
	reg_node(w, "cs-a", T0);
	reg_node(w, "cs-d", T0);
	/* a: its copy (kept), a freed chunk (dropped), a newer version than
	 * the FSM's (kept, never served) and an older one of a chunk whose
	 * valid set holds it (not stale: kept at prev) */
	report_add(&rep, c.chunk_id, c.version);
	report_add(&rep, 4242, 1);
	report_add(&rep, c2.chunk_id, c2.version + 5);
	n = do_register(w, "cs-a", &rep, T0, &k);
	assert_int_equal(n, 1);
	assert_int_equal(rep.drop[0]->chunk_id, 4242);
	a = meta_locs_find(w->locs, "cs-a");
	assert_true(meta_locs_has(w->locs, c.chunk_id, c.version, a));
	assert_false(meta_locs_has(w->locs, c2.chunk_id, c2.version, a));
	assert_int_equal(k.calls, 0);

	/* d is in no valid set: a copy it has is stale and dropped... */
	rep.n = 0;
	report_add(&rep, c.chunk_id, c.version);
	n = do_register(w, "cs-d", &rep, T0, &k);
	assert_int_equal(n, 1);
	d = meta_locs_find(w->locs, "cs-d");
	assert_false(meta_locs_has(w->locs, c.chunk_id, c.version, d));
	/* ...unless it was told to make it: then the replication is confirmed */
	meta_locs_pending_set(w->locs, meta_locs_get(w->locs, c.chunk_id), d, T0, CHUNK);
	n = do_register(w, "cs-d", &rep, T0, &k);
	assert_int_equal(n, 0);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.chunk_id, c.chunk_id);
	assert_string_equal(k.node, "cs-d");
	assert_true(meta_locs_has(w->locs, c.chunk_id, c.version, d));
	assert_false(meta_locs_pending(w->locs, c.chunk_id, c.version, d));
	assert_int_equal(meta_locs_n_pending(w->locs), 0);
	assert_int_equal(meta_locs_pending_bytes(w->locs), 0);

	/* a report without the copy takes the holder away */
	rep.n = 0;
	n = do_register(w, "cs-a", &rep, T0 + 1, &k);
	assert_int_equal(n, 0);
	assert_false(meta_locs_has(w->locs, c.chunk_id, c.version, a));
	assert_true(meta_locs_has(w->locs, c.chunk_id, c.version, d));
}

/* Right after a lease, a report that does not show the copy yet keeps the
 * holder (the first write may not have reached it) and asks again later. */
static void test_lease_window(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c;
	struct report rep = { .n = 0 };
	uint32_t a;

	lease(w, 0, ab, 2, &c);
	reg_node(w, "cs-a", T0);
	assert_int_equal(meta_locs_set(w->locs, c.chunk_id, c.version, ab, 2, T0 + 30000, T0), 0);
	a = meta_locs_find(w->locs, "cs-a");
	do_register(w, "cs-a", &rep, T0 + 100, NULL);
	assert_true(meta_locs_has(w->locs, c.chunk_id, c.version, a));
	assert_false(meta_locs_want_report(w->locs, "cs-a", T0 + 200));
	assert_true(meta_locs_want_report(w->locs, "cs-a", T0 + 5000));
	assert_false(meta_locs_want_report(w->locs, "cs-a", T0 + 5001));
	/* after the window the same report takes it away */
	do_register(w, "cs-a", &rep, T0 + 5000, NULL);
	assert_false(meta_locs_has(w->locs, c.chunk_id, c.version, a));
	assert_false(meta_locs_want_report(w->locs, "cs-x", T0 + 5000));
}

/* A lease bumped the version and its first write never came: the copies at
 * the previous version are what reads and the next lease use. */
static void test_version_change(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c;
	struct report rep = { .n = 0 };
	const char *ids[META_LOCS_CHAIN_MAX];

	lease(w, 0, abc, 3, &c);
	lease(w, 0, abc, 3, &c);
	assert_int_equal(c.version, 2);
	assert_int_equal(c.prev_version, 1);
	reg_node(w, "cs-a", T0);
	reg_node(w, "cs-b", T0);
	report_add(&rep, c.chunk_id, 1);
	assert_int_equal(do_register(w, "cs-a", &rep, T0, NULL), 0);   /* not stale */
	assert_int_equal(do_register(w, "cs-b", &rep, T0, NULL), 0);
	assert_int_equal(meta_locs_live(w->locs, w->reg, &c, false, T0, ids, 16), 0);
	assert_int_equal(meta_locs_live_prev(w->locs, w->reg, &c, T0, ids, 16), 2);
	assert_string_equal(ids[0], "cs-a");
	/* bounded */
	assert_int_equal(meta_locs_live_prev(w->locs, w->reg, &c, T0, ids, 1), 1);
	/* b dies: only a */
	reg_node(w, "cs-a", T0 + DEAD_MS);
	assert_int_equal(meta_locs_live_prev(w->locs, w->reg, &c, T0 + DEAD_MS + 1, ids, 16), 1);
	/* it had a version before: never "never written" */
	assert_false(meta_locs_never_written(w->locs, w->reg, &c, T0));
	/* a copy at the new version makes it live, at that version */
	rep.n = 0;
	report_add(&rep, c.chunk_id, 2);
	do_register(w, "cs-a", &rep, T0 + DEAD_MS, NULL);
	assert_int_equal(meta_locs_live(w->locs, w->reg, &c, false, T0 + DEAD_MS, ids, 16), 1);
	/* a node outside the valid set with an older copy: dropped */
	reg_node(w, "cs-d", T0);
	rep.n = 0;
	report_add(&rep, c.chunk_id, 1);
	assert_int_equal(do_register(w, "cs-d", &rep, T0, NULL), 1);
}

static void test_never_written(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c;
	struct report rep = { .n = 0 };

	lease(w, 0, ab, 2, &c);
	assert_int_equal(c.prev_version, 0);
	reg_node(w, "cs-a", T0);
	/* b not registered: it may hold the only copy */
	assert_false(meta_locs_never_written(w->locs, w->reg, &c, T0));
	reg_node(w, "cs-b", T0);
	assert_true(meta_locs_never_written(w->locs, w->reg, &c, T0));
	/* b down */
	assert_false(meta_locs_never_written(w->locs, w->reg, &c, T0 + DEAD_MS + 1));
	/* a copy marked bad existed */
	meta_registry_mark_bad(w->reg, c.chunk_id, "cs-b");
	assert_false(meta_locs_never_written(w->locs, w->reg, &c, T0));
	meta_registry_clear_bad(w->reg, c.chunk_id, "cs-b");
	assert_true(meta_locs_never_written(w->locs, w->reg, &c, T0));
	/* one reports it */
	report_add(&rep, c.chunk_id, c.version);
	do_register(w, "cs-a", &rep, T0, NULL);
	assert_false(meta_locs_never_written(w->locs, w->reg, &c, T0));
}

/* CHUNK_FAILED left c out of the chain: its copy stays until the new chain
 * has written, then it is deleted. */
static void test_dropped_copy(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c;
	struct report rep = { .n = 0 };
	uint32_t kind = 0;
	uint64_t version = 0;

	lease(w, 0, abc, 3, &c);
	lease(w, 0, ab, 2, &c);     /* v2 without c */
	reg_node(w, "cs-a", T0);
	reg_node(w, "cs-c", T0);
	assert_int_equal(meta_locs_set(w->locs, c.chunk_id, c.version, ab, 2, 0, T0), 0);
	meta_locs_dropped(w->locs, w->reg, c.chunk_id, c.version, "cs-c", 1, T0);
	/* the holders are asked for a report soon */
	assert_false(meta_locs_want_report(w->locs, "cs-a", T0));
	assert_true(meta_locs_want_report(w->locs, "cs-a", T0 + META_LOCS_DROP_CONFIRM_MS));
	/* c re-registers with its old copy: kept, not a holder */
	report_add(&rep, c.chunk_id, 1);
	assert_int_equal(do_register(w, "cs-c", &rep, T0, NULL), 0);
	assert_int_equal(take_orders(w, "cs-c", NULL, NULL), 0);
	/* a shows the new version: c's copy is deleted */
	rep.n = 0;
	report_add(&rep, c.chunk_id, 2);
	assert_int_equal(do_register(w, "cs-a", &rep, T0, NULL), 0);
	assert_int_equal(take_orders(w, "cs-c", &kind, &version), 1);
	assert_int_equal(kind, META_ORDER_DELETE);
	assert_int_equal(version, 1);
	/* and once deleted, a later report of it drops it */
	rep.n = 0;
	report_add(&rep, c.chunk_id, 1);
	assert_int_equal(do_register(w, "cs-c", &rep, T0, NULL), 1);
}

/* A replication the target says finished (a heartbeat's CsReplicated):
 * meta_locs_confirm makes it a holder, ends the pending copy, clears a bad
 * mark of its old copy and lets the copy a failure dropped be deleted. */
static void test_confirm(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c;
	uint32_t d, kind = 0;
	uint64_t version = 0;

	lease(w, 0, abc, 3, &c);
	lease(w, 0, ab, 2, &c);     /* v2 without c */
	reg_node(w, "cs-a", T0);
	reg_node(w, "cs-c", T0);
	reg_node(w, "cs-d", T0);
	assert_int_equal(meta_locs_set(w->locs, c.chunk_id, c.version, ab, 2, 0, T0), 0);
	meta_locs_dropped(w->locs, w->reg, c.chunk_id, c.version, "cs-c", 1, T0);
	d = meta_locs_intern(w->locs, "cs-d");
	meta_locs_pending_set(w->locs, meta_locs_get(w->locs, c.chunk_id), d, T0, 4096);
	assert_int_equal(meta_registry_mark_bad(w->reg, c.chunk_id, "cs-d"), 0);
	meta_locs_confirm(w->locs, w->reg, &c, d, "cs-d");
	assert_true(meta_locs_has(w->locs, c.chunk_id, c.version, d));
	assert_false(meta_locs_pending(w->locs, c.chunk_id, c.version, d));
	assert_int_equal(meta_locs_n_pending(w->locs), 0);
	assert_int_equal(meta_locs_pending_bytes(w->locs), 0);
	assert_false(meta_registry_is_bad(w->reg, c.chunk_id, "cs-d"));
	assert_int_equal(take_orders(w, "cs-c", &kind, &version), 1);
	assert_int_equal(kind, META_ORDER_DELETE);
	assert_int_equal(version, 1);
}

static void test_freed(void **state)
{
	struct world *w = *state;
	struct meta_fsm_chunk c;
	struct meta_fsm_result res;
	Godfs__NameReq r = GODFS__NAME_REQ__INIT;
	uint32_t d, kind = 0;

	lease(w, 0, ab, 2, &c);
	reg_node(w, "cs-a", T0);
	reg_node(w, "cs-b", T0);
	reg_node(w, "cs-d", T0);
	meta_locs_set(w->locs, c.chunk_id, c.version, ab, 2, 0, T0);
	d = meta_locs_intern(w->locs, "cs-d");
	meta_locs_pending_set(w->locs, meta_locs_get(w->locs, c.chunk_id), d, T0, CHUNK);
	r.has_parent = 1;
	r.parent = 1;
	r.name = "f";
	w->purge_ino = w->ino;      /* nobody has it open */
	apply(w, M(UNLINK), &r.base, NULL, 0, NULL, &res);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.n_freed, 1);
	meta_locs_freed(w->locs, w->reg, &res);
	meta_fsm_result_release(&res);
	/* the valid set and the copy being made are deleted */
	assert_int_equal(take_orders(w, "cs-a", &kind, NULL), 1);
	assert_int_equal(kind, META_ORDER_DELETE);
	assert_int_equal(take_orders(w, "cs-b", NULL, NULL), 1);
	assert_int_equal(take_orders(w, "cs-d", NULL, NULL), 1);
	assert_null(meta_locs_get(w->locs, c.chunk_id));
	assert_int_equal(meta_locs_n_pending(w->locs), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_add_remove_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_choices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
