/* SPDX-License-Identifier: ISC */
/* access.c: who may use objd, and how.
 *
 * The socket's mode decides who can connect at all; the policy decides
 * what each connected peer may do. A peer is known by the credentials
 * the kernel took at connect() (SO_PEERCRED, and SO_PEERGROUPS for its
 * supplementary groups), never by anything it says. Root and the user
 * objd runs as may always read and write; --allow-rw and --allow-ro name
 * more users and groups. Everyone else may connect if the socket's mode
 * lets them, and is answered DENIED whatever they ask.
 *
 * The level is fixed at accept: a peer's credentials do not change on an
 * open connection, and group look-ups (which may ask NSS, so the network)
 * never run in the event loop. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "objd.h"
#include "xmalloc.h"

/* The most supplementary groups read for a peer (NGROUPS_MAX on Linux is
 * 65536; a peer in more is judged by its primary group alone). */
#define ACCESS_GROUPS_MAX 1024

enum access_who { WHO_USER, WHO_GROUP, WHO_ANYONE };

struct access_rule {
	enum access_who who;
	uid_t uid;
	gid_t gid;
	enum access_level level;
};

static struct {
	struct access_rule *rules;
	size_t n, cap;
	bool groups; /* some rule names a group */
} policy;

const char *
access_level_name(enum access_level level)
{
	switch (level) {
	case ACCESS_NONE:
		return "none";
	case ACCESS_READ:
		return "read-only";
	case ACCESS_WRITE:
		return "read-write";
	}
	return "?";
}

/* Reads a decimal id; false if s is not one. */
static bool
access_parse_id(const char *s, unsigned long *id)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*id = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *id < (unsigned long)UINT_MAX;
}

/* One item of a list: "name", "1001", "@group", "@100" or "*". */
static bool
access_parse_item(const char *item, struct access_rule *r, char *err,
    size_t errlen)
{
	unsigned long id;
	struct passwd *pw;
	struct group *gr;

	if (strcmp(item, "*") == 0) {
		r->who = WHO_ANYONE;
		return true;
	}
	if (item[0] == '@') {
		r->who = WHO_GROUP;
		if ((gr = getgrnam(item + 1)) != NULL)
			r->gid = gr->gr_gid;
		else if (access_parse_id(item + 1, &id))
			r->gid = (gid_t)id;
		else {
			snprintf(err, errlen, "no group named '%s'", item + 1);
			return false;
		}
		return true;
	}
	r->who = WHO_USER;
	if ((pw = getpwnam(item)) != NULL)
		r->uid = pw->pw_uid;
	else if (access_parse_id(item, &id))
		r->uid = (uid_t)id;
	else {
		snprintf(err, errlen,
		    "no user named '%s' (a group is written @name)", item);
		return false;
	}
	return true;
}

int
access_allow(const char *spec, enum access_level level, char *err,
    size_t errlen)
{
	char *copy = xstrdup(spec), *p = copy, *item;
	struct access_rule r;
	int rc = 0;

	while ((item = strsep(&p, ",")) != NULL) {
		while (isspace((unsigned char)*item))
			item++;
		for (size_t n = strlen(item);
		     n > 0 && isspace((unsigned char)item[n - 1]); n--)
			item[n - 1] = '\0';
		if (*item == '\0') {
			snprintf(err, errlen,
			    "an empty name in '%s' (names are separated by "
			    "commas)",
			    spec);
			rc = -1;
			break;
		}
		memset(&r, 0, sizeof(r));
		if (!access_parse_item(item, &r, err, errlen)) {
			rc = -1;
			break;
		}
		r.level = level;
		if (policy.n == policy.cap) {
			policy.cap = policy.cap ? policy.cap * 2 : 8;
			policy.rules = xreallocarray(policy.rules, policy.cap,
			    sizeof(*policy.rules));
		}
		policy.rules[policy.n++] = r;
		if (r.who == WHO_GROUP)
			policy.groups = true;
	}
	free(copy);
	return rc;
}

void
access_free(void)
{
	free(policy.rules);
	memset(&policy, 0, sizeof(policy));
}

bool
access_admits_others(void)
{
	return policy.n > 0;
}

/* The peer's groups as they were at connect(): its primary group, then
 * its supplementary ones (Linux 4.13 and later; a peer in more than
 * ACCESS_GROUPS_MAX is judged by its primary group alone). */
