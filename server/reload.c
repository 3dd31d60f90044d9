/* SPDX-License-Identifier: ISC */
/* reload.c: picking up changes that others made to the object file.
 *
 * inotify on the file's folder tells at once when the file is replaced;
 * a timer looks too, as the fallback. Either compares the file with what
 * objd last wrote or read. A changed file is loaded whole into a fresh
 * store, on a thread while the loop goes on serving reads (a million keys
 * take most of a second), and swapped in on the loop only if all of it is
 * good, then rewritten in objd's own format so that appends can go on.
 * Writes wait for the swap (reload_holds): built on the state being
 * replaced, they would be lost with it. A bad one never replaces the state
 * being served: it is moved aside for inspection and the good state is
 * written back, so a restart does not lose it either.
 *
 * Without inotify, objd also looks at each turn of its loop, before it
 * handles the requests read: a write would otherwise go to a file
 * replaced up to an interval ago, be answered, and then be replaced with
 * it by the next look. A look is a stat, once a turn.
 *
 * Only the file backend has outside replacement (the backend's
 * outside_replacement; on etcd the file is objd's own cache), so reload
 * is the file backend's detection of it and reaches the file through
 * objfile.c; a compaction's waiters hear of a rewrite through the
 * backend's snapshot_done hook, as they do from the backend itself. */
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/wait.h>

#include <pthread.h>
#include <signal.h>

#include <errno.h>
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

/* Where a reload is: its two long steps, the load of the new file and
 * the write-back of the state, run beside the loop (a thread, a child),
 * and the loop goes on with the rest when each lands. */
enum reload_phase {
	RELOAD_IDLE,
	RELOAD_LOADING,     /* the thread reads the file into fresh */
	RELOAD_WRITING_BACK /* a child writes the state as the file */
};

static struct {
	enum reload_phase phase;
	pthread_t thread;
	bool threaded; /* false: the load ran in the loop, no thread to join */
	struct objfile_read *read;
	struct store *fresh;
	enum objfile_state state; /* what objfile_check said before it */
	uint64_t served;          /* the revision served when the load began */
	uint64_t stamped; /* the revision the thread gave fresh's keys */
	double began;
	/* The chase: its round, and how the last round ended. */
	int round;
	bool ok;
	char err[1024];
	/* A failed write-back fails the round (a removed file's). */
	bool write_back_counts;
	/* The thread says it is done through an eventfd. */
	int done_fd;
	struct event *done_ev;
	bool look_again; /* a look came while the reload ran */
} aside = { .done_fd = -1 };

static struct event *reload_timer;
static struct event *reload_inotify;
static int reload_inotify_fd = -1;

static void reload_look(void);

static void
reload_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	reload_look();
}

/* Something in the file's folder changed; look if it was the file. */
static void
reload_inotify_cb(evutil_socket_t fd, short events, void *arg)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const char *base = strrchr(options.file_path, '/') + 1;
	bool ours = false;
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
		reload_look();
}

