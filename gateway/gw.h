/* The godfs-gateway process: its options and the state every handler
 * shares. Set up by gw_main.c before the HTTP server starts and read-only
 * afterwards, except the fields that say otherwise. */
#ifndef GW_H
#define GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct gd_client;
struct gd_meta_client;
struct gw_auth;
struct gw_sessions;
struct gw_ratelimit;
struct gw_janitor;
struct gw_multipart;

struct gw_options {
	const char *listen;          /* "host:port" */
	const char *tls_cert;        /* PEM files; both or neither */
	const char *tls_key;
	const char *access_log;      /* path, "-" = stdout, NULL = off */
	const char *cors_origins;    /* "*" or "https://a,https://b"; NULL = CORS off */
	double rate_limit;           /* requests per second per key; 0 = off */
	double rate_burst;
	uint64_t max_upload;         /* bytes of one PUT body; 0 = unlimited */
	unsigned max_connections;    /* open HTTP connections */
	unsigned max_per_ip;         /* open HTTP connections from one address */
	unsigned conn_timeout_s;     /* an idle connection is closed after this */
	unsigned header_timeout_s;   /* request line + headers due within this (gw_guard.h) */
	unsigned header_mem;         /* bytes MHD may use for a request's headers */
	uint64_t put_stale_s;        /* temp files of PUTs older than this are removed */
	uint64_t read_ahead_mem;     /* bytes all downloads may hold ahead of the network */
	uint64_t upload_mem;         /* bytes all uploads may buffer (gw_mem.h) */
	unsigned max_sessions;       /* API-key sessions open at once */
};

struct gw {
	struct gw_options opt;
	struct gd_client *client;    /* the gateway's own session (cluster key): readiness,
				      * the janitor; every request with --insecure */
	struct gd_meta_client *keys_meta; /* role gateway: TOKEN_GET of API keys */
	struct gw_auth *auth;        /* API keys and presigned URLs; NULL with --insecure */
	struct gw_sessions *sessions; /* one client session per API key */
	uint32_t chunk_size;
	struct gw_ratelimit *rl;     /* NULL when off */
	FILE *access_log;            /* NULL when off; lines written whole under log_mu */
	pthread_mutex_t log_mu;
	uint64_t instance;           /* random, names this process's temp files */
	atomic_ulong put_seq;        /* numbers this process's temp files */
	atomic_int in_flight;        /* requests being served */
	atomic_ullong read_ahead_used; /* bytes of read-ahead buffers held (gw_content.c) */
	atomic_ullong upload_used;   /* bytes of upload buffers reserved (gw_mem.c) */
	struct gw_multipart *mp;     /* multipart uploads (gw_multipart.h) */
};

#endif
