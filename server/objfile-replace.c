/* SPDX-License-Identifier: ISC */
/* objfile-replace.c: writing the object file anew, its snapshot
 * (objfile-snapshot.c) by objd (a rewrite) or by a child while objd goes
 * on appending (a compaction, a reload's write-back); its install by an
 * exchange or a no-replace rename that never drops a file another
 * program renamed in; and the move aside of a file that did not load
 * (reject). */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "objfile-int.h"
#include "paths.h"
#include "xmalloc.h"

static int
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
make_temp(struct objfile *f, char **tmp, char *err, size_t errlen)
{
	int fd;

	*tmp = xasprintf("%s/%sXXXXXX", f->dir, f->temp_prefix);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create a file in %s: %s", f->dir,
		    strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

/* What rename_over expects where no file is to be replaced. */
static const struct identity no_file;

static bool
same_file(const struct stat *st, const struct identity *id)
{
	return id->exists && st->st_dev == id->dev && st->st_ino == id->ino;
}

/* True if the path holds the file expect names, or nothing if expect
 * says none was there. */
static bool
path_holds(const struct objfile *f, const struct identity *expect)
{
	struct stat st;

	if (stat(f->path, &st) == -1)
		return errno == ENOENT && !expect->exists;
	return same_file(&st, expect);
}

/* The filesystem cannot exchange two files or refuse to replace one
 * (renameat2's flags, which NFS lacks). */
static bool
rename_flags_unsupported(int error)
{
	return error == EINVAL || error == ENOSYS || error == EOPNOTSUPP;
}

/* Renames from to to unless something is at to: DONE when renamed,
 * GAVE_WAY when to is taken, FAILED with errno. */
static enum objfile_result
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return OBJFILE_DONE;
	if (errno == EEXIST)
		return OBJFILE_GAVE_WAY;
	if (!rename_flags_unsupported(errno))
		return OBJFILE_FAILED;
	if (access(to, F_OK) == 0)
		return OBJFILE_GAVE_WAY;
	if (errno != ENOENT || rename(from, to) == -1)
		return OBJFILE_FAILED;
	return OBJFILE_DONE;
}

/* Puts the file at tmp, out, back at the object file's path, where
 * objd put the file placed: by another exchange, so that a file renamed
 * in meanwhile is not written over. Such a file is newer than out (it
 * replaced placed, which came after out), so then it goes back in the
 * same way, and out, as its rename would have it, is dropped. Returns
 * GAVE_WAY when the path holds the newest of them and tmp what is to be
 * removed, or FAILED when the way back failed. */
static enum objfile_result
exchange_back(struct objfile *f, const char *tmp, struct stat out,
    struct stat placed)
{
	struct stat back;

	/* Each turn needs another program's rename in a few system calls:
	 * a bound only against a storm of them. */
	for (int turn = 0; turn < 100; turn++) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, f->path,
		        RENAME_EXCHANGE) == -1) {
			/* The path was emptied meanwhile: out goes back
			 * only where nothing came since. */
			if (errno != ENOENT || access(tmp, F_OK) == -1)
				return OBJFILE_FAILED;
			return rename_noreplace(tmp, f->path) == OBJFILE_FAILED
			    ? OBJFILE_FAILED
			    : OBJFILE_GAVE_WAY;
		}
		if (lstat(tmp, &back) == -1)
			return OBJFILE_FAILED;
		if (back.st_dev == placed.st_dev &&
		    back.st_ino == placed.st_ino)
			return OBJFILE_GAVE_WAY;
		placed = out;
		out = back;
	}
	return OBJFILE_FAILED;
}

/* Exchanges the new file, fd at tmp, with the file at the object file's
 * path, and puts that one back unless it is the one expected (see
 * exchange_back). Returns DONE when the new file is in place, GAVE_WAY
 * when the path holds another program's file (tmp's name holds what is
 * to be removed), FAILED with errno when no exchange took place. */
