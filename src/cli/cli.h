/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command-line client of the REST API: `outpost machine|profile|audit|status`.
 * It talks to the local daemon over its unix socket, or to a remote daemon over HTTPS
 * with a bearer token. It prints aligned tables and key: value lines, or the server's
 * JSON with --json, and maps each outcome onto a documented exit code (docs/cli.md).
 *
 * cli_main is the entry point. The rest of this header is the layer below it, in
 * three parts that unit tests drive one at a time: argument parsing (no I/O), output
 * formatting (JSON in, text in a struct buf out) and the libcurl transport.
 */
#ifndef OUTPOST_CLI_H
#define OUTPOST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include <jansson.h>

#include "util/util.h"

/*
 * Run one CLI command and return the process exit code (enum cli_exit). argv[0] is
 * the command group ("machine", "profile", "audit" or "status"), argv[1] the verb
 * where the group has verbs, then operands and options in any order. Reads the
 * OUTPOST_SOCKET and OUTPOST_TOKEN environment variables, writes results to stdout
 * and messages to stderr. Calls curl_global_init and curl_global_cleanup itself.
 */
int cli_main(int argc, char **argv);

/*
 * Run `outpost bundle VERB ...` (argv[0] is "bundle"): keygen, create, inspect and
 * verify, which need no daemon. Returns the process exit code.
 */
int cli_bundle_main(int argc, char **argv);


/* Exit codes, listed the same way in --help and docs/cli.md. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REJECTED = 1,     /* HTTP 4xx other than 404 and 409, 5xx, bad reply */
	CLI_EXIT_USAGE = 2,        /* invalid command line, found before any request */
	CLI_EXIT_NOT_FOUND = 3,    /* HTTP 404 */
	CLI_EXIT_CONFLICT = 4,     /* HTTP 409 */
	CLI_EXIT_UNREACHABLE = 5,  /* no connection, TLS failure or timeout */
	CLI_EXIT_AUDIT_BROKEN = 6, /* audit verify found a broken hash chain */
};

/* Socket used when neither --socket nor OUTPOST_SOCKET names one. */
#define CLI_DEFAULT_SOCKET "/run/outpost/outpost.sock"
/* Size of the message buffers the parsing functions fill. */
#define CLI_ERROR_SIZE 512
/* At most this many MACs per machine, as the API accepts. */
#define CLI_MACS_MAX 8
/* Length caps the API enforces on serial, vendor and model, in bytes. */
#define CLI_TEXT_FIELD_MAX 128
/* Profile names: [a-z0-9][a-z0-9._-]{0,63}. */
#define CLI_PROFILE_NAME_MAX 64
/* Largest page size of the list routes. */
#define CLI_LIMIT_MAX 1000
/* A machine REF for a URL: an id of up to 19 digits (2^63-1) or a MAC, plus NUL. */
#define CLI_REF_SIZE 20

/*********************************************************************************
 * Argument parsing
 */

enum cli_command {
	CLI_CMD_INVALID,
	CLI_CMD_MACHINE_LIST,
	CLI_CMD_MACHINE_SHOW,
	CLI_CMD_MACHINE_ADD,
	CLI_CMD_MACHINE_SET,
	CLI_CMD_MACHINE_DEPLOY,
	CLI_CMD_MACHINE_RM,
	CLI_CMD_PROFILE_LIST,
	CLI_CMD_PROFILE_SHOW,
	CLI_CMD_PROFILE_ADD,
	CLI_CMD_PROFILE_SET,
	CLI_CMD_PROFILE_RM,
	CLI_CMD_AUDIT_SHOW,
	CLI_CMD_AUDIT_VERIFY,
	CLI_CMD_STATUS,
	CLI_CMD_MAX,
};

