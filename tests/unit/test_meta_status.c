/* meta_status_render: the status page and its JSON from a snapshot made by
 * hand: every string from the network escaped, a dead chunkd shown dead,
 * the under-goal and missing counts, a follower's page, and a failed
 * allocation anywhere giving GD_ENOMEM and nothing leaked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_status_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVIL "<script>alert(\"x\")</script>&'"

static void add_node(struct meta_status_snap *s, const char *id, const char *addr,
		     const char *label, bool alive, uint64_t total, uint64_t free_b)
{
	struct meta_status_node *n;

	s->nodes = realloc(s->nodes, (s->n_nodes + 1) * sizeof(*s->nodes));
	assert_non_null(s->nodes);
	n = &s->nodes[s->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->id = gd_strdup(id);
	n->address = gd_strdup(addr);
	n->label = gd_strdup(label);
	n->registered = true;
	n->alive = alive;
	n->total_bytes = total;
	n->free_bytes = free_b;
	n->chunks = 7;
	n->last_seen_ago_ms = alive ? 400 : 42000;
}

/* A leader of three voters with two chunkds, one of them dead. */
static struct meta_status_snap *leader_snap(void)
{
	struct meta_status_snap *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->taken_unix_ms = 1796551200123ull;   /* 2026-12-06T10:00:00.123Z */
	snprintf(s->version, sizeof(s->version), "0.1.0");
	s->node_id = 1;
	snprintf(s->state, sizeof(s->state), "leader");
	s->leader = true;
	s->term = 4;
	s->last_index = 120;
	s->applied_index = 119;
	s->leader_id = 1;
	for (size_t i = 0; i < 3; i++) {
		struct meta_status_member *m = &s->members[i];

		m->id = i + 1;
		snprintf(m->raft_addr, sizeof(m->raft_addr), "127.0.0.1:%zu", 9190 + i);
		snprintf(m->client_addr, sizeof(m->client_addr), "127.0.0.1:%zu", 9090 + i);
		snprintf(m->role, sizeof(m->role), "voter");
		m->leader = i == 0;
		m->self = i == 0;
		m->has_heard = true;
		m->reachable = i != 2;
		m->heard_ago_ms = i == 2 ? 9000 : 50;
		m->match_index = 119;
	}
	s->n_members = 3;
	add_node(s, "cs1", "127.0.0.1:9420", "zone=a,rack=r1", true, 100ull << 30, 60ull << 30);
	add_node(s, "cs2", "127.0.0.1:9421", "", false, 100ull << 30, 99ull << 30);
	s->inodes = 12;
	s->chunks = 30;
	s->sessions = 2;
	s->census_known = true;
	s->under_by_live[1] = 5;
	s->by_live[1] = 5;
	s->by_live[3] = 25;
	s->under_goal = 5;
	s->at_goal = 25;
	s->copies_todo = 5;
	s->bytes_todo = 5ull << 26;
	s->eta_s = META_STATUS_UNKNOWN;
	return s;
}

static char *html_of(const struct meta_status_snap *s)
{
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(meta_status_render_html(s, 5, &body, &len), 0);
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	return body;
}

static char *json_of(const struct meta_status_snap *s)
{
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(meta_status_render_json(s, &body, &len), 0);
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	return body;
}

/* The row of node id in the page (the text from its <tr> to its </tr>). */
static char *row_of(const char *page, const char *id)
{
	char key[128];
	const char *a, *b;

	snprintf(key, sizeof(key), "<tr class=\"node\" id=\"node-%s\">", id);
	a = strstr(page, key);
	assert_non_null(a);
	b = strstr(a, "</tr>");
	assert_non_null(b);
	return strndup(a, (size_t)(b - a));
}

/* A node id, address and label carrying markup come out as text, in the
 * cells and in the row's id attribute; the JSON quotes them. */
