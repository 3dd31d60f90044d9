/* handle-read.c: get and list, answered at once from memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "objd.h"
#include "xmalloc.h"

void
handle_get(struct conn *c, const Objd__Request *req)
{
	const Objd__Get *get = req->get;
	struct store_entry **found;
	Objd__Status status = OBJD__STATUS__OK;
	char why[256], *error = NULL;
	size_t n = 0;

	if (get->n_keys == 0) {
		found = store_sorted(server.store, "", 0, &n);
		reply_entries(c, req->id, status, NULL, found, n);
		free(found);
		return;
	}
	found = xreallocarray(NULL, get->n_keys, sizeof(*found));
	for (size_t i = 0; i < get->n_keys; i++) {
		const char *key = get->keys[i];
		struct store_entry *e;

		if (!key_valid(key, strlen(key), why, sizeof(why))) {
			reply_status(c, req->id, OBJD__STATUS__INVALID, why);
			free(found);
			return;
		}
		e = store_get(server.store, key, strlen(key));
		if (e != NULL)
			found[n++] = e;
		else if (error == NULL) {
			status = OBJD__STATUS__NOT_FOUND;
			error = xasprintf("key not found: %s", key);
		}
	}
	reply_entries(c, req->id, status, error, found, n);
	free(error);
	free(found);
}

void
handle_list(struct conn *c, const Objd__Request *req)
{
	const char *prefix = req->list->prefix;
	struct store_entry **found;
	size_t n;

	found = store_sorted(server.store, prefix, strlen(prefix), &n);
	reply_keys(c, req->id, found, n);
	free(found);
}
