/* SPDX-License-Identifier: ISC */
/* notify.c: tells systemd how objd is (sd_notify(3)), without libsystemd.
 *
 * The protocol is one datagram of "NAME=value" lines sent to the UNIX
 * socket that $NOTIFY_SOCKET names: a path, or an abstract name written
 * with a leading '@'. systemd documents it as a stable interface. objd
 * writes it itself rather than link libsystemd, which would bring libcap,
 * libgcrypt, libgpg-error, liblzma, libzstd and liblz4 into a daemon that
 * may run as root, for a few sendmsg() calls.
 *
 * systemd takes the sender's credentials from the socket (SO_PASSCRED on
 * its side): nothing else is sent. A failure is logged, never fatal:
 * objd serves whether or not systemd hears it. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "objd.h"
#include "xmalloc.h"

/* Fills sun with the address that $NOTIFY_SOCKET names; its length, 0
 * if it is unset, or -1 (logged) if it is no address objd can use. */
static socklen_t
notify_address(struct sockaddr_un *sun)
{
	const char *name = getenv("NOTIFY_SOCKET");
	size_t len;

	if (name == NULL || *name == '\0')
		return 0;
	len = strlen(name);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') ||
	    len >= sizeof(sun->sun_path)) {
		/* Such as systemd 254's "vsock:" addresses. */
		log_warnx("NOTIFY_SOCKET=%s is not a UNIX socket objd can "
		          "tell systemd through",
		    name);
		return (socklen_t)-1;
	}
	memcpy(sun->sun_path, name, len);
	/* An abstract name: a NUL first, and none at the end. */
	if (name[0] == '@')
		sun->sun_path[0] = '\0';
	else
		len++;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* Sends state; false (logged) if it could not be sent. */
static bool
notify_send(const char *state)
{
	struct sockaddr_un sun;
	struct iovec iov = { .iov_base = (void *)state,
		.iov_len = strlen(state) };
	struct msghdr msg = { .msg_name = &sun,
		.msg_iov = &iov,
		.msg_iovlen = 1 };
	socklen_t len = notify_address(&sun);
	/* The log names the first line: the others only add to it. */
	int first = (int)strcspn(state, "\n"), fd;

	bool sent;

	if (len == 0)
		return true;
	if (len == (socklen_t)-1)
		return false;
	msg.msg_namelen = len;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("cannot tell systemd %.*s: socket", first, state);
		return false;
	}
	sent = sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len;
	if (!sent)
		log_warn("cannot tell systemd %.*s through %s", first, state,
		    getenv("NOTIFY_SOCKET"));
	close(fd);
	return sent;
}

void
notify_systemd(const char *state)
{
	notify_send(state);
}

void
notify_ready(void)
{
	char *state;

	state = xasprintf("READY=1\nSTATUS=serving %s on %s", options.file_path,
	    options.socket_path);
	notify_systemd(state);
	free(state);
}

void
notify_reloading(void)
{
	struct timespec ts;
	char state[96];

	/* MONOTONIC_USEC lets systemd tell this reload from an older one
	 * (Type=notify-reload requires it); older systemd ignores it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	        (unsigned long long)ts.tv_nsec / 1000ULL);
	notify_systemd(state);
}

/* The watchdog (WatchdogSec= in the unit): systemd sets WATCHDOG_USEC,
 * and WATCHDOG_PID when it is meant for one process, and restarts objd
 * if it hears no WATCHDOG=1 for that long. The ping is a timer of the
 * event loop, so a loop that hangs stops it; it runs twice per period. */
static struct event *notify_watchdog;

static void
notify_watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	static bool failed;

	/* A notify socket that fails fails every time: one warning. */
	if (failed)
		return;
	failed = !notify_send("WATCHDOG=1");
}

/* Reads a decimal number from the environment; false if name is unset
 * or not one. */
static bool
notify_env_number(const char *name, unsigned long long *v)
{
	const char *s = getenv(name);
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

void
notify_watchdog_start(struct event_base *base)
{
	unsigned long long usec, pid;
	struct timeval tv;

	if (!notify_env_number("WATCHDOG_USEC", &usec) || usec == 0)
		return;
	if (notify_env_number("WATCHDOG_PID", &pid) &&
	    pid != (unsigned long long)getpid())
		return;
	/* Twice per period, and never a timer that spins. */
	usec = usec / 2 > 1000 ? usec / 2 : 1000;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	notify_watchdog =
	    event_new(base, -1, EV_PERSIST, notify_watchdog_cb, NULL);
	if (notify_watchdog == NULL || event_add(notify_watchdog, &tv) == -1)
		fatalx("cannot start systemd's watchdog timer");
	notify_send("WATCHDOG=1");
}

void
notify_watchdog_stop(void)
{
	if (notify_watchdog != NULL)
		event_free(notify_watchdog);
	notify_watchdog = NULL;
}
