/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/machines: list, create, read, update and delete machines, assign their
 * profile and start a deployment. Bodies are validated completely before the
 * governance gate runs. The operation inside the gate reads the machine again, so
 * lifecycle checks see the state committed at that moment.
 */
#include "api/api-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bmcman/bmcman.h"
#include "bundle/bundle.h"
#include "deploy/deploy.h"
#include "log/log.h"
#include "media/media.h"

/* Maximum length of UUID text before parsing: the braced form is 38 characters. */
#define API_UUID_TEXT_MAX 64
/* Maximum length of one MAC's text before parsing. */
#define API_MAC_TEXT_MAX 32
/* Profile names cached while one page of machines is encoded. */
#define API_PROFILE_CACHE 16

static const char *const machine_arches[] = { "i386", "x86_64", "arm32", "arm64", "riscv64", NULL };
static const char *const machine_platforms[] = { "pcbios", "efi", NULL };

/* Body field names by enum api_machine_field bit, for audit details. */
static const char *const machine_field_names[] = {
	"macs", "uuid", "serial", "vendor", "model", "arch", "platform", "hostname", "ip",
	"inventory", "profile",
};

static const char *const create_fields[] = {
	"macs", "uuid", "serial", "vendor", "model", "arch", "platform", "hostname", "ip",
	"profile", "inventory", NULL,
};
static const char *const patch_fields[] = {
	"macs", "uuid", "serial", "vendor", "model", "arch", "platform", "hostname", "ip",
	"inventory", NULL,
};
static const char *const readonly_fields[] = {
	"id", "state", "created_at", "updated_at", NULL,
};

/* Body validation. */

void
api_machine_patch_clear(struct api_machine_patch *p)
{
	free(p->inventory);
	memset(p, 0, sizeof(*p));
}

bool
api_profile_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= STORE_NAME_SIZE)
		return false;
	if (!(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(islower(c) || isdigit(c) || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool
word_listed(const char *word, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++) {
		if (strcmp(word, list[i]) == 0)
			return true;
	}
	return false;
}

/* "macs": 1 to MACHINE_MAX_MACS distinct MAC addresses, the first being the boot MAC. */
static int
parse_macs(const json_t *obj, struct api_machine_patch *p, struct api_error *e)
{
	const json_t *list = json_object_get(obj, "macs");
	char quoted[API_QUOTE_MAX + 4];
	size_t count;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > MACHINE_MAX_MACS)
		return api_fail(e, 400, "invalid_field",
				"field \"macs\" must be an array of 1 to %d MAC addresses",
				MACHINE_MAX_MACS);

	count = json_array_size(list);
	for (size_t i = 0; i < count; i++) {
		const json_t *item = json_array_get(list, i);
		const char *text = json_string_value(item);

		if (text == NULL)
			return api_fail(e, 400, "invalid_field",
					"field \"macs\" item %zu must be a string", i);
		if (strlen(text) > API_MAC_TEXT_MAX || mac_parse(text, p->macs[i]) < 0) {
			api_quote(text, quoted, sizeof(quoted));
			return api_fail(e, 400, "invalid_field",
					"field \"macs\" item %zu \"%s\" is not a unicast MAC address; "
					"write a NIC's own address, such as 52:54:00:12:34:56", i,
					quoted);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->macs[i], p->macs[j]) == 0)
				return api_fail(e, 400, "invalid_field",
						"field \"macs\" lists %s twice; list it once",
						p->macs[i]);
		}
	}
	p->mac_count = count;
	return 0;
}

static int
parse_uuid(const json_t *obj, struct api_machine_patch *p, struct api_error *e)
{
	char text[API_UUID_TEXT_MAX + 1], quoted[API_QUOTE_MAX + 4];
	int found;

	found = api_json_string(obj, "uuid", API_UUID_TEXT_MAX, text, sizeof(text), e);
	if (found < 0)
		return found;
	if (found == API_FIELD_VALUE && uuid_parse(text, p->uuid) < 0) {
		api_quote(text, quoted, sizeof(quoted));
		return api_fail(e, 400, "invalid_field",
				"field \"uuid\" value \"%s\" is not a UUID; write it as 8-4-4-4-12 "
				"hex digits", quoted);
	}
	if (found != API_FIELD_ABSENT)
		p->fields |= API_MF_UUID;
	return 0;
}

/* A string that must be one word of `list` (`choices` spells the list out), or null. */
static int
parse_word(const json_t *obj, const char *key, const char *const *list, const char *choices,
	   char *out, size_t out_size, unsigned bit, struct api_machine_patch *p,
	   struct api_error *e)
{
	char quoted[API_QUOTE_MAX + 4];
	int found;

	found = api_json_string(obj, key, out_size - 1, out, out_size, e);
	if (found < 0)
		return found;
	if (found == API_FIELD_ABSENT)
		return 0;

	if (found != API_FIELD_NULL && !word_listed(out, list)) {
		api_quote(out, quoted, sizeof(quoted));
		out[0] = '\0';
		return api_fail(e, 400, "invalid_field",
				"field \"%s\" value \"%s\" is not supported; use one of %s", key,
				quoted, choices);
	}
	p->fields |= bit;
	return 0;
}

/* Host names are stored in lower case without the trailing dot, so lookups match. */
static int
parse_hostname(const json_t *obj, struct api_machine_patch *p, struct api_error *e)
{
	char text[HOSTNAME_SIZE + 1], quoted[API_QUOTE_MAX + 4];
	size_t len;
	int found;

	/* 253 characters plus the trailing dot hostname_valid allows. */
	found = api_json_string(obj, "hostname", HOSTNAME_SIZE, text, sizeof(text), e);
	if (found < 0)
		return found;
	if (found == API_FIELD_ABSENT)
		return 0;

	if (found == API_FIELD_VALUE && !hostname_valid(text)) {
		api_quote(text, quoted, sizeof(quoted));
		return api_fail(e, 400, "invalid_field",
				"field \"hostname\" value \"%s\" is not a valid host name: use "
				"labels of 1 to 63 letters, digits and hyphens that neither start "
				"nor end with a hyphen", quoted);
	}

	len = strlen(text);
	if (len > 0 && text[len - 1] == '.')
		text[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		text[i] = (char)tolower((unsigned char)text[i]);
	memcpy(p->hostname, text, len + 1);
	p->fields |= API_MF_HOSTNAME;
	return 0;
}

/*
 * IPv4 or IPv6, stored in inet_ntop's canonical form. An IPv4-mapped IPv6 address
 * ("::ffff:10.0.0.1") is the IPv4 address it maps, so it is stored in IPv4 form and
 * collides with that address in the unique index.
 */
static int
parse_ip(const json_t *obj, struct api_machine_patch *p, struct api_error *e)
{
	char text[IP_TEXT_SIZE], quoted[API_QUOTE_MAX + 4];
	struct in6_addr addr;
	const void *bytes = &addr;
	int found, family;

	found = api_json_string(obj, "ip", IP_TEXT_SIZE - 1, text, sizeof(text), e);
	if (found < 0)
		return found;
	if (found == API_FIELD_ABSENT)
		return 0;

	p->fields |= API_MF_IP;
	if (found == API_FIELD_NULL)
		return 0;

	family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(family, text, &addr) != 1)
		goto err_invalid;

	/* The last 4 bytes of ::ffff:a.b.c.d are the IPv4 address. */
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&addr)) {
		family = AF_INET;
		bytes = &addr.s6_addr[12];
	}
	if (inet_ntop(family, bytes, p->ip, sizeof(p->ip)) == NULL)
		goto err_invalid;
	return 0;

