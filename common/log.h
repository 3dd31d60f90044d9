/* SPDX-License-Identifier: ISC */
/* log.h: logging for objd and objctl, in the manner of OpenBSD's log.c. */
#ifndef OBJD_LOG_H
#define OBJD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Sets the program name and the destination: stderr, or syslog. On
 * stderr, when it is systemd's journal stream (JOURNAL_STREAM), each line
 * is "<N>message", N its syslog priority, without the program's name. */
void log_init(const char *progname, int to_syslog);
/* Messages above this level are dropped. */
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info" or "debug"; -1 if it is none of them. */
int log_level_parse(const char *name);

/* The _warn forms append strerror(errno); the _warnx forms do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit(1). */
_Noreturn void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
