/* SPDX-License-Identifier: ISC */
/* req-admin.c: ping, status, reload and compact. */
#include <unistd.h>

#include "backend-etcd.h"
#include "backend.h"
#include "block.h"
#include "objd.h"
#include "version.h"

void
handle_ping(struct conn *c, const Objd__Request *req)
{
	reply_status(c, req->id, OBJD__STATUS__OK, NULL);
}

void
handle_status(struct conn *c, const Objd__Request *req)
{
	Objd__StatusInfo info = OBJD__STATUS_INFO__INIT;
	struct backend_stats st;

	info.pid = getpid();
	info.uptime = now_wall() - server.started;
	info.file = (char *)options.file_path;
	info.socket = (char *)options.socket_path;
	info.keys = store_count(server.store);
	info.revision = store_revision(server.store);
	info.held_keys = leases_held(store_leases(server.store));
	info.expiring_keys =
	    leases_count(store_leases(server.store)) - info.held_keys;
	info.last_load = server.last_load;
	info.last_save = server.last_save;
	if (server.last_reload_error != NULL)
		info.last_reload_error = server.last_reload_error;
	if (server.rejected_file != NULL)
		info.rejected_file = server.rejected_file;
	info.version = (char *)OBJD_VERSION;
	info.clients = server.nconns;
	info.reload_interval = options.reload_interval;
	backend->ops->stats(backend, &st);
	info.file_size = st.file_size;
	info.file_room = st.file_room;
	info.history_depth = history_depth;
	info.fsync = (char *)fsync_mode_name(options.fsync);
	info.last_compaction = st.last_compaction;
	info.recovered_bytes = st.recovered_bytes;
	if (server.last_write_error != NULL)
		info.last_write_error = server.last_write_error;
	info.commits = server.commits;
	info.commit_waits = server.commit_waits;
	info.commit_waits_expired = server.commit_waits_expired;
	etcd_mode_status(&info);
	reply_info(c, req->id, &info);
}

void
handle_reload(struct conn *c, const Objd__Request *req)
{
	char err[1024];

	/* On etcd the file is objd's own cache: read etcd again instead. */
	if (etcd_mode_reload(err, sizeof(err)))
		reply_status(c, req->id, OBJD__STATUS__OK, NULL);
	else if (reload_now(true, err, sizeof(err)))
		reply_status(c, req->id, OBJD__STATUS__OK, NULL);
	else
		reply_status(c, req->id, OBJD__STATUS__FAILED, err);
}

void
handle_compact(struct conn *c, const Objd__Request *req)
{
	struct ticket waiter;

	if (backend->ops->compact == NULL) {
		/* Nothing of objd's own to compact. */
		reply_status(c, req->id, OBJD__STATUS__OK, NULL);
		return;
	}
	/* Like a write, the client waits for its answer before its next
	 * request is read. */
	waiter = block_park(c, req->id, BLOCK_ALONE);
	compact_now(&waiter);
}
