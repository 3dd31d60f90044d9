/* SPDX-License-Identifier: ISC */
/* check_objfile.c: the object file (server/objfile*.c, common/objformat.c):
 * round trips, the lock, and files that are cut, damaged or replaced; the
 * read aside and the write-back in a child of a reload. The tests that take
 * a file through objd's own writing run twice: _i 0 with plain
 * snapshots, _i 1 with --compress (deflated chunks); both must behave
 * alike. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <libdeflate.h>

#include "crc32.h"
#include "framing.h"
#include "objd.h"
#include "objfile-int.h"
#include "value.h"
#include "xmalloc.h"

/* Each test's folder is made in base, which main removes at the end: a
 * test that fails ends before its teardown. */
static char base[64];
static char dir[96];
static char path[160];

static bool
remove_tree(const char *top)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0;
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/objd.pb", dir);
}

static void
teardown(void)
{
	ck_assert(remove_tree(dir));
}

static void
put_value(struct store *s, const char *key, Objd__Value *v, uint64_t rev)
{
	size_t len;
	uint8_t *buf = value_pack(v, &len);

	free(store_put(s, store_entry_new(key, strlen(key), buf, len, rev)));
	free(buf);
	value_free(v);
}

static struct store *
sample_store(void)
{
	struct store *s = store_new();
	Objd__Value *list = value_new_list();

	value_list_append(list, value_new_int(1));
	value_list_append(list, value_new_string("two", 3));
	put_value(s, "name", value_new_string("John", 4), 1);
	put_value(s, "age", value_new_int(30), 2);
	put_value(s, "pi", value_new_double(3.5), 3);
	put_value(s, "none", value_new_null(), 3);
	put_value(s, "blob", value_new_bytes((const uint8_t *)"\0\1\2", 3), 3);
	put_value(s, "list", list, 3);
	store_set_revision(s, 9);
	return s;
}

static uint8_t *
read_file(const char *p, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(p, O_RDONLY);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = xmalloc((size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static struct stat
path_stat(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st;
}

static off_t
file_size(void)
{
	return path_stat().st_size;
}

static ino_t
path_inode(void)
{
	return path_stat().st_ino;
}

static void
write_file(const char *p, const uint8_t *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* How many of objd's new files, not yet renamed, are in the file's
 * folder. */
static int
temp_files(void)
{
	char sub[160];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	d = opendir(sub);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".objd-new.", 10) == 0)
			n++;
	closedir(d);
	return n;
}

static void
assert_same(const struct store *a, const struct store *b)
{
	struct store_entry **all;
	size_t n;

	ck_assert_uint_eq(store_count(a), store_count(b));
	all = store_sorted(a, "", 0, &n);
	for (size_t i = 0; i < n; i++) {
		struct store_entry *o =
		    store_get(b, all[i]->data, all[i]->keylen);

		ck_assert_ptr_nonnull(o);
		ck_assert_uint_eq(o->vallen, all[i]->vallen);
		ck_assert_mem_eq(STORE_ENTRY_VALUE(o),
		    STORE_ENTRY_VALUE(all[i]), o->vallen);
		/* Each key keeps the revision that last changed it. */
		ck_assert_uint_eq(o->revision, all[i]->revision);
	}
	free(all);
}

/* An objfile for the loop tests: _i 1 writes compressed snapshots. */
static struct objfile *
open_mode(int compress)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));

	ck_assert_msg(f != NULL, "%s", err);
	objfile_set_compress(f, compress != 0);
	return f;
}

/* The file's Object, as any protobuf runtime sees it. */
static Objd__Object *
unpack_file(void)
{
	size_t len;
	uint8_t *buf = read_file(path, &len);
	Objd__Object *o = objd__object__unpack(NULL, len, buf);

	ck_assert_ptr_nonnull(o);
	free(buf);
	return o;
}

static size_t
file_chunks(void)
{
	Objd__Object *o = unpack_file();
	size_t n = o->n_deflated_entries;

	objd__object__free_unpacked(o, NULL);
	return n;
}

START_TEST(test_round_trip)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store(), *t = store_new();
	struct stat st;

	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_count(t), 0);
	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	assert_same(s, t);
	ck_assert_uint_eq(store_revision(t), 9);
	/* Each key keeps the revision that last changed it. */
	ck_assert_uint_eq(store_get(t, "age", 3)->revision, 2);
	ck_assert_uint_eq(file_chunks() > 0, _i == 1);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* The sample, 3000 more keys of every kind with revisions of their own,
 * and one value too big for a chunk. */
static struct store *
large_store(void)
{
	struct store *s = sample_store();
	uint8_t *huge = xmalloc(100000);
	char key[32];

	for (int i = 0; i < 3000; i++) {
		Objd__Value *v;

		snprintf(key, sizeof(key), "key:%06d", i);
		switch (i % 5) {
		case 0:
			v = value_new_string(key, strlen(key));
			break;
		case 1:
			v = value_new_int(-i);
			break;
		case 2:
			v = value_new_double(i / 4.0);
			break;
		case 3:
			v = value_new_bool(i % 2 == 0);
			break;
		default:
			v = value_new_list();
			value_list_append(v, value_new_null());
			value_list_append(v, value_new_int(i));
		}
		put_value(s, key, v, 10 + (uint64_t)(i % 7));
	}
	for (size_t i = 0; i < 100000; i++)
		huge[i] = (uint8_t)(i * 7919 >> 3);
	put_value(s, "huge", value_new_bytes(huge, 100000), 16);
	/* Two keys at the snapshot's revision: those carry no revision of
	 * their own, and must read back with it. */
	put_value(s, "at-snapshot", value_new_int(1), 20);
	put_value(s, "at-snapshot-2", value_new_string("x", 1), 20);
	store_set_revision(s, 20);
	free(huge);
	return s;
}

/* A compressed snapshot of many keys: chunks of at most 64 KiB of
 * entries that inflate to map entries only, a plain entry for the value
 * too big for one, a commit that counts every entry, and a load that
 * gives back every key, value and revision. */
START_TEST(test_compressed_snapshot_round_trip)
{
	char err[512];
	struct objfile *f = open_mode(1);
	struct store *s = large_store(), *t = store_new();
	Objd__Object *o;
	size_t inside = 0, plain_size, compressed_size;
	uint8_t *plain = xmalloc(65536);
	struct libdeflate_decompressor *inflater =
	    libdeflate_alloc_decompressor();

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	o = unpack_file();
	ck_assert_uint_ge(o->n_deflated_entries, 2);
	ck_assert_uint_eq(o->n_entries, 1);
	ck_assert_str_eq(o->entries[0]->key, "huge");
	ck_assert_uint_eq(o->n_commits, 1);
	ck_assert_uint_eq(o->commits[0]->n_entries, store_count(s));
	ck_assert_uint_eq(o->commits[0]->revision, 20);
	for (size_t i = 0; i < o->n_deflated_entries; i++) {
		size_t n;
		Objd__Object *part;

		ck_assert_int_eq(libdeflate_zlib_decompress(inflater,
		                     o->deflated_entries[i].data,
		                     o->deflated_entries[i].len, plain, 65536,
		                     &n),
		    LIBDEFLATE_SUCCESS);
		part = objd__object__unpack(NULL, n, plain);
		ck_assert_ptr_nonnull(part);
		ck_assert_ptr_null(part->header);
		ck_assert_uint_eq(part->n_commits, 0);
		ck_assert_uint_eq(part->n_deflated_entries, 0);
		inside += part->n_entries;
		objd__object__free_unpacked(part, NULL);
	}
	ck_assert_uint_eq(inside, store_count(s) - 1);
	libdeflate_free_decompressor(inflater);
	objd__object__free_unpacked(o, NULL);
	ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0, "%s",
	    err);
	assert_same(s, t);
	ck_assert_uint_eq(store_revision(t), 20);
	ck_assert_uint_eq(store_get(t, "at-snapshot", 11)->revision, 20);
	ck_assert_uint_eq(store_get(t, "key:000003", 10)->revision, 13);
	compressed_size = (size_t)objfile_stats(f)->file_size;

	/* The same state, plain: larger, and the same once loaded. */
	objfile_set_compress(f, false);
	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	ck_assert_uint_eq(file_chunks(), 0);
	plain_size = (size_t)objfile_stats(f)->file_size;
	ck_assert_uint_lt(compressed_size, plain_size - 100000 / 2);
	store_free(t);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	assert_same(s, t);
	free(plain);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* objfile_open(path) in a child process, as a second objd would: its
 * exit status is 0 if it got the file, 1 if not, and err goes to fd. */
static pid_t
open_elsewhere(int fd)
{
	pid_t pid = fork();
	char err[512] = "";
	struct objfile *g;

	ck_assert_int_ne(pid, -1);
	if (pid > 0)
		return pid;
	g = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
	if (write(fd, err, strlen(err)) == -1)
		_exit(2);
	_exit(g != NULL ? 0 : 1);
}

static int
open_elsewhere_status(char *err, size_t errlen)
{
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = open_elsewhere(fds[1]);
	close(fds[1]);
	n = read(fds[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_lock_keeps_second_objd_off)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(open_elsewhere_status(err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "in use by another objd") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "pid") != NULL, "%s", err);
	objfile_close(f);
	ck_assert_int_eq(open_elsewhere_status(err, sizeof(err)), 0);
}
END_TEST

/* A child of objd (a compaction's) that outlives it, even for a moment,
 * must not keep the file locked: the lock is the process's own. */
START_TEST(test_lock_dies_with_its_process)
{
	int go[2], status;
	pid_t holder, orphan = -1;
	char err[512];

	ck_assert_int_eq(pipe(go), 0);
	holder = fork();
	ck_assert_int_ne(holder, -1);
	if (holder == 0) {
		struct objfile *f;
		pid_t child;

		close(go[0]);
		f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
		if (f == NULL)
			_exit(1);
		/* The forked child inherits every descriptor, the lock's
		 * included, and lives on; the holder dies without closing. */
		if ((child = fork()) == 0) {
			pause();
			_exit(0);
		}
		if (write(go[1], &child, sizeof(child)) != sizeof(child))
			_exit(1);
		_exit(0);
	}
	close(go[1]);
	ck_assert_int_eq(read(go[0], &orphan, sizeof(orphan)),
	    (ssize_t)sizeof(orphan));
	close(go[0]);
	ck_assert_int_eq(waitpid(holder, &status, 0), holder);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(kill(orphan, 0), 0); /* still alive */
	status = open_elsewhere_status(err, sizeof(err));
	kill(orphan, SIGKILL);
	ck_assert_msg(status == 0, "the orphan kept the file: %s", err);
}
END_TEST

/* The file a rewrite just wrote, without the room after it. */
static uint8_t *
read_snapshot(struct objfile *f, size_t *len)
{
	uint8_t *buf = read_file(path, len);

	ck_assert_uint_le(objfile_stats(f)->file_size, *len);
	*len = objfile_stats(f)->file_size;
	return buf;
}

/* Every cut of a file objd wrote is refused, however it falls. */
START_TEST(test_every_truncation_is_refused)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store();
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	buf = read_snapshot(f, &len);
	for (size_t cut = 1; cut < len; cut++) {
		struct store *t = store_new();

		write_file(path, buf, cut);
		ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == -1,
		    "a file cut to %zu of %zu bytes was accepted", cut, len);
		store_free(t);
	}
	free(buf);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* A flipped bit anywhere before the commit record fails its check. */
START_TEST(test_flipped_bytes_are_refused)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store();
	uint8_t *buf;
	size_t len, body;

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	buf = read_snapshot(f, &len);
	/* The commit record is the last field: its tag, then a one-byte
	 * length that reaches exactly to the end. A 0x7a inside the crc
	 * must not be taken for the tag. */
	for (body = len - 2;
	     buf[body] != ((15 << 3) | 2) || body + 2 + buf[body + 1] != len;
	     body--)
		;
	for (size_t i = 0; i < body; i++) {
		struct store *t = store_new();

		buf[i] ^= 0x20;
		write_file(path, buf, len);
		ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == -1,
		    "a flipped byte at %zu was accepted", i);
		buf[i] ^= 0x20;
		store_free(t);
	}
	free(buf);
	store_free(s);
	objfile_close(f);
}
END_TEST

START_TEST(test_trailing_garbage_is_refused)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store(), *t = store_new();
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	buf = read_snapshot(f, &len);
	buf = xrealloc(buf, len + 16);
	memset(buf + len, 0, 16);
	write_file(path, buf, len + 16);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), -1);
	free(buf);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* A file written by another program: no header, no commit, a key twice.
 * It is taken whole, and the last value of a key wins. */
