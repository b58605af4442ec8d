/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's transport: one libcurl easy handle that sends JSON requests to the daemon
 * over its unix socket, or over HTTPS with a bearer token. This file also checks the
 * --url value so that a token never travels over plain HTTP beyond loopback, and
 * reads the token from its file.
 */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

/* Time allowed to open the connection (and finish the TLS handshake), in seconds. */
#define CONNECT_TIMEOUT_SECONDS 5L
/* Time allowed for a whole request, in seconds. */
#define REQUEST_TIMEOUT_SECONDS 60L
/* Maximum token length in bytes, so that a wrong file is not sent as a header. */
#define TOKEN_MAX_BYTES 4096
/* Host part of request URLs on the unix socket, where the socket path selects the daemon. */
#define SOCKET_BASE_URL "http://localhost"
#ifdef OUTPOST_VERSION
#define USER_AGENT "outpost-cli/" OUTPOST_VERSION
#else
#define USER_AGENT "outpost-cli"
#endif

struct cli_client {
	CURL *curl;
	const struct cli_endpoint *endpoint; /* borrowed */
	char curl_error[CURL_ERROR_SIZE];
};

/* Destination of the write callback: the body, and the error that stopped it if any. */
struct body_sink {
	struct buf *body;
	int rc;
};

static int __attribute__((format(printf, 3, 4)))
http_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* True when `host`, as CURLU returns it, is localhost or a loopback address. */
static bool
host_is_loopback(const char *host)
{
	char bare[INET6_ADDRSTRLEN];
	struct in6_addr addr6;
	struct in_addr addr4;
	size_t len = strlen(host);

	/*
	 * libcurl resolves "localhost" itself to 127.0.0.1 and ::1 without the system
	 * resolver (hostip.c get_localhost), so /etc/hosts cannot point it elsewhere.
	 */
	if (strcasecmp(host, "localhost") == 0)
		return true;

	if (inet_pton(AF_INET, host, &addr4) == 1)
		return (ntohl(addr4.s_addr) >> 24) == 127;

	/* IPv6 hosts come in brackets. */
	if (len < 2 || host[0] != '[' || host[len - 1] != ']' || len - 2 >= sizeof(bare))
		return false;
	memcpy(bare, host + 1, len - 2);
	bare[len - 2] = '\0';
	if (inet_pton(AF_INET6, bare, &addr6) != 1)
		return false;
	return IN6_IS_ADDR_LOOPBACK(&addr6);
}

/* True when URL part `what` is present. */
static bool
url_has_part(CURLU *url, CURLUPart what)
{
	char *part = NULL;
	CURLUcode uc;

	uc = curl_url_get(url, what, &part, 0);
	curl_free(part);
	return uc == CURLUE_OK;
}

