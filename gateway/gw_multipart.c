/* Multipart uploads: the HTTP steps and the janitor (see gw_multipart.h).
 * The staging I/O is gw_mp_store.c, the assembly gw_mp_complete.c. */
#include "gw_multipart.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_client.h"
#include "gd_config.h"
#include "gd_log.h"
#include "gd_metrics.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "gw.h"
#include "gw_content.h"
#include "gw_error.h"
#include "gw_mem.h"
#include "gw_mp_complete.h"
#include "gw_mp_rules.h"
#include "gw_mp_store.h"
#include "gw_path.h"
#include "gw_req.h"
#include "proto/wire.pb-c.h"

#define MP_PREFIX "/v1/fs/multipart/"
#define JANITOR_MAX_S 300        /* a pass at least this often (jittered) */
#define ORPHAN_MIN_S 60          /* an upload dir without manifest lives this long at least */

struct gw_multipart {
	struct gw_mp_store store;
	int64_t expiry_s;
	pthread_t janitor;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;                   /* under mu */
	bool started;
	/* godfs_gateway_multipart_uploads_active: uploads staged in the whole
	 * cluster, as the janitor's last pass counted them */
	struct gd_mseries *active;
};

/* ------------------------------------------------------------- helpers */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* The id in the URL "/v1/fs/multipart/<id><suffix>" (suffix "" or
 * "/parts", "/complete"), or NULL (the answer is then 404). */
static const char *url_id(const struct gw_req *r, const char *suffix, char id[GW_MP_ID_LEN + 1])
{
	const char *p = r->url + strlen(MP_PREFIX);
	if (strlen(p) != GW_MP_ID_LEN + strlen(suffix) || strcmp(p + GW_MP_ID_LEN, suffix) != 0)
		return NULL;
	memcpy(id, p, GW_MP_ID_LEN);
	id[GW_MP_ID_LEN] = '\0';
	return gw_mp_id_valid(id) ? id : NULL;
}

static int not_found(struct gw_req *r)
{
	gw_reply_error(r, 404, GW_NOT_FOUND, "no such upload (it may have expired)");
	return 0;
}

static int refuse_presigned(struct gw_req *r)
{
	if (!r->principal.presigned)
		return 0;
	gw_reply_error(r, 403, GW_FORBIDDEN, "a presigned URL cannot be used for multipart uploads");
	return GD_EPERM;
}

/* The upload named by the URL, if it exists, has not expired and belongs to
 * the request's key; otherwise the request is answered (404, or the error of
 * the cluster call) and a negative code returned. */
static int find_upload(struct gw_req *r, const char *suffix, struct gw_mp_upload *u)
{
	char id[GW_MP_ID_LEN + 1];
	int rc;

	if (refuse_presigned(r))
		return GD_EPERM;
	if (!url_id(r, suffix, id)) {
		not_found(r);
		return GD_ENOENT;
	}
	rc = gw_mp_store_find(&r->gw->mp->store, id, now_s(), u);
	/* another key's upload is answered as one that does not exist: ids
	 * must not be probed */
	if (rc == GD_ENOENT || (rc == 0 && u->m.key_id != r->principal.key_id)) {
		not_found(r);
		return GD_ENOENT;
	}
	if (rc)
		gw_reply_status(r, rc, "find the upload");
	return rc;
}

static int reply_busy(struct gw_req *r, const char *why)
{
	return gw_reply_error(r, 409, GW_MP_BUSY, "%s",
			      why && why[0] ? why : "the upload is being completed");
}

/* ---------------------------------------------------------------- init */

/* Whether the key may create the file: the meta checks a create of the
 * complete's temp name through the key's session (scope, read-only, the
 * directory's permissions as the key's uid/gid), made and removed at once,
 * so that a key that could never complete is refused before its parts. */
