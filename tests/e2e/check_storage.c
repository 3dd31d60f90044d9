/* SPDX-License-Identifier: ISC */
/* check_storage.c: the object file end to end, with a real objd: crashes
 * at random moments, torn and damaged files, compaction while clients
 * write, and replacements seen through inotify. */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <linux/magic.h>

#include "framing.h"
#include "harness.h"
#include "objd-client.h"
#include "value.h"

static struct session *const s = &e2e_session;

static void
set_int(objd_client *c, const char *key, int64_t n)
{
	Objd__Value *v = value_new_int(n);
	const Objd__Value *vals[] = { v };
	const char *keys[] = { key };

	ck_assert_msg(objd_set(c, keys, vals, 1) == OBJD_OK, "set %s: %s", key,
	    objd_client_error(c));
	value_free(v);
}

static int64_t
get_int(objd_client *c, const char *key)
{
	Objd__Value *v = NULL;
	int64_t n;

	ck_assert_msg(objd_get(c, key, &v) == OBJD_OK, "get %s: %s", key,
	    objd_client_error(c));
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_INT_VALUE);
	n = v->int_value;
	value_free(v);
	return n;
}

static uint64_t
status_u64(const char *field)
{
	objd_client *c = e2e_client(s);
	Objd__Response *r = NULL;
	uint64_t v;

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	if (strcmp(field, "revision") == 0)
		v = r->info->revision;
	else if (strcmp(field, "keys") == 0)
		v = r->info->keys;
	else if (strcmp(field, "recovered_bytes") == 0)
		v = r->info->recovered_bytes;
	else if (strcmp(field, "commit_waits") == 0)
		v = r->info->commit_waits;
	else if (strcmp(field, "commit_waits_expired") == 0)
		v = r->info->commit_waits_expired;
	else if (strcmp(field, "file_room") == 0)
		v = r->info->file_room;
	else
		v = r->info->file_size;
	objd_response_free(r);
	objd_close(c);
	return v;
}

/* The writer of a crash round: sets keys w<i> = i (every tenth one with a
 * large value, so a kill can land inside a long write), deletes every
 * seventh, and reports each acknowledged step on fd as its i. */
static _Noreturn void
crash_writer(const char *sock, int fd, int round)
{
	objd_client *c = NULL;
	char key[32], err[256];
	char *big = malloc(20000);

	memset(big, 'x', 19999);
	big[19999] = '\0';
	if (objd_connect(sock, 5, &c, err, sizeof(err)) != OBJD_OK)
		_exit(0);
	for (int32_t i = 1;; i++) {
		Objd__Value *v = i % 10 == 0 ? value_new_string(big, 19999)
		                             : value_new_int(i);
		const Objd__Value *vals[] = { v };
		const char *keys[] = { key };
		int rc;

		snprintf(key, sizeof(key), "w%d", i);
		if (i % 7 == 0) {
			snprintf(key, sizeof(key), "w%d", i - 1);
			rc = objd_delete(c, keys, 1);
			i = -i;
		} else
			rc = objd_set(c, keys, vals, 1);
		value_free(v);
		if (rc != OBJD_OK)
			_exit(0);
		if (round % 3 == 0 && i % 50 == 0 && objd_compact(c) != OBJD_OK)
			_exit(0);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(1);
		if (i < 0)
			i = -i;
	}
}

/* objd killed at a random moment while a client writes: after a restart
 * every acknowledged change is there, in every fsync mode, and the file
 * still loads. */
START_TEST(test_kill9_rounds)
{
	static const char *modes[] = { "always", "interval", "never" };
	unsigned seed = (unsigned)getpid();

	for (int round = 0; round < 12; round++) {
		const char *mode = modes[round % 3];
		struct objd_opts o = { .extra = E2E_ARGV("--fsync", mode) };
		int fds[2], status;
		int32_t step, last_set = 0, last_deleted = 0;
		pid_t writer;
		objd_client *c;
		char key[32];

		e2e_start_opts(s, &o);
		ck_assert_int_eq(pipe(fds), 0);
		writer = fork();
		ck_assert_int_ne(writer, -1);
		if (writer == 0) {
			close(fds[0]);
			crash_writer(s->sock, fds[1], round);
		}
		close(fds[1]);
		e2e_sleep(0.02 + (double)(rand_r(&seed) % 200) / 1000.0);
		e2e_kill9(s);
		/* Read until the writer exits, then reap it: with objd on
		 * its CPU it can report more steps than the pipe holds
		 * (16,384 in 0.2 s), and would wait on a full pipe. */
		while (read(fds[0], &step, sizeof(step)) == sizeof(step)) {
			if (step > 0)
				last_set = step;
			else
				last_deleted = -step - 1;
		}
		close(fds[0]);
		ck_assert_int_eq(waitpid(writer, &status, 0), writer);
		if (getenv("OBJD_TEST_VERBOSE") != NULL)
			fprintf(stderr, "round %d (%s): %d acknowledged\n",
			    round, mode, last_set);

		e2e_start_opts(s, &o);
		c = e2e_client(s);
		for (int32_t i = 1; i <= last_set; i++) {
			Objd__Value *v = NULL;
			int rc;

			if (i % 7 == 0)
				continue;
			snprintf(key, sizeof(key), "w%d", i);
			rc = objd_get(c, key, &v);
			if (i % 7 == 6 && i <= last_deleted) {
				ck_assert_msg(rc == OBJD_NOT_FOUND,
				    "round %d (%s): %s was deleted, yet "
				    "is there",
				    round, mode, key);
				continue;
			}
			/* The delete of the last key set may have been
			 * committed without its answer getting out: an
			 * unacknowledged change may or may not be there. */
			if (i % 7 == 6 && i == last_set && rc == OBJD_NOT_FOUND)
				continue;
			ck_assert_msg(rc == OBJD_OK,
			    "round %d (%s): acknowledged %s is lost (last "
			    "acknowledged: w%d; %s)\n%s",
			    round, mode, key, last_set, objd_client_error(c),
			    e2e_log_tail(s));
			if (i % 10 != 0)
				ck_assert_int_eq(v->int_value, i);
			value_free(v);
		}
		objd_close(c);
		e2e_stop(s);
		/* The next round starts from what this one left. */
		unlink(s->file);
	}
}
END_TEST

/* A torn end (half a write, then zeroes) is cut at start and kept. The
 * write lands where objd writes the next change, over the room after
 * the last one (--fsync always), so all that follows is cut. */
START_TEST(test_torn_end_is_cut_at_start)
{
	objd_client *c;
	char *buf, *torn;
	size_t len, end, room;
	int fd;

	e2e_start(s);
	c = e2e_client(s);
	for (int i = 0; i < 20; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		set_int(c, key, i);
	}
	objd_close(c);
	end = status_u64("file_size");
	room = status_u64("file_room");
	e2e_stop(s);

	buf = e2e_read_file(s->file, &len);
	ck_assert_uint_eq(len, end + room);
	ck_assert_uint_ge(room, 64 * 1024);
	/* A copy of the last change cut in half, then a zeroed block. */
	fd = open(s->file, O_WRONLY);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(pwrite(fd, buf + end - 20, 9, (off_t)end), 9);
	torn = calloc(1, 512);
	ck_assert_int_eq(pwrite(fd, torn, 512, (off_t)end + 9), 512);
	close(fd);

	e2e_start(s);
	ck_assert_uint_eq(status_u64("keys"), 20);
	ck_assert_uint_eq(status_u64("recovered_bytes"), len - end);
	ck_assert_uint_eq(status_u64("file_size"), end);
	ck_assert_uint_eq(status_u64("file_room"), 0);
	ck_assert_str_eq(CTL_OK(s, "get", "k19"), "19\n");
	ck_assert_int_eq(
	    e2e_run(s,
	        E2E_ARGV("/bin/sh", "-c", "ls \"$0\" | grep -q torn-", s->dir)),
	    0);
	/* Writing goes on after the cut. */
	CTL_OK(s, "set", "after", "1");
	e2e_stop(s);
	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get", "after"), "1\n");
	e2e_stop(s);
	free(torn);
	free(buf);
}
END_TEST

/* A flipped byte in an old change is damage: objd refuses to start and
 * touches nothing. */
START_TEST(test_damaged_file_refuses_start)
{
	char *buf, *after;
	size_t len, len2;

	e2e_start(s);
	CTL_OK(s, "set", "a", "\"first value\"");
	CTL_OK(s, "set", "b", "2");
	CTL_OK(s, "set", "c", "3");
	e2e_stop(s);
	buf = e2e_read_file(s->file, &len);
	/* "first value" lies in the first change after the snapshot. */
	char *hit = memmem(buf, len, "first value", 11);
	ck_assert_ptr_nonnull(hit);
	hit[3] ^= 0x01;
	e2e_write_file(s->file, buf, len);
	ck_assert_int_ne(e2e_objd_cmd(s,
	                     E2E_ARGV("--foreground", "--file", s->file,
	                         "--socket", s->sock)),
	    0);
	ck_assert_msg(strstr(s->err, "damaged") != NULL, "stderr: %s", s->err);
	ck_assert(e2e_one_line(s->err));
	after = e2e_read_file(s->file, &len2);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(after, buf, len);
	free(after);
	free(buf);
}
END_TEST

/* The case: five sets, then the first entry's tag flipped from
 * 0x12 to 0x13; then the same in a compacted file. Not a torn end: objd
 * refuses to start, in one line that names the file, the byte and what
 * to do, and the file stays as it was (it used to start with {} and cut
 * the file to its header). */
START_TEST(test_flipped_tag_refuses_start)
{
	char *buf, *after, want[64];
	size_t len, len2, first;

	e2e_start(s);
	for (int i = 0; i < 5; i++) {
		char key[8];

		snprintf(key, sizeof(key), "k%d", i);
		CTL_OK(s, "set", key, "1");
	}
	if (_i == 1)
		CTL_OK(s, "compact");
	e2e_stop(s);
	buf = e2e_read_file(s->file, &len);
	/* After the 4-byte header (and the commit of the empty snapshot
	 * that a first file starts with), the first entry. */
	first = 4;
	if ((uint8_t)buf[first] == 0x7a)
		first += 2 + (uint8_t)buf[first + 1];
	ck_assert_int_eq((uint8_t)buf[first], 0x12);
	buf[first] = 0x13;
	snprintf(want, sizeof(want), "damaged at byte %zu", first);
	e2e_write_file(s->file, buf, len);
	ck_assert_int_ne(e2e_objd_cmd(s,
	                     E2E_ARGV("--foreground", "--file", s->file,
	                         "--socket", s->sock)),
	    0);
	ck_assert(e2e_one_line(s->err));
	ck_assert_msg(strstr(s->err, want) != NULL &&
	        strstr(s->err, s->file) != NULL &&
	        strstr(s->err, "restore a copy") != NULL,
	    "stderr: %s", s->err);
	after = e2e_read_file(s->file, &len2);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(after, buf, len);
	free(after);
	free(buf);
}
END_TEST