enum cli_option {
	/* Accepted by every command. */
	CLI_OPT_HELP,
	CLI_OPT_JSON,
	CLI_OPT_SOCKET,
	CLI_OPT_URL,
	CLI_OPT_TOKEN_FILE,
	CLI_OPT_CACERT,
	CLI_OPT_INSECURE,
	/* List filters and paging. */
	CLI_OPT_STATE,
	CLI_OPT_LIMIT,
	CLI_OPT_AFTER,
	CLI_OPT_ALL,
	/* Machine fields. --mac, --hostname and --profile also filter machine list. */
	CLI_OPT_MAC,
	CLI_OPT_HOSTNAME,
	CLI_OPT_UUID,
	CLI_OPT_IP,
	CLI_OPT_PROFILE,
	CLI_OPT_SERIAL,
	CLI_OPT_VENDOR,
	CLI_OPT_MODEL,
	CLI_OPT_ARCH,
	CLI_OPT_PLATFORM,
	/* Profile fields. */
	CLI_OPT_KERNEL,
	CLI_OPT_INITRD,
	CLI_OPT_IMAGE,
	CLI_OPT_CMDLINE,
	/* Deploy. */
	CLI_OPT_BOOT,
	CLI_OPT_MAX,
};

/*
 * A parsed and locally validated command line. Strings marked "borrowed" point into
 * the argv given to cli_args_parse and live as long as it does.
 */
struct cli_args {
	enum cli_command command;      /* CLI_CMD_INVALID with help: help of the group */
	const char *group;             /* borrowed; argv[0] once it names a known group */
	bool help;                     /* -h or --help: print help, send nothing */
	const char *operand;           /* borrowed; REF or NAME as typed, or NULL */
	char ref[CLI_REF_SIZE];        /* machine REF for the URL: id digits or canonical MAC */
	bool given[CLI_OPT_MAX];       /* options present on the command line */
	const char *value[CLI_OPT_MAX]; /* borrowed; last value of each option */
	char macs[CLI_MACS_MAX][MAC_TEXT_SIZE]; /* canonical --mac values, in order */
	size_t n_macs;
	char uuid[UUID_TEXT_SIZE];     /* canonical --uuid, "" to clear */
	char ip[INET6_ADDRSTRLEN];     /* canonical --ip, "" to clear */
	uint64_t limit;                /* --limit when given */
	uint64_t after;                /* --after when given */
};

/*
 * The getopt_long values of the connection options and --help, shared by the commands
 * that parse with getopt_long (bundle and bmc). A command numbers its own options
 * from CLI_LONG_OWN_FIRST on.
 */
enum cli_long_option {
	CLI_LONG_SOCKET = 256,  /* above every short option character */
	CLI_LONG_URL,
	CLI_LONG_TOKEN_FILE,
	CLI_LONG_CACERT,
	CLI_LONG_INSECURE,
	CLI_LONG_HELP,
	CLI_LONG_OWN_FIRST,
};

/*
 * The rows of a getopt_long `struct option` table for enum cli_long_option: --socket,
 * --url, --token-file, --cacert, --insecure and --help. Use it where <getopt.h> is
 * included.
 */
#define CLI_CONNECTION_LONG_OPTIONS                                    \
	{ "socket", required_argument, NULL, CLI_LONG_SOCKET },         \
	{ "url", required_argument, NULL, CLI_LONG_URL },               \
	{ "token-file", required_argument, NULL, CLI_LONG_TOKEN_FILE }, \
	{ "cacert", required_argument, NULL, CLI_LONG_CACERT },         \
	{ "insecure", no_argument, NULL, CLI_LONG_INSECURE },           \
	{ "help", no_argument, NULL, CLI_LONG_HELP }

/*
 * Parse and validate argv as cli_main receives it. Checks every option value with the
 * same rules as the API (mac_parse, uuid_parse, hostname_valid, inet_pton, the state,
 * arch and platform names, length caps, profile name syntax), so a typo is reported
 * with its value before any request. Returns 0 and fills *ret, or -EINVAL with a
 * message naming the argument in `err` (ret is then partly filled). -h or --help
 * anywhere before "--" returns 0 with ret->help set and skips value checks.
 */
int cli_args_parse(int argc, char *const *argv, struct cli_args *ret, char *err,
		   size_t err_size);

/* "machine list" for a command, or the group name alone for CLI_CMD_INVALID. */
const char *cli_command_name(enum cli_command command);

/*
 * Parse a machine REF and write its URL path segment to `out`. Decimal digits are an
 * id from 1 to 2^63-1. Anything else must be a MAC in a form mac_parse accepts, and
 * is written in canonical form. A MAC written without separators and made of digits
 * only is therefore read as an id. Returns 0 or -EINVAL.
 */
