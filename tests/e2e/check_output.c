/* SPDX-License-Identifier: ISC */
/* check_output.c: objctl's output, byte for byte, as text and as --json,
 * with its exit status and what it says on stderr: get, list, dump,
 * status (of objd and of a file), history, watch, check, the answers of
 * the writes, the help and some refusals. What changes from run to run
 * (the session's folder, pids, times, file sizes) is masked first, so
 * that every other byte is held. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"
#include "version.h"
#include "xmalloc.h"

static struct session *const s = &e2e_session;

/* Fields whose value changes from run to run: as "name: value" at the
 * start of a line (text) and as "\"name\": value" (JSON), the value up
 * to the next comma, brace or line end. */
static const char *const masked[] = { "pid", "uptime", "last load", "last save",
	"file size", "expires in", "last_load", "last_save", "file_size",
	"file_room", "expires_in" };

/* Whether text at p is a time as history prints it,
 * 2024-05-01T12:00:00Z. */
static bool
is_utc_time(const char *p)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' && (p[i] < '0' || p[i] > '9'))
			return false;
		if (shape[i] != 'd' && p[i] != shape[i])
			return false;
	}
	return true;
}

/* The length of the masked field's name and separator at p, or 0. */
static size_t
masked_field(const char *text, const char *p)
{
	char name[64];
	size_t len;

	for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
		len = strlen(masked[i]);
		if ((p == text || p[-1] == '\n') &&
		    strncmp(p, masked[i], len) == 0 &&
		    strncmp(p + len, ": ", 2) == 0)
			return len + 2;
		snprintf(name, sizeof(name), "\"%s\": ", masked[i]);
		if (strncmp(p, name, strlen(name)) == 0)
			return strlen(name);
	}
	return 0;
}

/* text with the session's folder as DIR, history's times as TIME and
 * the masked fields' values as *; malloc'd. */
static char *
normalize(const char *text)
{
	size_t dirlen = strlen(s->dir), n = 0, k;
	char *out = xmalloc(strlen(text) + 1);
	const char *p = text;

	while (*p != '\0') {
		if (strncmp(p, s->dir, dirlen) == 0) {
			out = xrealloc(out, strlen(text) + n + 4);
			memcpy(out + n, "DIR", 3);
			n += 3;
			p += dirlen;
		} else if (is_utc_time(p)) {
			memcpy(out + n, "TIME", 4);
			n += 4;
			p += 20;
		} else if ((k = masked_field(text, p)) != 0) {
			memcpy(out + n, p, k);
			n += k;
			p += k;
			out[n++] = '*';
			p += strcspn(p, ",}\n");
		} else
			out[n++] = *p++;
	}
	out[n] = '\0';
	return out;
}

/* Runs objctl with argv and input on stdin (or none), and requires the
 * exit status want and, once normalized, exactly out on stdout and err
 * on stderr. */
static void
golden(const char *file, int line, int want, const char *out, const char *err,
    const char *input, const char *const *argv)
{
	char *got_out, *got_err;
	int status;

	status = e2e_objctl(s, input, NULL, argv);
	got_out = normalize(s->out);
	got_err = normalize(s->err);
	if (status != want || strcmp(got_out, out) != 0 ||
	    strcmp(got_err, err) != 0)
		e2e_fail(file, line,
		    "objctl %s ...: exit %d (want %d)\nstdout:\n%s\nwanted:\n"
		    "%s\nstderr:\n%s\nwanted:\n%s",
		    argv[0], status, want, got_out, out, got_err, err);
	free(got_out);
	free(got_err);
}

#define GOLDEN(want, out, err, ...)                                            \
	golden(__FILE__, __LINE__, (want), (out), (err), NULL,                 \
	    E2E_ARGV(__VA_ARGS__))
#define GOLDEN_IN(input, want, out, err, ...)                                  \
	golden(__FILE__, __LINE__, (want), (out), (err), (input),              \
	    E2E_ARGV(__VA_ARGS__))

/* The object the reads print: revisions 1 to 5, with a key of a dot, a
 * key of a newline, bytes, a map, a list and a key that expires. */
static void
fill(void)
{
	CTL_OK(s, "set", "name", "John", "age", "30", "pi", "3.0", "blob",
	    "{\"$bytes\": \"AAEC\"}", "server.port", "80", "list",
	    "[1, \"two\"]", "a\\.b", "1", "n\\nl", "x\ny");
	GOLDEN(0, "{\"revision\": 2}\n", "", "--json", "set", "k", "v");
	GOLDEN(0, "{\"revision\": 3}\n", "", "del", "--json", "k");
	GOLDEN(0, "", "", "set", "name", "Jane");
	GOLDEN(0, "", "", "set", "--ttl", "1000", "t", "true");
}

