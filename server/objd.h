/* SPDX-License-Identifier: ISC */
/* objd.h: the daemon's map. Every server module declares here what it
 * offers, grouped by the file that defines it. */
#ifndef OBJD_H
#define OBJD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "objd.pb-c.h"
#include "objformat.h"

/* Opaque here: the loop's libevent types (only the files that drive
 * events include libevent), a client (conn.c's), the file (objfile.c's). */
struct event_base;
struct evconnlistener;
struct conn;
struct objfile;
enum access_level { ACCESS_NONE, ACCESS_READ, ACCESS_WRITE };
enum fsync_mode { FSYNC_ALWAYS, FSYNC_INTERVAL, FSYNC_NEVER };
struct store;

/* What objd's options set (options.c): fixed once objd has started. */
struct objd_options {
	const char *file_path;
	const char *socket_path;
	size_t frame_max;           /* --max-frame */
	size_t clients_max;         /* --max-clients */
	double client_idle_timeout; /* seconds; 0 = never */
	size_t client_output_max;   /* --max-client-output */
	size_t output_total_max;    /* --max-output-total */
	size_t watch_output_max;    /* a watcher's unsent output, at most */
	mode_t socket_mode;         /* --socket-mode */
	gid_t socket_group;         /* --socket-group; (gid_t)-1 = objd's */
	double reload_interval;     /* seconds; 0 = never */
	enum fsync_mode fsync;
};
extern struct objd_options options;

/* The daemon's state; there is one. */
struct server {
	struct event_base *base;
	struct store *store;
	struct objfile *file;
	struct evconnlistener *listener;
	size_t nconns;
	double started;          /* wall clock, seconds */
	double last_load;        /* wall clock of the last load, 0 if none */
	double last_save;        /* wall clock of the last write, 0 if none */
	char *last_reload_error; /* NULL if the last reload worked */
	char *rejected_file;     /* where the last rejected file went */
	char *last_write_error;  /* NULL if the last write worked */
	uint64_t commits;        /* batches written to the file */
	/* Commits that waited after a sync for its writers (commit.c), and
	 * of those, the waits that ran out. */
	uint64_t commit_waits, commit_waits_expired;
	bool stopping;
};
extern struct server server;

/* listener.c */
int listener_bind(const char *path, char *err, size_t errlen);
/* Takes the listening socket systemd passed (LISTEN_PID, LISTEN_FDS):
 * 1 with *fd and its name in *path, 0 if none was passed, -1 with err
 * if it cannot be used. */
int listener_from_systemd(int *fd, const char **path, char *err, size_t errlen);
void listener_start(int fd);
void listener_stop(void);
void listener_unlink(void);

/* notify.c: sd_notify(3)'s datagram to $NOTIFY_SOCKET, written here. */
/* Sends state ("READY=1", "STOPPING=1", ...) to systemd; nothing when
 * not run by systemd, a warning if it cannot be sent. */
void notify_systemd(const char *state);
/* READY=1, with a STATUS= line that says what objd serves. */
void notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC, before a reload; notify_ready after. */
void notify_reloading(void);
/* WATCHDOG=1 every half WATCHDOG_USEC, when systemd asks for it. */
void notify_watchdog_start(struct event_base *base);
void notify_watchdog_stop(void);

/* loop.c: the event loop's turns. */
/* Runs the loop until event_base_loopexit. */
void loop_run(void);
/* The work a turn's callbacks leave: requests read, the batch they
 * gather, answers to write; done after every callback of the turn. */
void loop_turn_end(void);

/* conn.c, conn-input.c, conn-output.c: the conn module, the one owner
 * of struct conn (conn-private.h), which is opaque elsewhere: lifetime,
 * timeouts, input, frames, output. */
/* Takes the client on fd; NULL if it was refused (--max-clients) or
 * could not be set up. */
struct conn *conn_accept(int fd);
void conn_process(struct conn *c);
/* Resumes the clients whose requests reload_holds kept waiting. */
void conn_resume_held(void);
/* True once c has sent a write that joined the batch. */
bool conn_wrote(const struct conn *c);
void conn_close_all(void);
void conn_fail(struct conn *c, const char *why);
/* The bytes of answers not yet written, wherever they wait. */
size_t conn_output_len(const struct conn *c);
/* Room for an answer of at most len bytes at the end of c's output,
 * to pack it in place and pass its end to conn_output_commit; NULL if
 * c left (the answer is dropped) or the room cannot be had (c is
 * closed, and told why). */
uint8_t *conn_output_reserve(struct conn *c, size_t len);
void conn_output_commit(struct conn *c, const uint8_t *end);
/* Appends an answer in two pieces (len2 may be 0); false if it was
 * dropped or c closed for it, as above. */
bool conn_output_append(struct conn *c, const void *p1, size_t len1,
    const void *p2, size_t len2);
/* Reads nothing more from c until it is unparked. */
void conn_stop_reading(struct conn *c);
/* Stops reading from every client (objd stops). */
void conn_stop_all_reading(void);
/* True once no client has answers left to write. */
bool conn_all_written(void);
/* Handle the requests read, and write the answers given, this turn;
 * each false if there were none. */
bool conn_handle_input(void);
bool conn_write_answers(void);
/* Writes c's answers now rather than at the end of the turn, unless it
 * has requests left to handle: theirs go with them, in one write. */
void conn_write_answers_now(struct conn *c);
/* Frees the clients closed this turn; at its end, when no caller holds
 * one. */
void conn_free_dead(void);
/* Raises the descriptor limit to what --max-clients needs. */
void conn_init_limits(void);
/* A request of c is parked (block.c's tickets alone call these): c
 * stays allocated until it is unparked, and reads no further request
 * meanwhile but writes that join the batch (joins) or none at all. */
void conn_park(struct conn *c, bool joins);
void conn_unpark(struct conn *c, bool joins);
/* Keeps c allocated, though it may leave, until conn_unhold. */
void conn_hold(struct conn *c);
void conn_unhold(struct conn *c);
/* True while c may send further requests. */
bool conn_writes_on(const struct conn *c);
/* True while answers to c go out: it neither left nor is closing. */
bool conn_answers_go(const struct conn *c);
/* A count that rises whenever a client leaves or stops sending. */
uint64_t conn_departures(void);
uint64_t conn_serial(const struct conn *c);
pid_t conn_pid(const struct conn *c);
uid_t conn_uid(const struct conn *c);
enum access_level conn_access(const struct conn *c);
/* Overrides what access.c found (the fuzzer tries each level). */
void conn_set_access(struct conn *c, enum access_level level);
/* True the first time a refusal of c is logged. */
bool conn_first_denial(struct conn *c);
/* Its mark on the keys it holds (expire.c's), 0 until it holds one. */
uint64_t conn_holder(const struct conn *c);
void conn_set_holder(struct conn *c, uint64_t holder);
/* Where stage.c keeps the pieces c staged. */
struct stage **conn_stage(struct conn *c);
struct stage *conn_staged(const struct conn *c);
/* Calls fn for each client not yet freed: connected, or gone with
 * requests still parked. fn may close it. */
