/*-------------------------------------------------------------------------
 *
 * usage.c
 *	  Storage usage of tenants: the shared table of the last measured usage
 *	  per (database, tenant), the refresh that measures it, and the SQL
 *	  functions quota_refresh() and _tenant_usage().
 *
 * A refresh runs the install script's function heliosdb._quota_usage() in
 * the current database and replaces that database's rows of the table.
 * The background worker (worker.c) refreshes heliosdb.quota_database every
 * heliosdb.quota_refresh_interval; quota_refresh() does it on demand.
 *
 * Shared memory ("heliosdb quota usage", one LWLock):
 *	- entries[] holds heliosdb.quota_max_tenants (database, tenant) rows;
 *	  readers take the LWLock shared, a refresh takes it exclusively;
 *	- overflow is set while the last refresh of some database could not
 *	  store all of its tenants; tenants without a row are then refused
 *	  writes (fail closed), see storage.c;
 *	- schema_generation is bumped after every committed change of
 *	  heliosdb.tenant_schema, so that backends reload their map from
 *	  schemas to tenants (atomic, no lock).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "common/hdb_common.h"
#include "quota/quota_internal.h"

typedef struct UsageEntry
{
	bool		used;
	Oid			dbid;
	char		tenant[HDB_TENANT_NAME_MAX];
	int64		bytes;
	TimestampTz refreshed_at;
} UsageEntry;

typedef struct UsageShared
{
	LWLock	   *lock;
	pg_atomic_uint64 schema_generation;
	bool		overflow;
	int			max_entries;
	UsageEntry	entries[FLEXIBLE_ARRAY_MEMBER];
} UsageShared;

static UsageShared *usage_shared = NULL;

static bool schemas_changed_in_xact = false;

static void usage_xact_callback(XactEvent event, void *arg);

static Size
usage_shmem_size(void)
{
	return add_size(offsetof(UsageShared, entries),
					mul_size(hdb_quota_max_tenants, sizeof(UsageEntry)));
}

static void
usage_shmem_attach(void *ptr, bool found)
{
	UsageShared *shared = (UsageShared *) ptr;

	if (!found)
	{
		memset(shared, 0, usage_shmem_size());
		pg_atomic_init_u64(&shared->schema_generation, 1);
		shared->max_entries = hdb_quota_max_tenants;
	}
	shared->lock = &(hdb_shmem_lwlocks("heliosdb quota usage")[0].lock);
	usage_shared = shared;
}

void
hdb_usage_init(void)
{
	hdb_shmem_register("heliosdb quota usage", usage_shmem_size,
					   usage_shmem_attach, 1);
	RegisterXactCallback(usage_xact_callback, NULL);
}

static void
require_usage_shared(void)
{
	if (usage_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb shared memory is not initialized"),
				 errhint("Add heliosdb to shared_preload_libraries and restart the server.")));
}

uint64
hdb_schema_generation(void)
{
	if (usage_shared == NULL)
		return 0;
	return pg_atomic_read_u64(&usage_shared->schema_generation);
}

/*
 * The last measured usage of a tenant of the current database.  Returns
 * false when there is none; *overflow then says whether that may be
 * because the table was full.
 */
bool
hdb_usage_lookup(const char *tenant, int64 *bytes, bool *overflow)
{
	bool		found = false;

	*bytes = 0;
	*overflow = false;
	if (usage_shared == NULL)
		return false;

	LWLockAcquire(usage_shared->lock, LW_SHARED);
	for (int i = 0; i < usage_shared->max_entries; i++)
	{
		UsageEntry *e = &usage_shared->entries[i];

		if (e->used && e->dbid == MyDatabaseId &&
			strcmp(e->tenant, tenant) == 0)
		{
			*bytes = e->bytes;
			found = true;
			break;
		}
	}
	*overflow = usage_shared->overflow;
	LWLockRelease(usage_shared->lock);
	return found;
}

/*
 * Measure the usage of every tenant of the current database and publish
 * it.  Needs a transaction, an active snapshot and a connected SPI; the
 * extension must be installed.  Returns the number of tenants measured.
 */