static const char whole[] = "{\n"
                            "  \"a.b\": 1,\n"
                            "  \"age\": 30,\n"
                            "  \"blob\": {\n"
                            "    \"$bytes\": \"AAEC\"\n"
                            "  },\n"
                            "  \"list\": [\n"
                            "    1,\n"
                            "    \"two\"\n"
                            "  ],\n"
                            "  \"n\\nl\": \"x\\ny\",\n"
                            "  \"name\": \"Jane\",\n"
                            "  \"pi\": 3.0,\n"
                            "  \"server\": {\n"
                            "    \"port\": 80\n"
                            "  },\n"
                            "  \"t\": true\n"
                            "}\n";

START_TEST(test_output_get)
{
	e2e_start(s);
	fill();
	GOLDEN(0, whole, "", "get");
	GOLDEN(0, whole, "", "--json", "get");
	GOLDEN(0, whole, "", "dump");
	GOLDEN(0, whole, "", "dump", "--json");
	GOLDEN(0, "Jane\n", "", "get", "name");
	GOLDEN(0, "\"Jane\"\n", "", "--json", "get", "name");
	GOLDEN(0, "30\n", "", "get", "age");
	GOLDEN(0, "30\n", "", "--json", "get", "age");
	GOLDEN(0, "x\ny\n", "", "get", "n\\nl");
	GOLDEN(0, "\"x\\ny\"\n", "", "--json", "get", "n\\nl");
	GOLDEN(0, "{\"port\": 80}\n", "", "get", "server");
	GOLDEN(0, "80\n", "", "--json", "get", "server.port");
	GOLDEN(0, "[1, \"two\"]\n", "", "get", "list");
	GOLDEN(0, "{\"$bytes\": \"AAEC\"}\n", "", "--json", "get", "blob");
	GOLDEN(0, "value: \"Jane\"\nrevision: 4\nobject revision: 5\n", "",
	    "get", "--meta", "name");
	GOLDEN(0,
	    "{\"object_revision\": 5, \"revision\": 4, \"value\": \"Jane\"}\n",
	    "", "--json", "get", "--meta", "name");
	GOLDEN(0,
	    "value: true\nrevision: 5\nobject revision: 5\nexpires in: *\n", "",
	    "get", "--meta", "t");
	GOLDEN(0,
	    "{\"expires_in\": *, \"object_revision\": 5, \"revision\": 5, "
	    "\"value\": true}\n",
	    "", "--json", "get", "--meta", "t");
	GOLDEN(0, "John\n", "", "get", "--at", "1", "name");
	GOLDEN(0, "\"John\"\n", "", "get", "--json", "--at", "1", "name");
	GOLDEN(0, "\"v\"\n", "", "get", "--at", "2", "--json", "k");
	GOLDEN(1, "", "objctl: key not found: nope\n", "get", "nope");
	GOLDEN(1, "", "objctl: key not found: nope\n", "--json", "get", "nope");
	GOLDEN(1, "", "objctl: key not found: n\\nope\n", "get", "n\\nope");
	GOLDEN(2, "", "objctl: usage: objctl get --meta KEY\n", "get",
	    "--meta");
	e2e_stop(s);
}
END_TEST

START_TEST(test_output_list)
{
	e2e_start(s);
	fill();
	GOLDEN(0, "a\\.b\nage\nblob\nlist\nn\\nl\nname\npi\nserver\nt\n", "",
	    "list");
	GOLDEN(0,
	    "[\n  \"a.b\",\n  \"age\",\n  \"blob\",\n  \"list\",\n  "
	    "\"n\\nl\",\n  \"name\",\n  \"pi\",\n  \"server\",\n  \"t\"\n]\n",
	    "", "--json", "list");
	GOLDEN(0, "n\\nl\nname\n", "", "list", "n");
	GOLDEN(0, "[\n  \"server\"\n]\n", "", "list", "--json", "s");
	GOLDEN(0, "", "", "list", "zzz");
	GOLDEN(0, "[]\n", "", "--json", "list", "zzz");
	e2e_stop(s);
}
END_TEST