err_invalid:
	api_quote(text, quoted, sizeof(quoted));
	p->ip[0] = '\0';
	return api_fail(e, 400, "invalid_field",
			"field \"ip\" value \"%s\" is not an IPv4 or IPv6 address", quoted);
}

static int
parse_profile_ref(const json_t *obj, struct api_machine_patch *p, struct api_error *e)
{
	char quoted[API_QUOTE_MAX + 4];
	const json_t *value;

	value = json_object_get(obj, "profile");
	if (value == NULL)
		return 0;
	p->fields |= API_MF_PROFILE;
	if (json_is_null(value))
		return 0;
	if (!json_is_string(value))
		return api_fail(e, 400, "invalid_field",
				"field \"profile\" must be a profile name or null");
	if (!api_profile_name_valid(json_string_value(value))) {
		api_quote(json_string_value(value), quoted, sizeof(quoted));
		return api_fail(e, 400, "invalid_field",
				"field \"profile\" value \"%s\" is not a profile name: use 1 to 64 "
				"of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
				quoted);
	}
	snprintf(p->profile, sizeof(p->profile), "%s", json_string_value(value));
	return 0;
}

/* Check the body's keys, naming state and profile when a PATCH tries to set them. */
static int
check_machine_keys(json_t *obj, bool create, struct api_error *e)
{
	if (!create && json_object_get(obj, "state") != NULL)
		return api_fail(e, 400, "invalid_field",
				"field \"state\" cannot be patched; it changes through actions "
				"such as POST " API_PREFIX "/machines/{ref}/deploy");
	if (!create && json_object_get(obj, "profile") != NULL)
		return api_fail(e, 400, "invalid_field",
				"field \"profile\" cannot be patched; use PUT " API_PREFIX
				"/machines/{ref}/profile");
	return api_json_keys(obj, create ? create_fields : patch_fields, readonly_fields, e);
}

/* Validate each field of a decoded body; stops at the first invalid one. */
static int
parse_machine_fields(json_t *obj, bool create, struct api_machine_patch *p,
		     struct api_error *e)
{
	int rc;

	if (json_object_get(obj, "macs") != NULL) {
		rc = parse_macs(obj, p, e);
		if (rc < 0)
			return rc;
		p->fields |= API_MF_MACS;
	} else if (create) {
		return api_fail(e, 400, "missing_field",
				"field \"macs\" is required: an array of 1 to %d MAC addresses",
				MACHINE_MAX_MACS);
	}

	rc = parse_uuid(obj, p, e);
	if (rc < 0)
		return rc;

	/* Free-text identity fields: capped, no control characters, null clears. */
	static const struct {
		const char *key;
		size_t offset;
		unsigned bit;
	} texts[] = {
		{ "serial", offsetof(struct api_machine_patch, serial), API_MF_SERIAL },
		{ "vendor", offsetof(struct api_machine_patch, vendor), API_MF_VENDOR },
		{ "model", offsetof(struct api_machine_patch, model), API_MF_MODEL },
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *out = (char *)p + texts[i].offset;
		int found;

		found = api_json_string(obj, texts[i].key, STORE_FIELD_SIZE - 1, out,
					STORE_FIELD_SIZE, e);
		if (found < 0)
			return found;
		if (found != API_FIELD_ABSENT)
			p->fields |= texts[i].bit;
	}

	rc = parse_word(obj, "arch", machine_arches, "i386, x86_64, arm32, arm64 or riscv64",
			p->arch, sizeof(p->arch), API_MF_ARCH, p, e);
	if (rc < 0)
		return rc;
	rc = parse_word(obj, "platform", machine_platforms, "pcbios or efi", p->platform,
			sizeof(p->platform), API_MF_PLATFORM, p, e);
	if (rc < 0)
		return rc;
	rc = parse_hostname(obj, p, e);
	if (rc < 0)
		return rc;
	rc = parse_ip(obj, p, e);
	if (rc < 0)
		return rc;

	rc = api_json_object_text(obj, "inventory", API_JSON_OBJECT_MAX, &p->inventory, e);
	if (rc < 0)
		return rc;
	if (rc != API_FIELD_ABSENT)
		p->fields |= API_MF_INVENTORY;

	if (create)
		return parse_profile_ref(obj, p, e);
	return 0;
}

int
api_machine_body_parse(const char *body, size_t len, bool create,
		       struct api_machine_patch *ret, struct api_error *e)
{
	json_t *obj;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = api_json_object(body, len, false, &obj, e);
	if (rc < 0)
		return rc;

	rc = check_machine_keys(obj, create, e);
	if (rc == 0)
		rc = parse_machine_fields(obj, create, ret, e);
	json_decref(obj);

	if (rc < 0)
		api_machine_patch_clear(ret);
	return rc;
}