int
cli_url_check(const char *text, char **ret, char *err, size_t err_size)
{
	CURLU *url;
	CURLUcode uc;
	char *scheme = NULL;
	char *host = NULL;
	char *full = NULL;
	size_t len;
	int rc;

	url = curl_url();
	if (url == NULL)
		return -ENOMEM;

	uc = curl_url_set(url, CURLUPART_URL, text, 0);
	if (uc != CURLUE_OK) {
		rc = http_error(err, err_size, "invalid --url '%s': %s", text, curl_url_strerror(uc));
		goto err_parse;
	}

	/* Credentials belong in the token file, so the message does not echo this URL. */
	if (url_has_part(url, CURLUPART_USER) || url_has_part(url, CURLUPART_PASSWORD)) {
		rc = http_error(err, err_size,
				"--url contains a user name or password: remove it and pass the token with --token-file");
		goto err_parse;
	}
	if (url_has_part(url, CURLUPART_QUERY) || url_has_part(url, CURLUPART_FRAGMENT)) {
		rc = http_error(err, err_size,
				"invalid --url '%s': remove the query and fragment, give only scheme, host, port and path",
				text);
		goto err_parse;
	}

	if (curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(url, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		rc = http_error(err, err_size, "invalid --url '%s': expected https://HOST[:PORT]",
				text);
		goto err_parse;
	}

	/* The token goes in every request, so plain HTTP must not leave the machine. */
	if (strcasecmp(scheme, "http") == 0 && !host_is_loopback(host)) {
		rc = http_error(err, err_size,
				"refusing to send the API token over plain http to '%s': use https://, or http:// only with 127.0.0.1, ::1 or localhost",
				host);
		goto err_parse;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		rc = http_error(err, err_size, "invalid --url '%s': expected an https:// URL", text);
		goto err_parse;
	}

	/* Request paths start with "/api/v1", so drop the trailing slashes. */
	len = strlen(full);
	while (len > 0 && full[len - 1] == '/')
		full[--len] = '\0';
	*ret = strdup(full);
	rc = *ret != NULL ? 0 : -ENOMEM;

err_parse:
	curl_free(full);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(url);
	return rc;
}

/* True when every byte is printable ASCII other than space: safe in a header line. */
static bool
token_valid(const char *token, size_t len)
{
	if (len == 0 || len > TOKEN_MAX_BYTES)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (token[i] <= ' ' || token[i] > '~')
			return false;
	}
	return true;
}

int
cli_token_read(const char *path, char **ret, char *err, size_t err_size)
{
	char data[TOKEN_MAX_BYTES + 2];
	size_t len = 0;
	ssize_t n;
	int fd;
	int rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_size, "cannot open token file '%s': %s", path, strerror(-rc));
		return rc;
	}

	/* Read one byte past the limit, to tell a long token from one that fits exactly. */
	while (len < sizeof(data) - 1) {
		n = read(fd, data + len, sizeof(data) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, err_size, "cannot read token file '%s': %s", path,
				 strerror(-rc));
			goto err_read;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';

	/* The token is the first line without trailing white space. */
	len = strcspn(data, "\n");
	while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	data[len] = '\0';

	if (len == 0) {
		rc = http_error(err, err_size, "token file '%s' is empty", path);
		goto err_read;
	}
	if (!token_valid(data, len)) {
		rc = http_error(err, err_size,
				"token file '%s' does not contain a token: expected one line of up to %d printable characters without spaces",
				path, TOKEN_MAX_BYTES);
		goto err_read;
	}

	*ret = strdup(data);
	if (*ret == NULL)
		rc = -ENOMEM;

err_read:
	explicit_bzero(data, sizeof(data));
	close(fd);
	return rc;
}

