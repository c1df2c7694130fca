/* Who may talk to a godfs daemon: the cluster key, scoped client tokens, and
 * the challenge-response that starts every connection (docs/security.md).
 *
 * The cluster key is 32 random bytes that every daemon and every trusted
 * program of one cluster holds in a key file (mode 0600). A key file may hold
 * several keys, one per line: the first one is used to prove and to sign, every
 * one is accepted when checking, so a key is rotated by adding the new key
 * everywhere (second line), moving it to the first line everywhere, then
 * removing the old one. A key is named on the wire by its id (8 bytes of an
 * HMAC of the key), never sent.
 *
 * A token is a credential for one client, scoped to a subtree and optionally
 * read-only, with an expiry. Its secret is an HMAC of its fields under a
 * cluster key, so any daemon holding that key checks a token without a table;
 * the meta also refuses tokens it has revoked (meta keeps the list).
 *
 * The handshake, before any frame, on a fresh TCP connection:
 *
 *   server -> client  challenge: magic, flags, server nonce (32 random bytes)
 *   client -> server  proof: kind (none / cluster key / token), role, key id,
 *                     token fields, client nonce, HMAC(secret, both)
 *   server -> client  verdict: status, HMAC(secret, challenge, proof, status)
 *
 * The server's fresh nonce makes a recorded proof useless on another
 * connection (replay); the verdict's MAC shows the client that the server holds
 * the secret too (a stranger cannot pose as a daemon). The handshake proves who
 * is at the other end when the connection starts; it does not protect the bytes
 * that follow against a man in the middle: that is what the TLS option is for.
 *
 * All functions are thread-safe (no shared state); 0 or a negative GD_E* code. */
#ifndef GD_AUTH_H
#define GD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define GD_KEY_LEN 32
#define GD_KEY_ID_LEN 8
#define GD_MAC_LEN 32
#define GD_NONCE_LEN 32
#define GD_KEYRING_MAX 4

#define GD_AUTH_CHALLENGE_LEN 40   /* magic 4, flags 4, nonce 32 */
#define GD_AUTH_PROOF_LEN 112      /* see gd_auth.c for the layout */
#define GD_AUTH_VERDICT_LEN 40     /* magic 4, status 4, mac 32 */

/* Challenge flags. */
#define GD_AUTH_F_INSECURE 1u      /* this server accepts connections with no credential */
#define GD_AUTH_F_TLS 2u           /* TLS follows the handshake (gd_tls.h) */

/* Credential kinds (proof byte 4). */
enum gd_auth_kind {
	GD_AUTH_NONE = 0,          /* no credential: only an --insecure server accepts it */
	GD_AUTH_CLUSTER = 1,       /* the cluster key: any role */
	GD_AUTH_TOKEN = 2,         /* a client token: role client, scoped */
};

/* Roles, the values of wire.proto's enum Role. */
enum gd_role {
	GD_ROLE_CLIENT = 0,
	GD_ROLE_CHUNKD = 1,
	GD_ROLE_ADMIN = 2,
	GD_ROLE_PEER = 3,          /* chunkd -> chunkd (pipeline, replication) */
	GD_ROLE_GATEWAY = 4,
	GD_ROLE_META = 5,          /* meta -> meta (Raft) */
	GD_ROLE_COUNT = 6,
};

/* Token flags. */
#define GD_TOKEN_READ_ONLY 1u
/* An API key of the REST gateway (gd_apikey.h): a token whose table entry
 * also holds the uid/gid the meta forces on every request of its sessions. */
#define GD_TOKEN_APIKEY 2u
#define GD_TOKEN_FLAGS_KNOWN (GD_TOKEN_READ_ONLY | GD_TOKEN_APIKEY)

struct gd_key {
	uint8_t id[GD_KEY_ID_LEN];
	uint8_t key[GD_KEY_LEN];
};

/* Keys of one key file: key[0] proves and signs, all of them verify. */
struct gd_keyring {
	int n;
	struct gd_key key[GD_KEYRING_MAX];
};

/* A client token: the fields are public (sent in the proof), the secret is not. */
struct gd_token {
	uint64_t id;
	uint64_t subtree;          /* inode number of the directory it opens */
	uint64_t expires;          /* Unix seconds; 0 = never */
	uint32_t flags;            /* GD_TOKEN_* */
	uint8_t key_id[GD_KEY_ID_LEN]; /* the cluster key its secret derives from */
	uint8_t secret[GD_KEY_LEN];
};

/* What a program presents when it connects. kind GD_AUTH_CLUSTER uses
 * keys->key[0]; GD_AUTH_TOKEN uses token. The pointed-to data must outlive
 * every connection that uses the credential. */
struct gd_cred {
	enum gd_auth_kind kind;
	const struct gd_keyring *keys;
	const struct gd_token *token;
};

/* How a server checks the proofs it receives. */
struct gd_auth_policy {
	const struct gd_keyring *keys;  /* NULL or empty: only GD_AUTH_NONE can pass */
	bool insecure;                  /* accept GD_AUTH_NONE (any role) */
	bool tokens;                    /* accept GD_AUTH_TOKEN (role client only) */
	bool tls;                       /* TLS follows every accepted handshake */
	/* Called for a token whose MAC and expiry are good (e.g. the meta's revocation
	 * list): 0 accepts, a GD_E* code refuses (why says the reason). May be NULL. */
	int (*token_check)(void *ctx, const struct gd_token *t, char *why, size_t whylen);
	void *ctx;
};

/* What the server learned of the other end. */
struct gd_peer_auth {
	enum gd_auth_kind kind;
	enum gd_role role;
	struct gd_token token;     /* kind GD_AUTH_TOKEN: the fields (secret zeroed) */
	bool tls;                  /* the policy asked for TLS after the handshake */
	uint8_t session_key[GD_KEY_LEN]; /* gd_auth_session_key (zeros for kind NONE) */
};