int cli_ref_parse(const char *text, char out[CLI_REF_SIZE]);

/* Return true when `name` is one of `names`, a NULL-terminated list. */
bool cli_name_in(const char *name, const char *const *names);

/* Return true when `arg` is -h or --help. */
bool cli_is_help(const char *arg);

/* Check a profile name against [a-z0-9][a-z0-9._-]{0,63}. Returns true when valid. */
bool cli_profile_name_valid(const char *name);

/*
 * Build the JSON body of machine add (patch false: POST /machines) or machine set
 * (patch true: PATCH /machines/{ref}) from the parsed options. An empty value clears
 * the field in a patch (JSON null) and is left out of a create. --profile goes into
 * the create body; a patch leaves it out because set assigns profiles through
 * PUT /machines/{ref}/profile. Returns a new reference (caller owns) or NULL when out
 * of memory.
 */
json_t *cli_machine_body(const struct cli_args *args, bool patch);

/*
 * Build the JSON body of profile add (patch false, includes "name") or profile set
 * (patch true). An empty --image or --cmdline is JSON null in a patch. Returns a new
 * reference or NULL when out of memory.
 */
json_t *cli_profile_body(const struct cli_args *args, bool patch);

/*
 * Append the query string of machine list or audit show ("?state=ready&limit=10"),
 * escaping each value, with after=`after` when `after` is nonzero. Appends nothing
 * when no filter applies. Returns 0 or a buf_append error.
 */
int cli_list_query(const struct cli_args *args, uint64_t after, struct buf *out);

/*********************************************************************************
 * Output formatting: pure functions from JSON to text.
 */

struct cli_column {
	const char *header;
	size_t max_width;  /* in characters; longer cells end in an ellipsis */
};

/* Rows of text cells under fixed columns, each row n_columns owned strings. */
struct cli_table {
	const struct cli_column *columns; /* borrowed, n_columns entries */
	size_t n_columns;
	char **cells;      /* owned; n_rows * n_columns sanitised copies */
	size_t n_rows;
	size_t cap_rows;
};

/* Start an empty table over `columns`, which must outlive it. */
void cli_table_init(struct cli_table *table, const struct cli_column *columns,
		    size_t n_columns);

/*
 * Append a row of n_columns cells. NULL or "" cells show as "-". Each cell is copied
 * with cli_sanitize applied. Returns 0 or -ENOMEM (the table is unchanged).
 */
int cli_table_add_row(struct cli_table *table, const char *const *cells);

/*
 * Render the header and rows. Each column is as wide as its widest cell or header,
 * capped at its max_width, and cells over the cap are cut to max_width - 1 characters
 * plus "…". Columns are separated by two spaces, and the last column is not padded.
 * Width counts UTF-8 code points. NOTE: East Asian wide characters take two terminal
 * columns, so rows that contain them may not line up. Returns 0 or a buf error.
 */
int cli_table_render(const struct cli_table *table, struct buf *out);

/* Free the cells; the table may be initialised again. Accepts a zeroed struct. */
void cli_table_free(struct cli_table *table);

/*
 * Append `text` with these replaced by '?': control characters (C0, DEL, C1),
 * bidirectional controls (the marks U+061C, U+200E and U+200F, the embeddings and
 * overrides U+202A to U+202E, the isolates U+2066 to U+2069), the invisible U+200B
 * and U+FEFF, the separators U+2028 and U+2029, and bytes that are not valid UTF-8.
 * Server data then cannot move the cursor, change the terminal, reorder what is shown
 * or hide characters in it. Returns 0 or a buf error.
 */
int cli_sanitize(const char *text, struct buf *out);

/*
 * Append a JSON value as one line of text: strings as they are, numbers, true/false,
 * "-" for null, arrays of strings and numbers joined with ",", anything else as
 * compact JSON. Not sanitised. Returns 0, -ENOMEM or a buf error.
 */
int cli_value_text(const json_t *value, struct buf *out);

/*
 * Append the text of obj[key] as cli_value_text writes it, or nothing for a missing key
 * or null, which a table shows as "-". Not sanitised. Returns 0, -ENOMEM or a buf error.
 */
