/* SPDX-License-Identifier: ISC */
/* make-corpus.c: writes the fuzzers' seed corpora.
 *
 *     make-corpus CONN_DIR OBJFILE_DIR
 *
 * conn seeds are what fuzz_conn reads: an access byte (0 none, 1 read,
 * 2 read-write), a byte that says where to cut the rest in two sends, then
 * the client's frames. objfile seeds are object files, written by objd's
 * own code (objfile.c; plain and with --compress) and by "another
 * program" (protobuf-c's packer), whole, torn and padded.
 * tests/fuzz/run.sh seeds builds and runs it; its output is committed
 * under tests/fuzz/corpus. */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"
#include "json.h"
#include "log.h"
#include "objd.h"
#include "value.h"
#include "xmalloc.h"

struct server server;
struct objd_options options;

/* A growing seed. */
struct seed {
	uint8_t *data;
	size_t len;
};

static void
seed_put(struct seed *s, const void *p, size_t n)
{
	s->data = xrealloc(s->data, s->len + n);
	memcpy(s->data + s->len, p, n);
	s->len += n;
}

static void
seed_write(const char *dir, const char *name, const struct seed *s)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL ||
	    fwrite(s->data, 1, s->len, fp) != s->len || fclose(fp) != 0) {
		fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static Objd__Value *
json(const char *text)
{
	char err[256];
	Objd__Value *v = json_to_value(text, strlen(text), err, sizeof(err));

	if (v == NULL) {
		fprintf(stderr, "make-corpus: %s: %s\n", text, err);
		exit(1);
	}
	return v;
}

/* Appends req as a frame. */
static void
seed_request(struct seed *s, Objd__Request *req)
{
	size_t len;
	uint8_t *frame = frame_pack(&req->base, &len);

	seed_put(s, frame, len);
	free(frame);
}

static void
seed_simple(struct seed *s, uint64_t id, Objd__Request__OpCase op)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Ping ping = OBJD__PING__INIT;
	Objd__StatusQuery status = OBJD__STATUS_QUERY__INIT;
	Objd__Reload reload = OBJD__RELOAD__INIT;
	Objd__Compact compact = OBJD__COMPACT__INIT;

	req.id = id;
	req.op_case = op;
	switch (op) {
	case OBJD__REQUEST__OP_PING:
		req.ping = &ping;
		break;
	case OBJD__REQUEST__OP_STATUS:
		req.status = &status;
		break;
	case OBJD__REQUEST__OP_RELOAD:
		req.reload = &reload;
		break;
	case OBJD__REQUEST__OP_COMPACT:
		req.compact = &compact;
		break;
	default:
		abort();
	}
	seed_request(s, &req);
}

/* set key = JSON value, with an optional condition (rev, or absent when
 * rev is 0 and absent is true). */
static void
seed_set(struct seed *s, uint64_t id, const char *key, const char *value,
    uint64_t rev, bool absent)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry e = OBJD__ENTRY__INIT, *ep = &e;
	Objd__Condition cond = OBJD__CONDITION__INIT, *cp = &cond;

	e.key = (char *)key;
	e.value = json(value);
	set.n_entries = 1;
	set.entries = &ep;
	if (rev != 0 || absent) {
		cond.key = (char *)key;
		if (absent) {
			cond.test_case = OBJD__CONDITION__TEST_ABSENT;
			cond.absent = true;
		} else {
			cond.test_case = OBJD__CONDITION__TEST_REVISION;
			cond.revision = rev;
		}
		set.n_conditions = 1;
		set.conditions = &cp;
	}
	req.id = id;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	seed_request(s, &req);
	value_free(e.value);
}

