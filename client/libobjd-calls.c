/* SPDX-License-Identifier: ISC */
/* libobjd-calls.c: libobjd's typed calls (get, set, delete, batch,
 * hold, history, list, ping, status, reload, compact). Each builds one
 * request, sends it with objd_call() and checks what the answer carries
 * beyond its status; the connection, the framing and a watch's stream
 * are libobjd.c's. */
#include <stdlib.h>
#include <string.h>

#include "libobjd-internal.h"
#include "objd-client.h"
#include "value.h"
#include "xmalloc.h"

/* Checks the entries of a Get answer, so that callers may print them
 * without looking twice. */
int
client_check_entries(objd_client *c, Objd__Response *resp)
{
	char why[256];

	for (size_t i = 0; i < resp->n_entries; i++) {
		const Objd__Entry *e = resp->entries[i];

		if (*e->key == '\0' || e->value == NULL ||
		    !value_valid(e->value, why, sizeof(why))) {
			client_fail(c,
			    "objd at %s answered with an invalid entry: %s",
			    objd_client_socket(c),
			    e->value == NULL ? "no value" : why);
			return OBJD_FAILED;
		}
	}
	return OBJD_OK;
}

/* Reads one key, now or at revision at (0: now), and, if rev is not
 * NULL, the revision that last changed it. */
static int
client_get(objd_client *c, const char *key, uint64_t at, Objd__Value **value,
    uint64_t *rev, uint64_t *ttl_ms)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Response *resp;
	char *keys[1];
	int status;

	*value = NULL;
	keys[0] = (char *)key;
	get.n_keys = 1;
	get.keys = keys;
	get.at_revision = at;
	get.consistent = client_consistent(c) && at == 0;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	status = objd_call(c, &req, &resp);
	if (status != OBJD_OK)
		goto out;
	if ((status = client_check_entries(c, resp)) != OBJD_OK)
		goto out;
	/* "The keys found": a missing key may come back as no entry. */
	if (resp->n_entries == 0) {
		client_fail(c, "key not found: %s", key);
		status = OBJD_NOT_FOUND;
		goto out;
	}
	if (resp->n_entries != 1 || strcmp(resp->entries[0]->key, key) != 0) {
		client_fail(c, "objd at %s answered with another key than %s",
		    objd_client_socket(c), key);
		status = OBJD_FAILED;
		goto out;
	}
	*value = resp->entries[0]->value;
	resp->entries[0]->value = NULL;
	if (rev != NULL)
		*rev = resp->entries[0]->revision;
	if (ttl_ms != NULL)
		*ttl_ms = resp->entries[0]->ttl_ms;
out:
	objd_response_free(resp);
	return status;
}

int
objd_get(objd_client *c, const char *key, Objd__Value **value)
{
	return client_get(c, key, 0, value, NULL, NULL);
}

int
objd_get_meta(objd_client *c, const char *key, Objd__Value **value,
    uint64_t *revision)
{
	*revision = 0;
	return client_get(c, key, 0, value, revision, NULL);
}

int
objd_get_ttl(objd_client *c, const char *key, Objd__Value **value,
    uint64_t *revision, uint64_t *ttl_ms)
{
	*revision = 0;
	*ttl_ms = 0;
	return client_get(c, key, 0, value, revision, ttl_ms);
}

int
objd_get_at(objd_client *c, const char *key, uint64_t at, Objd__Value **value,
    uint64_t *revision)
{
	uint64_t rev = 0;
	int status = client_get(c, key, at, value, &rev, NULL);

	if (revision != NULL)
		*revision = rev;
	return status;
}

int
objd_get_all(objd_client *c, Objd__Response **resp)
{
	return objd_get_all_at(c, 0, resp);
}

int
objd_get_all_at(objd_client *c, uint64_t at, Objd__Response **resp)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	int status;

	get.at_revision = at;
	get.consistent = client_consistent(c) && at == 0;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	status = objd_call(c, &req, resp);
	if (status == OBJD_OK &&
	    (status = client_check_entries(c, *resp)) != OBJD_OK) {
		objd_response_free(*resp);
		*resp = NULL;
	}
	return status;
}

/* Sends req and keeps only its status: for requests whose answer says
 * nothing beyond it and the revision. */
static int
client_call_status(objd_client *c, Objd__Request *req)
{
	Objd__Response *resp;
	int status;

	status = objd_call(c, req, &resp);
	objd_response_free(resp);
	return status;
}

/* The conditions of a write, as the request carries them; free both
 * arrays with free(). The strings stay the caller's. */
