/* The status page and its JSON (see meta_status_render.h). Reads only the
 * snapshot; every string goes through html() or json_str(). */
#include "meta_status_render.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "gd_text.h"

/* Text as HTML character data or an attribute value. */
static void html(struct gd_text *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': gd_text_str(o, "&amp;"); break;
		case '<': gd_text_str(o, "&lt;"); break;
		case '>': gd_text_str(o, "&gt;"); break;
		case '"': gd_text_str(o, "&quot;"); break;
		case '\'': gd_text_str(o, "&#39;"); break;
		default: gd_text_mem(o, s, 1); break;
		}
	}
}

/* s as a JSON string, quotes included. Bytes >= 0x80 pass as they are (a
 * node id is UTF-8 or the reader gets what the chunkd sent). */
static void json_str(struct gd_text *o, const char *s)
{
	gd_text_str(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			gd_text_fmt(o, "\\%c", c);
		else if (c < 0x20)
			gd_text_fmt(o, "\\u%04x", c);
		else
			gd_text_mem(o, s, 1);
	}
	gd_text_str(o, "\"");
}

/* ---- figures for people ---------------------------------------------------------- */

static const char *fmt_ms(uint64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 " ms", ms);
	else if (ms < 120000)
		snprintf(buf, len, "%.1f s", (double)ms / 1000);
	else if (ms < 7200000)
		snprintf(buf, len, "%" PRIu64 " min", ms / 60000);
	else
		snprintf(buf, len, "%.1f h", (double)ms / 3600000);
	return buf;
}

static const char *fmt_time(uint64_t unix_ms, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03uZ", (unsigned)(unix_ms % 1000));
	return buf;
}

uint64_t meta_status_missing(const struct meta_status_snap *s)
{
	return s->census_known ? s->under_by_live[0] : 0;
}

void meta_status_snap_free(struct meta_status_snap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_nodes; i++) {
		gd_free(s->nodes[i].id);
		gd_free(s->nodes[i].address);
		gd_free(s->nodes[i].label);
	}
	gd_free(s->nodes);
	gd_free(s);
}

/* What the state column says of a chunkd; css: its class. */
static const char *node_state(const struct meta_status_snap *s, const struct meta_status_node *n,
			      const char **css)
{
	if (!s->leader) {
		*css = "unknown";
		return "unknown (ask the leader)";
	}
	if (!n->registered) {
		*css = "dead";
		return n->draining ? "dead, draining (not heard from since this node leads)"
				   : "dead (not heard from since this node leads)";
	}
	if (!n->alive) {
		*css = "dead";
		return n->draining ? "dead, draining" : "dead";
	}
	*css = n->draining ? "draining" : "alive";
	return n->draining ? "alive, draining" : "alive";
}

static size_t dead_nodes(const struct meta_status_snap *s)
{
	size_t n = 0;

	for (size_t i = 0; s->leader && i < s->n_nodes; i++)
		n += !s->nodes[i].alive;
	return n;
}

static const struct meta_status_member *leader_member(const struct meta_status_snap *s)
{
	for (size_t i = 0; i < s->n_members; i++)
		if (s->members[i].leader)
			return &s->members[i];
	return NULL;
}

/* ---- HTML --------------------------------------------------------------------- */

static const char CSS[] =
	"body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .4em}"
	".sub{color:#555;margin:0}"
	"table{border-collapse:collapse;background:#fff}"
	"th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
	"th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}"
	".banner{padding:.6em 1em;border-radius:4px;margin:.3em 0}"
	".banner.ok{background:#d9f2d9;border:1px solid #5a5}"
	".banner.warn{background:#fff3cd;border:1px solid #d9a400}"
	".banner.crit{background:#f8d7da;border:1px solid #c33}"
	".banner.info{background:#e7f0fb;border:1px solid #68a}"
	"td.alive{color:#185c18}td.dead{color:#fff;background:#c33;font-weight:bold}"
	"td.draining{color:#7a5c00;background:#fff3cd}td.unknown{color:#777}"
	".bar{display:inline-block;width:8em;height:.8em;background:#ddd;vertical-align:middle;"
	"margin-right:.4em}.bar span{display:block;height:100%;background:#4a7bb7}"
	".bar span.full{background:#c33}";

