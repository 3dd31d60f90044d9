/* SPDX-License-Identifier: ISC */
/* objd-client.h: libobjd, the C client library of objd.
 *
 * Installed as <objd/objd-client.h>, beside the objd.pb-c.h that
 * protoc-c generates from objd.proto; build with pkg-config:
 *
 *	cc prog.c $(pkg-config --cflags --libs libobjd)
 *
 * It needs C11 (or C++), for the anonymous unions of objd.pb-c.h.
 *
 * The model. objd keeps one object: a map from keys (non-empty UTF-8
 * without NUL, at most 4096 bytes) to typed values. A value is an
 * Objd__Value, the C form of the message objd.Value in objd.proto: null,
 * bool, int (int64_t), double, string, bytes, list or map; kind_case says
 * which. The objd_value_new_*() functions build values; objd_value_free()
 * frees them, and the values libobjd hands out.
 *
 * Key paths. Every key a request names is a path: a dot reaches into a
 * nested map ("server.port" is the member "port" of the map at the key
 * "server", and setting it creates the map), and a backslash escapes a
 * dot or a backslash that belongs to a name ("a\\.b", in C, is the
 * top-level key "a.b"). Keys that objd hands out (objd_get_all,
 * objd_list, events) are top-level keys as they are, unescaped.
 *
 * Revisions. Every committed change raises the object's revision by one,
 * and every top-level key remembers the revision that last changed it:
 * objd_get_meta() reads it, and a condition (objd_cond) makes a write
 * depend on it, for compare-and-set.
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
	OBJD_NOT_FOUND = 1,   /* a key does not exist */
	OBJD_INVALID = 2,     /* a malformed request or value */
	OBJD_UNREACHABLE = 3, /* objd cannot be reached, or went away */
	OBJD_CONFLICT = 4,    /* a condition failed */
	OBJD_DENIED = 5,      /* permission denied */
	OBJD_FAILED = 6       /* objd could not do it, or answered nonsense */
};

typedef struct objd_client objd_client;

/* Connecting. */

/* Connects to objd at socket_path or, when it is NULL, at the default
 * socket: $OBJD_SOCKET, else as root /run/objd/objd.sock, else
 * $XDG_RUNTIME_DIR/objd.sock, else /tmp/objd-$UID/objd.sock. timeout
 * bounds each call in seconds; 0 means no bound. Returns OBJD_OK,
 * OBJD_UNREACHABLE, OBJD_DENIED when the socket may not be opened by
 * this user, or OBJD_INVALID for a negative timeout. On failure
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
/* The connection's descriptor (-1 if there is none), to wait on while
 * holding keys (objd_hold): it turns readable when objd closes it. */
int objd_client_fd(const objd_client *c);
/* Makes c's reads of now (objd_get, objd_get_meta, objd_get_ttl,
 * objd_get_all) consistent, or plain again: objd answers only once it
 * holds every change its backend had when the read came (with etcd:
 * after a quorum read; OBJD_FAILED when etcd cannot be reached). Reads
 * at a revision are not affected. */
void objd_client_set_consistent(objd_client *c, bool on);
/* A short description of a status code ("not found"). */
const char *objd_strerror(int status);

/* Requests. Each returns OBJD_OK or why not. */

/* Reads one key: OBJD_NOT_FOUND if it does not exist. On OBJD_OK *value
 * is the value, to be freed with objd_value_free(); otherwise NULL. */
int objd_get(objd_client *c, const char *key, Objd__Value **value);
/* objd_get(), and *revision is the revision that last changed the key
 * (for a nested path, its top-level key's; 0 if not OBJD_OK). The
 * object's revision is then objd_client_revision(). Read a key's
 * revision, then write with a condition on it: compare-and-set. */
int objd_get_meta(objd_client *c, const char *key, Objd__Value **value,
    uint64_t *revision);
/* Reads the whole object. On OBJD_OK (*resp)->entries[0 ..
 * (*resp)->n_entries) holds every key (->key) and its value (->value),
 * sorted bytewise by key; free *resp with objd_response_free(). */
int objd_get_all(objd_client *c, Objd__Response **resp);
/* objd_get_meta() of the key as it was at revision at (0: now), from
 * the history objd keeps (objd --history); revision may be NULL.
 * OBJD_NOT_FOUND if the key did not exist then, or if the history does
 * not reach back to at (objd_client_error() says which). */
int objd_get_at(objd_client *c, const char *key, uint64_t at,
    Objd__Value **value, uint64_t *revision);
/* objd_get_all() of the object as it was at revision at. */
int objd_get_all_at(objd_client *c, uint64_t at, Objd__Response **resp);
/* The versions objd keeps of a top-level key, oldest first, in
 * (*resp)->versions[0 .. (*resp)->n_versions): each a revision, a time
 * (seconds since the epoch, 0 if unknown), what happened (->what:
 * OBJD__VERSION__WHAT__SET, __DELETE or __EXPIRE) and for a set the
 * value. OBJD_NOT_FOUND if it has none. Free *resp with
 * objd_response_free(). */
