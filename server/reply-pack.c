/* SPDX-License-Identifier: ISC */
/* reply-pack.c: the bytes of answers, packed by hand where protobuf-c
 * would be slow.
 *
 * Stored values are already encoded objd.Value bytes, so the entries of
 * a get are appended to the packed header as they are: protobuf
 * concatenates repeated fields, and the result is one valid Response. */
#include <string.h>

#include "framing.h"
#include "objd.h"

#define RESPONSE_FIELD_ID 1
#define RESPONSE_FIELD_STATUS 2
#define RESPONSE_FIELD_ERROR 3
#define RESPONSE_FIELD_REVISION 4
#define RESPONSE_FIELD_ENTRIES 5
#define RESPONSE_FIELD_EVENTS 8

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
	size_t n = 1 + varint_size(it->keylen) + it->keylen;

	if (it->val != NULL)
		n += 1 + varint_size(it->vallen) + it->vallen;
	if (it->revision != 0)
		n += 1 + varint_size(it->revision);
	if (event && it->type != 0)
		n += 1 + varint_size(it->type);
	if (!event && it->ttl_ms != 0)
		n += 1 + varint_size(it->ttl_ms);
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
	if (it->ttl_ms != 0) {
		*p++ = 4 << 3;
		p = put_varint(p, it->ttl_ms);
	}
	return p;
}

/* Most answers carry only an id, a status, an error and a revision.
 * protobuf-c would walk every field of Response twice, to size and then
 * to pack them; these four it takes a few stores to write by hand, in
 * the bytes protobuf-c writes (proto3: a zero or empty field is left
 * out). Anything else set goes through protobuf-c. */
static bool
reply_header_plain(const Objd__Response *r)
{
	return r->n_entries == 0 && r->n_keys == 0 && r->info == NULL &&
	    r->n_events == 0 && r->n_versions == 0 &&
	    r->base.n_unknown_fields == 0;
}

static bool
reply_has_error(const Objd__Response *r)
{
	return r->error != NULL && r->error[0] != '\0';
}

size_t
reply_header_size(const Objd__Response *r)
{
	size_t n = 0, len;

	if (!reply_header_plain(r))
		return objd__response__get_packed_size(r);
	if (r->id != 0)
		n += 1 + varint_size(r->id);
	/* An enum is an int32: a negative one takes ten bytes. */
	if (r->status != 0)
		n += 1 + varint_size((uint64_t)(int64_t)(int32_t)r->status);
	if (reply_has_error(r)) {
		len = strlen(r->error);
		n += 1 + varint_size(len) + len;
	}
	if (r->revision != 0)
		n += 1 + varint_size(r->revision);
	return n;
}

size_t
reply_header_pack(const Objd__Response *r, uint8_t *out)
{
	uint8_t *p = out;

	if (!reply_header_plain(r))
		return objd__response__pack(r, out);
	if (r->id != 0) {
		*p++ = RESPONSE_FIELD_ID << 3;
		p = put_varint(p, r->id);
	}
	if (r->status != 0) {
		*p++ = RESPONSE_FIELD_STATUS << 3;
		p = put_varint(p, (uint64_t)(int64_t)(int32_t)r->status);
	}
	if (reply_has_error(r))
		p = put_bytes(p, RESPONSE_FIELD_ERROR, r->error,
		    strlen(r->error));
	if (r->revision != 0) {
		*p++ = RESPONSE_FIELD_REVISION << 3;
		p = put_varint(p, r->revision);
	}
	return (size_t)(p - out);
}

size_t
reply_item_size(const struct reply_item *it, bool event)
{
	size_t len = item_body_len(it, event);

	return 1 + varint_size(len) + len;
}

uint8_t *
reply_item_pack(uint8_t *p, const struct reply_item *it, bool event)
{
	return put_item(p, it, event);
}