START_TEST(test_output_history)
{
	e2e_start(s);
	fill();
	GOLDEN(0, "1 TIME set John\n4 TIME set Jane\n", "", "history", "name");
	GOLDEN(0,
	    "{\"revision\": 1, \"time\": \"TIME\", \"value\": \"John\", "
	    "\"what\": \"set\"}\n"
	    "{\"revision\": 4, \"time\": \"TIME\", \"value\": \"Jane\", "
	    "\"what\": \"set\"}\n",
	    "", "--json", "history", "name");
	GOLDEN(0, "2 TIME set v\n3 TIME delete\n", "", "history", "k");
	GOLDEN(0,
	    "{\"revision\": 2, \"time\": \"TIME\", \"value\": \"v\", "
	    "\"what\": \"set\"}\n"
	    "{\"revision\": 3, \"time\": \"TIME\", \"what\": \"delete\"}\n",
	    "", "history", "--json", "k");
	GOLDEN(0, "1 TIME set {\"port\": 80}\n", "", "history", "server");
	GOLDEN(1, "", "objctl: key nope has no history\n", "--json", "history",
	    "nope");
	e2e_stop(s);
}
END_TEST

START_TEST(test_output_watch)
{
	e2e_start(s);
	fill();
	GOLDEN(0,
	    "5 current a\\.b 1\n5 current age 30\n"
	    "5 current blob {\"$bytes\": \"AAEC\"}\n"
	    "5 current list [1, \"two\"]\n5 current n\\nl \"x\\ny\"\n"
	    "5 current name \"Jane\"\n5 current pi 3.0\n"
	    "5 current server {\"port\": 80}\n5 current t true\n",
	    "", "watch", "--count", "0");
	GOLDEN(0,
	    "{\"revision\": 5, \"type\": \"current\", \"values\": {\"a.b\": 1, "
	    "\"age\": 30, \"blob\": {\"$bytes\": \"AAEC\"}, \"list\": [1, "
	    "\"two\"], \"n\\nl\": \"x\\ny\", \"name\": \"Jane\", \"pi\": 3.0, "
	    "\"server\": {\"port\": 80}, \"t\": true}}\n",
	    "", "--json", "watch", "--count", "0");
	GOLDEN(0, "5 current\n", "", "watch", "--count", "0", "zzz");
	GOLDEN(0, "{\"revision\": 5, \"type\": \"current\", \"values\": {}}\n",
	    "", "watch", "--json", "--count", "0", "zzz");
	GOLDEN(0,
	    "2 set k \"v\"\n3 delete k\n4 set name \"Jane\"\n5 set t true\n",
	    "", "watch", "--since", "1", "--count", "4");
	GOLDEN(0,
	    "{\"key\": \"k\", \"revision\": 2, \"type\": \"set\", \"value\": "
	    "\"v\"}\n"
	    "{\"key\": \"k\", \"revision\": 3, \"type\": \"delete\"}\n"
	    "{\"key\": \"name\", \"revision\": 4, \"type\": \"set\", "
	    "\"value\": \"Jane\"}\n",
	    "", "--json", "watch", "--since", "1", "--count", "3");
	GOLDEN(0, "4 set name \"Jane\"\n", "", "watch", "--since", "1",
	    "--count", "1", "na");
	e2e_stop(s);
}
END_TEST

static const char status_text[] = "pid: *\n"
                                  "uptime: *\n"
                                  "version: " OBJD_VERSION "\n"
                                  "file: DIR/objd.pb\n"
                                  "socket: DIR/objd.sock\n"
                                  "keys: 9\n"
                                  "expiring keys: 1\n"
                                  "held keys: 0\n"
                                  "revision: 5\n"
                                  "clients: 1\n"
                                  "reload interval: 0.1s\n"
                                  "last load: *\n"
                                  "last save: *\n"
                                  "file size: *\n"
                                  "commits: 5\n"
                                  "history: 100 versions a key\n"
                                  "fsync: always\n"
                                  "last compaction: never\n"
                                  "backend: file\n";

static const char status_json[] = "{\n"
                                  "  \"backend\": \"file\",\n"
                                  "  \"clients\": 1,\n"
                                  "  \"commit_waits\": 0,\n"
                                  "  \"commit_waits_expired\": 0,\n"
                                  "  \"commits\": 5,\n"
                                  "  \"etcd\": null,\n"
                                  "  \"expiring_keys\": 1,\n"
                                  "  \"file\": \"DIR/objd.pb\",\n"
                                  "  \"file_room\": *,\n"
                                  "  \"file_size\": *,\n"
                                  "  \"fsync\": \"always\",\n"
                                  "  \"held_keys\": 0,\n"
                                  "  \"history_depth\": 100,\n"
                                  "  \"keys\": 9,\n"
                                  "  \"last_compaction\": null,\n"
                                  "  \"last_load\": *,\n"
                                  "  \"last_reload_error\": null,\n"
                                  "  \"last_save\": *,\n"
                                  "  \"last_write_error\": null,\n"
                                  "  \"pid\": *,\n"
                                  "  \"recovered_bytes\": 0,\n"
                                  "  \"rejected_file\": null,\n"
                                  "  \"reload_interval\": 0.1,\n"
                                  "  \"revision\": 5,\n"
                                  "  \"socket\": \"DIR/objd.sock\",\n"
                                  "  \"uptime\": *,\n"
                                  "  \"version\": \"" OBJD_VERSION "\"\n"
                                  "}\n";