START_TEST(test_foreign_file_last_entry_wins)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
	struct store *t = store_new();
	Objd__Value v1 = OBJD__VALUE__INIT, v2 = OBJD__VALUE__INIT;
	Objd__Object__EntriesEntry e1 = OBJD__OBJECT__ENTRIES_ENTRY__INIT;
	Objd__Object__EntriesEntry e2 = OBJD__OBJECT__ENTRIES_ENTRY__INIT;
	Objd__Object__EntriesEntry *entries[] = { &e1, &e2 };
	Objd__Object obj = OBJD__OBJECT__INIT;
	uint8_t buf[256];
	size_t len;

	v1.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v1.string_value = "Jane";
	v2.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v2.string_value = "John";
	e1.key = "name";
	e1.value = &v1;
	e2.key = "name";
	e2.value = &v2;
	obj.n_entries = 2;
	obj.entries = entries;
	len = objd__object__pack(&obj, buf);
	write_file(path, buf, len);
	ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_count(t), 1);
	ck_assert_uint_eq(store_revision(t), 0);
	store_free(t);

	/* A value that does not decode makes the whole file bad. */
	buf[len - 1] = 0xff;
	write_file(path, buf, len);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), -1);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* Puts an empty file (an empty object, in any program's format) at the
 * path by rename, as careful writers do, and returns its inode. */
static ino_t
rename_empty_file_in(void)
{
	char other[160];
	struct stat st;

	snprintf(other, sizeof(other), "%s/sub/new", dir);
	write_file(other, (const uint8_t *)"", 0);
	ck_assert_int_eq(stat(other, &st), 0);
	ck_assert_int_eq(rename(other, path), 0);
	return st.st_ino;
}

/* Renames in a file that no protobuf reader can take (field 1 with wire
 * type 7, which does not exist). */
static void
rename_bad_file_in(void)
{
	char other[160];

	snprintf(other, sizeof(other), "%s/sub/bad", dir);
	write_file(other, (const uint8_t *)"\x0f", 1);
	ck_assert_int_eq(rename(other, path), 0);
}

/* How many files objfile_reject moved aside in the file's folder. */
static int
rejected_files(void)
{
	char sub[160];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_ptr_nonnull(d = opendir(sub));
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".rejected-") != NULL;
	closedir(d);
	return n;
}

/* A bad file renamed in is moved aside, but only that file: one renamed
 * in after objd read the bad one stays at the path. */
START_TEST(test_check_and_reject)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
	struct store *s = sample_store(), *t = store_new();
	char *moved;
	ino_t newer;

	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	/* Replaced by rename, as careful writers do, with a bad file. */
	rename_bad_file_in();
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), -1);
	/* Another file comes before the bad one is moved aside. */
	newer = rename_empty_file_in();
	ck_assert_int_eq(objfile_reject(f, &moved, err, sizeof(err)), 1);
	ck_assert_ptr_null(moved);
	ck_assert_uint_eq(path_inode(), newer);
	ck_assert_int_eq(rejected_files(), 0);

	rename_bad_file_in();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), -1);
	ck_assert_msg(objfile_reject(f, &moved, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_msg(strstr(moved, "objd.pb.rejected-") != NULL, "%s", moved);
	ck_assert_int_eq(access(moved, F_OK), 0);
	ck_assert_int_eq(rejected_files(), 1);
	ck_assert_int_eq(objfile_check(f), OBJFILE_MISSING);
	free(moved);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* One change in c, setting key at revision rev. */
static void
one_change(struct objfile *f, struct objfile_changes *c, const char *key,
    uint64_t rev)
{
	objfile_changes_init(f, c);
	objfile_change_set(c, key, strlen(key), (const uint8_t *)"\x08\x07", 2);
	objfile_change_commit(c, rev);
}

/* The changes appended while a compaction's child runs follow its
 * snapshot, whoever copies them: the child (from the old file, while it
 * runs), objd at the end (those the child left: here all that came
 * after it exited), or objd from memory (those that came after objd's
 * file was rewritten under the child). */
START_TEST(test_compaction_tail)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_NEVER, err, sizeof(err));
	struct store *s = sample_store(), *t;
	struct objfile_changes c;
	uint64_t rev = store_revision(s);
	int status;
	pid_t pid;
	const char *keys[] = { "during", "after", "later" };

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	for (int round = 0; round < 2; round++) {
		pid = objfile_compact_start(f, s, err, sizeof(err));
		ck_assert_msg(pid > 0, "%s", err);
		one_change(f, &c, keys[0], ++rev);
		ck_assert_int_eq(objfile_append(f, s, &c, err, sizeof(err)), 0);
		objfile_changes_free(f, &c);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		/* The child is gone; objd has not yet seen it. */
		one_change(f, &c, keys[1], ++rev);
		ck_assert_int_eq(objfile_append(f, s, &c, err, sizeof(err)), 0);
		objfile_changes_free(f, &c);
		if (round == 1) {
			/* objd's file loaded again (it is another
			 * descriptor): the changes from then on are kept in
			 * memory, with those the child has not copied. */
			t = store_new();
			ck_assert_msg(
			    objfile_load(f, t, false, err, sizeof(err)) == 0,
			    "%s", err);
			store_free(t);
			one_change(f, &c, keys[2], ++rev);
			ck_assert_int_eq(
			    objfile_append(f, s, &c, err, sizeof(err)), 0);
			objfile_changes_free(f, &c);
		}
		ck_assert_msg(objfile_compact_finish(f, status, err,
		                  sizeof(err)) == OBJFILE_DONE,
		    "round %d: %s", round, err);
		ck_assert_int_eq(temp_files(), 0);
		t = store_new();
		ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0,
		    "%s", err);
		ck_assert_uint_eq(store_revision(t), rev);
		ck_assert_ptr_nonnull(store_get(t, keys[0], strlen(keys[0])));
		ck_assert_ptr_nonnull(store_get(t, keys[1], strlen(keys[1])));
		if (round == 1)
			ck_assert_ptr_nonnull(
			    store_get(t, keys[2], strlen(keys[2])));
		store_free(t);
		keys[0] = "during again";
		keys[1] = "after again";
	}
	store_free(s);
	objfile_close(f);
}
END_TEST

/* A reload's write-back replaces the file the reload read, or puts one
 * where there was none, but not a file that another program renamed in
 * since: that one is left for the next reload. */
/* objfile_write_back_start and finish, whose writer is a child: what
 * is appended meanwhile follows its snapshot, and it gives way to a file
 * renamed in meanwhile, as objfile_write_back does. */
static int
write_back_in_a_child(struct objfile *f, const struct store *s,
    const struct objfile_changes *meanwhile, char *err, size_t errlen)
{
	pid_t pid = objfile_write_back_start(f, s, err, errlen);
	int status;

	ck_assert_msg(pid > 0, "%s", err);
	ck_assert(objfile_writing_back(f));
	ck_assert(objfile_compacting(f));
	if (meanwhile != NULL)
		ck_assert_msg(objfile_append(f, s, meanwhile, err, errlen) == 0,
		    "%s", err);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return objfile_write_back_finish(f, status, err, errlen);
}

START_TEST(test_write_back_in_a_child)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
	struct store *s = sample_store(), *t = store_new();
	struct objfile_changes c;
	struct objfile_read *r;
	ino_t theirs;

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	rename_empty_file_in();
	/* The read aside notes the file it read, as objfile_load does. */
	r = objfile_read_new(f, t);
	objfile_read_run(r);
	ck_assert_int_eq(objfile_read_finish(f, r, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_count(t), 0);
	objfile_changes_init(f, &c);
	objfile_change_set(&c, "late", 4, (const uint8_t *)"\x08\x07", 2);
	objfile_change_commit(&c, 10);
	ck_assert_msg(write_back_in_a_child(f, s, &c, err, sizeof(err)) == 0,
	    "%s", err);
	objfile_changes_free(f, &c);
	ck_assert(!objfile_writing_back(f));
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	ck_assert_int_eq(temp_files(), 0);
	store_free(t);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_count(t), store_count(s) + 1);
	ck_assert_ptr_nonnull(store_get(t, "late", 4));
	ck_assert_uint_eq(store_revision(t), 10);

	/* Replaced again while the child wrote: left alone. */
	rename_empty_file_in();
	store_free(t);
	t = store_new();
	r = objfile_read_new(f, t);
	objfile_read_run(r);
	ck_assert_int_eq(objfile_read_finish(f, r, err, sizeof(err)), 0);
	ck_assert_int_gt(objfile_write_back_start(f, s, err, sizeof(err)), 0);
	theirs = rename_empty_file_in();
	{
		int status;

		ck_assert_int_eq(waitpid(objfile_compact_child(f), &status, 0),
		    objfile_compact_child(f));
		ck_assert_int_eq(
		    objfile_write_back_finish(f, status, err, sizeof(err)), 1);
	}
	ck_assert_msg(strstr(err, "replaced again") != NULL, "%s", err);
	ck_assert_int_eq(path_inode(), theirs);
	ck_assert_int_eq(temp_files(), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);

	/* A bad file read aside fails with why. */
	write_file(path, (const uint8_t *)"\xff", 1);
	r = objfile_read_new(f, t);
	objfile_read_run(r);
	ck_assert_int_eq(objfile_read_finish(f, r, err, sizeof(err)), -1);
	ck_assert_str_ne(err, "");
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

