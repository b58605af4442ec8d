/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manifest: parsing with every check of docs/bundle-format.md, the canonical
 * serialisation `bundle create` signs, and the name, version and path rules.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DESCRIPTION_MAX 1024
#define META_VALUE_MAX 128
#define META_MODELS_MAX 256
#define PATH_DEPTH_MAX 8
#define VERSION_NUMBERS_MAX 4
#define VERSION_DIGITS_MAX 9
#define VERSION_TAG_MAX 32
/* JSON integers past 2^53 - 1 do not survive every JSON reader. */
#define JSON_SAFE_INT_MAX 9007199254740991LL

static const char *const kind_names[BUNDLE_KIND_MAX] = {
	[BUNDLE_KIND_OS] = "os",
	[BUNDLE_KIND_FIRMWARE] = "firmware",
	[BUNDLE_KIND_RAMDISK] = "ramdisk",
	[BUNDLE_KIND_PLATFORM] = "platform",
};

static const char *const role_names[BUNDLE_ROLE_MAX] = {
	[BUNDLE_ROLE_KERNEL] = "kernel",
	[BUNDLE_ROLE_INITRD] = "initrd",
	[BUNDLE_ROLE_DISK_IMAGE] = "disk-image",
	[BUNDLE_ROLE_ISO] = "iso",
	[BUNDLE_ROLE_FIRMWARE_IMAGE] = "firmware-image",
	[BUNDLE_ROLE_TEMPLATE] = "template",
	[BUNDLE_ROLE_BOOTLOADER] = "bootloader",
};

/* The metadata members each role accepts; NULL-terminated. */
static const char *const os_members[] = {
	"os", "os_version", "arch", "compression", "raw_size", "raw_sha256", NULL,
};
static const char *const firmware_members[] = {
	"vendor", "models", "component", "version", "update_method", NULL,
};
static const char *const template_members[] = { "format", NULL };

static const char *const *const role_members[BUNDLE_ROLE_MAX] = {
	[BUNDLE_ROLE_KERNEL] = os_members,
	[BUNDLE_ROLE_INITRD] = os_members,
	[BUNDLE_ROLE_DISK_IMAGE] = os_members,
	[BUNDLE_ROLE_ISO] = os_members,
	[BUNDLE_ROLE_FIRMWARE_IMAGE] = firmware_members,
	[BUNDLE_ROLE_TEMPLATE] = template_members,
	[BUNDLE_ROLE_BOOTLOADER] = os_members,
};

static const char *const update_methods[] = {
	"redfish-simple-update", "redfish-multipart", "ipmi-hpm", "offline-flash", NULL,
};

const char *
bundle_kind_name(enum bundle_kind kind)
{
	return (unsigned)kind < BUNDLE_KIND_MAX ? kind_names[kind] : "unknown";
}

const char *
bundle_role_name(enum bundle_role role)
{
	return (unsigned)role < BUNDLE_ROLE_MAX ? role_names[role] : "unknown";
}

static int
name_index(const char *const *names, size_t count, const char *value)
{
	for (size_t i = 0; i < count; i++)
		if (names[i] != NULL && strcmp(names[i], value) == 0)
			return (int)i;
	return -1;
}

static bool
list_has(const char *const *list, const char *value)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, value) == 0)
			return true;
	return false;
}

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_hex_lower(const char *text, size_t len)
{
	if (strlen(text) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
			return false;
	return true;
}

int
bundle_name_check(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= BUNDLE_NAME_SIZE || !is_lower_alnum(name[0]))
		return -EINVAL;
	/* References NAME/VERSION/PATH share the artifact folder's top level with these. */
	if (strcmp(name, "sha256") == 0 || strcmp(name, "staging") == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_alnum(name[i]) && strchr("._-", name[i]) == NULL)
			return -EINVAL;
	return 0;
}

/*
 * Split a version into its numbers and tag. Returns the count of numbers (1 to 4), or
 * -EINVAL. *tag points into `version` (after the '-') or is NULL.
 */
