/* SPDX-License-Identifier: ISC */
/* objd-value.c: the values and JSON of libobjd's interface.
 *
 * objd and objctl share common/value.c and common/json.c under short
 * names (value_new_int, json_from_value); a library must not put such
 * names in its users' programs, so these are the public, prefixed names
 * of the same code. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "objd-client.h"
#include "value.h"

Objd__Value *
objd_value_new_null(void)
{
	return value_new_null();
}

Objd__Value *
objd_value_new_bool(bool b)
{
	return value_new_bool(b);
}

Objd__Value *
objd_value_new_int(int64_t i)
{
	return value_new_int(i);
}

Objd__Value *
objd_value_new_double(double d)
{
	return value_new_double(d);
}

Objd__Value *
objd_value_new_string(const char *s)
{
	return value_new_string(s, strlen(s));
}

Objd__Value *
objd_value_new_bytes(const void *p, size_t len)
{
	return value_new_bytes(p, len);
}

Objd__Value *
objd_value_new_list(void)
{
	return value_new_list();
}

Objd__Value *
objd_value_new_map(void)
{
	return value_new_map();
}

void
objd_value_list_append(Objd__Value *list, Objd__Value *item)
{
	value_list_append(list, item);
}

void
objd_value_map_add(Objd__Value *map, const char *key, Objd__Value *item)
{
	value_map_add(map, key, strlen(key), item);
}

void
objd_value_free(Objd__Value *v)
{
	value_free(v);
}

const char *
objd_value_type(const Objd__Value *v)
{
	return value_type_name(v);
}

char *
objd_value_to_json(const Objd__Value *v, int indent)
{
	return json_from_value(v, indent);
}

char *
objd_entries_to_json(Objd__Entry *const *entries, size_t n, int indent)
{
	return json_from_entries(entries, n, indent);
}

Objd__Value *
objd_value_from_json(const char *text, char *err, size_t errlen)
{
	return json_to_value(text, strlen(text), err, errlen);
}
