/* godfs-admin nodes, nodes drain|undrain, placement (see godfs_admin_nodes.h). */
#include "godfs_admin_nodes.h"

#include <inttypes.h>
#include <string.h>

#include "gd_status.h"
#include "gd_text.h"
#include "godfs_admin_fmt.h"
#include "proto/wire.pb-c.h"

void admin_nodes_usage(FILE *f)
{
	fprintf(f,
		"  nodes [--json]      the chunk servers: id, address, label, state (alive,\n"
		"                      dead, draining and the copies left, drained: empty,\n"
		"                      safe to remove), chunks, free/total\n"
		"  nodes drain ID      decommission chunk server ID: no new copies on it, each\n"
		"                      of its copies is copied elsewhere, then dropped from it\n"
		"  nodes undrain ID    ends the drain of ID\n"
		"  chunks --placement [--json]\n"
		"                      chunks whose copies share a rack or zone (labels);\n"
		"                      `placement` says the same\n");
}

int admin_nodes_check_args(int argc, char **argv)
{
	if (argc == 0 ||
	    (argc == 2 && (strcmp(argv[0], "drain") == 0 || strcmp(argv[0], "undrain") == 0) &&
	     argv[1][0] != '\0'))
		return 0;
	fprintf(stderr, "godfs-admin: nodes: use `nodes`, `nodes drain ID` or `nodes undrain ID`\n");
	return 2;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "godfs-admin: %s: %s\n", what, gd_strerror(rc));
	return 1;
}

/* A drained node holds nothing the cluster needs: no chunk record names it
 * (a complete scan counted) and its disk reports no copy (or it is down). */
static int drained(const Godfs__NodeInfo *n)
{
	return n->draining && n->copies_known && n->copies == 0 &&
	       (n->chunk_count == 0 || !n->alive);
}

static const char *state(const Godfs__NodeInfo *n, char *buf, size_t len)
{
	if (drained(n))
		snprintf(buf, len, "drained");
	else if (n->draining && n->copies_known)
		snprintf(buf, len, "draining(%" PRIu64 " left)%s", n->copies, n->alive ? "" : ",dead");
	else if (n->draining)
		snprintf(buf, len, "draining%s", n->alive ? "" : ",dead");
	else
		snprintf(buf, len, "%s", n->alive ? "alive" : "dead");
	return buf;
}

