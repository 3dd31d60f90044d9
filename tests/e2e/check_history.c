/* SPDX-License-Identifier: ISC */
/* check_history.c: the past versions of keys (objd --history): the
 * per-key ring of server/history.c, then objctl history, get --at and
 * revert end to end, across compaction and restart. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"
#include "objd.h"
#include "value.h"

static struct session *const s = &e2e_session;

/*
 * The ring, as a unit.
 */

static struct store_entry *
entry(const char *key, const char *val, uint64_t revision)
{
	return store_entry_new(key, strlen(key), (const uint8_t *)val,
	    strlen(val), revision);
}

/* Sets key to val at revision in st, as batch.c applies a change. */
static void
put(struct store *st, const char *key, const char *val, uint64_t revision)
{
	struct store_entry *old = store_put(st, entry(key, val, revision));

	history_change(store_history(st), key, strlen(key), revision,
	    (int64_t)revision * 10, HISTORY_SET, old, true);
	store_set_revision(st, revision);
}

static void
del(struct store *st, const char *key, uint64_t revision)
{
	history_change(store_history(st), key, strlen(key), revision,
	    (int64_t)revision * 10, HISTORY_DELETE,
	    store_remove(st, key, strlen(key)), true);
	store_set_revision(st, revision);
}

/* key's state at revision: its value as text, "-" if absent, "?" if
 * unknown. */
static const char *
at(struct store *st, const char *key, uint64_t revision)
{
	static char buf[64];
	const uint8_t *val;
	size_t vallen;
	uint64_t changed;

	switch (history_at(store_history(st), st, key, strlen(key), revision,
	    &val, &vallen, &changed)) {
	case HISTORY_PRESENT:
		snprintf(buf, sizeof(buf), "%.*s", (int)vallen,
		    (const char *)val);
		return buf;
	case HISTORY_ABSENT:
		return "-";
	case HISTORY_UNKNOWN:
		break;
	}
	return "?";
}

START_TEST(test_ring_keeps_versions)
{
	struct store *st = store_new();
	const struct key_history *kh;
	const uint8_t *val;
	size_t vallen;

	history_depth = 100;
	put(st, "a", "one", 1);
	put(st, "b", "x", 2);
	put(st, "a", "two", 3);
	del(st, "a", 4);
	put(st, "a", "three", 5);
	kh = history_get(store_history(st), "a", 1);
	ck_assert_ptr_nonnull(kh);
	ck_assert_uint_eq(kh->count, 4);
	ck_assert(!kh->truncated);
	ck_assert_uint_eq(HISTORY_AT(kh, 0)->revision, 1);
	ck_assert_uint_eq(HISTORY_AT(kh, 0)->time, 10);
	ck_assert_uint_eq(HISTORY_AT(kh, 2)->what, HISTORY_DELETE);
	/* The replaced values went into the ring; the newest is the
	 * store's. */
	ck_assert_uint_eq(HISTORY_AT(kh, 0)->vlen, 3);
	ck_assert_uint_eq(HISTORY_AT(kh, 3)->vlen, HISTORY_NO_VALUE);
	ck_assert(history_version_value(kh, 3, st, &val, &vallen));
	ck_assert_ptr_eq(val, STORE_ENTRY_VALUE(store_get(st, "a", 1)));
	ck_assert_str_eq(at(st, "a", 0), "-");
	ck_assert_str_eq(at(st, "a", 1), "one");
	ck_assert_str_eq(at(st, "a", 2), "one");
	ck_assert_str_eq(at(st, "a", 3), "two");
	ck_assert_str_eq(at(st, "a", 4), "-");
	ck_assert_str_eq(at(st, "a", 5), "three");
	ck_assert_str_eq(at(st, "b", 1), "-");
	ck_assert_str_eq(at(st, "nothing", 3), "-");
	store_free(st);
}
END_TEST