static void html_health(struct gd_text *o, const struct meta_status_snap *s)
{
	size_t dead = dead_nodes(s), draining = 0;
	uint64_t missing = meta_status_missing(s);
	bool any = false;
	char b1[32];

	gd_text_str(o, "<section id=\"health\"><h2>Health</h2>\n");
	if (s->leader_id == 0) {
		gd_text_str(o, "<p class=\"banner crit\" id=\"no-leader\">No meta leader is known: "
			   "the file system cannot change until a majority of the voters elect one.</p>\n");
		any = true;
	}
	if (!s->leader) {
		const struct meta_status_member *l = leader_member(s);

		gd_text_str(o, "<p class=\"banner info\">This node is not the leader: chunk servers, "
			   "space and chunk health are what the leader knows. ");
		if (l != NULL && l->client_addr[0]) {
			gd_text_fmt(o, "The leader is node %" PRIu64 " (", l->id);
			html(o, l->client_addr);
			gd_text_str(o, ").");
		}
		gd_text_str(o, "</p>\n");
		gd_text_str(o, "</section>\n");
		return;
	}
	if (dead) {
		gd_text_fmt(o, "<p class=\"banner crit\" id=\"dead-nodes\">%zu of %zu chunk server%s dead:",
			dead, s->n_nodes, s->n_nodes == 1 ? "" : "s");
		for (size_t i = 0, k = 0; i < s->n_nodes; i++) {
			if (s->nodes[i].alive)
				continue;
			gd_text_str(o, k++ ? ", " : " ");
			html(o, s->nodes[i].id);
		}
		gd_text_str(o, ".</p>\n");
		any = true;
	}
	if (missing) {
		gd_text_fmt(o, "<p class=\"banner crit\" id=\"missing\">%" PRIu64 " chunk%s missing: no live "
			   "copy; their files cannot be read until a chunk server holding them comes back.</p>\n",
			missing, missing == 1 ? " is" : "s are");
		any = true;
	}
	if (s->census_known && s->under_goal) {
		gd_text_fmt(o, "<p class=\"banner warn\" id=\"under-goal\">%" PRIu64 " chunk%s under goal "
			   "(fewer live copies than wanted)",
			s->under_goal, s->under_goal == 1 ? " is" : "s are");
		if (s->eta_s != META_STATUS_UNKNOWN)
			gd_text_fmt(o, "; re-replication done in about %s",
				fmt_ms(s->eta_s * 1000, b1, sizeof(b1)));
		gd_text_str(o, ".</p>\n");
		any = true;
	}
	for (size_t i = 0; i < s->n_nodes; i++)
		draining += s->nodes[i].draining;
	if (draining) {
		gd_text_fmt(o, "<p class=\"banner info\">%zu chunk server%s draining: %s copies move to "
			   "other nodes.</p>\n", draining, draining == 1 ? " is" : "s are",
			draining == 1 ? "its" : "their");
		any = true;
	}
	if (!s->census_known) {
		gd_text_str(o, "<p class=\"banner info\">Chunk health is not known yet: the leader's first "
			   "scan of the chunks has not finished.</p>\n");
		any = true;
	}
	if (!any)
		gd_text_str(o, "<p class=\"banner ok\" id=\"healthy\">Healthy: every chunk server is alive "
			   "and every chunk has its goal of copies.</p>\n");
	gd_text_str(o, "</section>\n");
}