/* Write the patch's fields into `m`. Returns 0 or -ENOMEM. */
static int
machine_patch_apply(const struct api_machine_patch *p, struct machine *m)
{
	if (p->fields & API_MF_MACS) {
		memcpy(m->macs, p->macs, sizeof(m->macs));
		m->mac_count = p->mac_count;
	}
	if (p->fields & API_MF_UUID)
		memcpy(m->uuid, p->uuid, sizeof(m->uuid));
	if (p->fields & API_MF_SERIAL)
		memcpy(m->serial, p->serial, sizeof(m->serial));
	if (p->fields & API_MF_VENDOR)
		memcpy(m->vendor, p->vendor, sizeof(m->vendor));
	if (p->fields & API_MF_MODEL)
		memcpy(m->model, p->model, sizeof(m->model));
	if (p->fields & API_MF_ARCH)
		memcpy(m->arch, p->arch, sizeof(m->arch));
	if (p->fields & API_MF_PLATFORM)
		memcpy(m->platform, p->platform, sizeof(m->platform));
	if (p->fields & API_MF_HOSTNAME)
		memcpy(m->hostname, p->hostname, sizeof(m->hostname));
	if (p->fields & API_MF_IP)
		memcpy(m->ip, p->ip, sizeof(m->ip));

	if (p->fields & API_MF_INVENTORY) {
		char *copy = NULL;

		if (p->inventory != NULL) {
			copy = strdup(p->inventory);
			if (copy == NULL)
				return -ENOMEM;
		}
		free(m->inventory);
		m->inventory = copy;
	}
	return 0;
}

/* Encoding. */

static json_t *
machine_json(const struct machine *m, const char *profile)
{
	json_t *macs;

	macs = json_array();
	if (macs == NULL)
		return NULL;
	for (size_t i = 0; i < m->mac_count; i++)
		json_array_append_new(macs, json_string(m->macs[i]));

	return json_pack("{s:I, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, "
			 "s:o, s:o, s:o}",
			 "id", (json_int_t)m->id,
			 "macs", macs,
			 "uuid", api_json_string_or_null(m->uuid),
			 "serial", m->serial,
			 "vendor", m->vendor,
			 "model", m->model,
			 "arch", m->arch,
			 "platform", m->platform,
			 "state", machine_state_name(m->state),
			 "profile", api_json_string_or_null(profile != NULL ? profile : ""),
			 "ip", api_json_string_or_null(m->ip),
			 "lease_ip", api_json_string_or_null(m->lease_ip),
			 "hostname", api_json_string_or_null(m->hostname),
			 "inventory", api_json_from_text(m->inventory, "machine inventory"),
			 "created_at", api_json_time(m->created_at),
			 "updated_at", api_json_time(m->updated_at));
}

/* The name of profile `id` into `name`, empty for none. */
static int
profile_name_get(struct store *st, int64_t id, char name[STORE_NAME_SIZE])
{
	struct profile profile = { 0 };
	int rc;

	name[0] = '\0';
	if (id == 0)
		return 0;

	rc = store_profile_get(st, id, &profile);
	if (rc < 0)
		return rc;
	memcpy(name, profile.name, STORE_NAME_SIZE);
	profile_clear(&profile);
	return 0;
}

/*
 * The reply object of machine `m`, with its profile's name and newest deployment.
 * Returns NULL after replying with the error when a lookup fails; a NULL from an
 * allocation that failed is left to api_reply_json, which replies 500.
 */
static json_t *
machine_reply_object(struct api_call *call, const struct machine *m, bool *replied)
{
	char profile[STORE_NAME_SIZE];
	int rc;

	struct deployment d = { 0 };
	json_t *obj;

	*replied = false;
	rc = profile_name_get(call->st, m->profile_id, profile);
	if (rc < 0) {
		api_reply_errno(call, rc, NULL, "profile lookup");
		*replied = true;
		return NULL;
	}
	rc = store_deployment_current(call->st, m->id, &d);
	if (rc < 0 && rc != -ENOENT) {
		api_reply_errno(call, rc, NULL, "deployment lookup");
		*replied = true;
		return NULL;
	}
	obj = machine_json(m, profile);
	if (obj != NULL)
		json_object_set_new(obj, "deployment", rc == 0 ? api_deployment_json(&d) :
				    json_null());
	deployment_clear(&d);
	return obj;
}

/* Reply with machine `m`, looking up its profile's name. */
void
api_reply_machine(struct api_call *call, unsigned status, const struct machine *m)
{
	bool replied;
	json_t *obj = machine_reply_object(call, m, &replied);

	if (!replied)
		api_reply_json(call, status, obj);
}

/*
 * Load the machine a path {ref} names: a numeric id, or a MAC in any form mac_parse
 * accepts. Twelve hex digits are always read as a MAC ("525400123456"). Returns 0,
 * -EINVAL with `e` filled (400 or 404), or a store error.
 */
int
api_machine_resolve(struct api_call *call, const char *ref, struct machine *ret,
		    struct api_error *e)
{
	char mac[MAC_TEXT_SIZE], quoted[API_QUOTE_MAX + 4];
	uint64_t id;
	int rc;

	api_quote(ref, quoted, sizeof(quoted));
	if (strlen(ref) == 12 && strspn(ref, "0123456789abcdefABCDEF") == 12) {
		/* Still a MAC, not an id, when mac_parse rejects it as multicast or zero. */
		if (mac_parse(ref, mac) < 0)
			return api_fail(e, 400, "invalid_field",
					"machine reference \"%s\" is not a unicast MAC address, "
					"so no machine has it", quoted);
		rc = store_machine_get_by_mac(call->st, mac, ret);
	} else if (uint_parse(ref, 1, INT64_MAX, &id) == 0) {
		rc = store_machine_get(call->st, (int64_t)id, ret);
	} else if (strlen(ref) <= API_MAC_TEXT_MAX && mac_parse(ref, mac) == 0) {
		rc = store_machine_get_by_mac(call->st, mac, ret);
	} else {
		return api_fail(e, 400, "invalid_field",
				"machine reference \"%s\" is neither a machine id nor a MAC "
				"address", quoted);
	}

	if (rc == -ENOENT)
		return api_fail(e, 404, "not_found", "machine \"%s\" not found", quoted);
	return rc;
}

/* Resolve the route's {ref}, replying on failure. Returns 0 when `m` is loaded. */
int
api_machine_from_path(struct api_call *call, struct machine *m)
{
	struct api_error e;
	int rc;

	rc = api_machine_resolve(call, call->params[0], m, &e);
	if (rc == -EINVAL)
		api_reply_error(call, &e);
	else if (rc < 0)
		api_reply_errno(call, rc, NULL, "machine lookup");
	return rc;
}