static void
seed_keys(struct seed *s, uint64_t id, Objd__Request__OpCase op,
    const char *key)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Delete del = OBJD__DELETE__INIT;
	Objd__List list = OBJD__LIST__INIT;
	Objd__Watch watch = OBJD__WATCH__INIT;
	char *keys[1] = { (char *)key };

	req.id = id;
	req.op_case = op;
	switch (op) {
	case OBJD__REQUEST__OP_GET:
		get.n_keys = key != NULL ? 1 : 0;
		get.keys = keys;
		req.get = &get;
		break;
	case OBJD__REQUEST__OP_DELETE:
		del.n_keys = 1;
		del.keys = keys;
		req.delete_ = &del;
		break;
	case OBJD__REQUEST__OP_LIST:
		list.prefix = key != NULL ? (char *)key : "";
		req.list = &list;
		break;
	case OBJD__REQUEST__OP_WATCH:
		watch.prefix = key != NULL ? (char *)key : "";
		req.watch = &watch;
		break;
	default:
		abort();
	}
	seed_request(s, &req);
}

/* A batch: set a, delete b, if c is absent; replace as given. */
static void
seed_batch(struct seed *s, uint64_t id, bool replace)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	Objd__Operation set = OBJD__OPERATION__INIT,
	                del = OBJD__OPERATION__INIT;
	Objd__Operation *ops[2] = { &set, &del };
	Objd__Entry e = OBJD__ENTRY__INIT;
	Objd__Condition cond = OBJD__CONDITION__INIT, *cp = &cond;

	e.key = "a";
	e.value = json("{\"x\": [1, 2.5, \"s\", null, true]}");
	set.op_case = OBJD__OPERATION__OP_SET;
	set.set = &e;
	del.op_case = OBJD__OPERATION__OP_DELETE;
	del.delete_ = "b";
	cond.key = "c";
	cond.test_case = OBJD__CONDITION__TEST_ABSENT;
	cond.absent = true;
	batch.n_operations = 2;
	batch.operations = ops;
	batch.n_conditions = 1;
	batch.conditions = &cp;
	batch.replace = replace;
	req.id = id;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &batch;
	seed_request(s, &req);
	value_free(e.value);
}