START_TEST(test_write_back_replaces_only_what_was_read)
{
	char err[512], *moved;
	struct objfile *f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
	struct store *s = sample_store(), *t = store_new();
	ino_t theirs;

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	rename_empty_file_in();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_msg(objfile_write_back(f, s, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_gt(file_size(), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);

	/* Replaced again between the load and the write-back. */
	rename_empty_file_in();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	theirs = rename_empty_file_in();
	ck_assert_int_eq(objfile_write_back(f, s, err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "replaced again") != NULL, "%s", err);
	ck_assert_int_eq(path_inode(), theirs);
	ck_assert_int_eq(temp_files(), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_msg(objfile_write_back(f, s, err, sizeof(err)) == 0, "%s",
	    err);

	/* Removed: the write-back puts the state back, unless another
	 * file came first. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_MISSING);
	theirs = rename_empty_file_in();
	ck_assert_int_eq(objfile_write_back(f, s, err, sizeof(err)), 1);
	ck_assert_int_eq(path_inode(), theirs);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_MISSING);
	ck_assert_msg(objfile_write_back(f, s, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_gt(file_size(), 0);

	/* Moved aside as bad: the same. */
	write_file(path, (const uint8_t *)"\xff", 1);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), -1);
	ck_assert_msg(objfile_reject(f, &moved, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_msg(objfile_write_back(f, s, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_gt(file_size(), 0);
	free(moved);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* The commit record packed by hand is what protobuf-c packs, for zero,
 * small and largest values of each field. */
/* One change of key at revision, as a batch applies it: the store first,
 * then the history with what it replaced. vallen 0 deletes (expire: as
 * an expiry); time 0 is a change whose time is unknown. */
static void
change_key(struct store *s, const char *key, size_t vallen, uint64_t revision,
    int64_t time, bool expire)
{
	struct store_entry *old;

	if (vallen > 0) {
		char *text = xmalloc(vallen);
		Objd__Value *v;
		uint8_t *packed;
		size_t len;

		memset(text, 'a' + (int)(revision % 26), vallen);
		v = value_new_string(text, vallen);
		packed = value_pack(v, &len);
		old = store_put(s,
		    store_entry_new(key, strlen(key), packed, len, revision));
		free(packed);
		value_free(v);
		free(text);
	} else
		old = store_remove(s, key, strlen(key));
	store_set_revision(s, revision);
	history_change(store_history(s), key, strlen(key), revision, time,
	    vallen > 0   ? HISTORY_SET
	        : expire ? HISTORY_EXPIRE
	                 : HISTORY_DELETE,
	    old, true);
}

/* kh's HistoryRecord, as the schema's generated code packs it from the
 * history's accessors: what a snapshot must hold, byte for byte. */
static uint8_t *
record_by_protobuf_c(const struct key_history *kh, size_t *len)
{
	Objd__HistoryRecord r = OBJD__HISTORY_RECORD__INIT;
	uint32_t n = kh->count;
	Objd__Version *vs = xcalloc(n + 1, sizeof(*vs));
	Objd__Version **vp = xcalloc(n + 1, sizeof(*vp));
	Objd__Value **values = xcalloc(n + 1, sizeof(*values));
	Objd__Value empty = OBJD__VALUE__INIT;
	const struct history_version *last;
	uint8_t *out;

	if (n > 0 && (last = HISTORY_AT(kh, n - 1))->what == HISTORY_SET &&
	    last->vlen == HISTORY_NO_VALUE) {
		n--;
		r.time = last->time;
	}
	r.key = xmalloc(kh->keylen + 1);
	memcpy(r.key, HISTORY_KEY(kh), kh->keylen);
	r.key[kh->keylen] = '\0';
	for (uint32_t i = 0; i < n; i++) {
		const struct history_version *v = HISTORY_AT(kh, i);
		const uint8_t *val;
		size_t vallen;

		objd__version__init(&vs[i]);
		vs[i].revision = v->revision;
		vs[i].time = v->time;
		vs[i].what = (Objd__Version__What)v->what;
		if (v->what == HISTORY_SET) {
			if (history_version_stored(v, &val, &vallen)) {
				values[i] =
				    objd__value__unpack(NULL, vallen, val);
				ck_assert_ptr_nonnull(values[i]);
				vs[i].value = values[i];
			} else
				vs[i].value = &empty;
		}
		vp[i] = &vs[i];
	}
	r.n_versions = n;
	r.versions = vp;
	r.truncated = kh->truncated;
	out = xmalloc(objd__history_record__get_packed_size(&r));
	*len = objd__history_record__pack(&r, out);
	for (uint32_t i = 0; i < n; i++)
		if (values[i] != NULL)
			objd__value__free_unpacked(values[i], NULL);
	free(values);
	free(vp);
	free(vs);
	free(r.key);
	return out;
}

/* The history records of a snapshot, in its order, and in each the
 * record that protobuf-c packs for it. */
struct record_walk {
	const struct store *s;
	uint8_t **want;
	size_t *wantlen;
	size_t n;
	/* What the store covers: records of deleted keys, truncated ones,
	 * and longer than a chunk. */
	size_t gone, truncated, long_records;
};

static void
want_record(struct record_walk *rw, const struct key_history *kh)
{
	rw->want = xrealloc(rw->want, (rw->n + 1) * sizeof(*rw->want));
	rw->wantlen = xrealloc(rw->wantlen, (rw->n + 1) * sizeof(*rw->wantlen));
	rw->want[rw->n] = record_by_protobuf_c(kh, &rw->wantlen[rw->n]);
	rw->truncated += kh->truncated;
	rw->long_records += rw->wantlen[rw->n] > OBJFILE_CHUNK_MAX;
	rw->n++;
}

static void
want_entry_record(const struct store_entry *e, void *arg)
{
	struct record_walk *rw = arg;
	const struct key_history *kh =
	    history_get(store_history(rw->s), e->data, e->keylen);

	if (kh != NULL)
		want_record(rw, kh);
}

static void
want_gone_record(const struct key_history *kh, void *arg)
{
	struct record_walk *rw = arg;

	if (store_get(rw->s, HISTORY_KEY(kh), kh->keylen) == NULL) {
		want_record(rw, kh);
		rw->gone++;
	}
}

/* Checks the Object's fields in buf[0..len): each history record, in
 * deflated chunks too, is the next one rw wants. */
static void
check_records(struct record_walk *rw, size_t *next, const uint8_t *buf,
    size_t len, struct libdeflate_decompressor *inflater)
{
	size_t at = 0;

	while (at < len) {
		uint64_t tag, flen;
		int k = varint_decode(buf + at, len - at, &tag);

		ck_assert_int_gt(k, 0);
		at += (size_t)k;
		ck_assert_uint_eq(tag & 7, 2);
		k = varint_decode(buf + at, len - at, &flen);
		ck_assert_int_gt(k, 0);
		at += (size_t)k;
		ck_assert_uint_le(flen, len - at);
		if (tag >> 3 == OBJFILE_FIELD_HISTORY) {
			ck_assert_uint_lt(*next, rw->n);
			ck_assert_uint_eq(flen, rw->wantlen[*next]);
			ck_assert_mem_eq(buf + at, rw->want[*next], flen);
			(*next)++;
		} else if (tag == PBW_OBJECT_DEFLATED_TAG) {
			uint8_t *plain = xmalloc(OBJFILE_CHUNK_MAX);
			size_t n;

			ck_assert_int_eq(libdeflate_zlib_decompress(inflater,
			                     buf + at, flen, plain,
			                     OBJFILE_CHUNK_MAX, &n),
			    LIBDEFLATE_SUCCESS);
			check_records(rw, next, plain, n, inflater);
			free(plain);
		}
		at += flen;
	}
}

/* Keys set once, twice, or past a depth of 7 (truncated), short values
 * kept in the version and long ones in their entries, values past the
 * byte bound, records longer than a chunk, changes with and without
 * time, leases, and keys deleted or expired with their past: the
 * history the tests of a snapshot's records write. */
static void
fill_history(struct store *s, uint64_t *revision)
{
	uint64_t rev = *revision;

	for (int round = 0; round < 12; round++) {
		for (int k = 0; k < 300; k++) {
			char key[32];
			/* Key k changes in rounds k % 12 and up: 0 to 12
			 * times. Its values are 1 to 700 bytes, a few keys
			 * hundreds of KiB. */
			size_t vallen = k % 50 == 7 ? 150000 + (size_t)round
			    : k % 3 == 0            ? 1 + (size_t)k % 5
			                 : 1 + (size_t)(k * 37 + round) % 700;

			if (round < k % 12 + (k % 5 == 0 ? 10 : 0))
				continue;
			snprintf(key, sizeof(key), "key:%03d", k);
			rev++;
			if (round == 11 && k % 13 == 0)
				vallen = 0;
			change_key(s, key, vallen, rev,
			    k % 4 == 1 ? 0 : 1700000000 + (int64_t)rev,
			    k % 26 == 0);
		}
	}
	/* Deleted, then set again: its past goes on in its ring. */
	change_key(s, "back", 5, ++rev, 1700009000, false);
	change_key(s, "back", 0, ++rev, 1700009001, false);
	change_key(s, "back", 300, ++rev, 1700009002, false);
	store_lease_set(s, "key:002", 7, 1800000000000ULL, 3);
	store_lease_set(s, "back", 4, 1800000000000ULL, 4);
	*revision = rev;
}

/* A snapshot's history records are the bytes protobuf-c packs for each
 * key's versions, for every kind fill_history makes. _i 1 writes
 * compressed snapshots. */
START_TEST(test_history_records_match_protobuf_c)
{
	char err[512];
	size_t saved_depth = history_depth, next = 0, len;
	struct objfile *f;
	struct store *s = store_new(), *t = store_new();
	struct record_walk rw = { .s = s };
	struct libdeflate_decompressor *inflater =
	    libdeflate_alloc_decompressor();
	uint64_t rev = 0;
	uint8_t *file;

	history_depth = 7;
	f = open_mode(_i);
	fill_history(s, &rev);

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	store_foreach(s, want_entry_record, &rw);
	history_foreach(store_history(s), want_gone_record, &rw);
	file = read_file(path, &len);
	check_records(&rw, &next, file, len, inflater);
	ck_assert_uint_eq(next, rw.n);
	ck_assert_uint_gt(rw.n, 200);
	ck_assert_uint_gt(rw.gone, 10);
	ck_assert_uint_gt(rw.truncated, 50);
	ck_assert_uint_gt(rw.long_records, 3);
	/* And it loads back: the same entries. */
	ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0, "%s",
	    err);
	assert_same(s, t);

	for (size_t i = 0; i < rw.n; i++)
		free(rw.want[i]);
	free(rw.want);
	free(rw.wantlen);
	free(file);
	libdeflate_free_decompressor(inflater);
	store_free(s);
	store_free(t);
	objfile_close(f);
	history_depth = saved_depth;
}
END_TEST

/* s's snapshot, written to a file of its own with objfile_write_snapshot
 * (copying from reuse_from unless it is -1): its bytes. */
static uint8_t *
snapshot_bytes(const struct store *s, bool compress, int reuse_from,
    size_t *reused, size_t *len)
{
	char p[200];
	uint8_t *bytes;
	off_t end;
	int fd;

	snprintf(p, sizeof(p), "%s/snapshot", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ne(fd, -1);
	end = objfile_write_snapshot(fd, s, compress, reuse_from, reused);
	ck_assert_int_gt(end, 0);
	ck_assert_int_eq(close(fd), 0);
	bytes = read_file(p, len);
	ck_assert_uint_eq(*len, (size_t)end);
	ck_assert_int_eq(unlink(p), 0);
	return bytes;
}

/* A snapshot copies the records of the rings that did not change since
 * the snapshot objd last wrote, and is byte for byte the snapshot it
 * would encode: with keys changed, deleted, set anew, and a record longer
 * than a chunk changed. The compaction's child copies so too. A snapshot
 * whose crc32 fails (a byte gone bad on disk) is not copied from. */
/* objformat_read_record and objformat_read_times, which objd's loader
 * and objctl's reader of a file share, read what the schema's generated
 * code packs, and refuse what no objd writes. */
START_TEST(test_records_read_as_the_schema_packs_them)
{
	Objd__HistoryRecord r = OBJD__HISTORY_RECORD__INIT;
	Objd__Version v[3], *vp[3] = { &v[0], &v[1], &v[2] };
	Objd__Value *val = value_new_string("old", 3);
	Objd__HistoryTimes t = OBJD__HISTORY_TIMES__INIT;
	uint64_t revs[] = { 3, 9 };
	int64_t times[] = { 1700000000, 1700000060 };
	struct objformat_record got = { 0 };
	struct objformat_times gott;
	uint8_t buf[512], *packed;
	size_t len, vallen;

	for (int i = 0; i < 3; i++)
		objd__version__init(&v[i]);
	v[0].revision = 2;
	v[0].time = 1700000001;
	v[0].value = val;
	v[1].revision = 5;
	v[1].what = OBJD__VERSION__WHAT__DELETE;
	v[2].revision = 7;
	v[2].time = 1700000003;
	v[2].what = OBJD__VERSION__WHAT__EXPIRE;
	r.key = "k.x";
	r.versions = vp;
	r.n_versions = 3;
	r.time = 1700000004;
	r.truncated = true;
	len = objd__history_record__pack(&r, buf);
	ck_assert_int_eq(objformat_read_record(buf, len, &got), 0);
	ck_assert_uint_eq(got.keylen, 3);
	ck_assert_mem_eq(got.key, "k.x", 3);
	ck_assert_int_eq(got.time, 1700000004);
	ck_assert(got.truncated);
	ck_assert(!got.expire);
	ck_assert_uint_eq(got.nversions, 3);
	ck_assert_uint_eq(got.versions[0].revision, 2);
	ck_assert_int_eq(got.versions[0].time, 1700000001);
	ck_assert_uint_eq(got.versions[0].what, OBJD__VERSION__WHAT__SET);
	packed = value_pack(val, &vallen);
	ck_assert_uint_eq(got.versions[0].vallen, vallen);
	ck_assert_mem_eq(got.versions[0].val, packed, vallen);
	free(packed);
	ck_assert_uint_eq(got.versions[1].revision, 5);
	ck_assert_int_eq(got.versions[1].time, 0);
	ck_assert_uint_eq(got.versions[1].what, OBJD__VERSION__WHAT__DELETE);
	ck_assert_ptr_null(got.versions[1].val);
	ck_assert_uint_eq(got.versions[2].what, OBJD__VERSION__WHAT__EXPIRE);

	/* The time of the changes after: no key, no versions left over. */
	objd__history_record__init(&r);
	r.time = 1700000005;
	r.expire = true;
	len = objd__history_record__pack(&r, buf);
	ck_assert_int_eq(objformat_read_record(buf, len, &got), 0);
	ck_assert_uint_eq(got.keylen, 0);
	ck_assert_uint_eq(got.nversions, 0);
	ck_assert_int_eq(got.time, 1700000005);
	ck_assert(got.expire && !got.truncated);

	/* A set without its value, a kind no objd writes, a cut record. */
	r.expire = false;
	r.versions = vp;
	r.n_versions = 1;
	v[0].value = NULL;
	len = objd__history_record__pack(&r, buf);
	ck_assert_int_eq(objformat_read_record(buf, len, &got), -1);
	v[0].value = val;
	v[0].what = 2;
	len = objd__history_record__pack(&r, buf);
	ck_assert_int_eq(objformat_read_record(buf, len, &got), -1);
	v[0].what = OBJD__VERSION__WHAT__SET;
	len = objd__history_record__pack(&r, buf);
	ck_assert_int_eq(objformat_read_record(buf, len, &got), 0);
	ck_assert_int_eq(objformat_read_record(buf, len - 1, &got), -1);
	free(got.versions);
	value_free(val);

	t.known_since = 2;
	t.revisions = revs;
	t.n_revisions = 2;
	t.times = times;
	t.n_times = 2;
	len = objd__history_times__pack(&t, buf);
	ck_assert_int_eq(objformat_read_times(buf, len, &gott), 0);
	ck_assert_uint_eq(gott.known_since, 2);
	ck_assert_uint_eq(gott.n, 2);
	ck_assert_uint_eq(gott.revisions[1], 9);
	ck_assert_uint_eq(gott.times[1], 1700000060);
	free(gott.revisions);
	free(gott.times);
	t.n_times = 1;
	len = objd__history_times__pack(&t, buf);
	ck_assert_int_eq(objformat_read_times(buf, len, &gott), -1);
	free(gott.revisions);
	free(gott.times);
}
END_TEST

START_TEST(test_snapshot_copies_unchanged_records)
{
	char err[512], bad[200];
	size_t saved_depth = history_depth, oldlen, wantlen, len, reused, rings;
	struct store *s = store_new();
	struct objfile *f;
	uint64_t rev = 0;
	uint8_t *old, *want, *got, *at;
	int oldfd, badfd, status;
	pid_t pid;

	history_depth = 7;
	f = open_mode(0);
	fill_history(s, &rev);
	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	old = read_file(path, &oldlen);
	oldfd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ne(oldfd, -1);

	change_key(s, "key:001", 40, ++rev, 1700010000, false);
	change_key(s, "key:007", 150200, ++rev, 1700010001, false);
	change_key(s, "key:014", 0, ++rev, 1700010002, false);
	change_key(s, "back", 0, ++rev, 1700010003, false);
	change_key(s, "new", 10, ++rev, 1700010004, false);
	change_key(s, "new", 20, ++rev, 1700010005, false);
	store_lease_set(s, "key:003", 7, 1800000000000ULL, 5);
	rings = history_count(store_history(s));

	want = snapshot_bytes(s, false, -1, NULL, &wantlen);
	got = snapshot_bytes(s, false, oldfd, &reused, &len);
	ck_assert_uint_eq(len, wantlen);
	ck_assert_mem_eq(got, want, wantlen);
	/* All but the five rings changed or new. */
	ck_assert_uint_eq(reused, rings - 5);
	free(got);
	/* Deflated records are not copied. */
	got = snapshot_bytes(s, true, oldfd, &reused, &len);
	ck_assert_uint_eq(reused, 0);
	free(got);

	/* A byte of the old snapshot gone bad. */
	at = memmem(old, oldlen, "key:101", 7);
	ck_assert_ptr_nonnull(at);
	at[2] ^= 0x20;
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	badfd = open(bad, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ne(badfd, -1);
	ck_assert_int_eq(write(badfd, old, oldlen), (ssize_t)oldlen);
	got = snapshot_bytes(s, false, badfd, &reused, &len);
	ck_assert_uint_eq(reused, 0);
	ck_assert_uint_eq(len, wantlen);
	ck_assert_mem_eq(got, want, wantlen);
	free(got);
	close(badfd);

	/* The compaction: its file starts with the same snapshot. */
	pid = objfile_compact_start(f, s, err, sizeof(err));
	ck_assert_msg(pid > 0, "%s", err);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(objfile_compact_finish(f, status, err, sizeof(err)) == 0,
	    "%s", err);
	got = read_file(path, &len);
	ck_assert_uint_ge(len, wantlen);
	ck_assert_mem_eq(got, want, wantlen);

	free(got);
	free(want);
	free(old);
	close(oldfd);
	store_free(s);
	objfile_close(f);
	history_depth = saved_depth;
}
END_TEST

START_TEST(test_commit_pack_matches_protobuf_c)
{
	static const uint64_t revisions[] = { 0, 1, 127, 128, 300, UINT32_MAX,
		(uint64_t)1 << 56, UINT64_MAX };
	static const uint32_t words[] = { 0, 1, 127, 128, 0xdeadbeef,
		UINT32_MAX };
	uint8_t ours[OBJFILE_COMMIT_MAX], theirs[64];

	for (size_t r = 0; r < sizeof(revisions) / sizeof(revisions[0]); r++)
		for (size_t c = 0; c < sizeof(words) / sizeof(words[0]); c++)
			for (size_t n = 0; n < sizeof(words) / sizeof(words[0]);
			     n++) {
				Objd__Commit commit = OBJD__COMMIT__INIT;
				size_t len, want;

				commit.revision = revisions[r];
				commit.crc32 = words[c];
				commit.n_entries = words[n];
				want = objd__commit__pack(&commit, theirs);
				len = objfile_commit_pack(revisions[r],
				    words[c], words[n], ours);
				ck_assert_uint_eq(len, want);
				ck_assert(memcmp(ours, theirs, len) == 0);
			}
}
END_TEST

static void
count_entry(const struct scan_entry *e, void *arg)
{
	(*(size_t *)arg)++;
}

/* crc32_update (common/crc32.h, ISA-L's where configure found it) gives
 * libdeflate's crc32, which a reader of the file checks against: at
 * every length up to 600 bytes and around each power of two to 1 MiB,
 * from each of 8 alignments, from a crc before and in two pieces. */
START_TEST(test_crc32_matches_libdeflate)
{
	size_t max = (1 << 20) + 8, lens[600 + 3 * 21], nlens = 0;
	uint8_t *buf = xmalloc(max);
	uint32_t seed = 0x5eed1234;

	ck_assert_uint_eq(crc32_update(0, "123456789", 9), 0xcbf43926);
	srandom(29);
	for (size_t i = 0; i < max; i++)
		buf[i] = (uint8_t)random();
	for (size_t n = 0; n < 600; n++)
		lens[nlens++] = n;
	for (size_t n = 1024; n <= (1 << 20); n *= 2) {
		lens[nlens++] = n - 1;
		lens[nlens++] = n;
		lens[nlens++] = n + 1;
	}
	for (size_t i = 0; i < nlens; i++) {
		size_t n = lens[i];

		for (size_t at = 0; at < 8; at++) {
			uint32_t want = libdeflate_crc32(0, buf + at, n);

			ck_assert_uint_eq(crc32_update(0, buf + at, n), want);
			ck_assert_uint_eq(crc32_update(seed, buf + at, n),
			    libdeflate_crc32(seed, buf + at, n));
			ck_assert_uint_eq(
			    crc32_update(crc32_update(0, buf + at, n / 3),
			        buf + at + n / 3, n - n / 3),
			    want);
		}
	}
	free(buf);
}
END_TEST

/* common/objformat.c's pieces, put together as objd writes a file (a
 * header, entries, a commit, then room), parse with protobuf-c as one
 * Object and walk as one good commit; padding headers fill exactly the
 * room they are given. */
START_TEST(test_objformat_pieces_make_an_object)
{
	struct objformat_lease lease = { 1700000000000ULL, 42 };
	struct buf b = { 0 };
	uint8_t pad[1 + VARINT_MAX_LEN];
	Objd__Value *v = value_new_int(7);
	struct scan_report rep;
	struct scan_ops ops = { 0 };
	Objd__Object *o;
	size_t vallen, start, n, size;
	uint8_t *val = value_pack(v, &vallen);

	objformat_put_header(&b);
	start = 0;
	size = b.len;
	objformat_put_entry(&b, "a", 1, val, vallen, 5, true, NULL);
	ck_assert_uint_eq(b.len - size,
	    objformat_entry_size(1, vallen, 5, true, NULL));
	size = b.len;
	objformat_put_entry(&b, "b", 1, val, vallen, 0, false, &lease);
	ck_assert_uint_eq(b.len - size,
	    objformat_entry_size(1, vallen, 0, false, &lease));
	objformat_put_entry(&b, "c", 1, objfile_tombstone,
	    sizeof(objfile_tombstone), 0, false, NULL);
	objformat_put_commit(&b, &start, 6, 3);
	ck_assert_uint_eq(start, b.len);
	n = objformat_padding_header(100, pad);
	ck_assert_uint_gt(n, 0);
	buf_put(&b, pad, n);
	buf_reserve(&b, 100 - n);
	memset(b.data + b.len, 0, 100 - n);
	b.len += 100 - n;

	o = objd__object__unpack(NULL, b.len, b.data);
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(o->header);
	ck_assert_uint_eq(o->header->format, OBJFILE_FORMAT);
	ck_assert_uint_eq(o->n_entries, 3);
	/* The revision and the lease are fields the schema's map entry
	 * leaves unknown: protobuf-c passes over them. */
	ck_assert_str_eq(o->entries[0]->key, "a");
	ck_assert_str_eq(o->entries[1]->key, "b");
	ck_assert_int_eq(o->entries[1]->value->int_value, 7);
	ck_assert_uint_eq(o->n_commits, 1);
	ck_assert_uint_eq(o->commits[0]->revision, 6);
	ck_assert_uint_eq(o->commits[0]->n_entries, 3);
	objd__object__free_unpacked(o, NULL);

	n = 0;
	ops.entry = count_entry;
	ops.arg = &n;
	objfile_scan(b.data, b.len, &ops, &rep);
	ck_assert_int_eq(rep.result, SCAN_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert(rep.ours && rep.padded);
	ck_assert_uint_eq(rep.revision, 6);
	ck_assert_uint_eq(rep.commits, 1);
	ck_assert_uint_eq(rep.good_end, start);

	/* Every room a padding field can fill, it fills exactly. */
	for (size_t room = 2; room < 70000; room++) {
		n = objformat_padding_header(room, pad);
		if (n == 0)
			continue;
		ck_assert_uint_eq(varint_size(room - n), n - 1);
		ck_assert_uint_eq(pad[0], (OBJFILE_FIELD_PADDING << 3) | 2);
	}
	ck_assert_uint_eq(objformat_padding_header(1, pad), 0);
	buf_release(&b);
	ck_assert_ptr_null(b.data);
	free(val);
	value_free(v);
}
END_TEST

/* Changes another program makes in place, to the same size, once the
 * file clock has moved on (file times may be as coarse as a tick). */
static void
change_in_place(void)
{
	int fd;
	char c;

	usleep(50 * 1000);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, 0), 1);
	c ^= 1;
	ck_assert_int_eq(pwrite(fd, &c, 1, 0), 1);
	close(fd);
}

static void build_log(struct objfile *, int, size_t *);

/* objd's own appends are told apart from another program's change,
 * whether the check comes straight after them (their times never asked
 * for) or after an earlier check. */
START_TEST(test_check_after_appends)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_NEVER, err, sizeof(err));
	size_t ends[3];

	ck_assert_msg(f != NULL, "%s", err);
	build_log(f, 2, ends);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	change_in_place();
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	objfile_close(f);

	f = objfile_open(path, FSYNC_NEVER, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	build_log(f, 2, ends);
	change_in_place();
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	objfile_close(f);
}
END_TEST

/* A filesystem that stamps a write later than objd's clock says it
 * was made (a network one, when it flushes): the first check takes it
 * for a change; once the reload finds the same state, objd asks for
 * the times after each append, and still sees another program's. */
START_TEST(test_file_times_after_objd_clock)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_NEVER, err, sizeof(err));
	struct store *s = sample_store();
	struct objfile_changes c;
	struct timespec later[2];
	size_t ends[3];

	ck_assert_msg(f != NULL, "%s", err);
	build_log(f, 2, ends);
	clock_gettime(CLOCK_REALTIME, &later[0]);
	later[0].tv_sec += 10;
	later[1] = later[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, path, later, 0), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	ck_assert(!objfile_asks_times(f));
	objfile_same_state(f);
	ck_assert(objfile_asks_times(f));
	objfile_changes_init(f, &c);
	objfile_change_delete(&c, "k2", 2);
	objfile_change_commit(&c, 12);
	ck_assert_msg(objfile_append(f, s, &c, err, sizeof(err)) == 0, "%s",
	    err);
	objfile_changes_free(f, &c);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	change_in_place();
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* A file with a snapshot and then n appended changes, as objd writes it:
 * change i sets "k<i>" to i and, from the third on, deletes "k<i-2>".
 * ends[i] is where change i ends (ends[0]: the snapshot); with
 * FSYNC_ALWAYS the file's room follows the last. */
static void
build_log(struct objfile *f, int n, size_t *ends)
{
	struct store *s = sample_store();
	char err[512], key[16];

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	ends[0] = objfile_stats(f)->file_size;
	for (int i = 1; i <= n; i++) {
		struct objfile_changes c;
		Objd__Value *v = value_new_int(i);
		size_t len;
		uint8_t *val = value_pack(v, &len);

		objfile_changes_init(f, &c);
		snprintf(key, sizeof(key), "k%d", i);
		objfile_change_set(&c, key, strlen(key), val, len);
		if (i >= 3) {
			snprintf(key, sizeof(key), "k%d", i - 2);
			objfile_change_delete(&c, key, strlen(key));
		}
		objfile_change_commit(&c, 9 + (uint64_t)i);
		ck_assert_msg(objfile_append(f, s, &c, err, sizeof(err)) == 0,
		    "%s", err);
		ends[i] = ends[i - 1] + objfile_changes_len(&c);
		objfile_changes_free(f, &c);
		free(val);
		value_free(v);
	}
	store_free(s);
}

START_TEST(test_appended_changes)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *t = store_new();
	size_t ends[6];

	build_log(f, 5, ends);
	ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0, "%s",
	    err);
	/* The sample's 6 keys, plus k4 and k5: k1..k3 were deleted. */
	ck_assert_uint_eq(store_count(t), 8);
	ck_assert_ptr_null(store_get(t, "k3", 2));
	ck_assert_ptr_nonnull(store_get(t, "k5", 2));
	ck_assert_uint_eq(store_revision(t), 14);
	/* Each key keeps the revision that last changed it. */
	ck_assert_uint_eq(store_get(t, "k4", 2)->revision, 13);
	ck_assert_uint_eq(store_get(t, "k5", 2)->revision, 14);
	ck_assert_uint_eq(store_get(t, "name", 4)->revision, 1);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* Cut at every byte, from inside the snapshot and its commit to the
 * last changes, and on into the room after them: the walk stops at the
 * last whole commit, and the state is the state of that commit; before
 * the snapshot's commit, nothing, and the file is damaged. Room cut short is a
 * torn end too: only room that reaches the end of the file is room. */
START_TEST(test_cut_at_every_offset_of_the_last_changes)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	size_t ends[6], len;
	uint8_t *buf;

	build_log(f, 5, ends);
	buf = read_file(path, &len);
	ck_assert_uint_ge(len, ends[5] + 64 * 1024);
	ck_assert_uint_eq(len % 4096, 0);
	for (size_t cut = 1; cut <= len;
	     cut += cut >= ends[5] + 64 && cut + 600 < len ? 509 : 1) {
		struct store *t = store_new();
		size_t good_end;
		bool ours;
		int last = 0;
		enum scan_result r;

		r = objfile_scan_buffer(buf, cut, t, &good_end, &ours, err,
		    sizeof(err));
		if (cut < ends[0]) {
			/* The header is 4 bytes: a cut inside it leaves a
			 * file that is no one's, refused as torn. A cut
			 * after it is inside the snapshot, which objd
			 * renames in whole: damage, never a torn end. */
			ck_assert_msg(r ==
			        (cut >= 4 ? SCAN_DAMAGED : SCAN_TORN),
			    "cut at %zu: %d (%s)", cut, r, err);
			ck_assert(ours == (cut >= 4));
			ck_assert_uint_eq(good_end, 0);
			ck_assert_uint_eq(store_count(t), 0);
			ck_assert_uint_eq(store_revision(t), 0);
			store_free(t);
			continue;
		}
		while (last < 5 && ends[last + 1] <= cut)
			last++;
		ck_assert(ours);
		ck_assert_msg(r ==
		        (cut == ends[last] || cut == len ? SCAN_OK : SCAN_TORN),
		    "cut at %zu: %d (%s)", cut, r, err);
		ck_assert_uint_eq(good_end, ends[last]);
		ck_assert_uint_eq(store_revision(t), 9 + (uint64_t)last);
		ck_assert_uint_eq(store_get(t, "k5", 2) != NULL, last == 5);
		ck_assert_uint_eq(store_get(t, "k2", 2) != NULL,
		    last == 2 || last == 3);
		ck_assert_ptr_nonnull(store_get(t, "list", 4));
		ck_assert_uint_eq(store_get(t, "age", 3)->revision, 2);
		store_free(t);
	}
	free(buf);
	objfile_close(f);
}
END_TEST

/* Changes whose large values are written from where they are (refs)
 * make the same bytes, checksums included, as the same changes copied
 * whole into one buffer, and the file holds exactly them. */
START_TEST(test_large_values_written_in_place)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_NEVER, err, sizeof(err));
	struct store *s = store_new();
	struct objfile_changes c;
	struct buf want = { 0 };
	size_t sizes[] = { 3, 8 * 1024, 100 * 1024, 20, 8 * 1024 - 1 };
	size_t n = sizeof(sizes) / sizeof(sizes[0]), start = 0, before, len;
	uint8_t *vals[5], *file;
	char key[16];

	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	before = objfile_stats(f)->file_size;
	for (size_t i = 0; i < n; i++) {
		vals[i] = xmalloc(sizes[i]);
		for (size_t j = 0; j < sizes[i]; j++)
			vals[i][j] = (uint8_t)(i * 31 + j * 7);
	}
	objfile_changes_init(f, &c);
	ck_assert(!c.with_header);
	/* Two commits: the second's checksum starts after the first's. */
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		objfile_change_set(&c, key, strlen(key), vals[i], sizes[i]);
		objformat_put_entry(&want, key, strlen(key), vals[i], sizes[i],
		    0, false, NULL);
		if (i == 1 || i == n - 1) {
			objfile_change_commit(&c, 10 + i);
			objformat_put_commit(&want, &start, 10 + i,
			    i == 1 ? 2 : 3);
		}
	}
	ck_assert_uint_gt(c.nrefs, 0);
	ck_assert_uint_eq(objfile_changes_len(&c), want.len);
	ck_assert_msg(objfile_append(f, s, &c, err, sizeof(err)) == 0, "%s",
	    err);
	objfile_changes_free(f, &c);
	file = read_file(path, &len);
	ck_assert_uint_eq(len, before + want.len);
	ck_assert(memcmp(file + before, want.data, want.len) == 0);
	free(file);
	buf_release(&want);
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* Appends a change setting key "fill" to bytes, of exactly len bytes in
 * the file, and checks that the file then reads back whole. */