/* Load machine `id` inside an action, explaining -ENOENT in err. */
int
api_machine_load(struct store *st, int64_t id, struct machine *m, char *err, size_t errlen)
{
	int rc;

	rc = store_machine_get(st, id, m);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "machine %lld not found", (long long)id);
		return rc;
	}
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	return 0;
}

/* Look up profile `name` inside an action, explaining -ENOENT in err. */
static int
profile_id_get(struct store *st, const char *name, int64_t *ret_id, char *err, size_t errlen)
{
	struct profile profile = { 0 };
	int rc;

	rc = store_profile_get_by_name(st, name, &profile);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "profile \"%s\" not found; create it first or name "
			 "another", name);
		return rc;
	}
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	*ret_id = profile.id;
	profile_clear(&profile);
	return 0;
}

/* GET /machines */

struct list_page {
	struct store *st;
	json_t *items;
	size_t limit;          /* rows wanted; the store is asked for one more */
	size_t count;
	int64_t last_id;       /* of the last item, the cursor for the next page */
	bool more;
	int64_t profile_ids[API_PAGE_MAX];  /* of items[i]; 0: none */
	struct {
		int64_t id;
		char name[STORE_NAME_SIZE];
	} cache[API_PROFILE_CACHE];
	size_t cached;
};

static int
list_page_add(const struct machine *m, void *arg)
{
	struct list_page *page = arg;

	/* The extra row is not returned: its presence means another page follows. */
	if (page->count == page->limit) {
		page->more = true;
		return 1;
	}
	if (json_array_append_new(page->items, machine_json(m, NULL)) < 0)
		return -ENOMEM;
	page->profile_ids[page->count++] = m->profile_id;
	page->last_id = m->id;
	return 0;
}

/* Fill in the profile names after the listing, caching the few a page uses. */
static int
list_page_profiles(struct list_page *page)
{
	size_t index;
	json_t *item;

	json_array_foreach(page->items, index, item) {
		int64_t id = page->profile_ids[index];
		const char *name = NULL;

		if (id == 0)
			continue;
		for (size_t i = 0; i < page->cached; i++) {
			if (page->cache[i].id == id)
				name = page->cache[i].name;
		}
		if (name == NULL) {
			size_t slot = page->cached < API_PROFILE_CACHE ? page->cached++ :
				      (size_t)id % API_PROFILE_CACHE;
			int rc = profile_name_get(page->st, id, page->cache[slot].name);

			if (rc < 0)
				return rc;
			page->cache[slot].id = id;
			name = page->cache[slot].name;
		}
		json_object_set_new(item, "profile", json_string(name));
	}
	return 0;
}

static const char *const list_params[] = {
	"state", "profile", "mac", "hostname", "limit", "after", NULL,
};

/* Turn the list's query parameters into a filter. Returns 0, -EINVAL (e) or a store error. */
static int
list_filter(struct api_call *call, struct machine_filter *f, char *mac, char *hostname,
	    struct api_error *e)
{
	const char *value;
	char quoted[API_QUOTE_MAX + 4];
	struct profile profile = { 0 };
	int rc;

	value = http_query(call->req, "state");
	if (value != NULL) {
		f->state = machine_state_parse(value);
		if (f->state == MACHINE_STATE_INVALID) {
			api_quote(value, quoted, sizeof(quoted));
			return api_fail(e, 400, "invalid_field",
					"query parameter state=\"%s\" is not a machine state; use "
					"discovered, ready, deploying, deployed, failed or "
					"decommissioning", quoted);
		}
	}

	value = http_query(call->req, "mac");
	if (value != NULL) {
		if (strlen(value) > API_MAC_TEXT_MAX || mac_parse(value, mac) < 0) {
			api_quote(value, quoted, sizeof(quoted));
			return api_fail(e, 400, "invalid_field",
					"query parameter mac=\"%s\" is not a unicast MAC address",
					quoted);
		}
		f->mac = mac;
	}

	value = http_query(call->req, "hostname");
	if (value != NULL) {
		size_t len = strlen(value);

		if (len >= HOSTNAME_SIZE || !hostname_valid(value)) {
			api_quote(value, quoted, sizeof(quoted));
			return api_fail(e, 400, "invalid_field",
					"query parameter hostname=\"%s\" is not a valid host name",
					quoted);
		}
		for (size_t i = 0; i < len; i++)
			hostname[i] = (char)tolower((unsigned char)value[i]);
		hostname[len] = '\0';
		if (len > 0 && hostname[len - 1] == '.')
			hostname[len - 1] = '\0';
		f->hostname = hostname;
	}

	value = http_query(call->req, "profile");
	if (value != NULL) {
		api_quote(value, quoted, sizeof(quoted));
		if (!api_profile_name_valid(value))
			return api_fail(e, 400, "invalid_field",
					"query parameter profile=\"%s\" is not a profile name",
					quoted);
		rc = store_profile_get_by_name(call->st, value, &profile);
		if (rc == -ENOENT)
			return api_fail(e, 404, "not_found", "profile \"%s\" not found", quoted);
		if (rc < 0)
			return rc;
		f->profile_id = profile.id;
		profile_clear(&profile);
	}
	return 0;
}

void
api_machines_list(struct api_call *call)
{
	struct machine_filter filter = { .state = MACHINE_STATE_INVALID };
	char mac[MAC_TEXT_SIZE], hostname[HOSTNAME_SIZE];
	struct list_page *page = NULL;
	struct api_error e;
	json_t *reply, *next;
	int rc;

	rc = api_query_keys(call, list_params, &e);
	if (rc == 0)
		rc = api_query_page(call, &filter.limit, &filter.after_id, &e);
	if (rc == 0)
		rc = list_filter(call, &filter, mac, hostname, &e);
	if (rc == -EINVAL) {
		api_reply_error(call, &e);
		return;
	}
	if (rc < 0) {
		api_reply_errno(call, rc, NULL, "machine list");
		return;
	}

	page = calloc(1, sizeof(*page));
	if (page == NULL)
		goto err_alloc;
	page->st = call->st;
	page->limit = filter.limit;
	page->items = json_array();
	if (page->items == NULL)
		goto err_alloc;

	/* Ask for one row more than the page size, to learn whether a next page exists. */
	filter.limit++;
	rc = store_machine_list(call->st, &filter, list_page_add, page);
	if (rc < 0)
		goto err_store;
	rc = list_page_profiles(page);
	if (rc < 0)
		goto err_store;

	next = page->more ? json_integer(page->last_id) : json_null();
	reply = json_pack("{s:o, s:o}", "items", page->items, "next", next);
	free(page);
	api_reply_json(call, 200, reply);
	return;

err_store:
	json_decref(page->items);
	free(page);
	api_reply_errno(call, rc, NULL, "machine list");
	return;

err_alloc:
	if (page != NULL)
		json_decref(page->items);
	free(page);
	api_reply_json(call, 200, NULL);
}

