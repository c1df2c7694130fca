/* TLS sessions keyed by the handshake's session key (gd_tls.h). */
#include "gd_tls.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

/* TLS 1.3 only, PSK with an ephemeral (EC)DH exchange only: no plain PSK (no
 * forward secrecy), no certificates. */
#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK"
#define PSK_IDENTITY "godfs"

struct gd_tls {
	gnutls_session_t s;
	gnutls_psk_client_credentials_t ccred;
	gnutls_psk_server_credentials_t scred;
	int fd;
	bool nonblock;              /* the sender's next push must not block */
	gd_tls_out_fn out;          /* set: records go here, not to the socket */
	void *out_ctx;
	int out_err;                /* the output function's last error */
	uint64_t recv_deadline_ms;  /* receiving thread only; 0 = none */
	uint8_t key[GD_KEY_LEN];
};

static ssize_t push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct gd_tls *t = p;
	ssize_t n;

	if (t->out) {
		t->out_err = t->out(t->out_ctx, buf, len);
		if (t->out_err == 0)
			return (ssize_t)len;
		gnutls_transport_set_errno(t->s, EPIPE);
		return -1;
	}
	n = send(t->fd, buf, len, MSG_NOSIGNAL | (t->nonblock ? MSG_DONTWAIT : 0));

	if (n < 0)
		gnutls_transport_set_errno(t->s, errno == EWOULDBLOCK ? EAGAIN : errno);
	return n;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct gd_tls *t = p;
	ssize_t n;

	if (t->recv_deadline_ms && gd_net_now_ms() >= t->recv_deadline_ms) {
		gnutls_transport_set_errno(t->s, EAGAIN);
		return -1;
	}
	n = recv(t->fd, buf, len, 0);

	if (n < 0)
		gnutls_transport_set_errno(t->s, errno == EWOULDBLOCK ? EAGAIN : errno);
	return n;
}

/* Only used by the handshake (gnutls_handshake_set_timeout). */
static int pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct gd_tls *t = p;
	struct pollfd pf = { .fd = t->fd, .events = POLLIN };
	int n;

	do
		n = poll(&pf, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	while (n < 0 && errno == EINTR);
	return n;
}

static int server_key(gnutls_session_t s, const gnutls_datum_t *user, gnutls_datum_t *key)
{
	struct gd_tls *t = gnutls_session_get_ptr(s);

	(void)user;
	key->data = gnutls_malloc(GD_KEY_LEN);
	if (!key->data)
		return -1;
	memcpy(key->data, t->key, GD_KEY_LEN);
	key->size = GD_KEY_LEN;
	return 0;
}

static int from_gnutls(int rc)
{
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		return GD_EAGAIN;
	if (rc == GNUTLS_E_TIMEDOUT)
		return GD_ETIMEDOUT;
	if (rc == GNUTLS_E_DECRYPTION_FAILED || rc == GNUTLS_E_KEY_USAGE_VIOLATION ||
	    rc == GNUTLS_E_INSUFFICIENT_CREDENTIALS || rc == GNUTLS_E_MAC_VERIFY_FAILED ||
	    rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return GD_EAUTH;
	return GD_ECONN;
}

void gd_tls_free(struct gd_tls *t)
{
	if (!t)
		return;
	gnutls_deinit(t->s);
	if (t->ccred)
		gnutls_psk_free_client_credentials(t->ccred);
	if (t->scred)
		gnutls_psk_free_server_credentials(t->scred);
	memset(t->key, 0, sizeof(t->key));
	gd_free(t);
}

int gd_tls_start(int fd, bool server, const uint8_t session_key[GD_KEY_LEN], int timeout_ms,
		 struct gd_tls **out)
{
	struct gd_tls *t = gd_calloc(1, sizeof(*t));
	gnutls_datum_t k = { .data = (unsigned char *)session_key, .size = GD_KEY_LEN };
	int rc;

	*out = NULL;
	if (!t)
		return GD_ENOMEM;
	t->fd = fd;
	memcpy(t->key, session_key, GD_KEY_LEN);
	if (gnutls_init(&t->s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL) < 0) {
		gd_free(t);
		return GD_ENOMEM;
	}
	gnutls_session_set_ptr(t->s, t);
	if (server) {
		rc = gnutls_psk_allocate_server_credentials(&t->scred);
		if (rc == 0) {
			gnutls_psk_set_server_credentials_function2(t->scred, server_key);
			rc = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, t->scred);
		}
	} else {
		rc = gnutls_psk_allocate_client_credentials(&t->ccred);
		if (rc == 0)
			rc = gnutls_psk_set_client_credentials(t->ccred, PSK_IDENTITY, &k, GNUTLS_PSK_KEY_RAW);
		if (rc == 0)
			rc = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, t->ccred);
	}
	if (rc == 0)
		rc = gnutls_priority_set_direct(t->s, PRIORITY, NULL);
	if (rc < 0) {
		gd_error("TLS setup: %s", gnutls_strerror(rc));
		gd_tls_free(t);
		return GD_EIO;
	}
	gnutls_transport_set_ptr(t->s, t);
	gnutls_transport_set_push_function(t->s, push);
	gnutls_transport_set_pull_function(t->s, pull);
	gnutls_transport_set_pull_timeout_function(t->s, pull_timeout);
	gnutls_handshake_set_timeout(t->s, timeout_ms > 0 ? (unsigned)timeout_ms : 1);
	do
		rc = gnutls_handshake(t->s);
	while (rc < 0 && !gnutls_error_is_fatal(rc) && rc != GNUTLS_E_TIMEDOUT &&
	       rc != GNUTLS_E_AGAIN);
	if (rc < 0) {
		gd_debug("TLS handshake: %s", gnutls_strerror(rc));
		gd_tls_free(t);
		rc = from_gnutls(rc);
		return rc == GD_EAGAIN ? GD_ETIMEDOUT : rc;
	}
	*out = t;
	return 0;
}