static int probe_create(struct gw_req *r, uint64_t dir, const char *id)
{
	char name[GW_NAME_MAX + 1];
	struct gd_attr a;
	snprintf(name, sizeof(name), GW_MP_TMP_PREFIX "%s", id);
	struct gd_ns_mknod mk = { .parent = dir, .name = name, .mode = S_IFREG | 0644,
				    .uid = r->principal.uid, .gid = r->principal.gid,
				    .exclusive = 1 };
	int rc = gd_ns_mknod(gd_client_meta(r->client), GODFS__METHOD__M_MKNOD, &mk, &a);
	if (rc == 0)
		gd_ns_remove(gd_client_meta(r->client), GODFS__METHOD__M_UNLINK, dir, name,
			     gd_client_session(r->client));
	return rc;
}

int gw_multipart_init(struct gw_req *r)
{
	struct gw_multipart *mp = r->gw->mp;
	struct gw_mp_manifest m;
	struct gw_mp_upload u;
	struct gd_attr parent, a;
	char name[GW_NAME_MAX + 1];
	const char *path;
	json_t *ps;
	int rc;

	if (refuse_presigned(r))
		return 0;
	if (gw_path_take(r, "path", gw_req_json_str(r, "path"), &path) != 0)
		return 0;
	memset(&m, 0, sizeof(m));
	ps = json_object_get(r->json, "part_size");
	if (ps && !json_is_null(ps)) {
		json_int_t v = json_is_integer(ps) ? json_integer_value(ps) : -1;
		if (v <= 0 || (uint64_t)v > GW_MP_MAX_PART_SIZE) {
			gw_reply_error(r, 400, GW_BAD_REQUEST,
				       "\"part_size\" must be an integer in 1..%llu",
				       (unsigned long long)GW_MP_MAX_PART_SIZE);
			return 0;
		}
		m.part_size = (uint64_t)v;
		/* parts that fill whole chunks never share one between two writers
		 * (two gateways may write two parts at once) */
		m.zero_copy = r->gw->chunk_size && m.part_size % r->gw->chunk_size == 0;
	}
	if (strlen(path) >= sizeof(m.path)) {
		gw_reply_error(r, 400, GW_INVALID_PATH, "path is too long");
		return 0;
	}
	/* the target's directory must exist, and be reachable by the key */
	rc = gw_path_resolve_parent(gd_client_meta(r->client), r->principal.subtree, path,
				    &parent, name);
	if (rc == GD_EINVAL) {
		gw_reply_error(r, 400, GW_INVALID_PATH, "path must name a file, not \"/\"");
		return 0;
	}
	if (rc)
		return gw_reply_status(r, rc, "the directory of the target");
	rc = gd_ns_lookup(gd_client_meta(r->client), parent.ino, name, &a);
	if (rc == 0 && S_ISDIR(a.mode)) {
		gw_reply_error(r, 409, GW_IS_DIRECTORY, "%s is a directory", path);
		return 0;
	}
	if (rc && rc != GD_ENOENT)
		return gw_reply_status(r, rc, "the target");

	rc = gw_mp_new_id(m.id);
	if (rc)
		return rc;
	rc = probe_create(r, parent.ino, m.id);
	if (rc)
		return gw_reply_status(r, rc, "create a file in the target's directory");
	m.key_id = r->principal.key_id;
	snprintf(m.path, sizeof(m.path), "%s", path);
	m.created = now_s();
	m.expires = m.created + mp->expiry_s;
	rc = gw_mp_store_create(&mp->store, &m, &u);
	if (rc)
		return gw_reply_status(r, rc, "stage the upload");
	gd_info("multipart upload %s of %s started (key %" PRIu64 ", part size %" PRIu64
		"%s)", m.id, m.path, m.key_id, m.part_size,
		m.zero_copy ? ", zero-copy" : "");
	return gw_reply_json(r, 200, json_pack("{s:s, s:s, s:I, s:I, s:b}", "upload_id", m.id,
					       "path", m.path, "expires_at", (json_int_t)m.expires,
					       "part_size", (json_int_t)m.part_size,
					       "zero_copy", m.zero_copy));
}

/* ---------------------------------------------------------- part upload */

struct part_state {
	struct gw_mp_writer *w;
	uint32_t number;
	uint64_t reserved;           /* of --upload-mem */
};

