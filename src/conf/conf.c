/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration file parser. A table maps each "section.key" to a field and its type,
 * so defaults, parsing and docs/configuration.md list the same keys.
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

enum conf_type {
	CONF_STRING,
	CONF_PATH,        /* a string; conf_load resolves it against the file's directory */
	CONF_NAME_LIST,   /* char **: comma-separated DNS names and IP addresses */
	CONF_UINT,
	CONF_BOOL,        /* bool: true or false */
	CONF_LOG_LEVEL,
	CONF_LOG_TARGET,
};

struct conf_key {
	const char *section;
	const char *key;
	enum conf_type type;
	size_t offset;
	const char *default_text;
	uint64_t min, max;      /* CONF_UINT bounds, inclusive */
};

#define FIELD(name) offsetof(struct conf, name)

static const struct conf_key keys[] = {
	{ "log", "level", CONF_LOG_LEVEL, FIELD(log_level), "info", 0, 0 },
	{ "log", "target", CONF_LOG_TARGET, FIELD(log_target), "stderr", 0, 0 },
	{ "store", "state_dir", CONF_STRING, FIELD(state_dir), "/var/lib/outpost", 0, 0 },
	{ "store", "artifact_dir", CONF_STRING, FIELD(artifact_dir), "/var/lib/outpost/store", 0, 0 },
	{ "boot", "listen", CONF_STRING, FIELD(boot_listen), "127.0.0.1:8080", 0, 0 },
	{ "boot", "url", CONF_STRING, FIELD(boot_url), "http://127.0.0.1:8080", 0, 0 },
	{ "boot", "templates", CONF_PATH, FIELD(template_dir), "/usr/share/outpost/bootenv/ipxe", 0, 0 },
	{ "boot", "retry_seconds", CONF_UINT, FIELD(boot_retry_seconds), "30", 1, 3600 },
	{ "boot", "max_header_bytes", CONF_UINT, FIELD(boot_max_header_bytes), "2048", 1024, 1048576 },
	{ "boot", "script_cache_bytes", CONF_UINT, FIELD(boot_script_cache_bytes), "33554432", 0, 1073741824 },
	{ "deploy", "phase_timeout_seconds", CONF_UINT, FIELD(deploy_phase_timeout_seconds), "1200", 5, 86400 },
	{ "deploy", "poll_seconds", CONF_UINT, FIELD(deploy_poll_seconds), "5", 1, 600 },
	{ "deploy", "console", CONF_STRING, FIELD(deploy_console), "console=tty0 console=ttyS0,115200n8", 0, 0 },
	{ "bmc", "workers", CONF_UINT, FIELD(bmc_workers), "16", 1, 256 },
	{ "bmc", "timeout_seconds", CONF_UINT, FIELD(bmc_timeout_seconds), "30", 1, 3600 },
	{ "bmc", "firmware_timeout_seconds", CONF_UINT, FIELD(bmc_firmware_timeout_seconds), "3600", 60, 86400 },
	{ "bmc", "operations_kept", CONF_UINT, FIELD(bmc_operations_kept), "10000", 100, 10000000 },
	{ "api", "listen", CONF_STRING, FIELD(api_listen), "127.0.0.1:8443", 0, 0 },
	{ "api", "socket", CONF_STRING, FIELD(api_socket), "/run/outpost/outpost.sock", 0, 0 },
	{ "api", "tls_cert", CONF_STRING, FIELD(tls_cert), "", 0, 0 },
	{ "api", "tls_key", CONF_STRING, FIELD(tls_key), "", 0, 0 },
	{ "api", "tls_names", CONF_NAME_LIST, FIELD(tls_names), "", 0, 0 },
	{ "bundle", "trusted_keys", CONF_PATH, FIELD(bundle_trusted_keys), "/etc/outpost/trusted-keys", 0, 0 },
	{ "bundle", "allow_test_keys", CONF_BOOL, FIELD(bundle_allow_test_keys), "false", 0, 0 },
	{ "ddi", "enabled", CONF_BOOL, FIELD(ddi_enabled), "false", 0, 0 },
	{ "ddi", "interface", CONF_STRING, FIELD(ddi_interface), "", 0, 0 },
	{ "ddi", "server_address", CONF_STRING, FIELD(ddi_server_address), "", 0, 0 },
	{ "ddi", "domain", CONF_STRING, FIELD(ddi_domain), "", 0, 0 },
	{ "ddi", "dns_servers", CONF_STRING, FIELD(ddi_dns_servers), "", 0, 0 },
	{ "ddi", "reverse_zones", CONF_STRING, FIELD(ddi_reverse_zones), "", 0, 0 },
	{ "ddi", "lease_seconds", CONF_UINT, FIELD(ddi_lease_seconds), "3600", 60, 604800 },
	{ "ddi", "resync_seconds", CONF_UINT, FIELD(ddi_resync_seconds), "300", 5, 86400 },
	{ "ddi", "router_advertisements", CONF_BOOL, FIELD(ddi_router_advertisements), "true", 0, 0 },
	{ "kea", "control_socket", CONF_STRING, FIELD(kea_control_socket), "/run/kea/kea4-ctrl-socket", 0, 0 },
	{ "kea", "lease_file", CONF_STRING, FIELD(kea_lease_file), "/var/lib/kea/kea-leases4.csv", 0, 0 },
	{ "kea", "hooks_dir", CONF_STRING, FIELD(kea_hooks_dir), "/usr/lib/x86_64-linux-gnu/kea/hooks", 0, 0 },
	{ "kea", "event_socket", CONF_STRING, FIELD(kea_event_socket), "/run/outpost/kea-events.sock", 0, 0 },
	{ "kea", "hook_program", CONF_STRING, FIELD(kea_hook_program), "", 0, 0 },
	{ "kea", "lease_events", CONF_STRING, FIELD(kea_lease_events), "hook", 0, 0 },
	{ "kea", "lease_poll_seconds", CONF_UINT, FIELD(kea_lease_poll_seconds), "10", 1, 3600 },
	{ "pdns", "api_url", CONF_STRING, FIELD(pdns_api_url), "http://127.0.0.1:8081", 0, 0 },
	{ "pdns", "api_key", CONF_STRING, FIELD(pdns_api_key), "", 0, 0 },
	{ "pdns", "server_id", CONF_STRING, FIELD(pdns_server_id), "localhost", 0, 0 },
	{ "pdns", "nameserver", CONF_STRING, FIELD(pdns_nameserver), "outpost", 0, 0 },
	{ "pdns", "ttl", CONF_UINT, FIELD(pdns_ttl), "300", 1, 604800 },
	{ "pdns", "max_rrsets_per_second", CONF_UINT, FIELD(pdns_max_rrsets_per_second), "6000", 0, 1000000 },
	{ "tftp", "root", CONF_STRING, FIELD(tftp_root), "/srv/tftp", 0, 0 },
	{ "tftp", "ipxe_dir", CONF_STRING, FIELD(tftp_ipxe_dir), "/usr/lib/ipxe", 0, 0 },
	{ "http", "threads", CONF_UINT, FIELD(http_threads), "0", 0, 256 },
	{ "http", "max_connections", CONF_UINT, FIELD(http_max_connections), "4096", 16, 1000000 },
	{ "http", "max_header_bytes", CONF_UINT, FIELD(http_max_header_bytes), "8192", 1024, 1048576 },
	{ "http", "max_body_bytes", CONF_UINT, FIELD(http_max_body_bytes), "1048576", 1024, 268435456 },
	{ "http", "timeout_seconds", CONF_UINT, FIELD(http_timeout_seconds), "60", 1, 3600 },
	{ "http", "header_timeout_seconds", CONF_UINT, FIELD(http_header_timeout_seconds), "10", 1, 3600 },
	{ "http", "max_connections_per_ip", CONF_UINT, FIELD(http_max_connections_per_ip), "64", 0, 1000000 },
	{ "http", "max_buffered_body_bytes", CONF_UINT, FIELD(http_max_buffered_body_bytes), "67108864", 1024, 68719476736 },
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))