static int
version_split(const char *version, uint32_t numbers[VERSION_NUMBERS_MAX], const char **tag)
{
	const char *p = version;
	int count = 0;

	*tag = NULL;
	for (;;) {
		uint32_t value = 0;
		size_t digits = 0;

		if (count == VERSION_NUMBERS_MAX)
			return -EINVAL;
		while (*p >= '0' && *p <= '9') {
			if (digits == VERSION_DIGITS_MAX || (digits == 1 && value == 0))
				return -EINVAL;
			value = value * 10 + (uint32_t)(*p - '0');
			digits++;
			p++;
		}
		if (digits == 0)
			return -EINVAL;
		numbers[count++] = value;
		if (*p != '.')
			break;
		p++;
	}

	if (*p == '\0')
		return count;
	if (*p != '-')
		return -EINVAL;
	*tag = ++p;
	if (*p == '\0' || strlen(p) > VERSION_TAG_MAX)
		return -EINVAL;
	for (; *p != '\0'; p++)
		if (!is_lower_alnum(*p) && *p != '.')
			return -EINVAL;
	return count;
}

int
bundle_version_check(const char *version)
{
	uint32_t numbers[VERSION_NUMBERS_MAX];
	const char *tag;

	if (strlen(version) >= BUNDLE_VERSION_SIZE)
		return -EINVAL;
	return version_split(version, numbers, &tag) < 0 ? -EINVAL : 0;
}

int
bundle_version_compare(const char *a, const char *b)
{
	uint32_t na[VERSION_NUMBERS_MAX] = { 0 }, nb[VERSION_NUMBERS_MAX] = { 0 };
	const char *ta, *tb;

	/* Invalid versions never reach here; order them by bytes rather than crash. */
	if (version_split(a, na, &ta) < 0 || version_split(b, nb, &tb) < 0)
		return strcmp(a, b);
	for (int i = 0; i < VERSION_NUMBERS_MAX; i++)
		if (na[i] != nb[i])
			return na[i] < nb[i] ? -1 : 1;
	if (ta == NULL || tb == NULL)
		return (ta == NULL) - (tb == NULL);
	return strcmp(ta, tb);
}

static bool
path_char_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '+';
}

int
bundle_path_check(const char *path)
{
	size_t len = strlen(path), depth = 1;
	bool component_start = true;

	if (len == 0 || len >= BUNDLE_PATH_SIZE)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = path[i];

		if (c == '/') {
			/* An empty component: a leading, trailing or doubled slash. */
			if (component_start || ++depth > PATH_DEPTH_MAX)
				return -EINVAL;
			component_start = true;
			continue;
		}
		/* No component starts with '.', which rules out "." and ".." too. */
		if (!path_char_valid(c) || (component_start && c == '.'))
			return -EINVAL;
		component_start = false;
	}
	return component_start ? -EINVAL : 0;
}

/* A printable ASCII string of 1 to `max` bytes. */
static bool
text_valid(const char *text, size_t max)
{
	size_t len = strlen(text);

	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
			return false;
	return true;
}

/* Describe a JSON value's type for an error message. */
static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Check one metadata member of the file at `path`. */
static int
meta_member_check(const char *path, const char *key, json_t *value, char *err, size_t errlen)
{
	if (strcmp(key, "raw_size") == 0) {
		if (!json_is_integer(value) || json_integer_value(value) < 0 ||
		    json_integer_value(value) > JSON_SAFE_INT_MAX)
			return err_set(-EINVAL, err, errlen, "file %s: metadata raw_size must "
				       "be an integer from 0 to 2^53-1", path);
		return 0;
	}
	if (strcmp(key, "models") == 0) {
		size_t i, count = json_array_size(value);
		json_t *model;

		if (!json_is_array(value) || count == 0 || count > META_MODELS_MAX)
			return err_set(-EINVAL, err, errlen, "file %s: metadata models must be "
				       "an array of 1 to %d strings", path, META_MODELS_MAX);
		json_array_foreach(value, i, model) {
			if (!json_is_string(model) ||
			    !text_valid(json_string_value(model), META_VALUE_MAX))
				return err_set(-EINVAL, err, errlen, "file %s: metadata "
					       "models[%zu] must be 1 to %d printable ASCII "
					       "characters", path, i, META_VALUE_MAX);
		}
		return 0;
	}
	if (!json_is_string(value) || !text_valid(json_string_value(value), META_VALUE_MAX))
		return err_set(-EINVAL, err, errlen, "file %s: metadata %s must be 1 to %d "
			       "printable ASCII characters", path, key, META_VALUE_MAX);
	if (strcmp(key, "raw_sha256") == 0 &&
	    !is_hex_lower(json_string_value(value), SHA256_HEX_SIZE - 1))
		return err_set(-EINVAL, err, errlen, "file %s: metadata raw_sha256 must be 64 "
			       "lowercase hex digits", path);
	if (strcmp(key, "update_method") == 0 &&
	    !list_has(update_methods, json_string_value(value)))
		return err_set(-EINVAL, err, errlen, "file %s: unknown update_method \"%s\"; "
			       "use redfish-simple-update, redfish-multipart, ipmi-hpm or "
			       "offline-flash", path, json_string_value(value));
	if (strcmp(key, "compression") == 0 && strcmp(json_string_value(value), "zstd") != 0)
		return err_set(-EINVAL, err, errlen, "file %s: unknown compression \"%s\"; "
			       "only zstd is supported", path, json_string_value(value));
	return 0;
}

