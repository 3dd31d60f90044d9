/* SPDX-License-Identifier: ISC */
/* ctl-check.c: objctl check, which verifies every commit of an object
 * file without objd, and with --fix cuts a torn tail back to the last
 * good commit. Its report is text with or without --json. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* check's report of a file that is not sound: the class of damage,
 * where, and what --fix would do about it. */
static void
ctl_check_report(const struct ctl_file *f)
{
	const struct scan_report *r = &f->scan;
	char *shown = ctl_escape(f->path, false);

	printf("%s: %s at byte %zu: %s\n", shown, ctl_file_damage_name(r),
	    r->at, r->why);
	printf("%s: %" PRIu64 " good commits up to byte %zu (revision %" PRIu64
	       "), %zu bytes in all\n",
	    shown, r->commits, r->good_end, r->revision, f->len);
	if (r->result == SCAN_TORN && r->ours)
		printf("%s: the %zu bytes after byte %zu are a torn tail, "
		       "which objd cuts at start (keeping them aside), as "
		       "objctl check --fix does\n",
		    shown, f->len - r->good_end, r->good_end);
	else
		printf("%s: not a torn tail, which a crash leaves: cutting "
		       "would drop acknowledged changes, so neither objd nor "
		       "--fix does; restore a copy of the file, or move it "
		       "aside\n",
		    shown);
	free(shown);
}

static void
ctl_check_sound(const struct ctl_file *f)
{
	char *shown = ctl_escape(f->path, false);

	printf("%s: sound: %" PRIu64 " commits, revision %" PRIu64
	       ", %zu keys, %zu bytes%s%s\n",
	    shown, f->scan.commits, f->scan.revision, ctl_file_keys(f),
	    f->scan.good_end, f->scan.compressed ? ", compressed" : "",
	    f->scan.ours ? "" : " (another program's format)");
	free(shown);
}

/* Cuts the file read back to its last good commit, through a descriptor
 * of the same file that may write. */
static int
ctl_cut(const struct ctl_file *f, char *err, size_t errlen)
{
	struct stat read_st, st;
	int fd = open(f->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;

	if (fd == -1 || fstat(fd, &st) == -1 || fstat(f->fd, &read_st) == -1)
		snprintf(err, errlen, "cannot cut %s back: %s", f->path,
		    strerror(errno));
	else if (st.st_dev != read_st.st_dev || st.st_ino != read_st.st_ino)
		snprintf(err, errlen,
		    "%s was replaced while objctl read it: nothing was cut",
		    f->path);
	else if (ftruncate(fd, (off_t)f->scan.good_end) == -1 ||
	    fsync(fd) == -1)
		snprintf(err, errlen, "cannot cut %s back: %s", f->path,
		    strerror(errno));
	else
		rc = 0;
	if (fd != -1)
		close(fd);
	return rc;
}

/* check --fix: cuts a torn tail back to the last good commit, under
 * objd's lock, keeping the cut bytes beside the file as objd does. */
static int
ctl_check_fix(struct ctl *ctl, const char *path)
{
	struct ctl_file *f = &ctl->offline;
	char err[1024], *kept, *shown;
	bool created;
	int lock_fd, status;

	if ((status = ctl_file_lock(path, &lock_fd, &created, err,
	         sizeof(err))) != OBJD_OK)
		return ctl_err(status, "%s", err);
	/* Read again under the lock: no objd changes it from now on. */
	ctl_file_free(f);
	status = ctl_file_scan(path, f, err, sizeof(err));
	if (status == OBJD_OK && f->scan.result == SCAN_OK) {
		ctl_file_unlock(path, lock_fd, created);
		ctl_check_sound(f);
		return OBJD_OK;
	}
	if (status == OBJD_OK && f->scan.result == SCAN_TORN && f->scan.ours) {
		kept = objfile_keep_tail(path, f->buf + f->scan.good_end,
		    f->len - f->scan.good_end, err, sizeof(err));
		if (kept == NULL)
			status = OBJD_FAILED;
		else if (ctl_cut(f, err, sizeof(err)) == -1)
			status = OBJD_FAILED;
		else {
			shown = ctl_escape(path, false);
			printf("%s: cut %zu bytes back to the last good commit "
			       "at byte %zu (revision %" PRIu64
			       "); they are kept in %s\n",
			    shown, f->len - f->scan.good_end, f->scan.good_end,
			    f->scan.revision, kept);
			free(shown);
		}
		free(kept);
	} else if (status == OBJD_OK) {
		ctl_check_report(f);
		snprintf(err, sizeof(err),
		    "%s: --fix cuts only a torn tail; the file is left as it "
		    "was",
		    path);
		status = OBJD_FAILED;
	}
	ctl_file_unlock(path, lock_fd, created);
	if (status != OBJD_OK)
		return ctl_err(status, "%s", err);
	return OBJD_OK;
}

int
cmd_check(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_file *f = &ctl->offline;
	char err[1024];
	int status;

	if (ctl->fix)
		return ctl_check_fix(ctl, argv[0]);
	if ((status = ctl_file_scan(argv[0], f, err, sizeof(err))) != OBJD_OK)
		return ctl_err(status, "%s", err);
	if (f->scan.result != SCAN_OK) {
		ctl_check_report(f);
		return OBJD_FAILED;
	}
	ctl_check_sound(f);
	return OBJD_OK;
}