/* A long value's entry moves into the ring, uncopied. */
START_TEST(test_ring_moves_long_values)
{
	struct store *st = store_new();
	const struct key_history *kh;
	const struct store_entry *first;

	history_depth = 100;
	put(st, "k", "a value longer than eight bytes", 1);
	first = store_get(st, "k", 1);
	put(st, "k", "short", 2);
	kh = history_get(store_history(st), "k", 1);
	ck_assert_uint_eq(HISTORY_AT(kh, 0)->vlen, HISTORY_IN_ENTRY);
	ck_assert_ptr_eq(HISTORY_AT(kh, 0)->val.entry, first);
	ck_assert_str_eq(at(st, "k", 1), "a value longer than eight bytes");
	put(st, "k", "third", 3);
	/* The ring grew: it moved. */
	kh = history_get(store_history(st), "k", 1);
	ck_assert_uint_eq(HISTORY_AT(kh, 1)->vlen, 5);
	ck_assert_str_eq(at(st, "k", 2), "short");
	store_free(st);
}
END_TEST

START_TEST(test_ring_is_bounded)
{
	struct store *st = store_new();
	const struct key_history *kh;
	char val[16];

	history_depth = 3;
	for (uint64_t r = 1; r <= 10; r++) {
		snprintf(val, sizeof(val), "v%" PRIu64, r);
		put(st, "k", val, r);
	}
	kh = history_get(store_history(st), "k", 1);
	ck_assert_uint_eq(kh->count, 3);
	ck_assert_uint_le(kh->cap, 3);
	ck_assert(kh->truncated);
	ck_assert_uint_eq(HISTORY_AT(kh, 0)->revision, 8);
	ck_assert_uint_eq(history_known_from(kh), 8);
	ck_assert_str_eq(at(st, "k", 7), "?");
	ck_assert_str_eq(at(st, "k", 8), "v8");
	ck_assert_str_eq(at(st, "k", 9), "v9");
	ck_assert_str_eq(at(st, "k", 10), "v10");
	store_free(st);
}
END_TEST

/* Past values of a key stay within history_key_bytes: the oldest go,
 * and the value before the current one always stays. */
START_TEST(test_ring_bytes_bounded)
{
	struct store *st = store_new();
	const struct key_history *kh;
	char val[64];

	history_depth = 100;
	history_key_bytes = 100;
	for (uint64_t r = 1; r <= 20; r++) {
		/* 30 bytes each: three past values fit in 100. */
		snprintf(val, sizeof(val), "%029" PRIu64 "x", r);
		put(st, "k", val, r);
	}
	kh = history_get(store_history(st), "k", 1);
	ck_assert_uint_le(kh->vbytes, 100);
	ck_assert_uint_eq(kh->count, 4);
	ck_assert(kh->truncated);
	ck_assert_str_eq(at(st, "k", 16), "?");
	snprintf(val, sizeof(val), "%029" PRIu64 "x", (uint64_t)17);
	ck_assert_str_eq(at(st, "k", 17), val);
	/* No room for even one: the value before the current one stays. */
	history_key_bytes = 0;
	put(st, "k", "the current one", 21);
	kh = history_get(store_history(st), "k", 1);
	ck_assert_uint_eq(kh->count, 2);
	snprintf(val, sizeof(val), "%029" PRIu64 "x", (uint64_t)20);
	ck_assert_str_eq(at(st, "k", 20), val);
	ck_assert_str_eq(at(st, "k", 21), "the current one");
	history_key_bytes = HISTORY_BYTES_DEFAULT;
	store_free(st);
}
END_TEST

START_TEST(test_ring_none)
{
	struct store *st = store_new();

	history_depth = 0;
	put(st, "k", "one", 1);
	put(st, "k", "two", 2);
	ck_assert_ptr_null(history_get(store_history(st), "k", 1));
	ck_assert_uint_eq(history_count(store_history(st)), 0);
	ck_assert_str_eq(at(st, "k", 2), "two");
	ck_assert_str_eq(at(st, "k", 1), "?");
	store_free(st);
}
END_TEST

/* A key that came without a past (a snapshot's, another program's) has
 * an unknown state before its entry. */
