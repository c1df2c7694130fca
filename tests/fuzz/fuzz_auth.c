/* Fuzz target for the connection handshake (libcomm/gd_auth.c) and the key and
 * token file parsers: what a daemon does with the first bytes a stranger sends.
 *
 * Input: [u8 what][rest]. what % 3:
 *   0: rest = challenge (40) | proof (112) | verdict (40), zero-padded: the
 *      server checks the proof (cluster key and tokens accepted, token 13
 *      revoked), the client checks the verdict;
 *   1: rest is the text of a key file;
 *   2: rest is the text of a token file.
 *
 * Checked: no crash, leak or undefined behaviour; an accepted proof names a
 * known credential kind and role, a token only for the client role, never an
 * expired or revoked token; the refusal verdict never accepts; a loaded key ring
 * holds 1..GD_KEYRING_MAX keys whose ids match their bytes. The seeds
 * (make_auth_corpus.py) hold valid handshakes under FUZZ_KEY so that mutations
 * start from accepted inputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gd_auth.h"
#include "gd_log.h"
#include "gd_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_auth: %s:%d: check failed: %s\n",   \
				__FILE__, __LINE__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* The key of the seeds: bytes 0, 1, ..., 31. */
static void fuzz_ring(struct gd_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	kr->n = 1;
	for (int i = 0; i < GD_KEY_LEN; i++)
		kr->key[0].key[i] = (uint8_t)i;
	gd_key_set_id(&kr->key[0]);
}

static int revoke_13(void *ctx, const struct gd_token *t, char *why, size_t whylen)
{
	(void)ctx;
	if (t->id == 13) {
		snprintf(why, whylen, "revoked");
		return GD_EAUTH;
	}
	return 0;
}

static void handshake(const uint8_t *p, size_t n)
{
	uint8_t buf[GD_AUTH_CHALLENGE_LEN + GD_AUTH_PROOF_LEN + GD_AUTH_VERDICT_LEN] = { 0 };
	uint8_t verdict[GD_AUTH_VERDICT_LEN], secret[GD_KEY_LEN] = { 0 };
	const uint8_t *ch = buf, *proof = buf + GD_AUTH_CHALLENGE_LEN;
	struct gd_keyring kr;
	struct gd_auth_policy pol = { .keys = &kr, .tokens = true, .token_check = revoke_13 };
	struct gd_peer_auth peer;
	char why[128];
	int rc;

	memcpy(buf, p, n < sizeof(buf) ? n : sizeof(buf));
	fuzz_ring(&kr);
	for (int insecure = 0; insecure < 2; insecure++) {
		pol.insecure = insecure;
		rc = gd_auth_check(&pol, ch, proof, &peer, verdict, why, sizeof(why));
		FUZZ_CHECK(rc == 0 || rc == GD_EAUTH);
		if (rc == 0) {
			FUZZ_CHECK(peer.role < GD_ROLE_COUNT);
			FUZZ_CHECK(peer.kind == GD_AUTH_CLUSTER || peer.kind == GD_AUTH_TOKEN ||
				   (insecure && peer.kind == GD_AUTH_NONE));
			if (peer.kind == GD_AUTH_TOKEN) {
				FUZZ_CHECK(peer.role == GD_ROLE_CLIENT);
				FUZZ_CHECK(peer.token.id != 13);
				FUZZ_CHECK(peer.token.expires == 0 ||
					   peer.token.expires > (uint64_t)time(NULL));
			}
		} else {
			/* a refusal never reads as an acceptance */
			FUZZ_CHECK(gd_auth_verdict(ch, proof, secret, verdict) != 0);
		}
	}
	/* the client side on the fuzzed verdict */
	rc = gd_auth_verdict(ch, proof, kr.key[0].key, buf + GD_AUTH_CHALLENGE_LEN + GD_AUTH_PROOF_LEN);
	FUZZ_CHECK(rc == 0 || rc == GD_EAUTH || rc == GD_EPROTO);
}

/* Writes the bytes to a private file and returns its path (static buffer). */
static const char *as_file(const uint8_t *p, size_t n)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/fuzz_auth.%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		abort();
	if (n)
		fwrite(p, 1, n, f);
	fclose(f);
	chmod(path, 0600);
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;

	if (!quiet) {
		gd_log_set_level((enum gd_log_level)-1);   /* parsers log every refusal */
		quiet = 1;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		handshake(data + 1, size - 1);
		break;
	case 1: {
		struct gd_keyring kr;
		int rc = gd_keyring_load(as_file(data + 1, size - 1), &kr);
		FUZZ_CHECK(rc == 0 || rc == GD_EINVAL);
		if (rc == 0) {
			FUZZ_CHECK(kr.n >= 1 && kr.n <= GD_KEYRING_MAX);
			for (int i = 0; i < kr.n; i++) {
				struct gd_key k = kr.key[i];
				gd_key_set_id(&k);
				FUZZ_CHECK(memcmp(k.id, kr.key[i].id, GD_KEY_ID_LEN) == 0);
			}
		}
		break;
	}
	default: {
		struct gd_token t;
		int rc = gd_token_load(as_file(data + 1, size - 1), &t);
		FUZZ_CHECK(rc == 0 || rc == GD_EINVAL);
		FUZZ_CHECK(rc < 0 || t.id != 0);
		break;
	}
	}
	return 0;
}