int cli_member_text(const json_t *obj, const char *key, struct buf *out);

/* Callback that appends the cell of column `column` for one item of a table. */
typedef int (*cli_cell_fn)(const json_t *item, size_t column, struct buf *out);

/*
 * Render `items`, an array of objects, as a cli_table of n_columns columns (at most 16).
 * Column i shows cli_member_text of item[keys[i]] or, where keys[i] is NULL, what `cell`
 * appends. Returns 0, -EINVAL when `items` is not an array of objects or there are too
 * many columns, or a buf error.
 */
int cli_render_items(const json_t *items, const struct cli_column *columns,
		     size_t n_columns, const char *const *keys, cli_cell_fn cell,
		     struct buf *out);

/* A field of a key: value listing: the JSON key and the label printed for it. */
struct cli_field {
	const char *key;
	const char *label;
};

/*
 * The renderers below take json_t without const because jansson iterates objects
 * only through non-const pointers. None of them modifies its argument.
 *
 * Render a JSON object as "label: value" lines with the values aligned: first the
 * `fields` (NULL-key terminated) in their order, then any other keys of the object
 * under their own names, so fields added to the API later still show. Object and
 * array values longer than 160 characters are cut with an ellipsis (--json shows
 * them whole). Returns 0, -EINVAL when `object` is not an object, or a buf error.
 */
int cli_render_fields(json_t *object, const struct cli_field *fields,
		      struct buf *out);

/* Render a machine list page's "items" as the machine table. Same returns. */
int cli_render_machines(const json_t *items, struct buf *out);
/* Render profiles as a table. Same returns. */
int cli_render_profiles(const json_t *items, struct buf *out);
/* Render audit entries as a table. Same returns. */
int cli_render_audit(const json_t *items, struct buf *out);
/* Render one machine as key: value lines. Same returns. */
int cli_render_machine(json_t *machine, struct buf *out);
/* Render one profile as key: value lines. Same returns. */
int cli_render_profile(json_t *profile, struct buf *out);
/* Render GET /status, with a line per machine state. Same returns. */
int cli_render_status(json_t *status, struct buf *out);

/*
 * Render GET /audit/verify as "audit chain intact: N entries" or "audit chain broken
 * at entry SEQ: REASON". Sets *intact. Returns 0, -EINVAL when the reply lacks
 * "intact" or "entries", or a buf error.
 */
int cli_render_verify(const json_t *verify, struct buf *out, bool *intact);

/* Append `json` indented by two spaces, keys in the server's order, and a newline. */
int cli_render_json(const json_t *json, struct buf *out);

/*
 * Append the message for a failed request: the "detail" of an error body, else its
 * "error", else "server returned HTTP <status>". Sanitised, no trailing newline.
 */
int cli_error_text(long status, const char *body, size_t len, struct buf *out);

/* Map an HTTP status onto an exit code: 2xx 0, 404 3, 409 4, anything else 1. */
int cli_exit_for_status(long status);

/*********************************************************************************
 * Transport
 */

/* Connection settings for one daemon. */
struct cli_endpoint {
	char *socket_path;  /* owned; the unix socket, NULL with base_url */
	char *base_url;     /* owned; "https://host:port" without trailing '/', NULL on the socket */
	char *token;        /* owned; bearer token for base_url, wiped when freed */
	char *cacert;       /* owned; PEM file to verify the server against, or NULL */
	bool insecure;      /* skip certificate verification */
};

/*
 * Check a --url value and write its base ("https://host:port/prefix" with no trailing
 * '/') to *ret (caller frees). The scheme must be https, or http when the host is
 * "localhost", an address in 127.0.0.0/8 or ::1. User info, a query or a fragment
 * is rejected. Returns 0, -EINVAL with a message in `err`, or -ENOMEM.
 */
int cli_url_check(const char *url, char **ret, char *err, size_t err_size);

/*
 * Read an API token from `path`: the first line, without trailing white space. The
 * token must be 1 to 4096 printable ASCII characters with no spaces, so it cannot
 * split the Authorization header. Messages never contain the token. Returns 0 and
 * sets *ret (caller wipes and frees), or a negative errno with a message in `err`.
 */