START_TEST(test_ring_unknown_past)
{
	struct store *st = store_new();
	struct store_entry *e = entry("k", "old", 5);

	history_depth = 100;
	ck_assert_ptr_null(store_put(st, e));
	history_change(store_history(st), "k", 1, 5, 0, HISTORY_SET, NULL,
	    false);
	store_set_revision(st, 5);
	put(st, "k", "new", 6);
	ck_assert_str_eq(at(st, "k", 4), "?");
	ck_assert_str_eq(at(st, "k", 5), "old");
	ck_assert_str_eq(at(st, "k", 6), "new");
	store_free(st);
}
END_TEST

/* A key set once has no ring: its version is its entry, its time in
 * the list of commit times; its ring starts at its second change, with
 * that time. */
START_TEST(test_single_set_has_no_ring)
{
	struct store *st = store_new();
	struct history *h = store_history(st);
	const struct key_history *kh;

	history_depth = 100;
	put(st, "a", "one", 1);
	put(st, "b", "x", 2);
	ck_assert_ptr_null(history_get(h, "a", 1));
	ck_assert_uint_eq(history_count(h), 0);
	ck_assert_uint_eq(history_time_of(h, 1), 10);
	ck_assert_uint_eq(history_time_of(h, 2), 20);
	ck_assert_str_eq(at(st, "a", 0), "-");
	ck_assert_str_eq(at(st, "a", 1), "one");
	ck_assert_str_eq(at(st, "b", 1), "-");
	put(st, "a", "two", 3);
	kh = history_get(h, "a", 1);
	ck_assert_ptr_nonnull(kh);
	ck_assert_uint_eq(kh->count, 2);
	ck_assert(!kh->truncated);
	ck_assert_uint_eq(HISTORY_AT(kh, 0)->time, 10);
	ck_assert_uint_eq(HISTORY_AT(kh, 1)->time, 30);
	ck_assert_uint_eq(history_known_from(kh), 0);
	/* A key that came from a file without its past (at or before
	 * known_since) is not one set once. */
	history_set_known_since(h, 2);
	ck_assert_str_eq(at(st, "b", 1), "?");
	ck_assert_uint_eq(history_time_of(h, 2), 0);
	store_free(st);
}
END_TEST

/* Commits in the same second share a pair; the list keeps the pairs
 * from the one the oldest key set once needs, and is trimmed to them
 * once it has grown. */
START_TEST(test_times_are_bounded)
{
	struct store *st = store_new();
	struct history *h = store_history(st);
	const struct key_history *kh;
	char key[16];
	uint64_t rev = 0;

	history_depth = 100;
	for (int i = 0; i < 2200; i++) {
		struct store_entry *e;

		snprintf(key, sizeof(key), "k%d", i);
		rev++;
		e = entry(key, "v", rev);
		/* Two commits a second. */
		history_change(h, key, strlen(key), rev, 1000 + (int64_t)i / 2,
		    HISTORY_SET, store_put(st, e), true);
	}
	store_set_revision(st, rev);
	ck_assert_uint_eq(history_times_count(h), 1100);
	ck_assert_uint_eq(history_time_of(h, 4), 1001);
	/* The first 1500 keys change again: their rings have their times,
	 * the list is needed from k1500's revision (1501) on. */
	for (int i = 0; i < 1500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(st, key, "w", ++rev);
	}
	ck_assert_uint_eq(history_oldest_single(h, st), 1501);
	ck_assert_uint_eq(history_times_first(h, 1501), 750);
	history_times_trim(h, st);
	ck_assert_uint_eq(history_times_count(h), 350);
	ck_assert_uint_eq(history_time_of(h, 1501), 1750);
	ck_assert_uint_eq(history_time_of(h, 2200), 2099);
	kh = history_get(h, "k3", 2);
	ck_assert_uint_eq(HISTORY_AT(kh, 0)->time, 1001);
	/* Below twice what was left, no walk. */
	history_times_trim(h, st);
	ck_assert_uint_eq(history_times_count(h), 350);
	store_free(st);
}
END_TEST

/* history_restore: a snapshot's record, with the store's entry as the
 * newest version, cut to the depth. */
