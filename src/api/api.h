/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST API under /api/v1, served on the HTTPS listener and the local unix socket.
 * JSON in and out; errors are {"error": ..., "detail": ...}. HTTPS callers present a
 * bearer token (stored as its SHA-256); unix-socket callers are identified by their
 * uid. Every change goes through the governance gate. The OpenAPI document of every
 * route is served at /api/v1/openapi.json.
 */
#ifndef OUTPOST_API_H
#define OUTPOST_API_H

#include <stdint.h>

#include "conf/conf.h"
#include "http/http.h"
#include "store/store.h"

struct api;

/*
 * Create the API context over `pool`; it copies what it keeps of `conf`. Records the start time
 * reported by /status and reads the trusted bundle keys. Returns 0 and sets *ret, or
 * a negative errno (a key file that cannot be read or is a test key, logged).
 */
int api_new(const struct conf *conf, struct store_pool *pool, struct api **ret);
/* Free the context. Accepts NULL; returns NULL. */
struct api *api_free(struct api *api);
/* Give the API the DDI manager for addresses and status; NULL when DDI is off. */
struct ddi;
void api_set_ddi(struct api *api, struct ddi *ddi);
/* Route BMC requests to the BMC manager, which must outlive the API. */
struct bmcman;
void api_set_bmcman(struct api *api, struct bmcman *bmcman);
/* Build virtual-media ISOs for deployments; the media must outlive the API. */
struct media;
void api_set_media(struct api *api, struct media *md);
/* The API listeners' handler; ctx is the struct api. */
void api_handle(struct http_request *req, void *ctx);
/*
 * The API listeners' precheck (an http_precheck; ctx is the struct api): route the
 * request and authenticate its caller before its body is read, replying 404, 405,
 * 400, 401, 403 or 503 and returning nonzero when the request cannot go on. Its
 * findings are attached to the request, so api_handle does not repeat them. On a
 * listener without the precheck, api_handle runs the same checks itself.
 */
int api_precheck(struct http_request *req, void *ctx);

/*
 * Create the first admin token when the store has none, writing the secret to
 * `path` with mode 0600 (never to the log). Returns 0 when a token exists or was
 * created, or a negative errno.
 */
int api_bootstrap_token(struct store *st, const char *path);

/* The embedded OpenAPI document, NUL-terminated. */
const char *api_openapi_json(void);

#endif
