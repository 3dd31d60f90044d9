/* SPDX-License-Identifier: ISC */
/* check_offline.c: objctl without objd: --file reads an object file as
 * objd would serve it (also while an objd writes it), and check judges
 * every class of damage the loader (common/objformat.c) knows, and
 * --fix cuts only a torn tail. The damaged files are built with objd's
 * own writer, as tests/unit/check_objfile.c builds them. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <libdeflate.h>

#include "framing.h"
#include "harness.h"
#include "json.h"
#include "objd-client.h"
#include "objd.h"
#include "value.h"
#include "xmalloc.h"

static struct session *const s = &e2e_session;

/* The same command against objd and with --file on its file: the same
 * output and exit status. */
static void
assert_same_offline(const char *const *argv, size_t argc)
{
	const char *off[16];
	char *live_out, *live_err;
	int live;

	ck_assert_uint_lt(argc + 2, 16);
	live = e2e_objctl(s, NULL, NULL, argv);
	live_out = xstrdup(s->out);
	live_err = xstrdup(s->err);
	off[0] = "--file";
	off[1] = s->file;
	for (size_t i = 0; i < argc; i++)
		off[2 + i] = argv[i];
	off[2 + argc] = NULL;
	ck_assert_int_eq(e2e_objctl(s, NULL, NULL, off), live);
	ck_assert_msg(strcmp(s->out, live_out) == 0,
	    "%s: objd printed\n%s\nthe file\n%s", argv[0], live_out, s->out);
	ck_assert_msg(strcmp(s->err, live_err) == 0,
	    "%s: objd said\n%s\nthe file\n%s", argv[0], live_err, s->err);
	free(live_out);
	free(live_err);
}

#define SAME(...)                                                              \
	assert_same_offline(E2E_ARGV(__VA_ARGS__),                             \
	    sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *))

/* get, list and dump print with --file what they print against objd. */
START_TEST(test_offline_reads_as_objd)
{
	e2e_start(s);
	CTL_OK(s, "set", "name", "John", "age", "30", "pi", "3.0", "blob",
	    "{\"$bytes\": \"AAEC\"}", "server.port", "80", "gone", "1");
	CTL_OK(s, "set", "server.host", "example.org", "list", "[1, \"two\"]");
	CTL_OK(s, "del", "gone");
	SAME("get");
	SAME("dump");
	SAME("get", "name");
	SAME("get", "server.port");
	SAME("get", "--meta", "server.host");
	SAME("--json", "get", "--meta", "age");
	SAME("get", "gone");
	SAME("get", "age.x");
	SAME("get", "server.nope");
	SAME("list");
	SAME("list", "s");
	SAME("--json", "list");
	/* objd's room after the last commit is no damage. */
	CTL_OK(s, "check", s->file);
	ck_assert_msg(strstr(s->out, "sound") != NULL, "%s", s->out);
	e2e_stop(s);
	CTL_OK(s, "--file", s->file, "status");
	ck_assert(e2e_line_has(s->out, "keys:", "6"));
	ck_assert(e2e_line_has(s->out, "revision:", "3"));
	ck_assert(e2e_line_has(s->out, "compressed:", "no"));
	CTL_OK(s, "--json", "--file", s->file, "status");
	ck_assert_msg(strstr(s->out, "\"torn_bytes\": 0") != NULL, "%s",
	    s->out);
	/* Not a command that needs objd. */
	CTL_EXIT(s, 2, "--file", s->file, "set", "a", "1");
	/* No file. */
	CTL_EXIT(s, 3, "--file", e2e_path(s, "none.pb"), "get");
}
END_TEST

/* history with --file prints, for each kind of key's past, what objd
 * prints, before and after a compaction, plain and --compress: a key
 * changed, deleted and set again; one set once; one that expired; one
 * deleted with its past; a nested key; none. */
static void
assert_history_same(void)
{
	SAME("history", "a");
	SAME("history", "once");
	SAME("history", "brief");
	SAME("history", "gone");
	SAME("history", "server");
	SAME("history", "server.port");
	SAME("history", "none");
	SAME("--json", "history", "a");
	SAME("--json", "history", "brief");
}