static void
conn_seeds(const char *dir)
{
	struct seed s = { 0 };
	static const uint8_t rw[] = { 2, 128 }, ro[] = { 1, 64 },
	                     none[] = { 0, 200 };

	seed_put(&s, rw, 2);
	seed_simple(&s, 1, OBJD__REQUEST__OP_PING);
	seed_write(dir, "ping", &s);

	s.len = 0;
	seed_put(&s, rw, 2);
	seed_set(&s, 1, "name", "\"John\"", 0, false);
	seed_set(&s, 2, "age", "30", 0, false);
	seed_set(&s, 3, "ratio", "30.0", 0, false);
	seed_keys(&s, 4, OBJD__REQUEST__OP_GET, "name");
	seed_keys(&s, 5, OBJD__REQUEST__OP_GET, NULL);
	seed_keys(&s, 6, OBJD__REQUEST__OP_LIST, "a");
	seed_keys(&s, 7, OBJD__REQUEST__OP_DELETE, "age");
	seed_keys(&s, 8, OBJD__REQUEST__OP_GET, "age");
	seed_simple(&s, 9, OBJD__REQUEST__OP_STATUS);
	seed_write(dir, "session", &s);

	s.len = 0;
	seed_put(&s, rw, 2);
	seed_set(&s, 1, "v",
	    "{\"n\": null, \"b\": false, \"l\": [[1], {\"k\": -2}], "
	    "\"d\": {\"$double\": \"nan\"}, \"y\": {\"$bytes\": \"AAEC\"}, "
	    "\"u\": \"Jos\\u00e9\"}",
	    0, false);
	seed_set(&s, 2, "server.port", "8080", 0, false);
	seed_keys(&s, 3, OBJD__REQUEST__OP_GET, "server.port");
	seed_keys(&s, 4, OBJD__REQUEST__OP_DELETE, "server.port");
	seed_write(dir, "types-and-paths", &s);

	s.len = 0;
	seed_put(&s, rw, 2);
	seed_set(&s, 1, "k", "1", 0, true);
	seed_set(&s, 2, "k", "2", 1, false);
	seed_set(&s, 3, "k", "3", 1, false);
	seed_batch(&s, 4, false);
	seed_batch(&s, 5, true);
	seed_write(dir, "cas-and-batch", &s);

	s.len = 0;
	seed_put(&s, rw, 2);
	seed_keys(&s, 1, OBJD__REQUEST__OP_WATCH, "");
	seed_set(&s, 2, "w", "1", 0, false);
	seed_write(dir, "watch", &s);

	s.len = 0;
	seed_put(&s, rw, 2);
	seed_set(&s, 1, "x", "[1, 2, 3]", 0, false);
	seed_simple(&s, 2, OBJD__REQUEST__OP_RELOAD);
	seed_simple(&s, 3, OBJD__REQUEST__OP_COMPACT);
	seed_keys(&s, 4, OBJD__REQUEST__OP_GET, "x");
	seed_write(dir, "reload-compact", &s);

	s.len = 0;
	seed_put(&s, ro, 2);
	seed_keys(&s, 1, OBJD__REQUEST__OP_GET, NULL);
	seed_set(&s, 2, "k", "1", 0, false);
	seed_write(dir, "read-only", &s);

	s.len = 0;
	seed_put(&s, none, 2);
	seed_simple(&s, 1, OBJD__REQUEST__OP_PING);
	seed_write(dir, "denied", &s);

	/* Bad framing: a frame announcing 4 GiB, and one cut short. */
	s.len = 0;
	seed_put(&s, rw, 2);
	seed_simple(&s, 1, OBJD__REQUEST__OP_PING);
	seed_put(&s, "\x80\x80\x80\x80\x10", 5);
	seed_write(dir, "huge-frame", &s);

	s.len = 0;
	seed_put(&s, rw, 2);
	seed_set(&s, 1, "k", "\"a string cut short\"", 0, false);
	s.len -= 5;
	seed_write(dir, "cut-frame", &s);
	free(s.data);
}

/* Writes the object file's current bytes as a seed, minus cut bytes,
 * plus pad zero bytes. */
static void
seed_file(const char *dir, const char *name, const char *path, size_t cut,
    size_t pad)
{
	struct seed s = { 0 };
	uint8_t buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd == -1)
		abort();
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		seed_put(&s, buf, (size_t)n);
	close(fd);
	s.len = s.len > cut ? s.len - cut : 0;
	for (size_t i = 0; i < pad; i++)
		seed_put(&s, "", 1);
	seed_write(dir, name, &s);
	free(s.data);
}

/* The object file's current bytes, then room as objd --fsync always
 * keeps it: a padding field (Object field 14) of size bytes (at most
 * 129) in all, of which cut are missing at the end. */
static void
seed_room(const char *dir, const char *name, const char *path, size_t size,
    size_t cut)
{
	struct seed s = { 0 };
	uint8_t buf[65536], tag = (14 << 3) | 2, len = (uint8_t)(size - 2);
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd == -1 || size < 2 || size > 129)
		abort();
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		seed_put(&s, buf, (size_t)n);
	close(fd);
	seed_put(&s, &tag, 1);
	seed_put(&s, &len, 1);
	for (size_t i = 2; i < size - cut; i++)
		seed_put(&s, "", 1);
	seed_write(dir, name, &s);
	free(s.data);
}

