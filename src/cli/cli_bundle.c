/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `outpost bundle`: the commands that work on bundle files without a daemon. keygen
 * makes a signing key, create builds a bundle from a spec, inspect shows a bundle's
 * manifest and verify checks a whole bundle against the trusted keys.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle/bundle.h"

#define DEFAULT_TRUSTED_KEYS "/etc/outpost/trusted-keys"
/* Progress lines drawn per second, at most. */
#define PROGRESS_HZ 10


enum {
	OPT_JSON = CLI_LONG_OWN_FIRST,
	OPT_ZSTD,
	OPT_FORCE,
	OPT_TEST_KEY,
	OPT_ALLOW_TEST_KEYS,
	OPT_ALLOW_DOWNGRADE,
	OPT_INSTALLED,
	OPT_KEY,
	OPT_OUTPUT,
	OPT_BASE,
	OPT_TRUSTED_KEYS,
	OPT_TRUSTED_KEY,
};

static const struct option long_options[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "zstd", no_argument, NULL, OPT_ZSTD },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "test-key", no_argument, NULL, OPT_TEST_KEY },
	{ "allow-test-keys", no_argument, NULL, OPT_ALLOW_TEST_KEYS },
	{ "allow-downgrade", no_argument, NULL, OPT_ALLOW_DOWNGRADE },
	{ "installed", no_argument, NULL, OPT_INSTALLED },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "base", required_argument, NULL, OPT_BASE },
	{ "trusted-keys", required_argument, NULL, OPT_TRUSTED_KEYS },
	{ "trusted-key", required_argument, NULL, OPT_TRUSTED_KEY },
	CLI_CONNECTION_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *out)
{
	fputs("usage: outpost bundle keygen NAME [--test-key]\n"
	      "       outpost bundle create SPEC --key KEY [--output FILE] [--zstd] [--force]\n"
	      "                             [--base DIR]\n"
	      "       outpost bundle inspect FILE [KEY OPTIONS] [--json]\n"
	      "       outpost bundle verify FILE [KEY OPTIONS] [--json]\n"
	      "With the daemon (CONNECTION OPTIONS as for outpost machine):\n"
	      "       outpost bundle load FILE [--allow-downgrade]\n"
	      "       outpost bundle list [--json]\n"
	      "       outpost bundle show NAME VERSION [--json]\n"
	      "       outpost bundle remove NAME VERSION [--force]\n"
	      "       outpost bundle verify --installed [--json]\n"
	      "\n"
	      "KEY OPTIONS name the public keys trusted for this check:\n"
	      "  --trusted-keys DIR   every *.pub file in DIR (default " DEFAULT_TRUSTED_KEYS ")\n"
	      "  --trusted-key FILE   one more public key; repeatable\n"
	      "  --allow-test-keys    accept keys marked outpost-test-key\n"
	      "CONNECTION OPTIONS: --socket PATH, or --url URL with --token-file FILE,\n"
	      "  --cacert FILE and --insecure.\n"
	      "\n"
	      "See docs/bundle-format.md for the format and docs/cli.md for exit codes.\n",
	      out);
}

