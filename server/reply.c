/* reply.c: answers as frames on a client's output.
 *
 * Each answer is packed straight into space reserved in the output
 * buffer. Stored values are already encoded objd.Value bytes, so the
 * entries of a get are appended to the packed header by hand: protobuf
 * concatenates repeated fields, and the result is one valid Response. */
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

#define RESPONSE_FIELD_ENTRIES 5
#define RESPONSE_FIELD_EVENTS 8

static size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	return p + varint_encode(p, v);
}

/* An Entry (key 1, value 2, revision 3) or an Event (type 1, revision 2,
 * key 3, value 4): both are a key, encoded value bytes and a revision. */
static size_t
item_body_len(const struct reply_item *it, bool event)
{
	size_t n = 1 + varint_len(it->keylen) + it->keylen;

	if (it->val != NULL)
		n += 1 + varint_len(it->vallen) + it->vallen;
	if (it->revision != 0)
		n += 1 + varint_len(it->revision);
	if (event && it->type != 0)
		n += 1 + varint_len(it->type);
	return n;
}

static uint8_t *
put_bytes(uint8_t *p, unsigned field, const void *data, size_t len)
{
	*p++ = (uint8_t)((field << 3) | 2);
	p = put_varint(p, len);
	memcpy(p, data, len);
	return p + len;
}

static uint8_t *
put_item(uint8_t *p, const struct reply_item *it, bool event)
{
	*p++ = event ? (RESPONSE_FIELD_EVENTS << 3) | 2
		     : (RESPONSE_FIELD_ENTRIES << 3) | 2;
	p = put_varint(p, item_body_len(it, event));
	if (event) {
		if (it->type != 0) {
			*p++ = 1 << 3;
			p = put_varint(p, it->type);
		}
		if (it->revision != 0) {
			*p++ = 2 << 3;
			p = put_varint(p, it->revision);
		}
		p = put_bytes(p, 3, it->key, it->keylen);
		if (it->val != NULL)
			p = put_bytes(p, 4, it->val, it->vallen);
		return p;
	}
	p = put_bytes(p, 1, it->key, it->keylen);
	if (it->val != NULL)
		p = put_bytes(p, 2, it->val, it->vallen);
	if (it->revision != 0) {
		*p++ = 3 << 3;
		p = put_varint(p, it->revision);
	}
	return p;
}

/* Packs resp followed by the given entries or events as one frame. */
static void
reply_send(struct conn *c, const Objd__Response *resp,
    const struct reply_item *items, size_t n, bool events)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t body = objd__response__get_packed_size(resp);
	struct evbuffer_iovec iov;
	uint8_t *p;

	if (c->gone)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t len = item_body_len(&items[i], events);

		body += 1 + varint_len(len) + len;
	}
	if (evbuffer_reserve_space(out, (ev_ssize_t)(body + VARINT_MAX_LEN),
		&iov, 1) != 1) {
		log_warnx("client %llu: cannot buffer an answer of %zu bytes",
		    (unsigned long long)c->serial, body);
		conn_fail(c, "answer too large to buffer");
		return;
	}
	p = put_varint(iov.iov_base, body);
	p += objd__response__pack(resp, p);
	for (size_t i = 0; i < n; i++)
		p = put_item(p, &items[i], events);
	iov.iov_len = (size_t)(p - (uint8_t *)iov.iov_base);
	evbuffer_commit_space(out, &iov, 1);
	conn_output_added(c);
}

void
reply_item_from_entry(struct reply_item *it, const struct store_entry *e)
{
	it->key = e->data;
	it->keylen = e->keylen;
	it->val = STORE_ENTRY_VALUE(e);
	it->vallen = e->vallen;
	it->revision = e->revision;
	it->type = 0;
}

void
reply_result(struct conn *c, uint64_t id, Objd__Status status,
    const char *error, uint64_t revision)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;

	resp.id = id;
	resp.status = status;
	resp.revision = revision;
	if (error != NULL)
		resp.error = (char *)error;
	reply_send(c, &resp, NULL, 0, false);
}

void
reply_status(
    struct conn *c, uint64_t id, Objd__Status status, const char *error)
{
	reply_result(c, id, status, error, store_revision(server.store));
}

void
reply_entries(struct conn *c, uint64_t id, Objd__Status status,
    const char *error, const struct reply_item *items, size_t n)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;

	resp.id = id;
	resp.status = status;
	resp.revision = store_revision(server.store);
	if (error != NULL)
		resp.error = (char *)error;
	reply_send(c, &resp, items, n, false);
}

void
reply_events(struct conn *c, uint64_t id, uint64_t revision,
    const struct reply_item *items, size_t n)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;

	resp.id = id;
	resp.revision = revision;
	reply_send(c, &resp, items, n, true);
}

void
reply_keys(
    struct conn *c, uint64_t id, struct store_entry *const *entries, size_t n)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;
	char **keys = xreallocarray(NULL, n, sizeof(*keys));

	for (size_t i = 0; i < n; i++)
		keys[i] = entries[i]->data;
	resp.id = id;
	resp.revision = store_revision(server.store);
	resp.n_keys = n;
	resp.keys = keys;
	reply_send(c, &resp, NULL, 0, false);
	free(keys);
}

void
reply_info(struct conn *c, uint64_t id, Objd__StatusInfo *info)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;

	resp.id = id;
	resp.revision = store_revision(server.store);
	resp.info = info;
	reply_send(c, &resp, NULL, 0, false);
}
