/* SPDX-License-Identifier: ISC */
/* objctl-file.h: objctl's reading of an object file without objd
 * (--file, check), through objd's own loader (common/objformat.h).
 * The answers have the shapes libobjd gives, so that objctl prints them
 * with the code it prints objd's with. */
#ifndef OBJCTL_FILE_H
#define OBJCTL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objd.pb-c.h"
#include "objfile-keep.h"
#include "objformat.h"

struct ctl_file {
	char *path;
	int fd;                  /* read-only, or -1 */
	uint8_t *buf;            /* what was read of it */
	size_t len;              /* bytes read */
	struct scan_report scan; /* the loader's verdict */
	Objd__Response *all;     /* the live entries, sorted by key */
};

/* Reads the file at path, read-only and without objd's lock, and walks
 * it: the state of the last good commit, as objd would load it. A torn
 * tail (an objd may be writing it) is left out; damage or an invalid
 * file is an error (objctl check tells more). Returns an objd_status:
 * OBJD_OK, OBJD_UNREACHABLE if there is no file, OBJD_DENIED if it may
 * not be read, OBJD_FAILED; err says why. */
int ctl_file_read(const char *path, struct ctl_file *f, char *err,
    size_t errlen);
/* Walks the file only, for check: f->scan says what it found. */
int ctl_file_scan(const char *path, struct ctl_file *f, char *err,
    size_t errlen);
void ctl_file_free(struct ctl_file *f);
/* The value at a key path, as objd_get_meta gives it: OBJD_OK with a new
 * *value (free it with value_free), OBJD_NOT_FOUND or OBJD_INVALID with
 * err. */
int ctl_file_get(const struct ctl_file *f, const char *path,
    Objd__Value **value, uint64_t *revision, char *err, size_t errlen);
/* The versions of key that the file at path holds, oldest first, as
 * objd_history answers: every one the file has (objd itself keeps its
 * --history of them). OBJD_OK with *resp, or an objd_status with err:
 * OBJD_NOT_FOUND if the file has no version of key, and those of
 * ctl_file_read. */
int ctl_file_history(const char *path, const char *key, Objd__Response **resp,
    char *err, size_t errlen);
/* The keys under prefix, as objd_list answers. */
Objd__Response *ctl_file_list(const struct ctl_file *f, const char *prefix);
/* The number of live keys. */
size_t ctl_file_keys(const struct ctl_file *f);
/* One line naming the class of damage the walk found ("torn tail",
 * "damage followed by good commits", ...). */
const char *ctl_file_damage_name(const struct scan_report *r);

/* Takes objd's lock of the file at path (path.lock), so that no objd
 * starts on it meanwhile: 0, or an objd_status with err (an objd holds
 * it). ctl_file_unlock lets it go. */
int ctl_file_lock(const char *path, int *lock_fd, bool *created, char *err,
    size_t errlen);
void ctl_file_unlock(const char *path, int lock_fd, bool created);

#endif
