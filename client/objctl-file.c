/* SPDX-License-Identifier: ISC */
/* objctl-file.c: an object file read without objd.
 *
 * The file is read, not mapped: an objd that starts meanwhile may cut
 * its torn end, and a mapped page past the new end would kill objctl.
 * What was read is a prefix of what objd wrote; the loader takes it up
 * to the last good commit, as objd itself would, so a change half
 * written while objctl reads is left out as a torn tail is. A file that
 * objd renames over the path meanwhile (a compaction) does not matter:
 * the descriptor holds the one opened. Nothing is written and objd's
 * lock is not taken, so objctl never stands in objd's way. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keypath.h"
#include "log.h"
#include "objctl-file.h"
#include "objd-client.h"
#include "value.h"
#include "xmalloc.h"

/* One entry as the walk handed it on, in the file's order. */
struct file_entry {
	char *key;
	size_t keylen;
	uint8_t *val;
	size_t vallen;
	uint64_t revision;
	size_t seq;
	bool deleted;
};

struct file_entries {
	struct file_entry *v;
	size_t n, cap;
};

static void
file_collect(const struct scan_entry *e, void *arg)
{
	struct file_entries *fe = arg;
	struct file_entry *out;

	if (fe->n == fe->cap) {
		fe->cap = fe->cap ? fe->cap * 2 : 256;
		fe->v = xreallocarray(fe->v, fe->cap, sizeof(*fe->v));
	}
	out = &fe->v[fe->n];
	out->key = xstrndup(e->key, e->keylen);
	out->keylen = e->keylen;
	out->val = e->deleted ? NULL : xmemdup(e->val, e->vallen);
	out->vallen = e->vallen;
	out->revision = e->revision;
	out->deleted = e->deleted;
	out->seq = fe->n++;
}