void conn_foreach(void (*fn)(struct conn *, void *), void *arg);

/* request.c: the table of request kinds, the access check and DENIED,
 * and dispatch. */
#define REQ_WRITES 0x1u  /* changes state: read-write peers only */
#define REQ_BATCHED 0x2u /* answered through the batch (req-write.c) */
struct request_kind {
	const char *name;
	Objd__Request__OpCase op;
	unsigned flags; /* REQ_* */
	void (*exec)(struct conn *, const Objd__Request *);
};
/* The row of op, or NULL if this objd has none. */
const struct request_kind *request_kind_of(Objd__Request__OpCase op);
/* Runs req, or answers it DENIED (logged) or INVALID (unknown kind). */
void request_dispatch(struct conn *c, const Objd__Request *req);
/* True if req may join the batch that c's earlier writes wait in. */
bool request_joins_batch(const struct conn *c, const Objd__Request *req);
/* Answers DENIED (id 0) to a frame too large to read from a peer that
 * may not use objd, and logs it as request_dispatch does. */
void request_deny_frame(struct conn *c);

/* access.c: who may connect, and who may write. */
/* Adds a comma list of users and groups (name, uid, @group, @gid, or *
 * for everyone) to the policy at level; -1 with err if one is unknown. */
int access_allow(const char *spec, enum access_level level, char *err,
    size_t errlen);
void access_free(void);
/* True if the policy names anyone beyond root and objd's own user. */
bool access_admits_others(void);
/* What the peer on fd, with credentials from SO_PEERCRED, may do. */
enum access_level access_of_peer(int fd, uid_t uid, gid_t gid);
const char *access_level_name(enum access_level level);
/* Whether a peer at level may run a request with flags (REQ_*); if
 * not, why: policy only, request.c answers and logs. */
enum access_verdict {
	ACCESS_MAY,
	ACCESS_ONLY_READS,   /* a read-only peer, and the request writes */
	ACCESS_NOT_ADMITTED, /* no rule admits the peer */
};
enum access_verdict access_may(enum access_level level, unsigned flags);
/* The refusal v, for the log: "it may only read", ... */
const char *access_verdict_reason(enum access_verdict v);
/* The DENIED answer's text for refusal v of a request named name to a
 * peer of uid. */
void access_refusal(enum access_verdict v, long uid, const char *name,
    char *buf, size_t len);
/* --socket-mode and --socket-group: -1 with err if arg is not one. */
int access_parse_mode(const char *arg, mode_t *mode, char *err, size_t errlen);
int access_parse_group(const char *arg, gid_t *gid, char *err, size_t errlen);
/* Warns at start when the socket's mode and the policy disagree. */
void access_check_setup(bool socket_from_systemd);

/* config.c: option values and the config file. A value that is not
 * valid is a usage error: config_fail prints why, after the config
 * file's PATH:LINE while a setting of the file is applied, and exits 2.
 * option names the option in the message. */
_Noreturn void config_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
size_t config_size(const char *option, const char *arg, size_t min, size_t max);
size_t config_count(const char *option, const char *arg, size_t min,
    size_t max);
double config_seconds(const char *option, const char *arg, double max);
/* The config file to read: given (--config) when not NULL, else for root
 * default_path if it exists, else none (NULL). */
const char *config_choose(const char *given, bool root,
    const char *default_path);
/* Reads the config file at path and calls apply(o, value, arg) for each
 * setting, with the entry o of table (options.h) it names exactly and
 * its value (NULL for a switch). Returns the values, which stay valid
 * until config_free. */
struct options_entry;
char **config_read(const char *path, const struct options_entry *table,
    void (*apply)(const struct options_entry *o, const char *value, void *arg),
    void *arg);
/* Frees what config_read returned; NULL is fine. */
void config_free(char **kept);

/* req-read.c */
void handle_get(struct conn *c, const Objd__Request *req);
void handle_list(struct conn *c, const Objd__Request *req);
/* req-write.c */
void handle_set(struct conn *c, const Objd__Request *req);
void handle_delete(struct conn *c, const Objd__Request *req);
void handle_batch(struct conn *c, const Objd__Request *req);
void handle_stage(struct conn *c, const Objd__Request *req);
/* req-admin.c */
void handle_ping(struct conn *c, const Objd__Request *req);
void handle_status(struct conn *c, const Objd__Request *req);
void handle_reload(struct conn *c, const Objd__Request *req);
void handle_compact(struct conn *c, const Objd__Request *req);
/* req-watch.c */
void handle_watch(struct conn *c, const Objd__Request *req);

/* reply.c: answers, packed as whole frames into a client's output
 * (conn_output_reserve). */
struct store_entry;
/* An answer with no payload; revision is the object's revision to show. */
void reply_result(struct conn *c, uint64_t id, Objd__Status status,
    const char *error, uint64_t revision);
/* reply_result with the current revision. */
void reply_status(struct conn *c, uint64_t id, Objd__Status status,
    const char *error);
/* A key with its encoded value (val NULL for none): an Entry, or with a
 * type an Event. */
struct reply_item {
	const char *key;
	size_t keylen;
	const uint8_t *val;
	size_t vallen;
	uint64_t revision;
	unsigned type;   /* Objd__Event__Type, for events */
	uint64_t ttl_ms; /* for entries: the time left before it expires */
};
void reply_item_from_entry(struct reply_item *it, const struct store_entry *e);
void reply_entries(struct conn *c, uint64_t id, Objd__Status status,
    const char *error, const struct reply_item *items, size_t n);
/* The entries of the store whose keys start with prefix, as they are
 * now, sorted: a get of the whole object, the start of a watch. */
void reply_entries_under(struct conn *c, uint64_t id, Objd__Status status,
    const char *prefix, size_t prefixlen);
/* A watch's frame: the events of one revision. */
void reply_events(struct conn *c, uint64_t id, uint64_t revision,
    const struct reply_item *items, size_t n);
void reply_keys(struct conn *c, uint64_t id, struct store_entry *const *entries,
    size_t n);