START_TEST(test_output_status)
{
	e2e_start(s);
	fill();
	GOLDEN(0, status_text, "", "status");
	GOLDEN(0, status_json, "", "--json", "status");
	GOLDEN(0, "pong\n", "", "ping");
	GOLDEN(0, "{\"ok\": true}\n", "", "ping", "--json");
	e2e_stop(s);
	GOLDEN(0,
	    "file: DIR/objd.pb\nfile size: *\nkeys: 9\nrevision: 5\n"
	    "commits: 6\ncompressed: no\n",
	    "", "--file", s->file, "status");
	GOLDEN(0,
	    "{\n  \"commits\": 6,\n  \"compressed\": false,\n  \"file\": "
	    "\"DIR/objd.pb\",\n  \"file_room\": *,\n  \"file_size\": *,\n  "
	    "\"keys\": 9,\n  \"objd_format\": true,\n  \"revision\": 5,\n  "
	    "\"torn_bytes\": 0\n}\n",
	    "", "--json", "--file", s->file, "status");
	GOLDEN(0, "Jane\n", "", "--file", s->file, "get", "name");
	GOLDEN(0, "[\n  \"server\"\n]\n", "", "--file", s->file, "--json",
	    "list", "s");
	GOLDEN(0,
	    "DIR/objd.pb: sound: 6 commits, revision 5, 9 keys, 296 bytes\n",
	    "", "check", s->file);
}
END_TEST

/* The answers of the writes: nothing as text, the revision as JSON. */
START_TEST(test_output_writes)
{
	e2e_start(s);
	fill();
	GOLDEN(0, "{\"revision\": 6}\n", "", "--json", "revert", "name", "1");
	GOLDEN(0, "", "", "revert", "name", "4");
	GOLDEN(0, "{\"revision\": 8}\n", "", "--json", "del", "--prefix",
	    "serv");
	GOLDEN(0, "", "", "del", "a\\.b", "pi");
	GOLDEN_IN("{\"x\": 1}", 0, "{\"revision\": 10}\n", "", "--json", "load",
	    "--merge");
	GOLDEN(0, "{\"revision\": 11}\n", "", "--json", "set", "--if-absent",
	    "y", "2", "z", "3");
	GOLDEN(4, "", "objctl: conflict: y exists\n", "set", "--if-absent", "y",
	    "2");
	GOLDEN(1, "", "objctl: key not found: nope\n", "del", "nope");
	GOLDEN(1, "", "objctl: key not found: nope; nothing was deleted\n",
	    "del", "x", "nope");
	GOLDEN(0, "{\"revision\": 11}\n", "", "--json", "reload");
	GOLDEN(0, "", "", "compact");
	GOLDEN(0, "{\"revision\": 11}\n", "", "--json", "compact");
	GOLDEN(2, "",
	    "objctl: 'y' has no VALUE: usage: objctl set [OPTIONS] KEY VALUE "
	    "[KEY VALUE...]\n",
	    "set", "x", "1", "y");
	e2e_stop(s);
}
END_TEST