static void part_state_free(struct gw_req *r, bool completed)
{
	struct part_state *ps = r->state;
	(void)completed;
	gw_mp_part_free(ps->w);   /* removes the temp file of an unfinished part */
	gw_mem_give(r->gw, ps->reserved);
	gd_free(ps);
}

/* The most bytes part `number` of u may have under --max-upload (max, 0:
 * none): the whole file may not pass it, so neither may one part, nor a
 * part that starts at its offset (part size declared). 0 when even its
 * first byte would pass. */
static uint64_t part_max(const struct gw_mp_upload *u, uint32_t number, uint64_t max)
{
	uint64_t start = u->m.part_size ? (uint64_t)(number - 1) * u->m.part_size : 0;
	if (!max)
		return GW_MP_MAX_PART_SIZE;
	if (start >= max)
		return 0;
	return max - start < GW_MP_MAX_PART_SIZE ? max - start : GW_MP_MAX_PART_SIZE;
}

int gw_multipart_part_begin(struct gw_req *r)
{
	struct gw_multipart *mp = r->gw->mp;
	struct gw_mp_upload u;
	struct part_state *ps;
	uint64_t number;
	int64_t clen = -1;
	const char *cl;
	int rc;

	if (find_upload(r, "", &u) != 0)
		return 0;
	if (gw_req_arg_u64(r, "partNumber", 0, 1, GW_MP_MAX_PARTS, &number) != 0 || number == 0) {
		gw_reply_error(r, 400, GW_BAD_REQUEST, "partNumber must be an integer in 1..%u",
			       GW_MP_MAX_PARTS);
		return 0;
	}
	cl = gw_req_header(r, "Content-Length");
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (errno || end == cl || *end || v > GW_MP_MAX_PART_SIZE) {
			gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE, "a part is limited to %llu bytes",
				       (unsigned long long)GW_MP_MAX_PART_SIZE);
			return 0;
		}
		clen = (int64_t)v;
	}
	uint64_t max = part_max(&u, (uint32_t)number, r->gw->opt.max_upload);
	if (max == 0 || (clen >= 0 && (uint64_t)clen > max)) {
		gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE, "part %u would end past the largest "
			       "upload (%" PRIu64 " bytes)", (unsigned)number, r->gw->opt.max_upload);
		return 0;
	}
	ps = gd_calloc(1, sizeof(*ps));
	if (!ps)
		return GD_ENOMEM;
	ps->number = (uint32_t)number;
	r->state = ps;
	r->state_free = part_state_free;
	ps->reserved = gw_mem_take(r->gw, GW_MP_BLOCK);
	rc = gw_mp_part_begin(&mp->store, &u, ps->number, clen, max,
			      ps->reserved ? GW_MP_BLOCK : GW_MEM_SMALL, &ps->w);
	if (rc == GD_EBUSY)
		return reply_busy(r, NULL);
	if (rc == GD_ENOENT)
		return not_found(r);
	if (rc == GD_EFBIG) {
		gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE, "part %u would end past the largest "
			       "upload (%" PRIu64 " bytes)", (unsigned)number, r->gw->opt.max_upload);
		return 0;
	}
	if (rc)
		return gw_reply_status(r, rc, "stage the part");
	return 0;
}

int gw_multipart_part_body(struct gw_req *r, const char *data, size_t len)
{
	struct part_state *ps = r->state;
	int rc = gw_mp_part_write(ps->w, data, len);
	if (rc == GD_EFBIG) {
		gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE, "the part is longer than it may be "
			       "(a part is limited to %llu bytes, the whole upload by --max-upload, "
			       "a declared part size by itself)", (unsigned long long)GW_MP_MAX_PART_SIZE);
		return 0;
	}
	if (rc == GD_EBUSY)
		return reply_busy(r, NULL);
	if (rc == GD_ENOENT)
		return not_found(r);
	if (rc)
		gw_reply_status(r, rc, "write the part");
	return 0;
}