/* Writes at path an object file holding only key, with the value v
 * (which it frees), as another program would. */
static void
write_object(const char *path, const char *key, Objd__Value *v)
{
	Objd__Object obj = OBJD__OBJECT__INIT;
	Objd__Object__EntriesEntry e = OBJD__OBJECT__ENTRIES_ENTRY__INIT;
	Objd__Object__EntriesEntry *ents[] = { &e };
	uint8_t buf[64];
	size_t len;

	e.key = (char *)key;
	e.value = v;
	obj.n_entries = 1;
	obj.entries = ents;
	len = objd__object__pack(&obj, buf);
	e2e_write_file(path, buf, len);
	value_free(v);
}

/* Renames in a new object file holding only key, with the value v (which
 * it frees), as another program would. */
static void
rename_in(const char *key, Objd__Value *v)
{
	const char *tmp = e2e_path(s, "incoming");

	write_object(tmp, key, v);
	ck_assert_int_eq(rename(tmp, s->file), 0);
}

static void
rename_in_int(const char *key, int64_t value)
{
	rename_in(key, value_new_int(value));
}

/* With a long reload interval, inotify still sees a replacement at once. */
START_TEST(test_replacement_seen_through_inotify)
{
	struct objd_opts o = { .reload_interval = "600" };
	double deadline;

	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "name", "John");
	/* Another program writes a new file and renames it into place. */
	rename_in("name", value_new_string("Jane", 4));
	deadline = e2e_now() + 30;
	while (strcmp(CTL_OK(s, "get", "name"), "Jane\n") != 0) {
		ck_assert_msg(e2e_now() < deadline,
		    "replacement not seen after 30 s (interval is 600 s)");
		e2e_sleep(0.02);
	}
	e2e_stop(s);
}
END_TEST

/* A file stamped later than objd's clock says it wrote it (a network
 * filesystem does so when it flushes) looks changed once; when the
 * reload finds the state objd serves, objd asks for the times after
 * each write from then on, and says so. */
START_TEST(test_file_times_after_objd_clock)
{
	struct objd_opts o = { .reload_interval = "600" };
	struct timespec later[2];

	e2e_start_opts(s, &o);
	/* The first set creates the file, and inotify shows objd its own
	 * new file; the second is a plain append. */
	CTL_OK(s, "set", "name", "John");
	CTL_OK(s, "reload");
	CTL_OK(s, "set", "name", "Jim");
	clock_gettime(CLOCK_REALTIME, &later[0]);
	later[0].tv_sec += 10;
	later[1] = later[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, s->file, later, 0), 0);
	CTL_OK(s, "reload");
	ck_assert_msg(
	    strstr(e2e_log_tail(s), "asking for them after each write") != NULL,
	    "log:\n%s", e2e_log_tail(s));
	CTL_OK(s, "set", "name", "Jane");
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "Jane\n");
	e2e_stop(s);
}
END_TEST

/* The file is compacted when it holds much more than the live state,
 * and on request, while a client keeps writing; nothing is lost. */
START_TEST(test_compaction_under_writes)
{
	objd_client *c, *c2;
	char *big = malloc(100001);
	uint64_t before, after;

	memset(big, 'y', 100000);
	big[100000] = '\0';
	e2e_start(s);
	c = e2e_client(s);
	c2 = e2e_client(s);
	for (int i = 0; i < 30; i++) {
		Objd__Value *v = value_new_string(big, 100000);
		const Objd__Value *vals[] = { v };
		const char *keys[] = { "big" };

		ck_assert_int_eq(objd_set(c, keys, vals, 1), OBJD_OK);
		value_free(v);
		set_int(c2, "counter", i);
	}
	/* 30 values of 100 kB, one live: an automatic compaction ran. */
	ck_assert_uint_lt(status_u64("file_size"), 1500000);
	for (int i = 30; i < 40; i++)
		set_int(c2, "counter", i);
	before = status_u64("file_size");
	ck_assert_int_eq(objd_compact(c), OBJD_OK);
	after = status_u64("file_size");
	ck_assert_uint_le(after, before);
	ck_assert_int_eq(get_int(c2, "counter"), 39);
	objd_close(c);
	objd_close(c2);
	e2e_stop(s);
	e2e_start(s);
	c = e2e_client(s);
	ck_assert_int_eq(get_int(c, "counter"), 39);
	objd_close(c);
	e2e_stop(s);
	free(big);
}
END_TEST

/* protoc reads objd's file as one objd.Object. */
START_TEST(test_protoc_decodes_the_file)
{
	const char *proto_dir = getenv("OBJD_PROTO_DIR");
	const char *cmd;

	if (proto_dir == NULL || access("/usr/bin/protoc", X_OK) != 0)
		return;
	e2e_start(s);
	CTL_OK(s, "set", "name", "John", "age", "30");
	CTL_OK(s, "del", "age");
	CTL_OK(s, "set", "pi", "3.5");
	e2e_stop(s);
	cmd = e2e_path(s, "decode.sh");
	e2e_write_file(cmd,
	    "protoc --proto_path=\"$1\" --decode=objd.Object objd.proto "
	    "< \"$2\"\n",
	    strlen("protoc --proto_path=\"$1\" --decode=objd.Object objd.proto "
	           "< \"$2\"\n"));
	ck_assert_int_eq(
	    e2e_run(s, E2E_ARGV("/bin/sh", cmd, proto_dir, s->file)), 0);
	ck_assert_msg(strstr(s->out, "string_value: \"John\"") != NULL, "%s",
	    s->out);
	ck_assert_msg(strstr(s->out, "tombstone") != NULL, "%s", s->out);
	ck_assert_msg(strstr(s->out, "double_value: 3.5") != NULL, "%s",
	    s->out);
}
END_TEST

/* The revision that last changed key, from objctl get --meta. */
static uint64_t
key_revision(const char *key)
{
	const char *out = CTL_OK(s, "--json", "get", "--meta", key);
	const char *p = strstr(out, "\"revision\":");

	ck_assert_msg(p != NULL, "get --meta %s: %s", key, out);
	return strtoull(p + strlen("\"revision\":"), NULL, 10);
}

/* The number of deflated chunks in the file. */
static size_t
file_chunks(void)
{
	size_t len, n;
	char *buf = e2e_read_file(s->file, &len);
	Objd__Object *o;

	ck_assert_ptr_nonnull(buf);
	o = objd__object__unpack(NULL, len, (const uint8_t *)buf);
	ck_assert_ptr_nonnull(o);
	n = o->n_deflated_entries;
	objd__object__free_unpacked(o, NULL);
	free(buf);
	return n;
}

/* Sets key to a string of n bytes, of which the first 15 are i. */
static void
set_numbered(objd_client *c, const char *key, char *buf, size_t n, int i)
{
	const char *keys[] = { key };
	Objd__Value *v;

	snprintf(buf, 16, "%015d", i);
	buf[15] = 'v';
	v = value_new_string(buf, n);
	ck_assert_int_eq(objd_set(c, keys, (const Objd__Value **)&v, 1),
	    OBJD_OK);
	value_free(v);
}

/* A key whose large value is rewritten again and again keeps its file
 * within a small multiple of the live state: compaction does not wait
 * its interval for that. Each set's answer comes after the change is in
 * the file; its size is read after every fourth, whatever compactions are
 * running. */
START_TEST(test_compaction_keeps_up_with_large_values)
{
	enum { VALUE = 256 * 1024, REWRITES = 600 };
	objd_client *c;
	char *big = malloc(VALUE + 1);
	uint64_t size, largest = 0;

	ck_assert_ptr_nonnull(big);
	memset(big, 'v', VALUE);
	big[VALUE] = '\0';
	e2e_start(s);
	c = e2e_client(s);
	for (int i = 0; i < REWRITES; i++) {
		/* A new value each time: the same one commits nothing. */
		set_numbered(c, "big", big, VALUE, i);
		if (i % 4 != 0)
			continue;
		size = status_u64("file_size");
		if (size > largest)
			largest = size;
	}
	/* 150 MiB were written for one live value of 256 KiB: the file
	 * stays within 64 MiB of dead bytes (server/compact.c), and what
	 * came in the fifth of a second between two compactions and while
	 * one ran (each set is synced here: a few MB). */
	ck_assert_msg(largest < 96 * 1024 * 1024,
	    "the file reached %llu bytes for one value of %d",
	    (unsigned long long)largest, VALUE);
	objd_close(c);
	e2e_stop(s);
	free(big);
}
END_TEST

/* Bytes of blocks that the object file holds beyond its size. */
static off_t
blocks_past_the_end(void)
{
	struct stat st;
	off_t blocks;

	ck_assert_int_eq(stat(s->file, &st), 0);
	blocks = (off_t)st.st_blocks * 512;
	return blocks > st.st_size ? blocks - st.st_size : 0;
}

/* Whether objd allocates blocks ahead in the test's folder: not on a
 * tmpfs, nor where the filesystem cannot. */
static bool
folder_allocates_ahead(void)
{
	const char *name = e2e_path(s, "fallocate");
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600), rc;
	struct statfs fs;

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(fstatfs(fd, &fs), 0);
	rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096);
	close(fd);
	unlink(name);
	return rc == 0 && fs.f_type != TMPFS_MAGIC;
}

/* objd allocates its file's blocks ahead of the appends of large values,
 * the file's size staying its end, and gives back those past the end
 * when it stops, or when it starts again after it was killed. */