static enum objfile_result
exchange_in(struct objfile *f, int fd, char **tmp,
    const struct identity *expect)
{
	struct stat out, ours;

	if (renameat2(AT_FDCWD, *tmp, AT_FDCWD, f->path, RENAME_EXCHANGE) ==
	    -1) {
		/* Nothing at the path: not the file expected either. */
		return errno == ENOENT && access(*tmp, F_OK) == 0
		    ? OBJFILE_GAVE_WAY
		    : OBJFILE_FAILED;
	}
	if (lstat(*tmp, &out) == 0 && same_file(&out, expect)) {
		unlink(*tmp);
		return OBJFILE_DONE;
	}
	if (lstat(*tmp, &out) == -1 || fstat(fd, &ours) == -1 ||
	    exchange_back(f, *tmp, out, ours) == OBJFILE_FAILED) {
		/* tmp's name may now hold another program's file, which
		 * is kept for its owner. */
		log_warnx(
		    "%s may hold a file that was renamed to %s while objd "
		    "replaced it; left there",
		    *tmp, f->path);
		free(*tmp);
		*tmp = NULL;
	}
	return OBJFILE_GAVE_WAY;
}

/* Renames the new file, fd at tmp, to the object file's path, but only
 * over the file expect names (or where none is, if expect says so): over
 * another program's file renamed in meanwhile, objd would drop it
 * unread. A look at the path before the rename leaves a window for such
 * a file, so the rename itself checks where the filesystem can. Returns
 * GAVE_WAY if the path held something else, which is left there.
 * Whatever then still has tmp's name is for objd to remove (its own
 * file, or one that a newer file replaced), or *tmp is NULL. */
static enum objfile_result
rename_over(struct objfile *f, int fd, char **tmp,
    const struct identity *expect, char *err, size_t errlen)
{
	enum objfile_result rc;

	if (expect == NULL)
		rc = rename(*tmp, f->path) == 0 ? OBJFILE_DONE : OBJFILE_FAILED;
	else if (!expect->exists)
		rc = rename_noreplace(*tmp, f->path);
	else if ((rc = exchange_in(f, fd, tmp, expect)) == OBJFILE_FAILED &&
	    rename_flags_unsupported(errno)) {
		if (!path_holds(f, expect))
			rc = OBJFILE_GAVE_WAY;
		else if (rename(*tmp, f->path) == 0)
			rc = OBJFILE_DONE;
	}
	if (rc == OBJFILE_FAILED)
		snprintf(err, errlen, "cannot rename %s to %s: %s", *tmp,
		    f->path, strerror(errno));
	return rc;
}

/* Puts a fully written temporary file in place of the object file (see
 * rename_over for expect) and makes it the file objd appends to, at
 * end; its snapshot was written from the rings of snapshot_of. */
static enum objfile_result
install_file(struct objfile *f, int fd, char **tmp,
    const struct identity *expect, off_t end, off_t size,
    const struct history *snapshot_of, char *err, size_t errlen)
{
	enum objfile_result rc;

	if ((rc = rename_over(f, fd, tmp, expect, err, errlen)) != OBJFILE_DONE)
		return rc;
	/* The rename is durable only once the folder is. */
	if (sync_dir(f->dir) == -1)
		log_warn("cannot sync folder %s", f->dir);
	objfile_tail_freeze(f);
	if (f->fd != -1)
		objfile_close_replaced(f->fd, f->size);
	f->fd = fd;
	f->allocated = 0;
	f->snapshot_of = snapshot_of;
	f->good_end = end;
	f->size = size;
	f->dirty = false;
	f->needs_rewrite = false;
	objfile_note_identity(f);
	free(*tmp);
	*tmp = NULL;
	return OBJFILE_DONE;
}

/* Writes s as a new file and renames it over the old one, or only over
 * the file expect names (see rename_over): returns 1, err unset, if the
 * path holds another. */
enum objfile_result
objfile_rewrite_expecting(struct objfile *f, const struct store *s,
    const struct identity *expect, char *err, size_t errlen)
{
	char *tmp;
	off_t end, size = -1;
	enum objfile_result rc = OBJFILE_FAILED;
	int fd;

	objfile_compact_abort(f);
	if (!paths_make_dir(f->dir, 0700, err, errlen))
		return OBJFILE_FAILED;
	if ((fd = make_temp(f, &tmp, err, errlen)) == -1)
		return OBJFILE_FAILED;
	end = objfile_write_snapshot(fd, s, f->compress, -1, NULL);
	if (end != -1)
		size = objfile_finish_new_file(fd, end, NULL, 0,
		    f->fsync == FSYNC_ALWAYS);
	if (end == -1 || size == -1 || fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", f->path,
		    strerror(errno));
		goto fail;
	}
	/* A file renamed in during the write is seen here; one renamed in
	 * after, by the rename itself. */
	if (expect == NULL || path_holds(f, expect))
		rc = install_file(f, fd, &tmp, expect, end, size,
		    store_history(s), err, errlen);
	else
		rc = OBJFILE_GAVE_WAY;
	if (rc == OBJFILE_DONE)
		return OBJFILE_DONE;