static void
append_sized(struct objfile *f, struct store *s, uint64_t revision, size_t len)
{
	char err[512];
	struct objfile_changes c;
	size_t n = len > 40 ? len - 40 : 0, good_end;
	uint8_t *val = NULL;
	struct store *t = store_new();
	uint8_t *buf;
	bool ours;

	/* A Value with bytes_value (field 6) of n bytes: find the n that
	 * makes the change len bytes long. */
	for (int tries = 0;; tries++) {
		size_t vallen;

		ck_assert_int_lt(tries, 100);
		val = xrealloc(val, n + 16);
		val[0] = (6 << 3) | 2;
		vallen = 1 + varint_encode(val + 1, n);
		memset(val + vallen, 'x', n);
		vallen += n;
		objfile_changes_init(f, &c);
		objfile_change_set(&c, "fill", 4, val, vallen);
		objfile_change_commit(&c, revision);
		if (objfile_changes_len(&c) == len)
			break;
		ck_assert_uint_gt(len, objfile_changes_len(&c) - n);
		n = n + len - objfile_changes_len(&c);
		objfile_changes_free(f, &c);
	}
	ck_assert_msg(objfile_append(f, s, &c, err, sizeof(err)) == 0, "%s",
	    err);
	objfile_changes_free(f, &c);
	free(val);
	buf = read_file(path, &len);
	ck_assert_int_eq(objfile_scan_buffer(buf, len, t, &good_end, &ours, err,
	                     sizeof(err)),
	    SCAN_OK);
	ck_assert_uint_eq(store_revision(t), revision);
	ck_assert_ptr_nonnull(store_get(t, "fill", 4));
	objd__object__free_unpacked(unpack_file(), NULL);
	free(buf);
	store_free(t);
}

