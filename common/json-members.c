/* SPDX-License-Identifier: ISC */
/* json-members.c: see json-members.h.
 *
 * jansson parses only whole texts (its load callback still builds the
 * whole tree before it returns), and a document of a million keys held
 * whole, as its text, as jansson's objects and as Values, took objctl
 * load several hundred megabytes at once. So a small scanner finds where
 * each member's name and value start and end, and jansson parses each
 * of them alone: the buffer holds about one member and one read. The
 * scanner knows only what it takes to find the end of a value (strings
 * with their escapes, and nesting); jansson checks the rest. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "json-members.h"
#include "json.h"
#include "utf8.h"
#include "value.h"
#include "xmalloc.h"

/* Read at least this much at a time. */
#define JM_READ (64 * 1024)

enum jm_state { JM_OPEN, JM_FIRST, JM_NEXT, JM_END };

struct json_members {
	int fd;
	char *buf;
	/* buf[start, len) is kept; pos is the scanner's place in it. */
	size_t start, pos, len, cap;
	bool eof;
	int read_errno;
	unsigned long line; /* of buf[pos], from 1 */
	enum jm_state state;
};

struct json_members *
json_members_open(int fd, char *buf, size_t len, size_t cap)
{
	struct json_members *m = xcalloc(1, sizeof(*m));

	m->fd = fd;
	m->buf = buf;
	m->len = len;
	m->cap = cap;
	m->line = 1;
	return m;
}

void
json_members_close(struct json_members *m)
{
	if (m == NULL)
		return;
	free(m->buf);
	free(m);
}

/* Reads more text after buf's end, first moving what is kept to the
 * front; false at the end of the file or on an error (read_errno). */
static bool
jm_more(struct json_members *m)
{
	ssize_t r;

	if (m->eof)
		return false;
	if (m->start > 0 && m->cap - m->len < JM_READ) {
		memmove(m->buf, m->buf + m->start, m->len - m->start);
		m->len -= m->start;
		m->pos -= m->start;
		m->start = 0;
	}
	if (m->cap - m->len < JM_READ) {
		m->buf = xreallocarray(m->buf, 2, m->cap + JM_READ);
		m->cap = 2 * (m->cap + JM_READ);
	}
	do
		r = read(m->fd, m->buf + m->len, m->cap - m->len);
	while (r == -1 && errno == EINTR);
	if (r <= 0) {
		m->eof = true;
		m->read_errno = r == -1 ? errno : 0;
		return false;
	}
	m->len += (size_t)r;
	return true;
}

/* The byte at pos, or -1 at the end of the text. */
static inline int
jm_peek(struct json_members *m)
{
	if (m->pos == m->len && !jm_more(m))
		return -1;
	return (unsigned char)m->buf[m->pos];
}

static inline void
jm_step(struct json_members *m)
{
	if (m->buf[m->pos++] == '\n')
		m->line++;
}

