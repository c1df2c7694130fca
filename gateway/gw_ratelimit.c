/* Token buckets (see gw_ratelimit.h): an open hash table with a list in
 * order of last use, so that both the lookup and the eviction of the
 * oldest bucket are O(1). */
#include "gw_ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_status.h"

#define RL_KEY_MAX 80
#define RL_IDLE_NS (600ull * 1000000000ull)
#define RL_HASH 4096

struct bucket {
	char key[RL_KEY_MAX];
	double tokens;
	uint64_t last_ns;
	struct bucket *hnext;            /* hash chain */
	struct bucket *prev, *next;      /* last use: head = oldest */
};

struct gw_ratelimit {
	pthread_mutex_t mu;              /* guards everything below */
	double rps, burst;
	struct bucket *hash[RL_HASH];
	struct bucket *oldest, *newest;
	size_t n;
};

int gw_ratelimit_new(double rps, double burst, struct gw_ratelimit **out)
{
	struct gw_ratelimit *rl = gd_calloc(1, sizeof(*rl));
	if (!rl)
		return GD_ENOMEM;
	pthread_mutex_init(&rl->mu, NULL);
	rl->rps = rps;
	rl->burst = burst < 1 ? 1 : burst;
	*out = rl;
	return 0;
}

void gw_ratelimit_free(struct gw_ratelimit *rl)
{
	if (!rl)
		return;
	for (struct bucket *b = rl->oldest, *next; b; b = next) {
		next = b->next;
		gd_free(b);
	}
	pthread_mutex_destroy(&rl->mu);
	gd_free(rl);
}

static unsigned hash_key(const char *k)
{
	unsigned h = 2166136261u;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 16777619u;
	return h % RL_HASH;
}

static void list_unlink(struct gw_ratelimit *rl, struct bucket *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		rl->oldest = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		rl->newest = b->prev;
	b->prev = b->next = NULL;
}

static void list_push(struct gw_ratelimit *rl, struct bucket *b)
{
	b->prev = rl->newest;
	b->next = NULL;
	if (rl->newest)
		rl->newest->next = b;
	else
		rl->oldest = b;
	rl->newest = b;
}

static void drop(struct gw_ratelimit *rl, struct bucket *b)
{
	struct bucket **pp = &rl->hash[hash_key(b->key)];
	while (*pp != b)
		pp = &(*pp)->hnext;
	*pp = b->hnext;
	list_unlink(rl, b);
	rl->n--;
	gd_free(b);
}

static bool take(struct gw_ratelimit *rl, const char *key, uint64_t now_ns, bool spend,
		 unsigned *retry_after_s)
{
	char k[RL_KEY_MAX];
	bool ok = true;
	strncpy(k, key, sizeof(k) - 1);
	k[sizeof(k) - 1] = '\0';
	pthread_mutex_lock(&rl->mu);
	while (rl->oldest && (rl->n >= GW_RL_MAX_BUCKETS ||
			      now_ns - rl->oldest->last_ns > RL_IDLE_NS))
		drop(rl, rl->oldest);
	unsigned h = hash_key(k);
	struct bucket *b = rl->hash[h];
	while (b && strcmp(b->key, k) != 0)
		b = b->hnext;
	if (!b) {
		b = gd_calloc(1, sizeof(*b));
		if (!b)
			goto out;   /* no memory: let the request through */
		memcpy(b->key, k, sizeof(k));
		b->tokens = rl->burst;
		b->last_ns = now_ns;
		b->hnext = rl->hash[h];
		rl->hash[h] = b;
		rl->n++;
	} else {
		list_unlink(rl, b);
		double add = (double)(now_ns - b->last_ns) / 1e9 * rl->rps;
		b->tokens = fmin(rl->burst, b->tokens + add);
		b->last_ns = now_ns;
	}
	list_push(rl, b);
	if (b->tokens >= 1) {
		if (spend)
			b->tokens -= 1;
	} else {
		ok = false;
		double wait = (1 - b->tokens) / rl->rps;
		*retry_after_s = (unsigned)ceil(wait < 1 ? 1 : wait);
	}
out:
	pthread_mutex_unlock(&rl->mu);
	return ok;
}

bool gw_ratelimit_take(struct gw_ratelimit *rl, const char *key, uint64_t now_ns,
		       unsigned *retry_after_s)
{
	return take(rl, key, now_ns, true, retry_after_s);
}

bool gw_ratelimit_peek(struct gw_ratelimit *rl, const char *key, uint64_t now_ns,
		       unsigned *retry_after_s)
{
	return take(rl, key, now_ns, false, retry_after_s);
}

void gw_ratelimit_client_key(const char *ip, char out[GW_RL_CLIENT_KEY_MAX])
{
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];

	if (!ip || !strchr(ip, ':') || inet_pton(AF_INET6, ip, &a6) != 1) {
		snprintf(out, GW_RL_CLIENT_KEY_MAX, "ip:%s", ip ? ip : "");
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof(text));
		snprintf(out, GW_RL_CLIENT_KEY_MAX, "ip:%s", text);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	inet_ntop(AF_INET6, &a6, text, sizeof(text));
	snprintf(out, GW_RL_CLIENT_KEY_MAX, "ip6:%s/64", text);
}
