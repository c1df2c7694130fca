/* Presigned URLs made by the gateway (see gw_presign.h); the signature is
 * libcomm/gd_apikey.c's, the same that godfs-admin and an offline signer
 * make and that gw_auth checks. */
#include "gw_presign.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "gd_apikey.h"
#include "gd_status.h"
#include "gw.h"
#include "gw_error.h"
#include "gw_path.h"
#include "gw_req.h"

int gw_presign(struct gw_req *r)
{
	const char *path, *method = gw_req_json_str(r, "method");
	char sig[GD_PRESIGN_SIG_HEX + 1], query[3 * GW_PATH_MAX + 256], url[sizeof(query) + 32];
	if (!r->gw->auth || r->principal.key_id == 0 || r->principal.presigned)
		return gw_reply_error(r, 403, GW_FORBIDDEN,
				      "presigned URLs are made with an API key's Bearer string");
	if (gw_path_take(r, "path", gw_req_json_str(r, "path"), &path))
		return 0;
	if (!method)
		method = "GET";
	if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0)
		return gw_reply_error(r, 400, GW_BAD_REQUEST, "method: GET or PUT");
	if (strcmp(method, "PUT") == 0 && r->principal.read_only)
		return gw_reply_error(r, 403, GW_FORBIDDEN, "this key is read-only: no PUT URL");
	json_t *v = json_object_get(r->json, "expires_in");
	json_int_t secs = GW_PRESIGN_DEFAULT_S;
	if (v && !json_is_integer(v))
		return gw_reply_error(r, 400, GW_BAD_REQUEST, "expires_in: seconds");
	if (v)
		secs = json_integer_value(v);
	if (secs < 1 || secs > GD_PRESIGN_MAX_SEC)
		return gw_reply_error(r, 400, GW_BAD_REQUEST, "expires_in: 1 to %d seconds",
				      GD_PRESIGN_MAX_SEC);
	uint64_t exp = (uint64_t)time(NULL) + (uint64_t)secs;
	uint8_t bearer[GD_KEY_LEN];
	/* signed with the Bearer secret, as its holder would sign offline */
	gd_apikey_bearer_secret(r->principal.token.secret, bearer);
	int rc = gd_presign_sign(bearer, method, path, exp, r->principal.key_id, sig);
	memset(bearer, 0, sizeof(bearer));
	if (rc == 0)
		rc = gd_presign_query(path, r->principal.key_id, exp, sig, query, sizeof(query));
	if (rc < 0)
		return gw_reply_status(r, rc, "signing");
	snprintf(url, sizeof(url), "/v1/fs/content?%s", query);
	return gw_reply_json(r, 200, json_pack("{s:s, s:s, s:I}", "url", url, "method", method,
					       "expires_at_unix", (json_int_t)exp));
}