static int
file_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* By key as objd sorts them, then in the file's order. */
static int
file_entry_cmp(const void *x, const void *y)
{
	const struct file_entry *a = x, *b = y;
	int c = file_key_cmp(a->key, a->keylen, b->key, b->keylen);

	if (c != 0)
		return c;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* The live entries, the last of each key, as objd's answer to a get of
 * the whole object holds them. */
static int
file_build(struct ctl_file *f, struct file_entries *fe, char *err,
    size_t errlen)
{
	Objd__Response *r = xmalloc(sizeof(*r));
	int status = OBJD_OK;

	objd__response__init(r);
	r->revision = f->scan.revision;
	r->entries = xreallocarray(NULL, fe->n + 1, sizeof(*r->entries));
	if (fe->n > 0)
		qsort(fe->v, fe->n, sizeof(*fe->v), file_entry_cmp);
	for (size_t i = 0; i < fe->n; i++) {
		struct file_entry *e = &fe->v[i];
		Objd__Entry *out;

		if (i + 1 < fe->n &&
		    file_key_cmp(e->key, e->keylen, fe->v[i + 1].key,
		        fe->v[i + 1].keylen) == 0)
			continue;
		if (e->deleted || status != OBJD_OK)
			continue;
		out = xmalloc(sizeof(*out));
		objd__entry__init(out);
		out->value = objd__value__unpack(NULL, e->vallen, e->val);
		if (out->value == NULL) {
			snprintf(err, errlen,
			    "%s: the value of key \"%.64s\" does not decode",
			    f->path, e->key);
			status = OBJD_FAILED;
			free(out);
			continue;
		}
		out->key = xstrdup(e->key);
		out->revision = e->revision;
		r->entries[r->n_entries++] = out;
	}
	for (size_t i = 0; i < fe->n; i++) {
		free(fe->v[i].key);
		free(fe->v[i].val);
	}
	free(fe->v);
	f->all = r;
	return status;
}

static int
file_open(const char *path, struct ctl_file *f, char *err, size_t errlen)
{
	struct stat st;
	size_t cap;
	ssize_t n;

	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	/* No waiting on a FIFO put in the file's place. */
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (f->fd == -1) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return errno == ENOENT ? OBJD_UNREACHABLE
		    : errno == EACCES  ? OBJD_DENIED
		                       : OBJD_FAILED;
	}
	if (fstat(f->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return OBJD_FAILED;
	}
	/* What is there now; appends after this are not waited for. */
	cap = (size_t)st.st_size;
	f->buf = xmalloc(cap + 1);
	while (f->len < cap) {
		n = read(f->fd, f->buf + f->len, cap - f->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			return OBJD_FAILED;
		}
		if (n == 0)
			break;
		f->len += (size_t)n;
	}
	return OBJD_OK;
}

int
ctl_file_scan(const char *path, struct ctl_file *f, char *err, size_t errlen)
{
	struct file_entries fe = { 0 };
	struct scan_ops ops = { .entry = file_collect, .arg = &fe };
	int status;

	if ((status = file_open(path, f, err, errlen)) != OBJD_OK)
		return status;
	objfile_scan(f->buf, f->len, &ops, &f->scan);
	return file_build(f, &fe, err, errlen);
}

/* Whether the walk found a state objd would load. */
static int
file_loads(const struct ctl_file *f, char *err, size_t errlen)
{
	/* A torn tail is what an objd writing the file looks like from
	 * outside; a file that is not objd's and cut short is no state at
	 * all. */
	if (f->scan.result == SCAN_OK ||
	    (f->scan.result == SCAN_TORN && f->scan.ours))
		return OBJD_OK;
	snprintf(err, errlen,
	    "%s: %s: %s (objd does not load it; objctl check %s tells more)",
	    f->path, ctl_file_damage_name(&f->scan), f->scan.why, f->path);
	return OBJD_FAILED;
}

int
ctl_file_read(const char *path, struct ctl_file *f, char *err, size_t errlen)
{
	int status;

	if ((status = ctl_file_scan(path, f, err, errlen)) != OBJD_OK)
		return status;
	return file_loads(f, err, errlen);
}

/* The versions of one key that a file holds, gathered as the walk hands
 * the file on, as objd's loader makes them (server/objfile-load.c,
 * history.c): a snapshot's record of the key with its entry as the
 * newest version, then a version for each change of the key after. */
struct file_history {
	const char *key;
	size_t keylen;
	bool known;   /* past the first change: entries are versions */
	int64_t time; /* of the change being walked */
	bool expire;  /* its deletes are expiries */
	/* The key's entry, while nothing says its past: a snapshot's before
	 * its record, or one whose past is unknown. Its value is a copy: an
	 * entry of a deflated chunk is gone with the chunk. */
	bool alone;
	uint64_t alone_revision;
	uint8_t *alone_val;
	size_t alone_vallen;
	Objd__Version **versions;
	size_t n, cap;
	/* When the keys of a snapshot without record were set. */
	struct objformat_times times;
	uint64_t known_since;
	bool times_seen;
	uint64_t newest_head; /* of the first change's entries */
	struct objformat_record record;
	bool bad; /* a value that does not decode */
};

static bool
history_is_key(const struct file_history *fh, const char *key, size_t keylen)
{
	return keylen == fh->keylen && memcmp(key, fh->key, keylen) == 0;
}

/* When the change of a key set once at revision was made; 0 unknown.
 * As history_time_of. */
static int64_t
history_time(const struct file_history *fh, uint64_t revision)
{
	size_t lo = 0, hi = fh->times.n;

	if (revision <= fh->known_since)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fh->times.revisions[mid] <= revision)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? (int64_t)fh->times.times[lo - 1] : 0;
}

