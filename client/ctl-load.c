/* SPDX-License-Identifier: ISC */
/* ctl-load.c: objctl load, which replaces the object (or with --merge
 * adds to it) from a JSON document, as one change: whole when it is
 * small, in staged pieces when it is large. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "json-members.h"
#include "json.h"
#include "key.h"
#include "keypath.h"
#include "value.h"
#include "xmalloc.h"

/* A document of at most this many bytes is read whole, parsed whole
 * and sent in one batch, as any objd takes it. A larger one is read
 * member by member (json-members.h) and sent in pieces that objd
 * applies as one change (objd.proto, Batch): objctl's memory then
 * depends on the size of a piece, not of the document. */
#define LOAD_WHOLE_MAX (1024 * 1024)

/* A piece goes to objd once its keys and values take this many bytes:
 * small enough that objd decodes it inside the arena it keeps for a
 * request, which a piece eight times larger overflowed into a malloc
 * and a free for each of its fields (a fourth of objd's instructions
 * for a load, by callgrind). */
#define LOAD_PIECE_BYTES (8 * 1024)

/* Pieces sent and not answered yet, at most: objd stages them while
 * objctl reads on, and objctl never waits for one piece at a time. */
#define LOAD_IN_FLIGHT 32

/* Opens FILE, or stdin for "-"; -1 with the reason printed. */
int
ctl_load_open(const char *name)
{
	int fd;

	if (strcmp(name, "-") == 0)
		return STDIN_FILENO;
	if ((fd = open(name, O_RDONLY | O_CLOEXEC)) == -1)
		ctl_err(CTL_USAGE, "cannot read %s: %s", name, strerror(errno));
	return fd;
}

/* Reads fd into *buf until it holds more than max bytes or the file
 * ends (*eof); false with the reason printed. */
bool
ctl_read_upto(int fd, const char *name, size_t max, char **buf, size_t *len,
    size_t *cap, bool *eof)
{
	ssize_t r = 0;

	*cap = 65536;
	*len = 0;
	*eof = false;
	*buf = xmalloc(*cap);
	while (*len <= max) {
		if (*len == *cap) {
			*buf = xreallocarray(*buf, 2, *cap);
			*cap *= 2;
		}
		r = read(fd, *buf + *len, *cap - *len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	if (r == -1) {
		ctl_err(CTL_USAGE, "cannot read %s: %s", name, strerror(errno));
		free(*buf);
		return false;
	}
	*eof = r == 0;
	return true;
}

/* Checks a top-level key of the document; false with the reason
 * printed. */
static bool
ctl_load_key(const char *name, const char *key, size_t len)
{
	char err[512], *shown;

	if (key_valid(key, len, err, sizeof(err)))
		return true;
	shown = ctl_escape(key, false);
	ctl_err(CTL_USAGE, "%s: invalid key \"%s\": %s; nothing was loaded",
	    name, shown, err);
	free(shown);
	return false;
}

/* Parses a whole document for load: a JSON object of valid keys. NULL
 * with the reason printed (exit 2). */
static Objd__Value *
ctl_load_document(const char *name, const char *text, size_t len)
{
	Objd__Value *doc;
	char err[512];

	doc = json_to_value(text, len, err, sizeof(err));
	if (doc == NULL) {
		ctl_err(CTL_USAGE, "%s: %s; nothing was loaded", name, err);
		return NULL;
	}
	if (doc->kind_case != OBJD__VALUE__KIND_MAP_VALUE) {
		ctl_err(CTL_USAGE,
		    "%s: the document is %s %s, not a JSON object of keys "
		    "and values; nothing was loaded",
		    name, strchr("ai", value_type_name(doc)[0]) ? "an" : "a",
		    value_type_name(doc));
		value_free(doc);
		return NULL;
	}
	for (size_t i = 0; i < doc->map_value->n_fields; i++) {
		const char *key = doc->map_value->fields[i]->key;

		if (!ctl_load_key(name, key, strlen(key))) {
			value_free(doc);
			return NULL;
		}
	}
	return doc;
}

/* Loads a document read whole, in one batch. */
static int
ctl_load_whole(struct ctl *ctl, const char *name, const char *text, size_t len)
{
	Objd__Value *doc;
	Objd__MapValue *m;
	objd_op *ops;
	char **keys;
	int status;

	if ((doc = ctl_load_document(name, text, len)) == NULL)
		return CTL_USAGE;
	m = doc->map_value;
	ops = xcalloc(m->n_fields, sizeof(*ops));
	keys = xcalloc(m->n_fields, sizeof(*keys));
	/* The document's keys are top-level keys: as paths, escaped. */
	for (size_t i = 0; i < m->n_fields; i++) {
		keys[i] = keypath_escape(m->fields[i]->key,
		    strlen(m->fields[i]->key));
		ops[i].key = keys[i];
		ops[i].value = m->fields[i]->value;
	}
	if ((status = ctl_connect(ctl)) == OBJD_OK) {
		status = objd_batch(ctl->client, ops, m->n_fields, NULL, 0,
		    !ctl->merge);
		if (status != OBJD_OK)
			ctl_write_failed(ctl, status);
		else
			ctl_written(ctl);
	}
	ctl_free_strs(keys, m->n_fields);
	free(ops);
	value_free(doc);
	return status;
}

/* The sets of one piece of a load, as the wire wants them. */
struct load_piece {
	Objd__Operation *ops;
	Objd__Operation **ptrs;
	Objd__Entry *entries;
	size_t n, cap;
	size_t bytes;     /* of its keys and values, packed */
	size_t in_flight; /* pieces sent and not answered */
};

/* Adds a set of key (escaped as a path, and taken) to value. */
static void
ctl_piece_add(struct load_piece *p, char *key, Objd__Value *value)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1024;
		p->ops = xreallocarray(p->ops, p->cap, sizeof(*p->ops));
		p->ptrs = xreallocarray(p->ptrs, p->cap, sizeof(*p->ptrs));
		p->entries =
		    xreallocarray(p->entries, p->cap, sizeof(*p->entries));
	}
	objd__entry__init(&p->entries[p->n]);
	p->entries[p->n].key = key;
	p->entries[p->n].value = value;
	p->bytes += strlen(key) + value_packed_size(value);
	p->n++;
}

