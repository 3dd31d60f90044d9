/* SPDX-License-Identifier: ISC */
/* objfile-keep.c: keeping a torn end's bytes beside the object file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objfile-keep.h"
#include "xmalloc.h"

static int
keep_write(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A torn end is almost always garbage, but a guess that destroys data
 * is no guess to make: nothing is cut that this did not save. */
char *
objfile_keep_tail(const char *path, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
	char stamp[32], *kept = NULL;
	time_t t = time(NULL);
	struct tm tm;
	int fd = -1;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 1000 && fd == -1; i++) {
		free(kept);
		kept = i == 0 ? xasprintf("%s.torn-%s", path, stamp)
		              : xasprintf("%s.torn-%s.%d", path, stamp, i);
		fd = open(kept,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	if (fd == -1 || keep_write(fd, buf, len) == -1 || fsync(fd) == -1) {
		snprintf(err, errlen,
		    "cannot keep the %zu bytes of its torn end in %s: %s", len,
		    kept, strerror(errno));
		if (fd != -1) {
			unlink(kept);
			close(fd);
		}
		free(kept);
		return NULL;
	}
	close(fd);
	return kept;
}
