/* SPDX-License-Identifier: ISC */
/* check_e2e.c: objd and objctl end to end, as a user drives them.
 *
 * Every test starts the objd built here on a folder of its own and talks
 * to it through the objctl built here, through libobjd, or through raw
 * bytes on the socket. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "framing.h"
#include "harness.h"
#include "objd-client.h"
#include "value.h"
#include "version.h"

static struct session *const s = &e2e_session;

/* A libobjd connection to the session's objd. */
/* objd's StatusInfo, from libobjd; free with objd_response_free(). */
static Objd__Response *
status_info(void)
{
	objd_client *c = e2e_client(s);
	Objd__Response *r = NULL;

	ck_assert_msg(objd_status(c, &r) == OBJD_OK, "objd_status: %s",
	    objd_client_error(c));
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(r->info);
	objd_close(c);
	return r;
}

static uint64_t
revision(void)
{
	Objd__Response *r = status_info();
	uint64_t rev = r->info->revision;

	objd_response_free(r);
	return rev;
}

/* Polls `objctl get` until it prints the object want (JSON), for at most
 * E2E_DEADLINE seconds. */
static bool
eventually_get(const char *want)
{
	double end = e2e_now() + E2E_DEADLINE;

	do {
		if (CTL(s, "get") == 0 && e2e_json_same(s->out, want))
			return true;
		e2e_sleep(0.05);
	} while (e2e_now() < end);
	return false;
}

/* The bytes of an objd.Object written by "another program": entries
 * only, no header, no commit record. */
static uint8_t *
object_bytes(const char *const *keys, Objd__Value **values, size_t n,
    size_t *len)
{
	Objd__Object obj = OBJD__OBJECT__INIT;
	Objd__Object__EntriesEntry ents[8], *ptrs[8];
	uint8_t *buf;

	ck_assert_uint_le(n, 8);
	for (size_t i = 0; i < n; i++) {
		Objd__Object__EntriesEntry e =
		    OBJD__OBJECT__ENTRIES_ENTRY__INIT;

		e.key = (char *)keys[i];
		e.value = values[i];
		ents[i] = e;
		ptrs[i] = &ents[i];
	}
	obj.n_entries = n;
	obj.entries = ptrs;
	*len = objd__object__get_packed_size(&obj);
	buf = malloc(*len);
	ck_assert_ptr_nonnull(buf);
	objd__object__pack(&obj, buf);
	for (size_t i = 0; i < n; i++)
		value_free(values[i]);
	return buf;
}

/* Writes bytes to a new file in the session's folder and renames it over
 * the object file, as an editor or a config manager would. */
static void
replace_file(const uint8_t *buf, size_t len)
{
	const char *tmp = e2e_path(s, "replacement.pb.tmp");

	e2e_write_file(tmp, buf, len);
	ck_assert_msg(rename(tmp, s->file) == 0, "rename: %s", strerror(errno));
}

/*
 * The README's first session.
 */
START_TEST(test_quick_start)
{
	e2e_start(s);
	CTL_OK(s, "set", "name", "John");
	CTL_OK(s, "set", "age", "30");
	CTL_OK(s, "set", "city", "New York");
	ck_assert_str_eq(CTL_OK(s, "get"),
	    "{\n"
	    "  \"age\": 30,\n"
	    "  \"city\": \"New York\",\n"
	    "  \"name\": \"John\"\n"
	    "}\n");
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "John\n");
	ck_assert_str_eq(CTL_OK(s, "get", "age"), "30\n");
	e2e_stop(s);
}
END_TEST

/*
 * Every value type through objctl.
 */
static const struct typed {
	const char *arg;  /* VALUE as typed on the command line */
	const char *raw;  /* what `get KEY` prints; NULL: compare as JSON */
	const char *json; /* the value as JSON, for `--json get KEY` */
} typed[] = {
	{ "null", "null\n", "null" },
	{ "true", "true\n", "true" },
	{ "false", "false\n", "false" },
	{ "30", "30\n", "30" },
	{ "0", "0\n", "0" },
	{ "-5", "-5\n", "-5" },
	{ "9223372036854775807", "9223372036854775807\n",
	    "9223372036854775807" },
	{ "-9223372036854775808", "-9223372036854775808\n",
	    "-9223372036854775808" },
	{ "3.5", "3.5\n", "3.5" },
	{ "30.0", "30.0\n", "30.0" },
	{ "0.1", "0.1\n", "0.1" },
	{ "-2.25", "-2.25\n", "-2.25" },
	{ "John", "John\n", "\"John\"" },
	{ "New York", "New York\n", "\"New York\"" },
	{ "01234", "01234\n", "\"01234\"" },
	{ "\"x\"", "x\n", "\"x\"" },
	{ "\"30\"", "30\n", "\"30\"" },
	{ "", "\n", "\"\"" },
	{ "Jos\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	    "Jos\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac "
	    "\xf0\x9f\x98\x80\n",
	    "\"Jos\\u00e9 \\u2713 \\u65e5\\u672c \\ud83d\\ude00\"" },
	{ "[]", NULL, "[]" },
	{ "{}", NULL, "{}" },
	{ "[1, 2.5, \"a\", null, true, [false], {\"k\": 0.0}]", NULL,
	    "[1, 2.5, \"a\", null, true, [false], {\"k\": 0.0}]" },
	{ "{\"host\": \"db\", \"port\": 5432, "
	  "\"tls\": {\"on\": true, \"ciphers\": [\"a\", \"b\"]}}",
	    NULL,
	    "{\"host\": \"db\", \"port\": 5432, "
	    "\"tls\": {\"on\": true, \"ciphers\": [\"a\", \"b\"]}}" },
	{ "{\"$bytes\": \"AAEC\"}", NULL, "{\"$bytes\": \"AAEC\"}" },
};

