/* The cluster key, tokens and the connection handshake (gd_auth.h).
 *
 * Wire layout (all integers big-endian):
 *
 *   challenge (40)  "GDA1" | flags u32 | server nonce [32]
 *   proof (112)     "GDA1" | kind u8 | role u8 | 0 u16 | key id [8]
 *                   | token id u64 | subtree u64 | expires u64 | flags u32 | 0 u32
 *                   | client nonce [32] | mac [32]
 *   verdict (40)    "GDA1" | status i32 | mac [32]
 *
 *   proof mac   = HMAC(secret, "godfs-auth-v1 client" | challenge | proof[0..80))
 *   verdict mac = HMAC(secret, "godfs-auth-v1 server" | challenge | proof | status)
 *   secret      = the cluster key (kind 1), or the token's secret (kind 2):
 *                 HMAC(cluster key, "godfs-token-v1" | token fields [32] | key id)
 *
 * Kind 0 carries no MAC (zeros): only a server started with --insecure takes it. */
#include "gd_auth.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_hex.h"
#include "gd_status.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const uint8_t MAGIC[4] = { 'G', 'D', 'A', '1' };
#define PROOF_MAC_OFF 80
#define PROOF_TOKEN_OFF 16
#define PROOF_NONCE_OFF 48
#define TOKEN_FIELDS_LEN 32
#define KEY_LINE_MAX 256

/* ---- byte order ---------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- primitives ------------------------------------------------------------ */

/* The crypto library failing (out of memory, no random source) leaves nothing
 * safe to do: a MAC that silently is not one would let anyone in. */
static void die(const char *what)
{
	gd_error("%s", what);
	abort();
}

void gd_hmac(const uint8_t *key, size_t keylen, const struct iovec *iov, int iovcnt,
	     uint8_t out[GD_MAC_LEN])
{
	gnutls_hmac_hd_t h;

	if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, key, keylen) < 0)
		die("HMAC-SHA256 is not available from GnuTLS");
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len && gnutls_hmac(h, iov[i].iov_base, iov[i].iov_len) < 0)
			die("HMAC-SHA256 failed");
	gnutls_hmac_deinit(h, out);
}

void gd_key_derive(const struct gd_key *key, const char *label, uint8_t out[GD_KEY_LEN])
{
	struct iovec iov[2] = {
		{ (void *)"godfs-", 6 },
		{ (void *)label, strlen(label) },
	};

	gd_hmac(key->key, GD_KEY_LEN, iov, 2, out);
}

void gd_key_set_id(struct gd_key *key)
{
	uint8_t mac[GD_MAC_LEN];

	gd_key_derive(key, "key-id", mac);
	memcpy(key->id, mac, GD_KEY_ID_LEN);
}

int gd_random(void *buf, size_t len)
{
	return gnutls_rnd(GNUTLS_RND_KEY, buf, len) < 0 ? GD_EIO : 0;
}

int gd_mac_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t d = 0;

	for (size_t i = 0; i < len; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

/* ---- files ---------------------------------------------------------------------- */

/* Opens a secret file for reading; refuses one that others may read or write. */
static FILE *open_secret(const char *path, const char *what)
{
	struct stat st;
	FILE *f = fopen(path, "re");

	if (!f) {
		gd_error("%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		gd_error("%s %s: not a regular file", what, path);
		fclose(f);
		return NULL;
	}
	if (st.st_mode & 077) {
		gd_error("%s %s: mode %04o lets others read it; chmod 600 it", what, path,
			 (unsigned)(st.st_mode & 07777));
		fclose(f);
		errno = EPERM;
		return NULL;
	}
	return f;
}

/* Strips a comment and surrounding blanks in place; returns the length left. */
static size_t trim_line(char *line)
{
	char *hash = strchr(line, '#');
	size_t n, start = 0;

	if (hash)
		*hash = '\0';
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
		     line[n - 1] == '\t'))
		n--;
	line[n] = '\0';
	while (line[start] == ' ' || line[start] == '\t')
		start++;
	memmove(line, line + start, n - start + 1);
	return n - start;
}

