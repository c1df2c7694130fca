/* Soft state of the chunkds (see meta_registry.h). A cluster has tens of
 * chunkds, not millions: nodes live in a plain array searched linearly. */
#include "meta_registry.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_ns.h"
#include "meta_place.h"

#define REG_STR_MAX 1024       /* node id, address, label */
#define REG_ORDERS_MAX 65536   /* orders queued per node before the oldest are dropped */

/* Copies reported bad for one chunk. */
struct bad_copies {
	char **nodes;
	size_t n;
};

struct meta_registry {
	uint64_t dead_after_ms;
	struct meta_node **nodes;
	size_t n_nodes;
	size_t cap_nodes;
	struct meta_ns_map bad;  /* chunk id -> struct bad_copies */
};

int meta_registry_new(uint64_t dead_after_ms, struct meta_registry **out)
{
	struct meta_registry *reg = gd_calloc(1, sizeof(*reg));

	if (reg == NULL)
		return GD_ENOMEM;
	reg->dead_after_ms = dead_after_ms;
	meta_ns_map_init(&reg->bad);
	*out = reg;
	return 0;
}

void meta_registry_orders_free(struct meta_order *orders, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		gd_free(orders[i].source);
	gd_free(orders);
}

static void node_free(struct meta_node *n)
{
	gd_free(n->node_id);
	gd_free(n->address);
	gd_free(n->label);
	meta_registry_orders_free(n->orders, n->n_orders);
	gd_free(n);
}

static void bad_free(struct bad_copies *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		gd_free(b->nodes[i]);
	gd_free(b->nodes);
	gd_free(b);
}

void meta_registry_clear(struct meta_registry *reg)
{
	size_t i, pos = 0;
	uint64_t key;
	struct bad_copies *b;

	for (i = 0; i < reg->n_nodes; i++)
		node_free(reg->nodes[i]);
	reg->n_nodes = 0;
	while ((b = meta_ns_map_next(&reg->bad, &pos, &key)) != NULL)
		bad_free(b);
	meta_ns_map_release(&reg->bad);
	meta_ns_map_init(&reg->bad);
}

void meta_registry_free(struct meta_registry *reg)
{
	if (reg == NULL)
		return;
	meta_registry_clear(reg);
	gd_free(reg->nodes);
	gd_free(reg);
}

struct meta_node *meta_registry_get(struct meta_registry *reg, const char *node_id)
{
	size_t i;

	if (node_id == NULL)
		return NULL;
	for (i = 0; i < reg->n_nodes; i++)
		if (strcmp(reg->nodes[i]->node_id, node_id) == 0)
			return reg->nodes[i];
	return NULL;
}

/* Replaces *dst with a copy of src when they differ. */
static int set_str(char **dst, const char *src)
{
	char *c;

	if (*dst != NULL && strcmp(*dst, src) == 0)
		return 0;
	c = gd_strdup(src);
	if (c == NULL)
		return GD_ENOMEM;
	gd_free(*dst);
	*dst = c;
	return 0;
}

int meta_registry_register(struct meta_registry *reg, const char *node_id,
			   const char *address, const char *label,
			   uint64_t total, uint64_t free_bytes, uint64_t chunk_count,
			   uint64_t now_ms, struct meta_node **out)
{
	struct meta_node *n;
	bool added = false;

	if (label == NULL)
		label = "";
	if (node_id == NULL || node_id[0] == '\0' || address == NULL || address[0] == '\0' ||
	    strlen(node_id) > REG_STR_MAX || strlen(address) > REG_STR_MAX ||
	    strlen(label) > REG_STR_MAX)
		return GD_EINVAL;
	n = meta_registry_get(reg, node_id);
	if (n == NULL) {
		if (reg->n_nodes == reg->cap_nodes) {
			size_t cap = reg->cap_nodes ? reg->cap_nodes * 2 : 8;
			struct meta_node **nn = gd_realloc(reg->nodes, cap * sizeof(*nn));
			if (nn == NULL)
				return GD_ENOMEM;
			reg->nodes = nn;
			reg->cap_nodes = cap;
		}
		n = gd_calloc(1, sizeof(*n));
		if (n == NULL)
			return GD_ENOMEM;
		n->node_id = gd_strdup(node_id);
		if (n->node_id == NULL) {
			gd_free(n);
			return GD_ENOMEM;
		}
		added = true;
	}
	if (set_str(&n->address, address) != 0 || set_str(&n->label, label) != 0) {
		if (added)
			node_free(n);
		return GD_ENOMEM;
	}
	if (added)
		reg->nodes[reg->n_nodes++] = n;
	if (gd_label_parse(label, &n->loc) != 0)
		gd_warn("chunkd %s: label \"%.64s\" is not rack=NAME[,zone=NAME]: placed as "
			"unlabelled", node_id, label);
	n->total_bytes = total;
	n->free_bytes = free_bytes > total && total != 0 ? total : free_bytes;
	n->chunk_count = chunk_count;
	n->last_seen_ms = now_ms;
	n->resync = false;       /* this registration carried the report */
	*out = n;
	return 0;
}

