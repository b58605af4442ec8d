/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leveled logging. On stderr each line gets a UTC timestamp and the level name; in the
 * journal the level becomes PRIORITY and the source position CODE_FILE/CODE_LINE.
 */
#include "log/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-journal.h>

static enum log_level min_level = LOG_LEVEL_INFO;
static enum log_target target = LOG_TARGET_STDERR;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "err",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void
log_setup(enum log_level level, enum log_target where)
{
	min_level = level;
	target = where;
}

int
log_level_parse(const char *text, enum log_level *ret)
{
	for (int level = LOG_LEVEL_ERR; level <= LOG_LEVEL_DEBUG; level++) {
		if (strcmp(text, level_names[level]) == 0) {
			*ret = (enum log_level)level;
			return 0;
		}
	}
	return -EINVAL;
}

bool
log_enabled(enum log_level level)
{
	return level <= min_level;
}

void
log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char message[2048];
	va_list args;

	if (!log_enabled(level))
		return;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);

	if (target == LOG_TARGET_JOURNAL) {
		char code_file[512], code_line[32];

		snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
		snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
		sd_journal_send_with_location(code_file, code_line, "log_write", "MESSAGE=%s",
					      message, "PRIORITY=%d", (int)level, NULL);
		return;
	}

	struct timespec now;
	struct tm utc;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &utc);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
	/* One fprintf per line keeps lines from concurrent threads whole. */
	fprintf(stderr, "%s.%03ldZ %s: %s\n", stamp, now.tv_nsec / 1000000L, level_names[level],
		message);
}
