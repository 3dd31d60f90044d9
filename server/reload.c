/* reload.c: picking up changes that others made to the object file.
 *
 * A timer compares the file with what objd last wrote or read. A changed
 * file is loaded whole into a fresh store and swapped in only if all of it
 * is good. A bad one never replaces the state being served: it is moved
 * aside for inspection and the good state is written back, so a restart
 * does not lose it either. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objd.h"
#include "xmalloc.h"

static struct event *reload_timer;

static void
reload_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	char err[1024];

	reload_now(false, err, sizeof(err));
}

void
reload_init(void)
{
	struct timeval tv;

	if (server.reload_interval <= 0)
		return;
	tv.tv_sec = (time_t)server.reload_interval;
	tv.tv_usec =
	    (suseconds_t)((server.reload_interval - (double)tv.tv_sec) * 1e6);
	reload_timer =
	    event_new(server.base, -1, EV_PERSIST, reload_timer_cb, NULL);
	if (reload_timer == NULL || event_add(reload_timer, &tv) == -1)
		fatalx("cannot start the reload timer");
}

void
reload_free(void)
{
	if (reload_timer != NULL)
		event_free(reload_timer);
	reload_timer = NULL;
}

static bool
store_same_entry(const struct store *s, const struct store_entry *e)
{
	const struct store_entry *o = store_get(s, e->data, e->keylen);

	return o != NULL && o->vallen == e->vallen &&
	    memcmp(STORE_ENTRY_VALUE(o), STORE_ENTRY_VALUE(e), e->vallen) == 0;
}

/* True if a and b hold the same keys with the same values. */
static bool
store_same(struct store *a, const struct store *b)
{
	struct store_entry **all;
	size_t n;
	bool same = true;

	if (store_count(a) != store_count(b))
		return false;
	all = store_sorted(a, "", 0, &n);
	for (size_t i = 0; i < n && same; i++)
		same = store_same_entry(b, all[i]);
	free(all);
	return same;
}

static void
reload_set_error(const char *err)
{
	free(server.last_reload_error);
	server.last_reload_error = err != NULL ? xstrdup(err) : NULL;
}

/* Keeps serving the state in memory, moves the bad file aside and writes
 * the good state back in its place. */
static void
reload_reject(const char *why)
{
	char err[1024];
	char *moved;

	moved = objfile_reject(server.file, err, sizeof(err));
	if (moved == NULL)
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
	if (moved != NULL &&
	    objfile_save(server.file, server.store, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	else if (moved != NULL)
		server.last_save = now_wall();
}

bool
reload_now(bool force, char *err, size_t errlen)
{
	enum objfile_state state = objfile_check(server.file);
	struct store *fresh;
	uint64_t revision;

	if (state == OBJFILE_UNCHANGED && !force)
		return true;
	if (state == OBJFILE_MISSING) {
		log_warnx("%s was removed; writing the current state back",
		    server.file_path);
		if (objfile_save(server.file, server.store, err, errlen) ==
		    -1) {
			log_warnx("%s", err);
			return false;
		}
		server.last_save = now_wall();
		return true;
	}
	fresh = store_new();
	if (objfile_load(server.file, fresh, err, errlen) == -1) {
		store_free(fresh);
		reload_reject(err);
		return false;
	}
	server.last_load = now_wall();
	reload_set_error(NULL);
	if (store_same(fresh, server.store)) {
		store_free(fresh);
		return true;
	}
	/* A reload is one change: the revision only ever goes up. */
	revision = store_revision(fresh);
	if (revision <= store_revision(server.store))
		revision = store_revision(server.store) + 1;
	store_set_revision(fresh, revision);
	store_stamp(fresh, revision);
	store_free(server.store);
	server.store = fresh;
	log_info("loaded %s: %zu keys, revision %llu", server.file_path,
	    store_count(fresh), (unsigned long long)revision);
	return true;
}