void reply_info(struct conn *c, uint64_t id, Objd__StatusInfo *info);
/* An OK answer whose fields after the header are packed already (len
 * bytes of them, History's versions). */
void reply_packed(struct conn *c, uint64_t id, const uint8_t *fields,
    size_t len);

/* prefetch.c: fetches the slots and entries in s of the first keys of
 * the whole frames at the front of buf into the cache, if there are two
 * or more. */
void prefetch_frames(const struct store *s, const uint8_t *buf, size_t len,
    size_t frame_max);
/* The same for the request whose whole frame starts buf, alone; its
 * hash for store_prefetch_entry, or false if it has no such key. */
bool prefetch_frame_slot(const struct store *s, const uint8_t *buf, size_t len,
    size_t frame_max, uint64_t *hash);
/* The first key of an encoded get, set or delete request, if it is a
 * plain top-level key. */
bool prefetch_first_key(const uint8_t *body, size_t len, const char **key,
    size_t *keylen);

/* A walk over many keys (a batch) calls prefetch_step before
 * the look-up of key i of n: the slots and entries of the keys a little
 * further on are fetched meanwhile, instead of each look-up waiting on
 * memory in turn. key_at gives key j of items, or NULL for none. */
#define PREFETCH_RING 16
#define PREFETCH_NONE UINT64_MAX
typedef const char *(
    *prefetch_key_fn)(const void *items, size_t j, size_t *keylen);
struct prefetch_ring {
	const struct store *store;
	uint64_t hashes[PREFETCH_RING];
};
void prefetch_step(struct prefetch_ring *r, size_t i, size_t n,
    prefetch_key_fn key_at, const void *items);

/* request-decode.c: body decoded into a, as objd__request__unpack
 * would, if it is a get, set or delete in the common form; NULL for
 * anything else, which the caller then decodes with protobuf-c. */
struct arena;
Objd__Request *request_decode(struct arena *a, const uint8_t *body, size_t len);
/* The store entry of key that request_decode made of v, a large string
 * or bytes value of a set, packed already: the caller owns it from now
 * on, and v's string or bytes, which are in it, last as long as it.
 * NULL if v got none, or for another key. Until then the entry is
 * freed with the request's arena. */
struct store_entry;
struct store_entry *request_take_entry(const Objd__Value *v, const char *key,
    size_t keylen);
/* How many such entries there are, not taken: while none, a set need
 * not ask. */
extern size_t request_entries_untaken;
/* A large value of a request still arriving, read by conn-input.c straight
 * into the entry a set makes of it, not into the request: len bytes
 * at `at` in the request are missing there, and are e's value.
 * request_decode_hole takes e for that value as request_decode takes
 * the entries it makes, and sets taken if it decoded the request so;
 * otherwise e stays the caller's, and the request must not be decoded
 * again without its bytes. */
struct request_hole {
	const uint8_t *at;
	size_t len;
	struct store_entry *e;
	bool checked; /* a string whose UTF-8 was checked as it arrived */
	bool taken;
};
Objd__Request *request_decode_hole(struct arena *a, const uint8_t *body,
    size_t len, struct request_hole *hole);
/* Whether the first have bytes of a request of len bytes begin a set,
 * batch or stage whose first entry's value could be a hole: its offset
 * in the request at, its length vallen, its key. */
bool request_hole_find(const uint8_t *body, size_t have, size_t len, size_t *at,
    size_t *vallen, const char **key, size_t *keylen);
/* The entry for a hole of vallen bytes, its value still to be read, at
 * STORE_ENTRY_VALUE(e), which has room for a byte more; NULL when memory
 * is short (a frame that only announces its size must not stop objd). */
struct store_entry *request_hole_entry(const char *key, size_t keylen,
    size_t vallen);

/* forkhide.c: hides the whole pages inside the block [p, p + len), at
 * least 32 KiB of them, from every child forked until forkhide_show:
 * they stay writable in objd without a fault, and a child must not read
 * them. True if it hid them; a block that was hidden is shown again with
 * the same p and len before it is freed. */
bool forkhide_hide(const void *p, size_t len);
void forkhide_show(const void *p, size_t len);

/* behind.c: runs fn(arg) on a detached thread with signals blocked; false
 * if no thread could start, and the caller does the work itself. */
bool run_behind(void *(*fn)(void *), void *arg);

/* syncer.c: the thread that runs fdatasync for the file backend. Starts
 * syncing fd, and calls done with its errno or 0 from the loop once it is over;
 * false if there is no thread, and the caller must sync itself. */
bool syncer_start(int fd, void (*done)(int));
/* Waits for the sync in flight; its errno, or 0. done is not called. */
int syncer_wait(void);
void syncer_stop(void);

/* reply-pack.c */
/* resp's packed size, and resp packed into out: what protobuf-c would
 * write, faster for the plain answers most requests get. */
size_t reply_header_size(const Objd__Response *resp);
size_t reply_header_pack(const Objd__Response *resp, uint8_t *out);
/* An item as a Response's entries field (or events, if event): its
 * size, and packed at p, returning the end. */
size_t reply_item_size(const struct reply_item *it, bool event);
uint8_t *reply_item_pack(uint8_t *p, const struct reply_item *it, bool event);

/* store.c: the in-memory object. Values are kept as their encoded
 * objd.Value bytes, so reads copy bytes and never re-encode. */
struct store_entry {
	uint64_t revision; /* the revision that last changed the key */
	uint64_t hash;
	uint32_t keylen;
	uint32_t vallen;
	/* The key's ring of past versions (history.c), or NULL if it has
	 * none or the entry was not told: store_put hands it from the entry
	 * it replaces to the new one, and a change finds the ring through
	 * the entry it replaces instead of a second hash table. */
	struct key_history *ring;
	char data[]; /* the key, a NUL, then the value bytes */
};
#define STORE_ENTRY_KEY(e) ((e)->data)
#define STORE_ENTRY_VALUE(e) ((const uint8_t *)(e)->data + (e)->keylen + 1)

/* The hash of a key for a table seeded with seed: random seeds keep
 * clients from aiming for collisions. */
uint64_t store_key_hash(uint64_t seed, const char *key, size_t len);
uint64_t store_random_seed(const void *salt);
struct store *store_new(void);
void store_free(struct store *s);
/* Frees a large store on a thread of its own (behind.c): a million
 * free()s would stall the loop. Nothing may use s or its entries after. */
void store_free_behind(struct store *s);
/* True if a and b hold the same keys with the same values. */
bool store_equal(const struct store *a, const struct store *b);
size_t store_count(const struct store *s);
/* The bytes of all keys and values, an estimate of the live file size. */
uint64_t store_bytes(const struct store *s);
uint64_t store_revision(const struct store *s);
void store_set_revision(struct store *s, uint64_t revision);
/* store_get for a key whose hash (store_key_hash with s's seed) is
 * known. */
