/* godfs-admin chunks (see godfs_admin_chunks.h). */
#include "godfs_admin_chunks.h"

#include "gd_status.h"
#include "gd_text.h"
#include "godfs_admin_fmt.h"
#include "proto/wire.pb-c.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

/* The histogram entry that counts this many live copies or more
 * (wire.proto ReplProgress.under_by_live; meta_repl_plan.h META_REPL_HIST). */
#define HIST_LAST 7

void admin_chunks_usage(FILE *f)
{
	fprintf(f,
		"  chunks [--json]     chunks by live copies left (0, 1, 2, ... under goal,\n"
		"                      at goal, over goal), the copies being made, bytes\n"
		"                      done and to do, the rate and an ETA\n");
}

/* A duration for humans: 42 s, 3 min 20 s, 2 h 5 min. */
static const char *chunks_duration(uint64_t s, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%" PRIu64 " s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s / 60 % 60);
	return buf;
}

static void chunks_json(const Godfs__AdminStatusResp *s, const Godfs__ReplProgress *p)
{
	size_t i;

	printf("{\"chunks\":%" PRIu64 ",\"under_goal\":%" PRIu64 ",\"under_by_live\":[",
	       s->chunks, s->under_goal);
	for (i = 0; i < p->n_under_by_live; i++)
		printf("%s%" PRIu64, i ? "," : "", p->under_by_live[i]);
	printf("],\"at_goal\":%" PRIu64 ",\"over_goal\":%" PRIu64
	       ",\"copies_todo\":%" PRIu64 ",\"bytes_todo\":%" PRIu64
	       ",\"pending\":%" PRIu64 ",\"pending_bytes\":%" PRIu64
	       ",\"copies_done\":%" PRIu64 ",\"bytes_done\":%" PRIu64
	       ",\"failed\":%" PRIu64 ",\"rate_bytes_per_s\":%" PRIu64
	       ",\"rate_copies_per_s\":%.3f,\"eta_s\":",
	       p->at_goal, p->over_goal, p->copies_todo, p->bytes_todo, p->pending,
	       p->pending_bytes, p->copies_done, p->bytes_done, p->failed, p->rate_bps,
	       (double)p->rate_mcps / 1000.0);
	if (p->has_eta_s)
		printf("%" PRIu64, p->eta_s);
	else
		printf("null");
	printf(",\"max_per_node\":%u,\"pass_age_ms\":%" PRIu64 ",\"last_error\":",
	       p->max_per_node, p->pass_age_ms);
	admin_json_str(s->repl_last_error ? s->repl_last_error : "");
	printf(",\"under_goal_why\":[");
	for (i = 0; i < s->n_under_goal_why; i++) {
		printf(i ? "," : "");
		admin_json_str(s->under_goal_why[i]);
	}
	printf("]}\n");
}

static void chunks_human(const Godfs__AdminStatusResp *s, const Godfs__ReplProgress *p)
{
	char b1[32], b2[32], b3[32];
	size_t i;

	printf("chunks            %" PRIu64 "\n", s->chunks);
	printf("at goal           %" PRIu64 "\n", p->at_goal);
	printf("over goal         %" PRIu64 "\n", p->over_goal);
	printf("under goal        %" PRIu64 "\n", s->under_goal);
	for (i = 0; i < p->n_under_by_live; i++)
		if (p->under_by_live[i])
			printf("  %zu%s live cop%s  %" PRIu64 "%s\n", i, i == HIST_LAST ? "+" : " ",
			       i == 1 ? "y  " : "ies", p->under_by_live[i],
			       i == 0 ? " (lost until a chunkd holding them returns)" : "");
	printf("to copy           %" PRIu64 " copies, %s\n", p->copies_todo,
	       gd_text_bytes(p->bytes_todo, b1, sizeof(b1)));
	printf("copying           %" PRIu64 " copies, %s (at most %u per chunkd)\n",
	       p->pending, gd_text_bytes(p->pending_bytes, b2, sizeof(b2)), p->max_per_node);
	printf("done              %" PRIu64 " copies, %s, %" PRIu64
	       " failed (since this leader started)\n", p->copies_done,
	       gd_text_bytes(p->bytes_done, b3, sizeof(b3)), p->failed);
	printf("rate              %s/s, %.1f copies/s (last 10 s)\n",
	       gd_text_bytes(p->rate_bps, b1, sizeof(b1)), (double)p->rate_mcps / 1000.0);
	if (p->has_eta_s)
		printf("eta               %s\n", p->eta_s == 0 ? "done"
		       : chunks_duration(p->eta_s, b2, sizeof(b2)));
	else
		printf("eta               unknown (nothing is being copied)\n");
	if (s->repl_last_error && s->repl_last_error[0])
		printf("last failure      %s\n", s->repl_last_error);
	for (i = 0; i < s->n_under_goal_why; i++)
		printf("under goal        %s\n", s->under_goal_why[i]);
}

int admin_chunks_run(struct gd_meta_client *m, int json)
{
	Godfs__AdminStatus req = GODFS__ADMIN_STATUS__INIT;
	Godfs__ReplProgress empty = GODFS__REPL_PROGRESS__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__AdminStatusResp *s;
	int rc;

	rc = gd_meta_call(m, GODFS__METHOD__M_ADMIN_STATUS, &req.base,
			  &godfs__admin_status_resp__descriptor, &resp);
	if (rc < 0) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		fprintf(stderr, "godfs-admin: chunks: %s\n", gd_strerror(rc));
		return 1;
	}
	s = (const Godfs__AdminStatusResp *)resp;
	/* a leader without the progress (older): the counts it has, nothing else */
	if (json)
		chunks_json(s, s->repl ? s->repl : &empty);
	else
		chunks_human(s, s->repl ? s->repl : &empty);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}