int gd_tls_readv_full(struct gd_tls *t, struct iovec *iov, int iovcnt, size_t *got)
{
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left) {
			ssize_t n = gnutls_record_recv(t->s, p, left);

			if (n > 0) {
				p += n;
				left -= (size_t)n;
				total += (size_t)n;
				continue;
			}
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			if (got)
				*got = total;
			if (n == GNUTLS_E_AGAIN)
				return GD_ETIMEDOUT;   /* SO_RCVTIMEO expired */
			return GD_ECONN;           /* 0 = end of stream, or a TLS error */
		}
		iov[i].iov_base = p;
		iov[i].iov_len = 0;
	}
	if (got)
		*got = total;
	return 0;
}

int gd_tls_read_full(struct gd_tls *t, void *buf, size_t len, size_t *got)
{
	struct iovec iov = { buf, len };

	return gd_tls_readv_full(t, &iov, 1, got);
}

int gd_tls_writev_full(struct gd_tls *t, struct iovec *iov, int iovcnt)
{
	t->nonblock = false;
	for (int i = 0; i < iovcnt; i++) {
		while (iov[i].iov_len) {
			ssize_t n = gnutls_record_send(t->s, iov[i].iov_base, iov[i].iov_len);

			if (n > 0) {
				iov[i].iov_base = (char *)iov[i].iov_base + n;
				iov[i].iov_len -= (size_t)n;
				continue;
			}
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			/* SO_SNDTIMEO expired: the record is half sent, the
			 * connection cannot go on */
			return n == GNUTLS_E_AGAIN ? GD_ETIMEDOUT : GD_ECONN;
		}
	}
	return 0;
}

long gd_tls_send_nb(struct gd_tls *t, const void *buf, size_t len)
{
	ssize_t n;

	t->nonblock = true;
	n = gnutls_record_send(t->s, buf, len);
	t->nonblock = false;
	if (n > 0)
		return (long)n;
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
		return GD_EAGAIN;
	return GD_ECONN;
}

size_t gd_tls_pending(struct gd_tls *t)
{
	return gnutls_record_check_pending(t->s);
}

long gd_tls_recv_some(struct gd_tls *t, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = gnutls_record_recv(t->s, buf, len);

		if (n > 0)
			return (long)n;
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_AGAIN)
			return GD_EAGAIN;
		return GD_ECONN;
	}
}

void gd_tls_set_recv_deadline(struct gd_tls *t, uint64_t deadline_ms)
{
	t->recv_deadline_ms = deadline_ms;
}

void gd_tls_set_output(struct gd_tls *t, gd_tls_out_fn out, void *ctx)
{
	t->out = out;
	t->out_ctx = ctx;
}

int gd_tls_encrypt(struct gd_tls *t, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++) {
		const char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left) {
			ssize_t n = gnutls_record_send(t->s, p, left);

			if (n > 0) {
				p += n;
				left -= (size_t)n;
				continue;
			}
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			return t->out_err < 0 ? t->out_err : GD_ECONN;
		}
	}
	return 0;
}