/* Appends one change: set key = JSON value, or delete key. */
static void
file_change(struct objfile *f, struct store *st, const char *key,
    const char *value)
{
	struct objfile_changes ch;
	uint64_t rev = store_revision(st) + 1;
	char err[1024];
	uint8_t *val = NULL;
	size_t vallen = 0;

	objfile_changes_init(f, &ch);
	if (value != NULL) {
		Objd__Value *v = json(value);

		val = value_pack(v, &vallen);
		value_free(v);
		objfile_change_set(&ch, key, strlen(key), val, vallen);
	} else
		objfile_change_delete(&ch, key, strlen(key));
	objfile_change_commit(&ch, rev);
	if (objfile_append(f, st, &ch, err, sizeof(err)) == -1) {
		fprintf(stderr, "make-corpus: %s\n", err);
		exit(1);
	}
	objfile_changes_free(f, &ch);
	if (value != NULL)
		free(store_put(st,
		    store_entry_new(key, strlen(key), val, vallen, rev)));
	else
		free(store_remove(st, key, strlen(key)));
	store_set_revision(st, rev);
	free(val);
}

static void
objfile_seeds(const char *dir)
{
	char tmp[] = "/tmp/objd-corpus.XXXXXX", path[64], err[1024];
	Objd__Object obj = OBJD__OBJECT__INIT;
	Objd__Object__EntriesEntry e1 = OBJD__OBJECT__ENTRIES_ENTRY__INIT;
	Objd__Object__EntriesEntry e2 = OBJD__OBJECT__ENTRIES_ENTRY__INIT;
	Objd__Object__EntriesEntry *ents[2] = { &e1, &e2 };
	struct seed s = { 0 };
	struct objfile *f;
	struct store *st;

	if (mkdtemp(tmp) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/objd.pb", tmp);
	f = objfile_open(path, FSYNC_NEVER, err, sizeof(err));
	st = store_new();
	if (f == NULL || objfile_load(f, st, true, err, sizeof(err)) != 0) {
		fprintf(stderr, "make-corpus: %s\n", err);
		exit(1);
	}
	file_change(f, st, "name", "\"John\"");
	file_change(f, st, "age", "30");
	file_change(f, st, "tags", "[\"a\", {\"b\": 2.5}]");
	file_change(f, st, "age", NULL);
	seed_file(dir, "appended", path, 0, 0);
	seed_file(dir, "torn", path, 3, 0);
	seed_file(dir, "zero-tail", path, 0, 16);
	seed_room(dir, "room", path, 16, 0);
	seed_room(dir, "room-cut", path, 16, 5);
	if (objfile_rewrite(f, st, err, sizeof(err)) == -1) {
		fprintf(stderr, "make-corpus: %s\n", err);
		exit(1);
	}
	file_change(f, st, "after", "true");
	seed_file(dir, "compacted", path, 0, 0);
	/* Compacted with --compress: the entries in a deflated chunk. */
	objfile_set_compress(f, true);
	if (objfile_rewrite(f, st, err, sizeof(err)) == -1) {
		fprintf(stderr, "make-corpus: %s\n", err);
		exit(1);
	}
	file_change(f, st, "name", "\"Jane\"");
	seed_file(dir, "compressed", path, 0, 0);
	seed_file(dir, "compressed-torn", path, 3, 0);
	objfile_close(f);
	store_free(st);
	unlink(path);
	snprintf(path, sizeof(path), "%s/objd.pb.lock", tmp);
	unlink(path);
	rmdir(tmp);

	/* Another program's file: entries only. */
	e1.key = "name";
	e1.value = json("\"Jane\"");
	e2.key = "conf";
	e2.value = json("{\"port\": 8080, \"hosts\": [\"a\", \"b\"]}");
	obj.n_entries = 2;
	obj.entries = ents;
	s.len = objd__object__get_packed_size(&obj);
	s.data = xmalloc(s.len);
	objd__object__pack(&obj, s.data);
	seed_write(dir, "foreign", &s);
	value_free(e1.value);
	value_free(e2.value);
	s.len = 0;
	seed_write(dir, "empty", &s);
	free(s.data);
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: make-corpus CONN_DIR OBJFILE_DIR\n");
		return 2;
	}
	log_init("make-corpus", 0);
	log_set_level(LOG_LEVEL_ERROR);
	conn_seeds(argv[1]);
	objfile_seeds(argv[2]);
	return 0;
}