START_TEST(test_blocks_allocated_ahead_are_given_back)
{
	enum { VALUE = 1024 * 1024 };
	char *big = malloc(VALUE + 1), *got;
	objd_client *c;

	ck_assert_ptr_nonnull(big);
	memset(big, 'v', VALUE);
	big[VALUE] = '\0';
	e2e_start(s);
	if (!folder_allocates_ahead()) {
		e2e_stop(s);
		free(big);
		return;
	}
	c = e2e_client(s);
	for (int i = 0; i < 4; i++)
		set_numbered(c, "big", big, VALUE, i);
	objd_close(c);
	ck_assert_msg(blocks_past_the_end() >= VALUE / 8,
	    "%lld bytes of blocks past the end after 4 MiB appended",
	    (long long)blocks_past_the_end());
	e2e_stop(s);
	ck_assert_msg(blocks_past_the_end() <= 64 * 1024,
	    "%lld bytes of blocks past the end after objd stopped",
	    (long long)blocks_past_the_end());

	e2e_start(s);
	c = e2e_client(s);
	for (int i = 4; i < 8; i++)
		set_numbered(c, "big", big, VALUE, i);
	objd_close(c);
	e2e_kill9(s);
	ck_assert_int_ge(blocks_past_the_end(), VALUE / 8);
	e2e_start(s);
	ck_assert_msg(blocks_past_the_end() <= 64 * 1024,
	    "%lld bytes of blocks past the end after a start",
	    (long long)blocks_past_the_end());
	got = strdup(CTL_OK(s, "get", "big"));
	ck_assert_uint_eq(strlen(got), VALUE + 1);
	ck_assert_int_eq(strncmp(got, "000000000000007v", 16), 0);
	free(got);
	e2e_stop(s);
	free(big);
}
END_TEST

/* Large values set while compactions run, on an object of many keys
 * with history: the changes made while a child writes its file follow
 * its snapshot, copied by the child from the old file or by objd
 * (server/objfile-tail.c), and a restart reads them all back. A second
 * process sets the values while this one asks for compactions. */
START_TEST(test_changes_during_compactions_survive)
{
	enum { VALUE = 256 * 1024, SETS = 240, KEYS = 4, FILLED = 3000 };
	objd_client *c;
	char *big = malloc(VALUE + 1);
	char key[32];
	pid_t pid;
	int status, compactions = 0;

	ck_assert_ptr_nonnull(big);
	e2e_start(s);
	c = e2e_client(s);
	/* Keys with a few versions each: history the snapshot writes. */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < FILLED; i++) {
			snprintf(key, sizeof(key), "h%d", i);
			set_int(c, key, round * FILLED + i);
		}
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		objd_client *w = e2e_client(s);

		for (int i = 0; i < SETS; i++) {
			Objd__Value *v;
			const char *keys[1];
			int rc;

			memset(big, 'a' + i % 26, VALUE);
			snprintf(big, 16, "%015d", i);
			big[15] = '.';
			snprintf(key, sizeof(key), "big%d", i % KEYS);
			keys[0] = key;
			v = value_new_string(big, VALUE);
			rc = objd_set(w, keys, (const Objd__Value **)&v, 1);
			value_free(v);
			if (rc != OBJD_OK)
				_exit(1);
		}
		objd_close(w);
		_exit(0);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		ck_assert_int_eq(objd_compact(c), OBJD_OK);
		compactions++;
	}
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_gt(compactions, 0);
	objd_close(c);
	e2e_stop(s);
	e2e_start(s);
	c = e2e_client(s);
	for (int k = 0; k < KEYS; k++) {
		int last = SETS - KEYS + k;
		Objd__Value *v = NULL;
		char want[17];

		snprintf(key, sizeof(key), "big%d", k);
		ck_assert_int_eq(objd_get(c, key, &v), OBJD_OK);
		ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
		ck_assert_uint_eq(strlen(v->string_value), VALUE);
		snprintf(want, sizeof(want), "%015d.", last);
		ck_assert_msg(strncmp(v->string_value, want, 16) == 0,
		    "%s: %.16s, not %s", key, v->string_value, want);
		ck_assert_int_eq(v->string_value[VALUE - 1], 'a' + last % 26);
		value_free(v);
	}
	for (int i = 0; i < FILLED; i += 97) {
		snprintf(key, sizeof(key), "h%d", i);
		ck_assert_int_eq(get_int(c, key), 2 * FILLED + i);
	}
	objd_close(c);
	e2e_stop(s);
	free(big);
}
END_TEST

/* objd --compress (here from the config file) compacts into deflated
 * chunks; an objd started without it serves the same object with the
 * same revisions, so compare-and-set goes on without a false conflict,
 * and its own compaction writes plain entries again. */
START_TEST(test_compressed_file_served_without_compress)
{
	static const char conf_text[] = "# smaller compacted files\n"
	                                "compress\n";
	const char *conf = e2e_path(s, "objd.conf");
	struct objd_opts o = { .extra = E2E_ARGV("--config", conf) };
	char rev[32], stale[32], *before, *compressed;
	const char *tmp = e2e_path(s, "incoming");
	uint64_t rev_age, rev_name;
	size_t compressed_len;
	double deadline;
	objd_client *c;

	e2e_write_file(conf, conf_text, strlen(conf_text));
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "name", "John", "pi", "3.5", "none", "null", "ok",
	    "true", "raw", "{\"$bytes\": \"AAEC\"}", "list",
	    "[1, \"two\", [3.5, null]]", "map", "{\"a\": {\"b\": false}}");
	/* 5000 keys of 12-byte names: more than one chunk. */
	c = e2e_client(s);
	for (int batch = 0; batch < 5; batch++) {
		const char *keys[1000];
		const Objd__Value *vals[1000];
		char names[1000][16];

		for (int i = 0; i < 1000; i++) {
			snprintf(names[i], sizeof(names[i]), "key:%07d",
			    batch * 1000 + i);
			keys[i] = names[i];
			vals[i] = value_new_int(batch * 1000 + i);
		}
		ck_assert_msg(objd_set(c, keys, vals, 1000) == OBJD_OK,
		    "set: %s", objd_client_error(c));
		for (int i = 0; i < 1000; i++)
			value_free((Objd__Value *)vals[i]);
	}
	objd_close(c);
	CTL_OK(s, "set", "age", "31");
	CTL_OK(s, "compact");
	ck_assert_uint_ge(file_chunks(), 2);
	rev_age = key_revision("age");
	rev_name = key_revision("name");
	ck_assert_uint_lt(rev_name, rev_age);
	before = strdup(CTL_OK(s, "get"));
	compressed = e2e_read_file(s->file, &compressed_len);
	ck_assert_ptr_nonnull(compressed);
	e2e_stop(s);

	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get"), before);
	ck_assert_uint_eq(status_u64("keys"), 5008);
	ck_assert_uint_eq(key_revision("age"), rev_age);
	ck_assert_uint_eq(key_revision("name"), rev_name);
	ck_assert_uint_eq(key_revision("key:0004999"), rev_age - 1);
	snprintf(rev, sizeof(rev), "%" PRIu64, rev_age);
	snprintf(stale, sizeof(stale), "%" PRIu64, rev_name);
	CTL_EXIT(s, 4, "set", "--if-revision", stale, "age", "32");
	CTL_OK(s, "set", "--if-revision", rev, "age", "32");
	CTL_OK(s, "set", "--if-revision", stale, "name", "Jane");
	CTL_OK(s, "compact");
	ck_assert_uint_eq(file_chunks(), 0);
	e2e_stop(s);
	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get", "age"), "32\n");
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "Jane\n");
	ck_assert_uint_eq(status_u64("keys"), 5008);
	/* The compressed file, renamed over the plain one from outside, is
	 * loaded as a replacement. */
	e2e_write_file(tmp, compressed, compressed_len);
	ck_assert_int_eq(rename(tmp, s->file), 0);
	deadline = e2e_now() + E2E_DEADLINE;
	while (strcmp(CTL_OK(s, "get", "age"), "31\n") != 0) {
		ck_assert_msg(e2e_now() < deadline,
		    "the compressed replacement was not loaded:\n%s",
		    e2e_log_tail(s));
		e2e_sleep(0.02);
	}
	ck_assert_str_eq(CTL_OK(s, "get"), before);
	e2e_stop(s);
	free(compressed);
	free(before);
}
END_TEST

/* The environment that preloads tests/failsync.c into objd, with the
 * session's folder as the shim's: the files there named fail-fsync,
 * slow-fsync, racer, no-rename-flags and no-inotify turn its
 * misbehaviours on. */
struct failsync {
	char preload[4096];
	char dir[128];
	char asan[4096];
	const char *env[4];
};

static const char *
racer(void)
{
	return e2e_path(s, "racer");
}

/* Readies the shim for the objd that o starts. */
static void
failsync_init(struct failsync *fs, struct objd_opts *o)
{
	const char *lib = getenv("OBJD_FAILSYNC");
	const char *asan = getenv("ASAN_OPTIONS");
	int n;

	ck_assert_msg(lib != NULL && access(lib, R_OK) == 0,
	    "OBJD_FAILSYNC=%s: set it to the built "
	    "tests/.libs/libfailsync.so (make check does)",
	    lib != NULL ? lib : "(unset)");
	n = snprintf(fs->preload, sizeof(fs->preload), "LD_PRELOAD=%s", lib);
	ck_assert_int_lt(n, sizeof(fs->preload));
	n = snprintf(fs->dir, sizeof(fs->dir), "OBJD_TEST_SHIM_DIR=%s", s->dir);
	ck_assert_int_lt(n, sizeof(fs->dir));
	/* An objd built with ASan aborts when a library comes before the
	 * ASan runtime; the shim is not instrumented and needs none of it.
	 * The runner's own options (CI's abort_on_error) still hold. */
	n = snprintf(fs->asan, sizeof(fs->asan),
	    "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
	    asan != NULL ? asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	ck_assert_int_lt(n, sizeof(fs->asan));
	fs->env[0] = fs->preload;
	fs->env[1] = fs->dir;
	fs->env[2] = fs->asan;
	fs->env[3] = NULL;
	o->env = fs->env;
}

/* The shim renamed its racer in during objd's rename. */
static void
assert_shim_raced(void)
{
	ck_assert_msg(strstr(e2e_log_tail(s), "failsync: renamed") != NULL,
	    "the shim did not race objd's rename; log:\n%s", e2e_log_tail(s));
}

/* What objd served is what it finds in its file on the next start. */
static void
restart_expecting_a_2(const struct objd_opts *o)
{
	e2e_stop(s);
	e2e_start_opts(s, o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "2\n");
	e2e_stop(s);
}

static ino_t
file_inode(void)
{
	struct stat st;

	ck_assert_msg(stat(s->file, &st) == 0, "stat %s: %s", s->file,
	    strerror(errno));
	return st.st_ino;
}

/* The whole file decoded as one objd.Object, as any protobuf reader
 * would; NULL if it does not decode. */
static Objd__Object *
file_object(void)
{
	size_t len;
	char *buf = e2e_read_file(s->file, &len);
	Objd__Object *o;

	ck_assert_ptr_nonnull(buf);
	o = objd__object__unpack(NULL, len, (const uint8_t *)buf);
	free(buf);
	return o;
}

/* The int values key has in o, oldest first, as text ("30 32 "). */
static void
file_ints(const Objd__Object *o, const char *key, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < o->n_entries; i++) {
		const Objd__Object__EntriesEntry *e = o->entries[i];

		if (strcmp(e->key, key) != 0 || e->value == NULL ||
		    e->value->kind_case != OBJD__VALUE__KIND_INT_VALUE)
			continue;
		used += (size_t)snprintf(out + used, outlen - used,
		    "%" PRId64 " ", e->value->int_value);
		ck_assert_uint_lt(used, outlen);
	}
}