fail:
	/* Appending to the old file could now be wrong (it may be another
	 * program's): the next change tries a whole rewrite again. */
	f->needs_rewrite = true;
	close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}

enum objfile_result
objfile_rewrite(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	return objfile_rewrite_expecting(f, s, NULL, err, errlen);
}

enum objfile_result
objfile_write_back(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	enum objfile_result rc =
	    objfile_rewrite_expecting(f, s, &f->at_path, err, errlen);

	if (rc == OBJFILE_GAVE_WAY)
		snprintf(err, errlen,
		    "%s was replaced again while objd wrote it back; objd "
		    "loads the new file",
		    f->path);
	return rc;
}

bool
objfile_compacting(const struct objfile *f)
{
	return f->child != -1;
}

/* In the child, after its snapshot of the file at fd 3, which ends at
 * end (-1: it failed): the changes objd committed meanwhile, copied from
 * tail until the child hands them over (objfile-tail.c), and the syncs.
 * Returns the file's end, or -1.
 *
 * The snapshot is synced before the file replaces the old one, whatever
 * the mode: it stands for changes that the old file may hold on disk
 * already. With --fsync never the changes that follow it are not
 * synced, here or when objd installs a compaction's file: objd does not
 * sync them in its old file either. A sync of them lets more of them
 * come while it runs, as many as it is long, which the new file then
 * holds too, and which objd would write on its loop. So the snapshot is
 * synced first, alone. Otherwise the changes are synced here too: those
 * copied before a first sync, then those objd committed while it ran,
 * so that objd has few to sync on its loop once the child is gone. */
static off_t
child_complete(const struct objfile *f, int tail, off_t end)
{
	if (end == -1)
		return -1;
	if (f->fsync == FSYNC_NEVER) {
		if (fsync(3) == -1 ||
		    (end = objfile_tail_catch_up(f, tail, 3, end)) == -1)
			return -1;
		return objfile_tail_hand_over(f, tail, 3, end);
	}
	end = objfile_tail_catch_up(f, tail, 3, end);
	if (end == -1 || fsync(3) == -1 ||
	    (end = objfile_tail_catch_up(f, tail, 3, end)) == -1 ||
	    (end = objfile_tail_hand_over(f, tail, 3, end)) == -1)
		return -1;
	return fdatasync(3) == -1 ? -1 : end;
}

/* How much lower than objd's a compaction's child's priority is (a nice
 * value): where the two share a CPU, clients are served first, and
 * compact.c holds commits when the child falls behind. A write-back's
 * child keeps objd's: writes wait for it. */
#define COMPACT_CHILD_NICE 10

/* Lowers the calling process's priority by COMPACT_CHILD_NICE; if it
 * cannot, it runs as it is. */
static void
lower_priority(void)
{
	int prio;

	errno = 0;
	prio = getpriority(PRIO_PROCESS, 0);
	if (prio == -1 && errno != 0)
		return;
	prio = prio + COMPACT_CHILD_NICE > 19 ? 19 : prio + COMPACT_CHILD_NICE;
	(void)setpriority(PRIO_PROCESS, 0, prio);
}

/* Forks a child that writes s as a new file, for a compaction or (with
 * writes_back) a write-back: the parent goes on appending to its file
 * meanwhile. */
