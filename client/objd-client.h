/* objd-client.h: libobjd, a small blocking client for objd.
 *
 * One objd_client is one connection. Calls send one Request and wait for
 * its Response; they are not thread-safe on one client. Every call returns
 * an objd_status: OBJD_OK, the status objd answered with, or a local
 * failure (OBJD_UNREACHABLE). The numbers are objctl's exit codes.
 * objd_client_error() describes the last failure in words. */
#ifndef OBJD_CLIENT_H
#define OBJD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "objd.pb-c.h"

enum objd_status {
	OBJD_OK = 0,
	OBJD_NOT_FOUND = 1, /* a key does not exist */
	OBJD_INVALID = 2, /* a malformed request or value */
	OBJD_UNREACHABLE = 3, /* objd cannot be reached, or went away */
	OBJD_CONFLICT = 4, /* a condition failed */
	OBJD_DENIED = 5, /* permission denied */
	OBJD_FAILED = 6 /* objd could not do it, or answered nonsense */
};

typedef struct objd_client objd_client;

/* Connects to objd at socket_path, or at the default socket (see
 * paths.h) when it is NULL. timeout bounds each call in seconds; 0 means
 * no bound. Returns OBJD_OK, OBJD_UNREACHABLE, or OBJD_INVALID for a
 * negative timeout. On failure *out is NULL and, if err is not NULL, the
 * reason is written there. */
int objd_connect(const char *socket_path, double timeout, objd_client **out,
    char *err, size_t errlen);
/* Closes the connection and frees the client. NULL is allowed. */
void objd_close(objd_client *c);
/* The socket path the client connected to. */
const char *objd_client_socket(const objd_client *c);
/* Describes the last failure on c: objd's error text or a local reason. */
const char *objd_client_error(const objd_client *c);
/* The object's revision in the last answer from objd: after a write, the
 * revision it committed (or the current one if it changed nothing). */
uint64_t objd_client_revision(const objd_client *c);
/* A short description of a status code. */
const char *objd_strerror(int status);

/* Sends req (its id is set by the call) and waits for the answer. On
 * OBJD_OK or any status objd answered, *resp holds the Response, to be
 * freed with objd_response_free(); on a local failure it is NULL. */
int objd_call(objd_client *c, Objd__Request *req, Objd__Response **resp);
void objd_response_free(Objd__Response *resp);

/* Reads one key. *value is freed with value_free() (value.h). */
int objd_get(objd_client *c, const char *key, Objd__Value **value);
/* Reads the whole object; resp->entries holds every key, sorted. */
int objd_get_all(objd_client *c, Objd__Response **resp);
/* Writes n keys in one atomic change. */
int objd_set(objd_client *c, const char *const *keys,
    const Objd__Value *const *values, size_t n);
/* Deletes n keys in one atomic change. */
int objd_delete(objd_client *c, const char *const *keys, size_t n);
/* Lists keys starting with prefix (NULL or "" for all); resp->keys. */
int objd_list(objd_client *c, const char *prefix, Objd__Response **resp);
/* Checks that objd answers. */
int objd_ping(objd_client *c);
/* objd's state; resp->info. */
int objd_status(objd_client *c, Objd__Response **resp);
/* Asks objd to load its file now. */
int objd_reload(objd_client *c);

#endif