struct store_entry *store_get_hashed(const struct store *s, const char *key,
    size_t keylen, uint64_t hash);
struct store_entry *store_get(const struct store *s, const char *key,
    size_t keylen);
/* Frees e (NULL: nothing), a set's entry that left the store on the
 * main thread, unless store_adopt_hook takes it (watch.c's history of
 * changes, which may keep it: watch_adopt). */
void store_entry_free(struct store_entry *e);
/* On the loop only: e (a spent entry, which nothing else holds) kept
 * for store_entry_reuse if it is small, else store_entry_free(e). */
void store_entry_recycle(struct store_entry *e);
/* On the loop only: store_entry_alloc, in a recycled entry of the same
 * size if there is one. */
struct store_entry *store_entry_reuse(const char *key, size_t keylen,
    size_t vallen, uint64_t revision);
/* Frees the recycled entries (at exit, and for tests); returns how many
 * there were. */
size_t store_entry_spares_free(void);
/* Set by watch_init, and cleared by watch_free: hooks, so that the store
 * and the keys' history do not need watch.c. store_freeing_hook is
 * called on the loop before a store is freed whole. */
extern bool (*store_adopt_hook)(struct store_entry *e);
extern void (*store_freeing_hook)(const struct store *s);
struct store_entry *store_entry_new(const char *key, size_t keylen,
    const uint8_t *val, size_t vallen, uint64_t revision);
/* An entry whose vallen bytes of value the caller writes. */
struct store_entry *store_entry_alloc(const char *key, size_t keylen,
    size_t vallen, uint64_t revision);
/* The same, or NULL when memory is short. */
struct store_entry *store_entry_try_alloc(const char *key, size_t keylen,
    size_t vallen, uint64_t revision);
/* Starts fetching the slot of key into the cache, and returns its hash
 * for store_prefetch_entry, which does the same for its entry once the
 * slot is there (prefetch.c). */
uint64_t store_prefetch_slot(const struct store *s, const char *key,
    size_t keylen);
void store_prefetch_entry(const struct store *s, uint64_t hash);
/* For fetching ahead only: the entry that a look-up of a key of hash
 * would compare first, most likely the key's (NULL if none); once its
 * slot and entry are in the cache, a cheap look. */
const struct store_entry *store_peek(const struct store *s, uint64_t hash);
/* Whether slots hold a byte of their key's hash (not on 32-bit machines
 * nor under ASan), which store_peek compares. */
extern const bool store_slots_tagged;
/* Makes the table large enough for n keys now, rather than growing
 * it step by step as they come. */
void store_reserve(struct store *s, size_t n);
/* Puts e in the store; returns the entry it replaces, now the caller's. */
struct store_entry *store_put(struct store *s, struct store_entry *e);
/* store_put of an entry whose key's hash (store_prefetch_slot's) is
 * known. */
struct store_entry *store_put_hashed(struct store *s, struct store_entry *e,
    uint64_t hash);
/* Takes key out; returns its entry, now the caller's, or NULL. */
struct store_entry *store_remove(struct store *s, const char *key,
    size_t keylen);
/* The entries whose keys start with prefix, sorted bytewise, in a new
 * array the caller frees; the entries stay the store's. */
struct store_entry **store_sorted(const struct store *s, const char *prefix,
    size_t prefixlen, size_t *n);
/* The store's leases (NULL if it never had one). A put or a remove of a
 * key ends its lease; store_lease_set gives it one. */
struct leases *store_leases(const struct store *s);
void store_lease_set(struct store *s, const char *key, size_t keylen,
    uint64_t deadline, uint64_t holder);
/* Sets every key's revision. */
void store_stamp(struct store *s, uint64_t revision);
/* The past versions of s's keys. */
struct history *store_history(const struct store *s);
/* Calls fn for each entry, in no order. */
void store_foreach(const struct store *s,
    void (*fn)(const struct store_entry *, void *), void *arg);

/* lease.c: keys that expire or go with their holder, beside a store. */
struct lease {
	uint64_t deadline; /* wall clock, ms since the epoch; 0: none */
	uint64_t holder;   /* the connection that holds it; 0: none */
	size_t heap_pos;   /* in the heap of deadlines, if queued there */
	TAILQ_ENTRY(lease) held_entry; /* if held */
	size_t keylen;
	char key[]; /* NUL-terminated */
};
struct leases;
struct leases *leases_new(void);
void leases_free(struct leases *l);
/* l may be NULL in the look-ups below: no leases. */
size_t leases_count(const struct leases *l);
size_t leases_held(const struct leases *l);
struct lease *leases_get(const struct leases *l, const char *key,
    size_t keylen);
/* Gives key the deadline and holder (both 0: none), replacing its lease. */
void leases_set(struct leases *l, const char *key, size_t keylen,
    uint64_t deadline, uint64_t holder);
void leases_drop(struct leases *l, const char *key, size_t keylen);
/* The earliest deadline queued, 0 if none. */
uint64_t leases_next_deadline(const struct leases *l);
/* Takes the earliest lease due by now off the queue of deadlines (it
 * stays the key's lease), or NULL; leases_requeue puts it back. */
struct lease *leases_pop_due(struct leases *l, uint64_t now);
void leases_requeue(struct leases *l, struct lease *lease);
void leases_foreach(const struct leases *l, void (*fn)(struct lease *, void *),
    void *arg);
/* The same for the held leases alone: O(held keys). */
void leases_foreach_held(const struct leases *l,
    void (*fn)(struct lease *, void *), void *arg);

/* history.c: the past versions of each key (objd --history). */
#define HISTORY_DEPTH_DEFAULT 100
/* Versions kept of each key; 0 keeps none. */
extern size_t history_depth;
/* The bytes of past values kept of each key, at most (objd
 * --history-bytes): the oldest versions go first, the newest past one
 * always stays. */
#define HISTORY_BYTES_DEFAULT ((uint64_t)1 << 20)
extern uint64_t history_key_bytes;
/* Values up to this long are copied into their version; a copy of a
 * few bytes costs less than keeping the entry, whose memory a later set
 * could reuse while it is warm. */
