/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Output of the CLI: aligned tables, key: value listings and the messages for
 * failed requests, built from the server's JSON into a struct buf. Every string that
 * came from the server is sanitised before it reaches the terminal, because machine
 * fields such as the serial or the inventory are written by the machines themselves.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "…" in UTF-8, one character wide. */
#define ELLIPSIS "\xe2\x80\xa6"
/* Characters of an object or array value shown by key: value listings. */
#define FIELD_JSON_MAX_WIDTH 160
/* Spaces between table columns. */
#define COLUMN_GAP 2

/*
 * Return the length of the valid UTF-8 sequence at `p` (1 to 4), or 0 when the bytes
 * are not valid UTF-8: overlong forms, surrogates and code points past U+10FFFF are
 * invalid. Sets *code_point.
 */
static size_t
utf8_decode(const unsigned char *p, uint32_t *code_point)
{
	size_t len;
	uint32_t cp;
	uint32_t min;

	if (p[0] < 0x80) {
		*code_point = p[0];
		return 1;
	} else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}

	/* A NUL among the continuation bytes fails this test, so reads stop at the end. */
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}

	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*code_point = cp;
	return len;
}

/*
 * True for code points that move the cursor, reorder text or show nothing on a
 * terminal: C0, DEL and C1 controls, the bidirectional marks (U+061C, U+200E,
 * U+200F), embeddings and overrides (U+202A to U+202E) and isolates (U+2066 to
 * U+2069), the zero-width space U+200B and no-break space U+FEFF, and the line and
 * paragraph separators U+2028 and U+2029.
 */
static bool
code_point_is_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	       cp == 0x200b || cp == 0x200e || cp == 0x200f || cp == 0x2028 ||
	       cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

int
cli_sanitize(const char *text, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)text;
	int rc = 0;

	while (rc == 0 && *p != '\0') {
		uint32_t cp = 0;
		size_t len = utf8_decode(p, &cp);

		if (len == 0 || code_point_is_unsafe(cp)) {
			rc = buf_append(out, "?", 1);
			p += len == 0 ? 1 : len;
			continue;
		}
		rc = buf_append(out, p, len);
		p += len;
	}
	return rc;
}

/* Characters in valid UTF-8 text: the bytes that do not continue a sequence. */
static size_t
text_width(const char *text)
{
	size_t width = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		if ((*p & 0xc0) != 0x80)
			width++;
	}
	return width;
}

/* Byte length of the first `width` characters of valid UTF-8 text. */
static size_t
text_prefix_bytes(const char *text, size_t width)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t chars = 0;
	size_t i = 0;

	for (; p[i] != '\0'; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			if (chars == width)
				break;
			chars++;
		}
	}
	return i;
}

/* Append `text` cut to `max_width` characters with an ellipsis. A max_width of 0 means no cap. */
static int
append_cut(struct buf *out, const char *text, size_t max_width)
{
	int rc;

	if (max_width == 0 || text_width(text) <= max_width)
		return buf_puts(out, text);
	rc = buf_append(out, text, text_prefix_bytes(text, max_width - 1));
	if (rc < 0)
		return rc;
	return buf_puts(out, ELLIPSIS);
}

static int
append_spaces(struct buf *out, size_t count)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < count; i++)
		rc = buf_append(out, " ", 1);
	return rc;
}

void
cli_table_init(struct cli_table *table, const struct cli_column *columns, size_t n_columns)
{
	memset(table, 0, sizeof(*table));
	table->columns = columns;
	table->n_columns = n_columns;
}

