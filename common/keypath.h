/* SPDX-License-Identifier: ISC */
/* keypath.h: key paths. A dot reaches into a nested map; a backslash
 * escapes a dot or a backslash that belongs to a name, so "a\.b" is the
 * top-level key "a.b" and "server.port" the member "port" of the map at
 * "server". */
#ifndef OBJD_KEYPATH_H
#define OBJD_KEYPATH_H

#include <stdbool.h>
#include <stddef.h>

/* The deepest path: values nest at most this deep anyway. */
#define KEYPATH_MAX_PARTS 64

struct keypath {
	size_t n;
	char *parts[KEYPATH_MAX_PARTS];
	size_t lens[KEYPATH_MAX_PARTS];
};

/* True if path has no dot and no backslash: it names a top-level key as
 * it is, and needs no parsing. */
bool keypath_is_plain(const char *path);
/* Splits path into its unescaped parts, each a valid key (key.h). False
 * with the reason in err. Free with keypath_free. */
bool keypath_parse(const char *path, struct keypath *kp, char *err,
    size_t errlen);
void keypath_free(struct keypath *kp);
/* A top-level key written as a path: dots and backslashes escaped. */
char *keypath_escape(const char *key, size_t len);

#endif