static const char help[] =
    "usage: objctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND "
    "[ARGS...]\n"
    "       objctl --file PATH get|list|dump|history|status [ARGS...]\n"
    "       objctl check [--fix] PATH\n"
    "\n"
    "commands:\n"
    "  get [OPTIONS] [KEY]              print the whole object, or the value "
    "of KEY\n"
    "  set [OPTIONS] KEY VALUE...       set keys in one atomic change\n"
    "  hold [--if-absent] KEY VALUE...  set keys that live until objctl ends "
    "(SIGINT, SIGTERM)\n"
    "  del [OPTIONS] KEY...             delete keys in one atomic change: all "
    "or none\n"
    "  list [PREFIX]                    print the keys, one a line, sorted\n"
    "  history KEY                      print the versions kept of KEY, oldest "
    "first\n"
    "  revert [OPTIONS] KEY REV         set KEY back to its value at revision "
    "REV, as a new change\n"
    "  watch [OPTIONS] [PREFIX]         print the values, then a line per "
    "change\n"
    "  dump                             print the object as JSON that load "
    "reads back\n"
    "  edit [KEY]                       edit the object (or KEY) as JSON in "
    "$EDITOR, applied as one change\n"
    "  load [--merge] [FILE|-]          replace the object with a JSON "
    "document, atomically\n"
    "  status                           print objd's state (with --file, the "
    "file's)\n"
    "  reload                           make objd load its file now\n"
    "  compact                          make objd rewrite its file with only "
    "the live state\n"
    "  ping                             check that objd answers\n"
    "  check [--fix] PATH               verify every commit of an object file, "
    "without objd\n"
    "\n"
    "options (anywhere before \"--\"; a command's own after it):\n"
    "  -s, --socket PATH      objd's socket\n"
    "      --json             print answers as JSON\n"
    "      --timeout SECONDS  wait at most SECONDS for objd; 0: forever "
    "(default 30)\n"
    "      --string           set, hold: store every VALUE as the string "
    "given\n"
    "  -x, --stdin            set: the value of the one KEY is standard input, "
    "as read\n"
    "      --prefix PREFIX    del: every key that starts with PREFIX, at least "
    "one\n"
    "      --if-revision N    set, del, revert: only if every KEY was last "
    "changed at revision N\n"
    "      --if-absent        set, del, hold: only if no KEY exists\n"
    "      --meta             get: the value with its revision and the "
    "object's\n"
    "      --since REV        watch: the changes after revision REV, without "
    "the values\n"
    "      --count N          watch: exit after N changes\n"
    "      --merge            load: set the document's keys and keep the "
    "others\n"
    "  -f, --file PATH        get, list, dump, history, status: read the "
    "object file PATH, without objd\n"
    "      --fix              check: cut a torn tail back to the last good "
    "commit\n"
    "      --ttl SECONDS      set: the keys expire SECONDS later (fractions "
    "allowed)\n"
    "      --at REV           get: the object or KEY as it was at revision "
    "REV\n"
    "      --consistent       get: after a quorum read of etcd (objd --etcd)\n"
    "  -h, --help             print this help\n"
    "      --version          print objctl's version\n"
    "\n"
    "The socket is --socket, else $OBJD_SOCKET, else the default, now\n"
    "DIR/objd.sock.\n"
    "A VALUE is read as JSON when it is a JSON literal (30, 3.5, true, null, "
    "\"x\",\n"
    "[...], {...}) and as a string otherwise (John, New York, 01234).\n"
    "A KEY is a path: server.port is port in the map server; a dot or a "
    "backslash\n"
    "in a name is written \\. or \\\\, as list prints it.\n"
    "A word that starts with - is an option, unless it is - alone or a number\n"
    "(-5, -2.5); after -- every word is an argument (set -- -x 1).\n"
    "Exit status: 0 done, 1 key not found, 2 usage error or bad value, 3 objd\n"
    "cannot be reached, 4 conflict, 5 permission denied, 6 objd failed.\n";

START_TEST(test_output_help)
{
	GOLDEN(0, help, "", "--help");
	GOLDEN(0,
	    "usage: objctl [OPTIONS] get [OPTIONS] [KEY]\n"
	    "print the whole object, or the value of KEY\n"
	    "      --meta             get: the value with its revision and the "
	    "object's\n"
	    "      --at REV           get: the object or KEY as it was at "
	    "revision REV\n"
	    "      --consistent       get: after a quorum read of etcd (objd "
	    "--etcd)\n"
	    "See objctl --help for the options of every command.\n",
	    "", "get", "--help");
	GOLDEN(0, "objctl " OBJD_VERSION "\n", "", "--version");
	GOLDEN(2, "", "objctl: unknown command 'nope' (see objctl --help)\n",
	    "nope");
	GOLDEN(2, "", "objctl: no command given (see objctl --help)\n",
	    "--json");
	GOLDEN(2, "",
	    "objctl: --meta is an option of get: put it after the command, "
	    "as in objctl get [OPTIONS] [KEY]\n",
	    "--meta", "get");
}
END_TEST

static Suite *
output_suite(void)
{
	Suite *suite = suite_create("output");
	TCase *tc = e2e_tcase(suite, "output", 60);

	tcase_add_test(tc, test_output_get);
	tcase_add_test(tc, test_output_list);
	tcase_add_test(tc, test_output_history);
	tcase_add_test(tc, test_output_watch);
	tcase_add_test(tc, test_output_status);
	tcase_add_test(tc, test_output_writes);
	tcase_add_test(tc, test_output_help);
	return suite;
}

int
main(void)
{
	return e2e_main(output_suite());
}
