/* SPDX-License-Identifier: ISC */
/* keypath.c: parsing and escaping key paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "keypath.h"
#include "xmalloc.h"

bool
keypath_is_plain(const char *path)
{
	return strpbrk(path, ".\\") == NULL;
}

static bool
keypath_fail(struct keypath *kp, char *err, size_t errlen, const char *why,
    const char *path)
{
	snprintf(err, errlen, "bad key path \"%.200s\": %s", path, why);
	keypath_free(kp);
	return false;
}

bool
keypath_parse(const char *path, struct keypath *kp, char *err, size_t errlen)
{
	size_t len = strlen(path), n = 0;
	char *part = xmalloc(len + 1), why[256];

	memset(kp, 0, sizeof(*kp));
	for (size_t i = 0;; i++) {
		if (i == len || path[i] == '.') {
			if (kp->n == KEYPATH_MAX_PARTS) {
				free(part);
				return keypath_fail(kp, err, errlen,
				    "too many parts", path);
			}
			if (!key_valid(part, n, why, sizeof(why))) {
				free(part);
				return keypath_fail(kp, err, errlen,
				    n == 0 ? "an empty part (escape a dot "
				             "that is part of a name as \\.)"
				           : why,
				    path);
			}
			kp->parts[kp->n] = xstrndup(part, n);
			kp->lens[kp->n++] = n;
			n = 0;
			if (i == len)
				break;
			continue;
		}
		if (path[i] == '\\') {
			if (path[i + 1] != '.' && path[i + 1] != '\\') {
				free(part);
				return keypath_fail(kp, err, errlen,
				    "a backslash escapes only a dot or a "
				    "backslash",
				    path);
			}
			i++;
		}
		part[n++] = path[i];
	}
	free(part);
	return true;
}

void
keypath_free(struct keypath *kp)
{
	for (size_t i = 0; i < kp->n; i++)
		free(kp->parts[i]);
	kp->n = 0;
}

char *
keypath_escape(const char *key, size_t len)
{
	char *out = xmalloc(2 * len + 1), *p = out;

	for (size_t i = 0; i < len; i++) {
		if (key[i] == '.' || key[i] == '\\')
			*p++ = '\\';
		*p++ = key[i];
	}
	*p = '\0';
	return out;
}