START_TEST(test_ring_restore)
{
	struct store *st = store_new();
	const struct key_history *kh;
	struct objformat_version l[3] = {
		{ 1, 100, HISTORY_SET, (const uint8_t *)"a", 1 },
		{ 2, 200, HISTORY_DELETE, NULL, 0 },
		{ 3, 300, HISTORY_SET, (const uint8_t *)"b", 1 },
	};

	history_depth = 3;
	ck_assert_ptr_null(store_put(st, entry("k", "c", 4)));
	store_set_revision(st, 4);
	history_restore(store_history(st), st, "k", 1, l, 3, 400, false);
	kh = history_get(store_history(st), "k", 1);
	ck_assert_uint_eq(kh->count, 3);
	ck_assert(kh->truncated);
	ck_assert_uint_eq(HISTORY_AT(kh, 2)->revision, 4);
	ck_assert_uint_eq(HISTORY_AT(kh, 2)->time, 400);
	ck_assert_str_eq(at(st, "k", 1), "?");
	ck_assert_str_eq(at(st, "k", 2), "-");
	ck_assert_str_eq(at(st, "k", 3), "b");
	ck_assert_str_eq(at(st, "k", 4), "c");
	store_free(st);
}
END_TEST

/*
 * End to end.
 */

static void
start_with_history(const char *depth)
{
	struct objd_opts o = { .extra = E2E_ARGV("--history", depth) };

	e2e_start_opts(s, &o);
}