START_TEST(test_offline_history_as_objd)
{
	const char *compress[] = { "--compress", NULL };
	struct objd_opts o = { .extra = compress };
	double until;

	e2e_start(s);
	CTL_OK(s, "set", "a", "1");
	CTL_OK(s, "set", "a", "{\"n\": [1, 2]}", "once", "x");
	CTL_OK(s, "del", "a");
	CTL_OK(s, "set", "a", "3", "gone", "1", "server.port", "80");
	CTL_OK(s, "set", "gone", "2", "server.host", "h");
	CTL_OK(s, "del", "gone");
	CTL_OK(s, "set", "--ttl", "1", "brief", "1");
	until = e2e_now() + 1 + E2E_DEADLINE;
	while (e2e_objctl(s, NULL, NULL, E2E_ARGV("get", "brief")) == 0 &&
	    e2e_now() < until)
		usleep(50000);
	CTL_EXIT(s, 1, "get", "brief");
	assert_history_same();
	CTL_OK(s, "--file", s->file, "history", "a");
	ck_assert_msg(strstr(s->out, " delete\n") != NULL, "%s", s->out);
	CTL_OK(s, "--file", s->file, "history", "brief");
	ck_assert_msg(strstr(s->out, " expire\n") != NULL, "%s", s->out);
	CTL_EXIT(s, 1, "--file", s->file, "history", "none");
	ck_assert_msg(strstr(s->err, "key none has no history") != NULL, "%s",
	    s->err);

	/* The snapshot's records, and changes after it. */
	CTL_OK(s, "compact");
	assert_history_same();
	CTL_OK(s, "set", "a", "4", "once", "y");
	assert_history_same();
	e2e_stop(s);

	/* In deflated chunks. */
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "single", "s");
	CTL_OK(s, "compact");
	SAME("history", "single");
	CTL_OK(s, "set", "a", "5");
	assert_history_same();
	e2e_stop(s);
	CTL_OK(s, "--file", s->file, "history", "a");
	ck_assert_msg(strstr(s->out, " set 5\n") != NULL, "%s", s->out);
}
END_TEST

/* objd keeps its --history of the versions, the file those it was
 * given and the changes after: --file prints every one the file holds,
 * up to its last good commit. The entries of another program's file
 * came without their past. */
START_TEST(test_offline_history_is_the_file_s)
{
	const char *depth[] = { "--history", "2", NULL };
	struct objd_opts o = { .extra = depth };
	int fd;

	e2e_write_plain_file(s->file, "name", "John");
	ck_assert_str_eq(CTL_OK(s, "--file", s->file, "history", "name"),
	    "0 - set John\n");

	e2e_start_opts(s, &o);
	SAME("history", "name");
	CTL_OK(s, "set", "k", "1");
	CTL_OK(s, "set", "k", "2");
	CTL_OK(s, "set", "k", "3");
	CTL_OK(s, "compact");
	SAME("history", "k");
	ck_assert_int_eq(e2e_count_lines(s->out), 2);
	CTL_OK(s, "set", "k", "4");
	CTL_OK(s, "history", "k");
	ck_assert_int_eq(e2e_count_lines(s->out), 2);
	CTL_OK(s, "--file", s->file, "history", "k");
	ck_assert_int_eq(e2e_count_lines(s->out), 3);
	ck_assert_msg(strncmp(s->out, "2 ", 2) == 0, "%s", s->out);
	e2e_stop(s);

	/* A change cut short after the last commit is not a version. */
	fd = open(s->file, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "\x12\x10\x0a\x01k", 5), 5);
	close(fd);
	CTL_OK(s, "--file", s->file, "history", "k");
	ck_assert_int_eq(e2e_count_lines(s->out), 3);
}
END_TEST

/* A writer that sets n and m to the same number in each change, and
 * has objd compact now and then, until killed. */