/* A disk that fails to sync (EIO from fdatasync, as after a lost write):
 * with --fsync always the change is refused, not applied, and not in the
 * file; objd keeps serving, says why in status, writes its file anew
 * before it appends again, and a restart finds every acknowledged change
 * and no refused one. */
START_TEST(test_failed_fsync_refuses_and_rewrites)
{
	const char *trigger = e2e_path(s, "fail-fsync");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "always") };
	Objd__Object *obj;
	char ints[256];
	ino_t before;
	const char *out;

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "name", "John");
	CTL_OK(s, "set", "age", "30");
	before = file_inode();

	/* The disk fails. */
	e2e_write_file(trigger, "", 0);
	ck_assert_int_eq(CTL(s, "set", "age", "31"), 6);
	ck_assert_msg(strstr(s->err, "cannot sync") != NULL &&
	        strstr(s->err, "Input/output error") != NULL,
	    "set under a failing fsync: stderr: %s", s->err);
	ck_assert_msg(strstr(e2e_log_tail(s), "failsync: fdatasync") != NULL,
	    "the shim did not fail objd's fdatasync; log:\n%s",
	    e2e_log_tail(s));
	/* Past a few reload intervals: objd must not take what it left in
	 * its own file for another program's change. */
	e2e_sleep(0.5);
	ck_assert_str_eq(CTL_OK(s, "get", "age"), "30\n");
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "John\n");
	out = CTL_OK(s, "status");
	ck_assert_msg(strstr(out, "last write error") != NULL &&
	        strstr(out, "Input/output error") != NULL,
	    "status: %s", out);
	/* The file is in doubt: objd writes it anew, which fails too. */
	ck_assert_int_eq(CTL(s, "set", "city", "Paris"), 6);
	CTL_OK(s, "reload");
	ck_assert_str_eq(CTL_OK(s, "get", "age"), "30\n");
	ck_assert_int_eq(CTL(s, "get", "city"), 1);

	/* The disk works again. */
	ck_assert_int_eq(unlink(trigger), 0);
	CTL_OK(s, "set", "age", "32");
	ck_assert_msg(file_inode() != before,
	    "objd appended to the file whose fsync failed; log:\n%s",
	    e2e_log_tail(s));
	out = CTL_OK(s, "status");
	ck_assert_msg(strstr(out, "last write error") == NULL, "status: %s",
	    out);
	obj = file_object();
	ck_assert_msg(obj != NULL, "%s does not decode as an objd.Object",
	    s->file);
	file_ints(obj, "age", ints, sizeof(ints));
	ck_assert_str_eq(ints, "30 32 ");
	objd__object__free_unpacked(obj, NULL);
	e2e_stop(s);

	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "John\n");
	ck_assert_str_eq(CTL_OK(s, "get", "age"), "32\n");
	ck_assert_int_eq(CTL(s, "get", "city"), 1);
	/* The refused changes took no revision. */
	ck_assert_uint_eq(status_u64("revision"), 3);
	ck_assert_uint_eq(status_u64("keys"), 2);
	e2e_stop(s);
}
END_TEST

/* A change refused for a failed fsync stays refused when objd stops
 * before any other write: SIGTERM, or kill -9. */
START_TEST(test_failed_fsync_not_back_after_restart)
{
	const char *trigger = e2e_path(s, "fail-fsync");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "always") };

	failsync_init(&fs, &o);
	for (int round = 0; round < 2; round++) {
		e2e_start_opts(s, &o);
		CTL_OK(s, "set", "n", round == 0 ? "1" : "3");
		e2e_write_file(trigger, "", 0);
		ck_assert_int_eq(CTL(s, "set", "n", "2"), 6);
		if (round == 0)
			e2e_stop(s);
		else
			e2e_kill9(s);
		ck_assert_int_eq(unlink(trigger), 0);
		e2e_start_opts(s, &o);
		ck_assert_msg(strcmp(CTL_OK(s, "get", "n"),
		                  round == 0 ? "1\n" : "3\n") == 0,
		    "round %d: the refused n=2 came back after a restart: %s",
		    round, s->out);
		e2e_stop(s);
	}
}
END_TEST

/* Sends a set of key to the int v, as request id, on fd. */
static void
raw_send_set(int fd, const char *key, int64_t v, uint64_t id)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry entry = OBJD__ENTRY__INIT, *entries[] = { &entry };
	Objd__Value value = OBJD__VALUE__INIT;
	uint8_t *frame;
	size_t len;

	value.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	value.int_value = v;
	entry.key = (char *)key;
	entry.value = &value;
	set.n_entries = 1;
	set.entries = entries;
	req.id = id;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	frame = frame_pack(&req.base, &len);
	ck_assert_ptr_nonnull(frame);
	ck_assert(e2e_raw_send(fd, frame, len));
	free(frame);
}

/* raw_send_set on a connection of its own. */
static int
raw_set(const char *key, int64_t v, uint64_t id)
{
	int fd = e2e_raw_connect(s);

	raw_send_set(fd, key, v, id);
	return fd;
}

/* Sends a get of key, as request id, on fd. */
static void
raw_send_get(int fd, const char *key, uint64_t id)
{
	size_t len;
	uint8_t *frame = e2e_get_frame(key, id, &len);

	ck_assert(e2e_raw_send(fd, frame, len));
	free(frame);
}

/* The status of r's next answer, which must be to id and come within
 * 30 s. */
static Objd__Status
raw_next(struct raw_reader *r, uint64_t id, uint64_t *revision)
{
	Objd__Response *resp;
	Objd__Status status;

	ck_assert_int_eq(e2e_reader_next(r, 30, &resp), RAW_ANSWER);
	ck_assert_uint_eq(resp->id, id);
	status = resp->status;
	if (revision != NULL)
		*revision = resp->revision;
	objd__response__free_unpacked(resp, NULL);
	return status;
}

/* raw_next for a connection with one answer to come. */
static Objd__Status
raw_answer(int fd, uint64_t id, uint64_t *revision)
{
	struct raw_reader r;
	Objd__Status status;

	e2e_reader_open(&r, fd);
	status = raw_next(&r, id, revision);
	e2e_reader_close(&r);
	return status;
}

/* raw_answer, and closes fd. */
static Objd__Status
raw_status(int fd, uint64_t id, uint64_t *revision)
{
	Objd__Status status = raw_answer(fd, id, revision);

	close(fd);
	return status;
}

/* With --fsync always the sync runs beside the event loop: while a
 * change is being synced, others are served the state without it, and
 * writes that come meanwhile are committed next, in order. */
START_TEST(test_serving_during_a_slow_sync)
{
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "always") };
	uint64_t rev_x, rev_y;
	int fd_x, fd_y;

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "x", "1");
	e2e_write_file(slow, "", 0);
	fd_x = raw_set("x", 2, 7);
	/* Not synced yet: not seen. */
	ck_assert_str_eq(CTL_OK(s, "get", "x"), "1\n");
	fd_y = raw_set("y", 3, 8);
	ck_assert_int_eq(unlink(slow), 0);
	ck_assert_int_eq(raw_status(fd_x, 7, &rev_x), OBJD__STATUS__OK);
	ck_assert_int_eq(raw_status(fd_y, 8, &rev_y), OBJD__STATUS__OK);
	ck_assert_uint_eq(rev_x, 2);
	ck_assert_uint_eq(rev_y, 3);
	ck_assert_str_eq(CTL_OK(s, "get", "x"), "2\n");
	e2e_stop(s);

	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "x"), "2\n");
	ck_assert_str_eq(CTL_OK(s, "get", "y"), "3\n");
	ck_assert_uint_eq(status_u64("revision"), 3);
	e2e_stop(s);
}
END_TEST

/* Starts objd with --fsync always and the failsync shim, whose syncs
 * take a second while the file slow-fsync exists. */
static void
start_durable(struct failsync *fs)
{
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "always") };

	failsync_init(fs, &o);
	e2e_start_opts(s, &o);
}

/* Starts objd --fsync always with syncs made slow while the file slow
 * exists, and sends a set of x to 1 (request 1), whose sync is in
 * flight on return; returns its connection. */
static int
start_with_x_syncing(struct failsync *fs, const char *slow)
{
	int fd;

	start_durable(fs);
	CTL_OK(s, "set", "a", "0");
	e2e_write_file(slow, "", 0);
	fd = raw_set("x", 1, 1);
	/* Once this is answered, x's batch is in its sync. */
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	return fd;
}

/* objd's looks for outside changes (every 0.1 s here) leave a sync in
 * flight alone: others are served meanwhile. Each look used to wait for
 * the sync to end, holding every client. */
START_TEST(test_looks_leave_a_sync_alone)
{
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	Objd__Response *resp = NULL;
	int fd_x = start_with_x_syncing(&fs, slow);

	e2e_sleep(0.3);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	/* x's sync, which takes a second, is still running. */
	ck_assert_int_eq(e2e_raw_wait(fd_x, 0.05, &resp), RAW_TIMEOUT);
	ck_assert_int_eq(unlink(slow), 0);
	ck_assert_int_eq(raw_status(fd_x, 1, NULL), OBJD__STATUS__OK);
	e2e_stop(s);
}
END_TEST

