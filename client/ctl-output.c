/* SPDX-License-Identifier: ISC */
/* ctl-output.c: what objctl prints, as text or as JSON. The two are
 * tables of the same functions (struct ctl_output, ctl.h); main picks one
 * by --json and the commands never ask which. Text is for people and for
 * shell scripts (a string value raw, keys escaped so that every line is a
 * KEY again); JSON is for programs (a write answers with the revision it
 * made). Messages on stderr are the same whatever the output. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "json.h"
#include "log.h"
#include "value.h"
#include "xmalloc.h"

/* Prints one line on stderr and returns status, for "return ctl_err()". */
int
ctl_err(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("objctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* Escapes the control characters of s as JSON does (\n, \u0001), so
 * that a key or a path with a newline stays on its line. path escapes a
 * dot and a backslash too, as a key path does: a top-level key so
 * written can be passed back as a KEY (list, watch); a message wants
 * the text as it was. */
char *
ctl_escape(const char *s, bool path)
{
	size_t len = strlen(s), n = 0;
	char *out = xreallocarray(NULL, len + 1, 6);
	unsigned char ch;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if ((ch == '\\' || ch == '.') && path) {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch == '\n') {
			memcpy(out + n, "\\n", 2);
			n += 2;
		} else if (ch == '\t') {
			memcpy(out + n, "\\t", 2);
			n += 2;
		} else if (ch == '\r') {
			memcpy(out + n, "\\r", 2);
			n += 2;
		} else if (ch < 0x20 || ch == 0x7f) {
			n += (size_t)snprintf(out + n, 7, "\\u%04x", ch);
		} else
			out[n++] = (char)ch;
	}
	out[n] = '\0';
	return out;
}

/* Prints v as JSON on its own line, and frees it. */
static void
ctl_print_json(Objd__Value *v, int indent)
{
	char *s = json_from_value(v, indent);

	printf("%s\n", s);
	free(s);
	value_free(v);
}

static void
ctl_add(Objd__Value *m, const char *name, Objd__Value *v)
{
	value_map_add(m, name, strlen(name), v);
}

static Objd__Value *
ctl_uint(uint64_t n)
{
	return n > INT64_MAX ? value_new_double((double)n)
	                     : value_new_int((int64_t)n);
}

/* get, dump: the object as JSON, in both. */
static void
ctl_print_object(const Objd__Response *resp)
{
	char *s = json_from_entries(resp->entries, resp->n_entries, 2);

	printf("%s\n", s);
	free(s);
}

/* get KEY: a string raw, so that name=$(objctl get name) needs no
 * unquoting; the rest as JSON. */
static void
text_value(Objd__Value *v)
{
	if (v->kind_case == OBJD__VALUE__KIND_STRING_VALUE) {
		printf("%s\n", v->string_value);
		value_free(v);
	} else
		ctl_print_json(v, 0);
}

static void
json_value(Objd__Value *v)
{
	ctl_print_json(v, 0);
}

/* get --meta: the value, the revision that last changed its key and the
 * object's, and the seconds left before it expires if it does, as lines
 * of "name: value" or one JSON object. */
static void
text_meta(Objd__Value *v, uint64_t rev, uint64_t objrev, uint64_t ttl_ms)
{
	char *text = json_from_value(v, 0);

	printf("value: %s\nrevision: %" PRIu64 "\nobject revision: %" PRIu64
	       "\n",
	    text, rev, objrev);
	if (ttl_ms != 0)
		printf("expires in: %.1f s\n", ttl_ms / 1e3);
	free(text);
	value_free(v);
}

static void
json_meta(Objd__Value *v, uint64_t rev, uint64_t objrev, uint64_t ttl_ms)
{
	Objd__Value *m = value_new_map();

	ctl_add(m, "value", v);
	ctl_add(m, "revision", ctl_uint(rev));
	ctl_add(m, "object_revision", ctl_uint(objrev));
	if (ttl_ms != 0)
		ctl_add(m, "expires_in", value_new_double(ttl_ms / 1e3));
	ctl_print_json(m, 0);
}

/* list: escaped as a path, so that every line is a KEY again. */
static void
text_keys(char **keys, size_t n)
{
	char *shown;

	for (size_t i = 0; i < n; i++) {
		shown = ctl_escape(keys[i], true);
		printf("%s\n", shown);
		free(shown);
	}
}

static void
json_keys(char **keys, size_t n)
{
	Objd__Value *list = value_new_list();

	for (size_t i = 0; i < n; i++)
		value_list_append(list,
		    value_new_string(keys[i], strlen(keys[i])));
	ctl_print_json(list, 2);
}

/* A write says nothing as text; as JSON, the revision it left the object
 * at. */
static void
text_written(uint64_t revision)
{
	(void)revision;
}

static void
json_written(uint64_t revision)
{
	Objd__Value *m = value_new_map();

	ctl_add(m, "revision", ctl_uint(revision));
	ctl_print_json(m, 0);
}

static void
text_pong(void)
{
	printf("pong\n");
}

static void
json_pong(void)
{
	Objd__Value *m = value_new_map();

	ctl_add(m, "ok", value_new_bool(true));
	ctl_print_json(m, 0);
}

/* Prints a line and sends it on at once: a watch is read as it goes. */
static int
ctl_watch_line(const char *line)
{
	if (printf("%s\n", line) < 0 || fflush(stdout) == EOF)
		return ctl_err(OBJD_FAILED, "cannot write the output: %s",
		    strerror(errno));
	return 0;
}

/* Prints what asprintf() made of a line, and frees it. */
static int
ctl_watch_made(int n, char *line)
{
	int status;

	if (n == -1)
		fatalx("out of memory");
	status = ctl_watch_line(line);
	free(line);
	return status;
}

/* The first lines of a watch: the current values at the object's
 * revision, "REV current KEY VALUE" per key ("REV current" if no key
 * matches). */
static int
text_watch_current(const Objd__Response *first)
{
	char *line, *key, *value;
	int status = 0, n;

	if (first->n_entries == 0) {
		n = asprintf(&line, "%" PRIu64 " current", first->revision);
		return ctl_watch_made(n, line);
	}
	for (size_t i = 0; i < first->n_entries && status == 0; i++) {
		key = ctl_escape(first->entries[i]->key, true);
		value = json_from_value(first->entries[i]->value, 0);
		n = asprintf(&line, "%" PRIu64 " current %s %s",
		    first->revision, key, value);
		status = ctl_watch_made(n, line);
		free(value);
		free(key);
	}
	return status;
}

/* As JSON, one line {"revision", "type": "current", "values": {...}}. */
static int
json_watch_current(const Objd__Response *first)
{
	char *line, *value;
	int n;

	value = json_from_entries(first->entries, first->n_entries, 0);
	n = asprintf(&line,
	    "{\"revision\": %" PRIu64
	    ", \"type\": \"current\", \"values\": %s}",
	    first->revision, value);
	free(value);
	return ctl_watch_made(n, line);
}

static const char *
ctl_event_type(const Objd__Event *e)
{
	switch (e->type) {
	case OBJD__EVENT__TYPE__SET:
		return "set";
	case OBJD__EVENT__TYPE__DELETE:
		return "delete";
	case OBJD__EVENT__TYPE__EXPIRE:
		return "expire";
	case OBJD__EVENT__TYPE__RELOAD:
		return "reload";
	default:
		return "unknown";
	}
}

/* One change: "REV set KEY VALUE", "REV delete KEY", "REV reload ...".
 * KEY is escaped as list prints it, VALUE is JSON on one line. */
static int
text_watch_event(const Objd__Event *e)
{
	char *line, *key = ctl_escape(e->key, true), *value;
	int n;

	if (e->type == OBJD__EVENT__TYPE__SET) {
		value = json_from_value(e->value, 0);
		n = asprintf(&line, "%" PRIu64 " set %s %s", e->revision, key,
		    value);
		free(value);
	} else if (e->type == OBJD__EVENT__TYPE__DELETE ||
	    e->type == OBJD__EVENT__TYPE__EXPIRE)
		n = asprintf(&line, "%" PRIu64 " %s %s", e->revision,
		    ctl_event_type(e), key);
	else if (e->type == OBJD__EVENT__TYPE__RELOAD)
		n = asprintf(&line,
		    "%" PRIu64 " reload (objd reloaded the whole "
		    "object from its file)",
		    e->revision);
	else
		n = asprintf(&line, "%" PRIu64 " unknown event %d", e->revision,
		    (int)e->type);
	free(key);
	return ctl_watch_made(n, line);
}

/* As JSON: {"key", "revision", "type", "value"}. */
static int
json_watch_event(const Objd__Event *e)
{
	Objd__Value *k = value_new_string(e->key, strlen(e->key));
	char *line, *key = json_from_value(k, 0), *value;
	const char *type = ctl_event_type(e);
	int n;

	value_free(k);
	if (e->type == OBJD__EVENT__TYPE__SET) {
		value = json_from_value(e->value, 0);
		n = asprintf(&line,
		    "{\"key\": %s, \"revision\": %" PRIu64
		    ", \"type\": \"%s\", \"value\": %s}",
		    key, e->revision, type, value);
		free(value);
	} else if (e->type == OBJD__EVENT__TYPE__DELETE ||
	    e->type == OBJD__EVENT__TYPE__EXPIRE)
		n = asprintf(&line,
		    "{\"key\": %s, \"revision\": %" PRIu64
		    ", \"type\": \"%s\"}",
		    key, e->revision, type);
	else
		n = asprintf(&line,
		    "{\"revision\": %" PRIu64 ", \"type\": \"%s\"}",
		    e->revision, type);
	free(key);
	return ctl_watch_made(n, line);
}

/* ISO 8601 in local time with the UTC offset, e.g.
 * 2024-05-01T12:00:00+02:00; "never" for 0. */
static void
ctl_format_time(char *buf, size_t len, double t)
{
	struct tm tm;
	time_t secs;
	char off[16];

	if (!(t > 0)) {
		snprintf(buf, len, "never");
		return;
	}
	/* objd's word is not trusted to fit a time_t. */
	secs = t < 253402300800.0 ? (time_t)t : 0;
	if (secs == 0 || localtime_r(&secs, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0 ||
	    strftime(off, sizeof(off), "%z", &tm) != 5) {
		snprintf(buf, len, "%.0f seconds since the epoch", t);
		return;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), "%.3s:%s", off, off + 3);
}

static void
ctl_format_duration(char *buf, size_t len, double s)
{
	uint64_t n, d, h, m;

	if (!(s >= 0 && s < 1e15)) {
		snprintf(buf, len, "%g seconds", s);
		return;
	}
	if (s < 60) {
		snprintf(buf, len, "%.1fs", s);
		return;
	}
	n = (uint64_t)s;
	d = n / 86400;
	h = n / 3600 % 24;
	m = n / 60 % 60;
	if (d > 0)
		snprintf(buf, len, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d,
		    h, m);
	else if (h > 0)
		snprintf(buf, len, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h,
		    m, n % 60);
	else
		snprintf(buf, len, "%" PRIu64 "m %" PRIu64 "s", m, n % 60);
}

/* Prints "name: text", text escaped to keep the line one line. */
static void
ctl_print_field(const char *name, const char *text)
{
	char *shown = ctl_escape(text, false);

	printf("%s: %s\n", name, shown);
	free(shown);
}

/* status: objd's state, as lines of "name: value"; a line whose value
 * is nothing to report (no reload error, no torn bytes cut) is left
 * out. */
static void
text_status(const Objd__StatusInfo *in)
{
	char buf[128];

	printf("pid: %" PRId64 "\n", in->pid);
	ctl_format_duration(buf, sizeof(buf), in->uptime);
	printf("uptime: %s\n", buf);
	ctl_print_field("version", in->version);
	ctl_print_field("file", in->file);
	ctl_print_field("socket", in->socket);
	printf("keys: %" PRIu64 "\n", in->keys);
	if (in->expiring_keys > 0 || in->held_keys > 0)
		printf("expiring keys: %" PRIu64 "\nheld keys: %" PRIu64 "\n",
		    in->expiring_keys, in->held_keys);
	printf("revision: %" PRIu64 "\n", in->revision);
	printf("clients: %" PRIu64 "\n", in->clients);
	if (in->reload_interval > 0)
		printf("reload interval: %gs\n", in->reload_interval);
	else
		printf("reload interval: never\n");
	ctl_format_time(buf, sizeof(buf), in->last_load);
	printf("last load: %s\n", buf);
	ctl_format_time(buf, sizeof(buf), in->last_save);
	printf("last save: %s\n", buf);
	if (in->file_room > 0)
		printf("file size: %" PRIu64 " (room after it: %" PRIu64 ")\n",
		    in->file_size, in->file_room);
	else
		printf("file size: %" PRIu64 "\n", in->file_size);
	printf("commits: %" PRIu64 "\n", in->commits);
	printf("history: %" PRIu64 " versions a key\n", in->history_depth);
	if (in->commit_waits > 0)
		printf("commit waits: %" PRIu64 " (%" PRIu64 " ran out)\n",
		    in->commit_waits, in->commit_waits_expired);
	ctl_print_field("fsync", in->fsync);
	ctl_format_time(buf, sizeof(buf), in->last_compaction);
	printf("last compaction: %s\n", buf);
	if (in->recovered_bytes > 0)
		printf("torn bytes cut at start: %" PRIu64 "\n",
		    in->recovered_bytes);
	if (*in->last_reload_error != '\0')
		ctl_print_field("last reload error", in->last_reload_error);
	if (*in->rejected_file != '\0')
		ctl_print_field("rejected file", in->rejected_file);
	if (*in->last_write_error != '\0')
		ctl_print_field("last write error", in->last_write_error);
	if (*in->backend != '\0')
		ctl_print_field("backend", in->backend);
	if (in->etcd != NULL) {
		const Objd__EtcdStatus *e = in->etcd;

		ctl_format_time(buf, sizeof(buf), e->since);
		printf("etcd: %s since %s, via %s, prefix %s\n",
		    e->reachable ? "reachable" : "unreachable", buf,
		    e->endpoint, e->prefix);
		ctl_format_time(buf, sizeof(buf), e->last_contact);
		printf("etcd last contact: %s\n", buf);
		printf("etcd revisions: cache %" PRIu64 ", etcd %" PRIu64 "\n",
		    e->cache_revision, e->etcd_revision);
		/* How far the cache trails the newest revision heard of. */
		printf("etcd lag: %" PRIu64 " revisions\n",
		    e->etcd_revision > e->cache_revision
		        ? e->etcd_revision - e->cache_revision
		        : 0);
		printf("etcd reconnects: %" PRIu64 ", resyncs: %" PRIu64 "\n",
		    e->reconnects, e->resyncs);
		printf("etcd connections: %" PRIu64 " open, %" PRIu64
		       " opened\n",
		    e->connections_open, e->connections_opened);
	}
}

/* An empty text is "none": null in JSON. */
static Objd__Value *
ctl_text(const char *s)
{
	return *s ? value_new_string(s, strlen(s)) : value_new_null();
}

static Objd__Value *
ctl_time_value(double t)
{
	char buf[64];

	if (!(t > 0))
		return value_new_null();
	ctl_format_time(buf, sizeof(buf), t);
	return value_new_string(buf, strlen(buf));
}

/* As JSON: every field, null for a text that is empty. */
static void
json_status(const Objd__StatusInfo *in)
{
	Objd__Value *m = value_new_map();

	ctl_add(m, "pid", value_new_int(in->pid));
	ctl_add(m, "uptime", value_new_double(in->uptime));
	ctl_add(m, "version",
	    value_new_string(in->version, strlen(in->version)));
	ctl_add(m, "file", value_new_string(in->file, strlen(in->file)));
	ctl_add(m, "socket", value_new_string(in->socket, strlen(in->socket)));
	ctl_add(m, "keys", ctl_uint(in->keys));
	ctl_add(m, "revision", ctl_uint(in->revision));
	ctl_add(m, "clients", ctl_uint(in->clients));
	ctl_add(m, "reload_interval", value_new_double(in->reload_interval));
	ctl_add(m, "last_load", ctl_time_value(in->last_load));
	ctl_add(m, "last_save", ctl_time_value(in->last_save));
	ctl_add(m, "last_reload_error", ctl_text(in->last_reload_error));
	ctl_add(m, "rejected_file", ctl_text(in->rejected_file));
	ctl_add(m, "file_size", ctl_uint(in->file_size));
	ctl_add(m, "file_room", ctl_uint(in->file_room));
	ctl_add(m, "fsync", value_new_string(in->fsync, strlen(in->fsync)));
	ctl_add(m, "last_compaction", ctl_time_value(in->last_compaction));
	ctl_add(m, "recovered_bytes", ctl_uint(in->recovered_bytes));
	ctl_add(m, "last_write_error", ctl_text(in->last_write_error));
	ctl_add(m, "commits", ctl_uint(in->commits));
	ctl_add(m, "commit_waits", ctl_uint(in->commit_waits));
	ctl_add(m, "commit_waits_expired", ctl_uint(in->commit_waits_expired));
	ctl_add(m, "history_depth", ctl_uint(in->history_depth));
	ctl_add(m, "expiring_keys", ctl_uint(in->expiring_keys));
	ctl_add(m, "held_keys", ctl_uint(in->held_keys));
	ctl_add(m, "backend", ctl_text(in->backend));
	if (in->etcd != NULL) {
		const Objd__EtcdStatus *e = in->etcd;
		Objd__Value *em = value_new_map();

		ctl_add(em, "endpoint", ctl_text(e->endpoint));
		ctl_add(em, "prefix", ctl_text(e->prefix));
		ctl_add(em, "reachable", value_new_bool(e->reachable));
		ctl_add(em, "since", ctl_time_value(e->since));
		ctl_add(em, "last_contact", ctl_time_value(e->last_contact));
		ctl_add(em, "cache_revision", ctl_uint(e->cache_revision));
		ctl_add(em, "etcd_revision", ctl_uint(e->etcd_revision));
		ctl_add(em, "reconnects", ctl_uint(e->reconnects));
		ctl_add(em, "resyncs", ctl_uint(e->resyncs));
		ctl_add(em, "cluster_id", ctl_uint(e->cluster_id));
		ctl_add(em, "connections_open", ctl_uint(e->connections_open));
		ctl_add(em, "connections_opened",
		    ctl_uint(e->connections_opened));
		ctl_add(m, "etcd", em);
	} else
		ctl_add(m, "etcd", value_new_null());
	ctl_print_json(m, 2);
}

/* The bytes objd keeps free after the file's last commit. */
static uint64_t
ctl_file_room(const struct ctl_file *f)
{
	return f->scan.padded ? f->len - f->scan.good_end : 0;
}

/* The bytes after the last good commit of a torn file. */
static uint64_t
ctl_file_torn(const struct ctl_file *f)
{
	return f->scan.result == SCAN_TORN ? f->len - f->scan.good_end : 0;
}

/* status --file: what the file tells, in the names of objd's status
 * where they are the same. */
static void
text_file_status(const struct ctl_file *f)
{
	uint64_t room = ctl_file_room(f), torn = ctl_file_torn(f);

	ctl_print_field("file", f->path);
	if (room > 0)
		printf("file size: %zu (room after it: %" PRIu64 ")\n",
		    f->scan.good_end, room);
	else
		printf("file size: %zu\n", f->scan.good_end);
	printf("keys: %zu\n", ctl_file_keys(f));
	printf("revision: %" PRIu64 "\n", f->scan.revision);
	printf("commits: %" PRIu64 "\n", f->scan.commits);
	if (torn > 0)
		printf("torn bytes at the end: %" PRIu64 "\n", torn);
	printf("compressed: %s\n", f->scan.compressed ? "yes" : "no");
	if (!f->scan.ours)
		printf("format: another program's (objd rewrites it in its "
		       "own when it loads it)\n");
}

static void
json_file_status(const struct ctl_file *f)
{
	Objd__Value *m = value_new_map();

	ctl_add(m, "file", value_new_string(f->path, strlen(f->path)));
	ctl_add(m, "file_size", ctl_uint(f->scan.good_end));
	ctl_add(m, "file_room", ctl_uint(ctl_file_room(f)));
	ctl_add(m, "keys", ctl_uint(ctl_file_keys(f)));
	ctl_add(m, "revision", ctl_uint(f->scan.revision));
	ctl_add(m, "commits", ctl_uint(f->scan.commits));
	ctl_add(m, "torn_bytes", ctl_uint(ctl_file_torn(f)));
	ctl_add(m, "compressed", value_new_bool(f->scan.compressed));
	ctl_add(m, "objd_format", value_new_bool(f->scan.ours));
	ctl_print_json(m, 2);
}

/* A version's time: ISO 8601 in UTC; "-" (null in JSON) if unknown. */
static void
ctl_format_utc(char *buf, size_t len, int64_t t)
{
	time_t secs = (time_t)t;
	struct tm tm;

	if (t <= 0 || t >= 253402300800 || gmtime_r(&secs, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

static const char *
ctl_what_name(Objd__Version__What what)
{
	switch (what) {
	case OBJD__VERSION__WHAT__SET:
		return "set";
	case OBJD__VERSION__WHAT__DELETE:
		return "delete";
	case OBJD__VERSION__WHAT__EXPIRE:
		return "expire";
	default:
		return "unknown";
	}
}

/* history: "REV TIME WHAT [VALUE]", the value as get prints it: a
 * string raw, the rest as JSON. */
static void
text_version(Objd__Version *v)
{
	char when[64], *text;

	ctl_format_utc(when, sizeof(when), v->time);
	printf("%" PRIu64 " %s %s", v->revision, when, ctl_what_name(v->what));
	if (v->value == NULL) {
		printf("\n");
		return;
	}
	if (v->value->kind_case == OBJD__VALUE__KIND_STRING_VALUE)
		printf(" %s\n", v->value->string_value);
	else {
		text = json_from_value(v->value, 0);
		printf(" %s\n", text);
		free(text);
	}
}

/* As JSON: {"revision", "time" (null if unknown), "what", "value"}. */
static void
json_version(Objd__Version *v)
{
	const char *what = ctl_what_name(v->what);
	Objd__Value *m = value_new_map();
	char when[64];

	ctl_format_utc(when, sizeof(when), v->time);
	ctl_add(m, "revision", ctl_uint(v->revision));
	ctl_add(m, "time",
	    v->time > 0 && strcmp(when, "-") != 0
	        ? value_new_string(when, strlen(when))
	        : value_new_null());
	ctl_add(m, "what", value_new_string(what, strlen(what)));
	if (v->value != NULL) {
		ctl_add(m, "value", v->value);
		v->value = NULL; /* the map's now */
	}
	ctl_print_json(m, 0);
}

const struct ctl_output ctl_output_text = {
	.object = ctl_print_object,
	.value = text_value,
	.meta = text_meta,
	.keys = text_keys,
	.written = text_written,
	.pong = text_pong,
	.status = text_status,
	.file_status = text_file_status,
	.version = text_version,
	.watch_current = text_watch_current,
	.watch_event = text_watch_event,
};

const struct ctl_output ctl_output_json = {
	.object = ctl_print_object,
	.value = json_value,
	.meta = json_meta,
	.keys = json_keys,
	.written = json_written,
	.pong = json_pong,
	.status = json_status,
	.file_status = json_file_status,
	.version = json_version,
	.watch_current = json_watch_current,
	.watch_event = json_watch_event,
};