/* val is the packed value of a set; it points into the file's buffer. */
static void
history_push(struct file_history *fh, uint64_t revision, int64_t time,
    unsigned what, const uint8_t *val, size_t vallen)
{
	Objd__Version *v = xmalloc(sizeof(*v));

	objd__version__init(v);
	v->revision = revision;
	v->time = time;
	v->what = (Objd__Version__What)what;
	if (val != NULL &&
	    (v->value = objd__value__unpack(NULL, vallen, val)) == NULL)
		fh->bad = true;
	if (fh->n == fh->cap) {
		fh->cap = fh->cap ? fh->cap * 2 : 16;
		fh->versions =
		    xreallocarray(fh->versions, fh->cap, sizeof(*fh->versions));
	}
	fh->versions[fh->n++] = v;
}

static void
history_clear(struct file_history *fh)
{
	for (size_t i = 0; i < fh->n; i++)
		objd__version__free_unpacked(fh->versions[i], NULL);
	fh->n = 0;
}

/* The key's entry, alone, becomes the first version of its past. */
static void
history_push_alone(struct file_history *fh, int64_t time)
{
	history_push(fh, fh->alone_revision, time, OBJD__VERSION__WHAT__SET,
	    fh->alone_val, fh->alone_vallen);
	fh->alone = false;
}

static void
history_entry(const struct scan_entry *e, void *arg)
{
	struct file_history *fh = arg;

	if (!fh->known && e->revision > fh->newest_head)
		fh->newest_head = e->revision;
	if (!history_is_key(fh, e->key, e->keylen))
		return;
	if (!fh->known) {
		/* A snapshot's entries, or another program's, make no
		 * versions: their past is in the records after them, or
		 * unknown. */
		history_clear(fh);
		free(fh->alone_val);
		fh->alone_val = NULL;
		fh->alone = !e->deleted;
		fh->alone_revision = e->revision;
		if (fh->alone)
			fh->alone_val = xmemdup(e->val, e->vallen);
		fh->alone_vallen = e->vallen;
		return;
	}
	/* A delete of a key never set leaves nothing. */
	if (e->deleted && fh->n == 0 && !fh->alone)
		return;
	if (fh->alone)
		history_push_alone(fh, history_time(fh, fh->alone_revision));
	history_push(fh, e->revision, fh->time,
	    !e->deleted      ? OBJD__VERSION__WHAT__SET
	        : fh->expire ? OBJD__VERSION__WHAT__EXPIRE
	                     : OBJD__VERSION__WHAT__DELETE,
	    e->deleted ? NULL : e->val, e->vallen);
}

static bool
history_record(enum scan_record_kind kind, const uint8_t *p, size_t len,
    bool ours, void *arg)
{
	struct file_history *fh = arg;
	struct objformat_record *r = &fh->record;

	(void)ours; /* the walk checked another program's records */
	if (kind == SCAN_RECORD_TIMES) {
		free(fh->times.revisions);
		free(fh->times.times);
		if (objformat_read_times(p, len, &fh->times) == -1)
			return false;
		fh->known_since = fh->times.known_since;
		fh->times_seen = true;
		return true;
	}
	if (objformat_read_record(p, len, r) == -1)
		return false;
	if (r->keylen == 0) {
		fh->time = r->time;
		fh->expire = r->expire;
		return true;
	}
	if (!history_is_key(fh, r->key, r->keylen))
		return true;
	/* The versions before the key's entry, which is the newest. */
	history_clear(fh);
	for (size_t i = 0; i < r->nversions; i++)
		history_push(fh, r->versions[i].revision, r->versions[i].time,
		    r->versions[i].what, r->versions[i].val,
		    r->versions[i].vallen);
	if (fh->alone)
		history_push_alone(fh, r->time);
	return true;
}

static void
history_committed(uint64_t revision, void *arg)
{
	struct file_history *fh = arg;

	/* Without a list of times, the first change's keys came without
	 * their past. */
	if (!fh->known && !fh->times_seen)
		fh->known_since =
		    revision > fh->newest_head ? revision : fh->newest_head;
	fh->known = true;
}