/* POST /machines */

struct create_args {
	const struct api *api;
	const struct api_machine_patch *patch;
	struct machine machine;
	char target[API_TARGET_SIZE];
};

static int
create_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct create_args *args = arg;
	struct machine *m = &args->machine;
	int rc;

	if (args->patch->profile[0] != '\0') {
		rc = profile_id_get(st, args->patch->profile, &m->profile_id, err, errlen);
		if (rc < 0)
			return rc;
	}

	m->state = MACHINE_READY;
	rc = machine_patch_apply(args->patch, m);
	if (rc < 0)
		return rc;
	rc = api_ddi_address_valid(args->api, m, err, errlen);
	if (rc < 0)
		return rc;

	rc = store_machine_insert(st, m);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);

	/*
	 * The id exists only now. gov_execute reads the target after this returns, so the
	 * entry names the new id. A failed create is recorded as "machine:new".
	 */
	snprintf(args->target, sizeof(args->target), "machine:%lld", (long long)m->id);
	return 0;
}

/* The audit detail of a create: the MACs and the profile, the fields that identify it. */
static char *
create_detail(const struct api_machine_patch *p)
{
	json_t *detail, *macs;
	char *text;

	macs = json_array();
	for (size_t i = 0; macs != NULL && i < p->mac_count; i++)
		json_array_append_new(macs, json_string(p->macs[i]));
	detail = json_pack("{s:o, s:o}", "macs", macs,
			   "profile", api_json_string_or_null(p->profile));
	if (detail == NULL)
		return NULL;
	text = json_dumps(detail, JSON_COMPACT);
	json_decref(detail);
	return text;
}

void
api_machines_create(struct api_call *call)
{
	struct api_machine_patch patch;
	struct create_args args = { .api = call->api, .patch = &patch };
	char err[API_DETAIL_SIZE], location[64];
	struct api_error e;
	const char *body;
	char *detail = NULL;
	size_t len;
	int rc;

	rc = api_request_body(call, &body, &len, &e);
	if (rc == 0)
		rc = api_machine_body_parse(body, len, true, &patch, &e);
	if (rc < 0) {
		api_reply_error(call, &e);
		return;
	}

	snprintf(args.target, sizeof(args.target), "machine:new");
	detail = create_detail(&patch);
	rc = api_execute(call, "machine.create", args.target, RISK_CHANGE, detail, create_op,
			 &args, err, sizeof(err));
	if (rc < 0) {
		api_reply_errno(call, rc, err, "machine.create");
		goto out;
	}

	snprintf(location, sizeof(location), API_PREFIX "/machines/%lld",
		 (long long)args.machine.id);
	http_add_header(call->req, "Location", location);
	api_reply_json(call, 201, machine_json(&args.machine, patch.profile));

out:
	free(detail);
	machine_clear(&args.machine);
	api_machine_patch_clear(&patch);
}

/* GET /machines/{ref} */

void
api_machines_get(struct api_call *call)
{
	struct machine m = { 0 };

	if (api_machine_from_path(call, &m) < 0)
		return;
	api_reply_machine(call, 200, &m);
	machine_clear(&m);
}

/* PATCH /machines/{ref} */

struct update_args {
	const struct api *api;
	int64_t id;
	const struct api_machine_patch *patch;
	struct machine machine;
};

/* Check whether a PATCH's MAC list differs from the machine's, order included. */
static bool
macs_changed(const struct api_machine_patch *p, const struct machine *m)
{
	if (!(p->fields & API_MF_MACS))
		return false;
	if (p->mac_count != m->mac_count)
		return true;
	for (size_t i = 0; i < m->mac_count; i++) {
		if (strcmp(p->macs[i], m->macs[i]) != 0)
			return true;
	}
	return false;
}

static int
update_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct update_args *args = arg;
	int rc;

	rc = api_machine_load(st, args->id, &args->machine, err, errlen);
	if (rc < 0)
		return rc;

	/*
	 * The booting server is found by its MAC. Changing the list mid-deployment would
	 * make it register again as a new, discovered machine.
	 */
	if (args->machine.state == MACHINE_DEPLOYING && macs_changed(args->patch, &args->machine)) {
		snprintf(err, errlen, "machine %lld is deploying; change its MACs once it is "
			 "deployed or failed", (long long)args->id);
		return -EEXIST;
	}

	rc = machine_patch_apply(args->patch, &args->machine);
	if (rc < 0)
		return rc;
	if (args->patch->fields & (API_MF_IP | API_MF_HOSTNAME)) {
		rc = api_ddi_address_valid(args->api, &args->machine, err, errlen);
		if (rc < 0)
			return rc;
	}
	rc = store_machine_update(st, &args->machine);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	return 0;
}

/* The audit detail of a PATCH: the names of the fields it sets. */
static char *
patch_detail(const struct api_machine_patch *p)
{
	json_t *fields, *detail;
	char *text;

	fields = json_array();
	for (size_t i = 0; fields != NULL && i < sizeof(machine_field_names) /
	     sizeof(machine_field_names[0]); i++) {
		if (p->fields & (1u << i))
			json_array_append_new(fields, json_string(machine_field_names[i]));
	}
	detail = json_pack("{s:o}", "fields", fields);
	if (detail == NULL)
		return NULL;
	text = json_dumps(detail, JSON_COMPACT);
	json_decref(detail);
	return text;
}

void
api_machines_patch(struct api_call *call)
{
	struct api_machine_patch patch = { 0 };
	struct update_args args = { .api = call->api, .patch = &patch };
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE];
	struct machine current = { 0 };
	struct api_error e;
	const char *body;
	char *detail;
	size_t len;
	int rc;

	if (api_machine_from_path(call, &current) < 0)
		return;
	args.id = current.id;
	machine_clear(&current);

	rc = api_request_body(call, &body, &len, &e);
	if (rc == 0)
		rc = api_machine_body_parse(body, len, false, &patch, &e);
	if (rc < 0) {
		api_reply_error(call, &e);
		return;
	}

	detail = patch_detail(&patch);
	snprintf(target, sizeof(target), "machine:%lld", (long long)args.id);
	rc = api_execute(call, "machine.update", target, RISK_CHANGE, detail, update_op, &args,
			 err, sizeof(err));
	if (rc < 0)
		api_reply_errno(call, rc, err, "machine.update");
	else
		api_reply_machine(call, 200, &args.machine);

	free(detail);
	machine_clear(&args.machine);
	api_machine_patch_clear(&patch);
}