#define HISTORY_INLINE 8
#define HISTORY_NO_VALUE 0xff
#define HISTORY_IN_ENTRY 0xfe
/* What a version did: Objd__Version__What's numbers. */
enum history_what { HISTORY_SET = 0, HISTORY_DELETE = 1, HISTORY_EXPIRE = 3 };
struct history_version {
	uint64_t revision;
	/* The value of a set that is no longer the key's current one:
	 * short ones copied here, longer ones in the entry that held them,
	 * moved here. None for the newest set (the store's entry holds it)
	 * and for deletes. */
	union {
		struct store_entry *entry;
		uint8_t bytes[HISTORY_INLINE];
	} val;
	uint32_t time; /* seconds since the epoch; 0: unknown */
	uint8_t what;  /* enum history_what */
	uint8_t vlen;  /* bytes in val, or HISTORY_NO_VALUE, HISTORY_IN_ENTRY */
};
/* One key's ring of versions, oldest first from head. The key follows
 * the header, in its cache line for a look-up; the ring follows the
 * key, in the same allocation. What a change reads and writes (head to
 * ring) comes first: in 32 bytes of a 16-byte aligned allocation, it
 * crosses into a second cache line only when the ring starts 48 bytes
 * into one. */
struct key_history {
	uint32_t head, count, cap;
	uint32_t keylen;
	uint64_t vbytes; /* of the values its versions hold */
	struct history_version *ring;
	uint64_t hash;
	bool truncated; /* older versions were dropped, or never known */
	char key[];
};
#define HISTORY_AT(kh, i) (&(kh)->ring[((kh)->head + (i)) % (kh)->cap])
#define HISTORY_KEY(kh) ((kh)->key)
enum history_state { HISTORY_PRESENT, HISTORY_ABSENT, HISTORY_UNKNOWN };
struct history;
/* h hashes keys with seed, the store's: a change can pass the hash of
 * its store look-up to history_change_hashed. */
/* store: the store whose entries point at the rings (store_entry.ring),
 * and whose hashes the history shares. */
struct history *history_new(struct store *store, uint64_t seed);
void history_free(struct history *h);
/* Keys with a ring, and the bytes a snapshot would take for them. */
size_t history_count(const struct history *h);
uint64_t history_bytes(const struct history *h);
struct key_history *history_get(const struct history *h, const char *key,
    size_t keylen);
/* The same in steps, for a caller that looks up many keys one after the
 * other: the hash of key, then (with the slot fetched by
 * history_prefetch_ring without entry) the fetch of the ring the slot
 * holds, then the look-up itself. */
uint64_t history_key_hash(const struct history *h, const char *key,
    size_t keylen);
void history_prefetch_slot_ring(const struct history *h, uint64_t hash);
struct key_history *history_get_hashed(const struct history *h, const char *key,
    size_t keylen, uint64_t hash);
/* Starts fetching the ring of the key of hash (the store's) into the
 * cache: through e, its live entry (store_peek) once that is there, or,
 * for a key without entry or ring, its slot in h's table. commit.c
 * applies changes a few ahead of their fetches. */
void history_prefetch_ring(const struct history *h, const struct store_entry *e,
    uint64_t hash);
/* Then the versions a change of it reads and writes, once the ring's
 * header is there. */
void history_prefetch_version(const struct store_entry *e);
/* A change of key at revision: old is the entry it replaced or deleted
 * (NULL if none), which h takes. known: the key's past is known (not a
 * snapshot's or another program's entry, whose past is not). */
void history_change(struct history *h, const char *key, size_t keylen,
    uint64_t revision, int64_t time, unsigned what, struct store_entry *old,
    bool known);
/* The same, for key of hash (store_key_hash with the store's seed); h
 * does not free old if it is spent (its value copied into a version, or
 * h keeps no history) but returns it, for the caller to free with
 * store_entry_free or reuse (store_entry_recycle); else NULL. */
struct store_entry *history_change_hashed(struct history *h, const char *key,
    size_t keylen, uint64_t hash, uint64_t revision, int64_t time,
    unsigned what, struct store_entry *old, bool known);
/* Replaces key's ring by the versions of a file's record; then its entry
 * in s, if any, is the newest, written at time. */
void history_restore(struct history *h, const struct store *s, const char *key,
    size_t keylen, const struct objformat_version *versions, size_t n,
    int64_t time, bool truncated);
void history_foreach(const struct history *h,
    void (*fn)(const struct key_history *, void *), void *arg);
/* The value a version holds itself (not the newest set's); false if
 * none. */
bool history_version_stored(const struct history_version *v,
    const uint8_t **val, size_t *vallen);
/* The value of kh's version i, a set, from its entry or the store's. */
bool history_version_value(const struct key_history *kh, uint32_t i,
    const struct store *s, const uint8_t **val, size_t *vallen);
/* key's state at revision, with its value and the revision of the
 * version that gave it when present. */
enum history_state history_at(const struct history *h, const struct store *s,
    const char *key, size_t keylen, uint64_t revision, const uint8_t **val,
    size_t *vallen, uint64_t *changed);
/* The commit time of revision, for a key set once (its entry alone):
 * 0 if unknown. */
int64_t history_time_of(const struct history *h, uint64_t revision);
/* e, an entry without ring, was set once, absent before (not a key that
 * came from a file without its past). */
bool history_born(const struct history *h, const struct store_entry *e);
uint64_t history_known_since(const struct history *h);
void history_set_known_since(struct history *h, uint64_t revision);
/* The list of commit times, for a snapshot: its pairs, from the first
 * that the oldest key set once needs (history_times_first of
 * history_oldest_single); history_times_add appends one, at load. */
size_t history_times_count(const struct history *h);
void history_times_get(const struct history *h, size_t i, uint64_t *revision,
    int64_t *time);
void history_times_add(struct history *h, uint64_t revision, int64_t time);
size_t history_times_first(const struct history *h, uint64_t oldest);
uint64_t history_oldest_single(const struct history *h, const struct store *s);
/* Drops the pairs no key set once needs, once the list has grown to
 * twice what was left the last time (a walk over the store). */
void history_times_trim(struct history *h, const struct store *s);
/* The oldest revision at which kh's key's state is known (0: all). */
uint64_t history_known_from(const struct key_history *kh);
/* req-read.c's History request. */
void handle_history(struct conn *c, const Objd__Request *req);

/* commit.c: group commit. The writes of one turn of the event loop are
 * made durable together, and only then answered. */
bool batch_pending(void);
/* Changes of requests still on their way to the file: the object's
 * revision will move past store_revision(). */
bool batch_has_changes(void);
/* The value a key will have once the pending writes commit: its entry
 * (NULL when it will be absent); *pending tells whether a pending write
 * decides it. */
const struct store_entry *batch_lookup(const char *key, size_t keylen,
    bool *pending);