int gd_keyring_load(const char *path, struct gd_keyring *kr)
{
	char line[KEY_LINE_MAX];
	int lineno = 0, rc = 0;
	FILE *f;

	memset(kr, 0, sizeof(*kr));
	f = open_secret(path, "key file");
	if (!f)
		return errno == EPERM ? GD_EPERM : GD_ENOENT;
	while (fgets(line, sizeof(line), f)) {
		size_t n;

		lineno++;
		n = trim_line(line);
		if (n == 0)
			continue;
		if (kr->n == GD_KEYRING_MAX) {
			gd_error("key file %s:%d: more than %d keys", path, lineno, GD_KEYRING_MAX);
			rc = GD_EINVAL;
			break;
		}
		if (gd_hex_decode(line, n, kr->key[kr->n].key, GD_KEY_LEN) < 0) {
			gd_error("key file %s:%d: not 64 hex digits", path, lineno);
			rc = GD_EINVAL;
			break;
		}
		gd_key_set_id(&kr->key[kr->n]);
		kr->n++;
	}
	fclose(f);
	if (rc == 0 && kr->n == 0) {
		gd_error("key file %s: no key in it", path);
		rc = GD_EINVAL;
	}
	if (rc < 0)
		memset(kr, 0, sizeof(*kr));
	return rc;
}

/* Writes all of buf to a new file (flags include O_CREAT), mode 0600. */
static int write_secret(const char *path, int flags, const char *buf, size_t len)
{
	int fd = open(path, flags | O_WRONLY | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return gd_status_from_errno(errno);
	n = write(fd, buf, len);
	if (n != (ssize_t)len || fsync(fd) < 0) {
		int err = n < 0 ? errno : EIO;
		close(fd);
		unlink(path);
		return gd_status_from_errno(err);
	}
	if (close(fd) < 0)
		return gd_status_from_errno(errno);
	return 0;
}

int gd_keyring_generate(const char *path)
{
	uint8_t key[GD_KEY_LEN];
	char hex[2 * GD_KEY_LEN + 1], line[2 * GD_KEY_LEN + 96];
	int n, rc = gd_random(key, sizeof(key));

	if (rc < 0)
		return rc;
	gd_hex_encode(key, GD_KEY_LEN, hex);
	n = snprintf(line, sizeof(line),
		     "# godfs cluster key: keep it secret (docs/security.md)\n%s\n", hex);
	rc = write_secret(path, O_CREAT | O_EXCL, line, (size_t)n);
	memset(key, 0, sizeof(key));
	memset(hex, 0, sizeof(hex));
	memset(line, 0, sizeof(line));
	return rc;
}

const struct gd_key *gd_keyring_find(const struct gd_keyring *kr, const uint8_t id[GD_KEY_ID_LEN])
{
	for (int i = 0; kr && i < kr->n && i < GD_KEYRING_MAX; i++)
		if (memcmp(kr->key[i].id, id, GD_KEY_ID_LEN) == 0)
			return &kr->key[i];
	return NULL;
}

/* ---- tokens ---------------------------------------------------------------------- */

static void token_fields(const struct gd_token *t, uint8_t out[TOKEN_FIELDS_LEN])
{
	put64(out, t->id);
	put64(out + 8, t->subtree);
	put64(out + 16, t->expires);
	put32(out + 24, t->flags);
	put32(out + 28, 0);
}

void gd_token_derive(const struct gd_key *key, struct gd_token *t)
{
	uint8_t fields[TOKEN_FIELDS_LEN];
	struct iovec iov[3];

	memcpy(t->key_id, key->id, GD_KEY_ID_LEN);
	token_fields(t, fields);
	iov[0] = (struct iovec){ (void *)"godfs-token-v1", 14 };
	iov[1] = (struct iovec){ fields, sizeof(fields) };
	iov[2] = (struct iovec){ t->key_id, GD_KEY_ID_LEN };
	gd_hmac(key->key, GD_KEY_LEN, iov, 3, t->secret);
}

int gd_token_save(const char *path, const struct gd_token *t)
{
	char kid[2 * GD_KEY_ID_LEN + 1], sec[2 * GD_KEY_LEN + 1], line[256];
	int n;

	gd_hex_encode(t->key_id, GD_KEY_ID_LEN, kid);
	gd_hex_encode(t->secret, GD_KEY_LEN, sec);
	n = snprintf(line, sizeof(line), "godfs-token-v1 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32
		     " %s %s\n", t->id, t->subtree, t->expires, t->flags, kid, sec);
	memset(sec, 0, sizeof(sec));
	(void)unlink(path);
	n = write_secret(path, O_CREAT | O_EXCL, line, (size_t)n);
	memset(line, 0, sizeof(line));
	return n;
}

int gd_token_load(const char *path, struct gd_token *t)
{
	char line[KEY_LINE_MAX], kid[KEY_LINE_MAX], sec[KEY_LINE_MAX];
	FILE *f = open_secret(path, "token file");
	int rc = GD_EINVAL;

	memset(t, 0, sizeof(*t));
	if (!f)
		return errno == EPERM ? GD_EPERM : GD_ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (trim_line(line) == 0)
			continue;
		if (sscanf(line, "godfs-token-v1 %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu32 " %255s %255s",
			   &t->id, &t->subtree, &t->expires, &t->flags, kid, sec) == 6 &&
		    gd_hex_decode(kid, strlen(kid), t->key_id, GD_KEY_ID_LEN) == 0 &&
		    gd_hex_decode(sec, strlen(sec), t->secret, GD_KEY_LEN) == 0 && t->id != 0)
			rc = 0;
		break;
	}
	fclose(f);
	memset(sec, 0, sizeof(sec));
	memset(line, 0, sizeof(line));
	if (rc < 0) {
		gd_error("token file %s: not a godfs token", path);
		memset(t, 0, sizeof(*t));
	}
	return rc;
}

