/*-------------------------------------------------------------------------
 *
 * tenant_limits.c
 *	  Reading a tenant's own limits (storage_quota, qps_limit) from the
 *	  registry table heliosdb.tenant, with a backend-local cache.
 *
 * Checks run for every statement, so the limits of the session's tenant
 * are cached.  The tenant module bumps a registry generation after every
 * committed UPDATE, DELETE or TRUNCATE of the registry; a cached entry of
 * an older generation is read again.  That is how heliosdb.tenant_set_quota()
 * reaches every session: at its commit.  An aborted transaction drops the
 * cache, as it may hold that transaction's own uncommitted change.
 *
 * The registry is read by the tenant module (hdb_registry_fetch()), with a
 * fresh catalog snapshot: independent of the caller's privileges and
 * search_path, and without fixing the transaction's snapshot early (which
 * would break SET TRANSACTION ISOLATION LEVEL after BEGIN).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "quota/quota_internal.h"

typedef struct CachedLimits
{
	bool		valid;
	uint64		generation;
	char		name[HDB_TENANT_NAME_MAX];
	HdbTenantLimits limits;
} CachedLimits;

static CachedLimits cache;
static bool callback_registered = false;

/*
 * A transaction that aborts may have read its own uncommitted change of
 * the registry, which no generation bump will ever undo: forget it.
 */
static void
limits_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT)
		cache.valid = false;
}

/*
 * Read the limits of tenant "name" from the registry.  A missing registry
 * (extension not installed in this database) or a missing tenant leaves
 * both limits unset, so the defaults apply.
 */
static void
read_limits(const char *name, HdbTenantLimits *limits)
{
	HdbTenantRow row;

	limits->storage_quota = -1;
	limits->qps_limit = 0;
	if (hdb_registry_fetch(name, &row))
	{
		limits->storage_quota = row.storage_quota;
		limits->qps_limit = row.qps_limit;
	}
}

/*
 * The limits of tenant "name", from the cache when it is current.  Must be
 * called in a valid transaction.
 */
const HdbTenantLimits *
hdb_tenant_limits(const char *name)
{
	uint64		generation = hdb_registry_generation();

	if (!callback_registered)
	{
		RegisterXactCallback(limits_xact_callback, NULL);
		callback_registered = true;
	}
	if (!cache.valid || cache.generation != generation ||
		strcmp(cache.name, name) != 0)
	{
		cache.valid = false;
		read_limits(name, &cache.limits);
		strlcpy(cache.name, name, sizeof(cache.name));
		cache.generation = generation;
		cache.valid = true;
	}
	return &cache.limits;
}