int cli_token_read(const char *path, char **ret, char *err, size_t err_size);

/*
 * Fill *ret from the options and the OUTPOST_SOCKET and OUTPOST_TOKEN values given
 * (either may be NULL): --url with --token-file or env_token for a remote daemon,
 * else --socket, env_socket or CLI_DEFAULT_SOCKET. Returns 0, -ENOMEM, or another
 * negative errno with a message in `err`, which cli_main reports as a usage error.
 */
int cli_endpoint_resolve(const struct cli_args *args, const char *env_socket,
			 const char *env_token, struct cli_endpoint *ret, char *err,
			 size_t err_size);

/* Free the strings, wiping the token. Accepts a zeroed struct. */
void cli_endpoint_free(struct cli_endpoint *endpoint);

struct cli_client;

/* A reply: the HTTP status and its body, NUL-terminated. */
struct cli_response {
	long status;
	struct buf body;
};

/*
 * Create a client for `endpoint`, which must outlive it. Connections time out after
 * 5 s and whole requests after 60 s. Redirects are not followed. Returns 0 and sets
 * *ret, or -ENOMEM.
 */
int cli_client_new(const struct cli_endpoint *endpoint, struct cli_client **ret);

/* Free the client. Accepts NULL and returns NULL. */
struct cli_client *cli_client_free(struct cli_client *client);

/*
 * Maximum reply body size: a page of 1000 machines with 64 KiB inventories, plus
 * their other fields.
 */
#define CLI_RESPONSE_MAX (96u * 1024 * 1024)

/*
 * Send `method` to `path` (starting with "/api/v1/", query included) with `body` as
 * JSON when non-NULL, and store the reply in *resp. *resp must be zeroed or contain an
 * earlier reply, which is freed first. The caller frees resp->body with buf_free.
 * Returns 0 when a reply of any status arrived, -EIO when the daemon could not be
 * reached (no socket, refused, TLS failure, timeout) with the reason in `err`,
 * -E2BIG when the body passed CLI_RESPONSE_MAX, or -ENOMEM.
 */
int cli_client_request(struct cli_client *client, const char *method, const char *path,
		       const json_t *body, struct cli_response *resp, char *err,
		       size_t err_size);

/*
 * POST the `size` bytes read from `fd` to `path` as application/octet-stream, with no
 * overall time limit but an end to a transfer that stalls for 60 s. `progress` (may be
 * NULL) is called with the bytes sent. Returns as cli_client_request does, or -errno for a read
 * error of fd.
 */
int cli_client_upload(struct cli_client *client, const char *path, int fd, uint64_t size,
		      void (*progress)(void *ctx, uint64_t done), void *progress_ctx,
		      struct cli_response *resp, char *err, size_t err_size);

/*********************************************************************************
 * Requests and replies of the commands (cli.c), shared by cli_main and cli_bmc_main.
 * Their messages go to stderr and start "outpost NAME: ", where NAME is the command
 * ("bmc power"), or "outpost: " when `name` is NULL.
 */

/*
 * The help of the connection and output options that every command accepts, from
 * --json to --help, after a blank line. The help of each command prints it after the
 * command's own options.
 */
extern const char cli_help_connection[];

/* Callback that renders a reply as text, as the cli_render_* functions do. */
typedef int (*cli_render_fn)(json_t *json, struct buf *out);

/*
 * Send one request and parse its JSON reply into *ret (NULL for an empty body).
 * Prints the reason of any failure: the transport's message, the error of a non-2xx
 * reply, or a reply that is not JSON. Returns the exit code (enum cli_exit).
 */
int cli_call(struct cli_client *client, const char *name, const char *method,
	     const char *path, const json_t *body, json_t **ret);

/*
 * Print `reply` on stdout: indented JSON when `json` is set, else the text of `render`,
 * which may be NULL when `json` is set. An empty reply, or one that `render` rejects,
 * prints a message instead. Returns the exit code.
 */
int cli_print_reply(const char *name, bool json, json_t *reply, cli_render_fn render);

/* GET `path` and print the reply as cli_print_reply does. Returns the exit code. */
int cli_get_and_print(struct cli_client *client, const char *name, bool json,
		      const char *path, cli_render_fn render);