/* With no change coming, objd's file falls below two values of value
 * bytes, the one live and a margin, within E2E_DEADLINE. */
static void
assert_file_comes_back(int value)
{
	uint64_t size = 0;

	for (double end = e2e_now() + E2E_DEADLINE; e2e_now() < end;
	     e2e_sleep(0.1))
		if ((size = status_u64("file_size")) < 2 * (uint64_t)value)
			break;
	ck_assert_msg(size < 2 * (uint64_t)value,
	    "the file holds %llu bytes for one value of %d, %.0f s after "
	    "the last change",
	    (unsigned long long)size, value, E2E_DEADLINE);
}

/* Starts objd with o and the shim (fs), and sets "big" to value-byte
 * strings (buf, value + 1 bytes): one, which makes the file and syncs
 * its folder; then, with the shim's trigger also (unless NULL) and
 * held-fsync on, before - 1 more, enough for a compaction (server/
 * compact.c), whose child then holds in its sync while during more
 * come; then lets the sync go. Returns how many sets it made. */
static int
sets_during_a_held_compaction(struct failsync *fs, struct objd_opts *o,
    char *buf, size_t value, int before, int during, const char *also)
{
	const char *held = e2e_path(s, "held-fsync");
	objd_client *c;
	int i = 0;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'v', value);
	failsync_init(fs, o);
	e2e_start_opts(s, o);
	c = e2e_client(s);
	set_numbered(c, "big", buf, value, i++);
	if (also != NULL)
		e2e_write_file(e2e_path(s, also), "", 0);
	e2e_write_file(held, "", 0);
	while (i < before)
		set_numbered(c, "big", buf, value, i++);
	ck_assert_msg(e2e_log_has(s, "failsync: holding fsync"),
	    "no compaction began: %s", e2e_log_tail(s));
	while (i < before + during)
		set_numbered(c, "big", buf, value, i++);
	ck_assert_int_eq(unlink(held), 0);
	objd_close(c);
	return i;
}

/* After sets_during_a_held_compaction's n sets, objd starts again on its
 * file with o and serves the last of them. */
static void
restart_holding_the_last_set(const struct objd_opts *o, char *buf, int n)
{
	e2e_stop(s);
	e2e_start_opts(s, o);
	snprintf(buf, 16, "%015d", n - 1);
	ck_assert(strncmp(CTL_OK(s, "get", "big"), buf, 15) == 0);
	e2e_stop(s);
}

/* The changes made while a compaction ran follow its snapshot in the
 * new file: under a stream of large values, as much as the old file
 * held. Once the stream stops, no commit comes to look at the file
 * again: objd looks by itself, and compacts it back to its live state. */
START_TEST(test_idle_objd_compacts_what_came_during_a_compaction)
{
	enum { VALUE = 256 * 1024, BEFORE = 5, DURING = 20 };
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never",
		                   "--history", "0") };
	char *big = malloc(VALUE + 1);
	int i;

	i = sets_during_a_held_compaction(&fs, &o, big, VALUE, BEFORE, DURING,
	    NULL);

	/* The file that compaction leaves holds the DURING values; then
	 * no change comes, and the file goes back to about one value. */
	assert_file_comes_back(VALUE);
	restart_holding_the_last_set(&o, big, i);
	free(big);
}
END_TEST

/* The syncs of a compaction's new file (by its name) that the shim noted
 * (log-syncs): by objd itself, and by each of its children, in
 * children[] (their pids) and per_child[], at most max of them. */
static int
new_file_syncs(pid_t *children, int *per_child, int max, int *by_objd)
{
	char *log = e2e_read_file(s->log, NULL);
	int n = 0;

	ck_assert_ptr_nonnull(log);
	*by_objd = 0;
	for (char *line = strtok(log, "\n"); line != NULL;
	     line = strtok(NULL, "\n")) {
		char *by = strstr(line, " by ");
		long pid;
		int i;

		if (strncmp(line, "failsync: ", 10) != 0 ||
		    strstr(line, "/.objd-new.") == NULL || by == NULL)
			continue;
		pid = strtol(by + 4, NULL, 10);
		if (pid == (long)s->objd) {
			(*by_objd)++;
			continue;
		}
		for (i = 0; i < n && children[i] != (pid_t)pid; i++)
			;
		if (i == n) {
			ck_assert_int_lt(n, max);
			children[n] = (pid_t)pid;
			per_child[n++] = 0;
		}
		per_child[i]++;
	}
	free(log);
	return n;
}

/* With --fsync never, a compaction's child syncs its snapshot, and then
 * neither it nor objd syncs the changes that follow it (made while the
 * child held in that sync): objd syncs none in its old file either. The
 * changes are in the new file all the same. */
START_TEST(test_never_syncs_only_a_compaction_snapshot)
{
	enum { VALUE = 256 * 1024, BEFORE = 5, DURING = 4, MAX = 16 };
	const char *logged = e2e_path(s, "log-syncs");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never",
		                   "--history", "0") };
	char *big = malloc(VALUE + 1);
	pid_t children[MAX];
	int per_child[MAX], n, by_objd, i;

	i = sets_during_a_held_compaction(&fs, &o, big, VALUE, BEFORE, DURING,
	    "log-syncs");
	ck_assert_msg(e2e_log_has(s, "compacted"), "no compaction ended: %s",
	    e2e_log_tail(s));
	ck_assert_int_eq(unlink(logged), 0);

	n = new_file_syncs(children, per_child, MAX, &by_objd);
	ck_assert_msg(n >= 1, "no child synced a new file: %s",
	    e2e_log_tail(s));
	for (int k = 0; k < n; k++)
		ck_assert_msg(per_child[k] == 1,
		    "child %ld synced its file %d times: %s", (long)children[k],
		    per_child[k], e2e_log_tail(s));
	ck_assert_msg(by_objd == 0, "objd synced a new file %d times: %s",
	    by_objd, e2e_log_tail(s));

	restart_holding_the_last_set(&o, big, i);
	free(big);
}
END_TEST

/* The copies of a compaction's new file that the shim noted (log-copies)
 * by process pid. */
static int
copies_by(pid_t pid)
{
	char *log = e2e_read_file(s->log, NULL);
	char *line, *by;
	int n = 0;

	ck_assert_ptr_nonnull(log);
	for (line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (strncmp(line, "failsync: copy_file_range of ", 29) == 0 &&
		    (by = strstr(line, " by ")) != NULL &&
		    strtol(by + 4, NULL, 10) == (long)pid)
			n++;
	free(log);
	return n;
}

/* A compaction's child copies the changes made while it synced its
 * snapshot (fewer than a round: its last copy), and hands the rest
 * over: objd writes each change it commits from then on to the child's
 * file too, after that copy (server/objfile-tail.c), and copies none
 * itself once the child is gone. The child here holds in that copy
 * while more come; a restart serves the last of them. */
START_TEST(test_changes_after_the_hand_over_follow_it)
{
	enum { VALUE = 256 * 1024, BEFORE = 5, DURING = 2, AFTER = 6 };
	const char *held = e2e_path(s, "held-copy");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never",
		                   "--history", "0") };
	char *big = malloc(VALUE + 1), *log;
	objd_client *c;
	int i;

	i = sets_during_a_held_compaction(&fs, &o, big, VALUE, BEFORE, DURING,
	    "held-copy");
	e2e_write_file(e2e_path(s, "log-copies"), "", 0);
	ck_assert_msg(e2e_log_has(s, "failsync: holding copy_file_range"),
	    "the child did not copy: %s", e2e_log_tail(s));
	c = e2e_client(s);
	for (int k = 0; k < AFTER; k++)
		set_numbered(c, "big", big, VALUE, i++);
	objd_close(c);
	log = e2e_read_file(s->log, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "compacted") == NULL,
	    "the compaction ended while its child held: %s", e2e_log_tail(s));
	free(log);
	ck_assert_int_eq(unlink(held), 0);
	ck_assert_msg(e2e_log_has(s, "compacted"), "no compaction ended: %s",
	    e2e_log_tail(s));
	ck_assert_msg(copies_by(s->objd) == 0, "objd copied changes itself: %s",
	    e2e_log_tail(s));
	restart_holding_the_last_set(&o, big, i);
	free(big);
}
END_TEST

/* The nice value of process pid: field 19 of its stat, counted after
 * the command's name (in parentheses, which may hold anything). */
static int
nice_of(pid_t pid)
{
	char path[64], *stat, *p;
	int nice;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	stat = e2e_read_file(path, NULL);
	ck_assert_ptr_nonnull(stat);
	ck_assert_ptr_nonnull(p = strrchr(stat, ')'));
	ck_assert_int_eq(sscanf(p + 2,
	                     "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
	                     "%*s %*s %*s %*s %*s %d",
	                     &nice),
	    1);
	free(stat);
	return nice;
}

/* objd's only child, which must be running. */
static pid_t
objd_child(void)
{
	char path[64], *list;
	long pid;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)s->objd, (long)s->objd);
	list = e2e_read_file(path, NULL);
	ck_assert_ptr_nonnull(list);
	ck_assert_msg(sscanf(list, "%ld", &pid) == 1, "objd has no child");
	free(list);
	return (pid_t)pid;
}

/* A compaction's child runs at a lower priority than objd (nice 10
 * more: server/objfile-replace.c). Once it has fallen behind by more
 * than 256 MiB of changes to copy (here held in its snapshot's sync),
 * commits wait for it, while reads go on; once it has caught up, they
 * go on too (server/compact.c). */
