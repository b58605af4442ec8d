/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leveled logging to stderr or the systemd journal.
 *
 * Messages carry the object they concern as key=value pairs ("machine=12 mac=..."),
 * quote user-supplied strings and never include secrets. Levels follow syslog.
 */
#ifndef OUTPOST_LOG_H
#define OUTPOST_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
};

/* Set the minimum level written and where messages go. Thread-safe to call once at start. */
void log_setup(enum log_level min_level, enum log_target target);

/* Parse "err", "warning", "notice", "info" or "debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *text, enum log_level *ret);

/* Return true when messages at LEVEL are written, to skip building costly ones. */
bool log_enabled(enum log_level level);

/* Write one message. Use the macros below instead of calling this directly. */
void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_err(...) log_write(LOG_LEVEL_ERR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warning(...) log_write(LOG_LEVEL_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define log_notice(...) log_write(LOG_LEVEL_NOTICE, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_enabled(LOG_LEVEL_DEBUG)) \
			log_write(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#endif