/* With --fsync always, a change goes into the room after the last one
 * when it fits, and only one that does not grows the file: also when
 * the room it would leave is a size no padding field can have (1 byte,
 * or 130 where the field's length would need one byte more), and when
 * it fills the room to the last byte. Every step reads back whole, by
 * objd's walk and as a protobuf message. */
START_TEST(test_room_takes_changes_and_grows)
{
	char err[512];
	struct objfile *f = open_mode(0);
	struct store *s = sample_store(), *t;
	size_t ends[3], good_end;
	uint64_t revision = 12;
	off_t size;
	static const size_t leave[] = { 16386, 1, 130, 0, 2 };

	build_log(f, 2, ends);
	size = file_size();
	ck_assert_int_ge(size, (off_t)ends[2] + 64 * 1024);
	good_end = ends[2];
	for (size_t i = 0; i < sizeof(leave) / sizeof(leave[0]); i++) {
		/* A small change fits, and the file keeps its size. */
		append_sized(f, s, ++revision, 50);
		good_end += 50;
		ck_assert_int_eq(file_size(), size);
		/* One that would leave leave[i] bytes of room. */
		append_sized(f, s, ++revision,
		    (size_t)size - good_end - leave[i]);
		good_end = (size_t)size - leave[i];
		if (leave[i] == 2 || leave[i] == 16386) {
			/* A padding field fits exactly: no growth. */
			ck_assert_int_eq(file_size(), size);
		} else {
			ck_assert_int_ge(file_size(),
			    (off_t)good_end + 64 * 1024);
			ck_assert_int_eq(file_size() % 4096, 0);
			size = file_size();
		}
	}
	objfile_close(f);
	/* Reopened, objd finds its place and its room of 2 bytes, which
	 * the next change outgrows. */
	f = open_mode(0);
	t = store_new();
	ck_assert_msg(objfile_load(f, t, true, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_revision(t), revision);
	ck_assert_uint_eq(objfile_stats(f)->file_size, good_end);
	ck_assert_uint_eq(objfile_stats(f)->file_room, (size_t)size - good_end);
	ck_assert_uint_eq(objfile_stats(f)->recovered_bytes, 0);
	ck_assert_int_eq(file_size(), size);
	append_sized(f, s, ++revision, 50);
	ck_assert_int_gt(file_size(), size);
	store_free(t);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* The other modes keep no room: objd cuts what it finds at start, and
 * appends from there. */
START_TEST(test_room_is_cut_without_fsync_always)
{
	char err[512];
	struct objfile *f = open_mode(0);
	struct store *s = sample_store(), *t = store_new();
	size_t ends[3];

	build_log(f, 2, ends);
	ck_assert_int_gt(file_size(), (off_t)ends[2]);
	objfile_close(f);
	f = objfile_open(path, FSYNC_NEVER, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_msg(objfile_load(f, t, true, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_revision(t), 11);
	ck_assert_int_eq(file_size(), (off_t)ends[2]);
	append_sized(f, s, 12, 60);
	ck_assert_int_eq(file_size(), (off_t)ends[2] + 60);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	store_free(t);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* objfile_allocate_ahead allocates blocks up to an eighth of the end
 * ahead of it (at least ALLOC_AHEAD_MIN), leaving the size as it is,
 * asks again only past them, and does not ask a file again that could
 * not. objfile_trim_ahead gives back the blocks past the end, and
 * leaves a file alone whose size is not the one it is told. In the
 * build's folder: /tmp may be a tmpfs, where nothing is allocated ahead. */
START_TEST(test_blocks_allocated_ahead)
{
	const char *name = "check_objfile-ahead.tmp";
	char data[5000] = { 0 };
	off_t allocated = 0;
	struct statfs fs;
	struct stat st;
	int fd, pipefd[2];

	ck_assert_int_eq(pipe(pipefd), 0);
	fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	objfile_allocate_ahead(fd, &allocated, 0, 1000);
	if (allocated == -1) {
		/* tmpfs, or a filesystem without fallocate. */
		ck_assert_int_eq(fstatfs(fd, &fs), 0);
		ck_assert(fs.f_type == TMPFS_MAGIC ||
		    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096) == -1);
		goto out;
	}
	ck_assert_int_eq(allocated, 1000 + ALLOC_AHEAD_MIN);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_ge((off_t)st.st_blocks * 512, 1000 + ALLOC_AHEAD_MIN);
	/* Within them, nothing is asked: the pipe would refuse it. */
	objfile_allocate_ahead(pipefd[1], &allocated, 1000, 2000);
	ck_assert_int_eq(allocated, 1000 + ALLOC_AHEAD_MIN);
	objfile_allocate_ahead(fd, &allocated, 2000, 4 << 20);
	ck_assert_int_eq(allocated, (4 << 20) + (4 << 20) / 8);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_ge((off_t)st.st_blocks * 512, allocated);

	ck_assert_int_eq(pwrite(fd, data, sizeof(data), 0), sizeof(data));
	objfile_trim_ahead(fd, 4000, name);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_ge((off_t)st.st_blocks * 512, allocated);
	objfile_trim_ahead(fd, sizeof(data), name);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, sizeof(data));
	ck_assert_int_le((off_t)st.st_blocks * 512, 8192);

	/* A file that cannot is asked once. */
	allocated = 0;
	objfile_allocate_ahead(pipefd[1], &allocated, 0, 1000);
	ck_assert_int_eq(allocated, -1);
	objfile_allocate_ahead(fd, &allocated, 0, 1000);
	ck_assert_int_eq(allocated, -1);
out:
	close(fd);
	close(pipefd[0]);
	close(pipefd[1]);
	unlink(name);
}
END_TEST

/* When the file cannot grow by the room (here a file size limit, as a
 * full disk would), a change that fits without it is still written. */
START_TEST(test_change_is_written_without_room_when_disk_is_short)
{
	char err[512];
	struct objfile *f = open_mode(0);
	struct store *s = sample_store();
	struct rlimit rl, saved;
	size_t ends[3];
	off_t end;

	build_log(f, 2, ends);
	/* A change 60 bytes longer than the room must grow the file. */
	end = file_size() + 60;
	getrlimit(RLIMIT_FSIZE, &saved);
	rl = saved;
	rl.rlim_cur = (rlim_t)end + 1000;
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	append_sized(f, s, 12, (size_t)end - ends[2]);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	ck_assert_int_eq(file_size(), end);
	/* The cut back of the room was objd's own. */
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	/* Room again, once there is space. */
	append_sized(f, s, 13, 60);
	ck_assert_int_ge(file_size(), end + 60 + 64 * 1024);
	/* A new file, too, is written without room when room does not fit. */
	rl.rlim_cur = 4096;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	ck_assert_uint_eq(objfile_stats(f)->file_room, 0);
	ck_assert_int_eq(file_size(), (off_t)objfile_stats(f)->file_size);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* At start, a torn end is cut back, kept aside, and appends go on. */
START_TEST(test_recover_torn_end)
{
	char err[512], cmd[256];
	struct objfile *f = open_mode(_i);
	struct store *t = store_new();
	size_t ends[6], len;
	uint8_t *buf;

	build_log(f, 5, ends);
	objfile_close(f);
	buf = read_file(path, &len);
	/* Half of the last change, then zeroes: a torn write after an OS
	 * crash may leave either. */
	buf = xrealloc(buf, len + 100);
	memset(buf + ends[4] + 3, 0, len + 100 - ends[4] - 3);
	write_file(path, buf, len + 100);
	f = open_mode(_i);
	ck_assert_msg(objfile_load(f, t, true, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_revision(t), 13);
	ck_assert_uint_eq(objfile_stats(f)->recovered_bytes,
	    len + 100 - ends[4]);
	ck_assert_int_eq(file_size(), (off_t)ends[4]);
	snprintf(cmd, sizeof(cmd), "ls %s/sub | grep -q 'objd.pb.torn-'", dir);
	ck_assert_int_eq(system(cmd), 0);

	/* objd appends after the cut, and the file reads back whole. */
	struct objfile_changes c;
	objfile_changes_init(f, &c);
	objfile_change_delete(&c, "k4", 2);
	objfile_change_commit(&c, 14);
	ck_assert_int_eq(objfile_append(f, t, &c, err, sizeof(err)), 0);
	objfile_changes_free(f, &c);
	store_free(t);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_revision(t), 14);
	ck_assert_ptr_null(store_get(t, "k4", 2));
	store_free(t);
	free(buf);
	objfile_close(f);
}
END_TEST

/* A flipped byte in an old change, with good changes after it, is damage
 * and not a torn end: objd refuses to start rather than drop them. */
/* buf, the file's len bytes with damage before good commits: the scan
 * calls it damaged with good_end as the last good byte, and objd refuses
 * to start on it without cutting anything. Frees buf and f. */
static void
assert_damaged_refused(struct objfile *f, uint8_t *buf, size_t len,
    size_t good_end_want)
{
	struct store *t = store_new();
	size_t good_end;
	char err[512];
	bool ours;

	ck_assert_int_eq(objfile_scan_buffer(buf, len, t, &good_end, &ours, err,
	                     sizeof(err)),
	    SCAN_DAMAGED);
	ck_assert_uint_eq(good_end, good_end_want);
	write_file(path, buf, len);
	free(buf);
	store_free(t);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, true, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "damaged") != NULL, "%s", err);
	/* Nothing was cut. */
	buf = read_file(path, &good_end);
	ck_assert_uint_eq(good_end, len);
	free(buf);
	store_free(t);
	objfile_close(f);
}

START_TEST(test_damage_before_good_commits_is_refused)
{
	struct objfile *f = open_mode(_i);
	size_t ends[6], len;
	uint8_t *buf;

	build_log(f, 5, ends);
	buf = read_file(path, &len);
	/* The value of change 2's entry, well inside it. */
	buf[ends[1] + 6] ^= 0x01;
	assert_damaged_refused(f, buf, len, ends[1]);
}
END_TEST

/* How many files in the file's folder have a name that starts with
 * prefix, and whether one of them holds exactly want (len bytes). */
static int
files_named(const char *prefix, const uint8_t *want, size_t len, bool *held)
{
	char sub[160], name[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_ptr_nonnull(d = opendir(sub));
	*held = false;
	while ((de = readdir(d)) != NULL) {
		size_t got;
		uint8_t *buf;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		n++;
		snprintf(name, sizeof(name), "%s/%s", sub, de->d_name);
		buf = read_file(name, &got);
		if (got == len && memcmp(buf, want, len) == 0)
			*held = true;
		free(buf);
	}
	closedir(d);
	return n;
}

/* objd refuses to start on buf (len bytes, mode mode), and leaves the
 * file as it was: its bytes, its mode, and nothing beside it. With
 * may_start, it may also start, if it cuts nothing: the flipped bit was
 * in no change (a commit record's own revision). */
static void
check_refused_untouched(struct objfile *f, const uint8_t *buf, size_t len,
    mode_t mode, const char *what, bool may_start)
{
	struct store *t = store_new();
	char err[1024];
	uint8_t *after;
	size_t got;
	bool held;
	int torn = files_named("objd.pb.torn-", NULL, 0, &held);

	write_file(path, buf, len);
	ck_assert_int_eq(chmod(path, mode), 0);
	if (objfile_load(f, t, true, err, sizeof(err)) == 0) {
		ck_assert_msg(may_start, "%s: objd started on it", what);
		ck_assert_msg(store_count(t) == 8 && store_revision(t) == 14,
		    "%s: objd started with %zu keys at revision %llu", what,
		    store_count(t), (unsigned long long)store_revision(t));
		ck_assert_int_eq(file_size(), (off_t)len);
		store_free(t);
		return;
	}
	after = read_file(path, &got);
	ck_assert_msg(got == len && memcmp(after, buf, len) == 0,
	    "%s: the refused file was changed (%zu bytes, was %zu): %s", what,
	    got, len, err);
	ck_assert_msg((path_stat().st_mode & 07777) == mode,
	    "%s: the refused file's mode was changed", what);
	ck_assert_int_eq(files_named("objd.pb.torn-", NULL, 0, &held), torn);
	free(after);
	store_free(t);
}

static void
assert_refused_untouched(struct objfile *f, const uint8_t *buf, size_t len,
    mode_t mode, const char *what)
{
	check_refused_untouched(f, buf, len, mode, what, false);
}

/* A flipped bit anywhere before the last commit, in a tag, a length or
 * a value, of the snapshot or of a change, is damage: a torn end is
 * only what follows the last commit. objd refuses to start and touches
 * nothing, and says where the damage is and what to do. */
START_TEST(test_flips_before_the_last_commit_are_refused)
{
	static const uint8_t masks[] = { 0x01, 0x80 };
	struct objfile *f = open_mode(_i);
	size_t ends[6], len;
	uint8_t *buf;
	char what[64];

	build_log(f, 5, ends);
	buf = read_file(path, &len);
	for (size_t i = 0; i < ends[4]; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			buf[i] ^= masks[m];
			snprintf(what, sizeof(what), "byte %zu ^ 0x%02x", i,
			    masks[m]);
			check_refused_untouched(f, buf, len, 0600, what, true);
			buf[i] ^= masks[m];
		}
	}
	/* The case: the first change's entry tag, 0x12 to 0x13. */
	ck_assert_uint_eq(buf[ends[0]], 0x12);
	buf[ends[0]] = 0x13;
	{
		struct store *t = store_new();
		char err[1024], want[64];

		write_file(path, buf, len);
		ck_assert_int_eq(objfile_load(f, t, true, err, sizeof(err)),
		    -1);
		snprintf(want, sizeof(want), "damaged at byte %zu", ends[0]);
		ck_assert_msg(strstr(err, want) != NULL &&
		        strstr(err, "restore a copy") != NULL,
		    "%s", err);
		store_free(t);
	}
	free(buf);
	objfile_close(f);
}
END_TEST

/* A snapshot is written, synced and renamed in whole: one cut short is
 * damage, not a torn end, and objd starts on none of it. */
START_TEST(test_cut_snapshot_is_refused_at_start)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store();
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	buf = read_snapshot(f, &len);
	for (size_t cut = 1; cut < len; cut++) {
		char what[32];

		snprintf(what, sizeof(what), "cut at %zu", cut);
		assert_refused_untouched(f, buf, cut, 0600, what);
	}
	free(buf);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* The file's len bytes with tail after them: objd starts at the end of
 * the change of revision, cuts the tail and keeps it aside. */
static void
assert_tail_cut_and_kept(struct objfile *f, const uint8_t *file, size_t len,
    const uint8_t *tail, size_t taillen, uint64_t revision)
{
	uint8_t *buf = xmalloc(len + taillen);
	struct store *t = store_new();
	char err[1024];
	bool held;

	memcpy(buf, file, len);
	memcpy(buf + len, tail, taillen);
	write_file(path, buf, len + taillen);
	ck_assert_msg(objfile_load(f, t, true, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_revision(t), revision);
	ck_assert_int_eq(file_size(), (off_t)len);
	ck_assert_int_ge(files_named("objd.pb.torn-", tail, taillen, &held), 1);
	ck_assert_msg(held, "the cut bytes were not kept");
	free(buf);
	store_free(t);
}

/* Commits appended again at the end (one, the same twice, two older
 * ones) are no new data: a commit whose revision is not above the last
 * one's is a replay, cut and kept aside as a torn end is. A good new
 * commit after a replay is not a torn end, though: refused. */
START_TEST(test_replayed_commits_are_cut)
{
	struct objfile *f = open_mode(_i);
	struct objfile_changes c;
	size_t ends[6], len, frag4, frag5;
	uint8_t *buf, *tail;
	const uint8_t one[] = { 0x18, 0x02 };

	build_log(f, 5, ends);
	buf = read_file(path, &len);
	frag4 = ends[4] - ends[3];
	frag5 = ends[5] - ends[4];
	tail = xmalloc(2 * (frag4 + frag5) + 64);
	/* The last commit, once, then twice. */
	memcpy(tail, buf + ends[4], frag5);
	assert_tail_cut_and_kept(f, buf, ends[5], tail, frag5, 14);
	memcpy(tail + frag5, buf + ends[4], frag5);
	assert_tail_cut_and_kept(f, buf, ends[5], tail, 2 * frag5, 14);
	/* Two older commits. */
	memcpy(tail, buf + ends[2], ends[4] - ends[2]);
	assert_tail_cut_and_kept(f, buf, ends[5], tail, ends[4] - ends[2], 14);

	/* A replay, then a good commit of revision 15. */
	memset(&c, 0, sizeof(c));
	objfile_change_set(&c, "new", 3, one, sizeof(one));
	objfile_change_commit(&c, 15);
	memcpy(tail, buf + ends[4], frag5);
	memcpy(tail + frag5, c.buf.data, c.buf.len);
	memcpy(buf + ends[5], tail, frag5 + c.buf.len);
	assert_refused_untouched(f, buf, ends[5] + frag5 + c.buf.len, 0600,
	    "a replay before a new commit");
	free(c.buf.data);
	free(tail);
	free(buf);
	objfile_close(f);
}
END_TEST

/* Two torn ends cut in the same second are both kept, each under its
 * own name; and a torn end that cannot be kept is not cut. */
START_TEST(test_every_torn_end_is_kept)
{
	struct objfile *f = open_mode(_i);
	size_t ends[6], len;
	uint8_t *buf;
	char squat[256], stamp[32], err[1024];
	struct rlimit rl, saved;
	struct store *t;
	time_t now = time(NULL);
	bool held;

	build_log(f, 5, ends);
	buf = read_file(path, &len);
	/* The names of this second and the next ones are taken, as by
	 * an earlier cut: objd must pick others, not drop the bytes. */
	for (int i = 0; i < 30; i++) {
		time_t when = now + i;
		struct tm tm;

		gmtime_r(&when, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(squat, sizeof(squat), "%s.torn-%s", path, stamp);
		write_file(squat, (const uint8_t *)"older", 5);
	}
	memset(buf + ends[5] - 3, 0xff, 3); /* the last commit, torn */
	assert_tail_cut_and_kept(f, buf, ends[4], buf + ends[4], len - ends[4],
	    13);
	memset(buf + ends[4] - 2, 0xee, 2); /* then the one before */
	assert_tail_cut_and_kept(f, buf, ends[3], buf + ends[3], len - ends[3],
	    12);
	ck_assert_int_eq(
	    files_named("objd.pb.torn-", (const uint8_t *)"older", 5, &held),
	    32);

	/* No room beside the file for the torn end: nothing is cut. */
	getrlimit(RLIMIT_FSIZE, &saved);
	rl = saved;
	rl.rlim_cur = 1000;
	signal(SIGXFSZ, SIG_IGN);
	buf = xrealloc(buf, ends[2] + 3000);
	memset(buf + ends[2], 0xff, 3000);
	write_file(path, buf, ends[2] + 3000);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, true, err, sizeof(err)), -1);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	ck_assert_msg(strstr(err, "cannot keep") != NULL, "%s", err);
	ck_assert_int_eq(file_size(), (off_t)ends[2] + 3000);
	store_free(t);
	free(buf);
	objfile_close(f);
}
END_TEST

/* A file objd refuses keeps its mode: objd makes its file 0600 only once
 * it takes it. */
START_TEST(test_refused_file_keeps_its_mode)
{
	static const uint8_t garbage[] = "\x0fnot an object at all";
	struct objfile *f = open_mode(0);
	struct store *t = store_new();
	char err[512];

	assert_refused_untouched(f, garbage, sizeof(garbage) - 1, 0644,
	    "garbage");
	/* A file it takes is made 0600. */
	write_file(path, (const uint8_t *)"", 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_msg(objfile_load(f, t, true, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(path_stat().st_mode & 07777, 0600);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* The new files that a killed objd left (kill -9 during a compaction)
 * are removed when an objd of the same file starts; those of an objd of
 * another file in the folder, and other names, are not. */
START_TEST(test_stale_new_files_are_removed_at_start)
{
	static const char *const stale[] = { ".objd-new.objd.pb.a1B2c3",
		".objd-new.objd.pb.zzzzzz" };
	static const char *const kept[] = { ".objd-new.other.pb.a1B2c3",
		".objd-new.objd.pb.a1B2c3x", "objd.pb.torn-x" };
	char err[512], name[256];
	uint8_t *big = xcalloc(1, 100000);
	struct objfile *f = open_mode(0);
	struct store *s = sample_store();
	int status;

	/* open_mode made the folder; a compaction's file, and a
	 * rewrite's, are written where they would be. */
	ck_assert_int_eq(objfile_rewrite(f, s, err, sizeof(err)), 0);
	objfile_close(f);
	for (size_t i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "%s/sub/%s", dir, stale[i]);
		write_file(name, big, 100000);
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s/sub/%s", dir, kept[i]);
		write_file(name, big, 10);
	}
	ck_assert_int_eq(temp_files(), 4);
	f = open_mode(0);
	for (size_t i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "%s/sub/%s", dir, stale[i]);
		ck_assert_msg(access(name, F_OK) == -1, "%s is still there",
		    stale[i]);
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s/sub/%s", dir, kept[i]);
		ck_assert_msg(access(name, F_OK) == 0, "%s was removed",
		    kept[i]);
	}
	objfile_close(f);

	/* An objd that dies during its compaction, as under kill -9. */
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		pid_t child;

		f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
		if (f == NULL ||
		    (child = objfile_compact_start(f, s, err, sizeof(err))) ==
		        -1 ||
		    waitpid(child, &status, 0) != child)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(temp_files(), 3);
	f = open_mode(0);
	ck_assert_int_eq(temp_files(), 2);
	store_free(s);
	free(big);
	objfile_close(f);
}
END_TEST

/* A failed write leaves nothing behind, and the next one lands right. */
START_TEST(test_failed_append_leaves_no_trace)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *t = store_new();
	struct objfile_changes c;
	struct rlimit rl, saved;
	size_t ends[3];
	uint8_t *big = xcalloc(1, 300000);

	build_log(f, 2, ends);
	getrlimit(RLIMIT_FSIZE, &saved);
	rl = saved;
	rl.rlim_cur = ends[2] + 1000;
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	objfile_changes_init(f, &c);
	/* A bytes value: field 6, length 299990. */
	big[0] = (6 << 3) | 2;
	big[1] = 0xd6;
	big[2] = 0xa7;
	big[3] = 0x12;
	objfile_change_set(&c, "big", 3, big, 300000);
	objfile_change_commit(&c, 12);
	ck_assert_int_eq(objfile_append(f, t, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "File too large") != NULL, "%s", err);
	objfile_changes_free(f, &c);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	/* The cut back was objd's own: no reason to reload. */
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);

	objfile_changes_init(f, &c);
	objfile_change_delete(&c, "k1", 2);
	objfile_change_commit(&c, 12);
	ck_assert_int_eq(objfile_append(f, t, &c, err, sizeof(err)), 0);
	objfile_changes_free(f, &c);
	ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_revision(t), 12);
	ck_assert_ptr_null(store_get(t, "big", 3));
	ck_assert_ptr_null(store_get(t, "k1", 2));
	store_free(t);
	free(big);
	objfile_close(f);
}
END_TEST

/* Writes a log of five changes to the file, loads it into s, and starts
 * compacting it; returns the child. */
static pid_t
compact_a_log(struct objfile *f, struct store *s, size_t ends[6])
{
	char err[512];
	pid_t pid;

	build_log(f, 5, ends);
	ck_assert_int_eq(objfile_load(f, s, false, err, sizeof(err)), 0);
	pid = objfile_compact_start(f, s, err, sizeof(err));
	ck_assert_msg(pid > 0, "%s", err);
	return pid;
}

/* Compaction in a child, with a change appended while it runs. */
START_TEST(test_compaction_keeps_changes_made_meanwhile)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store(), *t = store_new();
	struct objfile_changes c;
	size_t ends[6];
	pid_t pid;
	int status;

	/* Without history, so that the compacted file is smaller than the
	 * log (with it, it keeps every version the log holds). */
	history_depth = 0;
	pid = compact_a_log(f, s, ends);
	objfile_changes_init(f, &c);
	objfile_change_delete(&c, "name", 4);
	objfile_change_commit(&c, 15);
	ck_assert_int_eq(objfile_append(f, s, &c, err, sizeof(err)), 0);
	objfile_changes_free(f, &c);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(objfile_compact_finish(f, status, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_revision(t), 15);
	ck_assert_uint_eq(store_count(t), store_count(s) - 1);
	ck_assert_ptr_null(store_get(t, "name", 4));
	ck_assert_uint_eq(store_get(t, "k5", 2)->revision, 14);
	ck_assert_uint_lt(objfile_stats(f)->file_size, ends[5]);
	ck_assert_uint_eq(file_chunks() > 0, _i == 1);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* A file that another program renames in while a compaction runs is
 * left for the reload to find, not replaced by the compaction; when
 * objd does not look for such files, the compaction goes ahead, as its
 * changes went to the file it had open. */
START_TEST(test_compaction_gives_way_to_a_replaced_file)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store(), *t = store_new();
	size_t ends[6];
	pid_t pid;
	int status;

	objfile_watch_others(f, true);
	pid = compact_a_log(f, s, ends);
	rename_empty_file_in();
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(objfile_compact_finish(f, status, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "was replaced") != NULL, "%s", err);
	ck_assert(!objfile_compacting(f));
	ck_assert_int_eq(file_size(), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_count(t), 0);
	ck_assert_int_eq(temp_files(), 0);

	objfile_watch_others(f, false);
	pid = objfile_compact_start(f, s, err, sizeof(err));
	ck_assert_msg(pid > 0, "%s", err);
	rename_empty_file_in();
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(objfile_compact_finish(f, status, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	store_free(t);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_count(t), store_count(s));
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* A file removed while the child writes is put back by the compaction,
 * as a reload would write the state back. _i 1 writes compressed
 * snapshots. */
START_TEST(test_compaction_puts_back_a_removed_file)
{
	char err[512];
	struct objfile *f = open_mode(_i);
	struct store *s = sample_store(), *t = store_new();
	size_t ends[6];
	pid_t pid;
	int status;

	objfile_watch_others(f, true);
	pid = compact_a_log(f, s, ends);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(objfile_compact_finish(f, status, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	ck_assert_int_eq(objfile_load(f, t, false, err, sizeof(err)), 0);
	assert_same(s, t);
	ck_assert_int_eq(temp_files(), 0);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* Checks that the file ends in room with --fsync always and without it
 * otherwise, and that a change then goes into the room. */
static void
assert_room_takes_next_change(struct objfile *f, struct store *s,
    enum fsync_mode mode, uint64_t revision)
{
	const struct objfile_stats *st = objfile_stats(f);
	off_t size = file_size();

	ck_assert_int_eq(size, (off_t)(st->file_size + st->file_room));
	if (mode == FSYNC_ALWAYS)
		ck_assert_uint_ge(st->file_room, 64 * 1024);
	else
		ck_assert_uint_eq(st->file_room, 0);
	append_sized(f, s, revision, 60);
	ck_assert_int_eq(file_size(), mode == FSYNC_ALWAYS ? size : size + 60);
}

/* A new file, a rewrite's or a compaction's, ends as appends leave it:
 * with room with --fsync always, so that the first change after it is
 * written inside the file; without in the other modes. _i 0: always,
 * 1: never. */
START_TEST(test_new_files_keep_room_with_fsync_always)
{
	char err[512];
	enum fsync_mode mode = _i == 0 ? FSYNC_ALWAYS : FSYNC_NEVER;
	struct objfile *f = objfile_open(path, mode, err, sizeof(err));
	struct store *s = sample_store(), *t = store_new();
	size_t room;
	pid_t pid;
	int status;

	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_msg(objfile_rewrite(f, s, err, sizeof(err)) == 0, "%s", err);
	assert_room_takes_next_change(f, s, mode, 10);
	pid = objfile_compact_start(f, s, err, sizeof(err));
	ck_assert_msg(pid > 0, "%s", err);
	/* Written meanwhile, so it follows the snapshot, before the room. */
	append_sized(f, s, 11, 60);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(objfile_compact_finish(f, status, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	assert_room_takes_next_change(f, s, mode, 12);
	room = objfile_stats(f)->file_room;
	objfile_close(f);
	/* Read back, by objd and as a protobuf message. */
	objd__object__free_unpacked(unpack_file(), NULL);
	f = objfile_open(path, mode, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_msg(objfile_load(f, t, true, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_revision(t), 12);
	ck_assert_uint_eq(objfile_stats(f)->file_room, room);
	ck_assert_uint_eq(objfile_stats(f)->recovered_bytes, 0);
	store_free(t);
	store_free(s);
	objfile_close(f);
}
END_TEST

/* Descriptors open in this process. */
static size_t
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* objd closes a large file it has replaced on a thread of its own (the
 * last close frees the file's blocks): the descriptor must still go. */
START_TEST(test_replaced_file_is_closed)
{
	static const uint8_t kilobyte[1024];
	char err[512], key[16];
	struct objfile *f = open_mode(0);
	struct store *s = store_new(), *t = store_new();
	size_t before;

	for (int i = 0; i < 2048; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put_value(s, key, value_new_bytes(kilobyte, sizeof(kilobyte)),
		    1);
	}
	store_set_revision(s, 1);
	ck_assert_msg(objfile_rewrite(f, s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_ge(file_size(), 2 * 1024 * 1024);
	before = open_fds();
	ck_assert_msg(objfile_rewrite(f, s, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < 500 && open_fds() > before; i++)
		usleep(10 * 1000);
	ck_assert_uint_eq(open_fds(), before);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	ck_assert_msg(objfile_load(f, t, true, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_count(t), 2048);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* A byte flipped inside a compressed snapshot's chunk, with good commits
 * after it, is damage, as in a plain entry: refused, nothing cut. */
START_TEST(test_damage_in_a_chunk_is_refused)
{
	struct objfile *f = open_mode(1);
	size_t ends[6], len;
	uint8_t *buf;

	build_log(f, 5, ends);
	buf = read_file(path, &len);
	/* The header's 4 bytes, then the chunk's tag and a one-byte
	 * length: its middle is zlib data. */
	ck_assert_uint_eq(buf[4], (3 << 3) | 2);
	ck_assert_uint_lt(buf[5], 0x80);
	buf[6 + buf[5] / 2] ^= 0x01;
	assert_damaged_refused(f, buf, len, 0);
}
END_TEST

static uint8_t *
deflate_bytes(const uint8_t *p, size_t len, size_t *outlen)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(9);
	size_t n = libdeflate_zlib_compress_bound(c, len);
	uint8_t *out = xmalloc(n + 2);

	*outlen = libdeflate_zlib_compress(c, p, len, out, n);
	ck_assert_uint_gt(*outlen, 0);
	libdeflate_free_compressor(c);
	return out;
}

/* n map entries "k0".. with string values of size bytes, serialized. */
static uint8_t *
entries_bytes(size_t n, size_t size, size_t *len)
{
	Objd__Object obj = OBJD__OBJECT__INIT;
	Objd__Object__EntriesEntry *e = xcalloc(n, sizeof(*e));
	Objd__Object__EntriesEntry **ep = xcalloc(n, sizeof(*ep));
	Objd__Value *v = xcalloc(n, sizeof(*v));
	char *text = xmalloc(size + 1), (*keys)[16] = xcalloc(n, 16);
	uint8_t *buf;

	memset(text, 'x', size);
	text[size] = '\0';
	for (size_t i = 0; i < n; i++) {
		objd__object__entries_entry__init(&e[i]);
		objd__value__init(&v[i]);
		v[i].kind_case = OBJD__VALUE__KIND_STRING_VALUE;
		v[i].string_value = text;
		snprintf(keys[i], 16, "k%zu", i);
		e[i].key = keys[i];
		e[i].value = &v[i];
		ep[i] = &e[i];
	}
	obj.n_entries = n;
	obj.entries = ep;
	*len = objd__object__get_packed_size(&obj);
	buf = xmalloc(*len);
	objd__object__pack(&obj, buf);
	free(e);
	free(ep);
	free(v);
	free(text);
	free(keys);
	return buf;
}

/* Writes a file of one deflated chunk (its bytes as given); with ours, a
 * header before it and a commit after it that counts n_entries, as
 * objd writes them. */
static void
write_chunk_file(const uint8_t *chunk, size_t chunklen, bool ours,
    uint32_t n_entries)
{
	Objd__Object obj = OBJD__OBJECT__INIT, tail = OBJD__OBJECT__INIT;
	Objd__FileHeader h = OBJD__FILE_HEADER__INIT;
	Objd__Commit c = OBJD__COMMIT__INIT, *cp = &c;
	ProtobufCBinaryData d = { chunklen, (uint8_t *)chunk };
	size_t len;
	uint8_t *buf;

	h.format = 1;
	obj.header = ours ? &h : NULL;
	obj.n_deflated_entries = 1;
	obj.deflated_entries = &d;
	len = objd__object__get_packed_size(&obj);
	buf = xmalloc(len + 64);
	objd__object__pack(&obj, buf);
	if (ours) {
		c.revision = 1;
		c.crc32 = libdeflate_crc32(0, buf, len);
		c.n_entries = n_entries;
		tail.n_commits = 1;
		tail.commits = &cp;
		len += objd__object__pack(&tail, buf + len);
	}
	write_file(path, buf, len);
	free(buf);
}

/* A file whose chunk is bad is refused whole, as one with a bad plain
 * entry is: no cut (its crc is good, so it is not torn), no partial
 * state. */
static void
expect_refused(const uint8_t *chunk, size_t chunklen, bool ours,
    uint32_t n_entries, const char *why)
{
	char err[512];
	struct objfile *f = objfile_open(path, FSYNC_ALWAYS, err, sizeof(err));
	struct store *t = store_new();
	size_t len, good_end, after;
	uint8_t *buf;
	bool is_ours;

	ck_assert_msg(f != NULL, "%s", err);
	write_chunk_file(chunk, chunklen, ours, n_entries);
	buf = read_file(path, &len);
	ck_assert_int_eq(objfile_scan_buffer(buf, len, t, &good_end, &is_ours,
	                     err, sizeof(err)),
	    SCAN_INVALID);
	ck_assert_msg(strstr(err, why) != NULL, "want \"%s\" in \"%s\"", why,
	    err);
	store_free(t);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, true, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, why) != NULL, "want \"%s\" in \"%s\"", why,
	    err);
	free(read_file(path, &after));
	ck_assert_uint_eq(after, len);
	free(buf);
	store_free(t);
	objfile_close(f);
}

/* Zip bombs: a chunk that inflates past 64 KiB is refused once 64 KiB
 * and one byte have come out, however far it would go. */
START_TEST(test_zip_bomb_chunk_is_refused)
{
	size_t plainlen, zlen;
	uint8_t *plain, *z;

	/* One entry of 70000 bytes: sound, but over the bound. */
	plain = entries_bytes(1, 70000, &plainlen);
	z = deflate_bytes(plain, plainlen, &zlen);
	expect_refused(z, zlen, true, 1, "inflates to more than 65536 bytes");
	expect_refused(z, zlen, false, 0, "inflates to more than 65536 bytes");
	free(plain);
	free(z);
	/* 256 MiB of zeros in about 250 KiB. */
	plainlen = (size_t)256 << 20;
	plain = xcalloc(1, plainlen);
	z = deflate_bytes(plain, plainlen, &zlen);
	ck_assert_uint_lt(zlen, 1 << 20);
	expect_refused(z, zlen, true, 1, "inflates to more than 65536 bytes");
	free(plain);
	free(z);
}
END_TEST

START_TEST(test_bad_chunks_are_refused)
{
	Objd__Object hdr = OBJD__OBJECT__INIT;
	Objd__FileHeader h = OBJD__FILE_HEADER__INIT;
	/* An entry whose key claims 5 bytes of the 1 there are. */
	static const uint8_t malformed[] = { (2 << 3) | 2, 3, 0x0a, 5, 'k' };
	/* A sound entry whose value (field 6 of Value, 0xff) is not. */
	static const uint8_t bad_value[] = { (2 << 3) | 2, 5, 0x0a, 1, 'k',
		0x12, 0 };
	uint8_t packed[16];
	size_t plainlen, zlen, n;
	uint8_t *plain, *z;

	expect_refused((const uint8_t *)"not zlib", 8, true, 1,
	    "does not load");
	plain = entries_bytes(2, 10, &plainlen);
	z = deflate_bytes(plain, plainlen, &zlen);
	expect_refused(z, zlen - 3, true, 2, "cut short");
	memcpy(z + zlen, "xx", 2);
	expect_refused(z, zlen + 2, true, 2, "bytes follow its zlib stream");
	/* The crc is good; the count is not. */
	expect_refused(z, zlen, true, 3, "counts 3 entries");
	expect_refused(z, zlen, true, 1, "counts 1 entries");
	free(z);
	free(plain);

	/* Only map entries may be inside: not a header, not a commit. */
	h.format = 1;
	hdr.header = &h;
	n = objd__object__pack(&hdr, packed);
	z = deflate_bytes(packed, n, &zlen);
	expect_refused(z, zlen, true, 0, "other than map entries");
	free(z);
	z = deflate_bytes(malformed, sizeof(malformed), &zlen);
	expect_refused(z, zlen, true, 1,
	    "malformed entry in the deflated chunk");
	free(z);
	/* Another program's file is checked as strictly inside chunks as
	 * outside them. */
	z = deflate_bytes(bad_value, sizeof(bad_value), &zlen);
	expect_refused(z, zlen, false, 0, "bad value for key \"k\"");
	free(z);
}
END_TEST

/* A chunk as zlib itself made it (zlib 1.2.13, compress() at its default
 * level, a dynamic Huffman block), the way objd wrote chunks before it
 * deflated with libdeflate: files written then still load. It holds
 * "name": "John", "age": 30 and "key:000".."key:039" set to "value N
 * of 40". */
static const uint8_t zlib_made_chunk[] = { 0x78, 0x9c, 0x5d, 0xd0, 0xbb, 0x4a,
	0x04, 0x41, 0x18, 0x44, 0x61, 0xd0, 0x65, 0xc5, 0x01, 0x57, 0xe9, 0x48,
	0x34, 0x99, 0x78, 0xa2, 0xee, 0xaa, 0x9e, 0x9b, 0xf8, 0x04, 0xbe, 0xc5,
	0x04, 0xb3, 0x0a, 0xea, 0x6e, 0xb4, 0x82, 0x6f, 0x6f, 0x32, 0xf2, 0x17,
	0x15, 0x9f, 0xe8, 0x7c, 0xe9, 0xb6, 0xb9, 0x5e, 0xde, 0xd7, 0x74, 0xf5,
	0xf8, 0x9a, 0x9e, 0x9a, 0x9b, 0xcf, 0xf5, 0xf7, 0x25, 0xe7, 0x9c, 0xee,
	0xbb, 0xbb, 0x9f, 0xe5, 0xeb, 0xb2, 0xb6, 0xb9, 0x3d, 0x1f, 0xdb, 0x9a,
	0xa3, 0x95, 0x68, 0xc5, 0x1b, 0xa2, 0xc1, 0x1b, 0xa3, 0xd1, 0x5b, 0x8d,
	0x56, 0xbd, 0xf5, 0xd1, 0x7a, 0x6f, 0x43, 0xb4, 0xc1, 0xdb, 0x18, 0x6d,
	0xf4, 0x36, 0x45, 0x9b, 0xbc, 0xcd, 0xd1, 0xe6, 0xad, 0x3d, 0x6f, 0xad,
	0xe4, 0xf4, 0xd0, 0x1d, 0xb6, 0xf7, 0xec, 0xb1, 0x48, 0x2c, 0x1e, 0x21,
	0x11, 0x1e, 0x29, 0x91, 0x1e, 0xab, 0xc4, 0xea, 0xb1, 0x97, 0xd8, 0x7b,
	0x1c, 0x24, 0x0e, 0x1e, 0x47, 0x89, 0xa3, 0xc7, 0x49, 0xe2, 0xe4, 0x71,
	0x96, 0xe8, 0x42, 0x10, 0x21, 0xb8, 0x10, 0x44, 0x08, 0x2e, 0x04, 0x11,
	0x82, 0x0b, 0x41, 0x84, 0xe0, 0x42, 0x10, 0x21, 0xb8, 0x10, 0x44, 0x08,
	0x2e, 0x04, 0x11, 0x82, 0x0b, 0x41, 0x84, 0xe0, 0x42, 0x10, 0x21, 0xb8,
	0x10, 0x44, 0x08, 0x2e, 0x44, 0x11, 0xa2, 0x0b, 0x51, 0x84, 0xe8, 0x42,
	0x14, 0x21, 0xba, 0x10, 0x45, 0x88, 0x2e, 0x44, 0x11, 0xa2, 0x0b, 0x51,
	0x84, 0xe8, 0x42, 0x14, 0x21, 0xba, 0x10, 0x45, 0x88, 0x2e, 0x44, 0x11,
	0xa2, 0x0b, 0x51, 0x84, 0xf8, 0x2f, 0x74, 0x68, 0x76, 0xa7, 0xe5, 0x7b,
	0x4d, 0xfb, 0x6e, 0xf7, 0x76, 0xfe, 0x38, 0xfd, 0x01, 0xea, 0x04, 0x13,
	0x7b };

START_TEST(test_zlib_made_chunk_loads)
{
	char err[512];
	struct objfile *f = open_mode(0);
	struct store *want = store_new(), *t = store_new();
	char key[16], text[32];

	put_value(want, "name", value_new_string("John", 4), 1);
	put_value(want, "age", value_new_int(30), 1);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "key:%03d", i);
		snprintf(text, sizeof(text), "value %d of 40", i);
		put_value(want, key, value_new_string(text, strlen(text)), 1);
	}
	write_chunk_file(zlib_made_chunk, sizeof(zlib_made_chunk), true, 42);
	ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0, "%s",
	    err);
	assert_same(want, t);
	ck_assert_uint_eq(store_revision(t), 1);
	store_free(want);
	store_free(t);
	objfile_close(f);
}
END_TEST

/* Chunks are read whatever the option says: in objd's files and in
 * another program's, where the plain entries after them win. */
START_TEST(test_chunks_load_without_compress)
{
	char err[512];
	static const uint8_t k7_null[] = { (2 << 3) | 2, 8, 0x0a, 2, 'k', '7',
		0x12, 2, 0x08, 0 };
	struct objfile *f = open_mode(0);
	struct store *t = store_new();
	size_t plainlen, zlen, len, good_end;
	uint8_t *plain, *z, *buf;
	bool ours;

	plain = entries_bytes(300, 20, &plainlen);
	z = deflate_bytes(plain, plainlen, &zlen);
	write_chunk_file(z, zlen, true, 300);
	ck_assert_msg(objfile_load(f, t, false, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(store_count(t), 300);
	ck_assert_uint_eq(store_revision(t), 1);
	ck_assert_uint_eq(store_get(t, "k299", 4)->revision, 1);
	store_free(t);

	/* Another program's: the chunk, then a plain entry that sets k7 to
	 * null (Value field 1, varint 0). */
	write_chunk_file(z, zlen, false, 0);
	buf = read_file(path, &len);
	buf = xrealloc(buf, len + sizeof(k7_null));
	memcpy(buf + len, k7_null, sizeof(k7_null));
	len += sizeof(k7_null);
	t = store_new();
	ck_assert_int_eq(objfile_scan_buffer(buf, len, t, &good_end, &ours, err,
	                     sizeof(err)),
	    SCAN_OK);
	ck_assert(!ours);
	ck_assert_uint_eq(store_count(t), 300);
	ck_assert_uint_eq(store_get(t, "k7", 2)->vallen, 2);
	free(buf);
	free(z);
	free(plain);
	store_free(t);
	objfile_close(f);
}
END_TEST

static Suite *
objfile_suite(void)
{
	Suite *s = suite_create("objfile");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_round_trip, 0, 2);
	tcase_add_test(tc, test_compressed_snapshot_round_trip);
	tcase_add_test(tc, test_lock_keeps_second_objd_off);
	tcase_add_test(tc, test_lock_dies_with_its_process);
	tcase_add_loop_test(tc, test_every_truncation_is_refused, 0, 2);
	tcase_add_loop_test(tc, test_flipped_bytes_are_refused, 0, 2);
	tcase_add_loop_test(tc, test_trailing_garbage_is_refused, 0, 2);
	tcase_add_test(tc, test_foreign_file_last_entry_wins);
	tcase_add_test(tc, test_check_and_reject);
	tcase_add_test(tc, test_write_back_replaces_only_what_was_read);
	tcase_add_test(tc, test_write_back_in_a_child);
	tcase_add_test(tc, test_compaction_tail);
	tcase_add_test(tc, test_check_after_appends);
	tcase_add_test(tc, test_file_times_after_objd_clock);
	tcase_add_test(tc, test_commit_pack_matches_protobuf_c);
	tcase_add_loop_test(tc, test_history_records_match_protobuf_c, 0, 2);
	tcase_add_test(tc, test_records_read_as_the_schema_packs_them);
	tcase_add_test(tc, test_snapshot_copies_unchanged_records);
	tcase_add_test(tc, test_crc32_matches_libdeflate);
	tcase_add_test(tc, test_objformat_pieces_make_an_object);
	tcase_add_loop_test(tc, test_appended_changes, 0, 2);
	tcase_add_loop_test(tc, test_cut_at_every_offset_of_the_last_changes, 0,
	    2);
	tcase_add_loop_test(tc, test_recover_torn_end, 0, 2);
	tcase_add_test(tc, test_large_values_written_in_place);
	tcase_add_test(tc, test_room_takes_changes_and_grows);
	tcase_add_test(tc, test_blocks_allocated_ahead);
	tcase_add_test(tc, test_room_is_cut_without_fsync_always);
	tcase_add_test(tc,
	    test_change_is_written_without_room_when_disk_is_short);
	tcase_add_loop_test(tc, test_flips_before_the_last_commit_are_refused,
	    0, 2);
	tcase_add_loop_test(tc, test_cut_snapshot_is_refused_at_start, 0, 2);
	tcase_add_loop_test(tc, test_replayed_commits_are_cut, 0, 2);
	tcase_add_loop_test(tc, test_every_torn_end_is_kept, 0, 2);
	tcase_add_test(tc, test_refused_file_keeps_its_mode);
	tcase_add_test(tc, test_stale_new_files_are_removed_at_start);
	tcase_add_loop_test(tc, test_damage_before_good_commits_is_refused, 0,
	    2);
	tcase_add_test(tc, test_damage_in_a_chunk_is_refused);
	tcase_add_loop_test(tc, test_failed_append_leaves_no_trace, 0, 2);
	tcase_add_loop_test(tc, test_new_files_keep_room_with_fsync_always, 0,
	    2);
	tcase_add_test(tc, test_replaced_file_is_closed);
	tcase_add_loop_test(tc, test_compaction_gives_way_to_a_replaced_file, 0,
	    2);
	tcase_add_loop_test(tc, test_compaction_puts_back_a_removed_file, 0, 2);
	tcase_add_loop_test(tc, test_compaction_keeps_changes_made_meanwhile, 0,
	    2);
	tcase_add_test(tc, test_zip_bomb_chunk_is_refused);
	tcase_add_test(tc, test_bad_chunks_are_refused);
	tcase_add_test(tc, test_chunks_load_without_compress);
	tcase_add_test(tc, test_zlib_made_chunk_loads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	snprintf(base, sizeof(base), "/tmp/objd-objfile.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	sr = srunner_create(objfile_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!remove_tree(base))
		fprintf(stderr, "check_objfile: cannot remove %s\n", base);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