/* The fields of line i (from 0) of objctl history's output. */
static void
history_line(const char *out, size_t i, char *rev, char *what, char *value)
{
	char line[512], when[64];
	const char *p = out;
	size_t len;

	for (; i > 0; i--) {
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	len = strcspn(p, "\n");
	ck_assert_uint_lt(len, sizeof(line));
	memcpy(line, p, len);
	line[len] = '\0';
	value[0] = '\0';
	ck_assert_msg(sscanf(line, "%31s %63s %31s %255[^\n]", rev, when, what,
	                  value) >= 3,
	    "history line '%s'", line);
	/* ISO 8601 in UTC. */
	ck_assert_msg(strlen(when) == 20 && when[10] == 'T' && when[19] == 'Z',
	    "time '%s'", when);
}

#define LINE_IS(out, i, want_rev, want_what, want_value)                       \
	do {                                                                   \
		char rev_[32], what_[32], value_[256];                         \
		history_line((out), (i), rev_, what_, value_);                 \
		ck_assert_str_eq(rev_, (want_rev));                            \
		ck_assert_str_eq(what_, (want_what));                          \
		ck_assert_str_eq(value_, (want_value));                        \
	} while (0)

/* Revisions 1-5: a=1, b=x, a="two", del a, a=[3]. */
static void
make_history(void)
{
	CTL_OK(s, "set", "a", "1");
	CTL_OK(s, "set", "b", "x");
	CTL_OK(s, "set", "a", "two");
	CTL_OK(s, "del", "a");
	CTL_OK(s, "set", "a", "[3]");
}

static void
check_made_history(void)
{
	const char *out = CTL_OK(s, "history", "a");

	ck_assert_uint_eq(e2e_count_lines(out), 4);
	LINE_IS(out, 0, "1", "set", "1");
	LINE_IS(out, 1, "3", "set", "two");
	LINE_IS(out, 2, "4", "delete", "");
	LINE_IS(out, 3, "5", "set", "[3]");
	ck_assert_str_eq(CTL_OK(s, "get", "--at", "3", "a"), "two\n");
	ck_assert_str_eq(CTL_OK(s, "get", "--at", "1", "a"), "1\n");
	ck_assert(
	    e2e_json_same(CTL_OK(s, "get", "--at", "4"), "{\"b\": \"x\"}"));
}

START_TEST(test_history_of_sets_and_deletes)
{
	const char *out;
	char *first;

	e2e_start(s);
	make_history();
	check_made_history();
	/* On the file a consistent get is a plain one; not of the past. */
	first = strdup(CTL_OK(s, "get"));
	ck_assert_str_eq(CTL_OK(s, "get", "--consistent"), first);
	free(first);
	ck_assert_str_eq(CTL_OK(s, "get", "--consistent", "b"), "x\n");
	CTL_EXIT(s, 2, "get", "--consistent", "--at", "3", "a");
	out = CTL_OK(s, "--json", "history", "a");
	ck_assert_uint_eq(e2e_count_lines(out), 4);
	first = strndup(out, strcspn(out, "\n"));
	ck_assert_ptr_nonnull(strstr(first, "\"revision\": 1"));
	ck_assert_ptr_nonnull(strstr(first, "\"what\": \"set\""));
	ck_assert_ptr_nonnull(strstr(first, "\"value\": 1"));
	ck_assert_ptr_nonnull(strstr(first, "Z\""));
	free(first);
	ck_assert_ptr_nonnull(strstr(out, "\"what\": \"delete\"}"));
	ck_assert_uint_eq(e2e_count_lines(CTL_OK(s, "history", "b")), 1);
	CTL_EXIT(s, 1, "history", "never");
	e2e_stop(s);
}
END_TEST

START_TEST(test_get_at)
{
	e2e_start(s);
	make_history();
	/* The object at each revision. */
	ck_assert(e2e_json_same(CTL_OK(s, "get", "--at", "1"), "{\"a\": 1}"));
	ck_assert(e2e_json_same(CTL_OK(s, "get", "--at", "2"),
	    "{\"a\": 1, \"b\": \"x\"}"));
	ck_assert(e2e_json_same(CTL_OK(s, "get", "--at", "5"),
	    "{\"a\": [3], \"b\": \"x\"}"));
	/* A key that did not exist then. */
	CTL_EXIT(s, 1, "get", "--at", "4", "a");
	ck_assert_ptr_nonnull(strstr(s->err, "did not exist at revision 4"));
	CTL_EXIT(s, 1, "get", "--at", "1", "b");
	CTL_EXIT(s, 1, "get", "--at", "3", "nothing");
	/* --meta: the revision of the version. */
	ck_assert_ptr_nonnull(strstr(
	    CTL_OK(s, "get", "--meta", "--at", "4", "b"), "revision: 2\n"));
	/* Later than the object: a usage error of objd's. */
	CTL_EXIT(s, 2, "get", "--at", "6", "a");
	ck_assert_ptr_nonnull(strstr(s->err, "future"));
	CTL_EXIT(s, 2, "get", "--at", "0");
	e2e_stop(s);
}
END_TEST

START_TEST(test_history_bound)
{
	char v[16];
	const char *out;

	start_with_history("3");
	for (int i = 1; i <= 6; i++) {
		snprintf(v, sizeof(v), "%d", i * 10);
		CTL_OK(s, "set", "k", v);
	}
	CTL_OK(s, "set", "other", "o");
	out = CTL_OK(s, "history", "k");
	ck_assert_uint_eq(e2e_count_lines(out), 3);
	LINE_IS(out, 0, "4", "set", "40");
	LINE_IS(out, 2, "6", "set", "60");
	ck_assert_str_eq(CTL_OK(s, "get", "--at", "4", "k"), "40\n");
	/* Older than what is kept: exit 1, saying so. */
	CTL_EXIT(s, 1, "get", "--at", "3", "k");
	ck_assert_ptr_nonnull(strstr(s->err, "older than the history"));
	CTL_EXIT(s, 1, "get", "--at", "2");
	ck_assert_ptr_nonnull(strstr(s->err, "older than the history"));
	/* The bound holds after a restart with a smaller one. */
	e2e_stop(s);
	start_with_history("2");
	out = CTL_OK(s, "history", "k");
	ck_assert_uint_eq(e2e_count_lines(out), 2);
	LINE_IS(out, 0, "5", "set", "50");
	CTL_EXIT(s, 1, "get", "--at", "4", "k");
	ck_assert_ptr_nonnull(strstr(CTL_OK(s, "status"), "history: 2"));
	e2e_stop(s);
}
END_TEST

START_TEST(test_revert)
{
	e2e_start(s);
	make_history();
	/* Back to a value, as a new change. */
	CTL_OK(s, "revert", "a", "3");
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "two\n");
	LINE_IS(CTL_OK(s, "history", "a"), 4, "6", "set", "two");
	/* Back to absence: a delete. */
	CTL_OK(s, "revert", "a", "4");
	CTL_EXIT(s, 1, "get", "a");
	LINE_IS(CTL_OK(s, "history", "a"), 5, "7", "delete", "");
	/* Absent then and now: nothing changes. */
	CTL_OK(s, "revert", "a", "4");
	ck_assert_uint_eq(e2e_count_lines(CTL_OK(s, "history", "a")), 6);
	/* Back to the first value, conditionally. */
	CTL_OK(s, "set", "a", "now");
	CTL_EXIT(s, 4, "revert", "--if-revision", "3", "a", "1");
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "now\n");
	CTL_OK(s, "revert", "--if-revision", "8", "a", "1");
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	/* A revision later than the object's is refused. */
	CTL_EXIT(s, 2, "revert", "a", "100");
	CTL_EXIT(s, 2, "revert", "a", "x");
	e2e_stop(s);
}
END_TEST

