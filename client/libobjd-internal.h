/* SPDX-License-Identifier: ISC */
/* libobjd-internal.h: what libobjd.c and libobjd-async.c share, and
 * nothing a program sees (the library exports only objd_ names). */
#ifndef OBJD_LIBOBJD_INTERNAL_H
#define OBJD_LIBOBJD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether status is one that this library knows objd to answer. */
bool libobjd_status_known(int status);
/* Writes why a connect to path failed with error (an errno) into err,
 * if not NULL; returns OBJD_DENIED or OBJD_UNREACHABLE. */
int libobjd_connect_error(const char *path, int error, double timeout,
    char *err, size_t errlen);

#endif