START_TEST(test_value_types)
{
	char whole[4096] = "{", key[16];
	size_t n = sizeof(typed) / sizeof(typed[0]);

	e2e_start(s);
	for (size_t i = 0; i < n; i++) {
		const struct typed *t = &typed[i];

		snprintf(key, sizeof(key), "k%02zu", i);
		CTL_OK(s, "set", key, t->arg);
		CTL_OK(s, "get", key);
		if (t->raw != NULL)
			ck_assert_msg(strcmp(s->out, t->raw) == 0,
			    "set %s '%s'; get %s printed '%s', want '%s'", key,
			    t->arg, key, s->out, t->raw);
		else
			ck_assert_msg(e2e_json_same(s->out, t->json),
			    "set %s '%s'; get %s printed '%s', want %s", key,
			    t->arg, key, s->out, t->json);
		CTL_OK(s, "--json", "get", key);
		ck_assert_msg(e2e_json_same(s->out, t->json),
		    "set %s '%s'; --json get %s printed '%s', want %s", key,
		    t->arg, key, s->out, t->json);
		snprintf(whole + strlen(whole), sizeof(whole) - strlen(whole),
		    "%s\"%s\": %s", i > 0 ? ", " : "", key, t->json);
	}
	strcat(whole, "}");
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get"), whole),
	    "get printed\n%s\nwant\n%s", s->out, whole);

	/* A string that looks like JSON stays a string when asked. */
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "k15"), "\"x\"\n");
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "k14"), "\"01234\"\n");
	CTL_OK(s, "set", "--string", "port", "30");
	ck_assert_str_eq(CTL_OK(s, "get", "port"), "30\n");
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "port"), "\"30\"\n");
	CTL_OK(s, "set", "--string", "flag", "true", "list", "[1]");
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "flag"), "\"true\"\n");
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "list"), "\"[1]\"\n");

	/* Unicode keys. */
	CTL_OK(s, "set", "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "value");
	ck_assert_str_eq(CTL_OK(s, "get", "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"),
	    "value\n");
	e2e_stop(s);
}
END_TEST

/* One rule for every command: options anywhere after the command, up
 * to "--", after which every word is an argument; a negative number is
 * a value, not an option. */
START_TEST(test_option_places)
{
	e2e_start(s);
	/* After the arguments, as before them. */
	CTL_OK(s, "set", "name", "John", "--if-absent");
	ck_assert_str_eq(CTL_OK(s, "get", "name", "--json"), "\"John\"\n");
	CTL_EXIT(s, 4, "set", "name", "Jo", "--if-absent");
	/* Not a key named --if-absent set to x: a pair short. */
	CTL_EXIT(s, 2, "set", "name", "John", "--if-absent", "x");
	CTL_EXIT(s, 1, "get", "--", "--if-absent");
	/* Between the pairs; --string is for every value. */
	CTL_OK(s, "set", "a", "1", "--string", "b", "2");
	ck_assert_str_eq(CTL_OK(s, "--json", "get", "a"), "\"1\"\n");
	ck_assert_str_eq(CTL_OK(s, "get", "--json", "b"), "\"2\"\n");
	CTL_EXIT(s, 4, "del", "a", "--if-revision", "999", "b");
	/* -- ends the options wherever it is. */
	CTL_OK(s, "set", "--", "--if-absent", "x");
	ck_assert_str_eq(CTL_OK(s, "get", "--", "--if-absent"), "x\n");
	CTL_OK(s, "set", "k", "--", "--json");
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "--json\n");
	ck_assert_str_eq(CTL_OK(s, "list", "--", "--"), "--if-absent\n");
	/* A negative number is a value anywhere. */
	CTL_OK(s, "set", "n", "-5", "--if-absent", "d", "-2.5");
	ck_assert_str_eq(CTL_OK(s, "get", "n"), "-5\n");
	ck_assert_str_eq(CTL_OK(s, "get", "d"), "-2.5\n");
	/* Any other word with a leading '-' is an option. */
	CTL_EXIT(s, 2, "set", "k", "-z");
	ck_assert_msg(strstr(s->err, "unknown option '-z'") != NULL,
	    "stderr: %s", s->err);
	/* -s is the socket, as in objd-bench and redis-cli. */
	CTL_EXIT(s, 3, "-s", "/nonexistent/objd.sock", "ping");
	CTL_OK(s, "-s", s->sock, "ping");
	ck_assert_str_eq(CTL_OK(s, "get", "n", "-s", s->sock), "-5\n");
	e2e_stop(s);
}
END_TEST

START_TEST(test_set_many_is_atomic)
{
	uint64_t rev;

	e2e_start(s);
	rev = revision();
	CTL_OK(s, "set", "a", "1", "b", "2");
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "2\n");
	/* Both keys went in with a single commit. */
	ck_assert_uint_eq(revision(), rev + 1);

	/* One bad pair and nothing is written. */
	CTL_EXIT(s, 2, "set", "c", "3", "", "4");
	CTL_EXIT(s, 2, "set", "c", "3", "d", "{bad");
	CTL_EXIT(s, 1, "get", "c");
	ck_assert_uint_eq(revision(), rev + 1);

	/* Setting a value to what it is commits nothing. */
	CTL_OK(s, "set", "a", "1");
	ck_assert_uint_eq(revision(), rev + 1);
	e2e_stop(s);
}
END_TEST

/*
 * Exit codes.
 */