START_TEST(test_revert_too_old)
{
	start_with_history("2");
	CTL_OK(s, "set", "k", "1");
	CTL_OK(s, "set", "k", "2");
	CTL_OK(s, "set", "k", "3");
	CTL_EXIT(s, 1, "revert", "k", "1");
	ck_assert_ptr_nonnull(strstr(s->err, "older than the history"));
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "3\n");
	e2e_stop(s);
}
END_TEST

/* objd as the test's loop runs it: plain, or with --compress. */
static void
start_looped(int i)
{
	struct objd_opts o = { .extra = E2E_ARGV("--compress") };

	if (i == 0)
		e2e_start(s);
	else
		e2e_start_opts(s, &o);
}

/* Loop 0 plain, loop 1 with --compress: the records go in the deflated
 * chunks with their entries. */
START_TEST(test_history_across_compaction_and_restart)
{
	char *before;

	start_looped(_i);
	make_history();
	before = strdup(CTL_OK(s, "history", "a"));
	/* A restart replays the appended changes. */
	e2e_stop(s);
	start_looped(_i);
	ck_assert_str_eq(CTL_OK(s, "history", "a"), before);
	check_made_history();
	/* A compaction writes the history in its snapshot. */
	CTL_OK(s, "compact");
	ck_assert_str_eq(CTL_OK(s, "history", "a"), before);
	e2e_stop(s);
	start_looped(_i);
	ck_assert_str_eq(CTL_OK(s, "history", "a"), before);
	check_made_history();
	/* Changes after the snapshot add to it, and stay. */
	CTL_OK(s, "del", "b");
	e2e_stop(s);
	start_looped(_i);
	ck_assert_str_eq(CTL_OK(s, "history", "a"), before);
	ck_assert_uint_eq(e2e_count_lines(CTL_OK(s, "history", "b")), 2);
	CTL_EXIT(s, 1, "get", "--at", "6", "b");
	ck_assert_str_eq(CTL_OK(s, "get", "--at", "5", "b"), "x\n");
	CTL_OK(s, "compact");
	e2e_stop(s);
	start_looped(_i);
	ck_assert_str_eq(CTL_OK(s, "history", "a"), before);
	ck_assert_uint_eq(e2e_count_lines(CTL_OK(s, "history", "b")), 2);
	e2e_stop(s);
	free(before);
}
END_TEST

/* Keys set once keep their time and their known past (absent before)
 * across restarts and compactions, plain and with --compress, through
 * the list of commit times. */
START_TEST(test_single_sets_across_compaction_and_restart)
{
	char *before, *before_a;

	start_looped(_i);
	CTL_OK(s, "set", "a", "1");
	CTL_OK(s, "set", "b", "x");
	before_a = strdup(CTL_OK(s, "history", "a"));
	before = strdup(CTL_OK(s, "history", "b"));
	ck_assert_uint_eq(e2e_count_lines(before), 1);
	LINE_IS(before, 0, "2", "set", "x");
	for (int round = 0; round < 3; round++) {
		if (round > 0)
			CTL_OK(s, "compact");
		e2e_stop(s);
		start_looped(_i);
		ck_assert_str_eq(CTL_OK(s, "history", "b"), before);
		CTL_EXIT(s, 1, "get", "--at", "1", "b");
		ck_assert_ptr_nonnull(strstr(s->err, "did not exist"));
		ck_assert_str_eq(CTL_OK(s, "get", "--at", "2", "b"), "x\n");
		/* Its second change starts its ring, with the first time. */
		if (round == 1) {
			CTL_OK(s, "set", "a", "2");
			ck_assert(strncmp(CTL_OK(s, "history", "a"), before_a,
			              strlen(before_a)) == 0);
			LINE_IS(CTL_OK(s, "history", "a"), 1, "3", "set", "2");
		}
	}
	ck_assert_uint_eq(e2e_count_lines(CTL_OK(s, "history", "a")), 2);
	LINE_IS(CTL_OK(s, "history", "a"), 0, "1", "set", "1");
	ck_assert(strncmp(CTL_OK(s, "history", "a"), before_a,
	              strlen(before_a)) == 0);
	e2e_stop(s);
	free(before);
	free(before_a);
}
END_TEST

