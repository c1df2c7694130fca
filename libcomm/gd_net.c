#include "gd_net.h"
#include "gd_config.h"
#include "gd_log.h"
#include "gd_status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t gd_net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void gd_net_tune(int fd)
{
	int one = 1;
	int sz = (int)GD_NET_SOCKBUF;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static int set_timeout(int fd, int opt, int timeout_ms)
{
	struct timeval tv;

	if (timeout_ms < 0)
		timeout_ms = 0;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) < 0)
		return gd_status_from_errno(errno);
	return 0;
}

int gd_net_set_send_timeout(int fd, int timeout_ms)
{
	return set_timeout(fd, SO_SNDTIMEO, timeout_ms);
}

int gd_net_set_recv_timeout(int fd, int timeout_ms)
{
	return set_timeout(fd, SO_RCVTIMEO, timeout_ms);
}

static void sockaddr_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
			snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
		else
			snprintf(buf, len, "?");
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
			snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
		else
			snprintf(buf, len, "?");
	} else {
		snprintf(buf, len, "?");
	}
}

void gd_net_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (len == 0)
		return;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "?");
		return;
	}
	sockaddr_name((const struct sockaddr *)&ss, buf, len);
}

/* Resolves host and port for connect (passive = 0) or bind (passive = 1). */
static int resolve(const char *hostport, int passive, struct addrinfo **res)
{
	char host[256];
	char portstr[16];
	int port = 0;
	struct addrinfo hints;
	int rc;

	rc = gd_parse_hostport(hostport, passive ? 0 : -1, host, sizeof(host), &port);
	if (rc < 0)
		return rc;
	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo((host[0] && strcmp(host, "*") != 0) ? host : NULL, portstr,
			 &hints, res);
	if (rc != 0) {
		gd_warn("%s: cannot resolve: %s", hostport, gai_strerror(rc));
		return GD_EINVAL;
	}
	return 0;
}

/* One non-blocking connect to one address, waited for until deadline_ms. */
static int connect_one(const struct addrinfo *ai, uint64_t deadline_ms, int *out)
{
	int fd, flags, rc = 0, err = 0;
	socklen_t el = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return GD_ECONN;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = GD_ECONN;
		goto err_after_socket;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = GD_ECONN;
			goto err_after_socket;
		}
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			uint64_t now = gd_net_now_ms();
			int n;

			if (now >= deadline_ms) {
				rc = GD_ETIMEDOUT;
				goto err_after_socket;
			}
			n = poll(&p, 1, (int)(deadline_ms - now));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = GD_ECONN;
				goto err_after_socket;
			}
			if (n > 0)
				break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
			rc = err == ETIMEDOUT ? GD_ETIMEDOUT : GD_ECONN;
			goto err_after_socket;
		}
	}
	if (fcntl(fd, F_SETFL, flags) < 0) {
		rc = GD_ECONN;
		goto err_after_socket;
	}
	gd_net_tune(fd);
	*out = fd;
	return 0;

err_after_socket:
	close(fd);
	return rc;
}

int gd_net_connect(const char *hostport, int timeout_ms, int *fd)
{
	struct addrinfo *res = NULL, *ai;
	uint64_t deadline;
	int rc;

	if (timeout_ms <= 0)
		timeout_ms = 30000;
	deadline = gd_net_now_ms() + (uint64_t)timeout_ms;
	rc = resolve(hostport, 0, &res);
	if (rc < 0)
		return rc;
	rc = GD_ECONN;
	for (ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(ai, deadline, fd);
		if (rc == 0 || rc == GD_ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

int gd_net_listen(const char *hostport, int backlog, int *fd, int *port)
{
	struct addrinfo *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int rc, s = -1, one = 1, err = 0;

	rc = resolve(hostport, 1, &res);
	if (rc < 0)
		return rc;
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (s < 0) {
			err = errno;
			continue;
		}
		(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(s, backlog > 0 ? backlog : 128) == 0)
			break;
		err = errno;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0) {
		gd_error("cannot listen on %s: %s", hostport, strerror(err));
		return GD_ECONN;
	}
	if (getsockname(s, (struct sockaddr *)&ss, &sl) < 0) {
		gd_error("cannot listen on %s: getsockname: %s", hostport, strerror(errno));
		close(s);
		return GD_ECONN;
	}
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	*fd = s;
	return 0;
}

int gd_net_iov_advance(struct iovec *iov, int iovcnt, int i, size_t n)
{
	while (i < iovcnt && n >= iov[i].iov_len) {
		n -= iov[i].iov_len;
		iov[i].iov_len = 0;
		i++;
	}
	if (i < iovcnt && n > 0) {
		iov[i].iov_base = (char *)iov[i].iov_base + n;
		iov[i].iov_len -= n;
	}
	while (i < iovcnt && iov[i].iov_len == 0)
		i++;
	return i;
}

int gd_net_readv_full(int fd, struct iovec *iov, int iovcnt, size_t *got)
{
	size_t total = 0;
	int i = gd_net_iov_advance(iov, iovcnt, 0, 0);
	int rc = 0;

	while (i < iovcnt) {
		ssize_t n = readv(fd, iov + i, iovcnt - i);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = (errno == EAGAIN || errno == EWOULDBLOCK) ? GD_ETIMEDOUT : GD_ECONN;
			break;
		}
		if (n == 0) {
			rc = GD_ECONN;
			break;
		}
		total += (size_t)n;
		i = gd_net_iov_advance(iov, iovcnt, i, (size_t)n);
	}
	if (got)
		*got = total;
	return rc;
}

int gd_net_read_full(int fd, void *buf, size_t len, size_t *got)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return gd_net_readv_full(fd, &iov, 1, got);
}

int gd_net_writev_full(int fd, struct iovec *iov, int iovcnt)
{
	int i = gd_net_iov_advance(iov, iovcnt, 0, 0);

	while (i < iovcnt) {
		struct msghdr mh;
		ssize_t n;

		/* sendmsg rather than writev: MSG_NOSIGNAL, a peer that went away
		 * must not kill the daemon with SIGPIPE. */
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov + i;
		mh.msg_iovlen = (size_t)(iovcnt - i);
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? GD_ETIMEDOUT : GD_ECONN;
		i = gd_net_iov_advance(iov, iovcnt, i, (size_t)n);
	}
	return 0;
}
