/* SPDX-License-Identifier: ISC */
/* objfile-load.c: the object file's opening and loading: the folder's
 * check, the lock, the map of the file, the walk into a store
 * (common/objformat.c), and at start the cut of a torn end back to the
 * last good commit, whose bytes are kept aside (common/objfile-keep.c).
 * A reload reads a file aside on a thread (objfile_read_run). */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32.h"
#include "key.h"
#include "log.h"
#include "objfile-int.h"
#include "objfile-keep.h"
#include "paths.h"
#include "value.h"
#include "xmalloc.h"

/* objd creates, renames and cuts files in the object file's folder, so
 * no other user may change that folder: one who could would plant the
 * names objd is about to use. */
static bool
objfile_check_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a folder", dir);
		return false;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen,
		    "the folder %s belongs to uid %ld: objd keeps its file "
		    "only in a folder of its own user or of root",
		    dir, (long)st.st_uid);
		return false;
	}
	if ((st.st_mode & 0022) != 0) {
		snprintf(err, errlen,
		    "the folder %s is writable by other users (mode %04o): "
		    "objd keeps its file only in a folder that they cannot "
		    "change (chmod go-w, or choose another --file)",
		    dir, (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

/* The lock lives in its own file: the object file's inode changes at
 * every compaction, a lock on it would not hold. It is a POSIX record
 * lock, which belongs to the process, not flock(2), which belongs to the
 * open file and so to a compaction child as well: after a kill -9 of objd
 * during a fork, the child kept a restarted objd out until it died. */
static int
objfile_lock(struct objfile *f, char *err, size_t errlen)
{
	char *lock_path = xasprintf("%s.lock", f->path);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char pidbuf[32] = "";
	ssize_t n;
	int fd;

	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open lock file %s: %s", lock_path,
		    strerror(errno));
		free(lock_path);
		return -1;
	}
	if (fcntl(fd, F_SETLK, &fl) == -1) {
		if (errno != EACCES && errno != EAGAIN)
			snprintf(err, errlen, "cannot lock %s: %s", lock_path,
			    strerror(errno));
		else if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			snprintf(err, errlen,
			    "%s is in use by another objd (pid %ld): stop it "
			    "first",
			    f->path, (long)fl.l_pid);
		else {
			n = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
			pidbuf[n > 0 ? n : 0] = '\0';
			pidbuf[strcspn(pidbuf, "\n")] = '\0';
			snprintf(err, errlen,
			    "%s is in use by another objd (pid %s): stop it "
			    "first",
			    f->path, *pidbuf ? pidbuf : "unknown");
		}
		close(fd);
		free(lock_path);
		return -1;
	}
	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pidbuf, (size_t)n, 0) != n)
		log_warn("cannot write pid to %s", lock_path);
	free(lock_path);
	f->lock_fd = fd;
	return 0;
}

/* The start of the names of objd's new files (a compaction's, a
 * rewrite's) beside the file at path, before mkostemp's six characters.
 * It holds the file's name, so that an objd of another file in the same
 * folder never takes them for its own; a name too long for that is
 * stood for by its crc. */
static char *
temp_prefix(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash != NULL ? slash + 1 : path;

	if (strlen(name) + sizeof(".objd-new..XXXXXX") - 1 <= NAME_MAX)
		return xasprintf(".objd-new.%s.", name);
	return xasprintf(".objd-new.%08x.",
	    (unsigned)crc32_update(0, name, strlen(name)));
}

/* Removes the new files that an objd of this path left when it was
 * killed while writing them (a compaction's child dies with it). The
 * lock is held: no live objd of this path is writing one. */
static void
remove_stale_temps(struct objfile *f)
{
	size_t plen = strlen(f->temp_prefix);
	unsigned long long bytes = 0;
	struct dirent *de;
	struct stat st;
	int n = 0;
	DIR *d;

	if ((d = opendir(f->dir)) == NULL) {
		log_warn("cannot look for stale files in %s", f->dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, f->temp_prefix, plen) != 0 ||
		    strlen(de->d_name) != plen + 6 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		        -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1) {
			log_warn("cannot remove stale %s/%s", f->dir,
			    de->d_name);
			continue;
		}
		n++;
		bytes += (unsigned long long)st.st_size;
	}
	closedir(d);
	if (n > 0)
		log_warnx("removed %d stale new file%s (%llu bytes) that an "
		          "interrupted compaction or rewrite left in %s",
		    n, n == 1 ? "" : "s", bytes, f->dir);
}