static void html_raft(struct gd_text *o, const struct meta_status_snap *s)
{
	const struct meta_status_member *l = leader_member(s);
	char b1[32];

	gd_text_str(o, "<section id=\"raft\"><h2>Meta servers (Raft)</h2>\n<p>Leader: <b id=\"leader\">");
	if (s->leader_id == 0) {
		gd_text_str(o, "none known");
	} else {
		gd_text_fmt(o, "node %" PRIu64, s->leader_id);
		if (l != NULL && l->client_addr[0]) {
			gd_text_str(o, " (");
			html(o, l->client_addr);
			gd_text_str(o, ")");
		}
	}
	gd_text_fmt(o, "</b> &middot; term %" PRIu64 " &middot; last index %" PRIu64
		   " &middot; applied %" PRIu64 "</p>\n", s->term, s->last_index, s->applied_index);
	gd_text_str(o, "<table><tr><th>Node</th><th>Client address</th><th>Raft address</th>"
		   "<th>Role</th><th>Leader</th><th>Reachable</th><th>Match index</th></tr>\n");
	for (size_t i = 0; i < s->n_members; i++) {
		const struct meta_status_member *m = &s->members[i];

		gd_text_fmt(o, "<tr><td>%" PRIu64 "%s</td><td>", m->id, m->self ? " (this node)" : "");
		html(o, m->client_addr[0] ? m->client_addr : "-");
		gd_text_str(o, "</td><td>");
		html(o, m->raft_addr);
		gd_text_str(o, "</td><td>");
		html(o, m->role);
		gd_text_fmt(o, "</td><td>%s</td>", m->leader ? "leader" : "");
		if (!m->has_heard)
			gd_text_str(o, "<td class=\"unknown\">unknown</td>");
		else if (m->self)
			gd_text_str(o, "<td class=\"alive\">yes</td>");
		else if (m->reachable)
			gd_text_fmt(o, "<td class=\"alive\">yes (%s ago)</td>",
				fmt_ms(m->heard_ago_ms, b1, sizeof(b1)));
		else if (m->heard_ago_ms)
			gd_text_fmt(o, "<td class=\"dead\">no (last heard %s ago)</td>",
				fmt_ms(m->heard_ago_ms, b1, sizeof(b1)));
		else
			gd_text_str(o, "<td class=\"dead\">no (not heard in this term)</td>");
		if (m->match_index == META_STATUS_UNKNOWN)
			gd_text_str(o, "<td class=\"num\">-</td></tr>\n");
		else
			gd_text_fmt(o, "<td class=\"num\">%" PRIu64 "</td></tr>\n", m->match_index);
	}
	gd_text_str(o, "</table></section>\n");
}

static void html_nodes(struct gd_text *o, const struct meta_status_snap *s)
{
	uint64_t total = 0, free_b = 0;
	size_t alive = 0;
	char b1[32], b2[32], b3[32];

	gd_text_str(o, "<section id=\"nodes\"><h2>Chunk servers</h2>\n");
	if (s->n_nodes == 0) {
		gd_text_str(o, "<p>No chunk server has ever registered.</p></section>\n");
		return;
	}
	gd_text_str(o, "<table><tr><th>Node</th><th>Address</th><th>Labels</th><th>State</th>"
		   "<th>Space used</th><th>Free</th><th>Chunks</th><th>Last heartbeat</th></tr>\n");
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct meta_status_node *n = &s->nodes[i];
		const char *css, *state = node_state(s, n, &css);

		gd_text_str(o, "<tr class=\"node\" id=\"node-");
		html(o, n->id);
		gd_text_str(o, "\"><td>");
		html(o, n->id);
		gd_text_str(o, "</td><td>");
		html(o, n->address);
		gd_text_str(o, "</td><td>");
		html(o, n->label[0] ? n->label : "-");
		gd_text_fmt(o, "</td><td class=\"state %s\">%s</td>", css, state);
		if (!n->registered) {
			gd_text_str(o, "<td>-</td><td>-</td><td class=\"num\">-</td><td>-</td></tr>\n");
			continue;
		}
		{
			uint64_t used = n->total_bytes > n->free_bytes ? n->total_bytes - n->free_bytes : 0;
			unsigned pct = n->total_bytes ? (unsigned)(used * 100 / n->total_bytes) : 0;

			gd_text_fmt(o, "<td><span class=\"bar\"><span%s style=\"width:%u%%\"></span></span>"
				   "%s of %s (%u%%)</td><td class=\"num\">%s</td>",
				pct >= 95 ? " class=\"full\"" : "", pct,
				gd_text_bytes(used, b1, sizeof(b1)), gd_text_bytes(n->total_bytes, b2, sizeof(b2)),
				pct, gd_text_bytes(n->free_bytes, b3, sizeof(b3)));
		}
		gd_text_fmt(o, "<td class=\"num\">%" PRIu64 "</td><td>%s ago</td></tr>\n", n->chunks,
			fmt_ms(n->last_seen_ago_ms, b1, sizeof(b1)));
		if (n->alive) {
			total += n->total_bytes;
			free_b += n->free_bytes;
			alive++;
		}
	}
	gd_text_str(o, "</table>\n");
	if (s->leader)
		gd_text_fmt(o, "<p id=\"space\">Space on the %zu live chunk server%s: %s used of %s, %s free.</p>\n",
			alive, alive == 1 ? "" : "s",
			gd_text_bytes(total - free_b, b1, sizeof(b1)), gd_text_bytes(total, b2, sizeof(b2)),
			gd_text_bytes(free_b, b3, sizeof(b3)));
	gd_text_str(o, "</section>\n");
}

/* Counts by number of live copies as a one-row table headed 0, 1, ... and
 * "n-1+" for the last (which counts n-1 copies or more); attr: the table's
 * attributes (" id=..." or ""). */