int gw_multipart_part_finish(struct gw_req *r)
{
	struct part_state *ps = r->state;
	struct gw_mp_part p;
	char etag[GW_MP_ETAG_SIZE];
	int rc;

	if (!ps || !ps->w)
		return GD_EINVAL;
	rc = gw_mp_part_end(ps->w, &p);
	if (rc == GD_EBUSY)
		return reply_busy(r, NULL);
	if (rc == GD_ENOENT)
		return not_found(r);
	if (rc)
		return gw_reply_status(r, rc, "stage the part");
	gw_mp_etag_format(p.sha, etag);
	gw_reply_header(r, "ETag", etag);
	return gw_reply_json(r, 200, json_pack("{s:i, s:I, s:s}", "part_number", (int)p.number,
					       "size", (json_int_t)p.size, "etag", etag));
}

/* ---------------------------------------------------------- list parts */

int gw_multipart_get(struct gw_req *r)
{
	struct gw_multipart *mp = r->gw->mp;
	struct gw_mp_upload u;
	struct gw_mp_staged *st = NULL;
	size_t n = 0;
	json_t *parts, *o;
	int rc;

	if (find_upload(r, "/parts", &u) != 0)
		return 0;
	rc = gw_mp_store_parts(&mp->store, &u, &st, &n);
	if (rc)
		return gw_reply_status(r, rc, "list the parts");
	parts = json_array();
	for (size_t i = 0; parts && i < n; i++) {
		char etag[GW_MP_ETAG_SIZE];
		gw_mp_etag_format(st[i].part.sha, etag);
		if (json_array_append_new(parts, json_pack("{s:i, s:I, s:s}", "part_number",
							   (int)st[i].part.number, "size",
							   (json_int_t)st[i].part.size, "etag",
							   etag)) != 0) {
			json_decref(parts);
			parts = NULL;
		}
	}
	gd_free(st);
	if (!parts)
		return GD_ENOMEM;
	o = json_pack("{s:s, s:s, s:I, s:I, s:b, s:o}", "upload_id", u.m.id, "path", u.m.path,
		      "expires_at", (json_int_t)u.m.expires, "part_size",
		      (json_int_t)u.m.part_size, "zero_copy", u.m.zero_copy, "parts", parts);
	return gw_reply_json(r, 200, o);
}

/* ------------------------------------------------------------- complete */

/* The "parts" of a complete body into *want (gd_malloc'd). 0, or the request
 * is answered (400) and GD_EINVAL returned. */
static int parse_want(struct gw_req *r, struct gw_mp_want **want, size_t *n)
{
	json_t *arr = json_object_get(r->json, "parts"), *e;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > GW_MP_MAX_PARTS) {
		gw_reply_error(r, 400, GW_BAD_REQUEST,
			       "\"parts\" must be an array of 1..%u {\"part_number\", \"etag\"}",
			       GW_MP_MAX_PARTS);
		return GD_EINVAL;
	}
	*want = gd_calloc(json_array_size(arr), sizeof(**want));
	if (!*want) {
		gw_reply_status(r, GD_ENOMEM, "complete");
		return GD_ENOMEM;
	}
	json_array_foreach(arr, i, e) {
		json_t *num = json_object_get(e, "part_number"), *tag = json_object_get(e, "etag");
		json_int_t v = json_is_integer(num) ? json_integer_value(num) : 0;
		if (v < 1 || v > GW_MP_MAX_PARTS) {
			gw_reply_error(r, 400, GW_BAD_REQUEST,
				       "parts[%zu]: \"part_number\" must be an integer in 1..%u", i,
				       GW_MP_MAX_PARTS);
			goto bad;
		}
		(*want)[i].number = (uint32_t)v;
		if (tag && !json_is_null(tag)) {
			if (!json_is_string(tag) ||
			    gw_mp_etag_parse(json_string_value(tag), (*want)[i].sha) != 0) {
				gw_reply_error(r, 400, GW_BAD_REQUEST,
					       "parts[%zu]: \"etag\" is not an ETag of a part "
					       "(\"sha256-<64 hex>\")", i);
				goto bad;
			}
			(*want)[i].has_etag = true;
		}
	}
	*n = json_array_size(arr);
	return 0;
bad:
	gd_free(*want);
	*want = NULL;
	return GD_EINVAL;
}