/* ---- the handshake ------------------------------------------------------------------ */

const char *gd_role_name(enum gd_role role)
{
	static const char *const names[GD_ROLE_COUNT] = {
		"client", "chunkd", "admin", "peer", "gateway", "meta",
	};

	return (unsigned)role < GD_ROLE_COUNT ? names[role] : "unknown";
}

void gd_auth_challenge(uint8_t ch[GD_AUTH_CHALLENGE_LEN], uint32_t flags)
{
	memcpy(ch, MAGIC, 4);
	put32(ch + 4, flags);
	if (gd_random(ch + 8, GD_NONCE_LEN) < 0)
		die("no random numbers for a handshake nonce");
}

static void proof_mac(const uint8_t *secret, const uint8_t *ch, const uint8_t *proof,
		      uint8_t out[GD_MAC_LEN])
{
	struct iovec iov[3] = {
		{ (void *)"godfs-auth-v1 client", 20 },
		{ (void *)ch, GD_AUTH_CHALLENGE_LEN },
		{ (void *)proof, PROOF_MAC_OFF },
	};

	gd_hmac(secret, GD_KEY_LEN, iov, 3, out);
}

static void verdict_mac(const uint8_t *secret, const uint8_t *ch, const uint8_t *proof,
			const uint8_t status[4], uint8_t out[GD_MAC_LEN])
{
	struct iovec iov[4] = {
		{ (void *)"godfs-auth-v1 server", 20 },
		{ (void *)ch, GD_AUTH_CHALLENGE_LEN },
		{ (void *)proof, GD_AUTH_PROOF_LEN },
		{ (void *)status, 4 },
	};

	gd_hmac(secret, GD_KEY_LEN, iov, 4, out);
}

int gd_auth_prove(const uint8_t ch[GD_AUTH_CHALLENGE_LEN], const struct gd_cred *cred,
		  enum gd_role role, uint8_t proof[GD_AUTH_PROOF_LEN], uint8_t secret[GD_KEY_LEN])
{
	enum gd_auth_kind kind = cred ? cred->kind : GD_AUTH_NONE;