static void html_by_copies(struct gd_text *o, const char *title, const char *attr,
			   const uint64_t *v, size_t n)
{
	gd_text_fmt(o, "<h3>%s</h3>\n<table%s><tr>", title, attr);
	for (size_t i = 0; i < n; i++)
		gd_text_fmt(o, "<th>%zu%s</th>", i, i + 1 == n ? "+" : "");
	gd_text_str(o, "</tr><tr>");
	for (size_t i = 0; i < n; i++)
		gd_text_fmt(o, "<td class=\"num\">%" PRIu64 "</td>", v[i]);
	gd_text_str(o, "</tr></table>\n");
}

static void html_chunks(struct gd_text *o, const struct meta_status_snap *s)
{
	char b1[32], b2[32];

	gd_text_str(o, "<section id=\"chunks\"><h2>File system and chunks</h2>\n<table>\n");
	gd_text_fmt(o, "<tr><th>Inodes</th><td class=\"num\" id=\"inodes\">%" PRIu64 "</td></tr>\n",
		s->inodes);
	gd_text_fmt(o, "<tr><th>Chunks</th><td class=\"num\" id=\"chunk-count\">%" PRIu64 "</td></tr>\n",
		s->chunks);
	if (s->sessions != META_STATUS_UNKNOWN)
		gd_text_fmt(o, "<tr><th>Client sessions</th><td class=\"num\" id=\"sessions\">%" PRIu64
			   "</td></tr>\n", s->sessions);
	if (s->census_known) {
		gd_text_fmt(o, "<tr><th>At goal</th><td class=\"num\" id=\"at-goal\">%" PRIu64 "</td></tr>\n",
			s->at_goal);
		gd_text_fmt(o, "<tr><th>Under goal</th><td class=\"num\" id=\"under-goal-count\">%" PRIu64
			   "</td></tr>\n", s->under_goal);
		gd_text_fmt(o, "<tr><th>Missing (no live copy)</th><td class=\"num\" id=\"missing-count\">%"
			   PRIu64 "</td></tr>\n", meta_status_missing(s));
		gd_text_fmt(o, "<tr><th>Over goal</th><td class=\"num\">%" PRIu64 "</td></tr>\n",
			s->over_goal);
	}
	gd_text_str(o, "</table>\n");
	if (s->census_known)
		html_by_copies(o, "Chunks by live copies", " id=\"by-live\"", s->by_live,
			       META_STATUS_BY_LIVE);
	if (s->census_known && s->under_goal)
		html_by_copies(o, "Chunks under goal by live copies", "", s->under_by_live,
			       META_STATUS_COPIES_MAX);
	if (s->census_known)
		gd_text_fmt(o, "<p class=\"sub\">Counted by the leader's scan that ended %s ago.</p>\n",
			fmt_ms(s->census_age_ms, b1, sizeof(b1)));
	if (s->leader) {
		gd_text_str(o, "<h3>Re-replication</h3>\n<table>\n");
		gd_text_fmt(o, "<tr><th>Copies to make</th><td class=\"num\" id=\"backlog\">%" PRIu64
			   "</td></tr>\n", s->copies_todo);
		gd_text_fmt(o, "<tr><th>Bytes to copy</th><td class=\"num\">%s</td></tr>\n",
			gd_text_bytes(s->bytes_todo, b1, sizeof(b1)));
		gd_text_fmt(o, "<tr><th>Copies on their way</th><td class=\"num\">%" PRIu64 "</td></tr>\n",
			s->copies_pending);
		gd_text_fmt(o, "<tr><th>Rate</th><td class=\"num\">%s/s</td></tr>\n",
			gd_text_bytes(s->rate_bps, b1, sizeof(b1)));
		if (s->copies_todo == 0 && s->copies_pending == 0)
			gd_text_str(o, "<tr><th>ETA</th><td class=\"num\" id=\"eta\">done</td></tr>\n");
		else if (s->eta_s == META_STATUS_UNKNOWN)
			gd_text_fmt(o, "<tr><th>ETA</th><td class=\"num\" id=\"eta\">%s</td></tr>\n",
				"unknown (nothing moving)");
		else
			gd_text_fmt(o, "<tr><th>ETA</th><td class=\"num\" id=\"eta\">%s</td></tr>\n",
				fmt_ms(s->eta_s * 1000, b2, sizeof(b2)));
		gd_text_str(o, "</table>\n");
	}
	gd_text_str(o, "</section>\n");
}

