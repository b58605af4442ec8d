/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the configuration parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"

static void
test_defaults(void **state)
{
	struct conf conf;

	(void)state;
	assert_int_equal(conf_defaults(&conf), 0);
	assert_int_equal(conf.log_level, LOG_LEVEL_INFO);
	assert_int_equal(conf.log_target, LOG_TARGET_STDERR);
	assert_string_equal(conf.state_dir, "/var/lib/outpost");
	assert_string_equal(conf.boot_listen, "127.0.0.1:8080");
	assert_string_equal(conf.tls_cert, "");
	assert_int_equal(conf.boot_retry_seconds, 30);
	assert_int_equal(conf.http_max_body_bytes, 1048576);
	conf_free(&conf);
}

static void
test_parse_values(void **state)
{
	static const char text[] =
		"# comment\n"
		"\n"
		"[log]\n"
		"level = debug\n"
		"target=journal\r\n"
		"[boot]\n"
		"  listen =  10.1.2.3:80  \n"
		"retry_seconds = 5\n"
		"[http]\n"
		"threads = 2\n";
	struct conf conf;
	char err[256] = "";

	(void)state;
	assert_int_equal(conf_defaults(&conf), 0);
	assert_int_equal(conf_parse(&conf, text, strlen(text), err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(conf.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(conf.log_target, LOG_TARGET_JOURNAL);
	assert_string_equal(conf.boot_listen, "10.1.2.3:80");
	assert_int_equal(conf.boot_retry_seconds, 5);
	assert_int_equal(conf.http_threads, 2);
	/* Keys not in the text keep their defaults. */
	assert_string_equal(conf.api_socket, "/run/outpost/outpost.sock");
	conf_free(&conf);
}

struct bad_case {
	const char *text;
	const char *message;    /* expected substring of the error */
};

static const struct bad_case bad_cases[] = {
	{ "level = info\n", "line 1: key \"level\" is outside any [section]" },
	{ "[nope]\n", "line 1: unknown section [nope]" },
	{ "[log\n", "line 1: invalid section header" },
	{ "[]\n", "line 1: invalid section header" },
	{ "[log]\nverbose = 1\n", "line 2: unknown key \"verbose\" in [log]" },
	{ "[log]\nlevel = loud\n", "line 2: log.level: invalid value \"loud\"" },
	{ "[log]\ntarget = file\n", "invalid value \"file\": expected stderr or journal" },
	{ "[log]\nlevel\n", "line 2: expected \"key = value\"" },
	{ "[boot]\nretry_seconds = 0\n", "boot.retry_seconds: invalid value \"0\": expected a whole number from 1 to 3600" },
	{ "[boot]\nretry_seconds = -1\n", "invalid value \"-1\"" },
	{ "[boot]\nretry_seconds = 99999999999999999999999\n", "invalid value" },
	{ "[http]\nthreads = 2x\n", "http.threads: invalid value \"2x\"" },
};

static void
test_parse_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct conf conf;
		char err[256] = "";
		int r;

		assert_int_equal(conf_defaults(&conf), 0);
		r = conf_parse(&conf, bad_cases[i].text, strlen(bad_cases[i].text), err, sizeof(err));
		if (r != -EINVAL || strstr(err, bad_cases[i].message) == NULL)
			fail_msg("case %zu: got %d \"%s\", expected -EINVAL with \"%s\"", i, r, err,
				 bad_cases[i].message);
		conf_free(&conf);
	}
}

static void
test_parse_nul_byte(void **state)
{
	static const char text[] = "[log]\nlev\0el = info\n";
	struct conf conf;
	char err[256] = "";

	(void)state;
	assert_int_equal(conf_defaults(&conf), 0);
	assert_int_equal(conf_parse(&conf, text, sizeof(text) - 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2: contains a NUL byte"));
	conf_free(&conf);
}

static void
test_load_files(void **state)
{
	char dir[] = "/tmp/outpost-conf-XXXXXX";
	char path[128], err[256] = "";
	struct conf conf;
	FILE *file;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/outpost.conf", dir);

	/* A missing default file is fine; a missing named file is not. */
	assert_int_equal(conf_load(&conf, path, 0, err, sizeof(err)), 0);
	conf_free(&conf);
	assert_int_equal(conf_load(&conf, path, 1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	conf_free(&conf);

	file = fopen(path, "w");
	assert_non_null(file);
	fputs("[store]\nstate_dir = /srv/outpost\n[api]\nlisten = oops\nbogus = 1\n", file);
	fclose(file);
	assert_int_equal(conf_load(&conf, path, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 5: unknown key \"bogus\" in [api]"));
	assert_non_null(strstr(err, path));
	conf_free(&conf);

	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_nul_byte),
		cmocka_unit_test(test_load_files),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
