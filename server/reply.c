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

static size_t
entry_body_len(const struct store_entry *e)
{
	size_t n = 1 + varint_len(e->keylen) + e->keylen + 1 +
	    varint_len(e->vallen) + e->vallen;

	if (e->revision != 0)
		n += 1 + varint_len(e->revision);
	return n;
}

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	return p + varint_encode(p, v);
}

static uint8_t *
put_entry(uint8_t *p, const struct store_entry *e)
{
	*p++ = (RESPONSE_FIELD_ENTRIES << 3) | 2;
	p = put_varint(p, entry_body_len(e));
	*p++ = (1 << 3) | 2;
	p = put_varint(p, e->keylen);
	memcpy(p, e->data, e->keylen);
	p += e->keylen;
	*p++ = (2 << 3) | 2;
	p = put_varint(p, e->vallen);
	memcpy(p, STORE_ENTRY_VALUE(e), e->vallen);
	p += e->vallen;
	if (e->revision != 0) {
		*p++ = 3 << 3;
		p = put_varint(p, e->revision);
	}
	return p;
}

/* Packs resp followed by the given entries as one frame. */
static void
reply_send(struct conn *c, const Objd__Response *resp,
    struct store_entry *const *entries, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t head = objd__response__get_packed_size(resp), body = head;
	struct evbuffer_iovec iov;
	uint8_t *p;

	if (c->gone)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t len = entry_body_len(entries[i]);

		body += 1 + varint_len(len) + len;
	}
	if (evbuffer_reserve_space(
	        out, (ev_ssize_t)(body + VARINT_MAX_LEN), &iov, 1) != 1) {
		log_warnx("client %llu: cannot buffer an answer of %zu bytes",
		    (unsigned long long)c->serial, body);
		conn_fail(c, "answer too large to buffer");
		return;
	}
	p = put_varint(iov.iov_base, body);
	p += objd__response__pack(resp, p);
	for (size_t i = 0; i < n; i++)
		p = put_entry(p, entries[i]);
	iov.iov_len = (size_t)(p - (uint8_t *)iov.iov_base);
	evbuffer_commit_space(out, &iov, 1);
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
	reply_send(c, &resp, NULL, 0);
}

void
reply_status(
    struct conn *c, uint64_t id, Objd__Status status, const char *error)
{
	reply_result(c, id, status, error, store_revision(server.store));
}

void
reply_entries(struct conn *c, uint64_t id, Objd__Status status,
    const char *error, struct store_entry *const *entries, size_t n)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;

	resp.id = id;
	resp.status = status;
	resp.revision = store_revision(server.store);
	if (error != NULL)
		resp.error = (char *)error;
	reply_send(c, &resp, entries, n);
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
	reply_send(c, &resp, NULL, 0);
	free(keys);
}

void
reply_info(struct conn *c, uint64_t id, Objd__StatusInfo *info)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;

	resp.id = id;
	resp.revision = store_revision(server.store);
	resp.info = info;
	reply_send(c, &resp, NULL, 0);
}
