/* SPDX-License-Identifier: ISC */
/* reload.c: picking up changes that others made to the object file.
 *
 * inotify on the file's folder tells at once when the file is replaced;
 * a timer looks too, as the fallback. Either compares the file with what
 * objd last wrote or read. A changed file is loaded whole into a fresh
 * store and swapped in only if all of it is good, then rewritten in objd's
 * own format so that appends can go on. A bad one never replaces the state
 * being served: it is moved aside for inspection and the good state is
 * written back, so a restart does not lose it either.
 *
 * Without inotify, objd also looks at each turn of its loop, before it
 * handles the requests read: a write would otherwise go to a file
 * replaced up to an interval ago, be answered, and then be replaced with
 * it by the next look. A look is a stat, once a turn. */
#include <sys/inotify.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

static struct event *reload_timer;
static struct event *reload_inotify;
static int reload_inotify_fd = -1;

static void
reload_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	char err[1024];

	reload_now(false, err, sizeof(err));
}

/* Something in the file's folder changed; look if it was the file. */
static void
reload_inotify_cb(evutil_socket_t fd, short events, void *arg)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const char *base = strrchr(server.file_path, '/') + 1;
	bool ours = false;
	char err[1024];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->len > 0 && strcmp(ev->name, base) == 0)
				ours = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (ours)
		reload_now(false, err, sizeof(err));
}

static void
reload_watch_folder(void)
{
	char *dir = xstrndup(server.file_path,
	    (size_t)(strrchr(server.file_path, '/') - server.file_path));

	reload_inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (reload_inotify_fd == -1 ||
	    inotify_add_watch(reload_inotify_fd, *dir ? dir : "/",
	        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
	            IN_MOVED_FROM) == -1) {
		log_warn("cannot watch %s; looking every %g s and before "
		         "each turn of requests instead",
		    dir, server.reload_interval);
		if (reload_inotify_fd != -1)
			close(reload_inotify_fd);
		reload_inotify_fd = -1;
		free(dir);
		return;
	}
	free(dir);
	reload_inotify = event_new(server.base, reload_inotify_fd,
	    EV_READ | EV_PERSIST, reload_inotify_cb, NULL);
	if (reload_inotify == NULL || event_add(reload_inotify, NULL) == -1)
		fatalx("cannot watch the file's folder");
}

void
reload_init(void)
{
	struct timeval tv;

	if (server.reload_interval <= 0)
		return;
	reload_watch_folder();
	tv.tv_sec = (time_t)server.reload_interval;
	tv.tv_usec =
	    (suseconds_t)((server.reload_interval - (double)tv.tv_sec) * 1e6);
	reload_timer =
	    event_new(server.base, -1, EV_PERSIST, reload_timer_cb, NULL);
	if (reload_timer == NULL || event_add(reload_timer, &tv) == -1)
		fatalx("cannot start the reload timer");
}

void
reload_look_blind(void)
{
	char err[1024];

	if (reload_timer != NULL && reload_inotify == NULL)
		reload_now(false, err, sizeof(err));
}

void
reload_soon(void)
{
	if (reload_timer != NULL)
		event_active(reload_timer, EV_TIMEOUT, 1);
}

void
reload_free(void)
{
	if (reload_timer != NULL)
		event_free(reload_timer);
	reload_timer = NULL;
	if (reload_inotify != NULL)
		event_free(reload_inotify);
	reload_inotify = NULL;
	if (reload_inotify_fd != -1)
		close(reload_inotify_fd);
	reload_inotify_fd = -1;
}

static void
reload_set_error(const char *err)
{
	free(server.last_reload_error);
	server.last_reload_error = err != NULL ? xstrdup(err) : NULL;
}

/* A reload that finds yet another file renamed in when it writes back
 * loads that one too, up to this many times in a row; beyond, objd's
 * next look does (the timer, inotify, SIGHUP or objctl reload). */
#define RELOAD_CHASE_MAX 8

/* Set when a write-back gave way to a newer file: the reload goes on. */
static bool reload_again;

/* Writes the state in memory as the file, in objd's format; a rewrite
 * also stands in for a compaction that was under way. */
static bool
reload_write_back(void)
{
	char err[1024];

	/* The backend tells the compaction's waiters how it went. */
	switch (backend->ops->rewrite(backend, server.store, true, err,
	    sizeof(err))) {
	case BACKEND_CHANGED:
		log_warnx("%s", err);
		reload_again = true;
		return true;
	case BACKEND_MISSING:
		log_warnx("%s", err);
		return false;
	default:
		server.last_save = now_wall();
		return true;
	}
}