int
cli_endpoint_resolve(const struct cli_args *args, const char *env_socket,
		     const char *env_token, struct cli_endpoint *ret, char *err,
		     size_t err_size)
{
	const char *socket_path = CLI_DEFAULT_SOCKET;
	int rc;

	memset(ret, 0, sizeof(*ret));

	/* The unix socket needs no token and no TLS settings. */
	if (!args->given[CLI_OPT_URL]) {
		if (args->given[CLI_OPT_CACERT] || args->given[CLI_OPT_INSECURE])
			return http_error(err, err_size,
					  "--cacert and --insecure apply only to a daemon named with --url");
		if (args->given[CLI_OPT_SOCKET])
			socket_path = args->value[CLI_OPT_SOCKET];
		else if (env_socket != NULL && env_socket[0] != '\0')
			socket_path = env_socket;
		if (socket_path[0] == '\0')
			return http_error(err, err_size, "empty --socket: give the daemon's socket path");
		ret->socket_path = strdup(socket_path);
		return ret->socket_path != NULL ? 0 : -ENOMEM;
	}

	rc = cli_url_check(args->value[CLI_OPT_URL], &ret->base_url, err, err_size);
	if (rc < 0)
		goto err_resolve;

	/* --token-file wins over OUTPOST_TOKEN. */
	if (args->given[CLI_OPT_TOKEN_FILE]) {
		rc = cli_token_read(args->value[CLI_OPT_TOKEN_FILE], &ret->token, err, err_size);
		if (rc < 0)
			goto err_resolve;
	} else if (env_token != NULL && env_token[0] != '\0') {
		if (!token_valid(env_token, strlen(env_token))) {
			rc = http_error(err, err_size,
					"OUTPOST_TOKEN does not contain a token: expected up to %d printable characters without spaces",
					TOKEN_MAX_BYTES);
			goto err_resolve;
		}
		ret->token = strdup(env_token);
		if (ret->token == NULL) {
			rc = -ENOMEM;
			goto err_resolve;
		}
	} else {
		rc = http_error(err, err_size,
				"--url needs an API token: pass --token-file FILE or set OUTPOST_TOKEN");
		goto err_resolve;
	}

	if (args->given[CLI_OPT_CACERT]) {
		if (args->value[CLI_OPT_CACERT][0] == '\0') {
			rc = http_error(err, err_size, "empty --cacert: give a PEM file");
			goto err_resolve;
		}
		ret->cacert = strdup(args->value[CLI_OPT_CACERT]);
		if (ret->cacert == NULL) {
			rc = -ENOMEM;
			goto err_resolve;
		}
	}
	ret->insecure = args->given[CLI_OPT_INSECURE];
	return 0;

err_resolve:
	cli_endpoint_free(ret);
	return rc;
}

void
cli_endpoint_free(struct cli_endpoint *endpoint)
{
	if (endpoint->token != NULL)
		explicit_bzero(endpoint->token, strlen(endpoint->token));
	free(endpoint->token);
	free(endpoint->socket_path);
	free(endpoint->base_url);
	free(endpoint->cacert);
	memset(endpoint, 0, sizeof(*endpoint));
}

int
cli_client_new(const struct cli_endpoint *endpoint, struct cli_client **ret)
{
	struct cli_client *client;

	client = calloc(1, sizeof(*client));
	if (client == NULL)
		return -ENOMEM;

	client->curl = curl_easy_init();
	if (client->curl == NULL) {
		free(client);
		return -ENOMEM;
	}
	client->endpoint = endpoint;
	*ret = client;
	return 0;
}

struct cli_client *
cli_client_free(struct cli_client *client)
{
	if (client == NULL)
		return NULL;
	curl_easy_cleanup(client->curl);
	free(client);
	return NULL;
}

static size_t
write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct body_sink *sink = userdata;

	/* Returning less than was given makes libcurl stop with CURLE_WRITE_ERROR. */
	sink->rc = buf_append(sink->body, data, size * nmemb);
	return sink->rc == 0 ? size * nmemb : 0;
}

/* Set the options shared by every request: target, limits, credentials and TLS. */
static int
client_setup(struct cli_client *client, const char *url, struct curl_slist *headers,
	     struct body_sink *sink)
{
	const struct cli_endpoint *endpoint = client->endpoint;
	CURL *curl = client->curl;
	CURLcode code = CURLE_OK;

	/* Keep the open connection for the next page, but forget the last request's options. */
	curl_easy_reset(curl);
	client->curl_error[0] = '\0';

	code |= curl_easy_setopt(curl, CURLOPT_URL, url);
	code |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	code |= curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	code |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	code |= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECONDS);
	code |= curl_easy_setopt(curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_SECONDS);
	code |= curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT);
	code |= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, client->curl_error);
	code |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	code |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
	code |= curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);

	if (endpoint->socket_path != NULL)
		code |= curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, endpoint->socket_path);

	/* libcurl copies the token and sends it as "Authorization: Bearer ...". */
	if (endpoint->token != NULL) {
		code |= curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		code |= curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, endpoint->token);
	}

	/* Without --cacert libcurl verifies against the system store. */
	if (endpoint->cacert != NULL)
		code |= curl_easy_setopt(curl, CURLOPT_CAINFO, endpoint->cacert);
	if (endpoint->insecure) {
		code |= curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		code |= curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}

	return code == CURLE_OK ? 0 : -ENOMEM;
}