static pid_t
start_writer(void)
{
	pid_t pid = fork();
	objd_client *c = NULL;
	char err[256];

	ck_assert_int_ne(pid, -1);
	if (pid != 0)
		return pid;
	if (objd_connect(s->sock, E2E_DEADLINE, &c, err, sizeof(err)) !=
	    OBJD_OK)
		_exit(1);
	for (int64_t i = 1;; i++) {
		Objd__Value *v = value_new_int(i);
		const Objd__Value *vals[] = { v, v };
		const char *keys[] = { "n", "m" };

		if (objd_set(c, keys, vals, 2) != OBJD_OK)
			_exit(1);
		value_free(v);
		if (i % 50 == 0 && objd_compact(c) != OBJD_OK)
			_exit(1);
	}
}

/* Read while objd appends and compacts: every read is a whole commit. */
START_TEST(test_offline_while_objd_writes)
{
	const char *argv[] = { "--file", s->file, "--json", "get", NULL };
	Objd__Value *v;
	char err[512];
	int64_t last = 0;
	pid_t writer;

	e2e_start(s);
	CTL_OK(s, "set", "n", "0", "m", "0");
	writer = start_writer();
	for (int i = 0; i < 40; i++) {
		ck_assert_msg(e2e_objctl(s, NULL, NULL, argv) == 0, "%s",
		    s->err);
		v = json_to_value(s->out, s->outlen, err, sizeof(err));
		ck_assert_msg(v != NULL, "%s: %s", s->out, err);
		ck_assert_uint_eq(v->map_value->n_fields, 2);
		ck_assert_int_eq(v->map_value->fields[0]->value->int_value,
		    v->map_value->fields[1]->value->int_value);
		ck_assert_int_ge(v->map_value->fields[0]->value->int_value,
		    last);
		last = v->map_value->fields[0]->value->int_value;
		value_free(v);
	}
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	e2e_stop(s);
}
END_TEST

/* A file as objd writes it: a snapshot of k0 and then n changes, change
 * i setting k<i> to i (revision 10 + i). ends[i] is where change i
 * ends. */
static void
build_file(int n, size_t *ends, bool compress)
{
	char err[512], key[16];
	struct objfile *f;
	struct store *st = store_new();

	f = objfile_open(s->file, FSYNC_NEVER, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	objfile_set_compress(f, compress);
	for (int i = 0; i < 40; i++) {
		Objd__Value *v = value_new_int(i);
		size_t len;
		uint8_t *val = value_pack(v, &len);

		snprintf(key, sizeof(key), "s%d", i);
		free(store_put(st,
		    store_entry_new(key, strlen(key), val, len, 1)));
		free(val);
		value_free(v);
	}
	store_set_revision(st, 10);
	ck_assert_int_eq(objfile_rewrite(f, st, err, sizeof(err)), 0);
	ends[0] = objfile_stats(f)->file_size;
	for (int i = 1; i <= n; i++) {
		struct objfile_changes c;
		Objd__Value *v = value_new_int(i);
		size_t len;
		uint8_t *val = value_pack(v, &len);

		objfile_changes_init(f, &c);
		snprintf(key, sizeof(key), "k%d", i);
		objfile_change_set(&c, key, strlen(key), val, len);
		objfile_change_commit(&c, 10 + (uint64_t)i);
		ck_assert_msg(objfile_append(f, st, &c, err, sizeof(err)) == 0,
		    "%s", err);
		ends[i] = ends[i - 1] + c.buf.len;
		objfile_changes_free(f, &c);
		free(val);
		value_free(v);
	}
	objfile_close(f);
	store_free(st);
	/* objfile_open's lock file: an objd that stopped leaves it too. */
}

static uint8_t *
file_bytes(size_t *len)
{
	uint8_t *buf = (uint8_t *)e2e_read_file(s->file, len);

	ck_assert_ptr_nonnull(buf);
	return buf;
}

/* The bytes of a commit record, by hand: crc over from..end of buf. */
static void
put_commit(uint8_t *buf, size_t *len, size_t from, uint64_t revision,
    uint32_t n_entries)
{
	uint8_t rec[OBJFILE_COMMIT_MAX];
	size_t n = objfile_commit_pack(revision,
	    libdeflate_crc32(0, buf + from, *len - from), n_entries, rec);

	buf[(*len)++] = (OBJFILE_FIELD_COMMITS << 3) | 2;
	buf[(*len)++] = (uint8_t)n;
	memcpy(buf + *len, rec, n);
	*len += n;
}

/* check on a file: exit want, and its report names what. */
static void
assert_check(const uint8_t *buf, size_t len, int want, const char *what)
{
	e2e_write_file(s->file, buf, len);
	CTL_EXIT(s, want, "check", s->file);
	ck_assert_msg(strstr(s->out, what) != NULL, "want \"%s\" in:\n%s%s",
	    what, s->out, s->err);
}

static int
torn_files(void)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "objd.pb.torn-", 13) == 0;
	closedir(d);
	return n;
}