static int
jm_skip_space(struct json_members *m)
{
	int ch;

	while (
	    (ch = jm_peek(m)) == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
		jm_step(m);
	return ch;
}

/* Fails the reader with a message that says where. */
static int
jm_fail(struct json_members *m, char *err, size_t errlen, const char *what)
{
	if (m->read_errno != 0)
		snprintf(err, errlen, "cannot read: %s",
		    strerror(m->read_errno));
	else
		snprintf(err, errlen, "line %lu: %s", m->line, what);
	m->state = JM_END;
	return -1;
}

/* Steps over the string that starts at pos; false if the text ends in
 * it. */
static bool
jm_scan_string(struct json_members *m)
{
	int ch;

	jm_step(m);
	while ((ch = jm_peek(m)) != -1) {
		jm_step(m);
		if (ch == '"')
			return true;
		if (ch == '\\') {
			if (jm_peek(m) == -1)
				return false;
			jm_step(m);
		}
	}
	return false;
}

/* Steps over the value that starts at pos: a string, an object or an
 * array with all it holds, or a literal up to what may follow one. */
static bool
jm_scan_value(struct json_members *m)
{
	unsigned long depth = 0;
	size_t from = m->pos;
	int ch = jm_peek(m);

	if (ch == '"')
		return jm_scan_string(m);
	if (ch == '{' || ch == '[') {
		while ((ch = jm_peek(m)) != -1) {
			if (ch == '"') {
				if (!jm_scan_string(m))
					return false;
				continue;
			}
			jm_step(m);
			if (ch == '{' || ch == '[')
				depth++;
			else if ((ch == '}' || ch == ']') && --depth == 0)
				return true;
		}
		return false;
	}
	while (ch != -1 && strchr(",}] \t\r\n", ch) == NULL) {
		jm_step(m);
		ch = jm_peek(m);
	}
	return m->pos > from;
}

/* The name in buf[start, pos), quotes included, unescaped. Most names
 * have no escape and are taken as they are; jansson reads the others. */
static char *
jm_name(struct json_members *m, size_t *len, char *err, size_t errlen)
{
	const char *text = m->buf + m->start + 1;
	size_t n = m->pos - m->start - 2;
	json_error_t je;
	json_t *j;
	char *key;

	for (size_t i = 0; i < n; i++)
		if (text[i] == '\\' || (unsigned char)text[i] < 0x20)
			goto escaped;
	if (!utf8_valid(text, n)) {
		snprintf(err, errlen, "a name is not valid UTF-8");
		return NULL;
	}
	*len = n;
	return xstrndup(text, n);

escaped:
	j = json_loadb(m->buf + m->start, m->pos - m->start, JSON_DECODE_ANY,
	    &je);
	if (j == NULL) {
		snprintf(err, errlen, "in a name: %s", je.text);
		return NULL;
	}
	*len = json_string_length(j);
	if (memchr(json_string_value(j), '\0', *len) != NULL) {
		snprintf(err, errlen, "a name holds a NUL character");
		json_decref(j);
		return NULL;
	}
	key = xstrndup(json_string_value(j), *len);
	json_decref(j);
	return key;
}

/* The member at pos, whose name starts there. */
static int
jm_member(struct json_members *m, char **key, size_t *keylen,
    Objd__Value **value, char *err, size_t errlen)
{
	unsigned long line;
	char why[512];

	m->start = m->pos;
	if (!jm_scan_string(m))
		return jm_fail(m, err, errlen, "the text ends inside a name");
	if ((*key = jm_name(m, keylen, why, sizeof(why))) == NULL)
		return jm_fail(m, err, errlen, why);
	if (jm_skip_space(m) != ':') {
		free(*key);
		return jm_fail(m, err, errlen, "':' expected after a name");
	}
	jm_step(m);
	jm_skip_space(m);
	m->start = m->pos;
	line = m->line;
	if (!jm_scan_value(m)) {
		free(*key);
		return jm_fail(m, err, errlen,
		    m->pos == m->start ? "a value expected"
		                       : "the text ends inside a value");
	}
	*value = json_to_value(m->buf + m->start, m->pos - m->start, why,
	    sizeof(why));
	m->start = m->pos;
	if (*value == NULL) {
		snprintf(err, errlen, "line %lu, the value of \"%s\": %s", line,
		    *key, why);
		free(*key);
		m->state = JM_END;
		return -1;
	}
	m->state = JM_NEXT;
	return 1;
}

int
json_members_next(struct json_members *m, char **key, size_t *keylen,
    Objd__Value **value, char *err, size_t errlen)
{
	int ch;

	switch (m->state) {
	case JM_END:
		return 0;
	case JM_OPEN:
		if (jm_skip_space(m) != '{')
			return jm_fail(m, err, errlen,
			    "the document is not a JSON object of keys and "
			    "values");
		jm_step(m);
		m->state = JM_FIRST;
		break;
	default:
		break;
	}
	/* Only what the scanner has yet to look at is kept. */
	m->start = m->pos;
	ch = jm_skip_space(m);
	if (ch == '}') {
		jm_step(m);
		m->start = m->pos;
		if (jm_skip_space(m) != -1)
			return jm_fail(m, err, errlen,
			    "more text after the object");
		if (m->read_errno != 0)
			return jm_fail(m, err, errlen, "");
		m->state = JM_END;
		return 0;
	}
	if (ch == -1)
		return jm_fail(m, err, errlen,
		    "the text ends inside the object");
	if (m->state == JM_NEXT) {
		if (ch != ',')
			return jm_fail(m, err, errlen,
			    "',' or '}' expected after a member");
		jm_step(m);
		ch = jm_skip_space(m);
	}
	if (ch != '"')
		return jm_fail(m, err, errlen,
		    "a name in double quotes expected");
	return jm_member(m, key, keylen, value, err, errlen);
}