/* Empties p, freeing its keys and values. */
static void
ctl_piece_clear(struct load_piece *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->entries[i].key);
		value_free(p->entries[i].value);
	}
	p->n = 0;
	p->bytes = 0;
}

static void
ctl_piece_free(struct load_piece *p)
{
	ctl_piece_clear(p);
	free(p->ops);
	free(p->ptrs);
	free(p->entries);
}

/* Waits for answers until at most left pieces are unanswered; a status
 * other than OK is reported and returned. */
static int
ctl_piece_answers(struct ctl *ctl, struct load_piece *p, size_t left)
{
	Objd__Response *resp;
	int status;

	while (p->in_flight > left) {
		status = objd_receive(ctl->client, &resp);
		objd_response_free(resp);
		p->in_flight--;
		if (status != OBJD_OK)
			return ctl_write_failed(ctl, status);
	}
	return OBJD_OK;
}

/* Sends p's sets: staged, or with last as the batch that ends the load
 * and applies every piece. */
static int
ctl_piece_send(struct ctl *ctl, struct load_piece *p, bool last)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	int status;

	for (size_t i = 0; i < p->n; i++) {
		objd__operation__init(&p->ops[i]);
		p->ops[i].op_case = OBJD__OPERATION__OP_SET;
		p->ops[i].set = &p->entries[i];
		p->ptrs[i] = &p->ops[i];
	}
	batch.n_operations = p->n;
	batch.operations = p->ptrs;
	if (last) {
		batch.replace = !ctl->merge;
		req.op_case = OBJD__REQUEST__OP_BATCH;
		req.batch = &batch;
	} else {
		req.op_case = OBJD__REQUEST__OP_STAGE;
		req.stage = &batch;
	}
	status = objd_send(ctl->client, &req);
	ctl_piece_clear(p);
	if (status != OBJD_OK)
		return ctl_write_failed(ctl, status);
	p->in_flight++;
	return ctl_piece_answers(ctl, p, last ? 0 : LOAD_IN_FLIGHT);
}

/* Loads a document too large to read whole: member by member, in
 * pieces. objd applies nothing until the last piece, so a failure on
 * the way (a bad member, objctl killed) leaves the object as it was. */
static int
ctl_load_stream(struct ctl *ctl, const char *name, int fd, char *buf,
    size_t len, size_t cap)
{
	struct json_members *jm = json_members_open(fd, buf, len, cap);
	struct load_piece p = { 0 };
	Objd__Value *value;
	size_t keylen;
	char err[1024], *key;
	int status, r;

	if ((status = ctl_connect(ctl)) != OBJD_OK) {
		json_members_close(jm);
		return status;
	}
	while (status == OBJD_OK) {
		r = json_members_next(jm, &key, &keylen, &value, err,
		    sizeof(err));
		if (r == -1) {
			status = ctl_err(CTL_USAGE,
			    "%s: %s; nothing was loaded", name, err);
			break;
		}
		if (r == 0) {
			status = ctl_piece_send(ctl, &p, true);
			if (status == OBJD_OK)
				ctl_written(ctl);
			break;
		}
		if (!ctl_load_key(name, key, keylen)) {
			free(key);
			value_free(value);
			status = CTL_USAGE;
			break;
		}
		ctl_piece_add(&p, keypath_escape(key, keylen), value);
		free(key);
		if (p.bytes >= LOAD_PIECE_BYTES)
			status = ctl_piece_send(ctl, &p, false);
	}
	ctl_piece_free(&p);
	json_members_close(jm);
	return status;
}

int
cmd_load(struct ctl *ctl, int argc, char **argv)
{
	const char *name = argc > 0 ? argv[0] : "-";
	size_t len, cap;
	char *buf;
	bool eof;
	int fd, status;

	if ((fd = ctl_load_open(name)) == -1)
		return CTL_USAGE;
	if (!ctl_read_upto(fd,
	        strcmp(name, "-") == 0 ? "the standard input" : name,
	        LOAD_WHOLE_MAX, &buf, &len, &cap, &eof)) {
		if (fd != STDIN_FILENO)
			close(fd);
		return CTL_USAGE;
	}
	if (strcmp(name, "-") == 0)
		name = "the standard input";
	if (eof) {
		status = ctl_load_whole(ctl, name, buf, len);
		free(buf);
	} else
		status = ctl_load_stream(ctl, name, fd, buf, len, cap);
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}
