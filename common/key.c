/* SPDX-License-Identifier: ISC */
/* key.c: key validation, one rule for objd and objctl. */
#include <stdio.h>

#include "key.h"
#include "utf8.h"

bool
key_valid(const char *key, size_t len, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "a key cannot be empty");
		return false;
	}
	if (len > KEY_MAX_LEN) {
		snprintf(err, errlen, "a key is at most %d bytes, not %zu",
		    KEY_MAX_LEN, len);
		return false;
	}
	if (!utf8_valid(key, len)) {
		snprintf(err, errlen,
		    "a key must be UTF-8 text without NUL bytes");
		return false;
	}
	return true;
}
