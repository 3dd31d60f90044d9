/* SPDX-License-Identifier: ISC */
/* pbcheck.c: an iterative, descriptor-guided walk over protobuf bytes. */
#include <stdio.h>

#include "framing.h"
#include "objd.pb-c.h"
#include "pbcheck.h"
#include "utf8.h"

/* Each value level costs at most three messages (Value, MapValue and its
 * entry), plus a few for the envelope around the outermost value. */
#define PBCHECK_STACK_MAX (VALUE_DEPTH_MAX * 3 + 8)

struct pbcheck_frame {
	const ProtobufCMessageDescriptor *desc;
	size_t end;
};

static bool
pbcheck_fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return false;
}

bool
pbcheck(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
    char *err, size_t errlen)
{
	struct pbcheck_frame stack[PBCHECK_STACK_MAX];
	const ProtobufCMessageDescriptor *value_desc = &objd__value__descriptor;
	const ProtobufCFieldDescriptor *fd;
	size_t sp = 0, pos = 0;
	unsigned values = desc == value_desc ? 1 : 0;
	uint64_t tag, n;
	int used;

	stack[sp++] = (struct pbcheck_frame){ desc, len };
	while (sp > 0) {
		struct pbcheck_frame *top = &stack[sp - 1];

		if (pos == top->end) {
			if (top->desc == value_desc)
				values--;
			sp--;
			continue;
		}
		used = varint_decode(buf + pos, top->end - pos, &tag);
		if (used <= 0 || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
			return pbcheck_fail(err, errlen, "malformed message");
		pos += (size_t)used;
		switch (tag & 7) {
		case 0: /* varint */
			used = varint_decode(buf + pos, top->end - pos, &n);
			if (used <= 0)
				return pbcheck_fail(err, errlen,
				    "malformed message");
			pos += (size_t)used;
			break;
		case 1: /* 64-bit */
		case 5: /* 32-bit */
			n = (tag & 7) == 1 ? 8 : 4;
			if (top->end - pos < n)
				return pbcheck_fail(err, errlen,
				    "malformed message");
			pos += n;
			break;
		case 2: /* length-delimited */
			used = varint_decode(buf + pos, top->end - pos, &n);
			if (used <= 0 || n > top->end - pos - (size_t)used)
				return pbcheck_fail(err, errlen,
				    "malformed message");
			pos += (size_t)used;
			fd = protobuf_c_message_descriptor_get_field(top->desc,
			    (unsigned)(tag >> 3));
			if (fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
				const ProtobufCMessageDescriptor *sub =
				    fd->descriptor;

				if (sub == value_desc &&
				    ++values > VALUE_DEPTH_MAX)
					return pbcheck_fail(err, errlen,
					    "value nested deeper than 64 "
					    "levels");
				if (sp == PBCHECK_STACK_MAX)
					return pbcheck_fail(err, errlen,
					    "message nested too deep");
				stack[sp++] = (struct pbcheck_frame){ sub,
					pos + (size_t)n };
				break;
			}
			if (fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING &&
			    !utf8_valid((const char *)buf + pos, (size_t)n))
				return pbcheck_fail(err, errlen,
				    "string is not valid UTF-8 or holds a NUL "
				    "byte");
			pos += (size_t)n;
			break;
		default: /* groups are not used by objd */
			return pbcheck_fail(err, errlen, "malformed message");
		}
	}
	return true;
}
