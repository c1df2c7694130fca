/* gd_auth: key files, tokens, and the handshake over a socketpair: the right
 * key passes both ways; a wrong key, a replayed proof, an altered token, an
 * expired or revoked token, a missing credential and a silent peer are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_auth.h"
#include "gd_status.h"
#include "gd_tls.h"
#include "test_tmpdir.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dir {
	char path[64];
};

static int dir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	strcpy(d->path, "/tmp/test_auth.XXXXXX");
	assert_non_null(mkdtemp(d->path));
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir *d = *state;

	test_tmpdir_remove(d->path);
	free(d);
	return 0;
}

static void key_path(const struct dir *d, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", d->path, name);
}

static void make_ring(const struct dir *d, const char *name, struct gd_keyring *kr)
{
	char p[128];

	key_path(d, name, p, sizeof(p));
	assert_int_equal(gd_keyring_generate(p), 0);
	assert_int_equal(gd_keyring_load(p, kr), 0);
	assert_int_equal(kr->n, 1);
}

static void test_keyfile_rules(void **state)
{
	struct dir *d = *state;
	struct gd_keyring a, b;
	char p[128];
	FILE *f;

	make_ring(d, "a.key", &a);
	make_ring(d, "b.key", &b);
	assert_memory_not_equal(a.key[0].key, b.key[0].key, GD_KEY_LEN);
	assert_memory_not_equal(a.key[0].id, b.key[0].id, GD_KEY_ID_LEN);
	key_path(d, "a.key", p, sizeof(p));
	assert_int_equal(gd_keyring_generate(p), GD_EEXIST);

	/* readable by others: refused */
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(gd_keyring_load(p, &a), GD_EPERM);

	/* two keys (rotation), comments, and junk */
	key_path(d, "two.key", p, sizeof(p));
	f = fopen(p, "w");
	fprintf(f, "# rotation\n%064d\n\n  %s  # new\n", 0,
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	fclose(f);
	chmod(p, 0600);
	assert_int_equal(gd_keyring_load(p, &a), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.key[1].key[1], 0x11);
	assert_ptr_equal(gd_keyring_find(&a, a.key[1].id), &a.key[1]);
	f = fopen(p, "a");
	fprintf(f, "nothex\n");
	fclose(f);
	assert_int_equal(gd_keyring_load(p, &a), GD_EINVAL);
	key_path(d, "missing.key", p, sizeof(p));
	assert_int_equal(gd_keyring_load(p, &a), GD_ENOENT);
}

/* One handshake run in memory, step by step. */
static int shake(const struct gd_auth_policy *pol, const struct gd_cred *cred, enum gd_role role,
		 struct gd_peer_auth *peer)
{
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], proof[GD_AUTH_PROOF_LEN], v[GD_AUTH_VERDICT_LEN];
	uint8_t secret[GD_KEY_LEN];
	char why[128];
	int rc, vrc;

	gd_auth_challenge(ch, pol->insecure ? GD_AUTH_F_INSECURE : 0);
	rc = gd_auth_prove(ch, cred, role, proof, secret);
	if (rc < 0)
		return rc;
	rc = gd_auth_check(pol, ch, proof, peer, v, why, sizeof(why));
	vrc = gd_auth_verdict(ch, proof, secret, v);
	assert_int_equal(rc, vrc);   /* both ends agree */
	return rc;
}