START_TEST(test_exit_codes)
{
	const char *nowhere = e2e_path(s, "nowhere.sock");
	char env[160];

	e2e_start(s);
	/* 0 */
	CTL_OK(s, "ping");
	CTL_OK(s, "set", "k", "v");

	/* 1: key not found */
	ck_assert_str_eq(CTL_EXIT(s, 1, "get", "missing"), "");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	CTL_EXIT(s, 1, "del", "missing");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);

	/* 2: usage errors and values that cannot be parsed */
	CTL_EXIT(s, 2, "frobnicate");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	CTL_EXIT(s, 2, "set", "k");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	CTL_EXIT(s, 2, "set", "a", "1", "b");
	CTL_EXIT(s, 2, "set", "k", "{bad");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	CTL_EXIT(s, 2, "set", "k", "[1, 2");
	CTL_EXIT(s, 2, "set", "k", "99999999999999999999");
	CTL_EXIT(s, 2, "set", "", "v");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	CTL_EXIT(s, 2, "get", "");
	CTL_EXIT(s, 2, "--no-such-option", "ping");
	ck_assert_int_eq(e2e_objctl(s, NULL, NULL, E2E_ARGV(NULL)), 2);
	/* None of that changed anything. */
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get"), "{\"k\": \"v\"}"),
	    "get printed %s", s->out);

	/* 3: objd cannot be reached; the message names the path tried. */
	ck_assert_str_eq(CTL_EXIT(s, 3, "--socket", nowhere, "ping"), "");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	ck_assert_msg(strstr(s->err, nowhere) != NULL,
	    "stderr does not name %s: %s", nowhere, s->err);
	s->ctl_socket = nowhere;
	CTL_EXIT(s, 3, "get", "k");
	ck_assert_msg(strstr(s->err, nowhere) != NULL,
	    "stderr does not name %s: %s", nowhere, s->err);
	s->ctl_socket = s->sock;
	snprintf(env, sizeof(env), "OBJD_SOCKET=%s", nowhere);
	ck_assert_int_eq(e2e_objctl(s, NULL, E2E_ARGV(env),
	                     E2E_ARGV("--socket", s->sock, "get", "k")),
	    0);
	ck_assert_str_eq(s->out, "v\n");

	/* 3 again once objd is gone. */
	e2e_stop(s);
	CTL_EXIT(s, 3, "get", "k");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	ck_assert_msg(strstr(s->err, s->sock) != NULL,
	    "stderr does not name %s: %s", s->sock, s->err);
}
END_TEST

/* 6: the disk fills up. objd runs with RLIMIT_FSIZE of 64 KiB, so a
 * 100 KiB value cannot be written. */
START_TEST(test_disk_full)
{
	struct objd_opts o = { .fsize = 64 * 1024 };
	size_t biglen = 100 * 1024;
	char *big, *before;
	int status;

	big = malloc(biglen + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', biglen);
	big[biglen] = '\0';

	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "a", "1");
	CTL_OK(s, "set", "b", "hello", "c", "[1, 2, 3]");
	CTL_EXIT(s, 6, "set", "big", big);
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	free(big);

	/* objd keeps serving, without the failed key. */
	ck_assert(e2e_alive(s));
	CTL_OK(s, "ping");
	CTL_EXIT(s, 1, "get", "big");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "hello\n");

	/* A small change may fit or fail, but if objd says it is done, it
	 * is kept. */
	status = CTL(s, "set", "after", "2");
	ck_assert_msg(status == 0 || status == 6, "set after: exit %d: %s",
	    status, s->err);
	before = strdup(CTL_OK(s, "get"));
	e2e_stop(s);

	/* Without the limit, every acknowledged key is there. */
	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get"), before);
	CTL_EXIT(s, 1, "get", "big");
	if (status == 0)
		ck_assert_str_eq(CTL_OK(s, "get", "after"), "2\n");
	free(before);
	e2e_stop(s);
}
END_TEST

/*
 * del, list, ping, status, reload.
 */
START_TEST(test_commands)
{
	Objd__Response *r;
	char rev[32], pid[32];

	e2e_start(s);
	CTL_OK(s, "set", "banana", "1", "apple", "2", "apricot", "3", "B", "4",
	    "Z", "5", "\xc3\xa9t\xc3\xa9", "6", "app", "7");

	/* Sorted bytewise: capitals first, UTF-8 after ASCII. */
	ck_assert_str_eq(CTL_OK(s, "list"),
	    "B\nZ\napp\napple\napricot\nbanana\n\xc3\xa9t\xc3\xa9\n");
	ck_assert_str_eq(CTL_OK(s, "list", "ap"), "app\napple\napricot\n");
	ck_assert_str_eq(CTL_OK(s, "list", "apr"), "apricot\n");
	CTL(s, "list", "zz");
	ck_assert_str_eq(s->out, "");

	CTL_OK(s, "del", "banana");
	CTL_EXIT(s, 1, "get", "banana");
	CTL_OK(s, "del", "apple", "apricot");
	ck_assert_str_eq(CTL_OK(s, "list"), "B\nZ\napp\n\xc3\xa9t\xc3\xa9\n");

	CTL_OK(s, "ping");

	r = status_info();
	snprintf(rev, sizeof(rev), "%" PRIu64, r->info->revision);
	snprintf(pid, sizeof(pid), "%d", (int)s->objd);
	ck_assert_int_eq(r->info->pid, s->objd);
	ck_assert_str_eq(r->info->file, s->file);
	ck_assert_str_eq(r->info->socket, s->sock);
	ck_assert_uint_eq(r->info->keys, 4);
	ck_assert_str_eq(r->info->last_reload_error, "");
	objd_response_free(r);
	CTL_OK(s, "status");
	ck_assert_msg(e2e_line_has(s->out, "file", s->file),
	    "status does not show the file %s:\n%s", s->file, s->out);
	ck_assert_msg(e2e_line_has(s->out, "socket", s->sock),
	    "status does not show the socket %s:\n%s", s->sock, s->out);
	ck_assert_msg(e2e_line_has(s->out, "keys", "4"),
	    "status does not show 4 keys:\n%s", s->out);
	ck_assert_msg(e2e_line_has(s->out, "revision", rev),
	    "status does not show revision %s:\n%s", rev, s->out);
	ck_assert_msg(e2e_line_has(s->out, "pid", pid),
	    "status does not show pid %s:\n%s", pid, s->out);

	/* Reloading an unchanged file changes nothing. */
	CTL_OK(s, "reload");
	ck_assert_str_eq(CTL_OK(s, "list"), "B\nZ\napp\n\xc3\xa9t\xc3\xa9\n");
	e2e_stop(s);
}
END_TEST

