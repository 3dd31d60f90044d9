/* SPDX-License-Identifier: ISC */
/* libobjd-internal.h: what libobjd.c, libobjd-calls.c and libobjd-async.c
 * share, and nothing a program sees: this header is not installed, and
 * the library exports only objd_ names. */
#ifndef OBJD_LIBOBJD_INTERNAL_H
#define OBJD_LIBOBJD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "objd-client.h"

/* libobjd.c: the connection; only it touches struct objd_client. */
/* Whether status is one that this library knows objd to answer. */
bool libobjd_status_known(int status);
/* Writes why a connect to path failed with error (an errno) into err,
 * if not NULL; returns OBJD_DENIED or OBJD_UNREACHABLE. */
int libobjd_connect_error(const char *path, int error, double timeout,
    char *err, size_t errlen);
/* Sets what objd_client_error() says of the last call. */
void client_fail(objd_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Whether reads ask objd for a consistent answer, as set with
 * objd_client_set_consistent(). */
bool client_consistent(const objd_client *c);

/* libobjd-calls.c: the typed calls, on objd_call(). */
/* OBJD_OK if every entry of resp has a key and a valid value; else
 * OBJD_FAILED, with the error set. */
int client_check_entries(objd_client *c, Objd__Response *resp);

#endif