int
cli_table_add_row(struct cli_table *table, const char *const *cells)
{
	size_t n = table->n_columns;
	char **row;

	/* Grow by doubling. The size check keeps rows * columns from overflowing. */
	if (table->n_rows == table->cap_rows) {
		size_t cap = table->cap_rows == 0 ? 16 : table->cap_rows * 2;
		char **grown;

		if (cap > SIZE_MAX / sizeof(char *) / (n == 0 ? 1 : n))
			return -ENOMEM;
		grown = realloc(table->cells, cap * n * sizeof(char *));
		if (grown == NULL)
			return -ENOMEM;
		table->cells = grown;
		table->cap_rows = cap;
	}

	/* Copy each cell sanitised, "-" for an empty one. */
	row = table->cells + table->n_rows * n;
	for (size_t i = 0; i < n; i++) {
		struct buf cell;
		const char *text = cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : "-";

		buf_init(&cell, CLI_RESPONSE_MAX);
		if (cli_sanitize(text, &cell) < 0 || (row[i] = buf_steal(&cell)) == NULL) {
			buf_free(&cell);
			for (size_t j = 0; j < i; j++)
				free(row[j]);
			return -ENOMEM;
		}
	}

	table->n_rows++;
	return 0;
}

int
cli_table_render(const struct cli_table *table, struct buf *out)
{
	size_t n = table->n_columns;
	size_t *widths;
	int rc = 0;

	widths = calloc(n == 0 ? 1 : n, sizeof(*widths));
	if (widths == NULL)
		return -ENOMEM;

	/* Each column fits its widest cell up to its cap, and always its header. */
	for (size_t c = 0; c < n; c++) {
		const struct cli_column *column = &table->columns[c];
		size_t width = 0;

		for (size_t r = 0; r < table->n_rows; r++) {
			size_t cell_width = text_width(table->cells[r * n + c]);

			if (cell_width > width)
				width = cell_width;
		}
		if (column->max_width != 0 && width > column->max_width)
			width = column->max_width;
		if (text_width(column->header) > width)
			width = text_width(column->header);
		widths[c] = width;
	}

	/* Row 0 is the header. The last column is never padded. */
	for (size_t r = 0; rc == 0 && r <= table->n_rows; r++) {
		for (size_t c = 0; rc == 0 && c < n; c++) {
			const char *text = r == 0 ? table->columns[c].header
						  : table->cells[(r - 1) * n + c];
			size_t start = out->len;

			rc = append_cut(out, text, r == 0 ? 0 : widths[c]);
			if (rc == 0 && c + 1 < n)
				rc = append_spaces(out, widths[c] + COLUMN_GAP -
							text_width(out->data + start));
		}
		if (rc == 0)
			rc = buf_append(out, "\n", 1);
	}

	free(widths);
	return rc;
}

void
cli_table_free(struct cli_table *table)
{
	for (size_t i = 0; i < table->n_rows * table->n_columns; i++)
		free(table->cells[i]);
	free(table->cells);
	table->cells = NULL;
	table->n_rows = 0;
	table->cap_rows = 0;
}

/* True for the JSON types joined with commas inside an array. */
static bool
json_is_scalar_text(const json_t *value)
{
	return json_is_string(value) || json_is_number(value);
}