/* Opens a change for c's request id; the calls below add to it. It is
 * answered OK once durable, or FAILED if it cannot be made so. */
void batch_begin(struct conn *c, uint64_t id);
/* Opens a change of objd's own, answered to no one: the expiry of keys
 * (expire: watchers see them expire) or the deletion of held keys. */
void batch_begin_own(bool expire);
/* The sets of the change last opened give their keys this lease: a
 * deadline (wall clock, ms) or a holder (expire.c), 0 for none. */
void batch_lease(uint64_t deadline, uint64_t holder);
/* The compares the change of the request begun last rests on, for a
 * backend that checks them where the change is made (etcd); made only
 * while batch_want_compares (the file's backend needs none). */
extern bool batch_want_compares;
void batch_compare(int kind /* enum backend_compare_kind */, const char *key,
    size_t keylen, uint64_t revision);
/* Answers c's request id in its place in the batch, after the changes
 * queued before it, without a change of its own. */
void batch_defer(struct conn *c, uint64_t id, Objd__Status status,
    const char *error);
void batch_add_set(const char *key, size_t keylen, const uint8_t *val,
    size_t vallen);
void batch_add_delete(const char *key, size_t keylen);
/* Makes room for n more changes at once: for a large change, which
 * would otherwise grow the batch's arrays and index many times. */
void batch_reserve(size_t n);
/* batch_add_set of an entry made by the caller, which the batch takes. */
void batch_add_entry(struct store_entry *e);
/* Calls fn for each key that a pending change sets. */
void batch_foreach_set(void (*fn)(const struct store_entry *, void *),
    void *arg);
/* Makes every pending change durable and answers them, now. */
void batch_commit(void);
/* Commits the writes gathered this turn, unless a sync is in flight, or
 * the commit after one waits for its writers: their batch is then
 * committed once that is over. False if it committed nothing. */
bool batch_commit_turn(void);
/* Waits for the batch in the backend's hands, if any, and ends it:
 * before anything replaces the state it rests on. */
void batch_settle(void);
void batch_init(void);
void batch_free(void);

/* objfile*.c: the object file, whose byte layout is
 * common/objformat.c's. */
/* What a write of the object file came to. */
enum objfile_result {
	OBJFILE_FAILED = -1, /* err says why */
	OBJFILE_DONE = 0,
	/* Another program's file is at the path by then: objd left it
	 * there, unread, for a reload to load. */
	OBJFILE_GAVE_WAY = 1
};
/* What objfile_load found at the path. */
enum objfile_load_result {
	OBJFILE_LOAD_FAILED = -1, /* err says why */
	OBJFILE_LOADED = 0,       /* objd's own file, or none */
	/* A file in another program's format (no header, no commits):
	 * objfile_rewrite adopts it. */
	OBJFILE_LOADED_FOREIGN = 1
};
enum objfile_state {
	OBJFILE_UNCHANGED, /* as objd last wrote or read it */
	OBJFILE_CHANGED,   /* replaced or modified by someone else */
	OBJFILE_MISSING    /* removed by someone else */
};
/* A large value of a change, written from where it is (the store entry
 * of the batch) and not copied into the buffer: its bytes come before
 * buf.data[at]. */
struct objfile_ref {
	size_t at;
	const uint8_t *p;
	size_t len;
};
/* Changes on their way to the file: fragments, each closed by a commit.
 * Their bytes are buf's with each of refs' put in at its place. */
struct objfile_changes {
	struct buf buf;
	size_t start; /* where the open fragment began, in buf */
	uint32_t entries;
	bool with_header;
	struct objfile_ref *refs;
	size_t nrefs, refs_cap;
	size_t refs_len; /* the bytes of all refs */
};
/* The bytes of the changes, in the file. */
size_t objfile_changes_len(const struct objfile_changes *c);
struct objfile_stats {
	uint64_t file_size;       /* up to the last commit */
	uint64_t file_room;       /* after it, with --fsync always */
	uint64_t compacted_size;  /* the size after the last compaction */
	double last_compaction;   /* wall clock, 0 if none */
	uint64_t recovered_bytes; /* cut from a torn end at start */
};
/* Takes the lock that keeps a second objd off path; creates its folder. */
struct objfile *objfile_open(const char *path, enum fsync_mode fsync_mode,
    char *err, size_t errlen);
void objfile_close(struct objfile *f);
/* --compress: the snapshots objd writes from now on (compaction, rewrite)
 * hold their entries zlib-deflated. Loading takes either, always. */
void objfile_set_compress(struct objfile *f, bool compress);
/* Whether objd loads the files other programs put at the path
 * (--reload-interval above 0): a compaction then gives way to one. */
void objfile_watch_others(struct objfile *f, bool watched);
const struct objfile_stats *objfile_stats(struct objfile *f);
/* Reads the file into an empty store; a missing file is an empty object.
 * With recover (at start) a torn end is cut back and objd appends to the
 * file from then on. */
enum objfile_load_result objfile_load(struct objfile *f, struct store *s,
    bool recover, char *err, size_t errlen);
/* objfile_load without recover in three steps, so that the read, which
 * takes most of a second for a million keys, runs on a thread: new (on
 * the loop) names the file and the empty store to fill; run (anywhere)
 * reads, touching neither f nor anything else; finish (on the loop) notes
 * the file read in f, frees r, and returns what objfile_load would. */
struct objfile_read;
struct objfile_read *objfile_read_new(const struct objfile *f, struct store *s);
void objfile_read_run(struct objfile_read *r);
enum objfile_load_result objfile_read_finish(struct objfile *f,
    struct objfile_read *r, char *err, size_t errlen);
/* The walk over a file's bytes, for objfile_load and the tests. */
enum scan_result objfile_scan_buffer(const uint8_t *buf, size_t len,
    struct store *s, size_t *good_end, bool *ours, char *err, size_t errlen);
/* Replaces the file with the store's state, durably, and appends to the
 * new file from then on. */
enum objfile_result objfile_rewrite(struct objfile *f, const struct store *s,
    char *err, size_t errlen);
/* objfile_rewrite after a reload, but only over the file objfile_load
 * read, or where it found none: OBJFILE_GAVE_WAY, leaving the file
 * alone, if another program put a new one there meanwhile. */
enum objfile_result objfile_write_back(struct objfile *f, const struct store *s,
    char *err, size_t errlen);
void objfile_changes_init(struct objfile *f, struct objfile_changes *c);
void objfile_changes_free(struct objfile *f, struct objfile_changes *c);
/* A value of OBJFILE_REF_MIN bytes or more is not copied: it must stay
 * where it is until objfile_changes_free. */