int meta_registry_heartbeat(struct meta_registry *reg, const char *node_id,
			    uint64_t total, uint64_t free_bytes, uint64_t chunk_count,
			    uint64_t now_ms, struct meta_node **out)
{
	struct meta_node *n = meta_registry_get(reg, node_id);

	if (n == NULL)
		return GD_ENOENT;
	n->total_bytes = total;
	n->free_bytes = free_bytes > total && total != 0 ? total : free_bytes;
	n->chunk_count = chunk_count;
	n->last_seen_ms = now_ms;
	*out = n;
	return 0;
}

bool meta_registry_node_alive(const struct meta_registry *reg, const struct meta_node *n,
			      uint64_t now_ms)
{
	return n != NULL && now_ms - n->last_seen_ms <= reg->dead_after_ms;
}

const char *meta_registry_alive_address(struct meta_registry *reg, const char *node_id,
					uint64_t now_ms)
{
	struct meta_node *n = meta_registry_get(reg, node_id);

	return meta_registry_node_alive(reg, n, now_ms) ? n->address : NULL;
}

/* Placement order: most free space first; equal space by node id so that the
 * choice is stable. */
static int cmp_free(const void *a, const void *b)
{
	const struct meta_node *x = *(struct meta_node *const *)a;
	const struct meta_node *y = *(struct meta_node *const *)b;

	if (x->free_bytes != y->free_bytes)
		return x->free_bytes > y->free_bytes ? -1 : 1;
	return strcmp(x->node_id, y->node_id);
}

void meta_registry_place_node(const struct meta_node *n, struct meta_place_node *out)
{
	out->id = n->node_id;
	out->label = &n->loc;
	out->total_bytes = n->total_bytes;
	out->free_bytes = n->free_bytes;
	out->draining = n->draining;
}

/* A fallback onto a shared rack or zone is logged at most this often. */
static struct gd_log_limit spread_log = GD_LOG_LIMIT_INIT;

static void log_no_spread(const char *what, uint64_t chunk_id)
{
	unsigned dropped;

	if (gd_log_limit_allow(&spread_log, &dropped))
		gd_info("placement: %s%.0" PRIu64 ": not enough live racks/zones without a copy:"
			" copies share one%s", what, chunk_id,
			dropped ? " (and earlier fallbacks not logged)" : "");
}

/* The alive, not draining nodes that are not in skip[], preference order
 * (not suspect first, then most free). Returns how many (into arr). */
static size_t candidates(struct meta_registry *reg, uint64_t now_ms, const char *const *skip,
			 size_t n_skip, struct meta_node **arr)
{
	struct meta_node **tmp = arr + reg->n_nodes;
	size_t n = 0, k = 0, i, j;

	for (i = 0; i < reg->n_nodes; i++) {
		struct meta_node *x = reg->nodes[i];
		bool skipped = false;
		if (!meta_registry_node_alive(reg, x, now_ms) || x->draining)
			continue;
		for (j = 0; j < n_skip && !skipped; j++)
			skipped = skip[j] && strcmp(skip[j], x->node_id) == 0;
		if (!skipped)
			tmp[n++] = x;
	}
	qsort(tmp, n, sizeof(*tmp), cmp_free);
	/* Suspects last, in the same order among themselves. */
	for (i = 0; i < n; i++)
		if (tmp[i]->suspect_until_ms <= now_ms)
			arr[k++] = tmp[i];
	for (i = 0; i < n; i++)
		if (tmp[i]->suspect_until_ms > now_ms)
			arr[k++] = tmp[i];
	return k;
}