START_TEST(test_history_zero)
{
	start_with_history("0");
	CTL_OK(s, "set", "k", "1");
	CTL_OK(s, "set", "k", "2");
	CTL_EXIT(s, 1, "history", "k");
	ck_assert_ptr_nonnull(strstr(s->err, "no history"));
	CTL_EXIT(s, 1, "get", "--at", "1", "k");
	ck_assert_ptr_nonnull(strstr(s->err, "older than the history"));
	ck_assert_str_eq(CTL_OK(s, "get", "--at", "2", "k"), "2\n");
	CTL_EXIT(s, 1, "get", "--at", "1");
	ck_assert_ptr_nonnull(strstr(s->err, "older than the history"));
	CTL_OK(s, "compact");
	e2e_stop(s);
	/* A file written without history loads, with the keys' past
	 * unknown. */
	e2e_start(s);
	ck_assert_uint_eq(e2e_count_lines(CTL_OK(s, "history", "k")), 1);
	CTL_EXIT(s, 1, "get", "--at", "1", "k");
	ck_assert_ptr_nonnull(strstr(s->err, "older than the history"));
	e2e_stop(s);
}
END_TEST

/* A file that another program wrote: entries only. */
START_TEST(test_foreign_file_loads)
{
	const char *out;

	e2e_write_plain_file(s->file, "name", "John");

	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "John\n");
	/* One version, of unknown time. */
	out = CTL_OK(s, "history", "name");
	ck_assert_str_eq(out, "0 - set John\n");
	CTL_OK(s, "set", "name", "Jane");
	ck_assert_uint_eq(e2e_count_lines(CTL_OK(s, "history", "name")), 2);
	ck_assert_str_eq(CTL_OK(s, "get", "--at", "1", "name"), "Jane\n");
	e2e_stop(s);
	e2e_start(s);
	out = CTL_OK(s, "history", "name");
	ck_assert_uint_eq(e2e_count_lines(out), 2);
	ck_assert(strncmp(out, "0 - set John\n", 13) == 0);
	e2e_stop(s);
}
END_TEST

/* Values of 256 KiB, a set each, with compactions between them: the
 * key's history keeps the last few, the watch history every one. Each
 * compaction succeeds: its child reads the store's entries and the
 * keys' past versions, and the entries that the watch history alone
 * keeps are hidden from it (server/forkhide.c); the memory of those
 * malloc then hands back holds later values. A watch resumed from the
 * first set gets every value byte for byte, and so do reads of the past
 * after a restart, as far as the key's history reaches. */
#define LARGE_LEN (256 * 1024)
#define LARGE_SETS 24

static Objd__Value *
large_value(int i)
{
	uint8_t *buf = malloc(LARGE_LEN);
	Objd__Value *v;

	ck_assert_ptr_nonnull(buf);
	for (size_t j = 0; j < LARGE_LEN; j++)
		buf[j] = (uint8_t)(j * 7 + (size_t)i * 131 + j / 4096);
	v = value_new_bytes(buf, LARGE_LEN);
	free(buf);
	return v;
}

static void
assert_large_value(const Objd__Value *got, int i)
{
	Objd__Value *want = large_value(i);

	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->kind_case, OBJD__VALUE__KIND_BYTES_VALUE);
	ck_assert_uint_eq(got->bytes_value.len, LARGE_LEN);
	ck_assert_msg(memcmp(got->bytes_value.data, want->bytes_value.data,
	                  LARGE_LEN) == 0,
	    "value %d differs", i);
	value_free(want);
}