struct objfile *
objfile_open(const char *path, enum fsync_mode fsync_mode, char *err,
    size_t errlen)
{
	struct objfile *f = xcalloc(1, sizeof(*f));

	f->path = xstrdup(path);
	f->dir = paths_dirname(path);
	f->temp_prefix = temp_prefix(path);
	f->lock_fd = -1;
	f->fd = -1;
	f->child = -1;
	f->tail_fd = -1;
	f->fsync = fsync_mode;
	if (!paths_make_dir(f->dir, 0700, err, errlen) ||
	    !objfile_check_dir(f->dir, err, errlen) ||
	    objfile_lock(f, err, errlen) == -1) {
		objfile_close(f);
		return NULL;
	}
	remove_stale_temps(f);
	return f;
}

void
objfile_close(struct objfile *f)
{
	if (f == NULL)
		return;
	objfile_compact_abort(f);
	if (f->fd != -1) {
		if (f->dirty && fdatasync(f->fd) == -1)
			log_warn("cannot sync %s", f->path);
		objfile_trim_ahead(f->fd, f->size, f->path);
		close(f->fd);
	}
	if (f->lock_fd != -1)
		close(f->lock_fd);
	objfile_tail_release(f);
	free(f->spare.data);
	free(f->path);
	free(f->dir);
	free(f->temp_prefix);
	free(f);
}

/* The store's side of the walk (common/objformat.c): the entries go
 * into the store, each one it replaces or deletes into the history;
 * the records restore the history a snapshot kept. */
struct load {
	struct store *store;
	/* The change being loaded: its time and whether its deletes are
	 * expiries, from the last record without a key; whether its
	 * entries' past is known (not so for a snapshot's, until their
	 * records, nor for another program's file). */
	int64_t time;
	bool expire;
	bool known;
	uint64_t newest_head; /* of the entries whose past is unknown */
	bool times_seen;      /* the snapshot's list of commit times */
	struct objformat_record record; /* the last read, its array kept */
};

static void
scan_to_store(const struct scan_entry *e, void *arg)
{
	struct load *ld = arg;
	struct store *s = ld->store;
	struct history *h = store_history(s);

	if (!ld->known) {
		/* A snapshot's or another program's entries make no
		 * versions: their past is unknown, or in the records that
		 * follow them. */
		if (e->revision > ld->newest_head)
			ld->newest_head = e->revision;
		if (e->deleted)
			free(store_remove(s, e->key, e->keylen));
		else
			free(store_put(s,
			    store_entry_new(e->key, e->keylen, e->val,
			        e->vallen, e->revision)));
	} else if (e->deleted)
		history_change(h, e->key, e->keylen, e->revision, ld->time,
		    ld->expire ? HISTORY_EXPIRE : HISTORY_DELETE,
		    store_remove(s, e->key, e->keylen), true);
	else
		history_change(h, e->key, e->keylen, e->revision, ld->time,
		    HISTORY_SET,
		    store_put(s,
		        store_entry_new(e->key, e->keylen, e->val, e->vallen,
		            e->revision)),
		    true);
	if (!e->deleted && (e->deadline != 0 || e->holder != 0))
		store_lease_set(s, e->key, e->keylen, e->deadline, e->holder);
}

/* Applies a history record: a key's versions, or the time of the change
 * whose entries follow. false if it is malformed. */
static bool
load_record(struct load *ld, const uint8_t *p, size_t len, bool ours)
{
	struct objformat_record *r = &ld->record;
	char why[256];

	if (objformat_read_record(p, len, r) == -1)
		return false;
	if (r->keylen == 0) {
		ld->time = r->time;
		ld->expire = r->expire;
		return true;
	}
	if (!ours && !key_valid(r->key, r->keylen, why, sizeof(why)))
		return false;
	/* A file objd did not write is checked as strictly as a request. */
	for (size_t i = 0; i < r->nversions && !ours; i++) {
		Objd__Value *v;

		if (r->versions[i].what != HISTORY_SET)
			continue;
		v = value_unpack(r->versions[i].val, r->versions[i].vallen, why,
		    sizeof(why));
		if (v == NULL)
			return false;
		value_free(v);
	}
	history_restore(store_history(ld->store), ld->store, r->key, r->keylen,
	    r->versions, r->nversions, r->time, r->truncated);
	return true;
}

/* Applies a snapshot's list of commit times: the times of its keys set
 * once, and from which revision on such keys' past is known. */
static bool
load_times(struct load *ld, const uint8_t *p, size_t len)
{
	struct history *h = store_history(ld->store);
	struct objformat_times t;
	bool ok = objformat_read_times(p, len, &t) == 0;

	if (ok) {
		ld->times_seen = true;
		if (history_depth > 0) {
			history_set_known_since(h, t.known_since);
			for (size_t i = 0; i < t.n; i++)
				history_times_add(h, t.revisions[i],
				    (int64_t)t.times[i]);
		}
	}
	free(t.revisions);
	free(t.times);
	return ok;
}