void objfile_change_set(struct objfile_changes *c, const char *key,
    size_t keylen, const uint8_t *val, size_t vallen);
void objfile_change_delete(struct objfile_changes *c, const char *key,
    size_t keylen);
/* objfile_change_set of a key with a lease: a deadline, a holder, 0 for
 * none (map-entry fields 4 and 5). */
void objfile_change_set_leased(struct objfile_changes *c, const char *key,
    size_t keylen, const uint8_t *val, size_t vallen, uint64_t deadline,
    uint64_t holder);
void objfile_change_commit(struct objfile_changes *c, uint64_t revision);
/* A record of the time of the changes that follow (for the history),
 * and whether their deletes are expiries. */
void objfile_change_time(struct objfile_changes *c, int64_t time, bool expire);
/* Appends the changes in one write and, with --fsync always, syncs. s is
 * the state before them, for when the file must be started anew. On
 * failure nothing of the changes is in the file: OBJFILE_FAILED, or
 * OBJFILE_GAVE_WAY when objd had no file of its own and another program
 * put one there meanwhile (with objfile_watch_others). */
enum objfile_result objfile_append(struct objfile *f, const struct store *s,
    const struct objfile_changes *c, char *err, size_t errlen);
/* objfile_append in steps, so that its fdatasync can run elsewhere
 * (commit.c): start writes the changes; with --fsync always
 * (needs_sync), the caller then syncs objfile_fd, on a thread or with
 * objfile_append_sync, and passes finish the errno of that, or 0.
 * Nothing else may touch f in between. */
enum objfile_result objfile_append_start(struct objfile *f,
    const struct store *s, const struct objfile_changes *c, char *err,
    size_t errlen);
bool objfile_append_needs_sync(const struct objfile *f);
int objfile_fd(const struct objfile *f);
/* fdatasync of f's file: its errno, or 0. */
int objfile_append_sync(const struct objfile *f);
enum objfile_result objfile_append_finish(struct objfile *f,
    const struct objfile_changes *c, int sync_errno, char *err, size_t errlen);
/* Syncs what was appended since the last sync. */
enum objfile_result objfile_sync(struct objfile *f, char *err, size_t errlen);
/* Compaction: a child writes the live state; objd appends meanwhile.
 * finish gives no OBJFILE_GAVE_WAY: a compaction that gives way to a
 * file renamed in fails, saying so. */
bool objfile_compacting(const struct objfile *f);
/* The bytes objd has committed to its file since a child began that the
 * child has yet to copy (0 when none runs, or once objd keeps them). */
uint64_t objfile_compact_backlog(const struct objfile *f);
pid_t objfile_compact_start(struct objfile *f, const struct store *s, char *err,
    size_t errlen);
pid_t objfile_compact_child(const struct objfile *f);
enum objfile_result objfile_compact_finish(struct objfile *f, int status,
    char *err, size_t errlen);
void objfile_compact_abort(struct objfile *f);
/* objfile_write_back in a child, as a compaction (objfile_compacting
 * and objfile_compact_child say so too): the parent goes on appending,
 * and once the child has exited, finish installs its file as
 * objfile_write_back would, with the same results. */
pid_t objfile_write_back_start(struct objfile *f, const struct store *s,
    char *err, size_t errlen);
bool objfile_writing_back(const struct objfile *f);
enum objfile_result objfile_write_back_finish(struct objfile *f, int status,
    char *err, size_t errlen);
/* Compares the file with what objd last wrote or read. */
enum objfile_state objfile_check(struct objfile *f);
/* The file objfile_check called changed holds the state objd serves:
 * if only its times said so, they were objd's own write's. */
void objfile_same_state(struct objfile *f);
bool objfile_asks_times(const struct objfile *f);
/* Moves the file objfile_load last read aside as <file>.rejected-<time>;
 * OBJFILE_DONE with *moved set to the new name, OBJFILE_GAVE_WAY if the
 * path holds another file by then (which stays). */
enum objfile_result objfile_reject(struct objfile *f, char **moved, char *err,
    size_t errlen);
const char *fsync_mode_name(enum fsync_mode m);
int fsync_mode_parse(const char *name);

/* compact.c: when to compact, and the clients waiting for it. */
void compact_maybe(void);
/* Whether commits wait for a compaction that has fallen behind; if so,
 * objd looks again soon by itself. */
bool compact_holds_commits(void);
/* How many bytes a compaction of live bytes may have yet to copy before
 * commits wait for it. */
uint64_t compact_hold_bound(uint64_t live);
/* Whether a file of size bytes, holding live bytes (entries and
 * history, as a compaction writes them), is due for an automatic
 * compaction, since seconds after the last one began, which left
 * compacted bytes (0: none, or a file that has shrunk since). */
bool compact_due(uint64_t size, uint64_t live, double since,
    uint64_t compacted);
/* Answers waiter (a parked compact request) once a compaction, started
 * now unless one runs, is over. */
struct ticket;
void compact_now(const struct ticket *waiter);
void compact_child_exited(void);
/* The backend's snapshot_done hook: a compaction, or a rewrite that
 * stood in for one, is over; the clients waiting for it are answered. */
void compact_settle(bool ok, const char *error);
/* At exit, after the backend is closed. */
void compact_free(void);

/* path.c: values inside nested maps, on encoded top-level values. */
struct keypath;
/* The members of the maps of decoded values, indexed as they are
 * reached; reset it whenever a map it may know is freed. */
struct path_index {
	struct store *members;
};
void path_index_init(struct path_index *ix);
void path_index_reset(struct path_index *ix);
void path_index_free(struct path_index *ix);
/* A top-level value decoded (a new map if top is NULL), to work on with
 * the calls below and pack once; free it with value_free(). */
Objd__Value *path_tree(const uint8_t *top, size_t toplen);
/* The value at kp inside root, or NULL with status and err. */
const Objd__Value *path_tree_get(struct path_index *ix, Objd__Value *root,
    const struct keypath *kp, Objd__Status *status, char *err, size_t errlen);
/* Sets kp inside root to a copy of val, making the maps on the way;
 * false with err (INVALID) if a part on the way is not a map or val
 * would sit too deep. ix may be NULL. */
bool path_tree_set(struct path_index *ix, Objd__Value *root,
    const struct keypath *kp, const Objd__Value *val, char *err, size_t errlen);
uint8_t *path_get(const uint8_t *top, size_t toplen, const struct keypath *kp,
    size_t *len, Objd__Status *status, char *err, size_t errlen);