	memset(proof, 0, GD_AUTH_PROOF_LEN);
	memset(secret, 0, GD_KEY_LEN);
	if (memcmp(ch, MAGIC, 4) != 0)
		return GD_EPROTO;
	memcpy(proof, MAGIC, 4);
	proof[4] = (uint8_t)kind;
	proof[5] = (uint8_t)role;
	/* The credential-less proof stays filled in: sent anyway, it lets the
	 * server log why it refuses ("no credential") instead of a lost connection. */
	if (kind == GD_AUTH_NONE && !(get32(ch + 4) & GD_AUTH_F_INSECURE))
		return GD_EAUTH;
	if (gd_random(proof + PROOF_NONCE_OFF, GD_NONCE_LEN) < 0)
		return GD_EIO;
	if (kind == GD_AUTH_CLUSTER) {
		if (!cred->keys || cred->keys->n < 1)
			return GD_EINVAL;
		memcpy(proof + 8, cred->keys->key[0].id, GD_KEY_ID_LEN);
		memcpy(secret, cred->keys->key[0].key, GD_KEY_LEN);
	} else if (kind == GD_AUTH_TOKEN) {
		if (!cred->token)
			return GD_EINVAL;
		memcpy(proof + 8, cred->token->key_id, GD_KEY_ID_LEN);
		token_fields(cred->token, proof + PROOF_TOKEN_OFF);
		memcpy(secret, cred->token->secret, GD_KEY_LEN);
	} else {
		return 0;   /* no credential: no MAC */
	}
	proof_mac(secret, ch, proof, proof + PROOF_MAC_OFF);
	return 0;
}

/* Fills the verdict; on refusal the MAC is zeros (the refused peer may not
 * hold any secret we could use). */
static void make_verdict(uint8_t v[GD_AUTH_VERDICT_LEN], int status, const uint8_t *secret,
			 const uint8_t *ch, const uint8_t *proof)
{
	memcpy(v, MAGIC, 4);
	put32(v + 4, (uint32_t)status);
	memset(v + 8, 0, GD_MAC_LEN);
	if (status == 0 && secret)
		verdict_mac(secret, ch, proof, v + 4, v + 8);
}

static int refuse(uint8_t verdict[GD_AUTH_VERDICT_LEN], char *why, size_t whylen,
		  const char *reason)
{
	snprintf(why, whylen, "%s", reason);
	make_verdict(verdict, GD_EAUTH, NULL, NULL, NULL);
	return GD_EAUTH;
}