static bool
scan_record_to_store(enum scan_record_kind kind, const uint8_t *p, size_t len,
    bool ours, void *arg)
{
	struct load *ld = arg;

	if (kind == SCAN_RECORD_TIMES)
		return load_times(ld, p, len);
	return load_record(ld, p, len, ours);
}

/* After the first change (a snapshot, or another program's file), each
 * entry is a new version of its key. A snapshot's keys without a record
 * were set once if its list of times says so; without a list (a file
 * written without history), their past is unknown. */
static void
scan_committed(uint64_t revision, void *arg)
{
	struct load *ld = arg;

	if (!ld->known && !ld->times_seen && history_depth > 0)
		history_set_known_since(store_history(ld->store),
		    revision > ld->newest_head ? revision : ld->newest_head);
	ld->known = true;
}

/* Inserting a million keys otherwise waits on memory for each. */
static void
scan_prefetch_slot(const char *key, size_t keylen, void *arg)
{
	const struct load *ld = arg;

	store_prefetch_slot(ld->store, key, keylen);
}

enum scan_result
objfile_scan_buffer(const uint8_t *buf, size_t len, struct store *s,
    size_t *good_end, bool *ours, char *err, size_t errlen)
{
	struct load ld = { .store = s };
	struct scan_ops ops = { .entry = scan_to_store,
		.prefetch = scan_prefetch_slot,
		.record = scan_record_to_store,
		.committed = scan_committed,
		.arg = &ld };
	struct scan_report rep;

	objfile_scan(buf, len, &ops, &rep);
	free(ld.record.versions);
	snprintf(err, errlen, "%s", rep.why);
	*good_end = rep.good_end;
	*ours = rep.ours;
	/* Per-key revisions come from the file; the object's is the last
	 * commit's. */
	store_set_revision(s, rep.revision);
	return rep.result;
}

/* Maps the file at path; *fdp is its descriptor, -1 if it is missing. */
static int
map_file(const char *path, int flags, int *fdp, uint8_t **map, size_t *len,
    struct stat *st, char *err, size_t errlen)
{
	/* Never through a symbolic link, and never waiting on a FIFO that
	 * someone put in the file's place. */
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	*fdp = -1;
	*map = NULL;
	*len = 0;
	if (fd == -1 && errno == ENOENT)
		return 0;
	if (fd == -1 && errno == ELOOP) {
		snprintf(err, errlen,
		    "%s is a symbolic link: objd does not follow one to the "
		    "file it writes (name the real file)",
		    path);
		return -1;
	}
	if (fd == -1 || fstat(fd, st) == -1) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st->st_size > 0) {
		*map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0);
		if (*map == MAP_FAILED) {
			*map = NULL;
			snprintf(err, errlen, "cannot map %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		*len = (size_t)st->st_size;
	}
	*fdp = fd;
	return 0;
}

/* A read of the file at the path into a store of its own, which touches
 * nothing of the objfile: it runs on a thread while the loop goes on
 * with the file it knows (reload.c). */
struct objfile_read {
	char *path;
	struct store *store;
	bool exists;
	struct stat st; /* of the file read, when it exists */
	enum objfile_load_result rc;
	char err[1024];
};

struct objfile_read *
objfile_read_new(const struct objfile *f, struct store *s)
{
	struct objfile_read *r = xcalloc(1, sizeof(*r));

	r->path = xstrdup(f->path);
	r->store = s;
	return r;
}

void
objfile_read_run(struct objfile_read *r)
{
	char why[512];
	uint8_t *map;
	size_t len, good_end;
	enum scan_result res;
	bool ours;
	int fd;

	r->rc = OBJFILE_LOAD_FAILED;
	if (map_file(r->path, O_RDONLY, &fd, &map, &len, &r->st, r->err,
	        sizeof(r->err)) == -1)
		return;
	r->exists = fd != -1;
	r->rc = OBJFILE_LOADED;
	if (fd == -1)
		return;
	res = objfile_scan_buffer(map, len, r->store, &good_end, &ours, why,
	    sizeof(why));
	if (res != SCAN_OK) {
		snprintf(r->err, sizeof(r->err), "%s", why);
		r->rc = OBJFILE_LOAD_FAILED;
	}
	if (map != NULL)
		munmap(map, len);
	close(fd);
}