/* What a client learned from a handshake it passed. */
struct gd_auth_result {
	uint32_t flags;            /* the server's challenge flags (GD_AUTH_F_*) */
	uint8_t session_key[GD_KEY_LEN];
};

/* ---- keys --------------------------------------------------------------- */

/* Reads a key file: up to GD_KEYRING_MAX lines of 64 hex digits ('#' starts a
 * comment, blank lines are ignored). Refuses a file that group or others may
 * read or write (GD_EPERM), an empty one or a malformed line (GD_EINVAL); the
 * reason is logged with the path. */
int gd_keyring_load(const char *path, struct gd_keyring *kr);
/* Creates path (mode 0600, O_EXCL: GD_EEXIST when it exists) holding one new
 * random key. */
int gd_keyring_generate(const char *path);
/* The key with this id, or NULL. */
const struct gd_key *gd_keyring_find(const struct gd_keyring *kr, const uint8_t id[GD_KEY_ID_LEN]);
/* Fills key->id from key->key. */
void gd_key_set_id(struct gd_key *key);

/* ---- primitives ----------------------------------------------------------- */

/* HMAC-SHA256 of the concatenated iovecs. */
void gd_hmac(const uint8_t *key, size_t keylen, const struct iovec *iov, int iovcnt,
	     uint8_t out[GD_MAC_LEN]);
/* A subkey for one purpose: HMAC(key, "godfs-" label). Used so that the key that
 * signs chunk capabilities is not the one that proves connections. */
void gd_key_derive(const struct gd_key *key, const char *label, uint8_t out[GD_KEY_LEN]);
/* Cryptographically random bytes (GnuTLS). GD_EIO when the generator fails. */
int gd_random(void *buf, size_t len);
/* Constant-time comparison: 1 when equal. */
int gd_mac_equal(const uint8_t *a, const uint8_t *b, size_t len);

/* ---- tokens --------------------------------------------------------------- */

/* Computes t->secret from t's fields under key (and sets t->key_id). */
void gd_token_derive(const struct gd_key *key, struct gd_token *t);
/* A token file is one line: "godfs-token-v1 id subtree expires flags keyid-hex secret-hex".
 * write: creates path with mode 0600 (replaces an existing file). load: same
 * permission rule as key files. */
int gd_token_save(const char *path, const struct gd_token *t);
int gd_token_load(const char *path, struct gd_token *t);

/* ---- the handshake, step by step (for event loops) -------------------------- */

void gd_auth_challenge(uint8_t ch[GD_AUTH_CHALLENGE_LEN], uint32_t flags);
/* Client: the proof for challenge ch. secret receives the key the verdict is
 * checked with. GD_EPROTO when ch is malformed; GD_EAUTH when cred is
 * GD_AUTH_NONE and the server is not insecure (the caller logs "the cluster
 * needs a key"; proof then holds a credential-less proof, which
 * gd_auth_client still sends so that the server logs the reason). */
int gd_auth_prove(const uint8_t ch[GD_AUTH_CHALLENGE_LEN], const struct gd_cred *cred,
		  enum gd_role role, uint8_t proof[GD_AUTH_PROOF_LEN], uint8_t secret[GD_KEY_LEN]);
/* Server: checks proof against ch and the policy; fills *peer and the verdict
 * to send back (also on refusal: status GD_EAUTH). Returns 0 or GD_EAUTH with
 * why set (for the log line: "wrong key", "unknown key id", "token expired"...). */
int gd_auth_check(const struct gd_auth_policy *pol, const uint8_t ch[GD_AUTH_CHALLENGE_LEN],
		  const uint8_t proof[GD_AUTH_PROOF_LEN], struct gd_peer_auth *peer,
		  uint8_t verdict[GD_AUTH_VERDICT_LEN], char *why, size_t whylen);
/* Client: 0 when the verdict accepts and its MAC is good; GD_EAUTH otherwise. */
int gd_auth_verdict(const uint8_t ch[GD_AUTH_CHALLENGE_LEN], const uint8_t proof[GD_AUTH_PROOF_LEN],
		    const uint8_t secret[GD_KEY_LEN], const uint8_t verdict[GD_AUTH_VERDICT_LEN]);

/* The key only the two ends of one handshake know: HMAC(secret, "godfs-tls-v1" |
 * challenge | proof). TLS uses it as its pre-shared key. */
void gd_auth_session_key(const uint8_t secret[GD_KEY_LEN], const uint8_t ch[GD_AUTH_CHALLENGE_LEN],
			 const uint8_t proof[GD_AUTH_PROOF_LEN], uint8_t out[GD_KEY_LEN]);

/* ---- the handshake on a blocking socket ------------------------------------ */

/* Client side, with a deadline for the whole exchange. GD_EAUTH (refused),
 * GD_ETIMEDOUT, GD_ECONN, GD_EPROTO (not a godfs server). */
int gd_auth_client(int fd, const struct gd_cred *cred, enum gd_role role, int timeout_ms);
/* The same, telling what the server asked for and the session key (res may be NULL). */
int gd_auth_client_ex(int fd, const struct gd_cred *cred, enum gd_role role, int timeout_ms,
		      struct gd_auth_result *res);
/* Server side, with a deadline for the whole exchange (a peer that sends its
 * proof slowly is cut at the deadline). On refusal the verdict is still sent.
 * why receives the reason of a refusal. */
int gd_auth_server(int fd, const struct gd_auth_policy *pol, int timeout_ms,
		   struct gd_peer_auth *peer, char *why, size_t whylen);

const char *gd_role_name(enum gd_role role);

#endif