START_TEST(test_commits_wait_for_a_compaction_behind)
{
	enum { VALUE = 1024 * 1024, SETS = 300, HOLD = 256 };
	const char *held = e2e_path(s, "held-fsync");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never",
		                   "--history", "0") };
	char *big = malloc(VALUE + 1);
	_Atomic int *done;
	int n, parent_nice, status;
	pid_t writer;

	ck_assert_ptr_nonnull(big);
	done = mmap(NULL, sizeof(*done), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(done != MAP_FAILED);
	atomic_init(done, 0);
	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "small", "1");
	e2e_write_file(held, "", 0);
	writer = fork();
	ck_assert_int_ne(writer, -1);
	if (writer == 0) {
		objd_client *w = e2e_client(s);

		for (int i = 0; i < SETS; i++) {
			const char *keys[] = { "big" };
			Objd__Value *v;
			int rc;

			memset(big, 'v', VALUE);
			snprintf(big, 16, "%015d", i);
			big[15] = 'v';
			v = value_new_string(big, VALUE);
			rc = objd_set(w, keys, (const Objd__Value **)&v, 1);
			value_free(v);
			if (rc != OBJD_OK)
				_exit(1);
			atomic_store(done, i + 1);
		}
		objd_close(w);
		_exit(0);
	}
	ck_assert_msg(e2e_log_has(s, "failsync: holding fsync"),
	    "no compaction began: %s", e2e_log_tail(s));
	parent_nice = nice_of(s->objd);
	ck_assert_int_eq(nice_of(objd_child()),
	    parent_nice + 10 > 19 ? 19 : parent_nice + 10);

	/* The writer stops short of its sets, a second at least. */
	n = atomic_load(done);
	for (double end = e2e_now() + E2E_DEADLINE, still = e2e_now() + 1;
	     e2e_now() < end && e2e_now() < still; e2e_sleep(0.05))
		if (atomic_load(done) != n) {
			n = atomic_load(done);
			still = e2e_now() + 1;
		}
	ck_assert_msg(n >= HOLD && n < SETS,
	    "the writer made %d sets while the compaction was held", n);
	ck_assert_str_eq(CTL_OK(s, "get", "small"), "1\n");

	ck_assert_int_eq(unlink(held), 0);
	ck_assert_int_eq(waitpid(writer, &status, 0), writer);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(e2e_log_has(s, "compacted"), "no compaction ended: %s",
	    e2e_log_tail(s));
	munmap(done, sizeof(*done));
	restart_holding_the_last_set(&o, big, SETS);
	free(big);
}
END_TEST

/* Sets of large values in a burst, then none: the first sets start a
 * compaction, the rest come once it is over but before the interval lets
 * another start, and no commit comes after them to start one. objd
 * looks by itself. (Were the rest slower than the interval, a commit
 * would start it: the test would pass without testing that.) */
START_TEST(test_idle_objd_compacts_after_a_burst)
{
	enum { VALUE = 256 * 1024, BEFORE = 5, SETS = 25 };
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never",
		                   "--history", "0") };
	char *big = malloc(VALUE + 1);
	objd_client *c;

	ck_assert_ptr_nonnull(big);
	memset(big, 'v', VALUE);
	e2e_start_opts(s, &o);
	c = e2e_client(s);
	for (int i = 0; i < SETS; i++) {
		set_numbered(c, "big", big, VALUE, i);
		if (i == BEFORE - 1)
			ck_assert_msg(e2e_log_has(s, "compacted"),
			    "no compaction after %d sets: %s", BEFORE,
			    e2e_log_tail(s));
	}
	objd_close(c);
	assert_file_comes_back(VALUE);
	e2e_stop(s);
	free(big);
}
END_TEST

/* A write waiting in the batch while a sync runs was checked and built
 * against the state before a reload: it commits before the reload
 * replaces that state, never onto the file that came. A set of
 * server.port builds the whole of server from what it was; committed
 * after the reload, it brought the old host back over the new one.
 * A client whose get and set wait behind its write in the batch is
 * resumed by the commit before the reload, but handled only after it:
 * the get finds the new state, and the set builds on it. */
START_TEST(test_writes_before_a_reload_commit_before_it)
{
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	Objd__Value *server = value_new_map();
	struct raw_reader queued;
	uint64_t rev_port, rev_now;
	double deadline;
	int fd_x, fd_port, fd_queued;

	start_durable(&fs);
	CTL_OK(s, "set", "server", "{\"host\": \"a\", \"port\": 1}");
	e2e_write_file(slow, "", 0);
	/* x's sync takes a second; the others wait behind it. */
	fd_x = raw_set("x", 1, 7);
	e2e_sleep(0.2);
	fd_port = raw_set("server.port", 2, 8);
	fd_queued = raw_set("y", 1, 9);
	raw_send_get(fd_queued, "y", 10);
	raw_send_set(fd_queued, "server.port", 3, 11);
	e2e_sleep(0.2);
	value_map_add(server, "host", 4, value_new_string("b", 1));
	value_map_add(server, "port", 4, value_new_int(1));
	rename_in("server", server);
	ck_assert_int_eq(unlink(slow), 0);
	ck_assert_int_eq(raw_status(fd_x, 7, NULL), OBJD__STATUS__OK);
	ck_assert_int_eq(raw_status(fd_port, 8, &rev_port), OBJD__STATUS__OK);
	/* y, set before the reload, is gone with the state it replaced. */
	e2e_reader_open(&queued, fd_queued);
	ck_assert_int_eq(raw_next(&queued, 9, NULL), OBJD__STATUS__OK);
	ck_assert_int_eq(raw_next(&queued, 10, NULL), OBJD__STATUS__NOT_FOUND);
	ck_assert_int_eq(raw_next(&queued, 11, NULL), OBJD__STATUS__OK);
	e2e_reader_close(&queued);
	close(fd_queued);
	deadline = e2e_now() + 10;
	while (strcmp(CTL_OK(s, "get", "server.host"), "b\n") != 0) {
		ck_assert_msg(e2e_now() < deadline,
		    "the new file's server.host is %s; log:\n%s", s->out,
		    e2e_log_tail(s));
		e2e_sleep(0.05);
	}
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get", "server"),
	                  "{\"host\": \"b\", \"port\": 3}"),
	    "server is %s", s->out);
	/* The reload came after the set of port 2, which it replaced. */
	rev_now = status_u64("revision");
	ck_assert_uint_gt(rev_now, rev_port);
	e2e_stop(s);
}
END_TEST

static bool new_file_in_the_works(void);

/* A changed file loads aside while objd serves the state it replaces
 * (the shim holds the load until held-load is removed): a client that
 * only reads is answered from that state, and a write waits for the new
 * one, on which it then builds. Handled before the swap, the set of b
 * would have gone with the state the reload replaced. */
START_TEST(test_reads_served_while_a_reload_loads)
{
	const char *held = e2e_path(s, "held-load");
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "600" };
	int fd_b;

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	e2e_write_file(held, "", 0);
	rename_in_int("a", 1);
	ck_assert_msg(e2e_log_has(s, "failsync: holding a map"),
	    "no load began; log:\n%s", e2e_log_tail(s));
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	fd_b = raw_set("b", 5, 7);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	ck_assert_int_eq(unlink(held), 0);
	ck_assert_int_eq(raw_status(fd_b, 7, NULL), OBJD__STATUS__OK);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "5\n");
	e2e_stop(s);
	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "5\n");
	e2e_stop(s);
}
END_TEST

/* Writes an object file of n keys k00000.. whose values are value. */
static void
write_many(const char *path, int n, int64_t value)
{
	Objd__Object obj = OBJD__OBJECT__INIT;
	Objd__Object__EntriesEntry *ents = calloc((size_t)n, sizeof(*ents));
	Objd__Object__EntriesEntry **ptrs = calloc((size_t)n, sizeof(*ptrs));
	Objd__Value *v = value_new_int(value);
	char(*keys)[16] = calloc((size_t)n, sizeof(*keys));
	uint8_t *buf;
	size_t len;

	ck_assert(ents != NULL && ptrs != NULL && keys != NULL);
	for (int i = 0; i < n; i++) {
		objd__object__entries_entry__init(&ents[i]);
		snprintf(keys[i], sizeof(keys[i]), "k%05d", i);
		ents[i].key = keys[i];
		ents[i].value = v;
		ptrs[i] = &ents[i];
	}
	obj.n_entries = (size_t)n;
	obj.entries = ptrs;
	len = objd__object__get_packed_size(&obj);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	objd__object__pack(&obj, buf);
	e2e_write_file(path, buf, len);
	free(buf);
	free(keys);
	free(ptrs);
	free(ents);
	value_free(v);
}

/* A large state loaded is written back by a child (the shim holds its
 * sync here): reads are served the new state meanwhile, and a write
 * waits until the new file is in place, then builds on it. */
START_TEST(test_large_reload_written_back_beside)
{
	const char *held = e2e_path(s, "held-fsync");
	const char *incoming = e2e_path(s, "incoming");
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "600",
		.extra = E2E_ARGV("--fsync", "never") };
	double deadline;
	int fd_b;

	failsync_init(&fs, &o);
	write_many(s->file, 20000, 1);
	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "k19999"), "1\n");
	write_many(incoming, 20000, 2);
	e2e_write_file(held, "", 0);
	ck_assert_int_eq(rename(incoming, s->file), 0);
	deadline = e2e_now() + 30;
	while (!new_file_in_the_works()) {
		ck_assert_msg(e2e_now() < deadline,
		    "no write-back began; log:\n%s", e2e_log_tail(s));
		e2e_sleep(0.01);
	}
	ck_assert_msg(e2e_log_has(s, "failsync: holding fsync"), "log:\n%s",
	    e2e_log_tail(s));
	ck_assert_str_eq(CTL_OK(s, "get", "k19999"), "2\n");
	fd_b = raw_set("b", 5, 7);
	ck_assert(new_file_in_the_works());
	ck_assert_int_eq(unlink(held), 0);
	ck_assert_int_eq(raw_status(fd_b, 7, NULL), OBJD__STATUS__OK);
	ck_assert(!new_file_in_the_works());
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "5\n");
	e2e_stop(s);
	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "k00000"), "2\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "5\n");
	e2e_stop(s);
}
END_TEST

/* A file that fails to load aside is rejected on the loop, as ever: the
 * state served stays, and the bad file is moved aside. */
START_TEST(test_bad_file_loaded_aside_is_rejected)
{
	const char *held = e2e_path(s, "held-load");
	const char *incoming = e2e_path(s, "incoming");
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "600" };

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	e2e_write_file(held, "", 0);
	/* Field 1 with wire type 7, which does not exist. */
	e2e_write_file(incoming, "\x0fnot an object", 14);
	ck_assert_int_eq(rename(incoming, s->file), 0);
	ck_assert_msg(e2e_log_has(s, "failsync: holding a map"),
	    "no load began; log:\n%s", e2e_log_tail(s));
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	ck_assert_int_eq(unlink(held), 0);
	ck_assert_msg(e2e_log_has(s, "rejected"), "log:\n%s", e2e_log_tail(s));
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	ck_assert_msg(strstr(CTL_OK(s, "status"), "rejected") != NULL,
	    "status: %s", s->out);
	CTL_OK(s, "set", "a", "2");
	e2e_stop(s);
	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "2\n");
	e2e_stop(s);
}
END_TEST