int meta_status_render_html(const struct meta_status_snap *s, unsigned refresh_s,
			    char **body, size_t *len)
{
	struct gd_text o;
	char t[40];

	gd_text_init(&o, 0);
	gd_text_str(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
	if (refresh_s)
		gd_text_fmt(&o, "<meta http-equiv=\"refresh\" content=\"%u\">\n", refresh_s);
	gd_text_fmt(&o, "<title>godfs status: meta node %" PRIu64 " (", s->node_id);
	html(&o, s->state);
	gd_text_fmt(&o, ")</title>\n<style>%s</style></head><body>\n", CSS);
	gd_text_str(&o, "<header><h1>godfs cluster status</h1><p class=\"sub\">Drawn by meta node ");
	gd_text_fmt(&o, "%" PRIu64 " (", s->node_id);
	html(&o, s->state);
	gd_text_str(&o, ") &middot; godfs ");
	html(&o, s->version);
	gd_text_fmt(&o, " &middot; <time>%s</time> &middot; <a href=\"status.json\">JSON</a></p></header>\n",
		fmt_time(s->taken_unix_ms, t, sizeof(t)));
	html_health(&o, s);
	html_raft(&o, s);
	html_nodes(&o, s);
	html_chunks(&o, s);
	gd_text_str(&o, "</body></html>\n");
	return gd_text_finish(&o, body, len);
}

/* ---- JSON ----------------------------------------------------------------------- */

static void json_u64(struct gd_text *o, const char *key, uint64_t v, bool comma)
{
	if (v == META_STATUS_UNKNOWN)
		gd_text_fmt(o, "\"%s\":null%s", key, comma ? "," : "");
	else
		gd_text_fmt(o, "\"%s\":%" PRIu64 "%s", key, v, comma ? "," : "");
}

/* "key":[v0,...,vn-1], and a comma. */
static void json_u64s(struct gd_text *o, const char *key, const uint64_t *v, size_t n)
{
	gd_text_fmt(o, "\"%s\":[", key);
	for (size_t i = 0; i < n; i++)
		gd_text_fmt(o, "%s%" PRIu64, i ? "," : "", v[i]);
	gd_text_str(o, "],");
}

static void json_members(struct gd_text *o, const struct meta_status_snap *s)
{
	gd_text_str(o, "\"members\":[");
	for (size_t i = 0; i < s->n_members; i++) {
		const struct meta_status_member *m = &s->members[i];

		gd_text_str(o, i ? ",{" : "{");
		json_u64(o, "id", m->id, true);
		gd_text_str(o, "\"client_address\":");
		json_str(o, m->client_addr);
		gd_text_str(o, ",\"raft_address\":");
		json_str(o, m->raft_addr);
		gd_text_str(o, ",\"role\":");
		json_str(o, m->role);
		gd_text_fmt(o, ",\"leader\":%s,\"self\":%s,\"reachable\":%s,", m->leader ? "true" : "false",
			m->self ? "true" : "false",
			!m->has_heard ? "null" : m->reachable ? "true" : "false");
		json_u64(o, "heard_ago_ms", m->has_heard && !m->self ? m->heard_ago_ms : META_STATUS_UNKNOWN,
			 true);
		json_u64(o, "match_index", m->match_index, false);
		gd_text_str(o, "}");
	}
	gd_text_str(o, "]");
}

static void json_nodes(struct gd_text *o, const struct meta_status_snap *s)
{
	gd_text_str(o, "\"nodes\":[");
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct meta_status_node *n = &s->nodes[i];
		bool known = s->leader && n->registered;

		gd_text_str(o, i ? ",{\"id\":" : "{\"id\":");
		json_str(o, n->id);
		gd_text_str(o, ",\"address\":");
		json_str(o, n->address);
		gd_text_str(o, ",\"labels\":");
		json_str(o, n->label);
		gd_text_fmt(o, ",\"alive\":%s,\"draining\":%s,\"registered\":%s,",
			!s->leader ? "null" : n->alive ? "true" : "false",
			n->draining ? "true" : "false", n->registered ? "true" : "false");
		json_u64(o, "space_total_bytes", known ? n->total_bytes : META_STATUS_UNKNOWN, true);
		json_u64(o, "space_used_bytes", !known ? META_STATUS_UNKNOWN :
			 n->total_bytes > n->free_bytes ? n->total_bytes - n->free_bytes : 0, true);
		json_u64(o, "space_free_bytes", known ? n->free_bytes : META_STATUS_UNKNOWN, true);
		json_u64(o, "chunks", known ? n->chunks : META_STATUS_UNKNOWN, true);
		json_u64(o, "last_seen_ago_ms", known ? n->last_seen_ago_ms : META_STATUS_UNKNOWN, false);
		gd_text_str(o, "}");
	}
	gd_text_str(o, "]");
}