/* Picks want of the candidates against the copies have[] (node ids). */
static size_t pick(struct meta_registry *reg, uint64_t now_ms, const char *const *have,
		   size_t n_have, const char *const *skip, size_t n_skip, size_t want,
		   struct meta_node **chosen, bool *spread)
{
	struct meta_node **arr = gd_calloc(2 * reg->n_nodes + 1, sizeof(*arr));
	struct meta_place_node *pn = gd_calloc(reg->n_nodes + n_have + 1, sizeof(*pn));
	const struct meta_place_node **cp = gd_calloc(reg->n_nodes + n_have + 1, sizeof(*cp));
	size_t *picked = gd_calloc(want + 1, sizeof(*picked));
	size_t n_cand, n_h = 0, n = 0, i;

	*spread = true;
	if (!arr || !pn || !cp || !picked)
		goto out;
	n_cand = candidates(reg, now_ms, skip, n_skip, arr);
	for (i = 0; i < n_have; i++) {
		struct meta_node *h = meta_registry_get(reg, have[i]);
		if (h) {
			meta_registry_place_node(h, &pn[n_h]);
			cp[n_h] = &pn[n_h];
			n_h++;
		}
	}
	for (i = 0; i < n_cand; i++) {
		meta_registry_place_node(arr[i], &pn[n_h + i]);
		cp[n_h + i] = &pn[n_h + i];
	}
	n = meta_place_pick(cp, n_h, cp + n_h, n_cand, want, picked, spread);
	for (i = 0; i < n; i++)
		chosen[i] = arr[picked[i]];
out:
	gd_free(arr);
	gd_free(pn);
	gd_free(cp);
	gd_free(picked);
	return n;
}

size_t meta_registry_place(struct meta_registry *reg, uint64_t now_ms, size_t want,
			   const char **ids, size_t cap)
{
	struct meta_node **chosen;
	bool spread = true;
	size_t n, i;

	/* The goal comes from the namespace and the node count from the
	 * network: neither may overrun the caller's array. */
	if (want > cap)
		want = cap;
	if (want > reg->n_nodes)
		want = reg->n_nodes;
	if (want == 0)
		return 0;
	chosen = gd_calloc(want, sizeof(*chosen));
	if (!chosen)
		return 0;
	n = pick(reg, now_ms, NULL, 0, NULL, 0, want, chosen, &spread);
	if (!spread)
		log_no_spread("a new chunk", 0);
	for (i = 0; i < n; i++)
		ids[i] = chosen[i]->node_id;
	gd_free(chosen);
	return n;
}

const char *meta_registry_place_one(struct meta_registry *reg, uint64_t now_ms,
				    uint64_t chunk_id, const char *const *have, size_t n_have,
				    const char *const *skip, size_t n_skip)
{
	struct meta_node *chosen = NULL;
	bool spread = true;

	if (pick(reg, now_ms, have, n_have, skip, n_skip, 1, &chosen, &spread) != 1)
		return NULL;
	if (!spread)
		log_no_spread("a new copy of chunk ", chunk_id);
	return chosen->node_id;
}

void meta_registry_set_draining(struct meta_registry *reg, const char *node_id, bool draining)
{
	struct meta_node *n = meta_registry_get(reg, node_id);

	if (n)
		n->draining = draining;
}

void meta_registry_count_copy(struct meta_registry *reg, const char *node_id)
{
	struct meta_node *n = meta_registry_get(reg, node_id);

	if (n)
		n->copies_scan++;
}

void meta_registry_pass_end(struct meta_registry *reg)
{
	size_t i;

	for (i = 0; i < reg->n_nodes; i++) {
		reg->nodes[i]->copies = reg->nodes[i]->copies_scan;
		reg->nodes[i]->copies_scan = 0;
		reg->nodes[i]->copies_known = true;
	}
}

void meta_registry_suspect(struct meta_registry *reg, const char *node_id, uint64_t now_ms)
{
	struct meta_node *n = meta_registry_get(reg, node_id);

	if (n)
		n->suspect_until_ms = now_ms + 2 * reg->dead_after_ms;
}

int meta_registry_order_promote(struct meta_registry *reg, const char *node_id,
				uint64_t chunk_id, uint64_t version, uint64_t prev_version)
{
	struct meta_node *n = meta_registry_get(reg, node_id);
	int rc = meta_registry_order(reg, node_id, META_ORDER_PROMOTE, chunk_id, version, NULL);

	if (rc == 0 && n != NULL && n->n_orders > 0)
		n->orders[n->n_orders - 1].prev_version = prev_version;
	return rc;
}