/* A stop as soon as the socket takes a connection, before objd's loop
 * runs, is a clean stop: exit 0, the socket removed. */
START_TEST(test_stop_while_starting)
{
	for (int round = 0; round < 20; round++) {
		e2e_start(s);
		e2e_stop(s);
		ck_assert_msg(access(s->sock, F_OK) == -1 && errno == ENOENT,
		    "round %d: objd left its socket behind", round);
	}
}
END_TEST

/*
 * Durability.
 */
START_TEST(test_restart_keeps_everything)
{
	char *before;
	uint64_t rev;

	e2e_start(s);
	CTL_OK(s, "set", "name", "John", "age", "30", "ratio", "30.0");
	CTL_OK(s, "set", "tags", "[\"a\", 1, 2.5, null, false]");
	CTL_OK(s, "set", "db", "{\"host\": \"x\", \"port\": 5432}");
	CTL_OK(s, "set", "blob", "{\"$bytes\": \"AAEC/w==\"}");
	CTL_OK(s, "set", "gone", "soon");
	CTL_OK(s, "del", "gone");
	before = strdup(CTL_OK(s, "get"));
	rev = revision();
	e2e_stop(s);

	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get"), before);
	ck_assert_uint_eq(revision(), rev);
	CTL_EXIT(s, 1, "get", "gone");
	/* And it goes on from there. */
	CTL_OK(s, "set", "age", "31");
	ck_assert_uint_eq(revision(), rev + 1);
	e2e_stop(s);

	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get", "age"), "31\n");
	ck_assert_str_eq(CTL_OK(s, "get", "ratio"), "30.0\n");
	free(before);
	e2e_stop(s);
}
END_TEST

START_TEST(test_kill9_keeps_acknowledged)
{
	enum { N = 100 };
	char key[16], want[N * 8 + 64] = "";
	Objd__Response *r = NULL;
	objd_client *c;
	uint64_t rev;

	e2e_start(s);
	c = e2e_client(s);
	for (int i = 0; i < N; i++) {
		Objd__Value *v = value_new_int(i);
		const char *k = key;

		snprintf(key, sizeof(key), "key%03d", i);
		ck_assert_msg(objd_set(c, &k, (const Objd__Value *const *)&v,
		                  1) == OBJD_OK,
		    "objd_set %s: %s", key, objd_client_error(c));
		value_free(v);
		strcat(want, key);
		strcat(want, "\n");
	}
	objd_close(c);
	CTL_OK(s, "set", "x", "1", "y", "2", "z", "3");
	CTL_OK(s, "set", "last", "acknowledged");
	rev = revision();
	e2e_kill9(s);

	/* The dead objd left its socket behind; nobody answers there. */
	ck_assert(e2e_exists(s->sock));
	CTL_EXIT(s, 3, "ping");

	e2e_start(s);
	strcat(want, "last\nx\ny\nz\n");
	ck_assert_str_eq(CTL_OK(s, "list"), want);
	ck_assert_str_eq(CTL_OK(s, "get", "last"), "acknowledged\n");
	ck_assert_str_eq(CTL_OK(s, "get", "y"), "2\n");
	c = e2e_client(s);
	ck_assert_int_eq(objd_get_all(c, &r), OBJD_OK);
	ck_assert_uint_eq(r->n_entries, N + 4);
	for (int i = 0; i < N; i++) {
		const Objd__Entry *e = r->entries[i];

		snprintf(key, sizeof(key), "key%03d", i);
		ck_assert_str_eq(e->key, key);
		ck_assert_int_eq(e->value->kind_case,
		    OBJD__VALUE__KIND_INT_VALUE);
		ck_assert_int_eq(e->value->int_value, i);
	}
	objd_response_free(r);
	objd_close(c);
	ck_assert_uint_eq(revision(), rev);
	e2e_stop(s);
}
END_TEST

/*
 * The file changed by someone else.
 */
START_TEST(test_replaced_file_is_served)
{
	const char *keys[] = { "greeting", "answer", "ratio", "tags" };
	Objd__Value *values[4];
	const char *want = "{\"answer\": 42, \"greeting\": \"hello\", "
	                   "\"ratio\": 0.5, \"tags\": [\"a\", \"b\"]}";
	Objd__Response *r;
	uint8_t *buf;
	size_t len;

	e2e_start(s);
	CTL_OK(s, "set", "old", "value");

	values[0] = value_new_string("hello", 5);
	values[1] = value_new_int(42);
	values[2] = value_new_double(0.5);
	values[3] = value_new_list();
	value_list_append(values[3], value_new_string("a", 1));
	value_list_append(values[3], value_new_string("b", 1));
	buf = object_bytes(keys, values, 4, &len);
	replace_file(buf, len);
	free(buf);

	ck_assert_msg(eventually_get(want),
	    "objd did not serve the new file within %.0f s; get printed %s",
	    E2E_DEADLINE, s->out);
	CTL_EXIT(s, 1, "get", "old");
	ck_assert_str_eq(CTL_OK(s, "get", "greeting"), "hello\n");
	r = status_info();
	ck_assert_str_eq(r->info->last_reload_error, "");
	objd_response_free(r);

	/* objd goes on writing on top of the new file. */
	CTL_OK(s, "set", "after", "reload");
	e2e_stop(s);
	e2e_start(s);
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get"),
	                  "{\"after\": \"reload\", \"answer\": 42, "
	                  "\"greeting\": \"hello\", \"ratio\": 0.5, "
	                  "\"tags\": [\"a\", \"b\"]}"),
	    "after a restart get printed %s", s->out);
	e2e_stop(s);
}
END_TEST