int gw_multipart_post(struct gw_req *r)
{
	struct gw_multipart *mp = r->gw->mp;
	struct gw_mp_upload u;
	struct gw_mp_want *want = NULL;
	struct gw_mp_complete_out out;
	size_t nwant = 0;
	bool overwrite = false;
	int rc;

	if (find_upload(r, "/complete", &u) != 0)
		return 0;
	if (gw_req_arg_bool(r, "overwrite", false, &overwrite) != 0) {
		gw_reply_error(r, 400, GW_BAD_REQUEST, "overwrite must be 1/true or 0/false");
		return 0;
	}
	if (parse_want(r, &want, &nwant) != 0)
		return 0;
	uint64_t reserved = gw_mem_take(r->gw, 2 * GW_MP_BLOCK);
	struct gw_mp_complete_in in = {
		.store = &mp->store, .u = &u, .kc = r->client, .root = r->principal.subtree,
		.uid = r->principal.uid, .gid = r->principal.gid, .overwrite = overwrite,
		.want = want, .nwant = nwant,
		.max_total = r->gw->opt.max_upload ? r->gw->opt.max_upload : UINT64_MAX,
		.block = reserved ? GW_MP_BLOCK : GW_MEM_SMALL,
	};
	rc = gw_mp_complete(&in, &out);
	gw_mem_give(r->gw, reserved);
	gd_free(want);
	switch (rc) {
	case 0:
		break;
	case GD_EINVAL:
		gw_reply_error(r, 400, GW_BAD_REQUEST, "%s", out.why);
		return 0;
	case GD_EFBIG:
		gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE, "%s", out.why);
		return 0;
	case GD_EEXIST:
		gw_reply_error(r, 409, GW_ALREADY_EXISTS, "%s exists (complete with ?overwrite=1 "
			       "to replace it)", u.m.path);
		return 0;
	case GD_EISDIR:
		gw_reply_error(r, 409, GW_IS_DIRECTORY, "%s is a directory", u.m.path);
		return 0;
	case GD_EBUSY:
		return reply_busy(r, out.why);
	case GD_ENOENT:
		if (out.why[0])
			gw_reply_error(r, 404, GW_NOT_FOUND, "%s", out.why);
		else
			gw_reply_error(r, 404, GW_NOT_FOUND, "the directory of %s does not exist",
				       u.m.path);
		return 0;
	default:
		return gw_reply_status(r, rc, "complete the upload");
	}
	gd_info("multipart upload %s completed: %s, %" PRIu64 " bytes%s", u.m.id, u.m.path,
		out.attr.size, out.zero_copy ? " (zero-copy)" : "");
	/* the file's ETag as GET and HEAD give it (not a hash of the parts:
	 * the same bytes PUT whole have the same kind of ETag) */
	char etag[GW_ETAG_MAX];
	gw_content_etag(&out.attr, etag, sizeof(etag));
	gw_reply_header(r, "ETag", etag);
	return gw_reply_json(r, 200, json_pack("{s:s, s:s, s:I, s:b}", "path", u.m.path, "etag",
					       etag, "size", (json_int_t)out.attr.size,
					       "zero_copy", out.zero_copy));
}

/* ---------------------------------------------------------------- abort */

int gw_multipart_delete(struct gw_req *r)
{
	struct gw_multipart *mp = r->gw->mp;
	struct gw_mp_upload u;
	int rc;

	struct gw_mp_lock l;
	if (find_upload(r, "", &u) != 0)
		return 0;
	/* the complete lock first: an abort never removes what a complete
	 * is moving into place */
	rc = gw_mp_store_lock(&mp->store, &u, "-", &l);
	if (rc == GD_EBUSY)
		return reply_busy(r, NULL);
	if (rc == GD_ENOENT)
		return not_found(r);
	if (rc)
		return gw_reply_status(r, rc, "remove the upload");
	rc = gw_mp_store_remove(&mp->store, u.m.id, l.prev_note);
	if (rc == GD_ENOENT)
		return not_found(r);
	if (rc)
		return gw_reply_status(r, rc, "remove the upload");
	gd_info("multipart upload %s aborted", u.m.id);
	return gw_reply_empty(r, 204);
}