enum objfile_load_result
objfile_read_finish(struct objfile *f, struct objfile_read *r, char *err,
    size_t errlen)
{
	enum objfile_load_result rc = r->rc;

	/* What objfile_load without recover notes of the file it read. */
	if (rc == OBJFILE_LOAD_FAILED && !r->exists)
		snprintf(err, errlen, "%s", r->err);
	else {
		f->at_path.exists = false;
		if (r->exists)
			objfile_identity_from(&f->at_path, &r->st);
		else {
			f->seen.exists = false;
			f->seen_appended = false;
		}
		if (rc == OBJFILE_LOAD_FAILED)
			snprintf(err, errlen, "%s", r->err);
	}
	free(r->path);
	free(r);
	return rc;
}

enum objfile_load_result
objfile_load(struct objfile *f, struct store *s, bool recover, char *err,
    size_t errlen)
{
	char why[512];
	struct stat st;
	uint8_t *map;
	size_t len, good_end, size;
	enum scan_result r;
	char *kept;
	bool ours;
	int fd;

	if (map_file(f->path, recover ? O_RDWR : O_RDONLY, &fd, &map, &len, &st,
	        err, errlen) == -1)
		return OBJFILE_LOAD_FAILED;
	f->at_path.exists = false;
	if (fd != -1)
		objfile_identity_from(&f->at_path, &st);
	if (fd == -1) {
		f->seen.exists = false;
		f->seen_appended = false;
		return OBJFILE_LOADED;
	}
	r = objfile_scan_buffer(map, len, s, &good_end, &ours, why,
	    sizeof(why));
	size = len;
	if (r == SCAN_TORN && recover && ours) {
		log_warnx("%s: %s: cutting %zu bytes back to the last good "
		          "commit, at byte %zu",
		    f->path, why, len - good_end, good_end);
		kept = objfile_keep_tail(f->path, map + good_end,
		    len - good_end, err, errlen);
		if (kept != NULL)
			log_warnx("kept the %zu bytes cut from %s in %s",
			    len - good_end, f->path, kept);
		if (kept == NULL)
			r = SCAN_INVALID;
		else if (ftruncate(fd, (off_t)good_end) == -1 ||
		    fsync(fd) == -1) {
			snprintf(err, errlen, "cannot cut %s back: %s", f->path,
			    strerror(errno));
			r = SCAN_INVALID;
		} else {
			f->stats.recovered_bytes = len - good_end;
			free(kept);
			size = good_end;
			r = SCAN_OK;
		}
	} else if (r == SCAN_DAMAGED && recover)
		snprintf(err, errlen,
		    "%s: not a torn end, which a crash leaves, so objd cuts "
		    "nothing off; restore a copy of the file, or move it "
		    "aside to start without its changes",
		    why);
	else if (r != SCAN_OK)
		snprintf(err, errlen, "%s", why);
	if (map != NULL)
		munmap(map, len);
	if (r != SCAN_OK) {
		close(fd);
		return OBJFILE_LOAD_FAILED;
	}
	/* The file objd writes is its owner's alone, as the ones it
	 * creates are; a file it refuses stays as it was. */
	if (recover && (st.st_mode & 077) != 0) {
		if (fchmod(fd, 0600) == -1)
			log_warn("cannot make %s mode 0600", f->path);
		else
			log_info("made %s mode 0600 (it was %04o)", f->path,
			    (unsigned)(st.st_mode & 07777));
	}
	if (!recover) {
		close(fd);
		return OBJFILE_LOADED;
	}
	/* Room is for --fsync always; in another mode, each change would
	 * have to rewrite the padding field after it for nothing. A crash
	 * before the cut leaves the room, which is as good. */
	if (ours && size > good_end && f->fsync != FSYNC_ALWAYS) {
		if (ftruncate(fd, (off_t)good_end) == -1)
			log_warn("cannot cut the room off %s", f->path);
		else
			size = good_end;
	}
	/* Blocks allocated ahead by an objd that did not stop cleanly. */
	if (ours)
		objfile_trim_ahead(fd, (off_t)size, f->path);
	/* objd appends only to a file in its own format; another program's
	 * file is adopted by the caller's rewrite. */
	objfile_tail_freeze(f);
	if (f->fd != -1)
		objfile_close_replaced(f->fd, f->size);
	f->fd = ours ? fd : -1;
	f->allocated = 0;
	f->snapshot_of = NULL;
	f->good_end = (off_t)good_end;
	f->size = (off_t)size;
	if (f->fd != -1)
		objfile_note_identity(f);
	else {
		/* The file read, not whatever the path holds by now: a newer
		 * one must look changed to the next reload. */
		if (fstat(fd, &st) == 0)
			objfile_identity_from(&f->seen, &st);
		f->seen_appended = false;
		close(fd);
	}
	return ours || good_end == 0 ? OBJFILE_LOADED : OBJFILE_LOADED_FOREIGN;
}