static int
metadata_check(const struct bundle_file *f, char *err, size_t errlen)
{
	const char *key;
	json_t *value;
	int rc;

	if (f->metadata == NULL)
		return 0;
	if (!json_is_object(f->metadata))
		return err_set(-EINVAL, err, errlen, "file %s: metadata must be an object",
			       f->path);
	json_object_foreach(f->metadata, key, value) {
		if (!list_has(role_members[f->role], key))
			return err_set(-EINVAL, err, errlen, "file %s: metadata member \"%s\" "
				       "is not known for role %s", f->path, key,
				       role_names[f->role]);
		rc = meta_member_check(f->path, key, value, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Copy a string member into a fixed field; `check` validates it when not NULL. */
static int
string_member(json_t *obj, const char *where, const char *key, char *out, size_t size,
	      char *err, size_t errlen)
{
	json_t *value = json_object_get(obj, key);

	if (value == NULL)
		return err_set(-EINVAL, err, errlen, "%s: missing member \"%s\"", where, key);
	if (!json_is_string(value))
		return err_set(-EINVAL, err, errlen, "%s: \"%s\" must be a string, not %s",
			       where, key, json_kind(value));
	if (strlen(json_string_value(value)) >= size)
		return err_set(-EINVAL, err, errlen, "%s: \"%s\" is longer than %zu bytes",
			       where, key, size - 1);
	memcpy(out, json_string_value(value), strlen(json_string_value(value)) + 1);
	return 0;
}

/* Refuse members of `obj` that are not in `known`. */
static int
members_known(json_t *obj, const char *where, const char *const *known, char *err,
	      size_t errlen)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		(void)value;
		if (!list_has(known, key))
			return err_set(-EINVAL, err, errlen, "%s: unknown member \"%s\"", where,
				       key);
	}
	return 0;
}

static int
file_parse(json_t *obj, size_t index, struct bundle_file *f, char *err, size_t errlen)
{
	static const char *const known[] = { "path", "size", "sha256", "role", "metadata",
					     NULL };
	char where[BUNDLE_PATH_SIZE + 16], role[32];
	json_t *size;
	int rc, r;

	snprintf(where, sizeof(where), "files[%zu]", index);
	if (!json_is_object(obj))
		return err_set(-EINVAL, err, errlen, "%s must be an object, not %s", where,
			       json_kind(obj));
	rc = members_known(obj, where, known, err, errlen);
	if (rc == 0)
		rc = string_member(obj, where, "path", f->path, sizeof(f->path), err, errlen);
	if (rc < 0)
		return rc;
	if (bundle_path_check(f->path) < 0)
		return err_set(-EINVAL, err, errlen, "%s: invalid path \"%s\": use 1 to 255 "
			       "bytes of A-Z a-z 0-9 . _ - + in components separated by /, "
			       "none starting with a dot", where, f->path);
	if (strcmp(f->path, "manifest.json") == 0 || strcmp(f->path, "manifest.sig") == 0)
		return err_set(-EINVAL, err, errlen, "%s: path %s is reserved", where, f->path);

	snprintf(where, sizeof(where), "file %s", f->path);
	size = json_object_get(obj, "size");
	if (size == NULL || !json_is_integer(size) || json_integer_value(size) < 0 ||
	    json_integer_value(size) > JSON_SAFE_INT_MAX)
		return err_set(-EINVAL, err, errlen, "%s: size must be an integer from 0 to "
			       "2^53-1", where);
	f->size = (uint64_t)json_integer_value(size);

	rc = string_member(obj, where, "sha256", f->sha256, sizeof(f->sha256), err, errlen);
	if (rc < 0)
		return rc;
	if (!is_hex_lower(f->sha256, SHA256_HEX_SIZE - 1))
		return err_set(-EINVAL, err, errlen, "%s: sha256 must be 64 lowercase hex "
			       "digits", where);

	rc = string_member(obj, where, "role", role, sizeof(role), err, errlen);
	if (rc < 0)
		return rc;
	r = name_index(role_names, BUNDLE_ROLE_MAX, role);
	if (r < 0)
		return err_set(-EINVAL, err, errlen, "%s: unknown role \"%s\"; use kernel, "
			       "initrd, disk-image, iso, firmware-image or template", where,
			       role);
	f->role = (enum bundle_role)r;

	f->metadata = json_incref(json_object_get(obj, "metadata"));
	return metadata_check(f, err, errlen);
}

static int
files_parse(json_t *files, struct bundle_manifest *m, char *err, size_t errlen)
{
	size_t count = json_array_size(files);
	int rc, order;

	if (!json_is_array(files) || count == 0 || count > BUNDLE_FILES_MAX)
		return err_set(-EINVAL, err, errlen, "\"files\" must be an array of 1 to %d "
			       "files", BUNDLE_FILES_MAX);
	m->files = calloc(count, sizeof(*m->files));
	if (m->files == NULL)
		return -ENOMEM;
	m->file_count = count;
	for (size_t i = 0; i < count; i++) {
		rc = file_parse(json_array_get(files, i), i, &m->files[i], err, errlen);
		if (rc < 0)
			return rc;
		/* Sorted with no duplicates, so lookups can bisect. */
		if (i == 0)
			continue;
		order = strcmp(m->files[i - 1].path, m->files[i].path);
		if (order == 0)
			return err_set(-EINVAL, err, errlen, "files[%zu]: path %s is listed twice",
				       i, m->files[i].path);
		if (order > 0)
			return err_set(-EINVAL, err, errlen, "files[%zu]: path %s is out of order; "
				       "sort files by path", i, m->files[i].path);
	}
	return 0;
}

static int
header_parse(json_t *root, struct bundle_manifest *m, char *err, size_t errlen)
{
	static const char *const known[] = { "format_version", "name", "version", "kind",
					     "key_id", "description", "files", NULL };
	json_t *format, *description;
	char kind[32];
	int rc, k;

	if (!json_is_object(root))
		return err_set(-EINVAL, err, errlen, "the manifest must be a JSON object");
	format = json_object_get(root, "format_version");
	if (format == NULL || !json_is_integer(format))
		return err_set(-EINVAL, err, errlen, "manifest: \"format_version\" must be an "
			       "integer");
	if (json_integer_value(format) != BUNDLE_FORMAT_VERSION)
		return err_set(-EINVAL, err, errlen, "manifest: unknown format_version %lld; "
			       "this Outpost reads version %d, so update Outpost to load this "
			       "bundle", (long long)json_integer_value(format),
			       BUNDLE_FORMAT_VERSION);
	m->format_version = BUNDLE_FORMAT_VERSION;

	rc = members_known(root, "manifest", known, err, errlen);
	if (rc == 0)
		rc = string_member(root, "manifest", "name", m->name, sizeof(m->name), err,
				   errlen);
	if (rc == 0 && bundle_name_check(m->name) < 0)
		rc = err_set(-EINVAL, err, errlen, "manifest: invalid name \"%s\": use 1 to 64 "
			     "of a-z 0-9 . _ - starting with a letter or digit, other than sha256 "
			     "and staging", m->name);
	if (rc == 0)
		rc = string_member(root, "manifest", "version", m->version, sizeof(m->version),
				   err, errlen);
	if (rc == 0 && bundle_version_check(m->version) < 0)
		rc = err_set(-EINVAL, err, errlen, "manifest: invalid version \"%s\": use up "
			     "to four numbers separated by dots, such as 12.8.0, optionally "
			     "followed by -tag", m->version);
	if (rc == 0)
		rc = string_member(root, "manifest", "kind", kind, sizeof(kind), err, errlen);
	if (rc < 0)
		return rc;
	k = name_index(kind_names, BUNDLE_KIND_MAX, kind);
	if (k < 0)
		return err_set(-EINVAL, err, errlen, "manifest: unknown kind \"%s\"; use os, "
			       "firmware, ramdisk or platform", kind);
	m->kind = (enum bundle_kind)k;

	rc = string_member(root, "manifest", "key_id", m->key_id, sizeof(m->key_id), err,
			   errlen);
	if (rc < 0)
		return rc;
	if (!is_hex_lower(m->key_id, BUNDLE_KEY_ID_SIZE - 1))
		return err_set(-EINVAL, err, errlen, "manifest: key_id must be 32 lowercase "
			       "hex digits");

	description = json_object_get(root, "description");
	if (description != NULL) {
		if (!json_is_string(description) ||
		    !text_valid(json_string_value(description), DESCRIPTION_MAX))
			return err_set(-EINVAL, err, errlen, "manifest: description must be 1 "
				       "to %d printable ASCII characters", DESCRIPTION_MAX);
		m->description = strdup(json_string_value(description));
		if (m->description == NULL)
			return -ENOMEM;
	}
	return 0;
}

int
bundle_manifest_parse(const char *text, size_t len, struct bundle_manifest **ret, char *err,
		      size_t errlen)
{
	struct bundle_manifest *m;
	json_error_t jerr;
	json_t *root;
	int rc;

	if (len > BUNDLE_MANIFEST_MAX)
		return err_set(-EINVAL, err, errlen, "manifest.json is %zu bytes, more than "
			       "the maximum of %d", len, BUNDLE_MANIFEST_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err_set(-EINVAL, err, errlen, "manifest.json is not valid JSON: %s at line %d "
			"column %d", jerr.text, jerr.line, jerr.column);
		if (err != NULL && errlen > 0)
			text_sanitize(err);
		return -EINVAL;
	}

	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		json_decref(root);
		return -ENOMEM;
	}
	sha256_hex(text, len, m->sha256);
	rc = header_parse(root, m, err, errlen);
	if (rc == 0)
		rc = files_parse(json_object_get(root, "files"), m, err, errlen);
	json_decref(root);
	if (rc < 0) {
		bundle_manifest_free(m);
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory reading the manifest");
		if (err != NULL && errlen > 0)
			text_sanitize(err);
		return rc;
	}
	*ret = m;
	return 0;
}