/* top is NULL when the top-level key does not exist: maps are made. */
uint8_t *path_set(const uint8_t *top, size_t toplen, const struct keypath *kp,
    const Objd__Value *val, size_t *len, char *err, size_t errlen);
uint8_t *path_delete(const uint8_t *top, size_t toplen,
    const struct keypath *kp, size_t *len, Objd__Status *status, char *err,
    size_t errlen);

/* txn.c: one write request as one atomic change. */
struct txn_key {
	const char *key;
	size_t keylen;
	uint64_t hash; /* txn.c's, once the txn has an index */
	/* The value before the request, if it existed: borrowed from its
	 * entry in the store or the batch, which stays put while a request
	 * is handled (both change only when the batch commits). */
	const uint8_t *old;
	size_t oldlen;
	const uint8_t *val; /* old until an operation makes its own */
	size_t vallen;
	/* When set, val is this entry's value: a plain set packs its value
	 * straight into the entry the batch will take. */
	struct store_entry *entry;
	/* When set, the value decoded, as nested sets left it: val is
	 * stale until txn_commit packs it. */
	Objd__Value *tree;
	unsigned nested_sets;
	/* The flags together, after the pointers: a batch of a thousand
	 * keys makes, clears and moves a thousand of these. */
	bool key_owned;
	bool existed; /* before the request */
	bool exists;  /* after the operations so far */
	bool val_owned;
	bool changed;
	bool compared; /* a condition of the request is on it */
};

/* Most requests touch a key or two: a txn holds that many itself. */
#define TXN_INLINE_KEYS 4
struct txn {
	struct txn_key *keys; /* the top-level keys touched */
	size_t n, cap;
	uint32_t *index; /* txn.c: 1 + a position in keys, or 0 */
	size_t nindex;
	struct path_index paths; /* the members of the keys' trees */
	struct txn_key inline_keys[TXN_INLINE_KEYS];
	/* The lease the keys it sets take (batch_lease); 0: none. */
	uint64_t deadline, holder;
	/* Batch.if_object_revision, checked here (txn_check_object) and,
	 * for a backend that others write too, where the change is made. */
	bool object_compared;
	uint64_t object_revision;
};
void txn_init(struct txn *t);
void txn_free(struct txn *t);
Objd__Status txn_set(struct txn *t, const char *path, const Objd__Value *v,
    char *err, size_t errlen);
Objd__Status txn_delete(struct txn *t, const char *path, char *err,
    size_t errlen);
Objd__Status txn_check(struct txn *t, const Objd__Condition *cond, char *err,
    size_t errlen);
/* Deletes every top-level key that starts with prefix, as the request
 * sees them so far; NOT_FOUND if none does. */
Objd__Status txn_delete_prefix(struct txn *t, const char *prefix, char *err,
    size_t errlen);
/* Deletes every key the operations so far did not set. */
/* Batch.if_object_revision: CONFLICT unless the object is at revision,
 * with no change of another request pending. */
Objd__Status txn_check_object(uint64_t revision, char *err, size_t errlen);
void txn_replace_rest(struct txn *t);
/* Queues the change in the batch for c's request; false if it changes
 * nothing (then nothing is queued and the caller answers). */
bool txn_commit(struct txn *t, struct conn *c, uint64_t id);

/* stage.c: a batch too large for one frame, in pieces. */
/* True if c has staged pieces that its next batch ends. */
bool stage_open(const struct conn *c);
/* Stages b's sets on c (last: b ends the batch, and its conditions and
 * replace are the caller's); INVALID with err if one cannot be, or an
 * earlier piece was refused: the whole staged batch then fails. */
Objd__Status stage_add(struct conn *c, const Objd__Batch *b, bool last,
    char *err, size_t errlen);
/* Queues every staged set, and with replace the deletion of every other
 * key, as one change for c's request id; frees the stage. False if it
 * changes nothing (then nothing is queued and the caller answers). */
bool stage_commit(struct conn *c, uint64_t id, bool replace);
/* Drops what c staged, if anything. */
void stage_free(struct conn *c);

/* expire.c: keys whose deadline passed or whose holder left go, as
 * changes of objd's own. */
void expire_init(void);
void expire_free(void);
uint64_t expire_now_ms(void);
/* A change applied: the earliest deadline may be another. */
void expire_changed(void);
/* A file was loaded: held keys of connections gone go. */
void expire_loaded(void);
/* c's mark on the keys it holds. */
uint64_t expire_holder(struct conn *c);
/* A holder's connection closed: its keys go. */
void expire_holder_gone(void);
/* objd's own change to delete key failed: it is tried again later. */
void expire_retry(const char *key, size_t keylen);
/* The ms before key expires; 0 if it does not. */
uint64_t expire_ttl_left(const char *key, size_t keylen);

/* watch.c */
void watch_init(void);
void watch_free(void);
/* Every change after this revision is held, for watch --since. */
uint64_t watch_oldest_held(void);
/* Sends c each change under prefix as id's events from now on, after
 * those held since revision since (0: none). */
void watch_start(struct conn *c, uint64_t id, const char *prefix,
    uint64_t since);
/* A committed change, as it is applied. */
/* type: an Objd__Event__Type, SET, DELETE or EXPIRE. */
/* A set's entry e of a value of WATCH_REF_MIN bytes or more is kept by
 * the history of changes, not copied: until it leaves the history, it
 * is freed with store_entry_free (or with its whole store). */
#define WATCH_REF_MIN (8 * 1024)
void watch_changed(struct store_entry *e, unsigned type);
/* The history takes e, which its store let go, if an event keeps it:
 * true if it did. */
bool watch_adopt(struct store_entry *e);
void watch_reloaded(uint64_t revision);
void watch_conn_gone(struct conn *c);
/* Tells every watcher that objd stops. */
void watch_stopping(void);

/* reload.c */
void reload_init(void);
void reload_free(void);
/* Loads the file if it changed (force: even if not). Returns false if a
 * changed file was rejected; err says why. */
bool reload_now(bool force, char *err, size_t errlen);
/* Without inotify (but with a reload interval), looks for a changed file
 * now; with it, does nothing. */
void reload_look_blind(void);
/* Looks at the file at the next turn of the loop, not an interval on. */
void reload_soon(void);
/* SIGCHLD: true if the child was a reload's write-back (waited for, if
 * it ended), false if it is compact.c's to look at. */
bool reload_child_exited(void);
/* While a changed file loads aside, true for the requests that wait for
 * it to land: conn-input.c leaves them in the client's input until
 * conn_resume_held. */
bool reload_holds(const struct conn *c, const Objd__Request *req);

/* block.h: answering later (tickets). */
#include "block.h"

#endif