int gd_auth_check(const struct gd_auth_policy *pol, const uint8_t ch[GD_AUTH_CHALLENGE_LEN],
		  const uint8_t proof[GD_AUTH_PROOF_LEN], struct gd_peer_auth *peer,
		  uint8_t verdict[GD_AUTH_VERDICT_LEN], char *why, size_t whylen)
{
	uint8_t mac[GD_MAC_LEN];
	const struct gd_key *key;
	struct gd_token t;
	unsigned kind = proof[4], role = proof[5];
	const uint8_t *secret;

	memset(peer, 0, sizeof(*peer));
	if (memcmp(proof, MAGIC, 4) != 0)
		return refuse(verdict, why, whylen, "not a godfs handshake");
	if (role >= GD_ROLE_COUNT)
		return refuse(verdict, why, whylen, "unknown role");
	if (kind == GD_AUTH_NONE) {
		if (!pol->insecure)
			return refuse(verdict, why, whylen, "no credential (this daemon needs the cluster key)");
		peer->kind = GD_AUTH_NONE;
		peer->role = (enum gd_role)role;
		peer->tls = pol->tls;
		make_verdict(verdict, 0, NULL, ch, proof);
		return 0;
	}
	if (kind != GD_AUTH_CLUSTER && kind != GD_AUTH_TOKEN)
		return refuse(verdict, why, whylen, "unknown credential kind");
	key = gd_keyring_find(pol->keys, proof + 8);
	if (!key)
		return refuse(verdict, why, whylen, "unknown key id (not this cluster's key)");
	memset(&t, 0, sizeof(t));
	if (kind == GD_AUTH_TOKEN) {
		if (!pol->tokens)
			return refuse(verdict, why, whylen, "tokens are not accepted here");
		if (role != GD_ROLE_CLIENT)
			return refuse(verdict, why, whylen, "a token is for the client role only");
		t.id = get64(proof + PROOF_TOKEN_OFF);
		t.subtree = get64(proof + PROOF_TOKEN_OFF + 8);
		t.expires = get64(proof + PROOF_TOKEN_OFF + 16);
		t.flags = get32(proof + PROOF_TOKEN_OFF + 24);
		gd_token_derive(key, &t);
		secret = t.secret;
	} else {
		secret = key->key;
	}
	proof_mac(secret, ch, proof, mac);
	if (!gd_mac_equal(mac, proof + PROOF_MAC_OFF, GD_MAC_LEN)) {
		memset(&t, 0, sizeof(t));
		return refuse(verdict, why, whylen,
			      kind == GD_AUTH_TOKEN ? "bad token (wrong secret or altered fields)"
						    : "wrong key (the proof does not match)");
	}
	if (kind == GD_AUTH_TOKEN) {
		if (t.expires != 0 && (uint64_t)time(NULL) >= t.expires) {
			memset(&t, 0, sizeof(t));
			return refuse(verdict, why, whylen, "token expired");
		}
		if (pol->token_check) {
			char r[128] = "token refused";
			if (pol->token_check(pol->ctx, &t, r, sizeof(r)) < 0) {
				memset(&t, 0, sizeof(t));
				return refuse(verdict, why, whylen, r);
			}
		}
	}
	make_verdict(verdict, 0, secret, ch, proof);
	gd_auth_session_key(secret, ch, proof, peer->session_key);
	peer->kind = (enum gd_auth_kind)kind;
	peer->role = (enum gd_role)role;
	peer->token = t;
	peer->tls = pol->tls;
	memset(peer->token.secret, 0, GD_KEY_LEN);
	memset(&t, 0, sizeof(t));
	return 0;
}

int gd_auth_verdict(const uint8_t ch[GD_AUTH_CHALLENGE_LEN], const uint8_t proof[GD_AUTH_PROOF_LEN],
		    const uint8_t secret[GD_KEY_LEN], const uint8_t verdict[GD_AUTH_VERDICT_LEN])
{
	uint8_t mac[GD_MAC_LEN];

	if (memcmp(verdict, MAGIC, 4) != 0)
		return GD_EPROTO;
	if (get32(verdict + 4) != 0)
		return GD_EAUTH;
	if (proof[4] == GD_AUTH_NONE)
		return 0;   /* an insecure server proves nothing */
	verdict_mac(secret, ch, proof, verdict + 4, mac);
	return gd_mac_equal(mac, verdict + 8, GD_MAC_LEN) ? 0 : GD_EAUTH;
}

void gd_auth_session_key(const uint8_t secret[GD_KEY_LEN], const uint8_t ch[GD_AUTH_CHALLENGE_LEN],
			 const uint8_t proof[GD_AUTH_PROOF_LEN], uint8_t out[GD_KEY_LEN])
{
	struct iovec iov[3] = {
		{ (void *)"godfs-tls-v1", 12 },
		{ (void *)ch, GD_AUTH_CHALLENGE_LEN },
		{ (void *)proof, GD_AUTH_PROOF_LEN },
	};

	gd_hmac(secret, GD_KEY_LEN, iov, 3, out);
}