int
hdb_usage_refresh(void)
{
	TimestampTz now;
	char	  **names;
	int64	   *bytes;
	uint64		n;
	bool		overflow = false;

	require_usage_shared();
	if (SPI_execute("SELECT tenant, sum(used_bytes)::bigint"
					" FROM " HDB_SCHEMA "._quota_usage() GROUP BY tenant",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not measure heliosdb tenant storage usage");

	n = SPI_processed;
	names = palloc(sizeof(char *) * Max(n, 1));
	bytes = palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		names[i] = SPI_getvalue(tuple, desc, 1);
		d = SPI_getbinval(tuple, desc, 2, &isnull);
		bytes[i] = isnull ? 0 : DatumGetInt64(d);
	}

	now = GetCurrentTimestamp();
	LWLockAcquire(usage_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < usage_shared->max_entries; i++)
	{
		if (usage_shared->entries[i].dbid == MyDatabaseId)
			memset(&usage_shared->entries[i], 0, sizeof(UsageEntry));
	}
	for (uint64 i = 0, slot = 0; i < n; i++)
	{
		UsageEntry *e;

		while (slot < usage_shared->max_entries &&
			   usage_shared->entries[slot].used)
			slot++;
		if (slot >= usage_shared->max_entries)
		{
			overflow = true;
			break;
		}
		e = &usage_shared->entries[slot];
		e->used = true;
		e->dbid = MyDatabaseId;
		strlcpy(e->tenant, names[i], sizeof(e->tenant));
		e->bytes = bytes[i];
		e->refreshed_at = now;
	}
	usage_shared->overflow = overflow;
	LWLockRelease(usage_shared->lock);

	if (overflow)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("heliosdb storage usage table is full"),
				 errdetail("Usage of %llu tenants was measured, but only %d fit; the others are refused writes.",
						   (unsigned long long) n, usage_shared->max_entries),
				 errhint("Increase heliosdb.quota_max_tenants and restart the server.")));
	return (int) n;
}

/*
 * quota_refresh(): measure usage now, synchronously.
 */
PG_FUNCTION_INFO_V1(hdb_quota_refresh);
Datum
hdb_quota_refresh(PG_FUNCTION_ARGS)
{
	int			n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = hdb_usage_refresh();
	SPI_finish();
	PG_RETURN_INT32(n);
}

/*
 * _tenant_usage(): the published usage of the current database's tenants.
 */
PG_FUNCTION_INFO_V1(hdb_tenant_usage);
Datum
hdb_tenant_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	require_usage_shared();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(usage_shared->lock, LW_SHARED);
	for (int i = 0; i < usage_shared->max_entries; i++)
	{
		UsageEntry *e = &usage_shared->entries[i];
		Datum		values[3];
		bool		nulls[3] = {0};

		if (!e->used || e->dbid != MyDatabaseId)
			continue;
		values[0] = CStringGetTextDatum(e->tenant);
		values[1] = Int64GetDatum(e->bytes);
		values[2] = TimestampTzGetDatum(e->refreshed_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
	LWLockRelease(usage_shared->lock);
	return (Datum) 0;
}

/*
 * Row (and TRUNCATE) trigger on heliosdb.tenant_schema: once the
 * transaction commits, every backend reloads its map from schemas to
 * tenants.
 */
PG_FUNCTION_INFO_V1(hdb_tenant_schema_changed);
Datum
hdb_tenant_schema_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger",
						"heliosdb._tenant_schema_changed")));
	schemas_changed_in_xact = true;
	return PointerGetDatum(NULL);
}

static void
usage_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (schemas_changed_in_xact)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that changed the schemas of heliosdb tenants")));
			break;
		case XACT_EVENT_COMMIT:
			if (schemas_changed_in_xact && usage_shared != NULL)
				pg_atomic_fetch_add_u64(&usage_shared->schema_generation, 1);
			schemas_changed_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
			schemas_changed_in_xact = false;
			break;
		default:
			break;
	}
}

/*
 * Has this transaction changed tenant schemas (not yet visible to others)?
 */
bool
hdb_schemas_changed_in_xact(void)
{
	return schemas_changed_in_xact;
}