/* --fix on a damaged file: refused, exit 6, and the file unchanged. */
static void
assert_fix_refused(const uint8_t *buf, size_t len)
{
	size_t after_len;
	uint8_t *after;
	int torn = torn_files();

	e2e_write_file(s->file, buf, len);
	CTL_EXIT(s, 6, "check", "--fix", s->file);
	ck_assert_msg(strstr(s->err, "left as it was") != NULL, "%s", s->err);
	after = file_bytes(&after_len);
	ck_assert_uint_eq(after_len, len);
	ck_assert(memcmp(after, buf, len) == 0);
	ck_assert_int_eq(torn_files(), torn);
	free(after);
}

/* Every class of damage the loader knows, by name, and exit 6. */
START_TEST(test_check_names_every_damage)
{
	size_t ends[6], len;
	uint8_t *buf = NULL, *big;
	char want[128];

	build_file(5, ends, _i != 0);
	buf = file_bytes(&len);
	ck_assert_uint_eq(len, ends[5]);
	CTL_OK(s, "check", s->file);
	snprintf(want, sizeof(want), "sound: 6 commits, revision 15, 45 keys");
	ck_assert_msg(strstr(s->out, want) != NULL, "%s", s->out);
	/* --file reads the snapshot's deflated chunks as objd does. */
	ck_assert_str_eq(CTL_OK(s, "--file", s->file, "get", "s7"), "7\n");
	ck_assert_str_eq(CTL_OK(s, "--file", s->file, "get", "k5"), "5\n");
	ck_assert(e2e_line_has(CTL_OK(s, "--file", s->file, "status"),
	    "compressed:", _i != 0 ? "yes" : "no"));
	big = xmalloc(len + 4096);
	memcpy(big, buf, len);

	/* Torn tail: half of the last change. */
	assert_check(big, ends[4] + 5, 6, "torn tail at byte");
	snprintf(want, sizeof(want), "up to byte %zu (revision 14)", ends[4]);
	ck_assert_msg(strstr(s->out, want) != NULL, "%s", s->out);
	/* Entries with no commit record after them: torn too. */
	memcpy(big + len, buf + ends[4], 6);
	assert_check(big, len + 6, 6, "torn tail");
	/* The last change again: a replay. */
	memcpy(big + len, buf + ends[4], ends[5] - ends[4]);
	assert_check(big, len + ends[5] - ends[4], 6, "replayed commits");
	memcpy(big, buf, len);
	/* A flipped byte in change 2 with good changes after it. */
	big[ends[1] + 6] ^= 0x01;
	assert_check(big, len, 6, "damage followed by good commits");
	snprintf(want, sizeof(want), "a commit whose crc matches is at byte");
	ck_assert_msg(strstr(s->out, want) != NULL, "%s", s->out);
	assert_fix_refused(big, len);
	big[ends[1] + 6] ^= 0x01;
	/* A snapshot cut short. */
	assert_check(big, ends[0] - 3, 6, "damage inside its snapshot");
	assert_fix_refused(big, ends[0] - 3);

	/* A commit whose crc is good over bytes that do not load. A
	 * deflated chunk that does not inflate: */
	len = ends[5];
	big[len] = (OBJFILE_FIELD_DEFLATED << 3) | 2;
	big[len + 1] = 4;
	memcpy(big + len + 2, "junk", 4);
	{
		size_t n = len + 6;

		put_commit(big, &n, len, 16, 1);
		assert_check(big, n, 6, "bad deflated chunk");
		assert_fix_refused(big, n);
	}
	/* An entry that does not parse. */
	big[len] = (OBJFILE_FIELD_ENTRIES << 3) | 2;
	big[len + 1] = 2;
	big[len + 2] = 0xff;
	big[len + 3] = 0xff;
	{
		size_t n = len + 4;

		put_commit(big, &n, len, 16, 1);
		assert_check(big, n, 6, "bad entry");
	}
	/* A chunk of one entry, counted as two. */
	{
		const uint8_t entry[] = { (OBJFILE_FIELD_ENTRIES << 3) | 2, 7,
			(OBJFILE_ENTRY_KEY << 3) | 2, 1, 'z',
			(OBJFILE_ENTRY_VALUE << 3) | 2, 2, 0x18, 0x05 };
		struct libdeflate_compressor *z =
		    libdeflate_alloc_compressor(6);
		size_t zlen, n;

		zlen = libdeflate_zlib_compress(z, entry, sizeof(entry),
		    big + len + 2, 200);
		ck_assert_uint_gt(zlen, 0);
		ck_assert_uint_lt(zlen, 128);
		libdeflate_free_compressor(z);
		big[len] = (OBJFILE_FIELD_DEFLATED << 3) | 2;
		big[len + 1] = (uint8_t)zlen;
		n = len + 2 + zlen;
		put_commit(big, &n, len, 16, 2);
		assert_check(big, n, 6, "wrong count of entries");
		/* Counted right, it loads. */
		n = len + 2 + zlen;
		put_commit(big, &n, len, 16, 1);
		assert_check(big, n, 0, "sound: 7 commits, revision 16");
	}
	/* Another program's file with a bad key: not objd's format. */
	{
		const uint8_t foreign[] = { (OBJFILE_FIELD_ENTRIES << 3) | 2, 6,
			(OBJFILE_ENTRY_KEY << 3) | 2, 0,
			(OBJFILE_ENTRY_VALUE << 3) | 2, 2, 0x18, 0x05 };

		assert_check(foreign, sizeof(foreign), 6, "bad entry");
		assert_check(foreign + 2, 0, 0, "sound: 0 commits");
	}
	free(big);
	free(buf);
}
END_TEST

