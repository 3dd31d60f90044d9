/* SPDX-License-Identifier: ISC */
/* log.c: logging to stderr, the journal or syslog. */
#include <sys/stat.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char *log_progname = "objd";
static int log_to_syslog;
static bool log_to_journal;
static enum log_level log_level = LOG_LEVEL_INFO;

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connects a
 * service's stderr to. It is inherited by whatever the service runs, so
 * it counts only if stderr is still that very stream (systemd.exec(5)). */
static bool
log_stderr_is_journal(void)
{
	const char *s = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char extra;

	if (s == NULL || sscanf(s, "%llu:%llu%c", &dev, &ino, &extra) != 2)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, int to_syslog)
{
	log_progname = progname;
	log_to_syslog = to_syslog;
	log_to_journal = !to_syslog && log_stderr_is_journal();
	if (to_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_level_parse(const char *name)
{
	static const char *names[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

/* A message at level, with the syslog priority given (fatal's is
 * LOG_CRIT), or the level's own if priority is -1. */
static void __attribute__((format(printf, 4, 0)))
log_vemit(enum log_level level, int priority, int with_errno, const char *fmt,
    va_list ap)
{
	static const int priorities[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		LOG_DEBUG };
	char msg[2048];
	int saved_errno = errno;
	size_t n;

	if (level > log_level)
		return;
	if (priority == -1)
		priority = priorities[level];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s",
		    strerror(saved_errno));
	}
	if (log_to_syslog)
		syslog(priority, "%s", msg);
	else if (log_to_journal)
		/* sd-daemon(3)'s prefix: journald files the line at that
		 * priority, and names the unit itself. */
		fprintf(stderr, "<%d>%s\n", priority, msg);
	else
		fprintf(stderr, "%s: %s\n", log_progname, msg);
	errno = saved_errno;
}

#define LOG_FN(name, level, with_errno)                                        \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vemit(level, -1, with_errno, fmt, ap);                     \
		va_end(ap);                                                    \
	}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