/* Human size: "812 MiB". */
void
cli_size_text(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double value = (double)bytes;
	size_t unit = 0;

	while (value >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		unit++;
	}
	snprintf(out, size, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
cli_progress_init(struct cli_progress *p, const char *label, uint64_t total)
{
	p->enabled = isatty(STDERR_FILENO) == 1;
	p->label = label;
	p->total = total;
	p->started_ns = now_ns();
	p->drawn_ns = 0;
}

void
cli_progress_draw(struct cli_progress *p, uint64_t done, bool last)
{
	char done_text[32], total_text[32], rate_text[32], left[32] = "";
	int64_t now = now_ns();
	double seconds, rate;

	if (!p->enabled || (!last && now - p->drawn_ns < 1000000000 / PROGRESS_HZ))
		return;
	p->drawn_ns = now;
	seconds = (double)(now - p->started_ns) / 1e9;
	rate = seconds > 0 ? (double)done / seconds : 0;
	cli_size_text(done, done_text, sizeof(done_text));
	cli_size_text(p->total, total_text, sizeof(total_text));
	cli_size_text((uint64_t)rate, rate_text, sizeof(rate_text));
	if (!last && rate > 0 && p->total > done) {
		uint64_t eta = (uint64_t)((double)(p->total - done) / rate);

		snprintf(left, sizeof(left), ", %" PRIu64 ":%02" PRIu64 " left", eta / 60,
			 eta % 60);
	}
	fprintf(stderr, "\r%s %s of %s, %s/s%s\033[K%s", p->label, done_text, total_text,
		rate_text, left, last ? "\n" : "");
}

static void
create_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct cli_progress *p = ctx;

	p->total = total;
	cli_progress_draw(p, done, false);
}

static int
keyring_build(const struct cli_bundle_opts *o, struct bundle_keyring **ret)
{
	char err[BUNDLE_ERR_SIZE];
	struct bundle_keyring *ring;
	int rc;

	rc = bundle_keyring_new(o->allow_test_keys, &ring);
	if (rc < 0)
		return rc;
	rc = bundle_keyring_add_dir(ring, o->trusted_keys ? o->trusted_keys
							  : DEFAULT_TRUSTED_KEYS,
				    err, sizeof(err));
	for (size_t i = 0; rc == 0 && i < o->pub_key_count; i++)
		rc = bundle_keyring_add_file(ring, o->pub_keys[i], err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "outpost bundle: %s\n", err);
		bundle_keyring_free(ring);
		return rc;
	}
	*ret = ring;
	return 0;
}

static json_t *
manifest_summary(const struct bundle_manifest *m)
{
	json_t *files = json_array();
	uint64_t total = 0;

	for (size_t i = 0; i < m->file_count; i++) {
		const struct bundle_file *f = &m->files[i];
		json_t *file = json_pack("{s:s, s:I, s:s, s:s}", "path", f->path, "size",
					 (json_int_t)f->size, "sha256", f->sha256, "role",
					 bundle_role_name(f->role));

		if (file != NULL && f->metadata != NULL)
			json_object_set(file, "metadata", f->metadata);
		json_array_append_new(files, file);
		total += f->size;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "name", m->name, "version",
			 m->version, "kind", bundle_kind_name(m->kind), "key_id", m->key_id,
			 "manifest_sha256", m->sha256, "payload_bytes", (json_int_t)total, "files",
			 files);
}

static void
manifest_print(const struct bundle_manifest *m)
{
	char size[32];

	printf("name:     %s\nversion:  %s\nkind:     %s\nkey:      %s\nmanifest: %s\n",
	       m->name, m->version, bundle_kind_name(m->kind), m->key_id, m->sha256);
	if (m->description != NULL)
		printf("about:    %s\n", m->description);
	printf("files:    %zu\n", m->file_count);
	for (size_t i = 0; i < m->file_count; i++) {
		cli_size_text(m->files[i].size, size, sizeof(size));
		printf("  %-15s %10s  %.16s  %s\n", bundle_role_name(m->files[i].role), size,
		       m->files[i].sha256, m->files[i].path);
	}
}

