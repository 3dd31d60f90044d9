/* SPDX-License-Identifier: ISC */
/* json-members.h: the members of a JSON object, read one at a time from
 * a file, so that a document need not fit in memory (objctl load).
 *
 * Each member's value is parsed as json_to_value parses a whole
 * document (json.h); the object around them is scanned here. A name
 * that comes twice is not noticed: that takes every name in memory. */
#ifndef OBJD_JSON_MEMBERS_H
#define OBJD_JSON_MEMBERS_H

#include <stddef.h>

#include "objd.pb-c.h"

struct json_members;

/* Reads the object in fd, whose first len bytes were read into buf
 * already: the reader takes buf, of cap bytes, from xmalloc. */
struct json_members *json_members_open(int fd, char *buf, size_t len,
    size_t cap);
/* The next member: 1 with its name (from xmalloc, NUL-terminated) and
 * value; 0 once the object and the text have ended; -1 with the reason,
 * and where, in err. */
int json_members_next(struct json_members *m, char **key, size_t *keylen,
    Objd__Value **value, char *err, size_t errlen);
/* Closes the reader, not fd. */
void json_members_close(struct json_members *m);

#endif