int objd_history(objd_client *c, const char *key, Objd__Response **resp);
/* Sets keys[i] to values[i] for i < n in one atomic change: all or
 * nothing. The values stay the caller's. A key appears at most once. */
int objd_set(objd_client *c, const char *const *keys,
    const Objd__Value *const *values, size_t n);
/* Deletes n keys in one atomic change: all of them, or none and
 * OBJD_NOT_FOUND if one of them does not exist. */
int objd_delete(objd_client *c, const char *const *keys, size_t n);

/* Conditions and batches. A write may carry conditions: all must hold
 * when objd applies it, or nothing changes and the call returns
 * OBJD_CONFLICT. */

/* One condition. */
typedef struct objd_cond {
	/* The key path; a nested path tests its top-level key. */
	const char *key;
	/* true: the key must not exist. false: it must exist and have been
	 * last changed at revision. */
	bool absent;
	uint64_t revision;
} objd_cond;

/* One step of a batch. */
typedef struct objd_op {
	/* The key path. */
	const char *key;
	/* The value to set, which stays the caller's; NULL deletes key,
	 * which must then exist. */
	const Objd__Value *value;
} objd_op;

/* objd_set() under conditions conds[0 .. nconds). */
int objd_set_if(objd_client *c, const char *const *keys,
    const Objd__Value *const *values, size_t n, const objd_cond *conds,
    size_t nconds);
/* objd_delete() under conditions conds[0 .. nconds). */
int objd_delete_if(objd_client *c, const char *const *keys, size_t n,
    const objd_cond *conds, size_t nconds);
/* Applies ops[0 .. nops), in order, as one atomic change if every
 * condition holds: all of it, or nothing. OBJD_CONFLICT if a condition
 * fails, OBJD_NOT_FOUND if a deleted key does not exist. With replace,
 * every top-level key that no operation sets is deleted too: the batch
 * then replaces the whole object (objctl load). */
int objd_batch(objd_client *c, const objd_op *ops, size_t nops,
    const objd_cond *conds, size_t nconds, bool replace);
/* objd_batch() only if the whole object is still at object_revision (the
 * revision a read answered with): OBJD_CONFLICT, and nothing changes, if
 * any key changed since. A read-modify-write of many keys. */
int objd_batch_at(objd_client *c, const objd_op *ops, size_t nops,
    uint64_t object_revision);

/* Keys that expire, and keys that live as long as the client. */

/* objd_batch() without replace, whose sets expire ttl_ms milliseconds
 * later: objd deletes them then, as a change of its own that watchers
 * see as OBJD__EVENT__TYPE__EXPIRE. ttl_ms 0 makes them permanent. */
int objd_batch_ttl(objd_client *c, const objd_op *ops, size_t nops,
    const objd_cond *conds, size_t nconds, uint64_t ttl_ms);
/* objd_batch() without replace, whose sets c holds: objd deletes them,
 * as one change, when c's connection closes (objd_close(), the
 * process's end, however it ends). A set of one of them by another
 * client makes it that client's. With if_absent, nothing is set and
 * the call returns OBJD_CONFLICT if any key exists. */
int objd_hold(objd_client *c, const objd_op *ops, size_t nops, bool if_absent);
/* objd_get_meta(), and *ttl_ms is the milliseconds left before the key
 * expires: 0 if it does not. */
int objd_get_ttl(objd_client *c, const char *key, Objd__Value **value,
    uint64_t *revision, uint64_t *ttl_ms);
/* Deletes every top-level key that starts with prefix (text, not a
 * path), as one change: OBJD_NOT_FOUND if none does, and OBJD_INVALID
 * if prefix is empty. */
int objd_delete_prefix(objd_client *c, const char *prefix);
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

/* Watching. A watch follows the committed changes of the top-level keys
 * that start with a prefix, in revision order, none missing; the
 * connection then serves that watch only (other calls on it fail with
 * OBJD_INVALID), until objd_close().
 *
 * objd_watch() starts one on c for prefix (NULL or "" for every key).
 * With since 0, (*first)->entries hold the current entries that match,
 * each with its key's revision, and (*first)->revision the object's
 * revision they are current at. With since > 0, objd sends the changes
 * after that revision instead, and no entries; OBJD_NOT_FOUND says it
 * no longer holds them (read everything again, and watch from there).
 * *first is freed with objd_response_free(), whatever the status, as
 * objd_call() says.
 *
 * objd_watch_next() waits at most timeout seconds (< 0: without bound;
 * the client's own timeout does not apply) for the next frame of the
 * watch. On OBJD_OK *resp is NULL if none came in time or a signal
 * interrupted the wait (the watch goes on; call again), and otherwise
 * (*resp)->events[0 .. (*resp)->n_events) are changes in revision
 * order: an Objd__Event with type OBJD__EVENT__TYPE__SET (key and its
 * new value), OBJD__EVENT__TYPE__DELETE (key), OBJD__EVENT__TYPE__EXPIRE
 * (key, deleted as its time to live ran out) or OBJD__EVENT__TYPE__RELOAD
 * (the whole object was reloaded from its file: read everything again),
 * the revision of the change, and the top-level key as it is, unescaped.
 * A frame may hold several events. objd drops a watch that falls too far
 * behind (its reader does not read): the call then returns OBJD_FAILED
 * with objd's reason in objd_client_error() and *resp, and the
 * connection is closed; OBJD_UNREACHABLE if objd went away. Free *resp
 * with objd_response_free(). */