/* DELETE /machines/{ref} */

/*
 * Room for the delete's audit detail: 8 MACs, a 253-byte host name, an IPv6 address,
 * a UUID and the JSON around them come to about 600 bytes.
 */
#define DELETE_DETAIL_SIZE 1024

struct delete_args {
	int64_t id;
	char detail[DELETE_DETAIL_SIZE];    /* the audit detail, which delete_op fills in */
};

/*
 * Describe the machine being deleted in `out` as JSON: what identified it, so the
 * audit trail still shows which server it was once the row is gone. Returns 0, or
 * -ENOMEM when the JSON cannot be built or does not fit.
 */
static int
delete_detail(const struct machine *m, char *out, size_t size)
{
	json_t *detail, *macs;
	size_t len;

	macs = json_array();
	for (size_t i = 0; macs != NULL && i < m->mac_count; i++)
		json_array_append_new(macs, json_string(m->macs[i]));
	detail = json_pack("{s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)m->id, "macs", macs,
			   "hostname", api_json_string_or_null(m->hostname),
			   "ip", api_json_string_or_null(m->ip),
			   "uuid", api_json_string_or_null(m->uuid));
	if (detail == NULL)
		return -ENOMEM;
	len = json_dumpb(detail, out, size - 1, JSON_COMPACT);
	json_decref(detail);
	if (len == 0 || len >= size)
		return -ENOMEM;
	out[len] = '\0';
	return 0;
}

static int
delete_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct delete_args *args = arg;
	struct machine m = { 0 };
	int rc;

	rc = api_machine_load(st, args->id, &m, err, errlen);
	if (rc < 0)
		return rc;

	/* gov_execute records the detail after this returns, failed deletes included. */
	rc = delete_detail(&m, args->detail, sizeof(args->detail));
	if (rc < 0) {
		snprintf(err, errlen, "cannot describe machine %lld for the audit trail",
			 (long long)args->id);
		machine_clear(&m);
		return rc;
	}

	/* A deployment in flight still owns its DHCP reservation and boot files. */
	if (m.state == MACHINE_DEPLOYING) {
		snprintf(err, errlen, "machine %lld is deploying; delete it once it is deployed "
			 "or failed", (long long)args->id);
		machine_clear(&m);
		return -EEXIST;
	}
	machine_clear(&m);

	rc = store_machine_delete(st, args->id);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	return 0;
}

void
api_machines_delete(struct api_call *call)
{
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE];
	struct delete_args args;
	struct machine m = { 0 };
	int rc;

	if (api_machine_from_path(call, &m) < 0)
		return;
	args.id = m.id;
	machine_clear(&m);

	/* Until delete_op reads the row inside the gate, the detail names only the id. */
	snprintf(args.detail, sizeof(args.detail), "{\"id\":%lld}", (long long)args.id);
	snprintf(target, sizeof(target), "machine:%lld", (long long)args.id);
	rc = api_execute(call, "machine.delete", target, RISK_DESTRUCTIVE, args.detail, delete_op,
			 &args, err, sizeof(err));
	if (rc < 0) {
		api_reply_errno(call, rc, err, "machine.delete");
		return;
	}
	http_reply(call->req, 204, NULL, NULL, 0);
}

/* PUT /machines/{ref}/profile and POST /machines/{ref}/deploy */

struct profile_args {
	const struct api *api;
	int64_t id;
	bool deploy;
	const char *artifact_dir;       /* deploy: where the profile's artifacts are */
	char profile[STORE_NAME_SIZE];  /* empty: none (assign) or keep (deploy) */
	bool force;                     /* deploy: replace a deployment in flight */
	bool virtual_media;             /* deploy: {"boot": "virtual-media"} */
	struct machine machine;
	/* Set by a deploy. */
	int64_t deployment_id;
	int64_t replaced_id;            /* the running deployment a forced deploy ended, or 0 */
	int media_rc;                   /* the ISO build's error, 0 when it did not fail */
	bool media_built;               /* the ISO exists, to be removed if the action fails */
	char iso_url[MEDIA_URL_SIZE];   /* contains the deployment's token: never log it */
};

/*
 * Check that every artifact a profile names can be served: a deploy that would only
 * loop on the retry script is refused up front. Returns 0 or -EEXIST with err set.
 */
static int
profile_artifacts_check(struct store *st, int64_t profile_id, const char *artifact_dir,
			char *err, size_t errlen)
{
	static const char *const roles[] = { "kernel", "initrd", "image" };
	char blob[BUNDLE_BLOB_PATH_SIZE], sha256[SHA256_HEX_SIZE];
	const char *refs[3];
	struct profile p;
	int dir_fd, rc;

	rc = store_profile_get(st, profile_id, &p);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	refs[0] = p.kernel;
	refs[1] = p.initrd;
	refs[2] = p.image;
	dir_fd = open(artifact_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		if (refs[i][0] == '\0')
			continue;
		if (bundle_ref_resolve(st, dir_fd, refs[i], blob, sha256) == BUNDLE_REF_MISSING) {
			snprintf(err, errlen, "profile %s names %s %s, which no loaded bundle has; "
				 "load the bundle or change the profile", p.name, roles[i], refs[i]);
			rc = -EEXIST;
		}
	}
	if (dir_fd >= 0)
		close(dir_fd);
	profile_clear(&p);
	return rc;
}

/* Deploy is allowed from these states; deploying and decommissioning must finish first. */
static bool
deploy_allowed(enum machine_state state)
{
	return state == MACHINE_DISCOVERED || state == MACHINE_READY ||
	       state == MACHINE_DEPLOYED || state == MACHINE_FAILED;
}

/*
 * End a forced deploy's predecessor, still running, as failed: it was replaced. Sets
 * *ret_id to its id, so that its ISO can be removed once the action commits.
 */
