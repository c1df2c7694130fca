/* Location labels of a chunkd (see gd_label.h). */
#include "gd_label.h"

#include <string.h>

#include "gd_status.h"

static bool value_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Copies the value [v, v + n) into dst when it is well formed and dst is
 * still empty (a key given twice is an error, not a silent override). */
static int set_value(char *dst, const char *v, size_t n)
{
	size_t i;

	if (dst[0] != '\0' || n == 0 || n > GD_LABEL_VALUE_MAX)
		return GD_EINVAL;
	for (i = 0; i < n; i++)
		if (!value_char(v[i]))
			return GD_EINVAL;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

int gd_label_parse(const char *s, struct gd_label *out)
{
	const char *p, *end;
	size_t len, pairs = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (s == NULL || s[0] == '\0')
		return 0;
	len = strnlen(s, GD_LABEL_MAX + 1);
	if (len > GD_LABEL_MAX)
		return GD_EINVAL;
	if (strchr(s, '=') == NULL)     /* the older form: the rack alone */
		return set_value(out->rack, s, len) == 0 ? 0 : (memset(out, 0, sizeof(*out)),
								GD_EINVAL);
	for (p = s; rc == 0 && *p; p = *end ? end + 1 : end) {
		const char *eq;

		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq || ++pairs > GD_LABEL_PAIRS_MAX) {
			rc = GD_EINVAL;
		} else if ((size_t)(eq - p) == 4 && memcmp(p, "rack", 4) == 0) {
			rc = set_value(out->rack, eq + 1, (size_t)(end - eq - 1));
		} else if ((size_t)(eq - p) == 4 && memcmp(p, "zone", 4) == 0) {
			rc = set_value(out->zone, eq + 1, (size_t)(end - eq - 1));
		} else {
			rc = GD_EINVAL;
		}
		if (rc == 0 && *end == ',' && end[1] == '\0')
			rc = GD_EINVAL;     /* a trailing comma */
	}
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

bool gd_label_same_rack(const struct gd_label *a, const struct gd_label *b)
{
	/* a rack is named within its zone: r1 of z1 is not r1 of z2 */
	return a->rack[0] != '\0' && strcmp(a->rack, b->rack) == 0 &&
	       strcmp(a->zone, b->zone) == 0;
}

bool gd_label_same_zone(const struct gd_label *a, const struct gd_label *b)
{
	return a->zone[0] != '\0' && strcmp(a->zone, b->zone) == 0;
}