START_TEST(test_reload_on_request)
{
	struct objd_opts o = { .reload_interval = "0" };
	const char *keys[] = { "source" };
	Objd__Value *values[1];
	uint8_t *buf;
	size_t len;

	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "old", "value");

	values[0] = value_new_string("reload", 6);
	buf = object_bytes(keys, values, 1, &len);
	replace_file(buf, len);
	free(buf);
	/* With --reload-interval 0 objd does not look by itself... */
	ck_assert_str_eq(CTL_OK(s, "get", "old"), "value\n");
	/* ...but loads the file when asked, before it answers. */
	CTL_OK(s, "reload");
	ck_assert_msg(
	    e2e_json_same(CTL_OK(s, "get"), "{\"source\": \"reload\"}"),
	    "after objctl reload, get printed %s", s->out);

	/* SIGHUP reloads too. */
	values[0] = value_new_string("sighup", 6);
	buf = object_bytes(keys, values, 1, &len);
	replace_file(buf, len);
	free(buf);
	ck_assert_int_eq(kill(s->objd, SIGHUP), 0);
	ck_assert_msg(eventually_get("{\"source\": \"sighup\"}"),
	    "objd did not reload on SIGHUP; get printed %s", s->out);

	/* A reload that fails says so and keeps the state. */
	replace_file((const uint8_t *)"\x0fnot an object", 14);
	ck_assert_int_ne(CTL(s, "reload"), 0);
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	ck_assert_msg(
	    e2e_json_same(CTL_OK(s, "get"), "{\"source\": \"sighup\"}"),
	    "after a failed reload, get printed %s", s->out);
	e2e_stop(s);
}
END_TEST

/* A corrupt file renamed over the good one: _i 0 is random bytes, 1 a
 * valid file cut in the middle of an entry. */
START_TEST(test_corrupt_replacement_is_rejected)
{
	const char *keys[] = { "greeting", "answer" };
	Objd__Value *values[2];
	Objd__Response *r = NULL;
	char *good, *kept, *reason = NULL;
	uint8_t *buf, *bad;
	size_t len, kept_len;
	double end;

	e2e_start(s);
	CTL_OK(s, "set", "name", "John", "age", "30");
	good = strdup(CTL_OK(s, "get"));

	if (_i == 0) {
		uint32_t x = 12345;

		len = 4096;
		buf = malloc(len);
		ck_assert_ptr_nonnull(buf);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245 + 12345;
			buf[i] = (uint8_t)(x >> 16);
		}
		/* Field 1 with wire type 7, which does not exist: no
		 * protobuf reader can take this. */
		buf[0] = 0x0f;
	} else {
		values[0] = value_new_string("hello, world", 12);
		values[1] = value_new_int(42);
		buf = object_bytes(keys, values, 2, &len);
		len -= 4;
	}
	replace_file(buf, len);
	bad = buf;

	/* objd notices, refuses, and says why. */
	end = e2e_now() + E2E_DEADLINE;
	for (;;) {
		r = status_info();
		if (r->info->last_reload_error[0] != '\0')
			break;
		objd_response_free(r);
		r = NULL;
		if (e2e_now() > end)
			break;
		e2e_sleep(0.05);
	}
	ck_assert_msg(r != NULL, "objd reported no reload error within %.0f s",
	    E2E_DEADLINE);
	reason = strdup(r->info->last_reload_error);
	/* The rejected file is kept aside, as it was. */
	ck_assert_msg(r->info->rejected_file[0] != '\0',
	    "objd did not say where the rejected file went");
	kept = e2e_read_file(r->info->rejected_file, &kept_len);
	ck_assert_msg(kept != NULL, "the rejected file %s is gone",
	    r->info->rejected_file);
	ck_assert_msg(kept_len == len && memcmp(kept, bad, len) == 0,
	    "the rejected file %s is not the file that was rejected",
	    r->info->rejected_file);
	free(kept);
	objd_response_free(r);
	CTL_OK(s, "status");
	ck_assert_msg(strstr(s->out, reason) != NULL,
	    "objctl status does not show the reload error '%s':\n%s", reason,
	    s->out);

	/* The good state is still served. */
	ck_assert_str_eq(CTL_OK(s, "get"), good);
	CTL_OK(s, "ping");
	ck_assert(e2e_alive(s));

	/* A change made now is acknowledged, so it must survive. */
	CTL_OK(s, "set", "city", "Paris");
	e2e_stop(s);
	e2e_start(s);
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get"),
	                  "{\"age\": 30, \"city\": \"Paris\", "
	                  "\"name\": \"John\"}"),
	    "after a restart get printed %s", s->out);
	free(good);
	free(reason);
	free(bad);
	e2e_stop(s);
}
END_TEST

/*
 * Hostile clients.
 */

/* Prepends v as a varint to the bytes that start at buf + *pos. */
static void
put_varint(uint8_t *buf, size_t *pos, uint64_t v)
{
	uint8_t tmp[VARINT_MAX_LEN];
	size_t n = varint_encode(tmp, v);

	ck_assert_uint_ge(*pos, n);
	*pos -= n;
	memcpy(buf + *pos, tmp, n);
}

/* Prepends a length-delimited field header for everything from *pos to
 * end. */
static void
put_len_field(uint8_t *buf, size_t *pos, size_t end, uint8_t tag)
{
	put_varint(buf, pos, end - *pos);
	ck_assert_uint_ge(*pos, 1);
	buf[--*pos] = tag;
}

/* A framed Request{id: 7, set: {entries: [{key, value}]}} whose value is
 * a list in a list ... depth levels deep, built from the inside out
 * without recursion. */