static Objd__Condition **
client_conditions(const objd_cond *conds, size_t n, Objd__Condition **store)
{
	Objd__Condition *cs, **ptrs;

	cs = xreallocarray(NULL, n, sizeof(*cs));
	ptrs = xreallocarray(NULL, n, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		objd__condition__init(&cs[i]);
		cs[i].key = (char *)conds[i].key;
		if (conds[i].absent) {
			cs[i].test_case = OBJD__CONDITION__TEST_ABSENT;
			cs[i].absent = true;
		} else {
			cs[i].test_case = OBJD__CONDITION__TEST_REVISION;
			cs[i].revision = conds[i].revision;
		}
		ptrs[i] = &cs[i];
	}
	*store = cs;
	return ptrs;
}

/* Sends req, a set, a delete or a batch, under conditions
 * conds[0 .. nconds) and keeps only its status. The three carry their
 * conditions alike, so each write builds only its own operations. */
static int
client_call_write(objd_client *c, Objd__Request *req, const objd_cond *conds,
    size_t nconds)
{
	Objd__Condition *cs, **ptrs;
	int status;

	ptrs = client_conditions(conds, nconds, &cs);
	switch (req->op_case) {
	case OBJD__REQUEST__OP_SET:
		req->set->n_conditions = nconds;
		req->set->conditions = ptrs;
		break;
	case OBJD__REQUEST__OP_DELETE:
		req->delete_->n_conditions = nconds;
		req->delete_->conditions = ptrs;
		break;
	case OBJD__REQUEST__OP_BATCH:
		req->batch->n_conditions = nconds;
		req->batch->conditions = ptrs;
		break;
	default:
		/* Only the writes above take conditions. */
		abort();
	}
	status = client_call_status(c, req);
	free(ptrs);
	free(cs);
	return status;
}

/* Fills e with a key and value to set. Packing only reads them; the
 * casts satisfy the generated struct, which has no const members. */
static void
client_entry(Objd__Entry *e, const char *key, const Objd__Value *value)
{
	objd__entry__init(e);
	e->key = (char *)key;
	e->value = (Objd__Value *)value;
}

int
objd_set(objd_client *c, const char *const *keys,
    const Objd__Value *const *values, size_t n)
{
	return objd_set_if(c, keys, values, n, NULL, 0);
}

int
objd_set_if(objd_client *c, const char *const *keys,
    const Objd__Value *const *values, size_t n, const objd_cond *conds,
    size_t nconds)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry *entries, **ptrs;
	int status;

	entries = xreallocarray(NULL, n, sizeof(*entries));
	ptrs = xreallocarray(NULL, n, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		client_entry(&entries[i], keys[i], values[i]);
		ptrs[i] = &entries[i];
	}
	set.n_entries = n;
	set.entries = ptrs;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	status = client_call_write(c, &req, conds, nconds);
	free(ptrs);
	free(entries);
	return status;
}

int
objd_delete(objd_client *c, const char *const *keys, size_t n)
{
	return objd_delete_if(c, keys, n, NULL, 0);
}

int
objd_delete_if(objd_client *c, const char *const *keys, size_t n,
    const objd_cond *conds, size_t nconds)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Delete del = OBJD__DELETE__INIT;

	del.n_keys = n;
	del.keys = (char **)keys;
	req.op_case = OBJD__REQUEST__OP_DELETE;
	req.delete_ = &del;
	return client_call_write(c, &req, conds, nconds);
}

/* What a batch asks beyond its operations and conditions. */
struct client_batch_opts {
	bool replace;
	uint64_t ttl_ms;
	bool hold;
	/* A condition on the whole object's revision. */
	bool at;
	uint64_t object_revision;
};

static int
client_batch(objd_client *c, const objd_op *ops, size_t nops,
    const objd_cond *conds, size_t nconds, const struct client_batch_opts *opts)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	Objd__Operation *os, **ptrs;
	Objd__Entry *entries;
	int status;

	os = xreallocarray(NULL, nops, sizeof(*os));
	ptrs = xreallocarray(NULL, nops, sizeof(*ptrs));
	entries = xreallocarray(NULL, nops, sizeof(*entries));
	for (size_t i = 0; i < nops; i++) {
		objd__operation__init(&os[i]);
		if (ops[i].value != NULL) {
			client_entry(&entries[i], ops[i].key, ops[i].value);
			os[i].op_case = OBJD__OPERATION__OP_SET;
			os[i].set = &entries[i];
		} else {
			os[i].op_case = OBJD__OPERATION__OP_DELETE;
			os[i].delete_ = (char *)ops[i].key;
		}
		ptrs[i] = &os[i];
	}
	batch.n_operations = nops;
	batch.operations = ptrs;
	batch.replace = opts->replace;
	batch.ttl_ms = opts->ttl_ms;
	batch.hold = opts->hold;
	if (opts->at) {
		batch.object_condition_case =
		    OBJD__BATCH__OBJECT_CONDITION_IF_OBJECT_REVISION;
		batch.if_object_revision = opts->object_revision;
	}
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &batch;
	status = client_call_write(c, &req, conds, nconds);
	free(entries);
	free(ptrs);
	free(os);
	return status;
}

