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
 * The registry is read through its unique index on the name, with a fresh
 * catalog snapshot: it must neither depend on the caller's privileges or
 * search_path nor fix the transaction's snapshot early (which would break
 * SET TRANSACTION ISOLATION LEVEL after BEGIN).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "common/hdb_common.h"
#include "quota/quota_internal.h"

/* Attribute numbers of heliosdb.tenant, fixed by the install script. */
#define Anum_tenant_name			2
#define Anum_tenant_storage_quota	3
#define Anum_tenant_qps_limit		4

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
	Oid			nsp = get_namespace_oid(HDB_SCHEMA, true);
	Oid			relid = InvalidOid;
	Oid			indexid = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;

	limits->storage_quota = -1;
	limits->qps_limit = 0;

	if (OidIsValid(nsp))
	{
		relid = get_relname_relid("tenant", nsp);
		indexid = get_relname_relid("tenant_name_key", nsp);
	}
	if (!OidIsValid(relid) || !OidIsValid(indexid))
		return;

	InvalidateCatalogSnapshot();
	snapshot = RegisterSnapshot(GetCatalogSnapshot(relid));
	rel = table_open(relid, AccessShareLock);
	ScanKeyEntryInitialize(&key, 0, Anum_tenant_name, BTEqualStrategyNumber,
						   InvalidOid, C_COLLATION_OID, F_TEXTEQ,
						   CStringGetTextDatum(name));
	scan = systable_beginscan(rel, indexid, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		d;

		d = heap_getattr(tuple, Anum_tenant_storage_quota, desc, &isnull);
		if (!isnull)
			limits->storage_quota = DatumGetInt64(d);
		d = heap_getattr(tuple, Anum_tenant_qps_limit, desc, &isnull);
		if (!isnull)
			limits->qps_limit = DatumGetInt32(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
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

