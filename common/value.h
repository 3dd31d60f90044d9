/* SPDX-License-Identifier: ISC */
/* value.h: objd.Value helpers shared by objd and its clients. */
#ifndef OBJD_VALUE_H
#define OBJD_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objd.pb-c.h"

/* True if v and everything in it has a kind, nests at most
 * VALUE_DEPTH_MAX deep, and holds only valid strings and map keys, each
 * map key once. Otherwise writes why to err. */
bool value_valid(const Objd__Value *v, char *err, size_t errlen);
/* value_valid for a value decoded from a request by objd, whose strings
 * and map keys were checked as they were read (pbcheck, or
 * server/request-decode.c): a large string is checked once, not twice. */
bool value_valid_decoded(const Objd__Value *v, char *err, size_t errlen);
/* Encodes v into a new buffer; sets *len. */
uint8_t *value_pack(const Objd__Value *v, size_t *len);
/* v's encoded size, and v encoded at out, returning the bytes written:
 * what protobuf-c writes, but by hand for a scalar, which is what most
 * sets carry (protobuf-c walks the descriptor twice for it). */
size_t value_packed_size(const Objd__Value *v);
size_t value_pack_to(const Objd__Value *v, uint8_t *out);
/* Decodes untrusted bytes into a new Value, checked with pbcheck and
 * value_valid first; NULL with the reason in err if they are not one. */
Objd__Value *value_unpack(const uint8_t *buf, size_t len, char *err,
    size_t errlen);
/* Frees a Value from value_unpack or one built with xmalloc'd parts. */
void value_free(Objd__Value *v);
/* The name of v's type: "null", "bool", "int", "double", "string",
 * "bytes", "list", "map". */
const char *value_type_name(const Objd__Value *v);

/* Constructors of heap values, for the JSON parser and tests. Strings and
 * byte buffers are copied. */
Objd__Value *value_new_null(void);
Objd__Value *value_new_bool(bool b);
Objd__Value *value_new_int(int64_t i);
Objd__Value *value_new_double(double d);
Objd__Value *value_new_string(const char *s, size_t len);
Objd__Value *value_new_bytes(const uint8_t *p, size_t len);
Objd__Value *value_new_list(void);
Objd__Value *value_new_map(void);
/* Appends item to a list value; takes ownership of item. Only for lists
 * and maps made by value_new_list and value_new_map: their arrays grow by
 * doubling, those of a decoded value are sized exactly. */
void value_list_append(Objd__Value *list, Objd__Value *item);
/* Adds key = item to a map value; takes ownership of item. */
void value_map_add(Objd__Value *map, const char *key, size_t keylen,
    Objd__Value *item);

#endif