static void test_cluster_key(void **state)
{
	struct dir *d = *state;
	struct gd_keyring a, b;
	struct gd_peer_auth peer;
	struct gd_auth_policy pol = { .keys = &a };
	struct gd_cred good = { .kind = GD_AUTH_CLUSTER, .keys = &a };
	struct gd_cred wrong = { .kind = GD_AUTH_CLUSTER, .keys = &b };
	struct gd_cred none = { .kind = GD_AUTH_NONE };

	make_ring(d, "a.key", &a);
	make_ring(d, "b.key", &b);
	assert_int_equal(shake(&pol, &good, GD_ROLE_CHUNKD, &peer), 0);
	assert_int_equal(peer.kind, GD_AUTH_CLUSTER);
	assert_int_equal(peer.role, GD_ROLE_CHUNKD);
	assert_int_equal(shake(&pol, &wrong, GD_ROLE_ADMIN, &peer), GD_EAUTH);
	/* no credential: the client sees at once that the server wants one */
	assert_int_equal(shake(&pol, &none, GD_ROLE_CLIENT, &peer), GD_EAUTH);

	/* same id, other key bytes: the MAC fails */
	b.key[0] = a.key[0];
	b.key[0].key[3] ^= 1;
	assert_int_equal(shake(&pol, &wrong, GD_ROLE_ADMIN, &peer), GD_EAUTH);

	/* a rotated ring accepts both keys */
	make_ring(d, "c.key", &b);
	a.key[1] = b.key[0];
	a.n = 2;
	assert_int_equal(shake(&pol, &wrong, GD_ROLE_ADMIN, &peer), 0);

	pol.insecure = true;
	assert_int_equal(shake(&pol, &none, GD_ROLE_ADMIN, &peer), 0);
	assert_int_equal(peer.kind, GD_AUTH_NONE);
}

static void test_replay_and_tamper(void **state)
{
	struct dir *d = *state;
	struct gd_keyring a;
	struct gd_peer_auth peer;
	struct gd_auth_policy pol = { .keys = &a };
	struct gd_cred good = { .kind = GD_AUTH_CLUSTER, .keys = &a };
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], ch2[GD_AUTH_CHALLENGE_LEN];
	uint8_t proof[GD_AUTH_PROOF_LEN], v[GD_AUTH_VERDICT_LEN], secret[GD_KEY_LEN];
	char why[128];

	make_ring(d, "a.key", &a);
	gd_auth_challenge(ch, 0);
	assert_int_equal(gd_auth_prove(ch, &good, GD_ROLE_CLIENT, proof, secret), 0);
	assert_int_equal(gd_auth_check(&pol, ch, proof, &peer, v, why, sizeof(why)), 0);
	assert_int_equal(gd_auth_verdict(ch, proof, secret, v), 0);

	/* the same proof on a new connection (new challenge): refused */
	gd_auth_challenge(ch2, 0);
	assert_int_equal(gd_auth_check(&pol, ch2, proof, &peer, v, why, sizeof(why)), GD_EAUTH);

	/* the role changed in flight: refused */
	proof[5] = GD_ROLE_ADMIN;
	assert_int_equal(gd_auth_check(&pol, ch, proof, &peer, v, why, sizeof(why)), GD_EAUTH);
	proof[5] = GD_ROLE_CLIENT;

	/* a forged accepting verdict without the key: the client refuses it */
	assert_int_equal(gd_auth_check(&pol, ch, proof, &peer, v, why, sizeof(why)), 0);
	v[20] ^= 1;
	assert_int_equal(gd_auth_verdict(ch, proof, secret, v), GD_EAUTH);
	/* unknown role byte */
	proof[5] = 77;
	assert_int_equal(gd_auth_check(&pol, ch, proof, &peer, v, why, sizeof(why)), GD_EAUTH);
}

static int revoke_7(void *ctx, const struct gd_token *t, char *why, size_t whylen)
{
	(void)ctx;
	if (t->id == 7) {
		snprintf(why, whylen, "token 7 revoked");
		return GD_EAUTH;
	}
	return 0;
}