int meta_status_render_json(const struct meta_status_snap *s, char **body, size_t *len)
{
	struct gd_text o;
	uint64_t total = 0, free_b = 0, alive = 0;
	char t[40];

	for (size_t i = 0; i < s->n_nodes; i++) {
		if (s->leader && s->nodes[i].alive) {
			total += s->nodes[i].total_bytes;
			free_b += s->nodes[i].free_bytes;
			alive++;
		}
	}
	gd_text_init(&o, 0);
	gd_text_str(&o, "{\"generated_at\":");
	json_str(&o, fmt_time(s->taken_unix_ms, t, sizeof(t)));
	gd_text_str(&o, ",\"version\":");
	json_str(&o, s->version);
	gd_text_str(&o, ",\"node\":{");
	json_u64(&o, "id", s->node_id, true);
	gd_text_str(&o, "\"state\":");
	json_str(&o, s->state);
	gd_text_fmt(&o, ",\"serving_leader\":%s},", s->leader ? "true" : "false");

	gd_text_str(&o, "\"raft\":{");
	json_u64(&o, "term", s->term, true);
	json_u64(&o, "last_index", s->last_index, true);
	json_u64(&o, "applied_index", s->applied_index, true);
	json_u64(&o, "leader_id", s->leader_id ? s->leader_id : META_STATUS_UNKNOWN, true);
	{
		const struct meta_status_member *l = leader_member(s);

		gd_text_str(&o, "\"leader_address\":");
		if (l != NULL && l->client_addr[0])
			json_str(&o, l->client_addr);
		else
			gd_text_str(&o, "null");
		gd_text_str(&o, ",");
	}
	json_members(&o, s);
	gd_text_str(&o, "},");
	json_nodes(&o, s);
	gd_text_str(&o, ",\"totals\":{");
	json_u64(&o, "nodes", s->n_nodes, true);
	json_u64(&o, "nodes_alive", s->leader ? alive : META_STATUS_UNKNOWN, true);
	json_u64(&o, "nodes_dead", s->leader ? dead_nodes(s) : META_STATUS_UNKNOWN, true);
	json_u64(&o, "space_total_bytes", s->leader ? total : META_STATUS_UNKNOWN, true);
	json_u64(&o, "space_used_bytes", s->leader ? total - free_b : META_STATUS_UNKNOWN, true);
	json_u64(&o, "space_free_bytes", s->leader ? free_b : META_STATUS_UNKNOWN, true);
	json_u64(&o, "inodes", s->inodes, true);
	json_u64(&o, "chunks", s->chunks, true);
	json_u64(&o, "sessions", s->sessions, false);
	gd_text_str(&o, "},\"chunks\":");
	if (!s->census_known) {
		gd_text_str(&o, "null");
	} else {
		gd_text_str(&o, "{");
		json_u64(&o, "at_goal", s->at_goal, true);
		json_u64(&o, "under_goal", s->under_goal, true);
		json_u64(&o, "missing", meta_status_missing(s), true);
		json_u64(&o, "over_goal", s->over_goal, true);
		json_u64s(&o, "under_goal_by_live_copies", s->under_by_live,
			  META_STATUS_COPIES_MAX);
		json_u64s(&o, "by_live_copies", s->by_live, META_STATUS_BY_LIVE);
		json_u64(&o, "scan_age_ms", s->census_age_ms, false);
		gd_text_str(&o, "}");
	}
	gd_text_str(&o, ",\"replication\":");
	if (!s->leader) {
		gd_text_str(&o, "null");
	} else {
		gd_text_str(&o, "{");
		json_u64(&o, "copies_todo", s->copies_todo, true);
		json_u64(&o, "bytes_todo", s->bytes_todo, true);
		json_u64(&o, "copies_pending", s->copies_pending, true);
		json_u64(&o, "rate_bytes_per_second", s->rate_bps, true);
		json_u64(&o, "eta_seconds", s->eta_s, false);
		gd_text_str(&o, "}");
	}
	gd_text_str(&o, "}\n");
	return gd_text_finish(&o, body, len);
}