static void test_escaping(void **state)
{
	struct meta_status_snap *s = leader_snap();
	char *page, *json;

	(void)state;
	add_node(s, EVIL, "h\"ost:1<2>", "zone=<b>", true, 10, 5);
	snprintf(s->members[1].client_addr, sizeof(s->members[1].client_addr), "<i>x</i>");
	page = html_of(s);
	assert_null(strstr(page, "<script>"));
	assert_null(strstr(page, "<b>"));
	assert_null(strstr(page, "<i>"));
	assert_null(strstr(page, "h\"ost"));
	assert_non_null(strstr(page, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
	assert_non_null(strstr(page, "id=\"node-&lt;script&gt;"));
	assert_non_null(strstr(page, "h&quot;ost:1&lt;2&gt;"));
	assert_non_null(strstr(page, "zone=&lt;b&gt;"));
	json = json_of(s);
	assert_non_null(strstr(json, "\"id\":\"<script>alert(\\\"x\\\")</script>&'\""));
	assert_non_null(strstr(json, "\"address\":\"h\\\"ost:1<2>\""));
	free(page);
	free(json);
	/* control characters in JSON strings are escaped */
	gd_free(s->nodes[2].label);
	s->nodes[2].label = gd_strdup("a\nb\x01");
	json = json_of(s);
	assert_non_null(strstr(json, "\"labels\":\"a\\u000ab\\u0001\""));
	free(json);
	meta_status_snap_free(s);
}

/* The dead chunkd's row says dead (with the class that paints it red), the
 * live one's says alive; the banner names the dead one; the space counts
 * only the live chunkd. */
static void test_dead_node(void **state)
{
	struct meta_status_snap *s = leader_snap();
	char *page = html_of(s), *r1 = row_of(page, "cs1"), *r2 = row_of(page, "cs2"), *json;

	(void)state;
	assert_non_null(strstr(r2, "<td class=\"state dead\">dead</td>"));
	assert_null(strstr(r2, "alive"));
	assert_non_null(strstr(r1, "<td class=\"state alive\">alive</td>"));
	assert_non_null(strstr(r1, "zone=a,rack=r1"));
	assert_non_null(strstr(r1, "40.0 GiB of 100.0 GiB (40%)"));
	assert_non_null(strstr(page, "id=\"dead-nodes\">1 of 2 chunk servers dead: cs2.</p>"));
	assert_non_null(strstr(page, "Space on the 1 live chunk server: 40.0 GiB used of 100.0 GiB"));
	assert_null(strstr(page, "id=\"healthy\""));
	/* voter 3 has not answered for 9 s */
	assert_non_null(strstr(page, "<td class=\"dead\">no (last heard 9.0 s ago)</td>"));
	assert_non_null(strstr(page, "<b id=\"leader\">node 1 (127.0.0.1:9090)</b>"));
	json = json_of(s);
	assert_non_null(strstr(json, "\"id\":\"cs2\",\"address\":\"127.0.0.1:9421\",\"labels\":\"\","
				     "\"alive\":false,\"draining\":false,\"registered\":true,"));
	assert_non_null(strstr(json, "\"nodes_alive\":1,\"nodes_dead\":1,"));
	assert_non_null(strstr(json, "\"leader_id\":1,\"leader_address\":\"127.0.0.1:9090\""));
	free(r1);
	free(r2);
	free(page);
	free(json);

	/* a chunkd this leader never heard from is dead too, without figures */
	s->nodes[1].registered = false;
	s->nodes[1].draining = true;
	page = html_of(s);
	r2 = row_of(page, "cs2");
	assert_non_null(strstr(r2, "<td class=\"state dead\">dead, draining (not heard from since "
				   "this node leads)</td><td>-</td>"));
	assert_non_null(strstr(page, "1 chunk server is draining"));
	free(r2);
	free(page);
	meta_status_snap_free(s);
}

/* The under-goal count in the banner, the table and the JSON; missing
 * chunks (no live copy) are their own, critical, line. */
static void test_under_goal(void **state)
{
	struct meta_status_snap *s = leader_snap();
	char *page = html_of(s), *json;

	(void)state;
	assert_non_null(strstr(page, "id=\"under-goal\">5 chunks are under goal"));
	assert_non_null(strstr(page, "<td class=\"num\" id=\"under-goal-count\">5</td>"));
	assert_non_null(strstr(page, "<td class=\"num\" id=\"missing-count\">0</td>"));
	assert_null(strstr(page, "id=\"missing\""));
	assert_non_null(strstr(page, "<td class=\"num\" id=\"eta\">unknown (nothing moving)</td>"));
	json = json_of(s);
	assert_non_null(strstr(json, "\"chunks\":{\"at_goal\":25,\"under_goal\":5,\"missing\":0,"
				     "\"over_goal\":0,\"under_goal_by_live_copies\":[0,5,0,0,0,0,0,0],"
				     "\"by_live_copies\":[0,5,0,25,0]"));
	/* every chunk by live copies: 5 with 1 (under goal 3), 25 with 3 */
	assert_non_null(strstr(page, "<table id=\"by-live\"><tr><th>0</th><th>1</th><th>2</th><th>3</th>"
				     "<th>4+</th></tr><tr><td class=\"num\">0</td><td class=\"num\">5</td>"
				     "<td class=\"num\">0</td><td class=\"num\">25</td>"));
	assert_non_null(strstr(json, "\"eta_seconds\":null"));
	free(page);
	free(json);

	s->under_by_live[0] = 1;
	s->under_goal = 6;
	s->eta_s = 125;
	assert_int_equal(meta_status_missing(s), 1);
	page = html_of(s);
	assert_non_null(strstr(page, "id=\"missing\">1 chunk is missing"));
	assert_non_null(strstr(page, "6 chunks are under goal (fewer live copies than wanted); "
				     "re-replication done in about 2 min."));
	assert_non_null(strstr(page, "<td class=\"num\" id=\"eta\">2 min</td>"));
	free(page);
	meta_status_snap_free(s);
}

/* All well: one green line, and no warning. */
static void test_healthy(void **state)
{
	struct meta_status_snap *s = leader_snap();
	char *page;

	(void)state;
	s->nodes[1].alive = true;
	memset(s->under_by_live, 0, sizeof(s->under_by_live));
	s->under_goal = 0;
	page = html_of(s);
	assert_non_null(strstr(page, "id=\"healthy\">Healthy"));
	s->copies_todo = 0;
	s->eta_s = 0;
	free(page);
	page = html_of(s);
	assert_non_null(strstr(page, "<td class=\"num\" id=\"eta\">done</td>"));
	assert_null(strstr(page, "banner crit"));
	assert_null(strstr(page, "banner warn"));
	assert_non_null(strstr(page, "<meta http-equiv=\"refresh\" content=\"5\">"));
	assert_non_null(strstr(page, "<time>2026-12-06T10:00:00.123Z</time>"));
	/* nothing from outside the page */
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "src="));
	assert_null(strstr(page, "http://"));
	assert_null(strstr(page, "https://"));
	free(page);
	meta_status_snap_free(s);
}