/* --fix cuts a torn tail back to the last good commit and keeps the cut
 * bytes; objd then starts on the file with nothing to cut. */
START_TEST(test_check_fix_cuts_torn_tail)
{
	size_t ends[4], len, kept_len = 0;
	uint8_t *buf, *after;
	char *kept = NULL;
	DIR *d;
	struct dirent *de;

	build_file(3, ends, false);
	buf = file_bytes(&len);
	buf = xrealloc(buf, len + 100);
	memcpy(buf + len, buf + ends[2], 6);
	memset(buf + len + 6, 0, 94);
	e2e_write_file(s->file, buf, len + 100);
	CTL_OK(s, "check", "--fix", s->file);
	ck_assert_msg(strstr(s->out, "cut 100 bytes") != NULL, "%s", s->out);
	after = file_bytes(&len);
	ck_assert_uint_eq(len, ends[3]);
	ck_assert(memcmp(after, buf, len) == 0);
	free(after);
	ck_assert_int_eq(torn_files(), 1);
	d = opendir(s->dir);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "objd.pb.torn-", 13) == 0)
			kept = e2e_path(s, de->d_name);
	closedir(d);
	after = (uint8_t *)e2e_read_file(kept, &kept_len);
	ck_assert_uint_eq(kept_len, 100);
	ck_assert(memcmp(after, buf + ends[3], 100) == 0);
	free(after);
	ck_assert_msg(strstr(s->out, kept) != NULL, "%s", s->out);
	/* A second torn tail in the same second: kept under its own name. */
	e2e_write_file(s->file, buf, ends[3] + 100);
	CTL_OK(s, "check", "--fix", s->file);
	ck_assert_int_eq(torn_files(), 2);
	CTL_OK(s, "check", s->file);
	CTL_OK(s, "check", "--fix", s->file);
	e2e_start(s);
	CTL_OK(s, "status");
	ck_assert_msg(strstr(s->out, "torn bytes cut") == NULL, "%s", s->out);
	ck_assert_str_eq(CTL_OK(s, "get", "k3"), "3\n");
	free(buf);
	e2e_stop(s);
}
END_TEST