int objd_watch(objd_client *c, const char *prefix, uint64_t since,
    Objd__Response **first);
int objd_watch_next(objd_client *c, Objd__Response **resp, double timeout);
/* Asks objd for a mark in the watch: objd_watch_next() then returns,
 * after the events of every change that objd had applied when it read
 * the request, a Response without events whose id is *id. objd sends the
 * events of one change together, one frame each, with nothing to say
 * which is the last: a program that saw a change begin and must have
 * all of it (objctl watch --count) asks for a mark and reads up to it. */
int objd_watch_mark(objd_client *c, uint64_t *id);

/* Any request: sends req (its id is set by the call) and waits for the
 * answer. On OBJD_OK or any status objd answered, *resp holds the
 * Response, to be freed with objd_response_free(); on a local failure it
 * is NULL. The functions above are made of this. */
int objd_call(objd_client *c, Objd__Request *req, Objd__Response **resp);
/* objd_call in two halves, to pipeline: objd_send writes req (its id
 * set by the call) without waiting, and objd_receive waits for the next
 * answer, as objd_call does. Answers come in the order of the requests.
 * A caller that sends many before it receives must receive now and then:
 * objd stops reading from a client that does not read its answers. */
int objd_send(objd_client *c, Objd__Request *req);
int objd_receive(objd_client *c, Objd__Response **resp);
/* Frees an answer. NULL is allowed. */
void objd_response_free(Objd__Response *resp);

/* Without blocking, for a program with an event loop of its own (GLib,
 * libevent, epoll), as hiredis's async API allows. An objd_async is one
 * connection; the program waits on objd_async_fd() for reading, and for
 * writing while objd_async_wants_write(), and calls objd_async_read()
 * and objd_async_write() when it is ready. Each request names a callback:
 *
 *	cb(a, status, resp, arg)
 *
 * called from objd_async_read() with objd's answer (resp, valid only
 * during the call: libobjd frees it after) and its status, or with
 * resp NULL when the connection broke or was closed (status
 * OBJD_UNREACHABLE or OBJD_FAILED, reason in objd_async_error()). Every
 * request's callback is called exactly once, except a watch's: it is
 * called for the first answer and then for each frame of changes
 * (resp->events, as objd_watch_next() gives them), until a call whose
 * status is not OBJD_OK ends the watch (objd dropped it or stopped, or
 * the connection broke). Requests and watches may share a connection.
 * A callback may send requests and may call objd_async_close(); the
 * connection is freed once the callbacks in progress return.
 *
 * The connect itself is made at once (a UNIX socket connects or fails
 * at once). The calls return OBJD_OK, or the status that broke the
 * connection; after that, every call fails with OBJD_UNREACHABLE and
 * the program closes it. examples/follow.c follows changes with
 * libevent. */
typedef struct objd_async objd_async;
typedef void objd_async_cb(objd_async *a, int status,
    const Objd__Response *resp, void *arg);

/* As objd_connect(), without a timeout. */
int objd_async_connect(const char *socket_path, objd_async **out, char *err,
    size_t errlen);
/* Closes the connection: the callbacks still waiting are called with
 * OBJD_UNREACHABLE and no answer. NULL is allowed. */
void objd_async_close(objd_async *a);
/* The descriptor to wait on; -1 once the connection broke. */
int objd_async_fd(const objd_async *a);
/* Whether requests wait to be written: then wait for writing too. */
bool objd_async_wants_write(const objd_async *a);
/* Call when the descriptor is readable: reads what came and calls the
 * callbacks of the answers that are whole. */
int objd_async_read(objd_async *a);
/* Call when the descriptor is writable. */
int objd_async_write(objd_async *a);
/* Sends any request (its id is set by the call); cb gets its answer. */
int objd_async_call(objd_async *a, Objd__Request *req, objd_async_cb *cb,
    void *arg);
/* Starts a watch, as objd_watch() does; cb gets its frames. */
int objd_async_watch(objd_async *a, const char *prefix, uint64_t since,
    objd_async_cb *cb, void *arg);
/* What went wrong last, and the revision of the last answer. */
const char *objd_async_error(const objd_async *a);
uint64_t objd_async_revision(const objd_async *a);

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
void objd_value_map_add(Objd__Value *map, const char *key, Objd__Value *item);
/* Frees a value and everything in it. NULL is allowed. */
void objd_value_free(Objd__Value *v);
/* The name of v's type: "null", "bool", "int", "double", "string",
 * "bytes", "list" or "map". */
const char *objd_value_type(const Objd__Value *v);

/* JSON, as objctl prints and reads it: 30 is an int and 30.0 a double,
 * bytes are {"$bytes": "<base64>"}, a double that is not finite is
 * {"$double": "nan" | "inf" | "-inf"}, a map whose only member is named
 * "$bytes", "$double" or "$map" is {"$map": {...}} (the inner map taken
 * as it is), map members are sorted bytewise.
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
