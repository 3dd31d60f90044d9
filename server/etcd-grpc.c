/* SPDX-License-Identifier: ISC */
/* etcd-grpc.c: gRPC's message framing and status trailers.
 *
 * Debian has no C library for gRPC's wire format that suits a libevent
 * program (libgrpc's C core is documented as a private, unstable API,
 * with threads of its own), and the format is small: each message is a 1-byte
 * compressed flag, a 4-byte big-endian length and the protobuf bytes;
 * the status comes as the grpc-status and grpc-message headers, in the
 * trailers (or in the headers of a trailers-only answer). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "xmalloc.h"

uint8_t *
grpc_frame(const ProtobufCMessage *msg, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = xmalloc(n + 5);

	buf[0] = 0;
	buf[1] = (uint8_t)(n >> 24);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = (uint8_t)(n >> 8);
	buf[4] = (uint8_t)n;
	protobuf_c_message_pack(msg, buf + 5);
	*len = n + 5;
	return buf;
}

bool
grpc_reader_feed(struct grpc_reader *r, const void *data, size_t len)
{
	if (len > r->max + 5 || r->len > r->max + 5 - len)
		return false;
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;

		while (cap < r->len + len)
			cap *= 2;
		r->buf = xrealloc(r->buf, cap);
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return true;
}

int
grpc_reader_next(struct grpc_reader *r, const uint8_t **msg, size_t *msglen)
{
	size_t n;

	if (r->len < 5)
		return 0;
	if (r->buf[0] != 0)
		return -1; /* compressed: objd asks for none */
	n = (size_t)r->buf[1] << 24 | (size_t)r->buf[2] << 16 |
	    (size_t)r->buf[3] << 8 | (size_t)r->buf[4];
	if (n > r->max)
		return -1;
	if (r->len < 5 + n)
		return 0;
	*msg = r->buf + 5;
	*msglen = n;
	return 1;
}

void
grpc_reader_consume(struct grpc_reader *r, size_t msglen)
{
	memmove(r->buf, r->buf + 5 + msglen, r->len - 5 - msglen);
	r->len -= 5 + msglen;
}

void
grpc_reader_free(struct grpc_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Header names are case-insensitive; HTTP/2 sends them in lower case. */
static bool
header_is(const char *line, size_t len, const char *name, const char **value,
    size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 &&
	    (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	        line[len - 1] == ' '))
		len--;
	*value = line;
	*vlen = len;
	return true;
}

bool
grpc_header(const char *line, size_t len, int *status, char **message)
{
	const char *v;
	size_t vlen, i, o;
	char *m;

	if (header_is(line, len, "grpc-status", &v, &vlen)) {
		int s = 0;

		if (vlen == 0 || vlen > 4)
			s = 2; /* UNKNOWN: a status that does not parse */
		for (i = 0; i < vlen && s != 2; i++) {
			if (!isdigit((unsigned char)v[i])) {
				s = 2;
				break;
			}
			s = s * 10 + (v[i] - '0');
		}
		*status = s;
		return true;
	}
	if (!header_is(line, len, "grpc-message", &v, &vlen))
		return false;
	/* gRPC percent-encodes the message. */
	m = xmalloc(vlen + 1);
	for (i = 0, o = 0; i < vlen; i++) {
		int hi, lo;

		if (v[i] == '%' && i + 2 < vlen &&
		    (hi = hexval((unsigned char)v[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)v[i + 2])) >= 0) {
			m[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			m[o++] = v[i];
	}
	m[o] = '\0';
	free(*message);
	*message = m;
	return true;
}

uint8_t *
etcd_prefix_end(const void *key, size_t keylen, size_t *endlen)
{
	const uint8_t *k = key;
	uint8_t *end;
	size_t n = keylen;

	while (n > 0 && k[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end = xmalloc(1);
		end[0] = 0;
		*endlen = 1;
		return end;
	}
	end = xmemdup(k, n);
	end[n - 1]++;
	*endlen = n;
	return end;
}
