/* godfs-admin masters (see godfs_admin_masters.h). */
#include "godfs_admin_masters.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gd_status.h"
#include "godfs_admin_fmt.h"
#include "proto/wire.pb-c.h"

void admin_masters_usage(FILE *f)
{
	fprintf(f,
		"  masters list [--json]\n"
		"                      the meta voters: id, Raft and client address, role,\n"
		"                      leader, and on the leader each one's last replicated\n"
		"                      entry and when it last answered\n"
		"  masters add ID RAFT_ADDR CLIENT_ADDR\n"
		"                      add a voter (started with godfs-meta --join): it\n"
		"                      catches up with the log first, then votes\n"
		"  masters remove ID   remove a voter (not the leader: transfer first)\n"
		"  masters transfer [ID]\n"
		"                      hand the leadership to voter ID (default: the most\n"
		"                      up-to-date one)\n");
}

/* A node id >= 1, or 0 when s is not one. */
static uint64_t parse_id(const char *s)
{
	unsigned long long v;
	char *end;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return v;
}

int admin_masters_check_args(int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	int ok;

	if (strcmp(sub, "list") == 0)
		ok = argc == 1;
	else if (strcmp(sub, "add") == 0)
		ok = argc == 4 && parse_id(argv[1]) != 0 && argv[2][0] && argv[3][0] &&
		     !strpbrk(argv[2], "@,") && !strpbrk(argv[3], "@,");
	else if (strcmp(sub, "remove") == 0)
		ok = argc == 2 && parse_id(argv[1]) != 0;
	else if (strcmp(sub, "transfer") == 0)
		ok = argc == 1 || (argc == 2 && parse_id(argv[1]) != 0);
	else
		ok = 0;
	if (ok)
		return 0;
	fprintf(stderr, "godfs-admin: masters: use list, add ID RAFT_ADDR CLIENT_ADDR, remove ID "
		"or transfer [ID] (ID a number >= 1, addresses HOST:PORT)\n");
	return 2;
}

static void print_json(const Godfs__MastersResp *r)
{
	printf("{\"leader_id\":%" PRIu64 ",\"term\":%" PRIu64 ",\"commit_index\":%" PRIu64
	       ",\"lease\":%s,\"lease_ms\":%u,\"election_timeout_ms\":%u,\"masters\":[",
	       r->leader_id, r->term, r->commit_index, r->lease ? "true" : "false", r->lease_ms,
	       r->election_timeout_ms);
	for (size_t i = 0; i < r->n_masters; i++) {
		const Godfs__MasterInfo *m = r->masters[i];

		printf("%s{\"id\":%" PRIu64 ",\"raft_address\":", i ? "," : "", m->id);
		admin_json_str(m->raft_address);
		printf(",\"client_address\":");
		admin_json_str(m->client_address);
		printf(",\"role\":");
		admin_json_str(m->role);
		printf(",\"leader\":%s", m->leader ? "true" : "false");
		if (m->has_match_index)
			printf(",\"match_index\":%" PRIu64 ",\"heard_ago_ms\":%" PRIu64,
			       m->match_index, m->heard_ago_ms);
		printf("}");
	}
	printf("]}\n");
}

static void print_human(const Godfs__MastersResp *r)
{
	printf("%-4s %-24s %-24s %-8s %-7s %10s %8s\n", "ID", "RAFT", "CLIENT", "ROLE", "LEADER",
	       "MATCH", "HEARD");
	for (size_t i = 0; i < r->n_masters; i++) {
		const Godfs__MasterInfo *m = r->masters[i];
		char match[24] = "-", heard[24] = "-";

		if (m->has_match_index) {
			snprintf(match, sizeof(match), "%" PRIu64, m->match_index);
			if (m->leader)
				snprintf(heard, sizeof(heard), "self");
			else if (m->heard_ago_ms > 0)
				snprintf(heard, sizeof(heard), "%" PRIu64 "ms", m->heard_ago_ms);
		}
		printf("%-4" PRIu64 " %-24s %-24s %-8s %-7s %10s %8s\n", m->id,
		       m->raft_address ? m->raft_address : "-",
		       m->client_address && m->client_address[0] ? m->client_address : "-",
		       m->role ? m->role : "?", m->leader ? "yes" : "", match, heard);
	}
	printf("term %" PRIu64 ", applied up to %" PRIu64 ", read lease %s (%u ms of an election "
	       "timeout of %u ms)\n", r->term, r->commit_index, r->lease ? "held" : "not held",
	       r->lease_ms, r->election_timeout_ms);
}

int admin_masters_run(struct gd_meta_client *m, int json, int argc, char **argv)
{
	const char *sub = argv[0];
	ProtobufCMessage *resp = NULL;
	Godfs__MastersList list = GODFS__MASTERS_LIST__INIT;
	Godfs__MastersAdd add = GODFS__MASTERS_ADD__INIT;
	Godfs__MastersRemove rm = GODFS__MASTERS_REMOVE__INIT;
	Godfs__MastersTransfer tr = GODFS__MASTERS_TRANSFER__INIT;
	const ProtobufCMessage *req;
	uint16_t method;
	int rc;

	if (strcmp(sub, "add") == 0) {
		add.has_id = 1;
		add.id = parse_id(argv[1]);
		add.raft_address = argv[2];
		add.client_address = argv[3];
		req = &add.base;
		method = GODFS__METHOD__M_MASTERS_ADD;
	} else if (strcmp(sub, "remove") == 0) {
		rm.has_id = 1;
		rm.id = parse_id(argv[1]);
		req = &rm.base;
		method = GODFS__METHOD__M_MASTERS_REMOVE;
	} else if (strcmp(sub, "transfer") == 0) {
		if (argc == 2) {
			tr.has_id = 1;
			tr.id = parse_id(argv[1]);
		}
		req = &tr.base;
		method = GODFS__METHOD__M_MASTERS_TRANSFER;
	} else {
		req = &list.base;
		method = GODFS__METHOD__M_MASTERS_LIST;
	}
	(void)argc;
	rc = gd_meta_call(m, method, req, &godfs__masters_resp__descriptor, &resp);
	if (rc < 0) {
		const Godfs__MastersResp *r = (const Godfs__MastersResp *)resp;

		fprintf(stderr, "godfs-admin: masters %s: %s%s%s\n", sub, gd_strerror(rc),
			r && r->error ? ": " : "", r && r->error ? r->error : "");
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return 1;
	}
	if (json)
		print_json((const Godfs__MastersResp *)resp);
	else
		print_human((const Godfs__MastersResp *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}