static pid_t
start_child(struct objfile *f, const struct store *s, bool writes_back,
    char *err, size_t errlen)
{
	char *tmp;
	pid_t pid, parent;
	bool reuse;
	int fd;

	if ((fd = make_temp(f, &tmp, err, errlen)) == -1)
		return -1;
	/* The old file's snapshot is copied from only if objd wrote it from
	 * these rings, and no failed sync put its bytes in doubt. */
	reuse = f->fd != -1 && f->snapshot_of != NULL &&
	    f->snapshot_of == store_history(s) && !f->needs_rewrite;
	/* objd writes the changes after the child's hand-over to fd. */
	objfile_tail_start(f, fd);
	parent = getpid();
	pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "cannot fork to compact: %s",
		    strerror(errno));
		objfile_tail_release(f);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (pid == 0) {
		int old = -1, tail;
		off_t end;

		/* The child sees the store as it was at fork, and only
		 * writes its own file, then copies what objd appended to
		 * the old one meanwhile (objfile-tail.c). It must not keep
		 * the lock, the socket or any client open past objd's
		 * death, nor outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (!writes_back)
			lower_priority();
		/* Out of the way of 3 and 4 first. */
		if ((f->tail_share != NULL || reuse) &&
		    (old = fcntl(f->fd, F_DUPFD_CLOEXEC, 5)) == -1)
			_exit(1);
		if (fd != 3 && (dup2(fd, 3) == -1 || close(fd) == -1))
			_exit(1);
		if (old != -1 && (dup2(old, 4) == -1 || close(old) == -1))
			_exit(1);
		close_range(old != -1 ? 5 : 4, ~0U, 0);
		tail = f->tail_share != NULL ? 4 : -1;
		end = objfile_write_snapshot(3, s, f->compress, reuse ? 4 : -1,
		    NULL);
		_exit(child_complete(f, tail, end) == -1 ? 1 : 0);
	}
	f->child = pid;
	f->child_tmp = tmp;
	f->child_snapshot_of = store_history(s);
	f->child_writes_back = writes_back;
	return pid;
}

pid_t
objfile_compact_start(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	if (f->child != -1)
		return f->child;
	return start_child(f, s, false, err, errlen);
}

pid_t
objfile_write_back_start(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	/* The write-back stands in for a compaction under way. */
	objfile_compact_abort(f);
	if (!paths_make_dir(f->dir, 0700, err, errlen))
		return -1;
	return start_child(f, s, true, err, errlen);
}

bool
objfile_writing_back(const struct objfile *f)
{
	return f->child != -1 && f->child_writes_back;
}

/* A child's file that is not installed: closed, removed, with the tail
 * copied for it. */
static void
objfile_child_file_drop(struct objfile *f, int fd, char *tmp)
{
	if (fd != -1)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	objfile_tail_release(f);
}

enum objfile_result
objfile_write_back_finish(struct objfile *f, int status, char *err,
    size_t errlen)
{
	char *tmp = f->child_tmp;
	struct stat st;
	off_t size;
	enum objfile_result rc = OBJFILE_FAILED;
	off_t end;
	int fd = -1;

	f->child = -1;
	f->child_tmp = NULL;
	f->child_writes_back = false;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "cannot write %s: its writer failed",
		    f->path);
		goto fail;
	}
	/* What objd appended while the child wrote follows its snapshot,
	 * as after a compaction. */
	fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1 ||
	    (end = objfile_tail_finish(f, fd, st.st_size)) == -1 ||
	    (size = objfile_finish_new_file(fd, end, NULL, 0,
	         f->fsync == FSYNC_ALWAYS)) == -1 ||
	    fdatasync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", f->path,
		    strerror(errno));
		goto fail;
	}
	/* A file renamed in during the write is seen here; one renamed in
	 * after, by the rename itself (as in rewrite). */
	if (path_holds(f, &f->at_path))
		rc = install_file(f, fd, &tmp, &f->at_path, end, size,
		    f->child_snapshot_of, err, errlen);
	else
		rc = OBJFILE_GAVE_WAY;
	if (rc == OBJFILE_DONE) {
		objfile_tail_release(f);
		return OBJFILE_DONE;
	}
	if (rc == OBJFILE_GAVE_WAY)
		snprintf(err, errlen,
		    "%s was replaced again while objd wrote it back; objd "
		    "loads the new file",
		    f->path);
fail:
	/* As after a failed rewrite: the next change starts a new file. */
	f->needs_rewrite = true;
	objfile_child_file_drop(f, fd, tmp);
	return rc;
}