/*********************************************************************************
 * Bundles
 */

/* The options of `outpost bundle`, shared by cli_bundle.c and cli_bundle_remote.c. */
struct cli_bundle_opts {
	bool json;
	bool zstd;
	bool force;
	bool test_key;
	bool allow_test_keys;
	bool allow_downgrade;
	bool installed;              /* verify --installed: check the daemon's blobs */
	const char *key;             /* create: the private key */
	const char *output;
	const char *base;
	const char *trusted_keys;
	const char **pub_keys;       /* --trusted-key FILE, repeatable */
	size_t pub_key_count;
	struct cli_args conn;        /* --socket, --url, --token-file, --cacert, --insecure */
};

/*
 * Run a bundle command that needs the daemon: load, list, show, remove, and verify
 * --installed. `operands` are the arguments after the verb. Returns the exit code.
 */
int cli_bundle_remote(const char *verb, char *const *operands, size_t count,
		      const struct cli_bundle_opts *o);

/* A progress line on stderr, drawn only when stderr is a terminal. */
struct cli_progress {
	bool enabled;
	const char *label;
	uint64_t total;
	int64_t started_ns;
	int64_t drawn_ns;
};

void cli_progress_init(struct cli_progress *p, const char *label, uint64_t total);
/* Redraw at most 10 times a second; `last` draws the final line and a newline. */
void cli_progress_draw(struct cli_progress *p, uint64_t done, bool last);
/* Print JSON indented with sorted keys and free it. Returns the exit code. */
int cli_json_print(json_t *json);
/* Write a size for people: "812.0 MiB". */
void cli_size_text(uint64_t bytes, char *out, size_t size);

/*********************************************************************************
 * BMCs: `outpost bmc` and `outpost machine power` (cli_bmc*.c)
 */

/*
 * Run `outpost bmc VERB ...` (argv[0] "bmc") or `outpost machine power REF ACTION`
 * (argv[0] "machine", argv[1] "power"). Commands that queue a BMC operation wait for
 * it unless --no-wait. Reads OUTPOST_SOCKET, OUTPOST_TOKEN and OUTPOST_BMC_PASSWORD.
 * Returns the process exit code (enum cli_exit).
 */
int cli_bmc_main(int argc, char **argv);

enum cli_bmc_command {
	CLI_BMC_INVALID,
	CLI_BMC_ADD,
	CLI_BMC_LIST,
	CLI_BMC_SHOW,
	CLI_BMC_SET,
	CLI_BMC_RM,
	CLI_BMC_VERIFY,
	CLI_BMC_POWER,
	CLI_BMC_BOOT,
	CLI_BMC_MEDIA,
	CLI_BMC_SENSORS,
	CLI_BMC_INVENTORY,
	CLI_BMC_EVENTS,
	CLI_BMC_FIRMWARE,
	CLI_BMC_OPERATION,
	CLI_BMC_MACHINE_POWER,
	CLI_BMC_MAX,
};

/*
 * Default --wait-timeout in seconds. Firmware updates get longer, because the daemon
 * allows them [bmc] firmware_timeout_seconds (default 3600) once they start.
 */
#define CLI_BMC_WAIT_DEFAULT 120
#define CLI_BMC_FIRMWARE_WAIT_DEFAULT 3900
#define CLI_BMC_WAIT_MAX 86400
/* Maximum length of a password the daemon stores, in bytes. */
#define CLI_BMC_PASSWORD_MAX 127
/* Maximum length of an image URL the daemon accepts, in bytes. */
#define CLI_BMC_URL_MAX 1024
/* Sizes of the API's text fields, NUL included. */
#define CLI_BMC_ADDRESS_SIZE 256
#define CLI_BMC_USER_SIZE 64
#define CLI_BMC_PATH_SIZE 1024
#define CLI_BMC_FINGERPRINT_SIZE 65

/*
 * A parsed and locally validated `outpost bmc` command line. Pointers are borrowed
 * from argv; NULL means the option or operand is absent.
 */
