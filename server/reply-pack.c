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
#include "pbwire.h"

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	return p + varint_encode(p, v);
}

/* An Entry or an Event: both are a key, encoded value bytes and a
 * revision; an Entry may have a time to live, an Event has a type. */
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

/* A length-delimited field whose tag is tag. */
static uint8_t *
put_bytes(uint8_t *p, uint8_t tag, const void *data, size_t len)
{
	*p++ = tag;
	p = put_varint(p, len);
	memcpy(p, data, len);
	return p + len;
}

static uint8_t *
put_item(uint8_t *p, const struct reply_item *it, bool event)
{
	*p++ = event ? PBW_RESPONSE_EVENTS_TAG : PBW_RESPONSE_ENTRIES_TAG;
	p = put_varint(p, item_body_len(it, event));
	if (event) {
		if (it->type != 0) {
			*p++ = PBW_EVENT_TYPE_TAG;
			p = put_varint(p, it->type);
		}
		if (it->revision != 0) {
			*p++ = PBW_EVENT_REVISION_TAG;
			p = put_varint(p, it->revision);
		}
		p = put_bytes(p, PBW_EVENT_KEY_TAG, it->key, it->keylen);
		if (it->val != NULL)
			p = put_bytes(p, PBW_EVENT_VALUE_TAG, it->val,
			    it->vallen);
		return p;
	}
	p = put_bytes(p, PBW_ENTRY_KEY_TAG, it->key, it->keylen);
	if (it->val != NULL)
		p = put_bytes(p, PBW_ENTRY_VALUE_TAG, it->val, it->vallen);
	if (it->revision != 0) {
		*p++ = PBW_ENTRY_REVISION_TAG;
		p = put_varint(p, it->revision);
	}
	if (it->ttl_ms != 0) {
		*p++ = PBW_ENTRY_TTL_MS_TAG;
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
		*p++ = PBW_RESPONSE_ID_TAG;
		p = put_varint(p, r->id);
	}
	if (r->status != 0) {
		*p++ = PBW_RESPONSE_STATUS_TAG;
		p = put_varint(p, (uint64_t)(int64_t)(int32_t)r->status);
	}
	if (reply_has_error(r))
		p = put_bytes(p, PBW_RESPONSE_ERROR_TAG, r->error,
		    strlen(r->error));
	if (r->revision != 0) {
		*p++ = PBW_RESPONSE_REVISION_TAG;
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