/* The keys of a [subnet NAME] section; all are strings that the DDI module checks. */
static const struct {
	const char *key;
	size_t offset;
} subnet_keys[] = {
	{ "network", offsetof(struct conf_subnet, network) },
	{ "pool", offsetof(struct conf_subnet, pool) },
	{ "gateway", offsetof(struct conf_subnet, gateway) },
	{ "dns_servers", offsetof(struct conf_subnet, dns_servers) },
};

#define SUBNET_KEY_COUNT (sizeof(subnet_keys) / sizeof(subnet_keys[0]))

/* Parser state: the current section and the line that set each key. */
struct parse_state {
	char section[64];
	struct conf_subnet *subnet;     /* the current [subnet NAME], or NULL */
	struct conf_subnet *subnet_base; /* conf->subnets, to index subnet_lines */
	unsigned key_lines[KEY_COUNT];
	unsigned subnet_lines[CONF_SUBNETS_MAX][SUBNET_KEY_COUNT];
};

static void
set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(err, errlen, fmt, args);
	va_end(args);
}

/* Trim spaces and tabs at both ends, in place. */
static char *
trim(char *s)
{
	size_t len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

/* Free a NULL-terminated list of names. Accepts NULL. */
static void
names_free(char **names)
{
	if (names == NULL)
		return;
	for (size_t i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

/*
 * True for a DNS name or an IP address. A dotted name whose last label is all digits
 * is not a host name (RFC 1123, section 2.1), so "10.0.0.256" is rejected instead of
 * passing as a DNS name.
 */
static bool
name_valid(const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *last;
	size_t len;

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return true;
	if (!hostname_valid(name))
		return false;

	/* Find the last label, ignoring the root's trailing dot. */
	len = strlen(name);
	if (name[len - 1] == '.')
		len--;
	last = name + len;
	while (last > name && last[-1] != '.')
		last--;
	return strspn(last, "0123456789") < (size_t)(name + len - last);
}

/*
 * Split a comma-separated list of DNS names and IP addresses into a NULL-terminated
 * array (caller frees with names_free). Spaces around entries are ignored, and an
 * empty value gives an empty list. Returns 0, -EINVAL with a message naming the
 * entry, or -ENOMEM.
 */
static int
names_parse(const struct conf_key *k, const char *value, char ***ret, char *err,
	    size_t errlen)
{
	char **names;
	char *copy, *cursor, *entry;
	size_t count = 0;
	int r = 0;

	names = calloc(CONF_NAMES_MAX + 1, sizeof(*names));
	copy = strdup(value);
	if (names == NULL || copy == NULL) {
		r = -ENOMEM;
		goto done;
	}

	cursor = copy;
	while (cursor != NULL && *value != '\0') {
		entry = trim(strsep(&cursor, ","));
		if (*entry == '\0') {
			set_error(err, errlen, "%s.%s: empty entry in \"%s\"; separate names with "
				  "single commas", k->section, k->key, value);
			r = -EINVAL;
			goto done;
		}
		if (!name_valid(entry)) {
			set_error(err, errlen, "%s.%s: invalid entry \"%s\": expected a DNS name "
				  "or an IP address", k->section, k->key, entry);
			r = -EINVAL;
			goto done;
		}
		if (count == CONF_NAMES_MAX) {
			set_error(err, errlen, "%s.%s: more than %d entries", k->section, k->key,
				  CONF_NAMES_MAX);
			r = -EINVAL;
			goto done;
		}
		names[count] = strdup(entry);
		if (names[count] == NULL) {
			r = -ENOMEM;
			goto done;
		}
		count++;
	}
	*ret = names;
	names = NULL;

done:
	names_free(names);
	free(copy);
	return r;
}

/* Store `value` into the field `k` describes; on error write a message about it. */
static int
set_value(struct conf *conf, const struct conf_key *k, const char *value, char *err,
	  size_t errlen)
{
	char *field = (char *)conf + k->offset;

	switch (k->type) {
	case CONF_STRING:
	case CONF_PATH: {
		char *copy = strdup(value);

		if (copy == NULL)
			return -ENOMEM;
		free(*(char **)(void *)field);
		*(char **)(void *)field = copy;
		return 0;
	}
	case CONF_NAME_LIST: {
		char **names;
		int r = names_parse(k, value, &names, err, errlen);

		if (r < 0)
			return r;
		names_free(*(char ***)(void *)field);
		*(char ***)(void *)field = names;
		return 0;
	}
	case CONF_UINT: {
		int r = uint_parse(value, k->min, k->max, (uint64_t *)(void *)field);

		if (r < 0)
			set_error(err, errlen,
				  "%s.%s: invalid value \"%s\": expected a whole number from %llu to %llu",
				  k->section, k->key, value, (unsigned long long)k->min,
				  (unsigned long long)k->max);
		return r < 0 ? -EINVAL : 0;
	}
	case CONF_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
			*(bool *)(void *)field = strcmp(value, "true") == 0;
			return 0;
		}
		set_error(err, errlen, "%s.%s: invalid value \"%s\": expected true or false",
			  k->section, k->key, value);
		return -EINVAL;
	case CONF_LOG_LEVEL:
		if (log_level_parse(value, (enum log_level *)(void *)field) < 0) {
			set_error(err, errlen,
				  "%s.%s: invalid value \"%s\": expected err, warning, notice, info or debug",
				  k->section, k->key, value);
			return -EINVAL;
		}
		return 0;
	case CONF_LOG_TARGET:
		if (strcmp(value, "stderr") == 0) {
			*(enum log_target *)(void *)field = LOG_TARGET_STDERR;
		} else if (strcmp(value, "journal") == 0) {
			*(enum log_target *)(void *)field = LOG_TARGET_JOURNAL;
		} else {
			set_error(err, errlen,
				  "%s.%s: invalid value \"%s\": expected stderr or journal",
				  k->section, k->key, value);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

int
conf_defaults(struct conf *conf)
{
	char err[256];

	memset(conf, 0, sizeof(*conf));
	for (size_t i = 0; i < KEY_COUNT; i++) {
		int r = set_value(conf, &keys[i], keys[i].default_text, err, sizeof(err));

		if (r < 0)
			return r;
	}
	return 0;
}

static const struct conf_key *
find_key(const char *section, const char *key)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

static bool
section_known(const char *section)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

/* True for a subnet name: 1 to CONF_SUBNET_NAME_MAX letters, digits, '-' and '_'. */
static bool
subnet_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= CONF_SUBNET_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == len;
}

/* Open a [subnet NAME] section: a new entry in conf->subnets. */
static int
subnet_open(struct conf *conf, struct parse_state *ps, const char *name, unsigned lineno,
	    char *err, size_t errlen)
{
	struct conf_subnet *subnet;

	if (!subnet_name_valid(name)) {
		set_error(err, errlen, "line %u: invalid subnet name \"%s\": use 1 to %d letters, "
			  "digits, '-' or '_'", lineno, name, CONF_SUBNET_NAME_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < conf->subnet_count; i++) {
		if (strcmp(conf->subnets[i].name, name) == 0) {
			set_error(err, errlen, "line %u: duplicate section [subnet %s]; merge the "
				  "two sections", lineno, name);
			return -EINVAL;
		}
	}
	if (conf->subnet_count == CONF_SUBNETS_MAX) {
		set_error(err, errlen, "line %u: more than %d [subnet] sections", lineno,
			  CONF_SUBNETS_MAX);
		return -EINVAL;
	}

	subnet = &conf->subnets[conf->subnet_count];
	memset(subnet, 0, sizeof(*subnet));
	subnet->name = strdup(name);
	for (size_t i = 0; i < SUBNET_KEY_COUNT; i++)
		*(char **)(void *)((char *)subnet + subnet_keys[i].offset) = strdup("");
	conf->subnet_count++;
	for (size_t i = 0; i < SUBNET_KEY_COUNT; i++) {
		if (*(char **)(void *)((char *)subnet + subnet_keys[i].offset) == NULL)
			return -ENOMEM;
	}
	if (subnet->name == NULL)
		return -ENOMEM;
	ps->subnet = subnet;
	return 0;
}

/* Parse a section header, text being "[...]". */
static int
parse_header(struct conf *conf, struct parse_state *ps, char *text, unsigned lineno,
	     char *err, size_t errlen)
{
	size_t len = strlen(text);
	char *name;

	if (text[len - 1] != ']' || len < 3 || len - 2 >= sizeof(ps->section)) {
		set_error(err, errlen, "line %u: invalid section header; write it as [name]",
			  lineno);
		return -EINVAL;
	}
	text[len - 1] = '\0';
	name = trim(text + 1);
	ps->subnet = NULL;

	if (strncmp(name, "subnet", 6) == 0 && (name[6] == ' ' || name[6] == '\t' ||
						name[6] == '\0')) {
		snprintf(ps->section, sizeof(ps->section), "subnet");
		name = trim(name + 6);
		if (*name == '\0') {
			set_error(err, errlen, "line %u: [subnet] needs a name, such as "
				  "[subnet provisioning]", lineno);
			return -EINVAL;
		}
		return subnet_open(conf, ps, name, lineno, err, errlen);
	}
	if (!section_known(name)) {
		set_error(err, errlen, "line %u: unknown section [%s]; see docs/configuration.md",
			  lineno, name);
		return -EINVAL;
	}
	snprintf(ps->section, sizeof(ps->section), "%s", name);
	return 0;
}

/* Set a key of the current [subnet NAME] section. */
static int
parse_subnet_key(struct parse_state *ps, const char *key, const char *value, unsigned lineno,
		 char *err, size_t errlen)
{
	struct conf_subnet *subnet = ps->subnet;
	size_t index = (size_t)(subnet - ps->subnet_base);
	char **field, *copy;

	for (size_t i = 0; i < SUBNET_KEY_COUNT; i++) {
		if (strcmp(subnet_keys[i].key, key) != 0)
			continue;
		if (ps->subnet_lines[index][i] != 0) {
			set_error(err, errlen, "line %u: duplicate key \"%s\" in [subnet %s], first "
				  "set on line %u; remove one of them", lineno, key, subnet->name,
				  ps->subnet_lines[index][i]);
			return -EINVAL;
		}
		ps->subnet_lines[index][i] = lineno;
		copy = strdup(value);
		if (copy == NULL)
			return -ENOMEM;
		field = (char **)(void *)((char *)subnet + subnet_keys[i].offset);
		free(*field);
		*field = copy;
		return 0;
	}
	set_error(err, errlen, "line %u: unknown key \"%s\" in [subnet %s]; expected network, "
		  "pool, gateway or dns_servers", lineno, key, subnet->name);
	return -EINVAL;
}

/* Parse one line, already NUL-terminated, updating the parser's state. */
static int
parse_line(struct conf *conf, char *line, unsigned lineno, struct parse_state *ps, char *err,
	   size_t errlen)
{
	char *text = trim(line);
	char *equals, *key, *value;
	const struct conf_key *k;
	int r;

	if (*text == '\0' || *text == '#')
		return 0;
	if (*text == '[')
		return parse_header(conf, ps, text, lineno, err, errlen);

	equals = strchr(text, '=');
	if (equals == NULL) {
		set_error(err, errlen, "line %u: expected \"key = value\"", lineno);
		return -EINVAL;
	}
	*equals = '\0';
	key = trim(text);
	value = trim(equals + 1);

	if (ps->section[0] == '\0') {
		set_error(err, errlen, "line %u: key \"%s\" is outside any [section]", lineno, key);
		return -EINVAL;
	}
	if (ps->subnet != NULL)
		return parse_subnet_key(ps, key, value, lineno, err, errlen);

	k = find_key(ps->section, key);
	if (k == NULL) {
		set_error(err, errlen, "line %u: unknown key \"%s\" in [%s]; see docs/configuration.md",
			  lineno, key, ps->section);
		return -EINVAL;
	}

	/* A second value would silently win over the first, so reject it. */
	if (ps->key_lines[k - keys] != 0) {
		set_error(err, errlen,
			  "line %u: duplicate key \"%s\" in [%s], first set on line %u; "
			  "remove one of them", lineno, key, ps->section, ps->key_lines[k - keys]);
		return -EINVAL;
	}
	ps->key_lines[k - keys] = lineno;

	r = set_value(conf, k, value, err, errlen);
	if (r == -EINVAL) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s", err);
		set_error(err, errlen, "line %u: %s", lineno, detail);
	}
	return r;
}

int
conf_parse(struct conf *conf, const char *text, size_t len, char *err, size_t errlen)
{
	struct parse_state *ps;
	char line[4096];
	unsigned lineno = 0;
	size_t pos = 0;
	int r = 0;

	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return -ENOMEM;
	ps->subnet_base = conf->subnets;

	while (pos < len && r == 0) {
		const char *end = memchr(text + pos, '\n', len - pos);
		size_t line_len = end != NULL ? (size_t)(end - (text + pos)) : len - pos;

		lineno++;
		if (line_len >= sizeof(line)) {
			set_error(err, errlen, "line %u: longer than %zu bytes", lineno,
				  sizeof(line) - 1);
			r = -EINVAL;
			break;
		}
		if (memchr(text + pos, '\0', line_len) != NULL) {
			set_error(err, errlen, "line %u: contains a NUL byte", lineno);
			r = -EINVAL;
			break;
		}
		memcpy(line, text + pos, line_len);
		line[line_len] = '\0';
		r = parse_line(conf, line, lineno, ps, err, errlen);
		pos += line_len + 1;
	}
	free(ps);
	return r;
}

/*
 * Make every relative CONF_PATH value absolute by prefixing the canonical directory of
 * the configuration file at `path`. A result that exists is canonicalised too, so logs
 * show it without "..". Returns 0, or a negative errno with a message in `err`.
 */
static int
paths_resolve(struct conf *conf, const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *slash, *base = NULL;
	int r = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir)) {
		set_error(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';

	for (size_t i = 0; i < KEY_COUNT; i++) {
		char **field = (char **)(void *)((char *)conf + keys[i].offset);
		char *joined, *canonical;
		size_t size;

		if (keys[i].type != CONF_PATH || (*field)[0] == '\0' || (*field)[0] == '/')
			continue;

		/* The file was just opened, so its directory exists. */
		if (base == NULL && (base = realpath(dir, NULL)) == NULL) {
			r = -errno;
			set_error(err, errlen, "failed to resolve the directory of %s: %s", path,
				  strerror(errno));
			break;
		}
		size = strlen(base) + 1 + strlen(*field) + 1;
		joined = malloc(size);
		if (joined == NULL) {
			r = -ENOMEM;
			set_error(err, errlen, "out of memory");
			break;
		}
		snprintf(joined, size, "%s/%s", base, *field);

		/* A path that does not exist yet stays as joined; its user reports it. */
		canonical = realpath(joined, NULL);
		if (canonical != NULL) {
			free(joined);
			joined = canonical;
		}
		free(*field);
		*field = joined;
	}

	free(base);
	return r;
}

int
conf_load(struct conf *conf, const char *path, int required, char *err, size_t errlen)
{
	struct buf text;
	char chunk[8192];
	ssize_t n;
	int fd, r;

	r = conf_defaults(conf);
	if (r < 0) {
		set_error(err, errlen, "out of memory");
		return r;
	}

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !required)
			return 0;
		r = -errno;
		set_error(err, errlen, "failed to open %s: %s", path, strerror(errno));
		return r;
	}

	buf_init(&text, CONF_MAX_FILE_BYTES);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		r = buf_append(&text, chunk, (size_t)n);
		if (r < 0) {
			set_error(err, errlen, "%s: larger than %d bytes", path, CONF_MAX_FILE_BYTES);
			goto done;
		}
	}
	if (n < 0) {
		r = -errno;
		set_error(err, errlen, "failed to read %s: %s", path, strerror(errno));
		goto done;
	}

	r = conf_parse(conf, text.data != NULL ? text.data : "", text.len, err, errlen);
	if (r < 0) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s", err);
		set_error(err, errlen, "%s: %s", path, detail);
		goto done;
	}
	r = paths_resolve(conf, path, err, errlen);
done:
	buf_free(&text);
	close(fd);
	return r;
}

void
conf_free(struct conf *conf)
{
	for (size_t i = 0; i < conf->subnet_count; i++) {
		struct conf_subnet *subnet = &conf->subnets[i];

		free(subnet->name);
		for (size_t j = 0; j < SUBNET_KEY_COUNT; j++)
			free(*(char **)(void *)((char *)subnet + subnet_keys[j].offset));
		memset(subnet, 0, sizeof(*subnet));
	}
	conf->subnet_count = 0;

	for (size_t i = 0; i < KEY_COUNT; i++) {
		void *field = (char *)conf + keys[i].offset;

		if (keys[i].type == CONF_STRING || keys[i].type == CONF_PATH) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (keys[i].type == CONF_NAME_LIST) {
			names_free(*(char ***)field);
			*(char ***)field = NULL;
		}
	}
}
