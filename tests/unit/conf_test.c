/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the configuration parser. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	assert_non_null(conf.tls_names);
	assert_null(conf.tls_names[0]);
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
	{ "[http]\nthreads = 2\nthreads = 3\n",
	  "line 3: duplicate key \"threads\" in [http], first set on line 2" },
	{ "[http]\nthreads = 2\n[log]\nlevel = info\n[http]\n\nthreads = 2\n",
	  "line 7: duplicate key \"threads\" in [http], first set on line 2" },
	{ "[api]\ntls_names = a.example\ntls_names = b.example\n",
	  "line 3: duplicate key \"tls_names\" in [api], first set on line 2" },
	{ "[api]\ntls_names = ok.example, bad_name\n",
	  "line 2: api.tls_names: invalid entry \"bad_name\": expected a DNS name or an IP address" },
	{ "[api]\ntls_names = 10.0.0.256\n", "invalid entry \"10.0.0.256\"" },
	{ "[api]\ntls_names = 1234\n", "invalid entry \"1234\"" },
	{ "[api]\ntls_names = fe80::1%eth0\n", "invalid entry \"fe80::1%eth0\"" },
	{ "[api]\ntls_names = *.example.com\n", "invalid entry \"*.example.com\"" },
	{ "[api]\ntls_names = a.example,,b.example\n", "api.tls_names: empty entry" },
	{ "[api]\ntls_names = a.example,\n", "api.tls_names: empty entry" },
	{ "[api]\ntls_names = a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,"
	  "aa,bb,cc,dd,ee,ff,gg\n", "api.tls_names: more than 32 entries" },
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
test_parse_tls_names(void **state)
{
	static const char text[] =
		"[api]\n"
		"tls_names = outpost.site.example , 10.20.0.1,fd00::1, Outpost.\n";
	struct conf conf;
	char err[256] = "";

	(void)state;
	assert_int_equal(conf_defaults(&conf), 0);
	assert_int_equal(conf_parse(&conf, text, strlen(text), err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(conf.tls_names[0], "outpost.site.example");
	assert_string_equal(conf.tls_names[1], "10.20.0.1");
	assert_string_equal(conf.tls_names[2], "fd00::1");
	assert_string_equal(conf.tls_names[3], "Outpost.");
	assert_null(conf.tls_names[4]);
	conf_free(&conf);
	assert_null(conf.tls_names);
}

static void
test_parse_names_at_max(void **state)
{
	struct conf conf;
	char text[512] = "[api]\ntls_names = ";
	char err[256] = "";
	size_t count = 0;

	(void)state;
	for (int i = 0; i < CONF_NAMES_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%sh%d", i > 0 ? "," : "", i);
		strcat(text, name);
	}
	strcat(text, "\n");

	assert_int_equal(conf_defaults(&conf), 0);
	assert_int_equal(conf_parse(&conf, text, strlen(text), err, sizeof(err)), 0);
	while (conf.tls_names[count] != NULL)
		count++;
	assert_int_equal(count, CONF_NAMES_MAX);
	assert_string_equal(conf.tls_names[CONF_NAMES_MAX - 1], "h31");
	conf_free(&conf);
}

/* The same key name in two sections is two different keys. */
static void
test_same_key_two_sections(void **state)
{
	static const char text[] =
		"[boot]\n"
		"listen = 10.0.0.1:80\n"
		"[api]\n"
		"listen = 10.0.0.1:443\n";
	struct conf conf;
	char err[256] = "";

	(void)state;
	assert_int_equal(conf_defaults(&conf), 0);
	assert_int_equal(conf_parse(&conf, text, strlen(text), err, sizeof(err)), 0);
	assert_string_equal(conf.boot_listen, "10.0.0.1:80");
	assert_string_equal(conf.api_listen, "10.0.0.1:443");
	conf_free(&conf);
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

/* Write `text` to `path`; fails the test on error. */
static void
write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");

	assert_non_null(file);
	assert_int_equal(fputs(text, file) >= 0, 1);
	assert_int_equal(fclose(file), 0);
}

static void
test_load_relative_templates(void **state)
{
	char dir[] = "/tmp/outpost-conf-XXXXXX";
	char real[PATH_MAX], sub[64], templates[64], path[128];
	char expected[PATH_MAX + 64], cwd[PATH_MAX], err[256] = "";
	struct conf conf;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(realpath(dir, real));
	snprintf(sub, sizeof(sub), "%s/etc", dir);
	snprintf(templates, sizeof(templates), "%s/ipxe", dir);
	snprintf(path, sizeof(path), "%s/outpost.conf", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(mkdir(templates, 0700), 0);

	/* An existing directory comes back canonical, without "..". */
	write_file(path, "[boot]\ntemplates = ../ipxe\n");
	assert_int_equal(conf_load(&conf, path, 1, err, sizeof(err)), 0);
	snprintf(expected, sizeof(expected), "%s/ipxe", real);
	assert_string_equal(conf.template_dir, expected);
	conf_free(&conf);

	/* A missing one is joined to the file's directory and left for boot to report. */
	write_file(path, "[boot]\ntemplates = missing/ipxe\n");
	assert_int_equal(conf_load(&conf, path, 1, err, sizeof(err)), 0);
	snprintf(expected, sizeof(expected), "%s/etc/missing/ipxe", real);
	assert_string_equal(conf.template_dir, expected);
	conf_free(&conf);

	/* A relative --config path gives the same result from its own directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(sub), 0);
	write_file("outpost.conf", "[boot]\ntemplates = ../ipxe\n");
	assert_int_equal(conf_load(&conf, "outpost.conf", 1, err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	snprintf(expected, sizeof(expected), "%s/ipxe", real);
	assert_string_equal(conf.template_dir, expected);
	conf_free(&conf);

	/* Absolute paths and the other path keys are left as written. */
	write_file(path, "[boot]\ntemplates = /srv/ipxe\n[store]\nstate_dir = state\n");
	assert_int_equal(conf_load(&conf, path, 1, err, sizeof(err)), 0);
	assert_string_equal(conf.template_dir, "/srv/ipxe");
	assert_string_equal(conf.state_dir, "state");
	conf_free(&conf);

	unlink(path);
	rmdir(templates);
	rmdir(sub);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_tls_names),
		cmocka_unit_test(test_parse_names_at_max),
		cmocka_unit_test(test_same_key_two_sections),
		cmocka_unit_test(test_parse_nul_byte),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_load_relative_templates),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