static int
deployment_replace(struct store *st, int64_t machine_id, int64_t *ret_id)
{
	struct deployment d = { 0 };
	int rc = store_deployment_current(st, machine_id, &d);

	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && d.state == DEPLOYMENT_RUNNING) {
		d.state = DEPLOYMENT_FAILED;
		d.finished_at = time_now();
		snprintf(d.reason, sizeof(d.reason), "replaced by a forced deploy action");
		rc = store_deployment_update(st, &d);
		*ret_id = d.id;
	}
	deployment_clear(&d);
	return rc;
}

/*
 * Insert the deployment of the deploy action. A virtual-media deployment records its
 * boot method in its first phase entry, {"phase": "pending", "boot": "virtual-media"},
 * and gets its ISO built in the same transaction: a failed build rolls the whole action
 * back, so no deployment is left without its ISO.
 */
static int
deployment_start(struct store *st, struct profile_args *args, char *err, size_t errlen)
{
	struct machine *m = &args->machine;
	struct deployment d = { .machine_id = m->id, .profile_id = m->profile_id,
				.state = DEPLOYMENT_RUNNING, .phase = "pending" };
	json_t *phases = NULL;
	int rc;

	if (args->virtual_media) {
		phases = json_pack("[{s:s, s:I, s:s}]", "phase", "pending", "at_ms",
				   (json_int_t)time_now_ms(), "boot", "virtual-media");
		d.phases = phases != NULL ? json_dumps(phases, JSON_COMPACT) : NULL;
		json_decref(phases);
		if (d.phases == NULL)
			return err_set(-ENOMEM, err, errlen, "out of memory");
	}
	rc = store_deployment_insert(st, &d);
	if (rc < 0) {
		rc = api_store_failed(st, rc, err, errlen);
		goto out;
	}
	args->deployment_id = d.id;
	if (args->virtual_media) {
		rc = media_build(args->api->media, st, m, &d, args->iso_url, err, errlen);
		args->media_rc = rc;
		args->media_built = rc == 0;
	}
out:
	deployment_clear(&d);
	return rc;
}

static int
profile_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct profile_args *args = arg;
	struct machine *m = &args->machine;
	int rc;

	rc = api_machine_load(st, args->id, m, err, errlen);
	if (rc < 0)
		return rc;

	if (args->deploy && !deploy_allowed(m->state) &&
	    !(args->force && m->state == MACHINE_DEPLOYING)) {
		snprintf(err, errlen, "machine %lld is %s; deploy is allowed from discovered, "
			 "ready, deployed or failed, and from deploying with {\"force\": true}",
			 (long long)m->id, machine_state_name(m->state));
		return -EEXIST;
	}
	if (!args->deploy && m->state == MACHINE_DEPLOYING) {
		snprintf(err, errlen, "machine %lld is deploying; change its profile once it is "
			 "deployed or failed", (long long)m->id);
		return -EEXIST;
	}

	if (args->profile[0] != '\0') {
		rc = profile_id_get(st, args->profile, &m->profile_id, err, errlen);
		if (rc < 0)
			return rc;
	} else if (!args->deploy) {
		m->profile_id = 0;
	}

	if (args->deploy) {
		if (m->profile_id == 0) {
			snprintf(err, errlen, "machine %lld has no profile; assign one with PUT "
				 API_PREFIX "/machines/%lld/profile or send {\"profile\": "
				 "\"<name>\"}", (long long)m->id, (long long)m->id);
			return -EEXIST;
		}
		rc = profile_artifacts_check(st, m->profile_id, args->artifact_dir, err, errlen);
		if (rc < 0)
			return rc;
		/* A deployed machine keeps one address, reserved in Kea and named in DNS. */
		rc = api_ddi_address_reserve(args->api, st, m, err, errlen);
		if (rc < 0)
			return rc;
		m->state = MACHINE_DEPLOYING;
	}

	rc = store_machine_update(st, m);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	if (args->deploy) {
		/* The deployment's id goes into its token, which the deploy script carries. */
		rc = deployment_replace(st, m->id, &args->replaced_id);
		if (rc < 0)
			return api_store_failed(st, rc, err, errlen);
		return deployment_start(st, args, err, errlen);
	}
	return 0;
}

/* The body fields of PUT /profile and POST /deploy. */
struct profile_body {
	char profile[STORE_NAME_SIZE];  /* empty: none (assign) or keep (deploy) */
	bool force;
	bool virtual_media;
};

/* Decode {"boot": "network"|"virtual-media"}. An absent field means network. */
static int
boot_field_parse(const json_t *obj, bool *virtual_media, struct api_error *e)
{
	const json_t *value = json_object_get(obj, "boot");
	const char *text = json_string_value(value);

	*virtual_media = false;
	if (value == NULL || (text != NULL && strcmp(text, "network") == 0))
		return 0;
	if (text != NULL && strcmp(text, "virtual-media") == 0) {
		*virtual_media = true;
		return 0;
	}
	return api_fail(e, 400, "invalid_field",
			"field \"boot\" must be \"network\" (netboot, the default) or "
			"\"virtual-media\" (an ISO the BMC inserts)");
}

/*
 * Decode {"profile": name|null} for PUT (`required`), or {"profile", "force", "boot"}
 * with an optional profile (no null) for deploy.
 */
static int
profile_body_parse(struct api_call *call, bool required, struct profile_body *body,
		   struct api_error *e)
{
	static const char *const assign_fields[] = { "profile", NULL };
	static const char *const deploy_fields[] = { "profile", "force", "boot", NULL };
	const char *const *fields = required ? assign_fields : deploy_fields;
	struct api_machine_patch patch = { 0 };
	json_t *obj, *value;
	int rc;

	rc = api_request_object(call, !required, &obj, e);
	if (rc < 0)
		return rc;

	rc = api_json_keys(obj, fields, NULL, e);
	if (rc < 0)
		goto out;

	value = json_object_get(obj, "profile");
	if (value == NULL && required) {
		rc = api_fail(e, 400, "missing_field",
			      "field \"profile\" is required: a profile name, or null to clear");
		goto out;
	}
	if (value != NULL && json_is_null(value) && !required) {
		rc = api_fail(e, 400, "invalid_field",
			      "field \"profile\" must be a profile name; leave it out to deploy "
			      "the assigned profile");
		goto out;
	}
	value = json_object_get(obj, "force");
	if (value != NULL && !json_is_boolean(value)) {
		rc = api_fail(e, 400, "invalid_field", "field \"force\" must be true or false");
		goto out;
	}
	body->force = json_is_true(value);
	rc = boot_field_parse(obj, &body->virtual_media, e);
	if (rc < 0)
		goto out;
	rc = parse_profile_ref(obj, &patch, e);
	memcpy(body->profile, patch.profile, STORE_NAME_SIZE);

out:
	json_decref(obj);
	return rc;
}