/* Append an array of strings and numbers as "a,b,c". */
static int
append_joined(const json_t *array, struct buf *out)
{
	size_t i;
	json_t *item;
	int rc = 0;

	json_array_foreach(array, i, item) {
		if (i > 0)
			rc = buf_append(out, ",", 1);
		if (rc == 0)
			rc = cli_value_text(item, out);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
cli_value_text(const json_t *value, struct buf *out)
{
	size_t i;
	json_t *item;
	char *dump;
	int rc;

	switch (json_typeof(value)) {
	case JSON_STRING:
		return buf_append(out, json_string_value(value), json_string_length(value));
	case JSON_INTEGER:
		return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
	case JSON_REAL:
		return buf_printf(out, "%g", json_real_value(value));
	case JSON_TRUE:
		return buf_puts(out, "true");
	case JSON_FALSE:
		return buf_puts(out, "false");
	case JSON_NULL:
		return buf_puts(out, "-");
	case JSON_ARRAY:
		json_array_foreach(value, i, item) {
			if (!json_is_scalar_text(item))
				break;
		}
		if (i == json_array_size(value))
			return append_joined(value, out);
		break;
	case JSON_OBJECT:
		break;
	}

	/* Objects and arrays of objects as compact JSON. */
	dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (dump == NULL)
		return -ENOMEM;
	rc = buf_puts(out, dump);
	free(dump);
	return rc;
}

int
cli_member_text(const json_t *obj, const char *key, struct buf *out)
{
	const json_t *value = json_object_get(obj, key);

	if (value == NULL || json_is_null(value))
		return 0;
	return cli_value_text(value, out);
}

int
cli_render_items(const json_t *items, const struct cli_column *columns, size_t n_columns,
		 const char *const *keys, cli_cell_fn cell, struct buf *out)
{
	struct cli_table table;
	struct buf cells[16];
	const char *texts[16];
	size_t i;
	json_t *item;
	int rc = 0;

	if (!json_is_array(items) || n_columns > sizeof(cells) / sizeof(cells[0]))
		return -EINVAL;

	cli_table_init(&table, columns, n_columns);
	for (size_t c = 0; c < n_columns; c++)
		buf_init(&cells[c], CLI_RESPONSE_MAX);

	json_array_foreach(items, i, item) {
		if (!json_is_object(item)) {
			rc = -EINVAL;
			goto err_row;
		}

		/* Build this row's cells, which the table copies. */
		for (size_t c = 0; rc == 0 && c < n_columns; c++) {
			buf_free(&cells[c]);
			buf_init(&cells[c], CLI_RESPONSE_MAX);
			if (keys[c] != NULL)
				rc = cli_member_text(item, keys[c], &cells[c]);
			else
				rc = cell(item, c, &cells[c]);
			texts[c] = cells[c].data;
		}
		if (rc == 0)
			rc = cli_table_add_row(&table, texts);
		if (rc < 0)
			goto err_row;
	}

	rc = cli_table_render(&table, out);

err_row:
	for (size_t c = 0; c < n_columns; c++)
		buf_free(&cells[c]);
	cli_table_free(&table);
	return rc;
}

/* The ARCH/PLATFORM cell: "x86_64/efi", "-" for a missing half, "" when both are missing. */
static int
machine_special_cell(const json_t *machine, size_t column, struct buf *out)
{
	struct buf arch;
	struct buf platform;
	int rc;

	(void)column;
	buf_init(&arch, CLI_TEXT_FIELD_MAX * 4);
	buf_init(&platform, CLI_TEXT_FIELD_MAX * 4);

	rc = cli_member_text(machine, "arch", &arch);
	if (rc == 0)
		rc = cli_member_text(machine, "platform", &platform);
	if (rc == 0 && (arch.len > 0 || platform.len > 0))
		rc = buf_printf(out, "%s/%s", arch.len > 0 ? arch.data : "-",
				platform.len > 0 ? platform.data : "-");

	buf_free(&arch);
	buf_free(&platform);
	return rc;
}

int
cli_render_machines(const json_t *items, struct buf *out)
{
	static const struct cli_column columns[] = {
		{ "ID", 10 },
		{ "STATE", 15 },       /* "decommissioning" */
		{ "HOSTNAME", 32 },
		{ "IP", 39 },          /* the longest IPv6 text form */
		{ "MACS", 35 },        /* two MACs */
		{ "PROFILE", 24 },
		{ "ARCH/PLATFORM", 14 }, /* "riscv64/pcbios" */
	};
	static const char *const keys[] = {
		"id", "state", "hostname", "ip", "macs", "profile", NULL,
	};

	return cli_render_items(items, columns, sizeof(columns) / sizeof(columns[0]), keys,
				machine_special_cell, out);
}

int
cli_render_profiles(const json_t *items, struct buf *out)
{
	static const struct cli_column columns[] = {
		{ "NAME", CLI_PROFILE_NAME_MAX },
		{ "KERNEL", 40 },
		{ "INITRD", 40 },
		{ "IMAGE", 40 },
		{ "CMDLINE", 50 },
	};
	static const char *const keys[] = { "name", "kernel", "initrd", "image", "cmdline" };

	return cli_render_items(items, columns, sizeof(columns) / sizeof(columns[0]), keys,
				NULL, out);
}

int
cli_render_audit(const json_t *items, struct buf *out)
{
	static const struct cli_column columns[] = {
		{ "SEQ", 12 },
		{ "AT", 20 },          /* RFC 3339 UTC */
		{ "ACTOR", 24 },
		{ "ACTION", 24 },
		{ "TARGET", 24 },
		{ "RISK", 11 },        /* "destructive" */
		{ "OUTCOME", 12 },
		{ "DETAIL", 60 },
	};
	static const char *const keys[] = {
		"seq", "at", "actor", "action", "target", "risk", "outcome", "detail",
	};

	return cli_render_items(items, columns, sizeof(columns) / sizeof(columns[0]), keys,
				NULL, out);
}

/*
 * Lines of a key: value listing, collected so the values can be aligned. An object
 * with more than 64 keys fails with -E2BIG; API objects have fewer than 20.
 */
struct field_lines {
	char *labels[64];   /* owned */
	char *values[64];   /* owned, sanitised */
	size_t count;
};

/* Add a line whose value is already sanitised text. An empty value prints the label alone. */
static int
lines_add_text(struct field_lines *lines, const char *label, const char *value)
{
	size_t i = lines->count;

	if (i == sizeof(lines->labels) / sizeof(lines->labels[0]))
		return -E2BIG;

	lines->labels[i] = strdup(label);
	lines->values[i] = strdup(value);
	if (lines->labels[i] == NULL || lines->values[i] == NULL) {
		free(lines->labels[i]);
		free(lines->values[i]);
		return -ENOMEM;
	}
	lines->count++;
	return 0;
}

/* Add a line for a JSON value: "-" when empty, objects and arrays cut to FIELD_JSON_MAX_WIDTH. */
static int
lines_add(struct field_lines *lines, const char *label, const json_t *value)
{
	size_t max_width = json_is_object(value) || json_is_array(value) ? FIELD_JSON_MAX_WIDTH : 0;
	struct buf text;
	struct buf clean;
	struct buf line;
	int rc;

	buf_init(&text, CLI_RESPONSE_MAX);
	buf_init(&clean, CLI_RESPONSE_MAX);
	buf_init(&line, CLI_RESPONSE_MAX);

	rc = cli_value_text(value, &text);
	if (rc == 0)
		rc = cli_sanitize(text.len > 0 ? text.data : "-", &clean);
	if (rc == 0)
		rc = append_cut(&line, clean.data, max_width);
	if (rc == 0)
		rc = lines_add_text(lines, label, line.data);

	buf_free(&text);
	buf_free(&clean);
	buf_free(&line);
	return rc;
}

/* Append every line as "label:" padded to the longest label, then the value. */
static int
lines_render(const struct field_lines *lines, struct buf *out)
{
	size_t width = 0;
	int rc = 0;

	for (size_t i = 0; i < lines->count; i++) {
		if (text_width(lines->labels[i]) > width)
			width = text_width(lines->labels[i]);
	}

	for (size_t i = 0; rc == 0 && i < lines->count; i++) {
		rc = buf_printf(out, "%s:", lines->labels[i]);
		if (rc == 0 && lines->values[i][0] != '\0')
			rc = append_spaces(out, width - text_width(lines->labels[i]) + 1);
		if (rc == 0)
			rc = buf_printf(out, "%s\n", lines->values[i]);
	}
	return rc;
}

static void
lines_free(struct field_lines *lines)
{
	for (size_t i = 0; i < lines->count; i++) {
		free(lines->labels[i]);
		free(lines->values[i]);
	}
	lines->count = 0;
}

static bool
field_listed(const struct cli_field *fields, const char *key)
{
	for (size_t i = 0; fields[i].key != NULL; i++) {
		if (strcmp(fields[i].key, key) == 0)
			return true;
	}
	return false;
}

/* Add the listed fields present in `object`, then its other keys under their own names. */
static int
lines_add_object(struct field_lines *lines, json_t *object,
		 const struct cli_field *fields, const char *const *skip)
{
	const char *key;
	json_t *value;
	int rc = 0;

	for (size_t i = 0; rc == 0 && fields[i].key != NULL; i++) {
		value = json_object_get(object, fields[i].key);
		if (value != NULL)
			rc = lines_add(lines, fields[i].label, value);
	}

	json_object_foreach(object, key, value) {
		struct buf label;
		bool skipped = false;

		for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
			skipped = skipped || strcmp(skip[i], key) == 0;
		if (rc < 0 || skipped || field_listed(fields, key))
			continue;

		/* Keys come from the server too. */
		buf_init(&label, CLI_RESPONSE_MAX);
		rc = cli_sanitize(key, &label);
		if (rc == 0)
			rc = lines_add(lines, label.data != NULL ? label.data : "", value);
		buf_free(&label);
	}
	return rc;
}

int
cli_render_fields(json_t *object, const struct cli_field *fields, struct buf *out)
{
	struct field_lines lines = { .count = 0 };
	int rc;

	if (!json_is_object(object))
		return -EINVAL;

	rc = lines_add_object(&lines, object, fields, NULL);
	if (rc == 0)
		rc = lines_render(&lines, out);

	lines_free(&lines);
	return rc;
}

int
cli_render_machine(json_t *machine, struct buf *out)
{
	static const struct cli_field fields[] = {
		{ "id", "id" },
		{ "state", "state" },
		{ "hostname", "hostname" },
		{ "ip", "ip" },
		{ "macs", "macs" },
		{ "uuid", "uuid" },
		{ "profile", "profile" },
		{ "arch", "arch" },
		{ "platform", "platform" },
		{ "serial", "serial" },
		{ "vendor", "vendor" },
		{ "model", "model" },
		{ "inventory", "inventory" },
		{ "created_at", "created" },
		{ "updated_at", "updated" },
		{ NULL, NULL },
	};

	return cli_render_fields(machine, fields, out);
}

int
cli_render_profile(json_t *profile, struct buf *out)
{
	static const struct cli_field fields[] = {
		{ "id", "id" },
		{ "name", "name" },
		{ "kernel", "kernel" },
		{ "initrd", "initrd" },
		{ "image", "image" },
		{ "cmdline", "cmdline" },
		{ "templates", "templates" },
		{ "created_at", "created" },
		{ "updated_at", "updated" },
		{ NULL, NULL },
	};

	return cli_render_fields(profile, fields, out);
}

/* Add "uptime: 1d 2h 3m 4s" from a number of seconds. */
static int
lines_add_uptime(struct field_lines *lines, json_int_t seconds)
{
	char text[64];
	json_t *value;
	int rc;

	/* The "d" after the day count is the unit, as "h", "m" and "s" are. */
	if (seconds >= 86400)
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT "d %dh %dm %ds",
			 seconds / 86400, (int)(seconds % 86400 / 3600),
			 (int)(seconds % 3600 / 60), (int)(seconds % 60));
	else if (seconds >= 3600)
		snprintf(text, sizeof(text), "%dh %dm %ds", (int)(seconds / 3600),
			 (int)(seconds % 3600 / 60), (int)(seconds % 60));
	else
		snprintf(text, sizeof(text), "%dm %ds", (int)(seconds / 60),
			 (int)(seconds % 60));

	value = json_string(text);
	if (value == NULL)
		return -ENOMEM;
	rc = lines_add(lines, "uptime", value);
	json_decref(value);
	return rc;
}

int
cli_render_status(json_t *status, struct buf *out)
{
	static const struct cli_field fields[] = {
		{ "schema_version", "schema version" },
		{ "audit_entries", "audit entries" },
		{ NULL, NULL },
	};
	static const char *const skip[] = { "version", "uptime_seconds", "machines", NULL };
	struct field_lines lines = { .count = 0 };
	const json_t *version = json_object_get(status, "version");
	const json_t *uptime = json_object_get(status, "uptime_seconds");
	json_t *machines = json_object_get(status, "machines");
	const char *state;
	json_t *count;
	int rc = 0;

	if (!json_is_object(status))
		return -EINVAL;

	/* Version and uptime first, then the other fields, then the machine counts. */
	if (version != NULL)
		rc = lines_add(&lines, "version", version);
	if (rc == 0 && json_is_integer(uptime) && json_integer_value(uptime) >= 0)
		rc = lines_add_uptime(&lines, json_integer_value(uptime));
	if (rc == 0)
		rc = lines_add_object(&lines, status, fields, skip);

	/* One indented line per lifecycle state, in the server's order. */
	if (rc == 0 && json_is_object(machines)) {
		rc = lines_add_text(&lines, "machines", "");
		json_object_foreach(machines, state, count) {
			struct buf label;

			if (rc < 0)
				break;
			buf_init(&label, CLI_RESPONSE_MAX);
			rc = buf_puts(&label, "  ");
			if (rc == 0)
				rc = cli_sanitize(state, &label);
			if (rc == 0)
				rc = lines_add(&lines, label.data, count);
			buf_free(&label);
		}
	}

	if (rc == 0)
		rc = lines_render(&lines, out);
	lines_free(&lines);
	return rc;
}

int
cli_render_verify(const json_t *verify, struct buf *out, bool *intact)
{
	const json_t *entries = json_object_get(verify, "entries");
	const json_t *ok = json_object_get(verify, "intact");
	const json_t *bad_seq = json_object_get(verify, "bad_seq");
	const json_t *reason = json_object_get(verify, "reason");
	json_int_t count;
	int rc;

	if (!json_is_integer(entries) || !json_is_boolean(ok))
		return -EINVAL;
	count = json_integer_value(entries);

	if (json_is_true(ok)) {
		*intact = true;
		return buf_printf(out, "audit chain intact: %" JSON_INTEGER_FORMAT " %s\n", count,
				  count == 1 ? "entry" : "entries");
	}

	*intact = false;
	if (json_is_integer(bad_seq))
		rc = buf_printf(out, "audit chain broken at entry %" JSON_INTEGER_FORMAT ": ",
				json_integer_value(bad_seq));
	else
		rc = buf_puts(out, "audit chain broken: ");
	if (rc == 0)
		rc = cli_sanitize(json_is_string(reason) ? json_string_value(reason)
							 : "the server gave no reason",
				  out);
	if (rc == 0)
		rc = buf_append(out, "\n", 1);
	return rc;
}

int
cli_render_json(const json_t *json, struct buf *out)
{
	char *text;
	int rc;

	text = json_dumps(json, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (text == NULL)
		return -ENOMEM;
	rc = buf_printf(out, "%s\n", text);
	free(text);
	return rc;
}

int
cli_error_text(long status, const char *body, size_t len, struct buf *out)
{
	json_t *json = json_loadb(body != NULL ? body : "", len, 0, NULL);
	const json_t *detail = json_object_get(json, "detail");
	const json_t *error = json_object_get(json, "error");
	int rc;

	if (json_is_string(detail) && json_string_length(detail) > 0)
		rc = cli_sanitize(json_string_value(detail), out);
	else if (json_is_string(error) && json_string_length(error) > 0)
		rc = cli_sanitize(json_string_value(error), out);
	else
		rc = buf_printf(out, "server returned HTTP %ld", status);

	json_decref(json);
	return rc;
}

int
cli_exit_for_status(long status)
{
	if (status >= 200 && status <= 299)
		return CLI_EXIT_OK;
	if (status == 404)
		return CLI_EXIT_NOT_FOUND;
	if (status == 409)
		return CLI_EXIT_CONFLICT;
	return CLI_EXIT_REJECTED;
}