void
objfile_compact_abort(struct objfile *f)
{
	if (f->child == -1)
		return;
	kill(f->child, SIGKILL);
	while (waitpid(f->child, NULL, 0) == -1 && errno == EINTR)
		;
	unlink(f->child_tmp);
	free(f->child_tmp);
	f->child_tmp = NULL;
	f->child = -1;
	f->child_writes_back = false;
	objfile_tail_release(f);
}

enum objfile_result
objfile_compact_finish(struct objfile *f, int status, char *err, size_t errlen)
{
	char *tmp = f->child_tmp;
	const struct identity *expect = NULL;
	struct stat st;
	off_t size;
	enum objfile_result rc;
	off_t end;
	int fd = -1;

	f->child = -1;
	f->child_tmp = NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "compaction of %s failed in its child",
		    f->path);
		goto fail;
	}
	/* Renamed over a file that another program put there meanwhile,
	 * the compaction would drop that file unread. The reload that
	 * follows writes a new one. A removed file is put back, as a
	 * reload would. (When objd does not look, its own state wins: its
	 * changes since went to the file it had open.) */
	if (f->others_watched) {
		switch (objfile_check(f)) {
		case OBJFILE_CHANGED:
			goto replaced;
		case OBJFILE_MISSING:
			expect = &no_file;
			break;
		case OBJFILE_UNCHANGED:
			expect = &f->seen;
			break;
		}
	}
	/* Changes committed while the child wrote follow its snapshot
	 * byte for byte: each fragment's crc covers only itself. With
	 * --fsync never they are not synced (child_complete). */
	fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1 ||
	    (end = objfile_tail_finish(f, fd, st.st_size)) == -1 ||
	    (size = objfile_finish_new_file(fd, end, NULL, 0,
	         f->fsync == FSYNC_ALWAYS)) == -1 ||
	    (f->fsync != FSYNC_NEVER && fdatasync(fd) == -1)) {
		snprintf(err, errlen, "cannot finish compacting %s: %s",
		    f->path, strerror(errno));
		goto fail;
	}
	/* The rename itself gives way to a file renamed in after the look
	 * above (rename_over). */
	rc = install_file(f, fd, &tmp, expect, end, size, f->child_snapshot_of,
	    err, errlen);
	if (rc == OBJFILE_GAVE_WAY)
		goto replaced;
	if (rc == OBJFILE_FAILED)
		goto fail;
	f->stats.last_compaction = now_wall();
	f->stats.compacted_size = (uint64_t)f->good_end;
	objfile_tail_release(f);
	return OBJFILE_DONE;
replaced:
	snprintf(err, errlen,
	    "%s was replaced while objd compacted it; objd loads the new "
	    "file instead",
	    f->path);
fail:
	objfile_child_file_drop(f, fd, tmp);
	return OBJFILE_FAILED;
}

pid_t
objfile_compact_child(const struct objfile *f)
{
	return f->child;
}

enum objfile_result
objfile_reject(struct objfile *f, char **moved, char *err, size_t errlen)
{
	char stamp[32], *dest = NULL;
	time_t t = time(NULL);
	struct stat st;
	struct tm tm;
	enum objfile_result rc = OBJFILE_GAVE_WAY;

	*moved = NULL;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 1000 && rc == OBJFILE_GAVE_WAY; i++) {
		free(dest);
		dest = i == 0
		    ? xasprintf("%s.rejected-%s", f->path, stamp)
		    : xasprintf("%s.rejected-%s.%d", f->path, stamp, i);
		rc = rename_noreplace(f->path, dest);
	}
	if (rc != OBJFILE_DONE) {
		snprintf(err, errlen, "cannot move %s aside: %s", f->path,
		    strerror(errno));
		free(dest);
		return OBJFILE_FAILED;
	}
	/* What was moved is another program's file, renamed in after the
	 * bad one was read: it goes back, to be loaded. */
	if (lstat(dest, &st) == -1 || !same_file(&st, &f->at_path)) {
		if (rename_noreplace(dest, f->path) != OBJFILE_DONE)
			log_warnx("the file renamed to %s while objd moved "
			          "a bad one aside is kept as %s",
			    f->path, dest);
		free(dest);
		return OBJFILE_GAVE_WAY;
	}
	f->at_path.exists = false;
	*moved = dest;
	return OBJFILE_DONE;
}
