/* SPDX-License-Identifier: Apache-2.0 */
/* The desired state: every machine with a reserved address or a host name. */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <stdlib.h>

static int
host_add(const struct ddi_host *h, void *arg)
{
	struct ddi_hosts *hosts = arg;

	struct ddi_host *items = array_grow(hosts->items, &hosts->capacity, hosts->count,
					    sizeof(*items), 256);

	if (items == NULL)
		return -ENOMEM;
	hosts->items = items;
	hosts->items[hosts->count++] = *h;
	return 0;
}

int
ddi_hosts_read(struct store *st, struct ddi_hosts *ret)
{
	int r;

	ret->count = 0;
	r = store_ddi_hosts(st, host_add, ret);
	if (r < 0)
		ddi_hosts_free(ret);
	return r;
}

void
ddi_hosts_free(struct ddi_hosts *hosts)
{
	free(hosts->items);
	hosts->items = NULL;
	hosts->count = 0;
	hosts->capacity = 0;
}