int meta_registry_order(struct meta_registry *reg, const char *node_id, uint32_t kind,
			uint64_t chunk_id, uint64_t version, const char *source)
{
	struct meta_node *n = meta_registry_get(reg, node_id);
	struct meta_order *o;

	if (n == NULL)
		return 0;
	if (n->n_orders >= REG_ORDERS_MAX) {
		n->resync = true;
		return GD_ENOMEM;
	}
	if (n->n_orders == n->cap_orders) {
		size_t cap = n->cap_orders ? n->cap_orders * 2 : 16;
		o = gd_realloc(n->orders, cap * sizeof(*o));
		if (o == NULL)
			return GD_ENOMEM;
		n->orders = o;
		n->cap_orders = cap;
	}
	o = &n->orders[n->n_orders];
	memset(o, 0, sizeof(*o));
	if (source != NULL) {
		o->source = gd_strdup(source);
		if (o->source == NULL)
			return GD_ENOMEM;
	}
	o->kind = kind;
	o->chunk_id = chunk_id;
	o->version = version;
	n->n_orders++;
	return 0;
}

void meta_registry_take_orders(struct meta_node *n, struct meta_order **orders, size_t *count)
{
	*orders = n->orders;
	*count = n->n_orders;
	n->orders = NULL;
	n->n_orders = 0;
	n->cap_orders = 0;
}

int meta_registry_mark_bad(struct meta_registry *reg, uint64_t chunk_id, const char *node_id)
{
	struct bad_copies *b;
	char **nn;
	size_t i;
	int rc;

	if (chunk_id == 0 || node_id == NULL)
		return GD_EINVAL;
	b = meta_ns_map_get(&reg->bad, chunk_id);
	if (b == NULL) {
		b = gd_calloc(1, sizeof(*b));
		if (b == NULL)
			return GD_ENOMEM;
		rc = meta_ns_map_put(&reg->bad, chunk_id, b);
		if (rc != 0) {
			gd_free(b);
			return rc;
		}
	}
	for (i = 0; i < b->n; i++)
		if (strcmp(b->nodes[i], node_id) == 0)
			return 0;
	nn = gd_realloc(b->nodes, (b->n + 1) * sizeof(*nn));
	if (nn == NULL)
		return GD_ENOMEM;
	b->nodes = nn;
	b->nodes[b->n] = gd_strdup(node_id);
	if (b->nodes[b->n] == NULL)
		return GD_ENOMEM;
	b->n++;
	return 0;
}

bool meta_registry_is_bad(struct meta_registry *reg, uint64_t chunk_id, const char *node_id)
{
	struct bad_copies *b;
	size_t i;

	if (reg->bad.count == 0 || chunk_id == 0)
		return false;
	b = meta_ns_map_get(&reg->bad, chunk_id);
	if (b == NULL)
		return false;
	for (i = 0; i < b->n; i++)
		if (strcmp(b->nodes[i], node_id) == 0)
			return true;
	return false;
}

void meta_registry_clear_bad(struct meta_registry *reg, uint64_t chunk_id, const char *node_id)
{
	struct bad_copies *b;
	size_t i;

	if (reg->bad.count == 0 || chunk_id == 0)
		return;
	b = meta_ns_map_get(&reg->bad, chunk_id);
	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		if (strcmp(b->nodes[i], node_id) != 0)
			continue;
		gd_free(b->nodes[i]);
		b->nodes[i] = b->nodes[--b->n];
		break;
	}
	if (b->n == 0) {
		meta_ns_map_del(&reg->bad, chunk_id);
		bad_free(b);
	}
}

void meta_registry_totals(struct meta_registry *reg, uint64_t now_ms, uint64_t *total,
			  uint64_t *free_bytes, uint64_t *alive)
{
	size_t i;

	*total = *free_bytes = *alive = 0;
	for (i = 0; i < reg->n_nodes; i++) {
		if (!meta_registry_node_alive(reg, reg->nodes[i], now_ms))
			continue;
		*total += reg->nodes[i]->total_bytes;
		*free_bytes += reg->nodes[i]->free_bytes;
		(*alive)++;
	}
}

struct meta_node *meta_registry_next(struct meta_registry *reg, size_t *pos)
{
	if (*pos >= reg->n_nodes)
		return NULL;
	return reg->nodes[(*pos)++];
}

void meta_registry_decay(struct meta_registry *reg)
{
	size_t i;

	for (i = 0; i < reg->n_nodes; i++)
		reg->nodes[i]->reads /= 2;
}