/* ---- blocking socket helpers with one deadline ------------------------------------- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = gd_net_now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int n;

		if (now >= deadline)
			return GD_ETIMEDOUT;
		n = poll(&p, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n == 0)
			return GD_ETIMEDOUT;
		if (errno != EINTR)
			return GD_ECONN;
	}
}

static int recv_all(int fd, uint8_t *buf, size_t len, uint64_t deadline)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		int rc = wait_fd(fd, POLLIN, deadline);

		if (rc < 0)
			return rc;
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			return GD_ECONN;
		else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return GD_ECONN;
	}
	return 0;
}

static int send_all(int fd, const uint8_t *buf, size_t len, uint64_t deadline)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n;
		int rc = wait_fd(fd, POLLOUT, deadline);

		if (rc < 0)
			return rc;
		n = send(fd, buf + put, len - put, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			put += (size_t)n;
		else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return GD_ECONN;
	}
	return 0;
}

int gd_auth_client(int fd, const struct gd_cred *cred, enum gd_role role, int timeout_ms)
{
	return gd_auth_client_ex(fd, cred, role, timeout_ms, NULL);
}

int gd_auth_client_ex(int fd, const struct gd_cred *cred, enum gd_role role, int timeout_ms,
		      struct gd_auth_result *res)
{
	uint64_t deadline = gd_net_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], proof[GD_AUTH_PROOF_LEN];
	uint8_t verdict[GD_AUTH_VERDICT_LEN], secret[GD_KEY_LEN];
	int rc;

	rc = recv_all(fd, ch, sizeof(ch), deadline);
	if (rc < 0)
		return rc;
	rc = gd_auth_prove(ch, cred, role, proof, secret);
	if (rc == GD_EAUTH) {
		/* No credential for a server that wants one: still say so, so that
		 * its log names the reason, and take its (refusing) verdict. */
		if (send_all(fd, proof, sizeof(proof), deadline) == 0)
			(void)recv_all(fd, verdict, sizeof(verdict), deadline);
		return GD_EAUTH;
	}
	if (rc == 0)
		rc = send_all(fd, proof, sizeof(proof), deadline);
	if (rc == 0)
		rc = recv_all(fd, verdict, sizeof(verdict), deadline);
	if (rc == 0)
		rc = gd_auth_verdict(ch, proof, secret, verdict);
	if (rc == 0 && res) {
		res->flags = get32(ch + 4);
		gd_auth_session_key(secret, ch, proof, res->session_key);
	}
	memset(secret, 0, sizeof(secret));
	return rc;
}

int gd_auth_server(int fd, const struct gd_auth_policy *pol, int timeout_ms,
		   struct gd_peer_auth *peer, char *why, size_t whylen)
{
	uint64_t deadline = gd_net_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], proof[GD_AUTH_PROOF_LEN], verdict[GD_AUTH_VERDICT_LEN];
	int rc, sent;

	snprintf(why, whylen, "?");
	gd_auth_challenge(ch, (pol->insecure ? GD_AUTH_F_INSECURE : 0) | (pol->tls ? GD_AUTH_F_TLS : 0));
	rc = send_all(fd, ch, sizeof(ch), deadline);
	/* The magic first: a peer that sends anything else (a request frame,
	 * another protocol) is refused at once, not at the deadline. */
	if (rc == 0)
		rc = recv_all(fd, proof, 4, deadline);
	if (rc == 0 && memcmp(proof, MAGIC, 4) != 0) {
		snprintf(why, whylen, "not a godfs handshake (a request frame or another protocol)");
		make_verdict(verdict, GD_EAUTH, NULL, NULL, NULL);
		(void)send_all(fd, verdict, sizeof(verdict), deadline);
		return GD_EAUTH;
	}
	if (rc == 0)
		rc = recv_all(fd, proof + 4, sizeof(proof) - 4, deadline);
	if (rc < 0) {
		snprintf(why, whylen, "%s before the handshake ended",
			 rc == GD_ETIMEDOUT ? "timed out" : "connection lost");
		return rc;
	}
	rc = gd_auth_check(pol, ch, proof, peer, verdict, why, whylen);
	sent = send_all(fd, verdict, sizeof(verdict), deadline);
	if (rc == 0 && sent < 0) {
		snprintf(why, whylen, "connection lost before the verdict");
		return sent;
	}
	return rc;
}