/* Keeps serving the state in memory, moves the bad file aside and writes
 * the good state back in its place. */
static void
reload_reject(const char *why)
{
	char err[1024];
	char *moved;
	int rc;

	rc = objfile_reject(server.file, &moved, err, sizeof(err));
	if (rc == 1) {
		/* Another program's rename took the bad file away. */
		log_warnx("%s did not load (%s) and was replaced again; objd "
		          "loads the new file",
		    server.file_path, why);
		reload_again = true;
		return;
	}
	if (rc == -1)
		log_warnx("%s", err);
	else {
		free(server.rejected_file);
		server.rejected_file = moved;
	}
	log_warnx("rejected %s: %s; kept serving revision %llu%s%s",
	    server.file_path, why,
	    (unsigned long long)store_revision(server.store),
	    moved != NULL ? ", bad file moved to " : "",
	    moved != NULL ? moved : "");
	reload_set_error(why);
	/* Never write over a bad file that could not be moved aside. */
	if (moved != NULL)
		reload_write_back();
}

static bool
reload_once(bool force, char *err, size_t errlen)
{
	enum objfile_state state;
	struct store *fresh;
	uint64_t revision;
	double began;

	state = objfile_check(server.file);
	if (state == OBJFILE_UNCHANGED && !force)
		return true;
	if (state == OBJFILE_MISSING) {
		log_warnx("%s was removed; writing the current state back",
		    server.file_path);
		if (!reload_write_back()) {
			snprintf(err, errlen, "cannot write %s back",
			    server.file_path);
			return false;
		}
		return true;
	}
	if (state == OBJFILE_UNCHANGED && server.last_reload_error != NULL) {
		/* Asked to reload, objd finds its own write-back of the state
		 * it kept: the last file given to it was rejected (often by
		 * its own look, a moment before the request), and that is the
		 * outcome the asker must hear, not an OK for reloading objd's
		 * own file. It holds until a good file is given. */
		snprintf(err, errlen,
		    "the last file given was rejected: %s; objd serves "
		    "revision %llu%s%s",
		    server.last_reload_error,
		    (unsigned long long)store_revision(server.store),
		    server.rejected_file != NULL ? ", the bad file is "
		                                   "at "
		                                 : "",
		    server.rejected_file != NULL ? server.rejected_file : "");
		return false;
	}
	began = now_monotonic();
	fresh = store_new();
	if (objfile_load(server.file, fresh, false, err, errlen) == -1) {
		store_free_behind(fresh);
		reload_reject(err);
		return false;
	}
	server.last_load = now_wall();
	reload_set_error(NULL);
	if (store_equal(fresh, server.store)) {
		/* The same state, perhaps in another program's format. */
		objfile_same_state(server.file);
		store_free_behind(fresh);
		if (state != OBJFILE_UNCHANGED)
			reload_write_back();
		return true;
	}
	/* A reload is one change: the revision only ever goes up. */
	revision = store_revision(fresh);
	if (revision <= store_revision(server.store))
		revision = store_revision(server.store) + 1;
	store_set_revision(fresh, revision);
	store_stamp(fresh, revision);
	store_free_behind(server.store);
	server.store = fresh;
	watch_reloaded(revision);
	expire_loaded();
	log_info("loaded %s: %zu keys, revision %llu in %.1f ms",
	    server.file_path, store_count(fresh), (unsigned long long)revision,
	    (now_monotonic() - began) * 1e3);
	reload_write_back();
	return true;
}

bool
reload_now(bool force, char *err, size_t errlen)
{
	bool ok = true;

	/* A look that finds nothing new leaves a sync in flight alone: the
	 * loop goes on serving while it runs. */
	if (!force && objfile_check(server.file) == OBJFILE_UNCHANGED)
		return true;
	/* The writes in flight and those waiting in the batch were checked
	 * and built against the state being served (a set of server.port
	 * carries the whole of server): they commit before a reload
	 * replaces it. */
	batch_commit();
	reload_again = true;
	for (int i = 0; reload_again && i < RELOAD_CHASE_MAX; i++) {
		reload_again = false;
		ok = reload_once(force && i == 0, err, errlen);
	}
	if (reload_again) {
		/* Until a later reload lands, a change writes the state
		 * over whatever file is there, as before the chase. */
		log_warnx("%s keeps being replaced while objd loads it; "
		          "objd loads the newest one at its next look",
		    server.file_path);
		backend->hooks->snapshot_done(false,
		    "the file keeps being replaced");
	}
	return ok;
}
