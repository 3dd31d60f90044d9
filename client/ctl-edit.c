/* SPDX-License-Identifier: ISC */
/* ctl-edit.c: objctl edit, which puts the object (or a KEY) as JSON in
 * $EDITOR and applies what changed as one change, at the revision read:
 * a change made meanwhile by someone else is a conflict, not lost. */
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "json.h"
#include "key.h"
#include "keypath.h"
#include "value.h"
#include "xmalloc.h"

/* edit: the text being edited, and what it started from. */
struct ctl_edit {
	const char *key;     /* KEY as given, or NULL for the object */
	char *path;          /* KEY as objd reads it */
	char *file;          /* the temporary file */
	char *text;          /* what it held at first */
	Objd__Response *all; /* the object, without KEY */
	Objd__Value *value;  /* KEY's value */
	uint64_t revision;   /* the object's when read */
	bool keep;           /* the file holds text that was not applied */
};

/* Reads what is to be edited and its revision. */
static int
ctl_edit_read(struct ctl *ctl, struct ctl_edit *ed)
{
	char *shown;
	int status;

	if (ed->key == NULL) {
		status = objd_get_all(ctl->client, &ed->all);
		if (status != OBJD_OK)
			return ctl_call_failed(ctl, status);
		ed->text =
		    json_from_entries(ed->all->entries, ed->all->n_entries, 2);
	} else {
		status = objd_get(ctl->client, ed->path, &ed->value);
		if (status == OBJD_NOT_FOUND) {
			shown = ctl_escape(ed->key, false);
			ctl_err(status, "key not found: %s", shown);
			free(shown);
			return status;
		}
		if (status != OBJD_OK)
			return ctl_call_failed(ctl, status);
		ed->text = json_from_value(ed->value, 2);
	}
	ed->revision = objd_client_revision(ctl->client);
	ed->text = xrealloc(ed->text, strlen(ed->text) + 2);
	strcat(ed->text, "\n");
	return OBJD_OK;
}

/* Puts the text in a new file of this user's alone. */
static int
ctl_edit_file(struct ctl_edit *ed)
{
	const char *tmp = getenv("TMPDIR");
	size_t len = strlen(ed->text);
	int fd;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	ed->file = xasprintf("%s/objctl-edit-XXXXXX.json", tmp);
	if ((fd = mkstemps(ed->file, 5)) == -1)
		return ctl_err(OBJD_FAILED, "cannot make a file in %s: %s", tmp,
		    strerror(errno));
	if (write(fd, ed->text, len) != (ssize_t)len || close(fd) == -1) {
		ctl_err(OBJD_FAILED, "cannot write %s: %s", ed->file,
		    strerror(errno));
		unlink(ed->file);
		return OBJD_FAILED;
	}
	return OBJD_OK;
}

/* Runs $VISUAL, else $EDITOR, else vi, on the file, through the shell
 * as git does, so that EDITOR="code --wait" works. */
