/* SPDX-License-Identifier: ISC */
/* paths.c: default locations and folder creation. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "xmalloc.h"

static const char *
paths_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static const char *
paths_home(void)
{
	const char *home = paths_env("HOME");
	struct passwd *pw;

	if (home != NULL)
		return home;
	pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/";
}

char *
paths_default_file(void)
{
	const char *v;

	if ((v = paths_env("OBJD_FILE")) != NULL)
		return xstrdup(v);
	if (getuid() == 0)
		return xstrdup("/var/lib/objd/objd.pb");
	if ((v = paths_env("XDG_STATE_HOME")) != NULL)
		return xasprintf("%s/objd/objd.pb", v);
	return xasprintf("%s/.local/state/objd/objd.pb", paths_home());
}

char *
paths_default_socket(void)
{
	const char *v;

	if ((v = paths_env("OBJD_SOCKET")) != NULL)
		return xstrdup(v);
	if (getuid() == 0)
		return xstrdup("/run/objd/objd.sock");
	if ((v = paths_env("XDG_RUNTIME_DIR")) != NULL)
		return xasprintf("%s/objd.sock", v);
	return xasprintf("/tmp/objd-%lu/objd.sock", (unsigned long)getuid());
}

char *
paths_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* A folder in a shared place such as /tmp could have been made by someone
 * else beforehand; using it would hand them our socket. */
static bool
paths_check_private(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0) {
		snprintf(err, errlen,
		    "%s is not a private folder of this user (it must be a "
		    "folder owned by uid %lu with mode 0700)",
		    dir, (unsigned long)getuid());
		return false;
	}
	return true;
}

bool
paths_make_dir(const char *dir, mode_t mode, char *err, size_t errlen)
{
	char *parent;
	bool ok;

	if (mkdir(dir, mode) == 0 || errno == EEXIST)
		goto made;
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		return false;
	}
	parent = paths_dirname(dir);
	ok = strcmp(parent, dir) != 0 &&
	    paths_make_dir(parent, 0755, err, errlen);
	free(parent);
	if (!ok)
		return false;
	if (mkdir(dir, mode) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		return false;
	}
made:
	if (strncmp(dir, "/tmp/objd-", 10) == 0 && strchr(dir + 5, '/') == NULL)
		return paths_check_private(dir, err, errlen);
	return true;
}
