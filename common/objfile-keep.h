/* SPDX-License-Identifier: ISC */
/* objfile-keep.h: keeping the bytes cut from an object file's torn end
 * beside it, for objd at start and objctl's offline repair: the one
 * piece of the file's handling outside server/ that writes a file. */
#ifndef OBJD_OBJFILE_KEEP_H
#define OBJD_OBJFILE_KEEP_H

#include <stddef.h>
#include <stdint.h>

/* Keeps buf[0..len), a tail cut from the file at path, beside it as
 * path.torn-TIME (or .torn-TIME.N: a name no other file has), synced.
 * Returns the new file's name (free it), or NULL with err set. */
char *objfile_keep_tail(const char *path, const uint8_t *buf, size_t len,
    char *err, size_t errlen);

#endif