/* --fix stays off a file that a running objd holds. */
START_TEST(test_check_fix_refuses_live_objd)
{
	e2e_start(s);
	CTL_OK(s, "set", "a", "1");
	CTL_EXIT(s, 6, "check", "--fix", s->file);
	ck_assert_msg(strstr(s->err, "in use by objd") != NULL, "%s", s->err);
	/* Checking without --fix reads only. */
	CTL_OK(s, "check", s->file);
	e2e_stop(s);
	CTL_OK(s, "check", "--fix", s->file);
	ck_assert_int_eq(torn_files(), 0);
}
END_TEST

/* Runs objctl edit ARGS with EDITOR the shell script body, files made in
 * the session's folder. Returns the exit status. */
static int
edit_with(const char *body, const char *key)
{
	char *script = e2e_path(s, "editor.sh"), *text;
	char *editor = xasprintf("EDITOR=%s", script);
	char *tmpdir = xasprintf("TMPDIR=%s", s->dir);
	const char *const env[] = { editor, tmpdir, "VISUAL=", NULL };
	int status;

	text = xasprintf("#!/bin/sh\n%s\n", body);
	e2e_write_file(script, text, strlen(text));
	free(text);
	ck_assert_int_eq(chmod(script, 0755), 0);
	if (key != NULL)
		status = e2e_objctl(s, NULL, env, E2E_ARGV("edit", key));
	else
		status = e2e_objctl(s, NULL, env, E2E_ARGV("edit"));
	free(editor);
	free(tmpdir);
	return status;
}

/* The edited file objctl kept, named on its last line of stderr. */
static char *
kept_file(void)
{
	const char *p = strstr(s->err, "kept in ");

	ck_assert_msg(p != NULL, "%s", s->err);
	p += strlen("kept in ");
	return xstrndup(p, strcspn(p, "\n"));
}

static void
edit_start(void)
{
	e2e_start(s);
	CTL_OK(s, "set", "name", "John", "pi", "3.0", "gone", "1",
	    "server.port", "80");
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "--meta", "name"),
	    "{\"object_revision\": 1, \"revision\": 1, \"value\": \"John\"}\n");
}

/* The difference is one change: sets of what changed or is new, deletes
 * of what is gone; the types of the rest kept. */
START_TEST(test_edit_applies_the_difference)
{
	char *text;

	edit_start();
	ck_assert_int_eq(edit_with("sed -i -e 's/John/Jo/' -e '/gone/d' "
	                           "-e 's/^{/{\"age\": 30,/' \"$1\"",
	                     NULL),
	    0);
	ck_assert(e2e_json_same(CTL_OK(s, "get"),
	    "{\"age\": 30, \"name\": \"Jo\", \"pi\": 3.0, "
	    "\"server\": {\"port\": 80}}"));
	/* One change: pi and server kept their revision. */
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "--meta", "pi"),
	    "{\"object_revision\": 2, \"revision\": 1, \"value\": 3.0}\n");
	/* KEY alone, a nested path. */
	ck_assert_int_eq(edit_with("sed -i 's/80/8080/' \"$1\"", "server.port"),
	    0);
	ck_assert_str_eq(CTL_OK(s, "get", "server"), "{\"port\": 8080}\n");
	/* Nothing is left in the folder but objd's. */
	text = xasprintf("! ls %s | grep -q objctl-edit", s->dir);
	ck_assert_int_eq(system(text), 0);
	free(text);
	e2e_stop(s);
}
END_TEST