int
cli_json_print(json_t *json)
{
	char *text = json != NULL ? json_dumps(json, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

	json_decref(json);
	if (text == NULL)
		return CLI_EXIT_REJECTED;
	puts(text);
	free(text);
	return CLI_EXIT_OK;
}

static int
cmd_keygen(const struct cli_bundle_opts *o, const char *name)
{
	char err[BUNDLE_ERR_SIZE], id[BUNDLE_KEY_ID_SIZE];

	if (bundle_keygen(name, o->test_key, id, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost bundle keygen: %s\n", err);
		return CLI_EXIT_REJECTED;
	}
	if (o->json)
		return cli_json_print(json_pack("{s:s, s:s++, s:s++, s:b}", "key_id", id,
					    "private_key", name, ".key", "public_key", name,
					    ".pub", "test_only", o->test_key));
	printf("key %s: private key %s.key (keep it offline), public key %s.pub\n", id, name,
	       name);
	return CLI_EXIT_OK;
}

static int
cmd_create(const struct cli_bundle_opts *o, const char *source)
{
	char spec[4096];
	struct stat st;
	struct bundle_create_opts c = {
		.spec_path = spec,
		.base_dir = o->base,
		.key_path = o->key,
		.output_path = o->output,
		.zstd = o->zstd,
		.replace = o->force,
	};
	char err[BUNDLE_ERR_SIZE], output[4096];
	struct bundle_manifest *m;
	struct cli_progress p;
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	uint64_t mtime = 0;

	if (o->key == NULL) {
		fprintf(stderr, "outpost bundle create: --key KEY is required: the private key "
			"that signs the bundle\n");
		return CLI_EXIT_USAGE;
	}
	/* A folder stands for the spec.json in it, with sources relative to the folder. */
	if (stat(source, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(spec, sizeof(spec), "%s/spec.json", source);
	else
		snprintf(spec, sizeof(spec), "%s", source);
	if (epoch != NULL && uint_parse(epoch, 0, UINT32_MAX, &mtime) < 0) {
		fprintf(stderr, "outpost bundle create: SOURCE_DATE_EPOCH=\"%s\" is not a number "
			"of seconds\n", epoch);
		return CLI_EXIT_USAGE;
	}
	c.mtime = mtime;
	cli_progress_init(&p, "create", 0);
	c.progress = create_progress;
	c.progress_ctx = &p;
	if (bundle_create(&c, &m, err, sizeof(err)) < 0) {
		if (p.enabled)
			fputc('\n', stderr);
		fprintf(stderr, "outpost bundle create: %s\n", err);
		return CLI_EXIT_REJECTED;
	}
	cli_progress_draw(&p, p.total, true);
	if (o->output != NULL)
		snprintf(output, sizeof(output), "%s", o->output);
	else
		snprintf(output, sizeof(output), "%s-%s.bundle", m->name, m->version);
	if (o->json) {
		json_t *summary = manifest_summary(m);

		json_object_set_new(summary, "output", json_string(output));
		bundle_manifest_free(m);
		return cli_json_print(summary);
	}
	printf("wrote %s: %s %s, %zu files\n", output, m->name, m->version, m->file_count);
	bundle_manifest_free(m);
	return CLI_EXIT_OK;
}

/* Build the keyring and open the bundle. Returns the descriptor, or -1 after a message. */
static int
open_with_keys(const struct cli_bundle_opts *o, const char *path, struct bundle_keyring **ring)
{
	char err[BUNDLE_ERR_SIZE];
	int fd;

	if (keyring_build(o, ring) < 0)
		return -1;
	fd = bundle_open_file(path, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "outpost bundle: %s\n", err);
		*ring = bundle_keyring_free(*ring);
	}
	return fd;
}

static int
cmd_inspect(const struct cli_bundle_opts *o, const char *path)
{
	char err[BUNDLE_ERR_SIZE], sig_err[BUNDLE_ERR_SIZE] = "";
	struct bundle_keyring *ring;
	struct bundle_manifest *m;
	int fd, sig, rc;

	fd = open_with_keys(o, path, &ring);
	if (fd < 0)
		return CLI_EXIT_REJECTED;
	rc = bundle_inspect(fd, ring, &m, &sig, sig_err, sizeof(sig_err), err, sizeof(err));
	close(fd);
	bundle_keyring_free(ring);
	if (rc < 0) {
		fprintf(stderr, "outpost bundle inspect: %s: %s\n", path, err);
		return CLI_EXIT_REJECTED;
	}
	if (o->json) {
		json_t *summary = manifest_summary(m);

		json_object_set_new(summary, "signature", json_string(sig == 0 ? "valid" :
								      sig == -ENOKEY ? "untrusted" :
										       "invalid"));
		bundle_manifest_free(m);
		return cli_json_print(summary);
	}
	manifest_print(m);
	printf("signature: %s\n", sig == 0 ? "valid, by a trusted key" : sig_err);
	bundle_manifest_free(m);
	return CLI_EXIT_OK;
}

static int
cmd_verify(const struct cli_bundle_opts *o, const char *path)
{
	char err[BUNDLE_ERR_SIZE];
	struct bundle_keyring *ring;
	struct bundle_manifest *m;
	int fd, rc;

	fd = open_with_keys(o, path, &ring);
	if (fd < 0)
		return CLI_EXIT_REJECTED;
	rc = bundle_walk(fd, ring, NULL, &m, err, sizeof(err));
	close(fd);
	bundle_keyring_free(ring);
	if (rc < 0) {
		if (o->json)
			cli_json_print(json_pack("{s:s, s:b, s:s}", "bundle", path, "valid", 0, "error",
					     err));
		fprintf(stderr, "outpost bundle verify: %s: %s\n", path, err);
		return CLI_EXIT_REJECTED;
	}
	if (o->json) {
		json_t *summary = manifest_summary(m);

		json_object_set_new(summary, "valid", json_true());
		bundle_manifest_free(m);
		return cli_json_print(summary);
	}
	printf("%s: valid, %s %s (%s), %zu files, signed by key %s\n", path, m->name,
	       m->version, bundle_kind_name(m->kind), m->file_count, m->key_id);
	bundle_manifest_free(m);
	return CLI_EXIT_OK;
}

static void
conn_option(struct cli_bundle_opts *o, enum cli_option opt, const char *value)
{
	o->conn.given[opt] = true;
	o->conn.value[opt] = value;
}

/* Parse the options after the verb. Returns 0, or an exit code for a usage error. */
static int
options_parse(int argc, char **argv, struct cli_bundle_opts *o)
{
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: o->json = true; break;
		case OPT_ZSTD: o->zstd = true; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_TEST_KEY: o->test_key = true; break;
		case OPT_ALLOW_TEST_KEYS: o->allow_test_keys = true; break;
		case OPT_ALLOW_DOWNGRADE: o->allow_downgrade = true; break;
		case OPT_INSTALLED: o->installed = true; break;
		case CLI_LONG_SOCKET: conn_option(o, CLI_OPT_SOCKET, optarg); break;
		case CLI_LONG_URL: conn_option(o, CLI_OPT_URL, optarg); break;
		case CLI_LONG_TOKEN_FILE: conn_option(o, CLI_OPT_TOKEN_FILE, optarg); break;
		case CLI_LONG_CACERT: conn_option(o, CLI_OPT_CACERT, optarg); break;
		case CLI_LONG_INSECURE: conn_option(o, CLI_OPT_INSECURE, NULL); break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_OUTPUT: o->output = optarg; break;
		case OPT_BASE: o->base = optarg; break;
		case OPT_TRUSTED_KEYS: o->trusted_keys = optarg; break;
		case OPT_TRUSTED_KEY:
			o->pub_keys[o->pub_key_count++] = optarg;
			break;
		case CLI_LONG_HELP:
			usage(stdout);
			return -1;
		default:
			fprintf(stderr, "outpost bundle: invalid option \"%s\"\n", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

/* The offline verbs and the operands each takes. */
static int
run_local(const char *verb, const char *operand, const struct cli_bundle_opts *o)
{
	if (strcmp(verb, "keygen") == 0)
		return cmd_keygen(o, operand);
	if (strcmp(verb, "create") == 0)
		return cmd_create(o, operand);
	if (strcmp(verb, "inspect") == 0)
		return cmd_inspect(o, operand);
	return cmd_verify(o, operand);
}

int
cli_bundle_main(int argc, char **argv)
{
	static const char *const local_verbs[] = { "keygen", "create", "inspect", "verify" };
	static const char *const remote_verbs[] = { "load", "list", "show", "remove" };
	struct cli_bundle_opts o = { 0 };
	const char *verb;
	size_t operands;
	bool local = false, remote = false;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	verb = argv[1];
	o.pub_keys = calloc((size_t)argc, sizeof(*o.pub_keys));
	if (o.pub_keys == NULL)
		return CLI_EXIT_REJECTED;
	/* getopt permutes argv, so operands may come before or after the options. */
	rc = options_parse(argc - 1, argv + 1, &o);
	if (rc != 0)
		goto done;
	operands = (size_t)(argc - 1 - optind);
	for (size_t i = 0; i < 4; i++) {
		local |= strcmp(verb, local_verbs[i]) == 0;
		remote |= strcmp(verb, remote_verbs[i]) == 0;
	}
	if (strcmp(verb, "verify") == 0 && o.installed) {
		local = false;
		remote = true;
	}
	if (local) {
		if (operands != 1) {
			fprintf(stderr, "outpost bundle %s: expected exactly one operand\n", verb);
			rc = CLI_EXIT_USAGE;
			goto done;
		}
		rc = run_local(verb, argv[1 + optind], &o);
	} else if (remote) {
		rc = cli_bundle_remote(verb, argv + 1 + optind, operands, &o);
	} else {
		fprintf(stderr, "outpost bundle: unknown command \"%s\"; expected keygen, create, "
			"inspect, verify, load, list, show or remove\n", verb);
		rc = CLI_EXIT_USAGE;
	}
done:
	free(o.pub_keys);
	return rc < 0 ? CLI_EXIT_OK : rc;
}
