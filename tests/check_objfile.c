/* check_objfile.c: the object file (server/objfile.c): round trips, the
 * lock, and files that are cut, damaged or replaced. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objd.h"
#include "value.h"
#include "xmalloc.h"

static char dir[64];
static char path[128];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/objd-objfile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/objd.pb", dir);
}

static void
teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
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

static void
write_file(const char *p, const uint8_t *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
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
		ck_assert_mem_eq(
		    STORE_ENTRY_VALUE(o), STORE_ENTRY_VALUE(all[i]), o->vallen);
	}
	free(all);
}

START_TEST(test_round_trip)
{
	char err[512];
	struct objfile *f = objfile_open(path, err, sizeof(err));
	struct store *s = sample_store(), *t = store_new();
	struct stat st;

	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_int_eq(objfile_load(f, t, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_count(t), 0);
	ck_assert_int_eq(objfile_save(f, s, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(objfile_load(f, t, err, sizeof(err)), 0);
	assert_same(s, t);
	ck_assert_uint_eq(store_revision(t), 9);
	ck_assert_uint_eq(store_get(t, "age", 3)->revision, 9);
	store_free(s);
	store_free(t);
	objfile_close(f);
}
END_TEST

START_TEST(test_lock_keeps_second_objd_off)
{
	char err[512];
	struct objfile *f = objfile_open(path, err, sizeof(err));
	struct objfile *g;

	ck_assert_ptr_nonnull(f);
	g = objfile_open(path, err, sizeof(err));
	ck_assert_ptr_null(g);
	ck_assert_msg(strstr(err, "in use by another objd") != NULL, "%s", err);
	objfile_close(f);
	g = objfile_open(path, err, sizeof(err));
	ck_assert_ptr_nonnull(g);
	objfile_close(g);
}
END_TEST

/* Every cut of a file objd wrote is refused, however it falls. */
START_TEST(test_every_truncation_is_refused)
{
	char err[512];
	struct objfile *f = objfile_open(path, err, sizeof(err));
	struct store *s = sample_store();
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(objfile_save(f, s, err, sizeof(err)), 0);
	buf = read_file(path, &len);
	for (size_t cut = 1; cut < len; cut++) {
		struct store *t = store_new();

		write_file(path, buf, cut);
		ck_assert_msg(objfile_load(f, t, err, sizeof(err)) == -1,
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
	struct objfile *f = objfile_open(path, err, sizeof(err));
	struct store *s = sample_store();
	uint8_t *buf;
	size_t len, body;

	ck_assert_int_eq(objfile_save(f, s, err, sizeof(err)), 0);
	buf = read_file(path, &len);
	/* The commit record is the last field: tag, length, and at most
	 * 10 + 5 + 5 + 3 bytes. Find its tag from the end. */
	for (body = len - 2; buf[body] != ((15 << 3) | 2); body--)
		;
	for (size_t i = 0; i < body; i++) {
		struct store *t = store_new();

		buf[i] ^= 0x20;
		write_file(path, buf, len);
		ck_assert_msg(objfile_load(f, t, err, sizeof(err)) == -1,
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
	struct objfile *f = objfile_open(path, err, sizeof(err));
	struct store *s = sample_store(), *t = store_new();
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(objfile_save(f, s, err, sizeof(err)), 0);
	buf = read_file(path, &len);
	buf = xrealloc(buf, len + 16);
	memset(buf + len, 0, 16);
	write_file(path, buf, len + 16);
	ck_assert_int_eq(objfile_load(f, t, err, sizeof(err)), -1);
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
	struct objfile *f = objfile_open(path, err, sizeof(err));
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
	ck_assert_msg(objfile_load(f, t, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(store_count(t), 1);
	ck_assert_uint_eq(store_revision(t), 0);
	store_free(t);

	/* A value that does not decode makes the whole file bad. */
	buf[len - 1] = 0xff;
	write_file(path, buf, len);
	t = store_new();
	ck_assert_int_eq(objfile_load(f, t, err, sizeof(err)), -1);
	store_free(t);
	objfile_close(f);
}
END_TEST

START_TEST(test_check_and_reject)
{
	char err[512], other[160];
	struct objfile *f = objfile_open(path, err, sizeof(err));
	struct store *s = sample_store();
	char *moved;

	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	ck_assert_int_eq(objfile_save(f, s, err, sizeof(err)), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_UNCHANGED);
	/* Replaced by rename, as careful writers do. */
	snprintf(other, sizeof(other), "%s/sub/new", dir);
	write_file(other, (const uint8_t *)"", 0);
	ck_assert_int_eq(rename(other, path), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_CHANGED);
	moved = objfile_reject(f, err, sizeof(err));
	ck_assert_msg(moved != NULL, "%s", err);
	ck_assert_msg(strstr(moved, "objd.pb.rejected-") != NULL, "%s", moved);
	ck_assert_int_eq(access(moved, F_OK), 0);
	ck_assert_int_eq(objfile_check(f), OBJFILE_MISSING);
	free(moved);
	store_free(s);
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
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_lock_keeps_second_objd_off);
	tcase_add_test(tc, test_every_truncation_is_refused);
	tcase_add_test(tc, test_flipped_bytes_are_refused);
	tcase_add_test(tc, test_trailing_garbage_is_refused);
	tcase_add_test(tc, test_foreign_file_last_entry_wins);
	tcase_add_test(tc, test_check_and_reject);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(objfile_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