static json_t *
file_json(const struct bundle_file *f)
{
	json_t *obj = json_pack("{s:s, s:I, s:s, s:s}", "path", f->path, "size",
				(json_int_t)f->size, "sha256", f->sha256, "role",
				role_names[f->role]);

	if (obj != NULL && f->metadata != NULL &&
	    json_object_set(obj, "metadata", f->metadata) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *
manifest_json(const struct bundle_manifest *m)
{
	json_t *root, *files;

	root = json_pack("{s:i, s:s, s:s, s:s, s:s}", "format_version", m->format_version,
			 "name", m->name, "version", m->version, "kind", kind_names[m->kind],
			 "key_id", m->key_id);
	files = json_array();
	if (root == NULL || files == NULL)
		goto err;
	if (m->description != NULL &&
	    json_object_set_new(root, "description", json_string(m->description)) < 0)
		goto err;
	for (size_t i = 0; i < m->file_count; i++)
		if (json_array_append_new(files, file_json(&m->files[i])) < 0)
			goto err;
	if (json_object_set_new(root, "files", files) < 0) {
		files = NULL;
		goto err;
	}
	return root;
err:
	json_decref(files);
	json_decref(root);
	return NULL;
}

char *
bundle_manifest_dump(const struct bundle_manifest *m, size_t *ret_len, char *err,
		     size_t errlen)
{
	struct bundle_manifest *check;
	json_t *root = manifest_json(m);
	char *text, *out;
	size_t len;

	if (root == NULL) {
		err_set(-EINVAL, err, errlen, "out of memory writing the manifest");
		return NULL;
	}
	text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(root);
	if (text == NULL) {
		err_set(-EINVAL, err, errlen, "out of memory writing the manifest");
		return NULL;
	}
	len = strlen(text);
	out = realloc(text, len + 2);
	if (out == NULL) {
		free(text);
		err_set(-EINVAL, err, errlen, "out of memory writing the manifest");
		return NULL;
	}
	out[len++] = '\n';
	out[len] = '\0';

	if (len > BUNDLE_MANIFEST_MAX) {
		err_set(-EFBIG, err, errlen, "the manifest would be %zu bytes for %zu files, more "
			"than the maximum of %d; split the files into several bundles", len,
			m->file_count, BUNDLE_MANIFEST_MAX);
		free(out);
		return NULL;
	}

	/* What we sign must be what every reader accepts: parse it back. */
	if (bundle_manifest_parse(out, len, &check, err, errlen) < 0) {
		free(out);
		return NULL;
	}
	bundle_manifest_free(check);
	*ret_len = len;
	return out;
}

static int
file_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct bundle_file *)elem)->path);
}

const struct bundle_file *
bundle_manifest_find(const struct bundle_manifest *m, const char *path)
{
	return bsearch(path, m->files, m->file_count, sizeof(*m->files), file_cmp);
}

struct bundle_manifest *
bundle_manifest_free(struct bundle_manifest *m)
{
	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < m->file_count; i++)
		json_decref(m->files[i].metadata);
	free(m->files);
	free(m->description);
	free(m);
	return NULL;
}
