/* SPDX-License-Identifier: ISC */
/* json.h: objd.Value <-> JSON text, and objctl's reading of a VALUE.
 *
 * The JSON form: null, true/false, integers (int64) and doubles told
 * apart by their spelling (30 and 30.0), strings, arrays for lists and
 * objects for maps. Two forms have no JSON spelling and use a one-member
 * object: bytes are {"$bytes": "<base64>"} and a double that is not
 * finite is {"$double": "nan" | "inf" | "-inf"}. Parsing accepts the same
 * forms; a map whose only member is "$bytes" or "$double" is read as
 * those, never as a map. A third form escapes maps: {"$map": {...}} is
 * the inner map taken as it is, and a map whose only member is named
 * "$bytes", "$double" or "$map" is written so, which keeps every value
 * (and the whole object, json_from_entries) reading back as itself. */
#ifndef OBJD_JSON_H
#define OBJD_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "objd.pb-c.h"

/* Renders v as JSON. indent 0 gives one line; otherwise each level is
 * indented by that many spaces. Map members are sorted bytewise. Doubles
 * use the shortest text that reads back to the same double, with ".0"
 * when that would look like an integer. Returns a NUL-terminated string
 * from xmalloc. */
char *json_from_value(const Objd__Value *v, int indent);

/* Renders a map of entries (the whole object) as a JSON object, members
 * sorted bytewise. */
char *json_from_entries(Objd__Entry *const *entries, size_t n, int indent);

/* Parses a whole JSON document (any JSON value, not only an object) into
 * a Value. NULL with a message naming the line and column in err if it is
 * not valid JSON, or holds something objd cannot keep: an integer beyond
 * int64, a string with a NUL byte, a value nested deeper than 64. */
Objd__Value *json_to_value(const char *text, size_t len, char *err,
    size_t errlen);

/* objctl's rule for a VALUE argument: a JSON literal when it is one (30
 * is an int, 3.5 a double, true, null, "x", [...], {...}), otherwise the
 * string itself (John, New York, 01234). An argument that starts like a
 * JSON array, object or string but does not parse, or a number out of
 * range, is an error rather than a string; err says so and suggests
 * --string. */
Objd__Value *json_value_from_arg(const char *arg, char *err, size_t errlen);

#endif
