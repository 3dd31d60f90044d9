/* SPDX-License-Identifier: ISC */
/* reply.c: answers as frames on a client's output.
 *
 * Each answer is packed (reply-pack.c) straight into space reserved in
 * the output buffer. */
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

/* Packs the frame of body bytes at p; returns its end. */
static uint8_t *
reply_pack(uint8_t *p, size_t body, const Objd__Response *resp,
    const struct reply_item *items, size_t n, bool events)
{
	p += varint_encode(p, body);
	p += reply_header_pack(resp, p);
	for (size_t i = 0; i < n; i++)
		p = reply_item_pack(p, &items[i], events);
	return p;
}

/* Packs resp followed by the given entries or events as one frame,
 * straight into the room conn-output.c gives for it. */
static void
reply_send(struct conn *c, const Objd__Response *resp,
    const struct reply_item *items, size_t n, bool events)
{
	size_t body = reply_header_size(resp);
	uint8_t *p;

	for (size_t i = 0; i < n; i++)
		body += reply_item_size(&items[i], events);
	/* NULL: c left (the answer is dropped) or was closed for it. */
	if ((p = conn_output_reserve(c, VARINT_MAX_LEN + body)) == NULL)
		return;
	conn_output_commit(c, reply_pack(p, body, resp, items, n, events));
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
	it->ttl_ms = expire_ttl_left(e->data, e->keylen);
}

void
reply_entries_under(struct conn *c, uint64_t id, Objd__Status status,
    const char *prefix, size_t prefixlen)
{
	size_t n;
	struct store_entry **found =
	    store_sorted(server.store, prefix, prefixlen, &n);
	struct reply_item *items = xreallocarray(NULL, n + 1, sizeof(*items));

	for (size_t i = 0; i < n; i++)
		reply_item_from_entry(&items[i], found[i]);
	reply_entries(c, id, status, NULL, items, n);
	free(items);
	free(found);
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
reply_status(struct conn *c, uint64_t id, Objd__Status status,
    const char *error)
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
reply_keys(struct conn *c, uint64_t id, struct store_entry *const *entries,
    size_t n)
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

void
reply_packed(struct conn *c, uint64_t id, const uint8_t *fields, size_t len)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;
	uint8_t head[64], *p = head;

	resp.id = id;
	resp.revision = store_revision(server.store);
	p += varint_encode(p, reply_header_size(&resp) + len);
	p += reply_header_pack(&resp, p);
	(void)conn_output_append(c, head, (size_t)(p - head), fields, len);
}