/* A follower knows the Raft figures and the replicated chunkd records, not
 * liveness or space: it says so and names the leader; no leader at all is
 * critical. */
static void test_follower(void **state)
{
	struct meta_status_snap *s = leader_snap();
	char *page, *json, *r1;

	(void)state;
	s->node_id = 2;
	snprintf(s->state, sizeof(s->state), "follower");
	s->leader = false;
	s->census_known = false;
	s->sessions = META_STATUS_UNKNOWN;
	for (size_t i = 0; i < s->n_members; i++) {
		s->members[i].self = i == 1;
		s->members[i].has_heard = false;
		s->members[i].match_index = META_STATUS_UNKNOWN;
	}
	for (size_t i = 0; i < s->n_nodes; i++)
		s->nodes[i].registered = s->nodes[i].alive = false;
	page = html_of(s);
	assert_non_null(strstr(page, "This node is not the leader"));
	assert_non_null(strstr(page, "The leader is node 1 (127.0.0.1:9090)."));
	r1 = row_of(page, "cs1");
	assert_non_null(strstr(r1, "<td class=\"state unknown\">unknown (ask the leader)</td>"));
	assert_null(strstr(page, "dead-nodes"));
	assert_null(strstr(page, "under-goal-count"));
	assert_null(strstr(page, "id=\"sessions\""));
	assert_non_null(strstr(page, "<td>2 (this node)</td>"));
	json = json_of(s);
	assert_non_null(strstr(json, "\"alive\":null"));
	assert_non_null(strstr(json, "\"chunks\":null,\"replication\":null"));
	assert_non_null(strstr(json, "\"reachable\":null"));
	assert_non_null(strstr(json, "\"sessions\":null"));
	free(r1);
	free(page);
	free(json);

	s->leader_id = 0;
	for (size_t i = 0; i < s->n_members; i++)
		s->members[i].leader = false;
	page = html_of(s);
	assert_non_null(strstr(page, "id=\"no-leader\">No meta leader is known"));
	assert_non_null(strstr(page, "<b id=\"leader\">none known</b>"));
	json = json_of(s);
	assert_non_null(strstr(json, "\"leader_id\":null,\"leader_address\":null"));
	free(page);
	free(json);
	meta_status_snap_free(s);
}

/* An allocation failing anywhere in a render gives GD_ENOMEM and no body
 * (ASan reports a leak). */
static void test_enomem(void **state)
{
	struct meta_status_snap *s = leader_snap();
	int seen_ok = 0;

	(void)state;
	for (long n = 1; n < 64 && !seen_ok; n++) {
		char *body = (char *)1;
		size_t len = 1;
		int rc;

		gd_alloc_fail_after(n);
		rc = meta_status_render_html(s, 0, &body, &len);
		gd_alloc_fail_after(0);
		if (rc == 0) {
			seen_ok = 1;
			free(body);
			break;
		}
		assert_int_equal(rc, GD_ENOMEM);
		assert_null(body);
		assert_int_equal(len, 0);
	}
	assert_true(seen_ok);
	for (long n = 1; n < 64; n++) {
		char *body = NULL;
		size_t len = 0;
		int rc;

		gd_alloc_fail_after(n);
		rc = meta_status_render_json(s, &body, &len);
		gd_alloc_fail_after(0);
		if (rc == 0) {
			free(body);
			break;
		}
		assert_int_equal(rc, GD_ENOMEM);
		assert_null(body);
	}
	meta_status_snap_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_dead_node),
		cmocka_unit_test(test_under_goal),
		cmocka_unit_test(test_healthy),
		cmocka_unit_test(test_follower),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