static int
ctl_run_editor(const char *file)
{
	const char *editor = getenv("VISUAL");
	pid_t pid;
	int wstatus;

	if (editor == NULL || *editor == '\0')
		editor = getenv("EDITOR");
	if (editor == NULL || *editor == '\0')
		editor = "vi";
	fflush(stdout);
	if ((pid = fork()) == -1)
		return ctl_err(OBJD_FAILED, "cannot start %s: %s", editor,
		    strerror(errno));
	if (pid == 0) {
		char *cmd = xasprintf("%s \"$@\"", editor);

		execl("/bin/sh", "sh", "-c", cmd, editor, file, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &wstatus, 0) == -1)
		if (errno != EINTR)
			return ctl_err(OBJD_FAILED, "cannot wait for %s: %s",
			    editor, strerror(errno));
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		return OBJD_OK;
	return ctl_err(OBJD_FAILED,
	    "the editor (%s) failed (%s %d): nothing was changed", editor,
	    WIFEXITED(wstatus) ? "exit" : "signal",
	    WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
}

/* Whether a and b are the same value, types included. */
static bool
ctl_same_value(const Objd__Value *a, const Objd__Value *b)
{
	char *x = json_from_value(a, 0), *y = json_from_value(b, 0);
	bool same = strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

static const Objd__Value *
ctl_member(const Objd__Value *map, const char *key)
{
	for (size_t i = 0; i < map->map_value->n_fields; i++)
		if (strcmp(map->map_value->fields[i]->key, key) == 0)
			return map->map_value->fields[i]->value;
	return NULL;
}

/* The changes from the object read to doc: sets of the keys changed or
 * new, deletes of the keys gone. paths[] are the keys as paths. */
static size_t
ctl_edit_diff(const struct ctl_edit *ed, const Objd__Value *doc, objd_op *ops,
    char **paths)
{
	const Objd__MapValue *m = doc->map_value;
	const Objd__Entry *old;
	size_t n = 0, k;

	for (size_t i = 0; i < m->n_fields; i++) {
		for (k = 0, old = NULL; k < ed->all->n_entries && old == NULL;
		     k++)
			if (strcmp(ed->all->entries[k]->key,
			        m->fields[i]->key) == 0)
				old = ed->all->entries[k];
		if (old != NULL &&
		    ctl_same_value(old->value, m->fields[i]->value))
			continue;
		paths[n] = keypath_escape(m->fields[i]->key,
		    strlen(m->fields[i]->key));
		ops[n].key = paths[n];
		ops[n++].value = m->fields[i]->value;
	}
	for (k = 0; k < ed->all->n_entries; k++) {
		if (ctl_member(doc, ed->all->entries[k]->key) != NULL)
			continue;
		paths[n] = keypath_escape(ed->all->entries[k]->key,
		    strlen(ed->all->entries[k]->key));
		ops[n].key = paths[n];
		ops[n++].value = NULL;
	}
	return n;
}

/* The edited text as a document: NULL with the reason in err. */
static Objd__Value *
ctl_edit_parse(const struct ctl_edit *ed, const char *text, size_t len,
    char *err, size_t errlen)
{
	Objd__Value *doc = json_to_value(text, len, err, errlen);
	char why[256], *shown;

	if (doc == NULL || ed->key != NULL)
		return doc;
	if (doc->kind_case != OBJD__VALUE__KIND_MAP_VALUE) {
		snprintf(err, errlen,
		    "the object must stay a JSON object of keys and values, "
		    "not %s",
		    value_type_name(doc));
		value_free(doc);
		return NULL;
	}
	for (size_t i = 0; i < doc->map_value->n_fields; i++) {
		const char *key = doc->map_value->fields[i]->key;

		if (key_valid(key, strlen(key), why, sizeof(why)))
			continue;
		shown = ctl_escape(key, false);
		snprintf(err, errlen, "invalid key \"%s\": %s", shown, why);
		free(shown);
		value_free(doc);
		return NULL;
	}
	return doc;
}

/* Asks on the terminal whether to edit again. */
static bool
ctl_ask_again(void)
{
	char line[64];

	if (!isatty(STDIN_FILENO))
		return false;
	fputs("objctl: edit again? [Y/n] ", stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] != 'n' && line[0] != 'N';
}

/* Applies doc as one change at the revision read. */
static int
ctl_edit_apply(struct ctl *ctl, struct ctl_edit *ed, const Objd__Value *doc)
{
	size_t n = ed->all != NULL ? ed->all->n_entries : 0;
	size_t cap = n +
	    (doc->kind_case == OBJD__VALUE__KIND_MAP_VALUE
	            ? doc->map_value->n_fields
	            : 0) +
	    1;
	objd_op *ops = xcalloc(cap, sizeof(*ops));
	char **paths = xcalloc(cap, sizeof(*paths));
	int status;

	if (ed->key != NULL) {
		n = ctl_same_value(ed->value, doc) ? 0 : 1;
		ops[0].key = ed->path;
		ops[0].value = doc;
	} else
		n = ctl_edit_diff(ed, doc, ops, paths);
	if (n == 0) {
		fprintf(stderr, "objctl: no change: nothing was changed\n");
		status = OBJD_OK;
	} else if ((status = objd_batch_at(ctl->client, ops, n,
	                ed->revision)) != OBJD_OK) {
		ctl_write_failed(ctl, status);
		ctl_err(status,
		    "nothing was changed; the edited text is kept in %s",
		    ed->file);
		ed->keep = true;
	} else
		ctl_written(ctl);
	ctl_free_strs(paths, cap);
	free(ops);
	return status;
}

/* The edited file, whole; NULL with the reason printed. */
static char *
ctl_edit_text(const char *name, size_t *len)
{
	size_t cap;
	char *buf;
	bool eof;
	int fd;

	if ((fd = ctl_load_open(name)) == -1)
		return NULL;
	if (!ctl_read_upto(fd, name, SIZE_MAX, &buf, len, &cap, &eof))
		buf = NULL;
	close(fd);
	return buf;
}

static int
ctl_edit_loop(struct ctl *ctl, struct ctl_edit *ed)
{
	char err[512], *text;
	Objd__Value *doc;
	size_t len;
	int status;

	for (;;) {
		if ((status = ctl_run_editor(ed->file)) != OBJD_OK)
			return status;
		if ((text = ctl_edit_text(ed->file, &len)) == NULL)
			return OBJD_FAILED;
		if (len == strlen(ed->text) &&
		    memcmp(text, ed->text, len) == 0) {
			free(text);
			fprintf(stderr,
			    "objctl: no change: nothing was "
			    "changed\n");
			return OBJD_OK;
		}
		doc = ctl_edit_parse(ed, text, len, err, sizeof(err));
		free(text);
		if (doc != NULL)
			break;
		ctl_err(CTL_USAGE, "%s: %s", ed->file, err);
		ed->keep = !ctl_ask_again();
		if (ed->keep)
			return ctl_err(CTL_USAGE,
			    "nothing was changed; the edited text is kept in "
			    "%s",
			    ed->file);
	}
	status = ctl_edit_apply(ctl, ed, doc);
	value_free(doc);
	return status;
}

int
cmd_edit(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_edit ed = { .key = argc > 0 ? argv[0] : NULL };
	int status;

	if (ed.key != NULL && (status = ctl_key_arg(ed.key, &ed.path)) != 0)
		return status;
	if ((status = ctl_connect(ctl)) == OBJD_OK &&
	    (status = ctl_edit_read(ctl, &ed)) == OBJD_OK &&
	    (status = ctl_edit_file(&ed)) == OBJD_OK) {
		status = ctl_edit_loop(ctl, &ed);
		/* The text stays when it was not applied, for another try. */
		if (!ed.keep)
			unlink(ed.file);
	}
	free(ed.path);
	free(ed.file);
	free(ed.text);
	objd_response_free(ed.all);
	value_free(ed.value);
	return status;
}
