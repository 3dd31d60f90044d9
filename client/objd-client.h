/* objd-client.h: libobjd, the C client library of objd.
 *
 * Installed as <objd/objd-client.h>, beside the objd.pb-c.h that
 * protoc-c generates from objd.proto; build with pkg-config:
 *
 *	cc prog.c $(pkg-config --cflags --libs libobjd)
 *
 * The model. objd keeps one object: a map from keys (non-empty UTF-8
 * without NUL, at most 4096 bytes) to typed values. A value is an
 * Objd__Value, the C form of the message objd.Value in objd.proto: null,
 * bool, int (int64_t), double, string, bytes, list or map; kind_case says
 * which. The objd_value_new_*() functions build values; objd_value_free()
 * frees them, and the values libobjd hands out.
 *
 * Connections. One objd_client is one connection, and a call sends one
 * request and waits for its answer. Calls are blocking and not
 * thread-safe on one client; use one client per thread. A call that fails
 * locally (objd went away, a timeout) gives up the connection: later
 * calls fail with OBJD_UNREACHABLE, and objd_close() and a new
 * objd_connect() start again. SIGPIPE is never raised.
 *
 * Errors. Every call returns an objd_status: OBJD_OK, the status objd
 * answered with, or OBJD_UNREACHABLE. The numbers are objctl's exit
 * codes. objd_strerror() names a status; objd_client_error() says what
 * went wrong on a client, in objd's words or libobjd's.
 *
 * Memory. Answers (Objd__Response) are freed with objd_response_free(),
 * values with objd_value_free() and strings with free(). libobjd aborts
 * the program if memory runs out, as objd and objctl do.
 *
 * The library exports the objd_ functions declared here and protobuf-c's
 * objd__ functions and descriptors for the messages of objd.proto, and
 * nothing else. */
#ifndef OBJD_CLIENT_H
#define OBJD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Found beside this header, installed or in objd's build tree. */
#include "objd.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* Connecting. */

/* Connects to objd at socket_path or, when it is NULL, at the default
 * socket: $OBJD_SOCKET, else as root /run/objd/objd.sock, else
 * $XDG_RUNTIME_DIR/objd.sock, else /tmp/objd-$UID/objd.sock. timeout
 * bounds each call in seconds; 0 means no bound. Returns OBJD_OK,
 * OBJD_UNREACHABLE, or OBJD_INVALID for a negative timeout. On failure
 * *out is NULL and, if err is not NULL, the reason is written there. */
int objd_connect(const char *socket_path, double timeout, objd_client **out,
    char *err, size_t errlen);
/* Closes the connection and frees the client. NULL is allowed. */
void objd_close(objd_client *c);
/* The default socket's path, as objd_connect() finds it; free() it. */
char *objd_default_socket(void);
/* The socket path the client connected to. */
const char *objd_client_socket(const objd_client *c);
/* Describes the last failure on c: objd's error text or a local reason;
 * "" after a call that succeeded. */
const char *objd_client_error(const objd_client *c);
/* The object's revision in the last answer from objd: after a write, the
 * revision it committed (or the current one if it changed nothing). */
uint64_t objd_client_revision(const objd_client *c);
/* A short description of a status code ("not found"). */
const char *objd_strerror(int status);

/* Requests. Each returns OBJD_OK or why not. */

/* Reads one key: OBJD_NOT_FOUND if it does not exist. On OBJD_OK *value
 * is the value, to be freed with objd_value_free(); otherwise NULL. */
int objd_get(objd_client *c, const char *key, Objd__Value **value);
/* Reads the whole object. On OBJD_OK (*resp)->entries[0 ..
 * (*resp)->n_entries) holds every key (->key) and its value (->value),
 * sorted bytewise by key; free *resp with objd_response_free(). */
int objd_get_all(objd_client *c, Objd__Response **resp);
/* Sets keys[i] to values[i] for i < n in one atomic change: all or
 * nothing. The values stay the caller's. A key appears at most once. */
int objd_set(objd_client *c, const char *const *keys,
    const Objd__Value *const *values, size_t n);
/* Deletes n keys in one atomic change. Like rm(1), the keys that exist
 * go, and OBJD_NOT_FOUND says that one of them did not exist. */
int objd_delete(objd_client *c, const char *const *keys, size_t n);
/* Lists the keys that start with prefix (NULL or "" for all), sorted
 * bytewise, in (*resp)->keys[0 .. (*resp)->n_keys); free *resp with
 * objd_response_free(). */
int objd_list(objd_client *c, const char *prefix, Objd__Response **resp);
/* Checks that objd answers. */
int objd_ping(objd_client *c);
/* objd's state: (*resp)->info holds its pid, uptime, file, socket, the
 * number of keys, the revision and more (objd.StatusInfo); free *resp
 * with objd_response_free(). */
int objd_status(objd_client *c, Objd__Response **resp);
/* Asks objd to load its file now, as SIGHUP does. */
int objd_reload(objd_client *c);
/* Asks objd to rewrite its file with only the live state; returns once
 * the new file is in place. */
int objd_compact(objd_client *c);

/* Any request: sends req (its id is set by the call) and waits for the
 * answer. On OBJD_OK or any status objd answered, *resp holds the
 * Response, to be freed with objd_response_free(); on a local failure it
 * is NULL. The functions above are made of this. */
int objd_call(objd_client *c, Objd__Request *req, Objd__Response **resp);
/* Frees an answer. NULL is allowed. */
void objd_response_free(Objd__Response *resp);

/* Values. Strings and bytes are copied. A string must be UTF-8 without
 * NUL, or objd refuses it with OBJD_INVALID. */

Objd__Value *objd_value_new_null(void);
Objd__Value *objd_value_new_bool(bool b);
Objd__Value *objd_value_new_int(int64_t i);
Objd__Value *objd_value_new_double(double d);
Objd__Value *objd_value_new_string(const char *s);
Objd__Value *objd_value_new_bytes(const void *p, size_t len);
/* An empty list, and an empty map. */
Objd__Value *objd_value_new_list(void);
Objd__Value *objd_value_new_map(void);
/* Appends item to a list; the list takes item over. */
void objd_value_list_append(Objd__Value *list, Objd__Value *item);
/* Adds key = item to a map; the map takes item over. */
void objd_value_map_add(
    Objd__Value *map, const char *key, Objd__Value *item);
/* Frees a value and everything in it. NULL is allowed. */
void objd_value_free(Objd__Value *v);
/* The name of v's type: "null", "bool", "int", "double", "string",
 * "bytes", "list" or "map". */
const char *objd_value_type(const Objd__Value *v);

/* JSON, as objctl prints and reads it: 30 is an int and 30.0 a double,
 * bytes are {"$bytes": "<base64>"}, a double that is not finite is
 * {"$double": "nan" | "inf" | "-inf"}, map members are sorted bytewise.
 * indent 0 gives one line, otherwise each level is indented by that many
 * spaces. The strings returned are freed with free(). */

/* Renders one value. */
char *objd_value_to_json(const Objd__Value *v, int indent);
/* Renders entries (an answer of objd_get_all()) as one JSON object. */
char *objd_entries_to_json(Objd__Entry *const *entries, size_t n, int indent);
/* Parses a JSON document into a new value; NULL with the reason (line
 * and column) in err if it is not valid JSON or holds what objd cannot
 * keep. */
Objd__Value *objd_value_from_json(const char *text, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