/* The first BMC of a machine, for vmedia_boot. */
static int
bmc_first(const struct bmc_record *b, void *arg)
{
	*(int64_t *)arg = b->id;
	return 1;
}

/*
 * After a virtual-media deploy committed, queue the BMC operation that inserts the ISO,
 * sets a one-time boot from CD and resets the server. Returns the reply's
 * "virtual_media" object: the ISO's URL, the operation's id, or null with the reason
 * in "detail" when no operation was queued. The deployment then waits for the operator
 * to boot the server from the ISO, as a network deployment waits for a netboot.
 */
static json_t *
vmedia_boot(struct api_call *call, const struct profile_args *args)
{
	char err[API_DETAIL_SIZE] = "";
	int64_t bmc = 0, operation = 0;
	int rc;

	if (call->api->bmcman == NULL) {
		snprintf(err, sizeof(err), "this daemon runs without the BMC manager; insert the ISO "
			 "through the server's BMC by hand");
	} else if ((rc = store_bmc_list(call->st, args->id, bmc_first, &bmc)) < 0) {
		snprintf(err, sizeof(err), "reading the machine's BMCs failed: %s; insert the ISO "
			 "by hand", store_error(call->st));
	} else if (bmc == 0) {
		snprintf(err, sizeof(err), "machine %" PRId64 " has no BMC; insert the ISO through "
			 "its BMC by hand, or enrol the BMC with POST " API_PREFIX "/bmcs and deploy "
			 "again", args->id);
	} else {
		rc = bmcman_vmedia_boot(call->api->bmcman, call->st, call->actor, args->id,
					args->deployment_id, &operation, err, sizeof(err));
		if (rc < 0) {
			log_warning("api: deployment=%" PRId64 " machine=%" PRId64 ": queueing its "
				    "virtual-media boot failed: %s", args->deployment_id, args->id, err);
			operation = 0;
		}
	}
	return json_pack("{s:s, s:o, s:o}", "iso_url", args->iso_url,
			 "operation", operation > 0 ? json_integer(operation) : json_null(),
			 "detail", operation > 0 ? json_null() : json_string(err));
}

/* Reply to a deploy whose ISO build failed: 409 for what the operator must fix, else 5xx. */
static void
media_failed_reply(struct api_call *call, int rc, const char *err)
{
	if (rc == -EEXIST || rc == -ENOSPC || rc == -EBUSY) {
		api_reply_errno(call, rc, err, "machine.deploy");
		return;
	}
	log_err("api: building a virtual-media ISO failed actor=%s: %s", call->actor, err);
	if (rc == -ENOEXEC)
		http_reply_error(call->req, 503, "unavailable", "%s", err);
	else
		http_reply_error(call->req, 500, "iso_build_failed", "%s", err);
}

/* Reply to a deploy or profile change that committed. */
static void
profile_action_reply(struct api_call *call, struct profile_args *args)
{
	json_t *obj, *media = NULL;
	bool replied;

	if (!args->deploy) {
		api_reply_machine(call, 200, &args->machine);
		return;
	}
	/* The replaced deployment has ended, so its ISO goes. */
	if (args->replaced_id > 0)
		media_remove(call->api->media, args->replaced_id);
	if (args->virtual_media)
		media = vmedia_boot(call, args);
	obj = machine_reply_object(call, &args->machine, &replied);
	if (replied) {
		json_decref(media);
		return;
	}
	if (obj != NULL && media != NULL)
		json_object_set_new(obj, "virtual_media", media);
	else
		json_decref(media);
	api_reply_json(call, 202, obj);
}

static void
profile_action(struct api_call *call, bool deploy)
{
	struct profile_args args = { .api = call->api, .deploy = deploy,
				     .artifact_dir = call->api->artifact_dir };
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE];
	struct profile_body body = { .force = false };
	struct machine m = { 0 };
	json_t *detail_json;
	char *detail = NULL;
	struct api_error e;
	int rc;

	if (api_machine_from_path(call, &m) < 0)
		return;
	args.id = m.id;
	machine_clear(&m);

	rc = profile_body_parse(call, !deploy, &body, &e);
	if (rc < 0) {
		api_reply_error(call, &e);
		return;
	}
	memcpy(args.profile, body.profile, sizeof(args.profile));
	args.force = body.force;
	args.virtual_media = body.virtual_media;
	if (args.virtual_media && call->api->media == NULL) {
		http_reply_error(call->req, 503, "unavailable", "this daemon runs without "
				 "virtual-media ISOs; deploy with {\"boot\": \"network\"}");
		return;
	}

	detail_json = deploy ?
		json_pack("{s:o, s:b, s:s}", "profile", api_json_string_or_null(args.profile),
			  "force", args.force, "boot", args.virtual_media ? "virtual-media" : "network") :
		json_pack("{s:o, s:b}", "profile", api_json_string_or_null(args.profile),
			  "force", args.force);
	if (detail_json != NULL) {
		detail = json_dumps(detail_json, JSON_COMPACT);
		json_decref(detail_json);
	}

	snprintf(target, sizeof(target), "machine:%lld", (long long)args.id);
	rc = api_execute(call, deploy ? "machine.deploy" : "machine.assign_profile", target,
			 deploy ? RISK_DESTRUCTIVE : RISK_CHANGE, detail, profile_op, &args, err,
			 sizeof(err));
	/*
	 * A rolled-back insert gives its id to the next deployment, which must not find this
	 * ISO under its name.
	 */
	if (rc < 0 && args.media_built)
		media_remove(call->api->media, args.deployment_id);
	if (rc < 0 && args.media_rc < 0)
		media_failed_reply(call, rc, err);
	else if (rc < 0)
		api_reply_errno(call, rc, err, deploy ? "machine.deploy" : "machine.assign_profile");
	else
		profile_action_reply(call, &args);

	explicit_bzero(args.iso_url, sizeof(args.iso_url));
	free(detail);
	machine_clear(&args.machine);
}

void
api_set_media(struct api *api, struct media *md)
{
	api->media = md;
}

void
api_machines_assign_profile(struct api_call *call)
{
	profile_action(call, false);
}

void
api_machines_deploy(struct api_call *call)
{
	profile_action(call, true);
}