static uint8_t *
deep_set_frame(const char *key, int depth, size_t *len)
{
	size_t cap = (size_t)depth * 8 + 64 + strlen(key), pos = cap, end;
	uint8_t *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	end = cap;
	/* Value{int_value: 1}: sint64 1 is zigzag 2. */
	buf[--pos] = 0x02;
	buf[--pos] = 0x18;
	for (int i = 1; i < depth; i++) {
		put_len_field(buf, &pos, end, 0x0a); /* ListValue.values */
		put_len_field(buf, &pos, end, 0x3a); /* Value.list_value */
	}
	put_len_field(buf, &pos, end, 0x12); /* Entry.value */
	pos -= strlen(key);
	memcpy(buf + pos, key, strlen(key));
	put_varint(buf, &pos, strlen(key));
	buf[--pos] = 0x0a;                   /* Entry.key */
	put_len_field(buf, &pos, end, 0x0a); /* Set.entries */
	put_len_field(buf, &pos, end, 0x1a); /* Request.set */
	buf[--pos] = 0x07;
	buf[--pos] = 0x08; /* Request.id */
	put_varint(buf, &pos, end - pos);
	*len = end - pos;
	memmove(buf, buf + pos, *len);
	return buf;
}

/* What objd must do with a hostile client. */
enum hostile_end {
	MUST_CLOSE, /* maybe an INVALID answer, then close the connection */
	HANG_UP     /* nothing: the client hangs up at once */
};

/* One hostile client: sends bytes, checks how objd ends it, and that objd
 * keeps serving c and objctl. */
static void
hostile(objd_client *c, const char *what, const void *bytes, size_t len,
    enum hostile_end how)
{
	Objd__Response *r = NULL;
	Objd__Value *v = NULL;
	enum raw_outcome out = RAW_CLOSED;
	int fd;

	fd = e2e_raw_connect(s);
	e2e_raw_send(fd, bytes, len);
	if (how != HANG_UP)
		out = e2e_raw_wait(fd, E2E_DEADLINE, &r);
	if (out == RAW_ANSWER) {
		ck_assert_msg(r->status == OBJD__STATUS__INVALID,
		    "%s: objd answered status %d, want INVALID", what,
		    r->status);
		ck_assert_msg(r->error != NULL && r->error[0] != '\0',
		    "%s: an error answer without a reason", what);
		objd__response__free_unpacked(r, NULL);
		out = e2e_raw_wait(fd, E2E_DEADLINE, &r);
	}
	ck_assert_msg(out == RAW_CLOSED,
	    "%s: got %s, want the connection closed", what,
	    e2e_raw_outcome_str(out));
	close(fd);

	ck_assert_msg(e2e_alive(s), "%s: objd died; log:\n%s", what,
	    e2e_log_tail(s));
	ck_assert_msg(objd_ping(c) == OBJD_OK, "%s: ping: %s", what,
	    objd_client_error(c));
	ck_assert_msg(objd_get(c, "probe", &v) == OBJD_OK, "%s: get: %s", what,
	    objd_client_error(c));
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
	ck_assert_str_eq(v->string_value, "still here");
	value_free(v);
	ck_assert_str_eq(CTL_OK(s, "get", "probe"), "still here\n");
}