static void test_tokens(void **state)
{
	struct dir *d = *state;
	struct gd_keyring a;
	struct gd_peer_auth peer;
	struct gd_auth_policy pol = { .keys = &a, .tokens = true, .token_check = revoke_7 };
	struct gd_token t = { .id = 5, .subtree = 42, .expires = 0, .flags = GD_TOKEN_READ_ONLY };
	struct gd_token loaded;
	struct gd_cred cred = { .kind = GD_AUTH_TOKEN, .token = &loaded };
	char p[128];

	make_ring(d, "a.key", &a);
	gd_token_derive(&a.key[0], &t);
	key_path(d, "t.token", p, sizeof(p));
	assert_int_equal(gd_token_save(p, &t), 0);
	assert_int_equal(gd_token_load(p, &loaded), 0);
	assert_memory_equal(&loaded, &t, sizeof(t));

	assert_int_equal(shake(&pol, &cred, GD_ROLE_CLIENT, &peer), 0);
	assert_int_equal(peer.kind, GD_AUTH_TOKEN);
	assert_int_equal(peer.token.subtree, 42);
	assert_true(peer.token.flags & GD_TOKEN_READ_ONLY);
	/* only the client role */
	assert_int_equal(shake(&pol, &cred, GD_ROLE_ADMIN, &peer), GD_EAUTH);
	/* a widened subtree or a dropped read-only flag breaks the MAC */
	loaded.subtree = 1;
	assert_int_equal(shake(&pol, &cred, GD_ROLE_CLIENT, &peer), GD_EAUTH);
	loaded = t;
	loaded.flags = 0;
	assert_int_equal(shake(&pol, &cred, GD_ROLE_CLIENT, &peer), GD_EAUTH);
	/* expired */
	t.expires = (uint64_t)time(NULL) - 1;
	gd_token_derive(&a.key[0], &t);
	loaded = t;
	assert_int_equal(shake(&pol, &cred, GD_ROLE_CLIENT, &peer), GD_EAUTH);
	/* revoked */
	t.expires = 0;
	t.id = 7;
	gd_token_derive(&a.key[0], &t);
	loaded = t;
	assert_int_equal(shake(&pol, &cred, GD_ROLE_CLIENT, &peer), GD_EAUTH);
	/* a daemon that takes no tokens */
	t.id = 8;
	gd_token_derive(&a.key[0], &t);
	loaded = t;
	pol.tokens = false;
	assert_int_equal(shake(&pol, &cred, GD_ROLE_CLIENT, &peer), GD_EAUTH);
}

struct srv {
	int fd;
	struct gd_auth_policy pol;
	int rc;
	struct gd_peer_auth peer;
	char why[128];
};

static void *server_main(void *arg)
{
	struct srv *s = arg;

	s->rc = gd_auth_server(s->fd, &s->pol, 500, &s->peer, s->why, sizeof(s->why));
	return NULL;
}

static void test_socket(void **state)
{
	struct dir *d = *state;
	struct gd_keyring a, b;
	struct gd_cred good = { .kind = GD_AUTH_CLUSTER, .keys = &a };
	struct gd_cred wrong = { .kind = GD_AUTH_CLUSTER, .keys = &b };
	struct srv s = { .pol = { .keys = &a } };
	pthread_t th;
	int sv[2];

	make_ring(d, "a.key", &a);
	make_ring(d, "b.key", &b);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.fd = sv[0];
	pthread_create(&th, NULL, server_main, &s);
	assert_int_equal(gd_auth_client(sv[1], &good, GD_ROLE_PEER, 1000), 0);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.peer.role, GD_ROLE_PEER);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.fd = sv[0];
	pthread_create(&th, NULL, server_main, &s);
	assert_int_equal(gd_auth_client(sv[1], &wrong, GD_ROLE_CLIENT, 1000), GD_EAUTH);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, GD_EAUTH);
	assert_non_null(strstr(s.why, "key"));
	close(sv[0]);
	close(sv[1]);

	/* a peer that never sends its proof is cut at the deadline */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.fd = sv[0];
	pthread_create(&th, NULL, server_main, &s);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, GD_ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);

	/* a server that is not godfs: the client gives up with EPROTO */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	{
		uint8_t junk[GD_AUTH_CHALLENGE_LEN];
		memset(junk, 'x', sizeof(junk));
		assert_int_equal(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	}
	assert_int_equal(gd_auth_client(sv[1], &good, GD_ROLE_CLIENT, 200), GD_EPROTO);
	close(sv[0]);
	close(sv[1]);
}

struct tls_arg {
	int fd;
	const uint8_t *k;
	int rc;
	struct gd_tls *t;
};

static void *tls_start_server(void *p)
{
	struct tls_arg *a = p;

	a->rc = gd_tls_start(a->fd, true, a->k, 1000, &a->t);
	gd_tls_free(a->t);
	return NULL;
}

/* TLS after the handshake: both ends derive the same session key and move 8 MiB
 * both ways through ECDHE-PSK; a server that required TLS is seen by the client. */
struct tls_srv {
	int fd;
	struct gd_auth_policy pol;
	int rc;
	size_t echoed;
};

