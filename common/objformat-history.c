/* SPDX-License-Identifier: ISC */
/* objformat-history.c: the history's records in an object file, as
 * objd's loader and objctl's reader of a file take them: a key's
 * versions, the time of the changes that follow, and a snapshot's list
 * of commit times (objd-file(5), proto/objd.proto). The rest of the
 * file's byte layout is objformat.c's. */
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "objd.pb-c.h"
#include "objformat.h"
#include "xmalloc.h"

/* Reads one Version of a record into v. */
static int
read_version(const uint8_t *buf, size_t len, struct objformat_version *v)
{
	size_t pos = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	memset(v, 0, sizeof(*v));
	while (pos < len) {
		if (objfile_read_field(buf, len, &pos, &number, &wire, &n) ==
		    -1)
			return -1;
		if (pb_tag(number, wire) == PBW_VERSION_REVISION_TAG)
			v->revision = n;
		else if (pb_tag(number, wire) == PBW_VERSION_TIME_TAG)
			v->time = (int64_t)n;
		else if (pb_tag(number, wire) == PBW_VERSION_WHAT_TAG)
			v->what = (unsigned)n;
		else if (pb_tag(number, wire) == PBW_VERSION_VALUE_TAG) {
			v->val = buf + pos;
			v->vallen = (size_t)n;
		}
		if (wire != PB_WIRE_VARINT)
			pos += (size_t)n;
	}
	if (v->what == OBJD__VERSION__WHAT__SET)
		return v->val != NULL ? 0 : -1;
	return v->what == OBJD__VERSION__WHAT__DELETE ||
	        v->what == OBJD__VERSION__WHAT__EXPIRE
	    ? 0
	    : -1;
}

int
objformat_read_record(const uint8_t *p, size_t len, struct objformat_record *r)
{
	size_t pos = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	r->key = "";
	r->keylen = 0;
	r->time = 0;
	r->truncated = false;
	r->expire = false;
	r->nversions = 0;
	while (pos < len) {
		if (objfile_read_field(p, len, &pos, &number, &wire, &n) == -1)
			return -1;
		if (pb_tag(number, wire) == PBW_RECORD_KEY_TAG) {
			r->key = (const char *)p + pos;
			r->keylen = (size_t)n;
		} else if (pb_tag(number, wire) == PBW_RECORD_VERSIONS_TAG) {
			if (r->nversions == r->capversions) {
				r->capversions =
				    r->capversions ? r->capversions * 2 : 16;
				r->versions = xreallocarray(r->versions,
				    r->capversions, sizeof(*r->versions));
			}
			if (read_version(p + pos, (size_t)n,
			        &r->versions[r->nversions++]) == -1)
				return -1;
		} else if (pb_tag(number, wire) == PBW_RECORD_TIME_TAG)
			r->time = (int64_t)n;
		else if (pb_tag(number, wire) == PBW_RECORD_TRUNCATED_TAG)
			r->truncated = n != 0;
		else if (pb_tag(number, wire) == PBW_RECORD_EXPIRE_TAG)
			r->expire = n != 0;
		if (wire != PB_WIRE_VARINT)
			pos += (size_t)n;
	}
	return 0;
}

/* Reads the packed varints of a list of commit times into *out. */
static int
read_packed(const uint8_t *p, size_t len, uint64_t **out, size_t *n)
{
	size_t pos = 0, cap = 0;
	uint64_t v;
	int used;

	free(*out);
	*out = NULL;
	*n = 0;
	while (pos < len) {
		if ((used = varint_decode(p + pos, len - pos, &v)) <= 0)
			return -1;
		pos += (size_t)used;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		(*out)[(*n)++] = v;
	}
	return 0;
}

int
objformat_read_times(const uint8_t *p, size_t len, struct objformat_times *t)
{
	size_t pos = 0, nrevs = 0, ntimes = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	memset(t, 0, sizeof(*t));
	while (pos < len) {
		if (objfile_read_field(p, len, &pos, &number, &wire, &n) == -1)
			return -1;
		if (pb_tag(number, wire) == PBW_TIMES_KNOWN_SINCE_TAG)
			t->known_since = n;
		else if (pb_tag(number, wire) == PBW_TIMES_REVISIONS_TAG) {
			if (read_packed(p + pos, (size_t)n, &t->revisions,
			        &nrevs) == -1)
				return -1;
		} else if (pb_tag(number, wire) == PBW_TIMES_TIMES_TAG) {
			if (read_packed(p + pos, (size_t)n, &t->times,
			        &ntimes) == -1)
				return -1;
		}
		if (wire != PB_WIRE_VARINT)
			pos += (size_t)n;
	}
	t->n = nrevs;
	return nrevs == ntimes ? 0 : -1;
}