/* True once objd has a new file in the works beside the object file. */
static bool
new_file_in_the_works(void)
{
	char *dir = strdup(s->file), *slash;
	struct dirent *de;
	bool found = false;
	DIR *d;

	ck_assert_ptr_nonnull(dir);
	slash = strrchr(dir, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".objd-new.", 10) == 0)
			found = true;
	closedir(d);
	free(dir);
	return found;
}

/* Waits until objd serves a = value, an outside file's. Until the
 * reload lands, reads are served the state before it, where a may not
 * exist yet (exit 1). */
static void
wait_for_a(const char *value)
{
	double deadline = e2e_now() + 10;
	char want[32];
	int rc;

	snprintf(want, sizeof(want), "%s\n", value);
	while ((rc = CTL(s, "get", "a")) != 0 || strcmp(s->out, want) != 0) {
		ck_assert_msg(rc == 0 || rc == 1, "get a: exit %d", rc);
		ck_assert_msg(e2e_now() < deadline,
		    "the file with a = %s was not loaded: a is %s; log:\n%s",
		    value, s->out, e2e_log_tail(s));
		e2e_sleep(0.05);
	}
}

/* A file renamed in while objd writes back the file it just loaded is
 * not written over: the same reload loads it. The reload interval is 0
 * (no timer, no inotify), so only that reload can find the newer file. */
START_TEST(test_write_back_gives_way_to_a_newer_file)
{
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "0",
		.extra = E2E_ARGV("--fsync", "never") };
	double deadline;

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	rename_in_int("a", 1);
	/* The write-back's sync of its new file takes a second. */
	e2e_write_file(slow, "", 0);
	ck_assert_int_eq(kill(s->objd, SIGHUP), 0);
	deadline = e2e_now() + 10;
	while (!new_file_in_the_works()) {
		ck_assert_msg(e2e_now() < deadline, "no write-back began");
		e2e_sleep(0.01);
	}
	rename_in_int("a", 2);
	ck_assert_int_eq(unlink(slow), 0);
	wait_for_a("2");
	ck_assert_msg(strstr(e2e_log_tail(s), "replaced again") != NULL,
	    "log:\n%s", e2e_log_tail(s));
	restart_expecting_a_2(&o);
}
END_TEST

/* The same, when the newer file is renamed in between objd's last look
 * at the path and its own rename (the shim does it from inside objd's
 * rename): the rename itself gives way. */
START_TEST(test_write_back_rename_gives_way)
{
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "0",
		.extra = E2E_ARGV("--fsync", "never") };

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	rename_in_int("a", 1);
	write_object(racer(), "a", value_new_int(2));
	ck_assert_int_eq(kill(s->objd, SIGHUP), 0);
	wait_for_a("2");
	assert_shim_raced();
	ck_assert_int_eq(access(racer(), F_OK), -1);
	restart_expecting_a_2(&o);
}
END_TEST

/* A file renamed in between a compaction's last look at the path and its
 * rename is not written over either: the compaction fails, saying why,
 * and the reload that the rename set off loads the file. */
START_TEST(test_compaction_rename_gives_way)
{
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never") };

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	write_object(racer(), "a", value_new_int(2));
	ck_assert_int_eq(CTL(s, "compact"), 6);
	ck_assert_msg(strstr(s->err, "replaced while objd compacted it") !=
	        NULL,
	    "objctl compact: stderr: %s", s->err);
	wait_for_a("2");
	assert_shim_raced();
	/* The compaction's file is gone with its failure. */
	ck_assert(!new_file_in_the_works());
	restart_expecting_a_2(&o);
}
END_TEST

/* Two files renamed in, one just before a compaction's exchange and one
 * between that exchange and the one that puts the first back: the
 * newest is the one at the path, loaded, and none is left under objd's
 * temporary name (objd used to put the older back and leave the newest
 * there, never loaded). */
START_TEST(test_compaction_gives_way_to_the_newest_of_two_renames)
{
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never") };

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	write_object(racer(), "a", value_new_int(2));
	write_object(e2e_path(s, "racer-next"), "a", value_new_int(3));
	ck_assert_int_eq(CTL(s, "compact"), 6);
	ck_assert_msg(strstr(s->err, "replaced while objd compacted it") !=
	        NULL,
	    "objctl compact: stderr: %s", s->err);
	wait_for_a("3");
	ck_assert_int_eq(access(racer(), F_OK), -1);
	ck_assert_int_eq(access(e2e_path(s, "racer-next"), F_OK), -1);
	ck_assert_msg(!new_file_in_the_works(),
	    "a file is left under "
	    "objd's temporary name; log:\n%s",
	    e2e_log_tail(s));
	e2e_stop(s);
	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "3\n");
	e2e_stop(s);
}
END_TEST

/* The same two renames during the write-back after a reload: the newest
 * file stays and is loaded. */
START_TEST(test_write_back_gives_way_to_the_newest_of_two_renames)
{
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "0",
		.extra = E2E_ARGV("--fsync", "never") };

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	rename_in_int("a", 1);
	write_object(racer(), "a", value_new_int(2));
	write_object(e2e_path(s, "racer-next"), "a", value_new_int(3));
	ck_assert_int_eq(kill(s->objd, SIGHUP), 0);
	wait_for_a("3");
	ck_assert_int_eq(access(e2e_path(s, "racer-next"), F_OK), -1);
	ck_assert_msg(!new_file_in_the_works(),
	    "a file is left under objd's temporary name; log:\n%s",
	    e2e_log_tail(s));
	e2e_stop(s);
	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "3\n");
	e2e_stop(s);
}
END_TEST

/* A file renamed in between objd's load of a bad file and its move of
 * that file aside is not the one moved aside: it stays, and the same
 * reload loads it (the shim renames it in from inside objd's rename). */
START_TEST(test_reject_moves_aside_only_the_bad_file)
{
	const char *incoming = e2e_path(s, "incoming");
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "0",
		.extra = E2E_ARGV("--fsync", "never") };
	const char *log;

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	write_object(e2e_path(s, "racer-at-source"), "a", value_new_int(2));
	/* Field 1 with wire type 7, which does not exist. */
	e2e_write_file(incoming, "\x0fnot an object", 14);
	ck_assert_int_eq(rename(incoming, s->file), 0);
	ck_assert_int_eq(kill(s->objd, SIGHUP), 0);
	wait_for_a("2");
	log = e2e_log_tail(s);
	ck_assert_msg(strstr(log, "failsync: renamed") != NULL &&
	        strstr(log, "was replaced again") != NULL,
	    "log:\n%s", log);
	/* The bad file went with the other program's rename; nothing,
	 * and above all not the good file, was moved aside. */
	ck_assert_msg(strstr(CTL_OK(s, "status"), "rejected") == NULL,
	    "status: %s", s->out);
	restart_expecting_a_2(&o);
}
END_TEST

/* On a filesystem whose rename cannot exchange two files or refuse to
 * replace one (NFS), objd looks at the path and then renames: its
 * write-backs and compactions work as before. */
START_TEST(test_renames_without_flags)
{
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never") };
	struct stat st;
	ino_t outside;

	failsync_init(&fs, &o);
	e2e_write_file(e2e_path(s, "no-rename-flags"), "", 0);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	CTL_OK(s, "compact");
	write_object(e2e_path(s, "incoming"), "a", value_new_int(1));
	ck_assert_int_eq(stat(e2e_path(s, "incoming"), &st), 0);
	outside = st.st_ino;
	ck_assert_int_eq(rename(e2e_path(s, "incoming"), s->file), 0);
	wait_for_a("1");
	/* Written back in objd's format, in a new file. */
	ck_assert_uint_ne(file_inode(), outside);
	CTL_OK(s, "set", "b", "2");
	ck_assert_msg(strstr(e2e_log_tail(s),
	                  "failsync: renameat2 fails with EINVAL") != NULL &&
	        strstr(e2e_log_tail(s), "cannot rename") == NULL,
	    "log:\n%s", e2e_log_tail(s));
	e2e_stop(s);

	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "2\n");
	e2e_stop(s);
}
END_TEST

/* Without inotify (the user's instances used up), objd looks at the file
 * before each turn of requests too: a write that comes after another
 * program renamed a file in builds on that file. It used to go to the
 * file replaced, be answered, and be replaced in turn at the next look,
 * up to an interval later. */
START_TEST(test_writes_without_inotify_build_on_a_new_file)
{
	struct failsync fs;
	struct objd_opts o = { .reload_interval = "600" };

	failsync_init(&fs, &o);
	e2e_write_file(e2e_path(s, "no-inotify"), "", 0);
	e2e_start_opts(s, &o);
	ck_assert_msg(e2e_log_has(s, "before each turn of requests"),
	    "log:\n%s", e2e_log_tail(s));
	CTL_OK(s, "set", "a", "0");
	rename_in_int("a", 1);
	CTL_OK(s, "set", "b", "2");
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "2\n");
	e2e_stop(s);

	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "2\n");
	e2e_stop(s);
}
END_TEST

/* objd starting on another program's file writes it in its own format,
 * but not over a newer file renamed in meanwhile: a reload loads that
 * one. A child process renames it in once objd's new file appears (the
 * sync of which takes a second), while the test waits for objd. */
START_TEST(test_start_gives_way_to_a_newer_file)
{
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never") };
	double deadline;
	pid_t renamer;
	int status;

	failsync_init(&fs, &o);
	rename_in_int("a", 1);
	e2e_write_file(slow, "", 0);
	renamer = fork();
	ck_assert_int_ne(renamer, -1);
	if (renamer == 0) {
		deadline = e2e_now() + 10;
		while (!new_file_in_the_works() && e2e_now() < deadline)
			e2e_sleep(0.01);
		rename_in_int("a", 2);
		_exit(unlink(slow) == 0 ? 0 : 1);
	}
	e2e_start_opts(s, &o);
	ck_assert_int_eq(waitpid(renamer, &status, 0), renamer);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	wait_for_a("2");
	ck_assert_msg(strstr(e2e_log_tail(s), "was replaced") != NULL,
	    "log:\n%s", e2e_log_tail(s));
	e2e_stop(s);
}
END_TEST

