/* SPDX-License-Identifier: ISC */
/* paths.h: the default locations of the object file and the socket, the
 * same for objd and its clients (SPEC.md, "objd, the daemon"). */
#ifndef OBJD_PATHS_H
#define OBJD_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* $OBJD_FILE, else as root /var/lib/objd/objd.pb, else
 * $XDG_STATE_HOME/objd/objd.pb, else ~/.local/state/objd/objd.pb. */
char *paths_default_file(void);
/* $OBJD_SOCKET, else as root /run/objd/objd.sock, else
 * $XDG_RUNTIME_DIR/objd.sock, else /tmp/objd-$UID/objd.sock. */
char *paths_default_socket(void);
/* Creates dir and its missing parents; the last with mode. For the
 * default socket folder /tmp/objd-$UID it also checks that it belongs to
 * us and that no one else can write to it. False with the reason in
 * err. */
bool paths_make_dir(const char *dir, mode_t mode, char *err, size_t errlen);
/* The folder part of path, from xmalloc. */
char *paths_dirname(const char *path);

#endif