#define TLS_BYTES (8u << 20)

/* The server's records go through an output function, as in gd_server. */
static int out_to_fd(void *ctx, const void *buf, size_t len)
{
	int fd = *(int *)ctx;
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return GD_ECONN;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *tls_server_main(void *arg)
{
	struct tls_srv *s = arg;
	struct gd_peer_auth peer;
	struct gd_tls *t;
	char why[128];
	static uint8_t buf[1 << 16];

	s->rc = gd_auth_server(s->fd, &s->pol, 2000, &peer, why, sizeof(why));
	if (s->rc < 0)
		return NULL;
	s->rc = gd_tls_start(s->fd, true, peer.session_key, 2000, &t);
	if (s->rc < 0)
		return NULL;
	gd_tls_set_output(t, out_to_fd, &s->fd);
	while (s->echoed < TLS_BYTES) {
		struct iovec iov[2] = { { buf, 7 }, { buf + 7, sizeof(buf) - 7 } };
		s->rc = gd_tls_read_full(t, buf, sizeof(buf), NULL);
		if (s->rc < 0)
			break;
		s->rc = gd_tls_encrypt(t, iov, 2);
		if (s->rc < 0)
			break;
		s->echoed += sizeof(buf);
	}
	gd_tls_free(t);
	return NULL;
}

static void *tls_writer_main(void *arg)
{
	struct gd_tls *t = arg;
	static uint8_t buf[1 << 16];

	for (size_t sent = 0; sent < TLS_BYTES; sent += sizeof(buf)) {
		struct iovec iov[2] = { { buf, 100 }, { buf + 100, sizeof(buf) - 100 } };
		memset(buf, (int)(sent >> 16), sizeof(buf));
		if (gd_tls_writev_full(t, iov, 2) < 0)
			break;
	}
	return NULL;
}

static void test_tls(void **state)
{
	struct dir *d = *state;
	struct gd_keyring a;
	struct gd_cred good = { .kind = GD_AUTH_CLUSTER, .keys = &a };
	struct tls_srv s = { .pol = { .keys = &a, .tls = true } };
	struct gd_auth_result res;
	struct gd_tls *t;
	pthread_t th, wr;
	static uint8_t buf[1 << 16];
	size_t got = 0;
	int sv[2];

	make_ring(d, "a.key", &a);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.fd = sv[0];
	pthread_create(&th, NULL, tls_server_main, &s);
	assert_int_equal(gd_auth_client_ex(sv[1], &good, GD_ROLE_CLIENT, 2000, &res), 0);
	assert_true(res.flags & GD_AUTH_F_TLS);
	assert_int_equal(gd_tls_start(sv[1], false, res.session_key, 2000, &t), 0);
	/* one thread sends while this one receives, as gd_conn does */
	pthread_create(&wr, NULL, tls_writer_main, t);
	while (got < TLS_BYTES) {
		assert_int_equal(gd_tls_read_full(t, buf, sizeof(buf), NULL), 0);
		assert_int_equal(buf[0], (uint8_t)(got >> 16));
		assert_int_equal(buf[sizeof(buf) - 1], (uint8_t)(got >> 16));
		got += sizeof(buf);
	}
	pthread_join(wr, NULL);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.echoed, TLS_BYTES);
	gd_tls_free(t);
	close(sv[0]);
	close(sv[1]);

	/* a session key that differs (a man in the middle who relayed the
	 * handshake but lacks the key) cannot finish TLS */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	{
		uint8_t k1[GD_KEY_LEN] = { 1 }, k2[GD_KEY_LEN] = { 2 };
		pthread_t th2;
		struct gd_tls *t2 = NULL;
		struct tls_arg arg = { sv[0], k1, 0, NULL };
		pthread_create(&th2, NULL, tls_start_server, &arg);
		assert_int_not_equal(gd_tls_start(sv[1], false, k2, 1000, &t2), 0);
		assert_null(t2);
		pthread_join(th2, NULL);
		assert_int_not_equal(arg.rc, 0);
	}
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keyfile_rules, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_cluster_key, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_replay_and_tamper, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_tokens, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_socket, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_tls, dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