START_TEST(test_hostile_clients)
{
	static const uint8_t huge[] = { 0x80, 0x80, 0x80, 0x80, 0x10 };
	uint8_t garbage[64], bad_varint[12];
	const char *probe = "probe";
	Objd__Request *req;
	Objd__Value *v;
	objd_client *c;
	size_t len, hlen, blen;
	uint8_t *deep;
	int fd;

	e2e_start(s);
	c = e2e_client(s);
	v = value_new_string("still here", 10);
	ck_assert_int_eq(objd_set(c, &probe, (const Objd__Value *const *)&v, 1),
	    OBJD_OK);
	value_free(v);

	/* A frame of the right length holding garbage. */
	garbage[0] = sizeof(garbage) - 1;
	for (size_t i = 1; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(0xff - i * 7);
	hostile(c, "garbage frame", garbage, sizeof(garbage), MUST_CLOSE);

	/* A length prefix that never ends. */
	memset(bad_varint, 0xff, sizeof(bad_varint));
	hostile(c, "endless varint", bad_varint, sizeof(bad_varint),
	    MUST_CLOSE);

	/* A length prefix of 4 GiB, and nothing after it: objd must not
	 * wait for (or allocate) the rest. */
	hostile(c, "4 GiB frame", huge, sizeof(huge), MUST_CLOSE);

	/* The deep frame builder makes valid requests... */
	deep = deep_set_frame("shallow", 3, &len);
	ck_assert_int_eq(
	    frame_parse_header(deep, len, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_OK);
	ck_assert_uint_eq(hlen + blen, len);
	req = objd__request__unpack(NULL, blen, deep + hlen);
	ck_assert_ptr_nonnull(req);
	ck_assert_int_eq(req->op_case, OBJD__REQUEST__OP_SET);
	ck_assert_uint_eq(req->set->n_entries, 1);
	ck_assert_str_eq(req->set->entries[0]->key, "shallow");
	objd__request__free_unpacked(req, NULL);
	fd = e2e_raw_connect(s);
	ck_assert(e2e_raw_send(fd, deep, len));
	free(deep);
	{
		Objd__Response *r = NULL;
		enum raw_outcome out = e2e_raw_wait(fd, E2E_DEADLINE, &r);

		ck_assert_msg(out == RAW_ANSWER, "a valid raw set: got %s",
		    e2e_raw_outcome_str(out));
		ck_assert_int_eq(r->status, OBJD__STATUS__OK);
		ck_assert_uint_eq(r->id, 7);
		objd__response__free_unpacked(r, NULL);
	}
	close(fd);
	ck_assert_msg(
	    e2e_json_same(CTL_OK(s, "--json", "get", "shallow"), "[[1]]"),
	    "get shallow printed %s", s->out);

	/* ...and one 5,000 deep is refused without a crash. */
	deep = deep_set_frame("deep", 5000, &len);
	hostile(c, "value nested 5000 deep", deep, len, MUST_CLOSE);
	free(deep);
	CTL_EXIT(s, 1, "get", "deep");

	/* Half a frame, then hang up. */
	hostile(c, "cut frame", garbage, 10, HANG_UP);

	objd_close(c);
	e2e_stop(s);
}
END_TEST

/*
 * libobjd against a running objd.
 */
START_TEST(test_libobjd)
{
	const char *keys[] = { "name", "age", "ratio", "tags" };
	const char *gone[] = { "tags" };
	Objd__Value *vals[4], *v = NULL;
	Objd__Response *r = NULL;
	objd_client *c = NULL;
	char err[256];

	/* Nothing there yet. */
	ck_assert_int_eq(
	    objd_connect(s->sock, E2E_DEADLINE, &c, err, sizeof(err)),
	    OBJD_UNREACHABLE);
	ck_assert_ptr_null(c);
	ck_assert_msg(err[0] != '\0', "objd_connect failed without a reason");

	e2e_start(s);
	c = e2e_client(s);
	ck_assert_str_eq(objd_client_socket(c), s->sock);
	ck_assert_int_eq(objd_ping(c), OBJD_OK);

	vals[0] = value_new_string("John", 4);
	vals[1] = value_new_int(30);
	vals[2] = value_new_double(30.0);
	vals[3] = value_new_list();
	value_list_append(vals[3], value_new_bool(true));
	ck_assert_msg(objd_set(c, keys, (const Objd__Value *const *)vals, 4) ==
	        OBJD_OK,
	    "objd_set: %s", objd_client_error(c));
	for (int i = 0; i < 4; i++)
		value_free(vals[i]);

	ck_assert_int_eq(objd_get(c, "name", &v), OBJD_OK);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
	ck_assert_str_eq(v->string_value, "John");
	value_free(v);
	ck_assert_int_eq(objd_get(c, "age", &v), OBJD_OK);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_INT_VALUE);
	ck_assert_int_eq(v->int_value, 30);
	value_free(v);
	ck_assert_int_eq(objd_get(c, "ratio", &v), OBJD_OK);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_DOUBLE_VALUE);
	ck_assert(v->double_value == 30.0);
	value_free(v);
	v = NULL;
	ck_assert_int_eq(objd_get(c, "missing", &v), OBJD_NOT_FOUND);
	ck_assert_ptr_null(v);

	ck_assert_int_eq(objd_list(c, "a", &r), OBJD_OK);
	ck_assert_uint_eq(r->n_keys, 1);
	ck_assert_str_eq(r->keys[0], "age");
	objd_response_free(r);
	ck_assert_int_eq(objd_list(c, NULL, &r), OBJD_OK);
	ck_assert_uint_eq(r->n_keys, 4);
	ck_assert_str_eq(r->keys[0], "age");
	ck_assert_str_eq(r->keys[3], "tags");
	objd_response_free(r);

	ck_assert_int_eq(objd_delete(c, gone, 1), OBJD_OK);
	ck_assert_int_eq(objd_get(c, "tags", &v), OBJD_NOT_FOUND);
	ck_assert_int_eq(objd_delete(c, gone, 1), OBJD_NOT_FOUND);

	ck_assert_int_eq(objd_get_all(c, &r), OBJD_OK);
	ck_assert_uint_eq(r->n_entries, 3);
	ck_assert_str_eq(r->entries[0]->key, "age");
	ck_assert_str_eq(r->entries[1]->key, "name");
	ck_assert_str_eq(r->entries[2]->key, "ratio");
	objd_response_free(r);

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	ck_assert_int_eq(r->info->pid, s->objd);
	ck_assert_str_eq(r->info->file, s->file);
	ck_assert_str_eq(r->info->socket, s->sock);
	ck_assert_uint_eq(r->info->keys, 3);
	ck_assert_uint_eq(r->info->revision, objd_client_revision(c));
	ck_assert_str_eq(r->info->version, OBJD_VERSION);
	ck_assert_uint_ge(r->info->clients, 1);
	objd_response_free(r);

	/* A bad key is the caller's mistake, and the connection goes on. */
	vals[0] = value_new_null();
	keys[0] = "";
	ck_assert_int_eq(objd_set(c, keys, (const Objd__Value *const *)vals, 1),
	    OBJD_INVALID);
	value_free(vals[0]);
	ck_assert_int_eq(objd_ping(c), OBJD_OK);
	ck_assert_int_eq(objd_reload(c), OBJD_OK);

	/* objctl sees what libobjd wrote. */
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "John\n");
	ck_assert_str_eq(CTL_OK(s, "get", "ratio"), "30.0\n");
	objd_close(c);
	e2e_stop(s);
}
END_TEST

/*
 * objd as a daemon.
 */
START_TEST(test_background_start)
{
	const char *pidfile = e2e_path(s, "objd.pid");
	char *text;
	int status;
	long pid;

	ck_assert_msg(e2e_objd_cmd(s,
	                  E2E_ARGV("--file", s->file, "--socket", s->sock,
	                      "--pidfile", pidfile)) == 0,
	    "objd: exit %d\nstderr: %s", s->status, s->err);
	/* It returned, so its socket answers now. */
	CTL_OK(s, "ping");
	CTL_OK(s, "set", "k", "v");

	text = e2e_read_file(pidfile, NULL);
	ck_assert_msg(text != NULL, "no pidfile %s", pidfile);
	pid = strtol(text, NULL, 10);
	free(text);
	ck_assert_int_gt(pid, 1);
	ck_assert_int_eq(kill((pid_t)pid, SIGTERM), 0);
	ck_assert_msg(e2e_wait_gone((pid_t)pid, 2 * E2E_DEADLINE, &status),
	    "objd (pid %ld) still runs %.0f s after SIGTERM", pid,
	    2 * E2E_DEADLINE);
	ck_assert_msg(status == 0 || status == -1,
	    "objd exited with status %d after SIGTERM", status);
	ck_assert_msg(!e2e_exists(s->sock), "the socket is still there");
	ck_assert_msg(!e2e_exists(pidfile), "the pidfile is still there");

	/* The change was kept. */
	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "v\n");
	e2e_stop(s);
}
END_TEST

