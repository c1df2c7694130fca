/* The pure rules of multipart uploads (see gw_mp_rules.h). */
#include "gw_mp_rules.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_hex.h"
#include "gd_status.h"

bool gw_mp_id_valid(const char *s)
{
	size_t i;
	for (i = 0; i < GW_MP_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

void gw_mp_etag_format(const uint8_t sha[GW_MP_SHA_LEN], char out[GW_MP_ETAG_SIZE])
{
	memcpy(out, "\"sha256-", 8);
	gd_hex_encode(sha, GW_MP_SHA_LEN, out + 8);
	out[8 + 2 * GW_MP_SHA_LEN] = '"';
	out[9 + 2 * GW_MP_SHA_LEN] = '\0';
}

int gw_mp_etag_parse(const char *s, uint8_t sha[GW_MP_SHA_LEN])
{
	size_t len = strnlen(s, GW_MP_ETAG_SIZE + 1);
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len >= 7 && strncasecmp(s, "sha256-", 7) == 0) {
		s += 7;
		len -= 7;
	}
	return gd_hex_decode(s, len, sha, GW_MP_SHA_LEN);
}

size_t gw_mp_record_format(const struct gw_mp_part *p, char out[GW_MP_RECORD_SIZE])
{
	char hex[2 * GW_MP_SHA_LEN + 1];
	gd_hex_encode(p->sha, GW_MP_SHA_LEN, hex);
	int n = snprintf(out, GW_MP_RECORD_SIZE, "v1 %" PRIu64 " %s %s", p->size, hex,
			 p->where == GW_MP_IN_DATA ? "data" : "file");
	return n < 0 ? 0 : (size_t)n;
}

int gw_mp_record_parse(const void *buf, size_t len, struct gw_mp_part *p)
{
	char s[GW_MP_RECORD_SIZE], hex[2 * GW_MP_SHA_LEN + 2], where[8];
	uint64_t size;
	int used = 0;

	if (len == 0 || len >= sizeof(s) || memchr(buf, '\0', len))
		return GD_EINVAL;
	memcpy(s, buf, len);
	s[len] = '\0';
	if (sscanf(s, "v1 %20" SCNu64 " %65s %7s%n", &size, hex, where, &used) != 3 ||
	    (size_t)used != len || s[3] < '0' || s[3] > '9')
		return GD_EINVAL;
	if (size > GW_MP_MAX_PART_SIZE || gd_hex_decode(hex, strlen(hex), p->sha, GW_MP_SHA_LEN))
		return GD_EINVAL;
	if (strcmp(where, "data") == 0)
		p->where = GW_MP_IN_DATA;
	else if (strcmp(where, "file") == 0)
		p->where = GW_MP_IN_FILE;
	else
		return GD_EINVAL;
	p->size = size;
	return 0;
}

uint32_t gw_mp_part_name_number(const char *name)
{
	if (strncmp(name, "part-", 5) != 0)
		return 0;
	const char *d = name + 5;
	uint32_t n = 0;
	size_t i;
	for (i = 0; d[i]; i++) {
		if (d[i] < '0' || d[i] > '9' || i >= 5 || (i == 0 && d[i] == '0'))
			return 0;
		n = n * 10 + (uint32_t)(d[i] - '0');
	}
	return i > 0 && n <= GW_MP_MAX_PARTS ? n : 0;
}

int gw_mp_manifest_encode(const struct gw_mp_manifest *m, char **out)
{
	json_t *o = json_pack("{s:i, s:s, s:I, s:s, s:I, s:b, s:I, s:I}",
			      "version", 1, "upload_id", m->id, "key_id", (json_int_t)m->key_id,
			      "path", m->path, "part_size", (json_int_t)m->part_size,
			      "zero_copy", m->zero_copy, "created", (json_int_t)m->created,
			      "expires", (json_int_t)m->expires);
	if (!o)
		return GD_ENOMEM;
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return GD_ENOMEM;
	/* jansson's allocator is malloc: hand the caller a gd_malloc'd copy */
	*out = gd_strdup(s);
	free(s);
	return *out ? 0 : GD_ENOMEM;
}

int gw_mp_manifest_decode(const char *buf, size_t len, struct gw_mp_manifest *m)
{
	json_error_t err;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	json_int_t version = 0, key_id = 0, part_size = 0, created = 0, expires = 0;
	const char *id = NULL, *path = NULL;
	int zero_copy = 0, rc = GD_EINVAL;

	if (!o)
		return GD_EINVAL;
	if (json_unpack(o, "{s:I, s:s, s:I, s:s, s:I, s:b, s:I, s:I}", "version", &version,
			"upload_id", &id, "key_id", &key_id, "path", &path, "part_size",
			&part_size, "zero_copy", &zero_copy, "created", &created, "expires",
			&expires) != 0)
		goto out;
	if (version != 1 || !gw_mp_id_valid(id) || strlen(path) >= sizeof(m->path) ||
	    path[0] != '/' || key_id < 0 || part_size < 0 ||
	    (uint64_t)part_size > GW_MP_MAX_PART_SIZE)
		goto out;
	memset(m, 0, sizeof(*m));
	memcpy(m->id, id, GW_MP_ID_LEN + 1);
	strcpy(m->path, path);
	m->key_id = (uint64_t)key_id;
	m->part_size = (uint64_t)part_size;
	m->zero_copy = zero_copy && part_size > 0;
	m->created = created;
	m->expires = expires;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static int want_cmp(const void *a, const void *b)
{
	const struct gw_mp_want *x = a, *y = b;
	return x->number < y->number ? -1 : x->number > y->number;
}

int gw_mp_plan_complete(struct gw_mp_want *want, size_t nwant,
			const struct gw_mp_part *staged, size_t nstaged,
			const struct gw_mp_manifest *m, uint64_t max_total,
			struct gw_mp_plan *plan, char *why, size_t whylen)
{
	/* staged parts by number: a table, as numbers are small */
	const struct gw_mp_part **by_num = NULL;
	size_t i;
	int rc = GD_EINVAL;

	memset(plan, 0, sizeof(*plan));
	if (nwant == 0) {
		snprintf(why, whylen, "\"parts\" lists no part");
		return GD_EINVAL;
	}
	if (nwant > GW_MP_MAX_PARTS) {
		snprintf(why, whylen, "more than %u parts", GW_MP_MAX_PARTS);
		return GD_EINVAL;
	}
	qsort(want, nwant, sizeof(*want), want_cmp);
	for (i = 0; i < nwant; i++) {
		if (want[i].number != i + 1) {
			if (want[i].number == 0 || want[i].number > GW_MP_MAX_PARTS)
				snprintf(why, whylen, "part number %u is out of range 1..%u",
					 want[i].number, GW_MP_MAX_PARTS);
			else if (i > 0 && want[i].number == want[i - 1].number)
				snprintf(why, whylen, "part %u is listed twice", want[i].number);
			else
				snprintf(why, whylen, "part %zu is missing: parts must be 1..%zu",
					 i + 1, nwant);
			return GD_EINVAL;
		}
	}
	by_num = gd_calloc(nwant + 1, sizeof(*by_num));
	plan->steps = gd_calloc(nwant, sizeof(*plan->steps));
	if (!by_num || !plan->steps) {
		rc = GD_ENOMEM;
		goto err;
	}
	for (i = 0; i < nstaged; i++)
		if (staged[i].number >= 1 && staged[i].number <= nwant)
			by_num[staged[i].number] = &staged[i];
	plan->zero_copy = m->zero_copy;
	for (i = 0; i < nwant; i++) {
		const struct gw_mp_part *p = by_num[i + 1];
		if (!p) {
			snprintf(why, whylen, "part %zu was not uploaded", i + 1);
			goto err;
		}
		if (want[i].has_etag && memcmp(want[i].sha, p->sha, GW_MP_SHA_LEN) != 0) {
			snprintf(why, whylen, "part %zu: the ETag does not match the uploaded part",
				 i + 1);
			goto err;
		}
		if (p->size > max_total - plan->total) {
			snprintf(why, whylen, "the file would be larger than %" PRIu64 " bytes",
				 max_total);
			rc = GD_EFBIG;
			goto err;
		}
		/* the bytes already sit at their final offset only when every part
		 * is in the data file, all full-sized but maybe the last */
		if (p->where != GW_MP_IN_DATA ||
		    (i + 1 < nwant ? p->size != m->part_size : p->size > m->part_size))
			plan->zero_copy = false;
		plan->steps[i].part = *p;
		plan->steps[i].dst_off = plan->total;
		plan->total += p->size;
	}
	plan->n = nwant;
	gd_free(by_num);
	return 0;
err:
	gd_free(by_num);
	gw_mp_plan_release(plan);
	return rc;
}

void gw_mp_plan_release(struct gw_mp_plan *plan)
{
	gd_free(plan->steps);
	memset(plan, 0, sizeof(*plan));
}