int
ctl_file_history(const char *path, const char *key, Objd__Response **resp,
    char *err, size_t errlen)
{
	struct ctl_file f;
	struct file_history fh = { .key = key, .keylen = strlen(key) };
	struct scan_ops ops = { .entry = history_entry,
		.record = history_record,
		.committed = history_committed,
		.arg = &fh };
	int status;

	*resp = NULL;
	if ((status = file_open(path, &f, err, errlen)) == OBJD_OK) {
		objfile_scan(f.buf, f.len, &ops, &f.scan);
		status = file_loads(&f, err, errlen);
	}
	if (status == OBJD_OK && fh.alone)
		history_push_alone(&fh, history_time(&fh, fh.alone_revision));
	if (status == OBJD_OK && fh.bad) {
		snprintf(err, errlen,
		    "%s: a value in the history of key \"%.64s\" does not "
		    "decode",
		    path, key);
		status = OBJD_FAILED;
	} else if (status == OBJD_OK && fh.n == 0) {
		/* objd's words, as --file's get says its own. */
		snprintf(err, errlen, "key %.200s has no history", key);
		status = OBJD_NOT_FOUND;
	}
	if (status == OBJD_OK) {
		*resp = xmalloc(sizeof(**resp));
		objd__response__init(*resp);
		(*resp)->revision = f.scan.revision;
		(*resp)->versions = fh.versions;
		(*resp)->n_versions = fh.n;
		fh.versions = NULL;
		fh.n = 0;
	}
	history_clear(&fh);
	free(fh.versions);
	free(fh.alone_val);
	free(fh.record.versions);
	free(fh.times.revisions);
	free(fh.times.times);
	ctl_file_free(&f);
	return status;
}