START_TEST(test_edit_unchanged_changes_nothing)
{
	edit_start();
	ck_assert_int_eq(edit_with("touch \"$1\"", NULL), 0);
	ck_assert_msg(strstr(s->err, "no change") != NULL, "%s", s->err);
	/* Spacing alone is no change either. */
	ck_assert_int_eq(edit_with("sed -i 's/: /:   /' \"$1\"", "server"), 0);
	ck_assert_msg(strstr(s->err, "no change") != NULL, "%s", s->err);
	ck_assert(e2e_line_has(CTL_OK(s, "status"), "revision:", "1"));
	e2e_stop(s);
}
END_TEST

/* A set made while the editor runs: the edit changes nothing, exits 4
 * and keeps the edited text. */
START_TEST(test_edit_conflict_keeps_the_text)
{
	char *body, *kept, *text;
	size_t len;

	edit_start();
	body = xasprintf("'%s' set other 1 && sed -i 's/John/Jo/' \"$1\"",
	    getenv("OBJCTL_BIN"));
	ck_assert_int_eq(edit_with(body, NULL), 4);
	free(body);
	ck_assert_msg(strstr(s->err, "conflict") != NULL, "%s", s->err);
	kept = kept_file();
	text = e2e_read_file(kept, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "\"Jo\"") != NULL, "%s", text);
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "John\n");
	ck_assert_str_eq(CTL_OK(s, "get", "other"), "1\n");
	free(text);
	free(kept);
	/* The same for KEY: any change of the object meanwhile. */
	body = xasprintf("'%s' set other 2 && sed -i 's/3.0/4.0/' \"$1\"",
	    getenv("OBJCTL_BIN"));
	ck_assert_int_eq(edit_with(body, "pi"), 4);
	free(body);
	ck_assert_str_eq(CTL_OK(s, "get", "pi"), "3.0\n");
	e2e_stop(s);
}
END_TEST

/* Text that does not parse: where, exit 2 without a terminal, the text
 * kept. */
START_TEST(test_edit_bad_json_says_where)
{
	char *kept, *text;
	size_t len;

	edit_start();
	ck_assert_int_eq(
	    edit_with("printf '{\\n  \"a\": 1,\\n  \"b\": ,\\n}\\n' "
	              "> \"$1\"",
	        NULL),
	    2);
	ck_assert_msg(strstr(s->err, "line 3, column") != NULL, "%s", s->err);
	kept = kept_file();
	text = e2e_read_file(kept, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "\"b\": ,") != NULL, "%s", text);
	free(text);
	free(kept);
	/* The object must stay an object. */
	ck_assert_int_eq(edit_with("echo 5 > \"$1\"", NULL), 2);
	ck_assert(e2e_line_has(CTL_OK(s, "status"), "revision:", "1"));
	e2e_stop(s);
}
END_TEST

static Suite *
offline_suite(void)
{
	Suite *su = suite_create("offline");
	TCase *tc = tcase_create("file");

	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_offline_reads_as_objd);
	tcase_add_test(tc, test_offline_history_as_objd);
	tcase_add_test(tc, test_offline_history_is_the_file_s);
	tcase_add_test(tc, test_offline_while_objd_writes);
	tcase_add_loop_test(tc, test_check_names_every_damage, 0, 2);
	tcase_add_test(tc, test_check_fix_cuts_torn_tail);
	tcase_add_test(tc, test_check_fix_refuses_live_objd);
	suite_add_tcase(su, tc);
	tc = tcase_create("edit");
	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_edit_applies_the_difference);
	tcase_add_test(tc, test_edit_unchanged_changes_nothing);
	tcase_add_test(tc, test_edit_conflict_keeps_the_text);
	tcase_add_test(tc, test_edit_bad_json_says_where);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return e2e_main(offline_suite());
}