static int list(struct gd_meta_client *m, int json)
{
	Godfs__AdminStatus req = GODFS__ADMIN_STATUS__INIT;
	ProtobufCMessage *resp = NULL;
	Godfs__AdminStatusResp *s;
	char fb[32], tb[32], st[64];
	int rc;

	rc = gd_meta_call(m, GODFS__METHOD__M_ADMIN_STATUS, &req.base,
			  &godfs__admin_status_resp__descriptor, &resp);
	if (rc < 0) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return fail("nodes", rc);
	}
	s = (Godfs__AdminStatusResp *)resp;
	if (json) {
		putchar('[');
		for (size_t i = 0; i < s->n_nodes; i++) {
			const Godfs__NodeInfo *n = s->nodes[i];

			printf("%s{\"node_id\":", i ? "," : "");
			admin_json_str(n->node_id);
			printf(",\"address\":");
			admin_json_str(n->address);
			printf(",\"label\":");
			admin_json_str(n->label);
			printf(",\"alive\":%s,\"draining\":%s,\"drained\":%s,\"copies\":",
			       n->alive ? "true" : "false", n->draining ? "true" : "false",
			       drained(n) ? "true" : "false");
			if (n->copies_known)
				printf("%" PRIu64, n->copies);
			else
				printf("null");
			printf(",\"chunks\":%" PRIu64 ",\"free_bytes\":%" PRIu64
			       ",\"total_bytes\":%" PRIu64 ",\"last_seen_ms\":%" PRIu64 "}",
			       n->chunk_count, n->free_bytes, n->total_bytes, n->last_seen_ms);
		}
		printf("]\n");
	} else {
		printf("%-18s %-22s %-20s %-20s %8s %22s %10s\n", "NODE", "ADDRESS", "LABEL",
		       "STATE", "CHUNKS", "FREE / TOTAL", "LAST SEEN");
		for (size_t i = 0; i < s->n_nodes; i++) {
			const Godfs__NodeInfo *n = s->nodes[i];
			char fr[48];

			snprintf(fr, sizeof(fr), "%s / %s",
				 gd_text_bytes(n->free_bytes, fb, sizeof(fb)),
				 gd_text_bytes(n->total_bytes, tb, sizeof(tb)));
			printf("%-18s %-22s %-20s %-20s %8" PRIu64 " %22s %7" PRIu64 ".%01" PRIu64 "s\n",
			       n->node_id ? n->node_id : "-", n->address ? n->address : "-",
			       n->label && n->label[0] ? n->label : "-", state(n, st, sizeof(st)),
			       n->chunk_count, fr, n->last_seen_ms / 1000,
			       (n->last_seen_ms % 1000) / 100);
		}
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static int drain(struct gd_meta_client *m, int json, const char *id, int on)
{
	Godfs__NodeDrain req = GODFS__NODE_DRAIN__INIT;
	ProtobufCMessage *resp = NULL;
	char what[300];
	int rc;

	req.node_id = (char *)id;
	req.has_drain = 1;
	req.drain = on;
	rc = gd_meta_call(m, GODFS__METHOD__M_NODE_DRAIN, &req.base,
			  &godfs__status_resp__descriptor, &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	snprintf(what, sizeof(what), "nodes %s %s", on ? "drain" : "undrain", id);
	if (rc < 0)
		return fail(what, rc);
	if (json) {
		printf("{\"node_id\":");
		admin_json_str(id);
		printf(",\"draining\":%s}\n", on ? "true" : "false");
	} else if (on) {
		printf("%s: draining (no new copies; its copies move to other chunk servers;"
		       " `godfs-admin nodes` says when it is drained)\n", id);
	} else {
		printf("%s: no longer draining\n", id);
	}
	return 0;
}

int admin_nodes_run(struct gd_meta_client *m, int json, int argc, char **argv)
{
	if (argc == 0)
		return list(m, json);
	return drain(m, json, argv[1], strcmp(argv[0], "drain") == 0);
}

int admin_placement_run(struct gd_meta_client *m, int json)
{
	Godfs__AdminPlacement req = GODFS__ADMIN_PLACEMENT__INIT;
	ProtobufCMessage *resp = NULL;
	Godfs__AdminPlacementResp *r;
	int rc;

	rc = gd_meta_call(m, GODFS__METHOD__M_ADMIN_PLACEMENT, &req.base,
			  &godfs__admin_placement_resp__descriptor, &resp);
	if (rc < 0) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return fail("placement", rc);
	}
	r = (Godfs__AdminPlacementResp *)resp;
	if (json) {
		printf("{\"complete\":%s,\"total\":%" PRIu64 ",\"chunks\":[",
		       r->complete ? "true" : "false", r->total);
		for (size_t i = 0; i < r->n_chunks; i++) {
			const Godfs__PlacementInfo *p = r->chunks[i];
			printf("%s{\"chunk_id\":%" PRIu64 ",\"version\":%" PRIu64 ",\"goal\":%u"
			       ",\"shared\":", i ? "," : "", p->chunk_id, p->version, p->goal);
			admin_json_str(p->shared);
			printf(",\"fixable\":%s,\"copies\":[", p->fixable ? "true" : "false");
			for (size_t j = 0; j < p->n_nodes; j++) {
				printf("%s{\"node_id\":", j ? "," : "");
				admin_json_str(p->nodes[j]);
				printf(",\"label\":");
				admin_json_str(j < p->n_labels ? p->labels[j] : "");
				printf("}");
			}
			printf("]}");
		}
		printf("]}\n");
	} else {
		if (!r->complete)
			printf("(no scan of the chunks completed yet on this leader)\n");
		printf("%" PRIu64 " chunks with copies sharing a rack or zone%s\n", r->total,
		       r->total > r->n_chunks ? " (the first ones listed)" : "");
		for (size_t i = 0; i < r->n_chunks; i++) {
			const Godfs__PlacementInfo *p = r->chunks[i];
			printf("chunk %" PRIu64 " v%" PRIu64 " goal %u: %s shared, %s:",
			       p->chunk_id, p->version, p->goal, p->shared ? p->shared : "?",
			       p->fixable ? "being moved" : "no other rack/zone has a live chunk server");
			for (size_t j = 0; j < p->n_nodes; j++)
				printf(" %s(%s)", p->nodes[j], j < p->n_labels ? p->labels[j] : "");
			printf("\n");
		}
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}