static uint64_t
large_revision(objd_client *c)
{
	Objd__Response *r = NULL;
	uint64_t rev;

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	rev = r->info->revision;
	objd_response_free(r);
	return rev;
}

START_TEST(test_large_values_across_compactions)
{
	const char *key = "big";
	Objd__Response *r = NULL;
	objd_client *c, *w;
	uint64_t base;
	int seen = 0;

	e2e_start(s);
	/* A watch from revision 0 would start with the entries instead. */
	CTL_OK(s, "set", "first", "1");
	c = e2e_client(s);
	base = large_revision(c);
	for (int i = 0; i < LARGE_SETS; i++) {
		Objd__Value *v = large_value(i);

		ck_assert_int_eq(
		    objd_set(c, &key, (const Objd__Value *const *)&v, 1),
		    OBJD_OK);
		value_free(v);
		if (i % 4 == 3)
			ck_assert_msg(objd_compact(c) == OBJD_OK,
			    "compaction after set %d: %s", i,
			    objd_client_error(c));
	}
	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, "", base, &r), OBJD_OK);
	while (seen < LARGE_SETS) {
		for (size_t i = 0; r != NULL && i < r->n_events; i++) {
			ck_assert_uint_eq(r->events[i]->type,
			    OBJD__EVENT__TYPE__SET);
			ck_assert_uint_eq(r->events[i]->revision,
			    base + 1 + (uint64_t)seen);
			assert_large_value(r->events[i]->value, seen++);
		}
		objd_response_free(r);
		r = NULL;
		if (seen < LARGE_SETS) {
			ck_assert_int_eq(objd_watch_next(w, &r, E2E_DEADLINE),
			    OBJD_OK);
			ck_assert_msg(r != NULL, "%d of %d sets watched", seen,
			    LARGE_SETS);
		}
	}
	objd_close(w);
	objd_close(c);
	e2e_stop(s);
	e2e_start(s);
	c = e2e_client(s);
	for (int i = LARGE_SETS - 3; i < LARGE_SETS; i++) {
		Objd__Value *v = NULL;

		ck_assert_int_eq(
		    objd_get_at(c, key, base + 1 + (uint64_t)i, &v, NULL),
		    OBJD_OK);
		assert_large_value(v, i);
		value_free(v);
	}
	objd_close(c);
	e2e_stop(s);
}
END_TEST

static TCase *
tcase(Suite *suite, const char *name, double timeout, bool e2e)
{
	TCase *tc = tcase_create(name);

	if (e2e)
		tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(suite, tc);
	return tc;
}

static Suite *
history_suite(void)
{
	Suite *suite = suite_create("history");
	TCase *tc;

	tc = tcase(suite, "ring", 10, false);
	tcase_add_test(tc, test_ring_keeps_versions);
	tcase_add_test(tc, test_ring_moves_long_values);
	tcase_add_test(tc, test_ring_is_bounded);
	tcase_add_test(tc, test_ring_bytes_bounded);
	tcase_add_test(tc, test_ring_none);
	tcase_add_test(tc, test_ring_unknown_past);
	tcase_add_test(tc, test_ring_restore);
	tcase_add_test(tc, test_single_set_has_no_ring);
	tcase_add_test(tc, test_times_are_bounded);

	tc = tcase(suite, "objctl", 120, true);
	tcase_add_test(tc, test_history_of_sets_and_deletes);
	tcase_add_test(tc, test_get_at);
	tcase_add_test(tc, test_history_bound);
	tcase_add_test(tc, test_revert);
	tcase_add_test(tc, test_revert_too_old);
	tcase_add_loop_test(tc, test_history_across_compaction_and_restart, 0,
	    2);
	tcase_add_loop_test(tc, test_single_sets_across_compaction_and_restart,
	    0, 2);
	tcase_add_test(tc, test_history_zero);
	tcase_add_test(tc, test_foreign_file_loads);
	tcase_add_test(tc, test_large_values_across_compactions);
	return suite;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	e2e_init();
	sr = srunner_create(history_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	e2e_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