int
objd_batch(objd_client *c, const objd_op *ops, size_t nops,
    const objd_cond *conds, size_t nconds, bool replace)
{
	struct client_batch_opts opts = { .replace = replace };

	return client_batch(c, ops, nops, conds, nconds, &opts);
}

int
objd_batch_at(objd_client *c, const objd_op *ops, size_t nops,
    uint64_t object_revision)
{
	struct client_batch_opts opts = { .at = true,
		.object_revision = object_revision };

	return client_batch(c, ops, nops, NULL, 0, &opts);
}

int
objd_batch_ttl(objd_client *c, const objd_op *ops, size_t nops,
    const objd_cond *conds, size_t nconds, uint64_t ttl_ms)
{
	struct client_batch_opts opts = { .ttl_ms = ttl_ms };

	return client_batch(c, ops, nops, conds, nconds, &opts);
}

int
objd_hold(objd_client *c, const objd_op *ops, size_t nops, bool if_absent)
{
	struct client_batch_opts opts = { .hold = true };
	objd_cond *conds = NULL;
	int status;

	if (if_absent) {
		conds = xcalloc(nops, sizeof(*conds));
		for (size_t i = 0; i < nops; i++) {
			conds[i].key = ops[i].key;
			conds[i].absent = true;
		}
	}
	status = client_batch(c, ops, nops, conds, if_absent ? nops : 0, &opts);
	free(conds);
	return status;
}

int
objd_delete_prefix(objd_client *c, const char *prefix)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	Objd__Operation op = OBJD__OPERATION__INIT, *ops[1] = { &op };

	op.op_case = OBJD__OPERATION__OP_DELETE_PREFIX;
	op.delete_prefix = (char *)prefix;
	batch.n_operations = 1;
	batch.operations = ops;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &batch;
	return client_call_write(c, &req, NULL, 0);
}

int
objd_history(objd_client *c, const char *key, Objd__Response **resp)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__History history = OBJD__HISTORY__INIT;
	char why[256];
	int status;

	history.key = (char *)key;
	req.op_case = OBJD__REQUEST__OP_HISTORY;
	req.history = &history;
	status = objd_call(c, &req, resp);
	if (status != OBJD_OK)
		return status;
	for (size_t i = 0; i < (*resp)->n_versions; i++) {
		const Objd__Version *v = (*resp)->versions[i];

		if (v->what == OBJD__VERSION__WHAT__SET &&
		    (v->value == NULL ||
		        !value_valid(v->value, why, sizeof(why)))) {
			client_fail(c,
			    "objd at %s answered with an invalid version: %s",
			    objd_client_socket(c),
			    v->value == NULL ? "no value" : why);
			objd_response_free(*resp);
			*resp = NULL;
			return OBJD_FAILED;
		}
	}
	return OBJD_OK;
}

int
objd_list(objd_client *c, const char *prefix, Objd__Response **resp)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__List list = OBJD__LIST__INIT;

	if (prefix != NULL)
		list.prefix = (char *)prefix;
	req.op_case = OBJD__REQUEST__OP_LIST;
	req.list = &list;
	return objd_call(c, &req, resp);
}

int
objd_ping(objd_client *c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Ping ping = OBJD__PING__INIT;

	req.op_case = OBJD__REQUEST__OP_PING;
	req.ping = &ping;
	return client_call_status(c, &req);
}

int
objd_status(objd_client *c, Objd__Response **resp)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__StatusQuery query = OBJD__STATUS_QUERY__INIT;
	int status;

	req.op_case = OBJD__REQUEST__OP_STATUS;
	req.status = &query;
	status = objd_call(c, &req, resp);
	if (status == OBJD_OK && (*resp)->info == NULL) {
		client_fail(c,
		    "objd at %s answered a status query without its state",
		    objd_client_socket(c));
		objd_response_free(*resp);
		*resp = NULL;
		status = OBJD_FAILED;
	}
	return status;
}

int
objd_reload(objd_client *c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Reload reload = OBJD__RELOAD__INIT;

	req.op_case = OBJD__REQUEST__OP_RELOAD;
	req.reload = &reload;
	return client_call_status(c, &req);
}

int
objd_compact(objd_client *c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Compact compact = OBJD__COMPACT__INIT;

	req.op_case = OBJD__REQUEST__OP_COMPACT;
	req.compact = &compact;
	return client_call_status(c, &req);
}