/* objd with no file of its own (none at the start: _i 0; an empty one,
 * which it reads but does not append to: _i 1) puts its first only
 * where none is, or over the one it read. A file renamed in at the same
 * instant is loaded, and the change is refused, to be made again. */
START_TEST(test_first_file_gives_way)
{
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never") };

	failsync_init(&fs, &o);
	if (_i == 1)
		e2e_write_file(s->file, "", 0);
	e2e_start_opts(s, &o);
	write_object(racer(), "a", value_new_int(2));
	ck_assert_int_eq(CTL(s, "set", "a", "1"), 6);
	ck_assert_msg(strstr(s->err, "another program put a file") != NULL,
	    "objctl set: stderr: %s", s->err);
	assert_shim_raced();
	wait_for_a("2");
	CTL_OK(s, "set", "b", "3");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "3\n");
	restart_expecting_a_2(&o);
}
END_TEST

/* Writes that come while a sync fails may rest on the failed change:
 * they are refused with it, and none of them reaches the file. */
START_TEST(test_failed_sync_refuses_writes_that_came_meanwhile)
{
	const char *trigger = e2e_path(s, "fail-fsync");
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "always") };
	int fd_a, fd_b;

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "0");
	e2e_write_file(slow, "", 0);
	e2e_write_file(trigger, "", 0);
	fd_a = raw_set("a", 1, 1);
	/* Once this is answered, a's batch is in its sync. */
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	fd_b = raw_set("b", 1, 2);
	ck_assert_int_eq(raw_status(fd_a, 1, NULL), OBJD__STATUS__FAILED);
	ck_assert_int_eq(raw_status(fd_b, 2, NULL), OBJD__STATUS__FAILED);
	ck_assert_msg(strstr(e2e_log_tail(s), "came during the failed sync") !=
	        NULL,
	    "b was not in the batch that gathered during a's sync; log:\n%s",
	    e2e_log_tail(s));
	ck_assert_int_eq(unlink(slow), 0);
	ck_assert_int_eq(unlink(trigger), 0);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	ck_assert_int_eq(CTL(s, "get", "b"), 1);
	CTL_OK(s, "set", "c", "1");
	e2e_stop(s);

	e2e_start_opts(s, &o);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "0\n");
	ck_assert_int_eq(CTL(s, "get", "b"), 1);
	ck_assert_str_eq(CTL_OK(s, "get", "c"), "1\n");
	e2e_stop(s);
}
END_TEST

/* After a sync, the next commit waits for the writers that sync
 * answered to write again (batch.c). One that never does holds the
 * writes of the others for a moment only: here x is answered and stays
 * connected without writing, and y, which gathered during x's sync, is
 * committed once the wait runs out. */
START_TEST(test_commit_wait_runs_out)
{
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	uint64_t rev;
	int fd_x = start_with_x_syncing(&fs, slow), fd_y;

	fd_y = raw_set("y", 2, 2);
	ck_assert_int_eq(unlink(slow), 0);
	ck_assert_int_eq(raw_answer(fd_x, 1, &rev), OBJD__STATUS__OK);
	ck_assert_uint_eq(rev, 2);
	/* With no end to the wait, this would never come. */
	ck_assert_int_eq(raw_status(fd_y, 2, &rev), OBJD__STATUS__OK);
	ck_assert_uint_eq(rev, 3);
	ck_assert_uint_eq(status_u64("commit_waits"), 1);
	ck_assert_uint_eq(status_u64("commit_waits_expired"), 1);
	close(fd_x);
	ck_assert_str_eq(CTL_OK(s, "get", "y"), "2\n");
	e2e_stop(s);
}
END_TEST

/* A writer that wrote again while its sync was in flight is back
 * already: the commit after that sync does not wait for it. */
START_TEST(test_commit_wait_skips_writers_back)
{
	const char *slow = e2e_path(s, "slow-fsync");
	struct failsync fs;
	struct raw_reader answers_x;
	uint64_t rev;
	int fd_x = start_with_x_syncing(&fs, slow), fd_y;

	/* x's second set joins the batch that gathers during its first's
	 * sync, with y's. */
	raw_send_set(fd_x, "x", 2, 2);
	fd_y = raw_set("y", 3, 3);
	ck_assert_int_eq(unlink(slow), 0);
	/* Both answers may come in one read. */
	e2e_reader_open(&answers_x, fd_x);
	ck_assert_int_eq(raw_next(&answers_x, 1, &rev), OBJD__STATUS__OK);
	ck_assert_uint_eq(rev, 2);
	ck_assert_int_eq(raw_next(&answers_x, 2, &rev), OBJD__STATUS__OK);
	ck_assert_uint_eq(rev, 3);
	e2e_reader_close(&answers_x);
	ck_assert_int_eq(raw_status(fd_y, 3, &rev), OBJD__STATUS__OK);
	ck_assert_uint_eq(rev, 4);
	/* Only the sync of x's second set and y's made a commit wait: for
	 * the two of them. */
	ck_assert_uint_eq(status_u64("commit_waits"), 1);
	close(fd_x);
	ck_assert_str_eq(CTL_OK(s, "get", "x"), "2\n");
	ck_assert_str_eq(CTL_OK(s, "get", "y"), "3\n");
	e2e_stop(s);
}
END_TEST

/* Writers that each set their keys one after another, at once, with
 * --fsync always: the commits that wait for them (and those that do
 * not) lose and reorder nothing, and a restart finds every value. */
START_TEST(test_concurrent_durable_writers)
{
	enum { WRITERS = 6, SETS = 150 };
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "always") };
	pid_t pid[WRITERS];
	objd_client *c;
	char key[32];
	int status;

	e2e_start_opts(s, &o);
	for (int w = 0; w < WRITERS; w++) {
		pid[w] = fork();
		ck_assert_int_ne(pid[w], -1);
		if (pid[w] == 0) {
			objd_client *wc = NULL;
			char err[256];
			int failed = 0;

			if (objd_connect(s->sock, E2E_DEADLINE, &wc, err,
			        sizeof(err)) != OBJD_OK)
				_exit(2);
			for (int i = 0; i < SETS && !failed; i++) {
				Objd__Value *v = value_new_int(i);
				const Objd__Value *vals[] = { v };
				const char *keys[] = { key };

				snprintf(key, sizeof(key), "w%d", w);
				failed = objd_set(wc, keys, vals, 1) != OBJD_OK;
				value_free(v);
			}
			objd_close(wc);
			_exit(failed);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		ck_assert_int_eq(waitpid(pid[w], &status, 0), pid[w]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "writer %d failed (status %d)", w, status);
	}
	/* Each set changed its key: one revision each. */
	ck_assert_uint_eq(status_u64("revision"), WRITERS * SETS);
	e2e_stop(s);
	e2e_start_opts(s, &o);
	c = e2e_client(s);
	for (int w = 0; w < WRITERS; w++) {
		snprintf(key, sizeof(key), "w%d", w);
		ck_assert_int_eq(get_int(c, key), SETS - 1);
	}
	objd_close(c);
	e2e_stop(s);
}
END_TEST

static Suite *
storage_suite(void)
{
	Suite *suite = suite_create("storage");
	TCase *tc = tcase_create("storage");

	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_kill9_rounds);
	tcase_add_test(tc, test_torn_end_is_cut_at_start);
	tcase_add_test(tc, test_damaged_file_refuses_start);
	tcase_add_loop_test(tc, test_flipped_tag_refuses_start, 0, 2);
	tcase_add_test(tc, test_replacement_seen_through_inotify);
	tcase_add_test(tc, test_file_times_after_objd_clock);
	tcase_add_test(tc, test_compaction_under_writes);
	tcase_add_test(tc, test_compaction_keeps_up_with_large_values);
	tcase_add_test(tc, test_blocks_allocated_ahead_are_given_back);
	tcase_add_test(tc,
	    test_idle_objd_compacts_what_came_during_a_compaction);
	tcase_add_test(tc, test_idle_objd_compacts_after_a_burst);
	tcase_add_test(tc, test_never_syncs_only_a_compaction_snapshot);
	tcase_add_test(tc, test_changes_after_the_hand_over_follow_it);
	tcase_add_test(tc, test_commits_wait_for_a_compaction_behind);
	tcase_add_test(tc, test_changes_during_compactions_survive);
	tcase_add_test(tc, test_protoc_decodes_the_file);
	tcase_add_test(tc, test_compressed_file_served_without_compress);
	tcase_add_test(tc, test_failed_fsync_refuses_and_rewrites);
	tcase_add_test(tc, test_failed_fsync_not_back_after_restart);
	tcase_add_test(tc, test_serving_during_a_slow_sync);
	tcase_add_test(tc, test_looks_leave_a_sync_alone);
	tcase_add_test(tc, test_writes_before_a_reload_commit_before_it);
	tcase_add_test(tc, test_reads_served_while_a_reload_loads);
	tcase_add_test(tc, test_bad_file_loaded_aside_is_rejected);
	tcase_add_test(tc, test_large_reload_written_back_beside);
	tcase_add_test(tc, test_write_back_gives_way_to_a_newer_file);
	tcase_add_test(tc, test_write_back_rename_gives_way);
	tcase_add_test(tc, test_compaction_rename_gives_way);
	tcase_add_test(tc,
	    test_compaction_gives_way_to_the_newest_of_two_renames);
	tcase_add_test(tc,
	    test_write_back_gives_way_to_the_newest_of_two_renames);
	tcase_add_test(tc, test_reject_moves_aside_only_the_bad_file);
	tcase_add_test(tc, test_renames_without_flags);
	tcase_add_test(tc, test_writes_without_inotify_build_on_a_new_file);
	tcase_add_test(tc, test_start_gives_way_to_a_newer_file);
	tcase_add_loop_test(tc, test_first_file_gives_way, 0, 2);
	tcase_add_test(tc, test_failed_sync_refuses_writes_that_came_meanwhile);
	tcase_add_test(tc, test_commit_wait_runs_out);
	tcase_add_test(tc, test_commit_wait_skips_writers_back);
	tcase_add_test(tc, test_concurrent_durable_writers);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	return e2e_main(storage_suite());
}