START_TEST(test_second_objd_refused)
{
	const char *other_sock = e2e_path(s, "other.sock");
	const char *other_file = e2e_path(s, "other.pb");
	const char *other_pid = e2e_path(s, "other.pid");
	char first[32];
	int status;

	e2e_start(s);
	CTL_OK(s, "set", "owner", "first");
	snprintf(first, sizeof(first), "(pid %d)", (int)s->objd);

	/* The same file through another socket. */
	status = e2e_objd_cmd(s,
	    E2E_ARGV("--file", s->file, "--socket", other_sock, "--pidfile",
	        other_pid));
	ck_assert_msg(status > 0 && status < 128,
	    "a second objd on the same file: exit %d, stderr: %s", status,
	    s->err);
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	/* The message says who holds the file. */
	ck_assert_msg(strstr(s->err, "in use by another objd") != NULL &&
	        strstr(s->err, first) != NULL,
	    "stderr: '%s'", s->err);
	/* In the foreground too, before it touches any socket. */
	status = e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", s->file, "--socket",
	        other_sock));
	ck_assert_msg(status > 0 && status < 128 &&
	        strstr(s->err, "in use by another objd") != NULL,
	    "a second objd in the foreground: exit %d, stderr: %s", status,
	    s->err);
	ck_assert(!e2e_exists(other_sock));
	ck_assert_str_eq(CTL_OK(s, "get", "owner"), "first\n");
	CTL_OK(s, "set", "owner", "still first");

	/* The same socket with another file. */
	status = e2e_objd_cmd(s,
	    E2E_ARGV("--file", other_file, "--socket", s->sock, "--pidfile",
	        other_pid));
	ck_assert_msg(status > 0 && status < 128,
	    "a second objd on the same socket: exit %d, stderr: %s", status,
	    s->err);
	ck_assert_msg(e2e_one_line(s->err) &&
	        strstr(s->err, "already listening") != NULL,
	    "stderr: '%s'", s->err);
	ck_assert(e2e_exists(s->sock));
	ck_assert_str_eq(CTL_OK(s, "get", "owner"), "still first\n");
	ck_assert(e2e_alive(s));
	e2e_stop(s);
}
END_TEST

START_TEST(test_stale_socket_replaced)
{
	e2e_start(s);
	CTL_OK(s, "set", "k", "v");
	e2e_kill9(s);
	ck_assert_msg(e2e_exists(s->sock), "kill -9 left no socket");
	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "v\n");
	e2e_stop(s);
}
END_TEST

START_TEST(test_options)
{
	ck_assert_msg(e2e_objd_cmd(s, E2E_ARGV("--help")) == 0,
	    "objd --help: exit %d", s->status);
	ck_assert_msg(strstr(s->out, "--socket") != NULL,
	    "objd --help does not list --socket:\n%s", s->out);
	ck_assert_msg(e2e_objd_cmd(s, E2E_ARGV("--version")) == 0,
	    "objd --version: exit %d", s->status);
	ck_assert_msg(strstr(s->out, OBJD_VERSION) != NULL,
	    "objd --version does not print %s: %s", OBJD_VERSION, s->out);

	e2e_objd_cmd(s,
	    E2E_ARGV("--no-such-option", "--file", s->file, "--socket",
	        s->sock));
	ck_assert_msg(s->status > 0 && s->status < 128,
	    "objd --no-such-option: exit %d", s->status);
	ck_assert_msg(s->err[0] != '\0', "no message for a bad option");
	ck_assert(!e2e_exists(s->sock));
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--reload-interval", "soon", "--file",
	        s->file, "--socket", s->sock));
	ck_assert_msg(s->status > 0 && s->status < 128,
	    "objd --reload-interval soon: exit %d", s->status);
	ck_assert(!e2e_exists(s->sock));
}
END_TEST

static Suite *
e2e_suite(void)
{
	Suite *suite = suite_create("e2e");
	TCase *tc;

	tc = e2e_tcase(suite, "session", 60);
	tcase_add_test(tc, test_quick_start);
	tcase_add_test(tc, test_value_types);
	tcase_add_test(tc, test_set_many_is_atomic);
	tcase_add_test(tc, test_option_places);
	tcase_add_test(tc, test_commands);
	tcase_add_test(tc, test_libobjd);

	tc = e2e_tcase(suite, "exit codes", 60);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test(tc, test_disk_full);

	tc = e2e_tcase(suite, "durability", 120);
	tcase_add_test(tc, test_restart_keeps_everything);
	tcase_add_test(tc, test_stop_while_starting);
	tcase_add_test(tc, test_kill9_keeps_acknowledged);

	tc = e2e_tcase(suite, "reload", 60);
	tcase_add_test(tc, test_replaced_file_is_served);
	tcase_add_test(tc, test_reload_on_request);
	tcase_add_loop_test(tc, test_corrupt_replacement_is_rejected, 0, 2);

	tc = e2e_tcase(suite, "hostile", 60);
	tcase_add_test(tc, test_hostile_clients);

	tc = e2e_tcase(suite, "daemon", 60);
	tcase_add_test(tc, test_background_start);
	tcase_add_test(tc, test_second_objd_refused);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_options);
	return suite;
}

int
main(void)
{
	return e2e_main(e2e_suite());
}