static void
reload_watch_folder(void)
{
	char *dir = xstrndup(options.file_path,
	    (size_t)(strrchr(options.file_path, '/') - options.file_path));

	reload_inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (reload_inotify_fd == -1 ||
	    inotify_add_watch(reload_inotify_fd, *dir ? dir : "/",
	        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
	            IN_MOVED_FROM) == -1) {
		log_warn("cannot watch %s; looking every %g s and before "
		         "each turn of requests instead",
		    dir, options.reload_interval);
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

	if (options.reload_interval <= 0)
		return;
	reload_watch_folder();
	tv.tv_sec = (time_t)options.reload_interval;
	tv.tv_usec =
	    (suseconds_t)((options.reload_interval - (double)tv.tv_sec) * 1e6);
	reload_timer =
	    event_new(server.base, -1, EV_PERSIST, reload_timer_cb, NULL);
	if (reload_timer == NULL || event_add(reload_timer, &tv) == -1)
		fatalx("cannot start the reload timer");
}

static void reload_chase(bool force);

void
reload_look_blind(void)
{
	/* A rewrite of the file (after a failed sync) kills a write-back's
	 * child, the state it wrote itself: the reload goes on. */
	if (aside.phase == RELOAD_WRITING_BACK &&
	    !objfile_writing_back(server.file)) {
		aside.phase = RELOAD_IDLE;
		reload_chase(false);
	}
	if (reload_timer != NULL && reload_inotify == NULL)
		reload_look();
}

void
reload_soon(void)
{
	if (reload_timer != NULL)
		event_active(reload_timer, EV_TIMEOUT, 1);
}

static void reload_abandon(void);

void
reload_free(void)
{
	reload_abandon();
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

/* How a step of a reload ended at once, if it did. */
enum reload_step {
	RELOAD_STEP_DONE,   /* aside.ok says how the round went */
	RELOAD_STEP_BESIDE, /* a load or a write-back runs beside the loop */
};

/* What a write-back came to. */
static void
reload_written(enum objfile_result rc, const char *err)
{
	if (rc == OBJFILE_GAVE_WAY) {
		log_warnx("%s", err);
		reload_again = true;
		return;
	}
	if (rc == OBJFILE_FAILED) {
		log_warnx("%s", err);
		backend->hooks->snapshot_done(false, err);
		if (aside.write_back_counts) {
			snprintf(aside.err, sizeof(aside.err),
			    "cannot write %s back", options.file_path);
			aside.ok = false;
		}
		return;
	}
	server.last_save = now_wall();
	backend->hooks->snapshot_done(true, NULL);
}

/* A state at least this large is written back by a child after a load:
 * a million keys take most of a second to write and sync. Meanwhile,
 * reads see it before the file at the path is objd's own (that file is
 * the one just loaded, which holds the same keys and values). A smaller
 * one is written in the loop, in a few milliseconds, as before: once a
 * client sees the new state, the file holds it in objd's format. */
#define RELOAD_CHILD_MIN_KEYS 16384
#define RELOAD_CHILD_MIN_BYTES (1024 * 1024)

/* Writes the state in memory as the file, in objd's format; a rewrite
 * also stands in for a compaction that was under way. With beside, a
 * large state is written by a child. Without (the file was removed or
 * moved aside: nothing at the path holds the state), it is written in
 * the loop whatever its size, so that a crash finds it there. counts: a
 * failure fails the round (a removed file's). */
static enum reload_step
reload_write_back(bool beside, bool counts)
{
	char err[1024];
	enum objfile_result rc;

	aside.write_back_counts = counts;
	if (beside &&
	    (store_count(server.store) >= RELOAD_CHILD_MIN_KEYS ||
	        store_bytes(server.store) >= RELOAD_CHILD_MIN_BYTES)) {
		if (objfile_write_back_start(server.file, server.store, err,
		        sizeof(err)) != -1) {
			aside.phase = RELOAD_WRITING_BACK;
			return RELOAD_STEP_BESIDE;
		}
		log_warnx("%s; writing the file in the loop", err);
	}
	rc = objfile_write_back(server.file, server.store, err, sizeof(err));
	reload_written(rc, err);
	return RELOAD_STEP_DONE;
}

/* The child of objfile_write_back_start exited with status. */
static void
reload_written_back(int status)
{
	char err[1024];
	enum objfile_result rc;

	rc = objfile_write_back_finish(server.file, status, err, sizeof(err));
	aside.phase = RELOAD_IDLE;
	reload_written(rc, err);
	reload_chase(false);
}

/* Keeps serving the state in memory, moves the bad file aside and writes
 * the good state back in its place. */
static enum reload_step
reload_reject(const char *why)
{
	char err[1024];
	char *moved;
	enum objfile_result rc;

	rc = objfile_reject(server.file, &moved, err, sizeof(err));
	if (rc == OBJFILE_GAVE_WAY) {
		/* Another program's rename took the bad file away. */
		log_warnx("%s did not load (%s) and was replaced again; objd "
		          "loads the new file",
		    options.file_path, why);
		reload_again = true;
		return RELOAD_STEP_DONE;
	}
	if (rc == OBJFILE_FAILED)
		log_warnx("%s", err);
	else {
		free(server.rejected_file);
		server.rejected_file = moved;
	}
	log_warnx("rejected %s: %s; kept serving revision %llu%s%s",
	    options.file_path, why,
	    (unsigned long long)store_revision(server.store),
	    moved != NULL ? ", bad file moved to " : "",
	    moved != NULL ? moved : "");
	reload_set_error(why);
	/* Never write over a bad file that could not be moved aside. */
	if (moved != NULL)
		return reload_write_back(false, false);
	return RELOAD_STEP_DONE;
}

static void *
reload_read_main(void *arg)
{
	uint64_t one = 1;

	objfile_read_run(aside.read);
	/* A reload is one change: every key gets its revision, above the
	 * one served when the load began. Stamping a million keys takes
	 * tens of milliseconds, better spent here than on the loop, which
	 * stamps again only if the revision served moved meanwhile. */
	aside.stamped = store_revision(aside.fresh);
	if (aside.stamped <= aside.served)
		aside.stamped = aside.served + 1;
	store_stamp(aside.fresh, aside.stamped);
	/* A full counter cannot be: it is read after each load. */
	while (write(aside.done_fd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
	return NULL;
}

/* Starts the thread of a load, with signals blocked: they are the loop's
 * to take. False if it cannot. */
static bool
reload_start_thread(void)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&aside.thread, NULL, reload_read_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		log_warnx("cannot start a thread to load %s (%s); loading it "
		          "in the loop",
		    options.file_path, strerror(rc));
	return rc == 0;
}

static void reload_land(void);

static void
reload_done_cb(evutil_socket_t fd, short events, void *arg)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("cannot read the reload's eventfd");
	if (aside.phase == RELOAD_LOADING)
		reload_land();
}

static void
reload_make_done_event(void)
{
	if (aside.done_ev != NULL)
		return;
	aside.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (aside.done_fd == -1)
		fatal("cannot make an eventfd for reloads");
	aside.done_ev = event_new(server.base, aside.done_fd,
	    EV_READ | EV_PERSIST, reload_done_cb, NULL);
	if (aside.done_ev == NULL || event_add(aside.done_ev, NULL) == -1)
		fatalx("cannot watch the reload's eventfd");
}

/* Starts the load of the file into a fresh store, on a thread; without
 * one, does it now. Either way, reload_land goes on from there. */
static void
reload_load_aside(enum objfile_state state)
{
	reload_make_done_event();
	aside.state = state;
	aside.began = now_monotonic();
	aside.fresh = store_new();
	aside.served = store_revision(server.store);
	aside.read = objfile_read_new(server.file, aside.fresh);
	aside.phase = RELOAD_LOADING;
	aside.threaded = reload_start_thread();
	if (!aside.threaded)
		reload_read_main(NULL);
}

/* Waits for the step beside the loop to end, and lands it. */
static void
reload_wait(void)
{
	pid_t child;
	uint64_t n;
	int status, rc;

	if (aside.phase == RELOAD_LOADING) {
		if (aside.threaded)
			pthread_join(aside.thread, NULL);
		/* Its wake-up is spent here. */
		if (read(aside.done_fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
			log_warn("cannot read the reload's eventfd");
		reload_land();
		return;
	}
	if (!objfile_writing_back(server.file)) {
		/* Taken over by a rewrite (reload_look_blind). */
		aside.phase = RELOAD_IDLE;
		reload_chase(false);
		return;
	}
	child = objfile_compact_child(server.file);
	while ((rc = waitpid(child, &status, 0)) == -1 && errno == EINTR)
		;
	if (rc != child) {
		/* Nothing can take the child from here: a bug. */
		fatal("cannot wait for the write-back of %s",
		    options.file_path);
	}
	batch_settle();
	reload_written_back(status);
}

bool
reload_child_exited(void)
{
	pid_t child, rc;
	int status;

	if (aside.phase != RELOAD_WRITING_BACK ||
	    !objfile_writing_back(server.file))
		return false;
	child = objfile_compact_child(server.file);
	while ((rc = waitpid(child, &status, WNOHANG)) == -1 && errno == EINTR)
		;
	if (rc != child)
		return true;
	batch_settle();
	reload_written_back(status);
	return true;
}

/* At shutdown: a load is waited for and dropped; a write-back's child
 * goes with objfile_close. */
static void
reload_abandon(void)
{
	char err[1024];

	if (aside.phase == RELOAD_LOADING) {
		if (aside.threaded)
			pthread_join(aside.thread, NULL);
		objfile_read_finish(server.file, aside.read, err, sizeof(err));
		store_free(aside.fresh);
	}
	aside.phase = RELOAD_IDLE;
	if (aside.done_ev != NULL)
		event_free(aside.done_ev);
	aside.done_ev = NULL;
	if (aside.done_fd != -1)
		close(aside.done_fd);
	aside.done_fd = -1;
}

bool
reload_holds(const struct conn *c, const Objd__Request *req)
{
	/* A write waits for the state it is to be built on, and for the
	 * file it is to go to. So do all the requests of a client that
	 * wrote, as they did when the reload held up the loop: its writes
	 * committed before the reload, and it reads the state that
	 * replaced them. Clients that only read are served the state being
	 * replaced until the new one lands. */
	const struct request_kind *k;

	if (aside.phase == RELOAD_IDLE)
		return false;
	k = request_kind_of(req->op_case);
	return (k != NULL && (k->flags & REQ_WRITES)) || conn_wrote(c);
}

/* The round of a reload before its load. */
static enum reload_step
reload_begin(bool force)
{
	enum objfile_state state;

	aside.ok = true;
	aside.err[0] = '\0';
	state = objfile_check(server.file);
	if (state == OBJFILE_UNCHANGED && !force)
		return RELOAD_STEP_DONE;
	if (state == OBJFILE_MISSING) {
		log_warnx("%s was removed; writing the current state back",
		    options.file_path);
		return reload_write_back(false, true);
	}
	if (state == OBJFILE_UNCHANGED && server.last_reload_error != NULL) {
		/* Asked to reload, objd finds its own write-back of the state
		 * it kept: the last file given to it was rejected (often by
		 * its own look, a moment before the request), and that is the
		 * outcome the asker must hear, not an OK for reloading objd's
		 * own file. It holds until a good file is given. */
		snprintf(aside.err, sizeof(aside.err),
		    "the last file given was rejected: %s; objd serves "
		    "revision %llu%s%s",
		    server.last_reload_error,
		    (unsigned long long)store_revision(server.store),
		    server.rejected_file != NULL ? ", the bad file is "
		                                   "at "
		                                 : "",
		    server.rejected_file != NULL ? server.rejected_file : "");
		aside.ok = false;
		return RELOAD_STEP_DONE;
	}
	reload_load_aside(state);
	return RELOAD_STEP_BESIDE;
}

/* The round of a reload once its load has ended: the new state replaces
 * the one served if all of it is good. */
static enum reload_step
reload_swap(struct store *fresh, enum objfile_load_result rc, const char *why)
{
	uint64_t revision;

	if (rc == OBJFILE_LOAD_FAILED) {
		store_free_behind(fresh);
		snprintf(aside.err, sizeof(aside.err), "%s", why);
		aside.ok = false;
		return reload_reject(why);
	}
	server.last_load = now_wall();
	reload_set_error(NULL);
	if (store_equal(fresh, server.store)) {
		/* The same state, perhaps in another program's format. */
		objfile_same_state(server.file);
		store_free_behind(fresh);
		if (aside.state != OBJFILE_UNCHANGED)
			return reload_write_back(true, false);
		return RELOAD_STEP_DONE;
	}
	/* What committed while the load ran (no client's write: those
	 * wait) was built on the state being served: it commits before that
	 * state is replaced. */
	batch_commit();
	/* A reload is one change: the revision only ever goes up. */
	revision = store_revision(fresh);
	if (revision <= store_revision(server.store))
		revision = store_revision(server.store) + 1;
	store_set_revision(fresh, revision);
	if (revision != aside.stamped)
		store_stamp(fresh, revision);
	store_free_behind(server.store);
	server.store = fresh;
	watch_reloaded(revision);
	expire_loaded();
	log_info("loaded %s: %zu keys, revision %llu in %.1f ms",
	    options.file_path, store_count(fresh), (unsigned long long)revision,
	    (now_monotonic() - aside.began) * 1e3);
	return reload_write_back(true, false);
}

/* Runs the rounds of a reload until a step runs beside the loop, or the
 * chase ends. */
static void
reload_chase(bool force)
{
	while (reload_again && aside.round < RELOAD_CHASE_MAX) {
		bool first = force && aside.round == 0;

		reload_again = false;
		aside.round++;
		if (reload_begin(first) == RELOAD_STEP_BESIDE)
			return;
	}
	if (reload_again) {
		/* Until a later reload lands, a change writes the state
		 * over whatever file is there, as before the chase. */
		log_warnx("%s keeps being replaced while objd loads it; "
		          "objd loads the newest one at its next look",
		    options.file_path);
		backend->hooks->snapshot_done(false,
		    "the file keeps being replaced");
	}
	/* The requests held meanwhile are handled at the end of this turn
	 * of the loop, on the state the reload left. */
	conn_resume_held();
	if (aside.look_again) {
		aside.look_again = false;
		reload_look();
	}
}

static void
reload_land(void)
{
	struct store *fresh = aside.fresh;
	char why[1024];
	enum objfile_load_result rc;

	aside.phase = RELOAD_IDLE;
	aside.fresh = NULL;
	rc = objfile_read_finish(server.file, aside.read, why, sizeof(why));
	aside.read = NULL;
	if (reload_swap(fresh, rc, why) == RELOAD_STEP_DONE)
		reload_chase(false);
}

/* A look at the file (inotify, the timer, each turn without inotify):
 * a changed file is loaded aside, and the loop goes on meanwhile. */
static void
reload_look(void)
{
	if (aside.phase != RELOAD_IDLE) {
		aside.look_again = true;
		return;
	}
	/* A look that finds nothing new leaves a sync in flight alone: the
	 * loop goes on serving while it runs. */
	if (objfile_check(server.file) == OBJFILE_UNCHANGED)
		return;
	/* The writes in flight and those waiting in the batch were checked
	 * and built against the state being served (a set of server.port
	 * carries the whole of server): they commit before a reload
	 * replaces it. */
	batch_commit();
	reload_again = true;
	aside.round = 0;
	reload_chase(false);
}

bool
reload_now(bool force, char *err, size_t errlen)
{
	while (aside.phase != RELOAD_IDLE)
		reload_wait();
	if (!force && objfile_check(server.file) == OBJFILE_UNCHANGED)
		return true;
	batch_commit();
	reload_again = true;
	aside.round = 0;
	aside.ok = true;
	aside.err[0] = '\0';
	reload_chase(force);
	/* Asked, not looked: the answer waits for the end. */
	while (aside.phase != RELOAD_IDLE)
		reload_wait();
	snprintf(err, errlen, "%s", aside.err);
	return aside.ok;
}