/* -------------------------------------------------------------- janitor */

/* Every gateway runs one: a pass each period, jittered by +-20 % so that
 * gateways started together do not scan together. Two passes removing the
 * same upload at once is harmless (one of them finds it gone). */
static void *janitor(void *arg)
{
	struct gw_multipart *mp = arg;
	int64_t period = mp->expiry_s / 4;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)mp;

	if (period < 1)
		period = 1;
	if (period > JANITOR_MAX_S)
		period = JANITOR_MAX_S;
	pthread_mutex_lock(&mp->mu);
	while (!mp->stop) {
		int64_t ms = period * 1000 * (80 + rand_r(&seed) % 41) / 100;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ms / 1000;
		until.tv_nsec += (ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!mp->stop && pthread_cond_timedwait(&mp->cv, &mp->mu, &until) != ETIMEDOUT)
			;
		if (mp->stop)
			break;
		pthread_mutex_unlock(&mp->mu);
		gd_trace_new();   /* each pass has an id of its own */
		unsigned removed = 0, active = 0;
		int64_t orphan = mp->expiry_s > ORPHAN_MIN_S ? mp->expiry_s : ORPHAN_MIN_S;
		int rc = gw_mp_store_expire(&mp->store, now_s(), orphan, &removed, &active);
		if (rc)
			gd_warn("multipart janitor: %s", gd_strerror(rc));
		else
			gd_mseries_set(mp->active, active);
		if (rc == 0 && removed)
			gd_info("multipart janitor: %u expired uploads removed, %u active", removed,
				active);
		pthread_mutex_lock(&mp->mu);
	}
	pthread_mutex_unlock(&mp->mu);
	return NULL;
}

int gw_multipart_start(struct gw *gw, const struct gd_config *cfg)
{
	struct gw_multipart *mp;
	uint64_t expiry;
	int rc;

	if (gd_config_get_u64(cfg, "upload-expiry", NULL, GW_MP_EXPIRY_DEFAULT, &expiry) < 0)
		return GD_EINVAL;
	if (expiry < 1 || expiry > 365ull * 86400) {
		gd_error("upload-expiry %" PRIu64 " is out of range 1..31536000 seconds", expiry);
		return GD_EINVAL;
	}
	mp = gd_calloc(1, sizeof(*mp));
	if (!mp)
		return GD_ENOMEM;
	mp->expiry_s = (int64_t)expiry;
	mp->active = gd_metric_at(gd_metrics_gauge(gd_metrics_global(),
						   "godfs_gateway_multipart_uploads_active",
						   "Multipart uploads staged in the cluster (all gateways), "
						   "as this gateway's janitor last counted them.", NULL));
	rc = gw_mp_store_init(&mp->store, gw->client);
	if (rc)
		goto err_after_alloc;
	pthread_mutex_init(&mp->mu, NULL);
	pthread_cond_init(&mp->cv, NULL);
	if (pthread_create(&mp->janitor, NULL, janitor, mp) != 0) {
		rc = GD_ENOMEM;
		goto err_after_store;
	}
	mp->started = true;
	gw->mp = mp;
	return 0;
err_after_store:
	pthread_cond_destroy(&mp->cv);
	pthread_mutex_destroy(&mp->mu);
	gw_mp_store_release(&mp->store);
err_after_alloc:
	gd_free(mp);
	return rc;
}

void gw_multipart_stop(struct gw *gw)
{
	struct gw_multipart *mp = gw->mp;
	if (!mp)
		return;
	pthread_mutex_lock(&mp->mu);
	mp->stop = true;
	pthread_cond_signal(&mp->cv);
	pthread_mutex_unlock(&mp->mu);
	if (mp->started)
		pthread_join(mp->janitor, NULL);
	pthread_cond_destroy(&mp->cv);
	pthread_mutex_destroy(&mp->mu);
	gw_mp_store_release(&mp->store);
	gd_free(mp);
	gw->mp = NULL;
}