/* Set the method and the body, which libcurl does not copy: `text` must outlive the request. */
static int
client_set_method(CURL *curl, const char *method, const char *text)
{
	CURLcode code = CURLE_OK;

	if (strcmp(method, "GET") == 0)
		return curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -ENOMEM;

	if (strcmp(method, "POST") != 0)
		code |= curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (text != NULL) {
		code |= curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
		code |= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
	}
	return code == CURLE_OK ? 0 : -ENOMEM;
}

/* Describe a failed connection, naming the daemon and what to check. */
static void
describe_failure(const struct cli_client *client, CURLcode code, char *err, size_t err_size)
{
	const struct cli_endpoint *endpoint = client->endpoint;
	long os_errno = 0;

	curl_easy_getinfo(client->curl, CURLINFO_OS_ERRNO, &os_errno);

	/* On the socket, libcurl's own message names "localhost port 80", so the errno is clearer. */
	if (endpoint->socket_path != NULL && os_errno != 0) {
		snprintf(err, err_size, "cannot reach the daemon at %s: %s%s", endpoint->socket_path,
			 strerror((int)os_errno),
			 os_errno == ENOENT || os_errno == ECONNREFUSED
				 ? " (is outpost serve running? --socket or OUTPOST_SOCKET names another socket)"
			 : os_errno == EACCES
				 ? " (run as root or as the daemon's user)"
				 : "");
		return;
	}

	/* The daemon's generated certificate is self-signed, so the hint names its path. */
	snprintf(err, err_size, "cannot reach the daemon at %s: %s%s",
		 endpoint->socket_path != NULL ? endpoint->socket_path : endpoint->base_url,
		 client->curl_error[0] != '\0' ? client->curl_error : curl_easy_strerror(code),
		 code == CURLE_PEER_FAILED_VERIFICATION
			 ? " (pass the daemon's CA or certificate with --cacert, such as its state_dir/tls/cert.pem)"
			 : "");
}

/*
 * Start a request: empty *resp, build the URL of `path` and the headers every request
 * sends (plus Content-Type when given), and set up the handle to store the reply in
 * `sink`. The caller frees *headers and url. Returns 0 or -ENOMEM.
 */
static int
request_prepare(struct cli_client *client, const char *path, const char *content_type,
		struct cli_response *resp, struct body_sink *sink, struct buf *url,
		struct curl_slist **headers)
{
	const struct cli_endpoint *endpoint = client->endpoint;
	const char *lines[] = { "Accept: application/json",
				/* "Expect:" stops libcurl from waiting for a 100 Continue. */
				"Expect:", content_type };
	int rc;

	buf_free(&resp->body);
	buf_init(&resp->body, CLI_RESPONSE_MAX);
	resp->status = 0;
	*sink = (struct body_sink){ .body = &resp->body, .rc = 0 };
	buf_init(url, CLI_RESPONSE_MAX);
	*headers = NULL;

	rc = buf_printf(url, "%s%s",
			endpoint->base_url != NULL ? endpoint->base_url : SOCKET_BASE_URL, path);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct curl_slist *next;

		if (lines[i] == NULL)
			continue;
		next = curl_slist_append(*headers, lines[i]);
		if (next == NULL)
			return -ENOMEM;
		*headers = next;
	}
	return client_setup(client, url->data, *headers, sink);
}

/*
 * Run the prepared request. Returns 0 when a reply of any status arrived, or an error
 * with the reason in err, as cli_client_request describes.
 */