void
ctl_file_free(struct ctl_file *f)
{
	if (f->fd != -1 && f->path != NULL)
		close(f->fd);
	free(f->path);
	free(f->buf);
	if (f->all != NULL)
		objd__response__free_unpacked(f->all, NULL);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

static const Objd__Entry *
file_find(const struct ctl_file *f, const char *key, size_t keylen)
{
	size_t lo = 0, hi = f->all->n_entries, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = file_key_cmp(f->all->entries[mid]->key,
		    strlen(f->all->entries[mid]->key), key, keylen);
		if (c == 0)
			return f->all->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static Objd__Value *
file_value_copy(const Objd__Value *v)
{
	size_t len;
	uint8_t *packed = value_pack(v, &len);
	Objd__Value *copy = objd__value__unpack(NULL, len, packed);

	free(packed);
	if (copy == NULL)
		fatalx("a value does not decode again");
	return copy;
}

/* Walks the maps named by kp->parts[1..] from v, with objd's words for
 * a member that is missing or a value that is no map. */
static int
file_walk(const Objd__Value *v, const struct keypath *kp,
    const Objd__Value **out, char *err, size_t errlen)
{
	for (size_t i = 1; i < kp->n; i++) {
		const Objd__MapValue *m = v->map_value;
		const Objd__Value *next = NULL;

		if (v->kind_case != OBJD__VALUE__KIND_MAP_VALUE) {
			snprintf(err, errlen, "%.*s is %s %s, not a map",
			    (int)kp->lens[i - 1], kp->parts[i - 1],
			    v->kind_case == OBJD__VALUE__KIND_INT_VALUE ? "an"
			                                                : "a",
			    value_type_name(v));
			return OBJD_INVALID;
		}
		for (size_t k = 0; m != NULL && k < m->n_fields; k++)
			if (strlen(m->fields[k]->key) == kp->lens[i] &&
			    memcmp(m->fields[k]->key, kp->parts[i],
			        kp->lens[i]) == 0)
				next = m->fields[k]->value;
		if (next == NULL) {
			snprintf(err, errlen, "key not found: %s has no %s",
			    kp->parts[i - 1], kp->parts[i]);
			return OBJD_NOT_FOUND;
		}
		v = next;
	}
	*out = v;
	return OBJD_OK;
}

int
ctl_file_get(const struct ctl_file *f, const char *path, Objd__Value **value,
    uint64_t *revision, char *err, size_t errlen)
{
	const Objd__Entry *e;
	const Objd__Value *v;
	struct keypath kp;
	int status;

	*value = NULL;
	*revision = 0;
	if (!keypath_parse(path, &kp, err, errlen))
		return OBJD_INVALID;
	e = file_find(f, kp.parts[0], kp.lens[0]);
	if (e == NULL) {
		snprintf(err, errlen, "key not found: %s", path);
		status = OBJD_NOT_FOUND;
	} else if ((status = file_walk(e->value, &kp, &v, err, errlen)) ==
	    OBJD_OK) {
		*value = file_value_copy(v);
		*revision = e->revision;
	}
	keypath_free(&kp);
	return status;
}

Objd__Response *
ctl_file_list(const struct ctl_file *f, const char *prefix)
{
	Objd__Response *r = xmalloc(sizeof(*r));
	size_t plen = strlen(prefix);

	objd__response__init(r);
	r->revision = f->all->revision;
	r->keys = xreallocarray(NULL, f->all->n_entries + 1, sizeof(*r->keys));
	for (size_t i = 0; i < f->all->n_entries; i++)
		if (strncmp(f->all->entries[i]->key, prefix, plen) == 0)
			r->keys[r->n_keys++] = xstrdup(f->all->entries[i]->key);
	return r;
}

size_t
ctl_file_keys(const struct ctl_file *f)
{
	return f->all != NULL ? f->all->n_entries : 0;
}

const char *
ctl_file_damage_name(const struct scan_report *r)
{
	switch (r->result) {
	case SCAN_OK:
		return "sound";
	case SCAN_TORN:
		return r->damage == SCAN_REPLAYED_COMMIT ? "replayed commits"
		                                         : "torn tail";
	case SCAN_DAMAGED:
		return r->later != 0 ? "damage followed by good commits"
		                     : "damage inside its snapshot";
	case SCAN_INVALID:
		break;
	}
	switch (r->damage) {
	case SCAN_BAD_CHUNK:
		return "bad deflated chunk";
	case SCAN_BAD_COUNT:
		return "commit with a wrong count of entries";
	default:
		return "bad entry";
	}
}

int
ctl_file_lock(const char *path, int *lock_fd, bool *created, char *err,
    size_t errlen)
{
	char *lock_path = xasprintf("%s.lock", path), pidbuf[32] = "";
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	ssize_t n;
	int fd;

	*created = false;
	fd = open(lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 && errno == ENOENT) {
		fd = open(lock_path,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		*created = fd != -1;
	}
	if (fd == -1) {
		snprintf(err, errlen, "cannot open objd's lock file %s: %s",
		    lock_path, strerror(errno));
		free(lock_path);
		return OBJD_FAILED;
	}
	free(lock_path);
	if (fcntl(fd, F_SETLK, &fl) == 0) {
		*lock_fd = fd;
		return OBJD_OK;
	}
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)fl.l_pid);
	else if ((n = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0)) > 0) {
		pidbuf[n] = '\0';
		pidbuf[strcspn(pidbuf, "\n")] = '\0';
	}
	snprintf(err, errlen,
	    "%s is in use by objd (pid %s), which holds its lock %s.lock: "
	    "stop it first, and objd itself cuts a torn tail at start",
	    path, *pidbuf ? pidbuf : "unknown", path);
	close(fd);
	return OBJD_FAILED;
}

void
ctl_file_unlock(const char *path, int lock_fd, bool created)
{
	char *lock_path;

	if (created) {
		lock_path = xasprintf("%s.lock", path);
		unlink(lock_path);
		free(lock_path);
	}
	close(lock_fd);
}