struct cli_bmc_args {
	enum cli_bmc_command command;
	bool help;                     /* print the help of `command` (of the group if none) */
	bool json;
	bool no_wait;
	bool yes;                      /* --yes: confirms a destructive action */
	uint64_t id;                   /* the BMC id, or the operation id of `operation` */
	char machine[CLI_REF_SIZE];    /* machine power REF, or --machine; "" to unlink */
	bool machine_given;
	const char *action;            /* power: on to status. media: insert, eject or status */
	const char *device;            /* boot: pxe, http, cd or disk */
	const char *mode;              /* boot --mode: uefi, legacy or keep */
	const char *url;               /* media insert and firmware: the image URL */
	/* add and set */
	const char *protocol;
	char address[CLI_BMC_ADDRESS_SIZE];  /* an IPv6 address is written in brackets */
	uint64_t port;                 /* 0: not given */
	const char *user;
	const char *password_file;     /* "-" is stdin */
	const char *tls;
	const char *ca_file;
	char fingerprint[CLI_BMC_FINGERPRINT_SIZE];  /* lower-case hex, colons removed */
	uint64_t wait_seconds;         /* --wait-timeout, or the command's default */
	struct cli_args conn;          /* --socket, --url, --token-file, --cacert, --insecure */
};

/*
 * Parse argv as cli_bmc_main receives it, and check every value with the API's rules
 * (ids, actions, devices, modes, URL schemes, addresses, fingerprints, lengths), so a
 * mistake is reported with its value before any request. getopt_long permutes argv.
 * Returns 0 and fills *ret, or -EINVAL with a message naming the argument in `err`.
 * -h or --help returns 0 with ret->help set.
 */
int cli_bmc_args_parse(int argc, char **argv, struct cli_bmc_args *ret, char *err,
		       size_t err_size);

/* "bmc power" for a command, "machine power" for CLI_BMC_MACHINE_POWER, else NULL. */
const char *cli_bmc_command_name(enum cli_bmc_command command);

/*
 * Build the body of bmc add (POST /bmcs) or bmc set (PATCH /bmcs/ID) from the options
 * and `password` (NULL or "" to send none). Returns a new reference or NULL when out
 * of memory. NOTE: jansson frees its copy of the password without wiping it.
 */
json_t *cli_bmc_body(const struct cli_bmc_args *args, const char *password);

/*
 * Build the body that queues the command's operation: {"operation": ..., args} for
 * POST /bmcs/ID/operations, or {"action": ...} for POST /machines/REF/power, where
 * "status" queues a power-state read. Returns a new reference, or NULL when out of
 * memory or when the command queues nothing.
 */
json_t *cli_bmc_operation_body(const struct cli_bmc_args *args);

/*
 * Read the BMC password into `out`, at most CLI_BMC_PASSWORD_MAX bytes and a NUL. The
 * first source that applies wins: the first line of `path` ("-": standard input), then
 * `env_value` when it is not empty. Last, when `prompt` is set and standard input is a
 * terminal, a line typed without echo. Returns 1 when a password was read, 0 when no
 * source applies, or a negative errno with a message in `err` that never contains the
 * password.
 */
int cli_bmc_password_read(const char *path, const char *env_value, bool prompt, char *out,
			  size_t size, char *err, size_t err_size);

/* Milliseconds to sleep before poll number `attempt` (0 first): 50, doubling to 1000. */
long cli_bmc_poll_delay_ms(unsigned attempt);

/* Render GET /bmcs "items" as the table ID PROTOCOL ADDRESS STATUS POWER MACHINE. */
int cli_render_bmcs(const json_t *items, struct buf *out);
/* Render one BMC as key: value lines. */
int cli_render_bmc(json_t *bmc, struct buf *out);
/* Render one operation (GET /bmc-operations/ID) as key: value lines. */
int cli_render_bmc_operation(json_t *operation, struct buf *out);
/*
 * Render the result of a succeeded operation by its kind: tables for sensors
 * (NAME KIND VALUE UNIT) and events (ID CREATED SEVERITY MESSAGE), the system and a
 * firmware table for inventory, key: value lines otherwise. Returns 0, -EINVAL when
 * the operation has no result object, or a buf error.
 */
int cli_render_bmc_result(json_t *operation, struct buf *out);

#endif
