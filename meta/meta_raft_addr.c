/* Voter addresses in the Raft configuration (see meta_raft_addr.h). */
#include "meta_raft_addr.h"

#include <stdio.h>
#include <string.h>

#include "gd_status.h"

int meta_raft_addr_split(const char *conf, char *raft, size_t raft_cap, char *client,
			 size_t client_cap)
{
	const char *at;
	size_t len, rlen;

	if (conf == NULL || raft_cap == 0 || client_cap == 0)
		return GD_EINVAL;
	len = strlen(conf);
	if (len == 0 || len > META_RAFT_CONF_ADDR_MAX)
		return GD_EINVAL;
	at = strchr(conf, '@');
	rlen = at != NULL ? (size_t)(at - conf) : len;
	if (rlen == 0 || rlen >= raft_cap)
		return GD_EINVAL;
	if (at != NULL && (at[1] == '\0' || strchr(at + 1, '@') != NULL ||
			   strlen(at + 1) >= client_cap))
		return GD_EINVAL;
	memcpy(raft, conf, rlen);
	raft[rlen] = '\0';
	snprintf(client, client_cap, "%s", at != NULL ? at + 1 : "");
	return 0;
}

int meta_raft_addr_join(const char *raft, const char *client, char *out, size_t out_cap)
{
	int n;

	if (raft == NULL || raft[0] == '\0' || strpbrk(raft, "@,") != NULL ||
	    (client != NULL && strpbrk(client, "@,") != NULL) || out_cap == 0)
		return GD_EINVAL;
	if (client != NULL && client[0] != '\0')
		n = snprintf(out, out_cap, "%s@%s", raft, client);
	else
		n = snprintf(out, out_cap, "%s", raft);
	if (n < 0 || (size_t)n >= out_cap || n > META_RAFT_CONF_ADDR_MAX)
		return GD_EINVAL;
	return 0;
}