static int
request_perform(struct cli_client *client, const char *method, const char *path,
		struct cli_response *resp, const struct body_sink *sink, char *err,
		size_t err_size)
{
	CURLcode code = curl_easy_perform(client->curl);

	/* Any status is a reply. Only a failed transfer is an error here. */
	if (code == CURLE_OK) {
		curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &resp->status);
		return 0;
	}
	if (sink->rc == -E2BIG) {
		snprintf(err, err_size, "the reply to %s %s is larger than %u bytes", method, path,
			 CLI_RESPONSE_MAX);
		return sink->rc;
	}
	if (sink->rc < 0) {
		snprintf(err, err_size, "out of memory reading the reply to %s %s", method, path);
		return sink->rc;
	}
	describe_failure(client, code, err, err_size);
	return -EIO;
}

int
cli_client_request(struct cli_client *client, const char *method, const char *path,
		   const json_t *body, struct cli_response *resp, char *err, size_t err_size)
{
	struct curl_slist *headers;
	struct body_sink sink;
	struct buf url;
	char *text = NULL;
	int rc;

	rc = request_prepare(client, path, body != NULL ? "Content-Type: application/json" : NULL,
			     resp, &sink, &url, &headers);
	if (rc == 0 && body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		if (text == NULL)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = client_set_method(client->curl, method, text);
	if (rc == 0)
		rc = request_perform(client, method, path, resp, &sink, err, err_size);
	free(text);
	curl_slist_free_all(headers);
	buf_free(&url);
	return rc;
}

struct upload_source {
	int fd;
	int rc;                      /* first read error, 0 */
	void (*progress)(void *ctx, uint64_t done);
	void *progress_ctx;
};

static size_t
upload_read(char *buffer, size_t size, size_t nitems, void *arg)
{
	struct upload_source *src = arg;
	ssize_t n;

	do {
		n = read(src->fd, buffer, size * nitems);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		src->rc = -errno;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

static int
upload_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		curl_off_t ulnow)
{
	struct upload_source *src = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	if (src->progress != NULL)
		src->progress(src->progress_ctx, (uint64_t)ulnow);
	return 0;
}

int
cli_client_upload(struct cli_client *client, const char *path, int fd, uint64_t size,
		  void (*progress)(void *ctx, uint64_t done), void *progress_ctx,
		  struct cli_response *resp, char *err, size_t err_size)
{
	struct upload_source src = { .fd = fd, .progress = progress,
				     .progress_ctx = progress_ctx };
	struct curl_slist *headers;
	struct body_sink sink;
	struct buf url;
	CURLcode code;
	int rc;

	rc = request_prepare(client, path, "Content-Type: application/octet-stream", resp, &sink,
			     &url, &headers);
	if (rc < 0)
		goto done;

	/* A bundle may take many minutes: no overall limit, but a stalled transfer ends. */
	code = curl_easy_setopt(client->curl, CURLOPT_POST, 1L);
	code |= curl_easy_setopt(client->curl, CURLOPT_READFUNCTION, upload_read);
	code |= curl_easy_setopt(client->curl, CURLOPT_READDATA, &src);
	code |= curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
	code |= curl_easy_setopt(client->curl, CURLOPT_TIMEOUT, 0L);
	code |= curl_easy_setopt(client->curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	code |= curl_easy_setopt(client->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	code |= curl_easy_setopt(client->curl, CURLOPT_NOPROGRESS, 0L);
	code |= curl_easy_setopt(client->curl, CURLOPT_XFERINFOFUNCTION, upload_progress);
	code |= curl_easy_setopt(client->curl, CURLOPT_XFERINFODATA, &src);
	if (code != CURLE_OK) {
		rc = -ENOMEM;
		goto done;
	}
	rc = request_perform(client, "POST", path, resp, &sink, err, err_size);
	/* A failed read of the file is the reason, whatever libcurl made of it. */
	if (rc < 0 && src.rc < 0) {
		rc = src.rc;
		snprintf(err, err_size, "cannot read the bundle: %s", strerror(-rc));
	}
done:
	curl_slist_free_all(headers);
	buf_free(&url);
	return rc;
}