static size_t
access_peer_groups(int fd, gid_t gid, gid_t **groups)
{
	size_t cap = 64;

	*groups = xreallocarray(NULL, cap + 1, sizeof(gid_t));
	(*groups)[0] = gid;
#ifdef SO_PEERGROUPS
	for (;;) {
		socklen_t len = (socklen_t)(cap * sizeof(gid_t));

		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, *groups + 1,
		        &len) == 0)
			return 1 + len / sizeof(gid_t);
		/* On ERANGE the kernel says how much room it needs. */
		if (errno != ERANGE || cap == ACCESS_GROUPS_MAX)
			return 1;
		cap = len / sizeof(gid_t);
		if (cap > ACCESS_GROUPS_MAX)
			cap = ACCESS_GROUPS_MAX;
		*groups = xreallocarray(*groups, cap + 1, sizeof(gid_t));
	}
#else
	(void)fd;
	return 1;
#endif
}

enum access_level
access_of_peer(int fd, uid_t uid, gid_t gid)
{
	enum access_level level = ACCESS_NONE;
	gid_t *groups = NULL;
	size_t ngroups = 0;

	if (uid == 0 || uid == geteuid())
		return ACCESS_WRITE;
	if (uid == (uid_t)-1)
		return ACCESS_NONE; /* SO_PEERCRED failed: unknown */
	if (policy.groups)
		ngroups = access_peer_groups(fd, gid, &groups);
	for (size_t i = 0; i < policy.n && level != ACCESS_WRITE; i++) {
		const struct access_rule *r = &policy.rules[i];
		bool match = r->who == WHO_ANYONE ||
		    (r->who == WHO_USER && r->uid == uid);

		for (size_t j = 0; r->who == WHO_GROUP && j < ngroups; j++)
			if (groups[j] == r->gid)
				match = true;
		if (match && r->level > level)
			level = r->level;
	}
	free(groups);
	return level;
}

enum access_verdict
access_may(enum access_level level, unsigned flags)
{
	if (level == ACCESS_WRITE ||
	    (level == ACCESS_READ && !(flags & REQ_WRITES)))
		return ACCESS_MAY;
	return level == ACCESS_READ ? ACCESS_ONLY_READS : ACCESS_NOT_ADMITTED;
}

const char *
access_verdict_reason(enum access_verdict v)
{
	switch (v) {
	case ACCESS_MAY:
		break;
	case ACCESS_ONLY_READS:
		return "it may only read";
	case ACCESS_NOT_ADMITTED:
		return "no --allow-rw or --allow-ro admits it";
	}
	return "it may";
}

void
access_refusal(enum access_verdict v, long uid, const char *name, char *buf,
    size_t len)
{
	if (v == ACCESS_ONLY_READS)
		snprintf(buf, len,
		    "permission denied: uid %ld may only read from this objd, "
		    "and a %s request writes (objd --allow-rw lets a user "
		    "write)",
		    uid, name);
	else
		snprintf(buf, len,
		    "permission denied: uid %ld may not use this objd "
		    "(see its --allow-ro and --allow-rw)",
		    uid);
}

int
access_parse_mode(const char *arg, mode_t *mode, char *err, size_t errlen)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 8);
	if (*arg < '0' || *arg > '7' || errno != 0 || *end != '\0' ||
	    v > 0777) {
		snprintf(err, errlen,
		    "--socket-mode wants an octal mode such as 0600 or 0660, "
		    "not '%s'",
		    arg);
		return -1;
	}
	if ((v & 0600) != 0600) {
		snprintf(err, errlen,
		    "--socket-mode %04lo would lock out objd's own user: it "
		    "must include 0600",
		    v);
		return -1;
	}
	*mode = (mode_t)v;
	return 0;
}

int
access_parse_group(const char *arg, gid_t *gid, char *err, size_t errlen)
{
	unsigned long id;
	struct group *gr;

	if (*arg == '@')
		arg++;
	if ((gr = getgrnam(arg)) != NULL)
		*gid = gr->gr_gid;
	else if (access_parse_id(arg, &id))
		*gid = (gid_t)id;
	else {
		snprintf(err, errlen, "--socket-group: no group named '%s'",
		    arg);
		return -1;
	}
	return 0;
}

/* Says at start what the socket's mode and the policy mean together,
 * when they disagree: a user who opened one usually meant the other. */
void
access_check_setup(bool socket_from_systemd)
{
	bool open = (options.socket_mode & 0066) != 0;

	if (socket_from_systemd)
		return;
	if (open && !access_admits_others())
		log_warnx("--socket-mode %04o lets other users connect, but "
		          "no --allow-ro or --allow-rw admits them: they will "
		          "be denied",
		    (unsigned)options.socket_mode);
	else if (!open && access_admits_others())
		log_warnx("--allow-ro and --allow-rw name other users, but "
		          "the socket is mode %04o: only root and uid %ld can "
		          "connect (see --socket-mode)",
		    (unsigned)options.socket_mode, (long)geteuid());
}
